//! WebSocket on every runtime: our client against our server (tokio, smol,
//! blocking), split halves used concurrently, close handshakes started by
//! either side with their codes, pings answered while the application does
//! not read, handshake refusals, back-pressure, and interop with
//! tungstenite in both directions, and a frame over the limit answered
//! with 1009 without resetting the connection under the sender.

mod support;

use bytes::Bytes;
use http::{Request, Response};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::*;
use wirestate_rt::ws::{self, Config, Message};
use wirestate_rt::{Body, Runtime, Shutdown};

const MIB: usize = 1 << 20;

fn big_text(n: usize) -> String {
    // Multi-byte characters across frame and read boundaries.
    "aé€😀".chars().cycle().take(n / 3).collect()
}

// ---------------------------------------------------------------------------
// Servers with the test routes
// ---------------------------------------------------------------------------

/// The demo routes (`/ws` echoes) plus:
/// `/close`: the server closes at once with 4001;
/// `/silent`: the server holds the socket for 2 s without reading.
async fn handler<R: Runtime>(rt: R, req: Request<Body>) -> Response<Body> {
    match req.uri().path() {
        "/close" => ws::upgrade(&req, &Config::default(), |mut s| async move {
            let _ = s.close(4001, "server bye").await;
        }),
        "/silent" => ws::upgrade(&req, &Config::default(), move |s| async move {
            wirestate_rt::sleep_until(&rt, rt.now() + Duration::from_secs(2)).await;
            drop(s);
        }),
        _ => wirestate_examples::routes::handle(req).await,
    }
}

fn blocking_handler(
    req: Request<wirestate_blocking::BlockingBody>,
) -> Response<wirestate_blocking::ResponseBody> {
    use wirestate_blocking::ws as bws;
    match req.uri().path() {
        "/close" => bws::upgrade(&req, &bws::Config::default(), |s| {
            let _ = s.close(4001, "server bye");
            while let Some(Ok(_)) = s.recv() {}
        }),
        "/silent" => bws::upgrade(&req, &bws::Config::default(), |s| {
            std::thread::sleep(Duration::from_secs(2));
            drop(s);
        }),
        _ => wirestate_examples::routes::handle_blocking(req),
    }
}

struct Server {
    addr: SocketAddr,
    stop: Box<dyn FnOnce()>,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    fn stop(self) {
        (self.stop)()
    }
}

fn std_listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

trait WsServer: TestServer {
    fn start() -> Server;
}

impl WsServer for Tokio {
    fn start() -> Server {
        let (l, addr) = std_listener();
        let shutdown = Shutdown::new();
        let sd = shutdown.clone();
        let (tx, done) = mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let l =
                    wirestate_tokio::TokioListener(tokio::net::TcpListener::from_std(l).unwrap());
                let h = |req| handler(wirestate_tokio::TokioRuntime, req);
                wirestate_tokio::serve(l, h, Default::default(), sd)
                    .await
                    .unwrap();
            });
            let _ = tx.send(());
        });
        Server {
            addr,
            stop: Box::new(move || {
                shutdown.trigger();
                assert!(done.recv_timeout(Duration::from_secs(10)).is_ok());
            }),
        }
    }
}

impl WsServer for Smol {
    fn start() -> Server {
        let (l, addr) = std_listener();
        let shutdown = Shutdown::new();
        let sd = shutdown.clone();
        let (tx, done) = mpsc::channel();
        std::thread::spawn(move || {
            smol::block_on(async move {
                let l = wirestate_smol::SmolListener(smol::Async::new(l).unwrap());
                let h = |req| handler(wirestate_smol::SmolRuntime::new(), req);
                wirestate_smol::serve(l, h, Default::default(), sd)
                    .await
                    .unwrap();
            });
            let _ = tx.send(());
        });
        Server {
            addr,
            stop: Box::new(move || {
                shutdown.trigger();
                assert!(done.recv_timeout(Duration::from_secs(10)).is_ok());
            }),
        }
    }
}

impl WsServer for Blocking {
    fn start() -> Server {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = wirestate_blocking::Server::new(l, Default::default());
        let handle = server.handle();
        let (tx, done) = mpsc::channel();
        std::thread::spawn(move || {
            server.serve(blocking_handler).unwrap();
            let _ = tx.send(());
        });
        Server {
            addr,
            stop: Box::new(move || {
                handle.shutdown();
                assert!(done.recv_timeout(Duration::from_secs(10)).is_ok());
            }),
        }
    }
}

