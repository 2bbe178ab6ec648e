//! The channel's side of gRPC retries: the retry settings, the throttle
//! its calls share, and the randomness for the backoff's jitter. The
//! decisions are `wirestate_grpc::retry`'s.

use crate::ws::FastrandEntropy;
use http::HeaderMap;
use std::sync::{Mutex, MutexGuard};
use wirestate_grpc::Status;
use wirestate_grpc::retry::{RetryConfig, RetryDecision, RetryState, RetryThrottle};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A channel's retry settings and shared state (one per channel, behind
/// an `Arc`: its clones share the throttle).
pub(crate) struct Retrier {
    config: RetryConfig,
    throttle: Option<Mutex<RetryThrottle>>,
    entropy: Mutex<FastrandEntropy>,
}

impl std::fmt::Debug for Retrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retrier")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Retrier {
    pub(crate) fn new(config: RetryConfig) -> Retrier {
        Retrier {
            throttle: config.throttle().map(Mutex::new),
            config,
            entropy: Mutex::new(FastrandEntropy(fastrand::Rng::new())),
        }
    }

    /// A new call to `path`, with `transparent` retries for attempts the
    /// server never processed.
    pub(crate) fn start(&self, path: &str, transparent: u32) -> RetryState {
        self.config
            .start(path)
            .with_transparent_retries(transparent)
    }

    /// An attempt ended with `status` before the call was committed (or a
    /// committed call ended, for the throttle's count): the decision.
    pub(crate) fn decide(
        &self,
        state: &mut RetryState,
        status: &Status,
        trailers: Option<&HeaderMap>,
    ) -> RetryDecision {
        let mut throttle = self.throttle.as_ref().map(lock);
        // The generator is locked only when a backoff is drawn: most calls
        // succeed, and clones of a channel share it.
        let mut entropy = LockedEntropy(&self.entropy);
        state.on_status(status, trailers, throttle.as_deref_mut(), &mut entropy)
    }
}

/// The channel's generator, locked for each draw.
struct LockedEntropy<'a>(&'a Mutex<FastrandEntropy>);

impl wirestate_machine::Entropy for LockedEntropy<'_> {
    fn fill(&mut self, buf: &mut [u8]) {
        lock(self.0).fill(buf);
    }
}
