//! Length-Prefixed-Message framing (PROTOCOL-HTTP2.md): a Compressed-Flag
//! byte, a 4-byte big-endian length, then the message.
//!
//! DATA frame boundaries have nothing to do with message boundaries, so the
//! decoder takes body bytes in chunks of any size and hands out whole
//! messages: a message that lies inside one chunk is a slice of it (no
//! copy); one spread over several chunks is assembled once it is complete.

use std::collections::VecDeque;

use bytes::buf::Take;
use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::Error;

/// The length of a message prefix: flag and length.
pub const MESSAGE_HEADER_LEN: usize = 5;

/// The default `max_message_size` of a [`MessageDecoder`]: 4 MiB, as gRPC
/// libraries default to for received messages.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// One message as framed on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The Compressed-Flag: the data is compressed with the stream's
    /// `grpc-encoding` (see [`decompress_message`](crate::decompress_message)).
    pub compressed: bool,
    /// The message bytes (still compressed if `compressed`).
    pub data: Bytes,
}

/// Writes a message prefix for `len` bytes of data, for sending the data
/// itself without copying it (a separate chunk in a vectored write).
///
/// ```
/// use wirestate_grpc::message_header;
/// assert_eq!(message_header(258, false).unwrap(), [0, 0, 0, 1, 2]);
/// ```
///
/// # Errors
///
/// [`Error::EncodeTooLarge`] if `len` does not fit 32 bits.
pub fn message_header(len: usize, compressed: bool) -> Result<[u8; MESSAGE_HEADER_LEN], Error> {
    let n = u32::try_from(len).map_err(|_| Error::EncodeTooLarge { len })?;
    let [a, b, c, d] = n.to_be_bytes();
    Ok([u8::from(compressed), a, b, c, d])
}

/// Appends one framed message (prefix and data) to `dst`.
///
/// ```
/// use bytes::BytesMut;
/// use wirestate_grpc::encode_message;
/// let mut out = BytesMut::new();
/// encode_message(b"hi", false, &mut out).unwrap();
/// assert_eq!(&out[..], b"\x00\x00\x00\x00\x02hi");
/// ```
///
/// # Errors
///
/// [`Error::EncodeTooLarge`] if `data` is 4 GiB or more; `dst` is then
/// unchanged.
pub fn encode_message(data: &[u8], compressed: bool, dst: &mut BytesMut) -> Result<(), Error> {
    let header = message_header(data.len(), compressed)?;
    dst.reserve(MESSAGE_HEADER_LEN + data.len());
    dst.put_slice(&header);
    dst.put_slice(data);
    Ok(())
}

/// A raw length-prefixed frame: the flag byte and the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawFrame {
    pub(crate) flag: u8,
    pub(crate) data: Bytes,
}

/// What is pending in a [`Framer`] at the end of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// Nothing buffered.
    Nothing,
    /// A whole frame (or an error found from its prefix) is ready.
    Ready,
    /// Part of a frame.
    Partial,
}

/// The framing shared by gRPC and gRPC-Web: chunks in, frames out.
///
/// `check` validates a frame's flag byte as soon as it arrives; `limit`
/// gives the largest payload allowed for a flag, checked once the prefix is
/// complete and before any payload is buffered.
#[derive(Debug, Default)]
pub(crate) struct Framer {
    chunks: VecDeque<Bytes>,
    buffered: usize,
    /// The prefix of the frame being received, once complete.
    head: Option<(u8, u32)>,
    /// End of input announced.
    eof: bool,
    /// An error was returned; nothing more comes out.
    failed: bool,
}

impl Framer {
    pub(crate) fn push(&mut self, chunk: Bytes) {
        if self.failed || chunk.is_empty() {
            return;
        }
        self.buffered += chunk.len();
        self.chunks.push_back(chunk);
    }

    pub(crate) fn buffered(&self) -> usize {
        self.buffered
            + if self.head.is_some() {
                MESSAGE_HEADER_LEN
            } else {
                0
            }
    }

