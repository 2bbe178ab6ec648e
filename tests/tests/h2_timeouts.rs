//! HTTP/2 servers on each runtime (tokio, smol, blocking) reap connections
//! that hold a slot without making progress: idle after the handshake, a
//! header block left open, half a frame, the preface without SETTINGS.
//! Short timeouts (200 ms) are configured; a raw std socket plays the
//! client, as QA's h2slow2.py did (before, each stayed open for good).

mod support;

use bytes::{Bytes, BytesMut};
use std::io::{Read, Write};
use std::time::{Duration, Instant};
use support::*;
use wirestate_h2::frame::{
    ErrorCode, Frame, FrameDecoder, GoAway, Headers, PREFACE, Settings, SettingsFrame, StreamId,
};
use wirestate_h2::hpack::{Encoder, Field};
use wirestate_rt::Runtime;
use wirestate_rt::http1::ServerConfig;

const LIMIT: Duration = Duration::from_millis(200);

fn config() -> ServerConfig {
    let mut c = ServerConfig::default();
    c.h2.idle_timeout = Some(LIMIT);
    c.h2.header_block_timeout = Some(LIMIT);
    c
}

fn encode(f: Frame) -> Vec<u8> {
    let mut b = BytesMut::new();
    f.encode(&mut b).unwrap();
    b.to_vec()
}

/// The preface, an empty SETTINGS and the ACK of the server's.
fn handshake() -> Vec<u8> {
    let mut v = PREFACE.to_vec();
    v.extend(encode(Frame::Settings(SettingsFrame::new(Settings::new()))));
    let mut ack = SettingsFrame::new(Settings::new());
    ack.ack = true;
    v.extend(encode(Frame::Settings(ack)));
    v
}

/// HEADERS of a request on stream 1.
fn request(method: &str, end_headers: bool, end_stream: bool) -> Vec<u8> {
    let fields: Vec<Field> = [
        (":method", method),
        (":scheme", "http"),
        (":authority", "t"),
        (":path", "/echo"),
    ]
    .iter()
    .map(|(n, v)| Field::new(n.as_bytes().to_vec(), v.as_bytes().to_vec()))
    .collect();
    let mut block = BytesMut::new();
    Encoder::new().encode(&fields, &mut block);
    let mut h = Headers::new(StreamId::new(1).unwrap(), block.freeze(), end_stream);
    h.end_headers = end_headers;
    encode(Frame::Headers(h))
}

/// Sends `first`, then reads until the server closes: the GOAWAY it sent
/// (if any) and how long it took; `None` if still open after `wait`.
fn until_closed(
    addr: std::net::SocketAddr,
    first: &[u8],
    wait: Duration,
) -> Option<(Option<GoAway>, Duration)> {
    let mut s = connect(addr);
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    s.write_all(first).unwrap();
    let started = Instant::now();
    let mut got = BytesMut::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < wait {
        match s.read(&mut buf) {
            Ok(0) | Err(_) if started.elapsed() >= wait => break,
            Ok(0) => {
                let mut dec = FrameDecoder::new();
                let mut goaway = None;
                while let Ok(Some(f)) = dec.decode(&mut got) {
                    if let Frame::GoAway(g) = f {
                        goaway = Some(g);
                    }
                }
                return Some((goaway, started.elapsed()));
            }
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some((None, started.elapsed()));
            }
            Err(e) => panic!("read: {e}"),
        }
    }
    None
}

