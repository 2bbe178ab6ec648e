//! Why a frame is refused, and what to send back.

use super::{ErrorCode, FrameType, SettingId, StreamId};
use wirestate_machine::{ClassifyError, ErrorKind};

/// What an endpoint sends when a frame is refused (RFC 9113 §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reply {
    /// A connection error (§5.4.1): send GOAWAY with this code and close.
    GoAway(ErrorCode),
    /// A stream error (§5.4.2): send RST_STREAM on `stream` with `code`;
    /// the connection goes on.
    Reset {
        /// The stream to reset.
        stream: StreamId,
        /// The code to reset it with.
        code: ErrorCode,
    },
}

impl Reply {
    /// The error code to send.
    pub fn code(self) -> ErrorCode {
        match self {
            Reply::GoAway(code) | Reply::Reset { code, .. } => code,
        }
    }

    /// Whether the whole connection fails (GOAWAY) rather than one stream.
    pub fn is_connection_error(self) -> bool {
        matches!(self, Reply::GoAway(_))
    }

    /// The stream to reset, for a stream error.
    pub fn stream(self) -> Option<StreamId> {
        match self {
            Reply::GoAway(_) => None,
            Reply::Reset { stream, .. } => Some(stream),
        }
    }
}

/// Why the frame codec refused a frame, or an encode call.
///
/// [`hint`](FrameError::hint) says what to send back: a GOAWAY for a
/// connection error (the decoder then returns the same error on every
/// call), a RST_STREAM for a stream error (the decoder skips the frame and
/// goes on). Usage errors come from the encoders and the decoder's
/// settings, never from input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    // ---- protocol: the peer's fault ----
    /// A frame type that must be on a stream arrived on stream 0, or one
    /// that must be on stream 0 arrived on a stream. Connection
    /// PROTOCOL_ERROR.
    #[error("{kind} frame on stream {stream}")]
    InvalidStreamId {
        /// The frame type.
        kind: FrameType,
        /// The stream it arrived on.
        stream: StreamId,
    },
    /// A length the frame type does not allow: PING not 8, PRIORITY not 5,
    /// RST_STREAM or WINDOW_UPDATE not 4, SETTINGS not a multiple of 6 (or
    /// not 0 on an ACK), GOAWAY under 8, or a padded or prioritised frame
    /// too short for its fixed fields. FRAME_SIZE_ERROR: a stream error on
    /// PRIORITY, a connection error on every other type.
    #[error("{kind} frame with invalid length {len}")]
    InvalidLength {
        /// The frame type.
        kind: FrameType,
        /// The stream it arrived on.
        stream: StreamId,
        /// The payload length.
        len: u32,
    },
    /// Padding as long as the rest of the payload or longer. Connection
    /// PROTOCOL_ERROR.
    #[error("{kind} frame with {pad_len} bytes of padding in a payload of {len}")]
    InvalidPadding {
        /// The frame type.
        kind: FrameType,
        /// The pad length field.
        pad_len: u8,
        /// The payload length.
        len: u32,
    },
    /// A PRIORITY frame making a stream depend on itself: stream error
    /// PROTOCOL_ERROR. (A prioritised HEADERS frame doing the same decodes:
    /// its field block must still reach HPACK, and the connection resets
    /// the stream afterwards.)
    #[error("stream {stream} depends on itself")]
    SelfDependency {
        /// The frame type.
        kind: FrameType,
        /// The stream.
        stream: StreamId,
    },
    /// A WINDOW_UPDATE with an increment of 0. PROTOCOL_ERROR: a stream
    /// error on a stream, a connection error on stream 0.
    #[error("WINDOW_UPDATE of 0 on stream {stream}")]
    ZeroWindowIncrement {
        /// The stream (0: the connection's window).
        stream: StreamId,
    },
    /// A SETTINGS value out of range: INITIAL_WINDOW_SIZE above 2^31 - 1
    /// (connection FLOW_CONTROL_ERROR), MAX_FRAME_SIZE outside
    /// 16384..=16777215, or a 0/1 setting with another value (connection
    /// PROTOCOL_ERROR).
    #[error("invalid value {value} for {id:?}")]
    InvalidSetting {
        /// The setting.
        id: SettingId,
        /// The value received.
        value: u32,
    },
    /// A field block was open (HEADERS or PUSH_PROMISE without
    /// END_HEADERS) and the next frame is not a CONTINUATION on the same
    /// stream. Connection PROTOCOL_ERROR.
    #[error("expected CONTINUATION on stream {stream}, got {kind} on stream {got}")]
    ExpectedContinuation {
        /// The stream whose field block is open.
        stream: StreamId,
        /// The frame type that arrived instead.
        kind: FrameType,
        /// The stream it arrived on.
        got: StreamId,
    },
    /// A CONTINUATION with no field block open. Connection PROTOCOL_ERROR.
    #[error("CONTINUATION on stream {stream} without a field block in progress")]
    UnexpectedContinuation {
        /// The stream it arrived on.
        stream: StreamId,
    },
    /// The client connection preface is wrong. Connection PROTOCOL_ERROR.
    #[error("invalid HTTP/2 connection preface")]
    InvalidPreface,

    // ---- limit: a configured bound ----
    /// A frame longer than the SETTINGS_MAX_FRAME_SIZE we advertised,
    /// refused before its payload is buffered. Connection FRAME_SIZE_ERROR.
    #[error("{kind} frame of {len} bytes exceeds the limit of {max}")]
    FrameTooLarge {
        /// The frame type.
        kind: FrameType,
        /// The declared payload length.
        len: u32,
        /// The limit.
        max: u32,
    },
    /// A field block (HEADERS or PUSH_PROMISE and its CONTINUATION frames,
    /// counted with their 9-byte headers) larger than the decoder's
    /// `max_header_block_size`: a CONTINUATION flood. Connection
    /// ENHANCE_YOUR_CALM.
    #[error("field block on stream {stream} exceeds {max} bytes")]
    HeaderBlockTooLarge {
        /// The stream of the field block.
        stream: StreamId,
        /// The limit.
        max: usize,
    },

    // ---- usage: the caller's mistake ----
    /// A maximum frame size outside 16384..=16777215 was passed.
    #[error("maximum frame size {0} outside 16384..=16777215")]
    InvalidMaxFrameSize(u32),
    /// A frame to encode whose payload does not fit the 24-bit length field.
    #[error("{kind} payload of {len} bytes does not fit in a frame")]
    PayloadTooLarge {
        /// The frame type.
        kind: FrameType,
        /// The payload length.
        len: usize,
    },
    /// A WINDOW_UPDATE to encode with an increment above 2^31 - 1.
    #[error("window increment {0} does not fit in 31 bits")]
    InvalidIncrement(u32),
}

