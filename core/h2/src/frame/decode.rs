//! The frame decoder: header checks before the payload is buffered, then
//! the per-type payload rules.

use super::types::{
    Continuation, Data, GoAway, Headers, Ping, Priority, PrioritySpec, PushPromise, RstStream,
    SettingsFrame, Unknown, WindowUpdate,
};
use super::{
    DEFAULT_MAX_FRAME_SIZE, ErrorCode, Flags, Frame, FrameError, FrameHeader, FrameType,
    HEADER_LEN, MAX_MAX_FRAME_SIZE, SettingId, Settings, StreamId,
};
use bytes::{Buf, Bytes, BytesMut};

/// The default bound on one field block (HEADERS or PUSH_PROMISE and its
/// CONTINUATION frames, each counted with its 9-byte header): 256 KiB.
pub const DEFAULT_MAX_HEADER_BLOCK_SIZE: usize = 256 * 1024;

/// Decodes frames from a receive buffer (RFC 9113 §4, §6).
///
/// Each frame's header is checked as soon as its 9 bytes are in: a length
/// above the advertised `SETTINGS_MAX_FRAME_SIZE` is refused before any of
/// the payload is buffered, and so are a wrong stream for the type, a
/// length the type does not allow, and a frame breaking a field block
/// (HEADERS or PUSH_PROMISE without END_HEADERS must be followed by
/// CONTINUATION frames on the same stream, and by nothing else). Payload
/// rules (padding, SETTINGS values, a zero window increment, a stream
/// depending on itself) are checked once the frame is complete.
///
/// A connection error is sticky: every later call returns it again. After
/// a stream error the frame is skipped (its remaining payload is dropped
/// as it arrives) and decoding continues.
///
/// ```
/// use bytes::BytesMut;
/// use wirestate_h2::frame::{Frame, FrameDecoder};
///
/// let mut dec = FrameDecoder::new();
/// // A PING, in two pieces.
/// let mut buf = BytesMut::from(&[0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3][..]);
/// assert_eq!(dec.decode(&mut buf), Ok(None));
/// buf.extend_from_slice(&[4, 5, 6, 7, 8]);
/// let Some(Frame::Ping(ping)) = dec.decode(&mut buf).unwrap() else { panic!() };
/// assert_eq!((ping.ack, ping.payload), (false, [1, 2, 3, 4, 5, 6, 7, 8]));
/// assert!(buf.is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_frame_size: u32,
    max_header_block_size: usize,
    /// The header of the frame whose payload is awaited.
    head: Option<FrameHeader>,
    /// Payload bytes of a frame refused with a stream error, still to drop.
    skip: usize,
    /// The open field block: its stream and its size so far.
    block: Option<(StreamId, usize)>,
    /// The connection error, once one happened.
    failed: Option<FrameError>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new()
    }
}

impl FrameDecoder {
    /// A decoder accepting frames up to 16384 bytes (the initial
    /// SETTINGS_MAX_FRAME_SIZE) and field blocks up to
    /// [`DEFAULT_MAX_HEADER_BLOCK_SIZE`].
    pub fn new() -> FrameDecoder {
        FrameDecoder {
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_header_block_size: DEFAULT_MAX_HEADER_BLOCK_SIZE,
            head: None,
            skip: 0,
            block: None,
            failed: None,
        }
    }

    /// The largest payload accepted.
    pub fn max_frame_size(&self) -> u32 {
        self.max_frame_size
    }

    /// Sets the largest payload accepted: the SETTINGS_MAX_FRAME_SIZE we
    /// advertised, once the peer acknowledged it. A frame whose header was
    /// already accepted is not checked again.
    pub fn set_max_frame_size(&mut self, size: u32) -> Result<(), FrameError> {
        if !(DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&size) {
            return Err(FrameError::InvalidMaxFrameSize(size));
        }
        self.max_frame_size = size;
        Ok(())
    }

    /// The bound on one field block, headers of its frames included.
    pub fn max_header_block_size(&self) -> usize {
        self.max_header_block_size
    }

    /// Sets the bound on one field block (HEADERS or PUSH_PROMISE and its
    /// CONTINUATION frames, each counted with its 9-byte header, so a flood
    /// of empty CONTINUATION frames is bounded too).
    pub fn set_max_header_block_size(&mut self, max: usize) {
        self.max_header_block_size = max;
    }

    /// The stream whose field block is open (a HEADERS or PUSH_PROMISE
    /// without END_HEADERS was decoded and its last CONTINUATION was not).
    pub fn open_header_block(&self) -> Option<StreamId> {
        self.block.map(|(stream, _)| stream)
    }

