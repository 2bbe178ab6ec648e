//! gRPC status codes, the [`Status`] carried in trailers, and the mappings
//! the spec gives from HTTP statuses and HTTP/2 `RST_STREAM` codes.

use std::fmt;

use bytes::Bytes;
use http::StatusCode;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::Error;
use crate::metadata::{Metadata, decode_bin_value, encode_bin_value};

/// The `grpc-status` trailer.
pub const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
/// The `grpc-message` trailer (percent-encoded UTF-8).
pub const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
/// The `grpc-status-details-bin` trailer (base64 of a serialized
/// `google.rpc.Status`).
pub const GRPC_STATUS_DETAILS_BIN: HeaderName = HeaderName::from_static("grpc-status-details-bin");

/// A gRPC status code (`grpc-status`), 0 to 16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// 0: not an error.
    Ok,
    /// 1: the operation was cancelled, typically by the caller.
    Cancelled,
    /// 2: unknown error (also every number outside 0-16).
    Unknown,
    /// 3: the client specified an invalid argument.
    InvalidArgument,
    /// 4: the deadline expired before the operation could complete.
    DeadlineExceeded,
    /// 5: some requested entity was not found.
    NotFound,
    /// 6: the entity the client tried to create already exists.
    AlreadyExists,
    /// 7: the caller may not execute the operation.
    PermissionDenied,
    /// 8: some resource (a quota, memory, a size limit) has been exhausted.
    ResourceExhausted,
    /// 9: the system is not in a state required for the operation.
    FailedPrecondition,
    /// 10: the operation was aborted (a concurrency conflict, typically).
    Aborted,
    /// 11: the operation was attempted past the valid range.
    OutOfRange,
    /// 12: the operation is not implemented or supported.
    Unimplemented,
    /// 13: an invariant the system relies on is broken.
    Internal,
    /// 14: the service is unavailable; retrying may help.
    Unavailable,
    /// 15: unrecoverable data loss or corruption.
    DataLoss,
    /// 16: the request lacks valid authentication credentials.
    Unauthenticated,
}

impl Code {
    /// Every code, in numeric order.
    pub const ALL: [Code; 17] = [
        Code::Ok,
        Code::Cancelled,
        Code::Unknown,
        Code::InvalidArgument,
        Code::DeadlineExceeded,
        Code::NotFound,
        Code::AlreadyExists,
        Code::PermissionDenied,
        Code::ResourceExhausted,
        Code::FailedPrecondition,
        Code::Aborted,
        Code::OutOfRange,
        Code::Unimplemented,
        Code::Internal,
        Code::Unavailable,
        Code::DataLoss,
        Code::Unauthenticated,
    ];

    /// The code's number.
    pub const fn value(self) -> u32 {
        self as u32
    }

    /// The code for a number; numbers outside 0-16 are [`Code::Unknown`].
    pub const fn from_u32(n: u32) -> Code {
        if n < 17 {
            Code::ALL[n as usize]
        } else {
            Code::Unknown
        }
    }

    /// The code for a signed number (as protobuf's `google.rpc.Status`
    /// carries it); negative numbers are [`Code::Unknown`].
    pub const fn from_i32(n: i32) -> Code {
        if n < 0 {
            Code::Unknown
        } else {
            Code::from_u32(n as u32)
        }
    }

