//! The WebSocket transport: text messages in and out, -32700 for
//! malformed JSON, 1003 for binary messages, 1009 over the limit, the
//! close handshake, a client/server pair, and split invariance.
#![cfg(feature = "ws")]

use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use wirestate_machine::{Machine, Transmit};
use wirestate_mcp::schema::{CallToolResult, Implementation, Tool};
use wirestate_mcp::websocket::{WsClient, WsConfig, WsServer};
use wirestate_mcp::{ClientConfig, ClientEvent, ClientResult, Config, Era, ServerEvent};
use wirestate_testkit::{Pair, SeededEntropy, assert_split_invariant, cuts};
use wirestate_ws::{Connection, Event, Message, close_code};

const MAX: usize = 1024;

fn server() -> WsServer {
    let mut ws = WsConfig::default();
    ws.connection.max_message_size = MAX;
    let mut s = WsServer::server(Config::new(Implementation::new("t", "1")), ws);
    s.session_mut().add_tool(Tool::new("echo", Map::new()));
    s
}

/// A peer that writes client frames (masked) and reads the server's.
fn peer() -> Connection {
    Connection::client(wirestate_ws::Config::default(), SeededEntropy::new(9))
}

fn out(c: &mut Connection) -> Vec<u8> {
    let mut v = Vec::new();
    while let Some(t) = c.poll_transmit() {
        if let Transmit::Bytes(b) = t {
            v.extend_from_slice(&b);
        }
    }
    v
}

fn text(c: &mut Connection, v: &Value) -> Vec<u8> {
    c.send_text(v.to_string()).unwrap();
    out(c)
}

/// Answers every tool call with its arguments as text.
fn react(s: &mut WsServer, e: &ServerEvent) {
    if let ServerEvent::CallTool { id, params } = e {
        let text = serde_json::to_string(&params.arguments).unwrap();
        s.session_mut()
            .respond_call_tool(id, CallToolResult::text(text))
            .unwrap();
    }
}

fn drain(s: &mut WsServer) -> Vec<u8> {
    let mut v = Vec::new();
    loop {
        let mut any = false;
        while let Some(e) = s.poll_event() {
            react(s, &e);
            any = true;
        }
        while let Some(t) = s.poll_transmit() {
            if let Transmit::Bytes(b) = t {
                v.extend_from_slice(&b);
            }
            any = true;
        }
        if !any {
            return v;
        }
    }
}

/// What the server sent, as the peer reads it.
fn read(c: &mut Connection, bytes: &[u8]) -> Vec<Event> {
    let now = Instant::now();
    let _ = c.handle_input(now, bytes);
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn json_of(e: &Event) -> Value {
    match e {
        Event::Message(Message::Text(t)) => serde_json::from_str(t.as_str()).unwrap(),
        other => panic!("not a text message: {other:?}"),
    }
}

fn init() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "c", "version": "1"}}})
}

#[test]
fn one_json_rpc_message_per_text_message() {
    let now = Instant::now();
    let mut s = server();
    let mut c = peer();
    let mut input = text(&mut c, &init());
    input.extend(text(
        &mut c,
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    ));
    input.extend(text(
        &mut c,
        &json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
    ));
    input.extend(text(
        &mut c,
        &json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                "params": {"name": "echo", "arguments": {"x": 1}}}),
    ));
    s.handle_input(now, &input).unwrap();
    let events = read(&mut c, &drain(&mut s));
    assert_eq!(events.len(), 3, "{events:?}");
    let a = json_of(&events[0]);
    assert_eq!(a["id"], 1);
    assert_eq!(a["result"]["protocolVersion"], "2025-06-18");
    let b = json_of(&events[1]);
    assert_eq!(b["result"]["tools"][0]["name"], "echo");
    let d = json_of(&events[2]);
    assert_eq!(d["id"], 3);
    assert_eq!(d["result"]["content"][0]["text"], r#"{"x":1}"#);
    assert!(s.connection().is_open());
}

