use bytes::BufMut;

/// A frame's opcode (RFC 6455 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl OpCode {
    /// The 4-bit code.
    pub fn code(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// The opcode for a 4-bit code; reserved codes are errors.
    pub fn from_code(code: u8) -> Result<Self, FrameError> {
        Ok(match code {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            other => return Err(FrameError::ReservedOpCode(other)),
        })
    }

    /// Close, ping and pong.
    pub fn is_control(self) -> bool {
        self.code() & 0x8 != 0
    }
}

/// Why a frame header is refused. All are protocol errors (close 1002),
/// except [`FrameTooLarge`](FrameError::FrameTooLarge) (close 1009).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// An opcode RFC 6455 reserves.
    #[error("reserved opcode {0:#x}")]
    ReservedOpCode(u8),
    /// A control frame longer than 125 bytes.
    #[error("control frame longer than 125 bytes")]
    ControlFrameTooLong,
    /// A control frame without FIN.
    #[error("fragmented control frame")]
    FragmentedControlFrame,
    /// A length not in its shortest encoding, or a 64-bit length with the top bit set.
    #[error("malformed payload length")]
    InvalidLength,
    /// A payload longer than the configured frame limit.
    #[error("frame payload of {len} bytes exceeds the limit of {max}")]
    FrameTooLarge {
        /// The declared length.
        len: u64,
        /// The limit.
        max: u64,
    },
}

impl FrameError {
    /// The close code to send (RFC 6455 §7.4.1).
    pub fn close_code(&self) -> u16 {
        match self {
            FrameError::FrameTooLarge { .. } => 1009,
            _ => 1002,
        }
    }
}

/// A frame header (RFC 6455 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Final fragment of a message.
    pub fin: bool,
    /// The RSV1 bit (permessage-deflate's "compressed" flag).
    pub rsv1: bool,
    /// The RSV2 bit.
    pub rsv2: bool,
    /// The RSV3 bit.
    pub rsv3: bool,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, if the payload is masked.
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub len: u64,
}

impl FrameHeader {
    /// A header for an unmasked, final frame.
    pub fn new(opcode: OpCode, len: u64) -> Self {
        Self {
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode,
            mask: None,
            len,
        }
    }

    /// Parses a header from the front of `buf`: `Ok(None)` if more bytes
    /// are needed, else the header and how many bytes it took. A payload
    /// longer than `max_len` is refused as soon as the length is known.
    ///
    /// ```
    /// use wirestate_ws::{FrameHeader, OpCode};
    /// // A masked "Hello" from a client (RFC 6455 §5.7).
    /// let frame = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    /// let (h, n) = FrameHeader::parse(&frame, u64::MAX).unwrap().unwrap();
    /// assert_eq!((h.opcode, h.len, h.mask, n), (OpCode::Text, 5, Some([0x37, 0xfa, 0x21, 0x3d]), 6));
    /// assert_eq!(FrameHeader::parse(&frame[..3], u64::MAX), Ok(None));
    /// ```
    pub fn parse(buf: &[u8], max_len: u64) -> Result<Option<(FrameHeader, usize)>, FrameError> {
        let [b0, b1, ..] = *buf else { return Ok(None) };
        let fin = b0 & 0x80 != 0;
        let opcode = OpCode::from_code(b0 & 0x0F)?;
        let masked = b1 & 0x80 != 0;
        let short = b1 & 0x7F;
        if opcode.is_control() {
            if !fin {
                return Err(FrameError::FragmentedControlFrame);
            }
            if short > 125 {
                return Err(FrameError::ControlFrameTooLong);
            }
        }
        let (len, mut at) = match short {
            126 => {
                let Some(b) = buf.get(2..4) else {
                    return Ok(None);
                };
                let len = u64::from(u16::from_be_bytes([b[0], b[1]]));
                if len < 126 {
                    return Err(FrameError::InvalidLength);
                }
                (len, 4)
            }
            127 => {
                let Some(b) = buf.get(2..10) else {
                    return Ok(None);
                };
                let mut raw = [0u8; 8];
                raw.copy_from_slice(b);
                let len = u64::from_be_bytes(raw);
                if len >> 63 != 0 || len <= 0xFFFF {
                    return Err(FrameError::InvalidLength);
                }
                (len, 10)
            }
            n => (u64::from(n), 2),
        };
        if len > max_len {
            return Err(FrameError::FrameTooLarge { len, max: max_len });
        }
        let mask = if masked {
            let Some(k) = buf.get(at..at + 4) else {
                return Ok(None);
            };
            at += 4;
            Some([k[0], k[1], k[2], k[3]])
        } else {
            None
        };
        let header = FrameHeader {
            fin,
            rsv1: b0 & 0x40 != 0,
            rsv2: b0 & 0x20 != 0,
            rsv3: b0 & 0x10 != 0,
            opcode,
            mask,
            len,
        };
        Ok(Some((header, at)))
    }

    /// How many bytes [`encode`](Self::encode) writes (2 to 14).
    pub fn encoded_len(&self) -> usize {
        let len = match self.len {
            0..=125 => 2,
            126..=0xFFFF => 4,
            _ => 10,
        };
        len + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Writes the header, with the length in its shortest form.
    ///
    /// ```
    /// use wirestate_ws::{FrameHeader, OpCode};
    /// let mut out = Vec::new();
    /// FrameHeader::new(OpCode::Binary, 256).encode(&mut out);
    /// assert_eq!(out, [0x82, 126, 0x01, 0x00]);
    /// ```
    pub fn encode(&self, dst: &mut impl BufMut) {
        let b0 = (u8::from(self.fin) << 7)
            | (u8::from(self.rsv1) << 6)
            | (u8::from(self.rsv2) << 5)
            | (u8::from(self.rsv3) << 4)
            | self.opcode.code();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        dst.put_u8(b0);
        match self.len {
            n @ 0..=125 => dst.put_u8(mask_bit | n as u8),
            n @ 126..=0xFFFF => {
                dst.put_u8(mask_bit | 126);
                dst.put_u16(n as u16);
            }
            n => {
                dst.put_u8(mask_bit | 127);
                dst.put_u64(n);
            }
        }
        if let Some(k) = self.mask {
            dst.put_slice(&k);
        }
    }
}