impl FrameError {
    /// Whose fault this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            FrameError::FrameTooLarge { .. } | FrameError::HeaderBlockTooLarge { .. } => {
                ErrorKind::Limit
            }
            FrameError::InvalidMaxFrameSize(_)
            | FrameError::PayloadTooLarge { .. }
            | FrameError::InvalidIncrement(_) => ErrorKind::Usage,
            _ => ErrorKind::Protocol,
        }
    }

    /// What to send to the peer: GOAWAY for a connection error, RST_STREAM
    /// for a stream error, nothing for a usage error.
    ///
    /// ```
    /// use wirestate_h2::frame::{ErrorCode, FrameError, Reply, StreamId};
    /// let s = StreamId::new(3).unwrap();
    /// assert_eq!(
    ///     FrameError::ZeroWindowIncrement { stream: s }.hint(),
    ///     Some(Reply::Reset { stream: s, code: ErrorCode::PROTOCOL_ERROR })
    /// );
    /// assert_eq!(
    ///     FrameError::ZeroWindowIncrement { stream: StreamId::ZERO }.hint(),
    ///     Some(Reply::GoAway(ErrorCode::PROTOCOL_ERROR))
    /// );
    /// ```
    pub fn hint(&self) -> Option<Reply> {
        use FrameError::*;
        let reset = |stream, code| Reply::Reset { stream, code };
        Some(match *self {
            InvalidLength { kind, stream, .. } if kind == FrameType::PRIORITY => {
                reset(stream, ErrorCode::FRAME_SIZE_ERROR)
            }
            SelfDependency { kind, stream } if kind == FrameType::PRIORITY => {
                reset(stream, ErrorCode::PROTOCOL_ERROR)
            }
            ZeroWindowIncrement { stream } if !stream.is_zero() => {
                reset(stream, ErrorCode::PROTOCOL_ERROR)
            }
            InvalidLength { .. } | FrameTooLarge { .. } => {
                Reply::GoAway(ErrorCode::FRAME_SIZE_ERROR)
            }
            InvalidSetting {
                id: SettingId::InitialWindowSize,
                ..
            } => Reply::GoAway(ErrorCode::FLOW_CONTROL_ERROR),
            HeaderBlockTooLarge { .. } => Reply::GoAway(ErrorCode::ENHANCE_YOUR_CALM),
            InvalidMaxFrameSize(_) | PayloadTooLarge { .. } | InvalidIncrement(_) => return None,
            _ => Reply::GoAway(ErrorCode::PROTOCOL_ERROR),
        })
    }

    /// Whether this is a connection error: the decoder stops and the
    /// connection answers with GOAWAY.
    pub fn is_connection_error(&self) -> bool {
        self.hint().is_some_and(Reply::is_connection_error)
    }

    /// Whether this is a stream error: the frame was skipped, the stream is
    /// reset and decoding goes on.
    pub fn is_stream_error(&self) -> bool {
        matches!(self.hint(), Some(Reply::Reset { .. }))
    }
}

impl ClassifyError for FrameError {
    type Hint = Reply;
    fn kind(&self) -> ErrorKind {
        FrameError::kind(self)
    }
    fn hint(&self) -> Option<Reply> {
        FrameError::hint(self)
    }
}
