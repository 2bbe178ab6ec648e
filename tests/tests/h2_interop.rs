//! HTTP/2 interop with hyper (the `h2` crate underneath), an independent
//! implementation: its client, with prior knowledge, against our server on
//! each async runtime — the same port and handler that serve HTTP/1.1.

mod support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use std::net::SocketAddr;
use support::*;
use wirestate_rt::http1::ServerConfig;

type Send = hyper::client::conn::http2::SendRequest<
    http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>,
>;

fn boxed(
    b: impl Into<Bytes>,
) -> http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible> {
    Full::new(b.into()).boxed()
}

fn get(
    path: &str,
) -> hyper::Request<http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>> {
    hyper::Request::get(format!("http://t{path}"))
        .body(boxed(Bytes::new()))
        .unwrap()
}

async fn connect(addr: SocketAddr, window: u32) -> Send {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (send, conn) =
        hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .initial_stream_window_size(window)
            .initial_connection_window_size(window)
            .handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    send
}

/// The demo routes over one multiplexed connection: GET, HEAD, 404, echo
/// of a body far larger than the windows (both directions flow-controlled),
/// a streamed response, a streamed request, and many concurrent streams.
fn hyper_h2_client_against(addr: SocketAddr) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        // Small windows on the client: the server's sends must wait for
        // WINDOW_UPDATEs.
        let mut send = connect(addr, 16 * 1024).await;

        let res = send.send_request(get("/")).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.version(), http::Version::HTTP_2);
        assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "hello");

        let head = hyper::Request::head("http://t/")
            .body(boxed(Bytes::new()))
            .unwrap();
        let res = send.send_request(head).await.unwrap();
        assert_eq!(res.headers()["content-length"], "5");
        assert!(
            res.into_body()
                .collect()
                .await
                .unwrap()
                .to_bytes()
                .is_empty()
        );

        let res = send.send_request(get("/nope")).await.unwrap();
        assert_eq!(res.status(), 404);

        // 3 MiB each way: far beyond the 64 KiB default windows.
        let big = payload(3 * 1024 * 1024);
        let req = hyper::Request::post("http://t/echo")
            .body(boxed(big.clone()))
            .unwrap();
        let res = send.send_request(req).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), big);

        let res = send.send_request(get("/stream?n=5000")).await.unwrap();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body.iter().filter(|&&b| b == b'\n').count(), 5000);
        assert!(body.starts_with(b"line 0\n"));

        // A request body streamed in pieces, echoed back.
        let chunks: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = (0..100)
            .map(|i| Ok(Frame::data(Bytes::from(format!("piece {i};")))))
            .collect();
        let body = StreamBody::new(futures_util::stream::iter(chunks)).boxed();
        let req = hyper::Request::post("http://t/echo").body(body).unwrap();
        let res = send.send_request(req).await.unwrap();
        let got = res.into_body().collect().await.unwrap().to_bytes();
        let want: String = (0..100).map(|i| format!("piece {i};")).collect();
        assert_eq!(got, want.as_bytes());

        // 200 streams at once on the one connection (more than the default
        // concurrency: hyper queues the rest).
        let mut tasks = Vec::new();
        for i in 0..200 {
            let mut send = send.clone();
            tasks.push(tokio::spawn(async move {
                let body = Bytes::from(format!("request {i}"));
                let req = hyper::Request::post("http://t/echo")
                    .body(boxed(body.clone()))
                    .unwrap();
                std::future::poll_fn(|cx| send.poll_ready(cx))
                    .await
                    .unwrap();
                let res = send.send_request(req).await.unwrap();
                assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), body);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[test]
fn hyper_h2_client_to_our_tokio_server() {
    let srv = Tokio::start(ServerConfig::default());
    hyper_h2_client_against(srv.addr);
    assert!(srv.stop());
}

#[test]
fn hyper_h2_client_to_our_smol_server() {
    let srv = Smol::start(ServerConfig::default());
    hyper_h2_client_against(srv.addr);
    assert!(srv.stop());
}

#[test]
fn http2_off_serves_only_http1() {
    let mut config = ServerConfig::default();
    config.http2 = false;
    let srv = Tokio::start(config);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let stream = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
        let handshake =
            hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .handshake::<_, Full<Bytes>>(hyper_util::rt::TokioIo::new(stream))
                .await;
        // The HTTP/1.1 machine answers the preface with 400 and closes.
        if let Ok((mut send, conn)) = handshake {
            tokio::spawn(conn);
            let req = hyper::Request::get("http://t/")
                .body(Full::new(Bytes::new()))
                .unwrap();
            assert!(send.send_request(req).await.is_err());
        }
    });
    assert!(srv.stop());
}
