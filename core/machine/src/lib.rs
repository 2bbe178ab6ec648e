//! The contract every wirestate protocol machine follows, and the few helpers
//! they all need.
//!
//! A machine is a value that turns input bytes into events and output bytes.
//! It never touches a socket, a clock, a random generator or a thread: the
//! caller feeds it bytes and the current time, and drains what it produced.
//!
//! ```
//! use std::time::Instant;
//! use wirestate_machine::{Machine, Transmit};
//!
//! /// Drive any machine over an in-memory input, collecting events and output.
//! fn run<M: Machine>(m: &mut M, input: &[u8]) -> (Vec<M::Event>, Vec<u8>) {
//!     let now = Instant::now(); // the caller owns the clock
//!     let _ = m.handle_input(now, input);
//!     let mut out = Vec::new();
//!     while let Some(t) = m.poll_transmit() {
//!         if let Transmit::Bytes(b) = t {
//!             out.extend_from_slice(&b);
//!         }
//!     }
//!     let events = std::iter::from_fn(|| m.poll_event()).collect();
//!     (events, out)
//! }
//! ```
//!
//! # Conventions
//!
//! * Inputs are `handle_*`, outputs `poll_*` (each drained until `None`),
//!   commands are plain verbs, queries are `is_*` / `wants_*` / `can_*`.
//! * Every input carries `now`. After `handle_timeout(now)`, `poll_timeout()`
//!   is `None` or later than `now`.
//! * Events and transmits drain independently.
//! * Errors are classified by [`ErrorKind`] and say what to send back through
//!   [`ClassifyError::hint`].

#![forbid(unsafe_code)]

mod clock;
mod rx;
mod timer;
mod tx;

pub use clock::MonotonicClock;
pub use rx::{RecvBuf, RecvBufFull};
pub use timer::TimerTable;
pub use tx::{TxMark, TxQueue};

use bytes::Bytes;
use std::time::Instant;

/// One unit of output for the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// Bytes to write, in order.
    Bytes(Bytes),
    /// Half-close the write side once everything queued before it is written.
    Shutdown,
}

/// A sans-IO connection: bytes and time in, events and bytes out.
///
/// See the crate documentation for the calling conventions. A driver loop
/// repeats: write everything from [`poll_transmit`](Machine::poll_transmit),
/// read while [`wants_read`](Machine::wants_read), call
/// [`handle_timeout`](Machine::handle_timeout) when
/// [`poll_timeout`](Machine::poll_timeout) is due, and dispatch
/// [`poll_event`](Machine::poll_event) — until [`is_closed`](Machine::is_closed).
///
/// What a loop of your own needs to know besides (the order above is the
/// one that works for every machine):
///
/// * **Drain after everything.** Inputs, timeouts *and commands* (a
///   response sent, a message queued, a stream reset) queue output and may
///   move the next deadline: poll transmits and ask
///   [`poll_timeout`](Machine::poll_timeout) again after each turn, not
///   only after reading. Sleep until the earliest deadline of all your
///   machines (and of your own timers); a virtual clock works the same.
/// * **Errors.** After [`handle_input`](Machine::handle_input) or
///   [`handle_eof`](Machine::handle_eof) fails, keep writing what
///   [`poll_transmit`](Machine::poll_transmit) gives: the farewell (an
///   error response, a close frame, a GOAWAY) and then
///   [`Transmit::Shutdown`]. Most machines also report the error as an
///   event, after the events before it (an HTTP/2 `Event::Error`, a
///   WebSocket `Event::Error`); do not rely on that alone — a WebSocket
///   `ClientUpgrade` whose handshake is refused (a 404 instead of 101)
///   reports it only as the returned error.
/// * **Closing.** [`Transmit::Shutdown`] means: half-close the write side
///   once everything before it is written (keep reading: the peer may
///   still answer). Once [`is_closed`](Machine::is_closed) is true and
///   your own write buffer is empty, close the socket.
/// * **Time.** `now` may come from any monotonic clock, a virtual one
///   included. Never pass a `now` earlier than one already passed: the
///   HTTP/1.1 and JSON-RPC machines clamp it ([`MonotonicClock`]), not
///   every machine does.
pub trait Machine {
    /// What the machine reports to the application.
    type Event;
    /// Why input was refused.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Feeds bytes read from the peer.
    ///
    /// A protocol error is sticky: the machine queues its farewell (an error
    /// response, a close frame, a GOAWAY) and stops reading. Events that were
    /// already produced still drain.
    fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> Result<(), Self::Error>;
    /// Reports that the peer closed its write side.
    fn handle_eof(&mut self, now: Instant) -> Result<(), Self::Error>;
    /// Fires every timer due at or before `now`. A spurious call is harmless.
    fn handle_timeout(&mut self, now: Instant);
    /// The next chunk of output, or `None` when nothing is queued.
    fn poll_transmit(&mut self) -> Option<Transmit>;
    /// The next event, or `None` when nothing is queued.
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// The earliest instant at which [`handle_timeout`](Machine::handle_timeout) has work.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Whether the machine can take more input now. False while paused,
    /// while its buffers are full, or once the read side is finished.
    fn wants_read(&self) -> bool;
    /// Terminal, with nothing left to transmit.
    fn is_closed(&self) -> bool;
}

/// A source of randomness, passed in like time (WebSocket masks and keys,
/// session ids). Implementations live outside the core.
pub trait Entropy {
    /// Fills `buf` with random bytes.
    fn fill(&mut self, buf: &mut [u8]);
}

impl<F: FnMut(&mut [u8])> Entropy for F {
    fn fill(&mut self, buf: &mut [u8]) {
        self(buf)
    }
}

/// Whose fault an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The peer broke the protocol. Sticky: the machine queued the right
    /// farewell and will close.
    Protocol,
    /// The caller misused the API. Nothing changed; the call can be corrected.
    Usage,
    /// A configured bound was exceeded (by the peer or the caller). Treated
    /// like a protocol error when it came from input.
    Limit,
}

/// What every protocol crate's error type offers: whose fault it is and what
/// to send back.
pub trait ClassifyError {
    /// The protocol's reply vocabulary: an HTTP status, a close code, an
    /// HTTP/2 error code, a JSON-RPC error code.
    type Hint;
    /// Whose fault the error is.
    fn kind(&self) -> ErrorKind;
    /// What to send to the peer, if anything.
    fn hint(&self) -> Option<Self::Hint>;
}
