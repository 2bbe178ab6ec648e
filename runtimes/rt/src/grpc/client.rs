//! The gRPC client: calls on one HTTP/2 connection (or gRPC-Web ones
//! over HTTP/1.1, `web.rs`).

use super::connect::{ChannelBuilder, Outgoing, SharedRetrier, Transport, lock, retrier};
use super::server::Response;
use super::streaming::{Side, Streaming, at_deadline, frame_message, read_one};
use crate::body::Cancelled;
use crate::h2::SendRequest;
use crate::{Body, BodyWriter, Error, Runtime};
use bytes::Bytes;
use futures_channel::oneshot;
use http::HeaderMap;
use http::uri::Authority;
use std::future::Future;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};
use wirestate_grpc::backoff::ConnectivityState;
use wirestate_grpc::call::web_streaming_unsupported;
use wirestate_grpc::hedging::{HedgeVerdict, Hedging, HedgingPolicy};
use wirestate_grpc::retry::{CallPolicy, ReplayBuffer, RetryConfig, RetryDecision, RetryState};
use wirestate_grpc::{
    Code, Encoding, Metadata, ResponseHead, ResponseStart, Status, deadline_after,
};

/// Per-call settings: the same for every runtime, from `wirestate-grpc`.
pub use wirestate_grpc::CallOptions;

/// A gRPC client over one HTTP/2 connection: cheap to clone, calls run
/// concurrently as streams of the connection.
///
/// Dropping a call (its future, its [`Streaming`] or its
/// [`StreamingCall`]) before it ended resets its stream with CANCEL, which
/// the server sees as a cancellation.
///
/// A channel from [`Channel::new`] uses the one connection it is given; one
/// from [`Channel::builder`] opens its own, again whenever the last one
/// ended, with keep-alive pings that back off when the server asks. Both
/// retry failed calls by a retry policy when given one
/// ([`with_retry`](Channel::with_retry), [`ChannelConfig::retry_policy`]).
///
/// [`ChannelConfig::retry_policy`]: wirestate_grpc::ChannelConfig::retry_policy
#[derive(Clone)]
pub struct Channel<R> {
    rt: R,
    transport: Transport<R>,
    authority: Authority,
    retry: SharedRetrier,
}

impl<R> std::fmt::Debug for Channel<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("grpc::Channel")
            .field("authority", &self.authority)
            .finish()
    }
}

pub(super) fn unavailable(e: &Error) -> Status {
    match e {
        Error::Reset(code) => Status::from_h2_error_code(u32::from(*code)),
        // The server answered, with more metadata than we take (grpc-go:
        // "peer header list size exceeded limit", INTERNAL).
        Error::HeadersTooLarge => Status::new(Code::Internal, e.to_string()),
        e => Status::new(Code::Unavailable, e.to_string()),
    }
}

fn deadline_exceeded() -> Status {
    Status::new(Code::DeadlineExceeded, "deadline exceeded")
}

/// What `send` says once the call ended (its status is the responses').
fn call_ended() -> Status {
    Status::new(Code::Unavailable, "the call ended")
}

/// An attempt whose task went away without a word (the call was dropped).
fn dropped<Resp>() -> Attempt<Resp> {
    Attempt::Failed {
        status: Status::new(Code::Cancelled, "call dropped"),
        unsent: false,
    }
}

/// How one attempt of a call started.
// Returned once per attempt and taken apart at once: boxing the stream
// would cost an allocation per call for nothing.
#[allow(clippy::large_enum_variant)]
enum Attempt<Resp> {
    /// Response headers came: the call is committed.
    Head(Metadata, Streaming<Resp>),
    /// A trailers-only response: the status, and the headers (where the
    /// server's retry pushback is).
    TrailersOnly(Status, http::HeaderMap),
    /// No response: the connection failed, reset the stream or refused it
    /// (`unsent`: the server never processed it).
    Failed { status: Status, unsent: bool },
}

/// The request messages of an attempt.
enum Payload {
    /// The one request of a unary or server-streaming call, framed.
    Framed(Bytes),
    /// A stream of requests the caller writes.
    Stream(Body),
}

impl<R: Runtime> Channel<R> {
    /// A channel on an HTTP/2 connection ([`h2::handshake`](crate::h2::handshake)),
    /// sending `authority` (`host:port`) as `:authority`.
    ///
    /// # Errors
    ///
    /// INVALID_ARGUMENT if `authority` is not one.
    pub fn new(rt: R, send: SendRequest, authority: &str) -> Result<Self, Status> {
        Ok(Self::from_parts(
            rt,
            Transport::Fixed(send),
            wirestate_grpc::channel::parse_authority(authority)?,
            retrier(RetryConfig::new()),
        ))
    }

    /// The runtime the channel runs on (its clock measures call deadlines).
    pub fn runtime(&self) -> &R {
        &self.rt
    }

    /// A channel that opens its own connections to `addr` (h2c with prior
    /// knowledge), configured by the returned [`ChannelBuilder`]: keep-alive
    /// pings, a retry policy, the authority, the HTTP/2 settings.
    pub fn builder(rt: R, addr: SocketAddr) -> ChannelBuilder<R> {
        ChannelBuilder::new(rt, addr)
    }

    /// [`Channel::builder`] for `target`, `host:port` (a name, an IP
    /// literal or `[v6]:port`), as the blocking `Channel::builder(&str)`
    /// takes it: the host resolved on `rt` (the first address is dialed;
    /// reconnects use it again) and `target` sent as `:authority`
    /// (replaced by a later [`ChannelBuilder::config`] naming another).
    ///
    /// ```no_run
    /// # async fn run<R: wirestate_rt::Runtime>(runtime: R) -> Result<(), wirestate_rt::grpc::Status> {
    /// use wirestate_rt::grpc::Channel;
    /// let channel = Channel::builder_for(runtime, "localhost:50051").await?.connect().await?;
    /// # let _ = channel;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// INVALID_ARGUMENT if `target` is not `host:port`; UNAVAILABLE if
    /// the name does not resolve.
    pub async fn builder_for(rt: R, target: &str) -> Result<ChannelBuilder<R>, Status> {
        let authority = wirestate_grpc::channel::parse_authority(target)?;
        let port = authority.port_u16().ok_or_else(|| {
            Status::new(
                Code::InvalidArgument,
                format!("{target}: want host:port (no port)"),
            )
        })?;
        let host = authority.host();
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let unavailable = |e: &dyn std::fmt::Display| {
            Status::new(Code::Unavailable, format!("resolving {target}: {e}"))
        };
        let addr = rt
            .resolve(bare, port)
            .await
            .map_err(|e| unavailable(&e))?
            .into_iter()
            .next()
            .ok_or_else(|| unavailable(&"no address"))?;
        Ok(ChannelBuilder::new(rt, addr)
            .config(wirestate_grpc::ChannelConfig::new().authority(target)))
    }

    pub(crate) fn from_parts(
        rt: R,
        transport: Transport<R>,
        authority: Authority,
        retry: SharedRetrier,
    ) -> Self {
        Self {
            rt,
            transport,
            authority,
            retry,
        }
    }

    pub(crate) fn transport(&self) -> &Transport<R> {
        &self.transport
    }

