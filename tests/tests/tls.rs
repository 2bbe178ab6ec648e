//! TLS (`wirestate_rt::tls`) on tokio and smol: the HTTP/1.1 + HTTP/2
//! server behind a `TlsListener`, the pooled HTTPS client, HTTP/2 and gRPC
//! over `TlsIo` with ALPN, WebSocket over TLS, and the failures a client
//! must see (an unknown issuer, a wrong name) and a server must survive
//! (plaintext on its TLS port, a stalled handshake); mutual TLS (client
//! certificates required or optional, the peer's chain read in a custom
//! accept loop) on tokio, smol and blocking.

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
    identity_with(tls::ClientAuth::None).0
}

/// [`identity`] whose server asks clients for certificates as
/// `client_auth` says; also the server's own certificate and key.
fn identity_with(client_auth: tls::ClientAuth) -> (Identity, tls::Identity) {
    let key =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert: CertificateDer<'static> = key.cert.der().clone();
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.signing_key.serialize_der()));
    let own = tls::Identity {
        certs: vec![cert.clone()],
        key: der.clone_key(),
    };
    let server =
        tls::server_config_with_client_auth(vec![cert.clone()], der, client_auth, tls::ALPN)
            .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    (Identity { server, roots }, own)
}

/// A CA of its own (its certificate) and a client certificate it signed,
/// for client authentication, with CN `name`.
fn client_ca_and_cert(name: &str) -> (CertificateDer<'static>, tls::Identity) {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose,
    };
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, format!("{name} CA"));
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.distinguished_name.push(DnType::CommonName, name);
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = leaf.signed_by(&key, &*ca).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let identity = tls::Identity {
        certs: vec![cert.der().clone()],
        key,
    };
    (ca.der().clone(), identity)
}

/// Mutual TLS: a server (`id`) that requires client certificates signed
/// by a CA of its own, one with the same certificate that only asks for
/// them (`optional`), a client certificate that CA signed (`ours`), and
/// one a stranger CA signed (`stranger`).
struct Mutual {
    id: Identity,
    optional: Arc<rustls::ServerConfig>,
    ours: tls::Identity,
    stranger: tls::Identity,
}

fn mutual() -> Mutual {
    let (ca, ours) = client_ca_and_cert("client");
    let (_, stranger) = client_ca_and_cert("stranger");
    let mut client_roots = rustls::RootCertStore::empty();
    client_roots.add(ca).unwrap();
    let (id, own) = identity_with(tls::ClientAuth::Required(client_roots.clone()));
    let optional = tls::server_config_with_client_auth(
        own.certs,
        own.key,
        tls::ClientAuth::Optional(client_roots),
        tls::ALPN,
    )
    .unwrap();
    Mutual {
        id,
        optional,
        ours,
        stranger,
    }
}

