//! gRPC hedging (gRFC A6 `hedgingPolicy`) on the channels of tokio, smol
//! and blocking, against our tokio server on 127.0.0.1, whose method
//! sleeps per attempt (`x-delays`, milliseconds by attempt number) and
//! fails chosen attempts:
//!
//! * a slow first attempt is overtaken by a hedge started `hedgingDelay`
//!   later, whose answer is the call's; the slow one is cancelled (its
//!   handler is dropped, never finishing);
//! * a non-fatal failure starts the next hedge at once, without waiting
//!   for the delay; a fatal one ends the call at once;
//! * a pushback delays the next hedge by its value; a negative one stops
//!   hedging; every attempt failing ends the call with the last failure;
//! * every attempt carries `grpc-previous-rpc-attempts`;
//! * a server-streaming call is committed by its response headers (our
//!   server sends them at once), so it is not hedged further;
//! * client- and bidi-streaming calls hedge with the messages sent so far
//!   replayed on every new attempt, then go on live on the one that
//!   answered (tokio, smol, blocking, its halves split too);
//! * the throttle stops hedges once failures drained it.

#![allow(clippy::result_large_err)]

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wirestate_grpc::hedging::HedgingPolicy;
use wirestate_grpc::{ChannelConfig, Code, Metadata, Status};
use wirestate_proto::grpc::testing::{
    SimpleRequest, SimpleResponse, StreamingOutputCallRequest, StreamingOutputCallResponse,
};
use wirestate_rt::Runtime;
use wirestate_rt::grpc::{CallOptions, Channel, RetryConfig, RetryThrottle};

const BOUND: Duration = Duration::from_secs(60);
const UNARY: &str = "/hedge.Test/Unary";
const STREAM: &str = "/hedge.Test/Stream";
const BIDI: &str = "/hedge.Test/Bidi";

/// Per call (`x-key`): the `grpc-previous-rpc-attempts` of each attempt
/// as it arrived, and under `KEY/done` the attempts whose handler
/// finished its sleep (a cancelled one never does).
type Seen = Arc<Mutex<HashMap<String, Vec<u32>>>>;

fn note(seen: &Seen, key: &str, n: u32) {
    seen.lock()
        .unwrap()
        .entry(key.to_owned())
        .or_default()
        .push(n);
}

fn seen_of(seen: &Seen, key: &str) -> Vec<u32> {
    let mut v = seen.lock().unwrap().get(key).cloned().unwrap_or_default();
    v.sort_unstable();
    v
}

/// What an attempt does: its number, how long it sleeps, and the status
/// it fails with after that, if it fails.
fn plan(md: &Metadata) -> (String, u32, Duration, Option<Status>) {
    let key = md.get_str("x-key").unwrap_or_default().to_owned();
    let n: u32 = md
        .get_str("grpc-previous-rpc-attempts")
        .map_or(0, |v| v.parse().expect("a number"));
    let delay = md
        .get_str("x-delays")
        .and_then(|d| d.split(',').nth(n as usize))
        .map_or(0, |d| d.parse().unwrap());
    let fail: u32 = md.get_str("x-fail").map_or(0, |v| v.parse().unwrap());
    let failure = (n < fail).then(|| {
        let code = md
            .get_str("x-code")
            .map_or(Code::Unavailable, |v| Code::from(v.parse::<u32>().unwrap()));
        let mut status = Status::new(code, format!("attempt {n} fails"));
        if let Some(p) = md.get_str("x-pushback") {
            let mut trailers = Metadata::new();
            trailers.insert("grpc-retry-pushback-ms", p).unwrap();
            status = status.with_metadata(trailers);
        }
        status
    });
    (key, n, Duration::from_millis(delay), failure)
}

