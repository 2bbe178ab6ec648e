//! Newline-delimited message framing: MCP's stdio transport, JSON lines.
//!
//! One message per line, each ended by `\n` (a `\r` just before it is
//! stripped too, so `\r\n` peers work). [`LineDecoder`] splits a byte stream
//! into lines; [`encode_line`] writes one.

use bytes::{Bytes, BytesMut};

/// A line could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// Decoding: a line is longer than the decoder's `max_line_len` (its
    /// terminator not counted). Reported as soon as the limit is exceeded;
    /// the rest of the line is discarded and decoding goes on with the next
    /// line. A limit, and the sender's fault.
    #[error("line longer than the limit of {max} bytes")]
    TooLong {
        /// The configured maximum line length.
        max: usize,
    },
    /// Encoding: the message contains `\n` or `\r`, so it cannot be one line.
    /// The caller's fault; nothing was written.
    #[error("message contains a line break")]
    LineBreak,
    /// Encoding: the message is empty. The decoder skips empty lines as
    /// keep-alives, so it would never arrive. Nothing was written.
    #[error("empty message")]
    Empty,
}

/// Splits a byte stream into newline-terminated lines.
///
/// Feed bytes with [`push`](Self::push), take lines with
/// [`next_line`](Self::next_line) until it returns `None`, and at the end of
/// the stream call [`finish`](Self::finish) until it returns `None`.
///
/// * A line ends at `\n`. One `\r` just before the `\n` is stripped as well,
///   so lines ended by `\r\n` decode the same. Other `\r` bytes are data.
/// * Lines come out without their terminator, as [`Bytes`] split off the
///   decoder's buffer (no copy).
/// * **Empty lines are skipped**: JSON-lines peers send blank lines as
///   keep-alives, and no message is empty.
/// * **A final line without `\n` is still a message**: [`finish`](Self::finish)
///   returns it at the end of the stream.
/// * **Over-long lines**: a line longer than
///   [`max_line_len`](Self::max_line_len) bytes (terminator not counted)
///   yields [`LineError::TooLong`] as soon as the limit is exceeded, before
///   the line is complete. The decoder then discards the rest of that line,
///   up to and including its `\n`, as it arrives (without buffering it), and
///   continues with the lines after it. Whether to go on or to drop the
///   connection is the caller's choice.
///
/// Decoding does not depend on how the input is chunked: feeding it whole,
/// byte by byte or in any pieces gives the same lines and errors, each as
/// soon as its last byte has been pushed. Each byte is scanned once.
///
/// # Memory
///
/// The decoder holds the bytes pushed and not yet returned. Once
/// [`next_line`](Self::next_line) has returned `None`, that is at most
/// `max_line_len + 1` bytes (an unfinished line, perhaps with a `\r` that may
/// start its terminator).
///
/// # Example
///
/// ```
/// use wirestate_codec::{LineDecoder, LineError};
///
/// let mut dec = LineDecoder::with_max_line_len(8);
/// dec.push(b"{\"a\":1}\r\n\n{\"b\"");
/// assert_eq!(dec.next_line(), Some(Ok("{\"a\":1}".into())));
/// assert_eq!(dec.next_line(), None); // the blank line was skipped; `{"b"` waits
/// dec.push(b":2}\nway too long for the limit\nok\n");
/// assert_eq!(dec.next_line(), Some(Ok("{\"b\":2}".into())));
/// assert_eq!(dec.next_line(), Some(Err(LineError::TooLong { max: 8 })));
/// assert_eq!(dec.next_line(), Some(Ok("ok".into())));
/// dec.push(b"last");
/// assert_eq!(dec.next_line(), None);
/// assert_eq!(dec.finish(), Some(Ok("last".into()))); // end of stream
/// assert_eq!(dec.finish(), None);
/// ```
#[derive(Debug, Clone)]
pub struct LineDecoder {
    buf: BytesMut,
    /// `buf[..scanned]` holds no `\n`.
    scanned: usize,
    /// Dropping the rest of an over-long line, up to its `\n`.
    discarding: bool,
    max_line_len: usize,
}

impl LineDecoder {
    /// The default [`max_line_len`](Self::max_line_len): 4 MiB.
    pub const DEFAULT_MAX_LINE_LEN: usize = 4 * 1024 * 1024;

    /// A decoder with the default line limit
    /// ([`DEFAULT_MAX_LINE_LEN`](Self::DEFAULT_MAX_LINE_LEN)).
    pub fn new() -> Self {
        Self::with_max_line_len(Self::DEFAULT_MAX_LINE_LEN)
    }

