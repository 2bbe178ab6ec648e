//! The Streamable HTTP server transport (revisions 2025-03-26 to
//! 2025-11-25) as a sans-IO machine over `http` types.
//! (The client side — the requests a client sends and how it reads the
//! answers — is in [`client`]; the 2024-11-05 HTTP+SSE transport, served
//! beside this one when [`HttpConfig::legacy_sse`] is set, in [`legacy`].)
//!
//! One [`HttpServer`] owns every session of an endpoint (say `/mcp`): the
//! runtime hands it each request — head and whole body — and gets back a
//! [`Reply`]: a complete response, or a response head whose body the
//! machine produces over time ([`HttpServer::poll_chunk`]), as server-sent
//! events or as one deferred JSON document.
//!
//! What it does, in the order a request meets it:
//!
//! 1. **DNS-rebinding protection**, on by default: the `Host` must be a
//!    loopback name (`localhost`, `127.0.0.1`, `[::1]`, with the
//!    configured port if one is set) — else **421 Misdirected Request**, as
//!    the official Python SDK answers —, and an `Origin`, when present, a
//!    loopback origin (any port) — else **403 Forbidden**. Both are
//!    allow-lists ([`HostPolicy`], [`OriginPolicy`]).
//! 2. **Methods**: POST carries client messages, GET opens a stream for
//!    server-initiated messages (or resumes one with `Last-Event-ID`),
//!    DELETE ends a session; anything else gets 405 with `Allow`.
//! 3. **Sessions**: `initialize` (without `Mcp-Session-Id`) creates one,
//!    whose id — 128 bits from the [`Entropy`] input, as 32 hex digits —
//!    comes back in `Mcp-Session-Id`. Later requests must carry it: missing
//!    → 400, unknown (never issued, deleted, expired or evicted) → 404. A present
//!    `MCP-Protocol-Version` must be a supported revision (else 400).
//!    Sessions are bounded in number (the idlest free one is evicted
//!    beyond, 503 when all are busy) and expire after
//!    [`HttpConfig::idle_timeout`] without requests while no response is
//!    open, on [`handle_timeout`](HttpServer::handle_timeout).
//! 4. **POST bodies** must be `application/json` (415), fit
//!    [`HttpConfig::max_body`] (413) and parse: malformed JSON is answered
//!    400 with -32700, an invalid message (wrong `jsonrpc`, …) 400 with
//!    -32600. A body of only notifications and responses gets 202. One
//!    with requests gets 200 and, per the client's `Accept` and whether all
//!    of them were answered at once: `application/json` with the answer, or
//!    — when the application still has to answer (tool calls, reads, …)
//!    and the client accepts it — a `text/event-stream` that carries the
//!    messages related to the request (progress, logs, requests to the
//!    client) and ends after the response. A single request (not a batch,
//!    not `initialize`) from a client accepting both gets a deferred head
//!    ([`Reply::Deferred`], [`HttpServer::poll_reply`]) decided by the
//!    request's first message: its response → `application/json` (cheaper
//!    for both sides than a stream), a related notification or request
//!    first → the SSE stream. With [`HttpConfig::json_only`] (or a client
//!    accepting only JSON) the answer is always JSON; a client accepting
//!    only SSE always gets a stream. Methods unknown to the session
//!    get -32601, bad params -32602, requests before `initialize` -32600 —
//!    all in-band, as the [`ServerSession`] answers them.
//! 5. **Streams**: every SSE stream starts with a *priming* event (an id,
//!    empty data and the `retry` advice) and numbers its events
//!    (`<stream>-<n>`); the last [`HttpConfig::replay_events`] events of
//!    each stream are kept, so a client whose response was cut — by the
//!    network, or on purpose with [`close_stream`](HttpServer::close_stream)
//!    (SEP-1699 polling) — resumes with GET and `Last-Event-ID`, receiving
//!    what it missed and the rest of the stream. A standalone GET stream
//!    carries messages that relate to no request (list changes, resource
//!    updates); a second GET takes the stream over from the first.
//!
//! Messages the session queues are routed by what they are: a response
//! to the stream (or JSON body) of its request; `notifications/progress`
//! to the stream of the request carrying the token; other notifications
//! and requests to the stream of the request given to
//! [`session_for`](HttpServer::session_for), else to the standalone
//! stream, else they are dropped (the specification forbids broadcasting
//! them on unrelated streams).
//!
//! Batches are accepted on sessions of the revisions that have them
//! (2024-11-05, 2025-03-26); their answer is one JSON array. On a session
//! of 2025-06-18 or later a batch is refused as a whole: 400 with one
//! -32600 error.
//!
//! **Stateless requests** (2026-07-28, SEP-2575) need no session: a POST
//! without `Mcp-Session-Id` whose request names a revision in
//! `params._meta`, or whose `MCP-Protocol-Version` is not a revision of
//! the `initialize` era (except an `initialize` naming an unknown one: a
//! newer client negotiating), is served on its own (see [`stateless`] for the
//! header checks: -32020 with 400). Its answer's head waits for the first
//! message ([`Reply::Deferred`], [`HttpServer::poll_reply`]): the final
//! response becomes a JSON body whose status follows the error code (404
//! for -32601, 400 for invalid params and the stateless errors, 500 for
//! internal errors), a notification first (progress, logs, a
//! `subscriptions/listen` acknowledgement) opens an SSE stream.
//!
//! Nothing here reads a clock or a random generator: time is the `now` of
//! each input, session ids come from the [`Entropy`] given to
//! [`HttpServer::new`].

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Method, Response, StatusCode};
use serde::Deserialize;
use serde_json::value::RawValue;
use wirestate_codec::{SseEvent, encode_event};
use wirestate_jsonrpc::{
    Decoded, ErrorCode, ErrorObject, ErrorResponse, Limits, Message, RequestId, decode,
};
use wirestate_machine::{ClassifyError, Entropy, ErrorKind};

use crate::catalogue::Catalogue;
use crate::schema::{
    MetaParams, ProgressToken, Prompt, Resource, ResourceTemplate, Tool, methods, progress_token,
    version,
};
use crate::server::{Config, Phase, ServerEvent, ServerSession};

pub mod client;
pub mod cors;
pub mod legacy;
pub mod stateless;

/// The session header.
pub const MCP_SESSION_ID: &str = "mcp-session-id";
/// The protocol revision header (2025-06-18 and later).
pub const MCP_PROTOCOL_VERSION: &str = "mcp-protocol-version";
/// The resumption header of server-sent events.
pub const LAST_EVENT_ID: &str = "last-event-id";

/// Which `Host` header values are served.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostPolicy {
    /// `localhost`, `127.0.0.1` and `[::1]`, with this port (or none) when
    /// `port` is set, with any port otherwise. The default (any port).
    Localhost {
        /// The port the server is bound to, if it should be enforced.
        port: Option<u16>,
    },
    /// Exactly these `host[:port]` values (ASCII case-insensitive).
    List(Vec<String>),
    /// Any host: protection off (for servers behind a proxy that checks).
    Any,
}

/// Which `Origin` header values are served (requests without `Origin`,
/// from non-browser clients, always are).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OriginPolicy {
    /// `http` or `https` origins on `localhost`, `127.0.0.1` or `[::1]`,
    /// any port. The default.
    Localhost,
    /// Exactly these origins (`scheme://host[:port]`, case-insensitive).
    List(Vec<String>),
    /// Any origin.
    Any,
}

/// Settings of an [`HttpServer`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HttpConfig {
    /// The settings of each session.
    pub session: Config,
    /// Most sessions at once, stateless requests being served included.
    /// Beyond, a new session (or stateless request) evicts the session
    /// idle longest among those with nothing in flight (no open
    /// response, no request being handled, no server-to-client request
    /// pending; [`CloseReason::Evicted`]); it gets 503 only when every
    /// session is busy. Default 1024.
    pub max_sessions: usize,
    /// A session without requests for this long, and with no response
    /// open, is ended. Default 30 minutes.
    pub idle_timeout: Duration,
    /// Largest POST body, in bytes (413 beyond). Default 4 MiB. A loop
    /// of your own that collects bodies can stop at `max_body + 1` bytes
    /// and hand those over: that is enough for the 413 (a body cut at
    /// `max_body` or below would be parsed, and refused as malformed).
    pub max_body: usize,
    /// Events kept per SSE stream for `Last-Event-ID` resumption (the
    /// oldest are dropped). Default 256.
    pub replay_events: usize,
    /// Finished POST streams kept per session for late resumption.
    /// Default 16.
    pub finished_streams: usize,
    /// The `retry` advice of priming events, in milliseconds. Default 1000.
    pub retry_ms: Option<u64>,
    /// Whether GET opens a standalone stream (else 405). Default `true`.
    pub standalone_stream: bool,
    /// Answer every POST with JSON, never SSE (messages related to a
    /// request then go to the standalone stream). Default `false`.
    pub json_only: bool,
    /// DNS-rebinding protection: the served `Host`s.
    pub hosts: HostPolicy,
    /// DNS-rebinding protection: the served `Origin`s.
    pub origins: OriginPolicy,
    /// The 2024-11-05 HTTP+SSE transport served beside Streamable HTTP
    /// (its two paths, see [`legacy`]); `None` (the default): off.
    pub legacy_sse: Option<legacy::LegacySse>,
    /// CORS for browser clients on other origins (see [`cors`]; MCP's
    /// methods and headers are added to the policy given). `None` (the
    /// default): no CORS header (a preflight is an `OPTIONS` request like
    /// any: 405, or 403 from another origin).
    pub cors: Option<wirestate_http1::cors::CorsPolicy>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

