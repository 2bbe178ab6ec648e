use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// A graceful-shutdown signal shared by a server and its connections.
///
/// Triggering it stops the accept loop; each connection finishes the
/// responses it has started and closes once idle.
#[derive(Debug, Clone, Default)]
pub struct Shutdown(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    triggered: AtomicBool,
    next_id: AtomicU64,
    wakers: Mutex<HashMap<u64, Waker>>,
}

impl Shutdown {
    /// A signal that has not fired.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fires the signal, waking everyone waiting on it.
    pub fn trigger(&self) {
        self.0.triggered.store(true, Ordering::SeqCst);
        let wakers: Vec<Waker> = self.lock().drain().map(|(_, w)| w).collect();
        for w in wakers {
            w.wake();
        }
    }

    /// Whether the signal fired.
    pub fn is_triggered(&self) -> bool {
        self.0.triggered.load(Ordering::SeqCst)
    }

    /// Waits for the signal. Dropping the future before it fires forgets
    /// its waker (waiters that give up do not pile up until the shutdown).
    pub async fn wait(&self) {
        /// Forgets the registration when the wait ends or is dropped.
        struct Forget<'a>(&'a Shutdown, u64);
        impl Drop for Forget<'_> {
            fn drop(&mut self) {
                self.0.forget(self.1);
            }
        }
        let registration = Forget(self, self.id());
        std::future::poll_fn(|cx| self.poll(registration.1, cx)).await;
    }

    /// A registration id for [`poll`](Self::poll).
    pub(crate) fn id(&self) -> u64 {
        self.0.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Ready once triggered; otherwise remembers the waker under `id`.
    pub(crate) fn poll(&self, id: u64, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_triggered() {
            return Poll::Ready(());
        }
        let mut wakers = self.lock();
        match wakers.get_mut(&id) {
            Some(w) if w.will_wake(cx.waker()) => {}
            Some(w) => w.clone_from(cx.waker()),
            None => {
                wakers.insert(id, cx.waker().clone());
            }
        }
        drop(wakers);
        // Triggered between the check and the registration.
        if self.is_triggered() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Drops the waker registered under `id`.
    pub(crate) fn forget(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// How many wakers are registered (tests: registrations must not leak).
    #[cfg(test)]
    pub(crate) fn registered(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Waker>> {
        self.0.wakers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_dropped_before_the_signal_forgets_its_waker() {
        // A waiter that goes away first (a cancelled gRPC health Watch, say)
        // must not leave its waker behind until the shutdown: a long-lived
        // server would keep one per cancelled call.
        let shutdown = Shutdown::new();
        let mut cx = Context::from_waker(Waker::noop());
        let mut wait = Box::pin(shutdown.wait());
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        assert_eq!(shutdown.registered(), 1);
        drop(wait);
        assert_eq!(shutdown.registered(), 0);

        let mut wait = Box::pin(shutdown.wait());
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        shutdown.trigger();
        assert!(wait.as_mut().poll(&mut cx).is_ready());
        assert_eq!(shutdown.registered(), 0);
    }
}
