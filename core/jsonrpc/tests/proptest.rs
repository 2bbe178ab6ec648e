//! Properties: every message encodes and decodes back to itself, and no
//! input — arbitrary bytes, arbitrary JSON, near-valid messages — panics or
//! goes unanswered.

use std::time::Instant;

use bytes::BytesMut;
use proptest::prelude::*;
use serde_json::Value;
use wirestate_jsonrpc::{
    Config, Decoded, ErrorCode, ErrorObject, ErrorResponse, Event, Limits, Message, Notification,
    Peer, RawJson, Request, RequestId, Response, decode, encode_batch,
};

/// JSON text for any value, with integers and fractions of any size and
/// optional spaces between tokens (kept as they are by the encoder).
fn json_text() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        "-?(0|[1-9][0-9]{0,40})(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,2})?",
    ];
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        number,
        any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        let sep = prop_oneof![Just(","), Just(", ")];
        prop_oneof![
            (prop::collection::vec(inner.clone(), 0..6), sep.clone())
                .prop_map(|(v, sep)| format!("[{}]", v.join(sep))),
            (
                prop::collection::vec((any::<String>(), inner), 0..6),
                sep,
                prop_oneof![Just(":"), Just(": ")]
            )
                .prop_map(|(v, sep, colon)| {
                    let members: Vec<String> = v
                        .into_iter()
                        .map(|(k, v)| format!("{}{colon}{v}", serde_json::to_string(&k).unwrap()))
                        .collect();
                    format!("{{{}}}", members.join(sep))
                }),
        ]
    })
}

fn raw() -> impl Strategy<Value = RawJson> {
    json_text().prop_map(|t| RawJson::from_text(t).unwrap())
}

fn params() -> impl Strategy<Value = Option<RawJson>> {
    prop::option::of(raw().prop_filter("params are structured", RawJson::is_structured))
}

fn id() -> impl Strategy<Value = RequestId> {
    prop_oneof![
        any::<i64>().prop_map(RequestId::from),
        any::<u64>().prop_map(RequestId::from),
        "-?(0|[1-9][0-9]{0,60})".prop_map(|t| RequestId::from_json(&t).unwrap()),
        any::<String>().prop_map(RequestId::from),
    ]
}

fn error_object() -> impl Strategy<Value = ErrorObject> {
    (any::<i64>(), any::<String>(), prop::option::of(raw())).prop_map(|(code, message, data)| {
        ErrorObject {
            code: ErrorCode::new(code),
            message,
            data,
        }
    })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (id(), any::<String>(), params()).prop_map(|(id, m, p)| Request::new(id, m, p).into()),
        (any::<String>(), params()).prop_map(|(m, p)| Notification::new(m, p).into()),
        (id(), raw()).prop_map(|(id, r)| Response::new(id, r).into()),
        (prop::option::of(id()), error_object())
            .prop_map(|(id, e)| ErrorResponse::new(id, e).into()),
    ]
}

fn unlimited() -> Limits {
    let mut limits = Limits::default();
    limits.max_id_len = usize::MAX;
    limits
}

/// Checks that `bytes` is one or more valid responses (what a peer
/// answers), independently of the crate's decoder.
fn assert_valid_answer(bytes: &[u8]) {
    let v: Value = serde_json::from_slice(bytes).expect("answers are JSON");
    let entries = match v {
        Value::Array(a) => {
            assert!(!a.is_empty(), "empty batch answer");
            a
        }
        other => vec![other],
    };
    for e in entries {
        let o = e.as_object().expect("an object");
        assert_eq!(o["jsonrpc"], "2.0");
        assert!(o.contains_key("id"));
        assert!(o["id"].is_null() || o["id"].is_string() || o["id"].is_number());
        assert_ne!(o.contains_key("result"), o.contains_key("error"));
        if let Some(err) = o.get("error") {
            assert!(err["code"].is_i64(), "{err}");
            assert!(err["message"].is_string(), "{err}");
        } else {
            assert!(!o["id"].is_null());
        }
        assert!(!o.contains_key("method"));
    }
    // And the crate's own decoder agrees.
    match decode(bytes.to_vec(), &unlimited()).expect("decodes") {
        Decoded::Single(m) => assert!(matches!(
            m,
            Ok(Message::Response(_) | Message::ErrorResponse(_))
        )),
        Decoded::Batch(ms) => assert!(
            ms.iter()
                .all(|m| matches!(m, Ok(Message::Response(_) | Message::ErrorResponse(_))))
        ),
    }
    assert!(!bytes.contains(&b'\n'), "a raw line break");
}

