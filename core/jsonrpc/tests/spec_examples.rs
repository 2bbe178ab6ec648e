//! Every example of the JSON-RPC 2.0 specification's "Examples" section
//! (<https://www.jsonrpc.org/specification#examples>), fed to a [`Peer`]
//! serving the methods the examples use; the answers are compared with the
//! specification's as parsed JSON. Plus ids of any size echoed byte for
//! byte.

use std::time::Instant;

use serde_json::Value;
use wirestate_jsonrpc::{ErrorObject, Event, Peer, RawJson, Request};

/// The methods of the examples: `subtract` (positional or named),
/// `sum`, `get_data`; the notifications `update`, `foobar`,
/// `notify_hello`, `notify_sum`; anything else is not found.
fn serve(peer: &mut Peer) {
    while let Some(event) = peer.poll_event() {
        match event {
            Event::Request(r) => {
                let answer = call(&r);
                match answer {
                    Ok(v) => peer.respond(&r.id, RawJson::from_serialize(&v).unwrap()),
                    Err(e) => peer.respond_error(&r.id, e),
                }
                .unwrap();
            }
            Event::Notification(n) => {
                assert!(
                    ["update", "foobar", "notify_hello", "notify_sum"].contains(&n.method.as_str())
                );
            }
            Event::Invalid(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn call(r: &Request) -> Result<Value, ErrorObject> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Subtract {
        Positional(i64, i64),
        Named { minuend: i64, subtrahend: i64 },
    }
    match r.method.as_str() {
        "subtract" => Ok(match r.params::<Subtract>()? {
            Subtract::Positional(a, b) => (a - b).into(),
            Subtract::Named {
                minuend,
                subtrahend,
            } => (minuend - subtrahend).into(),
        }),
        "sum" => Ok(r.params::<Vec<i64>>()?.iter().sum::<i64>().into()),
        "get_data" => Ok(serde_json::json!(["hello", 5])),
        _ => Err(ErrorObject::method_not_found()),
    }
}

/// Sends `input` to a fresh server and returns what it answered.
fn exchange(input: &str) -> Vec<Value> {
    let mut server = Peer::default();
    let _ = server.handle_message(Instant::now(), input.as_bytes());
    serve(&mut server);
    std::iter::from_fn(|| server.poll_message())
        .map(|m| serde_json::from_slice(&m).expect("the answer is JSON"))
        .collect()
}

/// `input` is answered with exactly `expected` (one message), or with
/// nothing.
fn check(input: &str, expected: Option<&str>) {
    let answers = exchange(input);
    match expected {
        None => assert!(answers.is_empty(), "{input}: answered {answers:?}"),
        Some(expected) => {
            let expected: Value = serde_json::from_str(expected).unwrap();
            assert_eq!(answers, vec![expected], "{input}");
        }
    }
}

#[test]
fn positional_parameters() {
    check(
        r#"{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}"#,
        Some(r#"{"jsonrpc": "2.0", "result": 19, "id": 1}"#),
    );
    check(
        r#"{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}"#,
        Some(r#"{"jsonrpc": "2.0", "result": -19, "id": 2}"#),
    );
}

#[test]
fn named_parameters() {
    check(
        r#"{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}"#,
        Some(r#"{"jsonrpc": "2.0", "result": 19, "id": 3}"#),
    );
    check(
        r#"{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4}"#,
        Some(r#"{"jsonrpc": "2.0", "result": 19, "id": 4}"#),
    );
}

#[test]
fn notifications() {
    check(
        r#"{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}"#,
        None,
    );
    check(r#"{"jsonrpc": "2.0", "method": "foobar"}"#, None);
}

#[test]
fn non_existent_method() {
    check(
        r#"{"jsonrpc": "2.0", "method": "foobar", "id": "1"}"#,
        Some(
            r#"{"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "1"}"#,
        ),
    );
}

#[test]
fn invalid_json() {
    check(
        r#"{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]"#,
        Some(
            r#"{"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null}"#,
        ),
    );
}

#[test]
fn invalid_request_object() {
    check(
        r#"{"jsonrpc": "2.0", "method": 1, "params": "bar"}"#,
        Some(
            r#"{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}"#,
        ),
    );
}

#[test]
fn batch_invalid_json() {
    check(
        r#"[
  {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
  {"jsonrpc": "2.0", "method"
]"#,
        Some(
            r#"{"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null}"#,
        ),
    );
}

#[test]
fn empty_array() {
    check(
        "[]",
        Some(
            r#"{"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}"#,
        ),
    );
}

#[test]
fn invalid_batch_not_empty() {
    check(
        "[1]",
        Some(
            r#"[
  {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}
]"#,
        ),
    );
}

#[test]
fn invalid_batch() {
    check(
        "[1,2,3]",
        Some(
            r#"[
  {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},
  {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},
  {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}
]"#,
        ),
    );
}

const BATCH: &str = r#"[
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
    ]"#;

const BATCH_ANSWER: &str = r#"[
        {"jsonrpc": "2.0", "result": 7, "id": "1"},
        {"jsonrpc": "2.0", "result": 19, "id": "2"},
        {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},
        {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "5"},
        {"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"}
    ]"#;

#[test]
fn batch() {
    check(BATCH, Some(BATCH_ANSWER));
}

/// The answers to a batch keep the order of its entries whatever the
/// order of answering, and go out only once every request is answered.
#[test]
fn batch_answered_out_of_order() {
    let mut server = Peer::default();
    server
        .handle_message(Instant::now(), BATCH.as_bytes())
        .unwrap_err();
    let mut requests = Vec::new();
    while let Some(event) = server.poll_event() {
        if let Event::Request(r) = event {
            requests.push(r);
        }
    }
    assert_eq!(requests.len(), 4);
    for r in requests.iter().rev() {
        assert_eq!(server.poll_message(), None, "answered before the last");
        match call(r) {
            Ok(v) => server.respond(&r.id, RawJson::from_serialize(&v).unwrap()),
            Err(e) => server.respond_error(&r.id, e),
        }
        .unwrap();
    }
    let answer: Value = serde_json::from_slice(&server.poll_message().unwrap()).unwrap();
    assert_eq!(answer, serde_json::from_str::<Value>(BATCH_ANSWER).unwrap());
    assert_eq!(server.poll_message(), None);
}

#[test]
fn batch_of_notifications() {
    check(
        r#"[
        {"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}
    ]"#,
        None,
    );
}

/// Ids are echoed exactly as the peer wrote them, whatever their size,
/// in results, in errors the application sends, and in -32600 answers.
#[test]
fn big_number_ids_are_echoed_byte_exact() {
    let now = Instant::now();
    for id in [
        "12345678901234567890123",
        "-1",
        "0",
        "-0",
        "18446744073709551616",
        "-98765432109876543210987654321098765432109876543210",
    ] {
        let mut server = Peer::default();
        let request = format!(r#"{{"jsonrpc":"2.0","method":"get_data","id":{id}}}"#);
        server.handle_message(now, request.as_bytes()).unwrap();
        serve(&mut server);
        let answer = server.poll_message().unwrap();
        assert_eq!(
            std::str::from_utf8(&answer).unwrap(),
            format!(r#"{{"jsonrpc":"2.0","id":{id},"result":["hello",5]}}"#)
        );

        let request = format!(r#"{{"jsonrpc":"2.0","method":"nope","id":{id}}}"#);
        server.handle_message(now, request.as_bytes()).unwrap();
        serve(&mut server);
        let answer = server.poll_message().unwrap();
        assert_eq!(
            std::str::from_utf8(&answer).unwrap(),
            format!(
                r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32601,"message":"Method not found"}}}}"#
            )
        );

        let request = format!(r#"{{"jsonrpc":"2.0","method":7,"id":{id}}}"#);
        server.handle_message(now, request.as_bytes()).unwrap_err();
        let answer = server.poll_message().unwrap();
        assert_eq!(
            std::str::from_utf8(&answer).unwrap(),
            format!(
                r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32600,"message":"Invalid Request"}}}}"#
            )
        );
    }
}

/// String ids come back as the same string.
#[test]
fn string_ids_are_echoed() {
    let answers = exchange(r#"{"jsonrpc":"2.0","method":"get_data","id":"a\"\u00e9\n"}"#);
    assert_eq!(
        answers,
        vec![serde_json::json!({"jsonrpc":"2.0","id":"a\"é\n","result":["hello",5]})]
    );
}
