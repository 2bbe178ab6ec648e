//! Server-sent events (`text/event-stream`), as the WHATWG HTML standard
//! interprets an event stream: MCP's Streamable HTTP transport, and any
//! EventSource peer.
//!
//! [`encode_event`] and [`encode_comment`] write events; [`SseDecoder`]
//! reads them back.

use bytes::{Buf, BytesMut};

/// One server-sent event.
///
/// Text fields are `String`s: the event stream is UTF-8 by definition
/// (the decoder replaces invalid sequences with U+FFFD, as the standard
/// says), and an event's data is assembled from its `data:` lines joined
/// with `\n`, so it is built anew anyway.
///
/// The fields describe one event *block* of the stream — what this event
/// said — not the state of the connection: [`SseDecoder::last_event_id`]
/// and [`SseDecoder::retry`] keep the latest values across events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SseEvent {
    /// The `id:` field of this event, if it had one (the last one, if it had
    /// several). `Some("")` resets the receiver's last event ID.
    ///
    /// The standard's `lastEventId` of a received event is the last ID seen
    /// on the stream, in this event or an earlier one:
    /// [`SseDecoder::last_event_id`] right after the event was returned.
    pub id: Option<String>,
    /// The event type (`event:`); `None` means the default, `"message"`.
    /// The decoder reports an empty type as `None`.
    pub event: Option<String>,
    /// The data: the event's `data:` lines joined with `\n`. Encoded as one
    /// `data:` line per line of the data, split at `\n`, `\r\n` and `\r` (so
    /// a `\r\n` or `\r` in the data arrives as `\n`).
    pub data: String,
    /// The reconnection time in milliseconds (`retry:`), if this event set
    /// one.
    pub retry: Option<u64>,
}

impl SseEvent {
    /// An event of the default type with `data` and no other field.
    ///
    /// ```
    /// use wirestate_codec::SseEvent;
    ///
    /// let ev = SseEvent::new("hello");
    /// assert_eq!(ev.data, "hello");
    /// assert_eq!(ev.event_type(), "message");
    /// ```
    pub fn new(data: impl Into<String>) -> Self {
        Self {
            data: data.into(),
            ..Self::default()
        }
    }

    /// Sets the `id:` field.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the event type (`event:`).
    pub fn with_event(mut self, event: impl Into<String>) -> Self {
        self.event = Some(event.into());
        self
    }

    /// Sets the reconnection time in milliseconds (`retry:`).
    pub fn with_retry(mut self, millis: u64) -> Self {
        self.retry = Some(millis);
        self
    }

    /// The event type: [`event`](Self::event), or `"message"` if it is
    /// `None` or empty.
    pub fn event_type(&self) -> &str {
        match self.event.as_deref() {
            None | Some("") => "message",
            Some(t) => t,
        }
    }
}

/// An event stream could not be decoded, or an event could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SseError {
    /// Decoding: a line is longer than the decoder's `max_line_len` (its
    /// terminator not counted). Reported as soon as the limit is exceeded;
    /// the event it is part of is discarded. A limit, and the sender's fault.
    #[error("event stream line longer than the limit of {max} bytes")]
    LineTooLong {
        /// The configured maximum line length.
        max: usize,
    },
    /// Decoding: an event's data grew longer than the decoder's
    /// `max_event_len`. Reported at the end of the `data:` line that crossed
    /// the limit; the event is discarded. A limit, and the sender's fault.
    #[error("event data longer than the limit of {max} bytes")]
    EventTooLong {
        /// The configured maximum data length.
        max: usize,
    },
    /// Encoding: the event ID contains `\n`, `\r` or NUL (a receiver would
    /// split or ignore it). Nothing was written.
    #[error("event id contains a line break or NUL")]
    InvalidId,
    /// Encoding: the event type contains `\n` or `\r`. Nothing was written.
    #[error("event type contains a line break")]
    InvalidEventType,
}

