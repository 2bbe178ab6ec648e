//! One scenario suite, run against the server (and client) on every
//! runtime: keep-alive, pipelining, chunked bodies both ways, 100-continue,
//! 64 MiB streamed with bounded memory, slow peers, timers, graceful
//! shutdown, connection limits, and the pooled client.

mod support;

use std::io::{Read, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use support::*;
use wirestate_rt::Body;
use wirestate_rt::http1::{ClientConfig, ServerConfig};

/// Large-body tests measure peak memory; run them one at a time.
static BIG: Mutex<()> = Mutex::new(());

fn keep_alive<T: TestServer>() {
    let srv = T::start(ServerConfig::default());
    let mut r = Reader::new(connect(srv.addr));
    for _ in 0..3 {
        send(&mut r.stream, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        let res = r.response("GET").unwrap();
        assert_eq!(
            (res.status, &res.body[..]),
            (200, &b"hello"[..]),
            "{}",
            T::NAME
        );
    }
    send(&mut r.stream, "HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
    let res = r.response("HEAD").unwrap();
    assert_eq!(res.header("content-length"), Some("5"));
    assert!(srv.stop());
}

fn pipelining<T: TestServer>() {
    let srv = T::start(ServerConfig::default());
    let mut r = Reader::new(connect(srv.addr));
    let reqs: String = (0..16)
        .map(|i| format!("GET /stream?n={i} HTTP/1.1\r\nHost: t\r\n\r\n"))
        .collect();
    send(&mut r.stream, reqs);
    for i in 0..16 {
        let res = r.response("GET").unwrap();
        let expected: String = (0..i).map(|k| format!("line {k}\n")).collect();
        assert_eq!(
            String::from_utf8(res.body).unwrap(),
            expected,
            "{} response {i}",
            T::NAME
        );
    }
    assert!(srv.stop());
}

fn chunked_both_ways<T: TestServer>() {
    let srv = T::start(ServerConfig::default());
    let mut r = Reader::new(connect(srv.addr));
    send(
        &mut r.stream,
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\n\r\n",
    );
    let res = r.response("POST").unwrap();
    assert_eq!(res.header("transfer-encoding"), Some("chunked"));
    assert_eq!(&res.body[..], b"hello world");
    send(
        &mut r.stream,
        "GET /stream?n=5000 HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    let res = r.response("GET").unwrap();
    assert_eq!(res.body.iter().filter(|&&b| b == b'\n').count(), 5000);
    assert!(res.body.ends_with(b"line 4999\n"));
    assert!(srv.stop());
}

fn expect_continue<T: TestServer>() {
    let srv = T::start(ServerConfig::default());
    let mut s = connect(srv.addr);
    send(
        &mut s,
        "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    );
    let mut got = [0u8; 25];
    s.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"HTTP/1.1 100 Continue\r\n\r\n", "{}", T::NAME);
    send(&mut s, "12345");
    let res = Reader::new(s).response("POST").unwrap();
    assert_eq!(&res.body[..], b"12345");
    assert!(srv.stop());
}

fn large_body_bounded_memory<T: TestServer>() {
    let _one = BIG.lock().unwrap_or_else(|e| e.into_inner());
    let srv = T::start(ServerConfig::default());
    const SIZE: usize = 64 << 20;
    let before = peak_rss_kib();
    let s = connect(srv.addr);
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        w.write_all(
            format!("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {SIZE}\r\n\r\n").as_bytes(),
        )
        .unwrap();
        let chunk = payload(64 * 1024);
        for _ in 0..SIZE / chunk.len() {
            w.write_all(&chunk).unwrap();
        }
    });
    // Read the echo as it streams: head, then exactly SIZE bytes.
    let mut s = s;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(String::from_utf8_lossy(&head).contains(&format!("content-length: {SIZE}")));
    let mut left = SIZE;
    let mut buf = vec![0u8; 256 * 1024];
    let mut sum = 0u64;
    while left > 0 {
        let n = s.read(&mut buf[..left.min(256 * 1024)]).unwrap();
        assert!(n > 0, "early EOF with {left} left");
        sum += buf[..n].iter().map(|&b| b as u64).sum::<u64>();
        left -= n;
    }
    writer.join().unwrap();
    let expected: u64 =
        payload(64 * 1024).iter().map(|&b| b as u64).sum::<u64>() * (SIZE / (64 * 1024)) as u64;
    assert_eq!(sum, expected);
    let grown_mib = peak_rss_kib().saturating_sub(before) / 1024;
    assert!(
        grown_mib < 32,
        "{}: peak memory grew {grown_mib} MiB for a 64 MiB echo",
        T::NAME
    );
    assert!(srv.stop());
}

fn slow_peers<T: TestServer>() {
    let srv = T::start(ServerConfig::default());
    let mut s = connect(srv.addr);
    for b in b"GET /stream?n=20000 HTTP/1.1\r\nHost: t\r\n\r\n" {
        s.write_all(&[*b]).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    // Read slowly, a little at a time.
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let mut reads = 0;
    while !got.ends_with(b"0\r\n\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
        reads += 1;
        if reads % 32 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    assert!(String::from_utf8_lossy(&got).contains("line 19999\n"));
    assert!(srv.stop());
}

fn timers<T: TestServer>() {
    let mut cfg = ServerConfig::default();
    cfg.http1.header_read_timeout = Some(Duration::from_millis(300));
    cfg.http1.keep_alive_timeout = Some(Duration::from_millis(300));
    let srv = T::start(cfg);
    // A head that never completes gets 408, then EOF.
    let mut r = Reader::new(connect(srv.addr));
    send(&mut r.stream, "GET / HTTP/1.1\r\nHo");
    let started = Instant::now();
    let res = r.response("GET").unwrap();
    assert_eq!(res.status, 408, "{}", T::NAME);
    assert!(r.sees_eof());
    assert!(started.elapsed() < Duration::from_secs(5));
    // An idle keep-alive connection is closed quietly.
    let mut r = Reader::new(connect(srv.addr));
    send(&mut r.stream, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.response("GET").unwrap().status, 200);
    let idle = Instant::now();
    assert!(r.sees_eof(), "{}: idle connection not closed", T::NAME);
    assert!(idle.elapsed() >= Duration::from_millis(250));
    // Before the protocol is known (HTTP/1.1 or h2c, told apart by the
    // first bytes) the header timer runs too: a connection that sends
    // nothing, or only a prefix of the HTTP/2 preface, is closed. On tokio
    // and smol both stayed open for good (a slowloris hole: each holds a
    // task, a socket and a slot under the connection limit).
    for first in ["", "P", "PRI * HTTP/2.0\r\n"] {
        let mut s = connect(srv.addr);
        send(&mut s, first);
        let started = Instant::now();
        let mut sink = Vec::new();
        let closed = s.read_to_end(&mut sink).is_ok();
        assert!(
            closed && started.elapsed() < Duration::from_secs(5),
            "{}: {first:?} then silence: not closed after {:?}",
            T::NAME,
            started.elapsed()
        );
    }
    assert!(srv.stop());
}

fn graceful_shutdown<T: TestServer>() {
    let srv = T::start(ServerConfig::default());
    let mut busy = Reader::new(connect(srv.addr));
    let mut idle = Reader::new(connect(srv.addr));
    // Connected, nothing sent yet: idle too (tokio and smol kept it, and
    // with it the server, until the shutdown timeout).
    let mut silent = Reader::new(connect(srv.addr));
    send(&mut busy.stream, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
    send(&mut idle.stream, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(idle.response("GET").unwrap().status, 200);
    std::thread::sleep(Duration::from_millis(50));
    srv.trigger();
    // The in-flight response still completes, announcing the close.
    let res = busy.response("GET").unwrap();
    assert_eq!(&res.body[..], b"slow", "{}", T::NAME);
    assert_eq!(res.header("connection"), Some("close"));
    assert!(busy.sees_eof());
    assert!(
        idle.sees_eof(),
        "{}: idle connection not closed on shutdown",
        T::NAME
    );
    assert!(
        silent.sees_eof(),
        "{}: silent new connection not closed on shutdown",
        T::NAME
    );
    assert!(
        srv.wait_done(Duration::from_secs(5)),
        "{}: serve did not return",
        T::NAME
    );
    assert!(
        std::net::TcpStream::connect(srv.addr).is_err(),
        "still accepting after shutdown"
    );
}

fn connection_limit<T: TestServer>() {
    let mut cfg = ServerConfig::default();
    cfg.max_connections = 2;
    let srv = T::start(cfg);
    // Two connections busy with a request (its body half sent): the
    // blocking server closes connections idle between requests to make
    // room at the limit (tests/blocking_capacity.rs), never busy ones.
    let mut a = Reader::new(connect(srv.addr));
    let mut b = Reader::new(connect(srv.addr));
    for r in [&mut a, &mut b] {
        send(
            &mut r.stream,
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello",
        );
    }
    // Both are accepted and in their handlers before the third comes.
    std::thread::sleep(Duration::from_millis(200));
    let mut c = Reader::new(connect(srv.addr));
    c.stream
        .set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    send(&mut c.stream, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(
        c.response("GET").is_err(),
        "{}: third connection served over the limit",
        T::NAME
    );
    drop(a);
    c.stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(c.response("GET").unwrap().status, 200, "{}", T::NAME);
    drop((b, c));
    assert!(srv.stop());
}

fn pooled_client<T: TestRuntime>() {
    let srv = T::start(ServerConfig::default());
    let base = format!("http://{}", srv.addr);
    T::block_on(async {
        let client = T::client(ClientConfig::default());
        for _ in 0..5 {
            let res = client.get(&format!("{base}/")).await.unwrap();
            assert_eq!(&res.into_body().collect(1024).await.unwrap()[..], b"hello");
        }
        let big = payload(1 << 20);
        let req = http::Request::post(format!("{base}/echo"))
            .body(Body::from(big.clone()))
            .unwrap();
        let res = client.request(req).await.unwrap();
        assert_eq!(res.into_body().collect(2 << 20).await.unwrap(), big);
        let res = client.get(&format!("{base}/stream?n=3")).await.unwrap();
        assert_eq!(
            &res.into_body().collect(1024).await.unwrap()[..],
            b"line 0\nline 1\nline 2\n"
        );
        let res = client.get(&format!("{base}/missing")).await.unwrap();
        assert_eq!(res.status(), 404);
    });
    assert!(srv.stop());
}

/// A raw server that answers one request per connection and then closes
/// without saying so: the client's pooled connection goes stale, and the
/// next request must still succeed (fresh connection or retry).
fn client_survives_stale_connections<T: TestRuntime>() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    let server = std::thread::spawn(move || {
        for _ in 0..3 {
            let (s, _) = l.accept().unwrap();
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut s = s;
            let mut buf = [0u8; 4096];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            if !got.is_empty() {
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .unwrap();
            }
        }
    });
    T::block_on(async {
        let client = T::client(ClientConfig::default());
        for _ in 0..3 {
            let res = client.get(&format!("http://{addr}/")).await.unwrap();
            assert_eq!(&res.into_body().collect(16).await.unwrap()[..], b"ok");
        }
    });
    server.join().unwrap();
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 3);
}

macro_rules! servers {
    ($name:ident, $rt:ty) => {
        mod $name {
            #[test]
            fn keep_alive() {
                super::keep_alive::<$rt>()
            }
            #[test]
            fn pipelining() {
                super::pipelining::<$rt>()
            }
            #[test]
            fn chunked_both_ways() {
                super::chunked_both_ways::<$rt>()
            }
            #[test]
            fn expect_continue() {
                super::expect_continue::<$rt>()
            }
            #[test]
            fn large_body_bounded_memory() {
                super::large_body_bounded_memory::<$rt>()
            }
            #[test]
            fn slow_peers() {
                super::slow_peers::<$rt>()
            }
            #[test]
            fn timers() {
                super::timers::<$rt>()
            }
            #[test]
            fn graceful_shutdown() {
                super::graceful_shutdown::<$rt>()
            }
            #[test]
            fn connection_limit() {
                super::connection_limit::<$rt>()
            }
        }
    };
}

macro_rules! clients {
    ($name:ident, $rt:ty) => {
        mod $name {
            #[test]
            fn pooled_client() {
                super::pooled_client::<$rt>()
            }
            #[test]
            fn client_survives_stale_connections() {
                super::client_survives_stale_connections::<$rt>()
            }
        }
    };
}

servers!(tokio_server, super::Tokio);
servers!(smol_server, super::Smol);
servers!(blocking_server, super::Blocking);
clients!(tokio_client, super::Tokio);
clients!(smol_client, super::Smol);