#[test]
fn malformed_json_is_answered_and_the_socket_stays_open() {
    let now = Instant::now();
    let mut s = server();
    let mut c = peer();
    c.send_text("{not json").unwrap();
    let mut input = out(&mut c);
    input.extend(text(
        &mut c,
        &json!({"jsonrpc": "1.0", "id": 7, "method": "ping"}),
    ));
    input.extend(text(&mut c, &init()));
    s.handle_input(now, &input).unwrap();
    let events = read(&mut c, &drain(&mut s));
    assert_eq!(events.len(), 3, "{events:?}");
    let parse = json_of(&events[0]);
    assert_eq!(parse["error"]["code"], -32700);
    assert_eq!(parse["id"], Value::Null);
    assert_eq!(json_of(&events[1])["error"]["code"], -32600);
    assert_eq!(json_of(&events[2])["id"], 1);
    assert!(s.connection().is_open());
}

#[test]
fn a_binary_message_is_answered_with_close_1003() {
    let now = Instant::now();
    let mut s = server();
    let mut c = peer();
    let mut input = text(&mut c, &init());
    c.send_binary(Bytes::from_static(b"\x00\x01")).unwrap();
    input.extend(out(&mut c));
    // A request after the binary message is not served.
    input.extend(text(
        &mut c,
        &json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}),
    ));
    s.handle_input(now, &input).unwrap();
    let mut closed = false;
    while let Some(e) = s.poll_event() {
        closed |= matches!(e, ServerEvent::Closed { .. });
    }
    assert!(closed, "the session ends with the connection");
    let events = read(&mut c, &drain(&mut s));
    assert_eq!(
        json_of(&events[0])["id"],
        1,
        "the answer before goes out first"
    );
    match &events[1] {
        Event::Close(Some(f)) => {
            assert_eq!(f.code, close_code::UNSUPPORTED);
            assert_eq!(f.reason.as_str(), "MCP messages are text");
        }
        other => panic!("expected the close frame, got {other:?}"),
    }
    assert_eq!(events.len(), 2, "{events:?}");
    // The peer's echo completes the handshake.
    let echo = out(&mut c);
    s.handle_input(now, &echo).unwrap();
    s.handle_eof(now).unwrap();
    assert!(drain(&mut s).is_empty());
    assert!(s.is_closed());
}

#[test]
fn a_message_over_the_limit_closes_with_1009() {
    let now = Instant::now();
    let mut s = server();
    let mut c = peer();
    let big =
        json!({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "x".repeat(MAX)}});
    let input = text(&mut c, &big);
    let err = s.handle_input(now, &input).unwrap_err();
    assert_eq!(err.close_code(), Some(close_code::TOO_BIG));
    let events = read(&mut c, &drain(&mut s));
    assert!(
        matches!(&events[..], [Event::Close(Some(f))] if f.code == close_code::TOO_BIG),
        "{events:?}"
    );
    // Sticky.
    assert!(s.handle_input(now, b"\x81").is_err());
}

#[test]
fn the_answer_precedes_the_close_echo() {
    let now = Instant::now();
    let mut s = server();
    let mut c = peer();
    let mut input = text(&mut c, &init());
    c.close(now, close_code::NORMAL, "bye").unwrap();
    input.extend(out(&mut c));
    s.handle_input(now, &input).unwrap();
    let events = read(&mut c, &drain(&mut s));
    assert_eq!(json_of(&events[0])["id"], 1);
    assert!(matches!(&events[1], Event::Close(Some(f)) if f.code == close_code::NORMAL));
    s.handle_eof(now).unwrap();
    assert!(s.is_closed());
    // Output queued once the connection is closed is dropped.
    let _ = s
        .session_mut()
        .log(wirestate_mcp::schema::LoggingLevel::Error, None, json!("x"));
    assert!(s.poll_transmit().is_none());
}

#[test]
fn a_close_abandons_our_requests() {
    let now = Instant::now();
    let mut s = server();
    let mut c = peer();
    let mut input = text(&mut c, &init());
    input.extend(text(
        &mut c,
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    ));
    s.handle_input(now, &input).unwrap();
    drain(&mut s);
    let ping = s.session_mut().ping(now).unwrap();
    let events = read(&mut c, &drain(&mut s));
    assert_eq!(json_of(&events[0])["method"], "ping");
    c.close(now, close_code::GOING_AWAY, "").unwrap();
    s.handle_input(now, &out(&mut c)).unwrap();
    let abandoned: Vec<_> = std::iter::from_fn(|| s.poll_event())
        .filter_map(|e| match e {
            ServerEvent::Closed { abandoned } => Some(abandoned),
            _ => None,
        })
        .collect();
    assert_eq!(abandoned, vec![vec![ping]]);
}

