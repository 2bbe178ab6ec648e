//! Message bodies: [`Body`] for what is sent, [`BlockingBody`] for what
//! is received.

use crate::Error;
use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use std::io::{self, Read};
use wirestate_http1::{BodyKind, BodySize};

/// Bytes read from a [`Body::from_reader`] source per chunk.
const READ_CHUNK: usize = 64 * 1024;

/// An outgoing message body: what a handler answers with
/// ([`ResponseBody`]) or what the client sends ([`RequestBody`]).
///
/// It is empty, one buffer, any [`Read`] (sent with Content-Length when the
/// length is given, chunked otherwise), an iterator of `Bytes` chunks, or a
/// received [`BlockingBody`] passed on as it arrives (its framing and
/// trailers are kept).
///
/// ```
/// use wirestate_blocking::Body;
/// use wirestate_http1::BodySize;
///
/// assert_eq!(Body::from("hello").size(), BodySize::Exact(5));
/// assert_eq!(Body::from_reader(std::io::empty()).size(), BodySize::Streaming);
/// assert_eq!(Body::from_reader_sized(&b"abc"[..], 3).size(), BodySize::Exact(3));
/// ```
pub struct Body {
    inner: Out,
}

/// A response body, as handlers return it.
pub type ResponseBody = Body;
/// A request body, as the client sends it.
pub type RequestBody = Body;

/// An iterator of body chunks.
type Chunks = Box<dyn Iterator<Item = io::Result<Bytes>> + Send>;

enum Out {
    Empty,
    Full(Option<Bytes>),
    Reader {
        reader: Box<dyn Read + Send>,
        len: Option<u64>,
        /// Bytes still allowed when the length is known.
        left: Option<u64>,
        done: bool,
    },
    Chunks {
        chunks: Chunks,
        len: Option<u64>,
    },
    Incoming(BlockingBody),
    /// Chunks, then trailers made once the chunks end.
    WithTrailers {
        chunks: Chunks,
        make: Option<MakeTrailers>,
        trailers: Option<HeaderMap>,
    },
}

