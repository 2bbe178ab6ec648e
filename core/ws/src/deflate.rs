//! permessage-deflate (RFC 7692): what to offer and accept, the
//! `Sec-WebSocket-Extensions` grammar, and the per-connection codec.
//!
//! Negotiation is split from compression. [`DeflateConfig`] says what one end
//! is willing to do; the handshake ([`ClientHandshake`](crate::ClientHandshake),
//! [`ServerHandshake`](crate::ServerHandshake)) turns two of them into the
//! agreed [`DeflateParams`]; [`PerMessageDeflate`] compresses and inflates
//! whole messages under those parameters.
//!
//! The choices about 8-bit windows and close codes are documented on
//! [`PerMessageDeflate`].

use bytes::BytesMut;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::fmt;
use wirestate_machine::{ClassifyError, ErrorKind};

use crate::Role;
use crate::handshake::HandshakeError;

/// The extension token of permessage-deflate.
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

/// What a sender strips from, and a receiver appends to, every message
/// (RFC 7692 §7.2.1–7.2.2): the empty stored block of a sync flush.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The largest LZ77 window (2¹⁵ bytes), the default of both directions.
const MAX_BITS: u8 = 15;
/// The smallest window RFC 7692 allows.
const MIN_BITS: u8 = 8;
/// The smallest window zlib can compress raw DEFLATE with.
const MIN_DEFLATE_BITS: u8 = 9;

/// What one end is willing to negotiate for permessage-deflate, plus the
/// local settings of its compressor.
///
/// As a **client**, the flags and window sizes become the offer:
/// `server_no_context_takeover` and `server_max_window_bits` ask the server
/// to limit itself; `client_no_context_takeover` and `client_max_window_bits`
/// announce what we will do (we always offer `client_max_window_bits`, so the
/// server may shrink our window further).
///
/// As a **server**, the flags are always granted in the answer (the client
/// must then reset its context, or we reset ours), and the window sizes cap
/// what we agree to: ours always, the client's when its offer lets us
/// (it offered `client_max_window_bits`).
///
/// Window sizes outside `8..=15` and levels above 9 are clamped. An 8-bit
/// window for our own sending direction means we send uncompressed (zlib
/// cannot compress with it; see [`PerMessageDeflate`]).
///
/// Memory (zlib's formula): a compressor with a 2ᵇ window costs about 2ᵇ⁺²
/// bytes plus 128 KiB (≈ 256 KiB at 15 bits, ≈ 144 KiB at 12); an
/// inflater about 40 KiB (it always uses a 15-bit window, see
/// [`PerMessageDeflate::decompress`]). Both are allocated on the first
/// message that needs them, so an idle connection costs nothing.
///
/// ```
/// use wirestate_ws::DeflateConfig;
///
/// let mut config = DeflateConfig::default();
/// config.server_max_window_bits = Some(12); // smaller window: less memory
/// config.level = 1; // fastest
/// assert_eq!(
///     config.offer(),
///     "permessage-deflate; server_max_window_bits=12; client_max_window_bits"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// The server resets its compression context after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compression context after every message.
    pub client_no_context_takeover: bool,
    /// The largest window (in bits, 8–15) the server compresses with;
    /// `None` leaves it at 15.
    pub server_max_window_bits: Option<u8>,
    /// The largest window (in bits, 8–15) the client compresses with;
    /// `None` leaves it at 15 (or to the server, on the client).
    pub client_max_window_bits: Option<u8>,
    /// Compression level, 0 (store) to 9 (best). Default 6, zlib's default.
    pub level: u32,
    /// Messages shorter than this are sent uncompressed. Default 32 bytes:
    /// below that DEFLATE's block overhead usually makes the output larger
    /// than the input (32 literals in fixed Huffman codes take ~36 bytes),
    /// so compressing costs CPU for nothing unless earlier messages happen to
    /// contain the same bytes.
    pub min_compress_size: usize,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        Self {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: None,
            client_max_window_bits: None,
            level: 6,
            min_compress_size: 32,
        }
    }
}

