//! The MCP WebSocket server ([`WsServer`]) driven by an op list, run
//! twice to check split invariance.
//!
//! # Input layout
//!
//! Like the other connection targets:
//!
//! ```text
//! [ops_len: u16 LE] [program: ops_len bytes] [wire: the rest]
//! ```
//!
//! The program is decoded with `arbitrary`: a [`McpWsSetup`] and then
//! [`McpWsOp`]s. `Send` ops write a client message (mostly valid MCP,
//! [`ClientMsg`]) as one masked text message — whole or in fragments, with
//! a ping between them when asked — through a client-side
//! `wirestate_ws::Connection`; `Binary`, `Ping` and `Close` send those
//! frames; `Feed` ops take the next raw bytes of the wire (frames or
//! junk); whatever wire is left after the last op is fed at the end. The
//! application's side — answering the calls it was handed, progress,
//! logs, pings, catalogue changes, closing — are ops too. Every run ends
//! with EOF.
//!
//! # What is checked
//!
//! * Nothing panics; once `handle_input` failed it keeps failing
//!   (sticky), and the failure has a close code or is the transport's.
//! * Every byte transmitted decodes, as a client reads it, into frames:
//!   text messages, each one JSON-RPC 2.0 message or batch (valid JSON and
//!   valid to `wirestate_jsonrpc::decode`), pongs, and at most one close
//!   frame, after which nothing comes. No binary message is ever sent.
//! * Responses to an id never outnumber the requests that carried it (the
//!   requests counted from the text messages a model server connection
//!   decodes from the same bytes).
//! * A binary message from the client is answered with close 1003.
//! * Nothing is transmitted once the machine says it is closed;
//!   `poll_timeout` is later than `now` after `handle_timeout`.
//! * Split invariance as the module documents it: the run with every
//!   `Feed`/`Send` whole and the run with them cut as the setup says give
//!   the same events, the same command results and the same output bytes.

use super::mcp::{Act, App, ClientMsg};
use super::ops::{Clock, MAX_OPS, Split, Wire, split_input, tick};
use super::ws_connection::entropy;
use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use wirestate_machine::{Machine, Transmit};
use wirestate_mcp::ServerEvent;
use wirestate_mcp::schema::Implementation;
use wirestate_mcp::websocket::{WsConfig, WsServer};
use wirestate_ws::{Connection, Event, Message, MessageKind, close_code};

/// The configuration as the input chooses it (all zero: the defaults).
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub struct McpWsSetup {
    /// Bit 0: messages limited to `64 + limit * 4` bytes; bit 1: one
    /// entry per page; bit 2: requests to the client time out after
    /// 100 ms; bit 3: a keep-alive ping after 1 s of silence.
    pub flags: u8,
    /// The message limit's extra (with bit 0).
    pub limit: u8,
    /// How the second run cuts each `Feed` and `Send`.
    pub split: Split,
}

/// One step of a run.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum McpWsOp {
    /// A client message as a text message: whole (`0`), or in
    /// `pieces % 4 + 1` fragments with a ping after the first when
    /// `pieces >= 4`.
    Send(ClientMsg, u8),
    /// A binary message from the client.
    Binary(u8),
    /// A ping from the client.
    Ping(u8),
    /// The client's close frame.
    Close(u8),
    /// The next `n % 512 + 1` bytes of the wire.
    Feed(u16),
    /// Move time by `n * 10` ms and fire due timers.
    Time(u16),
    /// The application answers the `n`-th request it holds (an error when
    /// `false`).
    Answer(u8, bool),
    /// Progress for the `n`-th request held (its token, or a stranger's).
    Progress(u8, u8),
    /// A log message at a level.
    Log(u8),
    /// The server pings the client.
    PingClient,
    /// The catalogue changes: a tool removed or added.
    Catalogue(bool),
    /// The server closes the connection.
    ServerClose,
    /// End of input.
    Eof,
}

