//! A gRPC-Web call as a client makes it, without a network: the request
//! from `CallOptions::web_request` read by a server's `RequestHead` and
//! `MessageReader`, and a server's response (binary or text, each flush
//! base64'd on its own) read back by the client through
//! `ResponseHead::web_mode` and a `MessageReader`, cut anywhere.

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use proptest::prelude::*;
use std::time::Duration;
use wirestate_grpc::{
    CallOptions, Code, ContentType, Encoding, MessageReader, Metadata, RequestHead, ResponseHead,
    ResponseStart, Status, WebMode, encode_message_with, encode_web_text, encode_web_trailers,
    parse_timeout,
};

fn framed(encoding: Encoding, message: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    encode_message_with(encoding, message, &mut out).unwrap();
    out.freeze()
}

#[test]
fn the_request_reaches_a_server_in_both_modes() {
    let mut md = Metadata::new();
    md.insert("x-tenant", "a").unwrap();
    md.insert_bin("trace-bin", b"\x00\xff").unwrap();
    let authority = "h:1".parse().unwrap();
    for mode in [WebMode::Binary, WebMode::Text] {
        let opts = CallOptions::default()
            .with_metadata(md.clone())
            .with_compression(Encoding::Gzip);
        let message = framed(Encoding::Gzip, b"hello");
        let (parts, body) = opts
            .web_request(
                mode,
                "/p.S/M",
                &authority,
                Some(Duration::from_millis(5)),
                2,
                message,
            )
            .unwrap();
        assert_eq!(parts.uri, "http://h:1/p.S/M");
        assert!(!parts.headers.contains_key("te"));
        assert_eq!(parts.headers["grpc-previous-rpc-attempts"], "2");
        assert_eq!(
            parse_timeout(parts.headers["grpc-timeout"].as_bytes()).unwrap(),
            Duration::from_millis(5)
        );
        // What a server makes of it.
        let req = http::Request::from_parts(parts, ());
        let (parts, ()) = req.into_parts();
        let head = RequestHead::from_request(&parts).unwrap();
        assert_eq!(head.content_type.format.web_mode(), Some(mode));
        assert_eq!(head.encoding, Encoding::Gzip);
        assert_eq!(head.metadata.get_str("x-tenant"), Some("a"));
        assert_eq!(
            &head.metadata.get_bin("trace-bin").unwrap().unwrap()[..],
            b"\x00\xff"
        );
        let mut reader = MessageReader::new(Some(mode), head.encoding, 1024);
        reader.push(body);
        reader.finish(None).unwrap();
        assert_eq!(reader.next_message().unwrap().unwrap(), &b"hello"[..]);
        assert!(reader.last_compressed());
        assert!(reader.next_message().is_none());
    }
    let bad = CallOptions::default().web_request(
        WebMode::Binary,
        "no-slash",
        &authority,
        None,
        0,
        Bytes::new(),
    );
    assert_eq!(bad.unwrap_err().code, Code::InvalidArgument);
}

/// A server's response head for `mode`.
fn response_head(mode: WebMode, encoding: Encoding) -> http::response::Parts {
    let head = ResponseHead {
        content_type: ContentType::web(mode == WebMode::Text),
        encoding,
        ..ResponseHead::default()
    };
    head.to_response()
}

/// A server's response body: each message and the trailers frame flushed
/// (base64'd, in text mode) on its own, so padding comes mid-stream.
fn response_body(
    mode: WebMode,
    encoding: Encoding,
    messages: &[Vec<u8>],
    status: &Status,
) -> Bytes {
    let mut flushes: Vec<BytesMut> = messages
        .iter()
        .map(|m| BytesMut::from(&framed(encoding, m)[..]))
        .collect();
    let mut trailers = HeaderMap::new();
    status.to_trailers(&mut trailers);
    let mut tail = BytesMut::new();
    encode_web_trailers(&trailers, &mut tail).unwrap();
    flushes.push(tail);
    let mut body = BytesMut::new();
    for f in flushes {
        match mode {
            WebMode::Binary => body.extend_from_slice(&f),
            WebMode::Text => encode_web_text(&f, &mut body),
        }
    }
    body.freeze()
}

