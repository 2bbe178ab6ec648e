//! The frames of RFC 9113 §6, as values.

use super::{ErrorCode, Flags, FrameType, HEADER_LEN, Settings, StreamId};
use bytes::Bytes;

/// One HTTP/2 frame.
///
/// Payloads are `Bytes` split off the receive buffer. Padding is removed
/// (its length kept, for flow control and for re-encoding); the field
/// block fragments of HEADERS, PUSH_PROMISE and CONTINUATION are left
/// HPACK-encoded. Flags a type does not define are dropped on decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// DATA (§6.1).
    Data(Data),
    /// HEADERS (§6.2).
    Headers(Headers),
    /// PRIORITY (§6.3).
    Priority(Priority),
    /// RST_STREAM (§6.4).
    RstStream(RstStream),
    /// SETTINGS (§6.5).
    Settings(SettingsFrame),
    /// PUSH_PROMISE (§6.6).
    PushPromise(PushPromise),
    /// PING (§6.7).
    Ping(Ping),
    /// GOAWAY (§6.8).
    GoAway(GoAway),
    /// WINDOW_UPDATE (§6.9).
    WindowUpdate(WindowUpdate),
    /// CONTINUATION (§6.10).
    Continuation(Continuation),
    /// A frame of a type RFC 9113 does not define (an extension): the
    /// connection ignores it unless it implements the extension.
    Unknown(Unknown),
}

/// DATA (§6.1): request or response content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Data {
    /// The stream (never 0).
    pub stream: StreamId,
    /// The content, padding removed.
    pub data: Bytes,
    /// END_STREAM: the sender's last frame on the stream.
    pub end_stream: bool,
    /// PADDED: the number of padding bytes (`Some(0)`: a pad length byte
    /// and no padding).
    pub pad: Option<u8>,
}

/// HEADERS (§6.2): opens a stream and carries the first fragment of a
/// field block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers {
    /// The stream (never 0).
    pub stream: StreamId,
    /// PRIORITY: the deprecated RFC 7540 priority fields, if present.
    pub priority: Option<PrioritySpec>,
    /// The field block fragment, HPACK-encoded, padding removed.
    pub block: Bytes,
    /// END_STREAM: no DATA follows (trailers, or a message without content).
    pub end_stream: bool,
    /// END_HEADERS: the field block is complete (no CONTINUATION follows).
    pub end_headers: bool,
    /// PADDED: the number of padding bytes.
    pub pad: Option<u8>,
}

/// RFC 7540 stream priority fields (§5.3.2 of RFC 9113: deprecated,
/// still parsed), in HEADERS and PRIORITY frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PrioritySpec {
    /// The stream this one depends on.
    pub dependency: StreamId,
    /// The exclusive flag.
    pub exclusive: bool,
    /// The weight field: the weight minus 1 (0 means weight 1, 255 weight 256).
    pub weight: u8,
}

/// PRIORITY (§6.3): deprecated reprioritisation, parsed and usually ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Priority {
    /// The stream reprioritised (never 0).
    pub stream: StreamId,
    /// The new priority.
    pub spec: PrioritySpec,
}

/// RST_STREAM (§6.4): ends a stream at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RstStream {
    /// The stream (never 0).
    pub stream: StreamId,
    /// Why.
    pub code: ErrorCode,
}

/// SETTINGS (§6.5), always on stream 0.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SettingsFrame {
    /// ACK: acknowledges the peer's SETTINGS (and then carries none).
    pub ack: bool,
    /// The parameters.
    pub settings: Settings,
}

impl SettingsFrame {
    /// A SETTINGS frame announcing `settings`.
    pub fn new(settings: Settings) -> SettingsFrame {
        SettingsFrame {
            ack: false,
            settings,
        }
    }

    /// A SETTINGS acknowledgement.
    pub fn ack() -> SettingsFrame {
        SettingsFrame {
            ack: true,
            settings: Settings::new(),
        }
    }
}

/// PUSH_PROMISE (§6.6): a server reserves a stream for a pushed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushPromise {
    /// The stream of the request the push is associated with (never 0).
    pub stream: StreamId,
    /// The stream reserved for the push.
    pub promised: StreamId,
    /// The field block fragment of the promised request, HPACK-encoded.
    pub block: Bytes,
    /// END_HEADERS: the field block is complete.
    pub end_headers: bool,
    /// PADDED: the number of padding bytes.
    pub pad: Option<u8>,
}

/// PING (§6.7), always on stream 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ping {
    /// ACK: a response, echoing the payload of the PING it answers.
    pub ack: bool,
    /// Opaque data.
    pub payload: [u8; 8],
}

/// GOAWAY (§6.8), always on stream 0: the sender stops accepting streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoAway {
    /// The highest stream the sender might have processed.
    pub last_stream: StreamId,
    /// Why the connection is closing.
    pub code: ErrorCode,
    /// Opaque debug data.
    pub debug: Bytes,
}

/// WINDOW_UPDATE (§6.9): flow-control credit for a stream or, on stream
/// 0, the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WindowUpdate {
    /// The stream (0: the connection).
    pub stream: StreamId,
    /// The credit, 1..=2^31 - 1 (the reserved top bit dropped on receipt).
    pub increment: u32,
}

/// CONTINUATION (§6.10): the next fragment of a field block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continuation {
    /// The stream of the field block.
    pub stream: StreamId,
    /// The field block fragment, HPACK-encoded.
    pub block: Bytes,
    /// END_HEADERS: the field block is complete.
    pub end_headers: bool,
}

