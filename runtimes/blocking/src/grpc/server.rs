//! The blocking gRPC server: a router of plain functions, served as an
//! HTTP [`Handler`].

use super::streaming::{Side, Streaming, deadline_exceeded, read_one};
use crate::{BlockingBody, Body, Handler};
use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http::header::CONTENT_TYPE;
use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use wirestate_grpc::accept::{AcceptConfig, Accepted, accept};
use wirestate_grpc::{
    ContentType, DEFAULT_MAX_MESSAGE_SIZE, Encoding, Metadata, RequestHead, ResponseHead, Status,
    WebMode, deadline_after, encode_message_with, encode_web_text, encode_web_trailers,
    trailers_only,
};

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
pub struct Request<T> {
    /// Custom metadata the client sent (reserved headers left out).
    pub metadata: Metadata,
    /// The message, or the message stream of a client- or bidi-streaming
    /// call.
    pub message: T,
    /// When the call expires (from `grpc-timeout`).
    pub deadline: Option<Instant>,
    /// The request body, read to its end, kept to tell whether the client
    /// went away (unary and server-streaming calls).
    body: Option<BlockingBody>,
    /// The request message came flagged compressed (unary and
    /// server-streaming calls).
    compressed: bool,
    compression: ResponseCompression,
}

/// Whether a call's response messages are compressed with the call's
/// encoding (when the client accepts one): the server's default
/// ([`Server::send_compressed`] or [`Server::offer_compression`]), which a
/// handler may change message by message — a streaming handler's iterator
/// may hold a clone and set it before yielding each message, since each
/// message is framed as it is yielded.
#[derive(Debug, Clone)]
pub struct ResponseCompression(Arc<AtomicBool>);

impl ResponseCompression {
    /// Compresses the messages framed from now on (`true`), or sends them
    /// as they are (`false`).
    pub fn set(&self, compress: bool) {
        self.0.store(compress, Ordering::Relaxed);
    }

    /// Whether messages are compressed now.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Request<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("grpc::Request")
            .field("metadata", &self.metadata)
            .field("message", &self.message)
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl<T> Request<T> {
    /// A request with no metadata and no deadline.
    pub fn new(message: T) -> Self {
        Self {
            metadata: Metadata::new(),
            message,
            deadline: None,
            body: None,
            compressed: false,
            compression: ResponseCompression(Arc::new(AtomicBool::new(true))),
        }
    }

    /// Whether the request message came flagged compressed on the wire
    /// (unary and server-streaming calls; for streams, see
    /// [`Streaming::last_compressed`]).
    pub fn message_compressed(&self) -> bool {
        self.compressed
    }

    /// The control over the response messages' compression.
    pub fn response_compression(&self) -> ResponseCompression {
        self.compression.clone()
    }

    /// The message.
    pub fn into_inner(self) -> T {
        self.message
    }

    /// Whether the call is over for the client: its deadline passed, or
    /// it cancelled the call (reset the stream, closed the connection;
    /// a gRPC-Web client on HTTP/1.1 hung up, even its write side only).
    /// A handler that runs long (a server stream that waits for events)
    /// checks it now and then; for a client- or bidi-streaming call,
    /// [`Streaming::is_aborted`] tells about cancellation.
    pub fn is_cancelled(&self) -> bool {
        // Over HTTP/1.1 a gRPC call is gRPC-Web: a client ending its side
        // is gone (as hyper, and the async server, take it).
        self.deadline.is_some_and(|d| Instant::now() >= d)
            || self
                .body
                .as_ref()
                .is_some_and(|b| b.is_aborted() || b.is_peer_closed())
    }
}

/// A handler's answer: initial metadata, the message (or, for server- and
/// bidi-streaming methods, an iterator of messages) and trailing metadata
/// sent with the OK status.
#[derive(Debug, Clone, Default)]
pub struct Response<T> {
    /// Initial metadata (response headers).
    pub metadata: Metadata,
    /// The message, or the messages.
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

/// The responses of a server- or bidi-streaming handler as one type: what
/// the server traits `wirestate-codegen` generates for this runtime
/// ([`Config::blocking`](https://docs.rs/wirestate-codegen)) return.
/// Handlers routed with closures may return any iterator.
pub type Responses<T> = Box<dyn Iterator<Item = Result<T, Status>> + Send>;

/// The framed messages of a reply, pulled as the connection sends them.
type Frames = Box<dyn Iterator<Item = Result<Bytes, Status>> + Send>;

/// What a route answers: metadata, the framed messages, trailing metadata.
struct Reply {
    metadata: Metadata,
    frames: Frames,
    trailers: Metadata,
}

/// Everything a route gets.
struct Call {
    head: RequestHead,
    body: BlockingBody,
    deadline: Option<Instant>,
    web: Option<WebMode>,
    max: usize,
    out_encoding: Encoding,
    compression: ResponseCompression,
}

impl Call {
    fn stream<T: prost::Message + Default>(&mut self) -> Streaming<T> {
        Streaming::new(
            std::mem::take(&mut self.body),
            self.web,
            self.head.encoding,
            self.max,
            Side::Server,
            self.deadline,
        )
    }

