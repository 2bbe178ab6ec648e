//! Stream states (RFC 9113 §5.1) as an explicit transition table.
//!
//! [`StreamState::on_recv`] and [`StreamState::on_send`] take the state and
//! one frame (its [`FrameKind`] and END_STREAM flag) and return the next
//! state, or what is wrong:
//!
//! * for received frames, a [`StreamStateError`] that says whether the
//!   fault is the stream's (answer with RST_STREAM) or the connection's
//!   (answer with GOAWAY), with the error code RFC 9113 names;
//! * for frames we are about to send, a [`SendError`]: the caller's mistake,
//!   nothing changes.
//!
//! Every (state, frame) pair is listed in one `match` per direction, so the
//! table can be read against the RFC's figure and tested exhaustively.
//!
//! ```text
//!                          +--------+
//!                  send PP |        | recv PP
//!                 ,--------+  idle  +--------.
//!                /         |        |         \
//!               v          +--------+          v
//!        +----------+          |           +----------+
//!        |          |          | send H /  |          |
//! ,------+ reserved |          | recv H    | reserved +------.
//! |      | (local)  |          |           | (remote) |      |
//! |      +---+------+          v           +------+---+      |
//! |          |             +--------+             |          |
//! |          |     recv ES |        | send ES     |          |
//! |   send H |     ,-------+  open  +-------.     | recv H   |
//! |          |    /        |        |        \    |          |
//! |          v   v         +---+----+         v   v          |
//! |      +----------+          |           +----------+      |
//! |      |   half-  |          |           |   half-  |      |
//! |      |  closed  |          | send R /  |  closed  |      |
//! |      | (remote) |          | recv R    | (local)  |      |
//! |      +----+-----+          |           +-----+----+      |
//! |           |                |                 |           |
//! |           | send ES /      |       recv ES / |           |
//! |           |  send R /      v        send R / |           |
//! |           |  recv R    +--------+   recv R   |           |
//! | send R /  `----------->|        |<-----------'  send R / |
//! | recv R                 | closed |               recv R   |
//! `----------------------->|        |<-----------------------'
//!                          +--------+
//! ```
//!
//! (PP: PUSH_PROMISE, H: HEADERS, ES: the END_STREAM flag, R: RST_STREAM;
//! the figure of RFC 9113 §5.1.)
//!
//! ```
//! use wirestate_h2::stream_state::{FrameKind, StreamState};
//!
//! // A server receives a request with a body, then answers it.
//! let s = StreamState::Idle.on_recv(FrameKind::Headers, false).unwrap();
//! assert_eq!(s, StreamState::Open);
//! let s = s.on_recv(FrameKind::Data, true).unwrap();
//! assert_eq!(s, StreamState::HalfClosedRemote);
//! let s = s.on_send(FrameKind::Headers, true).unwrap();
//! assert!(s.is_closed());
//! ```

use crate::frame::ErrorCode;

/// The frame types that act on a stream's state. CONTINUATION belongs to
/// the HEADERS or PUSH_PROMISE it continues and is not listed; SETTINGS,
/// PING and GOAWAY are connection frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// DATA.
    Data,
    /// HEADERS (a header block or trailers, or a 1xx response).
    Headers,
    /// PRIORITY: allowed in every state, and changes none.
    Priority,
    /// RST_STREAM.
    RstStream,
    /// PUSH_PROMISE, acting on the stream it is sent on (the associated
    /// stream); the promised stream goes through [`StreamState::promise`].
    PushPromise,
    /// WINDOW_UPDATE for the stream.
    WindowUpdate,
}

impl FrameKind {
    /// Every kind, for exhaustive tests and tables.
    pub const ALL: [FrameKind; 6] = [
        FrameKind::Data,
        FrameKind::Headers,
        FrameKind::Priority,
        FrameKind::RstStream,
        FrameKind::PushPromise,
        FrameKind::WindowUpdate,
    ];
}

/// Why a stream reached [`StreamState::Closed`]: it decides what to do
/// with frames that still arrive (RFC 9113 §5.1, "closed").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Closed {
    /// Both sides ended the stream with END_STREAM; the last END_STREAM was
    /// the peer's.
    EndStreamReceived,
    /// Both sides ended the stream with END_STREAM; the last END_STREAM was
    /// ours (the peer may not have seen it yet).
    EndStreamSent,
    /// We reset the stream: frames the peer sent before it saw our
    /// RST_STREAM are ignored.
    ResetSent,
    /// The peer reset the stream.
    ResetReceived,
}

/// A stream's state (RFC 9113 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamState {
    /// Not yet used.
    Idle,
    /// Promised by us with PUSH_PROMISE.
    ReservedLocal,
    /// Promised by the peer with PUSH_PROMISE.
    ReservedRemote,
    /// Both sides may send.
    Open,
    /// We sent END_STREAM; the peer may still send.
    HalfClosedLocal,
    /// The peer sent END_STREAM; we may still send.
    HalfClosedRemote,
    /// Done, for the reason given.
    Closed(Closed),
}

