//! The client side of Streamable HTTP: an SSE answer decodes to the same
//! messages, last event id and reconnection delay however its body is cut
//! into chunks, and across the connections of a resumed answer.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use wirestate_codec::{SseEvent, encode_comment, encode_event};
use wirestate_jsonrpc::RequestId;
use wirestate_mcp::ClientConfig;
use wirestate_mcp::http::client::SseAnswer;

/// What an SSE answer made of one body: its messages (`Err` for an event
/// that broke a limit, as text), then the resumption decision.
fn read(body: &[u8], cuts: &[usize]) -> (Vec<Result<Bytes, String>>, String, Option<Duration>) {
    let mut sse = SseAnswer::new(&ClientConfig::default());
    let mut out = Vec::new();
    let mut start = 0;
    for end in cuts.iter().copied().chain([body.len()]) {
        if end <= start || end > body.len() {
            continue;
        }
        sse.push(&body[start..end]);
        start = end;
        while let Some(m) = sse.next_message() {
            out.push(m.map_err(|e| e.to_string()));
        }
    }
    while let Some(m) = sse.finish() {
        out.push(m.map_err(|e| e.to_string()));
    }
    let resume = sse.resume(&RequestId::from(1)).ok().flatten();
    (out, sse.last_event_id().to_owned(), resume)
}

fn event() -> impl Strategy<Value = SseEvent> {
    (
        prop::option::of("[a-z0-9-]{0,6}"),
        prop::option::of(prop_oneof![Just("message".to_owned()), "[a-z]{1,6}"]),
        prop::option::of(0u64..100_000),
        prop_oneof![
            Just(String::new()),
            r#"\{"jsonrpc":"2.0","id":[0-9]{1,3},"result":\{\}\}"#,
            "(?s).{0,24}",
        ],
    )
        .prop_map(|(id, event, retry, data)| SseEvent {
            id,
            event,
            data,
            retry,
        })
}

/// A body of events and comments, some of it possibly cut off at the end
/// (a connection that dropped mid-event).
fn body() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec((event(), prop::option::of("[ -~]{0,8}")), 0..10),
        any::<prop::sample::Index>(),
        any::<bool>(),
    )
        .prop_map(|(events, cut, truncate)| {
            let mut wire = BytesMut::new();
            for (ev, comment) in &events {
                if let Some(c) = comment {
                    encode_comment(c, &mut wire);
                }
                encode_event(ev, &mut wire).expect("encodable");
            }
            let mut wire = wire.to_vec();
            if truncate && !wire.is_empty() {
                wire.truncate(cut.index(wire.len()));
            }
            wire
        })
}

fn with_cuts() -> impl Strategy<Value = (Vec<u8>, Vec<usize>)> {
    body().prop_flat_map(|input| {
        let len = input.len();
        let cuts = prop::collection::btree_set(1..len.max(2), 0..=len.min(32))
            .prop_map(|s| s.into_iter().collect::<Vec<_>>());
        (Just(input), cuts)
    })
}

proptest! {
    #[test]
    fn split_invariance((body, cuts) in with_cuts()) {
        let whole = read(&body, &[]);
        let every: Vec<usize> = (1..body.len()).collect();
        prop_assert_eq!(&read(&body, &every), &whole, "byte by byte");
        prop_assert_eq!(&read(&body, &cuts), &whole, "cut at {:?}", cuts);
    }
}

#[test]
fn a_resumed_answer_reads_each_connection_afresh() {
    let config = ClientConfig::default();
    let id = RequestId::from(3);
    let mut sse = SseAnswer::new(&config);
    // The first connection ends inside an event: it is discarded, not
    // glued to the next connection's first bytes.
    sse.push(b"id: s-1\nretry: 250\ndata:\n\nid: s-2\ndata: {\"partial\"");
    assert_eq!(sse.next_message(), None);
    assert_eq!(sse.finish(), None);
    assert_eq!(sse.resume(&id), Ok(Some(Duration::from_millis(250))));
    assert_eq!(sse.last_event_id(), "s-1");
    sse.push(b"data: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}\n\n");
    assert_eq!(
        sse.next_message(),
        Some(Ok(Bytes::from_static(
            b"{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}"
        )))
    );
    // No new id and no new retry: the old ones stay, and this resumption
    // counts against the bound.
    assert_eq!(sse.resume(&id), Ok(Some(Duration::from_millis(250))));
    assert_eq!(sse.last_event_id(), "s-1");
}

#[test]
fn the_standalone_stream_reconnects_without_a_bound() {
    let config = ClientConfig::default();
    let mut sse = SseAnswer::new(&config);
    assert_eq!(sse.retry(), config.sse_retry);
    for _ in 0..(config.sse_max_resumes + 3) {
        sse.reconnect();
    }
    sse.push(b"id: g-9\nretry: 10\n\n");
    assert_eq!(sse.next_message(), None);
    sse.reconnect();
    assert_eq!(sse.last_event_id(), "g-9");
    assert_eq!(sse.retry(), Duration::from_millis(10));
}
