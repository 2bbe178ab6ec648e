//! The 9-byte frame header (RFC 9113 §4.1) and its fields.

use std::fmt;

/// The length of every frame header.
pub const HEADER_LEN: usize = 9;

/// The largest payload length the 24-bit length field can carry
/// (2^24 - 1), which is also the largest `SETTINGS_MAX_FRAME_SIZE`.
pub const MAX_PAYLOAD_LEN: u32 = (1 << 24) - 1;

/// A stream identifier (RFC 9113 §5.1.1): 31 bits, 0 for the connection.
///
/// The reserved top bit of the wire field is dropped on receipt and never
/// sent: a `StreamId` holds at most [`StreamId::MAX`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(u32);

impl StreamId {
    /// Stream 0: frames about the connection as a whole.
    pub const ZERO: StreamId = StreamId(0);
    /// The largest stream identifier, 2^31 - 1.
    pub const MAX: StreamId = StreamId(0x7FFF_FFFF);

    /// The identifier `id`, or `None` if it does not fit in 31 bits.
    ///
    /// ```
    /// use wirestate_h2::frame::StreamId;
    /// assert_eq!(StreamId::new(1).map(StreamId::get), Some(1));
    /// assert_eq!(StreamId::new(0x8000_0001), None);
    /// ```
    pub const fn new(id: u32) -> Option<StreamId> {
        if id <= Self::MAX.0 {
            Some(StreamId(id))
        } else {
            None
        }
    }

    /// The identifier in a 32-bit wire field, ignoring the reserved bit.
    ///
    /// ```
    /// use wirestate_h2::frame::StreamId;
    /// assert_eq!(StreamId::from_bits(0x8000_0003).get(), 3);
    /// ```
    pub const fn from_bits(bits: u32) -> StreamId {
        StreamId(bits & Self::MAX.0)
    }

    /// The identifier as a number.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// Whether this is stream 0, the connection.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Odd identifiers: streams a client opens.
    pub const fn is_client_initiated(self) -> bool {
        self.0 % 2 == 1
    }

    /// Even identifiers other than 0: streams a server opens (pushes).
    pub const fn is_server_initiated(self) -> bool {
        self.0 != 0 && self.0 % 2 == 0
    }
}

impl From<StreamId> for u32 {
    fn from(id: StreamId) -> u32 {
        id.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A frame type code (RFC 9113 §6, §11.2). Types this crate does not know
/// are kept as their code: extension frames must be ignored, not refused.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FrameType(pub u8);

impl FrameType {
    /// 0x0: DATA (§6.1).
    pub const DATA: FrameType = FrameType(0x0);
    /// 0x1: HEADERS (§6.2).
    pub const HEADERS: FrameType = FrameType(0x1);
    /// 0x2: PRIORITY (§6.3, deprecated but still parsed).
    pub const PRIORITY: FrameType = FrameType(0x2);
    /// 0x3: RST_STREAM (§6.4).
    pub const RST_STREAM: FrameType = FrameType(0x3);
    /// 0x4: SETTINGS (§6.5).
    pub const SETTINGS: FrameType = FrameType(0x4);
    /// 0x5: PUSH_PROMISE (§6.6).
    pub const PUSH_PROMISE: FrameType = FrameType(0x5);
    /// 0x6: PING (§6.7).
    pub const PING: FrameType = FrameType(0x6);
    /// 0x7: GOAWAY (§6.8).
    pub const GOAWAY: FrameType = FrameType(0x7);
    /// 0x8: WINDOW_UPDATE (§6.9).
    pub const WINDOW_UPDATE: FrameType = FrameType(0x8);
    /// 0x9: CONTINUATION (§6.10).
    pub const CONTINUATION: FrameType = FrameType(0x9);

    /// The RFC 9113 name, or `None` for an extension or unassigned type.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x0 => "DATA",
            0x1 => "HEADERS",
            0x2 => "PRIORITY",
            0x3 => "RST_STREAM",
            0x4 => "SETTINGS",
            0x5 => "PUSH_PROMISE",
            0x6 => "PING",
            0x7 => "GOAWAY",
            0x8 => "WINDOW_UPDATE",
            0x9 => "CONTINUATION",
            _ => return None,
        })
    }

    /// Whether RFC 9113 defines this type.
    pub const fn is_known(self) -> bool {
        self.0 <= 0x9
    }

    /// The flags RFC 9113 defines for this type; others are ignored on
    /// receipt and never sent.
    pub const fn known_flags(self) -> Flags {
        Flags(match self.0 {
            0x0 => Flags::END_STREAM.0 | Flags::PADDED.0,
            0x1 => Flags::END_STREAM.0 | Flags::END_HEADERS.0 | Flags::PADDED.0 | Flags::PRIORITY.0,
            0x4 | 0x6 => Flags::ACK.0,
            0x5 => Flags::END_HEADERS.0 | Flags::PADDED.0,
            0x9 => Flags::END_HEADERS.0,
            _ => 0,
        })
    }
}

