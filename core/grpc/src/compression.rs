//! Message compression: `identity`, `gzip` and `deflate`, the `grpc-encoding` and
//! `grpc-accept-encoding` headers, and choosing what to send.
//!
//! Compression is per message (a new context each time, as the spec
//! requires) and flagged in each message's prefix; the stream's
//! `grpc-encoding` says which algorithm a flagged message uses.

use std::fmt;
use std::io::{Read, Write};

use bytes::{BufMut, Bytes, BytesMut};
use flate2::Compression;
use flate2::bufread::{MultiGzDecoder, ZlibDecoder};
use flate2::write::{GzEncoder, ZlibEncoder};
use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::Error;
use crate::message::{Message, encode_message};

/// The `grpc-encoding` header: the compression of flagged messages.
pub const GRPC_ENCODING: HeaderName = HeaderName::from_static("grpc-encoding");
/// The `grpc-accept-encoding` header: the encodings the sender can decode.
pub const GRPC_ACCEPT_ENCODING: HeaderName = HeaderName::from_static("grpc-accept-encoding");

/// A message encoding this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Encoding {
    /// No compression.
    #[default]
    Identity,
    /// gzip (RFC 1952).
    Gzip,
    /// `deflate`: the zlib format (RFC 1950, a deflate stream with its
    /// zlib header and checksum), as grpc-core, grpc-java and tonic send
    /// it; grpcio's `Compression.Deflate`.
    Deflate,
}

impl Encoding {
    /// Every encoding this crate implements, most preferred first.
    pub const ALL: [Encoding; 3] = [Encoding::Gzip, Encoding::Deflate, Encoding::Identity];

