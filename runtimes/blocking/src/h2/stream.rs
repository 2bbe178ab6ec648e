//! One stream's state, shared by the connection thread and the thread that
//! reads its incoming body and writes its outgoing one (a server's handler
//! worker, a client's caller and uploader).
//!
//! Everything here is bounded: the incoming queue by the stream's receive
//! window (credit goes back only as the reader takes data), the outgoing
//! queue by [`OUT_LIMIT`] (the writer blocks above it until the connection
//! thread sends as the peer's windows allow).

use super::conn::Inbox;
use crate::body::Step;
use bytes::Bytes;
use http::{HeaderMap, response};
use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use wirestate_h2::frame::ErrorCode;

/// Outgoing body bytes queued for the connection thread before the writer
/// waits (one chunk may pass it: a writer is never refused a chunk while
/// the queue is below the limit).
pub(crate) const OUT_LIMIT: usize = 64 * 1024;

/// Why a stream is over for the thread that reads or writes it.
#[derive(Debug, Clone)]
pub(crate) enum Dead {
    /// Never sent (the connection was ending, or a limit): safe to retry.
    Unprocessed,
    /// Above the last stream id of the peer's GOAWAY: not processed, safe
    /// to retry.
    AboveGoAway,
    /// The peer reset it with this code.
    Reset(ErrorCode),
    /// This side reset it: the response's header section was over the
    /// header list size limit.
    HeadersTooLarge,
    /// The connection failed with this HTTP/2 error.
    H2(wirestate_h2::connection::Error),
    /// The connection ended (transport closed or failed).
    Closed,
    /// The request cannot be sent (a usage error of the machine).
    Invalid(String),
    /// Finished (or abandoned) by this side.
    Done,
    /// This side reset it: its outgoing body failed.
    BodyFailed,
}

impl Dead {
    pub(crate) fn to_error(&self) -> crate::Error {
        match self {
            Dead::Unprocessed => crate::Error::Aborted { sent: false },
            Dead::AboveGoAway => crate::Error::Refused { goaway: true },
            Dead::Reset(ErrorCode::REFUSED_STREAM) => crate::Error::Refused { goaway: false },
            Dead::Reset(code) => crate::Error::Reset(*code),
            Dead::HeadersTooLarge => crate::Error::HeadersTooLarge,
            Dead::H2(e) => crate::Error::H2(e.clone()),
            Dead::Closed | Dead::Done | Dead::BodyFailed => crate::Error::Aborted { sent: true },
            Dead::Invalid(msg) => crate::Error::InvalidRequest(msg.clone()),
        }
    }

    fn to_io(&self) -> io::Error {
        match self {
            Dead::Reset(code) => io::Error::new(
                io::ErrorKind::ConnectionReset,
                format!("stream reset ({code})"),
            ),
            Dead::H2(e) => io::Error::new(io::ErrorKind::InvalidData, e.clone()),
            Dead::HeadersTooLarge => io::Error::new(io::ErrorKind::InvalidData, self.to_error()),
            Dead::Done => io::Error::other("the stream is finished"),
            Dead::BodyFailed => io::Error::other("the request body failed; stream reset"),
            Dead::AboveGoAway => io::Error::new(io::ErrorKind::ConnectionAborted, self.to_error()),
            _ => io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before the stream ended",
            ),
        }
    }
}

/// What both sides of a stream see, behind [`Shared`]'s mutex.
#[derive(Default)]
pub(crate) struct State {
    // ---- incoming body: the request on a server, the response on a client ----
    /// Received data not yet read.
    pub in_queue: VecDeque<Bytes>,
    /// The incoming body ended, with these trailers.
    pub in_end: Option<Option<HeaderMap>>,
    /// Bytes the reader took and the connection has not yet given back as
    /// flow-control credit.
    pub consumed: usize,
    /// The reader dropped the body: whatever arrives is released at once.
    pub in_dropped: bool,
    /// Servers: the peer holds the body back until a 100 (Continue)
    /// (`Expect: 100-continue`), and the reader has not asked for it yet.
    pub expects_continue: bool,
    /// Servers: the reader waits for a body held back behind
    /// `Expect: 100-continue`; the connection thread sends the 100.
    pub wants_continue: bool,
    // ---- the response head: from the handler (server), or from the peer (client) ----
    /// The head, and whether no body follows.
    pub head: Option<(response::Parts, bool)>,
    // ---- outgoing body: the response on a server, the request on a client ----
    pub out_queue: VecDeque<Bytes>,
    pub out_bytes: usize,
    /// The writer finished, with these trailers.
    pub out_end: Option<Option<HeaderMap>>,
    /// The writer's body failed: the stream is reset.
    pub out_failed: bool,
    /// The local side gave up (a client timed out waiting for the head).
    pub cancelled: bool,
    /// The stream is over: reads and writes past the queued data fail.
    pub dead: Option<Dead>,
}

