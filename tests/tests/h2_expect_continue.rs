//! HTTP/2 servers on each runtime answer `Expect: 100-continue` (RFC 9110
//! §10.1.1): a client that holds its request body back until told gets a
//! 100 (Continue) HEADERS frame once the handler reads the body — an echo
//! streaming it back, or a handler reading it all before it answers — and
//! none when the handler answers without it.
//!
//! Before, no HTTP/2 server sent a 100: `curl --http2-prior-knowledge -H
//! 'Expect: 100-continue' --data-binary @file` stalled a second on every
//! upload (curl's expect100 timeout), and a client waiting without a
//! timeout stalled for good. The client here is the sans-IO machine over a
//! std socket, so it waits exactly as long as the test says.

mod support;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use support::*;
use wirestate_h2::connection::{Connection, Event};
use wirestate_h2::frame::StreamId;
use wirestate_machine::{Machine, Transmit};
use wirestate_rt::Body;
use wirestate_rt::http1::ServerConfig;

/// What the client saw of one request.
#[derive(Debug, Default)]
struct Seen {
    /// Statuses of the interim responses, in order.
    interim: Vec<StatusCode>,
    /// The final status, once it came.
    status: Option<StatusCode>,
    /// Whether the final head came before any interim one.
    final_first: bool,
    body: Vec<u8>,
    ended: bool,
}

struct H2Client {
    sock: TcpStream,
    conn: Connection,
}

impl H2Client {
    fn connect(addr: SocketAddr) -> Self {
        let sock = connect(addr);
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let mut conn = Connection::client(Default::default());
        conn.start(Instant::now());
        Self { sock, conn }
    }

    fn flush(&mut self) {
        while let Some(t) = self.conn.poll_transmit() {
            if let Transmit::Bytes(b) = t {
                self.sock.write_all(&b).unwrap();
            }
        }
    }

    /// Reads and handles events for `wait`, or until `done` says so.
    fn pump(
        &mut self,
        stream: StreamId,
        seen: &mut Seen,
        wait: Duration,
        done: impl Fn(&Seen) -> bool,
    ) {
        let until = Instant::now() + wait;
        let mut buf = [0u8; 16 * 1024];
        while Instant::now() < until && !done(seen) {
            self.flush();
            match self.sock.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.conn.handle_input(Instant::now(), &buf[..n]).unwrap(),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("read: {e}"),
            }
            while let Some(ev) = self.conn.poll_event() {
                match ev {
                    Event::Informational { stream: s, head } if s == stream => {
                        seen.interim.push(head.status);
                    }
                    Event::Response {
                        stream: s,
                        head,
                        end_stream,
                    } if s == stream => {
                        seen.final_first = seen.interim.is_empty();
                        seen.status = Some(head.status);
                        seen.ended |= end_stream;
                    }
                    Event::Data {
                        stream: s,
                        data,
                        end_stream,
                        flow_len,
                    } if s == stream => {
                        seen.body.extend_from_slice(&data);
                        let _ = self.conn.release_capacity(s, flow_len);
                        seen.ended |= end_stream;
                    }
                    Event::Reset { stream: s, .. } if s == stream => seen.ended = true,
                    _ => {}
                }
            }
        }
        self.flush();
    }

    /// POSTs `body` to `path` with `Expect: 100-continue`, holding the
    /// body back until a 100 comes (for 2 s at most, far beyond the
    /// server's own delays), then sends it if the server asked for it.
    fn post_expecting(&mut self, path: &str, body: &[u8]) -> Seen {
        let (head, ()) = Request::post(format!("http://t{path}"))
            .header("expect", "100-continue")
            .header("content-length", body.len())
            .body(())
            .unwrap()
            .into_parts();
        let stream = self.conn.send_request(head, false).unwrap();
        let mut seen = Seen::default();
        self.pump(stream, &mut seen, Duration::from_secs(2), |s| {
            !s.interim.is_empty() || s.status.is_some()
        });
        if seen.interim.contains(&StatusCode::CONTINUE) {
            let mut rest = Bytes::copy_from_slice(body);
            // The default windows (64 KiB) take these small bodies at once.
            let n = self.conn.send_data(stream, rest.clone(), true).unwrap();
            assert_eq!(n, rest.len(), "the whole body fits the window");
            rest.clear();
        }
        self.pump(stream, &mut seen, Duration::from_secs(5), |s| s.ended);
        seen
    }
}

fn continues_on<T: TestServer>() {
    let srv = T::start(ServerConfig::default());
    let mut c = H2Client::connect(srv.addr);
    let body = payload(20_000);

    // An echo streams the request body back: the 100 precedes its head.
    let seen = c.post_expecting("/echo", &body);
    assert_eq!(
        seen.interim,
        vec![StatusCode::CONTINUE],
        "{}: a 100 for the echo: {seen:?}",
        T::NAME
    );
    assert!(!seen.final_first, "{}: {seen:?}", T::NAME);
    assert_eq!(seen.status, Some(StatusCode::OK), "{}", T::NAME);
    assert_eq!(seen.body, body, "{}: the body echoed", T::NAME);

    // A route that answers without reading: no 100, the final status at once.
    let seen = c.post_expecting("/nope", &body);
    assert!(seen.interim.is_empty(), "{}: {seen:?}", T::NAME);
    assert_eq!(seen.status, Some(StatusCode::NOT_FOUND), "{}", T::NAME);
    drop(c);
    assert!(srv.stop(), "{} server stops", T::NAME);
}

#[test]
fn tokio_server_sends_100_continue_over_h2() {
    continues_on::<Tokio>();
}

#[test]
fn smol_server_sends_100_continue_over_h2() {
    continues_on::<Smol>();
}

#[test]
fn blocking_server_sends_100_continue_over_h2() {
    continues_on::<Blocking>();
}

/// A handler that reads its whole body before it answers (an upload) gets
/// it once the 100 is out; the handler runs in the connection's task, so
/// the 100 goes out from the same poll that found it reading.
#[test]
fn a_handler_reading_first_gets_its_body_after_100_continue() {
    let handler = |req: Request<Body>| async move {
        match req.into_body().collect(1 << 20).await {
            Ok(b) => Response::new(Body::from(b.len().to_string())),
            Err(e) => Response::builder()
                .status(StatusCode::BAD_REQUEST)
                .body(Body::from(e.to_string()))
                .unwrap(),
        }
    };
    let (addr, _rt) = tokio_server(handler);
    let mut c = H2Client::connect(addr);
    let body = payload(30_000);
    let seen = c.post_expecting("/upload", &body);
    assert_eq!(seen.interim, vec![StatusCode::CONTINUE], "{seen:?}");
    assert_eq!(seen.status, Some(StatusCode::OK), "{seen:?}");
    assert_eq!(seen.body, b"30000", "{seen:?}");
    // The same connection still serves a request without the expectation.
    let (head, ()) = Request::get("http://t/").body(()).unwrap().into_parts();
    let stream = c.conn.send_request(head, true).unwrap();
    let mut seen = Seen::default();
    c.pump(stream, &mut seen, Duration::from_secs(5), |s| s.ended);
    assert!(seen.interim.is_empty(), "{seen:?}");
    assert_eq!(seen.status, Some(StatusCode::OK));
}
