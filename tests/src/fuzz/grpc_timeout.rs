//! The gRPC header values: `grpc-timeout` ([`parse_timeout`],
//! [`format_timeout`]), percent-encoded `grpc-message`
//! ([`decode_grpc_message`], [`encode_grpc_message`]) and custom metadata
//! values (ASCII and `-bin`, [`Metadata`]).
//!
//! # Input layout
//!
//! ```text
//! [value...]
//! ```
//!
//! The whole input is every kind of value at once: a `grpc-timeout`
//! value, a `grpc-message` value and a metadata value. Its first 12 bytes
//! (when there are that many) are also a duration to format: seconds as a
//! little-endian `u64`, then nanoseconds as a little-endian `u32` (taken
//! modulo 10^9). There is nothing to split: these are whole header values.
//!
//! # What is checked
//!
//! * `grpc-timeout`: the parser agrees with [`reference_timeout`], a plain
//!   reading of the spec's grammar (`TimeoutValue TimeoutUnit`, at most 8
//!   digits); what it accepts formats back to a value of the same grammar
//!   that parses to the same duration (every unit divides the next, so
//!   the finest unit that fits is exact).
//! * Formatting any duration gives at most 8 digits and a unit, never an
//!   earlier deadline than asked, and less than one unit later (or the cap,
//!   `99999999H`, for what does not fit).
//! * `grpc-message`: decoding never fails and agrees with a reference
//!   decoder; the decoded text encodes to visible ASCII only and decodes
//!   back to itself; any text (the input read lossily as UTF-8) survives
//!   the encoding.
//! * Metadata: an ASCII value is taken iff it is 0x20-0x7E only, and reads
//!   back unchanged; any bytes survive a `-bin` value; a received `-bin`
//!   value decodes iff it is base64 (padding optional), and re-encodes to
//!   the same bytes.

use std::time::Duration;
use wirestate_grpc::timeout::MAX_TIMEOUT_VALUE;
use wirestate_grpc::{
    Error, Metadata, decode_bin_value, decode_grpc_message, encode_bin_value, encode_grpc_message,
    format_timeout, parse_timeout,
};

/// The units of `grpc-timeout` with their length in nanoseconds, finest
/// first, as the spec lists them.
const UNITS: [(char, u128); 6] = [
    ('n', 1),
    ('u', 1_000),
    ('m', 1_000_000),
    ('S', 1_000_000_000),
    ('M', 60_000_000_000),
    ('H', 3_600_000_000_000),
];

/// Fuzz body for `grpc_timeout` (see the module docs).
pub fn grpc_timeout(data: &[u8]) {
    check_parse(data);
    if let Some((secs, rest)) = data.split_first_chunk::<8>()
        && let Some((nanos, _)) = rest.split_first_chunk::<4>()
    {
        let d = Duration::new(
            u64::from_le_bytes(*secs),
            u32::from_le_bytes(*nanos) % 1_000_000_000,
        );
        check_format(d);
    }
    check_message(data);
    check_metadata(data);
}

/// A `grpc-timeout` value read straight from the spec's grammar, in
/// nanoseconds: `TimeoutValue` is 1 to 8 ASCII digits, `TimeoutUnit` one of
/// `H M S m u n`. Written apart from the crate's parser on purpose (string
/// slicing and `str::parse` instead of a byte fold).
pub fn reference_timeout(value: &[u8]) -> Option<u128> {
    let text = std::str::from_utf8(value).ok()?;
    let unit = text.chars().last()?;
    let digits = &text[..text.len() - unit.len_utf8()];
    if !(1..=8).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u128 = digits.parse().ok()?;
    let (_, len) = UNITS.iter().find(|(u, _)| *u == unit)?;
    Some(n * len)
}

fn check_parse(value: &[u8]) {
    let parsed = parse_timeout(value);
    match (reference_timeout(value), &parsed) {
        (Some(want), Ok(got)) => assert_eq!(got.as_nanos(), want, "timeout: a different value"),
        (None, Err(e)) => assert_eq!(*e, Error::InvalidTimeout, "timeout: the error"),
        (want, got) => panic!("timeout: reference {want:?}, parser {got:?}"),
    }
    if let Ok(d) = parsed {
        let text = format_timeout(d);
        let again = reference_timeout(text.as_bytes()).expect("formatted within the grammar");
        assert_eq!(again, d.as_nanos(), "timeout: {text:?} is not {d:?}");
        assert_eq!(parse_timeout(text.as_bytes()), Ok(d), "timeout: round trip");
    }
}

