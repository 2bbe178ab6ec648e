//! Reading length-prefixed messages out of a [`Body`], with
//! `wirestate_grpc::MessageReader` doing the framing, the limits, the
//! decompression and the gRPC-Web trailers frame.

use crate::{Body, Sleep};
use bytes::buf::Take;
use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use wirestate_grpc::call::{CallEnd, OnEnd};
use wirestate_grpc::{
    Code, Encoding, MESSAGE_HEADER_LEN, MessageReader, Status, WebMode, encode_message_as,
    message_header,
};
use wirestate_h2::frame::ErrorCode;

/// Which side reads: a server reads requests (the body just ends), a
/// client reads responses (the body ends with the call's status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Server,
    Client,
}

/// An incoming stream of messages: the requests of a client- or
/// bidi-streaming call on the server, the responses of a server- or
/// bidi-streaming call on the client.
///
/// On the client, the end of the stream carries the call's status: a
/// status other than OK comes out of [`message`](Streaming::message) as
/// the error, and [`trailers`](Streaming::trailers) holds the trailing
/// metadata.
pub struct Streaming<T> {
    body: Body,
    reader: MessageReader,
    side: Side,
    /// The status the stream ended with once known, and who is told
    /// (a client's retry throttle counts it).
    end: CallEnd,
    /// The call's deadline (client side).
    deadline: Option<Pin<Box<dyn Sleep>>>,
    /// The same deadline as an instant, with the runtime's clock: a peer
    /// status that arrives once it has passed is reported as
    /// DEADLINE_EXCEEDED even if the timer has not been seen to fire yet
    /// (a server enforcing our `grpc-timeout` may answer CANCELLED first).
    deadline_at: Option<(Instant, Clock)>,
    types: PhantomData<fn() -> T>,
}

/// The runtime's clock, for [`Streaming`]'s deadline check.
pub(crate) type Clock = std::sync::Arc<dyn Fn() -> Instant + Send + Sync>;

/// DEADLINE_EXCEEDED instead of `status` when the call failed at or past
/// its deadline: the client's own deadline decides the code, whatever the
/// peer answered in the meantime (as the gRPC core does).
pub(crate) fn at_deadline(status: Status, deadline_passed: bool) -> Status {
    if deadline_passed && !status.is_ok() && status.code != Code::DeadlineExceeded {
        Status::new(Code::DeadlineExceeded, "deadline exceeded")
    } else {
        status
    }
}

impl<T> std::fmt::Debug for Streaming<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streaming")
            .field("side", &self.side)
            .field("end", &self.end)
            .finish()
    }
}

impl<T: prost::Message + Default> Streaming<T> {
    pub(crate) fn new(
        body: Body,
        web: Option<WebMode>,
        encoding: Encoding,
        max: usize,
        side: Side,
    ) -> Self {
        Self {
            body,
            reader: MessageReader::new(web, encoding, max),
            side,
            end: CallEnd::new(),
            deadline: None,
            deadline_at: None,
            types: PhantomData,
        }
    }

    /// A stream that ended at once with `status` (a trailers-only
    /// response on the client).
    pub(crate) fn finished(status: Status, trailers: HeaderMap) -> Self {
        let mut s = Self::new(Body::empty(), None, Encoding::Identity, 0, Side::Client);
        let _ = s.reader.finish(Some(trailers));
        s.end = CallEnd::ended(status);
        s
    }

    /// Fails the stream with DEADLINE_EXCEEDED when `sleep` completes
    /// (dropping the body, which cancels the HTTP/2 stream).
    pub(crate) fn set_deadline(&mut self, sleep: Pin<Box<dyn Sleep>>, at: Instant, clock: Clock) {
        self.deadline = Some(sleep);
        self.deadline_at = Some((at, clock));
    }

    /// Runs `f` with the call's status once the stream ends (at once if
    /// it has); not if it is dropped before.
    pub(crate) fn on_end(&mut self, f: OnEnd) {
        self.end.on_end(f);
    }

