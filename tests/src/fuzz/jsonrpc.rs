//! The JSON-RPC [`Peer`], fed the input as a stream of messages.
//!
//! # Input layout
//!
//! The input is cut at every `\n` (the framing of MCP's stdio transport);
//! each piece, empty ones included, is one message handed to
//! [`Peer::handle_message`], half a second of virtual time after the one
//! before. Seeds are plain newline-delimited JSON.
//!
//! # What the harness does
//!
//! Before the first message the peer sends three requests of its own, so
//! that responses from the input have something to match: id 1 (deadline
//! 2 s), id 2 (cancelled at once, so its responses must be dropped) and id
//! 3 (no deadline). Every fifth message it sends another (deadline 1 s)
//! while it can. After each message it answers the requests it was given,
//! in turns: all of them, the oldest with an error, the oldest abandoned,
//! none.
//!
//! # What is checked
//!
//! * No panic. Every input shows: an answer, an event, an error, or a
//!   counted dropped response. An error returned is also reported as
//!   [`Event::Invalid`], and is a protocol or limit error.
//! * Every message the peer sends is valid JSON-RPC (checked with
//!   `serde_json` alone, and with the crate's own decoder): its own
//!   requests, and answers — one answer at most per input message, batches
//!   never empty, no raw line break.
//! * Correlation: a request is reported once while unanswered; a response
//!   is reported only for a request of ours still pending (never for the
//!   cancelled one, never twice); a timeout only once its deadline passed,
//!   and every passed deadline fires; answering twice is refused and sends
//!   nothing; every answer given goes out exactly once, in its own
//!   message or in its batch's, abandoned requests never.
//! * Limits: pending requests both ways stay within the configuration,
//!   ids delivered are no longer than `max_id_len`, `poll_timeout` is later
//!   than `now` after `handle_timeout`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;
use wirestate_jsonrpc::{
    Config, Decoded, ErrorObject, Event, Limits, Message, Peer, RawJson, RequestId, decode,
};
use wirestate_machine::{ClassifyError, ErrorKind};

const MAX_INCOMING: usize = 8;
const MAX_OUTGOING: usize = 4;
const MAX_MESSAGE: usize = 2048;
const MAX_BATCH: usize = 16;
const MAX_ID: usize = 64;
/// The code the harness answers with when it answers with an error.
const ANSWER_CODE: i64 = -32601;
/// Messages handled at most per input.
const MAX_MESSAGES: usize = 256;

/// The fuzz body: see the module documentation.
pub fn jsonrpc(data: &[u8]) {
    let mut h = Harness::new();
    for (i, message) in data.split(|&b| b == b'\n').take(MAX_MESSAGES).enumerate() {
        let now = h.t0 + Duration::from_millis(500) * u32::try_from(i).unwrap_or(u32::MAX);
        h.timeout(now);
        h.message(now, message);
        h.answer(i);
        if i % 5 == 4 && h.peer.can_send_request() {
            h.send(now, Some(Duration::from_secs(1)));
        }
        h.check_limits();
    }
    h.finish();
}

struct Harness {
    peer: Peer,
    t0: Instant,
    /// Our pending requests and their deadlines.
    outgoing: BTreeMap<u64, Option<Instant>>,
    /// The peer's requests we were given and have not answered, in order.
    incoming: Vec<RequestId>,
    /// Answers given per id, and answers seen on the wire per id.
    answered: BTreeMap<RequestId, usize>,
    seen: BTreeMap<RequestId, usize>,
}

impl Harness {
    fn new() -> Self {
        let mut config = Config::default();
        config.max_pending_incoming = MAX_INCOMING;
        config.max_pending_outgoing = MAX_OUTGOING;
        config.request_timeout = None;
        config.limits = {
            let mut l = Limits::default();
            l.max_message_size = MAX_MESSAGE;
            l.max_batch_len = MAX_BATCH;
            l.max_id_len = MAX_ID;
            l
        };
        let mut h = Self {
            peer: Peer::new(config),
            t0: Instant::now(),
            outgoing: BTreeMap::new(),
            incoming: Vec::new(),
            answered: BTreeMap::new(),
            seen: BTreeMap::new(),
        };
        let t0 = h.t0;
        h.send(t0, Some(Duration::from_secs(2)));
        let cancelled = h.send(t0, None);
        h.peer.cancel(&cancelled).expect("pending");
        h.outgoing.remove(&2);
        assert!(h.peer.cancel(&cancelled).is_err());
        h.send(t0, Some(Duration::MAX));
        h
    }

