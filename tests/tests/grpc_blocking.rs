//! gRPC on the blocking runtime (`wirestate_blocking::grpc`), over h2c on
//! 127.0.0.1: `wirestate serve --runtime blocking`'s services against the
//! async client (tokio) and the blocking client; the blocking client
//! against the tokio server; the four call kinds, status and message,
//! metadata both ways, deadlines enforced by each side, cancellation on
//! drop seen by the server, unknown methods, gzip, gRPC-Web (binary and
//! text) over HTTP/1.1 on the same port, and a graceful shutdown that
//! ends health `Watch` calls.

#![allow(clippy::result_large_err)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wirestate_blocking::grpc::{
    CallOptions, Channel, Code, Encoding, Metadata, Request, Response, Server, Status, Streaming,
};
use wirestate_blocking::{ServerConfig, ServerHandle};
use wirestate_proto::grpc::health::v1::{HealthCheckRequest, HealthCheckResponse, HealthMethod};
use wirestate_proto::grpc::testing::{
    Empty, Payload, ResponseParameters, SimpleRequest, SimpleResponse, StreamingInputCallRequest,
    StreamingInputCallResponse, StreamingOutputCallRequest, StreamingOutputCallResponse,
    TestServiceMethod,
};
use wirestate_proto::wirestate::echo::v1::{EchoMethod, EchoRequest, EchoResponse};

const BOUND: Duration = Duration::from_secs(20);

/// A blocking server running `handler` on an ephemeral port.
struct Running {
    addr: SocketAddr,
    handle: ServerHandle,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    fn start(handler: impl wirestate_blocking::Handler) -> Running {
        let server =
            wirestate_blocking::Server::bind("127.0.0.1:0", ServerConfig::default()).expect("bind");
        let addr = server.local_addr().unwrap();
        let handle = server.handle();
        let thread = std::thread::spawn(move || server.serve(handler));
        Running {
            addr,
            handle,
            thread: Some(thread),
        }
    }

    /// `wirestate serve --runtime blocking`'s handler, gRPC services included.
    fn serve() -> Running {
        let server =
            wirestate_blocking::Server::bind("127.0.0.1:0", ServerConfig::default()).expect("bind");
        let addr = server.local_addr().unwrap();
        let handle = server.handle();
        let grpc = wirestate_examples::grpc_blocking::server(Some(handle.clone()));
        let handler = wirestate_examples::grpc_blocking::with_grpc(grpc);
        let thread = std::thread::spawn(move || server.serve(handler));
        Running {
            addr,
            handle,
            thread: Some(thread),
        }
    }

    /// Shuts down gracefully; fails if that takes longer than `BOUND`.
    fn stop(mut self) {
        self.handle.shutdown();
        let thread = self.thread.take().unwrap();
        let started = Instant::now();
        while !thread.is_finished() {
            assert!(started.elapsed() < BOUND, "graceful shutdown hung");
            std::thread::sleep(Duration::from_millis(10));
        }
        thread.join().unwrap().unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

fn payload(n: usize) -> Option<Payload> {
    Some(Payload {
        r#type: 0,
        body: vec![0; n],
    })
}

fn opts() -> CallOptions {
    CallOptions::default().with_timeout(BOUND)
}

/// Every interop case of the blocking client module passes against `addr`.
fn all_pass(results: Vec<(&'static str, Result<(), String>)>) {
    assert_eq!(results.len(), 18, "{results:?}");
    let failed: Vec<_> = results.iter().filter(|(_, r)| r.is_err()).collect();
    assert!(failed.is_empty(), "failed: {failed:?}");
}

#[test]
fn blocking_client_against_blocking_server() {
    let server = Running::serve();
    all_pass(wirestate_examples::grpc_blocking::interop::run(
        &server.addr.to_string(),
    ));
    server.stop();
}

#[test]
fn tokio_client_against_blocking_server() {
    let server = Running::serve();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let results = rt.block_on(async {
        tokio::time::timeout(
            BOUND * 3,
            wirestate_examples::grpc::interop::run(wirestate_tokio::TokioRuntime, server.addr),
        )
        .await
        .expect("interop cases timed out")
    });
    let failed: Vec<_> = results.iter().filter(|(_, r)| r.is_err()).collect();
    assert!(failed.is_empty(), "failed: {failed:?}");
    assert!(results.len() >= 15);
    drop(rt);
    server.stop();
}

#[test]
fn blocking_client_against_tokio_server() {
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
            Default::default(),
            wirestate_rt::Shutdown::new(),
        ));
        addr
    });
    // The compression cases need the async TestService's per-message
    // compression (response_compressed, expect_compressed), which lands
    // separately; the other 14 cases hold whatever its version.
    let cases: Vec<&str> = wirestate_examples::grpc_blocking::interop::cases()
        .filter(|c| !c.contains("compressed"))
        .collect();
    let results = wirestate_examples::grpc_blocking::interop::run_cases(&addr.to_string(), &cases);
    assert_eq!(results.len(), 14, "{results:?}");
    let failed: Vec<_> = results.iter().filter(|(_, r)| r.is_err()).collect();
    assert!(failed.is_empty(), "failed: {failed:?}");
}

