use crate::{Io, Runtime, Sleep};
use bytes::{Buf, Bytes};
use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use wirestate_machine::{Machine, Transmit};

/// The application side of a connection, run inside the [`Driver`]'s poll.
pub trait App<M: Machine> {
    /// Drains the machine's events, issues commands and polls the
    /// application's own futures. Returns whether anything changed.
    fn poll(&mut self, cx: &mut Context<'_>, machine: &mut M, now: Instant) -> bool;

    /// Whether the application has room for more input (its own buffers).
    fn wants_read(&self) -> bool {
        true
    }

    /// Told about an error `handle_input`/`handle_eof` returned. The machine
    /// has queued its farewell and reports the error as an event too.
    fn on_input_error(&mut self, error: &M::Error) {
        let _ = error;
    }

    /// Told when the transport failed; the driver ends after this.
    fn on_io_error(&mut self, error: &io::Error) {
        let _ = error;
    }

    /// When [`poll`](Self::poll) wants to run again even if nothing else
    /// happens (HTTP/2: a tiny piece of a body held back for more).
    fn wake_at(&self) -> Option<Instant> {
        None
    }
}

/// Most chunks handed to one vectored write.
const MAX_IOVECS: usize = 64;
/// Most bytes taken out of the machine's queue ahead of the socket: the
/// rest stays queued in the machine, where its high-water mark (and so
/// the application's back-pressure) can see it.
const MAX_OUT_BYTES: usize = 256 * 1024;
/// Most loop turns per poll before yielding to other tasks.
const MAX_TURNS: usize = 32;
/// Read buffer size: one per thread (below), so it can be large enough
/// that a burst (an HTTP/2 peer sending a 100 KB body at once) is taken
/// in a few reads, each followed by the machine's and the app's work and
/// one write, rather than in many 16 KiB rounds of all that.
const READ_BUF: usize = 64 * 1024;

thread_local! {
    /// The read buffer, one per thread rather than one per connection: the
    /// machine copies what it keeps during `handle_input`, within the same
    /// poll, so an idle connection holds no read buffer at all (10,000 idle
    /// WebSockets would otherwise pin 160 MB).
    static READ_BUF_TLS: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0; READ_BUF].into_boxed_slice());
}

/// Runs one machine over one byte stream, written once for every
/// [`Machine`]: each turn fires due timers, lets the [`App`] exchange with
/// the machine, writes queued transmits (vectored, many chunks per call),
/// and reads while the machine and the app both want input. Work per poll
/// is bounded; the future completes when the machine is closed and its
/// output is flushed.
///
/// Back-pressure runs end to end: a slow consumer (app or machine) stops
/// reads, and a slow peer leaves transmits queued, which the app sees as
/// the machine's send buffer filling up.
pub struct Driver<R: Runtime, M, I, A> {
    rt: R,
    machine: M,
    io: I,
    app: A,
    sleep: Option<Pin<Box<dyn Sleep>>>,
    sleep_at: Option<Instant>,
    out: VecDeque<Bytes>,
    /// Bytes in `out`.
    out_bytes: usize,
    shutdown_queued: bool,
    shutdown_done: bool,
    read_eof: bool,
    /// A read returned `Pending` during the current poll: the stream holds
    /// the task's waker and will wake it, so later turns of the same poll
    /// skip reading (each attempt would only re-register, under the
    /// runtime's lock, for nothing).
    read_pending: bool,
    /// The stream's last flush was `Pending` (a TLS stream whose records
    /// did not all fit in the socket): flush again on the next poll even
    /// if nothing new was written, and do not finish before it completes.
    flush_pending: bool,
    /// A write failed while the read side was still open. What the peer
    /// sent before it stopped reading (an HTTP/1.1 server's early 413 to
    /// an upload, then a reset for the unread rest) is still read and
    /// handed on; the error ends the driver once reading ends.
    write_failed: Option<io::Error>,
}

// The driver never pins its fields in place (futures it owns are boxed), so
// it can move freely whatever the machine or app types are.
impl<R: Runtime, M, I, A> Unpin for Driver<R, M, I, A> {}

impl<R: Runtime, M: Machine, I: Io, A: App<M>> Driver<R, M, I, A> {
    /// A driver for `machine` over `io`, with `app` on the application side.
    pub fn new(rt: R, machine: M, io: I, app: A) -> Self {
        Self {
            rt,
            machine,
            io,
            app,
            sleep: None,
            sleep_at: None,
            out: VecDeque::new(),
            out_bytes: 0,
            shutdown_queued: false,
            shutdown_done: false,
            read_eof: false,
            read_pending: false,
            flush_pending: false,
            write_failed: None,
        }
    }

    /// The machine.
    pub fn machine(&self) -> &M {
        &self.machine
    }

    /// The application side.
    pub fn app(&self) -> &A {
        &self.app
    }

    /// Reports that the stream already reached its end (the bytes before
    /// it were read before this driver existed, and fed to the machine).
    pub fn input_eof(&mut self) {
        self.read_eof = true;
        let now = self.rt.now();
        if let Err(e) = self.machine.handle_eof(now) {
            self.app.on_input_error(&e);
        }
    }

    /// Takes the parts back (after a protocol hand-off, for example). Bytes
    /// still queued for writing are returned too.
    pub fn into_parts(self) -> (M, I, A, VecDeque<Bytes>) {
        (self.machine, self.io, self.app, self.out)
    }

