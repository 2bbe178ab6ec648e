use crate::Error;
use bytes::Bytes;
use futures_core::Stream;
use http::HeaderMap;
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use wirestate_http1::{BodyKind, BodySize};

/// What a body fails with when its sender gave it up — a call dropped
/// before it ended its request — rather than because something went
/// wrong: the HTTP/2 connection resets the stream with CANCEL (what gRPC
/// asks of a client cancelling) instead of INTERNAL_ERROR, and logs
/// nothing.
#[derive(Debug, thiserror::Error)]
#[error("the body was given up before its end")]
pub(crate) struct Cancelled;

impl Cancelled {
    /// The error a given-up body fails with.
    pub(crate) fn error() -> io::Error {
        io::Error::new(io::ErrorKind::ConnectionAborted, Cancelled)
    }

    /// Whether `e` says a body was given up ([`Cancelled::error`]).
    pub(crate) fn is(e: &io::Error) -> bool {
        e.get_ref().is_some_and(|inner| inner.is::<Cancelled>())
    }
}

/// A boxed stream of body chunks.
pub type BodyStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send + 'static>>;

/// A boxed stream of body frames (data, then optionally trailers).
pub type FrameStream = Pin<Box<dyn Stream<Item = io::Result<Frame>> + Send + 'static>>;

/// One piece of an outgoing body: data, or the trailers that end it.
///
/// Trailers are sent by the HTTP/2 server and client as a final HEADERS
/// frame, and by the HTTP/1.1 server after the last chunk of a chunked
/// body (they are dropped for bodies framed by Content-Length).
#[derive(Debug, Clone)]
pub enum Frame {
    /// Body bytes.
    Data(Bytes),
    /// The trailer fields; the body ends with them (frames after trailers
    /// are ignored).
    Trailers(HeaderMap),
}

/// A message body, streamed as `Bytes` chunks: empty, one buffer, a stream
/// the application produces, or the incoming body of a received message.
///
/// ```
/// # futures_lite::future::block_on(async {
/// use wirestate_rt::Body;
/// let body = Body::from("hello");
/// assert_eq!(&body.collect(1024).await.unwrap()[..], b"hello");
/// # });
/// ```
pub struct Body {
    inner: Inner,
}

enum Inner {
    Empty,
    Full(Option<Bytes>),
    Stream {
        stream: BodyStream,
        len: Option<u64>,
    },
    Incoming(Incoming),
    Frames {
        stream: Option<FrameStream>,
        trailers: Option<HeaderMap>,
    },
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.inner {
            Inner::Empty => "empty",
            Inner::Full(_) => "full",
            Inner::Stream { .. } => "stream",
            Inner::Incoming(_) => "incoming",
            Inner::Frames { .. } => "frames",
        };
        f.debug_struct("Body")
            .field("kind", &kind)
            .field("size", &self.size())
            .finish()
    }
}

impl Default for Body {
    fn default() -> Self {
        Self::empty()
    }
}

impl Body {
    /// No body.
    pub fn empty() -> Self {
        Self {
            inner: Inner::Empty,
        }
    }

