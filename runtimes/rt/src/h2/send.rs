//! Sending a [`Body`] on an HTTP/2 stream as the flow-control windows
//! allow: shared by the server (responses) and the client (requests).

use crate::Body;
use crate::body::Cancelled;
use bytes::{Bytes, BytesMut};
use std::task::{Context, Poll};
use std::time::Instant;
use wirestate_h2::connection::Connection;
use wirestate_h2::frame::{ErrorCode, StreamId};
use wirestate_h2::pacing::TinyFrames;

/// DATA payloads gathered from small body chunks are cut at this size
/// (the default SETTINGS_MAX_FRAME_SIZE; the machine splits larger ones).
const GATHER: usize = 16 * 1024;

/// What a poll of an [`Outgoing`] body did.
pub(crate) enum Sent {
    /// Some of it went into the machine; more is to come.
    Progress,
    /// The body ended (END_STREAM or trailers queued).
    Done,
    /// The body failed (or was given up): the stream was reset, and
    /// whoever waits on it must be told, for no event will say so (the
    /// machine reports no reset the application asked for).
    Failed(std::io::Error),
    /// Waiting for the body or for window.
    Blocked,
    /// A tiny piece waits for more of the body until then (see
    /// [`wirestate_h2::pacing`]): poll the stream again by that time.
    Held(Instant),
}

/// A body on its way out on one stream.
pub(crate) struct Outgoing {
    body: Body,
    /// Body bytes taken from `body` and not yet sent: one chunk as it came
    /// (zero-copy)...
    pending: Option<Bytes>,
    /// ... or small chunks gathered into one frame, each appended once
    /// (when `pending` is `None`).
    joining: BytesMut,
    /// `body` has ended: the last frame carries END_STREAM (or the
    /// trailers follow).
    ended: bool,
    pacing: TinyFrames,
}

impl Outgoing {
    pub(crate) fn new(body: Body) -> Self {
        Self {
            body,
            pending: None,
            joining: BytesMut::new(),
            ended: false,
            pacing: TinyFrames::default(),
        }
    }

    /// The peer sent DATA on this stream: the next piece may answer it,
    /// and is not held back.
    pub(crate) fn peer_sent(&mut self) {
        self.pacing.peer_sent();
    }

    /// Bytes taken from the body and not yet sent.
    fn pending_len(&self) -> usize {
        self.pending.as_ref().map_or(0, Bytes::len) + self.joining.len()
    }

    /// Sends what the windows allow.
    ///
    /// Small chunks (a streamed body written line by line) are gathered
    /// into one frame instead of one frame each, and a tiny piece right
    /// after a tiny frame waits (briefly) for more; how much goes out is
    /// [`Connection::sendable`]'s call; and when the body ends the last
    /// DATA frame carries END_STREAM.
    pub(crate) fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        m: &mut Connection,
        stream: StreamId,
        now: Instant,
    ) -> Sent {
        let mut progress = false;
        loop {
            // Gather what the body has ready, up to one frame's worth.
            while !self.ended && self.pending_len() < GATHER {
                match self.body.poll_chunk(cx) {
                    Poll::Ready(Some(Ok(chunk))) if chunk.is_empty() => {}
                    Poll::Ready(Some(Ok(chunk))) => {
                        if self.pending.is_none() && self.joining.is_empty() {
                            self.pending = Some(chunk);
                        } else {
                            if let Some(first) = self.pending.take() {
                                self.joining.reserve(GATHER.max(first.len() + chunk.len()));
                                self.joining.extend_from_slice(&first);
                            }
                            self.joining.extend_from_slice(&chunk);
                        }
                    }
                    Poll::Ready(None) => self.ended = true,
                    // A body given up by its sender is a cancellation
                    // (RST_STREAM CANCEL, as gRPC clients send), not a
                    // failure worth a warning.
                    Poll::Ready(Some(Err(e))) if Cancelled::is(&e) => {
                        let _ = m.reset(stream, ErrorCode::CANCEL);
                        return Sent::Failed(e);
                    }
                    Poll::Ready(Some(Err(e))) => {
                        tracing::warn!(error = %e, "outgoing body failed");
                        let _ = m.reset(stream, ErrorCode::INTERNAL_ERROR);
                        return Sent::Failed(e);
                    }
                    Poll::Pending => break,
                }
            }
            let blocked = if progress {
                Sent::Progress
            } else {
                Sent::Blocked
            };
            let next = if self.joining.is_empty() {
                self.pending.take()
            } else {
                Some(self.joining.split().freeze())
            };
            let Some(chunk) = next else {
                if !self.ended {
                    return blocked;
                }
                // Everything sent: END_STREAM on its own, or the trailers.
                let result = match self.body.take_trailers() {
                    Some(trailers) => m.send_trailers(stream, trailers),
                    None => m.send_data(stream, Bytes::new(), true).map(|_| ()),
                };
                if let Err(e) = result {
                    tracing::debug!(error = %e, "end of body refused");
                }
                return Sent::Done;
            };
            if let Some(until) = self.pacing.hold_until(chunk.len(), self.ended, now) {
                self.pending = Some(chunk);
                return if progress {
                    Sent::Progress
                } else {
                    Sent::Held(until)
                };
            }
            // A bounded output queue, the windows, no tiny frames.
            let take = if m.is_send_buffer_full() {
                0
            } else {
                m.sendable(stream, chunk.len())
            };
            if take == 0 {
                self.pending = Some(chunk);
                return blocked;
            }
            let last = take == chunk.len() && self.ended && !self.body.has_trailers();
            match m.send_data(stream, chunk.slice(..take), last) {
                Ok(n) => {
                    self.pacing.sent(n, now);
                    progress |= n > 0;
                    if n < chunk.len() {
                        self.pending = Some(chunk.slice(n..));
                    } else if last {
                        return Sent::Done;
                    }
                    if n < take {
                        return if progress {
                            Sent::Progress
                        } else {
                            Sent::Blocked
                        };
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "data refused");
                    return Sent::Done;
                }
            }
        }
    }
}
