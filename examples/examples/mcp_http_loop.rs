//! An MCP Streamable HTTP server on a loop of your own: non-blocking
//! `std::net` sockets, `wirestate_http1::ServerConnection` for each
//! connection and one `wirestate_mcp::http::HttpServer` for the endpoint.
//! No runtime, no threads; time is `Instant::now()` read once per turn.
//!
//! It offers one resource (`demo://greeting`) and one slow tool,
//! `countdown`, that answers after `steps` turns of 100 ms, sends progress
//! on the way when the client asked for it, and stops when the client
//! cancels: the work a real server does across turns of its loop, which a
//! handler-based server hides.
//!
//! ```sh
//! cargo run -p wirestate-examples --example mcp_http_loop -- 127.0.0.1:8082 [seconds]
//! # then any Streamable HTTP client on http://127.0.0.1:8082/mcp
//! ```
//!
//! The loop sleeps a short tick between turns to stay short; a real one
//! waits on readiness (epoll, mio: see `custom_loop.rs`) and on the
//! earliest of [`HttpServer::poll_timeout`], the connections'
//! `poll_timeout`s and its own timers. The machine calls are the same.
//!
//! One turn, in this order (each step feeds the next):
//! 1. accept; read each connection while it `wants_read`, and hand each
//!    complete request (head and whole body) to
//!    [`HttpServer::handle_request`], writing its [`Reply`]: `Full` at
//!    once, `Open` as a streamed body, `Deferred` when the server says so;
//! 2. fire due timers (`handle_timeout` of the server and connections);
//! 3. take the server's events and start, answer or drop work;
//! 4. run the application's own timers (here: the countdowns);
//! 5. [`HttpServer::poll_ready`] names the exchanges with news: a
//!    deferred head is decided ([`HttpServer::poll_reply`]), or a body has
//!    more ([`HttpServer::poll_chunk`] until `None`); no other exchange
//!    needs polling;
//! 6. write what the connections transmit; a connection that ends with an
//!    open response is reported with [`HttpServer::handle_disconnect`].

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use serde_json::Map;
use wirestate_http1::{BodySize, ServerConfig, ServerConnection, ServerEvent};
use wirestate_jsonrpc::{ErrorCode, ErrorObject, RequestId};
use wirestate_machine::{Entropy, Machine, Transmit};
use wirestate_mcp::http::{Chunk, ExchangeId, HttpConfig, HttpEvent, HttpServer, Reply, SessionId};
use wirestate_mcp::schema::{
    CallToolResult, Implementation, ProgressToken, ReadResourceResult, Resource, ResourceContents,
    Tool, progress_token,
};
use wirestate_mcp::{Config, ServerEvent as McpEvent};

const GREETING_URI: &str = "demo://greeting";
/// One countdown step.
const STEP: Duration = Duration::from_millis(100);
/// The loop's tick while nothing is due (a readiness loop needs none).
const TICK: Duration = Duration::from_millis(2);

/// Session ids must be unguessable. std's `RandomState` is keyed from the
/// operating system's random source; hashing a counter with it is enough
/// for an example without dependencies. Use `getrandom` in production.
struct StdEntropy {
    state: std::collections::hash_map::RandomState,
    counter: u64,
}

impl Entropy for StdEntropy {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.counter += 1;
            let mut h = self.state.build_hasher();
            h.write_u64(self.counter);
            chunk.copy_from_slice(&h.finish().to_le_bytes()[..chunk.len()]);
        }
    }
}

/// One TCP connection.
struct Conn {
    socket: TcpStream,
    http: ServerConnection,
    unsent: Vec<Bytes>,
    /// The request being read: its head and body so far.
    request: Option<(http::request::Parts, BytesMut)>,
    /// The MCP response this connection carries, and whether its head was
    /// sent (a `Deferred` reply waits for `poll_reply`).
    exchange: Option<(ExchangeId, bool)>,
    /// The socket failed or the peer is gone.
    dead: bool,
}

/// A `countdown` call in progress.
struct Countdown {
    session: SessionId,
    id: RequestId,
    token: Option<ProgressToken>,
    done: u64,
    steps: u64,
    next: Instant,
}

/// Starts writing `reply` on `conn`.
fn start_reply(conn: &mut Conn, reply: Reply) {
    let sent = match reply {
        Reply::Full(response) => {
            let (head, body) = response.into_parts();
            conn.exchange = None;
            conn.http.send_full_response(head, body).map(|_| ())
        }
        Reply::Open { response, exchange } => {
            conn.exchange = Some((exchange, true));
            let head = response.into_parts().0;
            conn.http
                .send_response(head, BodySize::Streaming)
                .map(|_| ())
        }
        Reply::Deferred { exchange } => {
            conn.exchange = Some((exchange, false));
            Ok(())
        }
    };
    if let Err(e) = sent {
        // The connection closed under us (a peer error came first).
        eprintln!("mcp_http_loop: response refused: {e}");
        conn.dead = true;
    }
}

