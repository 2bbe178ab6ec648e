//! Custom metadata: the application's headers and trailers, ASCII or
//! binary (`-bin` keys, base64 on the wire).

use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD_NO_PAD};
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::Error;

/// Decodes base64 with the standard alphabet, padded or not, ignoring
/// non-zero trailing bits (as Go's and Java's decoders do).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// The size HTTP/2 counts for each header field besides its name and value
/// (RFC 9113 §6.5.2, `SETTINGS_MAX_HEADER_LIST_SIZE`).
pub const HEADER_FIELD_OVERHEAD: usize = 32;

/// `grpc-*` keys applications may still set or read: OpenCensus' legacy
/// tracing and tagging headers, which gRPC libraries pass through as
/// metadata, and the retry ones (gRFC A6) — `grpc-previous-rpc-attempts`,
/// which a retrying client sends and servers read, and
/// `grpc-retry-pushback-ms`, which servers put in their trailers — as
/// grpc-go and grpc-java let applications do.
const USER_GRPC_KEYS: [&str; 4] = [
    "grpc-trace-bin",
    "grpc-tags-bin",
    "grpc-previous-rpc-attempts",
    "grpc-retry-pushback-ms",
];

/// Headers the transport owns: never user metadata.
const RESERVED: [&str; 10] = [
    "content-type",
    "te",
    "user-agent",
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// Whether `key` is reserved for the transport and so refused as user
/// metadata: pseudo-headers (`:…`), `grpc-*` (except `grpc-trace-bin`,
/// `grpc-tags-bin`, `grpc-previous-rpc-attempts` and
/// `grpc-retry-pushback-ms`), `content-type`, `te`, `user-agent`, `host`,
/// `content-length` and the HTTP/1 connection-specific headers HTTP/2
/// forbids (`connection`, `keep-alive`, `proxy-connection`,
/// `transfer-encoding`, `upgrade`). Compared case-insensitively.
pub fn is_reserved_key(key: &str) -> bool {
    // Compared in place, without a lowercased copy: this runs for every
    // header of every call.
    let is = |k: &&str| k.eq_ignore_ascii_case(key);
    key.starts_with(':')
        || (key.len() >= 5
            && key.as_bytes()[..5].eq_ignore_ascii_case(b"grpc-")
            && !USER_GRPC_KEYS.iter().any(is))
        || RESERVED.iter().any(is)
}

/// [`is_reserved_key`] for a key already in lower case, as a
/// [`HeaderName`]'s always is: one `match` on the whole key instead of a
/// case-insensitive walk over both lists, for every field of every call.
pub(crate) fn is_reserved_lower(key: &str) -> bool {
    match key {
        "content-type" | "te" | "user-agent" | "host" | "content-length" | "connection"
        | "keep-alive" | "proxy-connection" | "transfer-encoding" | "upgrade" => true,
        "grpc-trace-bin"
        | "grpc-tags-bin"
        | "grpc-previous-rpc-attempts"
        | "grpc-retry-pushback-ms" => false,
        _ => key.starts_with(':') || key.starts_with("grpc-"),
    }
}

/// Whether `key` names a binary header (ends in `-bin`).
pub fn is_bin_key(key: &str) -> bool {
    key.len() > 4 && key.as_bytes()[key.len() - 4..].eq_ignore_ascii_case(b"-bin")
}

/// Encodes a binary value the way gRPC sends it: standard base64, unpadded.
pub fn encode_bin_value(value: &[u8]) -> HeaderValue {
    // The base64 alphabet is all valid header-value bytes.
    HeaderValue::from_maybe_shared(Bytes::from(STANDARD_NO_PAD.encode(value)))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Decodes one binary value: standard base64, padding optional (the spec
/// requires accepting both), surrounding spaces ignored.
///
/// # Errors
///
/// [`Error::InvalidBinaryValue`] if it is not base64.
pub fn decode_bin_value(value: &[u8]) -> Result<Bytes, Error> {
    LENIENT
        .decode(value.trim_ascii())
        .map(Bytes::from)
        .map_err(|_| Error::InvalidBinaryValue)
}

/// Custom metadata over an [`http::HeaderMap`].
///
/// Keys are `0-9 a-z _ - .` (upper-case letters are folded to lower case,
/// as in HTTP); ASCII values are 0x20-0x7E; keys ending in `-bin` carry
/// arbitrary bytes, sent as unpadded base64. Reserved keys (see
/// [`is_reserved_key`]) are refused, so metadata can be copied into a
/// request or trailers without overriding what the transport sets.
///
/// Received metadata ([`from_headers`](Metadata::from_headers)) is taken
/// as the peer sent it, with only the reserved headers left out: a value
/// that is valid HTTP but outside gRPC's charset is kept (the spec forbids
/// failing on it), and `-bin` values are decoded only when asked for.
///
/// ```
/// use wirestate_grpc::Metadata;
///
/// let mut md = Metadata::new();
/// md.insert("x-request-id", "42").unwrap();
/// md.insert_bin("trace-bin", &[0, 1, 2, 0xff]).unwrap();
/// assert_eq!(md.get_str("x-request-id"), Some("42"));
/// assert_eq!(md.as_header_map()["trace-bin"], "AAEC/w");
/// assert_eq!(md.get_bin("trace-bin").unwrap().unwrap(), &[0, 1, 2, 0xff][..]);
/// assert!(md.insert("grpc-status", "0").is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    map: HeaderMap,
}

impl Metadata {
    /// Empty metadata.
    pub fn new() -> Metadata {
        Metadata::default()
    }

    /// The user metadata among received headers or trailers: everything
    /// but the reserved headers.
    pub fn from_headers(headers: &HeaderMap) -> Metadata {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            if !is_reserved_lower(name.as_str()) {
                map.append(name.clone(), value.clone());
            }
        }
        Metadata { map }
    }

    /// Wraps a header map already holding only user metadata (the
    /// reserved headers left out by the caller).
    pub(crate) fn from_map(map: HeaderMap) -> Metadata {
        Metadata { map }
    }

    /// Appends every entry to `headers` (an outgoing request, response or
    /// trailers).
    pub fn append_to(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.map {
            headers.append(name.clone(), value.clone());
        }
    }

    /// The entries as a header map (binary values base64-encoded).
    pub fn as_header_map(&self) -> &HeaderMap {
        &self.map
    }

    /// Unwraps the header map.
    pub fn into_header_map(self) -> HeaderMap {
        self.map
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Sets an ASCII entry, replacing earlier values of `key`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidMetadataKey`] (including a `-bin` key: use
    /// [`insert_bin`](Metadata::insert_bin)), [`Error::ReservedMetadataKey`],
    /// [`Error::InvalidMetadataValue`].
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), Error> {
        let (name, value) = ascii_entry(key, value)?;
        self.map.insert(name, value);
        Ok(())
    }

    /// Adds an ASCII entry, keeping earlier values of `key`.
    ///
    /// # Errors
    ///
    /// As [`insert`](Metadata::insert).
    pub fn append(&mut self, key: &str, value: &str) -> Result<(), Error> {
        let (name, value) = ascii_entry(key, value)?;
        self.map.append(name, value);
        Ok(())
    }

    /// Sets a binary entry (`key` must end in `-bin`), replacing earlier
    /// values of `key`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidMetadataKey`] (including a key without `-bin`),
    /// [`Error::ReservedMetadataKey`].
    pub fn insert_bin(&mut self, key: &str, value: &[u8]) -> Result<(), Error> {
        let name = key_name(key, true)?;
        self.map.insert(name, encode_bin_value(value));
        Ok(())
    }

    /// Adds a binary entry, keeping earlier values of `key`.
    ///
    /// # Errors
    ///
    /// As [`insert_bin`](Metadata::insert_bin).
    pub fn append_bin(&mut self, key: &str, value: &[u8]) -> Result<(), Error> {
        let name = key_name(key, true)?;
        self.map.append(name, encode_bin_value(value));
        Ok(())
    }

    /// The first value of `key` as it is on the wire.
    pub fn get(&self, key: &str) -> Option<&HeaderValue> {
        self.map.get(key)
    }

    /// The first value of `key` as text, if it is visible ASCII.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.map.get(key).and_then(|v| v.to_str().ok())
    }

    /// Every value of `key` as it is on the wire.
    pub fn get_all(&self, key: &str) -> impl Iterator<Item = &HeaderValue> {
        self.map.get_all(key).iter()
    }

    /// The first binary value of `key`, decoded; `None` if absent. A value
    /// that joins several with `,` gives its first part.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBinaryValue`] if it is not base64.
    pub fn get_bin(&self, key: &str) -> Option<Result<Bytes, Error>> {
        let value = self.map.get(key)?;
        let first = value.as_bytes().split(|&b| b == b',').next().unwrap_or(&[]);
        Some(decode_bin_value(first))
    }

    /// Every binary value of `key`, decoded, in order; values joined with
    /// `,` (as proxies may join duplicate headers) are split first, as the
    /// spec requires.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBinaryValue`] if one is not base64.
    pub fn get_bin_all(&self, key: &str) -> Result<Vec<Bytes>, Error> {
        let mut out = Vec::new();
        for value in self.map.get_all(key) {
            for part in value.as_bytes().split(|&b| b == b',') {
                out.push(decode_bin_value(part)?);
            }
        }
        Ok(out)
    }

    /// Removes every value of `key`, returning the first.
    pub fn remove(&mut self, key: &str) -> Option<HeaderValue> {
        self.map.remove(key)
    }

    /// Whether `key` has a value.
    pub fn contains_key(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// The entries as on the wire, in order of keys.
    pub fn iter(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        self.map.iter()
    }

    /// The size HTTP/2 counts for these entries: for each, name and value
    /// length (binary values after base64) plus 32. gRPC suggests bounding
    /// request and response headers at 8 KiB with this measure.
    pub fn header_list_size(&self) -> usize {
        self.map.iter().fold(0usize, |sum, (name, value)| {
            sum.saturating_add(name.as_str().len() + value.len() + HEADER_FIELD_OVERHEAD)
        })
    }
}

impl<'a> IntoIterator for &'a Metadata {
    type Item = (&'a HeaderName, &'a HeaderValue);
    type IntoIter = http::header::Iter<'a, HeaderValue>;
    fn into_iter(self) -> Self::IntoIter {
        self.map.iter()
    }
}

/// Validates a key: the gRPC charset (upper-case folded), not reserved, and
/// `-bin` exactly when `bin`.
fn key_name(key: &str, bin: bool) -> Result<HeaderName, Error> {
    let valid = !key.is_empty()
        && key
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'_' | b'-' | b'.'));
    if !valid || is_bin_key(key) != bin {
        return Err(Error::InvalidMetadataKey);
    }
    if is_reserved_key(key) {
        return Err(Error::ReservedMetadataKey);
    }
    HeaderName::from_bytes(key.as_bytes()).map_err(|_| Error::InvalidMetadataKey)
}

fn ascii_entry(key: &str, value: &str) -> Result<(HeaderName, HeaderValue), Error> {
    let name = key_name(key, false)?;
    if !value.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(Error::InvalidMetadataValue);
    }
    let value = HeaderValue::from_str(value).map_err(|_| Error::InvalidMetadataValue)?;
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-`match` check says what the list-walking one says, for
    /// every key either list names and for keys around them.
    #[test]
    fn reserved_lower_agrees_with_reserved_key() {
        let keys = RESERVED
            .iter()
            .chain(USER_GRPC_KEYS.iter())
            .copied()
            .chain([
                ":path",
                ":authority",
                "grpc-status",
                "grpc-message",
                "grpc-timeout",
                "grpc-",
                "grpc",
                "grpc-trace",
                "x-grpc-foo",
                "authorization",
                "x-request-id",
                "trace-bin",
                "tee",
                "t",
                "",
                "content-typ",
                "content-types",
            ]);
        for key in keys {
            assert_eq!(is_reserved_lower(key), is_reserved_key(key), "{key:?}");
        }
    }
}