    /// The channel retrying its calls by the gRPC retry policy (gRFC A6): a [`RetryPolicy`] for every method, or
    /// a [`RetryConfig`] with per-service and per-method policies (leave
    /// out methods that are not safe to run twice) and a throttle.
    ///
    /// An attempt that fails with one of the policy's retryable codes is
    /// tried again after a random delay below the backoff
    /// (`initialBackoff * backoffMultiplier^(n-1)`, at most `maxBackoff`),
    /// or after exactly the server's `grpc-retry-pushback-ms` (a negative
    /// one stops retries), up to `maxAttempts` attempts (at most 5) and
    /// never past the deadline; each retry carries
    /// `grpc-previous-rpc-attempts`. A call is committed, and no longer
    /// retried, once response headers arrive — a failure after the first
    /// message of a server stream is the caller's to see — or when its
    /// request is larger than the retry buffer (256 KiB per call, 16 MiB
    /// for all the calls of the channel: `ChannelConfig::retry_buffer_size`
    /// and `channel_retry_buffer_size`). Client- and bidi-streaming calls
    /// keep the messages they sent until committed and send them again on
    /// a retry's new stream before going on live. The clones of a channel
    /// share its throttle and its retry buffer.
    ///
    /// A method can be hedged instead ([`HedgingPolicy`], set with
    /// `RetryConfig::with_default_hedging`, `with_service_hedging` or
    /// `with_method_hedging`; a method has a retry or a hedging policy):
    /// a unary or server-streaming call starts another attempt every
    /// `hedgingDelay` while none has answered, up to `maxAttempts` (at
    /// most 5), at once after a failure with one of the policy's
    /// non-fatal codes, after a server pushback's delay (a negative one
    /// stops hedging). The first attempt with response headers, OK or a
    /// fatal code is the call's; the others are dropped, which resets their streams (CANCEL). Hedges after
    /// the first need the throttle's leave. Client- and bidi-streaming
    /// calls are hedged too: every attempt is sent the messages kept so
    /// far, then the live ones, until one commits the call (past the
    /// retry buffer, no more hedges start).
    ///
    /// ```no_run
    /// # async fn run<R: wirestate_rt::Runtime>(channel: wirestate_rt::grpc::Channel<R>) {
    /// use std::time::Duration;
    /// use wirestate_rt::grpc::{Code, RetryConfig, RetryPolicy, RetryThrottle};
    ///
    /// let policy = RetryPolicy::new(
    ///     3, Duration::from_millis(50), Duration::from_secs(1), 2.0, [Code::Unavailable],
    /// ).unwrap();
    /// let channel = channel.with_retry(
    ///     RetryConfig::new()
    ///         .with_service("demo.Pinger", policy)
    ///         .without_method("/demo.Pinger/Charge")
    ///         .with_throttle(RetryThrottle::new(10, 0.1).unwrap()),
    /// );
    /// # let _ = channel;
    /// # }
    /// ```
    ///
    /// [`RetryPolicy`]: wirestate_grpc::retry::RetryPolicy
    /// [`HedgingPolicy`]: wirestate_grpc::hedging::HedgingPolicy
    pub fn with_retry(mut self, config: impl Into<RetryConfig>) -> Self {
        self.retry = retrier(config.into());
        self
    }

    /// The keep-alive interval the channel's next connection will use (a
    /// [`Channel::builder`] channel with
    /// [`ChannelConfig::keepalive`](wirestate_grpc::ChannelConfig::keepalive)):
    /// the configured one, doubled each time a server answered GOAWAY
    /// `too_many_pings`.
    pub fn keepalive_interval(&self) -> Option<Duration> {
        self.transport.keepalive_interval()
    }

    /// The channel's connectivity state, as gRPC names them: a
    /// [`Channel::builder`] channel is IDLE until a call (or
    /// [`ChannelBuilder::connect`]) opens a connection, CONNECTING while it
    /// does, READY with a connection open, and TRANSIENT_FAILURE while it
    /// backs off after a failed connect
    /// ([`ChannelBuilder::connect_backoff`]). A [`Channel::new`] channel is
    /// READY until its connection ends (then SHUTDOWN); a gRPC-Web channel,
    /// whose HTTP/1.1 client dials per call, is IDLE.
    pub fn state(&self) -> ConnectivityState {
        self.transport.state()
    }

    /// How many connections a [`Channel::builder`] channel opened so far
    /// (1 for a [`Channel::new`] channel, 0 for a gRPC-Web one, whose
    /// HTTP/1.1 client pools its connections).
    pub fn connections(&self) -> u64 {
        self.transport.connections()
    }

    fn deadline(&self, opts: &CallOptions) -> Option<Instant> {
        opts.timeout.and_then(|t| deadline_after(self.rt.now(), t))
    }

