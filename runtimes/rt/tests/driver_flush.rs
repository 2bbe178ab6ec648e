//! A stream with its own buffer (TLS: records rustls could not yet hand to
//! the socket) may answer a flush with `Pending`. The driver must flush it
//! again on its next poll even when nothing new is written, and must not
//! finish — dropping the stream and what it still holds — before a flush
//! completes. Driven without sockets: a machine that says one thing and
//! closes, over a stream whose first flushes do not complete.

mod support;

use bytes::Bytes;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;
use support::StillRuntime;
use wirestate_machine::{Machine, Transmit};
use wirestate_rt::{App, Driver, Io};

/// Takes every write; its first `pending_flushes` flushes are `Pending`.
struct SlowFlush {
    written: Vec<u8>,
    pending_flushes: usize,
    flushes: usize,
}

impl Io for SlowFlush {
    fn poll_read(&mut self, _: &mut Context<'_>, _: &mut [u8]) -> Poll<io::Result<usize>> {
        Poll::Pending
    }
    fn poll_write_vectored(
        &mut self,
        _: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut n = 0;
        for b in bufs {
            self.written.extend_from_slice(b);
            n += b.len();
        }
        Poll::Ready(Ok(n))
    }
    fn poll_flush(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.flushes += 1;
        if self.flushes <= self.pending_flushes {
            Poll::Pending
        } else {
            Poll::Ready(Ok(()))
        }
    }
    fn poll_shutdown(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Says `goodbye` and is closed once that is taken.
struct Farewell {
    out: Option<Bytes>,
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

impl Machine for Farewell {
    type Event = ();
    type Error = Never;
    fn handle_input(&mut self, _: Instant, _: &[u8]) -> Result<(), Never> {
        Ok(())
    }
    fn handle_eof(&mut self, _: Instant) -> Result<(), Never> {
        Ok(())
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.take().map(Transmit::Bytes)
    }
    fn poll_event(&mut self) -> Option<()> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn wants_read(&self) -> bool {
        false
    }
    fn is_closed(&self) -> bool {
        self.out.is_none()
    }
}

struct Quiet;
impl App<Farewell> for Quiet {
    fn poll(&mut self, _: &mut Context<'_>, _: &mut Farewell, _: Instant) -> bool {
        false
    }
}

#[test]
fn a_pending_flush_is_retried_and_holds_the_end() {
    let io = SlowFlush {
        written: Vec::new(),
        pending_flushes: 3,
        flushes: 0,
    };
    let machine = Farewell {
        out: Some(Bytes::from_static(b"goodbye")),
    };
    let mut driver = Driver::new(
        StillRuntime::<SlowFlush>::at(Instant::now()),
        machine,
        io,
        Quiet,
    );
    let mut cx = Context::from_waker(Waker::noop());
    // Each poll after the first is the stream's wake-up (in real life);
    // the driver has nothing new to write then, only the flush to retry.
    let mut polls = 0;
    loop {
        polls += 1;
        assert!(polls <= 10, "the driver never finished");
        match Pin::new(&mut driver).poll(&mut cx) {
            Poll::Ready(Ok(())) => break,
            Poll::Ready(Err(e)) => panic!("{e}"),
            Poll::Pending => {}
        }
    }
    let (_, io, _, _) = driver.into_parts();
    assert_eq!(io.written, b"goodbye");
    // It ended only after a flush completed.
    assert_eq!(io.flushes, 4);
}
