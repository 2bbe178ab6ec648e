//! Heap allocations per request on a warm keep-alive `ServerConnection`.
//!
//! A counting global allocator (a thin wrapper around `System`, counting per
//! thread so parallel tests do not disturb each other) measures one full
//! round per request kind: input, events drained and dropped, a small
//! response sent, transmits drained and dropped. The budget is what the
//! request's own `http::HeaderMap` costs to build (measured here the same
//! way, from names and values that already exist): the machine may allocate
//! nothing else per request once the connection is warm.

// Implementing `GlobalAlloc` needs `unsafe impl`; this is test-only code
// that forwards every call to `System` unchanged.
#![allow(unsafe_code)]

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Instant;
use wirestate_http1::{ServerConfig, ServerConnection, ServerEvent};
use wirestate_machine::{Machine, Transmit};

struct Counting;

thread_local! {
    /// Allocations (fresh blocks and reallocations) made by this thread.
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn bump() {
    // `try_with` so an allocation during thread teardown cannot panic.
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments, so
// `System`'s guarantees carry over; the counter touches no heap memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns its result with the number of allocations it made
/// on this thread.
fn count<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = ALLOCS.with(Cell::get);
    let r = f();
    let after = ALLOCS.with(Cell::get);
    (r, after - before)
}

#[path = "common/requests.rs"]
mod requests;
use requests::{BROWSER_GET, PIPELINED, POST_HEAD, SMALL_GET};

/// A request kind: the bytes of one read and how many requests they hold.
struct Case {
    name: &'static str,
    input: Vec<u8>,
    requests: u64,
}

fn cases() -> Vec<Case> {
    let mut post = POST_HEAD.to_vec();
    post.resize(POST_HEAD.len() + 1024, b'x');
    let mut pipelined = Vec::new();
    for i in 0..PIPELINED {
        pipelined.extend_from_slice(
            format!(
                "GET /static/img/icon-{i:02}.png HTTP/1.1\r\n\
                 Host: www.example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n"
            )
            .as_bytes(),
        );
    }
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
            input: post,
            requests: 1,
        },
        Case {
            name: "pipelined_16",
            input: pipelined,
            requests: PIPELINED as u64,
        },
    ]
}

/// Allocations of one round, by step.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Steps {
    input: u64,
    events: u64,
    respond: u64,
    transmit: u64,
}

impl Steps {
    fn total(&self) -> u64 {
        self.input + self.events + self.respond + self.transmit
    }
}

/// One round on `conn`: the requests in `input` are read, their events
/// drained and dropped, each answered with a small full response, and the
/// output drained and dropped.
fn round(conn: &mut ServerConnection, now: Instant, input: &[u8], requests: u64) -> Steps {
    let ((), input_allocs) = count(|| conn.handle_input(now, input).expect("valid input"));
    let (ended, events) = count(|| {
        let mut ended = 0;
        while let Some(ev) = conn.poll_event() {
            match ev {
                ServerEvent::Request(_) | ServerEvent::Data { .. } => {}
                ServerEvent::End { .. } => ended += 1,
                other => panic!("unexpected event {other:?}"),
            }
        }
        ended
    });
    assert_eq!(ended, requests);
    let ((), respond) = count(|| {
        for _ in 0..ended {
            let head = http::Response::new(()).into_parts().0;
            conn.send_full_response(head, Bytes::from_static(b"hello, world\n"))
                .expect("response");
        }
    });
    let (out, transmit) = count(|| {
        let mut out = 0;
        while let Some(t) = conn.poll_transmit() {
            match t {
                Transmit::Bytes(b) => out += b.len(),
                Transmit::Shutdown => panic!("the connection closed"),
            }
        }
        out
    });
    assert_eq!(out as u64, 52 * requests);
    Steps {
        input: input_allocs,
        events,
        respond,
        transmit,
    }
}

/// What building the `HeaderMap` of each request in `input` costs, from
/// names and values that already exist (as the machine's name cache and
/// zero-copy values make them), summed over the requests.
fn header_map_allocs(input: &[u8], requests: u64) -> u64 {
    let mut fields: Vec<Vec<(HeaderName, HeaderValue)>> = Vec::new();
    let mut at = 0;
    for _ in 0..requests {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        let httparse::Status::Complete(n) = req.parse(&input[at..]).expect("valid") else {
            panic!("partial request");
        };
        at += n;
        fields.push(
            req.headers
                .iter()
                .map(|h| {
                    (
                        HeaderName::from_bytes(h.name.as_bytes()).expect("name"),
                        HeaderValue::from_bytes(h.value).expect("value"),
                    )
                })
                .collect(),
        );
    }
    let build = |fields: &[Vec<(HeaderName, HeaderValue)>]| {
        for f in fields {
            let mut map = HeaderMap::with_capacity(f.len());
            for (name, value) in f {
                map.append(name.clone(), value.clone());
            }
            drop(map);
        }
    };
    // Once to settle any first-use promotion of shared buffers, then counted.
    build(&fields);
    count(|| build(&fields)).1
}

#[test]
fn response_head_from_http_allocates_nothing() {
    let (head, n) = count(|| http::Response::new(()).into_parts().0);
    assert_eq!(n, 0, "an empty response head should not allocate");
    drop(head);
}

#[test]
fn warm_connection_allocates_only_the_header_map() {
    const WARMUP: usize = 4;
    const ROUNDS: u64 = 64;
    let now = Instant::now();
    let mut report = Vec::new();
    for case in cases() {
        let (mut conn, fresh) = count(|| ServerConnection::new(ServerConfig::default(), now));
        let first = round(&mut conn, now, &case.input, case.requests);
        println!(
            "{}: new connection {fresh} allocs, first round {:?} = {}",
            case.name,
            first,
            first.total()
        );
        for _ in 1..WARMUP {
            round(&mut conn, now, &case.input, case.requests);
        }
        let mut sum = Steps::default();
        for _ in 0..ROUNDS {
            let s = round(&mut conn, now, &case.input, case.requests);
            sum.input += s.input;
            sum.events += s.events;
            sum.respond += s.respond;
            sum.transmit += s.transmit;
        }
        let per_request = |n: u64| n as f64 / (ROUNDS * case.requests) as f64;
        let budget = header_map_allocs(&case.input, case.requests) as f64 / case.requests as f64;
        let ours = per_request(sum.total());
        report.push(format!(
            "{:<13} {:>5.2} allocs/request (HeaderMap alone: {:.2}); \
             input {:.2}, events {:.2}, respond {:.2}, transmit {:.2}",
            case.name,
            ours,
            budget,
            per_request(sum.input),
            per_request(sum.events),
            per_request(sum.respond),
            per_request(sum.transmit),
        ));
        assert!(
            ours <= budget,
            "{}: {ours} allocations per request, the HeaderMap alone needs {budget}\n{}",
            case.name,
            report.join("\n"),
        );
    }
    println!("{}", report.join("\n"));
}