    /// Where the input stands between frames: `None` when the decoder and
    /// `src` (the input not yet decoded) end on a frame boundary,
    /// `Some(true)` inside a DATA frame's payload, `Some(false)` inside
    /// any other frame (its header included). For timers on a stalled peer.
    pub fn mid_frame(&self, src: &[u8]) -> Option<bool> {
        if let Some(head) = &self.head {
            Some(head.kind == FrameType::DATA)
        } else if self.skip > 0 || !src.is_empty() {
            Some(false)
        } else {
            None
        }
    }

    /// The connection error the decoder stopped at, if any.
    pub fn error(&self) -> Option<&FrameError> {
        self.failed.as_ref()
    }

    /// Decodes the next frame from the front of `src`, taking its bytes:
    /// `Ok(None)` when more input is needed (what arrived so far is kept in
    /// `src` or in the decoder). Payloads are split off `src` without
    /// copying.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.skip > 0 {
            let n = self.skip.min(src.len());
            src.advance(n);
            self.skip -= n;
            if self.skip > 0 {
                return Ok(None);
            }
        }
        let head = match self.head {
            Some(head) => head,
            None => {
                let Some(head) = FrameHeader::parse(src) else {
                    return Ok(None);
                };
                src.advance(HEADER_LEN);
                if let Err(e) = self.check_header(&head) {
                    // The payload is still to come: a stream error skips it.
                    return Err(self.fail(e, head.len as usize));
                }
                self.head = Some(head);
                head
            }
        };
        let len = head.len as usize;
        if src.len() < len {
            return Ok(None);
        }
        self.head = None;
        let payload = src.split_to(len).freeze();
        match parse_payload(&head, payload) {
            Ok(frame) => Ok(Some(frame)),
            Err(e) => Err(self.fail(e, 0)),
        }
    }

    /// Records an error: a connection error sticks; a stream error skips
    /// the `unread` payload bytes of its frame.
    fn fail(&mut self, e: FrameError, unread: usize) -> FrameError {
        if e.is_stream_error() {
            self.skip = unread;
        } else {
            self.failed = Some(e.clone());
        }
        e
    }

    /// The checks that need only the header, and the field-block tracking.
    fn check_header(&mut self, head: &FrameHeader) -> Result<(), FrameError> {
        let FrameHeader {
            len,
            kind,
            flags,
            stream,
        } = *head;
        if len > self.max_frame_size {
            return Err(FrameError::FrameTooLarge {
                kind,
                len,
                max: self.max_frame_size,
            });
        }
        match self.block {
            Some((open, _)) if kind != FrameType::CONTINUATION || stream != open => {
                return Err(FrameError::ExpectedContinuation {
                    stream: open,
                    kind,
                    got: stream,
                });
            }
            None if kind == FrameType::CONTINUATION => {
                return Err(FrameError::UnexpectedContinuation { stream });
            }
            _ => {}
        }
        let on_stream = match kind {
            FrameType::SETTINGS | FrameType::PING | FrameType::GOAWAY => Some(false),
            FrameType::WINDOW_UPDATE => None,
            k if k.is_known() => Some(true),
            _ => None,
        };
        if on_stream.is_some_and(|on| on == stream.is_zero()) {
            return Err(FrameError::InvalidStreamId { kind, stream });
        }
        let padded = usize::from(flags.contains(Flags::PADDED));
        let len_ok = match kind {
            FrameType::DATA => len as usize >= padded,
            FrameType::HEADERS => {
                let prio = if flags.contains(Flags::PRIORITY) {
                    5
                } else {
                    0
                };
                len as usize >= padded + prio
            }
            FrameType::PRIORITY => len == 5,
            FrameType::RST_STREAM | FrameType::WINDOW_UPDATE => len == 4,
            FrameType::SETTINGS => len % 6 == 0 && !(flags.contains(Flags::ACK) && len != 0),
            FrameType::PUSH_PROMISE => len as usize >= padded + 4,
            FrameType::PING => len == 8,
            FrameType::GOAWAY => len >= 8,
            _ => true,
        };
        if !len_ok {
            return Err(FrameError::InvalidLength { kind, stream, len });
        }
        if matches!(
            kind,
            FrameType::HEADERS | FrameType::PUSH_PROMISE | FrameType::CONTINUATION
        ) {
            let before = self.block.map_or(0, |(_, size)| size);
            let size = before.saturating_add(HEADER_LEN + len as usize);
            if size > self.max_header_block_size {
                return Err(FrameError::HeaderBlockTooLarge {
                    stream,
                    max: self.max_header_block_size,
                });
            }
            self.block = if flags.contains(Flags::END_HEADERS) {
                None
            } else {
                Some((stream, size))
            };
        }
        Ok(())
    }
}

