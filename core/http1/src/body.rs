//! Message bodies: decoding (Content-Length, chunked, close-delimited) and
//! encoding (the same three framings).

use crate::head::{is_tchar, parse_trailers};
use crate::{Error, Limits};
use bytes::Bytes;
use http::{HeaderMap, HeaderName};
use wirestate_machine::{RecvBuf, TxQueue};

/// How a message body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body.
    Empty,
    /// Exactly this many bytes (Content-Length).
    Length(u64),
    /// Chunked transfer coding, possibly with trailers.
    Chunked,
    /// Everything until the connection closes (responses only).
    CloseDelimited,
}

/// How the body of an outgoing message will be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodySize {
    /// No body.
    Empty,
    /// Exactly this many bytes; written as Content-Length.
    Exact(u64),
    /// Unknown length; chunked on HTTP/1.1 (close-delimited for an HTTP/1.0 peer).
    Streaming,
}

impl From<BodyKind> for BodySize {
    /// How a received body is framed when it is sent on as it is (a proxy,
    /// an echo): a known length stays a length, everything else streams.
    fn from(kind: BodyKind) -> Self {
        match kind {
            BodyKind::Empty => BodySize::Empty,
            BodyKind::Length(n) => BodySize::Exact(n),
            BodyKind::Chunked | BodyKind::CloseDelimited => BodySize::Streaming,
        }
    }
}

/// One step of body decoding.
#[derive(Debug, PartialEq)]
pub enum BodyStep {
    /// Body bytes, split off the buffer.
    Data(Bytes),
    /// The body ended, with trailers if chunked and present.
    End(Option<HeaderMap>),
}

/// Decodes one message body out of a receive buffer; usable alone.
///
/// ```
/// use wirestate_http1::{BodyDecoder, BodyKind, BodyStep, Limits};
/// use wirestate_machine::RecvBuf;
///
/// let mut rx = RecvBuf::new(1024);
/// rx.extend(b"5\r\nhello\r\n0\r\n\r\n").unwrap();
/// let mut dec = BodyDecoder::new(BodyKind::Chunked);
/// let limits = Limits::default();
/// assert_eq!(dec.step(&mut rx, &limits).unwrap(), Some(BodyStep::Data("hello".into())));
/// assert_eq!(dec.step(&mut rx, &limits).unwrap(), Some(BodyStep::End(None)));
/// ```
#[derive(Debug)]
pub struct BodyDecoder {
    framing: Framing,
    /// Body bytes decoded so far, checked against `max_body_bytes`.
    total: u64,
}

#[derive(Debug)]
enum Framing {
    Length(u64),
    Chunked(Chunked),
    Close,
}

impl BodyDecoder {
    /// A decoder for a non-empty body of the given kind.
    pub fn new(kind: BodyKind) -> Self {
        let framing = match kind {
            BodyKind::Empty => Framing::Length(0),
            BodyKind::Length(n) => Framing::Length(n),
            BodyKind::Chunked => Framing::Chunked(Chunked::default()),
            BodyKind::CloseDelimited => Framing::Close,
        };
        Self { framing, total: 0 }
    }

    /// Decodes the next piece from the front of `rx`. `Ok(None)` means
    /// more input is needed; after `End`, further calls return `End` again.
    pub fn step(&mut self, rx: &mut RecvBuf, limits: &Limits) -> Result<Option<BodyStep>, Error> {
        let step = match &mut self.framing {
            Framing::Length(0) => Some(BodyStep::End(None)),
            Framing::Length(rem) => {
                if rx.is_empty() {
                    return Ok(None);
                }
                let n = (*rem).min(rx.len() as u64) as usize;
                *rem -= n as u64;
                Some(BodyStep::Data(rx.split_to(n)))
            }
            Framing::Close => (!rx.is_empty()).then(|| BodyStep::Data(rx.take_all())),
            Framing::Chunked(c) => c.step(rx, limits, self.total)?,
        };
        if let Some(BodyStep::Data(d)) = &step {
            self.total += d.len() as u64;
            if limits.max_body_bytes.is_some_and(|max| self.total > max) {
                return Err(Error::BodyTooLarge);
            }
        }
        Ok(step)
    }

    /// The peer closed its side: the end of a close-delimited body, an
    /// incomplete message otherwise.
    pub fn eof(&self) -> Result<(), Error> {
        match self.framing {
            Framing::Close | Framing::Length(0) => Ok(()),
            _ => Err(Error::IncompleteMessage),
        }
    }
}

