//! The gRPC services `wirestate serve` answers on the same port as
//! everything else (gRPC over h2c, gRPC-Web over HTTP/1.1 or h2c):
//!
//! | service | what |
//! | --- | --- |
//! | `grpc.testing.TestService` | the gRPC interop test service: every method the standard interop cases use (`EmptyCall`, `UnaryCall`, `CacheableUnaryCall`, `StreamingOutputCall`, `StreamingInputCall`, `FullDuplexCall`, `HalfDuplexCall`), echoing `x-grpc-test-echo-initial` / `x-grpc-test-echo-trailing-bin` metadata and `response_status`; `UnimplementedCall` is left unrouted (UNIMPLEMENTED) |
//! | `grpc.health.v1.Health` | `Check` and `Watch`: SERVING for `""` and every service here, SERVICE_UNKNOWN (Watch) / NOT_FOUND (Check) otherwise |
//! | `wirestate.echo.v1.Echo` | echo in all four call kinds, for benchmarks |
//!
//! Echo and Health are implementations of the server traits that
//! wirestate-codegen generates (build.rs), mounted with the generated
//! `add_echo_server` / `add_health_server`; the TestService is routed
//! method by method with closures.

// `Status` is every gRPC handler's error type.
#![allow(clippy::result_large_err)]

use std::time::Duration;
use wirestate_proto::grpc::health::v1::{
    HealthCheckRequest, HealthCheckResponse, health_check_response::ServingStatus,
};
use wirestate_proto::grpc::testing::{
    EchoStatus, Empty, Payload, SimpleRequest, SimpleResponse, StreamingInputCallRequest,
    StreamingInputCallResponse, StreamingOutputCallRequest, StreamingOutputCallResponse,
    TestServiceMethod,
};
use wirestate_proto::wirestate::echo::v1::{EchoRequest, EchoResponse};
use wirestate_rt::grpc::{
    Code, Metadata, Request, Response, ResponseSink, Server, Status, Streaming,
};
use wirestate_rt::{Runtime, Shutdown};

/// The initial metadata key the interop client asks to be echoed.
const ECHO_INITIAL: &str = "x-grpc-test-echo-initial";
/// The trailing metadata key the interop client asks to be echoed.
const ECHO_TRAILING: &str = "x-grpc-test-echo-trailing-bin";

/// The largest payload the test service fills (the interop cases ask for
/// at most a few hundred KiB).
const MAX_PAYLOAD: i32 = 4 << 20;