fn start_server(seen: Seen) -> (SocketAddr, tokio::runtime::Runtime) {
    use wirestate_rt::grpc::{Request, Response, ResponseSink, Server};
    let (s1, s2, s3) = (seen.clone(), seen.clone(), seen);
    let grpc = Server::new(wirestate_tokio::TokioRuntime)
        .unary(UNARY, move |req: Request<SimpleRequest>| {
            let (key, n, delay, failure) = plan(&req.metadata);
            note(&s1, &key, n);
            let seen = s1.clone();
            async move {
                tokio::time::sleep(delay).await;
                note(&seen, &format!("{key}/done"), n);
                match failure {
                    Some(status) => Err(status),
                    None => Ok(Response::new(SimpleResponse {
                        username: format!("attempt {n}"),
                        ..Default::default()
                    })),
                }
            }
        })
        .server_streaming(
            STREAM,
            move |req: Request<StreamingOutputCallRequest>,
                  mut sink: ResponseSink<StreamingOutputCallResponse>| {
                let (key, n, delay, failure) = plan(&req.metadata);
                note(&s2, &key, n);
                let seen = s2.clone();
                async move {
                    tokio::time::sleep(delay).await;
                    note(&seen, &format!("{key}/done"), n);
                    if let Some(status) = failure {
                        return Err(status);
                    }
                    for _ in 0..=n {
                        sink.send(StreamingOutputCallResponse::default()).await?;
                    }
                    Ok(())
                }
            },
        )
        // Fails planned attempts before anything else (a trailers-only
        // response), else answers each request with "N:n".
        .bidi_streaming(
            BIDI,
            move |req: Request<wirestate_rt::grpc::Streaming<SimpleRequest>>,
                  mut sink: ResponseSink<SimpleResponse>| {
                let (key, n, _, failure) = plan(&req.metadata);
                note(&s3, &key, n);
                async move {
                    if let Some(status) = failure {
                        return Err(status);
                    }
                    let mut requests = req.message;
                    while let Some(m) = requests.message().await? {
                        sink.send(SimpleResponse {
                            username: format!("{n}:{}", m.response_size),
                            ..Default::default()
                        })
                        .await?;
                    }
                    Ok(())
                }
            },
        );
    support::tokio_server(grpc)
}

fn hedging(max: u32, delay_ms: u64) -> HedgingPolicy {
    HedgingPolicy::new(max, Duration::from_millis(delay_ms), [Code::Unavailable]).unwrap()
}

fn numbered(n: i32) -> SimpleRequest {
    SimpleRequest {
        response_size: n,
        ..Default::default()
    }
}

/// Call options naming the call (`x-key`) with the `extra` metadata
/// that tells the server how its attempts go.
fn opts(key: &str, extra: &[(&str, &str)]) -> CallOptions {
    let mut md = Metadata::new();
    md.insert("x-key", key).unwrap();
    for (k, v) in extra {
        md.insert(k, v).unwrap();
    }
    CallOptions::default()
        .with_metadata(md)
        .with_timeout(Duration::from_secs(10))
}

/// Waits (bounded) until `key`'s finished attempts are `want`, then
/// checks that no other finishes in the next 100 ms.
fn settled(seen: &Seen, key: &str, want: &[u32]) {
    let done = format!("{key}/done");
    let until = Instant::now() + Duration::from_secs(3);
    while seen_of(seen, &done) != want && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(seen_of(seen, &done), want, "{key}: attempts that finished");
}

