//! Our gRPC channels (tokio, smol, blocking) against grpc-go's server
//! (Debian's golang-google-grpc-dev, scripts/grpc-go/server), beyond the
//! standard interop cases: what grpc-go's transport does by default that
//! the 18 cases do not reach.
//!
//! * 200 large unary calls at once on one channel: grpc-go's server grows
//!   its windows with BDP PINGs and SETTINGS while our client sends;
//! * 1,000 round trips on one bidi call: a BDP PING from grpc-go after
//!   nearly every message we send;
//! * 300 bidi calls the server ends with a status while we still send:
//!   grpc-go follows each one's trailers with RST_STREAM(NO_ERROR), which
//!   must not count as a flood against the connection;
//! * keep-alive: grpc-go's `EnforcementPolicy` (the script starts the
//!   server with `--keepalive_min_time=200ms`) answers a channel pinging
//!   every 25 ms with GOAWAY ENHANCE_YOUR_CALM `too_many_pings`; the
//!   channel reconnects with its interval doubled until grpc-go is
//!   content, every call succeeding along the way.
//!
//! The tests are ignored by default: scripts/interop-grpc-go.sh builds and
//! starts the server and runs them with `WIRESTATE_GRPC_GO=host:port`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use wirestate_grpc::ChannelConfig;
use wirestate_proto::grpc::testing::{
    EchoStatus, Payload, ResponseParameters, SimpleRequest, SimpleResponse,
    StreamingOutputCallRequest, StreamingOutputCallResponse,
};
use wirestate_rt::Runtime;
use wirestate_rt::grpc::{CallOptions, Channel};

const BOUND: Duration = Duration::from_secs(60);
const UNARY: &str = "/grpc.testing.TestService/UnaryCall";
const BIDI: &str = "/grpc.testing.TestService/FullDuplexCall";
/// The grpc-go server's `EnforcementPolicy::MinTime` (the script's flag).
const MIN_PING: Duration = Duration::from_millis(200);
const CONCURRENT: usize = 200;
/// Calls the server ends while we still send: grpc-go follows its
/// trailers with RST_STREAM(NO_ERROR) for each.
const ENDED_EARLY: usize = 300;
const ROUND_TRIPS: usize = 1_000;

fn addr() -> SocketAddr {
    std::env::var("WIRESTATE_GRPC_GO")
        .expect("WIRESTATE_GRPC_GO=host:port of scripts/grpc-go/server")
        .parse()
        .expect("an address")
}

fn zeros(n: usize) -> Option<Payload> {
    Some(Payload {
        body: vec![0; n],
        ..Default::default()
    })
}

/// large_unary's request: 271,828 bytes up, 314,159 asked back.
fn large() -> SimpleRequest {
    SimpleRequest {
        response_size: 314_159,
        payload: zeros(271_828),
        ..Default::default()
    }
}

fn round_trip() -> StreamingOutputCallRequest {
    StreamingOutputCallRequest {
        response_parameters: vec![ResponseParameters {
            size: 100,
            ..Default::default()
        }],
        payload: zeros(100),
        ..Default::default()
    }
}

/// A bidi request the server answers by ending the call with UNKNOWN.
fn fail_now() -> StreamingOutputCallRequest {
    StreamingOutputCallRequest {
        response_status: Some(EchoStatus {
            code: 2,
            message: "ended early".into(),
        }),
        ..Default::default()
    }
}

fn body_len(r: &SimpleResponse) -> usize {
    r.payload.as_ref().map_or(0, |p| p.body.len())
}

fn opts() -> CallOptions {
    CallOptions::default().with_timeout(Duration::from_secs(30))
}

async fn cases<R: Runtime>(rt: R) {
    let ch = Channel::builder(rt.clone(), addr())
        .connect()
        .await
        .unwrap();

    // Many large calls at once on one connection.
    let calls = (0..CONCURRENT).map(|_| {
        let ch = ch.clone();
        async move {
            let req = large();
            ch.unary::<_, SimpleResponse>(UNARY, &req, &opts()).await
        }
    });
    for (i, r) in futures_util::future::join_all(calls)
        .await
        .into_iter()
        .enumerate()
    {
        let r = r.unwrap_or_else(|s| panic!("call {i}: {s:?}"));
        assert_eq!(body_len(&r.message), 314_159, "call {i}");
    }
    assert_eq!(ch.connections(), 1);

    // A long ping-pong on one bidi call.
    let mut call =
        ch.streaming::<StreamingOutputCallRequest, StreamingOutputCallResponse>(BIDI, &opts());
    for i in 0..ROUND_TRIPS {
        call.send(&round_trip())
            .await
            .unwrap_or_else(|s| panic!("request {i}: {s:?}"));
        let m = call
            .message()
            .await
            .unwrap_or_else(|s| panic!("response {i}: {s:?}"))
            .unwrap_or_else(|| panic!("response {i}: the stream ended"));
        assert_eq!(m.payload.map_or(0, |p| p.body.len()), 100);
    }
    call.close_send();
    assert!(call.message().await.unwrap().is_none());
    assert_eq!(ch.connections(), 1);

    // Calls the server ends while we still send (no half-close): each
    // ends with its status, and the resets that follow are no flood.
    for i in 0..ENDED_EARLY {
        let mut call =
            ch.streaming::<StreamingOutputCallRequest, StreamingOutputCallResponse>(BIDI, &opts());
        call.send(&fail_now()).await.unwrap();
        let s = call.message().await.expect_err("a status");
        assert_eq!(s.code, wirestate_grpc::Code::Unknown, "call {i}: {s:?}");
    }
    ch.unary::<_, SimpleResponse>(UNARY, &large(), &opts())
        .await
        .unwrap();
    assert_eq!(ch.connections(), 1);

    // Keep-alive against grpc-go's enforcement policy.
    let ka = Channel::builder(rt.clone(), addr())
        .config(
            ChannelConfig::new()
                .keepalive(Duration::from_millis(25))
                .keepalive_without_calls(true),
        )
        .connect()
        .await
        .unwrap();
    let req = SimpleRequest::default();
    for _ in 0..12 {
        ka.unary::<_, SimpleResponse>(UNARY, &req, &opts())
            .await
            .unwrap();
        if ka.keepalive_interval() >= Some(MIN_PING) {
            break;
        }
        rt.sleep_until(rt.now() + Duration::from_millis(500)).await;
    }
    assert_eq!(ka.keepalive_interval(), Some(MIN_PING));
    assert!(ka.connections() >= 4, "{}", ka.connections());
    // Settled: the connection outlives several pings.
    let connections = ka.connections();
    rt.sleep_until(rt.now() + MIN_PING * 5).await;
    ka.unary::<_, SimpleResponse>(UNARY, &req, &opts())
        .await
        .unwrap();
    assert_eq!(ka.connections(), connections);
    assert_eq!(ka.keepalive_interval(), Some(MIN_PING));
}

