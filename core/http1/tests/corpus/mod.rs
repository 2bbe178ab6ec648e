//! Transcripts shared by the HTTP/1.1 tests: what a server or client is fed,
//! and what must come of it.
#![allow(dead_code)]

use bytes::Bytes;
use std::time::Instant;
use wirestate_http1::{
    BodySize, ClientConfig, ClientConnection, ClientEvent, Error, ServerConfig, ServerConnection,
    ServerEvent,
};
use wirestate_testkit::Transcript;

/// What a transcript must end in.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// No error; this many requests (server) or responses (client) seen.
    Ok(usize),
    /// This error.
    Err(Error),
}

/// One server transcript.
pub struct ServerCase {
    pub name: &'static str,
    pub input: Vec<u8>,
    pub eof: bool,
    pub expect: Expect,
}

fn s(name: &'static str, input: impl AsRef<[u8]>, eof: bool, expect: Expect) -> ServerCase {
    ServerCase {
        name,
        input: input.as_ref().to_vec(),
        eof,
        expect,
    }
}

use Expect::{Err as E, Ok as K};

pub fn server_cases() -> Vec<ServerCase> {
    let pipelined16: String = (0..16)
        .map(|i| format!("GET /{i} HTTP/1.1\r\nHost: a\r\n\r\n"))
        .collect();
    let pipelined20: String = (0..20)
        .map(|i| format!("GET /p{i} HTTP/1.1\r\nHost: a\r\nX-N: {i}\r\n\r\n"))
        .collect();
    let many_headers: String = (0..60).map(|i| format!("X-H{i}: v{i}\r\n")).collect();
    let too_many: String = (0..101).map(|i| format!("X-H{i}: v\r\n")).collect();
    let big_body = "x".repeat(10_000);
    let huge_header = format!("X-Big: {}\r\n", "y".repeat(33 * 1024));
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(8 * 1024));
    let long_ext = format!(
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;e={}\r\nx\r\n0\r\n\r\n",
        "q".repeat(1100)
    );
    let big_trailer = format!(
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: {}\r\n\r\n",
        "t".repeat(17 * 1024)
    );
    vec![
        // ---- accepted ----
        s(
            "simple get",
            "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
            false,
            K(1),
        ),
        s(
            "get with query",
            "GET /search?q=a%20b&x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n",
            false,
            K(1),
        ),
        s(
            "two pipelined",
            "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
            false,
            K(2),
        ),
        s("sixteen pipelined", &pipelined16, false, K(16)),
        s(
            "twenty pipelined past the depth",
            &pipelined20,
            false,
            K(20),
        ),
        s(
            "post content-length",
            "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world",
            false,
            K(1),
        ),
        s(
            "post chunked",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            false,
            K(1),
        ),
        s(
            "chunk extensions",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value;flag\r\nhello\r\n0;last\r\n\r\n",
            false,
            K(1),
        ),
        s(
            "quoted chunk extension",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3 ; q=\"a \\\"b\\\" c\"\r\nabc\r\n0\r\n\r\n",
            false,
            K(1),
        ),
        s(
            "chunked trailers",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\nX-Checksum: 42\r\nX-Other: yes\r\n\r\n",
            false,
            K(1),
        ),
        s(
            "uppercase hex and leading zeros",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n000A\r\n0123456789\r\n00\r\n\r\n",
            false,
            K(1),
        ),
        s(
            "expect 100-continue",
            "POST /up HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\ndata",
            false,
            K(1),
        ),
        s(
            "websocket upgrade",
            "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            false,
            K(1),
        ),
        s(
            "connect",
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            false,
            K(1),
        ),
        s(
            "http/1.0 closes",
            "GET / HTTP/1.0\r\n\r\nGET /ignored HTTP/1.0\r\n\r\n",
            false,
            K(1),
        ),
        s(
            "http/1.0 keep-alive",
            "GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            false,
            K(2),
        ),
        s(
            "connection close stops reading",
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGARBAGE\r\n\r\n",
            false,
            K(1),
        ),
        s(
            "head request",
            "HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n",
            false,
            K(1),
        ),
        s(
            "options asterisk",
            "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
            false,
            K(1),
        ),
        s(
            "absolute form",
            "GET http://example.com/p?q HTTP/1.1\r\nHost: example.com\r\n\r\n",
            false,
            K(1),
        ),
        s(
            "leading empty line",
            "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            false,
            K(1),
        ),
        s("bare LF head", "GET / HTTP/1.1\nHost: a\n\n", false, K(1)),
        s(
            "obs-text value",
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xc3\xa9\r\n\r\n",
            false,
            K(1),
        ),
        s("empty host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", false, K(1)),
        s(
            "ipv6 host",
            "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
            false,
            K(1),
        ),
        s(
            "repeated equal content-length",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
            false,
            K(1),
        ),
        s(
            "10k body",
            format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10000\r\n\r\n{big_body}"),
            false,
            K(1),
        ),
        s(
            "sixty headers",
            format!("GET / HTTP/1.1\r\nHost: a\r\n{many_headers}\r\n"),
            false,
            K(1),
        ),
        s(
            "extension method",
            "PURGE /cache HTTP/1.1\r\nHost: a\r\n\r\n",
            false,
            K(1),
        ),
        s(
            "tab in value",
            "GET / HTTP/1.1\r\nHost: a\r\nX-T: a\tb\r\n\r\n",
            false,
            K(1),
        ),
        s(
            "clean eof after request",
            "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            true,
            K(1),
        ),
        s(
            "post then get",
            "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhiGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
            false,
            K(2),
        ),
        s(
            "chunked then get",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\nGET /n HTTP/1.1\r\nHost: a\r\n\r\n",
            false,
            K(2),
        ),
        s(
            "te list with empty items",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked\r\n\r\n0\r\n\r\n",
            false,
            K(1),
        ),
        s(
            "mixed-case transfer-encoding",
            "POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: CHUNKED\r\n\r\n1\r\nz\r\n0\r\n\r\n",
            false,
            K(1),
        ),
        // ---- refused ----
        s(
            "cl and te",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            false,
            E(Error::ContentLengthAndTransferEncoding),
        ),
        s(
            "differing content-length",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            false,
            E(Error::ConflictingContentLength),
        ),
        s(
            "content-length plus sign",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello",
            false,
            E(Error::InvalidContentLength),
        ),
        s(
            "content-length hex",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n",
            false,
            E(Error::InvalidContentLength),
        ),
        // RFC 9112 §6.3: a list of identical valid values is that value.
        s(
            "content-length list",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1,1\r\n\r\nx",
            false,
            K(1),
        ),
        s(
            "content-length list with spaces",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3 , 3\r\nContent-Length: 3\r\n\r\nabc",
            false,
            K(1),
        ),
        s(
            "content-length list differing",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\nxy",
            false,
            E(Error::ConflictingContentLength),
        ),
        s(
            "content-length list with an empty element",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1,,1\r\n\r\nx",
            false,
            E(Error::InvalidContentLength),
        ),
        s(
            "content-length list with a bad element",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, +1\r\n\r\nx",
            false,
            E(Error::InvalidContentLength),
        ),
        s(
            "unknown expectation",
            "POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx",
            false,
            E(Error::ExpectationFailed),
        ),
        s(
            "100-continue next to an unknown expectation",
            "GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, x=y\r\n\r\n",
            false,
            E(Error::ExpectationFailed),
        ),
        s(
            "unknown expectation in HTTP/1.0 is ignored",
            "POST / HTTP/1.0\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx",
            false,
            K(1),
        ),
        s(
            "content-length inner space",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 1\r\n\r\nx",
            false,
            E(Error::InvalidContentLength),
        ),
        // RFC 9112 §2.3: a higher HTTP/1 minor version is served as 1.1.
        s(
            "http/1.2 served as 1.1",
            "GET / HTTP/1.2\r\nHost: a\r\n\r\nGET / HTTP/1.9\r\nHost: a\r\n\r\n",
            false,
            K(2),
        ),
        s(
            "http/1.2 after empty lines",
            "\r\n\nPOST / HTTP/1.2\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi",
            false,
            K(1),
        ),
        s(
            "http/1.2 with a bad field still refused",
            "GET / HTTP/1.2\r\nHost: a\r\nX A: b\r\n\r\n",
            false,
            E(Error::InvalidHeaderName),
        ),
        s(
            "http/1.x is not a version",
            "GET / HTTP/1.x\r\nHost: a\r\n\r\n",
            false,
            E(Error::InvalidVersion),
        ),
        s(
            "fragment in the target",
            "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n",
            false,
            E(Error::InvalidTarget),
        ),
        s(
            "userinfo in an absolute-form target",
            "GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n",
            false,
            E(Error::InvalidTarget),
        ),
        s(
            "userinfo in a connect target",
            "CONNECT u@a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
            false,
            E(Error::InvalidTarget),
        ),
        s(
            "connect without a port",
            "CONNECT a HTTP/1.1\r\nHost: a\r\n\r\n",
            false,
            E(Error::InvalidTarget),
        ),
        s(
            "xchunked",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
            false,
            E(Error::InvalidTransferEncoding),
        ),
        s(
            "chunked then identity",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
            false,
            E(Error::InvalidTransferEncoding),
        ),
        s(
            "gzip then chunked",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            false,
            E(Error::UnsupportedTransferCoding),
        ),
        s(
            "chunked twice",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            false,
            E(Error::InvalidTransferEncoding),
        ),
        s(
            "te in http/1.0",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            false,
            E(Error::InvalidTransferEncoding),
        ),
        s(
            "chunk size overflow",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
            false,
            E(Error::InvalidChunkSize),
        ),
        s(
            "chunk size 0x prefix",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
            false,
            E(Error::InvalidChunkSize),
        ),
        s(
            "chunk size sign",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n",
            false,
            E(Error::InvalidChunkSize),
        ),
        s(
            "chunk size negative",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
            false,
            E(Error::InvalidChunkSize),
        ),
        s(
            "empty chunk size",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
            false,
            E(Error::InvalidChunkSize),
        ),
        s(
            "bare LF chunk line",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
            false,
            E(Error::InvalidChunkTerminator),
        ),
        s(
            "chunk data without CRLF",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n",
            false,
            E(Error::InvalidChunkTerminator),
        ),
        s(
            "bad chunk extension",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;=x\r\nhello\r\n0\r\n\r\n",
            false,
            E(Error::InvalidChunkExtension),
        ),
        s(
            "bare LF in trailers",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\n\r\n",
            false,
            E(Error::InvalidChunkTerminator),
        ),
        s(
            "obs-fold",
            "GET / HTTP/1.1\r\nHost: a\r\nX-Folded: a\r\n b\r\n\r\n",
            false,
            E(Error::ObsoleteFold),
        ),
        s(
            "bare CR in value",
            "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n",
            false,
            E(Error::InvalidHeaderValue),
        ),
        s(
            "NUL in value",
            b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n",
            false,
            E(Error::InvalidHeaderValue),
        ),
        s(
            "DEL in value",
            b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x7fb\r\n\r\n",
            false,
            E(Error::InvalidHeaderValue),
        ),
        s(
            "space before colon",
            "GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n",
            false,
            E(Error::InvalidHeaderName),
        ),
        s(
            "bad header name",
            "GET / HTTP/1.1\r\nHost: a\r\nX@Y: b\r\n\r\n",
            false,
            E(Error::InvalidHeaderName),
        ),
        s(
            "bad method",
            "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
            false,
            E(Error::InvalidMethod),
        ),
        s(
            "http/0.9 named",
            "GET / HTTP/0.9\r\nHost: a\r\n\r\n",
            false,
            E(Error::UnsupportedVersion),
        ),
        s(
            "http/2.0",
            "GET / HTTP/2.0\r\nHost: a\r\n\r\n",
            false,
            E(Error::UnsupportedVersion),
        ),
        s(
            "malformed version",
            "GET / HTTX/1.1\r\nHost: a\r\n\r\n",
            false,
            E(Error::InvalidVersion),
        ),
        s(
            "missing host",
            "GET / HTTP/1.1\r\nUser-Agent: x\r\n\r\n",
            false,
            E(Error::MissingHost),
        ),
        s(
            "duplicate host",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            false,
            E(Error::DuplicateHost),
        ),
        s(
            "invalid host",
            "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
            false,
            E(Error::InvalidHost),
        ),
        s(
            "host with userinfo",
            "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n",
            false,
            E(Error::InvalidHost),
        ),
        s(
            "request line too long",
            long_target,
            false,
            E(Error::RequestLineTooLong),
        ),
        s(
            "head too large",
            format!("GET / HTTP/1.1\r\nHost: a\r\n{huge_header}\r\n"),
            false,
            E(Error::HeadersTooLarge),
        ),
        s(
            "too many headers",
            format!("GET / HTTP/1.1\r\nHost: a\r\n{too_many}\r\n"),
            false,
            E(Error::TooManyHeaders),
        ),
        s(
            "chunk extension too long",
            long_ext,
            false,
            E(Error::ChunkExtensionTooLong),
        ),
        s(
            "trailers too large",
            big_trailer,
            false,
            E(Error::TrailersTooLarge),
        ),
        s(
            "eof inside head",
            "GET / HTTP/1.1\r\nHost: a\r\n",
            true,
            E(Error::IncompleteMessage),
        ),
        s(
            "eof inside body",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nshort",
            true,
            E(Error::IncompleteMessage),
        ),
        s(
            "relative target",
            "GET foo HTTP/1.1\r\nHost: a\r\n\r\n",
            false,
            E(Error::InvalidTarget),
        ),
        s(
            "connect origin form",
            "CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n",
            false,
            E(Error::InvalidTarget),
        ),
        s(
            "asterisk on get",
            "GET * HTTP/1.1\r\nHost: a\r\n\r\n",
            false,
            E(Error::InvalidTarget),
        ),
        s(
            // Not an unsupported version (505): the line has four parts.
            "space in target",
            "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
            false,
            E(Error::InvalidTarget),
        ),
        s(
            "control byte in target",
            b"GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n",
            false,
            E(Error::InvalidTarget),
        ),
        s(
            "good then smuggled",
            "GET /ok HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            false,
            E(Error::ContentLengthAndTransferEncoding),
        ),
        s(
            "lowercase http name",
            "GET / http/1.1\r\nHost: a\r\n\r\n",
            false,
            E(Error::InvalidVersion),
        ),
    ]
}

