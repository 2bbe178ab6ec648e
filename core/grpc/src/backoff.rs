//! Connection backoff: when a channel that dials its own connections may
//! try again after a connect failed, as gRPC's `doc/connection-backoff.md`
//! describes it (INITIAL_BACKOFF 1 s, MULTIPLIER 1.6, JITTER 0.2,
//! MAX_BACKOFF 120 s), and the channel states gRPC's connectivity
//! semantics name.
//!
//! Pure: the runtimes pass the time a connect started and the jitter draw,
//! so the schedule is the same, and testable, on every runtime.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use wirestate_grpc::backoff::{BackoffConfig, ConnectBackoff};
//!
//! let mut backoff = ConnectBackoff::new(BackoffConfig::default());
//! let t0 = Instant::now();
//! // The first connect failed: the next may start 1 s after it started.
//! assert_eq!(backoff.on_failure(t0, 0.0), t0 + Duration::from_secs(1));
//! // The second failed too: 1.6 s after it started (no jitter drawn).
//! let t1 = t0 + Duration::from_secs(1);
//! assert_eq!(backoff.on_failure(t1, 0.0), t1 + Duration::from_millis(1600));
//! ```

use crate::{Code, Status};
use std::time::{Duration, Instant};

/// The parameters of a [`ConnectBackoff`]; the defaults are gRPC's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffConfig {
    initial: Duration,
    multiplier: f64,
    jitter: f64,
    max: Duration,
}

impl Default for BackoffConfig {
    /// gRPC's: 1 s, × 1.6, ± 20 %, at most 120 s.
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            multiplier: 1.6,
            jitter: 0.2,
            max: Duration::from_secs(120),
        }
    }
}

impl BackoffConfig {
    /// gRPC's defaults ([`Default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// The wait after the first failed connect (INITIAL_BACKOFF, 1 s).
    pub fn initial_backoff(mut self, initial: Duration) -> Self {
        self.initial = initial;
        self
    }

    /// How much each further failure lengthens the wait (MULTIPLIER, 1.6;
    /// values below 1 are taken as 1, so the wait never shrinks).
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = if multiplier.is_finite() && multiplier >= 1.0 {
            multiplier
        } else {
            1.0
        };
        self
    }

    /// The share of a wait drawn at random either way (JITTER, 0.2), so
    /// that clients a server outage cut off together do not all come back
    /// at once; clamped to `[0, 1]`.
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self
    }

    /// The longest wait (MAX_BACKOFF, 120 s).
    pub fn max_backoff(mut self, max: Duration) -> Self {
        self.max = max;
        self
    }
}

/// The connect schedule of one channel: how long it waits after a failed
/// connect before the next, growing with each failure in a row and reset
/// by a connect that succeeded.
#[derive(Debug, Clone)]
pub struct ConnectBackoff {
    config: BackoffConfig,
    /// The backoff the next failure grows from (before jitter).
    current: Duration,
    /// The wait after the next connect's start, jitter applied.
    gap: Duration,
    /// When the next connect may start, after a failure.
    retry_at: Option<Instant>,
}

impl ConnectBackoff {
    /// A channel that has not failed to connect yet.
    pub fn new(config: BackoffConfig) -> Self {
        Self {
            config,
            current: config.initial,
            gap: config.initial,
            retry_at: None,
        }
    }

    /// When a connect starting at `now` should give up: `min_connect` after
    /// it starts, or later if the current backoff is longer (the spec's
    /// `Max(current_deadline, now + MIN_CONNECT_TIMEOUT)`), so that a slow
    /// server is not cut off sooner than the channel would wait anyway.
    pub fn connect_deadline(&self, now: Instant, min_connect: Duration) -> Instant {
        now + min_connect.max(self.gap)
    }

    /// The connect that started at `started` failed; `jitter` is a uniform
    /// draw in `[-1, 1]` (values outside are clamped). Returns when the
    /// next connect may start: the current wait after `started`. The wait
    /// after that one grows by the multiplier (up to the maximum), then
    /// moves by `jitter × JITTER` of itself.
    pub fn on_failure(&mut self, started: Instant, jitter: f64) -> Instant {
        let at = started + self.gap;
        self.retry_at = Some(at);
        let grown = self.current.as_secs_f64() * self.config.multiplier;
        self.current = Duration::try_from_secs_f64(grown)
            .unwrap_or(self.config.max)
            .min(self.config.max);
        let draw = if jitter.is_finite() {
            jitter.clamp(-1.0, 1.0)
        } else {
            0.0
        };
        let factor = 1.0 + draw * self.config.jitter;
        self.gap = Duration::try_from_secs_f64(self.current.as_secs_f64() * factor)
            .unwrap_or(self.current);
        at
    }

    /// A connect succeeded: the next failure waits the initial backoff.
    pub fn on_success(&mut self) {
        self.current = self.config.initial;
        self.gap = self.config.initial;
        self.retry_at = None;
    }

    /// When the next connect may start, if the last one failed and that
    /// time is still after `now` (the channel is in TRANSIENT_FAILURE).
    pub fn waiting(&self, now: Instant) -> Option<Instant> {
        self.retry_at.filter(|&at| at > now)
    }

