//! Two peers wired together on a virtual clock: requests both ways,
//! batches, deadlines, cancellation, and the limits.

use std::time::Duration;

use serde_json::Value;
use wirestate_jsonrpc::{
    BatchEntry, Config, Error, ErrorCode, ErrorObject, Event, Peer, RawJson, RequestId,
};
use wirestate_testkit::VirtualClock;

const SEC: Duration = Duration::from_secs(1);

struct Wire {
    a: Peer,
    b: Peer,
    clock: VirtualClock,
}

impl Wire {
    fn new() -> Self {
        Self::with(Config::default(), Config::default())
    }

    fn with(a: Config, b: Config) -> Self {
        Self {
            a: Peer::new(a),
            b: Peer::new(b),
            clock: VirtualClock::new(),
        }
    }

    /// Moves every queued message across, both ways, until both are quiet.
    fn flush(&mut self) {
        let now = self.clock.now();
        loop {
            let mut moved = false;
            while let Some(m) = self.a.poll_message() {
                let _ = self.b.handle_message(now, &m);
                moved = true;
            }
            while let Some(m) = self.b.poll_message() {
                let _ = self.a.handle_message(now, &m);
                moved = true;
            }
            if !moved {
                return;
            }
        }
    }

    fn advance(&mut self, by: Duration) {
        let now = self.clock.advance(by);
        self.a.handle_timeout(now);
        self.b.handle_timeout(now);
        for p in [&self.a, &self.b] {
            assert!(p.poll_timeout().is_none_or(|t| t > now));
        }
    }
}

fn events(p: &mut Peer) -> Vec<Event> {
    std::iter::from_fn(|| p.poll_event()).collect()
}

fn raw(v: Value) -> RawJson {
    RawJson::from_serialize(&v).unwrap()
}

/// Answers every request with `[method, params]` (echo).
fn echo(p: &mut Peer) {
    for e in events(p) {
        if let Event::Request(r) = e {
            let params: Value = r.params().unwrap();
            p.respond(&r.id, raw(serde_json::json!([r.method, params])))
                .unwrap();
        }
    }
}

#[test]
fn requests_both_ways() {
    let mut w = Wire::new();
    let now = w.clock.now();
    let a1 =
        w.a.send_request(now, "ping", Some(raw(serde_json::json!({"n": 1}))), None)
            .unwrap();
    let b1 = w.b.send_request(now, "pong", None, None).unwrap();
    let a2 =
        w.a.send_request(now, "ping", Some(raw(serde_json::json!([2]))), None)
            .unwrap();
    assert_eq!(
        (a1.as_u64(), a2.as_u64(), b1.as_u64()),
        (Some(1), Some(2), Some(1))
    );
    w.a.send_notification("note", None).unwrap();
    w.flush();

    // Each side holds the other's requests, and ids 1 on both sides do not clash.
    assert_eq!((w.a.pending_incoming(), w.b.pending_incoming()), (1, 2));
    assert_eq!((w.a.pending_outgoing(), w.b.pending_outgoing()), (2, 1));
    let b_events = events(&mut w.b);
    assert!(
        matches!(&b_events[..], [Event::Request(_), Event::Request(_), Event::Notification(n)] if n.method == "note")
    );
    // Answer in reverse order.
    for e in b_events.iter().rev() {
        if let Event::Request(r) = e {
            w.b.respond(&r.id, raw(serde_json::json!(r.method)))
                .unwrap();
        }
    }
    echo(&mut w.a);
    w.flush();

    let a_events = events(&mut w.a);
    assert_eq!(
        a_events,
        vec![
            Event::Response {
                request: a2.clone(),
                result: raw(serde_json::json!("ping"))
            },
            Event::Response {
                request: a1,
                result: raw(serde_json::json!("ping"))
            },
        ]
    );
    assert_eq!(
        events(&mut w.b),
        vec![Event::Response {
            request: b1,
            result: raw(serde_json::json!(["pong", null]))
        }]
    );
    assert_eq!((w.a.pending_outgoing(), w.b.pending_outgoing()), (0, 0));
    assert_eq!((w.a.pending_incoming(), w.b.pending_incoming()), (0, 0));
    assert_eq!(w.a.poll_timeout(), None);
}

