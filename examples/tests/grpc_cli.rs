//! `wirestate grpc` end to end: the binary against `wirestate serve` on
//! 127.0.0.1, every server runtime × every client runtime, gRPC over h2c
//! and gRPC-Web over HTTP/1.1: unary and server-streaming calls with JSON
//! in and out, metadata, a client-streaming call, an error status
//! (`ERROR: code=... message=...`, exit 1), a deadline, an unknown method,
//! and `list`. Every server is ended by its PID.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_wirestate");

/// `wirestate serve --runtime R` on a free loopback port, killed on drop.
struct Serve {
    child: Child,
    addr: SocketAddr,
}

impl Serve {
    fn start(runtime: &str) -> Serve {
        // A port free a moment ago (the smol server logs the address it
        // was given, not the one it bound, so port 0 will not do).
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let child = Command::new(BIN)
            .args(["serve", "--runtime", runtime, "--threads", "2", "--listen"])
            .arg(addr.to_string())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("wirestate serve");
        let serve = Serve { child, addr };
        let started = Instant::now();
        while TcpStream::connect(addr).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{runtime} server not up"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        serve
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `wirestate grpc ARGS`, bounded in time.
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
            panic!("wirestate grpc {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The calls one client runtime makes against `addr`.
fn calls(addr: &str, client: &str) {
    let ctx = |what: &str, o: &Output| {
        format!(
            "{client} {what}: status {:?}, stdout {:?}, stderr {:?}",
            o.status,
            stdout(o),
            stderr(o)
        )
    };
    for web in [false, true] {
        let mut base = vec!["--runtime", client];
        if web {
            base.push("--web");
        }
        let with = |more: &[&str]| -> Output {
            let mut args = base.clone();
            args.extend_from_slice(more);
            grpc(&args)
        };

        // Unary, JSON in and out (proto3 mapping: camelCase, base64 bytes).
        let o = with(&[
            addr,
            "/grpc.testing.TestService/UnaryCall",
            r#"{"responseSize": 3}"#,
        ]);
        assert!(o.status.success(), "{}", ctx("unary", &o));
        assert_eq!(
            stdout(&o),
            "{\"payload\":{\"body\":\"AAAA\"}}\n",
            "{}",
            ctx("unary", &o)
        );

        // Server streaming: one line per message.
        let o = with(&[
            addr,
            "/wirestate.echo.v1.Echo/EchoStream",
            r#"{"message": "hi", "repeat": 3}"#,
        ]);
        assert!(o.status.success(), "{}", ctx("stream", &o));
        assert_eq!(
            stdout(&o),
            "{\"message\":\"hi\"}\n{\"message\":\"hi\",\"index\":1}\n{\"message\":\"hi\",\"index\":2}\n",
            "{}",
            ctx("stream", &o)
        );

        // A status other than OK, with metadata sent along (the server
        // echoes the trailing one; the status is what is checked).
        let o = with(&[
            "-H",
            "x-grpc-test-echo-trailing-bin: AAE=",
            addr,
            "/grpc.testing.TestService/UnaryCall",
            r#"{"responseStatus": {"code": 5, "message": "not here ✗"}}"#,
        ]);
        assert_eq!(o.status.code(), Some(1), "{}", ctx("error", &o));
        assert_eq!(stdout(&o), "");
        assert_eq!(
            stderr(&o).trim_end(),
            "ERROR: code=NOT_FOUND message=not here ✗",
            "{}",
            ctx("error", &o)
        );

        // The deadline: a response due after it.
        let o = with(&[
            "--timeout",
            "200ms",
            addr,
            "/grpc.testing.TestService/StreamingOutputCall",
            r#"{"responseParameters": [{"size": 1, "intervalUs": 2000000}]}"#,
        ]);
        assert_eq!(o.status.code(), Some(1), "{}", ctx("deadline", &o));
        assert!(
            stderr(&o).starts_with("ERROR: code=DEADLINE_EXCEEDED"),
            "{}",
            ctx("deadline", &o)
        );

        // A method the server does not route.
        let o = with(&[addr, "/grpc.testing.TestService/UnimplementedCall", "{}"]);
        assert_eq!(o.status.code(), Some(1), "{}", ctx("unimplemented", &o));
        assert!(
            stderr(&o).starts_with("ERROR: code=UNIMPLEMENTED"),
            "{}",
            ctx("unimplemented", &o)
        );
    }

    // Client streaming (gRPC only): a sequence of JSON objects.
    let o = grpc(&[
        "--runtime",
        client,
        addr,
        "/wirestate.echo.v1.Echo/EchoCollect",
        r#"{"message": "a", "payload": "AQ=="} {"message": "b", "payload": "Ag=="}"#,
    ]);
    assert!(o.status.success(), "{}", ctx("collect", &o));
    assert_eq!(
        stdout(&o),
        "{\"message\":\"b\",\"payload\":\"AQI=\",\"index\":2}\n"
    );
}

#[test]
fn every_client_runtime_against_every_server_runtime() {
    for server in ["tokio", "smol", "blocking"] {
        let serve = Serve::start(server);
        let addr = serve.addr.to_string();
        for client in ["tokio", "smol", "blocking"] {
            calls(&addr, client);
        }
        drop(serve);
    }
}

#[test]
fn list_and_usage_errors() {
    let o = grpc(&["127.0.0.1:1", "list"]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(out.contains(
        "/grpc.testing.TestService/FullDuplexCall bidi-streaming grpc.testing.StreamingOutputCallRequest -> grpc.testing.StreamingOutputCallResponse\n"
    ));
    assert!(out.contains("/wirestate.echo.v1.Echo/Echo unary"));

    // Unknown methods and bad JSON are refused before connecting.
    let o = grpc(&["127.0.0.1:1", "/no.Such/Method", "{}"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("unknown method /no.Such/Method"),
        "{}",
        stderr(&o)
    );
    let o = grpc(&[
        "127.0.0.1:1",
        "/wirestate.echo.v1.Echo/Echo",
        "{\"nope\": 1}",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("request JSON"), "{}", stderr(&o));
    // Nothing listening: UNAVAILABLE.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    for client in ["tokio", "smol", "blocking"] {
        let o = grpc(&["--runtime", client, &addr, "/wirestate.echo.v1.Echo/Echo"]);
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).starts_with("ERROR: code=UNAVAILABLE"),
            "{client}: {}",
            stderr(&o)
        );
    }
}