    /// The state of a dialing channel at `now`, given whether it has a
    /// connection `open` and whether one is `connecting`.
    pub fn state(&self, now: Instant, open: bool, connecting: bool) -> ConnectivityState {
        if open {
            ConnectivityState::Ready
        } else if connecting {
            ConnectivityState::Connecting
        } else if self.waiting(now).is_some() {
            ConnectivityState::TransientFailure
        } else {
            ConnectivityState::Idle
        }
    }
}

/// What a fail-fast call fails with while its channel (to `target`) backs
/// off: UNAVAILABLE, saying how the last connect failed (`last`) and how
/// long until the next may start (`wait`).
pub fn backing_off(
    last: Option<&Status>,
    target: &dyn std::fmt::Display,
    wait: Duration,
) -> Status {
    let why = last.map_or_else(|| format!("connecting to {target}"), |s| s.message.clone());
    Status::new(
        Code::Unavailable,
        format!(
            "{why} (backing off: next connect in {} ms)",
            wait.as_millis()
        ),
    )
}

/// A channel's connectivity state, as gRPC names them
/// (`doc/connectivity-semantics-and-api.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectivityState {
    /// No connection, and none being opened: the next call opens one.
    Idle,
    /// A connection is being opened.
    Connecting,
    /// A connection is open.
    Ready,
    /// The last connect failed and the backoff has not passed: fail-fast
    /// calls fail UNAVAILABLE at once, wait-for-ready calls wait.
    TransientFailure,
    /// The channel was shut down (a channel over one given connection
    /// whose connection ended).
    Shutdown,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// `at` is `want` after `t`, to the microsecond (the schedule is
    /// computed in floating point).
    fn after(t: Instant, at: Instant, want: f64) -> bool {
        at.duration_since(t).abs_diff(Duration::from_secs_f64(want)) < Duration::from_micros(1)
    }

    #[test]
    fn the_schedule_grows_by_the_multiplier_with_the_given_jitter_up_to_the_max() {
        let mut b = ConnectBackoff::new(BackoffConfig::default());
        let t = Instant::now();
        // The first wait is the initial backoff, without jitter; each draw
        // moves the wait after the next failure.
        assert!(after(t, b.on_failure(t, 1.0), 1.0));
        // 1.6 s, + 20 % (the draw of 1.0 above).
        assert!(after(t, b.on_failure(t, -1.0), 1.92));
        // 2.56 s, - 20 %.
        assert!(after(t, b.on_failure(t, 0.5), 2.048));
        // 4.096 s, + 10 %.
        assert!(after(t, b.on_failure(t, 0.0), 4.5056));
        for _ in 0..20 {
            b.on_failure(t, 0.0);
        }
        assert!(after(t, b.on_failure(t, 1.0), 120.0));
        // At the max, jitter still spreads clients apart.
        assert!(after(t, b.on_failure(t, 0.0), 144.0));
        assert!(after(t, b.on_failure(t, -0.5), 120.0));
        assert!(after(t, b.on_failure(t, 0.0), 108.0));
    }

    #[test]
    fn success_resets_and_out_of_range_inputs_are_clamped() {
        let config = BackoffConfig::new()
            .initial_backoff(ms(10))
            .multiplier(0.5)
            .jitter(7.0)
            .max_backoff(ms(40));
        let mut b = ConnectBackoff::new(config);
        let t = Instant::now();
        assert_eq!(b.waiting(t), None);
        assert_eq!(b.on_failure(t, f64::NAN), t + ms(10));
        assert_eq!(b.waiting(t), Some(t + ms(10)));
        assert_eq!(b.waiting(t + ms(10)), None);
        // Multiplier 1 (0.5 refused); jitter 1 (7 clamped), draw clamped to -1.
        assert_eq!(b.on_failure(t, -3.0), t + ms(10));
        assert_eq!(b.on_failure(t, 0.0), t);
        b.on_success();
        assert_eq!(b.waiting(t), None);
        assert_eq!(b.on_failure(t, 0.0), t + ms(10));
    }

    #[test]
    fn a_call_in_backoff_hears_why_and_for_how_long() {
        let last = Status::new(Code::Unavailable, "connecting to h:1: refused");
        let s = backing_off(Some(&last), &"h:1", ms(1500));
        assert_eq!(s.code, Code::Unavailable);
        assert_eq!(
            s.message,
            "connecting to h:1: refused (backing off: next connect in 1500 ms)"
        );
        let s = backing_off(None, &"h:1", ms(2));
        assert_eq!(
            s.message,
            "connecting to h:1 (backing off: next connect in 2 ms)"
        );
    }

    #[test]
    fn the_connect_deadline_is_the_longer_of_the_minimum_and_the_backoff() {
        let mut b = ConnectBackoff::new(BackoffConfig::default());
        let t = Instant::now();
        assert_eq!(b.connect_deadline(t, ms(20_000)), t + ms(20_000));
        for _ in 0..10 {
            b.on_failure(t, 0.0);
        }
        // 1.6^10 s ≈ 110 s: longer than the minimum.
        let gap = Duration::from_secs_f64(1.6f64.powi(10));
        let d = b.connect_deadline(t, ms(20_000));
        assert!(d.duration_since(t).abs_diff(gap) < ms(1), "{d:?}");
    }
}
