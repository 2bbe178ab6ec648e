//! TLS (`wirestate_rt::tls`) on tokio and smol: the HTTP/1.1 + HTTP/2
//! server behind a `TlsListener`, the pooled HTTPS client, HTTP/2 and gRPC
//! over `TlsIo` with ALPN, WebSocket over TLS, and the failures a client
//! must see (an unknown issuer, a wrong name) and a server must survive
//! (plaintext on its TLS port, a stalled handshake).

use bytes::Bytes;
use http::{Request, Uri};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;
use wirestate_proto::wirestate::echo::v1::{EchoMethod, EchoRequest, EchoResponse};
use wirestate_rt::grpc::{CallOptions, Channel};
use wirestate_rt::http1::{Client, ClientConfig, ServerConfig};
use wirestate_rt::tls::{self, TlsListener, rustls};
use wirestate_rt::{Body, Listener, Runtime, Shutdown};

/// A self-signed certificate for `localhost` and 127.0.0.1, and the roots
/// that trust it.
struct Identity {
    server: Arc<rustls::ServerConfig>,
    roots: rustls::RootCertStore,
}

fn identity() -> Identity {
    let key =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert: CertificateDer<'static> = key.cert.der().clone();
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.signing_key.serialize_der()));
    let server = tls::server_config(vec![cert.clone()], der, tls::ALPN).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    Identity { server, roots }
}

/// The demo routes, the MCP endpoint and the gRPC services, as `wirestate
/// serve` has them.
fn handler<R: Runtime>(rt: R, shutdown: Shutdown) -> impl wirestate_rt::http1::Handler {
    let mut mcp_config = wirestate_mcp::HttpConfig::default();
    mcp_config.hosts = wirestate_mcp::http::HostPolicy::Localhost { port: None };
    let mcp = wirestate_examples::mcp::server(false).http(rt.clone(), mcp_config);
    let grpc = wirestate_examples::grpc::server(rt, shutdown);
    wirestate_examples::routes::with_grpc(grpc, wirestate_examples::routes::with_mcp(mcp))
}

/// A runtime the scenarios run on: its listener, and a way to run a future.
trait Rt: Runtime {
    type L: Listener;
    fn get() -> Self;
    fn listen(l: TcpListener) -> Self::L;
    fn run<F: Future<Output = ()> + Send + 'static>(f: F);
}

impl Rt for wirestate_tokio::TokioRuntime {
    type L = wirestate_tokio::TokioListener;
    fn get() -> Self {
        wirestate_tokio::TokioRuntime
    }
    fn listen(l: TcpListener) -> Self::L {
        wirestate_tokio::TokioListener(tokio::net::TcpListener::from_std(l).unwrap())
    }
    fn run<F: Future<Output = ()> + Send + 'static>(f: F) {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }
}

impl Rt for wirestate_smol::SmolRuntime {
    type L = wirestate_smol::SmolListener;
    fn get() -> Self {
        wirestate_smol::SmolRuntime::new()
    }
    fn listen(l: TcpListener) -> Self::L {
        wirestate_smol::SmolListener(smol::Async::new(l).unwrap())
    }
    fn run<F: Future<Output = ()> + Send + 'static>(f: F) {
        smol::block_on(f)
    }
}

/// Starts an HTTPS server on `R` (spawned on the runtime the scenario runs
/// in); returns its address and the shutdown that ends it.
fn start<R: Rt>(id: &Identity) -> (SocketAddr, Shutdown) {
    start_with::<R>(id, ServerConfig::default())
}

fn start_with<R: Rt>(id: &Identity, config: ServerConfig) -> (SocketAddr, Shutdown) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let addr = l.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let rt = R::get();
    let listener = TlsListener::new(R::listen(l), id.server.clone());
    let h = handler(rt.clone(), shutdown.clone());
    let sd = shutdown.clone();
    rt.spawn(Box::pin(async move {
        wirestate_rt::http1::serve(R::get(), listener, h, config, sd)
            .await
            .unwrap();
    }));
    (addr, shutdown)
}

fn pattern(n: usize) -> Bytes {
    (0..n).map(|i| (i % 251) as u8).collect::<Vec<_>>().into()
}

