//! Client behaviour: request encoding, 100-continue holding, aborts,
//! upgrades and a pair with the server machine on a virtual clock.

use bytes::Bytes;
use std::time::Duration;
use std::time::Instant;
use wirestate_http1::{
    BodyKind, BodySize, ClientConfig, ClientConnection, ClientEvent, Error, ServerConfig,
    ServerConnection, ServerEvent,
};
use wirestate_machine::{Machine, Transmit};
use wirestate_testkit::Pair;

fn client(now: Instant) -> ClientConnection {
    ClientConnection::new(ClientConfig::default(), now)
}

fn out(c: &mut ClientConnection) -> (String, bool) {
    let mut o = Vec::new();
    let mut shut = false;
    while let Some(t) = c.poll_transmit() {
        match t {
            Transmit::Bytes(b) => o.extend_from_slice(&b),
            Transmit::Shutdown => shut = true,
        }
    }
    (String::from_utf8(o).unwrap(), shut)
}

fn events(c: &mut ClientConnection) -> Vec<ClientEvent> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn req(method: &str, uri: &str) -> http::request::Parts {
    http::Request::builder()
        .method(method)
        .uri(uri)
        .body(())
        .unwrap()
        .into_parts()
        .0
}

#[test]
fn request_lines_and_host() {
    let now = Instant::now();
    let mut c = client(now);
    c.send_request(req("GET", "http://example.com:8080/p?q=1"), BodySize::Empty)
        .unwrap();
    c.handle_input(now, b"HTTP/1.1 204 No Content\r\n\r\n")
        .unwrap();
    c.send_request(req("POST", "http://example.com/"), BodySize::Empty)
        .unwrap();
    c.handle_input(now, b"HTTP/1.1 204 No Content\r\n\r\n")
        .unwrap();
    c.send_request(req("OPTIONS", "*"), BodySize::Empty)
        .unwrap();
    assert_eq!(
        out(&mut c).0,
        "GET /p?q=1 HTTP/1.1\r\nhost: example.com:8080\r\n\r\n\
         POST / HTTP/1.1\r\nhost: example.com\r\ncontent-length: 0\r\n\r\n\
         OPTIONS * HTTP/1.1\r\nhost: \r\n\r\n"
    );

    let mut cfg = ClientConfig::default();
    cfg.absolute_form = true;
    let mut c = ClientConnection::new(cfg, now);
    c.send_request(req("GET", "http://example.com/x"), BodySize::Empty)
        .unwrap();
    assert_eq!(
        out(&mut c).0,
        "GET http://example.com/x HTTP/1.1\r\nhost: example.com\r\n\r\n"
    );

    let mut c = client(now);
    c.send_request(req("CONNECT", "example.com:443"), BodySize::Empty)
        .unwrap();
    assert_eq!(
        out(&mut c).0,
        "CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n"
    );
}

/// RFC 9110 §4.2.4: a sender must not generate the userinfo of an http URI
/// in a request target or a field value. `http://u:p@host/` went out with
/// `host: u:p@host`, which servers (ours included) answer with 400, and
/// with the credentials in clear in the absolute-form target.
#[test]
fn userinfo_stays_out_of_host_and_target() {
    let now = Instant::now();
    let mut c = client(now);
    c.send_request(req("GET", "http://u:p@example.com:8080/p"), BodySize::Empty)
        .unwrap();
    assert_eq!(
        out(&mut c).0,
        "GET /p HTTP/1.1\r\nhost: example.com:8080\r\n\r\n"
    );

    let mut cfg = ClientConfig::default();
    cfg.absolute_form = true;
    let mut c = ClientConnection::new(cfg, now);
    c.send_request(req("GET", "http://u@example.com/x?y"), BodySize::Empty)
        .unwrap();
    assert_eq!(
        out(&mut c).0,
        "GET http://example.com/x?y HTTP/1.1\r\nhost: example.com\r\n\r\n"
    );

    let mut c = client(now);
    c.send_request(req("CONNECT", "u:p@example.com:443"), BodySize::Empty)
        .unwrap();
    assert_eq!(
        out(&mut c).0,
        "CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n"
    );
}

#[test]
fn usage_errors_change_nothing() {
    let now = Instant::now();
    let mut c = client(now);
    let mut head = req("POST", "http://h/");
    head.headers.insert(
        "transfer-encoding",
        http::HeaderValue::from_static("chunked"),
    );
    assert_eq!(
        c.send_request(head, BodySize::Streaming),
        Err(Error::FramingHeaderSet)
    );
    let mut head = req("POST", "http://h/");
    head.version = http::Version::HTTP_10;
    assert_eq!(
        c.send_request(head, BodySize::Streaming),
        Err(Error::UnknownLengthInHttp10)
    );
    assert_eq!(
        c.send_data(Bytes::from_static(b"x")),
        Err(Error::NotSendingBody)
    );
    assert!(out(&mut c).0.is_empty());
    c.send_request(req("PUT", "http://h/"), BodySize::Exact(2))
        .unwrap();
    assert_eq!(
        c.send_request(req("GET", "http://h/"), BodySize::Empty),
        Err(Error::AlreadyStarted)
    );
    assert!(!c.can_send_request());
}

