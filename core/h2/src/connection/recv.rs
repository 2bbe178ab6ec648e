//! The receive path: frames in, stream states, validation, events.

use super::control::Count;
use super::headers;
use super::streams::{Phase, Stream};
use super::{Connection, Error, Event, PendingBlock, Role, State};
use crate::frame::{
    Continuation, Data, ErrorCode, Frame, Reply, RstStream, StreamId, WindowUpdate,
};
use crate::hpack::Pseudo;
use crate::stream_state::{Closed, FrameKind, Outcome, Scope, StreamState, StreamStateError};
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode};
use std::time::Instant;

/// The most field slots the connection keeps between blocks: a block with
/// more fields (up to the header list limit) gets a vector of its own.
const FIELDS_KEPT: usize = 64;

/// What a stream id that is not live is.
enum Unknown {
    /// Not opened yet.
    Idle,
    /// Closed; why, if still remembered.
    Closed(Option<Closed>),
}

impl Connection {
    /// Decodes and handles every complete frame in the receive buffer.
    pub(super) fn process(&mut self, now: Instant) -> Result<(), Error> {
        if self.role == Role::Server
            && !self.preface.is_complete()
            && !self.preface.decode(&mut self.rx)?
        {
            return Ok(());
        }
        // A server that does not speak h2c answers our preface with an
        // HTTP/1.x status line (or, Python's http.server, a bare HTML
        // page), which would otherwise read as a frame header of some
        // megabytes and an odd type, and be reported as such. The server's
        // first frame must be SETTINGS (type 0x4, the fourth byte).
        if self.role == Role::Client && !self.sniffed && self.rx.len() >= 5 {
            self.sniffed = true;
            if self.rx.starts_with(b"HTTP/") {
                return Err(Error::protocol(
                    ErrorCode::PROTOCOL_ERROR,
                    "the server answered in HTTP/1.x, not HTTP/2 (it does not speak h2c with prior knowledge)",
                ));
            }
            if self.rx[3] != 0x4 {
                return Err(Error::protocol(
                    ErrorCode::PROTOCOL_ERROR,
                    "the server's first bytes are not an HTTP/2 SETTINGS frame (not an HTTP/2 server?)",
                ));
            }
        }
        while self.state == State::Open {
            match self.decoder.decode(&mut self.rx) {
                Ok(None) => break,
                Ok(Some(frame)) => self.on_frame(now, frame)?,
                Err(e) => match e.hint() {
                    Some(Reply::Reset { stream, code }) if self.got_settings => {
                        self.stream_error(now, stream.get(), code)?
                    }
                    _ => return Err(Error::Frame(e)),
                },
            }
            self.flush_updates();
        }
        Ok(())
    }

    fn on_frame(&mut self, now: Instant, frame: Frame) -> Result<(), Error> {
        if !self.got_settings {
            match &frame {
                Frame::Settings(s) if !s.ack => self.got_settings = true,
                _ => {
                    return Err(Error::protocol(
                        ErrorCode::PROTOCOL_ERROR,
                        "the peer's first frame is not SETTINGS",
                    ));
                }
            }
        }
        // Keep-alive PINGs do not keep an idle connection open.
        if !matches!(frame, Frame::Ping(_)) {
            self.activity = true;
        }
        match frame {
            Frame::Data(d) => self.on_data(now, d),
            Frame::Headers(h) => {
                let self_dependent = h.priority.is_some_and(|p| p.dependency == h.stream);
                if h.end_headers {
                    self.on_block(now, h.stream, h.block, h.end_stream, self_dependent)
                } else {
                    self.block = Some(PendingBlock {
                        stream: h.stream,
                        end_stream: h.end_stream,
                        self_dependent,
                        buf: BytesMut::from(&h.block[..]),
                        continuations: 0,
                    });
                    Ok(())
                }
            }
            Frame::Continuation(c) => self.on_continuation(now, c),
            Frame::RstStream(r) => self.on_rst(now, r),
            Frame::Settings(s) => self.on_settings(now, s),
            Frame::PushPromise(_) => Err(Error::protocol(
                ErrorCode::PROTOCOL_ERROR,
                "PUSH_PROMISE while push is disabled",
            )),
            Frame::Ping(p) => self.on_ping(now, p),
            Frame::GoAway(g) => self.on_goaway(g),
            Frame::WindowUpdate(w) => self.on_window_update(now, w),
            // PRIORITY is deprecated and ignored; unknown types are skipped.
            Frame::Priority(_) | Frame::Unknown(_) => Ok(()),
        }
    }