/// Appends `event` to `dst` as an event block: `id:`, `event:` and `retry:`
/// lines for the fields that are set, one `data:` line per line of the data
/// (split at `\n`, `\r\n` and `\r`; at least one, so the event is always
/// dispatched, even with empty data), and the blank line that ends the
/// event. Lines end with `\n`.
///
/// # Errors
///
/// [`SseError::InvalidId`] if the ID contains `\n`, `\r` or NUL,
/// [`SseError::InvalidEventType`] if the type contains `\n` or `\r`. On
/// error `dst` is left as it was.
///
/// ```
/// use bytes::BytesMut;
/// use wirestate_codec::{SseEvent, encode_event};
///
/// let mut dst = BytesMut::new();
/// let ev = SseEvent::new("line one\nline two").with_id("7").with_event("update");
/// encode_event(&ev, &mut dst).unwrap();
/// assert_eq!(
///     &dst[..],
///     b"id: 7\nevent: update\ndata: line one\ndata: line two\n\n"
/// );
/// ```
pub fn encode_event(event: &SseEvent, dst: &mut BytesMut) -> Result<(), SseError> {
    if let Some(id) = &event.id {
        if memchr::memchr3(b'\n', b'\r', 0, id.as_bytes()).is_some() {
            return Err(SseError::InvalidId);
        }
    }
    if let Some(ty) = &event.event {
        if memchr::memchr2(b'\n', b'\r', ty.as_bytes()).is_some() {
            return Err(SseError::InvalidEventType);
        }
    }
    if let Some(id) = &event.id {
        put_field(dst, "id", id);
    }
    if let Some(ty) = &event.event {
        put_field(dst, "event", ty);
    }
    if let Some(retry) = event.retry {
        put_field(dst, "retry", &retry.to_string());
    }
    for line in split_lines(&event.data) {
        put_field(dst, "data", line);
    }
    dst.extend_from_slice(b"\n");
    Ok(())
}

/// Appends a comment to `dst`: `: text`, one comment line per line of
/// `text` (split at `\n`, `\r\n` and `\r`).
///
/// Receivers ignore comments; servers send them as keep-alives. A comment
/// is not an event and ends no event: it may go between events or inside
/// one.
///
/// ```
/// use bytes::BytesMut;
/// use wirestate_codec::encode_comment;
///
/// let mut dst = BytesMut::new();
/// encode_comment("keep-alive", &mut dst);
/// assert_eq!(&dst[..], b": keep-alive\n");
/// ```
pub fn encode_comment(text: &str, dst: &mut BytesMut) {
    for line in split_lines(text) {
        put_field(dst, "", line);
    }
}

/// Writes `name: value\n`, or `name:\n` for an empty value.
fn put_field(dst: &mut BytesMut, name: &str, value: &str) {
    dst.reserve(name.len() + value.len() + 3);
    dst.extend_from_slice(name.as_bytes());
    if value.is_empty() {
        dst.extend_from_slice(b":\n");
    } else {
        dst.extend_from_slice(b": ");
        dst.extend_from_slice(value.as_bytes());
        dst.extend_from_slice(b"\n");
    }
}

/// The lines of `text`, split at `\n`, `\r\n` and `\r`; an empty text, or
/// a text ending in a line break, has an empty last line.
fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let s = rest?;
        match memchr::memchr2(b'\n', b'\r', s.as_bytes()) {
            Some(i) => {
                let skip = if s[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&s[i + skip..]);
                Some(&s[..i])
            }
            None => {
                rest = None;
                Some(s)
            }
        }
    })
}