#[test]
fn expect_continue_holds_the_body_until_100() {
    let now = Instant::now();
    let mut c = client(now);
    let mut head = req("PUT", "http://h/f");
    head.headers
        .insert("expect", http::HeaderValue::from_static("100-continue"));
    c.send_request(head, BodySize::Exact(4)).unwrap();
    c.send_data(Bytes::from_static(b"data")).unwrap();
    c.finish(None).unwrap();
    let (o, _) = out(&mut c);
    assert_eq!(
        o,
        "PUT /f HTTP/1.1\r\nexpect: 100-continue\r\nhost: h\r\ncontent-length: 4\r\n\r\n"
    );
    assert_eq!(c.poll_timeout(), Some(now + Duration::from_secs(1)));
    c.handle_input(now, b"HTTP/1.1 100 Continue\r\n\r\n")
        .unwrap();
    assert!(matches!(&events(&mut c)[..], [ClientEvent::Informational(r)] if r.head.status == 100));
    assert_eq!(out(&mut c).0, "data");
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn expect_continue_timer_releases_the_body() {
    let now = Instant::now();
    let mut c = client(now);
    let mut head = req("PUT", "http://h/f");
    head.headers
        .insert("expect", http::HeaderValue::from_static("100-continue"));
    c.send_request(head, BodySize::Streaming).unwrap();
    c.send_data(Bytes::from_static(b"abc")).unwrap();
    let _ = out(&mut c);
    c.handle_timeout(now + Duration::from_millis(999));
    assert!(out(&mut c).0.is_empty());
    c.handle_timeout(now + Duration::from_secs(1));
    assert_eq!(out(&mut c).0, "3\r\nabc\r\n");
    c.finish(None).unwrap();
    assert_eq!(out(&mut c).0, "0\r\n\r\n");
}

#[test]
fn final_response_before_continue_drops_the_body_and_closes() {
    let now = Instant::now();
    let mut c = client(now);
    let mut head = req("PUT", "http://h/f");
    head.headers
        .insert("expect", http::HeaderValue::from_static("100-continue"));
    c.send_request(head, BodySize::Exact(4)).unwrap();
    c.send_data(Bytes::from_static(b"data")).unwrap();
    let _ = out(&mut c);
    c.handle_input(
        now,
        b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n",
    )
    .unwrap();
    let (o, shut) = out(&mut c);
    assert!(o.is_empty() && shut, "body never sent, connection closed");
    assert!(
        matches!(&events(&mut c)[..], [ClientEvent::Response(r), ClientEvent::End { .. }] if r.head.status == 401)
    );
    assert!(c.is_closed());
}

#[test]
fn close_aborts_pipelined_requests() {
    let now = Instant::now();
    let mut c = client(now);
    let a = c
        .send_request(req("GET", "http://h/a"), BodySize::Empty)
        .unwrap();
    let b = c
        .send_request(req("GET", "http://h/b"), BodySize::Empty)
        .unwrap();
    assert_eq!(c.in_flight(), 2);
    c.handle_input(
        now,
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    )
    .unwrap();
    let evs = events(&mut c);
    assert!(
        matches!(&evs[..], [ClientEvent::Response(r), ClientEvent::End { id, .. }, ClientEvent::Aborted { id: ab }] if r.id == a && *id == a && *ab == b)
    );
    assert!(out(&mut c).1);
    assert_eq!(
        c.send_request(req("GET", "http://h/c"), BodySize::Empty),
        Err(Error::Closed)
    );
}

#[test]
fn eof_before_response_aborts() {
    let now = Instant::now();
    let mut c = client(now);
    let id = c
        .send_request(req("GET", "http://h/"), BodySize::Empty)
        .unwrap();
    c.handle_eof(now).unwrap();
    assert_eq!(events(&mut c), vec![ClientEvent::Aborted { id }]);
    assert!(c.is_closed() || out(&mut c).1);
}

#[test]
fn upgrade_leftover() {
    let now = Instant::now();
    let mut c = client(now);
    let mut head = req("GET", "http://h/ws");
    head.headers
        .insert("connection", http::HeaderValue::from_static("Upgrade"));
    head.headers
        .insert("upgrade", http::HeaderValue::from_static("websocket"));
    c.send_request(head, BodySize::Empty).unwrap();
    c.handle_input(
        now,
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi",
    )
    .unwrap();
    let evs = events(&mut c);
    assert!(
        matches!(&evs[..], [ClientEvent::Response(_), ClientEvent::Upgraded { leftover, .. }] if &leftover[..] == b"\x81\x02hi")
    );
    let _ = out(&mut c);
    assert!(c.is_closed());
}

#[test]
fn response_body_framings() {
    let now = Instant::now();
    let mut c = client(now);
    c.send_request(req("GET", "http://h/"), BodySize::Empty)
        .unwrap();
    c.handle_input(now, b"HTTP/1.1 200 OK\r\n\r\nall of it")
        .unwrap();
    let evs = events(&mut c);
    assert!(matches!(&evs[0], ClientEvent::Response(r) if r.body == BodyKind::CloseDelimited));
    c.handle_eof(now).unwrap();
    let evs = events(&mut c);
    assert!(matches!(evs.last(), Some(ClientEvent::End { .. })));
}

/// Client and server machines over a lossy-chunking pipe: 100-continue
/// end to end, then keep-alive reuse, then the server's idle timer.
#[test]
fn pair_expect_continue_and_idle_timeout() {
    let t0 = Instant::now();
    let mut pair = Pair::new(
        ClientConnection::new(ClientConfig::default(), t0),
        ServerConnection::new(ServerConfig::default(), t0),
        42,
        7,
    );
    let mut head = req("POST", "http://h/upload");
    head.headers
        .insert("expect", http::HeaderValue::from_static("100-continue"));
    pair.a.send_request(head, BodySize::Exact(5)).unwrap();
    pair.a.send_data(Bytes::from_static(b"12345")).unwrap();
    pair.a.finish(None).unwrap();
    pair.drive();
    let evs: Vec<_> = std::iter::from_fn(|| pair.b.poll_event()).collect();
    assert!(
        matches!(&evs[..], [ServerEvent::Request(r)] if r.expects_continue),
        "{evs:?}"
    );
    pair.b.send_continue().unwrap();
    pair.drive();
    let evs: Vec<_> = std::iter::from_fn(|| pair.b.poll_event()).collect();
    let body: Vec<u8> = evs
        .iter()
        .filter_map(|e| {
            if let ServerEvent::Data { data, .. } = e {
                Some(data.to_vec())
            } else {
                None
            }
        })
        .flatten()
        .collect();
    assert_eq!(body, b"12345");
    pair.b
        .send_full_response(
            http::Response::new(()).into_parts().0,
            Bytes::from_static(b"stored"),
        )
        .unwrap();
    pair.drive();
    let evs: Vec<_> = std::iter::from_fn(|| pair.a.poll_event()).collect();
    assert!(matches!(&evs[0], ClientEvent::Informational(_)));
    assert!(matches!(&evs[1], ClientEvent::Response(r) if r.head.status == 200));
    assert!(pair.a.is_reusable());

    pair.advance(Duration::from_secs(76));
    let evs: Vec<_> = std::iter::from_fn(|| pair.a.poll_event()).collect();
    assert!(evs.is_empty(), "{evs:?}");
    assert!(pair.b.is_closed());
    assert!(pair.a.is_closed(), "the client saw EOF and closed too");
    assert!(pair.a_errors.is_empty() && pair.b_errors.is_empty());
}

/// RFC 9112 §6.3 (4): a response whose Transfer-Encoding does not end in
/// chunked has its body delimited by the connection's end; the bytes are
/// delivered as they came (no coding is undone) and the connection is not
/// reused.
#[test]
fn transfer_coding_not_ending_in_chunked_is_read_to_eof() {
    let now = Instant::now();
    let mut c = client(now);
    c.send_request(req("GET", "http://example.com/"), BodySize::Empty)
        .unwrap();
    c.handle_input(
        now,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n3\r\nabc\r\n",
    )
    .unwrap();
    c.handle_input(now, b"0\r\n\r\n").unwrap();
    c.handle_eof(now).unwrap();
    let evs = events(&mut c);
    let Some(ClientEvent::Response(resp)) = evs.first() else {
        panic!("{evs:?}")
    };
    assert_eq!(resp.body, BodyKind::CloseDelimited);
    let body: Vec<u8> = evs
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Data { data, .. } => Some(data.to_vec()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(body, b"3\r\nabc\r\n0\r\n\r\n");
    assert!(
        matches!(evs.last(), Some(ClientEvent::End { .. })),
        "{evs:?}"
    );
    assert!(
        c.send_request(req("GET", "http://example.com/"), BodySize::Empty)
            .is_err()
    );
}

/// RFC 9112 §2.3: a response in a higher minor version of HTTP/1 is read
/// as HTTP/1.1 (so persistent by default).
#[test]
fn newer_http1_minor_version_response_is_read_as_1_1() {
    let now = Instant::now();
    let mut c = client(now);
    c.send_request(req("GET", "http://example.com/"), BodySize::Empty)
        .unwrap();
    c.handle_input(now, b"HTTP/1.4 200 OK\r\nContent-Length: 2\r\n\r\nhi")
        .unwrap();
    let evs = events(&mut c);
    let Some(ClientEvent::Response(resp)) = evs.first() else {
        panic!("{evs:?}")
    };
    assert_eq!(resp.head.version, http::Version::HTTP_11);
    assert_eq!(resp.body, BodyKind::Length(2));
    assert!(
        matches!(evs.last(), Some(ClientEvent::End { .. })),
        "{evs:?}"
    );
    c.send_request(req("GET", "http://example.com/"), BodySize::Empty)
        .unwrap();
}
