//! The gRPC server: a router of typed handlers, served as an HTTP handler.

use super::streaming::{Side, Streaming, encode_into, read_one};
use crate::fxhash::FxBuild;
use crate::http1::Handler;
use crate::{Body, BoxFuture, Frame, Runtime, Sleep};
use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use http::HeaderMap;
use http::header::CONTENT_TYPE;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;
use wirestate_grpc::accept::{AcceptConfig, Accepted, accept};
use wirestate_grpc::{
    Code, ContentType, DEFAULT_MAX_MESSAGE_SIZE, Encoding, Metadata, RequestHead, ResponseHead,
    Status, WebMode, deadline_after, encode_web_text, encode_web_trailers, trailers_only,
};

/// Response bytes queued ahead of the connection before
/// [`ResponseSink::send`] waits.
const SINK_BUFFER: usize = 64 * 1024;

/// What a streaming sink's queue grows by when it holds messages and is out
/// of room: all it may queue, and a message more, so that it is not grown
/// (and copied) by doubling a dozen times a call as small messages come.
const SINK_RESERVE: usize = SINK_BUFFER + 4 * 1024;

/// Whether a request is gRPC or gRPC-Web (its content type is
/// `application/grpc…`): what a combined HTTP handler routes to a
/// [`Server`].
pub fn is_grpc<B>(req: &http::Request<B>) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// An incoming call: the request message (or stream), its metadata and
/// its deadline.
#[derive(Debug)]
pub struct Request<T> {
    /// Custom metadata the client sent (reserved headers left out).
    pub metadata: Metadata,
    /// The message, or the message stream of a client-streaming call.
    pub message: T,
    /// When the call expires (from `grpc-timeout`), on the runtime's clock.
    pub deadline: Option<Instant>,
}

impl<T> Request<T> {
    /// A request with no metadata and no deadline.
    pub fn new(message: T) -> Self {
        Self {
            metadata: Metadata::new(),
            message,
            deadline: None,
        }
    }

    /// The message.
    pub fn into_inner(self) -> T {
        self.message
    }
}

/// A handler's answer to a unary or client-streaming call.
#[derive(Debug, Clone, Default)]
pub struct Response<T> {
    /// Initial metadata (response headers).
    pub metadata: Metadata,
    /// The message.
    pub message: T,
    /// Trailing metadata (sent with the OK status).
    pub trailers: Metadata,
}

impl<T> Response<T> {
    /// A response with no metadata.
    pub fn new(message: T) -> Self {
        Self {
            metadata: Metadata::new(),
            message,
            trailers: Metadata::new(),
        }
    }
}

/// What a call's handler and its response body share.
#[derive(Default)]
struct CallState {
    /// Framed messages not yet taken by the connection, back to back:
    /// the sink encodes each message into it, and the response body takes
    /// everything there as one chunk (no allocation per message, and the
    /// connection gets whole frames' worth instead of gathering them).
    queue: BytesMut,
    /// The response head may go out (a message was sent, or the handler
    /// asked for it).
    head: bool,
    /// A streaming handler is running: the head goes out as soon as it
    /// waits for something (as tonic sends it when the handler returns its
    /// stream), so that clients that wait for the head before sending
    /// their first message do not deadlock.
    eager_head: bool,
    metadata: Metadata,
    trailers: Metadata,
    /// Whether messages are compressed with the call's encoding (when it
    /// is not identity): the server's default, which a handler may change
    /// message by message.
    compress: bool,
    /// The handler, waiting for room in the queue.
    waiter: Option<Waker>,
}

type Shared = Arc<Mutex<CallState>>;

fn lock(s: &Shared) -> MutexGuard<'_, CallState> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where a server- or bidi-streaming handler sends its messages. The
/// response head, with the initial metadata, goes out with the first
/// message, or as soon as the handler first waits (for a request message,
/// a timer, …), or when it ends: set the metadata before any of these.
pub struct ResponseSink<T> {
    shared: Shared,
    encoding: Encoding,
    /// What the queue grows by at least (see [`encode_into`]): a batch for
    /// streaming calls, nothing more than the message for unary ones.
    room: usize,
    types: PhantomData<fn(T)>,
}

impl<T> std::fmt::Debug for ResponseSink<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseSink")
            .field("encoding", &self.encoding)
            .finish()
    }
}

