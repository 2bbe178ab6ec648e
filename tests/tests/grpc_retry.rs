//! gRPC retries (gRFC A6) and keep-alive back-off (gRFC A8) on the
//! channels of tokio, smol and blocking, against our own server on
//! 127.0.0.1:
//!
//! * a handler that fails the first N attempts of a call with a chosen
//!   code and notes each attempt's `grpc-previous-rpc-attempts`: retried
//!   to success, a non-retryable code not retried, `maxAttempts`
//!   exhausted, a negative server pushback stopping retries, no policy no
//!   retries, a method left out of the policy, the throttle stopping and
//!   resuming retries;
//! * a server-streaming call that fails after its first message (the
//!   response headers came: committed) is not retried;
//! * client-streaming and bidi calls that fail their first attempts with
//!   UNAVAILABLE are retried, the messages sent so far replayed on the
//!   new stream, then the call goes on live; not after response headers,
//!   not past the retry buffer, not for other codes; pushback honoured;
//! * the throttle counts committed calls that fail with a retryable code
//!   (unary, bidi, server streaming); a call that ended keeps nothing more
//!   for replay; a dropped streaming call resets with CANCEL; the blocking
//!   channel's `close_send` does not wait for a retry's reconnect;
//! * keep-alive: servers (tokio, and the blocking one for the blocking
//!   client) with a minimum ping interval answer a client pinging too
//!   often with GOAWAY ENHANCE_YOUR_CALM `too_many_pings`; the channel
//!   reconnects with its interval doubled until the server is content,
//!   and every call along the way succeeds.

#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wirestate_grpc::{ChannelConfig, Code, Metadata, Status};
use wirestate_proto::grpc::testing::{
    SimpleRequest, SimpleResponse, StreamingOutputCallRequest, StreamingOutputCallResponse,
};
use wirestate_rt::Runtime;
use wirestate_rt::grpc::{CallOptions, Channel, RetryConfig, RetryPolicy, RetryThrottle};

const BOUND: Duration = Duration::from_secs(30);
const UNARY: &str = "/retry.Test/Unary";
const STREAM: &str = "/retry.Test/Stream";
const UPLOAD: &str = "/retry.Test/Upload";
const BIDI: &str = "/retry.Test/Bidi";
/// The servers' minimum ping interval.
const MIN_PING: Duration = Duration::from_millis(200);

/// Each call's attempts as the server saw them: the values of
/// `grpc-previous-rpc-attempts` (0 when absent), by the call's `x-key`.
type Seen = Arc<Mutex<HashMap<String, Vec<u32>>>>;

/// What one attempt of a unary call should get: fail with
/// `x-code` (default UNAVAILABLE) while fewer than `x-fail` attempts came
/// before, with `x-pushback` as `grpc-retry-pushback-ms` if given.
fn unary_outcome(seen: &Seen, md: &Metadata) -> Result<SimpleResponse, Status> {
    let key = md.get_str("x-key").unwrap_or_default().to_owned();
    let previous: u32 = md
        .get_str("grpc-previous-rpc-attempts")
        .map_or(0, |v| v.parse().expect("a number"));
    let fail: u32 = md.get_str("x-fail").map_or(0, |v| v.parse().unwrap());
    seen.lock().unwrap().entry(key).or_default().push(previous);
    if previous < fail {
        let code = md
            .get_str("x-code")
            .map_or(Code::Unavailable, |v| Code::from(v.parse::<u32>().unwrap()));
        let mut status = Status::new(code, format!("attempt {previous} fails"));
        if let Some(p) = md.get_str("x-pushback") {
            let mut trailers = Metadata::new();
            trailers.insert("grpc-retry-pushback-ms", p).unwrap();
            status = status.with_metadata(trailers);
        }
        return Err(status);
    }
    Ok(SimpleResponse {
        username: format!("after {previous}"),
        ..Default::default()
    })
}

/// Notes a streaming call's attempt and says how it goes: the attempts
/// before it, and the status to fail it with (as [`unary_outcome`]).
fn attempt_outcome(seen: &Seen, md: &Metadata) -> (u32, Option<Status>) {
    match unary_outcome(seen, md) {
        Ok(r) => (r.username["after ".len()..].parse().unwrap(), None),
        Err(status) => (0, Some(status)),
    }
}

/// A client-streaming request or a bidi one, carrying `n`.
fn numbered(n: i32) -> SimpleRequest {
    SimpleRequest {
        response_size: n,
        ..Default::default()
    }
}