// ---------------------------------------------------------------------------
// Our async client (tokio, smol) against our server on the same runtime
// ---------------------------------------------------------------------------

async fn connect<R: Runtime>(rt: &R, url: &str, config: Config) -> ws::WebSocket {
    let (socket, conn) = ws::connect(rt.clone(), url, config).await.unwrap();
    rt.spawn(Box::pin(async move {
        let _ = conn.await;
    }));
    socket
}

async fn recv_within<R: Runtime>(rt: &R, socket: &mut ws::WebSocket) -> Option<Message> {
    let deadline = rt.now() + Duration::from_secs(10);
    wirestate_rt::timeout(rt, deadline, socket.recv())
        .await
        .expect("no message within 10 s")
        .map(|r| r.unwrap())
}

fn echo<T: TestRuntime + WsServer>() {
    let srv = <T as WsServer>::start();
    let rt = T::rt();
    T::block_on(async {
        for deflate in [false, true] {
            let mut s = connect(&rt, &srv.url("/ws"), Config::default().deflate(deflate)).await;
            let messages = [
                Message::from("hello"),
                Message::from(Bytes::from_static(b"\x00\x01\xffbinary")),
                Message::from(""),
                Message::Binary(payload(MIB)),
                Message::from(big_text(MIB)),
            ];
            for m in messages {
                s.send(m.clone()).await.unwrap();
                let back = recv_within(&rt, &mut s).await;
                assert_eq!(back.as_ref(), Some(&m), "{} deflate={deflate}", T::NAME);
            }
            let frame = s.close(ws::close_code::NORMAL, "done").await.unwrap();
            assert_eq!(frame.map(|f| f.code), Some(1000), "{}", T::NAME);
        }
    });
    srv.stop();
}

fn split_concurrent<T: TestRuntime + WsServer>() {
    let srv = <T as WsServer>::start();
    let rt = T::rt();
    T::block_on(async {
        let s = connect(&rt, &srv.url("/ws"), Config::default()).await;
        let (mut tx, mut rx) = s.split();
        const N: usize = 500;
        let (done_tx, done_rx) = futures_channel::oneshot::channel();
        rt.spawn(Box::pin(async move {
            for i in 0..N {
                let m = if i % 2 == 0 {
                    Message::from(format!("msg {i}"))
                } else {
                    Message::Binary(payload(i * 97))
                };
                tx.send(m).await.unwrap();
            }
            let _ = done_tx.send(tx);
        }));
        for i in 0..N {
            let deadline = rt.now() + Duration::from_secs(10);
            let m = wirestate_rt::timeout(&rt, deadline, rx.recv())
                .await
                .expect("echo in time")
                .unwrap()
                .unwrap();
            if i % 2 == 0 {
                assert_eq!(m, Message::from(format!("msg {i}")), "{}", T::NAME);
            } else {
                assert_eq!(m, Message::Binary(payload(i * 97)), "{}", T::NAME);
            }
        }
        let mut tx = done_rx.await.unwrap();
        tx.close(1000, "").await.unwrap();
        let deadline = rt.now() + Duration::from_secs(10);
        let end = wirestate_rt::timeout(&rt, deadline, rx.recv()).await;
        assert!(matches!(end, Some(None)), "{}: {end:?}", T::NAME);
        assert_eq!(rx.close_frame().map(|f| f.code), Some(1000));
    });
    srv.stop();
}

fn close_codes<T: TestRuntime + WsServer>() {
    let srv = <T as WsServer>::start();
    let rt = T::rt();
    T::block_on(async {
        // Client-initiated, with a code the server echoes.
        let mut s = connect(&rt, &srv.url("/ws"), Config::default()).await;
        let frame = s.close(4000, "client bye").await.unwrap();
        assert_eq!(frame.map(|f| f.code), Some(4000), "{}", T::NAME);
        assert!(!s.is_open());
        assert!(matches!(s.send("late").await, Err(ws::Error::Closed)));
        // Server-initiated.
        let mut s = connect(&rt, &srv.url("/close"), Config::default()).await;
        assert_eq!(recv_within(&rt, &mut s).await, None, "{}", T::NAME);
        let frame = s.close_frame().unwrap();
        assert_eq!(
            (frame.code, frame.reason.as_str()),
            (4001, "server bye"),
            "{}",
            T::NAME
        );
        // Invalid codes are refused before anything is sent.
        let mut s = connect(&rt, &srv.url("/ws"), Config::default()).await;
        assert!(matches!(
            s.close(1005, "").await,
            Err(ws::Error::Protocol(_))
        ));
        s.send("still open").await.unwrap();
        assert_eq!(
            recv_within(&rt, &mut s).await,
            Some(Message::from("still open"))
        );
    });
    srv.stop();
}

