//! Client and server machines wired together: requests, bodies through
//! flow control, concurrency, trailers, 1xx, GOAWAY, reset races, SETTINGS.

mod support;

use bytes::Bytes;
use std::time::{Duration, Instant};
use support::*;
use wirestate_h2::connection::{Config, Connection, Error, Event};
use wirestate_h2::frame::{ErrorCode, Frame, SettingId, Settings, StreamId};
use wirestate_machine::{ErrorKind, Machine};
use wirestate_testkit::Pair;

fn pair() -> (Connection, Connection) {
    (
        Connection::client(Config::default()),
        Connection::server(Config::default()),
    )
}

fn ignore(_: &mut Connection, _: Event) {}

/// A server app: answers every request with `body` once the request ended,
/// releasing what it received.
fn echo_server(c: &mut Connection, e: Event) {
    match e {
        Event::Request {
            stream,
            end_stream: true,
            ..
        } => {
            c.send_response(stream, status(200), false).unwrap();
            c.send_data(stream, Bytes::from_static(b"hello"), true)
                .unwrap();
        }
        Event::Data {
            stream,
            flow_len,
            end_stream,
            ..
        } => {
            c.release_capacity(stream, flow_len).unwrap();
            if end_stream {
                c.send_response(stream, status(200), true).unwrap();
            }
        }
        _ => {}
    }
}

#[test]
fn get_round_trip() {
    let (mut c, mut s) = pair();
    let now = Instant::now();
    let id = c
        .send_request(get("https://example.com/a?b=1"), true)
        .unwrap();
    assert_eq!(id.get(), 1);
    let mut seen = Vec::new();
    let mut body = Vec::new();
    pump(
        &mut c,
        &mut s,
        now,
        &mut |c, e| match e {
            Event::Response { head, .. } => seen.push(head.status.as_u16()),
            Event::Data {
                stream,
                data,
                flow_len,
                ..
            } => {
                body.extend_from_slice(&data);
                c.release_capacity(stream, flow_len).unwrap();
            }
            _ => {}
        },
        &mut |s, e| {
            if let Event::Request { ref head, .. } = e {
                assert_eq!(head.method, http::Method::GET);
                assert_eq!(head.uri.to_string(), "https://example.com/a?b=1");
                assert_eq!(head.version, http::Version::HTTP_2);
            }
            echo_server(s, e)
        },
    );
    assert_eq!(seen, [200]);
    assert_eq!(body, b"hello");
    assert_eq!(c.active_streams(), 0);
    assert_eq!(s.active_streams(), 0);
    assert!(c.error().is_none() && s.error().is_none());
}

/// RFC 9113 §8.3.1: a client must not send a Host that differs from
/// :authority. A Host set by the caller (`curl -H 'Host: ...'`) named the
/// authority it meant, but went out beside the URI's :authority, and
/// servers (ours too) reset the stream with PROTOCOL_ERROR.
#[test]
fn a_host_header_becomes_the_authority() {
    let (mut c, mut s) = pair();
    let now = Instant::now();
    let mut req = get("http://127.0.0.1:8080/a");
    req.headers
        .insert(http::header::HOST, "example.com".parse().unwrap());
    c.send_request(req, true).unwrap();
    let mut seen = Vec::new();
    pump(
        &mut c,
        &mut s,
        now,
        &mut |c, e| match e {
            Event::Response { head, .. } => seen.push(head.status.as_u16()),
            Event::Data {
                stream, flow_len, ..
            } => c.release_capacity(stream, flow_len).unwrap(),
            _ => {}
        },
        &mut |s, e| {
            if let Event::Request { ref head, .. } = e {
                assert_eq!(head.uri.to_string(), "http://example.com/a");
                assert!(
                    head.headers
                        .get(http::header::HOST)
                        .is_none_or(|h| h == "example.com")
                );
            }
            echo_server(s, e)
        },
    );
    assert_eq!(seen, [200]);
    assert!(c.error().is_none() && s.error().is_none());
}

#[test]
fn post_larger_than_windows_waits_for_release() {
    let mut cfg = Config::default();
    cfg.initial_stream_window = 65_535;
    cfg.connection_window = 65_535;
    let mut c = Connection::client(Config::default());
    let mut s = Connection::server(cfg);
    let now = Instant::now();
    let body: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
    let body = Bytes::from(body);
    let id = c
        .send_request(post("https://example.com/up"), false)
        .unwrap();
    let mut sent = 0;
    // The server holds data until the test releases it.
    let mut held: Vec<(StreamId, usize)> = Vec::new();
    let mut received = Vec::new();
    let mut done = false;
    for round in 0..1000 {
        if sent < body.len() {
            let n = c.send_data(id, body.slice(sent..), true).unwrap();
            sent += n;
        }
        pump(&mut c, &mut s, now, &mut ignore, &mut |_, e| {
            if let Event::Data {
                stream,
                data,
                flow_len,
                end_stream,
                ..
            } = e
            {
                received.extend_from_slice(&data);
                held.push((stream, flow_len));
                done |= end_stream;
            }
        });
        if done {
            break;
        }
        // Nothing was released: the windows are exhausted, the client is stuck.
        let unreleased: usize = held.iter().map(|h| h.1).sum();
        assert!(unreleased <= 65_535, "round {round}: {unreleased}");
        assert_eq!(c.send_capacity(id), 0, "round {round}");
        for (st, n) in held.drain(..) {
            s.release_capacity(st, n).unwrap();
        }
        // Only now does credit flow back.
        pump(&mut c, &mut s, now, &mut ignore, &mut ignore);
        assert!(c.send_capacity(id) > 0, "round {round}");
    }
    assert!(done);
    assert_eq!(received, &body[..]);
    for (st, n) in held.drain(..) {
        s.release_capacity(st, n).unwrap();
    }
    // Every byte released: nothing is held, and the window is back to its
    // target but for credit under the batching threshold (half the target).
    assert_eq!(s.unreleased(), 0);
    let w = s.connection_windows().1;
    assert!(w > 65_535 / 2 && w <= 65_535, "{w}");
}

