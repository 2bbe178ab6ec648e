//! Shared pieces of the runtime matrix: test servers on each runtime and a
//! small raw HTTP/1.1 reader for std sockets.
#![allow(dead_code)]

use bytes::Bytes;
use http::{Request, Response};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wirestate_rt::http1::{Client, ClientConfig, ServerConfig};
use wirestate_rt::{Body, Runtime, Shutdown};

/// A server running on its own thread.
pub struct Running {
    pub addr: SocketAddr,
    trigger: Box<dyn Fn() + Send + Sync>,
    done: mpsc::Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    /// Triggers graceful shutdown and waits (bounded) for the server to end.
    pub fn stop(mut self) -> bool {
        (self.trigger)();
        let ok = self.done.recv_timeout(Duration::from_secs(10)).is_ok();
        if let Some(t) = self.thread.take() {
            if ok {
                let _ = t.join();
            }
        }
        ok
    }

    /// Starts a graceful shutdown.
    pub fn trigger(&self) {
        (self.trigger)();
    }

    /// Whether the server ended within `d`.
    pub fn wait_done(&self, d: Duration) -> bool {
        self.done.recv_timeout(d).is_ok()
    }
}

/// The demo routes plus `/slow` (300 ms before answering).
pub async fn handle<R: Runtime>(rt: R, req: Request<Body>) -> Response<Body> {
    if req.uri().path() == "/slow" {
        wirestate_rt::sleep_until(&rt, rt.now() + Duration::from_millis(300)).await;
        return Response::new(Body::from("slow"));
    }
    wirestate_examples::routes::handle(req).await
}

/// A runtime whose server the matrix runs against.
pub trait TestServer {
    const NAME: &'static str;
    fn start(config: ServerConfig) -> Running;
}

/// An async runtime, whose client the matrix runs too.
pub trait TestRuntime: TestServer {
    type R: Runtime;
    fn rt() -> Self::R;
    fn block_on<F: std::future::Future>(f: F) -> F::Output;
    fn client(config: ClientConfig) -> Client<Self::R> {
        Client::new(Self::rt(), config)
    }
    fn start_server(config: ServerConfig) -> Running;
}

fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

pub struct Tokio;

impl TestServer for Tokio {
    const NAME: &'static str = "tokio";
    fn start(config: ServerConfig) -> Running {
        <Tokio as TestRuntime>::start_server(config)
    }
}

impl TestRuntime for Tokio {
    type R = wirestate_tokio::TokioRuntime;
    fn rt() -> Self::R {
        wirestate_tokio::TokioRuntime
    }
    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }
    fn start_server(config: ServerConfig) -> Running {
        let (l, addr) = listener();
        let shutdown = Shutdown::new();
        let (tx, done) = mpsc::channel();
        let sd = shutdown.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let l =
                    wirestate_tokio::TokioListener(tokio::net::TcpListener::from_std(l).unwrap());
                let h = |req| handle(wirestate_tokio::TokioRuntime, req);
                wirestate_tokio::serve(l, h, config, sd).await.unwrap();
            });
            let _ = tx.send(());
        });
        Running {
            addr,
            trigger: Box::new(move || shutdown.trigger()),
            done,
            thread: Some(thread),
        }
    }
}

pub struct Smol;

impl TestServer for Smol {
    const NAME: &'static str = "smol";
    fn start(config: ServerConfig) -> Running {
        <Smol as TestRuntime>::start_server(config)
    }
}

impl TestRuntime for Smol {
    type R = wirestate_smol::SmolRuntime;
    fn rt() -> Self::R {
        wirestate_smol::SmolRuntime::new()
    }
    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        smol::block_on(f)
    }
    fn start_server(config: ServerConfig) -> Running {
        let (l, addr) = listener();
        let shutdown = Shutdown::new();
        let (tx, done) = mpsc::channel();
        let sd = shutdown.clone();
        let thread = std::thread::spawn(move || {
            smol::block_on(async move {
                let l = wirestate_smol::SmolListener(smol::Async::new(l).unwrap());
                let h = |req| handle(wirestate_smol::SmolRuntime::new(), req);
                wirestate_smol::serve(l, h, config, sd).await.unwrap();
            });
            let _ = tx.send(());
        });
        Running {
            addr,
            trigger: Box::new(move || shutdown.trigger()),
            done,
            thread: Some(thread),
        }
    }
}

