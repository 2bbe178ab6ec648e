//! The client side of Streamable HTTP, sans-IO: the requests a client
//! sends and what it makes of the answers, for runtimes that do the
//! sending and the reading.
//!
//! - [`ClientEndpoint`] is one endpoint (its URI) and the session id the
//!   server gave: it builds the POST of a message (with `Mcp-Session-Id`
//!   and the [`ClientSession::request_headers`] of the message), the GET
//!   of an SSE stream (resuming with `Last-Event-ID`) and the DELETE that
//!   ends the session, and classifies each POST answer's head
//!   ([`ClientEndpoint::answer`]): an SSE stream, or a body to read whole
//!   ([`BodyAnswer`]: JSON to give to the session, 202, a refusal, a
//!   content type that is not MCP).
//! - [`SseAnswer`] reads an SSE body into JSON-RPC messages and keeps what
//!   a reconnection needs: the last event id and the server's `retry:`,
//!   and decides whether the answer to a request that ended before its
//!   response can be resumed (SEP-1699) and after how long.
//!
//! Requests come out as `Request<()>`: the runtime attaches its own body
//! type (`req.map(|()| body)`). Nothing here sleeps or reads a clock: a
//! resumption delay is a value for the runtime to wait.

use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, StatusCode, Uri};
use wirestate_codec::{SseDecoder, SseError};
use wirestate_jsonrpc::RequestId;
use wirestate_machine::{ClassifyError, ErrorKind};

use super::{LAST_EVENT_ID, MCP_PROTOCOL_VERSION, MCP_SESSION_ID};
use crate::client::{ClientConfig, ClientSession};

/// Most bytes of a JSON answer read.
pub const MAX_JSON_BODY: usize = 16 << 20;
/// Most bytes of an error answer's body read (a JSON-RPC error the session
/// may take, or the start of the text of [`AnswerError::Status`]).
pub const MAX_ERROR_BODY: usize = 64 * 1024;
/// Most bytes read of a body that is thrown away (a 202's, an unexpected
/// content type's, a refused resumption's), so the connection can be
/// reused without reading an unbounded body.
pub const MAX_DRAINED_BODY: usize = 4096;

/// Why an HTTP answer cannot be used, or an endpoint URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerError {
    /// The server answered with an unexpected status.
    #[error("the server answered HTTP {status}: {body}")]
    Status {
        /// The status.
        status: StatusCode,
        /// The start of the body, as text.
        body: String,
    },
    /// A success whose content type is neither JSON nor an event stream.
    #[error("content type {0:?}")]
    ContentType(String),
    /// The SSE answer to a request ended, without its response and
    /// without a new event id, more times in a row than
    /// [`ClientConfig::sse_max_resumes`].
    #[error("the SSE answer to request {request} ended {attempts} times without the response")]
    ResumesExhausted {
        /// Our request.
        request: RequestId,
        /// How many times its stream ended.
        attempts: u32,
    },
    /// The SSE answer to our request ended before the response without
    /// ever carrying an event id ([`SseAnswer::resume`] gave `None`): it
    /// cannot be resumed, and a server sends a response on no other
    /// stream, so the response is lost (the server died mid-call, or
    /// closed the stream early without making it resumable).
    #[error(
        "the SSE answer to request {request} ended before the response, with no event id to resume it from"
    )]
    NotResumable {
        /// Our request.
        request: RequestId,
    },
    /// An endpoint URL that does not parse.
    #[error("bad URL {url:?}: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// Why it does not parse.
        reason: String,
    },
    /// An endpoint URL that is not `http://host…` or `https://host…`.
    #[error("only http:// and https:// URLs are supported, not {0:?}")]
    NotHttp(String),
}

impl AnswerError {
    /// Whose fault: the server's (protocol), or the caller's for a URL
    /// (usage).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::BadUrl { .. } | Self::NotHttp(_) => ErrorKind::Usage,
            _ => ErrorKind::Protocol,
        }
    }

    /// A refusal with the status and the start of its body.
    pub fn status(status: StatusCode, body: &[u8]) -> Self {
        Self::Status {
            status,
            body: String::from_utf8_lossy(body).into_owned(),
        }
    }
}

impl ClassifyError for AnswerError {
    type Hint = StatusCode;

    fn kind(&self) -> ErrorKind {
        AnswerError::kind(self)
    }