impl HttpConfig {
    /// The defaults, with these session settings.
    pub fn new(session: Config) -> Self {
        Self {
            session,
            max_sessions: 1024,
            idle_timeout: Duration::from_secs(30 * 60),
            max_body: 4 << 20,
            replay_events: 256,
            finished_streams: 16,
            retry_ms: Some(1000),
            standalone_stream: true,
            json_only: false,
            hosts: HostPolicy::Localhost { port: None },
            origins: OriginPolicy::Localhost,
            legacy_sse: None,
            cors: None,
        }
    }
}

/// An opaque session id (32 lowercase hex digits).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(Arc<str>);

impl SessionId {
    /// The id as sent in `Mcp-Session-Id`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Ids compare, order and hash as their text, so a table keyed by them
/// is searched with the `Mcp-Session-Id` header's text as it came.
impl std::borrow::Borrow<str> for SessionId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for SessionId {
    fn from(s: &str) -> Self {
        Self(Arc::from(s))
    }
}

/// One open response whose body the machine produces over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExchangeId(u64);

/// The machine's answer to a request.
#[derive(Debug)]
pub enum Reply {
    /// A complete response.
    Full(Response<Bytes>),
    /// The head is not decided yet (a stateless request, or a single
    /// legacy-era request, still being served; its first message decides
    /// between JSON and SSE): call [`poll_reply`](HttpServer::poll_reply) when
    /// [`poll_ready`](HttpServer::poll_ready) names this exchange. A client
    /// that goes away meanwhile is reported with
    /// [`handle_disconnect`](HttpServer::handle_disconnect).
    Deferred {
        /// The exchange.
        exchange: ExchangeId,
    },
    /// A response head; the body comes from
    /// [`poll_chunk`](HttpServer::poll_chunk) with this exchange, and the
    /// runtime reports a client that went away with
    /// [`handle_disconnect`](HttpServer::handle_disconnect).
    Open {
        /// The head.
        response: Response<()>,
        /// The body's source.
        exchange: ExchangeId,
    },
}

impl Reply {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Full(r) => r.status(),
            Self::Open { response, .. } => response.status(),
            Self::Deferred { .. } => StatusCode::OK,
        }
    }
}

/// A piece of an open response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// Bytes to write.
    Data(Bytes),
    /// The body is complete; the exchange is forgotten.
    End,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client sent DELETE.
    Deleted,
    /// Idle for longer than [`HttpConfig::idle_timeout`].
    Expired,
    /// The application removed it.
    Removed,
    /// The SSE stream of a 2024-11-05 HTTP+SSE session ([`legacy`])
    /// closed: that transport's session lives as long as its stream.
    StreamClosed,
    /// Evicted to make room for a new session when
    /// [`HttpConfig::max_sessions`] were live: it had been idle longest
    /// and had nothing in flight. Its client gets 404 next and
    /// initializes again, as the spec tells it to.
    Evicted,
}

/// What the machine reports.
// Session events dominate and are moved out at once; boxing them would
// only cost an allocation per event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum HttpEvent {
    /// A session event: answer requests through
    /// [`session_for`](HttpServer::session_for) or
    /// [`session_mut`](HttpServer::session_mut).
    Session {
        /// The session.
        session: SessionId,
        /// What happened.
        event: ServerEvent,
    },
    /// A session was created by `initialize`.
    SessionOpened {
        /// The session.
        session: SessionId,
    },
    /// A session ended; its requests can no longer be answered.
    SessionClosed {
        /// The session.
        session: SessionId,
        /// Why.
        reason: CloseReason,
    },
    /// A request was refused at the HTTP level (already answered).
    Refused(HttpError),
}

/// Why a request was refused at the HTTP level. [`hint`](Self::hint) is
/// the status it was answered with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The `Host` is not on the allow-list (421).
    #[error("host {host:?} is not allowed")]
    HostNotAllowed {
        /// The header value (empty when missing).
        host: String,
    },
    /// The `Origin` is not on the allow-list (403).
    #[error("origin {origin:?} is not allowed")]
    OriginNotAllowed {
        /// The header value.
        origin: String,
    },
    /// Not GET, POST or DELETE, or a GET/DELETE that is switched off (405).
    #[error("method {method} not allowed")]
    MethodNotAllowed {
        /// The method.
        method: String,
    },
    /// A POST body that is not `application/json` (415).
    #[error("content type must be application/json")]
    UnsupportedMediaType,
    /// A POST whose `Accept` allows neither `application/json` nor
    /// `text/event-stream` (406).
    #[error("the client accepts neither application/json nor text/event-stream")]
    NotAcceptable,
    /// A GET whose `Accept` does not allow `text/event-stream`: a GET only
    /// opens an event stream (406).
    #[error("a GET opens a server-sent event stream: Accept must include text/event-stream")]
    StreamNotAcceptable,
    /// A body larger than [`HttpConfig::max_body`] (413).
    #[error("body larger than {max} bytes")]
    BodyTooLarge {
        /// The limit.
        max: usize,
    },
    /// The body is not one valid JSON-RPC message or batch (400, with the
    /// JSON-RPC error: -32700 or -32600).
    #[error("invalid JSON-RPC: {0}")]
    JsonRpc(wirestate_jsonrpc::Error),
    /// `initialize` inside a batch, or a request body without requests
    /// where one is needed (400).
    #[error("initialize must be sent alone")]
    InitializeInBatch,
    /// A batch on a session of a revision without batches (2025-06-18
    /// and later: [`version::has_batches`]);
    /// refused as a whole (400, -32600).
    #[error("a session of {version} takes no JSON-RPC batches (removed in 2025-06-18)")]
    BatchNotAllowed {
        /// The session's revision.
        version: &'static str,
    },
    /// No `Mcp-Session-Id` on a request that needs one (400).
    #[error("Mcp-Session-Id header is required")]
    MissingSessionId,
    /// An `Mcp-Session-Id` that names no live session (404).
    #[error("unknown session")]
    UnknownSession,
    /// An `MCP-Protocol-Version` that is not a supported revision (400).
    #[error("unsupported protocol version {version:?}")]
    UnsupportedProtocolVersion {
        /// The header value.
        version: String,
    },
    /// [`HttpConfig::max_sessions`] sessions are live and every one is
    /// busy, so none can be evicted (503).
    #[error("too many sessions")]
    TooManySessions,
    /// A request whose id is already in flight in the session, or appears
    /// twice in one batch (400, -32600): MCP forbids reusing a request id
    /// within a session, and answers are routed back by id.
    #[error("request id {id} is already in use in this session")]
    RequestIdInUse {
        /// The id, as JSON.
        id: String,
    },
    /// A 2024-11-05 HTTP+SSE session whose stream already holds
    /// [`LegacySse::max_queue`](legacy::LegacySse::max_queue) undelivered
    /// messages: the client posts faster than it reads (503).
    #[error("the session's SSE stream is full")]
    QueueFull,
    /// A stateless request whose headers disagree with its body, or lack
    /// one (400, with -32020 and the request's id).
    #[error("header mismatch: {message}")]
    HeaderMismatch {
        /// What disagreed.
        message: String,
    },
}

impl HttpError {
    /// Whose fault: the client's (*protocol*), or a configured bound
    /// (*limit*).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::BodyTooLarge { .. } | Self::TooManySessions | Self::QueueFull => ErrorKind::Limit,
            _ => ErrorKind::Protocol,
        }
    }

    /// The HTTP status the request was answered with.
    pub fn hint(&self) -> Option<StatusCode> {
        Some(match self {
            Self::HostNotAllowed { .. } => StatusCode::MISDIRECTED_REQUEST,
            Self::OriginNotAllowed { .. } => StatusCode::FORBIDDEN,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotAcceptable | Self::StreamNotAcceptable => StatusCode::NOT_ACCEPTABLE,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::JsonRpc(_)
            | Self::InitializeInBatch
            | Self::BatchNotAllowed { .. }
            | Self::MissingSessionId
            | Self::UnsupportedProtocolVersion { .. }
            | Self::RequestIdInUse { .. }
            | Self::HeaderMismatch { .. } => StatusCode::BAD_REQUEST,
            Self::UnknownSession => StatusCode::NOT_FOUND,
            Self::TooManySessions | Self::QueueFull => StatusCode::SERVICE_UNAVAILABLE,
        })
    }

    /// The JSON-RPC error carried in the response body.
    fn body(&self) -> ErrorResponse {
        if let Self::JsonRpc(e) = self {
            if let Some(reply) = e.reply() {
                return reply;
            }
        }
        let code = match self {
            Self::UnknownSession => ErrorCode::new(-32001),
            Self::HeaderMismatch { .. } => {
                ErrorCode::new(crate::schema::stateless_codes::HEADER_MISMATCH)
            }
            Self::InitializeInBatch
            | Self::BatchNotAllowed { .. }
            | Self::RequestIdInUse { .. } => ErrorCode::INVALID_REQUEST,
            _ => ErrorCode::new(-32000),
        };
        let message = match self {
            Self::UnknownSession => "Session not found".to_owned(),
            other => format!("Bad Request: {other}"),
        };
        ErrorResponse::new(None, ErrorObject::new(code, message))
    }
}

