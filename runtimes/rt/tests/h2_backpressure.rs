//! A peer that opens huge HTTP/2 windows and then stops reading must not
//! make a streamed response pile up in memory: the flow-control windows
//! bound what the peer may receive, not how fast it reads. Driven without
//! sockets: a stream that takes 64 KiB of output and then blocks forever.

mod support;

use bytes::{Bytes, BytesMut};
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;
use support::StillRuntime;
use wirestate_h2::connection::{Config, Connection};
use wirestate_machine::{Machine, Transmit};
use wirestate_rt::http1::{ServerConfig, serve_connection};
use wirestate_rt::{Body, Io, Shutdown};

/// Sends `input` once, then nothing; takes `room` bytes of output, then
/// blocks forever.
struct StalledPeer {
    input: Option<Bytes>,
    room: usize,
}

impl Io for StalledPeer {
    fn poll_read(&mut self, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self.input.take() {
            Some(b) => {
                buf[..b.len()].copy_from_slice(&b);
                Poll::Ready(Ok(b.len()))
            }
            None => Poll::Pending,
        }
    }
    fn poll_write_vectored(
        &mut self,
        _: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        let n = len.min(self.room);
        if n == 0 {
            return Poll::Pending;
        }
        self.room -= n;
        Poll::Ready(Ok(n))
    }
    fn poll_flush(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The client's bytes: preface, SETTINGS with the largest stream window,
/// the largest connection window, and one GET.
fn greedy_client_bytes(now: Instant) -> Bytes {
    let mut config = Config::default();
    config.initial_stream_window = (1 << 31) - 1;
    config.connection_window = (1 << 31) - 1;
    let mut client = Connection::client(config);
    let req = http::Request::get("http://t/forever").body(()).unwrap();
    client.send_request(req.into_parts().0, true).unwrap();
    client.handle_timeout(now);
    let mut out = BytesMut::new();
    while let Some(t) = client.poll_transmit() {
        if let Transmit::Bytes(b) = t {
            out.extend_from_slice(&b);
        }
    }
    out.freeze()
}

#[test]
fn a_peer_that_stops_reading_bounds_the_queued_response() {
    let now = Instant::now();
    let produced = Arc::new(AtomicUsize::new(0));
    let counter = produced.clone();
    // An endless response body, counting what the server pulls from it.
    let handler = move |_req: http::Request<Body>| {
        let counter = counter.clone();
        async move {
            let chunks = futures_lite::stream::repeat_with(move || {
                counter.fetch_add(16 * 1024, Ordering::SeqCst);
                Ok::<_, io::Error>(Bytes::from(vec![b'x'; 16 * 1024]))
            });
            http::Response::new(Body::from_stream(chunks))
        }
    };
    let io = StalledPeer {
        input: Some(greedy_client_bytes(now)),
        room: 64 * 1024,
    };
    let mut conn = serve_connection(
        StillRuntime::<StalledPeer>::at(now),
        io,
        handler,
        &ServerConfig::default(),
        Shutdown::new(),
    );
    let waker = futures_lite::future::block_on(futures_lite::future::poll_fn(|cx| {
        Poll::Ready(cx.waker().clone())
    }));
    let mut cx = Context::from_waker(&waker);
    for _ in 0..5_000 {
        assert!(Pin::new(&mut conn).poll(&mut cx).is_pending());
    }
    let pulled = produced.load(Ordering::SeqCst);
    assert!(pulled > 64 * 1024, "the response started ({pulled} bytes)");
    // 64 KiB written, at most 256 KiB held by the driver, the machine's
    // write_high_water (1 MiB) queued, a frame's worth gathered: under 2 MiB.
    assert!(
        pulled < 2 << 20,
        "{pulled} bytes pulled from the body while the peer reads nothing"
    );
}
