//! The HTTP/2 connection machine ([`Connection`]) as a server
//! ([`h2_server`]) or a client ([`h2_client`]), driven by an op list and
//! run twice to check split invariance. Clients open one request
//! (stream 1, GET, END_STREAM) before the ops run.
//!
//! # Input layout
//!
//! Like the other connection targets:
//!
//! ```text
//! [ops_len: u16 LE] [program: ops_len bytes] [wire: the rest]
//! ```
//!
//! The program is decoded with `arbitrary`: an [`H2Setup`] (a few
//! configuration choices and how the second run cuts its input) and then
//! [`H2Op`]s. `Feed` ops take the next bytes of the wire (the peer's
//! bytes: a client preface and frames for the server, frames for the
//! client); what is left after the last op is fed at the end. A seed of two
//! zero bytes and a wire feeds that wire to a default machine.
//!
//! # What is checked
//!
//! Every input runs twice, each `Feed` whole and then cut as the setup
//! says; both runs give the same events, the same result for every op and
//! the same output. Within a run: input errors are never usage errors,
//! carry a GOAWAY code when they are protocol errors, and are sticky;
//! `poll_timeout` is later than `now` after `handle_timeout`; nothing is
//! transmitted after `Transmit::Shutdown`; the output parses as the client
//! preface (clients) and well-formed frames no larger than the advertised
//! maximum frame size; DATA we send never exceeds what the peer's windows
//! allowed; held receive credit never exceeds what was delivered and not
//! released; events stay proportional to input and commands.

use super::ops::{MAX_OPS, Split, split_input};
use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use std::time::{Duration, Instant};
use wirestate_h2::connection::{Config, Connection, Event};
use wirestate_h2::frame::{ErrorCode, Frame, FrameDecoder, PREFACE, SettingId, Settings, StreamId};
use wirestate_machine::{ErrorKind, Machine, Transmit};

/// The configuration as the input chooses it (all zero: the defaults).
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct H2Setup {
    /// Bit 0: small windows (stream 16 KiB, connection 64 KiB); bit 1:
    /// keep-alive every second; bit 2: one-step shutdown; bit 3: at most
    /// two concurrent streams; bit 4: tight flood budgets.
    pub flags: u8,
    /// How the second run cuts each `Feed`.
    pub split: Split,
}

/// One step of a run.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum H2Op {
    /// Feed the next `n % 2048 + 1` bytes of the wire.
    Feed(u16),
    /// Move time by `n * 10` ms and fire due timers.
    Time(u16),
    /// Clients: a request (`end_stream`).
    Request(bool),
    /// Servers: a response on a picked stream, status `200 + n % 300`,
    /// END_STREAM.
    Respond(u8, u16, bool),
    /// Servers: a 1xx.
    Informational(u8),
    /// Body data on a picked stream: `n % 40000` bytes, END_STREAM.
    Data(u8, u16, bool),
    /// Trailers.
    Trailers(u8),
    /// RST_STREAM on a picked stream with code `n % 14`.
    Reset(u8, u8),
    /// Release some held credit (a picked delivery, up to `n` bytes).
    Release(u8, u16),
    /// Release everything held.
    ReleaseAll,
    /// A PING.
    Ping(u8),
    /// Graceful shutdown.
    GoAway,
    /// New SETTINGS: initial window `4 * n`, max concurrent streams.
    Settings(u16, u8),
    /// The transport ended.
    Eof,
}

/// The servers' HTTP/2 connection target.
pub fn h2_server(data: &[u8]) {
    run_both(data, false);
}

/// The clients' HTTP/2 connection target.
pub fn h2_client(data: &[u8]) {
    run_both(data, true);
}