impl ClassifyError for HttpError {
    type Hint = StatusCode;

    fn kind(&self) -> ErrorKind {
        HttpError::kind(self)
    }

    fn hint(&self) -> Option<StatusCode> {
        HttpError::hint(self)
    }
}

/// Where the answer to a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// An SSE stream of the session (it may be detached).
    Stream(u64),
    /// A JSON response (or an exchange whose mode is not decided yet).
    Exchange(ExchangeId),
}

#[derive(Debug)]
struct Stream {
    /// Kept events: (sequence number, encoded SSE frame).
    events: VecDeque<(u64, Bytes)>,
    next_seq: u64,
    /// Next sequence number to hand to the attached exchange.
    delivered: u64,
    attached: Option<ExchangeId>,
    /// Requests of a POST stream still unanswered.
    pending: BTreeSet<RequestId>,
    standalone: bool,
    /// The application asked to end the current response.
    closing: bool,
}

impl Stream {
    /// A new stream with nothing sent yet, its response `exchange`
    /// attached.
    fn open(exchange: ExchangeId, pending: BTreeSet<RequestId>, standalone: bool) -> Stream {
        Stream {
            events: VecDeque::new(),
            next_seq: 0,
            delivered: 0,
            attached: Some(exchange),
            pending,
            standalone,
            closing: false,
        }
    }

    fn finished(&self) -> bool {
        !self.standalone && self.pending.is_empty()
    }
}

#[derive(Debug)]
struct Slot {
    /// A stateless POST's own session: its one exchange.
    solo: Option<ExchangeId>,
    session: ServerSession,
    last_active: Instant,
    related: Option<RequestId>,
    routes: BTreeMap<RequestId, Route>,
    progress: BTreeMap<ProgressToken, RequestId>,
    streams: BTreeMap<u64, Stream>,
    next_stream: u64,
    standalone: Option<u64>,
    finished: VecDeque<u64>,
    /// A 2024-11-05 HTTP+SSE session ([`legacy`]): reached only through
    /// that transport's paths, and ended when its stream closes.
    legacy: bool,
}

#[derive(Debug)]
enum ExKind {
    Sse {
        stream: u64,
    },
    Json {
        pending: BTreeSet<RequestId>,
        body: Option<Bytes>,
        /// The POST was a batch: its answer is an array, even when every
        /// request in it was cancelled.
        batch: bool,
        /// Requests of a batch the client cancelled, so that a batch
        /// cancelled whole is answered with an error for each.
        cancelled: Vec<RequestId>,
    },
    /// A stateless request's answer.
    Solo(stateless::Solo),
    /// A legacy-era POST of one request whose head waits for the first
    /// message of the request: its response (a JSON body) or a related
    /// notification or request (an SSE stream).
    Undecided {
        request: RequestId,
    },
}

#[derive(Debug)]
struct Exchange {
    session: SessionId,
    kind: ExKind,
}

/// A sans-IO MCP Streamable HTTP server endpoint: every session, its
/// streams and the routing of messages between them. See the
/// [module documentation](self) for the behaviour.
///
/// The runtime calls [`handle_request`](Self::handle_request) for each
/// request, writes [`Reply::Full`] responses, and streams the bodies of
/// [`Reply::Open`] ones from [`poll_chunk`](Self::poll_chunk), waking the
/// writer of each exchange [`poll_ready`](Self::poll_ready) names. The
/// application answers [`HttpEvent::Session`] events through
/// [`session_for`](Self::session_for) (or
/// [`session_mut`](Self::session_mut)).
pub struct HttpServer {
    config: HttpConfig,
    entropy: Box<dyn Entropy + Send>,
    /// What every new session starts with.
    catalogue: Catalogue,
    sessions: BTreeMap<SessionId, Slot>,
    exchanges: BTreeMap<ExchangeId, Exchange>,
    next_exchange: u64,
    ready: BTreeSet<ExchangeId>,
    ready_order: VecDeque<ExchangeId>,
    /// Heads of legacy-era [`Reply::Deferred`] exchanges, decided and not
    /// yet taken by [`poll_reply`](Self::poll_reply).
    decided: BTreeMap<ExchangeId, Reply>,
    events: VecDeque<HttpEvent>,
    limits: Limits,
    /// Sessions handed out by [`session_mut`](Self::session_mut) /
    /// [`session_for`](Self::session_for) (or changed here) since they
    /// were last pumped: what they queued is routed on the next poll,
    /// without visiting every other session.
    touched: BTreeSet<SessionId>,
    /// The `Origin` of deferred exchanges' requests, for the CORS headers
    /// of their heads ([`cors`]).
    cors_later: BTreeMap<ExchangeId, HeaderMap>,
    /// When each 2024-11-05 HTTP+SSE stream gets its next keep-alive
    /// comment ([`legacy`]).
    legacy_pings: BTreeMap<SessionId, Instant>,
}

impl fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpServer")
            .field("sessions", &self.sessions.len())
            .field("exchanges", &self.exchanges.len())
            .finish_non_exhaustive()
    }
}

/// What the POST body holds.
struct Classified {
    /// The body, decoded: the session takes it as it is.
    decoded: Decoded,
    requests: Vec<RequestId>,
    /// The body is a batch (an array), whatever it holds.
    batch: bool,
    initialize: bool,
    progress: Vec<(ProgressToken, RequestId)>,
}

/// What routing reads of an outgoing message: a response's id, anything
/// else's method, and its params left raw (only a progress notification's
/// are looked into). A result's content is skipped, not built into a
/// `Value` as it was (every answer went through that).
#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow)]
    params: Option<&'a RawValue>,
}

/// The params of `notifications/progress`, as far as routing needs them.
#[derive(Deserialize)]
struct ProgressOf {
    #[serde(rename = "progressToken")]
    progress_token: Option<ProgressToken>,
}

