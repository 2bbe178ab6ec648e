//! MessagePack via rmp-serde (feature `msgpack`).

use bytes::{BufMut, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Codec, CodecKind, DEFAULT_MAX_LEN, DecodeError, EncodeError, check_len};

/// Nesting depth allowed while decoding (rmp-serde's own default is 1024,
/// deep enough to overflow a small thread stack in debug builds).
const MAX_DEPTH: usize = 128;

/// MessagePack, for any `T: Serialize + DeserializeOwned`, via rmp-serde.
/// Needs the `msgpack` feature.
///
/// Structs are encoded as maps keyed by field name (rmp-serde's
/// `write_named`), the form other languages' MessagePack libraries produce
/// and expect; decoding accepts both maps and positional arrays. Decoding
/// reads exactly one value: trailing bytes are an error. Input longer than
/// [`max_len`](Self::max_len) is refused with [`DecodeError::TooLarge`], and
/// nesting is bounded at 128 levels.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use wirestate_codec::{Codec, MsgPackCodec};
///
/// #[derive(Debug, PartialEq, Serialize, Deserialize)]
/// struct Point {
///     x: i32,
///     y: i32,
/// }
///
/// let codec = MsgPackCodec::new();
/// let bytes = codec.encode_to_bytes(&Point { x: 1, y: -2 }).unwrap();
/// // fixmap(2) { "x": 1, "y": -2 }
/// assert_eq!(&bytes[..], b"\x82\xa1x\x01\xa1y\xfe");
/// assert_eq!(codec.decode(&bytes), Ok(Point { x: 1, y: -2 }));
/// assert_eq!(Codec::<Point>::content_type(&codec), "application/msgpack");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MsgPackCodec {
    max_len: usize,
}

impl MsgPackCodec {
    /// The media type [`Codec::content_type`] returns: `"application/msgpack"`.
    pub const CONTENT_TYPE: &'static str = "application/msgpack";

    /// A MessagePack codec with the default input limit ([`DEFAULT_MAX_LEN`]).
    pub const fn new() -> Self {
        Self::with_max_len(DEFAULT_MAX_LEN)
    }

    /// A MessagePack codec that refuses to decode input longer than
    /// `max_len` bytes.
    pub const fn with_max_len(max_len: usize) -> Self {
        Self { max_len }
    }

    /// The maximum input length for decoding, in bytes.
    pub const fn max_len(&self) -> usize {
        self.max_len
    }
}

impl Default for MsgPackCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Serialize + DeserializeOwned> Codec<T> for MsgPackCodec {
    fn encode(&self, value: &T, dst: &mut BytesMut) -> Result<(), EncodeError> {
        let start = dst.len();
        let mut writer = (&mut *dst).writer();
        rmp_serde::encode::write_named(&mut writer, value).map_err(|e| {
            dst.truncate(start);
            EncodeError::invalid(CodecKind::MsgPack, e)
        })
    }

    fn decode(&self, src: &[u8]) -> Result<T, DecodeError> {
        check_len(CodecKind::MsgPack, src, self.max_len)?;
        let mut rest = src;
        let mut de = rmp_serde::Deserializer::new(&mut rest);
        de.set_max_depth(MAX_DEPTH);
        let value =
            T::deserialize(&mut de).map_err(|e| DecodeError::invalid(CodecKind::MsgPack, e))?;
        drop(de);
        if !rest.is_empty() {
            return Err(DecodeError::Invalid {
                codec: CodecKind::MsgPack,
                message: format!("{} trailing bytes after the value", rest.len()),
            });
        }
        Ok(value)
    }

    fn content_type(&self) -> &'static str {
        Self::CONTENT_TYPE
    }
}
