//! The WebSocket load generator of `bench/ws.sh`: one generator for every
//! server, so the comparison only varies the server.
//!
//! It speaks RFC 6455 by hand over tokio TCP (no WebSocket library, so it
//! favours no server's implementation): an HTTP/1.1 upgrade without
//! extensions (so no permessage-deflate), then masked binary frames.
//!
//! ```sh
//! # C connections, each sending one message, waiting for its echo, and again,
//! # for SECS seconds after a warm-up; latency per round trip:
//! ws_load echo ADDR PATH CONNS SIZE SECS [SERVER_PID]
//! # N idle connections in all (handshake done, no traffic); with SERVER_PID
//! # the server's VmRSS with the first one open and with all N, per added
//! # connection:
//! ws_load idle ADDR PATH N [SERVER_PID]
//! ```
//!
//! Output: one line of `key=value` pairs on stdout. `echo` reports
//! `msgs` (round trips completed inside the window), `msgs_per_s`,
//! `p50_us`/`p99_us`/`max_us` (round-trip latency) and, with SERVER_PID,
//! `cpu_us_per_msg` (the server's utime + stime from /proc/PID/stat over the
//! window, divided by `msgs`).
//!
//! Each connection masks its message once with its own random key and sends
//! those bytes every time: the server still unmasks every frame, and the
//! generator spends its core on I/O, not on masking. Every echo is checked
//! against the original payload.

use bytes::{Buf, BytesMut};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use wirestate_examples::load::{clk_tck, cpu_ticks, percentile_us};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn usage() -> ! {
    eprintln!(
        "usage: ws_load echo ADDR PATH CONNS SIZE SECS [SERVER_PID]\n       ws_load idle ADDR PATH N [SERVER_PID]"
    );
    std::process::exit(2)
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let arg = |i: usize| args.get(i).cloned().unwrap_or_else(|| usage());
    match args.first().map(String::as_str) {
        Some("echo") => {
            let addr: SocketAddr = arg(1).parse()?;
            let path = arg(2);
            let conns: usize = arg(3).parse()?;
            let size: usize = arg(4).parse()?;
            let secs: f64 = arg(5).parse()?;
            let pid: Option<u32> = args.get(6).map(|s| s.parse()).transpose()?;
            rt.block_on(echo(addr, path, conns, size, secs, pid))
        }
        Some("idle") => {
            let addr: SocketAddr = arg(1).parse()?;
            let path = arg(2);
            let n: usize = arg(3).parse()?;
            let pid: Option<u32> = args.get(4).map(|s| s.parse()).transpose()?;
            rt.block_on(idle(addr, path, n, pid))
        }
        _ => usage(),
    }
}

/// A small xorshift for masking keys (unpredictable enough for a benchmark).
fn next_rand(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (t.as_nanos() as u64) | 1
}

/// Connects from `src` (a loopback address, so 10k connections do not
/// exhaust one address's ephemeral ports) and completes the opening
/// handshake. Returns the stream and any bytes read past the 101 response.
async fn connect(addr: SocketAddr, src: Ipv4Addr, path: &str) -> Res<(TcpStream, BytesMut)> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(src), 0))?;
    let mut stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(req.as_bytes()).await?;
    let mut buf = BytesMut::with_capacity(1024);
    loop {
        if stream.read_buf(&mut buf).await? == 0 {
            return Err("connection closed during the handshake".into());
        }
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end])?;
            if !head.starts_with("HTTP/1.1 101") {
                return Err(format!("handshake refused: {head}").into());
            }
            if head
                .to_ascii_lowercase()
                .contains("sec-websocket-extensions")
            {
                return Err("server negotiated an extension we did not offer".into());
            }
            buf.advance(end + 4);
            return Ok((stream, buf));
        }
    }
}

