use crate::body::BodySender;
use crate::{App, Body, Driver, Error, Io, Runtime};
use futures_channel::oneshot;
use http::{Request, Response};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;
use wirestate_http1::{ClientConfig, ClientConnection, ClientEvent, RequestId};
use wirestate_machine::Machine;

type Reply = oneshot::Sender<Result<Response<Body>, Error>>;

/// State shared by the [`SendRequest`] handles and the connection's driver.
#[derive(Default)]
struct Shared {
    queue: VecDeque<(Request<Body>, Reply)>,
    driver: Option<Waker>,
    closed: bool,
    /// Open, idle and able to take a request right away.
    reusable: bool,
}

/// Sends requests on one HTTP/1.1 connection. Cheap to clone; the
/// connection closes when every handle is dropped and nothing is in flight.
#[derive(Clone)]
pub struct SendRequest {
    shared: Arc<Mutex<Shared>>,
}

impl std::fmt::Debug for SendRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendRequest")
            .field("reusable", &self.is_reusable())
            .field("closed", &self.is_closed())
            .finish()
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// Stores the driver's waker for the handles (once per waker, not per poll).
fn register(shared: &Mutex<Shared>, cx: &Context<'_>) {
    let mut sh = lock(shared);
    match &sh.driver {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => sh.driver = Some(cx.waker().clone()),
    }
}

impl SendRequest {
    /// Sends `req` and waits for the response head; the body streams after.
    ///
    /// Requests queue up behind each other; with pipelining off (the
    /// default) the next one goes out once the previous response ended.
    pub async fn send(&self, req: Request<Body>) -> Result<Response<Body>, Error> {
        let (tx, rx) = oneshot::channel();
        {
            let mut sh = lock(&self.shared);
            if sh.closed {
                return Err(Error::Aborted { sent: false });
            }
            sh.reusable = false;
            sh.queue.push_back((req, tx));
            if let Some(w) = sh.driver.take() {
                w.wake();
            }
        }
        rx.await.unwrap_or(Err(Error::Aborted { sent: false }))
    }

    /// Whether the connection is open and idle.
    pub fn is_reusable(&self) -> bool {
        let sh = lock(&self.shared);
        sh.reusable && !sh.closed && sh.queue.is_empty()
    }

    /// Whether the connection has closed.
    pub fn is_closed(&self) -> bool {
        lock(&self.shared).closed
    }
}

/// Starts an HTTP/1.1 client connection over `io`: a handle to send
/// requests and the driver future, which the caller spawns.
pub fn handshake<R: Runtime, I: Io>(
    rt: R,
    io: I,
    config: ClientConfig,
    pipelining: bool,
) -> (SendRequest, Driver<R, ClientConnection, I, ClientApp>) {
    let shared = Arc::new(Mutex::new(Shared {
        reusable: true,
        ..Default::default()
    }));
    let machine = ClientConnection::new(config, rt.now());
    let app = ClientApp {
        shared: shared.clone(),
        waiting: VecDeque::new(),
        bodies: VecDeque::new(),
        upload: None,
        pipelining,
        buffered: 0,
    };
    (SendRequest { shared }, Driver::new(rt, machine, io, app))
}

/// The application side of a client connection.
pub struct ClientApp {
    shared: Arc<Mutex<Shared>>,
    /// Requests sent, waiting for their response head.
    waiting: VecDeque<(RequestId, Reply)>,
    /// Response bodies still arriving.
    bodies: VecDeque<(RequestId, BodySender)>,
    /// The request body being written.
    upload: Option<Body>,
    pipelining: bool,
    /// Response body bytes waiting for readers.
    buffered: usize,
}

/// Response body bytes buffered ahead of the reader before reading pauses.
const BODY_BUFFER: usize = 256 * 1024;

impl ClientApp {
    fn fail_all(&mut self, make: impl Fn() -> Error) {
        for (_, tx) in self.waiting.drain(..) {
            let _ = tx.send(Err(make()));
        }
        for (_, s) in self.bodies.drain(..) {
            s.fail(make().to_string());
        }
        let mut sh = lock(&self.shared);
        sh.closed = true;
        sh.reusable = false;
        for (_, tx) in sh.queue.drain(..) {
            let _ = tx.send(Err(Error::Aborted { sent: false }));
        }
    }

    fn on_event(&mut self, ev: ClientEvent, m: &ClientConnection) {
        match ev {
            ClientEvent::Response(r) => {
                let Some(pos) = self.waiting.iter().position(|(id, _)| *id == r.id) else {
                    return;
                };
                let Some((id, tx)) = self.waiting.remove(pos) else {
                    return;
                };
                let body = if r.body == wirestate_http1::BodyKind::Empty {
                    // Complete already: publish reusability before the
                    // caller (a pool) looks at it.
                    self.publish(m);
                    Body::empty()
                } else {
                    let (sender, body) = Body::channel(r.body, false);
                    self.bodies.push_back((id, sender));
                    body
                };
                let _ = tx.send(Ok(Response::from_parts(r.head, body)));
            }
            ClientEvent::Data { id, data } => {
                if let Some((_, s)) = self.bodies.iter().find(|(i, _)| *i == id) {
                    s.push(data);
                }
            }
            ClientEvent::End { id, trailers } => {
                if let Some(pos) = self.bodies.iter().position(|(i, _)| *i == id) {
                    if let Some((_, s)) = self.bodies.remove(pos) {
                        // Publish reusability before the reader can see the end,
                        // so a pool taking the connection back finds it idle.
                        self.publish(m);
                        s.finish(trailers);
                    }
                }
            }
            ClientEvent::Aborted { id } => {
                if let Some(pos) = self.waiting.iter().position(|(i, _)| *i == id) {
                    if let Some((_, tx)) = self.waiting.remove(pos) {
                        let _ = tx.send(Err(Error::Aborted { sent: true }));
                    }
                }
            }
            ClientEvent::Error(e) => {
                let make = || Error::Http(e.clone());
                for (_, tx) in self.waiting.drain(..) {
                    let _ = tx.send(Err(make()));
                }
                for (_, s) in self.bodies.drain(..) {
                    s.fail(e.to_string());
                }
            }
            ClientEvent::Informational(_) | ClientEvent::Upgraded { .. } => {}
            _ => {}
        }
    }

