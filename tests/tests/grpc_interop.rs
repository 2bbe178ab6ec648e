//! gRPC interop with tonic (dev-dependency only), both directions, over
//! h2c on 127.0.0.1:
//!
//! * tonic's client (`tonic::client::Grpc` with the prost codec over our
//!   prost types) against `wirestate serve`'s services on tokio: the four
//!   call kinds of the Echo service, gzip both ways, status and message,
//!   metadata echo, a deadline the server enforces, UNIMPLEMENTED;
//! * our client (`wirestate_rt::grpc::Channel`, on tokio and smol) against
//!   a tonic server implementing the Echo service (written the way
//!   tonic's code generator writes it): the four call kinds, gzip,
//!   metadata, a handler error, a deadline, an unknown method;
//! * the 18 standard interop cases both ways: tonic's client
//!   (tests/tests/tonic_interop) against our interop `TestService`
//!   (`wirestate_examples::grpc::test_server`), and our interop client
//!   module against tonic's `TestService`. scripts/interop-grpc.sh runs the
//!   same pairs as processes (the tonic_interop_* examples of this crate);
//! * gRPC-Web over HTTP/1.1 with tonic-web, the 12 cases gRPC-Web can
//!   carry: tonic's client through tonic-web's `GrpcWebClientLayer` (over
//!   hyper-util) against our interop `TestService` on tokio and on the
//!   blocking server, and our gRPC-Web interop client
//!   (`wirestate_examples::grpc_web::interop`: tokio binary, smol text,
//!   blocking binary) against tonic's `TestService` behind tonic-web's
//!   `GrpcWebLayer`.

mod tonic_echo;
mod tonic_interop;

use http::uri::PathAndQuery;
use std::net::SocketAddr;
use std::time::Duration;
use tonic::codec::CompressionEncoding;
use tonic_echo::start_tonic;
use wirestate_proto::grpc::testing::{
    EchoStatus, ResponseParameters, SimpleRequest, SimpleResponse, StreamingOutputCallRequest,
    StreamingOutputCallResponse, TestServiceMethod,
};
use wirestate_proto::wirestate::echo::v1::{EchoMethod, EchoRequest, EchoResponse};
use wirestate_rt::Runtime;
use wirestate_rt::grpc::{CallOptions, Channel, Code, Encoding, Metadata};
use wirestate_rt::http1::ServerConfig;

const BOUND: Duration = Duration::from_secs(20);

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn echo(message: &str, repeat: u32) -> EchoRequest {
    EchoRequest {
        message: message.into(),
        payload: vec![7; 1000],
        repeat,
    }
}

// --- tonic client -> our server ---------------------------------------------

async fn start_ours() -> SocketAddr {
    let listener = wirestate_tokio::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = wirestate_rt::Listener::local_addr(&listener).unwrap();
    let grpc = wirestate_examples::grpc::server(wirestate_tokio::TokioRuntime, Default::default());
    let handler = wirestate_examples::routes::with_grpc(grpc, wirestate_examples::routes::handle);
    tokio::spawn(wirestate_tokio::serve(
        listener,
        handler,
        ServerConfig::default(),
        wirestate_rt::Shutdown::new(),
    ));
    addr
}

type TonicClient = tonic::client::Grpc<tonic::transport::Channel>;

fn path(p: &'static str) -> PathAndQuery {
    PathAndQuery::from_static(p)
}

fn codec<Req, Resp>() -> tonic_prost::ProstCodec<Req, Resp> {
    tonic_prost::ProstCodec::default()
}

async fn tonic_client(addr: SocketAddr) -> TonicClient {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    tonic::client::Grpc::new(channel)
}

