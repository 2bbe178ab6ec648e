//! The WebSocket connection machine ([`Connection`]), alone or behind its
//! opening handshake ([`ServerUpgrade`], [`ClientUpgrade`]), driven by an
//! op list and run twice to check split invariance.
//!
//! # Input layout
//!
//! [`ws_server`] and [`ws_client`] read their input like the HTTP
//! connection targets:
//!
//! ```text
//! [ops_len: u16 LE] [program: ops_len bytes] [wire: the rest]
//! ```
//!
//! The program is decoded with `arbitrary`: a [`WsSetup`] (the
//! [`Config`], permessage-deflate, whether the HTTP/1.1 handshake comes
//! first, and how the second run cuts its input) and then [`WsOp`]s until
//! it runs out. `Feed` ops take the next bytes of the wire (the peer's
//! frames, after its HTTP handshake message when `handshake` is set);
//! whatever wire is left after the last op is fed at the end. All-zero
//! program bytes decode to the defaults, so a seed of two zero bytes and a
//! masked frame feeds that frame to a default server.
//!
//! # What is checked
//!
//! Every input runs twice, with every `Feed` handed over in one piece and
//! then cut as [`WsSetup::split`] says; both runs must give the same events
//! (adjacent [`Event::Fragment`]s of one message merged), the same result
//! for every op, the same output bytes and the `Shutdown` at the same place.
//! Within a run:
//!
//! * input errors are protocol or limit errors with a sendable close code,
//!   and sticky; commands refused (usage errors, a close code that may not
//!   be sent) are refused exactly when the harness predicts and change
//!   nothing; `is_open` turns false exactly when a close was sent or
//!   received, the connection failed, or the transport ended;
//! * no event after a `Close` or an error but what was queued before; no
//!   message or fragment larger than [`Config::max_message_size`] (fragments
//!   of one message counted together); text (messages, fragments, close
//!   reasons) is UTF-8; close codes received are sendable;
//! * `poll_timeout` is later than `now` after `handle_timeout`; nothing is
//!   transmitted after `Transmit::Shutdown` or once `is_closed`; events and
//!   output stay proportional to input and commands;
//! * the output reads back as an HTTP head (with a handshake) and then
//!   whole, well-formed frames — masked from a client, unmasked from a
//!   server, RSV1 only on compressed first frames, control frames final and
//!   short, continuations only inside a message, nothing after the close
//!   frame, whose code is sendable and is the one the harness expects (ours,
//!   the echo of the peer's, or the failure's) — and the data messages in
//!   it, inflated when compressed, are exactly the messages the commands
//!   sent, compressed exactly when the codec says they should be.

use super::ops::{MAX_OPS, SizeChoice, Split, Wire, split_input};
use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use std::time::{Duration, Instant};
use wirestate_http1::ServerConfig;
use wirestate_machine::{ClassifyError, Entropy, ErrorKind, Machine, Transmit};
use wirestate_ws::{
    ClientHandshake, ClientUpgrade, Config, Connection, DeflateConfig, DeflateParams, Error, Event,
    FrameHeader, Message, MessageKind, OpCode, PerMessageDeflate, Role, ServerHandshake,
    ServerUpgrade, UpgradeError, UpgradeEvent, apply_mask, close_code,
};

/// The URI a [`ClientUpgrade`] connects to.
pub const WS_CLIENT_URI: &str = "ws://example.com/chat";

/// The subprotocols both handshakes offer, most preferred first.
pub const WS_PROTOCOLS: [&str; 2] = ["chat.v2", "chat"];

/// permessage-deflate as the input chooses it. All zero: RFC 7692's
/// defaults (context takeover, 15-bit windows), level 6, threshold 32.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateChoice {
    /// `server_no_context_takeover`.
    pub server_no_context_takeover: bool,
    /// `client_no_context_takeover`.
    pub client_no_context_takeover: bool,
    /// The server's window: `15 - n % 8` bits; with a handshake, 0 leaves
    /// it unsaid and `n > 0` says `15 - (n - 1) % 8`.
    pub server_max_window_bits: u8,
    /// The client's window, the same way.
    pub client_max_window_bits: u8,
    /// Compression level `(6 + n) % 10`.
    pub level: u8,
    /// Threshold: 0 the default (32), else `n - 1`.
    pub min_compress_size: u8,
}

impl DeflateChoice {
    fn level(self) -> u32 {
        (6 + u32::from(self.level)) % 10
    }

