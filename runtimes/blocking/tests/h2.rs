//! HTTP/2 on blocking threads, our client against our server (127.0.0.1,
//! ephemeral ports): h2c beside HTTP/1.1 on one port, flow control both
//! ways through small windows, many streams from many threads, HEAD,
//! handler panics, cancellation, back-pressure on uploads, the `http2`
//! switch and graceful shutdown.

mod common;

use bytes::Bytes;
use common::*;
use http::{Request, Response, StatusCode};
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};
use wirestate_blocking::h2::{self, ClientConfig, SendRequest};
use wirestate_blocking::{BlockingBody, Client, Error, RequestBody, ResponseBody, ServerConfig};
use wirestate_h2::frame::ErrorCode;

fn payload(n: usize) -> Bytes {
    Bytes::from((0..n).map(|i| (i * 31 % 251) as u8).collect::<Vec<u8>>())
}

/// `/` hello, `/echo` the body back as it is read, `/stream?n=N` N lines,
/// `/forever` an endless body, `/panic` a panic, `/count` the body's length.
fn routes(req: Request<BlockingBody>) -> Response<ResponseBody> {
    match req.uri().path() {
        "/" => Response::new(ResponseBody::from("hello")),
        "/echo" => Response::new(ResponseBody::from(req.into_body())),
        "/stream" => {
            let n: u64 = req
                .uri()
                .query()
                .and_then(|q| q.strip_prefix("n="))
                .and_then(|n| n.parse().ok())
                .unwrap_or(10);
            let lines = (0..n).map(|i| Ok(Bytes::from(format!("line {i}\n"))));
            Response::new(ResponseBody::from_chunks(lines))
        }
        "/forever" => {
            let chunks = std::iter::repeat_with(|| Ok(Bytes::from_static(&[b'x'; 1000])));
            Response::new(ResponseBody::from_chunks(chunks))
        }
        "/panic" => panic!("handler panic (expected by the test)"),
        "/count" => {
            let n = std::io::copy(&mut req.into_body(), &mut std::io::sink()).unwrap_or(0);
            Response::new(ResponseBody::from(n.to_string()))
        }
        _ => {
            let mut res = Response::new(ResponseBody::from("not found"));
            *res.status_mut() = StatusCode::NOT_FOUND;
            res
        }
    }
}

/// A client config with bounded waits.
fn client_config() -> ClientConfig {
    let mut c = ClientConfig::default();
    c.request_timeout = Some(IO_LIMIT);
    c.io_timeout = Some(IO_LIMIT);
    c
}

fn connect(server: &TestServer) -> SendRequest {
    h2::connect_with(server.addr, client_config()).expect("h2 connect")
}

fn get(
    send: &SendRequest,
    server: &TestServer,
    path: &str,
) -> Result<Response<BlockingBody>, Error> {
    send.send(
        Request::get(server.url(path))
            .body(RequestBody::empty())
            .unwrap(),
    )
}

fn text(res: Response<BlockingBody>) -> String {
    let body = res.into_body().collect(16 << 20).unwrap();
    String::from_utf8(body.to_vec()).unwrap()
}

#[test]
fn h2c_and_http1_share_a_port() {
    let server = TestServer::start(ServerConfig::default(), routes);
    let send = connect(&server);
    let res = get(&send, &server, "/").unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.version(), http::Version::HTTP_2);
    assert_eq!(res.headers()["content-length"], "5");
    assert_eq!(text(res), "hello");

    let res = Client::default().get(&server.url("/")).unwrap();
    assert_eq!(res.version(), http::Version::HTTP_11);
    assert_eq!(text(res), "hello");

    let res = get(&send, &server, "/nope").unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(text(res), "not found");
    drop(send);
    assert_eq!(server.handle.accepted_connections(), 2);
}

#[test]
fn head_sends_the_head_alone() {
    let server = TestServer::start(ServerConfig::default(), routes);
    let send = connect(&server);
    let res = send
        .send(
            Request::head(server.url("/"))
                .body(RequestBody::empty())
                .unwrap(),
        )
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-length"], "5");
    assert!(res.into_body().collect(1024).unwrap().is_empty());
}