/// A client that stops reading makes the server stop reading too: sends
/// block once the buffers along the way (bounded) are full.
fn backpressure<T: TestRuntime + WsServer>() {
    let srv = <T as WsServer>::start();
    let rt = T::rt();
    T::block_on(async {
        let s = connect(&rt, &srv.url("/ws"), Config::default()).await;
        let (mut tx, rx) = s.split();
        let chunk = Message::Binary(payload(MIB));
        let mut sent = 0;
        let blocked = loop {
            let deadline = rt.now() + Duration::from_secs(2);
            match wirestate_rt::timeout(&rt, deadline, tx.send(chunk.clone())).await {
                Some(r) => {
                    r.unwrap();
                    sent += 1;
                }
                None => break true,
            }
            if sent >= 256 {
                break false;
            }
        };
        assert!(
            blocked,
            "{}: 256 MiB sent to a peer that does not read",
            T::NAME
        );
        // What may pile up: the client's send queue (5 messages), its
        // machine's output (high water + 1 message), both sockets' kernel
        // buffers (a few MiB each way on loopback), the server's receive
        // queue (1 MiB budget + 1 message), its send queue and output, and
        // the client's receive queue (1 MiB budget + 1 message).
        eprintln!("{}: {sent} MiB accepted before sends blocked", T::NAME);
        assert!(
            sent < 64,
            "{}: {sent} MiB accepted before blocking",
            T::NAME
        );
        drop(rx);
    });
    srv.stop();
}

// ---------------------------------------------------------------------------
// Server behaviour seen from raw sockets and tungstenite (every runtime)
// ---------------------------------------------------------------------------

fn rejects_plain_requests<T: WsServer>() {
    let srv = <T as WsServer>::start();
    let mut r = Reader::new(support::connect(srv.addr));
    send(&mut r.stream, "GET /ws HTTP/1.1\r\nHost: t\r\n\r\n");
    let res = r.response("GET").unwrap();
    assert_eq!(res.status, 400, "{}", T::NAME);
    // The connection stays usable for HTTP.
    send(&mut r.stream, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.response("GET").unwrap().status, 200, "{}", T::NAME);
    send(
        &mut r.stream,
        "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
    );
    let res = r.response("GET").unwrap();
    assert_eq!(res.status, 426, "{}", T::NAME);
    assert_eq!(res.header("sec-websocket-version"), Some("13"));
    srv.stop();
}

type Peer = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

