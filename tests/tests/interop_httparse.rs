//! What our machines write, an independent parser reads back: requests
//! encoded by `ClientConnection` and responses encoded by
//! `ServerConnection` parse with httparse (heads) and httparse's chunk-size
//! parser (bodies) into the same `http` values.

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use proptest::prelude::*;
use std::time::Instant;
use wirestate_http1::{BodySize, ClientConfig, ClientConnection, ServerConfig, ServerConnection};
use wirestate_machine::{Machine, Transmit};

fn drain(m: &mut impl Machine) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(t) = m.poll_transmit() {
        if let Transmit::Bytes(b) = t {
            out.extend_from_slice(&b);
        }
    }
    out
}

/// Decodes a body after the head the way an independent peer would.
fn read_body(rest: &[u8], headers: &[httparse::Header<'_>]) -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
    let find = |n: &str| {
        headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(n))
            .map(|h| h.value)
    };
    if let Some(cl) = find("content-length") {
        let n: usize = std::str::from_utf8(cl).unwrap().parse().unwrap();
        assert_eq!(rest.len(), n, "exactly the declared length follows");
        return (rest.to_vec(), Vec::new());
    }
    if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case(b"chunked")) {
        let mut body = Vec::new();
        let mut at = 0;
        loop {
            let httparse::Status::Complete((used, size)) =
                httparse::parse_chunk_size(&rest[at..]).unwrap()
            else {
                panic!("incomplete chunk size")
            };
            at += used;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&rest[at..at + size as usize]);
            at += size as usize;
            assert_eq!(&rest[at..at + 2], b"\r\n");
            at += 2;
        }
        let mut slots = [httparse::EMPTY_HEADER; 32];
        let httparse::Status::Complete((used, trailers)) =
            httparse::parse_headers(&rest[at..], &mut slots).unwrap()
        else {
            panic!("incomplete trailers")
        };
        assert_eq!(at + used, rest.len(), "nothing after the trailer section");
        let trailers = trailers
            .iter()
            .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
            .collect();
        return (body, trailers);
    }
    assert!(rest.is_empty(), "no framing, no body");
    (Vec::new(), Vec::new())
}

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9!#$%&'*+.^_`|~-]{1,16}"
}

fn headers() -> impl Strategy<Value = HeaderMap> {
    proptest::collection::vec((token(), "[ -~]{0,30}"), 0..10).prop_map(|pairs| {
        let mut map = HeaderMap::new();
        for (n, v) in pairs {
            let name = HeaderName::from_bytes(n.as_bytes()).unwrap();
            if [
                "host",
                "content-length",
                "transfer-encoding",
                "connection",
                "expect",
                "upgrade",
            ]
            .contains(&name.as_str())
            {
                continue;
            }
            map.append(name, HeaderValue::from_str(v.trim()).unwrap());
        }
        map
    })
}