/// What a client reads from a response cut at `cuts`: the messages (or the
/// error that ended them) and the call's status.
fn client_reads(
    head: &http::response::Parts,
    body: &Bytes,
    cuts: &[usize],
    max: usize,
) -> (Vec<Result<Bytes, Code>>, Status) {
    let ResponseStart::Head(h) = ResponseHead::from_response(head) else {
        panic!("a trailers-only head");
    };
    let mut reader = MessageReader::new(Some(h.web_mode()), h.encoding, max);
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    points.sort_unstable();
    points.push(body.len());
    let mut out = Vec::new();
    let mut at = 0;
    for p in points {
        reader.push(body.slice(at..p));
        at = p;
        while let Some(m) = reader.next_message() {
            out.push(m.map_err(|e| e.to_status().code));
        }
    }
    reader.finish(None).unwrap();
    while let Some(m) = reader.next_message() {
        out.push(m.map_err(|e| e.to_status().code));
    }
    (out, reader.status())
}

#[test]
fn a_text_response_with_padding_between_flushes() {
    let status = Status::new(Code::NotFound, "no such thing");
    let messages = vec![b"a".to_vec(), b"bc".to_vec(), Vec::new(), b"def".to_vec()];
    let head = response_head(WebMode::Text, Encoding::Gzip);
    let body = response_body(WebMode::Text, Encoding::Gzip, &messages, &status);
    assert!(body[..body.len() - 1].contains(&b'='), "padding mid-stream");
    let (out, got) = client_reads(&head, &body, &[3, 7, 11], 64);
    let want: Vec<Result<Bytes, Code>> = messages.into_iter().map(|m| Ok(Bytes::from(m))).collect();
    assert_eq!(out, want);
    assert_eq!(got.code, Code::NotFound);
    assert_eq!(got.message, "no such thing");
}

#[test]
fn limits_and_truncation_are_statuses() {
    let head = response_head(WebMode::Binary, Encoding::Identity);
    let body = response_body(
        WebMode::Binary,
        Encoding::Identity,
        &[vec![0; 100]],
        &Status::ok(),
    );
    let (out, _) = client_reads(&head, &body, &[], 10);
    assert_eq!(out, [Err(Code::ResourceExhausted)]);
    // Cut inside the trailers frame: no status came.
    let (out, status) = client_reads(&head, &body.slice(..body.len() - 2), &[], 1024);
    assert_eq!(out.len(), 2);
    assert!(out[0].is_ok());
    assert_eq!(out[1], Err(Code::Internal));
    assert_eq!(status.code, Code::Internal);
    // A trailers-only answer ends the call in its head.
    let only = wirestate_grpc::trailers_only(
        &Status::new(Code::Unimplemented, "nope"),
        &ContentType::web(false),
    );
    assert_eq!(
        ResponseHead::from_response(&only),
        ResponseStart::End(Status::new(Code::Unimplemented, "nope"))
    );
}

proptest! {
    /// Any cutting of a response body, binary or text, gives the client the
    /// same messages and status as reading it whole.
    #[test]
    fn client_reading_is_split_invariant(
        // Up to 50 bytes: under the 200-byte limit even gzipped.
        messages in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..50), 0..5),
        text in any::<bool>(),
        gzip in any::<bool>(),
        code in 0i32..17,
        cuts in proptest::collection::vec(any::<usize>(), 0..10),
    ) {
        let mode = if text { WebMode::Text } else { WebMode::Binary };
        let encoding = if gzip { Encoding::Gzip } else { Encoding::Identity };
        let status = Status::new(Code::from_i32(code), "why");
        let head = response_head(mode, encoding);
        let body = response_body(mode, encoding, &messages, &status);
        let whole = client_reads(&head, &body, &[], 200);
        let cut = client_reads(&head, &body, &cuts, 200);
        prop_assert_eq!(&whole, &cut);
        {
            let want: Vec<Result<Bytes, Code>> =
                messages.iter().map(|m| Ok(Bytes::from(m.clone()))).collect();
            prop_assert_eq!(&whole.0, &want);
            prop_assert_eq!(whole.1.code, status.code);
        }
    }
}
