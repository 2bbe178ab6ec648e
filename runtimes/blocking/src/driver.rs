//! The generic blocking driver: any [`Machine`] over any [`Transport`].

use crate::Transport;
use bytes::{Buf, Bytes};
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::time::{Duration, Instant};
use wirestate_machine::{Machine, Transmit};

/// Most chunks handed to one vectored write.
const MAX_IOVECS: usize = 64;
/// Read buffer size.
const READ_BUF: usize = 16 * 1024;

/// What one [`Driver::wait`] did.
#[derive(Debug)]
#[non_exhaustive]
pub enum Wait<E> {
    /// This many bytes were read and fed to the machine.
    Input(usize),
    /// The peer closed its write side; the machine was told.
    Eof,
    /// The machine refused input (from a read or the end of stream); it has
    /// queued its farewell and reports the error as an event too.
    Refused(E),
    /// The machine's timers fired.
    Timer,
    /// The caller's deadline passed before anything else happened.
    Deadline,
    /// The machine is closed and all of its output is written.
    Closed,
    /// Nothing can happen until the application acts: the machine wants no
    /// input, has no timer armed and is not closed.
    Stalled,
}

/// Runs one [`Machine`] over one blocking [`Transport`], in the str0m
/// style: write every transmit (vectored, many `Bytes` chunks per call;
/// [`Transmit::Shutdown`] half-closes the stream), then block in one read
/// whose timeout is the machine's next deadline, feeding the bytes to
/// `handle_input` (or `handle_eof`), and call `handle_timeout(now)` when the
/// read times out.
///
/// The loop never spins: a read blocks until data arrives or the machine's
/// next deadline, and after `handle_timeout(now)` the machine's deadline is
/// `None` or later than `now`. Reads only happen while the machine
/// [wants input](Machine::wants_read), so its buffers bound memory.
///
/// Use [`run`](Self::run) for the whole loop, or [`wait`](Self::wait) to
/// interleave the loop with application code (what the HTTP server and
/// client of this crate do).
///
/// ```no_run
/// use std::net::TcpStream;
/// use std::time::Instant;
/// use wirestate_blocking::Driver;
/// use wirestate_http1::{ServerConfig, ServerConnection, ServerEvent};
///
/// # fn main() -> std::io::Result<()> {
/// let stream = TcpStream::connect("127.0.0.1:8080")?;
/// let machine = ServerConnection::new(ServerConfig::default(), Instant::now());
/// let mut driver = Driver::new(machine, stream);
/// driver.run(|conn, event| {
///     if let ServerEvent::End { .. } = event {
///         let head = http::Response::new(()).into_parts().0;
///         let _ = conn.send_full_response(head, "hello".into());
///     }
/// })?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Driver<M, S> {
    machine: M,
    stream: S,
    read_buf: Box<[u8]>,
    out: VecDeque<Bytes>,
    shutdown_queued: bool,
    shutdown_done: bool,
    read_eof: bool,
    /// The read timeout last set on the stream (outer `None`: unknown).
    read_timeout: Option<Option<Duration>>,
    /// The write timeout last set on the stream (outer `None`: unknown).
    write_timeout: Option<Option<Duration>>,
    written: u64,
}