#[test]
fn writable_after_window_update() {
    let mut cfg = Config::default();
    cfg.initial_stream_window = 20_000;
    let mut c = Connection::client(Config::default());
    let mut s = Connection::server(cfg);
    let now = Instant::now();
    let id = c
        .send_request(post("https://example.com/up"), false)
        .unwrap();
    pump(&mut c, &mut s, now, &mut ignore, &mut ignore);
    // The server's SETTINGS are in: 20,000 bytes of stream window.
    let n = c
        .send_data(id, Bytes::from(vec![7u8; 50_000]), false)
        .unwrap();
    assert_eq!(n, 20_000);
    let mut held = Vec::new();
    let mut writable = 0;
    pump(
        &mut c,
        &mut s,
        now,
        &mut |_, e| {
            if matches!(e, Event::Writable { .. }) {
                writable += 1;
            }
        },
        &mut |_, e| {
            if let Event::Data {
                stream, flow_len, ..
            } = e
            {
                held.push((stream, flow_len));
            }
        },
    );
    assert_eq!(writable, 0, "nothing released yet");
    assert_eq!(c.send_data(id, Bytes::from_static(b"x"), false).unwrap(), 0);
    for (st, n) in held {
        s.release_capacity(st, n).unwrap();
    }
    pump(
        &mut c,
        &mut s,
        now,
        &mut |_, e| {
            if matches!(e, Event::Writable { .. }) {
                writable += 1;
            }
        },
        &mut ignore,
    );
    assert_eq!(writable, 1);
    assert!(c.send_capacity(id) >= 10_000);
}

#[test]
fn many_concurrent_streams() {
    let (mut c, mut s) = pair();
    let now = Instant::now();
    // Let the SETTINGS cross first.
    pump(&mut c, &mut s, now, &mut ignore, &mut ignore);
    let ids: Vec<StreamId> = (0..100)
        .map(|i| {
            c.send_request(get(&format!("https://example.com/{i}")), true)
                .unwrap()
        })
        .collect();
    // The server's limit is 100.
    assert_eq!(
        c.send_request(get("https://example.com/x"), true)
            .unwrap_err(),
        Error::StreamLimit
    );
    let mut responses = 0;
    let mut available = 0;
    pump(
        &mut c,
        &mut s,
        now,
        &mut |c, e| match e {
            Event::Response { .. } => responses += 1,
            Event::Data {
                stream, flow_len, ..
            } => c.release_capacity(stream, flow_len).unwrap(),
            Event::StreamsAvailable => available += 1,
            _ => {}
        },
        &mut echo_server,
    );
    assert_eq!(responses, ids.len());
    assert_eq!(available, 1);
    assert_eq!(c.active_streams(), 0);
    assert!(c.send_request(get("https://example.com/x"), true).is_ok());
}

