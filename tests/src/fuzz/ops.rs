//! Pieces shared by the two connection targets: how input is split, the
//! configuration choices, the wire and the virtual clock.

use arbitrary::Arbitrary;
use bytes::Bytes;
use std::time::{Duration, Instant};
use wirestate_http1::{BodySize, Limits};

/// Most ops run per input; the rest of the program is ignored.
pub(crate) const MAX_OPS: usize = 256;

/// How a run of bytes is cut into the pieces handed to `handle_input`.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// One piece.
    Whole,
    /// Pieces of this many bytes (0 counts as 1).
    Fixed(u8),
    /// Pieces whose sizes cycle through these (0 counts as 1).
    Pattern([u8; 4]),
}

impl Split {
    /// Cuts `data` into pieces.
    pub fn pieces<'a>(&self, data: &'a [u8]) -> Vec<&'a [u8]> {
        let mut out = Vec::new();
        let mut rest = data;
        let mut i = 0;
        while !rest.is_empty() {
            let n = match *self {
                Split::Whole => rest.len(),
                Split::Fixed(n) => usize::from(n.max(1)),
                Split::Pattern(p) => usize::from(p[i % 4].max(1)),
            };
            let (piece, tail) = rest.split_at(n.min(rest.len()));
            out.push(piece);
            rest = tail;
            i += 1;
        }
        out
    }
}

/// How an outgoing body is framed.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyChoice {
    /// No body.
    Empty,
    /// `Content-Length` of this many bytes.
    Exact(u16),
    /// Chunked (close-delimited to an HTTP/1.0 peer).
    Streaming,
}

impl BodyChoice {
    pub(crate) fn size(self) -> BodySize {
        match self {
            BodyChoice::Empty => BodySize::Empty,
            BodyChoice::Exact(n) => BodySize::Exact(u64::from(n)),
            BodyChoice::Streaming => BodySize::Streaming,
        }
    }
}

/// A byte limit of the configuration.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeChoice {
    /// The default.
    Default,
    /// A tiny limit, 0 to 255 bytes.
    Tiny(u8),
    /// A limit of up to 64 KiB.
    Small(u16),
}

impl SizeChoice {
    pub(crate) fn apply(self, default: usize) -> usize {
        match self {
            SizeChoice::Default => default,
            SizeChoice::Tiny(n) => usize::from(n),
            SizeChoice::Small(n) => usize::from(n),
        }
    }
}

/// A timeout of the configuration.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutChoice {
    /// The default.
    Default,
    /// No timeout.
    Off,
    /// This many milliseconds (0 included).
    Millis(u16),
}

impl TimeoutChoice {
    pub(crate) fn apply(self, default: Option<Duration>) -> Option<Duration> {
        match self {
            TimeoutChoice::Default => default,
            TimeoutChoice::Off => None,
            TimeoutChoice::Millis(ms) => Some(Duration::from_millis(u64::from(ms))),
        }
    }
}

/// Size limits for parsing.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitsChoice {
    /// [`Limits::default`].
    Default,
    /// Small limits, to reach every limit error (0 allowed everywhere).
    Small {
        /// `max_request_line`.
        request_line: u8,
        /// `max_head_bytes`.
        head: u16,
        /// `max_headers`.
        headers: u8,
        /// `max_chunk_line`.
        chunk_line: u8,
        /// `max_trailer_bytes`.
        trailer: u8,
        /// `max_body_bytes`.
        body: Option<u16>,
    },
}

impl LimitsChoice {
    pub(crate) fn limits(self) -> Limits {
        let mut limits = Limits::default();
        if let LimitsChoice::Small {
            request_line,
            head,
            headers,
            chunk_line,
            trailer,
            body,
        } = self
        {
            limits.max_request_line = usize::from(request_line);
            limits.max_head_bytes = usize::from(head);
            limits.max_headers = usize::from(headers);
            limits.max_chunk_line = usize::from(chunk_line);
            limits.max_trailer_bytes = usize::from(trailer);
            limits.max_body_bytes = body.map(u64::from);
        }
        limits
    }
}

/// Splits a connection target's input into program and wire.
pub(crate) fn split_input(data: &[u8]) -> (&[u8], &[u8]) {
    match data {
        [a, b, rest @ ..] => {
            let n = usize::from(u16::from_le_bytes([*a, *b])).min(rest.len());
            rest.split_at(n)
        }
        _ => (&[], &[]),
    }
}

/// The peer's bytes, handed out in order.
pub(crate) struct Wire<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Wire<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// The next `len` bytes (all that is left when `len` is 0), not yet taken.
    pub(crate) fn peek(&self, len: u16) -> &'a [u8] {
        let rest = &self.data[self.pos..];
        match usize::from(len) {
            0 => rest,
            n => &rest[..n.min(rest.len())],
        }
    }

    pub(crate) fn advance(&mut self, n: usize) {
        self.pos += n;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }
}

/// The virtual clock of one run.
pub(crate) struct Clock {
    pub(crate) now: Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Self {
            now: Instant::now(),
        }
    }

    pub(crate) fn advance(&mut self, millis: u16) {
        self.now += Duration::from_millis(u64::from(millis));
    }
}

/// A `Time(n)` op of a connection model: moves `clock` by `n * 10` ms and
/// fires `machine`'s due timers, after which none may be due.
pub(crate) fn tick<M: wirestate_machine::Machine>(machine: &mut M, clock: &mut Clock, n: u16) {
    clock.advance(n.saturating_mul(10));
    machine.handle_timeout(clock.now);
    if let Some(t) = machine.poll_timeout() {
        assert!(t > clock.now, "a due timer left after handle_timeout");
    }
}

/// A body payload of `len % 3000` bytes (past the 1 KiB copy threshold of
/// the transmit queue).
pub(crate) fn payload(len: u16) -> Bytes {
    let n = usize::from(len) % 3000;
    Bytes::from((0..n).map(|i| b'a' + (i % 26) as u8).collect::<Vec<u8>>())
}

/// Output and event volume of one run, checked against what went in.
#[derive(Default)]
pub(crate) struct Tally {
    /// Bytes fed to the machine.
    pub(crate) fed: usize,
    /// Ops run.
    pub(crate) ops: usize,
    /// Body bytes the application handed to the machine.
    pub(crate) app_bytes: usize,
    /// Heads the application sent successfully.
    pub(crate) heads: usize,
    /// Events drained.
    pub(crate) events: usize,
    /// Bytes transmitted.
    pub(crate) transmitted: usize,
}

impl Tally {
    /// Events and output stay proportional to input and commands: no
    /// queue grows on its own.
    pub(crate) fn check(&self) {
        let event_budget = 2 * self.fed + 8 * self.ops + 16;
        assert!(
            self.events <= event_budget,
            "{} events for {} input bytes and {} ops",
            self.events,
            self.fed,
            self.ops
        );
        let tx_budget = self.app_bytes + 512 * (self.ops + self.heads) + 1024;
        assert!(
            self.transmitted <= tx_budget,
            "{} bytes transmitted for {} body bytes, {} heads and {} ops",
            self.transmitted,
            self.app_bytes,
            self.heads,
            self.ops
        );
    }
}