    /// The status the server answered with, if that is the error.
    fn hint(&self) -> Option<StatusCode> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// One Streamable HTTP endpoint as a client sees it: the URI every
/// request goes to and the session id the server issued (legacy era).
#[derive(Debug, Clone)]
pub struct ClientEndpoint {
    uri: Uri,
    session_id: Option<HeaderValue>,
}

impl ClientEndpoint {
    /// The endpoint at `url`, which must be `http://` with a host (TLS is
    /// not a concern of this crate's runtimes' MCP clients).
    ///
    /// # Errors
    ///
    /// [`AnswerError::BadUrl`], [`AnswerError::NotHttp`].
    pub fn parse(url: &str) -> Result<Self, AnswerError> {
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| AnswerError::BadUrl {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
        // https:// is for the runtime to carry over TLS: the machine's
        // messages are the same either way.
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(AnswerError::NotHttp(url.to_owned()));
        }
        Ok(Self {
            uri,
            session_id: None,
        })
    }

    /// The endpoint's URI.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The session id the server gave in `Mcp-Session-Id`, if it did.
    pub fn session_id(&self) -> Option<&HeaderValue> {
        self.session_id.as_ref()
    }

    /// The POST carrying `message` (one JSON-RPC message of `session`):
    /// JSON in, JSON or SSE accepted, the session id, and the message's
    /// `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name` and `Mcp-Param-*`
    /// headers. A header value HTTP cannot carry is left out (the server
    /// then says what it misses).
    pub fn post(&self, session: &ClientSession, message: &[u8]) -> Request<()> {
        let mut req = self.request(Method::POST);
        let h = req.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(
            ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        for (name, value) in session.request_headers(message) {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                h.insert(name, value);
            }
        }
        req
    }

    /// The GET of the endpoint's SSE stream — the standalone one, or the
    /// rest of an answer when `last_event_id` is not empty — with the
    /// session id and the negotiated revision.
    pub fn get(&self, session: &ClientSession, last_event_id: &str) -> Request<()> {
        let mut req = self.request(Method::GET);
        let h = req.headers_mut();
        h.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        if let Some(v) = session
            .protocol_version()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            h.insert(MCP_PROTOCOL_VERSION, v);
        }
        if !last_event_id.is_empty() {
            if let Ok(v) = HeaderValue::from_str(last_event_id) {
                h.insert(LAST_EVENT_ID, v);
            }
        }
        req
    }

    /// The DELETE that ends the session; `None` without a session id
    /// (nothing to end).
    pub fn delete(&self) -> Option<Request<()>> {
        self.session_id.as_ref()?;
        Some(self.request(Method::DELETE))
    }

    /// A request of `method` to the endpoint, with the session id if any.
    fn request(&self, method: Method) -> Request<()> {
        let mut req = Request::new(());
        *req.method_mut() = method;
        *req.uri_mut() = self.uri.clone();
        if let Some(id) = &self.session_id {
            req.headers_mut().insert(MCP_SESSION_ID, id.clone());
        }
        req
    }

    /// The head of the answer to a POST: notes the session id the first
    /// successful answer carrying one gives (the answer to `initialize`),
    /// and says how to read the body. A refusal's session id is not taken:
    /// servers of the `initialize` era (the Python SDK 1.x) open a session
    /// for any POST without one, refuse a `server/discover` with 400 and
    /// that session's id, and forget it — sent with `initialize`, it gets
    /// 404.
    pub fn answer(&mut self, status: StatusCode, headers: &HeaderMap) -> Answer {
        if self.session_id.is_none() && status.is_success() {
            self.session_id = headers.get(MCP_SESSION_ID).cloned();
        }
        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let json = content_type.starts_with("application/json");
        let kind = if !status.is_success() {
            BodyKind::Refused { status, json }
        } else if status == StatusCode::ACCEPTED {
            BodyKind::Accepted
        } else if content_type.starts_with("text/event-stream") {
            return Answer::EventStream;
        } else if json {
            BodyKind::Json
        } else {
            BodyKind::Unexpected(content_type)
        };
        Answer::Body(BodyAnswer { kind })
    }
}

/// How to read the body of a POST's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `text/event-stream`: read it through an [`SseAnswer`].
    EventStream,
    /// Read up to [`BodyAnswer::limit`] bytes, then hand them to
    /// [`BodyAnswer::finish`].
    Body(BodyAnswer),
}

