//! Where a blocking [`Channel`]'s calls go — one given HTTP/2 connection,
//! or connections the channel opens itself (again when one ends) with
//! keep-alive pings that back off on GOAWAY `too_many_pings` (gRFC A8),
//! or gRPC-Web over HTTP/1.1 (`web.rs`) — and the channel's retries
//! (gRFC A6, `wirestate_grpc::retry::Retrier`).

use super::client::Channel;
use super::streaming::deadline_exceeded;
#[cfg(feature = "tls")]
use super::web::WebTls;
use super::web::WebTransport;
use crate::h2::{ClientConfig, SendRequest};
// The WebSocket masks' generator: unpredictable enough to spread clients'
// retries apart, which is all jitter is for.
use crate::ws::FastrandEntropy;
use bytes::Bytes;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use wirestate_grpc::backoff::{BackoffConfig, ConnectBackoff, ConnectivityState, backing_off};
use wirestate_grpc::channel::{Connection, Redial};
use wirestate_grpc::retry::{Retrier, RetryConfig};
use wirestate_grpc::{ChannelConfig, Code, Status, ValidChannelConfig, WebMode};

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A channel's retries (`wirestate_grpc::retry::Retrier`: the decisions,
/// the throttle, the jitter's generator), shared by its clones and calls.
/// Locked for one `start` or `decide` at a time, never while a call waits.
pub(crate) type SharedRetrier = Arc<Mutex<Retrier<FastrandEntropy>>>;

/// The retries of a channel configured with `config`.
pub(crate) fn retrier(config: RetryConfig) -> SharedRetrier {
    let entropy = FastrandEntropy(fastrand::Rng::new());
    Arc::new(Mutex::new(Retrier::new(config, entropy)))
}

/// The connection(s) of a channel.
#[derive(Clone)]
pub(crate) enum Transport {
    /// One connection the caller made ([`Channel::new`]).
    Fixed(SendRequest),
    /// Connections the channel opens ([`Channel::builder`]).
    Dialed(Arc<Dialer>),
    /// gRPC-Web over pooled HTTP/1.1 connections
    /// ([`ChannelBuilder::grpc_web`]).
    Web(Arc<WebTransport>),
}

impl Transport {
    /// The HTTP/2 connection for the next call (waiting for one being
    /// opened at most until `deadline`).
    pub(crate) fn get(
        &self,
        deadline: Option<Instant>,
        wait: Option<bool>,
    ) -> Result<SendRequest, Status> {
        match self {
            Transport::Fixed(send) => Ok(send.clone()),
            Transport::Dialed(d) => d.get(deadline, wait),
            Transport::Web(_) => Err(Status::new(
                Code::Internal,
                "a gRPC-Web channel has no HTTP/2 connection",
            )),
        }
    }

    /// The gRPC-Web side of a gRPC-Web channel.
    pub(crate) fn web(&self) -> Option<&WebTransport> {
        match self {
            Transport::Web(w) => Some(w),
            _ => None,
        }
    }

    /// Whether a call refused unsent may be sent again: a fixed
    /// connection that closed takes nothing more; a dialing channel opens
    /// a new one.
    pub(crate) fn can_resend(&self) -> bool {
        match self {
            Transport::Fixed(send) => !send.is_closed(),
            Transport::Dialed(_) | Transport::Web(_) => true,
        }
    }

    pub(crate) fn keepalive_interval(&self) -> Option<Duration> {
        match self {
            Transport::Dialed(d) => lock(&d.state).redial.keepalive().map(|k| k.interval()),
            Transport::Fixed(_) | Transport::Web(_) => None,
        }
    }

    /// The channel's connectivity state (see [`Channel::state`]).
    pub(crate) fn state(&self) -> ConnectivityState {
        match self {
            Transport::Dialed(d) => d.state(),
            Transport::Fixed(send) if send.is_closed() => ConnectivityState::Shutdown,
            Transport::Fixed(_) => ConnectivityState::Ready,
            // The HTTP/1.1 pool dials per call: nothing to be ready.
            Transport::Web(_) => ConnectivityState::Idle,
        }
    }

