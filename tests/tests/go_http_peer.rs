//! Our HTTP/1.1 and h2c clients (tokio, smol, blocking) against Go's
//! net/http and x/net/http2 servers (Debian's golang-go and
//! golang-golang-x-net-dev, scripts/go-http/server), beyond what one
//! `wirestate http` request per process reaches:
//!
//! * the pooled HTTP/1.1 client: 100 requests on one kept-alive
//!   connection (Go's server counts the connections it accepted), trailers
//!   of chunked responses read through the body API, a close-delimited
//!   response that ends its connection (the next request opens exactly one
//!   more), 204/304, and 16 concurrent 4 MiB downloads;
//! * one h2c connection with 500 requests at once, twice Go's default
//!   SETTINGS_MAX_CONCURRENT_STREAMS (250): 1 MiB downloads, 200 KiB
//!   uploads echoed, responses with trailers (trailing HEADERS), and small
//!   GETs, every one answered.
//!
//! Ignored by default: scripts/interop-go-http.sh starts the Go server and
//! runs them with `WIRESTATE_GO_HTTP=host:port`, one at a time
//! (`--test-threads 1`: the server's connection count is shared).

mod support;

use support::*;
use wirestate_rt::Body;
use wirestate_rt::http1::ClientConfig;

const IGNORE: &str = "needs the Go server: scripts/interop-go-http.sh";
const MIB: usize = 1 << 20;
const H2_REQUESTS: usize = 500;

fn addr() -> String {
    std::env::var("WIRESTATE_GO_HTTP")
        .unwrap_or_else(|_| panic!("WIRESTATE_GO_HTTP unset: {IGNORE}"))
}

