//! The 2024-11-05 "HTTP with SSE" transport, both sides, sans-IO.
//!
//! The revision 2025-03-26 replaced it with Streamable HTTP, but many
//! servers still serve it and older clients speak only it. It has two
//! paths:
//!
//! 1. `GET /sse` opens a server-sent-event stream. Its first event is
//!    `endpoint`, whose data is the URI to POST client messages to — here
//!    `/messages?sessionId=<id>`, the session's id carried in the query.
//!    Every later event is a `message` whose data is one JSON-RPC message
//!    of the server (responses, notifications, requests to the client).
//! 2. `POST /messages?sessionId=<id>` carries one client message (or a
//!    batch); it is answered **202 Accepted** with an empty body, and the
//!    answers come on the stream.
//!
//! **Server.** [`HttpServer`] serves this transport beside Streamable HTTP
//! when [`HttpConfig::legacy_sse`] names its two paths (the runtime routes
//! those paths to the same machine): a legacy session is an ordinary
//! session of the machine — the same catalogue, the same events, the same
//! Host/Origin allow-lists (421/403), [`HttpConfig::max_sessions`]
//! (eviction, then 503) and [`HttpConfig::max_body`] (413) — whose only
//! stream is the GET stream, where every message it sends goes. It lives
//! as long as that stream: when the client goes away
//! ([`HttpServer::handle_disconnect`]) the session ends
//! ([`CloseReason::StreamClosed`]); an idle stream gets a keep-alive
//! comment every [`LegacySse::keep_alive`] (on
//! [`HttpServer::handle_timeout`]), so a client gone without a word is
//! found at the write. It is not reachable through
//! `Mcp-Session-Id` on the Streamable HTTP path, nor the other way round.
//! A POST to a session whose stream already holds
//! [`LegacySse::max_queue`] undelivered events is refused with 503
//! ([`HttpError::QueueFull`]): the client posts faster than it reads.
//! Refusals: a GET not accepting `text/event-stream` → 406; a POST
//! without the session parameter → 400, naming no live legacy session →
//! 404; a body that is not `application/json` → 415, not JSON-RPC → 400
//! with -32700/-32600; another method → 405 with `Allow`.
//!
//! **Client.** The 2025-03-26 "backwards compatibility" procedure: POST
//! `initialize` to the URL the user gave; when that fails with 400, 404 or
//! 405 ([`falls_back`]), GET the same URL expecting an event stream whose
//! first event is `endpoint`, then speak this transport. [`LegacyClient`]
//! builds that GET, reads the stream ([`LegacyClient::push`],
//! [`LegacyClient::next_event`]), resolves the endpoint against the
//! stream's URL — refusing one on another origin, as the Python SDK does,
//! so a server cannot make the client post its messages elsewhere — and
//! builds the POSTs.
//!
//! [`HttpConfig::legacy_sse`]: super::HttpConfig::legacy_sse
//! [`HttpConfig::max_sessions`]: super::HttpConfig::max_sessions
//! [`HttpConfig::max_body`]: super::HttpConfig::max_body
//! [`CloseReason::StreamClosed`]: super::CloseReason::StreamClosed

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode, Uri};
use wirestate_codec::{SseDecoder, SseError, SseEvent, encode_comment, encode_event};

use super::client::{AnswerError, ClientEndpoint};
use super::{
    ExKind, Exchange, HttpError, HttpEvent, HttpServer, Reply, SessionId, Stream, accepts, mark,
    push_frame, sse_head,
};

/// The query parameter naming the session in the POST URI (the
/// TypeScript SDK's spelling; the Python SDK's `session_id` is accepted
/// too).
pub const SESSION_PARAM: &str = "sessionId";

