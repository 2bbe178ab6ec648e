//! `TlsIo` driven by hand over a mock stream, without sockets or a
//! runtime: every `Pending` it returns must leave a waker with the stream
//! underneath, or the task that got it sleeps forever.
#![cfg(feature = "tls")]

use std::io::{self, IoSlice};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use wirestate_rt::Io;
use wirestate_rt::tls::{self, TlsIo, rustls};

/// Takes every write; reads are `Pending` (the peer has not answered),
/// keeping the waker they were polled with.
#[derive(Default)]
struct Silent {
    written: usize,
    read_waker: Option<Waker>,
}

impl Io for Silent {
    fn poll_read(&mut self, cx: &mut Context<'_>, _: &mut [u8]) -> Poll<io::Result<usize>> {
        self.read_waker = Some(cx.waker().clone());
        Poll::Pending
    }
    fn poll_write_vectored(
        &mut self,
        _: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let n = bufs.iter().map(|b| b.len()).sum();
        self.written += n;
        Poll::Ready(Ok(n))
    }
    fn poll_flush(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

struct Noop;
impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// A client that writes before its handshake is done (allowed: rustls
/// keeps the plaintext) and fills rustls' buffer gets `Pending` until the
/// server answers. Nobody else reads the stream here, so the write itself
/// must have registered for that answer.
#[test]
fn a_write_pending_on_the_handshake_waits_for_the_peer() {
    let config = tls::client_config(rustls::RootCertStore::empty(), &[]);
    let name = tls::server_name("localhost").unwrap();
    let mut io = TlsIo::client(Silent::default(), config, name).unwrap();
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    let chunk = vec![7u8; 16 * 1024];
    let mut taken = 0;
    let pending = loop {
        match io.poll_write_vectored(&mut cx, &[IoSlice::new(&chunk)]) {
            Poll::Ready(Ok(n)) => {
                assert!(n > 0);
                taken += n;
                assert!(taken <= 1 << 20, "rustls' early buffer is bounded");
            }
            Poll::Ready(Err(e)) => panic!("write failed: {e}"),
            Poll::Pending => break true,
        }
    };
    assert!(pending);
    assert!(taken > 0, "plaintext is kept while the handshake runs");
    assert!(io.get_ref().written > 0, "the ClientHello went out");
    assert!(
        io.get_ref().read_waker.is_some(),
        "Pending on the handshake without waiting for the server's answer: a lost wake-up"
    );
}

/// A self-signed certificate for `localhost`: the server's config and a
/// client config that trusts it.
fn identity() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = rustls::pki_types::CertificateDer::from(key.cert.der().to_vec());
    let der = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        key.signing_key.serialize_der(),
    ));
    let server = tls::server_config(vec![cert.clone()], der, &[]).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    (server, tls::client_config(roots, &[]))
}

/// The server's end in memory: what the client writes is fed to a rustls
/// server connection at once, whose answers are there to read (then
/// `tail`, raw bytes after them, if any). Reads with nothing to give are
/// `Pending`, keeping their waker.
struct Loopback {
    server: rustls::ServerConnection,
    /// Plaintext the server decrypted.
    received: Vec<u8>,
    /// The server saw the client's close_notify.
    closed_cleanly: bool,
    /// Plaintext the server sends once its handshake is done, then
    /// close_notify if `close` is set.
    reply: Option<(Vec<u8>, bool)>,
    /// Raw bytes the "server" sends after what rustls has for it, in the
    /// same read.
    tail: Vec<u8>,
    /// Then the stream ends (TCP's FIN), instead of reads pending.
    eof: bool,
    read_waker: Option<Waker>,
}

impl Loopback {
    fn new(config: Arc<rustls::ServerConfig>) -> Self {
        Self {
            server: rustls::ServerConnection::new(config).unwrap(),
            received: Vec::new(),
            closed_cleanly: false,
            reply: None,
            tail: Vec::new(),
            eof: false,
            read_waker: None,
        }
    }
}

