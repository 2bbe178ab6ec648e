//! The gRPC health service for wirestate servers: `grpc.health.v1.Health`
//! (`Check` and `Watch`, as the [health checking protocol] defines them),
//! which load balancers, Kubernetes gRPC probes, `grpc_health_probe` and
//! grpc clients' own health checking call.
//!
//! A [`HealthReporter`] holds the serving status of each service by name
//! (`""` is the server as a whole); the application changes them while it
//! runs, and every `Watch` call learns of each change of its service. The
//! reporter is plain shared state — no runtime, no IO — and the `rt` and
//! `blocking` features register the service on a `wirestate-rt` (tokio,
//! smol) or `wirestate-blocking` gRPC server, as `tonic-health` does for
//! tonic:
//!
//! ```
//! use wirestate_grpc_health::{HealthReporter, ServingStatus};
//!
//! // In a server: `rt::add_health(server, reporter.clone(), shutdown)`
//! // (feature `rt`) or `blocking::add_health(server, reporter.clone(),
//! // handle)` (feature `blocking`).
//! let reporter = HealthReporter::new(); // "" (the server) SERVING
//! reporter.set_serving("shop.v1.Cart");
//! assert_eq!(reporter.status("shop.v1.Cart"), Some(ServingStatus::Serving));
//!
//! // What a Watch call sends: the status at once, then each change.
//! let mut watch = reporter.watch("shop.v1.Cart");
//! assert_eq!(watch.poll_update(), Some(ServingStatus::Serving));
//! assert_eq!(watch.poll_update(), None); // nothing new
//! reporter.set_not_serving("shop.v1.Cart"); // e.g. its database is down
//! assert_eq!(watch.poll_update(), Some(ServingStatus::NotServing));
//! reporter.set_not_serving("shop.v1.Cart"); // the same status: no message
//! assert_eq!(watch.poll_update(), None);
//!
//! // Check answers NOT_FOUND for a service never set (or cleared).
//! assert_eq!(reporter.status("shop.v1.Orders"), None);
//!
//! // Shutting down: every service NOT_SERVING, so balancers drain the
//! // server; later `set_*` calls are ignored until `resume`.
//! reporter.shutdown();
//! assert_eq!(reporter.status(""), Some(ServingStatus::NotServing));
//! reporter.set_serving("shop.v1.Cart");
//! assert_eq!(reporter.status("shop.v1.Cart"), Some(ServingStatus::NotServing));
//! ```
//!
//! # What is answered
//!
//! * `Check`: the service's status, or NOT_FOUND when the reporter has none
//!   for it (never set, or [`clear`](HealthReporter::clear)ed).
//! * `Watch`: the status at once — SERVICE_UNKNOWN for an unknown service,
//!   not an error — then one message each time *that* service's status
//!   changes (setting the same status again sends nothing), until the
//!   client cancels or the server shuts down: then the services turn
//!   NOT_SERVING ([`HealthReporter::shutdown`]), the watch sends that and
//!   ends with UNAVAILABLE, so a graceful shutdown does not wait on it. A
//!   watcher that falls behind a burst of changes sends the latest status,
//!   not every intermediate one (as grpc-go's health server does).
//!
//! [health checking protocol]: https://github.com/grpc/grpc/blob/master/doc/health-checking.md

#![forbid(unsafe_code)]

#[cfg(feature = "blocking")]
pub mod blocking;
#[cfg(feature = "rt")]
pub mod rt;

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

pub use wirestate_proto::grpc::health::v1::health_check_response::ServingStatus;
use wirestate_proto::grpc::health::v1::{HealthCheckResponse, HealthMethod};

/// The gRPC path of `Check`.
pub const CHECK_PATH: &str = HealthMethod::Check.path();
/// The gRPC path of `Watch`.
pub const WATCH_PATH: &str = HealthMethod::Watch.path();
/// The message a `Check` of an unknown service fails with (NOT_FOUND).
pub const UNKNOWN_SERVICE: &str = "unknown service";
/// The message a `Watch` ends with when the server shuts down (UNAVAILABLE).
pub const SHUTTING_DOWN: &str = "the server is shutting down";