/// The pooled client over HTTPS: a GET, a 1 MiB echo both ways (more than
/// rustls buffers at once), and the connection reused by a third request.
fn https_client<R: Rt>() {
    let id = identity();
    R::run(async move {
        let (addr, shutdown) = start::<R>(&id);
        let mut config = ClientConfig::default();
        config.tls = Some(tls::client_config(id.roots.clone(), &[tls::ALPN_HTTP1]));
        let client = Client::new(R::get(), config);
        for host in ["localhost", "127.0.0.1"] {
            let url = format!("https://{host}:{}/", addr.port());
            let res = client.get(&url).await.unwrap();
            assert_eq!(res.status(), 200);
            assert_eq!(
                &res.into_body().collect(1 << 20).await.unwrap()[..],
                b"hello"
            );
        }
        let big = pattern(1 << 20);
        let req = Request::post(format!("https://localhost:{}/echo", addr.port()))
            .body(Body::from(big.clone()))
            .unwrap();
        let res = client.request(req).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.into_body().collect(2 << 20).await.unwrap(), big);
        shutdown.trigger();
    });
}

/// HTTP/2 over TLS: ALPN agrees on `h2`, requests and a 1 MiB upload go
/// over one connection, and a gRPC channel on it calls the echo service.
fn h2_and_grpc<R: Rt>() {
    let id = identity();
    R::run(async move {
        let (addr, shutdown) = start::<R>(&id);
        let rt = R::get();
        let config = tls::client_config(id.roots.clone(), tls::ALPN);
        let io = tls::connect(&rt, addr, config, tls::server_name("localhost").unwrap())
            .await
            .unwrap();
        assert_eq!(io.alpn_protocol(), Some(tls::ALPN_H2));
        let (send, driver) = wirestate_rt::h2::handshake(rt.clone(), io, Default::default());
        rt.spawn(Box::pin(async move {
            let _ = driver.await;
        }));
        let uri: Uri = format!("https://localhost:{}/", addr.port())
            .parse()
            .unwrap();
        let res = send
            .send(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.version(), http::Version::HTTP_2);
        assert_eq!(
            &res.into_body().collect(1 << 20).await.unwrap()[..],
            b"hello"
        );
        let big = pattern(1 << 20);
        let uri: Uri = format!("https://localhost:{}/echo", addr.port())
            .parse()
            .unwrap();
        let res = send
            .send(Request::post(uri).body(Body::from(big.clone())).unwrap())
            .await
            .unwrap();
        assert_eq!(res.into_body().collect(2 << 20).await.unwrap(), big);

        let channel = Channel::new(rt, send, &format!("localhost:{}", addr.port())).unwrap();
        let request = EchoRequest {
            message: "over tls".into(),
            ..Default::default()
        };
        let reply = channel
            .unary::<_, EchoResponse>(EchoMethod::Echo.path(), &request, &CallOptions::default())
            .await
            .unwrap();
        assert_eq!(reply.message.message, "over tls");
        shutdown.trigger();
    });
}

/// A channel that dials its own connections over TLS
/// (`ChannelBuilder::tls`): calls succeed; a channel that does not trust
/// the server's certificate fails with UNAVAILABLE naming the cause, and
/// gRPC-Web with TLS is refused when built.
fn dialed_grpc_channel<R: Rt>() {
    let id = identity();
    R::run(async move {
        let (addr, shutdown) = start::<R>(&id);
        let config = tls::client_config(id.roots.clone(), &[tls::ALPN_H2]);
        let name = tls::server_name("localhost").unwrap();
        let channel = Channel::builder(R::get(), addr)
            .tls(config.clone(), name.clone())
            .connect()
            .await
            .unwrap();
        for i in 0..3 {
            let request = EchoRequest {
                message: format!("dialed {i}"),
                ..Default::default()
            };
            let reply = channel
                .unary::<_, EchoResponse>(
                    EchoMethod::Echo.path(),
                    &request,
                    &CallOptions::default(),
                )
                .await
                .unwrap();
            assert_eq!(reply.message.message, format!("dialed {i}"));
        }
        assert_eq!(channel.connections(), 1);

        let public = tls::client_config(tls::webpki_roots(), &[tls::ALPN_H2]);
        let refused = Channel::builder(R::get(), addr)
            .tls(public, name.clone())
            .connect()
            .await
            .unwrap_err();
        assert_eq!(refused.code, wirestate_rt::grpc::Code::Unavailable);
        assert!(refused.message.contains("UnknownIssuer"), "{refused:?}");

        let web = Channel::builder(R::get(), addr)
            .tls(config, name)
            .grpc_web(wirestate_rt::grpc::WebMode::Binary)
            .connect_lazy()
            .unwrap_err();
        assert_eq!(web.code, wirestate_rt::grpc::Code::InvalidArgument);
        shutdown.trigger();
    });
}

