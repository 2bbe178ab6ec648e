//! HTTP/2 interop with hyper (the `h2` crate underneath), an independent
//! implementation: its client, with prior knowledge, against our server on
//! each runtime (tokio, smol, blocking) — the same port and handler that
//! serve HTTP/1.1 — and our client on each runtime against a hyper HTTP/2
//! server.

mod support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use std::net::SocketAddr;
use support::*;
use wirestate_rt::http1::ServerConfig;
use wirestate_rt::{Body, Runtime};

type Send = hyper::client::conn::http2::SendRequest<
    http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>,
>;

fn boxed(
    b: impl Into<Bytes>,
) -> http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible> {
    Full::new(b.into()).boxed()
}

fn get(
    path: &str,
) -> hyper::Request<http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>> {
    hyper::Request::get(format!("http://t{path}"))
        .body(boxed(Bytes::new()))
        .unwrap()
}

async fn connect(addr: SocketAddr, window: u32) -> Send {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (send, conn) =
        hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .initial_stream_window_size(window)
            .initial_connection_window_size(window)
            .handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    send
}

/// The demo routes over one multiplexed connection: GET, HEAD, 404, echo
/// of a body far larger than the windows (both directions flow-controlled),
/// a streamed response, a streamed request, and many concurrent streams.
fn hyper_h2_client_against(addr: SocketAddr) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        // Small windows on the client: the server's sends must wait for
        // WINDOW_UPDATEs.
        let mut send = connect(addr, 16 * 1024).await;

        let res = send.send_request(get("/")).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.version(), http::Version::HTTP_2);
        assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "hello");

        let head = hyper::Request::head("http://t/")
            .body(boxed(Bytes::new()))
            .unwrap();
        let res = send.send_request(head).await.unwrap();
        assert_eq!(res.headers()["content-length"], "5");
        assert!(
            res.into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .is_empty()
        );

        let res = send.send_request(get("/nope")).await.unwrap();
        assert_eq!(res.status(), 404);

        // 3 MiB each way: far beyond the 64 KiB default windows.
        let big = payload(3 * 1024 * 1024);
        let req = hyper::Request::post("http://t/echo")
            .body(boxed(big.clone()))
            .unwrap();
        let res = send.send_request(req).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), big);

        let res = send.send_request(get("/stream?n=5000")).await.unwrap();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body.iter().filter(|&&b| b == b'\n').count(), 5000);
        assert!(body.starts_with(b"line 0\n"));

        // A request body streamed in pieces, echoed back.
        let chunks: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = (0..100)
            .map(|i| Ok(Frame::data(Bytes::from(format!("piece {i};")))))
            .collect();
        let body = StreamBody::new(futures_util::stream::iter(chunks)).boxed();
        let req = hyper::Request::post("http://t/echo").body(body).unwrap();
        let res = send.send_request(req).await.unwrap();
        let got = res.into_body().collect().await.unwrap().to_bytes();
        let want: String = (0..100).map(|i| format!("piece {i};")).collect();
        assert_eq!(got, want.as_bytes());

        // 200 streams at once on the one connection (more than the default
        // concurrency: hyper queues the rest).
        let mut tasks = Vec::new();
        for i in 0..200 {
            let mut send = send.clone();
            tasks.push(tokio::spawn(async move {
                let body = Bytes::from(format!("request {i}"));
                let req = hyper::Request::post("http://t/echo")
                    .body(boxed(body.clone()))
                    .unwrap();
                std::future::poll_fn(|cx| send.poll_ready(cx))
                    .await
                    .unwrap();
                let res = send.send_request(req).await.unwrap();
                assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), body);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[test]
fn hyper_h2_client_to_our_tokio_server() {
    let srv = Tokio::start(ServerConfig::default());
    hyper_h2_client_against(srv.addr);
    assert!(srv.stop());
}

#[test]
fn hyper_h2_client_to_our_smol_server() {
    let srv = Smol::start(ServerConfig::default());
    hyper_h2_client_against(srv.addr);
    assert!(srv.stop());
}

#[test]
fn http2_off_serves_only_http1() {
    let mut config = ServerConfig::default();
    config.http2 = false;
    let srv = Tokio::start(config);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let stream = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
        let handshake =
            hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .handshake::<_, Full<Bytes>>(hyper_util::rt::TokioIo::new(stream))
                .await;
        // The HTTP/1.1 machine answers the preface with 400 and closes.
        if let Ok((mut send, conn)) = handshake {
            tokio::spawn(conn);
            let req = hyper::Request::get("http://t/")
                .body(Full::new(Bytes::new()))
                .unwrap();
            assert!(send.send_request(req).await.is_err());
        }
    });
    assert!(srv.stop());
}