    fn on_continuation(&mut self, now: Instant, c: Continuation) -> Result<(), Error> {
        let Some(mut b) = self.block.take() else {
            return Err(Error::protocol(
                ErrorCode::PROTOCOL_ERROR,
                "CONTINUATION without a field block",
            ));
        };
        if b.stream != c.stream {
            return Err(Error::protocol(
                ErrorCode::PROTOCOL_ERROR,
                "CONTINUATION on another stream",
            ));
        }
        b.continuations += 1;
        if b.continuations > self.config.max_continuation_frames {
            return Err(Error::Flood("CONTINUATION frames in one field block"));
        }
        b.buf.extend_from_slice(&c.block);
        if c.end_headers {
            self.on_block(
                now,
                b.stream,
                b.buf.freeze(),
                b.end_stream,
                b.self_dependent,
            )
        } else {
            self.block = Some(b);
            Ok(())
        }
    }

    fn is_remote_id(&self, id: u32) -> bool {
        match self.role {
            Role::Client => id % 2 == 0,
            Role::Server => id % 2 == 1,
        }
    }

    fn lookup(&self, id: u32) -> Unknown {
        let idle = if self.is_remote_id(id) {
            id > self.highest_remote
        } else {
            id >= self.next_local
        };
        if idle {
            Unknown::Idle
        } else {
            Unknown::Closed(self.streams.closed_reason(id))
        }
    }

    /// A frame on a stream that is closed and no longer live.
    fn on_closed_frame(
        &mut self,
        now: Instant,
        id: u32,
        why: Option<Closed>,
        kind: FrameKind,
        es: bool,
    ) -> Result<(), Error> {
        let Some(why) = why else {
            // Forgotten: DATA and HEADERS get STREAM_CLOSED, the rest is
            // harmless and ignored.
            return match kind {
                FrameKind::Data | FrameKind::Headers => {
                    self.stream_error(now, id, ErrorCode::STREAM_CLOSED)
                }
                _ => Ok(()),
            };
        };
        match StreamState::Closed(why).recv(kind, es) {
            Ok(_) => Ok(()),
            Err(e) => self.state_error(now, id, e),
        }
    }

    /// A frame the stream's state refuses.
    fn state_error(&mut self, now: Instant, id: u32, e: StreamStateError) -> Result<(), Error> {
        match e.scope {
            Scope::Connection => Err(Error::protocol(
                e.code,
                "frame not allowed in the stream's state",
            )),
            // Never answer RST_STREAM with RST_STREAM (§5.4.2).
            Scope::Stream if e.kind == FrameKind::RstStream => Ok(()),
            Scope::Stream => self.stream_error(now, id, e.code),
        }
    }

    /// A stream error (§5.4.2): RST_STREAM with `code`; the stream ends,
    /// its unreleased credit goes back, the application hears of it.
    pub(super) fn stream_error(
        &mut self,
        now: Instant,
        id: u32,
        code: ErrorCode,
    ) -> Result<(), Error> {
        self.count(now, Count::LocalReset)?;
        let stream = StreamId::from_bits(id);
        self.write_control(&Frame::RstStream(RstStream { stream, code }))?;
        if let Some(s) = self.streams.map.remove(&id) {
            let _ = self.conn_recv.release(s.recv.held());
            self.streams.remember(id, Closed::ResetSent);
            self.events.push_back(Event::Reset {
                stream,
                code,
                remote: false,
            });
            if s.local {
                self.check_streams_available();
            }
            self.maybe_finish();
        } else {
            self.streams.remember(id, Closed::ResetSent);
        }
        Ok(())
    }

    /// Refuses a stream the peer opened, before the application saw it.
    fn refuse(&mut self, now: Instant, id: u32, code: ErrorCode) -> Result<(), Error> {
        self.count(now, Count::LocalReset)?;
        self.write_control(&Frame::RstStream(RstStream {
            stream: StreamId::from_bits(id),
            code,
        }))?;
        self.streams.remember(id, Closed::ResetSent);
        Ok(())
    }

