use std::time::Instant;

/// Clamps the `now` values a caller passes so time never runs backwards
/// inside a machine, even if the caller's clock does.
///
/// ```
/// # use std::time::{Duration, Instant};
/// # use wirestate_machine::MonotonicClock;
/// let t0 = Instant::now();
/// let mut clock = MonotonicClock::default();
/// assert_eq!(clock.advance(t0 + Duration::from_secs(2)), t0 + Duration::from_secs(2));
/// // An earlier instant is clamped to the latest one seen.
/// assert_eq!(clock.advance(t0), t0 + Duration::from_secs(2));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct MonotonicClock {
    last: Option<Instant>,
}

impl MonotonicClock {
    /// Records `now` and returns the latest instant seen so far.
    pub fn advance(&mut self, now: Instant) -> Instant {
        let t = match self.last {
            Some(last) if last > now => last,
            _ => now,
        };
        self.last = Some(t);
        t
    }

    /// The latest instant seen, if any.
    pub fn last(&self) -> Option<Instant> {
        self.last
    }
}