    /// Sends a request of ours and checks what went out.
    fn send(&mut self, now: Instant, timeout: Option<Duration>) -> RequestId {
        let params = RawJson::from_text(r#"{"_meta":{"progressToken":1}}"#).expect("JSON");
        let id = self
            .peer
            .send_request(now, "ours", Some(params), timeout)
            .expect("below the limit");
        let n = id.as_u64().expect("an integer id");
        assert!(
            self.outgoing.keys().all(|&k| k < n),
            "ids increase: {n} after {:?}",
            self.outgoing
        );
        let deadline = timeout.and_then(|d| now.checked_add(d));
        assert_eq!(self.peer.deadline(&id), deadline);
        self.outgoing.insert(n, deadline);
        let sent = self.peer.poll_message().expect("the request");
        match decode(sent.clone(), &Limits::default()) {
            Ok(Decoded::Single(Ok(Message::Request(r)))) => assert_eq!(r.id, id),
            other => panic!("sent {sent:?}, which decodes as {other:?}"),
        }
        id
    }

    fn timeout(&mut self, now: Instant) {
        self.peer.handle_timeout(now);
        if let Some(t) = self.peer.poll_timeout() {
            assert!(t > now, "poll_timeout {t:?} not after now {now:?}");
        }
        while let Some(e) = self.peer.poll_event() {
            let Event::TimedOut { request } = e else {
                panic!("{e:?} from handle_timeout");
            };
            let n = request.as_u64().expect("ours");
            let deadline = self
                .outgoing
                .remove(&n)
                .expect("timed out once, if pending");
            assert!(deadline.is_some_and(|d| d <= now), "{n} fired early");
        }
        assert!(
            self.outgoing.values().all(|d| d.is_none_or(|d| d > now)),
            "a passed deadline did not fire"
        );
    }

    fn message(&mut self, now: Instant, message: &[u8]) {
        let stats = self.peer.stats();
        let result = self.peer.handle_message(now, message);
        let mut events = Vec::new();
        while let Some(e) = self.peer.poll_event() {
            match &e {
                Event::Request(r) => {
                    assert!(!self.incoming.contains(&r.id), "{:?} delivered twice", r.id);
                    assert!(r.id.to_json().len() <= MAX_ID, "{:?} too long", r.id);
                    assert!(r.params.as_ref().is_none_or(RawJson::is_structured));
                    self.incoming.push(r.id.clone());
                }
                Event::Notification(n) => {
                    assert!(n.params.as_ref().is_none_or(RawJson::is_structured));
                }
                Event::Response { request, .. } | Event::ErrorResponse { request, .. } => {
                    let n = request.as_u64().expect("ours");
                    assert!(
                        self.outgoing.remove(&n).is_some(),
                        "a response for {n}, which is not pending"
                    );
                }
                Event::Invalid(err) => {
                    assert_ne!(err.kind(), ErrorKind::Usage, "{err}");
                    assert_eq!(ClassifyError::hint(err), err.hint());
                }
                Event::PeerError(_) => {}
                other => panic!("{other:?} from handle_message"),
            }
            events.push(e);
        }
        if let Err(e) = &result {
            assert!(
                events.contains(&Event::Invalid(e.clone())),
                "{e} not reported"
            );
            assert_ne!(e.kind(), ErrorKind::Usage);
        }
        let answers = self.drain();
        assert!(answers <= 1, "{answers} answers to one message");
        assert!(
            result.is_err() || !events.is_empty() || answers > 0 || self.peer.stats() != stats,
            "input went unnoticed: {:?}",
            String::from_utf8_lossy(message)
        );
    }

    /// Answers the requests given so far, by turns.
    fn answer(&mut self, turn: usize) {
        let ids: Vec<RequestId> = match turn % 4 {
            0 => std::mem::take(&mut self.incoming),
            3 => Vec::new(),
            _ if self.incoming.is_empty() => Vec::new(),
            _ => vec![self.incoming.remove(0)],
        };
        for id in ids {
            match turn % 4 {
                2 => self.peer.abandon(&id).expect("pending"),
                1 => {
                    self.peer
                        .respond_error(&id, ErrorObject::new(ANSWER_CODE, "no"))
                        .expect("pending");
                    *self.answered.entry(id.clone()).or_default() += 1;
                }
                _ => {
                    let result = RawJson::from_serialize(&id).expect("serializable");
                    self.peer.respond(&id, result).expect("pending");
                    *self.answered.entry(id.clone()).or_default() += 1;
                }
            }
            let queued = self.peer.queued_bytes();
            assert!(self.peer.respond(&id, RawJson::null()).is_err());
            assert!(self.peer.abandon(&id).is_err());
            assert_eq!(self.peer.queued_bytes(), queued);
        }
        self.drain();
    }

    /// Checks and counts every message sent; returns how many.
    fn drain(&mut self) -> usize {
        let mut count = 0;
        while let Some(m) = self.peer.poll_message() {
            count += 1;
            for (id, own) in check_answer(&m) {
                if own {
                    *self.seen.entry(id).or_default() += 1;
                }
            }
        }
        count
    }

    fn check_limits(&self) {
        assert_eq!(self.peer.pending_incoming(), self.incoming.len());
        assert!(self.peer.pending_incoming() <= MAX_INCOMING);
        assert_eq!(self.peer.pending_outgoing(), self.outgoing.len());
        assert!(self.peer.pending_outgoing() <= MAX_OUTGOING);
        for id in &self.incoming {
            assert!(self.peer.is_pending_incoming(id));
        }
        for &n in self.outgoing.keys() {
            assert!(self.peer.is_pending_outgoing(&RequestId::from(n)));
        }
    }

    fn finish(mut self) {
        for id in std::mem::take(&mut self.incoming) {
            self.peer.respond(&id, RawJson::null()).expect("pending");
            *self.answered.entry(id).or_default() += 1;
        }
        self.drain();
        assert_eq!(self.peer.pending_incoming(), 0);
        assert_eq!(
            self.answered, self.seen,
            "answers given and answers sent differ"
        );
        let left: Vec<u64> = self
            .peer
            .cancel_all()
            .iter()
            .map(|id| id.as_u64().expect("ours"))
            .collect();
        assert_eq!(left, self.outgoing.keys().copied().collect::<Vec<_>>());
        assert_eq!(self.peer.poll_timeout(), None);
    }
}

/// Checks that `m` is one answer or a batch of answers, with `serde_json`
/// alone and with the crate's decoder; returns the id of each entry and
/// whether it is one the harness gave (a result, or an error with
/// [`ANSWER_CODE`]).
fn check_answer(m: &Bytes) -> Vec<(RequestId, bool)> {
    assert!(!m.contains(&b'\n'), "a raw line break in {m:?}");
    let v: Value = serde_json::from_slice(m).unwrap_or_else(|e| panic!("{e}: {m:?}"));
    let entries = match v {
        Value::Array(a) => {
            assert!(!a.is_empty(), "an empty batch");
            a
        }
        single => vec![single],
    };
    for e in &entries {
        let o = e
            .as_object()
            .unwrap_or_else(|| panic!("not an object: {e}"));
        assert_eq!(o.get("jsonrpc"), Some(&Value::from("2.0")), "{e}");
        assert!(!o.contains_key("method"), "{e}");
        let id = o.get("id").unwrap_or_else(|| panic!("no id: {e}"));
        assert!(id.is_string() || id.is_number() || id.is_null(), "{e}");
        match (o.get("result"), o.get("error")) {
            (Some(_), None) => assert!(!id.is_null(), "{e}"),
            (None, Some(err)) => {
                assert!(err["code"].is_i64(), "{e}");
                assert!(err["message"].is_string(), "{e}");
            }
            _ => panic!("not exactly one of result and error: {e}"),
        }
    }
    let mut limits = Limits::default();
    limits.max_id_len = usize::MAX;
    let decoded = match decode(m.clone(), &limits) {
        Ok(Decoded::Single(entry)) => vec![entry],
        Ok(Decoded::Batch(entries)) => entries,
        Err(e) => panic!("{e}: {m:?}"),
    };
    decoded
        .into_iter()
        .filter_map(|entry| match entry {
            Ok(Message::Response(r)) => Some((r.id, true)),
            Ok(Message::ErrorResponse(r)) => {
                r.id.map(|id| (id, r.error.code.code() == ANSWER_CODE))
            }
            other => panic!("{other:?} in {m:?}"),
        })
        .collect()
}
