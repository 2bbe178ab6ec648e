//! The send path: the commands that open streams and send heads, data,
//! trailers and resets, and give receive credit back.

use super::headers;
use super::streams::{Phase, Stream};
use super::{Connection, Error, Event, Role};
use crate::flow::ReleaseError;
use crate::frame::{
    ErrorCode, Flags, Frame, FrameHeader, FrameType, HEADER_LEN, RstStream, StreamId,
    encode_data_header, encode_headers,
};
use crate::hpack::Pseudo;
use crate::stream_state::{Closed, FrameKind, StreamState};
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, request, response};
use wirestate_machine::{TxMark, TxQueue};

/// The last DATA frame written: where it starts in the output and how
/// long its payload is (see `Connection::grow_open_data`).
#[derive(Debug, Clone, Copy)]
pub(super) struct OpenData {
    stream: u32,
    mark: TxMark,
    len: usize,
}

/// The largest field-block buffer kept between heads (a larger one, from
/// an unusually large head, is freed after use).
const BLOCK_BUF_KEPT: usize = 16 * 1024;

impl Connection {
    /// HPACK-encodes a head and queues it as HEADERS and CONTINUATION
    /// frames no larger than the peer's SETTINGS_MAX_FRAME_SIZE.
    pub(super) fn write_block(
        &mut self,
        id: u32,
        pseudo: &Pseudo<'_>,
        headers: &HeaderMap,
        es: bool,
    ) {
        if self.tx.is_shutdown() {
            return;
        }
        self.reset_ping_strikes();
        let mut block = std::mem::take(&mut self.block_buf);
        block.clear();
        self.hpack_enc.encode_headers(pseudo, headers, &mut block);
        let stream = StreamId::from_bits(id);
        if block.len() <= self.remote.max_frame_size as usize {
            // The usual case, one HEADERS frame: its 9-byte header and the
            // block go straight into the output, and the block's buffer is
            // kept for the next head.
            let header = FrameHeader {
                len: block.len() as u32,
                kind: FrameType::HEADERS,
                flags: Flags::END_HEADERS.with_if(Flags::END_STREAM, es),
                stream,
            };
            self.tx.write(&header.encode());
            self.tx.write(&block);
            if block.capacity() <= BLOCK_BUF_KEPT {
                self.block_buf = block;
            }
            return;
        }
        self.scratch.clear();
        if encode_headers(
            stream,
            block.freeze(),
            es,
            self.remote.max_frame_size,
            &mut self.scratch,
        )
        .is_ok()
        {
            self.tx.write(&self.scratch);
        }
    }

    fn check_list_size(&self, pseudo: &Pseudo<'_>, headers: &HeaderMap) -> Result<(), Error> {
        if let Some(max) = self.remote.max_header_list {
            let size = headers::list_size(pseudo, headers);
            if size > max as usize {
                return Err(Error::HeaderListTooLarge { size, max });
            }
        }
        Ok(())
    }