/// A big-endian `u32` at `at`, if the bytes are there.
fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Strips the pad length byte and the padding of a padded frame whose
/// fixed fields (after the pad length) take `fixed` bytes.
fn unpad(
    head: &FrameHeader,
    mut payload: Bytes,
    fixed: usize,
) -> Result<(Bytes, Option<u8>), FrameError> {
    let short = || FrameError::InvalidLength {
        kind: head.kind,
        stream: head.stream,
        len: head.len,
    };
    if !head.flags.contains(Flags::PADDED) {
        if payload.len() < fixed {
            return Err(short());
        }
        return Ok((payload, None));
    }
    let Some(&pad_len) = payload.first() else {
        return Err(short());
    };
    payload.advance(1);
    let room = payload.len().checked_sub(fixed).ok_or_else(short)?;
    if usize::from(pad_len) > room {
        return Err(FrameError::InvalidPadding {
            kind: head.kind,
            pad_len,
            len: head.len,
        });
    }
    payload.truncate(payload.len() - usize::from(pad_len));
    Ok((payload, Some(pad_len)))
}

fn priority_spec(b: &[u8]) -> Option<PrioritySpec> {
    let dep = be_u32(b, 0)?;
    Some(PrioritySpec {
        dependency: StreamId::from_bits(dep),
        exclusive: dep & 0x8000_0000 != 0,
        weight: *b.get(4)?,
    })
}

/// The payload rules, once the whole frame is in.
fn parse_payload(head: &FrameHeader, mut payload: Bytes) -> Result<Frame, FrameError> {
    let FrameHeader {
        len,
        kind,
        flags,
        stream,
    } = *head;
    let short = || FrameError::InvalidLength { kind, stream, len };
    Ok(match kind {
        FrameType::DATA => {
            let (data, pad) = unpad(head, payload, 0)?;
            Frame::Data(Data {
                stream,
                data,
                end_stream: flags.contains(Flags::END_STREAM),
                pad,
            })
        }
        FrameType::HEADERS => {
            let has_priority = flags.contains(Flags::PRIORITY);
            let (mut block, pad) = unpad(head, payload, if has_priority { 5 } else { 0 })?;
            let priority = if has_priority {
                let spec = priority_spec(&block).ok_or_else(short)?;
                block.advance(5);
                // A dependency on itself passes through: it is a stream
                // error (RFC 9113 §5.3.1), which the connection raises
                // once the field block is decoded, keeping HPACK in sync.
                Some(spec)
            } else {
                None
            };
            Frame::Headers(Headers {
                stream,
                priority,
                block,
                end_stream: flags.contains(Flags::END_STREAM),
                end_headers: flags.contains(Flags::END_HEADERS),
                pad,
            })
        }
        FrameType::PRIORITY => {
            let spec = priority_spec(&payload).ok_or_else(short)?;
            if spec.dependency == stream {
                return Err(FrameError::SelfDependency { kind, stream });
            }
            Frame::Priority(Priority { stream, spec })
        }
        FrameType::RST_STREAM => Frame::RstStream(RstStream {
            stream,
            code: ErrorCode(be_u32(&payload, 0).ok_or_else(short)?),
        }),
        FrameType::SETTINGS => {
            let mut settings = Settings::new();
            for entry in payload.chunks_exact(6) {
                let code = u16::from_be_bytes([entry[0], entry[1]]);
                let value = be_u32(entry, 2).ok_or_else(short)?;
                if let Some(id) = SettingId::from_code(code) {
                    settings.set(id, value)?;
                }
            }
            Frame::Settings(SettingsFrame {
                ack: flags.contains(Flags::ACK),
                settings,
            })
        }
        FrameType::PUSH_PROMISE => {
            let (mut block, pad) = unpad(head, payload, 4)?;
            let promised = StreamId::from_bits(be_u32(&block, 0).ok_or_else(short)?);
            block.advance(4);
            Frame::PushPromise(PushPromise {
                stream,
                promised,
                block,
                end_headers: flags.contains(Flags::END_HEADERS),
                pad,
            })
        }
        FrameType::PING => {
            let payload: [u8; 8] = payload[..].try_into().map_err(|_| short())?;
            Frame::Ping(Ping {
                ack: flags.contains(Flags::ACK),
                payload,
            })
        }
        FrameType::GOAWAY => {
            let last_stream = StreamId::from_bits(be_u32(&payload, 0).ok_or_else(short)?);
            let code = ErrorCode(be_u32(&payload, 4).ok_or_else(short)?);
            payload.advance(8);
            Frame::GoAway(GoAway {
                last_stream,
                code,
                debug: payload,
            })
        }
        FrameType::WINDOW_UPDATE => {
            let increment = be_u32(&payload, 0).ok_or_else(short)? & 0x7FFF_FFFF;
            if increment == 0 {
                return Err(FrameError::ZeroWindowIncrement { stream });
            }
            Frame::WindowUpdate(WindowUpdate { stream, increment })
        }
        FrameType::CONTINUATION => Frame::Continuation(Continuation {
            stream,
            block: payload,
            end_headers: flags.contains(Flags::END_HEADERS),
        }),
        _ => Frame::Unknown(Unknown {
            kind,
            flags,
            stream,
            payload,
        }),
    })
}
