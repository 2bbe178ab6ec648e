//! The MCP client session ([`ClientSession`]) against a hostile server:
//! the input is what the server says, one JSON-RPC message per line, with
//! the application's commands in between.
//!
//! # Input layout
//!
//! ```text
//! [cfg: u8] [line] \n [line] \n ...
//! ```
//!
//! * `cfg % 3` picks the era (auto, legacy, stateless); bit 2: progress
//!   resets a request's timeout; bit 3: elicitation defaults; bit 4: a
//!   3 s cap on any request's total time.
//! * A line starting with `!` is a command: its next byte picks it (a
//!   request — ping, tools, a call, a read, a subscription, a log level,
//!   prompts —, cancelling one of ours, answering a server request with
//!   roots or an error, moving time by `100 ms * arg` and firing timers,
//!   the transport closing, `roots/list_changed`), the byte after that is
//!   its argument. Any other line is handed to
//!   [`ClientSession::handle_message`], empty ones included.
//!
//! The session sends `initialize` (or `server/discover`) first, with id 0,
//! so seeds can answer it.
//!
//! # What is checked
//!
//! No panic; every message the client sends is JSON (an object, or a
//! non-empty array); `poll_timeout` is later than `now` after
//! `handle_timeout`; events stay proportional to input and commands.

use std::time::{Duration, Instant};
use wirestate_jsonrpc::{ErrorObject, RequestId};
use wirestate_mcp::schema::{ClientCapabilities, Implementation, ListRootsResult, LoggingLevel};
use wirestate_mcp::{ClientConfig, ClientEvent, ClientSession, Era};

/// The MCP client session target.
pub fn mcp_client(data: &[u8]) {
    let Some((&cfg, rest)) = data.split_first() else {
        return;
    };
    let mut config = ClientConfig::default();
    config.era = match cfg % 3 {
        0 => Era::Auto,
        1 => Era::Legacy,
        _ => Era::Stateless,
    };
    config.progress_resets_timeout = cfg & 4 != 0;
    config.elicitation_defaults = cfg & 8 != 0;
    if cfg & 16 != 0 {
        config.max_total_timeout = Some(Duration::from_secs(3));
    }
    let mut now = Instant::now();
    let mut c = ClientSession::new(config);
    let _ = c.initialize(
        now,
        Implementation::new("fuzz", "1"),
        ClientCapabilities::default(),
    );
    let mut ours: Vec<RequestId> = Vec::new();
    let mut theirs: Vec<RequestId> = Vec::new();
    let mut read = 0usize;
    let mut events = 0usize;
    for line in rest.split(|&b| b == b'\n') {
        // Bytes read so far, the newline included.
        read += line.len() + 1;
        if let [b'!', op, arg @ ..] = line {
            let a = arg.first().copied().unwrap_or(0);
            let sent = match op % 13 {
                0 => c.ping(now),
                1 => c.list_tools(now, (a & 1 != 0).then_some("cursor")),
                2 => c.call_tool(now, "echo", None),
                3 => c.read_resource(now, "file:///a"),
                4 => c.subscribe(now, "file:///a"),
                5 => c.set_level(now, LoggingLevel::Debug),
                6 => c.list_prompts(now, None),
                7 => {
                    if let Some(id) = ours.get(usize::from(a) % ours.len().max(1)) {
                        let _ = c.cancel(id, Some("fuzz"));
                    }
                    continue_with(&mut c, &mut theirs, &mut events, read);
                    continue;
                }
                8 => {
                    if let Some(id) = theirs.pop() {
                        let _ = c.respond_roots(&id, ListRootsResult::default());
                    }
                    continue_with(&mut c, &mut theirs, &mut events, read);
                    continue;
                }
                9 => {
                    if let Some(id) = theirs.pop() {
                        let _ = c.respond_error(&id, ErrorObject::new(-32000, "no"));
                    }
                    continue_with(&mut c, &mut theirs, &mut events, read);
                    continue;
                }
                10 => {
                    now += Duration::from_millis(u64::from(a) * 100);
                    c.handle_timeout(now);
                    assert!(
                        c.poll_timeout().is_none_or(|t| t > now),
                        "a due timer left after handle_timeout"
                    );
                    continue_with(&mut c, &mut theirs, &mut events, read);
                    continue;
                }
                11 => {
                    c.handle_close();
                    continue_with(&mut c, &mut theirs, &mut events, read);
                    continue;
                }
                _ => {
                    let _ = c.notify_roots_changed();
                    continue_with(&mut c, &mut theirs, &mut events, read);
                    continue;
                }
            };
            if let Ok(id) = sent {
                ours.push(id);
            }
        } else {
            let _ = c.handle_message(now, line);
        }
        continue_with(&mut c, &mut theirs, &mut events, read);
    }
}

/// Drains and checks what the session sends and reports after a step.
fn continue_with(
    c: &mut ClientSession,
    theirs: &mut Vec<RequestId>,
    events: &mut usize,
    read: usize,
) {
    while let Some(m) = c.poll_message() {
        match serde_json::from_slice::<serde_json::Value>(&m) {
            Ok(serde_json::Value::Object(_)) => {}
            Ok(serde_json::Value::Array(a)) => assert!(!a.is_empty(), "an empty batch"),
            other => panic!("the client sent {other:?}: {m:?}"),
        }
    }
    while let Some(e) = c.poll_event() {
        *events += 1;
        match e {
            ClientEvent::ListRoots { id }
            | ClientEvent::CreateMessage { id, .. }
            | ClientEvent::Elicit { id, .. } => theirs.push(id),
            _ => {}
        }
    }
    // Each event costs the server a message (a batch item is a few dozen
    // bytes at least) or the application a command.
    assert!(*events <= 16 + read, "events out of proportion");
}