/// A masked binary frame carrying `payload`.
fn masked_frame(payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 14);
    f.push(0x82);
    match payload.len() {
        n @ 0..=125 => f.push(0x80 | n as u8),
        n @ 126..=0xFFFF => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

/// Parses a server (unmasked) frame header: (fin, opcode, header length, payload length).
fn parse_header(b: &[u8]) -> Res<Option<(bool, u8, usize, usize)>> {
    if b.len() < 2 {
        return Ok(None);
    }
    if b[1] & 0x80 != 0 {
        return Err("server sent a masked frame".into());
    }
    let (len, at) = match b[1] & 0x7F {
        126 if b.len() < 4 => return Ok(None),
        126 => (usize::from(u16::from_be_bytes([b[2], b[3]])), 4),
        127 if b.len() < 10 => return Ok(None),
        127 => {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(&b[2..10]);
            (u64::from_be_bytes(raw) as usize, 10)
        }
        n => (usize::from(n), 2),
    };
    Ok(Some((b[0] & 0x80 != 0, b[0] & 0x0F, at, len)))
}

/// Reads one whole echoed message (it may come in fragments) and checks it.
async fn read_echo(stream: &mut TcpStream, buf: &mut BytesMut, expect: &[u8]) -> Res<()> {
    let mut got = 0usize;
    loop {
        while let Some((fin, opcode, at, len)) = parse_header(buf)? {
            if buf.len() < at + len {
                buf.reserve(at + len - buf.len());
                break;
            }
            match opcode {
                0x0..=0x2 => {
                    let part = &buf[at..at + len];
                    if expect.get(got..got + len) != Some(part) {
                        return Err("echo differs from what was sent".into());
                    }
                    got += len;
                    buf.advance(at + len);
                    if fin {
                        if got != expect.len() {
                            return Err("echo is shorter than what was sent".into());
                        }
                        return Ok(());
                    }
                }
                0x8 => return Err("server closed the connection".into()),
                _ => buf.advance(at + len), // ping/pong: not expected; ignored
            }
        }
        if stream.read_buf(buf).await? == 0 {
            return Err("server closed the TCP connection".into());
        }
    }
}

fn vm_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

async fn echo(
    addr: SocketAddr,
    path: String,
    conns: usize,
    size: usize,
    secs: f64,
    pid: Option<u32>,
) -> Res<()> {
    let mut rng = seed();
    let mut streams = Vec::with_capacity(conns);
    for _ in 0..conns {
        streams.push(connect(addr, Ipv4Addr::LOCALHOST, &path).await?);
    }
    // Warm-up (not measured) until `start`, the measured window until `end`.
    let warmup = Duration::from_secs_f64((secs * 0.1).clamp(0.5, 2.0));
    let start = Instant::now() + warmup;
    let end = start + Duration::from_secs_f64(secs);
    let mut tasks = Vec::with_capacity(conns);
    for (mut stream, mut buf) in streams {
        let payload: Vec<u8> = (0..size).map(|_| next_rand(&mut rng) as u8).collect();
        let key = (next_rand(&mut rng) as u32).to_ne_bytes();
        let frame = masked_frame(&payload, key);
        buf.reserve(size + 14);
        tasks.push(tokio::spawn(async move {
            let mut lat: Vec<u32> = Vec::with_capacity(1 << 14);
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                stream.write_all(&frame).await?;
                read_echo(&mut stream, &mut buf, &payload).await?;
                let t1 = Instant::now();
                if t0 >= start && t1 <= end {
                    lat.push((t1 - t0).as_nanos().min(u128::from(u32::MAX)) as u32);
                }
            }
            // A polite close (1000); the servers' echo of it is not awaited.
            let mut close = masked_frame(&1000u16.to_be_bytes(), key);
            close[0] = 0x88;
            let _ = stream.write_all(&close).await;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(lat)
        }));
    }
    tokio::time::sleep_until(start.into()).await;
    let c0 = pid.and_then(cpu_ticks);
    tokio::time::sleep_until(end.into()).await;
    let c1 = pid.and_then(cpu_ticks);
    let mut all = Vec::new();
    for t in tasks {
        let lat = t.await?.map_err(|e| e.to_string())?;
        all.extend(lat);
    }
    all.sort_unstable();
    let n = all.len();
    let pct = |p: f64| percentile_us(&all, p);
    let cpu = match (c0, c1) {
        (Some(a), Some(b)) if n > 0 => {
            format!("{:.2}", (b - a) as f64 / clk_tck() * 1e6 / n as f64)
        }
        _ => "n/a".into(),
    };
    println!(
        "conns={conns} size={size} secs={secs} msgs={n} per_conn={} msgs_per_s={:.0} p50_us={:.1} p99_us={:.1} max_us={:.1} cpu_us_per_msg={cpu}",
        n / conns.max(1),
        n as f64 / secs,
        pct(0.50),
        pct(0.99),
        pct(1.0),
    );
    Ok(())
}

async fn idle(addr: SocketAddr, path: String, n: usize, pid: Option<u32>) -> Res<()> {
    // `n` connections in all. The first one echoes once, so the server has
    // accepted, upgraded and echoed before the baseline is read.
    let n = n.max(2);
    let (mut first, mut buf) = connect(addr, Ipv4Addr::LOCALHOST, &path).await?;
    first
        .write_all(&masked_frame(b"warm", [1, 2, 3, 4]))
        .await?;
    read_echo(&mut first, &mut buf, b"warm").await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = pid.and_then(vm_rss_kb);

    // Then `n - 1` more, at most 128 handshakes in flight (the listen
    // backlog), spread over 127.0.0.2..=127.0.0.17 as source addresses. A
    // handshake that has not completed in 60 s fails the run (a server at
    // its connection limit holds new connections unanswered).
    let more = n - 1;
    let t0 = Instant::now();
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(128));
    let mut tasks = Vec::with_capacity(more);
    for i in 0..more {
        let sem = sem.clone();
        let path = path.clone();
        let src = Ipv4Addr::new(127, 0, 0, 2 + (i % 16) as u8);
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await;
            connect(addr, src, &path).await.map_err(|e| e.to_string())
        }));
    }
    let mut held = Vec::with_capacity(more);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for t in tasks {
        match tokio::time::timeout_at(deadline, t).await {
            Ok(r) => held.push(r??),
            Err(_) => {
                return Err(format!(
                    "only {} of {n} connections completed the handshake within 60 s",
                    held.len() + 1
                )
                .into());
            }
        }
    }
    let connect_secs = t0.elapsed().as_secs_f64();
    // Let the server settle (tasks parked, buffers released) before reading RSS.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = pid.and_then(vm_rss_kb);
    let per = match (before, after) {
        (Some(a), Some(b)) => format!("{:.2}", (b as f64 - a as f64) / more as f64),
        _ => "n/a".into(),
    };
    println!(
        "idle={} connect_secs={connect_secs:.2} rss_before_kb={} rss_after_kb={} kb_per_conn={per}",
        held.len() + 1,
        before.map_or("n/a".into(), |v| v.to_string()),
        after.map_or("n/a".into(), |v| v.to_string()),
    );
    drop(held);
    drop(first);
    Ok(())
}
