//! A server may answer an upload before reading it (413, 401) and then
//! reset the connection for the unread rest: the client's next write fails
//! while the answer waits in its socket. The driver must read that answer
//! and hand it on instead of ending at the failed write. Driven without
//! sockets: a stream that takes some of the body, then fails every write,
//! and only then lets the answer be read.

mod support;

use bytes::Bytes;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;
use support::StillRuntime;
use wirestate_rt::{Body, Io};

/// Takes `room` bytes, then fails every write with a broken pipe; reads
/// are `Pending` until a write has failed, then give `answer` and the end.
struct AnswersEarly {
    room: usize,
    failed: bool,
    answer: Option<Bytes>,
}

impl Io for AnswersEarly {
    fn poll_read(&mut self, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if !self.failed {
            return Poll::Pending;
        }
        match self.answer.take() {
            Some(a) => {
                buf[..a.len()].copy_from_slice(&a);
                Poll::Ready(Ok(a.len()))
            }
            None => Poll::Ready(Ok(0)),
        }
    }
    fn poll_write_vectored(
        &mut self,
        _: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        if self.room == 0 {
            self.failed = true;
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let n = len.min(self.room);
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

#[test]
fn an_answer_sent_before_the_body_was_read_is_not_lost() {
    let io = AnswersEarly {
        room: 4096,
        failed: false,
        answer: Some(Bytes::from_static(
            b"HTTP/1.1 413 Content Too Large\r\ncontent-length: 3\r\nconnection: close\r\n\r\nbig",
        )),
    };
    let rt = StillRuntime::<AnswersEarly>::at(Instant::now());
    let (send, driver) = wirestate_rt::http1::handshake(rt, io, Default::default(), false);
    let upload = Body::from(vec![0u8; 1 << 20]);
    let req = http::Request::post("http://t/upload").body(upload).unwrap();
    let mut response = pin!(send.send(req));
    let mut driver = pin!(driver);
    let mut cx = Context::from_waker(Waker::noop());
    let mut answer = None;
    for _ in 0..100 {
        let _ = driver.as_mut().poll(&mut cx);
        if let Poll::Ready(r) = response.as_mut().poll(&mut cx) {
            answer = Some(r);
            break;
        }
    }
    let res = answer
        .expect("the response future never finished")
        .expect("the early answer was lost to the failed write");
    assert_eq!(res.status(), 413);
}
