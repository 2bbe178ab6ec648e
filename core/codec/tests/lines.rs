//! LineDecoder and encode_line: every framing rule, limits and recovery,
//! split invariance against a whole-input reference, round trips.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use wirestate_codec::{LineDecoder, LineError, encode_line};

type Item = Result<Bytes, LineError>;

/// Every item `next_line` yields now.
fn drain(dec: &mut LineDecoder) -> Vec<Item> {
    std::iter::from_fn(|| dec.next_line()).collect()
}

/// Everything left at the end of the stream.
fn drain_finish(dec: &mut LineDecoder) -> Vec<Item> {
    std::iter::from_fn(|| dec.finish()).collect()
}

fn ok(s: &str) -> Item {
    Ok(Bytes::copy_from_slice(s.as_bytes()))
}

fn too_long(max: usize) -> Item {
    Err(LineError::TooLong { max })
}

/// Decodes `input` whole, then finishes.
fn decode_all(max: usize, input: &[u8]) -> Vec<Item> {
    let mut dec = LineDecoder::with_max_line_len(max);
    dec.push(input);
    let mut out = drain(&mut dec);
    out.extend(drain_finish(&mut dec));
    out
}

#[test]
fn lf_and_crlf() {
    assert_eq!(
        decode_all(100, b"a\nbb\r\nccc\n"),
        [ok("a"), ok("bb"), ok("ccc")]
    );
}

#[test]
fn one_cr_stripped_others_kept() {
    assert_eq!(
        decode_all(100, b"a\r\r\nb\rc\n\rd\n"),
        [ok("a\r"), ok("b\rc"), ok("\rd")]
    );
}

#[test]
fn empty_lines_are_skipped() {
    assert_eq!(
        decode_all(100, b"\n\r\n\na\n\n\r\n\nb\n\n"),
        [ok("a"), ok("b")]
    );
    // A lone `\r` line is empty once its `\r` is stripped.
    assert_eq!(decode_all(100, b"\r\n"), []);
    // Whitespace is not empty.
    assert_eq!(decode_all(100, b" \n\t\n"), [ok(" "), ok("\t")]);
}

#[test]
fn lines_wait_for_their_newline() {
    let mut dec = LineDecoder::new();
    dec.push(b"{\"a\":");
    assert_eq!(dec.next_line(), None);
    dec.push(b"1}\r");
    assert_eq!(dec.next_line(), None);
    dec.push(b"\n{");
    assert_eq!(dec.next_line(), Some(ok("{\"a\":1}")));
    assert_eq!(dec.next_line(), None);
    assert_eq!(dec.buffered(), 1);
}

#[test]
fn final_line_without_newline_is_a_message() {
    assert_eq!(decode_all(100, b"a\nlast"), [ok("a"), ok("last")]);
    // Its trailing `\r` is stripped like a `\r\n`'s.
    assert_eq!(decode_all(100, b"last\r"), [ok("last")]);
    assert_eq!(decode_all(100, b"a\n\r"), [ok("a")]);
    assert_eq!(decode_all(100, b""), []);
}

#[test]
fn finish_returns_undrained_lines_first_then_resets() {
    let mut dec = LineDecoder::new();
    dec.push(b"one\ntwo\nthree");
    assert_eq!(drain_finish(&mut dec), [ok("one"), ok("two"), ok("three")]);
    assert_eq!(dec.buffered(), 0);
    assert_eq!(dec.finish(), None);
    // A new stream.
    dec.push(b"again\n");
    assert_eq!(drain(&mut dec), [ok("again")]);
}

#[test]
fn lines_are_split_off_the_buffer_without_copying() {
    let mut dec = LineDecoder::new();
    dec.push(b"first\r\nsecond\nthird\n");
    let a = dec.next_line().unwrap().unwrap();
    let b = dec.next_line().unwrap().unwrap();
    let c = dec.next_line().unwrap().unwrap();
    // Consecutive slices of one allocation, apart by their terminators.
    assert_eq!(a.as_ptr().wrapping_add(a.len() + 2), b.as_ptr());
    assert_eq!(b.as_ptr().wrapping_add(b.len() + 1), c.as_ptr());
}

#[test]
fn default_limit() {
    assert_eq!(LineDecoder::DEFAULT_MAX_LINE_LEN, 4 * 1024 * 1024);
    assert_eq!(LineDecoder::new().max_line_len(), 4 * 1024 * 1024);
    assert_eq!(LineDecoder::default().max_line_len(), 4 * 1024 * 1024);
    let line = vec![b'x'; 4 * 1024 * 1024];
    let mut input = line.clone();
    input.push(b'\n');
    assert_eq!(decode_all(4 * 1024 * 1024, &input), [Ok(Bytes::from(line))]);
    input.insert(0, b'x');
    assert_eq!(decode_all(4 * 1024 * 1024, &input), [too_long(4 << 20)]);
}

