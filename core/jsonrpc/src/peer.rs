//! The request/response peer: one end of a JSON-RPC conversation, which
//! both calls and answers.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use wirestate_machine::MonotonicClock;

use crate::decode::{Decoded, Limits, decode};
use crate::error::{Error, ErrorObject};
use crate::id::RequestId;
use crate::message::{
    Message, Notification, Request, write_error_response, write_notification, write_request,
    write_response,
};
use crate::raw::RawJson;

/// Limits and timers of a [`Peer`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// What a received message may be (size, batch length, id length,
    /// whether batches are accepted).
    pub limits: Limits,
    /// Most requests of the peer's waiting for our answer. A request beyond
    /// it is answered at once with -32009 ([`ErrorCode::SERVER_BUSY`](crate::ErrorCode::SERVER_BUSY))
    /// and never reported. Default 1024.
    pub max_pending_incoming: usize,
    /// Most requests of ours waiting for the peer's answer;
    /// [`Peer::send_request`] refuses more with [`Error::TooManyOutgoing`].
    /// Default 1024.
    pub max_pending_outgoing: usize,
    /// The deadline of a request sent without an explicit timeout. `None`:
    /// such requests wait until answered or cancelled. Default 60 s (the
    /// official MCP SDKs' default).
    pub request_timeout: Option<Duration>,
    /// Queued output at which [`Peer::wants_message`] turns false, so a
    /// driver stops reading while the transport is slow. Default 1 MiB.
    pub write_high_water: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            max_pending_incoming: 1024,
            max_pending_outgoing: 1024,
            request_timeout: Some(Duration::from_secs(60)),
            write_high_water: 1 << 20,
        }
    }
}

/// What the peer reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The peer calls us. Answer exactly once with
    /// [`Peer::respond`] or [`Peer::respond_error`] (or drop it with
    /// [`Peer::abandon`]).
    Request(Request),
    /// The peer notifies us; nothing is answered.
    Notification(Notification),
    /// The answer to one of our requests.
    Response {
        /// Our request's id, as [`Peer::send_request`] returned it.
        request: RequestId,
        /// The result.
        result: RawJson,
    },
    /// The error answer to one of our requests.
    ErrorResponse {
        /// Our request's id.
        request: RequestId,
        /// The error.
        error: ErrorObject,
    },
    /// One of our requests passed its deadline; it is forgotten, and a
    /// response arriving later is dropped (counted in
    /// [`Stats::late_responses`]).
    TimedOut {
        /// Our request's id.
        request: RequestId,
    },
    /// An error response with a `null` id: the peer could not read a
    /// message of ours, so no request can be matched.
    PeerError(ErrorObject),
    /// Input refused: a malformed message or entry, a limit, a reused id,
    /// a response to an id we never used. When
    /// [`hint`](Error::hint) is `Some`, the peer was already sent that
    /// error; otherwise nothing was sent (malformed responses are not
    /// answered). [`Peer::handle_message`] returns the first of these.
    Invalid(Error),
}

/// Counters of what was dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Responses to requests of ours that were no longer pending
    /// (cancelled, timed out, or already answered): dropped silently.
    pub late_responses: u64,
    /// Responses to ids we never used: dropped, each reported as
    /// [`Event::Invalid`] with [`Error::UnknownResponse`].
    pub unknown_responses: u64,
    /// Messages and batch entries refused ([`Event::Invalid`]).
    pub invalid: u64,
    /// Requests of ours that timed out.
    pub timed_out: u64,
}

/// One entry of a batch to send with [`Peer::send_batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchEntry {
    /// A request, with its timeout (`None`: [`Config::request_timeout`]).
    Request {
        /// The method.
        method: String,
        /// The params, an object or an array.
        params: Option<RawJson>,
        /// The timeout.
        timeout: Option<Duration>,
    },
    /// A notification.
    Notification {
        /// The method.
        method: String,
        /// The params, an object or an array.
        params: Option<RawJson>,
    },
}

impl BatchEntry {
    /// A request with the default timeout.
    pub fn request(method: impl Into<String>, params: Option<RawJson>) -> Self {
        Self::Request {
            method: method.into(),
            params,
            timeout: None,
        }
    }

