//! `wirestate grpc` through server reflection, end to end: `list`,
//! `list SERVICE`, `describe` and a call to a method that is not compiled
//! in, against a user's blocking server whose own service is known only
//! through its reflection (every client runtime); `wirestate serve`'s
//! reflection on each server runtime; NOT_FOUND reported as such; and a
//! server without reflection, where `list` falls back to the compiled-in
//! services and says so.

// `Status` is every gRPC handler's error type.
#![allow(clippy::result_large_err)]

use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use prost::Message;
use prost_reflect::prost_types::{
    FileDescriptorProto, FileDescriptorSet, MethodDescriptorProto, ServiceDescriptorProto,
};
use wirestate_blocking::grpc::{Request, Response, Server};
use wirestate_grpc_reflection::Reflection;
use wirestate_proto::grpc::health::v1::{HealthCheckRequest, HealthCheckResponse};

mod support;
use support::{BIN, Serve};

/// Runs `wirestate grpc ARGS`, killed after 20 s.
fn grpc(args: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .arg("grpc")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wirestate grpc");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `shop/v1/cart.proto`: `shop.v1.Cart/Check`, taking and returning the
/// health messages (so the answer imports wirestate's health.proto).
fn cart_set() -> Vec<u8> {
    let cart = FileDescriptorProto {
        name: Some("shop/v1/cart.proto".into()),
        package: Some("shop.v1".into()),
        dependency: vec!["grpc/health/v1/health.proto".into()],
        syntax: Some("proto3".into()),
        service: vec![ServiceDescriptorProto {
            name: Some("Cart".into()),
            method: vec![MethodDescriptorProto {
                name: Some("Check".into()),
                input_type: Some(".grpc.health.v1.HealthCheckRequest".into()),
                output_type: Some(".grpc.health.v1.HealthCheckResponse".into()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    FileDescriptorSet { file: vec![cart] }.encode_to_vec()
}

/// A user's blocking server serving `shop.v1.Cart/Check` (SERVING when the
/// request names "cart"), with reflection when `reflect`.
fn start_user(reflect: bool) -> (SocketAddr, wirestate_blocking::ServerHandle) {
    let server = Server::new().unary("/shop.v1.Cart/Check", |r: Request<HealthCheckRequest>| {
        let status = if r.message.service == "cart" { 1 } else { 2 };
        Ok(Response::new(HealthCheckResponse { status }))
    });
    let server = if reflect {
        let reflection = Reflection::builder()
            .register_file_descriptor_set(wirestate_proto::FILE_DESCRIPTOR_SET)
            .unwrap()
            .register_file_descriptor_set(&cart_set())
            .unwrap()
            .advertise("shop.v1.Cart")
            .advertise("grpc.reflection.v1.ServerReflection")
            .build()
            .unwrap();
        wirestate_grpc_reflection::blocking::add_reflection(server, reflection)
    } else {
        server
    };
    let http = wirestate_blocking::Server::bind("127.0.0.1:0", Default::default()).unwrap();
    let addr = http.local_addr().unwrap();
    let handle = http.handle();
    std::thread::spawn(move || http.serve(server));
    (addr, handle)
}

#[test]
fn a_service_known_only_through_reflection() {
    let (addr, handle) = start_user(true);
    let addr = addr.to_string();
    for rt in ["tokio", "smol", "blocking"] {
        let o = grpc(&["--runtime", rt, &addr, "list"]);
        assert!(o.status.success(), "{rt}: {}", text(&o.stderr));
        assert_eq!(
            text(&o.stdout),
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo bidi-streaming grpc.reflection.v1.ServerReflectionRequest -> grpc.reflection.v1.ServerReflectionResponse\n\
             /shop.v1.Cart/Check unary grpc.health.v1.HealthCheckRequest -> grpc.health.v1.HealthCheckResponse\n",
            "{rt}"
        );

        let o = grpc(&["--runtime", rt, &addr, "describe", "shop.v1.Cart"]);
        assert!(o.status.success(), "{rt}: {}", text(&o.stderr));
        assert_eq!(
            text(&o.stdout),
            "shop.v1.Cart is a service:\nservice Cart {\n  rpc Check ( .grpc.health.v1.HealthCheckRequest ) returns ( .grpc.health.v1.HealthCheckResponse );\n}\n"
        );

        // Not compiled in: the request JSON is read and the response
        // printed through the reflected descriptors.
        let o = grpc(&[
            "--runtime",
            rt,
            &addr,
            "/shop.v1.Cart/Check",
            r#"{"service":"cart"}"#,
        ]);
        assert!(o.status.success(), "{rt}: {}", text(&o.stderr));
        assert_eq!(text(&o.stdout), "{\"status\":\"SERVING\"}\n", "{rt}");

        // NOT_FOUND is the server's answer, not a reason to fall back.
        let o = grpc(&["--runtime", rt, &addr, "describe", "shop.v1.Nope"]);
        assert!(!o.status.success());
        assert!(
            text(&o.stderr).contains("\"shop.v1.Nope\" not found"),
            "{}",
            text(&o.stderr)
        );
        let o = grpc(&["--runtime", rt, &addr, "/shop.v1.Cart/Nope", "{}"]);
        assert!(!o.status.success());
        assert!(
            text(&o.stderr).contains("unknown method /shop.v1.Cart/Nope"),
            "{}",
            text(&o.stderr)
        );
    }
    handle.shutdown();
}

#[test]
fn a_server_without_reflection_gets_the_compiled_in_list() {
    let (addr, handle) = start_user(false);
    let o = grpc(&[&addr.to_string(), "list", "grpc.health.v1.Health"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).starts_with("/grpc.health.v1.Health/Check unary"));
    let err = text(&o.stderr);
    assert!(
        err.contains("no server reflection") && err.contains("compiled-in"),
        "{err}"
    );
    // A method neither compiled in nor reflected is unknown, with why.
    let o = grpc(&[&addr.to_string(), "/shop.v1.Cart/Check", "{}"]);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains("unknown method /shop.v1.Cart/Check") && err.contains("UNIMPLEMENTED"),
        "{err}"
    );
    handle.shutdown();
}

#[test]
fn wirestate_serve_reflection_on_every_runtime() {
    for server_rt in ["tokio", "smol", "blocking"] {
        let serve = Serve::start(&["--runtime", server_rt, "--threads", "2"]);
        let addr = serve.addr.to_string();
        let o = grpc(&[&addr, "list"]);
        assert!(o.status.success(), "{server_rt}: {}", text(&o.stderr));
        assert!(o.stderr.is_empty(), "{}", text(&o.stderr));
        let out = text(&o.stdout);
        for line in [
            "/grpc.testing.TestService/UnaryCall unary",
            "/grpc.health.v1.Health/Watch server-streaming",
            "/wirestate.echo.v1.Echo/EchoBidi bidi-streaming",
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo bidi-streaming",
        ] {
            assert!(out.contains(line), "{server_rt}: {line} in {out}");
        }
        // The services the interop test.proto declares but serve does not
        // serve are not listed.
        assert!(!out.contains("ReconnectService"), "{out}");
        let o = grpc(&[&addr, "describe", "grpc.health.v1.HealthCheckResponse"]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        assert!(
            text(&o.stdout).contains("enum ServingStatus {\n    UNKNOWN = 0;"),
            "{}",
            text(&o.stdout)
        );
    }
}

/// A server whose reflection finds services, messages and files but not a
/// method's full name, as grpcio's (Python's descriptor pool) does:
/// `describe pkg.Service.Method` looks up the service and describes the
/// method from it. Failed before: "shop.v1.Cart.Check: not found", exit 1.
#[test]
fn a_method_is_described_through_a_server_that_finds_only_its_service() {
    use wirestate_grpc_reflection::V1_PATH;
    use wirestate_proto::grpc::reflection::v1::server_reflection_request::MessageRequest;
    use wirestate_proto::grpc::reflection::v1::server_reflection_response::MessageResponse;
    use wirestate_proto::grpc::reflection::v1::{
        ErrorResponse, ServerReflectionRequest, ServerReflectionResponse,
    };
    let reflection = Reflection::builder()
        .register_file_descriptor_set(wirestate_proto::FILE_DESCRIPTOR_SET)
        .unwrap()
        .register_file_descriptor_set(&cart_set())
        .unwrap()
        .advertise("shop.v1.Cart")
        .build()
        .unwrap();
    let server = Server::new().bidi_streaming(
        V1_PATH,
        move |request: Request<wirestate_blocking::grpc::Streaming<ServerReflectionRequest>>| {
            let mut session = reflection.session();
            let answers = request.message.map(move |request| {
                request.map(|request| match &request.message_request {
                    Some(MessageRequest::FileContainingSymbol(s)) if s == "shop.v1.Cart.Check" => {
                        ServerReflectionResponse {
                            valid_host: String::new(),
                            original_request: Some(request.clone()),
                            message_response: Some(MessageResponse::ErrorResponse(ErrorResponse {
                                error_code: 5,
                                error_message: "not found".into(),
                            })),
                        }
                    }
                    _ => session.answer(request),
                })
            });
            Ok::<_, wirestate_blocking::grpc::Status>(Response::new(answers))
        },
    );
    let http = wirestate_blocking::Server::bind("127.0.0.1:0", Default::default()).unwrap();
    let addr = http.local_addr().unwrap().to_string();
    let handle = http.handle();
    std::thread::spawn(move || http.serve(server));
    for rt in ["tokio", "blocking"] {
        let o = grpc(&["--runtime", rt, &addr, "describe", "shop.v1.Cart.Check"]);
        assert!(o.status.success(), "{rt}: {}", text(&o.stderr));
        assert_eq!(
            text(&o.stdout),
            "shop.v1.Cart.Check is a method:\nrpc Check ( .grpc.health.v1.HealthCheckRequest ) returns ( .grpc.health.v1.HealthCheckResponse );\n"
        );
        // A name that is neither, under a service that exists: still an
        // error, not a panic or an empty success.
        let o = grpc(&["--runtime", rt, &addr, "describe", "shop.v1.Cart.Nope"]);
        assert!(!o.status.success());
        assert!(
            text(&o.stderr).contains("shop.v1.Cart.Nope"),
            "{}",
            text(&o.stderr)
        );
    }
    handle.shutdown();
}

/// A server that cannot be reached (connection refused, a name that does
/// not resolve) or a request that cannot be made (a bad header) is an
/// error for `list`, `describe` and a call to a method not compiled in:
/// non-zero exit, the reason on stderr, nothing on stdout. Failed before:
/// `list` printed the compiled-in services and exited 0, as if the server
/// had answered without reflection, and a call said "unknown method".
#[test]
fn an_unreachable_server_is_an_error_not_a_fallback() {
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = format!("127.0.0.1:{port}");
    for rt in ["tokio", "smol", "blocking"] {
        for args in [
            vec!["--runtime", rt, &down, "list"],
            vec!["--runtime", rt, &down, "describe", "shop.v1.Cart"],
            vec!["--runtime", rt, &down, "/shop.v1.Cart/Check", "{}"],
            vec!["--runtime", rt, "nosuchhost.invalid:80", "list"],
        ] {
            let o = grpc(&args);
            assert!(!o.status.success(), "{args:?}");
            assert!(o.stdout.is_empty(), "{args:?}: {}", text(&o.stdout));
            let err = text(&o.stderr);
            assert!(
                !err.contains("compiled-in") && !err.contains("unknown method"),
                "{args:?}: {err}"
            );
            assert!(
                err.contains(&down) || err.contains("nosuchhost.invalid"),
                "{args:?}: {err}"
            );
        }
    }
    // A header that cannot be sent is the user's mistake, said as such.
    let (addr, handle) = start_user(false);
    let o = grpc(&["-H", "no colon", &addr.to_string(), "list"]);
    assert!(!o.status.success());
    assert!(o.stdout.is_empty(), "{}", text(&o.stdout));
    assert!(
        text(&o.stderr).contains("want `key: value`"),
        "{}",
        text(&o.stderr)
    );
    handle.shutdown();
}

/// With `--web`, a service known only through reflection is still listed,
/// described and called (over gRPC-Web, binary and text): reflection is
/// asked over h2c on the same port, as the server speaks both. Failed
/// before: "unknown method /shop.v1.Cart/Check …; no server reflection: it
/// needs gRPC over h2c", so a user's own service could not be called over
/// gRPC-Web at all. Nothing listening is an error; a server without
/// reflection still gets the compiled-in list.
#[test]
fn web_calls_reach_a_service_known_only_through_reflection() {
    let (addr, handle) = start_user(true);
    let addr = addr.to_string();
    for rt in ["tokio", "smol", "blocking"] {
        for web in ["--web", "--web-text"] {
            let o = grpc(&[
                "--runtime",
                rt,
                web,
                &addr,
                "/shop.v1.Cart/Check",
                r#"{"service":"cart"}"#,
            ]);
            assert!(o.status.success(), "{rt} {web}: {}", text(&o.stderr));
            assert_eq!(text(&o.stdout), "{\"status\":\"SERVING\"}\n", "{rt} {web}");
        }
        let o = grpc(&["--runtime", rt, "--web", &addr, "list", "shop.v1.Cart"]);
        assert!(o.status.success(), "{rt}: {}", text(&o.stderr));
        assert!(
            text(&o.stdout).starts_with("/shop.v1.Cart/Check unary"),
            "{}",
            text(&o.stdout)
        );
        let o = grpc(&[
            "--runtime",
            rt,
            "--web",
            &addr,
            "describe",
            "shop.v1.Cart.Check",
        ]);
        assert!(o.status.success(), "{rt}: {}", text(&o.stderr));
        assert!(text(&o.stdout).starts_with("shop.v1.Cart.Check is a method:"));
    }
    handle.shutdown();

    let (plain, handle) = start_user(false);
    let o = grpc(&["--web", &plain.to_string(), "list", "grpc.health.v1.Health"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).starts_with("/grpc.health.v1.Health/Check unary"));
    assert!(
        text(&o.stderr).contains("compiled-in"),
        "{}",
        text(&o.stderr)
    );
    handle.shutdown();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = format!("127.0.0.1:{port}");
    let o = grpc(&["--web", &down, "list"]);
    assert!(!o.status.success());
    assert!(o.stdout.is_empty(), "{}", text(&o.stdout));
    assert!(text(&o.stderr).contains(&down), "{}", text(&o.stderr));
}