fn tungstenite_connect(url: &str) -> Peer {
    let (socket, response) = tungstenite::connect(url).unwrap();
    assert_eq!(response.status(), 101);
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = socket.get_ref() {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    socket
}

fn ping_answered_without_recv<T: WsServer>() {
    let srv = <T as WsServer>::start();
    let mut peer = tungstenite_connect(&srv.url("/silent"));
    for i in 0..3 {
        let payload = format!("ping {i}");
        peer.send(tungstenite::Message::Ping(
            payload.clone().into_bytes().into(),
        ))
        .unwrap();
        match peer.read().unwrap() {
            tungstenite::Message::Pong(p) => assert_eq!(&p[..], payload.as_bytes(), "{}", T::NAME),
            other => panic!("{}: expected a pong, got {other:?}", T::NAME),
        }
    }
    drop(peer);
    srv.stop();
}

fn tungstenite_client_against_server<T: WsServer>() {
    let srv = <T as WsServer>::start();
    let mut peer = tungstenite_connect(&srv.url("/ws"));
    let big = payload(MIB).to_vec();
    let messages = vec![
        tungstenite::Message::text("héllo"),
        tungstenite::Message::binary(vec![0u8, 1, 2, 255]),
        tungstenite::Message::binary(big),
        tungstenite::Message::text(big_text(MIB)),
    ];
    for m in messages {
        peer.send(m.clone()).unwrap();
        assert_eq!(peer.read().unwrap(), m, "{}", T::NAME);
    }
    // A fragmented message with a ping in between.
    peer.write(tungstenite::Message::Frame(
        tungstenite::protocol::frame::Frame::message(
            b"frag".to_vec(),
            tungstenite::protocol::frame::coding::OpCode::Data(
                tungstenite::protocol::frame::coding::Data::Text,
            ),
            false,
        ),
    ))
    .unwrap();
    peer.write(tungstenite::Message::Ping(b"mid".to_vec().into()))
        .unwrap();
    peer.send(tungstenite::Message::Frame(
        tungstenite::protocol::frame::Frame::message(
            b"ment".to_vec(),
            tungstenite::protocol::frame::coding::OpCode::Data(
                tungstenite::protocol::frame::coding::Data::Continue,
            ),
            true,
        ),
    ))
    .unwrap();
    assert_eq!(
        peer.read().unwrap(),
        tungstenite::Message::Pong(b"mid".to_vec().into())
    );
    assert_eq!(peer.read().unwrap(), tungstenite::Message::text("fragment"));
    peer.close(Some(tungstenite::protocol::CloseFrame {
        code: 4002.into(),
        reason: "tung bye".into(),
    }))
    .unwrap();
    loop {
        match peer.read() {
            Ok(tungstenite::Message::Close(Some(f))) => {
                assert_eq!(u16::from(f.code), 4002, "{}", T::NAME);
            }
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("{}: {e}", T::NAME),
        }
    }
    srv.stop();
}

/// A frame over the server's 16 MiB frame limit, still streaming in when
/// the server fails the connection with 1009: the close frame must reach
/// the client. A server that drops the socket with the rest of the frame
/// unread makes the kernel answer with a reset, which discards the close
/// frame still unread on the client's side (found with Python websockets
/// against the blocking server: "no close frame received or sent").
fn oversized_frame_closes_with_1009<T: WsServer>() {
    for deflate in [false, true] {
        oversized_frame_closes_with_1009_once::<T>(deflate);
    }
}

fn oversized_frame_closes_with_1009_once<T: WsServer>(deflate: bool) {
    use std::io::{Read, Write};
    let srv = <T as WsServer>::start();
    let mut s = support::connect(srv.addr);
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{}\r\n",
        if deflate {
            "Sec-WebSocket-Extensions: permessage-deflate\r\n"
        } else {
            ""
        }
    );
    support::send(&mut s, request);
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", T::NAME);
    // One binary frame of 17 MiB (masked, all-zero key): the header says
    // too much at once, and the payload keeps coming.
    let len: u64 = 17 << 20;
    let mut writer = s.try_clone().unwrap();
    let upload = std::thread::spawn(move || {
        let mut frame = vec![if deflate { 0xc2 } else { 0x82 }, 0x80 | 127];
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(&[0; 4]);
        writer.write_all(&frame)?;
        let chunk = vec![0u8; 64 * 1024];
        for _ in 0..len / chunk.len() as u64 {
            writer.write_all(&chunk)?;
        }
        std::io::Result::Ok(())
    });
    // Let the upload run into the server's refusal before reading.
    std::thread::sleep(Duration::from_millis(300));
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let code = loop {
        if got.len() >= 4 && got[0] == 0x88 {
            break Some(u16::from_be_bytes([got[2], got[3]]));
        }
        match s.read(&mut buf) {
            Ok(0) => break None,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("{}: {e} before the close frame (read {got:?})", T::NAME),
        }
    };
    assert_eq!(code, Some(1009), "{} deflate {deflate}", T::NAME);
    // The server read the rest of the frame instead of resetting the
    // connection under the upload.
    let uploaded = upload.join().unwrap();
    assert!(
        uploaded.is_ok(),
        "{} deflate {deflate}: upload failed: {uploaded:?}",
        T::NAME
    );
    drop(s);
    srv.stop();
}