fn clamp_bits(bits: Option<u8>) -> u8 {
    bits.unwrap_or(MAX_BITS).clamp(MIN_BITS, MAX_BITS)
}

impl DeflateConfig {
    /// The client's offer, as one `Sec-WebSocket-Extensions` element.
    pub fn offer(&self) -> String {
        let mut ext = Extension::new(PERMESSAGE_DEFLATE);
        if self.server_no_context_takeover {
            ext.push("server_no_context_takeover", None);
        }
        if self.client_no_context_takeover {
            ext.push("client_no_context_takeover", None);
        }
        if let Some(bits) = self.server_max_window_bits {
            ext.push("server_max_window_bits", Some(clamp_bits(Some(bits))));
        }
        ext.push(
            "client_max_window_bits",
            self.client_max_window_bits.map(|b| clamp_bits(Some(b))),
        );
        ext.to_string()
    }

    fn params(&self) -> DeflateParams {
        DeflateParams {
            level: self.level.min(9),
            min_compress_size: self.min_compress_size,
            ..DeflateParams::default()
        }
    }

    /// Server side: picks the first acceptable permessage-deflate offer among
    /// `extensions` (other extensions are ignored) and returns the agreed
    /// parameters with the answer for `Sec-WebSocket-Extensions`.
    ///
    /// An offer is declined — and the next one tried — when it has a
    /// parameter RFC 7692 does not define, a parameter twice, or a value out
    /// of range (§7). `None` means no offer was acceptable: the connection
    /// goes on without compression.
    ///
    /// ```
    /// use wirestate_ws::{DeflateConfig, Extension};
    ///
    /// let offers = Extension::parse_list(
    ///     b"permessage-deflate; client_max_window_bits; server_max_window_bits=10",
    /// )
    /// .unwrap();
    /// let (params, answer) = DeflateConfig::default().accept(&offers).unwrap();
    /// assert_eq!(params.server_max_window_bits, 10);
    /// assert_eq!(answer, "permessage-deflate; server_max_window_bits=10");
    /// ```
    pub fn accept(&self, extensions: &[Extension]) -> Option<(DeflateParams, String)> {
        extensions
            .iter()
            .filter(|e| e.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE))
            .find_map(|offer| self.accept_one(offer))
    }

    fn accept_one(&self, offer: &Extension) -> Option<(DeflateParams, String)> {
        let offer = OfferedParams::parse(offer, true).ok()?;
        let mut params = self.params();
        let mut answer = Extension::new(PERMESSAGE_DEFLATE);

        params.server_no_context_takeover =
            offer.server_no_context_takeover || self.server_no_context_takeover;
        if params.server_no_context_takeover {
            answer.push("server_no_context_takeover", None);
        }
        params.client_no_context_takeover =
            offer.client_no_context_takeover || self.client_no_context_takeover;
        if params.client_no_context_takeover {
            answer.push("client_no_context_takeover", None);
        }

        // Our window: never above the client's limit; said whenever the
        // client set a limit (accepting it requires the answer) or we shrink.
        let ours = clamp_bits(self.server_max_window_bits)
            .min(offer.server_max_window_bits.unwrap_or(MAX_BITS));
        params.server_max_window_bits = ours;
        if offer.server_max_window_bits.is_some() || ours < MAX_BITS {
            answer.push("server_max_window_bits", Some(ours));
        }

        // The client's window: only limitable when it offered the parameter.
        if let Some(hint) = offer.client_max_window_bits {
            let theirs = clamp_bits(self.client_max_window_bits).min(hint.unwrap_or(MAX_BITS));
            params.client_max_window_bits = theirs;
            if hint.is_some() || theirs < MAX_BITS {
                answer.push("client_max_window_bits", Some(theirs));
            }
        }
        Some((params, answer.to_string()))
    }

    /// Client side: checks the server's answer against the offer this
    /// config made ([`offer`](Self::offer)) and returns the agreed
    /// parameters.
    ///
    /// Fails when the answer has an unknown or repeated parameter, a value
    /// out of range, a window larger than offered, omits
    /// `server_no_context_takeover` or `server_max_window_bits` that we asked
    /// for, or gives `client_max_window_bits` no value (RFC 7692 §7.1).
    pub fn verify(&self, answer: &Extension) -> Result<DeflateParams, HandshakeError> {
        let bad = HandshakeError::InvalidExtensionResponse;
        if !answer.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE) {
            return Err(HandshakeError::UnsupportedExtension(answer.name.clone()));
        }
        let got = OfferedParams::parse(answer, false).map_err(bad)?;
        let mut params = self.params();

        if self.server_no_context_takeover && !got.server_no_context_takeover {
            return Err(bad("server_no_context_takeover was required"));
        }
        params.server_no_context_takeover = got.server_no_context_takeover;
        // Not taking over our own context is always allowed, so honour our
        // announcement even if the server did not repeat it.
        params.client_no_context_takeover =
            got.client_no_context_takeover || self.client_no_context_takeover;

        params.server_max_window_bits =
            match (self.server_max_window_bits, got.server_max_window_bits) {
                (Some(_), None) => return Err(bad("server_max_window_bits was required")),
                (Some(asked), Some(bits)) if bits > clamp_bits(Some(asked)) => {
                    return Err(bad("server_max_window_bits larger than offered"));
                }
                (_, bits) => bits.unwrap_or(MAX_BITS),
            };

        let ours = clamp_bits(self.client_max_window_bits);
        params.client_max_window_bits = match got.client_max_window_bits {
            None => ours,
            Some(None) => return Err(bad("client_max_window_bits without a value")),
            Some(Some(bits)) if bits > ours => {
                return Err(bad("client_max_window_bits larger than offered"));
            }
            Some(Some(bits)) => bits,
        };
        Ok(params)
    }
}

