//! gRPC-Web over TLS (`ChannelBuilder::grpc_web` with `ChannelBuilder::tls`)
//! on tokio, smol and blocking, against HTTPS servers on each: the pooled
//! HTTP/1.1 connections check the certificate against the given server
//! name (not the address dialed), offer ALPN `http/1.1` whatever the
//! config offers, and say `https`; a certificate the channel does not
//! trust, or one for another name, fails the connect with UNAVAILABLE.

use http::{Request, Response};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use wirestate_proto::wirestate::echo::v1::{EchoMethod, EchoRequest, EchoResponse};
use wirestate_rt::grpc::{CallOptions, Channel, Code, WebMode};
use wirestate_rt::tls::{self, TlsListener, rustls};
use wirestate_rt::{Body, Listener, Runtime, Shutdown};

mod support;
use support::{Smol, TestRuntime, Tokio};

/// A self-signed certificate for `localhost` and 127.0.0.1: the server's
/// config and the roots that trust it.
fn identity() -> (Arc<rustls::ServerConfig>, rustls::RootCertStore) {
    let key =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert: CertificateDer<'static> = key.cert.der().clone();
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.signing_key.serialize_der()));
    let server = tls::server_config(vec![cert.clone()], der, tls::ALPN).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    (server, roots)
}

/// A config as a gRPC user writes it: offering `h2` only (the gRPC-Web
/// channel must replace that, or the server would pick HTTP/2).
fn grpc_config(roots: &rustls::RootCertStore) -> Arc<rustls::ClientConfig> {
    tls::client_config(roots.clone(), &[tls::ALPN_H2])
}

fn echo(message: &str) -> EchoRequest {
    EchoRequest {
        message: message.into(),
        repeat: 3,
        ..Default::default()
    }
}

/// What the scenarios need of the shared test runtimes besides: a
/// listener of the runtime's own (made inside the runtime).
trait Listen: TestRuntime {
    type L: Listener;
    fn listen(l: TcpListener) -> Self::L;
}

impl Listen for Tokio {
    type L = wirestate_tokio::TokioListener;
    fn listen(l: TcpListener) -> Self::L {
        wirestate_tokio::TokioListener(tokio::net::TcpListener::from_std(l).unwrap())
    }
}

impl Listen for Smol {
    type L = wirestate_smol::SmolListener;
    fn listen(l: TcpListener) -> Self::L {
        wirestate_smol::SmolListener(smol::Async::new(l).unwrap())
    }
}

/// An HTTPS server on `R` with `handler`, ended by `shutdown`; its
/// address.
fn serve<R: Listen, H: wirestate_rt::http1::Handler>(
    server: Arc<rustls::ServerConfig>,
    handler: H,
    shutdown: &Shutdown,
) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let addr = l.local_addr().unwrap();
    let listener = TlsListener::new(R::listen(l), server);
    let sd = shutdown.clone();
    R::rt().spawn(Box::pin(async move {
        let config = wirestate_rt::http1::ServerConfig::default();
        wirestate_rt::http1::serve(R::rt(), listener, handler, config, sd)
            .await
            .unwrap();
    }));
    addr
}

/// A tokio runtime of its own and what `start` returned, run inside it:
/// servers there keep running while blocking code (outside any async
/// context) calls them, as long as the runtime is kept.
fn on_tokio<T>(start: impl FnOnce() -> T) -> (tokio::runtime::Runtime, T) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = {
        let _guard = rt.enter();
        start()
    };
    (rt, started)
}

/// The echo service, as `wirestate serve --tls-cert` serves it.
fn start<R: Listen>(server: Arc<rustls::ServerConfig>) -> (SocketAddr, Shutdown) {
    let shutdown = Shutdown::new();
    let grpc = wirestate_examples::grpc::server(R::rt(), shutdown.clone());
    let handler = wirestate_examples::routes::with_grpc(grpc, wirestate_examples::routes::handle);
    (serve::<R, _>(server, handler, &shutdown), shutdown)
}