    /// Starts an attempt of a streaming call on a spawned task, so that
    /// the request head goes out at once: sends the head (saying how many
    /// attempts came `before`) and `body`, and hands over how the response
    /// started. The attempt stops (dropping its request, which resets the
    /// stream) if the receiver is dropped first.
    fn spawn_attempt<Resp: prost::Message + Default + 'static>(
        &self,
        path: &str,
        body: Body,
        opts: &CallOptions,
        deadline: Option<Instant>,
        before: u32,
    ) -> oneshot::Receiver<Attempt<Resp>> {
        let channel = self.clone();
        let path = path.to_owned();
        let opts = opts.clone();
        let (mut tx, rx) = oneshot::channel();
        self.rt.spawn(Box::pin(async move {
            let payload = Payload::Stream(body);
            let mut start =
                std::pin::pin!(channel.attempt::<Resp>(&path, payload, &opts, deadline, before));
            let started = std::future::poll_fn(|cx| {
                if let Poll::Ready(r) = start.as_mut().poll(cx) {
                    return Poll::Ready(Some(r));
                }
                match tx.poll_canceled(cx) {
                    Poll::Ready(()) => Poll::Ready(None),
                    Poll::Pending => Poll::Pending,
                }
            })
            .await;
            if let Some(started) = started {
                let _ = tx.send(started);
            }
        }));
        rx
    }

    /// One attempt of a call: sends the request head (saying how many
    /// attempts came `before`) and `payload`, and waits for the response head.
    async fn attempt<Resp: prost::Message + Default>(
        &self,
        path: &str,
        payload: Payload,
        opts: &CallOptions,
        deadline: Option<Instant>,
        before: u32,
    ) -> Attempt<Resp> {
        let failed = |status| Attempt::Failed {
            status,
            unsent: false,
        };
        // A deadline that has already passed fails the call before anything
        // is sent: a fast answer could otherwise beat the timer, and a call
        // with a zero timeout came back OK.
        if deadline.is_some_and(|d| self.rt.now() >= d) {
            return failed(deadline_exceeded());
        }
        let left = deadline.map(|d| d.saturating_duration_since(self.rt.now()));
        let web = self.transport.web_mode();
        let outgoing = match (web, payload) {
            (Some(mode), Payload::Framed(framed)) => opts
                .web_request(mode, path, &self.authority, left, before, framed)
                .map(|(parts, body)| Outgoing::Web(parts, body)),
            (Some(_), Payload::Stream(_)) => Err(web_streaming_unsupported()),
            (None, payload) => {
                opts.request_parts(path, &self.authority, left, before)
                    .map(|parts| {
                        let body = match payload {
                            Payload::Framed(framed) => Body::full(framed),
                            Payload::Stream(body) => body,
                        };
                        Outgoing::H2(http::Request::from_parts(parts, body))
                    })
            }
        };
        let outgoing = match outgoing {
            Ok(o) => o,
            Err(status) => return failed(status),
        };
        let send = self.transport.send(outgoing, deadline, opts.wait_for_ready);
        let response = match deadline {
            Some(d) => crate::timeout(&self.rt, d, send)
                .await
                .unwrap_or_else(|| Err((deadline_exceeded(), false))),
            None => send.await,
        };
        let response = match response {
            Ok(r) => r,
            Err((status, unsent)) => return Attempt::Failed { status, unsent },
        };
        let (parts, body) = response.into_parts();
        match ResponseHead::from_response(&parts) {
            ResponseStart::End(status) => {
                let passed = deadline.is_some_and(|d| self.rt.now() >= d);
                Attempt::TrailersOnly(at_deadline(status, passed), parts.headers)
            }
            ResponseStart::Head(h) => {
                let web = web.map(|_| h.web_mode());
                let mut stream =
                    Streaming::new(body, web, h.encoding, opts.max_message_size, Side::Client);
                if let Some(d) = deadline {
                    let rt = self.rt.clone();
                    stream.set_deadline(self.rt.sleep_until(d), d, Arc::new(move || rt.now()));
                }
                Attempt::Head(h.metadata, stream)
            }
        }
    }

    /// A call whose request is `framed` (unary or server-streaming), tried
    /// again by the channel's retry policy until it is committed: the
    /// response head, or the status it failed with.
    async fn call_with_retries<Resp: prost::Message + Default>(
        &self,
        path: &str,
        framed: Bytes,
        opts: &CallOptions,
        deadline: Option<Instant>,
        state: &mut RetryState,
    ) -> Result<(Metadata, Streaming<Resp>), Status> {
        // The whole request is held for replay: past the retry buffer
        // the call is committed from the start.
        state.on_buffered(framed.len());
        loop {
            let attempt = self
                .attempt::<Resp>(
                    path,
                    Payload::Framed(framed.clone()),
                    opts,
                    deadline,
                    state.previous_attempts(),
                )
                .await;
            let (status, trailers) = match attempt {
                Attempt::Head(metadata, stream) => {
                    state.on_headers();
                    return Ok((metadata, stream));
                }
                Attempt::TrailersOnly(status, headers) => (status, Some(headers)),
                Attempt::Failed { status, unsent } => {
                    if unsent && self.transport.can_resend() && state.on_unprocessed() {
                        continue;
                    }
                    (status, None)
                }
            };
            // The lock is not held across the backoff's sleep.
            let decision = lock(&self.retry).decide(state, &status, trailers.as_ref());
            match decision {
                RetryDecision::Retry(delay) => {
                    let at = self.rt.now() + delay;
                    // No attempt that could only start after the deadline.
                    if deadline.is_some_and(|d| at >= d) {
                        return Err(status);
                    }
                    self.rt.sleep_until(at).await;
                }
                RetryDecision::Stop(_) => {
                    return match trailers {
                        Some(headers) => {
                            Ok((Metadata::new(), Streaming::finished(status, headers)))
                        }
                        None => Err(status),
                    };
                }
            }
        }
    }

    /// A call whose request is `framed` (unary or server-streaming) under
    /// its method's policy: hedged, or retried (only transparently
    /// without a policy). Returns the call's state as well, to tell the
    /// throttle how the committed call ends.
    async fn call_with_policy<Resp: prost::Message + Default>(
        &self,
        path: &str,
        framed: Bytes,
        opts: &CallOptions,
        deadline: Option<Instant>,
    ) -> Result<(Metadata, Streaming<Resp>, CallPolicy), Status> {
        let (mut state, hedging) = lock(&self.retry).begin(path, opts.retries);
        match hedging {
            Some(policy) => {
                let (result, hedge) = self.call_hedged(path, framed, opts, deadline, policy).await;
                result.map(|(m, s)| (m, s, CallPolicy::Hedged(hedge)))
            }
            None => self
                .call_with_retries(path, framed, opts, deadline, &mut state)
                .await
                .map(|(m, s)| (m, s, CallPolicy::Retried(state))),
        }
    }

    /// A call whose request is `framed` (unary or server-streaming),
    /// hedged by `policy` (gRFC A6): attempts start every `hedgingDelay`
    /// (at once after a non-fatal failure, after a pushback's delay) and
    /// run side by side in this future; the first with response headers,
    /// OK or a fatal status is the call, and dropping the others resets
    /// their streams (CANCEL). Returns the call's state too, for the
    /// throttle to count how a committed call ends.
    async fn call_hedged<Resp: prost::Message + Default>(
        &self,
        path: &str,
        framed: Bytes,
        opts: &CallOptions,
        deadline: Option<Instant>,
        policy: HedgingPolicy,
    ) -> (Result<(Metadata, Streaming<Resp>), Status>, Hedging) {
        type Running<'a, Resp> = Vec<(
            u32,
            Pin<Box<dyn Future<Output = Attempt<Resp>> + Send + 'a>>,
        )>;
        let mut hedge =
            Hedging::new(policy, self.rt.now(), deadline).with_transparent_retries(opts.retries);
        // A request past the retry buffer cannot be kept for other
        // attempts: only the first goes.
        if framed.len() > lock(&self.retry).config().buffer_size() {
            hedge.stop();
        }
        let start = |n: u32| -> Pin<Box<dyn Future<Output = Attempt<Resp>> + Send + '_>> {
            Box::pin(self.attempt::<Resp>(path, Payload::Framed(framed.clone()), opts, deadline, n))
        };
        let mut running: Running<'_, Resp> = Vec::new();
        let mut last: Option<(Status, Option<HeaderMap>)> = None;
        loop {
            {
                let retry = lock(&self.retry);
                let now = self.rt.now();
                while let Some(n) = hedge.poll_start(now, retry.throttle()) {
                    running.push((n, start(n)));
                }
            }
            if hedge.is_exhausted() {
                let result = match last {
                    Some((status, Some(headers))) => {
                        Ok((Metadata::new(), Streaming::finished(status, headers)))
                    }
                    Some((status, None)) => Err(status),
                    // No attempt could start: the deadline had passed.
                    None => Err(deadline_exceeded()),
                };
                return (result, hedge);
            }
            let mut timer = hedge.poll_timeout().map(|at| self.rt.sleep_until(at));
            let answered = std::future::poll_fn(|cx| {
                for i in 0..running.len() {
                    if let Poll::Ready(attempt) = running[i].1.as_mut().poll(cx) {
                        let (n, _) = running.swap_remove(i);
                        return Poll::Ready(Some((n, attempt)));
                    }
                }
                match timer.as_mut().map(|t| t.as_mut().poll(cx)) {
                    Some(Poll::Ready(())) => Poll::Ready(None),
                    _ => Poll::Pending,
                }
            })
            .await;
            // The timer: the next hedge is due.
            let Some((n, attempt)) = answered else {
                continue;
            };
            let now = self.rt.now();
            let (status, headers) = match attempt {
                Attempt::Head(metadata, stream) => {
                    if hedge.on_headers(n) {
                        // The losers' futures drop here: their streams
                        // are reset.
                        drop(running);
                        return (Ok((metadata, stream)), hedge);
                    }
                    // Cannot happen (the first headers return), but a
                    // loser is dropped, which cancels it.
                    continue;
                }
                Attempt::TrailersOnly(status, headers) => (status, Some(headers)),
                Attempt::Failed { status, unsent } => {
                    if unsent && self.transport.can_resend() && hedge.on_unprocessed(n) {
                        running.push((n, start(n)));
                        continue;
                    }
                    (status, None)
                }
            };
            let verdict = {
                let mut retry = lock(&self.retry);
                hedge.on_status(now, n, &status, headers.as_ref(), retry.throttle_mut())
            };
            if verdict == HedgeVerdict::Commit {
                drop(running);
                let result = match headers {
                    Some(headers) => Ok((Metadata::new(), Streaming::finished(status, headers))),
                    None => Err(status),
                };
                return (result, hedge);
            }
            last = Some((status, headers));
        }
    }

    /// A unary call.
    ///
    /// # Errors
    ///
    /// The status the server ended the call with; DEADLINE_EXCEEDED past
    /// the deadline; UNAVAILABLE when the connection failed.
    pub async fn unary<Req: prost::Message, Resp: prost::Message + Default>(
        &self,
        path: &str,
        request: &Req,
        opts: &CallOptions,
    ) -> Result<Response<Resp>, Status> {
        let deadline = self.deadline(opts);
        let framed = frame_message(request, opts.compression, true)?;
        let (metadata, mut stream, mut policy) = self
            .call_with_policy::<Resp>(path, framed, opts, deadline)
            .await?;
        let result = read_one(&mut stream).await;
        // The committed call's outcome still counts for the throttle.
        let status = result.as_ref().err().cloned().unwrap_or_else(Status::ok);
        policy.on_end(&mut lock(&self.retry), &status);
        let message = result?;
        let trailers = stream.trailers().map(Metadata::from_headers);
        Ok(Response {
            metadata,
            message,
            trailers: trailers.unwrap_or_default(),
        })
    }

    /// A server-streaming call: the response's initial metadata and its
    /// message stream.
    ///
    /// # Errors
    ///
    /// As [`unary`](Channel::unary), for the start of the call; later
    /// errors come out of the stream.
    pub async fn server_streaming<Req: prost::Message, Resp: prost::Message + Default>(
        &self,
        path: &str,
        request: &Req,
        opts: &CallOptions,
    ) -> Result<(Metadata, Streaming<Resp>), Status> {
        let deadline = self.deadline(opts);
        let framed = frame_message(request, opts.compression, true)?;
        let (metadata, mut stream, mut policy) =
            self.call_with_policy(path, framed, opts, deadline).await?;
        // The committed call's outcome still counts for the throttle,
        // once its stream ends.
        let retry = self.retry.clone();
        stream.on_end(Box::new(move |status| {
            policy.on_end(&mut lock(&retry), status);
        }));
        Ok((metadata, stream))
    }

    /// A client- or bidi-streaming call: send messages with
    /// [`StreamingCall::send`], end with [`StreamingCall::close_send`], and
    /// read responses with [`StreamingCall::message`]. The request head
    /// goes out at once; the response head is awaited on the first read.
    /// On a gRPC-Web channel the call fails at once with UNIMPLEMENTED
    /// (what `send`, `metadata` and `message` return).
    ///
    /// Under a retry policy (see [`with_retry`](Channel::with_retry)) the
    /// call keeps the messages it sent until it is committed — response
    /// headers arrived, or the messages outgrew the call's or the
    /// channel's retry buffer — and an attempt that fails before then
    /// with a retryable code is tried again: the kept messages are sent
    /// on a new stream, then the call goes on live.
    pub fn streaming<Req: prost::Message, Resp: prost::Message + Default + 'static>(
        &self,
        path: &str,
        opts: &CallOptions,
    ) -> StreamingCall<R, Req, Resp> {
        let deadline = self.deadline(opts);
        let mut call = StreamingCall {
            rt: self.rt.clone(),
            writer: None,
            starting: None,
            started: None,
            failed: None,
            compression: opts.compression,
            compress: true,
            deadline,
            retry: None,
            hedge: None,
            requests_closed: Arc::new(AtomicBool::new(false)),
            types: PhantomData,
        };
        if self.transport.web_mode().is_some() {
            call.failed = Some(web_streaming_unsupported());
            return call;
        }
        let (state, hedging) = lock(&self.retry).begin(path, opts.retries);
        if let Some(policy) = hedging {
            let hedging = Hedging::new(policy, self.rt.now(), deadline)
                .with_transparent_retries(opts.retries);
            call.hedge = Some(Box::new(StreamHedge {
                channel: self.clone(),
                path: path.to_owned(),
                opts: opts.clone(),
                hedging,
                state,
                replay: ReplayBuffer::new(),
                attempts: Vec::new(),
                last: None,
            }));
            call.start_hedges();
            return call;
        }
        // Without a policy nothing is kept: such calls pay nothing for
        // retries.
        if state.has_policy() {
            call.retry = Some(Box::new(StreamRetry {
                channel: self.clone(),
                path: path.to_owned(),
                opts: opts.clone(),
                state,
                replay: ReplayBuffer::new(),
                reported: false,
            }));
        }
        let (writer, live) = Body::writer(8);
        call.writer = Some(writer);
        let body = Body::from_stream(Replayed {
            kept: Vec::new().into_iter(),
            live: Some(live),
            closed: call.requests_closed.clone(),
        });
        call.starting = Some(self.spawn_attempt(path, body, opts, deadline, 0));
        call
    }

    /// A client-streaming call (see [`streaming`](Channel::streaming));
    /// [`ClientStreamingCall::finish`] ends the requests and reads the one
    /// response.
    pub fn client_streaming<Req: prost::Message, Resp: prost::Message + Default + 'static>(
        &self,
        path: &str,
        opts: &CallOptions,
    ) -> ClientStreamingCall<R, Req, Resp> {
        ClientStreamingCall {
            call: self.streaming(path, opts),
        }
    }
}