#[test]
fn line_at_the_limit_is_accepted() {
    assert_eq!(
        decode_all(3, b"abc\nabc\r\nabc"),
        [ok("abc"), ok("abc"), ok("abc")]
    );
    assert_eq!(decode_all(3, b"abc\r"), [ok("abc")]);
}

#[test]
fn too_long_is_reported_before_the_line_ends() {
    let mut dec = LineDecoder::with_max_line_len(3);
    dec.push(b"ok\nabc");
    assert_eq!(drain(&mut dec), [ok("ok")]);
    // `abc\r` may still be `abc` + `\r\n`.
    dec.push(b"\r");
    assert_eq!(drain(&mut dec), []);
    dec.push(b"d");
    assert_eq!(drain(&mut dec), [too_long(3)]);
    assert_eq!(dec.buffered(), 0);
    // The rest of the line is dropped as it arrives, not buffered.
    dec.push(b"more and more");
    assert_eq!(dec.buffered(), 0);
    assert_eq!(drain(&mut dec), []);
    dec.push(b" end\r\nnxt\n");
    assert_eq!(drain(&mut dec), [ok("nxt")]);
}

#[test]
fn too_long_complete_line_then_recovery() {
    assert_eq!(
        decode_all(3, b"abcd\nxyz\nabc\r\r\nlong\r\nq"),
        [too_long(3), ok("xyz"), too_long(3), too_long(3), ok("q")]
    );
    // An over-long final line is reported once, by `next_line`.
    assert_eq!(decode_all(3, b"a\nabcdefgh"), [ok("a"), too_long(3)]);
    // With a `\r` that could have been a terminator, at EOF it is stripped.
    assert_eq!(decode_all(3, b"abc\r"), [ok("abc")]);
}

#[test]
fn zero_limit_refuses_every_non_empty_line() {
    assert_eq!(decode_all(0, b"\n\r\na\n\r\nb"), [too_long(0), too_long(0)]);
}

#[test]
fn huge_limit_does_not_overflow() {
    assert_eq!(decode_all(usize::MAX, b"a\nb"), [ok("a"), ok("b")]);
}

#[test]
fn buffered_stays_within_the_limit() {
    let mut dec = LineDecoder::with_max_line_len(4);
    for chunk in [
        &b"ab"[..],
        b"cd",
        b"\r",
        b"e",
        b"fgh\n",
        b"ij\nk",
        b"lmnopq",
    ] {
        dec.push(chunk);
        let _ = drain(&mut dec);
        assert!(dec.buffered() <= 5, "{} buffered", dec.buffered());
    }
}

#[test]
fn encode_appends_a_line() {
    let mut dst = BytesMut::from(&b"x\n"[..]);
    encode_line(b"{}", &mut dst).unwrap();
    encode_line(b"a b\t\0\xff", &mut dst).unwrap();
    assert_eq!(&dst[..], b"x\n{}\na b\t\0\xff\n");
}

#[test]
fn encode_refuses_line_breaks_and_empty_messages() {
    let mut dst = BytesMut::from(&b"keep"[..]);
    assert_eq!(encode_line(b"a\nb", &mut dst), Err(LineError::LineBreak));
    assert_eq!(encode_line(b"a\rb", &mut dst), Err(LineError::LineBreak));
    assert_eq!(encode_line(b"a\r", &mut dst), Err(LineError::LineBreak));
    assert_eq!(encode_line(b"", &mut dst), Err(LineError::Empty));
    assert_eq!(&dst[..], b"keep");
}

#[test]
fn error_messages() {
    assert_eq!(
        LineError::TooLong { max: 7 }.to_string(),
        "line longer than the limit of 7 bytes"
    );
    assert_eq!(
        LineError::LineBreak.to_string(),
        "message contains a line break"
    );
    assert_eq!(LineError::Empty.to_string(), "empty message");
}

/// The framing rules applied to the whole input at once: split at `\n`,
/// strip one `\r`, refuse over-long lines, skip empty ones; the last piece
/// (no `\n`) is a line too.
fn reference(max: usize, input: &[u8]) -> Vec<Item> {
    input
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.len() > max {
                Some(too_long(max))
            } else if line.is_empty() {
                None
            } else {
                Some(Ok(Bytes::copy_from_slice(line)))
            }
        })
        .collect()
}

/// An item and where it came out: the input range of the `push` after
/// which `next_line` returned it, or `len..len + 1` for `finish`.
type Placed = (Item, std::ops::Range<usize>);

