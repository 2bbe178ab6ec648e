//! Request ids: a string or an integer of any size, kept exactly as written.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use bytes::BytesMut;
use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::error::Invalid;
use crate::raw::write_str;

/// The id of a request: a string or an integer.
///
/// JSON-RPC 2.0 also allows `null` and fractional numbers; this crate does
/// not (MCP forbids `null` ids, and the specification discourages both):
/// a request with such an id is refused with `-32600 Invalid Request`.
/// `null` appears only as the id of an error response to a message whose
/// id could not be read, which is [`ErrorResponse::id`](crate::ErrorResponse::id)
/// being `None`.
///
/// Integers of any size keep their exact text (see [`NumberId`]), so an id
/// like `12345678901234567890123` is echoed back byte for byte. Strings are
/// kept decoded and written back escaped the standard way.
///
/// ```
/// use wirestate_jsonrpc::RequestId;
///
/// let big = RequestId::from_json("12345678901234567890123").unwrap();
/// assert_eq!(big.to_json(), "12345678901234567890123");
/// assert_eq!(RequestId::from(7u64).to_json(), "7");
/// assert_eq!(RequestId::from("a\"b").to_json(), r#""a\"b""#);
/// assert_eq!(RequestId::from_json("1.5"), None); // not an integer
/// assert_eq!(RequestId::from_json("null"), None);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RequestId {
    /// An integer id.
    Number(NumberId),
    /// A string id.
    String(Arc<str>),
}

/// An integer id, kept as the exact text the peer wrote.
///
/// The text is a JSON integer (`-?(0|[1-9][0-9]*)`, no fraction, no
/// exponent) of any length. Values that fit an `i64` are stored as one;
/// anything else (larger values, and `-0`) keeps its text. Two ids are equal
/// when their text is.
///
/// ```
/// use wirestate_jsonrpc::NumberId;
///
/// let n = NumberId::parse("-1").unwrap();
/// assert_eq!(n.as_i64(), Some(-1));
/// let big = NumberId::parse("18446744073709551616").unwrap(); // 2^64
/// assert_eq!(big.as_u64(), None);
/// assert_eq!(big.to_string(), "18446744073709551616");
/// assert!(NumberId::parse("01").is_none());
/// assert!(NumberId::parse("1e3").is_none());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NumberId(Repr);

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Repr {
    /// The canonical text of this `i64`.
    Int(i64),
    /// Any other JSON integer: beyond `i64`, or `-0`.
    Text(Box<str>),
}

/// Whether `s` is a JSON integer: `-?(0|[1-9][0-9]*)`.
fn is_json_integer(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s).as_bytes();
    match digits {
        [] => false,
        [b'0'] => true,
        [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

impl NumberId {
    /// Parses the text of a JSON integer; `None` for anything else
    /// (fractions, exponents, leading zeros, `+`, whitespace).
    pub fn parse(text: &str) -> Option<Self> {
        if !is_json_integer(text) {
            return None;
        }
        // A valid JSON integer that parses as i64 is canonical, except "-0".
        match text.parse::<i64>() {
            Ok(n) if text != "-0" => Some(Self(Repr::Int(n))),
            _ => Some(Self(Repr::Text(text.into()))),
        }
    }

    /// The value, if it fits an `i64` (`-0` does not count: it is kept as
    /// text to be echoed exactly).
    pub fn as_i64(&self) -> Option<i64> {
        match &self.0 {
            Repr::Int(n) => Some(*n),
            Repr::Text(_) => None,
        }
    }

    /// The value, if it fits a `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        match &self.0 {
            Repr::Int(n) => u64::try_from(*n).ok(),
            Repr::Text(t) if t.as_ref() != "-0" => t.parse().ok(),
            Repr::Text(_) => None,
        }
    }

    /// The exact text of the integer.
    pub fn as_text(&self) -> Cow<'_, str> {
        match &self.0 {
            Repr::Int(n) => Cow::Owned(n.to_string()),
            Repr::Text(t) => Cow::Borrowed(t),
        }
    }

    fn write(&self, out: &mut BytesMut) {
        match &self.0 {
            // Writing to a `BytesMut` cannot fail.
            Repr::Int(n) => write_i64(out, *n),
            Repr::Text(t) => out.extend_from_slice(t.as_bytes()),
        }
    }
}

