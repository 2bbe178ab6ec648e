//! The demo server's routes:
//!
//! | request | response |
//! | --- | --- |
//! | `GET /`, `HEAD /` | 200 `hello` |
//! | `POST /echo` | 200 with the request body, streamed back as it arrives |
//! | `GET /stream?n=N`, `HEAD /stream?n=N` | 200 with N lines `line i\n`, streamed (chunked) |
//! | `GET /ws` | WebSocket upgrade; every message echoed as received (text as text, binary as binary), permessage-deflate accepted; 400/426 without a valid handshake |
//! | `POST`/`GET`/`DELETE /mcp` | the MCP server of [`crate::mcp`] over Streamable HTTP (tokio and smol; [`with_mcp`]) |
//! | `GET /sse`, `POST /messages?sessionId=…` | the same server over the 2024-11-05 HTTP+SSE transport ([`MCP_PATHS`]) |
//! | `content-type: application/grpc…` | the gRPC services of [`crate::grpc`] (gRPC over h2c, gRPC-Web over HTTP/1.1; tokio and smol; [`with_grpc`]) |
//! | `OPTIONS` on a path above, or `OPTIONS *` | 204 with `Allow` |
//! | another method on a path above | 405 with `Allow` (RFC 9110 §15.5.6) |
//! | anything else | 404 |

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use wirestate_blocking::{BlockingBody, ResponseBody};
use wirestate_rt::Body;

/// The most lines `/stream` produces.
pub const MAX_STREAM_LINES: u64 = 10_000_000;

/// What a request maps to, independent of the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /` or `HEAD /`.
    Hello,
    /// `POST /echo`.
    Echo,
    /// `GET /stream?n=N` or `HEAD /stream?n=N`.
    Stream(u64),
    /// `GET /ws`: the WebSocket echo.
    WebSocket,
    /// `/stream` with a bad `n`.
    BadRequest,
    /// `OPTIONS` on a known path (or `*`, the server as a whole): 204
    /// with these methods in `Allow`.
    Options(&'static str),
    /// A known path with a method it does not serve: 405 with these
    /// methods in `Allow`.
    MethodNotAllowed(&'static str),
    /// Anything else.
    NotFound,
}

/// The methods each demo path serves, for `Allow`.
fn allowed(path: &str) -> Option<&'static str> {
    Some(match path {
        "/" | "/stream" => "GET, HEAD, OPTIONS",
        "/echo" => "POST, OPTIONS",
        "/ws" => "GET, OPTIONS",
        // RFC 9110 §9.3.7: `OPTIONS *` asks about the server in general.
        "*" => "GET, HEAD, POST, OPTIONS",
        _ => return None,
    })
}

/// Routes a request head.
pub fn route(method: &Method, uri: &http::Uri) -> Route {
    match (method, uri.path()) {
        (&Method::GET | &Method::HEAD, "/") => Route::Hello,
        (&Method::POST, "/echo") => Route::Echo,
        (&Method::GET, "/ws") => Route::WebSocket,
        // HEAD as GET (RFC 9110 §9.3.2: the same header fields); the
        // server machine sends no body for it.
        (&Method::GET | &Method::HEAD, "/stream") => {
            let n = uri
                .query()
                .unwrap_or("")
                .split('&')
                .find_map(|kv| kv.strip_prefix("n="))
                .unwrap_or("10");
            match n.parse::<u64>() {
                Ok(n) if n <= MAX_STREAM_LINES => Route::Stream(n),
                _ => Route::BadRequest,
            }
        }
        (method, path) => match allowed(path) {
            Some(allow) if method == Method::OPTIONS => Route::Options(allow),
            Some(allow) => Route::MethodNotAllowed(allow),
            None => Route::NotFound,
        },
    }
}

/// The reply to [`Route::Options`] or [`Route::MethodNotAllowed`].
fn allow_reply<B: From<&'static str>>(status: StatusCode, allow: &'static str) -> Response<B> {
    let mut res = if status == StatusCode::NO_CONTENT {
        let mut res = Response::new(B::from(""));
        *res.status_mut() = status;
        res
    } else {
        text(status, "method not allowed\n")
    };
    res.headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static(allow));
    res
}

/// The `i`-th line of `/stream`.
pub fn stream_line(i: u64) -> Bytes {
    Bytes::from(format!("line {i}\n"))
}

/// The WebSocket settings of `/ws`: permessage-deflate accepted when
/// offered, default limits (16 MiB frames, 64 MiB messages).
pub fn ws_config() -> wirestate_rt::ws::Config {
    wirestate_rt::ws::Config::default().deflate(true)
}

