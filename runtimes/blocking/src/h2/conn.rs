//! The connection thread of a blocking HTTP/2 connection, shared by the
//! server and the client.
//!
//! A blocking thread cannot wait on a socket and on other threads at once
//! with `std` alone, so each connection has two threads:
//!
//! * a **reader** that blocks in `read` on a clone of the socket and
//!   queues what arrives in the [`Inbox`] (at most [`INPUT_LIMIT`] bytes:
//!   above it the reader waits, and the peer is held back by TCP);
//! * the **connection thread**, which owns the machine and the write side:
//!   it waits on the inbox's condition variable — woken by input, by a
//!   stream's thread (a handler's response, a chunk read or written), or
//!   by a shutdown — with the machine's next timer as the timeout; feeds
//!   the input, fires the timers, lets the [`App`] move the streams along,
//!   and writes.
//!
//! Handler output is therefore sent as soon as it is produced, while the
//! socket is idle, without polling — except a tiny piece of a body right
//! after a tiny frame, which waits up to 1 ms for more
//! ([`wirestate_h2::pacing`], through [`App::wake_at`]).

use crate::Driver;
use crate::transport::Stream;
use bytes::Bytes;
use std::collections::{HashSet, VecDeque};
use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use wirestate_h2::connection::{Connection, Event};
use wirestate_machine::Machine;

/// Input bytes queued by the reader before it waits.
pub(crate) const INPUT_LIMIT: usize = 64 * 1024;
/// The reader's buffer.
const READ_BUF: usize = 16 * 1024;
/// How long a closed connection keeps draining what the peer still sends,
/// so the close does not turn into a reset that destroys our last frames.
const LINGER_TIME: Duration = Duration::from_secs(2);
/// Most bytes drained that way.
const LINGER_BYTES: usize = 1024 * 1024;
/// Rounds of events and application steps per wake-up before the output
/// is written.
const MAX_ROUNDS: usize = 16;

/// What wakes the connection thread.
#[derive(Default)]
struct InboxState {
    /// Bytes read and not yet taken by the connection thread.
    input: VecDeque<Bytes>,
    input_bytes: usize,
    /// The reader saw the end of the stream (or failed).
    read_end: Option<io::Result<()>>,
    /// The reader has stopped reading (end of stream or error).
    reader_done: bool,
    /// Streams whose other side acted.
    ready: HashSet<u64>,
    /// Something outside the streams changed (new requests, handles
    /// dropped, a shutdown).
    kicked: bool,
    /// The connection thread is done: the reader stops.
    closed: bool,
}

/// The meeting point of a connection's threads.
#[derive(Default)]
pub(crate) struct Inbox {
    state: Mutex<InboxState>,
    /// The connection thread waits on this.
    conn: Condvar,
    /// The reader waits on this for room.
    reader: Condvar,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("h2::Inbox").finish_non_exhaustive()
    }
}

impl Inbox {
    fn lock(&self) -> MutexGuard<'_, InboxState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stream `key` needs the connection thread's attention.
    pub(crate) fn ready(&self, key: u64) {
        let mut st = self.lock();
        if st.closed {
            return;
        }
        st.ready.insert(key);
        drop(st);
        self.conn.notify_one();
    }

    /// Wakes the connection thread for a change outside the streams.
    pub(crate) fn kick(&self) {
        self.lock().kicked = true;
        self.conn.notify_one();
    }

    fn close(&self) {
        self.lock().closed = true;
        self.reader.notify_all();
    }
}