/// A responder for the corpus: 100 Continue when asked, 101 to upgrades,
/// 200 to CONNECT, otherwise `200 ok` once the request body ended.
pub fn server_reactor() -> impl FnMut(&mut ServerConnection, &ServerEvent) {
    let mut upgrades = std::collections::HashMap::new();
    move |conn, ev| match ev {
        ServerEvent::Request(req) => {
            if req.expects_continue {
                conn.send_continue().unwrap();
            }
            if req.wants_upgrade {
                upgrades.insert(req.id, req.head.method == http::Method::CONNECT);
            }
        }
        ServerEvent::End { id, .. } => {
            let mut head = http::Response::new(()).into_parts().0;
            match upgrades.get(id) {
                Some(true) => {
                    conn.send_response(head, BodySize::Empty).unwrap();
                }
                Some(false) => {
                    head.status = http::StatusCode::SWITCHING_PROTOCOLS;
                    head.headers
                        .insert("upgrade", http::HeaderValue::from_static("websocket"));
                    head.headers
                        .insert("connection", http::HeaderValue::from_static("upgrade"));
                    conn.send_response(head, BodySize::Empty).unwrap();
                }
                None => {
                    let _ = conn.send_full_response(head, Bytes::from_static(b"ok"));
                }
            }
        }
        _ => {}
    }
}

