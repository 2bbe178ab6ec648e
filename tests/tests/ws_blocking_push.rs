//! A blocking WebSocket whose application only sends (a ticker, a feed)
//! still answers the peer's pings: each send first takes, without waiting,
//! what the peer sent meanwhile when no thread is in `recv`.
//!
//! Before, pings were answered only by a thread blocked in `recv`, so a
//! push-only handler never answered one: Python `websockets` (ping every
//! 20 s by default) dropped such a connection with 1011 "keepalive ping
//! timeout" — with `ping_interval=0.3` it got 7 of 20 ticks, then 1006.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use wirestate_blocking::{BlockingBody, ResponseBody, Server, ws};

/// A masked client frame (FIN set), payload under 126 bytes.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x11, 0x22, 0x33, 0x44];
    let mut f = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

#[test]
fn a_send_only_handler_answers_pings() {
    let server = Server::bind("127.0.0.1:0", Default::default()).unwrap();
    let addr = server.local_addr().unwrap();
    let handle = server.handle();
    std::thread::spawn(move || {
        server.serve(
            |req: http::Request<BlockingBody>| -> http::Response<ResponseBody> {
                ws::upgrade(&req, &ws::Config::default(), |socket| {
                    for i in 0..40 {
                        if socket.send(format!("tick {i}")).is_err() {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                })
            },
        )
    });

    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(
        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut head_done = false;
    let mut pongs: Vec<Vec<u8>> = Vec::new();
    let mut ticks = 0;
    let mut pinged = 0u8;
    let started = Instant::now();
    let mut next_ping = started;
    while started.elapsed() < Duration::from_millis(1500) {
        if head_done && pinged < 3 && Instant::now() >= next_ping {
            s.write_all(&client_frame(0x9, &[b'p', pinged])).unwrap();
            pinged += 1;
            next_ping = Instant::now() + Duration::from_millis(200);
        }
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("read: {e}"),
        }
        if !head_done {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                assert!(buf.starts_with(b"HTTP/1.1 101"));
                buf.drain(..end + 4);
                head_done = true;
            }
            continue;
        }
        // Server frames: unmasked, short.
        while buf.len() >= 2 && buf.len() >= 2 + usize::from(buf[1] & 0x7f) {
            let len = usize::from(buf[1] & 0x7f);
            let payload = buf[2..2 + len].to_vec();
            match buf[0] & 0x0f {
                0x1 => ticks += 1,
                0xA => pongs.push(payload),
                op => panic!("unexpected opcode {op:#x}"),
            }
            buf.drain(..2 + len);
        }
    }
    assert!(ticks > 5, "the ticker ran: {ticks} ticks");
    assert_eq!(
        pongs,
        vec![b"p\0".to_vec(), b"p\x01".to_vec(), b"p\x02".to_vec()],
        "a pong for each ping, while the handler only sends"
    );
    drop(s);
    handle.shutdown();
}
