//! The gRPC services of `wirestate serve --runtime blocking`, on
//! [`wirestate_blocking::grpc`]: the same `grpc.testing.TestService`,
//! `grpc.health.v1.Health`, `wirestate.echo.v1.Echo` and reflection as the async
//! runtimes serve ([`crate::grpc`]), written as plain functions (streamed
//! responses are iterators) — the TestService routed method by method with
//! closures, Echo as an implementation of the blocking server trait
//! wirestate-codegen generates (build.rs), Health wirestate-grpc-health's —
//! and the standard
//! interop client cases run with the generated blocking
//! [`TestServiceClient`]. What does not wait on anything (payloads, the
//! echoed metadata and statuses, the cases' requests and checks) is
//! [`crate::grpc`]'s.

// `Status` is every gRPC handler's error type.
#![allow(clippy::result_large_err)]

use http::{Request as HttpRequest, Response as HttpResponse};
use std::time::{Duration, Instant};
use wirestate_blocking::grpc::{
    Code, Encoding, Metadata, Request, Response, ResponseCompression, Responses, Server, Status,
    Streaming,
};
use wirestate_blocking::{BlockingBody, ResponseBody, ServerHandle};
// The TestService, Echo and Health rules that do not wait on anything are
// the async module's: only the serving differs.
use crate::grpc::{asked_status, echo_response, echoed, expect_compressed, flag, payload};
use wirestate_proto::grpc::testing::{
    Empty, SimpleRequest, SimpleResponse, StreamingInputCallRequest, StreamingInputCallResponse,
    StreamingOutputCallRequest, StreamingOutputCallResponse, TestServiceMethod,
};
use wirestate_proto::wirestate::echo::v1::{EchoRequest, EchoResponse};

/// Every service here on one router. `shutdown` is the HTTP server's
/// handle: once it shuts down, the health service reports every service
/// NOT_SERVING and its `Watch` calls send that and end (UNAVAILABLE), so
/// that a graceful shutdown does not wait for them forever.
pub fn server(shutdown: Option<ServerHandle>) -> Server {
    // gzip offered; TestService responses are compressed when a request
    // asks (`response_compressed`), the others never.
    let server = Server::new().offer_compression(Encoding::Gzip);
    let server = echo_service(test_service(server));
    let server =
        wirestate_grpc_health::blocking::add_health(server, crate::grpc::health(), shutdown);
    wirestate_grpc_reflection::blocking::add_reflection(server, crate::grpc::reflection())
}

/// The interop `TestService` alone, as the standard interop server serves
/// it (`examples/interop_server`): gzip offered, messages compressed when
/// a request asks (`response_compressed`). Serve it with
/// `wirestate_blocking::Server::bind(addr, config)?.serve(test_server())`.
pub fn test_server() -> Server {
    test_service(Server::new().offer_compression(Encoding::Gzip))
}

/// `wirestate serve --runtime blocking`'s handler: gRPC and gRPC-Web
/// requests, and any request for one of `grpc`'s methods, to `grpc`;
/// everything else to the demo routes.
pub fn with_grpc(
    grpc: Server,
) -> impl Fn(HttpRequest<BlockingBody>) -> HttpResponse<ResponseBody> + Send + Sync + 'static {
    with_grpc_cors(grpc, None)
}

/// [`with_grpc`], with an optional CORS policy for browsers' gRPC-Web
/// calls (`wirestate serve --grpc-web-cors`): with one, CORS preflights
/// (`OPTIONS`) go to the gRPC server too, and are answered by the policy.
pub fn with_grpc_cors(
    grpc: Server,
    cors: Option<wirestate_blocking::grpc::CorsPolicy>,
) -> impl Fn(HttpRequest<BlockingBody>) -> HttpResponse<ResponseBody> + Send + Sync + 'static {
    use wirestate_blocking::grpc::Cors;
    let cors = cors.map(|policy| Cors::new(policy, grpc.clone()));
    move |req| {
        // A method the gRPC server has is its to answer whatever the
        // content type: 415 (PROTOCOL-HTTP2.md) rather than the demo
        // routes' 404 for a gRPC path without application/grpc.
        let is_grpc = wirestate_blocking::grpc::is_grpc(&req) || grpc.has_route(req.uri().path());
        match &cors {
            Some(cors) if is_grpc || Cors::<()>::is_preflight(&req) => {
                wirestate_blocking::Handler::call(cors, req)
            }
            _ if is_grpc => wirestate_blocking::Handler::call(&grpc, req),
            _ => crate::routes::handle_blocking(req),
        }
    }
}

