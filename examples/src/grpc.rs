//! The gRPC services `wirestate serve` answers on the same port as
//! everything else (gRPC over h2c, gRPC-Web over HTTP/1.1 or h2c):
//!
//! | service | what |
//! | --- | --- |
//! | `grpc.testing.TestService` | the gRPC interop test service: every method the standard interop cases use (`EmptyCall`, `UnaryCall`, `CacheableUnaryCall`, `StreamingOutputCall`, `StreamingInputCall`, `FullDuplexCall`, `HalfDuplexCall`), echoing `x-grpc-test-echo-initial` / `x-grpc-test-echo-trailing-bin` metadata and `response_status`, compressing a response message when `response_compressed` asks (gzip is offered, not imposed) and refusing a request whose `expect_compressed` does not match its compressed flag (INVALID_ARGUMENT); `UnimplementedCall` is left unrouted (UNIMPLEMENTED) |
//! | `grpc.health.v1.Health` | `Check` and `Watch` (wirestate-grpc-health): SERVING for `""` and every service here, SERVICE_UNKNOWN (Watch) / NOT_FOUND (Check) otherwise; all NOT_SERVING once the server shuts down |
//! | `wirestate.echo.v1.Echo` | echo in all four call kinds, for benchmarks |
//! | `grpc.reflection.v1.ServerReflection`, `grpc.reflection.v1alpha.ServerReflection` | server reflection (wirestate-grpc-reflection over wirestate-proto's descriptor set), listing the services of this table, so that `grpcurl -plaintext HOST:PORT list` / `describe` and other reflection clients work |
//!
//! Echo is an implementation of the server trait that wirestate-codegen
//! generates (build.rs), mounted with the generated `add_echo_server`;
//! Health is wirestate-grpc-health's; the TestService is routed method by
//! method with closures.

// `Status` is every gRPC handler's error type.
#![allow(clippy::result_large_err)]

use std::time::Duration;
use wirestate_grpc_health::HealthReporter;
use wirestate_grpc_reflection::Reflection;
use wirestate_proto::grpc::testing::BoolValue;
use wirestate_proto::grpc::testing::{
    EchoStatus, Empty, Payload, SimpleRequest, SimpleResponse, StreamingInputCallRequest,
    StreamingInputCallResponse, StreamingOutputCallRequest, StreamingOutputCallResponse,
    TestServiceMethod,
};
use wirestate_proto::wirestate::echo::v1::{EchoRequest, EchoResponse};
use wirestate_rt::grpc::{
    Code, Encoding, Metadata, Request, Response, ResponseSink, Server, Status, Streaming, UnaryCall,
};
use wirestate_rt::{Runtime, Shutdown};

/// The initial metadata key the interop client asks to be echoed.
pub(crate) const ECHO_INITIAL: &str = "x-grpc-test-echo-initial";
/// The trailing metadata key the interop client asks to be echoed.
pub(crate) const ECHO_TRAILING: &str = "x-grpc-test-echo-trailing-bin";

/// The largest payload the test service fills (the interop cases ask for
/// at most a few hundred KiB).
pub(crate) const MAX_PAYLOAD: i32 = 4 << 20;

/// Every service this module implements, on one router. `shutdown` is the
/// server's: when it fires, the health service reports every service
/// NOT_SERVING and its `Watch` calls send that and end (UNAVAILABLE), so
/// that a graceful shutdown does not wait for them forever.
pub fn server<R: Runtime>(rt: R, shutdown: Shutdown) -> Server<R> {
    // gzip is offered (declared to clients that accept it) but messages go
    // uncompressed unless a request asks otherwise (`response_compressed`).
    let server = Server::new(rt.clone()).offer_compression(Encoding::Gzip);
    let server = test_service(server, rt);
    let server = echo_service(server);
    let server = wirestate_grpc_health::rt::add_health(server, health(), shutdown);
    wirestate_grpc_reflection::rt::add_reflection(server, reflection())
}

/// The reflection index of `wirestate serve`: wirestate-proto's descriptor
/// set, listing the services served (not the other services the interop
/// `test.proto` declares).
pub fn reflection() -> Reflection {
    let builder = SERVING[1..]
        .iter()
        .fold(Reflection::builder(), |builder, service| {
            builder.advertise(*service)
        });
    match builder
        .register_file_descriptor_set(wirestate_proto::FILE_DESCRIPTOR_SET)
        .and_then(|b| b.build())
    {
        Ok(reflection) => reflection,
        // Every name above is in wirestate-proto's set (tests/tests/grpc_reflection.rs).
        Err(e) => unreachable!("wirestate serve's reflection index: {e}"),
    }
}