    pub(crate) fn connections(&self) -> u64 {
        match self {
            Transport::Dialed(d) => lock(&d.state).redial.connections(),
            Transport::Fixed(_) => 1,
            Transport::Web(_) => 0,
        }
    }
}

impl Connection for SendRequest {
    fn is_closed(&self) -> bool {
        SendRequest::is_closed(self)
    }

    fn goaway(&self) -> Option<(u32, Bytes)> {
        self.go_away_reason()
            .map(|(code, debug)| (u32::from(code), debug))
    }
}

/// Opens the connections of a [`Channel::builder`] channel.
pub(crate) struct Dialer {
    addr: String,
    config: ClientConfig,
    /// TLS for each connection ([`ChannelBuilder::tls`]).
    #[cfg(feature = "tls")]
    tls: Option<Tls>,
    keepalive_without_calls: bool,
    state: Mutex<DialState>,
    /// Signalled when a connect attempt ends, for the calls waiting on it.
    dialed: Condvar,
    /// Whether calls wait for a connection unless their options say
    /// otherwise ([`ChannelBuilder::wait_for_ready`]).
    wait_for_ready: bool,
}

/// What a TLS channel's connections run their handshakes with.
#[cfg(feature = "tls")]
#[derive(Debug, Clone)]
struct Tls {
    config: Arc<rustls::ClientConfig>,
    name: rustls::pki_types::ServerName<'static>,
}

/// The connections of a [`Dialer`], and whether one is being opened.
struct DialState {
    redial: Redial<SendRequest>,
    /// A call is connecting (without the lock): the others wait for it
    /// rather than open connections of their own.
    connecting: bool,
    /// When the next connect may start after failed ones.
    backoff: ConnectBackoff,
    /// How the last connect failed, while in backoff: what fail-fast
    /// calls fail with meanwhile.
    failure: Option<Status>,
    /// Draws the backoff's jitter.
    rng: fastrand::Rng,
}

impl DialState {
    fn new(redial: Redial<SendRequest>, backoff: BackoffConfig) -> DialState {
        DialState {
            redial,
            connecting: false,
            backoff: ConnectBackoff::new(backoff),
            failure: None,
            rng: fastrand::Rng::new(),
        }
    }
}

/// Clears [`DialState::connecting`] and wakes the waiters when a connect
/// attempt ends, however it ends (an unwinding connect included, which
/// would otherwise leave every later call waiting).
struct Connecting<'a>(&'a Dialer);

impl Drop for Connecting<'_> {
    fn drop(&mut self) {
        lock(&self.0.state).connecting = false;
        self.0.dialed.notify_all();
    }
}