fn as_pairs(h: &HeaderMap) -> Vec<(String, Vec<u8>)> {
    h.iter()
        .map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn client_requests_parse_with_httparse(
        method in prop_oneof![Just(Method::GET), Just(Method::POST), Just(Method::PUT), Just(Method::DELETE), "[A-Z]{1,10}".prop_map(|m| Method::from_bytes(m.as_bytes()).unwrap())],
        path in "/[a-zA-Z0-9/._~%-]{0,30}(\\?[a-z0-9=&]{0,20})?",
        hdrs in headers(),
        body in proptest::collection::vec(any::<u8>(), 0..500),
        chunked in any::<bool>(),
        trailer in proptest::option::of(("x-[a-z]{1,8}", "[a-z0-9]{0,10}")),
    ) {
        let now = Instant::now();
        let mut c = ClientConnection::new(ClientConfig::default(), now);
        let mut head = http::Request::builder().method(method.clone()).uri(format!("http://example.org{path}")).body(()).unwrap().into_parts().0;
        head.headers = hdrs.clone();
        let size = if chunked { BodySize::Streaming } else { BodySize::Exact(body.len() as u64) };
        c.send_request(head, size).unwrap();
        let mut sent_trailers = HeaderMap::new();
        if chunked || !body.is_empty() {
            c.send_data(Bytes::from(body.clone())).unwrap();
            if let (true, Some((n, v))) = (chunked, &trailer) {
                sent_trailers.insert(HeaderName::from_bytes(n.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
            }
            c.finish(chunked.then(|| sent_trailers.clone())).unwrap();
        }
        let wire = drain(&mut c);

        let mut slots = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut slots);
        let httparse::Status::Complete(n) = req.parse(&wire).unwrap() else { panic!("incomplete head") };
        prop_assert_eq!(req.method.unwrap(), method.as_str());
        prop_assert_eq!(req.path.unwrap(), path.as_str());
        prop_assert_eq!(req.version, Some(1));
        let theirs: Vec<(String, Vec<u8>)> = req.headers.iter()
            .filter(|h| !["host", "content-length", "transfer-encoding"].contains(&h.name.to_ascii_lowercase().as_str()))
            .map(|h| (h.name.to_string(), h.value.to_vec())).collect();
        prop_assert_eq!(theirs, as_pairs(&hdrs));
        let host = req.headers.iter().find(|h| h.name == "host").unwrap();
        prop_assert_eq!(host.value, b"example.org");
        let (got_body, got_trailers) = read_body(&wire[n..], req.headers);
        prop_assert_eq!(got_body, body);
        prop_assert_eq!(got_trailers, as_pairs(&sent_trailers));
    }

    #[test]
    fn server_responses_parse_with_httparse(
        status in 200u16..600,
        hdrs in headers(),
        body in proptest::collection::vec(any::<u8>(), 0..500),
        chunked in any::<bool>(),
        head_request in any::<bool>(),
    ) {
        let now = Instant::now();
        let mut s = ServerConnection::new(ServerConfig::default(), now);
        let method = if head_request { "HEAD" } else { "GET" };
        s.handle_input(now, format!("{method} / HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes()).unwrap();
        while s.poll_event().is_some() {}
        let mut head = http::Response::new(()).into_parts().0;
        head.status = StatusCode::from_u16(status).unwrap();
        head.headers = hdrs.clone();
        let bodiless = status == 204 || status == 304 || head_request;
        let size = if status == 204 { BodySize::Empty } else if chunked { BodySize::Streaming } else { BodySize::Exact(body.len() as u64) };
        s.send_response(head, size).unwrap();
        if !bodiless && (chunked || !body.is_empty()) {
            s.send_data(Bytes::from(body.clone())).unwrap();
            s.finish(None).unwrap();
        }
        let wire = drain(&mut s);

        let mut slots = [httparse::EMPTY_HEADER; 64];
        let mut res = httparse::Response::new(&mut slots);
        let httparse::Status::Complete(n) = res.parse(&wire).unwrap() else { panic!("incomplete head") };
        prop_assert_eq!(res.code, Some(status));
        let theirs: Vec<(String, Vec<u8>)> = res.headers.iter()
            .filter(|h| !["content-length", "transfer-encoding"].contains(&h.name))
            .map(|h| (h.name.to_string(), h.value.to_vec())).collect();
        prop_assert_eq!(theirs, as_pairs(&hdrs));
        if bodiless {
            prop_assert_eq!(n, wire.len(), "no body bytes after a bodiless response");
        } else {
            let (got, _) = read_body(&wire[n..], res.headers);
            prop_assert_eq!(got, body);
        }
    }
}

/// The request head the server parses is the same `http::Request` the
/// `http` crate builds for the same message.
#[test]
fn parsed_heads_match_http_builders() {
    let raw = b"POST /api/v1/items?sort=desc HTTP/1.1\r\nHost: api.example.com\r\nContent-Type: application/json\r\nAccept: */*\r\nContent-Length: 2\r\n\r\n{}";
    let (parts, body, len) = wirestate_http1::parse_request_head(raw).unwrap().unwrap();
    let expected = http::Request::builder()
        .method("POST")
        .uri("/api/v1/items?sort=desc")
        .header("host", "api.example.com")
        .header("content-type", "application/json")
        .header("accept", "*/*")
        .header("content-length", "2")
        .body(())
        .unwrap();
    assert_eq!(parts.method, expected.method());
    assert_eq!(parts.uri, *expected.uri());
    assert_eq!(parts.headers, *expected.headers());
    assert_eq!(body, wirestate_http1::BodyKind::Length(2));
    assert_eq!(len, raw.len() - 2);
}