    /// The name used in headers: `"identity"`, `"gzip"` or `"deflate"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
        }
    }

    /// The encoding a name stands for (ASCII case ignored, surrounding
    /// spaces trimmed); `None` for one this crate does not implement.
    pub fn from_name(name: &[u8]) -> Option<Encoding> {
        let name = name.trim_ascii();
        Encoding::ALL
            .into_iter()
            .find(|e| name.eq_ignore_ascii_case(e.as_str().as_bytes()))
    }

    /// The encoding a request or response head declares in
    /// `grpc-encoding`; identity when absent.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedEncoding`] (UNIMPLEMENTED) for an encoding this
    /// crate does not implement. A server answers it with
    /// [`EncodingSet::SUPPORTED`] in `grpc-accept-encoding`.
    pub fn from_headers(headers: &HeaderMap) -> Result<Encoding, Error> {
        match headers.get(GRPC_ENCODING) {
            None => Ok(Encoding::Identity),
            Some(v) => Encoding::from_value(v),
        }
    }

    /// The encoding one `grpc-encoding` value names.
    pub(crate) fn from_value(v: &HeaderValue) -> Result<Encoding, Error> {
        Encoding::from_name(v.as_bytes()).ok_or_else(|| Error::UnsupportedEncoding {
            name: String::from_utf8_lossy(v.as_bytes()).into_owned(),
        })
    }

    /// The header value: the name.
    pub fn to_header_value(self) -> HeaderValue {
        HeaderValue::from_static(self.as_str())
    }

    const fn bit(self) -> u8 {
        match self {
            Encoding::Identity => 1,
            Encoding::Gzip => 2,
            Encoding::Deflate => 4,
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of encodings, as `grpc-accept-encoding` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EncodingSet(u8);

impl EncodingSet {
    /// No encoding.
    pub const EMPTY: EncodingSet = EncodingSet(0);
    /// Every encoding this crate implements.
    pub const SUPPORTED: EncodingSet = EncodingSet(7);

    /// The set holding one encoding.
    pub const fn only(e: Encoding) -> EncodingSet {
        EncodingSet(e.bit())
    }

    /// This set and `e`.
    pub const fn with(self, e: Encoding) -> EncodingSet {
        EncodingSet(self.0 | e.bit())
    }

    /// The encodings in either set.
    pub(crate) const fn union(self, other: EncodingSet) -> EncodingSet {
        EncodingSet(self.0 | other.0)
    }

    /// Whether `e` is in the set.
    pub const fn contains(self, e: Encoding) -> bool {
        self.0 & e.bit() != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The encodings, most preferred first.
    pub fn iter(self) -> impl Iterator<Item = Encoding> {
        Encoding::ALL.into_iter().filter(move |e| self.contains(*e))
    }

    /// Parses a comma-separated list of encodings; names this crate does
    /// not implement are skipped.
    pub fn parse(value: &[u8]) -> EncodingSet {
        value
            .split(|&b| b == b',')
            .filter_map(Encoding::from_name)
            .fold(EncodingSet::EMPTY, EncodingSet::with)
    }

    /// The encodings every `grpc-accept-encoding` value in `headers` lists
    /// (empty when there is none).
    pub fn from_headers(headers: &HeaderMap) -> EncodingSet {
        headers
            .get_all(GRPC_ACCEPT_ENCODING)
            .iter()
            .map(|v| EncodingSet::parse(v.as_bytes()))
            .fold(EncodingSet::EMPTY, EncodingSet::union)
    }

    /// What the peer that sent these request headers can decode: what it
    /// lists in `grpc-accept-encoding`, the encoding it used itself, and
    /// identity.
    pub fn peer_accepts(headers: &HeaderMap) -> EncodingSet {
        let own = Encoding::from_headers(headers).unwrap_or(Encoding::Identity);
        EncodingSet::from_headers(headers)
            .with(own)
            .with(Encoding::Identity)
    }

    /// The header value, e.g. `gzip,deflate,identity`; `None` for an
    /// empty set.
    pub fn to_header_value(self) -> Option<HeaderValue> {
        // Every set of the three encodings there are, by bits (identity 1,
        // gzip 2, deflate 4), as static values: this goes into every head.
        const VALUES: [&str; 8] = [
            "",
            "identity",
            "gzip",
            "gzip,identity",
            "deflate",
            "deflate,identity",
            "gzip,deflate",
            "gzip,deflate,identity",
        ];
        match VALUES[usize::from(self.0 & 7)] {
            "" => None,
            value => Some(HeaderValue::from_static(value)),
        }
    }
}

impl FromIterator<Encoding> for EncodingSet {
    fn from_iter<I: IntoIterator<Item = Encoding>>(iter: I) -> EncodingSet {
        iter.into_iter().fold(EncodingSet::EMPTY, EncodingSet::with)
    }
}

/// The encoding to send with: `preferred` if the peer accepts it, else
/// identity (which every peer accepts).
pub fn negotiate(preferred: Encoding, peer_accepts: EncodingSet) -> Encoding {
    if peer_accepts.contains(preferred) {
        preferred
    } else {
        Encoding::Identity
    }
}

/// Compresses `src` with `encoding`, appending the result to `dst`
/// (identity copies it).
///
/// # Errors
///
/// [`Error::Compress`] if the compressor fails (it writes to memory, so
/// this is not expected); `dst` may then hold part of the output.
pub fn compress(encoding: Encoding, src: &[u8], dst: &mut BytesMut) -> Result<(), Error> {
    match encoding {
        Encoding::Identity => {
            dst.put_slice(src);
            Ok(())
        }
        Encoding::Gzip => {
            let mut enc = GzEncoder::new(dst.writer(), Compression::default());
            enc.write_all(src).map_err(|_| Error::Compress)?;
            enc.finish().map_err(|_| Error::Compress)?;
            Ok(())
        }
        Encoding::Deflate => {
            let mut enc = ZlibEncoder::new(dst.writer(), Compression::default());
            enc.write_all(src).map_err(|_| Error::Compress)?;
            enc.finish().map_err(|_| Error::Compress)?;
            Ok(())
        }
    }
}

/// Decompresses `src` with `encoding`, appending at most `max` bytes to
/// `dst`. Concatenated gzip members are accepted (as Go's reader does).
///
/// # Errors
///
/// [`Error::DecompressedTooLarge`] (RESOURCE_EXHAUSTED) if the output would
/// exceed `max` — a gzip or deflate bomb is stopped after `max + 1` bytes
/// of output; [`Error::Decompress`] (INTERNAL) for corrupt or empty
/// compressed data. On error `dst` is left as it was.
pub fn decompress(
    encoding: Encoding,
    src: &[u8],
    max: usize,
    dst: &mut BytesMut,
) -> Result<(), Error> {
    match encoding {
        Encoding::Identity => {
            if src.len() > max {
                return Err(Error::DecompressedTooLarge { max });
            }
            dst.put_slice(src);
            Ok(())
        }
        Encoding::Gzip => inflate_into(MultiGzDecoder::new(src), src.is_empty(), max, dst),
        Encoding::Deflate => inflate_into(ZlibDecoder::new(src), src.is_empty(), max, dst),
    }
}

/// Reads a decoder's output into `dst`, at most `max` bytes; `dst` is left
/// as it was on error. Empty input is an error: neither format has an
/// empty encoding, and a flagged empty message is a broken peer.
fn inflate_into(
    decoder: impl Read,
    empty: bool,
    max: usize,
    dst: &mut BytesMut,
) -> Result<(), Error> {
    if empty {
        return Err(Error::Decompress);
    }
    let start = dst.len();
    let limit = (max as u64).saturating_add(1);
    let mut reader = decoder.take(limit);
    let mut writer = dst.writer();
    let result = std::io::copy(&mut reader, &mut writer);
    let dst = writer.into_inner();
    match result {
        Ok(n) if n > max as u64 => {
            dst.truncate(start);
            Err(Error::DecompressedTooLarge { max })
        }
        Ok(_) => Ok(()),
        Err(_) => {
            dst.truncate(start);
            Err(Error::Decompress)
        }
    }
}

/// The payload of a received message: its data as is when not flagged
/// compressed, else decompressed with the stream's `encoding`, at most
/// `max` bytes.
///
/// # Errors
///
/// [`Error::CompressedWithoutEncoding`] (INTERNAL) for a message flagged
/// compressed on an identity stream; those of [`decompress`].
pub fn decompress_message(
    message: &Message,
    encoding: Encoding,
    max: usize,
) -> Result<Bytes, Error> {
    decompress_message_owned(message.clone(), encoding, max)
}

/// [`decompress_message`] taking the message: an uncompressed payload is
/// handed on as is, without a reference-count round trip on the receive
/// buffer (what a reader does for every message it yields).
pub(crate) fn decompress_message_owned(
    message: Message,
    encoding: Encoding,
    max: usize,
) -> Result<Bytes, Error> {
    if !message.compressed {
        return Ok(message.data);
    }
    if encoding == Encoding::Identity {
        return Err(Error::CompressedWithoutEncoding);
    }
    let mut out = BytesMut::new();
    decompress(encoding, &message.data, max, &mut out)?;
    Ok(out.freeze())
}

/// Frames one message for a stream whose `grpc-encoding` is `encoding`:
/// compressed and flagged unless the encoding is identity.
///
/// # Errors
///
/// [`Error::EncodeTooLarge`] if the (compressed) message is 4 GiB or more;
/// those of [`compress`].
pub fn encode_message_with(
    encoding: Encoding,
    data: &[u8],
    dst: &mut BytesMut,
) -> Result<(), Error> {
    encode_message_as(encoding, true, data, dst)
}

/// Frames one message for a stream whose `grpc-encoding` is `encoding`,
/// choosing per message: compressed and flagged only if `compress` and
/// the encoding is not identity, else sent as is with the flag clear
/// (which a stream of any encoding allows — the flag, not the header,
/// says whether a message is compressed).
///
/// ```
/// use bytes::BytesMut;
/// use wirestate_grpc::{Encoding, encode_message_as};
/// let mut out = BytesMut::new();
/// encode_message_as(Encoding::Gzip, false, b"hi", &mut out).unwrap();
/// assert_eq!(&out[..], b"\x00\x00\x00\x00\x02hi");
/// ```
///
/// # Errors
///
/// As [`encode_message_with`].
pub fn encode_message_as(
    encoding: Encoding,
    compress_it: bool,
    data: &[u8],
    dst: &mut BytesMut,
) -> Result<(), Error> {
    match encoding {
        Encoding::Identity => encode_message(data, false, dst),
        _ if !compress_it => encode_message(data, false, dst),
        _ => {
            let mut body = BytesMut::new();
            compress(encoding, data, &mut body)?;
            encode_message(&body, true, dst)
        }
    }
}
