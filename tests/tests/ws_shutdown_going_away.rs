//! A graceful shutdown closes the WebSockets a server runs with 1001
//! (going away, RFC 6455 §7.4.1) and a close handshake, on every runtime.
//!
//! Before, the blocking server shut the socket both ways instead: its
//! clients saw the connection drop without a close frame (1006 in Python
//! `websockets`), where the tokio and smol servers send 1001 "server
//! shutting down".

mod support;

use std::sync::mpsc;
use std::time::Duration;
use support::*;
use wirestate_blocking::ws;
use wirestate_rt::http1::ServerConfig;

fn going_away_on<T: TestServer>() {
    let srv = T::start(ServerConfig::default());
    let socket = ws::connect(&format!("ws://{}/ws", srv.addr)).unwrap();
    // The echo works, so the server's side is running.
    socket.send("hi").unwrap();
    assert!(matches!(socket.recv(), Some(Ok(ws::Message::Text(t))) if t.as_str() == "hi"));
    let reader = socket.clone();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut last = None;
        while let Some(item) = reader.recv() {
            last = Some(item.map(|_| ()).map_err(|e| e.to_string()));
        }
        let _ = tx.send((last, reader.close_frame()));
    });
    srv.trigger();
    let (last, frame) = rx
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_else(|_| panic!("{}: the shutdown did not end the WebSocket", T::NAME));
    assert!(last.is_none(), "{}: a clean close, not {last:?}", T::NAME);
    let frame = frame.unwrap_or_else(|| panic!("{}: no close frame", T::NAME));
    assert_eq!(
        (frame.code, frame.reason.as_str()),
        (ws::close_code::GOING_AWAY, "server shutting down"),
        "{}",
        T::NAME
    );
    drop(socket);
    assert!(
        srv.wait_done(Duration::from_secs(5)),
        "{}: server ended",
        T::NAME
    );
}

#[test]
fn tokio_server_closes_websockets_with_1001_on_shutdown() {
    going_away_on::<Tokio>();
}

#[test]
fn smol_server_closes_websockets_with_1001_on_shutdown() {
    going_away_on::<Smol>();
}

#[test]
fn blocking_server_closes_websockets_with_1001_on_shutdown() {
    going_away_on::<Blocking>();
}
