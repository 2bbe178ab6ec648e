//! ProstCodec: round trips, errors, limits, hostile input.

use bytes::BytesMut;
use proptest::prelude::*;
use wirestate_codec::{Codec, CodecKind, DEFAULT_MAX_LEN, DecodeError, ProstCodec};

#[derive(Clone, PartialEq, prost::Message)]
struct Child {
    #[prost(string, tag = "1")]
    note: String,
    #[prost(int64, tag = "2")]
    value: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Sample {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(bytes = "vec", tag = "2")]
    payload: Vec<u8>,
    #[prost(uint64, tag = "3")]
    id: u64,
    #[prost(string, repeated, tag = "4")]
    tags: Vec<String>,
    #[prost(sint32, repeated, tag = "5")]
    deltas: Vec<i32>,
    #[prost(message, optional, tag = "6")]
    child: Option<Child>,
    #[prost(message, repeated, tag = "7")]
    children: Vec<Child>,
    #[prost(bool, tag = "8")]
    flag: bool,
    #[prost(bytes = "bytes", tag = "9")]
    blob: bytes::Bytes,
}

/// A recursive message, for the nesting limit.
#[derive(Clone, PartialEq, prost::Message)]
struct Node {
    #[prost(message, optional, boxed, tag = "1")]
    next: Option<Box<Node>>,
}

fn child() -> impl Strategy<Value = Child> {
    (any::<String>(), any::<i64>()).prop_map(|(note, value)| Child { note, value })
}

fn sample() -> impl Strategy<Value = Sample> {
    (
        any::<String>(),
        prop::collection::vec(any::<u8>(), 0..64),
        any::<u64>(),
        prop::collection::vec(any::<String>(), 0..4),
        prop::collection::vec(any::<i32>(), 0..8),
        prop::option::of(child()),
        prop::collection::vec(child(), 0..3),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..16),
    )
        .prop_map(
            |(name, payload, id, tags, deltas, child, children, flag, blob)| Sample {
                name,
                payload,
                id,
                tags,
                deltas,
                child,
                children,
                flag,
                blob: blob.into(),
            },
        )
}

proptest! {
    #[test]
    fn roundtrip(value in sample()) {
        let codec = ProstCodec::new();
        let bytes = codec.encode_to_bytes(&value).unwrap();
        prop_assert_eq!(bytes.len(), prost::Message::encoded_len(&value));
        let back: Sample = codec.decode(&bytes).unwrap();
        prop_assert_eq!(back, value);
    }

    #[test]
    fn encode_appends(prefix in prop::collection::vec(any::<u8>(), 0..16), value in sample()) {
        let codec = ProstCodec::new();
        let mut buf = BytesMut::from(&prefix[..]);
        codec.encode(&value, &mut buf).unwrap();
        prop_assert_eq!(&buf[..prefix.len()], &prefix[..]);
        let back: Sample = codec.decode(&buf[prefix.len()..]).unwrap();
        prop_assert_eq!(back, value);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let codec = ProstCodec::new();
        let _ = Codec::<Sample>::decode(&codec, &bytes);
        let _ = Codec::<Child>::decode(&codec, &bytes);
        let _ = Codec::<Node>::decode(&codec, &bytes);
    }

    #[test]
    fn mutated_encodings_never_panic(
        value in sample(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let codec = ProstCodec::new();
        let mut bytes = codec.encode_to_bytes(&value).unwrap().to_vec();
        if bytes.is_empty() {
            return Ok(());
        }
        for (i, b) in flips {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        let _ = Codec::<Sample>::decode(&codec, &bytes);
    }

    #[test]
    fn limit_is_exact(value in sample()) {
        let bytes = ProstCodec::new().encode_to_bytes(&value).unwrap();
        let at = ProstCodec::with_max_len(bytes.len());
        prop_assert_eq!(Codec::<Sample>::decode(&at, &bytes).unwrap(), value);
        if !bytes.is_empty() {
            let below = ProstCodec::with_max_len(bytes.len() - 1);
            let err = Codec::<Sample>::decode(&below, &bytes).unwrap_err();
            prop_assert_eq!(
                err,
                DecodeError::TooLarge {
                    codec: CodecKind::Protobuf,
                    len: bytes.len(),
                    max: bytes.len() - 1,
                }
            );
        }
    }
}

#[test]
fn defaults() {
    let codec = ProstCodec::default();
    assert_eq!(codec, ProstCodec::new());
    assert_eq!(codec.max_len(), DEFAULT_MAX_LEN);
    assert_eq!(ProstCodec::with_max_len(5).max_len(), 5);
    assert_eq!(
        Codec::<Sample>::content_type(&codec),
        "application/protobuf"
    );
    assert_eq!(ProstCodec::CONTENT_TYPE, "application/protobuf");
}

#[test]
fn empty_input_is_the_default_message() {
    let v: Sample = ProstCodec::new().decode(b"").unwrap();
    assert_eq!(v, Sample::default());
    assert!(
        ProstCodec::new()
            .encode_to_bytes(&Sample::default())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn known_encoding() {
    let v = Child {
        note: "hi".into(),
        value: 150,
    };
    let bytes = ProstCodec::new().encode_to_bytes(&v).unwrap();
    assert_eq!(&bytes[..], b"\x0a\x02hi\x10\x96\x01");
}

#[test]
fn invalid_input_is_an_error() {
    let codec = ProstCodec::new();
    let cases: &[&[u8]] = &[
        b"\x0a\x05hi",                                       // length runs past the end
        b"\x0a\x02\xff\xfe",                                 // string field that is not UTF-8
        b"\x10",                                             // varint missing
        b"\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", // varint too long
        b"\x0f",                                             // invalid wire type 7
        b"\x00\x01",                                         // field number 0
    ];
    for input in cases {
        let err = Codec::<Child>::decode(&codec, input).unwrap_err();
        assert_eq!(err.codec(), CodecKind::Protobuf, "{input:?}");
        assert!(!err.is_too_large());
        match &err {
            DecodeError::Invalid { message, .. } => assert!(!message.is_empty()),
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            err.to_string().starts_with("protobuf decode error: "),
            "{err}"
        );
    }
}

#[test]
fn oversize_input_is_refused_before_parsing() {
    let input = vec![0xffu8; 101];
    let err = Codec::<Sample>::decode(&ProstCodec::with_max_len(100), &input).unwrap_err();
    assert_eq!(
        err,
        DecodeError::TooLarge {
            codec: CodecKind::Protobuf,
            len: 101,
            max: 100
        }
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    // 1000 levels of `Node { next: Some(...) }`, built inside out.
    let mut bytes: Vec<u8> = Vec::new();
    for _ in 0..1000 {
        let mut outer = vec![0x0a];
        let mut len = bytes.len();
        loop {
            let byte = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                outer.push(byte);
                break;
            }
            outer.push(byte | 0x80);
        }
        outer.extend_from_slice(&bytes);
        bytes = outer;
    }
    let err = Codec::<Node>::decode(&ProstCodec::new(), &bytes).unwrap_err();
    assert!(matches!(err, DecodeError::Invalid { .. }), "{err:?}");
}

#[test]
fn unknown_fields_are_skipped() {
    // Field 15 (varint) before a known field.
    let v: Child = ProstCodec::new().decode(b"\x78\x01\x10\x05").unwrap();
    assert_eq!(
        v,
        Child {
            note: String::new(),
            value: 5
        }
    );
}
