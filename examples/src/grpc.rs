//! The gRPC services `wirestate serve` answers on the same port as
//! everything else (gRPC over h2c, gRPC-Web over HTTP/1.1 or h2c):
//!
//! | service | what |
//! | --- | --- |
//! | `grpc.testing.TestService` | the gRPC interop test service: every method the standard interop cases use (`EmptyCall`, `UnaryCall`, `CacheableUnaryCall`, `StreamingOutputCall`, `StreamingInputCall`, `FullDuplexCall`, `HalfDuplexCall`), echoing `x-grpc-test-echo-initial` / `x-grpc-test-echo-trailing-bin` metadata and `response_status`; `UnimplementedCall` is left unrouted (UNIMPLEMENTED) |
//! | `grpc.health.v1.Health` | `Check` and `Watch`: SERVING for `""` and every service here, SERVICE_UNKNOWN (Watch) / NOT_FOUND (Check) otherwise |
//! | `wirestate.echo.v1.Echo` | echo in all four call kinds, for benchmarks |

// `Status` is every gRPC handler's error type.
#![allow(clippy::result_large_err)]

use std::time::Duration;
use wirestate_proto::grpc::health::v1::{
    HealthCheckRequest, HealthCheckResponse, HealthMethod, health_check_response::ServingStatus,
};
use wirestate_proto::grpc::testing::{
    EchoStatus, Empty, Payload, SimpleRequest, SimpleResponse, StreamingInputCallRequest,
    StreamingInputCallResponse, StreamingOutputCallRequest, StreamingOutputCallResponse,
    TestServiceMethod,
};
use wirestate_proto::wirestate::echo::v1::{EchoMethod, EchoRequest, EchoResponse};
use wirestate_rt::Runtime;
use wirestate_rt::grpc::{
    Code, Metadata, Request, Response, ResponseSink, Server, Status, Streaming,
};

/// The initial metadata key the interop client asks to be echoed.
const ECHO_INITIAL: &str = "x-grpc-test-echo-initial";
/// The trailing metadata key the interop client asks to be echoed.
const ECHO_TRAILING: &str = "x-grpc-test-echo-trailing-bin";

/// The largest payload the test service fills (the interop cases ask for
/// at most a few hundred KiB).
const MAX_PAYLOAD: i32 = 4 << 20;

/// Every service this module implements, on one router.
pub fn server<R: Runtime>(rt: R) -> Server<R> {
    let server = Server::new(rt.clone());
    let server = test_service(server, rt);
    let server = echo_service(server);
    health_service(server)
}

/// A payload of `size` zero bytes.
fn payload(size: i32) -> Result<Option<Payload>, Status> {
    if !(0..=MAX_PAYLOAD).contains(&size) {
        return Err(Status::new(
            Code::InvalidArgument,
            "payload size out of range",
        ));
    }
    Ok(Some(Payload {
        r#type: 0,
        body: vec![0; size as usize],
    }))
}

/// The status a request asked for with `response_status`, if not OK.
fn asked_status(status: &Option<EchoStatus>) -> Result<(), Status> {
    match status {
        Some(s) if s.code != 0 => Err(Status::new(Code::from_i32(s.code), s.message.clone())),
        _ => Ok(()),
    }
}

/// The echoed metadata: initial and trailing.
fn echoed(metadata: &Metadata) -> (Metadata, Metadata) {
    let mut initial = Metadata::new();
    let mut trailing = Metadata::new();
    if let Some(v) = metadata.get_str(ECHO_INITIAL) {
        let _ = initial.insert(ECHO_INITIAL, v);
    }
    if let Some(Ok(v)) = metadata.get_bin(ECHO_TRAILING) {
        let _ = trailing.insert_bin(ECHO_TRAILING, &v);
    }
    (initial, trailing)
}

/// Fails with `status` carrying the echoed trailing metadata.
fn with_trailing(result: Result<(), Status>, trailing: &Metadata) -> Result<(), Status> {
    result.map_err(|s| s.with_metadata(trailing.clone()))
}

async fn sleep<R: Runtime>(rt: &R, micros: i32) {
    if micros > 0 {
        let until = rt.now() + Duration::from_micros(micros as u64);
        wirestate_rt::sleep_until(rt, until).await;
    }
}

async fn simple<R>(
    _rt: R,
    req: Request<SimpleRequest>,
) -> Result<Response<SimpleResponse>, Status> {
    let (initial, trailing) = echoed(&req.metadata);
    let r = req.message;
    with_trailing(asked_status(&r.response_status), &trailing)?;
    let response = SimpleResponse {
        payload: payload(r.response_size)?,
        ..Default::default()
    };
    Ok(Response {
        metadata: initial,
        message: response,
        trailers: trailing,
    })
}

/// Streams one response per `response_parameters` entry, each after its
/// `interval_us`.
async fn stream_out<R: Runtime>(
    rt: &R,
    r: &StreamingOutputCallRequest,
    sink: &mut ResponseSink<StreamingOutputCallResponse>,
) -> Result<(), Status> {
    for p in &r.response_parameters {
        sleep(rt, p.interval_us).await;
        sink.send(StreamingOutputCallResponse {
            payload: payload(p.size)?,
        })
        .await?;
    }
    Ok(())
}