/// The parameters of one permessage-deflate offer or answer, validated.
#[derive(Default)]
struct OfferedParams {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: present without a value (allowed only in an offer).
    client_max_window_bits: Option<Option<u8>>,
}

impl OfferedParams {
    fn parse(ext: &Extension, is_offer: bool) -> Result<Self, &'static str> {
        let mut p = Self::default();
        let mut seen = [false; 4];
        for (name, value) in &ext.params {
            let value = value.as_deref();
            let (slot, flag): (usize, Option<&mut bool>) = match name.to_ascii_lowercase().as_str()
            {
                "server_no_context_takeover" => (0, Some(&mut p.server_no_context_takeover)),
                "client_no_context_takeover" => (1, Some(&mut p.client_no_context_takeover)),
                "server_max_window_bits" => {
                    p.server_max_window_bits = Some(window_bits(
                        value.ok_or("server_max_window_bits needs a value")?,
                    )?);
                    (2, None)
                }
                "client_max_window_bits" => {
                    p.client_max_window_bits = Some(match value {
                        Some(v) => Some(window_bits(v)?),
                        None if is_offer => None,
                        None => return Err("client_max_window_bits without a value"),
                    });
                    (3, None)
                }
                _ => return Err("unknown parameter"),
            };
            if std::mem::replace(&mut seen[slot], true) {
                return Err("repeated parameter");
            }
            if let Some(flag) = flag {
                if value.is_some() {
                    return Err("no_context_takeover takes no value");
                }
                *flag = true;
            }
        }
        Ok(p)
    }
}

/// A window size: a decimal integer 8–15 without leading zeros (RFC 7692 §7.1.2).
fn window_bits(value: &str) -> Result<u8, &'static str> {
    match value.as_bytes() {
        [d @ b'8'..=b'9'] => Ok(d - b'0'),
        [b'1', d @ b'0'..=b'5'] => Ok(10 + d - b'0'),
        _ => Err("window bits must be 8 to 15"),
    }
}