/// A WebSocket over TLS (`wss://`): the upgrade and a round trip of the
/// demo echo endpoint.
fn websocket<R: Rt>() {
    let id = identity();
    R::run(async move {
        let (addr, shutdown) = start::<R>(&id);
        let rt = R::get();
        let config = tls::client_config(id.roots.clone(), &[tls::ALPN_HTTP1]);
        let io = tls::connect(&rt, addr, config, tls::server_name("localhost").unwrap())
            .await
            .unwrap();
        assert_eq!(io.alpn_protocol(), Some(tls::ALPN_HTTP1));
        let uri: Uri = format!("wss://localhost:{}/ws", addr.port())
            .parse()
            .unwrap();
        let (mut ws, conn) = wirestate_rt::ws::client(rt.clone(), io, uri, Default::default())
            .await
            .unwrap();
        rt.spawn(Box::pin(async move {
            let _ = conn.await;
        }));
        ws.send("through tls").await.unwrap();
        match ws.recv().await {
            Some(Ok(wirestate_rt::ws::Message::Text(t))) => assert_eq!(t.as_str(), "through tls"),
            other => panic!("expected the echo, got {other:?}"),
        }
        shutdown.trigger();
    });
}

/// `ws::connect_with_tls` takes a `wss://` URL as `ws::connect` takes
/// `ws://`, and the MCP client speaks Streamable HTTP over `https://` and
/// WebSocket over `wss://`.
fn secure_urls<R: Rt>() {
    let id = identity();
    R::run(async move {
        let (addr, shutdown) = start::<R>(&id);
        let rt = R::get();
        let tls = tls::client_config(id.roots.clone(), &[tls::ALPN_HTTP1]);
        let url = format!("wss://localhost:{}/ws", addr.port());
        let (mut ws, conn) =
            wirestate_rt::ws::connect_with_tls(rt.clone(), &url, Default::default(), tls.clone())
                .await
                .unwrap();
        rt.spawn(Box::pin(async move {
            let _ = conn.await;
        }));
        ws.send(vec![1u8, 2, 3]).await.unwrap();
        match ws.recv().await {
            Some(Ok(wirestate_rt::ws::Message::Binary(b))) => assert_eq!(&b[..], [1, 2, 3]),
            other => panic!("expected the echo, got {other:?}"),
        }
        // ws::connect itself says what wss:// needs instead of failing later.
        let refused = wirestate_rt::ws::connect(rt.clone(), &url, Default::default()).await;
        assert!(matches!(
            refused,
            Err(wirestate_rt::ws::Error::InvalidUrl(_))
        ));

        for scheme in ["https", "wss"] {
            let mut config = wirestate_rt::mcp_client::McpClientConfig::default();
            config.tls = Some(tls.clone());
            let url = format!("{scheme}://localhost:{}/mcp", addr.port());
            let client = if scheme == "https" {
                wirestate_rt::mcp_client::McpClient::connect_http(rt.clone(), &url, config).await
            } else {
                wirestate_rt::mcp_client::McpClient::connect_websocket(rt.clone(), &url, config)
                    .await
            }
            .unwrap();
            let tools = client.list_tools(None).await.unwrap();
            assert!(tools.tools.iter().any(|t| t.name == "echo"), "{scheme}");
            client.close().await.unwrap();
        }
        shutdown.trigger();
    });
}

