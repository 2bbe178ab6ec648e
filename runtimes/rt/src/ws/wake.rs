//! Wakers that tell the connection task apart from the `on_upgrade`
//! future it polls inline, and that turn wake-ups raised during its own
//! poll into flags instead of trips through the runtime's scheduler.
//!
//! On a server the handler future runs inside the connection's task. Every
//! message it receives and every reply it sends crosses a channel whose
//! other end belongs to that same task, so with the task's own waker each
//! of those hand-offs would ask the runtime to poll the task again — a
//! whole extra poll (clock read, timer check, socket readiness, every
//! channel) per message, for nothing: the connection looks at those
//! channels again within the same poll anyway. Registered through these
//! wakers instead, such a wake-up sets a bit that the connection reads
//! before it returns `Pending`; only wake-ups from outside that window
//! (another task, the runtime's timers) reach the real waker.
//!
//! The bits also say *what* was woken, so the handler future is polled only
//! when something it waits on happened, not on every turn of the driver.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Wake, Waker};

/// The connection is inside [`Hub::begin`] … [`Hub::end`].
const POLLING: u8 = 1;
/// Something the handler future waits on happened.
pub(crate) const TASK: u8 = 2;
/// Something the connection side waits on happened (a command, room in
/// the receiver's queue, the reader gone, shutdown).
pub(crate) const CONN: u8 = 4;

/// The bits, shared by both wakers of one generation, plus the task's real
/// waker. The real waker is fixed for the life of a `Hub`: when the task's
/// waker changes, a new generation is made (see [`Wakers::refresh`]), so
/// no lock is needed to read it from another thread.
#[derive(Debug)]
struct Hub {
    state: AtomicU8,
    outer: Waker,
}

impl Hub {
    fn wake(&self, bit: u8) {
        // One read-modify-write on the word the poller also updates
        // (`end`), so exactly one side sees the other: either the poller
        // finds the bit, or this call finds `POLLING` clear and wakes.
        let before = self.state.fetch_or(bit, Ordering::AcqRel);
        if before & POLLING == 0 {
            self.outer.wake_by_ref();
        }
    }
}

struct TaskWake(Arc<Hub>);

impl Wake for TaskWake {
    fn wake(self: Arc<Self>) {
        self.0.wake(TASK);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.wake(TASK);
    }
}

struct ConnWake(Arc<Hub>);

impl Wake for ConnWake {
    fn wake(self: Arc<Self>) {
        self.0.wake(CONN);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.wake(CONN);
    }
}

/// One generation of the pair of wakers.
#[derive(Debug)]
pub(crate) struct Wakers {
    hub: Arc<Hub>,
    /// For the handler future (and so for the receiver and senders it
    /// polls).
    pub(crate) task: Waker,
    /// For what the connection side registers on (command queue, room in
    /// the item queue, the reader's liveness, shutdown).
    pub(crate) conn: Waker,
}

impl Wakers {
    fn new(outer: &Waker) -> Self {
        let hub = Arc::new(Hub {
            // A new generation looks at everything once: wake-ups may have
            // gone to the previous one's real waker.
            state: AtomicU8::new(TASK | CONN),
            outer: outer.clone(),
        });
        Self {
            task: Waker::from(Arc::new(TaskWake(hub.clone()))),
            conn: Waker::from(Arc::new(ConnWake(hub.clone()))),
            hub,
        }
    }

    /// The wakers for a poll with the task waker `outer`: the current
    /// generation unless the task's waker changed (rare: a runtime keeps
    /// one waker per task).
    pub(crate) fn refresh(slot: &mut Option<Wakers>, outer: &Waker) -> Wakers {
        match slot.take() {
            Some(w) if w.hub.outer.will_wake(outer) => w,
            _ => Wakers::new(outer),
        }
    }

    /// Opens the window in which wake-ups become bits.
    pub(crate) fn begin(&self) {
        self.hub.state.fetch_or(POLLING, Ordering::AcqRel);
    }

    /// Clears `bit`, returning whether it was set: call right before
    /// looking at what it stands for, so a wake-up after the look is kept.
    pub(crate) fn take(&self, bit: u8) -> bool {
        self.hub.state.fetch_and(!bit, Ordering::AcqRel) & bit != 0
    }

    /// Closes the window; returns the bits raised since they were last
    /// taken (work to do before the task may sleep).
    pub(crate) fn end(&self) -> u8 {
        self.hub.state.fetch_and(!POLLING, Ordering::AcqRel) & (TASK | CONN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn wakes_inside_the_window_become_bits() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let outer = Waker::from(count.clone());
        let mut slot = None;
        let w = Wakers::refresh(&mut slot, &outer);
        // A fresh generation asks for one look at everything.
        w.begin();
        assert!(w.take(TASK));
        assert!(w.take(CONN));
        w.task.wake_by_ref();
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        assert_eq!(w.end(), TASK);
        // Outside the window the real waker is woken (and the bit kept).
        w.conn.wake_by_ref();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        w.begin();
        assert!(w.take(TASK));
        assert!(w.take(CONN));
        assert_eq!(w.end(), 0);
        // Same real waker: same generation.
        slot = Some(w);
        let w2 = Wakers::refresh(&mut slot, &outer);
        w2.begin();
        assert!(!w2.take(TASK));
        assert_eq!(w2.end(), 0);
        // Another real waker: a new generation that looks at everything.
        let other = Arc::new(Count(AtomicUsize::new(0)));
        slot = Some(w2);
        let w3 = Wakers::refresh(&mut slot, &Waker::from(other.clone()));
        w3.begin();
        assert_eq!(w3.end(), TASK | CONN);
        w3.task.wake();
        assert_eq!(other.0.load(Ordering::SeqCst), 1);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }
}