fn simple(req: Request<SimpleRequest>) -> Result<Response<SimpleResponse>, Status> {
    let (initial, trailing) = echoed(&req.metadata);
    expect_compressed(&req.message.expect_compressed, req.message_compressed())?;
    req.response_compression()
        .set(flag(&req.message.response_compressed));
    let r = req.message;
    asked_status(&r.response_status).map_err(|s| s.with_metadata(trailing.clone()))?;
    Ok(Response {
        metadata: initial,
        message: SimpleResponse {
            payload: payload(r.response_size)?,
            ..Default::default()
        },
        trailers: trailing,
    })
}

/// The responses one `StreamingOutputCallRequest` asks for, each after
/// its `interval_us` and compressed if it says so, then its
/// `response_status` (with `trailing`).
fn stream_out(
    r: StreamingOutputCallRequest,
    compression: ResponseCompression,
    deadline: Option<Instant>,
    trailing: Metadata,
) -> impl Iterator<Item = Result<StreamingOutputCallResponse, Status>> + Send {
    let status = r.response_status.clone();
    let messages = r.response_parameters.into_iter().map(move |p| {
        if p.interval_us > 0 {
            let due = Instant::now() + Duration::from_micros(p.interval_us as u64);
            // No sleeping past the call's deadline: the server ends the
            // call then, and this thread is free again.
            let wake = deadline.map_or(due, |d| due.min(d));
            std::thread::sleep(wake.saturating_duration_since(Instant::now()));
            if wake < due {
                return Err(Status::new(Code::DeadlineExceeded, "deadline exceeded"));
            }
        }
        compression.set(flag(&p.compressed));
        payload(p.size).map(|payload| StreamingOutputCallResponse { payload })
    });
    let end = std::iter::once(status).filter_map(move |s| {
        asked_status(&s)
            .err()
            .map(|e| Err(e.with_metadata(trailing.clone())))
    });
    messages.chain(end)
}

