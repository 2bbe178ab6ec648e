//! What a [`Connection`](super::Connection) reports, and its errors.

use crate::flow::{FlowError, ReleaseError};
use crate::frame::{ErrorCode, FrameError, Reply, Settings, StreamId};
use crate::hpack;
use bytes::Bytes;
use http::HeaderMap;
use wirestate_machine::{ClassifyError, ErrorKind};

/// What the connection reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// Servers: a request head arrived on a new stream. `end_stream`: no
    /// body follows.
    Request {
        /// The stream.
        stream: StreamId,
        /// Method, URI (from `:scheme`, `:authority`, `:path`), version
        /// HTTP/2 and headers.
        head: http::request::Parts,
        /// No body or trailers follow.
        end_stream: bool,
    },
    /// Clients: an interim (1xx) response; the final one follows.
    Informational {
        /// The stream.
        stream: StreamId,
        /// Status and headers.
        head: http::response::Parts,
    },
    /// Clients: the final response head.
    Response {
        /// The stream.
        stream: StreamId,
        /// Status, version HTTP/2 and headers.
        head: http::response::Parts,
        /// No body or trailers follow.
        end_stream: bool,
    },
    /// Body data. The application must give the credit back with
    /// [`release_capacity`](super::Connection::release_capacity)`(stream,
    /// flow_len)` once it consumed the data, or the peer stops sending.
    Data {
        /// The stream.
        stream: StreamId,
        /// The data (padding removed).
        data: Bytes,
        /// The last data of the stream (no trailers follow).
        end_stream: bool,
        /// The credit to release: the data's length (padding was released
        /// by the connection already).
        flow_len: usize,
    },
    /// Trailers, ending the stream.
    Trailers {
        /// The stream.
        stream: StreamId,
        /// The trailer fields.
        trailers: HeaderMap,
    },
    /// A stream ended abnormally: reset by the peer (`remote`) or by us for
    /// the peer's error (malformed message, flow-control violation). Not
    /// reported for a [`reset`](super::Connection::reset) the application
    /// asked for.
    ///
    /// A header section over
    /// [`max_header_list_size`](super::Config::max_header_list_size) on a
    /// stream under way is reset by us with PROTOCOL_ERROR (request
    /// trailers, on a server) or CANCEL (a response's head or trailers, on
    /// a client: the only reset of ours with CANCEL). Neither is a
    /// refusal: the request was processed, or may have been, so it is not
    /// safe to send again.
    Reset {
        /// The stream.
        stream: StreamId,
        /// The RST_STREAM code.
        code: ErrorCode,
        /// Whether the peer sent the RST_STREAM.
        remote: bool,
    },
    /// More data fits on a stream whose last
    /// [`send_data`](super::Connection::send_data) was cut short by the
    /// flow-control windows.
    Writable {
        /// The stream.
        stream: StreamId,
    },
    /// Clients: a request the peer did not process (above the last stream
    /// id of its GOAWAY): safe to retry on a new connection.
    StreamRefused {
        /// The stream.
        stream: StreamId,
    },
    /// The peer sent GOAWAY: no new streams; streams up to `last_stream`
    /// finish.
    GoAway {
        /// The last stream the peer may have processed.
        last_stream: StreamId,
        /// Why.
        code: ErrorCode,
        /// Opaque debug data.
        debug: Bytes,
    },
    /// The peer answered one of our PINGs.
    PingAck {
        /// The payload echoed.
        payload: [u8; 8],
    },
    /// The peer acknowledged our SETTINGS: the new receive limits apply.
    SettingsAcked,
    /// The peer's SETTINGS, applied and acknowledged.
    RemoteSettings(Settings),
    /// Clients: a stream can be opened again after
    /// [`send_request`](super::Connection::send_request) failed with
    /// [`Error::StreamLimit`].
    StreamsAvailable,
    /// Our stream ids are used up (or past [`Config::max_stream_id`](super::Config::max_stream_id)):
    /// a graceful GOAWAY went out; open a new connection for more requests.
    StreamIdsExhausted,
    /// The connection failed (the error `handle_input` returned, reported
    /// after the events before it, or a timer's). Nothing follows.
    Error(Error),
}