/// Reads what the socket has and hands complete requests to the server.
fn read(conn: &mut Conn, server: &mut HttpServer, buf: &mut [u8], now: Instant) {
    while conn.http.wants_read() && !conn.dead {
        match conn.socket.read(buf) {
            Ok(0) => {
                let _ = conn.http.handle_eof(now);
                break;
            }
            Ok(n) => {
                // A peer error is sticky and queues its farewell (400,
                // 431, ...); the events say what it was.
                let _ = conn.http.handle_input(now, &buf[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => conn.dead = true,
        }
        while let Some(event) = conn.http.poll_event() {
            match event {
                ServerEvent::Request(request) => {
                    // curl sends `Expect: 100-continue` before bodies over
                    // 1 KiB and waits a second for it; the server takes
                    // every body (a large one gets 413 from HttpServer).
                    if request.expects_continue {
                        let _ = conn.http.send_continue();
                    }
                    conn.request = Some((request.head, BytesMut::new()));
                }
                ServerEvent::Data { data, .. } => {
                    if let Some((_, body)) = &mut conn.request {
                        // Keep one byte past the limit, no more: the
                        // server sees the body is too large and says 413.
                        let room = (server.config().max_body + 1).saturating_sub(body.len());
                        body.extend_from_slice(&data[..data.len().min(room)]);
                    }
                }
                ServerEvent::End { .. } => {
                    if let Some((head, body)) = conn.request.take() {
                        let reply = server.handle_request(now, &head, body.freeze());
                        start_reply(conn, reply);
                    }
                }
                ServerEvent::Error(e) => eprintln!("mcp_http_loop: bad request: {e}"),
                _ => {}
            }
        }
    }
}

/// Writes what the connection transmits until the socket is full.
fn write(conn: &mut Conn) {
    let mut shutdown = false;
    while let Some(t) = conn.http.poll_transmit() {
        match t {
            Transmit::Bytes(b) => conn.unsent.push(b),
            Transmit::Shutdown => shutdown = true,
        }
    }
    while !conn.unsent.is_empty() && !conn.dead {
        let slices: Vec<IoSlice<'_>> = conn.unsent.iter().map(|b| IoSlice::new(b)).collect();
        match conn.socket.write_vectored(&slices) {
            Ok(mut n) => conn.unsent.retain_mut(|b| {
                let take = n.min(b.len());
                n -= take;
                let _ = b.split_to(take);
                !b.is_empty()
            }),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => conn.dead = true,
        }
    }
    if shutdown && conn.unsent.is_empty() {
        let _ = conn.socket.shutdown(Shutdown::Write);
    }
}

/// Writes what the server has of `x`'s body, if `conn` is sending it.
fn body(conn: &mut Conn, server: &mut HttpServer, x: ExchangeId) {
    while conn.exchange == Some((x, true)) && !conn.dead {
        match server.poll_chunk(x) {
            Some(Chunk::Data(b)) => {
                if conn.http.send_data(b).is_err() {
                    conn.dead = true;
                }
            }
            Some(Chunk::End) => {
                conn.exchange = None;
                if conn.http.finish(None).is_err() {
                    conn.dead = true;
                }
            }
            None => break,
        }
    }
}

/// The application: answers what is quick, starts countdowns, stops the
/// cancelled ones.
fn on_event(server: &mut HttpServer, jobs: &mut Vec<Countdown>, event: HttpEvent, now: Instant) {
    let HttpEvent::Session { session, event } = event else {
        return;
    };
    match event {
        McpEvent::CallTool { id, params } if params.name == "countdown" => {
            let steps = params
                .arguments
                .as_ref()
                .and_then(|a| a.get("steps"))
                .and_then(|v| v.as_u64())
                .unwrap_or(3)
                .min(100);
            jobs.push(Countdown {
                session,
                token: progress_token(params.meta.as_ref()),
                id,
                done: 0,
                steps,
                next: now + STEP,
            });
        }
        McpEvent::CallTool { id, .. } => {
            if let Some(s) = server.session_for(&session, &id) {
                let _ = s.respond_error(&id, ErrorObject::invalid_params("unknown tool"));
            }
        }
        McpEvent::ReadResource { id, params } => {
            let Some(s) = server.session_for(&session, &id) else {
                return;
            };
            let _ = if params.uri == GREETING_URI {
                s.respond_read_resource(
                    &id,
                    ReadResourceResult {
                        contents: vec![ResourceContents::text(
                            GREETING_URI,
                            Some("text/plain"),
                            "Hello from a loop of your own.",
                        )],
                        ..ReadResourceResult::default()
                    },
                )
            } else {
                s.respond_error(
                    &id,
                    ErrorObject::new(ErrorCode::new(-32002), "Resource not found"),
                )
            };
        }
        // The client gave up: the session already forgot the request (an
        // answer now would be dropped); stop the work.
        McpEvent::Cancelled { id, .. } => jobs.retain(|j| j.session != session || j.id != id),
        _ => {}
    }
}

/// Runs the countdowns that are due.
fn run_jobs(server: &mut HttpServer, jobs: &mut Vec<Countdown>, now: Instant) {
    jobs.retain_mut(|job| {
        if job.next > now {
            return true;
        }
        // `session_for`: what this queues travels on the request's stream.
        let Some(s) = server.session_for(&job.session, &job.id) else {
            return false; // the session ended (DELETE, expiry)
        };
        job.done += 1;
        job.next = now + STEP;
        if let Some(token) = &job.token {
            let _ = s.notify_progress(token, job.done as f64, Some(job.steps as f64), None);
        }
        if job.done < job.steps {
            return true;
        }
        let result = CallToolResult::text(format!("liftoff after {} steps", job.steps));
        let _ = s.respond_call_tool(&job.id, result);
        false
    });
}

/// Serves MCP on `listener` (at any path) until `run_for` has passed
/// (forever without it).
pub fn serve(listener: TcpListener, run_for: Option<Duration>) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let entropy = StdEntropy {
        state: std::collections::hash_map::RandomState::new(),
        counter: 0,
    };
    let mut config = HttpConfig::new(Config::new(Implementation::new(
        "wirestate-mcp-http-loop",
        env!("CARGO_PKG_VERSION"),
    )));
    config.idle_timeout = Duration::from_secs(600);
    let mut server = HttpServer::new(config, entropy);
    let mut countdown = Map::new();
    countdown.insert("type".into(), "object".into());
    countdown.insert(
        "properties".into(),
        serde_json::json!({"steps": {"type": "integer", "minimum": 1, "maximum": 100}}),
    );
    let mut tool = Tool::new("countdown", countdown);
    tool.description = Some("Answers after `steps` x 100 ms, with progress.".into());
    server.add_tool(tool);
    server.add_resource(Resource::new(GREETING_URI, "greeting"));

    let started = Instant::now();
    let mut conns: Vec<Conn> = Vec::new();
    let mut jobs: Vec<Countdown> = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    while run_for.is_none_or(|d| started.elapsed() < d) {
        let now = Instant::now();
        // 1. New connections and input.
        loop {
            match listener.accept() {
                Ok((socket, _)) => {
                    socket.set_nonblocking(true)?;
                    conns.push(Conn {
                        socket,
                        http: ServerConnection::new(ServerConfig::default(), now),
                        unsent: Vec::new(),
                        request: None,
                        exchange: None,
                        dead: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        for conn in &mut conns {
            read(conn, &mut server, &mut buf, now);
        }
        // 2. Timers: idle sessions, request deadlines, slow clients.
        if server.poll_timeout().is_some_and(|t| t <= now) {
            server.handle_timeout(now);
        }
        for conn in &mut conns {
            if conn.http.poll_timeout().is_some_and(|t| t <= now) {
                conn.http.handle_timeout(now);
            }
        }
        // 3. and 4. The application.
        while let Some(event) = server.poll_event() {
            on_event(&mut server, &mut jobs, event, now);
        }
        run_jobs(&mut server, &mut jobs, now);
        // 5. Decided heads and new body bytes.
        let by_exchange: HashMap<ExchangeId, usize> = conns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.exchange.map(|(x, _)| (x, i)))
            .collect();
        // Only the exchanges `poll_ready` names have news: a decided head
        // (then its first events), or more of an open body.
        while let Some(x) = server.poll_ready() {
            let Some(conn) = by_exchange.get(&x).map(|&i| &mut conns[i]) else {
                continue; // its connection is gone, and was reported
            };
            if conn.exchange == Some((x, false)) {
                if let Some(reply) = server.poll_reply(x) {
                    start_reply(conn, reply);
                }
            }
            body(conn, &mut server, x);
        }
        for conn in &mut conns {
            // 6. Output.
            write(conn);
            if conn.http.is_closed() && conn.unsent.is_empty() {
                conn.dead = true;
            }
            if conn.dead {
                if let Some((x, _)) = conn.exchange.take() {
                    // An SSE stream stays resumable; a pending answer is dropped.
                    server.handle_disconnect(now, x);
                }
            }
        }
        conns.retain(|c| !c.dead);
        std::thread::sleep(TICK);
    }
    Ok(())
}

#[allow(dead_code)] // tests/tests/mcp_http_loop.rs includes this file for `serve`
fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8082".into());
    let run_for = args
        .next()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs);
    let listener = TcpListener::bind(&addr)?;
    eprintln!("MCP on http://{}/mcp", listener.local_addr()?);
    serve(listener, run_for)
}
