//! MsgPackCodec (feature `msgpack`): round trips, errors, limits, hostile input.
#![cfg(feature = "msgpack")]

use std::collections::BTreeMap;

use bytes::BytesMut;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use wirestate_codec::{Codec, CodecKind, DEFAULT_MAX_LEN, DecodeError, MsgPackCodec};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Shape {
    Unit,
    Circle(f64),
    Rect { w: u32, h: u32 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    name: String,
    id: u64,
    delta: i64,
    ratio: f64,
    tags: Vec<String>,
    nick: Option<String>,
    attrs: BTreeMap<String, i32>,
    shape: Shape,
    flag: bool,
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        Just(Shape::Unit),
        any::<f64>()
            .prop_filter("NaN != NaN", |f| !f.is_nan())
            .prop_map(Shape::Circle),
        (any::<u32>(), any::<u32>()).prop_map(|(w, h)| Shape::Rect { w, h }),
    ]
}

fn record() -> impl Strategy<Value = Record> {
    (
        any::<String>(),
        any::<u64>(),
        any::<i64>(),
        any::<f64>().prop_filter("NaN != NaN", |f| !f.is_nan()),
        prop::collection::vec(any::<String>(), 0..4),
        prop::option::of(any::<String>()),
        prop::collection::btree_map(any::<String>(), any::<i32>(), 0..4),
        shape(),
        any::<bool>(),
    )
        .prop_map(
            |(name, id, delta, ratio, tags, nick, attrs, shape, flag)| Record {
                name,
                id,
                delta,
                ratio,
                tags,
                nick,
                attrs,
                shape,
                flag,
            },
        )
}

