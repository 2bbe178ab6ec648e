//! TLS over any [`Io`], with rustls (feature `tls`).
//!
//! rustls is itself sans-IO: ciphertext goes in with `read_tls`, is
//! decrypted by `process_new_packets`, and comes out with `write_tls`. So
//! TLS is one more [`Io`] here, [`TlsIo`], wrapping any other one — tokio's
//! and smol's TCP streams alike — and every server and client of this
//! crate runs over it unchanged: [`TlsListener`] wraps a listener for the
//! HTTP/1.1 + HTTP/2 server, [`connect`] opens a client stream, and the
//! HTTP/1.1 client's pool speaks `https://` through it
//! ([`ClientConfig::tls`](crate::http1::ClientConfig::tls)).
//!
//! The server needs no ALPN to pick a protocol: it tells HTTP/2 from
//! HTTP/1.1 by the client's first bytes, as on a plain port. It still
//! offers `h2` and `http/1.1` ([`ALPN`]), because clients (curl, grpcio,
//! browsers) speak HTTP/2 over TLS only when the server agreed to it.
//!
//! ```no_run
//! # async fn run<R: wirestate_rt::Runtime>(rt: R) -> std::io::Result<()> {
//! use wirestate_rt::tls;
//! // HTTP/2 over TLS to a server whose certificate a public CA signed.
//! let config = tls::client_config(tls::webpki_roots(), &[tls::ALPN_H2]);
//! let addr = rt.resolve("example.com", 443).await?[0];
//! let stream = tls::connect(&rt, addr, config, tls::server_name("example.com")?).await?;
//! let (send, driver) = wirestate_rt::h2::handshake(rt.clone(), stream, Default::default());
//! rt.spawn(Box::pin(async move { let _ = driver.await; }));
//! # let _ = send; Ok(()) }
//! ```

use crate::{Io, Listener, Runtime};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};
use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

// The configuration helpers are the runtime-free part, shared with
// wirestate-blocking through wirestate-tls; re-exported so that this
// module is the one place an async user looks.
pub use wirestate_tls::{
    ALPN, ALPN_H2, ALPN_HTTP1, ClientAuth, Identity, client_config, client_config_with_identity,
    default_http1_client_config, provider, roots_from_pem_file, rustls, server_authority,
    server_config, server_config_from_pem_files, server_config_from_pem_files_with_client_auth,
    server_config_with_client_auth, server_name, webpki_roots, with_alpn,
};

/// A TLS stream over `I`: plaintext in and out through the [`Io`] trait,
/// ciphertext on `I`.
///
/// The handshake runs as the stream is read and written (writes made before
/// it ends are kept by rustls and go out encrypted once it has; on a
/// client, a flush or a shutdown after such a write runs the handshake to
/// its end), so a
/// server can hand a fresh `TlsIo` to its connection task without waiting;
/// [`TlsIo::handshake`] completes it first when the caller needs its outcome
/// (the negotiated ALPN protocol, or a certificate error) up front.
///
/// A peer that ends the TCP stream without TLS's close_notify alert has
/// possibly truncated what it sent: that is a read error
/// (`UnexpectedEof`), not the end of the stream, as in rustls.
pub struct TlsIo<I> {
    io: I,
    conn: rustls::Connection,
    /// `close_notify` was queued (by `poll_shutdown`).
    close_sent: bool,
    /// A client wrote plaintext while the handshake ran: rustls keeps it
    /// unencrypted until the handshake ends, so a flush or a shutdown
    /// must drive the handshake before it counts as done.
    early_plaintext: bool,
}

impl<I> std::fmt::Debug for TlsIo<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIo")
            .field("handshaking", &self.conn.is_handshaking())
            .field("alpn", &self.conn.alpn_protocol())
            .finish_non_exhaustive()
    }
}

