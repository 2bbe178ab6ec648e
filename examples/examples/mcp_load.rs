//! The MCP load generator of `bench/mcp.sh`: one neutral client for every
//! server, so that each sees the same bytes and only the server varies.
//!
//! It speaks MCP by hand (JSON-RPC lines over pipes, or HTTP/1.1 over
//! tokio TCP: no MCP SDK, no HTTP library on the request side, `httparse`
//! for response heads), sets up a legacy-era session (`initialize` at
//! 2025-06-18, then `notifications/initialized`) and calls the `echo`
//! tool (`{"text": TEXT}`) again and again, checking every answer
//! (`structuredContent.text` is TEXT, no `isError`).
//!
//! ```sh
//! # stdio: spawn each COMMAND (split on spaces; `taskset -c 0 ...` pins it)
//! # with piped stdin/stdout, one session per server for the whole run:
//! mcp_load [OPTIONS] stdio 'ours=wirestate mcp-server' 'rmcp=rmcp_echo_server stdio'
//! # Streamable HTTP: each server already listening, with the PID whose
//! # CPU time is measured:
//! mcp_load [OPTIONS] http 'ours=http://127.0.0.1:18301/mcp@PID' 'rmcp=...@PID'
//! ```
//!
//! Options: `--inflight N` calls in flight (1 = sequential), `--secs S`
//! measured per round after `--warmup W` seconds, `--rounds R` rounds per
//! server, alternating servers (and their order) round by round so that
//! drift on a shared machine hits both alike, `--text TEXT`.
//!
//! * stdio: one pair of pipes per server; requests are written as soon as
//!   a slot is free (with 64 in flight, every request whose slot is free
//!   goes out in one write), answers matched by id.
//! * HTTP: `--inflight` keep-alive connections, each with one POST in
//!   flight (no pipelining), all on one session (one MCP client calling
//!   tools in parallel); answers are read whole, SSE (`text/event-stream`)
//!   or JSON, whichever the server chose.
//!
//! Output: a `round=` line per server and round (calls completed inside
//! the window, calls/s, p50/p99/max latency from write to the end of the
//! answer, and the server's CPU µs per call: utime + stime from
//! /proc/PID/stat over the window / calls, stime alone (the kernel's part:
//! system calls and wake-ups), and the generator's own, to
//! show it was not the bottleneck), then a Markdown table of the
//! medians over rounds and the ratios of each server to every one after
//! it (median of per-round ratios, range in brackets).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use clap::{Parser, Subcommand};
use serde::Deserialize;
use serde::de::IgnoredAny;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Semaphore;
use wirestate_examples::load::{clk_tck, cpu_ticks, cpu_ticks_split, percentile_us};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The protocol revision the generator asks for (both eras' servers speak it).
const PROTOCOL: &str = "2025-06-18";

#[derive(Parser)]
#[command(about = "MCP tools/call load generator (bench/mcp.sh)")]
struct Args {
    /// Calls in flight (1: sequential).
    #[arg(long, default_value_t = 1)]
    inflight: usize,
    /// Measured seconds per round.
    #[arg(long, default_value_t = 5.0)]
    secs: f64,
    /// Unmeasured seconds before each round's window.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Rounds per server.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// The text to echo.
    #[arg(long, default_value = "hello from mcp_load")]
    text: String,
    #[command(subcommand)]
    transport: Transport,
}

#[derive(Subcommand)]
enum Transport {
    /// NAME=COMMAND ...: spawn each stdio MCP server.
    Stdio {
        #[arg(required = true)]
        servers: Vec<String>,
    },
    /// NAME=URL@PID ...: Streamable HTTP servers already listening.
    Http {
        #[arg(required = true)]
        servers: Vec<String>,
    },
}

fn main() -> Res<()> {
    let args = Args::parse();
    if args.inflight == 0 || args.rounds == 0 || args.secs <= 0.0 {
        return Err("--inflight, --rounds and --secs must be positive".into());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

/// One server under test.
enum Peer {
    Stdio(Box<StdioPeer>),
    Http(HttpPeer),
}

impl Peer {
    fn pid(&self) -> Option<u32> {
        match self {
            Peer::Stdio(p) => p.child.id(),
            Peer::Http(p) => Some(p.pid),
        }
    }
}

/// What one round measured.
#[derive(Clone, Copy)]
struct Round {
    calls: usize,
    calls_per_s: f64,
    p50_us: f64,
    p99_us: f64,
    max_us: f64,
    cpu_us_per_call: f64,
    /// The kernel's part of `cpu_us_per_call` (system calls, wake-ups).
    sys_us_per_call: f64,
    /// The generator's own CPU per call (a check that it was not the
    /// bottleneck).
    load_us_per_call: f64,
}

/// The window of a round and what was read at its edges.
struct Window {
    start: Instant,
    end: Instant,
}

impl Window {
    fn new(warmup: f64, secs: f64) -> Self {
        let start = Instant::now() + Duration::from_secs_f64(warmup);
        Window {
            start,
            end: start + Duration::from_secs_f64(secs),
        }
    }

    fn contains(&self, t: Instant) -> bool {
        t >= self.start && t <= self.end
    }

    /// Sleeps to the window's start and end, reading the server's and
    /// the generator's CPU ticks at each.
    async fn meter(&self, pid: Option<u32>) -> Meter {
        let me = std::process::id();
        tokio::time::sleep_until(self.start.into()).await;
        let (c0, l0, t0) = (pid.and_then(cpu_ticks_split), cpu_ticks(me), Instant::now());
        tokio::time::sleep_until(self.end.into()).await;
        let (c1, l1, t1) = (pid.and_then(cpu_ticks_split), cpu_ticks(me), Instant::now());
        let used = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        };
        let total = |c: Option<(u64, u64)>| c.map(|(u, s)| u + s);
        let sys = |c: Option<(u64, u64)>| c.map(|(_, s)| s);
        Meter {
            server_ticks: used(total(c0), total(c1)),
            server_sys_ticks: used(sys(c0), sys(c1)),
            load_ticks: used(l0, l1),
            elapsed: (t1 - t0).as_secs_f64(),
        }
    }
}

/// CPU ticks used over a window by the server and the generator, and the
/// window's length in seconds.
struct Meter {
    server_ticks: Option<u64>,
    server_sys_ticks: Option<u64>,
    load_ticks: Option<u64>,
    elapsed: f64,
}

fn summarise(mut lat: Vec<u32>, m: Meter) -> Round {
    lat.sort_unstable();
    let n = lat.len();
    let per_call = |ticks: Option<u64>| match ticks {
        Some(t) if n > 0 => t as f64 / clk_tck() * 1e6 / n as f64,
        _ => f64::NAN,
    };
    let elapsed = m.elapsed;
    Round {
        calls: n,
        calls_per_s: n as f64 / elapsed,
        p50_us: percentile_us(&lat, 0.50),
        p99_us: percentile_us(&lat, 0.99),
        max_us: percentile_us(&lat, 1.0),
        cpu_us_per_call: per_call(m.server_ticks),
        sys_us_per_call: per_call(m.server_sys_ticks),
        load_us_per_call: per_call(m.load_ticks),
    }
}

fn nanos(d: Duration) -> u32 {
    d.as_nanos().min(u128::from(u32::MAX)) as u32
}

async fn run(args: Args) -> Res<()> {
    let (kind, specs) = match &args.transport {
        Transport::Stdio { servers } => ("stdio", servers),
        Transport::Http { servers } => ("http", servers),
    };
    let mut peers: Vec<(String, Peer)> = Vec::new();
    for spec in specs {
        let (name, what) = spec
            .split_once('=')
            .ok_or_else(|| format!("{spec:?}: expected NAME=..."))?;
        let peer = match kind {
            "stdio" => Peer::Stdio(Box::new(StdioPeer::spawn(what).await?)),
            _ => Peer::Http(HttpPeer::connect(what).await?),
        };
        peers.push((name.to_owned(), peer));
    }
    let text_json = serde_json::to_string(&args.text)?;
    let mut results: Vec<Vec<Round>> = vec![Vec::new(); peers.len()];
    for round in 0..args.rounds {
        // Alternate the order too, so neither server always goes first
        // after the other has warmed the caches (or the machine).
        let mut order: Vec<usize> = (0..peers.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let (name, peer) = &mut peers[i];
            let pid = peer.pid();
            let window = Window::new(args.warmup, args.secs);
            let r = match peer {
                Peer::Stdio(p) => {
                    p.round(&window, pid, args.inflight, &text_json, &args.text)
                        .await?
                }
                Peer::Http(p) => {
                    p.round(&window, args.inflight, &text_json, &args.text)
                        .await?
                }
            };
            report(kind, &args, round, name, r);
            results[i].push(r);
        }
    }
    table(kind, &args, &peers, &results);
    for (_, peer) in peers {
        if let Peer::Stdio(p) = peer {
            p.close().await;
        }
    }
    Ok(())
}

fn report(kind: &str, args: &Args, round: usize, name: &str, r: Round) {
    println!(
        "round={} transport={kind} inflight={} server={name} calls={} calls_per_s={:.0} p50_us={:.1} p99_us={:.1} max_us={:.1} cpu_us_per_call={:.2} sys_us_per_call={:.2} load_us_per_call={:.2}",
        round + 1,
        args.inflight,
        r.calls,
        r.calls_per_s,
        r.p50_us,
        r.p99_us,
        r.max_us,
        r.cpu_us_per_call,
        r.sys_us_per_call,
        r.load_us_per_call
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn spread(v: &[f64]) -> String {
    let med = median(v.to_vec());
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if v.len() > 1 {
        format!("{med:.2}× ({lo:.2}–{hi:.2})")
    } else {
        format!("{med:.2}×")
    }
}

/// The Markdown table of medians, then the ratios of each server to
/// every one after it, per round paired in order.
fn table(kind: &str, args: &Args, peers: &[(String, Peer)], results: &[Vec<Round>]) {
    let how = if args.inflight == 1 {
        "sequential".to_owned()
    } else {
        format!("{} in flight", args.inflight)
    };
    println!();
    println!(
        "| transport | load | server | calls/s | p50 µs | p99 µs | server CPU µs/call | of which kernel µs |\n|---|---|---|---:|---:|---:|---:|---:|"
    );
    for ((name, _), rs) in peers.iter().zip(results) {
        let m = |f: fn(&Round) -> f64| median(rs.iter().map(f).collect());
        println!(
            "| {kind} | {how} | {name} | {:.0} | {:.1} | {:.1} | {:.2} | {:.2} |",
            m(|r| r.calls_per_s),
            m(|r| r.p50_us),
            m(|r| r.p99_us),
            m(|r| r.cpu_us_per_call),
            m(|r| r.sys_us_per_call)
        );
    }
    // Every pair, in the order given (with ours, blocking, rmcp: each of
    // ours to the other two, and blocking to rmcp).
    for (i, (first, base)) in peers.iter().map(|p| &p.0).zip(results).enumerate() {
        for ((name, _), rs) in peers.iter().zip(results).skip(i + 1) {
            let pair = |f: fn(&Round, &Round) -> f64| -> Vec<f64> {
                base.iter().zip(rs).map(|(a, b)| f(a, b)).collect()
            };
            println!(
                "\nratio {first}/{name} ({kind}, {how}): calls/s {}, p99 latency {name}/{first} {}, CPU per call {name}/{first} {}",
                spread(&pair(|a, b| a.calls_per_s / b.calls_per_s)),
                spread(&pair(|a, b| b.p99_us / a.p99_us)),
                spread(&pair(|a, b| b.cpu_us_per_call / a.cpu_us_per_call)),
            );
        }
    }
}

/// An answer, as much of it as the generator checks.
#[derive(Deserialize)]
struct Reply {
    id: Option<u64>,
    method: Option<IgnoredAny>,
    result: Option<CallResult>,
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CallResult {
    structured_content: Option<Echoed>,
    is_error: Option<bool>,
    protocol_version: Option<String>,
}

#[derive(Deserialize)]
struct Echoed {
    text: String,
}

/// Parses one JSON-RPC message: `Some(id)` for a correct answer to a call
/// (`None` for a notification, which is skipped); an error for anything
/// else (a request from the server, an error answer, a wrong echo).
fn check_call(msg: &[u8], text: &str) -> Res<Option<u64>> {
    let r: Reply = serde_json::from_slice(msg)
        .map_err(|e| format!("bad message {:?}: {e}", String::from_utf8_lossy(msg)))?;
    if r.method.is_some() {
        return match r.id {
            None => Ok(None),
            Some(_) => {
                Err(format!("unexpected server request {}", String::from_utf8_lossy(msg)).into())
            }
        };
    }
    if let Some(e) = r.error {
        return Err(format!("error answer: {e}").into());
    }
    let id = r.id.ok_or("an answer without an id")?;
    match r.result {
        Some(CallResult {
            structured_content: Some(Echoed { text: t }),
            is_error: None | Some(false),
            ..
        }) if t == text => Ok(Some(id)),
        _ => Err(format!("wrong echo: {}", String::from_utf8_lossy(msg)).into()),
    }
}

fn call_body(out: &mut Vec<u8>, id: u64, text_json: &str) {
    use std::io::Write;
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":{text_json}}}}}}}"#
    );
}

const INITIALIZE: &str = concat!(
    r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","#,
    r#""capabilities":{},"clientInfo":{"name":"mcp_load","version":"0.1.0"}}}"#
);
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

/// The negotiated revision from an `initialize` answer.
fn negotiated(msg: &[u8]) -> Res<String> {
    let r: Reply = serde_json::from_slice(msg)?;
    if let Some(e) = r.error {
        return Err(format!("initialize refused: {e}").into());
    }
    r.result
        .and_then(|r| r.protocol_version)
        .ok_or_else(|| format!("no protocolVersion in {}", String::from_utf8_lossy(msg)).into())
}

// ---------------------------------------------------------------- stdio

struct StdioPeer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
}

impl StdioPeer {
    async fn spawn(cmd: &str) -> Res<Self> {
        let mut words = cmd.split_whitespace();
        let program = words.next().ok_or("empty command")?;
        let mut child = Command::new(program)
            .args(words)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("no pipes".into());
        };
        let mut p = StdioPeer {
            child,
            stdin,
            stdout: BufReader::with_capacity(64 * 1024, stdout),
            next_id: 1,
        };
        p.stdin
            .write_all(format!("{INITIALIZE}\n").as_bytes())
            .await?;
        let mut line = Vec::new();
        let answer = tokio::time::timeout(
            Duration::from_secs(10),
            p.stdout.read_until(b'\n', &mut line),
        )
        .await
        .map_err(|_| format!("{cmd:?}: no answer to initialize in 10 s"))??;
        if answer == 0 {
            return Err(format!("{cmd:?} closed stdout").into());
        }
        negotiated(&line)?;
        p.stdin
            .write_all(format!("{INITIALIZED}\n").as_bytes())
            .await?;
        Ok(p)
    }

    /// Calls `echo` with `inflight` calls outstanding until the window
    /// ends, then waits for the outstanding answers.
    async fn round(
        &mut self,
        w: &Window,
        pid: Option<u32>,
        inflight: usize,
        text_json: &str,
        text: &str,
    ) -> Res<Round> {
        let slots = Semaphore::new(inflight);
        let sent: RefCell<HashMap<u64, Instant>> =
            RefCell::new(HashMap::with_capacity(inflight * 2));
        let lat: RefCell<Vec<u32>> = RefCell::new(Vec::with_capacity(1 << 16));
        let next_id = Cell::new(self.next_id);
        let (stdin, stdout) = (&mut self.stdin, &mut self.stdout);
        let writer = async {
            let mut buf = Vec::with_capacity(inflight * 160);
            // Each free slot is one request; the ones free together go in
            // one write.
            while let Ok(p) = slots.acquire().await {
                p.forget();
                let now = Instant::now();
                if now >= w.end {
                    break;
                }
                buf.clear();
                let push = |buf: &mut Vec<u8>| {
                    let id = next_id.get();
                    next_id.set(id + 1);
                    call_body(buf, id, text_json);
                    buf.push(b'\n');
                    sent.borrow_mut().insert(id, now);
                };
                push(&mut buf);
                while let Ok(p) = slots.try_acquire() {
                    p.forget();
                    push(&mut buf);
                }
                stdin.write_all(&buf).await?;
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        };
        let reader = async {
            let mut line = Vec::with_capacity(1024);
            loop {
                line.clear();
                if stdout.read_until(b'\n', &mut line).await? == 0 {
                    return Err("the server closed stdout".into());
                }
                let Some(id) = check_call(&line, text)? else {
                    continue;
                };
                let t1 = Instant::now();
                let t0 = sent
                    .borrow_mut()
                    .remove(&id)
                    .ok_or_else(|| format!("an answer to unknown id {id}"))?;
                if w.contains(t1) {
                    lat.borrow_mut().push(nanos(t1 - t0));
                }
                if t1 >= w.end && sent.borrow().is_empty() {
                    // Everything sent is answered; the writer sends no more.
                    slots.close();
                    return Ok::<_, Box<dyn std::error::Error + Send + Sync>>(());
                }
                slots.add_permits(1);
            }
        };
        let (_, _, meter) = tokio::try_join!(writer, reader, async { Ok(w.meter(pid).await) })?;
        self.next_id = next_id.get();
        Ok(summarise(lat.into_inner(), meter))
    }

    /// Closes stdin (the server's cue to exit) and reaps the child, killing
    /// it if it has not exited within 5 s.
    async fn close(mut self) {
        drop(self.stdin);
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

// ---------------------------------------------------------------- HTTP

struct HttpPeer {
    addr: String,
    pid: u32,
    /// The head of every POST up to `Content-Length: ` (Host, Accept,
    /// Content-Type, the session id, the revision).
    head: Vec<u8>,
    /// Ids already used (each round continues the count).
    next_id: u64,
}

/// One answer, read whole.
struct Answer {
    status: u16,
    session: Option<String>,
    sse: bool,
    body: Vec<u8>,
}

/// A keep-alive connection with its receive buffer.
struct Conn {
    stream: TcpStream,
    buf: BytesMut,
}

impl Conn {
    async fn open(addr: &str) -> Res<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: BytesMut::with_capacity(16 * 1024),
        })
    }

    async fn fill(&mut self) -> Res<()> {
        if self.stream.read_buf(&mut self.buf).await? == 0 {
            return Err("the server closed the connection".into());
        }
        Ok(())
    }

    /// Reads one response: head, then a Content-Length or chunked body.
    async fn answer(&mut self) -> Res<Answer> {
        let (status, session, sse, length, chunked, head_len) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut res = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(n) = res.parse(&self.buf)? {
                let mut session = None;
                let mut sse = false;
                let mut length = None;
                let mut chunked = false;
                for h in res.headers.iter() {
                    let v = std::str::from_utf8(h.value)?;
                    if h.name.eq_ignore_ascii_case("mcp-session-id") {
                        session = Some(v.to_owned());
                    } else if h.name.eq_ignore_ascii_case("content-type") {
                        sse = v.starts_with("text/event-stream");
                    } else if h.name.eq_ignore_ascii_case("content-length") {
                        length = Some(v.trim().parse::<usize>()?);
                    } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                        chunked = v.to_ascii_lowercase().contains("chunked");
                    }
                }
                break (res.code.unwrap_or(0), session, sse, length, chunked, n);
            }
            self.fill().await?;
        };
        self.buf.advance(head_len);
        let mut body = Vec::new();
        if chunked {
            loop {
                let line_end = loop {
                    if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                        break i;
                    }
                    self.fill().await?;
                };
                let size_text = std::str::from_utf8(&self.buf[..line_end])?;
                let size_text = size_text.split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(size_text, 16)
                    .map_err(|_| format!("bad chunk size {size_text:?}"))?;
                self.buf.advance(line_end + 2);
                if size == 0 {
                    // Trailer fields (none expected), then the empty line.
                    loop {
                        while !self.buf.windows(2).any(|w| w == b"\r\n") {
                            self.fill().await?;
                        }
                        let i = self.buf.windows(2).position(|w| w == b"\r\n").unwrap_or(0);
                        self.buf.advance(i + 2);
                        if i == 0 {
                            break;
                        }
                    }
                    break;
                }
                while self.buf.len() < size + 2 {
                    self.fill().await?;
                }
                body.extend_from_slice(&self.buf[..size]);
                self.buf.advance(size + 2);
            }
        } else {
            let n = length.ok_or("a response with neither Content-Length nor chunked")?;
            while self.buf.len() < n {
                self.fill().await?;
            }
            body.extend_from_slice(&self.buf[..n]);
            self.buf.advance(n);
        }
        Ok(Answer {
            status,
            session,
            sse,
            body,
        })
    }
}