impl Io for Loopback {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if !self.server.is_handshaking() {
            if let Some((reply, close)) = self.reply.take() {
                std::io::Write::write_all(&mut self.server.writer(), &reply)?;
                if close {
                    self.server.send_close_notify();
                }
            }
        }
        let mut n = 0;
        while self.server.wants_write() && n < buf.len() {
            n += self.server.write_tls(&mut &mut buf[n..])?;
        }
        // The raw bytes come right after the reply, in the same read.
        let after_reply = self.reply.is_none() && !self.server.wants_write();
        let raw = if after_reply {
            self.tail.len().min(buf.len() - n)
        } else {
            0
        };
        buf[n..n + raw].copy_from_slice(&self.tail[..raw]);
        self.tail.drain(..raw);
        n += raw;
        if n > 0 || self.eof {
            return Poll::Ready(Ok(n));
        }
        self.read_waker = Some(cx.waker().clone());
        Poll::Pending
    }
    fn poll_write_vectored(
        &mut self,
        _: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut total = 0;
        for b in bufs {
            let mut rest: &[u8] = b;
            while !rest.is_empty() {
                if self.server.read_tls(&mut rest).unwrap() == 0 {
                    // After the client's close_notify: ignored.
                    break;
                }
                if let Err(e) = self.server.process_new_packets() {
                    // What a broken client would see in return.
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
                }
                let mut plain = [0u8; 4096];
                loop {
                    match std::io::Read::read(&mut self.server.reader(), &mut plain) {
                        Ok(0) => {
                            self.closed_cleanly = true;
                            break;
                        }
                        Ok(n) => self.received.extend_from_slice(&plain[..n]),
                        Err(_) => break,
                    }
                }
            }
            total += b.len();
        }
        Poll::Ready(Ok(total))
    }
    fn poll_flush(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn loopback_client() -> TlsIo<Loopback> {
    let (server, client) = identity();
    let name = tls::server_name("localhost").unwrap();
    TlsIo::client(Loopback::new(server), client, name).unwrap()
}

/// A client whose server answers the handshake, then sends `reply`,
/// close_notify if `close` (else the stream ends there), and `tail` raw.
fn loopback_client_with(reply: &[u8], close: bool, tail: &[u8]) -> TlsIo<Loopback> {
    let (server, client) = identity();
    let mut lo = Loopback::new(server);
    lo.reply = Some((reply.to_vec(), close));
    lo.tail = tail.to_vec();
    lo.eof = !close;
    let name = tls::server_name("localhost").unwrap();
    TlsIo::client(lo, client, name).unwrap()
}

/// Reads until the end of the stream (or an error), a bounded number of
/// times.
fn read_all(io: &mut TlsIo<Loopback>) -> (Vec<u8>, io::Result<()>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    for _ in 0..16 {
        match ready(|cx| io.poll_read(cx, &mut buf)) {
            Ok(0) => return (got, Ok(())),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return (got, Err(e)),
        }
    }
    panic!("no end of stream");
}

/// Polls `f` a bounded number of times until it is ready (the loopback
/// answers at once, so a `Pending` that persists is a hang).
fn ready<T>(mut f: impl FnMut(&mut Context<'_>) -> Poll<T>) -> T {
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    for _ in 0..8 {
        if let Poll::Ready(v) = f(&mut cx) {
            return v;
        }
    }
    panic!("still pending against a peer that answers at once");
}

/// Data written before the handshake ends is kept by rustls, not yet
/// encrypted: a flush that returns must have driven the handshake and
/// handed that data to the stream, or "flushed" means nothing.
#[test]
fn a_flush_during_the_handshake_sends_what_was_written() {
    let mut io = loopback_client();
    let n = ready(|cx| io.poll_write_vectored(cx, &[IoSlice::new(b"hello")])).unwrap();
    assert_eq!(n, 5);
    ready(|cx| io.poll_flush(cx)).unwrap();
    assert!(!io.connection().is_handshaking());
    assert_eq!(io.get_ref().received, b"hello", "flushed, yet not sent");
}

/// The same for a shutdown: what was written goes out before the
/// close_notify, instead of being dropped with the handshake unfinished.
#[test]
fn a_shutdown_during_the_handshake_sends_what_was_written_first() {
    let mut io = loopback_client();
    let n = ready(|cx| io.poll_write_vectored(cx, &[IoSlice::new(b"hello")])).unwrap();
    assert_eq!(n, 5);
    ready(|cx| io.poll_shutdown(cx)).unwrap();
    assert_eq!(io.get_ref().received, b"hello", "shut down, yet not sent");
    assert!(io.get_ref().closed_cleanly, "no close_notify");
}

/// Against a peer that does not answer, that flush is `Pending` and waits
/// for the answer (its waker with the stream's read), not `Ready`.
#[test]
fn a_flush_during_the_handshake_waits_for_the_peer() {
    let config = tls::client_config(rustls::RootCertStore::empty(), &[]);
    let name = tls::server_name("localhost").unwrap();
    let mut io = TlsIo::client(Silent::default(), config, name).unwrap();
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    let written = io.poll_write_vectored(&mut cx, &[IoSlice::new(b"hello")]);
    assert!(matches!(written, Poll::Ready(Ok(5))));
    assert!(
        io.poll_flush(&mut cx).is_pending(),
        "flushed before the data could leave"
    );
    assert!(io.get_ref().read_waker.is_some(), "a lost wake-up");
}

/// A flush with nothing written does not wait for the handshake (a
/// server's connection task may flush before its first read).
#[test]
fn a_flush_with_nothing_written_does_not_wait_for_the_handshake() {
    let config = tls::client_config(rustls::RootCertStore::empty(), &[]);
    let name = tls::server_name("localhost").unwrap();
    let mut io = TlsIo::client(Silent::default(), config, name).unwrap();
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    assert!(matches!(io.poll_flush(&mut cx), Poll::Ready(Ok(()))));
    assert!(io.get_ref().written > 0, "the ClientHello went out");
}

/// Whatever follows the peer's close_notify is ignored (RFC 8446 §6.1):
/// the stream ends cleanly after the data before it, and stays ended.
#[test]
fn bytes_after_close_notify_are_ignored() {
    let mut io = loopback_client_with(b"bye", true, b"\x17\x03\x03\x00\x05junk!");
    let (got, end) = read_all(&mut io);
    assert_eq!(got, b"bye");
    end.expect("a clean end after close_notify");
    let mut buf = [0u8; 16];
    assert_eq!(ready(|cx| io.poll_read(cx, &mut buf)).unwrap(), 0);
    // Our side may still write (a half-close), and then shut down.
    ready(|cx| io.poll_write_vectored(cx, &[IoSlice::new(b"ok")])).unwrap();
    ready(|cx| io.poll_shutdown(cx)).unwrap();
    assert_eq!(io.get_ref().received, b"ok");
}

/// Without close_notify, the end of the stream is a possible truncation:
/// an error after the data, not an end.
#[test]
fn an_end_without_close_notify_is_an_error() {
    let mut io = loopback_client_with(b"bye", false, b"");
    let (got, end) = read_all(&mut io);
    assert_eq!(got, b"bye");
    assert_eq!(end.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
}

/// Takes every write; every read is the end of the stream.
#[derive(Default)]
struct Ended;

impl Io for Ended {
    fn poll_read(&mut self, _: &mut Context<'_>, _: &mut [u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(0))
    }
    fn poll_write_vectored(
        &mut self,
        _: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()))
    }
    fn poll_flush(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A peer that ends the stream mid-handshake fails every wait on that
/// handshake with `UnexpectedEof` — a flush of early data included — and
/// never reports a clean end or a success.
#[test]
fn an_end_during_the_handshake_fails_reads_and_flushes() {
    let config = tls::client_config(rustls::RootCertStore::empty(), &[]);
    let name = tls::server_name("localhost").unwrap();
    let mut io = TlsIo::client(Ended, config, name).unwrap();
    let n = ready(|cx| io.poll_write_vectored(cx, &[IoSlice::new(b"hello")])).unwrap();
    assert_eq!(n, 5);
    let flushed = ready(|cx| io.poll_flush(cx));
    assert_eq!(flushed.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    let mut buf = [0u8; 16];
    let read = ready(|cx| io.poll_read(cx, &mut buf));
    assert_eq!(read.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    let shut = ready(|cx| io.poll_shutdown(cx));
    assert_eq!(shut.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
}

/// After our shutdown, a write is refused (rustls would drop it).
#[test]
fn a_write_after_shutdown_is_refused() {
    let mut io = loopback_client();
    ready(|cx| io.poll_handshake(cx)).unwrap();
    ready(|cx| io.poll_shutdown(cx)).unwrap();
    assert!(io.get_ref().closed_cleanly);
    let w = ready(|cx| io.poll_write_vectored(cx, &[IoSlice::new(b"late")]));
    assert_eq!(w.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
    assert!(io.get_ref().received.is_empty());
}

/// A server writes before its handshake ends only to say farewell (a 408
/// to a client that stalled mid-handshake): its flush and shutdown do not
/// wait for that client, or the connection the timer meant to end would
/// stay open as long as the client likes.
#[test]
fn a_server_farewell_during_the_handshake_does_not_wait_for_the_client() {
    let (server, _) = identity();
    let mut io = TlsIo::server(Silent::default(), server).unwrap();
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    let farewell = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n";
    let written = io.poll_write_vectored(&mut cx, &[IoSlice::new(farewell)]);
    assert!(matches!(written, Poll::Ready(Ok(n)) if n == farewell.len()));
    assert!(matches!(io.poll_flush(&mut cx), Poll::Ready(Ok(()))));
    assert!(matches!(io.poll_shutdown(&mut cx), Poll::Ready(Ok(()))));
}
