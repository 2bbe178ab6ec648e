//! The one-object machines: handshake, then frames, client against server,
//! with and without permessage-deflate.

use proptest::prelude::*;
use std::time::Instant;
use wirestate_machine::{Machine, Transmit};
use wirestate_testkit::{Pair, SeededEntropy, assert_split_invariant};
use wirestate_ws::{
    ClientHandshake, ClientUpgrade, Config, DeflateConfig, Event, HandshakeError, Message,
    ServerHandshake, ServerUpgrade, UpgradeError, UpgradeEvent,
};

fn entropy(seed: u64) -> impl FnMut(&mut [u8]) + Send + 'static {
    let mut e = SeededEntropy::new(seed);
    move |buf: &mut [u8]| {
        for b in buf {
            *b = e.next_u64() as u8;
        }
    }
}

fn pair(deflate: bool, seed: u64, chunk: usize) -> Pair<ClientUpgrade, ServerUpgrade> {
    let now = Instant::now();
    let mut hs = ClientHandshake::new("ws://127.0.0.1:9001/chat?x=1".parse().unwrap())
        .protocols(["chat", "superchat"]);
    let mut server = ServerHandshake::new().protocols(["superchat"]);
    if deflate {
        hs = hs.deflate(DeflateConfig::default());
        server = server.deflate(DeflateConfig::default());
    }
    let client = ClientUpgrade::new(now, &hs, Config::default(), entropy(seed)).unwrap();
    let server = ServerUpgrade::new(now, server, Config::default());
    Pair::new(client, server, seed, chunk)
}

fn messages(events: impl Iterator<Item = UpgradeEvent>) -> (usize, Vec<Message>) {
    let mut opened = 0;
    let mut out = Vec::new();
    for ev in events {
        match ev {
            UpgradeEvent::Open { .. } => opened += 1,
            UpgradeEvent::Ws(Event::Message(m)) => out.push(m),
            _ => {}
        }
    }
    (opened, out)
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        ".{0,300}".prop_map(Message::from),
        proptest::collection::vec(any::<u8>(), 0..70_000).prop_map(Message::from),
        // Compressible.
        (0usize..100_000).prop_map(|n| Message::from("abc".repeat(n / 3))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn handshake_then_messages_both_ways(
        msgs in proptest::collection::vec(message(), 1..5),
        deflate in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut p = pair(deflate, seed, 1 + (seed % 5000) as usize);
        p.drive();
        let (opened, none) = messages(std::iter::from_fn(|| p.a.poll_event()));
        prop_assert_eq!((opened, none.len()), (1, 0));
        let ev: Vec<_> = std::iter::from_fn(|| p.b.poll_event()).collect();
        let negotiated = ev.iter().find_map(|e| match e {
            UpgradeEvent::Open { negotiated, request, .. } => Some((negotiated.clone(), request.uri.clone())),
            _ => None,
        });
        let (negotiated, uri) = negotiated.expect("server opened");
        prop_assert_eq!(uri.to_string(), "/chat?x=1");
        prop_assert_eq!(negotiated.subprotocol.as_deref(), Some("superchat"));
        prop_assert_eq!(negotiated.deflate.is_some(), deflate);
        for m in &msgs {
            p.a.connection().unwrap().send(m.clone()).unwrap();
            p.b.connection().unwrap().send(m.clone()).unwrap();
        }
        p.drive();
        let (_, at_server) = messages(std::iter::from_fn(|| p.b.poll_event()));
        let (_, at_client) = messages(std::iter::from_fn(|| p.a.poll_event()));
        prop_assert_eq!(&at_server, &msgs);
        prop_assert_eq!(&at_client, &msgs);
        // Close from the client: both ends finish.
        let now = p.now();
        p.a.connection().unwrap().close(now, 1000, "bye").unwrap();
        p.drive();
        prop_assert!(p.a.is_closed() && p.b.is_closed(), "{:?} {:?}", p.a, p.b);
    }
}

#[test]
fn compression_shrinks_the_wire() {
    let mut p = pair(true, 7, 64 * 1024);
    p.drive();
    while p.a.poll_event().is_some() {}
    while p.b.poll_event().is_some() {}
    let text = "the same sentence again and again. ".repeat(1000);
    p.b.connection()
        .unwrap()
        .send(Message::from(text.as_str()))
        .unwrap();
    let mut wire = 0;
    while let Some(Transmit::Bytes(b)) = p.b.poll_transmit() {
        wire += b.len();
        p.a.handle_input(p.now(), &b).unwrap();
    }
    assert!(wire < text.len() / 20, "{wire} bytes on the wire");
    assert_eq!(
        p.a.poll_event().map(|e| matches!(e, UpgradeEvent::Ws(Event::Message(Message::Text(t))) if t.as_str() == text)),
        Some(true)
    );
    // Opting out per message.
    p.b.connection()
        .unwrap()
        .send_with(Message::from(text.as_str()), false)
        .unwrap();
    let mut wire = 0;
    while let Some(Transmit::Bytes(b)) = p.b.poll_transmit() {
        wire += b.len();
    }
    assert!(wire > text.len());
}

const UPGRADE: &[u8] = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

#[test]
fn server_split_invariance_across_the_switch() {
    // The handshake and a masked "Hello" in the same input.
    let mut input = UPGRADE.to_vec();
    input.extend_from_slice(&[
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ]);
    let t = assert_split_invariant(
        &|| ServerUpgrade::new(Instant::now(), ServerHandshake::new(), Config::default()),
        Instant::now(),
        &input,
        &[5, 100, 150],
        false,
        &mut |_, _| {},
        &|evs| {
            evs.into_iter()
                .map(|e| match e {
                    UpgradeEvent::Open { negotiated, .. } => format!("open {negotiated:?}"),
                    UpgradeEvent::Ws(e) => format!("{e:?}"),
                })
                .collect::<Vec<_>>()
        },
    );
    assert_eq!(t.events.len(), 2);
    assert_eq!(
        t.events[1],
        format!("{:?}", Event::Message(Message::from("Hello")))
    );
    let out = String::from_utf8_lossy(&t.output);
    assert!(
        out.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{out}"
    );
}

/// A message and the peer's close in one read: the application's echo of
/// the message goes out before the close reply, as with a bare
/// `Connection`. ServerUpgrade drained the connection's events as soon as
/// input came, which ran the held-back close reply at once: the echo loop
/// example answered 'a', 'b' and a close sent together with the close
/// alone (`send` refused with Closing).
#[test]
fn server_replies_to_earlier_messages_before_the_close() {
    let mut input = UPGRADE.to_vec();
    // A masked "Hello", then a close 1000 (mask 0).
    input.extend_from_slice(&[
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ]);
    input.extend_from_slice(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]);
    let t = assert_split_invariant(
        &|| ServerUpgrade::new(Instant::now(), ServerHandshake::new(), Config::default()),
        Instant::now(),
        &input,
        &[5, 150, 160],
        false,
        &mut |m: &mut ServerUpgrade, e: &UpgradeEvent| {
            if let (UpgradeEvent::Ws(Event::Message(msg)), Some(ws)) = (e, m.connection()) {
                ws.send(msg.clone()).unwrap();
            }
        },
        &|evs| {
            evs.into_iter()
                .map(|e| match e {
                    UpgradeEvent::Open { .. } => "open".to_string(),
                    UpgradeEvent::Ws(e) => format!("{e:?}"),
                })
                .collect::<Vec<_>>()
        },
    );
    assert_eq!(t.events.len(), 3, "{:?}", t.events);
    let head_end = t.output.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(
        &t.output[head_end..],
        b"\x81\x05Hello\x88\x02\x03\xe8",
        "the echo, then the close reply"
    );
}

