//! HTTP/2 error codes (RFC 9113 §7).

use std::fmt;

/// An error code, as carried by RST_STREAM and GOAWAY (RFC 9113 §7).
///
/// Codes this crate does not know are kept as they are: RFC 9113 says they
/// must not trigger special behaviour, and a receiver may treat them as
/// [`INTERNAL_ERROR`](ErrorCode::INTERNAL_ERROR).
///
/// ```
/// use wirestate_h2::frame::ErrorCode;
/// assert_eq!(ErrorCode::from(0x8), ErrorCode::CANCEL);
/// assert_eq!(ErrorCode::CANCEL.to_string(), "CANCEL");
/// assert_eq!(ErrorCode::from(0xabc).name(), None);
/// assert_eq!(ErrorCode::from(0xabc).to_string(), "0xabc");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    /// 0x0: not an error (a graceful GOAWAY, a RST_STREAM that just ends a stream).
    pub const NO_ERROR: ErrorCode = ErrorCode(0x0);
    /// 0x1: an unspecific protocol error.
    pub const PROTOCOL_ERROR: ErrorCode = ErrorCode(0x1);
    /// 0x2: an unexpected internal error.
    pub const INTERNAL_ERROR: ErrorCode = ErrorCode(0x2);
    /// 0x3: the peer violated the flow-control protocol.
    pub const FLOW_CONTROL_ERROR: ErrorCode = ErrorCode(0x3);
    /// 0x4: a SETTINGS frame was not acknowledged in time.
    pub const SETTINGS_TIMEOUT: ErrorCode = ErrorCode(0x4);
    /// 0x5: a frame arrived on a stream already half-closed by the peer.
    pub const STREAM_CLOSED: ErrorCode = ErrorCode(0x5);
    /// 0x6: a frame of an invalid size.
    pub const FRAME_SIZE_ERROR: ErrorCode = ErrorCode(0x6);
    /// 0x7: the stream was refused before any application processing.
    pub const REFUSED_STREAM: ErrorCode = ErrorCode(0x7);
    /// 0x8: the stream is no longer needed.
    pub const CANCEL: ErrorCode = ErrorCode(0x8);
    /// 0x9: the field-compression context cannot be maintained.
    pub const COMPRESSION_ERROR: ErrorCode = ErrorCode(0x9);
    /// 0xa: the connection of a CONNECT request was reset or closed.
    pub const CONNECT_ERROR: ErrorCode = ErrorCode(0xa);
    /// 0xb: the peer behaves in a way that might generate excessive load.
    pub const ENHANCE_YOUR_CALM: ErrorCode = ErrorCode(0xb);
    /// 0xc: the transport's security properties are not sufficient.
    pub const INADEQUATE_SECURITY: ErrorCode = ErrorCode(0xc);
    /// 0xd: the request must be retried over HTTP/1.1.
    pub const HTTP_1_1_REQUIRED: ErrorCode = ErrorCode(0xd);

    /// The RFC 9113 name, or `None` for a code it does not define.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x0 => "NO_ERROR",
            0x1 => "PROTOCOL_ERROR",
            0x2 => "INTERNAL_ERROR",
            0x3 => "FLOW_CONTROL_ERROR",
            0x4 => "SETTINGS_TIMEOUT",
            0x5 => "STREAM_CLOSED",
            0x6 => "FRAME_SIZE_ERROR",
            0x7 => "REFUSED_STREAM",
            0x8 => "CANCEL",
            0x9 => "COMPRESSION_ERROR",
            0xa => "CONNECT_ERROR",
            0xb => "ENHANCE_YOUR_CALM",
            0xc => "INADEQUATE_SECURITY",
            0xd => "HTTP_1_1_REQUIRED",
            _ => return None,
        })
    }

    /// Whether RFC 9113 defines this code.
    pub const fn is_known(self) -> bool {
        self.0 <= 0xd
    }

    /// The code as a number.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl From<u32> for ErrorCode {
    fn from(code: u32) -> ErrorCode {
        ErrorCode(code)
    }
}

impl From<ErrorCode> for u32 {
    fn from(code: ErrorCode) -> u32 {
        code.0
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "ErrorCode({:#x})", self.0),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{:#x}", self.0),
        }
    }
}
