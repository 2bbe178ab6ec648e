//! Transparent retries (gRFC A6) of unary, client- and bidi-streaming calls: an
//! attempt the server never processed — its stream refused with
//! RST_STREAM(REFUSED_STREAM), or above the last stream id of a GOAWAY —
//! is sent again at once on the tokio, smol and blocking channels, with
//! the messages sent so far replayed, without counting as an attempt (no
//! `grpc-previous-rpc-attempts`), even under a policy whose retryable
//! codes would not cover it.
//!
//! The server is our HTTP/2 machine on a std socket: it refuses (or
//! answers with GOAWAY last-stream-id 0, then closes) the first stream it
//! sees, and echoes the gRPC messages of every later request back as the
//! response, with OK.
//!
//! A response head or trailers over the client's header list limit are
//! reset by the client itself (with CANCEL): not a refusal, since the
//! server processed the request, so INTERNAL and never sent again.
//!
//! A server that refuses every stream shows what the caller gets once
//! the transparent retry is spent: the HTTP/2 clients' `Error::Refused`
//! (not processed, safe to retry), and UNAVAILABLE from the gRPC
//! channels, naming REFUSED_STREAM; a stream above a GOAWAY's last stream
//! id is `Refused { goaway: true }`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wirestate_grpc::{ChannelConfig, Code};
use wirestate_proto::grpc::testing::SimpleRequest;
use wirestate_rt::Runtime;
use wirestate_rt::grpc::{CallOptions, Channel, RetryPolicy};

const BOUND: Duration = Duration::from_secs(30);
const BIDI: &str = "/transparent.Test/Bidi";

/// How the server turns the first stream away.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Refuse {
    /// RST_STREAM(REFUSED_STREAM); the connection goes on.
    Stream,
    /// GOAWAY with last-stream-id 0, then the connection closes.
    GoAway,
    /// RST_STREAM(REFUSED_STREAM) for every stream.
    Always,
    /// Not a refusal: every stream is answered with a response head over
    /// the client's header list limit (counted as refused all the same).
    HugeHead,
    /// Not a refusal either: every stream is answered with a head, then
    /// trailers over the client's header list limit (counted as refused).
    HugeTrailers,
}

/// What the server saw: per stream it answered, its
/// `grpc-previous-rpc-attempts` (if any); and how many it turned away.
#[derive(Default, Debug)]
struct Log {
    refused: u32,
    answered: Vec<Option<String>>,
}

fn start_server(refuse: Refuse) -> (SocketAddr, Arc<Mutex<Log>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Log::default()));
    let noted = log.clone();
    std::thread::spawn(move || {
        for socket in listener.incoming() {
            let Ok(socket) = socket else { return };
            let log = noted.clone();
            std::thread::spawn(move || serve(socket, refuse, &log));
        }
    });
    (addr, log)
}