/// A request carrying `n` and 50 KiB: four of them outgrow the HTTP/2
/// windows and the connection's queue, not the 256 KiB retry buffer.
fn numbered_large(n: i32) -> SimpleRequest {
    SimpleRequest {
        response_size: n,
        payload: Some(wirestate_proto::grpc::testing::Payload {
            body: vec![n as u8; 50 << 10],
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The client-streaming answer: the attempts before, the numbers read.
fn upload_answer(previous: u32, got: &[i32]) -> SimpleResponse {
    SimpleResponse {
        username: format!("after {previous}: {got:?}"),
        ..Default::default()
    }
}

/// The bidi answer to `n` on the attempt after `previous` others.
fn bidi_answer(previous: u32, n: i32) -> SimpleResponse {
    SimpleResponse {
        username: format!("{previous}:{n}"),
        ..Default::default()
    }
}

fn stream_seen(seen: &Seen, md: &Metadata) {
    let key = md.get_str("x-key").unwrap_or_default().to_owned();
    let previous: u32 = md
        .get_str("grpc-previous-rpc-attempts")
        .map_or(0, |v| v.parse().unwrap());
    seen.lock().unwrap().entry(key).or_default().push(previous);
}

fn stream_message() -> StreamingOutputCallResponse {
    StreamingOutputCallResponse::default()
}

fn fails_after_first() -> Status {
    Status::new(Code::Unavailable, "failed after the first message")
}

/// The async server on tokio, with the ping policy.
fn start_tokio(seen: Seen) -> (SocketAddr, tokio::runtime::Runtime) {
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
        let (s1, s2, s3, s4) = (seen.clone(), seen.clone(), seen.clone(), seen);
        let grpc =
            wirestate_rt::grpc::Server::new(wirestate_tokio::TokioRuntime)
                .unary(
                    UNARY,
                    move |req: wirestate_rt::grpc::Request<SimpleRequest>| {
                        let r = unary_outcome(&s1, &req.metadata);
                        async move { r.map(wirestate_rt::grpc::Response::new) }
                    },
                )
                .server_streaming(
                    STREAM,
                    move |req: wirestate_rt::grpc::Request<StreamingOutputCallRequest>,
                          mut sink: wirestate_rt::grpc::ResponseSink<
                        StreamingOutputCallResponse,
                    >| {
                        stream_seen(&s2, &req.metadata);
                        async move {
                            sink.send(stream_message()).await?;
                            Err(fails_after_first())
                        }
                    },
                )
                // Reads every request, then fails or answers with them.
                .client_streaming(
                    UPLOAD,
                    move |req: wirestate_rt::grpc::Request<
                        wirestate_rt::grpc::Streaming<SimpleRequest>,
                    >| {
                        let (previous, failure) = attempt_outcome(&s3, &req.metadata);
                        let key = req.metadata.get_str("x-key").unwrap_or_default().to_owned();
                        let ended = s3.clone();
                        async move {
                            let mut requests = req.message;
                            let mut got = Vec::new();
                            while let Some(m) = requests.message().await? {
                                got.push(m.response_size);
                            }
                            // The requests ended cleanly: how many came.
                            let n = got.len() as u32;
                            ended.lock().unwrap().entry(key + "/ended").or_default().push(n);
                            match failure {
                                Some(status) => Err(status),
                                None => Ok(wirestate_rt::grpc::Response::new(upload_answer(
                                    previous, &got,
                                ))),
                            }
                        }
                    },
                )
                // Fails before reading anything, or answers each request
                // (with `x-commit`: one answer, then UNAVAILABLE; with
                // `x-done`: none, OK).
                .bidi_streaming(
                    BIDI,
                    move |req: wirestate_rt::grpc::Request<
                        wirestate_rt::grpc::Streaming<SimpleRequest>,
                    >,
                          mut sink: wirestate_rt::grpc::ResponseSink<SimpleResponse>| {
                        let (previous, failure) = attempt_outcome(&s4, &req.metadata);
                        let commit = req.metadata.get_str("x-commit").is_some();
                        // x-done: OK at once, trailers-only.
                        let done = req.metadata.get_str("x-done").is_some();
                        async move {
                            if let Some(status) = failure {
                                return Err(status);
                            }
                            if done {
                                // Through the failure path: before any
                                // message, so trailers-only.
                                return Err(Status::ok());
                            }
                            let mut requests = req.message;
                            while let Some(m) = requests.message().await? {
                                sink.send(bidi_answer(previous, m.response_size)).await?;
                                if commit {
                                    return Err(fails_after_first());
                                }
                            }
                            Ok(())
                        }
                    },
                );
        let mut config = wirestate_rt::http1::ServerConfig::default();
        config.h2.min_recv_ping_interval = Some(MIN_PING);
        tokio::spawn(wirestate_tokio::serve(
            listener,
            grpc,
            config,
            wirestate_rt::Shutdown::new(),
        ));
        addr
    });
    (addr, rt)
}

fn policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy::new(
        max_attempts,
        Duration::from_millis(10),
        Duration::from_millis(40),
        2.0,
        [Code::Unavailable],
    )
    .unwrap()
}

/// Call options naming the call and how its attempts fail.
fn opts(key: &str, fail: u32, extra: &[(&str, &str)]) -> CallOptions {
    let mut md = Metadata::new();
    md.insert("x-key", key).unwrap();
    md.insert("x-fail", &fail.to_string()).unwrap();
    for (k, v) in extra {
        md.insert(k, v).unwrap();
    }
    CallOptions::default()
        .with_metadata(md)
        .with_timeout(Duration::from_secs(10))
}

fn seen_of(seen: &Seen, key: &str) -> Vec<u32> {
    seen.lock().unwrap().get(key).cloned().unwrap_or_default()
}

/// The retry cases with an async channel on runtime `rt`; `tag` keeps the
/// keys of runtimes sharing one server apart.
async fn retry_cases<R: Runtime>(rt: R, addr: SocketAddr, seen: Seen, tag: &str) {
    let config = RetryConfig::new()
        .with_default(policy(2))
        .with_service("retry.Test", policy(4));
    let ch = Channel::builder(rt.clone(), addr)
        .config(ChannelConfig::new().retry_policy(config))
        .connect()
        .await
        .unwrap();
    let req = SimpleRequest::default();
    let key = |k: &str| format!("{tag}-{k}");

    // UNAVAILABLE twice, then success on the third attempt.
    let r = ch
        .unary::<_, SimpleResponse>(UNARY, &req, &opts(&key("ok"), 2, &[]))
        .await
        .unwrap();
    assert_eq!(r.message.username, "after 2");
    assert_eq!(seen_of(&seen, &key("ok")), [0, 1, 2]);

    // A code outside the policy's: one attempt.
    let e = ch
        .unary::<_, SimpleResponse>(UNARY, &req, &opts(&key("internal"), 3, &[("x-code", "13")]))
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::Internal);
    assert_eq!(seen_of(&seen, &key("internal")), [0]);

    // maxAttempts (4) exhausted: the last attempt's status.
    let e = ch
        .unary::<_, SimpleResponse>(UNARY, &req, &opts(&key("exhausted"), 10, &[]))
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::Unavailable);
    assert_eq!(e.message, "attempt 3 fails");
    assert_eq!(seen_of(&seen, &key("exhausted")), [0, 1, 2, 3]);

    // The server's negative pushback: no retry.
    let e = ch
        .unary::<_, SimpleResponse>(
            UNARY,
            &req,
            &opts(&key("pushback"), 10, &[("x-pushback", "-1")]),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::Unavailable);
    assert_eq!(seen_of(&seen, &key("pushback")), [0]);

    // A valid pushback is waited for, then retried.
    let started = rt.now();
    ch.unary::<_, SimpleResponse>(
        UNARY,
        &req,
        &opts(&key("pushback-ok"), 1, &[("x-pushback", "150")]),
    )
    .await
    .unwrap();
    assert!(rt.now() - started >= Duration::from_millis(150));
    assert_eq!(seen_of(&seen, &key("pushback-ok")), [0, 1]);

    // The server stream failed after its first message: committed, the
    // error is the caller's, one attempt.
    let (_, mut stream) = ch
        .server_streaming::<_, StreamingOutputCallResponse>(
            STREAM,
            &StreamingOutputCallRequest::default(),
            &opts(&key("stream"), 0, &[]),
        )
        .await
        .unwrap();
    assert!(stream.message().await.unwrap().is_some());
    assert_eq!(stream.message().await.unwrap_err().code, Code::Unavailable);
    assert_eq!(seen_of(&seen, &key("stream")), [0]);

    streaming_cases(&rt, &ch, &seen, tag).await;

    // Without a policy: no retries.
    let plain = Channel::builder(rt.clone(), addr).connect().await.unwrap();
    let e = plain
        .unary::<_, SimpleResponse>(UNARY, &req, &opts(&key("plain"), 1, &[]))
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::Unavailable);
    assert_eq!(seen_of(&seen, &key("plain")), [0]);

    // A method left out of the policy (not safe to run twice).
    let opted_out = Channel::builder(rt.clone(), addr)
        .config(
            ChannelConfig::new().retry_policy(RetryConfig::from(policy(4)).without_method(UNARY)),
        )
        .connect()
        .await
        .unwrap();
    opted_out
        .unary::<_, SimpleResponse>(UNARY, &req, &opts(&key("opted-out"), 1, &[]))
        .await
        .unwrap_err();
    assert_eq!(seen_of(&seen, &key("opted-out")), [0]);

    // A throttle of 4 tokens: failures take one each, and retries stop
    // once no more than half is left — after the second failure here,
    // before maxAttempts (4); successes give one back (ratio 1).
    let throttled = Channel::builder(rt.clone(), addr)
        .config(ChannelConfig::new().retry_policy(
            RetryConfig::from(policy(4)).with_throttle(RetryThrottle::new(4, 1.0).unwrap()),
        ))
        .connect()
        .await
        .unwrap();
    let e = throttled
        .unary::<_, SimpleResponse>(UNARY, &req, &opts(&key("throttled"), 10, &[]))
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::Unavailable);
    assert_eq!(seen_of(&seen, &key("throttled")), [0, 1]);
    for _ in 0..2 {
        throttled
            .unary::<_, SimpleResponse>(UNARY, &req, &opts(&key("refill"), 0, &[]))
            .await
            .unwrap();
    }
    throttled
        .unary::<_, SimpleResponse>(UNARY, &req, &opts(&key("after-refill"), 1, &[]))
        .await
        .unwrap();
    assert_eq!(seen_of(&seen, &key("after-refill")), [0, 1]);

    // A call past its retry buffer (10 bytes: two messages) is committed.
    let small = Channel::builder(rt.clone(), addr)
        .config(
            ChannelConfig::new()
                .retry_policy(policy(4))
                .retry_buffer_size(10),
        )
        .connect()
        .await
        .unwrap();
    let mut call =
        small.client_streaming::<SimpleRequest, SimpleResponse>(UPLOAD, &opts(&key("big"), 1, &[]));
    for n in 1..=3 {
        call.send(&numbered(n)).await.unwrap();
    }
    assert_eq!(call.finish().await.unwrap_err().code, Code::Unavailable);
    assert_eq!(seen_of(&seen, &key("big")), [0]);
    // Without a policy a streaming call is not retried either.
    let mut call =
        plain.streaming::<SimpleRequest, SimpleResponse>(BIDI, &opts(&key("plain-bidi"), 1, &[]));
    let _ = call.send(&numbered(1)).await;
    assert_eq!(call.message().await.unwrap_err().code, Code::Unavailable);
    assert_eq!(seen_of(&seen, &key("plain-bidi")), [0]);

    // The same rules on a channel over a connection of the caller's.
    let io = rt.connect(addr).await.unwrap();
    let (send, driver) = wirestate_rt::h2::handshake(rt.clone(), io, Default::default());
    rt.spawn(Box::pin(async move {
        let _ = driver.await;
    }));
    let fixed = Channel::new(rt.clone(), send, &addr.to_string())
        .unwrap()
        .with_retry(policy(2));
    let r = fixed
        .unary::<_, SimpleResponse>(UNARY, &req, &opts(&key("fixed"), 1, &[]))
        .await
        .unwrap();
    assert_eq!(r.message.username, "after 1");
    assert_eq!(seen_of(&seen, &key("fixed")), [0, 1]);
}

/// Client-streaming and bidi retries on `ch` (a policy of 4 attempts on
/// UNAVAILABLE), against a server with the Upload and Bidi methods.
async fn streaming_cases<R: Runtime>(rt: &R, ch: &Channel<R>, seen: &Seen, tag: &str) {
    let key = |k: &str| format!("{tag}-{k}");

    // Client streaming: the server reads all three requests and fails
    // twice; the third attempt gets the same three, replayed.
    let mut call =
        ch.client_streaming::<SimpleRequest, SimpleResponse>(UPLOAD, &opts(&key("upload"), 2, &[]));
    for n in 1..=3 {
        call.send(&numbered(n)).await.unwrap();
    }
    let r = call.finish().await.unwrap();
    assert_eq!(r.message.username, "after 2: [1, 2, 3]");
    assert_eq!(seen_of(seen, &key("upload")), [0, 1, 2]);

    // 200 KiB replayed: more than the windows let through at once.
    let mut call = ch.client_streaming::<SimpleRequest, SimpleResponse>(
        UPLOAD,
        &opts(&key("upload-large"), 1, &[]),
    );
    for n in 1..=4 {
        call.send(&numbered_large(n)).await.unwrap();
    }
    let r = call.finish().await.unwrap();
    assert_eq!(r.message.username, "after 1: [1, 2, 3, 4]");
    assert_eq!(seen_of(seen, &key("upload-large")), [0, 1]);

    // Bidi ping-pong: the first two attempts fail before reading; the
    // first request is replayed on the third, the second goes live.
    let mut call = ch.streaming::<SimpleRequest, SimpleResponse>(BIDI, &opts(&key("bidi"), 2, &[]));
    call.send(&numbered(1)).await.unwrap();
    assert_eq!(call.message().await.unwrap().unwrap().username, "2:1");
    call.send(&numbered(2)).await.unwrap();
    assert_eq!(call.message().await.unwrap().unwrap().username, "2:2");
    call.close_send();
    assert!(call.message().await.unwrap().is_none());
    assert_eq!(seen_of(seen, &key("bidi")), [0, 1, 2]);

    // Requests sent before the failures are noticed, then closed: all
    // replayed, the request stream ended after them.
    let mut call =
        ch.streaming::<SimpleRequest, SimpleResponse>(BIDI, &opts(&key("bidi-closed"), 1, &[]));
    for n in 1..=3 {
        call.send(&numbered(n)).await.unwrap();
    }
    call.close_send();
    let mut answers = Vec::new();
    while let Some(m) = call.message().await.unwrap() {
        answers.push(m.username);
    }
    assert_eq!(answers, ["1:1", "1:2", "1:3"]);
    assert_eq!(seen_of(seen, &key("bidi-closed")), [0, 1]);

    // Response headers came (one answer): committed, not retried.
    let mut call = ch.streaming::<SimpleRequest, SimpleResponse>(
        BIDI,
        &opts(&key("bidi-commit"), 0, &[("x-commit", "1")]),
    );
    call.send(&numbered(1)).await.unwrap();
    assert_eq!(call.message().await.unwrap().unwrap().username, "0:1");
    assert_eq!(call.message().await.unwrap_err().code, Code::Unavailable);
    assert_eq!(seen_of(seen, &key("bidi-commit")), [0]);

    // A code outside the policy: one attempt.
    let mut call = ch.streaming::<SimpleRequest, SimpleResponse>(
        BIDI,
        &opts(&key("bidi-internal"), 3, &[("x-code", "13")]),
    );
    let _ = call.send(&numbered(1)).await;
    assert_eq!(call.message().await.unwrap_err().code, Code::Internal);
    assert_eq!(seen_of(seen, &key("bidi-internal")), [0]);

    // The server's pushback is waited for; a negative one stops retries.
    let started = rt.now();
    let mut call = ch.client_streaming::<SimpleRequest, SimpleResponse>(
        UPLOAD,
        &opts(&key("upload-pushback"), 1, &[("x-pushback", "150")]),
    );
    call.send(&numbered(7)).await.unwrap();
    assert_eq!(
        call.finish().await.unwrap().message.username,
        "after 1: [7]"
    );
    assert!(rt.now() - started >= Duration::from_millis(150));
    assert_eq!(seen_of(seen, &key("upload-pushback")), [0, 1]);
    let mut call = ch.streaming::<SimpleRequest, SimpleResponse>(
        BIDI,
        &opts(&key("bidi-stop"), 3, &[("x-pushback", "-1")]),
    );
    let _ = call.send(&numbered(1)).await;
    assert_eq!(call.message().await.unwrap_err().code, Code::Unavailable);
    assert_eq!(seen_of(seen, &key("bidi-stop")), [0]);
}

