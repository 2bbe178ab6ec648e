//! The connection side: the [`App`] that links the machine to the handles'
//! channels, and the future that runs it.

use super::wake::{CONN, TASK, Wakers};
use super::{Channels, Command, Error, Item, Received};
use crate::{App, BoxFuture, Driver, Io, Runtime, Shutdown, Sleep};
use futures_channel::{mpsc, oneshot};
use futures_core::Stream;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use wirestate_machine::Machine;
use wirestate_ws::{Connection, Event, close_code};

/// The application side of a WebSocket connection, run inside its driver:
/// moves events to the receiver's channel (as fast as it reads), commands
/// from the senders into the machine (while its output is below high
/// water), and — on a server — polls the `on_upgrade` future in the same
/// task.
pub(crate) struct WsApp {
    shared: Arc<super::Shared>,
    commands: mpsc::Receiver<Command>,
    commands_done: bool,
    /// The command queue was found empty (the conn waker is registered
    /// there): it is looked at again only after a wake-up.
    commands_idle: bool,
    /// `None` once the receiver is gone or the end was delivered.
    items: Option<mpsc::Sender<Item>>,
    reader_alive: oneshot::Sender<()>,
    reader_gone: bool,
    /// Events taken from the machine that the channel had no room for; reads
    /// pause while it holds anything.
    stash: VecDeque<Item>,
    /// The terminal item (close or failure) was stashed.
    ended: bool,
    /// The server's `on_upgrade` future.
    task: Option<BoxFuture<()>>,
    shutdown: Option<(Shutdown, u64)>,
    shutdown_waker: Option<std::task::Waker>,
    shutdown_seen: bool,
    /// The wakers handed to the task and registered by the connection
    /// side (see [`super::wake`]); made on the first poll.
    wakers: Option<Wakers>,
}

impl WsApp {
    pub(crate) fn new(
        chans: Channels,
        task: Option<BoxFuture<()>>,
        shutdown: Option<Shutdown>,
    ) -> Self {
        Self {
            shared: chans.shared,
            commands: chans.commands,
            commands_done: false,
            commands_idle: false,
            items: Some(chans.items),
            reader_alive: chans.reader_alive,
            reader_gone: false,
            stash: VecDeque::new(),
            ended: false,
            task,
            shutdown: shutdown.map(|s| {
                let id = s.id();
                (s, id)
            }),
            shutdown_waker: None,
            shutdown_seen: false,
            wakers: None,
        }
    }

    fn end(&mut self, item: Item) {
        if !self.ended {
            self.ended = true;
            self.stash.push_back(item);
        }
    }

    /// Moves stashed items into the channel while it has room. Returns
    /// whether anything moved.
    fn flush_stash(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        while !self.stash.is_empty() {
            if self.items.is_none() {
                self.stash.clear();
                return true;
            }
            let len = match self.stash.front() {
                Some(Item::Data(d)) => d.len(),
                _ => 0,
            };
            if len > 0 && !self.budget_open(cx) {
                break;
            }
            let Some(tx) = &mut self.items else {
                return progress;
            };
            match tx.poll_ready(cx) {
                Poll::Ready(Ok(())) => {
                    if let Some(item) = self.stash.pop_front() {
                        self.shared.queued.fetch_add(len, Ordering::AcqRel);
                        let _ = tx.start_send(item);
                    }
                    progress = true;
                }
                Poll::Ready(Err(_)) => {
                    // The receiver is gone: drop what it will never read.
                    self.items = None;
                    self.stash.clear();
                    return true;
                }
                Poll::Pending => break,
            }
        }
        progress
    }

    /// Whether the reader's byte budget has room (for at least one more
    /// message); if not, parks the task until the reader makes room.
    fn budget_open(&self, cx: &mut Context<'_>) -> bool {
        let shared = &self.shared;
        if shared.queued.load(Ordering::Acquire) < shared.queued_limit {
            return true;
        }
        *shared.parked.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
        // The reader may have made room before the waker was in place.
        shared.queued.load(Ordering::Acquire) < shared.queued_limit
    }