/// The UTF-8 byte order mark, stripped once at the start of a stream.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Decodes an event stream into [`SseEvent`]s, as the WHATWG HTML standard
/// interprets one ("Interpreting an event stream").
///
/// Feed bytes with [`push`](Self::push), take events with
/// [`next_event`](Self::next_event) until it returns `None`, and at the end
/// of the stream call [`finish`](Self::finish) until it returns `None`.
///
/// The rules, from the standard:
///
/// * One UTF-8 byte order mark at the start of the stream is skipped. The
///   text is UTF-8; invalid sequences become U+FFFD.
/// * Lines end with `\r\n`, `\n` or `\r`. A `\r` ends its line at once; a
///   `\n` right after it (in the same push or the next) is part of the same
///   terminator.
/// * A line starting with `:` is a comment and is ignored (keep-alives).
/// * Otherwise the field name is the line up to the first `:`, and the value
///   the rest, with one leading space removed; a line without `:` is a field
///   with an empty value. `data` appends the value and a `\n` to the data;
///   `event` sets the type; `id` sets the event ID unless the value contains
///   NUL; `retry` sets the reconnection time if the value is all ASCII
///   digits (and fits a `u64`); other fields are ignored. Names are
///   case-sensitive.
/// * A blank line dispatches the event: with no `data` line the event is not
///   dispatched (but its `id` still becomes the last event ID); otherwise
///   the data loses its final `\n` and the event is returned.
/// * At the end of the stream an unfinished event is discarded.
///
/// [`last_event_id`](Self::last_event_id) is the ID to resume from (the
/// `Last-Event-ID` header of a reconnection): it persists across events, and
/// is updated when an event block ends, dispatched or not.
/// [`retry`](Self::retry) is the latest valid `retry:` value, which takes
/// effect as soon as its line is read.
///
/// # Limits
///
/// A line longer than [`max_line_len`](Self::max_line_len) bytes (terminator
/// not counted) yields [`SseError::LineTooLong`] as soon as the limit is
/// exceeded; an event whose data would grow past
/// [`max_event_len`](Self::max_event_len) bytes yields
/// [`SseError::EventTooLong`] at the end of the offending `data:` line. Either
/// way that event is discarded: the rest of the long line is dropped as it
/// arrives, the event's lines up to its blank line are ignored (its `id` does
/// not become the last event ID; a `retry` read before the error has taken
/// effect), nothing further is reported for it, and decoding goes on with the
/// next event. Once [`next_event`](Self::next_event) has returned `None`, the
/// decoder holds at most `max(max_line_len, 2)` bytes of input and
/// `max_event_len` bytes of data (plus an ID and a type, each from one line).
///
/// Decoding does not depend on how the input is chunked: feeding it whole,
/// byte by byte or in any pieces gives the same events and errors, each as
/// soon as its last byte has been pushed (with one exception: under a
/// `max_line_len` below 2, a too-long first line that starts like a byte
/// order mark is reported once the BOM is ruled out, up to two bytes later).
/// Each byte is scanned once.
///
/// # Example
///
/// ```
/// use wirestate_codec::{SseDecoder, SseEvent};
///
/// let mut dec = SseDecoder::new();
/// dec.push(b": keep-alive\r\nid: 1\r\nevent: note\r\ndata: a\r\ndata:b\r\n\r");
/// assert_eq!(
///     dec.next_event(),
///     Some(Ok(SseEvent::new("a\nb").with_id("1").with_event("note")))
/// );
/// dec.push(b"\nretry: 3000\ndata: partial");
/// assert_eq!(dec.next_event(), None);
/// assert_eq!(dec.last_event_id(), "1");
/// assert_eq!(dec.retry(), Some(3000));
/// assert_eq!(dec.finish(), None); // the unfinished event is discarded
/// ```
#[derive(Debug, Clone)]
pub struct SseDecoder {
    max_line_len: usize,
    max_event_len: usize,
    /// Unparsed input.
    buf: BytesMut,
    /// `buf[..scanned]` holds no `\r` or `\n`.
    scanned: usize,
    /// The start of the stream, where a BOM may still come.
    at_start: bool,
    /// The last line ended with `\r`: a `\n` next is part of its terminator.
    skip_lf: bool,
    /// Dropping the rest of an over-long line, up to its terminator.
    discard_line: bool,
    /// Ignoring the lines of a failed event, up to its blank line.
    discard_event: bool,
    /// The event being assembled.
    data: String,
    has_data: bool,
    event_type: String,
    block_id: Option<String>,
    block_retry: Option<u64>,
    /// Across events.
    last_event_id: String,
    retry: Option<u64>,
}

