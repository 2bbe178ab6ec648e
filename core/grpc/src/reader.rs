//! One call's incoming message stream, whatever carries it: the body of a
//! gRPC request or response (length-prefixed messages, the status in HTTP
//! trailers) or of a gRPC-Web one (binary or base64 text, the status in a
//! trailers frame at the end of the body).
//!
//! [`MessageReader`] is what an adapter feeds a call's body into, chunk by
//! chunk as it arrives, and takes decompressed messages out of; at the end
//! of the body it says how the call ended. It does no IO: blocking threads
//! and async tasks drive it the same way.

use crate::compression::decompress_message_owned;
use crate::web::{WebDecoder, WebFrame, WebMode};
use crate::{Code, Encoding, Error, Message, MessageDecoder, Status};
use bytes::buf::Take;
use bytes::{Buf, Bytes};
use http::HeaderMap;

/// How a body's messages are framed.
#[derive(Debug)]
enum Framing {
    Grpc(MessageDecoder),
    Web(Box<WebDecoder>),
}

/// Splits a call's body into decompressed messages and finds the call's
/// trailers (see the [module docs](self)).
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use http::HeaderMap;
/// use wirestate_grpc::{Code, Encoding, MessageReader, Status, encode_message_with};
///
/// let mut body = BytesMut::new();
/// encode_message_with(Encoding::Gzip, b"hello", &mut body).unwrap();
/// let body = body.freeze();
///
/// let mut reader = MessageReader::new(None, Encoding::Gzip, 1024);
/// reader.push(body.slice(..3));
/// assert!(reader.next_message().is_none());
/// reader.push(body.slice(3..));
/// assert_eq!(reader.next_message().unwrap().unwrap(), Bytes::from_static(b"hello"));
///
/// // The body ends with the status in the HTTP trailers.
/// let mut trailers = HeaderMap::new();
/// Status::new(Code::NotFound, "gone").to_trailers(&mut trailers);
/// reader.finish(Some(trailers)).unwrap();
/// assert!(reader.next_message().is_none());
/// assert_eq!(reader.status().code, Code::NotFound);
/// ```
#[derive(Debug)]
pub struct MessageReader {
    framing: Framing,
    encoding: Encoding,
    max: usize,
    /// The body ended.
    ended: bool,
    /// The call's trailers: the gRPC-Web trailers frame, or the HTTP
    /// trailers handed to [`finish`](MessageReader::finish).
    trailers: Option<HeaderMap>,
    /// An error found at the end of a gRPC-Web body, reported once the
    /// frames decoded before it are taken.
    late_error: Option<Error>,
    /// The reader failed: nothing more comes out.
    failed: bool,
    /// Whether the last message came flagged compressed.
    last_compressed: bool,
}

impl MessageReader {
    /// A reader for a body framed as gRPC (`web: None`) or gRPC-Web in
    /// `web` mode, whose flagged messages are compressed with `encoding`
    /// (the body's `grpc-encoding`), accepting messages of at most `max`
    /// bytes, compressed or not.
    pub fn new(web: Option<WebMode>, encoding: Encoding, max: usize) -> MessageReader {
        let framing = match web {
            None => Framing::Grpc(MessageDecoder::with_max_message_size(max)),
            Some(mode) => Framing::Web(Box::new(
                WebDecoder::new(mode)
                    .with_max_message_size(max)
                    .with_encoding(encoding),
            )),
        };
        MessageReader {
            framing,
            encoding,
            max,
            ended: false,
            trailers: None,
            late_error: None,
            failed: false,
            last_compressed: false,
        }
    }

    /// Adds a chunk of the body (ignored after [`finish`](Self::finish)).
    pub fn push(&mut self, chunk: Bytes) {
        if self.ended || self.failed {
            return;
        }
        match &mut self.framing {
            Framing::Grpc(d) => d.push(chunk),
            Framing::Web(d) => d.push(chunk),
        }
    }

    /// The next complete message, decompressed; `None` until more of the
    /// body arrives (or after the last one).
    ///
    /// # Errors
    ///
    /// A malformed frame (INTERNAL), a message over the size limit
    /// (RESOURCE_EXHAUSTED), a message that does not decompress, or data
    /// after a gRPC-Web trailers frame. The reader yields nothing after an
    /// error.
    pub fn next_message(&mut self) -> Option<Result<Bytes, Error>> {
        if self.failed {
            return None;
        }
        loop {
            let next: Option<Result<Option<Message>, Error>> = match &mut self.framing {
                Framing::Grpc(d) => d.next_message().map(|r| r.map(Some)),
                Framing::Web(d) => d.next_frame().map(|r| {
                    r.map(|f| match f {
                        WebFrame::Message(m) => Some(m),
                        WebFrame::Trailers(t) => {
                            self.trailers = Some(t);
                            None
                        }
                    })
                }),
            };
            return match next {
                Some(Ok(Some(message))) => {
                    self.last_compressed = message.compressed;
                    let data = decompress_message_owned(message, self.encoding, self.max);
                    if data.is_err() {
                        self.failed = true;
                    }
                    Some(data)
                }
                // A trailers frame: look for what follows it.
                Some(Ok(None)) => continue,
                Some(Err(e)) => self.failed_with(Some(e)),
                None => self.failed_with(None),
            };
        }
    }