async fn tonic_against_ours(addr: SocketAddr) {
    let mut c = tonic_client(addr).await;

    // Unary, with metadata both ways (the TestService echoes it).
    c.ready().await.unwrap();
    let mut req = tonic::Request::new(SimpleRequest {
        response_size: 314_159,
        ..Default::default()
    });
    req.metadata_mut().insert(
        "x-grpc-test-echo-initial",
        "test_initial_metadata_value".parse().unwrap(),
    );
    req.metadata_mut().insert_bin(
        "x-grpc-test-echo-trailing-bin",
        tonic::metadata::MetadataValue::from_bytes(b"\xab\xab\xab"),
    );
    let r: tonic::Response<SimpleResponse> = c
        .unary(
            req,
            path("/grpc.testing.TestService/UnaryCall"),
            codec::<SimpleRequest, SimpleResponse>(),
        )
        .await
        .unwrap();
    assert_eq!(
        r.metadata().get("x-grpc-test-echo-initial").unwrap(),
        "test_initial_metadata_value"
    );
    assert_eq!(r.into_inner().payload.unwrap().body.len(), 314_159);

    // gzip both ways.
    let mut gz = tonic_client(addr)
        .await
        .send_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Gzip);
    gz.ready().await.unwrap();
    let r = gz
        .unary(
            tonic::Request::new(echo("gz", 0)),
            path("/wirestate.echo.v1.Echo/Echo"),
            codec::<EchoRequest, EchoResponse>(),
        )
        .await
        .unwrap()
        .into_inner();
    assert_eq!((r.message.as_str(), r.payload.len()), ("gz", 1000));

    // Server streaming.
    c.ready().await.unwrap();
    let mut s = c
        .server_streaming(
            tonic::Request::new(echo("s", 5)),
            path("/wirestate.echo.v1.Echo/EchoStream"),
            codec::<EchoRequest, EchoResponse>(),
        )
        .await
        .unwrap()
        .into_inner();
    let mut n = 0;
    while let Some(m) = s.message().await.unwrap() {
        assert_eq!(m.index, n);
        n += 1;
    }
    assert_eq!(n, 5);

    // Client streaming.
    c.ready().await.unwrap();
    let reqs = futures_util::stream::iter((0..4).map(|i| echo(&format!("c{i}"), 0)));
    let r = c
        .client_streaming(
            tonic::Request::new(reqs),
            path("/wirestate.echo.v1.Echo/EchoCollect"),
            codec::<EchoRequest, EchoResponse>(),
        )
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (r.message.as_str(), r.index, r.payload.len()),
        ("c3", 4, 4000)
    );

    // Bidi ping-pong.
    c.ready().await.unwrap();
    let (tx, rx) = futures_channel::mpsc::unbounded();
    let mut responses = c
        .streaming(
            tonic::Request::new(rx),
            path("/wirestate.echo.v1.Echo/EchoBidi"),
            codec::<EchoRequest, EchoResponse>(),
        )
        .await
        .unwrap()
        .into_inner();
    for i in 0..5 {
        tx.unbounded_send(echo(&format!("b{i}"), 0)).unwrap();
        let m = responses.message().await.unwrap().unwrap();
        assert_eq!((m.message, m.index), (format!("b{i}"), i));
    }
    drop(tx);
    assert!(responses.message().await.unwrap().is_none());

    // Status and message.
    c.ready().await.unwrap();
    let e = c
        .unary(
            tonic::Request::new(SimpleRequest {
                response_status: Some(EchoStatus {
                    code: 2,
                    message: "test status message ☺".into(),
                }),
                ..Default::default()
            }),
            path("/grpc.testing.TestService/UnaryCall"),
            codec::<SimpleRequest, SimpleResponse>(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unknown);
    assert_eq!(e.message(), "test status message ☺");

    // A deadline the server enforces (it sleeps 2 s before answering).
    c.ready().await.unwrap();
    let mut req = tonic::Request::new(StreamingOutputCallRequest {
        response_parameters: vec![ResponseParameters {
            size: 1,
            interval_us: 2_000_000,
            ..Default::default()
        }],
        ..Default::default()
    });
    req.set_timeout(Duration::from_millis(100));
    let started = std::time::Instant::now();
    let result = c
        .server_streaming(
            req,
            path("/grpc.testing.TestService/StreamingOutputCall"),
            codec::<StreamingOutputCallRequest, StreamingOutputCallResponse>(),
        )
        .await;
    let code = match result {
        Err(e) => e.code(),
        Ok(r) => r.into_inner().message().await.unwrap_err().code(),
    };
    assert_eq!(code, tonic::Code::DeadlineExceeded);
    assert!(started.elapsed() < Duration::from_secs(1));

    // Unknown method.
    c.ready().await.unwrap();
    let e = c
        .unary(
            tonic::Request::new(EchoRequest::default()),
            path("/wirestate.echo.v1.Echo/Nope"),
            codec::<EchoRequest, EchoResponse>(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unimplemented);
}

#[test]
fn tonic_client_against_our_server() {
    let rt = tokio_rt();
    rt.block_on(async {
        let addr = start_ours().await;
        tokio::time::timeout(BOUND, tonic_against_ours(addr))
            .await
            .expect("bounded");
    });
}

// --- our client -> tonic server ---------------------------------------------

async fn ours_against_tonic<R: Runtime>(rt: R, addr: SocketAddr) {
    let io = rt.connect(addr).await.unwrap();
    let (send, driver) = wirestate_rt::h2::handshake(rt.clone(), io, Default::default());
    rt.spawn(Box::pin(async move {
        let _ = driver.await;
    }));
    let ch = Channel::new(rt, send, &addr.to_string()).unwrap();
    let opts = CallOptions::default();

    // Unary with metadata, plain and gzip.
    let mut md = Metadata::new();
    md.insert("x-initial", "v1").unwrap();
    for opts in [
        CallOptions::default().with_metadata(md.clone()),
        CallOptions::default()
            .with_metadata(md.clone())
            .with_compression(Encoding::Gzip),
    ] {
        let r = ch
            .unary::<_, EchoResponse>(EchoMethod::Echo.path(), &echo("hi", 0), &opts)
            .await
            .unwrap();
        assert_eq!(
            (r.message.message.as_str(), r.message.payload.len()),
            ("hi", 1000)
        );
        assert_eq!(r.metadata.get_str("x-initial"), Some("v1"));
    }

    // Server streaming.
    let (_, mut s) = ch
        .server_streaming::<_, EchoResponse>(EchoMethod::EchoStream.path(), &echo("s", 6), &opts)
        .await
        .unwrap();
    let mut n = 0;
    while let Some(m) = s.message().await.unwrap() {
        assert_eq!(m.index, n);
        n += 1;
    }
    assert_eq!(n, 6);

    // Client streaming.
    let mut call = ch.client_streaming::<_, EchoResponse>(EchoMethod::EchoCollect.path(), &opts);
    for i in 0..3 {
        call.send(&echo(&format!("c{i}"), 0)).await.unwrap();
    }
    let r = call.finish().await.unwrap().message;
    assert_eq!(
        (r.message.as_str(), r.index, r.payload.len()),
        ("c2", 3, 3000)
    );

    // Bidi ping-pong.
    let mut call = ch.streaming::<_, EchoResponse>(EchoMethod::EchoBidi.path(), &opts);
    for i in 0..5u32 {
        call.send(&echo(&format!("b{i}"), 0)).await.unwrap();
        let m = call.message().await.unwrap().unwrap();
        assert_eq!((m.message, m.index), (format!("b{i}"), i));
    }
    call.close_send();
    assert!(call.message().await.unwrap().is_none());

    // A handler error.
    let e = ch
        .unary::<_, EchoResponse>(EchoMethod::Echo.path(), &echo("fail", 0), &opts)
        .await
        .unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (Code::InvalidArgument, "asked to fail")
    );

    // Our deadline, against a handler that sleeps 2 s.
    let started = std::time::Instant::now();
    let e = ch
        .unary::<_, EchoResponse>(
            EchoMethod::Echo.path(),
            &echo("sleep", 0),
            &CallOptions::default().with_timeout(Duration::from_millis(100)),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::DeadlineExceeded);
    assert!(started.elapsed() < Duration::from_secs(1));

    // Unknown method.
    let e = ch
        .unary::<_, EchoResponse>(TestServiceMethod::EmptyCall.path(), &echo("x", 0), &opts)
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::Unimplemented);
}

