//! An HTTP/1.1 server on a single-threaded readiness loop (mio), driving
//! `wirestate_http1::ServerConnection` directly — no adapter crate. This is
//! how to embed the machines in an event loop of your own.
//!
//! ```sh
//! cargo run --example custom_loop -- 127.0.0.1:8081 [seconds]
//! curl http://127.0.0.1:8081/            # hello
//! curl -d hi http://127.0.0.1:8081/echo  # hi
//! ```

use bytes::Bytes;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use std::collections::HashMap;
use std::io::{self, IoSlice, Read, Write};
use std::time::{Duration, Instant};
use wirestate_http1::{ServerConfig, ServerConnection, ServerEvent};
use wirestate_machine::{Machine, Transmit};

const LISTENER: Token = Token(0);
/// Echo bodies are collected before answering; bound them.
const MAX_ECHO: usize = 1 << 20;
/// After our half-close, how long (and how many bytes) we keep reading and
/// discarding what the peer still sends before closing the socket.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;

/// One connection: the socket, the machine, output not yet written, and
/// the request being answered.
struct Conn {
    socket: TcpStream,
    machine: ServerConnection,
    unsent: Vec<Bytes>,
    shutdown: bool,
    route: Option<(http::Method, String)>,
    body: Vec<u8>,
    /// Closing: the deadline and the byte budget left for draining input.
    linger: Option<(Instant, usize)>,
}