/// `grpc.testing.TestService` (`UnimplementedCall` left unrouted).
pub fn test_service(server: Server) -> Server {
    server
        .unary(
            TestServiceMethod::EmptyCall.path(),
            |req: Request<Empty>| {
                let (initial, trailing) = echoed(&req.metadata);
                Ok(Response {
                    metadata: initial,
                    message: Empty {},
                    trailers: trailing,
                })
            },
        )
        .unary(TestServiceMethod::UnaryCall.path(), simple)
        .unary(TestServiceMethod::CacheableUnaryCall.path(), simple)
        .server_streaming(
            TestServiceMethod::StreamingOutputCall.path(),
            |req: Request<StreamingOutputCallRequest>| {
                let (initial, trailing) = echoed(&req.metadata);
                let (compression, deadline) = (req.response_compression(), req.deadline);
                Ok(Response {
                    metadata: initial,
                    message: stream_out(req.message, compression, deadline, trailing.clone()),
                    trailers: trailing,
                })
            },
        )
        .client_streaming(
            TestServiceMethod::StreamingInputCall.path(),
            |req: Request<Streaming<StreamingInputCallRequest>>| {
                let (initial, trailing) = echoed(&req.metadata);
                let mut total: i64 = 0;
                let mut stream = req.message;
                while let Some(m) = stream.message()? {
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
            |req: Request<Streaming<StreamingOutputCallRequest>>| {
                let (initial, trailing) = echoed(&req.metadata);
                let t = trailing.clone();
                let (compression, deadline) = (req.response_compression(), req.deadline);
                // Each request's responses as soon as it arrives.
                let responses = req.message.flat_map(move |r| {
                    let out: Box<dyn Iterator<Item = _> + Send> = match r {
                        Ok(r) => Box::new(stream_out(r, compression.clone(), deadline, t.clone())),
                        Err(s) => Box::new(std::iter::once(Err(s))),
                    };
                    out
                });
                Ok(Response {
                    metadata: initial,
                    message: responses,
                    trailers: trailing,
                })
            },
        )
        .bidi_streaming(
            TestServiceMethod::HalfDuplexCall.path(),
            |req: Request<Streaming<StreamingOutputCallRequest>>| {
                // Every request first, then every response.
                let (compression, deadline) = (req.response_compression(), req.deadline);
                let all: Vec<StreamingOutputCallRequest> =
                    req.message.collect::<Result<_, Status>>()?;
                let responses = all.into_iter().flat_map(move |r| {
                    stream_out(r, compression.clone(), deadline, Metadata::new())
                });
                Ok(Response::new(responses))
            },
        )
}

/// The server traits, routers and typed client stubs generated for the
/// Echo and Health services, and the client stubs of `grpc.testing`, for
/// the blocking runtime by build.rs (wirestate-codegen with `blocking` and
/// `server_router`).
#[allow(missing_docs, dead_code, clippy::all)]
mod generated {
    pub mod echo {
        include!(concat!(env!("OUT_DIR"), "/blocking/wirestate.echo.v1.rs"));
    }
    pub mod health {
        include!(concat!(env!("OUT_DIR"), "/blocking/grpc.health.v1.rs"));
    }
    pub mod testing {
        include!(concat!(env!("OUT_DIR"), "/blocking/grpc.testing.rs"));
    }
}

pub use generated::echo::{EchoClient, EchoServer, add_echo_server};
pub use generated::health::{HealthClient, HealthServer, add_health_server};
pub use generated::testing::{TestServiceClient, UnimplementedServiceClient};

/// `wirestate.echo.v1.Echo`, as an implementation of the generated
/// blocking [`EchoServer`] trait: `Echo` answers the request, `EchoStream`
/// answers it `repeat` times, `EchoCollect` concatenates the payloads (the
/// last message wins, `index` counts them), `EchoBidi` answers each
/// message as it comes.
#[derive(Debug, Clone, Copy, Default)]
pub struct EchoService;

impl EchoServer for EchoService {
    fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        Ok(Response::new(echo_response(&request.message, 0)))
    }

    fn echo_stream(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<Responses<EchoResponse>>, Status> {
        let r = request.message;
        let responses = (0..r.repeat.min(1_000_000)).map(move |i| Ok(echo_response(&r, i)));
        Ok(Response::new(Box::new(responses)))
    }

    fn echo_collect(
        &self,
        requests: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoResponse>, Status> {
        let mut response = EchoResponse::default();
        for r in requests.message {
            let r = r?;
            response.message = r.message;
            response.payload.extend_from_slice(&r.payload);
            response.index += 1;
        }
        Ok(Response::new(response))
    }

    fn echo_bidi(
        &self,
        requests: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<Responses<EchoResponse>>, Status> {
        let responses = requests
            .message
            .zip(0..)
            .map(|(r, i)| r.map(|r| echo_response(&r, i)));
        Ok(Response::new(Box::new(responses)))
    }
}

/// Routes [`EchoService`] on `server`.
pub fn echo_service(server: Server) -> Server {
    add_echo_server(server, EchoService)
}

/// The 18 standard gRPC interop client cases (grpc/grpc
/// `doc/interop-test-descriptions.md`) that the generated blocking
/// [`TestServiceClient`] runs over the blocking
/// [`Channel`](wirestate_blocking::grpc::Channel) against a `TestService`
/// at `addr`.
pub mod interop {
    use super::{Instant, TestServiceClient, UnimplementedServiceClient};
    // The requests and checks of the cases are the async module's; only
    // the calls differ.
    use crate::grpc::interop::{
        SPECIAL, ensure, expect, large_request, payload, sized, st, with_status, yes, zeros,
    };
    use std::time::Duration;
    use wirestate_blocking::grpc::{Channel, Code, Encoding, Metadata, Request};
    use wirestate_proto::grpc::testing::{
        Empty, ResponseParameters, SimpleRequest, SimpleResponse, StreamingInputCallRequest,
        StreamingOutputCallRequest, TestServiceMethod,
    };

    /// The client the cases call through.
    type Client = TestServiceClient;

    /// A case's outcome: why it failed.
    pub type Outcome = Result<(), String>;

    /// A case: runs against the client.
    type Case = fn(&Client) -> Outcome;

    /// Every case, in the order `all` runs them.
    const TABLE: [(&str, Case); 18] = [
        ("empty_unary", empty_unary),
        ("large_unary", large_unary),
        ("client_streaming", client_streaming),
        ("server_streaming", server_streaming),
        ("ping_pong", ping_pong),
        ("empty_stream", empty_stream),
        ("status_code_and_message", status_code_and_message),
        ("special_status_message", special_status_message),
        ("custom_metadata", custom_metadata),
        ("unimplemented_method", unimplemented_method),
        ("unimplemented_service", unimplemented_service),
        ("timeout_on_sleeping_server", timeout_on_sleeping_server),
        ("cancel_after_begin", cancel_after_begin),
        ("cancel_after_first_response", cancel_after_first_response),
        ("client_compressed_unary", client_compressed_unary),
        ("server_compressed_unary", server_compressed_unary),
        ("client_compressed_streaming", client_compressed_streaming),
        ("server_compressed_streaming", server_compressed_streaming),
    ];

    /// The names of every case, in order (the same names as the async
    /// module's).
    pub fn cases() -> impl Iterator<Item = &'static str> {
        TABLE.iter().map(|(name, _)| *name)
    }

    /// Runs every case against `addr` (`host:port`), one `(case, outcome)`
    /// each, in order.
    pub fn run(addr: &str) -> Vec<(&'static str, Outcome)> {
        let all: Vec<&str> = cases().collect();
        run_cases(addr, &all)
    }

    /// Runs the named cases against `addr`, in the order given; an unknown
    /// name fails as the case `unknown`.
    pub fn run_cases(addr: &str, names: &[&str]) -> Vec<(&'static str, Outcome)> {
        // Every case bounded: calls carry a 10 s deadline unless the case
        // sets its own.
        let ch = match Channel::connect(addr) {
            Ok(ch) => TestServiceClient::new(ch).with_timeout(Duration::from_secs(10)),
            Err(e) => return vec![("connect", Err(st(e)))],
        };
        names
            .iter()
            .map(|name| match TABLE.iter().find(|(n, _)| n == name) {
                Some((n, case)) => (*n, case(&ch)),
                None => ("unknown", Err(format!("unknown case {name:?}"))),
            })
            .collect()
    }

    /// Runs the case named `name` (an unknown name fails).
    pub(crate) fn run_case(ch: &Client, name: &str) -> Outcome {
        match TABLE.iter().find(|(n, _)| *n == name) {
            Some((_, case)) => case(ch),
            None => Err(format!("unknown case {name:?}")),
        }
    }

    fn empty_unary(ch: &Client) -> Outcome {
        let r = ch.empty_call(Request::new(Empty {})).map_err(st)?;
        ensure!(r.message == Empty {}, "not empty");
        Ok(())
    }

    fn large_unary(ch: &Client) -> Outcome {
        let r = ch.unary_call(Request::new(large_request())).map_err(st)?;
        ensure!(zeros(&r.message.payload)? == 314_159, "payload size");
        Ok(())
    }

    fn client_compressed_unary(ch: &Client) -> Outcome {
        let call = |expect: bool, encoding: Encoding| {
            let req = SimpleRequest {
                expect_compressed: yes(expect),
                ..large_request()
            };
            ch.clone()
                .with_compression(encoding)
                .unary_call(Request::new(req))
        };
        // The feature probe: an uncompressed message that claims to be
        // compressed must be refused.
        expect(call(true, Encoding::Identity), Code::InvalidArgument, None)
            .map_err(|e| format!("probe: {e}"))?;
        let r = call(true, Encoding::Gzip).map_err(|e| format!("compressed: {}", st(e)))?;
        ensure!(zeros(&r.message.payload)? == 314_159, "payload size");
        let r = call(false, Encoding::Identity).map_err(|e| format!("uncompressed: {}", st(e)))?;
        ensure!(zeros(&r.message.payload)? == 314_159, "payload size");
        Ok(())
    }

    fn server_compressed_unary(ch: &Client) -> Outcome {
        for compressed in [true, false] {
            let req = SimpleRequest {
                response_compressed: yes(compressed),
                ..large_request()
            };
            // The unary method read as a stream of (one) message on the
            // channel, to see the response's compressed flag (a unary stub
            // call returns the message alone).
            let (_, mut stream) = ch
                .channel()
                .server_streaming::<_, SimpleResponse>(
                    TestServiceMethod::UnaryCall.path(),
                    &req,
                    ch.options(),
                )
                .map_err(st)?;
            let m = stream.message().map_err(st)?.ok_or("no response")?;
            ensure!(
                stream.last_compressed() == compressed,
                "response_compressed {compressed}: the flag was {}",
                stream.last_compressed()
            );
            ensure!(stream.message().map_err(st)?.is_none(), "two responses");
            ensure!(zeros(&m.payload)? == 314_159, "payload size");
        }
        Ok(())
    }

    fn client_compressed_streaming(ch: &Client) -> Outcome {
        // The feature probe, uncompressed: refused whether or not the send
        // completes first; the status comes out of `finish`.
        let mut probe = ch.start_streaming_input_call().map_err(st)?;
        let _ = probe.send(&StreamingInputCallRequest {
            expect_compressed: yes(true),
            payload: payload(27_182),
        });
        expect(probe.finish(), Code::InvalidArgument, None).map_err(|e| format!("probe: {e}"))?;
        let mut call = ch
            .clone()
            .with_compression(Encoding::Gzip)
            .start_streaming_input_call()
            .map_err(st)?;
        call.send(&StreamingInputCallRequest {
            expect_compressed: yes(true),
            payload: payload(27_182),
        })
        .map_err(st)?;
        call.set_compression(false);
        call.send(&StreamingInputCallRequest {
            expect_compressed: yes(false),
            payload: payload(45_904),
        })
        .map_err(st)?;
        let r = call.finish().map_err(st)?;
        ensure!(
            r.message.aggregated_payload_size == 73_086,
            "aggregated {}",
            r.message.aggregated_payload_size
        );
        Ok(())
    }

    fn server_compressed_streaming(ch: &Client) -> Outcome {
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
        let (_, mut stream) = ch.streaming_output_call(Request::new(req)).map_err(st)?;
        let mut got = Vec::new();
        while let Some(m) = stream.message().map_err(st)? {
            got.push((stream.last_compressed(), zeros(&m.payload)? as i32));
        }
        ensure!(got == wanted, "(compressed, size) {got:?}, want {wanted:?}");
        Ok(())
    }

    fn client_streaming(ch: &Client) -> Outcome {
        let requests = [27_182, 8, 1_828, 45_904].map(|n| StreamingInputCallRequest {
            payload: payload(n),
            ..Default::default()
        });
        let r = ch
            .streaming_input_call(Request::new(requests))
            .map_err(st)?;
        ensure!(
            r.message.aggregated_payload_size == 74_922,
            "aggregated {}",
            r.message.aggregated_payload_size
        );
        Ok(())
    }

    fn server_streaming(ch: &Client) -> Outcome {
        let sizes = [31_415, 9, 2_653, 58_979];
        let (_, stream) = ch
            .streaming_output_call(Request::new(sized(&sizes)))
            .map_err(st)?;
        let mut got = Vec::new();
        for m in stream {
            got.push(zeros(&m.map_err(st)?.payload)?);
        }
        ensure!(got == sizes.map(|s| s as usize), "sizes {got:?}");
        Ok(())
    }

    fn ping_pong(ch: &Client) -> Outcome {
        let mut call = ch.full_duplex_call().map_err(st)?;
        for (rsize, psize) in [(31_415, 27_182), (9, 8), (2_653, 1_828), (58_979, 45_904)] {
            let mut req = sized(&[rsize]);
            req.payload = payload(psize);
            call.send(&req).map_err(st)?;
            let m = call.message().map_err(st)?.ok_or("stream ended early")?;
            ensure!(zeros(&m.payload)? == rsize as usize, "size");
        }
        call.close_send();
        ensure!(call.message().map_err(st)?.is_none(), "extra message");
        Ok(())
    }

    fn empty_stream(ch: &Client) -> Outcome {
        let mut call = ch.full_duplex_call().map_err(st)?;
        call.close_send();
        ensure!(call.message().map_err(st)?.is_none(), "a message");
        Ok(())
    }

    fn status_code_and_message(ch: &Client) -> Outcome {
        let req = SimpleRequest {
            response_status: with_status("test status message"),
            ..Default::default()
        };
        let r = ch.unary_call(Request::new(req));
        expect(r, Code::Unknown, Some("test status message"))?;
        let mut call = ch.full_duplex_call().map_err(st)?;
        let req = StreamingOutputCallRequest {
            response_status: with_status("test status message"),
            ..Default::default()
        };
        call.send(&req).map_err(st)?;
        call.close_send();
        expect(call.message(), Code::Unknown, Some("test status message"))
    }

    fn special_status_message(ch: &Client) -> Outcome {
        let req = SimpleRequest {
            response_status: with_status(SPECIAL),
            ..Default::default()
        };
        let r = ch.unary_call(Request::new(req));
        expect(r, Code::Unknown, Some(SPECIAL))
    }

    fn custom_metadata(ch: &Client) -> Outcome {
        let mut md = Metadata::new();
        md.insert("x-grpc-test-echo-initial", "test_initial_metadata_value")
            .map_err(|e| e.to_string())?;
        md.insert_bin("x-grpc-test-echo-trailing-bin", &[0xab, 0xab, 0xab])
            .map_err(|e| e.to_string())?;
        let ch = ch.clone().with_metadata(md);
        let check = |initial: &Metadata, trailing: &Metadata| -> Outcome {
            ensure!(
                initial.get_str("x-grpc-test-echo-initial") == Some("test_initial_metadata_value"),
                "initial metadata {initial:?}"
            );
            let bin = trailing.get_bin("x-grpc-test-echo-trailing-bin");
            ensure!(
                matches!(bin, Some(Ok(ref b)) if b[..] == [0xab, 0xab, 0xab]),
                "trailing metadata {trailing:?}"
            );
            Ok(())
        };
        let req = SimpleRequest {
            response_size: 314_159,
            payload: payload(271_828),
            ..Default::default()
        };
        let r = ch.unary_call(Request::new(req)).map_err(st)?;
        check(&r.metadata, &r.trailers)?;
        let mut call = ch.full_duplex_call().map_err(st)?;
        let mut req = sized(&[314_159]);
        req.payload = payload(271_828);
        call.send(&req).map_err(st)?;
        call.close_send();
        let initial = call.metadata().map_err(st)?;
        while call.message().map_err(st)?.is_some() {}
        let trailing = Metadata::from_headers(call.trailers().ok_or("no trailers")?);
        check(&initial, &trailing)
    }

    fn timeout_on_sleeping_server(ch: &Client) -> Outcome {
        let mut call = ch
            .clone()
            .with_timeout(Duration::from_millis(1))
            .full_duplex_call()
            .map_err(st)?;
        let mut req = sized(&[]);
        req.payload = payload(27_182);
        // The send may already fail past the deadline; the read says how.
        let _ = call.send(&req);
        expect(call.message(), Code::DeadlineExceeded, None)
    }

    fn cancel_after_begin(ch: &Client) -> Outcome {
        let call = ch.start_streaming_input_call().map_err(st)?;
        // Dropping the call cancels it (RST_STREAM CANCEL); the
        // connection goes on serving.
        drop(call);
        empty_unary(ch).map_err(|e| format!("after the cancel: {e}"))
    }

    fn cancel_after_first_response(ch: &Client) -> Outcome {
        let started = Instant::now();
        let mut call = ch.full_duplex_call().map_err(st)?;
        let mut req = sized(&[31_415]);
        req.payload = payload(27_182);
        call.send(&req).map_err(st)?;
        let m = call.message().map_err(st)?.ok_or("no response")?;
        ensure!(zeros(&m.payload)? == 31_415, "size");
        drop(call);
        ensure!(started.elapsed() < Duration::from_secs(5), "slow");
        empty_unary(ch).map_err(|e| format!("after the cancel: {e}"))
    }

    fn unimplemented_method(ch: &Client) -> Outcome {
        let r = ch.unimplemented_call(Request::new(Empty {}));
        expect(r, Code::Unimplemented, None)
    }

    fn unimplemented_service(ch: &Client) -> Outcome {
        let r = UnimplementedServiceClient::new(ch.channel().clone())
            .with_options(ch.options().clone())
            .unimplemented_call(Request::new(Empty {}));
        expect(r, Code::Unimplemented, None)
    }
}