/// Where the chunked decoder is, byte by byte through the framing.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Reading hex digits of the chunk size.
    #[default]
    Size,
    /// Whitespace after the size, before `;` or CR.
    SizeWs,
    /// After `;`: whitespace, then an extension name.
    ExtStart,
    ExtName,
    ExtAfterName,
    ExtValueStart,
    ExtToken,
    ExtQuoted,
    ExtQuotedPair,
    ExtAfterValue,
    /// CR seen at the end of a chunk-size line.
    LineLf,
    /// Inside chunk data.
    Data,
    /// Expecting the CR after chunk data.
    DataCr,
    /// Expecting the LF after chunk data.
    DataLf,
    /// After the last chunk: the trailer section.
    Trailers,
    Done,
}

/// The chunked transfer coding decoder (RFC 9112 §7.1), strict: CRLF line
/// ends only, hex sizes without sign or prefix, extensions checked against
/// the grammar and bounded in length.
#[derive(Debug, Default)]
struct Chunked {
    state: ChunkState,
    size: u64,
    digits: u32,
    line_len: usize,
    /// How far the trailer section has been checked for bare LFs.
    trailer_scanned: usize,
}

impl Chunked {
    fn step(
        &mut self,
        rx: &mut RecvBuf,
        limits: &Limits,
        total: u64,
    ) -> Result<Option<BodyStep>, Error> {
        loop {
            match self.state {
                ChunkState::Done => return Ok(Some(BodyStep::End(None))),
                ChunkState::Data => {
                    if rx.is_empty() {
                        return Ok(None);
                    }
                    let n = self.size.min(rx.len() as u64) as usize;
                    self.size -= n as u64;
                    if self.size == 0 {
                        self.state = ChunkState::DataCr;
                    }
                    return Ok(Some(BodyStep::Data(rx.split_to(n))));
                }
                ChunkState::Trailers => return self.trailers(rx, limits),
                _ => {}
            }
            // Framing bytes: walk them one at a time.
            let buf = rx.as_slice();
            let mut used = 0;
            let mut result = Ok(());
            for &b in buf {
                used += 1;
                if let Err(e) = self.byte(b, limits, total) {
                    result = Err(e);
                    break;
                }
                if matches!(self.state, ChunkState::Data | ChunkState::Trailers) {
                    break;
                }
            }
            rx.advance(used);
            result?;
            if !matches!(self.state, ChunkState::Data | ChunkState::Trailers) {
                return Ok(None);
            }
        }
    }

    fn byte(&mut self, b: u8, limits: &Limits, total: u64) -> Result<(), Error> {
        use ChunkState::*;
        let in_line = !matches!(self.state, DataCr | DataLf);
        if in_line {
            self.line_len += 1;
            if self.line_len > limits.max_chunk_line {
                return Err(Error::ChunkExtensionTooLong);
            }
        }
        let ws = b == b' ' || b == b'\t';
        self.state = match (self.state, b) {
            (Size, _) if b.is_ascii_hexdigit() => {
                let d = u64::from((b as char).to_digit(16).unwrap_or(0));
                self.size = self
                    .size
                    .checked_mul(16)
                    .and_then(|s| s.checked_add(d))
                    .ok_or(Error::InvalidChunkSize)?;
                self.digits += 1;
                if limits
                    .max_body_bytes
                    .is_some_and(|max| total.saturating_add(self.size) > max)
                {
                    return Err(Error::BodyTooLarge);
                }
                Size
            }
            (Size, _) if self.digits == 0 => return Err(Error::InvalidChunkSize),
            (Size, b';') | (SizeWs, b';') => ExtStart,
            (Size, b'\r') | (SizeWs, b'\r') => LineLf,
            (Size, _) if ws => SizeWs,
            (SizeWs, _) if ws => SizeWs,
            (Size | SizeWs, b'\n') => return Err(Error::InvalidChunkTerminator),
            (Size | SizeWs, _) => return Err(Error::InvalidChunkSize),
            (ExtStart, _) if ws => ExtStart,
            (ExtStart, _) if is_tchar(b) => ExtName,
            (ExtName, _) if is_tchar(b) => ExtName,
            (ExtName | ExtAfterName, _) if ws => ExtAfterName,
            (ExtName | ExtAfterName, b'=') => ExtValueStart,
            (ExtName | ExtAfterName | ExtToken | ExtAfterValue, b';') => ExtStart,
            (ExtName | ExtAfterName | ExtToken | ExtAfterValue, b'\r') => LineLf,
            (ExtValueStart, _) if ws => ExtValueStart,
            (ExtValueStart, b'"') => ExtQuoted,
            (ExtValueStart | ExtToken, _) if is_tchar(b) => ExtToken,
            (ExtToken | ExtAfterValue, _) if ws => ExtAfterValue,
            (ExtQuoted, b'"') => ExtAfterValue,
            (ExtQuoted, b'\\') => ExtQuotedPair,
            (ExtQuoted, _)
                if b == b'\t'
                    || b == b' '
                    || b == 0x21
                    || (0x23..=0x7e).contains(&b)
                    || b >= 0x80 =>
            {
                ExtQuoted
            }
            (ExtQuotedPair, _) if b == b'\t' || (0x20..=0x7e).contains(&b) || b >= 0x80 => {
                ExtQuoted
            }
            (
                ExtStart | ExtName | ExtAfterName | ExtValueStart | ExtToken | ExtQuoted
                | ExtQuotedPair | ExtAfterValue,
                b'\n',
            ) => {
                return Err(Error::InvalidChunkTerminator);
            }
            (
                ExtStart | ExtName | ExtAfterName | ExtValueStart | ExtToken | ExtQuoted
                | ExtQuotedPair | ExtAfterValue,
                _,
            ) => {
                return Err(Error::InvalidChunkExtension);
            }
            (LineLf, b'\n') => {
                self.line_len = 0;
                self.digits = 0;
                if self.size == 0 { Trailers } else { Data }
            }
            (LineLf, _) => return Err(Error::InvalidChunkTerminator),
            (DataCr, b'\r') => DataLf,
            (DataLf, b'\n') => Size,
            (DataCr | DataLf, _) => return Err(Error::InvalidChunkTerminator),
            (Data | Trailers | Done, _) => return Ok(()),
        };
        Ok(())
    }