/// A lingering close. Closing a socket with unread input makes Linux send
/// RST, which can destroy our last response (a 413 sent without reading
/// the upload) before the client reads it. So after the half-close, read
/// and discard until the peer's end of stream, `LINGER_BYTES` or
/// `LINGER_TIME`, as nginx does. Returns whether the socket can be closed.
fn drain(conn: &mut Conn, buf: &mut [u8], now: Instant) -> bool {
    let Some((deadline, left)) = &mut conn.linger else {
        return true;
    };
    if now >= *deadline {
        return true;
    }
    loop {
        match conn.socket.read(buf) {
            Ok(0) => return true,
            Ok(n) if n >= *left => return true,
            Ok(n) => *left -= n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
}

fn respond(conn: &mut Conn) {
    let Some((method, path)) = conn.route.take() else {
        return;
    };
    let mut head = http::Response::new(()).into_parts().0;
    let body = match (method, path.as_str()) {
        (http::Method::GET | http::Method::HEAD, "/") => Bytes::from_static(b"hello"),
        (http::Method::POST, "/echo") => Bytes::from(std::mem::take(&mut conn.body)),
        _ => {
            head.status = http::StatusCode::NOT_FOUND;
            Bytes::from_static(b"not found\n")
        }
    };
    if let Err(e) = conn.machine.send_full_response(head, body) {
        eprintln!("response refused: {e}");
    }
}

/// Reacts to events, writes what it can; returns whether the connection is finished.
fn drive(conn: &mut Conn, now: Instant) -> io::Result<bool> {
    while let Some(ev) = conn.machine.poll_event() {
        match ev {
            ServerEvent::Request(req) => {
                conn.route = Some((req.head.method.clone(), req.head.uri.path().to_string()));
                conn.body.clear();
                if req.expects_continue {
                    let _ = conn.machine.send_continue();
                }
            }
            ServerEvent::Data { data, .. } => {
                if conn.body.len() + data.len() > MAX_ECHO {
                    // Too large to collect: 413 now, without reading the
                    // rest, then close once it is written. (Closing alone
                    // left the client with an empty reply.)
                    conn.body.clear();
                    if conn.route.take().is_some() {
                        conn.machine.close_after_current();
                        let mut head = http::Response::new(()).into_parts().0;
                        head.status = http::StatusCode::PAYLOAD_TOO_LARGE;
                        let body = Bytes::from_static(b"body too large\n");
                        if let Err(e) = conn.machine.send_full_response(head, body) {
                            eprintln!("response refused: {e}");
                        }
                    }
                } else {
                    conn.body.extend_from_slice(&data);
                }
            }
            ServerEvent::End { .. } => respond(conn),
            ServerEvent::Error(e) => eprintln!("bad request: {e}"),
            _ => {}
        }
    }
    // Write everything the machine queued, vectored, until the socket is full.
    loop {
        while let Some(t) = conn.machine.poll_transmit() {
            match t {
                Transmit::Bytes(b) => conn.unsent.push(b),
                Transmit::Shutdown => conn.shutdown = true,
            }
        }
        if conn.unsent.is_empty() {
            break;
        }
        let slices: Vec<IoSlice<'_>> = conn.unsent.iter().map(|b| IoSlice::new(b)).collect();
        match conn.socket.write_vectored(&slices) {
            Ok(mut n) => {
                conn.unsent.retain_mut(|b| {
                    let take = n.min(b.len());
                    n -= take;
                    let _ = b.split_to(take);
                    !b.is_empty()
                });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    if conn.shutdown && conn.unsent.is_empty() {
        let _ = conn.socket.shutdown(std::net::Shutdown::Write);
    }
    let _ = now;
    Ok(conn.machine.is_closed() && conn.unsent.is_empty())
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:8081".into())
        .parse()
        .map_err(io::Error::other)?;
    let run_for = args
        .next()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs);
    let started = Instant::now();

    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind(addr)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    eprintln!("custom loop serving http://{}/", listener.local_addr()?);
    let mut conns: HashMap<Token, Conn> = HashMap::new();
    let mut next = 1;
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 16 * 1024];

    loop {
        if run_for.is_some_and(|d| started.elapsed() >= d) {
            return Ok(());
        }
        // Sleep until the earliest machine deadline (header-read and idle timers).
        let now = Instant::now();
        let deadline = conns
            .values()
            .filter_map(|c| match c.linger {
                Some((until, _)) => Some(until),
                None => c.machine.poll_timeout(),
            })
            .min();
        let mut timeout = deadline.map(|d| d.saturating_duration_since(now));
        if let Some(d) = run_for {
            let left = d.saturating_sub(started.elapsed());
            timeout = Some(timeout.map_or(left, |t| t.min(left)));
        }
        poll.poll(&mut events, timeout)?;
        let now = Instant::now();

        let mut finished = Vec::new();
        for event in events.iter() {
            if event.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut socket, _)) => {
                            let token = Token(next);
                            next += 1;
                            poll.registry().register(
                                &mut socket,
                                token,
                                Interest::READABLE | Interest::WRITABLE,
                            )?;
                            let machine = ServerConnection::new(ServerConfig::default(), now);
                            conns.insert(
                                token,
                                Conn {
                                    socket,
                                    machine,
                                    unsent: Vec::new(),
                                    shutdown: false,
                                    route: None,
                                    body: Vec::new(),
                                    linger: None,
                                },
                            );
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
                continue;
            }
            let Some(conn) = conns.get_mut(&event.token()) else {
                continue;
            };
            if conn.linger.is_some() {
                if event.is_readable() && drain(conn, &mut buf, now) {
                    finished.push(event.token());
                }
                continue;
            }
            if event.is_readable() {
                // Edge-triggered: read until WouldBlock, while the machine wants input.
                while conn.machine.wants_read() {
                    match conn.socket.read(&mut buf) {
                        Ok(0) => {
                            let _ = conn.machine.handle_eof(now);
                            break;
                        }
                        Ok(n) => {
                            let _ = conn.machine.handle_input(now, &buf[..n]);
                            // React between reads so pipelined requests keep flowing.
                            if drive(conn, now).is_err() {
                                break;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(_) => {
                            finished.push(event.token());
                            break;
                        }
                    }
                }
            }
            match drive(conn, now) {
                Ok(true) | Err(_) => finished.push(event.token()),
                Ok(false) => {}
            }
        }
        // Fire due timers.
        for (token, conn) in conns.iter_mut() {
            if conn.linger.is_some_and(|(until, _)| until <= now) {
                finished.push(*token);
            } else if conn.machine.poll_timeout().is_some_and(|t| t <= now) {
                conn.machine.handle_timeout(now);
                if !matches!(drive(conn, now), Ok(false)) {
                    finished.push(*token);
                }
            }
        }
        finished.sort_unstable();
        finished.dedup();
        for token in finished {
            let Some(conn) = conns.get_mut(&token) else {
                continue;
            };
            // A clean end lingers first (see `drain`); the first drain runs
            // now, as the edge-triggered readiness may already be spent.
            if conn.linger.is_none() && conn.machine.is_closed() && conn.unsent.is_empty() {
                conn.linger = Some((now + LINGER_TIME, LINGER_BYTES));
                if !drain(conn, &mut buf, now) {
                    continue;
                }
            }
            if let Some(mut conn) = conns.remove(&token) {
                let _ = poll.registry().deregister(&mut conn.socket);
            }
        }
    }
}
