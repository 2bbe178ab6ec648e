//! The HTTP/2 side of the blocking server: the same [`Handler`] as
//! HTTP/1.1, one worker thread per stream.

use super::conn::{self, App, Inbox};
use super::send::{Outgoing, Sent};
use super::stream::{Dead, Reader, Shared, incoming_body};
use crate::{BlockingBody, Handler, ServerConfig};
use http::{HeaderMap, Request, header, response};
use std::collections::HashMap;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::Scope;
use std::time::{Duration, Instant};
use wirestate_h2::connection::{Connection, Event};
use wirestate_h2::frame::{ErrorCode, StreamId};
use wirestate_http1::BodySize;
use wirestate_machine::Machine;

/// Serves one HTTP/2 connection (h2c with prior knowledge) whose first
/// bytes, `first`, were already read, until it closes; `is_shutdown` is
/// checked whenever `inbox` is kicked, and starts a graceful GOAWAY.
///
/// Each request runs the handler on a worker thread of its own (scoped:
/// they are all joined before this returns), at most
/// `max_concurrent_streams` at once per connection — more streams are
/// refused with RST_STREAM REFUSED_STREAM, which clients retry.
pub(crate) fn serve<H: Handler>(
    stream: crate::transport::Stream,
    first: &[u8],
    handler: &H,
    config: &ServerConfig,
    inbox: Arc<Inbox>,
    is_shutdown: &dyn Fn() -> bool,
) -> io::Result<()> {
    let now = Instant::now();
    let mut machine = Connection::server(config.h2.clone());
    machine.start(now);
    if !first.is_empty() {
        // An error is also reported as an event, which the app handles.
        let _ = machine.handle_input(now, first);
    }
    let max_workers = (config.h2.max_concurrent_streams as usize).max(1);
    std::thread::scope(|scope| {
        let mut app = ServerApp {
            scope,
            handler,
            inbox: inbox.clone(),
            streams: HashMap::new(),
            live: Arc::new(AtomicUsize::new(0)),
            max_workers,
            io_timeout: config.io_timeout,
            is_shutdown,
            shutdown_seen: false,
            wake_at: None,
        };
        conn::drive(machine, stream, &inbox, &mut app, config.io_timeout)
    })
}

/// One stream being answered.
struct Entry {
    shared: Arc<Shared>,
    /// The response head went out.
    head_sent: bool,
    /// The response body, once the head is out.
    out: Option<Outgoing>,
    /// The peer is still sending the request body.
    in_open: bool,
    /// Request body bytes received and not yet given back as credit.
    unreleased: usize,
}

/// The connection thread's view of the streams.
struct ServerApp<'scope, 'env, H: Handler> {
    scope: &'scope Scope<'scope, 'env>,
    handler: &'env H,
    inbox: Arc<Inbox>,
    streams: HashMap<StreamId, Entry>,
    /// Worker threads running (handler or response body).
    live: Arc<AtomicUsize>,
    max_workers: usize,
    io_timeout: Option<Duration>,
    is_shutdown: &'env dyn Fn() -> bool,
    shutdown_seen: bool,
    /// The earliest time a held response piece is due (see `Sent::Held`).
    wake_at: Option<Instant>,
}

