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

    /// Waits for the signal.
    pub async fn wait(&self) {
        let id = self.id();
        std::future::poll_fn(|cx| self.poll(id, cx)).await;
        self.forget(id);
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
