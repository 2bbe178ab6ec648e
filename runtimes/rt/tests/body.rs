//! `Body` and `Shutdown`, without sockets.

use bytes::Bytes;
use futures_lite::future::block_on;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use wirestate_http1::BodySize;
use wirestate_rt::{Body, Error, Shutdown};

#[test]
fn sizes_and_clones() {
    assert_eq!(Body::empty().size(), BodySize::Empty);
    assert_eq!(Body::from("abc").size(), BodySize::Exact(3));
    assert_eq!(Body::from("").size(), BodySize::Empty);
    let s = futures_lite::stream::iter(vec![Ok(Bytes::from_static(b"x"))]);
    let streamed = Body::from_stream(s);
    assert_eq!(streamed.size(), BodySize::Streaming);
    assert!(
        streamed.try_clone().is_none(),
        "a stream cannot be replayed"
    );
    let full = Body::from(vec![1u8, 2, 3]);
    let copy = full.try_clone().unwrap();
    assert_eq!(
        block_on(copy.collect(10)).unwrap(),
        Bytes::from_static(&[1, 2, 3])
    );
    let s = futures_lite::stream::iter(vec![
        Ok(Bytes::from_static(b"ab")),
        Ok(Bytes::from_static(b"c")),
    ]);
    assert_eq!(Body::from_stream_sized(s, 3).size(), BodySize::Exact(3));
}

#[test]
fn collect_joins_and_limits() {
    let chunks = (0..10).map(|i| Ok(Bytes::from(vec![i as u8; 100])));
    let body = Body::from_stream(futures_lite::stream::iter(chunks.clone()));
    let all = block_on(body.collect(1000)).unwrap();
    assert_eq!(all.len(), 1000);
    assert!(
        all.chunks(100)
            .enumerate()
            .all(|(i, c)| c.iter().all(|&b| b == i as u8))
    );
    let body = Body::from_stream(futures_lite::stream::iter(chunks));
    assert!(matches!(
        block_on(body.collect(999)),
        Err(Error::BodyTooLarge(999))
    ));
}

#[test]
fn stream_errors_surface() {
    let s = futures_lite::stream::iter(vec![
        Ok(Bytes::from_static(b"a")),
        Err(std::io::Error::other("broken")),
    ]);
    let r = block_on(Body::from_stream(s).collect(100));
    assert!(matches!(r, Err(Error::Io(_))));
}

#[test]
fn on_end_runs_once_for_complete_bodies() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let _ = Body::from("x").on_end(move |clean| {
        assert!(clean);
        c.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn shutdown_wakes_waiters() {
    let sd = Shutdown::new();
    assert!(!sd.is_triggered());
    let waiter = {
        let sd = sd.clone();
        std::thread::spawn(move || block_on(sd.wait()))
    };
    std::thread::sleep(std::time::Duration::from_millis(20));
    sd.trigger();
    waiter.join().unwrap();
    assert!(sd.is_triggered());
    // Waiting after the trigger returns at once.
    block_on(sd.wait());
}

#[test]
fn errors_say_whether_a_retry_is_safe() {
    assert!(Error::Aborted { sent: false }.is_unsent());
    assert!(!Error::Aborted { sent: true }.is_unsent());
    assert!(Error::Connect(std::io::ErrorKind::ConnectionRefused.into()).is_unsent());
    assert!(Error::Timeout.is_retryable());
    assert!(!Error::BodyTooLarge(1).is_retryable());
    assert!(!Error::Http(wirestate_http1::Error::MissingHost).is_retryable());
}
