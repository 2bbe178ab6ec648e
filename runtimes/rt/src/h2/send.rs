//! Sending a [`Body`] on an HTTP/2 stream as the flow-control windows
//! allow: shared by the server (responses) and the client (requests).

use crate::Body;
use bytes::{Bytes, BytesMut};
use std::task::{Context, Poll};
use wirestate_h2::connection::{Connection, Event};
use wirestate_h2::frame::{DEFAULT_INITIAL_WINDOW_SIZE, ErrorCode, StreamId};

/// DATA frames smaller than this are not sent while more body is waiting
/// (unless the peer's windows are too small to ever allow one): a window
/// reopened a few bytes at a time would otherwise be answered with a
/// stream of tiny frames — wasteful, and taken for abuse by peers that
/// budget small frames (the `h2` crate's GOAWAY "too_many_data_frames").
const MIN_DATA_FRAME: usize = 1024;

/// DATA payloads gathered from small body chunks are cut at this size
/// (the default SETTINGS_MAX_FRAME_SIZE; the machine splits larger ones).
const GATHER: usize = 16 * 1024;

/// Output queued in the machine (not yet taken by the driver) above which
/// no more body is pulled: the windows bound what the peer may receive,
/// not how fast it reads, and a peer that opens a huge window and then
/// stops reading must not make the body pile up in memory. The driver
/// polls the app again after each write, so sending resumes as the queue
/// drains.
const QUEUE_HIGH_WATER: usize = 512 * 1024;

/// What a poll of an [`Outgoing`] body did.
pub(crate) enum Sent {
    /// Some of it went into the machine; more is to come.
    Progress,
    /// The body ended (END_STREAM or trailers queued), or failed (the
    /// stream was reset).
    Done,
    /// Waiting for the body or for window.
    Blocked,
}

/// The smallest DATA frame worth sending given the peer's settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameSizing {
    peer_window: u32,
}

impl Default for FrameSizing {
    fn default() -> Self {
        Self {
            peer_window: DEFAULT_INITIAL_WINDOW_SIZE,
        }
    }
}

impl FrameSizing {
    /// Follows the peer's SETTINGS_INITIAL_WINDOW_SIZE.
    pub(crate) fn on_event(&mut self, ev: &Event) {
        if let Event::RemoteSettings(settings) = ev {
            if let Some(w) = settings.initial_window_size() {
                self.peer_window = w;
            }
        }
    }

    fn min_frame(&self) -> usize {
        MIN_DATA_FRAME.min(self.peer_window as usize / 2).max(1)
    }
}

/// A body on its way out on one stream.
pub(crate) struct Outgoing {
    body: Body,
    /// Body bytes taken from `body` and not yet sent: one chunk as it came
    /// (zero-copy), or small chunks gathered into one frame.
    pending: Option<Bytes>,
    /// `body` has ended: the last frame carries END_STREAM (or the
    /// trailers follow).
    ended: bool,
}

impl Outgoing {
    pub(crate) fn new(body: Body) -> Self {
        Self {
            body,
            pending: None,
            ended: false,
        }
    }

    /// Sends what the windows allow.
    ///
    /// Small chunks (a streamed body written line by line) are gathered
    /// into one frame instead of one frame each; a chunk the windows cut is
    /// never left with a remainder smaller than the minimum frame; and when
    /// the body ends the last DATA frame carries END_STREAM.
    pub(crate) fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        m: &mut Connection,
        stream: StreamId,
        sizing: FrameSizing,
    ) -> Sent {
        let min_frame = sizing.min_frame();
        let mut progress = false;
        loop {
            // Gather what the body has ready, up to one frame's worth.
            while !self.ended && self.pending.as_ref().is_none_or(|p| p.len() < GATHER) {
                match self.body.poll_chunk(cx) {
                    Poll::Ready(Some(Ok(chunk))) if chunk.is_empty() => {}
                    Poll::Ready(Some(Ok(chunk))) => {
                        self.pending = Some(match self.pending.take() {
                            None => chunk,
                            Some(first) => {
                                let mut joined = BytesMut::with_capacity(first.len() + chunk.len());
                                joined.extend_from_slice(&first);
                                joined.extend_from_slice(&chunk);
                                joined.freeze()
                            }
                        });
                    }
                    Poll::Ready(None) => self.ended = true,
                    Poll::Ready(Some(Err(e))) => {
                        tracing::warn!(error = %e, "outgoing body failed");
                        let _ = m.reset(stream, ErrorCode::INTERNAL_ERROR);
                        return Sent::Done;
                    }
                    Poll::Pending => break,
                }
            }
            let blocked = if progress {
                Sent::Progress
            } else {
                Sent::Blocked
            };
            let Some(chunk) = self.pending.take() else {
                if !self.ended {
                    return blocked;
                }
                // Everything sent: END_STREAM on its own, or the trailers.
                let result = match self.body.trailers() {
                    Some(trailers) => m.send_trailers(stream, trailers),
                    None => m.send_data(stream, Bytes::new(), true).map(|_| ()),
                };
                if let Err(e) = result {
                    tracing::debug!(error = %e, "end of body refused");
                }
                return Sent::Done;
            };
            let capacity = if m.queued_bytes() >= QUEUE_HIGH_WATER {
                0
            } else {
                m.send_capacity(stream)
            };
            let take = if capacity >= chunk.len() {
                chunk.len()
            } else {
                // Cut so that neither part is a tiny frame.
                capacity.min(chunk.len().saturating_sub(min_frame))
            };
            if take < chunk.len() && take < min_frame {
                // Wait for a Writable event with room for a useful frame.
                self.pending = Some(chunk);
                return blocked;
            }
            let last = take == chunk.len() && self.ended && self.body.trailers().is_none();
            match m.send_data(stream, chunk.slice(..take), last) {
                Ok(n) => {
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