/// The retry side of a streaming call under a retry policy: what it sent
/// while not committed, and what a new attempt needs.
struct StreamRetry<R> {
    channel: Channel<R>,
    path: String,
    opts: CallOptions,
    state: RetryState,
    replay: ReplayBuffer,
    /// Whether the call's outcome was told to the retrier (its throttle).
    reported: bool,
}

/// The hedging side of a streaming call under a hedging policy: its
/// running attempts, and what it sent while not committed (every hedge
/// starts by sending it).
struct StreamHedge<R, Resp> {
    channel: Channel<R>,
    path: String,
    opts: CallOptions,
    hedging: Hedging,
    /// Counts the kept bytes against the retry buffers (no policy).
    state: RetryState,
    replay: ReplayBuffer,
    attempts: Vec<HedgeAttempt<Resp>>,
    /// The last non-fatal failure: the call's if no attempt does better.
    last: Option<(Status, Option<HeaderMap>)>,
}

/// One running attempt of a hedged streaming call.
struct HedgeAttempt<Resp> {
    n: u32,
    /// Its live requests (`None` once they were closed or it ended).
    writer: Option<BodyWriter>,
    starting: oneshot::Receiver<Attempt<Resp>>,
}

impl<R: Runtime, Resp: prost::Message + Default + 'static> StreamHedge<R, Resp> {
    /// Starts attempt `n` (again, if the server never processed it): the
    /// kept messages, then the live ones unless the requests were closed.
    fn start_attempt(&mut self, n: u32, deadline: Option<Instant>, closed: &Arc<AtomicBool>) {
        let (writer, live) = if self.replay.is_closed() {
            (None, None)
        } else {
            let (writer, live) = Body::writer(8);
            (Some(writer), Some(live))
        };
        let body = Body::from_stream(Replayed {
            kept: self.replay.messages().to_vec().into_iter(),
            live,
            closed: closed.clone(),
        });
        let starting = self
            .channel
            .spawn_attempt(&self.path, body, &self.opts, deadline, n);
        self.attempts.push(HedgeAttempt {
            n,
            writer,
            starting,
        });
    }
}

