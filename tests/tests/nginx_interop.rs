//! Our clients against nginx, an independent HTTP/1.1 and HTTP/2 server:
//! the pooled HTTP/1.1 client (tokio, smol, blocking) through keep-alive
//! limits and idle closes, HEAD/204/304, large and gzip-chunked bodies,
//! `Expect: 100-continue`, an early 413 and chunked uploads; the h2c
//! client (prior knowledge) with more concurrent streams than nginx
//! allows, a GOAWAY at `keepalive_requests` and a graceful reload while
//! downloads are in flight.
//!
//! Ignored by default: `scripts/interop-nginx.sh` starts nginx on loopback
//! ports and runs them with `--ignored`, passing `NGINX_H1` (HTTP/1.1,
//! `keepalive_requests 5`, `keepalive_timeout 2s`), `NGINX_H2` (h2c,
//! `keepalive_requests 1000`), `NGINX_H2_LIMITED` (h2c,
//! `keepalive_requests 50`) and `NGINX_PID`.

mod support;

use std::time::{Duration, Instant};
use support::*;
use wirestate_rt::http1::ClientConfig;
use wirestate_rt::{Body, Runtime};

const IGNORE: &str = "needs nginx: scripts/interop-nginx.sh";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} unset: {IGNORE}"))
}

const BIG: usize = 10_000_000;

/// The pooled async client through everything nginx does over HTTP/1.1.
fn http1_client<T: TestRuntime>() {
    let a = env("NGINX_H1");
    let url = |path: &str| format!("http://{a}{path}");
    T::block_on(async {
        let client = T::client(ClientConfig::default());
        // keepalive_requests 5: every fifth response closes its connection.
        for i in 0..12 {
            let res = client.get(&url("/index.html")).await.unwrap();
            assert_eq!(res.status(), 200, "{} {i}", T::NAME);
            assert_eq!(&res.into_body().collect(64).await.unwrap()[..], b"hello\n");
        }
        // Idle past keepalive_timeout (2 s): nginx closed the pooled
        // connection, the next request must not fail on it.
        for method in ["GET", "PUT", "POST", "DELETE"] {
            wirestate_rt::sleep_until(&T::rt(), T::rt().now() + Duration::from_millis(2500)).await;
            let req = http::Request::builder()
                .method(method)
                .uri(url("/echo"))
                .body(Body::from("abc"))
                .unwrap();
            let res = client.request(req).await;
            let res = res.unwrap_or_else(|e| panic!("{}: {method} after idle: {e}", T::NAME));
            assert_eq!(&res.into_body().collect(64).await.unwrap()[..], b"ok\n");
        }
        let req = http::Request::head(url("/big"))
            .body(Body::empty())
            .unwrap();
        let res = client.request(req).await.unwrap();
        assert_eq!(res.headers()["content-length"], "10000000");
        assert!(res.into_body().collect(16).await.unwrap().is_empty());
        let res = client.get(&url("/204")).await.unwrap();
        assert_eq!(res.status(), 204);
        assert!(res.into_body().collect(16).await.unwrap().is_empty());
        let res = client.get(&url("/index.html")).await.unwrap();
        let etag = res.headers()["etag"].clone();
        let _ = res.into_body().collect(64).await.unwrap();
        let req = http::Request::get(url("/index.html"))
            .header("if-none-match", etag)
            .body(Body::empty())
            .unwrap();
        let res = client.request(req).await.unwrap();
        assert_eq!(res.status(), 304);
        assert!(res.into_body().collect(16).await.unwrap().is_empty());
        let res = client.get(&url("/big")).await.unwrap();
        assert_eq!(res.into_body().collect(2 * BIG).await.unwrap().len(), BIG);
        let req = http::Request::get(url("/text.txt"))
            .header("accept-encoding", "gzip")
            .body(Body::empty())
            .unwrap();
        let res = client.request(req).await.unwrap();
        assert_eq!(res.headers()["transfer-encoding"], "chunked");
        assert_eq!(res.headers()["content-encoding"], "gzip");
        assert!(!res.into_body().collect(1 << 20).await.unwrap().is_empty());
        let req = http::Request::post(url("/echo"))
            .header("expect", "100-continue")
            .body(Body::from(payload(5 << 20)))
            .unwrap();
        let res = client.request(req).await.unwrap();
        assert_eq!(res.status(), 200);
        let _ = res.into_body().collect(64).await.unwrap();
        // Over client_max_body_size (20m): nginx answers 413 early.
        let req = http::Request::post(url("/echo"))
            .body(Body::from(payload(30 << 20)))
            .unwrap();
        let res = client.request(req).await.unwrap();
        assert_eq!(res.status(), 413);
        let _ = res.into_body().collect(1 << 20).await;
        for n in [0, 1, 1000] {
            let chunks =
                futures_lite::stream::iter((0..n).map(|_| Ok::<_, std::io::Error>(payload(4096))));
            let req = http::Request::post(url("/echo"))
                .body(Body::from_stream(chunks))
                .unwrap();
            let res = client.request(req).await.unwrap();
            assert_eq!(res.status(), 200, "{}: chunked upload of {n}", T::NAME);
            let _ = res.into_body().collect(64).await.unwrap();
        }
        let downloads: Vec<_> = (0..8)
            .map(|_| {
                let c = client.clone();
                let u = url("/big");
                async move { c.get(&u).await.unwrap().into_body().collect(2 * BIG).await }
            })
            .collect();
        for d in futures_util::future::join_all(downloads).await {
            assert_eq!(d.unwrap().len(), BIG);
        }
    });
}