/// A frame of an extension type, surfaced whole so a connection can skip
/// it (RFC 9113 §4.1, §5.5) or handle the extensions it knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknown {
    /// The type code (not one RFC 9113 defines, when decoded).
    pub kind: FrameType,
    /// The flags, as sent.
    pub flags: Flags,
    /// The stream, as sent.
    pub stream: StreamId,
    /// The payload, as sent.
    pub payload: Bytes,
}

impl Data {
    /// An unpadded DATA frame.
    pub fn new(stream: StreamId, data: Bytes, end_stream: bool) -> Data {
        Data {
            stream,
            data,
            end_stream,
            pad: None,
        }
    }

    /// The bytes this frame counts against flow-control windows: the whole
    /// payload, with the pad length byte and padding (RFC 9113 §6.1).
    pub fn flow_len(&self) -> usize {
        self.data.len() + pad_overhead(self.pad)
    }
}

impl Headers {
    /// A HEADERS frame carrying a whole field block (END_HEADERS set), no
    /// priority, no padding.
    pub fn new(stream: StreamId, block: Bytes, end_stream: bool) -> Headers {
        Headers {
            stream,
            priority: None,
            block,
            end_stream,
            end_headers: true,
            pad: None,
        }
    }
}

impl PrioritySpec {
    /// The weight, 1..=256.
    pub fn weight(self) -> u16 {
        u16::from(self.weight) + 1
    }
}

/// The pad length byte and padding, if any.
pub(super) fn pad_overhead(pad: Option<u8>) -> usize {
    pad.map_or(0, |p| 1 + usize::from(p))
}

impl Frame {
    /// The frame's type.
    pub fn frame_type(&self) -> FrameType {
        match self {
            Frame::Data(_) => FrameType::DATA,
            Frame::Headers(_) => FrameType::HEADERS,
            Frame::Priority(_) => FrameType::PRIORITY,
            Frame::RstStream(_) => FrameType::RST_STREAM,
            Frame::Settings(_) => FrameType::SETTINGS,
            Frame::PushPromise(_) => FrameType::PUSH_PROMISE,
            Frame::Ping(_) => FrameType::PING,
            Frame::GoAway(_) => FrameType::GOAWAY,
            Frame::WindowUpdate(_) => FrameType::WINDOW_UPDATE,
            Frame::Continuation(_) => FrameType::CONTINUATION,
            Frame::Unknown(u) => u.kind,
        }
    }

    /// The stream the frame is on (0 for SETTINGS, PING and GOAWAY).
    pub fn stream_id(&self) -> StreamId {
        match self {
            Frame::Data(f) => f.stream,
            Frame::Headers(f) => f.stream,
            Frame::Priority(f) => f.stream,
            Frame::RstStream(f) => f.stream,
            Frame::PushPromise(f) => f.stream,
            Frame::WindowUpdate(f) => f.stream,
            Frame::Continuation(f) => f.stream,
            Frame::Unknown(f) => f.stream,
            Frame::Settings(_) | Frame::Ping(_) | Frame::GoAway(_) => StreamId::ZERO,
        }
    }

    /// The flags [`encode`](Frame::encode) writes.
    pub fn flags(&self) -> Flags {
        let f = Flags::EMPTY;
        match self {
            Frame::Data(d) => f
                .with_if(Flags::END_STREAM, d.end_stream)
                .with_if(Flags::PADDED, d.pad.is_some()),
            Frame::Headers(h) => f
                .with_if(Flags::END_STREAM, h.end_stream)
                .with_if(Flags::END_HEADERS, h.end_headers)
                .with_if(Flags::PADDED, h.pad.is_some())
                .with_if(Flags::PRIORITY, h.priority.is_some()),
            Frame::Settings(s) => f.with_if(Flags::ACK, s.ack),
            Frame::PushPromise(p) => f
                .with_if(Flags::END_HEADERS, p.end_headers)
                .with_if(Flags::PADDED, p.pad.is_some()),
            Frame::Ping(p) => f.with_if(Flags::ACK, p.ack),
            Frame::Continuation(c) => f.with_if(Flags::END_HEADERS, c.end_headers),
            Frame::Unknown(u) => u.flags,
            Frame::Priority(_)
            | Frame::RstStream(_)
            | Frame::GoAway(_)
            | Frame::WindowUpdate(_) => f,
        }
    }

    /// The payload length [`encode`](Frame::encode) writes.
    pub fn payload_len(&self) -> usize {
        match self {
            Frame::Data(d) => d.flow_len(),
            Frame::Headers(h) => {
                h.block.len() + pad_overhead(h.pad) + if h.priority.is_some() { 5 } else { 0 }
            }
            Frame::Priority(_) => 5,
            Frame::RstStream(_) | Frame::WindowUpdate(_) => 4,
            Frame::Settings(s) => 6 * s.settings.len(),
            Frame::PushPromise(p) => 4 + p.block.len() + pad_overhead(p.pad),
            Frame::Ping(_) => 8,
            Frame::GoAway(g) => 8 + g.debug.len(),
            Frame::Continuation(c) => c.block.len(),
            Frame::Unknown(u) => u.payload.len(),
        }
    }

    /// The whole frame's length when encoded: the 9-byte header and the payload.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.payload_len()
    }
}

macro_rules! from_frame {
    ($($ty:ident => $variant:ident),+ $(,)?) => {$(
        impl From<$ty> for Frame {
            fn from(f: $ty) -> Frame {
                Frame::$variant(f)
            }
        }
    )+};
}

from_frame! {
    Data => Data,
    Headers => Headers,
    Priority => Priority,
    RstStream => RstStream,
    SettingsFrame => Settings,
    PushPromise => PushPromise,
    Ping => Ping,
    GoAway => GoAway,
    WindowUpdate => WindowUpdate,
    Continuation => Continuation,
    Unknown => Unknown,
}
