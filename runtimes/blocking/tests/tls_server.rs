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

/// A self-signed certificate for `localhost`: the server's config and the
/// roots that trust it.
fn identity() -> (Arc<rustls::ServerConfig>, rustls::RootCertStore) {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = rustls::pki_types::CertificateDer::from(key.cert.der().to_vec());
    let der = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        key.signing_key.serialize_der(),
    ));
    let server = tls::server_config(vec![cert.clone()], der, tls::ALPN).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    (server, roots)
}

fn hello(_: Request<BlockingBody>) -> Response<ResponseBody> {
    Response::new(ResponseBody::from("hello"))
}

/// An HTTPS server, and a client config trusting it that offers `alpn`.
fn https_server(alpn: &[u8]) -> (TestServer, Arc<rustls::ClientConfig>) {
    let (server, roots) = identity();
    let mut config = ServerConfig::default();
    config.tls = Some(server);
    let client = tls::client_config(roots, &[alpn]);
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
    let (mut server, config) = https_server(tls::ALPN_HTTP1);
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
    let (mut server, config) = https_server(tls::ALPN_HTTP1);
    let mut stream = tls_client(&server, config);
    std::thread::sleep(Duration::from_millis(200));
    server.stop();
    let ended = read_end(&mut stream);
    assert!(
        matches!(ended, Ok(0)),
        "a fresh connection ended without close_notify: {ended:?}"
    );
}

/// An idle HTTP/2 connection hears GOAWAY, then close_notify.
#[test]
fn shutdown_ends_an_idle_h2_connection_with_goaway_and_close_notify() {
    let (mut server, client) = https_server(tls::ALPN_H2);
    let mut stream = tls_client(&server, client);
    assert_eq!(stream.alpn_protocol(), Some(tls::ALPN_H2));
    // The preface and an empty SETTINGS frame.
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .unwrap();
    let (head, _) = read_frame(&mut stream);
    assert_eq!(head[3], 0x4, "the server's SETTINGS first");
    std::thread::sleep(Duration::from_millis(200));
    server.handle.shutdown();
    // The first GOAWAY, then a PING the server waits on before its last
    // GOAWAY (a graceful shutdown in two steps): read up to that PING and
    // acknowledge it.
    let mut types = Vec::new();
    let ping = loop {
        let (head, payload) = read_frame(&mut stream);
        types.push(head[3]);
        if head[3] == 0x6 && head[4] & 0x1 == 0 {
            break payload;
        }
    };
    let mut ack = b"\x00\x00\x08\x06\x01\x00\x00\x00\x00".to_vec();
    ack.extend_from_slice(&ping);
    stream.write_all(&ack).unwrap();
    let mut rest = Vec::new();
    let ended = stream.read_to_end(&mut rest);
    assert!(ended.is_ok(), "ended without close_notify: {ended:?}");
    types.extend(frame_types(&rest));
    assert_eq!(
        types.iter().filter(|&&t| t == 0x7).count(),
        2,
        "two GOAWAYs: {types:?}"
    );
    server.stop();
}

/// One HTTP/2 frame: its 9-byte head and its payload.
fn read_frame(stream: &mut impl Read) -> ([u8; 9], Vec<u8>) {
    let mut head = [0u8; 9];
    stream.read_exact(&mut head).unwrap();
    let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).unwrap();
    (head, payload)
}

/// The types of the HTTP/2 frames in `bytes`, in order.
fn frame_types(mut bytes: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    while bytes.len() >= 9 {
        let len = usize::from(bytes[0]) << 16 | usize::from(bytes[1]) << 8 | usize::from(bytes[2]);
        types.push(bytes[3]);
        bytes = &bytes[(9 + len).min(bytes.len())..];
    }
    types
}