/// Before the server's first SETTINGS, a client opens at most
/// `INITIAL_MAX_SEND_STREAMS` streams (SETTINGS_MAX_CONCURRENT_STREAMS is
/// unlimited until then, but requests sent with the preface raced nginx's
/// 128 and past it were refused with the connection closed); the server's
/// SETTINGS then set the limit, or lift it when they do not name one.
#[test]
fn streams_before_the_first_settings_are_bounded() {
    use wirestate_h2::connection::INITIAL_MAX_SEND_STREAMS;
    let open_all = |c: &mut Connection, upto: usize| {
        let mut n = 0;
        while n < upto
            && c.send_request(get(&format!("https://example.com/{n}")), true)
                .is_ok()
        {
            n += 1;
        }
        n
    };
    let now = Instant::now();
    // A server allowing 150.
    let mut config = Config::default();
    config.max_concurrent_streams = 150;
    let mut c = Connection::client(Config::default());
    let mut s = Connection::server(config);
    let first = open_all(&mut c, 1000);
    assert_eq!(first, INITIAL_MAX_SEND_STREAMS as usize);
    assert!(!c.can_open_stream());
    let mut available = 0;
    pump(
        &mut c,
        &mut s,
        now,
        &mut |_, e| {
            if matches!(e, Event::StreamsAvailable) {
                available += 1;
            }
        },
        &mut ignore,
    );
    assert_eq!(available, 1);
    assert_eq!(first + open_all(&mut c, 1000), 150);
    // A server whose first SETTINGS name no limit: unlimited.
    let mut c = Connection::client(Config::default());
    assert_eq!(open_all(&mut c, 1000), INITIAL_MAX_SEND_STREAMS as usize);
    c.handle_input(now, &[0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap();
    assert_eq!(open_all(&mut c, 1000), 1000);
}

#[test]
fn trailers_both_ways() {
    let (mut c, mut s) = pair();
    let now = Instant::now();
    let id = c
        .send_request(post("https://example.com/rpc"), false)
        .unwrap();
    c.send_data(id, Bytes::from_static(b"req"), false).unwrap();
    let mut t = http::HeaderMap::new();
    t.insert("x-checksum", "abc".parse().unwrap());
    c.send_trailers(id, t).unwrap();
    let mut server_trailers = None;
    let mut client_trailers = None;
    pump(
        &mut c,
        &mut s,
        now,
        &mut |c, e| match e {
            Event::Trailers { trailers, .. } => client_trailers = Some(trailers),
            Event::Data {
                stream, flow_len, ..
            } => c.release_capacity(stream, flow_len).unwrap(),
            _ => {}
        },
        &mut |s, e| match e {
            Event::Data {
                stream, flow_len, ..
            } => s.release_capacity(stream, flow_len).unwrap(),
            Event::Trailers { stream, trailers } => {
                server_trailers = Some(trailers);
                s.send_response(stream, status(200), false).unwrap();
                s.send_data(stream, Bytes::from_static(b"ok"), false)
                    .unwrap();
                let mut t = http::HeaderMap::new();
                t.insert("grpc-status", "0".parse().unwrap());
                s.send_trailers(stream, t).unwrap();
            }
            _ => {}
        },
    );
    assert_eq!(server_trailers.unwrap()["x-checksum"], "abc");
    assert_eq!(client_trailers.unwrap()["grpc-status"], "0");
    assert_eq!(c.active_streams() + s.active_streams(), 0);
}

#[test]
fn informational_responses() {
    let (mut c, mut s) = pair();
    let now = Instant::now();
    let mut req = post("https://example.com/up");
    req.headers
        .insert("expect", "100-continue".parse().unwrap());
    c.send_request(req, false).unwrap();
    let mut got = Vec::new();
    pump(
        &mut c,
        &mut s,
        now,
        &mut |_, e| match e {
            Event::Informational { head, .. } => got.push(head.status.as_u16()),
            Event::Response {
                head, end_stream, ..
            } => {
                assert!(end_stream);
                got.push(head.status.as_u16())
            }
            _ => {}
        },
        &mut |s, e| {
            if let Event::Request { stream, .. } = e {
                s.send_informational(stream, status(100)).unwrap();
                s.send_informational(stream, status(103)).unwrap();
                assert!(s.send_informational(stream, status(101)).is_err());
                assert!(s.send_response(stream, status(100), false).is_err());
                s.send_response(stream, status(204), true).unwrap();
            }
        },
    );
    assert_eq!(got, [100, 103, 204]);
}

#[test]
fn goaway_mid_flight_refuses_streams_above_last() {
    let mut cfg = Config::default();
    cfg.two_step_shutdown = false;
    let mut c = Connection::client(Config::default());
    let mut s = Connection::server(cfg);
    let now = Instant::now();
    let a = c.send_request(get("https://example.com/a"), true).unwrap();
    let mut pending = Vec::new();
    pump(&mut c, &mut s, now, &mut ignore, &mut |_, e| {
        if let Event::Request { stream, .. } = e {
            pending.push(stream)
        }
    });
    assert_eq!(pending, [a]);
    // The server winds down; meanwhile the client sends another request.
    s.go_away(now).unwrap();
    let b = c.send_request(get("https://example.com/b"), true).unwrap();
    let mut r = Reader::new();
    let client_bytes: Vec<u8> = std::iter::from_fn(|| c.poll_transmit())
        .filter_map(|t| match t {
            wirestate_machine::Transmit::Bytes(b) => Some(b.to_vec()),
            _ => None,
        })
        .flatten()
        .collect();
    // The GOAWAY reaches the client first.
    let server_out = r.read(&mut s);
    let g = server_out.goaway().unwrap();
    assert_eq!((g.last_stream, g.code), (a, ErrorCode::NO_ERROR));
    let mut wire = bytes::BytesMut::new();
    for f in &server_out.frames {
        f.encode(&mut wire).unwrap();
    }
    c.handle_input(now, &wire).unwrap();
    let ev: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
    assert!(ev.iter().any(|e| matches!(e, Event::GoAway { .. })));
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::StreamRefused { stream } if *stream == b))
    );
    assert_eq!(
        c.send_request(get("https://example.com/c"), true)
            .unwrap_err(),
        Error::GoingAway
    );
    // The late request reaches the server: refused, not processed.
    s.handle_input(now, &client_bytes).unwrap();
    let out = r.read(&mut s);
    assert!(out.requests().is_empty());
    assert_eq!(out.resets(), [(b.get(), ErrorCode::REFUSED_STREAM)]);
    // The first request still completes, then both sides close.
    s.send_response(a, status(200), true).unwrap();
    let mut done = false;
    pump(
        &mut c,
        &mut s,
        now,
        &mut |_, e| {
            if matches!(e, Event::Response { .. }) {
                done = true;
            }
        },
        &mut ignore,
    );
    assert!(done);
    assert!(c.is_closed(), "{c:?}");
    assert!(s.is_closed(), "{s:?}");
}