impl SseDecoder {
    /// The default [`max_event_len`](Self::max_event_len): 4 MiB.
    pub const DEFAULT_MAX_EVENT_LEN: usize = 4 * 1024 * 1024;
    /// The default [`max_line_len`](Self::max_line_len): 4 MiB.
    pub const DEFAULT_MAX_LINE_LEN: usize = 4 * 1024 * 1024;

    /// A decoder with the default limits.
    pub fn new() -> Self {
        Self {
            max_line_len: Self::DEFAULT_MAX_LINE_LEN,
            max_event_len: Self::DEFAULT_MAX_EVENT_LEN,
            buf: BytesMut::new(),
            scanned: 0,
            at_start: true,
            skip_lf: false,
            discard_line: false,
            discard_event: false,
            data: String::new(),
            has_data: false,
            event_type: String::new(),
            block_id: None,
            block_retry: None,
            last_event_id: String::new(),
            retry: None,
        }
    }

    /// Sets the longest line accepted, in bytes, not counting the terminator.
    pub fn with_max_line_len(mut self, max: usize) -> Self {
        self.max_line_len = max;
        self
    }

    /// Sets the longest event data accepted, in bytes (of the data as
    /// returned: its lines and the `\n`s joining them).
    pub fn with_max_event_len(mut self, max: usize) -> Self {
        self.max_event_len = max;
        self
    }

    /// The longest line accepted, in bytes, not counting the terminator.
    pub fn max_line_len(&self) -> usize {
        self.max_line_len
    }

    /// The longest event data accepted, in bytes.
    pub fn max_event_len(&self) -> usize {
        self.max_event_len
    }

    /// The last event ID: the value of the latest `id:` field of an event
    /// block that ended (dispatched or not), `""` if none. It persists
    /// across events and streams, for the `Last-Event-ID` header of a
    /// reconnection.
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// The reconnection time in milliseconds from the latest valid `retry:`
    /// field, if any. It persists across events and streams.
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// Bytes held: unparsed input plus the data of the event being
    /// assembled.
    pub fn buffered(&self) -> usize {
        self.buf.len() + self.data.len()
    }

