//! Message framing: split invariance, round trips, limits and errors.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use wirestate_grpc::{
    DEFAULT_MAX_MESSAGE_SIZE, Error, Message, MessageDecoder, encode_message, message_header,
};
use wirestate_machine::ErrorKind;

type Item = Result<Message, Error>;

/// What one run produced: each item with the end offset of the piece after
/// which it came out, then `finish`'s result and what came after it.
#[derive(Debug)]
struct Run {
    items: Vec<(Item, usize)>,
    finish: Result<(), Error>,
    after: Vec<Item>,
}

fn run(input: &[u8], cuts: &[usize], max: usize) -> Run {
    let bytes = Bytes::copy_from_slice(input);
    let mut dec = MessageDecoder::with_max_message_size(max);
    let mut items = Vec::new();
    let mut start = 0;
    for end in cuts.iter().copied().chain([input.len()]) {
        if end <= start {
            continue;
        }
        dec.push(bytes.slice(start..end));
        while let Some(item) = dec.next_message() {
            items.push((item, end));
        }
        if !dec.is_failed() {
            assert!(dec.buffered() <= 5 + max, "{} bytes held", dec.buffered());
        }
        start = end;
    }
    let finish = dec.finish();
    let after: Vec<Item> = std::iter::from_fn(|| dec.next_message()).collect();
    assert!(dec.next_message().is_none());
    Run {
        items,
        finish,
        after,
    }
}

fn check_split_invariance(input: &[u8], cuts: &[usize], max: usize) -> Run {
    let every: Vec<usize> = (1..input.len()).collect();
    let bytewise = run(input, &every, max);
    for (name, other) in [
        ("whole", run(input, &[], max)),
        ("split", run(input, cuts, max)),
    ] {
        assert_eq!(
            other.items.len(),
            bytewise.items.len(),
            "{name}: item count"
        );
        for ((want, at), (got, end)) in bytewise.items.iter().zip(&other.items) {
            assert_eq!(got, want, "{name}");
            // Reported by the piece that holds byte `at - 1`.
            let piece_start =
                cuts_start(input.len(), if name == "whole" { &[] } else { cuts }, *end);
            assert!(
                piece_start < *at && *at <= *end,
                "{name}: item after byte {at} came with piece ..{end}"
            );
        }
        assert_eq!(other.finish, bytewise.finish, "{name}: finish");
        assert_eq!(other.after, bytewise.after, "{name}: after finish");
    }
    bytewise
}

fn cuts_start(len: usize, cuts: &[usize], end: usize) -> usize {
    cuts.iter()
        .copied()
        .filter(|&c| c > 0 && c < len && c < end)
        .max()
        .unwrap_or(0)
}

fn frame(flag: u8, data: &[u8]) -> Vec<u8> {
    let mut v = vec![flag];
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(data);
    v
}

#[test]
fn spec_framing() {
    let mut out = BytesMut::new();
    encode_message(b"abc", true, &mut out).unwrap();
    assert_eq!(&out[..], b"\x01\x00\x00\x00\x03abc");
    assert_eq!(message_header(0, false).unwrap(), [0; 5]);
    assert_eq!(message_header(0x0102_0304, true).unwrap(), [1, 1, 2, 3, 4]);
    assert_eq!(DEFAULT_MAX_MESSAGE_SIZE, 4 * 1024 * 1024);
}

#[test]
fn header_for_too_long_message_is_refused() {
    if usize::BITS > 32 {
        let e = message_header(1 << 32, false).unwrap_err();
        assert_eq!(e, Error::EncodeTooLarge { len: 1 << 32 });
        assert_eq!(e.kind(), ErrorKind::Usage);
    }
}

#[test]
fn zero_copy_within_a_chunk() {
    let mut wire = frame(0, b"hello");
    wire.extend(frame(1, b"world!"));
    let chunk = Bytes::from(wire);
    let mut dec = MessageDecoder::new();
    dec.push(chunk.clone());
    let a = dec.next_message().unwrap().unwrap();
    let b = dec.next_message().unwrap().unwrap();
    assert_eq!((a.compressed, &a.data[..]), (false, &b"hello"[..]));
    assert_eq!((b.compressed, &b.data[..]), (true, &b"world!"[..]));
    // Both point into the pushed chunk.
    let range = chunk.as_ptr() as usize..chunk.as_ptr() as usize + chunk.len();
    assert!(range.contains(&(a.data.as_ptr() as usize)));
    assert!(range.contains(&(b.data.as_ptr() as usize)));
    assert!(dec.next_message().is_none());
    assert_eq!(dec.finish(), Ok(()));
}

#[test]
fn assembled_across_chunks() {
    let wire = frame(0, b"spread over chunks");
    let mut dec = MessageDecoder::new();
    for piece in wire.chunks(3) {
        assert!(dec.next_message().is_none());
        dec.push(Bytes::copy_from_slice(piece));
    }
    let m = dec.next_message().unwrap().unwrap();
    assert_eq!(&m.data[..], b"spread over chunks");
    assert_eq!(dec.buffered(), 0);
}