#[test]
fn two_step_goaway_serves_requests_in_flight() {
    let (mut c, mut s) = pair();
    let now = Instant::now();
    pump(&mut c, &mut s, now, &mut ignore, &mut ignore);
    s.go_away(now).unwrap();
    // A request crosses the first GOAWAY (2^31 - 1): it is still served.
    let id = c
        .send_request(get("https://example.com/late"), true)
        .unwrap();
    let mut r = Reader::new();
    let first = r.read(&mut s);
    assert_eq!(first.goaway().unwrap().last_stream, StreamId::MAX);
    let mut bytes = Vec::new();
    while let Some(wirestate_machine::Transmit::Bytes(b)) = c.poll_transmit() {
        bytes.extend_from_slice(&b);
    }
    s.handle_input(now, &bytes).unwrap();
    let mut wire = bytes::BytesMut::new();
    for f in &first.frames {
        f.encode(&mut wire).unwrap();
    }
    c.handle_input(now, &wire).unwrap();
    let mut responses = 0;
    pump(
        &mut c,
        &mut s,
        now,
        &mut |c, e| match e {
            Event::Response { .. } => responses += 1,
            Event::Data {
                stream, flow_len, ..
            } => c.release_capacity(stream, flow_len).unwrap(),
            Event::StreamRefused { .. } => panic!("refused"),
            _ => {}
        },
        &mut echo_server,
    );
    assert_eq!(responses, 1);
    assert!(c.is_closed() && s.is_closed());
    let _ = id;
}

#[test]
fn reset_crossing_data_releases_credit() {
    let (mut c, mut s) = pair();
    let now = Instant::now();
    let id = c
        .send_request(get("https://example.com/big"), true)
        .unwrap();
    let mut server_stream = None;
    pump(&mut c, &mut s, now, &mut ignore, &mut |s, e| {
        if let Event::Request { stream, .. } = e {
            s.send_response(stream, status(200), false).unwrap();
            server_stream = Some(stream);
        }
    });
    let ss = server_stream.unwrap();
    // The server sends data while the client resets: they cross.
    assert_eq!(
        s.send_data(ss, Bytes::from(vec![1u8; 40_000]), false)
            .unwrap(),
        40_000
    );
    c.reset(id, ErrorCode::CANCEL).unwrap();
    let mut resets = Vec::new();
    let mut data_after_reset = 0;
    pump(
        &mut c,
        &mut s,
        now,
        &mut |_, e| {
            if matches!(e, Event::Data { .. }) {
                data_after_reset += 1;
            }
        },
        &mut |_, e| {
            if let Event::Reset { code, remote, .. } = e {
                resets.push((code, remote));
            }
        },
    );
    assert_eq!(data_after_reset, 0, "data for a reset stream is dropped");
    assert_eq!(resets, [(ErrorCode::CANCEL, true)]);
    assert!(s.send_data(ss, Bytes::from_static(b"x"), false).is_err());
    // The client's connection window did not leak.
    assert_eq!(c.unreleased(), 0);
    // The 40,000 bytes are owed to the peer, batched into the next
    // WINDOW_UPDATE: nothing is lost.
    assert_eq!(
        c.connection_windows().1 + 40_000,
        i64::from(Config::default().connection_window)
    );
    assert!(c.error().is_none() && s.error().is_none());
}

#[test]
fn resets_after_a_complete_response_are_no_flood() {
    // RFC 9113 §8.1: a server may answer before the request ended, then
    // reset the stream with NO_ERROR to stop the upload; grpc-go does so
    // for every call it ends while the client still sends. 300 such calls
    // inside one flood window are normal use, not a reset flood.
    let (mut c, mut s) = pair();
    let now = Instant::now();
    for i in 0..300 {
        c.send_request(post("https://example.com/rpc"), false)
            .unwrap();
        let mut resets = 0;
        pump(
            &mut c,
            &mut s,
            now,
            &mut |_, e| {
                if let Event::Reset { remote: true, .. } = e {
                    resets += 1;
                }
            },
            &mut |s, e| {
                if let Event::Request { stream, .. } = e {
                    s.send_response(stream, status(200), true).unwrap();
                    s.reset(stream, ErrorCode::NO_ERROR).unwrap();
                }
            },
        );
        assert_eq!(resets, 1, "request {i}");
        assert!(c.error().is_none(), "request {i}: {:?}", c.error());
    }
}