/// The agreed permessage-deflate parameters of a connection, plus the local
/// compressor settings carried over from [`DeflateConfig`].
///
/// Window sizes are always 8–15 (15 when the handshake did not mention them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateParams {
    /// The server resets its compression context after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compression context after every message.
    pub client_no_context_takeover: bool,
    /// The largest window the server compresses with, in bits.
    pub server_max_window_bits: u8,
    /// The largest window the client compresses with, in bits.
    pub client_max_window_bits: u8,
    /// Our compression level (local, not negotiated).
    pub level: u32,
    /// Our threshold below which messages go uncompressed (local, not negotiated).
    pub min_compress_size: usize,
}

impl Default for DeflateParams {
    /// RFC 7692's defaults: context takeover and 15-bit windows both ways,
    /// with [`DeflateConfig::default`]'s level and threshold.
    fn default() -> Self {
        let config = DeflateConfig::default();
        Self {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: MAX_BITS,
            client_max_window_bits: MAX_BITS,
            level: config.level,
            min_compress_size: config.min_compress_size,
        }
    }
}

// ---------------------------------------------------------------------------
// Sec-WebSocket-Extensions grammar (RFC 6455 §9.1)
// ---------------------------------------------------------------------------

/// One element of a `Sec-WebSocket-Extensions` list: an extension token and
/// its parameters, in order (RFC 6455 §9.1).
///
/// Quoted-string values are unescaped when parsed and quoted again when
/// formatted if they are not tokens.
///
/// ```
/// use wirestate_ws::Extension;
///
/// let list = Extension::parse_list(b"foo, permessage-deflate; x=\"1\"; y").unwrap();
/// assert_eq!(list.len(), 2);
/// assert_eq!(list[1].name, "permessage-deflate");
/// assert_eq!(list[1].params, [("x".into(), Some("1".into())), ("y".into(), None)]);
/// assert_eq!(list[1].to_string(), "permessage-deflate; x=1; y");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// The extension token, e.g. `permessage-deflate`.
    pub name: String,
    /// Parameters in order: name, and value if any.
    pub params: Vec<(String, Option<String>)>,
}

/// A `Sec-WebSocket-Extensions` value that does not follow the grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed Sec-WebSocket-Extensions header at byte {at}")]
pub struct ExtensionSyntaxError {
    /// Offset of the offending byte in the value.
    pub at: usize,
}

impl Extension {
    /// An extension without parameters.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            params: Vec::new(),
        }
    }

    fn push(&mut self, name: &str, value: Option<u8>) {
        self.params
            .push((name.to_owned(), value.map(|v| v.to_string())));
    }

    /// Parses one header value: a comma-separated list of extensions, each
    /// with `;`-separated parameters whose values are tokens or quoted
    /// strings. Empty list elements and whitespace around separators are
    /// allowed (RFC 9110 §5.6.1).
    pub fn parse_list(value: &[u8]) -> Result<Vec<Extension>, ExtensionSyntaxError> {
        let mut p = Parser { s: value, i: 0 };
        let mut out = Vec::new();
        loop {
            p.ows();
            match p.peek() {
                None => return Ok(out),
                Some(b',') => {
                    p.i += 1;
                    continue;
                }
                Some(_) => {}
            }
            let mut ext = Extension::new(p.token()?);
            loop {
                p.ows();
                match p.peek() {
                    None | Some(b',') => break,
                    Some(b';') => p.i += 1,
                    Some(_) => return Err(p.err()),
                }
                p.ows();
                let name = p.token()?;
                p.ows();
                let value = if p.peek() == Some(b'=') {
                    p.i += 1;
                    p.ows();
                    Some(if p.peek() == Some(b'"') {
                        p.quoted()?
                    } else {
                        p.token()?
                    })
                } else {
                    None
                };
                ext.params.push((name, value));
            }
            out.push(ext);
        }
    }
}

impl fmt::Display for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for (name, value) in &self.params {
            write!(f, "; {name}")?;
            match value {
                None => {}
                Some(v) if !v.is_empty() && v.bytes().all(is_tchar) => write!(f, "={v}")?,
                Some(v) => {
                    f.write_str("=\"")?;
                    for c in v.chars() {
                        if c == '"' || c == '\\' {
                            f.write_str("\\")?;
                        }
                        write!(f, "{c}")?;
                    }
                    f.write_str("\"")?;
                }
            }
        }
        Ok(())
    }
}

