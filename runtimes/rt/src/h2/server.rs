//! The HTTP/2 side of the handler server: the same [`Handler`] as HTTP/1.1,
//! one handler future per stream, all in the connection's task.

use super::send::{Outgoing, Sent};
use crate::body::BodySender;
use crate::fxhash::FxBuild;
use crate::http1::Handler;
use crate::{App, Body, Shutdown};
use http::{HeaderMap, Request, header};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use wirestate_h2::connection::{Connection, Event};
use wirestate_h2::frame::{ErrorCode, StreamId};
use wirestate_http1::BodySize;

/// What a stream's response is doing.
enum Reply<F> {
    /// The request head came with a body to follow; the handler starts
    /// once the events read with it are handled (see
    /// [`H2ServerApp::start_waiting`]), so that a body that ended among
    /// them — a unary call's one message, HEADERS and DATA read together —
    /// goes to the handler whole, without a body channel.
    Waiting,
    /// The handler is running.
    Calling(Pin<Box<F>>),
    /// The head is out; the body is being sent as the windows allow.
    Sending(Outgoing),
}

/// One stream the server is answering.
struct StreamTask<F> {
    response: Reply<F>,
    /// The request body's channel while the peer still sends.
    body: Option<BodySender>,
    /// Request body bytes handed to the reader and not yet given back to the
    /// peer as flow-control credit.
    unreleased: usize,
    /// A HEAD request: the response head goes out alone (RFC 9110 §9.3.2),
    /// with the fields a GET would have, body dropped.
    head_only: bool,
}

/// The handler side of an HTTP/2 server connection: a request event starts
/// the handler; request DATA goes into the body channel, and its
/// flow-control credit goes back only as the handler reads it; response
/// bodies are sent as the windows allow.
///
/// Handler futures are polled in the connection's task, each time the
/// task is woken (a handler's I/O, a body read, a window opening). That is
/// a scan over the streams in progress, bounded by the concurrent-stream
/// limit the server advertises.
pub struct H2ServerApp<H: Handler> {
    handler: H,
    streams: HashMap<StreamId, StreamTask<H::Future>, FxBuild>,
    shutdown: Shutdown,
    shutdown_id: u64,
    shutdown_seen: bool,
    shutdown_waker: Option<std::task::Waker>,
    /// Streams whose response ended during a [`run`](Self::run): one
    /// vector kept across runs.
    finished: Vec<StreamId>,
    /// The heads of the streams in [`Reply::Waiting`] (kept here, not in
    /// the reply, which every stream would then carry at a head's size).
    waiting: Vec<(StreamId, http::request::Parts)>,
    /// The earliest time a held response piece is due (see `Sent::Held`).
    wake_at: Option<Instant>,
}

impl<H: Handler> H2ServerApp<H> {
    pub(crate) fn new(handler: H, shutdown: Shutdown) -> Self {
        let shutdown_id = shutdown.id();
        Self {
            handler,
            streams: HashMap::default(),
            shutdown,
            shutdown_id,
            shutdown_seen: false,
            shutdown_waker: None,
            finished: Vec::new(),
            waiting: Vec::new(),
            wake_at: None,
        }
    }

    /// Starts the handler of a request whose head has arrived.
    fn call(&self, head: http::request::Parts, body: Body) -> Reply<H::Future> {
        Reply::Calling(Box::pin(self.handler.call(Request::from_parts(head, body))))
    }

    /// Starts the handlers still waiting for their body, each with a body
    /// channel for what is still to come: after every batch of events, so
    /// that no handler waits for DATA before it runs (a streaming handler
    /// may answer first).
    fn start_waiting(&mut self) {
        if self.waiting.is_empty() {
            return;
        }
        // The vector is kept, with its buffer, for the next requests.
        let mut waiting = std::mem::take(&mut self.waiting);
        for (stream, head) in waiting.drain(..) {
            let Some(task) = self.streams.get_mut(&stream) else {
                continue;
            };
            let body = task.open_body(&head);
            let reply = self.call(head, body);
            if let Some(task) = self.streams.get_mut(&stream) {
                task.response = reply;
            }
        }
        self.waiting = waiting;
    }