    fn request<T>(&mut self, message: T) -> Request<T> {
        Request {
            metadata: std::mem::take(&mut self.head.metadata),
            message,
            deadline: self.deadline,
            body: None,
            compressed: false,
            compression: self.compression.clone(),
        }
    }

    /// Reads the one request message of a unary or server-streaming call.
    fn single<T: prost::Message + Default>(&mut self) -> Result<Request<T>, Status> {
        let mut stream = self.stream::<T>();
        let message = read_one(&mut stream)?;
        let mut req = self.request(message);
        req.compressed = stream.last_compressed();
        req.body = Some(stream.into_body());
        Ok(req)
    }
}

/// Frames one message, compressed with the call's encoding if the
/// handler (or the server's default) says so, else as it is.
fn frame<T: prost::Message>(
    encoding: Encoding,
    compression: &ResponseCompression,
    message: &T,
) -> Result<Bytes, Status> {
    let encoding = if compression.get() {
        encoding
    } else {
        Encoding::Identity
    };
    let mut framed = BytesMut::new();
    encode_message_with(encoding, &message.encode_to_vec(), &mut framed)
        .map_err(|e| e.to_status())?;
    Ok(framed.freeze())
}

/// The reply of a unary or client-streaming handler.
fn one<T: prost::Message>(call: &Call, response: Response<T>) -> Result<Reply, Status> {
    let framed = frame(call.out_encoding, &call.compression, &response.message)?;
    Ok(Reply {
        metadata: response.metadata,
        frames: Box::new(std::iter::once(Ok(framed))),
        trailers: response.trailers,
    })
}

/// The reply of a server- or bidi-streaming handler.
fn many<T, I>(call: &Call, response: Response<I>) -> Reply
where
    T: prost::Message,
    I: IntoIterator<Item = Result<T, Status>>,
    I::IntoIter: Send + 'static,
{
    let (encoding, compression) = (call.out_encoding, call.compression.clone());
    let frames = response
        .message
        .into_iter()
        .map(move |m| m.and_then(|m| frame(encoding, &compression, &m)));
    Reply {
        metadata: response.metadata,
        frames: Box::new(frames),
        trailers: response.trailers,
    }
}

type Route = Arc<dyn Fn(Call) -> Result<Reply, Status> + Send + Sync>;

/// Checks (and may rewrite) every call's head before its handler runs:
/// the same for every runtime, from `wirestate-grpc`.
pub use wirestate_grpc::accept::Interceptor;

#[derive(Clone)]
struct Inner {
    routes: HashMap<String, Route>,
    interceptors: Vec<Interceptor>,
    max_message_size: usize,
    compression: Encoding,
    /// Whether messages are compressed with `compression` unless a
    /// handler says otherwise.
    compress_default: bool,
}

/// A blocking gRPC server: routes `/package.Service/Method` to plain
/// functions, and is an HTTP [`Handler`] for the blocking
/// [`Server`](crate::Server) — gRPC over h2c, gRPC-Web (binary and text)
/// over HTTP/1.1 or h2c, on the same port as anything else the handler
/// serves. Graceful shutdown is the HTTP server's
/// ([`ServerHandle::shutdown`](crate::ServerHandle::shutdown)).
///
/// Each call runs on its stream's worker thread: unary and
/// client-streaming handlers return the response; server- and
/// bidi-streaming handlers return an iterator of messages, pulled as the
/// connection sends them (the response head goes out when the handler
/// returns, before the first message), so a bidi handler reads its
/// requests as it produces its responses. An `Err` item ends the call
/// with that status. Past the call's deadline (`grpc-timeout`) the
/// request stream fails and no further message is sent: the call ends
/// with DEADLINE_EXCEEDED.
///
/// ```
/// use wirestate_blocking::grpc::{Request, Response, Server, Status};
/// # #[derive(Clone, PartialEq, prost::Message)] struct Ping { #[prost(string, tag = "1")] text: String }
/// let server = Server::new()
///     .unary("/demo.Pinger/Ping", |req: Request<Ping>| {
///         Ok::<_, Status>(Response::new(req.message))
///     })
///     .server_streaming("/demo.Pinger/Count", |req: Request<Ping>| {
///         let text = req.message.text;
///         let replies = (0..3).map(move |i| Ok(Ping { text: format!("{text} {i}") }));
///         Ok::<_, Status>(Response::new(replies))
///     });
/// assert!(server.has_route("/demo.Pinger/Count"));
/// // wirestate_blocking::Server::bind("127.0.0.1:0", Default::default())?.serve(server)
/// ```
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut routes: Vec<&String> = self.inner.routes.keys().collect();
        routes.sort();
        f.debug_struct("grpc::Server")
            .field("routes", &routes)
            .finish()
    }
}

