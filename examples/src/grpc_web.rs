//! gRPC-Web calls over HTTP/1.1 on wirestate's HTTP/1.1 clients: the
//! async [`wirestate_rt::http1::Client`] (tokio or smol) and the blocking
//! [`wirestate_blocking::Client`]. Used by `wirestate grpc --web` and by
//! the interop client's `--transport=web|web-text` ([`interop`]).
//!
//! A gRPC-Web call is one HTTP/1.1 POST whose body is the request message
//! framed as in gRPC (base64 in text mode), answered by a body of framed
//! messages that ends with the trailers frame (flag 0x80), or by a
//! trailers-only head. A browser cannot stream a request body, so only
//! unary and server-streaming calls fit; the framing, text codec and
//! trailers frame are `wirestate_grpc`'s ([`MessageReader`],
//! [`encode_web_text`]), this module only moves them over a client.

// `Status` is every gRPC call's error type.
#![allow(clippy::result_large_err)]

use bytes::{Bytes, BytesMut};
use std::time::Duration;
use wirestate_grpc::{
    Code, ContentType, DEFAULT_MAX_MESSAGE_SIZE, Encoding, MessageReader, Metadata, MethodPath,
    RequestHead, ResponseHead, ResponseStart, Status, WebMode, encode_message_with,
    encode_web_text,
};

/// One gRPC-Web call: where it goes and what it sends.
#[derive(Debug, Clone)]
pub struct WebCall {
    /// `host:port`, the request's authority.
    pub target: String,
    /// The method, `/package.Service/Method`.
    pub path: String,
    /// The request message, encoded (protobuf or any other codec).
    pub message: Bytes,
    /// How the request message is compressed (`Identity`: sent plain,
    /// flag clear; otherwise flagged and announced in `grpc-encoding`).
    pub encoding: Encoding,
    /// `application/grpc-web-text` (base64 both ways) instead of
    /// `application/grpc-web`.
    pub text: bool,
    /// Custom metadata for the request head.
    pub metadata: Metadata,
    /// The deadline: sent as `grpc-timeout` and enforced here (DEADLINE_EXCEEDED).
    pub timeout: Option<Duration>,
    /// The largest response message accepted (RESOURCE_EXHAUSTED above).
    pub max_message_size: usize,
}

impl WebCall {
    /// A call of `path` on `target` with one encoded request `message`:
    /// binary mode, identity, no metadata, no deadline, default size limit.
    pub fn new(target: impl Into<String>, path: impl Into<String>, message: Bytes) -> WebCall {
        WebCall {
            target: target.into(),
            path: path.into(),
            message,
            encoding: Encoding::Identity,
            text: false,
            metadata: Metadata::new(),
            timeout: None,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        }
    }

    /// The request: its head (absolute URI, so a pooled client knows the
    /// origin) and its body.
    ///
    /// # Errors
    ///
    /// INVALID_ARGUMENT for a malformed path or target; the compression
    /// error's status if the message cannot be framed.
    pub fn request(&self) -> Result<(http::request::Parts, Bytes), Status> {
        let path = MethodPath::parse(&self.path)
            .map_err(|e| Status::new(Code::InvalidArgument, e.to_string()))?;
        let mut head = RequestHead::new(path);
        head.content_type = ContentType::web(self.text);
        head.encoding = self.encoding;
        head.metadata = self.metadata.clone();
        head.timeout = self.timeout;
        let authority = self
            .target
            .parse()
            .map_err(|e| Status::new(Code::InvalidArgument, format!("{}: {e}", self.target)))?;
        let parts = head.to_request(Some(&authority), false);
        let mut framed = BytesMut::new();
        encode_message_with(self.encoding, &self.message, &mut framed)
            .map_err(|e| e.to_status())?;
        let body = if self.text {
            let mut text = BytesMut::new();
            encode_web_text(&framed, &mut text);
            text.freeze()
        } else {
            framed.freeze()
        };
        Ok((parts, body))
    }
}

