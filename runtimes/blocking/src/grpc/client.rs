//! The blocking gRPC client: calls on one HTTP/2 connection (or gRPC-Web
//! ones over HTTP/1.1, `web.rs`).

use super::connect::{ChannelBuilder, SharedRetrier, Transport, lock, retrier};
use super::server::Response;
use super::streaming::{Side, Streaming, at_deadline, deadline_exceeded, read_one};
use crate::h2::{Canceller, ClientConfig, PendingResponse, RequestWriter, SendRequest};
use crate::{BlockingBody, Error};
use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http::uri::Authority;
use std::marker::PhantomData;
use std::net::ToSocketAddrs;
use std::sync::mpsc::{RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use wirestate_grpc::backoff::ConnectivityState;
use wirestate_grpc::call::web_streaming_unsupported;
use wirestate_grpc::hedging::{HedgeVerdict, Hedging, HedgingPolicy};
use wirestate_grpc::retry::{CallPolicy, ReplayBuffer, RetryConfig, RetryDecision, RetryState};
use wirestate_grpc::{
    Code, Encoding, Metadata, ResponseHead, ResponseStart, Status, deadline_after,
    encode_message_with,
};

/// Per-call settings: the same for every runtime, from `wirestate-grpc`.
pub use wirestate_grpc::CallOptions;

/// The status of a failed HTTP/2 exchange.
fn failed(e: &Error) -> Status {
    match e {
        Error::Timeout => deadline_exceeded(),
        Error::Reset(code) => Status::from_h2_error_code(u32::from(*code)),
        // The server answered, with more metadata than we take (grpc-go:
        // "peer header list size exceeded limit", INTERNAL).
        Error::HeadersTooLarge => Status::new(Code::Internal, e.to_string()),
        e => Status::new(Code::Unavailable, e.to_string()),
    }
}

/// Frames one message.
fn frame<T: prost::Message>(encoding: Encoding, message: &T) -> Result<Bytes, Status> {
    let mut framed = BytesMut::new();
    encode_message_with(encoding, &message.encode_to_vec(), &mut framed)
        .map_err(|e| e.to_status())?;
    Ok(framed.freeze())
}

/// The one response of a unary or client-streaming call, with the
/// trailing metadata it ended with.
fn single_response<Resp: prost::Message + Default>(
    metadata: Metadata,
    mut stream: Streaming<Resp>,
) -> Result<Response<Resp>, Status> {
    let message = read_one(&mut stream)?;
    let trailers = stream.trailers().map(Metadata::from_headers);
    Ok(Response {
        metadata,
        message,
        trailers: trailers.unwrap_or_default(),
    })
}

/// A blocking gRPC client over one HTTP/2 connection: cheap to clone and
/// usable from many threads at once; each call is a stream of the
/// connection.
///
/// Dropping a call (its [`Streaming`], its [`StreamingCall`]) before it
/// ended resets its stream with CANCEL, which the server sees as a
/// cancellation.
///
/// ```no_run
/// use wirestate_blocking::grpc::{CallOptions, Channel};
/// # #[derive(Clone, PartialEq, prost::Message)] struct Ping { #[prost(string, tag = "1")] text: String }
/// # fn main() -> Result<(), wirestate_blocking::grpc::Status> {
/// let channel = Channel::connect("127.0.0.1:50051")?;
/// let opts = CallOptions::default().with_timeout(std::time::Duration::from_secs(1));
/// let pong = channel.unary::<_, Ping>("/demo.Pinger/Ping", &Ping { text: "hi".into() }, &opts)?;
/// println!("{}", pong.message.text);
/// # Ok(())
/// # }
/// ```
///
/// A channel from [`Channel::connect`] or [`Channel::new`] uses one
/// connection; one from [`Channel::builder`] opens its own, again whenever
/// the last one ended, with keep-alive pings that back off when the server
/// asks. Both retry failed calls by a retry policy when given one
/// ([`with_retry`](Channel::with_retry), [`ChannelConfig::retry_policy`]).
///
/// [`ChannelConfig::retry_policy`]: wirestate_grpc::ChannelConfig::retry_policy
#[derive(Clone)]
pub struct Channel {
    transport: Transport,
    authority: Authority,
    retry: SharedRetrier,
}

/// A hedged attempt's number and its response head (or the status it
/// failed with, and whether it never left), from the thread that waited.
type Answer = (u32, Result<http::Response<BlockingBody>, (Status, bool)>);

/// Cancels an attempt of a hedged unary call whose thread may still be
/// opening its stream: cancelled before the stream is there, the thread
/// drops the stream as soon as it has it (resetting it).
#[derive(Clone, Default)]
struct AttemptCancel(Arc<Mutex<(bool, Option<Canceller>)>>);

impl AttemptCancel {
    /// Resets the attempt's stream (CANCEL), now or once it is open.
    fn cancel(&self) {
        let mut slot = lock(&self.0);
        slot.0 = true;
        if let Some(c) = slot.1.take() {
            c.cancel();
        }
    }

    /// The attempt's stream is open: `false` if it was cancelled already.
    fn set(&self, canceller: Canceller) -> bool {
        let mut slot = lock(&self.0);
        if slot.0 {
            return false;
        }
        slot.1 = Some(canceller);
        true
    }
}

/// What a streaming call's hedged attempt tells the half settling the
/// call: its [`Answer`], or `None` if it was given up before it was sent
/// (the call may be over: look again).
type HedgeAnswer = (
    u32,
    Option<Result<http::Response<BlockingBody>, (Status, bool)>>,
);

/// How the response of one attempt started.
// Returned once per attempt and taken apart at once: boxing the stream
// would cost an allocation per call for nothing.
#[allow(clippy::large_enum_variant)]
enum Started<Resp> {
    /// Response headers came: the call is committed.
    Head(Metadata, Streaming<Resp>),
    /// A trailers-only response: the status and the headers (where the
    /// server's retry pushback is).
    TrailersOnly(Status, HeaderMap),
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("grpc::Channel")
            .field("authority", &self.authority)
            .finish()
    }
}

impl Channel {
    /// Connects to `addr` (`host:port`) over h2c with prior knowledge.
    ///
    /// # Errors
    ///
    /// UNAVAILABLE if the connection fails; INVALID_ARGUMENT if `addr` is
    /// not an authority.
    pub fn connect(addr: &str) -> Result<Self, Status> {
        Self::connect_to(addr, addr)
    }

    /// Connects to the first address of `addr` that answers, naming it
    /// `authority` in requests.
    ///
    /// # Errors
    ///
    /// As [`connect`](Channel::connect).
    pub fn connect_to(addr: impl ToSocketAddrs, authority: &str) -> Result<Self, Status> {
        // Deadlines are per call (grpc-timeout), not per connection.
        let config = ClientConfig {
            request_timeout: None,
            ..ClientConfig::default()
        };
        let send = crate::h2::connect_with(addr, config).map_err(|e| {
            Status::new(Code::Unavailable, format!("connecting to {authority}: {e}"))
        })?;
        Self::new(send, authority)
    }

    /// A channel on an HTTP/2 connection ([`h2::connect`](crate::h2::connect)),
    /// sending `authority` (`host:port`) as `:authority`. The connection's
    /// `request_timeout` still bounds how long a call waits for its
    /// response head; [`connect`](Channel::connect) sets none.
    ///
    /// # Errors
    ///
    /// INVALID_ARGUMENT if `authority` is not one.
    pub fn new(send: SendRequest, authority: &str) -> Result<Self, Status> {
        Ok(Self::from_parts(
            Transport::Fixed(send),
            wirestate_grpc::channel::parse_authority(authority)?,
            retrier(RetryConfig::new()),
        ))
    }