/// What a client must refuse: a certificate no trusted root signed, and
/// one for another name. Each is a handshake error naming the cause.
fn refused_certificates<R: Rt>() {
    let id = identity();
    R::run(async move {
        let (addr, shutdown) = start::<R>(&id);
        let rt = R::get();
        let public = tls::client_config(tls::webpki_roots(), tls::ALPN);
        let name = tls::server_name("localhost").unwrap();
        let err = tls::connect(&rt, addr, public, name).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err}");
        assert!(err.to_string().contains("UnknownIssuer"), "{err}");

        let ours = tls::client_config(id.roots.clone(), tls::ALPN);
        let other = tls::server_name("example.com").unwrap();
        let err = tls::connect(&rt, addr, ours.clone(), other)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not valid for name"), "{err}");

        // The pooled client reports it as a failed connect, not a panic.
        let mut config = ClientConfig::default();
        config.tls = Some(tls::client_config(tls::webpki_roots(), &[tls::ALPN_HTTP1]));
        let client = Client::new(R::get(), config);
        let url = format!("https://localhost:{}/", addr.port());
        assert!(client.get(&url).await.is_err());

        // The server is still serving.
        let name = tls::server_name("127.0.0.1").unwrap();
        assert!(tls::connect(&rt, addr, ours, name).await.is_ok());
        shutdown.trigger();
    });
}

/// Plaintext HTTP on the TLS port is not answered as HTTP: the server
/// sends a TLS alert (or nothing) and closes, and keeps serving others.
fn plaintext_on_tls_port<R: Rt>() {
    let id = identity();
    R::run(async move {
        let (addr, shutdown) = start::<R>(&id);
        let got = std::thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut got = Vec::new();
            let _ = s.read_to_end(&mut got);
            got
        });
        let got = loop {
            if got.is_finished() {
                break got.join().unwrap();
            }
            wirestate_rt::sleep_until(&R::get(), R::get().now() + Duration::from_millis(5)).await;
        };
        assert!(!got.starts_with(b"HTTP/"), "{got:?}");
        // A TLS alert record, if anything (content type 21).
        assert!(got.is_empty() || got[0] == 21, "{got:?}");
        let rt = R::get();
        let config = tls::client_config(id.roots.clone(), tls::ALPN);
        let name = tls::server_name("localhost").unwrap();
        assert!(tls::connect(&rt, addr, config, name).await.is_ok());
        shutdown.trigger();
    });
}

/// A client that starts a handshake and stalls holds its connection only
/// until the header read timeout, which counts from the accept.
fn stalled_handshake<R: Rt>() {
    let id = identity();
    R::run(async move {
        let mut config = ServerConfig::default();
        config.http1.header_read_timeout = Some(Duration::from_millis(300));
        let (addr, shutdown) = start_with::<R>(&id, config);
        let ended = std::thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            // The first bytes of a ClientHello record, then nothing.
            s.write_all(&[0x16, 0x03, 0x01, 0x02]).unwrap();
            let started = std::time::Instant::now();
            let mut got = Vec::new();
            let _ = s.read_to_end(&mut got);
            started.elapsed()
        });
        let waited = loop {
            if ended.is_finished() {
                break ended.join().unwrap();
            }
            wirestate_rt::sleep_until(&R::get(), R::get().now() + Duration::from_millis(5)).await;
        };
        assert!(waited < Duration::from_secs(5), "closed after {waited:?}");
        shutdown.trigger();
    });
}

macro_rules! on_both_runtimes {
    ($($scenario:ident),*) => {
        mod tokio_rt {
            $(#[test] fn $scenario() { super::$scenario::<wirestate_tokio::TokioRuntime>() })*
        }
        mod smol_rt {
            $(#[test] fn $scenario() { super::$scenario::<wirestate_smol::SmolRuntime>() })*
        }
    };
}

on_both_runtimes!(
    https_client,
    h2_and_grpc,
    dialed_grpc_channel,
    websocket,
    secure_urls,
    refused_certificates,
    plaintext_on_tls_port,
    stalled_handshake
);
