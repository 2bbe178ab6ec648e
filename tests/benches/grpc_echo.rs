//! gRPC echo side by side with tonic, in one process over 127.0.0.1 h2c:
//! wirestate's server and client (`wirestate_rt::grpc`) against tonic's,
//! and each client against the other server. The server runs on a tokio
//! runtime of one worker thread, the client on another.
//!
//! Rows: unary `Echo` with 1 and 64 calls in flight on one connection
//! (calls/s, and µs per call for 1), server-streaming `EchoStream`
//! (messages/s of 100-byte payloads), and bidi ping-pong on `EchoBidi`
//! (round trips/s).
//!
//! ```text
//! cargo bench -p wirestate-tests --bench grpc_echo [-- SECONDS]   (default 3 per row)
//! ```

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

fn request(repeat: u32) -> EchoRequest {
    EchoRequest {
        message: "bench".into(),
        payload: vec![1; 100],
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
    fn unary(&self) -> impl std::future::Future<Output = ()> + Send;
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
    async fn unary(&self) {
        let r = self
            .0
            .unary::<_, EchoResponse>(
                EchoMethod::Echo.path(),
                &request(0),
                &CallOptions::default(),
            )
            .await
            .expect("echo");
        assert_eq!(r.message.payload.len(), 100);
    }

    async fn stream(&self, n: u32) -> u32 {
        let (_, mut s) = self
            .0
            .server_streaming::<_, EchoResponse>(
                EchoMethod::EchoStream.path(),
                &request(n),
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
            call.send(&request(0)).await.expect("send");
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
    async fn unary(&self) {
        let mut c = self.0.clone();
        c.ready().await.expect("ready");
        let r = c
            .unary(
                tonic::Request::new(request(0)),
                PathAndQuery::from_static("/wirestate.echo.v1.Echo/Echo"),
                codec(),
            )
            .await
            .expect("echo");
        assert_eq!(r.into_inner().payload.len(), 100);
    }

    async fn stream(&self, n: u32) -> u32 {
        let mut c = self.0.clone();
        c.ready().await.expect("ready");
        let mut s = c
            .server_streaming(
                tonic::Request::new(request(n)),
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
        tx.unbounded_send(request(0)).expect("send");
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
                tx.unbounded_send(request(0)).expect("send");
            }
        }
    }
}

/// Runs the rows with `client` for `dur` each; prints one table row each.
async fn rows<C: Client>(label: &str, client: C, dur: Duration) {
    // Unary, 1 in flight.
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < dur {
        client.unary().await;
        n += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "| {label} | unary, 1 in flight | {:.0} calls/s | {:.1} µs/call |",
        n as f64 / secs,
        secs * 1e6 / n as f64
    );

    // Unary, 64 in flight.
    let start = Instant::now();
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move {
                let mut n = 0u64;
                while start.elapsed() < dur {
                    c.unary().await;
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut n = 0;
    for t in tasks {
        n += t.await.expect("task");
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "| {label} | unary, 64 in flight | {:.0} calls/s | |",
        n as f64 / secs
    );

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
    let secs = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<f64>().ok())
        .unwrap_or(3.0);
    let dur = Duration::from_secs_f64(secs);
    let ours_server = runtime();
    let ours_addr = ours_server.block_on(start_ours());
    let tonic_server = runtime();
    let tonic_addr = tonic_server.block_on(tonic_echo::start_tonic());
    let client_rt = runtime();
    println!("| client → server | workload | rate | latency |\n|---|---|---:|---:|");
    client_rt.block_on(async {
        rows("wirestate → wirestate", Ours::connect(ours_addr).await, dur).await;
        rows("tonic → tonic", Tonic::connect(tonic_addr).await, dur).await;
        rows("wirestate → tonic", Ours::connect(tonic_addr).await, dur).await;
        rows("tonic → wirestate", Tonic::connect(ours_addr).await, dur).await;
    });
}