    /// The spec's name, e.g. `"DEADLINE_EXCEEDED"`.
    pub const fn name(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::Cancelled => "CANCELLED",
            Code::Unknown => "UNKNOWN",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::Aborted => "ABORTED",
            Code::OutOfRange => "OUT_OF_RANGE",
            Code::Unimplemented => "UNIMPLEMENTED",
            Code::Internal => "INTERNAL",
            Code::Unavailable => "UNAVAILABLE",
            Code::DataLoss => "DATA_LOSS",
            Code::Unauthenticated => "UNAUTHENTICATED",
        }
    }

    /// Parses a `grpc-status` value: decimal digits (surrounding spaces and
    /// leading zeros tolerated); a well-formed number outside 0-16 is
    /// [`Code::Unknown`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidGrpcStatus`] if the value is not a decimal number.
    pub fn parse(value: &[u8]) -> Result<Code, Error> {
        let value = value.trim_ascii();
        if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
            return Err(Error::InvalidGrpcStatus);
        }
        let mut n: u32 = 0;
        for &d in value {
            match n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u32::from(d - b'0')))
            {
                Some(v) => n = v,
                None => return Ok(Code::Unknown),
            }
        }
        Ok(Code::from_u32(n))
    }

    /// The `grpc-status` value: the number in decimal.
    pub fn to_header_value(self) -> HeaderValue {
        // Static strings: a status goes out with every call, and
        // `HeaderValue::from(u32)` allocates.
        const DIGITS: [&str; 17] = [
            "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15",
            "16",
        ];
        HeaderValue::from_static(DIGITS[self.value() as usize])
    }

    /// The code a client reports for a response that lacks `grpc-status`,
    /// from its HTTP status (gRPC's `http-grpc-status-mapping.md`): 400 and
    /// 431 → INTERNAL, 401 → UNAUTHENTICATED, 403 → PERMISSION_DENIED,
    /// 404 → UNIMPLEMENTED, 429, 502, 503, 504 → UNAVAILABLE, anything
    /// else (200 included) → UNKNOWN.
    pub fn from_http_status(status: StatusCode) -> Code {
        match status.as_u16() {
            400 | 431 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502 | 503 | 504 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }

    /// The code for a stream reset by the peer with this HTTP/2 error code
    /// (PROTOCOL-HTTP2.md, "Errors"): REFUSED_STREAM (7) → UNAVAILABLE,
    /// CANCEL (8) → CANCELLED, ENHANCE_YOUR_CALM (11) → RESOURCE_EXHAUSTED,
    /// INADEQUATE_SECURITY (12) → PERMISSION_DENIED; NO_ERROR,
    /// PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR,
    /// SETTINGS_TIMEOUT, FRAME_SIZE_ERROR, COMPRESSION_ERROR and
    /// CONNECT_ERROR → INTERNAL. The spec maps STREAM_CLOSED (5) to
    /// nothing (there is no open stream); it and HTTP_1_1_REQUIRED (13)
    /// give INTERNAL here too, and unknown codes UNKNOWN.
    pub const fn from_h2_error_code(code: u32) -> Code {
        match code {
            0..=6 | 9 | 10 | 13 => Code::Internal,
            7 => Code::Unavailable,
            8 => Code::Cancelled,
            11 => Code::ResourceExhausted,
            12 => Code::PermissionDenied,
            _ => Code::Unknown,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<u32> for Code {
    fn from(n: u32) -> Code {
        Code::from_u32(n)
    }
}

impl From<Code> for u32 {
    fn from(code: Code) -> u32 {
        code.value()
    }
}

/// The outcome of a call: a code, a message for humans, optional binary
/// details and trailing metadata.
///
/// ```
/// use http::HeaderMap;
/// use wirestate_grpc::{Code, Status};
///
/// let status = Status::new(Code::NotFound, "no such user: ünïcode");
/// let mut trailers = HeaderMap::new();
/// status.to_trailers(&mut trailers);
/// assert_eq!(trailers["grpc-status"], "5");
/// assert_eq!(trailers["grpc-message"], "no such user: %C3%BCn%C3%AFcode");
/// assert_eq!(Status::from_trailers(&trailers).unwrap(), status);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The code (`grpc-status`).
    pub code: Code,
    /// The message (`grpc-message`, percent-encoded on the wire); empty
    /// when there is none.
    pub message: String,
    /// Binary details (`grpc-status-details-bin`, typically a serialized
    /// `google.rpc.Status`: `wirestate_proto::google::rpc::Status`);
    /// empty when there are none.
    pub details: Bytes,
    /// The other trailers: user metadata.
    pub metadata: Metadata,
}

impl Status {
    /// A status with a code and message, no details, no metadata.
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status {
            code,
            message: message.into(),
            details: Bytes::new(),
            metadata: Metadata::new(),
        }
    }

    /// `OK` with no message.
    pub fn ok() -> Status {
        Status::new(Code::Ok, "")
    }

    /// Whether the code is [`Code::Ok`].
    pub fn is_ok(&self) -> bool {
        self.code == Code::Ok
    }

    /// Sets the binary details: for the rich error model other gRPC
    /// implementations read, an encoded `google.rpc.Status`
    /// (`wirestate_proto::google::rpc::Status`, with this status's code
    /// and message and typed details).
    pub fn with_details(mut self, details: Bytes) -> Status {
        self.details = details;
        self
    }

    /// Sets the trailing metadata.
    pub fn with_metadata(mut self, metadata: Metadata) -> Status {
        self.metadata = metadata;
        self
    }

    /// Reads a status from trailers (or the headers of a trailers-only
    /// response): `grpc-status`, the percent-decoded `grpc-message`
    /// (decoded leniently, see [`decode_grpc_message`]), the base64
    /// `grpc-status-details-bin` (left empty if it is not base64: broken
    /// details must not hide the status) and the user metadata among the
    /// rest (reserved headers are left out).
    ///
    /// # Errors
    ///
    /// [`Error::MissingGrpcStatus`] or [`Error::InvalidGrpcStatus`]; turn
    /// them into the status to report with [`Error::to_status`].
    pub fn from_trailers(trailers: &HeaderMap) -> Result<Status, Error> {
        let code = match trailers.get(GRPC_STATUS) {
            Some(v) => Code::parse(v.as_bytes())?,
            None => return Err(Error::MissingGrpcStatus),
        };
        let message = trailers
            .get(GRPC_MESSAGE)
            .map(|v| decode_grpc_message(v.as_bytes()))
            .unwrap_or_default();
        let details = trailers
            .get(GRPC_STATUS_DETAILS_BIN)
            .and_then(|v| decode_bin_value(v.as_bytes()).ok())
            .unwrap_or_default();
        Ok(Status {
            code,
            message,
            details,
            metadata: Metadata::from_headers(trailers),
        })
    }

    /// Writes the status into trailers: `grpc-status`, `grpc-message` when
    /// the message is not empty, `grpc-status-details-bin` when there are
    /// details, then the metadata (appended).
    pub fn to_trailers(&self, trailers: &mut HeaderMap) {
        trailers.insert(GRPC_STATUS, self.code.to_header_value());
        if !self.message.is_empty() {
            trailers.insert(GRPC_MESSAGE, encode_grpc_message(&self.message));
        }
        if !self.details.is_empty() {
            trailers.insert(GRPC_STATUS_DETAILS_BIN, encode_bin_value(&self.details));
        }
        self.metadata.append_to(trailers);
    }

    /// The status a client synthesizes for a response without
    /// `grpc-status`, from its HTTP status ([`Code::from_http_status`]).
    pub fn from_http_status(status: StatusCode) -> Status {
        let message = match status.canonical_reason() {
            Some(reason) => format!("HTTP status {} {reason}", status.as_u16()),
            None => format!("HTTP status {}", status.as_u16()),
        };
        Status::new(Code::from_http_status(status), message)
    }

    /// The status for a stream the peer reset with this HTTP/2 error code
    /// ([`Code::from_h2_error_code`]).
    pub fn from_h2_error_code(code: u32) -> Status {
        let name = match code {
            0 => "NO_ERROR",
            1 => "PROTOCOL_ERROR",
            2 => "INTERNAL_ERROR",
            3 => "FLOW_CONTROL_ERROR",
            4 => "SETTINGS_TIMEOUT",
            5 => "STREAM_CLOSED",
            6 => "FRAME_SIZE_ERROR",
            7 => "REFUSED_STREAM",
            8 => "CANCEL",
            9 => "COMPRESSION_ERROR",
            10 => "CONNECT_ERROR",
            11 => "ENHANCE_YOUR_CALM",
            12 => "INADEQUATE_SECURITY",
            13 => "HTTP_1_1_REQUIRED",
            _ => "unknown",
        };
        Status::new(
            Code::from_h2_error_code(code),
            format!("stream reset with HTTP/2 error code {code} ({name})"),
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.code)
        } else {
            write!(f, "{}: {}", self.code, self.message)
        }
    }
}

