//! A bidi-streaming call split into its request and response sides
//! (`StreamingCall::split`), sending and receiving at once, on tokio and
//! smol: 200 messages of 64 KiB each way, far more than the HTTP/2 windows
//! hold, against a server whose handler reads a request only once its
//! previous reply went out (as grpcio's and our blocking server's do).
//! Without a split, one task cannot wait on `send` and `message` at once,
//! and sending everything before reading stalls for good. Also: a split
//! call's sender fails once the receiver cancelled, and the receiver sees
//! the server's status.

#![allow(clippy::result_large_err)]

use std::time::Duration;
use wirestate_blocking::grpc::{Request as BRequest, Response as BResponse, Server, Status};
use wirestate_grpc::Code;
use wirestate_proto::wirestate::echo::v1::{EchoRequest, EchoResponse};
use wirestate_rt::Runtime;
use wirestate_rt::grpc::{CallOptions, Channel};

const BIDI: &str = "/wirestate.echo.v1.Echo/EchoBidi";
const COUNT: usize = 200;
const SIZE: usize = 64 << 10;

fn start() -> (std::net::SocketAddr, wirestate_blocking::ServerHandle) {
    let server = Server::new().bidi_streaming(
        BIDI,
        |r: BRequest<wirestate_blocking::grpc::Streaming<EchoRequest>>| {
            // One reply per request, pulled as the connection sends them.
            let replies = r.message.map(|m| {
                m.and_then(|m| {
                    if m.message == "fail" {
                        return Err(Status::new(Code::Aborted, "asked to fail"));
                    }
                    Ok(EchoResponse {
                        message: m.message,
                        ..Default::default()
                    })
                })
            });
            Ok(BResponse::new(replies))
        },
    );
    let http = wirestate_blocking::Server::bind("127.0.0.1:0", Default::default()).unwrap();
    let addr = http.local_addr().unwrap();
    let handle = http.handle();
    std::thread::spawn(move || http.serve(server));
    (addr, handle)
}

async fn scenario<R: Runtime>(rt: R, addr: std::net::SocketAddr) {
    let channel = Channel::builder(rt, addr).connect().await.unwrap();
    let opts = CallOptions::default().with_timeout(Duration::from_secs(60));
    let call = channel.streaming::<EchoRequest, EchoResponse>(BIDI, &opts);
    let (mut requests, mut responses) = call.split().unwrap();
    let big = "x".repeat(SIZE);
    let send = async {
        for i in 0..COUNT {
            let message = EchoRequest {
                message: format!("{i}:{big}"),
                ..Default::default()
            };
            requests.send(&message).await.unwrap();
        }
        requests.close_send();
    };
    let receive = async {
        let mut got = 0;
        while let Some(reply) = responses.message().await.unwrap() {
            assert!(reply.message.starts_with(&format!("{got}:")), "order");
            assert_eq!(reply.message.len(), SIZE + got.to_string().len() + 1);
            got += 1;
        }
        got
    };
    let ((), got) = futures_lite::future::zip(send, receive).await;
    assert_eq!(got, COUNT);

    // The server's error status reaches the receiver; the sender then
    // fails too.
    let call = channel.streaming::<EchoRequest, EchoResponse>(BIDI, &opts);
    let (mut requests, mut responses) = call.split().unwrap();
    let fail = EchoRequest {
        message: "fail".into(),
        ..Default::default()
    };
    requests.send(&fail).await.unwrap();
    let status = responses.message().await.unwrap_err();
    assert_eq!(status.code, Code::Aborted, "{status:?}");

    // The receiver cancels: the sender's next sends fail, without hanging.
    let call = channel.streaming::<EchoRequest, EchoResponse>(BIDI, &opts);
    let (mut requests, mut responses) = call.split().unwrap();
    responses.cancel();
    let mut failed = false;
    for _ in 0..100 {
        if requests.send(&fail).await.is_err() {
            failed = true;
            break;
        }
    }
    assert!(failed, "sends go on after the call was cancelled");
    assert_eq!(responses.message().await.unwrap_err().code, Code::Cancelled);
}

#[test]
fn tokio_split_call_sends_and_receives_at_once() {
    let (addr, handle) = start();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            tokio::time::timeout(
                Duration::from_secs(90),
                scenario(wirestate_tokio::TokioRuntime, addr),
            )
            .await
            .expect("the split call stalled")
        });
    handle.shutdown();
}

#[test]
fn smol_split_call_sends_and_receives_at_once() {
    let (addr, handle) = start();
    let rt = wirestate_smol::SmolRuntime::new();
    smol::block_on(async {
        futures_lite::future::or(scenario(rt, addr), async {
            smol::Timer::after(Duration::from_secs(90)).await;
            panic!("the split call stalled");
        })
        .await
    });
    handle.shutdown();
}