    /// The trailer section: field lines, then an empty line, CRLF throughout.
    fn trailers(&mut self, rx: &mut RecvBuf, limits: &Limits) -> Result<Option<BodyStep>, Error> {
        let buf = rx.as_slice();
        if buf.starts_with(b"\r\n") {
            rx.advance(2);
            self.state = ChunkState::Done;
            return Ok(Some(BodyStep::End(None)));
        }
        let cap = limits.max_trailer_bytes.saturating_add(2);
        let window = &buf[..buf.len().min(cap)];
        // Only the trailer section itself is checked: bytes after it belong
        // to the next message, and looking at them would make the verdict
        // depend on how the input was split.
        let end = memchr::memmem::find(window, b"\r\n\r\n").map(|i| i + 4);
        let section = &window[..end.unwrap_or(window.len())];
        // Refuse a bare LF, or a CR not followed by LF, as soon as it
        // arrives rather than waiting for an end a CRLF search would never find.
        let from = self.trailer_scanned.min(section.len());
        for i in memchr::memchr_iter(b'\n', &section[from..]).map(|i| i + from) {
            if i == 0 || section[i - 1] != b'\r' {
                return Err(Error::InvalidChunkTerminator);
            }
        }
        for i in memchr::memchr_iter(b'\r', &section[from..]).map(|i| i + from) {
            if section.get(i + 1).is_some_and(|&b| b != b'\n') {
                return Err(Error::InvalidChunkTerminator);
            }
        }
        self.trailer_scanned = section.len().saturating_sub(1);
        match end {
            Some(len) => {
                let section = rx.split_to(len);
                let map = parse_trailers(&section, limits)?;
                self.state = ChunkState::Done;
                Ok(Some(BodyStep::End(Some(map))))
            }
            None if buf.len() >= cap => Err(Error::TrailersTooLarge),
            None => Ok(None),
        }
    }
}

/// Encodes an outgoing body in the framing chosen for it.
#[derive(Debug)]
pub(crate) enum BodyEncoder {
    Length(u64),
    Chunked,
    Close,
}

impl BodyEncoder {
    /// Queues `data`, framed.
    pub fn data(&mut self, data: Bytes, tx: &mut TxQueue) -> Result<(), Error> {
        match self {
            BodyEncoder::Length(rem) => {
                if data.len() as u64 > *rem {
                    return Err(Error::BodyLengthMismatch);
                }
                *rem -= data.len() as u64;
                tx.push(data);
            }
            BodyEncoder::Chunked => {
                // An empty chunk would end the body.
                if data.is_empty() {
                    return Ok(());
                }
                let (line, start) = hex_line(data.len());
                tx.write(&line[start..]);
                tx.push(data);
                tx.write(b"\r\n");
            }
            BodyEncoder::Close => tx.push(data),
        }
        Ok(())
    }