    /// Takes the machine's events while the receiver keeps up. With
    /// `release`, also makes the call on an empty queue that lets the
    /// machine run a held-back closing step (see
    /// [`Connection::has_events`]): only once the reader took everything
    /// and the commands it issued in reply went into the machine.
    fn pump_events(&mut self, cx: &mut Context<'_>, m: &mut Connection, release: bool) -> bool {
        let mut progress = self.flush_stash(cx);
        while self.stash.is_empty() && (release || m.has_events()) {
            let Some(ev) = m.poll_event() else { break };
            progress = true;
            match ev {
                Event::Message(msg) => self.stash.push_back(Item::Data(Received::Message(msg))),
                Event::Fragment { kind, data, fin } => self
                    .stash
                    .push_back(Item::Data(Received::Fragment { kind, data, fin })),
                // Answered (pings) or informational (pongs): the machine
                // handles both.
                Event::Ping(_) | Event::Pong(_) => {}
                Event::Close(frame) => self.end(Item::Closed(frame)),
                Event::Error(e) => self.end(Item::Failed(Error::Protocol(e))),
            }
            if self.items.is_none() {
                self.stash.clear();
            }
            self.flush_stash(cx);
        }
        progress
    }

    fn poll_task(&mut self, cx: &mut Context<'_>) -> bool {
        if let Some(task) = &mut self.task {
            if task.as_mut().poll(cx).is_ready() {
                self.task = None;
                return true;
            }
        }
        false
    }

