//! gRPC on the rt layer, our client against our server (the services of
//! `wirestate serve`: interop TestService, Health, Echo) over h2c on
//! 127.0.0.1, on tokio and smol: the four call kinds, status and message
//! from `response_status`, metadata echo both ways, deadlines, unknown
//! methods, gzip both ways, cancellation on drop, and gRPC-Web (binary and
//! text) over HTTP/1.1 on the same port, raw and through a channel in
//! gRPC-Web mode (on blocking threads too, `web_channel`).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;
use wirestate_proto::grpc::health::v1::{HealthCheckRequest, HealthCheckResponse, HealthMethod};
use wirestate_proto::grpc::testing::{
    EchoStatus, Empty, Payload, ResponseParameters, SimpleRequest, SimpleResponse,
    StreamingInputCallRequest, StreamingInputCallResponse, StreamingOutputCallRequest,
    StreamingOutputCallResponse, TestServiceMethod,
};
use wirestate_proto::wirestate::echo::v1::{EchoMethod, EchoRequest, EchoResponse};
use wirestate_rt::Runtime;
use wirestate_rt::grpc::{CallOptions, Channel, Code, Encoding, Metadata};
use wirestate_rt::http1::ServerConfig;

const BOUND: Duration = Duration::from_secs(20);

/// Starts `wirestate serve`'s handler with the gRPC services on tokio.
fn start_tokio() -> (SocketAddr, tokio::runtime::Runtime) {
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
        let grpc =
            wirestate_examples::grpc::server(wirestate_tokio::TokioRuntime, Default::default());
        let handler =
            wirestate_examples::routes::with_grpc(grpc, wirestate_examples::routes::handle);
        tokio::spawn(wirestate_tokio::serve(
            listener,
            handler,
            ServerConfig::default(),
            wirestate_rt::Shutdown::new(),
        ));
        addr
    });
    (addr, rt)
}

async fn channel<R: Runtime>(rt: R, addr: SocketAddr) -> Channel<R> {
    let io = rt.connect(addr).await.unwrap();
    let (send, driver) = wirestate_rt::h2::handshake(rt.clone(), io, Default::default());
    rt.spawn(Box::pin(async move {
        let _ = driver.await;
    }));
    Channel::new(rt, send, &addr.to_string()).unwrap()
}

fn payload(n: usize) -> Option<Payload> {
    Some(Payload {
        r#type: 0,
        body: vec![0; n],
    })
}