    /// Ends the body, with trailers if the framing allows them.
    pub fn finish(&mut self, trailers: Option<&HeaderMap>, tx: &mut TxQueue) -> Result<(), Error> {
        match self {
            BodyEncoder::Length(rem) if *rem != 0 => Err(Error::BodyLengthMismatch),
            BodyEncoder::Length(_) | BodyEncoder::Close
                if trailers.is_some_and(|t| !t.is_empty()) =>
            {
                Err(Error::TrailersNotAllowed)
            }
            BodyEncoder::Length(_) | BodyEncoder::Close => Ok(()),
            BodyEncoder::Chunked => {
                tx.write(b"0\r\n");
                if let Some(t) = trailers {
                    if t.keys().any(|name| !allowed_in_trailers(name)) {
                        let mut kept = HeaderMap::with_capacity(t.len());
                        for (name, value) in t.iter().filter(|(n, _)| allowed_in_trailers(n)) {
                            kept.append(name, value.clone());
                        }
                        crate::encode::write_fields(tx, &kept, None);
                    } else {
                        crate::encode::write_fields(tx, t, None);
                    }
                }
                tx.write(b"\r\n");
                Ok(())
            }
        }
    }
}

/// Whether a field may go out in a trailer section. A sender must not
/// generate a trailer field whose definition does not allow it (RFC 9110
/// §6.5.1); those that frame, route or control the message (RFC 9110
/// §6.5.1's list, as hyper filters them) are dropped, so that trailers
/// passed through from a request (an echo, a proxy) cannot announce a
/// Content-Length or a Host to a recipient that merges trailers into the
/// header section.
fn allowed_in_trailers(name: &HeaderName) -> bool {
    use http::header;
    !matches!(
        *name,
        header::AUTHORIZATION
            | header::CACHE_CONTROL
            | header::CONNECTION
            | header::CONTENT_ENCODING
            | header::CONTENT_LENGTH
            | header::CONTENT_RANGE
            | header::CONTENT_TYPE
            | header::EXPECT
            | header::HOST
            | header::MAX_FORWARDS
            | header::PROXY_AUTHORIZATION
            | header::RANGE
            | header::SET_COOKIE
            | header::TE
            | header::TRAILER
            | header::TRANSFER_ENCODING
            | header::UPGRADE
    ) && !name.as_str().eq_ignore_ascii_case("keep-alive")
        && !name.as_str().eq_ignore_ascii_case("proxy-connection")
}

/// A chunk-size line (`{hex}\r\n`) on the stack; the line is `buf[start..]`.
fn hex_line(n: usize) -> ([u8; 18], usize) {
    let mut buf = [0u8; 18];
    buf[16] = b'\r';
    buf[17] = b'\n';
    let mut i = 16;
    let mut v = n;
    loop {
        i -= 1;
        buf[i] = b"0123456789abcdef"[v & 0xf];
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    (buf, i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers_that_frame_or_route_are_not_sent() {
        let mut trailers = HeaderMap::new();
        trailers.insert("x-checksum", "42".parse().unwrap());
        trailers.insert("content-length", "5".parse().unwrap());
        trailers.insert("host", "evil".parse().unwrap());
        trailers.insert("transfer-encoding", "chunked".parse().unwrap());
        trailers.insert("keep-alive", "1".parse().unwrap());
        trailers.append("x-checksum", "43".parse().unwrap());
        let mut tx = TxQueue::new(1 << 20);
        BodyEncoder::Chunked
            .finish(Some(&trailers), &mut tx)
            .unwrap();
        let mut out = Vec::new();
        while let Some(wirestate_machine::Transmit::Bytes(b)) = tx.pop() {
            out.extend_from_slice(&b);
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "0\r\nx-checksum: 42\r\nx-checksum: 43\r\n\r\n"
        );
    }

    #[test]
    fn hex_lines() {
        for (n, want) in [
            (0usize, "0\r\n"),
            (1, "1\r\n"),
            (255, "ff\r\n"),
            (4096, "1000\r\n"),
            (usize::MAX, "ffffffffffffffff\r\n"),
        ] {
            let (buf, start) = hex_line(n);
            assert_eq!(&buf[start..], want.as_bytes());
        }
    }
}