fn run_both(data: &[u8], client: bool) {
    let (prog, wire) = split_input(data);
    let mut u = Unstructured::new(prog);
    let Ok(setup) = H2Setup::arbitrary(&mut u) else {
        return;
    };
    let mut ops = Vec::new();
    while !u.is_empty() && ops.len() < MAX_OPS {
        match H2Op::arbitrary(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    let whole = run(client, &setup, &ops, wire, false);
    let split = run(client, &setup, &ops, wire, true);
    assert_eq!(
        whole.log, split.log,
        "split run differs in events or results"
    );
    assert_eq!(whole.output, split.output, "split run differs in output");
}

fn config(setup: &H2Setup) -> Config {
    let mut c = Config::default();
    if setup.flags & 1 != 0 {
        c.initial_stream_window = 16 << 10;
        c.connection_window = 64 << 10;
    }
    if setup.flags & 2 != 0 {
        c.keepalive_interval = Some(Duration::from_secs(1));
        c.keepalive_timeout = Duration::from_secs(1);
    }
    if setup.flags & 4 != 0 {
        c.two_step_shutdown = false;
    }
    if setup.flags & 8 != 0 {
        c.max_concurrent_streams = 2;
    }
    if setup.flags & 16 != 0 {
        c.flood.max_remote_resets = 3;
        c.flood.max_local_resets = 3;
        c.flood.max_pings = 3;
        c.flood.max_settings = 3;
        c.flood.max_empty_data = 3;
        c.flood.max_window_updates = 10;
        c.flood.max_pending_control = 5;
    }
    c
}

struct Run {
    log: Vec<String>,
    output: Vec<u8>,
}

/// Checks on everything a connection writes.
struct OutputCheck {
    buf: BytesMut,
    dec: FrameDecoder,
    preface: bool,
    shutdown: bool,
    total: usize,
}

impl OutputCheck {
    fn take(&mut self, c: &mut Connection, output: &mut Vec<u8>) {
        while let Some(t) = c.poll_transmit() {
            match t {
                Transmit::Bytes(b) => {
                    assert!(!self.shutdown, "bytes after Shutdown");
                    assert!(!b.is_empty(), "empty transmit");
                    self.total += b.len();
                    output.extend_from_slice(&b);
                    self.buf.extend_from_slice(&b);
                }
                Transmit::Shutdown => self.shutdown = true,
            }
        }
        if self.preface {
            if self.buf.len() < PREFACE.len() {
                return;
            }
            assert_eq!(&self.buf[..PREFACE.len()], PREFACE, "client preface");
            let _ = self.buf.split_to(PREFACE.len());
            self.preface = false;
        }
        loop {
            match self.dec.decode(&mut self.buf) {
                Ok(Some(f)) => {
                    assert!(
                        f.payload_len() <= 16_384,
                        "frame over the default max frame size"
                    );
                    if let Frame::WindowUpdate(w) = f {
                        assert!(w.increment > 0);
                    }
                }
                Ok(None) => break,
                Err(e) => panic!("the connection wrote an invalid frame: {e}"),
            }
        }
    }
}

fn run(client: bool, setup: &H2Setup, ops: &[H2Op], wire: &[u8], split: bool) -> Run {
    let cfg = config(setup);
    let mut c = if client {
        Connection::client(cfg)
    } else {
        Connection::server(cfg)
    };
    let mut now = Instant::now();
    let t0 = now;
    c.start(now);
    let mut check = OutputCheck {
        buf: BytesMut::new(),
        dec: FrameDecoder::new(),
        preface: client,
        shutdown: false,
        total: 0,
    };
    let mut log = Vec::new();
    let mut output = Vec::new();
    let mut streams: Vec<StreamId> = Vec::new();
    let mut held: Vec<(StreamId, usize)> = Vec::new();
    let mut sticky: Option<wirestate_h2::connection::Error> = None;
    let mut rest = wire;
    let mut fed = 0usize;
    let mut commands = 0usize;
    let feed = |c: &mut Connection,
                bytes: &[u8],
                now: Instant,
                log: &mut Vec<String>,
                sticky: &mut Option<wirestate_h2::connection::Error>| {
        let pieces = if split {
            setup.split.pieces(bytes)
        } else {
            vec![bytes]
        };
        let mut res = Ok(());
        for p in pieces {
            res = c.handle_input(now, p);
            if res.is_err() {
                break;
            }
        }
        if let Err(e) = &res {
            assert_ne!(
                e.kind(),
                ErrorKind::Usage,
                "input error is a usage error: {e}"
            );
            if e.kind() == ErrorKind::Protocol
                && !matches!(e, wirestate_h2::connection::Error::UnexpectedEof)
            {
                assert!(
                    e.goaway_code().is_some(),
                    "protocol error without GOAWAY: {e}"
                );
            }
            if let Some(s) = sticky {
                assert_eq!(s, e, "error not sticky");
            }
            *sticky = Some(e.clone());
            assert_eq!(c.handle_input(now, b"x").as_ref().err(), Some(e));
        }
        log.push(format!("feed {:?}", res.map_err(|e| e.to_string())));
    };
    if client {
        // Clients start with one request, so a wire alone can answer it.
        let head = http::Request::get("https://example.com/")
            .body(())
            .map(|r| r.into_parts().0);
        if let Ok(h) = head {
            let r = c.send_request(h, true);
            if let Ok(s) = r {
                streams.push(s);
            }
            log.push(format!("first request {:?}", r.map_err(|e| e.to_string())));
        }
    }
    let all_ops = ops
        .iter()
        .copied()
        .chain(std::iter::once(H2Op::Feed(u16::MAX)));
    for (i, op) in all_ops.enumerate() {
        let last = i == ops.len();
        match op {
            H2Op::Feed(n) => {
                let n = if last {
                    rest.len()
                } else {
                    (usize::from(n) % 2048 + 1).min(rest.len())
                };
                if n > 0 {
                    let (now_bytes, tail) = rest.split_at(n);
                    rest = tail;
                    fed += n;
                    feed(&mut c, now_bytes, now, &mut log, &mut sticky);
                }
            }
            H2Op::Time(ms) => {
                now += Duration::from_millis(u64::from(ms) * 10);
                c.handle_timeout(now);
                assert!(c.poll_timeout().is_none_or(|t| t > now), "timer still due");
            }
            H2Op::Eof => {
                let r = c.handle_eof(now);
                log.push(format!("eof {:?}", r.map_err(|e| e.to_string())));
            }
            cmd => {
                commands += 1;
                let pick = |p: u8| -> Option<StreamId> {
                    (!streams.is_empty()).then(|| streams[usize::from(p) % streams.len()])
                };
                let r: Result<String, String> = match cmd {
                    H2Op::Request(es) => {
                        let head = http::Request::post("https://example.com/f")
                            .body(())
                            .map(|r| r.into_parts().0)
                            .map_err(|e| e.to_string());
                        match head {
                            Ok(h) => c
                                .send_request(h, es)
                                .map(|s| {
                                    streams.push(s);
                                    s.to_string()
                                })
                                .map_err(|e| e.to_string()),
                            Err(e) => Err(e),
                        }
                    }
                    H2Op::Respond(p, status, end_stream) => match pick(p) {
                        Some(s) => {
                            let code = 200 + status % 300;
                            let head = http::Response::builder()
                                .status(code)
                                .header("content-type", "text/plain")
                                .body(())
                                .map(|r| r.into_parts().0);
                            match head {
                                Ok(h) => c
                                    .send_response(s, h, end_stream)
                                    .map(|_| String::new())
                                    .map_err(|e| e.to_string()),
                                Err(e) => Err(e.to_string()),
                            }
                        }
                        None => Err("no stream".into()),
                    },
                    H2Op::Informational(p) => match pick(p) {
                        Some(s) => {
                            let h = http::Response::builder()
                                .status(103)
                                .body(())
                                .map(|r| r.into_parts().0);
                            match h {
                                Ok(h) => c
                                    .send_informational(s, h)
                                    .map(|_| String::new())
                                    .map_err(|e| e.to_string()),
                                Err(e) => Err(e.to_string()),
                            }
                        }
                        None => Err("no stream".into()),
                    },
                    H2Op::Data(p, len, end_stream) => match pick(p) {
                        Some(s) => {
                            let cap = c.send_capacity(s);
                            let data = Bytes::from(vec![b'd'; usize::from(len) % 40_000]);
                            let want = data.len();
                            match c.send_data(s, data, end_stream) {
                                Ok(n) => {
                                    assert!(
                                        n <= want && n <= cap,
                                        "send_data took {n} of {want} with capacity {cap}"
                                    );
                                    Ok(n.to_string())
                                }
                                Err(e) => Err(e.to_string()),
                            }
                        }
                        None => Err("no stream".into()),
                    },
                    H2Op::Trailers(p) => match pick(p) {
                        Some(s) => {
                            let mut t = http::HeaderMap::new();
                            t.insert("x-t", http::HeaderValue::from_static("1"));
                            c.send_trailers(s, t)
                                .map(|_| String::new())
                                .map_err(|e| e.to_string())
                        }
                        None => Err("no stream".into()),
                    },
                    H2Op::Reset(p, code) => match pick(p) {
                        Some(s) => c
                            .reset(s, ErrorCode::from(u32::from(code % 14)))
                            .map(|_| String::new())
                            .map_err(|e| e.to_string()),
                        None => Err("no stream".into()),
                    },
                    H2Op::Release(p, n) => {
                        if held.is_empty() {
                            Err("nothing held".into())
                        } else {
                            let i = usize::from(p) % held.len();
                            let (s, h) = held[i];
                            let n = usize::from(n) % (h + 1);
                            held[i].1 -= n;
                            c.release_capacity(s, n)
                                .map(|_| String::new())
                                .map_err(|e| e.to_string())
                        }
                    }
                    H2Op::ReleaseAll => {
                        let mut r = Ok(String::new());
                        for (s, n) in held.drain(..) {
                            if let Err(e) = c.release_capacity(s, n) {
                                r = Err(e.to_string());
                            }
                        }
                        r
                    }
                    H2Op::Ping(b) => c
                        .ping([b; 8])
                        .map(|_| String::new())
                        .map_err(|e| e.to_string()),
                    H2Op::GoAway => c
                        .go_away(now)
                        .map(|_| String::new())
                        .map_err(|e| e.to_string()),
                    H2Op::Settings(window, concurrent) => {
                        let mut s = Settings::new();
                        let _ = s.set(SettingId::InitialWindowSize, u32::from(window) * 4);
                        let _ = s.set(SettingId::MaxConcurrentStreams, u32::from(concurrent));
                        c.update_settings(now, s)
                            .map(|_| String::new())
                            .map_err(|e| e.to_string())
                    }
                    H2Op::Feed(_) | H2Op::Time(_) | H2Op::Eof => unreachable!(),
                };
                if let Err(e) = &r {
                    // A refused command is never the peer's fault.
                    assert!(!e.is_empty());
                }
                log.push(format!("{cmd:?} -> {r:?}"));
            }
        }
        check.take(&mut c, &mut output);
        while let Some(e) = c.poll_event() {
            match &e {
                Event::Request { stream, .. } => streams.push(*stream),
                Event::Data {
                    stream,
                    flow_len,
                    data,
                    ..
                } => {
                    assert_eq!(*flow_len, data.len());
                    if *flow_len > 0 {
                        held.push((*stream, *flow_len));
                    }
                }
                _ => {}
            }
            log.push(format!("{e:?}"));
        }
        let delivered: usize = held.iter().map(|h| h.1).sum();
        assert!(
            c.unreleased() as usize <= delivered,
            "held credit {} over {delivered}",
            c.unreleased()
        );
        assert!(
            log.len() <= 64 + 4 * (fed + commands * 64 + ops.len()),
            "events out of proportion"
        );
        check.take(&mut c, &mut output);
    }
    let _ = t0;
    assert!(
        check.total <= 1_000_000 + 64 * fed + 50_000 * commands,
        "output out of proportion"
    );
    Run { log, output }
}

/// Hand-made seeds: `(name, client target?, input)`.
pub fn h2_connection_seeds() -> Vec<(&'static str, bool, Vec<u8>)> {
    let mut out = Vec::new();
    let settings = [0u8, 0, 0, 4, 0, 0, 0, 0, 0];
    let ack = [0u8, 0, 0, 4, 1, 0, 0, 0, 0];
    // GET https://example.com/ on stream 1, END_STREAM.
    let mut block = vec![0x82, 0x87, 0x84, 0x41, 11];
    block.extend_from_slice(b"example.com");
    let mut headers = vec![0, 0, block.len() as u8, 1, 5, 0, 0, 0, 1];
    headers.extend_from_slice(&block);
    let mut server = vec![0, 0];
    server.extend_from_slice(PREFACE);
    server.extend_from_slice(&settings);
    server.extend_from_slice(&ack);
    server.extend_from_slice(&headers);
    out.push(("seed-get", false, server.clone()));
    // A POST with data and a ping.
    let mut post = vec![0, 0];
    post.extend_from_slice(PREFACE);
    post.extend_from_slice(&settings);
    let mut block = vec![0x83, 0x87, 0x84, 0x41, 11];
    block.extend_from_slice(b"example.com");
    post.extend_from_slice(&[0, 0, block.len() as u8, 1, 4, 0, 0, 0, 1]);
    post.extend_from_slice(&block);
    post.extend_from_slice(&[0, 0, 3, 0, 1, 0, 0, 0, 1, b'a', b'b', b'c']);
    post.extend_from_slice(&[0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    out.push(("seed-post", false, post));
    // Client: the server's SETTINGS and a 200 response with data.
    let mut client = vec![0, 0];
    client.extend_from_slice(&settings);
    client.extend_from_slice(&ack);
    client.extend_from_slice(&[0, 0, 1, 1, 4, 0, 0, 0, 1, 0x88]);
    client.extend_from_slice(&[0, 0, 2, 0, 1, 0, 0, 0, 1, b'o', b'k']);
    // (Clients open stream 1 before the ops run.)
    out.push(("seed-response", true, client));
    out
}
