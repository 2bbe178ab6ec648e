//! gRPC-Web (PROTOCOL-WEB.md): the same length-prefixed frames as gRPC,
//! plus a trailers frame at the end of the body (flag bit 0x80, payload
//! `name: value\r\n` lines), optionally as base64 text
//! (`application/grpc-web-text`) in which each flushed piece is padded on
//! its own, so `=` can appear in the middle of the stream.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::{BufMut, Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::Error;
use crate::compression::{Encoding, decompress};
use crate::message::{DEFAULT_MAX_MESSAGE_SIZE, Framer, MESSAGE_HEADER_LEN, Message, check_len};

/// `application/grpc-web`: binary frames.
pub const CONTENT_TYPE_WEB: &str = "application/grpc-web";
/// `application/grpc-web+proto`: binary frames of protobuf messages.
pub const CONTENT_TYPE_WEB_PROTO: &str = "application/grpc-web+proto";
/// `application/grpc-web-text`: base64 text frames.
pub const CONTENT_TYPE_WEB_TEXT: &str = "application/grpc-web-text";
/// `application/grpc-web-text+proto`: base64 text frames of protobuf messages.
pub const CONTENT_TYPE_WEB_TEXT_PROTO: &str = "application/grpc-web-text+proto";

/// The flag bit of a trailers frame.
pub const TRAILERS_FLAG: u8 = 0x80;

/// The default limit on a trailers frame: 8 KiB, as gRPC suggests for
/// trailers.
pub const DEFAULT_MAX_TRAILERS_SIZE: usize = 8 * 1024;

/// Appends a trailers frame (flag 0x80) holding `trailers` as
/// `name: value\r\n` lines.
///
/// ```
/// use bytes::BytesMut;
/// use http::HeaderMap;
/// use wirestate_grpc::encode_web_trailers;
///
/// let mut trailers = HeaderMap::new();
/// trailers.insert("grpc-status", "0".parse().unwrap());
/// let mut out = BytesMut::new();
/// encode_web_trailers(&trailers, &mut out).unwrap();
/// assert_eq!(&out[..], b"\x80\x00\x00\x00\x10grpc-status: 0\r\n");
/// ```
///
/// # Errors
///
/// [`Error::EncodeTooLarge`] if the block is 4 GiB or more; `dst` is then
/// unchanged.
pub fn encode_web_trailers(trailers: &HeaderMap, dst: &mut BytesMut) -> Result<(), Error> {
    let len: usize = trailers
        .iter()
        .map(|(n, v)| n.as_str().len() + 2 + v.len() + 2)
        .sum();
    let n = u32::try_from(len).map_err(|_| Error::EncodeTooLarge { len })?;
    dst.reserve(MESSAGE_HEADER_LEN + len);
    dst.put_u8(TRAILERS_FLAG);
    dst.put_u32(n);
    for (name, value) in trailers {
        dst.put_slice(name.as_str().as_bytes());
        dst.put_slice(b": ");
        dst.put_slice(value.as_bytes());
        dst.put_slice(b"\r\n");
    }
    Ok(())
}

/// Parses the payload of a trailers frame: `name: value` lines ended by
/// CRLF (a bare LF and a last line without an ending are accepted, empty
/// lines skipped), names case-insensitive (stored in lower case), spaces
/// and tabs around values trimmed.
///
/// ```
/// use wirestate_grpc::parse_web_trailers;
/// let t = parse_web_trailers(b"grpc-status: 3\r\nGrpc-Message: bad%20id\r\n").unwrap();
/// assert_eq!(t["grpc-status"], "3");
/// assert_eq!(t["grpc-message"], "bad%20id");
/// ```
///
/// # Errors
///
/// [`Error::InvalidWebTrailers`] for a line without a colon, an invalid
/// name or value.
pub fn parse_web_trailers(block: &[u8]) -> Result<HeaderMap, Error> {
    let mut map = HeaderMap::new();
    for line in block.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(Error::InvalidWebTrailers)?;
        let name = HeaderName::from_bytes(&line[..colon]).map_err(|_| Error::InvalidWebTrailers)?;
        let value = trim_ows(&line[colon + 1..]);
        let value = HeaderValue::from_bytes(value).map_err(|_| Error::InvalidWebTrailers)?;
        map.append(name, value);
    }
    Ok(map)
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Appends `src` as padded base64: one flush of a `grpc-web-text` body.
/// Encode each frame (or each flush) separately; the decoder accepts the
/// padding in between.
pub fn encode_web_text(src: &[u8], dst: &mut BytesMut) {
    let start = dst.len();
    dst.resize(start + base64::encoded_len(src.len(), true).unwrap_or(0), 0);
    let written = STANDARD.encode_slice(src, &mut dst[start..]).unwrap_or(0);
    dst.truncate(start + written);
}

