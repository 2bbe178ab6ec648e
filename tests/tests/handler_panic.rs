//! A handler that panics on the async server (`wirestate_rt`, here on
//! tokio) fails its own request only: HTTP/2 resets its stream with
//! INTERNAL_ERROR while the other streams of the connection go on, and
//! HTTP/1.1 answers 500 and closes the connection — as the blocking server
//! already did (a stream reset).
//!
//! Before, the panic unwound through the connection's task: on HTTP/2
//! every other stream of the connection died with it (nghttp: "Some
//! requests were not processed. total=2, processed=0", no GOAWAY, no
//! RST_STREAM), and on HTTP/1.1 the client got an empty reply.

mod support;

use http::{Request, Response, StatusCode};
use std::io::{Read, Write};
use std::time::Duration;
use support::*;
use wirestate_h2::frame::ErrorCode;
use wirestate_rt::{Body, Error};

async fn handler(req: Request<Body>) -> Response<Body> {
    match req.uri().path() {
        "/panic" => panic!("a handler bug (expected by the test)"),
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Response::new(Body::from("slow"))
        }
        _ => Response::new(Body::from("ok")),
    }
}

#[test]
fn an_h2_handler_panic_resets_its_stream_only() {
    let (addr, rt) = tokio_server(handler);
    rt.block_on(async move {
        let io = wirestate_tokio::TokioIo(tokio::net::TcpStream::connect(addr).await.unwrap());
        let h2 = wirestate_rt::h2::start(&wirestate_tokio::TokioRuntime, io, Default::default());
        let get = |path: &str| {
            let h2 = h2.clone();
            let req = Request::get(format!("http://{addr}{path}"))
                .body(Body::empty())
                .unwrap();
            async move {
                let res = tokio::time::timeout(Duration::from_secs(5), h2.send(req))
                    .await
                    .expect("an answer in time")?;
                let status = res.status();
                let body = res.into_body().collect(1024).await?;
                Ok::<_, Error>((status, body))
            }
        };
        let slow = tokio::spawn(get("/slow"));
        tokio::time::sleep(Duration::from_millis(50)).await;
        match get("/panic").await {
            Err(Error::Reset(code)) => assert_eq!(code, ErrorCode::INTERNAL_ERROR),
            other => panic!("the panicking stream: {other:?}"),
        }
        let (status, body) = slow.await.unwrap().expect("the other stream lives on");
        assert_eq!((status, &body[..]), (StatusCode::OK, &b"slow"[..]));
        let (status, body) = get("/").await.expect("the connection lives on");
        assert_eq!((status, &body[..]), (StatusCode::OK, &b"ok"[..]));
    });
}

#[test]
fn an_http1_handler_panic_answers_500_and_closes() {
    let (addr, _rt) = tokio_server(handler);
    let mut s = connect(addr);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /panic HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).expect("the connection ends");
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
        "{text:?}"
    );
    assert!(text.contains("connection: close\r\n"), "{text:?}");
    assert_eq!(text.matches("HTTP/1.1").count(), 1, "{text:?}");
    // The server itself goes on.
    let mut s = connect(addr);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    assert!(
        got.starts_with(b"HTTP/1.1 200 OK\r\n"),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
}