/// An answer whose body is read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyAnswer {
    kind: BodyKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum BodyKind {
    /// 202: notifications or responses taken; nothing to read.
    Accepted,
    /// A JSON answer: one message or a batch for the session.
    Json,
    /// A status other than 2xx; `json` when the body says it is JSON.
    Refused { status: StatusCode, json: bool },
    /// A success with a content type that is not MCP's.
    Unexpected(String),
}

impl BodyAnswer {
    /// How many bytes of the body to read at most.
    pub fn limit(&self) -> usize {
        match self.kind {
            BodyKind::Json => MAX_JSON_BODY,
            BodyKind::Refused { .. } => MAX_ERROR_BODY,
            BodyKind::Accepted | BodyKind::Unexpected(_) => MAX_DRAINED_BODY,
        }
    }

    /// Whether the body is the answer itself (JSON), so that failing to
    /// read it is an error; other bodies are read on a best-effort basis.
    pub fn is_message(&self) -> bool {
        self.kind == BodyKind::Json
    }

    /// What the body read means: `Some` message(s) for the session, or
    /// nothing to do. A refusal whose JSON body is a JSON-RPC error
    /// answering `request` (2026-07-28 servers answer -32022 and header
    /// mismatches with 400 and such a body) goes to the session too, which
    /// may retry.
    ///
    /// # Errors
    ///
    /// [`AnswerError::Status`] for any other refusal,
    /// [`AnswerError::ContentType`] for a content type that is not MCP's.
    pub fn finish(
        self,
        body: Bytes,
        request: Option<&RequestId>,
    ) -> Result<Option<Bytes>, AnswerError> {
        match self.kind {
            BodyKind::Accepted => Ok(None),
            BodyKind::Json => Ok((!body.is_empty()).then_some(body)),
            BodyKind::Refused { json: true, .. }
                if request.is_some_and(|id| is_error_for(&body, id)) =>
            {
                Ok(Some(body))
            }
            BodyKind::Refused { status, .. } => Err(AnswerError::status(status, &body)),
            BodyKind::Unexpected(content_type) => Err(AnswerError::ContentType(content_type)),
        }
    }
}

/// Whether `body` is a JSON-RPC error response to request `id`.
fn is_error_for(body: &[u8], id: &RequestId) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe {
        id: Option<RequestId>,
        error: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Probe>(body)
        .is_ok_and(|p| p.error.is_some() && p.id.as_ref() == Some(id))
}

/// The id of the request in an outgoing message, if it is a request (not
/// a notification, a response or a batch): the request whose answer a
/// POST carries.
pub fn request_id(message: &[u8]) -> Option<RequestId> {
    #[derive(serde::Deserialize)]
    struct Probe {
        id: Option<RequestId>,
        method: Option<serde::de::IgnoredAny>,
    }
    let p: Probe = serde_json::from_slice(message).ok()?;
    p.method.and(p.id)
}

/// An SSE answer (to a POST, or the standalone GET stream) across its
/// connections: decodes each connection's body into the JSON-RPC messages
/// of its `message` events (events of other types and empty ones, like
/// the priming event, carry none), and keeps the last event id and the
/// server's `retry:` for the next connection.
#[derive(Debug)]
pub struct SseAnswer {
    decoder: SseDecoder,
    last_event_id: String,
    retry: Duration,
    /// Resumptions in a row without a new event id.
    attempts: u32,
    max_retry: Duration,
    max_resumes: u32,
}

impl SseAnswer {
    /// A new answer, reconnecting per `config`'s `sse_*` settings.
    pub fn new(config: &ClientConfig) -> Self {
        Self {
            decoder: SseDecoder::new(),
            last_event_id: String::new(),
            retry: config.sse_retry,
            attempts: 0,
            max_retry: config.sse_max_retry,
            max_resumes: config.sse_max_resumes,
        }
    }

    /// Body bytes of the current connection, as they come.
    pub fn push(&mut self, chunk: &[u8]) {
        self.decoder.push(chunk);
    }

    /// The next message of the bytes pushed, `None` when no more complete
    /// events are buffered.
    ///
    /// Returns `Some(Err(..))` for an event that broke the decoder's limits
    /// (it is skipped; the stream goes on).
    pub fn next_message(&mut self) -> Option<Result<Bytes, SseError>> {
        loop {
            let event = self.decoder.next_event()?;
            if let Some(message) = Self::message(event) {
                return Some(message);
            }
        }
    }