impl Mutual {
    /// A client config trusting the server, offering `alpn`, presenting
    /// `who` (none: anonymous).
    fn client(&self, who: Option<&tls::Identity>, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        let roots = self.id.roots.clone();
        match who {
            None => tls::client_config(roots, alpn),
            Some(who) => {
                let who = tls::Identity {
                    certs: who.certs.clone(),
                    key: who.key.clone_key(),
                };
                tls::client_config_with_identity(roots, who, alpn).unwrap()
            }
        }
    }
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
/// the server's certificate fails with UNAVAILABLE naming the cause
/// (gRPC-Web over TLS: tests/grpc_web_tls.rs).
fn dialed_grpc_channel<R: Rt>() {
    let id = identity();
    R::run(async move {
        let (addr, shutdown) = start::<R>(&id);
        let config = tls::client_config(id.roots.clone(), &[tls::ALPN_H2]);
        let name = tls::server_name("localhost").unwrap();
        let channel = Channel::builder(R::get(), addr)
            .tls(config, name.clone())
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
        shutdown.trigger();
    });
}

/// The handler of a server that records the `:scheme` of every request
/// and answers it UNIMPLEMENTED (trailers-only): to see what a gRPC
/// client sends.
fn scheme_recorder(seen: Arc<std::sync::Mutex<Vec<String>>>) -> impl wirestate_rt::http1::Handler {
    move |req: Request<Body>| {
        let seen = seen.clone();
        async move {
            let scheme = req.uri().scheme_str().unwrap_or("").to_owned();
            seen.lock().unwrap().push(scheme);
            http::Response::builder()
                .header("content-type", "application/grpc")
                .header("grpc-status", "12")
                .body(Body::empty())
                .unwrap()
        }
    }
}

/// gRPC over TLS says so: `:scheme https` (the gRPC spec), from a channel
/// on a connection made by hand and from one that dials (tokio and smol
/// clients; the blocking one is checked in `blocking` below).
fn grpc_scheme_is_https<R: Rt>() {
    let id = identity();
    R::run(async move {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let shutdown = Shutdown::new();
        let listener = TlsListener::new(R::listen(l), id.server.clone());
        let h = scheme_recorder(seen.clone());
        let sd = shutdown.clone();
        let rt = R::get();
        rt.spawn(Box::pin(async move {
            wirestate_rt::http1::serve(R::get(), listener, h, ServerConfig::default(), sd)
                .await
                .unwrap();
        }));
        let config = tls::client_config(id.roots.clone(), &[tls::ALPN_H2]);
        let name = tls::server_name("localhost").unwrap();
        let request = EchoRequest::default();
        let opts = CallOptions::default();
        let io = tls::connect(&rt, addr, config.clone(), name.clone())
            .await
            .unwrap();
        let (send, driver) = wirestate_rt::h2::handshake(rt.clone(), io, Default::default());
        rt.spawn(Box::pin(async move {
            let _ = driver.await;
        }));
        assert!(send.is_secure());
        let fixed = Channel::new(rt.clone(), send, &format!("localhost:{}", addr.port())).unwrap();
        let dialed = Channel::builder(rt.clone(), addr)
            .tls(config, name)
            .connect()
            .await
            .unwrap();
        for channel in [fixed, dialed] {
            let err = channel
                .unary::<_, EchoResponse>(EchoMethod::Echo.path(), &request, &opts)
                .await
                .unwrap_err();
            assert_eq!(err.code, wirestate_rt::grpc::Code::Unimplemented);
        }
        assert_eq!(*seen.lock().unwrap(), ["https", "https"]);
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

/// A gRPC channel dialing over TLS to a server that takes the connection
/// and never answers the handshake gives up at its connect timeout, even
/// for a call without a deadline.
fn silent_server_times_out<R: Rt>() {
    let id = identity();
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    // Accepts and holds the connections, says nothing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept() {
            held.push(s);
            if held.len() > 4 {
                break;
            }
        }
        std::thread::sleep(Duration::from_secs(10));
    });
    R::run(async move {
        let config = tls::client_config(id.roots.clone(), &[tls::ALPN_H2]);
        let started = std::time::Instant::now();
        let err = Channel::builder(R::get(), addr)
            .tls(config, tls::server_name("localhost").unwrap())
            .connect_timeout(Duration::from_millis(300))
            .connect()
            .await
            .unwrap_err();
        assert_eq!(err.code, wirestate_rt::grpc::Code::Unavailable, "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
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

/// A one-shot TLS server (rustls over a std socket, on a thread): reads a
/// request head, answers with a close-delimited body, then ends the
/// stream with close_notify (`clean`) or drops the socket without it, as
/// a truncating attacker (or a careless server) would.
fn close_delimited_server(id: &Identity, clean: bool) -> (SocketAddr, std::thread::JoinHandle<()>) {
    use wirestate_blocking::Transport as _;
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let config = id.server.clone();
    let t = std::thread::spawn(move || {
        let (tcp, _) = l.accept().unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut s = wirestate_blocking::tls::TlsStream::server(tcp, config).unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "the client ended before its request");
            head.extend_from_slice(&buf[..n]);
        }
        s.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello, until the end")
            .unwrap();
        s.flush().unwrap();
        if clean {
            s.shutdown_write().unwrap();
        }
        // Dropped: the TCP stream ends (after close_notify, if clean).
    });
    (addr, t)
}

/// A close-delimited response body over TLS ends with the server's
/// close_notify; a TCP end without it may be a truncation, which the
/// client must report as an error rather than hand over a short body.
fn close_delimited_body<R: Rt>() {
    let id = identity();
    R::run(async move {
        let mut config = ClientConfig::default();
        config.tls = Some(tls::client_config(id.roots.clone(), &[tls::ALPN_HTTP1]));
        config.retry.retries = 0;
        let client = Client::new(R::get(), config);
        for clean in [true, false] {
            let (addr, server) = close_delimited_server(&id, clean);
            let url = format!("https://localhost:{}/", addr.port());
            let res = client.get(&url).await.unwrap();
            assert_eq!(res.status(), 200);
            let body = res.into_body().collect(1 << 20).await;
            if clean {
                assert_eq!(&body.unwrap()[..], b"hello, until the end");
            } else {
                let err = body.unwrap_err();
                assert!(err.to_string().contains("close_notify"), "{err}");
            }
            server.join().unwrap();
        }
    });
}

/// A client that sends its request, then half-closes (close_notify, then
/// the TCP write side) and reads the answer to the end: a clean TLS end
/// of input after a complete request, answered like a TCP half-close.
/// The expected answer comes back in full, ended by close_notify.
fn half_close_client(addr: SocketAddr, id: &Identity) -> Vec<u8> {
    use wirestate_blocking::Transport as _;
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let config = tls::client_config(id.roots.clone(), &[tls::ALPN_HTTP1]);
    let name = tls::server_name("localhost").unwrap();
    let mut s = wirestate_blocking::tls::TlsStream::client(tcp, config, name).unwrap();
    // Keep-alive: the server answers and waits for more, so the
    // half-close is what ends the connection (no race with its close).
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    s.shutdown_write().unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got)
        .expect("an end without close_notify");
    got
}

fn half_closed_request<R: Rt>() {
    let id = identity();
    R::run(async move {
        let (addr, shutdown) = start::<R>(&id);
        let got = std::thread::spawn(move || half_close_client(addr, &id));
        let got = loop {
            if got.is_finished() {
                break got.join().unwrap();
            }
            wirestate_rt::sleep_until(&R::get(), R::get().now() + Duration::from_millis(5)).await;
        };
        assert!(got.starts_with(b"HTTP/1.1 200"), "{got:?}");
        assert!(got.ends_with(b"hello"), "{got:?}");
        shutdown.trigger();
    });
}

/// Mutual TLS: with a certificate the server's client CA signed, the
/// pooled HTTPS client, a gRPC channel that dials over TLS and a wss://
/// WebSocket all get through.
fn mutual_tls<R: Rt>() {
    let m = mutual();
    R::run(async move {
        let (addr, shutdown) = start::<R>(&m.id);
        let rt = R::get();
        let mut config = ClientConfig::default();
        config.tls = Some(m.client(Some(&m.ours), &[tls::ALPN_HTTP1]));
        let client = Client::new(R::get(), config);
        let url = format!("https://localhost:{}/", addr.port());
        let res = client.get(&url).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(
            &res.into_body().collect(1 << 20).await.unwrap()[..],
            b"hello"
        );

        let channel = Channel::builder(R::get(), addr)
            .tls(
                m.client(Some(&m.ours), &[tls::ALPN_H2]),
                tls::server_name("localhost").unwrap(),
            )
            .connect()
            .await
            .unwrap();
        let request = EchoRequest {
            message: "mutual".into(),
            ..Default::default()
        };
        let reply = channel
            .unary::<_, EchoResponse>(EchoMethod::Echo.path(), &request, &CallOptions::default())
            .await
            .unwrap();
        assert_eq!(reply.message.message, "mutual");

        let url = format!("wss://localhost:{}/ws", addr.port());
        let ws_tls = m.client(Some(&m.ours), &[tls::ALPN_HTTP1]);
        let (mut ws, conn) =
            wirestate_rt::ws::connect_with_tls(rt.clone(), &url, Default::default(), ws_tls)
                .await
                .unwrap();
        rt.spawn(Box::pin(async move {
            let _ = conn.await;
        }));
        ws.send("mutual").await.unwrap();
        match ws.recv().await {
            Some(Ok(wirestate_rt::ws::Message::Text(t))) => assert_eq!(t.as_str(), "mutual"),
            other => panic!("expected the echo, got {other:?}"),
        }
        shutdown.trigger();
    });
}

/// A server that requires client certificates refuses a client without
/// one (TLS 1.3: the client's side of the handshake completes, then the
/// server's certificate_required alert fails its first read) and one
/// whose certificate another CA signed (an unknown_ca alert). A client
/// that sent its request right after its handshake may see a reset
/// instead of the alert (the server closes with the request unread), so
/// the alert is asserted on a bare TLS stream that sends nothing; the
/// pooled HTTPS client and a gRPC channel just fail. The server goes on
/// serving.
fn mutual_tls_refusals<R: Rt>() {
    let m = mutual();
    R::run(async move {
        let (addr, shutdown) = start::<R>(&m.id);
        let url = format!("https://localhost:{}/", addr.port());
        let name = tls::server_name("localhost").unwrap();
        for (who, alert) in [
            (None, "CertificateRequired"),
            (Some(&m.stranger), "UnknownCA"),
        ] {
            let rt = R::get();
            let config = m.client(who, &[tls::ALPN_HTTP1]);
            let mut io = tls::connect(&rt, addr, config, name.clone()).await.unwrap();
            let mut buf = [0u8; 64];
            let err = std::future::poll_fn(|cx| wirestate_rt::Io::poll_read(&mut io, cx, &mut buf))
                .await
                .unwrap_err();
            assert!(err.to_string().contains(alert), "{alert}: {err}");

            let mut config = ClientConfig::default();
            config.tls = Some(m.client(who, &[tls::ALPN_HTTP1]));
            config.retry.retries = 0;
            let client = Client::new(R::get(), config);
            assert!(client.get(&url).await.is_err(), "{alert}");

            let channel = Channel::builder(R::get(), addr)
                .tls(m.client(who, &[tls::ALPN_H2]), name.clone())
                .connect_timeout(Duration::from_secs(5))
                .connect_lazy()
                .unwrap();
            let err = channel
                .unary::<_, EchoResponse>(
                    EchoMethod::Echo.path(),
                    &EchoRequest::default(),
                    &CallOptions::default(),
                )
                .await
                .unwrap_err();
            assert_eq!(err.code, wirestate_rt::grpc::Code::Unavailable, "{err:?}");
        }
        let mut config = ClientConfig::default();
        config.tls = Some(m.client(Some(&m.ours), &[tls::ALPN_HTTP1]));
        let client = Client::new(R::get(), config);
        assert_eq!(client.get(&url).await.unwrap().status(), 200);
        shutdown.trigger();
    });
}

/// A handler that answers every request with `text`.
fn answer_with(text: &'static str) -> impl wirestate_rt::http1::Handler {
    move |_: Request<Body>| async move { http::Response::new(Body::from(text)) }
}

/// Optional client certificates, and the peer's verified chain read by a
/// custom accept loop (as the README shows): each connection's task runs
/// the handshake, reads `peer_certificates()`, then serves the connection
/// with a handler that knows who the client is. An anonymous client is
/// served as such, ours is recognised, a stranger's certificate fails the
/// server's handshake (this loop drops such a connection at once, with
/// the client's request unread, so the client may see a reset rather
/// than the alert: the refusal is asserted where it happens).
fn optional_client_certs<R: Rt>() {
    let m = mutual();
    R::run(async move {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap();
        let mut listener = R::listen(l);
        let shutdown = Shutdown::new();
        let rt = R::get();
        let (config, ours) = (m.optional.clone(), m.ours.certs[0].clone());
        let sd = shutdown.clone();
        let refusals = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let seen = refusals.clone();
        rt.spawn(Box::pin(async move {
            loop {
                let Ok((io, _)) = std::future::poll_fn(|cx| listener.poll_accept(cx)).await else {
                    break;
                };
                let (config, ours, sd) = (config.clone(), ours.clone(), sd.clone());
                let seen = seen.clone();
                R::get().spawn(Box::pin(async move {
                    let mut io = tls::TlsIo::server(io, config).unwrap();
                    if let Err(e) = io.handshake().await {
                        seen.lock().unwrap().push(e.to_string());
                        return;
                    }
                    let who = match io.connection().peer_certificates() {
                        None => "anonymous",
                        Some([first, ..]) if *first == ours => "ours",
                        Some(_) => "someone else",
                    };
                    let handler = answer_with(who);
                    let config = ServerConfig::default();
                    let conn =
                        wirestate_rt::http1::serve_connection(R::get(), io, handler, &config, sd);
                    let _ = conn.await;
                }));
            }
        }));
        let url = format!("https://localhost:{}/", addr.port());
        for (who, answer) in [
            (None, Some("anonymous")),
            (Some(&m.ours), Some("ours")),
            (Some(&m.stranger), None),
        ] {
            let mut config = ClientConfig::default();
            config.tls = Some(m.client(who, &[tls::ALPN_HTTP1]));
            config.retry.retries = 0;
            let client = Client::new(R::get(), config);
            let res = client.get(&url).await;
            match answer {
                Some(answer) => {
                    let body = res.unwrap().into_body().collect(1 << 10).await.unwrap();
                    assert_eq!(&body[..], answer.as_bytes());
                }
                None => {
                    assert!(res.is_err());
                    // The client may see the alert before the server's
                    // task records its side.
                    let until = R::get().now() + Duration::from_secs(5);
                    while refusals.lock().unwrap().is_empty() && R::get().now() < until {
                        let soon = R::get().now() + Duration::from_millis(5);
                        wirestate_rt::sleep_until(&R::get(), soon).await;
                    }
                    let refusals = refusals.lock().unwrap();
                    assert_eq!(refusals.len(), 1, "{refusals:?}");
                    assert!(refusals[0].contains("UnknownIssuer"), "{refusals:?}");
                }
            }
        }
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
    grpc_scheme_is_https,
    websocket,
    secure_urls,
    refused_certificates,
    plaintext_on_tls_port,
    stalled_handshake,
    silent_server_times_out,
    close_delimited_body,
    half_closed_request,
    mutual_tls,
    mutual_tls_refusals,
    optional_client_certs
);

/// The blocking runtime (`wirestate_blocking::tls`): its server with
/// `ServerConfig::tls`, its HTTPS client, HTTP/2 and gRPC over TLS, wss://,
/// against itself and against the tokio TLS server.
mod blocking {
    use super::{EchoMethod, EchoRequest, EchoResponse, Identity, identity, mutual, pattern};
    use http::Request;
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpStream};
    use std::time::{Duration, Instant};
    use wirestate_blocking::grpc::{CallOptions, Channel};
    use wirestate_blocking::tls;
    use wirestate_blocking::{
        Client, ClientConfig, RequestBody, Server, ServerConfig, ServerHandle,
    };
    use wirestate_rt::Runtime as _;

    /// The blocking server as `wirestate serve --runtime blocking` runs
    /// it (demo routes, /ws, /mcp, the gRPC services), over TLS.
    struct Running {
        addr: SocketAddr,
        handle: ServerHandle,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl Drop for Running {
        fn drop(&mut self) {
            self.handle.shutdown();
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    fn start(id: &Identity) -> Running {
        start_with(id, ServerConfig::default())
    }

    fn start_with(id: &Identity, mut config: ServerConfig) -> Running {
        config.tls = Some(id.server.clone());
        let server = Server::bind("127.0.0.1:0", config).unwrap();
        let addr = server.local_addr().unwrap();
        let handle = server.handle();
        let grpc = wirestate_examples::grpc_blocking::server(Some(handle.clone()));
        let mut mcp_config = wirestate_mcp::HttpConfig::default();
        mcp_config.hosts = wirestate_mcp::http::HostPolicy::Localhost { port: None };
        let mcp = wirestate_examples::mcp_blocking::server(false).http(mcp_config);
        let h = wirestate_examples::mcp_blocking::with_mcp(
            mcp,
            wirestate_examples::grpc_blocking::with_grpc(grpc),
        );
        let thread = std::thread::spawn(move || server.serve(h).unwrap());
        Running {
            addr,
            handle,
            thread: Some(thread),
        }
    }

    fn client(id: &Identity) -> Client {
        let mut config = ClientConfig::default();
        config.tls = Some(tls::client_config(id.roots.clone(), &[tls::ALPN_HTTP1]));
        Client::new(config)
    }

    fn get_text(client: &Client, url: &str) -> String {
        let mut res = client.get(url).unwrap();
        assert_eq!(res.status(), 200);
        let mut text = String::new();
        res.body_mut().read_to_string(&mut text).unwrap();
        text
    }

    /// A close-delimited body: whole after close_notify, an error (naming
    /// the missing close_notify) after a bare TCP end.
    #[test]
    fn close_delimited_body() {
        let id = identity();
        let mut config = ClientConfig::default();
        config.tls = Some(tls::client_config(id.roots.clone(), &[tls::ALPN_HTTP1]));
        config.retry.retries = 0;
        let client = Client::new(config);
        for clean in [true, false] {
            let (addr, server) = super::close_delimited_server(&id, clean);
            let mut res = client
                .get(&format!("https://localhost:{}/", addr.port()))
                .unwrap();
            assert_eq!(res.status(), 200);
            let mut got = Vec::new();
            let read = res.body_mut().read_to_end(&mut got);
            if clean {
                read.unwrap();
                assert_eq!(got, b"hello, until the end");
            } else {
                let err = read.unwrap_err();
                assert!(err.to_string().contains("close_notify"), "{err}");
            }
            server.join().unwrap();
        }
    }

    /// A request followed by a clean half-close (close_notify) is
    /// answered in full.
    #[test]
    fn half_closed_request() {
        let id = identity();
        let server = start(&id);
        let got = super::half_close_client(server.addr, &id);
        assert!(got.starts_with(b"HTTP/1.1 200"), "{got:?}");
        assert!(got.ends_with(b"hello"), "{got:?}");
    }

    /// Over TLS too, an answer the server sent before reading the whole
    /// body (a 413, then close_notify, then a reset for the unread rest)
    /// is not lost to the failed upload: the records rustls still holds
    /// for the dead write side must not stop the reads.
    #[test]
    fn an_answer_before_the_body_is_read_is_not_lost() {
        use wirestate_blocking::Transport as _;
        let id = identity();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let config = id.server.clone();
        let server = std::thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut s = tls::TlsStream::server(tcp, config).unwrap();
            s.handshake(None).unwrap();
            let mut buf = [0u8; 16 << 10];
            let _ = s.read(&mut buf);
            let _ = s.write_all(
                b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 9\r\nconnection: close\r\n\r\ntoo large",
            );
            let _ = s.shutdown_write();
            std::thread::sleep(Duration::from_millis(200));
            // Dropped with the body unread: RST.
        });
        let mut config = ClientConfig::default();
        config.tls = Some(tls::client_config(id.roots.clone(), &[tls::ALPN_HTTP1]));
        config.retry.retries = 0;
        let client = Client::new(config);
        let req = Request::post(format!("https://localhost:{}/upload", addr.port()))
            .body(RequestBody::full(vec![7u8; 8 << 20]))
            .unwrap();
        let mut res = client
            .request(req)
            .expect("the server's 413, not a write error");
        assert_eq!(res.status(), 413);
        let mut body = Vec::new();
        res.body_mut().read_to_end(&mut body).unwrap();
        assert_eq!(body, b"too large");
        server.join().unwrap();
    }

    /// The pooled client over HTTPS against the blocking server: a GET by
    /// name and by IP, a 1 MiB echo both ways, the connection reused.
    #[test]
    fn https_client_and_server() {
        let id = identity();
        let server = start(&id);
        let client = client(&id);
        for host in ["localhost", "127.0.0.1"] {
            let url = format!("https://{host}:{}/", server.addr.port());
            assert_eq!(get_text(&client, &url), "hello");
        }
        assert_eq!(client.idle_connections(), 2);
        let big = pattern(1 << 20);
        let req = Request::post(format!("https://localhost:{}/echo", server.addr.port()))
            .body(RequestBody::from(big.to_vec()))
            .unwrap();
        let mut res = client.request(req).unwrap();
        assert_eq!(res.status(), 200);
        let mut got = Vec::new();
        res.body_mut().read_to_end(&mut got).unwrap();
        assert_eq!(got, big);
        // `http://` on the TLS port fails; the server goes on serving.
        assert!(
            Client::default()
                .get(&format!("http://127.0.0.1:{}/", server.addr.port()))
                .is_err()
        );
        assert_eq!(
            get_text(
                &client,
                &format!("https://localhost:{}/", server.addr.port())
            ),
            "hello"
        );
    }

    /// The blocking HTTPS client against the tokio TLS server.
    #[test]
    fn https_client_against_tokio() {
        let id = identity();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (addr, shutdown) = {
            let _guard = rt.enter();
            super::start::<wirestate_tokio::TokioRuntime>(&id)
        };
        let client = client(&id);
        let url = format!("https://localhost:{}/", addr.port());
        assert_eq!(get_text(&client, &url), "hello");
        let big = pattern(256 * 1024);
        let req = Request::post(format!("https://localhost:{}/echo", addr.port()))
            .body(RequestBody::from(big.to_vec()))
            .unwrap();
        let mut got = Vec::new();
        client
            .request(req)
            .unwrap()
            .body_mut()
            .read_to_end(&mut got)
            .unwrap();
        assert_eq!(got, big);
        shutdown.trigger();
    }

    /// HTTP/2 over TLS on the blocking server: ALPN agrees on `h2`, a GET
    /// and a 1 MiB upload on one connection, and a gRPC channel dialing
    /// over TLS calls the echo service (also from the tokio client).
    #[test]
    fn h2_and_grpc() {
        let id = identity();
        let server = start(&id);
        let port = server.addr.port();
        let config = tls::client_config(id.roots.clone(), tls::ALPN);
        let name = tls::server_name("localhost").unwrap();
        let send = wirestate_blocking::h2::connect_tls(
            server.addr,
            Default::default(),
            config.clone(),
            name,
        )
        .unwrap();
        let req = Request::get(format!("https://localhost:{port}/"))
            .body(RequestBody::empty())
            .unwrap();
        let mut res = send.send(req).unwrap();
        assert_eq!(res.version(), http::Version::HTTP_2);
        let mut text = String::new();
        res.body_mut().read_to_string(&mut text).unwrap();
        assert_eq!(text, "hello");
        let big = pattern(1 << 20);
        let req = Request::post(format!("https://localhost:{port}/echo"))
            .body(RequestBody::from(big.to_vec()))
            .unwrap();
        let mut got = Vec::new();
        send.send(req)
            .unwrap()
            .body_mut()
            .read_to_end(&mut got)
            .unwrap();
        assert_eq!(got, big);

        let h2_only = tls::client_config(id.roots.clone(), &[tls::ALPN_H2]);
        let channel = Channel::builder(&format!("localhost:{port}"))
            .tls(h2_only.clone(), tls::server_name("localhost").unwrap())
            .connect()
            .unwrap();
        let request = EchoRequest {
            message: "over tls".into(),
            ..Default::default()
        };
        let reply = channel
            .unary::<_, EchoResponse>(EchoMethod::Echo.path(), &request, &CallOptions::default())
            .unwrap();
        assert_eq!(reply.message.message, "over tls");

        // handshake_tls runs the TLS handshake itself when it was not.
        let tcp = TcpStream::connect(server.addr).unwrap();
        let fresh =
            tls::TlsStream::client(tcp, config.clone(), tls::server_name("127.0.0.1").unwrap())
                .unwrap();
        let send2 = wirestate_blocking::h2::handshake_tls(fresh, Default::default()).unwrap();
        let req = Request::get(format!("https://127.0.0.1:{port}/"))
            .body(RequestBody::empty())
            .unwrap();
        let mut text = String::new();
        send2
            .send(req)
            .unwrap()
            .body_mut()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "hello");

        // A server that offers no `h2` is refused by the channel.
        let no_h2 = tls::client_config(id.roots.clone(), &[tls::ALPN_HTTP1]);
        let err = wirestate_blocking::h2::connect_tls(
            server.addr,
            Default::default(),
            no_h2,
            tls::server_name("localhost").unwrap(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("ALPN"), "{err}");

        // The tokio gRPC client against the blocking TLS server.
        let addr = server.addr;
        let roots = id.roots.clone();
        <wirestate_tokio::TokioRuntime as super::Rt>::run(async move {
            let rt = wirestate_tokio::TokioRuntime;
            let config = tls::client_config(roots, tls::ALPN);
            let io = wirestate_rt::tls::connect(
                &rt,
                addr,
                config,
                tls::server_name("localhost").unwrap(),
            )
            .await
            .unwrap();
            assert_eq!(io.alpn_protocol(), Some(tls::ALPN_H2));
            let (send, driver) = wirestate_rt::h2::handshake(rt, io, Default::default());
            rt.spawn(Box::pin(async move {
                let _ = driver.await;
            }));
            let channel =
                wirestate_rt::grpc::Channel::new(rt, send, &format!("localhost:{}", addr.port()))
                    .unwrap();
            let request = EchoRequest {
                message: "tokio to blocking".into(),
                ..Default::default()
            };
            let reply = channel
                .unary::<_, EchoResponse>(
                    EchoMethod::Echo.path(),
                    &request,
                    &wirestate_rt::grpc::CallOptions::default(),
                )
                .await
                .unwrap();
            assert_eq!(reply.message.message, "tokio to blocking");
        });
    }

    /// wss:// to the blocking server's /ws echo, with the blocking client.
    #[test]
    fn websocket() {
        let id = identity();
        let server = start(&id);
        let config = tls::client_config(id.roots.clone(), &[tls::ALPN_HTTP1]);
        let url = format!("wss://localhost:{}/ws", server.addr.port());
        let ws =
            wirestate_blocking::ws::connect_with_tls(&url, Default::default(), config).unwrap();
        ws.send("through tls").unwrap();
        match ws.recv() {
            Some(Ok(wirestate_blocking::ws::Message::Text(t))) => {
                assert_eq!(t.as_str(), "through tls")
            }
            other => panic!("expected the echo, got {other:?}"),
        }
        let big = vec![7u8; 200_000];
        ws.send(big.clone()).unwrap();
        match ws.recv() {
            Some(Ok(wirestate_blocking::ws::Message::Binary(b))) => assert_eq!(&b[..], &big[..]),
            other => panic!("expected the echo, got {other:?}"),
        }
        ws.close(1000, "").unwrap();
        assert!(ws.recv().is_none());
        // ws::connect says what wss:// needs.
        assert!(matches!(
            wirestate_blocking::ws::connect(&url),
            Err(wirestate_blocking::ws::Error::InvalidUrl(_))
        ));
    }

    /// The blocking MCP client over `https://` (Streamable HTTP) and
    /// `wss://` (WebSocket) against the blocking server.
    #[test]
    fn mcp_over_tls() {
        use wirestate_blocking::mcp_client::{McpClient, McpClientConfig};
        let id = identity();
        let server = start(&id);
        for scheme in ["https", "wss"] {
            let mut config = McpClientConfig::default();
            config.tls = Some(tls::client_config(id.roots.clone(), &[tls::ALPN_HTTP1]));
            let url = format!("{scheme}://localhost:{}/mcp", server.addr.port());
            let client = if scheme == "https" {
                McpClient::http(&url, config)
            } else {
                McpClient::websocket(&url, config)
            }
            .unwrap();
            let tools = client.list_tools(None).unwrap();
            assert!(tools.tools.iter().any(|t| t.name == "echo"), "{scheme}");
            client.close().unwrap();
        }
    }

    /// A certificate no trusted root signed, or for another name, is
    /// refused by the blocking clients; the server goes on serving.
    #[test]
    fn refused_certificates() {
        let id = identity();
        let server = start(&id);
        let url = format!("https://localhost:{}/", server.addr.port());
        let mut config = ClientConfig::default();
        config.retry.retries = 0;
        let public = Client::new(config);
        let err = public.get(&url).unwrap_err();
        assert!(err.to_string().contains("UnknownIssuer"), "{err}");

        let tcp = TcpStream::connect(server.addr).unwrap();
        let ours = tls::client_config(id.roots.clone(), tls::ALPN);
        let mut s =
            tls::TlsStream::client(tcp, ours, tls::server_name("example.com").unwrap()).unwrap();
        let err = s.handshake(None).unwrap_err();
        assert!(err.to_string().contains("not valid for name"), "{err}");

        assert_eq!(get_text(&client(&id), &url), "hello");

        // A graceful shutdown does not wait for a handshake that stalls
        // (the header-read timeout is far off).
        let mut s = TcpStream::connect(server.addr).unwrap();
        s.write_all(&[0x16, 0x03, 0x01]).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let started = Instant::now();
        drop(server);
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    /// Plaintext HTTP on the TLS port: a TLS alert (or nothing), closed.
    #[test]
    fn plaintext_on_tls_port() {
        let id = identity();
        let server = start(&id);
        let mut s = TcpStream::connect(server.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        assert!(!got.starts_with(b"HTTP/"), "{got:?}");
        assert!(got.is_empty() || got[0] == 21, "{got:?}");
        let url = format!("https://localhost:{}/", server.addr.port());
        assert_eq!(get_text(&client(&id), &url), "hello");
    }

    /// A client that starts a handshake and stalls is closed by the
    /// header-read timeout, counted from the accept; so is one that sends
    /// nothing at all.
    #[test]
    fn stalled_handshake() {
        let id = identity();
        let mut config = ServerConfig::default();
        config.http1.header_read_timeout = Some(Duration::from_millis(300));
        let server = start_with(&id, config);
        for first in [&[0x16u8, 0x03, 0x01, 0x02][..], &[]] {
            let mut s = TcpStream::connect(server.addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(first).unwrap();
            let started = Instant::now();
            let mut got = Vec::new();
            let _ = s.read_to_end(&mut got);
            let waited = started.elapsed();
            assert!(waited < Duration::from_secs(5), "closed after {waited:?}");
        }
    }

    /// The blocking gRPC channel over TLS sends `:scheme https` too
    /// (against a tokio TLS server that records it).
    #[test]
    fn grpc_scheme_is_https() {
        let id = identity();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let shutdown = wirestate_rt::Shutdown::new();
        {
            let _in = rt.enter();
            let listener = wirestate_rt::tls::TlsListener::new(
                wirestate_tokio::TokioListener(tokio::net::TcpListener::from_std(l).unwrap()),
                id.server.clone(),
            );
            let h = super::scheme_recorder(seen.clone());
            let config = wirestate_rt::http1::ServerConfig::default();
            rt.spawn(wirestate_rt::http1::serve(
                wirestate_tokio::TokioRuntime,
                listener,
                h,
                config,
                shutdown.clone(),
            ));
        }
        let h2_only = tls::client_config(id.roots.clone(), &[tls::ALPN_H2]);
        let channel = Channel::builder(&format!("localhost:{port}"))
            .tls(h2_only, tls::server_name("localhost").unwrap())
            .connect()
            .unwrap();
        let err = channel
            .unary::<_, EchoResponse>(
                EchoMethod::Echo.path(),
                &EchoRequest::default(),
                &CallOptions::default(),
            )
            .unwrap_err();
        assert_eq!(err.code, wirestate_blocking::grpc::Code::Unimplemented);
        assert_eq!(*seen.lock().unwrap(), ["https"]);
        shutdown.trigger();
    }

    /// A socket in memory whose writes take at most `budget` bytes before
    /// they time out (`WouldBlock`, as a blocking socket's write timeout
    /// does), and whose reads give what the test put in `input`.
    #[derive(Default)]
    struct Socket {
        out: Vec<u8>,
        input: std::collections::VecDeque<u8>,
        budget: usize,
    }

    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<std::sync::Mutex<Socket>>);

    impl Read for Shared {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let mut s = self.0.lock().unwrap();
            if s.input.is_empty() {
                return Err(std::io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(s.input.len());
            for (slot, b) in buf.iter_mut().zip(s.input.drain(..n)) {
                *slot = b;
            }
            Ok(n)
        }
    }

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut s = self.0.lock().unwrap();
            let n = buf.len().min(s.budget);
            if n == 0 {
                return Err(std::io::ErrorKind::WouldBlock.into());
            }
            s.budget -= n;
            s.out.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Moves what one side wrote to the other side's rustls.
    fn to_server(sock: &Shared, server: &mut tls::rustls::ServerConnection) -> Vec<u8> {
        let bytes = std::mem::take(&mut sock.0.lock().unwrap().out);
        let mut slice = &bytes[..];
        let mut plain = Vec::new();
        while !slice.is_empty() {
            server.read_tls(&mut slice).unwrap();
            server.process_new_packets().unwrap();
            // WouldBlock once rustls holds no more plaintext.
            let _ = server.reader().read_to_end(&mut plain);
        }
        plain
    }

    /// A write that times out after rustls took (and encrypted) the data
    /// reports it written; the records left go out first on the next
    /// write, which takes nothing new if they time out again. The peer
    /// gets every byte once, in order: nothing lost, nothing twice.
    #[test]
    fn write_timeouts_neither_lose_nor_repeat_data() {
        let id = identity();
        let sock = Shared::default();
        sock.0.lock().unwrap().budget = usize::MAX;
        let config = tls::client_config(id.roots.clone(), &[tls::ALPN_HTTP1]);
        let name = tls::server_name("localhost").unwrap();
        let mut client = tls::TlsStream::client(sock.clone(), config, name).unwrap();
        let mut server = tls::rustls::ServerConnection::new(id.server.clone()).unwrap();
        // The handshake, pumped by hand: each read sends what the client
        // has and finds nothing (WouldBlock) until the server answered.
        for _ in 0..10 {
            if !client.connection().is_handshaking() && !server.is_handshaking() {
                break;
            }
            let _ = client.read(&mut [0u8; 64]);
            to_server(&sock, &mut server);
            let mut answer = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut answer).unwrap();
            }
            sock.0.lock().unwrap().input.extend(answer);
        }
        assert!(!client.connection().is_handshaking() && !server.is_handshaking());
        let _ = to_server(&sock, &mut server);

        let first = pattern(50_000);
        let second = pattern(30_000).slice(7..);
        sock.0.lock().unwrap().budget = 1000;
        let taken = client.write(&first).unwrap();
        assert!(taken > 1000, "rustls took more than the socket did");
        // The records of the first write still block the socket.
        let err = client.write(&second).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
        sock.0.lock().unwrap().budget = usize::MAX;
        let mut sent = first[..taken].to_vec();
        let mut rest = &second[..];
        while !rest.is_empty() {
            let n = client.write(rest).unwrap();
            sent.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
        }
        client.flush().unwrap();
        let got = to_server(&sock, &mut server);
        assert_eq!(got.len(), sent.len());
        assert!(got == sent, "the peer got other bytes than were written");
    }

    /// A `wss` server whose application returns at once, and a client
    /// that never answers the close frame: after the close timeout the
    /// server ends the stream, with close_notify first, so the client
    /// reads a clean end rather than a possible truncation.
    #[test]
    fn websocket_close_without_echo_ends_with_close_notify() {
        use wirestate_blocking::{BlockingBody, ResponseBody, ws};
        let id = identity();
        let mut config = ServerConfig::default();
        config.tls = Some(id.server.clone());
        let server = Server::bind("127.0.0.1:0", config).unwrap();
        let addr = server.local_addr().unwrap();
        let handle = server.handle();
        let mut ws_config = ws::Config::default();
        ws_config.connection.close_timeout = Duration::from_millis(200);
        let thread = std::thread::spawn(move || {
            server
                .serve(
                    move |req: http::Request<BlockingBody>| -> http::Response<ResponseBody> {
                        ws::upgrade(&req, &ws_config, |_socket| {})
                    },
                )
                .unwrap()
        });
        let _running = Running {
            addr,
            handle,
            thread: Some(thread),
        };

        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let config = tls::client_config(id.roots.clone(), &[tls::ALPN_HTTP1]);
        let name = tls::server_name("localhost").unwrap();
        let mut s = tls::TlsStream::client(tcp, config, name).unwrap();
        s.write_all(
            b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
              Sec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
        s.flush().unwrap();
        let started = Instant::now();
        let mut got = Vec::new();
        let end = s.read_to_end(&mut got);
        assert!(got.starts_with(b"HTTP/1.1 101"), "{got:?}");
        // The close frame (opcode 8, from the server: unmasked) came.
        assert!(got.windows(2).any(|w| w == [0x88, 0x02]), "{got:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        end.expect("the server ended the stream without close_notify");
    }

    /// Mutual TLS on the blocking server and clients: with a certificate
    /// the client CA signed, HTTPS, a gRPC channel and wss:// get
    /// through; without one, or with a stranger's, the request fails
    /// naming the server's alert; the server goes on serving.
    #[test]
    fn mutual_tls() {
        let m = mutual();
        let server = start(&m.id);
        let port = server.addr.port();
        let url = format!("https://localhost:{port}/");
        let client_with = |who| {
            let mut config = ClientConfig::default();
            config.tls = Some(m.client(who, &[tls::ALPN_HTTP1]));
            config.retry.retries = 0;
            Client::new(config)
        };
        assert_eq!(get_text(&client_with(Some(&m.ours)), &url), "hello");
        for (who, alert) in [
            (None, "CertificateRequired"),
            (Some(&m.stranger), "UnknownCA"),
        ] {
            // A bare stream that sends nothing after its handshake reads
            // the server's alert (a request sent at once may meet a reset).
            let tcp = TcpStream::connect(server.addr).unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let config = m.client(who, &[tls::ALPN_HTTP1]);
            let mut s = tls::TlsStream::client(tcp, config, tls::server_name("localhost").unwrap())
                .unwrap();
            s.handshake(None).unwrap();
            let err = s.read(&mut [0u8; 64]).unwrap_err();
            assert!(err.to_string().contains(alert), "{alert}: {err}");

            assert!(client_with(who).get(&url).is_err(), "{alert}");
            let err = match Channel::builder(&format!("localhost:{port}"))
                .tls(
                    m.client(who, &[tls::ALPN_H2]),
                    tls::server_name("localhost").unwrap(),
                )
                .connect()
            {
                Err(e) => e,
                Ok(channel) => channel
                    .unary::<_, EchoResponse>(
                        EchoMethod::Echo.path(),
                        &EchoRequest::default(),
                        &CallOptions::default(),
                    )
                    .unwrap_err(),
            };
            assert_eq!(
                err.code,
                wirestate_blocking::grpc::Code::Unavailable,
                "{err:?}"
            );
        }

        let channel = Channel::builder(&format!("localhost:{port}"))
            .tls(
                m.client(Some(&m.ours), &[tls::ALPN_H2]),
                tls::server_name("localhost").unwrap(),
            )
            .connect()
            .unwrap();
        let request = EchoRequest {
            message: "mutual".into(),
            ..Default::default()
        };
        let reply = channel
            .unary::<_, EchoResponse>(EchoMethod::Echo.path(), &request, &CallOptions::default())
            .unwrap();
        assert_eq!(reply.message.message, "mutual");

        let ws = wirestate_blocking::ws::connect_with_tls(
            &format!("wss://localhost:{port}/ws"),
            Default::default(),
            m.client(Some(&m.ours), &[tls::ALPN_HTTP1]),
        )
        .unwrap();
        ws.send("mutual").unwrap();
        match ws.recv() {
            Some(Ok(wirestate_blocking::ws::Message::Text(t))) => assert_eq!(t.as_str(), "mutual"),
            other => panic!("expected the echo, got {other:?}"),
        }
        ws.close(1000, "").unwrap();
        assert_eq!(get_text(&client_with(Some(&m.ours)), &url), "hello");
    }

    /// The peer's verified chain on a blocking `TlsStream`: a server with
    /// optional client certificates sees ours after the handshake, and
    /// none from an anonymous client.
    #[test]
    fn peer_certificates() {
        let m = mutual();
        for who in [Some(&m.ours), None] {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            let config = m.optional.clone();
            let server = std::thread::spawn(move || {
                let (tcp, _) = l.accept().unwrap();
                tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut s = tls::TlsStream::server(tcp, config).unwrap();
                s.handshake(None).unwrap();
                let chain = s.connection().peer_certificates().map(<[_]>::to_vec);
                // Read until the client ends, so it is not reset first.
                let _ = s.read(&mut [0u8; 16]);
                chain
            });
            let tcp = TcpStream::connect(addr).unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let config = m.client(who, &[tls::ALPN_HTTP1]);
            let mut c = tls::TlsStream::client(tcp, config, tls::server_name("localhost").unwrap())
                .unwrap();
            c.handshake(None).unwrap();
            c.write_all(b"x").unwrap();
            c.flush().unwrap();
            let chain = server.join().unwrap();
            assert_eq!(chain, who.map(|w| w.certs.clone()));
        }
    }
}
