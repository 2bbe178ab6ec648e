//! gRPC wait-for-ready and connection backoff on channels that dial their
//! own connections, on tokio, smol and blocking:
//!
//! - a fail-fast call (the default) while no server listens fails
//!   UNAVAILABLE at once, and leaves the channel in TRANSIENT_FAILURE; a
//!   wait-for-ready call made then succeeds once a server starts on that
//!   port within its deadline;
//! - a wait-for-ready call (per call, or the channel's default) whose
//!   deadline passes first fails DEADLINE_EXCEEDED;
//! - while the channel backs off after a failed connect, fail-fast calls
//!   fail without connecting: counted by a listener that accepts each
//!   connection and closes it, which fails the channel's TLS handshake (a
//!   connect attempt the listener sees); once the backoff passed, the
//!   next call connects again;
//! - a wait-for-ready call made after the channel's connection was lost
//!   (the server went away) waits for the server to come back.

#![allow(clippy::result_large_err)]

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use wirestate_grpc::Code;
use wirestate_proto::grpc::testing::{SimpleRequest, SimpleResponse};
use wirestate_rt::Runtime;
use wirestate_rt::grpc::{BackoffConfig, CallOptions, Channel, ConnectivityState};

const ECHO: &str = "/wfr.Test/Echo";
/// Bounds each test's client side.
const BOUND: Duration = Duration::from_secs(30);
/// How long after the first calls the late server starts.
const LATE: Duration = Duration::from_millis(400);

/// A port nothing listens on (bound, then released).
fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Our tokio gRPC server on `addr`, answering `ECHO` with the request's
/// `response_size` as the username, until the runtime is dropped.
fn serve_on(addr: SocketAddr) -> tokio::runtime::Runtime {
    use wirestate_rt::grpc::{Request, Response, Server};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = wirestate_tokio::bind(addr).await.unwrap();
        let server = Server::new(wirestate_tokio::TokioRuntime).unary(
            ECHO,
            |req: Request<SimpleRequest>| async move {
                Ok(Response::new(SimpleResponse {
                    username: req.message.response_size.to_string(),
                    ..Default::default()
                }))
            },
        );
        tokio::spawn(wirestate_tokio::serve(
            listener,
            server,
            wirestate_rt::http1::ServerConfig::default(),
            wirestate_rt::Shutdown::new(),
        ));
    });
    rt
}

/// Starts [`serve_on`] `addr` after [`LATE`], on a thread of its own.
fn serve_late(addr: SocketAddr) -> std::thread::JoinHandle<tokio::runtime::Runtime> {
    std::thread::spawn(move || {
        std::thread::sleep(LATE);
        serve_on(addr)
    })
}

/// A listener that accepts each connection and closes it at once,
/// counting them.
fn closing_listener() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(conn);
        }
    });
    (addr, accepted)
}

/// A short backoff for the tests (the default's first wait is 1 s).
fn quick() -> BackoffConfig {
    BackoffConfig::new()
        .initial_backoff(Duration::from_millis(100))
        .max_backoff(Duration::from_millis(300))
}

/// A backoff longer than the calls made during it.
fn long() -> BackoffConfig {
    BackoffConfig::new()
        .initial_backoff(Duration::from_millis(1500))
        .jitter(0.0)
}

fn request() -> SimpleRequest {
    SimpleRequest {
        response_size: 7,
        ..Default::default()
    }
}

fn opts(timeout: Duration) -> CallOptions {
    CallOptions::default().with_timeout(timeout)
}

/// TLS that trusts no one: the handshake with [`closing_listener`] fails
/// anyway (the connection closes first).
fn tls_config() -> Arc<wirestate_rt::tls::rustls::ClientConfig> {
    use wirestate_rt::tls;
    tls::client_config(tls::webpki_roots(), &[tls::ALPN_H2])
}

/// Runs `f` on tokio (a current-thread runtime of its own) within
/// [`BOUND`].
fn on_tokio<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async { tokio::time::timeout(BOUND, f).await.expect("bounded") })
}

/// Runs `f` on smol within [`BOUND`].
fn on_smol<F: std::future::Future>(f: F) -> F::Output {
    smol::block_on(async {
        let timer = async {
            smol::Timer::after(BOUND).await;
            panic!("not done in time");
        };
        futures_lite::future::or(f, timer).await
    })
}