/// A response message: its bytes (decompressed) and whether it came
/// flagged compressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebMessage {
    /// The compressed flag it had on the wire.
    pub compressed: bool,
    /// The message, decompressed.
    pub data: Bytes,
}

/// What a gRPC-Web call returned.
#[derive(Debug, Clone)]
pub struct WebReply {
    /// Initial metadata: the response head's (empty for a trailers-only
    /// answer, whose metadata is the status's).
    pub metadata: Metadata,
    /// The messages, in order (empty when they went to a sink).
    pub messages: Vec<WebMessage>,
    /// How the call ended, with the trailing metadata.
    pub status: Status,
}

/// Reads one gRPC-Web response as it arrives: [`head`](Self::head), then
/// [`push`](Self::push) each body chunk and take the messages that
/// completed, then [`end`](Self::end).
#[derive(Debug)]
pub struct WebReader {
    max: usize,
    reader: Option<MessageReader>,
    metadata: Metadata,
    /// The call ended in its head (trailers-only or not gRPC-Web).
    ended: Option<Status>,
}

impl WebReader {
    /// A reader accepting messages of at most `max` bytes.
    pub fn new(max: usize) -> WebReader {
        WebReader {
            max,
            reader: None,
            metadata: Metadata::new(),
            ended: None,
        }
    }

    /// The response head. A trailers-only answer (or one that is not
    /// gRPC) ends the call here: the body, if any, is then ignored.
    pub fn head(&mut self, parts: &http::response::Parts) {
        match ResponseHead::from_response(parts) {
            ResponseStart::End(status) => self.ended = Some(status),
            ResponseStart::Head(h) => {
                // A gRPC-Web request answered as gRPC-Web; a server saying
                // plain `application/grpc` over HTTP/1.1 can only mean the
                // binary framing with the trailers frame.
                let mode = h.content_type.format.web_mode().unwrap_or(WebMode::Binary);
                self.reader = Some(MessageReader::new(Some(mode), h.encoding, self.max));
                self.metadata = h.metadata;
            }
        }
    }

    /// A chunk of the body, or its end (`None`).
    ///
    /// # Errors
    ///
    /// The body ended inside a message (INTERNAL).
    pub fn push(&mut self, chunk: Option<Bytes>) -> Result<(), Status> {
        let Some(reader) = &mut self.reader else {
            return Ok(());
        };
        match chunk {
            Some(c) => reader.push(c),
            None => reader.finish(None).map_err(|e| e.to_status())?,
        }
        Ok(())
    }

    /// The next message that completed.
    ///
    /// # Errors
    ///
    /// A malformed frame, an oversized message or one that does not
    /// decompress: the call's status.
    pub fn next_message(&mut self) -> Option<Result<WebMessage, Status>> {
        let reader = self.reader.as_mut()?;
        let data = reader.next_message()?;
        Some(
            data.map(|data| WebMessage {
                compressed: reader.last_compressed(),
                data,
            })
            .map_err(|e| e.to_status()),
        )
    }

    /// The initial metadata (the response head's).
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Whether the call already ended in the head.
    pub fn ended_in_head(&self) -> bool {
        self.ended.is_some()
    }

    /// How the call ended (call once the body ended): the head's status,
    /// or the trailers frame's (INTERNAL if there was none).
    pub fn end(self) -> Status {
        match (self.ended, self.reader) {
            (Some(status), _) => status,
            (None, Some(reader)) => reader.status(),
            (None, None) => Status::new(Code::Internal, "no response head"),
        }
    }
}

fn unavailable(e: impl std::fmt::Display) -> Status {
    Status::new(Code::Unavailable, e.to_string())
}

fn deadline_exceeded() -> Status {
    Status::new(Code::DeadlineExceeded, "deadline exceeded")
}

/// A call that failed before or while its response came.
fn failed(metadata: Metadata, status: Status) -> WebReply {
    WebReply {
        metadata,
        messages: Vec::new(),
        status,
    }
}

/// Takes every completed message out of `reader` into `sink`.
fn drain(
    reader: &mut WebReader,
    sink: &mut dyn FnMut(WebMessage) -> Result<(), Status>,
) -> Result<(), Status> {
    while let Some(m) = reader.next_message() {
        sink(m?)?;
    }
    Ok(())
}