/// The value of each base64 character, 0xFF for none.
const BASE64_VALUES: [u8; 256] = {
    let mut t = [0xFFu8; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// The placeholder for `=` in a group.
const PAD: u8 = 0x40;

/// Incremental base64 decoder for `grpc-web-text` bodies.
///
/// Takes text in chunks cut anywhere, and accepts padding at the end of any
/// 4-character group, not just at the end of the body: each flush of the
/// sender is base64'd on its own and the pieces are concatenated. ASCII
/// whitespace is skipped; non-zero bits after the last character of a
/// padded group are ignored (as browsers' `atob` does). It holds at most
/// three characters between calls, so it needs no limit of its own; what it
/// produces goes to a frame decoder that has one.
///
/// ```
/// use bytes::BytesMut;
/// use wirestate_grpc::WebTextDecoder;
///
/// let mut dec = WebTextDecoder::new();
/// let mut out = BytesMut::new();
/// // "a" and "bc" base64'd separately: "YQ==" "YmM=".
/// dec.decode(b"YQ=", &mut out).unwrap();
/// dec.decode(b"=YmM=", &mut out).unwrap();
/// dec.finish(&mut out).unwrap();
/// assert_eq!(&out[..], b"abc");
/// ```
#[derive(Debug, Clone, Default)]
pub struct WebTextDecoder {
    group: [u8; 4],
    len: u8,
    offset: u64,
    failed: bool,
}

impl WebTextDecoder {
    /// A decoder at the start of a body.
    pub fn new() -> WebTextDecoder {
        WebTextDecoder::default()
    }

    /// Decodes `src`, appending the bytes of every completed group to
    /// `dst`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBase64`] at the first byte that is not base64 or
    /// breaks the padding rules; `dst` then holds everything decoded before
    /// it, and the decoder refuses all further input.
    pub fn decode(&mut self, src: &[u8], dst: &mut BytesMut) -> Result<(), Error> {
        if self.failed {
            return Err(Error::InvalidBase64 {
                offset: self.offset,
            });
        }
        dst.reserve(src.len() / 4 * 3 + 3);
        let mut rest = src;
        while !rest.is_empty() {
            // Fast path: whole groups without padding or whitespace.
            if self.len == 0 {
                let mut n = 0;
                while let Some(g) = rest.get(n..n + 4) {
                    let (a, b, c, d) = (
                        BASE64_VALUES[usize::from(g[0])],
                        BASE64_VALUES[usize::from(g[1])],
                        BASE64_VALUES[usize::from(g[2])],
                        BASE64_VALUES[usize::from(g[3])],
                    );
                    if (a | b | c | d) & 0xC0 != 0 {
                        break;
                    }
                    let v =
                        u32::from(a) << 18 | u32::from(b) << 12 | u32::from(c) << 6 | u32::from(d);
                    let [_, x, y, z] = v.to_be_bytes();
                    dst.put_slice(&[x, y, z]);
                    n += 4;
                }
                self.offset += n as u64;
                rest = &rest[n..];
                if rest.is_empty() {
                    break;
                }
            }
            let byte = rest[0];
            rest = &rest[1..];
            if let Err(e) = self.push_char(byte, dst) {
                self.failed = true;
                return Err(e);
            }
            self.offset += 1;
        }
        Ok(())
    }

    /// One character, the slow way.
    fn push_char(&mut self, byte: u8, dst: &mut BytesMut) -> Result<(), Error> {
        let invalid = Error::InvalidBase64 {
            offset: self.offset,
        };
        if byte.is_ascii_whitespace() {
            return Ok(());
        }
        let padded = self.len == 3 && self.group[2] == PAD;
        let value = match byte {
            b'=' if self.len >= 2 => PAD,
            // Data after the first `=` of a group.
            _ if padded => return Err(invalid),
            _ => match BASE64_VALUES[usize::from(byte)] {
                0xFF => return Err(invalid),
                v => v,
            },
        };
        self.group[usize::from(self.len)] = value;
        self.len += 1;
        if self.len == 4 {
            self.flush(dst);
        }
        Ok(())
    }

    /// Decodes the held group (2 to 4 characters, padding included).
    fn flush(&mut self, dst: &mut BytesMut) {
        let g = self.group;
        let n = (0..usize::from(self.len))
            .take_while(|&i| g[i] != PAD)
            .count();
        let v = |i: usize| if i < n { u32::from(g[i]) } else { 0 };
        let bits = v(0) << 18 | v(1) << 12 | v(2) << 6 | v(3);
        let [_, x, y, z] = bits.to_be_bytes();
        // n characters carry n - 1 whole bytes (n is 2 to 4 here).
        dst.put_slice(&[x, y, z][..n.saturating_sub(1)]);
        self.len = 0;
    }

    /// Ends the body: decodes an unpadded final group.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBase64`] if one lone character is left (it cannot
    /// carry a byte), or if decoding had already failed.
    pub fn finish(&mut self, dst: &mut BytesMut) -> Result<(), Error> {
        if self.failed || self.len == 1 {
            self.failed = true;
            return Err(Error::InvalidBase64 {
                offset: self.offset,
            });
        }
        if self.len > 0 {
            self.flush(dst);
        }
        Ok(())
    }

    /// Text bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

/// One item of a gRPC-Web body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebFrame {
    /// A message, as [`MessageDecoder`](crate::MessageDecoder) yields them.
    Message(Message),
    /// The trailers frame that ends the body (decompressed if it was
    /// flagged compressed).
    Trailers(HeaderMap),
}

/// Whether a gRPC-Web body is binary or base64 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebMode {
    /// `application/grpc-web`.
    Binary,
    /// `application/grpc-web-text`.
    Text,
}

/// Splits a gRPC-Web body (binary or text) into messages and the final
/// trailers frame.
///
/// Limits: messages up to `max_message_size` bytes (default 4 MiB) and a
/// trailers frame up to `max_trailers_size` (default 8 KiB), both refused
/// from the frame prefix (RESOURCE_EXHAUSTED) before anything of the frame
/// is buffered. Errors come out in order, after the frames decoded before
/// them, and end the body: a flag other than 0x00, 0x01, 0x80 or 0x81, a
/// trailers frame that is not `name: value` lines, any byte after the
/// trailers frame, text that is not base64, and a body that ends inside a
/// frame (all INTERNAL). How the body is chunked never changes what comes
/// out.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use http::HeaderMap;
/// use wirestate_grpc::{WebDecoder, WebFrame, WebMode, encode_message, encode_web_text, encode_web_trailers};
///
/// let mut frames = BytesMut::new();
/// encode_message(b"hi", false, &mut frames).unwrap();
/// let mut trailers = HeaderMap::new();
/// trailers.insert("grpc-status", "0".parse().unwrap());
/// let mut tail = BytesMut::new();
/// encode_web_trailers(&trailers, &mut tail).unwrap();
/// let mut body = BytesMut::new();
/// encode_web_text(&frames, &mut body); // each flush base64'd on its own
/// encode_web_text(&tail, &mut body);
///
/// let mut dec = WebDecoder::new(WebMode::Text);
/// dec.push(body.freeze());
/// dec.finish().unwrap();
/// let Some(Ok(WebFrame::Message(m))) = dec.next_frame() else { panic!() };
/// assert_eq!(&m.data[..], b"hi");
/// assert_eq!(dec.next_frame(), Some(Ok(WebFrame::Trailers(trailers))));
/// assert_eq!(dec.next_frame(), None);
/// ```
#[derive(Debug)]
pub struct WebDecoder {
    framer: Framer,
    text: Option<WebTextDecoder>,
    /// A base64 error, reported once the frames before it are out.
    text_error: Option<Error>,
    max_message_size: usize,
    max_trailers_size: usize,
    encoding: Encoding,
    trailers_seen: bool,
    failed: bool,
}

fn check_web_flag(flag: u8) -> Result<(), Error> {
    match flag {
        0x00 | 0x01 | 0x80 | 0x81 => Ok(()),
        other => Err(Error::InvalidCompressedFlag(other)),
    }
}

impl WebDecoder {
    /// A decoder for a body of this mode, with the default limits and an
    /// identity stream encoding.
    pub fn new(mode: WebMode) -> WebDecoder {
        WebDecoder {
            framer: Framer::default(),
            text: (mode == WebMode::Text).then(WebTextDecoder::new),
            text_error: None,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_trailers_size: DEFAULT_MAX_TRAILERS_SIZE,
            encoding: Encoding::Identity,
            trailers_seen: false,
            failed: false,
        }
    }

    /// Sets the limit on a message's length.
    pub fn with_max_message_size(mut self, max: usize) -> WebDecoder {
        self.max_message_size = max;
        self
    }

    /// Sets the limit on the trailers frame (before and after
    /// decompression).
    pub fn with_max_trailers_size(mut self, max: usize) -> WebDecoder {
        self.max_trailers_size = max;
        self
    }

    /// Sets the stream's encoding, used to decompress a trailers frame
    /// flagged compressed (0x81). Messages are handed out as framed either
    /// way.
    pub fn with_encoding(mut self, encoding: Encoding) -> WebDecoder {
        self.encoding = encoding;
        self
    }

    /// Adds body bytes (base64 text in text mode). Ignored after an error.
    pub fn push(&mut self, chunk: Bytes) {
        if self.failed || self.text_error.is_some() {
            return;
        }
        match &mut self.text {
            None => self.framer.push(chunk),
            Some(text) => {
                let mut out = BytesMut::new();
                if let Err(e) = text.decode(&chunk, &mut out) {
                    self.text_error = Some(e);
                }
                self.framer.push(out.freeze());
            }
        }
    }

    fn limit(&self) -> impl Fn(u8, u32) -> Result<(), Error> + use<> {
        let (max_message, max_trailers) = (self.max_message_size, self.max_trailers_size);
        move |flag, len| {
            if flag & TRAILERS_FLAG == 0 {
                check_len(len, max_message)
            } else if u64::from(len) > max_trailers as u64 {
                Err(Error::WebTrailersTooLarge {
                    len: u64::from(len),
                    max: max_trailers,
                })
            } else {
                Ok(())
            }
        }
    }

    /// The next message or the trailers frame, an error, or `None` if more
    /// bytes are needed (or, after [`finish`](WebDecoder::finish), nothing
    /// is left).
    pub fn next_frame(&mut self) -> Option<Result<WebFrame, Error>> {
        if self.failed {
            return None;
        }
        let result = self.next_inner();
        if matches!(result, Some(Err(_))) {
            self.fail();
        }
        result
    }

    fn next_inner(&mut self) -> Option<Result<WebFrame, Error>> {
        if self.trailers_seen && self.framer.buffered() > 0 {
            return Some(Err(Error::DataAfterTrailers));
        }
        let limit = self.limit();
        match self.framer.next(check_web_flag, limit) {
            Some(Ok(frame)) if frame.flag & TRAILERS_FLAG == 0 => {
                Some(Ok(WebFrame::Message(Message {
                    compressed: frame.flag & 1 == 1,
                    data: frame.data,
                })))
            }
            Some(Ok(frame)) => {
                self.trailers_seen = true;
                Some(
                    self.trailers(frame.flag, &frame.data)
                        .map(WebFrame::Trailers),
                )
            }
            Some(Err(e)) => Some(Err(e)),
            None => self.text_error.take().map(Err),
        }
    }

    fn trailers(&self, flag: u8, data: &Bytes) -> Result<HeaderMap, Error> {
        if flag & 1 == 0 {
            return parse_web_trailers(data);
        }
        if self.encoding == Encoding::Identity {
            return Err(Error::CompressedWithoutEncoding);
        }
        let max = self.max_trailers_size;
        let mut out = BytesMut::new();
        decompress(self.encoding, data, max, &mut out).map_err(|e| match e {
            Error::DecompressedTooLarge { max } => Error::WebTrailersTooLarge {
                len: max as u64 + 1,
                max,
            },
            e => e,
        })?;
        parse_web_trailers(&out)
    }

    fn fail(&mut self) {
        self.failed = true;
        self.framer.fail();
        self.text_error = None;
    }

    /// Marks the end of the body (in text mode, decoding an unpadded last
    /// group).
    ///
    /// # Errors
    ///
    /// [`Error::TruncatedMessage`] if the body ended inside a frame (or
    /// [`Error::InvalidBase64`] inside a base64 group). Frames and errors
    /// still complete in the buffer keep coming from
    /// [`next_frame`](WebDecoder::next_frame), followed by the truncation
    /// error if any bytes remain after them.
    pub fn finish(&mut self) -> Result<(), Error> {
        if self.failed {
            return Ok(());
        }
        if let Some(text) = &mut self.text
            && self.text_error.is_none()
        {
            let mut out = BytesMut::new();
            let r = text.finish(&mut out);
            self.framer.push(out.freeze());
            if let Err(e) = r {
                self.text_error = Some(e);
            }
        }
        if self.text_error.is_some() || (self.trailers_seen && self.framer.buffered() > 0) {
            // An error is pending in order; next_frame reports it.
            return Ok(());
        }
        let limit = self.limit();
        let r = self.framer.finish(check_web_flag, limit);
        if r.is_err() {
            self.failed = true;
        }
        r
    }

    /// Whether the trailers frame has been decoded.
    pub fn saw_trailers(&self) -> bool {
        self.trailers_seen
    }

    /// Decoded bytes held (at most a frame prefix and the larger limit once
    /// every complete frame has been taken).
    pub fn buffered(&self) -> usize {
        self.framer.buffered()
    }
}