#[test]
fn large_bodies_through_small_windows_both_ways() {
    let mut config = ServerConfig::default();
    config.h2.initial_stream_window = 16 * 1024;
    config.h2.connection_window = 64 * 1024;
    let server = TestServer::start(config, routes);
    let mut cc = client_config();
    cc.h2.initial_stream_window = 16 * 1024;
    cc.h2.connection_window = 64 * 1024;
    let send = h2::connect_with(server.addr, cc).unwrap();

    // In memory.
    let big = payload(3 << 20);
    let req = Request::post(server.url("/echo"))
        .body(RequestBody::from(big.clone()))
        .unwrap();
    let res = send.send(req).unwrap();
    assert_eq!(res.headers()["content-length"], (3 << 20).to_string());
    assert_eq!(res.into_body().collect(4 << 20).unwrap(), big);

    // Streamed from a reader (unknown length), read back in small pieces.
    let req = Request::post(server.url("/echo"))
        .body(RequestBody::from_reader(std::io::Cursor::new(big.to_vec())))
        .unwrap();
    let mut res = send.send(req).unwrap();
    assert!(res.headers().get("content-length").is_none());
    let mut got = Vec::new();
    let mut buf = [0u8; 1000];
    loop {
        let n = res.body_mut().read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, big);
}

#[test]
fn streamed_bodies_both_ways() {
    let server = TestServer::start(ServerConfig::default(), routes);
    let send = connect(&server);
    let res = get(&send, &server, "/stream?n=5000").unwrap();
    let body = text(res);
    assert_eq!(body.lines().count(), 5000);
    assert!(body.starts_with("line 0\n"));
    assert!(body.ends_with("line 4999\n"));

    let pieces = (0..100).map(|i| Ok(Bytes::from(format!("piece {i};"))));
    let req = Request::post(server.url("/echo"))
        .body(RequestBody::from_chunks(pieces))
        .unwrap();
    let res = send.send(req).unwrap();
    let want: String = (0..100).map(|i| format!("piece {i};")).collect();
    assert_eq!(text(res), want);
}

#[test]
fn many_streams_from_many_threads_on_one_connection() {
    let mut config = ServerConfig::default();
    // Fewer than the requests in flight: the client queues the rest.
    config.h2.max_concurrent_streams = 50;
    let server = TestServer::start(config, routes);
    let send = connect(&server);
    let threads: Vec<_> = (0..30)
        .map(|t| {
            let send = send.clone();
            let url = server.url("/echo");
            std::thread::spawn(move || {
                for i in 0..5 {
                    let body = format!("thread {t} request {i}");
                    let req = Request::post(&url)
                        .body(RequestBody::from(body.clone()))
                        .unwrap();
                    let res = send.send(req).unwrap();
                    assert_eq!(text(res), body);
                }
            })
        })
        .collect();
    // And 120 at once from one thread: heads first, bodies after.
    let responses: Vec<_> = (0..120)
        .map(|i| {
            let req = Request::post(server.url("/echo"))
                .body(RequestBody::from(format!("batch {i}")))
                .unwrap();
            let send = send.clone();
            std::thread::spawn(move || send.send(req).unwrap())
        })
        .collect();
    for (i, r) in responses.into_iter().enumerate() {
        assert_eq!(text(r.join().unwrap()), format!("batch {i}"));
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(server.handle.accepted_connections(), 1);
}

#[test]
fn a_panicking_handler_resets_only_its_stream() {
    let server = TestServer::start(ServerConfig::default(), routes);
    let send = connect(&server);
    match get(&send, &server, "/panic") {
        Err(Error::Reset(code)) => assert_eq!(code, ErrorCode::INTERNAL_ERROR),
        other => panic!("expected a reset, got {other:?}"),
    }
    assert_eq!(text(get(&send, &server, "/").unwrap()), "hello");
}

#[test]
fn dropping_a_response_body_cancels_its_stream() {
    let server = TestServer::start(ServerConfig::default(), routes);
    let send = connect(&server);
    for _ in 0..3 {
        let mut res = get(&send, &server, "/forever").unwrap();
        let mut buf = [0u8; 5000];
        res.body_mut().read_exact(&mut buf).unwrap();
        drop(res);
    }
    // The connection and its windows are intact.
    assert_eq!(text(get(&send, &server, "/").unwrap()), "hello");
    assert_eq!(server.handle.accepted_connections(), 1);
}

/// A reader that counts what was pulled from it.
struct Counting {
    left: usize,
    pulled: Arc<AtomicUsize>,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.left).min(8192);
        buf[..n].fill(b'u');
        self.left -= n;
        self.pulled.fetch_add(n, Ordering::SeqCst);
        Ok(n)
    }
}

