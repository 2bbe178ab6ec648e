//! `wirestate http` against `wirestate serve` over IPv6 loopback, HTTP/1.1
//! and h2c with prior knowledge, on every runtime: a bracketed literal in
//! the URL (`http://[::1]:PORT/`) is an address, not a host name to look
//! up (the h2c path failed with 'cannot resolve [::1]'). Skipped where
//! `::1` cannot be bound. And a URL whose port is not a number up to
//! 65535 is refused by every client command instead of meaning port 80.

use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};

mod support;
use support::{BIN, Serve};

#[test]
fn http_to_an_ipv6_literal_on_every_runtime() {
    let Ok(listener) = TcpListener::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback: skipped");
        return;
    };
    let addr: SocketAddr = listener.local_addr().unwrap();
    drop(listener);
    let server = Serve::start_on(addr, &["--threads", "1"]);
    let url = format!("http://[::1]:{}/", addr.port());
    let mut failures = Vec::new();
    for runtime in ["tokio", "smol", "blocking"] {
        for h2 in [false, true] {
            let mut cmd = Command::new(BIN);
            cmd.args(["http", "--runtime", runtime]);
            if h2 {
                cmd.arg("--http2-prior-knowledge");
            }
            let out = cmd.arg(&url).stdin(Stdio::null()).output().unwrap();
            if !out.status.success() || out.stdout != b"hello" {
                failures.push(format!(
                    "{runtime} h2={h2}: {:?} {:?} {}",
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
    }
    drop(server);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A port outside 0..=65535 (or not a number) is a bad URL. `http::Uri`
/// parses such a URL and reports no port, and every client took port 80
/// instead: `wirestate http http://127.0.0.1:99999/` failed with
/// 'Connection refused' from port 80, or worse, asked whatever served
/// port 80.
#[test]
fn a_url_with_an_invalid_port_is_refused_on_every_runtime() {
    let mut failures = Vec::new();
    for runtime in ["tokio", "smol", "blocking"] {
        let runs: [&[&str]; 5] = [
            &["http", "http://127.0.0.1:99999/"],
            &["http", "--http2-prior-knowledge", "http://127.0.0.1:65536/"],
            &["http", "http://127.0.0.1:8o8o/"],
            &["ws", "ws://127.0.0.1:99999/ws"],
            &["mcp", "http://127.0.0.1:99999/mcp", "info"],
        ];
        for args in runs {
            let out = Command::new(BIN)
                .args(&args[..1])
                .args(["--runtime", runtime])
                .args(&args[1..])
                .stdin(Stdio::null())
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            if out.status.code() != Some(1) || !stderr.contains("invalid port") {
                failures.push(format!("{runtime} {args:?}: {:?} {stderr}", out.status));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// `wirestate http` writes a body through a buffer (a chunked body of many
/// small chunks took one write(2) per line), but a chunk must still show
/// as soon as it arrives when the next one is not there yet: the server
/// below sends the second chunk only once the test has read the first
/// line from the command's stdout.
#[test]
fn a_streamed_body_shows_each_chunk_as_it_comes() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::mpsc;
    use std::time::Duration;
    for runtime in ["tokio", "smol", "blocking"] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (seen_tx, seen_rx) = mpsc::channel::<()>();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap() == 1 {
                head.push(byte[0]);
            }
            s.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\nfirst\n\r\n")
                .unwrap();
            // Waits (bounded) for the test to see the first line.
            let _ = seen_rx.recv_timeout(Duration::from_secs(10));
            s.write_all(b"6\r\nlater\n\r\n0\r\n\r\n").unwrap();
        });
        let mut child = Command::new(BIN)
            .args(["http", "--runtime", runtime, &format!("http://{addr}/")])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (line_tx, line_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let _ = line_tx.send(line.unwrap());
            }
        });
        let first = line_rx.recv_timeout(Duration::from_secs(5));
        seen_tx.send(()).unwrap();
        let later = line_rx.recv_timeout(Duration::from_secs(5));
        assert!(child.wait().unwrap().success(), "{runtime}");
        server.join().unwrap();
        assert_eq!(
            first.as_deref(),
            Ok("first"),
            "{runtime}: first chunk held back"
        );
        assert_eq!(later.as_deref(), Ok("later"), "{runtime}");
    }
}

/// `-H 'Content-Length: N'` as curl users write it: the command sets the
/// body's framing itself, so a Content-Length that matches the body is
/// taken as said, and one that does not (or a Transfer-Encoding) is a
/// usage error naming the header. Over HTTP/1.1 every such request failed
/// with 'framing headers are set from BodySize, not by hand'.
#[test]
fn a_content_length_header_given_by_hand() {
    let server = Serve::start(&["--threads", "1"]);
    let url = format!("http://{}/echo", server.addr);
    for runtime in ["tokio", "smol", "blocking"] {
        for h2 in [false, true] {
            let run = |header: &str| {
                let mut cmd = Command::new(BIN);
                cmd.args(["http", "--runtime", runtime, "-d", "hello", "-H", header]);
                if h2 {
                    cmd.arg("--http2-prior-knowledge");
                }
                cmd.arg(&url).stdin(Stdio::null()).output().unwrap()
            };
            let ok = run("Content-Length: 5");
            assert!(
                ok.status.success() && ok.stdout == b"hello",
                "{runtime} h2={h2}: {:?} {}",
                ok.status,
                String::from_utf8_lossy(&ok.stderr)
            );
            for bad in ["Content-Length: 4", "Transfer-Encoding: chunked"] {
                let out = run(bad);
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(
                    out.status.code() == Some(1) && stderr.contains(bad),
                    "{runtime} h2={h2} {bad:?}: {:?} {stderr}",
                    out.status
                );
            }
        }
    }
}
