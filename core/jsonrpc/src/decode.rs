//! Decoding one complete message (single or batch), with the
//! specification's validation and this crate's limits.

use std::fmt;

use bytes::Bytes;
use serde::Deserializer;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::{Error, ErrorObject, Invalid};
use crate::id::RequestId;
use crate::message::{ErrorResponse, Message, Notification, Request, Response};
use crate::raw::RawJson;

/// Bounds on what [`decode`] accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest message, in bytes, that is parsed at all. Larger ones are
    /// refused unread ([`Error::MessageTooLarge`]). Default 16 MiB.
    pub max_message_size: usize,
    /// Most entries in a batch; a longer batch is refused as a whole
    /// ([`Error::BatchTooLarge`]). Default 1024.
    pub max_batch_len: usize,
    /// Longest id, in bytes of JSON text (quotes and escapes included).
    /// A longer id is refused ([`Invalid::IdTooLong`]) and not echoed.
    /// Default 256.
    pub max_id_len: usize,
    /// Whether batches are accepted. MCP dropped batches in its 2025-06-18
    /// revision; with `false`, a batch is refused as a whole
    /// ([`Error::BatchNotAllowed`]). Default `true`.
    pub allow_batches: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_size: 16 << 20,
            max_batch_len: 1024,
            max_id_len: 256,
            allow_batches: true,
        }
    }
}

/// A decoded message: one entry or a batch of them, each entry a valid
/// message or the reason it is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A single message.
    Single(Result<Message, Error>),
    /// A batch (never empty), entries in order.
    Batch(Vec<Result<Message, Error>>),
}

/// Decodes one complete message (a single message or a batch) from
/// `bytes`; params, results and error data are zero-copy slices of it.
///
/// Validation follows JSON-RPC 2.0: `"jsonrpc": "2.0"` exactly; a request
/// has a string `method`, `params` an object or array when present, and an
/// `id` that is a string or an integer (`null` and fractional ids are
/// refused, see [`RequestId`]); a response has an `id` and exactly one of
/// `result` and `error`, and only an error response may have a `null` id;
/// duplicate members are refused; other members are ignored.
///
/// # Errors
///
/// The whole message is refused — not valid UTF-8 JSON
/// ([`Error::Parse`]), an empty batch, a batch when batches are off or
/// longer than [`Limits::max_batch_len`], longer than
/// [`Limits::max_message_size`]. Otherwise every entry is decoded on its
/// own, so one bad entry of a batch gets its own error while the others
/// proceed. [`Error::reply`] gives the error response to send back.
///
/// ```
/// use wirestate_jsonrpc::{Decoded, Error, Limits, Message, decode};
///
/// let limits = Limits::default();
/// let Ok(Decoded::Single(Ok(Message::Request(r)))) =
///     decode(&br#"{"jsonrpc":"2.0","method":"sum","params":[1,2],"id":12345678901234567890123}"#[..], &limits)
/// else { panic!() };
/// assert_eq!(r.id.to_json(), "12345678901234567890123");
///
/// let Ok(Decoded::Batch(entries)) = decode(r#"[1, {"jsonrpc":"2.0","method":"n"}]"#, &limits)
/// else { panic!() };
/// assert!(matches!(entries[0], Err(Error::InvalidRequest { id: None, .. })));
/// assert!(matches!(entries[1], Ok(Message::Notification(_))));
///
/// assert!(matches!(decode("{", &limits), Err(Error::Parse { .. })));
/// ```
pub fn decode(bytes: impl Into<Bytes>, limits: &Limits) -> Result<Decoded, Error> {
    let bytes: Bytes = bytes.into();
    if bytes.len() > limits.max_message_size {
        return Err(Error::MessageTooLarge {
            len: bytes.len(),
            max: limits.max_message_size,
        });
    }
    let text = std::str::from_utf8(&bytes).map_err(|e| Error::Parse {
        message: format!("invalid UTF-8 at byte {}", e.valid_up_to()),
    })?;
    let mut de = serde_json::Deserializer::from_str(text);
    let top = TopSeed {
        max_batch_len: limits.max_batch_len,
    }
    .deserialize(&mut de)
    .and_then(|top| de.end().map(|()| top))
    .map_err(|e| Error::Parse {
        message: e.to_string(),
    })?;
    match top {
        Top::Single(entry) => Ok(Decoded::Single(build(entry, &bytes, limits))),
        Top::Batch { .. } if !limits.allow_batches => Err(Error::BatchNotAllowed),
        Top::Batch { len: 0, .. } => Err(Error::EmptyBatch),
        Top::Batch { len, .. } if len > limits.max_batch_len => Err(Error::BatchTooLarge {
            len,
            max: limits.max_batch_len,
        }),
        Top::Batch { entries, .. } => Ok(Decoded::Batch(
            entries
                .into_iter()
                .map(|e| build(e, &bytes, limits))
                .collect(),
        )),
    }
}

