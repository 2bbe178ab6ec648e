//! Stateless (2026-07-28) requests over Streamable HTTP: the header rules
//! of SEP-2243 and one short-lived session per POST.
//!
//! A stateless POST must carry, besides the body:
//!
//! * `MCP-Protocol-Version`, equal to `params._meta`'s
//!   `io.modelcontextprotocol/protocolVersion` when that is present;
//! * `Mcp-Method`, equal to the body's `method` (values are
//!   case-sensitive; whitespace around them is not significant);
//! * `Mcp-Name` for `tools/call` and `prompts/get` (`params.name`) and
//!   `resources/read` (`params.uri`);
//! * for `tools/call` of a tool whose input schema marks a property with
//!   `x-mcp-header: NAME`, `Mcp-Param-NAME` mirroring that argument when
//!   it is present: the value as text, or `=?base64?…?=` around its
//!   Base64 (canonical padding) — anything else is taken literally.
//!
//! Any of them missing or disagreeing is answered 400 with -32020
//! (HeaderMismatch) and the request's id. Batches do not exist in this
//! revision (400, -32600); `subscriptions/listen` from a client that does
//! not accept `text/event-stream` gets 406.

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Response, StatusCode};
use serde_json::{Map, Value};
use wirestate_codec::{SseEvent, encode_event};
use wirestate_jsonrpc::{ErrorCode, ErrorObject, ErrorResponse, Message, RequestId};

use super::{
    Chunk, CloseReason, ExKind, Exchange, ExchangeId, HttpError, HttpEvent, HttpServer,
    MCP_PROTOCOL_VERSION, MCP_SESSION_ID, Peek, Reply, SessionId, Slot, json_response, mark,
};
use crate::schema::{RequestMeta, Tool, methods, stateless_codes, version};
use crate::server::ServerSession;

/// The method header (SEP-2243).
pub const MCP_METHOD: &str = "mcp-method";
/// The name header: the tool or prompt name, or the resource URI.
pub const MCP_NAME: &str = "mcp-name";
/// The prefix of the headers mirroring `x-mcp-header` tool arguments.
pub const MCP_PARAM_PREFIX: &str = "mcp-param-";

/// The answer of one stateless request, as it is produced.
#[derive(Debug)]
pub(super) struct Solo {
    /// The client accepts `text/event-stream`.
    sse_ok: bool,
    /// The head went out as SSE.
    sse: bool,
    /// SSE bytes not yet taken.
    out: BytesMut,
    /// The final response was produced.
    done: bool,
    /// A decided head not yet taken by [`HttpServer::poll_reply`].
    reply: Option<Reply>,
}

/// The member of the body that `Mcp-Name` must mirror, for the methods
/// that have one.
pub fn name_member(method: &str) -> Option<&'static str> {
    match method {
        methods::TOOLS_CALL | methods::PROMPTS_GET => Some("name"),
        methods::RESOURCES_READ => Some("uri"),
        _ => None,
    }
}

/// Decodes an `Mcp-Param-*` value: `=?base64?…?=` is Base64 (standard
/// alphabet, canonical padding) of UTF-8 text; anything else is literal.
///
/// ```
/// use wirestate_mcp::http::stateless::decode_param_header;
/// assert_eq!(decode_param_header("=?base64?SGVsbG8=?=").unwrap(), "Hello");
/// assert!(decode_param_header("=?base64?SGVsbG8?=").is_err());
/// assert_eq!(decode_param_header(" us-west1 ").unwrap(), "us-west1");
/// assert_eq!(decode_param_header("=?base64?SGVsbG8=").unwrap(), "=?base64?SGVsbG8=");
/// ```
///
/// # Errors
///
/// Invalid Base64 or UTF-8 inside the wrapper.
pub fn decode_param_header(value: &str) -> Result<String, String> {
    let value = value.trim_matches([' ', '\t']);
    let Some(inner) = value
        .strip_prefix("=?base64?")
        .and_then(|v| v.strip_suffix("?="))
    else {
        return Ok(value.to_owned());
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(inner)
        .map_err(|e| format!("invalid Base64: {e}"))?;
    String::from_utf8(bytes).map_err(|_| "Base64 value is not UTF-8".to_owned())
}

/// Whether a header value (decoded) stands for the body's argument.
fn param_matches(header: &str, body: &Value) -> bool {
    match body {
        Value::String(s) => header == s,
        Value::Bool(b) => header == if *b { "true" } else { "false" },
        Value::Number(n) => match (header.parse::<f64>(), n.as_f64()) {
            (Ok(h), Some(b)) => (h - b).abs() <= 1e-9,
            _ => false,
        },
        _ => false,
    }
}

fn header_str<'a>(head: &'a Parts, name: &str) -> Option<&'a str> {
    head.headers
        .get(name)
        .map(|v| v.to_str().unwrap_or("\u{fffd}").trim_matches([' ', '\t']))
}