impl Default for Server {
    fn default() -> Self {
        Self::new()
    }
}

impl Server {
    /// A server with no routes.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                routes: HashMap::new(),
                interceptors: Vec::new(),
                max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
                compression: Encoding::Identity,
                compress_default: true,
            }),
        }
    }

    fn inner_mut(&mut self) -> &mut Inner {
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
    /// compression ([`Request::response_compression`]): for services where
    /// the request says whether its response is worth compressing (the
    /// interop `TestService`'s `response_compressed`).
    pub fn offer_compression(mut self, encoding: Encoding) -> Self {
        let inner = self.inner_mut();
        inner.compression = encoding;
        inner.compress_default = false;
        self
    }

    /// Adds an interceptor, run on every call's head in the order added:
    /// it may rewrite the head, and `Some(status)` refuses the call with
    /// that status before any handler runs.
    pub fn interceptor(
        mut self,
        f: impl Fn(&mut RequestHead) -> Option<Status> + Send + Sync + 'static,
    ) -> Self {
        self.inner_mut().interceptors.push(Arc::new(f));
        self
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
    pub fn unary<Req, Resp, F>(self, path: &str, f: F) -> Self
    where
        Req: prost::Message + Default + 'static,
        Resp: prost::Message + 'static,
        F: Fn(Request<Req>) -> Result<Response<Resp>, Status> + Send + Sync + 'static,
    {
        self.route(
            path,
            Arc::new(move |mut call: Call| {
                let req = call.single::<Req>()?;
                one(&call, f(req)?)
            }),
        )
    }

    /// Routes a server-streaming method: the handler returns the response
    /// messages as an iterator.
    pub fn server_streaming<Req, Resp, I, F>(self, path: &str, f: F) -> Self
    where
        Req: prost::Message + Default + 'static,
        Resp: prost::Message + 'static,
        I: IntoIterator<Item = Result<Resp, Status>>,
        I::IntoIter: Send + 'static,
        F: Fn(Request<Req>) -> Result<Response<I>, Status> + Send + Sync + 'static,
    {
        self.route(
            path,
            Arc::new(move |mut call: Call| {
                let req = call.single::<Req>()?;
                Ok(many(&call, f(req)?))
            }),
        )
    }

    /// Routes a client-streaming method: the handler reads the request
    /// stream and returns the one response.
    pub fn client_streaming<Req, Resp, F>(self, path: &str, f: F) -> Self
    where
        Req: prost::Message + Default + 'static,
        Resp: prost::Message + 'static,
        F: Fn(Request<Streaming<Req>>) -> Result<Response<Resp>, Status> + Send + Sync + 'static,
    {
        self.route(
            path,
            Arc::new(move |mut call: Call| {
                let stream = call.stream::<Req>();
                let req = call.request(stream);
                one(&call, f(req)?)
            }),
        )
    }

    /// Routes a bidirectional-streaming method: the handler gets the
    /// request stream and returns the responses as an iterator, which may
    /// read the requests as it goes (the stream is an iterator too).
    pub fn bidi_streaming<Req, Resp, I, F>(self, path: &str, f: F) -> Self
    where
        Req: prost::Message + Default + 'static,
        Resp: prost::Message + 'static,
        I: IntoIterator<Item = Result<Resp, Status>>,
        I::IntoIter: Send + 'static,
        F: Fn(Request<Streaming<Req>>) -> Result<Response<I>, Status> + Send + Sync + 'static,
    {
        self.route(
            path,
            Arc::new(move |mut call: Call| {
                let stream = call.stream::<Req>();
                let req = call.request(stream);
                Ok(many(&call, f(req)?))
            }),
        )
    }

    /// Answers one HTTP request as a gRPC call.
    fn serve(&self, req: http::Request<BlockingBody>) -> http::Response<Body> {
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
        let deadline = head.timeout.and_then(|t| deadline_after(Instant::now(), t));
        let call = Call {
            head,
            body,
            deadline,
            web,
            max: self.inner.max_message_size,
            out_encoding,
            compression: ResponseCompression(Arc::new(AtomicBool::new(
                self.inner.compress_default,
            ))),
        };
        let reply = match route(call) {
            Ok(reply) => reply,
            Err(status) => {
                let status = if deadline.is_some_and(|d| Instant::now() >= d) {
                    deadline_exceeded()
                } else {
                    status
                };
                return ended(&status, &content_type);
            }
        };
        let response_head = ResponseHead {
            content_type,
            encoding: out_encoding,
            metadata: reply.metadata,
            ..Default::default()
        };
        let http_trailers = Arc::new(Mutex::new(None));
        let body = ReplyBody {
            frames: reply.frames,
            trailers: reply.trailers,
            deadline,
            web,
            http_trailers: http_trailers.clone(),
            done: false,
        };
        let body = Body::from_chunks_with_trailers(body, move || {
            http_trailers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
        });
        http::Response::from_parts(response_head.to_response(), body)
    }
}

/// A call that ends before any message: trailers-only (for gRPC-Web, the
/// same fields as headers, no body).
fn ended(status: &Status, content_type: &ContentType) -> http::Response<Body> {
    http::Response::from_parts(trailers_only(status, content_type), Body::empty())
}

/// The response body of a call: its messages as the handler's iterator
/// yields them, then the status — as HTTP trailers (handed to the body
/// through `http_trailers`), or as gRPC-Web's trailers frame.
struct ReplyBody {
    frames: Frames,
    trailers: Metadata,
    deadline: Option<Instant>,
    web: Option<WebMode>,
    http_trailers: Arc<Mutex<Option<HeaderMap>>>,
    done: bool,
}

impl ReplyBody {
    fn data(&self, bytes: Bytes) -> Bytes {
        match self.web {
            Some(WebMode::Text) => {
                let mut out = BytesMut::new();
                encode_web_text(&bytes, &mut out);
                out.freeze()
            }
            _ => bytes,
        }
    }

    /// The end of the call with `status`: the trailers frame (gRPC-Web),
    /// or nothing more in the body and the HTTP trailers set.
    fn end(&mut self, status: Status) -> Option<Bytes> {
        self.done = true;
        let status = if status.metadata.is_empty() {
            status.with_metadata(std::mem::take(&mut self.trailers))
        } else {
            status
        };
        let mut trailers = HeaderMap::new();
        status.to_trailers(&mut trailers);
        if self.web.is_none() {
            *self.http_trailers.lock().unwrap_or_else(|e| e.into_inner()) = Some(trailers);
            return None;
        }
        let mut out = BytesMut::new();
        if let Err(e) = encode_web_trailers(&trailers, &mut out) {
            tracing::warn!(error = %e, "grpc-web trailers not encodable");
        }
        Some(self.data(out.freeze()))
    }
}

impl Iterator for ReplyBody {
    type Item = io::Result<Bytes>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let expired = |deadline: Option<Instant>| deadline.is_some_and(|d| Instant::now() >= d);
        if expired(self.deadline) {
            return self.end(deadline_exceeded()).map(Ok);
        }
        let next = self.frames.next();
        // Past the deadline when the handler yields (it blocked meanwhile):
        // the call is over, whatever it produced.
        if expired(self.deadline) {
            return self.end(deadline_exceeded()).map(Ok);
        }
        match next {
            Some(Ok(bytes)) => Some(Ok(self.data(bytes))),
            Some(Err(status)) => self.end(status).map(Ok),
            None => self.end(Status::ok()).map(Ok),
        }
    }
}

impl Handler for Server {
    fn call(&self, req: http::Request<BlockingBody>) -> http::Response<Body> {
        self.serve(req)
    }
}