impl<T: prost::Message> ResponseSink<T> {
    fn new(shared: Shared, encoding: Encoding, room: usize) -> Self {
        Self {
            shared,
            encoding,
            room,
            types: PhantomData,
        }
    }

    /// Sends a message, waiting while the connection is behind.
    ///
    /// # Errors
    ///
    /// INTERNAL if the message cannot be framed (4 GiB or more).
    pub async fn send(&mut self, message: T) -> Result<(), Status> {
        let mut message = Some(message);
        std::future::poll_fn(|cx| {
            let mut st = lock(&self.shared);
            if st.queue.len() >= SINK_BUFFER {
                st.waiter = Some(cx.waker().clone());
                return Poll::Pending;
            }
            if let Some(message) = message.take() {
                let compress = st.compress;
                encode_into(&message, self.encoding, compress, &mut st.queue, self.room)?;
            }
            st.head = true;
            Poll::Ready(Ok(()))
        })
        .await
    }

    /// Sets the initial metadata (before the first message).
    pub fn set_metadata(&mut self, metadata: Metadata) {
        lock(&self.shared).metadata = metadata;
    }

    /// Sends the response head now, without waiting for a message.
    pub fn send_head(&mut self) {
        lock(&self.shared).head = true;
    }

    /// Sets the trailing metadata sent with the status.
    pub fn set_trailers(&mut self, trailers: Metadata) {
        lock(&self.shared).trailers = trailers;
    }

    /// Whether the messages sent from now on are compressed with the
    /// call's encoding: by default they are if the server was built with
    /// [`Server::send_compressed`] and not if with
    /// [`Server::offer_compression`]. No effect when the call's encoding is
    /// identity (the client does not accept the server's).
    pub fn set_compression(&mut self, compress: bool) {
        lock(&self.shared).compress = compress;
    }
}

/// What a unary handler routed with [`Server::unary_with`] gets besides
/// its request: how the request message came, and a say in how the
/// response message goes.
pub struct UnaryCall {
    request_compressed: bool,
    shared: Shared,
}

impl std::fmt::Debug for UnaryCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnaryCall")
            .field("request_compressed", &self.request_compressed)
            .finish()
    }
}

impl UnaryCall {
    /// Whether the request message came flagged compressed.
    pub fn request_compressed(&self) -> bool {
        self.request_compressed
    }

    /// Whether the response message is compressed with the call's
    /// encoding (see [`ResponseSink::set_compression`]).
    pub fn set_compression(&self, compress: bool) {
        lock(&self.shared).compress = compress;
    }
}

/// Everything a call's handler gets.
struct Call {
    head: RequestHead,
    body: Body,
    deadline: Option<Instant>,
    shared: Shared,
    out_encoding: Encoding,
    web: Option<WebMode>,
    max: usize,
}

impl Call {
    fn stream<T: prost::Message + Default>(&mut self) -> Streaming<T> {
        Streaming::new(
            std::mem::take(&mut self.body),
            self.web,
            self.head.encoding,
            self.max,
            Side::Server,
        )
    }

    fn request<T>(&mut self, message: T) -> Request<T> {
        Request {
            metadata: std::mem::take(&mut self.head.metadata),
            message,
            deadline: self.deadline,
        }
    }

    /// The sink of a unary or client-streaming call (one message).
    fn sink<T: prost::Message>(&self) -> ResponseSink<T> {
        ResponseSink::new(self.shared.clone(), self.out_encoding, 0)
    }

    /// The sink of a server- or bidi-streaming call.
    fn stream_sink<T: prost::Message>(&self) -> ResponseSink<T> {
        ResponseSink::new(self.shared.clone(), self.out_encoding, SINK_RESERVE)
    }
}

type Route = Arc<dyn Fn(Call) -> BoxFuture<Result<(), Status>> + Send + Sync>;

/// Checks (and may rewrite) every call's head before its handler runs:
/// the same for every runtime, from `wirestate-grpc`.
pub use wirestate_grpc::accept::Interceptor;

/// An interceptor that may wait — on a token store, a rate limiter, a
/// remote policy service — before it lets a call through: it takes the
/// call's head and gives it back (possibly rewritten) or refuses the call
/// with a status. See [`Server::async_interceptor`].
pub type AsyncInterceptor =
    Arc<dyn Fn(RequestHead) -> BoxFuture<Result<RequestHead, Status>> + Send + Sync>;

