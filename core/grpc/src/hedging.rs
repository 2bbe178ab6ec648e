//! Client hedging by the gRPC retry design (gRFC A6 `hedgingPolicy`), as
//! decisions without IO: which attempt of a call starts when, which
//! attempt's outcome is the call's, and which others are then cancelled.
//!
//! A hedged call does not wait for an attempt to fail before it starts
//! the next one: attempt 1 starts at once, and another every
//! `hedgingDelay` while none has answered, up to `maxAttempts` (capped at
//! 5) in flight or done. The first attempt to receive response headers
//! *commits* the call; so does the first that ends with a status outside
//! `nonFatalStatusCodes` (OK included). Every other attempt is then
//! cancelled (RST_STREAM CANCEL). An attempt that fails with a non-fatal
//! code lets the next hedge start at once, unless the server's
//! `grpc-retry-pushback-ms` says otherwise: a non-negative value delays
//! the next hedge by that much, a negative or malformed one stops
//! hedging. When every attempt failed non-fatally and no more may start,
//! the last failure is the call's.
//!
//! Hedges share the channel's [`RetryThrottle`] with retries: the first
//! attempt always starts, later ones only while the throttle allows
//! retries; non-fatal failures (and pushbacks saying stop) drain it, a
//! call that ends OK refills it. A hedge the throttle refuses is
//! cancelled, not delayed (A6: throttled hedges never block): it takes
//! its place among `maxAttempts` without being sent, and the next one is
//! due a `hedgingDelay` later, asking the throttle again (other calls may
//! have refilled it meanwhile). Only when no attempt is left running does
//! a refusal end the call, with the last failure.
//!
//! [`Hedging`] is one call's state; time is an input (`now`), and the
//! runtime asks [`poll_timeout`](Hedging::poll_timeout) when to come back.

use crate::retry::{
    DEFAULT_TRANSPARENT_RETRIES, MAX_ATTEMPTS_CAP, Pushback, RetryPolicyError, RetryThrottle,
    parse_pushback,
};
use crate::status::{Code, Status};
use http::HeaderMap;
use std::time::{Duration, Instant};

/// How a method's calls are hedged (the service config's
/// `hedgingPolicy`).
///
/// ```
/// use std::time::Duration;
/// use wirestate_grpc::Code;
/// use wirestate_grpc::hedging::HedgingPolicy;
///
/// // Up to 3 attempts, one more every 50 ms while none answered;
/// // UNAVAILABLE from one of them does not end the call.
/// let policy = HedgingPolicy::new(3, Duration::from_millis(50), [Code::Unavailable]).unwrap();
/// assert_eq!(policy.max_attempts(), 3);
/// assert!(policy.is_non_fatal(Code::Unavailable));
/// assert!(!policy.is_non_fatal(Code::Internal));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HedgingPolicy {
    max_attempts: u32,
    hedging_delay: Duration,
    non_fatal_codes: Vec<Code>,
}

impl HedgingPolicy {
    /// A validated policy: `max_attempts` (the first attempt included) at
    /// least 2 and lowered to [`MAX_ATTEMPTS_CAP`]; `hedging_delay` may be
    /// zero (every attempt starts at once); `non_fatal_codes` may be
    /// empty (any failure ends the call) but must not hold OK.
    ///
    /// # Errors
    ///
    /// The first rule the values break.
    pub fn new(
        max_attempts: u32,
        hedging_delay: Duration,
        non_fatal_codes: impl IntoIterator<Item = Code>,
    ) -> Result<HedgingPolicy, RetryPolicyError> {
        if max_attempts < 2 {
            return Err(RetryPolicyError::MaxAttempts(max_attempts));
        }
        let mut codes: Vec<Code> = non_fatal_codes.into_iter().collect();
        codes.sort_unstable();
        codes.dedup();
        if codes.contains(&Code::Ok) {
            return Err(RetryPolicyError::NonFatalCodes);
        }
        Ok(HedgingPolicy {
            max_attempts: max_attempts.min(MAX_ATTEMPTS_CAP),
            hedging_delay,
            non_fatal_codes: codes,
        })
    }