/// A channel pinging every 25 ms against servers that want 200 ms: it
/// is told `too_many_pings` and doubles its interval (25, 50, 100, 200)
/// until the server is content; every call succeeds.
async fn keepalive_case<R: Runtime>(rt: R, addr: SocketAddr, tag: &str) {
    let req = SimpleRequest::default();
    let key = format!("{tag}-keepalive");
    // By default no pings without calls: idle, the connection stays.
    let quiet = Channel::builder(rt.clone(), addr)
        .config(ChannelConfig::new().keepalive(Duration::from_millis(25)))
        .connect()
        .await
        .unwrap();
    rt.sleep_until(rt.now() + MIN_PING * 3).await;
    quiet
        .unary::<_, SimpleResponse>(UNARY, &req, &opts(&key, 0, &[]))
        .await
        .unwrap();
    assert_eq!(quiet.connections(), 1);
    assert_eq!(quiet.keepalive_interval(), Some(Duration::from_millis(25)));

    let ch = Channel::builder(rt.clone(), addr)
        .config(
            ChannelConfig::new()
                .keepalive(Duration::from_millis(25))
                .keepalive_without_calls(true)
                // A call caught by the GOAWAY is retried.
                .retry_policy(policy(3)),
        )
        .connect()
        .await
        .unwrap();
    for _ in 0..12 {
        ch.unary::<_, SimpleResponse>(UNARY, &req, &opts(&key, 0, &[]))
            .await
            .unwrap();
        if ch.keepalive_interval() == Some(MIN_PING) {
            break;
        }
        rt.sleep_until(rt.now() + Duration::from_millis(500)).await;
    }
    assert_eq!(ch.keepalive_interval(), Some(MIN_PING));
    assert!(ch.connections() >= 4, "{}", ch.connections());
    // Settled: the connection outlives several pings.
    ch.unary::<_, SimpleResponse>(UNARY, &req, &opts(&key, 0, &[]))
        .await
        .unwrap();
    let connections = ch.connections();
    rt.sleep_until(rt.now() + MIN_PING * 4).await;
    ch.unary::<_, SimpleResponse>(UNARY, &req, &opts(&key, 0, &[]))
        .await
        .unwrap();
    assert_eq!(ch.connections(), connections);
    assert_eq!(ch.keepalive_interval(), Some(MIN_PING));
}

#[test]
fn tokio_channel_retries_and_backs_off_keepalive() {
    let seen = Seen::default();
    let (addr, rt) = start_tokio(seen.clone());
    rt.block_on(async {
        tokio::time::timeout(BOUND, async {
            retry_cases(wirestate_tokio::TokioRuntime, addr, seen, "tokio").await;
            keepalive_case(wirestate_tokio::TokioRuntime, addr, "tokio").await;
        })
        .await
        .expect("bounded");
    });
}

#[test]
fn smol_channel_retries_and_backs_off_keepalive() {
    let seen = Seen::default();
    let (addr, _server) = start_tokio(seen.clone());
    let ex = Arc::new(smol::Executor::new());
    let rt = wirestate_smol::SmolRuntime::with_executor(ex.clone());
    smol::block_on(ex.run(async {
        let timer = async {
            smol::Timer::after(BOUND).await;
            panic!("not done in time");
        };
        let cases = async {
            retry_cases(rt.clone(), addr, seen, "smol").await;
            keepalive_case(rt.clone(), addr, "smol").await;
        };
        futures_lite::future::or(cases, timer).await;
    }));
}

/// The blocking server, with the ping policy and the same handlers.
fn start_blocking(seen: Seen) -> (SocketAddr, wirestate_blocking::ServerHandle) {
    use wirestate_blocking::grpc::{Request, Response, Server, Streaming};
    let mut config = wirestate_blocking::ServerConfig::default();
    config.h2.min_recv_ping_interval = Some(MIN_PING);
    let server = wirestate_blocking::Server::bind("127.0.0.1:0", config).expect("bind");
    let addr = server.local_addr().unwrap();
    let handle = server.handle();
    let (s1, s2, s3, s4) = (seen.clone(), seen.clone(), seen.clone(), seen);
    let grpc = Server::new()
        .unary(UNARY, move |req: Request<SimpleRequest>| {
            unary_outcome(&s1, &req.metadata).map(Response::new)
        })
        .server_streaming(STREAM, move |req: Request<StreamingOutputCallRequest>| {
            stream_seen(&s2, &req.metadata);
            let items: Vec<Result<StreamingOutputCallResponse, Status>> =
                vec![Ok(stream_message()), Err(fails_after_first())];
            Ok(Response::new(items))
        })
        .client_streaming(UPLOAD, move |req: Request<Streaming<SimpleRequest>>| {
            let (previous, failure) = attempt_outcome(&s3, &req.metadata);
            let mut got = Vec::new();
            for m in req.message {
                got.push(m?.response_size);
            }
            match failure {
                Some(status) => Err(status),
                None => Ok(Response::new(upload_answer(previous, &got))),
            }
        })
        .bidi_streaming(BIDI, move |req: Request<Streaming<SimpleRequest>>| {
            let (previous, failure) = attempt_outcome(&s4, &req.metadata);
            if let Some(status) = failure {
                if req.metadata.get_str("x-drain").is_some() {
                    // Fails only once every request was read.
                    for m in req.message {
                        m?;
                    }
                }
                return Err(status);
            }
            let commit = req.metadata.get_str("x-commit").is_some();
            // x-echo: each answer carries its request's payload too.
            let echo = req.metadata.get_str("x-echo").is_some();
            let answers = req.message.map(move |m| {
                m.map(|m| SimpleResponse {
                    payload: m.payload.filter(|_| echo),
                    ..bidi_answer(previous, m.response_size)
                })
            });
            let answers: Box<dyn Iterator<Item = Result<SimpleResponse, Status>> + Send> = if commit
            {
                Box::new(answers.take(1).chain([Err(fails_after_first())]))
            } else {
                Box::new(answers)
            };
            Ok(Response::new(answers))
        });
    std::thread::spawn(move || server.serve(grpc));
    (addr, handle)
}

#[test]
fn blocking_channel_retries_and_backs_off_keepalive() {
    use wirestate_blocking::grpc::{CallOptions as BOpts, Channel as BChannel};
    let seen = Seen::default();
    let (addr, handle) = start_blocking(seen.clone());
    let bopts = |key: &str, fail: u32, extra: &[(&str, &str)]| -> BOpts {
        let o = opts(key, fail, extra);
        BOpts::default()
            .with_metadata(o.metadata)
            .with_timeout(Duration::from_secs(10))
    };
    let target = addr.to_string();
    let ch = BChannel::builder(&target)
        .config(ChannelConfig::new().retry_policy(RetryConfig::new().with_default(policy(4))))
        .connect()
        .unwrap();
    let req = SimpleRequest::default();

    let r = ch
        .unary::<_, SimpleResponse>(UNARY, &req, &bopts("ok", 2, &[]))
        .unwrap();
    assert_eq!(r.message.username, "after 2");
    assert_eq!(seen_of(&seen, "ok"), [0, 1, 2]);

    let e = ch
        .unary::<_, SimpleResponse>(UNARY, &req, &bopts("internal", 3, &[("x-code", "13")]))
        .unwrap_err();
    assert_eq!(e.code, Code::Internal);
    assert_eq!(seen_of(&seen, "internal"), [0]);

    let e = ch
        .unary::<_, SimpleResponse>(UNARY, &req, &bopts("exhausted", 10, &[]))
        .unwrap_err();
    assert_eq!(e.message, "attempt 3 fails");
    assert_eq!(seen_of(&seen, "exhausted"), [0, 1, 2, 3]);

    let e = ch
        .unary::<_, SimpleResponse>(UNARY, &req, &bopts("pushback", 10, &[("x-pushback", "-1")]))
        .unwrap_err();
    assert_eq!(e.code, Code::Unavailable);
    assert_eq!(seen_of(&seen, "pushback"), [0]);

    let (_, mut stream) = ch
        .server_streaming::<_, StreamingOutputCallResponse>(
            STREAM,
            &StreamingOutputCallRequest::default(),
            &bopts("stream", 0, &[]),
        )
        .unwrap();
    assert!(stream.message().unwrap().is_some());
    assert_eq!(stream.message().unwrap_err().code, Code::Unavailable);
    assert_eq!(seen_of(&seen, "stream"), [0]);

    let fixed = BChannel::connect(&target).unwrap().with_retry(policy(2));
    fixed
        .unary::<_, SimpleResponse>(UNARY, &req, &bopts("fixed", 1, &[]))
        .unwrap();
    assert_eq!(seen_of(&seen, "fixed"), [0, 1]);
    let plain = BChannel::connect(&target).unwrap();
    plain
        .unary::<_, SimpleResponse>(UNARY, &req, &bopts("plain", 1, &[]))
        .unwrap_err();
    assert_eq!(seen_of(&seen, "plain"), [0]);

    blocking_streaming_cases(&ch, &seen, &bopts);
    let small = BChannel::builder(&target)
        .config(
            ChannelConfig::new()
                .retry_policy(policy(4))
                .retry_buffer_size(10),
        )
        .connect()
        .unwrap();
    let mut call = small
        .client_streaming::<SimpleRequest, SimpleResponse>(UPLOAD, &bopts("big", 1, &[]))
        .unwrap();
    for n in 1..=3 {
        call.send(&numbered(n)).unwrap();
    }
    assert_eq!(call.finish().unwrap_err().code, Code::Unavailable);
    assert_eq!(seen_of(&seen, "big"), [0]);

    // Keep-alive back-off against the blocking server.
    blocking_keepalive_case(&target, "keepalive");
    drop((ch, fixed, plain));
    handle.shutdown();
}

