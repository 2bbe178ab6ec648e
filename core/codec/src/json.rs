//! JSON via serde_json.

use bytes::{BufMut, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Codec, CodecKind, DEFAULT_MAX_LEN, DecodeError, EncodeError, check_len};

/// JSON, for any `T: Serialize + DeserializeOwned`, via serde_json.
///
/// Encodes compact JSON (no whitespace). Decoding accepts exactly one JSON
/// value, optionally surrounded by whitespace; anything after it is a
/// [`JsonCategory::Syntax`](crate::JsonCategory::Syntax) error. Input longer
/// than [`max_len`](Self::max_len) is refused with [`DecodeError::TooLarge`].
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use wirestate_codec::{Codec, DecodeError, JsonCodec};
///
/// #[derive(Debug, PartialEq, Serialize, Deserialize)]
/// struct Greeting {
///     name: String,
///     times: u32,
/// }
///
/// let codec = JsonCodec::new();
/// let value = Greeting { name: "ada".into(), times: 2 };
/// let bytes = codec.encode_to_bytes(&value).unwrap();
/// assert_eq!(&bytes[..], br#"{"name":"ada","times":2}"#);
/// assert_eq!(codec.decode(&bytes), Ok(value));
/// assert_eq!(Codec::<Greeting>::content_type(&codec), "application/json");
///
/// // A limit on input size, checked before parsing.
/// let small = JsonCodec::with_max_len(8);
/// let err = Codec::<Greeting>::decode(&small, &bytes).unwrap_err();
/// assert!(matches!(err, DecodeError::TooLarge { len: 24, max: 8, .. }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JsonCodec {
    max_len: usize,
}

impl JsonCodec {
    /// The media type [`Codec::content_type`] returns: `"application/json"`.
    pub const CONTENT_TYPE: &'static str = "application/json";

    /// A JSON codec with the default input limit ([`DEFAULT_MAX_LEN`]).
    pub const fn new() -> Self {
        Self::with_max_len(DEFAULT_MAX_LEN)
    }

    /// A JSON codec that refuses to decode input longer than `max_len` bytes.
    pub const fn with_max_len(max_len: usize) -> Self {
        Self { max_len }
    }

    /// The maximum input length for decoding, in bytes.
    pub const fn max_len(&self) -> usize {
        self.max_len
    }
}

impl Default for JsonCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Serialize + DeserializeOwned> Codec<T> for JsonCodec {
    fn encode(&self, value: &T, dst: &mut BytesMut) -> Result<(), EncodeError> {
        let start = dst.len();
        serde_json::to_writer((&mut *dst).writer(), value).map_err(|e| {
            dst.truncate(start);
            EncodeError::invalid(CodecKind::Json, e)
        })
    }

    fn decode(&self, src: &[u8]) -> Result<T, DecodeError> {
        check_len(CodecKind::Json, src, self.max_len)?;
        Ok(serde_json::from_slice(src)?)
    }

    fn content_type(&self) -> &'static str {
        Self::CONTENT_TYPE
    }
}