    fn min_compress_size(self) -> usize {
        match self.min_compress_size {
            0 => DeflateParams::default().min_compress_size,
            n => usize::from(n - 1),
        }
    }

    /// The agreed parameters, for a [`Connection`] without a handshake.
    pub fn params(self) -> DeflateParams {
        let mut p = DeflateParams::default();
        p.server_no_context_takeover = self.server_no_context_takeover;
        p.client_no_context_takeover = self.client_no_context_takeover;
        p.server_max_window_bits = 15 - self.server_max_window_bits % 8;
        p.client_max_window_bits = 15 - self.client_max_window_bits % 8;
        p.level = self.level();
        p.min_compress_size = self.min_compress_size();
        p
    }

    /// What one end offers or accepts, for a handshake.
    pub fn config(self) -> DeflateConfig {
        let bits = |n: u8| n.checked_sub(1).map(|n| 15 - n % 8);
        let mut c = DeflateConfig::default();
        c.server_no_context_takeover = self.server_no_context_takeover;
        c.client_no_context_takeover = self.client_no_context_takeover;
        c.server_max_window_bits = bits(self.server_max_window_bits);
        c.client_max_window_bits = bits(self.client_max_window_bits);
        c.level = self.level();
        c.min_compress_size = self.min_compress_size();
        c
    }
}

/// The keep-alive timer.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAliveChoice {
    /// `keepalive_interval` in milliseconds (0 included).
    pub interval_ms: u16,
    /// `pong_timeout` in milliseconds (0 included).
    pub pong_timeout_ms: u16,
}

/// The setup of a run; all zero bytes give [`Config::default`], no
/// compression, no handshake and no second cut of the input.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsSetup {
    /// How the second run cuts every `Feed` (the first feeds it whole).
    pub split: Split,
    /// `streaming`.
    pub streaming: bool,
    /// `max_frame_size`.
    pub max_frame_size: SizeChoice,
    /// `max_message_size`.
    pub max_message_size: SizeChoice,
    /// permessage-deflate: negotiated as is without a handshake; with one,
    /// what the client offers and the server accepts.
    pub deflate: Option<DeflateChoice>,
    /// `keepalive_interval` and `pong_timeout`, or the defaults.
    pub keepalive: Option<KeepAliveChoice>,
    /// `close_timeout` in milliseconds, or the default.
    pub close_timeout_ms: Option<u16>,
    /// `write_high_water`.
    pub write_high_water: SizeChoice,
    /// Run a [`ServerUpgrade`] / [`ClientUpgrade`]: the wire starts with
    /// the client's request / the server's response.
    pub handshake: bool,
}

impl WsSetup {
    /// The connection's configuration.
    pub fn config(&self) -> Config {
        let mut c = Config::default();
        c.streaming = self.streaming;
        c.max_frame_size = self.max_frame_size.apply(c.max_frame_size);
        c.max_message_size = self.max_message_size.apply(c.max_message_size);
        if let Some(k) = self.keepalive {
            c.keepalive_interval = Some(Duration::from_millis(k.interval_ms.into()));
            c.pong_timeout = Duration::from_millis(k.pong_timeout_ms.into());
        }
        if let Some(ms) = self.close_timeout_ms {
            c.close_timeout = Duration::from_millis(ms.into());
        }
        c.write_high_water = self.write_high_water.apply(c.write_high_water);
        c
    }
}

/// The code of a `close` command.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseChoice {
    /// 1000.
    Normal,
    /// One of [`LISTED_CODES`] (index modulo its length): the defined
    /// codes, sendable or not.
    Listed(u8),
    /// `3000 + n % 2000`: registered and private codes.
    Private(u16),
    /// Any code.
    Raw(u16),
}

/// The codes [`CloseChoice::Listed`] picks from.
pub const LISTED_CODES: [u16; 20] = [
    1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 1004, 1005, 1006, 1015,
    0, 999, 2999, 5000,
];

impl CloseChoice {
    /// The close code.
    pub fn code(self) -> u16 {
        match self {
            CloseChoice::Normal => close_code::NORMAL,
            CloseChoice::Listed(i) => LISTED_CODES[usize::from(i) % LISTED_CODES.len()],
            CloseChoice::Private(n) => 3000 + n % 2000,
            CloseChoice::Raw(n) => n,
        }
    }
}