#[test]
fn echo_health_and_gzip() {
    let server = Running::serve();
    let ch = Channel::connect(&server.addr.to_string()).unwrap();
    let req = EchoRequest {
        message: "hello".into(),
        payload: vec![7; 100_000],
        repeat: 3,
    };
    // Unary, gzip both ways (the client accepts gzip; the request is
    // compressed).
    let gz = opts().with_compression(Encoding::Gzip);
    let r = ch
        .unary::<_, EchoResponse>(EchoMethod::Echo.path(), &req, &gz)
        .unwrap();
    assert_eq!(r.message.payload.len(), 100_000);
    assert_eq!(r.message.message, "hello");

    // Server streaming as an iterator.
    let (_, stream) = ch
        .server_streaming::<_, EchoResponse>(EchoMethod::EchoStream.path(), &req, &opts())
        .unwrap();
    let indexes: Vec<u32> = stream.map(|m| m.unwrap().index).collect();
    assert_eq!(indexes, [0, 1, 2]);

    // Client streaming.
    let mut call = ch
        .client_streaming::<_, EchoResponse>(EchoMethod::EchoCollect.path(), &opts())
        .unwrap();
    for word in ["a", "b", "c"] {
        call.send(&EchoRequest {
            message: word.into(),
            payload: word.as_bytes().to_vec(),
            repeat: 0,
        })
        .unwrap();
    }
    let r = call.finish().unwrap();
    assert_eq!((r.message.message.as_str(), r.message.index), ("c", 3));
    assert_eq!(r.message.payload, b"abc");

    // Bidi from two threads: one sends, the other receives.
    let call = ch
        .streaming::<EchoRequest, EchoResponse>(EchoMethod::EchoBidi.path(), &opts())
        .unwrap();
    let (mut tx, mut rx) = call.split();
    let sender = std::thread::spawn(move || {
        for i in 0..50 {
            tx.send(&EchoRequest {
                message: format!("m{i}"),
                ..Default::default()
            })
            .unwrap();
        }
        tx.close_send();
    });
    let mut got = 0;
    while let Some(m) = rx.message().unwrap() {
        assert_eq!(m.message, format!("m{got}"));
        got += 1;
    }
    sender.join().unwrap();
    assert_eq!(got, 50);

    // Health.
    let r = ch
        .unary::<_, HealthCheckResponse>(
            HealthMethod::Check.path(),
            &HealthCheckRequest {
                service: "grpc.testing.TestService".into(),
            },
            &opts(),
        )
        .unwrap();
    assert_eq!(r.message.status, 1);
    let e = ch
        .unary::<_, HealthCheckResponse>(
            HealthMethod::Check.path(),
            &HealthCheckRequest {
                service: "nope".into(),
            },
            &opts(),
        )
        .unwrap_err();
    assert_eq!(e.code, Code::NotFound);
    drop(ch);
    server.stop();
}

#[test]
fn graceful_shutdown_ends_health_watch() {
    let server = Running::serve();
    let ch = Channel::connect(&server.addr.to_string()).unwrap();
    let (_, mut watch) = ch
        .server_streaming::<_, HealthCheckResponse>(
            HealthMethod::Watch.path(),
            &HealthCheckRequest::default(),
            &CallOptions::default(),
        )
        .unwrap();
    assert_eq!(watch.message().unwrap().unwrap().status, 1);
    // The services turn NOT_SERVING (so balancers drain), then the watch ends.
    let reader = std::thread::spawn(move || (watch.message(), watch.message()));
    server.stop();
    let (last, end) = reader.join().unwrap();
    assert_eq!(last.unwrap().unwrap().status, 2, "NOT_SERVING");
    assert_eq!(end.unwrap_err().code, Code::Unavailable);
}