impl HttpServer {
    /// An endpoint with no session; session ids are drawn from `entropy`.
    pub fn new(mut config: HttpConfig, entropy: impl Entropy + Send + 'static) -> Self {
        config.cors = config.cors.take().map(cors::mcp_policy);
        let mut limits = config.session.jsonrpc.limits.clone();
        limits.max_message_size = limits.max_message_size.min(config.max_body);
        Self {
            config,
            entropy: Box::new(entropy),
            catalogue: Catalogue::default(),
            sessions: BTreeMap::new(),
            exchanges: BTreeMap::new(),
            next_exchange: 0,
            ready: BTreeSet::new(),
            ready_order: VecDeque::new(),
            decided: BTreeMap::new(),
            events: VecDeque::new(),
            limits,
            touched: BTreeSet::new(),
            cors_later: BTreeMap::new(),
            legacy_pings: BTreeMap::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    // ---- catalogue ----

    /// Registers a tool with every session, live and future.
    pub fn add_tool(&mut self, tool: Tool) {
        self.pump_all();
        for slot in self.sessions.values_mut() {
            // Not related to any request: to the standalone stream.
            slot.related = None;
            slot.session.add_tool(tool.clone());
        }
        self.touch_all();
        self.catalogue.add_tool(tool);
    }

    /// Removes a tool from every session; returns whether it was registered.
    pub fn remove_tool(&mut self, name: &str) -> bool {
        self.pump_all();
        for slot in self.sessions.values_mut() {
            // Not related to any request: to the standalone stream.
            slot.related = None;
            slot.session.remove_tool(name);
        }
        self.touch_all();
        self.catalogue.remove_tool(name)
    }

    /// Registers a resource with every session, live and future.
    pub fn add_resource(&mut self, resource: Resource) {
        self.pump_all();
        for slot in self.sessions.values_mut() {
            // Not related to any request: to the standalone stream.
            slot.related = None;
            slot.session.add_resource(resource.clone());
        }
        self.touch_all();
        self.catalogue.add_resource(resource);
    }

    /// Registers a resource template with every session, live and future.
    pub fn add_resource_template(&mut self, template: ResourceTemplate) {
        self.pump_all();
        for slot in self.sessions.values_mut() {
            // Not related to any request: to the standalone stream.
            slot.related = None;
            slot.session.add_resource_template(template.clone());
        }
        self.touch_all();
        self.catalogue.add_template(template);
    }

    /// Registers a prompt with every session, live and future.
    pub fn add_prompt(&mut self, prompt: Prompt) {
        self.pump_all();
        for slot in self.sessions.values_mut() {
            // Not related to any request: to the standalone stream.
            slot.related = None;
            slot.session.add_prompt(prompt.clone());
        }
        self.touch_all();
        self.catalogue.add_prompt(prompt);
    }

    /// Removes a prompt from every session; returns whether it was
    /// registered.
    pub fn remove_prompt(&mut self, name: &str) -> bool {
        self.pump_all();
        for slot in self.sessions.values_mut() {
            // Not related to any request: to the standalone stream.
            slot.related = None;
            slot.session.remove_prompt(name);
        }
        self.touch_all();
        self.catalogue.remove_prompt(name)
    }

    /// A resource changed: every session subscribed to `uri` is told
    /// (on its standalone stream). Returns how many were.
    pub fn resource_updated(&mut self, uri: &str) -> usize {
        let ids: Vec<SessionId> = self.sessions.keys().cloned().collect();
        let mut n = 0;
        for id in ids {
            self.pump(&id);
            if let Some(slot) = self.sessions.get_mut(&id) {
                slot.related = None;
                if slot.session.resource_updated(uri) {
                    n += 1;
                    self.touched.insert(id);
                }
            }
        }
        n
    }

    // ---- sessions ----

    /// The live sessions.
    pub fn sessions(&self) -> impl Iterator<Item = &SessionId> {
        self.sessions.keys()
    }

    /// A live session, for queries.
    pub fn session(&self, id: &SessionId) -> Option<&ServerSession> {
        self.sessions.get(id).map(|s| &s.session)
    }

    /// A live session, for commands whose messages relate to no request
    /// (they go to the standalone stream).
    pub fn session_mut(&mut self, id: &SessionId) -> Option<&mut ServerSession> {
        self.pump(id);
        let slot = self.sessions.get_mut(id)?;
        slot.related = None;
        self.touched.insert(id.clone());
        Some(&mut slot.session)
    }

    /// A live session, for commands made while serving `request`:
    /// notifications and requests they queue go on that request's stream
    /// (its answer always does).
    pub fn session_for(
        &mut self,
        id: &SessionId,
        request: &RequestId,
    ) -> Option<&mut ServerSession> {
        self.pump(id);
        let slot = self.sessions.get_mut(id)?;
        slot.related = Some(request.clone());
        self.touched.insert(id.clone());
        Some(&mut slot.session)
    }

    /// Ends the HTTP response currently carrying the SSE stream of
    /// `request` without ending the stream (SEP-1699): later messages wait
    /// in the replay buffer until the client resumes with GET and
    /// `Last-Event-ID`. An answer whose head is still undecided becomes
    /// that stream (its head, then only the priming event). Returns whether
    /// such a stream was attached.
    pub fn close_stream(&mut self, id: &SessionId, request: &RequestId) -> bool {
        self.pump(id);
        let (retry, replay) = (self.config.retry_ms, self.config.replay_events);
        let Some(slot) = self.sessions.get_mut(id) else {
            return false;
        };
        if let Some(Route::Exchange(x)) = slot.routes.get(request).copied() {
            if let Some(Exchange {
                kind: ExKind::Undecided { .. },
                ..
            }) = self.exchanges.get(&x)
            {
                // Polling needs a stream to resume: an undecided answer
                // becomes one (priming event with its id, then the end).
                let pending = BTreeSet::from([request.clone()]);
                let s = open_post_stream(slot, x, pending, retry, replay);
                self.exchanges.insert(
                    x,
                    Exchange {
                        session: id.clone(),
                        kind: ExKind::Sse { stream: s },
                    },
                );
                self.decided.insert(
                    x,
                    Reply::Open {
                        response: sse_head(id),
                        exchange: x,
                    },
                );
            }
        }
        let Some(Route::Stream(s)) = slot.routes.get(request).copied() else {
            return false;
        };
        let Some(stream) = slot.streams.get_mut(&s) else {
            return false;
        };
        match stream.attached {
            Some(ex) => {
                stream.closing = true;
                mark(&mut self.ready, &mut self.ready_order, ex);
                true
            }
            None => false,
        }
    }

    /// Ends a session as if it expired (its open responses end).
    pub fn remove_session(&mut self, id: &SessionId) -> bool {
        self.end_session(id, CloseReason::Removed)
    }

    // ---- inputs ----

    /// Handles one request: its head and its whole body (empty for GET
    /// and DELETE). Never fails: refusals are responses (and
    /// [`HttpEvent::Refused`] events).
    pub fn handle_request(&mut self, now: Instant, head: &Parts, body: Bytes) -> Reply {
        self.pump_all();
        if let Some(preflight) = self.cors_preflight(head) {
            return preflight;
        }
        let checked = match self.check_origin(head) {
            Err(HttpError::OriginNotAllowed { .. }) if self.cors_allows(head) => Ok(()),
            other => other,
        };
        let reply = match checked {
            Err(e) => Err(e),
            Ok(()) => match self.legacy_request(now, head, &body) {
                Some(reply) => reply,
                None => match head.method {
                    Method::POST => self.post(now, head, body),
                    Method::GET => self.get(now, head),
                    Method::DELETE => self.delete(head),
                    _ => Err(HttpError::MethodNotAllowed {
                        method: head.method.to_string(),
                    }),
                },
            },
        };
        let mut reply = match reply {
            Ok(r) => {
                self.pump_all();
                r
            }
            Err(e) => {
                let r = refusal(&e);
                self.events.push_back(HttpEvent::Refused(e));
                Reply::Full(r)
            }
        };
        self.cors_decorate(head, &mut reply);
        reply
    }

    /// The client of an open response went away (the runtime could not
    /// write, or the body was dropped). An SSE stream stays resumable;
    /// a pending JSON answer is dropped.
    pub fn handle_disconnect(&mut self, now: Instant, exchange: ExchangeId) {
        self.cors_decorate_later(exchange, None, true);
        // A head decided but never taken goes with its exchange.
        self.decided.remove(&exchange);
        let Some(ex) = self.exchanges.remove(&exchange) else {
            return;
        };
        self.ready.remove(&exchange);
        if let ExKind::Solo(_) = ex.kind {
            // Nobody to answer: the request's session goes with it.
            self.solo_disconnect(&ex.session);
            return;
        }
        let mut legacy = false;
        if let (ExKind::Sse { stream }, Some(slot)) = (&ex.kind, self.sessions.get_mut(&ex.session))
        {
            if let Some(s) = slot.streams.get_mut(stream) {
                if s.attached == Some(exchange) {
                    s.attached = None;
                    s.closing = false;
                }
            }
            // Idle time counts from the end of the last response.
            slot.last_active = slot.last_active.max(now);
            legacy = slot.legacy;
        }
        if legacy {
            // No resumption in that transport: its session ends with its
            // stream.
            self.end_session(&ex.session, CloseReason::StreamClosed);
            return;
        }
        let pending = match ex.kind {
            ExKind::Json { pending, .. } => pending,
            ExKind::Undecided { request } => BTreeSet::from([request]),
            _ => BTreeSet::new(),
        };
        if let Some(slot) = self.sessions.get_mut(&ex.session) {
            for id in pending {
                slot.routes.remove(&id);
            }
        }
    }

    /// Fires due timers: request deadlines of the sessions, and expiry of
    /// idle sessions ([`CloseReason::Expired`]).
    pub fn handle_timeout(&mut self, now: Instant) {
        let ids: Vec<SessionId> = self.sessions.keys().cloned().collect();
        for id in ids {
            let open = self.has_open(&id);
            let Some(slot) = self.sessions.get_mut(&id) else {
                continue;
            };
            slot.session.handle_timeout(now);
            let expired = !open && now >= slot.last_active + self.config.idle_timeout;
            self.pump(&id);
            if expired {
                self.end_session(&id, CloseReason::Expired);
            }
        }
        self.legacy_keep_alive(now);
    }

    // ---- outputs ----

    /// An exchange with something new for [`poll_chunk`](Self::poll_chunk).
    pub fn poll_ready(&mut self) -> Option<ExchangeId> {
        self.pump_all();
        while let Some(ex) = self.ready_order.pop_front() {
            if self.ready.remove(&ex) {
                return Some(ex);
            }
        }
        None
    }

    /// The next piece of an open response body; `None` while there is
    /// nothing yet. An unknown (or finished) exchange gets
    /// [`Chunk::End`].
    pub fn poll_chunk(&mut self, exchange: ExchangeId) -> Option<Chunk> {
        self.pump_all();
        let Some(ex) = self.exchanges.get_mut(&exchange) else {
            return Some(Chunk::End);
        };
        match &mut ex.kind {
            ExKind::Solo(_) => self.solo_chunk(exchange),
            // The head is not decided: nothing to write yet.
            ExKind::Undecided { .. } => None,
            ExKind::Json { body, pending, .. } => {
                if let Some(b) = body.take() {
                    return Some(Chunk::Data(b));
                }
                if pending.is_empty() {
                    self.exchanges.remove(&exchange);
                    return Some(Chunk::End);
                }
                None
            }
            ExKind::Sse { stream } => {
                let s = *stream;
                let session = ex.session.clone();
                let Some(slot) = self.sessions.get_mut(&session) else {
                    self.exchanges.remove(&exchange);
                    return Some(Chunk::End);
                };
                let Some(st) = slot.streams.get_mut(&s) else {
                    self.exchanges.remove(&exchange);
                    return Some(Chunk::End);
                };
                if st.attached != Some(exchange) {
                    self.exchanges.remove(&exchange);
                    return Some(Chunk::End);
                }
                let mut out = BytesMut::new();
                for (seq, frame) in &st.events {
                    if *seq >= st.delivered {
                        out.extend_from_slice(frame);
                    }
                }
                st.delivered = st.next_seq;
                if !out.is_empty() {
                    // Come back for the end.
                    if st.finished() || st.closing {
                        mark(&mut self.ready, &mut self.ready_order, exchange);
                    }
                    return Some(Chunk::Data(out.freeze()));
                }
                if st.finished() || st.closing {
                    st.attached = None;
                    st.closing = false;
                    let finished = st.finished();
                    self.exchanges.remove(&exchange);
                    if finished {
                        retire(slot, s, self.config.finished_streams);
                    }
                    return Some(Chunk::End);
                }
                None
            }
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<HttpEvent> {
        self.pump_all();
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) has work next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        for (id, slot) in &self.sessions {
            let mut t = slot.session.poll_timeout();
            if !self.has_open(id) {
                let expiry = slot.last_active + self.config.idle_timeout;
                t = Some(t.map_or(expiry, |t| t.min(expiry)));
            }
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        match (next, self.legacy_pings.values().min()) {
            (Some(n), Some(&p)) => Some(n.min(p)),
            (n, p) => n.or(p.copied()),
        }
    }

    /// Open responses (SSE streams attached, JSON answers pending).
    pub fn open_exchanges(&self) -> usize {
        self.exchanges.len()
    }

    /// The refusal (421 or 403, as [`handle_request`](Self::handle_request)
    /// would answer) of a request whose `Host` or `Origin` is not on the
    /// allow-lists, or `None` when both pass. For requests of the same
    /// endpoint served beside this machine, like a WebSocket upgrade.
    pub fn refusal_for(&self, head: &Parts) -> Option<Response<Bytes>> {
        self.check_origin(head)
            .err()
            .filter(|e| !matches!(e, HttpError::OriginNotAllowed { .. }) || !self.cors_allows(head))
            .map(|e| refusal(&e))
    }

    // ---- request handling ----

    fn check_origin(&self, head: &Parts) -> Result<(), HttpError> {
        // Borrowed from the head: copied only into a refusal.
        let host = head
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| head.uri.authority().map(|a| a.as_str()))
            .unwrap_or_default();
        let host_ok = match &self.config.hosts {
            HostPolicy::Any => true,
            HostPolicy::List(list) => list.iter().any(|h| h.eq_ignore_ascii_case(host)),
            HostPolicy::Localhost { port } => match split_host_port(host) {
                Some((name, p)) => {
                    is_loopback_name(name)
                        && match (port, p) {
                            (Some(want), Some(got)) => *want == got,
                            _ => true,
                        }
                }
                None => false,
            },
        };
        if !host_ok {
            return Err(HttpError::HostNotAllowed {
                host: host.to_owned(),
            });
        }
        let Some(origin) = head.headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let origin = origin.to_str().unwrap_or("");
        let origin_ok = match &self.config.origins {
            OriginPolicy::Any => true,
            OriginPolicy::List(list) => list
                .iter()
                .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin)),
            OriginPolicy::Localhost => {
                let rest = origin
                    .strip_prefix("http://")
                    .or_else(|| origin.strip_prefix("https://"));
                rest.and_then(split_host_port)
                    .is_some_and(|(name, _)| is_loopback_name(name))
            }
        };
        if origin_ok {
            Ok(())
        } else {
            Err(HttpError::OriginNotAllowed {
                origin: origin.to_owned(),
            })
        }
    }

    fn known_session(&self, head: &Parts) -> Result<SessionId, HttpError> {
        let id = head
            .headers
            .get(MCP_SESSION_ID)
            .ok_or(HttpError::MissingSessionId)?;
        let id = id.to_str().map_err(|_| HttpError::UnknownSession)?;
        // Looked up by the header's text; the id returned is the table's
        // own (a reference count, not a copy of the text).
        let Some((id, slot)) = self.sessions.get_key_value(id) else {
            return Err(HttpError::UnknownSession);
        };
        if slot.solo.is_some() || slot.legacy {
            return Err(HttpError::UnknownSession);
        }
        let id = id.clone();
        check_version(head)?;
        Ok(id)
    }

    fn post(&mut self, now: Instant, head: &Parts, body: Bytes) -> Result<Reply, HttpError> {
        if let Some(ct) = head.headers.get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or("");
            let essence = ct.split(';').next().unwrap_or("").trim();
            if !essence.eq_ignore_ascii_case("application/json") {
                return Err(HttpError::UnsupportedMediaType);
            }
        }
        let (json_ok, sse_ok) = accepts(&head.headers);
        if !json_ok && !sse_ok {
            return Err(HttpError::NotAcceptable);
        }
        if body.len() > self.config.max_body {
            return Err(HttpError::BodyTooLarge {
                max: self.config.max_body,
            });
        }
        if let Some(reply) = self.stateless_post(now, head, &body, sse_ok) {
            return reply;
        }
        let classified = self.classify(&body)?;
        let session = if classified.initialize && !head.headers.contains_key(MCP_SESSION_ID) {
            self.new_session(now)?
        } else {
            self.known_session(head)?
        };
        let Some(slot) = self.sessions.get_mut(&session) else {
            return Err(HttpError::UnknownSession);
        };
        slot.last_active = now;
        // A session of 2025-06-18 or later has no batches: refused here as
        // a whole (400, -32600), before any of its requests is routed.
        if classified.batch && !slot.session.accepts_batches() {
            return Err(HttpError::BatchNotAllowed {
                version: slot.session.protocol_version().unwrap_or_default(),
            });
        }
        // Answers find their exchange by request id, so an id still in
        // flight (or twice in one batch) would send one POST's answer down
        // another's response.
        // (A lone request, the usual POST, cannot repeat itself: the set
        // of ids seen, a hash table per POST, is built for batches only.)
        let mut seen = std::collections::HashSet::new();
        let batch = classified.requests.len() > 1;
        if let Some(id) = classified
            .requests
            .iter()
            .find(|id| slot.routes.contains_key(*id) || (batch && !seen.insert(*id)))
        {
            return Err(HttpError::RequestIdInUse {
                id: serde_json::to_string(id).unwrap_or_default(),
            });
        }
        if classified.requests.is_empty() {
            // Notifications and responses only.
            let _ = slot.session.handle_decoded(now, classified.decoded);
            self.pump(&session);
            return Ok(Reply::Full(with_session(
                Response::builder()
                    .status(StatusCode::ACCEPTED)
                    .body(Bytes::new()),
                &session,
            )));
        }
        let exchange = ExchangeId(self.next_exchange);
        self.next_exchange += 1;
        for id in &classified.requests {
            slot.routes.insert(id.clone(), Route::Exchange(exchange));
        }
        for (token, id) in classified.progress {
            slot.progress.insert(token, id);
        }
        // One request, and a client taking either answer: the head waits
        // for the request's first message, so a call answered before it
        // says anything else gets a plain JSON body — cheaper to write and
        // to parse than a stream (the specification lets the server pick).
        let defer = json_ok
            && sse_ok
            && !self.config.json_only
            && !classified.initialize
            && !classified.batch
            && classified.requests.len() == 1;
        let kind = match classified.requests.first() {
            Some(request) if defer => ExKind::Undecided {
                request: request.clone(),
            },
            _ => ExKind::Json {
                pending: classified.requests.iter().cloned().collect(),
                body: None,
                batch: classified.batch,
                cancelled: Vec::new(),
            },
        };
        self.exchanges.insert(
            exchange,
            Exchange {
                session: session.clone(),
                kind,
            },
        );
        if let Some(slot) = self.sessions.get_mut(&session) {
            slot.related = None;
            let _ = slot.session.handle_decoded(now, classified.decoded);
        }
        self.pump(&session);
        if defer {
            return Ok(self
                .take_decided(exchange)
                .unwrap_or(Reply::Deferred { exchange }));
        }
        if classified.initialize {
            let failed = self
                .sessions
                .get(&session)
                .is_none_or(|s| s.session.phase() == Phase::New);
            if failed && !head.headers.contains_key(MCP_SESSION_ID) {
                // `initialize` refused (bad params): no session.
                let body = self.take_json(exchange);
                self.sessions.remove(&session);
                return Ok(Reply::Full(json_response(StatusCode::OK, body, None)));
            }
            if !failed && !head.headers.contains_key(MCP_SESSION_ID) {
                self.events.push_back(HttpEvent::SessionOpened {
                    session: session.clone(),
                });
            }
        }
        let done = matches!(
            self.exchanges.get(&exchange),
            Some(Exchange { kind: ExKind::Json { pending, .. }, .. }) if pending.is_empty()
        );
        if done && json_ok {
            let body = self.take_json(exchange);
            return Ok(Reply::Full(json_response(
                StatusCode::OK,
                body,
                Some(&session),
            )));
        }
        if !sse_ok || self.config.json_only {
            // Deferred JSON: the body comes when every request is answered.
            let (parts, _) =
                json_response(StatusCode::OK, Bytes::new(), Some(&session)).into_parts();
            let response = Response::from_parts(parts, ());
            return Ok(Reply::Open { response, exchange });
        }
        // Switch to SSE: a stream takes the requests still pending.
        let (pending, early) = match self.exchanges.get_mut(&exchange) {
            Some(Exchange {
                kind: ExKind::Json { pending, body, .. },
                ..
            }) => (std::mem::take(pending), body.take()),
            _ => (BTreeSet::new(), None),
        };
        let retry = self.config.retry_ms;
        let replay = self.config.replay_events;
        let Some(slot) = self.sessions.get_mut(&session) else {
            return Err(HttpError::UnknownSession);
        };
        let s = open_post_stream(slot, exchange, pending, retry, replay);
        if let (Some(early), Some(stream)) = (early, slot.streams.get_mut(&s)) {
            push_message(stream, s, &early, replay);
        }
        self.exchanges.insert(
            exchange,
            Exchange {
                session: session.clone(),
                kind: ExKind::Sse { stream: s },
            },
        );
        mark(&mut self.ready, &mut self.ready_order, exchange);
        Ok(Reply::Open {
            response: sse_head(&session),
            exchange,
        })
    }

