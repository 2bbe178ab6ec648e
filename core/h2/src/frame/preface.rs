//! The client connection preface (RFC 9113 §3.4), matched incrementally,
//! and a sniffer telling h2c with prior knowledge from HTTP/1.1.

use super::FrameError;
use bytes::{Buf, BytesMut};

/// The client connection preface: `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`. A
/// client sends it first, then a SETTINGS frame.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Checks the client connection preface as it arrives, in any pieces.
///
/// A mismatch is a connection error (PROTOCOL_ERROR), and sticky.
///
/// ```
/// use wirestate_h2::frame::PrefaceMatcher;
/// let mut m = PrefaceMatcher::new();
/// assert_eq!(m.feed(b"PRI * HTTP/2.0\r\n"), Ok(16));
/// assert!(!m.is_complete());
/// // The preface ends after 8 more bytes; what follows is frames.
/// assert_eq!(m.feed(b"\r\nSM\r\n\r\n\x00\x00\x00\x04"), Ok(8));
/// assert!(m.is_complete());
/// assert!(PrefaceMatcher::new().feed(b"GET / HTTP/1.1\r\n").is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrefaceMatcher {
    matched: usize,
    failed: bool,
}

impl PrefaceMatcher {
    /// A matcher that has seen nothing yet.
    pub fn new() -> PrefaceMatcher {
        PrefaceMatcher::default()
    }

    /// Matches the front of `input` against the rest of the preface.
    /// Returns how many bytes of `input` were preface (the bytes after
    /// them are the first frames); when that is all of `input` and the
    /// preface is not complete, more is needed.
    pub fn feed(&mut self, input: &[u8]) -> Result<usize, FrameError> {
        if self.failed {
            return Err(FrameError::InvalidPreface);
        }
        let want = &PREFACE[self.matched..];
        let n = want.len().min(input.len());
        if input[..n] != want[..n] {
            self.failed = true;
            return Err(FrameError::InvalidPreface);
        }
        self.matched += n;
        Ok(n)
    }

    /// [`feed`](Self::feed) on a receive buffer, taking the preface bytes
    /// from its front: `Ok(true)` once the whole preface is in (`src` then
    /// starts with frames), `Ok(false)` while more is needed.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<bool, FrameError> {
        let n = self.feed(src)?;
        src.advance(n);
        Ok(self.is_complete())
    }

    /// Whether the whole preface has been matched.
    pub fn is_complete(&self) -> bool {
        self.matched == PREFACE.len()
    }
}

/// Sniffs the first bytes of a connection on a port serving both HTTP/1.1
/// and h2c with prior knowledge: `Some(true)` if `input` starts with the
/// whole client preface, `Some(false)` if it cannot (speak HTTP/1.1),
/// `None` if it is a proper prefix of the preface (read more first).
///
/// ```
/// use wirestate_h2::frame::is_h2_preface_prefix;
/// assert_eq!(is_h2_preface_prefix(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0"), Some(true));
/// assert_eq!(is_h2_preface_prefix(b"PRI * HTTP/2"), None);
/// assert_eq!(is_h2_preface_prefix(b"POST / HTTP/1.1\r\n"), Some(false));
/// assert_eq!(is_h2_preface_prefix(b""), None);
/// ```
pub fn is_h2_preface_prefix(input: &[u8]) -> Option<bool> {
    let n = input.len().min(PREFACE.len());
    if input[..n] != PREFACE[..n] {
        Some(false)
    } else if n == PREFACE.len() {
        Some(true)
    } else {
        None
    }
}
