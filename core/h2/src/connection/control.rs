//! SETTINGS, PING, GOAWAY, timers and flood budgets.

use super::{Connection, Error, Event, Role, SHUTDOWN_PING, State};
use crate::frame::{ErrorCode, Frame, GoAway, Ping, Settings, SettingsFrame, StreamId};
use std::time::{Duration, Instant};

/// The connection's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// Our SETTINGS must be acknowledged by then.
    SettingsAck,
    /// Send a keep-alive PING.
    KeepAlive,
    /// The keep-alive PING must be answered by then.
    PingTimeout,
    /// The first GOAWAY of a two-step shutdown: send the final one.
    Graceful,
    /// No stream open since the idle count restarted: close.
    Idle,
    /// The preface, a frame or a field block is still incomplete: fail.
    Incomplete,
}

/// What a flood budget counts.
#[derive(Debug, Clone, Copy)]
pub(super) enum Count {
    RemoteReset,
    LocalReset,
    Settings,
    Ping,
    EmptyData,
    WindowUpdate,
}

/// Per-window counters against floods.
#[derive(Debug, Clone, Default)]
pub(super) struct Budget {
    start: Option<Instant>,
    counts: [u32; 6],
}

impl Connection {
    /// Counts one `what`; passing its budget is a flood.
    pub(super) fn count(&mut self, now: Instant, what: Count) -> Result<(), Error> {
        let f = &self.config.flood;
        let window: Duration = f.window;
        let expired = self
            .budget
            .start
            .is_none_or(|s| now.saturating_duration_since(s) >= window);
        if expired {
            self.budget.start = Some(now);
            self.budget.counts = [0; 6];
        }
        let (i, max, name) = match what {
            Count::RemoteReset => (
                0,
                f.max_remote_resets,
                "streams reset by the peer (rapid reset)",
            ),
            Count::LocalReset => (1, f.max_local_resets, "streams reset for the peer's errors"),
            Count::Settings => (2, f.max_settings, "SETTINGS frames"),
            Count::Ping => (3, f.max_pings, "PING frames"),
            Count::EmptyData => (4, f.max_empty_data, "empty DATA frames"),
            Count::WindowUpdate => (5, f.max_window_updates, "WINDOW_UPDATE frames"),
        };
        self.budget.counts[i] = self.budget.counts[i].saturating_add(1);
        if self.budget.counts[i] > max {
            return Err(Error::Flood(name));
        }
        Ok(())
    }

    /// Input arrived: re-arm the keep-alive timer unless a PING is out.
    pub(super) fn touch(&mut self, now: Instant) {
        if let Some(every) = self.config.keepalive_interval {
            if self.keepalive_ping.is_none() && self.state == State::Open {
                self.timers.set(Timer::KeepAlive, now + every);
            }
        }
    }

    /// The idle limit this end applies: [`Config::idle_timeout`], except on
    /// a client that pings while idle (`keepalive_interval` set with
    /// `keepalive_while_idle`). Such a client asked to keep its idle
    /// connection alive (gRPC's `keepalive_permit_without_calls`), and
    /// closing it anyway would defeat that setting.
    pub(super) fn idle_timeout(&self) -> Option<Duration> {
        let keeps_idle_alive = self.role == Role::Client
            && self.config.keepalive_interval.is_some()
            && self.config.keepalive_while_idle;
        if keeps_idle_alive {
            None
        } else {
            self.config.idle_timeout
        }
    }