#[test]
fn a_server_refusing_our_streams_is_no_flood() {
    // A busy server refuses streams (REFUSED_STREAM, which our gRPC
    // channels retry at once) or cancels them before answering, as often
    // as we open them: each reset is of a stream we opened, so the count
    // is ours to pace. 300 of each inside one flood window do not end
    // the connection (the 201st did before).
    for code in [ErrorCode::REFUSED_STREAM, ErrorCode::CANCEL] {
        let mut c = Connection::client(Config::default());
        let now = Instant::now();
        let mut peer = Peer::server();
        peer.settings_ack();
        c.handle_input(now, &peer.take()).unwrap();
        let mut r = Reader::new();
        r.read(&mut c);
        for i in 0..300u32 {
            let id = c.send_request(get("https://example.com/"), true).unwrap();
            r.read(&mut c);
            peer.rst(id.get(), code);
            c.handle_input(now, &peer.take())
                .unwrap_or_else(|e| panic!("{code:?}, stream {i}: {e}"));
            let mut reset = false;
            while let Some(e) = c.poll_event() {
                reset |= matches!(e, Event::Reset { remote: true, .. });
            }
            assert!(reset, "{code:?}, stream {i}");
        }
        assert!(r.read(&mut c).goaway().is_none(), "{code:?}");
    }
}

#[test]
fn random_chunking_pair_with_testkit() {
    for seed in 0..8 {
        let mut p = Pair::new(
            Connection::client(Config::default()),
            Connection::server(Config::default()),
            seed,
            7,
        );
        let ids: Vec<StreamId> = (0..5)
            .map(|i| {
                p.a.send_request(post(&format!("https://example.com/{i}")), false)
                    .unwrap()
            })
            .collect();
        for id in &ids {
            p.a.send_data(*id, Bytes::from(vec![3u8; 1000]), true)
                .unwrap();
        }
        let mut responses = 0;
        for _ in 0..200 {
            p.drive();
            let mut any = false;
            while let Some(e) = p.b.poll_event() {
                any = true;
                echo_server(&mut p.b, e);
            }
            while let Some(e) = p.a.poll_event() {
                any = true;
                match e {
                    Event::Response { .. } => responses += 1,
                    Event::Data {
                        stream, flow_len, ..
                    } => p.a.release_capacity(stream, flow_len).unwrap(),
                    _ => {}
                }
            }
            if !any {
                break;
            }
        }
        assert_eq!(responses, 5, "seed {seed}");
        assert!(p.a_errors.is_empty() && p.b_errors.is_empty());
        assert_eq!(p.b.unreleased(), 0);
    }
}

#[test]
fn initial_window_change_can_make_windows_negative() {
    let mut c = Connection::client(Config::default());
    let now = Instant::now();
    let mut peer = Peer::server();
    c.handle_input(now, &peer.take()).unwrap();
    let id = c.send_request(post("https://example.com/"), false).unwrap();
    assert_eq!(
        c.send_data(id, Bytes::from(vec![0u8; 60_000]), false)
            .unwrap(),
        60_000
    );
    // The server lowers the initial window to 16,384: 16,384 - 60,000.
    peer.setting(SettingId::InitialWindowSize, 16_384);
    c.handle_input(now, &peer.take()).unwrap();
    assert_eq!(c.stream_windows(id).unwrap().0, 16_384 - 60_000);
    assert_eq!(c.send_data(id, Bytes::from_static(b"x"), false).unwrap(), 0);
    // A WINDOW_UPDATE that leaves it negative still allows nothing.
    peer.window_update(id.get(), 40_000);
    c.handle_input(now, &peer.take()).unwrap();
    assert_eq!(c.send_capacity(id), 0);
    peer.window_update(id.get(), 10_000)
        .window_update(0, 100_000);
    c.handle_input(now, &peer.take()).unwrap();
    assert_eq!(c.send_capacity(id), 16_384 + 50_000 - 60_000);
    let ev: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
    assert!(ev.iter().any(|e| matches!(e, Event::Writable { .. })));
}

#[test]
fn initial_window_overflow_is_flow_control_error() {
    let mut c = Connection::client(Config::default());
    let now = Instant::now();
    let mut peer = Peer::server();
    c.handle_input(now, &peer.take()).unwrap();
    let id = c.send_request(post("https://example.com/"), false).unwrap();
    peer.window_update(id.get(), 0x7FFF_FFFF - 65_535);
    c.handle_input(now, &peer.take()).unwrap();
    peer.setting(SettingId::InitialWindowSize, 65_536);
    let e = c.handle_input(now, &peer.take()).unwrap_err();
    assert_eq!(e.goaway_code(), Some(ErrorCode::FLOW_CONTROL_ERROR));
}