/// Whose fault a refused received frame is, per RFC 9113 §5.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Answer with RST_STREAM on this stream; the connection goes on.
    Stream,
    /// Answer with GOAWAY; the connection ends.
    Connection,
}

/// A received frame the stream's state does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?} received in state {state:?}: {scope:?} error {code}")]
pub struct StreamStateError {
    /// The stream's state when the frame arrived.
    pub state: StreamState,
    /// The frame.
    pub kind: FrameKind,
    /// RST_STREAM or GOAWAY.
    pub scope: Scope,
    /// The error code to send.
    pub code: ErrorCode,
}

/// A frame we may not send in the stream's state: a usage error, nothing
/// changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot send {kind:?} in state {state:?}")]
pub struct SendError {
    /// The stream's state.
    pub state: StreamState,
    /// The frame.
    pub kind: FrameKind,
}

/// What a received frame does to a stream that is already closed: it is
/// either processed as usual for its type (PRIORITY), or dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The frame acts on the stream; the state is the new one.
    Accept(StreamState),
    /// The frame arrived on a stream we closed and the RFC says to ignore
    /// it (frames in flight before the peer saw our RST_STREAM or
    /// END_STREAM). DATA still counts against the connection window: the
    /// caller must give the credit back.
    Ignore,
}

impl StreamState {
    /// Whether the stream is closed.
    pub fn is_closed(self) -> bool {
        matches!(self, StreamState::Closed(_))
    }

    /// Whether the stream counts against SETTINGS_MAX_CONCURRENT_STREAMS:
    /// open or half-closed (RFC 9113 §5.1.2).
    pub fn is_active(self) -> bool {
        matches!(
            self,
            StreamState::Open | StreamState::HalfClosedLocal | StreamState::HalfClosedRemote
        )
    }

    /// Whether the peer may still send DATA on this stream.
    pub fn can_recv_data(self) -> bool {
        matches!(self, StreamState::Open | StreamState::HalfClosedLocal)
    }

    /// Whether we may still send DATA on this stream.
    pub fn can_send_data(self) -> bool {
        matches!(self, StreamState::Open | StreamState::HalfClosedRemote)
    }

    /// The promised stream of a PUSH_PROMISE: idle → reserved, local when
    /// we promise, remote when the peer does. `None` unless the stream is
    /// idle (a promised stream id that is not idle is a connection
    /// PROTOCOL_ERROR when received).
    pub fn promise(self, local: bool) -> Option<StreamState> {
        match self {
            StreamState::Idle if local => Some(StreamState::ReservedLocal),
            StreamState::Idle => Some(StreamState::ReservedRemote),
            _ => None,
        }
    }

    /// The state after receiving `kind` (with its END_STREAM flag) on this
    /// stream, or the error to answer with.
    ///
    /// Frames on a closed stream that RFC 9113 says to ignore make
    /// [`Outcome::Ignore`]; use [`on_recv`](Self::on_recv) when that
    /// difference does not matter.
    pub fn recv(self, kind: FrameKind, end_stream: bool) -> Result<Outcome, StreamStateError> {
        use FrameKind as K;
        use StreamState as S;
        let err = |scope, code| StreamStateError {
            state: self,
            kind,
            scope,
            code,
        };
        // END_STREAM is defined on DATA and HEADERS only.
        let es = end_stream && matches!(kind, K::Data | K::Headers);
        let next = match (self, kind) {
            // PRIORITY is allowed everywhere and changes nothing (§5.1, §6.3).
            (s, K::Priority) => s,

            (S::Idle, K::Headers) if es => S::HalfClosedRemote,
            (S::Idle, K::Headers) => S::Open,
            // Anything else on an idle stream: connection PROTOCOL_ERROR.
            (S::Idle, _) => return Err(err(Scope::Connection, ErrorCode::PROTOCOL_ERROR)),

            (S::ReservedLocal, K::RstStream) => S::Closed(Closed::ResetReceived),
            (S::ReservedLocal, K::WindowUpdate) => self,
            (S::ReservedLocal, _) => {
                return Err(err(Scope::Connection, ErrorCode::PROTOCOL_ERROR));
            }

            // The pushed response: HEADERS (END_STREAM ends it at once).
            (S::ReservedRemote, K::Headers) if es => S::Closed(Closed::EndStreamReceived),
            (S::ReservedRemote, K::Headers) => S::HalfClosedLocal,
            (S::ReservedRemote, K::RstStream) => S::Closed(Closed::ResetReceived),
            (S::ReservedRemote, _) => {
                return Err(err(Scope::Connection, ErrorCode::PROTOCOL_ERROR));
            }

            (S::Open, K::RstStream) => S::Closed(Closed::ResetReceived),
            (S::Open, K::Data | K::Headers) if es => S::HalfClosedRemote,
            (S::Open, K::Data | K::Headers | K::WindowUpdate | K::PushPromise) => self,

            (S::HalfClosedLocal, K::RstStream) => S::Closed(Closed::ResetReceived),
            (S::HalfClosedLocal, K::Data | K::Headers) if es => {
                S::Closed(Closed::EndStreamReceived)
            }
            (S::HalfClosedLocal, K::Data | K::Headers | K::WindowUpdate | K::PushPromise) => self,

            // The peer ended its side: only WINDOW_UPDATE, PRIORITY and
            // RST_STREAM may follow; anything else is a stream error
            // STREAM_CLOSED (§5.1, "half-closed (remote)").
            (S::HalfClosedRemote, K::RstStream) => S::Closed(Closed::ResetReceived),
            (S::HalfClosedRemote, K::WindowUpdate) => self,
            (S::HalfClosedRemote, _) => {
                return Err(err(Scope::Stream, ErrorCode::STREAM_CLOSED));
            }

            // We reset the stream: whatever the peer sent before it saw the
            // RST_STREAM is ignored (§5.1, "closed", and §6.4).
            (S::Closed(Closed::ResetSent), _) => return Ok(Outcome::Ignore),
            // The peer reset the stream and then sent more on it: a stream
            // error STREAM_CLOSED (§5.1, "closed").
            (S::Closed(Closed::ResetReceived), _) => {
                return Err(err(Scope::Stream, ErrorCode::STREAM_CLOSED));
            }
            // Both sides sent END_STREAM. WINDOW_UPDATE and RST_STREAM may
            // cross our END_STREAM and are ignored; anything else comes
            // after the peer's own END_STREAM: a connection error
            // STREAM_CLOSED (§5.1, "closed").
            (
                S::Closed(Closed::EndStreamReceived | Closed::EndStreamSent),
                K::WindowUpdate | K::RstStream,
            ) => return Ok(Outcome::Ignore),
            (S::Closed(Closed::EndStreamReceived | Closed::EndStreamSent), _) => {
                return Err(err(Scope::Connection, ErrorCode::STREAM_CLOSED));
            }
        };
        Ok(Outcome::Accept(next))
    }