/// Where and how an [`HttpServer`] serves the 2024-11-05 HTTP+SSE
/// transport (see the [module documentation](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LegacySse {
    /// The path of the GET stream. Default `/sse`.
    pub sse_path: String,
    /// The path client messages are POSTed to. Default `/messages`.
    pub messages_path: String,
    /// Most events waiting in a session's stream for its client; a POST
    /// beyond is refused with 503. Server-initiated messages are bounded
    /// by [`HttpConfig::replay_events`](super::HttpConfig::replay_events)
    /// (the oldest undelivered go first), so this should not exceed it.
    /// Default 64.
    pub max_queue: usize,
    /// How often an idle stream gets a keep-alive comment (`: keep-alive`,
    /// which clients ignore): proxies keep the connection, and a client
    /// that went away without a word is found at the write, ending its
    /// session. `None`: never. Default 15 s.
    pub keep_alive: Option<Duration>,
}

impl Default for LegacySse {
    fn default() -> Self {
        Self {
            sse_path: "/sse".into(),
            messages_path: "/messages".into(),
            max_queue: 64,
            keep_alive: Some(Duration::from_secs(15)),
        }
    }
}

impl LegacySse {
    /// The defaults: `/sse` and `/messages`.
    pub fn new() -> Self {
        Self::default()
    }

    /// These two paths instead.
    pub fn with_paths(sse_path: impl Into<String>, messages_path: impl Into<String>) -> Self {
        Self {
            sse_path: sse_path.into(),
            messages_path: messages_path.into(),
            ..Self::default()
        }
    }
}

/// The session named in a POST URI's query: `sessionId` or `session_id`.
fn session_param(uri: &Uri) -> Option<&str> {
    uri.query()?.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name == SESSION_PARAM || name == "session_id").then_some(value)
    })
}

impl HttpServer {
    /// The legacy transport's answer to a request on one of its paths;
    /// `None` for any other path (or with the transport off).
    pub(super) fn legacy_request(
        &mut self,
        now: Instant,
        head: &Parts,
        body: &Bytes,
    ) -> Option<Result<Reply, HttpError>> {
        let paths = self.config.legacy_sse.as_ref()?;
        let path = head.uri.path();
        if path == paths.sse_path {
            Some(match head.method {
                Method::GET => self.legacy_get(now, head),
                _ => Err(HttpError::MethodNotAllowed {
                    method: head.method.to_string(),
                }),
            })
        } else if path == paths.messages_path {
            Some(match head.method {
                Method::POST => self.legacy_post(now, head, body.clone()),
                _ => Err(HttpError::MethodNotAllowed {
                    method: head.method.to_string(),
                }),
            })
        } else {
            None
        }
    }

    /// GET of the stream: a new session, its stream opening with the
    /// `endpoint` event.
    fn legacy_get(&mut self, now: Instant, head: &Parts) -> Result<Reply, HttpError> {
        let (_, sse_ok) = accepts(&head.headers);
        if !sse_ok {
            return Err(HttpError::StreamNotAcceptable);
        }
        let messages = self
            .config
            .legacy_sse
            .as_ref()
            .map(|l| l.messages_path.clone())
            .unwrap_or_default();
        let replay = self.config.replay_events;
        let keep_alive = self.config.legacy_sse.as_ref().and_then(|l| l.keep_alive);
        let session = self.new_session(now)?;
        if let Some(every) = keep_alive {
            self.legacy_pings.insert(session.clone(), now + every);
        }
        let exchange = self.exchange_id();
        let Some(slot) = self.sessions.get_mut(&session) else {
            return Err(HttpError::UnknownSession);
        };
        slot.legacy = true;
        let s = slot.next_stream;
        slot.next_stream += 1;
        // Standalone: everything the session sends goes here, and it
        // never ends on its own.
        let mut stream = Stream::open(exchange, Default::default(), true);
        let endpoint =
            SseEvent::new(format!("{messages}?{SESSION_PARAM}={session}")).with_event("endpoint");
        let mut dst = BytesMut::new();
        if encode_event(&endpoint, &mut dst).is_ok() {
            push_frame(&mut stream, dst.freeze(), replay);
        }
        slot.streams.insert(s, stream);
        slot.standalone = Some(s);
        self.exchanges.insert(
            exchange,
            Exchange {
                session: session.clone(),
                kind: ExKind::Sse { stream: s },
            },
        );
        mark(&mut self.ready, &mut self.ready_order, exchange);
        self.events.push_back(HttpEvent::SessionOpened {
            session: session.clone(),
        });
        Ok(Reply::Open {
            response: sse_head(&session),
            exchange,
        })
    }