fn reaped<T: TestServer>() {
    let srv = T::start(config());
    let cases: [(&str, Vec<u8>, ErrorCode, &[u8]); 5] = [
        ("idle", handshake(), ErrorCode::NO_ERROR, b"idle"),
        (
            "open header block",
            [handshake(), request("GET", false, true)].concat(),
            ErrorCode::ENHANCE_YOUR_CALM,
            b"header block incomplete for too long",
        ),
        (
            "partial frame",
            [handshake(), b"\x00\x00\x10\x01".to_vec()].concat(),
            ErrorCode::ENHANCE_YOUR_CALM,
            b"frame incomplete for too long",
        ),
        (
            "preface without SETTINGS",
            PREFACE.to_vec(),
            ErrorCode::ENHANCE_YOUR_CALM,
            b"connection preface incomplete for too long",
        ),
        (
            "half the SETTINGS",
            [
                PREFACE,
                &encode(Frame::Settings(SettingsFrame::new(Settings::new())))[..5],
            ]
            .concat(),
            ErrorCode::ENHANCE_YOUR_CALM,
            b"connection preface incomplete for too long",
        ),
    ];
    for (name, first, code, debug) in cases {
        let Some((goaway, took)) = until_closed(srv.addr, &first, Duration::from_secs(5)) else {
            panic!("{}: {name}: still open after 5 s", T::NAME);
        };
        let g = goaway.unwrap_or_else(|| panic!("{}: {name}: closed without GOAWAY", T::NAME));
        assert_eq!(g.code, code, "{}: {name}", T::NAME);
        assert_eq!(g.debug, Bytes::from_static(debug), "{}: {name}", T::NAME);
        assert!(
            took >= LIMIT / 2,
            "{}: {name}: closed after {took:?}",
            T::NAME
        );
    }
    // A stream waiting for its body is not cut by either timer.
    let first = [handshake(), request("POST", true, false)].concat();
    assert!(
        until_closed(srv.addr, &first, LIMIT * 4).is_none(),
        "{}: an open stream was cut",
        T::NAME
    );
    assert!(srv.stop());
}

/// Our client on runtime `T` closes its own idle connection: the handle
/// reports closed, and a request on it fails as not sent (retryable),
/// while the server (with its default 75 s) still had it open.
fn client_closes_when_idle<T: TestRuntime>() {
    let srv = T::start(ServerConfig::default());
    let addr = srv.addr;
    T::block_on(async move {
        let rt = T::rt();
        let io = rt.connect(addr).await.unwrap();
        let mut config = wirestate_h2::connection::Config::default();
        config.idle_timeout = Some(LIMIT);
        let (send, driver) = wirestate_rt::h2::handshake(rt.clone(), io, config);
        rt.spawn(Box::pin(async move {
            let _ = driver.await;
        }));
        let get = || {
            http::Request::get(format!("http://{addr}/"))
                .body(wirestate_rt::Body::empty())
                .unwrap()
        };
        let res = send.send(get()).await.unwrap();
        assert_eq!(res.status(), 200, "{}", T::NAME);
        drop(res);
        assert!(!send.is_closed());
        let started = Instant::now();
        while !send.is_closed() && started.elapsed() < Duration::from_secs(5) {
            wirestate_rt::sleep_until(&rt, rt.now() + Duration::from_millis(20)).await;
        }
        assert!(send.is_closed(), "{}: idle client connection kept", T::NAME);
        assert!(started.elapsed() >= LIMIT / 2, "{}", T::NAME);
        let err = send.send(get()).await.unwrap_err();
        assert!(
            matches!(err, wirestate_rt::Error::Aborted { sent: false }),
            "{}: {err:?}",
            T::NAME
        );
    });
    assert!(srv.stop());
}

#[test]
fn tokio_client_closes_when_idle() {
    client_closes_when_idle::<Tokio>();
}

#[test]
fn smol_client_closes_when_idle() {
    client_closes_when_idle::<Smol>();
}

#[test]
fn blocking_client_closes_when_idle() {
    use wirestate_blocking::RequestBody;
    let srv = Blocking::start(ServerConfig::default());
    let addr = srv.addr;
    let mut config = wirestate_blocking::h2::ClientConfig::default();
    config.h2.idle_timeout = Some(LIMIT);
    let send = wirestate_blocking::h2::connect_with(addr, config).unwrap();
    let get = || {
        http::Request::get(format!("http://{addr}/"))
            .body(RequestBody::empty())
            .unwrap()
    };
    let res = send.send(get()).unwrap();
    assert_eq!(res.status(), 200);
    drop(res.into_body().collect(1 << 10).unwrap());
    let started = Instant::now();
    while !send.is_closed() && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(send.is_closed(), "blocking: idle client connection kept");
    assert!(started.elapsed() >= LIMIT / 2);
    let err = send.send(get()).unwrap_err();
    assert!(
        matches!(err, wirestate_blocking::Error::Aborted { sent: false }),
        "blocking: {err:?}"
    );
    assert!(srv.stop());
}

#[test]
fn tokio_server_reaps_stalled_connections() {
    reaped::<Tokio>();
}

#[test]
fn smol_server_reaps_stalled_connections() {
    reaped::<Smol>();
}

#[test]
fn blocking_server_reaps_stalled_connections() {
    reaped::<Blocking>();
}