/// Checks the standard and custom headers of a stateless request against
/// its body; `tools` are the registered tools (for `x-mcp-header`).
///
/// # Errors
///
/// What disagreed, for the -32020 message.
pub fn check_headers(
    head: &Parts,
    method: &str,
    params: Option<&Map<String, Value>>,
    tools: &[Tool],
) -> Result<(), String> {
    let Some(header_version) = header_str(head, MCP_PROTOCOL_VERSION) else {
        return Err("Missing MCP-Protocol-Version header".into());
    };
    let meta = params
        .and_then(|p| p.get("_meta"))
        .and_then(Value::as_object);
    if let Some(v) = RequestMeta::version_of(meta) {
        if v != header_version {
            return Err("MCP-Protocol-Version header does not match _meta protocolVersion".into());
        }
    }
    match header_str(head, MCP_METHOD) {
        None => return Err("Missing Mcp-Method header".into()),
        Some(m) if m != method => {
            return Err(format!(
                "Mcp-Method header {m:?} does not match method {method:?}"
            ));
        }
        Some(_) => {}
    }
    if let Some(member) = name_member(method) {
        let body = params.and_then(|p| p.get(member)).and_then(Value::as_str);
        match (header_str(head, MCP_NAME), body) {
            (None, Some(_)) => return Err("Missing Mcp-Name header".into()),
            (Some(h), Some(b)) if h != b => {
                return Err(format!("Mcp-Name header does not match params.{member}"));
            }
            _ => {}
        }
    }
    if method == methods::TOOLS_CALL {
        check_param_headers(head, params, tools)?;
    }
    Ok(())
}

fn check_param_headers(
    head: &Parts,
    params: Option<&Map<String, Value>>,
    tools: &[Tool],
) -> Result<(), String> {
    let Some(params) = params else { return Ok(()) };
    let Some(tool) = params
        .get("name")
        .and_then(Value::as_str)
        .and_then(|n| tools.iter().find(|t| t.name == n))
    else {
        return Ok(());
    };
    let Some(properties) = tool
        .input_schema
        .get("properties")
        .and_then(Value::as_object)
    else {
        return Ok(());
    };
    let arguments = params.get("arguments").and_then(Value::as_object);
    for (property, schema) in properties {
        let Some(name) = schema.get("x-mcp-header").and_then(Value::as_str) else {
            continue;
        };
        let Some(value) = arguments
            .and_then(|a| a.get(property))
            .filter(|v| !v.is_null())
        else {
            continue;
        };
        let header = format!("{MCP_PARAM_PREFIX}{}", name.to_ascii_lowercase());
        let Some(raw) = header_str(head, &header) else {
            return Err(format!("Missing Mcp-Param-{name} header"));
        };
        let decoded = decode_param_header(raw).map_err(|e| format!("Mcp-Param-{name}: {e}"))?;
        if !param_matches(&decoded, value) {
            return Err(format!(
                "Mcp-Param-{name} header does not match argument {property}"
            ));
        }
    }
    Ok(())
}

/// The HTTP status of a stateless answer, from its JSON-RPC error code.
pub fn status_for_error(code: Option<i64>) -> StatusCode {
    match code {
        None => StatusCode::OK,
        Some(-32601) => StatusCode::NOT_FOUND,
        Some(-32603) => StatusCode::INTERNAL_SERVER_ERROR,
        Some(
            -32700
            | -32600
            | -32602
            | stateless_codes::HEADER_MISMATCH
            | stateless_codes::MISSING_REQUIRED_CLIENT_CAPABILITY
            | stateless_codes::UNSUPPORTED_PROTOCOL_VERSION,
        ) => StatusCode::BAD_REQUEST,
        Some(_) => StatusCode::OK,
    }
}

fn error_code(message: &[u8]) -> Option<i64> {
    let v: Value = serde_json::from_slice(message).ok()?;
    v.get("error")?.get("code")?.as_i64()
}

fn sse_frame(message: &[u8]) -> Option<Bytes> {
    let text = String::from_utf8_lossy(message).replace(['\n', '\r'], " ");
    let mut dst = BytesMut::new();
    encode_event(&SseEvent::new(text), &mut dst).ok()?;
    Some(dst.freeze())
}

