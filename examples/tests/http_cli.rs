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