    /// The most attempts of one call, the first included (at most 5).
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// How long after an attempt the next one starts if none answered.
    pub fn hedging_delay(&self) -> Duration {
        self.hedging_delay
    }

    /// Whether a failure with `code` leaves the call to the other
    /// attempts (else it is the call's outcome).
    pub fn is_non_fatal(&self, code: Code) -> bool {
        self.non_fatal_codes.contains(&code)
    }
}

/// What an attempt's end means for the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HedgeVerdict {
    /// This attempt's outcome is the call's: cancel every other attempt
    /// still running.
    Commit,
    /// Not the call's outcome (yet): other attempts run, or more will
    /// start; keep this status in case it turns out to be the last.
    Continue,
}

/// One hedged call's attempts.
///
/// The runtime starts what [`poll_start`](Self::poll_start) hands out
/// (each attempt's number is the `grpc-previous-rpc-attempts` value it
/// sends), comes back at [`poll_timeout`](Self::poll_timeout), and
/// reports response headers ([`on_headers`](Self::on_headers)) and
/// statuses ([`on_status`](Self::on_status)). Once
/// [`is_exhausted`](Self::is_exhausted), the last non-fatal failure is the
/// call's outcome.
///
/// ```
/// use std::time::{Duration, Instant};
/// use wirestate_grpc::Code;
/// use wirestate_grpc::hedging::{Hedging, HedgingPolicy};
///
/// let policy = HedgingPolicy::new(3, Duration::from_millis(100), [Code::Unavailable]).unwrap();
/// let t0 = Instant::now();
/// let mut call = Hedging::new(policy, t0, None);
/// assert_eq!(call.poll_start(t0, None), Some(0));
/// assert_eq!(call.poll_start(t0, None), None);
/// // Nothing heard after 100 ms: the second attempt.
/// let t1 = call.poll_timeout().unwrap();
/// assert_eq!(t1, t0 + Duration::from_millis(100));
/// assert_eq!(call.poll_start(t1, None), Some(1));
/// // The second answers first: it is the call; the first is cancelled.
/// assert!(call.on_headers(1));
/// assert_eq!(call.running(), [0]);
/// ```
#[derive(Debug, Clone)]
pub struct Hedging {
    policy: HedgingPolicy,
    /// Attempts started so far (the next one's number).
    started: u32,
    /// Attempts started plus hedges the throttle refused: the count
    /// `maxAttempts` bounds.
    scheduled: u32,
    /// Attempts started that have not ended.
    running: Vec<u32>,
    /// When the next attempt starts, if one is to start.
    next_at: Option<Instant>,
    deadline: Option<Instant>,
    /// No more attempts: a pushback said stop, the deadline came, or the
    /// throttle refused a hedge with no attempt left running.
    stopped: bool,
    committed: Option<u32>,
    transparent_left: u32,
    /// The call's outcome was counted by the throttle.
    counted: bool,
}

impl Hedging {
    /// A call under `policy` at `now`, its first attempt due at once, none
    /// started at or past `deadline`.
    pub fn new(policy: HedgingPolicy, now: Instant, deadline: Option<Instant>) -> Hedging {
        Hedging {
            policy,
            started: 0,
            scheduled: 0,
            running: Vec::new(),
            next_at: Some(now),
            deadline,
            stopped: false,
            committed: None,
            transparent_left: DEFAULT_TRANSPARENT_RETRIES,
            counted: false,
        }
    }

    /// With `n` transparent retries for attempts the server never
    /// processed (see [`on_unprocessed`](Self::on_unprocessed)).
    pub fn with_transparent_retries(mut self, n: u32) -> Hedging {
        self.transparent_left = n;
        self
    }

    /// The policy.
    pub fn policy(&self) -> &HedgingPolicy {
        &self.policy
    }

