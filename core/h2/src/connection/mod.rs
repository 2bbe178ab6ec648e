//! The HTTP/2 connection machine (RFC 9113), for clients and servers.
//!
//! [`Connection`] takes bytes and time in, and gives [`Event`]s and
//! [`Transmit`]s out. It runs the preface and SETTINGS exchange, stream
//! states and ids, HPACK, the validation of requests, responses and
//! trailers (§8), flow control with receive credit returned only as the
//! application releases data, PING, GOAWAY (graceful, in two steps), and
//! budgets against floods (rapid reset, CONTINUATION, SETTINGS, PING,
//! empty DATA, WINDOW_UPDATE).
//!
//! Files by concern: `config` (limits), `events` (events and errors),
//! `streams` (the stream map and closed-id memory), `headers` (§8
//! validation and conversion to `http` types), `send` (commands),
//! `recv` (frames in), `control` (SETTINGS, PING, GOAWAY, timers, budgets).

mod config;
mod control;
mod events;
mod headers;
mod recv;
mod send;
mod streams;

pub use config::{Config, FloodLimits};
pub use events::{Error, Event};

use crate::flow::{RecvWindow, SendWindow};
use crate::frame::{
    DEFAULT_INITIAL_WINDOW_SIZE, DEFAULT_MAX_FRAME_SIZE, ErrorCode, Frame, FrameDecoder, GoAway,
    MAX_MAX_FRAME_SIZE, PREFACE, PrefaceMatcher, Settings, SettingsFrame, StreamId, WindowUpdate,
};
use crate::hpack;
use bytes::{Bytes, BytesMut};
use control::{Budget, Timer};
use send::OpenData;
use std::collections::VecDeque;
use std::time::Instant;
use streams::Streams;
use wirestate_machine::{Machine, TimerTable, Transmit, TxQueue};

/// The smallest DATA frame [`Connection::sendable`] proposes while more
/// of a body is waiting.
pub const MIN_DATA_FRAME: usize = 1024;

/// Streams a client opens at once before the server's first SETTINGS
/// says how many it allows. SETTINGS_MAX_CONCURRENT_STREAMS starts
/// unlimited (RFC 9113 §6.5.2), but requests sent right after the
/// preface race the server's limit: nginx (128) refuses the streams past
/// it and ends the connection. 100 is the floor §6.5.2 recommends servers
/// allow, and what the `h2` crate assumes too.
pub const INITIAL_MAX_SEND_STREAMS: u32 = 100;

/// Which end of the connection this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Opens streams with requests (odd ids); sends the preface.
    Client,
    /// Answers requests; expects the preface.
    Server,
}

/// The peer's SETTINGS in force (what we send by).
#[derive(Debug, Clone, Copy)]
struct Remote {
    initial_window: u32,
    max_frame_size: u32,
    max_concurrent: Option<u32>,
    max_header_list: Option<u32>,
    /// The peer's first SETTINGS arrived (`max_concurrent` is its own).
    settled: bool,
}

/// Our SETTINGS the peer acknowledged (what we receive by).
#[derive(Debug, Clone, Copy)]
struct Local {
    initial_window: u32,
    max_concurrent: u32,
}

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// Done: nothing more is read; output drains.
    Closed,
}

/// A field block being put together from HEADERS and CONTINUATION frames.
#[derive(Debug)]
struct PendingBlock {
    stream: StreamId,
    end_stream: bool,
    /// The HEADERS made its stream depend on itself (§5.3.1): a stream
    /// error once the block is decoded.
    self_dependent: bool,
    buf: BytesMut,
    continuations: usize,
}