    /// [`next_message`](Self::next_message), with the message handed to
    /// `decode` instead of returned: as a view of the receive chunk that
    /// holds it when it is plain gRPC, not compressed and whole in one
    /// chunk (no `Bytes` of its own, so no reference-count round trip on
    /// the shared receive buffer per message), else as a view of its own
    /// decompressed bytes. What `decode` leaves unread is dropped. The
    /// messages and errors, and after which byte they come, are those of
    /// [`next_message`](Self::next_message).
    ///
    /// ```
    /// use bytes::{Buf, BytesMut};
    /// use wirestate_grpc::{Encoding, MessageReader, encode_message};
    ///
    /// let mut body = BytesMut::new();
    /// encode_message(b"hello", false, &mut body).unwrap();
    /// let mut reader = MessageReader::new(None, Encoding::Identity, 1024);
    /// reader.push(body.freeze());
    /// let n = reader.next_message_with(|m| m.remaining()).unwrap().unwrap();
    /// assert_eq!(n, 5);
    /// assert!(reader.next_message_with(|m| m.remaining()).is_none());
    /// ```
    ///
    /// # Errors
    ///
    /// Those of [`next_message`](Self::next_message).
    pub fn next_message_with<R>(
        &mut self,
        decode: impl FnOnce(&mut Take<&mut Bytes>) -> R,
    ) -> Option<Result<R, Error>> {
        if self.failed {
            return None;
        }
        let Framing::Grpc(d) = &mut self.framing else {
            return self.next_message().map(|r| {
                r.map(|mut data| {
                    let len = data.len();
                    decode(&mut (&mut data).take(len))
                })
            });
        };
        let (encoding, max) = (self.encoding, self.max);
        let mut compressed = false;
        let out = d.next_message_with(|flag, data| {
            compressed = flag;
            if !flag {
                return Ok(decode(data));
            }
            let message = Message {
                compressed: true,
                data: data.copy_to_bytes(data.remaining()),
            };
            decompress_message_owned(message, encoding, max).map(|mut data| {
                let len = data.len();
                decode(&mut (&mut data).take(len))
            })
        });
        match out {
            // A frame (decompressed or not): as `next_message` does.
            Some(Ok(message)) => {
                self.last_compressed = compressed;
                if message.is_err() {
                    self.failed = true;
                }
                Some(message)
            }
            Some(Err(e)) => self.failed_with(Some(e)),
            None => self.failed_with(None),
        }
    }

    /// A framing error, or else (at the end of the frames) the error kept
    /// for the end: the reader's last item, after which it yields nothing.
    fn failed_with<T>(&mut self, error: Option<Error>) -> Option<Result<T, Error>> {
        let e = error.or_else(|| self.late_error.take())?;
        self.failed = true;
        Some(Err(e))
    }

    /// The body ended, with these HTTP trailers (gRPC over HTTP/2 carries
    /// the status there; a gRPC-Web body carries it in its last frame and
    /// HTTP trailers are ignored).
    ///
    /// # Errors
    ///
    /// The body ended inside a gRPC message. For gRPC-Web, an incomplete
    /// frame is reported by [`next_message`](Self::next_message) once the
    /// frames before it are taken, so that nothing decoded is lost.
    pub fn finish(&mut self, trailers: Option<HeaderMap>) -> Result<(), Error> {
        if self.ended {
            return Ok(());
        }
        self.ended = true;
        match &mut self.framing {
            Framing::Grpc(d) => {
                if self.trailers.is_none() {
                    self.trailers = trailers;
                }
                let r = d.finish();
                if r.is_err() {
                    self.failed = true;
                }
                r
            }
            Framing::Web(d) => {
                if let Err(e) = d.finish() {
                    self.late_error = Some(e);
                }
                Ok(())
            }
        }
    }

    /// Whether the message last returned by
    /// [`next_message`](Self::next_message) came flagged compressed on the
    /// wire (it is returned decompressed either way): what a server checks
    /// when a client promises compression, and the other way round.
    pub fn last_compressed(&self) -> bool {
        self.last_compressed
    }