    /// A notification.
    pub fn notification(method: impl Into<String>, params: Option<RawJson>) -> Self {
        Self::Notification {
            method: method.into(),
            params,
        }
    }

    fn params(&self) -> Option<&RawJson> {
        match self {
            Self::Request { params, .. } | Self::Notification { params, .. } => params.as_ref(),
        }
    }
}

/// Where the answer to an incoming request goes.
#[derive(Debug, Clone, Copy)]
enum Place {
    /// Its own message.
    Single,
    /// A slot of the answer to a batch.
    Batch { batch: u64, slot: usize },
}

/// The answer to a received batch, in the order of its entries.
#[derive(Debug, Default)]
struct PendingBatch {
    /// One per entry that gets an answer; `None` until answered (and for
    /// abandoned requests, which get no entry).
    slots: Vec<Option<Bytes>>,
    /// Slots still waiting for the application.
    missing: usize,
}

/// One end of a JSON-RPC 2.0 conversation: it sends requests and
/// notifications and matches the responses, and it receives requests and
/// notifications and carries the answers back.
///
/// A message-level machine: [`handle_message`](Self::handle_message) takes
/// one complete message (framing — newlines, HTTP bodies, WebSocket
/// messages — is the transport's job), [`poll_message`](Self::poll_message)
/// gives complete messages to send, [`poll_event`](Self::poll_event)
/// reports, [`poll_timeout`](Self::poll_timeout) and
/// [`handle_timeout`](Self::handle_timeout) run request deadlines. Nothing
/// is sticky: a malformed message is answered as the specification says
/// and the conversation goes on.
///
/// * Our requests get ids 1, 2, 3, … (integers, increasing). A response is
///   delivered once, to a pending request; responses to cancelled or timed
///   out requests are dropped and counted.
/// * Requests of the peer's are tracked until answered; answering twice,
///   or answering an id never received, is refused with
///   [`Error::NotAnswerable`] and changes nothing. A request that reuses
///   the id of one still unanswered is answered with -32600 (echoing the
///   id) and not reported; the first keeps its id.
/// * Requests that arrived in a batch are answered with one batch, in the
///   order of the entries, once all of them are answered (abandoned
///   requests and notifications get no entry; a batch of notifications
///   gets no answer). Malformed entries take their -32600 answer in their
///   place.
///
/// See the crate documentation for an example.
#[derive(Debug)]
pub struct Peer {
    config: Config,
    clock: MonotonicClock,
    next_id: u64,
    /// Our pending requests and their deadlines.
    outgoing: BTreeMap<u64, Option<Instant>>,
    deadlines: BTreeSet<(Instant, u64)>,
    /// The peer's requests waiting for our answer.
    incoming: BTreeMap<RequestId, Place>,
    batches: BTreeMap<u64, PendingBatch>,
    next_batch: u64,
    tx: VecDeque<Bytes>,
    queued_bytes: usize,
    events: VecDeque<Event>,
    stats: Stats,
}

impl Default for Peer {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

impl Peer {
    /// A peer with nothing pending.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            clock: MonotonicClock::default(),
            next_id: 1,
            outgoing: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            incoming: BTreeMap::new(),
            batches: BTreeMap::new(),
            next_batch: 0,
            tx: VecDeque::new(),
            queued_bytes: 0,
            events: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Turns batches on or off from the next message on
    /// ([`Limits::allow_batches`](crate::Limits::allow_batches)): a
    /// protocol on JSON-RPC may only learn whether it has them once it has
    /// negotiated a version (MCP dropped them in 2025-06-18).
    pub fn set_allow_batches(&mut self, allow: bool) {
        self.config.limits.allow_batches = allow;
    }

    // ---- inputs ----

    /// Takes one complete message from the peer (a single message or a
    /// batch), copying it once.
    ///
    /// Requests, notifications and responses become events. Malformed
    /// input is answered (-32700 parse error, -32600 invalid request, or a
    /// limit's code) and reported as [`Event::Invalid`].
    ///
    /// # Errors
    ///
    /// The first problem of the message (also reported as an event, in
    /// order with the others). Never sticky: the next message is handled
    /// normally.
    pub fn handle_message(&mut self, now: Instant, message: &[u8]) -> Result<(), Error> {
        if message.len() > self.config.limits.max_message_size {
            // Refuse before copying.
            self.clock.advance(now);
            let e = Error::MessageTooLarge {
                len: message.len(),
                max: self.config.limits.max_message_size,
            };
            self.refuse(e.clone(), None);
            return Err(e);
        }
        self.handle_message_bytes(now, Bytes::copy_from_slice(message))
    }