/// `grpc.testing.TestService`.
pub fn test_service<R: Runtime>(server: Server<R>, rt: R) -> Server<R> {
    let rt1 = rt.clone();
    let rt2 = rt.clone();
    let rt3 = rt.clone();
    let rt4 = rt.clone();
    let rt5 = rt;
    server
        .unary(
            TestServiceMethod::EmptyCall.path(),
            |req: Request<Empty>| async move {
                let (initial, trailing) = echoed(&req.metadata);
                Ok(Response {
                    metadata: initial,
                    message: Empty {},
                    trailers: trailing,
                })
            },
        )
        .unary(TestServiceMethod::UnaryCall.path(), move |req| {
            simple(rt1.clone(), req)
        })
        .unary(TestServiceMethod::CacheableUnaryCall.path(), move |req| {
            simple(rt2.clone(), req)
        })
        .server_streaming(
            TestServiceMethod::StreamingOutputCall.path(),
            move |req: Request<StreamingOutputCallRequest>, mut sink| {
                let rt = rt3.clone();
                async move {
                    let (initial, trailing) = echoed(&req.metadata);
                    sink.set_metadata(initial);
                    sink.set_trailers(trailing.clone());
                    stream_out(&rt, &req.message, &mut sink).await?;
                    with_trailing(asked_status(&req.message.response_status), &trailing)
                }
            },
        )
        .client_streaming(
            TestServiceMethod::StreamingInputCall.path(),
            |req: Request<Streaming<StreamingInputCallRequest>>| async move {
                let (initial, trailing) = echoed(&req.metadata);
                let mut stream = req.message;
                let mut total: i64 = 0;
                while let Some(m) = stream.message().await? {
                    total += m.payload.map_or(0, |p| p.body.len() as i64);
                }
                Ok(Response {
                    metadata: initial,
                    message: StreamingInputCallResponse {
                        aggregated_payload_size: i32::try_from(total).unwrap_or(i32::MAX),
                    },
                    trailers: trailing,
                })
            },
        )
        .bidi_streaming(
            TestServiceMethod::FullDuplexCall.path(),
            move |req: Request<Streaming<StreamingOutputCallRequest>>, mut sink| {
                let rt = rt4.clone();
                async move {
                    let (initial, trailing) = echoed(&req.metadata);
                    sink.set_metadata(initial);
                    sink.set_trailers(trailing.clone());
                    let mut stream = req.message;
                    while let Some(r) = stream.message().await? {
                        with_trailing(asked_status(&r.response_status), &trailing)?;
                        stream_out(&rt, &r, &mut sink).await?;
                    }
                    Ok(())
                }
            },
        )
        .bidi_streaming(
            TestServiceMethod::HalfDuplexCall.path(),
            move |req: Request<Streaming<StreamingOutputCallRequest>>, mut sink| {
                let rt = rt5.clone();
                async move {
                    let mut stream = req.message;
                    let mut all = Vec::new();
                    while let Some(r) = stream.message().await? {
                        all.push(r);
                    }
                    for r in &all {
                        stream_out(&rt, r, &mut sink).await?;
                    }
                    Ok(())
                }
            },
        )
}

fn echo_response(r: &EchoRequest, index: u32) -> EchoResponse {
    EchoResponse {
        message: r.message.clone(),
        payload: r.payload.clone(),
        index,
    }
}

/// `wirestate.echo.v1.Echo`: `Echo` answers the request, `EchoStream`
/// answers it `repeat` times, `EchoCollect` concatenates the payloads (the
/// last message wins, `index` counts them), `EchoBidi` answers each
/// message as it comes.
pub fn echo_service<R: Runtime>(server: Server<R>) -> Server<R> {
    server
        .unary(EchoMethod::Echo.path(), |req: Request<EchoRequest>| async move {
            Ok(Response::new(echo_response(&req.message, 0)))
        })
        .server_streaming(
            EchoMethod::EchoStream.path(),
            |req: Request<EchoRequest>, mut sink| async move {
                for i in 0..req.message.repeat.min(1_000_000) {
                    sink.send(echo_response(&req.message, i)).await?;
                }
                Ok(())
            },
        )
        .client_streaming(
            EchoMethod::EchoCollect.path(),
            |req: Request<Streaming<EchoRequest>>| async move {
                let mut stream = req.message;
                let mut response = EchoResponse::default();
                while let Some(r) = stream.message().await? {
                    response.message = r.message;
                    response.payload.extend_from_slice(&r.payload);
                    response.index += 1;
                }
                Ok(Response::new(response))
            },
        )
        .bidi_streaming(
            EchoMethod::EchoBidi.path(),
            |req: Request<Streaming<EchoRequest>>, mut sink| async move {
                let mut stream = req.message;
                let mut index = 0;
                while let Some(r) = stream.message().await? {
                    sink.send(echo_response(&r, index)).await?;
                    index += 1;
                }
                Ok(())
            },
        )
}

/// The services the health service reports SERVING.
const SERVING: [&str; 4] = [
    "",
    "grpc.testing.TestService",
    "grpc.health.v1.Health",
    "wirestate.echo.v1.Echo",
];

/// `grpc.health.v1.Health`: every service here is SERVING for as long as
/// the server runs; `Watch` sends the status once and keeps the call open
/// (until the client cancels it or the server shuts down).
pub fn health_service<R: Runtime>(server: Server<R>) -> Server<R> {
    server
        .unary(
            HealthMethod::Check.path(),
            |req: Request<HealthCheckRequest>| async move {
                if SERVING.contains(&req.message.service.as_str()) {
                    Ok(Response::new(HealthCheckResponse {
                        status: ServingStatus::Serving as i32,
                    }))
                } else {
                    Err(Status::new(Code::NotFound, "unknown service"))
                }
            },
        )
        .server_streaming(
            HealthMethod::Watch.path(),
            |req: Request<HealthCheckRequest>, mut sink| async move {
                let status = if SERVING.contains(&req.message.service.as_str()) {
                    ServingStatus::Serving
                } else {
                    ServingStatus::ServiceUnknown
                };
                sink.send(HealthCheckResponse {
                    status: status as i32,
                })
                .await?;
                std::future::pending::<()>().await;
                Ok(())
            },
        )
}