/// The request body of a streaming call's attempt: the kept messages (a
/// retry's), then what the caller sends live (none once it closed its
/// requests).
struct Replayed {
    kept: std::vec::IntoIter<Bytes>,
    live: Option<Body>,
    /// Whether the caller closed its requests ([`StreamingCall::close_send`]).
    /// A live writer dropped without that (the call dropped, or a retry
    /// replacing the attempt) fails the body as [`Cancelled`], which
    /// resets the stream with CANCEL:
    /// ending it cleanly would pass the requests sent so far off as all
    /// of them.
    closed: Arc<AtomicBool>,
}

impl futures_core::Stream for Replayed {
    type Item = std::io::Result<Bytes>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Self::Item>> {
        if let Some(message) = self.kept.next() {
            return Poll::Ready(Some(Ok(message)));
        }
        match &mut self.live {
            Some(live) => match live.poll_chunk(cx) {
                // The call was dropped (or a retry replaced the attempt)
                // before it closed its requests: cancelled.
                Poll::Ready(None) if !self.closed.load(Ordering::Acquire) => {
                    Poll::Ready(Some(Err(Cancelled::error())))
                }
                other => other,
            },
            None => Poll::Ready(None),
        }
    }
}

/// What became of an attempt's start.
enum Settled {
    /// Response headers: the call is committed and runs live.
    Live,
    /// The attempt failed and a new one started.
    Retried,
    /// The call ended (a status, or trailers-only).
    Ended,
}

/// A bidi- (or client-) streaming call in progress. Dropping it before the
/// end cancels the call.
pub struct StreamingCall<R, Req, Resp> {
    rt: R,
    writer: Option<BodyWriter>,
    starting: Option<oneshot::Receiver<Attempt<Resp>>>,
    started: Option<(Metadata, Streaming<Resp>)>,
    failed: Option<Status>,
    compression: Encoding,
    /// Whether the next messages are compressed with `compression`.
    compress: bool,
    deadline: Option<Instant>,
    /// `Some` under a retry policy.
    retry: Option<Box<StreamRetry<R>>>,
    /// `Some` under a hedging policy, until an attempt commits the call.
    hedge: Option<Box<StreamHedge<R, Resp>>>,
    /// Set by `close_send`, read by the attempts' request bodies.
    requests_closed: Arc<AtomicBool>,
    types: PhantomData<fn(Req)>,
}

impl<R, Req, Resp> Drop for StreamingCall<R, Req, Resp> {
    fn drop(&mut self) {
        // The channel's retry buffer is shared: give back what this call
        // held.
        if let Some(r) = &mut self.retry {
            lock(&r.channel.retry).release(&mut r.replay);
        }
        if let Some(h) = &mut self.hedge {
            lock(&h.channel.retry).release(&mut h.replay);
        }
    }
}

impl<R, Req, Resp> std::fmt::Debug for StreamingCall<R, Req, Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingCall")
            .field("sending", &self.writer.is_some())
            .field("failed", &self.failed)
            .finish()
    }
}