/// One step of a run.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsOp {
    /// Feed the next `len` wire bytes (0: all that is left).
    Feed {
        /// How many bytes.
        len: u16,
    },
    /// `send_with` a whole message: `len % 1000` characters of text or
    /// `len % 3000` bytes.
    Send {
        /// Text, else binary.
        text: bool,
        /// The size.
        len: u16,
        /// `compress`.
        compress: bool,
    },
    /// `send_fragment`: `len % 300` characters of text or bytes.
    Fragment {
        /// Text, else binary.
        text: bool,
        /// The size.
        len: u16,
        /// The last fragment.
        fin: bool,
    },
    /// `ping` with `len` bytes (refused above 125).
    Ping {
        /// The payload size.
        len: u8,
    },
    /// `pong` with `len` bytes (refused above 125).
    Pong {
        /// The payload size.
        len: u8,
    },
    /// `close` with a code and a reason of `reason` bytes (refused above 123).
    Close {
        /// The code.
        code: CloseChoice,
        /// The reason's length.
        reason: u8,
    },
    /// Let time pass, then `handle_timeout`.
    Advance {
        /// Milliseconds.
        millis: u16,
    },
    /// Jump to `poll_timeout` (if any), then `handle_timeout`.
    AdvanceToTimeout,
    /// The peer closed the transport (no `Feed` runs after it).
    Eof,
}

/// Fuzz body for `ws_server`: a server [`Connection`], or a
/// [`ServerUpgrade`] fed the client's request first (see the module docs).
pub fn ws_server(data: &[u8]) {
    ws_connection(data, Role::Server);
}

/// Fuzz body for `ws_client`: a client [`Connection`], or a
/// [`ClientUpgrade`] fed the server's response first (see the module docs).
pub fn ws_client(data: &[u8]) {
    ws_connection(data, Role::Client);
}

fn ws_connection(data: &[u8], role: Role) {
    let (program, wire) = split_input(data);
    let mut u = Unstructured::new(program);
    let Ok(setup) = WsSetup::arbitrary(&mut u) else {
        return;
    };
    let mut ops = Vec::new();
    while !u.is_empty() && ops.len() < MAX_OPS {
        match WsOp::arbitrary(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    let start = Instant::now();
    let whole = Run::go(&setup, role, &ops, wire, start, Split::Whole);
    whole.check_output();
    if setup.split != Split::Whole {
        let cut = Run::go(&setup, role, &ops, wire, start, setup.split);
        assert_eq!(whole.results, cut.results, "op results differ when split");
        let (a, b) = (merged(&whole.events), merged(&cut.events));
        assert_eq!(a, b, "events differ when split");
        assert_eq!(whole.shut_at, cut.shut_at, "shutdown moved when split");
        assert!(whole.out == cut.out, "output differs when split");
    }
}

/// The Sec-WebSocket-Accept a [`ClientUpgrade`] of these targets expects
/// (its key comes from the targets' fixed entropy), for seeds.
pub fn ws_client_accept() -> String {
    let (_, pending) = ClientHandshake::new(WS_CLIENT_URI.parse().expect("a valid URI"))
        .request(&mut entropy())
        .expect("a valid handshake");
    pending.expected_accept().to_owned()
}

/// Deterministic "randomness": the same in both runs, so masks agree.
pub(crate) fn entropy() -> impl Entropy + Send + 'static {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    move |buf: &mut [u8]| {
        for b in buf {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *b = state as u8;
        }
    }
}

/// `len % 1000` characters, some of them multi-byte.
fn text(len: u16, modulo: u16) -> String {
    const CHARS: [char; 8] = ['w', 'i', 'r', 'e', ' ', 'é', '✓', '😀'];
    (0..len % modulo)
        .map(|i| CHARS[usize::from(i) % CHARS.len()])
        .collect()
}

/// `len % modulo` bytes.
fn binary(len: u16, modulo: u16) -> Bytes {
    (0..len % modulo).map(|i| (i % 251) as u8).collect()
}

/// What a run saw, comparable across runs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// The handshake completed.
    Open {
        status: u16,
        subprotocol: Option<String>,
        deflate: Option<DeflateParams>,
    },
    Ws(Event),
}

/// Adjacent fragments of one message as one.
fn merged(events: &[Seen]) -> Vec<Seen> {
    let mut out: Vec<Seen> = Vec::new();
    for e in events {
        if let (
            Seen::Ws(Event::Fragment { kind, data, fin }),
            Some(Seen::Ws(Event::Fragment {
                kind: k0,
                data: d0,
                fin: f0,
            })),
        ) = (e, out.last_mut())
            && !*f0
            && k0 == kind
        {
            let mut joined = BytesMut::from(&d0[..]);
            joined.extend_from_slice(data);
            *d0 = joined.freeze();
            *f0 = *fin;
            continue;
        }
        out.push(e.clone());
    }
    out
}