/// An HTTP/2 connection, client or server (RFC 9113).
///
/// Feed it bytes with [`handle_input`](Machine::handle_input); take
/// [`Event`]s and output with [`poll_event`](Machine::poll_event) and
/// [`poll_transmit`](Machine::poll_transmit). Commands
/// ([`send_request`](Self::send_request), [`send_response`](Self::send_response),
/// [`send_data`](Self::send_data), ...) queue frames. Received data must be
/// given back with [`release_capacity`](Self::release_capacity): that is
/// what lets the peer send more.
///
/// A connection error (the peer broke the protocol, or passed a flood
/// budget) is sticky: GOAWAY with the right code and `Transmit::Shutdown`
/// are queued, [`Event::Error`] follows the events before it, and every
/// later input returns the same error. A stream error resets only that
/// stream (RST_STREAM, and [`Event::Reset`] if the application knew it).
///
/// ```
/// use bytes::Bytes;
/// use std::time::Instant;
/// use wirestate_h2::connection::{Config, Connection, Event};
/// use wirestate_machine::{Machine, Transmit};
///
/// fn pump(from: &mut Connection, to: &mut Connection, now: Instant) {
///     while let Some(t) = from.poll_transmit() {
///         if let Transmit::Bytes(b) = t {
///             to.handle_input(now, &b).unwrap();
///         }
///     }
/// }
///
/// let now = Instant::now();
/// let mut client = Connection::client(Config::default());
/// let mut server = Connection::server(Config::default());
///
/// let req = http::Request::get("https://example.com/hello").body(()).unwrap();
/// let stream = client.send_request(req.into_parts().0, true).unwrap();
/// pump(&mut client, &mut server, now);
///
/// let mut got = None;
/// while let Some(ev) = server.poll_event() {
///     if let Event::Request { stream, head, end_stream } = ev {
///         assert_eq!(head.uri.path(), "/hello");
///         assert!(end_stream);
///         got = Some(stream);
///     }
/// }
/// let s = got.unwrap();
/// let resp = http::Response::builder().status(200).body(()).unwrap();
/// server.send_response(s, resp.into_parts().0, false).unwrap();
/// server.send_data(s, Bytes::from_static(b"hi"), true).unwrap();
/// pump(&mut server, &mut client, now);
///
/// let mut body = Vec::new();
/// while let Some(ev) = client.poll_event() {
///     match ev {
///         Event::Response { head, .. } => assert_eq!(head.status, 200),
///         Event::Data { stream: st, data, flow_len, .. } => {
///             body.extend_from_slice(&data);
///             client.release_capacity(st, flow_len).unwrap();
///         }
///         _ => {}
///     }
/// }
/// assert_eq!(body, b"hi");
/// assert_eq!(stream, s);
/// ```
pub struct Connection {
    role: Role,
    config: Config,
    state: State,
    started: bool,
    preface: PrefaceMatcher,
    /// The peer's first frame (its SETTINGS) arrived.
    got_settings: bool,
    /// Client: the server's first bytes were looked at (are they HTTP/2
    /// at all?).
    sniffed: bool,
    rx: BytesMut,
    decoder: FrameDecoder,
    hpack_dec: hpack::Decoder,
    hpack_enc: hpack::Encoder,
    block: Option<PendingBlock>,
    /// Decoded fields of the block being handled: one vector reused.
    fields: Vec<hpack::Field>,
    /// The field block being encoded: one buffer reused.
    block_buf: BytesMut,
    remote: Remote,
    local: Local,
    /// Our SETTINGS sent and not yet acknowledged, oldest first.
    pending_settings: VecDeque<Settings>,
    streams: Streams,
    /// The next id we open.
    next_local: u32,
    /// The highest id the peer opened.
    highest_remote: u32,
    conn_send: SendWindow,
    conn_recv: RecvWindow,
    /// Streams whose receive credit may be due.
    dirty: Vec<u32>,
    tx: TxQueue,
    scratch: BytesMut,
    events: VecDeque<Event>,
    timers: TimerTable<Timer, 6>,
    /// Traffic the idle timer has not counted yet: a frame other than PING
    /// received, HEADERS or DATA sent, a stream changed.
    activity: bool,
    /// What [`Timer::Incomplete`] waits on, for its error.
    incomplete: &'static str,
    error: Option<Error>,
    eof: bool,
    /// The last stream id of the GOAWAY we sent (the first step's is 2^31 - 1).
    goaway_sent: Option<u32>,
    /// The final GOAWAY is out.
    goaway_final: bool,
    goaway_recv: Option<u32>,
    /// A `send_request` failed for the peer's stream limit.
    want_streams: bool,
    ids_exhausted: bool,
    /// The payload of our keep-alive PING in flight.
    keepalive_ping: Option<[u8; 8]>,
    ping_counter: u64,
    /// When the peer's last PING came, for the ping policy (cleared when
    /// we send HEADERS or DATA).
    last_ping_recv: Option<Instant>,
    /// The peer's PINGs that came too soon (the ping policy).
    ping_strikes: u32,
    /// We sent HEADERS or DATA since the peer's last PING: its next PING
    /// is not counted against the flood budget.
    ping_earned: bool,
    /// WINDOW_UPDATE frames the peer may still send without counting
    /// against the flood budget, earned by the DATA we sent (see
    /// `earn_window_updates`).
    window_updates_earned: u32,
    /// Bytes of DATA cut short by the peer's windows that have not yet
    /// earned an update (see `earn_window_updates`).
    window_limited_bytes: usize,
    /// The last DATA frame written, while it is unsent and nothing follows
    /// it: a small `send_data` on the same stream grows it instead of
    /// adding a frame (see `send_data`).
    open_data: Option<OpenData>,
    budget: Budget,
    /// Answers (PING/SETTINGS ACKs, RST_STREAM) queued since output was
    /// last drained.
    pending_control: usize,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("streams", &self.streams.map.len())
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// The payload of the PING of a two-step shutdown.
const SHUTDOWN_PING: [u8; 8] = *b"h2-drain";

impl Connection {
    /// The client side: the preface and our SETTINGS are queued at once.
    pub fn client(config: Config) -> Connection {
        Connection::new(Role::Client, config)
    }