    /// One buffer.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        if bytes.is_empty() {
            Self::empty()
        } else {
            Self {
                inner: Inner::Full(Some(bytes)),
            }
        }
    }

    /// A stream of chunks of unknown total length (sent chunked).
    pub fn from_stream(stream: impl Stream<Item = io::Result<Bytes>> + Send + 'static) -> Self {
        Self {
            inner: Inner::Stream {
                stream: Box::pin(stream),
                len: None,
            },
        }
    }

    /// A stream of chunks adding up to exactly `len` bytes (sent with Content-Length).
    pub fn from_stream_sized(
        stream: impl Stream<Item = io::Result<Bytes>> + Send + 'static,
        len: u64,
    ) -> Self {
        Self {
            inner: Inner::Stream {
                stream: Box::pin(stream),
                len: Some(len),
            },
        }
    }

    /// A stream of data frames that may end with trailers (sent chunked on
    /// HTTP/1.1, trailers after the last chunk; as DATA then a trailing
    /// HEADERS frame on HTTP/2). [`trailers`](Body::trailers) returns the
    /// trailers once the stream yielded them.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// use wirestate_rt::{Body, Frame};
    /// let mut trailers = http::HeaderMap::new();
    /// trailers.insert("grpc-status", "0".parse().unwrap());
    /// let frames = futures_lite::stream::iter([
    ///     Ok(Frame::Data("hi".into())),
    ///     Ok(Frame::Trailers(trailers)),
    /// ]);
    /// let mut body = Body::from_frames(frames);
    /// assert_eq!(&body.chunk().await.unwrap().unwrap()[..], b"hi");
    /// assert!(body.chunk().await.is_none());
    /// assert_eq!(body.trailers().unwrap()["grpc-status"], "0");
    /// # });
    /// ```
    pub fn from_frames(stream: impl Stream<Item = io::Result<Frame>> + Send + 'static) -> Self {
        Self {
            inner: Inner::Frames {
                stream: Some(Box::pin(stream)),
                trailers: None,
            },
        }
    }

    /// A body the application writes as it goes, through a [`BodyWriter`]:
    /// data chunks (at most `capacity` queued before
    /// [`send_data`](BodyWriter::send_data) waits), then optionally
    /// trailers. The body ends when the writer sends trailers or is dropped.
    ///
    /// ```
    /// # futures_lite::future::block_on(async {
    /// use wirestate_rt::Body;
    /// let (mut writer, body) = Body::writer(4);
    /// writer.send_data("a".into()).await.unwrap();
    /// let mut trailers = http::HeaderMap::new();
    /// trailers.insert("x-done", "1".parse().unwrap());
    /// writer.send_trailers(trailers).await.unwrap();
    /// let mut body = body;
    /// assert_eq!(&body.chunk().await.unwrap().unwrap()[..], b"a");
    /// assert!(body.chunk().await.is_none());
    /// assert_eq!(body.trailers().unwrap()["x-done"], "1");
    /// # });
    /// ```
    pub fn writer(capacity: usize) -> (BodyWriter, Body) {
        let (tx, rx) = futures_channel::mpsc::channel(capacity.max(1));
        (BodyWriter { tx }, Body::from_frames(rx))
    }

    /// How the body will be framed when sent.
    pub fn size(&self) -> BodySize {
        match &self.inner {
            Inner::Empty => BodySize::Empty,
            Inner::Full(b) => BodySize::Exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Inner::Stream { len: Some(n), .. } => BodySize::Exact(*n),
            Inner::Stream { len: None, .. } => BodySize::Streaming,
            Inner::Incoming(i) => i.kind.into(),
            Inner::Frames { .. } => BodySize::Streaming,
        }
    }

    /// Whether this is the body of a received message.
    pub(crate) fn is_incoming(&self) -> bool {
        matches!(self.inner, Inner::Incoming(_))
    }

    /// A copy of an empty or single-buffer body (what a retry can resend).
    pub fn try_clone(&self) -> Option<Body> {
        match &self.inner {
            Inner::Empty => Some(Body::empty()),
            Inner::Full(b) => Some(Body {
                inner: Inner::Full(b.clone()),
            }),
            _ => None,
        }
    }

    /// The next chunk; `None` at the end.
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        match &mut self.inner {
            Inner::Empty => Poll::Ready(None),
            Inner::Full(b) => Poll::Ready(b.take().map(Ok)),
            Inner::Stream { stream, .. } => stream.as_mut().poll_next(cx),
            Inner::Incoming(i) => i.poll_chunk(cx),
            Inner::Frames { stream, trailers } => loop {
                let Some(s) = stream else {
                    return Poll::Ready(None);
                };
                match s.as_mut().poll_next(cx) {
                    Poll::Ready(Some(Ok(Frame::Data(b)))) => return Poll::Ready(Some(Ok(b))),
                    Poll::Ready(Some(Ok(Frame::Trailers(t)))) => {
                        *trailers = Some(t);
                        *stream = None;
                    }
                    Poll::Ready(Some(Err(e))) => {
                        *stream = None;
                        return Poll::Ready(Some(Err(e)));
                    }
                    Poll::Ready(None) => *stream = None,
                    Poll::Pending => return Poll::Pending,
                }
            },
        }
    }

    /// The next chunk; `None` at the end.
    pub async fn chunk(&mut self) -> Option<io::Result<Bytes>> {
        std::future::poll_fn(|cx| self.poll_chunk(cx)).await
    }

    /// Trailers, once the body ended: those of a received chunked body (or
    /// HTTP/2 trailing HEADERS), or those a [`from_frames`](Body::from_frames)
    /// or [`writer`](Body::writer) body ended with.
    pub fn trailers(&self) -> Option<HeaderMap> {
        match &self.inner {
            Inner::Incoming(i) => i.lock().trailers.clone(),
            Inner::Frames {
                stream: None,
                trailers,
            } => trailers.clone(),
            _ => None,
        }
    }

    /// Whether the body ended with trailers (see [`trailers`](Body::trailers)),
    /// without copying them.
    pub fn has_trailers(&self) -> bool {
        match &self.inner {
            Inner::Incoming(i) => i.lock().trailers.is_some(),
            Inner::Frames {
                stream: None,
                trailers,
            } => trailers.is_some(),
            _ => false,
        }
    }

    /// Takes the trailers the body ended with (see
    /// [`trailers`](Body::trailers)): what a connection sending the body
    /// does, instead of copying them. [`trailers`](Body::trailers) returns
    /// `None` afterwards.
    pub fn take_trailers(&mut self) -> Option<HeaderMap> {
        match &mut self.inner {
            Inner::Incoming(i) => i.lock().trailers.take(),
            Inner::Frames {
                stream: None,
                trailers,
            } => trailers.take(),
            _ => None,
        }
    }

    /// Reads the whole body, refusing more than `limit` bytes.
    pub async fn collect(mut self, limit: usize) -> Result<Bytes, Error> {
        let mut first: Option<Bytes> = None;
        let mut buf = Vec::new();
        while let Some(chunk) = self.chunk().await {
            let chunk = chunk?;
            let total = buf.len() + first.as_ref().map_or(0, Bytes::len) + chunk.len();
            if total > limit {
                return Err(Error::BodyTooLarge(limit));
            }
            match first.take() {
                None if buf.is_empty() => first = Some(chunk),
                None => buf.extend_from_slice(&chunk),
                Some(f) => {
                    buf.extend_from_slice(&f);
                    buf.extend_from_slice(&chunk);
                }
            }
        }
        Ok(first.unwrap_or_else(|| Bytes::from(buf)))
    }

    /// Runs `f` once when this (incoming) body has been read to its end
    /// (`true`) or dropped before that (`false`). Connection pools use it to
    /// take a connection back. For other bodies `f` runs at once with `true`.
    pub fn on_end(self, f: impl FnOnce(bool) + Send + 'static) -> Self {
        match &self.inner {
            Inner::Incoming(i) => {
                let mut st = i.lock();
                if st.done && st.chunks.is_empty() {
                    drop(st);
                    f(true);
                } else {
                    st.on_end = Some(Box::new(f));
                }
            }
            _ => f(true),
        }
        self
    }

    /// A body fed by a connection driver, and the driver's end of it.
    pub(crate) fn channel(kind: BodyKind, expects_continue: bool) -> (BodySender, Body) {
        let shared = Arc::new(Mutex::new(IncomingState {
            expects_continue,
            done: kind == BodyKind::Empty,
            ..Default::default()
        }));
        (
            BodySender {
                shared: shared.clone(),
            },
            Body {
                inner: Inner::Incoming(Incoming { shared, kind }),
            },
        )
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body::full(b)
    }
}
impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body::full(Bytes::from_static(s.as_bytes()))
    }
}
impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Self {
        Body::full(Bytes::from_static(s))
    }
}
impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::full(Bytes::from(s))
    }
}
impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Body::full(Bytes::from(v))
    }
}