impl<R: Runtime, Req: prost::Message, Resp: prost::Message + Default + 'static>
    StreamingCall<R, Req, Resp>
{
    /// Sends a request message, waiting while the connection is behind.
    ///
    /// # Errors
    ///
    /// UNAVAILABLE if the call already ended (the server answered, the
    /// stream was reset; read the status with
    /// [`message`](StreamingCall::message)), DEADLINE_EXCEEDED past the
    /// deadline; FAILED_PRECONDITION after
    /// [`close_send`](StreamingCall::close_send).
    pub async fn send(&mut self, message: &Req) -> Result<(), Status> {
        if self.writer.is_none() && self.hedge.is_none() {
            return Err(match &self.failed {
                Some(status) => status.clone(),
                None => Status::new(Code::FailedPrecondition, "requests already closed"),
            });
        }
        let framed = frame_message(message, self.compression, self.compress)?;
        if self.hedge.is_some() {
            return self.send_hedged(framed).await;
        }
        // Once committed nothing is kept: the channel's lock, shared by
        // all its calls, is not taken for every message of a long stream.
        if let Some(r) = &mut self.retry
            && !r.state.is_committed()
        {
            lock(&r.channel.retry).on_send(&mut r.state, &mut r.replay, &framed);
        }
        loop {
            let watching = self.starting.is_some()
                && self.retry.as_ref().is_some_and(|r| !r.state.is_committed());
            if !watching {
                return self.send_live(framed).await;
            }
            // Not committed: the attempt may fail while the message waits
            // for room, and then the next attempt is what it goes on.
            let raced = {
                let (Some(writer), Some(rx)) = (self.writer.as_mut(), self.starting.as_mut())
                else {
                    return self.send_live(framed).await;
                };
                let mut write = std::pin::pin!(writer.send_data(framed.clone()));
                let race = std::future::poll_fn(|cx| {
                    if let Poll::Ready(r) = write.as_mut().poll(cx) {
                        return Poll::Ready(Ok(r.is_ok()));
                    }
                    match std::pin::Pin::new(&mut *rx).poll(cx) {
                        Poll::Ready(a) => Poll::Ready(Err(a)),
                        Poll::Pending => Poll::Pending,
                    }
                });
                match self.deadline {
                    Some(d) => match crate::timeout(&self.rt, d, race).await {
                        Some(raced) => raced,
                        None => {
                            // The call is over: no attempt can follow,
                            // so nothing is kept for one (this message
                            // and what comes later included).
                            if let Some(r) = &mut self.retry {
                                lock(&r.channel.retry).commit(&mut r.state, &mut r.replay);
                            }
                            return Err(deadline_exceeded());
                        }
                    },
                    None => race.await,
                }
            };
            let started_first = raced.is_err();
            let attempt = match raced {
                Ok(true) => return Ok(()),
                // The attempt is over: how it ended decides.
                Ok(false) => match self.starting.take() {
                    Some(rx) => rx.await.unwrap_or_else(|_| dropped()),
                    None => return Err(call_ended()),
                },
                Err(started) => {
                    self.starting = None;
                    started.unwrap_or_else(|_| dropped())
                }
            };
            match self.settle(attempt).await {
                // The new attempt sends this message again.
                Settled::Retried => return Ok(()),
                // Committed: the message goes on the live stream.
                Settled::Live if started_first => {}
                Settled::Live | Settled::Ended => return Err(call_ended()),
            }
        }
    }

    /// Whether the call is hedged and no attempt has committed it yet.
    fn hedge_pending(&self) -> bool {
        self.hedge
            .as_ref()
            .is_some_and(|h| h.hedging.committed().is_none() && self.failed.is_none())
            && self.started.is_none()
    }

    /// Starts the hedged attempts that are due: each sends the messages
    /// kept so far, then (unless the requests were closed) what the
    /// caller sends from now on.
    fn start_hedges(&mut self) {
        let Some(h) = &mut self.hedge else {
            return;
        };
        loop {
            let due = {
                let retry = lock(&h.channel.retry);
                h.hedging.poll_start(self.rt.now(), retry.throttle())
            };
            let Some(n) = due else {
                return;
            };
            h.start_attempt(n, self.deadline, &self.requests_closed);
        }
    }

    /// Sends a request message of a hedged call: kept for the hedges to
    /// come (while the retry buffer allows; past it no more start), and
    /// written on every running attempt's stream; once an attempt
    /// committed the call, on its stream only.
    async fn send_hedged(&mut self, framed: Bytes) -> Result<(), Status> {
        if !self.hedge_pending() {
            if self.failed.is_some() || self.started.is_some() && self.writer.is_none() {
                return Err(self.failed.clone().unwrap_or_else(call_ended));
            }
            return self.send_live(framed).await;
        }
        // Hedges due now start first, then take this message live.
        self.start_hedges();
        let Some(h) = &mut self.hedge else {
            return Err(call_ended());
        };
        if h.replay.is_closed() {
            return Err(Status::new(
                Code::FailedPrecondition,
                "requests already closed",
            ));
        }
        {
            let mut retry = lock(&h.channel.retry);
            retry.on_send(&mut h.state, &mut h.replay, &framed);
        }
        if h.state.is_committed() {
            // Past the retry buffer: no attempt can be replayed any more.
            h.hedging.stop();
        }
        let deadline = self.deadline;
        for a in &mut h.attempts {
            let Some(writer) = &mut a.writer else {
                continue;
            };
            let sent = match deadline {
                Some(d) => crate::timeout(&self.rt, d, writer.send_data(framed.clone()))
                    .await
                    .ok_or_else(deadline_exceeded)?,
                None => writer.send_data(framed.clone()).await,
            };
            // An attempt that ended takes nothing more; how it ended is
            // read from its start.
            if sent.is_err() {
                a.writer = None;
            }
        }
        // The attempts that answered meanwhile are taken in without
        // waiting.
        self.settle_hedges(Some(())).await;
        if self.hedge_pending() || self.writer.is_some() {
            Ok(())
        } else {
            Err(self.failed.clone().unwrap_or_else(call_ended))
        }
    }

    /// Waits for a hedged attempt to answer (or the next hedge to be due,
    /// which it starts) and takes the answer in: headers commit the call
    /// to that attempt, OK or a fatal status ends it, a non-fatal failure
    /// lets the next hedge start. With `now_only`, takes in only what is
    /// there already.
    async fn settle_hedges(&mut self, now_only: Option<()>) {
        loop {
            self.start_hedges();
            let Some(h) = &mut self.hedge else {
                return;
            };
            if h.hedging.is_exhausted() {
                let last = h.last.take();
                lock(&h.channel.retry).release(&mut h.replay);
                match last {
                    Some((status, Some(headers))) => {
                        self.started =
                            Some((Metadata::new(), Streaming::finished(status, headers)));
                    }
                    Some((status, None)) => self.failed = Some(status),
                    None => self.failed = Some(deadline_exceeded()),
                }
                return;
            }
            let mut timer = h.hedging.poll_timeout().map(|at| self.rt.sleep_until(at));
            let answered = std::future::poll_fn(|cx| {
                for (i, a) in h.attempts.iter_mut().enumerate() {
                    if let Poll::Ready(r) = std::pin::Pin::new(&mut a.starting).poll(cx) {
                        return Poll::Ready(Some((i, r.unwrap_or_else(|_| dropped()))));
                    }
                }
                if now_only.is_some() {
                    return Poll::Ready(None);
                }
                match timer.as_mut().map(|t| t.as_mut().poll(cx)) {
                    Some(Poll::Ready(())) => Poll::Ready(None),
                    _ => Poll::Pending,
                }
            })
            .await;
            let Some((i, attempt)) = answered else {
                if now_only.is_some() {
                    return;
                }
                // The next hedge is due.
                continue;
            };
            let a = h.attempts.swap_remove(i);
            let now = self.rt.now();
            let (status, headers) = match attempt {
                Attempt::Head(metadata, stream) => {
                    if h.hedging.on_headers(a.n) {
                        // The losers' writers and receivers drop here,
                        // which resets their streams.
                        h.attempts.clear();
                        lock(&h.channel.retry).release(&mut h.replay);
                        self.writer = a.writer;
                        self.started = Some((metadata, stream));
                        return;
                    }
                    continue;
                }
                Attempt::TrailersOnly(status, headers) => (status, Some(headers)),
                Attempt::Failed { status, unsent } => {
                    // Not once the kept messages outgrew the buffer and
                    // were let go: the attempt could not be replayed.
                    if unsent
                        && !h.state.is_committed()
                        && h.channel.transport.can_resend()
                        && h.hedging.on_unprocessed(a.n)
                    {
                        h.start_attempt(a.n, self.deadline, &self.requests_closed);
                        continue;
                    }
                    (status, None)
                }
            };
            let verdict = {
                let mut retry = lock(&h.channel.retry);
                h.hedging
                    .on_status(now, a.n, &status, headers.as_ref(), retry.throttle_mut())
            };
            if verdict == HedgeVerdict::Commit {
                h.attempts.clear();
                lock(&h.channel.retry).release(&mut h.replay);
                match headers {
                    Some(headers) => {
                        self.started =
                            Some((Metadata::new(), Streaming::finished(status, headers)));
                    }
                    None => self.failed = Some(status),
                }
                return;
            }
            h.last = Some((status, headers));
        }
    }

    /// Writes `framed` on the current attempt's stream.
    async fn send_live(&mut self, framed: Bytes) -> Result<(), Status> {
        let Some(writer) = &mut self.writer else {
            return Err(call_ended());
        };
        let sent = match self.deadline {
            Some(d) => crate::timeout(&self.rt, d, writer.send_data(framed))
                .await
                .ok_or_else(deadline_exceeded)?,
            None => writer.send_data(framed).await,
        };
        sent.map_err(|_| call_ended())
    }

    /// Takes in how an attempt started: response headers commit the call;
    /// a failure is retried by the policy (after its backoff, on a new
    /// stream replaying what was sent) or ends the call.
    async fn settle(&mut self, attempt: Attempt<Resp>) -> Settled {
        let (status, trailers, unsent) = match attempt {
            Attempt::Head(metadata, stream) => {
                if let Some(r) = &mut self.retry {
                    lock(&r.channel.retry).commit(&mut r.state, &mut r.replay);
                }
                self.started = Some((metadata, stream));
                return Settled::Live;
            }
            Attempt::TrailersOnly(status, headers) => (status, Some(headers), false),
            Attempt::Failed { status, unsent } => (status, None, unsent),
        };
        if self.retry_after(&status, trailers.as_ref(), unsent).await {
            return Settled::Retried;
        }
        match trailers {
            Some(headers) => {
                self.started = Some((Metadata::new(), Streaming::finished(status, headers)));
            }
            None => self.failed = Some(status),
        }
        Settled::Ended
    }

    /// Whether a new attempt started after one that failed with `status`.
    async fn retry_after(
        &mut self,
        status: &Status,
        trailers: Option<&HeaderMap>,
        unsent: bool,
    ) -> bool {
        let Some(r) = &mut self.retry else {
            return false;
        };
        let now = self.rt.now();
        let left = self.deadline.map(|d| d.saturating_duration_since(now));
        let unsent = unsent && r.channel.transport.can_resend();
        // The lock is not held across the backoff's sleep.
        let next = lock(&r.channel.retry).retry_streaming(
            &mut r.state,
            &mut r.replay,
            status,
            trailers,
            unsent,
            left,
        );
        let Some(delay) = next else {
            r.reported = true;
            return false;
        };
        if !delay.is_zero() {
            self.rt.sleep_until(now + delay).await;
        }
        self.next_attempt();
        true
    }

    /// Starts the next attempt: the kept messages first, then (unless
    /// the requests were closed) what the caller sends from now on.
    fn next_attempt(&mut self) {
        let Some(r) = &self.retry else {
            return;
        };
        let live = if r.replay.is_closed() {
            self.writer = None;
            None
        } else {
            let (writer, live) = Body::writer(8);
            self.writer = Some(writer);
            Some(live)
        };
        let body = Body::from_stream(Replayed {
            kept: r.replay.messages().to_vec().into_iter(),
            live,
            closed: self.requests_closed.clone(),
        });
        let before = r.state.previous_attempts();
        let starting = r
            .channel
            .spawn_attempt(&r.path, body, &r.opts, self.deadline, before);
        self.starting = Some(starting);
    }

    /// Tells the retrier (its throttle) how a committed call ended, once.
    fn report(&mut self, status: &Status) {
        if let Some(h) = &mut self.hedge {
            let mut retry = lock(&h.channel.retry);
            h.hedging.on_end(status, retry.throttle_mut());
        }
        if let Some(r) = &mut self.retry
            && !r.reported
        {
            r.reported = true;
            let _ =
                lock(&r.channel.retry).decide_streaming(&mut r.state, &mut r.replay, status, None);
        }
    }

    /// Whether the messages sent from now on are compressed with the
    /// call's [`CallOptions::compression`] (they are by default; no effect
    /// under identity): a call may send some messages compressed and
    /// others not, each flagged accordingly.
    pub fn set_compression(&mut self, compress: bool) {
        self.compress = compress;
    }

    /// Cancels the call: its stream is reset (RST_STREAM CANCEL), which
    /// the server sees as a cancellation, and the call ends here with
    /// CANCELLED (what [`message`](StreamingCall::message) then returns).
    /// Dropping the call does the same, without the status.
    pub fn cancel(&mut self) {
        self.writer = None;
        // Dropping the receiver stops the spawned start (dropping its
        // request), dropping the response stream drops its body: either
        // resets the stream.
        self.starting = None;
        self.started = None;
        if let Some(h) = &mut self.hedge {
            // Dropping their writers and receivers resets them.
            h.attempts.clear();
            h.hedging.stop();
        }
        if self.failed.is_none() {
            self.failed = Some(Status::new(Code::Cancelled, "cancelled by the client"));
        }
    }

    /// Ends the request stream (END_STREAM).
    pub fn close_send(&mut self) {
        // Before the writer goes: its body then ends cleanly.
        self.requests_closed.store(true, Ordering::Release);
        self.writer = None;
        if let Some(r) = &mut self.retry {
            r.replay.close();
        }
        if let Some(h) = &mut self.hedge {
            h.replay.close();
            // Their bodies end cleanly: the requests are closed.
            for a in &mut h.attempts {
                a.writer = None;
            }
        }
    }

    /// Waits for the response head, through the retries of attempts that
    /// fail first.
    async fn ensure_started(&mut self) -> Result<(), Status> {
        while self.hedge_pending() {
            self.settle_hedges(None).await;
        }
        while let Some(rx) = self.starting.take() {
            let attempt = rx.await.unwrap_or_else(|_| dropped());
            self.settle(attempt).await;
        }
        match &self.failed {
            Some(s) => Err(s.clone()),
            None => Ok(()),
        }
    }

    /// The response's initial metadata (waits for the response head).
    ///
    /// # Errors
    ///
    /// The status if the call failed before a response head.
    pub async fn metadata(&mut self) -> Result<Metadata, Status> {
        self.ensure_started().await?;
        Ok(self
            .started
            .as_ref()
            .map(|(m, _)| m.clone())
            .unwrap_or_default())
    }

    /// The next response message; `Ok(None)` once the call ended with OK.
    ///
    /// # Errors
    ///
    /// The status the call ended with when not OK.
    pub async fn message(&mut self) -> Result<Option<Resp>, Status> {
        self.ensure_started().await?;
        let result = match &mut self.started {
            Some((_, stream)) => stream.message().await,
            None => Ok(None),
        };
        match &result {
            Ok(Some(_)) => {}
            Ok(None) => self.report(&Status::ok()),
            Err(status) => self.report(status),
        }
        result
    }

    /// Whether the response message last returned by
    /// [`message`](StreamingCall::message) came flagged compressed (see
    /// [`Streaming::last_compressed`]).
    pub fn last_compressed(&self) -> bool {
        self.started
            .as_ref()
            .is_some_and(|(_, s)| s.last_compressed())
    }

    /// The trailers the call ended with, once it ended.
    pub fn trailers(&self) -> Option<&HeaderMap> {
        self.started.as_ref().and_then(|(_, s)| s.trailers())
    }
}