/// The `/ws` echo: every message back as received, until the peer closes.
pub async fn ws_echo(mut socket: wirestate_rt::ws::WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        if socket.send(message).await.is_err() {
            break;
        }
    }
}

/// The blocking `/ws` echo, on the connection's thread.
pub fn ws_echo_blocking(socket: wirestate_blocking::ws::WebSocket) {
    while let Some(Ok(message)) = socket.recv() {
        if socket.send(message).is_err() {
            break;
        }
    }
}

/// The async handler used on tokio and smol.
pub async fn handle(req: Request<Body>) -> Response<Body> {
    match route(req.method(), req.uri()) {
        Route::Hello => text(StatusCode::OK, "hello"),
        Route::WebSocket => wirestate_rt::ws::upgrade(&req, &ws_config(), ws_echo),
        Route::Echo => {
            let mut res = Response::new(req.into_body());
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/octet-stream"),
            );
            res
        }
        Route::Stream(n) => {
            let lines = futures_lite::stream::iter((0..n).map(|i| Ok(stream_line(i))));
            let mut res = Response::new(Body::from_stream(lines));
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain"),
            );
            res
        }
        Route::BadRequest => text(
            StatusCode::BAD_REQUEST,
            "n must be a number up to 10000000\n",
        ),
        Route::Options(allow) => allow_reply(StatusCode::NO_CONTENT, allow),
        Route::MethodNotAllowed(allow) => allow_reply(StatusCode::METHOD_NOT_ALLOWED, allow),
        Route::NotFound => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// The paths the MCP endpoint serves: `/mcp` (Streamable HTTP, and
/// WebSocket upgrades), and `/sse` and `/messages`, the two paths of the
/// 2024-11-05 HTTP+SSE transport (which the endpoint's
/// [`HttpConfig::legacy_sse`](wirestate_mcp::HttpConfig::legacy_sse)
/// must name for them to be served).
pub const MCP_PATHS: [&str; 3] = ["/mcp", "/sse", "/messages"];

/// [`handle`] with the MCP endpoint mounted at [`MCP_PATHS`].
pub fn with_mcp<R: wirestate_rt::Runtime>(
    mcp: wirestate_rt::mcp::McpHttp<R>,
) -> impl wirestate_rt::http1::Handler {
    move |req: Request<Body>| {
        let mcp = mcp.clone();
        async move {
            if MCP_PATHS.contains(&req.uri().path()) {
                mcp.handle(req).await
            } else {
                handle(req).await
            }
        }
    }
}

/// `inner` with the gRPC services of [`crate::grpc`] in front: requests
/// whose content type is `application/grpc…` (gRPC and gRPC-Web), or whose
/// path is one of `grpc`'s methods, go to `grpc`, the rest to `inner`.
pub fn with_grpc<R: wirestate_rt::Runtime, H: wirestate_rt::http1::Handler>(
    grpc: wirestate_rt::grpc::Server<R>,
    inner: H,
) -> impl wirestate_rt::http1::Handler {
    with_grpc_cors(grpc, inner, None)
}

/// [`with_grpc`], with an optional CORS policy for browsers' gRPC-Web
/// calls (`wirestate serve --grpc-web-cors`): with one, CORS preflights
/// (`OPTIONS`) go to the gRPC server too, and are answered by the policy.
pub fn with_grpc_cors<R: wirestate_rt::Runtime, H: wirestate_rt::http1::Handler>(
    grpc: wirestate_rt::grpc::Server<R>,
    inner: H,
    cors: Option<wirestate_rt::grpc::CorsPolicy>,
) -> impl wirestate_rt::http1::Handler {
    use wirestate_rt::grpc::Cors;
    use wirestate_rt::http1::Handler as _;
    let cors = cors.map(|policy| Cors::new(policy, grpc.clone()));
    move |req: Request<Body>| {
        let grpc = grpc.clone();
        let cors = cors.clone();
        let inner = inner.clone();
        async move {
            // A method the gRPC server has is its to answer whatever the
            // content type: 415 (PROTOCOL-HTTP2.md) rather than the demo
            // routes' 404 for a gRPC path without application/grpc.
            let is_grpc = wirestate_rt::grpc::is_grpc(&req) || grpc.has_route(req.uri().path());
            // The MCP paths answer their own preflights (--mcp-cors).
            let preflight =
                Cors::<()>::is_preflight(&req) && !MCP_PATHS.contains(&req.uri().path());
            match cors {
                Some(cors) if is_grpc || preflight => cors.call(req).await,
                _ if is_grpc => grpc.call(req).await,
                _ => inner.call(req).await,
            }
        }
    }
}

