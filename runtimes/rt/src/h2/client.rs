//! The HTTP/2 client: one connection, many requests at once.

use super::send::{Outgoing, Sent};
use crate::body::BodySender;
use crate::{App, Body, Driver, Error, Io, Runtime};
use bytes::Bytes;
use futures_channel::oneshot;
use http::{Request, Response};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Waker};
use std::time::Instant;
use wirestate_h2::connection::{Config, Connection, Event};
use wirestate_h2::frame::{ErrorCode, StreamId};
use wirestate_http1::BodySize;
use wirestate_machine::Machine;

type Reply = oneshot::Sender<Result<Response<Body>, Error>>;

/// State shared by the [`SendRequest`] handles and the connection's driver.
#[derive(Default)]
struct Shared {
    queue: VecDeque<(Request<Body>, Reply)>,
    driver: Option<Waker>,
    /// No new requests: the connection failed, is going away, or is done.
    closed: bool,
    /// The code and debug data of the peer's GOAWAY, if one came.
    goaway: Option<(ErrorCode, Bytes)>,
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sends requests on one HTTP/2 connection, concurrently: each request is
/// a stream. Cheap to clone; the connection closes (GOAWAY) once every
/// handle is dropped and nothing is in flight.
#[derive(Clone)]
pub struct SendRequest {
    shared: Arc<Mutex<Shared>>,
    /// The connection runs over TLS ([`Io::is_secure`]).
    secure: bool,
}

impl std::fmt::Debug for SendRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("h2::SendRequest")
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl SendRequest {
    /// Whether the connection runs over TLS ([`Io::is_secure`]): callers
    /// that build their own URIs (a gRPC channel) send `https` then.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// Sends `req` and waits for the response head; the body streams after.
    ///
    /// The URI must be absolute (`http://host/path`): its scheme and
    /// authority become `:scheme` and `:authority`. Requests beyond the
    /// server's concurrent-stream limit wait for a stream to end.
    pub async fn send(&self, req: Request<Body>) -> Result<Response<Body>, Error> {
        let (tx, rx) = oneshot::channel();
        {
            let mut sh = lock(&self.shared);
            if sh.closed {
                return Err(Error::Aborted { sent: false });
            }
            sh.queue.push_back((req, tx));
            if let Some(w) = sh.driver.take() {
                w.wake();
            }
        }
        rx.await.unwrap_or(Err(Error::Aborted { sent: false }))
    }

    /// Whether the connection takes no more requests.
    pub fn is_closed(&self) -> bool {
        lock(&self.shared).closed
    }

    /// The error code and debug data of the GOAWAY the server sent, if
    /// it sent one: why the connection went away (a gRPC channel backs
    /// off its keep-alive on ENHANCE_YOUR_CALM `too_many_pings`).
    pub fn go_away_reason(&self) -> Option<(ErrorCode, Bytes)> {
        lock(&self.shared).goaway.clone()
    }
}

impl Drop for SendRequest {
    fn drop(&mut self) {
        // The last handle: let the driver see that nobody will send again.
        if Arc::strong_count(&self.shared) == 2 {
            if let Some(w) = lock(&self.shared).driver.take() {
                w.wake();
            }
        }
    }
}

/// Starts an HTTP/2 client connection (prior knowledge: the preface goes
/// out first) over `io`: a handle to send requests and the driver future,
/// which the caller spawns.
pub fn handshake<R: Runtime, I: Io>(
    rt: R,
    io: I,
    config: Config,
) -> (SendRequest, Driver<R, Connection, I, ClientApp>) {
    let shared = Arc::new(Mutex::new(Shared::default()));
    let secure = io.is_secure();
    let mut machine = Connection::client(config);
    machine.start(rt.now());
    let app = ClientApp {
        shared: shared.clone(),
        waiting: VecDeque::new(),
        streams: HashMap::new(),
        closing: false,
        wake_at: None,
    };
    (
        SendRequest { shared, secure },
        Driver::new(rt, machine, io, app),
    )
}

/// One request in flight.
struct ClientStream {
    /// Until the response head arrives.
    reply: Option<Reply>,
    /// The request body going out.
    upload: Option<Outgoing>,
    /// The response body coming in.
    body: Option<BodySender>,
    /// Response bytes given to the reader and not yet released as credit.
    unreleased: usize,
}

/// The application side of an HTTP/2 client connection: opens a stream
/// per request, streams request bodies as the windows allow, and gives
/// response-body credit back only as the reader consumes it.
pub struct ClientApp {
    shared: Arc<Mutex<Shared>>,
    /// Requests waiting for a stream (the server's concurrency limit).
    waiting: VecDeque<(Request<Body>, Reply)>,
    streams: HashMap<StreamId, ClientStream>,
    /// Every handle is gone and GOAWAY was sent.
    closing: bool,
    /// The earliest time a held request piece is due (see `Sent::Held`).
    wake_at: Option<Instant>,
}

impl ClientApp {
    fn fail_all(&mut self, make: impl Fn() -> Error) {
        lock(&self.shared).closed = true;
        for (_, tx) in self.waiting.drain(..) {
            let _ = tx.send(Err(Error::Aborted { sent: false }));
        }
        let queued: Vec<_> = lock(&self.shared).queue.drain(..).collect();
        for (_, tx) in queued {
            let _ = tx.send(Err(Error::Aborted { sent: false }));
        }
        for (_, s) in self.streams.drain() {
            if let Some(tx) = s.reply {
                let _ = tx.send(Err(make()));
            }
            if let Some(b) = s.body {
                b.fail(make().to_string());
            }
        }
    }