impl Dialer {
    /// The open connection, or a new one; a connection that ended is asked
    /// why first (GOAWAY `too_many_pings` doubles the keep-alive interval).
    ///
    /// Connecting does not hold the lock (a slow or black-holed connect
    /// would stall every call and every query of the channel), but only
    /// one call connects at a time: the others wait for its connection,
    /// until their `deadline` or the connect timeout, instead of opening
    /// one each. The connect itself is bounded by the caller's deadline
    /// too. If it fails, the channel backs off (gRPC's connection
    /// backoff): until the backoff has passed no call opens another
    /// connection; a fail-fast call fails UNAVAILABLE with how the last
    /// connect failed, a wait-for-ready call (`wait`, or the channel's
    /// default) waits for the next connect, until its deadline
    /// (DEADLINE_EXCEEDED). A connect cut short by its caller's deadline
    /// says nothing about the server: no backoff, the next waiter tries
    /// its own.
    fn get(&self, deadline: Option<Instant>, wait: Option<bool>) -> Result<SendRequest, Status> {
        let wait = wait.unwrap_or(self.wait_for_ready);
        // A fail-fast call waits for another's connect no longer than a
        // connect may take; a wait-for-ready call until its deadline.
        let wait_until = {
            let limit = Instant::now() + self.config.connect_timeout;
            deadline.map_or(limit, |d| d.min(limit))
        };
        loop {
            let mut st = lock(&self.state);
            loop {
                if let Some(send) = st.redial.open() {
                    return Ok(send);
                }
                let now = Instant::now();
                if wait && deadline.is_some_and(|d| now >= d) {
                    return Err(deadline_exceeded());
                }
                let until = if st.connecting {
                    if wait {
                        deadline
                    } else if now >= wait_until {
                        return Err(Status::new(
                            Code::Unavailable,
                            format!(
                                "connecting to {}: timed out waiting for the connection",
                                self.addr
                            ),
                        ));
                    } else {
                        Some(wait_until)
                    }
                } else if let Some(at) = st.backoff.waiting(now) {
                    if !wait {
                        return Err(backing_off(st.failure.as_ref(), &self.addr, at - now));
                    }
                    Some(deadline.map_or(at, |d| d.min(at)))
                } else {
                    break;
                };
                st = match until {
                    Some(until) => {
                        self.dialed
                            .wait_timeout(st, until.saturating_duration_since(now))
                            .unwrap_or_else(|e| e.into_inner())
                            .0
                    }
                    None => self.dialed.wait(st).unwrap_or_else(|e| e.into_inner()),
                };
            }
            st.connecting = true;
            let started = Instant::now();
            // Not shorter than the backoff, as the spec has it; nor past
            // the call's deadline: a call that gives up frees the slot for
            // the next one.
            let limit = st
                .backoff
                .connect_deadline(started, self.config.connect_timeout);
            let until = deadline.map_or(limit, |d| d.min(limit));
            let mut config = self.config.clone();
            config.connect_timeout = until.saturating_duration_since(started);
            if let Some(k) = st.redial.keepalive() {
                tracing::debug!(interval = ?k.interval(), "gRPC channel: connecting");
                config.h2.keepalive_interval = Some(k.interval());
                config.h2.keepalive_timeout = k.timeout();
                config.h2.keepalive_while_idle = self.keepalive_without_calls;
            }
            drop(st);
            let guard = Connecting(self);
            let connected = self.open(config);
            let mut st = lock(&self.state);
            match connected {
                Ok(send) => {
                    st.backoff.on_success();
                    st.failure = None;
                    let send = st.redial.connected(send);
                    drop(st);
                    drop(guard);
                    return Ok(send);
                }
                Err(e) => {
                    let status = Status::new(
                        Code::Unavailable,
                        format!("connecting to {}: {e}", self.addr),
                    );
                    // A connect cut short by the caller's deadline (it
                    // failed once that passed) says nothing about the
                    // server: no backoff.
                    if until >= limit || Instant::now() < until {
                        let jitter = st.rng.f64() * 2.0 - 1.0;
                        let at = st.backoff.on_failure(started, jitter);
                        tracing::debug!(error = %e, retry_in = ?at.saturating_duration_since(started), "gRPC channel: connect failed");
                        st.failure = Some(status.clone());
                    }
                    // A wait-for-ready call waits out the backoff and
                    // tries again (only then: no tight loop).
                    let again = wait && st.backoff.waiting(Instant::now()).is_some();
                    drop(st);
                    drop(guard);
                    if !again {
                        return Err(status);
                    }
                }
            }
        }
    }

    fn state(&self) -> ConnectivityState {
        let mut st = lock(&self.state);
        let open = st.redial.open().is_some();
        st.backoff.state(Instant::now(), open, st.connecting)
    }

    fn open(&self, config: ClientConfig) -> Result<SendRequest, crate::Error> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return crate::h2::connect_tls(
                self.addr.as_str(),
                config,
                tls.config.clone(),
                tls.name.clone(),
            );
        }
        crate::h2::connect_with(self.addr.as_str(), config)
    }
}

