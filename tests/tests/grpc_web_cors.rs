//! CORS on the gRPC-Web path of `wirestate serve`'s handler, with raw
//! HTTP/1.1 requests as a browser sends them, on tokio and blocking: a
//! preflight from an allowed origin gets 204 and the Access-Control-Allow-*
//! headers, one from another origin 403 and none of them; an actual call
//! from an allowed origin gets Access-Control-Allow-Origin and
//! -Expose-Headers, one from another origin nothing; and without a policy
//! (the default) no CORS header at all.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;
use wirestate_grpc::cors::CorsPolicy;
use wirestate_proto::wirestate::echo::v1::EchoRequest;

const APP: &str = "https://app.example";

fn start_tokio(cors: Option<CorsPolicy>) -> (SocketAddr, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let addr = rt.block_on(async {
        let listener = wirestate_tokio::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = wirestate_rt::Listener::local_addr(&listener).unwrap();
        let grpc =
            wirestate_examples::grpc::server(wirestate_tokio::TokioRuntime, Default::default());
        let handler = wirestate_examples::routes::with_grpc_cors(
            grpc,
            wirestate_examples::routes::handle,
            cors,
        );
        tokio::spawn(wirestate_tokio::serve(
            listener,
            handler,
            wirestate_rt::http1::ServerConfig::default(),
            wirestate_rt::Shutdown::new(),
        ));
        addr
    });
    (addr, rt)
}

/// A blocking server; shut down (and joined) on drop.
struct Blocking {
    addr: SocketAddr,
    handle: wirestate_blocking::ServerHandle,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Drop for Blocking {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start_blocking(cors: Option<CorsPolicy>) -> Blocking {
    let server = wirestate_blocking::Server::bind(
        "127.0.0.1:0",
        wirestate_blocking::ServerConfig::default(),
    )
    .unwrap();
    let addr = server.local_addr().unwrap();
    let handle = server.handle();
    let grpc = wirestate_examples::grpc_blocking::server(Some(handle.clone()));
    let handler = wirestate_examples::grpc_blocking::with_grpc_cors(grpc, cors);
    let thread = Some(std::thread::spawn(move || server.serve(handler)));
    Blocking {
        addr,
        handle,
        thread,
    }
}

/// Sends one request (`connection: close`) and returns the status and the
/// lowercased head lines.
fn exchange(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, Vec<(String, String)>) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    let head = text.split("\r\n\r\n").next().unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers)
}

fn get<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn no_cors_headers(headers: &[(String, String)]) -> bool {
    !headers
        .iter()
        .any(|(n, _)| n.starts_with("access-control-"))
}

fn preflight(addr: SocketAddr, origin: &str) -> (u16, Vec<(String, String)>) {
    let head = format!(
        "OPTIONS /wirestate.echo.v1.Echo/Echo HTTP/1.1\r\nhost: t\r\norigin: {origin}\r\n\
         access-control-request-method: POST\r\n\
         access-control-request-headers: content-type,x-grpc-web,x-user-agent,x-trace-id\r\n\
         connection: close\r\n\r\n"
    );
    exchange(addr, &head, b"")
}

fn call(addr: SocketAddr, origin: Option<&str>) -> (u16, Vec<(String, String)>) {
    use prost::Message;
    let req = EchoRequest {
        message: "cors".into(),
        ..Default::default()
    }
    .encode_to_vec();
    let mut framed = vec![0, 0, 0, 0, req.len() as u8];
    framed.extend_from_slice(&req);
    let origin = origin.map_or(String::new(), |o| format!("origin: {o}\r\n"));
    let head = format!(
        "POST /wirestate.echo.v1.Echo/Echo HTTP/1.1\r\nhost: t\r\n{origin}\
         content-type: application/grpc-web+proto\r\nx-grpc-web: 1\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        framed.len()
    );
    exchange(addr, &head, &framed)
}

fn check_policy(addr: SocketAddr) {
    let (status, h) = preflight(addr, APP);
    assert_eq!(status, 204, "{h:?}");
    assert_eq!(get(&h, "access-control-allow-origin"), Some(APP));
    assert_eq!(get(&h, "access-control-allow-methods"), Some("POST"));
    let allowed = get(&h, "access-control-allow-headers").unwrap();
    for name in [
        "content-type",
        "x-grpc-web",
        "x-user-agent",
        "grpc-timeout",
        "x-trace-id",
    ] {
        assert!(
            allowed.split(", ").any(|a| a == name),
            "{name} in {allowed}"
        );
    }
    assert!(get(&h, "access-control-max-age").is_some());

    let (status, h) = preflight(addr, "https://evil.example");
    assert_eq!(status, 403);
    assert!(no_cors_headers(&h), "{h:?}");

    let (status, h) = call(addr, Some(APP));
    assert_eq!(status, 200, "{h:?}");
    assert_eq!(get(&h, "access-control-allow-origin"), Some(APP));
    let exposed = get(&h, "access-control-expose-headers").unwrap();
    for name in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
        assert!(
            exposed.split(", ").any(|a| a == name),
            "{name} in {exposed}"
        );
    }

    let (status, h) = call(addr, Some("https://evil.example"));
    assert_eq!(status, 200);
    assert!(no_cors_headers(&h), "{h:?}");
    let (status, h) = call(addr, None);
    assert_eq!(status, 200);
    assert!(no_cors_headers(&h), "{h:?}");
}

fn check_off(addr: SocketAddr) {
    let (status, h) = preflight(addr, APP);
    assert_ne!(status, 204);
    assert!(no_cors_headers(&h), "{h:?}");
    let (status, h) = call(addr, Some(APP));
    assert_eq!(status, 200);
    assert!(no_cors_headers(&h), "{h:?}");
}

#[test]
fn tokio_cors_policy() {
    let (addr, _rt) = start_tokio(Some(CorsPolicy::origins([APP])));
    check_policy(addr);
}

#[test]
fn tokio_cors_off_by_default() {
    let (addr, _rt) = start_tokio(None);
    check_off(addr);
}

#[test]
fn blocking_cors_policy() {
    let server = start_blocking(Some(CorsPolicy::origins([APP])));
    check_policy(server.addr);
}

#[test]
fn blocking_cors_off_by_default() {
    let server = start_blocking(None);
    check_off(server.addr);
}

#[test]
fn any_origin_answers_with_a_star() {
    let (addr, _rt) = start_tokio(Some(CorsPolicy::any_origin()));
    let (status, h) = preflight(addr, "https://whoever.example");
    assert_eq!(status, 204);
    assert_eq!(get(&h, "access-control-allow-origin"), Some("*"));
    let (_, h) = call(addr, Some("https://whoever.example"));
    assert_eq!(get(&h, "access-control-allow-origin"), Some("*"));
}
