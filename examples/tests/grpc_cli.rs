//! `wirestate grpc` end to end: the binary against `wirestate serve` on
//! 127.0.0.1, every server runtime × every client runtime, gRPC over h2c
//! and gRPC-Web over HTTP/1.1 (binary `--web`, text `--web-text` and
//! `--web=text`): unary and server-streaming calls with JSON
//! in and out, metadata, a client-streaming call, an error status
//! (`ERROR: code=... message=...`, exit 1), a deadline, an unknown method,
//! and `list`; the request JSON from a file or stdin (`@FILE`, `-d @`);
//! and the requests `--web`, `--web=text` and `--web-text` put on the
//! wire, read by a bare TCP listener answering in kind (also with an error
//! status and its `grpc-status-details-bin`, decoded on stderr). Every
//! server is ended by its PID.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::{BIN, Serve};

/// `wirestate serve --runtime R` on a free loopback port.
fn serve(runtime: &str) -> Serve {
    Serve::start(&["--runtime", runtime, "--threads", "2"])
}

/// Runs `wirestate grpc ARGS`, bounded in time.
fn grpc(args: &[&str]) -> Output {
    let child = Command::new(BIN)
        .arg("grpc")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wirestate grpc");
    finish(child, args)
}

/// Waits for `child` (killed after 20 s), its stdout and stderr read as it
/// runs so that a large output cannot fill a pipe and stall it.
fn finish(mut child: Child, args: &[&str]) -> Output {
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut all = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut all);
            }
            all
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("wirestate grpc {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
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
    // Text mode spelled both ways, by client.
    let text = if client == "smol" {
        "--web=text"
    } else {
        "--web-text"
    };
    for web in [None, Some("--web"), Some(text)] {
        let mut base = vec!["--runtime", client];
        base.extend(web);
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
        let serve = serve(server);
        let addr = serve.addr.to_string();
        for client in ["tokio", "smol", "blocking"] {
            calls(&addr, client);
        }
        drop(serve);
    }
}

/// One gRPC-Web exchange on a bare listener: the request head and body
/// as they came, answered with an empty message and status OK, framed as
/// the request was (base64 for `application/grpc-web-text`).
fn web_exchange(args: &[&str]) -> (String, Vec<u8>, Output) {
    web_exchange_with(args, b"grpc-status:0\r\n")
}

/// [`web_exchange`], answering with `trailers` (`k:v\r\n` lines).
fn web_exchange_with(args: &[&str], trailers: &[u8]) -> (String, Vec<u8>, Output) {
    let trailers = trailers.to_vec();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        // A connection closed before a request (a channel may probe
        // first) is not the exchange: the next one is.
        let (mut conn, mut data, head_end) = loop {
            let (mut conn, _) = listener.accept().unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut data = Vec::new();
            let mut buf = [0u8; 4096];
            let head_end = loop {
                if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(i + 4);
                }
                let n = conn.read(&mut buf).unwrap();
                if n == 0 {
                    break None;
                }
                data.extend_from_slice(&buf[..n]);
            };
            if let Some(end) = head_end {
                break (conn, data, end);
            }
        };
        let mut buf = [0u8; 4096];
        let head = String::from_utf8(data[..head_end].to_vec()).unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().unwrap())
            })
            .expect("a Content-Length");
        while data.len() < head_end + length {
            let n = conn.read(&mut buf).unwrap();
            assert!(n > 0, "the request body ended early");
            data.extend_from_slice(&buf[..n]);
        }
        let body = data[head_end..head_end + length].to_vec();
        let text = head.contains("application/grpc-web-text");
        let mut frames = vec![0u8, 0, 0, 0, 0];
        frames.push(0x80);
        frames.extend_from_slice(&u32::try_from(trailers.len()).unwrap().to_be_bytes());
        frames.extend_from_slice(&trailers);
        let (kind, payload) = if text {
            use base64::Engine;
            let b64 = base64::engine::general_purpose::STANDARD.encode(&frames);
            ("application/grpc-web-text", b64.into_bytes())
        } else {
            ("application/grpc-web", frames)
        };
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            payload.len()
        );
        conn.write_all(answer.as_bytes()).unwrap();
        conn.write_all(&payload).unwrap();
        (head, body)
    });
    let mut all = args.to_vec();
    all.extend([addr.as_str(), "/grpc.testing.TestService/EmptyCall", "{}"]);
    let o = grpc(&all);
    let (head, body) = server.join().unwrap();
    (head, body, o)
}