async fn hyper_h2_service(
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let path = req.uri().path().to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Ok(match path.as_str() {
        "/echo" => hyper::Response::new(Full::new(body)),
        _ => hyper::Response::new(Full::new(Bytes::from_static(b"from hyper h2"))),
    })
}

/// A hyper HTTP/2 (h2c) server on its own thread, with small windows so
/// that our client's uploads wait for its WINDOW_UPDATEs.
fn hyper_h2_server() -> SocketAddr {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            // Bounded: the tests open a handful of connections.
            for _ in 0..8 {
                let Ok(Ok((stream, _))) =
                    tokio::time::timeout(std::time::Duration::from_secs(30), listener.accept())
                        .await
                else {
                    return;
                };
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http2::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .initial_stream_window_size(16 * 1024)
                    .initial_connection_window_size(32 * 1024)
                    .max_concurrent_streams(50)
                    .serve_connection(
                        hyper_util::rt::TokioIo::new(stream),
                        hyper::service::service_fn(hyper_h2_service),
                    )
                    .await;
                });
            }
        });
    });
    addr
}

/// Our HTTP/2 client on runtime `T` against `addr`: a GET, a 2 MiB upload
/// echoed back, a streamed upload, and 150 concurrent requests on the one
/// connection (beyond the server's limit of 50: they wait their turn).
fn our_h2_client_against<T: TestRuntime>(addr: SocketAddr, hello: &'static [u8]) {
    T::block_on(async move {
        let rt = T::rt();
        let io = rt.connect(addr).await.unwrap();
        let (send, driver) = wirestate_rt::h2::handshake(rt.clone(), io, Default::default());
        rt.spawn(Box::pin(async move {
            let _ = driver.await;
        }));
        let base = format!("http://{addr}");

        let res = send
            .send(
                http::Request::get(format!("{base}/"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.version(), http::Version::HTTP_2);
        assert_eq!(&res.into_body().collect(1 << 10).await.unwrap()[..], hello);

        let big = payload(2 << 20);
        let req = http::Request::post(format!("{base}/echo"))
            .body(Body::from(big.clone()))
            .unwrap();
        let res = send.send(req).await.unwrap();
        assert_eq!(res.into_body().collect(4 << 20).await.unwrap(), big);

        let chunks = futures_lite::stream::iter(
            (0..100).map(|i| Ok::<_, std::io::Error>(Bytes::from(format!("chunk {i};")))),
        );
        let req = http::Request::post(format!("{base}/echo"))
            .body(Body::from_stream(chunks))
            .unwrap();
        let res = send.send(req).await.unwrap();
        let got = res.into_body().collect(1 << 20).await.unwrap();
        let want: String = (0..100).map(|i| format!("chunk {i};")).collect();
        assert_eq!(got, want.as_bytes());

        let calls = (0..150).map(|i| {
            let send = send.clone();
            let base = base.clone();
            async move {
                let body = Bytes::from(format!("request {i}"));
                let req = http::Request::post(format!("{base}/echo"))
                    .body(Body::from(body.clone()))
                    .unwrap();
                let res = send.send(req).await.unwrap();
                assert_eq!(res.into_body().collect(1 << 10).await.unwrap(), body);
            }
        });
        futures_util::future::join_all(calls).await;
    });
}

#[test]
fn our_tokio_h2_client_to_hyper_server() {
    our_h2_client_against::<Tokio>(hyper_h2_server(), b"from hyper h2");
}

#[test]
fn our_smol_h2_client_to_hyper_server() {
    our_h2_client_against::<Smol>(hyper_h2_server(), b"from hyper h2");
}

#[test]
fn our_h2_client_to_our_server() {
    let srv = Tokio::start(ServerConfig::default());
    our_h2_client_against::<Tokio>(srv.addr, b"hello");
    our_h2_client_against::<Smol>(srv.addr, b"hello");
    assert!(srv.stop());
}

/// Our blocking server on its own thread (HTTP/1.1 and h2c on one port),
/// with the demo routes; shut down and joined by [`BlockingServer::stop`].
struct BlockingServer {
    addr: SocketAddr,
    handle: wirestate_blocking::ServerHandle,
    thread: std::thread::JoinHandle<std::io::Result<()>>,
}

impl BlockingServer {
    fn start(config: wirestate_blocking::ServerConfig) -> BlockingServer {
        Self::start_with(config, wirestate_examples::routes::handle_blocking)
    }

    fn start_with(
        config: wirestate_blocking::ServerConfig,
        handler: impl wirestate_blocking::Handler + 'static,
    ) -> BlockingServer {
        let server = wirestate_blocking::Server::bind("127.0.0.1:0", config).unwrap();
        let addr = server.local_addr().unwrap();
        let handle = server.handle();
        let thread = std::thread::spawn(move || server.serve(handler));
        BlockingServer {
            addr,
            handle,
            thread,
        }
    }

    /// Shuts down; whether `serve` returned (cleanly) within 10 s.
    fn stop(self) -> bool {
        self.handle.shutdown();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !self.thread.is_finished() {
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        matches!(self.thread.join(), Ok(Ok(())))
    }
}

#[test]
fn hyper_h2_client_to_our_blocking_server() {
    let srv = BlockingServer::start(Default::default());
    hyper_h2_client_against(srv.addr);
    assert!(srv.stop());
}

#[test]
fn blocking_http2_off_serves_only_http1() {
    let mut config = wirestate_blocking::ServerConfig::default();
    config.http2 = false;
    let srv = BlockingServer::start(config);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let stream = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
        let handshake =
            hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .handshake::<_, Full<Bytes>>(hyper_util::rt::TokioIo::new(stream))
                .await;
        // The HTTP/1.1 machine answers the preface with 400 and closes.
        if let Ok((mut send, conn)) = handshake {
            tokio::spawn(conn);
            let req = hyper::Request::get("http://t/")
                .body(Full::new(Bytes::new()))
                .unwrap();
            assert!(send.send_request(req).await.is_err());
        }
    });
    assert!(srv.stop());
}

/// Our blocking HTTP/2 client against `addr`: a GET, a 2 MiB upload echoed
/// back (in memory, then streamed from a reader), a streamed upload in
/// pieces, and 150 concurrent requests from 150 threads on the one
/// connection (beyond the server's limit of 50: they wait their turn).
fn our_blocking_h2_client_against(addr: SocketAddr, hello: &'static [u8]) {
    use std::io::Read;
    use wirestate_blocking::RequestBody;
    let mut config = wirestate_blocking::h2::ClientConfig::default();
    config.io_timeout = Some(std::time::Duration::from_secs(30));
    let send = wirestate_blocking::h2::connect_with(addr, config).unwrap();
    let base = format!("http://{addr}");

    let res = send
        .send(
            http::Request::get(format!("{base}/"))
                .body(RequestBody::empty())
                .unwrap(),
        )
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.version(), http::Version::HTTP_2);
    assert_eq!(&res.into_body().collect(1 << 10).unwrap()[..], hello);

    let big = payload(2 << 20);
    let req = http::Request::post(format!("{base}/echo"))
        .body(RequestBody::from(big.clone()))
        .unwrap();
    let res = send.send(req).unwrap();
    assert_eq!(res.into_body().collect(4 << 20).unwrap(), big);

    let req = http::Request::post(format!("{base}/echo"))
        .body(RequestBody::from_reader(std::io::Cursor::new(big.to_vec())))
        .unwrap();
    let mut res = send.send(req).unwrap();
    let mut got = Vec::new();
    res.body_mut().read_to_end(&mut got).unwrap();
    assert_eq!(got, big);

    let chunks = (0..100).map(|i| Ok::<_, std::io::Error>(Bytes::from(format!("chunk {i};"))));
    let req = http::Request::post(format!("{base}/echo"))
        .body(RequestBody::from_chunks(chunks))
        .unwrap();
    let res = send.send(req).unwrap();
    let got = res.into_body().collect(1 << 20).unwrap();
    let want: String = (0..100).map(|i| format!("chunk {i};")).collect();
    assert_eq!(got, want.as_bytes());

    let calls: Vec<_> = (0..150)
        .map(|i| {
            let send = send.clone();
            let base = base.clone();
            std::thread::spawn(move || {
                let body = Bytes::from(format!("request {i}"));
                let req = http::Request::post(format!("{base}/echo"))
                    .body(RequestBody::from(body.clone()))
                    .unwrap();
                let res = send.send(req).unwrap();
                assert_eq!(res.into_body().collect(1 << 10).unwrap(), body);
            })
        })
        .collect();
    for c in calls {
        c.join().unwrap();
    }
}

