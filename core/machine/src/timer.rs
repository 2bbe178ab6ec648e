use std::time::Instant;

/// A handful of named deadlines, keyed by a small `Copy` enum.
///
/// Machines keep one entry per kind of timer (header read, keep-alive idle,
/// close timeout, …). `N` is the number of distinct keys the machine uses;
/// lookups are linear scans, which beat any map at these sizes.
///
/// ```
/// # use std::time::{Duration, Instant};
/// # use wirestate_machine::TimerTable;
/// #[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// enum Timer { Idle, Header }
/// let t0 = Instant::now();
/// let mut timers = TimerTable::<Timer, 2>::new();
/// timers.set(Timer::Idle, t0 + Duration::from_secs(5));
/// timers.set(Timer::Header, t0 + Duration::from_secs(1));
/// assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_secs(1)));
/// assert_eq!(timers.pop_expired(t0 + Duration::from_secs(1)), Some(Timer::Header));
/// assert_eq!(timers.pop_expired(t0 + Duration::from_secs(1)), None);
/// ```
#[derive(Debug, Clone)]
pub struct TimerTable<K, const N: usize> {
    slots: [Option<(K, Instant)>; N],
}

impl<K: Copy + Eq, const N: usize> Default for TimerTable<K, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Copy + Eq, const N: usize> TimerTable<K, N> {
    /// An empty table.
    pub fn new() -> Self {
        Self { slots: [None; N] }
    }

    /// Arms (or re-arms) `key` to fire at `at`.
    ///
    /// With more distinct keys than `N`, the latest deadline is dropped: a
    /// machine sizes `N` to its key enum, so this only guards misuse.
    pub fn set(&mut self, key: K, at: Instant) {
        if let Some(slot) = self
            .slots
            .iter_mut()
            .find(|s| matches!(s, Some((k, _)) if *k == key))
        {
            *slot = Some((key, at));
        } else if let Some(slot) = self.slots.iter_mut().find(|s| s.is_none()) {
            *slot = Some((key, at));
        }
    }

    /// Disarms `key`.
    pub fn clear(&mut self, key: K) {
        for slot in &mut self.slots {
            if matches!(slot, Some((k, _)) if *k == key) {
                *slot = None;
            }
        }
    }

    /// Disarms every timer.
    pub fn clear_all(&mut self) {
        self.slots = [None; N];
    }

    /// When `key` fires, if armed.
    pub fn get(&self, key: K) -> Option<Instant> {
        self.slots
            .iter()
            .flatten()
            .find(|(k, _)| *k == key)
            .map(|&(_, t)| t)
    }

    /// Whether `key` is armed.
    pub fn is_armed(&self, key: K) -> bool {
        self.get(key).is_some()
    }

    /// The earliest armed deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.slots.iter().flatten().map(|&(_, t)| t).min()
    }

    /// The key of the earliest armed deadline, for diagnosing busy loops.
    pub fn next_key(&self) -> Option<K> {
        self.slots
            .iter()
            .flatten()
            .min_by_key(|(_, t)| *t)
            .map(|&(k, _)| k)
    }

    /// Disarms and returns the earliest timer due at or before `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<K> {
        let idx = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|(_, t)| (i, t)))
            .filter(|&(_, t)| t <= now)
            .min_by_key(|&(_, t)| t)
            .map(|(i, _)| i)?;
        self.slots[idx].take().map(|(k, _)| k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rearm_replaces_and_clear_disarms() {
        let t0 = Instant::now();
        let mut t = TimerTable::<u8, 2>::new();
        t.set(1, t0 + Duration::from_secs(5));
        t.set(1, t0 + Duration::from_secs(9));
        t.set(2, t0 + Duration::from_secs(7));
        t.set(3, t0); // no slot left: ignored
        assert_eq!(t.get(1), Some(t0 + Duration::from_secs(9)));
        assert_eq!(t.next_key(), Some(2));
        t.clear(2);
        assert_eq!(t.next_deadline(), Some(t0 + Duration::from_secs(9)));
        assert_eq!(t.pop_expired(t0 + Duration::from_secs(8)), None);
        t.clear_all();
        assert_eq!(t.next_deadline(), None);
    }
}
