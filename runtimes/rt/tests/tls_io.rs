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