/// Blocking call options naming the call and how its attempts fail (as
/// [`opts`]).
type BlockingOpts = dyn Fn(&str, u32, &[(&str, &str)]) -> wirestate_blocking::grpc::CallOptions;

/// The blocking twin of [`streaming_cases`], with the bidi call's halves
/// on two threads once.
fn blocking_streaming_cases(
    ch: &wirestate_blocking::grpc::Channel,
    seen: &Seen,
    bopts: &BlockingOpts,
) {
    let mut call = ch
        .client_streaming::<SimpleRequest, SimpleResponse>(UPLOAD, &bopts("upload", 2, &[]))
        .unwrap();
    for n in 1..=3 {
        call.send(&numbered(n)).unwrap();
    }
    assert_eq!(
        call.finish().unwrap().message.username,
        "after 2: [1, 2, 3]"
    );
    assert_eq!(seen_of(seen, "upload"), [0, 1, 2]);

    let mut call = ch
        .client_streaming::<SimpleRequest, SimpleResponse>(UPLOAD, &bopts("upload-large", 1, &[]))
        .unwrap();
    for n in 1..=4 {
        call.send(&numbered_large(n)).unwrap();
    }
    assert_eq!(
        call.finish().unwrap().message.username,
        "after 1: [1, 2, 3, 4]"
    );
    assert_eq!(seen_of(seen, "upload-large"), [0, 1]);

    let mut call = ch
        .streaming::<SimpleRequest, SimpleResponse>(BIDI, &bopts("bidi", 2, &[]))
        .unwrap();
    call.send(&numbered(1)).unwrap();
    assert_eq!(call.message().unwrap().unwrap().username, "2:1");
    call.send(&numbered(2)).unwrap();
    assert_eq!(call.message().unwrap().unwrap().username, "2:2");
    call.close_send();
    assert!(call.message().unwrap().is_none());
    assert_eq!(seen_of(seen, "bidi"), [0, 1, 2]);

    // Split: the sender on its own thread while the receiver waits.
    let call = ch
        .streaming::<SimpleRequest, SimpleResponse>(BIDI, &bopts("bidi-split", 1, &[]))
        .unwrap();
    let (mut sender, mut receiver) = call.split();
    let sending = std::thread::spawn(move || {
        for n in 1..=3 {
            sender.send(&numbered(n)).unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
        sender.close_send();
    });
    let answers: Vec<String> = std::iter::from_fn(|| receiver.message().unwrap())
        .map(|m| m.username)
        .collect();
    sending.join().unwrap();
    assert_eq!(answers, ["1:1", "1:2", "1:3"]);
    assert_eq!(seen_of(seen, "bidi-split"), [0, 1]);

    let mut call = ch
        .streaming::<SimpleRequest, SimpleResponse>(
            BIDI,
            &bopts("bidi-commit", 0, &[("x-commit", "1")]),
        )
        .unwrap();
    call.send(&numbered(1)).unwrap();
    assert_eq!(call.message().unwrap().unwrap().username, "0:1");
    assert_eq!(call.message().unwrap_err().code, Code::Unavailable);
    assert_eq!(seen_of(seen, "bidi-commit"), [0]);

    let mut call = ch
        .streaming::<SimpleRequest, SimpleResponse>(
            BIDI,
            &bopts("bidi-internal", 3, &[("x-code", "13")]),
        )
        .unwrap();
    let _ = call.send(&numbered(1));
    assert_eq!(call.message().unwrap_err().code, Code::Internal);
    assert_eq!(seen_of(seen, "bidi-internal"), [0]);

    let started = std::time::Instant::now();
    let mut call = ch
        .client_streaming::<SimpleRequest, SimpleResponse>(
            UPLOAD,
            &bopts("upload-pushback", 1, &[("x-pushback", "150")]),
        )
        .unwrap();
    call.send(&numbered(7)).unwrap();
    assert_eq!(call.finish().unwrap().message.username, "after 1: [7]");
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(seen_of(seen, "upload-pushback"), [0, 1]);
}

/// The blocking twin of [`keepalive_case`].
fn blocking_keepalive_case(target: &str, key: &str) {
    use wirestate_blocking::grpc::{CallOptions as BOpts, Channel as BChannel};
    let ka = BChannel::builder(target)
        .config(
            ChannelConfig::new()
                .keepalive(Duration::from_millis(25))
                .keepalive_without_calls(true)
                .retry_policy(policy(3)),
        )
        .connect()
        .unwrap();
    let req = SimpleRequest::default();
    let call = || {
        let o = BOpts::default()
            .with_metadata(opts(key, 0, &[]).metadata)
            .with_timeout(Duration::from_secs(10));
        ka.unary::<_, SimpleResponse>(UNARY, &req, &o).unwrap();
    };
    for _ in 0..12 {
        call();
        if ka.keepalive_interval() == Some(MIN_PING) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(ka.keepalive_interval(), Some(MIN_PING));
    assert!(ka.connections() >= 4, "{}", ka.connections());
    call();
    let connections = ka.connections();
    std::thread::sleep(MIN_PING * 4);
    call();
    assert_eq!(ka.connections(), connections);
}

// ---- against grpcio (the C core) --------------------------------------
//
// scripts/interop-grpc-retry.sh starts scripts/interop_grpc_retry.py (the
// same methods, with grpcio's ping policy: 200 ms, 2 strikes) and runs
// these with WIRESTATE_GRPCIO_RETRY=host:port.

fn grpcio_addr() -> SocketAddr {
    std::env::var("WIRESTATE_GRPCIO_RETRY")
        .expect("WIRESTATE_GRPCIO_RETRY=host:port of scripts/interop_grpc_retry.py")
        .parse()
        .expect("an address")
}

/// The attempts grpcio's server noted for `key`: the values of
/// `grpc-previous-rpc-attempts` it handed the application (-1: none).
fn parse_seen(text: &str) -> Vec<i64> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect()
}

async fn grpcio_seen<R: Runtime>(ch: &Channel<R>, key: &str) -> Vec<i64> {
    let req = SimpleResponse {
        username: key.to_owned(),
        ..Default::default()
    };
    let r = ch
        .unary::<_, SimpleResponse>("/retry.Test/Seen", &req, &CallOptions::default())
        .await
        .unwrap();
    parse_seen(&r.message.username)
}

async fn grpcio_cases<R: Runtime>(rt: R, tag: &str) {
    let addr = grpcio_addr();
    let ch = Channel::builder(rt.clone(), addr)
        .config(ChannelConfig::new().retry_policy(policy(4)))
        .connect()
        .await
        .unwrap();
    let req = SimpleRequest::default();
    let key = |k: &str| format!("{tag}-{k}");

    let r = ch
        .unary::<_, SimpleResponse>(UNARY, &req, &opts(&key("ok"), 2, &[]))
        .await
        .unwrap();
    assert_eq!(r.message.username, "after 2");
    assert_eq!(grpcio_seen(&ch, &key("ok")).await, [-1, 1, 2]);

    let e = ch
        .unary::<_, SimpleResponse>(UNARY, &req, &opts(&key("internal"), 3, &[("x-code", "13")]))
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::Internal);
    assert_eq!(grpcio_seen(&ch, &key("internal")).await.len(), 1);

    let e = ch
        .unary::<_, SimpleResponse>(
            UNARY,
            &req,
            &opts(&key("pushback"), 10, &[("x-pushback", "-1")]),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::Unavailable);
    assert_eq!(grpcio_seen(&ch, &key("pushback")).await.len(), 1);

    let e = ch
        .unary::<_, SimpleResponse>(UNARY, &req, &opts(&key("exhausted"), 10, &[]))
        .await
        .unwrap_err();
    assert_eq!(e.message, "attempt 3 fails");
    assert_eq!(grpcio_seen(&ch, &key("exhausted")).await.len(), 4);

    let (_, mut stream) = ch
        .server_streaming::<_, StreamingOutputCallResponse>(
            STREAM,
            &StreamingOutputCallRequest::default(),
            &opts(&key("stream"), 0, &[]),
        )
        .await
        .unwrap();
    assert!(stream.message().await.unwrap().is_some());
    assert_eq!(stream.message().await.unwrap_err().code, Code::Unavailable);

    // Client streaming and bidi: the requests replayed to grpcio.
    let mut call =
        ch.client_streaming::<SimpleRequest, SimpleResponse>(UPLOAD, &opts(&key("upload"), 2, &[]));
    for n in 1..=3 {
        call.send(&numbered(n)).await.unwrap();
    }
    let r = call.finish().await.unwrap();
    assert_eq!(r.message.username, "after 2: [1, 2, 3]");
    assert_eq!(grpcio_seen(&ch, &key("upload")).await, [-1, 1, 2]);
    let mut call = ch.streaming::<SimpleRequest, SimpleResponse>(BIDI, &opts(&key("bidi"), 2, &[]));
    call.send(&numbered(1)).await.unwrap();
    assert_eq!(call.message().await.unwrap().unwrap().username, "2:1");
    call.send(&numbered(2)).await.unwrap();
    assert_eq!(call.message().await.unwrap().unwrap().username, "2:2");
    call.close_send();
    assert!(call.message().await.unwrap().is_none());
    assert_eq!(grpcio_seen(&ch, &key("bidi")).await, [-1, 1, 2]);
    let mut call = ch.streaming::<SimpleRequest, SimpleResponse>(
        BIDI,
        &opts(&key("bidi-commit"), 0, &[("x-commit", "1")]),
    );
    call.send(&numbered(1)).await.unwrap();
    assert_eq!(call.message().await.unwrap().unwrap().username, "0:1");
    assert_eq!(call.message().await.unwrap_err().code, Code::Unavailable);
    assert_eq!(grpcio_seen(&ch, &key("bidi-commit")).await.len(), 1);

    grpcio_hedging_cases(&rt, addr, tag).await;
    keepalive_case(rt, addr, tag).await;
}

/// A hedging policy of `max` attempts, one every `delay_ms`, UNAVAILABLE
/// non-fatal.
fn hedging(max: u32, delay_ms: u64) -> wirestate_grpc::hedging::HedgingPolicy {
    wirestate_grpc::hedging::HedgingPolicy::new(
        max,
        Duration::from_millis(delay_ms),
        [Code::Unavailable],
    )
    .unwrap()
}

