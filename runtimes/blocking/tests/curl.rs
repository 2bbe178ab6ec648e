//! curl, an independent client, against the blocking server (skipped when
//! curl is not installed).

mod common;

use common::*;
use http::{Request, Response};
use std::io::Write;
use std::process::{Command, Output, Stdio};
use wirestate_blocking::{BlockingBody, ResponseBody, ServerConfig};

fn curl_available() -> bool {
    Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn curl(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "20"]).args(args);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("curl");
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.map(<[u8]>::to_vec);
    let feeder = std::thread::spawn(move || {
        if let Some(input) = input {
            let _ = pipe.write_all(&input);
        }
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn handler(req: Request<BlockingBody>) -> Response<ResponseBody> {
    if req.uri().path() == "/echo" {
        Response::new(ResponseBody::from(req.into_body()))
    } else {
        Response::new(ResponseBody::from(req.uri().path().to_string()))
    }
}

#[test]
fn curl_keep_alive_chunked_upload_and_expect() {
    if !curl_available() {
        eprintln!("curl not found; skipped");
        return;
    }
    let server = TestServer::start(ServerConfig::default(), handler);

    // Two URLs in one invocation share the connection.
    let out = curl(&[&server.url("/a"), &server.url("/b")], None);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "/a/b");
    assert_eq!(server.handle.accepted_connections(), 1);

    // An upload from stdin goes chunked; the echo comes back intact.
    let data: Vec<u8> = (0..2_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let out = curl(
        &["-T", "-", "-X", "POST", &server.url("/echo")],
        Some(&data),
    );
    assert!(out.stdout == data, "chunked echo differs");

    // Expect: 100-continue is answered before the body goes out.
    let out = curl(
        &[
            "-v",
            "-H",
            "Expect: 100-continue",
            "--data-binary",
            "@-",
            &server.url("/echo"),
        ],
        Some(&data),
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("< HTTP/1.1 100 Continue"), "{log}");
    assert!(out.stdout == data, "expect echo differs");
}