#[test]
fn uploads_wait_for_the_handler_to_read() {
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let go_rx = Arc::new(Mutex::new(go_rx));
    let mut config = ServerConfig::default();
    config.h2.initial_stream_window = 64 * 1024;
    let server = TestServer::start(config, move |req: Request<BlockingBody>| {
        // Read nothing until the test says so.
        let _ = go_rx.lock().unwrap().recv_timeout(IO_LIMIT);
        routes(req)
    });
    let send = connect(&server);
    let pulled = Arc::new(AtomicUsize::new(0));
    let total = 20 << 20;
    let body = Counting {
        left: total,
        pulled: pulled.clone(),
    };
    let url = server.url("/count");
    let call = std::thread::spawn(move || {
        let req = Request::post(url)
            .body(RequestBody::from_reader(body))
            .unwrap();
        text(send.send(req).unwrap())
    });
    std::thread::sleep(Duration::from_millis(500));
    // The stream window, the client's queue and a chunk or two in hand:
    // nowhere near the 20 MiB on offer.
    let held = pulled.load(Ordering::SeqCst);
    assert!(held > 0 && held < 1 << 20, "pulled {held} bytes ahead");
    go_tx.send(()).unwrap();
    assert_eq!(call.join().unwrap(), total.to_string());
}

#[test]
fn http2_off_serves_only_http1() {
    let mut config = ServerConfig::default();
    config.http2 = false;
    let server = TestServer::start(config, routes);
    // The HTTP/1.1 machine answers the preface with 400 and closes.
    let send = connect(&server);
    assert!(get(&send, &server, "/").is_err());
    let res = Client::default().get(&server.url("/")).unwrap();
    assert_eq!(text(res), "hello");
}

#[test]
fn graceful_shutdown_finishes_streams_in_flight() {
    let mut server = TestServer::start(ServerConfig::default(), routes);
    let send = connect(&server);
    let mut res = get(&send, &server, "/stream?n=200000").unwrap();
    let mut first = [0u8; 100];
    res.body_mut().read_exact(&mut first).unwrap();
    let reader = std::thread::spawn(move || {
        let rest = res.into_body().collect(16 << 20).unwrap();
        rest.len() + 100
    });
    let started = Instant::now();
    let handle = server.handle.clone();
    let stopper = std::thread::spawn(move || {
        handle.shutdown();
    });
    stopper.join().unwrap();
    let len = reader.join().unwrap();
    let want: usize = (0..200000).map(|i| format!("line {i}\n").len()).sum();
    assert_eq!(len, want);
    let took = server.stop();
    assert!(started.elapsed() < IO_LIMIT, "shutdown took {took:?}");
    // No new streams after the GOAWAY.
    assert!(get(&send, &server, "/").is_err());
}

#[test]
fn client_against_a_closed_port_fails_cleanly() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    assert!(h2::connect(addr).is_err());
}

/// `send_streaming`: the request head goes out before any of the body, the
/// response is waited for while the body is still being written (an echo
/// answers each chunk as it comes), and a writer dropped unfinished
/// cancels the stream, which the handler sees as a failed body.
#[test]
fn streaming_requests_write_as_they_go_and_cancel_on_drop() {
    let (started, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (running, seen) = (started.clone(), failed.clone());
    let server = TestServer::start(
        ServerConfig::default(),
        move |req: Request<BlockingBody>| {
            if req.uri().path() == "/drain" {
                running.fetch_add(1, Ordering::SeqCst);
                let mut body = req.into_body();
                if std::io::copy(&mut body, &mut std::io::sink()).is_err() {
                    seen.fetch_add(1, Ordering::SeqCst);
                }
                return Response::new(ResponseBody::from("drained"));
            }
            routes(req)
        },
    );
    let send = connect(&server);

    let head = Request::post(server.url("/echo")).body(()).unwrap();
    let (mut writer, pending) = send.send_streaming(head).unwrap();
    // The response head comes before the body ends: the echo answers at once.
    let mut res = pending.wait_until(Some(Instant::now() + IO_LIMIT)).unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    for i in 0..5 {
        let chunk = Bytes::from(format!("chunk {i};"));
        writer.send(chunk.clone()).unwrap();
        let mut got = vec![0; chunk.len()];
        res.body_mut().read_exact(&mut got).unwrap();
        assert_eq!(got, chunk);
    }
    writer.finish(None);
    let mut rest = Vec::new();
    res.body_mut().read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());

    // A writer dropped before `finish`, once the handler runs: the stream
    // is reset (CANCEL) and the handler reading the body sees it fail. (A
    // request given up before its stream opened is never sent at all.)
    let head = Request::post(server.url("/drain")).body(()).unwrap();
    let (mut writer, pending) = send.send_streaming(head).unwrap();
    writer.send(Bytes::from_static(b"partial")).unwrap();
    let wait = |flag: &AtomicUsize, what: &str| {
        let since = Instant::now();
        while flag.load(Ordering::SeqCst) == 0 {
            assert!(since.elapsed() < IO_LIMIT, "{what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait(&started, "the handler did not start");
    drop(writer);
    drop(pending);
    wait(&failed, "the handler did not see the cancel");
    // The connection goes on.
    assert_eq!(text(get(&send, &server, "/").unwrap()), "hello");
}