#[test]
fn our_blocking_h2_client_to_hyper_server() {
    our_blocking_h2_client_against(hyper_h2_server(), b"from hyper h2");
}

#[test]
fn our_blocking_h2_client_to_our_servers() {
    let srv = BlockingServer::start(Default::default());
    our_blocking_h2_client_against(srv.addr, b"hello");
    assert!(srv.stop());
    let srv = Tokio::start(ServerConfig::default());
    our_blocking_h2_client_against(srv.addr, b"hello");
    assert!(srv.stop());
}

/// GETs `path` over h2c with our client machine on a plain socket and
/// counts the response's DATA frames: (frames, frames under
/// `pacing::TINY_DATA` bytes, the body, how long it took).
fn count_data_frames(addr: SocketAddr, path: &str) -> (usize, usize, Vec<u8>, std::time::Duration) {
    use std::io::{Read, Write};
    use std::time::Instant;
    use wirestate_h2::connection::{Config, Connection, Event};
    use wirestate_machine::{Machine, Transmit};
    let mut sock = support::connect(addr);
    let mut m = Connection::client(Config::default());
    let head = http::Request::get(format!("http://t{path}"))
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let started = Instant::now();
    let id = m.send_request(head, true).unwrap();
    let (mut frames, mut tiny, mut body) = (0, 0, Vec::new());
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while let Some(t) = m.poll_transmit() {
            if let Transmit::Bytes(b) = t {
                sock.write_all(&b).unwrap();
            }
        }
        let n = sock.read(&mut buf).unwrap();
        assert!(n > 0, "the server closed before the body ended");
        m.handle_input(Instant::now(), &buf[..n]).unwrap();
        while let Some(ev) = m.poll_event() {
            if let Event::Data {
                data, end_stream, ..
            } = ev
            {
                if !data.is_empty() {
                    frames += 1;
                    tiny += usize::from(data.len() < wirestate_h2::pacing::TINY_DATA);
                    m.release_capacity(id, data.len()).unwrap();
                    body.extend_from_slice(&data);
                }
                if end_stream {
                    return (frames, tiny, body, started.elapsed());
                }
            }
        }
    }
}