    /// A channel that opens its own connections to `addr` (`host:port`,
    /// h2c with prior knowledge), configured by the returned
    /// [`ChannelBuilder`]: keep-alive pings, a retry policy, the authority,
    /// the connection settings.
    pub fn builder(addr: &str) -> ChannelBuilder {
        ChannelBuilder::new(addr)
    }

    pub(crate) fn from_parts(
        transport: Transport,
        authority: Authority,
        retry: SharedRetrier,
    ) -> Self {
        Self {
            transport,
            authority,
            retry,
        }
    }

    pub(crate) fn transport(&self) -> &Transport {
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
    /// fatal code is the call's; the others are reset (CANCEL; over gRPC-Web a loser's connection closes once it answers). Hedges after
    /// the first need the throttle's leave. Client- and bidi-streaming
    /// calls are hedged too: every attempt is sent the messages kept so
    /// far, then the live ones, until one commits the call (past the
    /// retry buffer, no more hedges start); the receiving half waits for
    /// the attempts, and starts the hedges that fall due meanwhile.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use wirestate_blocking::grpc::{Channel, Code, RetryConfig, RetryPolicy, RetryThrottle};
    /// # fn main() -> Result<(), wirestate_blocking::grpc::Status> {
    /// let policy = RetryPolicy::new(
    ///     3, Duration::from_millis(50), Duration::from_secs(1), 2.0, [Code::Unavailable],
    /// ).unwrap();
    /// let channel = Channel::connect("127.0.0.1:50051")?.with_retry(
    ///     RetryConfig::new()
    ///         .with_service("demo.Pinger", policy)
    ///         .without_method("/demo.Pinger/Charge")
    ///         .with_throttle(RetryThrottle::new(10, 0.1).unwrap()),
    /// );
    /// # let _ = channel;
    /// # Ok(())
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
    /// (1 for the other channels).
    pub fn connections(&self) -> u64 {
        self.transport.connections()
    }

    fn deadline(opts: &CallOptions) -> Option<Instant> {
        opts.timeout.and_then(|t| deadline_after(Instant::now(), t))
    }

    /// Sends the request head; the body is written through the writer.
    fn start(
        &self,
        path: &str,
        opts: &CallOptions,
        deadline: Option<Instant>,
    ) -> Result<(RequestWriter, PendingResponse), Status> {
        self.start_attempt(path, opts, deadline, 0)
            .map_err(|(status, _)| status)
    }

    /// Sends the request head of an attempt (saying how many came
    /// `before`); on failure, the status and whether the request was
    /// never sent.
    fn start_attempt(
        &self,
        path: &str,
        opts: &CallOptions,
        deadline: Option<Instant>,
        before: u32,
    ) -> Result<(RequestWriter, PendingResponse), (Status, bool)> {
        // A deadline that has already passed fails the call before anything
        // is sent, as the async channel does.
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err((deadline_exceeded(), false));
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let mut parts = opts
            .request_parts(path, &self.authority, left, before)
            .map_err(|status| (status, false))?;
        let send = self
            .transport
            .get(deadline, opts.wait_for_ready)
            .map_err(|s| (s, true))?;
        if send.is_secure() {
            wirestate_grpc::call::use_https(&mut parts.uri);
        }
        send.send_streaming(http::Request::from_parts(parts, ()))
            .map_err(|e| (failed(&e), e.is_unsent()))
    }

    /// Waits for the response head: the initial metadata and the message
    /// stream (already ended for a trailers-only response).
    fn response<Resp: prost::Message + Default>(
        pending: PendingResponse,
        opts: &CallOptions,
        deadline: Option<Instant>,
    ) -> Result<(Metadata, Streaming<Resp>), Error> {
        Ok(match Self::response_start(pending, opts, deadline)? {
            Started::Head(metadata, stream) => (metadata, stream),
            Started::TrailersOnly(status, headers) => {
                (Metadata::new(), Streaming::finished(status, headers))
            }
        })
    }

    /// Waits for the response head, telling a trailers-only response
    /// apart.
    fn response_start<Resp: prost::Message + Default>(
        pending: PendingResponse,
        opts: &CallOptions,
        deadline: Option<Instant>,
    ) -> Result<Started<Resp>, Error> {
        let response = pending.wait_until(deadline)?;
        Ok(Self::started(response, false, opts, deadline))
    }

    /// How a response started (a gRPC-Web one if `web`).
    fn started<Resp: prost::Message + Default>(
        response: http::Response<BlockingBody>,
        web: bool,
        opts: &CallOptions,
        deadline: Option<Instant>,
    ) -> Started<Resp> {
        let (parts, body) = response.into_parts();
        match ResponseHead::from_response(&parts) {
            ResponseStart::End(status) => {
                Started::TrailersOnly(at_deadline(status, deadline), parts.headers)
            }
            ResponseStart::Head(h) => {
                let stream = Streaming::new(
                    body,
                    web.then(|| h.web_mode()),
                    h.encoding,
                    opts.max_message_size,
                    Side::Client,
                    deadline,
                );
                Started::Head(h.metadata, stream)
            }
        }
    }

    /// One attempt of a gRPC-Web call (saying how many came `before`):
    /// the request sent whole, then the response head. On failure, the
    /// status and whether the request never left.
    fn web_attempt<Resp: prost::Message + Default>(
        &self,
        path: &str,
        framed: Bytes,
        opts: &CallOptions,
        deadline: Option<Instant>,
        before: u32,
    ) -> Result<Started<Resp>, (Status, bool)> {
        let response = self.web_response(path, framed, opts, deadline, before)?;
        Ok(Self::started(response, true, opts, deadline))
    }

    /// Sends one framed request message and waits for the response head,
    /// retrying a call the server never processed at once, and failed
    /// attempts by the channel's retry policy until the call is committed
    /// (response headers came).
    fn one_request<Resp: prost::Message + Default>(
        &self,
        path: &str,
        framed: Bytes,
        opts: &CallOptions,
        deadline: Option<Instant>,
        state: &mut RetryState,
    ) -> Result<(Metadata, Streaming<Resp>), Status> {
        // The whole request is held for replay: past the retry buffer the
        // call is committed from the start.
        state.on_buffered(framed.len());
        loop {
            let before = state.previous_attempts();
            let attempt = match self.transport.web() {
                Some(_) => self.web_attempt(path, framed.clone(), opts, deadline, before),
                None => self.h2_attempt(path, &framed, opts, deadline, before),
            };
            let (status, trailers) = match attempt {
                Ok(Started::Head(metadata, stream)) => {
                    state.on_headers();
                    return Ok((metadata, stream));
                }
                Ok(Started::TrailersOnly(status, headers)) => (status, Some(headers)),
                Err((status, unsent)) => {
                    if unsent && self.transport.can_resend() && state.on_unprocessed() {
                        continue;
                    }
                    (status, None)
                }
            };
            // The lock is not held through the backoff's sleep.
            let decision = lock(&self.retry).decide(state, &status, trailers.as_ref());
            match decision {
                RetryDecision::Retry(delay) => {
                    // No attempt that could only start after the deadline.
                    if deadline.is_some_and(|d| Instant::now() + delay >= d) {
                        return Err(status);
                    }
                    std::thread::sleep(delay);
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
    fn request_with_policy<Resp: prost::Message + Default>(
        &self,
        path: &str,
        framed: Bytes,
        opts: &CallOptions,
        deadline: Option<Instant>,
    ) -> Result<(Metadata, Streaming<Resp>, CallPolicy), Status> {
        let (mut state, hedging) = lock(&self.retry).begin(path, opts.retries);
        match hedging {
            Some(policy) => {
                let (result, hedge) = self.hedged_request(path, framed, opts, deadline, policy);
                result.map(|(m, s)| (m, s, CallPolicy::Hedged(hedge)))
            }
            None => self
                .one_request(path, framed, opts, deadline, &mut state)
                .map(|(m, s)| (m, s, CallPolicy::Retried(state))),
        }
    }

    /// A call whose request is `framed`, hedged by `policy` (gRFC A6):
    /// attempts start every `hedgingDelay` (at once after a non-fatal
    /// failure, after a pushback's delay), each waited for on a thread of
    /// its own; the first with response headers, OK or a fatal status is
    /// the call, and the others' streams are reset (CANCEL).
    fn hedged_request<Resp: prost::Message + Default>(
        &self,
        path: &str,
        framed: Bytes,
        opts: &CallOptions,
        deadline: Option<Instant>,
        policy: HedgingPolicy,
    ) -> (Result<(Metadata, Streaming<Resp>), Status>, Hedging) {
        let mut hedge =
            Hedging::new(policy, Instant::now(), deadline).with_transparent_retries(opts.retries);
        // A request past the retry buffer cannot be kept for other
        // attempts: only the first goes.
        if framed.len() > lock(&self.retry).config().buffer_size() {
            hedge.stop();
        }
        let (tx, rx) = std::sync::mpsc::channel::<Answer>();
        let mut cancels: Vec<(u32, AttemptCancel)> = Vec::new();
        let web = self.transport.web().is_some();
        let mut last: Option<(Status, Option<HeaderMap>)> = None;
        let cancel_all = |cancels: &[(u32, AttemptCancel)], winner: u32| {
            for (_, c) in cancels.iter().filter(|(m, _)| *m != winner) {
                c.cancel();
            }
        };
        loop {
            loop {
                let due = {
                    let retry = lock(&self.retry);
                    hedge.poll_start(Instant::now(), retry.throttle())
                };
                let Some(n) = due else { break };
                let c = self.spawn_attempt(path, &framed, opts, deadline, n, &tx);
                cancels.push((n, c));
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
            let answer = match hedge.poll_timeout() {
                Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
                // An attempt is running (else the call is exhausted), and
                // `tx` is held here: this ends with its answer.
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            let Ok((n, answer)) = answer else {
                // The next hedge is due.
                continue;
            };
            let (status, headers) = match answer {
                Ok(response) => match Self::started(response, web, opts, deadline) {
                    Started::Head(metadata, stream) => {
                        if hedge.on_headers(n) {
                            cancel_all(&cancels, n);
                            return (Ok((metadata, stream)), hedge);
                        }
                        // A loser: dropping its stream resets it.
                        continue;
                    }
                    Started::TrailersOnly(status, headers) => (status, Some(headers)),
                },
                Err((status, unsent)) => {
                    if unsent && self.transport.can_resend() && hedge.on_unprocessed(n) {
                        let c = self.spawn_attempt(path, &framed, opts, deadline, n, &tx);
                        cancels.push((n, c));
                        continue;
                    }
                    (status, None)
                }
            };
            let verdict = {
                let mut retry = lock(&self.retry);
                hedge.on_status(
                    Instant::now(),
                    n,
                    &status,
                    headers.as_ref(),
                    retry.throttle_mut(),
                )
            };
            if verdict == HedgeVerdict::Commit {
                cancel_all(&cancels, n);
                let result = match headers {
                    Some(headers) => Ok((Metadata::new(), Streaming::finished(status, headers))),
                    None => Err(status),
                };
                return (result, hedge);
            }
            last = Some((status, headers));
        }
    }

    /// Starts attempt `n` of a hedged call on a thread of its own, which
    /// sends `tx` its response head; returns what cancels it. Over h2 the
    /// thread opens the stream (which may wait for a new connection, up
    /// to the connect timeout) and sends the request: not on the caller's
    /// thread, so an answer from another attempt is taken meanwhile. A
    /// gRPC-Web attempt runs whole on its thread (HTTP/1.1 cannot cancel
    /// one request: a loser's connection closes when its answer is
    /// dropped).
    fn spawn_attempt(
        &self,
        path: &str,
        framed: &Bytes,
        opts: &CallOptions,
        deadline: Option<Instant>,
        n: u32,
        tx: &Sender<Answer>,
    ) -> AttemptCancel {
        let tx = tx.clone();
        let (channel, path, framed, opts) =
            (self.clone(), path.to_owned(), framed.clone(), opts.clone());
        let cancel = AttemptCancel::default();
        if self.transport.web().is_some() {
            std::thread::spawn(move || {
                let answer = channel.web_response(&path, framed, &opts, deadline, n);
                let _ = tx.send((n, answer));
            });
            return cancel;
        }
        let handle = cancel.clone();
        std::thread::spawn(move || {
            let (mut writer, pending) = match channel.start_attempt(&path, &opts, deadline, n) {
                Ok(started) => started,
                Err(failed) => {
                    let _ = tx.send((n, Err(failed)));
                    return;
                }
            };
            if !handle.set(pending.canceller()) {
                // Cancelled meanwhile: dropped unfinished, the writer
                // resets the stream.
                return;
            }
            // A send that fails (the server answered at once and reset the
            // stream) is not the attempt's outcome: the response is.
            if let Err(e) = writer.send_until(framed, deadline) {
                tracing::debug!(error = %e, "request message not sent");
            }
            writer.finish(None);
            let answer = pending
                .wait_until(deadline)
                .map_err(|e| (at_deadline(failed(&e), deadline), e.is_unsent()));
            let _ = tx.send((n, answer));
        });
        cancel
    }

    /// One gRPC-Web exchange of an attempt (saying how many came
    /// `before`): the response, or the status and whether the request
    /// never left.
    fn web_response(
        &self,
        path: &str,
        framed: Bytes,
        opts: &CallOptions,
        deadline: Option<Instant>,
        before: u32,
    ) -> Result<http::Response<BlockingBody>, (Status, bool)> {
        let Some(web) = self.transport.web() else {
            return Err((Status::new(Code::Internal, "not a gRPC-Web channel"), false));
        };
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err((deadline_exceeded(), false));
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let (parts, body) = opts
            .web_request(web.mode(), path, &self.authority, left, before, framed)
            .map_err(|status| (status, false))?;
        web.send(parts, body, deadline)
            .map_err(|(status, unsent)| (at_deadline(status, deadline), unsent))
    }

    /// One attempt of a call on h2 with one `framed` request message.
    fn h2_attempt<Resp: prost::Message + Default>(
        &self,
        path: &str,
        framed: &Bytes,
        opts: &CallOptions,
        deadline: Option<Instant>,
        before: u32,
    ) -> Result<Started<Resp>, (Status, bool)> {
        let (mut writer, pending) = self.start_attempt(path, opts, deadline, before)?;
        // A send that fails (the server answered at once and reset the
        // stream) is not the call's outcome: the response is.
        if let Err(e) = writer.send_until(framed.clone(), deadline) {
            tracing::debug!(error = %e, "request message not sent");
        }
        writer.finish(None);
        Self::response_start(pending, opts, deadline)
            .map_err(|e| (at_deadline(failed(&e), deadline), e.is_unsent()))
    }

    /// A unary call.
    ///
    /// # Errors
    ///
    /// The status the server ended the call with; DEADLINE_EXCEEDED past
    /// the deadline; UNAVAILABLE when the connection failed.
    pub fn unary<Req: prost::Message, Resp: prost::Message + Default>(
        &self,
        path: &str,
        request: &Req,
        opts: &CallOptions,
    ) -> Result<Response<Resp>, Status> {
        let deadline = Self::deadline(opts);
        let framed = frame(opts.compression, request)?;
        let (metadata, stream, mut policy) =
            self.request_with_policy::<Resp>(path, framed, opts, deadline)?;
        let result = single_response(metadata, stream);
        // The committed call's outcome still counts for the throttle.
        let status = result.as_ref().err().cloned().unwrap_or_else(Status::ok);
        policy.on_end(&mut lock(&self.retry), &status);
        result
    }

    /// A server-streaming call: the response's initial metadata and its
    /// message stream (an iterator too).
    ///
    /// # Errors
    ///
    /// As [`unary`](Channel::unary), for the start of the call; later
    /// errors come out of the stream.
    pub fn server_streaming<Req: prost::Message, Resp: prost::Message + Default>(
        &self,
        path: &str,
        request: &Req,
        opts: &CallOptions,
    ) -> Result<(Metadata, Streaming<Resp>), Status> {
        let deadline = Self::deadline(opts);
        let framed = frame(opts.compression, request)?;
        let (metadata, mut stream, mut policy) =
            self.request_with_policy(path, framed, opts, deadline)?;
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
    /// read responses with [`StreamingCall::message`] (from the same
    /// thread, or from another one after [`StreamingCall::split`]). The
    /// request head goes out at once; the response head is waited for on
    /// the first read.
    ///
    /// Under a retry policy (see [`with_retry`](Channel::with_retry)) the
    /// call keeps the messages it sent until it is committed — response
    /// headers arrived, or the messages outgrew the call's or the
    /// channel's retry buffer — and an attempt that fails before then
    /// with a retryable code is tried again: the kept messages are sent
    /// on a new stream, then the call goes on live.
    ///
    /// # Errors
    ///
    /// UNAVAILABLE if the connection takes no more calls,
    /// INVALID_ARGUMENT for a malformed path, UNIMPLEMENTED on a gRPC-Web
    /// channel (gRPC-Web carries unary and server-streaming calls only).
    pub fn streaming<Req: prost::Message, Resp: prost::Message + Default>(
        &self,
        path: &str,
        opts: &CallOptions,
    ) -> Result<StreamingCall<Req, Resp>, Status> {
        if self.transport.web().is_some() {
            return Err(web_streaming_unsupported());
        }
        let deadline = Self::deadline(opts);
        let (state, hedging) = lock(&self.retry).begin(path, opts.retries);
        if let Some(policy) = hedging {
            let hedge = StreamHedge::start(self, path, opts, deadline, policy, state);
            return Ok(StreamingCall {
                sender: RequestSender {
                    writer: None,
                    compression: opts.compression,
                    compress: true,
                    deadline,
                    retry: None,
                    hedge: Some(hedge.clone()),
                    types: PhantomData,
                },
                receiver: ResponseReceiver {
                    pending: None,
                    started: None,
                    failed: None,
                    opts: opts.clone(),
                    deadline,
                    retry: None,
                    hedge: Some(hedge),
                },
            });
        }
        // Without a policy nothing is kept: such calls pay nothing for
        // retries.
        let (writer, pending, retry) = if state.has_policy() {
            let first = match self.start_attempt(path, opts, deadline, 0) {
                Ok((writer, pending)) => (Some(writer), Ok(pending)),
                // A request that never left may be retried at once.
                Err((status, true)) => (None, Err((status, true))),
                Err((status, false)) => return Err(status),
            };
            let retry = StreamRetry {
                channel: self.clone(),
                path: path.to_owned(),
                opts: opts.clone(),
                deadline,
                inner: Mutex::new(RetryInner {
                    state,
                    replay: ReplayBuffer::new(),
                    attempt: 0,
                    writer: first.0,
                    pending: Some(first.1),
                    settled: None,
                    done: false,
                    reported: false,
                    cancelled: false,
                }),
                changed: Condvar::new(),
            };
            (None, None, Some(Arc::new(retry)))
        } else {
            let (writer, pending) = self.start(path, opts, deadline)?;
            (Some(writer), Some(pending), None)
        };
        Ok(StreamingCall {
            sender: RequestSender {
                writer,
                compression: opts.compression,
                compress: true,
                deadline,
                retry: retry.clone(),
                hedge: None,
                types: PhantomData,
            },
            receiver: ResponseReceiver {
                pending,
                started: None,
                failed: None,
                opts: opts.clone(),
                deadline,
                retry,
                hedge: None,
            },
        })
    }

    /// A client-streaming call (see [`streaming`](Channel::streaming));
    /// [`ClientStreamingCall::finish`] ends the requests and reads the one
    /// response.
    ///
    /// # Errors
    ///
    /// As [`streaming`](Channel::streaming).
    pub fn client_streaming<Req: prost::Message, Resp: prost::Message + Default>(
        &self,
        path: &str,
        opts: &CallOptions,
    ) -> Result<ClientStreamingCall<Req, Resp>, Status> {
        Ok(ClientStreamingCall {
            call: self.streaming(path, opts)?,
        })
    }
}

/// The retry side of a streaming call under a retry policy, shared by
/// its two halves: what it sent while not committed, the current
/// attempt, and how the response started once it did.
struct StreamRetry {
    channel: Channel,
    path: String,
    opts: CallOptions,
    deadline: Option<Instant>,
    inner: Mutex<RetryInner>,
    /// Signalled when an attempt settles or a new one starts.
    changed: Condvar,
}

struct RetryInner {
    state: RetryState,
    replay: ReplayBuffer,
    /// The current attempt's number (0 for the first).
    attempt: u64,
    /// The current attempt's request writer, unless a `send` is using
    /// it (or the requests are closed).
    writer: Option<RequestWriter>,
    /// The current attempt's response, unless a half is waiting for it;
    /// an error if it could not even start (and whether it never left).
    pending: Option<Result<PendingResponse, (Status, bool)>>,
    /// How the call's response started, for the receiving half to take:
    /// its head (or a trailers-only end), or the status it failed with.
    settled: Option<Result<http::Response<BlockingBody>, Status>>,
    /// Whether the call settled: committed, or ended without a retry.
    done: bool,
    /// Whether the call's outcome was told to the retrier (its throttle).
    reported: bool,
    /// Whether a half was dropped before the call ended: no attempt
    /// follows, and the current one is reset.
    cancelled: bool,
}

impl StreamRetry {
    fn lock(&self) -> std::sync::MutexGuard<'_, RetryInner> {
        lock(&self.inner)
    }

    /// Waits for the current attempt's response head (or for the other
    /// half, if it is waiting for it): response headers commit the call,
    /// a failure is retried by the policy — after its backoff, on a new
    /// stream replaying what was sent — or settles the call. With `once`,
    /// returns after a retry too.
    fn settle(&self, once: bool) {
        let mut inner = self.lock();
        loop {
            if inner.done {
                return;
            }
            let Some(pending) = inner.pending.take() else {
                let attempt = inner.attempt;
                inner = self
                    .changed
                    .wait_while(inner, |i| !i.done && i.attempt == attempt)
                    .unwrap_or_else(|e| e.into_inner());
                if once {
                    return;
                }
                continue;
            };
            drop(inner);
            let deadline = self.deadline;
            let (status, trailers, unsent, response) = match pending.and_then(|p| {
                p.wait_until(deadline)
                    .map_err(|e| (at_deadline(failed(&e), deadline), e.is_unsent()))
            }) {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    match ResponseHead::from_response(&parts) {
                        ResponseStart::Head(_) => {
                            let mut inner = self.lock();
                            if inner.done {
                                // Cancelled meanwhile: the response is
                                // dropped, its stream reset.
                                return;
                            }
                            let i = &mut *inner;
                            lock(&self.channel.retry).commit(&mut i.state, &mut i.replay);
                            i.settled = Some(Ok(http::Response::from_parts(parts, body)));
                            i.done = true;
                            self.changed.notify_all();
                            return;
                        }
                        ResponseStart::End(status) => {
                            let headers = parts.headers.clone();
                            let response = http::Response::from_parts(parts, body);
                            (status, Some(headers), false, Some(response))
                        }
                    }
                }
                Err((status, unsent)) => (status, None, unsent, None),
            };
            inner = self.lock();
            if inner.done {
                // Cancelled meanwhile (which ended this attempt).
                return;
            }
            let i = &mut *inner;
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let unsent = unsent && self.channel.transport.can_resend();
            let next = lock(&self.channel.retry).retry_streaming(
                &mut i.state,
                &mut i.replay,
                &status,
                trailers.as_ref(),
                unsent,
                left,
            );
            let Some(delay) = next else {
                i.reported = true;
                i.settled = Some(response.ok_or(status));
                i.done = true;
                self.changed.notify_all();
                return;
            };
            drop(inner);
            std::thread::sleep(delay);
            if !self.next_attempt() {
                // The call can no longer be retried (see `next_attempt`):
                // the failed attempt's outcome is the call's.
                let mut inner = self.lock();
                let i = &mut *inner;
                if !i.done {
                    lock(&self.channel.retry).release(&mut i.replay);
                    i.reported = true;
                    i.settled = Some(response.ok_or(status));
                    i.done = true;
                }
                self.changed.notify_all();
                return;
            }
            if once {
                return;
            }
            inner = self.lock();
        }
    }

    /// Starts the next attempt: the kept messages first (then the end of
    /// the requests if they were closed), queued at once — they are in
    /// memory anyway, within the retry buffer, and the connection sends
    /// them as the windows allow. A replay that waited for room would
    /// hold up the thread running it: when that is the receiving half,
    /// it could not read the answers of a server that echoes each request
    /// (and stops reading while they are not taken), both ends stuck
    /// until the deadline.
    ///
    /// `false` if no attempt can follow: the call was cancelled, or it
    /// was committed during the backoff — a message sent meanwhile
    /// outgrew the retry buffer, and the kept messages went with it, so a
    /// new attempt would carry the later messages without the earlier
    /// ones.
    ///
    /// The attempt is started without the call's lock held: that may
    /// reconnect (up to the connect timeout), and `close_send`, a `send`
    /// or a half dropped meanwhile need not wait for it. A message sent
    /// meanwhile is kept before the replay is read, so the new attempt
    /// carries it; a call cancelled or committed meanwhile drops the new
    /// stream (resetting it) instead.
    fn next_attempt(&self) -> bool {
        let inner = self.lock();
        if inner.cancelled || inner.state.is_committed() {
            return false;
        }
        let before = inner.state.previous_attempts();
        drop(inner);
        let started = self
            .channel
            .start_attempt(&self.path, &self.opts, self.deadline, before);
        let mut inner = self.lock();
        if inner.cancelled || inner.state.is_committed() {
            drop(inner);
            drop(started);
            return false;
        }
        inner.attempt += 1;
        inner.writer = None;
        let (mut writer, pending) = match started {
            Ok(pair) => pair,
            Err(failure) => {
                inner.pending = Some(Err(failure));
                self.changed.notify_all();
                return true;
            }
        };
        inner.pending = Some(Ok(pending));
        // A stream that failed again fails this: its response says how.
        let _ = writer.send_held(inner.replay.messages());
        if inner.replay.is_closed() {
            writer.finish(None);
        } else {
            inner.writer = Some(writer);
        }
        self.changed.notify_all();
        true
    }

    /// One half was dropped before the call ended: the call is
    /// cancelled, as dropping the request writer or the response does
    /// without a policy. The current attempt's stream is reset (CANCEL),
    /// no attempt follows, the other half fails at once and the kept
    /// messages are given back to the channel's buffer.
    fn cancel(&self) {
        let mut inner = self.lock();
        let i = &mut *inner;
        i.cancelled = true;
        let writer = i.writer.take();
        let pending = i.pending.take();
        if !i.done {
            lock(&self.channel.retry).release(&mut i.replay);
            i.reported = true;
            i.settled = Some(Err(Status::new(Code::Cancelled, "call dropped")));
            i.done = true;
        }
        self.changed.notify_all();
        drop(inner);
        // Dropped unfinished, they reset the stream.
        drop((writer, pending));
    }

    /// Tells the retrier (its throttle) how a committed call ended, once.
    fn report(&self, status: &Status) {
        let mut inner = self.lock();
        if !inner.reported {
            inner.reported = true;
            let i = &mut *inner;
            let _ = lock(&self.channel.retry).decide_streaming(
                &mut i.state,
                &mut i.replay,
                status,
                None,
            );
        }
    }
}

impl Drop for StreamRetry {
    fn drop(&mut self) {
        // The channel's retry buffer is shared: give back what this call
        // held.
        let inner = self.inner.get_mut().unwrap_or_else(|e| e.into_inner());
        lock(&self.channel.retry).release(&mut inner.replay);
    }
}

/// The hedging side of a streaming call under a hedging policy, shared
/// by its two halves: the running attempts (their request writers, the
/// handles that cancel them, and the threads waiting for their response
/// heads, which answer on one channel), what the call sent while not
/// committed (every hedge starts by sending it), and how the response
/// started once an attempt committed the call.
struct StreamHedge {
    channel: Channel,
    path: String,
    opts: CallOptions,
    deadline: Option<Instant>,
    inner: Mutex<HedgeInner>,
    /// The attempts' answers; taken by the half waiting for the
    /// response (the receiving one).
    answers: Mutex<std::sync::mpsc::Receiver<HedgeAnswer>>,
}

struct HedgeInner {
    hedging: Hedging,
    /// Counts the kept bytes against the retry buffers (no policy).
    state: RetryState,
    replay: ReplayBuffer,
    /// The running attempts' request writers (out while a `send` writes
    /// on them).
    writers: Vec<(u32, RequestWriter)>,
    cancels: Vec<(u32, Canceller)>,
    tx: Sender<HedgeAnswer>,
    /// The last non-fatal failure: the call's if no attempt does better.
    last: Option<(Status, Option<http::Response<BlockingBody>>)>,
    /// The committed attempt's request writer, for the sending half.
    writer: Option<RequestWriter>,
    /// How the response started, for the receiving half to take.
    settled: Option<Result<http::Response<BlockingBody>, Status>>,
    done: bool,
    reported: bool,
}

impl StreamHedge {
    /// A hedged call to `path`, its first attempt started.
    fn start(
        channel: &Channel,
        path: &str,
        opts: &CallOptions,
        deadline: Option<Instant>,
        policy: HedgingPolicy,
        state: RetryState,
    ) -> Arc<StreamHedge> {
        let (tx, rx) = std::sync::mpsc::channel();
        let hedging =
            Hedging::new(policy, Instant::now(), deadline).with_transparent_retries(opts.retries);
        let hedge = Arc::new(StreamHedge {
            channel: channel.clone(),
            path: path.to_owned(),
            opts: opts.clone(),
            deadline,
            inner: Mutex::new(HedgeInner {
                hedging,
                state,
                replay: ReplayBuffer::new(),
                writers: Vec::new(),
                cancels: Vec::new(),
                tx,
                last: None,
                writer: None,
                settled: None,
                done: false,
                reported: false,
            }),
            answers: Mutex::new(rx),
        });
        let mut inner = hedge.lock();
        // The first attempt opens here, as an unhedged call's does: no one
        // else has the call yet, and a first message past the retry
        // buffer then goes live on it (a hedge opened later could not
        // carry that message, and would be given up).
        let first = {
            let retry = lock(&hedge.channel.retry);
            inner.hedging.poll_start(Instant::now(), retry.throttle())
        };
        if let Some(n) = first {
            let opened = hedge.channel.start_attempt(path, opts, deadline, n);
            if let Some(pending) = hedge.join(&mut inner, n, opened) {
                let tx = inner.tx.clone();
                std::thread::spawn(move || answer(&tx, n, pending, deadline));
            }
        }
        hedge.start_due(&mut inner);
        drop(inner);
        hedge
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HedgeInner> {
        lock(&self.inner)
    }

    /// Starts the attempts that are due (each on a thread of its own,
    /// see [`start_attempt`](Self::start_attempt)).
    fn start_due(self: &Arc<Self>, inner: &mut HedgeInner) {
        loop {
            let due = {
                let retry = lock(&self.channel.retry);
                inner.hedging.poll_start(Instant::now(), retry.throttle())
            };
            let Some(n) = due else {
                return;
            };
            self.start_attempt(inner, n);
        }
    }

    /// Starts attempt `n` (again, if the server never processed it) on a
    /// thread of its own, which then waits for its response head.
    ///
    /// Opening the stream may wait for a new connection (up to the
    /// connect timeout), so it is not done under the call's lock: a
    /// `send`, `close_send` or a half dropped meanwhile need not wait for
    /// it. The stream then [joins](Self::join) the call.
    fn start_attempt(self: &Arc<Self>, inner: &HedgeInner, n: u32) {
        let tx = inner.tx.clone();
        let hedge = Arc::clone(self);
        std::thread::spawn(move || {
            let deadline = hedge.deadline;
            let opened = hedge
                .channel
                .start_attempt(&hedge.path, &hedge.opts, deadline, n);
            let pending = hedge.join(&mut hedge.lock(), n, opened);
            // Not held while waiting: the call's buffers go when its
            // halves do.
            drop(hedge);
            if let Some(pending) = pending {
                answer(&tx, n, pending, deadline);
            }
        });
    }

    /// Attempt `n`'s stream, just `opened`, joins the call (under its
    /// lock): the kept messages queued at once (they are in memory
    /// anyway, within the retry buffer), then the end of the requests if
    /// they were closed. Returns the response to wait for; `None` when
    /// there is none to wait for: the stream did not open (the failure is
    /// the attempt's answer), the call ended meanwhile (the stream is
    /// dropped, which resets it), or its kept messages outgrew the retry
    /// buffer meanwhile, so this stream could not carry what was sent
    /// before: the attempt is given up.
    fn join(
        &self,
        inner: &mut HedgeInner,
        n: u32,
        opened: Result<(RequestWriter, PendingResponse), (Status, bool)>,
    ) -> Option<PendingResponse> {
        let (mut writer, pending) = match opened {
            Ok(pair) => pair,
            Err(failure) => {
                let _ = inner.tx.send((n, Some(Err(failure))));
                return None;
            }
        };
        if inner.done {
            return None;
        }
        if inner.state.is_committed() {
            inner.hedging.abandon(n);
            let _ = inner.tx.send((n, None));
            return None;
        }
        // A stream that failed already fails this: its response says how.
        let _ = writer.send_held(inner.replay.messages());
        if inner.replay.is_closed() {
            writer.finish(None);
        } else {
            inner.writers.push((n, writer));
        }
        inner.cancels.push((n, pending.canceller()));
        Some(pending)
    }

    /// Sends a request message: kept for the hedges to come (while the
    /// retry buffer allows; past it no more start), and written on every
    /// running attempt's stream; once an attempt committed the call, on
    /// its stream only.
    fn send(self: &Arc<Self>, framed: Bytes) -> Result<(), Status> {
        let mut inner = self.lock();
        if inner.replay.is_closed() {
            return Err(Status::new(
                Code::FailedPrecondition,
                "requests already closed",
            ));
        }
        if inner.done {
            let Some(mut writer) = inner.writer.take() else {
                return Err(call_ended());
            };
            drop(inner);
            let sent = writer.send_until(framed, self.deadline);
            self.lock().writer = Some(writer);
            return sent.map_err(|e| match e {
                Error::Timeout => deadline_exceeded(),
                _ => call_ended(),
            });
        }
        // Hedges due now start first; each carries this message, kept
        // or live, whenever its stream joins the call.
        self.start_due(&mut inner);
        let i = &mut *inner;
        lock(&self.channel.retry).on_send(&mut i.state, &mut i.replay, &framed);
        if i.state.is_committed() {
            // Past the retry buffer: no attempt can be replayed any more.
            i.hedging.stop();
        }
        let mut writers = std::mem::take(&mut i.writers);
        // Not held while the connection is behind: the receiving half
        // may take answers meanwhile.
        drop(inner);
        let mut timed_out = false;
        writers.retain_mut(|(_, w)| match w.send_until(framed.clone(), self.deadline) {
            Ok(()) => true,
            Err(Error::Timeout) => {
                timed_out = true;
                true
            }
            // An attempt that ended takes nothing more; how it ended is
            // its answer.
            Err(_) => false,
        });
        let mut inner = self.lock();
        match inner.hedging.committed() {
            // Committed meanwhile: the winner's writer is the call's.
            Some(winner) if inner.done => {
                if inner.writer.is_none() && !inner.replay.is_closed() {
                    inner.writer = writers
                        .into_iter()
                        .find(|(n, _)| *n == winner)
                        .map(|(_, w)| w);
                }
            }
            _ if inner.done => {}
            _ => inner.writers.extend(writers),
        }
        if timed_out {
            return Err(deadline_exceeded());
        }
        if inner.done && inner.writer.is_none() {
            return Err(call_ended());
        }
        Ok(())
    }

    /// Ends the requests of every attempt, and of the ones to come.
    fn close_send(&self) {
        let mut inner = self.lock();
        inner.replay.close();
        for (_, w) in inner.writers.drain(..) {
            w.finish(None);
        }
        if let Some(w) = inner.writer.take() {
            w.finish(None);
        }
    }

    /// Waits for the attempts until one commits the call (response
    /// headers, OK or a fatal status) or none is left, starting hedges as
    /// they fall due; the outcome is left in `settled`.
    fn settle(self: &Arc<Self>) {
        let answers = lock(&self.answers);
        loop {
            let mut inner = self.lock();
            if inner.done {
                return;
            }
            self.start_due(&mut inner);
            if inner.hedging.is_exhausted() {
                let last = inner.last.take();
                let i = &mut *inner;
                lock(&self.channel.retry).release(&mut i.replay);
                i.settled = Some(match last {
                    Some((_, Some(response))) => Ok(response),
                    Some((status, None)) => Err(status),
                    None => Err(deadline_exceeded()),
                });
                i.done = true;
                return;
            }
            let wake = inner.hedging.poll_timeout();
            drop(inner);
            let answer = match wake {
                Some(at) => answers.recv_timeout(at.saturating_duration_since(Instant::now())),
                // An attempt is running (else the call is exhausted), and
                // `tx` is held: this ends with its answer.
                None => answers.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            let Ok((n, answer)) = answer else {
                // The next hedge is due.
                continue;
            };
            let Some(answer) = answer else {
                // An attempt given up: the call may have none left.
                continue;
            };
            let mut inner = self.lock();
            if inner.done {
                return;
            }
            let (status, response) = match answer {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    let start = ResponseHead::from_response(&parts);
                    let response = http::Response::from_parts(parts, body);
                    match start {
                        ResponseStart::Head(_) => {
                            if inner.hedging.on_headers(n) {
                                self.commit(&mut inner, n, Ok(response));
                                return;
                            }
                            // A loser: dropping its response resets it.
                            continue;
                        }
                        ResponseStart::End(status) => (status, Some(response)),
                    }
                }
                Err((status, unsent)) => {
                    // Not once the kept messages outgrew the buffer and
                    // were let go: the attempt could not be replayed.
                    if unsent
                        && !inner.state.is_committed()
                        && self.channel.transport.can_resend()
                        && inner.hedging.on_unprocessed(n)
                    {
                        inner.cancels.retain(|(m, _)| *m != n);
                        inner.writers.retain(|(m, _)| *m != n);
                        // The call's outcome if the new stream is given up
                        // (see `join`) and no other attempt does better.
                        if inner.last.is_none() {
                            inner.last = Some((status.clone(), None));
                        }
                        self.start_attempt(&inner, n);
                        continue;
                    }
                    (status, None)
                }
            };
            let headers = response.as_ref().map(|r| r.headers());
            let verdict = {
                let mut retry = lock(&self.channel.retry);
                inner
                    .hedging
                    .on_status(Instant::now(), n, &status, headers, retry.throttle_mut())
            };
            inner.writers.retain(|(m, _)| *m != n);
            if verdict == HedgeVerdict::Commit {
                self.commit(&mut inner, n, response.ok_or(status));
                return;
            }
            inner.last = Some((status, response));
        }
    }

    /// Attempt `n` is the call's (`outcome`: its response, or the status
    /// it failed with): the others are cancelled, the kept messages let
    /// go.
    fn commit(
        &self,
        inner: &mut HedgeInner,
        n: u32,
        outcome: Result<http::Response<BlockingBody>, Status>,
    ) {
        for (_, c) in inner.cancels.iter().filter(|(m, _)| *m != n) {
            c.cancel();
        }
        inner.cancels.clear();
        inner.writer = inner
            .writers
            .iter()
            .position(|(m, _)| *m == n)
            .map(|at| inner.writers.swap_remove(at).1);
        // Dropped unfinished, the losers' writers reset their streams.
        inner.writers.clear();
        lock(&self.channel.retry).release(&mut inner.replay);
        inner.settled = Some(outcome);
        inner.done = true;
    }

    /// A half was dropped before the call ended: every attempt is reset
    /// (CANCEL), none follows, and the kept messages are given back.
    fn cancel(&self) {
        let mut inner = self.lock();
        for (_, c) in inner.cancels.drain(..) {
            c.cancel();
        }
        let writers = std::mem::take(&mut inner.writers);
        let writer = inner.writer.take();
        inner.hedging.stop();
        if !inner.done {
            let i = &mut *inner;
            lock(&self.channel.retry).release(&mut i.replay);
            i.reported = true;
            i.settled = Some(Err(Status::new(Code::Cancelled, "call dropped")));
            i.done = true;
        }
        drop(inner);
        drop((writers, writer));
    }

    /// Tells the channel's throttle how a committed call ended, once.
    fn report(&self, status: &Status) {
        let mut inner = self.lock();
        if !inner.reported {
            inner.reported = true;
            let mut retry = lock(&self.channel.retry);
            inner.hedging.on_end(status, retry.throttle_mut());
        }
    }
}

impl Drop for StreamHedge {
    fn drop(&mut self) {
        // The channel's retry buffer is shared: give back what this call
        // held.
        let inner = self.inner.get_mut().unwrap_or_else(|e| e.into_inner());
        lock(&self.channel.retry).release(&mut inner.replay);
    }
}

/// Waits for attempt `n`'s response head (until `deadline`) and tells
/// the half settling the call.
fn answer(tx: &Sender<HedgeAnswer>, n: u32, pending: PendingResponse, deadline: Option<Instant>) {
    let answer = pending
        .wait_until(deadline)
        .map_err(|e| (at_deadline(failed(&e), deadline), e.is_unsent()));
    let _ = tx.send((n, Some(answer)));
}

/// What `send` says once the call ended (its status is the responses').
fn call_ended() -> Status {
    Status::new(Code::Unavailable, "the call ended")
}

/// The sending half of a streaming call.
pub struct RequestSender<Req> {
    writer: Option<RequestWriter>,
    compression: Encoding,
    /// Whether messages go compressed with `compression`.
    compress: bool,
    deadline: Option<Instant>,
    /// `Some` under a retry policy (the writer is there).
    retry: Option<Arc<StreamRetry>>,
    /// `Some` under a hedging policy (the writers are there).
    hedge: Option<Arc<StreamHedge>>,
    types: PhantomData<fn(Req)>,
}

impl<Req> Drop for RequestSender<Req> {
    fn drop(&mut self) {
        // Without a policy the writer goes with this half, resetting an
        // unfinished request; under one the call keeps it, so cancel.
        if let Some(retry) = &self.retry {
            let closed = retry.lock().replay.is_closed();
            if !closed {
                retry.cancel();
            }
        }
        if let Some(hedge) = &self.hedge {
            let closed = hedge.lock().replay.is_closed();
            if !closed {
                hedge.cancel();
            }
        }
    }
}

impl<Req> std::fmt::Debug for RequestSender<Req> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("grpc::RequestSender")
            .field("open", &self.writer.is_some())
            .finish()
    }
}

impl<Req: prost::Message> RequestSender<Req> {
    /// Sends a request message, waiting while the connection is behind
    /// (at most until the call's deadline).
    ///
    /// # Errors
    ///
    /// UNAVAILABLE if the call already ended (the server answered, the
    /// stream was reset: read the status from the responses),
    /// DEADLINE_EXCEEDED past the deadline, FAILED_PRECONDITION after
    /// [`close_send`](RequestSender::close_send).
    pub fn send(&mut self, message: &Req) -> Result<(), Status> {
        if let Some(retry) = self.retry.clone() {
            return self.send_kept(&retry, message);
        }
        if let Some(hedge) = self.hedge.clone() {
            let encoding = if self.compress {
                self.compression
            } else {
                Encoding::Identity
            };
            return hedge.send(frame(encoding, message)?);
        }
        let Some(writer) = &mut self.writer else {
            return Err(Status::new(
                Code::FailedPrecondition,
                "requests already closed",
            ));
        };
        let encoding = if self.compress {
            self.compression
        } else {
            Encoding::Identity
        };
        let framed = frame(encoding, message)?;
        writer
            .send_until(framed, self.deadline)
            .map_err(|e| match e {
                Error::Timeout => deadline_exceeded(),
                _ => Status::new(Code::Unavailable, "the call ended"),
            })
    }

    /// `send` under a retry policy: the message is kept while the call
    /// is not committed, and an attempt that ended meanwhile is retried.
    fn send_kept(&mut self, retry: &StreamRetry, message: &Req) -> Result<(), Status> {
        let encoding = if self.compress {
            self.compression
        } else {
            Encoding::Identity
        };
        let framed = frame(encoding, message)?;
        let mut inner = retry.lock();
        if inner.replay.is_closed() {
            return Err(Status::new(
                Code::FailedPrecondition,
                "requests already closed",
            ));
        }
        let i = &mut *inner;
        // Once the call is over nothing is kept: no attempt follows.
        if !i.done {
            lock(&retry.channel.retry).on_send(&mut i.state, &mut i.replay, &framed);
        }
        // Any attempt started from now on replays this message (unless
        // the call is committed, and then none starts).
        let sent_at = inner.attempt;
        let (attempt, mut writer) = loop {
            if inner.attempt != sent_at {
                return Ok(());
            }
            if let Some(writer) = inner.writer.take() {
                break (inner.attempt, writer);
            }
            if inner.done || inner.state.is_committed() {
                return Err(call_ended());
            }
            // The attempt could not start: its failure decides, and a
            // retry carries this message.
            drop(inner);
            retry.settle(true);
            inner = retry.lock();
            if inner.attempt == sent_at {
                return Err(call_ended());
            }
        };
        // Not held while the connection is behind: the other half may
        // retry meanwhile (and replay this message).
        drop(inner);
        let sent = writer.send_until(framed, self.deadline);
        let mut inner = retry.lock();
        let current = inner.attempt == attempt;
        if inner.cancelled {
            // The receiving half was dropped meanwhile: the writer goes
            // too (the stream is reset).
            return Err(call_ended());
        }
        if current {
            inner.writer = Some(writer);
        }
        match sent {
            Ok(()) => Ok(()),
            Err(Error::Timeout) => Err(deadline_exceeded()),
            // A later attempt took over, with this message kept.
            Err(_) if !current => Ok(()),
            Err(_) if inner.done || inner.state.is_committed() => Err(call_ended()),
            Err(_) => {
                // The attempt ended: how it started decides.
                drop(inner);
                retry.settle(true);
                if retry.lock().attempt == attempt {
                    Err(call_ended())
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Whether the messages sent from now on are compressed with the
    /// call's encoding ([`CallOptions::compression`]; by default they are)
    /// or sent as they are, with the compressed flag clear.
    pub fn set_compression(&mut self, compress: bool) {
        self.compress = compress;
    }

    /// Ends the request stream (END_STREAM).
    pub fn close_send(&mut self) {
        if let Some(writer) = self.writer.take() {
            writer.finish(None);
        }
        if let Some(retry) = &self.retry {
            let mut inner = retry.lock();
            inner.replay.close();
            if let Some(writer) = inner.writer.take() {
                writer.finish(None);
            }
        }
        if let Some(hedge) = &self.hedge {
            hedge.close_send();
        }
    }
}

/// The receiving half of a streaming call.
pub struct ResponseReceiver<Resp> {
    pending: Option<PendingResponse>,
    started: Option<(Metadata, Streaming<Resp>)>,
    failed: Option<Status>,
    opts: CallOptions,
    deadline: Option<Instant>,
    /// `Some` under a retry policy (the pending response is there).
    retry: Option<Arc<StreamRetry>>,
    /// `Some` under a hedging policy (the attempts are there).
    hedge: Option<Arc<StreamHedge>>,
}

impl<Resp> Drop for ResponseReceiver<Resp> {
    fn drop(&mut self) {
        // Without a policy the pending response goes with this half,
        // resetting the stream; under one the call keeps it, so cancel
        // (nothing left to reset once the call ended).
        if let Some(retry) = &self.retry {
            retry.cancel();
        }
        if let Some(hedge) = &self.hedge {
            hedge.cancel();
        }
    }
}

impl<Resp> std::fmt::Debug for ResponseReceiver<Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("grpc::ResponseReceiver")
            .field("started", &self.started.is_some())
            .field("failed", &self.failed)
            .finish()
    }
}

impl<Resp: prost::Message + Default> ResponseReceiver<Resp> {
    fn ensure_started(&mut self) -> Result<(), Status> {
        if let Some(pending) = self.pending.take() {
            match Channel::response(pending, &self.opts, self.deadline) {
                Ok(pair) => self.started = Some(pair),
                Err(e) => self.failed = Some(at_deadline(failed(&e), self.deadline)),
            }
        }
        let settled = if self.started.is_some() || self.failed.is_some() {
            None
        } else if let Some(retry) = &self.retry {
            retry.settle(false);
            Some(retry.lock().settled.take())
        } else if let Some(hedge) = &self.hedge {
            hedge.settle();
            Some(hedge.lock().settled.take())
        } else {
            None
        };
        if let Some(settled) = settled {
            match settled {
                Some(Ok(response)) => {
                    self.started = Some(
                        match Channel::started(response, false, &self.opts, self.deadline) {
                            Started::Head(metadata, stream) => (metadata, stream),
                            Started::TrailersOnly(status, headers) => {
                                (Metadata::new(), Streaming::finished(status, headers))
                            }
                        },
                    );
                }
                Some(Err(status)) => self.failed = Some(status),
                None => self.failed = Some(Status::new(Code::Internal, "no response")),
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
    pub fn metadata(&mut self) -> Result<Metadata, Status> {
        self.ensure_started()?;
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
    pub fn message(&mut self) -> Result<Option<Resp>, Status> {
        self.ensure_started()?;
        let result = match &mut self.started {
            Some((_, stream)) => stream.message(),
            None => Ok(None),
        };
        let ended = match &result {
            Ok(Some(_)) => None,
            Ok(None) => Some(Status::ok()),
            Err(status) => Some(status.clone()),
        };
        if let Some(status) = ended {
            self.report(&status);
        }
        result
    }

    /// The trailers the call ended with, once it ended.
    pub fn trailers(&self) -> Option<&HeaderMap> {
        self.started.as_ref().and_then(|(_, s)| s.trailers())
    }

    /// Tells the channel's throttle how the call ended, once.
    fn report(&self, status: &Status) {
        if let Some(retry) = &self.retry {
            retry.report(status);
        }
        if let Some(hedge) = &self.hedge {
            hedge.report(status);
        }
    }
}

/// A bidi- (or client-) streaming call in progress. Dropping it before
/// the end cancels the call.
pub struct StreamingCall<Req, Resp> {
    sender: RequestSender<Req>,
    receiver: ResponseReceiver<Resp>,
}

impl<Req, Resp> std::fmt::Debug for StreamingCall<Req, Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("grpc::StreamingCall")
            .field("sender", &self.sender)
            .field("receiver", &self.receiver)
            .finish()
    }
}

impl<Req: prost::Message, Resp: prost::Message + Default> StreamingCall<Req, Resp> {
    /// Sends a request message (see [`RequestSender::send`]).
    ///
    /// # Errors
    ///
    /// As [`RequestSender::send`].
    pub fn send(&mut self, message: &Req) -> Result<(), Status> {
        self.sender.send(message)
    }

    /// Ends the request stream (END_STREAM).
    pub fn close_send(&mut self) {
        self.sender.close_send();
    }

    /// Whether the messages sent from now on are compressed (see
    /// [`RequestSender::set_compression`]).
    pub fn set_compression(&mut self, compress: bool) {
        self.sender.set_compression(compress);
    }

    /// The response's initial metadata (see [`ResponseReceiver::metadata`]).
    ///
    /// # Errors
    ///
    /// As [`ResponseReceiver::metadata`].
    pub fn metadata(&mut self) -> Result<Metadata, Status> {
        self.receiver.metadata()
    }

    /// The next response message (see [`ResponseReceiver::message`]).
    ///
    /// # Errors
    ///
    /// As [`ResponseReceiver::message`].
    pub fn message(&mut self) -> Result<Option<Resp>, Status> {
        self.receiver.message()
    }

    /// The trailers the call ended with, once it ended.
    pub fn trailers(&self) -> Option<&HeaderMap> {
        self.receiver.trailers()
    }

    /// The two halves, to send from one thread and receive on another.
    /// Dropping either before the call ended cancels it.
    pub fn split(self) -> (RequestSender<Req>, ResponseReceiver<Resp>) {
        (self.sender, self.receiver)
    }
}

/// A client-streaming call in progress: send requests, then
/// [`finish`](ClientStreamingCall::finish) for the response.
pub struct ClientStreamingCall<Req, Resp> {
    call: StreamingCall<Req, Resp>,
}

impl<Req, Resp> std::fmt::Debug for ClientStreamingCall<Req, Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.call.fmt(f)
    }
}

impl<Req: prost::Message, Resp: prost::Message + Default> ClientStreamingCall<Req, Resp> {
    /// Sends a request message (see [`RequestSender::send`]).
    ///
    /// # Errors
    ///
    /// As [`RequestSender::send`].
    pub fn send(&mut self, message: &Req) -> Result<(), Status> {
        self.call.send(message)
    }

    /// Whether the messages sent from now on are compressed (see
    /// [`RequestSender::set_compression`]).
    pub fn set_compression(&mut self, compress: bool) {
        self.call.set_compression(compress);
    }

    /// Ends the requests and waits for the response.
    ///
    /// # Errors
    ///
    /// The status the call ended with when not OK.
    pub fn finish(mut self) -> Result<Response<Resp>, Status> {
        self.call.close_send();
        let receiver = &mut self.call.receiver;
        receiver.ensure_started()?;
        let Some((metadata, stream)) = receiver.started.take() else {
            return Err(Status::new(Code::Internal, "no response"));
        };
        let response = single_response(metadata, stream);
        receiver.report(response.as_ref().err().unwrap_or(&Status::ok()));
        response
    }
}