/// Every service this module implements, on one router. `shutdown` is the
/// server's: health `Watch` calls end (UNAVAILABLE) when it fires, so that
/// a graceful shutdown does not wait for them forever.
pub fn server<R: Runtime>(rt: R, shutdown: Shutdown) -> Server<R> {
    let server = Server::new(rt.clone());
    let server = test_service(server, rt);
    let server = echo_service(server);
    health_service(server, shutdown)
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

/// The server traits and routers generated for the Echo and Health
/// services by build.rs (wirestate-codegen with `server_router`).
#[allow(missing_docs, dead_code, clippy::all)]
mod generated {
    pub mod echo {
        include!(concat!(env!("OUT_DIR"), "/wirestate.echo.v1.rs"));
    }
    pub mod health {
        include!(concat!(env!("OUT_DIR"), "/grpc.health.v1.rs"));
    }
}

pub use generated::echo::{EchoServer, add_echo_server};
pub use generated::health::{HealthServer, add_health_server};

/// `wirestate.echo.v1.Echo`, as an implementation of the generated
/// [`EchoServer`] trait: `Echo` answers the request, `EchoStream` answers
/// it `repeat` times, `EchoCollect` concatenates the payloads (the last
/// message wins, `index` counts them), `EchoBidi` answers each message as
/// it comes.
#[derive(Debug, Clone, Copy, Default)]
pub struct EchoService;

impl EchoServer for EchoService {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        Ok(Response::new(echo_response(&request.message, 0)))
    }

    async fn echo_stream(
        &self,
        request: Request<EchoRequest>,
        mut responses: ResponseSink<EchoResponse>,
    ) -> Result<(), Status> {
        for i in 0..request.message.repeat.min(1_000_000) {
            responses.send(echo_response(&request.message, i)).await?;
        }
        Ok(())
    }

    async fn echo_collect(
        &self,
        requests: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoResponse>, Status> {
        let mut stream = requests.message;
        let mut response = EchoResponse::default();
        while let Some(r) = stream.message().await? {
            response.message = r.message;
            response.payload.extend_from_slice(&r.payload);
            response.index += 1;
        }
        Ok(Response::new(response))
    }

    async fn echo_bidi(
        &self,
        requests: Request<Streaming<EchoRequest>>,
        mut responses: ResponseSink<EchoResponse>,
    ) -> Result<(), Status> {
        let mut stream = requests.message;
        let mut index = 0;
        while let Some(r) = stream.message().await? {
            responses.send(echo_response(&r, index)).await?;
            index += 1;
        }
        Ok(())
    }
}

/// Routes [`EchoService`] on `server`.
pub fn echo_service<R: Runtime>(server: Server<R>) -> Server<R> {
    add_echo_server(server, EchoService)
}

/// The services the health service reports SERVING.
const SERVING: [&str; 4] = [
    "",
    "grpc.testing.TestService",
    "grpc.health.v1.Health",
    "wirestate.echo.v1.Echo",
];

/// `grpc.health.v1.Health`, as an implementation of the generated
/// [`HealthServer`] trait: every service here is SERVING for as long as
/// the server runs; `Watch` sends the status once and keeps the call open
/// until the client cancels it, or the server's `shutdown` fires (then it
/// ends with UNAVAILABLE, so that a graceful shutdown does not wait for it).
#[derive(Debug, Clone, Default)]
pub struct HealthService {
    /// The server's shutdown signal.
    pub shutdown: Shutdown,
}

impl HealthServer for HealthService {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        if SERVING.contains(&request.message.service.as_str()) {
            Ok(Response::new(HealthCheckResponse {
                status: ServingStatus::Serving as i32,
            }))
        } else {
            Err(Status::new(Code::NotFound, "unknown service"))
        }
    }

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
        mut responses: ResponseSink<HealthCheckResponse>,
    ) -> Result<(), Status> {
        let status = if SERVING.contains(&request.message.service.as_str()) {
            ServingStatus::Serving
        } else {
            ServingStatus::ServiceUnknown
        };
        responses
            .send(HealthCheckResponse {
                status: status as i32,
            })
            .await?;
        self.shutdown.wait().await;
        Err(Status::new(
            Code::Unavailable,
            "the server is shutting down",
        ))
    }
}

/// Routes [`HealthService`] on `server`.
pub fn health_service<R: Runtime>(server: Server<R>, shutdown: Shutdown) -> Server<R> {
    add_health_server(server, HealthService { shutdown })
}

/// The standard gRPC interop client cases, run with our
/// [`Channel`](wirestate_rt::grpc::Channel) against a `TestService` at
/// `addr` (ours or another implementation's): one `(case, result)` per
/// case, in order.
pub mod interop {
    use std::net::SocketAddr;
    use std::time::Duration;
    use wirestate_proto::grpc::testing::{
        EchoStatus, Empty, Payload, ResponseParameters, SimpleRequest, SimpleResponse,
        StreamingInputCallRequest, StreamingInputCallResponse, StreamingOutputCallRequest,
        StreamingOutputCallResponse, TestServiceMethod,
    };
    use wirestate_rt::Runtime;
    use wirestate_rt::grpc::{CallOptions, Channel, Code, Encoding, Metadata, Status};

    /// A case's outcome: why it failed.
    pub type Outcome = Result<(), String>;

    macro_rules! ensure {
        ($cond:expr, $($msg:tt)+) => {
            if !$cond {
                return Err(format!($($msg)+));
            }
        };
    }

    fn st(s: Status) -> String {
        format!("{:?}: {}", s.code, s.message)
    }

