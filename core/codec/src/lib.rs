//! Value codecs for the wirestate protocol crates: values ↔ bytes, and the
//! generic framings that find where messages end.
//!
//! One [`Codec`] trait, implemented by small `Copy` configuration structs:
//!
//! | codec             | format                         | values                                   |
//! | ----------------- | ------------------------------ | ---------------------------------------- |
//! | [`JsonCodec`]     | JSON (serde_json)              | `T: Serialize + DeserializeOwned`         |
//! | [`ProstCodec`]    | Protocol Buffers (prost)       | `T: prost::Message + Default`             |
//! | `MsgPackCodec`    | MessagePack (rmp-serde), feature `msgpack` | `T: Serialize + DeserializeOwned` |
//!
//! Everything here is sans-IO: a codec encodes one value into a caller-owned
//! [`BytesMut`] and decodes one value from a complete byte slice. Finding the
//! end of a message (length prefixes, newlines, HTTP bodies) is the job of a
//! framing; the two generic ones live here too:
//!
//! | framing                     | decoder         | encoders                             | used by                          |
//! | --------------------------- | --------------- | ------------------------------------ | -------------------------------- |
//! | newline-delimited lines     | [`LineDecoder`] | [`encode_line`]                      | MCP stdio, JSON lines            |
//! | server-sent events (WHATWG) | [`SseDecoder`]  | [`encode_event`], [`encode_comment`] | MCP Streamable HTTP, EventSource |
//!
//! The decoders take bytes in pieces of any size (`push`), hand out complete
//! messages (`next_line`, `next_event`) and finish at the end of the stream
//! (`finish`); how the input is chunked never changes what comes out. Both
//! have explicit length limits and go on with the next message after an
//! over-long one.
//!
//! # Limits
//!
//! Every codec has a maximum input size for decoding ([`DEFAULT_MAX_LEN`],
//! 16 MiB, unless set with `with_max_len`). Longer input is refused with
//! [`DecodeError::TooLarge`] before any parsing or allocation happens. Inside
//! the limit, decoding never panics on malformed input, and nesting depth is
//! bounded (serde_json: 128, prost: 100, MessagePack: 128), so hostile input
//! cannot overflow the stack.
//!
//! The framings bound line length ([`LineDecoder::max_line_len`],
//! [`SseDecoder::max_line_len`]) and event size
//! ([`SseDecoder::max_event_len`]), 4 MiB each by default, and report an
//! over-long line as soon as it crosses the limit instead of buffering it.
//!
//! # Example
//!
//! ```
//! use bytes::BytesMut;
//! use serde::{Deserialize, Serialize};
//! use wirestate_codec::{Codec, JsonCodec};
//!
//! #[derive(Debug, PartialEq, Serialize, Deserialize)]
//! struct Ping {
//!     seq: u32,
//! }
//!
//! fn roundtrip<T, C: Codec<T>>(codec: &C, value: &T) -> T {
//!     let mut buf = BytesMut::new();
//!     codec.encode(value, &mut buf).unwrap();
//!     codec.decode(&buf).unwrap()
//! }
//!
//! assert_eq!(roundtrip(&JsonCodec::new(), &Ping { seq: 7 }), Ping { seq: 7 });
//! ```

#![forbid(unsafe_code)]

mod error;
mod json;
mod lines;
#[cfg(feature = "msgpack")]
mod msgpack;
mod protobuf;
mod sse;

use std::fmt;

use bytes::{Bytes, BytesMut};

pub use crate::error::{DecodeError, EncodeError, JsonCategory};
pub use crate::json::JsonCodec;
pub use crate::lines::{LineDecoder, LineError, encode_line};
#[cfg(feature = "msgpack")]
pub use crate::msgpack::MsgPackCodec;
pub use crate::protobuf::ProstCodec;
pub use crate::sse::{SseDecoder, SseError, SseEvent, encode_comment, encode_event};

/// The default maximum input size for decoding: 16 MiB.
pub const DEFAULT_MAX_LEN: usize = 16 * 1024 * 1024;

/// Converts values of type `T` to bytes and back.
///
/// Implementations are configuration values (cheap to copy, no state between
/// calls): `encode` appends one value to a buffer, `decode` reads one value
/// from exactly the given bytes (trailing bytes are an error).
pub trait Codec<T> {
    /// Encodes `value`, appending it to `dst`.
    ///
    /// On error `dst` is left as it was.
    ///
    /// # Errors
    ///
    /// [`EncodeError`] if the value cannot be represented in this format
    /// (for example a JSON map whose keys are not strings).
    fn encode(&self, value: &T, dst: &mut BytesMut) -> Result<(), EncodeError>;

    /// Decodes one value from exactly `src`.
    ///
    /// # Errors
    ///
    /// [`DecodeError::TooLarge`] if `src` is longer than the codec's limit;
    /// otherwise a codec-specific variant if `src` is not exactly one valid
    /// encoding of a `T`.
    fn decode(&self, src: &[u8]) -> Result<T, DecodeError>;

    /// The media type of the encoding, e.g. `"application/json"`.
    fn content_type(&self) -> &'static str;

    /// Encodes `value` into a new [`Bytes`].
    ///
    /// # Errors
    ///
    /// As [`Codec::encode`].
    fn encode_to_bytes(&self, value: &T) -> Result<Bytes, EncodeError> {
        let mut dst = BytesMut::new();
        self.encode(value, &mut dst)?;
        Ok(dst.freeze())
    }
}

impl<T, C: Codec<T> + ?Sized> Codec<T> for &C {
    fn encode(&self, value: &T, dst: &mut BytesMut) -> Result<(), EncodeError> {
        (**self).encode(value, dst)
    }

    fn decode(&self, src: &[u8]) -> Result<T, DecodeError> {
        (**self).decode(src)
    }

    fn content_type(&self) -> &'static str {
        (**self).content_type()
    }

    fn encode_to_bytes(&self, value: &T) -> Result<Bytes, EncodeError> {
        (**self).encode_to_bytes(value)
    }
}

/// Which codec produced an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CodecKind {
    /// [`JsonCodec`].
    Json,
    /// [`ProstCodec`].
    Protobuf,
    /// `MsgPackCodec` (feature `msgpack`).
    MsgPack,
}

impl CodecKind {
    /// A short lowercase name: `"json"`, `"protobuf"` or `"msgpack"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Protobuf => "protobuf",
            Self::MsgPack => "msgpack",
        }
    }
}

impl fmt::Display for CodecKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Refuses `src` before parsing if it is longer than `max`.
fn check_len(codec: CodecKind, src: &[u8], max: usize) -> Result<(), DecodeError> {
    if src.len() > max {
        return Err(DecodeError::TooLarge {
            codec,
            len: src.len(),
            max,
        });
    }
    Ok(())
}