/// Makes a body's trailers once its last chunk was taken.
type MakeTrailers = Box<dyn FnOnce() -> Option<HeaderMap> + Send>;

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.inner {
            Out::Empty => "empty",
            Out::Full(_) => "full",
            Out::Reader { .. } => "reader",
            Out::Chunks { .. } => "chunks",
            Out::Incoming(_) => "incoming",
            Out::WithTrailers { .. } => "with-trailers",
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
        Self { inner: Out::Empty }
    }

    /// One buffer (sent with Content-Length).
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        if bytes.is_empty() {
            Self::empty()
        } else {
            Self {
                inner: Out::Full(Some(bytes)),
            }
        }
    }

    /// Everything `reader` yields until its end, sent chunked. The reader is
    /// pulled as the connection drains, never read ahead whole.
    pub fn from_reader(reader: impl Read + Send + 'static) -> Self {
        Self {
            inner: Out::Reader {
                reader: Box::new(reader),
                len: None,
                left: None,
                done: false,
            },
        }
    }

    /// Exactly `len` bytes from `reader`, sent with Content-Length. Reading
    /// stops after `len` bytes; a reader that ends early fails the message
    /// (the connection closes).
    pub fn from_reader_sized(reader: impl Read + Send + 'static, len: u64) -> Self {
        Self {
            inner: Out::Reader {
                reader: Box::new(reader),
                len: Some(len),
                left: Some(len),
                done: false,
            },
        }
    }

    /// A sequence of chunks of unknown total length, sent chunked. An
    /// `Err` item fails the message (the connection closes).
    pub fn from_chunks(
        chunks: impl IntoIterator<Item = io::Result<Bytes>, IntoIter: Send + 'static>,
    ) -> Self {
        Self {
            inner: Out::Chunks {
                chunks: Box::new(chunks.into_iter()),
                len: None,
            },
        }
    }

    /// A sequence of chunks adding up to exactly `len` bytes, sent with
    /// Content-Length.
    pub fn from_chunks_sized(
        chunks: impl IntoIterator<Item = io::Result<Bytes>, IntoIter: Send + 'static>,
        len: u64,
    ) -> Self {
        Self {
            inner: Out::Chunks {
                chunks: Box::new(chunks.into_iter()),
                len: Some(len),
            },
        }
    }

    /// A sequence of chunks of unknown total length, then trailers:
    /// `trailers` is called once, after the last chunk was taken (so it
    /// can report how producing the chunks went — a gRPC status). Sent as
    /// HTTP/2 trailers, or as the trailer section of a chunked HTTP/1.1
    /// body.
    pub fn from_chunks_with_trailers(
        chunks: impl IntoIterator<Item = io::Result<Bytes>, IntoIter: Send + 'static>,
        trailers: impl FnOnce() -> Option<HeaderMap> + Send + 'static,
    ) -> Self {
        Self {
            inner: Out::WithTrailers {
                chunks: Box::new(chunks.into_iter()),
                make: Some(Box::new(trailers)),
                trailers: None,
            },
        }
    }

    /// How the body will be framed when sent.
    pub fn size(&self) -> BodySize {
        match &self.inner {
            Out::Empty => BodySize::Empty,
            Out::Full(b) => BodySize::Exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Out::Reader { len: Some(n), .. } | Out::Chunks { len: Some(n), .. } => {
                BodySize::Exact(*n)
            }
            Out::Reader { len: None, .. }
            | Out::Chunks { len: None, .. }
            | Out::WithTrailers { .. } => BodySize::Streaming,
            Out::Incoming(b) => b.kind().into(),
        }
    }

    /// A copy of an empty or single-buffer body (what a retry can resend).
    pub fn try_clone(&self) -> Option<Body> {
        match &self.inner {
            Out::Empty => Some(Body::empty()),
            Out::Full(b) => Some(Body {
                inner: Out::Full(b.clone()),
            }),
            _ => None,
        }
    }

    /// The next chunk to send; `None` at the end.
    pub fn next_chunk(&mut self) -> io::Result<Option<Bytes>> {
        match &mut self.inner {
            Out::Empty => Ok(None),
            Out::Full(b) => Ok(b.take()),
            Out::Reader {
                reader, left, done, ..
            } => {
                if *done || *left == Some(0) {
                    return Ok(None);
                }
                let cap = left.map_or(READ_CHUNK, |l| {
                    usize::try_from(l).unwrap_or(usize::MAX).min(READ_CHUNK)
                });
                let mut buf = BytesMut::zeroed(cap);
                loop {
                    match reader.read(&mut buf) {
                        Ok(0) => {
                            *done = true;
                            return Ok(None);
                        }
                        Ok(n) => {
                            buf.truncate(n);
                            if let Some(l) = left {
                                *l -= n as u64;
                            }
                            return Ok(Some(buf.freeze()));
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Out::Chunks { chunks, .. } => loop {
                match chunks.next() {
                    Some(Ok(b)) if b.is_empty() => {}
                    Some(Ok(b)) => return Ok(Some(b)),
                    Some(Err(e)) => return Err(e),
                    None => return Ok(None),
                }
            },
            Out::Incoming(b) => b.chunk(),
            Out::WithTrailers {
                chunks,
                make,
                trailers,
            } => loop {
                match chunks.next() {
                    Some(Ok(b)) if b.is_empty() => {}
                    Some(Ok(b)) => return Ok(Some(b)),
                    Some(Err(e)) => return Err(e),
                    None => {
                        if let Some(make) = make.take() {
                            *trailers = make();
                        }
                        return Ok(None);
                    }
                }
            },
        }
    }

    /// Trailers to send after the last chunk: those of a received chunked
    /// body passed on, once it ended.
    pub fn trailers(&self) -> Option<HeaderMap> {
        match &self.inner {
            Out::Incoming(b) => b.trailers().cloned(),
            Out::WithTrailers { trailers, .. } => trailers.clone(),
            _ => None,
        }
    }

    /// The received body this passes on, if any.
    pub(crate) fn incoming_mut(&mut self) -> Option<&mut BlockingBody> {
        match &mut self.inner {
            Out::Incoming(b) => Some(b),
            _ => None,
        }
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
impl From<BlockingBody> for Body {
    /// Passes a received body on as it arrives, with its framing: a
    /// Content-Length body keeps its length, a chunked one stays chunked
    /// (and keeps its trailers).
    fn from(b: BlockingBody) -> Self {
        if b.kind() == BodyKind::Empty {
            Body::empty()
        } else {
            Body {
                inner: Out::Incoming(b),
            }
        }
    }
}

/// One step of an incoming body.
pub(crate) enum Step {
    Data(Bytes),
    End(Option<HeaderMap>),
}

/// Where an incoming body's bytes come from.
pub(crate) enum Source {
    Empty,
    Server(crate::server::BodySource),
    Client(Box<crate::client::BodySource>),
    /// An HTTP/2 stream's incoming body (either role).
    H2(crate::h2::Reader),
}

impl Source {
    fn next(&mut self) -> io::Result<Step> {
        match self {
            Source::Empty => Ok(Step::End(None)),
            Source::Server(s) => s.next(),
            Source::Client(c) => c.next(),
            Source::H2(r) => r.next(),
        }
    }
}

/// A received message body (a request body on the server, a response body
/// on the client), read straight from the connection as it is consumed.
///
/// It implements [`Read`]; [`chunk`](Self::chunk) hands out the received
/// `Bytes` without a copy. Nothing is read ahead beyond the connection's
/// buffers: reading is what drives the connection. On the server, the
/// first read answers `Expect: 100-continue`; on the client, reading the
/// body to its end returns the connection to the pool (dropping it before
/// the end closes the connection). On HTTP/2, reading is what gives the
/// stream's flow-control credit back to the peer, and dropping a response
/// body before its end cancels the stream (RST_STREAM CANCEL).
pub struct BlockingBody {
    source: Source,
    kind: BodyKind,
    leftover: Bytes,
    done: bool,
    trailers: Option<HeaderMap>,
    /// The error that ended the body, repeated to later reads.
    error: Option<(io::ErrorKind, String)>,
}

impl std::fmt::Debug for BlockingBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingBody")
            .field("kind", &self.kind)
            .field("done", &self.is_end())
            .finish()
    }
}

impl Default for BlockingBody {
    fn default() -> Self {
        Self::empty()
    }
}

impl BlockingBody {
    /// A body with nothing in it.
    pub fn empty() -> Self {
        Self::new(Source::Empty, BodyKind::Empty)
    }

    pub(crate) fn new(source: Source, kind: BodyKind) -> Self {
        Self {
            source,
            kind,
            leftover: Bytes::new(),
            done: false,
            trailers: None,
            error: None,
        }
    }

    /// A way to start the response to this request body's request before
    /// its handler returns (HTTP/1.1 server request bodies only).
    pub(crate) fn early_response(&self) -> Option<crate::server::EarlyResponse> {
        match &self.source {
            Source::Server(s) => Some(s.early_response()),
            _ => None,
        }
    }

    /// How the body is framed on the wire.
    pub fn kind(&self) -> BodyKind {
        self.kind
    }

    /// The announced length (Content-Length), if any.
    pub fn content_length(&self) -> Option<u64> {
        match self.kind {
            BodyKind::Empty => Some(0),
            BodyKind::Length(n) => Some(n),
            BodyKind::Chunked | BodyKind::CloseDelimited => None,
        }
    }

    /// Whether the whole body was read.
    pub fn is_end(&self) -> bool {
        self.done && self.leftover.is_empty()
    }

    /// The trailer fields of a chunked body, once it was read to its end.
    pub fn trailers(&self) -> Option<&HeaderMap> {
        self.trailers.as_ref()
    }

    /// The next piece of the body, without a copy; `None` at the end.
    /// Blocks until bytes arrive.
    pub fn chunk(&mut self) -> io::Result<Option<Bytes>> {
        if !self.leftover.is_empty() {
            return Ok(Some(std::mem::take(&mut self.leftover)));
        }
        loop {
            if self.done {
                return Ok(None);
            }
            if let Some((kind, msg)) = &self.error {
                return Err(io::Error::new(*kind, msg.clone()));
            }
            match self.source.next() {
                Ok(Step::Data(b)) if b.is_empty() => {}
                Ok(Step::Data(b)) => return Ok(Some(b)),
                Ok(Step::End(trailers)) => {
                    self.done = true;
                    self.trailers = trailers;
                }
                Err(e) => {
                    self.error = Some((e.kind(), e.to_string()));
                    return Err(e);
                }
            }
        }
    }

    /// Reads the whole body, refusing more than `limit` bytes.
    pub fn collect(mut self, limit: usize) -> Result<Bytes, Error> {
        let mut first: Option<Bytes> = None;
        let mut buf = Vec::new();
        while let Some(chunk) = self.chunk().map_err(Error::io)? {
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

    /// Makes reads of an HTTP/2 body or of a client's HTTP/1.1 response
    /// body end (`TimedOut`) at `deadline`, the way a gRPC call's deadline
    /// bounds it (`None` leaves an HTTP/1.1 body's bound as it was).
    pub(crate) fn set_deadline(&mut self, deadline: Option<std::time::Instant>) {
        match &mut self.source {
            Source::H2(r) => r.set_deadline(deadline),
            Source::Client(c) => c.set_deadline(deadline),
            _ => {}
        }
    }

    /// Lifts the deadline of [`Client::request_until`](crate::Client)
    /// from the rest of a client's HTTP/1.1 response body: an MCP call
    /// bounds its wait for the head by its deadline, which progress may
    /// extend once its SSE answer streams.
    pub(crate) fn clear_deadline(&mut self) {
        if let Source::Client(c) = &mut self.source {
            c.clear_deadline();
        }
    }

    /// A handle on the connection of a client's HTTP/1.1 response body,
    /// for a thread other than the reader to end a body that never ends
    /// on its own (an SSE stream) by shutting the socket down.
    pub(crate) fn socket(&self) -> Option<std::net::TcpStream> {
        match &self.source {
            Source::Client(c) => c.socket(),
            _ => None,
        }
    }

    /// Whether the request behind this body was cut off by the client
    /// (its HTTP/2 stream reset, its connection gone): what a long-running
    /// handler checks to stop early. Always false for HTTP/1.1 bodies.
    pub fn is_aborted(&self) -> bool {
        match &self.source {
            Source::H2(r) => r.is_aborted(),
            _ => false,
        }
    }

    /// Whether the client of this HTTP/1.1 request ended its side of the
    /// connection, looking at the input already there without waiting.
    /// Not [`is_aborted`](Self::is_aborted): a plain HTTP/1.1 client may
    /// half-close and still wait for its response; a gRPC-Web call takes
    /// it as a cancellation. False for other bodies.
    pub(crate) fn is_peer_closed(&self) -> bool {
        match &self.source {
            Source::Server(s) => s.is_peer_closed(),
            _ => false,
        }
    }

    /// Answers `Expect: 100-continue` now if this is a request body whose
    /// client waits for it (used before the body is passed on as a response).
    pub(crate) fn request_continue(&mut self) {
        if let Source::Server(s) = &mut self.source {
            s.request_continue();
        }
    }
}

impl Read for BlockingBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.leftover.is_empty() {
            match self.chunk()? {
                Some(b) => self.leftover = b,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.leftover.len());
        buf[..n].copy_from_slice(&self.leftover[..n]);
        bytes::Buf::advance(&mut self.leftover, n);
        Ok(n)
    }
}
