//! Interop with hyper, an independent HTTP/1.1 implementation: hyper's
//! client against our server on each runtime, and our client on each
//! runtime against a hyper server.

mod support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use support::*;
use wirestate_rt::Body;
use wirestate_rt::http1::{ClientConfig, ServerConfig};

/// Drives one keep-alive hyper client connection through the demo routes.
fn hyper_client_against(addr: SocketAddr) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut send, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(
            hyper_util::rt::TokioIo::new(stream),
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        let get = |path: &str| {
            hyper::Request::get(path)
                .header("host", "t")
                .body(Full::new(Bytes::new()))
                .unwrap()
        };

        let res = send.send_request(get("/")).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "hello");

        let big = payload(256 * 1024);
        let req = hyper::Request::post("/echo")
            .header("host", "t")
            .body(Full::new(big.clone()))
            .unwrap();
        let res = send.send_request(req).await.unwrap();
        assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), big);

        let res = send.send_request(get("/stream?n=1000")).await.unwrap();
        assert_eq!(res.headers()["transfer-encoding"], "chunked");
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body.iter().filter(|&&b| b == b'\n').count(), 1000);

        let req = hyper::Request::head("/")
            .header("host", "t")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let res = send.send_request(req).await.unwrap();
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
    });
}

#[test]
fn hyper_client_to_our_tokio_server() {
    let srv = Tokio::start(ServerConfig::default());
    hyper_client_against(srv.addr);
    assert!(srv.stop());
}

#[test]
fn hyper_client_to_our_smol_server() {
    let srv = Smol::start(ServerConfig::default());
    hyper_client_against(srv.addr);
    assert!(srv.stop());
}

async fn hyper_service(
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    Ok(match path.as_str() {
        "/echo" => hyper::Response::new(Full::new(body)),
        _ => hyper::Response::new(Full::new(Bytes::from_static(b"from hyper"))),
    })
}

/// A hyper server on its own thread; counts accepted connections.
fn hyper_server() -> (SocketAddr, Arc<AtomicUsize>) {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            // Bounded: the tests open only a handful of connections.
            for _ in 0..16 {
                let Ok(Ok((stream, _))) =
                    tokio::time::timeout(std::time::Duration::from_secs(30), listener.accept())
                        .await
                else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, hyper::service::service_fn(hyper_service))
                        .await;
                });
            }
        });
    });
    (addr, accepted)
}

fn our_client_against_hyper<T: TestRuntime>() {
    let (addr, accepted) = hyper_server();
    let base = format!("http://{addr}");
    T::block_on(async {
        let client = T::client(ClientConfig::default());
        for _ in 0..3 {
            let res = client.get(&format!("{base}/")).await.unwrap();
            assert_eq!(
                &res.into_body().collect(64).await.unwrap()[..],
                b"from hyper"
            );
        }
        let big = payload(1 << 20);
        let req = http::Request::post(format!("{base}/echo"))
            .body(Body::from(big.clone()))
            .unwrap();
        let res = client.request(req).await.unwrap();
        assert_eq!(res.into_body().collect(2 << 20).await.unwrap(), big);
        // A streamed (chunked) request body.
        let chunks = futures_lite::stream::iter(
            (0..100).map(|i| Ok::<_, std::io::Error>(Bytes::from(format!("chunk {i};")))),
        );
        let req = http::Request::post(format!("{base}/echo"))
            .body(Body::from_stream(chunks))
            .unwrap();
        let res = client.request(req).await.unwrap();
        let got = res.into_body().collect(1 << 20).await.unwrap();
        let want: String = (0..100).map(|i| format!("chunk {i};")).collect();
        assert_eq!(got, want.as_bytes());
    });
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "{}: keep-alive connection reused",
        T::NAME
    );
}

#[test]
fn our_tokio_client_to_hyper_server() {
    our_client_against_hyper::<Tokio>();
}

#[test]
fn our_smol_client_to_hyper_server() {
    our_client_against_hyper::<Smol>();
}

/// hyper streams a request body in chunks to our server's echo.
#[test]
fn hyper_streaming_upload_to_our_server() {
    let srv = Tokio::start(ServerConfig::default());
    let addr = srv.addr;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        type S = StreamBody<
            futures_lite::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>,
        >;
        let (mut send, conn) =
            hyper::client::conn::http1::handshake::<_, S>(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(conn);
        let frames: Vec<Result<Frame<Bytes>, Infallible>> = (0..64)
            .map(|i| Ok(Frame::data(Bytes::from(vec![i as u8; 1000]))))
            .collect();
        let req = hyper::Request::post("/echo")
            .header("host", "t")
            .body(StreamBody::new(futures_lite::stream::iter(frames)))
            .unwrap();
        let res = send.send_request(req).await.unwrap();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body.len(), 64_000);
        assert!(
            body.chunks(1000)
                .enumerate()
                .all(|(i, c)| c.iter().all(|&b| b == i as u8))
        );
    });
    assert!(srv.stop());
}

#[test]
fn hyper_client_to_our_blocking_server() {
    let srv = Blocking::start(ServerConfig::default());
    hyper_client_against(srv.addr);
    assert!(srv.stop());
}

#[test]
fn our_blocking_client_to_hyper_server() {
    let (addr, accepted) = hyper_server();
    let base = format!("http://{addr}");
    let client = wirestate_blocking::Client::default();
    for _ in 0..3 {
        let res = client.get(&format!("{base}/")).unwrap();
        assert_eq!(&res.into_body().collect(64).unwrap()[..], b"from hyper");
    }
    let big = payload(1 << 20);
    let req = http::Request::post(format!("{base}/echo"))
        .body(wirestate_blocking::RequestBody::from(big.clone()))
        .unwrap();
    let res = client.request(req).unwrap();
    assert_eq!(res.into_body().collect(2 << 20).unwrap(), big);
    let chunks = (0..100).map(|i| Ok::<_, std::io::Error>(Bytes::from(format!("chunk {i};"))));
    let req = http::Request::post(format!("{base}/echo"))
        .body(wirestate_blocking::RequestBody::from_chunks(chunks))
        .unwrap();
    let res = client.request(req).unwrap();
    let want: String = (0..100).map(|i| format!("chunk {i};")).collect();
    assert_eq!(res.into_body().collect(1 << 20).unwrap(), want.as_bytes());
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "blocking: keep-alive connection reused"
    );
}