/// The blocking client failing a connection (a 17 MiB frame from the
/// server, over the 16 MiB limit) sends 1009 and, once dropped, lingers
/// until the server closes instead of resetting the connection under its
/// upload (found with Python websockets as the server: 'no close frame
/// received or sent', ConnectionResetError).
#[test]
fn blocking_client_failing_lingers_for_the_close() {
    use std::io::{Read, Write};
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (stream, _) = l.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let ws = tungstenite::accept(stream).unwrap();
        let mut stream = ws.into_inner();
        let len: u64 = 17 << 20;
        let mut frame = vec![0x82, 127];
        frame.extend_from_slice(&len.to_be_bytes());
        stream.write_all(&frame)?;
        let chunk = vec![0u8; 64 * 1024];
        for _ in 0..len / chunk.len() as u64 {
            stream.write_all(&chunk)?;
        }
        // Our close frame follows the client's 1009 (masked: 2 + 4 + 2).
        let mut close = [0u8; 8];
        stream.read_exact(&mut close)?;
        assert_eq!(close[0], 0x88);
        let code = [close[6] ^ close[2], close[7] ^ close[3]];
        std::io::Result::Ok(u16::from_be_bytes(code))
    });
    let socket = wirestate_blocking::ws::connect(&format!("ws://{addr}/")).unwrap();
    let err = socket.recv().expect("an error").unwrap_err();
    assert!(err.to_string().contains("exceeds"), "{err}");
    let started = Instant::now();
    drop(socket);
    let code = server.join().unwrap();
    assert_eq!(code.unwrap(), 1009, "the server's upload was reset");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A tungstenite echo server on a thread; returns its `ws://` URL.
fn tungstenite_server() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(stream) = stream else { break };
            std::thread::spawn(move || {
                let mut ws = tungstenite::accept(stream).unwrap();
                loop {
                    match ws.read() {
                        Ok(
                            m @ (tungstenite::Message::Text(_) | tungstenite::Message::Binary(_)),
                        ) => {
                            if ws.send(m).is_err() {
                                break;
                            }
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
            });
        }
    });
    format!("ws://{addr}/")
}

fn client_against_tungstenite<T: TestRuntime>() {
    let url = tungstenite_server();
    let rt = T::rt();
    T::block_on(async {
        let mut s = connect(&rt, &url, Config::default()).await;
        for m in [
            Message::from("hello tungstenite"),
            Message::Binary(payload(MIB)),
            Message::from(big_text(MIB)),
        ] {
            s.send(m.clone()).await.unwrap();
            assert_eq!(recv_within(&rt, &mut s).await, Some(m), "{}", T::NAME);
        }
        s.ping("are you there").await.unwrap();
        s.send("after ping").await.unwrap();
        assert_eq!(
            recv_within(&rt, &mut s).await,
            Some(Message::from("after ping"))
        );
        let frame = s.close(4003, "bye").await.unwrap();
        assert_eq!(frame.map(|f| f.code), Some(4003), "{}", T::NAME);
    });
}

// ---------------------------------------------------------------------------
// The blocking client
// ---------------------------------------------------------------------------

mod blocking_client {
    use super::*;
    use wirestate_blocking::ws as bws;

    pub fn echo(url: &str, name: &str) {
        for deflate in [false, true] {
            let s = bws::connect_with(url, bws::Config::default().deflate(deflate)).unwrap();
            for m in [
                Message::from("hello"),
                Message::Binary(payload(MIB)),
                Message::from(big_text(MIB)),
                Message::from(""),
            ] {
                s.send(m.clone()).unwrap();
                assert_eq!(s.recv().unwrap().unwrap(), m, "{name} deflate={deflate}");
            }
            s.close(4000, "bye").unwrap();
            assert!(s.recv().is_none(), "{name}");
            assert_eq!(s.close_frame().map(|f| f.code), Some(4000), "{name}");
        }
    }

    pub fn split(url: &str) {
        let s = bws::connect(url).unwrap();
        const N: usize = 500;
        std::thread::scope(|scope| {
            let sender = s.clone();
            scope.spawn(move || {
                for i in 0..N {
                    sender.send(format!("msg {i}")).unwrap();
                }
            });
            for i in 0..N {
                assert_eq!(
                    s.recv().unwrap().unwrap(),
                    Message::from(format!("msg {i}"))
                );
            }
        });
        s.close(1000, "").unwrap();
        assert!(s.recv().is_none());
    }

    pub fn server_close(url: &str) {
        let s = bws::connect(url).unwrap();
        assert!(s.recv().is_none());
        let f = s.close_frame().unwrap();
        assert_eq!((f.code, f.reason.as_str()), (4001, "server bye"));
        assert!(matches!(s.send("late"), Err(bws::Error::Closed)));
    }