/// The serving status of each service of a server, shared by the health
/// service and the application: cheap to clone (every clone is the same
/// state), and safe to change from any thread while calls are served.
///
/// [`new`](Self::new) reports the server as a whole (`""`) SERVING, as
/// grpc-go's and tonic's health servers do; name your services with
/// [`set_serving`](Self::set_serving) once they are ready.
///
/// ```
/// use wirestate_grpc_health::{HealthReporter, ServingStatus};
///
/// let reporter = HealthReporter::new();
/// reporter.set_serving("shop.v1.Cart");
/// let background = reporter.clone(); // e.g. a task probing the database
/// background.set_status("shop.v1.Cart", ServingStatus::NotServing);
/// assert_eq!(reporter.status("shop.v1.Cart"), Some(ServingStatus::NotServing));
/// reporter.clear("shop.v1.Cart"); // no longer served: Check says NOT_FOUND
/// assert_eq!(reporter.status("shop.v1.Cart"), None);
/// assert_eq!(reporter.status(""), Some(ServingStatus::Serving));
/// ```
#[derive(Debug, Clone)]
pub struct HealthReporter {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    state: Mutex<State>,
    /// Notified on every change, for blocking watchers.
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    statuses: HashMap<String, ServingStatus>,
    /// Counts the changes that took effect: a watcher that saw `n` and
    /// finds more looks at its service again.
    changes: u64,
    /// After [`HealthReporter::shutdown`]: statuses frozen NOT_SERVING.
    shut_down: bool,
    /// Async watchers waiting for the next change, by watcher id.
    wakers: HashMap<u64, Waker>,
    next_watcher: u64,
}

impl Default for HealthReporter {
    fn default() -> Self {
        Self::new()
    }
}

impl HealthReporter {
    /// A reporter with the server as a whole (`""`) SERVING and no other
    /// service.
    pub fn new() -> Self {
        let reporter = Self {
            inner: Arc::default(),
        };
        reporter.set_serving("");
        reporter
    }

    /// Reports `service` (fully qualified, `pkg.Service`; `""` for the
    /// server) SERVING.
    pub fn set_serving(&self, service: &str) {
        self.set_status(service, ServingStatus::Serving);
    }

    /// Reports `service` NOT_SERVING: health-checking clients stop sending
    /// it calls.
    pub fn set_not_serving(&self, service: &str) {
        self.set_status(service, ServingStatus::NotServing);
    }

    /// Sets the status of `service`; watchers of it are told if it
    /// differs from the one they last sent. Ignored after
    /// [`shutdown`](Self::shutdown) (until [`resume`](Self::resume)), so
    /// that a draining server stays NOT_SERVING.
    pub fn set_status(&self, service: &str, status: ServingStatus) {
        let mut state = self.lock();
        if state.shut_down {
            return;
        }
        let old = state.statuses.get(service).copied();
        if old == Some(status) {
            return;
        }
        state.statuses.insert(service.to_owned(), status);
        self.changed(state);
    }

    /// Forgets `service`: `Check` answers NOT_FOUND and watchers get
    /// SERVICE_UNKNOWN, as for a service never set. Ignored after
    /// [`shutdown`](Self::shutdown).
    pub fn clear(&self, service: &str) {
        let mut state = self.lock();
        if !state.shut_down && state.statuses.remove(service).is_some() {
            self.changed(state);
        }
    }

    /// The status of `service`, `None` if it has none (never set, or
    /// cleared).
    pub fn status(&self, service: &str) -> Option<ServingStatus> {
        self.lock().statuses.get(service).copied()
    }

    /// How many changes took effect so far (setting a status a service
    /// already has is not one).
    pub fn changes(&self) -> u64 {
        self.lock().changes
    }

    /// Sets every service NOT_SERVING and ignores later changes, as
    /// grpc-go's `Shutdown()`: call it when the server begins to shut
    /// down, so that load balancers drain it. The `rt` and `blocking`
    /// services call it themselves when their server's shutdown fires.
    /// Idempotent.
    pub fn shutdown(&self) {
        let mut state = self.lock();
        if state.shut_down {
            return;
        }
        state.shut_down = true;
        for status in state.statuses.values_mut() {
            *status = ServingStatus::NotServing;
        }
        self.changed(state);
    }

    /// Undoes [`shutdown`](Self::shutdown): every service SERVING again and
    /// changes taken again (grpc-go's `Resume()`).
    pub fn resume(&self) {
        let mut state = self.lock();
        if !state.shut_down {
            return;
        }
        state.shut_down = false;
        for status in state.statuses.values_mut() {
            *status = ServingStatus::Serving;
        }
        self.changed(state);
    }

    /// Whether [`shutdown`](Self::shutdown) was called (and not resumed).
    pub fn is_shut_down(&self) -> bool {
        self.lock().shut_down
    }