impl std::error::Error for Status {}

impl From<Error> for Status {
    fn from(e: Error) -> Status {
        e.to_status()
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Percent-encodes a status message for `grpc-message`: every byte of its
/// UTF-8 outside 0x20-0x7E, and `%` itself, becomes `%XX` (upper-case hex).
///
/// ```
/// use wirestate_grpc::encode_grpc_message;
/// assert_eq!(encode_grpc_message("Hello World"), "Hello World");
/// assert_eq!(encode_grpc_message("100%\n"), "100%25%0A");
/// assert_eq!(encode_grpc_message("🦀"), "%F0%9F%A6%80");
/// ```
pub fn encode_grpc_message(message: &str) -> HeaderValue {
    let mut out = Vec::with_capacity(message.len());
    for &b in message.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
    // Only visible ASCII and spaces remain: always a valid header value.
    HeaderValue::from_maybe_shared(Bytes::from(out))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Decodes a `grpc-message` value. Never fails: `%XX` (either case) becomes
/// the byte, a `%` not followed by two hex digits is kept as it is, and
/// bytes that do not form UTF-8 become U+FFFD, as the spec allows.
///
/// ```
/// use wirestate_grpc::decode_grpc_message;
/// assert_eq!(decode_grpc_message(b"Hello%20World"), "Hello World");
/// assert_eq!(decode_grpc_message(b"%C3%A9t%c3%a9"), "été");
/// assert_eq!(decode_grpc_message(b"50% off, %zz"), "50% off, %zz");
/// ```
pub fn decode_grpc_message(value: &[u8]) -> String {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        let b = value[i];
        let digit = |at: usize| value.get(at).copied().and_then(hex_value);
        if b == b'%'
            && let (Some(h), Some(l)) = (digit(i + 1), digit(i + 2))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}
