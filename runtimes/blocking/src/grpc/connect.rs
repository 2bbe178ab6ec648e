//! Where a blocking [`Channel`]'s calls go — one given HTTP/2 connection,
//! or connections the channel opens itself (again when one ends) with
//! keep-alive pings that back off on GOAWAY `too_many_pings` (gRFC A8) —
//! and the channel's retry state: its retry settings, the throttle its
//! calls share, and the randomness for the backoff's jitter (gRFC A6; the
//! decisions are `wirestate_grpc::retry`'s).

use super::client::Channel;
use crate::h2::{ClientConfig, SendRequest};
// The WebSocket masks' generator: unpredictable enough to spread clients'
// retries apart, which is all jitter is for.
use crate::ws::FastrandEntropy;
use http::HeaderMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use wirestate_grpc::keepalive::{DEFAULT_KEEPALIVE_TIMEOUT, KeepAlive};
use wirestate_grpc::retry::{RetryConfig, RetryDecision, RetryState, RetryThrottle};
use wirestate_grpc::{Code, Status};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A channel's retry settings and shared state.
pub(crate) struct Retrier {
    config: RetryConfig,
    throttle: Option<Mutex<RetryThrottle>>,
    entropy: Mutex<FastrandEntropy>,
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

    /// An attempt ended with `status`: the decision (and the throttle's
    /// count).
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

/// The connection(s) of a channel.
#[derive(Clone)]
pub(crate) enum Transport {
    /// One connection the caller made ([`Channel::new`]).
    Fixed(SendRequest),
    /// Connections the channel opens ([`Channel::builder`]).
    Dialed(Arc<Dialer>),
}

impl Transport {
    /// The connection for the next call.
    pub(crate) fn get(&self) -> Result<SendRequest, Status> {
        match self {
            Transport::Fixed(send) => Ok(send.clone()),
            Transport::Dialed(d) => d.get(),
        }
    }

    /// Whether a call refused unsent may be sent again: a fixed
    /// connection that closed takes nothing more; a dialing channel opens
    /// a new one.
    pub(crate) fn can_resend(&self) -> bool {
        match self {
            Transport::Fixed(send) => !send.is_closed(),
            Transport::Dialed(_) => true,
        }
    }

    pub(crate) fn keepalive_interval(&self) -> Option<Duration> {
        match self {
            Transport::Dialed(d) => lock(&d.state).keepalive.map(|k| k.interval()),
            Transport::Fixed(_) => None,
        }
    }

    pub(crate) fn connections(&self) -> u64 {
        match self {
            Transport::Dialed(d) => lock(&d.state).connections,
            Transport::Fixed(_) => 1,
        }
    }
}

struct DialState {
    current: Option<SendRequest>,
    keepalive: Option<KeepAlive>,
    connections: u64,
}

/// Opens the connections of a [`Channel::builder`] channel.
pub(crate) struct Dialer {
    addr: String,
    config: ClientConfig,
    keepalive_without_calls: bool,
    state: Mutex<DialState>,
}

impl Dialer {
    /// The open connection, or a new one; a connection that ended is asked
    /// why first (GOAWAY `too_many_pings` doubles the keep-alive interval).
    /// Connecting holds the lock, so concurrent calls share one new
    /// connection instead of racing to open several.
    fn get(&self) -> Result<SendRequest, Status> {
        let mut st = lock(&self.state);
        if let Some(send) = &st.current {
            if !send.is_closed() {
                return Ok(send.clone());
            }
            if let Some((code, debug)) = send.go_away_reason()
                && let Some(k) = &mut st.keepalive
                && k.on_goaway(u32::from(code), &debug)
            {
                tracing::debug!(
                    interval = ?k.interval(),
                    "GOAWAY too_many_pings: keep-alive interval doubled"
                );
            }
            st.current = None;
        }
        let mut config = self.config.clone();
        if let Some(k) = &st.keepalive {
            config.h2.keepalive_interval = Some(k.interval());
            config.h2.keepalive_timeout = k.timeout();
            config.h2.keepalive_while_idle = self.keepalive_without_calls;
        }
        let send = crate::h2::connect_with(self.addr.as_str(), config).map_err(|e| {
            Status::new(
                Code::Unavailable,
                format!("connecting to {}: {e}", self.addr),
            )
        })?;
        st.current = Some(send.clone());
        st.connections += 1;
        Ok(send)
    }
}

/// Builds a blocking [`Channel`] that opens its own HTTP/2 connections
/// (h2c with prior knowledge) to one address, and a new one when the last
/// one ended: with keep-alive pings, retries by a retry policy, or both.
///
/// ```no_run
/// use std::time::Duration;
/// use wirestate_blocking::grpc::{Channel, Code, RetryPolicy};
/// # fn main() -> Result<(), wirestate_blocking::grpc::Status> {
/// let policy = RetryPolicy::new(
///     4,                          // attempts, the first included (at most 5)
///     Duration::from_millis(100), // initial backoff
///     Duration::from_secs(2),     // max backoff
///     2.0,                        // multiplier
///     [Code::Unavailable],        // retryable codes
/// )
/// .expect("a valid policy");
/// let channel = Channel::builder("127.0.0.1:50051")
///     .keepalive(Duration::from_secs(30))
///     .retry_policy(policy)
///     .connect()?;
/// # let _ = channel;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ChannelBuilder {
    addr: String,
    authority: Option<String>,
    config: ClientConfig,
    keepalive: Option<Duration>,
    keepalive_timeout: Duration,
    keepalive_without_calls: bool,
    retry: RetryConfig,
}