    pub(crate) fn is_failed(&self) -> bool {
        self.failed
    }

    pub(crate) fn fail(&mut self) {
        self.failed = true;
        self.chunks.clear();
        self.buffered = 0;
        self.head = None;
    }

    fn first_byte(&self) -> Option<u8> {
        self.chunks.front().and_then(|c| c.first().copied())
    }

    /// Copies the first `N` buffered bytes without consuming them.
    fn peek<const N: usize>(&self) -> Option<[u8; N]> {
        if self.buffered < N {
            return None;
        }
        let mut out = [0u8; N];
        let mut at = 0;
        for chunk in &self.chunks {
            let n = (N - at).min(chunk.len());
            out[at..at + n].copy_from_slice(&chunk[..n]);
            at += n;
            if at == N {
                break;
            }
        }
        Some(out)
    }

    /// Takes the first `n` bytes (all buffered): a slice of the front chunk
    /// when it holds them all, else a copy.
    fn take(&mut self, n: usize) -> Bytes {
        self.buffered -= n;
        if n == 0 {
            return Bytes::new();
        }
        if let Some(front) = self.chunks.front_mut()
            && front.len() >= n
        {
            let out = front.split_to(n);
            if front.is_empty() {
                self.chunks.pop_front();
            }
            return out;
        }
        let mut out = BytesMut::with_capacity(n);
        while out.len() < n {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let k = (n - out.len()).min(front.len());
            out.put_slice(&front.split_to(k));
            if front.is_empty() {
                self.chunks.pop_front();
            }
        }
        out.freeze()
    }