/// One connection: refuse the first stream of the whole server, echo the
/// rest.
fn serve(mut socket: TcpStream, refuse: Refuse, log: &Mutex<Log>) {
    use std::collections::HashMap;
    use wirestate_h2::connection::{Config, Connection, Event};
    use wirestate_h2::frame::ErrorCode;
    use wirestate_machine::{Machine, Transmit};
    socket
        .set_read_timeout(Some(Duration::from_millis(10)))
        .unwrap();
    let mut m = Connection::server(Config::default());
    let mut buf = vec![0; 64 << 10];
    // Per answered stream: the request's bytes so far.
    let mut bodies: HashMap<u32, Vec<u8>> = HashMap::new();
    let started = Instant::now();
    while started.elapsed() < BOUND {
        let now = Instant::now();
        match socket.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if m.handle_input(now, &buf[..n]).is_err() {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
        let mut finished = Vec::new();
        let mut go_away = false;
        // Frames written by hand after the machine's.
        let mut raw = Vec::new();
        while let Some(event) = m.poll_event() {
            match event {
                Event::Request {
                    stream,
                    head,
                    end_stream,
                } => {
                    let mut log = log.lock().unwrap();
                    if log.refused == 0
                        || matches!(
                            refuse,
                            Refuse::Always | Refuse::HugeHead | Refuse::HugeTrailers
                        )
                    {
                        log.refused += 1;
                        match refuse {
                            Refuse::Stream | Refuse::Always => {
                                let _ = m.reset(stream, ErrorCode::REFUSED_STREAM);
                            }
                            Refuse::GoAway => go_away = true,
                            Refuse::HugeHead => raw.extend(huge_block(stream.get(), true)),
                            Refuse::HugeTrailers => {
                                let _ = m.send_response(stream, grpc_head(), false);
                                raw.extend(huge_block(stream.get(), false));
                            }
                        }
                        continue;
                    }
                    log.answered.push(
                        head.headers
                            .get("grpc-previous-rpc-attempts")
                            .map(|v| v.to_str().unwrap().to_owned()),
                    );
                    bodies.insert(stream.get(), Vec::new());
                    if end_stream {
                        finished.push(stream);
                    }
                }
                Event::Data {
                    stream,
                    data,
                    end_stream,
                    flow_len,
                } => {
                    let _ = m.release_capacity(stream, flow_len);
                    if let Some(body) = bodies.get_mut(&stream.get()) {
                        body.extend_from_slice(&data);
                        if end_stream {
                            finished.push(stream);
                        }
                    }
                }
                Event::Trailers { stream, .. } => finished.push(stream),
                _ => {}
            }
        }
        for stream in finished {
            let Some(body) = bodies.remove(&stream.get()) else {
                continue;
            };
            // The request's messages, framed as they came, are the
            // response's.
            let _ = m.send_response(stream, grpc_head(), false);
            let _ = m.send_data(stream, body.into(), false);
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", "0".parse().unwrap());
            let _ = m.send_trailers(stream, trailers);
        }
        while let Some(t) = m.poll_transmit() {
            match t {
                Transmit::Bytes(b) => {
                    if socket.write_all(&b).is_err() {
                        return;
                    }
                }
                Transmit::Shutdown => return,
            }
        }
        if socket.write_all(&raw).is_err() {
            return;
        }
        if go_away {
            // GOAWAY, last stream 0, NO_ERROR: the request was never
            // processed. Written by hand, as the machine would name the
            // stream it saw.
            let frame = [0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            let _ = socket.write_all(&frame);
            std::thread::sleep(Duration::from_millis(50));
            return;
        }
        if m.is_closed() {
            return;
        }
    }
}

/// A gRPC response head: 200, `application/grpc`.
fn grpc_head() -> http::response::Parts {
    http::Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .body(())
        .unwrap()
        .into_parts()
        .0
}

/// A response head (`head`) or trailers (ending the stream) of about 80
/// KiB (over the client's 64 KiB SETTINGS_MAX_HEADER_LIST_SIZE), as
/// HEADERS and CONTINUATION frames written by hand: the machine checks the
/// peer's limit and would not send it.
fn huge_block(stream: u32, head: bool) -> Vec<u8> {
    fn string(out: &mut Vec<u8>, s: &[u8]) {
        // An HPACK string literal, no Huffman: a 7-bit prefix integer.
        if s.len() < 127 {
            out.push(s.len() as u8);
        } else {
            out.push(127);
            let mut n = s.len() - 127;
            while n >= 128 {
                out.push((n & 0x7f) as u8 | 0x80);
                n >>= 7;
            }
            out.push(n as u8);
        }
        out.extend_from_slice(s);
    }
    // A head: :status 200 (static index 8); then literals without
    // indexing (the decoder's table is left as it was).
    let (mut block, first) = if head {
        (vec![0x88], (&b"content-type"[..], &b"application/grpc"[..]))
    } else {
        (Vec::new(), (&b"grpc-status"[..], &b"0"[..]))
    };
    for (name, value) in [first, (b"x-big", &[b'a'; 80 << 10])] {
        block.push(0);
        string(&mut block, name);
        string(&mut block, value);
    }
    let chunks: Vec<&[u8]> = block.chunks(16 << 10).collect();
    let mut out = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let kind = if i == 0 { 0x1 } else { 0x9 };
        // END_HEADERS on the last frame, END_STREAM on trailers' HEADERS.
        let mut flags = if i + 1 == chunks.len() { 0x4 } else { 0 };
        if i == 0 && !head {
            flags |= 0x1;
        }
        out.extend_from_slice(&(chunk.len() as u32).to_be_bytes()[1..]);
        out.extend_from_slice(&[kind, flags]);
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

fn numbered(n: i32) -> SimpleRequest {
    SimpleRequest {
        response_size: n,
        ..Default::default()
    }
}

/// A policy that would not retry UNAVAILABLE or a reset: only the
/// transparent retry applies.
fn policy() -> RetryPolicy {
    RetryPolicy::new(
        3,
        Duration::from_millis(10),
        Duration::from_millis(40),
        2.0,
        [Code::ResourceExhausted],
    )
    .unwrap()
}

fn check(log: &Mutex<Log>, tag: &str) {
    let log = log.lock().unwrap();
    assert_eq!(log.refused, 1, "{tag}");
    // One answered attempt, sent again transparently: not counted.
    assert_eq!(log.answered, [None], "{tag}");
}

async fn async_case<R: Runtime>(rt: R, refuse: Refuse) {
    let (addr, log) = start_server(refuse);
    let ch = Channel::builder(rt.clone(), addr)
        .config(ChannelConfig::new().retry_policy(policy()))
        .connect()
        .await
        .unwrap();
    let opts = CallOptions::default().with_timeout(Duration::from_secs(10));
    let mut call = ch.streaming::<SimpleRequest, SimpleRequest>(BIDI, &opts);
    call.send(&numbered(1)).await.unwrap();
    // The refusal arrives meanwhile: message 1 is replayed, the rest
    // goes on live.
    rt.sleep_until(rt.now() + Duration::from_millis(100)).await;
    call.send(&numbered(2)).await.unwrap();
    call.send(&numbered(3)).await.unwrap();
    call.close_send();
    let mut got = Vec::new();
    while let Some(m) = call.message().await.unwrap() {
        got.push(m.response_size);
    }
    assert_eq!(got, [1, 2, 3], "{refuse:?}");
    check(&log, &format!("{refuse:?}"));
    // Client streaming too, on a fresh server.
    let (addr, log) = start_server(refuse);
    let ch = Channel::builder(rt.clone(), addr)
        .config(ChannelConfig::new().retry_policy(policy()))
        .connect()
        .await
        .unwrap();
    let mut call = ch.client_streaming::<SimpleRequest, SimpleRequest>(BIDI, &opts);
    call.send(&numbered(7)).await.unwrap();
    let r = call.finish().await.unwrap();
    assert_eq!(r.message.response_size, 7);
    check(&log, &format!("client streaming {refuse:?}"));
    // A unary call on a channel with no retry policy at all: retried all
    // the same (on a new connection after the GOAWAY).
    let (addr, log) = start_server(refuse);
    let ch = Channel::builder(rt.clone(), addr).connect().await.unwrap();
    let r = ch
        .unary::<SimpleRequest, SimpleRequest>(BIDI, &numbered(5), &opts)
        .await
        .unwrap();
    assert_eq!(r.message.response_size, 5);
    check(&log, &format!("unary {refuse:?}"));
}

#[test]
fn tokio_streaming_calls_retry_refused_streams_transparently() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for refuse in [Refuse::Stream, Refuse::GoAway] {
        rt.block_on(async {
            tokio::time::timeout(BOUND, async_case(wirestate_tokio::TokioRuntime, refuse))
                .await
                .expect("bounded");
        });
    }
}

#[test]
fn smol_streaming_calls_retry_refused_streams_transparently() {
    let ex = Arc::new(smol::Executor::new());
    let rt = wirestate_smol::SmolRuntime::with_executor(ex.clone());
    for refuse in [Refuse::Stream, Refuse::GoAway] {
        smol::block_on(ex.run(async {
            let timer = async {
                smol::Timer::after(BOUND).await;
                panic!("not done in time");
            };
            futures_lite::future::or(async_case(rt.clone(), refuse), timer).await;
        }));
    }
}

#[test]
fn blocking_streaming_calls_retry_refused_streams_transparently() {
    use wirestate_blocking::grpc::{CallOptions as BOpts, Channel as BChannel};
    for refuse in [Refuse::Stream, Refuse::GoAway] {
        let (addr, log) = start_server(refuse);
        let ch = BChannel::builder(&addr.to_string())
            .config(ChannelConfig::new().retry_policy(policy()))
            .connect()
            .unwrap();
        let opts = BOpts::default().with_timeout(Duration::from_secs(10));
        let mut call = ch
            .streaming::<SimpleRequest, SimpleRequest>(BIDI, &opts)
            .unwrap();
        call.send(&numbered(1)).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        call.send(&numbered(2)).unwrap();
        call.send(&numbered(3)).unwrap();
        call.close_send();
        let mut got = Vec::new();
        while let Some(m) = call.message().unwrap() {
            got.push(m.response_size);
        }
        assert_eq!(got, [1, 2, 3], "blocking {refuse:?}");
        check(&log, &format!("blocking {refuse:?}"));

        let (addr, log) = start_server(refuse);
        let ch = BChannel::builder(&addr.to_string())
            .config(ChannelConfig::new().retry_policy(policy()))
            .connect()
            .unwrap();
        let mut call = ch
            .client_streaming::<SimpleRequest, SimpleRequest>(BIDI, &opts)
            .unwrap();
        call.send(&numbered(7)).unwrap();
        let r = call.finish().unwrap();
        assert_eq!(r.message.response_size, 7);
        check(&log, &format!("blocking client streaming {refuse:?}"));

        // Unary, no retry policy: retried all the same.
        let (addr, log) = start_server(refuse);
        let ch = BChannel::builder(&addr.to_string()).connect().unwrap();
        let r = ch
            .unary::<SimpleRequest, SimpleRequest>(BIDI, &numbered(5), &opts)
            .unwrap();
        assert_eq!(r.message.response_size, 5);
        check(&log, &format!("blocking unary {refuse:?}"));
    }
}

/// What the HTTP/2 client of runtime `rt` and its gRPC channel report for
/// a refused stream.
async fn refused_case<R: Runtime>(rt: R) {
    // HTTP/2: REFUSED_STREAM, then a stream above GOAWAY's last id.
    for (refuse, goaway) in [(Refuse::Always, false), (Refuse::GoAway, true)] {
        let (addr, _log) = start_server(refuse);
        let io = rt.connect(addr).await.unwrap();
        let (send, driver) = wirestate_rt::h2::handshake(
            rt.clone(),
            io,
            wirestate_h2::connection::Config::default(),
        );
        rt.spawn(Box::pin(async move {
            let _ = driver.await;
        }));
        let request = http::Request::post(format!("http://{addr}{BIDI}"))
            .body(wirestate_rt::Body::empty())
            .unwrap();
        let err = send.send(request).await.unwrap_err();
        assert!(
            matches!(err, wirestate_rt::Error::Refused { goaway: g } if g == goaway),
            "{err:?}"
        );
        assert!(err.is_unsent() && err.is_retryable(), "{err:?}");
        let named = if goaway { "GOAWAY" } else { "REFUSED_STREAM" };
        assert!(err.to_string().contains(named), "{err}");
    }
    // gRPC: UNAVAILABLE once the transparent retry is spent.
    let (addr, log) = start_server(Refuse::Always);
    let ch = Channel::builder(rt.clone(), addr).connect().await.unwrap();
    let opts = CallOptions::default().with_timeout(Duration::from_secs(10));
    let e = ch
        .unary::<_, SimpleRequest>(BIDI, &numbered(1), &opts)
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::Unavailable, "{e:?}");
    assert!(e.message.contains("REFUSED_STREAM"), "{e:?}");
    // The first try and the transparent one.
    assert_eq!(log.lock().unwrap().refused, 2);
    // A response head or trailers over our limit: the stream is reset
    // from here (with CANCEL), but the server did process the request:
    // INTERNAL, and not sent again.
    for refuse in [Refuse::HugeHead, Refuse::HugeTrailers] {
        let (addr, log) = start_server(refuse);
        let ch = Channel::builder(rt.clone(), addr).connect().await.unwrap();
        let e = ch
            .unary::<_, SimpleRequest>(BIDI, &numbered(1), &opts)
            .await
            .unwrap_err();
        assert_eq!(e.code, Code::Internal, "{refuse:?} {e:?}");
        assert!(e.message.contains("header list size"), "{refuse:?} {e:?}");
        assert_eq!(log.lock().unwrap().refused, 1, "{refuse:?}");
    }
}

#[test]
fn tokio_refused_streams_are_named_and_unavailable() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(BOUND, refused_case(wirestate_tokio::TokioRuntime))
            .await
            .expect("bounded");
    });
}

