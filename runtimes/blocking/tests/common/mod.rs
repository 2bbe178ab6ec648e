//! Helpers shared by the blocking runtime's tests: a server on an
//! ephemeral port that is always shut down and joined, and a small,
//! independent HTTP/1.1 response reader for raw-socket tests.
#![allow(dead_code)]

use http::{Request, Response};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wirestate_blocking::{BlockingBody, ResponseBody, Server, ServerConfig, ServerHandle};

/// Longest any single socket wait in a test may take.
pub const IO_LIMIT: Duration = Duration::from_secs(10);

/// A blocking server on 127.0.0.1:0, shut down and joined on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl TestServer {
    pub fn start<H>(config: ServerConfig, handler: H) -> TestServer
    where
        H: Fn(Request<BlockingBody>) -> Response<ResponseBody> + Send + Sync + 'static,
    {
        let server = Server::bind("127.0.0.1:0", config).expect("bind");
        let addr = server.local_addr().unwrap();
        let handle = server.handle();
        let thread = std::thread::spawn(move || server.serve(handler));
        TestServer {
            addr,
            handle,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Shuts down and waits (bounded) for `serve` to return.
    pub fn stop(&mut self) -> Duration {
        let start = Instant::now();
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            join_within(t, IO_LIMIT)
                .expect("serve did not return")
                .expect("serve failed");
        }
        start.elapsed()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if self.thread.is_some() && !std::thread::panicking() {
            self.stop();
        } else {
            self.handle.shutdown();
        }
    }
}

/// Joins `t`, giving up (with `None`) after `limit`.
pub fn join_within<T>(t: JoinHandle<T>, limit: Duration) -> Option<T> {
    let deadline = Instant::now() + limit;
    while !t.is_finished() {
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Some(t.join().expect("thread panicked"))
}

/// A raw connection with bounded waits.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(IO_LIMIT)).unwrap();
    s.set_write_timeout(Some(IO_LIMIT)).unwrap();
    s
}

/// One response read off the wire.
#[derive(Debug, Default)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub trailers: Vec<(String, String)>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn read_line(r: &mut impl BufRead) -> io::Result<String> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn read_fields(r: &mut impl BufRead) -> io::Result<Vec<(String, String)>> {
    let mut fields = Vec::new();
    loop {
        let line = read_line(r)?;
        if line.is_empty() {
            return Ok(fields);
        }
        let (n, v) = line.split_once(':').expect("header line");
        fields.push((n.trim().to_string(), v.trim().to_string()));
    }
}

/// Reads a response head (status and headers) only.
pub fn read_head(r: &mut impl BufRead) -> io::Result<RawResponse> {
    let status_line = read_line(r)?;
    let mut parts = status_line.splitn(3, ' ');
    assert_eq!(
        parts.next(),
        Some("HTTP/1.1"),
        "status line {status_line:?}"
    );
    let status = parts.next().unwrap().parse().unwrap();
    Ok(RawResponse {
        status,
        headers: read_fields(r)?,
        ..Default::default()
    })
}

/// Reads one whole response (not for HEAD requests or 1xx).
pub fn read_response(r: &mut impl BufRead) -> io::Result<RawResponse> {
    let mut res = read_head(r)?;
    if res.header("transfer-encoding") == Some("chunked") {
        loop {
            let line = read_line(r)?;
            let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16).unwrap();
            if size == 0 {
                res.trailers = read_fields(r)?;
                break;
            }
            let start = res.body.len();
            res.body.resize(start + size, 0);
            r.read_exact(&mut res.body[start..])?;
            assert_eq!(read_line(r)?, "", "chunk terminator");
        }
    } else if let Some(n) = res.header("content-length") {
        let n: usize = n.parse().unwrap();
        res.body.resize(n, 0);
        r.read_exact(&mut res.body)?;
    } else {
        r.read_to_end(&mut res.body)?;
    }
    Ok(res)
}

/// Sends `request` on a fresh connection and reads one response.
pub fn roundtrip(addr: SocketAddr, request: &[u8]) -> RawResponse {
    let mut s = connect(addr);
    s.write_all(request).unwrap();
    read_response(&mut BufReader::new(s)).expect("response")
}

/// Whether the peer closed the connection (EOF, or a reset) within `limit`.
pub fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// A deterministic byte pattern, as a reader of `len` bytes.
pub struct Pattern {
    pub pos: u64,
    pub len: u64,
}

pub fn pattern_byte(i: u64) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (self.len - self.pos).min(buf.len() as u64) as usize;
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = pattern_byte(self.pos + i as u64);
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// A writer that checks it receives the pattern, counting bytes.
#[derive(Default)]
pub struct PatternCheck {
    pub pos: u64,
}

impl Write for PatternCheck {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for (i, &b) in buf.iter().enumerate() {
            if b != pattern_byte(self.pos + i as u64) {
                return Err(io::Error::other(format!(
                    "pattern mismatch at byte {}",
                    self.pos + i as u64
                )));
            }
        }
        self.pos += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
