//! The MCP stdio server ([`StdioServer`]) driven by an op list, run twice
//! to check split invariance.
//!
//! # Input layout
//!
//! Like the other connection targets:
//!
//! ```text
//! [ops_len: u16 LE] [program: ops_len bytes] [wire: the rest]
//! ```
//!
//! The program is decoded with `arbitrary`: a [`StdioSetup`] and then
//! [`StdioOp`]s. `Send` ops write a client message (mostly valid MCP,
//! [`ClientMsg`]) as one line; `Feed` ops take the next raw bytes of the
//! wire; whatever wire is left after the last op is fed at the end. The
//! application's side — answering the calls it was handed (by the id it
//! got), progress, logs, requests to the client, catalogue changes — are
//! ops too. Every run ends with EOF and the application answering what it
//! still holds. A seed of two zero bytes and some lines simply feeds them
//! to a default server.
//!
//! # What is checked
//!
//! * `handle_input` and `handle_eof` never fail; nothing panics.
//! * Every transmit is exactly one line (`\n`-terminated, no other line
//!   break) holding one JSON-RPC 2.0 message or batch, valid both as JSON
//!   and to `wirestate_jsonrpc::decode`.
//! * Responses to an id never outnumber the requests that carried it
//!   (counted from the input as the server decodes it, batches included):
//!   every request gets at most one answer.
//! * The line limit: a line longer than `max_line_len` is answered
//!   (-32007, `null` id) within the `handle_input` call that passed the
//!   limit, exactly once — so the machine never holds more than
//!   `max_line_len + 1` bytes of an unfinished line (a model
//!   `LineDecoder` fed the same pieces says when).
//! * Nothing is transmitted after `Transmit::Shutdown`, which comes
//!   exactly once, and only after EOF; once the input ended and every
//!   request handed to the application is answered, the server shuts
//!   down.
//! * `poll_timeout` is later than `now` after `handle_timeout`.
//! * Split invariance exactly as the crate documents it ("feeding the
//!   input whole, byte by byte or in any pieces gives the same events and
//!   the same output"): the run with every `Feed`/`Send` whole and the run
//!   with them cut as the setup says give the same events, the same
//!   result for every application command and the same output bytes. The
//!   application acts between ops, so this holds with it acting too.

use super::mcp::{Act, App, ClientMsg, answer};
use super::ops::{Clock, MAX_OPS, Split, Wire, split_input, tick};
use arbitrary::{Arbitrary, Unstructured};
use wirestate_codec::{LineDecoder, LineError};
use wirestate_machine::{Machine, Transmit};
use wirestate_mcp::schema::Implementation;
use wirestate_mcp::{Config, StdioConfig, StdioServer};

/// The configuration as the input chooses it (all zero: the defaults).
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub struct StdioSetup {
    /// Bit 0: a line limit of `64 + limit` bytes; bit 1: one entry per
    /// page; bit 2: requests to the client time out after 100 ms; bit 3:
    /// no default log level.
    pub flags: u8,
    /// The line limit's extra bytes (with bit 0).
    pub limit: u8,
    /// How the second run cuts each `Feed` and `Send`.
    pub split: Split,
}

/// One step of a run.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdioOp {
    /// A client message as one line (`\r\n`-terminated when `true`).
    Send(ClientMsg, bool),
    /// The next `n % 512 + 1` bytes of the wire.
    Feed(u16),
    /// Move time by `n * 10` ms and fire due timers.
    Time(u16),
    /// The application answers the `n`-th request it holds (an error when
    /// `false`).
    Answer(u8, bool),
    /// The application answers a request twice (the second must fail).
    AnswerTwice(u8),
    /// Progress for the `n`-th request held (its token, or a stranger's).
    Progress(u8, u8),
    /// A log message at a level.
    Log(u8),
    /// The server pings the client.
    Ping,
    /// The server asks for roots.
    Roots,
    /// The server cancels one of its requests.
    CancelOurs(u8),
    /// A resource changed.
    ResourceUpdated,
    /// The catalogue changes: a tool removed or added.
    Catalogue(bool),
    /// End of input.
    Eof,
}