    /// Clients: opens a stream with a request head; `end_stream` when no
    /// body follows. Returns the new stream's id.
    ///
    /// `:scheme`, `:authority` and `:path` come from the URI (the
    /// authority from a `host` field when the URI has none; the scheme
    /// from [`Config::default_scheme`](super::Config::default_scheme)).
    /// Fails with [`Error::StreamLimit`] at the peer's
    /// SETTINGS_MAX_CONCURRENT_STREAMS (retry after
    /// [`Event::StreamsAvailable`]), [`Error::GoingAway`] after a GOAWAY
    /// either way, [`Error::InvalidHead`] for connection-specific fields.
    ///
    /// Until the peer's first SETTINGS arrive
    /// ([`Event::RemoteSettings`]) its limit is not known and not
    /// enforced here: streams opened beyond it come back as
    /// [`Event::Reset`] with REFUSED_STREAM (the peer did not process
    /// them: safe to send again). Seen against nghttpd `-m 2`: of six
    /// requests sent at once, four were refused. To avoid that, open
    /// the first streams after `RemoteSettings`, or few of them.
    pub fn send_request(
        &mut self,
        mut head: request::Parts,
        end_stream: bool,
    ) -> Result<StreamId, Error> {
        self.check_open()?;
        if self.role != Role::Client {
            return Err(Error::WrongRole);
        }
        if self.goaway_sent.is_some() || self.goaway_recv.is_some() {
            return Err(Error::GoingAway);
        }
        if self.ids_exhausted || self.next_local > self.config.max_stream_id.get() {
            return Err(Error::StreamIdsExhausted);
        }
        if self
            .remote
            .max_concurrent
            .is_some_and(|m| self.streams.active(true) >= m as usize)
        {
            self.want_streams = true;
            return Err(Error::StreamLimit);
        }
        headers::check_outgoing(&head.headers)?;
        let scheme = self.config.default_scheme.clone();
        // A Host field names the authority the caller means (as `curl -H
        // 'Host: ...'` does): it becomes :authority and is not sent as a
        // field, since a client must not send a Host that differs from
        // :authority (RFC 9113 §8.3.1).
        let host = head.headers.remove(http::header::HOST);
        let mut pseudo = Pseudo::request(&head.method, &head.uri);
        if let Some(host) = &host {
            let host = host
                .to_str()
                .map_err(|_| Error::InvalidHead("host is not a valid authority"))?;
            pseudo.authority = Some(host);
        }
        if head.method == Method::CONNECT {
            if pseudo.authority.is_none() {
                return Err(Error::InvalidHead("CONNECT without an authority"));
            }
        } else if pseudo.scheme.is_none() {
            pseudo.scheme = Some(scheme.as_str());
        }
        self.check_list_size(&pseudo, &head.headers)?;
        let id = self.next_local;
        let state = if end_stream {
            StreamState::HalfClosedLocal
        } else {
            StreamState::Open
        };
        let mut s = Stream::new(
            state,
            self.remote.initial_window,
            self.local.initial_window,
            true,
        );
        s.tx = if end_stream { Phase::Done } else { Phase::Body };
        s.rx = Phase::Head;
        s.head_request = head.method == Method::HEAD;
        self.write_block(id, &pseudo, &head.headers, end_stream);
        self.streams.insert(id, s);
        self.next_local = id.saturating_add(2);
        if self.next_local > self.config.max_stream_id.get() {
            self.ids_exhausted = true;
            self.events.push_back(Event::StreamIdsExhausted);
            self.final_goaway();
        }
        Ok(StreamId::from_bits(id))
    }

    /// The live stream `stream`, for a command.
    fn stream_for_send(&mut self, stream: StreamId) -> Result<&mut Stream, Error> {
        self.check_open()?;
        self.streams
            .get_mut(stream.get())
            .ok_or(Error::UnknownStream(stream))
    }

    /// Servers: sends the final response head on a request's stream;
    /// `end_stream` when no body follows. 1xx heads go through
    /// [`send_informational`](Self::send_informational).
    pub fn send_response(
        &mut self,
        stream: StreamId,
        head: response::Parts,
        end_stream: bool,
    ) -> Result<(), Error> {
        if self.role != Role::Server {
            return Err(Error::WrongRole);
        }
        if head.status.is_informational() {
            return Err(Error::InvalidHead("1xx status: use send_informational"));
        }
        self.send_head(stream, &head.status, &head.headers, end_stream)
    }

    /// Servers: sends an interim (1xx, not 101) response head; any number
    /// may precede the final one.
    pub fn send_informational(
        &mut self,
        stream: StreamId,
        head: response::Parts,
    ) -> Result<(), Error> {
        if self.role != Role::Server {
            return Err(Error::WrongRole);
        }
        if !head.status.is_informational() || head.status == StatusCode::SWITCHING_PROTOCOLS {
            return Err(Error::InvalidHead("not an interim status (or 101)"));
        }
        self.send_head(stream, &head.status, &head.headers, false)
    }

