//! An HTTP/2 client request whose body fails midway (a stream of chunks
//! yielding an error, a file read failing) resets its stream and fails the
//! call, on the async client (`wirestate_rt::h2`), as the HTTP/1.1 client
//! does with `Aborted { sent: true }`.
//!
//! Before, the stream was reset but the call's `send` future never
//! resolved: a reset the application asks for raises no event, so nothing
//! told the waiting caller, and the stream stayed in the connection's table
//! for good. The connection itself keeps serving other requests.

mod support;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use std::time::Duration;
use support::*;
use wirestate_rt::{Body, Error};

/// Answers once the whole request body is read: never, for a body that
/// fails, so the call can end only by the client's own doing.
async fn read_all(req: Request<Body>) -> Response<Body> {
    match req.into_body().collect(1 << 20).await {
        Ok(b) => Response::new(Body::from(b.len().to_string())),
        Err(e) => Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .body(Body::from(e.to_string()))
            .unwrap(),
    }
}

fn failing_body(chunks_before: usize) -> Body {
    let mut items: Vec<std::io::Result<Bytes>> = (0..chunks_before)
        .map(|_| Ok(Bytes::from(vec![7u8; 10_000])))
        .collect();
    items.push(Err(std::io::Error::other("disk on fire")));
    Body::from_stream(futures_util::stream::iter(items))
}

#[test]
fn a_failing_request_body_fails_the_call_not_hangs_it() {
    let (addr, rt) = tokio_server(read_all);
    rt.block_on(async move {
        let io = wirestate_tokio::TokioIo(tokio::net::TcpStream::connect(addr).await.unwrap());
        let h2 = wirestate_rt::h2::start(&wirestate_tokio::TokioRuntime, io, Default::default());
        // Failing at once, after a little, and after more than a window.
        for chunks in [0, 1, 8] {
            let req = Request::post(format!("http://{addr}/up"))
                .body(failing_body(chunks))
                .unwrap();
            let res = tokio::time::timeout(Duration::from_secs(5), h2.send(req)).await;
            match res {
                Ok(Err(Error::Aborted { sent: true })) => {}
                other => panic!("{chunks} chunks, then an error: {other:?}"),
            }
        }
        // The connection is fine: a good upload right after.
        let req = Request::post(format!("http://{addr}/up"))
            .body(Body::from(vec![1u8; 100_000]))
            .unwrap();
        let res = tokio::time::timeout(Duration::from_secs(5), h2.send(req))
            .await
            .expect("answered in time")
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.into_body().collect(100).await.unwrap(), "100000");
    });
}

/// A reader that yields `n` chunks, then fails.
struct FailingReader(usize);

impl std::io::Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.0 == 0 {
            return Err(std::io::Error::other("disk on fire"));
        }
        self.0 -= 1;
        let n = buf.len().min(10_000);
        buf[..n].fill(7);
        Ok(n)
    }
}

/// The blocking client: before, the call waited out its request timeout
/// (30 s by default) for a response that could not come.
#[test]
fn a_failing_request_body_fails_the_blocking_call_at_once() {
    use wirestate_blocking::{Error as BError, RequestBody};
    let (addr, _rt) = tokio_server(read_all);
    let mut config = wirestate_blocking::h2::ClientConfig::default();
    // Far above the time the failure takes, far below the default.
    config.request_timeout = Some(Duration::from_secs(5));
    let h2 = wirestate_blocking::h2::connect_with(addr, config).unwrap();
    for chunks in [0, 1, 8] {
        let req = Request::post(format!("http://{addr}/up"))
            .body(RequestBody::from_reader(FailingReader(chunks)))
            .unwrap();
        let started = std::time::Instant::now();
        match h2.send(req) {
            Err(BError::Aborted { sent: true }) => {}
            other => panic!("{chunks} chunks, then an error: {other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{chunks} chunks: failed only after {:?}",
            started.elapsed()
        );
    }
    let req = Request::post(format!("http://{addr}/up"))
        .body(RequestBody::from(vec![1u8; 100_000]))
        .unwrap();
    let res = h2.send(req).unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.into_body().collect(100).unwrap(), "100000");
}