    fn run_commands(&mut self, cx: &mut Context<'_>, m: &mut Connection, now: Instant) -> bool {
        let mut progress = false;
        self.commands_idle = false;
        while !self.commands_done && (m.can_send() || !m.is_open()) {
            match Pin::new(&mut self.commands).poll_next(cx) {
                Poll::Ready(Some(cmd)) => {
                    progress = true;
                    let result = match cmd {
                        Command::Send(msg, compress) => m.send_with(msg, compress),
                        Command::Fragment(kind, data, fin) => m.send_fragment(kind, data, fin),
                        Command::Ping(p) => m.ping(p),
                        Command::Pong(p) => m.pong(p),
                        Command::Close(code, reason) => m.close(now, code, &reason),
                    };
                    if let Err(e) = result {
                        // Mostly `Closing`: the sender raced the close.
                        tracing::debug!(error = %e, "websocket command refused");
                    }
                }
                Poll::Ready(None) => {
                    self.commands_done = true;
                    progress = true;
                }
                Poll::Pending => {
                    self.commands_idle = true;
                    break;
                }
            }
        }
        progress
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>, m: &mut Connection, now: Instant) -> bool {
        let Some((shutdown, id)) = &self.shutdown else {
            return false;
        };
        if self.shutdown_seen {
            return false;
        }
        let registered = self
            .shutdown_waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()));
        if shutdown.is_triggered() || !registered {
            self.shutdown_waker = Some(cx.waker().clone());
            if shutdown.poll(*id, cx).is_ready() {
                self.shutdown_seen = true;
                if m.is_open() {
                    let _ = m.close(now, close_code::GOING_AWAY, "server shutting down");
                }
                return true;
            }
        }
        false
    }

    /// After the machine closed: delivers what is left, then the end, and
    /// lets the `on_upgrade` future finish.
    fn poll_drain(&mut self, outer: &mut Context<'_>, m: &mut Connection) -> Poll<()> {
        // The same wakers as while running: what the task and the handles
        // registered stays valid. No window here (the drain is short and
        // rare): every wake-up goes to the real waker.
        let wakers = Wakers::refresh(&mut self.wakers, outer.waker());
        let cx = &mut Context::from_waker(&wakers.conn);
        self.shared.open.store(false, Ordering::Release);
        // Senders waiting for room learn that the connection is gone.
        self.commands.close();
        while let Poll::Ready(Some(_)) = Pin::new(&mut self.commands).poll_next(cx) {}
        loop {
            self.pump_events(cx, m, true);
            if !self.stash.is_empty() || self.items.is_none() {
                break;
            }
            if !self.ended {
                self.end(Item::Failed(Error::Aborted));
                continue;
            }
            // Everything delivered: the receiver sees the channel end next.
            self.items = None;
            break;
        }
        // Polled only after the end is delivered, so a task reading its
        // messages sees them all.
        self.poll_task(&mut Context::from_waker(&wakers.task));
        self.wakers = Some(wakers);
        if self.items.is_none() && self.task.is_none() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl App<Connection> for WsApp {
    fn poll(&mut self, cx: &mut Context<'_>, m: &mut Connection, now: Instant) -> bool {
        // Wake-ups raised while this runs (the inline task receiving or
        // sending, this side making room) become bits in `wakers`, read
        // below and at the end, instead of re-scheduling the task.
        let wakers = Wakers::refresh(&mut self.wakers, cx.waker());
        wakers.begin();
        let mut progress = {
            let mut cx = Context::from_waker(&wakers.conn);
            self.pump_events(&mut cx, m, false)
        };
        // The task only when something it waits on happened. (The bit is
        // taken even without a task, so a stale one cannot keep the
        // driver turning.)
        if wakers.take(TASK) && self.task.is_some() {
            let mut cx = Context::from_waker(&wakers.task);
            progress |= self.poll_task(&mut cx);
        }
        // What the connection side registered on is looked at from here
        // on, and only after a wake-up (a registration stays in place
        // until it fires).
        let conn_woken = wakers.take(CONN);
        let cx = &mut Context::from_waker(&wakers.conn);
        // The task may have read (room in the channel) or sent.
        progress |= self.pump_events(cx, m, false);
        // Also when the machine's output had no room last time (nothing
        // was registered then; the socket writes make room).
        if conn_woken || !self.commands_idle {
            progress |= self.run_commands(cx, m, now);
        }
        // The reader has taken everything and its replies are in the
        // machine: a held-back close (echo or failure) may go out now.
        // Only on a quiet turn: the `on_upgrade` future may still be
        // pushing replies through a full command channel after the reader
        // took the messages.
        let caught_up = self.stash.is_empty()
            && (self.items.is_none() || self.shared.queued.load(Ordering::Acquire) == 0);
        let commands_waiting = !self.commands_done && m.is_open() && !m.can_send();
        if !progress && caught_up && !commands_waiting && !m.has_events() {
            progress |= self.pump_events(cx, m, true);
        }
        if conn_woken && !self.reader_gone && self.reader_alive.poll_canceled(cx).is_ready() {
            self.reader_gone = true;
            progress = true;
        }
        if self.commands_done && self.reader_gone && m.is_open() {
            // Every handle is gone: nobody will send or read again.
            let _ = m.close(now, close_code::NORMAL, "");
            progress = true;
        }
        if conn_woken {
            progress |= self.poll_shutdown(cx, m, now);
        }
        self.shared.open.store(m.is_open(), Ordering::Release);
        // Woken after its last look: another turn, not a sleep.
        progress |= wakers.end() != 0;
        self.wakers = Some(wakers);
        progress
    }

    fn wants_read(&self) -> bool {
        self.stash.is_empty()
    }

    fn on_input_error(&mut self, _error: &wirestate_ws::Error) {
        // The machine reports the failure as an event too, after the
        // messages that preceded it: delivered in that order by
        // `pump_events`.
    }

    fn on_io_error(&mut self, error: &io::Error) {
        self.end(Item::Failed(Error::Io(io::Error::new(
            error.kind(),
            error.to_string(),
        ))));
    }
}

impl Drop for WsApp {
    fn drop(&mut self) {
        if let Some((shutdown, id)) = &self.shutdown {
            shutdown.forget(*id);
        }
    }
}

/// How long past the close timeout a connection that cannot flush its
/// farewell is kept before it is dropped.
const ABORT_GRACE: Duration = Duration::from_secs(1);

enum State<R: Runtime, I: Io> {
    Running(Driver<R, Connection, I, WsApp>),
    Draining(Connection, WsApp, Option<io::Error>),
    Done,
}

/// A WebSocket connection as a future: drives the machine over the stream
/// until the connection is closed and the receiver has been handed
/// everything (and, on a server, until the `on_upgrade` future ends).
/// Resolves with the transport's error, if it failed.
///
/// Spawn it (the tokio and smol crates have shortcuts that do); the
/// [`WebSocket`](super::WebSocket) only works while it runs.
pub struct WsConnection<R: Runtime, I: Io> {
    state: State<R, I>,
    rt: R,
    close_timeout: Duration,
    /// Armed once the connection stops being open: a close handshake whose
    /// farewell cannot be written (the peer stopped reading) is abandoned
    /// then, stream and all.
    abort: Option<Pin<Box<dyn Sleep>>>,
}

impl<R: Runtime, I: Io> std::fmt::Debug for WsConnection<R, I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Running(_) => "running",
            State::Draining(..) => "draining",
            State::Done => "done",
        };
        f.debug_struct("WsConnection")
            .field("state", &state)
            .finish()
    }
}

