//! What one side encodes, the other decodes to an equal value: arbitrary
//! requests and responses through a client/server pair over a pipe that
//! re-chunks bytes at random.

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use proptest::prelude::*;
use wirestate_http1::{
    BodySize, ClientConfig, ClientConnection, ClientEvent, ServerConfig, ServerConnection,
    ServerEvent,
};
use wirestate_machine::Machine;
use wirestate_testkit::Pair;

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9!#$%&'*+.^_`|~-]{1,20}"
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    // Field values: visible ASCII, spaces and tabs inside, obs-text, no
    // leading or trailing whitespace (which parsers trim).
    proptest::collection::vec(
        prop_oneof![0x21u8..0x7f, Just(b' '), Just(b'\t'), 0x80u8..=0xff],
        0..40,
    )
    .prop_map(|mut v| {
        while v.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            v.remove(0);
        }
        while v.last().is_some_and(|b| *b == b' ' || *b == b'\t') {
            v.pop();
        }
        v
    })
}

const RESERVED: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "expect",
    "te",
    "trailer",
    "keep-alive",
];

fn headers() -> impl Strategy<Value = HeaderMap> {
    proptest::collection::vec((token(), header_value()), 0..12).prop_map(|pairs| {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            let name = HeaderName::from_bytes(name.as_bytes()).unwrap();
            if RESERVED.contains(&name.as_str()) {
                continue;
            }
            map.append(name, HeaderValue::from_bytes(&value).unwrap());
        }
        map
    })
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::GET),
        Just(Method::POST),
        Just(Method::PUT),
        Just(Method::DELETE),
        Just(Method::PATCH),
        Just(Method::OPTIONS),
        "[A-Z]{1,12}".prop_map(|m| Method::from_bytes(m.as_bytes()).unwrap()),
    ]
    .prop_filter("no CONNECT or HEAD here", |m| {
        *m != Method::CONNECT && *m != Method::HEAD
    })
}

fn path() -> impl Strategy<Value = String> {
    (
        "(/[a-zA-Z0-9._~!$&'()*+,;=:@%-]{0,12}){1,4}",
        proptest::option::of("[a-zA-Z0-9=&/?._~-]{0,20}"),
    )
        .prop_map(|(p, q)| match q {
            Some(q) => format!("{p}?{q}"),
            None => p,
        })
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Exact,
    Streaming,
}

fn body() -> impl Strategy<Value = (Vec<u8>, Mode, Vec<usize>)> {
    (
        prop_oneof![
            Just(Vec::new()),
            proptest::collection::vec(any::<u8>(), 0..3000)
        ],
        prop_oneof![Just(Mode::Exact), Just(Mode::Streaming)],
        proptest::collection::vec(1usize..700, 0..6),
    )
}

fn trailers() -> impl Strategy<Value = Option<HeaderMap>> {
    proptest::option::of(headers().prop_filter("non-empty", |h| !h.is_empty()))
}

/// Sends `data` in pieces of the given sizes.
fn pieces(data: &[u8], sizes: &[usize]) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut rest = data;
    for &s in sizes {
        if rest.is_empty() {
            break;
        }
        let n = s.min(rest.len());
        out.push(Bytes::copy_from_slice(&rest[..n]));
        rest = &rest[n..];
    }
    if !rest.is_empty() {
        out.push(Bytes::copy_from_slice(rest));
    }
    out
}