/// The blocking handler used with `--runtime blocking`: the same routes,
/// with the request body read from the connection as it is echoed.
pub fn handle_blocking(req: Request<BlockingBody>) -> Response<ResponseBody> {
    match route(req.method(), req.uri()) {
        Route::Hello => text(StatusCode::OK, "hello"),
        Route::WebSocket => {
            let config = wirestate_blocking::ws::Config::default().deflate(true);
            wirestate_blocking::ws::upgrade(&req, &config, ws_echo_blocking)
        }
        Route::Echo => {
            let mut res = Response::new(ResponseBody::from(req.into_body()));
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/octet-stream"),
            );
            res
        }
        Route::Stream(n) => {
            let lines = (0..n).map(|i| Ok(stream_line(i)));
            let mut res = Response::new(ResponseBody::from_chunks(lines));
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain"),
            );
            res
        }
        Route::BadRequest => text(
            StatusCode::BAD_REQUEST,
            "n must be a number up to 10000000\n",
        ),
        Route::Options(allow) => allow_reply(StatusCode::NO_CONTENT, allow),
        Route::MethodNotAllowed(allow) => allow_reply(StatusCode::METHOD_NOT_ALLOWED, allow),
        Route::NotFound => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn text<B: From<&'static str>>(status: StatusCode, body: &'static str) -> Response<B> {
    let mut res = Response::new(B::from(body));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let u = |s: &str| s.parse::<http::Uri>().unwrap();
        assert_eq!(route(&Method::GET, &u("/")), Route::Hello);
        assert_eq!(route(&Method::HEAD, &u("/")), Route::Hello);
        assert_eq!(route(&Method::POST, &u("/echo")), Route::Echo);
        assert_eq!(
            route(&Method::GET, &u("/echo")),
            Route::MethodNotAllowed("POST, OPTIONS")
        );
        assert_eq!(route(&Method::GET, &u("/ws")), Route::WebSocket);
        assert_eq!(
            route(&Method::POST, &u("/ws")),
            Route::MethodNotAllowed("GET, OPTIONS")
        );
        assert_eq!(
            route(&Method::DELETE, &u("/")),
            Route::MethodNotAllowed("GET, HEAD, OPTIONS")
        );
        assert_eq!(
            route(&Method::OPTIONS, &u("/stream")),
            Route::Options("GET, HEAD, OPTIONS")
        );
        assert_eq!(
            route(&Method::OPTIONS, &u("*")),
            Route::Options("GET, HEAD, POST, OPTIONS")
        );
        assert_eq!(
            route(&Method::GET, &u("*")),
            Route::MethodNotAllowed("GET, HEAD, POST, OPTIONS")
        );
        assert_eq!(route(&Method::OPTIONS, &u("/nope")), Route::NotFound);
        assert_eq!(route(&Method::GET, &u("/stream?n=3")), Route::Stream(3));
        assert_eq!(route(&Method::HEAD, &u("/stream?n=3")), Route::Stream(3));
        assert_eq!(route(&Method::GET, &u("/stream?x=1&n=0")), Route::Stream(0));
        assert_eq!(route(&Method::GET, &u("/stream?n=-1")), Route::BadRequest);
        assert_eq!(route(&Method::GET, &u("/nope")), Route::NotFound);
    }

    #[test]
    fn blocking_handler_serves_the_same_routes() {
        let call = |method: Method, uri: &str| {
            let req = Request::builder()
                .method(method)
                .uri(uri)
                .body(BlockingBody::empty())
                .unwrap();
            let (parts, mut body) = handle_blocking(req).into_parts();
            let mut out = Vec::new();
            while let Some(chunk) = body.next_chunk().unwrap() {
                out.extend_from_slice(&chunk);
            }
            (parts.status, String::from_utf8(out).unwrap())
        };
        assert_eq!(call(Method::GET, "/"), (StatusCode::OK, "hello".into()));
        assert_eq!(
            call(Method::GET, "/stream?n=3"),
            (StatusCode::OK, "line 0\nline 1\nline 2\n".into())
        );
        assert_eq!(call(Method::POST, "/echo"), (StatusCode::OK, String::new()));
        assert_eq!(call(Method::GET, "/stream?n=x").0, StatusCode::BAD_REQUEST);
        assert_eq!(call(Method::GET, "/nope").0, StatusCode::NOT_FOUND);
        assert_eq!(call(Method::PUT, "/echo").0, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            call(Method::OPTIONS, "/"),
            (StatusCode::NO_CONTENT, String::new())
        );
    }
}