/// Hedging against grpcio's /retry.Test/Slow, SlowStream and SlowBidi
/// (per-attempt delays, `x-delays`): a slow first attempt is overtaken by
/// the hedge and cancelled (grpcio sees it inactive and never finishes
/// it), a non-fatal failure hedges at once, and server-streaming and bidi
/// calls (grpcio sends the headers with the first message) are hedged
/// too, the bidi requests sent on both attempts.
async fn grpcio_hedging_cases<R: Runtime>(rt: &R, addr: SocketAddr, tag: &str) {
    let channel = |policy| {
        Channel::builder(rt.clone(), addr)
            .config(ChannelConfig::new().retry_policy(RetryConfig::from(policy)))
            .connect_lazy()
            .unwrap()
    };
    let key = |k: &str| format!("{tag}-hedge-{k}");
    let req = SimpleRequest::default();
    let ch = channel(hedging(3, 50));
    let t0 = rt.now();
    let r = ch
        .unary::<_, SimpleResponse>(
            "/retry.Test/Slow",
            &req,
            &opts(&key("slow"), 0, &[("x-delays", "1500,0")]),
        )
        .await
        .unwrap();
    assert_eq!(r.message.username, "attempt 1");
    assert!(rt.now() - t0 < Duration::from_millis(1000));
    assert_eq!(grpcio_seen(&ch, &key("slow")).await, [-1, 1]);
    let (_, mut stream) = ch
        .server_streaming::<_, StreamingOutputCallResponse>(
            "/retry.Test/SlowStream",
            &StreamingOutputCallRequest::default(),
            &opts(&key("stream"), 0, &[("x-delays", "1500,0")]),
        )
        .await
        .unwrap();
    let mut n = 0;
    while stream.message().await.unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 2);
    assert_eq!(grpcio_seen(&ch, &key("stream")).await, [-1, 1]);
    // A bidi call: both messages on every attempt, the hedge answers.
    let mut call = ch.streaming::<SimpleRequest, SimpleResponse>(
        "/retry.Test/SlowBidi",
        &opts(&key("bidi"), 0, &[("x-delays", "1500,0")]),
    );
    call.send(&numbered(1)).await.unwrap();
    call.send(&numbered(2)).await.unwrap();
    call.close_send();
    let mut got = Vec::new();
    while let Some(m) = call.message().await.unwrap() {
        got.push(m.username);
    }
    assert_eq!(got, ["1:1", "1:2"]);
    assert_eq!(grpcio_seen(&ch, &key("bidi")).await, [-1, 1]);
    // Past the slow attempts' 1.5 s: grpcio finished none (cancelled).
    rt.sleep_until(t0 + Duration::from_millis(2000)).await;
    assert_eq!(grpcio_seen(&ch, &(key("slow") + "/done")).await, [1]);
    assert_eq!(grpcio_seen(&ch, &(key("stream") + "/done")).await, [1]);
    assert_eq!(grpcio_seen(&ch, &(key("bidi") + "/done")).await, [1]);

    let ch = channel(hedging(3, 5000));
    let t0 = rt.now();
    let r = ch
        .unary::<_, SimpleResponse>("/retry.Test/Slow", &req, &opts(&key("nonfatal"), 2, &[]))
        .await
        .unwrap();
    assert_eq!(r.message.username, "attempt 2");
    assert!(rt.now() - t0 < Duration::from_secs(2));
    assert_eq!(grpcio_seen(&ch, &key("nonfatal")).await, [-1, 1, 2]);
}

/// [`grpcio_hedging_cases`] with the blocking channel.
fn grpcio_blocking_hedging(addr: &str) {
    use wirestate_blocking::grpc::{CallOptions as BOpts, Channel as BChannel};
    let channel = |policy| {
        BChannel::builder(addr)
            .config(ChannelConfig::new().retry_policy(RetryConfig::from(policy)))
            .connect_lazy()
            .unwrap()
    };
    let bopts = |key: &str, fail: u32, extra: &[(&str, &str)]| -> BOpts {
        BOpts::default()
            .with_metadata(opts(key, fail, extra).metadata)
            .with_timeout(Duration::from_secs(10))
    };
    let ch = channel(hedging(3, 50));
    let seen = |key: &str| {
        let req = SimpleResponse {
            username: key.to_owned(),
            ..Default::default()
        };
        let r = ch
            .unary::<_, SimpleResponse>("/retry.Test/Seen", &req, &BOpts::default())
            .unwrap();
        parse_seen(&r.message.username)
    };
    let req = SimpleRequest::default();
    let t0 = std::time::Instant::now();
    let r = ch
        .unary::<_, SimpleResponse>(
            "/retry.Test/Slow",
            &req,
            &bopts("blocking-hedge-slow", 0, &[("x-delays", "1500,0")]),
        )
        .unwrap();
    assert_eq!(r.message.username, "attempt 1");
    assert!(t0.elapsed() < Duration::from_millis(1000));
    assert_eq!(seen("blocking-hedge-slow"), [-1, 1]);
    let (_, stream) = ch
        .server_streaming::<_, StreamingOutputCallResponse>(
            "/retry.Test/SlowStream",
            &StreamingOutputCallRequest::default(),
            &bopts("blocking-hedge-stream", 0, &[("x-delays", "1500,0")]),
        )
        .unwrap();
    assert_eq!(stream.collect::<Result<Vec<_>, _>>().unwrap().len(), 2);
    assert_eq!(seen("blocking-hedge-stream"), [-1, 1]);
    let mut call = ch
        .streaming::<SimpleRequest, SimpleResponse>(
            "/retry.Test/SlowBidi",
            &bopts("blocking-hedge-bidi", 0, &[("x-delays", "1500,0")]),
        )
        .unwrap();
    call.send(&numbered(1)).unwrap();
    call.send(&numbered(2)).unwrap();
    call.close_send();
    let mut got = Vec::new();
    while let Some(m) = call.message().unwrap() {
        got.push(m.username);
    }
    assert_eq!(got, ["1:1", "1:2"]);
    assert_eq!(seen("blocking-hedge-bidi"), [-1, 1]);
    std::thread::sleep(Duration::from_millis(2000).saturating_sub(t0.elapsed()));
    assert_eq!(seen("blocking-hedge-slow/done"), [1]);
    assert_eq!(seen("blocking-hedge-stream/done"), [1]);
    assert_eq!(seen("blocking-hedge-bidi/done"), [1]);
    let ch = channel(hedging(3, 5000));
    let r = ch
        .unary::<_, SimpleResponse>(
            "/retry.Test/Slow",
            &req,
            &bopts("blocking-hedge-nonfatal", 2, &[]),
        )
        .unwrap();
    assert_eq!(r.message.username, "attempt 2");
}

#[test]
#[ignore = "needs the grpcio server of scripts/interop-grpc-retry.sh"]
fn grpcio_server_tokio_channel() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(BOUND, grpcio_cases(wirestate_tokio::TokioRuntime, "tokio"))
            .await
            .expect("bounded");
    });
}

#[test]
#[ignore = "needs the grpcio server of scripts/interop-grpc-retry.sh"]
fn grpcio_server_smol_channel() {
    let ex = Arc::new(smol::Executor::new());
    let rt = wirestate_smol::SmolRuntime::with_executor(ex.clone());
    smol::block_on(ex.run(async {
        let timer = async {
            smol::Timer::after(BOUND).await;
            panic!("not done in time");
        };
        futures_lite::future::or(grpcio_cases(rt, "smol"), timer).await;
    }));
}

#[test]
#[ignore = "needs the grpcio server of scripts/interop-grpc-retry.sh"]
fn grpcio_server_blocking_channel() {
    use wirestate_blocking::grpc::{CallOptions as BOpts, Channel as BChannel};
    let addr = grpcio_addr().to_string();
    let bopts = |key: &str, fail: u32, extra: &[(&str, &str)]| -> BOpts {
        BOpts::default()
            .with_metadata(opts(key, fail, extra).metadata)
            .with_timeout(Duration::from_secs(10))
    };
    let ch = BChannel::builder(&addr)
        .config(ChannelConfig::new().retry_policy(policy(4)))
        .connect()
        .unwrap();
    let seen = |key: &str| {
        let req = SimpleResponse {
            username: key.to_owned(),
            ..Default::default()
        };
        let r = ch
            .unary::<_, SimpleResponse>("/retry.Test/Seen", &req, &BOpts::default())
            .unwrap();
        parse_seen(&r.message.username)
    };
    let req = SimpleRequest::default();
    let r = ch
        .unary::<_, SimpleResponse>(UNARY, &req, &bopts("blocking-ok", 2, &[]))
        .unwrap();
    assert_eq!(r.message.username, "after 2");
    assert_eq!(seen("blocking-ok"), [-1, 1, 2]);
    let e = ch
        .unary::<_, SimpleResponse>(
            UNARY,
            &req,
            &bopts("blocking-internal", 3, &[("x-code", "13")]),
        )
        .unwrap_err();
    assert_eq!(e.code, Code::Internal);
    assert_eq!(seen("blocking-internal").len(), 1);
    let e = ch
        .unary::<_, SimpleResponse>(
            UNARY,
            &req,
            &bopts("blocking-pushback", 10, &[("x-pushback", "-1")]),
        )
        .unwrap_err();
    assert_eq!(e.code, Code::Unavailable);
    assert_eq!(seen("blocking-pushback").len(), 1);

    let mut call = ch
        .client_streaming::<SimpleRequest, SimpleResponse>(
            UPLOAD,
            &bopts("blocking-upload", 2, &[]),
        )
        .unwrap();
    for n in 1..=3 {
        call.send(&numbered(n)).unwrap();
    }
    assert_eq!(
        call.finish().unwrap().message.username,
        "after 2: [1, 2, 3]"
    );
    assert_eq!(seen("blocking-upload"), [-1, 1, 2]);
    let mut call = ch
        .streaming::<SimpleRequest, SimpleResponse>(BIDI, &bopts("blocking-bidi", 1, &[]))
        .unwrap();
    call.send(&numbered(1)).unwrap();
    assert_eq!(call.message().unwrap().unwrap().username, "1:1");
    call.close_send();
    assert!(call.message().unwrap().is_none());
    assert_eq!(seen("blocking-bidi"), [-1, 1]);

    grpcio_blocking_hedging(&addr);
    blocking_keepalive_case(&addr, "blocking-keepalive");
}

