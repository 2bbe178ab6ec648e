//! Server-sent events: the WHATWG interpretation rules one by one, limits
//! and recovery, the encoder, split invariance against a whole-input
//! reference, round trips.

use bytes::BytesMut;
use proptest::prelude::*;
use wirestate_codec::{SseDecoder, SseError, SseEvent, encode_comment, encode_event};

mod sse_reference;

use sse_reference::{Item, reference};

fn drain(dec: &mut SseDecoder) -> Vec<Item> {
    std::iter::from_fn(|| dec.next_event()).collect()
}

fn drain_finish(dec: &mut SseDecoder) -> Vec<Item> {
    std::iter::from_fn(|| dec.finish()).collect()
}

/// Decodes `input` whole with `dec`, then finishes.
fn decode_with(mut dec: SseDecoder, input: &[u8]) -> (Vec<Item>, SseDecoder) {
    dec.push(input);
    let mut out = drain(&mut dec);
    out.extend(drain_finish(&mut dec));
    (out, dec)
}

fn decode(input: &[u8]) -> Vec<Item> {
    decode_with(SseDecoder::new(), input).0
}

fn data(s: &str) -> Item {
    Ok(SseEvent::new(s))
}

fn encode(ev: &SseEvent) -> Vec<u8> {
    let mut dst = BytesMut::new();
    encode_event(ev, &mut dst).unwrap();
    dst.to_vec()
}

// ---- The standard's examples ----

#[test]
fn spec_example_stock_ticker() {
    assert_eq!(
        decode(b"data: YHOO\ndata: +2\ndata: 10\n\n"),
        [data("YHOO\n+2\n10")]
    );
}

#[test]
fn spec_example_ids_and_comment() {
    let (events, dec) = decode_with(
        SseDecoder::new(),
        b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n",
    );
    assert_eq!(
        events,
        [
            Ok(SseEvent::new("first event").with_id("1")),
            Ok(SseEvent::new("second event").with_id("")),
        ]
    );
    // The empty `id` reset the last event ID; the third event never ended.
    assert_eq!(dec.last_event_id(), "");
}

#[test]
fn spec_example_empty_data_lines() {
    // `data` alone is a data line with an empty value.
    assert_eq!(
        decode(b"data\n\ndata\ndata\n\ndata:"),
        [data(""), data("\n")]
    );
}

#[test]
fn spec_example_one_space_removed() {
    assert_eq!(
        decode(b"data:test\n\ndata: test\n\n"),
        [data("test"), data("test")]
    );
}

// ---- Lines ----

#[test]
fn line_endings_crlf_lf_cr_and_mixed() {
    for input in [
        &b"data: a\r\ndata: b\r\n\r\n"[..],
        b"data: a\ndata: b\n\n",
        b"data: a\rdata: b\r\r",
        b"data: a\rdata: b\r\n\n",
        b"data: a\r\ndata: b\n\r",
    ] {
        assert_eq!(decode(input), [data("a\nb")], "{input:?}");
    }
    // `\n\r` is two line ends, not one.
    assert_eq!(decode(b"data: a\n\rdata: b\n\n"), [data("a"), data("b")]);
}

#[test]
fn cr_at_the_end_of_a_push_then_lf() {
    let mut dec = SseDecoder::new();
    dec.push(b"data: a\r");
    assert_eq!(drain(&mut dec), []);
    dec.push(b"\n");
    // The `\n` completed `\r\n`: no blank line yet.
    assert_eq!(drain(&mut dec), []);
    dec.push(b"\r");
    // A blank line, dispatched at its `\r` without waiting for more.
    assert_eq!(drain(&mut dec), [data("a")]);
    dec.push(b"\ndata: b\r\n\r\n");
    assert_eq!(drain(&mut dec), [data("b")]);
}

