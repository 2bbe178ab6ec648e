//! Ctrl-C of `wirestate serve` ends the process promptly on every
//! runtime: at once with nothing in flight (exit 0), after
//! `--shutdown-timeout` when a client keeps a response open (an endless
//! `/stream` it does not read; exit 130), and at once on a second Ctrl-C.
//! An open MCP event stream does not hold the shutdown up either.
//! SIGINT is sent with kill(1) to the server's PID only. Also: `--listen`
//! takes a host name, and `--grpc-web-cors` only an origin.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const RUNTIMES: [&str; 3] = ["tokio", "smol", "blocking"];

mod support;
use support::{BIN, Serve};

impl Serve {
    fn with_timeout(runtime: &str, shutdown_timeout: &str) -> Serve {
        Serve::start(&[
            "--runtime",
            runtime,
            "--threads",
            "2",
            "--shutdown-timeout",
            shutdown_timeout,
        ])
    }

    fn sigint(&self) {
        let ok = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -INT failed");
    }

    /// The exit status, or `None` if still running after `limit`.
    fn wait_for_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if started.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A connection with an endless response it never reads, once the
    /// server has started sending it.
    fn stalled_stream(&self) -> TcpStream {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.write_all(b"GET /stream?n=10000000 HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut first = [0u8; 64];
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        assert!(s.read(&mut first).unwrap() > 0, "no response started");
        s
    }
}

#[test]
fn ctrl_c_with_nothing_in_flight_exits_at_once_with_success() {
    for rt in RUNTIMES {
        let mut serve = Serve::with_timeout(rt, "10");
        // An idle keep-alive connection does not hold the shutdown up.
        let mut idle = TcpStream::connect(serve.addr).unwrap();
        idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 256];
        assert!(idle.read(&mut buf).unwrap() > 0);
        serve.sigint();
        let status = serve.wait_for_exit(Duration::from_secs(5));
        assert!(
            status.is_some_and(|s| s.success()),
            "{rt}: {status:?} 5 s after Ctrl-C"
        );
    }
}

#[test]
fn ctrl_c_with_a_stalled_stream_exits_after_the_shutdown_timeout() {
    for rt in RUNTIMES {
        let mut serve = Serve::with_timeout(rt, "1");
        let _stalled = serve.stalled_stream();
        let started = Instant::now();
        serve.sigint();
        let status = serve.wait_for_exit(Duration::from_secs(8));
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(130),
            "{rt}: {status:?} 8 s after Ctrl-C with a 1 s shutdown timeout"
        );
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "{rt}: exited before the shutdown timeout"
        );
    }
}

#[test]
fn ctrl_c_ends_open_mcp_event_streams() {
    // An MCP client's open SSE stream (here the 2024-11-05 transport's
    // GET /sse, which never ends by itself) must not hold the graceful
    // shutdown up to its timeout.
    for rt in RUNTIMES {
        let mut serve = Serve::with_timeout(rt, "30");
        let mut s = TcpStream::connect(serve.addr).unwrap();
        s.write_all(b"GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
            .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 512];
        while !String::from_utf8_lossy(&head).contains("event: endpoint") {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "{rt}: stream closed before its endpoint event");
            head.extend_from_slice(&buf[..n]);
        }
        serve.sigint();
        let status = serve.wait_for_exit(Duration::from_secs(5));
        assert!(
            status.is_some_and(|s| s.success()),
            "{rt}: {status:?} 5 s after Ctrl-C with an MCP event stream open"
        );
    }
}

#[test]
fn a_second_ctrl_c_exits_at_once() {
    for rt in RUNTIMES {
        let mut serve = Serve::with_timeout(rt, "60");
        let _stalled = serve.stalled_stream();
        serve.sigint();
        // The graceful shutdown waits for the stalled response...
        assert_eq!(
            serve.wait_for_exit(Duration::from_millis(500)),
            None,
            "{rt}: exited without waiting for the response in flight"
        );
        // ...until the second Ctrl-C.
        serve.sigint();
        let status = serve.wait_for_exit(Duration::from_secs(5));
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(130),
            "{rt}: {status:?} 5 s after the second Ctrl-C"
        );
    }
}

#[test]
fn listen_takes_a_host_name() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(BIN)
        .args(["serve", "--threads", "1", "--listen"])
        .arg(format!("localhost:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("wirestate serve");
    let started = Instant::now();
    // `localhost` is 127.0.0.1 or ::1, whichever the resolver gives first.
    let up = loop {
        let v4 = TcpStream::connect(("127.0.0.1", port)).is_ok();
        if v4 || TcpStream::connect(("::1", port)).is_ok() {
            break true;
        }
        if started.elapsed() > Duration::from_secs(10) || child.try_wait().unwrap().is_some() {
            break false;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(up, "not listening on localhost:{port}");
}

/// `--grpc-web-cors` takes `*` or an origin, `scheme://host[:port]`. A
/// value with a path or without a scheme can never equal a browser's
/// `Origin` header, and the server used to start with it anyway, so every
/// preflight failed without a word; now it is a usage error (exit 2).
#[test]
fn grpc_web_cors_refuses_what_is_not_an_origin() {
    for bad in ["http://a.example/app", "a.example", "not an origin", ""] {
        let mut child = Command::new(BIN)
            .args(["serve", "--threads", "1", "--listen", "127.0.0.1:0"])
            .args(["--grpc-web-cors", bad])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("wirestate serve");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if started.elapsed() > Duration::from_secs(10) {
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let _ = child.kill();
        let _ = child.wait();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(2),
            "--grpc-web-cors {bad:?}: {stderr}"
        );
        assert!(stderr.contains("origin"), "{bad:?}: {stderr}");
    }
}