/// A stream's shared state and the means to wake either side.
pub(crate) struct Shared {
    key: u64,
    inbox: Arc<Inbox>,
    state: Mutex<State>,
    /// The reader/writer thread waits on this.
    cond: Condvar,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("h2::Stream")
            .field("key", &self.key)
            .finish()
    }
}

/// The time left until `deadline`, or `None` (the wait ends) once it passed.
fn left(deadline: Option<Instant>) -> Option<Option<Duration>> {
    match deadline {
        None => Some(None),
        Some(d) => {
            let now = Instant::now();
            (d > now).then(|| Some(d - now))
        }
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("timed out {what}"))
}

impl Shared {
    pub(crate) fn new(key: u64, inbox: Arc<Inbox>) -> Arc<Shared> {
        Arc::new(Shared {
            key,
            inbox,
            state: Mutex::default(),
            cond: Condvar::new(),
        })
    }

    /// The state, for the connection thread (which wakes the other side
    /// with [`wake`](Self::wake) after a change).
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes the thread waiting on this stream.
    pub(crate) fn wake(&self) {
        self.cond.notify_all();
    }

    /// Asks the connection thread to look at this stream.
    fn notify(&self) {
        self.inbox.ready(self.key);
    }

    /// Asks the connection thread to look at this stream (after a change
    /// made through [`lock`](Self::lock) outside this module).
    pub(crate) fn notify_connection(&self) {
        self.notify();
    }

    /// Marks the stream over (keeping the first reason) and wakes its side.
    pub(crate) fn kill(&self, why: Dead) {
        let mut st = self.lock();
        if st.dead.is_none() {
            st.dead = Some(why);
        }
        drop(st);
        self.wake();
    }

    /// Waits on the condition variable, until `deadline` at most. `false`
    /// once the deadline passed.
    fn wait<'a>(
        &self,
        st: MutexGuard<'a, State>,
        deadline: Option<Instant>,
    ) -> (MutexGuard<'a, State>, bool) {
        match left(deadline) {
            None => (st, false),
            Some(None) => (self.cond.wait(st).unwrap_or_else(|e| e.into_inner()), true),
            Some(Some(d)) => {
                let (st, _) = self
                    .cond
                    .wait_timeout(st, d)
                    .unwrap_or_else(|e| e.into_inner());
                (st, true)
            }
        }
    }

    // ---- the reading side ----

    /// The next piece of the incoming body (blocking); the credit for it
    /// goes back to the peer.
    fn read(&self, deadline: Option<Instant>) -> io::Result<Step> {
        let mut st = self.lock();
        if st.expects_continue && st.in_queue.is_empty() && st.in_end.is_none() {
            // The peer sends nothing until told to: ask the connection
            // thread for the 100 (Continue) before waiting.
            st.expects_continue = false;
            st.wants_continue = true;
            drop(st);
            self.notify();
            st = self.lock();
        }
        loop {
            if let Some(chunk) = st.in_queue.pop_front() {
                st.consumed += chunk.len();
                drop(st);
                self.notify();
                return Ok(Step::Data(chunk));
            }
            if let Some(end) = &st.in_end {
                return Ok(Step::End(end.clone()));
            }
            if let Some(dead) = &st.dead {
                return Err(dead.to_io());
            }
            let (guard, waited) = self.wait(st, deadline);
            st = guard;
            if !waited {
                return Err(timed_out("reading the body"));
            }
        }
    }

    fn drop_reader(&self) {
        self.lock().in_dropped = true;
        self.notify();
    }

    // ---- the writing side ----

    /// Queues an outgoing body chunk, waiting while [`OUT_LIMIT`] bytes are
    /// queued. Fails once the stream is over.
    pub(crate) fn push(&self, chunk: Bytes, deadline: Option<Instant>) -> io::Result<()> {
        let mut st = self.lock();
        loop {
            if let Some(dead) = &st.dead {
                return Err(dead.to_io());
            }
            if st.out_bytes < OUT_LIMIT {
                break;
            }
            let (guard, waited) = self.wait(st, deadline);
            st = guard;
            if !waited {
                return Err(timed_out("sending the body"));
            }
        }
        st.out_bytes += chunk.len();
        st.out_queue.push_back(chunk);
        drop(st);
        self.notify();
        Ok(())
    }

    /// Queues chunks the caller holds in memory anyway, without waiting
    /// for room. Fails once the stream is over.
    pub(crate) fn push_held(&self, chunks: &[Bytes]) -> io::Result<()> {
        let mut st = self.lock();
        if let Some(dead) = &st.dead {
            return Err(dead.to_io());
        }
        for chunk in chunks {
            st.out_bytes += chunk.len();
            st.out_queue.push_back(chunk.clone());
        }
        drop(st);
        self.notify();
        Ok(())
    }

    /// Queues a whole body already in memory, without waiting.
    pub(crate) fn push_all(&self, chunks: Vec<Bytes>) {
        let mut st = self.lock();
        for chunk in chunks {
            st.out_bytes += chunk.len();
            st.out_queue.push_back(chunk);
        }
        st.out_end = Some(None);
    }

    /// The outgoing body ended (with trailers).
    pub(crate) fn finish_out(&self, trailers: Option<HeaderMap>) {
        self.lock().out_end = Some(trailers);
        self.notify();
    }

    /// The outgoing body (or the handler) failed: the stream is reset.
    pub(crate) fn fail_out(&self) {
        self.lock().out_failed = true;
        self.notify();
    }

    /// Server handlers: the response head, and whether no body follows.
    pub(crate) fn set_head(&self, head: response::Parts, end: bool) {
        self.lock().head = Some((head, end));
        self.notify();
    }

    // ---- clients ----

    /// Waits for the response head.
    pub(crate) fn wait_head(
        &self,
        deadline: Option<Instant>,
    ) -> Result<(response::Parts, bool), crate::Error> {
        let mut st = self.lock();
        loop {
            if let Some(head) = st.head.take() {
                return Ok(head);
            }
            if let Some(dead) = &st.dead {
                return Err(dead.to_error());
            }
            let (guard, waited) = self.wait(st, deadline);
            st = guard;
            if !waited {
                st.cancelled = true;
                drop(st);
                self.notify();
                return Err(crate::Error::Timeout);
            }
        }
    }
}

