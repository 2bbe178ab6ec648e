use std::time::{Duration, Instant};

/// A clock that only moves when the test says so.
///
/// ```
/// # use std::time::Duration;
/// # use wirestate_testkit::VirtualClock;
/// let mut clock = VirtualClock::new();
/// let t0 = clock.now();
/// clock.advance(Duration::from_secs(3));
/// assert_eq!(clock.now() - t0, Duration::from_secs(3));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct VirtualClock {
    start: Instant,
    now: Instant,
}

impl Default for VirtualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl VirtualClock {
    /// A clock starting at an arbitrary fixed point.
    pub fn new() -> Self {
        // Instants can't be built from nothing; any real instant works as an
        // origin since machines only compare and add durations.
        let start = Instant::now();
        Self { start, now: start }
    }

    /// The current virtual instant.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Time elapsed since the clock was created.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Moves the clock forward.
    pub fn advance(&mut self, by: Duration) -> Instant {
        self.now += by;
        self.now
    }

    /// Moves the clock to `at` if that is later than now.
    pub fn advance_to(&mut self, at: Instant) -> Instant {
        if at > self.now {
            self.now = at;
        }
        self.now
    }
}
