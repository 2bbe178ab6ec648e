//! The streams of a connection: the live ones by id, and a bounded memory
//! of recently closed ids.

use crate::flow::{RecvWindow, SendWindow};
use crate::stream_state::{Closed, StreamState};
use std::collections::{BTreeMap, VecDeque};

/// What we expect next from the peer on a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// A head (for a client: interim responses, then the final one).
    Head,
    /// Data or trailers.
    Body,
    /// Nothing: END_STREAM seen or sent.
    Done,
}

/// One stream's bookkeeping.
#[derive(Debug, Clone)]
pub(crate) struct Stream {
    pub state: StreamState,
    pub send: SendWindow,
    pub recv: RecvWindow,
    /// What the peer sends next.
    pub rx: Phase,
    /// What we send next.
    pub tx: Phase,
    /// The peer's content-length, and the data received so far.
    pub content_length: Option<u64>,
    pub received: u64,
    /// A response that has no content whatever its content-length (to a
    /// HEAD request, or a 304).
    pub no_body: bool,
    /// The request was HEAD (clients).
    pub head_request: bool,
    /// A `send_data` was cut short: report `Writable` when the windows grow.
    pub blocked: bool,
    /// Opened by us.
    pub local: bool,
}

impl Stream {
    pub fn new(state: StreamState, send: u32, recv: u32, local: bool) -> Stream {
        Stream {
            state,
            send: SendWindow::new(send),
            recv: RecvWindow::new(recv, recv),
            rx: Phase::Head,
            tx: Phase::Head,
            content_length: None,
            received: 0,
            no_body: false,
            head_request: false,
            blocked: false,
            local,
        }
    }
}

/// The live streams (ordered by id, so that every walk over them, and the
/// events it makes, is deterministic), the recently closed ids, and the
/// ranges of ids the peer skipped.
#[derive(Debug, Clone, Default)]
pub(crate) struct Streams {
    pub map: BTreeMap<u32, Stream>,
    /// Recently closed ids, oldest first (the order they are forgotten in)...
    closed: VecDeque<u32>,
    /// ... and why each closed, by id (a tree, as `map`: deterministic and
    /// no hasher seeded from the OS), so that remembering a
    /// stream on every close is not a scan of the whole memory.
    closed_why: BTreeMap<u32, Closed>,
    /// Ranges (first, last) of the peer's ids passed over when it opened a
    /// higher one: never opened, implicitly closed (RFC 9113 §5.1.1).
    /// Oldest first, at most `max_closed` of them.
    skipped: VecDeque<(u32, u32)>,
    max_closed: usize,
}

impl Streams {
    pub fn new(max_closed: usize) -> Streams {
        Streams {
            map: BTreeMap::new(),
            closed: VecDeque::new(),
            closed_why: BTreeMap::new(),
            skipped: VecDeque::new(),
            max_closed,
        }
    }

    pub fn get_mut(&mut self, id: u32) -> Option<&mut Stream> {
        self.map.get_mut(&id)
    }

    pub fn get(&self, id: u32) -> Option<&Stream> {
        self.map.get(&id)
    }

    pub fn insert(&mut self, id: u32, s: Stream) {
        self.map.insert(id, s);
    }

    /// Active (open or half-closed) streams opened by us (`local`) or by the peer.
    pub fn active(&self, local: bool) -> usize {
        self.map
            .values()
            .filter(|s| s.local == local && s.state.is_active())
            .count()
    }

    /// Whether any stream is still active.
    pub fn any_active(&self) -> bool {
        self.map.values().any(|s| s.state.is_active())
    }

    /// Removes a stream, remembering why it closed.
    pub fn remove(&mut self, id: u32) -> Option<Stream> {
        let s = self.map.remove(&id)?;
        if let StreamState::Closed(why) = s.state {
            self.remember(id, why);
        }
        Some(s)
    }

    /// Remembers that `id` closed for `why`, forgetting the oldest id past
    /// the bound.
    pub fn remember(&mut self, id: u32, why: Closed) {
        if self.max_closed == 0 {
            return;
        }
        if let Some(e) = self.closed_why.get_mut(&id) {
            *e = why;
            return;
        }
        if self.closed.len() >= self.max_closed {
            if let Some(old) = self.closed.pop_front() {
                self.closed_why.remove(&old);
            }
        }
        self.closed.push_back(id);
        self.closed_why.insert(id, why);
    }

    /// Why a closed stream that is no longer live closed, if remembered.
    pub fn closed_reason(&self, id: u32) -> Option<Closed> {
        self.closed_why.get(&id).copied()
    }

    /// Remembers that the peer passed over the ids `first..=last` (of its
    /// parity) without opening them, forgetting the oldest range past the
    /// bound.
    pub fn skip(&mut self, first: u32, last: u32) {
        if self.max_closed == 0 || first > last {
            return;
        }
        if self.skipped.len() >= self.max_closed {
            self.skipped.pop_front();
        }
        self.skipped.push_back((first, last));
    }

    /// Whether `id` is known never to have been opened by the peer,
    /// though a higher id was.
    pub fn was_skipped(&self, id: u32) -> bool {
        self.skipped.iter().any(|&(a, b)| a <= id && id <= b)
    }

    /// How many closed ids are remembered.
    pub fn closed_len(&self) -> usize {
        self.closed.len()
    }
}