#[test]
#[ignore = "needs nginx: scripts/interop-nginx.sh"]
fn tokio_http1_client() {
    http1_client::<Tokio>();
}

#[test]
#[ignore = "needs nginx: scripts/interop-nginx.sh"]
fn smol_http1_client() {
    http1_client::<Smol>();
}

#[test]
#[ignore = "needs nginx: scripts/interop-nginx.sh"]
fn blocking_http1_client() {
    use wirestate_blocking::{Client, RequestBody};
    let a = env("NGINX_H1");
    let url = |path: &str| format!("http://{a}{path}");
    let client = Client::new(Default::default());
    for i in 0..12 {
        let res = client.get(&url("/index.html")).unwrap();
        assert_eq!(res.status(), 200, "{i}");
        assert_eq!(&res.into_body().collect(64).unwrap()[..], b"hello\n");
    }
    for method in ["GET", "PUT", "POST", "DELETE"] {
        std::thread::sleep(Duration::from_millis(2500));
        let req = http::Request::builder()
            .method(method)
            .uri(url("/echo"))
            .body(RequestBody::full("abc"))
            .unwrap();
        let res = client
            .request(req)
            .unwrap_or_else(|e| panic!("blocking: {method} after idle: {e}"));
        assert_eq!(&res.into_body().collect(64).unwrap()[..], b"ok\n");
    }
    let req = http::Request::head(url("/big"))
        .body(RequestBody::empty())
        .unwrap();
    let res = client.request(req).unwrap();
    assert!(res.into_body().collect(16).unwrap().is_empty());
    let res = client.get(&url("/204")).unwrap();
    assert_eq!(res.status(), 204);
    assert!(res.into_body().collect(16).unwrap().is_empty());
    let res = client.get(&url("/big")).unwrap();
    assert_eq!(res.into_body().collect(2 * BIG).unwrap().len(), BIG);
    let req = http::Request::post(url("/echo"))
        .header("expect", "100-continue")
        .body(RequestBody::full(payload(5 << 20)))
        .unwrap();
    let res = client.request(req).unwrap();
    assert_eq!(res.status(), 200);
    let _ = res.into_body().collect(64).unwrap();
    let req = http::Request::post(url("/echo"))
        .body(RequestBody::full(payload(30 << 20)))
        .unwrap();
    let res = client.request(req).unwrap();
    assert_eq!(res.status(), 413);
    let _ = res.into_body().collect(1 << 20);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                let res = client.get(&url("/big")).unwrap();
                assert_eq!(res.into_body().collect(2 * BIG).unwrap().len(), BIG);
            });
        }
    });
}

/// `n` concurrent GETs on one fresh h2c connection (every 50th a 10 MB
/// download): each the status and body length, or the error and whether
/// the request was unsent.
async fn h2_burst<R: Runtime>(rt: R, addr: &str, n: usize) -> Vec<Result<usize, bool>> {
    let io = rt.connect(addr.parse().unwrap()).await.unwrap();
    let (send, driver) = wirestate_rt::h2::handshake(rt.clone(), io, Default::default());
    rt.spawn(Box::pin(async move {
        let _ = driver.await;
    }));
    let requests: Vec<_> = (0..n)
        .map(|i| {
            let send = send.clone();
            let path = if i % 50 == 0 { "/big" } else { "/index.html" };
            let req = http::Request::get(format!("http://{addr}{path}"))
                .body(Body::empty())
                .unwrap();
            async move {
                let res = send.send(req).await.map_err(|e| e.is_unsent())?;
                let body = res.into_body().collect(2 * BIG).await.map_err(|_| false)?;
                Ok(body.len())
            }
        })
        .collect();
    futures_util::future::join_all(requests).await
}

