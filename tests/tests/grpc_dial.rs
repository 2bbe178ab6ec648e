//! How a gRPC channel that dials its own connections opens them, on
//! tokio, smol and blocking: calls made at once on a channel with no
//! connection yet share one connect instead of opening one each (the
//! listener — a counting relay in front of our tokio server — accepts one
//! connection), and a call dropped while it connects (its deadline
//! passed) hands the connect on to the calls waiting for it, while a call
//! that started the connect and is then no longer polled does not hold
//! it up (it runs as a task of its own).
//!
//! The connects are made slow, so that the calls overlap whatever the
//! runtime (a loopback connect may otherwise complete before the next
//! call starts): the relay's listen queue is kept full at first, so SYNs
//! go unanswered, then drained; the connects go through on their SYN's
//! next try (about a second later).

#![allow(clippy::result_large_err)]

mod support;

use std::future::Future;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use wirestate_grpc::Code;
use wirestate_proto::grpc::testing::{SimpleRequest, SimpleResponse};
use wirestate_rt::Runtime;
use wirestate_rt::grpc::{CallOptions, Channel};

const BOUND: Duration = Duration::from_secs(30);
const ECHO: &str = "/dial.Test/Echo";
/// Calls made at once.
const CALLS: i32 = 16;

/// Our tokio gRPC server, answering `ECHO` with the request's
/// `response_size` as the username.
fn start_server() -> (SocketAddr, tokio::runtime::Runtime) {
    use wirestate_rt::grpc::{Request, Response, Server};
    support::tokio_server(Server::new(wirestate_tokio::TokioRuntime).unary(
        ECHO,
        |req: Request<SimpleRequest>| async move {
            Ok(Response::new(SimpleResponse {
                username: req.message.response_size.to_string(),
                ..Default::default()
            }))
        },
    ))
}

/// Relays every connection `listener` accepts to `upstream`, counting
/// them.
fn counting_relay(listener: TcpListener, upstream: SocketAddr) -> Arc<AtomicUsize> {
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            counted.fetch_add(1, Ordering::SeqCst);
            let Ok(server) = TcpStream::connect(upstream) else {
                continue;
            };
            let pairs = [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ];
            for (mut from, mut to) in pairs {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(Shutdown::Write);
                });
            }
        }
    });
    accepted
}

/// How long the listen queue stays full once the calls started.
const STALL: Duration = Duration::from_millis(200);

fn numbered(n: i32) -> SimpleRequest {
    SimpleRequest {
        response_size: n,
        ..Default::default()
    }
}

fn opts() -> CallOptions {
    CallOptions::default().with_timeout(Duration::from_secs(10))
}

/// `CALLS` unary calls at once on a channel that has not connected yet,
/// to the `listener` (full), relayed to `upstream` after [`STALL`]: the
/// channel, and the relay's accept count.
async fn first_calls_at_once<R: Runtime>(
    rt: R,
    listener: TcpListener,
    upstream: SocketAddr,
) -> (Channel<R>, Arc<AtomicUsize>) {
    let addr = listener.local_addr().unwrap();
    let channel = Channel::builder(rt.clone(), addr).connect_lazy().unwrap();
    let calls = (0..CALLS).map(|n| {
        let channel = channel.clone();
        async move {
            channel
                .unary::<_, SimpleResponse>(ECHO, &numbered(n), &opts())
                .await
        }
    });
    let open = async {
        rt.sleep_until(rt.now() + STALL).await;
        counting_relay(listener, upstream)
    };
    let (answers, accepted) =
        futures_util::future::join(futures_util::future::join_all(calls), open).await;
    for (n, answer) in answers.into_iter().enumerate() {
        assert_eq!(answer.unwrap().message.username, n.to_string());
    }
    (channel, accepted)
}

#[test]
fn tokio_first_calls_share_one_connection() {
    let (upstream, server) = start_server();
    let (listener, held) = support::full_listener();
    let (channel, accepted) = server.block_on(async {
        tokio::time::timeout(
            BOUND,
            first_calls_at_once(wirestate_tokio::TokioRuntime, listener, upstream),
        )
        .await
        .expect("bounded")
    });
    assert_eq!(accepted.load(Ordering::SeqCst), held.len() + 1);
    assert_eq!(channel.connections(), 1);
}

#[test]
fn smol_first_calls_share_one_connection() {
    let (upstream, _server) = start_server();
    let (listener, held) = support::full_listener();
    let ex = Arc::new(smol::Executor::new());
    let rt = wirestate_smol::SmolRuntime::with_executor(ex.clone());
    let (channel, accepted) = smol::block_on(ex.run(async {
        let timer = async {
            smol::Timer::after(BOUND).await;
            panic!("not done in time");
        };
        futures_lite::future::or(first_calls_at_once(rt, listener, upstream), timer).await
    }));
    assert_eq!(accepted.load(Ordering::SeqCst), held.len() + 1);
    assert_eq!(channel.connections(), 1);
}