/// The machine under test.
enum Subject {
    Conn(Box<Connection>),
    Server(Box<ServerUpgrade>),
    Client(Box<ClientUpgrade>),
}

impl Subject {
    fn input(&mut self, now: Instant, bytes: &[u8]) -> Result<(), UpgradeError> {
        match self {
            Subject::Conn(c) => c.handle_input(now, bytes).map_err(UpgradeError::Ws),
            Subject::Server(s) => s.handle_input(now, bytes),
            Subject::Client(c) => c.handle_input(now, bytes),
        }
    }

    fn eof(&mut self, now: Instant) -> Result<(), UpgradeError> {
        match self {
            Subject::Conn(c) => c.handle_eof(now).map_err(UpgradeError::Ws),
            Subject::Server(s) => s.handle_eof(now),
            Subject::Client(c) => c.handle_eof(now),
        }
    }

    fn timeout(&mut self, now: Instant) {
        match self {
            Subject::Conn(c) => c.handle_timeout(now),
            Subject::Server(s) => s.handle_timeout(now),
            Subject::Client(c) => c.handle_timeout(now),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Subject::Conn(c) => c.poll_timeout(),
            Subject::Server(s) => s.poll_timeout(),
            Subject::Client(c) => c.poll_timeout(),
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        match self {
            Subject::Conn(c) => c.poll_transmit(),
            Subject::Server(s) => s.poll_transmit(),
            Subject::Client(c) => c.poll_transmit(),
        }
    }

    fn is_closed(&self) -> bool {
        match self {
            Subject::Conn(c) => c.is_closed(),
            Subject::Server(s) => s.is_closed(),
            Subject::Client(c) => c.is_closed(),
        }
    }

    fn poll_event(&mut self) -> Option<Seen> {
        let ev = match self {
            Subject::Conn(c) => return c.poll_event().map(Seen::Ws),
            Subject::Server(s) => s.poll_event(),
            Subject::Client(c) => c.poll_event(),
        }?;
        Some(match ev {
            UpgradeEvent::Open {
                response,
                negotiated,
                ..
            } => Seen::Open {
                status: response.status.as_u16(),
                subprotocol: negotiated.subprotocol,
                deflate: negotiated.deflate,
            },
            UpgradeEvent::Ws(e) => Seen::Ws(e),
            // `UpgradeEvent` may grow; anything new shows up as a difference.
            #[allow(unreachable_patterns)]
            other => panic!("unknown upgrade event {other:?}"),
        })
    }

    fn conn(&mut self) -> Option<&mut Connection> {
        match self {
            Subject::Conn(c) => Some(c),
            Subject::Server(s) => s.connection(),
            Subject::Client(c) => c.connection(),
        }
    }
}

/// A data message the commands sent, as the output must hold it.
#[derive(Debug)]
struct Sent {
    kind: MessageKind,
    data: Vec<u8>,
    /// Sent with RSV1 (permessage-deflate).
    compressed: bool,
}

struct Run {
    subject: Subject,
    role: Role,
    handshake: bool,
    max_message_size: usize,
    streaming: bool,
    now: Instant,
    /// The agreed permessage-deflate parameters, once known.
    deflate: Option<DeflateParams>,
    /// Events, and the result of every op, for the comparison.
    events: Vec<Seen>,
    results: Vec<String>,
    out: Vec<u8>,
    shut_at: Option<usize>,
    /// Messages sent, in order; the fragmented one being sent.
    sent: Vec<Sent>,
    sending: Option<(MessageKind, Vec<u8>)>,
    /// The code of the first close frame the output must carry (`Some(None)`:
    /// one without a code), once something decided it.
    close_expect: Option<Option<u16>>,
    /// The first error `handle_input` returned from the WebSocket layer.
    ws_error: Option<Error>,
    /// Some input error was returned and its events drained.
    failed: bool,
    eof: bool,
    opened: bool,
    close_events: usize,
    /// Bytes of the streamed message delivered so far.
    streamed: usize,
    fed: usize,
    app_bytes: usize,
    ops: usize,
    event_count: usize,
}

impl Run {
    fn go(
        setup: &WsSetup,
        role: Role,
        ops: &[WsOp],
        wire: &[u8],
        start: Instant,
        split: Split,
    ) -> Run {
        let config = setup.config();
        let deflate = setup.deflate;
        let subject = match (role, setup.handshake) {
            (Role::Server, false) => {
                let mut c = Connection::server(config.clone());
                if let Some(d) = deflate {
                    c = c.with_deflate(&d.params());
                }
                c.start(start);
                Subject::Conn(Box::new(c))
            }
            (Role::Client, false) => {
                let mut c = Connection::client(config.clone(), entropy());
                if let Some(d) = deflate {
                    c = c.with_deflate(&d.params());
                }
                c.start(start);
                Subject::Conn(Box::new(c))
            }
            (Role::Server, true) => {
                let mut hs = ServerHandshake::new().protocols(WS_PROTOCOLS);
                if let Some(d) = deflate {
                    hs = hs.deflate(d.config());
                }
                // Pipelining on: `ServerUpgrade` must turn it off itself.
                let mut http = ServerConfig::default();
                http.max_pipelined = 16;
                Subject::Server(Box::new(ServerUpgrade::with_http_config(
                    start,
                    hs,
                    config.clone(),
                    http,
                )))
            }
            (Role::Client, true) => {
                let mut hs = ClientHandshake::new(WS_CLIENT_URI.parse().expect("a valid URI"))
                    .protocols(WS_PROTOCOLS);
                if let Some(d) = deflate {
                    hs = hs.deflate(d.config());
                }
                let c = ClientUpgrade::new(start, &hs, config.clone(), entropy())
                    .expect("a valid handshake");
                Subject::Client(Box::new(c))
            }
        };
        let mut run = Run {
            subject,
            role,
            handshake: setup.handshake,
            max_message_size: config.max_message_size,
            streaming: config.streaming,
            now: start,
            deflate: if setup.handshake {
                None
            } else {
                deflate.map(DeflateChoice::params)
            },
            events: Vec::new(),
            results: Vec::new(),
            out: Vec::new(),
            shut_at: None,
            sent: Vec::new(),
            sending: None,
            close_expect: None,
            ws_error: None,
            failed: false,
            eof: false,
            opened: false,
            close_events: 0,
            streamed: 0,
            fed: 0,
            app_bytes: 0,
            ops: 0,
            event_count: 0,
        };
        run.drain();
        let mut wire = Wire::new(wire);
        for &op in ops {
            run.ops += 1;
            run.op(op, &mut wire, split);
            run.drain();
            run.check_budget();
        }
        if !wire.is_empty() {
            run.feed(&mut wire, 0, split);
        }
        run.drain();
        run.check_budget();
        run
    }