#[test]
fn over_the_limit_before_buffering() {
    let mut dec = MessageDecoder::with_max_message_size(10);
    // Only the prefix: refused before a byte of the payload arrives.
    dec.push(Bytes::from_static(b"\x00\x00\x00\x00\x0b"));
    let e = dec.next_message().unwrap().unwrap_err();
    assert_eq!(e, Error::MessageTooLarge { len: 11, max: 10 });
    assert_eq!(e.kind(), ErrorKind::Limit);
    assert_eq!(e.hint(), Some(wirestate_grpc::Code::ResourceExhausted));
    assert!(dec.is_failed());
    dec.push(Bytes::from(vec![0; 100]));
    assert_eq!(dec.buffered(), 0);
    assert!(dec.next_message().is_none());
    // Exactly at the limit is fine.
    let mut dec = MessageDecoder::with_max_message_size(10);
    dec.push(Bytes::from(frame(0, &[7; 10])));
    assert_eq!(dec.next_message().unwrap().unwrap().data.len(), 10);
}

#[test]
fn max_length_prefix_is_refused_by_default() {
    let mut dec = MessageDecoder::new();
    dec.push(Bytes::from_static(b"\x00\xff\xff\xff\xff"));
    assert_eq!(
        dec.next_message(),
        Some(Err(Error::MessageTooLarge {
            len: u64::from(u32::MAX),
            max: DEFAULT_MAX_MESSAGE_SIZE
        }))
    );
}

#[test]
fn bad_flag_as_soon_as_it_arrives() {
    for flag in [2u8, 0x80, 0xff] {
        let mut dec = MessageDecoder::new();
        dec.push(Bytes::from(vec![flag]));
        let e = dec.next_message().unwrap().unwrap_err();
        assert_eq!(e, Error::InvalidCompressedFlag(flag));
        assert_eq!(e.hint(), Some(wirestate_grpc::Code::Internal));
    }
}

#[test]
fn truncated_at_end_of_stream() {
    for (wire, received) in [
        (&b"\x00"[..], 1),
        (b"\x00\x00\x00", 3),
        (b"\x00\x00\x00\x00\x05hel", 8),
        (b"\x00\x00\x00\x00\x05", 5),
    ] {
        let mut dec = MessageDecoder::new();
        dec.push(Bytes::copy_from_slice(wire));
        assert!(dec.next_message().is_none());
        let e = dec.finish().unwrap_err();
        assert_eq!(e, Error::TruncatedMessage { received });
        assert_eq!(e.hint(), Some(wirestate_grpc::Code::Internal));
        assert!(dec.next_message().is_none());
    }
    // Nothing left: fine.
    let mut dec = MessageDecoder::new();
    assert_eq!(dec.finish(), Ok(()));
}

#[test]
fn finish_before_draining_keeps_messages_first() {
    let mut wire = frame(0, b"one");
    wire.extend(frame(0, b"two"));
    wire.extend_from_slice(b"\x00\x00");
    let mut dec = MessageDecoder::new();
    dec.push(Bytes::from(wire));
    assert_eq!(dec.finish(), Ok(()));
    assert_eq!(&dec.next_message().unwrap().unwrap().data[..], b"one");
    assert_eq!(&dec.next_message().unwrap().unwrap().data[..], b"two");
    assert_eq!(
        dec.next_message(),
        Some(Err(Error::TruncatedMessage { received: 2 }))
    );
    assert_eq!(dec.next_message(), None);
}

/// A body: valid messages, with now and then bytes of garbage.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let segment = prop_oneof![
        8 => (0u8..2, proptest::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(flag, data)| frame(flag, &data)),
        1 => proptest::collection::vec(any::<u8>(), 1..8),
    ];
    proptest::collection::vec(segment, 0..8).prop_map(|s| s.concat())
}

fn input_and_cuts() -> impl Strategy<Value = (Vec<u8>, Vec<usize>, usize)> {
    (
        body(),
        prop_oneof![Just(0usize), Just(5), Just(20), Just(39), Just(1 << 20)],
    )
        .prop_flat_map(|(input, max)| {
            let len = input.len();
            (
                Just(input),
                proptest::collection::btree_set(1..len.max(2), 0..=len.min(32))
                    .prop_map(|s| s.into_iter().collect::<Vec<_>>()),
                Just(max),
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whole, byte by byte and at random cuts: the same messages and
    /// errors, each after the same byte.
    #[test]
    fn split_invariance((input, cuts, max) in input_and_cuts()) {
        check_split_invariance(&input, &cuts, max);
    }

    /// What `encode_message` writes decodes to the same messages, however
    /// it is cut.
    #[test]
    fn round_trip(
        messages in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300)), 0..10),
        cut in proptest::collection::vec(1usize..64, 1..8),
    ) {
        let mut wire = BytesMut::new();
        for (compressed, data) in &messages {
            encode_message(data, *compressed, &mut wire).unwrap();
        }
        let wire = wire.freeze();
        let mut dec = MessageDecoder::new();
        let mut got = Vec::new();
        let mut at = 0;
        let mut i = 0;
        while at < wire.len() {
            let end = (at + cut[i % cut.len()]).min(wire.len());
            dec.push(wire.slice(at..end));
            while let Some(m) = dec.next_message() {
                let m = m.unwrap();
                got.push((m.compressed, m.data.to_vec()));
            }
            at = end;
            i += 1;
        }
        prop_assert_eq!(dec.finish(), Ok(()));
        prop_assert_eq!(got, messages);
    }
}