/// Makes `call` with the async HTTP/1.1 `client`, handing each response
/// message to `sink` as it completes (an error from `sink` ends the call
/// with that status). The deadline is a timer on `rt`.
pub async fn call_with<R: wirestate_rt::Runtime>(
    rt: &R,
    client: &wirestate_rt::http1::Client<R>,
    call: &WebCall,
    sink: &mut dyn FnMut(WebMessage) -> Result<(), Status>,
) -> WebReply {
    let (parts, body) = match call.request() {
        Ok(r) => r,
        Err(s) => return failed(Metadata::new(), s),
    };
    let mut reader = WebReader::new(call.max_message_size);
    let exchange = async {
        let req = http::Request::from_parts(parts, wirestate_rt::Body::full(body));
        let res = client.request(req).await.map_err(unavailable)?;
        let (parts, mut body) = res.into_parts();
        reader.head(&parts);
        if reader.ended_in_head() {
            return Ok(());
        }
        loop {
            let chunk = match body.chunk().await {
                Some(Ok(c)) => Some(c),
                Some(Err(e)) => return Err(unavailable(e)),
                None => None,
            };
            let end = chunk.is_none();
            reader.push(chunk)?;
            drain(&mut reader, sink)?;
            if end {
                return Ok(());
            }
        }
    };
    let r = match call.timeout {
        Some(t) => wirestate_rt::timeout(rt, rt.now() + t, exchange)
            .await
            .unwrap_or_else(|| Err(deadline_exceeded())),
        None => exchange.await,
    };
    match r {
        Ok(()) => WebReply {
            metadata: reader.metadata().clone(),
            messages: Vec::new(),
            status: reader.end(),
        },
        Err(s) => failed(reader.metadata().clone(), s),
    }
}

/// Makes `call` with the async HTTP/1.1 `client` and collects the reply.
pub async fn call<R: wirestate_rt::Runtime>(
    rt: &R,
    client: &wirestate_rt::http1::Client<R>,
    call: &WebCall,
) -> WebReply {
    let mut messages = Vec::new();
    let mut reply = call_with(rt, client, call, &mut |m| {
        messages.push(m);
        Ok(())
    })
    .await;
    reply.messages = messages;
    reply
}

/// Makes `call` on blocking threads, handing each response message to
/// `sink` as it completes. `client` serves calls without a deadline; a
/// call with one gets a client of its own whose request and read
/// timeouts are the deadline (the blocking client has no other timer).
pub fn call_blocking_with(
    client: &wirestate_blocking::Client,
    call: &WebCall,
    sink: &mut dyn FnMut(WebMessage) -> Result<(), Status>,
) -> WebReply {
    let (parts, body) = match call.request() {
        Ok(r) => r,
        Err(s) => return failed(Metadata::new(), s),
    };
    let start = std::time::Instant::now();
    let own;
    let client = match call.timeout {
        Some(t) => {
            let mut config = wirestate_blocking::ClientConfig::default();
            config.request_timeout = Some(t);
            config.io_timeout = Some(t);
            own = wirestate_blocking::Client::new(config);
            &own
        }
        None => client,
    };
    // An IO error after the deadline is the deadline's doing.
    let io_failed = |e: &dyn std::fmt::Display| match call.timeout {
        Some(t) if start.elapsed() >= t => deadline_exceeded(),
        _ => unavailable(e),
    };
    let mut reader = WebReader::new(call.max_message_size);
    let req = http::Request::from_parts(parts, wirestate_blocking::RequestBody::full(body));
    let res = match client.request(req) {
        Ok(r) => r,
        Err(e) => return failed(Metadata::new(), io_failed(&e)),
    };
    let (parts, mut body) = res.into_parts();
    reader.head(&parts);
    if !reader.ended_in_head() {
        loop {
            let chunk = match body.chunk() {
                Ok(c) => c,
                Err(e) => return failed(reader.metadata().clone(), io_failed(&e)),
            };
            let end = chunk.is_none();
            let r = reader.push(chunk).and_then(|()| drain(&mut reader, sink));
            if let Err(s) = r {
                return failed(reader.metadata().clone(), s);
            }
            if end {
                break;
            }
        }
    }
    WebReply {
        metadata: reader.metadata().clone(),
        messages: Vec::new(),
        status: reader.end(),
    }
}