/// Why the connection failed, or why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- protocol: the peer's fault, sticky, GOAWAY sent ----
    /// The frame layer refused input (connection errors only; the GOAWAY
    /// code is the frame error's).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A field block that cannot be decoded: GOAWAY COMPRESSION_ERROR.
    #[error("HPACK: {0}")]
    Compression(hpack::Error),
    /// A connection error of RFC 9113 with its GOAWAY code.
    #[error("connection error {code}: {reason}")]
    Protocol {
        /// The GOAWAY code sent.
        code: ErrorCode,
        /// What was wrong.
        reason: &'static str,
    },
    /// The connection flow-control window was overrun or overflowed:
    /// GOAWAY FLOW_CONTROL_ERROR.
    #[error("connection flow control: {0}")]
    FlowControl(FlowError),
    /// The peer did not acknowledge our SETTINGS in time: GOAWAY
    /// SETTINGS_TIMEOUT.
    #[error("SETTINGS not acknowledged in time")]
    SettingsTimeout,
    /// A keep-alive PING went unanswered: GOAWAY NO_ERROR, then closed.
    #[error("keep-alive PING unanswered")]
    KeepAliveTimeout,
    /// The connection preface, a frame or a field block stayed incomplete
    /// longer than
    /// [`Config::header_block_timeout`](super::Config::header_block_timeout)
    /// (a slow or stalled peer holding the connection): GOAWAY
    /// ENHANCE_YOUR_CALM, then closed. What was incomplete is named.
    #[error("{0} incomplete for too long")]
    IncompleteTimeout(&'static str),
    /// The transport ended with streams still active.
    #[error("connection closed with streams active")]
    UnexpectedEof,

    // ---- limit: a configured bound passed by the peer ----
    /// A flood budget of [`FloodLimits`](super::FloodLimits) was passed:
    /// GOAWAY ENHANCE_YOUR_CALM.
    #[error("flood: {0}")]
    Flood(&'static str),
    /// The peer pinged more often than
    /// [`Config::min_recv_ping_interval`](super::Config::min_recv_ping_interval)
    /// allows: GOAWAY ENHANCE_YOUR_CALM with the debug data
    /// `too_many_pings` (the text gRPC clients look for).
    #[error("too_many_pings")]
    TooManyPings,

    // ---- usage: the caller's mistake, nothing changed ----
    /// A command of the other role (a client sending a response...).
    #[error("not allowed in this role")]
    WrongRole,
    /// The stream does not exist (never opened, or closed and gone).
    #[error("unknown stream {0}")]
    UnknownStream(StreamId),
    /// The stream's state does not allow the command (a response sent
    /// twice, data before the head or after END_STREAM).
    #[error("stream {stream}: {reason}")]
    InvalidState {
        /// The stream.
        stream: StreamId,
        /// What was wrong.
        reason: &'static str,
    },
    /// A head the connection refuses to send: a connection-specific field,
    /// a 1xx status where a final one is needed (or the reverse), a
    /// request without a path.
    #[error("invalid head: {0}")]
    InvalidHead(&'static str),
    /// The header list is larger than the peer's SETTINGS_MAX_HEADER_LIST_SIZE.
    #[error("header list of {size} bytes exceeds the peer's limit of {max}")]
    HeaderListTooLarge {
        /// The list's size.
        size: usize,
        /// The peer's limit.
        max: u32,
    },
    /// The peer's SETTINGS_MAX_CONCURRENT_STREAMS is reached: wait for
    /// [`Event::StreamsAvailable`].
    #[error("the peer's concurrent stream limit is reached")]
    StreamLimit,
    /// No stream ids left on this connection: open a new one.
    #[error("stream ids exhausted")]
    StreamIdsExhausted,
    /// GOAWAY was sent or received: no new streams.
    #[error("connection is going away")]
    GoingAway,
    /// The connection is closed (or failed).
    #[error("connection is closed")]
    Closed,
    /// More capacity released than the stream or connection received.
    #[error(transparent)]
    Release(#[from] ReleaseError),
}

impl Error {
    /// The GOAWAY code this error sent, for a connection error.
    pub fn goaway_code(&self) -> Option<ErrorCode> {
        Some(match self {
            Error::Frame(e) => e.hint()?.code(),
            Error::Compression(_) => ErrorCode::COMPRESSION_ERROR,
            Error::Protocol { code, .. } => *code,
            Error::FlowControl(_) => ErrorCode::FLOW_CONTROL_ERROR,
            Error::SettingsTimeout => ErrorCode::SETTINGS_TIMEOUT,
            Error::KeepAliveTimeout => ErrorCode::NO_ERROR,
            Error::Flood(_) | Error::TooManyPings | Error::IncompleteTimeout(_) => {
                ErrorCode::ENHANCE_YOUR_CALM
            }
            _ => return None,
        })
    }

    pub(crate) fn protocol(code: ErrorCode, reason: &'static str) -> Error {
        Error::Protocol { code, reason }
    }

    /// Whose fault this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Frame(e) => e.kind(),
            Error::Compression(e) => e.kind(),
            Error::Flood(_) | Error::TooManyPings | Error::IncompleteTimeout(_) => ErrorKind::Limit,
            Error::Protocol { .. }
            | Error::FlowControl(_)
            | Error::SettingsTimeout
            | Error::KeepAliveTimeout
            | Error::UnexpectedEof => ErrorKind::Protocol,
            Error::HeaderListTooLarge { .. } | Error::StreamLimit | Error::StreamIdsExhausted => {
                ErrorKind::Limit
            }
            _ => ErrorKind::Usage,
        }
    }

    /// What was sent to the peer: the GOAWAY of a connection error;
    /// nothing for usage errors.
    pub fn hint(&self) -> Option<Reply> {
        self.goaway_code().map(Reply::GoAway)
    }
}

impl ClassifyError for Error {
    type Hint = Reply;
    fn kind(&self) -> ErrorKind {
        Error::kind(self)
    }
    fn hint(&self) -> Option<Reply> {
        Error::hint(self)
    }
}
