//! HPACK header compression (RFC 7541).
//!
//! A [`Decoder`] turns complete header blocks (a HEADERS frame's fragment
//! and its CONTINUATIONs, put together by the connection) into lists of
//! [`Field`]s; an [`Encoder`] turns header lists into blocks. Each holds one
//! side's dynamic table, so a connection has one of each, used in frame
//! order.
//!
//! ```
//! use bytes::BytesMut;
//! use wirestate_h2::hpack::{Decoder, Encoder, Field};
//!
//! let mut encoder = Encoder::new();
//! let mut decoder = Decoder::new();
//! let fields = [
//!     Field::new(":method", "GET"),
//!     Field::new(":path", "/"),
//!     Field::new("user-agent", "wirestate"),
//!     Field::sensitive("authorization", "Bearer secret"),
//! ];
//! for _ in 0..2 {
//!     let mut block = BytesMut::new();
//!     encoder.encode(&fields, &mut block);
//!     assert_eq!(decoder.decode(&block.freeze()).unwrap(), fields);
//! }
//! ```
//!
//! # What this layer does and does not do
//!
//! Names and values are opaque bytes here: pseudo-header order, lowercase
//! names, forbidden connection headers and value syntax are the HTTP/2
//! connection's business (RFC 9113 §8.2, §8.3). What it needs for that is
//! exposed: fields keep their order, [`Field::is_pseudo`] tells the
//! pseudo-headers apart, and [`Field::sensitive`] carries the never-indexed
//! flag, which an intermediary must keep when it re-encodes the field
//! (RFC 7541 §6.2.3; the encoder does).
//!
//! # Errors and the dynamic table
//!
//! A block that cannot be decoded breaks the compression context for the
//! rest of the connection: every [`Error`] except
//! [`HeaderListTooLarge`](Error::HeaderListTooLarge) is a connection error
//! of type COMPRESSION_ERROR (RFC 9113 §4.3), and the decoder refuses all
//! later blocks with it.
//!
//! A header list larger than the decoder's
//! [`max_header_list_size`](Decoder::set_max_header_list_size)
//! (SETTINGS_MAX_HEADER_LIST_SIZE, RFC 9113 §6.5.2) is only that stream's
//! failure: the decoder stops keeping fields at the limit but processes the
//! rest of the block for its table changes, so the next block decodes
//! against the table the encoder expects. Only fields that enter the table
//! are materialised past the limit, and the table is bounded by its own
//! size, so memory stays bounded by the block and the table.

mod decoder;
mod encoder;
mod huffman;
mod table;

pub use decoder::Decoder;
pub use encoder::{Block, Encoder, EncoderConfig, Indexing, Pseudo};
pub use table::{ENTRY_OVERHEAD, STATIC_LEN};

use bytes::{BufMut, Bytes, BytesMut};
use wirestate_machine::{ClassifyError, ErrorKind};

/// The dynamic table size both sides start with (SETTINGS_HEADER_TABLE_SIZE's
/// initial value, RFC 9113 §6.5.2).
pub const DEFAULT_TABLE_SIZE: usize = 4096;

/// The decoder's default limit on a header list (name + value + 32 per
/// field, RFC 9113 §6.5.2): 64 KiB. The protocol's own default is
/// unlimited; this is what a connection advertises unless configured.
pub const DEFAULT_MAX_HEADER_LIST_SIZE: usize = 64 * 1024;

/// The largest integer the decoder accepts (indices, string lengths, table
/// sizes): larger values are [`Error::IntegerOverflow`] rather than
/// wrapping. Nothing in a header block needs more than 32 bits.
pub const MAX_INTEGER: u64 = u32::MAX as u64;

/// HTTP/2's COMPRESSION_ERROR code (RFC 9113 §7).
pub const COMPRESSION_ERROR: u32 = 0x9;

/// HTTP/2's REFUSED_STREAM code (RFC 9113 §7).
pub const REFUSED_STREAM: u32 = 0x7;