    /// A request whose header list is over our limit: 431, and the rest
    /// of the request refused.
    fn reject_431(&mut self, now: Instant, id: u32, es: bool) -> Result<(), Error> {
        self.count(now, Count::LocalReset)?;
        let status = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
        self.write_block(id, &Pseudo::response(&status), &HeaderMap::new(), true);
        if es {
            self.streams.remember(id, Closed::EndStreamSent);
        } else {
            self.write_control(&Frame::RstStream(RstStream {
                stream: StreamId::from_bits(id),
                code: ErrorCode::NO_ERROR,
            }))?;
            self.streams.remember(id, Closed::ResetSent);
        }
        Ok(())
    }

    /// A whole field block: decoded first, always, to keep the HPACK table
    /// in sync, then handled.
    fn on_block(
        &mut self,
        now: Instant,
        stream: StreamId,
        block: Bytes,
        es: bool,
        self_dependent: bool,
    ) -> Result<(), Error> {
        // The field vector is the connection's, kept from block to block
        // (emptied each time), instead of one grown afresh per block.
        let mut fields = std::mem::take(&mut self.fields);
        let result = self.on_fields(now, stream, &block, &mut fields, es, self_dependent);
        fields.clear();
        if fields.capacity() <= FIELDS_KEPT {
            self.fields = fields;
        }
        result
    }

    fn on_fields(
        &mut self,
        now: Instant,
        stream: StreamId,
        block: &Bytes,
        fields: &mut Vec<crate::hpack::Field>,
        es: bool,
        self_dependent: bool,
    ) -> Result<(), Error> {
        let id = stream.get();
        let too_large = match self.hpack_dec.decode_into(block, fields) {
            Ok(()) => false,
            Err(e) if e.is_connection_error() => return Err(Error::Compression(e)),
            Err(_) => true,
        };
        if self.streams.get(id).is_some() {
            if self_dependent {
                return self.stream_error(now, id, ErrorCode::PROTOCOL_ERROR);
            }
            return self.on_stream_headers(now, id, fields, es, too_large);
        }
        match self.lookup(id) {
            Unknown::Idle if self.is_remote_id(id) => {
                self.on_new_stream(now, id, fields, es, too_large, self_dependent)
            }
            Unknown::Idle => Err(Error::protocol(
                ErrorCode::PROTOCOL_ERROR,
                "HEADERS on an idle stream of ours",
            )),
            // An id the peer passed over when it opened a higher one: a new
            // stream below one already opened (RFC 9113 §5.1.1). Ids it did
            // open and we forgot stay stream errors below: late trailers
            // on a stream we reset long ago must not end the connection.
            Unknown::Closed(None) if self.streams.was_skipped(id) => Err(Error::protocol(
                ErrorCode::PROTOCOL_ERROR,
                "HEADERS opening a stream id lower than one already opened",
            )),
            Unknown::Closed(why) => self.on_closed_frame(now, id, why, FrameKind::Headers, es),
        }
    }

    fn on_new_stream(
        &mut self,
        now: Instant,
        id: u32,
        fields: &mut Vec<crate::hpack::Field>,
        es: bool,
        too_large: bool,
        self_dependent: bool,
    ) -> Result<(), Error> {
        if self.role != Role::Server {
            return Err(Error::protocol(
                ErrorCode::PROTOCOL_ERROR,
                "HEADERS on a stream the server may not open",
            ));
        }
        // The ids passed over are closed, never opened (§5.1.1).
        let expected = if self.highest_remote == 0 {
            1
        } else {
            self.highest_remote + 2
        };
        if id > expected {
            self.streams.skip(expected, id - 2);
        }
        self.highest_remote = id;
        if self.goaway_sent.is_some_and(|last| id > last) {
            // Opened after our GOAWAY: not processed, safe to retry.
            return self.refuse(now, id, ErrorCode::REFUSED_STREAM);
        }
        if self_dependent {
            return self.refuse(now, id, ErrorCode::PROTOCOL_ERROR);
        }
        if too_large {
            return self.reject_431(now, id, es);
        }
        // The count walks the streams: skipped while there are fewer
        // streams in all than the limit (the usual case).
        let max = self.local.max_concurrent as usize;
        if self.streams.map.len() >= max && self.streams.active(false) >= max {
            return self.refuse(now, id, ErrorCode::REFUSED_STREAM);
        }
        let (head, cl) = match headers::request(fields) {
            Ok(r) => r,
            Err(_) => return self.refuse(now, id, ErrorCode::PROTOCOL_ERROR),
        };
        if es && cl.is_some_and(|n| n > 0) {
            return self.refuse(now, id, ErrorCode::PROTOCOL_ERROR);
        }
        let state = if es {
            StreamState::HalfClosedRemote
        } else {
            StreamState::Open
        };
        let mut s = Stream::new(
            state,
            self.remote.initial_window,
            self.local.initial_window,
            false,
        );
        s.rx = if es { Phase::Done } else { Phase::Body };
        s.content_length = cl;
        self.streams.insert(id, s);
        self.events.push_back(Event::Request {
            stream: StreamId::from_bits(id),
            head,
            end_stream: es,
        });
        // The client's ids are running out: wind down so it reconnects.
        if id >= self.config.max_stream_id.get().saturating_sub(1) {
            let _ = self.go_away(now);
        }
        Ok(())
    }