    fn on_event(&mut self, m: &mut Connection, ev: Event) {
        match ev {
            Event::Response {
                stream,
                head,
                end_stream,
            } => {
                let Some(s) = self.streams.get_mut(&stream) else {
                    return;
                };
                let body = if end_stream {
                    Body::empty()
                } else {
                    let (sender, body) = super::body_channel(&head.headers, false);
                    s.body = Some(sender);
                    body
                };
                if let Some(tx) = s.reply.take() {
                    let _ = tx.send(Ok(Response::from_parts(head, body)));
                }
                if end_stream && s.upload.is_none() {
                    self.streams.remove(&stream);
                }
            }
            Event::Data {
                stream,
                data,
                end_stream,
                ..
            } => match self.streams.get_mut(&stream) {
                Some(s) if s.body.is_some() => {
                    if let Some(up) = &mut s.upload {
                        up.peer_sent();
                    }
                    s.unreleased += data.len();
                    if let Some(b) = &s.body {
                        b.push(data);
                        if end_stream {
                            b.finish(None);
                        }
                    }
                    if end_stream {
                        s.body = None;
                    }
                }
                _ => {
                    let _ = m.release_capacity(stream, data.len());
                }
            },
            Event::Trailers { stream, trailers } => {
                if let Some(s) = self.streams.get_mut(&stream) {
                    if let Some(b) = s.body.take() {
                        b.finish(Some(trailers));
                    }
                }
            }
            Event::Reset {
                stream,
                code,
                remote,
            } => {
                if let Some(s) = self.streams.remove(&stream) {
                    let err = || match (code, remote) {
                        // From the server: nothing of it was processed (§8.7).
                        (ErrorCode::REFUSED_STREAM, true) => Error::Refused { goaway: false },
                        // From our machine, whose only CANCEL is for a
                        // response header section over our limit: the
                        // request was processed, so neither a refusal nor
                        // a cancellation of ours (see `Event::Reset`).
                        (ErrorCode::CANCEL, false) => Error::HeadersTooLarge,
                        (code, _) => Error::Reset(code),
                    };
                    if let Some(tx) = s.reply {
                        let _ = tx.send(Err(err()));
                    }
                    if let Some(b) = s.body {
                        b.fail(err().to_string());
                    }
                }
            }
            Event::StreamRefused { stream } => {
                // Above the server's GOAWAY last-stream-id: never processed.
                if let Some(s) = self.streams.remove(&stream) {
                    if let Some(tx) = s.reply {
                        let _ = tx.send(Err(Error::Refused { goaway: true }));
                    }
                }
            }
            Event::GoAway { code, debug, .. } => {
                // Streams below the last id finish; nothing new goes out.
                let mut sh = lock(&self.shared);
                sh.closed = true;
                sh.goaway = Some((code, debug));
            }
            Event::Error(e) => self.fail_all(|| Error::H2(e.clone())),
            _ => {}
        }
    }