#[test]
fn error_responses_reach_their_request() {
    let mut w = Wire::new();
    let id = w.a.send_request(w.clock.now(), "nope", None, None).unwrap();
    w.flush();
    for e in events(&mut w.b) {
        if let Event::Request(r) = e {
            let error =
                ErrorObject::method_not_found().with_data(raw(serde_json::json!({"m": r.method})));
            w.b.respond_error(&r.id, error).unwrap();
        }
    }
    w.flush();
    let [Event::ErrorResponse { request, error }] = &events(&mut w.a)[..] else {
        panic!()
    };
    assert_eq!(request, &id);
    assert_eq!(error.code, ErrorCode::METHOD_NOT_FOUND);
    assert_eq!(
        error.decode_data::<Value>().unwrap().unwrap(),
        serde_json::json!({"m": "nope"})
    );
}

#[test]
fn batches_both_ways() {
    let mut w = Wire::new();
    let now = w.clock.now();
    let ids =
        w.a.send_batch(
            now,
            vec![
                BatchEntry::request("one", None),
                BatchEntry::notification("hello", Some(raw(serde_json::json!([7])))),
                BatchEntry::Request {
                    method: "two".into(),
                    params: Some(raw(serde_json::json!({"x": 2}))),
                    timeout: Some(3 * SEC),
                },
            ],
        )
        .unwrap();
    assert_eq!(ids, vec![Some(1u64.into()), None, Some(2u64.into())]);
    assert_eq!(w.a.deadline(&2u64.into()), Some(now + 3 * SEC));

    // One message on the wire, an array.
    let m = w.a.poll_message().unwrap();
    assert!(m.starts_with(b"[") && w.a.poll_message().is_none());
    w.b.handle_message(now, &m).unwrap();
    let requests: Vec<_> = events(&mut w.b)
        .into_iter()
        .filter_map(|e| match e {
            Event::Request(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(requests.len(), 2);
    // The answer waits for both requests.
    w.b.respond(&requests[1].id, raw(serde_json::json!(2)))
        .unwrap();
    assert_eq!(w.b.poll_message(), None);
    w.b.respond(&requests[0].id, raw(serde_json::json!(1)))
        .unwrap();
    let answer = w.b.poll_message().unwrap();
    assert_eq!(
        &answer[..],
        br#"[{"jsonrpc":"2.0","id":1,"result":1},{"jsonrpc":"2.0","id":2,"result":2}]"#
    );
    w.a.handle_message(now, &answer).unwrap();
    assert_eq!(
        events(&mut w.a),
        vec![
            Event::Response {
                request: 1u64.into(),
                result: raw(serde_json::json!(1))
            },
            Event::Response {
                request: 2u64.into(),
                result: raw(serde_json::json!(2))
            },
        ]
    );
    assert_eq!(w.a.poll_timeout(), None);
}

#[test]
fn batch_entries_abandoned_get_no_answer() {
    let mut w = Wire::new();
    let now = w.clock.now();
    w.a.send_batch(
        now,
        vec![
            BatchEntry::request("a", None),
            BatchEntry::request("b", None),
        ],
    )
    .unwrap();
    w.flush();
    let ids: Vec<RequestId> = events(&mut w.b)
        .into_iter()
        .filter_map(|e| match e {
            Event::Request(r) => Some(r.id),
            _ => None,
        })
        .collect();
    w.b.abandon(&ids[0]).unwrap();
    assert_eq!(
        w.b.abandon(&ids[0]),
        Err(Error::NotAnswerable { id: ids[0].clone() })
    );
    w.b.respond(&ids[1], RawJson::null()).unwrap();
    assert_eq!(
        &w.b.poll_message().unwrap()[..],
        br#"[{"jsonrpc":"2.0","id":2,"result":null}]"#
    );

    // All abandoned: nothing is sent.
    w.a.send_batch(now, vec![BatchEntry::request("c", None)])
        .unwrap();
    w.flush();
    for e in events(&mut w.b) {
        if let Event::Request(r) = e {
            w.b.abandon(&r.id).unwrap();
        }
    }
    assert_eq!(w.b.poll_message(), None);
    assert_eq!(w.b.pending_incoming(), 0);
}

#[test]
fn timeouts_on_a_virtual_clock() {
    let mut w = Wire::new();
    let t0 = w.clock.now();
    let short = w.a.send_request(t0, "slow", None, Some(5 * SEC)).unwrap();
    let default = w.a.send_request(t0, "slow", None, None).unwrap();
    let never =
        w.a.send_request(t0, "slow", None, Some(Duration::MAX))
            .unwrap();
    assert_eq!(w.a.deadline(&default), Some(t0 + 60 * SEC));
    assert_eq!(w.a.deadline(&never), None);
    assert_eq!(w.a.poll_timeout(), Some(t0 + 5 * SEC));
    w.flush();

    w.advance(4 * SEC);
    assert!(events(&mut w.a).is_empty());
    w.advance(SEC);
    assert_eq!(
        events(&mut w.a),
        vec![Event::TimedOut {
            request: short.clone()
        }]
    );
    assert_eq!(w.a.poll_timeout(), Some(t0 + 60 * SEC));
    assert!(!w.a.is_pending_outgoing(&short));

    // The late answer is dropped and counted, never delivered.
    echo(&mut w.b);
    w.flush();
    let delivered = events(&mut w.a);
    assert_eq!(delivered.len(), 2, "{delivered:?}");
    assert!(
        delivered
            .iter()
            .all(|e| !matches!(e, Event::Response { request, .. } if *request == short))
    );
    assert_eq!(w.a.stats().late_responses, 1);
    assert_eq!(w.a.stats().timed_out, 1);
    assert_eq!(w.a.poll_timeout(), None);
}

#[test]
fn cancel_then_late_response_is_dropped() {
    let mut w = Wire::new();
    let now = w.clock.now();
    let id = w.a.send_request(now, "work", None, Some(10 * SEC)).unwrap();
    let other = w.a.send_request(now, "work", None, Some(10 * SEC)).unwrap();
    w.flush();
    w.a.cancel(&id).unwrap();
    assert_eq!(w.a.cancel(&id), Err(Error::NotPending { id: id.clone() }));
    assert_eq!(
        w.a.extend_timeout(&id, now),
        Err(Error::NotPending { id: id.clone() })
    );
    assert_eq!(w.a.poll_timeout(), Some(now + 10 * SEC));
    echo(&mut w.b);
    w.flush();
    let delivered = events(&mut w.a);
    assert!(matches!(&delivered[..], [Event::Response { request, .. }] if *request == other));
    assert_eq!(w.a.stats().late_responses, 1);
    assert_eq!(w.a.stats().unknown_responses, 0);
    // Nothing fires for the cancelled request.
    w.advance(20 * SEC);
    assert!(events(&mut w.a).is_empty());
}

#[test]
fn extend_timeout_moves_the_deadline() {
    let mut w = Wire::new();
    let t0 = w.clock.now();
    let id = w.a.send_request(t0, "long", None, Some(5 * SEC)).unwrap();
    w.advance(3 * SEC);
    // A progress notification arrives: push the deadline out.
    w.a.extend_timeout(&id, t0 + 10 * SEC).unwrap();
    assert_eq!(w.a.poll_timeout(), Some(t0 + 10 * SEC));
    w.advance(2 * SEC);
    assert!(events(&mut w.a).is_empty());
    w.advance(4 * SEC);
    assert!(events(&mut w.a).is_empty());
    // Pulled in to a deadline that has passed: fires on the next call.
    w.a.extend_timeout(&id, t0).unwrap();
    assert_eq!(w.a.poll_timeout(), Some(t0));
    w.advance(Duration::ZERO);
    assert_eq!(events(&mut w.a), vec![Event::TimedOut { request: id }]);
    assert_eq!(w.a.poll_timeout(), None);
}

#[test]
fn thousands_of_deadlines() {
    let mut config = Config::default();
    config.max_pending_outgoing = 20_000;
    let mut a = Peer::new(config);
    let mut clock = VirtualClock::new();
    let t0 = clock.now();
    // Deadlines 1..=1000 ms, ten requests each, sent in scrambled order.
    let mut expected = Vec::new();
    for i in 0..10_000u64 {
        let ms = (i * 7919) % 1000 + 1;
        let id = a
            .send_request(t0, "x", None, Some(Duration::from_millis(ms)))
            .unwrap();
        expected.push((ms, id));
    }
    while a.poll_message().is_some() {}
    expected.sort_by_key(|(ms, id)| (*ms, id.as_u64()));
    let mut fired = Vec::new();
    while let Some(at) = a.poll_timeout() {
        let now = clock.advance_to(at + Duration::from_micros(300));
        a.handle_timeout(now);
        assert!(a.poll_timeout().is_none_or(|t| t > now));
        fired.extend(std::iter::from_fn(|| a.poll_event()).map(|e| match e {
            Event::TimedOut { request } => request,
            other => panic!("{other:?}"),
        }));
    }
    let expected: Vec<RequestId> = expected.into_iter().map(|(_, id)| id).collect();
    assert_eq!(fired, expected);
    assert_eq!(a.pending_outgoing(), 0);
    assert_eq!(a.stats().timed_out, 10_000);
}

#[test]
fn answering_twice_or_unknown_ids_is_a_usage_error() {
    let mut w = Wire::new();
    w.a.send_request(w.clock.now(), "m", None, None).unwrap();
    w.flush();
    let [Event::Request(r)] = &events(&mut w.b)[..] else {
        panic!()
    };
    w.b.respond(&r.id, RawJson::null()).unwrap();
    let queued = w.b.queued_bytes();
    let err = w.b.respond(&r.id, RawJson::null()).unwrap_err();
    assert_eq!(err, Error::NotAnswerable { id: r.id.clone() });
    assert_eq!(err.kind(), wirestate_machine::ErrorKind::Usage);
    assert_eq!(
        w.b.respond_error(&"zzz".into(), ErrorObject::internal_error()),
        Err(Error::NotAnswerable { id: "zzz".into() })
    );
    assert_eq!(w.b.queued_bytes(), queued);
    assert_eq!(
        w.a.send_request(w.clock.now(), "m", Some(RawJson::null()), None),
        Err(Error::ParamsNotStructured)
    );
    assert_eq!(
        w.a.send_notification("m", Some(raw(serde_json::json!(1)))),
        Err(Error::ParamsNotStructured)
    );
    assert_eq!(
        w.a.send_batch(w.clock.now(), vec![]),
        Err(Error::NothingToSend)
    );
    assert_eq!(w.a.pending_outgoing(), 1);
}

#[test]
fn duplicate_incoming_ids_are_refused_while_pending() {
    let mut b = Peer::default();
    let now = VirtualClock::new().now();
    let request = br#"{"jsonrpc":"2.0","id":"x","method":"m"}"#;
    b.handle_message(now, request).unwrap();
    assert_eq!(
        b.handle_message(now, request),
        Err(Error::DuplicateId { id: "x".into() })
    );
    assert_eq!(
        &b.poll_message().unwrap()[..],
        br#"{"jsonrpc":"2.0","id":"x","error":{"code":-32600,"message":"Invalid Request"}}"#
    );
    let ev = events(&mut b);
    assert!(matches!(
        &ev[..],
        [Event::Request(_), Event::Invalid(Error::DuplicateId { .. })]
    ));
    // The first request is still pending; once answered, the id is free again.
    b.respond(&"x".into(), RawJson::null()).unwrap();
    b.handle_message(now, request).unwrap();
    assert!(matches!(&events(&mut b)[..], [Event::Request(_)]));
}

#[test]
fn responses_to_unknown_ids_are_reported() {
    let mut a = Peer::default();
    let now = VirtualClock::new().now();
    for (m, id) in [
        (
            &br#"{"jsonrpc":"2.0","id":1,"result":1}"#[..],
            RequestId::from(1u64),
        ),
        (br#"{"jsonrpc":"2.0","id":"1","result":1}"#, "1".into()),
        (
            br#"{"jsonrpc":"2.0","id":-1,"error":{"code":1,"message":"m"}}"#,
            RequestId::from(-1i64),
        ),
    ] {
        assert_eq!(
            a.handle_message(now, m),
            Err(Error::UnknownResponse { id: id.clone() })
        );
        assert_eq!(
            events(&mut a),
            vec![Event::Invalid(Error::UnknownResponse { id })]
        );
    }
    assert_eq!(a.poll_message(), None, "responses are never answered");
    assert_eq!(a.stats().unknown_responses, 3);
}

#[test]
fn peer_errors_without_an_id() {
    let mut w = Wire::new();
    let now = w.clock.now();
    w.b.handle_message(now, b"{oops").unwrap_err();
    let reply = w.b.poll_message().unwrap();
    w.a.handle_message(now, &reply).unwrap();
    assert_eq!(
        events(&mut w.a),
        vec![Event::PeerError(ErrorObject::parse_error())]
    );
    // Malformed responses are reported, not answered.
    let bad = br#"{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":""}}"#;
    assert!(matches!(
        w.a.handle_message(now, bad),
        Err(Error::InvalidResponse { .. })
    ));
    assert_eq!(w.a.poll_message(), None);
}

#[test]
fn limits_are_answered() {
    let mut config = Config::default();
    config.max_pending_incoming = 2;
    config.max_pending_outgoing = 2;
    config.limits.max_message_size = 200;
    config.limits.max_batch_len = 3;
    let mut p = Peer::new(config.clone());
    let now = VirtualClock::new().now();

    // Too many incoming: the third is answered -32009 at once.
    for id in 1..=3 {
        let m = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"m"}}"#);
        let r = p.handle_message(now, m.as_bytes());
        if id < 3 {
            r.unwrap();
        } else {
            assert_eq!(
                r,
                Err(Error::TooManyIncoming {
                    id: 3u64.into(),
                    max: 2
                })
            );
        }
    }
    let answer: Value = serde_json::from_slice(&p.poll_message().unwrap()).unwrap();
    assert_eq!(answer["id"], 3);
    assert_eq!(answer["error"]["code"], ErrorCode::SERVER_BUSY.code());
    assert_eq!(p.pending_incoming(), 2);

    // Too many outgoing.
    p.send_request(now, "a", None, None).unwrap();
    assert!(p.can_send_request());
    p.send_request(now, "b", None, None).unwrap();
    assert!(!p.can_send_request());
    assert_eq!(
        p.send_request(now, "c", None, None),
        Err(Error::TooManyOutgoing { max: 2 })
    );
    assert_eq!(
        p.send_batch(now, vec![BatchEntry::request("c", None)]),
        Err(Error::TooManyOutgoing { max: 2 })
    );
    while p.poll_message().is_some() {}

    // Too large, too long a batch, batches off.
    let big = format!(
        r#"{{"jsonrpc":"2.0","method":"m","params":["{}"]}}"#,
        "x".repeat(200)
    );
    assert_eq!(
        p.handle_message(now, big.as_bytes()),
        Err(Error::MessageTooLarge {
            len: big.len(),
            max: 200
        })
    );
    assert_eq!(
        &p.poll_message().unwrap()[..],
        br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32007,"message":"Message too large"}}"#
    );
    assert_eq!(
        p.handle_message(now, b"[1,2,3,4]"),
        Err(Error::BatchTooLarge { len: 4, max: 3 })
    );
    assert_eq!(
        &p.poll_message().unwrap()[..],
        br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32010,"message":"Batch too large"}}"#
    );
    let mut no_batches = config.clone();
    no_batches.limits.allow_batches = false;
    let mut q = Peer::new(no_batches);
    assert_eq!(q.handle_message(now, b"[1]"), Err(Error::BatchNotAllowed));
    assert_eq!(
        &q.poll_message().unwrap()[..],
        br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request"}}"#
    );
    // Turned off later (a protocol that learns it by negotiating), and
    // also for a message the caller decoded with batches allowed.
    let mut r = Peer::new(config);
    let batch = br#"[{"jsonrpc":"2.0","id":1,"method":"a"}]"#;
    r.set_allow_batches(false);
    let decoded = wirestate_jsonrpc::decode(
        bytes::Bytes::from_static(batch),
        &wirestate_jsonrpc::Limits::default(),
    )
    .unwrap();
    assert_eq!(r.handle_decoded(now, decoded), Err(Error::BatchNotAllowed));
    assert_eq!(
        &r.poll_message().unwrap()[..],
        br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request"}}"#
    );
    assert!(
        r.poll_event()
            .is_some_and(|e| matches!(e, Event::Invalid(Error::BatchNotAllowed)))
    );
    assert!(r.poll_event().is_none(), "no request was taken");
    r.set_allow_batches(true);
    assert_eq!(r.handle_message(now, batch), Ok(()));
}

