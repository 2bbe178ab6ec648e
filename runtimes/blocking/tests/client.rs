//! The blocking client: pooling, retries, timeouts and 100-continue,
//! against the blocking server and against scripted raw servers.

mod common;

use common::*;
use http::{Request, Response, StatusCode};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wirestate_blocking::{Client, ClientConfig, Error, RequestBody, ResponseBody, ServerConfig};

/// Reads one request (head and Content-Length body) off a raw connection;
/// `None` at end of stream.
fn read_request(r: &mut impl BufRead) -> Option<String> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let len = head
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(head + &String::from_utf8_lossy(&body))
}

/// A scripted server: the first connection answers one request and then
/// closes as soon as the next request arrives (a keep-alive close racing
/// with reuse); later connections answer normally.
fn racing_server() -> (SocketAddr, JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        let mut connections = 0;
        // First connection.
        let (s, _) = listener.accept().unwrap();
        connections += 1;
        s.set_read_timeout(Some(IO_LIMIT)).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        read_request(&mut r).unwrap();
        (&s).write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
            .unwrap();
        // The next request arrives, and the server closes instead.
        read_request(&mut r).unwrap();
        drop(r);
        drop(s);
        // Second connection: a normal answer, then end.
        listener.set_nonblocking(false).unwrap();
        let (s, _) = listener.accept().unwrap();
        connections += 1;
        s.set_read_timeout(Some(IO_LIMIT)).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        if read_request(&mut r).is_some() {
            (&s).write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecond",
            )
            .unwrap();
        }
        connections
    });
    (addr, t)
}

#[test]
fn stale_pooled_connection_is_retried_for_get() {
    let (addr, server) = racing_server();
    let client = Client::default();
    let res = client.get(&format!("http://{addr}/one")).unwrap();
    assert_eq!(&res.into_body().collect(100).unwrap()[..], b"first");
    assert_eq!(client.idle_connections(), 1, "pooled after the body ended");
    // Reuses the pooled connection, which the server closes: GET is
    // idempotent, so it is retried on a new connection.
    let res = client.get(&format!("http://{addr}/two")).unwrap();
    assert_eq!(&res.into_body().collect(100).unwrap()[..], b"second");
    assert_eq!(join_within(server, IO_LIMIT).unwrap(), 2);
}

#[test]
fn stale_pooled_connection_is_not_retried_for_post() {
    let (addr, server) = racing_server();
    let client = Client::default();
    let res = client.get(&format!("http://{addr}/one")).unwrap();
    assert_eq!(&res.into_body().collect(100).unwrap()[..], b"first");
    let req = Request::post(format!("http://{addr}/two"))
        .body(RequestBody::from("payload"))
        .unwrap();
    let err = client.request(req).unwrap_err();
    assert!(
        matches!(err, Error::Aborted { sent: true }),
        "a POST that reached the server is not retried: {err:?}"
    );
    // Unblock the scripted server's second accept.
    let _ = TcpStream::connect(addr);
    assert_eq!(join_within(server, IO_LIMIT).unwrap(), 2);
}

#[test]
fn idle_connection_closed_by_the_server_is_not_reused() {
    let mut config = ServerConfig::default();
    config.http1.keep_alive_timeout = Some(Duration::from_millis(100));
    let server = TestServer::start(config, |req| {
        Response::new(ResponseBody::from(req.uri().path().to_string()))
    });
    let client = Client::default();
    let res = client.get(&server.url("/a")).unwrap();
    assert_eq!(&res.into_body().collect(100).unwrap()[..], b"/a");
    assert_eq!(client.idle_connections(), 1);
    std::thread::sleep(Duration::from_millis(400)); // the server closed it
    let res = client.get(&server.url("/b")).unwrap();
    assert_eq!(&res.into_body().collect(100).unwrap()[..], b"/b");
    assert_eq!(server.handle.accepted_connections(), 2);
}

#[test]
fn request_timeout_fires() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts and never answers.
    let t = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut buf = Vec::new();
        let _ = (&s).read_to_end(&mut buf);
    });
    let mut config = ClientConfig::default();
    config.request_timeout = Some(Duration::from_millis(200));
    config.retry.retries = 0;
    let client = Client::new(config);
    let start = Instant::now();
    let err = client.get(&format!("http://{addr}/")).unwrap_err();
    assert!(matches!(err, Error::Timeout), "{err:?}");
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(150) && took < Duration::from_secs(2));
    drop(client);
    join_within(t, IO_LIMIT).unwrap();
}

#[test]
fn connect_failures_are_retried_then_reported() {
    // A port with nothing listening.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut config = ClientConfig::default();
    config.retry.retries = 2;
    config.retry.backoff = Duration::from_millis(10);
    let client = Client::new(config);
    let req = Request::post(format!("http://{addr}/"))
        .body(RequestBody::from("x"))
        .unwrap();
    let err = client.request(req).unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
}