    /// POST of a client message: handed to the session, answered 202; what
    /// the session says back goes to the stream.
    fn legacy_post(&mut self, now: Instant, head: &Parts, body: Bytes) -> Result<Reply, HttpError> {
        let session = session_param(&head.uri).ok_or(HttpError::MissingSessionId)?;
        let session = SessionId::from(session);
        let max_queue = self
            .config
            .legacy_sse
            .as_ref()
            .map_or(usize::MAX, |l| l.max_queue.min(self.config.replay_events));
        let slot = match self.sessions.get(&session) {
            Some(slot) if slot.legacy => slot,
            _ => return Err(HttpError::UnknownSession),
        };
        if let Some(ct) = head.headers.get(CONTENT_TYPE) {
            let essence = ct.to_str().unwrap_or("").split(';').next().unwrap_or("");
            if !essence.trim().eq_ignore_ascii_case("application/json") {
                return Err(HttpError::UnsupportedMediaType);
            }
        }
        if body.len() > self.config.max_body {
            return Err(HttpError::BodyTooLarge {
                max: self.config.max_body,
            });
        }
        let waiting = slot
            .standalone
            .and_then(|s| slot.streams.get(&s))
            .map_or(0, |st| st.next_seq.saturating_sub(st.delivered));
        if waiting as usize >= max_queue {
            return Err(HttpError::QueueFull);
        }
        let classified = self.classify(&body)?;
        let Some(slot) = self.sessions.get_mut(&session) else {
            return Err(HttpError::UnknownSession);
        };
        slot.last_active = now;
        // Not related to a request: every answer goes to the one stream.
        slot.related = None;
        let _ = slot.session.handle_decoded(now, classified.decoded);
        self.pump(&session);
        Ok(Reply::Full(
            Response::builder()
                .status(StatusCode::ACCEPTED)
                .body(Bytes::new())
                .unwrap_or_default(),
        ))
    }

    /// Writes a keep-alive comment to each legacy stream that is due and
    /// has nothing else waiting; forgets the streams of ended sessions.
    pub(super) fn legacy_keep_alive(&mut self, now: Instant) {
        let Some(every) = self.config.legacy_sse.as_ref().and_then(|l| l.keep_alive) else {
            self.legacy_pings.clear();
            return;
        };
        let replay = self.config.replay_events;
        let due: Vec<SessionId> = self
            .legacy_pings
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            let Some(slot) = self.sessions.get_mut(&id) else {
                self.legacy_pings.remove(&id);
                continue;
            };
            self.legacy_pings.insert(id, now + every);
            let Some(stream) = slot.standalone.and_then(|s| slot.streams.get_mut(&s)) else {
                continue;
            };
            if stream.next_seq != stream.delivered {
                // Something is on its way already.
                continue;
            }
            let Some(exchange) = stream.attached else {
                continue;
            };
            let mut dst = BytesMut::new();
            encode_comment("keep-alive", &mut dst);
            push_frame(stream, dst.freeze(), replay);
            mark(&mut self.ready, &mut self.ready_order, exchange);
        }
    }

    /// Whether `id` is a live session of the 2024-11-05 HTTP+SSE
    /// transport.
    pub fn is_legacy_session(&self, id: &SessionId) -> bool {
        self.sessions.get(id).is_some_and(|s| s.legacy)
    }
}

