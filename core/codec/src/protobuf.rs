//! Protocol Buffers via prost.

use bytes::{Bytes, BytesMut};

use crate::{Codec, CodecKind, DEFAULT_MAX_LEN, DecodeError, EncodeError, check_len};

/// Protocol Buffers, for any `T: prost::Message + Default`, via prost.
///
/// Encodes and decodes one message without a length prefix (gRPC's 5-byte
/// message framing lives in the gRPC crate). Input longer than
/// [`max_len`](Self::max_len) is refused with [`DecodeError::TooLarge`];
/// prost bounds message nesting at 100 levels.
///
/// ```
/// use wirestate_codec::{Codec, ProstCodec};
///
/// #[derive(Clone, PartialEq, prost::Message)]
/// struct Point {
///     #[prost(sint32, tag = "1")]
///     x: i32,
///     #[prost(sint32, tag = "2")]
///     y: i32,
///     #[prost(string, tag = "3")]
///     label: String,
/// }
///
/// let codec = ProstCodec::new();
/// let p = Point { x: -1, y: 2, label: "a".into() };
/// let bytes = codec.encode_to_bytes(&p).unwrap();
/// assert_eq!(&bytes[..], b"\x08\x01\x10\x04\x1a\x01a");
/// assert_eq!(codec.decode(&bytes), Ok(p));
/// assert_eq!(Codec::<Point>::content_type(&codec), "application/protobuf");
///
/// // Truncated input is an error, not a panic.
/// assert!(Codec::<Point>::decode(&codec, &bytes[..6]).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProstCodec {
    max_len: usize,
}

impl ProstCodec {
    /// The media type [`Codec::content_type`] returns: `"application/protobuf"`.
    pub const CONTENT_TYPE: &'static str = "application/protobuf";

    /// A Protobuf codec with the default input limit ([`DEFAULT_MAX_LEN`]).
    pub const fn new() -> Self {
        Self::with_max_len(DEFAULT_MAX_LEN)
    }

    /// A Protobuf codec that refuses to decode input longer than `max_len`
    /// bytes.
    pub const fn with_max_len(max_len: usize) -> Self {
        Self { max_len }
    }

    /// The maximum input length for decoding, in bytes.
    pub const fn max_len(&self) -> usize {
        self.max_len
    }
}

impl Default for ProstCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: prost::Message + Default> Codec<T> for ProstCodec {
    fn encode(&self, value: &T, dst: &mut BytesMut) -> Result<(), EncodeError> {
        // `BytesMut` grows on demand, so prost's only error (insufficient
        // capacity) cannot happen; map it anyway. prost checks the capacity
        // before writing, so `dst` is untouched on error.
        value
            .encode(dst)
            .map_err(|e| EncodeError::invalid(CodecKind::Protobuf, e))
    }

    fn decode(&self, src: &[u8]) -> Result<T, DecodeError> {
        check_len(CodecKind::Protobuf, src, self.max_len)?;
        T::decode(src).map_err(|e| DecodeError::invalid(CodecKind::Protobuf, e))
    }

    fn content_type(&self) -> &'static str {
        Self::CONTENT_TYPE
    }

    fn encode_to_bytes(&self, value: &T) -> Result<Bytes, EncodeError> {
        let mut dst = BytesMut::with_capacity(value.encoded_len());
        self.encode(value, &mut dst)?;
        Ok(dst.freeze())
    }
}