#[test]
fn server_refuses_a_bad_handshake_with_its_status() {
    let now = Instant::now();
    for (request, status) in [
        (&b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..], "400"),
        (
            &b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n"[..],
            "426",
        ),
    ] {
        let mut s = ServerUpgrade::new(now, ServerHandshake::new(), Config::default());
        let err = s.handle_input(now, request).unwrap_err();
        assert!(matches!(err, UpgradeError::Handshake(_)), "{err:?}");
        let mut out = Vec::new();
        let mut shutdown = false;
        while let Some(t) = s.poll_transmit() {
            match t {
                Transmit::Bytes(b) => out.extend_from_slice(&b),
                Transmit::Shutdown => shutdown = true,
            }
        }
        let out = String::from_utf8_lossy(&out);
        assert!(out.starts_with(&format!("HTTP/1.1 {status} ")), "{out}");
        assert!(shutdown);
    }
}

#[test]
fn client_refuses_a_wrong_accept_key() {
    let now = Instant::now();
    let hs = ClientHandshake::new("ws://example.com/".parse().unwrap());
    let mut c = ClientUpgrade::new(now, &hs, Config::default(), entropy(1)).unwrap();
    while c.poll_transmit().is_some() {}
    let err = c
        .handle_input(
            now,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            UpgradeError::Handshake(HandshakeError::AcceptKeyMismatch)
        ),
        "{err:?}"
    );
    assert!(c.connection().is_none());
    // A plain 200 is refused too.
    let mut c = ClientUpgrade::new(now, &hs, Config::default(), entropy(1)).unwrap();
    while c.poll_transmit().is_some() {}
    let err = c
        .handle_input(now, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        .unwrap_err();
    assert_eq!(err, UpgradeError::Handshake(HandshakeError::BadStatus(200)));
}