#[test]
fn bom_is_stripped_once_at_the_start() {
    assert_eq!(decode(b"\xEF\xBB\xBFdata: a\n\n"), [data("a")]);
    // A second BOM is part of the first field's name: an unknown field.
    assert_eq!(decode(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\n"), []);
    // A BOM later in the stream is not stripped.
    assert_eq!(
        decode(b"data: a\n\n\xEF\xBB\xBFdata: b\n\ndata: \xEF\xBB\xBFc\n\n"),
        [data("a"), data("\u{feff}c")]
    );
    // Split across pushes.
    let mut dec = SseDecoder::new();
    for b in b"\xEF\xBB\xBFdata: a\n\n" {
        dec.push(&[*b]);
    }
    assert_eq!(drain(&mut dec), [data("a")]);
    // A BOM prefix is not a BOM.
    assert_eq!(decode(b"\xEF\xBBdata: a\n\n"), []);
    assert_eq!(decode(b"\xEFdata: a\n\n"), []);
}

#[test]
fn invalid_utf8_becomes_replacement_characters() {
    assert_eq!(
        decode(b"data: a\xFFb\xE2\x82\n\n"),
        [data("a\u{fffd}b\u{fffd}")]
    );
    assert_eq!(
        decode(b"event: \xC3\nid: \xFF\ndata: \xF0\x9F\x98\x80\n\n"),
        [Ok(SseEvent::new("😀")
            .with_event("\u{fffd}")
            .with_id("\u{fffd}"))]
    );
}

// ---- Fields ----

#[test]
fn field_and_value_split_at_the_first_colon() {
    assert_eq!(decode(b"data: a: b:c\n\n"), [data("a: b:c")]);
    assert_eq!(decode(b"data::\n\n"), [data(":")]);
    // Only one space is removed, and only a space.
    assert_eq!(decode(b"data:  a \n\n"), [data(" a ")]);
    assert_eq!(decode(b"data:\ta\n\n"), [data("\ta")]);
    // A space before the colon belongs to the name: an unknown field.
    assert_eq!(decode(b"data : a\n\n"), []);
}

#[test]
fn comments_are_ignored_anywhere() {
    assert_eq!(
        decode(b":\n: ping\n\ndata: a\n:data: b\n: x\ndata: c\n\n"),
        [data("a\nc")]
    );
    // A comment is not a blank line: it dispatches nothing.
    assert_eq!(decode(b"data: a\n:\n"), []);
}

#[test]
fn unknown_and_differently_cased_fields_are_ignored() {
    assert_eq!(
        decode(b"Data: x\nDATA: y\nfoo: bar\nretr: 1\ndata: a\nidx: 9\n\n"),
        [data("a")]
    );
}

#[test]
fn event_type() {
    assert_eq!(
        decode(b"event: add\ndata: 1\n\ndata: 2\n\n"),
        [
            Ok(SseEvent::new("1").with_event("add")),
            // The type does not carry over to the next event.
            data("2"),
        ]
    );
    // The last one wins; an empty one is the default.
    assert_eq!(
        decode(b"event: a\nevent: b\ndata\n\nevent: x\nevent:\ndata\n\n"),
        [Ok(SseEvent::new("").with_event("b")), data("")]
    );
    // The type of an event that was not dispatched is forgotten.
    assert_eq!(decode(b"event: lost\n\ndata: x\n\n"), [data("x")]);
}

#[test]
fn event_type_helper() {
    assert_eq!(SseEvent::new("").event_type(), "message");
    assert_eq!(SseEvent::new("").with_event("").event_type(), "message");
    assert_eq!(SseEvent::new("").with_event("add").event_type(), "add");
}

#[test]
fn id_persists_as_last_event_id() {
    let mut dec = SseDecoder::new();
    assert_eq!(dec.last_event_id(), "");
    dec.push(b"id: 1\ndata: a\n\ndata: b\n\n");
    assert_eq!(dec.next_event(), Some(Ok(SseEvent::new("a").with_id("1"))));
    assert_eq!(dec.last_event_id(), "1");
    // The next event has no `id:` of its own; the last event ID stays.
    assert_eq!(dec.next_event(), Some(data("b")));
    assert_eq!(dec.last_event_id(), "1");
}

#[test]
fn id_is_set_when_its_event_block_ends() {
    let mut dec = SseDecoder::new();
    dec.push(b"id: 7\ndata: a\n");
    assert_eq!(drain(&mut dec), []);
    assert_eq!(dec.last_event_id(), "");
    dec.push(b"\n");
    assert_eq!(drain(&mut dec), [Ok(SseEvent::new("a").with_id("7"))]);
    assert_eq!(dec.last_event_id(), "7");
}

#[test]
fn id_without_data_updates_last_event_id_only() {
    let (events, dec) = decode_with(SseDecoder::new(), b"id: 42\n\n");
    assert_eq!(events, []);
    assert_eq!(dec.last_event_id(), "42");
    // And resets with an empty `id`.
    let (events, dec) = decode_with(SseDecoder::new(), b"id: 42\n\nid\n\n");
    assert_eq!(events, []);
    assert_eq!(dec.last_event_id(), "");
}

#[test]
fn id_with_nul_is_ignored() {
    let (events, dec) = decode_with(
        SseDecoder::new(),
        b"id: 1\n\nid: 2\0x\ndata: a\n\nid: 3\nid: \0\ndata: b\n\n",
    );
    assert_eq!(events, [data("a"), Ok(SseEvent::new("b").with_id("3"))]);
    assert_eq!(dec.last_event_id(), "3");
}

#[test]
fn id_of_an_unfinished_event_is_not_kept() {
    let (events, dec) = decode_with(SseDecoder::new(), b"id: 1\n\nid: 2\ndata: x\n");
    assert_eq!(events, []);
    assert_eq!(dec.last_event_id(), "1");
}

#[test]
fn retry_only_digits() {
    let (events, dec) = decode_with(SseDecoder::new(), b"retry: 1500\ndata: a\n\n");
    assert_eq!(events, [Ok(SseEvent::new("a").with_retry(1500))]);
    assert_eq!(dec.retry(), Some(1500));
    for bad in [
        &b"retry: 12a\n"[..],
        b"retry:\n",
        b"retry\n",
        b"retry:  12\n",
        b"retry: -1\n",
        b"retry: +1\n",
        b"retry: 1.5\n",
        b"retry: 1 \n",
        b"retry: 99999999999999999999999\n",
        b"retry: \xd9\xa1\n",
    ] {
        let input = [bad, b"data: a\n\n"].concat();
        let (events, dec) = decode_with(SseDecoder::new(), &input);
        assert_eq!(events, [data("a")], "{bad:?}");
        assert_eq!(dec.retry(), None, "{bad:?}");
    }
    assert_eq!(
        decode(b"retry: 0007\ndata\n\n"),
        [Ok(SseEvent::new("").with_retry(7))]
    );
    assert_eq!(
        decode(b"retry: 18446744073709551615\ndata\n\n"),
        [Ok(SseEvent::new("").with_retry(u64::MAX))]
    );
}

#[test]
fn retry_takes_effect_at_once_and_persists() {
    let mut dec = SseDecoder::new();
    dec.push(b"retry: 10\n");
    assert_eq!(drain(&mut dec), []);
    assert_eq!(dec.retry(), Some(10));
    // Even in an event that is never dispatched; the last one wins.
    dec.push(b"\nretry: 20\nretry: x\n\ndata: a\n\n");
    assert_eq!(drain(&mut dec), [data("a")]);
    assert_eq!(dec.retry(), Some(20));
    assert_eq!(dec.finish(), None);
    assert_eq!(dec.retry(), Some(20));
}

// ---- Dispatch and end of stream ----

#[test]
fn blank_lines_without_data_dispatch_nothing() {
    assert_eq!(decode(b"\n\n\r\n\r\revent: x\n\n"), []);
}

#[test]
fn only_the_final_newline_is_removed() {
    assert_eq!(decode(b"data\ndata\ndata: a\ndata\n\n"), [data("\n\na\n")]);
}

#[test]
fn unfinished_event_is_discarded_at_eof() {
    assert_eq!(decode(b"data: a\n\ndata: b\n"), [data("a")]);
    assert_eq!(decode(b"data: a\n\ndata: b"), [data("a")]);
    assert_eq!(decode(b"data: a\n\ndata: b\r"), [data("a")]);
}

#[test]
fn finish_returns_undrained_events_and_starts_a_new_stream() {
    let mut dec = SseDecoder::new();
    dec.push(b"id: 5\ndata: a\n\ndata: b\n\ndata: lost\n");
    assert_eq!(
        drain_finish(&mut dec),
        [Ok(SseEvent::new("a").with_id("5")), data("b")]
    );
    assert_eq!(dec.buffered(), 0);
    // A reconnection: a BOM may start it, the last event ID is kept.
    dec.push(b"\xEF\xBB\xBFdata: c\n\n");
    assert_eq!(drain(&mut dec), [data("c")]);
    assert_eq!(dec.last_event_id(), "5");
    // The unfinished event of the old stream is gone.
    let mut dec = SseDecoder::new();
    dec.push(b"data: a\r");
    assert_eq!(drain_finish(&mut dec), []);
    dec.push(b"\ndata: b\n\n");
    assert_eq!(drain(&mut dec), [data("b")]);
}

// ---- Limits ----

#[test]
fn default_limits() {
    let dec = SseDecoder::default();
    assert_eq!(dec.max_line_len(), 4 * 1024 * 1024);
    assert_eq!(dec.max_event_len(), 4 * 1024 * 1024);
    assert_eq!(SseDecoder::DEFAULT_MAX_LINE_LEN, 4 * 1024 * 1024);
    assert_eq!(SseDecoder::DEFAULT_MAX_EVENT_LEN, 4 * 1024 * 1024);
    let big = "x".repeat(1 << 20);
    let mut input = Vec::new();
    for _ in 0..4 {
        input.extend_from_slice(format!("data:{big}\n").as_bytes());
    }
    input.extend_from_slice(b"\n");
    // 4 MiB + 3 newlines.
    assert_eq!(
        decode(&input),
        [Err(SseError::EventTooLong { max: 4 << 20 })]
    );
}

#[test]
fn line_too_long_is_reported_early_and_discards_the_event() {
    let mut dec = SseDecoder::new().with_max_line_len(8);
    dec.push(b"id: 1\ndata: a\n\nid: 2\nretry: 5\ndata: 12");
    assert_eq!(drain(&mut dec), [Ok(SseEvent::new("a").with_id("1"))]);
    dec.push(b"3");
    assert_eq!(drain(&mut dec), [Err(SseError::LineTooLong { max: 8 })]);
    assert_eq!(dec.buffered(), 0);
    // The rest of the line is dropped as it comes.
    dec.push(b"4567890");
    assert_eq!(dec.buffered(), 0);
    // The rest of the event is ignored, a second long line unreported.
    dec.push(b"\rdata: b\ndata: 123456789\nid: 3\n\ndata: c\n\n");
    assert_eq!(drain(&mut dec), [data("c")]);
    // The discarded event's ID was not kept; its earlier retry was.
    assert_eq!(dec.last_event_id(), "1");
    assert_eq!(dec.retry(), Some(5));
}

#[test]
fn line_limit_counts_every_line_but_not_terminators() {
    let dec = || SseDecoder::new().with_max_line_len(7);
    assert_eq!(decode_with(dec(), b"data: a\r\n\r\n").0, [data("a")]);
    assert_eq!(
        decode_with(dec(), b"data: ab\r\n\r\ndata: c\n\n").0,
        [Err(SseError::LineTooLong { max: 7 }), data("c")]
    );
    // Comments too.
    assert_eq!(
        decode_with(dec(), b": 1234567\ndata: a\n\n").0,
        [Err(SseError::LineTooLong { max: 7 })]
    );
    // A final unterminated line over the limit is reported.
    assert_eq!(
        decode_with(dec(), b"data: abcdef").0,
        [Err(SseError::LineTooLong { max: 7 })]
    );
    // A zero limit refuses everything but blank lines, even a BOM prefix.
    let zero = || SseDecoder::new().with_max_line_len(0);
    assert_eq!(decode_with(zero(), b"\n\r\n\r").0, []);
    assert_eq!(
        decode_with(zero(), b"\xEF\xBB").0,
        [Err(SseError::LineTooLong { max: 0 })]
    );
    assert_eq!(decode_with(zero(), b"\xEF\xBB\xBF\n").0, []);
}

#[test]
fn event_limit_counts_the_data_as_returned() {
    let dec = || SseDecoder::new().with_max_event_len(5);
    // "ab\ncd": 5 bytes.
    assert_eq!(
        decode_with(dec(), b"data: ab\ndata: cd\n\n").0,
        [data("ab\ncd")]
    );
    assert_eq!(
        decode_with(dec(), b"data: ab\ndata: cde\nid: 9\n\ndata: ok\n\n").0,
        [Err(SseError::EventTooLong { max: 5 }), data("ok")]
    );
    // Bytes after U+FFFD replacement: 2 invalid bytes are 6.
    assert_eq!(
        decode_with(dec(), b"data: \xFF\xFF\n\n").0,
        [Err(SseError::EventTooLong { max: 5 })]
    );
    let zero = || SseDecoder::new().with_max_event_len(0);
    assert_eq!(decode_with(zero(), b"data\n\n").0, [data("")]);
    assert_eq!(
        decode_with(zero(), b"data\ndata\n\n").0,
        [Err(SseError::EventTooLong { max: 0 })]
    );
}

#[test]
fn error_messages() {
    assert_eq!(
        SseError::LineTooLong { max: 3 }.to_string(),
        "event stream line longer than the limit of 3 bytes"
    );
    assert_eq!(
        SseError::EventTooLong { max: 3 }.to_string(),
        "event data longer than the limit of 3 bytes"
    );
    assert_eq!(
        SseError::InvalidId.to_string(),
        "event id contains a line break or NUL"
    );
    assert_eq!(
        SseError::InvalidEventType.to_string(),
        "event type contains a line break"
    );
}

// ---- Encoding ----

#[test]
fn encode_all_fields() {
    let ev = SseEvent::new("hello")
        .with_id("42")
        .with_event("greeting")
        .with_retry(2500);
    assert_eq!(
        encode(&ev),
        b"id: 42\nevent: greeting\nretry: 2500\ndata: hello\n\n"
    );
    assert_eq!(decode(&encode(&ev)), [Ok(ev)]);
}

#[test]
fn encode_data_lines() {
    assert_eq!(encode(&SseEvent::new("")), b"data:\n\n");
    assert_eq!(encode(&SseEvent::new("a\nb")), b"data: a\ndata: b\n\n");
    assert_eq!(
        encode(&SseEvent::new("a\r\nb\rc\n")),
        b"data: a\ndata: b\ndata: c\ndata:\n\n"
    );
    assert_eq!(encode(&SseEvent::new("\n")), b"data:\ndata:\n\n");
    // Leading spaces survive: one space is always written before a value.
    assert_eq!(encode(&SseEvent::new(" x")), b"data:  x\n\n");
    assert_eq!(decode(&encode(&SseEvent::new(" x"))), [data(" x")]);
    assert_eq!(
        decode(&encode(&SseEvent::new("a\r\nb\rc\n"))),
        [data("a\nb\nc\n")]
    );
}

#[test]
fn encode_empty_id_resets_the_last_event_id() {
    assert_eq!(encode(&SseEvent::new("a").with_id("")), b"id:\ndata: a\n\n");
}

#[test]
fn encode_refuses_bad_ids_and_types() {
    let mut dst = BytesMut::from(&b"keep"[..]);
    for id in ["a\nb", "a\rb", "a\0b", "\n"] {
        let ev = SseEvent::new("x").with_id(id);
        assert_eq!(encode_event(&ev, &mut dst), Err(SseError::InvalidId));
    }
    for ty in ["a\nb", "a\r", "\r\n"] {
        let ev = SseEvent::new("x").with_event(ty);
        assert_eq!(encode_event(&ev, &mut dst), Err(SseError::InvalidEventType));
    }
    // NUL is fine in a type and in data.
    encode_event(&SseEvent::new("\0").with_event("\0"), &mut dst).unwrap();
    assert_eq!(&dst[..], b"keepevent: \0\ndata: \0\n\n");
}

#[test]
fn encode_comments() {
    let mut dst = BytesMut::new();
    encode_comment("ping", &mut dst);
    encode_comment("", &mut dst);
    encode_comment("two\r\nlines", &mut dst);
    assert_eq!(&dst[..], b": ping\n:\n: two\n: lines\n");
    // Comments between and inside events change nothing.
    let mut wire = BytesMut::new();
    encode_comment("start", &mut wire);
    encode_event(&SseEvent::new("a"), &mut wire).unwrap();
    encode_comment("x\ny", &mut wire);
    encode_event(&SseEvent::new("b"), &mut wire).unwrap();
    assert_eq!(decode(&wire), [data("a"), data("b")]);
}

// ---- Reference and properties ----

/// An item with the decoder's last event ID and retry right after it, and
/// the input range of the push after which it came out (`len..len + 1`
/// for `finish`).
type Placed = (Item, String, Option<u64>, std::ops::Range<usize>);

fn run(
    input: &[u8],
    cuts: &[usize],
    max_line: usize,
    max_event: usize,
) -> (Vec<Placed>, String, Option<u64>) {
    let mut dec = SseDecoder::new()
        .with_max_line_len(max_line)
        .with_max_event_len(max_event);
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
        while let Some(item) = dec.next_event() {
            let id = dec.last_event_id().to_owned();
            out.push((item, id, dec.retry(), start..end));
        }
        assert!(
            dec.buffered() <= max_line.max(2).saturating_add(max_event),
            "{} bytes buffered",
            dec.buffered()
        );
        start = end;
    }
    let eof = input.len()..input.len() + 1;
    while let Some(item) = dec.finish() {
        let id = dec.last_event_id().to_owned();
        out.push((item, id, dec.retry(), eof.clone()));
    }
    assert_eq!(dec.buffered(), 0);
    for (item, ..) in &out {
        if let Ok(ev) = item {
            assert!(ev.data.len() <= max_event, "data over the limit");
        }
    }
    (out, dec.last_event_id().to_owned(), dec.retry())
}

fn check_split_invariant(input: &[u8], cuts: &[usize], max_line: usize, max_event: usize) {
    let every: Vec<usize> = (1..input.len()).collect();
    let bytewise = run(input, &every, max_line, max_event);
    for (name, other) in [
        ("whole", run(input, &[], max_line, max_event)),
        ("split", run(input, cuts, max_line, max_event)),
    ] {
        let strip = |v: &[Placed]| -> Vec<(Item, String, Option<u64>)> {
            v.iter()
                .map(|(i, id, r, _)| (i.clone(), id.clone(), *r))
                .collect()
        };
        assert_eq!(
            strip(&other.0),
            strip(&bytewise.0),
            "{name}: items differ (cuts {cuts:?})"
        );
        assert_eq!(other.1, bytewise.1, "{name}: last event ID differs");
        assert_eq!(other.2, bytewise.2, "{name}: retry differs");
        for ((.., at), (item, .., range)) in bytewise.0.iter().zip(&other.0) {
            assert!(
                range.contains(&(at.end - 1)),
                "{name}: {item:?} came after {range:?}, byte by byte after byte {}",
                at.end - 1
            );
        }
    }
    let (items, last_id, retry) = reference(input, max_line, max_event);
    let got: Vec<Item> = bytewise.0.into_iter().map(|(i, ..)| i).collect();
    assert_eq!(got, items, "differs from the reference");
    assert_eq!(
        bytewise.1, last_id,
        "last event ID differs from the reference"
    );
    assert_eq!(bytewise.2, retry, "retry differs from the reference");
}

/// Streams built from the pieces that matter to the rules.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let token = prop::sample::select(vec![
        &b"data"[..],
        b"data:",
        b"data: ",
        b"id:",
        b"id: ",
        b"event:",
        b"retry:",
        b"retry: ",
        b":",
        b" ",
        b"\r",
        b"\n",
        b"\r\n",
        b"\n",
        b"\r\n",
        b"x",
        b"12",
        b"\0",
        b"\xEF\xBB\xBF",
        b"\xEF",
        b"\xFF",
        b"\xC3\xA9",
    ]);
    prop_oneof![
        4 => prop::collection::vec(token, 0..60).prop_map(|t| t.concat()),
        1 => prop::collection::vec(any::<u8>(), 0..100),
    ]
}