/// Makes `call` on blocking threads and collects the reply.
pub fn call_blocking(client: &wirestate_blocking::Client, call: &WebCall) -> WebReply {
    let mut messages = Vec::new();
    let mut reply = call_blocking_with(client, call, &mut |m| {
        messages.push(m);
        Ok(())
    });
    reply.messages = messages;
    reply
}

#[cfg(test)]
mod tests {
    use super::*;
    use wirestate_grpc::{WebTextDecoder, encode_web_trailers};

    #[test]
    fn requests_in_both_modes() {
        let mut call = WebCall::new("127.0.0.1:1", "/p.S/M", Bytes::from_static(b"hello"));
        call.timeout = Some(Duration::from_millis(5));
        call.metadata.insert("x-k", "v").unwrap();
        let (parts, body) = call.request().unwrap();
        assert_eq!(parts.uri, "http://127.0.0.1:1/p.S/M");
        assert_eq!(parts.headers["content-type"], "application/grpc-web");
        assert_eq!(
            wirestate_grpc::parse_timeout(parts.headers["grpc-timeout"].as_bytes()).unwrap(),
            Duration::from_millis(5)
        );
        assert_eq!(parts.headers["x-k"], "v");
        assert!(!parts.headers.contains_key("te"));
        assert_eq!(&body[..], b"\0\0\0\0\x05hello");

        call.text = true;
        call.encoding = Encoding::Gzip;
        let (parts, body) = call.request().unwrap();
        assert_eq!(parts.headers["content-type"], "application/grpc-web-text");
        assert_eq!(parts.headers["grpc-encoding"], "gzip");
        let mut framed = BytesMut::new();
        let mut d = WebTextDecoder::new();
        d.decode(&body, &mut framed).unwrap();
        d.finish(&mut framed).unwrap();
        assert_eq!(framed[0], 1, "flagged compressed");
        let mut plain = BytesMut::new();
        wirestate_grpc::decompress(Encoding::Gzip, &framed[5..], 1 << 20, &mut plain).unwrap();
        assert_eq!(&plain[..], b"hello");

        call.path = "no-slash".into();
        assert_eq!(call.request().unwrap_err().code, Code::InvalidArgument);
    }