/// The JSON-RPC messages of an answer body: each SSE event's data, or the
/// body itself when it is JSON.
fn messages(a: &Answer) -> Vec<Vec<u8>> {
    if !a.sse {
        return vec![a.body.clone()];
    }
    let mut out = Vec::new();
    let mut data: Vec<u8> = Vec::new();
    let mut has_data = false;
    for line in a.body.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            if has_data && !data.is_empty() {
                out.push(std::mem::take(&mut data));
            }
            data.clear();
            has_data = false;
        } else if let Some(v) = line.strip_prefix(b"data:") {
            let v = v.strip_prefix(b" ").unwrap_or(v);
            if has_data {
                data.push(b'\n');
            }
            data.extend_from_slice(v);
            has_data = true;
        }
    }
    if has_data && !data.is_empty() {
        out.push(data);
    }
    out
}

impl HttpPeer {
    /// `URL@PID`: opens a session (initialize, initialized).
    async fn connect(spec: &str) -> Res<Self> {
        let (url, pid) = spec
            .rsplit_once('@')
            .ok_or_else(|| format!("{spec:?}: expected URL@PID"))?;
        let pid: u32 = pid.parse()?;
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url:?}: only http:// URLs"))?;
        let (addr, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let mut peer = HttpPeer {
            addr: addr.to_owned(),
            pid,
            head: Vec::new(),
            next_id: 1,
        };
        let mut conn = Conn::open(addr).await?;
        let base = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
        );
        let init = format!(
            "{base}Content-Length: {}\r\n\r\n{INITIALIZE}",
            INITIALIZE.len()
        );
        conn.stream.write_all(init.as_bytes()).await?;
        let a = conn.answer().await?;
        if a.status != 200 {
            return Err(format!(
                "initialize: HTTP {} {}",
                a.status,
                String::from_utf8_lossy(&a.body)
            )
            .into());
        }
        let session = a.session.clone().ok_or("initialize: no Mcp-Session-Id")?;
        let version = messages(&a)
            .iter()
            .find_map(|m| negotiated(m).ok())
            .ok_or("initialize: no answer in the body")?;
        if version != PROTOCOL {
            eprintln!("mcp_load: {url} negotiated {version}");
        }
        peer.head = format!(
            "{base}Mcp-Session-Id: {session}\r\nMCP-Protocol-Version: {version}\r\nContent-Length: "
        )
        .into_bytes();
        let mut req = peer.head.clone();
        req.extend_from_slice(format!("{}\r\n\r\n{INITIALIZED}", INITIALIZED.len()).as_bytes());
        conn.stream.write_all(&req).await?;
        let a = conn.answer().await?;
        if a.status != 202 {
            return Err(format!("initialized: HTTP {} (202 expected)", a.status).into());
        }
        Ok(peer)
    }

    async fn round(
        &mut self,
        w: &Window,
        inflight: usize,
        text_json: &str,
        text: &str,
    ) -> Res<Round> {
        // Fresh connections each round (a keep-alive connection idle
        // through the other server's round may have been closed); opened
        // inside the warm-up, so not measured.
        let mut conns = Vec::with_capacity(inflight);
        for _ in 0..inflight {
            conns.push(Conn::open(&self.addr).await?);
        }
        let next_id = Cell::new(self.next_id);
        let head = &self.head;
        let lat: RefCell<Vec<u32>> = RefCell::new(Vec::with_capacity(1 << 16));
        let clients = conns.into_iter().map(|mut c| {
            let (next_id, lat) = (&next_id, &lat);
            async move {
                let mut req = Vec::with_capacity(head.len() + 256);
                let mut body = Vec::with_capacity(200);
                loop {
                    let t0 = Instant::now();
                    if t0 >= w.end {
                        return Ok::<_, Box<dyn std::error::Error + Send + Sync>>(());
                    }
                    let id = next_id.get();
                    next_id.set(id + 1);
                    body.clear();
                    call_body(&mut body, id, text_json);
                    req.clear();
                    req.extend_from_slice(head);
                    req.extend_from_slice(format!("{}\r\n\r\n", body.len()).as_bytes());
                    req.extend_from_slice(&body);
                    c.stream.write_all(&req).await?;
                    let a = c.answer().await?;
                    if a.status != 200 {
                        return Err(format!(
                            "HTTP {} {}",
                            a.status,
                            String::from_utf8_lossy(&a.body)
                        )
                        .into());
                    }
                    let mut answered = false;
                    for m in messages(&a) {
                        if check_call(&m, text)? == Some(id) {
                            answered = true;
                        }
                    }
                    if !answered {
                        return Err(format!(
                            "no answer to {id} in {}",
                            String::from_utf8_lossy(&a.body)
                        )
                        .into());
                    }
                    let t1 = Instant::now();
                    if w.contains(t1) {
                        lat.borrow_mut().push(nanos(t1 - t0));
                    }
                }
            }
        });
        let all = futures_util::future::try_join_all(clients);
        let (_, meter) = tokio::try_join!(all, async { Ok(w.meter(Some(self.pid)).await) })?;
        self.next_id = next_id.get();
        Ok(summarise(lat.into_inner(), meter))
    }
}
