//! JsonCodec: round trips, errors, limits, hostile input.

use std::collections::BTreeMap;

use bytes::BytesMut;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use wirestate_codec::{Codec, CodecKind, DEFAULT_MAX_LEN, DecodeError, JsonCategory, JsonCodec};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    name: String,
    id: u64,
    delta: i32,
    ratio: f64,
    tags: Vec<String>,
    parent: Option<Box<Record>>,
    nick: Option<String>,
    attrs: BTreeMap<String, i64>,
    flag: bool,
}

fn leaf() -> impl Strategy<Value = Record> {
    (
        any::<String>(),
        any::<u64>(),
        any::<i32>(),
        // Every finite f64 (JSON has no NaN or infinity); exact thanks to
        // serde_json's `float_roundtrip` feature.
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
        prop::collection::vec(any::<String>(), 0..4),
        prop::option::of(any::<String>()),
        prop::collection::btree_map(any::<String>(), any::<i64>(), 0..4),
        any::<bool>(),
    )
        .prop_map(|(name, id, delta, ratio, tags, nick, attrs, flag)| Record {
            name,
            id,
            delta,
            ratio,
            tags,
            parent: None,
            nick,
            attrs,
            flag,
        })
}

fn record() -> impl Strategy<Value = Record> {
    (leaf(), prop::option::of(leaf())).prop_map(|(mut r, parent)| {
        r.parent = parent.map(Box::new);
        r
    })
}

