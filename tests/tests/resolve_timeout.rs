//! Name resolution counts against the async clients' connect deadlines:
//! a resolver that never answers fails the HTTP/1.1 pool's connect with
//! `TimedOut` after `connect_timeout` and `ws::connect` with
//! `Error::Timeout` after `handshake_timeout`, on tokio and smol alike.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};
use wirestate_rt::http1::{Client, ClientConfig};
use wirestate_rt::{Body, BoxFuture, Runtime, Sleep, ws};

/// A runtime whose resolver hangs forever (a DNS server that never
/// replies); everything else is `R`'s.
#[derive(Clone)]
struct HangingDns<R>(R);

impl<R: Runtime> Runtime for HangingDns<R> {
    type Io = R::Io;
    fn now(&self) -> Instant {
        self.0.now()
    }
    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        self.0.sleep_until(deadline)
    }
    fn spawn(&self, future: BoxFuture<()>) {
        self.0.spawn(future)
    }
    fn connect(&self, addr: SocketAddr) -> BoxFuture<io::Result<Self::Io>> {
        self.0.connect(addr)
    }
    fn resolve(&self, _host: &str, _port: u16) -> BoxFuture<io::Result<Vec<SocketAddr>>> {
        Box::pin(std::future::pending())
    }
}

const LIMIT: Duration = Duration::from_millis(200);

async fn http_connect_times_out<R: Runtime>(rt: R) {
    let mut config = ClientConfig::default();
    config.connect_timeout = LIMIT;
    config.retry.retries = 0;
    let client = Client::new(HangingDns(rt), config);
    let req = http::Request::get("http://hangs.example/")
        .body(Body::empty())
        .unwrap();
    let start = Instant::now();
    let err = client.request(req).await.unwrap_err();
    let elapsed = start.elapsed();
    match err {
        wirestate_rt::Error::Connect(e) => assert_eq!(e.kind(), io::ErrorKind::TimedOut),
        other => panic!("expected a connect timeout, got {other:?}"),
    }
    assert!(
        elapsed >= LIMIT && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
}

async fn ws_connect_times_out<R: Runtime>(rt: R) {
    let mut config = ws::Config::default();
    config.handshake_timeout = LIMIT;
    let start = Instant::now();
    let err = match ws::connect(HangingDns(rt), "ws://hangs.example/ws", config).await {
        Ok(_) => panic!("connected through a resolver that never answers"),
        Err(e) => e,
    };
    let elapsed = start.elapsed();
    assert!(matches!(err, ws::Error::Timeout), "{err:?}");
    assert!(
        elapsed >= LIMIT && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn tokio_resolution_is_bounded_by_the_connect_timeout() {
    http_connect_times_out(wirestate_tokio::TokioRuntime).await;
    ws_connect_times_out(wirestate_tokio::TokioRuntime).await;
}

#[test]
fn smol_resolution_is_bounded_by_the_connect_timeout() {
    smol::block_on(async {
        http_connect_times_out(wirestate_smol::SmolRuntime::new()).await;
        ws_connect_times_out(wirestate_smol::SmolRuntime::new()).await;
    });
}