    fn send_head(
        &mut self,
        stream: StreamId,
        status: &StatusCode,
        headers: &HeaderMap,
        end_stream: bool,
    ) -> Result<(), Error> {
        headers::check_outgoing(headers)?;
        let pseudo = Pseudo::response(status);
        self.check_list_size(&pseudo, headers)?;
        let s = self.stream_for_send(stream)?;
        if s.tx != Phase::Head {
            return Err(Error::InvalidState {
                stream,
                reason: "response already sent",
            });
        }
        let next = s
            .state
            .on_send(FrameKind::Headers, end_stream)
            .map_err(|_| Error::InvalidState {
                stream,
                reason: "stream closed for sending",
            })?;
        let interim = status.is_informational();
        if !interim {
            s.state = next;
            s.tx = if end_stream { Phase::Done } else { Phase::Body };
        }
        self.write_block(stream.get(), &pseudo, headers, end_stream);
        self.after_state_change(stream.get());
        Ok(())
    }

    /// Sends body data, as much as the stream's and the connection's send
    /// windows allow: returns how many bytes of `data` were taken (they go
    /// out as DATA frames no larger than the peer's SETTINGS_MAX_FRAME_SIZE,
    /// without copying). `end_stream` applies only if all of `data` was
    /// taken. When less was taken, [`Event::Writable`] says when to try
    /// again with the rest.
    pub fn send_data(
        &mut self,
        stream: StreamId,
        data: Bytes,
        end_stream: bool,
    ) -> Result<usize, Error> {
        let conn_avail = self.conn_send.available() as usize;
        let max = self.remote.max_frame_size as usize;
        let s = self.stream_for_send(stream)?;
        if s.tx != Phase::Body || !s.state.can_send_data() {
            return Err(Error::InvalidState {
                stream,
                reason: "no head sent, or the stream ended",
            });
        }
        let len = data.len();
        let n = len.min(conn_avail).min(s.send.available() as usize);
        let fin = end_stream && n == len;
        if n < len {
            s.blocked = true;
        }
        if n == 0 && !fin {
            return Ok(0);
        }
        let next = s
            .state
            .on_send(FrameKind::Data, fin)
            .map_err(|_| Error::InvalidState {
                stream,
                reason: "stream closed for sending",
            })?;
        s.send.take(n);
        let stream_exhausted = s.send.available() == 0;
        s.state = next;
        if fin {
            s.tx = Phase::Done;
        }
        self.conn_send.take(n);
        // Cut short by the peer's windows (the runtimes ask `sendable`
        // first, so a cut frame is one that empties a window): see
        // `earn_window_updates`.
        let limited = n < len || stream_exhausted || self.conn_send.available() == 0;
        self.reset_ping_strikes();
        let mut rest = data.slice(..n);
        if self.grow_open_data(stream, &rest, fin) {
            self.earn_window_updates(rest.len(), limited);
        } else {
            loop {
                let chunk = rest.split_to(rest.len().min(max));
                let last = rest.is_empty();
                let mark = self.tx.mark();
                if let Ok(head) = encode_data_header(stream, chunk.len(), fin && last) {
                    self.tx.write(&head);
                }
                self.earn_window_updates(chunk.len(), limited);
                let len = chunk.len();
                if !chunk.is_empty() {
                    self.tx.push(chunk);
                }
                if last {
                    self.open_data = (!fin).then_some(OpenData {
                        stream: stream.get(),
                        mark,
                        len,
                    });
                    break;
                }
            }
        }
        self.after_state_change(stream.get());
        Ok(n)
    }