    fn publish(&self, m: &ClientConnection) {
        let mut sh = lock(&self.shared);
        sh.reusable = m.is_reusable()
            && self.upload.is_none()
            && self.waiting.is_empty()
            && sh.queue.is_empty();
    }

    fn upload(&mut self, cx: &mut Context<'_>, m: &mut ClientConnection) -> bool {
        let mut progress = false;
        while let Some(body) = &mut self.upload {
            if m.is_send_buffer_full() {
                break;
            }
            match body.poll_chunk(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    progress = true;
                    if m.send_data(chunk).is_err() {
                        self.upload = None;
                        m.close();
                    }
                }
                Poll::Ready(None) => {
                    progress = true;
                    let trailers = body.trailers();
                    self.upload = None;
                    if m.is_sending_body() && m.finish(trailers).is_err() {
                        m.close();
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    tracing::debug!(error = %e, "request body failed");
                    progress = true;
                    self.upload = None;
                    m.close();
                }
                Poll::Pending => break,
            }
        }
        progress
    }
}

impl App<ClientConnection> for ClientApp {
    fn poll(&mut self, cx: &mut Context<'_>, m: &mut ClientConnection, _now: Instant) -> bool {
        // The waker goes in before the queue is looked at: a request queued
        // after that look finds it and wakes this task. Registered at the
        // end instead, a request queued in between found no waker (or the
        // one `send` had just taken) and waited until something else woke
        // the connection — for good on an idle one (a smol client's first
        // GET hung until its 30 s timeout, 2 runs in 400).
        register(&self.shared, cx);
        let mut progress = false;
        while let Some(ev) = m.poll_event() {
            self.on_event(ev, m);
            progress = true;
        }
        // Start queued requests when the connection can take them.
        loop {
            progress |= self.upload(cx, m);
            let can = self.upload.is_none()
                && m.can_send_request()
                && (self.pipelining || m.in_flight() == 0);
            if !can {
                break;
            }
            let Some((req, tx)) = lock(&self.shared).queue.pop_front() else {
                break;
            };
            if tx.is_canceled() {
                // Its caller stopped waiting before it went out: the
                // connection stays as idle as it was.
                self.publish(m);
                progress = true;
                continue;
            }
            let (parts, body) = req.into_parts();
            match m.send_request(parts, body.size()) {
                Ok(id) => {
                    self.waiting.push_back((id, tx));
                    if m.is_sending_body() {
                        self.upload = Some(body);
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(Error::Http(e)));
                }
            }
            progress = true;
        }
        // A response body dropped before its end: HTTP/1.1 cannot cancel
        // one request, and reading the rest for nobody would hold the
        // connection (a streamed response may never end) — so it closes,
        // which is how a server learns the call was cancelled.
        if self.bodies.iter().any(|(_, s)| s.watch_dropped(cx)) {
            m.close();
            progress = true;
        }
        // The same for a request whose caller stopped waiting for the
        // response head (its future dropped: a timeout, a cancelled call):
        // the answer may never come, and nobody would read it.
        if self
            .waiting
            .iter_mut()
            .any(|(_, tx)| tx.poll_canceled(cx).is_ready())
        {
            m.close();
            progress = true;
        }
        if m.is_closed() {
            self.fail_all(|| Error::Aborted { sent: true });
        } else {
            // Close once every handle is gone and nothing is in flight.
            let orphaned = Arc::strong_count(&self.shared) == 1;
            if orphaned
                && m.can_send_request()
                && self.waiting.is_empty()
                && self.bodies.is_empty()
                && self.upload.is_none()
                && m.in_flight() == 0
            {
                m.close();
                progress = true;
            }
        }
        self.publish(m);
        self.buffered = self.bodies.iter().map(|(_, s)| s.buffered(cx)).sum();
        progress
    }

    fn wants_read(&self) -> bool {
        self.buffered < BODY_BUFFER
    }

    fn on_io_error(&mut self, error: &std::io::Error) {
        // The kind decides retries; the message says why (over TLS, a
        // stream that ended without close_notify: a close-delimited body
        // possibly truncated, which the bare kind would not tell).
        let (kind, message) = (error.kind(), error.to_string());
        self.fail_all(|| Error::Io(std::io::Error::new(kind, message.clone())));
    }
}

impl Drop for ClientApp {
    fn drop(&mut self) {
        self.fail_all(|| Error::Aborted { sent: true });
    }
}