#[test]
fn max_frame_size_respected_on_send() {
    let now = Instant::now();
    for (setting, expect) in [(None, 16_384usize), (Some(20_000u32), 20_000)] {
        let mut c = Connection::client(Config::default());
        let mut peer = Peer::server();
        if let Some(v) = setting {
            peer.setting(SettingId::MaxFrameSize, v);
        }
        peer.window_update(0, 1_000_000);
        c.handle_input(now, &peer.take()).unwrap();
        let mut r = Reader::new();
        r.read(&mut c);
        let id = c.send_request(post("https://example.com/"), false).unwrap();
        let n = c
            .send_data(id, Bytes::from(vec![9u8; 65_535]), true)
            .unwrap();
        assert_eq!(n, 65_535);
        let out = r.read(&mut c);
        let sizes: Vec<usize> = out
            .frames
            .iter()
            .filter_map(|f| match f {
                Frame::Data(d) => Some(d.data.len()),
                _ => None,
            })
            .collect();
        assert_eq!(sizes.iter().sum::<usize>(), 65_535);
        assert!(sizes.iter().all(|&s| s <= expect));
        assert_eq!(sizes[0], expect);
        // A large head is split into CONTINUATIONs no larger either.
        let mut req = get("https://example.com/");
        for i in 0..40 {
            req.headers.insert(
                http::HeaderName::from_bytes(format!("x-h{i}").as_bytes()).unwrap(),
                http::HeaderValue::from_str(&"v".repeat(1000 + i)).unwrap(),
            );
        }
        c.send_request(req, true).unwrap();
        let out = r.read(&mut c);
        assert!(
            out.frames
                .iter()
                .any(|f| matches!(f, Frame::Continuation(_)))
        );
        assert!(out.frames.iter().all(|f| f.payload_len() <= expect));
    }
}

#[test]
fn settings_ack_applies_our_limits_and_events() {
    let mut cfg = Config::default();
    cfg.max_frame_size = 32_768;
    let (mut c, mut s) = (
        Connection::client(Config::default()),
        Connection::server(cfg),
    );
    let now = Instant::now();
    let mut ev_c = Vec::new();
    let mut ev_s = Vec::new();
    pump(
        &mut c,
        &mut s,
        now,
        &mut |_, e| ev_c.push(e),
        &mut |_, e| ev_s.push(e),
    );
    for ev in [&ev_c, &ev_s] {
        assert!(ev.iter().any(|e| matches!(e, Event::SettingsAcked)));
        assert!(ev.iter().any(|e| matches!(e, Event::RemoteSettings(_))));
    }
    // The SETTINGS timer is cleared by the ACK; the idle timer is left.
    assert_eq!(
        c.poll_timeout(),
        Config::default().idle_timeout.map(|d| now + d),
        "settings timer cleared by the ACK"
    );
    // Now the client may send 32 KiB frames.
    let id = c.send_request(post("https://example.com/"), false).unwrap();
    c.send_data(id, Bytes::from(vec![1u8; 40_000]), true)
        .unwrap();
    let mut max = 0;
    pump(&mut c, &mut s, now, &mut ignore, &mut |_, e| {
        if let Event::Data { data, .. } = e {
            max = max.max(data.len());
        }
    });
    assert_eq!(max, 32_768);
    assert!(s.error().is_none());
    // update_settings: the peer must ACK again.
    let mut st = Settings::new();
    st.set(SettingId::MaxConcurrentStreams, 10).unwrap();
    s.update_settings(now, st).unwrap();
    let mut acked = false;
    pump(&mut c, &mut s, now, &mut ignore, &mut |_, e| {
        acked |= matches!(e, Event::SettingsAcked)
    });
    assert!(acked);
}

#[test]
fn settings_timeout_sends_goaway() {
    let mut s = Connection::server(Config::default());
    let t0 = Instant::now();
    // A client that never acknowledges.
    s.handle_input(t0, &Peer::client().take()).unwrap();
    let due = s.poll_timeout().unwrap();
    assert_eq!(due, t0 + Duration::from_secs(10));
    s.handle_timeout(due);
    assert_eq!(s.poll_timeout(), None);
    let out = Reader::new().read(&mut s);
    assert_eq!(out.goaway_code(), Some(ErrorCode::SETTINGS_TIMEOUT));
    assert!(out.shutdown);
    assert!(matches!(
        out.events.last(),
        Some(Event::Error(Error::SettingsTimeout))
    ));
    assert!(s.is_closed());
}

#[test]
fn keepalive_ping_and_timeout() {
    let mut cfg = Config::default();
    cfg.keepalive_interval = Some(Duration::from_secs(30));
    cfg.keepalive_timeout = Duration::from_secs(5);
    let mut s = Connection::server(cfg);
    let t0 = Instant::now();
    let mut peer = Peer::client();
    peer.settings_ack();
    s.handle_input(t0, &peer.take()).unwrap();
    let mut r = Reader::new();
    r.read(&mut s);
    let t1 = s.poll_timeout().unwrap();
    assert_eq!(t1, t0 + Duration::from_secs(30));
    s.handle_timeout(t1);
    let out = r.read(&mut s);
    let Some(Frame::Ping(p)) = out.frames.first() else {
        panic!("{:?}", out.frames)
    };
    // Answered: the next ping is scheduled.
    peer.frame(Frame::Ping(wirestate_h2::frame::Ping {
        ack: true,
        payload: p.payload,
    }));
    s.handle_input(t1, &peer.take()).unwrap();
    assert_eq!(s.poll_timeout(), Some(t1 + Duration::from_secs(30)));
    let t2 = t1 + Duration::from_secs(30);
    s.handle_timeout(t2);
    r.read(&mut s);
    // Unanswered: closed.
    s.handle_timeout(t2 + Duration::from_secs(5));
    let out = r.read(&mut s);
    assert_eq!(out.goaway_code(), Some(ErrorCode::NO_ERROR));
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e, Event::Error(Error::KeepAliveTimeout)))
    );
    assert!(s.is_closed());
}