#[test]
#[ignore = "needs the grpc-go server of scripts/interop-grpc-go.sh"]
fn grpc_go_server_tokio_channel() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(BOUND, cases(wirestate_tokio::TokioRuntime))
            .await
            .expect("bounded");
    });
}

#[test]
#[ignore = "needs the grpc-go server of scripts/interop-grpc-go.sh"]
fn grpc_go_server_smol_channel() {
    let ex = Arc::new(smol::Executor::new());
    let rt = wirestate_smol::SmolRuntime::with_executor(ex.clone());
    smol::block_on(ex.run(async {
        let timer = async {
            smol::Timer::after(BOUND).await;
            panic!("not done in time");
        };
        futures_lite::future::or(cases(rt), timer).await;
    }));
}

#[test]
#[ignore = "needs the grpc-go server of scripts/interop-grpc-go.sh"]
fn grpc_go_server_blocking_channel() {
    use wirestate_blocking::grpc::{CallOptions as BOpts, Channel as BChannel};
    let target = addr().to_string();
    let opts = || BOpts::default().with_timeout(Duration::from_secs(30));
    let ch = BChannel::builder(&target).connect().unwrap();

    // Many large calls at once on one connection: 50 threads, 4 each.
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..50)
            .map(|t| {
                let ch = ch.clone();
                s.spawn(move || {
                    for i in 0..CONCURRENT / 50 {
                        let r = ch
                            .unary::<_, SimpleResponse>(UNARY, &large(), &opts())
                            .unwrap_or_else(|st| panic!("thread {t} call {i}: {st:?}"));
                        assert_eq!(body_len(&r.message), 314_159);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    });
    assert_eq!(ch.connections(), 1);

    let mut call = ch
        .streaming::<StreamingOutputCallRequest, StreamingOutputCallResponse>(BIDI, &opts())
        .unwrap();
    for i in 0..ROUND_TRIPS {
        call.send(&round_trip())
            .unwrap_or_else(|s| panic!("request {i}: {s:?}"));
        let m = call
            .message()
            .unwrap_or_else(|s| panic!("response {i}: {s:?}"))
            .unwrap_or_else(|| panic!("response {i}: the stream ended"));
        assert_eq!(m.payload.map_or(0, |p| p.body.len()), 100);
    }
    call.close_send();
    assert!(call.message().unwrap().is_none());
    assert_eq!(ch.connections(), 1);

    for i in 0..ENDED_EARLY {
        let mut call = ch
            .streaming::<StreamingOutputCallRequest, StreamingOutputCallResponse>(BIDI, &opts())
            .unwrap();
        call.send(&fail_now()).unwrap();
        let s = call.message().expect_err("a status");
        assert_eq!(s.code, wirestate_grpc::Code::Unknown, "call {i}: {s:?}");
    }
    ch.unary::<_, SimpleResponse>(UNARY, &large(), &opts())
        .unwrap();
    assert_eq!(ch.connections(), 1);

    let ka = BChannel::builder(&target)
        .config(
            ChannelConfig::new()
                .keepalive(Duration::from_millis(25))
                .keepalive_without_calls(true),
        )
        .connect()
        .unwrap();
    let req = SimpleRequest::default();
    for _ in 0..12 {
        ka.unary::<_, SimpleResponse>(UNARY, &req, &opts()).unwrap();
        if ka.keepalive_interval() >= Some(MIN_PING) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(ka.keepalive_interval(), Some(MIN_PING));
    assert!(ka.connections() >= 4, "{}", ka.connections());
    let connections = ka.connections();
    std::thread::sleep(MIN_PING * 5);
    ka.unary::<_, SimpleResponse>(UNARY, &req, &opts()).unwrap();
    assert_eq!(ka.connections(), connections);
    assert_eq!(ka.keepalive_interval(), Some(MIN_PING));
}
