//! The blocking HTTP/1.1 server on real sockets (127.0.0.1, ephemeral
//! ports): keep-alive, pipelining, chunked bodies, 100-continue, timeouts,
//! limits, errors and graceful shutdown.

mod common;

use common::*;
use http::{Request, Response, StatusCode};
use std::io::{BufReader, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};
use wirestate_blocking::{BlockingBody, Client, ResponseBody, ServerConfig};
use wirestate_http1::BodyKind;

/// Answers with the request path; `/echo` echoes the body.
fn paths(req: Request<BlockingBody>) -> Response<ResponseBody> {
    if req.uri().path() == "/echo" {
        return Response::new(ResponseBody::from(req.into_body()));
    }
    Response::new(ResponseBody::from(req.uri().path().to_string()))
}

#[test]
fn keep_alive_reuses_one_connection() {
    let server = TestServer::start(ServerConfig::default(), paths);
    let client = Client::default();
    for i in 0..5 {
        let res = client.get(&server.url(&format!("/n{i}"))).unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body = res.into_body().collect(1024).unwrap();
        assert_eq!(&body[..], format!("/n{i}").as_bytes());
    }
    assert_eq!(server.handle.accepted_connections(), 1);
    assert_eq!(client.idle_connections(), 1);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = TestServer::start(ServerConfig::default(), paths);
    let mut s = connect(server.addr);
    s.write_all(
        b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n\
          POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nsecond\
          GET /third HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let bodies: Vec<String> = (0..3)
        .map(|_| read_response(&mut r).unwrap().text())
        .collect();
    assert_eq!(bodies, ["/first", "second", "/third"]);
    // `Connection: close` on the last one: nothing follows.
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    assert_eq!(server.handle.accepted_connections(), 1);
}

#[test]
fn chunked_upload_and_download() {
    let seen = Arc::new(std::sync::Mutex::new(None));
    let seen2 = seen.clone();
    let server = TestServer::start(ServerConfig::default(), move |req| {
        *seen2.lock().unwrap() = Some(req.body().kind());
        paths(req)
    });
    // Through the client: a reader of unknown length goes out chunked and
    // is echoed back chunked.
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let req = Request::post(server.url("/echo"))
        .body(ResponseBody::from_reader(std::io::Cursor::new(
            data.clone(),
        )))
        .unwrap();
    let res = Client::default().request(req).unwrap();
    assert_eq!(*seen.lock().unwrap(), Some(BodyKind::Chunked));
    assert_eq!(
        res.headers().get("transfer-encoding").unwrap(),
        "chunked",
        "{res:?}"
    );
    let body = res.into_body().collect(1 << 20).unwrap();
    assert_eq!(&body[..], &data[..]);

    // On the wire, with chunk extensions and trailers passed through.
    let res = roundtrip(
        server.addr,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
          5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-check: yes\r\n\r\n",
    );
    assert_eq!(res.status, 200);
    assert_eq!(res.header("transfer-encoding"), Some("chunked"));
    assert_eq!(res.text(), "hello world");
    assert_eq!(
        res.trailers,
        [("x-check".to_string(), "yes".to_string())],
        "trailers are passed on"
    );
}

#[test]
fn expect_100_continue_is_sent_when_the_handler_reads() {
    let server = TestServer::start(ServerConfig::default(), |req| {
        let mut body = req.into_body();
        let mut text = String::new();
        body.read_to_string(&mut text).unwrap();
        Response::new(ResponseBody::from(format!("got {text}")))
    });
    let mut s = connect(server.addr);
    s.write_all(
        b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let interim = read_head(&mut r).unwrap();
    assert_eq!(interim.status, 100, "100 Continue before the body is sent");
    s.write_all(b"hello").unwrap();
    let res = read_response(&mut r).unwrap();
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "got hello");
    assert_eq!(res.header("connection"), None, "stays open");

    // The body passed back as the response body counts as read.
    let server = TestServer::start(ServerConfig::default(), paths);
    let mut s = connect(server.addr);
    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    assert_eq!(read_head(&mut r).unwrap().status, 100);
    s.write_all(b"hello").unwrap();
    assert_eq!(read_response(&mut r).unwrap().text(), "hello");
}

#[test]
fn expect_100_continue_is_not_sent_when_the_handler_does_not_read() {
    let server = TestServer::start(ServerConfig::default(), |_req| {
        let mut res = Response::new(ResponseBody::from("no thanks"));
        *res.status_mut() = StatusCode::FORBIDDEN;
        res
    });
    let mut s = connect(server.addr);
    s.write_all(
        b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let res = read_response(&mut r).unwrap();
    assert_eq!(res.status, 403);
    assert_eq!(res.text(), "no thanks");
    // The body was never asked for, so the connection cannot continue.
    assert_eq!(res.header("connection"), Some("close"));
    assert!(closed_within(&mut s, Duration::from_secs(5)));
}

#[test]
fn header_read_timeout_answers_408() {
    let mut config = ServerConfig::default();
    config.http1.header_read_timeout = Some(Duration::from_millis(200));
    let server = TestServer::start(config, paths);
    let mut s = connect(server.addr);
    let start = Instant::now();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap(); // never finished
    let res = read_response(&mut BufReader::new(s.try_clone().unwrap())).unwrap();
    let took = start.elapsed();
    assert_eq!(res.status, 408);
    assert!(took >= Duration::from_millis(150), "fired early: {took:?}");
    assert!(took < Duration::from_secs(3), "fired late: {took:?}");
    assert!(closed_within(&mut s, Duration::from_secs(5)));

    // A connection that never sends anything times out the same way.
    let mut s = connect(server.addr);
    let res = read_response(&mut BufReader::new(s.try_clone().unwrap())).unwrap();
    assert_eq!(res.status, 408);
    assert!(closed_within(&mut s, Duration::from_secs(5)));
}

#[test]
fn keep_alive_timeout_closes_idle_connections() {
    let mut config = ServerConfig::default();
    config.http1.keep_alive_timeout = Some(Duration::from_millis(200));
    let server = TestServer::start(config, paths);
    let mut s = connect(server.addr);
    s.write_all(b"GET /a HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    assert_eq!(read_response(&mut r).unwrap().text(), "/a");
    let start = Instant::now();
    assert!(closed_within(&mut s, Duration::from_secs(5)));
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(150), "closed early: {took:?}");
    // Closed connections free their slot.
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.handle.active_connections() != 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server.handle.active_connections(), 0);
}

#[test]
fn oversized_body_gets_413_and_close() {
    let mut config = ServerConfig::default();
    config.http1.limits.max_body_bytes = Some(1000);
    let server = TestServer::start(config, paths);
    // Declared too large: refused before the body is read.
    let mut s = connect(server.addr);
    let mut req = b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n".to_vec();
    req.extend_from_slice(&[b'x'; 5000]);
    s.write_all(&req).unwrap();
    let res = read_response(&mut BufReader::new(s.try_clone().unwrap())).unwrap();
    assert_eq!(res.status, 413);
    assert!(closed_within(&mut s, Duration::from_secs(5)));

    // Chunked and too large: found out while the handler reads.
    let reads = Arc::new(AtomicUsize::new(0));
    let reads2 = reads.clone();
    let mut config = ServerConfig::default();
    config.http1.limits.max_body_bytes = Some(1000);
    let server = TestServer::start(config, move |req| {
        let result = req.into_body().collect(1 << 20);
        assert!(result.is_err(), "the body read fails");
        reads2.fetch_add(1, Ordering::SeqCst);
        Response::new(ResponseBody::from("unreachable"))
    });
    let mut s = connect(server.addr);
    let mut req = b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..5 {
        req.extend_from_slice(b"190\r\n");
        req.extend_from_slice(&[b'y'; 0x190]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    s.write_all(&req).unwrap();
    let res = read_response(&mut BufReader::new(s.try_clone().unwrap())).unwrap();
    assert_eq!(res.status, 413);
    assert!(closed_within(&mut s, Duration::from_secs(5)));
    assert_eq!(reads.load(Ordering::SeqCst), 1);
}

#[test]
fn malformed_request_gets_400() {
    let server = TestServer::start(ServerConfig::default(), paths);
    let res = roundtrip(
        server.addr,
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    assert_eq!(res.status, 400);
    assert_eq!(res.header("connection"), Some("close"));
}

#[test]
fn handler_panic_closes_the_connection() {
    let server = TestServer::start(ServerConfig::default(), |req| {
        if req.uri().path() == "/panic" {
            panic!("handler failure (expected by the test)");
        }
        paths(req)
    });
    let mut s = connect(server.addr);
    s.write_all(b"GET /panic HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    assert!(
        got.is_empty(),
        "no response: {:?}",
        String::from_utf8_lossy(&got)
    );
    // The server carries on.
    let res = roundtrip(server.addr, b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(res.text(), "/ok");
}

#[test]
fn response_body_shorter_than_declared_closes_the_connection() {
    let server = TestServer::start(ServerConfig::default(), |_req| {
        Response::new(ResponseBody::from_reader_sized(&b"short"[..], 100))
    });
    let mut s = connect(server.addr);
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let head = read_head(&mut r).unwrap();
    assert_eq!(head.header("content-length"), Some("100"));
    let mut rest = Vec::new();
    let _ = r.read_to_end(&mut rest);
    assert_eq!(rest, b"short", "the message is cut off by the close");
}

#[test]
fn graceful_shutdown_finishes_in_flight_and_closes_idle() {
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let started_tx = std::sync::Mutex::new(started_tx);
    let mut server = TestServer::start(ServerConfig::default(), move |req| {
        if req.uri().path() == "/slow" {
            let _ = started_tx.lock().unwrap().send(());
            std::thread::sleep(Duration::from_millis(600));
            // Streamed after the shutdown began.
            let chunks = (0..50).map(|i| Ok(bytes::Bytes::from(format!("part {i}\n"))));
            return Response::new(ResponseBody::from_chunks(chunks));
        }
        paths(req)
    });
    let addr = server.addr;

    // An idle keep-alive connection.
    let mut idle = connect(addr);
    idle.write_all(b"GET /idle HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut idle_r = BufReader::new(idle.try_clone().unwrap());
    assert_eq!(read_response(&mut idle_r).unwrap().text(), "/idle");

    // A slow response in flight.
    let slow = std::thread::spawn(move || {
        let mut s = connect(addr);
        s.write_all(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let res = read_response(&mut r).unwrap();
        let closed = closed_within(&mut s, Duration::from_secs(5));
        (res, closed)
    });
    started_rx.recv_timeout(IO_LIMIT).unwrap();

    let start = Instant::now();
    server.handle.shutdown();
    // The idle connection closes at once, long before the slow response.
    assert!(closed_within(&mut idle, Duration::from_millis(400)));
    assert!(start.elapsed() < Duration::from_millis(400));

    // The in-flight response completes, then its connection closes.
    let (res, closed) = join_within(slow, IO_LIMIT).unwrap();
    assert_eq!(res.status, 200);
    assert_eq!(res.text().lines().count(), 50);
    assert_eq!(res.header("connection"), Some("close"));
    assert!(closed);
    let took = server.stop();
    assert!(
        took < Duration::from_secs(3),
        "serve returned after {took:?}"
    );

    // No longer accepting.
    match std::net::TcpStream::connect(addr) {
        Err(_) => {}
        Ok(mut s) => {
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
            let mut got = Vec::new();
            let _ = s.read_to_end(&mut got);
            assert!(got.is_empty());
        }
    }
}

#[test]
fn connection_limit_is_honoured() {
    let mut config = ServerConfig::default();
    config.max_connections = 2;
    let server = TestServer::start(config, paths);

    // Two connections busy with a request (its body half sent). Idle ones
    // would be closed to make room (tests/tests/blocking_capacity.rs).
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut s = connect(server.addr);
        s.write_all(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello")
            .unwrap();
        open.push(s);
    }
    let started = std::time::Instant::now();
    while server.handle.active_connections() < 2 && started.elapsed() < IO_LIMIT {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server.handle.active_connections(), 2);

    // A third connection is not accepted (it waits in the backlog).
    let mut third = connect(server.addr);
    third
        .write_all(b"GET /third HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 64];
    let err = third.read(&mut buf).unwrap_err();
    assert!(matches!(
        err.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ));
    assert_eq!(server.handle.accepted_connections(), 2);
    assert!(server.handle.active_connections() <= 2);

    // Closing one lets it in.
    drop(open.remove(0));
    third.set_read_timeout(Some(IO_LIMIT)).unwrap();
    let res = read_response(&mut BufReader::new(third.try_clone().unwrap())).unwrap();
    assert_eq!(res.text(), "/third");
    assert_eq!(server.handle.accepted_connections(), 3);
    assert!(server.handle.active_connections() <= 2);
}

#[test]
fn http10_and_head_follow_the_machine() {
    let server = TestServer::start(ServerConfig::default(), paths);
    // HTTP/1.0 without keep-alive: answered, then closed.
    let mut s = connect(server.addr);
    s.write_all(b"GET /old HTTP/1.0\r\n\r\n").unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    assert!(all.starts_with("HTTP/1.1 200 OK\r\n"), "{all}");
    assert!(all.ends_with("\r\n\r\n/old"), "{all}");

    // HEAD: the length is announced, no body follows.
    let mut s = connect(server.addr);
    s.write_all(b"HEAD /head HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    let head = read_head(&mut r).unwrap();
    assert_eq!(head.header("content-length"), Some("5"));
    assert_eq!(read_response(&mut r).unwrap().text(), "/next");
}

#[test]
fn request_body_read_by_another_thread() {
    // The body is `Send`: a handler may hand it to a helper thread.
    let server = TestServer::start(ServerConfig::default(), |req| {
        let body = req.into_body();
        let n = std::thread::spawn(move || body.collect(1 << 20).unwrap().len())
            .join()
            .unwrap();
        Response::new(ResponseBody::from(n.to_string()))
    });
    let res = roundtrip(
        server.addr,
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world",
    );
    assert_eq!(res.text(), "11");
}