    /// The attempt to start at `now`, if one is due: its number, the
    /// count of attempts started before it. Call until `None` (with a
    /// zero `hedgingDelay` every attempt is due at once). `throttle` is
    /// the channel's: attempts after the first start only while it
    /// allows retries. A refused hedge is cancelled: it counts toward
    /// `maxAttempts`, the next is due a `hedgingDelay` later, and if no
    /// attempt is running the call is over (see
    /// [`is_exhausted`](Self::is_exhausted)).
    pub fn poll_start(&mut self, now: Instant, throttle: Option<&RetryThrottle>) -> Option<u32> {
        if self.committed.is_some() || self.stopped || self.scheduled >= self.policy.max_attempts {
            return None;
        }
        if self.next_at.is_none_or(|at| now < at) {
            return None;
        }
        if self.deadline.is_some_and(|d| now >= d) {
            self.stopped = true;
            return None;
        }
        self.scheduled += 1;
        if self.started > 0 && throttle.is_some_and(|t| !t.allows_retry()) {
            // A6: a throttled hedge does not wait for tokens; it is
            // cancelled. With attempts still running the call goes on
            // and the next hedge asks again after the delay; with none,
            // nothing could ever answer, so the last failure is the call's.
            if self.running.is_empty() {
                self.stopped = true;
            } else {
                self.schedule_next(now);
            }
            return None;
        }
        let n = self.started;
        self.started += 1;
        self.running.push(n);
        self.schedule_next(now);
        Some(n)
    }

    /// The next hedge one `hedgingDelay` after `now`, if one is left.
    fn schedule_next(&mut self, now: Instant) {
        // A delay past what the clock can hold: no hedge falls due by
        // time (a failure still starts the next one).
        self.next_at = (self.scheduled < self.policy.max_attempts)
            .then(|| now.checked_add(self.policy.hedging_delay))
            .flatten();
    }

