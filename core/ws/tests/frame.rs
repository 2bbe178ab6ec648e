//! Frame headers round-trip at every length boundary, parse the same at
//! every split, refuse what RFC 6455 forbids; masking matches the naive XOR.

use proptest::prelude::*;
use wirestate_ws::{FrameError, FrameHeader, OpCode, apply_mask};

fn opcode() -> impl Strategy<Value = OpCode> {
    prop_oneof![
        Just(OpCode::Continuation),
        Just(OpCode::Text),
        Just(OpCode::Binary),
        Just(OpCode::Close),
        Just(OpCode::Ping),
        Just(OpCode::Pong),
    ]
}

fn length() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(125),
        Just(126),
        Just(127),
        Just(65535),
        Just(65536),
        0u64..200,
        0u64..70000,
        Just((1u64 << 63) - 1),
    ]
}

fn header() -> impl Strategy<Value = FrameHeader> {
    (
        opcode(),
        length(),
        any::<bool>(),
        any::<[bool; 3]>(),
        proptest::option::of(any::<[u8; 4]>()),
    )
        .prop_map(|(opcode, len, fin, rsv, mask)| {
            let control = opcode.is_control();
            FrameHeader {
                fin: fin || control,
                rsv1: rsv[0],
                rsv2: rsv[1],
                rsv3: rsv[2],
                opcode,
                mask,
                len: if control { len % 126 } else { len },
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn round_trip_and_every_prefix_is_incomplete(h in header()) {
        let mut out = Vec::new();
        h.encode(&mut out);
        prop_assert_eq!(out.len(), h.encoded_len());
        prop_assert_eq!(FrameHeader::parse(&out, u64::MAX), Ok(Some((h, out.len()))));
        for cut in 0..out.len() {
            prop_assert_eq!(FrameHeader::parse(&out[..cut], u64::MAX), Ok(None));
        }
        // Trailing payload bytes do not change the header.
        out.extend_from_slice(b"payload");
        prop_assert_eq!(FrameHeader::parse(&out, u64::MAX), Ok(Some((h, h.encoded_len()))));
    }

    #[test]
    fn mask_matches_naive_xor(data in proptest::collection::vec(any::<u8>(), 0..300), key in any::<[u8; 4]>(), offset in 0usize..8, split in 0usize..300) {
        let mut fast = data.clone();
        let split = split.min(fast.len());
        let (a, b) = fast.split_at_mut(split);
        apply_mask(a, key, offset);
        apply_mask(b, key, offset + split);
        let naive: Vec<u8> = data.iter().enumerate().map(|(i, &x)| x ^ key[(offset + i) % 4]).collect();
        prop_assert_eq!(&fast, &naive);
        apply_mask(&mut fast, key, offset);
        prop_assert_eq!(fast, data);
    }

    #[test]
    fn arbitrary_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..20), max in any::<u64>()) {
        if let Ok(Some((h, n))) = FrameHeader::parse(&buf, max) {
            prop_assert!(n <= buf.len() && h.len <= max);
            prop_assert_eq!(n, h.encoded_len());
        }
    }
}

#[test]
fn refusals() {
    let p = |b: &[u8]| FrameHeader::parse(b, 1 << 20);
    assert_eq!(p(&[0x83, 0x00]), Err(FrameError::ReservedOpCode(3)));
    assert_eq!(p(&[0x8B, 0x00]), Err(FrameError::ReservedOpCode(0xB)));
    assert_eq!(p(&[0x09, 0x00]), Err(FrameError::FragmentedControlFrame));
    assert_eq!(
        p(&[0x89, 126, 0, 126]),
        Err(FrameError::ControlFrameTooLong)
    );
    assert_eq!(p(&[0x82, 126, 0, 125]), Err(FrameError::InvalidLength));
    assert_eq!(
        p(&[0x82, 127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]),
        Err(FrameError::InvalidLength)
    );
    assert_eq!(
        p(&[0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0]),
        Err(FrameError::InvalidLength)
    );
    assert_eq!(
        p(&[0x82, 127, 0, 0, 0, 0, 0, 0x20, 0, 0]),
        Err(FrameError::FrameTooLarge {
            len: 0x20_0000,
            max: 1 << 20
        })
    );
    assert_eq!(
        FrameError::FrameTooLarge { len: 1, max: 0 }.close_code(),
        1009
    );
    assert_eq!(FrameError::InvalidLength.close_code(), 1002);
    // The limit is checked before the masking key arrives.
    assert!(matches!(
        FrameHeader::parse(&[0x82, 0xFF, 0, 0, 0, 0, 0, 0x20, 0, 0], 10),
        Err(FrameError::FrameTooLarge { .. })
    ));
}
