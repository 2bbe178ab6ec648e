//! Raw JSON values (params, results, error data) and the small JSON writers
//! the encoder needs.

use std::fmt;

use bytes::{Bytes, BytesMut};
use serde::de::IgnoredAny;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// One complete JSON value, kept as text until the application decodes it.
///
/// Received params, results and error data are slices of the received
/// message (no copy, no parse into a tree), so numbers of any precision and
/// members such as MCP's `_meta` pass through untouched. Decode with
/// [`decode`](Self::decode) into any `Deserialize` type; build one with
/// [`from_serialize`](Self::from_serialize) or [`from_text`](Self::from_text).
///
/// The text is valid UTF-8 JSON without surrounding whitespace. Equality
/// compares the text: `{"a":1}` and `{"a": 1}` differ.
///
/// ```
/// use serde::Deserialize;
/// use wirestate_jsonrpc::RawJson;
///
/// #[derive(Deserialize)]
/// struct Sum { a: i64, b: i64 }
///
/// let raw = RawJson::from_text(r#" {"a": 1, "b": 2} "#).unwrap();
/// assert_eq!(raw.as_str(), r#"{"a": 1, "b": 2}"#);
/// let sum: Sum = raw.decode().unwrap();
/// assert_eq!(sum.a + sum.b, 3);
/// assert_eq!(RawJson::from_serialize(&[1, 2]).unwrap().as_str(), "[1,2]");
/// assert!(RawJson::from_text("{").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RawJson(Bytes);

impl RawJson {
    /// `null`.
    pub const fn null() -> Self {
        Self(Bytes::from_static(b"null"))
    }

    /// `{}`, the empty object (what MCP's `ping` answers, for one).
    pub const fn empty_object() -> Self {
        Self(Bytes::from_static(b"{}"))
    }

    /// Serializes `value` as compact JSON.
    ///
    /// # Errors
    ///
    /// What `serde_json` reports: a map with non-string keys, a failing
    /// `Serialize` impl.
    pub fn from_serialize<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::to_vec(value).map(|v| Self(Bytes::from(v)))
    }

    /// Checks that `text` is exactly one JSON value (surrounding whitespace
    /// is trimmed) and keeps it as it is, without re-encoding.
    ///
    /// # Errors
    ///
    /// `text` is not UTF-8, not JSON, or holds more than one value.
    pub fn from_text(text: impl Into<Bytes>) -> Result<Self, serde_json::Error> {
        let bytes: Bytes = text.into();
        let s = std::str::from_utf8(&bytes).map_err(|e| {
            <serde_json::Error as serde::de::Error>::custom(format!("invalid UTF-8: {e}"))
        })?;
        serde_json::from_str::<IgnoredAny>(s)?;
        let start = s.len() - s.trim_start_matches(is_ws).len();
        let end = s.trim_end_matches(is_ws).len();
        Ok(Self(bytes.slice(start..end)))
    }

    /// Wraps text the caller has already validated (a span of a parsed
    /// message).
    pub(crate) fn from_trusted(bytes: Bytes) -> Self {
        Self(bytes)
    }

    /// Decodes the value into `T`; borrowing types (`&str`, `&RawValue`)
    /// borrow from `self`.
    ///
    /// # Errors
    ///
    /// The value does not have the shape of a `T`.
    pub fn decode<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.0)
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        // Valid UTF-8 by construction; the fallback is never taken.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The JSON text as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The JSON text as shared bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// The length of the text in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: a JSON value has at least one byte. Present for
    /// symmetry with [`len`](Self::len).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the value is an object.
    pub fn is_object(&self) -> bool {
        self.0.first() == Some(&b'{')
    }

    /// Whether the value is an array.
    pub fn is_array(&self) -> bool {
        self.0.first() == Some(&b'[')
    }

    /// Whether the value is an object or an array, the two shapes JSON-RPC
    /// allows for params.
    pub fn is_structured(&self) -> bool {
        self.is_object() || self.is_array()
    }

    /// Whether the value is `null`.
    pub fn is_null(&self) -> bool {
        &self.0[..] == b"null"
    }
}

impl Default for RawJson {
    /// `null`.
    fn default() -> Self {
        Self::null()
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawJson({})", self.as_str())
    }
}