/// An incoming body read through `reader`, framed as `headers` say: with
/// its Content-Length (which the machine checks against the DATA it
/// receives), or streamed to its end.
pub(crate) fn incoming_body(headers: &http::HeaderMap, reader: Reader) -> crate::BlockingBody {
    let kind = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(
            wirestate_http1::BodyKind::Chunked,
            wirestate_http1::BodyKind::Length,
        );
    crate::BlockingBody::new(crate::body::Source::H2(reader), kind)
}

/// The incoming body's reader end: what a [`BlockingBody`](crate::BlockingBody)
/// reads an HTTP/2 stream through. Dropping it before the end lets the
/// connection thread release (or reset) the rest.
pub(crate) struct Reader {
    shared: Arc<Shared>,
    io_timeout: Option<Duration>,
    /// No read waits past this (a gRPC call's deadline), whatever
    /// `io_timeout` allows.
    deadline: Option<Instant>,
    done: bool,
}

impl Reader {
    pub(crate) fn new(shared: Arc<Shared>, io_timeout: Option<Duration>) -> Reader {
        Reader {
            shared,
            io_timeout,
            deadline: None,
            done: false,
        }
    }

    /// A reader whose reads also end at `deadline` (`TimedOut`).
    pub(crate) fn with_deadline(mut self, deadline: Option<Instant>) -> Reader {
        self.deadline = deadline;
        self
    }

    /// Sets the deadline of [`with_deadline`](Self::with_deadline) later.
    pub(crate) fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// Whether the stream was cut off: reset (by the peer, or here for an
    /// oversized header section), or its connection failed or closed (not
    /// merely finished).
    pub(crate) fn is_aborted(&self) -> bool {
        matches!(
            self.shared.lock().dead,
            Some(Dead::Reset(_) | Dead::HeadersTooLarge | Dead::H2(_) | Dead::Closed)
        )
    }

    pub(crate) fn next(&mut self) -> io::Result<Step> {
        let io_deadline = self.io_timeout.map(|t| Instant::now() + t);
        let deadline = match (io_deadline, self.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let step = self.shared.read(deadline)?;
        if matches!(step, Step::End(_)) {
            self.done = true;
        }
        Ok(step)
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if !self.done {
            self.shared.drop_reader();
        }
    }
}