    /// [`handle_message`](Self::handle_message) without the copy: params
    /// and results in the events are slices of `message`.
    ///
    /// # Errors
    ///
    /// As [`handle_message`](Self::handle_message).
    pub fn handle_message_bytes(&mut self, now: Instant, message: Bytes) -> Result<(), Error> {
        match decode(message, &self.config.limits) {
            Ok(decoded) => self.handle_decoded(now, decoded),
            Err(e) => {
                self.clock.advance(now);
                Err(self.refuse(e, None))
            }
        }
    }

    /// [`handle_message_bytes`](Self::handle_message_bytes) for a message
    /// the caller has already decoded, with [`decode`] and limits no looser
    /// than this peer's: a transport that looks into a message before
    /// handing it over (the MCP Streamable HTTP server routes a POST by its
    /// request ids) decodes it once, not twice.
    ///
    /// # Errors
    ///
    /// As [`handle_message`](Self::handle_message).
    pub fn handle_decoded(&mut self, now: Instant, decoded: Decoded) -> Result<(), Error> {
        self.clock.advance(now);
        // The caller decoded it, possibly with batches allowed.
        if matches!(decoded, Decoded::Batch(_)) && !self.config.limits.allow_batches {
            return Err(self.refuse(Error::BatchNotAllowed, None));
        }
        let mut first = None;
        match decoded {
            Decoded::Single(entry) => self.entry(entry, None, &mut first),
            Decoded::Batch(entries) => {
                let number = self.next_batch;
                self.next_batch = self.next_batch.wrapping_add(1);
                let mut batch = PendingBatch::default();
                for entry in entries {
                    self.entry(entry, Some((number, &mut batch)), &mut first);
                }
                if batch.missing == 0 {
                    self.flush_batch(batch);
                } else {
                    self.batches.insert(number, batch);
                }
            }
        }
        match first {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Fires every request deadline due at or before `now`
    /// ([`Event::TimedOut`]). A spurious call is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.clock.advance(now);
        while let Some(&(at, n)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.deadlines.pop_first();
            self.outgoing.remove(&n);
            self.stats.timed_out += 1;
            self.events.push_back(Event::TimedOut {
                request: RequestId::from(n),
            });
        }
    }

    // ---- outputs ----

    /// The next complete message to send (a single message or a batch),
    /// or `None`.
    pub fn poll_message(&mut self) -> Option<Bytes> {
        let m = self.tx.pop_front()?;
        self.queued_bytes -= m.len();
        Some(m)
    }

    /// The next event, or `None`.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest request deadline, if any request has one. After
    /// [`handle_timeout(now)`](Self::handle_timeout), `None` or later than
    /// `now`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(at, _)| at)
    }

    // ---- commands ----

    /// Sends a request and returns its id. `timeout` sets its deadline
    /// (`None`: [`Config::request_timeout`]); a deadline that does not fit
    /// an `Instant` means none.
    ///
    /// # Errors
    ///
    /// [`Error::ParamsNotStructured`], [`Error::TooManyOutgoing`],
    /// [`Error::IdsExhausted`]; nothing is sent.
    pub fn send_request(
        &mut self,
        now: Instant,
        method: &str,
        params: Option<RawJson>,
        timeout: Option<Duration>,
    ) -> Result<RequestId, Error> {
        let now = self.clock.advance(now);
        check_params(params.as_ref())?;
        self.check_capacity(1)?;
        let id = self.register(now, timeout);
        let mut dst = BytesMut::new();
        write_request(&mut dst, &id, method, params.as_ref());
        self.push(dst.freeze());
        Ok(id)
    }

    /// Sends a notification.
    ///
    /// # Errors
    ///
    /// [`Error::ParamsNotStructured`]; nothing is sent.
    pub fn send_notification(
        &mut self,
        method: &str,
        params: Option<RawJson>,
    ) -> Result<(), Error> {
        check_params(params.as_ref())?;
        let mut dst = BytesMut::new();
        write_notification(&mut dst, method, params.as_ref());
        self.push(dst.freeze());
        Ok(())
    }

