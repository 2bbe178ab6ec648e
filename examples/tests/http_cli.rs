//! `wirestate http` against `wirestate serve` over IPv6 loopback, HTTP/1.1
//! and h2c with prior knowledge, on every runtime: a bracketed literal in
//! the URL (`http://[::1]:PORT/`) is an address, not a host name to look
//! up (the h2c path failed with 'cannot resolve [::1]'). Skipped where
//! `::1` cannot be bound.

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
