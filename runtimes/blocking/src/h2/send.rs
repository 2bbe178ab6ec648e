//! Sending a stream's outgoing body (queued by its writer thread) as the
//! flow-control windows allow, on the connection thread: shared by the
//! server (responses) and the client (requests).

use super::stream::{OUT_LIMIT, Shared};
use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use std::time::Instant;
use wirestate_h2::connection::Connection;
use wirestate_h2::frame::{ErrorCode, StreamId};
use wirestate_h2::pacing::TinyFrames;

/// DATA payloads gathered from small body chunks are cut at this size
/// (the default SETTINGS_MAX_FRAME_SIZE; the machine splits larger ones).
const GATHER: usize = 16 * 1024;

/// What one [`Outgoing::send`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// Waiting for the writer or for window.
    Pending,
    /// A tiny piece waits for more of the body until then (see
    /// [`wirestate_h2::pacing`]): step the stream again by that time.
    Held(Instant),
    /// The body ended (END_STREAM or trailers queued).
    Done,
    /// The writer's body failed: the stream was reset, and whoever waits
    /// on it must be told, for no event will say so (the machine reports
    /// no reset the application asked for).
    Failed,
}

/// A body on its way out on one stream, after its head.
#[derive(Debug, Default)]
pub(crate) struct Outgoing {
    /// Bytes taken from the writer's queue and not yet sent: one chunk as
    /// it came (zero-copy), or small chunks gathered into one frame.
    pending: Option<Bytes>,
    /// The writer finished: the last frame carries END_STREAM, or these
    /// trailers follow.
    ended: Option<Option<HeaderMap>>,
    pacing: TinyFrames,
}

/// Appends `chunk` to `pending` (copying only when small chunks are joined).
fn join(pending: &mut Option<Bytes>, chunk: Bytes) {
    *pending = Some(match pending.take() {
        None => chunk,
        Some(first) => {
            let mut joined = BytesMut::with_capacity(first.len() + chunk.len());
            joined.extend_from_slice(&first);
            joined.extend_from_slice(&chunk);
            joined.freeze()
        }
    });
}

impl Outgoing {
    /// The peer sent DATA on this stream: the next piece may answer it,
    /// and is not held back.
    pub(crate) fn peer_sent(&mut self) {
        self.pacing.peer_sent();
    }

    /// Sends what the windows allow.
    ///
    /// Small chunks (a streamed body written line by line) are gathered
    /// into one frame instead of one frame each, and a tiny piece right
    /// after a tiny frame waits (briefly) for more; how much goes out is
    /// [`Connection::sendable`]'s call; and when the body ends the last
    /// DATA frame carries END_STREAM.
    pub(crate) fn send(
        &mut self,
        shared: &Shared,
        m: &mut Connection,
        stream: StreamId,
        now: Instant,
    ) -> Sent {
        loop {
            // Gather what the writer has queued, up to one frame's worth.
            if self.ended.is_none() && self.pending.as_ref().is_none_or(|p| p.len() < GATHER) {
                let mut st = shared.lock();
                let was_full = st.out_bytes >= OUT_LIMIT;
                while self.pending.as_ref().is_none_or(|p| p.len() < GATHER) {
                    match st.out_queue.pop_front() {
                        Some(chunk) => {
                            st.out_bytes -= chunk.len();
                            if !chunk.is_empty() {
                                join(&mut self.pending, chunk);
                            }
                        }
                        None => {
                            if let Some(trailers) = st.out_end.take() {
                                self.ended = Some(trailers);
                            } else if st.out_failed {
                                drop(st);
                                tracing::warn!("outgoing body failed");
                                let _ = m.reset(stream, ErrorCode::INTERNAL_ERROR);
                                return Sent::Failed;
                            }
                            break;
                        }
                    }
                }
                let room = was_full && st.out_bytes < OUT_LIMIT;
                drop(st);
                if room {
                    shared.wake();
                }
            }
            let Some(chunk) = self.pending.take() else {
                let Some(trailers) = self.ended.take() else {
                    return Sent::Pending;
                };
                // Everything sent: END_STREAM on its own, or the trailers.
                let result = match trailers {
                    Some(trailers) => m.send_trailers(stream, trailers),
                    None => m.send_data(stream, Bytes::new(), true).map(|_| ()),
                };
                if let Err(e) = result {
                    tracing::debug!(error = %e, "end of body refused");
                }
                return Sent::Done;
            };
            if let Some(until) = self
                .pacing
                .hold_until(chunk.len(), self.ended.is_some(), now)
            {
                self.pending = Some(chunk);
                return Sent::Held(until);
            }
            // The windows, and no tiny frames.
            let take = m.sendable(stream, chunk.len());
            if take == 0 {
                // Wait for a window with room for a useful frame.
                self.pending = Some(chunk);
                return Sent::Pending;
            }
            let last = take == chunk.len() && matches!(self.ended, Some(None));
            match m.send_data(stream, chunk.slice(..take), last) {
                Ok(n) => {
                    self.pacing.sent(n, now);
                    if n < chunk.len() {
                        self.pending = Some(chunk.slice(n..));
                    } else if last {
                        self.ended = None;
                        return Sent::Done;
                    }
                    if n < take {
                        return Sent::Pending;
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