impl fmt::Display for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<RawJson> for Bytes {
    fn from(raw: RawJson) -> Self {
        raw.0
    }
}

impl From<Box<RawValue>> for RawJson {
    fn from(raw: Box<RawValue>) -> Self {
        let text: Box<str> = raw.into();
        Self(Bytes::from(text.into_boxed_bytes()))
    }
}

/// Embeds the text as is (through `serde_json`'s raw values, so only
/// `serde_json` serializers write it as JSON).
impl Serialize for RawJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw: &RawValue = serde_json::from_str(self.as_str()).map_err(S::Error::custom)?;
        raw.serialize(serializer)
    }
}

/// Captures any JSON value as text (from `serde_json` deserializers).
impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(Self::from)
    }
}

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Appends `s` as a JSON string.
pub(crate) fn write_str(out: &mut BytesMut, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"\"");
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => &[],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if short.is_empty() {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]);
        } else {
            out.extend_from_slice(short);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.extend_from_slice(b"\"");
}

/// Appends a raw value. Text with a line break or tab between tokens is
/// compacted (all whitespace outside strings removed), so an encoded
/// message never holds a raw line break and can be framed by newlines
/// (MCP's stdio transport).
pub(crate) fn write_raw(out: &mut BytesMut, raw: &RawJson) {
    let raw = raw.as_bytes();
    // Inside JSON strings, line breaks and tabs are always escaped, so any
    // raw one is whitespace between tokens.
    if memchr::memchr3(b'\n', b'\r', b'\t', raw).is_none() {
        out.extend_from_slice(raw);
        return;
    }
    let (mut in_str, mut escaped, mut start) = (false, false, 0);
    for (i, &b) in raw.iter().enumerate() {
        if in_str {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_str = false;
            }
        } else if b == b'"' {
            in_str = true;
        } else if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            out.extend_from_slice(&raw[start..i]);
            start = i + 1;
        }
    }
    out.extend_from_slice(&raw[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_text(raw: &RawJson) -> String {
        let mut out = BytesMut::new();
        write_raw(&mut out, raw);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn strings_escape_like_serde_json() {
        for s in [
            "",
            "plain",
            "quote\" back\\ nl\n cr\r tab\t",
            "\u{0}\u{1}\u{8}\u{c}\u{1f}\u{7f}",
            "ünïcödé ✓ 𝄞 \u{2028}",
        ] {
            let mut out = BytesMut::new();
            write_str(&mut out, s);
            assert_eq!(&out[..], serde_json::to_string(s).unwrap().as_bytes());
        }
    }

    #[test]
    fn line_breaks_are_compacted_but_strings_kept() {
        let raw = RawJson::from_text("{\n  \"a b\": [1, 2],\n\t\"c\\\"\\n\": \" x \"\n}").unwrap();
        assert_eq!(raw_text(&raw), r#"{"a b":[1,2],"c\"\n":" x "}"#);
        let spaced = RawJson::from_text(r#"{"a": 1}"#).unwrap();
        assert_eq!(raw_text(&spaced), r#"{"a": 1}"#);
    }

    #[test]
    fn text_is_validated_and_trimmed() {
        assert_eq!(RawJson::from_text(" \n1 ").unwrap().as_str(), "1");
        assert!(RawJson::from_text("").is_err());
        assert!(RawJson::from_text("1 2").is_err());
        assert!(RawJson::from_text(&b"\"\xff\""[..]).is_err());
        assert!(RawJson::from_text("[1,]").is_err());
        assert!(RawJson::null().is_null());
        assert!(RawJson::empty_object().is_object() && RawJson::empty_object().is_structured());
    }

    #[test]
    fn serde_round_trip_keeps_text() {
        let raw = RawJson::from_text("[1.50, 123456789012345678901234567890]").unwrap();
        let wrapped = serde_json::to_string(&serde_json::json!({ "x": 1 })).unwrap();
        assert_eq!(wrapped, r#"{"x":1}"#);
        #[derive(Serialize, Deserialize)]
        struct Holder {
            v: RawJson,
        }
        let text = serde_json::to_string(&Holder { v: raw.clone() }).unwrap();
        assert_eq!(text, r#"{"v":[1.50, 123456789012345678901234567890]}"#);
        let back: Holder = serde_json::from_str(&text).unwrap();
        assert_eq!(back.v, raw);
    }
}
