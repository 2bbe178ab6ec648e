//! `grpc-timeout`: parsing, formatting, and turning it into a deadline.
//!
//! Time is an input here as everywhere in wirestate: the deadline is
//! computed from a `now` the caller passes, and a call machine arms its
//! timer with it.

use std::time::{Duration, Instant};

use http::header::{HeaderName, HeaderValue};

use crate::Error;

/// The `grpc-timeout` header.
pub const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// The largest TimeoutValue: 8 digits.
pub const MAX_TIMEOUT_VALUE: u64 = 99_999_999;

/// The units from finest to coarsest, with their length in nanoseconds.
const UNITS: [(u8, u64); 6] = [
    (b'n', 1),
    (b'u', 1_000),
    (b'm', 1_000_000),
    (b'S', 1_000_000_000),
    (b'M', 60_000_000_000),
    (b'H', 3_600_000_000_000),
];

/// Parses a `grpc-timeout` value: 1 to 8 ASCII digits and a unit, `H`
/// (hours), `M` (minutes), `S` (seconds), `m` (milliseconds), `u`
/// (microseconds) or `n` (nanoseconds). Zero is accepted (the deadline has
/// already passed).
///
/// ```
/// use std::time::Duration;
/// use wirestate_grpc::parse_timeout;
/// assert_eq!(parse_timeout(b"1S").unwrap(), Duration::from_secs(1));
/// assert_eq!(parse_timeout(b"100m").unwrap(), Duration::from_millis(100));
/// assert_eq!(parse_timeout(b"99999999H").unwrap(), Duration::from_secs(99_999_999 * 3600));
/// assert!(parse_timeout(b"123456789n").is_err()); // 9 digits
/// assert!(parse_timeout(b"1s").is_err()); // units are case-sensitive
/// ```
///
/// # Errors
///
/// [`Error::InvalidTimeout`] for anything else (no digits, more than 8,
/// signs, spaces, an unknown unit).
pub fn parse_timeout(value: &[u8]) -> Result<Duration, Error> {
    let Some((&unit, digits)) = value.split_last() else {
        return Err(Error::InvalidTimeout);
    };
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(Error::InvalidTimeout);
    }
    let n = digits
        .iter()
        .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
    Ok(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return Err(Error::InvalidTimeout),
    })
}

/// Formats a timeout for `grpc-timeout` in the finest unit whose value fits
/// 8 digits, rounding up so that the peer's deadline is never earlier than
/// ours. Timeouts beyond 99999999 hours are sent as `99999999H`.
///
/// ```
/// use std::time::Duration;
/// use wirestate_grpc::format_timeout;
/// assert_eq!(format_timeout(Duration::from_secs(1)), "1000000u");
/// assert_eq!(format_timeout(Duration::from_millis(1500)), "1500000u");
/// assert_eq!(format_timeout(Duration::from_secs(3600)), "3600000m");
/// assert_eq!(format_timeout(Duration::from_nanos(1)), "1n");
/// assert_eq!(format_timeout(Duration::ZERO), "0n");
/// ```
pub fn format_timeout(timeout: Duration) -> HeaderValue {
    let nanos = timeout.as_nanos();
    let (value, unit) = UNITS
        .iter()
        .find_map(|&(unit, len)| {
            let v = nanos.div_ceil(u128::from(len));
            (v <= u128::from(MAX_TIMEOUT_VALUE)).then_some((v, unit))
        })
        .unwrap_or((u128::from(MAX_TIMEOUT_VALUE), b'H'));
    let mut s = value.to_string();
    s.push(char::from(unit));
    // Digits and a letter: always a valid header value.
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("99999999H"))
}

/// The deadline `timeout` after `now`; `None` if it lies beyond what
/// `Instant` can hold (treat as no deadline).
pub fn deadline_after(now: Instant, timeout: Duration) -> Option<Instant> {
    now.checked_add(timeout)
}

/// The timeout to send for a call whose deadline is `deadline`: the time
/// left at `now`, zero once it has passed.
pub fn timeout_until(deadline: Instant, now: Instant) -> Duration {
    deadline.saturating_duration_since(now)
}