    /// Whether the client's deadline has passed.
    fn deadline_passed(&self) -> bool {
        self.side == Side::Client
            && self
                .deadline_at
                .as_ref()
                .is_some_and(|(at, clock)| clock() >= *at)
    }

    /// The next message; `Ok(None)` at the end of the stream.
    ///
    /// # Errors
    ///
    /// The status the call failed with: a malformed or oversized message
    /// (INTERNAL, RESOURCE_EXHAUSTED), a body cut short (CANCELLED on the
    /// server, the peer's status or UNAVAILABLE on the client), or on the
    /// client the non-OK status the server ended the call with.
    pub async fn message(&mut self) -> Result<Option<T>, Status> {
        std::future::poll_fn(|cx| self.poll_message(cx)).await
    }

    /// Polls for the next message (see [`message`](Streaming::message)).
    pub fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<T>, Status>> {
        // Decoded in place from the receive chunk when the message lies
        // whole in it (see `MessageReader::next_message_with`).
        match self.poll_decoded(cx, |buf| T::decode(buf)) {
            Poll::Ready(Ok(Some(Ok(message)))) => Poll::Ready(Ok(Some(message))),
            Poll::Ready(Ok(Some(Err(e)))) => {
                let status = Status::new(Code::Internal, format!("decoding the message: {e}"));
                Poll::Ready(Err(self.fail(status)))
            }
            Poll::Ready(Ok(None)) => Poll::Ready(Ok(None)),
            Poll::Ready(Err(s)) => Poll::Ready(Err(s)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Whether the message last returned by [`message`](Streaming::message)
    /// came flagged compressed on the wire (it is returned decompressed
    /// either way): what a server checks when a client promises
    /// compression, and what a client checks when it asked the server for
    /// a compressed (or an uncompressed) response, as the standard interop
    /// cases `client_compressed_*` and `server_compressed_*` do. False
    /// before the first message.
    pub fn last_compressed(&self) -> bool {
        self.reader.last_compressed()
    }

    /// Trailing metadata (and the status fields) the stream ended with, on
    /// the client, once it ended.
    pub fn trailers(&self) -> Option<&HeaderMap> {
        self.reader.trailers()
    }

    /// Ends the stream with `status` (DEADLINE_EXCEEDED once the client's
    /// deadline passed); returns the status it ended with.
    fn fail(&mut self, status: Status) -> Status {
        let status = at_deadline(status, self.deadline_passed());
        self.end.end(Err(status.clone()));
        status
    }

    /// The next message, decompressed, as `decode` makes it of its bytes.
    fn poll_decoded<R>(
        &mut self,
        cx: &mut Context<'_>,
        mut decode: impl FnMut(&mut Take<&mut Bytes>) -> R,
    ) -> Poll<Result<Option<R>, Status>> {
        if self.end.result().is_none()
            && let Some(sleep) = &mut self.deadline
            && sleep.as_mut().poll(cx).is_ready()
        {
            self.deadline = None;
            self.body = Body::empty();
            let _ = self.fail(Status::new(Code::DeadlineExceeded, "deadline exceeded"));
        }
        loop {
            if let Some(done) = self.end.result() {
                return Poll::Ready(done.clone().map(|()| None));
            }
            // A message already buffered.
            match self.reader.next_message_with(&mut decode) {
                Some(Ok(message)) => return Poll::Ready(Ok(Some(message))),
                Some(Err(e)) => return Poll::Ready(Err(self.fail(e.to_status()))),
                None => {}
            }
            if self.reader.is_finished() {
                let status = self.end_status();
                let passed = self.deadline_passed();
                self.end.end(status.map_err(|s| at_deadline(s, passed)));
                continue;
            }
            match self.body.poll_chunk(cx) {
                Poll::Ready(Some(Ok(chunk))) => self.reader.push(chunk),
                Poll::Ready(Some(Err(e))) => {
                    let status = match self.side {
                        Side::Server => Status::new(Code::Cancelled, format!("request body: {e}")),
                        Side::Client => reset_status(&e),
                    };
                    return Poll::Ready(Err(self.fail(status)));
                }
                Poll::Ready(None) => {
                    // A server's request has no status to read; a
                    // client's gRPC response carries it in the trailers.
                    let trailers = match self.side {
                        Side::Server => None,
                        Side::Client => self.body.trailers(),
                    };
                    if let Err(e) = self.reader.finish(trailers) {
                        return Poll::Ready(Err(self.fail(e.to_status())));
                    }
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// The stream ended cleanly: what the call's result is.
    fn end_status(&self) -> Result<(), Status> {
        if self.side == Side::Server {
            return Ok(());
        }
        let status = self.reader.status();
        if status.is_ok() { Ok(()) } else { Err(status) }
    }
}

/// `message` as one length-prefixed gRPC message, compressed with
/// `encoding` if `compress` (and `encoding` is not identity).
pub(crate) fn frame_message<T: prost::Message>(
    message: &T,
    encoding: Encoding,
    compress: bool,
) -> Result<Bytes, Status> {
    let mut framed = BytesMut::new();
    encode_into(message, encoding, compress, &mut framed, 0)?;
    Ok(framed.freeze())
}

/// Appends `message` to `dst` as one length-prefixed gRPC message,
/// compressed with `encoding` if `compress` (and `encoding` is not
/// identity). When `dst` holds messages already and has no room for this
/// one, at least `room` bytes are reserved at once: a sink that queues
/// many small messages grows its buffer once instead of doubling it (and
/// copying it) message by message. An empty `dst` gets room for the
/// message only, so that a stream that sends now and then does not keep a
/// batch-sized buffer for its whole life.
///
/// Uncompressed messages are encoded by prost straight after their 5-byte
/// prefix: no intermediate `Vec` and no second copy.
///
/// prost writes varints a byte at a time (`put_u8`), and each `put_u8` on a
/// `BytesMut` goes through its growable-buffer checks: that was a third of
/// the instructions of a 100-byte streamed message. So the message's bytes
/// are zeroed in place first (its length is known) and prost encodes into
/// them as a plain `&mut [u8]`, where a byte is a bounds check and a store.
pub(crate) fn encode_into<T: prost::Message>(
    message: &T,
    encoding: Encoding,
    compress: bool,
    dst: &mut BytesMut,
    room: usize,
) -> Result<(), Status> {
    if encoding != Encoding::Identity && compress {
        return encode_message_as(encoding, true, &message.encode_to_vec(), dst)
            .map_err(|e| e.to_status());
    }
    let len = message.encoded_len();
    let header = message_header(len, false).map_err(|e| e.to_status())?;
    let start = dst.len() + MESSAGE_HEADER_LEN;
    let need = MESSAGE_HEADER_LEN + len;
    if dst.capacity() - dst.len() < need {
        dst.reserve(if dst.is_empty() { need } else { need.max(room) });
    }
    dst.resize(start + len, 0);
    dst[start - MESSAGE_HEADER_LEN..start].copy_from_slice(&header);
    let mut body = &mut dst[start..];
    let encoded = message.encode(&mut body);
    // `encode` fails only for want of room, and the room is exactly
    // `encoded_len`: either way round, a mismatch means an inconsistent
    // `Message` implementation, reported rather than sent half-written.
    let problem = match encoded {
        Err(e) => Some(e.to_string()),
        Ok(()) if !body.is_empty() => Some(format!("{} of {len} bytes written", len - body.len())),
        Ok(()) => None,
    };
    if let Some(problem) = problem {
        dst.truncate(start - MESSAGE_HEADER_LEN);
        return Err(Status::new(
            Code::Internal,
            format!("encoding the message: {problem}"),
        ));
    }
    Ok(())
}

/// The status of a response body that failed (a reset stream, a closed
/// connection), from the error text the connection gave it: a reset by the
/// server maps its code as PROTOCOL-HTTP2.md's table does (CANCEL →
/// CANCELLED, INTERNAL_ERROR → INTERNAL, ENHANCE_YOUR_CALM →
/// RESOURCE_EXHAUSTED...), an oversized header section (our own reset) is
/// INTERNAL, anything else (the connection went away) UNAVAILABLE.
fn reset_status(e: &std::io::Error) -> Status {
    let text = e.to_string();
    if let Some(named) = text.strip_prefix("stream reset by the peer: ")
        && let Some(code) = (0..=0xd).find(|&c| named == ErrorCode::from(c).to_string())
    {
        return Status::new(Code::from_h2_error_code(code), text);
    }
    if text == crate::Error::HeadersTooLarge.to_string() {
        return Status::new(Code::Internal, text);
    }
    Status::new(Code::Unavailable, text)
}

/// Reads exactly one message (the request of a unary or server-streaming
/// call, or the response of a unary or client-streaming call).
pub(crate) async fn read_one<T: prost::Message + Default>(
    stream: &mut Streaming<T>,
) -> Result<T, Status> {
    let Some(message) = stream.message().await? else {
        return Err(Status::new(Code::Internal, "missing message"));
    };
    if stream.message().await?.is_some() {
        return Err(Status::new(Code::Internal, "more than one message"));
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    #[derive(Clone, PartialEq, prost::Message)]
    struct Sample {
        #[prost(string, tag = "1")]
        text: String,
        #[prost(bytes = "vec", tag = "2")]
        payload: Vec<u8>,
        #[prost(uint64, tag = "3")]
        n: u64,
    }

    #[test]
    fn messages_encoded_in_place_are_framed_as_prost_encodes_them() {
        let samples = [
            Sample::default(),
            Sample {
                text: "é".repeat(100),
                payload: vec![7; 300],
                n: u64::MAX,
            },
            Sample {
                text: "x".into(),
                payload: vec![],
                n: 300,
            },
        ];
        let mut expected = BytesMut::new();
        for s in &samples {
            wirestate_grpc::encode_message(&s.encode_to_vec(), false, &mut expected).unwrap();
        }
        // With a batch reserved at once, and growing message by message.
        for room in [0, 64 * 1024] {
            let mut queue = BytesMut::new();
            for (i, s) in samples.iter().enumerate() {
                encode_into(s, Encoding::Identity, false, &mut queue, room).unwrap();
                // The first message into an empty queue gets its own size;
                // the batch comes with the second.
                if i == 0 {
                    assert!(queue.capacity() < 1024);
                }
            }
            assert_eq!(queue, expected);
            assert!(queue.capacity() >= room);
        }
    }

    #[test]
    fn the_clients_deadline_decides_the_code() {
        let cancelled = Status::new(Code::Cancelled, "Timeout expired");
        // A server enforcing our grpc-timeout answered first.
        assert_eq!(
            at_deadline(cancelled.clone(), true).code,
            Code::DeadlineExceeded
        );
        assert_eq!(at_deadline(cancelled, false).code, Code::Cancelled);
        let ok = Status::new(Code::Ok, "");
        assert_eq!(at_deadline(ok, true).code, Code::Ok);
    }

    #[test]
    fn a_reset_mid_response_maps_its_code() {
        let status = |text: &str| reset_status(&std::io::Error::other(text.to_owned())).code;
        // The texts of crate::h2::client's body failures.
        let reset = |code: u32| crate::Error::Reset(ErrorCode::from(code)).to_string();
        assert_eq!(status(&reset(0x8)), Code::Cancelled);
        assert_eq!(status(&reset(0x2)), Code::Internal);
        assert_eq!(status(&reset(0x1)), Code::Internal);
        assert_eq!(status(&reset(0xb)), Code::ResourceExhausted);
        assert_eq!(status(&reset(0xc)), Code::PermissionDenied);
        assert_eq!(
            status(&crate::Error::HeadersTooLarge.to_string()),
            Code::Internal
        );
        assert_eq!(
            status(&crate::Error::Aborted { sent: true }.to_string()),
            Code::Unavailable
        );
    }
}