/// Normalises server events: adjacent body data of one request merged.
pub fn normalize_server(events: Vec<ServerEvent>) -> Vec<ServerEvent> {
    let mut out: Vec<ServerEvent> = Vec::with_capacity(events.len());
    for ev in events {
        if let (Some(ServerEvent::Data { id: a, data: prev }), ServerEvent::Data { id: b, data }) =
            (out.last_mut(), &ev)
        {
            if a == b {
                let mut joined = prev.to_vec();
                joined.extend_from_slice(data);
                *prev = Bytes::from(joined);
                continue;
            }
        }
        out.push(ev);
    }
    out
}

/// One client transcript: requests sent first, then the response bytes fed.
pub struct ClientCase {
    pub name: &'static str,
    pub requests: Vec<(http::request::Parts, BodySize, Option<&'static [u8]>)>,
    pub input: Vec<u8>,
    pub eof: bool,
    pub expect: Expect,
}

pub fn req(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
    let mut b = http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

fn c(
    name: &'static str,
    requests: Vec<(http::request::Parts, BodySize, Option<&'static [u8]>)>,
    input: impl AsRef<[u8]>,
    eof: bool,
    expect: Expect,
) -> ClientCase {
    ClientCase {
        name,
        requests,
        input: input.as_ref().to_vec(),
        eof,
        expect,
    }
}

fn get(path: &str) -> (http::request::Parts, BodySize, Option<&'static [u8]>) {
    (
        req("GET", &format!("http://example.com{path}"), &[]),
        BodySize::Empty,
        None,
    )
}

pub fn client_cases() -> Vec<ClientCase> {
    let big = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: 20000\r\n\r\n{}",
        "z".repeat(20_000)
    );
    let huge_header = format!(
        "HTTP/1.1 200 OK\r\nX-Big: {}\r\n\r\n",
        "y".repeat(33 * 1024)
    );
    let expect_post = (
        req(
            "POST",
            "http://example.com/up",
            &[("expect", "100-continue")],
        ),
        BodySize::Exact(4),
        Some(&b"data"[..]),
    );
    vec![
        c(
            "content-length",
            vec![get("/")],
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            false,
            K(1),
        ),
        c(
            "chunked",
            vec![get("/")],
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            false,
            K(1),
        ),
        c(
            "chunked trailers",
            vec![get("/")],
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nGrpc-Status: 0\r\n\r\n",
            false,
            K(1),
        ),
        c(
            "204",
            vec![get("/")],
            "HTTP/1.1 204 No Content\r\n\r\n",
            false,
            K(1),
        ),
        c(
            "304 with length",
            vec![get("/")],
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n",
            false,
            K(1),
        ),
        c(
            "head with length",
            vec![(
                req("HEAD", "http://example.com/", &[]),
                BodySize::Empty,
                None,
            )],
            "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n",
            false,
            K(1),
        ),
        c(
            "close delimited",
            vec![get("/")],
            "HTTP/1.1 200 OK\r\n\r\nuntil the end",
            true,
            K(1),
        ),
        c(
            "http/1.0 response",
            vec![get("/")],
            "HTTP/1.0 200 OK\r\n\r\nold style",
            true,
            K(1),
        ),
        c(
            "two pipelined",
            vec![get("/a"), get("/b")],
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb",
            false,
            K(2),
        ),
        c(
            "100 continue",
            vec![expect_post.clone()],
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            false,
            K(1),
        ),
        c(
            "final before continue",
            vec![expect_post],
            "HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n",
            false,
            K(1),
        ),
        c(
            "early hints",
            vec![get("/")],
            "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            false,
            K(1),
        ),
        c(
            "two informational",
            vec![get("/")],
            "HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            false,
            K(1),
        ),
        c(
            "switching protocols",
            vec![(
                req(
                    "GET",
                    "http://example.com/ws",
                    &[("connection", "upgrade"), ("upgrade", "websocket")],
                ),
                BodySize::Empty,
                None,
            )],
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            false,
            K(1),
        ),
        c(
            "connect established",
            vec![(
                req("CONNECT", "example.com:443", &[]),
                BodySize::Empty,
                None,
            )],
            "HTTP/1.1 200 Connection Established\r\n\r\n",
            false,
            K(1),
        ),
        c(
            "connection close aborts the next",
            vec![get("/a"), get("/b")],
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na",
            false,
            K(1),
        ),
        c(
            "repeated headers",
            vec![get("/")],
            "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n",
            false,
            K(1),
        ),
        c(
            "obs-text reason",
            vec![get("/")],
            b"HTTP/1.1 200 \xc3\xa7a va\r\nContent-Length: 0\r\n\r\n",
            false,
            K(1),
        ),
        c(
            "bare LF",
            vec![get("/")],
            "HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
            false,
            K(1),
        ),
        c(
            "zero length",
            vec![get("/")],
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            false,
            K(1),
        ),
        c("large body", vec![get("/")], big, false, K(1)),
        c(
            "empty reason",
            vec![get("/")],
            "HTTP/1.1 299 \r\nContent-Length: 0\r\n\r\n",
            false,
            K(1),
        ),
        c(
            "clean eof after response",
            vec![get("/")],
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            true,
            K(1),
        ),
        // ---- refused ----
        c(
            "cl and te",
            vec![get("/")],
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            false,
            E(Error::ContentLengthAndTransferEncoding),
        ),
        c(
            "differing cl",
            vec![get("/")],
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            false,
            E(Error::ConflictingContentLength),
        ),
        c(
            "invalid cl",
            vec![get("/")],
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            false,
            E(Error::InvalidContentLength),
        ),
        // RFC 9112 §6.3 (4): a response whose Transfer-Encoding does not end
        // in chunked is read until the server closes.
        c(
            "xchunked is read to eof",
            vec![get("/")],
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\nraw bytes",
            true,
            K(1),
        ),
        c(
            "chunked, gzip is read to eof",
            vec![get("/")],
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
            true,
            K(1),
        ),
        c(
            "chunked twice",
            vec![get("/")],
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
            false,
            E(Error::InvalidTransferEncoding),
        ),
        c(
            "transfer-encoding with a parameter",
            vec![get("/")],
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip;q=1\r\n\r\nraw",
            true,
            E(Error::InvalidTransferEncoding),
        ),
        c(
            "gzip chunked",
            vec![get("/")],
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            false,
            E(Error::UnsupportedTransferCoding),
        ),
        c(
            "bad chunk size",
            vec![get("/")],
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            false,
            E(Error::InvalidChunkSize),
        ),
        c(
            "obs-fold",
            vec![get("/")],
            "HTTP/1.1 200 OK\r\nX-A: a\r\n\tb\r\nContent-Length: 0\r\n\r\n",
            false,
            E(Error::ObsoleteFold),
        ),
        c(
            "unexpected 101",
            vec![get("/")],
            "HTTP/1.1 101 Switching Protocols\r\n\r\n",
            false,
            E(Error::UnexpectedSwitchingProtocols),
        ),
        c(
            "response without request",
            vec![get("/")],
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            false,
            E(Error::UnexpectedResponse),
        ),
        c(
            "two digit status",
            vec![get("/")],
            "HTTP/1.1 20 OK\r\n\r\n",
            false,
            E(Error::InvalidStatus),
        ),
        // RFC 9112 §2.3: a higher HTTP/1 minor version is read as 1.1.
        c(
            "http/1.2 response read as 1.1",
            vec![get("/"), get("/")],
            "HTTP/1.2 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.9 204 No Content\r\n\r\n",
            false,
            K(2),
        ),
        c(
            "http/1.x response",
            vec![get("/")],
            "HTTP/1.x 200 OK\r\n\r\n",
            false,
            E(Error::InvalidVersion),
        ),
        c(
            "http/2 response",
            vec![get("/")],
            "HTTP/2.0 200 OK\r\n\r\n",
            false,
            E(Error::UnsupportedVersion),
        ),
        c(
            "eof in body",
            vec![get("/")],
            "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
            true,
            E(Error::IncompleteMessage),
        ),
        c(
            "eof in head",
            vec![get("/")],
            "HTTP/1.1 200 OK\r\nContent-Len",
            true,
            E(Error::IncompleteMessage),
        ),
        c(
            "head too large",
            vec![get("/")],
            huge_header,
            false,
            E(Error::HeadersTooLarge),
        ),
        c(
            "NUL in value",
            vec![get("/")],
            b"HTTP/1.1 200 OK\r\nX: a\x00\r\n\r\n",
            false,
            E(Error::InvalidHeaderValue),
        ),
        c(
            "te in http/1.0 response",
            vec![get("/")],
            "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            false,
            E(Error::InvalidTransferEncoding),
        ),
    ]
}

/// A client connection with the case's requests already sent.
pub fn client_for(case: &ClientCase, now: Instant) -> ClientConnection {
    let mut conn = ClientConnection::new(ClientConfig::default(), now);
    for (head, size, body) in &case.requests {
        conn.send_request(head.clone(), *size).unwrap();
        if let Some(b) = body {
            conn.send_data(Bytes::from_static(b)).unwrap();
            conn.finish(None).unwrap();
        }
    }
    conn
}

/// Normalises client events: adjacent body data merged.
pub fn normalize_client(events: Vec<ClientEvent>) -> Vec<ClientEvent> {
    let mut out: Vec<ClientEvent> = Vec::with_capacity(events.len());
    for ev in events {
        if let (Some(ClientEvent::Data { id: a, data: prev }), ClientEvent::Data { id: b, data }) =
            (out.last_mut(), &ev)
        {
            if a == b {
                let mut joined = prev.to_vec();
                joined.extend_from_slice(data);
                *prev = Bytes::from(joined);
                continue;
            }
        }
        out.push(ev);
    }
    out
}

/// A default server connection.
pub fn server(now: Instant) -> ServerConnection {
    ServerConnection::new(ServerConfig::default(), now)
}

/// Counts final responses / requests in a transcript.
pub fn count_requests(t: &Transcript<ServerEvent, Error>) -> usize {
    t.events
        .iter()
        .filter(|e| matches!(e, ServerEvent::Request(_)))
        .count()
}

pub fn count_responses(t: &Transcript<ClientEvent, Error>) -> usize {
    t.events
        .iter()
        .filter(|e| matches!(e, ClientEvent::Response(_)))
        .count()
}
