//! The connection machine: split invariance, round trips, every refusal
//! with its close code, the close handshake and the timers.

use bytes::Bytes;
use proptest::prelude::*;
use std::time::{Duration, Instant};
use wirestate_machine::{ClassifyError, ErrorKind, Machine, Transmit};
use wirestate_testkit::{Pair, SeededEntropy, VirtualClock, assert_split_invariant, cuts, feed};
use wirestate_ws::{
    CloseFrame, Config, Connection, Error, Event, FrameError, FrameHeader, Message, MessageKind,
    OpCode, apply_mask,
};

/// Encodes one frame as a peer would: masked (a client's) or not.
fn frame(opcode: OpCode, fin: bool, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut head = FrameHeader::new(opcode, payload.len() as u64);
    head.fin = fin;
    head.mask = mask;
    let mut out = Vec::new();
    head.encode(&mut out);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
    out
}

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn client_frame(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
    frame(opcode, fin, payload, Some(KEY))
}

fn entropy(seed: u64) -> impl FnMut(&mut [u8]) + Send + 'static {
    let mut e = SeededEntropy::new(seed);
    move |buf: &mut [u8]| {
        for b in buf {
            *b = e.next_u64() as u8;
        }
    }
}

/// Merges adjacent fragments of one message so chunking does not matter.
fn merge(events: Vec<Event>) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    for ev in events {
        if let (
            Some(Event::Fragment {
                kind: k0,
                data: d0,
                fin: false,
            }),
            Event::Fragment { kind, data, fin },
        ) = (out.last_mut(), &ev)
        {
            if *k0 == *kind {
                let mut joined = d0.to_vec();
                joined.extend_from_slice(data);
                *d0 = Bytes::from(joined);
                let fin = *fin;
                if fin {
                    let last = out.pop();
                    if let Some(Event::Fragment { kind, data, .. }) = last {
                        out.push(Event::Fragment {
                            kind,
                            data,
                            fin: true,
                        });
                    }
                }
                continue;
            }
        }
        out.push(ev);
    }
    out
}

fn no_react(_: &mut Connection, _: &Event) {}

fn server() -> Connection {
    Connection::server(Config::default())
}

fn streaming_server() -> Connection {
    let mut config = Config::default();
    config.streaming = true;
    Connection::server(config)
}

/// Lengths around every length-encoding boundary.
fn payload_len() -> impl Strategy<Value = usize> {
    prop_oneof![
        0usize..4,
        120usize..131,
        65530usize..65540,
        Just(70_000usize),
        0usize..2000,
    ]
}

/// A message as the test sends it: kind, payload, and where to fragment.
#[derive(Debug, Clone)]
struct Sent {
    kind: MessageKind,
    payload: Vec<u8>,
    cuts: Vec<usize>,
    ping_between: bool,
}

fn sent() -> impl Strategy<Value = Sent> {
    (
        any::<bool>(),
        payload_len(),
        any::<u64>(),
        proptest::collection::vec(any::<usize>(), 0..4),
        any::<bool>(),
    )
        .prop_map(|(text, len, seed, raw_cuts, ping_between)| {
            let mut rng = SeededEntropy::new(seed);
            let payload: Vec<u8> = if text {
                // Multi-byte characters, so fragment cuts land inside them.
                let chars = ['a', 'é', '€', '𝄞'];
                let mut s = String::new();
                while s.len() < len {
                    s.push(chars[rng.below(4) as usize]);
                }
                s.into_bytes()
            } else {
                (0..len).map(|_| rng.next_u64() as u8).collect()
            };
            let mut cuts: Vec<usize> = raw_cuts
                .into_iter()
                .filter(|_| !payload.is_empty())
                .map(|c| c % payload.len())
                .collect();
            cuts.sort_unstable();
            cuts.dedup();
            Sent {
                kind: if text {
                    MessageKind::Text
                } else {
                    MessageKind::Binary
                },
                payload,
                cuts,
                ping_between,
            }
        })
}

/// The wire bytes of `msgs` from a client, fragments masked with varying keys.
fn encode_all(msgs: &[Sent]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut key = 1u32;
    for m in msgs {
        let mut bounds = vec![0];
        bounds.extend(m.cuts.iter().copied().filter(|&c| c > 0));
        bounds.push(m.payload.len());
        bounds.dedup();
        if bounds.len() == 1 {
            bounds.push(0);
        }
        let pieces = bounds.len() - 1;
        for i in 0..pieces {
            let opcode = match (i, m.kind) {
                (0, MessageKind::Text) => OpCode::Text,
                (0, MessageKind::Binary) => OpCode::Binary,
                _ => OpCode::Continuation,
            };
            key = key.wrapping_mul(2_654_435_761).wrapping_add(7);
            let piece = &m.payload[bounds[i]..bounds[i + 1]];
            out.extend(frame(
                opcode,
                i + 1 == pieces,
                piece,
                Some(key.to_be_bytes()),
            ));
            if m.ping_between && i + 1 < pieces {
                out.extend(client_frame(OpCode::Ping, true, b"hb"));
            }
        }
    }
    out
}

