use http::StatusCode;
use wirestate_machine::{ClassifyError, ErrorKind};

use crate::status::{Code, Status};

/// Everything the gRPC layers of this crate can refuse.
///
/// Each error says whose fault it is ([`kind`](Error::kind)), which gRPC
/// status describes it ([`code`](Error::code)) and what to send back
/// ([`hint`](Error::hint): the `grpc-status` of the reply, none for the
/// caller's own mistakes). Request-head errors that the spec answers with
/// a plain HTTP status carry it in [`http_status`](Error::http_status).
/// [`to_status`](Error::to_status) turns an error into the [`Status`] to
/// put in trailers, or to hand to the application on the client side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- protocol: the peer's fault ----
    /// A message's Compressed-Flag byte is neither 0 nor 1 (in gRPC-Web:
    /// nor 0x80 or 0x81, the trailers frame).
    #[error("invalid compressed flag {0:#04x}")]
    InvalidCompressedFlag(u8),
    /// The body ended inside a message; `received` bytes of it (prefix
    /// included) had arrived.
    #[error("stream ended inside a message ({received} bytes of it received)")]
    TruncatedMessage {
        /// Bytes of the incomplete message that arrived, its prefix included.
        received: u64,
    },
    /// A message is flagged compressed but the stream's `grpc-encoding` is
    /// `identity` (or absent).
    #[error("compressed message without a grpc-encoding")]
    CompressedWithoutEncoding,
    /// `grpc-encoding` names an encoding this side does not support.
    #[error("unsupported grpc-encoding {name:?}")]
    UnsupportedEncoding {
        /// The encoding's name as received (lossy UTF-8).
        name: String,
    },
    /// Compressed data is corrupt (bad gzip header, deflate stream, CRC or
    /// length), or an empty payload was flagged compressed.
    #[error("corrupt compressed message")]
    Decompress,
    /// `grpc-status` is not a decimal number.
    #[error("malformed grpc-status")]
    InvalidGrpcStatus,
    /// Trailers without `grpc-status`.
    #[error("trailers without grpc-status")]
    MissingGrpcStatus,
    /// `grpc-timeout` is not 1 to 8 digits and a unit (`H M S m u n`).
    #[error("malformed grpc-timeout")]
    InvalidTimeout,
    /// A `-bin` metadata value is not base64.
    #[error("binary metadata value is not base64")]
    InvalidBinaryValue,
    /// A `grpc-web-text` body is not base64; `offset` counts the text bytes
    /// before the offending one.
    #[error("invalid base64 in grpc-web-text body at offset {offset}")]
    InvalidBase64 {
        /// Offset of the offending byte in the text body.
        offset: u64,
    },
    /// A gRPC-Web trailers frame is not `name: value` lines.
    #[error("malformed gRPC-Web trailers frame")]
    InvalidWebTrailers,
    /// Bytes after a gRPC-Web trailers frame (which must come last).
    #[error("data after the gRPC-Web trailers frame")]
    DataAfterTrailers,
    /// A request method other than `POST` (the reply is HTTP 405).
    #[error("gRPC requests must use POST")]
    MethodNotAllowed,
    /// A request `content-type` that does not start with `application/grpc`
    /// (the reply is HTTP 415).
    #[error("content-type is not application/grpc")]
    UnsupportedContentType,
    /// A gRPC request whose message format (the `content-type` subtype,
    /// `application/grpc+json`) the server cannot read: not among its
    /// [`MessageFormats`](crate::accept::MessageFormats), protobuf only
    /// by default (the reply is HTTP 415, as the gRPC HTTP/2 protocol asks
    /// of an unsupported content-type).
    #[error(
        "content-type application/grpc+{subtype} is not supported: this server reads {accepted}"
    )]
    UnsupportedMessageFormat {
        /// The subtype, in lower case.
        subtype: String,
        /// The formats the server reads, in words.
        accepted: String,
    },
    /// A `:path` that is not `/Service/Method`.
    #[error("path is not /Service/Method")]
    InvalidPath,

    // ---- limit: a configured bound ----
    /// A message longer than the decoder's `max_message_size`, refused from
    /// its prefix before any of it was buffered.
    #[error("message of {len} bytes exceeds the limit of {max}")]
    MessageTooLarge {
        /// The declared length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A message that decompresses to more than the limit (a gzip bomb is
    /// stopped at `max + 1` bytes).
    #[error("decompressed message exceeds the limit of {max} bytes")]
    DecompressedTooLarge {
        /// The limit.
        max: usize,
    },
    /// A gRPC-Web trailers frame longer than the decoder's limit.
    #[error("gRPC-Web trailers of {len} bytes exceed the limit of {max}")]
    WebTrailersTooLarge {
        /// The declared (or decompressed) length.
        len: u64,
        /// The limit.
        max: usize,
    },

    // ---- usage: the caller's mistake ----
    /// A metadata key outside `0-9 a-z _ - .`, or empty, or a `-bin` key
    /// given an ASCII value (or the reverse).
    #[error("invalid metadata key")]
    InvalidMetadataKey,
    /// An ASCII metadata value with a byte outside 0x20-0x7E.
    #[error("invalid metadata value")]
    InvalidMetadataValue,
    /// A key the transport owns (`grpc-*`, `content-type`, `te`, …).
    #[error("reserved metadata key")]
    ReservedMetadataKey,
    /// A message or trailers block longer than the 4 GiB a prefix can say.
    #[error("{len} bytes do not fit a 32-bit length prefix")]
    EncodeTooLarge {
        /// The length.
        len: usize,
    },
    /// The compressor failed (writing to memory; not expected to happen).
    #[error("compression failed")]
    Compress,
}