/// The interop `TestService` alone, as the standard interop server serves
/// it (`examples/interop_server`): gzip offered, messages compressed when
/// a request asks (`response_compressed`).
pub fn test_server<R: Runtime>(rt: R) -> Server<R> {
    test_service(
        Server::new(rt.clone()).offer_compression(Encoding::Gzip),
        rt,
    )
}

/// A payload of `size` zero bytes.
pub(crate) fn payload(size: i32) -> Result<Option<Payload>, Status> {
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
pub(crate) fn asked_status(status: &Option<EchoStatus>) -> Result<(), Status> {
    match status {
        Some(s) if s.code != 0 => Err(Status::new(Code::from_i32(s.code), s.message.clone())),
        _ => Ok(()),
    }
}

/// The echoed metadata: initial and trailing.
pub(crate) fn echoed(metadata: &Metadata) -> (Metadata, Metadata) {
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

/// The check behind the interop cases `client_compressed_unary` and
/// `client_compressed_streaming` (as the reference servers do it): a
/// request that says whether it was sent compressed must have been, or
/// not; a mismatch is INVALID_ARGUMENT, which is also how a client probes
/// that the server can tell.
pub(crate) fn expect_compressed(
    expect: &Option<BoolValue>,
    compressed: bool,
) -> Result<(), Status> {
    match expect {
        Some(e) if e.value != compressed => Err(Status::new(
            Code::InvalidArgument,
            if e.value {
                "expected a compressed request message, got an uncompressed one"
            } else {
                "expected an uncompressed request message, got a compressed one"
            },
        )),
        _ => Ok(()),
    }
}

/// Whether a `BoolValue` flag is set (absent is false).
pub(crate) fn flag(v: &Option<BoolValue>) -> bool {
    v.as_ref().is_some_and(|v| v.value)
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

async fn simple(
    req: Request<SimpleRequest>,
    call: UnaryCall,
) -> Result<Response<SimpleResponse>, Status> {
    let (initial, trailing) = echoed(&req.metadata);
    let r = req.message;
    expect_compressed(&r.expect_compressed, call.request_compressed())?;
    call.set_compression(flag(&r.response_compressed));
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
        sink.set_compression(flag(&p.compressed));
        sink.send(StreamingOutputCallResponse {
            payload: payload(p.size)?,
        })
        .await?;
    }
    Ok(())
}

/// `grpc.testing.TestService`.
pub fn test_service<R: Runtime>(server: Server<R>, rt: R) -> Server<R> {
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
        .unary_with(TestServiceMethod::UnaryCall.path(), simple)
        .unary_with(TestServiceMethod::CacheableUnaryCall.path(), simple)
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
                    expect_compressed(&m.expect_compressed, stream.last_compressed())?;
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

pub(crate) fn echo_response(r: &EchoRequest, index: u32) -> EchoResponse {
    EchoResponse {
        message: r.message.clone(),
        payload: r.payload.clone(),
        index,
    }
}

/// The response echoing `r`, taking its fields (as tonic's Echo server in
/// the benchmarks does: no copy of the payload per message).
fn echo_moved(r: EchoRequest, index: u32) -> EchoResponse {
    EchoResponse {
        message: r.message,
        payload: r.payload,
        index,
    }
}

/// The server traits, routers and typed client stubs generated for the
/// Echo and Health services, and the client stubs of `grpc.testing`, by
/// build.rs (wirestate-codegen with `server_router`).
#[allow(missing_docs, dead_code, clippy::all)]
mod generated {
    pub mod echo {
        include!(concat!(env!("OUT_DIR"), "/wirestate.echo.v1.rs"));
    }
    pub mod health {
        include!(concat!(env!("OUT_DIR"), "/grpc.health.v1.rs"));
    }
    pub mod testing {
        include!(concat!(env!("OUT_DIR"), "/grpc.testing.rs"));
    }
}

pub use generated::echo::{EchoClient, EchoServer, add_echo_server};
pub use generated::health::{HealthClient, HealthServer, add_health_server};
pub use generated::testing::{TestServiceClient, UnimplementedServiceClient};

/// `wirestate.echo.v1.Echo`, as an implementation of the generated
/// [`EchoServer`] trait: `Echo` answers the request, `EchoStream` answers
/// it `repeat` times, `EchoCollect` concatenates the payloads (the last
/// message wins, `index` counts them), `EchoBidi` answers each message as
/// it comes.
#[derive(Debug, Clone, Copy, Default)]
pub struct EchoService;

impl EchoServer for EchoService {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        Ok(Response::new(echo_moved(request.message, 0)))
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
            responses.send(echo_moved(r, index)).await?;
            index += 1;
        }
        Ok(())
    }
}

/// Routes [`EchoService`] on `server`.
pub fn echo_service<R: Runtime>(server: Server<R>) -> Server<R> {
    add_echo_server(server, EchoService)
}

/// The services the health service reports SERVING (after `""`, the
/// server as a whole) and reflection lists.
pub(crate) const SERVING: [&str; 6] = [
    "",
    "grpc.testing.TestService",
    "grpc.health.v1.Health",
    "wirestate.echo.v1.Echo",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// The health reporter of `wirestate serve`: the server (`""`) and every
/// service it serves SERVING, for as long as it runs (they turn
/// NOT_SERVING when the server shuts down).
pub fn health() -> HealthReporter {
    let reporter = HealthReporter::new();
    for service in SERVING {
        reporter.set_serving(service);
    }
    reporter
}

/// The standard gRPC interop client cases (grpc/grpc
/// `doc/interop-test-descriptions.md`), run with the generated
/// [`TestServiceClient`] over our
/// [`Channel`](wirestate_rt::grpc::Channel) against a `TestService` at
/// `addr` (ours or another implementation's): what
/// `examples/interop_client` runs.
pub mod interop {
    use super::{TestServiceClient, UnimplementedServiceClient};
    use std::net::SocketAddr;
    use std::time::Duration;
    use wirestate_proto::grpc::testing::{
        BoolValue, EchoStatus, Empty, Payload, ResponseParameters, SimpleRequest, SimpleResponse,
        StreamingInputCallRequest, StreamingOutputCallRequest, TestServiceMethod,
    };
    use wirestate_rt::Runtime;
    use wirestate_rt::grpc::{Channel, Code, Encoding, Metadata, Request, Status};

    /// The client the cases call through.
    type Client<R> = TestServiceClient<R>;

    /// A case's outcome: why it failed.
    pub type Outcome = Result<(), String>;

    /// Every case, in the order `all` runs them.
    pub const CASES: [&str; 18] = [
        "empty_unary",
        "large_unary",
        "client_streaming",
        "server_streaming",
        "ping_pong",
        "empty_stream",
        "status_code_and_message",
        "special_status_message",
        "custom_metadata",
        "unimplemented_method",
        "unimplemented_service",
        "timeout_on_sleeping_server",
        "cancel_after_begin",
        "cancel_after_first_response",
        "client_compressed_unary",
        "server_compressed_unary",
        "client_compressed_streaming",
        "server_compressed_streaming",
    ];

    macro_rules! ensure {
        ($cond:expr, $($msg:tt)+) => {
            if !$cond {
                return Err(format!($($msg)+));
            }
        };
    }
    pub(crate) use ensure;

    /// A status as a case's failure.
    pub(crate) fn st(s: Status) -> String {
        format!("{:?}: {}", s.code, s.message)
    }

    pub(crate) fn payload(n: usize) -> Option<Payload> {
        Some(Payload {
            r#type: 0,
            body: vec![0; n],
        })
    }

    /// A payload's size, once checked to be all zeros (as the cases allow
    /// a client to assert).
    pub(crate) fn zeros(p: &Option<Payload>) -> Result<usize, String> {
        let body = p.as_ref().map_or(&[][..], |p| &p.body[..]);
        ensure!(body.iter().all(|&b| b == 0), "payload not all zeros");
        Ok(body.len())
    }

    pub(crate) fn yes(value: bool) -> Option<BoolValue> {
        Some(BoolValue { value })
    }

    pub(crate) const SPECIAL: &str =
        "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n";

    /// Connects over h2c and runs every case (each bounded to 10 s).
    pub async fn run<R: Runtime>(rt: R, addr: SocketAddr) -> Vec<(&'static str, Outcome)> {
        run_cases(rt, addr, &CASES).await
    }

    /// Connects over h2c and runs `cases` (names from [`CASES`]; an
    /// unknown name fails), each bounded to 10 s, on one connection.
    pub async fn run_cases<R: Runtime>(
        rt: R,
        addr: SocketAddr,
        cases: &[&'static str],
    ) -> Vec<(&'static str, Outcome)> {
        let io = match rt.connect(addr).await {
            Ok(io) => io,
            Err(e) => {
                return cases
                    .iter()
                    .map(|c| (*c, Err(format!("connect: {e}"))))
                    .collect();
            }
        };
        let (send, driver) = wirestate_rt::h2::handshake(rt.clone(), io, Default::default());
        rt.spawn(Box::pin(async move {
            let _ = driver.await;
        }));
        let ch = match Channel::new(rt.clone(), send, &addr.to_string()) {
            Ok(ch) => TestServiceClient::new(ch),
            Err(e) => return cases.iter().map(|c| (*c, Err(st(e.clone())))).collect(),
        };
        let mut out = Vec::new();
        for &case in cases {
            let bound = rt.now() + Duration::from_secs(10);
            let r = wirestate_rt::timeout(&rt, bound, run_case(&ch, case))
                .await
                .unwrap_or_else(|| Err("timed out".into()));
            out.push((case, r));
        }
        out
    }

    /// Runs the case named `case` (an unknown name fails).
    pub(crate) async fn run_case<R: Runtime>(ch: &Client<R>, case: &str) -> Outcome {
        match case {
            "empty_unary" => empty_unary(ch).await,
            "large_unary" => large_unary(ch).await,
            "client_streaming" => client_streaming(ch).await,
            "server_streaming" => server_streaming(ch).await,
            "ping_pong" => ping_pong(ch).await,
            "empty_stream" => empty_stream(ch).await,
            "status_code_and_message" => status_code_and_message(ch).await,
            "special_status_message" => special_status_message(ch).await,
            "custom_metadata" => custom_metadata(ch).await,
            "unimplemented_method" => unimplemented_method(ch).await,
            "unimplemented_service" => unimplemented_service(ch).await,
            "timeout_on_sleeping_server" => timeout_on_sleeping_server(ch).await,
            "cancel_after_begin" => cancel_after_begin(ch).await,
            "cancel_after_first_response" => cancel_after_first_response(ch).await,
            "client_compressed_unary" => client_compressed_unary(ch).await,
            "server_compressed_unary" => server_compressed_unary(ch).await,
            "client_compressed_streaming" => client_compressed_streaming(ch).await,
            "server_compressed_streaming" => server_compressed_streaming(ch).await,
            other => Err(format!("unknown test case {other:?}")),
        }
    }

    async fn empty_unary<R: Runtime>(ch: &Client<R>) -> Outcome {
        let r = ch.empty_call(Request::new(Empty {})).await.map_err(st)?;
        ensure!(r.message == Empty {}, "not empty");
        Ok(())
    }

    pub(crate) fn large_request() -> SimpleRequest {
        SimpleRequest {
            response_size: 314_159,
            payload: payload(271_828),
            ..Default::default()
        }
    }

    async fn large_unary<R: Runtime>(ch: &Client<R>) -> Outcome {
        let r = ch
            .unary_call(Request::new(large_request()))
            .await
            .map_err(st)?;
        ensure!(zeros(&r.message.payload)? == 314_159, "payload size");
        Ok(())
    }

    async fn client_compressed_unary<R: Runtime>(ch: &Client<R>) -> Outcome {
        let call = |expect: bool, encoding: Encoding| {
            let req = SimpleRequest {
                expect_compressed: yes(expect),
                ..large_request()
            };
            let client = ch.clone().with_compression(encoding);
            async move { client.unary_call(Request::new(req)).await.map_err(st) }
        };
        // The feature probe: an uncompressed message that claims to be
        // compressed must be refused.
        match call(true, Encoding::Identity).await {
            Ok(_) => {
                return Err(
                    "probe: the server accepted an uncompressed message that expected compression"
                        .into(),
                );
            }
            Err(e) if e.starts_with("InvalidArgument") => {}
            Err(e) => return Err(format!("probe: {e}, want InvalidArgument")),
        }
        let r = call(true, Encoding::Gzip)
            .await
            .map_err(|e| format!("compressed: {e}"))?;
        ensure!(zeros(&r.message.payload)? == 314_159, "payload size");
        let r = call(false, Encoding::Identity)
            .await
            .map_err(|e| format!("uncompressed: {e}"))?;
        ensure!(zeros(&r.message.payload)? == 314_159, "payload size");
        Ok(())
    }

    async fn server_compressed_unary<R: Runtime>(ch: &Client<R>) -> Outcome {
        for compressed in [true, false] {
            let req = SimpleRequest {
                response_compressed: yes(compressed),
                ..large_request()
            };
            // The unary method, read as a stream of (one) message on the
            // channel, to see the response's compressed flag (a unary
            // stub call returns the message alone).
            let (_, mut stream) = ch
                .channel()
                .server_streaming::<_, SimpleResponse>(
                    TestServiceMethod::UnaryCall.path(),
                    &req,
                    ch.options(),
                )
                .await
                .map_err(st)?;
            let m = stream.message().await.map_err(st)?.ok_or("no response")?;
            ensure!(
                stream.last_compressed() == compressed,
                "response_compressed {compressed}: the flag was {}",
                stream.last_compressed()
            );
            ensure!(
                stream.message().await.map_err(st)?.is_none(),
                "two responses"
            );
            ensure!(zeros(&m.payload)? == 314_159, "payload size");
        }
        Ok(())
    }

    async fn client_streaming<R: Runtime>(ch: &Client<R>) -> Outcome {
        let requests = [27_182, 8, 1_828, 45_904].map(|n| StreamingInputCallRequest {
            payload: payload(n),
            ..Default::default()
        });
        let r = ch
            .streaming_input_call(Request::new(requests))
            .await
            .map_err(st)?;
        ensure!(
            r.message.aggregated_payload_size == 74_922,
            "aggregated {}",
            r.message.aggregated_payload_size
        );
        Ok(())
    }

    async fn client_compressed_streaming<R: Runtime>(ch: &Client<R>) -> Outcome {
        // The feature probe, uncompressed.
        let mut probe = ch.start_streaming_input_call();
        // The server may refuse the call before the send completes; the
        // status comes out of `finish` either way.
        let _ = probe
            .send(&StreamingInputCallRequest {
                expect_compressed: yes(true),
                payload: payload(27_182),
            })
            .await;
        match probe.finish().await {
            Ok(_) => {
                return Err(
                    "probe: the server accepted an uncompressed message that expected compression"
                        .into(),
                );
            }
            Err(s) if s.code == Code::InvalidArgument => {}
            Err(s) => return Err(format!("probe: {}, want InvalidArgument", st(s))),
        }
        let mut call = ch
            .clone()
            .with_compression(Encoding::Gzip)
            .start_streaming_input_call();
        call.send(&StreamingInputCallRequest {
            expect_compressed: yes(true),
            payload: payload(27_182),
        })
        .await
        .map_err(st)?;
        call.set_compression(false);
        call.send(&StreamingInputCallRequest {
            expect_compressed: yes(false),
            payload: payload(45_904),
        })
        .await
        .map_err(st)?;
        let r = call.finish().await.map_err(st)?;
        ensure!(
            r.message.aggregated_payload_size == 73_086,
            "aggregated {}",
            r.message.aggregated_payload_size
        );
        Ok(())
    }

    pub(crate) fn sized(sizes: &[i32]) -> StreamingOutputCallRequest {
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

    async fn server_streaming<R: Runtime>(ch: &Client<R>) -> Outcome {
        let sizes = [31_415, 9, 2_653, 58_979];
        let (_, mut stream) = ch
            .streaming_output_call(Request::new(sized(&sizes)))
            .await
            .map_err(st)?;
        let mut got = Vec::new();
        while let Some(m) = stream.message().await.map_err(st)? {
            got.push(zeros(&m.payload)?);
        }
        ensure!(got == sizes.map(|s| s as usize), "sizes {got:?}");
        Ok(())
    }

    async fn server_compressed_streaming<R: Runtime>(ch: &Client<R>) -> Outcome {
        let wanted = [(true, 31_415), (false, 92_653)];
        let req = StreamingOutputCallRequest {
            response_parameters: wanted
                .iter()
                .map(|&(compressed, size)| ResponseParameters {
                    size,
                    compressed: yes(compressed),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let (_, mut stream) = ch
            .streaming_output_call(Request::new(req))
            .await
            .map_err(st)?;
        let mut got = Vec::new();
        while let Some(m) = stream.message().await.map_err(st)? {
            got.push((stream.last_compressed(), zeros(&m.payload)? as i32));
        }
        ensure!(got == wanted, "(compressed, size) {got:?}, want {wanted:?}");
        Ok(())
    }

    async fn ping_pong<R: Runtime>(ch: &Client<R>) -> Outcome {
        let mut call = ch.full_duplex_call();
        for (rsize, psize) in [(31_415, 27_182), (9, 8), (2_653, 1_828), (58_979, 45_904)] {
            let mut req = sized(&[rsize]);
            req.payload = payload(psize);
            call.send(&req).await.map_err(st)?;
            let m = call.message().await.map_err(st)?.ok_or("no response")?;
            ensure!(zeros(&m.payload)? == rsize as usize, "size");
        }
        call.close_send();
        ensure!(
            call.message().await.map_err(st)?.is_none(),
            "extra response"
        );
        Ok(())
    }

    async fn empty_stream<R: Runtime>(ch: &Client<R>) -> Outcome {
        let mut call = ch.full_duplex_call();
        call.close_send();
        ensure!(call.message().await.map_err(st)?.is_none(), "a response");
        Ok(())
    }

    /// The case passes if `r` failed with `code` (and `message`, if given).
    pub(crate) fn expect(
        r: Result<impl Sized, Status>,
        code: Code,
        message: Option<&str>,
    ) -> Outcome {
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

    pub(crate) fn with_status(message: &str) -> Option<EchoStatus> {
        Some(EchoStatus {
            code: 2,
            message: message.into(),
        })
    }

    async fn status_code_and_message<R: Runtime>(ch: &Client<R>) -> Outcome {
        let req = SimpleRequest {
            response_status: with_status("test status message"),
            ..Default::default()
        };
        let r = ch.unary_call(Request::new(req)).await;
        expect(r, Code::Unknown, Some("test status message"))?;
        let mut call = ch.full_duplex_call();
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

    async fn special_status_message<R: Runtime>(ch: &Client<R>) -> Outcome {
        let req = SimpleRequest {
            response_status: with_status(SPECIAL),
            ..Default::default()
        };
        let r = ch.unary_call(Request::new(req)).await;
        expect(r, Code::Unknown, Some(SPECIAL))
    }

    async fn custom_metadata<R: Runtime>(ch: &Client<R>) -> Outcome {
        let mut md = Metadata::new();
        md.insert("x-grpc-test-echo-initial", "test_initial_metadata_value")
            .map_err(|e| e.to_string())?;
        md.insert_bin("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab")
            .map_err(|e| e.to_string())?;
        let ch = ch.clone().with_metadata(md);
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
            .unary_call(Request::new(large_request()))
            .await
            .map_err(st)?;
        check(&r.metadata, &r.trailers)?;
        let mut call = ch.full_duplex_call();
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

    async fn timeout_on_sleeping_server<R: Runtime>(ch: &Client<R>) -> Outcome {
        let mut call = ch
            .clone()
            .with_timeout(Duration::from_millis(1))
            .full_duplex_call();
        let req = StreamingOutputCallRequest {
            payload: payload(27_182),
            ..Default::default()
        };
        // The send itself may already see the deadline.
        if let Err(s) = call.send(&req).await {
            return expect(Err::<(), _>(s), Code::DeadlineExceeded, None);
        }
        expect(call.message().await, Code::DeadlineExceeded, None)
    }

    async fn cancel_after_begin<R: Runtime>(ch: &Client<R>) -> Outcome {
        let mut call = ch.start_streaming_input_call();
        // Resets the stream (CANCEL) before any message.
        call.cancel();
        expect(call.finish().await, Code::Cancelled, None)?;
        // The connection goes on serving.
        empty_unary(ch).await
    }

    async fn cancel_after_first_response<R: Runtime>(ch: &Client<R>) -> Outcome {
        let mut call = ch.full_duplex_call();
        let mut req = sized(&[31_415]);
        req.payload = payload(27_182);
        call.send(&req).await.map_err(st)?;
        let m = call.message().await.map_err(st)?.ok_or("no response")?;
        ensure!(zeros(&m.payload)? == 31_415, "size");
        call.cancel();
        expect(call.message().await, Code::Cancelled, None)?;
        empty_unary(ch).await
    }

    async fn unimplemented_method<R: Runtime>(ch: &Client<R>) -> Outcome {
        let r = ch.unimplemented_call(Request::new(Empty {})).await;
        expect(r, Code::Unimplemented, None)
    }

    async fn unimplemented_service<R: Runtime>(ch: &Client<R>) -> Outcome {
        let r = UnimplementedServiceClient::new(ch.channel().clone())
            .unimplemented_call(Request::new(Empty {}))
            .await;
        expect(r, Code::Unimplemented, None)
    }
}