fn check_format(d: Duration) {
    let text = format_timeout(d);
    let sent = reference_timeout(text.as_bytes()).expect("formatted within the grammar");
    let unit = text.as_bytes()[text.len() - 1];
    let (_, len) = UNITS
        .iter()
        .find(|(u, _)| *u == char::from(unit))
        .expect("a known unit");
    let max = u128::from(MAX_TIMEOUT_VALUE) * len;
    if d.as_nanos() > UNITS[5].1 * u128::from(MAX_TIMEOUT_VALUE) {
        assert_eq!(text, "99999999H", "timeout: the cap");
    } else {
        assert!(
            sent >= d.as_nanos(),
            "timeout: {text:?} is earlier than {d:?}"
        );
        assert!(
            sent - d.as_nanos() < *len,
            "timeout: {text:?} rounds {d:?} by a unit or more"
        );
        assert!(sent <= max, "timeout: {text:?} over 8 digits");
        // The finest unit that fits: one finer would need more than 8 digits.
        if let Some(i) = UNITS.iter().position(|(u, _)| *u == char::from(unit))
            && i > 0
        {
            let finer = UNITS[i - 1].1;
            assert!(
                d.as_nanos().div_ceil(finer) > u128::from(MAX_TIMEOUT_VALUE),
                "timeout: {text:?} for {d:?} when a finer unit fits"
            );
        }
    }
}

/// `grpc-message` percent-decoding as the spec words it: `%` and two hex
/// digits (either case) is a byte; anything else, a lone `%` included, is
/// taken as it is; invalid UTF-8 becomes U+FFFD.
fn reference_message(value: &[u8]) -> String {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%'
            && let Some(hex) = tail.get(..2)
            && let Ok(hex) = std::str::from_utf8(hex)
            && hex.bytes().all(|c| c.is_ascii_hexdigit())
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            rest = &tail[2..];
        } else {
            out.push(b);
            rest = tail;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn check_message(value: &[u8]) {
    let decoded = decode_grpc_message(value);
    assert_eq!(decoded, reference_message(value), "grpc-message: decoding");
    for text in [decoded, String::from_utf8_lossy(value).into_owned()] {
        let encoded = encode_grpc_message(&text);
        assert!(
            encoded.as_bytes().iter().all(|b| (0x20..=0x7e).contains(b)),
            "grpc-message: {encoded:?} is not visible ASCII"
        );
        assert_eq!(
            decode_grpc_message(encoded.as_bytes()),
            text,
            "grpc-message: round trip"
        );
    }
}

fn check_metadata(value: &[u8]) {
    // ASCII values: taken iff visible ASCII or space, and read back as sent.
    let mut md = Metadata::new();
    let ascii = std::str::from_utf8(value).ok();
    let result = ascii.map(|v| md.insert("x-fuzz", v));
    let valid = value.iter().all(|b| (0x20..=0x7e).contains(b));
    match result {
        Some(Ok(())) => {
            assert!(valid, "metadata: took {value:?}");
            let back = Metadata::from_headers(md.as_header_map());
            assert_eq!(back.get_str("x-fuzz"), ascii, "metadata: read back");
        }
        Some(Err(_)) | None => assert!(!valid, "metadata: refused {value:?}"),
    }
    // Binary values: any bytes, unpadded base64 on the wire.
    let mut md = Metadata::new();
    md.insert_bin("x-fuzz-bin", value).expect("any bytes");
    let wire = md.get("x-fuzz-bin").expect("inserted").clone();
    assert!(!wire.as_bytes().contains(&b'='), "metadata: padded base64");
    let back = Metadata::from_headers(md.as_header_map());
    assert_eq!(
        back.get_bin("x-fuzz-bin").expect("present").as_deref(),
        Ok(value),
        "metadata: binary round trip"
    );
    // A received binary value: what decodes re-encodes to the same bytes.
    if let Ok(bytes) = decode_bin_value(value) {
        let again = encode_bin_value(&bytes);
        assert_eq!(
            decode_bin_value(again.as_bytes()).as_deref(),
            Ok(&bytes[..]),
            "metadata: received binary round trip"
        );
    }
}

/// The hand-made seeds of `grpc_timeout`.
pub fn grpc_timeout_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let values: &[(&str, &[u8])] = &[
        ("one-second", b"1S"),
        ("millis", b"100m"),
        ("eight-digits", b"99999999H"),
        ("nine-digits", b"123456789n"),
        ("zero", b"0n"),
        ("lower-s", b"1s"),
        ("no-digits", b"S"),
        ("sign", b"+5S"),
        ("space", b" 5S"),
        ("minutes", b"00000007M"),
        ("micros", b"250u"),
        ("empty", b""),
        ("utf8-unit", "5é".as_bytes()),
        ("message-percent", b"50% off, %zz%41%c3%a9"),
        ("message-utf8", b"%F0%9F%A6%80 and %FF"),
        ("binary-base64", b"AAEC/w=="),
        (
            "duration-bytes",
            b"\xff\xff\xff\xff\xff\xff\xff\xff\x00\xca\x9a\x3b",
        ),
        (
            "duration-small",
            b"\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00",
        ),
    ];
    values.iter().map(|(n, v)| (*n, v.to_vec())).collect()
}
