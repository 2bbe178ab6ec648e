//! The generic blocking driver with machines of its own: a toy line
//! machine with an idle timer (to check the loop neither spins nor misses
//! deadlines) and the HTTP/1.1 server machine driven by `run`.

mod common;

use bytes::Bytes;
use common::*;
use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};
use wirestate_blocking::{Driver, Wait};
use wirestate_http1::{ServerConfig, ServerConnection, ServerEvent};
use wirestate_machine::{Machine, Transmit};

/// Reports each input line; the application answers with `reply`. Closes
/// (write side first) after `idle` without input.
struct Lines {
    buf: Vec<u8>,
    events: VecDeque<String>,
    tx: VecDeque<Transmit>,
    idle: Duration,
    deadline: Option<Instant>,
    closed: bool,
    eof: bool,
    timeouts: usize,
}

impl Lines {
    fn new(now: Instant, idle: Duration) -> Self {
        Self {
            buf: Vec::new(),
            events: VecDeque::new(),
            tx: VecDeque::new(),
            idle,
            deadline: Some(now + idle),
            closed: false,
            eof: false,
            timeouts: 0,
        }
    }

    fn reply(&mut self, line: &str) {
        self.tx
            .push_back(Transmit::Bytes(Bytes::from(format!("{line}\n"))));
    }

    fn shutdown(&mut self) {
        if !self.closed {
            self.closed = true;
            self.deadline = None;
            self.tx.push_back(Transmit::Shutdown);
        }
    }
}

impl Machine for Lines {
    type Event = String;
    type Error = io::Error;

    fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(bytes);
        while let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=i).collect();
            self.events
                .push_back(String::from_utf8_lossy(&line[..i]).into_owned());
        }
        if !self.closed {
            self.deadline = Some(now + self.idle);
        }
        Ok(())
    }

    fn handle_eof(&mut self, _now: Instant) -> io::Result<()> {
        self.eof = true;
        self.shutdown();
        Ok(())
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.timeouts += 1;
        if self.deadline.is_some_and(|d| d <= now) {
            self.shutdown();
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.tx.pop_front()
    }

    fn poll_event(&mut self) -> Option<String> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    fn wants_read(&self) -> bool {
        !self.eof && !self.closed && self.events.len() < 16
    }

    fn is_closed(&self) -> bool {
        self.closed && self.tx.is_empty()
    }
}

fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (b, _) = l.accept().unwrap();
    a.set_read_timeout(Some(IO_LIMIT)).unwrap();
    (a, b)
}

#[test]
fn run_answers_events_and_fires_the_idle_timer_once() {
    let (client, server) = pair();
    let idle = Duration::from_millis(150);
    let t = std::thread::spawn(move || {
        let mut driver = Driver::new(Lines::new(Instant::now(), idle), server);
        driver.run(|m, line| m.reply(&line.to_uppercase())).unwrap();
        let written = driver.bytes_written();
        (driver.into_parts().0.timeouts, written)
    });
    let mut w = client.try_clone().unwrap();
    let mut r = BufReader::new(client);
    for word in ["one", "two", "three"] {
        w.write_all(format!("{word}\n").as_bytes()).unwrap();
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert_eq!(line, format!("{}\n", word.to_uppercase()));
    }
    // Silence: the machine closes after `idle`, and the read sees its FIN.
    let start = Instant::now();
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    let took = start.elapsed();
    assert!(rest.is_empty());
    assert!(took >= Duration::from_millis(100), "closed early: {took:?}");
    assert!(took < Duration::from_secs(2), "closed late: {took:?}");
    let (timeouts, written) = join_within(t, IO_LIMIT).unwrap();
    // One deadline, one (or, after an early wake-up, a couple of) calls:
    // the loop blocks in the read rather than polling.
    assert!(
        (1..=3).contains(&timeouts),
        "handle_timeout ran {timeouts} times"
    );
    assert_eq!(written, "ONE\nTWO\nTHREE\n".len() as u64);
}

#[test]
fn wait_reports_the_callers_deadline_and_eof() {
    let (client, server) = pair();
    let mut driver = Driver::new(Lines::new(Instant::now(), Duration::from_secs(60)), server);
    let start = Instant::now();
    let w = driver
        .wait(Some(Instant::now() + Duration::from_millis(100)))
        .unwrap();
    assert!(matches!(w, Wait::Deadline), "{w:?}");
    assert!(start.elapsed() >= Duration::from_millis(100));
    (&client).write_all(b"hi\n").unwrap();
    assert!(matches!(driver.wait(None).unwrap(), Wait::Input(3)));
    assert_eq!(driver.machine_mut().poll_event().as_deref(), Some("hi"));
    drop(client);
    assert!(matches!(driver.wait(None).unwrap(), Wait::Eof));
    assert!(matches!(driver.wait(None).unwrap(), Wait::Closed));
    assert!(driver.is_finished());
}

#[test]
fn run_drives_the_http1_server_machine() {
    let (mut client, server) = pair();
    let t = std::thread::spawn(move || {
        let machine = ServerConnection::new(ServerConfig::default(), Instant::now());
        let mut driver = Driver::new(machine, server);
        driver
            .run(|conn, event| {
                if let ServerEvent::End { .. } = event {
                    let head = http::Response::new(()).into_parts().0;
                    conn.send_full_response(head, Bytes::from_static(b"hello"))
                        .unwrap();
                }
            })
            .unwrap();
    });
    client
        .write_all(
            b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
    let mut all = String::new();
    client.read_to_string(&mut all).unwrap();
    assert_eq!(all.matches("HTTP/1.1 200 OK").count(), 2, "{all}");
    assert!(all.ends_with("hello"));
    join_within(t, IO_LIMIT).unwrap();
}