/// The top-level value, parsed in one pass.
enum Top<'a> {
    Single(Entry<'a>),
    Batch {
        /// The first `max_batch_len` entries (the rest are only counted).
        entries: Vec<Entry<'a>>,
        len: usize,
    },
}

/// One entry: an object's interesting members as raw spans, or not an
/// object at all.
enum Entry<'a> {
    Object(Members<'a, 6>),
    Other,
}

/// The members of a request or response object.
const ENVELOPE: [&str; 6] = ["jsonrpc", "method", "params", "id", "result", "error"];
const JSONRPC: usize = 0;
const METHOD: usize = 1;
const PARAMS: usize = 2;
const ID: usize = 3;
const RESULT: usize = 4;
const ERROR: usize = 5;

/// The members of an error object.
const ERROR_OBJECT: [&str; 3] = ["code", "message", "data"];
const CODE: usize = 0;
const MESSAGE: usize = 1;
const DATA: usize = 2;

/// Raw spans of the members named in `names`; others are skipped.
struct Members<'a, const N: usize> {
    values: [Option<&'a RawValue>; N],
    duplicate: bool,
}

impl<'a, const N: usize> Members<'a, N> {
    fn get(&self, i: usize) -> Option<&'a str> {
        self.values[i].map(RawValue::get)
    }

    fn from_map<A: MapAccess<'a>>(
        names: &'static [&'static str; N],
        mut map: A,
    ) -> Result<Self, A::Error> {
        let mut members = Self {
            values: [None; N],
            duplicate: false,
        };
        while let Some(key) = map.next_key_seed(KeySeed(names))? {
            match key {
                Some(i) => {
                    let value: &'a RawValue = map.next_value()?;
                    if members.values[i].replace(value).is_some() {
                        members.duplicate = true;
                    }
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(members)
    }
}

/// Maps an object key to its index in a list of names.
struct KeySeed(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|n| *n == key))
    }
}

struct TopSeed {
    max_batch_len: usize,
}