/// Appends `n` in decimal: every answer writes its id, and `write!`'s
/// formatting machinery costs more than the digits.
fn write_i64(out: &mut BytesMut, n: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        // `v % 10` is below 10.
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        out.extend_from_slice(b"-");
    }
    out.extend_from_slice(&buf[i..]);
}

impl fmt::Display for NumberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Int(n) => write!(f, "{n}"),
            Repr::Text(t) => f.write_str(t),
        }
    }
}

impl fmt::Debug for NumberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<i64> for NumberId {
    fn from(n: i64) -> Self {
        Self(Repr::Int(n))
    }
}

impl From<u64> for NumberId {
    fn from(n: u64) -> Self {
        match i64::try_from(n) {
            Ok(n) => Self(Repr::Int(n)),
            Err(_) => Self(Repr::Text(n.to_string().into())),
        }
    }
}

impl From<i32> for NumberId {
    fn from(n: i32) -> Self {
        Self(Repr::Int(n.into()))
    }
}

impl From<u32> for NumberId {
    fn from(n: u32) -> Self {
        Self(Repr::Int(n.into()))
    }
}

impl RequestId {
    /// Parses an id from its JSON text: a string (`"abc"`) or an integer
    /// (`42`, `-1`, `123456789012345678901234567890`). `None` for `null`,
    /// fractions, exponents and every other JSON value, and for text that
    /// is not one JSON value.
    pub fn from_json(text: &str) -> Option<Self> {
        Self::parse(text.trim_matches([' ', '\t', '\n', '\r']), usize::MAX).ok()
    }

    /// Parses the raw text of an `id` member (a complete JSON value without
    /// surrounding whitespace).
    pub(crate) fn parse(raw: &str, max_len: usize) -> Result<Self, Invalid> {
        if raw.len() > max_len {
            return Err(Invalid::IdTooLong);
        }
        match raw.as_bytes().first() {
            Some(b'"') => serde_json::from_str::<String>(raw)
                .map(|s| Self::String(s.into()))
                .map_err(|_| Invalid::Id),
            Some(b'-' | b'0'..=b'9') => NumberId::parse(raw).map(Self::Number).ok_or(Invalid::Id),
            Some(b'n') if raw == "null" => Err(Invalid::NullId),
            _ => Err(Invalid::Id),
        }
    }

    /// The id as JSON text, exactly as it goes on the wire.
    pub fn to_json(&self) -> String {
        let mut out = BytesMut::new();
        self.write_json(&mut out);
        // Integer text and `write_str` output are UTF-8.
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Appends the id as JSON.
    pub(crate) fn write_json(&self, out: &mut BytesMut) {
        match self {
            Self::Number(n) => n.write(out),
            Self::String(s) => write_str(out, s),
        }
    }

    /// The integer value, if this is an integer id that fits a `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Self::Number(n) => n.as_u64(),
            Self::String(_) => None,
        }
    }

    /// The integer value, if this is an integer id that fits an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Number(n) => n.as_i64(),
            Self::String(_) => None,
        }
    }

    /// The string, if this is a string id.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Number(_) => None,
            Self::String(s) => Some(s),
        }
    }
}

/// Shows the id as JSON: `7`, `"abc"`.
impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(n) => fmt::Display::fmt(n, f),
            Self::String(_) => f.write_str(&self.to_json()),
        }
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<NumberId> for RequestId {
    fn from(n: NumberId) -> Self {
        Self::Number(n)
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for RequestId {
            fn from(n: $t) -> Self {
                Self::Number(NumberId::from(n))
            }
        }
    )*};
}
from_int!(i32, u32, i64, u64);