/// Unary and server-streaming calls over gRPC-Web on TLS, binary and
/// text, with the server named by DNS name and by IP address.
fn calls<R: Listen>() {
    let (server, roots) = identity();
    R::block_on(async move {
        let (addr, shutdown) = start::<R>(server);
        for (mode, host) in [
            (WebMode::Binary, "localhost"),
            (WebMode::Text, "localhost"),
            (WebMode::Binary, "127.0.0.1"),
        ] {
            let channel = Channel::builder(R::rt(), addr)
                .tls(grpc_config(&roots), tls::server_name(host).unwrap())
                .grpc_web(mode)
                .connect()
                .await
                .unwrap_or_else(|e| panic!("{mode:?} {host}: {e:?}"));
            let opts = CallOptions::default();
            for i in 0..2 {
                let text = format!("{mode:?} {host} {i}");
                let reply = channel
                    .unary::<_, EchoResponse>(EchoMethod::Echo.path(), &echo(&text), &opts)
                    .await
                    .unwrap();
                assert_eq!(reply.message.message, text);
            }
            let (_, mut stream) = channel
                .server_streaming::<_, EchoResponse>(
                    EchoMethod::EchoStream.path(),
                    &echo("streamed"),
                    &opts,
                )
                .await
                .unwrap();
            let mut got = 0;
            while let Some(m) = stream.message().await.unwrap() {
                assert_eq!(m.message, "streamed");
                got += 1;
            }
            assert_eq!(got, 3);
        }
        shutdown.trigger();
    });
}

/// What reached the server: HTTP/1.1 (ALPN `http/1.1`, though the config
/// offered `h2` only), gRPC-Web, over TLS.
#[derive(Debug, Default, Clone)]
struct Seen {
    version: Option<http::Version>,
    content_type: String,
    host: String,
}

/// Records each request's version and headers, and answers it
/// UNIMPLEMENTED (trailers-only, gRPC-Web style).
fn recorder(seen: Arc<Mutex<Vec<Seen>>>) -> impl wirestate_rt::http1::Handler {
    move |req: Request<Body>| {
        let seen = seen.clone();
        async move {
            let header = |name: &str| {
                req.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned()
            };
            seen.lock().unwrap().push(Seen {
                version: Some(req.version()),
                content_type: header("content-type"),
                host: header("host"),
            });
            Response::builder()
                .header("content-type", "application/grpc-web+proto")
                .header("grpc-status", "12")
                .body(Body::empty())
                .unwrap()
        }
    }
}

fn on_the_wire<R: Listen>() {
    let (server, roots) = identity();
    R::block_on(async move {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shutdown = Shutdown::new();
        let addr = serve::<R, _>(server, recorder(seen.clone()), &shutdown);
        let channel = Channel::builder(R::rt(), addr)
            .tls(grpc_config(&roots), tls::server_name("localhost").unwrap())
            .grpc_web(WebMode::Binary)
            .connect()
            .await
            .unwrap();
        let status = channel
            .unary::<_, EchoResponse>(EchoMethod::Echo.path(), &echo("x"), &CallOptions::default())
            .await
            .unwrap_err();
        assert_eq!(status.code, Code::Unimplemented);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].version, Some(http::Version::HTTP_11));
        assert!(
            seen[0].content_type.starts_with("application/grpc-web"),
            "{seen:?}"
        );
        // The channel's authority (its address by default), not the
        // name the certificate was checked against.
        assert_eq!(seen[0].host, addr.to_string());
        shutdown.trigger();
    });
}

/// A certificate the channel does not trust, or one that does not name
/// the server given, fails the connect with UNAVAILABLE naming why.
fn refused<R: Listen>() {
    let (server, roots) = identity();
    R::block_on(async move {
        let (addr, shutdown) = start::<R>(server);
        let public = tls::client_config(tls::webpki_roots(), &[tls::ALPN_H2]);
        let cases = [
            (public, "localhost", "UnknownIssuer"),
            (grpc_config(&roots), "example.com", "not valid for name"),
        ];
        for (config, host, why) in cases {
            let err = Channel::builder(R::rt(), addr)
                .tls(config, tls::server_name(host).unwrap())
                .grpc_web(WebMode::Binary)
                .connect()
                .await
                .unwrap_err();
            assert_eq!(err.code, Code::Unavailable, "{err:?}");
            assert!(err.message.contains(why), "{err:?}");
        }
        // A lazy channel meets the same refusal on its first call.
        let lazy = Channel::builder(R::rt(), addr)
            .tls(
                grpc_config(&roots),
                tls::server_name("example.com").unwrap(),
            )
            .grpc_web(WebMode::Text)
            .connect_lazy()
            .unwrap();
        let err = lazy
            .unary::<_, EchoResponse>(EchoMethod::Echo.path(), &echo("x"), &CallOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.code, Code::Unavailable, "{err:?}");
        shutdown.trigger();
    });
}