    /// Sends several requests and notifications as one batch, and returns
    /// the id of each entry (`None` for notifications). The peer answers
    /// the requests with one batch; each response is delivered as its own
    /// event.
    ///
    /// # Errors
    ///
    /// [`Error::NothingToSend`], [`Error::ParamsNotStructured`],
    /// [`Error::TooManyOutgoing`] (counting every request of the batch),
    /// [`Error::IdsExhausted`]; nothing is sent.
    pub fn send_batch(
        &mut self,
        now: Instant,
        entries: Vec<BatchEntry>,
    ) -> Result<Vec<Option<RequestId>>, Error> {
        let now = self.clock.advance(now);
        if entries.is_empty() {
            return Err(Error::NothingToSend);
        }
        for e in &entries {
            check_params(e.params())?;
        }
        let requests = entries
            .iter()
            .filter(|e| matches!(e, BatchEntry::Request { .. }))
            .count();
        self.check_capacity(requests)?;
        let mut dst = BytesMut::new();
        let mut ids = Vec::with_capacity(entries.len());
        dst.extend_from_slice(b"[");
        for (i, e) in entries.iter().enumerate() {
            if i > 0 {
                dst.extend_from_slice(b",");
            }
            match e {
                BatchEntry::Request {
                    method,
                    params,
                    timeout,
                } => {
                    let id = self.register(now, *timeout);
                    write_request(&mut dst, &id, method, params.as_ref());
                    ids.push(Some(id));
                }
                BatchEntry::Notification { method, params } => {
                    write_notification(&mut dst, method, params.as_ref());
                    ids.push(None);
                }
            }
        }
        dst.extend_from_slice(b"]");
        self.push(dst.freeze());
        Ok(ids)
    }

    /// Answers the peer's request `id` with `result`.
    ///
    /// # Errors
    ///
    /// [`Error::NotAnswerable`] if `id` is not waiting for an answer;
    /// nothing changes.
    pub fn respond(&mut self, id: &RequestId, result: RawJson) -> Result<(), Error> {
        let place = self.take_incoming(id)?;
        // The envelope is some 40 bytes and the id; one allocation.
        let mut dst = BytesMut::with_capacity(result.as_bytes().len() + 64);
        write_response(&mut dst, id, &result);
        self.deliver(place, Some(dst.freeze()));
        Ok(())
    }

    /// Answers the peer's request `id` with an error.
    ///
    /// # Errors
    ///
    /// [`Error::NotAnswerable`] if `id` is not waiting for an answer;
    /// nothing changes.
    pub fn respond_error(&mut self, id: &RequestId, error: ErrorObject) -> Result<(), Error> {
        let place = self.take_incoming(id)?;
        let mut dst = BytesMut::new();
        write_error_response(&mut dst, Some(id), &error);
        self.deliver(place, Some(dst.freeze()));
        Ok(())
    }

    /// Stops tracking the peer's request `id` without answering it (MCP:
    /// a request the peer cancelled gets no response). In a batch, it gets
    /// no entry in the answer.
    ///
    /// # Errors
    ///
    /// [`Error::NotAnswerable`] if `id` is not waiting for an answer.
    pub fn abandon(&mut self, id: &RequestId) -> Result<(), Error> {
        let place = self.take_incoming(id)?;
        self.deliver(place, None);
        Ok(())
    }

    /// Forgets our pending request `id`: a response arriving later is
    /// dropped (counted in [`Stats::late_responses`]), never delivered.
    /// Nothing is sent; telling the peer (MCP's `notifications/cancelled`)
    /// is the caller's business.
    ///
    /// # Errors
    ///
    /// [`Error::NotPending`] if `id` is not pending.
    pub fn cancel(&mut self, id: &RequestId) -> Result<(), Error> {
        let n = self.outgoing_key(id)?;
        if let Some(Some(at)) = self.outgoing.remove(&n) {
            self.deadlines.remove(&(at, n));
        }
        Ok(())
    }

    /// Forgets every pending request of ours (the transport closed) and
    /// returns their ids, oldest first.
    pub fn cancel_all(&mut self) -> Vec<RequestId> {
        self.deadlines.clear();
        std::mem::take(&mut self.outgoing)
            .into_keys()
            .map(RequestId::from)
            .collect()
    }

