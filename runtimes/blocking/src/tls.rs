//! TLS over blocking sockets with rustls (feature `tls`).
//!
//! [`TlsStream`] is a rustls connection over a blocking stream (a
//! `TcpStream`): plaintext through [`Read`] and [`Write`], ciphertext on
//! the socket, its waits bounded by the socket's timeouts. It is a
//! [`Transport`], so the [`Driver`](crate::Driver) runs any machine over
//! it, and this crate's servers and clients speak TLS through it:
//!
//! * [`ServerConfig::tls`](crate::ServerConfig::tls) makes the
//!   [`Server`](crate::Server) an HTTPS server (HTTP/1.1, HTTP/2 and
//!   WebSocket upgrades, told apart as on a plain port; offer [`ALPN`] so
//!   that clients agree to HTTP/2);
//! * the [`Client`](crate::Client) speaks `https://`
//!   ([`ClientConfig::tls`](crate::ClientConfig::tls));
//! * [`h2::handshake_tls`](crate::h2::handshake_tls) runs HTTP/2 over a
//!   [`TlsStream`], and [`grpc::ChannelBuilder::tls`](crate::grpc::ChannelBuilder::tls)
//!   dials gRPC over TLS;
//! * [`ws::connect_with_tls`](crate::ws::connect_with_tls) opens `wss://`.
//!
//! The configuration helpers are wirestate-tls's, re-exported: the same
//! as `wirestate_rt::tls`'s.
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use wirestate_blocking::tls::{self, TlsStream};
//!
//! # fn main() -> std::io::Result<()> {
//! let config = tls::client_config(tls::webpki_roots(), &[tls::ALPN_HTTP1]);
//! let tcp = std::net::TcpStream::connect("example.com:443")?;
//! let mut stream = TlsStream::client(tcp, config, tls::server_name("example.com")?)
//!     .map_err(std::io::Error::other)?;
//! stream.handshake(None)?;
//! stream.write_all(b"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")?;
//! let mut response = Vec::new();
//! stream.read_to_end(&mut response)?;
//! # Ok(())
//! # }
//! ```

