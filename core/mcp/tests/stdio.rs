//! The stdio transport: split invariance, over-long lines, EOF.

use std::time::Instant;

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use wirestate_machine::{Machine, Transmit};
use wirestate_mcp::schema::{CallToolResult, Implementation, Tool};
use wirestate_mcp::{Config, Error, ServerEvent, StdioConfig, StdioServer};
use wirestate_testkit::{assert_split_invariant, cuts, feed};

const MAX: usize = 300;

fn server() -> StdioServer {
    let mut config = StdioConfig::new(Config::new(Implementation::new("t", "1")));
    config.max_line_len = MAX;
    let mut s = StdioServer::new(config);
    s.session_mut().add_tool(Tool::new("echo", Map::new()));
    s
}

/// Answers every tool call with the call's arguments as text.
fn react(s: &mut StdioServer, e: &ServerEvent) {
    if let ServerEvent::CallTool { id, params } = e {
        let text = serde_json::to_string(&params.arguments).unwrap();
        s.session_mut()
            .respond_call_tool(id, CallToolResult::text(text))
            .unwrap();
    }
}

fn script() -> Vec<u8> {
    let mut input = Vec::new();
    fn line_to(input: &mut Vec<u8>, v: Value, end: &str) {
        input.extend_from_slice(v.to_string().as_bytes());
        input.extend_from_slice(end.as_bytes());
    }
    macro_rules! line {
        ($v:expr, $end:expr $(,)?) => {
            line_to(&mut input, $v, $end)
        };
    }
    line!(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}}}),
        "\n",
    );
    line!(
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        "\r\n",
    );
    input.extend_from_slice(b"\n\n");
    line!(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        "\n",
    );
    line!(
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "echo", "arguments": {"s": "h\u{e9}llo\n"}}}),
        "\n",
    );
    // Over the limit: answered, and the session goes on.
    line!(
        json!({"jsonrpc": "2.0", "id": 4, "method": "ping", "params": {"pad": "x".repeat(MAX)}}),
        "\n",
    );
    input.extend_from_slice(b"{not json\n");
    line!(json!({"jsonrpc": "2.0", "id": 5, "method": "ping"}), "\n");
    // The last line has no terminator.
    line!(
        json!({"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {"name": "echo", "arguments": {}}}),
        "",
    );
    input
}

fn normalize(events: Vec<ServerEvent>) -> Vec<String> {
    events.iter().map(|e| format!("{e:?}")).collect()
}

fn lines(output: &[u8]) -> Vec<Value> {
    output
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

#[test]
fn a_whole_conversation() {
    let input = script();
    let t = feed(
        server(),
        Instant::now(),
        &input,
        &[],
        true,
        &mut react,
        &normalize,
    );
    assert!(t.error.is_none());
    assert!(t.output.ends_with(b"\n"));
    let out = lines(&t.output);
    // Fed whole, the application answers the first call after the session
    // answered the lines after it: answers keep the order they are given in.
    let ids: Vec<Value> = out.iter().map(|m| m["id"].clone()).collect();
    assert_eq!(
        ids,
        [
            json!(1),
            json!(2),
            Value::Null,
            Value::Null,
            json!(5),
            json!(3),
            json!(6)
        ]
    );
    assert_eq!(out[1]["result"]["tools"][0]["name"], "echo");
    assert_eq!(out[5]["result"]["content"][0]["text"], r#"{"s":"héllo\n"}"#);
    assert_eq!(out[2]["error"]["code"], -32007);
    assert_eq!(out[3]["error"]["code"], -32700);
    assert_eq!(out[6]["result"]["content"][0]["text"], "{}");
    assert!(t.events.iter().any(|e| e
        == &format!(
            "{:?}",
            ServerEvent::Invalid(Error::LineTooLong { max: MAX })
        )));
    assert!(t.events.last().unwrap().starts_with("Closed"));
    // Every request answered: stdout is closed after the last line.
    assert_eq!(t.shutdown_at, Some(t.output.len()));
    assert!(t.closed);
}

#[test]
fn eof_waits_for_the_answers_in_flight() {
    let now = Instant::now();
    let mut s = server();
    let mut input = script();
    input.push(b'\n');
    s.handle_input(now, &input).unwrap();
    s.handle_eof(now).unwrap();
    assert!(!s.wants_read());
    let mut calls = Vec::new();
    while let Some(e) = s.poll_event() {
        if let ServerEvent::CallTool { id, .. } = e {
            calls.push(id);
        }
    }
    let drain = |s: &mut StdioServer| {
        let mut shut = false;
        while let Some(t) = s.poll_transmit() {
            shut |= t == Transmit::Shutdown;
        }
        shut
    };
    assert!(!drain(&mut s));
    assert!(!s.is_closed());
    // Input after EOF is ignored.
    s.handle_input(now, b"{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\"}\n")
        .unwrap();
    for id in &calls {
        s.session_mut()
            .respond_call_tool(id, CallToolResult::text("late"))
            .unwrap();
    }
    assert!(drain(&mut s));
    assert!(s.is_closed());
}

#[test]
fn one_line_per_message_even_for_raw_json_with_newlines() {
    let now = Instant::now();
    let mut s = server();
    s.handle_input(now, script().split(|&b| b == b'\n').next().unwrap())
        .unwrap();
    s.handle_input(now, b"\n").unwrap();
    while s.poll_transmit().is_some() {}
    s.session_mut()
        .log(
            wirestate_mcp::schema::LoggingLevel::Error,
            None,
            json!("a\nb"),
        )
        .unwrap();
    let Some(Transmit::Bytes(b)) = s.poll_transmit() else {
        panic!()
    };
    assert_eq!(b.iter().filter(|&&c| c == b'\n').count(), 1);
    assert!(b.ends_with(b"\n"));
}

fn no_answers(_: &mut StdioServer, _: &ServerEvent) {}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// With the application silent, events and output bytes are the same
    /// however the input is cut.
    #[test]
    fn split_invariant(cuts in cuts(script().len()), eof in any::<bool>()) {
        let input = script();
        assert_split_invariant(&server, Instant::now(), &input, &cuts, eof, &mut no_answers, &normalize);
    }

    /// With the application answering as events arrive, where its answers
    /// fall among the session's own depends on the chunking (as it would
    /// on a real pipe); the events and the set of lines do not.
    #[test]
    fn split_invariant_with_answers(cuts in cuts(script().len())) {
        let input = script();
        let now = Instant::now();
        let every: Vec<usize> = (1..input.len()).collect();
        let sorted = |out: &[u8]| {
            let mut l: Vec<String> = lines(out).iter().map(Value::to_string).collect();
            l.sort();
            l
        };
        let whole = feed(server(), now, &input, &[], true, &mut react, &normalize);
        for c in [&cuts[..], &every[..]] {
            let t = feed(server(), now, &input, c, true, &mut react, &normalize);
            prop_assert_eq!(&whole.events, &t.events);
            prop_assert_eq!(sorted(&whole.output), sorted(&t.output));
            prop_assert!(t.closed);
        }
    }
}

/// Found by the `mcp_stdio` fuzz target: once the server transmitted
/// `Shutdown` (input ended, every request answered), a log message or a
/// resource update the application sends still came out as a line after
/// it. Nothing is transmitted after `Shutdown`.
#[test]
fn nothing_after_shutdown() {
    use wirestate_mcp::schema::{LoggingLevel, Resource};
    let now = Instant::now();
    let mut s = server();
    s.session_mut()
        .add_resource(Resource::new("file:///a", "a"));
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "c", "version": "1"}}});
    let sub = json!({"jsonrpc": "2.0", "id": 2, "method": "resources/subscribe",
        "params": {"uri": "file:///a"}});
    s.handle_input(now, format!("{init}\n{sub}\n").as_bytes())
        .unwrap();
    s.handle_eof(now).unwrap();
    let mut out = Vec::new();
    while let Some(t) = s.poll_transmit() {
        out.push(t);
    }
    assert_eq!(out.last(), Some(&Transmit::Shutdown));
    assert!(s.is_closed());
    assert!(s.session_mut().resource_updated("file:///a"));
    assert!(
        s.session_mut()
            .log(LoggingLevel::Error, None, json!("late"))
            .unwrap()
    );
    assert_eq!(s.poll_transmit(), None);
    assert!(s.is_closed());
}