#[derive(Clone)]
struct Inner<R> {
    rt: R,
    routes: HashMap<String, Route, FxBuild>,
    interceptors: Vec<Interceptor>,
    async_interceptors: Vec<AsyncInterceptor>,
    max_message_size: usize,
    compression: Encoding,
    /// Whether messages are compressed with `compression` unless a handler
    /// says otherwise.
    compress_default: bool,
}

/// A gRPC server: routes `/package.Service/Method` to typed handlers, and
/// is an HTTP [`Handler`] for the handler server (gRPC over HTTP/2,
/// gRPC-Web binary and text over HTTP/1.1 or HTTP/2).
///
/// ```no_run
/// # fn demo<R: wirestate_rt::Runtime>(rt: R) {
/// use wirestate_rt::grpc::{Request, Response, Server, Status};
/// # #[derive(Clone, PartialEq, prost::Message)] struct Ping { #[prost(string, tag = "1")] text: String }
/// let server = Server::new(rt).unary("/demo.Pinger/Ping", |req: Request<Ping>| async move {
///     Ok::<_, Status>(Response::new(req.message))
/// });
/// # }
/// ```
pub struct Server<R> {
    inner: Arc<Inner<R>>,
}

impl<R> Clone for Server<R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<R> std::fmt::Debug for Server<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut routes: Vec<&String> = self.inner.routes.keys().collect();
        routes.sort();
        f.debug_struct("grpc::Server")
            .field("routes", &routes)
            .finish()
    }
}

impl<R: Runtime> Server<R> {
    /// A server with no routes, taking deadlines from `rt`'s clock.
    pub fn new(rt: R) -> Self {
        Self {
            inner: Arc::new(Inner {
                rt,
                routes: HashMap::default(),
                interceptors: Vec::new(),
                async_interceptors: Vec::new(),
                max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
                compression: Encoding::Identity,
                compress_default: true,
            }),
        }
    }

    fn inner_mut(&mut self) -> &mut Inner<R> {
        Arc::make_mut(&mut self.inner)
    }

    /// The largest request message accepted, compressed or not (4 MiB by
    /// default); larger ones end the call with RESOURCE_EXHAUSTED.
    pub fn max_message_size(mut self, max: usize) -> Self {
        self.inner_mut().max_message_size = max;
        self
    }

    /// Compresses responses with `encoding` when the client accepts it
    /// (identity by default).
    pub fn send_compressed(mut self, encoding: Encoding) -> Self {
        let inner = self.inner_mut();
        inner.compression = encoding;
        inner.compress_default = true;
        self
    }

    /// Declares `encoding` in the response head when the client accepts
    /// it, but sends messages uncompressed unless a handler asks for
    /// compression, message by message ([`ResponseSink::set_compression`],
    /// [`UnaryCall::set_compression`]): for services where the request
    /// says whether its response is worth compressing (the interop
    /// `TestService`'s `response_compressed`).
    pub fn offer_compression(mut self, encoding: Encoding) -> Self {
        let inner = self.inner_mut();
        inner.compression = encoding;
        inner.compress_default = false;
        self
    }

    /// Adds an interceptor, run on every call's head in the order added:
    /// it may rewrite the head (metadata, encoding, timeout), and
    /// `Some(status)` refuses the call with that status (authentication,
    /// rate limits), before any handler runs.
    pub fn interceptor(
        mut self,
        f: impl Fn(&mut RequestHead) -> Option<Status> + Send + Sync + 'static,
    ) -> Self {
        self.inner_mut().interceptors.push(Arc::new(f));
        self
    }

    /// Adds an interceptor that may wait before it decides, run on every
    /// call's head in the order added, after the plain
    /// [`interceptor`](Self::interceptor)s and before the handler. It
    /// returns the head (possibly rewritten: metadata, timeout) or
    /// `Err(status)` to refuse the call. The time it takes counts against
    /// the call's deadline, measured from the call's arrival: a call
    /// whose deadline passes while an interceptor waits ends with
    /// DEADLINE_EXCEEDED. The route and the response encoding are decided
    /// before async interceptors run.
    ///
    /// ```no_run
    /// # fn demo<R: wirestate_rt::Runtime>(server: wirestate_rt::grpc::Server<R>) {
    /// use wirestate_rt::grpc::{Code, RequestHead, Status};
    /// # async fn lookup(_token: &[u8]) -> Option<String> { None }
    /// let server = server.async_interceptor(|mut head: RequestHead| async move {
    ///     let token = head.metadata.get("authorization").map(|v| v.as_bytes().to_vec());
    ///     match lookup(token.as_deref().unwrap_or_default()).await {
    ///         Some(user) => {
    ///             head.metadata.insert("x-user", &user).ok();
    ///             Ok(head)
    ///         }
    ///         None => Err(Status::new(Code::Unauthenticated, "bad token")),
    ///     }
    /// });
    /// # }
    /// ```
    pub fn async_interceptor<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(RequestHead) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<RequestHead, Status>> + Send + 'static,
    {
        self.inner_mut()
            .async_interceptors
            .push(Arc::new(move |head| Box::pin(f(head))));
        self
    }