impl<'scope, 'env, H: Handler> ServerApp<'scope, 'env, H> {
    fn start(
        &mut self,
        m: &mut Connection,
        stream: StreamId,
        head: http::request::Parts,
        end: bool,
    ) {
        if self.live.load(Ordering::SeqCst) >= self.max_workers {
            // Handlers of reset streams still running: refuse (retryable).
            let _ = m.reset(stream, ErrorCode::REFUSED_STREAM);
            return;
        }
        let shared = Shared::new(u64::from(stream.get()), self.inbox.clone());
        // RFC 9110 §10.1.1: the body follows a 100 (Continue), sent once
        // the handler reads it.
        shared.lock().expects_continue = !end
            && head
                .headers
                .get(header::EXPECT)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        let body = if end {
            BlockingBody::empty()
        } else {
            incoming_body(&head.headers, Reader::new(shared.clone(), self.io_timeout))
        };
        let head_only = head.method == http::Method::HEAD;
        let req = Request::from_parts(head, body);
        let (handler, live, io_timeout) = (self.handler, self.live.clone(), self.io_timeout);
        let worker_shared = shared.clone();
        live.fetch_add(1, Ordering::SeqCst);
        let spawned = std::thread::Builder::new()
            .name("wirestate-h2-stream".into())
            .spawn_scoped(self.scope, move || {
                let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                    respond(handler, req, &worker_shared, head_only, io_timeout)
                }));
                // Counted out before the last word to the connection, so a
                // stream opened right after is not refused for this thread.
                live.fetch_sub(1, Ordering::SeqCst);
                match outcome {
                    Ok(Final::Head(parts)) => worker_shared.set_head(parts, true),
                    Ok(Final::End(trailers)) => worker_shared.finish_out(trailers),
                    Ok(Final::Fail) => worker_shared.fail_out(),
                    Err(_) => {
                        tracing::error!("handler panicked; resetting its stream");
                        worker_shared.fail_out();
                    }
                }
            });
        if let Err(e) = spawned {
            self.live.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!(error = %e, "cannot start a stream thread");
            let _ = m.reset(stream, ErrorCode::REFUSED_STREAM);
            return;
        }
        self.streams.insert(
            stream,
            Entry {
                shared,
                head_sent: false,
                out: None,
                in_open: !end,
                unreleased: 0,
            },
        );
    }
}

impl<H: Handler> App for ServerApp<'_, '_, H> {
    fn on_event(&mut self, m: &mut Connection, ev: Event) {
        match ev {
            Event::Request {
                stream,
                head,
                end_stream,
            } => self.start(m, stream, head, end_stream),
            Event::Data {
                stream,
                data,
                end_stream,
                flow_len,
            } => {
                // Padding is never read by anyone: its credit goes back now.
                let padding = flow_len.saturating_sub(data.len());
                if padding > 0 {
                    let _ = m.release_capacity(stream, padding);
                }
                match self.streams.get_mut(&stream) {
                    Some(e) if e.in_open => {
                        if let Some(out) = &mut e.out {
                            out.peer_sent();
                        }
                        let mut st = e.shared.lock();
                        if st.in_dropped {
                            let _ = m.release_capacity(stream, data.len());
                        } else {
                            e.unreleased += data.len();
                            st.in_queue.push_back(data);
                        }
                        if end_stream {
                            st.in_end = Some(None);
                            e.in_open = false;
                        }
                        drop(st);
                        e.shared.wake();
                    }
                    _ => {
                        let _ = m.release_capacity(stream, data.len());
                    }
                }
            }
            Event::Trailers { stream, trailers } => {
                if let Some(e) = self.streams.get_mut(&stream) {
                    if e.in_open {
                        e.in_open = false;
                        e.shared.lock().in_end = Some(Some(trailers));
                        e.shared.wake();
                    }
                }
            }
            Event::Reset { stream, code, .. } => {
                if let Some(e) = self.streams.remove(&stream) {
                    e.shared.kill(Dead::Reset(code));
                }
            }
            Event::Error(err) => {
                tracing::debug!(error = %err, "http/2 connection error");
                for (_, e) in self.streams.drain() {
                    e.shared.kill(Dead::H2(err.clone()));
                }
            }
            // Writable: `step` tries every stream anyway.
            _ => {}
        }
    }