impl ChannelBuilder {
    pub(crate) fn new(addr: &str) -> ChannelBuilder {
        ChannelBuilder {
            addr: addr.to_owned(),
            authority: None,
            // Deadlines are per call (grpc-timeout), not per connection.
            config: ClientConfig {
                request_timeout: None,
                ..ClientConfig::default()
            },
            keepalive: None,
            keepalive_timeout: DEFAULT_KEEPALIVE_TIMEOUT,
            keepalive_without_calls: false,
            retry: RetryConfig::new(),
        }
    }

    /// The `:authority` of requests (default: the address).
    pub fn authority(mut self, authority: &str) -> Self {
        self.authority = Some(authority.to_owned());
        self
    }

    /// The connections' settings (HTTP/2 windows and limits, connect
    /// timeout). Its keep-alive fields are overridden by
    /// [`keepalive`](Self::keepalive).
    pub fn client_config(mut self, config: ClientConfig) -> Self {
        self.config = config;
        self
    }

    /// Keep-alive pings: a PING after `interval` without input while a
    /// call is in flight (or always, with
    /// [`keepalive_without_calls`](Self::keepalive_without_calls)), and the
    /// connection closed when one stays unanswered for the
    /// [`keepalive_timeout`](Self::keepalive_timeout) (20 s by default).
    /// When the server answers GOAWAY ENHANCE_YOUR_CALM `too_many_pings`
    /// (its minimum ping interval is longer), the channel doubles the
    /// interval for the connections it opens next, as gRPC clients do
    /// (gRFC A8); [`Channel::keepalive_interval`] shows where it stands.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), wirestate_blocking::grpc::Status> {
    /// use std::time::Duration;
    /// let channel = wirestate_blocking::grpc::Channel::builder("127.0.0.1:50051")
    ///     .keepalive(Duration::from_secs(30))
    ///     .keepalive_timeout(Duration::from_secs(5))
    ///     .connect()?;
    /// # let _ = channel;
    /// # Ok(())
    /// # }
    /// ```
    pub fn keepalive(mut self, interval: Duration) -> Self {
        self.keepalive = Some(interval);
        self
    }

    /// How long a keep-alive PING may stay unanswered (default 20 s);
    /// takes effect with [`keepalive`](Self::keepalive).
    pub fn keepalive_timeout(mut self, timeout: Duration) -> Self {
        self.keepalive_timeout = timeout;
        self
    }

    /// Whether keep-alive pings go out while no call is in flight. Off by
    /// default, as in gRPC (gRFC A8): servers by default count pings on an
    /// idle connection against the client (grpcio allows one per two
    /// hours), which would end in GOAWAY `too_many_pings`. Turn it on for
    /// servers that permit it, to keep idle connections through NATs and
    /// proxies.
    pub fn keepalive_without_calls(mut self, on: bool) -> Self {
        self.keepalive_without_calls = on;
        self
    }

    /// Retries by the gRPC retry policy (gRFC A6): a [`RetryPolicy`] for
    /// every method, or a [`RetryConfig`] with per-service and per-method
    /// policies and a throttle. See [`Channel::with_retry`] for what is
    /// retried.
    ///
    /// [`RetryPolicy`]: wirestate_grpc::retry::RetryPolicy
    pub fn retry_policy(mut self, config: impl Into<RetryConfig>) -> Self {
        self.retry = config.into();
        self
    }

    fn build(self) -> Result<Channel, Status> {
        let authority = self.authority.unwrap_or_else(|| self.addr.clone());
        let keepalive = self
            .keepalive
            .map(|every| KeepAlive::new(every).with_timeout(self.keepalive_timeout));
        let dialer = Dialer {
            addr: self.addr,
            config: self.config,
            keepalive_without_calls: self.keepalive_without_calls,
            state: Mutex::new(DialState {
                current: None,
                keepalive,
                connections: 0,
            }),
        };
        Channel::from_parts(
            Transport::Dialed(Arc::new(dialer)),
            &authority,
            Arc::new(Retrier::new(self.retry)),
        )
    }

    /// Connects, and returns the channel once the first connection is
    /// open.
    ///
    /// # Errors
    ///
    /// UNAVAILABLE if the connection fails; INVALID_ARGUMENT for an
    /// authority that is not one.
    pub fn connect(self) -> Result<Channel, Status> {
        let channel = self.build()?;
        channel.transport().get()?;
        Ok(channel)
    }

    /// The channel, connecting on its first call (and again whenever the
    /// connection ended).
    ///
    /// # Errors
    ///
    /// INVALID_ARGUMENT for an authority that is not one.
    pub fn connect_lazy(self) -> Result<Channel, Status> {
        self.build()
    }
}