    /// Appends `chunk` (and END_STREAM if `fin`) to the DATA frame last
    /// written on `stream`, when that frame is still unsent, nothing was
    /// written after it, and the result fits the peer's frame size.
    ///
    /// Why: an application writing many small pieces (log lines, SSE
    /// events, small gRPC messages) faster than the socket drains would
    /// otherwise cost the peer one frame per piece. Peers count small
    /// frames as a flood: hyper's h2 sends GOAWAY ENHANCE_YOUR_CALM
    /// ("too_many_data_frames") once about a hundred of them wait unread.
    /// Growing the unsent frame keeps the frame count to about one per
    /// socket write, like a buffered writer, without delaying anything.
    fn grow_open_data(&mut self, stream: StreamId, chunk: &[u8], fin: bool) -> bool {
        let Some(open) = self.open_data else {
            return false;
        };
        let len = open.len + chunk.len();
        if open.stream != stream.get()
            || chunk.len() >= TxQueue::COPY_THRESHOLD
            || len > self.remote.max_frame_size as usize
        {
            return false;
        }
        let Ok(head) = encode_data_header(stream, len, fin) else {
            return false;
        };
        match self.tx.since_mut(open.mark) {
            Some(frame) if frame.len() == HEADER_LEN + open.len => {
                frame[..HEADER_LEN].copy_from_slice(&head);
            }
            _ => return false,
        }
        self.tx.write(chunk);
        self.open_data = (!fin).then_some(OpenData { len, ..open });
        true
    }

    /// Sends trailers, ending the stream (after the head, and any data).
    pub fn send_trailers(&mut self, stream: StreamId, trailers: HeaderMap) -> Result<(), Error> {
        headers::check_outgoing(&trailers)?;
        self.check_list_size(&Pseudo::default(), &trailers)?;
        let s = self.stream_for_send(stream)?;
        if s.tx != Phase::Body {
            return Err(Error::InvalidState {
                stream,
                reason: "no head sent, or the stream ended",
            });
        }
        let next = s
            .state
            .on_send(FrameKind::Headers, true)
            .map_err(|_| Error::InvalidState {
                stream,
                reason: "stream closed for sending",
            })?;
        s.state = next;
        s.tx = Phase::Done;
        self.write_block(stream.get(), &Pseudo::default(), &trailers, true);
        self.after_state_change(stream.get());
        Ok(())
    }

    /// Resets a stream with RST_STREAM `code` (CANCEL to abandon a
    /// request, NO_ERROR after a complete response to stop the upload...).
    /// Frames the peer sent before seeing it are ignored, and their credit
    /// returned; so is credit not yet released on this stream (later
    /// [`release_capacity`](Self::release_capacity) calls for it are no-ops).
    pub fn reset(&mut self, stream: StreamId, code: ErrorCode) -> Result<(), Error> {
        self.check_open()?;
        let id = stream.get();
        let Some(mut s) = self.streams.map.remove(&id) else {
            return Err(Error::UnknownStream(stream));
        };
        let _ = self.conn_recv.release(s.recv.held());
        if !s.state.is_closed() {
            self.write_frame(&Frame::RstStream(RstStream { stream, code }));
            s.state = StreamState::Closed(Closed::ResetSent);
            self.streams.remember(id, Closed::ResetSent);
        }
        if s.local {
            self.check_streams_available();
        }
        self.maybe_finish();
        self.flush_updates();
        Ok(())
    }

    /// Gives back `n` bytes of receive credit on `stream` (and on the
    /// connection) once the application consumed data it got in
    /// [`Event::Data`]: WINDOW_UPDATEs follow once enough is released.
    ///
    /// A stream that was reset already had its credit returned: releasing
    /// on it is a no-op. More than was received and not released is a
    /// usage error.
    pub fn release_capacity(&mut self, stream: StreamId, n: usize) -> Result<(), Error> {
        let id = stream.get();
        let Some(s) = self.streams.get_mut(id) else {
            return Ok(());
        };
        let n = u32::try_from(n).map_err(|_| ReleaseError {
            released: u32::MAX,
            held: s.recv.held(),
        })?;
        s.recv.release(n)?;
        let _ = self.conn_recv.release(n);
        self.dirty.push(id);
        self.after_state_change(id);
        self.flush_updates();
        Ok(())
    }
}