    fn op(&mut self, op: WsOp, wire: &mut Wire<'_>, split: Split) {
        let open = self.open();
        match op {
            WsOp::Feed { len } => self.feed(wire, len, split),
            WsOp::Send {
                text: is_text,
                len,
                compress,
            } => {
                let message = if is_text {
                    Message::Text(text(len, 1000).into())
                } else {
                    Message::Binary(binary(len, 3000))
                };
                let expect = match self.sending {
                    _ if !open => Err(Error::Closing),
                    Some(_) => Err(Error::MessageInProgress),
                    None => Ok(()),
                };
                let (kind, data) = (message.kind(), message.as_bytes().to_vec());
                if let Some(Ok(())) = self.command(expect, |c, _| c.send_with(message, compress)) {
                    self.app_bytes += data.len();
                    let compressed = compress && data.len() >= self.min_compress_size();
                    self.sent.push(Sent {
                        kind,
                        data,
                        compressed,
                    });
                }
            }
            WsOp::Fragment {
                text: is_text,
                len,
                fin,
            } => {
                let (kind, data) = if is_text {
                    (MessageKind::Text, Bytes::from(text(len, 300)))
                } else {
                    (MessageKind::Binary, binary(len, 300))
                };
                let expect = match &self.sending {
                    _ if !open => Err(Error::Closing),
                    Some((k, _)) if *k != kind => Err(Error::MessageInProgress),
                    _ => Ok(()),
                };
                let piece = data.clone();
                if let Some(Ok(())) = self.command(expect, |c, _| c.send_fragment(kind, piece, fin))
                {
                    self.app_bytes += data.len();
                    let (_, buf) = self.sending.get_or_insert_with(|| (kind, Vec::new()));
                    buf.extend_from_slice(&data);
                    if fin {
                        let (kind, data) = self.sending.take().expect("just set");
                        self.sent.push(Sent {
                            kind,
                            data,
                            compressed: false,
                        });
                    }
                }
            }
            WsOp::Ping { len } | WsOp::Pong { len } => {
                let payload = binary(len.into(), 256);
                let expect = match () {
                    _ if !open => Err(Error::Closing),
                    _ if len > 125 => Err(Error::ControlTooLong),
                    _ => Ok(()),
                };
                let ping = matches!(op, WsOp::Ping { .. });
                self.command(expect, |c, _| {
                    if ping {
                        c.ping(payload)
                    } else {
                        c.pong(payload)
                    }
                });
            }
            WsOp::Close { code, reason } => {
                let code = code.code();
                let expect = match () {
                    _ if !open => Err(Error::Closing),
                    _ if !close_code::is_sendable(code) => Err(Error::InvalidCloseCode(code)),
                    _ if reason > 123 => Err(Error::ControlTooLong),
                    _ => Ok(()),
                };
                let reason = "r".repeat(reason.into());
                if let Some(Ok(())) = self.command(expect, |c, now| c.close(now, code, &reason)) {
                    self.close_expect = Some(Some(code));
                }
            }
            WsOp::Advance { millis } => {
                self.now += Duration::from_millis(millis.into());
                self.timeout();
            }
            WsOp::AdvanceToTimeout => {
                if let Some(t) = self.subject.poll_timeout() {
                    self.now = self.now.max(t);
                }
                self.timeout();
            }
            WsOp::Eof => {
                if self.eof {
                    self.results.push("eof again".into());
                    return;
                }
                self.eof = true;
                let r = self.subject.eof(self.now);
                if let Err(UpgradeError::Ws(e)) = &r {
                    assert!(
                        *e == Error::AbnormalClosure || Some(e) == self.ws_error.as_ref(),
                        "handle_eof: {e:?}"
                    );
                }
                self.results.push(format!("eof: {r:?}"));
            }
        }
    }