    /// When the next attempt is due, if one will be started: `None` once
    /// the call is committed, every attempt started, hedging stopped, or
    /// the next one could only start at or past the deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.committed.is_some() || self.stopped || self.scheduled >= self.policy.max_attempts {
            return None;
        }
        let at = self.next_at?;
        match self.deadline {
            Some(d) if at >= d => None,
            _ => Some(at),
        }
    }

    /// The attempts started that have not ended (after a commit: the ones
    /// to cancel).
    pub fn running(&self) -> &[u32] {
        &self.running
    }

    /// How many attempts were started.
    pub fn started(&self) -> u32 {
        self.started
    }

    /// The attempt whose outcome is the call's, once there is one.
    pub fn committed(&self) -> Option<u32> {
        self.committed
    }

    /// Whether the call has no outcome yet and never will from its
    /// attempts: none running and none to start. The last non-fatal
    /// failure is then the call's.
    pub fn is_exhausted(&self) -> bool {
        self.committed.is_none() && self.running.is_empty() && self.poll_timeout().is_none()
    }

    /// No more attempts (the request outgrew the retry buffer, so it
    /// cannot be sent again): the running ones go on.
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// Attempt `attempt` was given up before it was sent: the request
    /// outgrew the retry buffer while its stream was being opened, so it
    /// could not carry what was sent before (A6 cancels every attempt but
    /// the one that goes on live). It no longer runs, and it ends nothing:
    /// no verdict, nothing for the throttle; once no attempt runs and
    /// none is due, the call is [exhausted](Self::is_exhausted).
    pub fn abandon(&mut self, attempt: u32) {
        self.running.retain(|&a| a != attempt);
    }

    /// Attempt `attempt` received response headers: whether it commits
    /// the call (then every other running attempt is to be cancelled);
    /// `false` if another committed first (cancel this one).
    pub fn on_headers(&mut self, attempt: u32) -> bool {
        if self.committed.is_some() || !self.running.contains(&attempt) {
            return false;
        }
        self.running.retain(|&a| a != attempt);
        self.committed = Some(attempt);
        true
    }

    /// Attempt `attempt` never reached the server's application
    /// (REFUSED_STREAM, above a GOAWAY's last stream id, a connection
    /// that refused it): whether to start it again at once, under the
    /// same number. Such retries do not count as attempts.
    pub fn on_unprocessed(&mut self, attempt: u32) -> bool {
        if self.committed.is_some() || self.transparent_left == 0 {
            return false;
        }
        if !self.running.contains(&attempt) {
            return false;
        }
        self.transparent_left -= 1;
        true
    }

    /// Attempt `attempt` ended at `now` with `status` (without response
    /// headers: a trailers-only response, whose `trailers` may hold the
    /// server's pushback, or a failure). OK and fatal codes commit the
    /// call; a non-fatal code lets the next attempt start at once (or
    /// after the pushback's delay; a pushback saying stop ends hedging).
    /// An attempt ending after the call was committed changes nothing.
    pub fn on_status(
        &mut self,
        now: Instant,
        attempt: u32,
        status: &Status,
        trailers: Option<&HeaderMap>,
        throttle: Option<&mut RetryThrottle>,
    ) -> HedgeVerdict {
        if self.committed.is_some() || !self.running.contains(&attempt) {
            return HedgeVerdict::Continue;
        }
        self.running.retain(|&a| a != attempt);
        if status.is_ok() || !self.policy.is_non_fatal(status.code) {
            self.committed = Some(attempt);
            if status.is_ok() {
                self.counted = true;
                if let Some(t) = throttle {
                    t.on_success();
                }
            }
            return HedgeVerdict::Commit;
        }
        if let Some(t) = throttle {
            t.on_failure();
        }
        match trailers.and_then(parse_pushback) {
            Some(Pushback::Stop) => self.stopped = true,
            // The next hedge waits for the server's delay, not sooner.
            // (One past what the clock can hold stops hedging.)
            Some(Pushback::RetryAfter(d)) => match now.checked_add(d) {
                Some(at) => self.next_at = Some(at),
                None => self.stopped = true,
            },
            // The failure stands for the hedging delay: the next attempt
            // starts at once.
            None => self.next_at = Some(self.next_at.map_or(now, |at| at.min(now))),
        }
        HedgeVerdict::Continue
    }

    /// The call, committed by response headers, ended with `status`: the
    /// throttle counts it (OK refills it, a non-fatal code drains it),
    /// once however often this is called.
    pub fn on_end(&mut self, status: &Status, throttle: Option<&mut RetryThrottle>) {
        if self.counted || self.committed.is_none() {
            return;
        }
        self.counted = true;
        if let Some(t) = throttle {
            if status.is_ok() {
                t.on_success();
            } else if self.policy.is_non_fatal(status.code) {
                t.on_failure();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::GRPC_RETRY_PUSHBACK_MS;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn policy(max: u32, delay: u64) -> HedgingPolicy {
        HedgingPolicy::new(max, ms(delay), [Code::Unavailable]).unwrap()
    }

    fn unavailable() -> Status {
        Status::new(Code::Unavailable, "down")
    }

    fn pushback(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(GRPC_RETRY_PUSHBACK_MS, v.parse().unwrap());
        h
    }

    /// Every attempt due at `now`.
    fn starts(call: &mut Hedging, now: Instant) -> Vec<u32> {
        std::iter::from_fn(|| call.poll_start(now, None)).collect()
    }

    #[test]
    fn policy_rules() {
        assert_eq!(
            HedgingPolicy::new(1, ms(1), []),
            Err(RetryPolicyError::MaxAttempts(1))
        );
        assert_eq!(
            HedgingPolicy::new(3, ms(1), [Code::Ok]),
            Err(RetryPolicyError::NonFatalCodes)
        );
        let p = HedgingPolicy::new(9, Duration::ZERO, [Code::Aborted, Code::Aborted]).unwrap();
        assert_eq!(p.max_attempts(), MAX_ATTEMPTS_CAP);
        assert_eq!(p.hedging_delay(), Duration::ZERO);
        assert!(p.is_non_fatal(Code::Aborted));
        // No non-fatal codes: every failure ends the call.
        assert!(
            !HedgingPolicy::new(2, ms(1), [])
                .unwrap()
                .is_non_fatal(Code::Unavailable)
        );
    }

    #[test]
    fn hedges_start_every_delay_until_max_attempts() {
        let t0 = Instant::now();
        let mut call = Hedging::new(policy(3, 100), t0, None);
        assert_eq!(call.poll_timeout(), Some(t0));
        assert_eq!(starts(&mut call, t0), [0]);
        assert_eq!(call.poll_timeout(), Some(t0 + ms(100)));
        // Not due yet.
        assert_eq!(starts(&mut call, t0 + ms(99)), Vec::<u32>::new());
        assert_eq!(starts(&mut call, t0 + ms(100)), [1]);
        assert_eq!(starts(&mut call, t0 + ms(200)), [2]);
        // Three started: no more, and nothing to wait for but answers.
        assert_eq!(call.poll_timeout(), None);
        assert_eq!(starts(&mut call, t0 + ms(900)), Vec::<u32>::new());
        assert_eq!(call.running(), [0, 1, 2]);
        assert!(!call.is_exhausted());
        // A late timer (the runtime woke at 250 ms for the 200 ms hedge)
        // spaces the next one from when it started.
        let mut late = Hedging::new(policy(3, 100), t0, None);
        starts(&mut late, t0);
        assert_eq!(starts(&mut late, t0 + ms(250)), [1]);
        assert_eq!(late.poll_timeout(), Some(t0 + ms(350)));
    }

    #[test]
    fn zero_delay_starts_every_attempt_at_once() {
        let t0 = Instant::now();
        let mut call = Hedging::new(policy(4, 0), t0, None);
        assert_eq!(starts(&mut call, t0), [0, 1, 2, 3]);
        assert_eq!(call.started(), 4);
    }

    #[test]
    fn first_headers_commit_and_the_others_are_cancelled() {
        let t0 = Instant::now();
        let mut call = Hedging::new(policy(3, 10), t0, None);
        starts(&mut call, t0);
        starts(&mut call, t0 + ms(10));
        starts(&mut call, t0 + ms(20));
        assert!(call.on_headers(2));
        assert_eq!(call.committed(), Some(2));
        assert_eq!(call.running(), [0, 1]);
        // A later answer loses: cancel it.
        assert!(!call.on_headers(0));
        // Later statuses change nothing.
        assert_eq!(
            call.on_status(
                t0 + ms(30),
                1,
                &Status::new(Code::Internal, "x"),
                None,
                None
            ),
            HedgeVerdict::Continue
        );
        assert_eq!(call.committed(), Some(2));
        assert_eq!(call.poll_timeout(), None);
        assert!(!call.is_exhausted());
    }

    #[test]
    fn a_fatal_status_or_ok_commits() {
        let t0 = Instant::now();
        let mut call = Hedging::new(policy(3, 10), t0, None);
        starts(&mut call, t0);
        starts(&mut call, t0 + ms(10));
        let internal = Status::new(Code::Internal, "broken");
        assert_eq!(
            call.on_status(t0 + ms(15), 0, &internal, None, None),
            HedgeVerdict::Commit
        );
        assert_eq!(call.running(), [1]);
        assert_eq!(call.poll_start(t0 + ms(20), None), None);
        // A trailers-only OK commits too.
        let mut ok = Hedging::new(policy(3, 10), t0, None);
        starts(&mut ok, t0);
        assert_eq!(
            ok.on_status(t0, 0, &Status::ok(), None, None),
            HedgeVerdict::Commit
        );
    }

    #[test]
    fn a_non_fatal_failure_starts_the_next_hedge_at_once() {
        let t0 = Instant::now();
        let mut call = Hedging::new(policy(3, 100), t0, None);
        starts(&mut call, t0);
        assert_eq!(
            call.on_status(t0 + ms(5), 0, &unavailable(), None, None),
            HedgeVerdict::Continue
        );
        assert_eq!(call.poll_timeout(), Some(t0 + ms(5)));
        assert_eq!(starts(&mut call, t0 + ms(5)), [1]);
        assert_eq!(call.poll_timeout(), Some(t0 + ms(105)));
        // All fail: the last failure is the call's once none is left.
        call.on_status(t0 + ms(6), 1, &unavailable(), None, None);
        assert_eq!(starts(&mut call, t0 + ms(6)), [2]);
        assert!(!call.is_exhausted());
        call.on_status(t0 + ms(7), 2, &unavailable(), None, None);
        assert!(call.is_exhausted());
        assert_eq!(call.committed(), None);
    }

    #[test]
    fn pushback_delays_or_stops_hedging() {
        let t0 = Instant::now();
        let mut call = Hedging::new(policy(4, 10), t0, None);
        starts(&mut call, t0);
        call.on_status(t0 + ms(1), 0, &unavailable(), Some(&pushback("300")), None);
        // The server's delay, not the hedging delay nor at once.
        assert_eq!(call.poll_timeout(), Some(t0 + ms(301)));
        assert_eq!(starts(&mut call, t0 + ms(300)), Vec::<u32>::new());
        assert_eq!(starts(&mut call, t0 + ms(301)), [1]);
        // Then the hedging delay again.
        assert_eq!(call.poll_timeout(), Some(t0 + ms(311)));
        for stop in ["-1", "soon"] {
            let mut call = Hedging::new(policy(4, 10), t0, None);
            starts(&mut call, t0);
            starts(&mut call, t0 + ms(10));
            call.on_status(t0 + ms(11), 0, &unavailable(), Some(&pushback(stop)), None);
            assert_eq!(call.poll_timeout(), None, "{stop}");
            assert!(!call.is_exhausted());
            call.on_status(t0 + ms(12), 1, &unavailable(), None, None);
            assert!(call.is_exhausted());
        }
    }

    #[test]
    fn a_delay_past_the_clock_never_panics() {
        // A hedgingDelay no clock can add ("18446744073709551615s" in a
        // service config, or Duration::MAX meaning "only after a
        // failure"): no hedge falls due by time, a failure still starts
        // the next at once.
        let t0 = Instant::now();
        let never = HedgingPolicy::new(3, Duration::MAX, [Code::Unavailable]).unwrap();
        let mut call = Hedging::new(never, t0, None);
        assert_eq!(starts(&mut call, t0), [0]);
        assert_eq!(call.poll_timeout(), None);
        assert!(!call.is_exhausted());
        call.on_status(t0 + ms(1), 0, &unavailable(), None, None);
        assert_eq!(starts(&mut call, t0 + ms(1)), [1]);
        assert_eq!(call.poll_timeout(), None);
    }

    #[test]
    fn no_hedge_at_or_past_the_deadline() {
        let t0 = Instant::now();
        let mut call = Hedging::new(policy(3, 100), t0, Some(t0 + ms(150)));
        starts(&mut call, t0);
        assert_eq!(starts(&mut call, t0 + ms(100)), [1]);
        // The third would start at 200 ms, past the deadline.
        assert_eq!(call.poll_timeout(), None);
        call.on_status(t0 + ms(120), 0, &unavailable(), None, None);
        // A failure brings the next hedge forward, before the deadline.
        assert_eq!(call.poll_timeout(), Some(t0 + ms(120)));
        call.on_status(t0 + ms(121), 1, &unavailable(), None, None);
        assert_eq!(starts(&mut call, t0 + ms(150)), Vec::<u32>::new());
        assert!(call.is_exhausted());
    }

    #[test]
    fn hedges_share_the_throttle() {
        let t0 = Instant::now();
        // 3 tokens: more than 1.5 left to hedge.
        let mut t = RetryThrottle::new(3, 0.5).unwrap();
        let mut call = Hedging::new(policy(4, 10), t0, None);
        assert_eq!(call.poll_start(t0, Some(&t)), Some(0));
        call.on_status(t0, 0, &unavailable(), None, Some(&mut t));
        assert_eq!(t.tokens(), 2.0);
        assert_eq!(call.poll_start(t0, Some(&t)), Some(1));
        call.on_status(t0, 1, &unavailable(), None, Some(&mut t));
        assert_eq!(t.tokens(), 1.0);
        // Throttled: no more hedges; nothing running, so the call is over.
        assert_eq!(call.poll_start(t0, Some(&t)), None);
        assert!(call.is_exhausted());
        // The first attempt of a new call always starts.
        let mut next = Hedging::new(policy(4, 10), t0, None);
        assert_eq!(next.poll_start(t0, Some(&t)), Some(0));
        assert_eq!(next.poll_start(t0 + ms(10), Some(&t)), None);
        // An OK refills, once; a committed call's end is counted once.
        assert_eq!(
            next.on_status(t0, 0, &Status::ok(), None, Some(&mut t)),
            HedgeVerdict::Commit
        );
        next.on_end(&Status::ok(), Some(&mut t));
        assert_eq!(t.tokens(), 1.5);
        let mut headed = Hedging::new(policy(4, 10), t0, None);
        headed.poll_start(t0, Some(&t));
        // Not committed yet: nothing counted.
        headed.on_end(&unavailable(), Some(&mut t));
        assert_eq!(t.tokens(), 1.5);
        assert!(headed.on_headers(0));
        headed.on_end(&unavailable(), Some(&mut t));
        headed.on_end(&unavailable(), Some(&mut t));
        assert_eq!(t.tokens(), 0.5);
        // A fatal code other than OK costs nothing.
        let mut fatal = Hedging::new(policy(4, 10), t0, None);
        fatal.poll_start(t0, Some(&t));
        fatal.on_status(t0, 0, &Status::new(Code::Internal, ""), None, Some(&mut t));
        assert_eq!(t.tokens(), 0.5);
    }

    #[test]
    fn a_throttled_hedge_is_cancelled_and_the_next_asks_again() {
        // A6: a hedge the throttle refuses is cancelled, not waited for,
        // and later hedges are sent if the tokens are back above the
        // threshold by then; the refusal alone does not end hedging.
        let t0 = Instant::now();
        // 4 tokens, threshold 2: one failure elsewhere leaves 3, two leave 2.
        let mut t = RetryThrottle::new(4, 1.0).unwrap();
        t.on_failure();
        t.on_failure();
        assert!(!t.allows_retry());
        let mut call = Hedging::new(policy(4, 100), t0, None);
        assert_eq!(call.poll_start(t0, Some(&t)), Some(0));
        // The hedge due at 100 ms is refused; attempt 0 runs on, and the
        // next hedge is due one delay later.
        assert_eq!(call.poll_start(t0 + ms(100), Some(&t)), None);
        assert_eq!(call.running(), [0]);
        assert!(!call.is_exhausted());
        assert_eq!(call.poll_timeout(), Some(t0 + ms(200)));
        // Another call's success lifts the tokens over the threshold: the
        // next hedge goes out, numbered after the attempts actually sent.
        t.on_success();
        assert_eq!(call.poll_start(t0 + ms(200), Some(&t)), Some(1));
        // The refused hedge took its place among maxAttempts (4): one left.
        assert_eq!(call.poll_timeout(), Some(t0 + ms(300)));
        assert_eq!(call.poll_start(t0 + ms(300), Some(&t)), Some(2));
        assert_eq!(call.poll_timeout(), None);
        assert_eq!(call.started(), 3);
        // With nothing left running, a refused hedge ends the call: the
        // last failure is the call's.
        let mut t = RetryThrottle::new(4, 1.0).unwrap();
        let mut alone = Hedging::new(policy(4, 100), t0, None);
        assert_eq!(alone.poll_start(t0, Some(&t)), Some(0));
        t.on_failure();
        alone.on_status(t0 + ms(5), 0, &unavailable(), None, Some(&mut t));
        assert_eq!(alone.poll_start(t0 + ms(5), Some(&t)), None);
        assert!(alone.is_exhausted());
        assert_eq!(alone.poll_timeout(), None);
        // Likewise when the last running attempt fails after a refusal.
        let mut t = RetryThrottle::new(4, 1.0).unwrap();
        t.on_failure();
        t.on_failure();
        let mut late = Hedging::new(policy(4, 100), t0, None);
        late.poll_start(t0, Some(&t));
        assert_eq!(late.poll_start(t0 + ms(100), Some(&t)), None);
        late.on_status(t0 + ms(150), 0, &unavailable(), None, Some(&mut t));
        assert_eq!(late.poll_start(t0 + ms(150), Some(&t)), None);
        assert!(late.is_exhausted());
    }

    #[test]
    fn unprocessed_attempts_restart_under_their_number() {
        let t0 = Instant::now();
        let mut call = Hedging::new(policy(3, 10), t0, None).with_transparent_retries(1);
        starts(&mut call, t0);
        assert!(call.on_unprocessed(0));
        assert_eq!(call.running(), [0]);
        assert_eq!(call.started(), 1);
        // The budget is spent; unknown attempts are refused.
        assert!(!call.on_unprocessed(0));
        assert!(!call.on_unprocessed(7));
        assert!(!call.on_headers(7));
        assert_eq!(
            call.on_status(t0, 7, &unavailable(), None, None),
            HedgeVerdict::Continue
        );
        call.stop();
        assert_eq!(call.poll_timeout(), None);
        assert_eq!(call.policy().max_attempts(), 3);
    }

    #[test]
    fn an_abandoned_attempt_ends_nothing() {
        let t0 = Instant::now();
        let mut t = RetryThrottle::new(4, 1.0).unwrap();
        let mut call = Hedging::new(policy(3, 10), t0, None);
        assert_eq!(starts(&mut call, t0), [0]);
        assert_eq!(starts(&mut call, t0 + ms(10)), [1]);
        call.stop();
        call.abandon(1);
        assert_eq!(call.running(), [0]);
        assert!(!call.is_exhausted());
        assert_eq!(t.tokens(), 4.0);
        // Its late answers are ignored.
        assert!(!call.on_headers(1));
        assert_eq!(
            call.on_status(t0 + ms(20), 1, &unavailable(), None, Some(&mut t)),
            HedgeVerdict::Continue
        );
        assert_eq!(t.tokens(), 4.0);
        call.on_status(t0 + ms(30), 0, &unavailable(), None, Some(&mut t));
        assert!(call.is_exhausted());
        assert_eq!(call.committed(), None);
    }

    /// Whatever order attempts answer in, a call commits at most one
    /// attempt, never starts more than maxAttempts, and ends (commits or
    /// is exhausted) once every attempt answered.
    #[test]
    fn any_order_of_answers_ends_the_call_once() {
        let t0 = Instant::now();
        for seed in 0u32..400 {
            let mut call = Hedging::new(policy(4, 10), t0, None);
            let mut now = t0;
            let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
            let mut commits = 0;
            for _ in 0..40 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                now += ms(u64::from(x % 7));
                while call.poll_start(now, None).is_some() {}
                let running = call.running().to_vec();
                if running.is_empty() {
                    continue;
                }
                let a = running[(x as usize / 7) % running.len()];
                let verdict = match x % 5 {
                    0 => {
                        if call.on_headers(a) {
                            HedgeVerdict::Commit
                        } else {
                            HedgeVerdict::Continue
                        }
                    }
                    1 => call.on_status(now, a, &Status::new(Code::Internal, ""), None, None),
                    _ => call.on_status(now, a, &unavailable(), None, None),
                };
                if verdict == HedgeVerdict::Commit {
                    commits += 1;
                }
                assert!(call.started() <= 4);
            }
            assert!(commits <= 1, "seed {seed}");
            if call.running().is_empty() && call.poll_timeout().is_none() {
                assert!(call.committed().is_some() || call.is_exhausted());
            }
        }
    }
}