    /// Whether the body ended ([`finish`](Self::finish) was called).
    pub fn is_finished(&self) -> bool {
        self.ended
    }

    /// The call's trailers, once known: the gRPC-Web trailers frame, or
    /// the HTTP trailers given to [`finish`](Self::finish).
    pub fn trailers(&self) -> Option<&HeaderMap> {
        self.trailers.as_ref()
    }

    /// Takes the trailers out.
    pub fn take_trailers(&mut self) -> Option<HeaderMap> {
        self.trailers.take()
    }

    /// How a response ended, as a client sees it: the status in the
    /// trailers (with their metadata), INTERNAL if the body ended without
    /// any, or UNKNOWN/INTERNAL if the status is malformed.
    pub fn status(&self) -> Status {
        match &self.trailers {
            Some(t) => Status::from_trailers(t).unwrap_or_else(|e| e.to_status()),
            None => Status::new(Code::Internal, "the response ended without trailers"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{encode_message_with, encode_web_text, encode_web_trailers};
    use bytes::BytesMut;
    use proptest::prelude::*;

    fn body(messages: &[&[u8]], encoding: Encoding) -> Bytes {
        let mut out = BytesMut::new();
        for m in messages {
            encode_message_with(encoding, m, &mut out).unwrap();
        }
        out.freeze()
    }

    fn ok_trailers() -> HeaderMap {
        let mut t = HeaderMap::new();
        Status::ok().to_trailers(&mut t);
        t
    }

    /// Everything a reader yields for `body` cut at `cuts`: the messages
    /// (or the error text) and the final status code.
    fn run(
        reader: MessageReader,
        body: &Bytes,
        cuts: &[usize],
        trailers: Option<HeaderMap>,
    ) -> (Vec<Result<Bytes, String>>, Code) {
        run_as(reader, body, cuts, trailers, false)
    }

    /// The next message, taken with `next_message` or, `in_place`, with
    /// `next_message_with` (copied out of the view it gets).
    fn take(reader: &mut MessageReader, in_place: bool) -> Option<Result<Bytes, Error>> {
        if in_place {
            reader.next_message_with(|m| m.copy_to_bytes(m.remaining()))
        } else {
            reader.next_message()
        }
    }

    fn run_as(
        mut reader: MessageReader,
        body: &Bytes,
        cuts: &[usize],
        trailers: Option<HeaderMap>,
        in_place: bool,
    ) -> (Vec<Result<Bytes, String>>, Code) {
        let mut out = Vec::new();
        let mut at = 0;
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
        points.sort_unstable();
        points.push(body.len());
        for p in points {
            reader.push(body.slice(at..p.max(at)));
            at = p.max(at);
            while let Some(m) = take(&mut reader, in_place) {
                out.push(m.map_err(|e| e.to_string()));
            }
        }
        if let Err(e) = reader.finish(trailers) {
            out.push(Err(e.to_string()));
        }
        while let Some(m) = take(&mut reader, in_place) {
            out.push(m.map_err(|e| e.to_string()));
        }
        (out, reader.status().code)
    }

    #[test]
    fn grpc_messages_then_trailers() {
        let b = body(&[b"one", b"", b"three"], Encoding::Identity);
        let (out, code) = run(
            MessageReader::new(None, Encoding::Identity, 64),
            &b,
            &[],
            Some(ok_trailers()),
        );
        assert_eq!(
            out,
            [
                Ok(Bytes::from_static(b"one")),
                Ok(Bytes::new()),
                Ok(Bytes::from_static(b"three"))
            ]
        );
        assert_eq!(code, Code::Ok);
    }

    #[test]
    fn the_compressed_flag_of_each_message() {
        let mut wire = BytesMut::new();
        encode_message_with(Encoding::Gzip, b"zipped", &mut wire).unwrap();
        crate::encode_message(b"plain", false, &mut wire).unwrap();
        let mut reader = MessageReader::new(None, Encoding::Gzip, 64);
        reader.push(wire.freeze());
        assert_eq!(reader.next_message().unwrap().unwrap(), &b"zipped"[..]);
        assert!(reader.last_compressed());
        assert_eq!(reader.next_message().unwrap().unwrap(), &b"plain"[..]);
        assert!(!reader.last_compressed());
    }

    #[test]
    fn in_place_the_compressed_flag_and_what_is_left_unread() {
        let mut wire = BytesMut::new();
        encode_message_with(Encoding::Gzip, b"zipped", &mut wire).unwrap();
        crate::encode_message(b"plain", false, &mut wire).unwrap();
        crate::encode_message(b"last", false, &mut wire).unwrap();
        let mut reader = MessageReader::new(None, Encoding::Gzip, 64);
        reader.push(wire.freeze());
        let first = reader.next_message_with(|m| m.copy_to_bytes(m.remaining()));
        assert_eq!(first.unwrap().unwrap(), &b"zipped"[..]);
        assert!(reader.last_compressed());
        // A decoder that reads two bytes of five: the next message still
        // starts where it should.
        let part = reader.next_message_with(|m| m.copy_to_bytes(2));
        assert_eq!(part.unwrap().unwrap(), &b"pl"[..]);
        assert!(!reader.last_compressed());
        assert_eq!(reader.next_message().unwrap().unwrap(), &b"last"[..]);
        assert!(reader.next_message_with(|m| m.remaining()).is_none());
    }

    #[test]
    fn a_response_without_trailers_is_internal() {
        let b = body(&[b"x"], Encoding::Identity);
        let (_, code) = run(
            MessageReader::new(None, Encoding::Identity, 64),
            &b,
            &[],
            None,
        );
        assert_eq!(code, Code::Internal);
    }

    #[test]
    fn a_cut_message_fails_and_an_oversized_one_is_refused() {
        let b = body(&[b"hello"], Encoding::Identity);
        let (out, _) = run(
            MessageReader::new(None, Encoding::Identity, 64),
            &b.slice(..7),
            &[],
            None,
        );
        assert!(out.last().unwrap().is_err());
        let (out, _) = run(
            MessageReader::new(None, Encoding::Identity, 4),
            &b,
            &[],
            None,
        );
        assert_eq!(out.len(), 1);
        assert!(out[0].is_err());
    }

    #[test]
    fn web_text_with_the_trailers_frame() {
        let mut frames = BytesMut::from(&body(&[b"abc"], Encoding::Gzip)[..]);
        let mut t = HeaderMap::new();
        Status::new(Code::Aborted, "no").to_trailers(&mut t);
        encode_web_trailers(&t, &mut frames).unwrap();
        let mut text = BytesMut::new();
        encode_web_text(&frames, &mut text);
        let text = text.freeze();
        let reader = MessageReader::new(Some(WebMode::Text), Encoding::Gzip, 64);
        let (out, code) = run(reader, &text, &[5, 9], None);
        assert_eq!(out, [Ok(Bytes::from_static(b"abc"))]);
        assert_eq!(code, Code::Aborted);
    }

    #[test]
    fn a_truncated_web_body_yields_its_frames_first() {
        let b = body(&[b"abc", b"defg"], Encoding::Identity);
        let reader = MessageReader::new(Some(WebMode::Binary), Encoding::Identity, 64);
        let (out, _) = run(reader, &b.slice(..b.len() - 1), &[], None);
        assert_eq!(out[0], Ok(Bytes::from_static(b"abc")));
        assert!(out[1].is_err());
        assert_eq!(out.len(), 2);
    }

    proptest! {
        /// Any cutting of the body gives the same messages, errors and status.
        #[test]
        fn split_invariance(
            messages in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..5),
            gzip in any::<bool>(),
            web in 0u8..3,
            truncate in 0usize..8,
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let encoding = if gzip { Encoding::Gzip } else { Encoding::Identity };
            let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
            let mut frames = BytesMut::from(&body(&refs, encoding)[..]);
            let mode = match web { 0 => None, 1 => Some(WebMode::Binary), _ => Some(WebMode::Text) };
            if mode.is_some() {
                encode_web_trailers(&ok_trailers(), &mut frames).unwrap();
            }
            let wire = match mode {
                Some(WebMode::Text) => { let mut t = BytesMut::new(); encode_web_text(&frames, &mut t); t.freeze() }
                _ => frames.freeze(),
            };
            let wire = wire.slice(..wire.len().saturating_sub(truncate));
            let trailers = mode.is_none().then(ok_trailers);
            let whole = run(MessageReader::new(mode, encoding, 30), &wire, &[], trailers.clone());
            let cut = run(MessageReader::new(mode, encoding, 30), &wire, &cuts, trailers.clone());
            prop_assert_eq!(&whole, &cut);
            // Taken in place, whole or cut: the same again.
            let in_place = run_as(MessageReader::new(mode, encoding, 30), &wire, &[], trailers.clone(), true);
            prop_assert_eq!(&whole, &in_place);
            let in_place = run_as(MessageReader::new(mode, encoding, 30), &wire, &cuts, trailers, true);
            prop_assert_eq!(&whole, &in_place);
        }
    }
}