    fn get(&mut self, now: Instant, head: &Parts) -> Result<Reply, HttpError> {
        if !self.config.standalone_stream {
            return Err(HttpError::MethodNotAllowed {
                method: "GET".into(),
            });
        }
        let (_, sse_ok) = accepts(&head.headers);
        if !sse_ok {
            return Err(HttpError::StreamNotAcceptable);
        }
        let session = self.known_session(head)?;
        let resume = head
            .headers
            .get(LAST_EVENT_ID)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_event_id);
        let exchange = self.exchange_id();
        let retry = self.config.retry_ms;
        let replay = self.config.replay_events;
        let Some(slot) = self.sessions.get_mut(&session) else {
            return Err(HttpError::UnknownSession);
        };
        slot.last_active = now;
        let target = resume.filter(|(s, _)| slot.streams.contains_key(s));
        let existing = match target {
            Some((s, seq)) => Some((s, Some(seq))),
            None => slot
                .standalone
                .filter(|s| slot.streams.contains_key(s))
                .map(|s| (s, None)),
        };
        let s = match existing.and_then(|(s, seq)| slot.streams.get_mut(&s).map(|st| (s, seq, st)))
        {
            Some((s, seq, stream)) => {
                stream.closing = false;
                if let Some(old) = stream.attached.replace(exchange) {
                    self.exchanges.remove(&old);
                    mark(&mut self.ready, &mut self.ready_order, old);
                }
                match seq {
                    // Resumption: everything after the client's last event.
                    Some(seq) => stream.delivered = seq.saturating_add(1),
                    // A new client of the standalone stream has seen none
                    // of it: it starts from a new priming event.
                    None => {
                        stream.delivered = stream.next_seq;
                        push_priming(stream, s, retry, replay);
                    }
                }
                s
            }
            None => {
                let s = slot.next_stream;
                slot.next_stream += 1;
                let mut stream = Stream::open(exchange, BTreeSet::new(), true);
                push_priming(&mut stream, s, retry, replay);
                slot.streams.insert(s, stream);
                slot.standalone = Some(s);
                s
            }
        };
        self.exchanges.insert(
            exchange,
            Exchange {
                session: session.clone(),
                kind: ExKind::Sse { stream: s },
            },
        );
        mark(&mut self.ready, &mut self.ready_order, exchange);
        Ok(Reply::Open {
            response: sse_head(&session),
            exchange,
        })
    }

    fn delete(&mut self, head: &Parts) -> Result<Reply, HttpError> {
        let session = self.known_session(head)?;
        self.end_session(&session, CloseReason::Deleted);
        Ok(Reply::Full(
            Response::builder()
                .status(StatusCode::OK)
                .body(Bytes::new())
                .unwrap_or_default(),
        ))
    }

    fn classify(&self, body: &Bytes) -> Result<Classified, HttpError> {
        let decoded = decode(body.clone(), &self.limits).map_err(HttpError::JsonRpc)?;
        let decoded = match decoded {
            Decoded::Single(Err(e)) => return Err(HttpError::JsonRpc(e)),
            other => other,
        };
        let mut c = Classified {
            decoded,
            requests: Vec::new(),
            batch: false,
            initialize: false,
            progress: Vec::new(),
        };
        let (entries, batch) = match &c.decoded {
            Decoded::Batch(entries) => (entries.as_slice(), true),
            Decoded::Single(entry) => (std::slice::from_ref(entry), false),
        };
        c.batch = batch;
        for entry in entries {
            match entry {
                Ok(Message::Request(r)) => {
                    if r.method == methods::INITIALIZE {
                        if batch {
                            return Err(HttpError::InitializeInBatch);
                        }
                        c.initialize = true;
                    }
                    if let Some(token) =
                        progress_token(MetaParams::meta_of(r.params.as_ref()).as_ref())
                    {
                        c.progress.push((token, r.id.clone()));
                    }
                    c.requests.push(r.id.clone());
                }
                // A bad entry of a batch is answered inside the batch
                // answer; with an id, it is waited for like a request.
                Err(e) => {
                    if let Some(reply) = e.reply() {
                        if let Some(id) = reply.id {
                            c.requests.push(id);
                        }
                    }
                }
                Ok(_) => {}
            }
        }
        Ok(c)
    }

    fn new_session(&mut self, now: Instant) -> Result<SessionId, HttpError> {
        self.make_room(now)?;
        let id = loop {
            let mut raw = [0u8; 16];
            self.entropy.fill(&mut raw);
            let mut text = String::with_capacity(32);
            for b in raw {
                text.push_str(&format!("{b:02x}"));
            }
            let id = SessionId::from(text.as_str());
            if !self.sessions.contains_key(&id) {
                break id;
            }
        };
        let session =
            ServerSession::with_catalogue(self.config.session.clone(), self.catalogue.clone());
        self.sessions.insert(
            id.clone(),
            Slot {
                solo: None,
                session,
                last_active: now,
                related: None,
                routes: BTreeMap::new(),
                progress: BTreeMap::new(),
                streams: BTreeMap::new(),
                next_stream: 0,
                standalone: None,
                finished: VecDeque::new(),
                legacy: false,
            },
        );
        Ok(id)
    }

    fn exchange_id(&mut self) -> ExchangeId {
        let id = ExchangeId(self.next_exchange);
        self.next_exchange += 1;
        id
    }

    /// The decided head of a legacy-era deferred exchange, if any.
    fn take_decided(&mut self, exchange: ExchangeId) -> Option<Reply> {
        let reply = self.decided.remove(&exchange)?;
        if let Reply::Full(_) = reply {
            // Complete: the runtime never polls this exchange again.
            self.ready.remove(&exchange);
        }
        Some(reply)
    }

    fn take_json(&mut self, exchange: ExchangeId) -> Bytes {
        // Answered at once: the runtime never hears of this exchange.
        self.ready.remove(&exchange);
        match self.exchanges.remove(&exchange) {
            Some(Exchange {
                kind: ExKind::Json { body, .. },
                ..
            }) => body.unwrap_or_default(),
            _ => Bytes::new(),
        }
    }

    /// Frees a place in a full session table: expired sessions go first,
    /// then the one idle longest among those with nothing in flight, so a
    /// table filled by clients that never DELETE does not lock new
    /// clients out until the idle timeout.
    fn make_room(&mut self, now: Instant) -> Result<(), HttpError> {
        if self.sessions.len() < self.config.max_sessions {
            return Ok(());
        }
        self.handle_timeout(now);
        while self.sessions.len() >= self.config.max_sessions {
            let busy: BTreeSet<&SessionId> = self.exchanges.values().map(|e| &e.session).collect();
            let victim = self
                .sessions
                .iter()
                .filter(|(id, slot)| {
                    slot.solo.is_none()
                        && !busy.contains(id)
                        && slot.routes.is_empty()
                        && slot.session.is_idle()
                        && slot.session.pending_server_requests() == 0
                })
                .min_by_key(|(_, slot)| slot.last_active)
                .map(|(id, _)| id.clone());
            let Some(victim) = victim else {
                return Err(HttpError::TooManySessions);
            };
            self.end_session(&victim, CloseReason::Evicted);
        }
        Ok(())
    }

    fn has_open(&self, id: &SessionId) -> bool {
        self.exchanges.values().any(|e| &e.session == id)
    }

    fn end_session(&mut self, id: &SessionId, reason: CloseReason) -> bool {
        self.pump(id);
        let Some(mut slot) = self.sessions.remove(id) else {
            return false;
        };
        if slot.legacy {
            // Its keep-alive timer goes with it (else an open-and-close
            // flood of streams piles them up until each falls due).
            self.legacy_pings.remove(id);
        }
        slot.session.handle_close();
        while let Some(event) = slot.session.poll_event() {
            self.events.push_back(HttpEvent::Session {
                session: id.clone(),
                event,
            });
        }
        let open: Vec<ExchangeId> = self
            .exchanges
            .iter()
            .filter(|(_, e)| &e.session == id)
            .map(|(x, _)| *x)
            .collect();
        for x in open {
            // Their poll_chunk now ends them.
            match self.exchanges.get_mut(&x) {
                Some(Exchange {
                    kind: ExKind::Json { pending, .. },
                    ..
                }) => pending.clear(),
                Some(Exchange {
                    kind: ExKind::Undecided { .. },
                    ..
                }) => {
                    // No answer will come: the client learns the session
                    // is gone, as its next request would.
                    self.exchanges.remove(&x);
                    self.decided
                        .insert(x, Reply::Full(refusal(&HttpError::UnknownSession)));
                }
                _ => {}
            }
            mark(&mut self.ready, &mut self.ready_order, x);
        }
        self.events.push_back(HttpEvent::SessionClosed {
            session: id.clone(),
            reason,
        });
        true
    }

    // ---- routing ----

    /// Routes what the sessions changed since the last pump queued.
    fn pump_all(&mut self) {
        if self.touched.is_empty() {
            return;
        }
        for id in std::mem::take(&mut self.touched) {
            self.pump(&id);
        }
    }

    /// Every session changed (a catalogue edit): all are pumped next.
    fn touch_all(&mut self) {
        self.touched.extend(self.sessions.keys().cloned());
    }

    /// Routes what a session queued, and collects its events.
    fn pump(&mut self, id: &SessionId) {
        let replay = self.config.replay_events;
        let retry = self.config.retry_ms;
        let finished_keep = self.config.finished_streams;
        let Some(slot) = self.sessions.get_mut(id) else {
            return;
        };
        let mut cancelled = Vec::new();
        while let Some(event) = slot.session.poll_event() {
            if let ServerEvent::Cancelled { id: request, .. } = &event {
                cancelled.push(request.clone());
            }
            self.events.push_back(HttpEvent::Session {
                session: id.clone(),
                event,
            });
        }
        if let Some(x) = slot.solo {
            self.solo_pump(id, x);
            return;
        }
        while let Some(message) = slot.session.poll_message() {
            // A lone response, as the session's encoder writes it, is
            // routed by the id in its first bytes: its result (most of
            // the message) is not parsed again.
            let own = own_response_id(&message);
            let peeks: Vec<Peek> = if own.is_some() {
                Vec::new()
            } else if message.first() == Some(&b'[') {
                serde_json::from_slice(&message).unwrap_or_default()
            } else {
                serde_json::from_slice::<Peek>(&message)
                    .map(|p| vec![p])
                    .unwrap_or_default()
            };
            let first = peeks.first();
            if own.is_none() && first.is_none() {
                continue;
            }
            let route = if own.is_some() || first.is_some_and(|p| p.method.is_none()) {
                // Responses: to where their requests came from.
                let ids: Vec<RequestId> = match own {
                    Some(rid) => vec![rid],
                    None => peeks
                        .iter()
                        .filter_map(|p| p.id)
                        .filter_map(|raw| RequestId::from_json(raw.get()))
                        .collect(),
                };
                let mut route = None;
                for rid in &ids {
                    if let Some(r) = slot.routes.remove(rid) {
                        route.get_or_insert(r);
                    }
                    slot.progress.retain(|_, v| v != rid);
                }
                match route {
                    Some(Route::Exchange(x)) => {
                        match self.exchanges.get_mut(&x) {
                            Some(Exchange {
                                kind: ExKind::Json { pending, body, .. },
                                ..
                            }) => {
                                for rid in &ids {
                                    pending.remove(rid);
                                }
                                *body = Some(message.clone());
                                mark(&mut self.ready, &mut self.ready_order, x);
                            }
                            Some(Exchange {
                                kind: ExKind::Undecided { .. },
                                ..
                            }) => {
                                // Answered before anything else: plain JSON.
                                self.exchanges.remove(&x);
                                let response = json_response(StatusCode::OK, message, Some(id));
                                self.decided.insert(x, Reply::Full(response));
                                mark(&mut self.ready, &mut self.ready_order, x);
                            }
                            _ => {}
                        }
                        continue;
                    }
                    Some(Route::Stream(s)) => {
                        if let Some(st) = slot.streams.get_mut(&s) {
                            for rid in &ids {
                                st.pending.remove(rid);
                            }
                            push_message(st, s, &message, replay);
                            match st.attached {
                                Some(x) => mark(&mut self.ready, &mut self.ready_order, x),
                                None if st.finished() => retire(slot, s, finished_keep),
                                None => {}
                            }
                        }
                        continue;
                    }
                    None => None,
                }
            } else if let Some(first) =
                first.filter(|p| p.method.as_deref() == Some(methods::NOTIFICATION_PROGRESS))
            {
                first
                    .params
                    .and_then(|p| serde_json::from_str::<ProgressOf>(p.get()).ok())
                    .and_then(|p| p.progress_token)
                    .and_then(|t| slot.progress.get(&t))
                    .and_then(|rid| slot.routes.get(rid))
                    .copied()
            } else {
                slot.related
                    .as_ref()
                    .and_then(|rid| slot.routes.get(rid))
                    .copied()
            };
            let stream = match route {
                Some(Route::Stream(s)) => Some(s),
                Some(Route::Exchange(x)) => match self.exchanges.get(&x) {
                    Some(Exchange {
                        kind: ExKind::Undecided { request },
                        ..
                    }) => {
                        // The request speaks before it is answered: its
                        // answer becomes an SSE stream, resumable like any.
                        let pending = BTreeSet::from([request.clone()]);
                        let s = open_post_stream(slot, x, pending, retry, replay);
                        self.exchanges.insert(
                            x,
                            Exchange {
                                session: id.clone(),
                                kind: ExKind::Sse { stream: s },
                            },
                        );
                        self.decided.insert(
                            x,
                            Reply::Open {
                                response: sse_head(id),
                                exchange: x,
                            },
                        );
                        Some(s)
                    }
                    _ => slot.standalone,
                },
                None => slot.standalone,
            };
            if let Some(s) = stream {
                if let Some(st) = slot.streams.get_mut(&s) {
                    push_message(st, s, &message, replay);
                    if let Some(x) = st.attached {
                        mark(&mut self.ready, &mut self.ready_order, x);
                    }
                }
            }
        }
        // A request the client cancelled is never answered (the session
        // drops the answer, as the specification asks), so the response
        // that waited for it ends without it, after what was queued for
        // it above: else its stream stayed open, and the client's
        // connection with it, until the client hung up (which a client
        // whose call timed out, ours included, need not do).
        for request in cancelled {
            slot.progress.retain(|_, v| *v != request);
            match slot.routes.remove(&request) {
                Some(Route::Exchange(x)) => match self.exchanges.get_mut(&x) {
                    Some(Exchange {
                        kind:
                            ExKind::Json {
                                pending,
                                body,
                                batch,
                                cancelled,
                            },
                        ..
                    }) => {
                        pending.remove(&request);
                        if *batch {
                            cancelled.push(request.clone());
                        }
                        if pending.is_empty() && body.is_none() {
                            // The head already said `application/json`,
                            // and an empty body is not JSON: the one
                            // answer left that is both valid and true.
                            // A batch gets an array with an error for
                            // each request, as a batch's answer is.
                            *body = Some(if *batch {
                                cancelled_batch_answer(cancelled)
                            } else {
                                cancelled_answer(&request)
                            });
                        }
                        mark(&mut self.ready, &mut self.ready_order, x);
                    }
                    Some(Exchange {
                        kind: ExKind::Undecided { .. },
                        ..
                    }) => {
                        // Nothing was said: an event stream that ends at
                        // once. Not 202: a POST that carried a request
                        // MUST be answered with a stream or a JSON object
                        // (Streamable HTTP), and a stream without events
                        // is the one that says nothing.
                        self.exchanges.remove(&x);
                        let response = sse_head(id).map(|()| Bytes::new());
                        self.decided.insert(x, Reply::Full(response));
                        mark(&mut self.ready, &mut self.ready_order, x);
                    }
                    _ => {}
                },
                Some(Route::Stream(s)) => {
                    if let Some(st) = slot.streams.get_mut(&s) {
                        st.pending.remove(&request);
                        match st.attached {
                            Some(x) => mark(&mut self.ready, &mut self.ready_order, x),
                            None if st.finished() => retire(slot, s, finished_keep),
                            None => {}
                        }
                    }
                }
                None => {}
            }
        }
    }
}