/// The interop cases, our client against `addr`.
async fn interop_cases<R: Runtime>(rt: R, addr: SocketAddr) {
    let ch = channel(rt, addr).await;
    let opts = CallOptions::default();

    // empty_unary
    let r = ch
        .unary::<_, Empty>(TestServiceMethod::EmptyCall.path(), &Empty {}, &opts)
        .await
        .unwrap();
    assert_eq!(r.message, Empty {});

    // large_unary
    let req = SimpleRequest {
        response_size: 314_159,
        payload: payload(271_828),
        ..Default::default()
    };
    let r = ch
        .unary::<_, SimpleResponse>(TestServiceMethod::UnaryCall.path(), &req, &opts)
        .await
        .unwrap();
    assert_eq!(r.message.payload.unwrap().body.len(), 314_159);

    // large_unary, gzip both ways
    let gz = CallOptions::default().with_compression(Encoding::Gzip);
    let r = ch
        .unary::<_, SimpleResponse>(TestServiceMethod::UnaryCall.path(), &req, &gz)
        .await
        .unwrap();
    assert_eq!(r.message.payload.unwrap().body.len(), 314_159);

    // client_streaming
    let mut call = ch.client_streaming::<_, StreamingInputCallResponse>(
        TestServiceMethod::StreamingInputCall.path(),
        &opts,
    );
    for n in [27_182, 8, 1_828, 45_904] {
        call.send(&StreamingInputCallRequest {
            payload: payload(n),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    assert_eq!(
        call.finish().await.unwrap().message.aggregated_payload_size,
        74_922
    );

    // server_streaming
    let req = StreamingOutputCallRequest {
        response_parameters: [31_415, 9, 2_653, 58_979]
            .iter()
            .map(|&size| ResponseParameters {
                size,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let (_, mut stream) = ch
        .server_streaming::<_, StreamingOutputCallResponse>(
            TestServiceMethod::StreamingOutputCall.path(),
            &req,
            &opts,
        )
        .await
        .unwrap();
    let mut sizes = Vec::new();
    while let Some(m) = stream.message().await.unwrap() {
        sizes.push(m.payload.unwrap().body.len());
    }
    assert_eq!(sizes, [31_415, 9, 2_653, 58_979]);

    // ping_pong
    let mut call = ch.streaming::<_, StreamingOutputCallResponse>(
        TestServiceMethod::FullDuplexCall.path(),
        &opts,
    );
    for (rsize, psize) in [(31_415, 27_182), (9, 8), (2_653, 1_828), (58_979, 45_904)] {
        call.send(&StreamingOutputCallRequest {
            response_parameters: vec![ResponseParameters {
                size: rsize,
                ..Default::default()
            }],
            payload: payload(psize),
            ..Default::default()
        })
        .await
        .unwrap();
        let m = call.message().await.unwrap().unwrap();
        assert_eq!(m.payload.unwrap().body.len(), rsize as usize);
    }
    call.close_send();
    assert!(call.message().await.unwrap().is_none());

    // empty_stream
    let mut call = ch.streaming::<StreamingOutputCallRequest, StreamingOutputCallResponse>(
        TestServiceMethod::FullDuplexCall.path(),
        &opts,
    );
    call.close_send();
    assert!(call.message().await.unwrap().is_none());

    // status_code_and_message + special_status_message (unary and duplex)
    let message = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n";
    let req = SimpleRequest {
        response_status: Some(EchoStatus {
            code: 2,
            message: message.into(),
        }),
        ..Default::default()
    };
    let e = ch
        .unary::<_, SimpleResponse>(TestServiceMethod::UnaryCall.path(), &req, &opts)
        .await
        .unwrap_err();
    assert_eq!((e.code, e.message.as_str()), (Code::Unknown, message));
    let mut call = ch.streaming::<_, StreamingOutputCallResponse>(
        TestServiceMethod::FullDuplexCall.path(),
        &opts,
    );
    call.send(&StreamingOutputCallRequest {
        response_status: Some(EchoStatus {
            code: 2,
            message: "test status message".into(),
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    call.close_send();
    let e = call.message().await.unwrap_err();
    assert_eq!(e.code, Code::Unknown);
    assert_eq!(e.message, "test status message");

    // custom_metadata (unary and duplex)
    let mut md = Metadata::new();
    md.insert("x-grpc-test-echo-initial", "test_initial_metadata_value")
        .unwrap();
    md.insert_bin("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab")
        .unwrap();
    let mopts = CallOptions::default().with_metadata(md);
    let r = ch
        .unary::<_, SimpleResponse>(
            TestServiceMethod::UnaryCall.path(),
            &SimpleRequest {
                response_size: 314_159,
                payload: payload(271_828),
                ..Default::default()
            },
            &mopts,
        )
        .await
        .unwrap();
    assert_eq!(
        r.metadata.get_str("x-grpc-test-echo-initial"),
        Some("test_initial_metadata_value")
    );
    assert_eq!(
        &r.trailers
            .get_bin("x-grpc-test-echo-trailing-bin")
            .unwrap()
            .unwrap()[..],
        b"\xab\xab\xab"
    );
    let mut call = ch.streaming::<_, StreamingOutputCallResponse>(
        TestServiceMethod::FullDuplexCall.path(),
        &mopts,
    );
    call.send(&StreamingOutputCallRequest {
        response_parameters: vec![ResponseParameters {
            size: 314_159,
            ..Default::default()
        }],
        payload: payload(271_828),
        ..Default::default()
    })
    .await
    .unwrap();
    call.close_send();
    assert!(call.message().await.unwrap().is_some());
    assert!(call.message().await.unwrap().is_none());
    assert_eq!(
        call.metadata()
            .await
            .unwrap()
            .get_str("x-grpc-test-echo-initial"),
        Some("test_initial_metadata_value")
    );
    assert_eq!(
        call.trailers().unwrap()["x-grpc-test-echo-trailing-bin"],
        "q6ur"
    );

    // timeout_on_sleeping_server
    let mut call = ch.streaming::<_, StreamingOutputCallResponse>(
        TestServiceMethod::FullDuplexCall.path(),
        &CallOptions::default().with_timeout(Duration::from_millis(1)),
    );
    let _ = call
        .send(&StreamingOutputCallRequest {
            payload: payload(27_182),
            ..Default::default()
        })
        .await;
    let e = call.message().await.unwrap_err();
    assert_eq!(e.code, Code::DeadlineExceeded, "{e:?}");

    // Server-side deadline: the server sleeps past it and answers
    // DEADLINE_EXCEEDED itself (or our timer fires first: same code).
    let e = ch
        .server_streaming::<_, StreamingOutputCallResponse>(
            TestServiceMethod::StreamingOutputCall.path(),
            &StreamingOutputCallRequest {
                response_parameters: vec![ResponseParameters {
                    size: 1,
                    interval_us: 2_000_000,
                    ..Default::default()
                }],
                ..Default::default()
            },
            &CallOptions::default().with_timeout(Duration::from_millis(50)),
        )
        .await;
    match e {
        Ok((_, mut s)) => {
            assert_eq!(s.message().await.unwrap_err().code, Code::DeadlineExceeded)
        }
        Err(e) => assert_eq!(e.code, Code::DeadlineExceeded),
    }

    // cancel_after_begin: dropped before sending anything.
    let call = ch.client_streaming::<StreamingInputCallRequest, StreamingInputCallResponse>(
        TestServiceMethod::StreamingInputCall.path(),
        &opts,
    );
    drop(call);

    // cancel_after_first_response
    let mut call = ch.streaming::<_, StreamingOutputCallResponse>(
        TestServiceMethod::FullDuplexCall.path(),
        &opts,
    );
    call.send(&StreamingOutputCallRequest {
        response_parameters: vec![ResponseParameters {
            size: 31_415,
            ..Default::default()
        }],
        payload: payload(27_182),
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(call.message().await.unwrap().is_some());
    drop(call);

    // unimplemented_method and unimplemented_service
    let e = ch
        .unary::<_, Empty>(
            TestServiceMethod::UnimplementedCall.path(),
            &Empty {},
            &opts,
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::Unimplemented);
    let e = ch
        .unary::<_, Empty>(
            "/grpc.testing.UnimplementedService/UnimplementedCall",
            &Empty {},
            &opts,
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::Unimplemented);

    // Health and Echo.
    let r = ch
        .unary::<_, HealthCheckResponse>(
            HealthMethod::Check.path(),
            &HealthCheckRequest {
                service: "grpc.testing.TestService".into(),
            },
            &opts,
        )
        .await
        .unwrap();
    assert_eq!(r.message.status, 1);
    let (_, mut watch) = ch
        .server_streaming::<_, HealthCheckResponse>(
            HealthMethod::Watch.path(),
            &HealthCheckRequest::default(),
            &opts,
        )
        .await
        .unwrap();
    assert_eq!(watch.message().await.unwrap().unwrap().status, 1);
    drop(watch); // cancels the call that would otherwise never end
    let mut bidi = ch.streaming::<_, EchoResponse>(EchoMethod::EchoBidi.path(), &opts);
    for i in 0..10u32 {
        bidi.send(&EchoRequest {
            message: format!("m{i}"),
            ..Default::default()
        })
        .await
        .unwrap();
        let m = bidi.message().await.unwrap().unwrap();
        assert_eq!((m.message, m.index), (format!("m{i}"), i));
    }
    // The connection is still fine after the cancellations.
    let r = ch
        .unary::<_, EchoResponse>(
            EchoMethod::Echo.path(),
            &EchoRequest {
                message: "still here".into(),
                ..Default::default()
            },
            &opts,
        )
        .await
        .unwrap();
    assert_eq!(r.message.message, "still here");
}

#[test]
fn tokio_client_against_tokio_server() {
    let (addr, rt) = start_tokio();
    rt.block_on(async {
        tokio::time::timeout(BOUND, interop_cases(wirestate_tokio::TokioRuntime, addr))
            .await
            .expect("bounded");
    });
}

#[test]
fn smol_client_against_tokio_server() {
    let (addr, _rt) = start_tokio();
    let ex = std::sync::Arc::new(smol::Executor::new());
    let rt = wirestate_smol::SmolRuntime::with_executor(ex.clone());
    smol::block_on(ex.run(async {
        let timer = async {
            smol::Timer::after(BOUND).await;
            panic!("not done in time");
        };
        futures_lite::future::or(interop_cases(rt, addr), timer).await;
    }));
}

/// Starts the same handler on smol (on a thread of its own).
fn start_smol() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let ex = std::sync::Arc::new(smol::Executor::new());
        let rt = wirestate_smol::SmolRuntime::with_executor(ex.clone());
        smol::block_on(ex.run(async move {
            let listener = wirestate_smol::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            tx.send(wirestate_rt::Listener::local_addr(&listener).unwrap())
                .unwrap();
            let grpc = wirestate_examples::grpc::server(rt.clone(), Default::default());
            let handler =
                wirestate_examples::routes::with_grpc(grpc, wirestate_examples::routes::handle);
            let _ = wirestate_rt::http1::serve(
                rt,
                listener,
                handler,
                ServerConfig::default(),
                wirestate_rt::Shutdown::new(),
            )
            .await;
        }));
    });
    rx.recv().unwrap()
}

/// The interop client module of the examples (what
/// `examples/interop_client` runs against grpcio and tonic) against our
/// server on smol: all 18 standard cases pass.
#[test]
fn interop_module_against_smol_server() {
    let addr = start_smol();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let results = rt.block_on(async {
        tokio::time::timeout(
            BOUND,
            wirestate_examples::grpc::interop::run(wirestate_tokio::TokioRuntime, addr),
        )
        .await
        .expect("bounded")
    });
    assert_eq!(results.len(), 18);
    for (case, outcome) in results {
        assert_eq!(outcome, Ok(()), "{case}");
    }
}

/// One HTTP/1.1 request on a fresh connection; the whole response.
fn http1(addr: SocketAddr, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let head = format!(
        "POST /wirestate.echo.v1.Echo/EchoStream HTTP/1.1\r\nhost: t\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

fn dechunk(response: &[u8]) -> Vec<u8> {
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut rest = &response[split..];
    let mut out = Vec::new();
    loop {
        let line = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let n = usize::from_str_radix(std::str::from_utf8(&rest[..line]).unwrap(), 16).unwrap();
        rest = &rest[line + 2..];
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&rest[..n]);
        rest = &rest[n + 2..];
    }
}

#[test]
fn grpc_web_over_http1() {
    use prost::Message;
    let (addr, _rt) = start_tokio();
    let req = EchoRequest {
        message: "web".into(),
        repeat: 2,
        ..Default::default()
    }
    .encode_to_vec();
    let mut framed = vec![0, 0, 0, 0, req.len() as u8];
    framed.extend_from_slice(&req);

    // Binary: two messages, then the trailers frame.
    let resp = http1(addr, "application/grpc-web+proto", &framed);
    assert!(
        resp.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&resp)
    );
    let body = dechunk(&resp);
    let mut dec = wirestate_grpc::WebDecoder::new(wirestate_grpc::WebMode::Binary);
    dec.push(body.into());
    dec.finish().unwrap();
    let mut messages = 0;
    let mut trailers = None;
    while let Some(f) = dec.next_frame() {
        match f.unwrap() {
            wirestate_grpc::WebFrame::Message(m) => {
                let r = EchoResponse::decode(m.data).unwrap();
                assert_eq!((r.message.as_str(), r.index), ("web", messages));
                messages += 1;
            }
            wirestate_grpc::WebFrame::Trailers(t) => trailers = Some(t),
        }
    }
    assert_eq!(messages, 2);
    assert_eq!(trailers.unwrap()["grpc-status"], "0");

    // Text: the same, base64.
    let mut text = bytes::BytesMut::new();
    wirestate_grpc::encode_web_text(&framed, &mut text);
    let resp = http1(addr, "application/grpc-web-text", &text);
    let body = dechunk(&resp);
    let mut dec = wirestate_grpc::WebDecoder::new(wirestate_grpc::WebMode::Text);
    dec.push(body.into());
    dec.finish().unwrap();
    let frames: Vec<_> = std::iter::from_fn(|| dec.next_frame()).collect();
    assert_eq!(frames.len(), 3);
    assert!(matches!(
        frames[2],
        Ok(wirestate_grpc::WebFrame::Trailers(_))
    ));

    // The handlers decode protobuf: another message format is 415.
    let resp = http1(addr, "application/grpc-web+json", b"{}");
    let text = String::from_utf8_lossy(&resp);
    assert!(resp.starts_with(b"HTTP/1.1 415"), "{text}");
    assert!(text.contains("grpc-status: 3"), "{text}");
}

/// Sets its flag when dropped: tells that a handler's future was dropped.
struct DropFlag(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A server of one service whose handlers never end on their own, each
/// holding a [`DropFlag`], with an interceptor that refuses calls carrying
/// `x-deny`.
async fn start_never_ending(dropped: std::sync::Arc<std::sync::atomic::AtomicBool>) -> SocketAddr {
    use wirestate_rt::grpc::{Request, ResponseSink, Server, Status, Streaming};
    let listener = wirestate_tokio::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = wirestate_rt::Listener::local_addr(&listener).unwrap();
    let d1 = dropped.clone();
    let d2 = dropped;
    let server = Server::new(wirestate_tokio::TokioRuntime)
        .interceptor(|head| {
            head.metadata
                .contains_key("x-deny")
                .then(|| Status::new(Code::PermissionDenied, "denied"))
        })
        .bidi_streaming(
            "/t.Never/Bidi",
            move |req: Request<Streaming<EchoRequest>>, mut sink: ResponseSink<EchoResponse>| {
                let flag = DropFlag(d1.clone());
                async move {
                    let _flag = flag;
                    let mut s = req.message;
                    while let Some(m) = s.message().await? {
                        sink.send(EchoResponse {
                            message: m.message,
                            ..Default::default()
                        })
                        .await?;
                    }
                    std::future::pending::<()>().await;
                    Ok(())
                }
            },
        )
        .unary("/t.Never/Unary", move |_req: Request<EchoRequest>| {
            let flag = DropFlag(d2.clone());
            async move {
                let _flag = flag;
                std::future::pending::<()>().await;
                Ok::<_, Status>(wirestate_rt::grpc::Response::new(EchoResponse::default()))
            }
        });
    tokio::spawn(wirestate_tokio::serve(
        listener,
        server,
        ServerConfig::default(),
        wirestate_rt::Shutdown::new(),
    ));
    addr
}

async fn wait_for(flag: &std::sync::atomic::AtomicBool) -> bool {
    for _ in 0..200 {
        if flag.load(std::sync::atomic::Ordering::SeqCst) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// The server drops a handler's future when the client cancels the call
/// (drops it: RST_STREAM CANCEL) and when the call's `grpc-timeout`
/// passes (answering DEADLINE_EXCEEDED); an interceptor's refusal ends the
/// call with its status before any handler runs.
#[test]
fn server_drops_handlers_on_cancel_and_deadline() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dropped = Arc::new(AtomicBool::new(false));
        let addr = start_never_ending(dropped.clone()).await;
        let ch = channel(wirestate_tokio::TokioRuntime, addr).await;

        // Cancellation: one round trip, then the client drops the call.
        let mut call = ch.streaming::<_, EchoResponse>("/t.Never/Bidi", &CallOptions::default());
        call.send(&EchoRequest {
            message: "a".into(),
            ..Default::default()
        })
        .await
        .unwrap();
        assert_eq!(call.message().await.unwrap().unwrap().message, "a");
        assert!(!dropped.load(Ordering::SeqCst));
        drop(call);
        assert!(wait_for(&dropped).await, "handler not dropped on cancel");

        // Deadline: the server ends the call itself (the request carries
        // grpc-timeout and the client sets no timer of its own).
        dropped.store(false, Ordering::SeqCst);
        let rt = wirestate_tokio::TokioRuntime;
        let io = rt.connect(addr).await.unwrap();
        let (send, driver) = wirestate_rt::h2::handshake(rt, io, Default::default());
        tokio::spawn(driver);
        let mut head = wirestate_grpc::RequestHead::new(
            wirestate_grpc::MethodPath::parse("/t.Never/Unary").unwrap(),
        );
        head.timeout = Some(Duration::from_millis(50));
        let parts = head.to_request(Some(&addr.to_string().parse().unwrap()), false);
        let body = wirestate_rt::Body::from(vec![0u8, 0, 0, 0, 0]);
        let started = std::time::Instant::now();
        let res = send
            .send(http::Request::from_parts(parts, body))
            .await
            .unwrap();
        let (parts, body) = res.into_parts();
        let status = match wirestate_grpc::ResponseHead::from_response(&parts) {
            wirestate_grpc::ResponseStart::End(status) => status,
            wirestate_grpc::ResponseStart::Head(_) => {
                let mut body = body;
                while body.chunk().await.is_some() {}
                wirestate_grpc::Status::from_trailers(&body.trailers().unwrap()).unwrap()
            }
        };
        assert_eq!(status.code, Code::DeadlineExceeded);
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(
            wait_for(&dropped).await,
            "handler not dropped at the deadline"
        );

        // Interceptor.
        let mut md = Metadata::new();
        md.insert("x-deny", "1").unwrap();
        let e = ch
            .unary::<_, EchoResponse>(
                "/t.Never/Unary",
                &EchoRequest::default(),
                &CallOptions::default().with_metadata(md),
            )
            .await
            .unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (Code::PermissionDenied, "denied")
        );
    });
}

/// A gRPC-Web client that hangs up while its call's handler runs (it
/// shuts its write side, or closes the connection) cancels the call at
/// once: the handler's future is dropped as on RST_STREAM over HTTP/2,
/// not at its next send (this one never sends). A plain HTTP/1.1 client
/// that half-closes while waiting still gets its response.
#[test]
fn web_client_hanging_up_cancels_the_handler() {
    use std::net::Shutdown as Half;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // A gRPC-Web unary request for /t.Never/Unary, binary or text.
    let request = |addr: SocketAddr, text: bool| -> Vec<u8> {
        let (kind, body): (&str, &[u8]) = if text {
            ("application/grpc-web-text", b"AAAAAAA=")
        } else {
            ("application/grpc-web", &[0, 0, 0, 0, 0])
        };
        let mut r = format!(
            "POST /t.Never/Unary HTTP/1.1\r\nhost: {addr}\r\ncontent-type: {kind}\r\n\
             x-grpc-web: 1\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    };
    for (text, how) in [
        (false, Half::Write),
        (true, Half::Both),
        (false, Half::Both),
    ] {
        let dropped = Arc::new(AtomicBool::new(false));
        let addr = rt.block_on(start_never_ending(dropped.clone()));
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        conn.write_all(&request(addr, text)).unwrap();
        // The handler is running (it would hold the call forever).
        std::thread::sleep(Duration::from_millis(100));
        assert!(!dropped.load(Ordering::SeqCst));
        conn.shutdown(how).unwrap();
        assert!(
            rt.block_on(wait_for(&dropped)),
            "text {text}, {how:?}: the handler kept running"
        );
        if how == Half::Write {
            // Nothing was answered: the connection just ends.
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut rest = Vec::new();
            let _ = conn.read_to_end(&mut rest);
            assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
        }
    }

    // Plain HTTP/1.1: the response still reaches a half-closed client.
    let addr = rt.block_on(async {
        let listener = wirestate_tokio::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = wirestate_rt::Listener::local_addr(&listener).unwrap();
        let handler = |_req: http::Request<wirestate_rt::Body>| async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            http::Response::new(wirestate_rt::Body::from("late but here"))
        };
        tokio::spawn(wirestate_tokio::serve(
            listener,
            handler,
            ServerConfig::default(),
            wirestate_rt::Shutdown::new(),
        ));
        addr
    });
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    conn.shutdown(Half::Write).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("late but here"), "{answer}");
}

/// A request that is not gRPC is refused by the router as the spec says:
/// 415 for a foreign content type, 405 for GET.
#[test]
fn non_grpc_requests_are_refused() {
    let (addr, _rt) = start_tokio();
    // A foreign content type on one of the gRPC server's methods: 415
    // (PROTOCOL-HTTP2.md), not the demo routes' 404, which `with_grpc`
    // used to give it.
    for content_type in ["text/plain", "application/json"] {
        let out = http1(addr, content_type, b"x");
        assert!(
            out.starts_with(b"HTTP/1.1 415"),
            "{content_type}: {}",
            String::from_utf8_lossy(&out)
        );
    }
    // GET with a gRPC content type.
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(
        b"GET /wirestate.echo.v1.Echo/Echo HTTP/1.1\r\nhost: t\r\ncontent-type: application/grpc-web\r\nconnection: close\r\n\r\n",
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert!(
        out.starts_with(b"HTTP/1.1 405"),
        "{}",
        String::from_utf8_lossy(&out)
    );
}

/// Response trailers from `Body::writer` reach the client on HTTP/1.1
/// (after the last chunk) and on HTTP/2 (a trailing HEADERS frame).
#[test]
fn body_writer_trailers_on_http1_and_h2() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = wirestate_tokio::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = wirestate_rt::Listener::local_addr(&listener).unwrap();
        let handler = |_req: http::Request<wirestate_rt::Body>| async move {
            let (mut writer, body) = wirestate_rt::Body::writer(2);
            tokio::spawn(async move {
                writer.send_data("part one, ".into()).await.unwrap();
                writer.send_data("part two".into()).await.unwrap();
                let mut t = http::HeaderMap::new();
                t.insert("x-checksum", "abc".parse().unwrap());
                writer.send_trailers(t).await.unwrap();
            });
            http::Response::new(body)
        };
        tokio::spawn(wirestate_tokio::serve(
            listener,
            handler,
            ServerConfig::default(),
            wirestate_rt::Shutdown::new(),
        ));

        // HTTP/2.
        let rt = wirestate_tokio::TokioRuntime;
        let io = rt.connect(addr).await.unwrap();
        let (send, driver) = wirestate_rt::h2::handshake(rt, io, Default::default());
        tokio::spawn(driver);
        let res = send
            .send(
                http::Request::get(format!("http://{addr}/"))
                    .body(wirestate_rt::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let mut body = res.into_body();
        let mut got = Vec::new();
        while let Some(c) = body.chunk().await {
            got.extend_from_slice(&c.unwrap());
        }
        assert_eq!(got, b"part one, part two");
        assert_eq!(body.trailers().unwrap()["x-checksum"], "abc");

        // HTTP/1.1, chunked with the trailer section.
        let out = tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nhost: t\r\nte: trailers\r\nconnection: close\r\n\r\n")
                .unwrap();
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out);
            String::from_utf8(out).unwrap()
        })
        .await
        .unwrap();
        assert!(out.contains("transfer-encoding: chunked"), "{out}");
        assert!(out.ends_with("0\r\nx-checksum: abc\r\n\r\n"), "{out}");
    });
}

/// The typed client stubs wirestate-codegen generates (`EchoClient`,
/// `HealthClient`, `TestServiceClient`, built by the examples' build.rs)
/// against `wirestate serve`'s services: the four call kinds of Echo, the
/// client's metadata with a request's metadata replacing it key by key, and
/// the deadlines of a request and of the client.
async fn stub_cases<R: Runtime>(rt: R, addr: SocketAddr) {
    use wirestate_examples::grpc::{EchoClient, HealthClient, TestServiceClient};
    use wirestate_rt::grpc::Request;

    let ch = channel(rt.clone(), addr).await;
    let echo = EchoClient::new(ch.clone()).with_timeout(BOUND);
    let req = |message: &str, payload: Vec<u8>, repeat: u32| EchoRequest {
        message: message.into(),
        payload,
        repeat,
    };

    let r = echo
        .echo(Request::new(req("hi", vec![1], 0)))
        .await
        .unwrap();
    assert_eq!((r.message.message.as_str(), r.message.index), ("hi", 0));

    let (_, mut stream) = echo
        .echo_stream(Request::new(req("s", vec![], 3)))
        .await
        .unwrap();
    let mut indexes = Vec::new();
    while let Some(m) = stream.message().await.unwrap() {
        indexes.push(m.index);
    }
    assert_eq!(indexes, [0, 1, 2]);
    assert!(stream.trailers().is_some());

    let requests = (0..4u8).map(|i| req(&format!("m{i}"), vec![i], 0));
    let r = echo.echo_collect(Request::new(requests)).await.unwrap();
    assert_eq!(r.message.message, "m3");
    assert_eq!(r.message.payload, [0, 1, 2, 3]);
    assert_eq!(r.message.index, 4);
    let r = echo
        .echo_collect(Request::new(Vec::<EchoRequest>::new()))
        .await
        .unwrap();
    assert_eq!(r.message.index, 0);

    let mut call = echo.start_echo_collect();
    call.send(&req("by hand", vec![9], 0)).await.unwrap();
    let r = call.finish().await.unwrap();
    assert_eq!(
        (r.message.message.as_str(), r.message.index),
        ("by hand", 1)
    );

    let mut call = echo.echo_bidi();
    for i in 0..3 {
        call.send(&req("b", vec![], 0)).await.unwrap();
        let m = call.message().await.unwrap().expect("a response");
        assert_eq!(m.index, i);
    }
    call.close_send();
    assert!(call.message().await.unwrap().is_none());

    let health = HealthClient::new(ch.clone());
    let r = health
        .check(Request::new(HealthCheckRequest {
            service: "wirestate.echo.v1.Echo".into(),
        }))
        .await
        .unwrap();
    assert_eq!(r.message.status, 1, "SERVING");

    // The interop server echoes `x-grpc-test-echo-initial`: the client's
    // value, unless the request has its own.
    let mut md = Metadata::new();
    md.insert("x-grpc-test-echo-initial", "client").unwrap();
    let test = TestServiceClient::new(ch.clone()).with_metadata(md);
    let r = test
        .unary_call(Request::new(SimpleRequest::default()))
        .await
        .unwrap();
    assert_eq!(
        r.metadata.get_str("x-grpc-test-echo-initial"),
        Some("client")
    );
    let mut request = Request::new(SimpleRequest::default());
    request
        .metadata
        .insert("x-grpc-test-echo-initial", "request")
        .unwrap();
    let r = test.unary_call(request).await.unwrap();
    assert_eq!(
        r.metadata.get_str("x-grpc-test-echo-initial"),
        Some("request")
    );
    assert_eq!(test.options().metadata.len(), 1, "the client is unchanged");

    // A request's deadline, on the runtime's clock: health `Watch` answers
    // once and then waits for the end of the call.
    let mut request = Request::new(HealthCheckRequest::default());
    request.deadline = Some(rt.now() + Duration::from_millis(100));
    let (_, mut watch) = health.watch(request).await.unwrap();
    assert_eq!(watch.message().await.unwrap().map(|m| m.status), Some(1));
    assert_eq!(
        watch.message().await.unwrap_err().code,
        Code::DeadlineExceeded
    );
    // The client's timeout on a bidi call the server never answers.
    let mut call = test
        .clone()
        .with_timeout(Duration::from_millis(50))
        .full_duplex_call();
    call.send(&StreamingOutputCallRequest {
        payload: payload(10),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(
        call.message().await.unwrap_err().code,
        Code::DeadlineExceeded
    );
    // The stub's channel is the one it was made with.
    assert!(format!("{:?}", test.channel()).contains(&addr.to_string()));
}

#[test]
fn generated_stubs_on_tokio() {
    let (addr, rt) = start_tokio();
    rt.block_on(async {
        tokio::time::timeout(BOUND, stub_cases(wirestate_tokio::TokioRuntime, addr))
            .await
            .expect("not done in time");
    });
}

#[test]
fn generated_stubs_on_smol() {
    let addr = start_smol();
    let ex = std::sync::Arc::new(smol::Executor::new());
    let rt = wirestate_smol::SmolRuntime::with_executor(ex.clone());
    smol::block_on(ex.run(async {
        let timer = async {
            smol::Timer::after(BOUND).await;
            panic!("not done in time");
        };
        futures_lite::future::or(stub_cases(rt, addr), timer).await;
    }));
}

/// A call whose timeout is zero fails with DEADLINE_EXCEEDED every time,
/// whatever the call kind: it used to come back OK now and then when the
/// server answered before the channel's timer fired.
async fn zero_timeout_cases<R: Runtime>(rt: R, addr: SocketAddr) {
    let ch = channel(rt, addr).await;
    let opts = CallOptions::default().with_timeout(Duration::ZERO);
    let req = EchoRequest {
        message: "late".into(),
        ..Default::default()
    };
    for _ in 0..20 {
        let r = ch
            .unary::<_, EchoResponse>(EchoMethod::Echo.path(), &req, &opts)
            .await;
        assert_eq!(r.unwrap_err().code, Code::DeadlineExceeded);
        let r = ch
            .server_streaming::<_, EchoResponse>(EchoMethod::EchoStream.path(), &req, &opts)
            .await;
        let code = match r {
            Err(s) => s.code,
            Ok((_, mut stream)) => stream.message().await.unwrap_err().code,
        };
        assert_eq!(code, Code::DeadlineExceeded);
        let mut call =
            ch.streaming::<EchoRequest, EchoResponse>(EchoMethod::EchoBidi.path(), &opts);
        let _ = call.send(&req).await;
        call.close_send();
        assert_eq!(
            call.message().await.unwrap_err().code,
            Code::DeadlineExceeded
        );
    }
}

#[test]
fn zero_timeout_is_exceeded_on_tokio() {
    let (addr, rt) = start_tokio();
    rt.block_on(async {
        tokio::time::timeout(
            BOUND,
            zero_timeout_cases(wirestate_tokio::TokioRuntime, addr),
        )
        .await
        .expect("not done in time");
    });
}

/// A request whose `grpc-timeout` is zero (`0S`, no timer on the client
/// side) has expired on arrival: the server answers DEADLINE_EXCEEDED every
/// time without running the handler. It used to answer OK now and then: a
/// timer set for "now" may wait for the next tick, and a quick handler
/// (echo, its request already in) finished first.
#[test]
fn server_refuses_a_zero_grpc_timeout_every_time() {
    let (addr, rt) = start_tokio();
    rt.block_on(async {
        tokio::time::timeout(BOUND, async {
            let rt = wirestate_tokio::TokioRuntime;
            let io = rt.connect(addr).await.unwrap();
            let (send, driver) = wirestate_rt::h2::handshake(rt, io, Default::default());
            tokio::spawn(driver);
            let mut head = wirestate_grpc::RequestHead::new(
                wirestate_grpc::MethodPath::parse(EchoMethod::Echo.path()).unwrap(),
            );
            head.timeout = Some(Duration::ZERO);
            let authority = addr.to_string().parse().unwrap();
            let mut codes = std::collections::BTreeMap::new();
            for _ in 0..300 {
                let parts = head.to_request(Some(&authority), false);
                assert_eq!(parts.headers["grpc-timeout"], "0n");
                let body = wirestate_rt::Body::from(vec![0u8, 0, 0, 0, 0]);
                let res = send
                    .send(http::Request::from_parts(parts, body))
                    .await
                    .unwrap();
                let (parts, mut body) = res.into_parts();
                let status = match wirestate_grpc::ResponseHead::from_response(&parts) {
                    wirestate_grpc::ResponseStart::End(status) => status,
                    wirestate_grpc::ResponseStart::Head(_) => {
                        while body.chunk().await.is_some() {}
                        wirestate_grpc::Status::from_trailers(&body.trailers().unwrap()).unwrap()
                    }
                };
                *codes.entry(format!("{:?}", status.code)).or_insert(0) += 1;
            }
            assert_eq!(codes.len(), 1, "{codes:?}");
            assert_eq!(codes.get("DeadlineExceeded"), Some(&300), "{codes:?}");
        })
        .await
        .expect("not done in time");
    });
}

/// A server whose async interceptor waits (a token lookup of 20 ms on the
/// runtime's clock) before it lets a call through with the caller's name
/// in its metadata, refuses calls without a good token, and sees what the
/// plain interceptor before it wrote.
fn checked_server<R: Runtime>(rt: R) -> wirestate_rt::grpc::Server<R> {
    use wirestate_rt::grpc::{Request, RequestHead, Response, Server, Status};
    let clock = rt.clone();
    Server::new(rt)
        .interceptor(|head| {
            head.metadata.insert("x-plain", "seen").unwrap();
            None
        })
        .async_interceptor(move |mut head: RequestHead| {
            let clock = clock.clone();
            async move {
                let lookup = |ms| clock.now() + Duration::from_millis(ms);
                wirestate_rt::sleep_until(&clock, lookup(20)).await;
                if head.metadata.get_str("x-plain") != Some("seen") {
                    return Err(Status::new(Code::Internal, "plain interceptor not run"));
                }
                match head.metadata.get_str("authorization") {
                    Some("Bearer good") => {
                        head.metadata.insert("x-user", "alice").unwrap();
                        Ok(head)
                    }
                    Some("Bearer slow") => {
                        wirestate_rt::sleep_until(&clock, lookup(2_000)).await;
                        Ok(head)
                    }
                    _ => Err(Status::new(Code::Unauthenticated, "no token")),
                }
            }
        })
        .unary("/t.Checked/Who", |req: Request<EchoRequest>| async move {
            let user = req
                .metadata
                .get_str("x-user")
                .unwrap_or("nobody")
                .to_owned();
            Ok::<_, Status>(Response::new(EchoResponse {
                message: user,
                ..Default::default()
            }))
        })
}

/// Our client against [`checked_server`]: refused without a token, let
/// through (with the interceptor's metadata) with one, and
/// DEADLINE_EXCEEDED when the interceptor outlasts the call's deadline.
async fn async_interceptor_cases<R: Runtime>(rt: R, addr: SocketAddr) {
    let ch = channel(rt, addr).await;
    let call = |token: Option<&str>, timeout: Option<Duration>| {
        let mut md = Metadata::new();
        if let Some(token) = token {
            md.insert("authorization", token).unwrap();
        }
        let mut opts = CallOptions::default().with_metadata(md);
        if let Some(t) = timeout {
            opts = opts.with_timeout(t);
        }
        let ch = ch.clone();
        async move {
            ch.unary::<_, EchoResponse>("/t.Checked/Who", &EchoRequest::default(), &opts)
                .await
        }
    };
    let e = call(None, None).await.unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (Code::Unauthenticated, "no token")
    );
    let r = call(Some("Bearer good"), None).await.unwrap();
    assert_eq!(r.message.message, "alice");
    let started = std::time::Instant::now();
    let e = call(Some("Bearer slow"), Some(Duration::from_millis(150)))
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::DeadlineExceeded);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn async_interceptors_on_tokio() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = wirestate_tokio::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = wirestate_rt::Listener::local_addr(&listener).unwrap();
        tokio::spawn(wirestate_tokio::serve(
            listener,
            checked_server(wirestate_tokio::TokioRuntime),
            ServerConfig::default(),
            wirestate_rt::Shutdown::new(),
        ));
        tokio::time::timeout(
            BOUND,
            async_interceptor_cases(wirestate_tokio::TokioRuntime, addr),
        )
        .await
        .expect("not done in time");
    });
}

#[test]
fn async_interceptors_on_smol() {
    let ex = std::sync::Arc::new(smol::Executor::new());
    let rt = wirestate_smol::SmolRuntime::with_executor(ex.clone());
    smol::block_on(ex.run(async {
        let listener = wirestate_smol::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = wirestate_rt::Listener::local_addr(&listener).unwrap();
        rt.spawn(Box::pin({
            let rt = rt.clone();
            async move {
                let _ = wirestate_rt::http1::serve(
                    rt.clone(),
                    listener,
                    checked_server(rt),
                    ServerConfig::default(),
                    wirestate_rt::Shutdown::new(),
                )
                .await;
            }
        }));
        let timer = async {
            smol::Timer::after(BOUND).await;
            panic!("not done in time");
        };
        futures_lite::future::or(async_interceptor_cases(rt, addr), timer).await;
    }));
}

/// A gRPC channel in gRPC-Web mode (`ChannelBuilder::grpc_web`) against
/// our server (gRPC-Web over HTTP/1.1 on the same port as h2c), through
/// the generated `TestServiceClient` unchanged, on tokio, smol and
/// blocking threads, in binary and text mode: unary with metadata both
/// ways, server streaming, a status with its message, a deadline
/// (`grpc-timeout` and the local timer), gzip requests, client- and
/// bidi-streaming calls refused with UNIMPLEMENTED, and cancellation when
/// a call is dropped.
mod web_channel {
    use super::{DropFlag, payload, start_tokio, wait_for};
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};
    use wirestate_examples::grpc::TestServiceClient;
    use wirestate_grpc::{Code, Encoding, Metadata, WebMode};
    use wirestate_proto::grpc::testing::{
        BoolValue, EchoStatus, ResponseParameters, SimpleRequest, StreamingInputCallRequest,
        StreamingOutputCallRequest,
    };
    use wirestate_rt::Runtime;
    use wirestate_rt::http1::ServerConfig;

    const MODES: [WebMode; 2] = [WebMode::Binary, WebMode::Text];

    fn echo_metadata() -> Metadata {
        let mut md = Metadata::new();
        md.insert("x-grpc-test-echo-initial", "hello").unwrap();
        md.insert_bin("x-grpc-test-echo-trailing-bin", b"\x01\xff")
            .unwrap();
        md
    }

    fn check_echo(initial: &Metadata, trailing: &Metadata) {
        assert_eq!(initial.get_str("x-grpc-test-echo-initial"), Some("hello"));
        assert_eq!(
            &trailing
                .get_bin("x-grpc-test-echo-trailing-bin")
                .unwrap()
                .unwrap()[..],
            b"\x01\xff"
        );
    }

    fn sizes(sizes: &[i32], interval_us: i32) -> StreamingOutputCallRequest {
        StreamingOutputCallRequest {
            response_parameters: sizes
                .iter()
                .map(|&size| ResponseParameters {
                    size,
                    interval_us,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn failing(message: &str) -> SimpleRequest {
        SimpleRequest {
            response_status: Some(EchoStatus {
                // FAILED_PRECONDITION
                code: 9,
                message: message.into(),
            }),
            ..Default::default()
        }
    }

    fn gzip_request() -> SimpleRequest {
        SimpleRequest {
            expect_compressed: Some(BoolValue { value: true }),
            response_size: 10,
            payload: payload(5_000),
            ..Default::default()
        }
    }

    /// The scenario on an async runtime, through a gRPC-Web channel.
    async fn scenario<R: Runtime>(rt: R, addr: SocketAddr, mode: WebMode) {
        use wirestate_rt::grpc::{Channel, Request};
        let channel = Channel::builder(rt.clone(), addr)
            .grpc_web(mode)
            .connect()
            .await
            .unwrap();
        let ch = TestServiceClient::new(channel.clone());

        // Unary, metadata both ways.
        let r = ch
            .clone()
            .with_metadata(echo_metadata())
            .unary_call(Request::new(SimpleRequest {
                response_size: 314_159,
                payload: payload(271_828),
                ..Default::default()
            }))
            .await
            .unwrap();
        assert_eq!(r.message.payload.unwrap().body.len(), 314_159);
        check_echo(&r.metadata, &r.trailers);

        // Server streaming, the trailing metadata at its end.
        let (initial, mut stream) = ch
            .clone()
            .with_metadata(echo_metadata())
            .streaming_output_call(Request::new(sizes(&[3, 70_000, 0, 9], 0)))
            .await
            .unwrap();
        let mut got = Vec::new();
        while let Some(m) = stream.message().await.unwrap() {
            got.push(m.payload.map_or(0, |p| p.body.len()));
        }
        assert_eq!(got, [3, 70_000, 0, 9]);
        check_echo(
            &initial,
            &Metadata::from_headers(stream.trailers().unwrap()),
        );

        // A status with its message, unary and streaming.
        let e = ch
            .unary_call(Request::new(failing("nope ☺")))
            .await
            .unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (Code::FailedPrecondition, "nope ☺")
        );

        // Compressed requests.
        let r = ch
            .clone()
            .with_compression(Encoding::Gzip)
            .unary_call(Request::new(gzip_request()))
            .await
            .unwrap();
        assert_eq!(r.message.payload.unwrap().body.len(), 10);

        // A deadline: the server answers after a second, the call ends at
        // 100 ms.
        let start = rt.now();
        let r = ch
            .clone()
            .with_timeout(Duration::from_millis(100))
            .streaming_output_call(Request::new(sizes(&[1], 1_000_000)))
            .await;
        let e = match r {
            Err(e) => e,
            Ok((_, mut s)) => s.message().await.unwrap_err(),
        };
        assert_eq!(e.code, Code::DeadlineExceeded);
        assert!(rt.now() - start < Duration::from_millis(900));

        // Client- and bidi-streaming calls: refused at once, clearly.
        let e = ch
            .streaming_input_call(Request::new(vec![StreamingInputCallRequest::default()]))
            .await
            .unwrap_err();
        assert_eq!(e.code, Code::Unimplemented, "{}", e.message);
        assert!(e.message.contains("gRPC-Web"), "{}", e.message);
        let mut bidi = ch.full_duplex_call();
        let e = bidi
            .send(&StreamingOutputCallRequest::default())
            .await
            .unwrap_err();
        assert_eq!(e.code, Code::Unimplemented);
        assert_eq!(bidi.message().await.unwrap_err().code, Code::Unimplemented);

        // The channel still works after all that.
        let r = ch
            .unary_call(Request::new(SimpleRequest::default()))
            .await
            .unwrap();
        assert!(r.message.payload.is_none_or(|p| p.body.is_empty()));
    }

    /// The scenario on blocking threads.
    fn scenario_blocking(addr: SocketAddr, mode: WebMode) {
        use wirestate_blocking::grpc::{Channel, Request};
        use wirestate_examples::grpc_blocking::TestServiceClient;
        let channel = Channel::builder(&addr.to_string())
            .grpc_web(mode)
            .connect()
            .unwrap();
        let ch = TestServiceClient::new(channel);

        let r = ch
            .clone()
            .with_metadata(echo_metadata())
            .unary_call(Request::new(SimpleRequest {
                response_size: 314_159,
                payload: payload(271_828),
                ..Default::default()
            }))
            .unwrap();
        assert_eq!(r.message.payload.unwrap().body.len(), 314_159);
        check_echo(&r.metadata, &r.trailers);

        let (initial, mut stream) = ch
            .clone()
            .with_metadata(echo_metadata())
            .streaming_output_call(Request::new(sizes(&[3, 70_000, 0, 9], 0)))
            .unwrap();
        let mut got = Vec::new();
        while let Some(m) = stream.message().unwrap() {
            got.push(m.payload.map_or(0, |p| p.body.len()));
        }
        assert_eq!(got, [3, 70_000, 0, 9]);
        check_echo(
            &initial,
            &Metadata::from_headers(stream.trailers().unwrap()),
        );

        let e = ch.unary_call(Request::new(failing("nope ☺"))).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (Code::FailedPrecondition, "nope ☺")
        );

        let r = ch
            .clone()
            .with_compression(Encoding::Gzip)
            .unary_call(Request::new(gzip_request()))
            .unwrap();
        assert_eq!(r.message.payload.unwrap().body.len(), 10);

        let start = Instant::now();
        let r = ch
            .clone()
            .with_timeout(Duration::from_millis(100))
            .streaming_output_call(Request::new(sizes(&[1], 1_000_000)));
        let e = match r {
            Err(e) => e,
            Ok((_, mut s)) => s.message().unwrap_err(),
        };
        assert_eq!(e.code, Code::DeadlineExceeded);
        assert!(start.elapsed() < Duration::from_millis(900));

        let e = ch
            .streaming_input_call(Request::new(vec![StreamingInputCallRequest::default()]))
            .unwrap_err();
        assert_eq!(e.code, Code::Unimplemented, "{}", e.message);
        assert_eq!(ch.full_duplex_call().unwrap_err().code, Code::Unimplemented);

        let r = ch
            .unary_call(Request::new(SimpleRequest::default()))
            .unwrap();
        assert!(r.message.payload.is_none_or(|p| p.body.is_empty()));
    }

    #[test]
    fn web_channel_on_tokio() {
        let (addr, server) = start_tokio();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for mode in MODES {
            rt.block_on(async {
                tokio::time::timeout(
                    Duration::from_secs(30),
                    scenario(wirestate_tokio::TokioRuntime, addr, mode),
                )
                .await
                .expect("bounded")
            });
        }
        drop(server);
    }

    #[test]
    fn web_channel_on_smol() {
        let (addr, server) = start_tokio();
        for mode in MODES {
            let ex = Arc::new(smol::Executor::new());
            let rt = wirestate_smol::SmolRuntime::with_executor(ex.clone());
            smol::block_on(ex.run(async {
                let timer = async {
                    smol::Timer::after(Duration::from_secs(30)).await;
                    panic!("not done in time");
                };
                futures_lite::future::or(scenario(rt, addr, mode), timer).await
            }));
        }
        drop(server);
    }

    #[test]
    fn web_channel_on_blocking_threads() {
        let (addr, server) = start_tokio();
        for mode in MODES {
            scenario_blocking(addr, mode);
        }
        drop(server);
    }

    /// A server whose one server-streaming method sends a message every 20 ms
    /// until a send fails, its future holding a flag that is set when it
    /// ends.
    async fn start_endless(dropped: Arc<AtomicBool>) -> SocketAddr {
        use wirestate_proto::wirestate::echo::v1::{EchoRequest, EchoResponse};
        use wirestate_rt::grpc::{Request, ResponseSink, Server};
        let listener = wirestate_tokio::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = wirestate_rt::Listener::local_addr(&listener).unwrap();
        let server = Server::new(wirestate_tokio::TokioRuntime).server_streaming(
            "/t.Endless/Stream",
            move |_req: Request<EchoRequest>, mut sink: ResponseSink<EchoResponse>| {
                let flag = DropFlag(dropped.clone());
                async move {
                    let _flag = flag;
                    // Until a send fails: the connection is gone.
                    loop {
                        sink.send(EchoResponse::default()).await?;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            },
        );
        tokio::spawn(wirestate_tokio::serve(
            listener,
            server,
            ServerConfig::default(),
            wirestate_rt::Shutdown::new(),
        ));
        addr
    }

    /// Dropping a server stream of a gRPC-Web call closes its connection
    /// (HTTP/1.1 cannot cancel one request): the server's next send fails and
    /// its handler ends, instead of streaming on to a client that reads for
    /// nobody. On the async and the blocking channel.
    #[test]
    fn dropping_a_web_call_cancels_it() {
        use wirestate_proto::wirestate::echo::v1::{EchoRequest, EchoResponse};
        let server = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        for client in ["blocking", "tokio"] {
            let dropped = Arc::new(AtomicBool::new(false));
            let addr = server.block_on(start_endless(dropped.clone()));
            match client {
                "tokio" => server.block_on(async {
                    let ch =
                        wirestate_rt::grpc::Channel::builder(wirestate_tokio::TokioRuntime, addr)
                            .grpc_web(WebMode::Binary)
                            .connect()
                            .await
                            .unwrap();
                    let opts = wirestate_rt::grpc::CallOptions::default();
                    let (_, mut stream) = ch
                        .server_streaming::<_, EchoResponse>(
                            "/t.Endless/Stream",
                            &EchoRequest::default(),
                            &opts,
                        )
                        .await
                        .unwrap();
                    assert!(stream.message().await.unwrap().is_some());
                    assert!(!dropped.load(Ordering::SeqCst));
                    drop(stream);
                }),
                _ => {
                    let ch = wirestate_blocking::grpc::Channel::builder(&addr.to_string())
                        .grpc_web(WebMode::Text)
                        .connect()
                        .unwrap();
                    let opts = wirestate_blocking::grpc::CallOptions::default();
                    let (_, mut stream) = ch
                        .server_streaming::<_, EchoResponse>(
                            "/t.Endless/Stream",
                            &EchoRequest::default(),
                            &opts,
                        )
                        .unwrap();
                    assert!(stream.message().unwrap().is_some());
                    drop(stream);
                }
            }
            assert!(
                server.block_on(wait_for(&dropped)),
                "{client}: the handler kept running"
            );
        }
    }
}
