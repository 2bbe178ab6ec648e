//! The blocking server at its connection limit (one thread per
//! connection) closes connections idle between requests to make room, so
//! that idle keep-alive clients — or clients that connected and sent
//! nothing yet — cannot keep everyone else waiting.
//!
//! Before, with `max_connections` threads held by idle connections, a new
//! client waited in the listen backlog until their keep-alive timeout
//! (75 s) or header-read timeout (30 s): `wirestate serve --runtime
//! blocking --threads 2` with two idle keep-alive connections answered a
//! third client after 74.5 s, with two silent ones after 33 s.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

fn start(max_connections: usize) -> (SocketAddr, wirestate_blocking::ServerHandle) {
    let mut config = wirestate_blocking::ServerConfig::default();
    config.max_connections = max_connections;
    let server = wirestate_blocking::Server::bind("127.0.0.1:0", config).unwrap();
    let addr = server.local_addr().unwrap();
    let handle = server.handle();
    std::thread::spawn(move || {
        server.serve(|_req: http::Request<wirestate_blocking::BlockingBody>| {
            http::Response::new(wirestate_blocking::ResponseBody::from("ok"))
        })
    });
    (addr, handle)
}

fn get(s: &mut TcpStream, close: bool) -> String {
    let req = if close {
        "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    } else {
        "GET / HTTP/1.1\r\nHost: t\r\n\r\n"
    };
    s.write_all(req.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(b"ok") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

#[test]
fn idle_keep_alive_connections_make_room_at_the_limit() {
    let (addr, handle) = start(2);
    // Two clients take both threads and stay, idle, between requests.
    let mut idle: Vec<TcpStream> = (0..2).map(|_| connect(addr)).collect();
    for s in &mut idle {
        assert!(get(s, false).starts_with("HTTP/1.1 200"));
    }
    let started = Instant::now();
    let mut third = connect(addr);
    assert!(get(&mut third, true).starts_with("HTTP/1.1 200"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the third client waited {:?}",
        started.elapsed()
    );
    // The idle ones were closed cleanly (an end of stream, no reset).
    for s in &mut idle {
        let mut buf = [0u8; 64];
        assert_eq!(s.read(&mut buf).unwrap(), 0);
    }
    handle.shutdown();
}

#[test]
fn silent_connections_make_room_at_the_limit() {
    let (addr, handle) = start(2);
    let _silent: Vec<TcpStream> = (0..2).map(|_| connect(addr)).collect();
    // Both are accepted (and hold their threads) before the third comes.
    std::thread::sleep(Duration::from_millis(50));
    let started = Instant::now();
    let mut third = connect(addr);
    assert!(get(&mut third, true).starts_with("HTTP/1.1 200"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the third client waited {:?}",
        started.elapsed()
    );
    handle.shutdown();
}

/// Busy connections are not touched: a request being served holds its
/// thread, and the newcomer waits for it.
#[test]
fn busy_connections_are_not_evicted() {
    let mut config = wirestate_blocking::ServerConfig::default();
    config.max_connections = 1;
    let server = wirestate_blocking::Server::bind("127.0.0.1:0", config).unwrap();
    let addr = server.local_addr().unwrap();
    let handle = server.handle();
    std::thread::spawn(move || {
        server.serve(|_req: http::Request<wirestate_blocking::BlockingBody>| {
            std::thread::sleep(Duration::from_millis(600));
            http::Response::new(wirestate_blocking::ResponseBody::from("ok"))
        })
    });
    let mut busy = connect(addr);
    let first = std::thread::spawn(move || get(&mut busy, false));
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let mut second = connect(addr);
    assert!(get(&mut second, true).starts_with("HTTP/1.1 200"));
    // It waited for the busy one's answer (600 ms from its start).
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "served beside the busy connection after {:?}",
        started.elapsed()
    );
    assert!(first.join().unwrap().starts_with("HTTP/1.1 200"));
    handle.shutdown();
}