/// The application's end of a [`Body::writer`] body.
#[derive(Debug)]
pub struct BodyWriter {
    tx: futures_channel::mpsc::Sender<io::Result<Frame>>,
}

impl BodyWriter {
    /// Queues a chunk, waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// [`Error::Aborted`] if the body was dropped (the peer went away or
    /// the request was cancelled).
    pub async fn send_data(&mut self, data: Bytes) -> Result<(), Error> {
        self.send(Ok(Frame::Data(data))).await
    }

    async fn send(&mut self, frame: io::Result<Frame>) -> Result<(), Error> {
        std::future::poll_fn(|cx| self.tx.poll_ready(cx))
            .await
            .map_err(|_| Error::Aborted { sent: true })?;
        self.tx
            .start_send(frame)
            .map_err(|_| Error::Aborted { sent: true })
    }

    /// Ends the body with `trailers`, queued after the data.
    ///
    /// # Errors
    ///
    /// [`Error::Aborted`] if the body was dropped.
    pub async fn send_trailers(mut self, trailers: HeaderMap) -> Result<(), Error> {
        self.send(Ok(Frame::Trailers(trailers))).await
    }

    /// Ends the body with an error: the connection resets the stream (or
    /// closes an HTTP/1.1 connection) instead of ending the body cleanly.
    ///
    /// # Errors
    ///
    /// [`Error::Aborted`] if the body was dropped.
    pub async fn abort(mut self, error: io::Error) -> Result<(), Error> {
        self.send(Err(error)).await
    }

