//! gRPC-Web from our side, as a library user makes it: a gRPC
//! [`Channel`](wirestate_rt::grpc::Channel) in gRPC-Web mode
//! ([`ChannelBuilder::grpc_web`](wirestate_rt::grpc::ChannelBuilder::grpc_web),
//! binary or text) and the generated typed stubs over it, on the async
//! runtimes and on blocking threads. Used by the interop client's
//! `--transport=web|web-text` ([`interop`]) and the tests; `wirestate grpc
//! --web` builds the same channel.
//!
//! A gRPC-Web call is one HTTP/1.1 POST whose body is the whole request,
//! so only unary and server-streaming calls fit ([`interop::unsupported`]
//! says why the others do not run).

use wirestate_grpc::WebMode;

/// The gRPC-Web mode of `--transport=web` (binary) or `web-text`.
pub fn mode(text: bool) -> WebMode {
    if text { WebMode::Text } else { WebMode::Binary }
}

/// The standard interop cases over gRPC-Web, through the generated
/// `TestServiceClient` on a gRPC-Web channel. The cases that differ from
/// their h2 form — `status_code_and_message`, `custom_metadata` and
/// `timeout_on_sleeping_server` use a full-duplex call there — use the
/// server-streaming `StreamingOutputCall` here, as the gRPC-Web interop
/// descriptions do; the others are the h2 cases' own code.
pub mod interop {
    use super::mode;
    use crate::grpc::interop::{
        Outcome, ensure, expect, large_request, payload, sized, st, with_status, zeros,
    };
    use std::net::SocketAddr;
    use std::time::Duration;
    use wirestate_grpc::{Code, Metadata};
    use wirestate_proto::grpc::testing::{
        ResponseParameters, StreamingOutputCallRequest, StreamingOutputCallResponse,
    };
    use wirestate_rt::Runtime;

    /// The cases gRPC-Web can carry, in the order `all` runs them.
    pub const CASES: [&str; 12] = [
        "empty_unary",
        "large_unary",
        "server_streaming",
        "status_code_and_message",
        "special_status_message",
        "custom_metadata",
        "unimplemented_method",
        "unimplemented_service",
        "timeout_on_sleeping_server",
        "client_compressed_unary",
        "server_compressed_unary",
        "server_compressed_streaming",
    ];