    fn payload(n: usize) -> Option<Payload> {
        Some(Payload {
            r#type: 0,
            body: vec![0; n],
        })
    }

    fn body_len(p: &Option<Payload>) -> usize {
        p.as_ref().map_or(0, |p| p.body.len())
    }

    const SPECIAL: &str = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n";

    /// Connects over h2c and runs every case (each bounded to 10 s).
    pub async fn run<R: Runtime>(rt: R, addr: SocketAddr) -> Vec<(&'static str, Outcome)> {
        let io = match rt.connect(addr).await {
            Ok(io) => io,
            Err(e) => return vec![("connect", Err(e.to_string()))],
        };
        let (send, driver) = wirestate_rt::h2::handshake(rt.clone(), io, Default::default());
        rt.spawn(Box::pin(async move {
            let _ = driver.await;
        }));
        let ch = match Channel::new(rt.clone(), send, &addr.to_string()) {
            Ok(ch) => ch,
            Err(e) => return vec![("connect", Err(st(e)))],
        };
        let mut out = Vec::new();
        macro_rules! case {
            ($name:ident) => {{
                let bound = rt.now() + Duration::from_secs(10);
                let r = wirestate_rt::timeout(&rt, bound, $name(&ch))
                    .await
                    .unwrap_or_else(|| Err("timed out".into()));
                out.push((stringify!($name), r));
            }};
        }
        case!(empty_unary);
        case!(large_unary);
        case!(client_compressed_unary);
        case!(client_streaming);
        case!(server_streaming);
        case!(ping_pong);
        case!(empty_stream);
        case!(status_code_and_message);
        case!(special_status_message);
        case!(custom_metadata);
        case!(timeout_on_sleeping_server);
        case!(cancel_after_begin);
        case!(cancel_after_first_response);
        case!(unimplemented_method);
        case!(unimplemented_service);
        out
    }

    async fn empty_unary<R: Runtime>(ch: &Channel<R>) -> Outcome {
        let r = ch
            .unary::<_, Empty>(
                TestServiceMethod::EmptyCall.path(),
                &Empty {},
                &Default::default(),
            )
            .await
            .map_err(st)?;
        ensure!(r.message == Empty {}, "not empty");
        Ok(())
    }

    fn large_request() -> SimpleRequest {
        SimpleRequest {
            response_type: 0,
            response_size: 314_159,
            payload: payload(271_828),
            ..Default::default()
        }
    }

    async fn large_unary<R: Runtime>(ch: &Channel<R>) -> Outcome {
        let r = ch
            .unary::<_, SimpleResponse>(
                TestServiceMethod::UnaryCall.path(),
                &large_request(),
                &Default::default(),
            )
            .await
            .map_err(st)?;
        ensure!(body_len(&r.message.payload) == 314_159, "payload size");
        Ok(())
    }

    async fn client_compressed_unary<R: Runtime>(ch: &Channel<R>) -> Outcome {
        let opts = CallOptions::default().with_compression(Encoding::Gzip);
        let r = ch
            .unary::<_, SimpleResponse>(
                TestServiceMethod::UnaryCall.path(),
                &large_request(),
                &opts,
            )
            .await
            .map_err(st)?;
        ensure!(body_len(&r.message.payload) == 314_159, "payload size");
        Ok(())
    }

    async fn client_streaming<R: Runtime>(ch: &Channel<R>) -> Outcome {
        let mut call = ch.client_streaming::<_, StreamingInputCallResponse>(
            TestServiceMethod::StreamingInputCall.path(),
            &Default::default(),
        );
        for n in [27_182, 8, 1_828, 45_904] {
            call.send(&StreamingInputCallRequest {
                payload: payload(n),
                ..Default::default()
            })
            .await
            .map_err(st)?;
        }
        let r = call.finish().await.map_err(st)?;
        ensure!(
            r.message.aggregated_payload_size == 74_922,
            "aggregated {}",
            r.message.aggregated_payload_size
        );
        Ok(())
    }