    /// Whether the body was dropped (nobody will read more).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

#[derive(Default)]
struct IncomingState {
    chunks: VecDeque<Bytes>,
    buffered: usize,
    done: bool,
    trailers: Option<HeaderMap>,
    error: Option<String>,
    reader: Option<Waker>,
    driver: Option<Waker>,
    expects_continue: bool,
    /// The reader asked for data while the peer waits for 100 Continue.
    wants_continue: bool,
    dropped: bool,
    on_end: Option<Box<dyn FnOnce(bool) + Send>>,
}

struct Incoming {
    shared: Arc<Mutex<IncomingState>>,
    kind: BodyKind,
}

impl Incoming {
    fn lock(&self) -> MutexGuard<'_, IncomingState> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        let mut st = self.lock();
        if let Some(chunk) = st.chunks.pop_front() {
            st.buffered -= chunk.len();
            // Room again: let the driver read more.
            if let Some(w) = st.driver.take() {
                w.wake();
            }
            let ended = st.done && st.chunks.is_empty();
            let on_end = if ended { st.on_end.take() } else { None };
            drop(st);
            if let Some(f) = on_end {
                f(true);
            }
            return Poll::Ready(Some(Ok(chunk)));
        }
        if let Some(e) = st.error.take() {
            st.done = true;
            return Poll::Ready(Some(Err(io::Error::new(io::ErrorKind::InvalidData, e))));
        }
        if st.done {
            let on_end = st.on_end.take();
            drop(st);
            if let Some(f) = on_end {
                f(true);
            }
            return Poll::Ready(None);
        }
        if st.expects_continue && !st.wants_continue {
            st.wants_continue = true;
            if let Some(w) = st.driver.take() {
                w.wake();
            }
        }
        match &st.reader {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.reader = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        let mut st = self.lock();
        st.dropped = true;
        st.chunks.clear();
        st.buffered = 0;
        let clean = st.done && st.error.is_none();
        let on_end = st.on_end.take();
        if let Some(w) = st.driver.take() {
            w.wake();
        }
        drop(st);
        if let Some(f) = on_end {
            f(clean);
        }
    }
}

/// The driver's end of an incoming body.
pub(crate) struct BodySender {
    shared: Arc<Mutex<IncomingState>>,
}

impl BodySender {
    fn lock(&self) -> MutexGuard<'_, IncomingState> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a chunk (dropped if the reader is gone).
    pub fn push(&self, chunk: Bytes) {
        let mut st = self.lock();
        if st.dropped {
            return;
        }
        st.buffered += chunk.len();
        st.chunks.push_back(chunk);
        if let Some(w) = st.reader.take() {
            w.wake();
        }
    }

    /// Ends the body.
    pub fn finish(&self, trailers: Option<HeaderMap>) {
        let mut st = self.lock();
        st.done = true;
        st.trailers = trailers;
        if let Some(w) = st.reader.take() {
            w.wake();
        }
    }

    /// Ends the body with an error.
    pub fn fail(&self, error: String) {
        let mut st = self.lock();
        if !st.done {
            st.error = Some(error);
        }
        if let Some(w) = st.reader.take() {
            w.wake();
        }
    }

    /// Bytes waiting for the reader; registers the driver to be woken when
    /// the reader takes some.
    pub fn buffered(&self, cx: &Context<'_>) -> usize {
        let mut st = self.lock();
        if st.buffered > 0 || st.expects_continue {
            match &st.driver {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => st.driver = Some(cx.waker().clone()),
            }
        }
        st.buffered
    }

    /// Whether the reader dropped the body before its end; registers the
    /// driver to be woken when it does.
    pub fn watch_dropped(&self, cx: &Context<'_>) -> bool {
        let mut st = self.lock();
        if st.dropped {
            return true;
        }
        match &st.driver {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.driver = Some(cx.waker().clone()),
        }
        false
    }

    /// Whether the peer still waits for 100 Continue; clears it (the
    /// caller sends the 100 now).
    pub fn take_expectation(&self) -> bool {
        let mut st = self.lock();
        std::mem::take(&mut st.expects_continue) && !st.done
    }

    /// Whether the reader is waiting on a 100 Continue; clears the request.
    pub fn take_continue_request(&self) -> bool {
        let mut st = self.lock();
        let want = st.wants_continue && st.expects_continue;
        if want {
            st.expects_continue = false;
        }
        want
    }
}