    /// Drops the first `n` bytes (all buffered): the prefix, already read
    /// by [`peek`](Self::peek). Advancing the chunks instead of slicing
    /// them off spares a reference-count increment and decrement per
    /// message on the shared receive buffer.
    fn skip(&mut self, mut n: usize) {
        self.buffered -= n;
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let k = n.min(front.len());
            front.advance(k);
            n -= k;
            if front.is_empty() {
                self.chunks.pop_front();
            }
        }
    }

    fn truncated(&self) -> Error {
        Error::TruncatedMessage {
            received: self.buffered() as u64,
        }
    }

    /// The next frame, an error, or `None` when more input is needed (or,
    /// after the end of input, when nothing is left).
    pub(crate) fn next(
        &mut self,
        check: impl Fn(u8) -> Result<(), Error>,
        limit: impl Fn(u8, u32) -> Result<(), Error>,
    ) -> Option<Result<RawFrame, Error>> {
        if self.failed {
            return None;
        }
        let (flag, len) = match self.head {
            Some(head) => head,
            None => {
                let flag = self.first_byte()?;
                if let Err(e) = check(flag) {
                    self.fail();
                    return Some(Err(e));
                }
                let Some([_, a, b, c, d]) = self.peek::<MESSAGE_HEADER_LEN>() else {
                    return self.end_of_input();
                };
                let len = u32::from_be_bytes([a, b, c, d]);
                if let Err(e) = limit(flag, len) {
                    self.fail();
                    return Some(Err(e));
                }
                self.skip(MESSAGE_HEADER_LEN);
                self.head = Some((flag, len));
                (flag, len)
            }
        };
        let len = len as usize;
        if self.buffered < len {
            return self.end_of_input();
        }
        self.head = None;
        let data = self.take(len);
        Some(Ok(RawFrame { flag, data }))
    }

    /// Like [`next`](Self::next), but a frame that lies whole in the front
    /// chunk, prefix included (the usual case: many small messages in one
    /// DATA frame), is handed to `f` in place, as a view of that chunk,
    /// instead of being sliced off as a `Bytes` of its own: no
    /// reference-count increment and decrement of the shared receive
    /// buffer per message, and no prefix peeked and skipped chunk by chunk.
    /// Any other frame comes the way [`next`](Self::next) gives it, as a
    /// view of its own `Bytes`. Whatever `f` leaves of the view unread is
    /// dropped: the next frame starts after this one either way.
    pub(crate) fn next_with<R>(
        &mut self,
        check: impl Fn(u8) -> Result<(), Error>,
        limit: impl Fn(u8, u32) -> Result<(), Error>,
        f: impl FnOnce(u8, &mut Take<&mut Bytes>) -> R,
    ) -> Option<Result<R, Error>> {
        if !self.failed
            && self.head.is_none()
            && let Some(front) = self.chunks.front_mut()
            && let Some(&[flag, a, b, c, d]) = front.first_chunk::<MESSAGE_HEADER_LEN>()
        {
            let len = u32::from_be_bytes([a, b, c, d]);
            let whole = MESSAGE_HEADER_LEN + len as usize;
            // Errors, and frames that go on in the next chunk, take the
            // general path below, which finds and reports the same.
            if front.len() >= whole && check(flag).is_ok() && limit(flag, len).is_ok() {
                self.buffered -= whole;
                front.advance(MESSAGE_HEADER_LEN);
                let mut view = front.take(len as usize);
                let out = f(flag, &mut view);
                let unread = view.remaining();
                let front = view.into_inner();
                front.advance(unread);
                if front.is_empty() {
                    self.chunks.pop_front();
                }
                return Some(Ok(out));
            }
        }
        let frame = self.next(check, limit)?;
        Some(frame.map(|RawFrame { flag, mut data }| {
            let len = data.len();
            f(flag, &mut (&mut data).take(len))
        }))
    }

    /// `None` while more input may come; the truncation error once the
    /// input has ended inside a frame.
    fn end_of_input(&mut self) -> Option<Result<RawFrame, Error>> {
        if !self.eof {
            return None;
        }
        let e = self.truncated();
        self.fail();
        Some(Err(e))
    }

    fn pending(
        &self,
        check: impl Fn(u8) -> Result<(), Error>,
        limit: impl Fn(u8, u32) -> Result<(), Error>,
    ) -> Pending {
        if self.failed {
            return Pending::Nothing;
        }
        let (rest, len) = match self.head {
            Some((_, len)) => (self.buffered, len),
            None => match self.first_byte() {
                None => return Pending::Nothing,
                Some(flag) if check(flag).is_err() => return Pending::Ready,
                Some(flag) => match self.peek::<MESSAGE_HEADER_LEN>() {
                    None => return Pending::Partial,
                    Some([_, a, b, c, d]) => {
                        let len = u32::from_be_bytes([a, b, c, d]);
                        if limit(flag, len).is_err() {
                            return Pending::Ready;
                        }
                        (self.buffered - MESSAGE_HEADER_LEN, len)
                    }
                },
            },
        };
        if rest >= len as usize {
            Pending::Ready
        } else {
            Pending::Partial
        }
    }

    /// Marks the end of the input; the truncation error if what is left
    /// cannot yield anything but it.
    pub(crate) fn finish(
        &mut self,
        check: impl Fn(u8) -> Result<(), Error>,
        limit: impl Fn(u8, u32) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.eof = true;
        if self.pending(check, limit) == Pending::Partial {
            let e = self.truncated();
            self.fail();
            return Err(e);
        }
        Ok(())
    }
}

/// Splits a gRPC body (the payload of DATA frames) into messages.
///
/// ```
/// use bytes::Bytes;
/// use wirestate_grpc::MessageDecoder;
///
/// let mut dec = MessageDecoder::new();
/// dec.push(Bytes::from_static(b"\x00\x00\x00\x00\x05hel"));
/// assert!(dec.next_message().is_none()); // needs more
/// dec.push(Bytes::from_static(b"lo\x00\x00\x00\x00\x00"));
/// assert_eq!(&dec.next_message().unwrap().unwrap().data[..], b"hello");
/// assert_eq!(&dec.next_message().unwrap().unwrap().data[..], b""); // empty messages exist
/// assert!(dec.next_message().is_none());
/// dec.finish().unwrap();
/// ```
///
/// Errors end the stream (its framing is lost): after one, `next_message`
/// returns `None` and input is ignored. Refused are a Compressed-Flag other
/// than 0 or 1 ([`Error::InvalidCompressedFlag`], INTERNAL, as soon as the
/// byte arrives), a length over [`max_message_size`] ([`Error::MessageTooLarge`],
/// RESOURCE_EXHAUSTED, from the prefix, before any of the payload is
/// buffered) and a body that ends inside a message
/// ([`Error::TruncatedMessage`], INTERNAL, from [`finish`]).
///
/// How the body is chunked never changes the messages and errors that come
/// out, nor after which byte they do.
///
/// [`max_message_size`]: MessageDecoder::max_message_size
/// [`finish`]: MessageDecoder::finish
#[derive(Debug)]
pub struct MessageDecoder {
    framer: Framer,
    max_message_size: usize,
}

