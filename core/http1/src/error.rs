use http::StatusCode;
use wirestate_machine::{ClassifyError, ErrorKind};

/// Everything that can go wrong on an HTTP/1.1 connection.
///
/// Protocol and limit errors raised by input are sticky: the connection has
/// queued its farewell (on the server, the error response named by
/// [`hint`](Error::hint), then `Connection: close`) and reads nothing more.
/// Usage errors change nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- protocol: the peer's fault ----
    /// The request or status line is malformed.
    #[error("malformed start line")]
    InvalidStartLine,
    /// The method is not a token.
    #[error("invalid method")]
    InvalidMethod,
    /// The request target is not a valid origin, absolute, authority or asterisk form.
    #[error("invalid request target")]
    InvalidTarget,
    /// The HTTP version is malformed.
    #[error("malformed HTTP version")]
    InvalidVersion,
    /// A well-formed HTTP version other than 1.0 or 1.1.
    #[error("unsupported HTTP version")]
    UnsupportedVersion,
    /// The status code is not three digits, or the reason phrase is invalid.
    #[error("invalid status line")]
    InvalidStatus,
    /// A header name is not a token (this includes whitespace before the colon).
    #[error("invalid header name")]
    InvalidHeaderName,
    /// A header value holds a control byte (NUL, bare CR, DEL, …).
    #[error("invalid header value")]
    InvalidHeaderValue,
    /// A header line is folded onto the next line (obs-fold).
    #[error("obsolete line folding in header")]
    ObsoleteFold,
    /// A line ends in something other than CRLF or LF.
    #[error("invalid line ending")]
    InvalidLineEnding,
    /// An HTTP/1.1 request without a Host header.
    #[error("missing Host header")]
    MissingHost,
    /// More than one Host header.
    #[error("duplicate Host header")]
    DuplicateHost,
    /// A Host header that is not `host[:port]`.
    #[error("invalid Host header")]
    InvalidHost,
    /// A Content-Length that is not plain decimal digits, or overflows.
    #[error("invalid Content-Length")]
    InvalidContentLength,
    /// Several Content-Length headers with different values.
    #[error("conflicting Content-Length headers")]
    ConflictingContentLength,
    /// Both Content-Length and Transfer-Encoding: the framing is ambiguous.
    #[error("both Content-Length and Transfer-Encoding")]
    ContentLengthAndTransferEncoding,
    /// Transfer-Encoding that applies `chunked` twice, holds parameters or
    /// junk, appears in an HTTP/1.0 message, or (in a request) does not end
    /// in `chunked`; a response whose codings do not end in `chunked` is
    /// read until the connection closes instead (RFC 9112 §6.3).
    #[error("invalid Transfer-Encoding")]
    InvalidTransferEncoding,
    /// A transfer coding this implementation does not decode (e.g. `gzip, chunked`).
    #[error("unsupported transfer coding")]
    UnsupportedTransferCoding,
    /// The request's `Expect` holds something other than `100-continue`
    /// (RFC 9110 §10.1.1), answered with 417.
    #[error("unsupported expectation")]
    ExpectationFailed,
    /// A chunk-size line is malformed (not hex, overflow, sign, prefix).
    #[error("invalid chunk size")]
    InvalidChunkSize,
    /// A chunk extension is malformed.
    #[error("invalid chunk extension")]
    InvalidChunkExtension,
    /// Chunk data is not followed by CRLF, or a chunk line ends in a bare LF.
    #[error("invalid chunk terminator")]
    InvalidChunkTerminator,
    /// The trailer section is malformed.
    #[error("invalid trailer section")]
    InvalidTrailers,
    /// The peer closed the connection in the middle of a message.
    #[error("connection closed before the message was complete")]
    IncompleteMessage,
    /// A response arrived with no request waiting for it.
    #[error("response without a request")]
    UnexpectedResponse,
    /// `101 Switching Protocols` to a request that did not ask to upgrade.
    #[error("unexpected 101 Switching Protocols")]
    UnexpectedSwitchingProtocols,

    // ---- limit: a configured bound ----
    /// The request line is longer than `max_request_line`.
    #[error("request line too long")]
    RequestLineTooLong,
    /// The head is larger than `max_head_bytes`.
    #[error("header section too large")]
    HeadersTooLarge,
    /// More header fields than `max_headers`.
    #[error("too many header fields")]
    TooManyHeaders,
    /// A chunk line (size and extensions) is longer than `max_chunk_line`.
    #[error("chunk extension too long")]
    ChunkExtensionTooLong,
    /// The trailer section is larger than `max_trailer_bytes` or has too many fields.
    #[error("trailer section too large")]
    TrailersTooLarge,
    /// The body is larger than `max_body_bytes`.
    #[error("body too large")]
    BodyTooLarge,
    /// A request head did not arrive within `header_read_timeout`.
    #[error("timed out reading the request head")]
    HeaderTimeout,
    /// Input was fed while the receive buffer was already full (the caller
    /// ignored `wants_read`).
    #[error("receive buffer full")]
    ReceiveBufferFull,

    // ---- usage: the caller's mistake ----
    /// A response was sent with no request waiting for one.
    #[error("no request is waiting for a response")]
    NoPendingRequest,
    /// The response head for this request was already sent.
    #[error("response already started")]
    AlreadyStarted,
    /// Body data or trailers with no message body in progress.
    #[error("no message body is being sent")]
    NotSendingBody,
    /// Body data for a message that cannot have a body (HEAD, 204, 304, …).
    #[error("this message cannot have a body")]
    BodyNotAllowed,
    /// More body bytes than the declared length, or fewer at the end.
    #[error("body length does not match the declared length")]
    BodyLengthMismatch,
    /// Trailers on a body that is not chunked.
    #[error("trailers need a chunked body")]
    TrailersNotAllowed,
    /// Content-Length or Transfer-Encoding set by hand; framing comes from [`BodySize`](crate::BodySize).
    #[error("framing headers are set from BodySize, not by hand")]
    FramingHeaderSet,
    /// A status that cannot be used here (e.g. 101 through `send_informational`).
    #[error("status not allowed here")]
    InvalidStatusForUse,
    /// A streaming body needs chunked encoding, which HTTP/1.0 lacks.
    #[error("HTTP/1.0 request bodies need a known length")]
    UnknownLengthInHttp10,
    /// A CONNECT request needs `host:port` in its URI.
    #[error("CONNECT needs an authority (host:port)")]
    MissingAuthority,
    /// The connection is closing or closed.
    #[error("connection is closed")]
    Closed,
}

