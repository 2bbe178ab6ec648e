//! wirestate-grpc-health on the runtimes, over h2c on 127.0.0.1 (tokio,
//! smol, blocking): the generated `HealthClient` (wirestate-codegen's, from
//! wirestate-examples) doing `Check` (SERVING, NOT_FOUND) and `Watch`
//! (SERVING → NOT_SERVING → SERVING after `set_*` calls, no message for a
//! status set twice or for another service's change, SERVICE_UNKNOWN →
//! SERVING for a service added later), and the server's graceful shutdown
//! turning every watched service NOT_SERVING and ending the watches with
//! UNAVAILABLE without hanging; and `wirestate serve`'s health service
//! doing the same on shutdown. (Python's `grpcio-health-checking` calls
//! `wirestate serve` in scripts/interop-grpc.sh.)

// `Status` is every gRPC call's error type.
#![allow(clippy::result_large_err)]

use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use wirestate_grpc_health::HealthReporter;
use wirestate_proto::grpc::health::v1::HealthCheckRequest;
use wirestate_rt::grpc::{Channel, Code, Request};
use wirestate_rt::http1::ServerConfig;
use wirestate_rt::{Runtime, Shutdown};

const BOUND: Duration = Duration::from_secs(20);

const SERVING: i32 = 1;
const NOT_SERVING: i32 = 2;
const SERVICE_UNKNOWN: i32 = 3;

const CART: &str = "shop.v1.Cart";
const ORDERS: &str = "shop.v1.Orders";

/// The reporter a user's server starts with: the server and the cart
/// SERVING, the orders service not known yet.
fn reporter() -> HealthReporter {
    let reporter = HealthReporter::new();
    reporter.set_serving(CART);
    reporter
}

fn ask(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.into(),
    }
}

/// A user's async server: the health service alone, answering from
/// `reporter`, ending its watches on `shutdown`.
fn async_server<R: Runtime>(
    rt: R,
    reporter: HealthReporter,
    shutdown: Shutdown,
) -> wirestate_rt::grpc::Server<R> {
    wirestate_grpc_health::rt::add_health(wirestate_rt::grpc::Server::new(rt), reporter, shutdown)
}

async fn channel<R: Runtime>(rt: R, addr: SocketAddr) -> Channel<R> {
    let io = rt.connect(addr).await.unwrap();
    let (send, driver) = wirestate_rt::h2::handshake(rt.clone(), io, Default::default());
    rt.spawn(Box::pin(async move {
        let _ = driver.await;
    }));
    Channel::new(rt, send, &addr.to_string()).unwrap()
}

/// The whole scenario with the async client; triggers `shutdown` at the
/// end and checks the watches end.
async fn async_scenario<R: Runtime>(
    rt: R,
    addr: SocketAddr,
    reporter: HealthReporter,
    shutdown: Shutdown,
) {
    let health =
        wirestate_examples::grpc::HealthClient::new(channel(rt, addr).await).with_timeout(BOUND);
    let check = |service: &'static str| {
        let health = health.clone();
        async move {
            health
                .check(Request::new(ask(service)))
                .await
                .map(|r| r.message.status)
        }
    };
    assert_eq!(check("").await.unwrap(), SERVING);
    assert_eq!(check(CART).await.unwrap(), SERVING);
    assert_eq!(check(ORDERS).await.unwrap_err().code, Code::NotFound);

    let (_, mut cart) = health.watch(Request::new(ask(CART))).await.unwrap();
    let mut next = async || cart.message().await.unwrap().map(|m| m.status);
    assert_eq!(next().await, Some(SERVING));
    reporter.set_not_serving(CART);
    assert_eq!(next().await, Some(NOT_SERVING));
    // Set twice, and another service changes: neither is a message, so
    // the next one is the cart's return.
    reporter.set_not_serving(CART);
    reporter.set_not_serving("shop.v1.Other");
    reporter.set_serving(CART);
    assert_eq!(next().await, Some(SERVING));
    assert_eq!(check(CART).await.unwrap(), SERVING);

    let (_, mut orders) = health.watch(Request::new(ask(ORDERS))).await.unwrap();
    let mut next_orders = async || orders.message().await.unwrap().map(|m| m.status);
    assert_eq!(next_orders().await, Some(SERVICE_UNKNOWN));
    reporter.set_serving(ORDERS);
    assert_eq!(next_orders().await, Some(SERVING));
    assert_eq!(check(ORDERS).await.unwrap(), SERVING);

    // Graceful shutdown: the services turn NOT_SERVING, then the watches
    // end with UNAVAILABLE.
    shutdown.trigger();
    for watch in [&mut cart, &mut orders] {
        assert_eq!(
            watch.message().await.unwrap().map(|m| m.status),
            Some(NOT_SERVING)
        );
        assert_eq!(watch.message().await.unwrap_err().code, Code::Unavailable);
    }
    assert_eq!(
        reporter.status(""),
        Some(wirestate_grpc_health::ServingStatus::NotServing)
    );
}