fn without_framing(mut h: HeaderMap) -> HeaderMap {
    for n in ["host", "content-length", "transfer-encoding", "connection"] {
        h.remove(n);
    }
    h
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn request_and_response_round_trip(
        method in method(),
        path in path(),
        req_headers in headers(),
        (req_body, req_mode, req_sizes) in body(),
        req_trailers in trailers(),
        status in 200u16..600,
        res_headers in headers(),
        (res_body, res_mode, res_sizes) in body(),
        res_trailers in trailers(),
        seed in any::<u64>(),
        max_chunk in 1usize..2000,
    ) {
        let mut pair = Pair::new(
            ClientConnection::new(ClientConfig::default(), std::time::Instant::now()),
            ServerConnection::new(ServerConfig::default(), std::time::Instant::now()),
            seed,
            max_chunk,
        );
        let now = pair.now();
        pair.a = ClientConnection::new(ClientConfig::default(), now);
        pair.b = ServerConnection::new(ServerConfig::default(), now);

        // ---- request ----
        let mut head = http::Request::builder().method(method.clone()).uri(format!("http://example.com{path}")).body(()).unwrap().into_parts().0;
        head.headers = req_headers.clone();
        let req_size = match req_mode {
            Mode::Exact => BodySize::Exact(req_body.len() as u64),
            Mode::Streaming => BodySize::Streaming,
        };
        pair.a.send_request(head, req_size).unwrap();
        for p in pieces(&req_body, &req_sizes) {
            pair.a.send_data(p).unwrap();
        }
        let send_req_trailers = matches!(req_mode, Mode::Streaming).then(|| req_trailers.clone()).flatten();
        if !(matches!(req_mode, Mode::Exact) && req_body.is_empty()) {
            pair.a.finish(send_req_trailers.clone()).unwrap();
        }
        pair.drive();

        let mut got_body = Vec::new();
        let mut got_head = None;
        let mut got_trailers = None;
        let mut ended = false;
        while let Some(ev) = pair.b.poll_event() {
            match ev {
                ServerEvent::Request(r) => got_head = Some(r.head),
                ServerEvent::Data { data, .. } => got_body.extend_from_slice(&data),
                ServerEvent::End { trailers, .. } => { got_trailers = trailers; ended = true; }
                other => prop_assert!(false, "unexpected {other:?}"),
            }
        }
        prop_assert!(pair.b_errors.is_empty(), "{:?}", pair.b_errors);
        let got_head = got_head.expect("request arrived");
        prop_assert!(ended);
        prop_assert_eq!(&got_head.method, &method);
        prop_assert_eq!(got_head.uri.path_and_query().unwrap().as_str(), path.as_str());
        prop_assert_eq!(got_head.headers.get("host").unwrap(), "example.com");
        prop_assert_eq!(without_framing(got_head.headers), req_headers);
        prop_assert_eq!(&got_body, &req_body);
        prop_assert_eq!(got_trailers.filter(|t| !t.is_empty()), send_req_trailers.filter(|t| !t.is_empty()));

        // ---- response ----
        let mut rhead = http::Response::new(()).into_parts().0;
        rhead.status = StatusCode::from_u16(status).unwrap();
        rhead.headers = res_headers.clone();
        let bodiless = status == 204 || status == 304;
        let res_size = if bodiless {
            BodySize::Empty
        } else {
            match res_mode {
                Mode::Exact => BodySize::Exact(res_body.len() as u64),
                Mode::Streaming => BodySize::Streaming,
            }
        };
        pair.b.send_response(rhead, res_size).unwrap();
        let mut sent_res_trailers = None;
        let res_has_body = !(matches!(res_mode, Mode::Exact) && res_body.is_empty());
        if !bodiless && res_has_body {
            for p in pieces(&res_body, &res_sizes) {
                pair.b.send_data(p).unwrap();
            }
            sent_res_trailers = matches!(res_mode, Mode::Streaming).then(|| res_trailers.clone()).flatten();
            pair.b.finish(sent_res_trailers.clone()).unwrap();
        }
        pair.drive();

        let mut got = None;
        let mut got_body = Vec::new();
        let mut got_trailers = None;
        let mut ended = false;
        while let Some(ev) = pair.a.poll_event() {
            match ev {
                ClientEvent::Response(r) => got = Some(r.head),
                ClientEvent::Data { data, .. } => got_body.extend_from_slice(&data),
                ClientEvent::End { trailers, .. } => { got_trailers = trailers; ended = true; }
                other => prop_assert!(false, "unexpected {other:?}"),
            }
        }
        prop_assert!(pair.a_errors.is_empty(), "{:?}", pair.a_errors);
        let got = got.expect("response arrived");
        prop_assert!(ended);
        prop_assert_eq!(got.status.as_u16(), status);
        prop_assert_eq!(without_framing(got.headers), res_headers);
        let expected_body: &[u8] = if bodiless { &[] } else { &res_body };
        prop_assert_eq!(&got_body[..], expected_body);
        prop_assert_eq!(got_trailers.filter(|t| !t.is_empty()), sent_res_trailers.filter(|t| !t.is_empty()));
        // Keep-alive held: both sides can go again.
        prop_assert!(pair.a.is_reusable());
        prop_assert!(!pair.b.is_closed());
    }
}