/// The stdio MCP server target.
pub fn mcp_stdio(data: &[u8]) {
    let (prog, wire) = split_input(data);
    let mut u = Unstructured::new(prog);
    let Ok(setup) = StdioSetup::arbitrary(&mut u) else {
        return;
    };
    let mut ops = Vec::new();
    while !u.is_empty() && ops.len() < MAX_OPS {
        match StdioOp::arbitrary(&mut u) {
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

fn config(setup: &StdioSetup) -> StdioConfig {
    let mut session = Config::new(Implementation::new("fuzz", "1"));
    if setup.flags & 2 != 0 {
        session.page_size = 1;
    }
    if setup.flags & 4 != 0 {
        session.jsonrpc.request_timeout = Some(std::time::Duration::from_millis(100));
    }
    if setup.flags & 8 != 0 {
        session.default_log_level = None;
    }
    let mut c = StdioConfig::new(session);
    if setup.flags & 1 != 0 {
        c.max_line_len = 64 + usize::from(setup.limit);
    }
    c
}

struct Run {
    log: Vec<String>,
    output: Vec<u8>,
}

struct State {
    server: StdioServer,
    clock: Clock,
    split: Option<Split>,
    /// The server's input as the server decodes it.
    model: LineDecoder,
    /// Over-long lines the model saw.
    too_long: usize,
    /// Over-long lines the server answered.
    too_long_answered: usize,
    /// The application, and the ledger of ids.
    app: App,
    eof: bool,
    shutdown: bool,
    output: Vec<u8>,
}

impl State {
    fn feed(&mut self, bytes: &[u8]) {
        let pieces = match self.split {
            Some(s) => s.pieces(bytes),
            None => vec![bytes],
        };
        for piece in pieces {
            if !self.eof {
                self.model.push(piece);
                while let Some(line) = self.model.next_line() {
                    self.model_line(line);
                }
            }
            let r = self.server.handle_input(self.clock.now, piece);
            assert!(r.is_ok(), "handle_input failed: {r:?}");
            self.drain();
        }
    }

    fn model_line(&mut self, line: Result<bytes::Bytes, LineError>) {
        match line {
            Ok(l) => self.app.client_sent(&l),
            Err(_) => self.too_long += 1,
        }
    }

    fn drain(&mut self) {
        while let Some(t) = self.server.poll_transmit() {
            match t {
                Transmit::Bytes(b) => {
                    assert!(!self.shutdown, "bytes after Shutdown");
                    assert!(b.len() >= 2, "an empty line: {b:?}");
                    let (line, end) = b.split_at(b.len() - 1);
                    assert_eq!(end, b"\n", "a transmit that is not one line");
                    assert!(
                        !line.contains(&b'\n') && !line.contains(&b'\r'),
                        "a line break inside a line: {b:?}"
                    );
                    let sent = self.app.server_sent(line);
                    self.too_long_answered +=
                        sent.null_errors.iter().filter(|&&c| c == -32007).count();
                    self.output.extend_from_slice(&b);
                }
                Transmit::Shutdown => {
                    assert!(!self.shutdown, "Shutdown twice");
                    assert!(self.eof, "Shutdown before EOF");
                    self.shutdown = true;
                    self.output.extend_from_slice(b"<shutdown>");
                }
            }
        }
        assert_eq!(self.server.is_closed(), self.shutdown);
        assert_eq!(
            self.too_long_answered, self.too_long,
            "over-long lines answered {} times, {} seen",
            self.too_long_answered, self.too_long
        );
        while let Some(e) = self.server.poll_event() {
            self.app.event(&e);
        }
    }

    fn op(&mut self, op: StdioOp, wire: &mut Wire<'_>) {
        match op {
            StdioOp::Send(msg, crlf) => {
                let mut line = msg.json(&self.app.server_requests).into_bytes();
                line.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
                self.feed(&line);
            }
            StdioOp::Feed(n) => {
                let bytes = wire.peek(n % 512 + 1);
                wire.advance(bytes.len());
                self.feed(bytes);
            }
            StdioOp::Time(n) => tick(&mut self.server, &mut self.clock, n),
            StdioOp::Answer(n, ok) => self.act(Act::Answer(n, ok)),
            StdioOp::AnswerTwice(n) => self.act(Act::AnswerTwice(n)),
            StdioOp::Progress(n, t) => self.act(Act::Progress(n, t)),
            StdioOp::Log(l) => self.act(Act::Log(l)),
            StdioOp::Ping => self.act(Act::Ping),
            StdioOp::Roots => self.act(Act::Roots),
            StdioOp::CancelOurs(n) => self.act(Act::CancelOurs(n)),
            StdioOp::ResourceUpdated => self.act(Act::ResourceUpdated),
            StdioOp::Catalogue(add) => self.act(Act::Catalogue(add)),
            StdioOp::Eof => self.eof(),
        }
        self.drain();
    }

    fn act(&mut self, act: Act) {
        self.app.act(self.server.session_mut(), self.clock.now, act);
    }

    fn eof(&mut self) {
        if !self.eof {
            while let Some(line) = self.model.finish() {
                self.model_line(line);
            }
            self.eof = true;
        }
        let r = self.server.handle_eof(self.clock.now);
        assert!(r.is_ok(), "handle_eof failed: {r:?}");
        assert!(!self.server.wants_read(), "wants_read after EOF");
    }
}

fn run(setup: &StdioSetup, ops: &[StdioOp], wire: &[u8], split: bool) -> Run {
    let config = config(setup);
    let mut server = StdioServer::new(config.clone());
    let session = server.session_mut();
    session.add_tool(super::mcp::tool());
    session.add_resource(super::mcp::resource());
    session.add_prompt(super::mcp::prompt());
    let mut s = State {
        server,
        clock: Clock::new(),
        split: split.then_some(setup.split),
        model: LineDecoder::with_max_line_len(config.max_line_len),
        too_long: 0,
        too_long_answered: 0,
        app: App::default(),
        eof: false,
        shutdown: false,
        output: Vec::new(),
    };
    let mut wire = Wire::new(wire);
    for &op in ops {
        s.op(op, &mut wire);
    }
    if !wire.is_empty() {
        let rest = wire.peek(0);
        wire.advance(rest.len());
        s.feed(rest);
    }
    s.eof();
    s.drain();
    // The application answers everything it holds: the server must then
    // close.
    while let Some(h) = s.app.held.pop() {
        let r = answer(s.server.session_mut(), &h, true);
        s.app.log.push(r);
        s.drain();
    }
    assert!(
        s.server.is_closed(),
        "not closed after EOF with every request answered ({} pending)",
        s.server.session().pending_requests()
    );
    Run {
        log: s.app.log,
        output: s.output,
    }
}

/// The hand-made seeds of `mcp_stdio`: a default server fed a session's
/// lines (no ops: the wire is fed at the end, then EOF).
pub fn mcp_stdio_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let lines = |lines: &[&str]| {
        let mut v = vec![0, 0];
        v.extend_from_slice(lines.join("\n").as_bytes());
        v
    };
    vec![
        (
            "session",
            lines(&[
                r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"roots":{"listChanged":true}},"clientInfo":{"name":"c","version":"1"}}}"#,
                r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"progressToken":"t"}}}"#,
                r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"},"_meta":{"progressToken":2}}}"#,
                r#"{"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"file:///notes.txt"}}"#,
                r#"{"jsonrpc":"2.0","id":4,"method":"prompts/get","params":{"name":"greet"}}"#,
                r#"{"jsonrpc":"2.0","id":5,"method":"resources/subscribe","params":{"uri":"file:///notes.txt"}}"#,
                r#"{"jsonrpc":"2.0","id":6,"method":"logging/setLevel","params":{"level":"debug"}}"#,
                r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3,"reason":"user"}}"#,
                r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#,
                r#"[{"jsonrpc":"2.0","id":7,"method":"ping"},{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"nope"}}]"#,
            ]),
        ),
        (
            "before-initialize",
            lines(&[
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
                r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#,
                r#"{"jsonrpc":"2.0","id":3,"method":"initialize","params":{"protocolVersion":"1999-01-01","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#,
                r#"{"jsonrpc":"2.0","id":3,"method":"initialize","params":{}}"#,
                "{",
                "[]",
                "\u{feff}null\r",
            ]),
        ),
    ]
}
