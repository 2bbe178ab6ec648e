//! Server behaviour: responses, framing rules, pipelining order, 1xx,
//! upgrades, timers, back-pressure and usage errors.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use std::time::{Duration, Instant};
use wirestate_http1::{
    BodyKind, BodySize, Error, HeaderCaseMap, ServerConfig, ServerConnection, ServerEvent,
};
use wirestate_machine::{ErrorKind, Machine, Transmit};

fn conn(now: Instant) -> ServerConnection {
    ServerConnection::new(ServerConfig::default(), now)
}

fn events(c: &mut ServerConnection) -> Vec<ServerEvent> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

/// Drains output; returns the bytes and whether a shutdown came.
fn output(c: &mut ServerConnection) -> (String, bool) {
    let mut out = Vec::new();
    let mut shut = false;
    while let Some(t) = c.poll_transmit() {
        match t {
            Transmit::Bytes(b) => {
                assert!(!shut, "bytes after shutdown");
                out.extend_from_slice(&b);
            }
            Transmit::Shutdown => shut = true,
        }
    }
    (String::from_utf8(out).unwrap(), shut)
}

fn ok() -> http::response::Parts {
    http::Response::new(()).into_parts().0
}

fn status(s: u16) -> http::response::Parts {
    let mut p = ok();
    p.status = StatusCode::from_u16(s).unwrap();
    p
}