    /// The answer to `Check` for `service`: its status, or `None` for
    /// NOT_FOUND.
    pub fn check(&self, service: &str) -> Option<HealthCheckResponse> {
        self.status(service).map(response)
    }

    /// A watcher of `service`: what one `Watch` call sends.
    pub fn watch(&self, service: impl Into<String>) -> Watcher {
        let id = {
            let mut state = self.lock();
            state.next_watcher = state.next_watcher.wrapping_add(1);
            state.next_watcher
        };
        Watcher {
            reporter: self.clone(),
            service: service.into(),
            id,
            sent: None,
            seen: None,
        }
    }

    /// Counts a change made under `state` and wakes every watcher (each
    /// then checks its own service). The wakers run after the lock is
    /// released, so one that polls its task at once cannot deadlock on it.
    fn changed(&self, mut state: MutexGuard<'_, State>) {
        state.changes = state.changes.wrapping_add(1);
        let wakers: Vec<Waker> = state.wakers.drain().map(|(_, w)| w).collect();
        self.inner.changed.notify_all();
        drop(state);
        for waker in wakers {
            waker.wake();
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the map consistent (every
        // change is one insert or remove), so the state stays usable.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The `Check`/`Watch` response for a status.
pub fn response(status: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse {
        status: status as i32,
    }
}

/// What one `Watch` call has sent, and the means to wait for the next
/// change: [`poll_update`](Self::poll_update) gives the message to send, if
/// any; [`poll_changed`](Self::poll_changed) waits (async) for a change of
/// any service, after which `poll_update` says whether it concerns this one.
#[derive(Debug)]
pub struct Watcher {
    reporter: HealthReporter,
    service: String,
    /// Registration key of this watcher's waker.
    id: u64,
    /// The status last returned by `poll_update`.
    sent: Option<ServingStatus>,
    /// The change count `poll_update` last looked at.
    seen: Option<u64>,
}

impl Watcher {
    /// The service watched.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The status to send now: the current one on the first call
    /// (SERVICE_UNKNOWN if the service has none), then only when it
    /// differs from the one last returned.
    pub fn poll_update(&mut self) -> Option<ServingStatus> {
        let state = self.reporter.lock();
        self.seen = Some(state.changes);
        let now = state
            .statuses
            .get(&self.service)
            .copied()
            .unwrap_or(ServingStatus::ServiceUnknown);
        drop(state);
        if self.sent == Some(now) {
            return None;
        }
        self.sent = Some(now);
        Some(now)
    }

    /// Ready once the reporter changed since the last
    /// [`poll_update`](Self::poll_update) (at once if it was never
    /// called); otherwise remembers `cx`'s waker until the next change.
    pub fn poll_changed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.reporter.lock();
        if self.seen != Some(state.changes) {
            state.wakers.remove(&self.id);
            return Poll::Ready(());
        }
        match state.wakers.get_mut(&self.id) {
            Some(w) if w.will_wake(cx.waker()) => {}
            Some(w) => w.clone_from(cx.waker()),
            None => {
                state.wakers.insert(self.id, cx.waker().clone());
            }
        }
        Poll::Pending
    }

    /// Blocks until the reporter changed since the last
    /// [`poll_update`](Self::poll_update), or `timeout` passed; whether it
    /// changed. For threads (the blocking server looks at its shutdown and
    /// the call's cancellation between waits).
    pub fn wait_changed(&mut self, timeout: std::time::Duration) -> bool {
        let state = self.reporter.lock();
        if self.seen != Some(state.changes) {
            return true;
        }
        let seen = self.seen;
        let (state, _) = self
            .reporter
            .inner
            .changed
            .wait_timeout_while(state, timeout, |s| Some(s.changes) == seen)
            .unwrap_or_else(|e| e.into_inner());
        Some(state.changes) != seen
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        // A cancelled Watch leaves no waker behind.
        self.reporter.lock().wakers.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;
    use std::time::Duration;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn new_reports_the_server_serving_and_nothing_else() {
        let r = HealthReporter::new();
        assert_eq!(r.status(""), Some(ServingStatus::Serving));
        assert_eq!(r.check("x"), None);
        assert_eq!(r.check("").map(|c| c.status), Some(1));
        assert_eq!(r.changes(), 1);
    }

    #[test]
    fn only_effective_changes_count_and_reach_watchers() {
        let r = HealthReporter::new();
        let mut w = r.watch("a");
        assert_eq!(w.poll_update(), Some(ServingStatus::ServiceUnknown));
        r.set_serving("a");
        assert_eq!(w.poll_update(), Some(ServingStatus::Serving));
        let before = r.changes();
        r.set_serving("a");
        assert_eq!(r.changes(), before, "same status is not a change");
        assert_eq!(w.poll_update(), None);
        r.set_not_serving("a");
        r.set_serving("a");
        // Coalesced: back where it was, nothing to send.
        assert_eq!(w.poll_update(), None);
        r.set_status("a", ServingStatus::NotServing);
        assert_eq!(w.poll_update(), Some(ServingStatus::NotServing));
        r.clear("a");
        assert_eq!(w.poll_update(), Some(ServingStatus::ServiceUnknown));
        assert_eq!(r.status("a"), None);
        let before = r.changes();
        r.clear("a");
        assert_eq!(
            r.changes(),
            before,
            "clearing an unknown service is not a change"
        );
    }

    #[test]
    fn watchers_of_other_services_send_nothing() {
        let r = HealthReporter::new();
        let mut w = r.watch("a");
        w.poll_update();
        r.set_serving("b");
        assert!(w.wait_changed(Duration::ZERO), "woken by any change");
        assert_eq!(w.poll_update(), None, "but b is not a");
    }

    #[test]
    fn poll_changed_wakes_once_per_change_and_forgets_its_waker() {
        let r = HealthReporter::new();
        let mut w = r.watch("a");
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(w.poll_changed(&mut cx).is_ready(), "never looked");
        w.poll_update();
        assert!(w.poll_changed(&mut cx).is_pending());
        assert!(w.poll_changed(&mut cx).is_pending());
        r.set_serving("a");
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(w.poll_changed(&mut cx).is_ready());
        w.poll_update();
        assert!(w.poll_changed(&mut cx).is_pending());
        drop(w);
        assert!(
            r.lock().wakers.is_empty(),
            "a dropped watcher leaves no waker"
        );
    }

    /// A waker that looks at the reporter as soon as it is woken.
    struct Reentrant(
        HealthReporter,
        std::sync::mpsc::Sender<Option<ServingStatus>>,
    );
    impl Wake for Reentrant {
        fn wake(self: Arc<Self>) {
            let _ = self.1.send(self.0.status("a"));
        }
    }

    #[test]
    fn wakers_run_after_the_lock_is_released() {
        let r = HealthReporter::new();
        let mut w = r.watch("a");
        w.poll_update();
        let (tx, rx) = std::sync::mpsc::channel();
        let waker = Waker::from(Arc::new(Reentrant(r.clone(), tx)));
        assert!(
            w.poll_changed(&mut Context::from_waker(&waker))
                .is_pending()
        );
        let setter = r.clone();
        // On a thread: a waker run under the lock would deadlock it.
        std::thread::spawn(move || setter.set_serving("a"));
        let seen = rx.recv_timeout(Duration::from_secs(10));
        // The watcher's drop locks: if the setter deadlocked holding the
        // lock, the failing test must still end.
        std::mem::forget(w);
        assert_eq!(seen, Ok(Some(ServingStatus::Serving)));
    }

    #[test]
    fn shutdown_turns_everything_not_serving_and_freezes() {
        let r = HealthReporter::new();
        r.set_serving("a");
        let mut w = r.watch("a");
        let mut unknown = r.watch("u");
        w.poll_update();
        unknown.poll_update();
        r.shutdown();
        assert!(r.is_shut_down());
        assert_eq!(w.poll_update(), Some(ServingStatus::NotServing));
        assert_eq!(unknown.poll_update(), None, "unknown stays unknown");
        assert_eq!(r.status(""), Some(ServingStatus::NotServing));
        r.set_serving("a");
        r.clear("a");
        r.set_serving("new");
        assert_eq!(r.status("a"), Some(ServingStatus::NotServing));
        assert_eq!(r.status("new"), None);
        let before = r.changes();
        r.shutdown();
        assert_eq!(r.changes(), before, "idempotent");
        r.resume();
        assert_eq!(w.poll_update(), Some(ServingStatus::Serving));
        r.set_serving("new");
        assert_eq!(r.status("new"), Some(ServingStatus::Serving));
    }

    #[test]
    fn wait_changed_wakes_a_thread() {
        let r = HealthReporter::new();
        let mut w = r.watch("a");
        w.poll_update();
        assert!(!w.wait_changed(Duration::from_millis(10)));
        let setter = r.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            setter.set_serving("a");
        });
        assert!(w.wait_changed(Duration::from_secs(10)));
        assert_eq!(w.poll_update(), Some(ServingStatus::Serving));
        t.join().unwrap();
    }
}