/// The bytes of the Go server's `/big?n=N`: byte i is i % 251.
fn big(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// Checks a `/trailers` response's body and trailers.
fn check_trailers(what: &str, body: &[u8], trailers: Option<&http::HeaderMap>) {
    assert_eq!(body, b"body before trailers\n", "{what}");
    let t = trailers.unwrap_or_else(|| panic!("{what}: no trailers"));
    assert_eq!(t["x-checksum"], "abc123", "{what}: {t:?}");
    assert_eq!(t["x-count"], "1", "{what}: {t:?}");
}

/// Reads an async body to its end, keeping it for its trailers.
async fn read_all(body: &mut Body) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = body.chunk().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

fn http1_client<T: TestRuntime>() {
    let a = addr();
    let url = |path: &str| format!("http://{a}{path}");
    T::block_on(async {
        let client = T::client(ClientConfig::default());
        let conns = || async {
            let res = client.get(&url("/conns")).await.unwrap();
            let body = res.into_body().collect(64).await.unwrap();
            std::str::from_utf8(&body).unwrap().parse::<u64>().unwrap()
        };
        let before = conns().await;
        for i in 0..100 {
            let res = client.get(&url("/trailers")).await.unwrap();
            assert_eq!(res.status(), 200, "{} {i}", T::NAME);
            let mut body = res.into_body();
            let data = read_all(&mut body).await;
            check_trailers(
                &format!("{} h1 {i}", T::NAME),
                &data,
                body.trailers().as_ref(),
            );
        }
        for (path, status) in [("/204", 204), ("/304", 304)] {
            let res = client.get(&url(path)).await.unwrap();
            assert_eq!(res.status(), status, "{}", T::NAME);
            assert!(res.into_body().collect(16).await.unwrap().is_empty());
        }
        assert_eq!(conns().await, before, "{}: a new connection", T::NAME);
        let res = client.get(&url("/close")).await.unwrap();
        let body = res.into_body().collect(64).await.unwrap();
        assert_eq!(&body[..], b"close-delimited body\n", "{}", T::NAME);
        // That connection ended with the body: exactly one new one.
        assert_eq!(conns().await, before + 1, "{}", T::NAME);
        let downloads: Vec<_> = (0..16)
            .map(|_| {
                let c = client.clone();
                let u = url(&format!("/big?n={}", 4 * MIB));
                async move { c.get(&u).await.unwrap().into_body().collect(8 * MIB).await }
            })
            .collect();
        let want = big(4 * MIB);
        for d in futures_util::future::join_all(downloads).await {
            assert!(d.unwrap() == want, "{}: a download differs", T::NAME);
        }
    });
}

/// What request `i` of the burst asks and what its answer must be.
fn burst_request(a: &str, i: usize) -> (http::Method, String, Option<bytes::Bytes>) {
    match i % 10 {
        0 => (http::Method::GET, format!("http://{a}/big?n={MIB}"), None),
        1 => (
            http::Method::POST,
            format!("http://{a}/echo"),
            Some(payload(200_000 + i)),
        ),
        2 => (http::Method::GET, format!("http://{a}/trailers"), None),
        _ => (http::Method::GET, format!("http://{a}/"), None),
    }
}

fn check_burst(what: &str, i: usize, body: &[u8], trailers: Option<&http::HeaderMap>) {
    match i % 10 {
        0 => assert!(body == big(MIB), "{what}: download {i} differs"),
        1 => assert!(
            body == &payload(200_000 + i)[..],
            "{what}: echo {i} differs"
        ),
        2 => check_trailers(&format!("{what} {i}"), body, trailers),
        _ => assert_eq!(body, b"hello from go, HTTP/2.0\n", "{what} {i}"),
    }
}

fn h2_burst<T: TestRuntime>() {
    let a = addr();
    T::block_on(async {
        let rt = T::rt();
        use wirestate_rt::Runtime;
        let io = rt.connect(a.parse().unwrap()).await.unwrap();
        let (send, driver) = wirestate_rt::h2::handshake(rt.clone(), io, Default::default());
        rt.spawn(Box::pin(async move {
            let _ = driver.await;
        }));
        let requests: Vec<_> = (0..H2_REQUESTS)
            .map(|i| {
                let send = send.clone();
                let (method, uri, body) = burst_request(&a, i);
                let req = http::Request::builder()
                    .method(method)
                    .uri(uri)
                    .body(body.map_or_else(Body::empty, Body::from))
                    .unwrap();
                async move {
                    let res = send
                        .send(req)
                        .await
                        .unwrap_or_else(|e| panic!("{} request {i}: {e}", T::NAME));
                    assert_eq!(res.status(), 200, "{} request {i}", T::NAME);
                    let mut body = res.into_body();
                    let data = read_all(&mut body).await;
                    check_burst(T::NAME, i, &data, body.trailers().as_ref());
                }
            })
            .collect();
        futures_util::future::join_all(requests).await;
    });
}

macro_rules! async_tests {
    ($m:ident, $T:ty) => {
        mod $m {
            use super::*;
            #[test]
            #[ignore = "needs the Go server: scripts/interop-go-http.sh"]
            fn http1_client() {
                super::http1_client::<$T>();
            }
            #[test]
            #[ignore = "needs the Go server: scripts/interop-go-http.sh"]
            fn h2_burst() {
                super::h2_burst::<$T>();
            }
        }
    };
}

async_tests!(tokio, Tokio);
async_tests!(smol, Smol);

mod blocking {
    use super::*;
    use wirestate_blocking::{BlockingBody, Client, RequestBody};

    fn read_all(body: &mut BlockingBody) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(chunk) = body.chunk().unwrap() {
            out.extend_from_slice(&chunk);
        }
        out
    }

    #[test]
    #[ignore = "needs the Go server: scripts/interop-go-http.sh"]
    fn http1_client() {
        let a = addr();
        let url = |path: &str| format!("http://{a}{path}");
        let client = Client::new(Default::default());
        let conns = || {
            let body = client
                .get(&url("/conns"))
                .unwrap()
                .into_body()
                .collect(64)
                .unwrap();
            std::str::from_utf8(&body).unwrap().parse::<u64>().unwrap()
        };
        let before = conns();
        for i in 0..100 {
            let res = client.get(&url("/trailers")).unwrap();
            assert_eq!(res.status(), 200, "blocking {i}");
            let mut body = res.into_body();
            let data = read_all(&mut body);
            check_trailers(&format!("blocking h1 {i}"), &data, body.trailers());
        }
        for (path, status) in [("/204", 204), ("/304", 304)] {
            let res = client.get(&url(path)).unwrap();
            assert_eq!(res.status(), status);
            assert!(res.into_body().collect(16).unwrap().is_empty());
        }
        assert_eq!(conns(), before, "blocking: a new connection");
        let body = client
            .get(&url("/close"))
            .unwrap()
            .into_body()
            .collect(64)
            .unwrap();
        assert_eq!(&body[..], b"close-delimited body\n");
        assert_eq!(conns(), before + 1, "blocking");
        let want = big(4 * MIB);
        std::thread::scope(|s| {
            for _ in 0..16 {
                s.spawn(|| {
                    let res = client.get(&url(&format!("/big?n={}", 4 * MIB))).unwrap();
                    assert!(res.into_body().collect(8 * MIB).unwrap() == want);
                });
            }
        });
    }

    #[test]
    #[ignore = "needs the Go server: scripts/interop-go-http.sh"]
    fn h2_burst() {
        let a = addr();
        let send = wirestate_blocking::h2::connect(a.as_str()).unwrap();
        std::thread::scope(|s| {
            for i in 0..H2_REQUESTS {
                let send = send.clone();
                let a = &a;
                s.spawn(move || {
                    let (method, uri, body) = burst_request(a, i);
                    let req = http::Request::builder()
                        .method(method)
                        .uri(uri)
                        .body(body.map_or_else(RequestBody::empty, RequestBody::full))
                        .unwrap();
                    let res = send
                        .send(req)
                        .unwrap_or_else(|e| panic!("blocking request {i}: {e}"));
                    assert_eq!(res.status(), 200, "blocking request {i}");
                    let mut body = res.into_body();
                    let data = read_all(&mut body);
                    check_burst("blocking", i, &data, body.trailers());
                });
            }
        });
    }
}
