//! Sans-IO HTTP/1.1 (RFC 9110, RFC 9112): a [`ServerConnection`] and a
//! [`ClientConnection`] that turn bytes into `http` types and back, with
//! keep-alive, pipelining, chunked bodies with trailers, `Expect:
//! 100-continue`, Upgrade and CONNECT hand-off, header-read and idle timers,
//! and request smuggling refused.
//!
//! Both implement [`wirestate_machine::Machine`]: feed bytes with
//! `handle_input(now, bytes)`, drain `poll_event` and `poll_transmit`, and
//! fire `handle_timeout` when `poll_timeout` says. No socket, clock or
//! thread is touched.
//!
//! Strictness, in short: Content-Length must be plain digits and agree when
//! repeated; Transfer-Encoding must end in a single `chunked` and never come
//! with Content-Length or in HTTP/1.0; chunk lines end in CRLF; header names
//! are tokens with nothing before the colon; values hold no control bytes;
//! obs-fold is refused; HTTP/1.1 requests carry exactly one valid Host.
//! The server answers each refusal with the status from [`Error::hint`] and
//! closes.
//!
//! [`cors`] holds the CORS decisions (preflights, response headers) of a
//! browser-facing endpoint, shared by gRPC-Web and MCP.

#![forbid(unsafe_code)]

mod body;
mod client;
mod config;
pub mod cors;
mod encode;
mod error;
mod head;
pub mod policy;
mod server;

pub use body::{BodyDecoder, BodyKind, BodySize, BodyStep};
pub use client::{ClientConnection, ClientEvent, Response};
pub use config::{ClientConfig, Limits, MAX_HEADERS_CEILING, ServerConfig};
pub use encode::HeaderCaseMap;
pub use error::Error;
pub use server::{Request, RequestId, ServerConnection, ServerEvent};

/// Parses a single request head from `buf` with default limits, for custom
/// loops and tools that only need the head. Returns the head, its body
/// framing and the number of bytes it took, or `Ok(None)` if incomplete.
///
/// ```
/// let (head, body, len) = wirestate_http1::parse_request_head(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
///     .unwrap()
///     .unwrap();
/// assert_eq!(head.uri, "/");
/// assert_eq!(body, wirestate_http1::BodyKind::Empty);
/// assert_eq!(len, 27);
/// ```
pub fn parse_request_head(
    buf: &[u8],
) -> Result<Option<(http::request::Parts, BodyKind, usize)>, Error> {
    let limits = Limits::default();
    let mut rx = wirestate_machine::RecvBuf::new(buf.len().max(1));
    let _ = rx.extend(buf);
    let mut parser = head::HeadParser::default();
    let Some(parsed) = parser.parse_request(&mut rx, &limits, false)? else {
        return Ok(None);
    };
    let http10 = parsed.parts.version == http::Version::HTTP_10;
    let body = server::request_body_kind(&parsed.facts, http10)?;
    Ok(Some((parsed.parts, body, buf.len() - rx.len())))
}

/// Parses a single response head from `buf` with default limits. The body
/// framing depends on the request, so only the head and its length are
/// returned.
pub fn parse_response_head(buf: &[u8]) -> Result<Option<(http::response::Parts, usize)>, Error> {
    let limits = Limits::default();
    let mut rx = wirestate_machine::RecvBuf::new(buf.len().max(1));
    let _ = rx.extend(buf);
    let mut parser = head::HeadParser::default();
    let Some(parsed) = parser.parse_response(&mut rx, &limits, false)? else {
        return Ok(None);
    };
    Ok(Some((parsed.parts, buf.len() - rx.len())))
}