    fn on_stream_headers(
        &mut self,
        now: Instant,
        id: u32,
        fields: &mut Vec<crate::hpack::Field>,
        es: bool,
        too_large: bool,
    ) -> Result<(), Error> {
        let Some(s) = self.streams.get_mut(id) else {
            return Ok(());
        };
        let next = match s.state.recv(FrameKind::Headers, es) {
            Ok(Outcome::Accept(n)) => n,
            Ok(Outcome::Ignore) => return Ok(()),
            Err(e) => return self.state_error(now, id, e),
        };
        if too_large {
            // A header section over our limit on a stream already under
            // way: never REFUSED_STREAM, which promises the request was
            // not processed and may be retried (RFC 9113 §8.7), and is
            // retried at once by HTTP/2 clients (gRPC transparently).
            // Nor 431, which says the server would not process it (RFC
            // 6585 §5; it goes out only for an oversized request head,
            // before the application sees it: `on_new_stream`).
            let code = if s.local {
                // Our request's response (its head, a 1xx or its
                // trailers): the server processed the request; we discard
                // what we cannot take (RFC 9113 §10.5.1) and no longer
                // need the stream. Go's client says PROTOCOL_ERROR and
                // grpc-go FRAME_SIZE_ERROR; CANCEL is what a server hears
                // from every client that gave up on a stream, and no
                // other reset of ours on a stream we opened uses it, so
                // the runtimes tell this case apart by it.
                ErrorCode::CANCEL
            } else {
                // Request trailers: the head went to the application,
                // which may have acted on it. PROTOCOL_ERROR: the client
                // broke the limit we advertised; a gRPC client maps it to
                // INTERNAL, what grpc-go and our clients report for an
                // oversized header section they receive (CANCEL would
                // read as CANCELLED, ENHANCE_YOUR_CALM as
                // RESOURCE_EXHAUSTED, which retry policies may list).
                ErrorCode::PROTOCOL_ERROR
            };
            return self.stream_error(now, id, code);
        }
        let stream = StreamId::from_bits(id);
        match s.rx {
            Phase::Head => {
                let Ok((head, cl)) = headers::response(fields) else {
                    return self.stream_error(now, id, ErrorCode::PROTOCOL_ERROR);
                };
                if head.status.is_informational() {
                    if es || head.status == StatusCode::SWITCHING_PROTOCOLS {
                        return self.stream_error(now, id, ErrorCode::PROTOCOL_ERROR);
                    }
                    s.state = next;
                    self.events.push_back(Event::Informational { stream, head });
                    return Ok(());
                }
                let no_body = s.head_request || head.status == StatusCode::NOT_MODIFIED;
                if es && !no_body && cl.is_some_and(|n| n > 0) {
                    return self.stream_error(now, id, ErrorCode::PROTOCOL_ERROR);
                }
                s.state = next;
                s.rx = if es { Phase::Done } else { Phase::Body };
                s.content_length = cl;
                s.no_body = no_body;
                self.events.push_back(Event::Response {
                    stream,
                    head,
                    end_stream: es,
                });
            }
            Phase::Body => {
                if !es {
                    return self.stream_error(now, id, ErrorCode::PROTOCOL_ERROR);
                }
                let Ok(trailers) = headers::trailers(fields) else {
                    return self.stream_error(now, id, ErrorCode::PROTOCOL_ERROR);
                };
                if s.content_length
                    .is_some_and(|cl| !s.no_body && cl != s.received)
                {
                    return self.stream_error(now, id, ErrorCode::PROTOCOL_ERROR);
                }
                s.state = next;
                s.rx = Phase::Done;
                self.events.push_back(Event::Trailers { stream, trailers });
            }
            Phase::Done => return self.stream_error(now, id, ErrorCode::STREAM_CLOSED),
        }
        self.after_state_change(id);
        Ok(())
    }