/// `tchar` of RFC 9110 §5.6.2.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn err(&self) -> ExtensionSyntaxError {
        ExtensionSyntaxError { at: self.i }
    }
    fn ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn token(&mut self) -> Result<String, ExtensionSyntaxError> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        if start == self.i {
            return Err(self.err());
        }
        // tchar is ASCII.
        Ok(self.s[start..self.i].iter().map(|&b| b as char).collect())
    }
    fn quoted(&mut self) -> Result<String, ExtensionSyntaxError> {
        self.i += 1; // opening quote
        let mut v = String::new();
        loop {
            let b = self.peek().ok_or_else(|| self.err())?;
            match b {
                b'"' => {
                    self.i += 1;
                    return Ok(v);
                }
                b'\\' => {
                    self.i += 1;
                    match self.peek() {
                        Some(c @ (b'\t' | b' '..=b'~')) => v.push(c as char),
                        _ => return Err(self.err()),
                    }
                }
                b'\t' | b' '..=b'~' => v.push(b as char),
                _ => return Err(self.err()),
            }
            self.i += 1;
        }
    }
}

// ---------------------------------------------------------------------------
// The codec
// ---------------------------------------------------------------------------

/// Why compressing or inflating a message failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeflateError {
    /// The inflated message would exceed the caller's limit (close 1009).
    #[error("inflated message exceeds {max} bytes")]
    TooLarge {
        /// The limit that was reached.
        max: usize,
    },
    /// The compressed data is not valid DEFLATE, or reaches further back
    /// than the negotiated window (close 1007).
    #[error("invalid compressed data")]
    Corrupt,
    /// The compressor failed. Does not happen with valid parameters; the
    /// connection should close with 1011.
    #[error("compression failed")]
    Compress,
}

impl DeflateError {
    /// The close code to send (RFC 6455 §7.4.1).
    pub fn close_code(&self) -> u16 {
        match self {
            DeflateError::TooLarge { .. } => 1009,
            DeflateError::Corrupt => 1007,
            DeflateError::Compress => 1011,
        }
    }
}

impl ClassifyError for DeflateError {
    type Hint = u16;
    fn kind(&self) -> ErrorKind {
        match self {
            DeflateError::TooLarge { .. } => ErrorKind::Limit,
            DeflateError::Corrupt => ErrorKind::Protocol,
            DeflateError::Compress => ErrorKind::Usage,
        }
    }
    fn hint(&self) -> Option<u16> {
        Some(self.close_code())
    }
}

