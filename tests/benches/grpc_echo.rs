//! gRPC echo side by side with tonic, in one process over 127.0.0.1 h2c:
//! wirestate's server and client (`wirestate_rt::grpc`) against tonic's,
//! and each client against the other server. The server runs on a tokio
//! runtime of one worker thread, the client on another.
//!
//! Rows: unary `Echo` of 16 B and 1 KiB payloads with 1 and 64 calls in
//! flight on one connection (calls/s, p99 per call), server-streaming
//! `EchoStream` (messages/s of 100-byte payloads), and bidi ping-pong on
//! `EchoBidi` (round trips/s).
//!
//! ```text
//! cargo bench -p wirestate-tests --bench grpc_echo [-- SECONDS [PAIR...]]
//! ```
//!
//! SECONDS per row (default 3); PAIRs pick the client → server pairs to
//! run, by a word of their label (`ours-ours`, `tonic-tonic`,
//! `ours-tonic`, `tonic-ours`; default all four).

#[path = "../tests/tonic_echo/mod.rs"]
mod tonic_echo;

use http::uri::PathAndQuery;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use wirestate_proto::wirestate::echo::v1::{EchoMethod, EchoRequest, EchoResponse};
use wirestate_rt::Runtime;
use wirestate_rt::grpc::{CallOptions, Channel};
use wirestate_tokio::TokioRuntime;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio")
}

fn request(size: usize, repeat: u32) -> EchoRequest {
    EchoRequest {
        message: "bench".into(),
        payload: vec![1; size],
        repeat,
    }
}

async fn start_ours() -> SocketAddr {
    let listener = wirestate_tokio::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let addr = wirestate_rt::Listener::local_addr(&listener).expect("addr");
    let grpc = wirestate_examples::grpc::server(TokioRuntime, Default::default());
    let handler = wirestate_examples::routes::with_grpc(grpc, wirestate_examples::routes::handle);
    tokio::spawn(wirestate_tokio::serve(
        listener,
        handler,
        Default::default(),
        wirestate_rt::Shutdown::new(),
    ));
    addr
}

/// The four workloads against one client kind.
trait Client: Clone + Send + Sync + 'static {
    fn unary(&self, size: usize) -> impl std::future::Future<Output = ()> + Send;
    fn stream(&self, n: u32) -> impl std::future::Future<Output = u32> + Send;
    fn ping_pong(&self, rounds: u32) -> impl std::future::Future<Output = ()> + Send;
}

#[derive(Clone)]
struct Ours(Channel<TokioRuntime>);

impl Ours {
    async fn connect(addr: SocketAddr) -> Self {
        let rt = TokioRuntime;
        let io = rt.connect(addr).await.expect("connect");
        let (send, driver) = wirestate_rt::h2::handshake(rt, io, Default::default());
        tokio::spawn(driver);
        Ours(Channel::new(rt, send, &addr.to_string()).expect("channel"))
    }
}

impl Client for Ours {
    async fn unary(&self, size: usize) {
        let r = self
            .0
            .unary::<_, EchoResponse>(
                EchoMethod::Echo.path(),
                &request(size, 0),
                &CallOptions::default(),
            )
            .await
            .expect("echo");
        assert_eq!(r.message.payload.len(), size);
    }

    async fn stream(&self, n: u32) -> u32 {
        let (_, mut s) = self
            .0
            .server_streaming::<_, EchoResponse>(
                EchoMethod::EchoStream.path(),
                &request(100, n),
                &CallOptions::default(),
            )
            .await
            .expect("stream");
        let mut got = 0;
        while s.message().await.expect("message").is_some() {
            got += 1;
        }
        got
    }

    async fn ping_pong(&self, rounds: u32) {
        let mut call = self
            .0
            .streaming::<_, EchoResponse>(EchoMethod::EchoBidi.path(), &CallOptions::default());
        for _ in 0..rounds {
            call.send(&request(100, 0)).await.expect("send");
            call.message().await.expect("message").expect("one");
        }
        call.close_send();
    }
}

#[derive(Clone)]
struct Tonic(tonic::client::Grpc<tonic::transport::Channel>);

impl Tonic {
    async fn connect(addr: SocketAddr) -> Self {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect");
        Tonic(tonic::client::Grpc::new(channel))
    }
}

fn codec() -> tonic_prost::ProstCodec<EchoRequest, EchoResponse> {
    tonic_prost::ProstCodec::default()
}

