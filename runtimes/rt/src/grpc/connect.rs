//! Where a [`Channel`]'s calls go: one given HTTP/2 connection, or
//! connections the channel opens itself (again when one ends), with
//! keep-alive pings that back off when the server answers GOAWAY
//! `too_many_pings` (gRFC A8).

use super::client::Channel;
use super::retry::Retrier;
use crate::Runtime;
use crate::h2::SendRequest;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use wirestate_grpc::keepalive::KeepAlive;
use wirestate_grpc::retry::RetryConfig;
use wirestate_grpc::{Code, Status};
use wirestate_h2::connection::Config;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The connection(s) of a channel.
#[derive(Clone)]
pub(crate) enum Transport<R> {
    /// One connection the caller made ([`Channel::new`]).
    Fixed(SendRequest),
    /// Connections the channel opens ([`Channel::builder`]).
    Dialed(Arc<Dialer<R>>),
}

impl<R: Runtime> Transport<R> {
    /// The connection for the next call.
    pub(crate) async fn get(&self) -> Result<SendRequest, Status> {
        match self {
            Transport::Fixed(send) => Ok(send.clone()),
            Transport::Dialed(d) => d.get().await,
        }
    }

    /// Whether a call the connection refused unsent may be tried again:
    /// a fixed connection that closed takes nothing more, a dialing
    /// channel opens a new one.
    pub(crate) fn can_resend(&self) -> bool {
        match self {
            Transport::Fixed(send) => !send.is_closed(),
            Transport::Dialed(_) => true,
        }
    }
}

/// What a dialing channel keeps between connections.
struct DialState {
    current: Option<SendRequest>,
    keepalive: Option<KeepAlive>,
    connections: u64,
}

/// Opens the connections of a [`Channel::builder`] channel.
pub(crate) struct Dialer<R> {
    rt: R,
    addr: SocketAddr,
    h2: Config,
    keepalive_without_calls: bool,
    state: Mutex<DialState>,
}

impl<R: Runtime> Dialer<R> {
    /// The open connection, or a new one. A connection that ended is
    /// asked why first: a GOAWAY `too_many_pings` doubles the keep-alive
    /// interval of the connections opened from then on.
    async fn get(&self) -> Result<SendRequest, Status> {
        let config = {
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
            let mut config = self.h2.clone();
            if let Some(k) = &st.keepalive {
                config.keepalive_interval = Some(k.interval());
                config.keepalive_timeout = k.timeout();
                config.keepalive_while_idle = self.keepalive_without_calls;
            }
            config
        };
        let io = self.rt.connect(self.addr).await.map_err(|e| {
            Status::new(
                Code::Unavailable,
                format!("connecting to {}: {e}", self.addr),
            )
        })?;
        let (send, driver) = crate::h2::handshake(self.rt.clone(), io, config);
        self.rt.spawn(Box::pin(async move {
            let _ = driver.await;
        }));
        let mut st = lock(&self.state);
        // Another call connected meanwhile: use its connection (ours is
        // dropped unused, which closes it).
        if let Some(other) = &st.current
            && !other.is_closed()
        {
            return Ok(other.clone());
        }
        st.current = Some(send.clone());
        st.connections += 1;
        Ok(send)
    }

    pub(crate) fn keepalive_interval(&self) -> Option<Duration> {
        lock(&self.state).keepalive.map(|k| k.interval())
    }

    pub(crate) fn connections(&self) -> u64 {
        lock(&self.state).connections
    }
}