    fn response(headers: &[(&str, &str)]) -> http::response::Parts {
        let mut b = http::Response::builder();
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    /// Two messages (the second compressed) and the trailers frame, read
    /// from chunks of every size.
    #[test]
    fn reads_messages_and_trailers_however_chunked() {
        let mut body = BytesMut::new();
        encode_message_with(Encoding::Identity, b"one", &mut body).unwrap();
        encode_message_with(Encoding::Gzip, b"two", &mut body).unwrap();
        let mut trailers = http::HeaderMap::new();
        Status::new(Code::NotFound, "gone ✗").to_trailers(&mut trailers);
        trailers.insert("x-t", "t".parse().unwrap());
        encode_web_trailers(&trailers, &mut body).unwrap();
        let body = body.freeze();
        let head = response(&[
            ("content-type", "application/grpc-web+proto"),
            ("grpc-encoding", "gzip"),
            ("x-i", "i"),
        ]);
        for size in 1..=body.len() {
            let mut r = WebReader::new(1024);
            r.head(&head);
            assert!(!r.ended_in_head());
            let mut got = Vec::new();
            for chunk in body.chunks(size) {
                r.push(Some(Bytes::copy_from_slice(chunk))).unwrap();
                while let Some(m) = r.next_message() {
                    got.push(m.unwrap());
                }
            }
            r.push(None).unwrap();
            assert!(r.next_message().is_none());
            assert_eq!(r.metadata().get_str("x-i"), Some("i"));
            assert_eq!(
                got,
                [
                    WebMessage {
                        compressed: false,
                        data: Bytes::from_static(b"one")
                    },
                    WebMessage {
                        compressed: true,
                        data: Bytes::from_static(b"two")
                    },
                ]
            );
            let status = r.end();
            assert_eq!(
                (status.code, &status.message[..]),
                (Code::NotFound, "gone ✗")
            );
            assert_eq!(status.metadata.get_str("x-t"), Some("t"));
        }
    }

    #[test]
    fn trailers_only_and_truncated_answers() {
        let mut r = WebReader::new(1024);
        r.head(&response(&[
            ("content-type", "application/grpc-web"),
            ("grpc-status", "12"),
        ]));
        assert!(r.ended_in_head());
        assert_eq!(r.end().code, Code::Unimplemented);

        // A body that ends without the trailers frame: INTERNAL.
        let mut r = WebReader::new(1024);
        r.head(&response(&[("content-type", "application/grpc-web")]));
        r.push(Some(Bytes::from_static(b"\0\0\0\0\x01x"))).unwrap();
        r.push(None).unwrap();
        assert!(r.next_message().unwrap().is_ok());
        assert_eq!(r.end().code, Code::Internal);

        // Cut inside a message: an error, never a panic.
        let mut r = WebReader::new(1024);
        r.head(&response(&[("content-type", "application/grpc-web")]));
        r.push(Some(Bytes::from_static(b"\0\0\0\0\x09x"))).unwrap();
        r.push(None).unwrap();
        assert!(matches!(r.next_message(), Some(Err(_))));

        // Over the size limit.
        let mut r = WebReader::new(4);
        r.head(&response(&[("content-type", "application/grpc-web")]));
        r.push(Some(Bytes::from_static(b"\0\0\0\0\x05hello")))
            .unwrap();
        assert_eq!(
            r.next_message().unwrap().unwrap_err().code,
            Code::ResourceExhausted
        );

        // Not gRPC at all: the head says how it ended.
        let mut r = WebReader::new(1024);
        r.head(&response(&[("content-type", "text/html")]));
        assert!(r.ended_in_head());
        assert_eq!(r.end().code, Code::Unknown);
    }
}

/// The standard interop cases (grpc/grpc `doc/interop-test-descriptions.md`)
/// that gRPC-Web can carry, on the calls above: the interop client's
/// `--transport=web` (binary) and `--transport=web-text`.
///
/// Client-streaming and bidi calls cannot go over gRPC-Web
/// ([`unsupported`] says which and why). Where a case checks half of its
/// behaviour on `FullDuplexCall`, that half goes through the
/// server-streaming `StreamingOutputCall`, which takes the same request
/// fields: `status_code_and_message` (the status asked in
/// `response_status`), `custom_metadata` (the echoed initial and trailing
/// metadata around one response), and `timeout_on_sleeping_server` (a
/// response due a second later, with a 1 ms deadline).
pub mod interop {
    use super::{WebCall, WebReply};
    use crate::grpc::interop::{
        Outcome, SPECIAL, large_request, payload, sized, with_status, yes, zeros,
    };
    use bytes::Bytes;
    use prost::Message;
    use std::net::SocketAddr;
    use std::time::Duration;
    use wirestate_grpc::{Code, Encoding, Metadata, Status};
    use wirestate_proto::grpc::testing::{
        Empty, ResponseParameters, SimpleRequest, SimpleResponse, StreamingOutputCallRequest,
        StreamingOutputCallResponse, TestServiceMethod,
    };
    use wirestate_rt::Runtime;

    /// The cases gRPC-Web can carry, in the order `all` runs them.
    pub const CASES: [&str; 12] = [
        "empty_unary",
        "large_unary",
        "server_streaming",
        "status_code_and_message",
        "special_status_message",
        "custom_metadata",
        "unimplemented_method",
        "unimplemented_service",
        "timeout_on_sleeping_server",
        "client_compressed_unary",
        "server_compressed_unary",
        "server_compressed_streaming",
    ];