    fn timeout(&mut self) {
        self.subject.timeout(self.now);
        if let Some(t) = self.subject.poll_timeout() {
            assert!(t > self.now, "poll_timeout not after handle_timeout");
        }
        self.results.push("timeout".into());
    }

    fn feed(&mut self, wire: &mut Wire<'_>, len: u16, split: Split) {
        let bytes = wire.peek(len);
        wire.advance(bytes.len());
        if self.eof {
            self.results.push("feed after eof".into());
            return;
        }
        let mut first = Ok(());
        for piece in split.pieces(bytes) {
            self.fed += piece.len();
            let r = self.subject.input(self.now, piece);
            if let Some(e) = &self.ws_error {
                assert_eq!(r, Err(UpgradeError::Ws(e.clone())), "error not sticky");
            }
            if let Err(e) = &r {
                self.input_error(e);
            }
            self.drain();
            if r.is_err() {
                self.failed = true;
            }
            if first.is_ok() {
                first = r;
            }
        }
        self.results.push(format!("feed: {first:?}"));
    }

    fn input_error(&mut self, e: &UpgradeError) {
        assert_ne!(e.kind(), ErrorKind::Usage, "usage error from input: {e:?}");
        let UpgradeError::Ws(e) = e else { return };
        if self.subject.conn().is_none() {
            // A `ClientUpgrade` reports an HTTP exchange aborted before the
            // switch as `AbnormalClosure`: not an error of a connection.
            return;
        }
        let code = e.close_code();
        assert!(
            code.is_some_and(close_code::is_sendable),
            "input error {e:?} with close code {code:?}"
        );
        if self.ws_error.is_none() {
            self.ws_error = Some(e.clone());
            if self.close_expect.is_none() {
                self.close_expect = Some(code);
            }
        }
    }

    /// Whether the harness expects the connection to be open.
    fn open(&self) -> bool {
        self.close_expect.is_none() && !self.eof && self.ws_error.is_none()
    }

    /// Runs a command on the connection (`None` while there is none): its
    /// result must be `expect`, and a refusal changes nothing.
    fn command(
        &mut self,
        expect: Result<(), Error>,
        f: impl FnOnce(&mut Connection, Instant) -> Result<(), Error>,
    ) -> Option<Result<(), Error>> {
        let now = self.now;
        let expected_open = self.open();
        let Some(c) = self.subject.conn() else {
            self.results.push("no connection".into());
            return None;
        };
        let open = c.is_open();
        let queued = c.queued_bytes();
        let r = f(c, now);
        let after = (c.is_open(), c.queued_bytes());
        assert_eq!(
            open, expected_open,
            "is_open disagrees (close {:?}, eof {}, error {:?})",
            self.close_expect, self.eof, self.ws_error
        );
        self.results.push(format!("command: {r:?}"));
        assert_eq!(r, expect, "command result");
        if r.is_err() {
            assert_eq!(after, (open, queued), "a refused command changed state");
        }
        Some(r)
    }