/// Builds a blocking [`Channel`] that opens its own HTTP/2 connections
/// (h2c with prior knowledge) to one address, and a new one when the last
/// one ended. The channel's settings — authority, keep-alive pings, retry
/// policy — are a [`ChannelConfig`], the same on every runtime; this adds
/// the address and the connection settings — or, with
/// [`grpc_web`](Self::grpc_web), gRPC-Web over HTTP/1.1 instead of h2.
///
/// ```no_run
/// use std::time::Duration;
/// use wirestate_blocking::grpc::{Channel, ChannelConfig, Code, RetryPolicy};
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
///     .config(
///         ChannelConfig::new()
///             .keepalive(Duration::from_secs(30))
///             .retry_policy(policy),
///     )
///     .connect()?;
/// # let _ = channel;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ChannelBuilder {
    addr: String,
    client: ClientConfig,
    config: ChannelConfig,
    web: Option<WebMode>,
    backoff: BackoffConfig,
    wait_for_ready: bool,
    #[cfg(feature = "tls")]
    tls: Option<Tls>,
}

impl ChannelBuilder {
    pub(crate) fn new(addr: &str) -> ChannelBuilder {
        ChannelBuilder {
            addr: addr.to_owned(),
            // Deadlines are per call (grpc-timeout), not per connection.
            client: ClientConfig {
                request_timeout: None,
                ..ClientConfig::default()
            },
            config: ChannelConfig::new(),
            web: None,
            backoff: BackoffConfig::default(),
            wait_for_ready: false,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// How long the channel waits after a failed connect before it opens
    /// another (default: gRPC's connection backoff — 1 s, then × 1.6 per
    /// failure in a row, ± 20 % jitter, at most 120 s — reset by a connect
    /// that succeeds). Meanwhile the channel is in
    /// [`TransientFailure`](ConnectivityState::TransientFailure): fail-fast
    /// calls fail UNAVAILABLE at once without a connect of their own, and
    /// wait-for-ready calls wait for the next connect. Each connect is
    /// allowed the longer of the client config's `connect_timeout` (the
    /// spec's MIN_CONNECT_TIMEOUT) and the current backoff.
    pub fn connect_backoff(mut self, backoff: BackoffConfig) -> Self {
        self.backoff = backoff;
        self
    }

    /// Makes wait-for-ready the default of the channel's calls (default
    /// `false`: fail-fast, as in gRPC); a call's
    /// [`CallOptions::wait_for_ready`](wirestate_grpc::CallOptions::wait_for_ready)
    /// overrides it. Applies to channels that dial over HTTP/2 (not
    /// gRPC-Web, nor [`Channel::new`] over one given connection).
    pub fn wait_for_ready(mut self, wait: bool) -> Self {
        self.wait_for_ready = wait;
        self
    }

    /// gRPC over TLS (feature `tls`): every connection the channel opens
    /// runs the TLS handshake with `config` (within the connect timeout)
    /// and checks the server's certificate against `server_name`; a server
    /// that does not agree to ALPN `h2` is UNAVAILABLE. `config` must
    /// offer `h2`:
    ///
    /// ```no_run
    /// use wirestate_blocking::{grpc::Channel, tls};
    /// # fn main() -> Result<(), wirestate_blocking::grpc::Status> {
    /// let config = tls::client_config(tls::webpki_roots(), &[tls::ALPN_H2]);
    /// let name = tls::server_name("grpc.example.com").unwrap();
    /// let channel = Channel::builder("grpc.example.com:443")
    ///     .tls(config, name)
    ///     .connect()?;
    /// # let _ = channel; Ok(())
    /// # }
    /// ```
    ///
    /// With [`grpc_web`](Self::grpc_web), gRPC-Web goes over TLS the same
    /// way, the certificate checked against `server_name` and the ALPN
    /// offer replaced by `http/1.1`; [`connect`](Self::connect) runs one
    /// handshake.
    #[cfg(feature = "tls")]
    pub fn tls(
        mut self,
        config: Arc<rustls::ClientConfig>,
        server_name: rustls::pki_types::ServerName<'static>,
    ) -> Self {
        self.tls = Some(Tls {
            config,
            name: server_name,
        });
        self
    }

    /// Makes the channel speak gRPC-Web (`application/grpc-web`, or
    /// `application/grpc-web-text` in [`WebMode::Text`]) over this
    /// crate's pooled HTTP/1.1 [`Client`](crate::Client) instead of gRPC
    /// over h2: to a gRPC-Web server or proxy (tonic-web, Envoy,
    /// grpcwebproxy, ours), with the same calls and typed stubs. Unary
    /// and server-streaming calls work as over h2 — deadlines
    /// (`grpc-timeout`, and every wait bounded by them), metadata,
    /// compression, retries, cancellation when a call is dropped (its
    /// connection is closed: HTTP/1.1 cannot cancel one request);
    /// client- and bidi-streaming calls fail at once with UNIMPLEMENTED,
    /// as gRPC-Web sends a request whole. Keep-alive pings and the HTTP/2
    /// settings do not apply; the connect timeout and `tls` (feature `tls`)
    /// do.
    ///
    /// ```no_run
    /// use wirestate_blocking::grpc::{CallOptions, Channel, WebMode};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Ping { #[prost(string, tag = "1")] text: String }
    /// # fn main() -> Result<(), wirestate_blocking::grpc::Status> {
    /// let channel = Channel::builder("127.0.0.1:8080").grpc_web(WebMode::Binary).connect()?;
    /// let pong = channel.unary::<_, Ping>("/demo.Pinger/Ping", &Ping { text: "hi".into() }, &CallOptions::default())?;
    /// # let _ = pong;
    /// # Ok(())
    /// # }
    /// ```
    pub fn grpc_web(mut self, mode: WebMode) -> Self {
        self.web = Some(mode);
        self
    }

    /// The channel's settings: authority, keep-alive pings, retry policy
    /// (default [`ChannelConfig::new`]).
    pub fn config(mut self, config: ChannelConfig) -> Self {
        self.config = config;
        self
    }

    /// The connections' settings (HTTP/2 windows and limits, connect
    /// timeout). Its keep-alive fields are overridden by
    /// [`ChannelConfig::keepalive`].
    pub fn client_config(mut self, config: ClientConfig) -> Self {
        self.client = config;
        self
    }

    fn build(self) -> Result<Channel, Status> {
        let ValidChannelConfig {
            authority,
            keepalive,
            keepalive_without_calls,
            retry,
            ..
        } = self.config.validate(&self.addr)?;
        let transport = match self.web {
            Some(mode) => {
                let http1 = crate::ClientConfig {
                    connect_timeout: self.client.connect_timeout,
                    ..Default::default()
                };
                Transport::Web(Arc::new(WebTransport::new(
                    &self.addr,
                    mode,
                    http1,
                    #[cfg(feature = "tls")]
                    self.tls.map(|tls| WebTls {
                        config: crate::tls::with_alpn(&tls.config, &[crate::tls::ALPN_HTTP1]),
                        name: tls.name,
                    }),
                )?))
            }
            None => Transport::Dialed(Arc::new(Dialer {
                addr: self.addr,
                config: self.client,
                #[cfg(feature = "tls")]
                tls: self.tls,
                keepalive_without_calls,
                state: Mutex::new(DialState::new(Redial::new(keepalive), self.backoff)),
                dialed: Condvar::new(),
                wait_for_ready: self.wait_for_ready,
            })),
        };
        Ok(Channel::from_parts(transport, authority, retrier(retry)))
    }

    /// Connects, and returns the channel once the first connection is
    /// open.
    ///
    /// # Errors
    ///
    /// UNAVAILABLE if the connection fails; INVALID_ARGUMENT for an
    /// authority that is not one.
    pub fn connect(self) -> Result<Channel, Status> {
        let timeout = self.client.connect_timeout;
        let channel = self.build()?;
        match channel.transport().web() {
            Some(web) => web.probe(timeout)?,
            None => drop(channel.transport().get(None, Some(false))?),
        }
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