    /// Why `case` (a standard case name) cannot run over gRPC-Web, if it
    /// cannot.
    pub fn unsupported(case: &str) -> Option<&'static str> {
        match case {
            "client_streaming" | "client_compressed_streaming" | "cancel_after_begin" => Some(
                "client-streaming call: gRPC-Web carries unary and server-streaming calls only",
            ),
            "ping_pong" | "empty_stream" | "cancel_after_first_response" => {
                Some("bidi-streaming call: gRPC-Web carries unary and server-streaming calls only")
            }
            _ => None,
        }
    }

    macro_rules! ensure {
        ($cond:expr, $($msg:tt)+) => {
            if !$cond {
                return Err(format!($($msg)+));
            }
        };
    }

    fn st(s: &Status) -> String {
        format!("{:?}: {}", s.code, s.message)
    }

    /// One call of a case and what its reply must be.
    struct Step {
        call: WebCall,
        check: Box<dyn Fn(&WebReply) -> Outcome>,
    }

    /// The call of `method` with `message`, as every case makes it.
    fn web_call(target: &str, text: bool, method: &str, message: &impl Message) -> WebCall {
        let mut c = WebCall::new(target, method, Bytes::from(message.encode_to_vec()));
        c.text = text;
        c.max_message_size = 16 << 20;
        c
    }

    fn step(call: WebCall, check: impl Fn(&WebReply) -> Outcome + 'static) -> Step {
        Step {
            call,
            check: Box::new(check),
        }
    }

    /// The reply's messages, decoded, once its status is OK.
    fn messages<T: Message + Default>(r: &WebReply) -> Result<Vec<(bool, T)>, String> {
        ensure!(r.status.is_ok(), "{}", st(&r.status));
        r.messages
            .iter()
            .map(|m| {
                T::decode(&m.data[..])
                    .map(|t| (m.compressed, t))
                    .map_err(|e| format!("decoding a response: {e}"))
            })
            .collect()
    }

    /// The one message of a successful unary reply, and its flag.
    fn one<T: Message + Default>(r: &WebReply) -> Result<(bool, T), String> {
        let mut all = messages::<T>(r)?;
        ensure!(all.len() == 1, "{} responses to a unary call", all.len());
        Ok(all.remove(0))
    }

    fn expect(r: &WebReply, code: Code, message: Option<&'static str>) -> Outcome {
        ensure!(
            r.status.code == code,
            "{}, want {code:?}",
            if r.status.is_ok() {
                "no error".to_owned()
            } else {
                st(&r.status)
            }
        );
        if let Some(m) = message {
            ensure!(r.status.message == m, "message {:?}", r.status.message);
        }
        Ok(())
    }

    fn large_unary_ok(r: &WebReply) -> Outcome {
        let (_, m) = one::<SimpleResponse>(r)?;
        ensure!(zeros(&m.payload)? == 314_159, "payload size");
        Ok(())
    }

    /// The metadata `custom_metadata` sends, and the check of its echo.
    fn echo_metadata() -> Result<Metadata, String> {
        let mut md = Metadata::new();
        md.insert("x-grpc-test-echo-initial", "test_initial_metadata_value")
            .map_err(|e| e.to_string())?;
        md.insert_bin("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab")
            .map_err(|e| e.to_string())?;
        Ok(md)
    }

    fn check_echo(r: &WebReply) -> Outcome {
        ensure!(
            r.metadata.get_str("x-grpc-test-echo-initial") == Some("test_initial_metadata_value"),
            "initial metadata {:?}",
            r.metadata
        );
        let t = r.status.metadata.get_bin("x-grpc-test-echo-trailing-bin");
        ensure!(
            matches!(&t, Some(Ok(v)) if &v[..] == b"\xab\xab\xab"),
            "trailing metadata {:?}",
            r.status.metadata
        );
        Ok(())
    }