    /// The connection's body ended: the messages still buffered, one per
    /// call, then `None` (an unfinished event is discarded).
    pub fn finish(&mut self) -> Option<Result<Bytes, SseError>> {
        loop {
            let event = self.decoder.finish()?;
            if let Some(message) = Self::message(event) {
                return Some(message);
            }
        }
    }

    fn message(
        event: Result<wirestate_codec::SseEvent, SseError>,
    ) -> Option<Result<Bytes, SseError>> {
        match event {
            Ok(e) if e.event_type() == "message" && !e.data.is_empty() => {
                Some(Ok(Bytes::from(e.data.into_bytes())))
            }
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        }
    }

    /// The `Last-Event-ID` to reconnect with (`""`: none seen yet).
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// How long to wait before reconnecting: the server's last `retry:`
    /// (bounded by [`ClientConfig::sse_max_retry`]), else
    /// [`ClientConfig::sse_retry`].
    pub fn retry(&self) -> Duration {
        self.retry
    }

    /// The current connection ended (its body ended or failed): takes its
    /// last event id and `retry:`, and readies a decoder for the next
    /// connection. A new event id resets the count of resumptions.
    pub fn reconnect(&mut self) {
        let decoder = std::mem::take(&mut self.decoder);
        let id = decoder.last_event_id();
        if !id.is_empty() && id != self.last_event_id {
            // An id that no header can carry (SSE allows any text but
            // NUL; a header value no control character but tab)
            // names a position we cannot ask for: a GET without it would
            // open the standalone stream instead of resuming, and an
            // older id would replay events already handled. The stream
            // has no usable id from here on.
            self.last_event_id = if HeaderValue::from_str(id).is_ok() {
                id.to_owned()
            } else {
                String::new()
            };
            self.attempts = 0;
        }
        if let Some(ms) = decoder.retry() {
            self.retry = Duration::from_millis(ms).min(self.max_retry);
        }
        // A connection without `retry:` leaves the last one given in force.
    }