/// One header field: a name, a value, and whether it must never be indexed.
///
/// Both are bytes: HPACK does not validate them (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Field {
    /// The name (lowercase in HTTP/2, not checked here).
    pub name: Bytes,
    /// The value.
    pub value: Bytes,
    /// Sent as a never-indexed literal (RFC 7541 §6.2.3, §7.1.3): the value
    /// is sensitive, and an intermediary must re-encode it the same way.
    pub sensitive: bool,
}

impl Field {
    /// A field that may be indexed.
    ///
    /// ```
    /// use wirestate_h2::hpack::Field;
    /// let f = Field::new("content-type", "text/html");
    /// assert_eq!((f.size(), f.sensitive), (12 + 9 + 32, false));
    /// ```
    pub fn new(name: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            sensitive: false,
        }
    }

    /// A field to send as never-indexed (a credential, a session cookie).
    pub fn sensitive(name: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        Self {
            sensitive: true,
            ..Self::new(name, value)
        }
    }

    /// The size the field counts for in a header list and in the dynamic
    /// table: name and value lengths plus 32 (RFC 7541 §4.1, RFC 9113 §6.5.2).
    pub fn size(&self) -> usize {
        table::entry_size(&self.name, &self.value)
    }

    /// Whether this is a pseudo-header field (its name starts with `:`).
    pub fn is_pseudo(&self) -> bool {
        self.name.first() == Some(&b':')
    }
}

/// What an HPACK error calls for on the HTTP/2 connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Hint {
    /// The compression context is lost: close the connection with GOAWAY
    /// and [`COMPRESSION_ERROR`] (RFC 9113 §4.3).
    CompressionError,
    /// Only this header list is refused; the dynamic table is intact. A
    /// server may answer 431 (Request Header Fields Too Large) to a
    /// request head, a client discards the response (RFC 9113 §10.5.1,
    /// which names no reset code). [`error_code`](Self::error_code) is
    /// [`REFUSED_STREAM`], as the `h2` crate uses: right only while nothing
    /// of the request was processed, since it tells the peer it may send
    /// the request again (RFC 9113 §8.7). The connection resets request
    /// trailers and responses with other codes (see
    /// `connection::Event::Reset`).
    RefuseStream,
}

impl Hint {
    /// The HTTP/2 error code to send (in GOAWAY or RST_STREAM).
    pub fn error_code(self) -> u32 {
        match self {
            Hint::CompressionError => COMPRESSION_ERROR,
            Hint::RefuseStream => REFUSED_STREAM,
        }
    }
}

/// Why a header block was refused.
///
/// All but [`HeaderListTooLarge`](Error::HeaderListTooLarge) are protocol
/// errors that break the compression context: a connection error of type
/// COMPRESSION_ERROR, sticky in the [`Decoder`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- protocol: COMPRESSION_ERROR ----
    /// The block ends inside a field representation.
    #[error("header block ends inside a field representation")]
    Truncated,
    /// An integer larger than [`MAX_INTEGER`], or encoded in more octets
    /// than such an integer needs.
    #[error("integer overflow in header block")]
    IntegerOverflow,
    /// An index of 0, or beyond the static and dynamic tables (RFC 7541 §2.3.3).
    #[error("header table index {index} out of range (highest valid: {max})")]
    InvalidIndex {
        /// The index in the block.
        index: u64,
        /// The highest index that was valid then (61 plus the dynamic entries).
        max: usize,
    },
    /// A Huffman-coded string holds the EOS symbol (RFC 7541 §5.2).
    #[error("Huffman-coded string contains EOS")]
    HuffmanEos,
    /// A Huffman-coded string's padding is longer than 7 bits or not all
    /// ones (RFC 7541 §5.2).
    #[error("invalid Huffman padding")]
    HuffmanPadding,
    /// A dynamic table size update above SETTINGS_HEADER_TABLE_SIZE (RFC 7541 §6.3).
    #[error("dynamic table size update to {size} exceeds the limit of {max}")]
    SizeUpdateTooLarge {
        /// The size asked for.
        size: u64,
        /// The decoder's limit.
        max: usize,
    },
    /// A dynamic table size update after the first field of a block (RFC 7541 §4.2).
    #[error("dynamic table size update after a header field")]
    SizeUpdateNotAtStart,
    /// SETTINGS_HEADER_TABLE_SIZE was lowered below the table's size, and the
    /// next block did not start with the size update that must follow
    /// (RFC 7541 §4.2).
    #[error("missing dynamic table size update after a settings change")]
    MissingSizeUpdate,

    // ---- limit: the stream's failure, the table stays in sync ----
    /// The decoded list exceeds the decoder's maximum header list size
    /// (SETTINGS_MAX_HEADER_LIST_SIZE). The whole block was still processed,
    /// so the dynamic table is in sync; fields up to the limit were kept.
    #[error("header list larger than {max} bytes")]
    HeaderListTooLarge {
        /// The limit.
        max: usize,
    },
}