/// Builds a [`Channel`] that opens its own HTTP/2 connections (h2c with
/// prior knowledge) to one address, and opens a new one when the last
/// one ended: with keep-alive pings, retries by a retry policy, or both.
///
/// ```no_run
/// # async fn run<R: wirestate_rt::Runtime>(runtime: R) -> Result<(), wirestate_rt::grpc::Status> {
/// use std::time::Duration;
/// use wirestate_rt::grpc::{Channel, Code, RetryPolicy};
///
/// // `runtime`: wirestate_tokio::TokioRuntime, wirestate_smol::SmolRuntime, ...
/// let policy = RetryPolicy::new(
///     4,                          // attempts, the first included (at most 5)
///     Duration::from_millis(100), // initial backoff
///     Duration::from_secs(2),     // max backoff
///     2.0,                        // multiplier
///     [Code::Unavailable],        // retryable codes
/// )
/// .expect("a valid policy");
/// let channel = Channel::builder(runtime, "127.0.0.1:50051".parse().unwrap())
///     .keepalive(Duration::from_secs(30))
///     .retry_policy(policy)
///     .connect()
///     .await?;
/// # let _ = channel;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ChannelBuilder<R> {
    rt: R,
    addr: SocketAddr,
    authority: Option<String>,
    h2: Config,
    keepalive: Option<Duration>,
    keepalive_timeout: Duration,
    keepalive_without_calls: bool,
    retry: RetryConfig,
}

impl<R: Runtime> ChannelBuilder<R> {
    pub(crate) fn new(rt: R, addr: SocketAddr) -> Self {
        Self {
            rt,
            addr,
            authority: None,
            h2: Config::default(),
            keepalive: None,
            keepalive_timeout: wirestate_grpc::keepalive::DEFAULT_KEEPALIVE_TIMEOUT,
            keepalive_without_calls: false,
            retry: RetryConfig::new(),
        }
    }

    /// The `:authority` of requests (default: the address).
    pub fn authority(mut self, authority: &str) -> Self {
        self.authority = Some(authority.to_owned());
        self
    }

    /// The HTTP/2 settings of the connections (windows, limits). Its
    /// keep-alive fields are overridden by [`keepalive`](Self::keepalive).
    pub fn h2_config(mut self, config: Config) -> Self {
        self.h2 = config;
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
    /// # async fn run<R: wirestate_rt::Runtime>(rt: R) -> Result<(), wirestate_rt::grpc::Status> {
    /// use std::time::Duration;
    /// let channel = wirestate_rt::grpc::Channel::builder(rt, "127.0.0.1:50051".parse().unwrap())
    ///     .keepalive(Duration::from_secs(30))
    ///     .keepalive_timeout(Duration::from_secs(5))
    ///     .connect()
    ///     .await?;
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

    /// Retries by the gRPC retry policy (gRFC A6): a [`RetryPolicy`]
    /// for every method, or a [`RetryConfig`] with per-service and
    /// per-method policies (methods not safe to repeat left out) and a
    /// throttle. See [`Channel::with_retry`] for what is retried.
    ///
    /// [`RetryPolicy`]: wirestate_grpc::retry::RetryPolicy
    pub fn retry_policy(mut self, config: impl Into<RetryConfig>) -> Self {
        self.retry = config.into();
        self
    }

    fn build(self) -> Result<Channel<R>, Status> {
        let authority = self
            .authority
            .clone()
            .unwrap_or_else(|| self.addr.to_string());
        let keepalive = self
            .keepalive
            .map(|every| KeepAlive::new(every).with_timeout(self.keepalive_timeout));
        let dialer = Dialer {
            rt: self.rt.clone(),
            addr: self.addr,
            h2: self.h2,
            keepalive_without_calls: self.keepalive_without_calls,
            state: Mutex::new(DialState {
                current: None,
                keepalive,
                connections: 0,
            }),
        };
        Channel::from_parts(
            self.rt,
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
    pub async fn connect(self) -> Result<Channel<R>, Status> {
        let channel = self.build()?;
        channel.transport().get().await?;
        Ok(channel)
    }

    /// The channel, connecting on its first call (and again whenever the
    /// connection ended).
    ///
    /// # Errors
    ///
    /// INVALID_ARGUMENT for an authority that is not one.
    pub fn connect_lazy(self) -> Result<Channel<R>, Status> {
        self.build()
    }
}