    pub(super) fn on_timer(&mut self, now: Instant, timer: Timer) -> Result<(), Error> {
        if self.state != State::Open {
            return Ok(());
        }
        match timer {
            Timer::SettingsAck => {
                if !self.pending_settings.is_empty() {
                    return Err(Error::SettingsTimeout);
                }
            }
            Timer::KeepAlive => {
                if !self.config.keepalive_while_idle && !self.streams.any_active() {
                    // Idle: no ping, but look again an interval later, so
                    // a stream opened meanwhile is covered.
                    if let Some(every) = self.config.keepalive_interval {
                        self.timers.set(Timer::KeepAlive, now + every);
                    }
                    return Ok(());
                }
                self.ping_counter += 1;
                let payload = self.ping_counter.to_be_bytes();
                self.keepalive_ping = Some(payload);
                self.write_frame(&Frame::Ping(Ping {
                    ack: false,
                    payload,
                }));
                self.timers
                    .set(Timer::PingTimeout, now + self.config.keepalive_timeout);
            }
            Timer::PingTimeout => {
                if self.keepalive_ping.is_some() {
                    return Err(Error::KeepAliveTimeout);
                }
            }
            Timer::Graceful => self.final_goaway(),
            Timer::Idle => {
                if std::mem::take(&mut self.activity)
                    || self.block.is_some()
                    || self.timers.is_armed(Timer::Incomplete)
                    || self.streams.any_active()
                {
                    // Not idle (or traffic the timer has not seen: a
                    // command carries no time): count again from now. A
                    // preface, frame or field block still incomplete is
                    // not idle either: its own timer judges it.
                    if let Some(idle) = self.idle_timeout() {
                        self.timers.set(Timer::Idle, now + idle);
                    }
                } else {
                    self.close(ErrorCode::NO_ERROR, b"idle")?;
                }
            }
            Timer::Incomplete => return Err(Error::IncompleteTimeout(self.incomplete)),
        }
        Ok(())
    }

    /// After input: restarts the idle count if a frame other than PING
    /// came (or a stream changed), and arms or clears the timer on an
    /// incomplete preface, frame or field block.
    pub(super) fn after_input(&mut self, now: Instant) {
        if self.state != State::Open {
            return;
        }
        if std::mem::take(&mut self.activity)
            && let Some(idle) = self.idle_timeout()
        {
            self.timers.set(Timer::Idle, now + idle);
        }
        let Some(limit) = self.config.header_block_timeout else {
            return;
        };
        let what = if !self.got_settings {
            // The preface ends with the peer's first SETTINGS (RFC 9113 §3.4).
            "connection preface"
        } else if self.block.is_some() {
            "header block"
        } else {
            match self.decoder.mid_frame(&self.rx) {
                None => {
                    self.timers.clear(Timer::Incomplete);
                    return;
                }
                Some(false) => "frame",
                Some(true) => {
                    // A DATA payload is a body arriving at the pace flow
                    // control allows: progress restarts the clock.
                    self.incomplete = "DATA frame";
                    self.timers.set(Timer::Incomplete, now + limit);
                    return;
                }
            }
        };
        if !self.timers.is_armed(Timer::Incomplete) || self.incomplete != what {
            self.incomplete = what;
            self.timers.set(Timer::Incomplete, now + limit);
        }
    }

    // ---- SETTINGS ----

