//! When a runtime should hold back a tiny DATA frame so that more of the
//! body can join it: a sans-IO policy (time is an input) for the adapters
//! that move a body's chunks into [`Connection::send_data`].
//!
//! Why: a body written in small pieces faster than they can be framed
//! (log lines from a loop, many small messages) would otherwise go out as
//! one tiny frame per piece whenever the writer and the connection take
//! turns, and receivers count tiny frames as a flood — hyper's h2 sends
//! GOAWAY ENHANCE_YOUR_CALM ("too_many_data_frames") once about a hundred
//! frames under 256 bytes wait unread, which a loaded client easily
//! reaches. Go's HTTP/2 server avoids it by buffering handler writes until
//! a flush; a body of chunks has no flush, so the hold is bounded in time
//! instead, and only applies while tiny frames follow each other: the
//! first tiny frame, a body's last frame, and a reply to something the
//! peer just sent on the stream go at once (request/response turns, like
//! gRPC ping-pong, never wait — the Nagle and delayed-ACK trap).
//!
//! [`Connection::send_data`]: crate::connection::Connection::send_data

use std::time::{Duration, Instant};

/// DATA payloads shorter than this are tiny (hyper's h2 uses the same
/// threshold for its flood accounting).
pub const TINY_DATA: usize = 256;

/// How long a tiny payload may wait for more after the previous tiny frame
/// of its stream.
pub const TINY_HOLD: Duration = Duration::from_millis(1);

/// The pacing state of one outgoing body.
///
/// ```
/// use std::time::{Duration, Instant};
/// use wirestate_h2::pacing::{TINY_HOLD, TinyFrames};
/// let t0 = Instant::now();
/// let mut p = TinyFrames::default();
/// // The first tiny frame goes at once...
/// assert_eq!(p.hold_until(10, false, t0), None);
/// p.sent(10, t0);
/// // ...the next waits for company, up to TINY_HOLD after the first...
/// let t1 = t0 + Duration::from_micros(100);
/// assert_eq!(p.hold_until(10, false, t1), Some(t0 + TINY_HOLD));
/// // ...unless it is the body's end, or the peer spoke meanwhile.
/// assert_eq!(p.hold_until(10, true, t1), None);
/// p.peer_sent();
/// assert_eq!(p.hold_until(10, false, t1), None);
/// ```
#[derive(Debug, Clone, Default)]
pub struct TinyFrames {
    /// When the last frame went out, if it was tiny.
    last_tiny: Option<Instant>,
    /// The peer sent DATA on the stream since.
    peer_spoke: bool,
}

impl TinyFrames {
    /// Whether `len` pending bytes (`last`: the body's final piece) should
    /// wait for more, and until when.
    pub fn hold_until(&self, len: usize, last: bool, now: Instant) -> Option<Instant> {
        if len >= TINY_DATA || last || self.peer_spoke {
            return None;
        }
        let until = self.last_tiny? + TINY_HOLD;
        (now < until).then_some(until)
    }

    /// A DATA frame of `len` bytes went out at `now`.
    pub fn sent(&mut self, len: usize, now: Instant) {
        self.last_tiny = (len > 0 && len < TINY_DATA).then_some(now);
        self.peer_spoke = false;
    }

    /// The peer sent on the stream: what we send next may be its answer.
    pub fn peer_sent(&mut self) {
        self.peer_spoke = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tiny_frames_in_a_row_wait_and_never_past_the_hold() {
        let t0 = Instant::now();
        let us = |n| t0 + Duration::from_micros(n);
        let mut p = TinyFrames::default();
        assert_eq!(p.hold_until(1, false, t0), None);
        p.sent(1, t0);
        // Enough to be worth a frame: no wait.
        assert_eq!(p.hold_until(TINY_DATA, false, us(10)), None);
        assert_eq!(p.hold_until(TINY_DATA - 1, false, us(10)), Some(us(1000)));
        // The hold is over: it goes.
        assert_eq!(p.hold_until(5, false, us(1000)), None);
        // After a full-size frame, a tiny one goes at once.
        p.sent(16_384, us(1000));
        assert_eq!(p.hold_until(5, false, us(1001)), None);
        // An empty END_STREAM frame is not a tiny data frame.
        p.sent(0, us(1001));
        assert_eq!(p.hold_until(5, false, us(1002)), None);
        // Speaking resets with the next frame sent.
        p.sent(5, us(2000));
        p.peer_sent();
        assert_eq!(p.hold_until(5, false, us(2001)), None);
        p.sent(5, us(2001));
        assert_eq!(p.hold_until(5, false, us(2002)), Some(us(3001)));
    }
}