    /// Why `case` (a standard case name) cannot run over gRPC-Web, if it
    /// cannot.
    pub fn unsupported(case: &str) -> Option<&'static str> {
        match case {
            "client_streaming" | "client_compressed_streaming" | "cancel_after_begin" => Some(
                "client-streaming call: gRPC-Web carries unary and server-streaming calls only",
            ),
            "ping_pong" | "empty_stream" | "cancel_after_first_response" => {
                Some("bidi-streaming call: gRPC-Web carries unary and server-streaming calls only")
            }
            _ => None,
        }
    }

    /// A case's failure when gRPC-Web cannot carry it.
    fn refused(case: &str) -> Outcome {
        match unsupported(case) {
            Some(why) => Err(format!("not run over gRPC-Web: {why}")),
            None => Ok(()),
        }
    }

    /// The metadata `custom_metadata` sends.
    fn echo_metadata() -> Result<Metadata, String> {
        let mut md = Metadata::new();
        md.insert("x-grpc-test-echo-initial", "test_initial_metadata_value")
            .map_err(|e| e.to_string())?;
        md.insert_bin("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab")
            .map_err(|e| e.to_string())?;
        Ok(md)
    }

    /// The check of `custom_metadata`'s echo.
    fn check_echo(initial: &Metadata, trailing: &Metadata) -> Outcome {
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
    }

    /// `custom_metadata`'s server-streaming request: one response of
    /// 314159 bytes.
    fn one_sized_response() -> StreamingOutputCallRequest {
        let mut req = sized(&[314_159]);
        req.payload = payload(271_828);
        req
    }

    /// `timeout_on_sleeping_server`'s request: the server waits a second
    /// before its one response.
    fn sleeping_request() -> StreamingOutputCallRequest {
        StreamingOutputCallRequest {
            response_parameters: vec![ResponseParameters {
                size: 1,
                interval_us: 1_000_000,
                ..Default::default()
            }],
            payload: payload(27_182),
            ..Default::default()
        }
    }

    fn status_request() -> StreamingOutputCallRequest {
        StreamingOutputCallRequest {
            response_status: with_status("test status message"),
            ..Default::default()
        }
    }

    /// How long a case may take.
    const CASE_BOUND: Duration = Duration::from_secs(10);

    /// Runs `cases` (names from [`CASES`]; others fail, the ones gRPC-Web
    /// cannot carry with [`unsupported`]'s reason) over gRPC-Web to
    /// `addr`, text mode if `text`, through a gRPC-Web channel on `rt`,
    /// each bounded to 10 s.
    pub async fn run_cases<R: Runtime>(
        rt: R,
        addr: SocketAddr,
        cases: &[&'static str],
        text: bool,
    ) -> Vec<(&'static str, Outcome)> {
        let channel = wirestate_rt::grpc::Channel::builder(rt.clone(), addr)
            .grpc_web(mode(text))
            .connect_lazy();
        let ch = match channel {
            Ok(ch) => crate::grpc::TestServiceClient::new(ch),
            Err(e) => return cases.iter().map(|c| (*c, Err(st(e.clone())))).collect(),
        };
        let mut out = Vec::new();
        for &case in cases {
            let bound = rt.now() + CASE_BOUND;
            let r = wirestate_rt::timeout(&rt, bound, run_case(&ch, case))
                .await
                .unwrap_or_else(|| Err("timed out".into()));
            out.push((case, r));
        }
        out
    }

    async fn run_case<R: Runtime>(ch: &crate::grpc::TestServiceClient<R>, case: &str) -> Outcome {
        use wirestate_rt::grpc::Request;
        refused(case)?;
        match case {
            "status_code_and_message" => {
                let r = ch.unary_call(Request::new(large_status())).await;
                expect(r, Code::Unknown, Some("test status message"))?;
                let r = ch
                    .streaming_output_call(Request::new(status_request()))
                    .await;
                let mut stream = r.map_err(st)?.1;
                expect(
                    stream.message().await,
                    Code::Unknown,
                    Some("test status message"),
                )
            }
            "custom_metadata" => {
                let ch = ch.clone().with_metadata(echo_metadata()?);
                let r = ch
                    .unary_call(Request::new(large_request()))
                    .await
                    .map_err(st)?;
                ensure!(zeros(&r.message.payload)? == 314_159, "payload size");
                check_echo(&r.metadata, &r.trailers)?;
                let (initial, mut stream) = ch
                    .streaming_output_call(Request::new(one_sized_response()))
                    .await
                    .map_err(st)?;
                let mut sizes = Vec::new();
                while let Some(m) = stream.message().await.map_err(st)? {
                    sizes.push(zeros(&m.payload)?);
                }
                ensure!(sizes == [314_159], "sizes {sizes:?}");
                let trailing = Metadata::from_headers(stream.trailers().ok_or("no trailers")?);
                check_echo(&initial, &trailing)
            }
            "timeout_on_sleeping_server" => {
                let ch = ch.clone().with_timeout(Duration::from_millis(1));
                let r = ch
                    .streaming_output_call(Request::new(sleeping_request()))
                    .await;
                match r {
                    Err(s) => expect(Err::<(), _>(s), Code::DeadlineExceeded, None),
                    Ok((_, mut stream)) => {
                        expect(stream.message().await, Code::DeadlineExceeded, None)
                    }
                }
            }
            other => crate::grpc::interop::run_case(ch, other).await,
        }
    }

    /// `status_code_and_message`'s unary request.
    fn large_status() -> wirestate_proto::grpc::testing::SimpleRequest {
        wirestate_proto::grpc::testing::SimpleRequest {
            response_status: with_status("test status message"),
            ..Default::default()
        }
    }

    /// [`run_cases`] on blocking threads, through a blocking gRPC-Web
    /// channel (every call bounded to 10 s).
    pub fn run_cases_blocking(
        addr: SocketAddr,
        cases: &[&'static str],
        text: bool,
    ) -> Vec<(&'static str, Outcome)> {
        let channel = wirestate_blocking::grpc::Channel::builder(&addr.to_string())
            .grpc_web(mode(text))
            .connect_lazy();
        let ch = match channel {
            Ok(ch) => crate::grpc_blocking::TestServiceClient::new(ch).with_timeout(CASE_BOUND),
            Err(e) => return cases.iter().map(|c| (*c, Err(st(e.clone())))).collect(),
        };
        cases
            .iter()
            .map(|&case| (case, run_case_blocking(&ch, case)))
            .collect()
    }

    fn run_case_blocking(ch: &crate::grpc_blocking::TestServiceClient, case: &str) -> Outcome {
        use wirestate_blocking::grpc::Request;
        refused(case)?;
        let streamed = |ch: &crate::grpc_blocking::TestServiceClient,
                        req: StreamingOutputCallRequest|
         -> Result<
            (
                Metadata,
                wirestate_blocking::grpc::Streaming<StreamingOutputCallResponse>,
            ),
            String,
        > { ch.streaming_output_call(Request::new(req)).map_err(st) };
        match case {
            "status_code_and_message" => {
                let r = ch.unary_call(Request::new(large_status()));
                expect(r, Code::Unknown, Some("test status message"))?;
                let (_, mut stream) = streamed(ch, status_request())?;
                expect(stream.message(), Code::Unknown, Some("test status message"))
            }
            "custom_metadata" => {
                let ch = ch.clone().with_metadata(echo_metadata()?);
                let r = ch.unary_call(Request::new(large_request())).map_err(st)?;
                ensure!(zeros(&r.message.payload)? == 314_159, "payload size");
                check_echo(&r.metadata, &r.trailers)?;
                let (initial, mut stream) = streamed(&ch, one_sized_response())?;
                let mut sizes = Vec::new();
                while let Some(m) = stream.message().map_err(st)? {
                    sizes.push(zeros(&m.payload)?);
                }
                ensure!(sizes == [314_159], "sizes {sizes:?}");
                let trailing = Metadata::from_headers(stream.trailers().ok_or("no trailers")?);
                check_echo(&initial, &trailing)
            }
            "timeout_on_sleeping_server" => {
                let ch = ch.clone().with_timeout(Duration::from_millis(1));
                match ch.streaming_output_call(Request::new(sleeping_request())) {
                    Err(s) => expect(Err::<(), _>(s), Code::DeadlineExceeded, None),
                    Ok((_, mut stream)) => expect(stream.message(), Code::DeadlineExceeded, None),
                }
            }
            other => crate::grpc_blocking::interop::run_case(ch, other),
        }
    }
}