    /// The server side (h2c with prior knowledge or after TLS ALPN `h2`):
    /// expects the client preface; our SETTINGS are queued at once.
    pub fn server(config: Config) -> Connection {
        Connection::new(Role::Server, config)
    }

    fn new(role: Role, mut config: Config) -> Connection {
        config.max_frame_size = config
            .max_frame_size
            .clamp(DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE);
        config.initial_stream_window = config.initial_stream_window.min(crate::flow::MAX_WINDOW);
        config.connection_window = config
            .connection_window
            .clamp(DEFAULT_INITIAL_WINDOW_SIZE, crate::flow::MAX_WINDOW);
        let mut decoder = FrameDecoder::new();
        decoder.set_max_header_block_size(config.max_header_block_size);
        let mut hpack_dec = hpack::Decoder::new();
        hpack_dec.set_max_header_list_size(config.max_header_list_size as usize);
        let mut c = Connection {
            role,
            state: State::Open,
            started: false,
            preface: PrefaceMatcher::new(),
            got_settings: false,
            sniffed: false,
            rx: BytesMut::new(),
            decoder,
            hpack_dec,
            hpack_enc: hpack::Encoder::new(),
            block: None,
            fields: Vec::new(),
            block_buf: BytesMut::new(),
            remote: Remote {
                initial_window: DEFAULT_INITIAL_WINDOW_SIZE,
                max_frame_size: DEFAULT_MAX_FRAME_SIZE,
                // Until the peer's first SETTINGS replaces it.
                max_concurrent: Some(INITIAL_MAX_SEND_STREAMS),
                max_header_list: None,
                settled: false,
            },
            local: Local {
                initial_window: DEFAULT_INITIAL_WINDOW_SIZE,
                max_concurrent: config.max_concurrent_streams,
            },
            pending_settings: VecDeque::new(),
            streams: Streams::new(config.max_closed_streams),
            next_local: if role == Role::Client { 1 } else { 2 },
            highest_remote: 0,
            conn_send: SendWindow::new(DEFAULT_INITIAL_WINDOW_SIZE),
            conn_recv: RecvWindow::new(DEFAULT_INITIAL_WINDOW_SIZE, config.connection_window),
            dirty: Vec::new(),
            tx: TxQueue::new(config.write_high_water),
            scratch: BytesMut::new(),
            events: VecDeque::new(),
            timers: TimerTable::new(),
            activity: false,
            incomplete: "connection preface",
            error: None,
            eof: false,
            goaway_sent: None,
            goaway_final: false,
            goaway_recv: None,
            want_streams: false,
            ids_exhausted: false,
            keepalive_ping: None,
            ping_counter: 0,
            last_ping_recv: None,
            ping_strikes: 0,
            ping_earned: false,
            window_updates_earned: 0,
            window_limited_bytes: 0,
            open_data: None,
            budget: Budget::default(),
            pending_control: 0,
            config,
        };
        if role == Role::Client {
            c.tx.write(PREFACE);
        }
        let settings = c.initial_settings();
        c.write_frame(&Frame::Settings(SettingsFrame::new(settings.clone())));
        c.pending_settings.push_back(settings);
        if let Some(inc) = c.conn_recv.poll_update() {
            c.write_frame(&Frame::WindowUpdate(WindowUpdate {
                stream: StreamId::ZERO,
                increment: inc,
            }));
        }
        c
    }