/// A socket timeout for the time left until a deadline: rounded up to
/// whole milliseconds (so the read does not wake just before the deadline)
/// and never zero (which `set_read_timeout` refuses).
fn timeout_for(left: Duration) -> Duration {
    let ms = left.as_nanos().div_ceil(1_000_000).max(1);
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// A read timeout for `need` that stays usable while the deadline moves
/// a little: `need` less an eighth. A machine whose timer moves with
/// every request (keep-alive, header timers) would otherwise cost a
/// `setsockopt` per request; a timeout that fires early only makes the
/// loop read again for the rest.
fn slack(need: Duration) -> Duration {
    timeout_for(need - need / 8)
}

/// Whether the read timeout `set` on the socket serves a read that must
/// return within `need`: it must not fire later, and not so much earlier
/// that reads wake often for nothing.
fn timeout_fits(set: Option<Duration>, need: Option<Duration>) -> bool {
    match (set, need) {
        (None, None) => true,
        (Some(set), Some(need)) => set <= need && set >= need - need / 4,
        _ => false,
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl<M: Machine, S: Transport> Driver<M, S> {
    /// A driver for `machine` over `stream` (which must be in blocking mode).
    pub fn new(machine: M, stream: S) -> Self {
        Self {
            machine,
            stream,
            read_buf: vec![0; READ_BUF].into_boxed_slice(),
            out: VecDeque::new(),
            shutdown_queued: false,
            shutdown_done: false,
            read_eof: false,
            read_timeout: None,
            write_timeout: None,
            written: 0,
        }
    }

    /// The machine.
    pub fn machine(&self) -> &M {
        &self.machine
    }

    /// The machine, to issue commands and drain events.
    pub fn machine_mut(&mut self) -> &mut M {
        &mut self.machine
    }

    /// The stream.
    pub fn stream(&self) -> &S {
        &self.stream
    }

    /// The stream, to swap it out (a protocol hand-off keeping the
    /// connection's TLS state).
    pub(crate) fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// The machine and the stream at once (input decrypted by the stream
    /// fed to the machine).
    pub(crate) fn parts_mut(&mut self) -> (&mut M, &mut S) {
        (&mut self.machine, &mut self.stream)
    }

    /// Takes the machine and the stream back (after a protocol hand-off,
    /// for example). Output not yet written is dropped: call
    /// [`flush`](Self::flush) first.
    pub fn into_parts(self) -> (M, S) {
        (self.machine, self.stream)
    }

    /// Bytes written to the stream so far.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Whether the peer's end of stream was seen.
    pub fn is_read_closed(&self) -> bool {
        self.read_eof
    }

    /// The machine is closed and everything it queued is written.
    pub fn is_finished(&self) -> bool {
        self.machine.is_closed()
            && self.out.is_empty()
            && (!self.shutdown_queued || self.shutdown_done)
    }

    /// Writes everything the machine has queued, blocking until it is
    /// written (or `deadline` passes: `TimedOut`).
    pub fn flush(&mut self, deadline: Option<Instant>) -> io::Result<()> {
        let mut wrote = false;
        loop {
            while self.out.len() < MAX_IOVECS && !self.shutdown_queued {
                match self.machine.poll_transmit() {
                    Some(Transmit::Bytes(b)) if b.is_empty() => {}
                    Some(Transmit::Bytes(b)) => self.out.push_back(b),
                    Some(Transmit::Shutdown) => self.shutdown_queued = true,
                    None => break,
                }
            }
            if self.out.is_empty() {
                break;
            }
            let timeout = match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if d <= now {
                        return Err(io::ErrorKind::TimedOut.into());
                    }
                    Some(timeout_for(d - now))
                }
                None => None,
            };
            if self.write_timeout != Some(timeout) {
                self.stream.set_write_timeout(timeout)?;
                self.write_timeout = Some(timeout);
            }
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let n = self.out.len().min(MAX_IOVECS);
            for (slot, chunk) in slices.iter_mut().zip(self.out.iter()) {
                *slot = IoSlice::new(chunk);
            }
            match self.stream.write_vectored(&slices[..n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(mut written) => {
                    wrote = true;
                    self.written += written as u64;
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
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock) => {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                Err(e) => return Err(e),
            }
        }
        if wrote {
            // Streams with their own buffers (TLS) need a flush; TCP's is free.
            self.stream.flush().map_err(|e| match e.kind() {
                io::ErrorKind::WouldBlock => io::ErrorKind::TimedOut.into(),
                _ => e,
            })?;
        }
        if self.shutdown_queued && !self.shutdown_done {
            // A failed shutdown (peer already gone) ends the stream all the same.
            let _ = self.stream.shutdown_write();
            self.shutdown_done = true;
        }
        if self.shutdown_done {
            // Nothing may follow a shutdown; drop anything a machine queued after it.
            while let Some(t) = self.machine.poll_transmit() {
                tracing::debug!(?t, "transmit after shutdown dropped");
            }
        }
        Ok(())
    }

    /// One blocking step of the loop: flush the machine's output, then
    /// either fire its due timers, or block in one read (bounded by the
    /// machine's next deadline and by `deadline`) and feed what arrives.
    ///
    /// Drain [`poll_event`](Machine::poll_event) between calls: a machine
    /// whose event queue is full stops wanting input.
    pub fn wait(&mut self, deadline: Option<Instant>) -> io::Result<Wait<M::Error>> {
        self.flush(deadline)?;
        loop {
            if self.is_finished() {
                return Ok(Wait::Closed);
            }
            let now = Instant::now();
            let timer = self.machine.poll_timeout();
            if timer.is_some_and(|t| t <= now) {
                self.machine.handle_timeout(now);
                if self.machine.poll_timeout().is_some_and(|t| t <= now) {
                    // The machine broke the contract (its deadline did not
                    // move past `now`): back off rather than spin.
                    tracing::debug!("machine timer still due after handle_timeout");
                    std::thread::sleep(Duration::from_millis(1));
                }
                return Ok(Wait::Timer);
            }
            if deadline.is_some_and(|d| d <= now) {
                return Ok(Wait::Deadline);
            }
            let wake = earliest(timer, deadline);
            if self.machine.wants_read() && !self.read_eof {
                let timeout = wake.map(|w| timeout_for(w - now));
                if !self
                    .read_timeout
                    .is_some_and(|set| timeout_fits(set, timeout))
                {
                    let timeout = timeout.map(slack);
                    self.stream.set_read_timeout(timeout)?;
                    self.read_timeout = Some(timeout);
                }
                match self.stream.read(&mut self.read_buf) {
                    Ok(0) => {
                        self.read_eof = true;
                        return Ok(match self.machine.handle_eof(Instant::now()) {
                            Ok(()) => Wait::Eof,
                            Err(e) => Wait::Refused(e),
                        });
                    }
                    Ok(n) => {
                        let now = Instant::now();
                        return Ok(match self.machine.handle_input(now, &self.read_buf[..n]) {
                            Ok(()) => Wait::Input(n),
                            Err(e) => Wait::Refused(e),
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) && wake.is_some() =>
                    {
                        // The deadline (or an early wake-up): the top of the
                        // loop fires what is due, or reads again for the rest.
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            } else if let Some(wake) = wake {
                std::thread::sleep(wake.saturating_duration_since(now));
            } else {
                return Ok(Wait::Stalled);
            }
        }
    }

    /// Feeds the machine whatever input is already available, without
    /// blocking (a peer's end of stream included). Pools use it to notice
    /// that an idle connection was closed.
    pub fn poll_input(&mut self) -> io::Result<()> {
        if self.read_eof || !self.machine.wants_read() {
            return Ok(());
        }
        self.stream.set_nonblocking(true)?;
        let result = loop {
            if !self.machine.wants_read() {
                break Ok(());
            }
            match self.stream.read(&mut self.read_buf) {
                Ok(0) => {
                    self.read_eof = true;
                    let _ = self.machine.handle_eof(Instant::now());
                    break Ok(());
                }
                Ok(n) => {
                    let _ = self
                        .machine
                        .handle_input(Instant::now(), &self.read_buf[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.stream.set_nonblocking(false)?;
        result
    }

    /// Runs the whole loop: dispatch every event to `on_event` (which may
    /// issue commands on the machine), write, read or fire timers — until
    /// the machine is closed and its output written.
    ///
    /// Fails with the transport's error, or with `Other` if the machine
    /// stalls (wants no input, has no timer, is not closed and `on_event`
    /// did nothing about it).
    pub fn run(&mut self, mut on_event: impl FnMut(&mut M, M::Event)) -> io::Result<()> {
        loop {
            while let Some(ev) = self.machine.poll_event() {
                on_event(&mut self.machine, ev);
            }
            match self.wait(None)? {
                Wait::Closed => return Ok(()),
                Wait::Stalled => {
                    return Err(io::Error::other(
                        "machine stalled: no input wanted, no timer, not closed",
                    ));
                }
                _ => {}
            }
        }
    }

    /// After a write failed because the peer stopped reading and closed
    /// (broken pipe, reset): drops the output not yet written, and any the
    /// machine queues later, as after a shutdown, so that [`wait`](Self::wait)
    /// goes on reading what the peer sent before it closed (a server's
    /// early answer to a request whose body it did not want).
    pub fn abandon_output(&mut self) {
        self.out.clear();
        self.shutdown_queued = true;
        self.shutdown_done = true;
        while self.machine.poll_transmit().is_some() {}
    }

    /// After the machine shut the write side down: reads and discards what
    /// the peer still sends, until its end of stream, `max_bytes` or `max_time`,
    /// so that closing the socket does not reset the connection (and lose
    /// the last response) while the peer's data is unread.
    pub fn linger(&mut self, max_time: Duration, max_bytes: usize) {
        if self.read_eof || !self.shutdown_done {
            return;
        }
        let deadline = Instant::now() + max_time;
        let mut left = max_bytes;
        while left > 0 {
            let now = Instant::now();
            if now >= deadline
                || self
                    .stream
                    .set_read_timeout(Some(timeout_for(deadline - now)))
                    .is_err()
            {
                break;
            }
            self.read_timeout = None;
            match self.stream.read(&mut self.read_buf) {
                Ok(0) => {
                    self.read_eof = true;
                    break;
                }
                Ok(n) => left = left.saturating_sub(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up_and_are_never_zero() {
        assert_eq!(timeout_for(Duration::ZERO), Duration::from_millis(1));
        assert_eq!(
            timeout_for(Duration::from_nanos(1)),
            Duration::from_millis(1)
        );
        assert_eq!(
            timeout_for(Duration::from_micros(1500)),
            Duration::from_millis(2)
        );
        assert_eq!(timeout_for(Duration::from_secs(3)), Duration::from_secs(3));
    }

    #[test]
    fn a_read_timeout_is_kept_while_the_deadline_moves_a_little() {
        let ms = Duration::from_millis;
        let set = slack(ms(60_000));
        assert_eq!(set, ms(52_500));
        // A keep-alive deadline that moves by a few ms per request.
        assert!(timeout_fits(Some(set), Some(ms(60_000))));
        assert!(timeout_fits(Some(set), Some(ms(59_990))));
        assert!(timeout_fits(Some(set), Some(ms(60_010))));
        // Never later than needed, nor far earlier.
        assert!(!timeout_fits(Some(set), Some(ms(52_000))));
        assert!(!timeout_fits(Some(set), Some(ms(80_000))));
        assert!(!timeout_fits(None, Some(ms(10))));
        assert!(!timeout_fits(Some(set), None));
        assert!(timeout_fits(None, None));
        // Short timers stay whole, non-zero milliseconds.
        assert_eq!(slack(ms(1)), ms(1));
        assert!(timeout_fits(Some(slack(ms(3))), Some(ms(3))));
    }
}