#[test]
fn blocking_first_calls_share_one_connection() {
    use wirestate_blocking::grpc::{CallOptions as BOpts, Channel as BChannel};
    let (upstream, _server) = start_server();
    let (listener, held) = support::full_listener();
    let channel = BChannel::builder(&listener.local_addr().unwrap().to_string())
        .connect_lazy()
        .unwrap();
    let threads: Vec<_> = (0..CALLS)
        .map(|n| {
            let channel = channel.clone();
            std::thread::spawn(move || {
                let opts = BOpts::default().with_timeout(Duration::from_secs(10));
                channel.unary::<_, SimpleResponse>(ECHO, &numbered(n), &opts)
            })
        })
        .collect();
    std::thread::sleep(STALL);
    let accepted = counting_relay(listener, upstream);
    for (n, t) in threads.into_iter().enumerate() {
        assert_eq!(t.join().unwrap().unwrap().message.username, n.to_string());
    }
    assert_eq!(accepted.load(Ordering::SeqCst), held.len() + 1);
    assert_eq!(channel.connections(), 1);
}

/// A call whose deadline passes while it connects (the SYN goes
/// unanswered: the listen queue is full) is dropped mid-connect; the call
/// that was waiting for that connect then opens its own, and is answered
/// once the queue drains, instead of waiting for a connect no one makes.
#[test]
fn tokio_a_call_dropped_while_connecting_hands_the_connect_on() {
    let (upstream, server) = start_server();
    let (listener, held) = support::full_listener();
    let addr = listener.local_addr().unwrap();
    server.block_on(async {
        let rt = wirestate_tokio::TokioRuntime;
        let channel = Channel::builder(rt, addr).connect_lazy().unwrap();
        let first = {
            let channel = channel.clone();
            tokio::spawn(async move {
                let opts = CallOptions::default().with_timeout(Duration::from_millis(300));
                channel
                    .unary::<_, SimpleResponse>(ECHO, &numbered(1), &opts)
                    .await
            })
        };
        // The first call is the one connecting; this one waits for it.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let second = {
            let channel = channel.clone();
            tokio::spawn(async move {
                channel
                    .unary::<_, SimpleResponse>(ECHO, &numbered(2), &opts())
                    .await
            })
        };
        let e = first.await.unwrap().unwrap_err();
        assert_eq!(e.code, Code::DeadlineExceeded);
        // Drain the queue: the second call's connect goes through on its
        // SYN's next try.
        let _accepted = counting_relay(listener, upstream);
        let t0 = Instant::now();
        let answer = tokio::time::timeout(BOUND, second)
            .await
            .expect("bounded")
            .unwrap()
            .unwrap();
        assert_eq!(answer.message.username, "2");
        assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());
        assert_eq!(channel.connections(), 1);
    });
    drop(held);
}

/// A call that started the connect and is then left unpolled (kept, not
/// dropped: a `select!` branch that lost, say) does not hold up the calls
/// waiting for that connect: the connect runs on its own, and the other
/// call is answered once the listen queue drains.
#[test]
fn tokio_a_parked_call_does_not_hold_the_connect() {
    let (upstream, server) = start_server();
    let (listener, held) = support::full_listener();
    let addr = listener.local_addr().unwrap();
    server.block_on(async {
        let channel = Channel::builder(wirestate_tokio::TokioRuntime, addr)
            .connect_lazy()
            .unwrap();
        let (one, call_opts) = (numbered(1), opts());
        let parked = channel.unary::<_, SimpleResponse>(ECHO, &one, &call_opts);
        let mut parked = std::pin::pin!(parked);
        // Polled once: it starts the connect, which hangs.
        let first_poll = std::future::poll_fn(|cx| {
            std::task::Poll::Ready(parked.as_mut().poll(cx).is_pending())
        })
        .await;
        assert!(first_poll);
        let other = {
            let channel = channel.clone();
            tokio::spawn(async move {
                channel
                    .unary::<_, SimpleResponse>(ECHO, &numbered(2), &opts())
                    .await
            })
        };
        tokio::time::sleep(STALL).await;
        let _accepted = counting_relay(listener, upstream);
        let t0 = Instant::now();
        let answer = tokio::time::timeout(BOUND, other)
            .await
            .expect("bounded")
            .unwrap()
            .unwrap();
        assert_eq!(answer.message.username, "2");
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
        assert_eq!(channel.connections(), 1);
        // The parked call goes on when polled again.
        let answer = tokio::time::timeout(BOUND, parked).await.expect("bounded");
        assert_eq!(answer.unwrap().message.username, "1");
    });
    drop(held);
}