fn limits() -> impl Strategy<Value = (usize, usize)> {
    let small = prop_oneof![3 => 0usize..16, 1 => Just(4 << 20)];
    (small.clone(), small)
}

fn with_cuts() -> impl Strategy<Value = (Vec<u8>, Vec<usize>)> {
    stream().prop_flat_map(|input| {
        let len = input.len();
        let cuts = prop::collection::btree_set(1..len.max(2), 0..=len.min(32))
            .prop_map(|s| s.into_iter().collect::<Vec<_>>());
        (Just(input), cuts)
    })
}

fn event() -> impl Strategy<Value = SseEvent> {
    (
        prop::option::of("[^\r\n\0]{0,8}"),
        prop::option::of("[^\r\n]{1,8}"),
        prop::option::of(any::<u64>()),
        prop_oneof!["(?s).{0,24}", "[a \r\n]{0,12}"],
    )
        .prop_map(|(id, event, retry, data)| SseEvent {
            id,
            event,
            data,
            retry,
        })
}

proptest! {
    #[test]
    fn split_invariance((input, cuts) in with_cuts(), (max_line, max_event) in limits()) {
        check_split_invariant(&input, &cuts, max_line, max_event);
    }

    #[test]
    fn roundtrip(
        events in prop::collection::vec(event(), 0..12),
        comments in prop::collection::vec(prop::option::of("(?s).{0,8}"), 0..12),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..16),
    ) {
        let mut wire = BytesMut::new();
        for (i, ev) in events.iter().enumerate() {
            if let Some(Some(c)) = comments.get(i) {
                encode_comment(c, &mut wire);
            }
            encode_event(ev, &mut wire).unwrap();
        }
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(wire.len().max(1))).collect();
        cuts.sort_unstable();
        let (out, last_id, retry) = run(&wire, &cuts, usize::MAX, usize::MAX);
        let got: Vec<Item> = out.into_iter().map(|(i, ..)| i).collect();
        // On the wire, every line break in the data is a `\n`.
        let expected: Vec<Item> = events
            .iter()
            .map(|ev| {
                let mut ev = ev.clone();
                ev.data = ev.data.replace("\r\n", "\n").replace('\r', "\n");
                Ok(ev)
            })
            .collect();
        prop_assert_eq!(got, expected);
        let want_id = events.iter().rev().find_map(|e| e.id.clone()).unwrap_or_default();
        prop_assert_eq!(last_id, want_id);
        prop_assert_eq!(retry, events.iter().rev().find_map(|e| e.retry));
    }

    #[test]
    fn decoded_events_reencode_to_themselves((input, _cuts) in with_cuts()) {
        let events = decode(&input);
        let mut wire = BytesMut::new();
        let mut expected = Vec::new();
        for ev in events.into_iter().flatten() {
            encode_event(&ev, &mut wire).unwrap();
            expected.push(Ok(ev));
        }
        prop_assert_eq!(decode(&wire), expected);
    }
}
