//! The blocking HTTPS server's TLS endings on real sockets (127.0.0.1):
//! whatever ends a connection — a graceful shutdown included — the client
//! must see TLS's close_notify before the TCP end, or it cannot tell the
//! close from a truncation.
#![cfg(feature = "tls")]

mod common;

use common::*;
use http::{Request, Response};
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;
use wirestate_blocking::tls::{self, TlsStream, rustls};
use wirestate_blocking::{BlockingBody, ResponseBody, ServerConfig};

/// A self-signed certificate for `localhost`: the server's config and a
/// client config that trusts it.
fn identity() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = rustls::pki_types::CertificateDer::from(key.cert.der().to_vec());
    let der = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        key.signing_key.serialize_der(),
    ));
    let server = tls::server_config(vec![cert.clone()], der, tls::ALPN).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    (server, tls::client_config(roots, &[tls::ALPN_HTTP1]))
}

fn hello(_: Request<BlockingBody>) -> Response<ResponseBody> {
    Response::new(ResponseBody::from("hello"))
}

fn https_server() -> (TestServer, Arc<rustls::ClientConfig>) {
    let (server, client) = identity();
    let mut config = ServerConfig::default();
    config.tls = Some(server);
    (TestServer::start(config, hello), client)
}

/// A TLS client connection to `server`, handshake done.
fn tls_client(server: &TestServer, config: Arc<rustls::ClientConfig>) -> TlsStream<TcpStream> {
    let tcp = connect(server.addr);
    let name = tls::server_name("localhost").unwrap();
    let mut stream = TlsStream::client(tcp, config, name).unwrap();
    stream.handshake(None).unwrap();
    stream
}

/// What the client reads once the server has closed: `Ok(0)` after
/// close_notify, `UnexpectedEof` after a bare TCP end.
fn read_end(stream: &mut impl Read) -> std::io::Result<usize> {
    let mut buf = [0u8; 64];
    stream.read(&mut buf)
}

/// An idle keep-alive connection, blocked between requests when the
/// shutdown comes, ends with close_notify, as a busy one does.
#[test]
fn shutdown_ends_an_idle_keep_alive_connection_with_close_notify() {
    let (mut server, config) = https_server();
    let mut stream = tls_client(&server, config);
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    let res = read_response(&mut reader).unwrap();
    assert_eq!(res.status, 200);
    assert_eq!(res.text(), "hello");
    assert_eq!(res.header("connection"), None, "kept alive");
    // Let the connection thread reach its idle read.
    std::thread::sleep(Duration::from_millis(200));
    server.stop();
    let ended = read_end(&mut reader);
    assert!(
        matches!(ended, Ok(0)),
        "an idle connection ended without close_notify: {ended:?}"
    );
}

/// A connection that finished its handshake but sent no request yet (the
/// server waits for its first bytes) ends with close_notify too.
#[test]
fn shutdown_ends_a_connection_without_requests_with_close_notify() {
    let (mut server, config) = https_server();
    let mut stream = tls_client(&server, config);
    std::thread::sleep(Duration::from_millis(200));
    server.stop();
    let ended = read_end(&mut stream);
    assert!(
        matches!(ended, Ok(0)),
        "a fresh connection ended without close_notify: {ended:?}"
    );
}
