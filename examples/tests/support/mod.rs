//! What the command-line tests share: `wirestate serve` as a child
//! process on a loopback port, ended by its PID.

// Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `wirestate` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_wirestate");

/// `wirestate serve ARGS --listen ADDR`, started once it accepts
/// connections, killed on drop.
pub struct Serve {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Serve {
    /// On a 127.0.0.1 port free a moment ago (the address is passed, not
    /// port 0, so that the tests know it whatever the server logs).
    pub fn start(args: &[&str]) -> Serve {
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        Serve::start_on(addr, args)
    }

    /// On `addr`.
    pub fn start_on(addr: SocketAddr, args: &[&str]) -> Serve {
        let child = Command::new(BIN)
            .arg("serve")
            .args(args)
            .arg("--listen")
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
                "wirestate serve {args:?} not up on {addr}"
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