/// The per-connection permessage-deflate codec.
///
/// The compressor and the inflater are allocated on the first message that
/// needs each, so a connection that never sends (or receives) a compressed
/// message pays nothing for that direction. With no context takeover the
/// state is reset after each message; [`release_idle`](Self::release_idle)
/// frees it between messages.
///
/// # Window bits 8
///
/// RFC 7692 allows an LZ77 window of 2⁸ bytes, but zlib (and so zlib-rs, and
/// flate2, which refuses it outright) cannot *compress* raw DEFLATE with a
/// 256-byte window: zlib silently used 9 bits before 1.2.9 and rejects 8 since.
/// Answering `server_max_window_bits=9` to an offer of 8 is not allowed (the
/// answer must be ≤ the offer), and compressing with a 9-bit window would
/// emit distances the peer may not be able to resolve. So when *our* sending
/// window is negotiated to 8 bits we accept it and do not compress:
/// [`PerMessageDeflate::min_compress_size`] is `usize::MAX` and
/// [`PerMessageDeflate::compress`], if called anyway, emits stored (level 0)
/// blocks, which hold no back-references and suit any window. Receiving with
/// an 8-bit window needs nothing special: an inflater with a larger window
/// reads every valid 8-bit stream. (Declining the offer instead, as some
/// libraries do, loses compression in the other direction too.)
///
/// # Errors while inflating
///
/// Corrupt compressed data closes with 1007 (invalid frame payload data), as
/// the `ws` library for Node does: the frame was well formed, its payload was
/// not. A message that inflates past the caller's limit closes with 1009.
///
/// # Example
///
/// ```
/// use bytes::BytesMut;
/// use wirestate_ws::{DeflateParams, PerMessageDeflate, Role};
///
/// let params = DeflateParams::default();
/// let mut client = PerMessageDeflate::new(&params, Role::Client);
/// let mut server = PerMessageDeflate::new(&params, Role::Server);
///
/// let mut wire = BytesMut::new();
/// client.compress(b"Hello", &mut wire).unwrap();
/// assert_eq!(&wire[..], [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
///
/// let mut message = BytesMut::new();
/// server.decompress(&wire, true, &mut message, 1 << 20).unwrap();
/// assert_eq!(&message[..], b"Hello");
/// ```
pub struct PerMessageDeflate {
    level: u32,
    min_compress_size: usize,
    /// Our sending window, 8–15.
    send_bits: u8,
    send_reset: bool,
    recv_reset: bool,
    compressor: Option<Compress>,
    decompressor: Option<Decompress>,
    /// Inside a compressed message being inflated.
    recv_in_message: bool,
    /// The current message's DEFLATE stream ended with a final block
    /// (RFC 7692 §7.2.3.4); the rest of the message is ignored.
    recv_stream_ended: bool,
}

impl fmt::Debug for PerMessageDeflate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerMessageDeflate")
            .field("level", &self.level)
            .field("min_compress_size", &self.min_compress_size)
            .field("send_bits", &self.send_bits)
            .field("send_reset", &self.send_reset)
            .field("recv_reset", &self.recv_reset)
            .field("compressor", &self.compressor.is_some())
            .field("decompressor", &self.decompressor.is_some())
            .finish()
    }
}

/// Largest output slice handed to zlib at once.
const MAX_CHUNK: usize = 64 * 1024;

impl PerMessageDeflate {
    /// A codec for the agreed `params`; `role` is our role, which decides
    /// which side's context takeover and window apply to what we send and
    /// what we receive.
    pub fn new(params: &DeflateParams, role: Role) -> Self {
        let server = (
            params.server_max_window_bits.clamp(MIN_BITS, MAX_BITS),
            params.server_no_context_takeover,
        );
        let client = (
            params.client_max_window_bits.clamp(MIN_BITS, MAX_BITS),
            params.client_no_context_takeover,
        );
        let (send, recv) = match role {
            Role::Client => (client, server),
            Role::Server => (server, client),
        };
        Self {
            level: params.level.min(9),
            min_compress_size: params.min_compress_size,
            send_bits: send.0,
            send_reset: send.1,
            recv_reset: recv.1,
            compressor: None,
            decompressor: None,
            recv_in_message: false,
            recv_stream_ended: false,
        }
    }

    /// Messages shorter than this are better sent uncompressed. `usize::MAX`
    /// when our window was negotiated to 8 bits, which zlib cannot compress
    /// with (see [`PerMessageDeflate`]).
    pub fn min_compress_size(&self) -> usize {
        if self.send_bits < MIN_DEFLATE_BITS {
            usize::MAX
        } else {
            self.min_compress_size
        }
    }