/// Whether a refusal of the `initialize` POST tells a client to try the
/// 2024-11-05 HTTP+SSE transport at the same URL: 400, 404 or 405, as the
/// specification's backwards-compatibility section says.
pub fn falls_back(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
    )
}

/// Why a 2024-11-05 HTTP+SSE stream cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LegacyError {
    /// The GET was refused, or its answer is not an event stream.
    #[error(transparent)]
    Answer(#[from] AnswerError),
    /// The first event is not `endpoint`, or the stream ended before one.
    #[error("the SSE stream did not start with an endpoint event")]
    NoEndpoint,
    /// The `endpoint` event's data is not a URI.
    #[error("bad endpoint {0:?}")]
    BadEndpoint(String),
    /// The endpoint is on another origin than the stream.
    #[error("endpoint {0:?} is not on the stream's origin")]
    CrossOrigin(String),
    /// An event broke the decoder's limits (it is skipped; the stream
    /// goes on).
    #[error(transparent)]
    Sse(#[from] SseError),
}

/// What a 2024-11-05 HTTP+SSE stream brought.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LegacyEvent {
    /// The endpoint to POST messages to (absolute; the first event).
    Endpoint(Uri),
    /// A JSON-RPC message of the server, for the client session.
    Message(Bytes),
}

/// The client side of the 2024-11-05 HTTP+SSE transport (see the
/// [module documentation](self)): the GET of the stream, its events, and
/// the POSTs of messages once the endpoint is known.
#[derive(Debug)]
pub struct LegacyClient {
    stream: Uri,
    decoder: SseDecoder,
    endpoint: Option<Uri>,
    /// [`finish`](LegacyClient::finish) reported the missing endpoint.
    reported: bool,
}

impl LegacyClient {
    /// The client of the stream at `endpoint`'s URI (the URL the user
    /// gave, where `initialize` was refused).
    pub fn new(endpoint: &ClientEndpoint) -> Self {
        Self {
            stream: endpoint.uri().clone(),
            decoder: SseDecoder::new(),
            endpoint: None,
            reported: false,
        }
    }

    /// The GET that opens the stream.
    pub fn get(&self) -> Request<()> {
        let mut req = Request::new(());
        *req.uri_mut() = self.stream.clone();
        req.headers_mut()
            .insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        req
    }

    /// Checks the head of the answer to [`get`](Self::get): 200 with
    /// `text/event-stream`. The body of a refusal (its start) may be
    /// given for the error's text.
    ///
    /// # Errors
    ///
    /// [`AnswerError::Status`] for another status,
    /// [`AnswerError::ContentType`] for another content type.
    pub fn check_stream(
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), LegacyError> {
        if status != StatusCode::OK {
            return Err(AnswerError::status(status, body).into());
        }
        let ct = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !ct.to_ascii_lowercase().starts_with("text/event-stream") {
            return Err(AnswerError::ContentType(ct.to_owned()).into());
        }
        Ok(())
    }

    /// Bytes of the stream, as they come.
    pub fn push(&mut self, chunk: &[u8]) {
        self.decoder.push(chunk);
    }

    /// The next event of the bytes pushed; `None` until more come.
    ///
    /// # Errors
    ///
    /// Before the endpoint is known, anything but a valid same-origin
    /// `endpoint` event ends the stream's use (the caller gives up);
    /// afterwards, [`LegacyError::Sse`] for an event beyond the decoder's
    /// limits (skipped).
    pub fn next_event(&mut self) -> Option<Result<LegacyEvent, LegacyError>> {
        loop {
            let event = self.decoder.next_event()?;
            if let Some(out) = self.event(event) {
                return Some(out);
            }
        }
    }