#[test]
fn the_transport_ending_without_a_close_frame_is_an_error() {
    let now = Instant::now();
    let mut s = server();
    let err = s.handle_eof(now).unwrap_err();
    assert_eq!(err, wirestate_ws::Error::AbnormalClosure);
    assert!(std::iter::from_fn(|| s.poll_event()).any(|e| matches!(e, ServerEvent::Closed { .. })));
}

#[test]
fn client_and_server_over_a_lossy_pipe() {
    for era in [Era::Legacy, Era::Auto] {
        lossy_pipe(era);
    }
}

/// One session of `era` (Auto discovers the server's stateless era).
fn lossy_pipe(era: Era) {
    let ws = WsConfig::default();
    let mut config = ClientConfig::default();
    config.era = era;
    let client = WsClient::client(config, ws.clone(), SeededEntropy::new(1));
    let mut server = WsServer::server(Config::new(Implementation::new("srv", "2")), ws);
    server.session_mut().add_tool(Tool::new("echo", Map::new()));
    let mut pair = Pair::new(client, server, 42, 7);
    let now = pair.now();
    pair.a
        .session_mut()
        .initialize(now, Implementation::new("cli", "1"), Default::default())
        .unwrap();
    let mut initialized = false;
    let mut listed = None;
    let mut called = None;
    // Stateless requests carry `_meta` (version, capabilities, client
    // info), so they take more 7-byte steps.
    for _ in 0..2000 {
        pair.step();
        while let Some(e) = pair.b.poll_event() {
            if let ServerEvent::CallTool { id, .. } = e {
                pair.b
                    .session_mut()
                    .respond_call_tool(&id, CallToolResult::text("done"))
                    .unwrap();
            }
        }
        while let Some(e) = pair.a.poll_event() {
            let now = pair.now();
            match e {
                ClientEvent::Initialized { .. } => {
                    initialized = true;
                    pair.a.session_mut().list_tools(now, None).unwrap();
                    pair.a
                        .session_mut()
                        .call_tool(now, "echo", Some(Map::new()))
                        .unwrap();
                }
                ClientEvent::Response { result, .. } => match *result {
                    ClientResult::ListTools(r) => listed = Some(r.tools.len()),
                    ClientResult::CallTool(r) => called = Some(r),
                    _ => {}
                },
                _ => {}
            }
        }
        if called.is_some() {
            break;
        }
    }
    assert!(initialized);
    assert_eq!(listed, Some(1));
    // The stateless era's result says `resultType: complete` besides.
    assert_eq!(
        called.map(|r| r.content),
        Some(CallToolResult::text("done").content)
    );
    assert!(pair.a_errors.is_empty() && pair.b_errors.is_empty());
    // The client closes; both ends finish the handshake.
    let now = pair.now();
    pair.a.close(now, close_code::NORMAL, "done").unwrap();
    pair.drive();
    pair.advance(Duration::from_secs(10));
    pair.drive();
    assert!(!pair.a.connection().is_open() && !pair.b.connection().is_open());
}