    fn initial_settings(&self) -> Settings {
        use crate::frame::SettingId as S;
        let mut s = Settings::new();
        let cfg = &self.config;
        // Values were clamped into range in `new`: `set` cannot fail.
        let _ = s.set(S::HeaderTableSize, cfg.header_table_size);
        if self.role == Role::Client {
            let _ = s.set(S::EnablePush, 0);
        }
        let _ = s.set(S::MaxConcurrentStreams, cfg.max_concurrent_streams);
        let _ = s.set(S::InitialWindowSize, cfg.initial_stream_window);
        let _ = s.set(S::MaxFrameSize, cfg.max_frame_size);
        let _ = s.set(S::MaxHeaderListSize, cfg.max_header_list_size);
        s
    }

    /// Arms the timers (SETTINGS acknowledgement, keep-alive) from `now`.
    /// Called by the first input or command that carries a time; call it
    /// yourself to have the timers run before any input.
    pub fn start(&mut self, now: Instant) {
        if self.started {
            return;
        }
        self.started = true;
        if !self.pending_settings.is_empty() {
            self.timers
                .set(Timer::SettingsAck, now + self.config.settings_timeout);
        }
        if let Some(idle) = self.idle_timeout() {
            self.timers.set(Timer::Idle, now + idle);
        }
        if let Some(limit) = self.config.header_block_timeout {
            // Until the peer's preface (and first SETTINGS) is in.
            self.timers.set(Timer::Incomplete, now + limit);
        }
        self.touch(now);
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether new streams may still be opened or accepted (no GOAWAY sent
    /// or received, not closed).
    pub fn is_open(&self) -> bool {
        self.state == State::Open && self.goaway_sent.is_none() && self.goaway_recv.is_none()
    }

    /// Whether [`send_request`](Self::send_request) would find room under
    /// the peer's SETTINGS_MAX_CONCURRENT_STREAMS (and ids left).
    pub fn can_open_stream(&self) -> bool {
        self.role == Role::Client
            && self.is_open()
            && !self.ids_exhausted
            && self
                .remote
                .max_concurrent
                .is_none_or(|m| self.streams.active(true) < m as usize)
    }

    /// Streams open or half-closed.
    pub fn active_streams(&self) -> usize {
        self.streams
            .map
            .values()
            .filter(|s| s.state.is_active())
            .count()
    }

    /// How many bytes [`send_data`](Self::send_data) would take on `stream`
    /// now (the smaller of the stream's and the connection's send window).
    pub fn send_capacity(&self, stream: StreamId) -> usize {
        self.streams.get(stream.get()).map_or(0, |s| {
            s.send.available().min(self.conn_send.available()) as usize
        })
    }

    /// How many of `len` bytes waiting to go out on `stream` to pass to
    /// [`send_data`](Self::send_data) now; 0 means wait for
    /// [`Event::Writable`].
    ///
    /// That is what both windows allow, except that a window reopened a
    /// few bytes at a time is not answered with a tiny DATA frame while
    /// more is waiting, and a cut never leaves a tiny remainder: frames
    /// under [`MIN_DATA_FRAME`] bytes (or half the peer's initial window,
    /// if that is smaller) are wasteful, and peers that budget small
    /// frames take them for abuse (the `h2` crate's GOAWAY
    /// "too_many_data_frames").
    pub fn sendable(&self, stream: StreamId, len: usize) -> usize {
        let capacity = self.send_capacity(stream);
        if capacity >= len {
            return len;
        }
        let min_frame = MIN_DATA_FRAME
            .min(self.remote.initial_window as usize / 2)
            .max(1);
        let take = capacity.min(len.saturating_sub(min_frame));
        if take < min_frame { 0 } else { take }
    }

    /// Whether the output queue is at `write_high_water`. The windows
    /// bound what the peer may receive, not how fast it reads: a sender
    /// should stop pulling body data while this holds, or a peer that
    /// opens huge windows and stops reading makes bodies pile up here.
    pub fn is_send_buffer_full(&self) -> bool {
        self.tx.is_full()
    }

    /// The connection's send window, and its receive window as the peer
    /// sees it (for tests and metrics).
    pub fn connection_windows(&self) -> (i64, i64) {
        (self.conn_send.get(), self.conn_recv.get())
    }

    /// A stream's send and receive windows, if it is live.
    pub fn stream_windows(&self, stream: StreamId) -> Option<(i64, i64)> {
        self.streams
            .get(stream.get())
            .map(|s| (s.send.get(), s.recv.get()))
    }

    /// Received bytes not yet released, connection-wide.
    pub fn unreleased(&self) -> u32 {
        self.conn_recv.held()
    }

    /// Closed stream ids remembered for late frames.
    pub fn remembered_closed(&self) -> usize {
        self.streams.closed_len()
    }

    /// Bytes queued for the transport.
    pub fn queued_bytes(&self) -> usize {
        self.tx.queued_bytes()
    }

    /// The error the connection failed with, if any.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    // ---- output helpers ----

    fn write_frame(&mut self, frame: &Frame) {
        self.scratch.clear();
        // Every frame the connection builds fits the wire.
        if frame.encode(&mut self.scratch).is_ok() {
            self.tx.write(&self.scratch);
        }
    }

    /// Queues an answer the peer made us send, bounded by
    /// `max_pending_control`.
    fn write_control(&mut self, frame: &Frame) -> Result<(), Error> {
        self.pending_control += 1;
        if self.pending_control > self.config.flood.max_pending_control {
            return Err(Error::Flood("control frames queued and not read"));
        }
        self.write_frame(frame);
        Ok(())
    }

    fn write_goaway(&mut self, last: u32, code: ErrorCode, debug: &str) {
        self.write_frame(&Frame::GoAway(GoAway {
            last_stream: StreamId::from_bits(last),
            code,
            debug: Bytes::copy_from_slice(debug.as_bytes()),
        }));
    }

    /// Fails the connection: GOAWAY with the error's code, then the
    /// half-close; the error as an event after the ones before it.
    fn fail(&mut self, error: Error) -> Error {
        if self.state == State::Open {
            if let Some(code) = error.goaway_code() {
                let reason = error.to_string();
                let mut cut = reason.len().min(64);
                while !reason.is_char_boundary(cut) {
                    cut -= 1;
                }
                let last = self.highest_remote;
                self.write_goaway(last, code, &reason[..cut]);
            }
            self.tx.shutdown();
            self.state = State::Closed;
            self.timers.clear_all();
            self.events.push_back(Event::Error(error.clone()));
            self.error = Some(error.clone());
        }
        error
    }

    /// Closes without error: half-close once the output is out.
    fn finish(&mut self) {
        if self.state == State::Open {
            self.tx.shutdown();
            self.state = State::Closed;
            self.timers.clear_all();
        }
    }

    fn check_open(&self) -> Result<(), Error> {
        if self.state == State::Open {
            Ok(())
        } else {
            Err(self.error.clone().unwrap_or(Error::Closed))
        }
    }
}

impl Machine for Connection {
    type Event = Event;
    type Error = Error;

    fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> Result<(), Error> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if self.state == State::Closed || bytes.is_empty() {
            return Ok(());
        }
        self.start(now);
        self.touch(now);
        self.rx.extend_from_slice(bytes);
        match self.process(now) {
            Ok(()) => {
                self.after_input(now);
                Ok(())
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    fn handle_eof(&mut self, now: Instant) -> Result<(), Error> {
        self.eof = true;
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if self.state == State::Closed {
            return Ok(());
        }
        self.start(now);
        if self.streams.any_active() || self.block.is_some() {
            return Err(self.fail(Error::UnexpectedEof));
        }
        self.finish();
        Ok(())
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.start(now);
        while let Some(timer) = self.timers.pop_expired(now) {
            if let Err(e) = self.on_timer(now, timer) {
                self.fail(e);
            }
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self.tx.pop();
        if self.tx.is_empty() {
            self.pending_control = 0;
        }
        t
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    fn wants_read(&self) -> bool {
        self.state == State::Open && !self.eof && !self.tx.is_full()
    }

    fn is_closed(&self) -> bool {
        self.state == State::Closed && self.tx.is_empty()
    }
}
