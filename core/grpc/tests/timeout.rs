//! `grpc-timeout`: the spec's grammar, formatting and deadlines.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use wirestate_grpc::{Error, deadline_after, format_timeout, parse_timeout, timeout_until};

#[test]
fn spec_examples() {
    // PROTOCOL-HTTP2.md's request example.
    assert_eq!(parse_timeout(b"1S"), Ok(Duration::from_secs(1)));
    let cases: [(&[u8], Duration); 8] = [
        (b"2H", Duration::from_secs(7200)),
        (b"3M", Duration::from_secs(180)),
        (b"100m", Duration::from_millis(100)),
        (b"250u", Duration::from_micros(250)),
        (b"5n", Duration::from_nanos(5)),
        (b"0n", Duration::ZERO),
        (b"00000001S", Duration::from_secs(1)),
        (b"99999999n", Duration::from_nanos(99_999_999)),
    ];
    for (v, d) in cases {
        assert_eq!(parse_timeout(v), Ok(d), "{}", String::from_utf8_lossy(v));
    }
}

#[test]
fn malformed() {
    for v in [
        &b""[..],
        b"S",
        b"1",
        b"123456789S",
        b"1s",
        b"1h",
        b"1x",
        b"-1S",
        b"+1S",
        b" 1S",
        b"1S ",
        b"1.5S",
        b"1SS",
    ] {
        assert_eq!(parse_timeout(v), Err(Error::InvalidTimeout), "{v:?}");
    }
    assert_eq!(
        Error::InvalidTimeout.hint(),
        Some(wirestate_grpc::Code::Internal)
    );
}

#[test]
fn formatting_picks_the_finest_unit() {
    let cases = [
        (Duration::ZERO, "0n"),
        (Duration::from_nanos(99_999_999), "99999999n"),
        (Duration::from_nanos(100_000_000), "100000u"),
        (Duration::from_nanos(100_000_001), "100001u"), // rounded up
        (Duration::from_secs(100), "100000m"),
        (Duration::from_secs(100_000), "100000S"),
        (Duration::from_secs(100_000_000), "1666667M"),
        (Duration::from_secs(6_000_000_000), "1666667H"),
        (Duration::from_secs(99_999_999 * 3600), "99999999H"),
        (Duration::MAX, "99999999H"),
    ];
    for (d, s) in cases {
        assert_eq!(format_timeout(d), s, "{d:?}");
    }
}

#[test]
fn deadlines() {
    let now = Instant::now();
    let t = parse_timeout(b"250m").unwrap();
    let deadline = deadline_after(now, t).unwrap();
    assert_eq!(deadline - now, Duration::from_millis(250));
    assert_eq!(timeout_until(deadline, now), Duration::from_millis(250));
    assert_eq!(
        timeout_until(deadline, deadline + Duration::from_secs(1)),
        Duration::ZERO
    );
    assert_eq!(deadline_after(now, Duration::MAX), None);
}

proptest! {
    /// Formatting then parsing never shortens a timeout, lengthens it by
    /// less than one unit of the chosen unit, and is exact when the
    /// timeout is a whole number of that unit.
    #[test]
    fn round_trip(secs in 0u64..(99_999_999 * 3600), nanos in 0u32..1_000_000_000) {
        let d = Duration::new(secs, nanos);
        let v = format_timeout(d);
        let bytes = v.as_bytes();
        prop_assert!(bytes.len() <= 9);
        let back = parse_timeout(bytes).unwrap();
        prop_assert!(back >= d, "{:?} -> {:?} -> {:?}", d, v, back);
        let unit = match bytes[bytes.len() - 1] {
            b'n' => Duration::from_nanos(1),
            b'u' => Duration::from_micros(1),
            b'm' => Duration::from_millis(1),
            b'S' => Duration::from_secs(1),
            b'M' => Duration::from_secs(60),
            _ => Duration::from_secs(3600),
        };
        prop_assert!(back - d < unit);
        // Formatting what was parsed gives it back exactly.
        prop_assert_eq!(parse_timeout(format_timeout(back).as_bytes()).unwrap(), back);
    }

    /// Parsing never panics and accepts exactly the grammar.
    #[test]
    fn parse_is_total(v in "[0-9]{0,10}[HMSmun]?") {
        let ok = parse_timeout(v.as_bytes()).is_ok();
        let digits = v.trim_end_matches(|c: char| c.is_ascii_alphabetic()).len();
        let has_unit = v.len() > digits;
        prop_assert_eq!(ok, has_unit && (1..=8).contains(&digits));
    }
}