/// A client script: lifecycle, calls, garbage, a binary message, more
/// requests (not served), a close.
fn script() -> Vec<u8> {
    let mut c = peer();
    let mut input = text(&mut c, &init());
    input.extend(text(
        &mut c,
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    ));
    input.extend(text(
        &mut c,
        &json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"s": "h\u{e9}llo"}}}),
    ));
    c.send_text("[1, 2").unwrap();
    input.extend(out(&mut c));
    c.ping(Bytes::from_static(b"p")).unwrap();
    input.extend(out(&mut c));
    input.extend(text(
        &mut c,
        &json!([{"jsonrpc": "2.0", "id": 3, "method": "ping"}]),
    ));
    c.send_fragment(
        wirestate_ws::MessageKind::Text,
        Bytes::from_static(br#"{"jsonrpc":"2.0","#),
        false,
    )
    .unwrap();
    c.send_fragment(
        wirestate_ws::MessageKind::Text,
        Bytes::from_static(br#""id":4,"method":"ping"}"#),
        true,
    )
    .unwrap();
    input.extend(out(&mut c));
    c.send_binary(Bytes::from_static(b"\xff")).unwrap();
    input.extend(out(&mut c));
    input.extend(text(
        &mut c,
        &json!({"jsonrpc": "2.0", "id": 5, "method": "ping"}),
    ));
    input
}

fn normalize(events: Vec<ServerEvent>) -> Vec<String> {
    events.iter().map(|e| format!("{e:?}")).collect()
}

#[test]
fn the_script_is_served_up_to_the_binary_message() {
    let whole = wirestate_testkit::feed(
        server(),
        Instant::now(),
        &script(),
        &[],
        true,
        &mut react,
        &normalize,
    );
    let mut c = peer();
    let events = read(&mut c, &whole.output);
    let ids: Vec<Value> = events
        .iter()
        .filter(|e| matches!(e, Event::Message(_)))
        .map(|e| {
            let v = json_of(e);
            if v.is_array() {
                v[0]["id"].clone()
            } else {
                v["id"].clone()
            }
        })
        .collect();
    // Fed whole, the application answers the tool call (id 2) only after
    // the binary message closed the connection: that answer is dropped.
    // The batch `[ping 3]` is refused as one invalid request (id null):
    // the session negotiated 2025-06-18, which removed batches.
    assert_eq!(ids, vec![json!(1), Value::Null, Value::Null, json!(4)]);
    let codes: Vec<Value> = events
        .iter()
        .filter(|e| matches!(e, Event::Message(_)))
        .map(|e| json_of(e)["error"]["code"].clone())
        .collect();
    assert_eq!(codes[1], json!(-32700));
    assert_eq!(codes[2], json!(-32600));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Pong(p) if &p[..] == b"p"))
    );
    assert!(
        matches!(events.last(), Some(Event::Close(Some(f))) if f.code == close_code::UNSUPPORTED)
    );
}

fn no_answers(_: &mut WsServer, _: &ServerEvent) {}

/// The decoded text messages of some server output, sorted.
fn sorted_messages(output: &[u8]) -> Vec<String> {
    let mut c = peer();
    let mut v: Vec<String> = read(&mut c, output)
        .iter()
        .map(|e| format!("{e:?}"))
        .collect();
    v.sort();
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// With the application silent, events and output bytes are the same
    /// however the input is cut (pongs included: the connection's events
    /// are taken at every frame's end).
    #[test]
    fn split_invariant(cuts in cuts(script().len()), eof in any::<bool>()) {
        let input = script();
        assert_split_invariant(&server, Instant::now(), &input, &cuts, eof, &mut no_answers, &normalize);
    }

    /// With the application answering as events arrive, where its answers
    /// fall among the session's own depends on the chunking (as on a real
    /// socket); the events and the set of messages do not, as long as no
    /// close cuts answers off.
    #[test]
    fn split_invariant_with_answers(cuts in cuts(open_script().len())) {
        let input = open_script();
        let now = Instant::now();
        let every: Vec<usize> = (1..input.len()).collect();
        let whole = wirestate_testkit::feed(server(), now, &input, &[], false, &mut react, &normalize);
        for c in [&cuts[..], &every[..]] {
            let t = wirestate_testkit::feed(server(), now, &input, c, false, &mut react, &normalize);
            prop_assert_eq!(&whole.events, &t.events);
            prop_assert_eq!(sorted_messages(&whole.output), sorted_messages(&t.output));
        }
    }
}

/// [`script`] up to the binary message.
fn open_script() -> Vec<u8> {
    let mut c = peer();
    let mut input = script();
    c.send_binary(Bytes::from_static(b"\xff")).unwrap();
    let binary_at = input
        .windows(2)
        .rposition(|w| w[0] == 0x82)
        .unwrap_or(input.len());
    input.truncate(binary_at);
    let _ = out(&mut c);
    input
}
