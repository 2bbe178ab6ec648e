//! The HTTP/1.1 server machine against bare `httparse`, on the same bytes.
//!
//! Each group feeds one kind of realistic request. `httparse` only parses
//! the head (the baseline every HTTP/1.1 server pays); `wirestate` runs the
//! whole machine on a reused keep-alive connection: input, the `Request` /
//! `Data` / `End` events, a small response encoded per request, and the
//! transmits drained (and dropped). Throughput is in requests, so criterion's
//! `elem/s` compare directly; see BENCHMARKS.md for the figures.
//!
//! ```text
//! cargo bench -p wirestate-http1 --bench server
//! ```

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Instant;
use wirestate_http1::{ServerConfig, ServerConnection, ServerEvent};
use wirestate_machine::{Machine, Transmit};

#[path = "../tests/common/requests.rs"]
mod requests;
use requests::{BROWSER_GET, PIPELINED, POST_BODY_LEN, POST_HEAD, SMALL_GET};

/// The response body every request gets.
const RESPONSE_BODY: &[u8] = b"hello, world\n";

/// One benchmark case: the bytes of one read and how many requests they hold.
struct Case {
    name: &'static str,
    input: Vec<u8>,
    requests: usize,
}

fn post_1k() -> Vec<u8> {
    let mut v = POST_HEAD.to_vec();
    let mut body = br#"{"events":["#.to_vec();
    let mut i = 0;
    while body.len() < POST_BODY_LEN - 64 {
        let ev = format!(r#"{{"id":{i},"kind":"click","at":1712345678{i:03}}},"#);
        body.extend_from_slice(ev.as_bytes());
        i += 1;
    }
    body.pop(); // the last comma
    body.extend_from_slice(b"]}");
    body.resize(POST_BODY_LEN, b' ');
    v.extend_from_slice(&body);
    v
}

fn pipelined() -> Vec<u8> {
    let mut v = Vec::new();
    for i in 0..PIPELINED {
        v.extend_from_slice(
            format!(
                "GET /static/img/icon-{i:02}.png HTTP/1.1\r\n\
                 Host: www.example.com\r\n\
                 User-Agent: curl/8.5.0\r\n\
                 Accept: */*\r\n\r\n"
            )
            .as_bytes(),
        );
    }
    v
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "small_get",
            input: SMALL_GET.to_vec(),
            requests: 1,
        },
        Case {
            name: "browser_get",
            input: BROWSER_GET.to_vec(),
            requests: 1,
        },
        Case {
            name: "post_1k",
            input: post_1k(),
            requests: 1,
        },
        Case {
            name: "pipelined_16",
            input: pipelined(),
            requests: PIPELINED,
        },
    ]
}

/// Parses every request head in `input` with httparse alone; body bytes are
/// skipped, not looked at. Returns the number of heads, so nothing is
/// optimised away.
fn httparse_all(input: &[u8], requests: usize) -> usize {
    let mut at = 0;
    let mut fields = 0;
    for _ in 0..requests {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&input[at..]) {
            Ok(httparse::Status::Complete(n)) => {
                fields += req.headers.len();
                at += n;
            }
            other => panic!("httparse: {other:?}"),
        }
        black_box(&req);
    }
    fields
}

/// Drives one read through the machine: the requests it holds are read,
/// their events drained, each answered with a small full response, and the
/// output drained. Returns the number of response bytes.
fn wirestate_round(conn: &mut ServerConnection, now: Instant, input: &[u8]) -> usize {
    conn.handle_input(now, input).expect("valid input");
    let mut ended = 0;
    while let Some(ev) = conn.poll_event() {
        match ev {
            ServerEvent::Request(req) => {
                black_box(&req);
            }
            ServerEvent::Data { data, .. } => {
                black_box(&data);
            }
            ServerEvent::End { .. } => ended += 1,
            other => panic!("unexpected event {other:?}"),
        }
    }
    for _ in 0..ended {
        let head = http::Response::new(()).into_parts().0;
        conn.send_full_response(head, Bytes::from_static(RESPONSE_BODY))
            .expect("response");
    }
    let mut out = 0;
    while let Some(t) = conn.poll_transmit() {
        match t {
            Transmit::Bytes(b) => out += b.len(),
            Transmit::Shutdown => panic!("the connection closed"),
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let now = Instant::now();
    for case in cases() {
        // Check once that both sides see what the case claims.
        assert!(httparse_all(&case.input, case.requests) > 0);
        let mut conn = ServerConnection::new(ServerConfig::default(), now);
        let one = b"HTTP/1.1 200 OK\r\ncontent-length: 13\r\n\r\nhello, world\n".len();
        assert_eq!(
            wirestate_round(&mut conn, now, &case.input),
            one * case.requests
        );

        let mut group = c.benchmark_group(case.name);
        group.throughput(Throughput::Elements(case.requests as u64));
        group.bench_function("httparse", |b| {
            b.iter(|| httparse_all(black_box(&case.input), case.requests))
        });
        group.bench_function("wirestate", |b| {
            b.iter(|| wirestate_round(&mut conn, now, black_box(&case.input)))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