    fn min_compress_size(&self) -> usize {
        self.deflate.map_or(usize::MAX, |p| {
            PerMessageDeflate::new(&p, self.role).min_compress_size()
        })
    }

    fn drain(&mut self) {
        let closed = self.subject.is_closed();
        while let Some(t) = self.subject.poll_transmit() {
            assert!(!closed, "transmit while is_closed");
            match t {
                Transmit::Bytes(b) => {
                    assert!(self.shut_at.is_none(), "bytes after Shutdown");
                    self.out.extend_from_slice(&b);
                }
                Transmit::Shutdown => {
                    assert!(self.shut_at.is_none(), "second Shutdown");
                    self.shut_at = Some(self.out.len());
                }
            }
        }
        while let Some(e) = self.subject.poll_event() {
            self.event_count += 1;
            self.check_event(&e);
            self.events.push(e);
        }
    }

    fn check_event(&mut self, e: &Seen) {
        let data_after_end = self.failed || self.close_events > 0;
        match e {
            Seen::Open {
                status, deflate, ..
            } => {
                assert!(self.handshake && !self.opened, "unexpected Open");
                assert_eq!(*status, 101);
                self.opened = true;
                self.deflate = *deflate;
            }
            Seen::Ws(ev) => {
                assert!(!self.handshake || self.opened, "event before Open");
                match ev {
                    Event::Message(m) => {
                        assert!(!data_after_end, "message after close or error");
                        assert!(!self.streaming, "Message while streaming");
                        assert!(m.len() <= self.max_message_size, "message over the limit");
                        if m.kind() == MessageKind::Text {
                            assert!(std::str::from_utf8(m.as_bytes()).is_ok(), "text not UTF-8");
                        }
                    }
                    Event::Fragment { kind, data, fin } => {
                        assert!(!data_after_end, "fragment after close or error");
                        assert!(self.streaming, "Fragment while not streaming");
                        self.streamed += data.len();
                        assert!(
                            self.streamed <= self.max_message_size,
                            "streamed message over the limit"
                        );
                        if *kind == MessageKind::Text {
                            assert!(std::str::from_utf8(data).is_ok(), "text not UTF-8");
                        }
                        if *fin {
                            self.streamed = 0;
                        }
                    }
                    Event::Ping(p) | Event::Pong(p) => {
                        assert!(!data_after_end, "control after close or error");
                        assert!(p.len() <= 125, "control payload too long");
                    }
                    Event::Close(frame) => {
                        assert!(!data_after_end, "second close, or close after error");
                        self.close_events += 1;
                        if let Some(f) = frame {
                            assert!(close_code::is_sendable(f.code), "close code {}", f.code);
                            assert!(f.reason.len() <= 123, "close reason too long");
                            assert!(std::str::from_utf8(f.reason.as_bytes()).is_ok());
                        }
                        if self.close_expect.is_none() {
                            self.close_expect = Some(frame.as_ref().map(|f| f.code));
                        }
                    }
                    Event::Error(e) => match e {
                        Error::KeepAliveTimeout => {
                            if self.close_expect.is_none() {
                                self.close_expect = Some(Some(close_code::GOING_AWAY));
                            }
                            self.failed = true;
                        }
                        Error::CloseTimeout => {
                            assert!(self.close_expect.is_some(), "close timeout without a close");
                        }
                        // An input failure is reported as an event too,
                        // after the events before it.
                        other if Some(other) == self.ws_error.as_ref() => {}
                        Error::AbnormalClosure if self.eof => {}
                        other => panic!("unexpected error event {other:?}"),
                    },
                }
            }
        }
    }

    /// Events and output stay proportional to input and commands.
    fn check_budget(&self) {
        let events = 2 * self.fed + 8 * self.ops + 16;
        assert!(
            self.event_count <= events,
            "{} events for {} bytes and {} ops",
            self.event_count,
            self.fed,
            self.ops
        );
        let out = 4 * self.fed + 2 * self.app_bytes + 512 * (self.ops + 2);
        assert!(
            self.out.len() <= out,
            "{} bytes out for {} in, {} sent and {} ops",
            self.out.len(),
            self.fed,
            self.app_bytes,
            self.ops
        );
    }