/// Opens a POST's SSE stream, attached to `exchange`, for the requests
/// in `pending` (routed to it from now on), with its priming event.
fn open_post_stream(
    slot: &mut Slot,
    exchange: ExchangeId,
    pending: BTreeSet<RequestId>,
    retry: Option<u64>,
    replay: usize,
) -> u64 {
    let s = slot.next_stream;
    slot.next_stream += 1;
    for id in &pending {
        slot.routes.insert(id.clone(), Route::Stream(s));
    }
    let mut stream = Stream::open(exchange, pending, false);
    push_priming(&mut stream, s, retry, replay);
    slot.streams.insert(s, stream);
    s
}

/// The id of a lone response as `wirestate-jsonrpc` writes one
/// (`{"jsonrpc":"2.0","id":ID,"result":` or `,"error":`, a number or a
/// string without escapes as ID), read from its first bytes; `None` for
/// anything else (requests, notifications, batches, a null id), which is
/// parsed instead.
fn own_response_id(message: &[u8]) -> Option<RequestId> {
    let rest = message.strip_prefix(br#"{"jsonrpc":"2.0","id":"#)?;
    let end = if rest.first() == Some(&b'"') {
        let close = 1 + rest
            .get(1..)?
            .iter()
            .position(|&b| b == b'"' || b == b'\\')?;
        (rest[close] == b'"').then_some(close + 1)?
    } else {
        rest.iter().position(|&b| b == b',')?
    };
    let (raw, tail) = rest.split_at(end);
    if !tail.starts_with(br#","result":"#) && !tail.starts_with(br#","error":"#) {
        return None;
    }
    RequestId::from_json(std::str::from_utf8(raw).ok()?)
}

fn mark(ready: &mut BTreeSet<ExchangeId>, order: &mut VecDeque<ExchangeId>, x: ExchangeId) {
    if ready.insert(x) {
        order.push_back(x);
    }
}

/// A finished, detached POST stream is kept for late resumption, up to
/// `keep` of them per session.
fn retire(slot: &mut Slot, s: u64, keep: usize) {
    if !slot.finished.contains(&s) {
        slot.finished.push_back(s);
    }
    while slot.finished.len() > keep {
        if let Some(old) = slot.finished.pop_front() {
            if slot
                .streams
                .get(&old)
                .is_some_and(|st| st.attached.is_none())
            {
                slot.streams.remove(&old);
            }
        }
    }
}

fn push_frame(stream: &mut Stream, frame: Bytes, replay: usize) {
    stream.events.push_back((stream.next_seq, frame));
    stream.next_seq += 1;
    while stream.events.len() > replay.max(1) {
        stream.events.pop_front();
    }
}

/// A priming event counts against the replay bound like any other: a
/// client taking the standalone stream over again and again must not
/// grow the buffer.
fn push_priming(stream: &mut Stream, s: u64, retry: Option<u64>, replay: usize) {
    let mut event = SseEvent::new("").with_id(format!("{s}-{}", stream.next_seq));
    event.retry = retry;
    let mut dst = BytesMut::new();
    if encode_event(&event, &mut dst).is_ok() {
        push_frame(stream, dst.freeze(), replay);
    }
}

fn push_message(stream: &mut Stream, s: u64, message: &[u8], replay: usize) {
    let text = String::from_utf8_lossy(message);
    // Line breaks in JSON are whitespace between tokens (inside strings
    // they are escaped): flattening keeps the same JSON on one line.
    let text = text.replace(['\n', '\r'], " ");
    let event = SseEvent::new(text).with_id(format!("{s}-{}", stream.next_seq));
    let mut dst = BytesMut::new();
    if encode_event(&event, &mut dst).is_ok() {
        push_frame(stream, dst.freeze(), replay);
    }
}

fn parse_event_id(text: &str) -> Option<(u64, u64)> {
    let (s, n) = text.split_once('-')?;
    Some((s.parse().ok()?, n.parse().ok()?))
}

fn check_version(head: &Parts) -> Result<(), HttpError> {
    match head.headers.get(MCP_PROTOCOL_VERSION) {
        None => Ok(()),
        Some(v) => {
            let v = v.to_str().unwrap_or("");
            if version::is_supported(v) {
                Ok(())
            } else {
                Err(HttpError::UnsupportedProtocolVersion {
                    version: v.to_owned(),
                })
            }
        }
    }
}

/// Whether the client accepts JSON and SSE. No `Accept` accepts both.
fn accepts(headers: &HeaderMap) -> (bool, bool) {
    let mut any = false;
    let (mut json, mut sse) = (false, false);
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            any = true;
            let mut params = item.split(';');
            let essence = params.next().unwrap_or("").trim();
            // Compared in place (spaces inside a parameter ignored, the
            // media type without regard to case): no copy per request.
            let q_zero = params.any(|p| p.trim().bytes().filter(|&b| b != b' ').eq(*b"q=0"));
            if q_zero {
                continue;
            }
            let is = |t: &str| essence.eq_ignore_ascii_case(t);
            if is("*/*") {
                json = true;
                sse = true;
            } else if is("application/*") || is("application/json") {
                json = true;
            } else if is("text/*") || is("text/event-stream") {
                sse = true;
            }
        }
    }
    if any { (json, sse) } else { (true, true) }
}