    pub(super) fn on_settings(&mut self, now: Instant, s: SettingsFrame) -> Result<(), Error> {
        self.count(now, Count::Settings)?;
        if s.ack {
            let Some(ours) = self.pending_settings.pop_front() else {
                return Err(Error::protocol(
                    ErrorCode::PROTOCOL_ERROR,
                    "SETTINGS ACK without SETTINGS sent",
                ));
            };
            self.apply_local(&ours);
            if self.pending_settings.is_empty() {
                self.timers.clear(Timer::SettingsAck);
            }
            self.events.push_back(Event::SettingsAcked);
            return Ok(());
        }
        let first = !std::mem::replace(&mut self.remote.settled, true);
        let st = &s.settings;
        if self.role == Role::Client && st.enable_push() == Some(true) {
            return Err(Error::protocol(
                ErrorCode::PROTOCOL_ERROR,
                "server sent SETTINGS_ENABLE_PUSH 1",
            ));
        }
        if let Some(size) = st.header_table_size() {
            self.hpack_enc.update_max_size(size as usize);
        }
        if let Some(n) = st.max_concurrent_streams() {
            self.remote.max_concurrent = Some(n);
        } else if first {
            // Not in the peer's first SETTINGS: the protocol's initial
            // value, unlimited, replaces our assumption.
            self.remote.max_concurrent = None;
        }
        if let Some(n) = st.max_frame_size() {
            self.remote.max_frame_size = n;
        }
        if let Some(n) = st.max_header_list_size() {
            self.remote.max_header_list = Some(n);
        }
        if let Some(new) = st.initial_window_size() {
            let old = self.remote.initial_window;
            for s in self.streams.map.values_mut() {
                s.send
                    .on_initial_change(old, new)
                    .map_err(Error::FlowControl)?;
            }
            self.remote.initial_window = new;
            if new > old {
                self.notify_writable();
            }
        }
        self.write_control(&Frame::Settings(SettingsFrame::ack()))?;
        self.events.push_back(Event::RemoteSettings(s.settings));
        self.check_streams_available();
        Ok(())
    }

    /// Our SETTINGS were acknowledged: receive by them.
    fn apply_local(&mut self, s: &Settings) {
        if let Some(n) = s.header_table_size() {
            self.hpack_dec.set_max_table_size(n as usize);
        }
        if let Some(n) = s.max_frame_size() {
            // In range: checked when the settings were made.
            let _ = self.decoder.set_max_frame_size(n);
        }
        if let Some(new) = s.initial_window_size() {
            let old = self.local.initial_window;
            for (id, st) in self.streams.map.iter_mut() {
                st.recv.on_initial_change(old, new);
                self.dirty.push(*id);
            }
            self.local.initial_window = new;
        }
    }

    /// Announces new SETTINGS of ours: the peer must acknowledge them
    /// within [`Config::settings_timeout`](super::Config::settings_timeout).
    /// Receive limits (frame size, stream windows, table size) follow once
    /// it does; the header list and concurrency limits apply at once.
    /// SETTINGS_ENABLE_PUSH cannot be turned on (push is not supported).
    pub fn update_settings(&mut self, now: Instant, settings: Settings) -> Result<(), Error> {
        self.check_open()?;
        if settings.enable_push() == Some(true) {
            return Err(Error::InvalidHead("server push is not supported"));
        }
        if settings.enable_connect_protocol() == Some(true) {
            return Err(Error::InvalidHead("extended CONNECT is not supported"));
        }
        self.start(now);
        if let Some(n) = settings.max_header_list_size() {
            self.hpack_dec.set_max_header_list_size(n as usize);
        }
        if let Some(n) = settings.max_concurrent_streams() {
            self.local.max_concurrent = n;
        }
        self.write_frame(&Frame::Settings(SettingsFrame::new(settings.clone())));
        self.pending_settings.push_back(settings);
        if !self.timers.is_armed(Timer::SettingsAck) {
            self.timers
                .set(Timer::SettingsAck, now + self.config.settings_timeout);
        }
        Ok(())
    }

    // ---- PING ----

    pub(super) fn on_ping(&mut self, now: Instant, p: Ping) -> Result<(), Error> {
        // A PING that follows HEADERS or DATA of ours is not counted:
        // gRPC peers probe the bandwidth-delay product with a PING per
        // burst of data they get (grpc-go's BDP estimator does so until
        // its window reaches 16 MiB, which small messages never do), so a
        // busy call pings far past any fixed budget. Each uncounted PING
        // takes a frame of ours, so a flood of them still meets the budget.
        if p.ack || !std::mem::take(&mut self.ping_earned) {
            self.count(now, Count::Ping)?;
        }
        if !p.ack {
            self.check_ping_policy(now)?;
            return self.write_control(&Frame::Ping(Ping {
                ack: true,
                payload: p.payload,
            }));
        }
        if self.keepalive_ping == Some(p.payload) {
            self.keepalive_ping = None;
            self.timers.clear(Timer::PingTimeout);
            self.touch(now);
        } else if p.payload == SHUTDOWN_PING && self.goaway_sent.is_some() && !self.goaway_final {
            self.final_goaway();
            self.maybe_finish();
        }
        self.events.push_back(Event::PingAck { payload: p.payload });
        Ok(())
    }