    /// The stream ended: the events still buffered, then `None`; a stream
    /// that ended before its endpoint gives [`LegacyError::NoEndpoint`].
    pub fn finish(&mut self) -> Option<Result<LegacyEvent, LegacyError>> {
        loop {
            match self.decoder.finish() {
                Some(event) => {
                    if let Some(out) = self.event(event) {
                        return Some(out);
                    }
                }
                None if self.endpoint.is_none() && !self.reported => {
                    self.reported = true;
                    return Some(Err(LegacyError::NoEndpoint));
                }
                None => return None,
            }
        }
    }

    fn event(
        &mut self,
        event: Result<SseEvent, SseError>,
    ) -> Option<Result<LegacyEvent, LegacyError>> {
        let event = match event {
            Ok(e) => e,
            Err(e) => return Some(Err(e.into())),
        };
        if self.endpoint.is_none() {
            if event.event_type() != "endpoint" {
                // A comment-only or empty event is not dispatched by the
                // decoder; anything else first is a wrong stream.
                return Some(Err(LegacyError::NoEndpoint));
            }
            return Some(match self.resolve(event.data.trim()) {
                Ok(uri) => {
                    self.endpoint = Some(uri.clone());
                    Ok(LegacyEvent::Endpoint(uri))
                }
                Err(e) => Err(e),
            });
        }
        (event.event_type() == "message" && !event.data.is_empty())
            .then(|| Ok(LegacyEvent::Message(Bytes::from(event.data.into_bytes()))))
    }

    /// The endpoint event's data, resolved against the stream's URI: an
    /// absolute URL (same origin only), an absolute path, or a path
    /// relative to the stream's.
    fn resolve(&self, data: &str) -> Result<Uri, LegacyError> {
        let bad = || LegacyError::BadEndpoint(data.to_owned());
        let base = &self.stream;
        let scheme = base.scheme_str().unwrap_or("http");
        let authority = base.authority().map(|a| a.as_str()).unwrap_or("");
        if data.is_empty() || data.contains(char::is_whitespace) {
            return Err(bad());
        }
        let uri: Uri = if data.contains("://") {
            let uri: Uri = data.parse().map_err(|_| bad())?;
            let same = uri.scheme_str() == Some(scheme)
                && uri
                    .authority()
                    .is_some_and(|a| a.as_str().eq_ignore_ascii_case(authority));
            if !same {
                return Err(LegacyError::CrossOrigin(data.to_owned()));
            }
            uri
        } else if data.starts_with("//") {
            return Err(LegacyError::CrossOrigin(data.to_owned()));
        } else {
            let path = if data.starts_with('/') {
                data.to_owned()
            } else if data.starts_with('?') {
                format!("{}{data}", base.path())
            } else {
                let dir = base.path().rsplit_once('/').map_or("", |(d, _)| d);
                format!("{dir}/{data}")
            };
            format!("{scheme}://{authority}{path}")
                .parse()
                .map_err(|_| bad())?
        };
        Ok(uri)
    }

    /// The endpoint, once the stream named it.
    pub fn endpoint(&self) -> Option<&Uri> {
        self.endpoint.as_ref()
    }

    /// The POST of one client message to the endpoint; `None` before the
    /// endpoint is known.
    pub fn post(&self) -> Option<Request<()>> {
        Some(Self::post_to(self.endpoint()?))
    }

    /// The POST of one client message to `endpoint` (as
    /// [`endpoint`](Self::endpoint) gave it), for a writer that does not
    /// hold the stream's reader.
    pub fn post_to(endpoint: &Uri) -> Request<()> {
        let mut req = Request::new(());
        *req.method_mut() = Method::POST;
        *req.uri_mut() = endpoint.clone();
        req.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        req
    }

    /// Checks the answer to a [`post`](Self::post): any 2xx (202 as the
    /// specification has it; some servers say 200).
    ///
    /// # Errors
    ///
    /// [`AnswerError::Status`] otherwise (its body's start given).
    pub fn check_post(status: StatusCode, body: &[u8]) -> Result<(), AnswerError> {
        if status.is_success() {
            Ok(())
        } else {
            Err(AnswerError::status(status, body))
        }
    }
}