/// `host[:port]` → (host, port); IPv6 literals keep their brackets.
fn split_host_port(text: &str) -> Option<(&str, Option<u16>)> {
    if text.is_empty() {
        return None;
    }
    if text.starts_with('[') {
        let end = text.find(']')?;
        let (host, rest) = text.split_at(end + 1);
        return match rest {
            "" => Some((host, None)),
            _ => Some((host, Some(rest.strip_prefix(':')?.parse().ok()?))),
        };
    }
    match text.rsplit_once(':') {
        Some((host, port)) => Some((host, Some(port.parse().ok()?))),
        None => Some((text, None)),
    }
}

fn is_loopback_name(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1" || host == "[::1]"
}

fn with_session(
    builder: Result<Response<Bytes>, http::Error>,
    session: &SessionId,
) -> Response<Bytes> {
    let mut r = builder.unwrap_or_default();
    if let Ok(v) = HeaderValue::from_str(session.as_str()) {
        r.headers_mut().insert(MCP_SESSION_ID, v);
    }
    r
}

fn json_response(status: StatusCode, body: Bytes, session: Option<&SessionId>) -> Response<Bytes> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(v) = session.and_then(|s| HeaderValue::from_str(s.as_str()).ok()) {
        r.headers_mut().insert(MCP_SESSION_ID, v);
    }
    r
}