impl Error {
    /// Whose fault this is.
    pub fn kind(&self) -> ErrorKind {
        use Error::*;
        match self {
            MessageTooLarge { .. } | DecompressedTooLarge { .. } | WebTrailersTooLarge { .. } => {
                ErrorKind::Limit
            }
            InvalidMetadataKey
            | InvalidMetadataValue
            | ReservedMetadataKey
            | EncodeTooLarge { .. }
            | Compress => ErrorKind::Usage,
            _ => ErrorKind::Protocol,
        }
    }

    /// The gRPC status code that describes this error.
    pub fn code(&self) -> Code {
        use Error::*;
        match self {
            UnsupportedEncoding { .. } | InvalidPath => Code::Unimplemented,
            MessageTooLarge { .. } | DecompressedTooLarge { .. } | WebTrailersTooLarge { .. } => {
                Code::ResourceExhausted
            }
            MissingGrpcStatus => Code::Unknown,
            UnsupportedContentType | UnsupportedMessageFormat { .. } => Code::InvalidArgument,
            _ => Code::Internal,
        }
    }

    /// The `grpc-status` to reply with; `None` for usage errors, which
    /// concern no peer.
    pub fn hint(&self) -> Option<Code> {
        match self.kind() {
            ErrorKind::Usage => None,
            _ => Some(self.code()),
        }
    }

    /// The HTTP status of the reply: 405 for a method other than POST, 415
    /// for a content-type that is not gRPC, 200 (a gRPC error in trailers)
    /// for everything else.
    pub fn http_status(&self) -> StatusCode {
        match self {
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::UnsupportedContentType | Error::UnsupportedMessageFormat { .. } => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            _ => StatusCode::OK,
        }
    }

    /// The status to send (or to report to the application): [`code`]
    /// and this error's text.
    ///
    /// [`code`]: Error::code
    pub fn to_status(&self) -> Status {
        Status::new(self.code(), self.to_string())
    }
}

impl ClassifyError for Error {
    type Hint = Code;
    fn kind(&self) -> ErrorKind {
        Error::kind(self)
    }
    fn hint(&self) -> Option<Code> {
        Error::hint(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_follow_the_spec() {
        assert_eq!(
            Error::MessageTooLarge { len: 9, max: 8 }.hint(),
            Some(Code::ResourceExhausted)
        );
        assert_eq!(Error::InvalidCompressedFlag(2).hint(), Some(Code::Internal));
        assert_eq!(
            Error::UnsupportedEncoding { name: "br".into() }.hint(),
            Some(Code::Unimplemented)
        );
        assert_eq!(Error::InvalidPath.hint(), Some(Code::Unimplemented));
        assert_eq!(Error::ReservedMetadataKey.hint(), None);
        assert_eq!(Error::ReservedMetadataKey.kind(), ErrorKind::Usage);
        assert_eq!(
            Error::UnsupportedContentType.http_status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(
            Error::MethodNotAllowed.http_status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(Error::InvalidTimeout.http_status(), StatusCode::OK);
        let s = Error::DecompressedTooLarge { max: 4 }.to_status();
        assert_eq!(s.code, Code::ResourceExhausted);
        assert!(s.message.contains("limit"));
    }
}