fn expected_messages(msgs: &[Sent]) -> Vec<Message> {
    msgs.iter()
        .map(|m| match m.kind {
            MessageKind::Text => Message::from(String::from_utf8(m.payload.clone()).unwrap()),
            MessageKind::Binary => Message::Binary(Bytes::from(m.payload.clone())),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whole, byte by byte (for small inputs) and random splits give the
    /// same messages, pongs and output.
    #[test]
    fn split_invariance(msgs in proptest::collection::vec(sent(), 1..4), seed in any::<u64>()) {
        let input = encode_all(&msgs);
        let mut rng = SeededEntropy::new(seed);
        let mut cut_points: Vec<usize> = (0..16).map(|_| 1 + rng.below(input.len().max(2) as u64 - 1) as usize).collect();
        cut_points.sort_unstable();
        cut_points.dedup();
        let now = Instant::now();
        let whole = feed(server(), now, &input, &[], false, &mut no_react, &|e| e);
        let split = feed(server(), now, &input, &cut_points, false, &mut no_react, &|e| e);
        prop_assert_eq!(&whole.events, &split.events);
        prop_assert_eq!(&whole.output, &split.output);
        prop_assert!(whole.error.is_none(), "{:?}", whole.error);
        let got: Vec<Message> = whole.events.iter().filter_map(|e| match e {
            Event::Message(m) => Some(m.clone()),
            _ => None,
        }).collect();
        prop_assert_eq!(got, expected_messages(&msgs));
        // Streaming mode: the same data, in pieces that merge back.
        let streamed = feed(streaming_server(), now, &input, &cut_points, false, &mut no_react, &merge);
        let whole_streamed = feed(streaming_server(), now, &input, &[], false, &mut no_react, &merge);
        prop_assert_eq!(&streamed.events, &whole_streamed.events);
        // Pings may sit between the pieces of one message.
        let mut got = Vec::new();
        let mut acc = Vec::new();
        for e in &streamed.events {
            if let Event::Fragment { kind, data, fin } = e {
                acc.extend_from_slice(data);
                if *fin {
                    let data = std::mem::take(&mut acc);
                    got.push(match kind {
                        MessageKind::Text => Message::from(String::from_utf8(data).unwrap()),
                        MessageKind::Binary => Message::from(data),
                    });
                }
            }
        }
        prop_assert_eq!(got, expected_messages(&msgs));
    }

    /// Text fragments in streaming mode are valid UTF-8 on their own.
    #[test]
    fn streamed_text_is_whole_characters(msg in sent(), c in cuts(64)) {
        let input = encode_all(std::slice::from_ref(&msg));
        let c: Vec<usize> = c.into_iter().filter(|&x| x < input.len()).collect();
        let t = feed(streaming_server(), Instant::now(), &input, &c, false, &mut no_react, &|e| e);
        for ev in &t.events {
            if let Event::Fragment { kind: MessageKind::Text, data, .. } = ev {
                prop_assert!(std::str::from_utf8(data).is_ok());
            }
        }
    }

    /// What a client sends, a server receives, and back, over a pipe that
    /// re-chunks at random.
    #[test]
    fn round_trip(msgs in proptest::collection::vec(sent(), 1..6), seed in any::<u64>()) {
        let client = Connection::client(Config::default(), entropy(seed));
        let mut pair = Pair::new(client, server(), seed, 1 + (seed % 3000) as usize);
        let expected = expected_messages(&msgs);
        for m in &expected {
            pair.a.send(m.clone()).unwrap();
            pair.b.send(m.clone()).unwrap();
        }
        pair.drive();
        let mut at_server = Vec::new();
        while let Some(Event::Message(m)) = pair.b.poll_event() {
            at_server.push(m);
        }
        let mut at_client = Vec::new();
        while let Some(Event::Message(m)) = pair.a.poll_event() {
            at_client.push(m);
        }
        prop_assert_eq!(&at_server, &expected);
        prop_assert_eq!(&at_client, &expected);
    }
}

/// Feeds `input` whole and byte by byte; asserts the refusal, its close
/// code on the wire, the half-close and no message delivered after it.
fn assert_refused(make: &dyn Fn() -> Connection, input: &[u8], error: Error) {
    let t = assert_split_invariant(
        make,
        Instant::now(),
        input,
        &[],
        false,
        &mut no_react,
        &|e| e,
    );
    let (got, _) = t.error.clone().expect("an error");
    assert_eq!(got, error);
    let code = error.close_code().expect("a close code");
    // The output is one close frame carrying the code (unmasked here if a
    // client sent it), then the half-close.
    let (head, n) = FrameHeader::parse(&t.output, 125).unwrap().unwrap();
    let mut payload = t.output[n..].to_vec();
    if let Some(key) = head.mask {
        apply_mask(&mut payload, key, 0);
    }
    assert_eq!(head.opcode, OpCode::Close);
    assert_eq!(payload.len() as u64, head.len);
    assert_eq!(payload[..2], code.to_be_bytes());
    assert_eq!(t.shutdown_at, Some(t.output.len()));
    assert_ne!(error.kind(), ErrorKind::Usage);
    assert_eq!(error.hint(), Some(code));
}

#[test]
fn refusals_with_their_close_codes() {
    let s = &server;
    let c = &|| Connection::client(Config::default(), entropy(1));
    assert_refused(
        s,
        &frame(OpCode::Text, true, b"hi", None),
        Error::UnmaskedFrame,
    );
    assert_refused(
        c,
        &client_frame(OpCode::Text, true, b"hi"),
        Error::MaskedFrame,
    );
    let mut rsv = client_frame(OpCode::Text, true, b"hi");
    rsv[0] |= 0x40;
    assert_refused(s, &rsv, Error::ReservedBits);
    let mut rsv = client_frame(OpCode::Text, true, b"hi");
    rsv[0] |= 0x10;
    assert_refused(s, &rsv, Error::ReservedBits);
    assert_refused(
        s,
        &client_frame(OpCode::Continuation, true, b"x"),
        Error::UnexpectedContinuation,
    );
    let mut two = client_frame(OpCode::Text, false, b"a");
    two.extend(client_frame(OpCode::Binary, true, b"b"));
    assert_refused(s, &two, Error::ExpectedContinuation);
    assert_refused(
        s,
        &client_frame(OpCode::Ping, false, b""),
        Error::Frame(FrameError::FragmentedControlFrame),
    );
    assert_refused(
        s,
        &[0x83, 0x80, 0, 0, 0, 0],
        Error::Frame(FrameError::ReservedOpCode(3)),
    );
    assert_refused(
        s,
        &client_frame(OpCode::Ping, true, &[0; 126]),
        Error::Frame(FrameError::ControlFrameTooLong),
    );
    // Invalid UTF-8, fail-fast: the second fragment is never needed.
    let mut bad = client_frame(
        OpCode::Text,
        false,
        b"ok \xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80",
    );
    bad.extend(client_frame(OpCode::Continuation, true, b"tail"));
    assert_refused(s, &bad, Error::InvalidUtf8);
    // A truncated character at the end of the message.
    assert_refused(
        s,
        &client_frame(OpCode::Text, true, b"ab\xe2\x82"),
        Error::InvalidUtf8,
    );
    assert_refused(
        s,
        &client_frame(OpCode::Close, true, &[3]),
        Error::InvalidClosePayload,
    );
    for code in [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        assert_refused(
            s,
            &client_frame(OpCode::Close, true, &code.to_be_bytes()),
            Error::InvalidCloseCode(code),
        );
    }
    assert_refused(
        s,
        &client_frame(OpCode::Close, true, b"\x03\xe8\xff"),
        Error::InvalidUtf8,
    );
    let small = || {
        let mut config = Config::default();
        config.max_frame_size = 100;
        config.max_message_size = 150;
        Connection::server(config)
    };
    // The frame limit applies as soon as the length is read.
    assert_refused(
        &small,
        &[0x82, 0xfe, 0x01, 0x00],
        Error::Frame(FrameError::FrameTooLarge { len: 256, max: 100 }),
    );
    let mut many = client_frame(OpCode::Binary, false, &[1; 100]);
    many.extend(client_frame(OpCode::Continuation, true, &[1; 51]));
    assert_refused(&small, &many, Error::MessageTooLarge { max: 150 });
}

#[test]
fn valid_close_codes_are_echoed() {
    for code in [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 3000, 3999, 4000, 4999,
    ] {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice("bye ☺".as_bytes());
        let t = feed(
            server(),
            Instant::now(),
            &client_frame(OpCode::Close, true, &payload),
            &[],
            false,
            &mut no_react,
            &|e| e,
        );
        assert_eq!(
            t.events,
            vec![Event::Close(Some(CloseFrame::new(code, "bye ☺")))]
        );
        let mut echo = vec![0x88, 2];
        echo.extend_from_slice(&code.to_be_bytes());
        assert_eq!(t.output, echo);
        // The server closes TCP first, then waits for the client's EOF.
        assert_eq!(t.shutdown_at, Some(4));
        assert!(!t.closed);
    }
    let t = feed(
        server(),
        Instant::now(),
        &client_frame(OpCode::Close, true, b""),
        &[],
        true,
        &mut no_react,
        &|e| e,
    );
    assert_eq!(t.events, vec![Event::Close(None)]);
    assert_eq!(t.output, [0x88, 0]);
    assert!(t.closed);
}

#[test]
fn pings_are_answered_between_fragments() {
    let mut input = client_frame(OpCode::Text, false, b"hel");
    input.extend(client_frame(OpCode::Ping, true, b"p1"));
    input.extend(client_frame(OpCode::Continuation, true, b"lo"));
    input.extend(client_frame(OpCode::Pong, true, b"x"));
    let t = assert_split_invariant(
        &server,
        Instant::now(),
        &input,
        &[],
        false,
        &mut no_react,
        &|e| e,
    );
    assert_eq!(
        t.events,
        vec![
            Event::Ping(Bytes::from_static(b"p1")),
            Event::Message(Message::from("hello")),
            Event::Pong(Bytes::from_static(b"x")),
        ]
    );
    assert_eq!(t.output, b"\x8a\x02p1");
}

#[test]
fn client_initiated_close_handshake() {
    let mut clock = VirtualClock::new();
    let mut c = Connection::client(Config::default(), entropy(3));
    c.close(clock.now(), 1000, "done").unwrap();
    assert_eq!(c.send_text("late"), Err(Error::Closing));
    let Some(Transmit::Bytes(out)) = c.poll_transmit() else {
        panic!("no close frame")
    };
    // Masked close frame: unmask and check.
    let (head, n) = FrameHeader::parse(&out, 125).unwrap().unwrap();
    let mut payload = out[n..].to_vec();
    apply_mask(&mut payload, head.mask.unwrap(), 0);
    assert_eq!(
        (head.opcode, &payload[..]),
        (OpCode::Close, &b"\x03\xe8done"[..])
    );
    // The server's echo completes the handshake; the client waits for the
    // server to close TCP, then half-closes.
    c.handle_input(clock.now(), &frame(OpCode::Close, true, b"\x03\xe8", None))
        .unwrap();
    assert_eq!(
        c.poll_event(),
        Some(Event::Close(Some(CloseFrame::new(1000, ""))))
    );
    assert_eq!(c.poll_transmit(), None);
    assert!(!c.is_closed());
    c.handle_eof(clock.now()).unwrap();
    assert_eq!(c.poll_transmit(), Some(Transmit::Shutdown));
    assert!(c.is_closed());
    // Without the server's EOF, the close timeout ends it.
    let mut c = Connection::client(Config::default(), entropy(3));
    c.close(clock.now(), 1001, "").unwrap();
    while c.poll_transmit().is_some() {}
    let at = c.poll_timeout().unwrap();
    assert_eq!(at, clock.now() + Duration::from_secs(5));
    c.handle_timeout(clock.advance_to(at));
    assert_eq!(c.poll_event(), Some(Event::Error(Error::CloseTimeout)));
    assert_eq!(c.poll_transmit(), Some(Transmit::Shutdown));
    assert!(c.is_closed());
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn keepalive_pings_and_gives_up() {
    let mut clock = VirtualClock::new();
    let mut config = Config::default();
    config.keepalive_interval = Some(Duration::from_secs(10));
    config.pong_timeout = Duration::from_secs(3);
    let mut s = Connection::server(config);
    s.start(clock.now());
    assert_eq!(
        s.poll_timeout(),
        Some(clock.now() + Duration::from_secs(10))
    );
    // Input pushes the ping back.
    clock.advance(Duration::from_secs(6));
    s.handle_input(clock.now(), &client_frame(OpCode::Binary, true, b"x"))
        .unwrap();
    assert_eq!(
        s.poll_timeout(),
        Some(clock.now() + Duration::from_secs(10))
    );
    let at = s.poll_timeout().unwrap();
    s.handle_timeout(clock.advance_to(at));
    assert_eq!(
        s.poll_transmit(),
        Some(Transmit::Bytes(Bytes::from_static(b"\x89\x00")))
    );
    // A pong clears the deadline.
    s.handle_input(clock.now(), &client_frame(OpCode::Pong, true, b""))
        .unwrap();
    assert_eq!(
        s.poll_timeout(),
        Some(clock.now() + Duration::from_secs(10))
    );
    // Silence after the next ping: close 1001 and shut down.
    let at = s.poll_timeout().unwrap();
    s.handle_timeout(clock.advance_to(at));
    let _ping = s.poll_transmit();
    let at = s.poll_timeout().unwrap();
    assert_eq!(at, clock.now() + Duration::from_secs(3));
    s.handle_timeout(clock.advance_to(at));
    let ev: Vec<Event> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(
        ev.contains(&Event::Error(Error::KeepAliveTimeout)),
        "{ev:?}"
    );
    let Some(Transmit::Bytes(close)) = s.poll_transmit() else {
        panic!("no close")
    };
    assert_eq!((close[0], &close[2..4]), (0x88, &b"\x03\xe9"[..]));
    assert_eq!(s.poll_transmit(), Some(Transmit::Shutdown));
    assert!(s.is_closed());
}

#[test]
fn eof_without_close_is_abnormal() {
    let mut s = server();
    s.handle_input(Instant::now(), &client_frame(OpCode::Text, false, b"par"))
        .unwrap();
    assert_eq!(s.handle_eof(Instant::now()), Err(Error::AbnormalClosure));
    assert_eq!(s.poll_transmit(), Some(Transmit::Shutdown));
    assert!(s.is_closed());
}

#[test]
fn usage_errors_change_nothing() {
    let mut s = server();
    assert_eq!(
        s.ping(Bytes::from(vec![0; 126])),
        Err(Error::ControlTooLong)
    );
    assert_eq!(
        s.close(Instant::now(), 1005, ""),
        Err(Error::InvalidCloseCode(1005))
    );
    s.send_fragment(MessageKind::Text, Bytes::from_static(b"a"), false)
        .unwrap();
    assert_eq!(s.send_text("x"), Err(Error::MessageInProgress));
    assert_eq!(
        s.send_fragment(MessageKind::Binary, Bytes::new(), true),
        Err(Error::MessageInProgress)
    );
    s.send_fragment(MessageKind::Text, Bytes::from_static(b"b"), true)
        .unwrap();
    assert!(s.is_open());
    let Some(Transmit::Bytes(out)) = s.poll_transmit() else {
        panic!()
    };
    assert_eq!(&out[..], b"\x01\x01a\x80\x01b");
}

/// A message and, in the same read, a bad frame or a close (Autobahn 3.2,
/// 5.15, 7.1.x): the application's echo of the message goes out before the
/// close frame, however the input was cut.
#[test]
fn replies_to_earlier_messages_go_out_before_the_close() {
    let mut echo = |c: &mut Connection, e: &Event| {
        if let Event::Message(m) = e {
            c.send(m.clone()).unwrap();
        }
    };
    let mut bad = client_frame(OpCode::Text, true, b"x");
    bad[0] |= 0x20;
    let close = client_frame(OpCode::Close, true, b"\x03\xe8");
    for (tail, events_tail, code) in [
        (bad, Event::Error(Error::ReservedBits), 1002u16),
        (close, Event::Close(Some(CloseFrame::new(1000, ""))), 1000),
    ] {
        let mut input = client_frame(OpCode::Text, true, b"first");
        input.extend(tail);
        let t = assert_split_invariant(
            &server,
            Instant::now(),
            &input,
            &[3, 12],
            false,
            &mut echo,
            &|e| e,
        );
        assert_eq!(
            t.events,
            vec![Event::Message(Message::from("first")), events_tail]
        );
        assert_eq!(&t.output[..7], b"\x81\x05first");
        assert_eq!(t.output[7], 0x88);
        assert_eq!(t.output[9..11], code.to_be_bytes());
    }
}

/// After our own close there is nothing to hold back: the peer's close
/// completes the handshake even while earlier messages are still unread.
#[test]
fn close_after_ours_completes_with_unread_messages() {
    let now = Instant::now();
    let mut c = Connection::client(Config::default(), entropy(9));
    c.close(now, 1000, "").unwrap();
    while c.poll_transmit().is_some() {}
    let mut input = frame(OpCode::Text, true, b"late", None);
    input.extend(frame(OpCode::Close, true, b"\x03\xe8", None));
    c.handle_input(now, &input).unwrap();
    c.handle_eof(now).unwrap();
    assert_eq!(c.poll_transmit(), Some(Transmit::Shutdown));
    assert!(c.is_closed());
    assert_eq!(c.poll_event(), Some(Event::Message(Message::from("late"))));
    assert_eq!(
        c.poll_event(),
        Some(Event::Close(Some(CloseFrame::new(1000, ""))))
    );
}