fn plain_sse_head() -> Response<()> {
    let mut r = Response::new(());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

fn refuse(id: Option<RequestId>, code: i64, message: String) -> Response<Bytes> {
    let body = Message::from(ErrorResponse::new(
        id,
        ErrorObject::new(ErrorCode::new(code), message),
    ))
    .to_bytes();
    json_response(status_for_error(Some(code)), body, None)
}

impl HttpServer {
    /// A POST of the stateless era, answered here; `None` for one of the
    /// `initialize` era.
    pub(super) fn stateless_post(
        &mut self,
        now: std::time::Instant,
        head: &Parts,
        body: &Bytes,
        sse_ok: bool,
    ) -> Option<Result<Reply, HttpError>> {
        if head.headers.contains_key(MCP_SESSION_ID) {
            return None;
        }
        let header_version = header_str(head, MCP_PROTOCOL_VERSION);
        let known_stateless = header_version.is_some_and(version::is_stateless);
        let stateless_header = header_version.is_some_and(|v| !version::is_supported(v));
        let value: Value = serde_json::from_slice(body).ok()?;
        let obj = match value {
            Value::Object(o) => o,
            Value::Array(_) if stateless_header => {
                let e = HttpError::HeaderMismatch {
                    message: "batches are not part of this revision".into(),
                };
                self.events.push_back(HttpEvent::Refused(e));
                return Some(Ok(Reply::Full(refuse(
                    None,
                    ErrorCode::INVALID_REQUEST.code(),
                    "Invalid Request: batches are not supported".into(),
                ))));
            }
            _ => return None,
        };
        let params = obj.get("params").and_then(Value::as_object);
        let meta = params
            .and_then(|p| p.get("_meta"))
            .and_then(Value::as_object);
        let method = obj.get("method").and_then(Value::as_str);
        // An `initialize` naming a revision this server does not know, and
        // no stateless one, is a newer client negotiating the legacy way.
        let negotiating = method == Some(methods::INITIALIZE) && !known_stateless;
        if RequestMeta::version_of(meta).is_none() && (!stateless_header || negotiating) {
            return None;
        }
        let Some(method) = method else {
            // A response: the stateless era has no requests to the client.
            return Some(Ok(Reply::Full(empty(StatusCode::ACCEPTED))));
        };
        let Some(raw_id) = obj.get("id") else {
            // A notification: nothing to do without a session (a request
            // is cancelled by closing its connection).
            return Some(Ok(Reply::Full(empty(StatusCode::ACCEPTED))));
        };
        let id = serde_json::from_value::<RequestId>(raw_id.clone()).ok();
        if let Err(message) = check_headers(head, method, params, &self.catalogue.tools) {
            let reply = refuse(id, stateless_codes::HEADER_MISMATCH, message.clone());
            self.events
                .push_back(HttpEvent::Refused(HttpError::HeaderMismatch { message }));
            return Some(Ok(Reply::Full(reply)));
        }
        if method == crate::schema::stateless_methods::SUBSCRIPTIONS_LISTEN && !sse_ok {
            // Its notifications can only travel as server-sent events.
            let message = "subscriptions/listen needs Accept: text/event-stream".to_owned();
            let mut reply = refuse(id, ErrorCode::INVALID_REQUEST.code(), message);
            *reply.status_mut() = StatusCode::NOT_ACCEPTABLE;
            self.events
                .push_back(HttpEvent::Refused(HttpError::NotAcceptable));
            return Some(Ok(Reply::Full(reply)));
        }
        if let Err(e) = self.make_room(now) {
            return Some(Err(e));
        }
        let exchange = self.exchange_id();
        // Never a 32-hex-digit id, so never one a client could name.
        let session = SessionId::from(format!("stateless-{}", exchange.0).as_str());
        let mut server =
            ServerSession::stateless(self.config.session.clone(), self.catalogue.clone());
        let _ = server.handle_message_bytes(now, body.clone());
        self.sessions.insert(
            session.clone(),
            Slot {
                solo: Some(exchange),
                session: server,
                last_active: now,
                related: None,
                routes: Default::default(),
                progress: Default::default(),
                streams: Default::default(),
                next_stream: 0,
                standalone: None,
                finished: Default::default(),
                legacy: false,
            },
        );
        self.exchanges.insert(
            exchange,
            Exchange {
                session: session.clone(),
                kind: ExKind::Solo(Solo {
                    sse_ok,
                    sse: false,
                    out: BytesMut::new(),
                    done: false,
                    reply: None,
                }),
            },
        );
        self.pump(&session);
        Some(Ok(self
            .take_reply(exchange)
            .unwrap_or(Reply::Deferred { exchange })))
    }

    /// The head of a [`Reply::Deferred`] exchange (a stateless request, or
    /// a legacy-era POST of one request), once decided: a
    /// complete response, or an SSE head whose body comes from
    /// [`poll_chunk`](Self::poll_chunk). `None` while undecided (or for an
    /// unknown exchange).
    ///
    /// An SSE head comes with its first events already waiting (the
    /// priming event, and the message that decided the head):
    /// [`poll_ready`](Self::poll_ready) names the exchange again for them,
    /// as it does for an [`Reply::Open`] from
    /// [`handle_request`](Self::handle_request), so a loop that writes
    /// bodies only when told to needs no special case.
    pub fn poll_reply(&mut self, exchange: ExchangeId) -> Option<Reply> {
        self.pump_all();
        let mut reply = self
            .take_decided(exchange)
            .or_else(|| self.take_reply(exchange));
        if let Some(Reply::Open { .. }) = reply {
            super::mark(&mut self.ready, &mut self.ready_order, exchange);
        }
        self.cors_decorate_later(exchange, reply.as_mut(), false);
        reply
    }

    fn take_reply(&mut self, exchange: ExchangeId) -> Option<Reply> {
        let ex = self.exchanges.get_mut(&exchange)?;
        let ExKind::Solo(solo) = &mut ex.kind else {
            return None;
        };
        let reply = solo.reply.take()?;
        if let Reply::Full(_) = reply {
            // Answered in full: the request's session is done.
            let session = ex.session.clone();
            self.exchanges.remove(&exchange);
            self.ready.remove(&exchange);
            self.sessions.remove(&session);
        }
        Some(reply)
    }

    /// Moves what a stateless request's session queued into its answer.
    pub(super) fn solo_pump(&mut self, id: &SessionId, x: ExchangeId) {
        let Some(slot) = self.sessions.get_mut(id) else {
            return;
        };
        let Some(Exchange {
            kind: ExKind::Solo(solo),
            ..
        }) = self.exchanges.get_mut(&x)
        else {
            while slot.session.poll_message().is_some() {}
            return;
        };
        while let Some(message) = slot.session.poll_message() {
            if solo.done {
                continue;
            }
            let peek: Peek = match serde_json::from_slice(&message) {
                Ok(p) => p,
                Err(_) => continue,
            };
            if peek.method.is_none() {
                // The final response.
                solo.done = true;
                if solo.sse {
                    if let Some(frame) = sse_frame(&message) {
                        solo.out.extend_from_slice(&frame);
                    }
                } else {
                    let status = status_for_error(error_code(&message));
                    solo.reply = Some(Reply::Full(json_response(status, message, None)));
                }
            } else if peek.id.is_some() {
                // A request to the client has no place in this era (the
                // session refuses to make one); never forward it.
                continue;
            } else {
                if !solo.sse {
                    if !solo.sse_ok {
                        // A JSON-only client cannot receive notifications.
                        continue;
                    }
                    solo.sse = true;
                    solo.reply = Some(Reply::Open {
                        response: plain_sse_head(),
                        exchange: x,
                    });
                }
                if let Some(frame) = sse_frame(&message) {
                    solo.out.extend_from_slice(&frame);
                }
            }
            mark(&mut self.ready, &mut self.ready_order, x);
        }
    }

    /// The next piece of a stateless request's SSE answer.
    pub(super) fn solo_chunk(&mut self, x: ExchangeId) -> Option<Chunk> {
        let Some(Exchange {
            kind: ExKind::Solo(solo),
            session,
        }) = self.exchanges.get_mut(&x)
        else {
            return Some(Chunk::End);
        };
        if solo.reply.is_some() {
            // The head has not been taken yet.
            return None;
        }
        if !solo.out.is_empty() {
            let data = solo.out.split().freeze();
            if solo.done {
                // Come back for the end.
                mark(&mut self.ready, &mut self.ready_order, x);
            }
            return Some(Chunk::Data(data));
        }
        if solo.done || !solo.sse {
            let session = session.clone();
            self.exchanges.remove(&x);
            self.ready.remove(&x);
            self.sessions.remove(&session);
            return Some(Chunk::End);
        }
        None
    }

    /// Ends the session of a stateless request whose client went away.
    pub(super) fn solo_disconnect(&mut self, session: &SessionId) {
        self.end_session(session, CloseReason::Removed);
    }
}

fn empty(status: StatusCode) -> Response<Bytes> {
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = status;
    r
}