proptest! {
    #[test]
    fn roundtrip(value in record()) {
        let codec = JsonCodec::new();
        let bytes = codec.encode_to_bytes(&value).unwrap();
        let back: Record = codec.decode(&bytes).unwrap();
        prop_assert_eq!(back, value);
    }

    #[test]
    fn encode_appends(prefix in prop::collection::vec(any::<u8>(), 0..16), value in record()) {
        let codec = JsonCodec::new();
        let mut buf = BytesMut::from(&prefix[..]);
        codec.encode(&value, &mut buf).unwrap();
        prop_assert_eq!(&buf[..prefix.len()], &prefix[..]);
        let back: Record = codec.decode(&buf[prefix.len()..]).unwrap();
        prop_assert_eq!(back, value);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let codec = JsonCodec::new();
        let _ = Codec::<Record>::decode(&codec, &bytes);
        let _ = Codec::<serde_json::Value>::decode(&codec, &bytes);
        let _ = Codec::<Vec<Option<u8>>>::decode(&codec, &bytes);
    }

    #[test]
    fn mutated_encodings_never_panic(
        value in record(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let codec = JsonCodec::new();
        let mut bytes = codec.encode_to_bytes(&value).unwrap().to_vec();
        for (i, b) in flips {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        let _ = Codec::<Record>::decode(&codec, &bytes);
    }

    #[test]
    fn limit_is_exact(value in record()) {
        let bytes = JsonCodec::new().encode_to_bytes(&value).unwrap();
        let at = JsonCodec::with_max_len(bytes.len());
        prop_assert_eq!(Codec::<Record>::decode(&at, &bytes).unwrap(), value);
        let below = JsonCodec::with_max_len(bytes.len() - 1);
        let err = Codec::<Record>::decode(&below, &bytes).unwrap_err();
        prop_assert_eq!(
            err,
            DecodeError::TooLarge { codec: CodecKind::Json, len: bytes.len(), max: bytes.len() - 1 }
        );
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Small {
    a: u8,
}

#[test]
fn defaults() {
    let codec = JsonCodec::default();
    assert_eq!(codec, JsonCodec::new());
    assert_eq!(codec.max_len(), DEFAULT_MAX_LEN);
    assert_eq!(DEFAULT_MAX_LEN, 16 * 1024 * 1024);
    assert_eq!(JsonCodec::with_max_len(5).max_len(), 5);
    assert_eq!(Codec::<Small>::content_type(&codec), "application/json");
    assert_eq!(JsonCodec::CONTENT_TYPE, "application/json");
}

#[test]
fn exact_encoding() {
    let bytes = JsonCodec::new().encode_to_bytes(&Small { a: 3 }).unwrap();
    assert_eq!(&bytes[..], br#"{"a":3}"#);
}

#[test]
fn whitespace_around_the_value_is_fine() {
    let v: Small = JsonCodec::new().decode(b" \n{ \"a\" : 1 }\r\n\t ").unwrap();
    assert_eq!(v, Small { a: 1 });
}

#[test]
fn trailing_garbage_is_a_syntax_error() {
    for input in [&br#"{"a":1}x"#[..], br#"{"a":1}{"a":2}"#, br#"{"a":1} 1"#] {
        let err = Codec::<Small>::decode(&JsonCodec::new(), input).unwrap_err();
        match err {
            DecodeError::Json {
                category, message, ..
            } => {
                assert_eq!(category, JsonCategory::Syntax, "{input:?}");
                assert!(message.contains("trailing"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn invalid_json_reports_position_and_category() {
    let err = Codec::<Small>::decode(&JsonCodec::new(), b"{\n  \"a\": nope}").unwrap_err();
    assert_eq!(err.codec(), CodecKind::Json);
    assert!(!err.is_too_large());
    let DecodeError::Json {
        category,
        line,
        column,
        message,
    } = err.clone()
    else {
        panic!("unexpected {err:?}");
    };
    assert_eq!(category, JsonCategory::Syntax);
    assert_eq!(line, 2);
    assert!(column > 0);
    assert!(!message.contains(" at line "), "{message}");
    let shown = err.to_string();
    assert!(shown.starts_with("json decode error: "), "{shown}");
    assert!(
        shown.ends_with(&format!(" at line 2 column {column}")),
        "{shown}"
    );
}

#[test]
fn truncated_json_is_eof() {
    let err = Codec::<Small>::decode(&JsonCodec::new(), br#"{"a":"#).unwrap_err();
    assert!(matches!(
        err,
        DecodeError::Json {
            category: JsonCategory::Eof,
            ..
        }
    ));
    let err = Codec::<Small>::decode(&JsonCodec::new(), b"").unwrap_err();
    assert!(matches!(
        err,
        DecodeError::Json {
            category: JsonCategory::Eof,
            ..
        }
    ));
}

#[test]
fn wrong_shape_is_data() {
    for input in [&br#"{"a":300}"#[..], br#"{"b":1}"#, br#"[]"#, br#""a""#] {
        let err = Codec::<Small>::decode(&JsonCodec::new(), input).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::Json {
                    category: JsonCategory::Data,
                    ..
                }
            ),
            "{input:?}: {err:?}"
        );
    }
}

#[test]
fn oversize_input_is_refused_before_parsing() {
    // Not even valid JSON: the limit is checked first.
    let input = vec![b'!'; 1025];
    let err = Codec::<Small>::decode(&JsonCodec::with_max_len(1024), &input).unwrap_err();
    assert_eq!(
        err,
        DecodeError::TooLarge {
            codec: CodecKind::Json,
            len: 1025,
            max: 1024
        }
    );
    assert!(err.is_too_large());
    assert_eq!(
        err.to_string(),
        "json decode error: input of 1025 bytes exceeds the limit of 1024 bytes"
    );
    // A zero limit accepts only empty input (which is itself invalid JSON).
    let err = Codec::<Small>::decode(&JsonCodec::with_max_len(0), b"1").unwrap_err();
    assert!(err.is_too_large());
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let mut input = vec![b'['; 100_000];
    input.extend(vec![b']'; 100_000]);
    let err = Codec::<serde_json::Value>::decode(&JsonCodec::new(), &input).unwrap_err();
    assert!(matches!(err, DecodeError::Json { .. }), "{err:?}");
}

#[test]
fn unencodable_value_is_an_error_and_leaves_dst_alone() {
    // JSON object keys must be strings.
    let mut map = BTreeMap::new();
    map.insert(vec![1u8], 1u8);
    let codec = JsonCodec::new();
    let mut dst = BytesMut::from(&b"keep"[..]);
    let err = codec.encode(&map, &mut dst).unwrap_err();
    assert_eq!(err.codec(), CodecKind::Json);
    assert!(err.to_string().starts_with("json encode error: "), "{err}");
    assert_eq!(&dst[..], b"keep");

    // Fails after part of the output was written: still rolled back.
    let nested = vec![BTreeMap::new(), map];
    let err = codec.encode(&nested, &mut dst).unwrap_err();
    assert_eq!(err.codec(), CodecKind::Json);
    assert_eq!(&dst[..], b"keep");
}

#[test]
fn works_through_references_and_trait_objects() {
    let codec = JsonCodec::new();
    let by_ref: &dyn Codec<Small> = &codec;
    let bytes = (&by_ref).encode_to_bytes(&Small { a: 9 }).unwrap();
    assert_eq!(by_ref.decode(&bytes), Ok(Small { a: 9 }));
    assert_eq!(
        Codec::<Small>::content_type(&&codec),
        Codec::<Small>::content_type(&codec)
    );
}