    /// The answer to our request `request` ended before its response (the
    /// server may close it at any time once it has sent an event id,
    /// SEP-1699; a dropped connection counts the same): whether and when
    /// to resume it with a GET carrying [`last_event_id`](Self::last_event_id).
    /// `Ok(Some(delay))`: wait `delay`, then GET. `Ok(None)`: the stream
    /// carried no event id (or its last one cannot be sent in a header)
    /// and cannot be resumed; the runtimes' clients
    /// then fail the request with [`AnswerError::NotResumable`] rather
    /// than let it wait for its deadline. Call it only while the request
    /// is pending.
    ///
    /// # Errors
    ///
    /// [`AnswerError::ResumesExhausted`] after
    /// [`ClientConfig::sse_max_resumes`] resumptions in a row that brought
    /// no new event id.
    pub fn resume(&mut self, request: &RequestId) -> Result<Option<Duration>, AnswerError> {
        self.reconnect();
        if self.last_event_id.is_empty() {
            return Ok(None);
        }
        if self.attempts >= self.max_resumes {
            return Err(AnswerError::ResumesExhausted {
                request: request.clone(),
                attempts: self.attempts,
            });
        }
        self.attempts += 1;
        Ok(Some(self.retry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> ClientEndpoint {
        ClientEndpoint::parse("http://127.0.0.1:8080/mcp").expect("a good URL")
    }

    #[test]
    fn urls_must_be_http_or_https_with_a_host() {
        assert_eq!(endpoint().uri().path(), "/mcp");
        let secure = ClientEndpoint::parse("https://example.com/mcp").unwrap();
        assert_eq!(secure.uri().scheme_str(), Some("https"));
        assert!(matches!(
            ClientEndpoint::parse("ftp://example.com/mcp"),
            Err(AnswerError::NotHttp(_))
        ));
        assert!(matches!(
            ClientEndpoint::parse("/mcp"),
            Err(AnswerError::NotHttp(_))
        ));
        assert!(matches!(
            ClientEndpoint::parse("http://exa mple/"),
            Err(AnswerError::BadUrl { .. })
        ));
    }

    #[test]
    fn the_first_session_id_sticks() {
        let mut ep = endpoint();
        assert!(ep.delete().is_none(), "no session, nothing to delete");
        let mut h = HeaderMap::new();
        h.insert(MCP_SESSION_ID, HeaderValue::from_static("abc"));
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        ep.answer(StatusCode::OK, &h);
        h.insert(MCP_SESSION_ID, HeaderValue::from_static("other"));
        ep.answer(StatusCode::OK, &h);
        assert_eq!(ep.session_id().map(|v| v.as_bytes()), Some(&b"abc"[..]));
        let del = ep.delete().expect("a DELETE");
        assert_eq!(del.method(), Method::DELETE);
        assert_eq!(del.headers()[MCP_SESSION_ID], "abc");
    }

    #[test]
    fn a_refusals_session_id_is_not_taken() {
        let mut ep = endpoint();
        let mut h = HeaderMap::new();
        h.insert(MCP_SESSION_ID, HeaderValue::from_static("discarded"));
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        ep.answer(StatusCode::BAD_REQUEST, &h);
        assert!(ep.session_id().is_none());
        h.insert(MCP_SESSION_ID, HeaderValue::from_static("real"));
        ep.answer(StatusCode::OK, &h);
        assert_eq!(ep.session_id().map(|v| v.as_bytes()), Some(&b"real"[..]));
    }

    #[test]
    fn answers_are_classified_by_status_and_content_type() {
        let mut ep = endpoint();
        let ct = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(CONTENT_TYPE, HeaderValue::from_static(v));
            h
        };
        assert_eq!(
            ep.answer(StatusCode::OK, &ct("Text/Event-Stream; charset=utf-8")),
            Answer::EventStream
        );
        let Answer::Body(json) = ep.answer(StatusCode::OK, &ct("application/json")) else {
            panic!("JSON is a body")
        };
        assert!(json.is_message());
        assert_eq!(json.limit(), MAX_JSON_BODY);
        assert_eq!(json.clone().finish(Bytes::new(), None), Ok(None));
        assert_eq!(
            json.finish(Bytes::from_static(b"{}"), None),
            Ok(Some(Bytes::from_static(b"{}")))
        );
        let Answer::Body(accepted) = ep.answer(StatusCode::ACCEPTED, &HeaderMap::new()) else {
            panic!("202 is a body")
        };
        assert_eq!(accepted.finish(Bytes::from_static(b"x"), None), Ok(None));
        let Answer::Body(html) = ep.answer(StatusCode::OK, &ct("text/html")) else {
            panic!("HTML is a body")
        };
        assert!(!html.is_message());
        assert_eq!(
            html.finish(Bytes::new(), None),
            Err(AnswerError::ContentType("text/html".into()))
        );
    }

    #[test]
    fn a_refusal_answering_the_request_goes_to_the_session() {
        let mut ep = endpoint();
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let body = Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":7,"error":{"code":-32022,"message":"version"}}"#,
        );
        let refusal = || match ep.clone().answer(StatusCode::BAD_REQUEST, &h) {
            Answer::Body(b) => b,
            Answer::EventStream => panic!("a refusal is a body"),
        };
        assert_eq!(refusal().limit(), MAX_ERROR_BODY);
        assert_eq!(
            refusal().finish(body.clone(), Some(&RequestId::from(7))),
            Ok(Some(body.clone()))
        );
        // Another request's error, or no request: the status is the error.
        let Err(AnswerError::Status { status, body: text }) =
            refusal().finish(body.clone(), Some(&RequestId::from(8)))
        else {
            panic!("not ours")
        };
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(text.contains("-32022"));
        assert!(refusal().finish(body, None).is_err());
        let Answer::Body(plain) = ep.answer(StatusCode::NOT_FOUND, &HeaderMap::new()) else {
            panic!("a refusal is a body")
        };
        assert_eq!(
            plain.finish(Bytes::from_static(b"gone"), Some(&RequestId::from(7))),
            Err(AnswerError::status(StatusCode::NOT_FOUND, b"gone"))
        );
    }

    #[test]
    fn requests_carry_the_session_and_resumption_headers() {
        let mut ep = endpoint();
        let session = ClientSession::new(ClientConfig::default());
        let post = ep.post(&session, br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#);
        assert_eq!(post.method(), Method::POST);
        assert_eq!(post.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(
            post.headers()[ACCEPT],
            "application/json, text/event-stream"
        );
        assert!(post.headers().get(MCP_SESSION_ID).is_none());
        let mut h = HeaderMap::new();
        h.insert(MCP_SESSION_ID, HeaderValue::from_static("s1"));
        ep.answer(StatusCode::OK, &h);
        let get = ep.get(&session, "e-3");
        assert_eq!(get.method(), Method::GET);
        assert_eq!(get.headers()[ACCEPT], "text/event-stream");
        assert_eq!(get.headers()[MCP_SESSION_ID], "s1");
        assert_eq!(get.headers()[LAST_EVENT_ID], "e-3");
        assert!(ep.get(&session, "").headers().get(LAST_EVENT_ID).is_none());
        assert_eq!(ep.post(&session, b"{}").headers()[MCP_SESSION_ID], "s1");
    }

    #[test]
    fn request_ids_of_requests_only() {
        assert_eq!(
            request_id(br#"{"jsonrpc":"2.0","id":"a","method":"ping"}"#),
            Some(RequestId::from("a"))
        );
        assert_eq!(
            request_id(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            None
        );
        assert_eq!(request_id(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#), None);
        assert_eq!(request_id(b"[]"), None);
        assert_eq!(request_id(b"not json"), None);
    }

    fn messages(sse: &mut SseAnswer) -> Vec<Bytes> {
        let mut out = Vec::new();
        while let Some(m) = sse.next_message() {
            out.extend(m.ok());
        }
        while let Some(m) = sse.finish() {
            out.extend(m.ok());
        }
        out
    }

    #[test]
    fn sse_messages_skip_priming_and_other_events() {
        let mut sse = SseAnswer::new(&ClientConfig::default());
        sse.push(b"id: e0\nretry: 200\ndata:\n\nevent: ping\ndata: x\n\nid: e1\ndata: {\"a\":1}\n\ndata: {\"b\"");
        assert_eq!(messages(&mut sse), vec![Bytes::from_static(b"{\"a\":1}")]);
        assert_eq!(
            sse.resume(&RequestId::from(1)),
            Ok(Some(Duration::from_millis(200)))
        );
        assert_eq!(sse.last_event_id(), "e1");
    }

    #[test]
    fn resumptions_are_counted_until_a_new_event_id() {
        let config = ClientConfig::default();
        let id = RequestId::from(1);
        let mut sse = SseAnswer::new(&config);
        // Without an event id there is nothing to resume from.
        sse.push(b"data: {}\n\n");
        messages(&mut sse);
        assert_eq!(sse.resume(&id), Ok(None));
        sse.push(b"id: e1\ndata: {}\n\n");
        messages(&mut sse);
        for _ in 0..config.sse_max_resumes {
            assert_eq!(sse.resume(&id), Ok(Some(config.sse_retry)));
        }
        assert_eq!(
            sse.resume(&id),
            Err(AnswerError::ResumesExhausted {
                request: id.clone(),
                attempts: config.sse_max_resumes
            })
        );
        // A new event id starts the count again; a huge retry is bounded.
        sse.push(b"id: e2\nretry: 99999999\n\n");
        messages(&mut sse);
        assert_eq!(sse.resume(&id), Ok(Some(config.sse_max_retry)));
        assert_eq!(sse.last_event_id(), "e2");
    }

    #[test]
    fn an_event_id_no_header_can_carry_is_not_resumed_from() {
        let id = RequestId::from(1);
        let mut sse = SseAnswer::new(&ClientConfig::default());
        sse.push(b"id: e1\ndata:\n\n");
        messages(&mut sse);
        assert!(sse.resume(&id).is_ok_and(|d| d.is_some()));
        // Control characters: valid in an SSE id, but a GET could not
        // carry them as Last-Event-ID.
        for bad in [&b"id: \x15e2\ndata:\n\n"[..], b"id: a\x7fb\ndata:\n\n"] {
            sse.push(bad);
            messages(&mut sse);
            assert_eq!(sse.resume(&id), Ok(None), "{bad:?}");
            assert_eq!(sse.last_event_id(), "");
            assert!(
                endpoint()
                    .get(
                        &ClientSession::new(ClientConfig::default()),
                        sse.last_event_id()
                    )
                    .headers()
                    .get(LAST_EVENT_ID)
                    .is_none()
            );
        }
        // A later usable id makes the stream resumable again.
        sse.push(b"id: e3\ndata:\n\n");
        messages(&mut sse);
        assert!(sse.resume(&id).is_ok_and(|d| d.is_some()));
        assert_eq!(sse.last_event_id(), "e3");
    }
}