    /// The peer's keep-alive policy: a PING sooner than
    /// `min_recv_ping_interval` after the previous one, with nothing sent
    /// by us in between, is a strike.
    fn check_ping_policy(&mut self, now: Instant) -> Result<(), Error> {
        let Some(min) = self.config.min_recv_ping_interval else {
            return Ok(());
        };
        if let Some(last) = self.last_ping_recv
            && now.saturating_duration_since(last) < min
        {
            self.ping_strikes = self.ping_strikes.saturating_add(1);
            if self.ping_strikes > self.config.max_ping_strikes {
                return Err(Error::TooManyPings);
            }
        }
        self.last_ping_recv = Some(now);
        Ok(())
    }

    /// We sent a DATA frame with `len` bytes: the peer may give that
    /// credit back with WINDOW_UPDATEs that are not counted against the
    /// flood budget, two (the stream's and the connection's) per frame and
    /// per started 4 KiB. A receiver returns credit as its application
    /// reads: x/net/http2's Transport (Go's HTTP/2 client) sends both
    /// updates for every 4 KiB read, and for every 4 KiB that arrives on a
    /// stream it cancelled, so a fast download or a few cancelled ones
    /// send tens of thousands in seconds, past any fixed budget. Such
    /// frames stay proportional to the bytes we sent; only updates beyond
    /// them are counted.
    ///
    /// A frame cut short by the peer's windows (`limited`) earns by its
    /// bytes alone, two per 4 KiB summed over such frames: else a peer
    /// that reopens its window a byte at a time would have every 1-byte
    /// frame it draws out of us pay for its next updates, and that data
    /// dribble (CVE-2019-9511) would never meet the budget.
    pub(super) fn earn_window_updates(&mut self, len: usize, limited: bool) {
        let steps = if limited {
            self.window_limited_bytes = self.window_limited_bytes.saturating_add(len);
            let steps = self.window_limited_bytes / 4096;
            self.window_limited_bytes %= 4096;
            steps
        } else {
            len.div_ceil(4096).max(1)
        };
        let steps = u32::try_from(steps).unwrap_or(u32::MAX);
        self.window_updates_earned = self
            .window_updates_earned
            .saturating_add(steps.saturating_mul(2));
    }

    /// We sent HEADERS or DATA: the peer's next PING is not held against
    /// it, by the ping policy or the flood budget (a connection carrying
    /// calls may be pinged as often as it likes).
    pub(super) fn reset_ping_strikes(&mut self) {
        self.activity = true;
        self.ping_earned = true;
        self.last_ping_recv = None;
        self.ping_strikes = 0;
    }

    /// Sends a PING; its answer is [`Event::PingAck`].
    pub fn ping(&mut self, payload: [u8; 8]) -> Result<(), Error> {
        self.check_open()?;
        self.write_frame(&Frame::Ping(Ping {
            ack: false,
            payload,
        }));
        Ok(())
    }

    // ---- GOAWAY ----