impl<I: Io> TlsIo<I> {
    /// The client side of a connection to `name` over `io`.
    ///
    /// # Errors
    ///
    /// rustls refused the config (no usable cipher suite).
    pub fn client(
        io: I,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> Result<Self, rustls::Error> {
        let conn = rustls::ClientConnection::new(config, name)?;
        Ok(Self {
            io,
            conn: conn.into(),
            close_sent: false,
            early_plaintext: false,
        })
    }

    /// The server side of a connection accepted as `io`.
    ///
    /// # Errors
    ///
    /// rustls refused the config.
    pub fn server(io: I, config: Arc<ServerConfig>) -> Result<Self, rustls::Error> {
        let conn = rustls::ServerConnection::new(config)?;
        Ok(Self {
            io,
            conn: conn.into(),
            close_sent: false,
            early_plaintext: false,
        })
    }

    /// The stream TLS runs on.
    pub fn get_ref(&self) -> &I {
        &self.io
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

    /// Runs the handshake to its end.
    ///
    /// # Errors
    ///
    /// The peer failed the handshake (a certificate it or we refused, no
    /// common version or suite: `InvalidData`), or the stream failed or
    /// ended first.
    pub async fn handshake(&mut self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_handshake(cx)).await
    }

    /// [`TlsIo::handshake`] as a poll function.
    pub fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            // Our side's handshake messages (and, at the end, the client's
            // Finished) must be out before the handshake counts as done.
            if self.poll_write_tls(cx)?.is_pending() {
                return Poll::Pending;
            }
            if !self.conn.is_handshaking() {
                return Poll::Ready(Ok(()));
            }
            match self.poll_read_tls(cx)? {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(0) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the peer closed the connection during the TLS handshake",
                    )));
                }
                Poll::Ready(_) => {}
            }
        }
    }

    fn is_client(&self) -> bool {
        matches!(self.conn, rustls::Connection::Client(_))
    }

    /// Drives the handshake to its end if plaintext was written while it
    /// ran (rustls encrypts that plaintext when it ends); `Ready` at once
    /// otherwise.
    fn poll_early_plaintext(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.early_plaintext {
            if self.conn.is_handshaking() && self.poll_handshake(cx)?.is_pending() {
                return Poll::Pending;
            }
            self.early_plaintext = false;
        }
        Poll::Ready(Ok(()))
    }

    /// Writes what rustls has queued (handshake messages, records,
    /// alerts) to the stream. Pending while the stream takes no more.
    fn poll_write_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.conn.wants_write() {
            let mut out = Bridge {
                io: &mut self.io,
                cx,
            };
            match self.conn.write_tls(&mut out) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Reads ciphertext from the stream and processes it: the number of
    /// bytes read, `0` at the stream's end.
    fn poll_read_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut input = Bridge {
            io: &mut self.io,
            cx,
        };
        let n = match self.conn.read_tls(&mut input) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
            Err(e) => return Poll::Ready(Err(e)),
        };
        if let Err(e) = self.conn.process_new_packets() {
            // rustls queued the alert that tells the peer why; send it if
            // the stream takes it now, without waiting for it.
            let _ = self.poll_write_tls(cx);
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
        }
        Poll::Ready(Ok(n))
    }
}

impl<I: Io> Io for TlsIo<I> {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        loop {
            match self.conn.reader().read(buf) {
                // Plaintext, or 0 after the peer's close_notify.
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The stream ended without close_notify.
                Err(e) => return Poll::Ready(Err(e)),
            }
            // Handshake replies, key updates and alerts go out as they
            // come, even when the application has nothing to write; a full
            // stream registers this task for writability, which is enough.
            // A failed write is the writer's to report: what the peer sent
            // before it stopped reading (an early answer) is still read.
            let _ = self.poll_write_tls(cx);
            if self.poll_read_tls(cx)?.is_pending() {
                return Poll::Pending;
            }
            // Read (possibly the stream's end, which rustls now knows):
            // look for plaintext again.
        }
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if bufs.iter().all(|b| b.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        if self.close_sent {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after the TLS stream was shut down",
            )));
        }
        // rustls takes plaintext up to its buffer limit (encrypting it at
        // once after the handshake, keeping it until then); what does not
        // fit in the socket now stays with rustls, for the next write or
        // flush (the driver flushes until a flush completes).
        let taken = self.conn.writer().write_vectored(bufs)?;
        // Only a client's: a server writes before its handshake ends only
        // to say farewell (a 408) to a client that never finished it, and
        // waiting on that client would hold the connection the timer
        // meant to end.
        if taken > 0 && self.conn.is_handshaking() && self.is_client() {
            self.early_plaintext = true;
        }
        let flushed = self.poll_write_tls(cx)?;
        if taken > 0 {
            return Poll::Ready(Ok(taken));
        }
        if flushed.is_pending() {
            // Room comes when the stream drains, which wakes this task.
            return Poll::Pending;
        }
        if self.conn.is_handshaking() {
            // Room comes when the handshake ends and rustls encrypts what
            // it kept. Drive it from here: the caller may not be reading,
            // and a Pending must leave a waker on the peer's answer.
            if self.poll_handshake(cx)?.is_pending() {
                return Poll::Pending;
            }
        }
        // rustls' buffer was full and has just drained into the stream
        // (with the handshake's end, if it was still running).
        let taken = self.conn.writer().write_vectored(bufs)?;
        if taken == 0 {
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        // Pending here leaves the records with rustls and the waker with
        // the stream: the driver's next flush sends them.
        let _ = self.poll_write_tls(cx)?;
        Poll::Ready(Ok(taken))
    }

    /// Writes what rustls holds to the stream and flushes it. Plaintext a
    /// client wrote before the handshake ended is only encrypted once it
    /// has, so such a flush runs the handshake first: `Ready` means every
    /// byte written was handed to the stream.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.poll_early_plaintext(cx)?.is_pending() {
            return Poll::Pending;
        }
        if self.poll_write_tls(cx)?.is_pending() {
            return Poll::Pending;
        }
        self.io.poll_flush(cx)
    }

    /// Sends what was written (running the handshake first if a client
    /// wrote early plaintext, as a flush does), then close_notify, then
    /// shuts the stream's write side.
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // rustls sends nothing of its plaintext after close_notify.
        if !self.close_sent && self.poll_early_plaintext(cx)?.is_pending() {
            return Poll::Pending;
        }
        if !self.close_sent {
            self.conn.send_close_notify();
            self.close_sent = true;
        }
        if self.poll_write_tls(cx)?.is_pending() {
            return Poll::Pending;
        }
        self.io.poll_shutdown(cx)
    }

    fn is_secure(&self) -> bool {
        true
    }
}