    /// A decoder that refuses lines longer than `max_line_len` bytes, not
    /// counting the terminator.
    pub fn with_max_line_len(max_line_len: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            scanned: 0,
            discarding: false,
            max_line_len,
        }
    }

    /// The longest line accepted, in bytes, not counting the terminator.
    pub fn max_line_len(&self) -> usize {
        self.max_line_len
    }

    /// Bytes pushed and not yet returned or discarded.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Appends input. Nothing is decoded until [`next_line`](Self::next_line).
    ///
    /// While the rest of an over-long line is being discarded, its bytes are
    /// dropped here instead of being buffered.
    pub fn push(&mut self, mut bytes: &[u8]) {
        if self.discarding {
            match memchr::memchr(b'\n', bytes) {
                Some(i) => {
                    self.discarding = false;
                    bytes = &bytes[i + 1..];
                }
                None => return,
            }
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete line, without its terminator; `None` when no
    /// complete line is buffered.
    ///
    /// Returns `Some(Err(LineError::TooLong { .. }))` once for each
    /// over-long line, and goes on with the line after it on the next call.
    pub fn next_line(&mut self) -> Option<Result<Bytes, LineError>> {
        loop {
            let Some(i) = memchr::memchr(b'\n', &self.buf[self.scanned..]) else {
                self.scanned = self.buf.len();
                if self.definitely_too_long(self.buf.len()) {
                    // The line cannot fit whatever follows: report it now
                    // and drop the rest of it as it comes.
                    self.buf.clear();
                    self.scanned = 0;
                    self.discarding = true;
                    return Some(Err(self.too_long()));
                }
                return None;
            };
            let end = self.scanned + i;
            let mut line = self.buf.split_to(end + 1);
            self.scanned = 0;
            line.truncate(end);
            if line.last() == Some(&b'\r') {
                line.truncate(end - 1);
            }
            if line.len() > self.max_line_len {
                return Some(Err(self.too_long()));
            }
            if !line.is_empty() {
                return Some(Ok(line.freeze()));
            }
        }
    }

    /// Ends the stream: returns what is still buffered, one line per call,
    /// then `None`.
    ///
    /// First any complete lines not yet taken (as
    /// [`next_line`](Self::next_line)), then the final line if the stream
    /// did not end with `\n` — it is still a message (one trailing `\r` is
    /// stripped from it too; an empty one is skipped). Once `finish` has
    /// returned `None`, the decoder is empty and can take a new stream.
    ///
    /// ```
    /// use wirestate_codec::LineDecoder;
    ///
    /// let mut dec = LineDecoder::new();
    /// dec.push(b"one\ntwo");
    /// let lines: Vec<_> = std::iter::from_fn(|| dec.finish()).collect();
    /// assert_eq!(lines, [Ok("one".into()), Ok("two".into())]);
    /// ```
    pub fn finish(&mut self) -> Option<Result<Bytes, LineError>> {
        if let Some(item) = self.next_line() {
            return Some(item);
        }
        // No `\n` left, and the rest is not too long (or it was reported).
        self.discarding = false;
        self.scanned = 0;
        let mut line = self.buf.split();
        if line.last() == Some(&b'\r') {
            line.truncate(line.len() - 1);
        }
        (!line.is_empty()).then(|| Ok(line.freeze()))
    }

    /// Whether an unterminated line of `n` bytes is too long whatever comes
    /// next: more than `max + 1` bytes, or `max + 1` not ending in a `\r`
    /// that a `\n` could turn into the terminator.
    fn definitely_too_long(&self, n: usize) -> bool {
        let max = self.max_line_len;
        n > max.saturating_add(1) || (n > max && self.buf.last() != Some(&b'\r'))
    }

    fn too_long(&self) -> LineError {
        LineError::TooLong {
            max: self.max_line_len,
        }
    }
}

impl Default for LineDecoder {
    fn default() -> Self {
        Self::new()
    }
}

/// Appends `msg` and a `\n` to `dst`: one line of a newline-delimited stream.
///
/// # Errors
///
/// [`LineError::LineBreak`] if `msg` contains `\n` or `\r`,
/// [`LineError::Empty`] if it is empty (a decoder would skip it as a
/// keep-alive). On error `dst` is left as it was.
///
/// ```
/// use bytes::BytesMut;
/// use wirestate_codec::{LineError, encode_line};
///
/// let mut dst = BytesMut::new();
/// encode_line(br#"{"jsonrpc":"2.0","method":"ping"}"#, &mut dst).unwrap();
/// assert_eq!(&dst[..], b"{\"jsonrpc\":\"2.0\",\"method\":\"ping\"}\n");
/// assert_eq!(encode_line(b"two\nlines", &mut dst), Err(LineError::LineBreak));
/// ```
pub fn encode_line(msg: &[u8], dst: &mut BytesMut) -> Result<(), LineError> {
    if msg.is_empty() {
        return Err(LineError::Empty);
    }
    if memchr::memchr2(b'\n', b'\r', msg).is_some() {
        return Err(LineError::LineBreak);
    }
    dst.reserve(msg.len() + 1);
    dst.extend_from_slice(msg);
    dst.extend_from_slice(b"\n");
    Ok(())
}