/// More streams at once than nginx's http2_max_concurrent_streams (128),
/// sent before its SETTINGS arrive: all answered.
fn h2_concurrency<T: TestRuntime>() {
    let a = env("NGINX_H2");
    let results = T::block_on(h2_burst(T::rt(), &a, 300));
    let failed = results.iter().filter(|r| r.is_err()).count();
    assert_eq!(failed, 0, "{}: {failed} of 300 failed", T::NAME);
}

/// keepalive_requests 50: nginx sends GOAWAY after the 50th stream; the
/// ones past it fail as unsent (safe to retry elsewhere), none fails
/// half-way.
fn h2_goaway<T: TestRuntime>() {
    let a = env("NGINX_H2_LIMITED");
    let results = T::block_on(h2_burst(T::rt(), &a, 60));
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let unsent = results.iter().filter(|r| **r == Err(true)).count();
    assert_eq!((ok, unsent), (50, 10), "{}: {results:?}", T::NAME);
}

/// A graceful reload (SIGHUP) while four downloads are in flight: they
/// all complete, and the connection then refuses new requests as unsent.
fn h2_reload<T: TestRuntime>() {
    let a = env("NGINX_H2");
    let pid = env("NGINX_PID");
    T::block_on(async {
        let rt = T::rt();
        let io = rt.connect(a.parse().unwrap()).await.unwrap();
        let (send, driver) = wirestate_rt::h2::handshake(rt.clone(), io, Default::default());
        rt.spawn(Box::pin(async move {
            let _ = driver.await;
        }));
        let downloads: Vec<_> = (0..4)
            .map(|_| {
                let send = send.clone();
                let rt = rt.clone();
                let req = http::Request::get(format!("http://{a}/big"))
                    .body(Body::empty())
                    .unwrap();
                async move {
                    let mut body = send.send(req).await?.into_body();
                    let mut n = 0;
                    while let Some(chunk) = body.chunk().await {
                        n += chunk?.len();
                        // Slow readers: the reload lands mid-download.
                        wirestate_rt::sleep_until(&rt, rt.now() + Duration::from_micros(300)).await;
                    }
                    Ok::<usize, std::io::Error>(n)
                }
            })
            .collect();
        let reload = async {
            wirestate_rt::sleep_until(&rt, rt.now() + Duration::from_millis(200)).await;
            let status = std::process::Command::new("kill")
                .args(["-HUP", &pid])
                .status()
                .unwrap();
            assert!(status.success());
        };
        let started = Instant::now();
        let (results, ()) =
            futures_lite::future::zip(futures_util::future::join_all(downloads), reload).await;
        for r in results {
            assert_eq!(r.unwrap(), BIG, "{}", T::NAME);
        }
        assert!(
            started.elapsed() > Duration::from_millis(200),
            "reload too late"
        );
        assert!(send.go_away_reason().is_some(), "{}: no GOAWAY", T::NAME);
        let req = http::Request::get(format!("http://{a}/index.html"))
            .body(Body::empty())
            .unwrap();
        let err = send.send(req).await.unwrap_err();
        assert!(err.is_unsent(), "{}: {err}", T::NAME);
    });
}

macro_rules! h2_tests {
    ($m:ident, $T:ty) => {
        mod $m {
            use super::*;
            #[test]
            #[ignore = "needs nginx: scripts/interop-nginx.sh"]
            fn h2_concurrency() {
                super::h2_concurrency::<$T>();
            }
            #[test]
            #[ignore = "needs nginx: scripts/interop-nginx.sh"]
            fn h2_goaway() {
                super::h2_goaway::<$T>();
            }
            #[test]
            #[ignore = "needs nginx: scripts/interop-nginx.sh"]
            fn h2_reload() {
                super::h2_reload::<$T>();
            }
        }
    };
}

h2_tests!(tokio_h2, Tokio);
h2_tests!(smol_h2, Smol);

#[test]
#[ignore = "needs nginx: scripts/interop-nginx.sh"]
fn blocking_h2_concurrency_and_goaway() {
    let burst = |addr: &str, n: usize| -> Vec<Result<usize, String>> {
        let send = wirestate_blocking::h2::connect(addr).unwrap();
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .map(|i| {
                    let send = send.clone();
                    s.spawn(move || {
                        let path = if i % 50 == 0 { "/big" } else { "/index.html" };
                        let req = http::Request::get(format!("http://{addr}{path}"))
                            .body(wirestate_blocking::RequestBody::empty())
                            .unwrap();
                        let res = send.send(req).map_err(|e| e.to_string())?;
                        let body = res
                            .into_body()
                            .collect(2 * BIG)
                            .map_err(|e| e.to_string())?;
                        Ok(body.len())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    };
    let results = burst(&env("NGINX_H2"), 200);
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    let results = burst(&env("NGINX_H2_LIMITED"), 60);
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        50,
        "{results:?}"
    );
}
