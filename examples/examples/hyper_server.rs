//! The demo routes of `wirestate serve`, served by hyper 1.x on tokio: the
//! peer the HTTP/1.1, HTTP/2 and TLS benchmarks compare against
//! (bench/http1.sh, bench/h2.sh, bench/tls.sh). With `h2` it serves HTTP/2
//! with prior knowledge (h2c) with hyper's default settings instead of
//! HTTP/1.1; with `tls CERT KEY` it serves HTTPS through tokio-rustls (what
//! hyper-rustls and axum-server use), HTTP/2 or HTTP/1.1 as ALPN agreed.
//!
//! ```sh
//! cargo run --release --example hyper_server -- 127.0.0.1:8082 [threads] [h2 | tls CERT KEY]
//! ```

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use std::convert::Infallible;
use std::net::SocketAddr;
use wirestate_examples::routes::{Route, route, stream_line};

type Out = BoxBody<Bytes, hyper::Error>;

fn full(b: &'static str) -> Out {
    Full::new(Bytes::from_static(b.as_bytes()))
        .map_err(|never: Infallible| match never {})
        .boxed()
}

async fn handle(req: Request<Incoming>) -> Result<Response<Out>, Infallible> {
    let mut content_type = "text/plain";
    let mut allow_header = None;
    let (status, body) = match route(req.method(), req.uri()) {
        Route::Hello => (StatusCode::OK, full("hello")),
        // Stream the request body straight back, as wirestate's echo does.
        Route::Echo => {
            content_type = "application/octet-stream";
            (StatusCode::OK, req.into_body().boxed())
        }
        Route::Stream(n) => {
            let frames = futures_lite::stream::iter(
                (0..n).map(|i| Ok::<_, hyper::Error>(Frame::data(stream_line(i)))),
            );
            (StatusCode::OK, BodyExt::boxed(StreamBody::new(frames)))
        }
        // The WebSocket route is wirestate's; this comparison server serves HTTP only.
        Route::WebSocket => (StatusCode::NOT_FOUND, full("not found\n")),
        Route::BadRequest => (StatusCode::BAD_REQUEST, full("bad n\n")),
        Route::Options(allow) => {
            allow_header = Some(allow);
            (StatusCode::NO_CONTENT, full(""))
        }
        Route::MethodNotAllowed(allow) => {
            allow_header = Some(allow);
            (StatusCode::METHOD_NOT_ALLOWED, full("method not allowed\n"))
        }
        Route::NotFound => (StatusCode::NOT_FOUND, full("not found\n")),
    };
    let mut res = Response::new(body);
    *res.status_mut() = status;
    if let Some(allow) = allow_header {
        res.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static(allow),
        );
    }
    // The same header wirestate's routes set, so both do the same work.
    res.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    Ok(res)
}

/// Serves one connection: HTTP/2 with hyper's defaults, or HTTP/1.1.
async fn serve<S>(stream: S, h2: bool)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io = hyper_util::rt::TokioIo::new(stream);
    let service = hyper::service::service_fn(handle);
    let _ = if h2 {
        hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .serve_connection(io, service)
            .await
    } else {
        hyper::server::conn::http1::Builder::new()
            .serve_connection(io, service)
            .await
    };
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:8082".into())
        .parse()
        .map_err(std::io::Error::other)?;
    let threads: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let mode = args.next();
    let h2 = mode.as_deref() == Some("h2");
    let tls = match mode.as_deref() {
        Some("tls") => {
            let (Some(cert), Some(key)) = (args.next(), args.next()) else {
                return Err(std::io::Error::other("tls needs CERT and KEY (PEM files)"));
            };
            let config = wirestate_rt::tls::server_config_from_pem_files(
                cert.as_ref(),
                key.as_ref(),
                wirestate_rt::tls::ALPN,
            )?;
            Some(tokio_rustls::TlsAcceptor::from(config))
        }
        _ => None,
    };
    let rt = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    };
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let proto = match (&tls, h2) {
            (Some(_), _) => "HTTPS (h2 or http/1.1 by ALPN)",
            (None, true) => "h2c",
            (None, false) => "HTTP/1.1",
        };
        eprintln!("hyper serving {proto} on {addr} on {threads} thread(s)");
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            match tls.clone() {
                Some(acceptor) => tokio::spawn(async move {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                        serve(stream, h2).await;
                    }
                }),
                None => tokio::spawn(serve(stream, h2)),
            };
        }
    })
}