impl Error {
    /// Whose fault this is: [`Limit`](ErrorKind::Limit) for an oversize
    /// list, [`Protocol`](ErrorKind::Protocol) for the rest.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::HeaderListTooLarge { .. } => ErrorKind::Limit,
            _ => ErrorKind::Protocol,
        }
    }

    /// What to send to the peer.
    pub fn hint(&self) -> Option<Hint> {
        Some(match self {
            Error::HeaderListTooLarge { .. } => Hint::RefuseStream,
            _ => Hint::CompressionError,
        })
    }

    /// Whether the compression context is lost (a connection error).
    pub fn is_connection_error(&self) -> bool {
        self.hint() == Some(Hint::CompressionError)
    }
}

impl ClassifyError for Error {
    type Hint = Hint;
    fn kind(&self) -> ErrorKind {
        Error::kind(self)
    }
    fn hint(&self) -> Option<Hint> {
        Error::hint(self)
    }
}

/// Reads an integer with an `n`-bit prefix at `buf[*pos]` (RFC 7541 §5.1),
/// advancing `pos` past it.
///
/// Values above [`MAX_INTEGER`] fail, as do encodings with more
/// continuation octets than a 32-bit value needs (5), so neither the value
/// nor the loop depends on the peer's patience.
pub(crate) fn decode_integer(buf: &[u8], pos: &mut usize, n: u8) -> Result<u64, Error> {
    let mask = ((1u16 << n) - 1) as u8;
    let first = *buf.get(*pos).ok_or(Error::Truncated)? & mask;
    *pos += 1;
    if first < mask {
        return Ok(u64::from(first));
    }
    let mut value = u64::from(mask);
    let mut shift = 0u32;
    loop {
        let byte = *buf.get(*pos).ok_or(Error::Truncated)?;
        *pos += 1;
        value += u64::from(byte & 0x7f) << shift;
        if value > MAX_INTEGER {
            return Err(Error::IntegerOverflow);
        }
        if byte & 0x80 == 0 {
            return Ok(value);
        }
        shift += 7;
        if shift >= 35 {
            return Err(Error::IntegerOverflow);
        }
    }
}

/// Writes `value` with an `n`-bit prefix; `flags` holds the bits above it.
pub(crate) fn encode_integer(value: usize, n: u8, flags: u8, dst: &mut BytesMut) {
    let mask = (1usize << n) - 1;
    if value < mask {
        dst.put_u8(flags | value as u8);
        return;
    }
    dst.put_u8(flags | mask as u8);
    let mut rest = value - mask;
    while rest >= 128 {
        dst.put_u8((rest & 0x7f) as u8 | 0x80);
        rest >>= 7;
    }
    dst.put_u8(rest as u8);
}

/// Writes a string literal (RFC 7541 §5.2), Huffman-coded when that is not
/// longer (and `huffman` allows it).
pub(crate) fn encode_string(s: &[u8], huffman: bool, dst: &mut BytesMut) {
    if huffman {
        let len = huffman::encoded_len(s);
        if len <= s.len() {
            encode_integer(len, 7, 0x80, dst);
            dst.reserve(len);
            huffman::encode(s, dst);
            return;
        }
    }
    encode_integer(s.len(), 7, 0, dst);
    dst.extend_from_slice(s);
}