impl<'de> DeserializeSeed<'de> for TopSeed {
    type Value = Top<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// Accepts every JSON value: scalars become [`Entry::Other`], arrays
/// become entries (with everything nested validated but not kept).
macro_rules! scalar_visits {
    ($value:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i128<E: de::Error>(self, _: i128) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u128<E: de::Error>(self, _: u128) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}

impl<'de> Visitor<'de> for TopSeed {
    type Value = Top<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    scalar_visits!(Top::Single(Entry::Other));

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Members::from_map(&ENVELOPE, map).map(|m| Top::Single(Entry::Object(m)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        let mut len = 0usize;
        loop {
            if len < self.max_batch_len {
                match seq.next_element_seed(EntrySeed)? {
                    Some(e) => entries.push(e),
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            len += 1;
        }
        Ok(Top::Batch { entries, len })
    }
}

struct EntrySeed;

impl<'de> DeserializeSeed<'de> for EntrySeed {
    type Value = Entry<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EntrySeed {
    type Value = Entry<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    scalar_visits!(Entry::Other);

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Members::from_map(&ENVELOPE, map).map(Entry::Object)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Entry::Other)
    }
}

/// The span `part` of `src` as shared bytes (`part` is always a slice of
/// `src`; a copy is the fallback should it not be).
fn span(src: &Bytes, part: &str) -> RawJson {
    let base = src.as_ptr() as usize;
    let at = part.as_ptr() as usize;
    let bytes = match at.checked_sub(base) {
        Some(start) if start + part.len() <= src.len() => src.slice(start..start + part.len()),
        _ => Bytes::copy_from_slice(part.as_bytes()),
    };
    RawJson::from_trusted(bytes)
}

fn is_version(raw: Option<&str>) -> bool {
    match raw {
        Some(r#""2.0""#) => true,
        // Escaped spellings such as "2\u002e0" are the same string.
        Some(raw) if raw.starts_with('"') => {
            serde_json::from_str::<String>(raw).is_ok_and(|s| s == "2.0")
        }
        _ => false,
    }
}

fn string(raw: &str) -> Option<String> {
    if raw.starts_with('"') {
        serde_json::from_str(raw).ok()
    } else {
        None
    }
}

/// Turns one entry into a message, or says why it is not one.
fn build(entry: Entry<'_>, src: &Bytes, limits: &Limits) -> Result<Message, Error> {
    let Entry::Object(m) = entry else {
        return Err(Error::InvalidRequest {
            id: None,
            reason: Invalid::NotAnObject,
        });
    };
    let id = m
        .get(ID)
        .map(|raw| RequestId::parse(raw, limits.max_id_len));
    let readable = match &id {
        Some(Ok(id)) => Some(id.clone()),
        _ => None,
    };
    let is_response =
        m.get(METHOD).is_none() && (m.get(RESULT).is_some() || m.get(ERROR).is_some());
    if is_response {
        let invalid = |reason| Error::InvalidResponse {
            id: readable.clone(),
            reason,
        };
        if m.duplicate {
            return Err(invalid(Invalid::DuplicateMember));
        }
        if !is_version(m.get(JSONRPC)) {
            return Err(invalid(Invalid::Version));
        }
        return match (m.get(RESULT), m.get(ERROR)) {
            (Some(_), Some(_)) => Err(invalid(Invalid::ResultAndError)),
            (Some(result), None) => match id {
                Some(Ok(id)) => Ok(Message::Response(Response {
                    id,
                    result: span(src, result),
                })),
                Some(Err(reason)) => Err(invalid(reason)),
                None => Err(invalid(Invalid::MissingId)),
            },
            (None, Some(error)) => {
                let id = match id {
                    Some(Ok(id)) => Some(id),
                    Some(Err(Invalid::NullId)) => None,
                    Some(Err(reason)) => return Err(invalid(reason)),
                    None => return Err(invalid(Invalid::MissingId)),
                };
                let error =
                    error_object(error, src).ok_or_else(|| invalid(Invalid::ErrorObject))?;
                Ok(Message::ErrorResponse(ErrorResponse { id, error }))
            }
            // `is_response` says one of them is there.
            (None, None) => Err(invalid(Invalid::NotAMessage)),
        };
    }
    let invalid = |reason| Error::InvalidRequest {
        id: readable.clone(),
        reason,
    };
    if m.duplicate {
        return Err(invalid(Invalid::DuplicateMember));
    }
    if !is_version(m.get(JSONRPC)) {
        return Err(invalid(Invalid::Version));
    }
    let Some(method) = m.get(METHOD) else {
        return Err(invalid(Invalid::NotAMessage));
    };
    if m.get(RESULT).is_some() || m.get(ERROR).is_some() {
        return Err(invalid(Invalid::Ambiguous));
    }
    let method = string(method).ok_or_else(|| invalid(Invalid::Method))?;
    let params = match m.get(PARAMS) {
        None => None,
        Some(p) if p.starts_with(['{', '[']) => Some(span(src, p)),
        Some(_) => return Err(invalid(Invalid::Params)),
    };
    match id {
        None => Ok(Message::Notification(Notification { method, params })),
        Some(Ok(id)) => Ok(Message::Request(Request { id, method, params })),
        Some(Err(reason)) => Err(Error::InvalidRequest { id: None, reason }),
    }
}

/// Parses an error object: an integer `code` that fits an `i64`, a string
/// `message`, and any `data`.
fn error_object(raw: &str, src: &Bytes) -> Option<ErrorObject> {
    struct Seed;
    impl<'de> DeserializeSeed<'de> for Seed {
        type Value = Option<Members<'de, 3>>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Seed {
        type Value = Option<Members<'de, 3>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON value")
        }
        scalar_visits!(None);
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            Members::from_map(&ERROR_OBJECT, map).map(Some)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    }
    let mut de = serde_json::Deserializer::from_str(raw);
    let m = Seed.deserialize(&mut de).ok()??;
    if m.duplicate {
        return None;
    }
    let code = m.get(CODE)?;
    if code.contains(['.', 'e', 'E']) {
        return None;
    }
    let code: i64 = code.parse().ok()?;
    let message = string(m.get(MESSAGE)?)?;
    Some(ErrorObject {
        code: code.into(),
        message,
        data: m.get(DATA).map(|d| span(src, d)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Result<Message, Error> {
        match decode(text.as_bytes().to_vec(), &Limits::default()) {
            Ok(Decoded::Single(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    fn request_reason(text: &str) -> (Option<RequestId>, Invalid) {
        match one(text) {
            Err(Error::InvalidRequest { id, reason }) => (id, reason),
            other => panic!("{text}: {other:?}"),
        }
    }

    fn response_reason(text: &str) -> Invalid {
        match one(text) {
            Err(Error::InvalidResponse { reason, .. }) => reason,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn requests_and_notifications() {
        let Ok(Message::Request(r)) = one(
            r#"{"jsonrpc":"2.0","id":"a","method":"m","params":{"_meta":{"x":1}},"extra":[1]}"#,
        ) else {
            panic!()
        };
        assert_eq!((r.id.as_str(), r.method.as_str()), (Some("a"), "m"));
        assert_eq!(r.params.unwrap().as_str(), r#"{"_meta":{"x":1}}"#);
        let Ok(Message::Notification(n)) = one(r#" {"method":"m\u0041","jsonrpc":"2\u002e0"} "#)
        else {
            panic!()
        };
        assert_eq!((n.method.as_str(), n.params), ("mA", None));
    }

    #[test]
    fn invalid_requests_echo_readable_ids() {
        let id = Some(RequestId::from(5u64));
        assert_eq!(
            request_reason(r#"{"id":5,"method":"m"}"#),
            (id.clone(), Invalid::Version)
        );
        assert_eq!(
            request_reason(r#"{"jsonrpc":"2.0","id":5,"method":1}"#),
            (id.clone(), Invalid::Method)
        );
        assert_eq!(
            request_reason(r#"{"jsonrpc":"2.0","id":5,"method":"m","params":3}"#),
            (id.clone(), Invalid::Params)
        );
        assert_eq!(
            request_reason(r#"{"jsonrpc":"2.0","id":5,"method":"m","params":null}"#),
            (id.clone(), Invalid::Params)
        );
        assert_eq!(
            request_reason(r#"{"jsonrpc":"2.0","id":5,"method":"m","result":1}"#),
            (id.clone(), Invalid::Ambiguous)
        );
        assert_eq!(
            request_reason(r#"{"jsonrpc":"2.0","id":5,"id":5,"method":"m"}"#),
            (id.clone(), Invalid::DuplicateMember)
        );
        assert_eq!(
            request_reason(r#"{"jsonrpc":"2.0","id":5}"#),
            (id, Invalid::NotAMessage)
        );
        assert_eq!(
            request_reason(r#"{"jsonrpc":"2.0","id":null,"method":"m"}"#),
            (None, Invalid::NullId)
        );
        assert_eq!(
            request_reason(r#"{"jsonrpc":"2.0","id":1.5,"method":"m"}"#),
            (None, Invalid::Id)
        );
        assert_eq!(
            request_reason(r#"{"jsonrpc":"2.0","id":[1],"method":"m"}"#),
            (None, Invalid::Id)
        );
        assert_eq!(
            request_reason(r#"{"jsonrpc":"2.0","id":"a","jsonrpc":"2.0","method":"m"}"#).1,
            Invalid::DuplicateMember
        );
        assert_eq!(request_reason("{}"), (None, Invalid::Version));
        assert_eq!(
            request_reason(r#"{"jsonrpc":"2.0"}"#),
            (None, Invalid::NotAMessage)
        );
        assert_eq!(request_reason("1"), (None, Invalid::NotAnObject));
        assert_eq!(request_reason("\"x\""), (None, Invalid::NotAnObject));
        let long = format!(
            r#"{{"jsonrpc":"2.0","id":"{}","method":"m"}}"#,
            "x".repeat(300)
        );
        assert_eq!(request_reason(&long), (None, Invalid::IdTooLong));
    }

    #[test]
    fn responses() {
        let Ok(Message::Response(r)) = one(r#"{"jsonrpc":"2.0","id":-1,"result":null}"#) else {
            panic!()
        };
        assert_eq!((r.id.as_i64(), r.result.is_null()), (Some(-1), true));
        let Ok(Message::ErrorResponse(e)) = one(
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error","data":{"a":[1]}}}"#,
        ) else {
            panic!()
        };
        assert_eq!(e.id, None);
        assert_eq!(e.error.code.code(), -32700);
        assert_eq!(e.error.data.unwrap().as_str(), r#"{"a":[1]}"#);
        assert_eq!(
            response_reason(
                r#"{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":""}}"#
            ),
            Invalid::ResultAndError
        );
        assert_eq!(
            response_reason(r#"{"jsonrpc":"2.0","result":1}"#),
            Invalid::MissingId
        );
        assert_eq!(
            response_reason(r#"{"jsonrpc":"2.0","id":null,"result":1}"#),
            Invalid::NullId
        );
        assert_eq!(
            response_reason(r#"{"jsonrpc":"2.0","id":true,"error":{"code":1,"message":""}}"#),
            Invalid::Id
        );
        assert_eq!(
            response_reason(r#"{"jsonrpc":"1.0","id":1,"result":1}"#),
            Invalid::Version
        );
        for bad in [
            r#"{"code":1.0,"message":""}"#,
            r#"{"code":1e2,"message":""}"#,
            r#"{"code":"1","message":""}"#,
            r#"{"code":1}"#,
            r#"{"code":1,"message":2}"#,
            r#"{"code":1,"code":1,"message":""}"#,
            r#"{"code":99999999999999999999,"message":""}"#,
            r#"[1]"#,
            r#"null"#,
        ] {
            let text = format!(r#"{{"jsonrpc":"2.0","id":1,"error":{bad}}}"#);
            assert_eq!(response_reason(&text), Invalid::ErrorObject, "{bad}");
        }
    }

    #[test]
    fn whole_message_errors() {
        let limits = Limits::default();
        assert!(matches!(
            decode(&b""[..], &limits),
            Err(Error::Parse { .. })
        ));
        assert!(matches!(
            decode(&b"{} {}"[..], &limits),
            Err(Error::Parse { .. })
        ));
        assert!(matches!(
            decode(&b"{\"a\":\"\xff\"}"[..], &limits),
            Err(Error::Parse { .. })
        ));
        assert_eq!(decode(&b" [ ] "[..], &limits), Err(Error::EmptyBatch));
        let mut small = Limits {
            max_batch_len: 2,
            max_message_size: 40,
            ..Limits::default()
        };
        assert_eq!(
            decode(&b"[1,2,3,[4]]"[..], &small),
            Err(Error::BatchTooLarge { len: 4, max: 2 })
        );
        assert!(matches!(
            decode(&b"[1,2,3,"[..], &small),
            Err(Error::Parse { .. })
        ));
        assert_eq!(
            decode(vec![b' '; 41], &small),
            Err(Error::MessageTooLarge { len: 41, max: 40 })
        );
        small.allow_batches = false;
        assert_eq!(decode(&b"[1]"[..], &small), Err(Error::BatchNotAllowed));
        // Deep nesting neither overflows the stack nor is kept.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let Ok(Decoded::Batch(entries)) = decode(deep, &limits) else {
            panic!()
        };
        assert!(matches!(
            entries[..],
            [Err(Error::InvalidRequest {
                id: None,
                reason: Invalid::NotAnObject
            })]
        ));
        let deep = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
        assert!(decode(deep, &limits).is_ok());
        let deep = format!(
            r#"{{"jsonrpc":"2.0","method":"m","params":{}{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(decode(deep, &limits).is_ok());
    }

    #[test]
    fn raw_values_share_the_input() {
        let input = Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":1,"result":{"big":123456789012345678901234567890.5}}"#,
        );
        let Ok(Decoded::Single(Ok(Message::Response(r)))) =
            decode(input.clone(), &Limits::default())
        else {
            panic!()
        };
        assert_eq!(
            r.result.as_str(),
            r#"{"big":123456789012345678901234567890.5}"#
        );
        let start = r.result.as_bytes().as_ptr() as usize - input.as_ptr() as usize;
        assert_eq!(start, 33);
    }
}