    fn on_data(&mut self, now: Instant, d: Data) -> Result<(), Error> {
        let flow = d.flow_len() as u32;
        let len = d.data.len() as u32;
        let id = d.stream.get();
        let es = d.end_stream;
        self.conn_recv.on_data(flow).map_err(Error::FlowControl)?;
        if len == 0 && !es {
            self.count(now, Count::EmptyData)?;
        }
        let Some(s) = self.streams.get_mut(id) else {
            let _ = self.conn_recv.release(flow);
            return match self.lookup(id) {
                Unknown::Idle => Err(Error::protocol(
                    ErrorCode::PROTOCOL_ERROR,
                    "DATA on an idle stream",
                )),
                Unknown::Closed(why) => self.on_closed_frame(now, id, why, FrameKind::Data, es),
            };
        };
        let next = match s.state.recv(FrameKind::Data, es) {
            Ok(Outcome::Accept(n)) => n,
            Ok(Outcome::Ignore) => {
                let _ = self.conn_recv.release(flow);
                return Ok(());
            }
            Err(e) => {
                let _ = self.conn_recv.release(flow);
                return self.state_error(now, id, e);
            }
        };
        if s.rx != Phase::Body || (s.no_body && len > 0) {
            let _ = self.conn_recv.release(flow);
            return self.stream_error(now, id, ErrorCode::PROTOCOL_ERROR);
        }
        if s.recv.on_data(flow).is_err() {
            let _ = self.conn_recv.release(flow);
            return self.stream_error(now, id, ErrorCode::FLOW_CONTROL_ERROR);
        }
        // Padding is nobody's to consume: its credit goes back at once.
        let pad = flow - len;
        if pad > 0 {
            let _ = s.recv.release(pad);
            let _ = self.conn_recv.release(pad);
            self.dirty.push(id);
        }
        s.received += u64::from(len);
        let bad_length = s
            .content_length
            .is_some_and(|cl| !s.no_body && (s.received > cl || (es && s.received != cl)));
        if bad_length {
            return self.stream_error(now, id, ErrorCode::PROTOCOL_ERROR);
        }
        s.state = next;
        if es {
            s.rx = Phase::Done;
        }
        if len > 0 || es {
            self.events.push_back(Event::Data {
                stream: StreamId::from_bits(id),
                data: d.data,
                end_stream: es,
                flow_len: len as usize,
            });
        }
        self.after_state_change(id);
        Ok(())
    }

    fn on_rst(&mut self, now: Instant, r: RstStream) -> Result<(), Error> {
        let id = r.stream.get();
        let Some(s) = self.streams.get(id) else {
            return match self.lookup(id) {
                Unknown::Idle => Err(Error::protocol(
                    ErrorCode::PROTOCOL_ERROR,
                    "RST_STREAM on an idle stream",
                )),
                Unknown::Closed(_) => Ok(()),
            };
        };
        let next = match s.state.recv(FrameKind::RstStream, false) {
            Ok(Outcome::Accept(n)) => n,
            Ok(Outcome::Ignore) => return Ok(()),
            Err(e) => return self.state_error(now, id, e),
        };
        // Rapid reset (CVE-2023-44487) is a request reset before it is
        // answered: work started that nobody waits for. A call we have
        // begun to answer and the client then cancels is a deadline or a
        // stream no longer wanted (grpc-go resets every cancelled call
        // with CANCEL); a server that resets our stream after its complete
        // response asks us to stop sending the request (RFC 9113 §8.1;
        // grpc-go does so with NO_ERROR whenever it ends a call we still
        // send on). Our own streams do not count at all: the peer can
        // reset only streams we opened, so their resets are bounded by
        // our own pace, and refusing them is how a busy server sheds load
        // (REFUSED_STREAM, retried by our clients) and how a client turns
        // down pushes. Only the peer's streams we had not begun to answer
        // count.
        if !s.local && s.tx == Phase::Head {
            self.count(now, Count::RemoteReset)?;
        }
        if let Some(mut s) = self.streams.map.remove(&id) {
            let _ = self.conn_recv.release(s.recv.held());
            s.state = next;
            self.streams.remember(id, Closed::ResetReceived);
            self.events.push_back(Event::Reset {
                stream: r.stream,
                code: r.code,
                remote: true,
            });
            if s.local {
                self.check_streams_available();
            }
            self.maybe_finish();
        }
        Ok(())
    }