    /// Compresses one whole message into `out` (appends), without the
    /// trailing `00 00 ff ff` (RFC 7692 §7.2.1). Resets the compressor
    /// afterwards when our side has no context takeover.
    pub fn compress(&mut self, payload: &[u8], out: &mut BytesMut) -> Result<(), DeflateError> {
        if payload.is_empty() {
            // zlib answers a sync flush with nothing new to flush with an
            // error and no bytes. A lone 0x00 plus the receiver's implied
            // tail is an empty stored block (RFC 7692 §7.2.3.6) and leaves
            // the shared context as it was.
            out.extend_from_slice(&[0x00]);
            return Ok(());
        }
        let (bits, level) = if self.send_bits < MIN_DEFLATE_BITS {
            // Stored blocks only: valid under any window (see the type's docs).
            (MIN_DEFLATE_BITS, 0)
        } else {
            (self.send_bits, self.level)
        };
        let c = self.compressor.get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::new(level), false, bits)
        });
        let start = out.len();
        let result = compress_into(c, payload, out);
        match result {
            Ok(()) if out[start..].ends_with(&TAIL) => {
                out.truncate(out.len() - TAIL.len());
                if self.send_reset {
                    c.reset();
                }
                Ok(())
            }
            _ => {
                out.truncate(start);
                self.compressor = None;
                Err(DeflateError::Compress)
            }
        }
    }

    /// Inflates one frame's payload of a compressed message, appending to
    /// `out`; `fin` on the message's last frame (the `00 00 ff ff` tail is
    /// fed then, and the inflater reset afterwards when the peer has no
    /// context takeover).
    ///
    /// Fails with [`DeflateError::TooLarge`] as soon as `out.len()` would
    /// exceed `max_out` — output is produced in bounded steps, so a zip bomb
    /// costs at most `max_out` bytes — and with [`DeflateError::Corrupt`] on
    /// invalid data. After an error the inflater is dropped; the connection
    /// is expected to close.
    ///
    /// Inflation always uses a 15-bit window: it reads every valid stream
    /// whatever window the peer agreed to, and keeps the outcome independent
    /// of how the message was cut into frames (zlib enforces a smaller window
    /// only across output slices, not within one).
    pub fn decompress(
        &mut self,
        input: &[u8],
        fin: bool,
        out: &mut BytesMut,
        max_out: usize,
    ) -> Result<(), DeflateError> {
        if input.is_empty() && !fin {
            return Ok(());
        }
        // Always 15 bits (see above).
        let d = self
            .decompressor
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, MAX_BITS));
        self.recv_in_message = true;
        let mut result = Ok(false);
        if !self.recv_stream_ended {
            result = inflate_into(d, input, out, max_out);
            if fin && result == Ok(false) {
                result = inflate_into(d, &TAIL, out, max_out);
            }
        }
        match result {
            Err(e) => {
                self.decompressor = None;
                self.recv_in_message = false;
                self.recv_stream_ended = false;
                Err(e)
            }
            Ok(ended) => {
                self.recv_stream_ended |= ended;
                if fin {
                    // A stream that ended with a final block cannot go on:
                    // start the next message afresh.
                    if self.recv_reset || self.recv_stream_ended {
                        d.reset(false);
                    }
                    self.recv_in_message = false;
                    self.recv_stream_ended = false;
                }
                Ok(())
            }
        }
    }

    /// Frees the compressor and inflater where that loses nothing: the
    /// compressor when our side has no context takeover, the inflater when
    /// the peer has none and no message is being inflated. Call it when the
    /// connection goes idle to trade a later re-allocation for memory.
    pub fn release_idle(&mut self) {
        if self.send_reset {
            self.compressor = None;
        }
        if self.recv_reset && !self.recv_in_message {
            self.decompressor = None;
        }
    }
}

/// Deflates all of `input` with a sync flush, appending to `out`.
fn compress_into(c: &mut Compress, mut input: &[u8], out: &mut BytesMut) -> Result<(), ()> {
    // Incompressible data grows by ~5 bytes per 16 KiB block, plus the flush.
    let mut chunk = (input.len() + input.len() / 256 + 64).min(MAX_CHUNK);
    loop {
        let len = out.len();
        out.resize(len + chunk, 0);
        let (in0, out0) = (c.total_in(), c.total_out());
        let status = c.compress(input, &mut out[len..], FlushCompress::Sync);
        let consumed = (c.total_in() - in0) as usize;
        let produced = (c.total_out() - out0) as usize;
        out.truncate(len + produced);
        let status = status.map_err(|_| ())?;
        input = &input[consumed..];
        if input.is_empty() && produced < chunk {
            return Ok(());
        }
        if consumed == 0 && produced == 0 {
            // Nothing moved: done if the input is, else stuck.
            return if input.is_empty() && status == Status::BufError {
                Ok(())
            } else {
                Err(())
            };
        }
        chunk = (chunk * 2).min(MAX_CHUNK);
    }
}