    fn step(&mut self, m: &mut Connection, _ready: &[u64], now: Instant) {
        if !self.shutdown_seen && (self.is_shutdown)() {
            self.shutdown_seen = true;
            // GOAWAY: streams in progress finish, new ones are refused, and
            // the machine closes once the last one is done.
            if let Err(e) = m.go_away(now) {
                tracing::debug!(error = %e, "go_away refused");
            }
        }
        let mut finished = Vec::new();
        self.wake_at = None;
        for (&stream, e) in self.streams.iter_mut() {
            let (credit, head, failed, wants_continue) = {
                let mut st = e.shared.lock();
                let mut credit = std::mem::take(&mut st.consumed);
                if st.in_dropped {
                    credit += st.in_queue.drain(..).map(|c| c.len()).sum::<usize>();
                }
                let wants_continue = std::mem::take(&mut st.wants_continue);
                let head = if e.head_sent { None } else { st.head.take() };
                let failed = !e.head_sent && head.is_none() && st.out_failed;
                (credit, head, failed, wants_continue)
            };
            // The handler reads a body held back behind 100-continue: tell
            // the peer to send it (only before the final head, which also
            // ends the wait).
            if wants_continue && !e.head_sent && e.in_open {
                let (parts, ()) = http::Response::builder()
                    .status(http::StatusCode::CONTINUE)
                    .body(())
                    .unwrap_or_default()
                    .into_parts();
                let _ = m.send_informational(stream, parts);
            }
            // Credit for what the handler read (or dropped).
            let credit = credit.min(e.unreleased);
            if credit > 0 {
                e.unreleased -= credit;
                let _ = m.release_capacity(stream, credit);
            }
            if failed {
                // The handler panicked (or failed) before answering.
                let _ = m.reset(stream, ErrorCode::INTERNAL_ERROR);
                finished.push(stream);
                continue;
            }
            if let Some((parts, end)) = head {
                e.head_sent = true;
                match m.send_response(stream, parts, end) {
                    Ok(()) if end => {
                        finished.push(stream);
                        continue;
                    }
                    Ok(()) => e.out = Some(Outgoing::default()),
                    Err(err) => {
                        tracing::warn!(error = %err, "handler response refused by the connection");
                        let _ = m.reset(stream, ErrorCode::INTERNAL_ERROR);
                        finished.push(stream);
                        continue;
                    }
                }
            }
            if let Some(out) = &mut e.out {
                match out.send(&e.shared, m, stream, now) {
                    // A failed response body reset the stream: over.
                    Sent::Done | Sent::Failed => finished.push(stream),
                    Sent::Held(t) => self.wake_at = Some(self.wake_at.map_or(t, |w| w.min(t))),
                    Sent::Pending => {}
                }
            }
        }
        for stream in finished {
            let Some(e) = self.streams.remove(&stream) else {
                continue;
            };
            if e.in_open {
                // The response is complete but the request body is not:
                // the handler answered without reading it all. Tell the
                // peer to stop (RFC 9113 §8.1: NO_ERROR); the reset gives
                // the credit back.
                let _ = m.reset(stream, ErrorCode::NO_ERROR);
            } else if e.unreleased > 0 {
                let _ = m.release_capacity(stream, e.unreleased);
            }
            e.shared.kill(Dead::Done);
        }
    }

    fn wake_at(&self) -> Option<Instant> {
        self.wake_at
    }

    fn end(&mut self) {
        for (_, e) in self.streams.drain() {
            e.shared.kill(Dead::Closed);
        }
    }
}

/// A worker's last word to the connection thread.
enum Final {
    /// The response head, with no body (HEAD, or an empty body).
    Head(response::Parts),
    /// The body ended, with these trailers.
    End(Option<HeaderMap>),
    /// The body failed or the stream is gone: reset it.
    Fail,
}

/// Runs the handler and streams its response body into the stream's
/// queue (blocking while the queue is full).
fn respond<H: Handler>(
    handler: &H,
    req: Request<BlockingBody>,
    shared: &Shared,
    head_only: bool,
    io_timeout: Option<Duration>,
) -> Final {
    let (mut parts, mut body) = handler.call(req).into_parts();
    strip_connection_headers(&mut parts.headers);
    let size = body.size();
    if let BodySize::Exact(n) = size {
        if n > 0 && !parts.headers.contains_key(header::CONTENT_LENGTH) {
            parts.headers.insert(header::CONTENT_LENGTH, n.into());
        }
    }
    // HEAD: the head alone, with the fields a GET would have (RFC 9110 §9.3.2).
    if head_only || matches!(size, BodySize::Empty | BodySize::Exact(0)) {
        return Final::Head(parts);
    }
    shared.set_head(parts, false);
    loop {
        match body.next_chunk() {
            Ok(Some(chunk)) => {
                let deadline = io_timeout.map(|t| Instant::now() + t);
                if let Err(e) = shared.push(chunk, deadline) {
                    tracing::debug!(error = %e, "response body not sent");
                    return Final::Fail;
                }
            }
            Ok(None) => return Final::End(body.trailers()),
            Err(e) => {
                // The body failed midway: the message cannot be completed.
                tracing::warn!(error = %e, "response body failed");
                return Final::Fail;
            }
        }
    }
}

/// Removes the fields HTTP/2 forbids (RFC 9113 §8.2.2) that an HTTP/1.1
/// handler may have set, instead of failing the response.
fn strip_connection_headers(headers: &mut HeaderMap) {
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