    /// The calls of `case` to `target`, in order.
    fn steps(case: &str, target: &str, text: bool) -> Result<Vec<Step>, String> {
        if let Some(why) = unsupported(case) {
            return Err(format!("not run over gRPC-Web: {why}"));
        }
        let unary = TestServiceMethod::UnaryCall.path();
        let out = TestServiceMethod::StreamingOutputCall.path();
        Ok(match case {
            "empty_unary" => vec![step(
                web_call(target, text, TestServiceMethod::EmptyCall.path(), &Empty {}),
                |r| {
                    let (_, m) = one::<Empty>(r)?;
                    ensure!(m == Empty {}, "not empty");
                    Ok(())
                },
            )],
            "large_unary" => vec![step(
                web_call(target, text, unary, &large_request()),
                large_unary_ok,
            )],
            "server_streaming" => {
                let sizes = [31_415, 9, 2_653, 58_979];
                vec![step(
                    web_call(target, text, out, &sized(&sizes)),
                    move |r| {
                        let got = messages::<StreamingOutputCallResponse>(r)?
                            .iter()
                            .map(|(_, m)| zeros(&m.payload))
                            .collect::<Result<Vec<_>, _>>()?;
                        ensure!(got == sizes.map(|s| s as usize), "sizes {got:?}");
                        Ok(())
                    },
                )]
            }
            "status_code_and_message" => {
                let msg = "test status message";
                vec![
                    step(
                        web_call(
                            target,
                            text,
                            unary,
                            &SimpleRequest {
                                response_status: with_status(msg),
                                ..Default::default()
                            },
                        ),
                        move |r| expect(r, Code::Unknown, Some(msg)),
                    ),
                    step(
                        web_call(
                            target,
                            text,
                            out,
                            &StreamingOutputCallRequest {
                                response_status: with_status(msg),
                                ..Default::default()
                            },
                        ),
                        move |r| expect(r, Code::Unknown, Some(msg)),
                    ),
                ]
            }
            "special_status_message" => vec![step(
                web_call(
                    target,
                    text,
                    unary,
                    &SimpleRequest {
                        response_status: with_status(SPECIAL),
                        ..Default::default()
                    },
                ),
                |r| expect(r, Code::Unknown, Some(SPECIAL)),
            )],
            "custom_metadata" => {
                let md = echo_metadata()?;
                let mut first = web_call(target, text, unary, &large_request());
                first.metadata = md.clone();
                let mut req = sized(&[314_159]);
                req.payload = payload(271_828);
                let mut second = web_call(target, text, out, &req);
                second.metadata = md;
                vec![
                    step(first, |r| {
                        large_unary_ok(r)?;
                        check_echo(r)
                    }),
                    step(second, |r| {
                        let all = messages::<StreamingOutputCallResponse>(r)?;
                        ensure!(all.len() == 1, "{} responses, want 1", all.len());
                        ensure!(zeros(&all[0].1.payload)? == 314_159, "payload size");
                        check_echo(r)
                    }),
                ]
            }
            "unimplemented_method" => vec![step(
                web_call(
                    target,
                    text,
                    TestServiceMethod::UnimplementedCall.path(),
                    &Empty {},
                ),
                |r| expect(r, Code::Unimplemented, None),
            )],
            "unimplemented_service" => vec![step(
                web_call(
                    target,
                    text,
                    "/grpc.testing.UnimplementedService/UnimplementedCall",
                    &Empty {},
                ),
                |r| expect(r, Code::Unimplemented, None),
            )],
            "timeout_on_sleeping_server" => {
                let req = StreamingOutputCallRequest {
                    response_parameters: vec![ResponseParameters {
                        size: 1,
                        interval_us: 1_000_000,
                        ..Default::default()
                    }],
                    payload: payload(27_182),
                    ..Default::default()
                };
                let mut c = web_call(target, text, out, &req);
                c.timeout = Some(Duration::from_millis(1));
                vec![step(c, |r| expect(r, Code::DeadlineExceeded, None))]
            }
            "client_compressed_unary" => {
                let req = |expect| SimpleRequest {
                    expect_compressed: yes(expect),
                    ..large_request()
                };
                // The feature probe: an uncompressed message that claims
                // to be compressed must be refused.
                let probe = web_call(target, text, unary, &req(true));
                let mut gz = web_call(target, text, unary, &req(true));
                gz.encoding = Encoding::Gzip;
                let plain = web_call(target, text, unary, &req(false));
                vec![
                    step(probe, |r| {
                        expect(r, Code::InvalidArgument, None).map_err(|e| format!("probe: {e}"))
                    }),
                    step(gz, |r| {
                        large_unary_ok(r).map_err(|e| format!("compressed: {e}"))
                    }),
                    step(plain, |r| {
                        large_unary_ok(r).map_err(|e| format!("uncompressed: {e}"))
                    }),
                ]
            }
            "server_compressed_unary" => [true, false]
                .into_iter()
                .map(|compressed| {
                    let req = SimpleRequest {
                        response_compressed: yes(compressed),
                        ..large_request()
                    };
                    step(web_call(target, text, unary, &req), move |r| {
                        let (flag, m) = one::<SimpleResponse>(r)?;
                        ensure!(
                            flag == compressed,
                            "response_compressed {compressed}: the flag was {flag}"
                        );
                        ensure!(zeros(&m.payload)? == 314_159, "payload size");
                        Ok(())
                    })
                })
                .collect(),
            "server_compressed_streaming" => {
                let wanted = [(true, 31_415), (false, 92_653)];
                let req = StreamingOutputCallRequest {
                    response_parameters: wanted
                        .iter()
                        .map(|&(compressed, size)| ResponseParameters {
                            size,
                            compressed: yes(compressed),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                };
                vec![step(web_call(target, text, out, &req), move |r| {
                    let got = messages::<StreamingOutputCallResponse>(r)?
                        .iter()
                        .map(|(flag, m)| zeros(&m.payload).map(|n| (*flag, n as i32)))
                        .collect::<Result<Vec<_>, _>>()?;
                    ensure!(got == wanted, "(compressed, size) {got:?}, want {wanted:?}");
                    Ok(())
                })]
            }
            other => return Err(format!("unknown test case {other:?}")),
        })
    }

    /// How long a case may take.
    const CASE_BOUND: Duration = Duration::from_secs(10);

    /// Runs `cases` (names from [`CASES`]; others fail, the ones gRPC-Web
    /// cannot carry with [`unsupported`]'s reason) over gRPC-Web to
    /// `addr`, text mode if `text`, with the async HTTP/1.1 client on
    /// `rt` (one keep-alive connection at a time), each bounded to 10 s.
    pub async fn run_cases<R: Runtime>(
        rt: R,
        addr: SocketAddr,
        cases: &[&'static str],
        text: bool,
    ) -> Vec<(&'static str, Outcome)> {
        let client = wirestate_rt::http1::Client::new(rt.clone(), Default::default());
        let target = addr.to_string();
        let mut out = Vec::new();
        for &case in cases {
            let run = async {
                for s in steps(case, &target, text)? {
                    let reply = super::call(&rt, &client, &s.call).await;
                    (s.check)(&reply)?;
                }
                Ok(())
            };
            let r = wirestate_rt::timeout(&rt, rt.now() + CASE_BOUND, run)
                .await
                .unwrap_or_else(|| Err("timed out".into()));
            out.push((case, r));
        }
        out
    }

    /// [`run_cases`] on blocking threads (`wirestate_blocking::Client`,
    /// every read bounded to 10 s).
    pub fn run_cases_blocking(
        addr: SocketAddr,
        cases: &[&'static str],
        text: bool,
    ) -> Vec<(&'static str, Outcome)> {
        let mut config = wirestate_blocking::ClientConfig::default();
        config.request_timeout = Some(CASE_BOUND);
        config.io_timeout = Some(CASE_BOUND);
        let client = wirestate_blocking::Client::new(config);
        let target = addr.to_string();
        let run = |case: &str| -> Outcome {
            for s in steps(case, &target, text)? {
                let reply = super::call_blocking(&client, &s.call);
                (s.check)(&reply)?;
            }
            Ok(())
        };
        cases.iter().map(|&case| (case, run(case))).collect()
    }
}