/// The stream as `std::io` sees it, for rustls' `read_tls` and
/// `write_tls`: `Pending` is `WouldBlock`, with the task's waker
/// registered by the poll underneath.
struct Bridge<'a, 'b, I> {
    io: &'a mut I,
    cx: &'a mut Context<'b>,
}

impl<I: Io> Read for Bridge<'_, '_, I> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.io.poll_read(self.cx, buf) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl<I: Io> Write for Bridge<'_, '_, I> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self.io.poll_write_vectored(self.cx, bufs) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.io.poll_flush(self.cx) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

/// A stream that is TLS or not, decided at run time (`ws://` or `wss://`,
/// `http://` or `https://`): one type for the connections of either.
#[derive(Debug)]
pub enum MaybeTls<I> {
    /// Plaintext.
    Plain(I),
    /// TLS.
    Tls(Box<TlsIo<I>>),
}

impl<I: Io> Io for MaybeTls<I> {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self {
            MaybeTls::Plain(io) => io.poll_read(cx, buf),
            MaybeTls::Tls(io) => io.poll_read(cx, buf),
        }
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self {
            MaybeTls::Plain(io) => io.poll_write_vectored(cx, bufs),
            MaybeTls::Tls(io) => io.poll_write_vectored(cx, bufs),
        }
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            MaybeTls::Plain(io) => io.poll_flush(cx),
            MaybeTls::Tls(io) => io.poll_flush(cx),
        }
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            MaybeTls::Plain(io) => io.poll_shutdown(cx),
            MaybeTls::Tls(io) => io.poll_shutdown(cx),
        }
    }

    fn is_secure(&self) -> bool {
        matches!(self, MaybeTls::Tls(_))
    }
}

/// A listener whose connections are TLS server streams: give it to
/// [`http1::serve`](crate::http1::serve) (which also serves HTTP/2) for an
/// HTTPS server.
///
/// Accepting does not wait for the handshake — each connection's task runs
/// it — so a client that stalls mid-handshake holds only its own
/// connection, until the server's header-read timer ends it.
#[derive(Debug)]
pub struct TlsListener<L> {
    inner: L,
    config: Arc<ServerConfig>,
}

impl<L: Listener> TlsListener<L> {
    /// TLS with `config` on the connections of `inner`.
    pub fn new(inner: L, config: Arc<ServerConfig>) -> Self {
        Self { inner, config }
    }
}

impl<L: Listener> Listener for TlsListener<L> {
    type Io = TlsIo<L::Io>;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Io, SocketAddr)>> {
        let (io, peer) = match self.inner.poll_accept(cx) {
            Poll::Ready(Ok(accepted)) => accepted,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        Poll::Ready(
            TlsIo::server(io, self.config.clone())
                .map(|tls| (tls, peer))
                .map_err(io::Error::other),
        )
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// Opens a TCP connection to `addr` on `rt` and runs the TLS handshake with
/// `name` as the server's expected name.
///
/// It has no timeout of its own, and a server that accepts the connection
/// but never answers the handshake holds it forever: bound it with
/// [`timeout`](crate::timeout), as this crate's clients do with their
/// connect timeouts.
///
/// # Errors
///
/// The connection failed, or the handshake did (see [`TlsIo::handshake`]).
pub async fn connect<R: Runtime>(
    rt: &R,
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
) -> io::Result<TlsIo<R::Io>> {
    let io = rt.connect(addr).await?;
    let mut tls = TlsIo::client(io, config, name).map_err(io::Error::other)?;
    tls.handshake().await?;
    Ok(tls)
}
