//! Reading length-prefixed messages out of a [`Body`], with
//! `wirestate_grpc::MessageReader` doing the framing, the limits, the
//! decompression and the gRPC-Web trailers frame.

use crate::{Body, Sleep};
use bytes::{BufMut, Bytes, BytesMut};
use http::HeaderMap;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use wirestate_grpc::{
    Code, Encoding, MESSAGE_HEADER_LEN, MessageReader, Status, WebMode, encode_message_as,
    message_header,
};

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
    /// The status the stream ended with, once known.
    done: Option<Result<(), Status>>,
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
            .field("done", &self.done)
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
            done: None,
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
        s.done = Some(if status.is_ok() { Ok(()) } else { Err(status) });
        s
    }

    /// Fails the stream with DEADLINE_EXCEEDED when `sleep` completes
    /// (dropping the body, which cancels the HTTP/2 stream).
    pub(crate) fn set_deadline(&mut self, sleep: Pin<Box<dyn Sleep>>, at: Instant, clock: Clock) {
        self.deadline = Some(sleep);
        self.deadline_at = Some((at, clock));
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
        match self.poll_raw(cx) {
            Poll::Ready(Ok(Some(bytes))) => Poll::Ready(T::decode(bytes).map(Some).map_err(|e| {
                let status = Status::new(Code::Internal, format!("decoding the message: {e}"));
                self.fail(status)
            })),
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
        self.done = Some(Err(status.clone()));
        status
    }

    /// The next message's bytes, decompressed.
    fn poll_raw(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, Status>> {
        if self.done.is_none()
            && let Some(sleep) = &mut self.deadline
            && sleep.as_mut().poll(cx).is_ready()
        {
            self.deadline = None;
            self.body = Body::empty();
            let _ = self.fail(Status::new(Code::DeadlineExceeded, "deadline exceeded"));
        }
        loop {
            if let Some(done) = &self.done {
                return Poll::Ready(done.clone().map(|()| None));
            }
            // A message already buffered.
            match self.reader.next_message() {
                Some(Ok(message)) => return Poll::Ready(Ok(Some(message))),
                Some(Err(e)) => return Poll::Ready(Err(self.fail(e.to_status()))),
                None => {}
            }
            if self.reader.is_finished() {
                let status = self.end_status();
                let passed = self.deadline_passed();
                self.done = Some(status.map_err(|s| at_deadline(s, passed)));
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
    encode_into(message, encoding, compress, &mut framed)?;
    Ok(framed.freeze())
}

/// Appends `message` to `dst` as one length-prefixed gRPC message,
/// compressed with `encoding` if `compress` (and `encoding` is not
/// identity).
///
/// Uncompressed messages are encoded by prost straight after their 5-byte
/// prefix: no intermediate `Vec` and no second copy.
pub(crate) fn encode_into<T: prost::Message>(
    message: &T,
    encoding: Encoding,
    compress: bool,
    dst: &mut BytesMut,
) -> Result<(), Status> {
    if encoding != Encoding::Identity && compress {
        return encode_message_as(encoding, true, &message.encode_to_vec(), dst)
            .map_err(|e| e.to_status());
    }
    let len = message.encoded_len();
    let header = message_header(len, false).map_err(|e| e.to_status())?;
    dst.reserve(MESSAGE_HEADER_LEN + len);
    dst.put_slice(&header);
    message
        .encode(dst)
        .map_err(|e| Status::new(Code::Internal, format!("encoding the message: {e}")))
}

/// The status of a response body that failed (a reset stream, a closed
/// connection), from the error text the connection gave it.
fn reset_status(e: &std::io::Error) -> Status {
    let text = e.to_string();
    if text.contains("CANCEL") {
        Status::new(Code::Cancelled, text)
    } else {
        Status::new(Code::Unavailable, text)
    }
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
}