impl<R: Runtime, I: Io> WsConnection<R, I> {
    /// Starts the machine (keep-alive timer), feeds `leftover` (bytes that
    /// arrived with the handshake) and wraps everything in a driver.
    pub(crate) fn new(
        rt: R,
        mut machine: Connection,
        io: I,
        mut app: WsApp,
        leftover: &[u8],
        config_close_timeout: Duration,
    ) -> Self {
        let now = rt.now();
        let close_timeout = config_close_timeout;
        machine.start(now);
        if !leftover.is_empty() {
            if let Err(e) = machine.handle_input(now, leftover) {
                app.on_input_error(&e);
            }
        }
        Self {
            state: State::Running(Driver::new(rt.clone(), machine, io, app)),
            rt,
            close_timeout,
            abort: None,
        }
    }
}

// Every field is boxed or `Unpin` (the driver is `Unpin` whatever it holds).
impl<R: Runtime, I: Io> Unpin for WsConnection<R, I> {}

impl<R: Runtime, I: Io> Future for WsConnection<R, I> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Running(driver) => {
                    let result = match Pin::new(&mut *driver).poll(cx) {
                        Poll::Ready(result) => result,
                        Poll::Pending => {
                            if this.abort.is_none() && !driver.machine().is_open() {
                                // After the machine's own close timer, which
                                // normally ends the connection first.
                                let at = this.rt.now() + this.close_timeout + ABORT_GRACE;
                                this.abort = Some(this.rt.sleep_until(at));
                            }
                            let expired = this
                                .abort
                                .as_mut()
                                .is_some_and(|sleep| sleep.as_mut().poll(cx).is_ready());
                            if !expired {
                                return Poll::Pending;
                            }
                            tracing::debug!("websocket close handshake abandoned");
                            Err(io::ErrorKind::TimedOut.into())
                        }
                    };
                    let State::Running(driver) = std::mem::replace(&mut this.state, State::Done)
                    else {
                        unreachable!("state checked above");
                    };
                    // The stream is dropped (closed) here.
                    let (machine, _io, app, _unwritten) = driver.into_parts();
                    this.state = State::Draining(machine, app, result.err());
                }
                State::Draining(machine, app, _) => {
                    if app.poll_drain(cx, machine).is_pending() {
                        return Poll::Pending;
                    }
                    let State::Draining(_, _, error) =
                        std::mem::replace(&mut this.state, State::Done)
                    else {
                        unreachable!("state checked above");
                    };
                    return Poll::Ready(error.map_or(Ok(()), Err));
                }
                State::Done => return Poll::Ready(Ok(())),
            }
        }
    }
}