/// A handler that never answers, and reports when it sees the call is over.
fn never_ending(seen: Arc<AtomicBool>) -> Server {
    let seen2 = seen.clone();
    Server::new()
        .unary("/test.Slow/Wait", move |req: Request<Empty>| {
            while !req.is_cancelled() {
                std::thread::sleep(Duration::from_millis(5));
            }
            seen.store(true, Ordering::SeqCst);
            Err::<Response<Empty>, _>(Status::new(Code::Cancelled, "gone"))
        })
        .bidi_streaming("/test.Slow/Bidi", move |req: Request<Streaming<Empty>>| {
            let seen = seen2.clone();
            // Reads until the client cancels (the stream fails).
            let mut stream = req.message;
            let responses = std::iter::from_fn(move || match stream.message() {
                Ok(Some(m)) => Some(Ok(m)),
                Ok(None) => None,
                Err(s) => {
                    seen.store(true, Ordering::SeqCst);
                    Some(Err(s))
                }
            });
            Ok(Response::new(responses))
        })
}

fn wait_for(flag: &AtomicBool) -> bool {
    let started = Instant::now();
    while started.elapsed() < BOUND {
        if flag.load(Ordering::SeqCst) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn deadlines_and_cancellation() {
    let seen = Arc::new(AtomicBool::new(false));
    let server = Running::start(never_ending(seen.clone()));
    let ch = Channel::connect(&server.addr.to_string()).unwrap();

    // The client's deadline: DEADLINE_EXCEEDED on time, and the server's
    // handler sees the call is over (its own copy of the deadline).
    let started = Instant::now();
    let short = CallOptions::default().with_timeout(Duration::from_millis(200));
    let e = ch
        .unary::<_, Empty>("/test.Slow/Wait", &Empty {}, &short)
        .unwrap_err();
    assert_eq!(e.code, Code::DeadlineExceeded);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(wait_for(&seen), "the handler did not see the deadline");

    // A bidi call dropped mid-way: the server's request stream fails.
    seen.store(false, Ordering::SeqCst);
    let mut call = ch
        .streaming::<Empty, Empty>("/test.Slow/Bidi", &CallOptions::default())
        .unwrap();
    call.send(&Empty {}).unwrap();
    assert_eq!(call.message().unwrap(), Some(Empty {}));
    drop(call);
    assert!(wait_for(&seen), "the handler did not see the cancellation");

    // The connection still serves: an unknown method is UNIMPLEMENTED.
    let e = ch
        .unary::<_, Empty>("/test.Slow/Nope", &Empty {}, &opts())
        .unwrap_err();
    assert_eq!(e.code, Code::Unimplemented);
    drop(ch);
    server.stop();
}

/// A gRPC-Web client that hangs up (shuts its write side, or closes the
/// connection) while its call's handler runs: the handler sees the call
/// cancelled (`Request::is_cancelled`), as it does when an HTTP/2 client
/// resets the stream and as the async server drops the handler.
#[test]
fn web_client_hanging_up_is_seen_by_the_handler() {
    use std::net::Shutdown as Half;
    let seen = Arc::new(AtomicBool::new(false));
    let server = Running::start(never_ending(seen.clone()));
    for (text, how) in [(false, Half::Write), (true, Half::Both)] {
        seen.store(false, Ordering::SeqCst);
        let (kind, body): (&str, &[u8]) = if text {
            ("application/grpc-web-text", b"AAAAAAA=")
        } else {
            ("application/grpc-web", &[0, 0, 0, 0, 0])
        };
        let mut conn = std::net::TcpStream::connect(server.addr).unwrap();
        let head = format!(
            "POST /test.Slow/Wait HTTP/1.1\r\nhost: x\r\ncontent-type: {kind}\r\n\
             x-grpc-web: 1\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        conn.write_all(head.as_bytes()).unwrap();
        conn.write_all(body).unwrap();
        // The handler is running (it would wait forever).
        std::thread::sleep(Duration::from_millis(100));
        assert!(!seen.load(Ordering::SeqCst));
        conn.shutdown(how).unwrap();
        assert!(
            wait_for(&seen),
            "text {text}, {how:?}: the handler kept running"
        );
    }
    server.stop();
}

#[test]
fn server_enforces_grpc_timeout() {
    // A plain HTTP/2 request with `grpc-timeout: 150m` and no deadline of
    // its own: the blocking server ends the stream that runs past it with
    // DEADLINE_EXCEEDED by itself.
    use prost::Message;
    let server = Running::serve();
    let send = wirestate_blocking::h2::connect(server.addr).unwrap();
    let req = StreamingOutputCallRequest {
        response_parameters: (0..50)
            .map(|_| ResponseParameters {
                size: 10,
                interval_us: 20_000,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let mut framed = bytes::BytesMut::new();
    wirestate_grpc::encode_message(&req.encode_to_vec(), false, &mut framed).unwrap();
    let request = http::Request::post(format!(
        "http://{}{}",
        server.addr,
        TestServiceMethod::StreamingOutputCall.path()
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .header("grpc-timeout", "150m")
    .body(wirestate_blocking::RequestBody::from(framed.to_vec()))
    .unwrap();
    let started = Instant::now();
    let mut response = send.send(request).unwrap();
    let mut body = Vec::new();
    response.body_mut().read_to_end(&mut body).unwrap();
    let trailers = response.body().trailers().expect("trailers");
    assert_eq!(trailers["grpc-status"], "4", "{trailers:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    // Some messages went out before the deadline, not all 50.
    assert!(body.len() < 50 * 17, "{} bytes", body.len());
    drop(send);
    server.stop();
}

#[test]
fn metadata_and_status_both_ways() {
    let server = Running::serve();
    let ch = Channel::connect(&server.addr.to_string()).unwrap();
    let mut md = Metadata::new();
    md.insert("x-grpc-test-echo-initial", "hi").unwrap();
    md.insert_bin("x-grpc-test-echo-trailing-bin", b"\x00\xff")
        .unwrap();
    let req = SimpleRequest {
        response_size: 10,
        payload: payload(10),
        response_status: Some(wirestate_proto::grpc::testing::EchoStatus {
            code: 9,
            message: "precondition ✗".into(),
        }),
        ..Default::default()
    };
    let e = ch
        .unary::<_, SimpleResponse>(
            TestServiceMethod::UnaryCall.path(),
            &req,
            &opts().with_metadata(md),
        )
        .unwrap_err();
    assert_eq!(e.code, Code::FailedPrecondition);
    assert_eq!(e.message, "precondition ✗");
    let trailing = e.metadata.get_bin("x-grpc-test-echo-trailing-bin");
    assert_eq!(&trailing.unwrap().unwrap()[..], b"\x00\xff");

    // Client streaming counts the request payloads.
    let mut call = ch
        .client_streaming::<_, StreamingInputCallResponse>(
            TestServiceMethod::StreamingInputCall.path(),
            &opts(),
        )
        .unwrap();
    for n in [1, 2, 3] {
        call.send(&StreamingInputCallRequest {
            payload: payload(n),
            ..Default::default()
        })
        .unwrap();
    }
    assert_eq!(call.finish().unwrap().message.aggregated_payload_size, 6);
    drop(ch);
    server.stop();
}

/// One gRPC-Web request over HTTP/1.1 (`Connection: close`): the raw
/// response.
fn http1(addr: SocketAddr, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(BOUND)).unwrap();
    let head = format!(
        "POST /wirestate.echo.v1.Echo/EchoStream HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    out
}

/// A foreign content type on one of the gRPC server's methods is refused
/// with 415 (PROTOCOL-HTTP2.md), not routed to the demo routes' 404.
#[test]
fn a_grpc_method_with_a_foreign_content_type_is_415() {
    let server = Running::serve();
    for content_type in ["text/plain", "application/json"] {
        let out = http1(server.addr, content_type, b"x");
        assert!(
            out.starts_with(b"HTTP/1.1 415"),
            "{content_type}: {}",
            String::from_utf8_lossy(&out)
        );
    }
    server.stop();
}

/// The body of a chunked HTTP/1.1 response.
fn dechunk(response: &[u8]) -> Vec<u8> {
    let start = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut rest = &response[start..];
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap(), 16).unwrap();
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
        rest = &rest[line_end + 2 + size + 2..];
    }
}

#[test]
fn grpc_web_over_http1() {
    use bytes::BytesMut;
    use prost::Message;
    let server = Running::serve();
    let req = EchoRequest {
        message: "web".into(),
        payload: Vec::new(),
        repeat: 2,
    };
    let mut framed = BytesMut::new();
    wirestate_grpc::encode_message(&req.encode_to_vec(), false, &mut framed).unwrap();

    for text in [false, true] {
        let (ct, body) = if text {
            let mut b64 = BytesMut::new();
            wirestate_grpc::encode_web_text(&framed, &mut b64);
            ("application/grpc-web-text", b64.to_vec())
        } else {
            ("application/grpc-web+proto", framed.to_vec())
        };
        let response = http1(server.addr, ct, &body);
        let head = String::from_utf8_lossy(&response[..200.min(response.len())]).to_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(head.contains(&format!("content-type: {ct}")), "{head}");
        let mode = if text {
            wirestate_grpc::WebMode::Text
        } else {
            wirestate_grpc::WebMode::Binary
        };
        let mut reader = wirestate_grpc::MessageReader::new(
            Some(mode),
            wirestate_grpc::Encoding::Identity,
            1 << 20,
        );
        reader.push(dechunk(&response).into());
        reader.finish(None).unwrap();
        let mut indexes = Vec::new();
        while let Some(m) = reader.next_message() {
            indexes.push(EchoResponse::decode(m.unwrap()).unwrap().index);
        }
        assert_eq!(indexes, [0, 1]);
        assert_eq!(reader.status().code, Code::Ok);
    }
    // The handlers decode protobuf: another message format is 415.
    let response = http1(server.addr, "application/grpc-web+json", b"{}");
    let text = String::from_utf8_lossy(&response).to_lowercase();
    assert!(text.starts_with("http/1.1 415"), "{text}");
    assert!(text.contains("grpc-status: 3"), "{text}");
    server.stop();
}

/// An interceptor refuses a call before its handler runs (and may read
/// the metadata); a GET with a gRPC content type is answered 405.
#[test]
fn interceptors_and_refused_requests() {
    let grpc = wirestate_examples::grpc_blocking::echo_service(Server::new()).interceptor(|head| {
        (head.metadata.get_str("authorization") != Some("let me in"))
            .then(|| Status::new(Code::PermissionDenied, "denied"))
    });
    let server = Running::start(grpc);
    let ch = Channel::connect(&server.addr.to_string()).unwrap();
    let req = EchoRequest {
        message: "x".into(),
        ..Default::default()
    };
    let e = ch
        .unary::<_, EchoResponse>(EchoMethod::Echo.path(), &req, &opts())
        .unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (Code::PermissionDenied, "denied")
    );
    let mut md = Metadata::new();
    md.insert("authorization", "let me in").unwrap();
    let r = ch
        .unary::<_, EchoResponse>(EchoMethod::Echo.path(), &req, &opts().with_metadata(md))
        .unwrap();
    assert_eq!(r.message.message, "x");

    let mut s = std::net::TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(BOUND)).unwrap();
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
    drop(ch);
    server.stop();
}

// --- tonic, both ways ---------------------------------------------------------

mod tonic_echo;

fn echo(message: &str, repeat: u32) -> EchoRequest {
    EchoRequest {
        message: message.into(),
        payload: vec![7; 1000],
        repeat,
    }
}

/// The blocking client against a tonic Echo server: the four call kinds,
/// metadata, gzip, a handler error, our deadline, an unknown method.
#[test]
fn blocking_client_against_tonic_server() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = rt.block_on(tonic_echo::start_tonic());
    let ch = Channel::connect(&addr.to_string()).unwrap();

    let mut md = Metadata::new();
    md.insert("x-initial", "v1").unwrap();
    for opts in [
        opts().with_metadata(md.clone()),
        opts()
            .with_metadata(md.clone())
            .with_compression(Encoding::Gzip),
    ] {
        let r = ch
            .unary::<_, EchoResponse>(EchoMethod::Echo.path(), &echo("hi", 0), &opts)
            .unwrap();
        assert_eq!(
            (r.message.message.as_str(), r.message.payload.len()),
            ("hi", 1000)
        );
        assert_eq!(r.metadata.get_str("x-initial"), Some("v1"));
    }

    let (_, stream) = ch
        .server_streaming::<_, EchoResponse>(EchoMethod::EchoStream.path(), &echo("s", 6), &opts())
        .unwrap();
    let indexes: Vec<u32> = stream.map(|m| m.unwrap().index).collect();
    assert_eq!(indexes, [0, 1, 2, 3, 4, 5]);

    let mut call = ch
        .client_streaming::<_, EchoResponse>(EchoMethod::EchoCollect.path(), &opts())
        .unwrap();
    for i in 0..3 {
        call.send(&echo(&format!("c{i}"), 0)).unwrap();
    }
    let r = call.finish().unwrap().message;
    assert_eq!(
        (r.message.as_str(), r.index, r.payload.len()),
        ("c2", 3, 3000)
    );

    let mut call = ch
        .streaming::<_, EchoResponse>(EchoMethod::EchoBidi.path(), &opts())
        .unwrap();
    for i in 0..5u32 {
        call.send(&echo(&format!("b{i}"), 0)).unwrap();
        let m = call.message().unwrap().unwrap();
        assert_eq!((m.message, m.index), (format!("b{i}"), i));
    }
    call.close_send();
    assert!(call.message().unwrap().is_none());

    let e = ch
        .unary::<_, EchoResponse>(EchoMethod::Echo.path(), &echo("fail", 0), &opts())
        .unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (Code::InvalidArgument, "asked to fail")
    );

    let started = Instant::now();
    let e = ch
        .unary::<_, EchoResponse>(
            EchoMethod::Echo.path(),
            &echo("sleep", 0),
            &CallOptions::default().with_timeout(Duration::from_millis(100)),
        )
        .unwrap_err();
    assert_eq!(e.code, Code::DeadlineExceeded);
    assert!(started.elapsed() < Duration::from_secs(1));

    let e = ch
        .unary::<_, EchoResponse>(TestServiceMethod::EmptyCall.path(), &echo("x", 0), &opts())
        .unwrap_err();
    assert_eq!(e.code, Code::Unimplemented);
}

/// tonic's client against `wirestate serve --runtime blocking`'s services:
/// metadata echo, gzip both ways, the four call kinds, status and message,
/// a deadline the blocking server enforces, UNIMPLEMENTED.
#[test]
fn tonic_client_against_blocking_server() {
    use http::uri::PathAndQuery;
    use tonic::codec::CompressionEncoding;
    fn codec<Req, Resp>() -> tonic_prost::ProstCodec<Req, Resp> {
        tonic_prost::ProstCodec::default()
    }
    let server = Running::serve();
    let addr = server.addr;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        tokio::time::timeout(BOUND, async move {
            let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect()
                .await
                .unwrap();
            let mut c = tonic::client::Grpc::new(channel.clone());

            c.ready().await.unwrap();
            let mut req = tonic::Request::new(SimpleRequest {
                response_size: 314_159,
                ..Default::default()
            });
            req.metadata_mut()
                .insert("x-grpc-test-echo-initial", "initial".parse().unwrap());
            let r: tonic::Response<SimpleResponse> = c
                .unary(
                    req,
                    PathAndQuery::from_static("/grpc.testing.TestService/UnaryCall"),
                    codec::<SimpleRequest, SimpleResponse>(),
                )
                .await
                .unwrap();
            assert_eq!(
                r.metadata().get("x-grpc-test-echo-initial").unwrap(),
                "initial"
            );
            assert_eq!(r.into_inner().payload.unwrap().body.len(), 314_159);

            // gzip both ways (the TestService compresses when asked).
            let mut gz = tonic::client::Grpc::new(channel.clone())
                .send_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Gzip);
            gz.ready().await.unwrap();
            let r = gz
                .unary(
                    tonic::Request::new(SimpleRequest {
                        response_size: 1000,
                        response_compressed: Some(wirestate_proto::grpc::testing::BoolValue {
                            value: true,
                        }),
                        payload: payload(1000),
                        ..Default::default()
                    }),
                    PathAndQuery::from_static("/grpc.testing.TestService/UnaryCall"),
                    codec::<SimpleRequest, SimpleResponse>(),
                )
                .await
                .unwrap()
                .into_inner();
            assert_eq!(r.payload.unwrap().body.len(), 1000);

            c.ready().await.unwrap();
            let mut s = c
                .server_streaming(
                    tonic::Request::new(echo("s", 5)),
                    PathAndQuery::from_static("/wirestate.echo.v1.Echo/EchoStream"),
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

            c.ready().await.unwrap();
            let reqs = futures_util::stream::iter((0..4).map(|i| echo(&format!("c{i}"), 0)));
            let r = c
                .client_streaming(
                    tonic::Request::new(reqs),
                    PathAndQuery::from_static("/wirestate.echo.v1.Echo/EchoCollect"),
                    codec::<EchoRequest, EchoResponse>(),
                )
                .await
                .unwrap()
                .into_inner();
            assert_eq!(
                (r.message.as_str(), r.index, r.payload.len()),
                ("c3", 4, 4000)
            );

            // Bidi ping-pong: tonic waits for the response head before sending,
            // which the blocking server sends as soon as the handler returns.
            c.ready().await.unwrap();
            let (tx, rx) = futures_channel::mpsc::unbounded();
            let mut responses = c
                .streaming(
                    tonic::Request::new(rx),
                    PathAndQuery::from_static("/wirestate.echo.v1.Echo/EchoBidi"),
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

            c.ready().await.unwrap();
            let e = c
                .unary(
                    tonic::Request::new(SimpleRequest {
                        response_status: Some(wirestate_proto::grpc::testing::EchoStatus {
                            code: 2,
                            message: "test status message ☺".into(),
                        }),
                        ..Default::default()
                    }),
                    PathAndQuery::from_static("/grpc.testing.TestService/UnaryCall"),
                    codec::<SimpleRequest, SimpleResponse>(),
                )
                .await
                .unwrap_err();
            assert_eq!(
                (e.code(), e.message()),
                (tonic::Code::Unknown, "test status message ☺")
            );

            // A deadline the blocking server enforces: tonic's timeout covers
            // the response head only, and the head is out at once, so the
            // server's own copy of the deadline ends the stream (a response due
            // 2 s later is not sent).
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
            let result = c
                .server_streaming(
                    req,
                    PathAndQuery::from_static("/grpc.testing.TestService/StreamingOutputCall"),
                    codec::<StreamingOutputCallRequest, StreamingOutputCallResponse>(),
                )
                .await;
            let code = match result {
                Err(e) => e.code(),
                Ok(r) => r.into_inner().message().await.unwrap_err().code(),
            };
            assert_eq!(code, tonic::Code::DeadlineExceeded);

            c.ready().await.unwrap();
            let e = c
                .unary(
                    tonic::Request::new(EchoRequest::default()),
                    PathAndQuery::from_static("/wirestate.echo.v1.Echo/Nope"),
                    codec::<EchoRequest, EchoResponse>(),
                )
                .await
                .unwrap_err();
            assert_eq!(e.code(), tonic::Code::Unimplemented);
        })
        .await
    })
    .expect("bounded");
    drop(rt);
    server.stop();
}

/// The TestService alone (`test_server`, what an interop server serves)
/// passes every case with the blocking client.
#[test]
fn test_server_alone_passes_every_case() {
    let server = Running::start(wirestate_examples::grpc_blocking::test_server());
    all_pass(wirestate_examples::grpc_blocking::interop::run(
        &server.addr.to_string(),
    ));
    server.stop();
}

/// The blocking client stubs wirestate-codegen generates (`EchoClient`,
/// `HealthClient`, `TestServiceClient` with `Config::blocking`, built by
/// the examples' build.rs) against `wirestate serve --runtime blocking`:
/// the four call kinds of Echo (streams as iterators), the client's
/// metadata with a request's metadata replacing it key by key, and the
/// deadlines of a request and of the client.
#[test]
fn generated_blocking_stubs() {
    use wirestate_examples::grpc_blocking::{EchoClient, HealthClient, TestServiceClient};

    let server = Running::serve();
    let ch = Channel::connect(&server.addr.to_string()).unwrap();
    let echo = EchoClient::new(ch.clone()).with_timeout(BOUND);
    let req = |message: &str, payload: Vec<u8>, repeat: u32| EchoRequest {
        message: message.into(),
        payload,
        repeat,
    };

    let r = echo.echo(Request::new(req("hi", vec![1], 0))).unwrap();
    assert_eq!((r.message.message.as_str(), r.message.index), ("hi", 0));

    let (_, stream) = echo.echo_stream(Request::new(req("s", vec![], 3))).unwrap();
    let indexes: Vec<u32> = stream.map(|m| m.unwrap().index).collect();
    assert_eq!(indexes, [0, 1, 2]);

    let requests = (0..4u8).map(|i| req(&format!("m{i}"), vec![i], 0));
    let r = echo.echo_collect(Request::new(requests)).unwrap();
    assert_eq!(r.message.message, "m3");
    assert_eq!(r.message.payload, [0, 1, 2, 3]);
    assert_eq!(r.message.index, 4);

    let mut call = echo.start_echo_collect().unwrap();
    call.send(&req("by hand", vec![9], 0)).unwrap();
    let r = call.finish().unwrap();
    assert_eq!(
        (r.message.message.as_str(), r.message.index),
        ("by hand", 1)
    );

    let mut call = echo.echo_bidi().unwrap();
    for i in 0..3 {
        call.send(&req("b", vec![], 0)).unwrap();
        assert_eq!(call.message().unwrap().expect("a response").index, i);
    }
    call.close_send();
    assert!(call.message().unwrap().is_none());

    let health = HealthClient::new(ch.clone());
    let r = health
        .check(Request::new(HealthCheckRequest {
            service: "wirestate.echo.v1.Echo".into(),
        }))
        .unwrap();
    assert_eq!(r.message.status, 1, "SERVING");

    let mut md = Metadata::new();
    md.insert("x-grpc-test-echo-initial", "client").unwrap();
    let test = TestServiceClient::new(ch.clone()).with_metadata(md);
    let r = test
        .unary_call(Request::new(SimpleRequest::default()))
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
    let r = test.unary_call(request).unwrap();
    assert_eq!(
        r.metadata.get_str("x-grpc-test-echo-initial"),
        Some("request")
    );

    // A request's deadline: health `Watch` answers once, then waits.
    let mut request = Request::new(HealthCheckRequest::default());
    request.deadline = Some(Instant::now() + Duration::from_millis(100));
    let (_, mut watch) = health.watch(request).unwrap();
    assert_eq!(watch.message().unwrap().map(|m| m.status), Some(1));
    assert_eq!(watch.message().unwrap_err().code, Code::DeadlineExceeded);
    // The client's timeout on a bidi call the server never answers.
    let mut call = test
        .clone()
        .with_timeout(Duration::from_millis(50))
        .full_duplex_call()
        .unwrap();
    call.send(&StreamingOutputCallRequest {
        payload: payload(10),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(call.message().unwrap_err().code, Code::DeadlineExceeded);

    drop((echo, health, test, call, watch, ch));
    server.stop();
}

/// A call whose timeout is zero fails with DEADLINE_EXCEEDED every time,
/// before anything is sent.
#[test]
fn zero_timeout_is_exceeded() {
    let server = Running::serve();
    let ch = Channel::connect(&server.addr.to_string()).unwrap();
    let opts = CallOptions::default().with_timeout(Duration::ZERO);
    let req = EchoRequest {
        message: "late".into(),
        ..Default::default()
    };
    for _ in 0..20 {
        let r = ch.unary::<_, EchoResponse>(EchoMethod::Echo.path(), &req, &opts);
        assert_eq!(r.unwrap_err().code, Code::DeadlineExceeded);
        let r = ch.server_streaming::<_, EchoResponse>(EchoMethod::EchoStream.path(), &req, &opts);
        assert_eq!(r.unwrap_err().code, Code::DeadlineExceeded);
        let r = ch.streaming::<EchoRequest, EchoResponse>(EchoMethod::EchoBidi.path(), &opts);
        assert_eq!(r.unwrap_err().code, Code::DeadlineExceeded);
    }
    drop(ch);
    server.stop();
}