/// The MCP WebSocket server target.
pub fn mcp_ws(data: &[u8]) {
    let (prog, wire) = split_input(data);
    let mut u = Unstructured::new(prog);
    let Ok(setup) = McpWsSetup::arbitrary(&mut u) else {
        return;
    };
    let mut ops = Vec::new();
    while !u.is_empty() && ops.len() < MAX_OPS {
        match McpWsOp::arbitrary(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    let whole = run(&setup, &ops, wire, false);
    let split = run(&setup, &ops, wire, true);
    assert_eq!(
        whole.log, split.log,
        "split run differs in events or results"
    );
    assert_eq!(whole.output, split.output, "split run differs in output");
}

fn config(setup: &McpWsSetup) -> (wirestate_mcp::Config, WsConfig) {
    let mut session = wirestate_mcp::Config::new(Implementation::new("fuzz", "1"));
    if setup.flags & 2 != 0 {
        session.page_size = 1;
    }
    if setup.flags & 4 != 0 {
        session.jsonrpc.request_timeout = Some(std::time::Duration::from_millis(100));
    }
    let mut ws = WsConfig::default();
    if setup.flags & 1 != 0 {
        let max = 64 + usize::from(setup.limit) * 4;
        ws.connection.max_message_size = max;
        ws.connection.max_frame_size = max;
    }
    if setup.flags & 8 != 0 {
        ws.connection.keepalive_interval = Some(std::time::Duration::from_secs(1));
    }
    (session, ws)
}

struct Run {
    log: Vec<String>,
    output: Vec<u8>,
}

struct State {
    server: WsServer,
    clock: Clock,
    split: Option<Split>,
    /// Writes the client's frames.
    client: Connection,
    /// Decodes the server's input as the server does, for request ids.
    model: Connection,
    /// Reads the server's output.
    reader: Connection,
    /// The application, and the ledger of ids.
    app: App,
    /// The server failed (sticky).
    failed: bool,
    /// A binary message was among the client's messages.
    binary: bool,
    /// The model's connection saw a close frame (or failed).
    model_closed: bool,
    /// A binary message reached the server while it was open and before
    /// any close: its close frame must be 1003.
    expect_1003: bool,
    /// The server's close frame was read.
    close_read: Option<u16>,
    closed_seen: bool,
    output: Vec<u8>,
}

impl State {
    /// The client's frames for what was just queued on `client`.
    fn client_bytes(&mut self) -> Vec<u8> {
        let mut v = Vec::new();
        while let Some(t) = self.client.poll_transmit() {
            if let Transmit::Bytes(b) = t {
                v.extend_from_slice(&b);
            }
        }
        v
    }

    fn feed(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let pieces = match self.split {
            Some(s) => s.pieces(bytes),
            None => vec![bytes],
        };
        for piece in pieces {
            let open_before = self.server.connection().is_open() && !self.failed;
            if !self.model_closed {
                if self.model.handle_input(self.clock.now, piece).is_err() {
                    self.model_closed = true;
                }
                while let Some(e) = self.model.poll_event() {
                    match e {
                        Event::Message(Message::Text(t)) if !self.binary => {
                            self.app.client_sent(t.as_bytes());
                        }
                        Event::Message(Message::Binary(_)) => {
                            if open_before && !self.binary && !self.model_closed {
                                self.expect_1003 = true;
                            }
                            self.binary = true;
                        }
                        Event::Close(_) | Event::Error(_) => self.model_closed = true,
                        _ => {}
                    }
                }
            }
            let r = self.server.handle_input(self.clock.now, piece);
            // Events first: those of frames before the failing one are
            // drained after an earlier piece when the input is cut.
            self.drain();
            match r {
                Ok(()) => assert!(!self.failed, "handle_input succeeded after failing"),
                Err(e) => {
                    // Logged once: how many pieces follow depends on the
                    // cutting.
                    if !self.failed {
                        self.app.log.push(format!("input error: {e}"));
                    }
                    self.failed = true;
                }
            }
        }
    }

    fn drain(&mut self) {
        let was_closed = self.server.is_closed();
        while let Some(t) = self.server.poll_transmit() {
            assert!(!was_closed, "output after closed");
            match t {
                Transmit::Bytes(b) => {
                    self.read_output(&b);
                    self.output.extend_from_slice(&b);
                }
                Transmit::Shutdown => self.output.extend_from_slice(b"<shutdown>"),
            }
        }
        while let Some(e) = self.server.poll_event() {
            if let ServerEvent::Closed { .. } = &e {
                self.app.held.clear();
            }
            self.app.event(&e);
        }
        if self.server.is_closed() && !self.closed_seen {
            self.closed_seen = true;
            self.app.log.push("closed".into());
        }
    }

    /// Checks the server's output as a client reads it.
    fn read_output(&mut self, bytes: &[u8]) {
        let r = self.reader.handle_input(self.clock.now, bytes);
        assert!(r.is_ok(), "the server's output does not decode: {r:?}");
        while let Some(e) = self.reader.poll_event() {
            assert!(
                self.close_read.is_none(),
                "a frame after the close frame: {e:?}"
            );
            match e {
                Event::Message(Message::Text(t)) => {
                    self.app.server_sent(t.as_bytes());
                }
                Event::Message(Message::Binary(b)) => panic!("a binary message: {b:?}"),
                Event::Close(frame) => {
                    let code = frame.map_or(close_code::NO_STATUS, |f| f.code);
                    self.close_read = Some(code);
                }
                Event::Ping(_) | Event::Pong(_) => {}
                Event::Fragment { .. } | Event::Error(_) => panic!("unexpected {e:?}"),
            }
        }
        // The reader's own answers (pongs, the close echo) go nowhere.
        while self.reader.poll_transmit().is_some() {}
    }

    fn op(&mut self, op: McpWsOp, wire: &mut Wire<'_>) {
        match op {
            McpWsOp::Send(msg, pieces) => {
                let text = msg.json(&self.app.server_requests);
                if self.client.is_open() {
                    let n = usize::from(pieces % 4) + 1;
                    if n == 1 {
                        let _ = self.client.send_text(text);
                    } else {
                        // Cut on character boundaries.
                        let chars: Vec<char> = text.chars().collect();
                        let per = chars.len().div_ceil(n).max(1);
                        let parts: Vec<String> =
                            chars.chunks(per).map(|c| c.iter().collect()).collect();
                        let last = parts.len().saturating_sub(1);
                        for (i, p) in parts.into_iter().enumerate() {
                            let _ = self.client.send_fragment(
                                MessageKind::Text,
                                Bytes::from(p),
                                i == last,
                            );
                            if i == 0 && pieces >= 4 {
                                let _ = self.client.ping(Bytes::from_static(b"mid"));
                            }
                        }
                    }
                }
                let bytes = self.client_bytes();
                self.feed(&bytes);
            }
            McpWsOp::Binary(n) => {
                let _ = self
                    .client
                    .send_binary(Bytes::from(vec![n; usize::from(n % 8)]));
                let bytes = self.client_bytes();
                self.feed(&bytes);
            }
            McpWsOp::Ping(n) => {
                let _ = self.client.ping(Bytes::from(vec![n; usize::from(n % 8)]));
                let bytes = self.client_bytes();
                self.feed(&bytes);
            }
            McpWsOp::Close(c) => {
                let code =
                    [close_code::NORMAL, close_code::GOING_AWAY, 4000, 1002][usize::from(c % 4)];
                let _ = self.client.close(self.clock.now, code, "bye");
                let bytes = self.client_bytes();
                self.feed(&bytes);
            }
            McpWsOp::Feed(n) => {
                let bytes = wire.peek(n % 512 + 1);
                wire.advance(bytes.len());
                self.feed(bytes);
            }
            McpWsOp::Time(n) => tick(&mut self.server, &mut self.clock, n),
            McpWsOp::Answer(n, ok) => self.act(Act::Answer(n, ok)),
            McpWsOp::Progress(n, t) => self.act(Act::Progress(n, t)),
            McpWsOp::Log(l) => self.act(Act::Log(l)),
            McpWsOp::PingClient => self.act(Act::Ping),
            McpWsOp::Catalogue(add) => self.act(Act::Catalogue(add)),
            McpWsOp::ServerClose => {
                let r = self
                    .server
                    .close(self.clock.now, close_code::NORMAL, "done");
                self.app.log.push(format!("close: {r:?}"));
            }
            McpWsOp::Eof => self.eof(),
        }
        self.drain();
    }

    fn act(&mut self, act: Act) {
        self.app.act(self.server.session_mut(), self.clock.now, act);
    }

    fn eof(&mut self) {
        let r = self.server.handle_eof(self.clock.now);
        self.app.log.push(format!("eof: {r:?}"));
        assert!(!self.server.wants_read(), "wants_read after EOF");
    }
}

fn run(setup: &McpWsSetup, ops: &[McpWsOp], wire: &[u8], split: bool) -> Run {
    let (session, ws) = config(setup);
    let mut server = WsServer::server(session, ws.clone());
    let s = server.session_mut();
    s.add_tool(super::mcp::tool());
    s.add_resource(super::mcp::resource());
    s.add_prompt(super::mcp::prompt());
    let mut model_config = ws.connection.clone();
    model_config.streaming = false;
    let mut st = State {
        server,
        clock: Clock::new(),
        split: split.then_some(setup.split),
        client: Connection::client(wirestate_ws::Config::default(), entropy()),
        model: Connection::server(model_config),
        reader: Connection::client(wirestate_ws::Config::default(), entropy()),
        app: App::default(),
        failed: false,
        binary: false,
        model_closed: false,
        expect_1003: false,
        close_read: None,
        closed_seen: false,
        output: Vec::new(),
    };
    let now = st.clock.now;
    st.server.start(now);
    let mut wire = Wire::new(wire);
    for &op in ops {
        st.op(op, &mut wire);
    }
    if !wire.is_empty() {
        let rest = wire.peek(0);
        wire.advance(rest.len());
        st.feed(rest);
    }
    st.eof();
    st.drain();
    if st.expect_1003 {
        assert_eq!(
            st.close_read,
            Some(close_code::UNSUPPORTED),
            "a binary message not answered with 1003"
        );
    }
    Run {
        log: st.app.log,
        output: st.output,
    }
}

/// The hand-made seeds of `mcp_ws`: a session of text messages (one
/// fragmented around a ping), garbage, a binary message; and a session
/// the client closes.
pub fn mcp_ws_seeds() -> Vec<(&'static str, Vec<u8>)> {
    // No program (the default setup, no ops): the wire, fed at the end,
    // holds the client's frames.
    let frames = |texts: &[&str], binary: bool, close: bool| {
        let mut c = Connection::client(wirestate_ws::Config::default(), entropy());
        for t in texts {
            let _ = c.send_text(t.to_string());
        }
        if binary {
            let _ = c.send_binary(Bytes::from_static(b"\x00\xff"));
        }
        if close {
            let _ = c.close(std::time::Instant::now(), close_code::NORMAL, "bye");
        }
        let mut v = vec![0, 0];
        while let Some(t) = c.poll_transmit() {
            if let Transmit::Bytes(b) = t {
                v.extend_from_slice(&b);
            }
        }
        v
    };
    let session = [
        r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"roots":{"listChanged":true}},"clientInfo":{"name":"c","version":"1"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"},"_meta":{"progressToken":2}}}"#,
        r#"{"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"file:///notes.txt"}}"#,
        "{not json",
        r#"[{"jsonrpc":"2.0","id":7,"method":"ping"},{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"nope"}}]"#,
    ];
    vec![
        ("session", frames(&session, false, false)),
        ("binary", frames(&session[..3], true, false)),
        ("closed", frames(&session[..2], false, true)),
    ]
}