#[test]
fn smol_refused_streams_are_named_and_unavailable() {
    let ex = Arc::new(smol::Executor::new());
    let rt = wirestate_smol::SmolRuntime::with_executor(ex.clone());
    smol::block_on(ex.run(async {
        let timer = async {
            smol::Timer::after(BOUND).await;
            panic!("not done in time");
        };
        futures_lite::future::or(refused_case(rt), timer).await;
    }));
}

#[test]
fn blocking_refused_streams_are_named_and_unavailable() {
    use wirestate_blocking::RequestBody;
    use wirestate_blocking::grpc::{CallOptions as BOpts, Channel as BChannel};
    for (refuse, goaway) in [(Refuse::Always, false), (Refuse::GoAway, true)] {
        let (addr, _log) = start_server(refuse);
        let send = wirestate_blocking::h2::connect_with(
            addr,
            wirestate_blocking::h2::ClientConfig::default(),
        )
        .unwrap();
        let request = http::Request::post(format!("http://{addr}{BIDI}"))
            .body(RequestBody::empty())
            .unwrap();
        let err = send.send(request).unwrap_err();
        assert!(
            matches!(err, wirestate_blocking::Error::Refused { goaway: g } if g == goaway),
            "{err:?}"
        );
        assert!(err.is_unsent() && err.is_retryable(), "{err:?}");
        let named = if goaway { "GOAWAY" } else { "REFUSED_STREAM" };
        assert!(err.to_string().contains(named), "{err}");
    }
    let (addr, log) = start_server(Refuse::Always);
    let ch = BChannel::builder(&addr.to_string()).connect().unwrap();
    let opts = BOpts::default().with_timeout(Duration::from_secs(10));
    let e = ch
        .unary::<_, SimpleRequest>(BIDI, &numbered(1), &opts)
        .unwrap_err();
    assert_eq!(e.code, Code::Unavailable, "{e:?}");
    assert!(e.message.contains("REFUSED_STREAM"), "{e:?}");
    assert_eq!(log.lock().unwrap().refused, 2);
    // A response head or trailers over our limit: processed, so
    // INTERNAL, sent once.
    for refuse in [Refuse::HugeHead, Refuse::HugeTrailers] {
        let (addr, log) = start_server(refuse);
        let ch = BChannel::builder(&addr.to_string()).connect().unwrap();
        let e = ch
            .unary::<_, SimpleRequest>(BIDI, &numbered(1), &opts)
            .unwrap_err();
        assert_eq!(e.code, Code::Internal, "{refuse:?} {e:?}");
        assert!(e.message.contains("header list size"), "{refuse:?} {e:?}");
        assert_eq!(log.lock().unwrap().refused, 1, "{refuse:?}");
    }
}