use crate::Transport;
use rustls::pki_types::ServerName;
use std::io::{self, IoSlice, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use wirestate_tls::{
    ALPN, ALPN_H2, ALPN_HTTP1, ClientAuth, Identity, client_config, client_config_with_identity,
    default_http1_client_config, provider, roots_from_pem_file, rustls, server_authority,
    server_config, server_config_from_pem_files, server_config_from_pem_files_with_client_auth,
    server_config_with_client_auth, server_name, webpki_roots, with_alpn,
};

/// Plaintext taken out of rustls at once when decrypting bytes read
/// elsewhere (the size of one TLS record).
const PLAINTEXT_CHUNK: usize = 16 * 1024;

/// A TLS connection over a blocking stream `S`.
///
/// Reads and writes run the handshake as needed (or call
/// [`handshake`](Self::handshake) first, to learn the ALPN protocol or a
/// certificate error up front). Waits are bounded by the stream's own
/// timeouts: a read or write that times out fails with `WouldBlock` or
/// `TimedOut`, and may be tried again.
///
/// A peer that ends the TCP stream without TLS's close_notify alert may
/// have truncated what it sent: that is a read error (`UnexpectedEof`),
/// not the end of the stream, as in rustls.
pub struct TlsStream<S = TcpStream> {
    sock: S,
    conn: rustls::Connection,
    /// `close_notify` was queued.
    close_sent: bool,
}

impl<S> std::fmt::Debug for TlsStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("handshaking", &self.conn.is_handshaking())
            .field("alpn", &self.conn.alpn_protocol())
            .finish_non_exhaustive()
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

impl<S: Read + Write> TlsStream<S> {
    /// The client side of a connection to `name` over `sock`.
    ///
    /// # Errors
    ///
    /// rustls refused the config (no usable cipher suite).
    pub fn client(
        sock: S,
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
    ) -> Result<Self, rustls::Error> {
        let conn = rustls::ClientConnection::new(config, name)?;
        Ok(Self {
            sock,
            conn: conn.into(),
            close_sent: false,
        })
    }

    /// The server side of a connection accepted as `sock`.
    ///
    /// # Errors
    ///
    /// rustls refused the config.
    pub fn server(sock: S, config: Arc<rustls::ServerConfig>) -> Result<Self, rustls::Error> {
        let conn = rustls::ServerConnection::new(config)?;
        Ok(Self {
            sock,
            conn: conn.into(),
            close_sent: false,
        })
    }

    /// The stream TLS runs on.
    pub fn get_ref(&self) -> &S {
        &self.sock
    }

    /// The rustls connection: the negotiated version, suite, peer
    /// certificates, server name.
    pub fn connection(&self) -> &rustls::Connection {
        &self.conn
    }

    /// The ALPN protocol both sides agreed on, once the handshake is done.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    /// Writes every record rustls has queued (handshake messages, data,
    /// alerts), blocking.
    fn write_tls_all(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.sock) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads once from the stream and processes what came: the number of
    /// bytes read, `0` at the stream's end.
    fn read_tls_once(&mut self) -> io::Result<usize> {
        let n = loop {
            match self.conn.read_tls(&mut self.sock) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        self.process()?;
        Ok(n)
    }

    /// Decrypts what rustls holds; on a TLS error the alert telling the
    /// peer why is sent (best effort) before the error is returned.
    fn process(&mut self) -> io::Result<()> {
        if let Err(e) = self.conn.process_new_packets() {
            let _ = self.write_tls_all();
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        Ok(())
    }

    /// Runs the handshake to its end, bounded by `deadline` too (if the
    /// stream is a [`Transport`] whose timeouts can be set; pass `None` to
    /// rely on the stream's own timeouts).
    ///
    /// # Errors
    ///
    /// The peer failed the handshake (a certificate it or we refused, no
    /// common version or suite: `InvalidData`), the stream failed or ended
    /// first (`UnexpectedEof`), or `deadline` passed (`TimedOut`).
    pub fn handshake(&mut self, deadline: Option<Instant>) -> io::Result<()>
    where
        S: Transport,
    {
        let result = self.handshake_inner(deadline);
        if deadline.is_some() {
            let _ = self.sock.set_read_timeout(None);
            let _ = self.sock.set_write_timeout(None);
        }
        result
    }

    fn handshake_inner(&mut self, deadline: Option<Instant>) -> io::Result<()>
    where
        S: Transport,
    {
        loop {
            if let Some(d) = deadline {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the TLS handshake timed out",
                    ));
                }
                // Never zero, which the socket refuses.
                let left = left.max(Duration::from_millis(1));
                self.sock.set_read_timeout(Some(left))?;
                self.sock.set_write_timeout(Some(left))?;
            }
            // Our side's messages (and, at the end, the client's Finished)
            // must be out before the handshake counts as done.
            match self.write_tls_all() {
                Ok(()) => {}
                Err(e) if is_timeout(&e) && deadline.is_some() => continue,
                Err(e) => return Err(e),
            }
            if !self.conn.is_handshaking() {
                return Ok(());
            }
            match self.read_tls_once() {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the peer closed the connection during the TLS handshake",
                    ));
                }
                Ok(_) => {}
                Err(e) if is_timeout(&e) && deadline.is_some() => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Decrypts `ciphertext` read from the stream by someone else (the
    /// HTTP/2 reader thread, a WebSocket's reader), handing the plaintext
    /// to `sink` in pieces. Records rustls wants to send in answer (an
    /// alert, a key update) are queued: [`flush`](Write::flush) sends them.
    /// Bytes after the peer's close_notify are ignored.
    pub(crate) fn decrypt(
        &mut self,
        mut ciphertext: &[u8],
        mut sink: impl FnMut(&[u8]),
    ) -> io::Result<()> {
        let mut buf = [0u8; PLAINTEXT_CHUNK];
        loop {
            self.drain_plaintext(&mut buf, &mut sink)?;
            if ciphertext.is_empty() {
                return Ok(());
            }
            if self.conn.read_tls(&mut ciphertext)? == 0 {
                // rustls takes nothing after the peer's close_notify, and
                // what follows it must be ignored (RFC 8446 §6.1): the
                // stream ended cleanly, the end of the socket will tell.
                let state = self.conn.process_new_packets();
                if state.is_ok_and(|s| s.peer_has_closed()) {
                    return Ok(());
                }
                // rustls took nothing otherwise: never spin.
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "TLS input not taken by rustls",
                ));
            }
            if let Err(e) = self.conn.process_new_packets() {
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
        }
    }

    /// The peer ended the stream (read elsewhere): `Ok` if it said
    /// close_notify first, `UnexpectedEof` if what it sent may be
    /// truncated. Plaintext that was still held goes to `sink`.
    pub(crate) fn decrypt_eof(&mut self, mut sink: impl FnMut(&[u8])) -> io::Result<()> {
        // An empty read tells rustls the stream ended.
        self.conn.read_tls(&mut &[][..])?;
        if let Err(e) = self.conn.process_new_packets() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        let mut buf = [0u8; PLAINTEXT_CHUNK];
        self.drain_plaintext(&mut buf, &mut sink)
    }

    /// Hands every plaintext byte rustls holds to `sink`; `Ok` once none
    /// is left (or the peer closed cleanly).
    fn drain_plaintext(&mut self, buf: &mut [u8], sink: &mut impl FnMut(&[u8])) -> io::Result<()> {
        loop {
            match self.conn.reader().read(buf) {
                Ok(0) => return Ok(()),
                Ok(n) => sink(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Plaintext already decrypted and not yet read (after the handshake
    /// and a first read), appended to `out`: what a reader taking over
    /// the stream's input must see first.
    pub(crate) fn take_plaintext(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        let mut buf = [0u8; PLAINTEXT_CHUNK];
        self.drain_plaintext(&mut buf, &mut |p: &[u8]| out.extend_from_slice(p))
    }

    /// Encrypts `data` and writes it, blocking (a WebSocket's frames).
    pub(crate) fn write_all_plain(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = self.write(data)?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            data = &data[n..];
        }
        self.write_tls_all()
    }

    /// Queues close_notify and writes it (and anything before it).
    fn send_close(&mut self) -> io::Result<()> {
        if !self.close_sent {
            self.conn.send_close_notify();
            self.close_sent = true;
        }
        self.write_tls_all()
    }

    /// Runs the handshake on whatever timeouts the stream has.
    fn finish_handshake(&mut self) -> io::Result<()> {
        while self.conn.is_handshaking() {
            self.write_tls_all()?;
            if !self.conn.is_handshaking() {
                break;
            }
            if self.read_tls_once()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer closed the connection during the TLS handshake",
                ));
            }
        }
        self.write_tls_all()
    }
}

impl<S: Read + Write> Read for TlsStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.conn.reader().read(buf) {
                // Plaintext, or 0 after the peer's close_notify.
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The stream ended without close_notify.
                Err(e) => return Err(e),
            }
            // Handshake messages, key updates and alerts go out as they
            // come, even when the application writes nothing. A full
            // socket (a timeout) leaves them queued for the next write; a
            // broken one (the peer reset its side) is the next write's
            // error to report, not this read's: what the peer sent first,
            // an early answer to an upload it did not take, is still to
            // be read (the Driver reads on after a failed write for it).
            let _ = self.write_tls_all();
            // Read (possibly the stream's end, which rustls now knows):
            // look for plaintext again.
            self.read_tls_once()?;
        }
    }
}