/// Feeds `input` to a peer, answers every request, and checks the
/// contract: no panic; a reply, an event, an error or a counted drop for
/// every input; valid answers only; nothing left pending.
fn feed(input: &[u8]) {
    let mut config = Config::default();
    config.max_pending_incoming = 4;
    config.limits.max_batch_len = 8;
    config.limits.max_message_size = 4096;
    let mut peer = Peer::new(config);
    let now = Instant::now();
    // Requests of ours, so that responses to ids 1 and 2 have a match.
    peer.send_request(now, "ours", None, None).unwrap();
    peer.send_request(now, "ours", None, None).unwrap();
    while peer.poll_message().is_some() {}

    let before = peer.stats();
    let result = peer.handle_message(now, input);
    let mut events = Vec::new();
    while let Some(e) = peer.poll_event() {
        if let Event::Request(r) = &e {
            peer.respond_error(&r.id, ErrorObject::method_not_found())
                .unwrap();
            assert!(peer.respond(&r.id, RawJson::null()).is_err());
        }
        events.push(e);
    }
    let answers: Vec<_> = std::iter::from_fn(|| peer.poll_message()).collect();
    assert!(
        result.is_err() || !events.is_empty() || !answers.is_empty() || peer.stats() != before,
        "input went unnoticed"
    );
    if let Err(e) = &result {
        assert!(events.contains(&Event::Invalid(e.clone())));
    }
    assert!(answers.len() <= 1, "one message, at most one answer");
    for a in &answers {
        assert_valid_answer(a);
    }
    assert_eq!(peer.pending_incoming(), 0);
    assert!(peer.pending_outgoing() <= 2);
}

/// Near-valid messages: valid envelopes with members dropped, retyped or
/// duplicated, alone or in batches.
fn near_message() -> impl Strategy<Value = String> {
    let member = prop_oneof![
        Just(r#""jsonrpc":"2.0""#.to_owned()),
        Just(r#""jsonrpc":"1.0""#.to_owned()),
        Just(r#""method":"m""#.to_owned()),
        Just(r#""method":1"#.to_owned()),
        (0u8..4).prop_map(|n| format!(r#""id":{n}"#)),
        Just(r#""id":"s""#.to_owned()),
        Just(r#""id":null"#.to_owned()),
        Just(r#""id":1.5"#.to_owned()),
        Just(r#""id":12345678901234567890123"#.to_owned()),
        json_text().prop_map(|t| format!(r#""params":{t}"#)),
        json_text().prop_map(|t| format!(r#""result":{t}"#)),
        Just(r#""error":{"code":-32000,"message":"x"}"#.to_owned()),
        json_text().prop_map(|t| format!(r#""error":{t}"#)),
        Just(r#""_meta":{}"#.to_owned()),
    ];
    let object = prop::collection::vec(member, 0..6).prop_map(|m| format!("{{{}}}", m.join(",")));
    prop_oneof![
        3 => object.clone(),
        1 => prop::collection::vec(object, 0..10).prop_map(|v| format!("[{}]", v.join(","))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn messages_round_trip(m in message()) {
        let bytes = m.to_bytes();
        let decoded = decode(bytes.clone(), &unlimited()).unwrap();
        prop_assert_eq!(decoded, Decoded::Single(Ok(m)));
        prop_assert!(!bytes.contains(&b'\n'));
        // serde_json reads the same text.
        serde_json::from_slice::<Value>(&bytes).unwrap();
    }

    #[test]
    fn batches_round_trip(ms in prop::collection::vec(message(), 1..6)) {
        let mut buf = BytesMut::new();
        encode_batch(&ms, &mut buf);
        let decoded = decode(buf.freeze(), &unlimited()).unwrap();
        prop_assert_eq!(decoded, Decoded::Batch(ms.into_iter().map(Ok).collect()));
    }

    /// Raw values with line breaks are compacted on the way out and mean
    /// the same JSON.
    #[test]
    fn line_breaks_are_compacted(text in json_text()) {
        let spread = text.replace(',', ",\n\t").replace(':', " :\r\n ");
        // Only where it stays valid (not inside strings).
        if let Ok(raw) = RawJson::from_text(spread) {
            let m: Message = Response::new(1u64, raw.clone()).into();
            let bytes = m.to_bytes();
            prop_assert!(!bytes.contains(&b'\n') && !bytes.contains(&b'\r') && !bytes.contains(&b'\t'));
            let Decoded::Single(Ok(Message::Response(r))) = decode(bytes, &unlimited()).unwrap() else {
                panic!()
            };
            prop_assert_eq!(r.result.decode::<Value>().unwrap(), raw.decode::<Value>().unwrap());
        }
    }

    #[test]
    fn arbitrary_bytes_are_answered_or_refused(input in prop::collection::vec(any::<u8>(), 0..512)) {
        feed(&input);
    }

    #[test]
    fn arbitrary_json_is_answered_or_refused(text in json_text()) {
        feed(text.as_bytes());
    }

    #[test]
    fn near_valid_messages_are_answered_or_refused(text in near_message()) {
        feed(text.as_bytes());
    }

    #[test]
    fn truncated_messages_are_answered_or_refused(m in message(), cut in any::<prop::sample::Index>()) {
        let bytes = m.to_bytes();
        feed(&bytes[..cut.index(bytes.len() + 1)]);
    }
}