#[test]
fn our_tokio_client_against_tonic_server() {
    let rt = tokio_rt();
    rt.block_on(async {
        let addr = start_tonic().await;
        tokio::time::timeout(
            BOUND,
            ours_against_tonic(wirestate_tokio::TokioRuntime, addr),
        )
        .await
        .expect("bounded");
    });
}

#[test]
fn our_smol_client_against_tonic_server() {
    let tokio = tokio_rt();
    let addr = tokio.block_on(start_tonic());
    let ex = std::sync::Arc::new(smol::Executor::new());
    let rt = wirestate_smol::SmolRuntime::with_executor(ex.clone());
    smol::block_on(ex.run(async {
        let timer = async {
            smol::Timer::after(BOUND).await;
            panic!("not done in time");
        };
        futures_lite::future::or(ours_against_tonic(rt, addr), timer).await;
    }));
}

// --- the standard interop cases, both ways ---------------------------------

/// Our interop `TestService` on tokio, on 127.0.0.1 (a free port).
async fn start_test_server() -> SocketAddr {
    let listener = wirestate_tokio::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = wirestate_rt::Listener::local_addr(&listener).unwrap();
    let server = wirestate_examples::grpc::test_server(wirestate_tokio::TokioRuntime);
    tokio::spawn(wirestate_tokio::serve(
        listener,
        server,
        ServerConfig::default(),
        wirestate_rt::Shutdown::new(),
    ));
    addr
}

