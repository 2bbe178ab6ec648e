//! Frame parsing and unmasking throughput against tungstenite 0.28 on the
//! same bytes: a buffer of about 1 MiB of masked binary frames (what a
//! server receives) with 16 B, 1 KiB or 64 KiB payloads. Throughput is in
//! bytes of that buffer.
//!
//! Three pairs per payload size:
//!
//! * `header/*`: the header parser alone, payload skipped: our
//!   `FrameHeader::parse` against `tungstenite::protocol::frame::FrameHeader::parse`
//!   over a `Cursor`.
//! * `codec/wirestate`: `FrameHeader::parse` + `apply_mask` in place over
//!   every payload: the codec layer the issue names. tungstenite 0.28 has no
//!   public unmask at this layer (its `mask` module and `Frame::apply_mask`
//!   are crate-private; `Frame::format` masks while copying out), so its
//!   counterpart is `header/tungstenite` (a lower bound) and the machine row.
//! * `machine/*`: the whole receive path, frames to messages: our
//!   `Connection` (server role; `handle_input` then every event drained)
//!   against tungstenite's `WebSocketContext::read` (server role, the public
//!   API that parses and unmasks), both fed in the same 64 KiB reads.
//!
//! Plus `unmask_65536/{memcpy,apply_mask}`, the issue's ≥ 0.8× memcpy goal
//! (also in `benches/mask.rs`).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::io::{self, Cursor, Read, Write};
use std::time::Instant;
use wirestate_machine::Machine;
use wirestate_ws::{Config, Connection, Event, FrameHeader, OpCode, apply_mask};

const TOTAL: usize = 1 << 20;
const READ: usize = 64 << 10;

/// About 1 MiB of masked binary frames with `size`-byte payloads.
fn frames(size: usize) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(TOTAL + 64);
    let mut n = 0;
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    while out.len() < TOTAL || n < 16 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let key = (seed as u32).to_le_bytes();
        let mut h = FrameHeader::new(OpCode::Binary, size as u64);
        h.mask = Some(key);
        h.encode(&mut out);
        let start = out.len();
        out.extend((0..size).map(|i| (i * 31 + n) as u8));
        apply_mask(&mut out[start..], key, 0);
        n += 1;
    }
    (out, n)
}

/// tungstenite reads from a stream: this one hands out `data` in `READ`
/// pieces, then says WouldBlock (so the context stays usable); writes (there
/// are none: no pings, no close) are dropped.
struct Src<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Read for Src<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = &self.data[self.pos..];
        if rest.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = rest.len().min(buf.len()).min(READ);
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for Src<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn bench(c: &mut Criterion) {
    for size in [16usize, 1024, 65536] {
        let (buf, count) = frames(size);
        let mut g = c.benchmark_group(format!("frames_{size}"));
        g.throughput(Throughput::Bytes(buf.len() as u64));

        g.bench_function("header/wirestate", |b| {
            b.iter(|| {
                let data = black_box(&buf[..]);
                let mut at = 0;
                let mut n = 0;
                while let Ok(Some((h, used))) = FrameHeader::parse(&data[at..], u64::MAX) {
                    at += used + h.len as usize;
                    n += 1;
                }
                assert_eq!(n, count);
            })
        });
        g.bench_function("header/tungstenite", |b| {
            use tungstenite::protocol::frame::FrameHeader as TFrameHeader;
            b.iter(|| {
                let mut cur = Cursor::new(black_box(&buf[..]));
                let mut n = 0;
                while let Ok(Some((_h, len))) = TFrameHeader::parse(&mut cur) {
                    cur.set_position(cur.position() + len);
                    n += 1;
                }
                assert_eq!(n, count);
            })
        });

        let mut work = buf.clone();
        g.bench_function("codec/wirestate", |b| {
            // Unmasking in place toggles the payloads between masked and
            // clear on each pass; the work is the same either way.
            b.iter(|| {
                let data = black_box(&mut work[..]);
                let mut at = 0;
                let mut n = 0;
                while let Ok(Some((h, used))) = FrameHeader::parse(&data[at..], u64::MAX) {
                    at += used;
                    let end = at + h.len as usize;
                    if let Some(key) = h.mask {
                        apply_mask(&mut data[at..end], key, 0);
                    }
                    at = end;
                    n += 1;
                }
                assert_eq!(n, count);
            })
        });

        let mut conn = Connection::server(Config::default());
        let now = Instant::now();
        conn.start(now);
        g.bench_function("machine/wirestate", |b| {
            b.iter(|| {
                let mut n = 0;
                for chunk in black_box(&buf[..]).chunks(READ) {
                    conn.handle_input(now, chunk).unwrap();
                    while let Some(ev) = conn.poll_event() {
                        match ev {
                            Event::Message(m) => {
                                black_box(m);
                                n += 1;
                            }
                            other => panic!("unexpected {other:?}"),
                        }
                    }
                }
                assert_eq!(n, count);
            })
        });

        let mut ctx =
            tungstenite::protocol::WebSocketContext::new(tungstenite::protocol::Role::Server, None);
        g.bench_function("machine/tungstenite", |b| {
            b.iter(|| {
                let mut src = Src {
                    data: black_box(&buf[..]),
                    pos: 0,
                };
                let mut n = 0;
                loop {
                    match ctx.read(&mut src) {
                        Ok(m) => {
                            black_box(m);
                            n += 1;
                        }
                        Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                            break;
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                assert_eq!(n, count);
            })
        });
        g.finish();
    }

    let mut g = c.benchmark_group("unmask_65536");
    g.throughput(Throughput::Bytes(65536));
    let src = vec![0xA5u8; 65536];
    let mut dst = vec![0u8; 65536];
    g.bench_function("memcpy", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(&dst);
        })
    });
    let mut buf = src.clone();
    g.bench_function("apply_mask", |b| {
        b.iter(|| {
            apply_mask(black_box(&mut buf), [1, 2, 3, 4], 0);
            black_box(&buf);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