/// Encodes `src` with the HPACK Huffman code (RFC 7541 Appendix B), padded
/// with ones to a whole octet.
///
/// ```
/// use wirestate_h2::hpack::{huffman_decode, huffman_encode};
/// let coded = huffman_encode(b"www.example.com");
/// assert_eq!(coded.len(), 12);
/// assert_eq!(huffman_decode(&coded).unwrap(), b"www.example.com"[..]);
/// ```
pub fn huffman_encode(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    huffman::encode(src, &mut out);
    out
}

/// The length of `src` Huffman-coded, padding included.
pub fn huffman_encoded_len(src: &[u8]) -> usize {
    huffman::encoded_len(src)
}

/// Decodes a Huffman-coded string, refusing EOS and invalid padding with
/// [`Error::HuffmanEos`] and [`Error::HuffmanPadding`].
pub fn huffman_decode(src: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    huffman::decode(src, &mut out).map_err(Error::from)?;
    Ok(out)
}

impl From<huffman::HuffmanError> for Error {
    fn from(e: huffman::HuffmanError) -> Self {
        match e {
            huffman::HuffmanError::Eos => Error::HuffmanEos,
            huffman::HuffmanError::Padding => Error::HuffmanPadding,
        }
    }
}

/// Encodes an integer as RFC 7541 §5.1 does, with an `n`-bit prefix
/// (1 to 8) whose high bits are zero; for tests and tools.
///
/// ```
/// // RFC 7541 C.1.2: 1337 with a 5-bit prefix.
/// assert_eq!(wirestate_h2::hpack::encode_int(1337, 5), [31, 154, 10]);
/// ```
pub fn encode_int(value: usize, n: u8) -> Vec<u8> {
    let n = n.clamp(1, 8);
    let mut out = BytesMut::new();
    encode_integer(value, n, 0, &mut out);
    out.to_vec()
}

/// Decodes an integer with an `n`-bit prefix (1 to 8) from the front of
/// `buf`, ignoring the bits above the prefix: the value and the octets it
/// took.
///
/// ```
/// use wirestate_h2::hpack::{Error, decode_int};
/// assert_eq!(decode_int(&[0xff, 0x9a, 0x0a], 5), Ok((1337, 3)));
/// assert_eq!(decode_int(&[0x1f, 0xff, 0xff, 0xff, 0xff, 0x7f], 5), Err(Error::IntegerOverflow));
/// ```
pub fn decode_int(buf: &[u8], n: u8) -> Result<(u64, usize), Error> {
    let mut pos = 0;
    let v = decode_integer(buf, &mut pos, n.clamp(1, 8))?;
    Ok((v, pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_at_the_bounds() {
        for n in 1..=8u8 {
            for v in [
                0usize,
                1,
                (1 << n) - 2,
                (1 << n) - 1,
                1 << n,
                127,
                128,
                1337,
                0xFFFF_FFFF,
            ] {
                let bytes = encode_int(v, n);
                assert_eq!(
                    decode_int(&bytes, n),
                    Ok((v as u64, bytes.len())),
                    "{v} / {n}"
                );
                for cut in 0..bytes.len() {
                    assert_eq!(decode_int(&bytes[..cut], n), Err(Error::Truncated));
                }
            }
            let over = encode_int(1 << 32, n);
            assert_eq!(decode_int(&over, n), Err(Error::IntegerOverflow));
        }
        // Zero continuation octets: tolerated up to what 32 bits need.
        assert_eq!(
            decode_int(&[0x1f, 0x80, 0x80, 0x80, 0x80, 0x00], 5),
            Ok((31, 6))
        );
        assert_eq!(
            decode_int(&[0x1f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], 5),
            Err(Error::IntegerOverflow)
        );
    }
}
