//! 64 MiB bodies streamed through the blocking server and client, up, down
//! and both ways at once, with memory that stays far below the body size.
//! (Its own test binary, so the peak-memory check sees only this file.)

mod common;

use common::*;
use http::{Request, Response};
use std::io::{BufReader, Read, Write};
use wirestate_blocking::{Client, RequestBody, ResponseBody, ServerConfig};

const LEN: u64 = 64 * 1024 * 1024;

/// `/upload` checks and counts the request body; `/download?n` sends the
/// pattern; `/echo` streams the request body back.
fn handler(req: Request<wirestate_blocking::BlockingBody>) -> Response<ResponseBody> {
    match req.uri().path() {
        "/upload" => {
            let mut check = PatternCheck::default();
            let mut body = req.into_body();
            match std::io::copy(&mut body, &mut check) {
                Ok(n) => Response::new(ResponseBody::from(n.to_string())),
                Err(e) => Response::new(ResponseBody::from(format!("error: {e}"))),
            }
        }
        "/download" => Response::new(ResponseBody::from_reader_sized(
            Pattern { pos: 0, len: LEN },
            LEN,
        )),
        _ => Response::new(ResponseBody::from(req.into_body())),
    }
}

/// The process's peak resident memory, in bytes (Linux only).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[test]
fn sixty_four_mib_streamed_up_down_and_both_ways() {
    let server = TestServer::start(ServerConfig::default(), handler);
    let client = Client::default();

    // Up: the client streams a sized reader, the handler reads it lazily.
    let req = Request::post(server.url("/upload"))
        .body(RequestBody::from_reader_sized(
            Pattern { pos: 0, len: LEN },
            LEN,
        ))
        .unwrap();
    let res = client.request(req).unwrap();
    let text = res.into_body().collect(100).unwrap();
    assert_eq!(std::str::from_utf8(&text).unwrap(), LEN.to_string());

    // Up again, chunked (unknown length).
    let req = Request::post(server.url("/upload"))
        .body(RequestBody::from_reader(Pattern { pos: 0, len: LEN }))
        .unwrap();
    let res = client.request(req).unwrap();
    let text = res.into_body().collect(100).unwrap();
    assert_eq!(std::str::from_utf8(&text).unwrap(), LEN.to_string());

    // Down: the response body is read as it arrives.
    let mut res = client.get(&server.url("/download")).unwrap();
    assert_eq!(
        res.headers().get("content-length").unwrap(),
        &LEN.to_string()
    );
    let mut check = PatternCheck::default();
    std::io::copy(res.body_mut(), &mut check).unwrap();
    assert_eq!(check.pos, LEN);
    assert_eq!(
        server.handle.accepted_connections(),
        1,
        "all on one connection"
    );

    // Both ways at once: a raw client writes on one thread while it reads
    // the echo on another; the server streams the echo as the body arrives.
    let mut s = connect(server.addr);
    let mut writer = s.try_clone().unwrap();
    let up = std::thread::spawn(move || {
        writer
            .write_all(
                format!("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: {LEN}\r\n\r\n")
                    .as_bytes(),
            )
            .unwrap();
        std::io::copy(&mut Pattern { pos: 0, len: LEN }, &mut writer).unwrap()
    });
    let mut r = BufReader::new(s.try_clone().unwrap());
    let head = read_head(&mut r).unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(LEN.to_string().as_str())
    );
    let mut check = PatternCheck::default();
    std::io::copy(&mut (&mut r).take(LEN), &mut check).unwrap();
    assert_eq!(check.pos, LEN);
    assert_eq!(join_within(up, IO_LIMIT).unwrap(), LEN);
    s.write_all(b"GET /after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut r).unwrap().text(), "");

    // 64 MiB went through four times; buffering any of it whole would
    // have pushed the peak well past this.
    if let Some(peak) = peak_rss() {
        eprintln!("peak RSS: {} MiB", peak / (1024 * 1024));
        assert!(
            peak < 48 * 1024 * 1024,
            "peak RSS {} MiB: bodies were buffered",
            peak / (1024 * 1024)
        );
    }
}