/// Lines of [`stream_line`](wirestate_examples::routes::stream_line), one
/// about every 20 µs: a producer about as fast as the connection.
const PACED_LINES: u64 = 3000;

fn paced_line(i: u64) -> Bytes {
    std::thread::sleep(std::time::Duration::from_micros(20));
    wirestate_examples::routes::stream_line(i)
}

/// GETs the paced body from `addr`: every line arrived, and tiny DATA
/// frames came at most once per `pacing::TINY_HOLD` (without pacing each
/// line was its own 8-byte frame — about 3000 — which hyper's h2 client
/// calls a flood, GOAWAY "too_many_data_frames", when it falls behind).
fn assert_paced(addr: SocketAddr) {
    let (frames, tiny, body, elapsed) = count_data_frames(addr, "/paced");
    let want: Vec<u8> = (0..PACED_LINES)
        .flat_map(|i| wirestate_examples::routes::stream_line(i).to_vec())
        .collect();
    assert_eq!(body, want);
    let holds = elapsed.as_micros() / wirestate_h2::pacing::TINY_HOLD.as_micros();
    assert!(
        tiny as u128 <= holds + 2,
        "{tiny} tiny frames of {frames} in {holds} pacing intervals"
    );
}

#[test]
fn tiny_pieces_from_another_thread_go_out_in_fewer_frames() {
    // tokio: the connection task takes each line as its channel yields it.
    let handler = |_req: http::Request<Body>| async {
        let (tx, rx) = futures_channel::mpsc::unbounded();
        std::thread::spawn(move || {
            for i in 0..PACED_LINES {
                if tx.unbounded_send(Ok(paced_line(i))).is_err() {
                    break;
                }
            }
        });
        http::Response::new(Body::from_stream(rx))
    };
    let (addr, _rt) = tokio_server(handler);
    assert_paced(addr);

    // blocking: the handler's thread and the connection thread take turns.
    let srv = BlockingServer::start_with(Default::default(), |_req| {
        let lines = (0..PACED_LINES).map(|i| Ok(paced_line(i)));
        http::Response::new(wirestate_blocking::ResponseBody::from_chunks(lines))
    });
    assert_paced(srv.addr);
    assert!(srv.stop());
}