    /// Reads the output back: the HTTP head of a handshake, then frames.
    fn check_output(&self) {
        let mut rest = &self.out[..];
        if self.handshake {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            match self.role {
                Role::Server => {
                    if rest.is_empty() {
                        assert!(!self.opened, "opened without a response");
                        return;
                    }
                    let mut resp = httparse::Response::new(&mut headers);
                    let n = match resp.parse(rest) {
                        Ok(httparse::Status::Complete(n)) => n,
                        other => panic!("server wrote a bad response: {other:?}"),
                    };
                    if resp.code != Some(101) {
                        assert!(!self.opened, "opened without a 101");
                        return;
                    }
                    rest = &rest[n..];
                }
                Role::Client => {
                    let mut req = httparse::Request::new(&mut headers);
                    let n = match req.parse(rest) {
                        Ok(httparse::Status::Complete(n)) => n,
                        other => panic!("client wrote a bad request: {other:?}"),
                    };
                    rest = &rest[n..];
                }
            }
            if !self.opened {
                assert!(rest.is_empty(), "frames before the handshake completed");
                return;
            }
        }
        let peer = match self.role {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        };
        let mut inflater = self.deflate.map(|p| PerMessageDeflate::new(&p, peer));
        let mut message: Option<(OpCode, bool, Vec<u8>)> = None;
        let mut sent = self.sent.iter();
        let mut close: Option<Option<u16>> = None;
        while !rest.is_empty() {
            let (head, n) = match FrameHeader::parse(rest, u64::MAX) {
                Ok(Some(found)) => found,
                other => panic!("bad frame in the output: {other:?}"),
            };
            assert!(close.is_none(), "a frame after the close frame");
            rest = &rest[n..];
            let len = usize::try_from(head.len).expect("fits");
            assert!(len <= rest.len(), "frame cut short in the output");
            let mut payload = rest[..len].to_vec();
            rest = &rest[len..];
            match (self.role, head.mask) {
                (Role::Client, Some(key)) => apply_mask(&mut payload, key, 0),
                (Role::Server, None) => {}
                (role, mask) => panic!("{role:?} wrote mask {mask:?}"),
            }
            assert!(!head.rsv2 && !head.rsv3, "RSV2/RSV3 set");
            if head.opcode.is_control() {
                assert!(
                    head.fin && !head.rsv1 && len <= 125,
                    "bad control frame {head:?}"
                );
                if head.opcode == OpCode::Close {
                    close = Some(match payload.as_slice() {
                        [] => None,
                        [_] => panic!("one-byte close payload"),
                        [hi, lo, reason @ ..] => {
                            let code = u16::from_be_bytes([*hi, *lo]);
                            assert!(close_code::is_sendable(code), "sent close code {code}");
                            assert!(std::str::from_utf8(reason).is_ok(), "close reason");
                            Some(code)
                        }
                    });
                }
                continue;
            }
            match (&mut message, head.opcode) {
                (None, OpCode::Text | OpCode::Binary) => {
                    assert!(!head.rsv1 || inflater.is_some(), "RSV1 without deflate");
                    message = Some((head.opcode, head.rsv1, payload));
                }
                (Some((_, _, data)), OpCode::Continuation) => {
                    assert!(!head.rsv1, "RSV1 on a continuation");
                    data.extend_from_slice(&payload);
                }
                (m, op) => panic!("{op:?} frame with message {:?}", m.is_some()),
            }
            if !head.fin {
                continue;
            }
            let (opcode, compressed, data) = message.take().expect("set above");
            let data = if compressed {
                let mut out = BytesMut::new();
                inflater
                    .as_mut()
                    .expect("checked")
                    .decompress(&data, true, &mut out, usize::MAX)
                    .expect("our own compressed message inflates");
                out.to_vec()
            } else {
                data
            };
            let expected = sent.next().expect("a message nobody sent");
            let kind = match opcode {
                OpCode::Text => MessageKind::Text,
                _ => MessageKind::Binary,
            };
            assert_eq!(
                (kind, compressed),
                (expected.kind, expected.compressed),
                "message kind or compression"
            );
            assert!(data == expected.data, "message content differs");
        }
        assert!(sent.next().is_none(), "a sent message is missing");
        assert_eq!(close, self.close_expect, "close frame in the output");
    }
}