#[test]
fn web_text_mode_on_the_wire() {
    use base64::Engine;
    for client in ["tokio", "smol", "blocking"] {
        // Binary: the 5-byte frame of the empty request as it is.
        let (head, body, o) = web_exchange(&["--runtime", client, "--web"]);
        assert!(o.status.success(), "{client}: {}", stderr(&o));
        assert_eq!(stdout(&o), "{}\n");
        let lower = head.to_ascii_lowercase();
        assert!(lower.starts_with("post /grpc.testing.testservice/emptycall http/1.1"));
        assert!(
            lower.contains("content-type: application/grpc-web+proto\r\n")
                || lower.contains("content-type: application/grpc-web\r\n"),
            "{head}"
        );
        assert_eq!(body, [0, 0, 0, 0, 0]);
        // Text, both spellings: the same frame in base64, the response
        // read back from base64.
        for flag in ["--web-text", "--web=text"] {
            let (head, body, o) = web_exchange(&["--runtime", client, flag]);
            assert!(o.status.success(), "{client} {flag}: {}", stderr(&o));
            assert_eq!(stdout(&o), "{}\n");
            assert!(
                head.to_ascii_lowercase()
                    .contains("content-type: application/grpc-web-text"),
                "{head}"
            );
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(&body)
                .expect("a base64 body");
            assert_eq!(decoded, [0, 0, 0, 0, 0], "{client} {flag}");
        }
    }
    // The two spellings of text do not combine with binary.
    let o = grpc(&["--web=binary", "--web-text", "127.0.0.1:1", "list"]);
    assert!(!o.status.success());
}