impl Error {
    /// Whose fault this is.
    pub fn kind(&self) -> ErrorKind {
        use Error::*;
        match self {
            RequestLineTooLong
            | HeadersTooLarge
            | TooManyHeaders
            | ChunkExtensionTooLong
            | TrailersTooLarge
            | BodyTooLarge
            | ReceiveBufferFull
            | HeaderTimeout => ErrorKind::Limit,
            NoPendingRequest
            | AlreadyStarted
            | NotSendingBody
            | BodyNotAllowed
            | BodyLengthMismatch
            | TrailersNotAllowed
            | FramingHeaderSet
            | InvalidStatusForUse
            | UnknownLengthInHttp10
            | MissingAuthority
            | Closed => ErrorKind::Usage,
            _ => ErrorKind::Protocol,
        }
    }

    /// The status a server answers with (the client role sends nothing; the
    /// hint still classifies the failure).
    pub fn hint(&self) -> Option<StatusCode> {
        use Error::*;
        Some(match self {
            UnsupportedVersion => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            UnsupportedTransferCoding => StatusCode::NOT_IMPLEMENTED,
            ExpectationFailed => StatusCode::EXPECTATION_FAILED,
            RequestLineTooLong => StatusCode::URI_TOO_LONG,
            HeadersTooLarge | TooManyHeaders | TrailersTooLarge => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            HeaderTimeout => StatusCode::REQUEST_TIMEOUT,
            IncompleteMessage => return None,
            e if e.kind() == ErrorKind::Usage => return None,
            _ => StatusCode::BAD_REQUEST,
        })
    }
}

impl ClassifyError for Error {
    type Hint = StatusCode;
    fn kind(&self) -> ErrorKind {
        Error::kind(self)
    }
    fn hint(&self) -> Option<StatusCode> {
        Error::hint(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_follow_the_rfc() {
        assert_eq!(Error::MissingHost.hint(), Some(StatusCode::BAD_REQUEST));
        assert_eq!(
            Error::RequestLineTooLong.hint(),
            Some(StatusCode::URI_TOO_LONG)
        );
        assert_eq!(
            Error::TooManyHeaders.hint(),
            Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        );
        assert_eq!(
            Error::UnsupportedTransferCoding.hint(),
            Some(StatusCode::NOT_IMPLEMENTED)
        );
        assert_eq!(
            Error::UnsupportedVersion.hint(),
            Some(StatusCode::HTTP_VERSION_NOT_SUPPORTED)
        );
        assert_eq!(
            Error::BodyTooLarge.hint(),
            Some(StatusCode::PAYLOAD_TOO_LARGE)
        );
        assert_eq!(Error::AlreadyStarted.hint(), None);
        assert_eq!(Error::AlreadyStarted.kind(), ErrorKind::Usage);
        assert_eq!(Error::HeadersTooLarge.kind(), ErrorKind::Limit);
        assert_eq!(Error::ObsoleteFold.kind(), ErrorKind::Protocol);
    }
}