impl<R: Runtime, Req: prost::Message, Resp: prost::Message + Default + 'static>
    StreamingCall<R, Req, Resp>
{
    /// Splits the call into its request side and its response side, to
    /// send and receive at the same time from two tasks (full duplex).
    /// [`send`](StreamingCall::send) and [`message`](StreamingCall::message)
    /// both take the call mutably, so one task cannot wait on both; and a
    /// task that sends everything before reading stalls as soon as the
    /// server stops reading until its responses are read (flow control),
    /// as grpcio's and most handlers do.
    ///
    /// Splitting commits the call: it is not retried from then on (the
    /// request side no longer keeps what it sends).
    ///
    /// ```no_run
    /// # async fn run<R: wirestate_rt::Runtime>(channel: wirestate_rt::grpc::Channel<R>) -> Result<(), wirestate_rt::grpc::Status> {
    /// # #[derive(Clone, PartialEq, prost::Message)] struct Chat { #[prost(string, tag = "1")] text: String }
    /// use wirestate_rt::grpc::CallOptions;
    /// let call = channel.streaming::<Chat, Chat>("/demo.Chat/Talk", &CallOptions::default());
    /// let (mut requests, mut responses) = call.split()?;
    /// let send = async move {
    ///     for i in 0..1000 {
    ///         requests.send(&Chat { text: i.to_string() }).await?;
    ///     }
    ///     requests.close_send();
    ///     Ok::<_, wirestate_rt::grpc::Status>(())
    /// };
    /// let receive = async move {
    ///     while let Some(reply) = responses.message().await? {
    ///         let _ = reply;
    ///     }
    ///     Ok::<_, wirestate_rt::grpc::Status>(())
    /// };
    /// // Spawn one of them, or poll both (futures::join!, tokio::join!).
    /// # let _ = (send, receive);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// FAILED_PRECONDITION for a call under a hedging policy whose
    /// attempts have not settled on one (there is no single request side
    /// yet).
    // The two halves by name, as the docs above show them.
    #[allow(clippy::type_complexity)]
    pub fn split(
        mut self,
    ) -> Result<(RequestSender<R, Req>, ResponseReceiver<R, Req, Resp>), Status> {
        if self.hedge.is_some() {
            return Err(Status::new(
                Code::FailedPrecondition,
                "a hedged streaming call cannot be split",
            ));
        }
        if let Some(r) = &mut self.retry {
            lock(&r.channel.retry).commit(&mut r.state, &mut r.replay);
        }
        let sender = RequestSender {
            rt: self.rt.clone(),
            writer: self.writer.take(),
            compression: self.compression,
            compress: self.compress,
            deadline: self.deadline,
            requests_closed: self.requests_closed.clone(),
            failed: self.failed.clone(),
            types: PhantomData,
        };
        Ok((sender, ResponseReceiver { call: self }))
    }
}