    /// Appends input. Nothing is decoded until
    /// [`next_event`](Self::next_event).
    ///
    /// While the rest of an over-long line is being discarded, its bytes are
    /// dropped here instead of being buffered.
    pub fn push(&mut self, mut bytes: &[u8]) {
        if self.discard_line {
            // Only set with an empty buffer, which stays empty until the
            // line ends.
            match memchr::memchr2(b'\n', b'\r', bytes) {
                Some(i) => {
                    self.discard_line = false;
                    self.skip_lf = bytes[i] == b'\r';
                    bytes = &bytes[i + 1..];
                }
                None => return,
            }
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next dispatched event; `None` when no complete event is buffered.
    ///
    /// Returns `Some(Err(..))` once for an event that broke a limit, and
    /// goes on with the next event on the next call.
    pub fn next_event(&mut self) -> Option<Result<SseEvent, SseError>> {
        loop {
            if self.at_start {
                let n = self.buf.len().min(BOM.len());
                if self.buf[..n] != BOM[..n] {
                    self.at_start = false;
                } else if n == BOM.len() {
                    self.buf.advance(n);
                    self.at_start = false;
                } else {
                    // Empty, or a proper prefix of the BOM: wait.
                    return None;
                }
            }
            if self.skip_lf && !self.buf.is_empty() {
                self.skip_lf = false;
                if self.buf[0] == b'\n' {
                    self.buf.advance(1);
                }
            }
            let Some(i) = memchr::memchr2(b'\n', b'\r', &self.buf[self.scanned..]) else {
                self.scanned = self.buf.len();
                if self.buf.len() > self.max_line_len {
                    // The line cannot fit: drop the rest of it as it comes.
                    self.buf.clear();
                    self.scanned = 0;
                    self.discard_line = true;
                    if self.discard_event {
                        return None; // already reported for this event
                    }
                    return self.fail(SseError::LineTooLong {
                        max: self.max_line_len,
                    });
                }
                return None;
            };
            let end = self.scanned + i;
            self.scanned = 0;
            self.skip_lf = self.buf[end] == b'\r';
            let line = self.buf.split_to(end + 1);
            let line = &line[..end];
            if let Some(item) = self.line(line) {
                return Some(item);
            }
        }
    }

    /// Ends the stream: returns the events still buffered, one per call
    /// (as [`next_event`](Self::next_event)), then discards the unfinished
    /// event, if any, and returns `None`.
    ///
    /// The decoder is then ready for a new stream (a reconnection): a BOM
    /// may start it again, and [`last_event_id`](Self::last_event_id) and
    /// [`retry`](Self::retry) are kept.
    pub fn finish(&mut self) -> Option<Result<SseEvent, SseError>> {
        if self.at_start && !self.buf.is_empty() {
            // The stream ended inside what could have been a BOM: it was not.
            self.at_start = false;
        }
        if let Some(item) = self.next_event() {
            return Some(item);
        }
        self.buf.clear();
        self.scanned = 0;
        self.at_start = true;
        self.skip_lf = false;
        self.discard_line = false;
        self.discard_event = false;
        self.reset_event();
        None
    }

    /// Interprets one complete line (without its terminator).
    fn line(&mut self, line: &[u8]) -> Option<Result<SseEvent, SseError>> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.len() > self.max_line_len {
            if self.discard_event {
                return None;
            }
            return self.fail(SseError::LineTooLong {
                max: self.max_line_len,
            });
        }
        if self.discard_event || line[0] == b':' {
            return None;
        }
        let (name, value) = match memchr::memchr(b':', line) {
            Some(c) => {
                let value = &line[c + 1..];
                (&line[..c], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match name {
            b"data" => {
                let value = String::from_utf8_lossy(value);
                let len = self.data.len() + usize::from(self.has_data) + value.len();
                if len > self.max_event_len {
                    return self.fail(SseError::EventTooLong {
                        max: self.max_event_len,
                    });
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => {
                self.event_type = String::from_utf8_lossy(value).into_owned();
            }
            b"id" if memchr::memchr(0, value).is_none() => {
                self.block_id = Some(String::from_utf8_lossy(value).into_owned());
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                // All digits, so UTF-8; `None` if it overflows.
                if let Some(ms) = std::str::from_utf8(value)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                {
                    self.block_retry = Some(ms);
                    self.retry = Some(ms);
                }
            }
            _ => {}
        }
        None
    }

    /// A blank line: ends the event block.
    fn dispatch(&mut self) -> Option<Result<SseEvent, SseError>> {
        if self.discard_event {
            self.discard_event = false;
            self.reset_event();
            return None;
        }
        if let Some(id) = &self.block_id {
            self.last_event_id.clone_from(id);
        }
        if !self.has_data {
            self.reset_event();
            return None;
        }
        let event = SseEvent {
            id: self.block_id.take(),
            event: (!self.event_type.is_empty()).then(|| std::mem::take(&mut self.event_type)),
            data: std::mem::take(&mut self.data),
            retry: self.block_retry,
        };
        self.reset_event();
        Some(Ok(event))
    }

    /// Reports `err` and discards the event it belongs to.
    fn fail(&mut self, err: SseError) -> Option<Result<SseEvent, SseError>> {
        self.discard_event = true;
        self.reset_event();
        Some(Err(err))
    }

    fn reset_event(&mut self) {
        self.data.clear();
        self.has_data = false;
        self.event_type.clear();
        self.block_id = None;
        self.block_retry = None;
    }
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::new()
    }
}