/// The cases with an async channel on `rt`; `tag` keeps the keys of
/// runtimes sharing one server apart.
async fn cases<R: Runtime>(rt: R, addr: SocketAddr, seen: Seen, tag: &str) {
    let key = |k: &str| format!("{tag}-{k}");
    let channel = |policy: HedgingPolicy| {
        Channel::builder(rt.clone(), addr)
            .config(ChannelConfig::new().retry_policy(RetryConfig::from(policy)))
            .connect_lazy()
            .unwrap()
    };
    let req = SimpleRequest::default();

    // A slow first attempt (1 s): the hedge started 50 ms later answers.
    let ch = channel(hedging(3, 50));
    let t0 = rt.now();
    let r = ch
        .unary::<_, SimpleResponse>(UNARY, &req, &opts(&key("slow"), &[("x-delays", "1000,0")]))
        .await
        .unwrap();
    assert_eq!(r.message.username, "attempt 1");
    let took = rt.now() - t0;
    assert!(took < Duration::from_millis(800), "{took:?}");
    assert_eq!(seen_of(&seen, &key("slow")), [0, 1]);
    // The first attempt was cancelled: its handler never finished.
    let (s, k) = (seen.clone(), key("slow"));
    blocking_wait(move || settled(&s, &k, &[1])).await;

    // Non-fatal failures start the next hedge at once, not after 5 s.
    let ch = channel(hedging(3, 5000));
    let t0 = rt.now();
    let r = ch
        .unary::<_, SimpleResponse>(UNARY, &req, &opts(&key("nonfatal"), &[("x-fail", "2")]))
        .await
        .unwrap();
    assert_eq!(r.message.username, "attempt 2");
    assert!(rt.now() - t0 < Duration::from_secs(2));
    assert_eq!(seen_of(&seen, &key("nonfatal")), [0, 1, 2]);

    // A fatal code ends the call at once.
    let e = ch
        .unary::<_, SimpleResponse>(
            UNARY,
            &req,
            &opts(&key("fatal"), &[("x-fail", "3"), ("x-code", "13")]),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::Internal);
    assert_eq!(seen_of(&seen, &key("fatal")), [0]);

    // A negative pushback stops hedging: the failure is the call's.
    let e = ch
        .unary::<_, SimpleResponse>(
            UNARY,
            &req,
            &opts(&key("stop"), &[("x-fail", "3"), ("x-pushback", "-1")]),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::Unavailable);
    assert_eq!(seen_of(&seen, &key("stop")), [0]);

    // A pushback of 300 ms: the next hedge then, not at once nor at 5 s.
    let t0 = rt.now();
    let r = ch
        .unary::<_, SimpleResponse>(
            UNARY,
            &req,
            &opts(&key("pushback"), &[("x-fail", "1"), ("x-pushback", "300")]),
        )
        .await
        .unwrap();
    assert_eq!(r.message.username, "attempt 1");
    let took = rt.now() - t0;
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "{took:?}"
    );

    // Every attempt fails (all three at once, no delay): the last
    // failure is the call's.
    let ch0 = channel(hedging(3, 0));
    let e = ch0
        .unary::<_, SimpleResponse>(UNARY, &req, &opts(&key("all"), &[("x-fail", "9")]))
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::Unavailable);
    assert_eq!(seen_of(&seen, &key("all")), [0, 1, 2]);

    // Server streaming: our server sends a stream's response headers
    // before its handler runs, and headers commit the call, so a slow
    // stream is not hedged (scripts/interop-grpc-retry.sh hedges one
    // against grpcio, which sends them with the first message).
    let ch = channel(hedging(2, 50));
    let (_, mut stream) = ch
        .server_streaming::<_, StreamingOutputCallResponse>(
            STREAM,
            &StreamingOutputCallRequest::default(),
            &opts(&key("stream-slow"), &[("x-delays", "300,0")]),
        )
        .await
        .unwrap();
    let mut n = 0;
    while stream.message().await.unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 1);
    assert_eq!(seen_of(&seen, &key("stream-slow")), [0]);

    // Bidi: attempts 0 and 1 fail non-fatally before their headers, so
    // hedges start at once; each sends the messages kept so far, then
    // the call goes on live on the one that answers.
    let ch = channel(hedging(3, 5000));
    let mut call = ch
        .streaming::<SimpleRequest, SimpleResponse>(BIDI, &opts(&key("bidi"), &[("x-fail", "2")]));
    call.send(&numbered(1)).await.unwrap();
    rt.sleep_until(rt.now() + Duration::from_millis(100)).await;
    call.send(&numbered(2)).await.unwrap();
    assert_eq!(call.message().await.unwrap().unwrap().username, "2:1");
    assert_eq!(call.message().await.unwrap().unwrap().username, "2:2");
    call.send(&numbered(3)).await.unwrap();
    assert_eq!(call.message().await.unwrap().unwrap().username, "2:3");
    call.close_send();
    assert!(call.message().await.unwrap().is_none());
    assert_eq!(seen_of(&seen, &key("bidi")), [0, 1, 2]);
    // Client streaming: the same, the requests replayed on the last
    // attempt; a fatal code ends it.
    let mut call = ch.client_streaming::<SimpleRequest, SimpleResponse>(
        BIDI,
        &opts(&key("upload"), &[("x-fail", "1")]),
    );
    call.send(&numbered(5)).await.unwrap();
    assert_eq!(call.finish().await.unwrap().message.username, "1:5");
    assert_eq!(seen_of(&seen, &key("upload")), [0, 1]);
    let mut call = ch.streaming::<SimpleRequest, SimpleResponse>(
        BIDI,
        &opts(&key("bidi-fatal"), &[("x-fail", "1"), ("x-code", "13")]),
    );
    // The attempt may have failed before this is sent: then the send
    // says the call ended, and the responses say how.
    let _ = call.send(&numbered(1)).await;
    assert_eq!(call.message().await.unwrap_err().code, Code::Internal);
    assert_eq!(seen_of(&seen, &key("bidi-fatal")), [0]);

    // The throttle (2 tokens: hedges need more than 1) refuses hedges
    // once a failure drained it.
    let throttled = Channel::builder(rt.clone(), addr)
        .config(ChannelConfig::new().retry_policy(
            RetryConfig::from(hedging(3, 0)).with_throttle(RetryThrottle::new(2, 0.1).unwrap()),
        ))
        .connect_lazy()
        .unwrap();
    let _ = throttled
        .unary::<_, SimpleResponse>(UNARY, &req, &opts(&key("drain"), &[("x-fail", "9")]))
        .await
        .unwrap_err();
    let e = throttled
        .unary::<_, SimpleResponse>(UNARY, &req, &opts(&key("throttled"), &[("x-fail", "9")]))
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::Unavailable);
    assert_eq!(seen_of(&seen, &key("throttled")), [0]);
    drop((ch, ch0, throttled));
}