fn sse_head(session: &SessionId) -> Response<()> {
    let mut r = Response::new(());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(session.as_str()) {
        r.headers_mut().insert(MCP_SESSION_ID, v);
    }
    r
}

/// JSON-RPC error code of a request the client cancelled (LSP's
/// `RequestCancelled`; JSON-RPC leaves codes outside its reserved range
/// to applications).
pub const REQUEST_CANCELLED: i64 = -32800;

/// The body of a JSON response (`Accept: application/json` only, or
/// [`HttpConfig::json_only`]) whose every request the client cancelled
/// before it was answered. MCP asks that a cancelled request get no
/// response, but a POST that carried requests MUST be answered with JSON
/// (or a stream), and its head went out when it arrived: an error
/// response for the request says so in valid JSON.
fn cancelled_answer(request: &RequestId) -> Bytes {
    let error = ErrorObject::new(
        ErrorCode::new(REQUEST_CANCELLED),
        "Request cancelled by the client",
    );
    Message::from(ErrorResponse::new(Some(request.clone()), error)).to_bytes()
}

/// [`cancelled_answer`] for a batch whose every request was cancelled:
/// one error per request, in an array (a batch is answered with an array).
fn cancelled_batch_answer(requests: &[RequestId]) -> Bytes {
    let mut out = BytesMut::new();
    out.extend_from_slice(b"[");
    for (i, request) in requests.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b",");
        }
        out.extend_from_slice(&cancelled_answer(request));
    }
    out.extend_from_slice(b"]");
    out.freeze()
}

fn refusal(e: &HttpError) -> Response<Bytes> {
    let status = e.hint().unwrap_or(StatusCode::BAD_REQUEST);
    let body = Message::from(e.body()).to_bytes();
    let mut r = json_response(status, body, None);
    if status == StatusCode::METHOD_NOT_ALLOWED {
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `own_response_id` finds what a full parse finds, or leaves the
    /// message to it.
    #[test]
    fn own_response_ids_agree_with_a_parse() {
        let peeked = |m: &str| {
            serde_json::from_str::<Peek>(m)
                .ok()
                .filter(|p| p.method.is_none())
                .and_then(|p| p.id)
                .and_then(|raw| RequestId::from_json(raw.get()))
        };
        for m in [
            r#"{"jsonrpc":"2.0","id":7,"result":{"content":[]}}"#,
            r#"{"jsonrpc":"2.0","id":18446744073709551615,"result":{}}"#,
            r#"{"jsonrpc":"2.0","id":-3,"error":{"code":-32601,"message":"no"}}"#,
            r#"{"jsonrpc":"2.0","id":"a-b","result":{"text":"\"x\""}}"#,
            r#"{"jsonrpc":"2.0","id":"","result":null}"#,
        ] {
            let own = own_response_id(m.as_bytes());
            assert!(own.is_some(), "{m}");
            assert_eq!(own, peeked(m), "{m}");
        }
        // Left to the parse: requests, notifications, batches, escaped
        // string ids, null ids, other spellings.
        for m in [
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/message","params":{}}"#,
            r#"[{"jsonrpc":"2.0","id":1,"result":{}}]"#,
            r#"{"jsonrpc":"2.0","id":"a\"b","result":{}}"#,
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}"#,
            r#"{"id":1,"jsonrpc":"2.0","result":{}}"#,
            r#"{"jsonrpc":"2.0","id":"#,
        ] {
            assert_eq!(own_response_id(m.as_bytes()), None, "{m}");
        }
    }
}