impl<S: Read + Write> Write for TlsStream<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if bufs.iter().all(|b| b.is_empty()) {
            return Ok(0);
        }
        if self.close_sent {
            // rustls takes nothing after close_notify.
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after the TLS stream was shut down",
            ));
        }
        // Records left from the last call go first: what rustls holds
        // stays bounded by one call's worth.
        self.write_tls_all()?;
        if self.conn.is_handshaking() {
            self.finish_handshake()?;
        }
        let taken = self.conn.writer().write_vectored(bufs)?;
        match self.write_tls_all() {
            Ok(()) => Ok(taken),
            // Taken and encrypted: the records go out with the next write
            // or flush, so the caller must not send this data again.
            Err(e) if taken > 0 && is_timeout(&e) => Ok(taken),
            Err(e) => Err(e),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_tls_all()?;
        self.sock.flush()
    }
}

impl<S: Transport> Transport for TlsStream<S> {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_write_timeout(timeout)
    }

    /// Sends close_notify (and anything still queued), then half-closes
    /// the stream.
    fn shutdown_write(&mut self) -> io::Result<()> {
        let sent = self.send_close();
        let closed = self.sock.shutdown_write();
        sent.and(closed)
    }

    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.sock.set_nonblocking(nonblocking)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket whose far end is a rustls server in memory: what is
    /// written is fed to it at once, and reads get what it answers.
    struct Loopback {
        server: rustls::ServerConnection,
        /// Raw bytes read after what the server has to send.
        tail: Vec<u8>,
    }

    impl Read for Loopback {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.server.wants_write() {
                return self.server.write_tls(&mut &mut buf[..]);
            }
            if self.tail.is_empty() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = self.tail.len().min(buf.len());
            buf[..n].copy_from_slice(&self.tail[..n]);
            self.tail.drain(..n);
            Ok(n)
        }
    }

    impl Write for Loopback {
        fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
            let n = buf.len();
            while !buf.is_empty() {
                self.server.read_tls(&mut buf)?;
                self.server
                    .process_new_packets()
                    .map_err(io::Error::other)?;
            }
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A client stream with its handshake done against a `Loopback`.
    fn connected() -> TlsStream<Loopback> {
        let key = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = rustls::pki_types::CertificateDer::from(key.cert.der().to_vec());
        let der = rustls::pki_types::PrivateKeyDer::Pkcs8(
            rustls::pki_types::PrivatePkcs8KeyDer::from(key.signing_key.serialize_der()),
        );
        let server = server_config(vec![cert.clone()], der, &[]).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let sock = Loopback {
            server: rustls::ServerConnection::new(server).unwrap(),
            tail: Vec::new(),
        };
        let name = server_name("localhost").unwrap();
        let mut stream = TlsStream::client(sock, client_config(roots, &[]), name).unwrap();
        stream.finish_handshake().unwrap();
        // The server's session tickets, read as a reader thread would.
        let mut records = Vec::new();
        stream.sock.server.write_tls(&mut records).unwrap();
        stream.decrypt(&records, |_| panic!("no data yet")).unwrap();
        stream
    }

    /// Ciphertext a reader thread read elsewhere (HTTP/2, WebSocket):
    /// whatever comes after the peer's close_notify is ignored (RFC 8446
    /// §6.1), in a later read as in the same one, and the end after it is
    /// clean.
    #[test]
    fn decrypt_ignores_bytes_after_close_notify() {
        for same_read in [false, true] {
            let mut stream = connected();
            let server = &mut stream.sock.server;
            server.writer().write_all(b"bye").unwrap();
            server.send_close_notify();
            let mut records = Vec::new();
            server.write_tls(&mut records).unwrap();
            let junk = b"\x17\x03\x03\x00\x05junk!";
            let mut got = Vec::new();
            if same_read {
                records.extend_from_slice(junk);
                stream
                    .decrypt(&records, |p| got.extend_from_slice(p))
                    .unwrap();
            } else {
                stream
                    .decrypt(&records, |p| got.extend_from_slice(p))
                    .unwrap();
                stream
                    .decrypt(junk, |p| got.extend_from_slice(p))
                    .expect("bytes after close_notify are ignored");
            }
            stream.decrypt_eof(|p| got.extend_from_slice(p)).unwrap();
            assert_eq!(got, b"bye");
        }
    }

    /// The same through `Read`: data, then a clean end that stays ended,
    /// the bytes after close_notify never read as data or an error.
    #[test]
    fn read_ignores_bytes_after_close_notify() {
        let mut stream = connected();
        stream.sock.server.writer().write_all(b"bye").unwrap();
        stream.sock.server.send_close_notify();
        stream.sock.tail = b"\x17\x03\x03\x00\x05junk!".to_vec();
        let mut got = Vec::new();
        stream.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"bye");
        assert_eq!(stream.read(&mut [0u8; 8]).unwrap(), 0);
    }
}
