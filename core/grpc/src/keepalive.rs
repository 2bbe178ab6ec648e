//! Client keep-alive pings and their back-off (gRFC A8).
//!
//! A channel pings its server after [`KeepAlive::interval`] without
//! input, and closes a connection whose ping stays unanswered for
//! [`KeepAlive::timeout`]. A server that finds the pings too frequent
//! answers GOAWAY ENHANCE_YOUR_CALM with the debug data `too_many_pings`;
//! the channel then doubles its interval for the connections it opens
//! next ([`KeepAlive::on_goaway`]), so a client and a server that disagree
//! settle instead of reconnecting forever.
//!
//! The HTTP/2 connection runs the timers (its `keepalive_interval` and
//! `keepalive_timeout`); this keeps the channel's part: the setting that
//! outlives each connection.

use std::time::Duration;

/// The HTTP/2 error code ENHANCE_YOUR_CALM (RFC 9113 §7).
const ENHANCE_YOUR_CALM: u32 = 0xb;

/// The GOAWAY debug data of a server rejecting too frequent pings.
pub const TOO_MANY_PINGS: &[u8] = b"too_many_pings";

/// The default time a keep-alive ping may stay unanswered (20 s, as in
/// gRPC).
pub const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// Whether a GOAWAY with `code` and `debug` data is a server's
/// `too_many_pings`.
pub fn is_too_many_pings(code: u32, debug: &[u8]) -> bool {
    code == ENHANCE_YOUR_CALM && debug == TOO_MANY_PINGS
}

/// A channel's keep-alive setting, which backs off when the server says
/// the pings come too often.
///
/// ```
/// use std::time::Duration;
/// use wirestate_grpc::keepalive::{KeepAlive, TOO_MANY_PINGS};
///
/// let mut keepalive = KeepAlive::new(Duration::from_secs(10));
/// assert!(keepalive.on_goaway(0xb, TOO_MANY_PINGS));
/// assert_eq!(keepalive.interval(), Duration::from_secs(20));
/// // Any other GOAWAY leaves it alone.
/// assert!(!keepalive.on_goaway(0, b""));
/// assert_eq!(keepalive.interval(), Duration::from_secs(20));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive {
    interval: Duration,
    timeout: Duration,
}

impl KeepAlive {
    /// Pings after `interval` without input, each allowed
    /// [`DEFAULT_KEEPALIVE_TIMEOUT`] for its answer. A zero interval is
    /// raised to one millisecond (a ping per input would be a flood).
    pub fn new(interval: Duration) -> KeepAlive {
        KeepAlive {
            interval: interval.max(Duration::from_millis(1)),
            timeout: DEFAULT_KEEPALIVE_TIMEOUT,
        }
    }

    /// With `timeout` for each ping's answer.
    pub fn with_timeout(mut self, timeout: Duration) -> KeepAlive {
        self.timeout = timeout;
        self
    }

    /// The interval for the next connection.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// How long a ping may stay unanswered.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A connection received GOAWAY `code` with `debug` data: on
    /// `too_many_pings` the interval doubles (saturating) for the next
    /// connections. Returns whether it changed.
    pub fn on_goaway(&mut self, code: u32, debug: &[u8]) -> bool {
        if !is_too_many_pings(code, debug) {
            return false;
        }
        let doubled = self.interval.saturating_mul(2);
        let changed = doubled != self.interval;
        self.interval = doubled;
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_on_too_many_pings_only() {
        let mut k = KeepAlive::new(Duration::from_millis(50));
        assert!(!k.on_goaway(ENHANCE_YOUR_CALM, b"flood: PING frames"));
        assert!(!k.on_goaway(0, TOO_MANY_PINGS));
        assert_eq!(k.interval(), Duration::from_millis(50));
        for expected in [100, 200, 400] {
            assert!(k.on_goaway(ENHANCE_YOUR_CALM, TOO_MANY_PINGS));
            assert_eq!(k.interval(), Duration::from_millis(expected));
        }
    }

    #[test]
    fn saturates_instead_of_overflowing() {
        let mut k = KeepAlive::new(Duration::MAX);
        assert!(!k.on_goaway(ENHANCE_YOUR_CALM, TOO_MANY_PINGS));
        assert_eq!(k.interval(), Duration::MAX);
        assert_eq!(
            KeepAlive::new(Duration::ZERO).interval(),
            Duration::from_millis(1)
        );
        assert_eq!(
            KeepAlive::new(Duration::from_secs(1))
                .with_timeout(Duration::from_secs(3))
                .timeout(),
            Duration::from_secs(3)
        );
    }
}