impl fmt::Debug for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "FrameType({:#04x})", self.0),
        }
    }
}

impl fmt::Display for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The 8 flag bits of a frame header. Which bits mean something depends on
/// the frame type ([`FrameType::known_flags`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags(pub u8);

impl Flags {
    /// No flags.
    pub const EMPTY: Flags = Flags(0);
    /// 0x1 on DATA and HEADERS: the last frame the sender sends on the stream.
    pub const END_STREAM: Flags = Flags(0x1);
    /// 0x1 on SETTINGS and PING: an acknowledgement.
    pub const ACK: Flags = Flags(0x1);
    /// 0x4 on HEADERS, PUSH_PROMISE and CONTINUATION: the field block ends here.
    pub const END_HEADERS: Flags = Flags(0x4);
    /// 0x8 on DATA, HEADERS and PUSH_PROMISE: a pad length byte and padding.
    pub const PADDED: Flags = Flags(0x8);
    /// 0x20 on HEADERS: the (deprecated) priority fields are present.
    pub const PRIORITY: Flags = Flags(0x20);

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// These flags with `other`'s bits set as well.
    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// These flags with `other` set when `on`.
    pub const fn with_if(self, other: Flags, on: bool) -> Flags {
        if on { self.union(other) } else { self }
    }

    /// The raw bits.
    pub const fn bits(self) -> u8 {
        self.0
    }
}

/// A frame header (RFC 9113 §4.1), usable alone to look at a frame before
/// its payload arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameHeader {
    /// The payload length (24 bits).
    pub len: u32,
    /// The frame type.
    pub kind: FrameType,
    /// The flags, as sent (including bits the type does not define).
    pub flags: Flags,
    /// The stream, with the reserved bit dropped.
    pub stream: StreamId,
}

impl FrameHeader {
    /// Parses the header at the front of `buf`, or `None` if fewer than
    /// [`HEADER_LEN`] bytes are there. Every 9 bytes are a header: the
    /// checks that depend on the type are [`FrameDecoder`]'s.
    ///
    /// ```
    /// use wirestate_h2::frame::{FrameHeader, FrameType, Flags, StreamId};
    /// let h = FrameHeader::parse(&[0, 0, 8, 6, 1, 0, 0, 0, 0]).unwrap();
    /// assert_eq!((h.len, h.kind, h.flags, h.stream), (8, FrameType::PING, Flags::ACK, StreamId::ZERO));
    /// assert_eq!(FrameHeader::parse(&[0, 0, 8]), None);
    /// ```
    ///
    /// [`FrameDecoder`]: super::FrameDecoder
    pub fn parse(buf: &[u8]) -> Option<FrameHeader> {
        let [l0, l1, l2, kind, flags, s0, s1, s2, s3, ..] = *buf else {
            return None;
        };
        Some(FrameHeader {
            len: u32::from_be_bytes([0, l0, l1, l2]),
            kind: FrameType(kind),
            flags: Flags(flags),
            stream: StreamId::from_bits(u32::from_be_bytes([s0, s1, s2, s3])),
        })
    }

    /// The 9 header bytes. The length is written modulo 2^24: the frame
    /// encoders check it first.
    ///
    /// ```
    /// use wirestate_h2::frame::{FrameHeader, FrameType, Flags, StreamId};
    /// let h = FrameHeader { len: 5, kind: FrameType::DATA, flags: Flags::END_STREAM, stream: StreamId::new(1).unwrap() };
    /// assert_eq!(h.encode(), [0, 0, 5, 0, 1, 0, 0, 0, 1]);
    /// ```
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let [_, l0, l1, l2] = self.len.to_be_bytes();
        let [s0, s1, s2, s3] = self.stream.get().to_be_bytes();
        [l0, l1, l2, self.kind.0, self.flags.0, s0, s1, s2, s3]
    }
}