impl From<&str> for RequestId {
    fn from(s: &str) -> Self {
        Self::String(s.into())
    }
}

impl From<String> for RequestId {
    fn from(s: String) -> Self {
        Self::String(s.into())
    }
}

impl From<Arc<str>> for RequestId {
    fn from(s: Arc<str>) -> Self {
        Self::String(s)
    }
}

/// Serializes as a JSON string or integer. Integers beyond `i64`/`u64` go
/// through `i128`/`u128` and, past those, as raw JSON text, which only
/// `serde_json` understands.
impl Serialize for RequestId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::String(s) => serializer.serialize_str(s),
            Self::Number(n) => match &n.0 {
                Repr::Int(v) => serializer.serialize_i64(*v),
                Repr::Text(t) => {
                    if let Ok(v) = t.parse::<u128>() {
                        serializer.serialize_u128(v)
                    } else if let (Ok(v), false) = (t.parse::<i128>(), t.as_ref() == "-0") {
                        serializer.serialize_i128(v)
                    } else {
                        let raw: &RawValue = serde_json::from_str(t).map_err(S::Error::custom)?;
                        raw.serialize(serializer)
                    }
                }
            },
        }
    }
}

/// Deserializes from a JSON string or integer, keeping integers of any size
/// exactly. Works with `serde_json` deserializers (it reads the raw text).
impl<'de> Deserialize<'de> for RequestId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Self::parse(raw.get(), usize::MAX).map_err(|e| D::Error::custom(format!("invalid id: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_keep_their_text() {
        for text in [
            "0",
            "-0",
            "-1",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "18446744073709551615",
            "-9223372036854775809",
            "12345678901234567890123",
            "-12345678901234567890123456789012345678901234567890",
        ] {
            let id = RequestId::from_json(text).unwrap();
            assert_eq!(id.to_json(), text);
            assert_eq!(id.to_string(), text);
            assert_eq!(
                serde_json::to_string(&id).unwrap(),
                text,
                "serialize {text}"
            );
            let back: RequestId = serde_json::from_str(text).unwrap();
            assert_eq!(back, id);
        }
        assert_eq!(RequestId::from(u64::MAX).to_json(), "18446744073709551615");
        assert_eq!(
            RequestId::from(u64::MAX),
            RequestId::from_json("18446744073709551615").unwrap()
        );
        assert_eq!(RequestId::from(u64::MAX).as_u64(), Some(u64::MAX));
        assert_eq!(RequestId::from(i64::MIN).to_json(), i64::MIN.to_string());
        for n in [0, 1, -1, 9, 10, -10, 99, 100, 12345, i64::MAX, i64::MIN + 1] {
            assert_eq!(RequestId::from(n).to_json(), n.to_string());
        }
        assert_ne!(
            RequestId::from_json("-0").unwrap(),
            RequestId::from_json("0").unwrap()
        );
        assert_eq!(RequestId::from_json("-0").unwrap().as_u64(), None);
    }

    #[test]
    fn refuses_what_is_not_an_id() {
        for text in [
            "", "null", "1.0", "1e3", "1E3", "01", "-", "+1", "--1", "true", "[]", "{}", "\"a",
            "1 2",
        ] {
            assert_eq!(RequestId::from_json(text), None, "{text:?}");
        }
        assert_eq!(RequestId::parse("null", 10), Err(Invalid::NullId));
        assert_eq!(RequestId::parse("12345", 4), Err(Invalid::IdTooLong));
    }

    #[test]
    fn strings_are_escaped() {
        let id = RequestId::from_json(r#""a\u0041\n""#).unwrap();
        assert_eq!(id.as_str(), Some("aA\n"));
        assert_eq!(id.to_json(), r#""aA\n""#);
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""aA\n""#);
    }
}