/// Feeds `input` in the pieces `cuts` makes, draining after each push, then
/// finishes. Checks the buffering bound after every drain.
fn run(max: usize, input: &[u8], cuts: &[usize]) -> Vec<Placed> {
    let mut dec = LineDecoder::with_max_line_len(max);
    let mut out = Vec::new();
    let mut start = 0;
    for end in cuts
        .iter()
        .copied()
        .chain([input.len()])
        .filter(|&c| c <= input.len())
    {
        if end <= start {
            continue;
        }
        dec.push(&input[start..end]);
        out.extend(drain(&mut dec).into_iter().map(|i| (i, start..end)));
        assert!(
            dec.buffered() <= max.saturating_add(1),
            "{} bytes buffered, limit {max}",
            dec.buffered()
        );
        start = end;
    }
    let eof = input.len()..input.len() + 1;
    out.extend(drain_finish(&mut dec).into_iter().map(|i| (i, eof.clone())));
    assert_eq!(dec.buffered(), 0);
    out
}

/// Whole, byte by byte and at `cuts`: the same items, each from the piece
/// holding the byte at which byte-by-byte feeding produced it; and the
/// same items as the reference.
fn check_split_invariant(max: usize, input: &[u8], cuts: &[usize]) {
    let every: Vec<usize> = (1..input.len()).collect();
    let bytewise = run(max, input, &every);
    for (name, other) in [
        ("whole", run(max, input, &[])),
        ("split", run(max, input, cuts)),
    ] {
        let items: Vec<_> = other.iter().map(|(i, _)| i).collect();
        let expected: Vec<_> = bytewise.iter().map(|(i, _)| i).collect();
        assert_eq!(items, expected, "{name}: items differ (cuts {cuts:?})");
        for ((_, at), (item, range)) in bytewise.iter().zip(&other) {
            assert!(
                range.contains(&(at.end - 1)),
                "{name}: {item:?} came after {range:?}, byte by byte after byte {}",
                at.end - 1
            );
        }
    }
    let items: Vec<Item> = bytewise.into_iter().map(|(i, _)| i).collect();
    assert_eq!(items, reference(max, input), "differs from the reference");
}

/// Bytes that exercise the framing: mostly terminators and short runs.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::collection::vec(
            prop::sample::select(vec![b'a', b'b', b' ', b'\r', b'\n', b'\n', 0, 0xff]),
            0..120,
        ),
        1 => prop::collection::vec(any::<u8>(), 0..120),
    ]
}

fn limit() -> impl Strategy<Value = usize> {
    prop_oneof![3 => 0usize..12, 1 => Just(LineDecoder::DEFAULT_MAX_LINE_LEN)]
}

fn with_cuts() -> impl Strategy<Value = (Vec<u8>, Vec<usize>)> {
    stream().prop_flat_map(|input| {
        let len = input.len();
        let cuts = prop::collection::btree_set(1..len.max(2), 0..=len.min(32))
            .prop_map(|s| s.into_iter().collect::<Vec<_>>());
        (Just(input), cuts)
    })
}

/// A message `encode_line` accepts: non-empty, no `\n` or `\r`.
fn message() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        any::<u8>().prop_filter("no line break", |b| *b != b'\n' && *b != b'\r'),
        1..40,
    )
}

proptest! {
    #[test]
    fn split_invariance((input, cuts) in with_cuts(), max in limit()) {
        check_split_invariant(max, &input, &cuts);
    }

    #[test]
    fn roundtrip(
        msgs in prop::collection::vec(message(), 0..20),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..16),
        keepalives in prop::collection::vec(any::<bool>(), 0..20),
    ) {
        let mut wire = BytesMut::new();
        for (i, m) in msgs.iter().enumerate() {
            encode_line(m, &mut wire).unwrap();
            if keepalives.get(i).copied().unwrap_or(false) {
                wire.extend_from_slice(b"\r\n\n");
            }
        }
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(wire.len().max(1))).collect();
        cuts.sort_unstable();
        let max = msgs.iter().map(Vec::len).max().unwrap_or(0);
        let out = run(max, &wire, &cuts);
        let lines: Vec<Item> = out.into_iter().map(|(i, _)| i).collect();
        let expected: Vec<Item> = msgs.into_iter().map(|m| Ok(Bytes::from(m))).collect();
        prop_assert_eq!(lines, expected);
    }

    #[test]
    fn encode_refuses_exactly_line_breaks(msg in prop::collection::vec(any::<u8>(), 0..40)) {
        let mut dst = BytesMut::new();
        let res = encode_line(&msg, &mut dst);
        if msg.is_empty() {
            prop_assert_eq!(res, Err(LineError::Empty));
        } else if msg.contains(&b'\n') || msg.contains(&b'\r') {
            prop_assert_eq!(res, Err(LineError::LineBreak));
            prop_assert!(dst.is_empty());
        } else {
            prop_assert_eq!(res, Ok(()));
            prop_assert_eq!(&dst[..msg.len()], &msg[..]);
            prop_assert_eq!(&dst[msg.len()..], b"\n");
        }
    }
}