/// A tokio runtime serving `server` on 127.0.0.1 until `shutdown`: the
/// address, the runtime (for the client to block on) and a receiver told
/// when the server ended.
fn start_tokio(
    server: wirestate_rt::grpc::Server<wirestate_tokio::TokioRuntime>,
    shutdown: &Shutdown,
) -> (SocketAddr, tokio::runtime::Runtime, mpsc::Receiver<()>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (done_tx, done) = mpsc::channel();
    let addr = rt.block_on(async {
        let listener = wirestate_tokio::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = wirestate_rt::Listener::local_addr(&listener).unwrap();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _ =
                wirestate_tokio::serve(listener, server, ServerConfig::default(), shutdown).await;
            let _ = done_tx.send(());
        });
        addr
    });
    (addr, rt, done)
}

#[test]
fn tokio_health() {
    let reporter = reporter();
    let shutdown = Shutdown::new();
    let server = async_server(
        wirestate_tokio::TokioRuntime,
        reporter.clone(),
        shutdown.clone(),
    );
    let (addr, rt, done) = start_tokio(server, &shutdown);
    rt.block_on(async {
        tokio::time::timeout(
            BOUND,
            async_scenario(wirestate_tokio::TokioRuntime, addr, reporter, shutdown),
        )
        .await
        .expect("in time");
    });
    done.recv_timeout(BOUND)
        .expect("the graceful shutdown ends");
}

#[test]
fn smol_health() {
    let reporter = reporter();
    let shutdown = Shutdown::new();
    let (addr_tx, addr) = mpsc::channel();
    let (done_tx, done) = mpsc::channel();
    std::thread::spawn({
        let reporter = reporter.clone();
        let shutdown = shutdown.clone();
        move || {
            let ex = std::sync::Arc::new(smol::Executor::new());
            let rt = wirestate_smol::SmolRuntime::with_executor(ex.clone());
            smol::block_on(ex.run(async move {
                let listener = wirestate_smol::bind("127.0.0.1:0".parse().unwrap()).unwrap();
                addr_tx
                    .send(wirestate_rt::Listener::local_addr(&listener).unwrap())
                    .unwrap();
                let server = async_server(rt.clone(), reporter, shutdown.clone());
                let _ = wirestate_rt::http1::serve(
                    rt,
                    listener,
                    server,
                    ServerConfig::default(),
                    shutdown,
                )
                .await;
            }));
            let _ = done_tx.send(());
        }
    });
    let addr = addr.recv().unwrap();
    smol::block_on(futures_lite::future::or(
        async_scenario(wirestate_smol::SmolRuntime::new(), addr, reporter, shutdown),
        async {
            smol::Timer::after(BOUND).await;
            panic!("not in time");
        },
    ));
    done.recv_timeout(BOUND)
        .expect("the graceful shutdown ends");
}

