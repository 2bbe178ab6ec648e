//! The gRPC client: calls on one HTTP/2 connection (or gRPC-Web ones
//! over HTTP/1.1, `web.rs`).

use super::connect::{ChannelBuilder, Outgoing, SharedRetrier, Transport, lock, retrier};
use super::server::Response;
use super::streaming::{Side, Streaming, at_deadline, frame_message, read_one};
use crate::h2::SendRequest;
use crate::{Body, BodyWriter, Error, Runtime};
use bytes::Bytes;
use futures_channel::oneshot;
use http::HeaderMap;
use http::uri::Authority;
use std::future::Future;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use wirestate_grpc::call::web_streaming_unsupported;
use wirestate_grpc::retry::{RetryConfig, RetryDecision, RetryState};
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
        e => Status::new(Code::Unavailable, e.to_string()),
    }
}

fn deadline_exceeded() -> Status {
    Status::new(Code::DeadlineExceeded, "deadline exceeded")
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

    /// The channel retrying its unary and server-streaming calls by the
    /// gRPC retry policy (gRFC A6): a [`RetryPolicy`] for every method, or
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
    /// request is larger than the retry buffer (256 KiB). Client- and
    /// bidi-streaming calls are not retried. The clones of a channel share
    /// its throttle.
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

    /// How many connections a [`Channel::builder`] channel opened so far
    /// (1 for a [`Channel::new`] channel, 0 for a gRPC-Web one, whose
    /// HTTP/1.1 client pools its connections).
    pub fn connections(&self) -> u64 {
        self.transport.connections()
    }

    fn deadline(&self, opts: &CallOptions) -> Option<Instant> {
        opts.timeout.and_then(|t| deadline_after(self.rt.now(), t))
    }

    /// Sends the request head and `body`, and waits for the response head.
    async fn start<Resp: prost::Message + Default>(
        &self,
        path: &str,
        body: Body,
        opts: &CallOptions,
        deadline: Option<Instant>,
    ) -> Result<(Metadata, Streaming<Resp>), Status> {
        match self
            .attempt(path, Payload::Stream(body), opts, deadline, 0)
            .await
        {
            Attempt::Head(metadata, stream) => Ok((metadata, stream)),
            Attempt::TrailersOnly(status, headers) => {
                Ok((Metadata::new(), Streaming::finished(status, headers)))
            }
            Attempt::Failed { status, .. } => Err(status),
        }
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
        let send = self.transport.send(outgoing);
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
        let mut state = lock(&self.retry).start(path, opts.retries);
        let (metadata, mut stream) = self
            .call_with_retries::<Resp>(path, framed, opts, deadline, &mut state)
            .await?;
        let result = read_one(&mut stream).await;
        // The committed call's outcome still counts for the throttle.
        let status = result.as_ref().err().cloned().unwrap_or_else(Status::ok);
        let _ = lock(&self.retry).decide(&mut state, &status, None);
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
        let mut state = lock(&self.retry).start(path, opts.retries);
        self.call_with_retries(path, framed, opts, deadline, &mut state)
            .await
    }

    /// A client- or bidi-streaming call (not retried by the retry policy:
    /// its requests are not kept for replay): send messages with
    /// [`StreamingCall::send`], end with [`StreamingCall::close_send`], and
    /// read responses with [`StreamingCall::message`]. The request head
    /// goes out at once; the response head is awaited on the first read.
    /// On a gRPC-Web channel the call fails at once with UNIMPLEMENTED
    /// (what `send`, `metadata` and `message` return).
    pub fn streaming<Req: prost::Message, Resp: prost::Message + Default + 'static>(
        &self,
        path: &str,
        opts: &CallOptions,
    ) -> StreamingCall<R, Req, Resp> {
        let deadline = self.deadline(opts);
        if self.transport.web_mode().is_some() {
            return StreamingCall {
                rt: self.rt.clone(),
                writer: None,
                starting: None,
                started: None,
                failed: Some(web_streaming_unsupported()),
                compression: opts.compression,
                compress: true,
                deadline,
                types: PhantomData,
            };
        }
        let (writer, body) = Body::writer(8);
        let channel = self.clone();
        let path = path.to_owned();
        let opts2 = opts.clone();
        let (mut tx, rx) = oneshot::channel();
        self.rt.spawn(Box::pin(async move {
            let mut start = std::pin::pin!(channel.start::<Resp>(&path, body, &opts2, deadline));
            // Stop (dropping the request, which resets the stream) if the
            // call is dropped before the response head.
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
        StreamingCall {
            rt: self.rt.clone(),
            writer: Some(writer),
            starting: Some(rx),
            started: None,
            failed: None,
            compression: opts.compression,
            compress: true,
            deadline,
            types: PhantomData,
        }
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

/// The start of a streaming call, run on a spawned task so that the
/// request head goes out at once: its result, or nothing if the call was
/// dropped first.
type Started<Resp> = Result<(Metadata, Streaming<Resp>), Status>;

/// A bidi- (or client-) streaming call in progress. Dropping it before the
/// end cancels the call.
pub struct StreamingCall<R, Req, Resp> {
    rt: R,
    writer: Option<BodyWriter>,
    starting: Option<oneshot::Receiver<Started<Resp>>>,
    started: Option<(Metadata, Streaming<Resp>)>,
    failed: Option<Status>,
    compression: Encoding,
    /// Whether the next messages are compressed with `compression`.
    compress: bool,
    deadline: Option<Instant>,
    types: PhantomData<fn(Req)>,
}

impl<R, Req, Resp> std::fmt::Debug for StreamingCall<R, Req, Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingCall")
            .field("sending", &self.writer.is_some())
            .field("failed", &self.failed)
            .finish()
    }
}

impl<R: Runtime, Req: prost::Message, Resp: prost::Message + Default> StreamingCall<R, Req, Resp> {
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
        sent.map_err(|_| Status::new(Code::Unavailable, "the call ended"))
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
        if self.failed.is_none() {
            self.failed = Some(Status::new(Code::Cancelled, "cancelled by the client"));
        }
    }

    /// Ends the request stream (END_STREAM).
    pub fn close_send(&mut self) {
        self.writer = None;
    }

    async fn ensure_started(&mut self) -> Result<(), Status> {
        if let Some(rx) = self.starting.take() {
            match rx.await {
                Ok(Ok(pair)) => self.started = Some(pair),
                Ok(Err(s)) => self.failed = Some(s),
                Err(_) => self.failed = Some(Status::new(Code::Cancelled, "call dropped")),
            }
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
        match &mut self.started {
            Some((_, stream)) => stream.message().await,
            None => Ok(None),
        }
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

impl<R: Runtime, Req: prost::Message, Resp: prost::Message + Default>
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
        let message = read_one(&mut stream).await?;
        let trailers = stream.trailers().map(Metadata::from_headers);
        Ok(Response {
            metadata,
            message,
            trailers: trailers.unwrap_or_default(),
        })
    }
}
