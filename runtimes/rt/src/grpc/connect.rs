//! Where a [`Channel`]'s calls go: one given HTTP/2 connection, or
//! connections the channel opens itself (again when one ends), with
//! keep-alive pings that back off when the server answers GOAWAY
//! `too_many_pings` (gRFC A8), or gRPC-Web over HTTP/1.1 (`web.rs`); and
//! the channel's retries.

use super::client::{Channel, unavailable};
#[cfg(feature = "tls")]
use super::web::WebTls;
use super::web::{WebSend, WebTransport};
use crate::h2::SendRequest;
use crate::{Body, Runtime};
// The WebSocket masks' generator: unpredictable enough to spread clients'
// retries apart, which is all jitter is for.
use crate::ws::FastrandEntropy;
use bytes::Bytes;
use futures_channel::oneshot;
use http::{Response, request};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use wirestate_grpc::backoff::{BackoffConfig, ConnectBackoff, ConnectivityState, backing_off};
use wirestate_grpc::channel::{Connection, Redial};
use wirestate_grpc::retry::{Retrier, RetryConfig};
use wirestate_grpc::{ChannelConfig, Code, Status, ValidChannelConfig, WebMode};
use wirestate_h2::connection::Config;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A channel's retries (`wirestate_grpc::retry::Retrier`: the decisions,
/// the throttle, the jitter's generator), shared by its clones and calls.
/// Locked for one `start` or `decide` at a time, never across an await.
pub(crate) type SharedRetrier = Arc<Mutex<Retrier<FastrandEntropy>>>;

/// The retries of a channel configured with `config`.
pub(crate) fn retrier(config: RetryConfig) -> SharedRetrier {
    let entropy = FastrandEntropy(fastrand::Rng::new());
    Arc::new(Mutex::new(Retrier::new(config, entropy)))
}

/// The connection(s) of a channel.
#[derive(Clone)]
pub(crate) enum Transport<R> {
    /// One connection the caller made ([`Channel::new`]).
    Fixed(SendRequest),
    /// Connections the channel opens ([`Channel::builder`]).
    Dialed(Arc<Dialer<R>>),
    /// gRPC-Web over pooled HTTP/1.1 connections
    /// ([`ChannelBuilder::grpc_web`]).
    Web(Arc<dyn WebSend>),
}

/// One attempt's request, as its transport sends it.
pub(crate) enum Outgoing {
    /// A gRPC request on an HTTP/2 stream.
    H2(http::Request<Body>),
    /// A gRPC-Web request: its head and its whole body.
    Web(request::Parts, Bytes),
}

impl<R: Runtime> Transport<R> {
    /// The HTTP/2 connection for the next call (a call due by
    /// `deadline`; `wait`: its [`CallOptions::wait_for_ready`], `None`
    /// for the channel's default).
    ///
    /// [`CallOptions::wait_for_ready`]: wirestate_grpc::CallOptions::wait_for_ready
    async fn get(
        &self,
        deadline: Option<Instant>,
        wait: Option<bool>,
    ) -> Result<SendRequest, Status> {
        match self {
            Transport::Fixed(send) => Ok(send.clone()),
            Transport::Dialed(d) => d.get(deadline, wait).await,
            Transport::Web(_) => Err(Status::new(
                Code::Internal,
                "a gRPC-Web channel has no HTTP/2 connection",
            )),
        }
    }

    /// Opens the first connection (a gRPC-Web channel only checks that
    /// the server answers: its HTTP/1.1 pool dials per call as needed).
    async fn ready(&self) -> Result<(), Status> {
        match self {
            Transport::Web(w) => w.probe().await,
            _ => self.get(None, Some(false)).await.map(drop),
        }
    }

    /// The gRPC-Web framing of the channel's calls (`None`: gRPC on h2).
    pub(crate) fn web_mode(&self) -> Option<WebMode> {
        match self {
            Transport::Web(w) => Some(w.mode()),
            _ => None,
        }
    }