impl Default for MessageDecoder {
    fn default() -> Self {
        MessageDecoder::new()
    }
}

fn check_grpc_flag(flag: u8) -> Result<(), Error> {
    match flag {
        0 | 1 => Ok(()),
        other => Err(Error::InvalidCompressedFlag(other)),
    }
}

/// Refuses a message longer than `max`.
pub(crate) fn check_len(len: u32, max: usize) -> Result<(), Error> {
    if u64::from(len) > max as u64 {
        Err(Error::MessageTooLarge {
            len: u64::from(len),
            max,
        })
    } else {
        Ok(())
    }
}

impl MessageDecoder {
    /// A decoder with the default limit, [`DEFAULT_MAX_MESSAGE_SIZE`].
    pub fn new() -> MessageDecoder {
        MessageDecoder::with_max_message_size(DEFAULT_MAX_MESSAGE_SIZE)
    }

    /// A decoder that refuses messages longer than `max` bytes (as framed,
    /// that is before decompression).
    pub fn with_max_message_size(max: usize) -> MessageDecoder {
        MessageDecoder {
            framer: Framer::default(),
            max_message_size: max,
        }
    }

    /// The limit on a message's length.
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// Adds body bytes. Ignored after an error.
    pub fn push(&mut self, chunk: Bytes) {
        self.framer.push(chunk);
    }

    /// The next complete message, an error, or `None` if more bytes are
    /// needed (or, after [`finish`](MessageDecoder::finish), nothing is
    /// left). Call until `None` after each push.
    pub fn next_message(&mut self) -> Option<Result<Message, Error>> {
        let max = self.max_message_size;
        let frame = self
            .framer
            .next(check_grpc_flag, |_, len| check_len(len, max))?;
        Some(frame.map(|f| Message {
            compressed: f.flag == 1,
            data: f.data,
        }))
    }

    /// [`next_message`](Self::next_message), with the message handed to
    /// `f` (its Compressed-Flag and its bytes) in place when it lies whole
    /// in the front chunk: see [`Framer::next_with`].
    pub(crate) fn next_message_with<R>(
        &mut self,
        f: impl FnOnce(bool, &mut Take<&mut Bytes>) -> R,
    ) -> Option<Result<R, Error>> {
        let max = self.max_message_size;
        self.framer.next_with(
            check_grpc_flag,
            |_, len| check_len(len, max),
            |flag, data| f(flag == 1, data),
        )
    }

    /// Marks the end of the body (END_STREAM).
    ///
    /// # Errors
    ///
    /// [`Error::TruncatedMessage`] if the body ended inside a message.
    /// Messages (or an error) still complete in the buffer keep coming from
    /// [`next_message`](MessageDecoder::next_message), followed by the
    /// truncation error if any bytes remain after them.
    pub fn finish(&mut self) -> Result<(), Error> {
        let max = self.max_message_size;
        self.framer
            .finish(check_grpc_flag, |_, len| check_len(len, max))
    }

    /// Bytes held: at most a message prefix and `max_message_size` once
    /// every complete message has been taken.
    pub fn buffered(&self) -> usize {
        self.framer.buffered()
    }

    /// Whether an error ended the stream.
    pub fn is_failed(&self) -> bool {
        self.framer.is_failed()
    }
}
