//! The blocking WebSocket's close timeout holds while another thread is
//! blocked in `recv` — the pattern of the module's own example and of
//! `wirestate ws --runtime blocking`: one thread reads, another sends and
//! closes.
//!
//! Before, that reader had chosen its read timeout before the close timer
//! existed (none at all without keep-alive), so a peer that never answered
//! the close left it blocked for good: `echo hi | wirestate ws --runtime
//! blocking ws://silent-peer/` never exited, where tokio and smol gave up
//! after the close timeout (5 s) with "close handshake timed out".

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use wirestate_blocking::ws;

/// A peer that completes the opening handshake, then reads and ignores
/// everything (never answers a close, never closes) until the test ends.
fn silent_peer() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "the client hung up during the handshake");
            head.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&head);
        let key = text
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| value.trim().to_owned())
            })
            .unwrap();
        let accept = wirestate_ws::derive_accept_key(key.as_bytes());
        s.write_all(
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
        // Swallow the client's frames (its close too) until it hangs up.
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
    });
    addr
}

#[test]
fn close_times_out_while_another_thread_is_blocked_in_recv() {
    let addr = silent_peer();
    let mut config = ws::Config::default();
    config.connection.close_timeout = Duration::from_millis(300);
    let socket = ws::connect_with(&format!("ws://{addr}/"), config).unwrap();
    let reader = socket.clone();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut last = None;
        while let Some(item) = reader.recv() {
            last = Some(item.map(|_| ()).map_err(|e| e.to_string()));
        }
        let _ = tx.send(last);
    });
    // Let the reader block in its read first.
    std::thread::sleep(Duration::from_millis(100));
    socket.send("hello").unwrap();
    let started = Instant::now();
    socket.close(ws::close_code::NORMAL, "bye").unwrap();
    let last = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the reader returned once the close timeout passed");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "not before the close timeout: {:?}",
        started.elapsed()
    );
    match last {
        Some(Err(e)) => assert!(e.contains("close handshake timed out"), "{e}"),
        other => panic!("expected the close timeout as the reader's last item: {other:?}"),
    }
    assert!(!socket.is_open());
}