    /// Sends one attempt of a call due by `deadline` and waits for the
    /// response head (`wait`: the call's wait-for-ready option). On
    /// failure, the status and whether the server never saw the request.
    pub(crate) async fn send(
        &self,
        out: Outgoing,
        deadline: Option<Instant>,
        wait: Option<bool>,
    ) -> Result<Response<Body>, (Status, bool)> {
        match (self, out) {
            (Transport::Web(w), Outgoing::Web(parts, body)) => w.send(parts, body).await,
            (_, Outgoing::H2(mut request)) => match self.get(deadline, wait).await {
                Ok(send) => {
                    if send.is_secure() {
                        wirestate_grpc::call::use_https(request.uri_mut());
                    }
                    send.send(request)
                        .await
                        .map_err(|e| (unavailable(&e), e.is_unsent()))
                }
                Err(status) => Err((status, true)),
            },
            (_, Outgoing::Web(..)) => Err((
                Status::new(Code::Internal, "a gRPC-Web request on an HTTP/2 channel"),
                true,
            )),
        }
    }

    /// The keep-alive interval of the next connection (see
    /// [`Channel::keepalive_interval`]).
    pub(crate) fn keepalive_interval(&self) -> Option<Duration> {
        match self {
            Transport::Dialed(d) => d.keepalive_interval(),
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

    /// The connections opened (see [`Channel::connections`]).
    pub(crate) fn connections(&self) -> u64 {
        match self {
            Transport::Dialed(d) => d.connections(),
            Transport::Fixed(_) => 1,
            Transport::Web(_) => 0,
        }
    }

    /// Whether a call the connection refused unsent may be tried again:
    /// a fixed connection that closed takes nothing more, a dialing
    /// channel opens a new one.
    pub(crate) fn can_resend(&self) -> bool {
        match self {
            Transport::Fixed(send) => !send.is_closed(),
            Transport::Dialed(_) | Transport::Web(_) => true,
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

/// [`ChannelBuilder::connect_timeout`]'s default.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens the connections of a [`Channel::builder`] channel.
pub(crate) struct Dialer<R> {
    rt: R,
    addr: SocketAddr,
    h2: Config,
    keepalive_without_calls: bool,
    state: Mutex<DialState>,
    /// Bounds each connect, TLS handshake included
    /// ([`ChannelBuilder::connect_timeout`]).
    connect_timeout: Duration,
    /// Whether calls wait for a connection unless their options say
    /// otherwise ([`ChannelBuilder::wait_for_ready`]).
    wait_for_ready: bool,
    /// TLS for each connection ([`ChannelBuilder::tls`]).
    #[cfg(feature = "tls")]
    tls: Option<Tls>,
}

/// A channel's TLS: the client config and the name the server's
/// certificate must carry.
#[cfg(feature = "tls")]
#[derive(Clone, Debug)]
struct Tls {
    config: Arc<rustls::ClientConfig>,
    name: rustls::pki_types::ServerName<'static>,
}

/// The connections of a [`Dialer`], and whether one is being opened.
struct DialState {
    redial: Redial<SendRequest>,
    /// A connect is under way: calls wait for it rather than open
    /// connections of their own.
    connecting: bool,
    /// The calls waiting for that connect, told the connection it opened
    /// (`None`: it failed, or its task went away); the call that started
    /// it hears how it failed on a channel of its own.
    waiters: Vec<oneshot::Sender<Option<SendRequest>>>,
    /// When the next connect may start after failed ones.
    backoff: ConnectBackoff,
    /// How the last connect failed, while in backoff: what fail-fast
    /// calls fail with meanwhile.
    failure: Option<Status>,
    /// Draws the backoff's jitter.
    rng: fastrand::Rng,
}

/// What a call does next to get a connection.
enum Step {
    /// Wait for the connect under way.
    Wait(oneshot::Receiver<Option<SendRequest>>),
    /// Wait out the backoff, until then (wait-for-ready calls).
    Backoff(Instant),
    /// Open one with this config (boxed: it is large, and the other
    /// steps are taken far more often).
    Connect(Box<Config>),
}

/// Ends a connect when dropped: the task finished, or was dropped (its
/// runtime shut down), which must not leave the calls waiting for good.
struct Connecting<R>(Arc<Dialer<R>>);

impl<R> Drop for Connecting<R> {
    fn drop(&mut self) {
        let mut st = lock(&self.0.state);
        st.connecting = false;
        // Dropped unanswered, the senders wake their calls: they look again.
        st.waiters.clear();
    }
}

impl<R: Runtime> Dialer<R> {
    /// The open connection, or a new one. A connection that ended is
    /// asked why first: a GOAWAY `too_many_pings` doubles the keep-alive
    /// interval of the connections opened from then on.
    ///
    /// Only one connect runs at a time: calls that find no connection
    /// while one is being opened wait for it (within their deadlines,
    /// which bound the whole attempt) instead of each opening its own, as
    /// simultaneous first calls would. The connect runs as a task of its
    /// own, so it goes on whether or not the call that started it is
    /// still polled; it is bounded by that call's `deadline`. If it
    /// fails, the channel backs off (gRPC's connection backoff): until the
    /// backoff has passed, no call opens another connection. A fail-fast
    /// call fails UNAVAILABLE then, with how the last connect failed; a
    /// wait-for-ready call (`wait`, or the channel's default) sleeps until
    /// the next connect may start and tries again, until its deadline
    /// (which the caller enforces) or until it is dropped. A connect cut
    /// short by the deadline of the call that started it says nothing
    /// about the server: no backoff, and the waiting calls look again
    /// (the first opens the next connection).
    async fn get(
        self: &Arc<Self>,
        deadline: Option<Instant>,
        wait: Option<bool>,
    ) -> Result<SendRequest, Status> {
        let wait = wait.unwrap_or(self.wait_for_ready);
        loop {
            let step = {
                let mut st = lock(&self.state);
                if let Some(send) = st.redial.open() {
                    return Ok(send);
                }
                if st.connecting {
                    // Calls that gave up waiting (deadline, drop) leave
                    // their senders behind: drop those first, so a connect
                    // that hangs (up to the OS connect timeout) does not
                    // pile up one per call made meanwhile.
                    let (tx, rx) = oneshot::channel();
                    st.waiters.retain(|w| !w.is_canceled());
                    st.waiters.push(tx);
                    Step::Wait(rx)
                } else if let Some(at) = st.backoff.waiting(self.rt.now()) {
                    if !wait {
                        return Err(backing_off(
                            st.failure.as_ref(),
                            &self.addr,
                            at.saturating_duration_since(self.rt.now()),
                        ));
                    }
                    Step::Backoff(at)
                } else {
                    st.connecting = true;
                    let mut config = self.h2.clone();
                    if let Some(k) = st.redial.keepalive() {
                        tracing::debug!(interval = ?k.interval(), "gRPC channel: connecting");
                        config.keepalive_interval = Some(k.interval());
                        config.keepalive_timeout = k.timeout();
                        config.keepalive_while_idle = self.keepalive_without_calls;
                    }
                    Step::Connect(Box::new(config))
                }
            };
            let config = match step {
                Step::Wait(rx) => match rx.await {
                    Ok(Some(send)) => return Ok(send),
                    // That connect failed, or went away: look again.
                    _ => continue,
                },
                Step::Backoff(at) => {
                    self.rt.sleep_until(at).await;
                    continue;
                }
                Step::Connect(config) => *config,
            };
            let (done_tx, done_rx) = oneshot::channel();
            let connecting = Connecting(Arc::clone(self));
            self.rt.spawn(Box::pin(async move {
                let outcome = connecting.0.connect(config, deadline).await;
                let opened = outcome.as_ref().ok().cloned();
                let waiters = std::mem::take(&mut lock(&connecting.0.state).waiters);
                for w in waiters {
                    let _ = w.send(opened.clone());
                }
                let _ = done_tx.send(outcome);
                drop(connecting);
            }));
            let outcome = done_rx.await.unwrap_or_else(|_| {
                Err(Status::new(
                    Code::Unavailable,
                    format!("connecting to {}: the connect task ended", self.addr),
                ))
            });
            match outcome {
                // A wait-for-ready call waits out the backoff and tries
                // again (only then: a connect that failed without one,
                // its task dropped by a runtime shutting down, would
                // otherwise be retried in a tight loop).
                Err(_) if wait && self.backing_off() => continue,
                outcome => return outcome,
            }
        }
    }

    /// Opens a connection with `config` (by `deadline`, if any), its
    /// driver spawned: the channel's connection from now on.
    async fn connect(
        &self,
        config: Config,
        deadline: Option<Instant>,
    ) -> Result<SendRequest, Status> {
        let failed = |e: &dyn std::fmt::Display| {
            Status::new(
                Code::Unavailable,
                format!("connecting to {}: {e}", self.addr),
            )
        };
        // Bounded even for a call without a deadline: a server that takes
        // the TCP connection and never answers the TLS handshake (or a
        // black-holed SYN) must not hold the channel's calls for good. Not
        // shorter than the backoff, as the spec has it.
        let started = self.rt.now();
        let limit = lock(&self.state)
            .backoff
            .connect_deadline(started, self.connect_timeout);
        let until = deadline.map_or(limit, |d| d.min(limit));
        let opened = crate::timeout(&self.rt, until, self.open(config)).await;
        let mut st = lock(&self.state);
        match opened {
            Some(Ok(send)) => {
                st.backoff.on_success();
                st.failure = None;
                // A connection opened otherwise meanwhile (none should be:
                // one connect runs at a time) would be used instead, ours
                // dropped unused.
                Ok(st.redial.connected(send))
            }
            // Cut short by the caller's deadline, not the server's fault:
            // no backoff.
            None if until < limit => Err(failed(&"timed out (the call's deadline)")),
            opened => {
                let e = match opened {
                    Some(Err(e)) => e,
                    _ => std::io::ErrorKind::TimedOut.into(),
                };
                let status = failed(&e);
                let jitter = st.rng.f64() * 2.0 - 1.0;
                let at = st.backoff.on_failure(started, jitter);
                tracing::debug!(error = %e, retry_in = ?at.saturating_duration_since(started), "gRPC channel: connect failed");
                st.failure = Some(status.clone());
                Err(status)
            }
        }
    }

    /// An HTTP/2 connection to the server, over TLS when configured (the
    /// handshake done, HTTP/2 agreed by ALPN, as gRPC over TLS requires).
    async fn open(&self, config: Config) -> std::io::Result<SendRequest> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let (tls, name) = (tls.config.clone(), tls.name.clone());
            return crate::h2::connect_tls(&self.rt, self.addr, tls, name, config).await;
        }
        let io = self.rt.connect(self.addr).await?;
        Ok(crate::h2::start(&self.rt, io, config))
    }

    fn keepalive_interval(&self) -> Option<Duration> {
        lock(&self.state).redial.keepalive().map(|k| k.interval())
    }

    /// Whether the channel is waiting out its backoff.
    fn backing_off(&self) -> bool {
        lock(&self.state).backoff.waiting(self.rt.now()).is_some()
    }

    fn state(&self) -> ConnectivityState {
        let mut st = lock(&self.state);
        let open = st.redial.open().is_some();
        st.backoff.state(self.rt.now(), open, st.connecting)
    }

    fn connections(&self) -> u64 {
        lock(&self.state).redial.connections()
    }
}

/// Builds a [`Channel`] that opens its own HTTP/2 connections (h2c with
/// prior knowledge) to one address, and opens a new one when the last
/// one ended. The channel's settings — authority, keep-alive pings, retry
/// policy — are a [`ChannelConfig`], the same on every runtime; this adds
/// the runtime, the address and the HTTP/2 settings — or, with
/// [`grpc_web`](Self::grpc_web), gRPC-Web over HTTP/1.1 instead of h2.
///
/// ```no_run
/// # async fn run<R: wirestate_rt::Runtime>(runtime: R) -> Result<(), wirestate_rt::grpc::Status> {
/// use std::time::Duration;
/// use wirestate_rt::grpc::{Channel, ChannelConfig, Code, RetryPolicy};
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
///     .config(
///         ChannelConfig::new()
///             .keepalive(Duration::from_secs(30))
///             .retry_policy(policy),
///     )
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
    h2: Config,
    config: ChannelConfig,
    web: Option<WebMode>,
    connect_timeout: Duration,
    backoff: BackoffConfig,
    wait_for_ready: bool,
    #[cfg(feature = "tls")]
    tls: Option<Tls>,
}

impl<R: Runtime> ChannelBuilder<R> {
    pub(crate) fn new(rt: R, addr: SocketAddr) -> Self {
        Self {
            rt,
            addr,
            h2: Config::default(),
            config: ChannelConfig::new(),
            web: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
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
    /// allowed the longer of [`connect_timeout`](Self::connect_timeout)
    /// (the spec's MIN_CONNECT_TIMEOUT) and the current backoff.
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

    /// The most one connect may take, the TLS handshake included (default
    /// 10 s, as the HTTP/1.1 client's and the blocking channel's; longer
    /// once the [`connect_backoff`](Self::connect_backoff) is): calls
    /// waiting for it fail UNAVAILABLE then, or at their own deadline if
    /// that comes first.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// gRPC over TLS (feature `tls`): every connection the channel opens
    /// runs the TLS handshake with `config` and checks the server's
    /// certificate against `server_name`; a server that does not agree to
    /// ALPN `h2` is UNAVAILABLE. The handshake is part of the connect,
    /// bounded as it is by [`connect_timeout`](Self::connect_timeout) and
    /// the deadline of the call that dials. `config` must offer `h2`:
    ///
    /// ```no_run
    /// # async fn run<R: wirestate_rt::Runtime>(runtime: R) -> Result<(), wirestate_rt::grpc::Status> {
    /// use wirestate_rt::{grpc::Channel, tls};
    /// let config = tls::client_config(tls::webpki_roots(), &[tls::ALPN_H2]);
    /// let name = tls::server_name("grpc.example.com").unwrap();
    /// let channel = Channel::builder(runtime, "192.0.2.7:443".parse().unwrap())
    ///     .tls(config, name)
    ///     .connect()
    ///     .await?;
    /// # let _ = channel; Ok(())
    /// # }
    /// ```
    ///
    /// With [`grpc_web`](Self::grpc_web), gRPC-Web goes over TLS the same
    /// way, the certificate checked against `server_name` and the ALPN
    /// offer replaced by `http/1.1`; building the channel with
    /// [`connect`](Self::connect) runs one handshake.
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
    /// `application/grpc-web-text` in [`WebMode::Text`]) over the
    /// runtime's pooled HTTP/1.1 client instead of gRPC over h2: to a
    /// gRPC-Web server or proxy (tonic-web, Envoy, grpcwebproxy, ours),
    /// with the same calls and typed stubs. Unary and server-streaming
    /// calls work as over h2 — deadlines (`grpc-timeout` and the local
    /// timer), metadata, compression, retries, cancellation when a call is
    /// dropped (its connection is closed: HTTP/1.1 cannot cancel one
    /// request); client- and bidi-streaming calls fail at once with
    /// UNIMPLEMENTED, as gRPC-Web sends a request whole. Keep-alive pings
    /// and the HTTP/2 settings do not apply; `tls` (feature `tls`) and
    /// [`connect_timeout`](Self::connect_timeout) do.
    ///
    /// ```no_run
    /// # async fn run<R: wirestate_rt::Runtime>(runtime: R) -> Result<(), wirestate_rt::grpc::Status> {
    /// use wirestate_rt::grpc::{CallOptions, Channel, WebMode};
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Ping { #[prost(string, tag = "1")] text: String }
    ///
    /// let channel = Channel::builder(runtime, "127.0.0.1:8080".parse().unwrap())
    ///     .grpc_web(WebMode::Text)
    ///     .connect()
    ///     .await?;
    /// let pong = channel
    ///     .unary::<_, Ping>("/demo.Pinger/Ping", &Ping { text: "hi".into() }, &CallOptions::default())
    ///     .await?;
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

    /// The HTTP/2 settings of the connections (windows, limits). Its
    /// keep-alive fields are overridden by [`ChannelConfig::keepalive`].
    pub fn h2_config(mut self, config: Config) -> Self {
        self.h2 = config;
        self
    }

    fn build(self) -> Result<Channel<R>, Status> {
        let ValidChannelConfig {
            authority,
            keepalive,
            keepalive_without_calls,
            retry,
            ..
        } = self.config.validate(&self.addr.to_string())?;
        let transport = match self.web {
            Some(mode) => Transport::Web(Arc::new(WebTransport::new(
                self.rt.clone(),
                self.addr,
                mode,
                self.connect_timeout,
                #[cfg(feature = "tls")]
                self.tls.clone().map(|tls| WebTls {
                    config: crate::tls::with_alpn(&tls.config, &[crate::tls::ALPN_HTTP1]),
                    name: tls.name,
                }),
            )?)),
            None => Transport::Dialed(Arc::new(Dialer {
                rt: self.rt.clone(),
                addr: self.addr,
                h2: self.h2,
                keepalive_without_calls,
                state: Mutex::new(DialState {
                    redial: Redial::new(keepalive),
                    connecting: false,
                    waiters: Vec::new(),
                    backoff: ConnectBackoff::new(self.backoff),
                    failure: None,
                    rng: fastrand::Rng::new(),
                }),
                connect_timeout: self.connect_timeout,
                wait_for_ready: self.wait_for_ready,
                #[cfg(feature = "tls")]
                tls: self.tls,
            })),
        };
        Ok(Channel::from_parts(
            self.rt,
            transport,
            authority,
            retrier(retry),
        ))
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
        channel.transport().ready().await?;
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