    /// Replaces the deadline of our pending request `id` (MCP: a progress
    /// notification resets the timeout). The deadline may be earlier or
    /// later than the current one.
    ///
    /// # Errors
    ///
    /// [`Error::NotPending`] if `id` is not pending.
    pub fn extend_timeout(&mut self, id: &RequestId, deadline: Instant) -> Result<(), Error> {
        let n = self.outgoing_key(id)?;
        if let Some(slot) = self.outgoing.get_mut(&n) {
            if let Some(old) = slot.replace(deadline) {
                self.deadlines.remove(&(old, n));
            }
            self.deadlines.insert((deadline, n));
        }
        Ok(())
    }

    // ---- queries ----

    /// Our requests waiting for a response.
    pub fn pending_outgoing(&self) -> usize {
        self.outgoing.len()
    }

    /// The peer's requests waiting for our answer.
    pub fn pending_incoming(&self) -> usize {
        self.incoming.len()
    }

    /// Whether our request `id` is waiting for a response.
    pub fn is_pending_outgoing(&self, id: &RequestId) -> bool {
        self.outgoing_key(id).is_ok()
    }

    /// Whether the peer's request `id` is waiting for our answer.
    pub fn is_pending_incoming(&self, id: &RequestId) -> bool {
        self.incoming.contains_key(id)
    }

    /// The deadline of our pending request `id`, if it has one.
    pub fn deadline(&self, id: &RequestId) -> Option<Instant> {
        let n = self.outgoing_key(id).ok()?;
        self.outgoing.get(&n).copied().flatten()
    }

    /// Whether a request can be sent now (below
    /// [`Config::max_pending_outgoing`]).
    pub fn can_send_request(&self) -> bool {
        self.outgoing.len() < self.config.max_pending_outgoing
    }

    /// Whether queued output is below [`Config::write_high_water`]; a
    /// driver stops reading input while it is not.
    pub fn wants_message(&self) -> bool {
        self.queued_bytes < self.config.write_high_water
    }

    /// Bytes of output waiting in [`poll_message`](Self::poll_message).
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// What was dropped so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    // ---- internals ----

    fn entry(
        &mut self,
        entry: Result<Message, Error>,
        batch: Option<(u64, &mut PendingBatch)>,
        first: &mut Option<Error>,
    ) {
        match entry {
            Ok(Message::Request(r)) => {
                let refused = if self.incoming.contains_key(&r.id) {
                    Some(Error::DuplicateId { id: r.id.clone() })
                } else if self.incoming.len() >= self.config.max_pending_incoming {
                    Some(Error::TooManyIncoming {
                        id: r.id.clone(),
                        max: self.config.max_pending_incoming,
                    })
                } else {
                    None
                };
                if let Some(e) = refused {
                    self.refuse(e, batch).note(first);
                    return;
                }
                let place = match batch {
                    Some((number, b)) => {
                        b.slots.push(None);
                        b.missing += 1;
                        Place::Batch {
                            batch: number,
                            slot: b.slots.len() - 1,
                        }
                    }
                    None => Place::Single,
                };
                self.incoming.insert(r.id.clone(), place);
                self.events.push_back(Event::Request(r));
            }
            Ok(Message::Notification(n)) => self.events.push_back(Event::Notification(n)),
            Ok(Message::Response(r)) => self.response(r.id, Ok(r.result), first),
            Ok(Message::ErrorResponse(r)) => match r.id {
                Some(id) => self.response(id, Err(r.error), first),
                None => self.events.push_back(Event::PeerError(r.error)),
            },
            Err(e) => self.refuse(e, batch).note(first),
        }
    }

    fn response(
        &mut self,
        id: RequestId,
        outcome: Result<RawJson, ErrorObject>,
        first: &mut Option<Error>,
    ) {
        let n = id.as_u64();
        if let Some(n) = n {
            if let Some(deadline) = self.outgoing.remove(&n) {
                if let Some(at) = deadline {
                    self.deadlines.remove(&(at, n));
                }
                self.events.push_back(match outcome {
                    Ok(result) => Event::Response {
                        request: id,
                        result,
                    },
                    Err(error) => Event::ErrorResponse { request: id, error },
                });
                return;
            }
            if (1..self.next_id).contains(&n) {
                self.stats.late_responses += 1;
                return;
            }
        }
        self.stats.unknown_responses += 1;
        self.refuse(Error::UnknownResponse { id }, None).note(first);
    }