#[test]
fn ping_command_and_ack() {
    let (mut c, mut s) = pair();
    let now = Instant::now();
    c.ping(*b"12345678").unwrap();
    let mut acks = Vec::new();
    pump(
        &mut c,
        &mut s,
        now,
        &mut |_, e| {
            if let Event::PingAck { payload } = e {
                acks.push(payload)
            }
        },
        &mut ignore,
    );
    assert_eq!(acks, [*b"12345678"]);
}

#[test]
fn usage_errors_change_nothing() {
    let (mut c, mut s) = pair();
    let now = Instant::now();
    assert_eq!(
        s.send_request(get("https://e/"), true).unwrap_err(),
        Error::WrongRole
    );
    assert_eq!(
        c.send_response(StreamId::new(1).unwrap(), status(200), true)
            .unwrap_err(),
        Error::WrongRole
    );
    let mut req = get("https://e/");
    req.headers.insert("connection", "close".parse().unwrap());
    let e = c.send_request(req, true).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Usage);
    assert_eq!(e.hint(), None);
    let id = c.send_request(get("https://e/"), true).unwrap();
    assert!(matches!(
        c.send_data(id, Bytes::from_static(b"x"), false),
        Err(Error::InvalidState { .. })
    ));
    assert!(matches!(
        c.reset(StreamId::new(99).unwrap(), ErrorCode::CANCEL),
        Err(Error::UnknownStream(_))
    ));
    pump(&mut c, &mut s, now, &mut ignore, &mut echo_server);
    assert!(c.error().is_none() && s.error().is_none());
}

#[test]
fn client_validates_responses() {
    let now = Instant::now();
    let cases: &[(&[(&str, &str)], bool)] = &[
        (&[(":status", "200"), ("content-length", "5")], true),
        (&[(":status", "2000")], false),
        (&[(":status", "200"), (":path", "/")], false),
        (&[("x", "1"), (":status", "200")], false),
        (&[], false),
        (&[(":status", "101")], false),
    ];
    for (fields, es) in cases {
        let mut c = Connection::client(Config::default());
        let mut peer = Peer::server();
        c.handle_input(now, &peer.take()).unwrap();
        let id = c.send_request(get("https://e/"), true).unwrap();
        peer.headers(id.get(), fields, *es);
        c.handle_input(now, &peer.take()).unwrap();
        let out = Reader::new().read(&mut c);
        assert_eq!(out.resets(), [(1, ErrorCode::PROTOCOL_ERROR)], "{fields:?}");
        assert!(
            out.events
                .iter()
                .any(|e| matches!(e, Event::Reset { remote: false, .. }))
        );
        assert!(c.error().is_none());
    }
    // A HEAD response may announce a length without data.
    let mut c = Connection::client(Config::default());
    let mut peer = Peer::server();
    c.handle_input(now, &peer.take()).unwrap();
    let head = http::Request::head("https://e/")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let id = c.send_request(head, true).unwrap();
    peer.headers(
        id.get(),
        &[(":status", "200"), ("content-length", "100")],
        true,
    );
    c.handle_input(now, &peer.take()).unwrap();
    let out = Reader::new().read(&mut c);
    assert!(out.resets().is_empty());
}