    pub(super) fn on_goaway(&mut self, g: GoAway) -> Result<(), Error> {
        let last = g.last_stream.get();
        if self.goaway_recv.is_some_and(|prev| last > prev) {
            return Err(Error::protocol(
                ErrorCode::PROTOCOL_ERROR,
                "GOAWAY last stream id increased",
            ));
        }
        self.goaway_recv = Some(last);
        self.events.push_back(Event::GoAway {
            last_stream: g.last_stream,
            code: g.code,
            debug: g.debug,
        });
        // Our streams above the last id were not processed: retryable.
        let refused: Vec<u32> = self
            .streams
            .map
            .iter()
            .filter(|(id, s)| s.local && **id > last && !s.state.is_closed())
            .map(|(id, _)| *id)
            .collect();
        for id in refused {
            if let Some(s) = self.streams.map.remove(&id) {
                let held = s.recv.held();
                let _ = self.conn_recv.release(held);
                self.streams
                    .remember(id, crate::stream_state::Closed::ResetReceived);
                self.events.push_back(Event::StreamRefused {
                    stream: StreamId::from_bits(id),
                });
            }
        }
        self.maybe_finish();
        Ok(())
    }

    /// Starts a graceful shutdown: no new streams; streams already opened
    /// finish, then the connection closes (GOAWAY NO_ERROR, then
    /// `Transmit::Shutdown`).
    ///
    /// A server with [`Config::two_step_shutdown`](super::Config::two_step_shutdown)
    /// first sends GOAWAY with the largest stream id and a PING, and the
    /// final GOAWAY (with the last stream it accepted) once the PING is
    /// answered or [`Config::graceful_timeout`](super::Config::graceful_timeout)
    /// passed: requests the client sent meanwhile are still served.
    /// Calling it again changes nothing.
    pub fn go_away(&mut self, now: Instant) -> Result<(), Error> {
        self.check_open()?;
        self.start(now);
        if self.goaway_sent.is_some() {
            return Ok(());
        }
        if self.role == Role::Server && self.config.two_step_shutdown {
            self.goaway_sent = Some(StreamId::MAX.get());
            self.write_goaway(StreamId::MAX.get(), ErrorCode::NO_ERROR, "");
            self.write_frame(&Frame::Ping(Ping {
                ack: false,
                payload: SHUTDOWN_PING,
            }));
            self.timers
                .set(Timer::Graceful, now + self.config.graceful_timeout);
        } else {
            self.final_goaway();
        }
        self.maybe_finish();
        Ok(())
    }

    /// Ends the connection at once: GOAWAY with `code` and `debug` data,
    /// then `Transmit::Shutdown`. Streams are abandoned.
    pub fn close(&mut self, code: ErrorCode, debug: &[u8]) -> Result<(), Error> {
        self.check_open()?;
        let last = self.highest_remote;
        self.write_frame(&Frame::GoAway(GoAway {
            last_stream: StreamId::from_bits(last),
            code,
            debug: bytes::Bytes::copy_from_slice(debug),
        }));
        self.goaway_sent = Some(last);
        self.goaway_final = true;
        self.finish();
        Ok(())
    }

    pub(super) fn final_goaway(&mut self) {
        if self.goaway_final || self.state != State::Open {
            return;
        }
        self.timers.clear(Timer::Graceful);
        let last = self.highest_remote;
        self.goaway_sent = Some(last);
        self.goaway_final = true;
        self.write_goaway(last, ErrorCode::NO_ERROR, "");
    }

    /// Closes once a GOAWAY went either way and no stream is active.
    pub(super) fn maybe_finish(&mut self) {
        self.activity = true;
        // Called after every stream change: the GOAWAY flags, which are
        // nearly always unset, are asked before the walk over the streams.
        if self.state != State::Open
            || (self.goaway_recv.is_none() && !self.goaway_final)
            || self.streams.any_active()
            || self.block.is_some()
        {
            return;
        }
        if self.goaway_recv.is_some() {
            self.final_goaway();
            self.finish();
        } else if self.goaway_final {
            self.finish();
        }
    }

    /// Reports [`Event::StreamsAvailable`] to a client that was refused.
    pub(super) fn check_streams_available(&mut self) {
        if self.want_streams && self.can_open_stream() {
            self.want_streams = false;
            self.events.push_back(Event::StreamsAvailable);
        }
    }
}