/// The request side of a [split](StreamingCall::split) streaming call.
/// Dropping it ends the requests as [`close_send`](RequestSender::close_send)
/// does (cancel with the [`ResponseReceiver`]).
pub struct RequestSender<R, Req> {
    rt: R,
    writer: Option<BodyWriter>,
    compression: Encoding,
    compress: bool,
    deadline: Option<Instant>,
    requests_closed: Arc<AtomicBool>,
    /// How the call had already ended when it was split, if it had.
    failed: Option<Status>,
    types: PhantomData<fn(Req)>,
}

impl<R, Req> std::fmt::Debug for RequestSender<R, Req> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestSender")
            .field("sending", &self.writer.is_some())
            .finish()
    }
}

impl<R, Req> Drop for RequestSender<R, Req> {
    fn drop(&mut self) {
        // Before the writer goes: its body then ends cleanly.
        self.requests_closed.store(true, Ordering::Release);
    }
}

impl<R: Runtime, Req: prost::Message> RequestSender<R, Req> {
    /// Sends a request message, waiting while the connection (or the
    /// server) is behind.
    ///
    /// # Errors
    ///
    /// UNAVAILABLE once the call ended (its status is the
    /// [`ResponseReceiver`]'s), DEADLINE_EXCEEDED past the deadline,
    /// FAILED_PRECONDITION after [`close_send`](RequestSender::close_send).
    pub async fn send(&mut self, message: &Req) -> Result<(), Status> {
        let Some(writer) = &mut self.writer else {
            return Err(match &self.failed {
                Some(status) => status.clone(),
                None => Status::new(Code::FailedPrecondition, "requests already closed"),
            });
        };
        let framed = frame_message(message, self.compression, self.compress)?;
        let sent = match self.deadline {
            Some(d) => crate::timeout(&self.rt, d, writer.send_data(framed))
                .await
                .ok_or_else(deadline_exceeded)?,
            None => writer.send_data(framed).await,
        };
        sent.map_err(|_| call_ended())
    }

    /// Whether the messages sent from now on are compressed (see
    /// [`StreamingCall::set_compression`]).
    pub fn set_compression(&mut self, compress: bool) {
        self.compress = compress;
    }

    /// Ends the request stream (END_STREAM).
    pub fn close_send(&mut self) {
        self.requests_closed.store(true, Ordering::Release);
        self.writer = None;
    }
}

/// The response side of a [split](StreamingCall::split) streaming call:
/// the call itself, less its request side. Dropping it before the end
/// cancels the call.
#[derive(Debug)]
pub struct ResponseReceiver<R, Req, Resp> {
    call: StreamingCall<R, Req, Resp>,
}

impl<R: Runtime, Req: prost::Message, Resp: prost::Message + Default + 'static>
    ResponseReceiver<R, Req, Resp>
{
    /// The response's initial metadata (see [`StreamingCall::metadata`]).
    ///
    /// # Errors
    ///
    /// The status if the call failed before a response head.
    pub async fn metadata(&mut self) -> Result<Metadata, Status> {
        self.call.metadata().await
    }

    /// The next response message; `Ok(None)` once the call ended with OK
    /// (see [`StreamingCall::message`]).
    ///
    /// # Errors
    ///
    /// The status the call ended with when not OK.
    pub async fn message(&mut self) -> Result<Option<Resp>, Status> {
        self.call.message().await
    }

    /// Cancels the call (see [`StreamingCall::cancel`]): the request side
    /// fails from then on.
    pub fn cancel(&mut self) {
        self.call.cancel();
    }

    /// Whether the response message last returned came flagged compressed.
    pub fn last_compressed(&self) -> bool {
        self.call.last_compressed()
    }

    /// The trailers the call ended with, once it ended.
    pub fn trailers(&self) -> Option<&HeaderMap> {
        self.call.trailers()
    }
}

/// A client-streaming call in progress: send requests, then
/// [`finish`](ClientStreamingCall::finish) for the response.
pub struct ClientStreamingCall<R, Req, Resp> {
    call: StreamingCall<R, Req, Resp>,
}

impl<R, Req, Resp> std::fmt::Debug for ClientStreamingCall<R, Req, Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.call.fmt(f)
    }
}

impl<R: Runtime, Req: prost::Message, Resp: prost::Message + Default + 'static>
    ClientStreamingCall<R, Req, Resp>
{
    /// Sends a request message (see [`StreamingCall::send`]).
    ///
    /// # Errors
    ///
    /// As [`StreamingCall::send`].
    pub async fn send(&mut self, message: &Req) -> Result<(), Status> {
        self.call.send(message).await
    }

    /// Cancels the call (see [`StreamingCall::cancel`]); `finish` then
    /// returns CANCELLED.
    pub fn cancel(&mut self) {
        self.call.cancel();
    }

    /// Whether the next messages are compressed (see
    /// [`StreamingCall::set_compression`]).
    pub fn set_compression(&mut self, compress: bool) {
        self.call.set_compression(compress);
    }

    /// Ends the requests and waits for the response.
    ///
    /// # Errors
    ///
    /// The status the call ended with when not OK.
    pub async fn finish(mut self) -> Result<Response<Resp>, Status> {
        self.call.close_send();
        self.call.ensure_started().await?;
        let Some((metadata, mut stream)) = self.call.started.take() else {
            return Err(Status::new(Code::Internal, "no response"));
        };
        let message = read_one(&mut stream).await;
        self.call
            .report(message.as_ref().err().unwrap_or(&Status::ok()));
        let message = message?;
        let trailers = stream.trailers().map(Metadata::from_headers);
        Ok(Response {
            metadata,
            message,
            trailers: trailers.unwrap_or_default(),
        })
    }
}