#[test]
fn list_and_usage_errors() {
    // A server that cannot be reached is an error, not a reason to list
    // the compiled-in services (those are listed for a server reached
    // without reflection: grpc_cli_reflection.rs).
    let o = grpc(&["127.0.0.1:1", "list"]);
    assert!(!o.status.success());
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    assert!(stderr(&o).contains("127.0.0.1:1"), "{}", stderr(&o));

    // A method not compiled in is looked up through the server's
    // reflection: with no server, the error says both.
    let o = grpc(&["127.0.0.1:1", "/no.Such/Method", "{}"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("/no.Such/Method is not compiled in")
            && stderr(&o).contains("127.0.0.1:1"),
        "{}",
        stderr(&o)
    );
    // Bad JSON is refused before connecting.
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

/// Runs `wirestate grpc ARGS` with `input` on its stdin, bounded in time.
fn grpc_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .arg("grpc")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wirestate grpc");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // Written from a thread: the child may answer before reading it all.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let output = finish(child, args);
    let _ = writer.join();
    output
}

/// The request JSON from a file (`@PATH`, as the argument or `-d`) and
/// from stdin (`-d @`, `@`), large enough that it could not be one
/// argument (Linux caps one at 128 KiB); a literal argument still works,
/// and two requests at once are refused.
#[test]
fn request_json_from_a_file_or_stdin() {
    let serve = serve("tokio");
    let addr = serve.addr.to_string();
    let big = "x".repeat(300_000);
    let json = format!("{{\"message\": \"{big}\"}}");
    let expected = format!("{{\"message\":\"{big}\"}}\n");
    let path = std::env::temp_dir().join(format!("wirestate-grpc-cli-{}.json", std::process::id()));
    std::fs::write(&path, &json).unwrap();
    let at_path = format!("@{}", path.display());
    const ECHO: &str = "/wirestate.echo.v1.Echo/Echo";
    for client in ["tokio", "smol", "blocking"] {
        let o = grpc(&["--runtime", client, &addr, ECHO, &at_path]);
        assert!(o.status.success(), "{client} @file: {}", stderr(&o));
        assert!(
            stdout(&o) == expected,
            "{client} @file: {} bytes",
            o.stdout.len()
        );
        let o = grpc(&["--runtime", client, "-d", &at_path, &addr, ECHO]);
        assert!(o.status.success(), "{client} -d @file: {}", stderr(&o));
        assert!(stdout(&o) == expected, "{client} -d @file");
        let o = grpc_stdin(
            &["--runtime", client, "-d", "@", &addr, ECHO],
            json.as_bytes(),
        );
        assert!(o.status.success(), "{client} -d @: {}", stderr(&o));
        assert!(stdout(&o) == expected, "{client} -d @");
        let o = grpc_stdin(&["--runtime", client, &addr, ECHO, "@"], json.as_bytes());
        assert!(o.status.success(), "{client} @: {}", stderr(&o));
        assert!(stdout(&o) == expected, "{client} @");
    }
    let o = grpc(&[&addr, ECHO, r#"{"message": "literal"}"#]);
    assert_eq!(stdout(&o), "{\"message\":\"literal\"}\n", "{}", stderr(&o));
    let o = grpc(&["-d", "{}", &addr, ECHO, "{}"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not both"), "{}", stderr(&o));
    let o = grpc(&[&addr, ECHO, "@/no/such/file.json"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("reading the request from /no/such/file.json"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_file(&path).unwrap();
    drop(serve);
}

/// `google.protobuf.Any`, to build the details the server answers with.
#[derive(Clone, PartialEq, prost::Message)]
struct Any {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<Any>,
}

/// An error status's `grpc-status-details-bin` is decoded on stderr after
/// the status line: the google.rpc.Status code and message, a detail of
/// a compiled-in type as JSON, another by type URL and length.
#[test]
fn error_status_details_are_decoded() {
    use base64::Engine;
    use prost::Message;
    let payload = wirestate_proto::grpc::testing::Payload {
        r#type: 0,
        body: vec![1, 2, 3],
    };
    let details = RpcStatus {
        code: 3,
        message: "bad field".into(),
        details: vec![
            Any {
                type_url: "type.googleapis.com/grpc.testing.Payload".into(),
                value: payload.encode_to_vec(),
            },
            Any {
                type_url: "type.googleapis.com/google.rpc.BadRequest".into(),
                value: vec![7; 12],
            },
        ],
    };
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(details.encode_to_vec());
    let trailers =
        format!("grpc-status:3\r\ngrpc-message:bad%20field\r\ngrpc-status-details-bin:{b64}\r\n");
    for client in ["tokio", "smol", "blocking"] {
        let (_, _, o) = web_exchange_with(&["--runtime", client, "--web"], trailers.as_bytes());
        assert_eq!(o.status.code(), Some(1), "{client}: {}", stderr(&o));
        let err = stderr(&o);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(
            lines,
            [
                "ERROR: code=INVALID_ARGUMENT message=bad field",
                "details: google.rpc.Status code=INVALID_ARGUMENT (3) message=bad field",
                "  detail type.googleapis.com/grpc.testing.Payload: {\"body\":\"AQID\"}",
                "  detail type.googleapis.com/google.rpc.BadRequest (12 bytes)",
            ],
            "{client}"
        );
    }
}

/// Output closed early (`wirestate grpc ... | head -1`): a local error on
/// stderr like `wirestate http`'s, not a gRPC status. It was reported as
/// `ERROR: code=INTERNAL message=stdout: Broken pipe`, as if the server
/// had failed the call.
#[test]
fn a_closed_stdout_is_not_a_grpc_status() {
    let server = serve("tokio");
    let addr = server.addr.to_string();
    for runtime in ["tokio", "smol", "blocking"] {
        let mut child = Command::new(BIN)
            .args(["grpc", "--runtime", runtime, &addr])
            .args([
                "/wirestate.echo.v1.Echo/EchoStream",
                r#"{"message":"a","repeat":100000}"#,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 16];
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut first)
            .unwrap();
        drop(child.stdout.take());
        let out = finish(child, &["grpc", runtime]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{runtime}: {stderr}");
        assert!(
            stderr.starts_with("wirestate: stdout:") && !stderr.contains("code="),
            "{runtime}: {stderr}"
        );
    }
}

/// Options may follow HOST:PORT and the method, as users write them
/// (`wirestate grpc HOST:PORT /pkg.S/M -H 'k: v' --timeout 5s '{…}'`).
/// Failed before: clap's "2 values required by '<WORDS> <WORDS>...'; only
/// 1 was provided" for any option after HOST:PORT. Too few or too many
/// words are still refused, with a usage message.
#[test]
fn options_between_the_words() {
    let serve = serve("tokio");
    let addr = serve.addr.to_string();
    let o = grpc(&[
        &addr,
        "-H",
        "x-user: ann",
        "/wirestate.echo.v1.Echo/Echo",
        "--timeout",
        "5s",
        r#"{"message":"hi"}"#,
        "--runtime",
        "smol",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "{\"message\":\"hi\"}\n");
    let o = grpc(&[&addr, "--timeout", "5s", "list", "wirestate.echo.v1.Echo"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("/wirestate.echo.v1.Echo/Echo unary"),
        "{}",
        stdout(&o)
    );
    for words in [
        vec![addr.as_str()],
        vec![addr.as_str(), "list", "a.B", "extra"],
        vec![addr.as_str(), "describe", "a.B", "extra"],
        vec![addr.as_str(), "/wirestate.echo.v1.Echo/Echo", "{}", "{}"],
    ] {
        let o = grpc(&words);
        assert!(!o.status.success(), "{words:?}");
        assert!(o.stdout.is_empty(), "{words:?}: {}", stdout(&o));
        assert!(
            !stderr(&o).contains("panicked"),
            "{words:?}: {}",
            stderr(&o)
        );
    }
}