#[test]
fn keep_alive_and_chunked_response_with_trailers() {
    let now = Instant::now();
    let mut c = conn(now);
    c.handle_input(now, b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    assert_eq!(events(&mut c).len(), 2);
    c.send_response(ok(), BodySize::Streaming).unwrap();
    c.send_data(Bytes::from_static(b"hello")).unwrap();
    c.send_data(Bytes::new()).unwrap(); // an empty chunk must not end the body
    c.send_data(Bytes::from_static(b" world")).unwrap();
    let mut trailers = HeaderMap::new();
    trailers.insert("x-sum", HeaderValue::from_static("7"));
    c.finish(Some(trailers)).unwrap();
    let (out, shut) = output(&mut c);
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nx-sum: 7\r\n\r\n"
    );
    assert!(!shut);
    // The connection stays usable.
    c.handle_input(now, b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    assert!(
        matches!(&events(&mut c)[0], ServerEvent::Request(r) if r.head.uri == "/b" && r.id.0 == 1)
    );
}

#[test]
fn pipelined_responses_stay_in_order_and_reading_pauses_at_the_depth() {
    let now = Instant::now();
    let mut cfg = ServerConfig::default();
    cfg.max_pipelined = 2;
    let mut c = ServerConnection::new(cfg, now);
    let input: String = (0..5)
        .map(|i| format!("GET /{i} HTTP/1.1\r\nHost: h\r\n\r\n"))
        .collect();
    c.handle_input(now, input.as_bytes()).unwrap();
    let evs = events(&mut c);
    assert_eq!(
        evs.iter()
            .filter(|e| matches!(e, ServerEvent::Request(_)))
            .count(),
        2
    );
    assert!(!c.wants_read(), "paused at the pipelining depth");
    for i in 0..5 {
        assert_eq!(c.current_request().map(|r| r.0), Some(i));
        c.send_full_response(ok(), Bytes::from(format!("r{i}")))
            .unwrap();
        let _ = events(&mut c);
    }
    let (out, _) = output(&mut c);
    let bodies: Vec<&str> = out.split("\r\n\r\n").skip(1).map(|s| &s[..2]).collect();
    assert_eq!(bodies, ["r0", "r1", "r2", "r3", "r4"]);
    assert!(c.wants_read());
}

#[test]
fn head_204_304_body_rules() {
    let now = Instant::now();
    let mut c = conn(now);
    c.handle_input(now, b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    c.send_response(ok(), BodySize::Exact(1234)).unwrap();
    assert_eq!(
        c.send_data(Bytes::from_static(b"x")),
        Err(Error::NotSendingBody)
    );
    let (out, _) = output(&mut c);
    assert_eq!(out, "HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n");

    c.handle_input(now, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    assert_eq!(
        c.send_response(status(204), BodySize::Exact(3)),
        Err(Error::BodyNotAllowed)
    );
    c.send_response(status(204), BodySize::Empty).unwrap();
    assert_eq!(output(&mut c).0, "HTTP/1.1 204 No Content\r\n\r\n");

    c.handle_input(now, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    c.send_response(status(304), BodySize::Exact(50)).unwrap();
    assert_eq!(
        output(&mut c).0,
        "HTTP/1.1 304 Not Modified\r\ncontent-length: 50\r\n\r\n"
    );
    assert_eq!(c.current_request(), None);
}

#[test]
fn framing_headers_are_the_machines() {
    let now = Instant::now();
    let mut c = conn(now);
    c.handle_input(now, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let mut head = ok();
    head.headers
        .insert("content-length", HeaderValue::from_static("3"));
    let e = c.send_response(head, BodySize::Exact(3)).unwrap_err();
    assert_eq!(e, Error::FramingHeaderSet);
    assert_eq!(e.kind(), ErrorKind::Usage);
    // Nothing changed: a correct response still goes out.
    c.send_response(ok(), BodySize::Exact(3)).unwrap();
    assert_eq!(
        c.send_data(Bytes::from_static(b"toolong")),
        Err(Error::BodyLengthMismatch)
    );
    c.send_data(Bytes::from_static(b"ab")).unwrap();
    assert_eq!(c.finish(None), Err(Error::BodyLengthMismatch));
    c.send_data(Bytes::from_static(b"c")).unwrap();
    let mut t = HeaderMap::new();
    t.insert("x", HeaderValue::from_static("y"));
    assert_eq!(c.finish(Some(t)), Err(Error::TrailersNotAllowed));
    c.finish(None).unwrap();
    assert_eq!(
        c.send_full_response(ok(), Bytes::new()),
        Err(Error::NoPendingRequest)
    );
}

#[test]
fn http10_gets_close_delimited_or_keep_alive() {
    let now = Instant::now();
    let mut c = conn(now);
    c.handle_input(now, b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let evs = events(&mut c);
    assert!(matches!(&evs[0], ServerEvent::Request(r) if !r.keep_alive));
    c.send_response(ok(), BodySize::Streaming).unwrap();
    c.send_data(Bytes::from_static(b"streamed")).unwrap();
    c.finish(None).unwrap();
    let (out, shut) = output(&mut c);
    assert_eq!(out, "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nstreamed");
    assert!(shut && c.is_closed());

    let mut c = conn(now);
    c.handle_input(now, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    c.send_full_response(ok(), Bytes::from_static(b"k"))
        .unwrap();
    let (out, shut) = output(&mut c);
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\ncontent-length: 1\r\nconnection: keep-alive\r\n\r\nk"
    );
    assert!(!shut);
}

#[test]
fn expect_continue_flow() {
    let now = Instant::now();
    let mut c = conn(now);
    c.handle_input(
        now,
        b"PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
    )
    .unwrap();
    let evs = events(&mut c);
    assert!(
        matches!(&evs[0], ServerEvent::Request(r) if r.expects_continue && r.body == BodyKind::Length(3))
    );
    c.send_continue().unwrap();
    c.send_continue().unwrap(); // idempotent
    assert_eq!(output(&mut c).0, "HTTP/1.1 100 Continue\r\n\r\n");
    c.handle_input(now, b"abc").unwrap();
    let evs = events(&mut c);
    assert!(matches!(&evs[0], ServerEvent::Data { data, .. } if &data[..] == b"abc"));
    c.send_full_response(ok(), Bytes::new()).unwrap();
    assert!(!output(&mut c).1);
}

#[test]
fn final_response_without_continue_closes() {
    let now = Instant::now();
    let mut c = conn(now);
    c.handle_input(
        now,
        b"PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
    )
    .unwrap();
    let _ = events(&mut c);
    c.send_full_response(status(413), Bytes::new()).unwrap();
    let (out, shut) = output(&mut c);
    assert_eq!(
        out,
        "HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    assert!(shut);
}

#[test]
fn informational_responses() {
    let now = Instant::now();
    let mut c = conn(now);
    c.handle_input(now, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let mut hints = status(103);
    hints
        .headers
        .insert("link", HeaderValue::from_static("</a.css>; rel=preload"));
    c.send_informational(hints).unwrap();
    assert_eq!(
        c.send_informational(status(101)),
        Err(Error::InvalidStatusForUse)
    );
    assert_eq!(
        c.send_informational(status(200)),
        Err(Error::InvalidStatusForUse)
    );
    assert_eq!(
        c.send_response(status(102), BodySize::Empty),
        Err(Error::InvalidStatusForUse)
    );
    c.send_full_response(ok(), Bytes::new()).unwrap();
    assert_eq!(
        output(&mut c).0,
        "HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
    );
}

#[test]
fn upgrade_hands_over_leftover_bytes() {
    let now = Instant::now();
    let mut c = conn(now);
    c.handle_input(
        now,
        b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05",
    )
    .unwrap();
    let evs = events(&mut c);
    assert!(matches!(&evs[0], ServerEvent::Request(r) if r.wants_upgrade));
    assert!(
        !c.wants_read(),
        "reading holds off until the upgrade is decided"
    );
    c.handle_input(now, b"hello").unwrap();
    let mut head = status(101);
    head.headers
        .insert("upgrade", HeaderValue::from_static("websocket"));
    head.headers
        .insert("connection", HeaderValue::from_static("Upgrade"));
    c.send_response(head, BodySize::Empty).unwrap();
    let evs = events(&mut c);
    assert!(
        matches!(&evs[..], [ServerEvent::Upgraded { leftover, .. }] if &leftover[..] == b"\x81\x05hello")
    );
    let (out, shut) = output(&mut c);
    assert_eq!(
        out,
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n"
    );
    assert!(!shut && c.is_closed(), "handed over, not shut");
    assert_eq!(c.send_full_response(ok(), Bytes::new()), Err(Error::Closed));
}

#[test]
fn declined_upgrade_continues_http() {
    let now = Instant::now();
    let mut c = conn(now);
    c.handle_input(now, b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    assert_eq!(events(&mut c).len(), 2);
    c.send_full_response(status(426), Bytes::new()).unwrap();
    let evs = events(&mut c);
    assert!(matches!(&evs[0], ServerEvent::Request(r) if r.head.uri == "/next"));
}

#[test]
fn connect_tunnel() {
    let now = Instant::now();
    let mut c = conn(now);
    c.handle_input(
        now,
        b"CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\nSTARTTLS",
    )
    .unwrap();
    let evs = events(&mut c);
    assert!(
        matches!(&evs[0], ServerEvent::Request(r) if r.wants_upgrade && r.head.uri.authority().unwrap() == "db:5432")
    );
    c.send_response(ok(), BodySize::Empty).unwrap();
    assert_eq!(output(&mut c).0, "HTTP/1.1 200 OK\r\n\r\n");
    assert!(
        matches!(&events(&mut c)[..], [ServerEvent::Upgraded { leftover, .. }] if &leftover[..] == b"STARTTLS")
    );
}

#[test]
fn header_read_timeout_sends_408() {
    let now = Instant::now();
    let mut c = conn(now);
    let deadline = c.poll_timeout().expect("armed from the start");
    assert_eq!(deadline, now + Duration::from_secs(30));
    c.handle_input(now + Duration::from_secs(1), b"GET / HTTP/1.1\r\nHo")
        .unwrap();
    c.handle_timeout(now + Duration::from_secs(29));
    assert!(!c.is_closed());
    c.handle_timeout(deadline);
    assert!(c.poll_timeout().is_none_or(|t| t > deadline));
    assert!(matches!(
        events(&mut c)[..],
        [ServerEvent::Error(Error::HeaderTimeout)]
    ));
    let (out, shut) = output(&mut c);
    assert_eq!(
        out,
        "HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
    );
    assert!(shut && c.is_closed());
}

#[test]
fn slowloris_cannot_extend_the_header_timer() {
    let now = Instant::now();
    let mut c = conn(now);
    let head = b"GET / HTTP/1.1\r\nHost: h\r\nX-Slow: ";
    for (i, b) in head.iter().enumerate() {
        c.handle_input(now + Duration::from_secs(i as u64 / 2), &[*b])
            .unwrap();
        if c.is_closed() {
            break;
        }
        c.handle_timeout(now + Duration::from_secs(i as u64 / 2));
    }
    assert!(c.is_closed() || c.poll_timeout() == Some(now + Duration::from_secs(30)));
}

#[test]
fn keep_alive_idle_timeout_closes_quietly() {
    let now = Instant::now();
    let mut c = conn(now);
    c.handle_input(now, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    assert_eq!(
        c.poll_timeout(),
        None,
        "no timer while the application works"
    );
    let later = now + Duration::from_secs(100);
    c.handle_timeout(later);
    assert!(!c.is_closed());
    c.send_full_response(ok(), Bytes::new()).unwrap();
    let _ = output(&mut c);
    // The idle timer counts from the last input the machine saw.
    let idle = c.poll_timeout().unwrap();
    assert_eq!(idle, later + Duration::from_secs(75));
    assert_eq!(c.timeout_reason(), Some("keep-alive idle"));
    c.handle_timeout(idle);
    let (out, shut) = output(&mut c);
    assert!(out.is_empty() && shut && c.is_closed());
}

#[test]
fn client_half_close_after_pipelined_requests_is_answered() {
    let now = Instant::now();
    let mut c = conn(now);
    c.handle_input(
        now,
        b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n",
    )
    .unwrap();
    assert!(!c.is_peer_closed());
    c.handle_eof(now).unwrap();
    assert!(c.is_peer_closed());
    assert_eq!(events(&mut c).len(), 4);
    c.send_full_response(ok(), Bytes::from_static(b"1"))
        .unwrap();
    assert!(!output(&mut c).1);
    c.send_full_response(ok(), Bytes::from_static(b"2"))
        .unwrap();
    let (out, shut) = output(&mut c);
    assert!(out.contains("connection: close"), "{out}");
    assert!(shut && c.is_closed());
}

#[test]
fn error_after_a_good_request_waits_for_its_response() {
    let now = Instant::now();
    let mut c = conn(now);
    let e = c
        .handle_input(
            now,
            b"GET /ok HTTP/1.1\r\nHost: h\r\n\r\nGET /bad HTTP/1.1\r\n\r\n",
        )
        .unwrap_err();
    assert_eq!(e, Error::MissingHost);
    let evs = events(&mut c);
    assert!(matches!(
        evs.last(),
        Some(ServerEvent::Error(Error::MissingHost))
    ));
    assert!(
        output(&mut c).0.is_empty(),
        "the 400 waits behind the first response"
    );
    c.send_full_response(ok(), Bytes::from_static(b"fine"))
        .unwrap();
    let (out, shut) = output(&mut c);
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nfineHTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
    );
    assert!(shut);
}

#[test]
fn broken_body_replaces_the_response_with_400() {
    let now = Instant::now();
    let mut c = conn(now);
    let e = c
        .handle_input(
            now,
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nZ\r\n",
        )
        .unwrap_err();
    assert_eq!(e, Error::InvalidChunkSize);
    let evs = events(&mut c);
    assert!(matches!(evs.last(), Some(ServerEvent::Error(_))));
    assert_eq!(c.send_full_response(ok(), Bytes::new()), Err(Error::Closed));
    let (out, shut) = output(&mut c);
    assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n") && shut);
}

#[test]
fn body_limit_413() {
    let now = Instant::now();
    let mut cfg = ServerConfig::default();
    cfg.limits.max_body_bytes = Some(10);
    let mut c = ServerConnection::new(cfg.clone(), now);
    let e = c
        .handle_input(
            now,
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n",
        )
        .unwrap_err();
    assert_eq!(e, Error::BodyTooLarge);
    assert!(output(&mut c).0.starts_with("HTTP/1.1 413 "));
    let mut c = ServerConnection::new(cfg, now);
    let e = c.handle_input(now, b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n").unwrap_err();
    assert_eq!(e, Error::BodyTooLarge);
}

#[test]
fn read_back_pressure_from_unconsumed_body_events() {
    let now = Instant::now();
    let mut cfg = ServerConfig::default();
    cfg.read_high_water = 1000;
    let mut c = ServerConnection::new(cfg, now);
    c.handle_input(
        now,
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n",
    )
    .unwrap();
    c.handle_input(now, &[b'x'; 1500]).unwrap();
    assert!(!c.wants_read(), "body events not consumed yet");
    let _ = events(&mut c);
    assert!(c.wants_read());
}

#[test]
fn receive_buffer_refuses_input_when_full() {
    let now = Instant::now();
    let mut cfg = ServerConfig::default();
    cfg.max_pipelined = 1;
    cfg.max_buffered_input = 64;
    let mut c = ServerConnection::new(cfg, now);
    let reqs: String = (0..4)
        .map(|_| "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        .collect();
    c.handle_input(now, reqs.as_bytes()).unwrap();
    assert!(!c.wants_read());
    assert_eq!(c.handle_input(now, b"GET"), Err(Error::ReceiveBufferFull));
}

/// Found by the `server_connection` fuzz target
/// (`fuzz/corpus/server_connection/repro-upgrade-after-input-error`): a
/// caller that ignores `wants_read` overfills the buffer behind a CONNECT
/// request; the machine fails with `ReceiveBufferFull` and drops what it
/// buffered, yet a later 2xx still handed the connection over, with the
/// peer's tunnel bytes lost (an empty `leftover`) and an `Upgraded` event
/// after the `Error`.
#[test]
fn no_hand_off_after_an_input_error() {
    let now = Instant::now();
    for (request, status_code) in [
        (
            &b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"[..],
            200,
        ),
        (
            b"GET /chat HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
            101,
        ),
    ] {
        let mut cfg = ServerConfig::default();
        cfg.max_buffered_input = 64;
        let mut c = ServerConnection::new(cfg, now);
        c.handle_input(now, request).unwrap();
        assert!(!c.wants_read());
        // Tunnel bytes, fed while `wants_read` says no, until they no
        // longer fit.
        let refused = (0..1000).find_map(|_| c.handle_input(now, &[b't'; 100]).err());
        assert_eq!(refused, Some(Error::ReceiveBufferFull));
        let mut head = status(status_code);
        if status_code == 101 {
            head.headers
                .insert("upgrade", HeaderValue::from_static("websocket"));
            head.headers
                .insert("connection", HeaderValue::from_static("upgrade"));
        }
        assert_eq!(c.send_response(head, BodySize::Empty), Err(Error::Closed));
        let evs = events(&mut c);
        assert!(
            !evs.iter()
                .any(|e| matches!(e, ServerEvent::Upgraded { .. })),
            "{evs:?}"
        );
        // The request is still answered, with a status that keeps HTTP.
        c.send_full_response(status(502), Bytes::new()).unwrap();
        let (out, _) = output(&mut c);
        assert!(out.starts_with("HTTP/1.1 502 "), "{out}");
    }
}

#[test]
fn header_case_is_preserved_on_request_and_honoured_on_response() {
    let now = Instant::now();
    let mut cfg = ServerConfig::default();
    cfg.preserve_header_case = true;
    let mut c = ServerConnection::new(cfg, now);
    c.handle_input(
        now,
        b"GET / HTTP/1.1\r\nHOST: h\r\nX-CamelCase: 1\r\nx-camelcase: 2\r\n\r\n",
    )
    .unwrap();
    let evs = events(&mut c);
    let ServerEvent::Request(req) = &evs[0] else {
        panic!()
    };
    let case = req.head.extensions.get::<HeaderCaseMap>().unwrap();
    let name = http::HeaderName::from_static("x-camelcase");
    let spellings: Vec<&[u8]> = case.get_all(&name).map(|b| &b[..]).collect();
    assert_eq!(spellings, [&b"X-CamelCase"[..], b"x-camelcase"]);

    let mut head = ok();
    head.headers
        .insert("x-powered-by", HeaderValue::from_static("w"));
    let mut case = HeaderCaseMap::default();
    case.append(
        http::HeaderName::from_static("x-powered-by"),
        Bytes::from_static(b"X-Powered-By"),
    );
    head.extensions.insert(case);
    c.send_full_response(head, Bytes::new()).unwrap();
    assert_eq!(
        output(&mut c).0,
        "HTTP/1.1 200 OK\r\nX-Powered-By: w\r\ncontent-length: 0\r\n\r\n"
    );
}

#[test]
fn graceful_close_finishes_the_current_response() {
    let now = Instant::now();
    let mut c = conn(now);
    c.handle_input(
        now,
        b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n",
    )
    .unwrap();
    c.send_response(ok(), BodySize::Streaming).unwrap();
    c.close_after_current();
    c.send_data(Bytes::from_static(b"last")).unwrap();
    c.finish(None).unwrap();
    let (out, shut) = output(&mut c);
    assert!(out.ends_with("4\r\nlast\r\n0\r\n\r\n"), "{out}");
    assert!(shut && c.is_closed());
    assert_eq!(c.send_full_response(ok(), Bytes::new()), Err(Error::Closed));

    // Before the response starts, the graceful close still answers it, announcing the close.
    let mut c = conn(now);
    c.handle_input(
        now,
        b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n",
    )
    .unwrap();
    c.close_after_current();
    c.send_full_response(ok(), Bytes::from_static(b"x"))
        .unwrap();
    let (out, shut) = output(&mut c);
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\ncontent-length: 1\r\nconnection: close\r\n\r\nx"
    );
    assert!(shut && c.is_closed());
}

/// A graceful close (a server shutting down) while the current request's
/// body is still arriving: the body is read to its end — its handler is
/// waiting for it — and nothing after it. Before, reading stopped at once:
/// the rest of the body was never delivered (nor a hang-up mid-body seen),
/// so a handler echoing it waited forever and the shutdown with it.
#[test]
fn graceful_close_reads_the_current_body_to_its_end() {
    let now = Instant::now();
    let mut c = conn(now);
    c.handle_input(
        now,
        b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nhello",
    )
    .unwrap();
    events(&mut c);
    c.close_after_current();
    assert!(c.wants_read());
    c.handle_input(now, b"world\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    let evs = events(&mut c);
    assert!(
        matches!(&evs[..], [ServerEvent::Data { data, .. }, ServerEvent::End { .. }] if &data[..] == b"world"),
        "{evs:?}"
    );
    assert!(!c.wants_read(), "nothing after the body is read");
    c.send_full_response(ok(), Bytes::from_static(b"x"))
        .unwrap();
    let (out, shut) = output(&mut c);
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\ncontent-length: 1\r\nconnection: close\r\n\r\nx"
    );
    assert!(shut && c.is_closed());

    // The client hangs up mid-body instead: an error, not a silent wait.
    let mut c = conn(now);
    c.handle_input(
        now,
        b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nhello",
    )
    .unwrap();
    events(&mut c);
    c.close_after_current();
    assert_eq!(c.handle_eof(now), Err(Error::IncompleteMessage));
}

#[test]
fn close_cuts_off_an_unfinishable_response() {
    let now = Instant::now();
    let mut c = conn(now);
    c.handle_input(now, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        .unwrap();
    c.send_response(ok(), BodySize::Exact(100)).unwrap();
    c.send_data(Bytes::from_static(b"short")).unwrap();
    assert_eq!(c.finish(None), Err(Error::BodyLengthMismatch));
    assert!(c.is_sending_body());
    c.close();
    assert!(!c.is_sending_body());
    let (out, shut) = output(&mut c);
    assert!(out.ends_with("short") && shut);
    assert!(c.is_closed());
}

/// RFC 9112 §2.3: a request in a higher minor version of HTTP/1 is
/// processed as HTTP/1.1 (persistent by default) and answered as 1.1.
#[test]
fn newer_http1_minor_version_is_served_as_1_1() {
    let now = Instant::now();
    let mut c = conn(now);
    c.handle_input(now, b"GET /x HTTP/1.7\r\nHost: h\r\n\r\n")
        .unwrap();
    let evs = events(&mut c);
    let Some(ServerEvent::Request(req)) = evs.first() else {
        panic!("{evs:?}")
    };
    assert_eq!(req.head.version, http::Version::HTTP_11);
    assert_eq!(req.head.uri.path(), "/x");
    assert!(req.keep_alive);
    c.send_full_response(ok(), Bytes::from_static(b"hi"))
        .unwrap();
    let (out, shut) = output(&mut c);
    assert_eq!(out, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi");
    assert!(!shut);
}