    fn on_window_update(&mut self, now: Instant, w: WindowUpdate) -> Result<(), Error> {
        // Credit given back for DATA we sent is the peer's answer to our
        // own output, not a flood (see `earn_window_updates`).
        if self.window_updates_earned > 0 {
            self.window_updates_earned -= 1;
        } else {
            self.count(now, Count::WindowUpdate)?;
        }
        let id = w.stream.get();
        if id == 0 {
            self.conn_send
                .on_window_update(w.increment)
                .map_err(Error::FlowControl)?;
            self.notify_writable();
            return Ok(());
        }
        let Some(s) = self.streams.get_mut(id) else {
            return match self.lookup(id) {
                Unknown::Idle => Err(Error::protocol(
                    ErrorCode::PROTOCOL_ERROR,
                    "WINDOW_UPDATE on an idle stream",
                )),
                Unknown::Closed(why) => {
                    self.on_closed_frame(now, id, why, FrameKind::WindowUpdate, false)
                }
            };
        };
        match s.state.recv(FrameKind::WindowUpdate, false) {
            Ok(Outcome::Accept(_)) => {}
            Ok(Outcome::Ignore) => return Ok(()),
            Err(e) => return self.state_error(now, id, e),
        }
        if s.send.on_window_update(w.increment).is_err() {
            return self.stream_error(now, id, ErrorCode::FLOW_CONTROL_ERROR);
        }
        self.notify_writable();
        Ok(())
    }

    /// Reports `Writable` for every stream a short `send_data` left
    /// waiting, once both windows have room.
    pub(super) fn notify_writable(&mut self) {
        if self.conn_send.available() == 0 {
            return;
        }
        for (id, s) in self.streams.map.iter_mut() {
            if s.blocked && s.tx == Phase::Body && s.state.can_send_data() && s.send.available() > 0
            {
                s.blocked = false;
                self.events.push_back(Event::Writable {
                    stream: StreamId::from_bits(*id),
                });
            }
        }
    }

    /// Sends the WINDOW_UPDATEs that are due.
    pub(super) fn flush_updates(&mut self) {
        if self.state != State::Open {
            return;
        }
        if let Some(increment) = self.conn_recv.poll_update() {
            self.write_frame(&Frame::WindowUpdate(WindowUpdate {
                stream: StreamId::ZERO,
                increment,
            }));
        }
        if self.dirty.is_empty() {
            return;
        }
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        for id in dirty.iter().copied() {
            let Some(s) = self.streams.get_mut(id) else {
                continue;
            };
            if !s.state.can_recv_data() {
                continue;
            }
            if let Some(increment) = s.recv.poll_update() {
                self.write_frame(&Frame::WindowUpdate(WindowUpdate {
                    stream: StreamId::from_bits(id),
                    increment,
                }));
            }
        }
        dirty.clear();
        self.dirty = dirty;
    }

    /// Drops a closed stream once nothing of it is held, and lets waiting
    /// work go on.
    pub(super) fn after_state_change(&mut self, id: u32) {
        let Some(s) = self.streams.get(id) else {
            return;
        };
        if !s.state.is_closed() {
            return;
        }
        let local = s.local;
        if s.recv.held() == 0 {
            self.streams.remove(id);
        }
        if local {
            self.check_streams_available();
        }
        self.maybe_finish();
    }
}