    fn poll_write(&mut self, cx: &mut Context<'_>) -> io::Result<bool> {
        let mut progress = false;
        loop {
            while self.out.len() < MAX_IOVECS
                && self.out_bytes < MAX_OUT_BYTES
                && !self.shutdown_queued
            {
                match self.machine.poll_transmit() {
                    Some(Transmit::Bytes(b)) if b.is_empty() => {}
                    Some(Transmit::Bytes(b)) => {
                        self.out_bytes += b.len();
                        self.out.push_back(b);
                    }
                    Some(Transmit::Shutdown) => self.shutdown_queued = true,
                    None => break,
                }
            }
            if self.out.is_empty() {
                break;
            }
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let n = self.out.len().min(MAX_IOVECS);
            for (slot, chunk) in slices.iter_mut().zip(self.out.iter()) {
                *slot = IoSlice::new(chunk);
            }
            match self.io.poll_write_vectored(cx, &slices[..n]) {
                Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(mut written)) => {
                    progress = true;
                    self.out_bytes -= written.min(self.out_bytes);
                    while written > 0 {
                        let Some(front) = self.out.front_mut() else {
                            break;
                        };
                        if written >= front.len() {
                            written -= front.len();
                            self.out.pop_front();
                        } else {
                            front.advance(written);
                            written = 0;
                        }
                    }
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => return Ok(progress),
            }
        }
        if progress || self.flush_pending {
            // Streams with their own buffers (TLS) need a flush; TCP's is
            // free (always ready).
            match self.io.poll_flush(cx) {
                Poll::Ready(Ok(())) => self.flush_pending = false,
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => self.flush_pending = true,
            }
        }
        if self.shutdown_queued && !self.shutdown_done {
            match self.io.poll_shutdown(cx) {
                Poll::Ready(_) => {
                    // A failed shutdown (peer already gone) ends the stream all the same.
                    self.shutdown_done = true;
                    progress = true;
                }
                Poll::Pending => {}
            }
        }
        Ok(progress)
    }

    fn poll_read(&mut self, cx: &mut Context<'_>, now: Instant) -> io::Result<bool> {
        if self.read_eof
            || self.read_pending
            || !self.machine.wants_read()
            || !self.app.wants_read()
        {
            return Ok(false);
        }
        READ_BUF_TLS.with(|buf| {
            let mut buf = buf.borrow_mut();
            match self.io.poll_read(cx, &mut buf) {
                Poll::Ready(Ok(0)) => {
                    self.read_eof = true;
                    if let Err(e) = self.machine.handle_eof(now) {
                        self.app.on_input_error(&e);
                    }
                    Ok(true)
                }
                Poll::Ready(Ok(n)) => {
                    if let Err(e) = self.machine.handle_input(now, &buf[..n]) {
                        self.app.on_input_error(&e);
                    }
                    Ok(true)
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
                Poll::Ready(Err(e)) => Err(e),
                Poll::Pending => {
                    self.read_pending = true;
                    Ok(false)
                }
            }
        })
    }

    fn finished(&self) -> bool {
        self.machine.is_closed()
            && self.out.is_empty()
            && !self.flush_pending
            && (!self.shutdown_queued || self.shutdown_done)
    }
}

impl<R: Runtime, M: Machine, I: Io, A: App<M>> Future for Driver<R, M, I, A> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // One clock read per poll: the turns below take microseconds.
        let mut now = this.rt.now();
        this.read_pending = false;
        for _ in 0..MAX_TURNS {
            let mut progress = false;
            if this.machine.poll_timeout().is_some_and(|t| t <= now) {
                this.machine.handle_timeout(now);
                progress = true;
            }
            progress |= this.app.poll(cx, &mut this.machine, now);
            let wrote = if this.write_failed.is_some() {
                // Nothing goes out any more: drop what the machine queues.
                while this.machine.poll_transmit().is_some() {}
                Ok(false)
            } else {
                this.poll_write(cx)
            };
            let wrote = match wrote {
                Ok(p) => p,
                Err(e) if !this.read_eof && this.machine.wants_read() => {
                    tracing::debug!(error = %e, "write failed: reading what the peer sent first");
                    this.out.clear();
                    this.out_bytes = 0;
                    this.flush_pending = false;
                    this.write_failed = Some(e);
                    true
                }
                Err(e) => {
                    this.app.on_io_error(&e);
                    return Poll::Ready(Err(e));
                }
            };
            progress |= wrote;
            match this.poll_read(cx, now) {
                Ok(p) => progress |= p,
                Err(e) => {
                    this.app.on_io_error(&e);
                    return Poll::Ready(Err(e));
                }
            }
            if this.write_failed.is_some()
                && (this.read_eof || this.machine.is_closed() || !this.machine.wants_read())
            {
                // Reading is over too: hand on what came, then the error.
                this.app.poll(cx, &mut this.machine, now);
                if let Some(e) = this.write_failed.take() {
                    this.app.on_io_error(&e);
                    return Poll::Ready(Err(e));
                }
            }
            if this.finished() {
                // Let the app see the final state (e.g. fail what is left).
                this.app.poll(cx, &mut this.machine, now);
                return Poll::Ready(Ok(()));
            }
            if progress {
                continue;
            }
            // Idle: sleep until the machine's next deadline. The clock was
            // read above, so an elapsed sleep is handled on the next turn
            // rather than trusted blindly. A deadline that only moved later
            // (the keep-alive timer after every request) keeps the armed
            // sleep: it fires early once, and is re-armed then, instead of
            // touching the runtime's timer on every request.
            let at = match (this.machine.poll_timeout(), this.app.wake_at()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if let Some(at) = at {
                let sleep = this.sleep.get_or_insert_with(|| this.rt.sleep_until(at));
                match this.sleep_at {
                    Some(armed) if armed <= at => {}
                    _ => {
                        sleep.as_mut().reset(at);
                        this.sleep_at = Some(at);
                    }
                }
                if sleep.as_mut().poll(cx).is_ready() {
                    this.sleep_at = None;
                    now = this.rt.now();
                    continue;
                }
            }
            return Poll::Pending;
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