/// The reader thread: socket → inbox, bounded.
fn read_loop(mut stream: TcpStream, inbox: &Inbox) {
    let mut buf = vec![0u8; READ_BUF];
    loop {
        {
            let mut st = inbox.lock();
            while st.input_bytes >= INPUT_LIMIT && !st.closed {
                st = inbox.reader.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            if st.closed {
                return;
            }
        }
        let result = match stream.read(&mut buf) {
            Ok(0) => Err(Ok(())),
            Ok(n) => Ok(Bytes::copy_from_slice(&buf[..n])),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => Err(Err(e)),
        };
        let mut st = inbox.lock();
        match result {
            Ok(bytes) => {
                st.input_bytes += bytes.len();
                st.input.push_back(bytes);
            }
            Err(end) => {
                st.read_end = Some(end);
                st.reader_done = true;
            }
        }
        let done = st.reader_done;
        drop(st);
        inbox.conn.notify_one();
        if done {
            return;
        }
    }
}

/// The streams' side of a connection, called on the connection thread.
pub(crate) trait App {
    /// One event of the machine.
    fn on_event(&mut self, m: &mut Connection, ev: Event);
    /// Moves the streams along: `ready` streams' threads acted, and any
    /// stream may have window now. Also where new requests and shutdowns
    /// are looked at.
    fn step(&mut self, m: &mut Connection, ready: &[u64], now: Instant);
    /// When `step` wants to run again even if nothing happens (a tiny
    /// piece of a body held back to let more join it).
    fn wake_at(&self) -> Option<Instant>;
    /// The connection ended: every stream still in progress fails.
    fn end(&mut self);
}

/// Runs a connection until its machine is closed and its output written:
/// starts the reader on a clone of `stream`, drives the machine with the
/// app on this thread, then lingers (bounded) for the peer's close, shuts
/// the socket and joins the reader.
///
/// Over TLS the reader thread still reads the socket (ciphertext, into
/// the inbox), and this thread, which owns the TLS state, decrypts the
/// input before the machine sees it and encrypts what the machine writes:
/// the TLS handshake is done by then (by the server's accept or the
/// client's connect), so both directions are plain records.
pub(crate) fn drive<A: App>(
    mut machine: Connection,
    mut stream: Stream,
    inbox: &Arc<Inbox>,
    app: &mut A,
    io_timeout: Option<Duration>,
) -> io::Result<()> {
    stream.tcp().set_read_timeout(None)?;
    early_input(&mut machine, &mut stream)?;
    let reader_stream = stream.tcp().try_clone()?;
    let closer = stream.tcp().try_clone()?;
    let reader = {
        let inbox = inbox.clone();
        std::thread::Builder::new()
            .name("wirestate-h2-read".into())
            .spawn(move || read_loop(reader_stream, &inbox))?
    };
    let mut driver = Driver::new(machine, stream);
    let result = run(&mut driver, inbox, app, io_timeout);
    app.end();
    if result.is_ok() {
        linger(inbox);
    }
    inbox.close();
    let _ = closer.shutdown(Shutdown::Both);
    let _ = reader.join();
    result
}

fn run<A: App>(
    driver: &mut Driver<Connection, Stream>,
    inbox: &Inbox,
    app: &mut A,
    io_timeout: Option<Duration>,
) -> io::Result<()> {
    // Input taken from the inbox, fed as the machine wants it.
    let mut held: VecDeque<Bytes> = VecDeque::new();
    let mut end: Option<io::Result<()>> = None;
    let mut eof_fed = false;
    let mut ready: Vec<u64> = Vec::new();
    loop {
        let now = Instant::now();
        let m = driver.machine_mut();
        for _ in 0..MAX_ROUNDS {
            let mut events = 0;
            while let Some(ev) = m.poll_event() {
                events += 1;
                app.on_event(m, ev);
            }
            app.step(m, &ready, now);
            ready.clear();
            if events == 0 {
                break;
            }
        }
        driver.flush(io_timeout.map(|t| Instant::now() + t))?;
        if driver.is_finished() {
            return Ok(());
        }

        // Wait for input, a stream, a kick or the next timer.
        let m = driver.machine();
        let wants = m.wants_read() && !eof_fed;
        let timer = match (m.poll_timeout(), app.wake_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mut st = inbox.lock();
        loop {
            if !st.ready.is_empty() || st.kicked {
                break;
            }
            if wants
                && (!held.is_empty()
                    || !st.input.is_empty()
                    || st.read_end.is_some()
                    || end.is_some())
            {
                break;
            }
            match timer {
                Some(t) => {
                    let now = Instant::now();
                    if t <= now {
                        break;
                    }
                    st = inbox
                        .conn
                        .wait_timeout(st, t - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                None => st = inbox.conn.wait(st).unwrap_or_else(|e| e.into_inner()),
            }
        }
        ready.extend(st.ready.drain());
        st.kicked = false;
        if wants && held.is_empty() {
            held = std::mem::take(&mut st.input);
            if st.input_bytes > 0 {
                st.input_bytes = 0;
                inbox.reader.notify_one();
            }
            if end.is_none() {
                end = st.read_end.take();
            }
        }
        drop(st);

        let now = Instant::now();
        let (m, stream) = driver.parts_mut();
        while m.wants_read() && !eof_fed {
            let Some(chunk) = held.pop_front() else {
                break;
            };
            if let Err(e) = feed(m, stream, now, &chunk) {
                // Records that are not TLS, or fail to decrypt: the
                // connection's input ends here (rustls queued the alert).
                held.clear();
                end = Some(Err(e));
            }
        }
        if held.is_empty() && !eof_fed {
            if let Some(result) = end.take() {
                eof_fed = true;
                if let Err(e) = result.and_then(|()| feed_end(m, stream, now)) {
                    tracing::debug!(error = %e, "http/2 connection read failed");
                }
                let _ = m.handle_eof(now);
            }
        }
        if m.poll_timeout().is_some_and(|t| t <= now) {
            m.handle_timeout(now);
        }
    }
}

/// Feeds one chunk the reader read to the machine: as it is over TCP,
/// decrypted over TLS (with any record rustls answers with, an alert or a
/// key update, written at once).
fn feed(m: &mut Connection, stream: &mut Stream, now: Instant, chunk: &[u8]) -> io::Result<()> {
    match stream {
        Stream::Tcp(_) => {
            // An error is also reported as an event, which the app handles.
            let _ = m.handle_input(now, chunk);
            Ok(())
        }
        #[cfg(feature = "tls")]
        Stream::Tls(tls) => {
            let decrypted = tls.decrypt(chunk, |p| {
                let _ = m.handle_input(now, p);
            });
            let _ = std::io::Write::flush(&mut **tls);
            decrypted
        }
    }
}

/// Over TLS, the plaintext decrypted along with the handshake or a first
/// read (more than the server's sniff took): the machine's first input.
fn early_input(m: &mut Connection, stream: &mut Stream) -> io::Result<()> {
    match stream {
        Stream::Tcp(_) => {
            let _ = m;
            Ok(())
        }
        #[cfg(feature = "tls")]
        Stream::Tls(tls) => {
            let mut early = Vec::new();
            tls.take_plaintext(&mut early)?;
            if !early.is_empty() {
                // An error is also reported as an event, which the app handles.
                let _ = m.handle_input(Instant::now(), &early);
            }
            Ok(())
        }
    }
}

/// The reader saw the stream's end. Over TLS: the last plaintext rustls
/// held, and whether the peer said close_notify first (an end without it
/// may be a truncation: an error).
fn feed_end(m: &mut Connection, stream: &mut Stream, now: Instant) -> io::Result<()> {
    match stream {
        Stream::Tcp(_) => {
            let _ = (m, now);
            Ok(())
        }
        #[cfg(feature = "tls")]
        Stream::Tls(tls) => tls.decrypt_eof(|p| {
            let _ = m.handle_input(now, p);
        }),
    }
}

/// After our close: drains what the peer still sends until its end of
/// stream, [`LINGER_BYTES`] or [`LINGER_TIME`].
fn linger(inbox: &Inbox) {
    let deadline = Instant::now() + LINGER_TIME;
    let mut left = LINGER_BYTES;
    let mut st = inbox.lock();
    loop {
        left = left.saturating_sub(st.input_bytes);
        st.input.clear();
        if st.input_bytes > 0 {
            st.input_bytes = 0;
            inbox.reader.notify_one();
        }
        let now = Instant::now();
        if st.reader_done || left == 0 || now >= deadline {
            return;
        }
        st = inbox
            .conn
            .wait_timeout(st, deadline - now)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}