/// A blocking bidi call whose request outgrows the retry buffer while a
/// retry waits out its backoff cannot be replayed: the call ends with the
/// failed attempt's status instead of a new attempt that would carry the
/// later messages without the earlier ones (found in review: the new
/// attempt replayed nothing and went on live).
#[test]
fn blocking_retry_buffer_outgrown_during_the_backoff_ends_the_call() {
    use wirestate_blocking::grpc::{CallOptions as BOpts, Channel as BChannel};
    let seen = Seen::default();
    let (addr, handle) = start_blocking(seen.clone());
    let ch = BChannel::builder(&addr.to_string())
        .config(
            ChannelConfig::new()
                .retry_policy(policy(4))
                .retry_buffer_size(1 << 10),
        )
        .connect()
        .unwrap();
    // The first attempt fails at once, and the retry waits 1 s.
    let o = opts("overflow", 1, &[("x-pushback", "1000")]);
    let bopts = BOpts::default()
        .with_metadata(o.metadata)
        .with_timeout(Duration::from_secs(10));
    let call = ch
        .streaming::<SimpleRequest, SimpleResponse>(BIDI, &bopts)
        .unwrap();
    let (mut sender, mut receiver) = call.split();
    sender.send(&numbered(1)).unwrap();
    let receiving = std::thread::spawn(move || {
        let mut answers = Vec::new();
        loop {
            match receiver.message() {
                Ok(Some(m)) => answers.push(m.username),
                Ok(None) => return Ok(answers),
                Err(status) => return Err((status, answers)),
            }
        }
    });
    // In the backoff: 50 KiB go past the 1 KiB buffer (the call commits,
    // its kept message 1 is gone).
    std::thread::sleep(Duration::from_millis(300));
    let _ = sender.send(&numbered_large(2));
    std::thread::sleep(Duration::from_millis(1200));
    let _ = sender.send(&numbered(3));
    sender.close_send();
    match receiving.join().unwrap() {
        Err((status, answers)) => {
            assert_eq!(status.code, Code::Unavailable, "{status:?}");
            assert!(answers.is_empty(), "{answers:?}");
        }
        Ok(answers) => panic!("a retry without message 1 answered {answers:?}"),
    }
    assert_eq!(seen_of(&seen, "overflow"), [0]);
    drop(ch);
    handle.shutdown();
}

/// Dropping either half of a blocking streaming call cancels it, under a
/// retry policy as without one: the server's handler sees the end of its
/// requests and the other half an error at once, not at the deadline
/// (found in review: the kept writer and response outlived the dropped
/// half).
#[test]
fn blocking_dropped_half_cancels_a_retried_call() {
    use wirestate_blocking::grpc::{CallOptions as BOpts, Channel as BChannel};
    let seen = Seen::default();
    let (addr, handle) = start_blocking(seen.clone());
    let target = addr.to_string();
    let retrying = BChannel::builder(&target)
        .config(ChannelConfig::new().retry_policy(policy(4)))
        .connect()
        .unwrap();
    let plain = BChannel::connect(&target).unwrap();
    for (tag, ch) in [("plain", &plain), ("retrying", &retrying)] {
        // The sender dropped without closing: the upload handler, reading
        // every request before it answers, is cut off.
        let key = format!("drop-sender-{tag}");
        let bopts = BOpts::default()
            .with_metadata(opts(&key, 0, &[]).metadata)
            .with_timeout(Duration::from_secs(20));
        let call = ch
            .streaming::<SimpleRequest, SimpleResponse>(UPLOAD, &bopts)
            .unwrap();
        let (mut sender, mut receiver) = call.split();
        sender.send(&numbered(1)).unwrap();
        let started = std::time::Instant::now();
        drop(sender);
        let e = receiver.message().unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{tag}: {e:?} after {:?}",
            started.elapsed()
        );
        assert_ne!(e.code, Code::DeadlineExceeded, "{tag}");

        // The receiver dropped: the sender is told at once.
        let key = format!("drop-receiver-{tag}");
        let bopts = BOpts::default()
            .with_metadata(opts(&key, 0, &[]).metadata)
            .with_timeout(Duration::from_secs(20));
        let call = ch
            .streaming::<SimpleRequest, SimpleResponse>(BIDI, &bopts)
            .unwrap();
        let (mut sender, receiver) = call.split();
        sender.send(&numbered(1)).unwrap();
        drop(receiver);
        let until = std::time::Instant::now() + Duration::from_secs(5);
        let mut failed = None;
        while failed.is_none() && std::time::Instant::now() < until {
            failed = sender.send(&numbered(2)).err();
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(failed.is_some(), "{tag}: sends still taken after the drop");
    }
    drop((plain, retrying));
    handle.shutdown();
}

/// A blocking bidi call split across two threads, whose first attempt
/// fails once the server read all its requests: the retry (started by
/// the receiving half, waiting for the response) replays 3 MB, far past
/// the HTTP/2 windows and the queues between the two ends, to a server
/// that echoes each request (50 KiB each way), and the call completes
/// with every answer.
#[test]
fn blocking_large_replay_to_an_echo_server_does_not_stall() {
    use wirestate_blocking::grpc::{CallOptions as BOpts, Channel as BChannel};
    let seen = Seen::default();
    let (addr, handle) = start_blocking(seen.clone());
    let ch = BChannel::builder(&addr.to_string())
        .config(
            ChannelConfig::new()
                .retry_policy(policy(4))
                .retry_buffer_size(4 << 20),
        )
        .connect()
        .unwrap();
    // The first attempt reads every request, then fails.
    let o = opts("large-replay", 1, &[("x-drain", "1"), ("x-echo", "1")]);
    let bopts = BOpts::default()
        .with_metadata(o.metadata)
        .with_timeout(Duration::from_secs(10));
    let call = ch
        .streaming::<SimpleRequest, SimpleResponse>(BIDI, &bopts)
        .unwrap();
    let (mut sender, mut receiver) = call.split();
    let sending = std::thread::spawn(move || {
        for n in 1..=60 {
            sender.send(&numbered_large(n)).unwrap();
        }
        sender.close_send();
    });
    let mut answers = Vec::new();
    let end = loop {
        match receiver.message() {
            Ok(Some(m)) => {
                let n = m.payload.map_or(0, |p| p.body.len());
                answers.push(m.username);
                assert_eq!(n, 50 << 10);
            }
            Ok(None) => break Ok(()),
            Err(status) => break Err(status),
        }
    };
    sending.join().unwrap();
    assert_eq!(end, Ok(()), "after {} answers", answers.len());
    let expected: Vec<String> = (1..=60).map(|n| format!("1:{n}")).collect();
    assert_eq!(answers, expected);
    assert_eq!(seen_of(&seen, "large-replay"), [0, 1]);
    drop(ch);
    handle.shutdown();
}