/// A fail-fast call with no server fails UNAVAILABLE at once; a
/// wait-for-ready call made then is answered by a server that starts
/// [`LATE`]. Returns the server's runtime, for the caller to drop outside
/// any async context.
async fn late_server<R: Runtime>(rt: R) -> tokio::runtime::Runtime {
    let addr = free_addr();
    let channel = Channel::builder(rt, addr)
        .connect_backoff(quick())
        .connect_lazy()
        .unwrap();
    assert_eq!(channel.state(), ConnectivityState::Idle);
    let started = Instant::now();
    let err = channel
        .unary::<_, SimpleResponse>(ECHO, &request(), &opts(Duration::from_secs(10)))
        .await
        .unwrap_err();
    assert_eq!(err.code, Code::Unavailable, "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(channel.state(), ConnectivityState::TransientFailure);

    let server = serve_late(addr);
    let started = Instant::now();
    let wfr = opts(Duration::from_secs(10)).wait_for_ready(true);
    let answer = channel
        .unary::<_, SimpleResponse>(ECHO, &request(), &wfr)
        .await
        .unwrap();
    assert_eq!(answer.message.username, "7");
    // It waited for the server (not answered by some other one).
    assert!(started.elapsed() >= LATE / 2, "{:?}", started.elapsed());
    assert_eq!(channel.state(), ConnectivityState::Ready);
    server.join().unwrap()
}

/// Wait-for-ready calls whose deadline passes before any server listens:
/// one asked per call, one by the channel's default.
async fn deadline_first<R: Runtime>(rt: R) {
    let addr = free_addr();
    let short = Duration::from_millis(300);
    for (channel_default, call) in [(false, Some(true)), (true, None)] {
        let channel = Channel::builder(rt.clone(), addr)
            .connect_backoff(quick())
            .wait_for_ready(channel_default)
            .connect_lazy()
            .unwrap();
        let mut o = opts(short);
        if let Some(w) = call {
            o = o.wait_for_ready(w);
        }
        let started = Instant::now();
        let err = channel
            .unary::<_, SimpleResponse>(ECHO, &request(), &o)
            .await
            .unwrap_err();
        assert_eq!(err.code, Code::DeadlineExceeded, "{err:?}");
        assert!(started.elapsed() >= short - Duration::from_millis(20));
        // A call overriding the channel's default fails fast.
        let err = channel
            .unary::<_, SimpleResponse>(ECHO, &request(), &opts(short).wait_for_ready(false))
            .await
            .unwrap_err();
        assert_eq!(err.code, Code::Unavailable, "{err:?}");
    }
}

/// Fail-fast calls while the channel backs off do not connect; the first
/// call after the backoff does.
async fn no_connect_per_call<R: Runtime>(rt: R) {
    let (addr, accepted) = closing_listener();
    let channel = Channel::builder(rt.clone(), addr)
        .tls(
            tls_config(),
            wirestate_rt::tls::server_name("localhost").unwrap(),
        )
        .connect_backoff(long())
        .connect_lazy()
        .unwrap();
    let started = Instant::now();
    for n in 0..10 {
        let err = channel
            .unary::<_, SimpleResponse>(ECHO, &request(), &opts(Duration::from_secs(5)))
            .await
            .unwrap_err();
        assert_eq!(err.code, Code::Unavailable, "{err:?}");
        // The first call's connect failed, and its transparent retry as
        // each later call found the channel backing off (no connect).
        assert!(err.message.contains("backing off"), "{n}: {err:?}");
    }
    assert!(started.elapsed() < Duration::from_millis(1000));
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    assert_eq!(channel.state(), ConnectivityState::TransientFailure);
    // The backoff passes (1.5 s after the first connect started).
    while channel.state() == ConnectivityState::TransientFailure {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still backing off"
        );
        rt.sleep_until(rt.now() + Duration::from_millis(20)).await;
    }
    assert_eq!(channel.state(), ConnectivityState::Idle);
    assert!(started.elapsed() >= Duration::from_millis(1400));
    let err = channel
        .unary::<_, SimpleResponse>(ECHO, &request(), &opts(Duration::from_secs(5)))
        .await
        .unwrap_err();
    assert_eq!(err.code, Code::Unavailable, "{err:?}");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

/// The server the channel was connected to goes away (its runtime
/// dropped); a wait-for-ready call made then is answered once a server is
/// back on that port, on a second connection. Returns the new server's
/// runtime.
async fn restart<R: Runtime>(rt: R) -> tokio::runtime::Runtime {
    let addr = free_addr();
    // On a thread of its own: a tokio runtime may not start within another.
    let first_server = std::thread::spawn(move || serve_on(addr)).join().unwrap();
    let channel = Channel::builder(rt.clone(), addr)
        .connect_backoff(quick())
        .connect_lazy()
        .unwrap();
    let first = channel
        .unary::<_, SimpleResponse>(ECHO, &request(), &opts(Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(first.message.username, "7");
    assert_eq!(channel.state(), ConnectivityState::Ready);
    // Not dropped here: a tokio runtime may not be dropped within another.
    std::thread::spawn(move || drop(first_server))
        .join()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(5);
    while channel.state() == ConnectivityState::Ready {
        assert!(Instant::now() < until, "the connection did not end");
        rt.sleep_until(rt.now() + Duration::from_millis(10)).await;
    }
    let server = serve_late(addr);
    let started = Instant::now();
    let wfr = opts(Duration::from_secs(10)).wait_for_ready(true);
    let answer = channel
        .unary::<_, SimpleResponse>(ECHO, &request(), &wfr)
        .await
        .unwrap();
    assert_eq!(answer.message.username, "7");
    assert!(started.elapsed() >= LATE / 2, "{:?}", started.elapsed());
    assert_eq!(channel.connections(), 2);
    server.join().unwrap()
}

#[test]
fn tokio_wait_for_ready_waits_for_a_server_that_went_away() {
    drop(on_tokio(restart(wirestate_tokio::TokioRuntime)));
}

#[test]
fn smol_wait_for_ready_waits_for_a_server_that_went_away() {
    drop(on_smol(restart(wirestate_smol::SmolRuntime::new())));
}

#[test]
fn tokio_wait_for_ready_rides_out_a_server_that_starts_late() {
    drop(on_tokio(late_server(wirestate_tokio::TokioRuntime)));
}

#[test]
fn smol_wait_for_ready_rides_out_a_server_that_starts_late() {
    drop(on_smol(late_server(wirestate_smol::SmolRuntime::new())));
}

#[test]
fn tokio_wait_for_ready_fails_at_its_deadline() {
    on_tokio(deadline_first(wirestate_tokio::TokioRuntime));
}

#[test]
fn smol_wait_for_ready_fails_at_its_deadline() {
    on_smol(deadline_first(wirestate_smol::SmolRuntime::new()));
}

#[test]
fn tokio_fail_fast_calls_in_backoff_do_not_connect() {
    on_tokio(no_connect_per_call(wirestate_tokio::TokioRuntime));
}

#[test]
fn smol_fail_fast_calls_in_backoff_do_not_connect() {
    on_smol(no_connect_per_call(wirestate_smol::SmolRuntime::new()));
}

mod blocking {
    use super::*;
    use wirestate_blocking::grpc::{BackoffConfig, CallOptions, Channel, Code, ConnectivityState};

    fn opts(timeout: Duration) -> CallOptions {
        CallOptions::default().with_timeout(timeout)
    }

    fn quick() -> BackoffConfig {
        super::quick()
    }

    #[test]
    fn wait_for_ready_rides_out_a_server_that_starts_late() {
        let addr = free_addr();
        let channel = Channel::builder(&addr.to_string())
            .connect_backoff(quick())
            .connect_lazy()
            .unwrap();
        assert_eq!(channel.state(), ConnectivityState::Idle);
        let started = Instant::now();
        let err = channel
            .unary::<_, SimpleResponse>(ECHO, &request(), &opts(Duration::from_secs(10)))
            .unwrap_err();
        assert_eq!(err.code, Code::Unavailable, "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(channel.state(), ConnectivityState::TransientFailure);

        let server = serve_late(addr);
        let started = Instant::now();
        let wfr = opts(Duration::from_secs(10)).wait_for_ready(true);
        let answer = channel
            .unary::<_, SimpleResponse>(ECHO, &request(), &wfr)
            .unwrap();
        assert_eq!(answer.message.username, "7");
        assert!(started.elapsed() >= LATE / 2, "{:?}", started.elapsed());
        assert_eq!(channel.state(), ConnectivityState::Ready);
        drop(server.join().unwrap());
    }

    #[test]
    fn wait_for_ready_fails_at_its_deadline() {
        let addr = free_addr();
        let short = Duration::from_millis(300);
        for (channel_default, call) in [(false, Some(true)), (true, None)] {
            let channel = Channel::builder(&addr.to_string())
                .connect_backoff(quick())
                .wait_for_ready(channel_default)
                .connect_lazy()
                .unwrap();
            let mut o = opts(short);
            if let Some(w) = call {
                o = o.wait_for_ready(w);
            }
            let started = Instant::now();
            let err = channel
                .unary::<_, SimpleResponse>(ECHO, &request(), &o)
                .unwrap_err();
            assert_eq!(err.code, Code::DeadlineExceeded, "{err:?}");
            assert!(started.elapsed() >= short - Duration::from_millis(20));
            assert!(started.elapsed() < Duration::from_secs(5));
            let err = channel
                .unary::<_, SimpleResponse>(ECHO, &request(), &opts(short).wait_for_ready(false))
                .unwrap_err();
            assert_eq!(err.code, Code::Unavailable, "{err:?}");
        }
    }

    #[test]
    fn wait_for_ready_waits_for_a_server_that_went_away() {
        let addr = free_addr();
        let first_server = serve_on(addr);
        let channel = Channel::builder(&addr.to_string())
            .connect_backoff(quick())
            .connect_lazy()
            .unwrap();
        let first = channel
            .unary::<_, SimpleResponse>(ECHO, &request(), &opts(Duration::from_secs(10)))
            .unwrap();
        assert_eq!(first.message.username, "7");
        drop(first_server);
        let until = Instant::now() + Duration::from_secs(5);
        while channel.state() == ConnectivityState::Ready {
            assert!(Instant::now() < until, "the connection did not end");
            std::thread::sleep(Duration::from_millis(10));
        }
        let server = serve_late(addr);
        let started = Instant::now();
        let wfr = opts(Duration::from_secs(10)).wait_for_ready(true);
        let answer = channel
            .unary::<_, SimpleResponse>(ECHO, &request(), &wfr)
            .unwrap();
        assert_eq!(answer.message.username, "7");
        assert!(started.elapsed() >= LATE / 2, "{:?}", started.elapsed());
        assert_eq!(channel.connections(), 2);
        drop(server.join().unwrap());
    }

    #[test]
    fn fail_fast_calls_in_backoff_do_not_connect() {
        use wirestate_blocking::tls;
        let (addr, accepted) = closing_listener();
        let channel = Channel::builder(&addr.to_string())
            .tls(
                tls::client_config(tls::webpki_roots(), &[tls::ALPN_H2]),
                tls::server_name("localhost").unwrap(),
            )
            .connect_backoff(long())
            .connect_lazy()
            .unwrap();
        let started = Instant::now();
        for n in 0..10 {
            let err = channel
                .unary::<_, SimpleResponse>(ECHO, &request(), &opts(Duration::from_secs(5)))
                .unwrap_err();
            assert_eq!(err.code, Code::Unavailable, "{err:?}");
            assert!(err.message.contains("backing off"), "{n}: {err:?}");
        }
        assert!(started.elapsed() < Duration::from_millis(1000));
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(channel.state(), ConnectivityState::TransientFailure);
        while channel.state() == ConnectivityState::TransientFailure {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "still backing off"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(channel.state(), ConnectivityState::Idle);
        assert!(started.elapsed() >= Duration::from_millis(1400));
        let err = channel
            .unary::<_, SimpleResponse>(ECHO, &request(), &opts(Duration::from_secs(5)))
            .unwrap_err();
        assert_eq!(err.code, Code::Unavailable, "{err:?}");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }
}
