//! Per-message compression on the rt gRPC server and client, over h2c on
//! 127.0.0.1 (tokio): `Server::offer_compression` declares gzip without
//! compressing, a handler turns compression on and off message by message
//! (`ResponseSink::set_compression`, `UnaryCall::set_compression`), a
//! unary handler sees how its request came (`UnaryCall::request_compressed`),
//! a client call switches compression between its messages
//! (`StreamingCall::set_compression`), and both sides read each message's
//! flag (`Streaming::last_compressed`, `StreamingCall::last_compressed`).
//! `Server::send_compressed` still compresses everything.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wirestate_proto::wirestate::echo::v1::{EchoRequest, EchoResponse};
use wirestate_rt::Runtime;
use wirestate_rt::grpc::{CallOptions, Channel, Encoding, Request, Response, Server, Streaming};
use wirestate_rt::http1::ServerConfig;

const BOUND: Duration = Duration::from_secs(20);

fn echo(message: &str) -> EchoRequest {
    EchoRequest {
        message: message.into(),
        payload: vec![0; 4096],
        repeat: 0,
    }
}

/// A server whose handlers compress what the request's `message` says
/// ("z" compressed, anything else not), and note how requests came.
fn server<R: Runtime>(rt: R, seen: Arc<Mutex<Vec<bool>>>, send_all: bool) -> Server<R> {
    let server = if send_all {
        Server::new(rt).send_compressed(Encoding::Gzip)
    } else {
        Server::new(rt).offer_compression(Encoding::Gzip)
    };
    let seen2 = seen.clone();
    server
        .unary_with("/t.T/Unary", move |req: Request<EchoRequest>, call| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(call.request_compressed());
                if !send_all {
                    call.set_compression(req.message.message == "z");
                }
                Ok(Response::new(EchoResponse {
                    message: req.message.message,
                    payload: req.message.payload,
                    index: 0,
                }))
            }
        })
        .bidi_streaming(
            "/t.T/Bidi",
            move |req: Request<Streaming<EchoRequest>>, mut sink| {
                let seen = seen2.clone();
                async move {
                    let mut stream = req.message;
                    while let Some(m) = stream.message().await? {
                        seen.lock().unwrap().push(stream.last_compressed());
                        if !send_all {
                            sink.set_compression(m.message == "z");
                        }
                        sink.send(EchoResponse {
                            message: m.message,
                            payload: m.payload,
                            index: 0,
                        })
                        .await?;
                    }
                    Ok(())
                }
            },
        )
}

async fn start(send_all: bool) -> (SocketAddr, Arc<Mutex<Vec<bool>>>) {
    let listener = wirestate_tokio::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = wirestate_rt::Listener::local_addr(&listener).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(wirestate_tokio::serve(
        listener,
        server(wirestate_tokio::TokioRuntime, seen.clone(), send_all),
        ServerConfig::default(),
        wirestate_rt::Shutdown::new(),
    ));
    (addr, seen)
}

async fn channel(addr: SocketAddr) -> Channel<wirestate_tokio::TokioRuntime> {
    let rt = wirestate_tokio::TokioRuntime;
    let io = rt.connect(addr).await.unwrap();
    let (send, driver) = wirestate_rt::h2::handshake(rt, io, Default::default());
    tokio::spawn(driver);
    Channel::new(rt, send, &addr.to_string()).unwrap()
}

/// A unary call read as a stream, for the response's flag.
async fn unary_flag(
    ch: &Channel<wirestate_tokio::TokioRuntime>,
    message: &str,
    opts: &CallOptions,
) -> bool {
    let (_, mut s) = ch
        .server_streaming::<_, EchoResponse>("/t.T/Unary", &echo(message), opts)
        .await
        .unwrap();
    let m = s.message().await.unwrap().unwrap();
    assert_eq!((m.message.as_str(), m.payload.len()), (message, 4096));
    let flag = s.last_compressed();
    assert!(s.message().await.unwrap().is_none());
    flag
}

fn run(f: impl std::future::Future<Output = ()>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async { tokio::time::timeout(BOUND, f).await.expect("bounded") });
}

#[test]
fn per_message_compression_both_ways() {
    run(async {
        let (addr, seen) = start(false).await;
        let ch = channel(addr).await;
        let gzip = CallOptions::default().with_compression(Encoding::Gzip);
        // Unary: the request's flag follows the call's encoding, the
        // response's what the handler chose.
        assert!(unary_flag(&ch, "z", &CallOptions::default()).await);
        assert!(!unary_flag(&ch, "plain", &gzip).await);
        assert_eq!(*seen.lock().unwrap(), [false, true]);
        seen.lock().unwrap().clear();

        // Bidi: compressed, plain, compressed again, each way on one call.
        let mut call = ch.streaming::<EchoRequest, EchoResponse>("/t.T/Bidi", &gzip);
        let mut flags = Vec::new();
        for (i, word) in ["z", "plain", "z"].into_iter().enumerate() {
            call.set_compression(i != 1);
            call.send(&echo(word)).await.unwrap();
            let m = call.message().await.unwrap().unwrap();
            assert_eq!((m.message.as_str(), m.payload.len()), (word, 4096));
            flags.push(call.last_compressed());
        }
        call.close_send();
        assert!(call.message().await.unwrap().is_none());
        assert_eq!(flags, [true, false, true]);
        assert_eq!(*seen.lock().unwrap(), [true, false, true]);
    });
}

#[test]
fn send_compressed_compresses_everything_offer_only_on_request() {
    run(async {
        let (addr, _) = start(true).await;
        let ch = channel(addr).await;
        assert!(unary_flag(&ch, "plain", &CallOptions::default()).await);
        assert!(unary_flag(&ch, "z", &CallOptions::default()).await);
    });
}