    fn on_event(&mut self, m: &mut Connection, ev: Event) {
        match ev {
            Event::Request {
                stream,
                head,
                end_stream,
            } => {
                let head_only = head.method == http::Method::HEAD;
                let response = if end_stream {
                    self.call(head, Body::empty())
                } else {
                    self.waiting.push((stream, head));
                    Reply::Waiting
                };
                self.streams.insert(
                    stream,
                    StreamTask {
                        response,
                        body: None,
                        unreleased: 0,
                        head_only,
                    },
                );
            }
            Event::Data {
                stream,
                data,
                end_stream,
                flow_len,
            } => {
                // Padding is never read by anyone: its credit goes back now.
                let padding = flow_len - data.len();
                if padding > 0 {
                    let _ = m.release_capacity(stream, padding);
                }
                match self.streams.get_mut(&stream) {
                    Some(task) if matches!(task.response, Reply::Waiting) => {
                        task.unreleased += data.len();
                        let Some(i) = self.waiting.iter().position(|(id, _)| *id == stream) else {
                            return;
                        };
                        let (_, head) = self.waiting.swap_remove(i);
                        let body = if end_stream {
                            // The whole body, read with its head: no
                            // channel. Its credit goes back at the next
                            // run, as a channel's would once it ended.
                            Body::full(data)
                        } else {
                            let body = task.open_body(&head);
                            if let Some(sender) = &task.body {
                                sender.push(data);
                            }
                            body
                        };
                        let reply = self.call(head, body);
                        if let Some(task) = self.streams.get_mut(&stream) {
                            task.response = reply;
                        }
                    }
                    Some(task) if task.body.is_some() => {
                        if let Reply::Sending(out) = &mut task.response {
                            out.peer_sent();
                        }
                        task.unreleased += data.len();
                        if let Some(sender) = &task.body {
                            sender.push(data);
                            if end_stream {
                                sender.finish(None);
                            }
                        }
                        if end_stream {
                            // Kept until the reader took everything: the
                            // credit is released from `buffered`.
                            task.body_ended();
                        }
                    }
                    _ => {
                        let _ = m.release_capacity(stream, data.len());
                    }
                }
            }
            Event::Trailers { stream, trailers } => {
                // A handler still waiting for its body starts now, with a
                // channel that the trailers end at once.
                self.start_waiting();
                if let Some(task) = self.streams.get_mut(&stream) {
                    if let Some(sender) = &task.body {
                        sender.finish(Some(trailers));
                    }
                    task.body_ended();
                }
            }
            Event::Reset { stream, code, .. } => {
                // Dropping the handler future cancels it.
                if let Some(task) = self.streams.remove(&stream) {
                    if let Some(sender) = &task.body {
                        sender.fail(format!("stream reset ({code})"));
                    }
                }
            }
            Event::Error(e) => {
                tracing::debug!(error = %e, "http/2 connection error");
                for (_, task) in self.streams.drain() {
                    if let Some(sender) = &task.body {
                        sender.fail(e.to_string());
                    }
                }
            }
            // Writable: the send loop below tries every stream anyway.
            _ => {}
        }
    }

    /// Runs the handlers and moves response bodies along.
    fn run(&mut self, cx: &mut Context<'_>, m: &mut Connection, now: Instant) -> bool {
        let mut progress = false;
        self.wake_at = None;
        let mut finished = std::mem::take(&mut self.finished);
        for (&stream, task) in self.streams.iter_mut() {
            'respond: {
                if let Reply::Calling(fut) = &mut task.response {
                    // A handler that panics fails its own stream, not the
                    // connection's task with every other stream in it.
                    let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        fut.as_mut().poll(cx)
                    }));
                    let Ok(polled) = polled else {
                        tracing::error!("handler panicked; resetting its stream");
                        let _ = m.reset(stream, ErrorCode::INTERNAL_ERROR);
                        if let Some(sender) = task.body.take() {
                            sender.fail("the handler panicked".into());
                        }
                        progress = true;
                        finished.push(stream);
                        break 'respond;
                    };
                    let Poll::Ready(response) = polled else {
                        // A handler reading a body held back behind
                        // `Expect: 100-continue` waits until the client
                        // is told to send it (RFC 9110 §10.1.1).
                        if let Some(sender) = &task.body {
                            if sender.take_continue_request() {
                                progress |= send_continue(m, stream);
                            } else {
                                // Registers this task to be woken when a
                                // reader elsewhere asks for the body.
                                sender.buffered(cx);
                            }
                        }
                        break 'respond;
                    };
                    progress = true;
                    let (mut parts, body) = response.into_parts();
                    // A response streaming the request body back (an echo)
                    // needs that body: the client waiting on 100-continue
                    // must be told to send it, before the final head.
                    if body.is_incoming() {
                        if let Some(sender) = &task.body {
                            if sender.take_expectation() {
                                send_continue(m, stream);
                            }
                        }
                    }
                    strip_connection_headers(&mut parts.headers);
                    let size = body.size();
                    let end_stream =
                        task.head_only || size == BodySize::Empty || size == BodySize::Exact(0);
                    if let BodySize::Exact(n) = size {
                        if !parts.headers.contains_key(header::CONTENT_LENGTH) && n > 0 {
                            parts.headers.insert(header::CONTENT_LENGTH, n.into());
                        }
                    }
                    if let Err(e) = m.send_response(stream, parts, end_stream) {
                        tracing::warn!(error = %e, "handler response refused by the connection");
                        let _ = m.reset(stream, ErrorCode::INTERNAL_ERROR);
                        finished.push(stream);
                        break 'respond;
                    }
                    if end_stream {
                        finished.push(stream);
                        break 'respond;
                    }
                    task.response = Reply::Sending(Outgoing::new(body));
                }
                if let Reply::Sending(out) = &mut task.response {
                    match out.poll_send(cx, m, stream, now) {
                        Sent::Progress => progress = true,
                        // A failed response body reset the stream: it
                        // is over for the handler too.
                        Sent::Done | Sent::Failed(_) => {
                            progress = true;
                            finished.push(stream);
                        }
                        Sent::Held(t) => {
                            self.wake_at = Some(self.wake_at.map_or(t, |w| w.min(t)));
                        }
                        Sent::Blocked => {}
                    }
                }
            }
            // Credit for what the handler read from the request body,
            // counted after the handler ran: a handler that read its whole
            // body in this poll is credited now, and the body channel has
            // no waker of ours to wake (a wake of the task it runs in,
            // which would only poll every stream again).
            if task.unreleased > 0 {
                let buffered = task.body.as_ref().map_or(0, |s| s.buffered(cx));
                let read = task.unreleased.saturating_sub(buffered);
                if read > 0 {
                    task.unreleased -= read;
                    let _ = m.release_capacity(stream, read);
                    progress = true;
                }
            }
        }
        for stream in finished.drain(..) {
            if let Some(task) = self.streams.get(&stream) {
                if task.body.is_none() && task.unreleased == 0 {
                    self.streams.remove(&stream);
                } else if let Some(task) = self.streams.get_mut(&stream) {
                    // The response is complete but the request body is not:
                    // the handler answered without reading it all. Tell the
                    // peer to stop (RFC 9113 §8.1: NO_ERROR), give the
                    // credit back, and forget the stream.
                    if task.body.is_some() {
                        let _ = m.reset(stream, ErrorCode::NO_ERROR);
                    }
                    let _ = m.release_capacity(stream, task.unreleased);
                    self.streams.remove(&stream);
                }
            }
        }
        self.finished = finished;
        progress
    }
}