/// Runs a blocking wait off the async executor's thread.
async fn blocking_wait(f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = futures_channel::oneshot::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    rx.await.expect("the check passed");
}

#[test]
fn tokio_channel_hedges() {
    let seen = Seen::default();
    let (addr, rt) = start_server(seen.clone());
    rt.block_on(async {
        tokio::time::timeout(
            BOUND,
            cases(wirestate_tokio::TokioRuntime, addr, seen, "tokio"),
        )
        .await
        .expect("bounded");
    });
}

#[test]
fn smol_channel_hedges() {
    let seen = Seen::default();
    let (addr, _server) = start_server(seen.clone());
    let ex = Arc::new(smol::Executor::new());
    let rt = wirestate_smol::SmolRuntime::with_executor(ex.clone());
    smol::block_on(ex.run(async {
        let timer = async {
            smol::Timer::after(BOUND).await;
            panic!("not done in time");
        };
        futures_lite::future::or(cases(rt.clone(), addr, seen, "smol"), timer).await;
    }));
}

#[test]
fn blocking_channel_hedges() {
    use wirestate_blocking::grpc::{CallOptions as BOpts, Channel as BChannel};
    let seen = Seen::default();
    let (addr, _server) = start_server(seen.clone());
    let target = addr.to_string();
    let channel = |policy: HedgingPolicy| {
        BChannel::builder(&target)
            .config(ChannelConfig::new().retry_policy(RetryConfig::from(policy)))
            .connect_lazy()
            .unwrap()
    };
    let bopts = |key: &str, extra: &[(&str, &str)]| -> BOpts {
        BOpts::default()
            .with_metadata(opts(key, extra).metadata)
            .with_timeout(Duration::from_secs(10))
    };
    let req = SimpleRequest::default();

    let ch = channel(hedging(3, 50));
    let t0 = Instant::now();
    let r = ch
        .unary::<_, SimpleResponse>(UNARY, &req, &bopts("slow", &[("x-delays", "1000,0")]))
        .unwrap();
    assert_eq!(r.message.username, "attempt 1");
    assert!(
        t0.elapsed() < Duration::from_millis(800),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(seen_of(&seen, "slow"), [0, 1]);
    settled(&seen, "slow", &[1]);

    let ch = channel(hedging(3, 5000));
    let t0 = Instant::now();
    let r = ch
        .unary::<_, SimpleResponse>(UNARY, &req, &bopts("nonfatal", &[("x-fail", "2")]))
        .unwrap();
    assert_eq!(r.message.username, "attempt 2");
    assert!(t0.elapsed() < Duration::from_secs(2));

    let e = ch
        .unary::<_, SimpleResponse>(
            UNARY,
            &req,
            &bopts("fatal", &[("x-fail", "3"), ("x-code", "13")]),
        )
        .unwrap_err();
    assert_eq!(e.code, Code::Internal);
    assert_eq!(seen_of(&seen, "fatal"), [0]);

    let e = ch
        .unary::<_, SimpleResponse>(
            UNARY,
            &req,
            &bopts("stop", &[("x-fail", "3"), ("x-pushback", "-1")]),
        )
        .unwrap_err();
    assert_eq!(e.code, Code::Unavailable);
    assert_eq!(seen_of(&seen, "stop"), [0]);

    let t0 = Instant::now();
    let r = ch
        .unary::<_, SimpleResponse>(
            UNARY,
            &req,
            &bopts("pushback", &[("x-fail", "1"), ("x-pushback", "300")]),
        )
        .unwrap();
    assert_eq!(r.message.username, "attempt 1");
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "{took:?}"
    );

    let ch0 = channel(hedging(3, 0));
    let e = ch0
        .unary::<_, SimpleResponse>(UNARY, &req, &bopts("all", &[("x-fail", "9")]))
        .unwrap_err();
    assert_eq!(e.code, Code::Unavailable);
    assert_eq!(seen_of(&seen, "all"), [0, 1, 2]);

    let ch = channel(hedging(2, 50));
    let (_, stream) = ch
        .server_streaming::<_, StreamingOutputCallResponse>(
            STREAM,
            &StreamingOutputCallRequest::default(),
            &bopts("stream-slow", &[("x-delays", "300,0")]),
        )
        .unwrap();
    assert_eq!(stream.collect::<Result<Vec<_>, _>>().unwrap().len(), 1);
    assert_eq!(seen_of(&seen, "stream-slow"), [0]);

    let ch = channel(hedging(3, 5000));
    let mut call = ch
        .streaming::<SimpleRequest, SimpleResponse>(BIDI, &bopts("bidi", &[("x-fail", "2")]))
        .unwrap();
    call.send(&numbered(1)).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    call.send(&numbered(2)).unwrap();
    assert_eq!(call.message().unwrap().unwrap().username, "2:1");
    assert_eq!(call.message().unwrap().unwrap().username, "2:2");
    call.send(&numbered(3)).unwrap();
    assert_eq!(call.message().unwrap().unwrap().username, "2:3");
    call.close_send();
    assert!(call.message().unwrap().is_none());
    assert_eq!(seen_of(&seen, "bidi"), [0, 1, 2]);
    // Split: the halves on two threads.
    let call = ch
        .streaming::<SimpleRequest, SimpleResponse>(BIDI, &bopts("split", &[("x-fail", "1")]))
        .unwrap();
    let (mut tx, mut rx) = call.split();
    let sender = std::thread::spawn(move || {
        for n in 1..=3 {
            tx.send(&numbered(n)).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        tx.close_send();
    });
    let mut got = Vec::new();
    while let Some(m) = rx.message().unwrap() {
        got.push(m.username);
    }
    sender.join().unwrap();
    assert_eq!(got, ["1:1", "1:2", "1:3"]);
    let mut call = ch
        .client_streaming::<SimpleRequest, SimpleResponse>(
            BIDI,
            &bopts("upload", &[("x-fail", "1")]),
        )
        .unwrap();
    call.send(&numbered(5)).unwrap();
    assert_eq!(call.finish().unwrap().message.username, "1:5");
    assert_eq!(seen_of(&seen, "upload"), [0, 1]);
    let mut call = ch
        .streaming::<SimpleRequest, SimpleResponse>(
            BIDI,
            &bopts("bidi-fatal", &[("x-fail", "1"), ("x-code", "13")]),
        )
        .unwrap();
    // The attempt may have failed before this is sent: then the send
    // says the call ended, and the responses say how.
    let _ = call.send(&numbered(1));
    assert_eq!(call.message().unwrap_err().code, Code::Internal);
    assert_eq!(seen_of(&seen, "bidi-fatal"), [0]);
}

/// One connection of the servers in the blocking slow-connect tests: it
/// takes the first stream and sends GOAWAY (last stream: that one), so
/// the call's next attempt needs a new connection; `seen` hears of the
/// stream. The stream is answered `answer_after` it came (OK, one
/// message, "attempt 0"), or never.
fn hold_first_stream(
    mut socket: std::net::TcpStream,
    seen: std::sync::mpsc::Sender<()>,
    answer_after: Option<Duration>,
) {
    use std::io::{Read, Write};
    use wirestate_h2::connection::{Config, Connection, Event};
    use wirestate_machine::{Machine, Transmit};
    socket
        .set_read_timeout(Some(Duration::from_millis(10)))
        .unwrap();
    let mut config = Config::default();
    config.two_step_shutdown = false;
    let mut m = Connection::server(config);
    let mut buf = vec![0; 64 << 10];
    let started = Instant::now();
    // The first stream, and when it is to be answered.
    let mut first = None;
    while started.elapsed() < BOUND {
        match socket.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if m.handle_input(Instant::now(), &buf[..n]).is_err() {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
        while let Some(event) = m.poll_event() {
            if let Event::Request { stream, .. } = event {
                let _ = m.go_away(Instant::now());
                let _ = seen.send(());
                first = answer_after.map(|after| (stream, Instant::now() + after));
            }
        }
        if let Some((stream, at)) = first
            && Instant::now() >= at
        {
            first = None;
            let head = http::Response::builder()
                .status(200)
                .header("content-type", "application/grpc")
                .body(())
                .unwrap()
                .into_parts()
                .0;
            let message = prost::Message::encode_to_vec(&SimpleResponse {
                username: "attempt 0".into(),
                ..Default::default()
            });
            let mut framed = bytes::BytesMut::new();
            wirestate_grpc::encode_message(&message, false, &mut framed).unwrap();
            let _ = m.send_response(stream, head, false);
            let _ = m.send_data(stream, framed.freeze(), false);
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", "0".parse().unwrap());
            let _ = m.send_trailers(stream, trailers);
        }
        while let Some(t) = m.poll_transmit() {
            match t {
                Transmit::Bytes(b) => {
                    if socket.write_all(&b).is_err() {
                        return;
                    }
                }
                Transmit::Shutdown => return,
            }
        }
    }
}

/// A blocking hedged streaming call whose next hedge waits for a new
/// connection — and the connect is slow: the server's listen queue is
/// full, so the SYN goes unanswered — leaves the call to its other users
/// meanwhile: a message sent from another thread goes at once, and
/// dropping the sending half cancels the call at once, the receiving
/// half failing CANCELLED (before, the hedge was started under the
/// call's lock, so both waited for the connect to give up).
#[test]
fn blocking_hedge_connecting_leaves_the_call_free() {
    use wirestate_blocking::grpc::{CallOptions as BOpts, Channel as BChannel};
    use wirestate_blocking::h2::ClientConfig;
    let listener = support::small_listener();
    let addr = listener.local_addr().unwrap();
    // Kept open to the end: a closed listener refuses at once.
    let kept = listener.try_clone().unwrap();
    let (seen_tx, seen_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (socket, _) = listener.accept().unwrap();
        hold_first_stream(socket, seen_tx, None);
    });
    let connect_timeout = Duration::from_millis(1500);
    let mut client = ClientConfig::default();
    client.connect_timeout = connect_timeout;
    client.request_timeout = None;
    let ch = BChannel::builder(&addr.to_string())
        .client_config(client)
        .config(ChannelConfig::new().retry_policy(RetryConfig::from(hedging(2, 600))))
        .connect_lazy()
        .unwrap();
    let t0 = Instant::now();
    let call = ch
        .streaming::<SimpleRequest, SimpleResponse>(
            BIDI,
            &BOpts::default().with_timeout(Duration::from_secs(20)),
        )
        .unwrap();
    let (mut tx, mut rx) = call.split();
    // The receiving half waits, and starts the hedge when it is due.
    let receiver = std::thread::spawn(move || rx.message().map(|m| m.is_some()));
    seen_rx.recv_timeout(BOUND).expect("the first attempt");
    let held = support::fill_listen_queue(addr);
    assert!(
        t0.elapsed() < Duration::from_millis(550),
        "too slow to set up: {:?}",
        t0.elapsed()
    );
    // The hedge is due at 600 ms, and waits for its connect.
    std::thread::sleep(Duration::from_millis(800).saturating_sub(t0.elapsed()));
    let sent = Instant::now();
    tx.send(&numbered(1)).unwrap();
    assert!(
        sent.elapsed() < Duration::from_millis(400),
        "send waited for the hedge's connect: {:?}",
        sent.elapsed()
    );
    let dropped = Instant::now();
    drop(tx);
    assert!(
        dropped.elapsed() < Duration::from_millis(400),
        "cancelling waited for the hedge's connect: {:?}",
        dropped.elapsed()
    );
    let outcome = receiver.join().unwrap();
    assert_eq!(outcome.unwrap_err().code, Code::Cancelled);
    assert!(
        dropped.elapsed() < Duration::from_millis(700),
        "the receiving half waited for the hedge's connect: {:?}",
        dropped.elapsed()
    );
    drop((held, kept));
}

/// A blocking hedged unary call whose hedge waits for a new connection
/// (a slow connect, as above) still returns as soon as its first attempt
/// answers: the hedge's connect is not in the way (before, the call's
/// loop opened the hedge's stream itself, so the answer waited for the
/// connect to give up).
#[test]
fn blocking_unary_hedge_connecting_does_not_hold_the_answer() {
    use wirestate_blocking::grpc::{CallOptions as BOpts, Channel as BChannel};
    use wirestate_blocking::h2::ClientConfig;
    let listener = support::small_listener();
    let addr = listener.local_addr().unwrap();
    let kept = listener.try_clone().unwrap();
    let (seen_tx, seen_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (socket, _) = listener.accept().unwrap();
        hold_first_stream(socket, seen_tx, Some(Duration::from_millis(900)));
    });
    let mut client = ClientConfig::default();
    client.connect_timeout = Duration::from_secs(4);
    client.request_timeout = None;
    let ch = BChannel::builder(&addr.to_string())
        .client_config(client)
        .config(ChannelConfig::new().retry_policy(RetryConfig::from(hedging(2, 400))))
        .connect()
        .unwrap();
    let t0 = Instant::now();
    let caller = std::thread::spawn(move || {
        let opts = BOpts::default().with_timeout(Duration::from_secs(20));
        ch.unary::<_, SimpleResponse>(UNARY, &SimpleRequest::default(), &opts)
    });
    seen_rx.recv_timeout(BOUND).expect("the first attempt");
    // The hedge, due at 400 ms, finds the listen queue full.
    let held = support::fill_listen_queue(addr);
    assert!(
        t0.elapsed() < Duration::from_millis(350),
        "{:?}",
        t0.elapsed()
    );
    let answer = caller.join().unwrap().unwrap();
    assert_eq!(answer.message.username, "attempt 0");
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(850) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    drop((held, kept));
}