/// Dropping a streaming call before it closed its requests cancels it:
/// the server never sees the requests end cleanly (which would pass a
/// truncated upload off as a whole one), on the async channel (tokio) and
/// the blocking one, with a retry policy or without.
#[test]
fn dropped_upload_is_not_ended_cleanly() {
    let seen = Seen::default();
    let (addr, rt) = start_tokio(seen.clone());
    rt.block_on(async {
        let rt = wirestate_tokio::TokioRuntime;
        for (tag, retry) in [("plain", false), ("retrying", true)] {
            let mut config = ChannelConfig::new();
            if retry {
                config = config.retry_policy(policy(4));
            }
            let ch = Channel::builder(rt, addr)
                .config(config)
                .connect()
                .await
                .unwrap();
            let key = format!("dropped-upload-{tag}");
            let mut call =
                ch.client_streaming::<SimpleRequest, SimpleResponse>(UPLOAD, &opts(&key, 0, &[]));
            call.send(&numbered(1)).await.unwrap();
            call.send(&numbered(2)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
            drop(call);
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(seen_of(&seen, &key), [0], "{tag}");
            assert_eq!(
                seen_of(&seen, &format!("{key}/ended")),
                Vec::<u32>::new(),
                "{tag}: the server took the requests as complete"
            );
        }
    });
    // The blocking channel's writer resets its stream when dropped.
    use wirestate_blocking::grpc::{CallOptions as BOpts, Channel as BChannel};
    for (tag, retry) in [("blocking-plain", false), ("blocking-retrying", true)] {
        let mut config = ChannelConfig::new();
        if retry {
            config = config.retry_policy(policy(4));
        }
        let ch = BChannel::builder(&addr.to_string())
            .config(config)
            .connect()
            .unwrap();
        let key = format!("dropped-upload-{tag}");
        let bopts = BOpts::default()
            .with_metadata(opts(&key, 0, &[]).metadata)
            .with_timeout(Duration::from_secs(10));
        let mut call = ch
            .client_streaming::<SimpleRequest, SimpleResponse>(UPLOAD, &bopts)
            .unwrap();
        call.send(&numbered(1)).unwrap();
        call.send(&numbered(2)).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        drop(call);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(seen_of(&seen, &key), [0], "{tag}");
        assert_eq!(
            seen_of(&seen, &format!("{key}/ended")),
            Vec::<u32>::new(),
            "{tag}: the server took the requests as complete"
        );
    }
}

/// gRFC A6: every call failing with a retryable code takes a token from
/// the throttle, retried or not — a committed one too. With 3 tokens
/// (retries only while more than 1.5 are left) a committed call failing
/// with UNAVAILABLE leaves 2, so the next call's first failure leaves 1
/// and it is not retried. Committed from the start (a unary request past
/// a 10-byte retry buffer) and committed by a response (a bidi call's
/// first answer, then UNAVAILABLE; a server-streaming call's first
/// message, then UNAVAILABLE), on the tokio channel and the blocking one;
/// successes in between give the tokens back (ratio 1).
#[test]
fn committed_failures_count_for_the_throttle() {
    let seen = Seen::default();
    let (addr, rt) = start_tokio(seen.clone());
    let config = || {
        ChannelConfig::new()
            .retry_policy(
                RetryConfig::from(policy(4)).with_throttle(RetryThrottle::new(3, 1.0).unwrap()),
            )
            .retry_buffer_size(10)
    };
    let small = SimpleRequest::default();
    let big = numbered_large(1);
    rt.block_on(async {
        let ch = Channel::builder(wirestate_tokio::TokioRuntime, addr)
            .config(config())
            .connect()
            .await
            .unwrap();
        // Committed from the start: not retried, but counted.
        let e = ch
            .unary::<_, SimpleResponse>(UNARY, &big, &opts("tokio-throttle-big", 1, &[]))
            .await
            .unwrap_err();
        assert_eq!(e.code, Code::Unavailable);
        assert_eq!(seen_of(&seen, "tokio-throttle-big"), [0]);
        let e = ch
            .unary::<_, SimpleResponse>(UNARY, &small, &opts("tokio-throttle-probe", 1, &[]))
            .await
            .unwrap_err();
        assert_eq!(e.code, Code::Unavailable);
        assert_eq!(seen_of(&seen, "tokio-throttle-probe"), [0], "not throttled");
        // 1 token; two successes bring it back to 3.
        for _ in 0..2 {
            ch.unary::<_, SimpleResponse>(UNARY, &small, &opts("tokio-throttle-ok", 0, &[]))
                .await
                .unwrap();
        }
        // Committed by the response headers, then UNAVAILABLE.
        let mut call = ch.streaming::<SimpleRequest, SimpleResponse>(
            BIDI,
            &opts("tokio-throttle-bidi", 0, &[("x-commit", "1")]),
        );
        call.send(&numbered(1)).await.unwrap();
        assert_eq!(call.message().await.unwrap().unwrap().username, "0:1");
        assert_eq!(call.message().await.unwrap_err().code, Code::Unavailable);
        drop(call);
        let e = ch
            .unary::<_, SimpleResponse>(UNARY, &small, &opts("tokio-throttle-probe2", 1, &[]))
            .await
            .unwrap_err();
        assert_eq!(e.code, Code::Unavailable);
        assert_eq!(
            seen_of(&seen, "tokio-throttle-probe2"),
            [0],
            "not throttled"
        );
        // A server-streaming call: committed by its first message, then
        // UNAVAILABLE, counted once its stream ends.
        for _ in 0..2 {
            ch.unary::<_, SimpleResponse>(UNARY, &small, &opts("tokio-throttle-ok", 0, &[]))
                .await
                .unwrap();
        }
        let (_, mut stream) = ch
            .server_streaming::<_, StreamingOutputCallResponse>(
                STREAM,
                &StreamingOutputCallRequest::default(),
                &opts("tokio-throttle-stream", 0, &[]),
            )
            .await
            .unwrap();
        assert!(stream.message().await.unwrap().is_some());
        assert_eq!(stream.message().await.unwrap_err().code, Code::Unavailable);
        let e = ch
            .unary::<_, SimpleResponse>(UNARY, &small, &opts("tokio-throttle-probe3", 1, &[]))
            .await
            .unwrap_err();
        assert_eq!(e.code, Code::Unavailable);
        assert_eq!(
            seen_of(&seen, "tokio-throttle-probe3"),
            [0],
            "server streaming: not throttled"
        );
    });

    use wirestate_blocking::grpc::{CallOptions as BOpts, Channel as BChannel};
    let bopts = |key: &str, fail: u32, extra: &[(&str, &str)]| -> BOpts {
        BOpts::default()
            .with_metadata(opts(key, fail, extra).metadata)
            .with_timeout(Duration::from_secs(10))
    };
    let ch = BChannel::builder(&addr.to_string())
        .config(config())
        .connect()
        .unwrap();
    let e = ch
        .unary::<_, SimpleResponse>(UNARY, &big, &bopts("blocking-throttle-big", 1, &[]))
        .unwrap_err();
    assert_eq!(e.code, Code::Unavailable);
    assert_eq!(seen_of(&seen, "blocking-throttle-big"), [0]);
    let e = ch
        .unary::<_, SimpleResponse>(UNARY, &small, &bopts("blocking-throttle-probe", 1, &[]))
        .unwrap_err();
    assert_eq!(e.code, Code::Unavailable);
    assert_eq!(
        seen_of(&seen, "blocking-throttle-probe"),
        [0],
        "not throttled"
    );
    for _ in 0..2 {
        ch.unary::<_, SimpleResponse>(UNARY, &small, &bopts("blocking-throttle-ok", 0, &[]))
            .unwrap();
    }
    let mut call = ch
        .streaming::<SimpleRequest, SimpleResponse>(
            BIDI,
            &bopts("blocking-throttle-bidi", 0, &[("x-commit", "1")]),
        )
        .unwrap();
    call.send(&numbered(1)).unwrap();
    assert_eq!(call.message().unwrap().unwrap().username, "0:1");
    assert_eq!(call.message().unwrap_err().code, Code::Unavailable);
    drop(call);
    let e = ch
        .unary::<_, SimpleResponse>(UNARY, &small, &bopts("blocking-throttle-probe2", 1, &[]))
        .unwrap_err();
    assert_eq!(e.code, Code::Unavailable);
    assert_eq!(
        seen_of(&seen, "blocking-throttle-probe2"),
        [0],
        "not throttled"
    );
    for _ in 0..2 {
        ch.unary::<_, SimpleResponse>(UNARY, &small, &bopts("blocking-throttle-ok", 0, &[]))
            .unwrap();
    }
    let (_, mut stream) = ch
        .server_streaming::<_, StreamingOutputCallResponse>(
            STREAM,
            &StreamingOutputCallRequest::default(),
            &bopts("blocking-throttle-stream", 0, &[]),
        )
        .unwrap();
    assert!(stream.message().unwrap().is_some());
    assert_eq!(stream.message().unwrap_err().code, Code::Unavailable);
    let e = ch
        .unary::<_, SimpleResponse>(UNARY, &small, &bopts("blocking-throttle-probe3", 1, &[]))
        .unwrap_err();
    assert_eq!(e.code, Code::Unavailable);
    assert_eq!(
        seen_of(&seen, "blocking-throttle-probe3"),
        [0],
        "server streaming: not throttled"
    );
}

/// A request of 39 bytes framed: two fit a 100-byte channel retry
/// buffer, three do not.
fn sized(n: i32) -> SimpleRequest {
    SimpleRequest {
        response_size: n,
        payload: Some(wirestate_proto::grpc::testing::Payload {
            body: vec![0; 28],
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A streaming call that ended without being committed — a trailers-only
/// OK, or a retry the deadline left no time for — keeps nothing of what
/// is sent on it afterwards in the channel's retry buffer (100 bytes
/// here), though it is not dropped: an upload of one message failing
/// once, sent next, still finds room to be kept and is retried. On the
/// tokio channel (which kept them until the call was dropped) and the
/// blocking one.
#[test]
fn ended_calls_keep_nothing_for_replay() {
    let seen = Seen::default();
    let (addr, rt) = start_tokio(seen.clone());
    let config = || {
        ChannelConfig::new()
            .retry_policy(policy(4))
            .channel_retry_buffer_size(100)
    };
    let short = |key: &str, fail: u32, extra: &[(&str, &str)]| {
        let o = opts(key, fail, extra);
        o.with_timeout(Duration::from_millis(500))
    };
    rt.block_on(async {
        let ch = Channel::builder(wirestate_tokio::TokioRuntime, addr)
            .config(config())
            .connect()
            .await
            .unwrap();
        let cases = [
            (
                "done",
                opts("tokio-ended-done", 0, &[("x-done", "1")]),
                None,
            ),
            (
                "deadline",
                short("tokio-ended-deadline", 1, &[("x-pushback", "5000")]),
                Some(Code::Unavailable),
            ),
        ];
        for (tag, o, code) in cases {
            let mut call = ch.streaming::<SimpleRequest, SimpleResponse>(BIDI, &o);
            // May find the call over already.
            let _ = call.send(&sized(1)).await;
            match code {
                None => assert!(call.message().await.unwrap().is_none(), "{tag}"),
                Some(code) => assert_eq!(call.message().await.unwrap_err().code, code, "{tag}"),
            }
            // The call is over but not dropped.
            let _ = call.send(&sized(2)).await;
            let _ = call.send(&sized(3)).await;
            let key = format!("tokio-ended-probe-{tag}");
            let mut probe =
                ch.client_streaming::<SimpleRequest, SimpleResponse>(UPLOAD, &opts(&key, 1, &[]));
            probe.send(&sized(7)).await.unwrap();
            let r = probe.finish().await;
            assert_eq!(
                seen_of(&seen, &key),
                [0, 1],
                "{tag}: the probe was not retried"
            );
            assert_eq!(r.unwrap().message.username, "after 1: [7]");
            drop(call);
        }
    });

    use wirestate_blocking::grpc::{CallOptions as BOpts, Channel as BChannel};
    let bopts = |o: CallOptions| -> BOpts {
        BOpts::default()
            .with_metadata(o.metadata)
            .with_timeout(o.timeout.unwrap())
    };
    let ch = BChannel::builder(&addr.to_string())
        .config(config())
        .connect()
        .unwrap();
    let cases = [
        (
            "done",
            opts("blocking-ended-done", 0, &[("x-done", "1")]),
            None,
        ),
        (
            "deadline",
            short("blocking-ended-deadline", 1, &[("x-pushback", "5000")]),
            Some(Code::Unavailable),
        ),
    ];
    for (tag, o, code) in cases {
        let mut call = ch
            .streaming::<SimpleRequest, SimpleResponse>(BIDI, &bopts(o))
            .unwrap();
        let _ = call.send(&sized(1));
        match code {
            None => assert!(call.message().unwrap().is_none(), "{tag}"),
            Some(code) => assert_eq!(call.message().unwrap_err().code, code, "{tag}"),
        }
        let _ = call.send(&sized(2));
        let _ = call.send(&sized(3));
        let key = format!("blocking-ended-probe-{tag}");
        let mut probe = ch
            .client_streaming::<SimpleRequest, SimpleResponse>(UPLOAD, &bopts(opts(&key, 1, &[])))
            .unwrap();
        probe.send(&sized(7)).unwrap();
        let r = probe.finish();
        assert_eq!(
            seen_of(&seen, &key),
            [0, 1],
            "{tag}: the probe was not retried"
        );
        assert_eq!(r.unwrap().message.username, "after 1: [7]");
        drop(call);
    }
}

/// A bare HTTP/2 server (our h2 machine on a std socket) that never
/// answers and notes the code of every RST_STREAM its clients send.
fn start_reset_recorder() -> (SocketAddr, Arc<Mutex<Vec<u32>>>) {
    use std::io::{Read, Write};
    use wirestate_h2::connection::{Config, Connection, Event};
    use wirestate_machine::{Machine, Transmit};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let resets = Arc::new(Mutex::new(Vec::new()));
    let noted = resets.clone();
    std::thread::spawn(move || {
        for socket in listener.incoming() {
            let Ok(mut socket) = socket else { return };
            let noted = noted.clone();
            std::thread::spawn(move || {
                socket
                    .set_read_timeout(Some(Duration::from_millis(20)))
                    .unwrap();
                let mut m = Connection::server(Config::default());
                let mut buf = vec![0; 64 << 10];
                let started = std::time::Instant::now();
                while started.elapsed() < BOUND {
                    let now = std::time::Instant::now();
                    match socket.read(&mut buf) {
                        Ok(0) => {
                            let _ = m.handle_eof(now);
                        }
                        Ok(n) => {
                            if m.handle_input(now, &buf[..n]).is_err() {
                                return;
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                        Err(_) => return,
                    }
                    while let Some(event) = m.poll_event() {
                        match event {
                            Event::Data {
                                stream, flow_len, ..
                            } => {
                                let _ = m.release_capacity(stream, flow_len);
                            }
                            Event::Reset {
                                code, remote: true, ..
                            } => noted.lock().unwrap().push(u32::from(code)),
                            _ => {}
                        }
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
                    if m.is_closed() {
                        return;
                    }
                }
            });
        }
    });
    (addr, resets)
}

/// gRPC's PROTOCOL-HTTP2: a client cancelling a call sends
/// RST_STREAM(CANCEL). A streaming call dropped before it closed its
/// requests resets its stream with CANCEL (8), not INTERNAL_ERROR (2),
/// on the tokio channel with and without a retry policy, and on the
/// blocking one.
#[test]
fn dropped_streaming_call_resets_with_cancel() {
    const CANCEL: u32 = 8;
    let (addr, resets) = start_reset_recorder();
    let wait_for_reset = |tag: &str| {
        let started = std::time::Instant::now();
        while resets.lock().unwrap().is_empty() && started.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let got = std::mem::take(&mut *resets.lock().unwrap());
        assert_eq!(got, [CANCEL], "{tag}: RST_STREAM codes");
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for (tag, retry) in [("plain", false), ("retrying", true)] {
        rt.block_on(async {
            let mut config = ChannelConfig::new();
            if retry {
                config = config.retry_policy(policy(4));
            }
            let ch = Channel::builder(wirestate_tokio::TokioRuntime, addr)
                .config(config)
                .connect()
                .await
                .unwrap();
            let mut call = ch.client_streaming::<SimpleRequest, SimpleResponse>(
                UPLOAD,
                &opts(&format!("cancel-{tag}"), 0, &[]),
            );
            call.send(&numbered(1)).await.unwrap();
            call.send(&numbered(2)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
            drop(call);
            tokio::time::sleep(Duration::from_millis(100)).await;
            drop(ch);
        });
        wait_for_reset(tag);
    }
    use wirestate_blocking::grpc::{CallOptions as BOpts, Channel as BChannel};
    for (tag, retry) in [("blocking-plain", false), ("blocking-retrying", true)] {
        let mut config = ChannelConfig::new();
        if retry {
            config = config.retry_policy(policy(4));
        }
        let ch = BChannel::builder(&addr.to_string())
            .config(config)
            .connect()
            .unwrap();
        let bopts = BOpts::default()
            .with_metadata(opts(&format!("cancel-{tag}"), 0, &[]).metadata)
            .with_timeout(Duration::from_secs(10));
        let mut call = ch
            .client_streaming::<SimpleRequest, SimpleResponse>(UPLOAD, &bopts)
            .unwrap();
        call.send(&numbered(1)).unwrap();
        call.send(&numbered(2)).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        drop(call);
        wait_for_reset(tag);
    }
}

/// The blocking channel starts a retry's attempt without the call's lock
/// held: when that means reconnecting, and the connection takes its time
/// (an accept queue that is full, up to the connect timeout), the other
/// half of a split bidi call can still close its requests at once instead
/// of waiting for the connect.
#[test]
fn blocking_close_send_does_not_wait_for_a_reconnect() {
    use wirestate_blocking::grpc::{CallOptions as BOpts, Channel as BChannel};
    let seen = Seen::default();
    let (server, rt) = start_tokio(seen.clone());
    // A listener with an accept queue of one that forwards its first
    // connection to the server until told to cut it, then accepts none.
    let (proxy, cut) = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(1).unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(tokio::sync::Notify::new());
        let told = cut.clone();
        tokio::spawn(async move {
            let (mut client, _) = listener.accept().await.unwrap();
            let mut upstream = tokio::net::TcpStream::connect(server).await.unwrap();
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                _ = told.notified() => {}
            }
            drop((client, upstream));
            // The listener stays, never accepting again.
            tokio::time::sleep(BOUND).await;
            drop(listener);
        });
        (addr, cut)
    });
    let mut client = wirestate_blocking::h2::ClientConfig::default();
    client.connect_timeout = Duration::from_millis(1500);
    client.request_timeout = None;
    let ch = BChannel::builder(&proxy.to_string())
        .client_config(client)
        .config(ChannelConfig::new().retry_policy(policy(4)))
        .connect()
        .unwrap();
    // The first connection is forwarded; fill the accept queue behind it
    // until a connect times out.
    std::thread::sleep(Duration::from_millis(100));
    let mut queued = Vec::new();
    let full = (0..20).any(|_| {
        match std::net::TcpStream::connect_timeout(&proxy, Duration::from_millis(200)) {
            Ok(s) => {
                queued.push(s);
                false
            }
            Err(_) => true,
        }
    });
    assert!(full, "the accept queue never filled");

    // The first attempt fails with a pushback of 300 ms; the connection
    // is cut meanwhile, so the retry reconnects, and waits.
    let o = opts("reconnecting", 1, &[("x-pushback", "300")]);
    let o = BOpts::default()
        .with_metadata(o.metadata)
        .with_timeout(Duration::from_millis(2500));
    let call = ch
        .streaming::<SimpleRequest, SimpleResponse>(BIDI, &o)
        .unwrap();
    let (mut sender, mut receiver) = call.split();
    sender.send(&numbered(1)).unwrap();
    let receiving = std::thread::spawn(move || receiver.message());
    let started = std::time::Instant::now();
    while seen_of(&seen, "reconnecting").is_empty() && started.elapsed() < BOUND {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    cut.notify_one();
    // The retry is due at 300 ms: by 600 ms it is connecting.
    std::thread::sleep(Duration::from_millis(550));
    let closing = std::time::Instant::now();
    sender.close_send();
    let took = closing.elapsed();
    assert!(
        took < Duration::from_millis(400),
        "close_send waited {took:?} for the reconnect"
    );
    // The call fails in the end (no connection to be had).
    assert!(receiving.join().unwrap().is_err());
    drop(queued);
}

/// Simultaneous first calls of a lazily connecting blocking channel
/// share the one connection the first of them opens (the others wait for
/// it, not for a lock held through the connect), and all succeed.
#[test]
fn blocking_first_calls_share_one_connect() {
    use wirestate_blocking::grpc::{CallOptions as BOpts, Channel as BChannel};
    let seen = Seen::default();
    let (addr, handle) = start_blocking(seen.clone());
    let ch = BChannel::builder(&addr.to_string()).connect_lazy().unwrap();
    let barrier = Arc::new(std::sync::Barrier::new(16));
    let calls: Vec<_> = (0..16)
        .map(|i| {
            let (ch, barrier) = (ch.clone(), barrier.clone());
            std::thread::spawn(move || {
                let o = opts(&format!("first-{i}"), 0, &[]);
                let o = BOpts::default()
                    .with_metadata(o.metadata)
                    .with_timeout(Duration::from_secs(10));
                barrier.wait();
                ch.unary::<_, SimpleResponse>(UNARY, &SimpleRequest::default(), &o)
                    .map(|r| r.message.username)
            })
        })
        .collect();
    for call in calls {
        assert_eq!(call.join().unwrap().unwrap(), "after 0");
    }
    assert_eq!(ch.connections(), 1);
    drop(ch);
    handle.shutdown();
}

/// While a lazily connecting blocking channel's first call connects to a
/// listener whose accept queue is full (the connect hangs), a second call
/// waits for that connection only until its own deadline, the first
/// gives up at its deadline rather than the 10 s connect timeout, and the
/// channel's queries do not wait for the connect.
#[test]
fn blocking_slow_connect_holds_up_no_one_past_their_deadline() {
    use wirestate_blocking::grpc::{CallOptions as BOpts, Channel as BChannel};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // A listener that never accepts, its queue filled until connects hang.
    let listener = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        socket.listen(1).unwrap()
    });
    let addr = listener.local_addr().unwrap();
    let mut queued = Vec::new();
    let full = (0..20).any(|_| {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(s) => {
                queued.push(s);
                false
            }
            Err(_) => true,
        }
    });
    assert!(full, "the accept queue never filled");
    let ch = BChannel::builder(&addr.to_string()).connect_lazy().unwrap();
    let call = |timeout_ms: u64| {
        let ch = ch.clone();
        std::thread::spawn(move || {
            let o = BOpts::default().with_timeout(Duration::from_millis(timeout_ms));
            let started = std::time::Instant::now();
            let r = ch.unary::<_, SimpleResponse>(UNARY, &SimpleRequest::default(), &o);
            (r.map(|_| ()), started.elapsed())
        })
    };
    let first = call(1000);
    std::thread::sleep(Duration::from_millis(100));
    let second = call(300);
    std::thread::sleep(Duration::from_millis(50));
    let asked = std::time::Instant::now();
    assert_eq!(ch.connections(), 0);
    assert!(asked.elapsed() < Duration::from_millis(100));
    let (r, took) = second.join().unwrap();
    assert!(r.is_err());
    assert!(
        took < Duration::from_millis(800),
        "the second call took {took:?}"
    );
    let (r, took) = first.join().unwrap();
    assert!(r.is_err());
    assert!(
        took < Duration::from_millis(2500),
        "the first call took {took:?}"
    );
    drop((queued, listener));
}
