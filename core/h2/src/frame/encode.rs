//! Frame encoders: every type, padding, field blocks split into HEADERS or
//! PUSH_PROMISE and CONTINUATION frames, and DATA headers apart from their
//! payload for zero-copy writes.

use super::types::{Continuation, Data, Headers, PushPromise, pad_overhead};
use super::{
    DEFAULT_MAX_FRAME_SIZE, Flags, Frame, FrameError, FrameHeader, FrameType, HEADER_LEN,
    MAX_MAX_FRAME_SIZE, MAX_PAYLOAD_LEN, MAX_WINDOW_SIZE, StreamId,
};
use bytes::{BufMut, Bytes, BytesMut};

/// Zeros for padding, the most a frame can have.
static ZEROS: [u8; 255] = [0; 255];

/// A frame header for a payload of `len` bytes, if the length fits.
fn head(
    kind: FrameType,
    flags: Flags,
    stream: StreamId,
    len: usize,
) -> Result<[u8; 9], FrameError> {
    match u32::try_from(len) {
        Ok(len) if len <= MAX_PAYLOAD_LEN => Ok(FrameHeader {
            len,
            kind,
            flags,
            stream,
        }
        .encode()),
        _ => Err(FrameError::PayloadTooLarge { kind, len }),
    }
}

fn check_max_frame_size(max: u32) -> Result<usize, FrameError> {
    if (DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&max) {
        Ok(max as usize)
    } else {
        Err(FrameError::InvalidMaxFrameSize(max))
    }
}

impl Frame {
    /// Appends the frame to `dst`: header, then payload, with zero
    /// padding where a pad length is set.
    ///
    /// Only what the wire cannot carry is refused, before anything is
    /// written: a payload over 2^24 - 1 bytes, a window increment over
    /// 2^31 - 1. Fitting the peer's SETTINGS_MAX_FRAME_SIZE (see
    /// [`payload_len`](Frame::payload_len)) and the rules of RFC 9113 are
    /// the caller's: this also writes frames a decoder refuses.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use wirestate_h2::frame::{Frame, WindowUpdate, StreamId};
    /// let mut out = BytesMut::new();
    /// let wu = WindowUpdate { stream: StreamId::new(1).unwrap(), increment: 1024 };
    /// Frame::WindowUpdate(wu).encode(&mut out).unwrap();
    /// assert_eq!(&out[..], [0, 0, 4, 8, 0, 0, 0, 0, 1, 0, 0, 4, 0]);
    /// ```
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), FrameError> {
        if let Frame::WindowUpdate(w) = self {
            if w.increment > MAX_WINDOW_SIZE {
                return Err(FrameError::InvalidIncrement(w.increment));
            }
        }
        let len = self.payload_len();
        let header = head(self.frame_type(), self.flags(), self.stream_id(), len)?;
        dst.reserve(HEADER_LEN + len);
        dst.put_slice(&header);
        match self {
            Frame::Data(d) => {
                put_padded(dst, d.pad, |dst| dst.put_slice(&d.data));
            }
            Frame::Headers(h) => put_padded(dst, h.pad, |dst| {
                if let Some(p) = h.priority {
                    let e = if p.exclusive { 0x8000_0000 } else { 0 };
                    dst.put_u32(e | p.dependency.get());
                    dst.put_u8(p.weight);
                }
                dst.put_slice(&h.block);
            }),
            Frame::Priority(p) => {
                let e = if p.spec.exclusive { 0x8000_0000 } else { 0 };
                dst.put_u32(e | p.spec.dependency.get());
                dst.put_u8(p.spec.weight);
            }
            Frame::RstStream(r) => dst.put_u32(r.code.get()),
            Frame::Settings(s) => {
                for (id, value) in s.settings.iter() {
                    dst.put_u16(id.code());
                    dst.put_u32(value);
                }
            }
            Frame::PushPromise(p) => put_padded(dst, p.pad, |dst| {
                dst.put_u32(p.promised.get());
                dst.put_slice(&p.block);
            }),
            Frame::Ping(p) => dst.put_slice(&p.payload),
            Frame::GoAway(g) => {
                dst.put_u32(g.last_stream.get());
                dst.put_u32(g.code.get());
                dst.put_slice(&g.debug);
            }
            Frame::WindowUpdate(w) => dst.put_u32(w.increment),
            Frame::Continuation(c) => dst.put_slice(&c.block),
            Frame::Unknown(u) => dst.put_slice(&u.payload),
        }
        Ok(())
    }
}

/// Writes the pad length byte, the body, then the padding.
fn put_padded(dst: &mut BytesMut, pad: Option<u8>, body: impl FnOnce(&mut BytesMut)) {
    if let Some(p) = pad {
        dst.put_u8(p);
    }
    body(dst);
    if let Some(p) = pad {
        dst.put_slice(&ZEROS[..usize::from(p)]);
    }
}

/// Writes a field block as one frame made by `first` (given its fragment
/// and whether it ends the block) whose payload has `overhead` bytes
/// besides the fragment, then CONTINUATION frames, none over `max`.
fn put_block(
    dst: &mut BytesMut,
    stream: StreamId,
    block: &Bytes,
    overhead: usize,
    max: usize,
    first: impl FnOnce(Bytes, bool) -> Frame,
) -> Result<(), FrameError> {
    // max >= 16384 and overhead <= 1 + 5 + 255, so room > 0.
    let room = max.saturating_sub(overhead).max(1);
    let split = room.min(block.len());
    let whole = split == block.len();
    first(block.slice(..split), whole).encode(dst)?;
    let mut rest = block.slice(split..);
    while !rest.is_empty() {
        let n = max.min(rest.len());
        let fragment = rest.split_to(n);
        Frame::Continuation(Continuation {
            stream,
            block: fragment,
            end_headers: rest.is_empty(),
        })
        .encode(dst)?;
    }
    Ok(())
}