proptest! {
    #[test]
    fn roundtrip(value in record()) {
        let codec = MsgPackCodec::new();
        let bytes = codec.encode_to_bytes(&value).unwrap();
        let back: Record = codec.decode(&bytes).unwrap();
        prop_assert_eq!(back, value);
    }

    #[test]
    fn encode_appends(prefix in prop::collection::vec(any::<u8>(), 0..16), value in record()) {
        let codec = MsgPackCodec::new();
        let mut buf = BytesMut::from(&prefix[..]);
        codec.encode(&value, &mut buf).unwrap();
        prop_assert_eq!(&buf[..prefix.len()], &prefix[..]);
        let back: Record = codec.decode(&buf[prefix.len()..]).unwrap();
        prop_assert_eq!(back, value);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let codec = MsgPackCodec::new();
        let _ = Codec::<Record>::decode(&codec, &bytes);
        let _ = Codec::<serde_json::Value>::decode(&codec, &bytes);
        let _ = Codec::<Vec<Option<String>>>::decode(&codec, &bytes);
    }

    #[test]
    fn mutated_encodings_never_panic(
        value in record(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let codec = MsgPackCodec::new();
        let mut bytes = codec.encode_to_bytes(&value).unwrap().to_vec();
        for (i, b) in flips {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        let _ = Codec::<Record>::decode(&codec, &bytes);
    }

    #[test]
    fn trailing_bytes_are_an_error(
        value in record(),
        extra in prop::collection::vec(any::<u8>(), 1..8),
    ) {
        let codec = MsgPackCodec::new();
        let mut bytes = codec.encode_to_bytes(&value).unwrap().to_vec();
        bytes.extend_from_slice(&extra);
        let err = Codec::<Record>::decode(&codec, &bytes).unwrap_err();
        prop_assert_eq!(
            err,
            DecodeError::Invalid {
                codec: CodecKind::MsgPack,
                message: format!("{} trailing bytes after the value", extra.len()),
            }
        );
    }

    #[test]
    fn limit_is_exact(value in record()) {
        let bytes = MsgPackCodec::new().encode_to_bytes(&value).unwrap();
        let at = MsgPackCodec::with_max_len(bytes.len());
        prop_assert_eq!(Codec::<Record>::decode(&at, &bytes).unwrap(), value);
        let below = MsgPackCodec::with_max_len(bytes.len() - 1);
        let err = Codec::<Record>::decode(&below, &bytes).unwrap_err();
        prop_assert_eq!(
            err,
            DecodeError::TooLarge {
                codec: CodecKind::MsgPack,
                len: bytes.len(),
                max: bytes.len() - 1,
            }
        );
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Point {
    x: i32,
    y: i32,
}

#[test]
fn defaults() {
    let codec = MsgPackCodec::default();
    assert_eq!(codec, MsgPackCodec::new());
    assert_eq!(codec.max_len(), DEFAULT_MAX_LEN);
    assert_eq!(MsgPackCodec::with_max_len(5).max_len(), 5);
    assert_eq!(Codec::<Point>::content_type(&codec), "application/msgpack");
    assert_eq!(MsgPackCodec::CONTENT_TYPE, "application/msgpack");
}

#[test]
fn structs_are_maps_with_field_names() {
    let bytes = MsgPackCodec::new()
        .encode_to_bytes(&Point { x: 1, y: 2 })
        .unwrap();
    assert_eq!(&bytes[..], b"\x82\xa1x\x01\xa1y\x02");
    // Interop: what another language would send for {"x": 1, "y": 2}, in any
    // key order, decodes, and so does the positional array form.
    let codec = MsgPackCodec::new();
    assert_eq!(
        codec.decode(b"\x82\xa1y\x02\xa1x\x01"),
        Ok(Point { x: 1, y: 2 })
    );
    assert_eq!(codec.decode(b"\x92\x01\x02"), Ok(Point { x: 1, y: 2 }));
}

#[test]
fn invalid_input_is_an_error() {
    let codec = MsgPackCodec::new();
    let cases: &[&[u8]] = &[
        b"",                        // nothing
        b"\x82\xa1x\x01",           // map truncated
        b"\x82\xa1x\x01\xa1y",      // value missing
        b"\xc1",                    // reserved marker
        b"\x81\xa1x\x01",           // missing field y
        b"\x82\xa1x\xa1a\xa1y\x02", // wrong type for x
        b"\xdb\xff\xff\xff\xff",    // str32 with a huge length, no data
    ];
    for input in cases {
        let err = Codec::<Point>::decode(&codec, input).unwrap_err();
        assert_eq!(err.codec(), CodecKind::MsgPack, "{input:?}");
        assert!(matches!(err, DecodeError::Invalid { .. }), "{input:?}");
        assert!(
            err.to_string().starts_with("msgpack decode error: "),
            "{err}"
        );
    }
}

#[test]
fn huge_declared_lengths_do_not_allocate() {
    let codec = MsgPackCodec::new();
    // array32 / map32 / bin32 claiming 4 Gi elements with no data behind them.
    for input in [
        &b"\xdd\xff\xff\xff\xff"[..],
        b"\xdf\xff\xff\xff\xff",
        b"\xc6\xff\xff\xff\xff",
    ] {
        assert!(Codec::<serde_json::Value>::decode(&codec, input).is_err());
        assert!(Codec::<Vec<u64>>::decode(&codec, input).is_err());
    }
}

#[test]
fn oversize_input_is_refused_before_parsing() {
    let input = vec![0xc1u8; 65];
    let err = Codec::<Point>::decode(&MsgPackCodec::with_max_len(64), &input).unwrap_err();
    assert_eq!(
        err,
        DecodeError::TooLarge {
            codec: CodecKind::MsgPack,
            len: 65,
            max: 64
        }
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    // 100 000 nested one-element arrays.
    let input = vec![0x91u8; 100_000];
    let err = Codec::<serde_json::Value>::decode(&MsgPackCodec::new(), &input).unwrap_err();
    assert!(matches!(err, DecodeError::Invalid { .. }), "{err:?}");
    // Moderate nesting is fine.
    let mut ok = vec![0x91u8; 100];
    ok.push(0x01);
    let v: serde_json::Value = MsgPackCodec::new().decode(&ok).unwrap();
    assert!(v.is_array());
}

#[test]
fn unencodable_value_is_an_error_and_leaves_dst_alone() {
    struct Fails;
    impl Serialize for Fails {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("nope"))
        }
    }
    impl<'de> Deserialize<'de> for Fails {
        fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
            Err(serde::de::Error::custom("nope"))
        }
    }
    let codec = MsgPackCodec::new();
    let mut dst = BytesMut::from(&b"keep"[..]);
    // The tuple header and first element are written before `Fails` fails.
    let err = codec.encode(&(1u8, Fails), &mut dst).unwrap_err();
    assert_eq!(err.codec(), CodecKind::MsgPack);
    assert!(err.to_string().contains("nope"), "{err}");
    assert_eq!(&dst[..], b"keep");
}