    pub fn backpressure(url: &str) {
        let s = bws::connect(url).unwrap();
        let sent = Arc::new(AtomicUsize::new(0));
        let counter = sent.clone();
        let sender = s.clone();
        // Left blocked in a write if the server really stops reading; it
        // ends when the server closes the connection at shutdown.
        std::thread::spawn(move || {
            let chunk = Message::Binary(payload(MIB));
            while counter.load(Ordering::SeqCst) < 256 && sender.send(chunk.clone()).is_ok() {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
        let mut last = usize::MAX;
        let mut since = Instant::now();
        while since.elapsed() < Duration::from_secs(2) {
            let now = sent.load(Ordering::SeqCst);
            if now != last {
                last = now;
                since = Instant::now();
            }
            assert!(now < 256, "256 MiB sent to a peer that does not read");
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("blocking: {last} MiB accepted before sends blocked");
        assert!(last < 64, "{last} MiB accepted before blocking");
        drop(s);
    }
}

fn blocking_client_suite<T: WsServer>() {
    let srv = <T as WsServer>::start();
    blocking_client::echo(&srv.url("/ws"), T::NAME);
    blocking_client::split(&srv.url("/ws"));
    blocking_client::server_close(&srv.url("/close"));
    srv.stop();
}

// ---------------------------------------------------------------------------
// The matrix
// ---------------------------------------------------------------------------

macro_rules! async_runtime {
    ($m:ident, $T:ty) => {
        mod $m {
            use super::*;
            #[test]
            fn echo_text_binary_large() {
                echo::<$T>();
            }
            #[test]
            fn split_halves_concurrently() {
                split_concurrent::<$T>();
            }
            #[test]
            fn close_codes_both_directions() {
                close_codes::<$T>();
            }
            #[test]
            fn backpressure_bounds_buffering() {
                backpressure::<$T>();
            }
            #[test]
            fn client_against_tungstenite_server() {
                client_against_tungstenite::<$T>();
            }
        }
    };
}

async_runtime!(tokio_rt, Tokio);
async_runtime!(smol_rt, Smol);

macro_rules! server {
    ($m:ident, $T:ty) => {
        mod $m {
            use super::*;
            #[test]
            fn rejects_non_upgrade_requests() {
                rejects_plain_requests::<$T>();
            }
            #[test]
            fn tungstenite_client_against_our_server() {
                tungstenite_client_against_server::<$T>();
            }
            #[test]
            fn blocking_client_against_this_server() {
                blocking_client_suite::<$T>();
            }
            #[test]
            fn oversized_frame_closes_with_1009() {
                super::oversized_frame_closes_with_1009::<$T>();
            }
        }
    };
}

server!(tokio_server, Tokio);
server!(smol_server, Smol);
server!(blocking_server, Blocking);

// The async servers answer pings in the connection task, whether or not the
// application reads. (The blocking server answers them in whichever thread
// reads: an application that never calls `recv` gets no pongs sent; see
// `wirestate_blocking::ws`.)
#[test]
fn tokio_server_answers_pings_while_app_does_not_read() {
    ping_answered_without_recv::<Tokio>();
}

#[test]
fn smol_server_answers_pings_while_app_does_not_read() {
    ping_answered_without_recv::<Smol>();
}

mod blocking_rt {
    use super::*;

    #[test]
    fn backpressure_bounds_buffering() {
        let srv = <Blocking as WsServer>::start();
        blocking_client::backpressure(&srv.url("/ws"));
        srv.stop();
    }

    #[test]
    fn client_against_tungstenite_server() {
        let url = tungstenite_server();
        blocking_client::echo(&url, "tungstenite");
    }

    #[test]
    fn async_clients_against_blocking_server() {
        let srv = <Blocking as WsServer>::start();
        let url = srv.url("/ws");
        Tokio::block_on(async {
            let rt = Tokio::rt();
            let mut s = connect(&rt, &url, Config::default().deflate(true)).await;
            s.send(Message::Binary(payload(MIB))).await.unwrap();
            assert_eq!(
                recv_within(&rt, &mut s).await,
                Some(Message::Binary(payload(MIB)))
            );
            s.close(1000, "").await.unwrap();
        });
        Smol::block_on(async {
            let rt = Smol::rt();
            let mut s = connect(&rt, &url, Config::default()).await;
            s.send("smol").await.unwrap();
            assert_eq!(recv_within(&rt, &mut s).await, Some(Message::from("smol")));
            s.close(1000, "").await.unwrap();
        });
        srv.stop();
    }
}