/// A std client socket with a read timeout.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// A parsed response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads responses off a std socket, keeping leftover bytes between calls.
pub struct Reader {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Reader {
    pub fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 16384];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads one response (to a request whose method was `method`).
    pub fn response(&mut self, method: &str) -> std::io::Result<Resp> {
        loop {
            let mut slots = [httparse::EMPTY_HEADER; 64];
            let mut res = httparse::Response::new(&mut slots);
            if let httparse::Status::Complete(n) =
                res.parse(&self.buf).map_err(std::io::Error::other)?
            {
                let status = res.code.unwrap();
                let headers: Vec<(String, String)> = res
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_string(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                self.buf.drain(..n);
                let mut r = Resp {
                    status,
                    headers,
                    body: Vec::new(),
                };
                if method == "HEAD" || status < 200 || status == 204 || status == 304 {
                    return Ok(r);
                }
                if let Some(cl) = r.header("content-length") {
                    let cl: usize = cl.parse().unwrap();
                    while self.buf.len() < cl {
                        if self.fill()? == 0 {
                            return Err(std::io::ErrorKind::UnexpectedEof.into());
                        }
                    }
                    r.body = self.buf.drain(..cl).collect();
                } else if r.header("transfer-encoding").is_some() {
                    loop {
                        match httparse::parse_chunk_size(&self.buf)
                            .map_err(|_| std::io::Error::other("bad chunk"))?
                        {
                            httparse::Status::Complete((used, size)) => {
                                let size = size as usize;
                                while self.buf.len() < used + size + 2 {
                                    if self.fill()? == 0 {
                                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                                    }
                                }
                                if size == 0 {
                                    // No trailers expected from these servers.
                                    self.buf.drain(..used + 2);
                                    break;
                                }
                                r.body.extend_from_slice(&self.buf[used..used + size]);
                                self.buf.drain(..used + size + 2);
                            }
                            httparse::Status::Partial => {
                                if self.fill()? == 0 {
                                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                                }
                            }
                        }
                    }
                } else {
                    // Close-delimited.
                    while self.fill()? > 0 {}
                    r.body = std::mem::take(&mut self.buf);
                }
                return Ok(r);
            }
            if self.fill()? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Whether the peer closed (EOF) within the socket's read timeout.
    pub fn sees_eof(&mut self) -> bool {
        matches!(self.fill(), Ok(0)) && self.buf.is_empty()
    }

    /// Leftover bytes not yet consumed.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }
}

/// Sends raw bytes.
pub fn send(s: &mut TcpStream, bytes: impl AsRef<[u8]>) {
    s.write_all(bytes.as_ref()).unwrap();
}

/// The process's peak resident memory, in KiB.
pub fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Waits for `f` to hold, up to `d`.
pub fn eventually(d: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

/// A deterministic payload.
pub fn payload(n: usize) -> Bytes {
    Bytes::from((0..n).map(|i| (i * 31 % 251) as u8).collect::<Vec<u8>>())
}

pub struct Blocking;

impl TestServer for Blocking {
    const NAME: &'static str = "blocking";
    fn start(config: ServerConfig) -> Running {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let mut cfg = wirestate_blocking::ServerConfig::default();
        cfg.http1 = config.http1;
        cfg.max_connections = config.max_connections;
        cfg.h2 = config.h2;
        let server = wirestate_blocking::Server::new(l, cfg);
        let handle = server.handle();
        let (tx, done) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let handler = |req: Request<wirestate_blocking::BlockingBody>| {
                if req.uri().path() == "/slow" {
                    std::thread::sleep(Duration::from_millis(300));
                    return Response::new(wirestate_blocking::ResponseBody::from("slow"));
                }
                wirestate_examples::routes::handle_blocking(req)
            };
            server.serve(handler).unwrap();
            let _ = tx.send(());
        });
        Running {
            addr,
            trigger: Box::new(move || handle.shutdown()),
            done,
            thread: Some(thread),
        }
    }
}

/// A tokio runtime (two workers) serving `handler` (a gRPC server, say)
/// on 127.0.0.1 until the runtime is dropped: the address, and the runtime
/// for the test's client to block on.
pub fn tokio_server(
    handler: impl wirestate_rt::http1::Handler,
) -> (SocketAddr, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = rt.block_on(async {
        let listener = wirestate_tokio::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = wirestate_rt::Listener::local_addr(&listener).unwrap();
        tokio::spawn(wirestate_tokio::serve(
            listener,
            handler,
            ServerConfig::default(),
            Shutdown::new(),
        ));
        addr
    });
    (addr, rt)
}

/// A listener on 127.0.0.1 with the smallest listen queue (see
/// [`fill_listen_queue`]).
pub fn small_listener() -> TcpListener {
    // std cannot set the queue's length; tokio's TcpSocket can.
    let listener = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap()
        .block_on(async {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
            socket.listen(1).unwrap().into_std().unwrap()
        });
    listener.set_nonblocking(false).unwrap();
    listener
}

/// Fills the listen queue of a [`small_listener`] at `addr` with
/// connections, returned, that its owner does not accept: connects to it
/// then hang (their SYN goes unanswered, tried again about a second
/// later) until it accepts them (or is dropped, which fails them).
pub fn fill_listen_queue(addr: SocketAddr) -> Vec<TcpStream> {
    // Connections, until one no longer connects at once.
    let mut held = Vec::new();
    while let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
        held.push(s);
        assert!(held.len() < 64, "the listen queue does not fill");
    }
    held
}

/// A [`small_listener`] whose queue is full, and what fills it.
pub fn full_listener() -> (TcpListener, Vec<TcpStream>) {
    let listener = small_listener();
    let held = fill_listen_queue(listener.local_addr().unwrap());
    (listener, held)
}