    /// Opens streams for queued requests while the server allows.
    fn open_streams(&mut self, m: &mut Connection) -> bool {
        let mut progress = false;
        {
            let mut sh = lock(&self.shared);
            self.waiting.extend(sh.queue.drain(..));
        }
        while m.can_open_stream() {
            let Some((req, tx)) = self.waiting.pop_front() else {
                break;
            };
            progress = true;
            let (parts, body) = req.into_parts();
            let size = body.size();
            let end_stream = size == BodySize::Empty || size == BodySize::Exact(0);
            match m.send_request(parts, end_stream) {
                Ok(stream) => {
                    self.streams.insert(
                        stream,
                        ClientStream {
                            reply: Some(tx),
                            upload: (!end_stream).then(|| Outgoing::new(body)),
                            body: None,
                            unreleased: 0,
                        },
                    );
                }
                Err(e) if e.kind() != wirestate_machine::ErrorKind::Usage => {
                    // Nothing went out (a limit, or the connection ending):
                    // safe to retry elsewhere.
                    tracing::debug!(error = %e, "request not sent");
                    let _ = tx.send(Err(Error::Aborted { sent: false }));
                }
                Err(e) => {
                    let _ = tx.send(Err(Error::InvalidRequest(e.to_string())));
                }
            }
        }
        progress
    }
}

impl App<Connection> for ClientApp {
    fn poll(&mut self, cx: &mut Context<'_>, m: &mut Connection, now: Instant) -> bool {
        // The waker goes in before the queue is looked at (see the HTTP/1.1
        // client's `poll`): a request queued after the look wakes us.
        {
            let mut sh = lock(&self.shared);
            match &sh.driver {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => sh.driver = Some(cx.waker().clone()),
            }
        }
        let mut progress = false;
        while let Some(ev) = m.poll_event() {
            self.on_event(m, ev);
            progress = true;
        }
        if m.is_closed() {
            // Closed with no error event (our idle timeout, or an EOF
            // after a GOAWAY): the driver ends, so nothing may stay queued
            // for it, and the handle must say closed.
            self.fail_all(|| Error::Aborted { sent: false });
        }
        if !lock(&self.shared).closed && m.is_open() {
            progress |= self.open_streams(m);
        }
        let mut done = Vec::new();
        self.wake_at = None;
        for (&stream, s) in self.streams.iter_mut() {
            // The caller gave up on the response (dropped the future or the
            // body before its end): cancel the stream.
            let gave_up = s
                .reply
                .as_mut()
                .is_some_and(|tx| tx.poll_canceled(cx).is_ready())
                || s.body.as_ref().is_some_and(|b| b.watch_dropped(cx));
            if gave_up {
                let _ = m.reset(stream, ErrorCode::CANCEL);
                let _ = m.release_capacity(stream, s.unreleased);
                s.reply = None;
                s.upload = None;
                s.body = None;
                s.unreleased = 0;
                done.push(stream);
                progress = true;
                continue;
            }
            if let Some(up) = &mut s.upload {
                match up.poll_send(cx, m, stream, now) {
                    Sent::Progress => progress = true,
                    Sent::Done => {
                        progress = true;
                        s.upload = None;
                    }
                    Sent::Failed(e) => {
                        // The request body failed (or was given up) and
                        // the stream is reset: no response will come, so
                        // the caller hears it now (as over HTTP/1.1),
                        // and so does a response body under way.
                        progress = true;
                        if let Some(tx) = s.reply.take() {
                            let _ = tx.send(Err(Error::Aborted { sent: true }));
                        }
                        if let Some(b) = s.body.take() {
                            b.fail(format!("request body failed: {e}"));
                        }
                        let _ = m.release_capacity(stream, s.unreleased);
                        s.unreleased = 0;
                        s.upload = None;
                        done.push(stream);
                        continue;
                    }
                    Sent::Held(t) => {
                        self.wake_at = Some(self.wake_at.map_or(t, |w| w.min(t)));
                    }
                    Sent::Blocked => {}
                }
            }
            // Credit for what the reader took from the response body.
            if s.unreleased > 0 {
                let buffered = s.body.as_ref().map_or(0, |b| b.buffered(cx));
                let read = s.unreleased.saturating_sub(buffered);
                if read > 0 {
                    s.unreleased -= read;
                    let _ = m.release_capacity(stream, read);
                    progress = true;
                }
            }
            if s.reply.is_none() && s.upload.is_none() && s.body.is_none() && s.unreleased == 0 {
                done.push(stream);
            }
        }
        for stream in done {
            self.streams.remove(&stream);
        }
        let mut sh = lock(&self.shared);
        // The handles' count: ours plus the user's.
        let abandoned = Arc::strong_count(&self.shared) == 1;
        if abandoned
            && !self.closing
            && self.streams.is_empty()
            && self.waiting.is_empty()
            && sh.queue.is_empty()
        {
            self.closing = true;
            sh.closed = true;
            drop(sh);
            // Nobody will send again and nothing is in flight.
            let _ = now;
            let _ = m.close(ErrorCode::NO_ERROR, b"");
            return true;
        }
        progress
    }

    fn wake_at(&self) -> Option<Instant> {
        self.wake_at
    }

    fn on_input_error(&mut self, error: &wirestate_h2::connection::Error) {
        // Reported as Event::Error too, where the streams fail.
        tracing::debug!(%error, "http/2 connection error");
    }

    fn on_io_error(&mut self, error: &std::io::Error) {
        let kind = error.kind();
        self.fail_all(|| Error::Io(kind.into()));
    }
}