    /// Runs the async interceptors on `head` in order, bounded by the
    /// deadline `head`'s timeout sets from `arrived`.
    async fn intercept(
        &self,
        mut head: RequestHead,
        arrived: Instant,
    ) -> Result<RequestHead, Status> {
        let rt = &self.inner.rt;
        for interceptor in &self.inner.async_interceptors {
            let head_deadline = head.timeout.and_then(|t| deadline_after(arrived, t));
            let check = interceptor(head);
            head = match head_deadline {
                Some(deadline) => crate::timeout(rt, deadline, check)
                    .await
                    .unwrap_or_else(|| Err(deadline_exceeded()))?,
                None => check.await?,
            };
        }
        Ok(head)
    }

    fn route(mut self, path: &str, route: Route) -> Self {
        self.inner_mut().routes.insert(path.to_owned(), route);
        self
    }

    /// Whether a method is routed.
    pub fn has_route(&self, path: &str) -> bool {
        self.inner.routes.contains_key(path)
    }

    /// Routes a unary method (`path` like `/package.Service/Method`).
    pub fn unary<Req, Resp, F, Fut>(self, path: &str, f: F) -> Self
    where
        Req: prost::Message + Default + 'static,
        Resp: prost::Message + 'static,
        F: Fn(Request<Req>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<Resp>, Status>> + Send + 'static,
    {
        let f = Arc::new(f);
        self.route(
            path,
            Arc::new(move |mut call: Call| {
                let f = f.clone();
                Box::pin(async move {
                    let message = read_one(&mut call.stream::<Req>()).await?;
                    let sink = call.sink();
                    let response = f(call.request(message)).await?;
                    reply(sink, response).await
                })
            }),
        )
    }

    /// Routes a unary method whose handler also gets a [`UnaryCall`]:
    /// whether the request came compressed, and per-message control over
    /// the response's compression.
    pub fn unary_with<Req, Resp, F, Fut>(self, path: &str, f: F) -> Self
    where
        Req: prost::Message + Default + 'static,
        Resp: prost::Message + 'static,
        F: Fn(Request<Req>, UnaryCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<Resp>, Status>> + Send + 'static,
    {
        let f = Arc::new(f);
        self.route(
            path,
            Arc::new(move |mut call: Call| {
                let f = f.clone();
                Box::pin(async move {
                    let mut stream = call.stream::<Req>();
                    let message = read_one(&mut stream).await?;
                    let unary = UnaryCall {
                        request_compressed: stream.last_compressed(),
                        shared: call.shared.clone(),
                    };
                    let sink = call.sink();
                    let response = f(call.request(message), unary).await?;
                    reply(sink, response).await
                })
            }),
        )
    }

    /// Routes a server-streaming method.
    pub fn server_streaming<Req, Resp, F, Fut>(self, path: &str, f: F) -> Self
    where
        Req: prost::Message + Default + 'static,
        Resp: prost::Message + 'static,
        F: Fn(Request<Req>, ResponseSink<Resp>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Status>> + Send + 'static,
    {
        let f = Arc::new(f);
        self.route(
            path,
            Arc::new(move |mut call: Call| {
                let f = f.clone();
                Box::pin(async move {
                    let message = read_one(&mut call.stream::<Req>()).await?;
                    let sink = call.stream_sink();
                    lock(&call.shared).eager_head = true;
                    f(call.request(message), sink).await
                })
            }),
        )
    }

    /// Routes a client-streaming method.
    pub fn client_streaming<Req, Resp, F, Fut>(self, path: &str, f: F) -> Self
    where
        Req: prost::Message + Default + 'static,
        Resp: prost::Message + 'static,
        F: Fn(Request<Streaming<Req>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Response<Resp>, Status>> + Send + 'static,
    {
        let f = Arc::new(f);
        self.route(
            path,
            Arc::new(move |mut call: Call| {
                let f = f.clone();
                Box::pin(async move {
                    let stream = call.stream::<Req>();
                    let sink = call.sink();
                    let response = f(call.request(stream)).await?;
                    reply(sink, response).await
                })
            }),
        )
    }

    /// Routes a bidirectional-streaming method.
    pub fn bidi_streaming<Req, Resp, F, Fut>(self, path: &str, f: F) -> Self
    where
        Req: prost::Message + Default + 'static,
        Resp: prost::Message + 'static,
        F: Fn(Request<Streaming<Req>>, ResponseSink<Resp>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Status>> + Send + 'static,
    {
        let f = Arc::new(f);
        self.route(
            path,
            Arc::new(move |mut call: Call| {
                let f = f.clone();
                Box::pin(async move {
                    let stream = call.stream::<Req>();
                    let sink = call.stream_sink();
                    lock(&call.shared).eager_head = true;
                    f(call.request(stream), sink).await
                })
            }),
        )
    }

    /// Answers one HTTP request as a gRPC call.
    async fn serve(self, req: http::Request<Body>) -> http::Response<Body> {
        let (parts, body) = req.into_parts();
        let inner = &self.inner;
        let routed = |path: &str| inner.routes.get(path).cloned();
        let Accepted {
            head,
            route,
            web,
            encoding: out_encoding,
        } = match accept(
            &parts,
            &inner.interceptors,
            routed,
            // The handlers decode with prost: protobuf calls only (415
            // for another message format).
            &AcceptConfig::new(inner.compression),
        ) {
            Ok(call) => call,
            Err(refused) => {
                tracing::debug!(%refused, "grpc call refused");
                return http::Response::from_parts(refused.to_response(), Body::empty());
            }
        };
        let content_type = head.content_type.clone();
        let rt = &self.inner.rt;
        let arrived = rt.now();
        let head = if inner.async_interceptors.is_empty() {
            head
        } else {
            match self.intercept(head, arrived).await {
                Ok(head) => head,
                Err(status) => {
                    tracing::debug!(%status, "grpc call refused by an interceptor");
                    return ended(&status, &content_type, &Metadata::new());
                }
            }
        };
        // A zero `grpc-timeout` has expired on arrival: the handler is not
        // run. The deadline timer alone would race it: a sleep until "now"
        // may wait for the timer's next tick, and a quick handler whose
        // request is already in would finish first, answering OK.
        if head.timeout.is_some_and(|t| t.is_zero()) {
            return ended(&deadline_exceeded(), &content_type, &Metadata::new());
        }
        let deadline = head.timeout.and_then(|t| deadline_after(arrived, t));
        let shared = Shared::default();
        lock(&shared).compress = self.inner.compress_default;
        let call = Call {
            head,
            body,
            deadline,
            shared: shared.clone(),
            out_encoding,
            web,
            max: self.inner.max_message_size,
        };
        let mut running = Running {
            handler: Some(route(call)),
            sleep: deadline.map(|d| rt.sleep_until(d)),
            status: None,
            shared,
        };
        std::future::poll_fn(|cx| running.poll_head(cx)).await;
        let (metadata, nothing_sent) = {
            let mut st = lock(&running.shared);
            (std::mem::take(&mut st.metadata), st.queue.is_empty())
        };
        if running.handler.is_none() && nothing_sent {
            let status = final_status(&mut running);
            return ended(&status, &content_type, &metadata);
        }
        let head = ResponseHead {
            content_type,
            encoding: out_encoding,
            metadata,
            ..Default::default()
        };
        let body = CallBody {
            running,
            web,
            done: false,
        };
        http::Response::from_parts(head.to_response(), Body::from_frames(body))
    }
}

/// The status of a call whose deadline passed.
fn deadline_exceeded() -> Status {
    Status::new(Code::DeadlineExceeded, "deadline exceeded")
}

/// How the call ended, with its trailing metadata: the status's own if it
/// has some (a handler failing with metadata), else what the handler set
/// on its sink.
fn final_status(running: &mut Running) -> Status {
    let status = running.status.take().unwrap_or_else(Status::ok);
    if status.metadata.is_empty() {
        let trailers = std::mem::take(&mut lock(&running.shared).trailers);
        status.with_metadata(trailers)
    } else {
        status
    }
}

/// A call that ends before any message: trailers-only (for gRPC-Web, the
/// same fields as headers, no body).
fn ended(status: &Status, content_type: &ContentType, metadata: &Metadata) -> http::Response<Body> {
    let mut parts = trailers_only(status, content_type);
    metadata.append_to(&mut parts.headers);
    http::Response::from_parts(parts, Body::empty())
}

/// Sends a unary or client-streaming handler's response.
async fn reply<T: prost::Message>(
    mut sink: ResponseSink<T>,
    response: Response<T>,
) -> Result<(), Status> {
    sink.set_metadata(response.metadata);
    sink.set_trailers(response.trailers);
    sink.send(response.message).await
}

/// A call in progress: the handler's future and the deadline.
struct Running {
    handler: Option<BoxFuture<Result<(), Status>>>,
    sleep: Option<Pin<Box<dyn Sleep>>>,
    /// How the handler ended.
    status: Option<Status>,
    shared: Shared,
}

impl Running {
    /// Polls the handler (and the deadline); true once it has ended.
    fn poll_handler(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(handler) = &mut self.handler else {
            return true;
        };
        if let Some(sleep) = &mut self.sleep
            && sleep.as_mut().poll(cx).is_ready()
        {
            // Past the deadline: the handler is dropped (cancelled) and
            // whatever it queued is not sent.
            self.handler = None;
            let mut st = lock(&self.shared);
            st.queue.clear();
            self.status = Some(deadline_exceeded());
            return true;
        }
        match handler.as_mut().poll(cx) {
            Poll::Ready(result) => {
                self.handler = None;
                self.sleep = None;
                self.status = Some(match result {
                    Ok(()) => Status::ok(),
                    Err(status) => status,
                });
                true
            }
            Poll::Pending => false,
        }
    }

    fn poll_head(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.poll_handler(cx) || {
            let st = lock(&self.shared);
            st.head || st.eager_head
        } {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// The response body of a call: the handler's messages as it sends them,
/// then the status (HTTP/2 trailers, or the gRPC-Web trailers frame). The
/// handler runs as the body is polled; dropping the body (the client reset
/// the stream or went away) drops the handler.
struct CallBody {
    running: Running,
    web: Option<WebMode>,
    done: bool,
}

impl CallBody {
    fn data(&self, bytes: Bytes) -> Frame {
        match self.web {
            Some(WebMode::Text) => {
                let mut out = BytesMut::new();
                encode_web_text(&bytes, &mut out);
                Frame::Data(out.freeze())
            }
            _ => Frame::Data(bytes),
        }
    }

    fn trailers(&mut self) -> Frame {
        let status = final_status(&mut self.running);
        let mut trailers = HeaderMap::new();
        status.to_trailers(&mut trailers);
        if self.web.is_none() {
            return Frame::Trailers(trailers);
        }
        let mut out = BytesMut::new();
        if let Err(e) = encode_web_trailers(&trailers, &mut out) {
            tracing::warn!(error = %e, "grpc-web trailers not encodable");
        }
        self.data(out.freeze())
    }
}

impl Stream for CallBody {
    type Item = io::Result<Frame>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            let next = {
                let mut st = lock(&this.running.shared);
                if st.queue.is_empty() {
                    None
                } else {
                    // Everything queued, as one chunk; the queue keeps the
                    // rest of its buffer for the next messages.
                    let all = st.queue.split().freeze();
                    if let Some(w) = st.waiter.take() {
                        w.wake();
                    }
                    Some(all)
                }
            };
            if let Some(bytes) = next {
                return Poll::Ready(Some(Ok(this.data(bytes))));
            }
            if this.running.handler.is_none() {
                this.done = true;
                return Poll::Ready(Some(Ok(this.trailers())));
            }
            let ended = this.running.poll_handler(cx);
            if !ended && lock(&this.running.shared).queue.is_empty() {
                return Poll::Pending;
            }
        }
    }
}

impl<R: Runtime> Handler for Server<R> {
    type Future = BoxFuture<http::Response<Body>>;

    fn call(&self, req: http::Request<Body>) -> Self::Future {
        Box::pin(self.clone().serve(req))
    }
}
