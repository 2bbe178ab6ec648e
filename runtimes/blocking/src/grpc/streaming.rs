//! Reading a call's messages out of a [`BlockingBody`], with the rules of
//! `wirestate_grpc::MessageReader`.

use crate::BlockingBody;
use http::HeaderMap;
use std::io;
use std::marker::PhantomData;
use std::time::Instant;
use wirestate_grpc::call::{CallEnd, OnEnd};
use wirestate_grpc::{Code, Encoding, MessageReader, Status, WebMode};
use wirestate_h2::frame::ErrorCode;

/// Which side reads: a server reads requests (the body just ends), a
/// client reads responses (the body ends with the call's status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Server,
    Client,
}

/// DEADLINE_EXCEEDED instead of a failed `status` when the call's deadline
/// has passed: the client's own deadline decides the code, whatever the
/// peer answered meanwhile (as the gRPC core does).
pub(crate) fn at_deadline(status: Status, deadline: Option<Instant>) -> Status {
    let passed = deadline.is_some_and(|d| Instant::now() >= d);
    if passed && !status.is_ok() && status.code != Code::DeadlineExceeded {
        deadline_exceeded()
    } else {
        status
    }
}

pub(crate) fn deadline_exceeded() -> Status {
    Status::new(Code::DeadlineExceeded, "deadline exceeded")
}

/// An incoming stream of messages: the requests of a client- or
/// bidi-streaming call on the server, the responses of a server- or
/// bidi-streaming call on the client. Reading blocks until a message (or
/// the end) arrives, at most until the call's deadline.
///
/// It is an [`Iterator`] of `Result<T, Status>` too: it ends after the
/// last message, or after the error that ended the call. On the client, a
/// call that ended with a status other than OK yields it as the error, and
/// [`trailers`](Streaming::trailers) holds the trailing metadata.
///
/// Dropping a client's stream before its end cancels the call
/// (RST_STREAM CANCEL).
pub struct Streaming<T> {
    body: BlockingBody,
    reader: MessageReader,
    side: Side,
    deadline: Option<Instant>,
    /// How the stream ended once it did, and who is told (a client's
    /// retry throttle counts it).
    end: CallEnd,
    /// The iterator already yielded the final error.
    fused: bool,
    types: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Streaming<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("grpc::Streaming")
            .field("side", &self.side)
            .field("end", &self.end)
            .finish()
    }
}

impl<T: prost::Message + Default> Streaming<T> {
    pub(crate) fn new(
        mut body: BlockingBody,
        web: Option<WebMode>,
        encoding: Encoding,
        max: usize,
        side: Side,
        deadline: Option<Instant>,
    ) -> Self {
        body.set_deadline(deadline);
        Self {
            body,
            reader: MessageReader::new(web, encoding, max),
            side,
            deadline,
            end: CallEnd::new(),
            fused: false,
            types: PhantomData,
        }
    }

    /// A stream that ended at once with `status` (a trailers-only response
    /// on the client), whose trailers are `trailers`.
    pub(crate) fn finished(status: Status, trailers: HeaderMap) -> Self {
        let mut s = Self::new(
            BlockingBody::empty(),
            None,
            Encoding::Identity,
            0,
            Side::Client,
            None,
        );
        let _ = s.reader.finish(Some(trailers));
        s.end = CallEnd::ended(status);
        s
    }

    /// Runs `f` with the call's status once the stream ends (at once if
    /// it has); not if it is dropped before.
    pub(crate) fn on_end(&mut self, f: OnEnd) {
        self.end.on_end(f);
    }

    /// The next message; `Ok(None)` at the end of the stream.
    ///
    /// # Errors
    ///
    /// The status the call failed with: a malformed or oversized message
    /// (INTERNAL, RESOURCE_EXHAUSTED), the deadline (DEADLINE_EXCEEDED), a
    /// body cut short (CANCELLED on the server, UNAVAILABLE or the reset's
    /// code on the client), or on the client the status other than OK
    /// the server ended the call with.
    pub fn message(&mut self) -> Result<Option<T>, Status> {
        loop {
            if let Some(done) = self.end.result() {
                return done.clone().map(|()| None);
            }
            match self.reader.next_message() {
                Some(Ok(bytes)) => {
                    return match T::decode(bytes) {
                        Ok(m) => Ok(Some(m)),
                        Err(e) => Err(self.fail(Status::new(
                            Code::Internal,
                            format!("decoding the message: {e}"),
                        ))),
                    };
                }
                Some(Err(e)) => return Err(self.fail(e.to_status())),
                None => {}
            }
            if self.reader.is_finished() {
                let result = self.end_status();
                self.end.end(result);
                continue;
            }
            match self.body.chunk() {
                Ok(Some(chunk)) => self.reader.push(chunk),
                Ok(None) => {
                    let trailers = self.body.trailers().cloned();
                    if let Err(e) = self.reader.finish(trailers) {
                        return Err(self.fail(e.to_status()));
                    }
                }
                Err(e) => {
                    let status = self.read_failed(&e);
                    return Err(self.fail(status));
                }
            }
        }
    }