/// A bare TLS server on 127.0.0.1 for one connection: how that
/// connection ended, `Ok` (with what was read) after close_notify,
/// `UnexpectedEof` after a bare close.
fn one_tls_connection(
    server: Arc<rustls::ServerConfig>,
) -> (
    SocketAddr,
    std::thread::JoinHandle<std::io::Result<Vec<u8>>>,
) {
    use std::io::Read;
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let thread = std::thread::spawn(move || {
        let (tcp, _) = l.accept()?;
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
        let mut stream = wirestate_blocking::tls::TlsStream::server(tcp, server)
            .map_err(std::io::Error::other)?;
        stream.handshake(None)?;
        let mut got = Vec::new();
        stream.read_to_end(&mut got)?;
        Ok(got)
    });
    (addr, thread)
}

/// The connection a channel opens to check the server when it is built
/// ends with close_notify, not a bare close the server sees as a
/// truncation (failed before: UnexpectedEof).
fn probe_ends_with_close_notify<R: Listen>() {
    let (server, roots) = identity();
    let (addr, thread) = one_tls_connection(server);
    R::block_on(async move {
        Channel::builder(R::rt(), addr)
            .tls(grpc_config(&roots), tls::server_name("localhost").unwrap())
            .grpc_web(WebMode::Binary)
            .connect()
            .await
            .unwrap();
    });
    let ended = thread.join().unwrap();
    assert!(matches!(&ended, Ok(got) if got.is_empty()), "{ended:?}");
}

macro_rules! on_runtimes {
    ($($scenario:ident),* $(,)?) => {
        mod tokio_rt {
            $(#[test] fn $scenario() { super::$scenario::<super::Tokio>() })*
        }
        mod smol_rt {
            $(#[test] fn $scenario() { super::$scenario::<super::Smol>() })*
        }
    };
}

on_runtimes!(calls, on_the_wire, refused, probe_ends_with_close_notify);

/// The blocking channel, against the blocking HTTPS server and the tokio
/// one.
mod blocking {
    use super::{echo, grpc_config, identity};
    use std::net::SocketAddr;
    use wirestate_blocking::grpc::{CallOptions, Channel, Code, WebMode};
    use wirestate_blocking::{Server, ServerConfig, ServerHandle, tls};
    use wirestate_proto::wirestate::echo::v1::{EchoMethod, EchoResponse};

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

    /// The echo service on the blocking server, over TLS.
    fn start(server: std::sync::Arc<tls::rustls::ServerConfig>) -> Running {
        let mut config = ServerConfig::default();
        config.tls = Some(server);
        let server = Server::bind("127.0.0.1:0", config).unwrap();
        let addr = server.local_addr().unwrap();
        let handle = server.handle();
        let grpc = wirestate_examples::grpc_blocking::server(Some(handle.clone()));
        let h = wirestate_examples::grpc_blocking::with_grpc(grpc);
        let thread = std::thread::spawn(move || server.serve(h).unwrap());
        Running {
            addr,
            handle,
            thread: Some(thread),
        }
    }

    fn call_all(target: &str, roots: &tls::rustls::RootCertStore) {
        for (mode, host) in [
            (WebMode::Binary, "localhost"),
            (WebMode::Text, "localhost"),
            (WebMode::Text, "127.0.0.1"),
        ] {
            let channel = Channel::builder(target)
                .tls(grpc_config(roots), tls::server_name(host).unwrap())
                .grpc_web(mode)
                .connect()
                .unwrap_or_else(|e| panic!("{mode:?} {host}: {e:?}"));
            let opts = CallOptions::default();
            for i in 0..2 {
                let text = format!("{mode:?} {host} {i}");
                let reply = channel
                    .unary::<_, EchoResponse>(EchoMethod::Echo.path(), &echo(&text), &opts)
                    .unwrap();
                assert_eq!(reply.message.message, text);
            }
            let (_, stream) = channel
                .server_streaming::<_, EchoResponse>(
                    EchoMethod::EchoStream.path(),
                    &echo("streamed"),
                    &opts,
                )
                .unwrap();
            let got: Vec<_> = stream.map(|m| m.unwrap().message).collect();
            assert_eq!(got, ["streamed"; 3]);
        }
    }

    #[test]
    fn calls() {
        let (server, roots) = identity();
        let running = start(server);
        // By address, and by a name the channel resolves itself.
        call_all(&running.addr.to_string(), &roots);
        call_all(&format!("localhost:{}", running.addr.port()), &roots);
    }

    /// The probe's connection ends with close_notify on this channel too.
    #[test]
    fn probe_ends_with_close_notify() {
        let (server, roots) = identity();
        let (addr, thread) = super::one_tls_connection(server);
        Channel::builder(&addr.to_string())
            .tls(grpc_config(&roots), tls::server_name("localhost").unwrap())
            .grpc_web(WebMode::Binary)
            .connect()
            .unwrap();
        let ended = thread.join().unwrap();
        assert!(matches!(&ended, Ok(got) if got.is_empty()), "{ended:?}");
    }

    #[test]
    fn calls_against_tokio() {
        let (server, roots) = identity();
        let (_rt, (addr, shutdown)) = super::on_tokio(|| super::start::<super::Tokio>(server));
        call_all(&addr.to_string(), &roots);
        shutdown.trigger();
    }

    /// HTTP/1.1 on the wire (the config offered `h2` only), gRPC-Web.
    #[test]
    fn on_the_wire() {
        let (server, roots) = identity();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let shutdown = wirestate_rt::Shutdown::new();
        let (_rt, addr) = super::on_tokio(|| {
            super::serve::<super::Tokio, _>(server, super::recorder(seen.clone()), &shutdown)
        });
        let channel = Channel::builder(&addr.to_string())
            .tls(grpc_config(&roots), tls::server_name("localhost").unwrap())
            .grpc_web(WebMode::Text)
            .connect()
            .unwrap();
        let status = channel
            .unary::<_, EchoResponse>(EchoMethod::Echo.path(), &echo("x"), &CallOptions::default())
            .unwrap_err();
        assert_eq!(status.code, Code::Unimplemented);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].version, Some(http::Version::HTTP_11));
        assert!(
            seen[0]
                .content_type
                .starts_with("application/grpc-web-text"),
            "{seen:?}"
        );
        assert_eq!(seen[0].host, addr.to_string());
        shutdown.trigger();
    }

    #[test]
    fn refused() {
        let (server, roots) = identity();
        let running = start(server);
        let target = running.addr.to_string();
        let public = tls::client_config(tls::webpki_roots(), &[tls::ALPN_H2]);
        let cases = [
            (public, "localhost", "UnknownIssuer"),
            (grpc_config(&roots), "example.com", "not valid for name"),
        ];
        for (config, host, why) in cases {
            let err = Channel::builder(&target)
                .tls(config, tls::server_name(host).unwrap())
                .grpc_web(WebMode::Binary)
                .connect()
                .unwrap_err();
            assert_eq!(err.code, Code::Unavailable, "{err:?}");
            assert!(err.message.contains(why), "{err:?}");
        }
        let lazy = Channel::builder(&target)
            .tls(
                grpc_config(&roots),
                tls::server_name("example.com").unwrap(),
            )
            .grpc_web(WebMode::Binary)
            .connect_lazy()
            .unwrap();
        let err = lazy
            .unary::<_, EchoResponse>(EchoMethod::Echo.path(), &echo("x"), &CallOptions::default())
            .unwrap_err();
        assert_eq!(err.code, Code::Unavailable, "{err:?}");
    }
}