    fn sized(sizes: &[i32]) -> StreamingOutputCallRequest {
        StreamingOutputCallRequest {
            response_parameters: sizes
                .iter()
                .map(|&size| ResponseParameters {
                    size,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    async fn server_streaming<R: Runtime>(ch: &Channel<R>) -> Outcome {
        let sizes = [31_415, 9, 2_653, 58_979];
        let (_, mut stream) = ch
            .server_streaming::<_, StreamingOutputCallResponse>(
                TestServiceMethod::StreamingOutputCall.path(),
                &sized(&sizes),
                &Default::default(),
            )
            .await
            .map_err(st)?;
        let mut got = Vec::new();
        while let Some(m) = stream.message().await.map_err(st)? {
            got.push(body_len(&m.payload) as i32);
        }
        ensure!(got == sizes, "sizes {got:?}");
        Ok(())
    }

    async fn ping_pong<R: Runtime>(ch: &Channel<R>) -> Outcome {
        let mut call = ch.streaming::<_, StreamingOutputCallResponse>(
            TestServiceMethod::FullDuplexCall.path(),
            &Default::default(),
        );
        for (rsize, psize) in [(31_415, 27_182), (9, 8), (2_653, 1_828), (58_979, 45_904)] {
            let mut req = sized(&[rsize]);
            req.payload = payload(psize);
            call.send(&req).await.map_err(st)?;
            let m = call.message().await.map_err(st)?.ok_or("no response")?;
            ensure!(body_len(&m.payload) == rsize as usize, "size");
        }
        call.close_send();
        ensure!(
            call.message().await.map_err(st)?.is_none(),
            "extra response"
        );
        Ok(())
    }

    async fn empty_stream<R: Runtime>(ch: &Channel<R>) -> Outcome {
        let mut call = ch.streaming::<StreamingOutputCallRequest, StreamingOutputCallResponse>(
            TestServiceMethod::FullDuplexCall.path(),
            &Default::default(),
        );
        call.close_send();
        ensure!(call.message().await.map_err(st)?.is_none(), "a response");
        Ok(())
    }

    fn expect(r: Result<impl Sized, Status>, code: Code, message: Option<&str>) -> Outcome {
        match r {
            Ok(_) => Err(format!("no error, want {code:?}")),
            Err(s) => {
                ensure!(s.code == code, "{}, want {code:?}", st(s));
                if let Some(m) = message {
                    ensure!(s.message == m, "message {:?}", s.message);
                }
                Ok(())
            }
        }
    }

    fn with_status(message: &str) -> Option<EchoStatus> {
        Some(EchoStatus {
            code: 2,
            message: message.into(),
        })
    }

    async fn status_code_and_message<R: Runtime>(ch: &Channel<R>) -> Outcome {
        let req = SimpleRequest {
            response_status: with_status("test status message"),
            ..Default::default()
        };
        let r = ch
            .unary::<_, SimpleResponse>(
                TestServiceMethod::UnaryCall.path(),
                &req,
                &Default::default(),
            )
            .await;
        expect(r, Code::Unknown, Some("test status message"))?;
        let mut call = ch.streaming::<_, StreamingOutputCallResponse>(
            TestServiceMethod::FullDuplexCall.path(),
            &Default::default(),
        );
        call.send(&StreamingOutputCallRequest {
            response_status: with_status("test status message"),
            ..Default::default()
        })
        .await
        .map_err(st)?;
        call.close_send();
        expect(
            call.message().await,
            Code::Unknown,
            Some("test status message"),
        )
    }

    async fn special_status_message<R: Runtime>(ch: &Channel<R>) -> Outcome {
        let req = SimpleRequest {
            response_status: with_status(SPECIAL),
            ..Default::default()
        };
        let r = ch
            .unary::<_, SimpleResponse>(
                TestServiceMethod::UnaryCall.path(),
                &req,
                &Default::default(),
            )
            .await;
        expect(r, Code::Unknown, Some(SPECIAL))
    }

    async fn custom_metadata<R: Runtime>(ch: &Channel<R>) -> Outcome {
        let mut md = Metadata::new();
        md.insert("x-grpc-test-echo-initial", "test_initial_metadata_value")
            .map_err(|e| e.to_string())?;
        md.insert_bin("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab")
            .map_err(|e| e.to_string())?;
        let opts = CallOptions::default().with_metadata(md);
        let check = |initial: &Metadata, trailing: &Metadata| -> Outcome {
            ensure!(
                initial.get_str("x-grpc-test-echo-initial") == Some("test_initial_metadata_value"),
                "initial metadata {initial:?}"
            );
            let t = trailing.get_bin("x-grpc-test-echo-trailing-bin");
            ensure!(
                matches!(&t, Some(Ok(v)) if &v[..] == b"\xab\xab\xab"),
                "trailing metadata {trailing:?}"
            );
            Ok(())
        };
        let r = ch
            .unary::<_, SimpleResponse>(
                TestServiceMethod::UnaryCall.path(),
                &large_request(),
                &opts,
            )
            .await
            .map_err(st)?;
        check(&r.metadata, &r.trailers)?;
        let mut call = ch.streaming::<_, StreamingOutputCallResponse>(
            TestServiceMethod::FullDuplexCall.path(),
            &opts,
        );
        let mut req = sized(&[314_159]);
        req.payload = payload(271_828);
        call.send(&req).await.map_err(st)?;
        call.close_send();
        ensure!(call.message().await.map_err(st)?.is_some(), "no response");
        ensure!(
            call.message().await.map_err(st)?.is_none(),
            "extra response"
        );
        let initial = call.metadata().await.map_err(st)?;
        let trailing = Metadata::from_headers(call.trailers().ok_or("no trailers")?);
        check(&initial, &trailing)
    }

    async fn timeout_on_sleeping_server<R: Runtime>(ch: &Channel<R>) -> Outcome {
        let opts = CallOptions::default().with_timeout(Duration::from_millis(1));
        let mut call = ch.streaming::<_, StreamingOutputCallResponse>(
            TestServiceMethod::FullDuplexCall.path(),
            &opts,
        );
        let mut req = sized(&[]);
        req.payload = payload(27_182);
        // The send itself may already see the deadline.
        if let Err(s) = call.send(&req).await {
            return expect(Err::<(), _>(s), Code::DeadlineExceeded, None);
        }
        expect(call.message().await, Code::DeadlineExceeded, None)
    }

    async fn cancel_after_begin<R: Runtime>(ch: &Channel<R>) -> Outcome {
        let call = ch.client_streaming::<StreamingInputCallRequest, StreamingInputCallResponse>(
            TestServiceMethod::StreamingInputCall.path(),
            &Default::default(),
        );
        // Dropping the call resets its stream (CANCEL).
        drop(call);
        // The connection goes on serving.
        empty_unary(ch).await
    }

    async fn cancel_after_first_response<R: Runtime>(ch: &Channel<R>) -> Outcome {
        let mut call = ch.streaming::<_, StreamingOutputCallResponse>(
            TestServiceMethod::FullDuplexCall.path(),
            &Default::default(),
        );
        let mut req = sized(&[31_415]);
        req.payload = payload(27_182);
        call.send(&req).await.map_err(st)?;
        let m = call.message().await.map_err(st)?.ok_or("no response")?;
        ensure!(body_len(&m.payload) == 31_415, "size");
        drop(call);
        empty_unary(ch).await
    }

    async fn unimplemented_method<R: Runtime>(ch: &Channel<R>) -> Outcome {
        let r = ch
            .unary::<_, Empty>(
                TestServiceMethod::UnimplementedCall.path(),
                &Empty {},
                &Default::default(),
            )
            .await;
        expect(r, Code::Unimplemented, None)
    }

    async fn unimplemented_service<R: Runtime>(ch: &Channel<R>) -> Outcome {
        let r = ch
            .unary::<_, Empty>(
                "/grpc.testing.UnimplementedService/UnimplementedCall",
                &Empty {},
                &Default::default(),
            )
            .await;
        expect(r, Code::Unimplemented, None)
    }
}