    /// The body the stream read from (for its connection state).
    pub(crate) fn into_body(self) -> BlockingBody {
        self.body
    }

    /// Trailing metadata (and the status fields) the stream ended with, on
    /// the client, once it ended.
    pub fn trailers(&self) -> Option<&HeaderMap> {
        self.reader.trailers()
    }

    /// Whether the message last returned came flagged compressed on the
    /// wire (it is returned decompressed either way): what a server checks
    /// when a client promises compression, and the other way round.
    pub fn last_compressed(&self) -> bool {
        self.reader.last_compressed()
    }

    /// Whether the peer cut the call off (reset its stream, or its
    /// connection went away): what a server's long-running handler checks.
    pub fn is_aborted(&self) -> bool {
        self.body.is_aborted()
    }

    /// The status for a body read that failed.
    fn read_failed(&self, e: &io::Error) -> Status {
        if e.kind() == io::ErrorKind::TimedOut && self.deadline.is_some() {
            return deadline_exceeded();
        }
        match self.side {
            Side::Server => Status::new(Code::Cancelled, format!("request body: {e}")),
            Side::Client => reset_status(e),
        }
    }

    /// Ends the stream with `status` (DEADLINE_EXCEEDED once a client's
    /// deadline passed); drops the body, which cancels a client's stream.
    fn fail(&mut self, status: Status) -> Status {
        let status = self.client_deadline(status);
        self.end.end(Err(status.clone()));
        self.body = BlockingBody::empty();
        status
    }

    fn client_deadline(&self, status: Status) -> Status {
        match self.side {
            Side::Client => at_deadline(status, self.deadline),
            Side::Server => status,
        }
    }

    /// The body ended cleanly: the call's result.
    fn end_status(&self) -> Result<(), Status> {
        if self.side == Side::Server {
            return Ok(());
        }
        let status = self.reader.status();
        if status.is_ok() {
            Ok(())
        } else {
            Err(self.client_deadline(status))
        }
    }
}

impl<T: prost::Message + Default> Iterator for Streaming<T> {
    type Item = Result<T, Status>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.fused {
            return None;
        }
        match self.message() {
            Ok(Some(m)) => Some(Ok(m)),
            Ok(None) => {
                self.fused = true;
                None
            }
            Err(s) => {
                self.fused = true;
                Some(Err(s))
            }
        }
    }
}

/// Reads exactly one message (the request of a unary or server-streaming
/// call, or the response of a unary or client-streaming call).
pub(crate) fn read_one<T: prost::Message + Default>(
    stream: &mut Streaming<T>,
) -> Result<T, Status> {
    let Some(message) = stream.message()? else {
        return Err(Status::new(Code::Internal, "missing message"));
    };
    if stream.message()?.is_some() {
        return Err(Status::new(Code::Internal, "more than one message"));
    }
    Ok(message)
}

/// The status of a response body that failed (a reset stream, a closed
/// connection), from the error the connection gave it: a reset by the
/// server maps its code as PROTOCOL-HTTP2.md's table does (CANCEL →
/// CANCELLED, INTERNAL_ERROR → INTERNAL, ENHANCE_YOUR_CALM →
/// RESOURCE_EXHAUSTED...), an oversized header section (our own reset) is
/// INTERNAL, anything else (the connection went away) UNAVAILABLE.
fn reset_status(e: &io::Error) -> Status {
    let text = e.to_string();
    if let Some(named) = text
        .strip_prefix("stream reset (")
        .and_then(|t| t.strip_suffix(')'))
        && let Some(code) = (0..=0xd).find(|&c| named == ErrorCode::from(c).to_string())
    {
        return Status::new(Code::from_h2_error_code(code), text);
    }
    if text == crate::Error::HeadersTooLarge.to_string() {
        return Status::new(Code::Internal, text);
    }
    Status::new(Code::Unavailable, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_mid_response_maps_its_code() {
        let status = |text: &str| reset_status(&io::Error::other(text.to_owned())).code;
        // The texts of crate::h2::stream's Dead::to_io.
        assert_eq!(status("stream reset (CANCEL)"), Code::Cancelled);
        assert_eq!(status("stream reset (INTERNAL_ERROR)"), Code::Internal);
        assert_eq!(status("stream reset (PROTOCOL_ERROR)"), Code::Internal);
        assert_eq!(
            status("stream reset (ENHANCE_YOUR_CALM)"),
            Code::ResourceExhausted
        );
        assert_eq!(status("stream reset (REFUSED_STREAM)"), Code::Unavailable);
        assert_eq!(
            status("stream reset (INADEQUATE_SECURITY)"),
            Code::PermissionDenied
        );
        assert_eq!(
            status(&crate::Error::HeadersTooLarge.to_string()),
            Code::Internal
        );
        assert_eq!(
            status("connection closed before the stream ended"),
            Code::Unavailable
        );
    }
}