/// `wirestate grpc --web --tls --cacert` (the CLI's `grpc_cli::run`), on
/// each of its runtimes, binary and text, against the tokio HTTPS server:
/// the call succeeds, and without the certificate's roots it fails.
#[test]
fn cli_web_over_tls() {
    use std::process::ExitCode;
    use wirestate_examples::grpc_cli::{Options, Rt, run};
    let (server, roots) = identity();
    let (_rt, (addr, shutdown)) = on_tokio(|| start::<Tokio>(server));
    let words: Vec<String> = [
        format!("localhost:{}", addr.port()),
        EchoMethod::Echo.path().to_owned(),
        r#"{"message":"cli"}"#.to_owned(),
    ]
    .into();
    for runtime in [Rt::Tokio, Rt::Smol, Rt::Blocking] {
        for web in [WebMode::Binary, WebMode::Text] {
            let opts = Options {
                runtime,
                web: Some(web),
                headers: Vec::new(),
                timeout: Some(std::time::Duration::from_secs(10)),
                wait_for_ready: false,
                data: None,
                tls: Some(grpc_config(&roots)),
            };
            let code = run(&opts, &words).unwrap();
            assert_eq!(code, ExitCode::SUCCESS, "{runtime:?} {web:?}");
            let public = Options {
                tls: Some(tls::client_config(tls::webpki_roots(), &[tls::ALPN_H2])),
                ..opts
            };
            let code = run(&public, &words).unwrap();
            assert_ne!(
                code,
                ExitCode::SUCCESS,
                "{runtime:?} {web:?}: an unknown issuer"
            );
        }
    }
    shutdown.trigger();
}