#[test]
fn blocking_health() {
    use wirestate_blocking::grpc::{Channel, Request, Server};
    use wirestate_examples::grpc_blocking::HealthClient;

    let reporter = reporter();
    let http = wirestate_blocking::Server::bind("127.0.0.1:0", Default::default()).unwrap();
    let addr = http.local_addr().unwrap();
    let handle = http.handle();
    let server = wirestate_grpc_health::blocking::add_health(
        Server::new(),
        reporter.clone(),
        Some(handle.clone()),
    );
    let thread = std::thread::spawn(move || http.serve(server));

    let health =
        HealthClient::new(Channel::connect(&addr.to_string()).unwrap()).with_timeout(BOUND);
    let check = |service: &str| {
        health
            .check(Request::new(ask(service)))
            .map(|r| r.message.status)
    };
    assert_eq!(check("").unwrap(), SERVING);
    assert_eq!(check(CART).unwrap(), SERVING);
    assert_eq!(check(ORDERS).unwrap_err().code, Code::NotFound);

    let (_, mut cart) = health.watch(Request::new(ask(CART))).unwrap();
    let mut next = || cart.message().unwrap().map(|m| m.status);
    assert_eq!(next(), Some(SERVING));
    reporter.set_not_serving(CART);
    assert_eq!(next(), Some(NOT_SERVING));
    reporter.set_not_serving(CART);
    reporter.set_not_serving("shop.v1.Other");
    reporter.set_serving(CART);
    assert_eq!(next(), Some(SERVING));

    let (_, mut orders) = health.watch(Request::new(ask(ORDERS))).unwrap();
    assert_eq!(
        orders.message().unwrap().map(|m| m.status),
        Some(SERVICE_UNKNOWN)
    );
    reporter.set_serving(ORDERS);
    assert_eq!(orders.message().unwrap().map(|m| m.status), Some(SERVING));
    assert_eq!(check(ORDERS).unwrap(), SERVING);

    // Graceful shutdown, while both watches are open.
    let readers = [cart, orders]
        .map(|mut watch| std::thread::spawn(move || (watch.message(), watch.message())));
    let started = std::time::Instant::now();
    handle.shutdown();
    for reader in readers {
        let (last, end) = reader.join().unwrap();
        assert_eq!(last.unwrap().map(|m| m.status), Some(NOT_SERVING));
        assert_eq!(end.unwrap_err().code, Code::Unavailable);
    }
    while !thread.is_finished() {
        assert!(started.elapsed() < BOUND, "graceful shutdown hung");
        std::thread::sleep(Duration::from_millis(10));
    }
    thread.join().unwrap().unwrap();
}

/// `wirestate serve` (tokio): every service it serves SERVING, NOT_SERVING
/// once it shuts down, before its watches end.
#[test]
fn wirestate_serve_drains_on_shutdown() {
    let shutdown = Shutdown::new();
    let grpc = wirestate_examples::grpc::server(wirestate_tokio::TokioRuntime, shutdown.clone());
    let (addr, rt, done) = start_tokio(grpc, &shutdown);
    rt.block_on(async {
        tokio::time::timeout(BOUND, async {
            let ch = channel(wirestate_tokio::TokioRuntime, addr).await;
            let health = wirestate_examples::grpc::HealthClient::new(ch).with_timeout(BOUND);
            for service in ["", "grpc.testing.TestService", "wirestate.echo.v1.Echo"] {
                let r = health.check(Request::new(ask(service))).await.unwrap();
                assert_eq!(r.message.status, SERVING, "{service}");
            }
            let r = health.check(Request::new(ask("nope"))).await;
            assert_eq!(r.unwrap_err().code, Code::NotFound);
            let (_, mut watch) = health.watch(Request::new(ask(""))).await.unwrap();
            assert_eq!(
                watch.message().await.unwrap().map(|m| m.status),
                Some(SERVING)
            );
            shutdown.trigger();
            assert_eq!(
                watch.message().await.unwrap().map(|m| m.status),
                Some(NOT_SERVING)
            );
            assert_eq!(watch.message().await.unwrap_err().code, Code::Unavailable);
        })
        .await
        .expect("in time");
    });
    done.recv_timeout(BOUND)
        .expect("the graceful shutdown ends");
}