#[test]
fn tonic_interop_client_against_our_test_service() {
    let rt = tokio_rt();
    rt.block_on(async {
        let addr = start_test_server().await;
        let results = tokio::time::timeout(
            Duration::from_secs(60),
            tonic_interop::run_cases(addr, &tonic_interop::CASES),
        )
        .await
        .expect("bounded");
        assert_eq!(results.len(), 18);
        for (case, outcome) in results {
            assert!(outcome.is_ok(), "{case}: {outcome:?}");
        }
    });
}

#[test]
fn our_interop_client_against_tonic_test_service() {
    let rt = tokio_rt();
    rt.block_on(async {
        let addr = tonic_interop::start().await;
        let results = tokio::time::timeout(
            Duration::from_secs(60),
            wirestate_examples::grpc::interop::run(wirestate_tokio::TokioRuntime, addr),
        )
        .await
        .expect("bounded");
        assert_eq!(results.len(), 18);
        for (case, outcome) in results {
            assert_eq!(outcome, Ok(()), "{case}");
        }
    });
}

// --- gRPC-Web: tonic-web both ways ------------------------------------------

fn assert_all_passed<E: std::fmt::Debug>(results: Vec<(&str, Result<impl Sized, E>)>) {
    assert_eq!(results.len(), 12, "the 12 gRPC-Web cases");
    for (case, outcome) in results {
        assert!(outcome.is_ok(), "{case}: {:?}", outcome.err());
    }
}

#[test]
fn tonic_web_client_against_our_test_service() {
    let rt = tokio_rt();
    rt.block_on(async {
        let addr = start_test_server().await;
        let results = tokio::time::timeout(
            Duration::from_secs(60),
            tonic_interop::run_web_cases(addr, &tonic_interop::WEB_CASES),
        )
        .await
        .expect("bounded");
        assert_all_passed(results);
    });
}

#[test]
fn tonic_web_client_against_our_blocking_test_service() {
    let server = wirestate_blocking::Server::bind("127.0.0.1:0", Default::default()).unwrap();
    let addr = server.local_addr().unwrap();
    let handle = server.handle();
    let serving =
        std::thread::spawn(move || server.serve(wirestate_examples::grpc_blocking::test_server()));
    let results = tokio_rt().block_on(async {
        tokio::time::timeout(
            Duration::from_secs(60),
            tonic_interop::run_web_cases(addr, &tonic_interop::WEB_CASES),
        )
        .await
        .expect("bounded")
    });
    handle.shutdown();
    serving.join().unwrap().unwrap();
    assert_all_passed(results);
}

#[test]
fn our_web_clients_against_tonic_web_test_service() {
    use wirestate_examples::grpc_web::interop::{CASES, run_cases, run_cases_blocking};
    let tokio = tokio_rt();
    let addr = tokio.block_on(tonic_interop::start_web());
    // tokio, binary mode.
    let results = tokio.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(60),
            run_cases(wirestate_tokio::TokioRuntime, addr, &CASES, false),
        )
        .await
        .expect("bounded")
    });
    assert_all_passed(results);
    // smol, text mode.
    let ex = std::sync::Arc::new(smol::Executor::new());
    let rt = wirestate_smol::SmolRuntime::with_executor(ex.clone());
    let results = smol::block_on(ex.run(async {
        let timer = async {
            smol::Timer::after(Duration::from_secs(60)).await;
            panic!("not done in time");
        };
        futures_lite::future::or(run_cases(rt, addr, &CASES, true), timer).await
    }));
    assert_all_passed(results);
    // blocking, binary mode (each case's reads bounded to 10 s).
    assert_all_passed(run_cases_blocking(addr, &CASES, false));
}