/// A response section over our header list limit (head, 1xx or
/// trailers): the server processed the request, so no REFUSED_STREAM
/// (a refusal, safe to retry) but CANCEL; the connection goes on.
#[test]
fn oversized_response_sections_are_not_a_refusal() {
    let now = Instant::now();
    let big = "v".repeat(2000);
    let ok: &[(&str, &str)] = &[(":status", "200")];
    let big_head: &[(&str, &str)] = &[(":status", "200"), ("x-big", &big)];
    let big_1xx: &[(&str, &str)] = &[(":status", "103"), ("x-big", &big)];
    let big_trailers: &[(&str, &str)] = &[("x-big", &big)];
    // The blocks the server sends (the last one with END_STREAM when
    // `ends`), and how many final responses reach the application.
    type Case<'a> = (&'a str, Vec<&'a [(&'a str, &'a str)]>, bool, usize);
    let cases: Vec<Case> = vec![
        ("head", vec![big_head], true, 0),
        ("head with a body to come", vec![big_head], false, 0),
        ("1xx", vec![big_1xx], false, 0),
        ("trailers", vec![ok, big_trailers], true, 1),
    ];
    let count = |out: &Out, f: &dyn Fn(&Event) -> bool| out.events.iter().filter(|e| f(e)).count();
    for (name, blocks, ends, responses) in cases {
        let mut cfg = Config::default();
        cfg.max_header_list_size = 1000;
        let mut c = Connection::client(cfg);
        let mut peer = Peer::server();
        c.handle_input(now, &peer.take()).unwrap();
        let id = c.send_request(get("https://e/"), true).unwrap();
        for (i, b) in blocks.iter().enumerate() {
            peer.headers(id.get(), b, ends && i + 1 == blocks.len());
        }
        c.handle_input(now, &peer.take()).unwrap();
        let mut reader = Reader::new();
        let out = reader.read(&mut c);
        assert_eq!(out.resets(), [(id.get(), ErrorCode::CANCEL)], "{name}");
        let is_response = |e: &Event| matches!(e, Event::Response { .. });
        assert_eq!(count(&out, &is_response), responses, "{name}");
        let is_trailers = |e: &Event| matches!(e, Event::Trailers { .. });
        assert_eq!(count(&out, &is_trailers), 0, "{name}");
        let is_local_cancel = |e: &Event| {
            matches!(
                e,
                Event::Reset {
                    code: ErrorCode::CANCEL,
                    remote: false,
                    ..
                }
            )
        };
        assert_eq!(count(&out, &is_local_cancel), 1, "{name}");
        assert!(c.error().is_none(), "{name}");
        // The table stayed in sync: the next request on the connection is
        // answered.
        let next = c.send_request(get("https://e/"), true).unwrap();
        peer.headers(next.get(), ok, true);
        c.handle_input(now, &peer.take()).unwrap();
        let out = reader.read(&mut c);
        assert!(out.resets().is_empty(), "{name}");
        assert_eq!(count(&out, &is_response), 1, "{name}");
    }
}

#[test]
fn eof_with_streams_active_is_an_error() {
    let (mut c, mut s) = pair();
    let now = Instant::now();
    c.send_request(get("https://e/"), false).unwrap();
    pump(&mut c, &mut s, now, &mut ignore, &mut ignore);
    assert_eq!(c.handle_eof(now).unwrap_err(), Error::UnexpectedEof);
    // An idle connection may just end.
    let (mut c, mut s) = pair();
    pump(&mut c, &mut s, now, &mut ignore, &mut ignore);
    assert!(s.handle_eof(now).is_ok());
    assert!(s.is_closed() || s.poll_transmit().is_some());
}

/// A client talking to an HTTP/1.1 server: its `HTTP/1.1 400 ...`
/// answer to the preface is named as such, not as a giant frame, at
/// once or a byte at a time; other bytes that cannot start a SETTINGS
/// frame are named too.
#[test]
fn client_names_an_http1_answer() {
    let answer = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
    for chunk in [answer.len(), 1] {
        let mut c = Connection::client(Config::default());
        let now = Instant::now();
        c.send_request(get("http://e/"), true).unwrap();
        let mut err = None;
        for piece in answer.chunks(chunk) {
            if let Err(e) = c.handle_input(now, piece) {
                err = Some(e);
                break;
            }
        }
        let err = err.expect("an error");
        assert_eq!(err.kind(), ErrorKind::Protocol);
        assert!(err.to_string().contains("HTTP/1.x"), "{err}");
    }
    // Python's http.server answers the preface with a bare HTML page.
    let mut c = Connection::client(Config::default());
    let err = c
        .handle_input(Instant::now(), b"<!DOCTYPE HTML>\n<html>")
        .unwrap_err();
    assert!(
        err.to_string().contains("not an HTTP/2 SETTINGS frame"),
        "{err}"
    );
}

#[test]
fn keepalive_only_with_streams_when_not_while_idle() {
    let mut cfg = Config::default();
    cfg.keepalive_interval = Some(Duration::from_secs(10));
    cfg.keepalive_while_idle = false;
    // No peer acknowledges our SETTINGS here.
    cfg.settings_timeout = Duration::from_secs(1000);
    let mut c = Connection::client(cfg);
    let t0 = Instant::now();
    c.start(t0);
    let mut r = Reader::new();
    r.read(&mut c);
    let pings = |out: &support::Out| {
        out.frames
            .iter()
            .filter(|f| matches!(f, Frame::Ping(p) if !p.ack))
            .count()
    };
    // Idle: the timer fires, no PING, and it looks again later.
    let t1 = c.poll_timeout().unwrap();
    assert_eq!(t1, t0 + Duration::from_secs(10));
    c.handle_timeout(t1);
    assert_eq!(pings(&r.read(&mut c)), 0);
    let t2 = c.poll_timeout().unwrap();
    assert_eq!(t2, t1 + Duration::from_secs(10));
    // A call in flight: the next firing pings.
    c.send_request(get("https://e/"), true).unwrap();
    r.read(&mut c);
    c.handle_timeout(t2);
    assert_eq!(pings(&r.read(&mut c)), 1);
}