impl<F> StreamTask<F> {
    fn body_ended(&mut self) {
        self.body = None;
    }

    /// The body channel of a request whose body is still to come; with
    /// `Expect: 100-continue`, the 100 goes out once the handler reads it.
    fn open_body(&mut self, head: &http::request::Parts) -> Body {
        let expects_continue = head
            .headers
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        let (sender, body) = super::body_channel(&head.headers, expects_continue);
        self.body = Some(sender);
        body
    }
}

/// Sends a 100 (Continue) on `stream`; whether it went out (a stream the
/// peer reset in the meantime takes none).
fn send_continue(m: &mut Connection, stream: StreamId) -> bool {
    let (head, ()) = http::Response::builder()
        .status(http::StatusCode::CONTINUE)
        .body(())
        .unwrap_or_default()
        .into_parts();
    m.send_informational(stream, head).is_ok()
}

/// Removes the fields HTTP/2 forbids (RFC 9113 §8.2.2) that an HTTP/1.1
/// handler may have set, instead of failing the response.
fn strip_connection_headers(headers: &mut HeaderMap) {
    // Nearly always there is nothing to strip: one walk over the few
    // fields says so, without a lookup (a hash) per forbidden name.
    let forbidden = |(name, value): (&header::HeaderName, &header::HeaderValue)| match name.as_str()
    {
        "connection" | "transfer-encoding" | "upgrade" | "keep-alive" | "proxy-connection" => true,
        "te" => !value.as_bytes().eq_ignore_ascii_case(b"trailers"),
        _ => false,
    };
    if !headers.iter().any(forbidden) {
        return;
    }
    for name in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::HeaderName::from_static("keep-alive"),
        header::HeaderName::from_static("proxy-connection"),
    ] {
        headers.remove(name);
    }
    if headers
        .get(header::TE)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"trailers"))
    {
        headers.remove(header::TE);
    }
}

impl<H: Handler> Drop for H2ServerApp<H> {
    fn drop(&mut self) {
        self.shutdown.forget(self.shutdown_id);
    }
}

impl<H: Handler> App<Connection> for H2ServerApp<H> {
    fn wake_at(&self) -> Option<Instant> {
        self.wake_at
    }

    fn poll(&mut self, cx: &mut Context<'_>, m: &mut Connection, now: Instant) -> bool {
        let mut progress = false;
        while let Some(ev) = wirestate_machine::Machine::poll_event(m) {
            self.on_event(m, ev);
            progress = true;
        }
        self.start_waiting();
        progress |= self.run(cx, m, now);
        let registered = self
            .shutdown_waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()));
        if !self.shutdown_seen && (self.shutdown.is_triggered() || !registered) {
            self.shutdown_waker = Some(cx.waker().clone());
            if self.shutdown.poll(self.shutdown_id, cx).is_ready() {
                self.shutdown_seen = true;
                // GOAWAY: streams in progress finish, new ones are refused,
                // and the machine closes once the last one is done.
                if let Err(e) = m.go_away(now) {
                    tracing::debug!(error = %e, "go_away refused");
                }
                progress = true;
            }
        }
        progress
    }
}