    /// The state after receiving `kind`, treating frames the RFC says to
    /// ignore as leaving the state unchanged.
    pub fn on_recv(
        self,
        kind: FrameKind,
        end_stream: bool,
    ) -> Result<StreamState, StreamStateError> {
        match self.recv(kind, end_stream)? {
            Outcome::Accept(next) => Ok(next),
            Outcome::Ignore => Ok(self),
        }
    }

    /// The state after we send `kind` (with its END_STREAM flag), or
    /// [`SendError`] if the state does not allow it.
    pub fn on_send(self, kind: FrameKind, end_stream: bool) -> Result<StreamState, SendError> {
        use FrameKind as K;
        use StreamState as S;
        let refuse = Err(SendError { state: self, kind });
        let es = end_stream && matches!(kind, K::Data | K::Headers);
        let next = match (self, kind) {
            // PRIORITY may be sent in any state, closed included (§5.1).
            (s, K::Priority) => s,

            (S::Idle, K::Headers) if es => S::HalfClosedLocal,
            (S::Idle, K::Headers) => S::Open,
            (S::Idle, _) => return refuse,

            // The pushed response.
            (S::ReservedLocal, K::Headers) if es => S::Closed(Closed::EndStreamSent),
            (S::ReservedLocal, K::Headers) => S::HalfClosedRemote,
            (S::ReservedLocal, K::RstStream) => S::Closed(Closed::ResetSent),
            (S::ReservedLocal, _) => return refuse,

            (S::ReservedRemote, K::RstStream) => S::Closed(Closed::ResetSent),
            (S::ReservedRemote, K::WindowUpdate) => self,
            (S::ReservedRemote, _) => return refuse,

            (S::Open, K::RstStream) => S::Closed(Closed::ResetSent),
            (S::Open, K::Data | K::Headers) if es => S::HalfClosedLocal,
            (S::Open, K::Data | K::Headers | K::WindowUpdate | K::PushPromise) => self,

            // Our side is done: only WINDOW_UPDATE, PRIORITY, RST_STREAM.
            (S::HalfClosedLocal, K::RstStream) => S::Closed(Closed::ResetSent),
            (S::HalfClosedLocal, K::WindowUpdate) => self,
            (S::HalfClosedLocal, _) => return refuse,

            (S::HalfClosedRemote, K::RstStream) => S::Closed(Closed::ResetSent),
            (S::HalfClosedRemote, K::Data | K::Headers) if es => S::Closed(Closed::EndStreamSent),
            (S::HalfClosedRemote, K::Data | K::Headers | K::WindowUpdate | K::PushPromise) => self,

            // Only PRIORITY (above) on a closed stream. A RST_STREAM to
            // refuse frames that keep arriving is the connection's business
            // and does not change the state.
            (S::Closed(_), K::RstStream) => self,
            (S::Closed(_), _) => return refuse,
        };
        Ok(next)
    }
}