    /// Answers a refused message or entry (when its error has an answer)
    /// and reports it.
    fn refuse(&mut self, e: Error, batch: Option<(u64, &mut PendingBatch)>) -> Error {
        self.stats.invalid += 1;
        if let Some(reply) = e.reply() {
            let mut dst = BytesMut::new();
            write_error_response(&mut dst, reply.id.as_ref(), &reply.error);
            let bytes = dst.freeze();
            match batch {
                Some((_, b)) => b.slots.push(Some(bytes)),
                None => self.push(bytes),
            }
        }
        self.events.push_back(Event::Invalid(e.clone()));
        e
    }

    fn take_incoming(&mut self, id: &RequestId) -> Result<Place, Error> {
        self.incoming
            .remove(id)
            .ok_or_else(|| Error::NotAnswerable { id: id.clone() })
    }

    /// Puts an answer (`None`: no answer) where its request wants it.
    fn deliver(&mut self, place: Place, answer: Option<Bytes>) {
        match place {
            Place::Single => {
                if let Some(bytes) = answer {
                    self.push(bytes);
                }
            }
            Place::Batch { batch, slot } => {
                let Some(b) = self.batches.get_mut(&batch) else {
                    return;
                };
                if let Some(s) = b.slots.get_mut(slot) {
                    *s = answer;
                }
                b.missing = b.missing.saturating_sub(1);
                if b.missing == 0 {
                    if let Some(b) = self.batches.remove(&batch) {
                        self.flush_batch(b);
                    }
                }
            }
        }
    }

    /// Sends the answer to a batch whose entries are all answered.
    fn flush_batch(&mut self, batch: PendingBatch) {
        let answers: Vec<Bytes> = batch.slots.into_iter().flatten().collect();
        if answers.is_empty() {
            return;
        }
        let len = answers.iter().map(|a| a.len() + 1).sum::<usize>() + 1;
        let mut dst = BytesMut::with_capacity(len);
        dst.extend_from_slice(b"[");
        for (i, a) in answers.iter().enumerate() {
            if i > 0 {
                dst.extend_from_slice(b",");
            }
            dst.extend_from_slice(a);
        }
        dst.extend_from_slice(b"]");
        self.push(dst.freeze());
    }

    fn push(&mut self, message: Bytes) {
        self.queued_bytes += message.len();
        self.tx.push_back(message);
    }

    fn check_capacity(&self, requests: usize) -> Result<(), Error> {
        let max = self.config.max_pending_outgoing;
        if self.outgoing.len().saturating_add(requests) > max {
            return Err(Error::TooManyOutgoing { max });
        }
        // Ids run up to u64::MAX - 1 so `next_id` never overflows.
        let left = u64::MAX - self.next_id;
        if u64::try_from(requests).map_or(true, |n| n > left) {
            return Err(Error::IdsExhausted);
        }
        Ok(())
    }

    /// Takes the next id and records the request (capacity checked).
    fn register(&mut self, now: Instant, timeout: Option<Duration>) -> RequestId {
        let n = self.next_id;
        self.next_id += 1;
        let deadline = timeout
            .or(self.config.request_timeout)
            .and_then(|d| now.checked_add(d));
        self.outgoing.insert(n, deadline);
        if let Some(at) = deadline {
            self.deadlines.insert((at, n));
        }
        RequestId::from(n)
    }

    fn outgoing_key(&self, id: &RequestId) -> Result<u64, Error> {
        match id.as_u64() {
            Some(n) if self.outgoing.contains_key(&n) => Ok(n),
            _ => Err(Error::NotPending { id: id.clone() }),
        }
    }
}

/// Records the first error of a message.
trait Note {
    fn note(self, first: &mut Option<Error>);
}

impl Note for Error {
    fn note(self, first: &mut Option<Error>) {
        first.get_or_insert(self);
    }
}

fn check_params(params: Option<&RawJson>) -> Result<(), Error> {
    match params {
        Some(p) if !p.is_structured() => Err(Error::ParamsNotStructured),
        _ => Ok(()),
    }
}