impl Headers {
    /// Appends this HEADERS frame, followed by as many CONTINUATION frames
    /// as a field block larger than `max_frame_size` (the peer's
    /// SETTINGS_MAX_FRAME_SIZE) needs. Priority fields and padding go in
    /// the HEADERS frame; END_HEADERS is set on the last frame, whatever
    /// `end_headers` says.
    ///
    /// Refuses a `max_frame_size` outside 16384..=16777215, before
    /// anything is written.
    pub fn encode_split(&self, max_frame_size: u32, dst: &mut BytesMut) -> Result<(), FrameError> {
        let max = check_max_frame_size(max_frame_size)?;
        let overhead = pad_overhead(self.pad) + if self.priority.is_some() { 5 } else { 0 };
        put_block(
            dst,
            self.stream,
            &self.block,
            overhead,
            max,
            |block, whole| {
                Frame::Headers(Headers {
                    block,
                    end_headers: whole,
                    ..self.clone()
                })
            },
        )
    }
}

impl PushPromise {
    /// Appends this PUSH_PROMISE frame, followed by as many CONTINUATION
    /// frames as a field block larger than `max_frame_size` needs (see
    /// [`Headers::encode_split`]).
    pub fn encode_split(&self, max_frame_size: u32, dst: &mut BytesMut) -> Result<(), FrameError> {
        let max = check_max_frame_size(max_frame_size)?;
        let overhead = 4 + pad_overhead(self.pad);
        put_block(
            dst,
            self.stream,
            &self.block,
            overhead,
            max,
            |block, whole| {
                Frame::PushPromise(PushPromise {
                    block,
                    end_headers: whole,
                    ..self.clone()
                })
            },
        )
    }
}

/// Appends a whole field block as a HEADERS frame and, if it is larger than
/// `max_frame_size` (the peer's SETTINGS_MAX_FRAME_SIZE), CONTINUATION
/// frames.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use wirestate_h2::frame::{Frame, FrameDecoder, StreamId, encode_headers};
/// let block = Bytes::from(vec![0x82; 40_000]);
/// let mut out = BytesMut::new();
/// encode_headers(StreamId::new(1).unwrap(), block, true, 16_384, &mut out).unwrap();
/// let mut dec = FrameDecoder::new();
/// let mut kinds = Vec::new();
/// while let Some(f) = dec.decode(&mut out).unwrap() {
///     kinds.push((f.frame_type().to_string(), f.payload_len()));
/// }
/// assert_eq!(kinds, [
///     ("HEADERS".into(), 16_384),
///     ("CONTINUATION".into(), 16_384),
///     ("CONTINUATION".into(), 7_232),
/// ]);
/// ```
pub fn encode_headers(
    stream: StreamId,
    block: Bytes,
    end_stream: bool,
    max_frame_size: u32,
    dst: &mut BytesMut,
) -> Result<(), FrameError> {
    Headers::new(stream, block, end_stream).encode_split(max_frame_size, dst)
}

/// The 9-byte header of an unpadded DATA frame of `len` bytes, for writing
/// the payload as a separate chunk (no copy). Refuses a length over
/// 2^24 - 1.
///
/// ```
/// use wirestate_h2::frame::{StreamId, encode_data_header};
/// let h = encode_data_header(StreamId::new(3).unwrap(), 16_384, true).unwrap();
/// assert_eq!(h, [0, 0x40, 0, 0, 1, 0, 0, 0, 3]);
/// ```
pub fn encode_data_header(
    stream: StreamId,
    len: usize,
    end_stream: bool,
) -> Result<[u8; HEADER_LEN], FrameError> {
    let flags = Flags::EMPTY.with_if(Flags::END_STREAM, end_stream);
    head(FrameType::DATA, flags, stream, len)
}

impl Data {
    /// Appends what comes before the content: the 9-byte header, and the
    /// pad length byte if padded. The frame is complete once
    /// [`data`](Data::data) and then [`padding`](Data::padding) follow, so
    /// a large payload can go out as its own chunk without copying.
    ///
    /// ```
    /// use bytes::{Bytes, BytesMut};
    /// use wirestate_h2::frame::{Data, Frame, StreamId};
    /// let mut d = Data::new(StreamId::new(1).unwrap(), Bytes::from_static(b"hello"), false);
    /// d.pad = Some(3);
    /// let mut chunked = BytesMut::new();
    /// d.encode_head(&mut chunked).unwrap();
    /// chunked.extend_from_slice(&d.data);
    /// chunked.extend_from_slice(&d.padding());
    /// let mut whole = BytesMut::new();
    /// Frame::Data(d).encode(&mut whole).unwrap();
    /// assert_eq!(chunked, whole);
    /// ```
    pub fn encode_head(&self, dst: &mut BytesMut) -> Result<(), FrameError> {
        let flags = Flags::EMPTY
            .with_if(Flags::END_STREAM, self.end_stream)
            .with_if(Flags::PADDED, self.pad.is_some());
        let header = head(FrameType::DATA, flags, self.stream, self.flow_len())?;
        dst.put_slice(&header);
        if let Some(p) = self.pad {
            dst.put_u8(p);
        }
        Ok(())
    }

    /// The zero padding that ends the frame (empty when unpadded), without
    /// allocating.
    pub fn padding(&self) -> Bytes {
        Bytes::from_static(&ZEROS[..usize::from(self.pad.unwrap_or(0))])
    }
}