impl Client for Tonic {
    async fn unary(&self, size: usize) {
        let mut c = self.0.clone();
        c.ready().await.expect("ready");
        let r = c
            .unary(
                tonic::Request::new(request(size, 0)),
                PathAndQuery::from_static("/wirestate.echo.v1.Echo/Echo"),
                codec(),
            )
            .await
            .expect("echo");
        assert_eq!(r.into_inner().payload.len(), size);
    }

    async fn stream(&self, n: u32) -> u32 {
        let mut c = self.0.clone();
        c.ready().await.expect("ready");
        let mut s = c
            .server_streaming(
                tonic::Request::new(request(100, n)),
                PathAndQuery::from_static("/wirestate.echo.v1.Echo/EchoStream"),
                codec(),
            )
            .await
            .expect("stream")
            .into_inner();
        let mut got = 0;
        while s.message().await.expect("message").is_some() {
            got += 1;
        }
        got
    }

    async fn ping_pong(&self, rounds: u32) {
        let mut c = self.0.clone();
        c.ready().await.expect("ready");
        let (tx, rx) = futures_channel::mpsc::unbounded();
        tx.unbounded_send(request(100, 0)).expect("send");
        let mut s = c
            .streaming(
                tonic::Request::new(rx),
                PathAndQuery::from_static("/wirestate.echo.v1.Echo/EchoBidi"),
                codec(),
            )
            .await
            .expect("bidi")
            .into_inner();
        for i in 0..rounds {
            s.message().await.expect("message").expect("one");
            if i + 1 < rounds {
                tx.unbounded_send(request(100, 0)).expect("send");
            }
        }
    }
}

/// The 99th percentile of `lat` (sorted in place), in µs.
fn p99(lat: &mut [Duration]) -> f64 {
    if lat.is_empty() {
        return 0.0;
    }
    lat.sort_unstable();
    let i = (lat.len() * 99 / 100).min(lat.len() - 1);
    lat[i].as_secs_f64() * 1e6
}

/// Unary calls of `size`-byte payloads, `inflight` at a time, for `dur`:
/// prints one table row (calls/s, p99 per call).
async fn unary_row<C: Client>(
    label: &str,
    client: &C,
    size: usize,
    inflight: usize,
    dur: Duration,
) {
    let start = Instant::now();
    let tasks: Vec<_> = (0..inflight)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                while start.elapsed() < dur {
                    let t = Instant::now();
                    c.unary(size).await;
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.expect("task"));
    }
    let secs = start.elapsed().as_secs_f64();
    let size = if size >= 1024 {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    };
    println!(
        "| {label} | unary {size}, {inflight} in flight | {:.0} calls/s | p99 {:.1} µs |",
        lat.len() as f64 / secs,
        p99(&mut lat)
    );
}

/// Runs the rows with `client` for `dur` each; prints one table row each.
async fn rows<C: Client>(label: &str, client: C, dur: Duration) {
    for size in [16, 1024] {
        for inflight in [1, 64] {
            unary_row(label, &client, size, inflight, dur).await;
        }
    }

    // Server streaming.
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < dur {
        n += u64::from(client.stream(10_000).await);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "| {label} | server streaming, 100 B messages | {:.0} messages/s | |",
        n as f64 / secs
    );

    // Bidi ping-pong.
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < dur {
        client.ping_pong(1_000).await;
        n += 1_000;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "| {label} | bidi ping-pong | {:.0} round trips/s | {:.1} µs/round trip |",
        n as f64 / secs,
        secs * 1e6 / n as f64
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let secs = args
        .iter()
        .find_map(|a| a.parse::<f64>().ok())
        .unwrap_or(3.0);
    let pairs: Vec<&str> = args
        .iter()
        .filter(|a| a.parse::<f64>().is_err())
        .map(String::as_str)
        .collect();
    let run = |pair: &str| pairs.is_empty() || pairs.contains(&pair);
    let dur = Duration::from_secs_f64(secs);
    let ours_server = runtime();
    let ours_addr = ours_server.block_on(start_ours());
    let tonic_server = runtime();
    let tonic_addr = tonic_server.block_on(tonic_echo::start_tonic_plain());
    let client_rt = runtime();
    println!("| client → server | workload | rate | latency |\n|---|---|---:|---:|");
    client_rt.block_on(async {
        if run("ours-ours") {
            rows("wirestate → wirestate", Ours::connect(ours_addr).await, dur).await;
        }
        if run("tonic-tonic") {
            rows("tonic → tonic", Tonic::connect(tonic_addr).await, dur).await;
        }
        if run("ours-tonic") {
            rows("wirestate → tonic", Ours::connect(tonic_addr).await, dur).await;
        }
        if run("tonic-ours") {
            rows("tonic → wirestate", Tonic::connect(ours_addr).await, dur).await;
        }
    });
}