#[test]
fn batch_limit_on_pending_incoming_fills_its_slot() {
    let mut config = Config::default();
    config.max_pending_incoming = 1;
    let mut p = Peer::new(config);
    let now = VirtualClock::new().now();
    let batch = br#"[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","id":2,"method":"b"},{"jsonrpc":"2.0","id":1,"method":"c"}]"#;
    assert_eq!(
        p.handle_message(now, batch),
        Err(Error::TooManyIncoming {
            id: 2u64.into(),
            max: 1
        })
    );
    assert_eq!(p.poll_message(), None);
    p.respond(&1u64.into(), RawJson::from_serialize(&"ok").unwrap())
        .unwrap();
    let answer: Value = serde_json::from_slice(&p.poll_message().unwrap()).unwrap();
    assert_eq!(
        answer,
        serde_json::json!([
            {"jsonrpc":"2.0","id":1,"result":"ok"},
            {"jsonrpc":"2.0","id":2,"error":{"code":-32009,"message":"Server is busy, try again later"}},
            {"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":"Invalid Request"}},
        ])
    );
}

#[test]
fn cancel_all_and_back_pressure() {
    let mut config = Config::default();
    config.write_high_water = 100;
    let mut p = Peer::new(config);
    let now = VirtualClock::new().now();
    let ids: Vec<_> = (0..3)
        .map(|_| p.send_request(now, "method-name", None, None).unwrap())
        .collect();
    assert!(!p.wants_message());
    assert_eq!(p.cancel_all(), ids);
    assert_eq!((p.pending_outgoing(), p.poll_timeout()), (0, None));
    while p.poll_message().is_some() {}
    assert!(p.wants_message());
    assert_eq!(p.queued_bytes(), 0);
}

#[test]
fn time_never_runs_backwards() {
    let mut p = Peer::default();
    let mut clock = VirtualClock::new();
    let t0 = clock.now();
    let later = clock.advance(10 * SEC);
    p.handle_timeout(later);
    // A request sent "at t0" after time reached t0 + 10 s is timed from then.
    let id = p.send_request(t0, "m", None, Some(SEC)).unwrap();
    assert_eq!(p.deadline(&id), Some(later + SEC));
}