/// Inflates `input` into `out`, never past `max_out`. `Ok(true)` when the
/// DEFLATE stream ended (a final block); the rest of `input` is then ignored.
fn inflate_into(
    d: &mut Decompress,
    mut input: &[u8],
    out: &mut BytesMut,
    max_out: usize,
) -> Result<bool, DeflateError> {
    let mut chunk = (input.len() * 4).clamp(256, MAX_CHUNK);
    loop {
        let room = max_out.saturating_sub(out.len());
        let (in0, out0) = (d.total_in(), d.total_out());
        let (status, space, produced) = if room == 0 {
            // At the limit: one more byte of output means too large.
            let mut probe = [0u8; 1];
            let status = d.decompress(input, &mut probe, FlushDecompress::None);
            let produced = (d.total_out() - out0) as usize;
            if produced > 0 {
                return Err(DeflateError::TooLarge { max: max_out });
            }
            (status, 1, 0)
        } else {
            let space = chunk.min(room);
            let len = out.len();
            out.resize(len + space, 0);
            let status = d.decompress(input, &mut out[len..], FlushDecompress::None);
            let produced = (d.total_out() - out0) as usize;
            out.truncate(len + produced);
            (status, space, produced)
        };
        let consumed = (d.total_in() - in0) as usize;
        let status = status.map_err(|_| DeflateError::Corrupt)?;
        input = &input[consumed..];
        if status == Status::StreamEnd {
            return Ok(true);
        }
        if input.is_empty() && produced < space {
            return Ok(false);
        }
        if consumed == 0 && produced == 0 {
            return Err(DeflateError::Corrupt);
        }
        chunk = (chunk * 2).min(MAX_CHUNK);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_bits_grammar() {
        for (s, v) in [("8", 8), ("9", 9), ("10", 10), ("15", 15)] {
            assert_eq!(window_bits(s), Ok(v));
        }
        for s in ["7", "16", "08", "010", "", "1", "+9", " 9", "9 ", "0x9"] {
            assert!(window_bits(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn eight_bit_window_never_reaches_zlib() {
        let params = DeflateParams {
            client_max_window_bits: 8,
            ..DeflateParams::default()
        };
        let mut c = PerMessageDeflate::new(&params, Role::Client);
        assert_eq!(c.min_compress_size(), usize::MAX);
        let payload = b"abcabcabcabcabcabcabcabcabcabcabcabcabcabc".repeat(20);
        let mut wire = BytesMut::new();
        c.compress(&payload, &mut wire).unwrap();
        // Stored: no smaller than the input.
        assert!(wire.len() > payload.len());
        let mut s = PerMessageDeflate::new(&params, Role::Server);
        let mut msg = BytesMut::new();
        s.decompress(&wire, true, &mut msg, usize::MAX).unwrap();
        assert_eq!(&msg[..], &payload[..]);
        // The server's own direction still compresses.
        assert_eq!(s.min_compress_size(), 32);
    }

    #[test]
    fn release_idle_keeps_context_it_needs() {
        let params = DeflateParams {
            server_no_context_takeover: true,
            ..DeflateParams::default()
        };
        let mut s = PerMessageDeflate::new(&params, Role::Server);
        let mut wire = BytesMut::new();
        s.compress(b"hello hello hello", &mut wire).unwrap();
        let mut c = PerMessageDeflate::new(&params, Role::Client);
        let mut msg = BytesMut::new();
        c.decompress(&wire, true, &mut msg, 100).unwrap();
        s.release_idle();
        c.release_idle();
        assert!(s.compressor.is_none());
        assert!(c.decompressor.is_none());
        // The client's own sending context is kept (context takeover).
        c.compress(b"hello hello hello", &mut BytesMut::new())
            .unwrap();
        c.release_idle();
        assert!(c.compressor.is_some());
    }
}