#[test]
fn early_drop_closes_and_full_read_pools() {
    let server = TestServer::start(ServerConfig::default(), |req| {
        let n: u64 = req.uri().query().unwrap_or("0").parse().unwrap();
        Response::new(ResponseBody::from_reader(Pattern { pos: 0, len: n }))
    });
    let client = Client::default();
    // Dropped after the first chunk: the connection is not reused.
    let mut res = client.get(&server.url("/?10000000")).unwrap();
    let mut buf = [0u8; 10];
    res.body_mut().read_exact(&mut buf).unwrap();
    drop(res);
    assert_eq!(client.idle_connections(), 0);
    // Read to the end: pooled.
    let mut res = client.get(&server.url("/?100000")).unwrap();
    let mut check = PatternCheck::default();
    std::io::copy(res.body_mut(), &mut check).unwrap();
    assert_eq!(check.pos, 100_000);
    assert!(res.body().is_end());
    assert_eq!(client.idle_connections(), 1);
    assert_eq!(server.handle.accepted_connections(), 2);
}

#[test]
fn expect_continue_from_the_client() {
    let server = TestServer::start(ServerConfig::default(), |req| {
        Response::new(ResponseBody::from(req.into_body()))
    });
    let client = Client::default();
    let data = vec![7u8; 600_000]; // more than the send buffer holds
    let req = Request::post(server.url("/"))
        .header("expect", "100-continue")
        .body(RequestBody::from(data.clone()))
        .unwrap();
    let res = client.request(req).unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.into_body().collect(1 << 20).unwrap().len(), data.len());

    // A server that refuses before 100: the body is never sent.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(IO_LIMIT)).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut head = String::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        (&s).write_all(b"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        // Whatever follows the head (nothing, if the body was held back).
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut rest = Vec::new();
        let _ = r.read_to_end(&mut rest);
        rest.len()
    });
    let req = Request::post(format!("http://{addr}/"))
        .header("expect", "100-continue")
        .body(RequestBody::from(vec![1u8; 600_000]))
        .unwrap();
    let res = client.request(req).unwrap();
    assert_eq!(res.status(), StatusCode::EXPECTATION_FAILED);
    drop(res);
    drop(client);
    assert_eq!(join_within(t, IO_LIMIT).unwrap(), 0, "no body bytes sent");
}

#[test]
fn invalid_urls_are_refused() {
    let client = Client::default();
    assert!(matches!(
        client.get("ftp://example.com/"),
        Err(Error::InvalidRequest(_))
    ));
    // https:// is refused before any connect without the `tls` feature
    // (with it, as under `cargo test --workspace`, it would be dialed).
    #[cfg(not(feature = "tls"))]
    assert!(matches!(
        client.get("https://example.com/"),
        Err(Error::InvalidRequest(_))
    ));
    assert!(matches!(
        client.get("/no-host"),
        Err(Error::InvalidRequest(_))
    ));
}

/// A server that answers 413 after reading only the request head (and a
/// little of the body), then closes the connection with the rest of the
/// body unread, which resets it: what Go's net/http does once more than
/// 256 KiB of a body is left unread. Counts the connections it took.
fn early_answer_server() -> (SocketAddr, JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        listener.set_nonblocking(true).unwrap();
        let mut conns = 0;
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            let Ok((mut s, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            conns += 1;
            s.set_nonblocking(false).unwrap();
            let mut buf = [0u8; 16 << 10];
            let _ = s.read(&mut buf);
            let _ = s.write_all(
                b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 9\r\nconnection: close\r\n\r\ntoo large",
            );
            let _ = s.shutdown(std::net::Shutdown::Write);
            std::thread::sleep(Duration::from_millis(200));
            // Dropped with the body unread: RST.
        }
        conns
    });
    (addr, handle)
}

#[test]
fn an_answer_before_the_body_is_read_is_not_lost() {
    // The 8 MiB upload cannot fit the socket buffers, so our write fails
    // once the server resets the connection; its 413 arrived before that.
    // The client used to report 'connection closed before the response'
    // (and, the request counted as unsent, retry the POST twice).
    let (addr, server) = early_answer_server();
    let client = Client::new(ClientConfig::default());
    let req = Request::post(format!("http://{addr}/upload"))
        .body(RequestBody::full(vec![7u8; 8 << 20]))
        .unwrap();
    let res = client
        .request(req)
        .expect("the server's 413, not a write error");
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(&res.into_body().collect(64).unwrap()[..], b"too large");
    assert_eq!(server.join().unwrap(), 1, "the POST was sent again");
}
