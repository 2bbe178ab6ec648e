//! The connection's defences against idle and slow peers, on a virtual
//! clock: the idle timeout (GOAWAY NO_ERROR with no stream open) and the
//! incomplete preface / frame / field block timeout (GOAWAY
//! ENHANCE_YOUR_CALM), each firing, each reset by traffic, and no busy
//! loop after a timer ran.

mod support;

use proptest::prelude::*;
use std::time::{Duration, Instant};
use support::*;
use wirestate_h2::connection::{Config, Connection, Error, Event};
use wirestate_h2::frame::{ErrorCode, Frame, Headers, PREFACE};
use wirestate_machine::Machine;
use wirestate_testkit::cuts;

const IDLE: Duration = Duration::from_secs(5);
const HEADER: Duration = Duration::from_secs(2);

fn config() -> Config {
    let mut c = Config::default();
    c.idle_timeout = Some(IDLE);
    c.header_block_timeout = Some(HEADER);
    c
}

/// Runs the due timers at `now` and checks the contract: the next
/// deadline is none or later (no busy loop).
fn fire(c: &mut Connection, now: Instant) {
    c.handle_timeout(now);
    assert!(
        c.poll_timeout().is_none_or(|t| t > now),
        "timer still due after handle_timeout"
    );
}

/// A server that got the client's preface, SETTINGS and ACK at `t0`.
fn settled(t0: Instant) -> (Connection, Reader) {
    let mut s = Connection::server(config());
    let mut p = Peer::client();
    p.settings_ack();
    s.handle_input(t0, &p.take()).unwrap();
    let mut r = Reader::new();
    r.read(&mut s);
    (s, r)
}

/// HEADERS of a GET on `stream` without END_HEADERS, the rest of its
/// block to come in CONTINUATION frames.
fn open_headers(p: &mut Peer, stream: u32) {
    let block = p.block(&[
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "example.com"),
        (":path", "/"),
    ]);
    let mut h = Headers::new(sid(stream), block, true);
    h.end_headers = false;
    p.frame(Frame::Headers(h));
}

#[test]
fn an_idle_server_connection_says_goaway_and_closes() {
    let t0 = Instant::now();
    let (mut s, mut r) = settled(t0);
    assert_eq!(s.poll_timeout(), Some(t0 + IDLE));
    fire(&mut s, t0 + IDLE - Duration::from_millis(1));
    assert!(s.is_open());
    fire(&mut s, t0 + IDLE);
    let out = r.read(&mut s);
    let g = out.goaway().expect("GOAWAY");
    assert_eq!(g.code, ErrorCode::NO_ERROR);
    assert_eq!(g.last_stream.get(), 0);
    assert_eq!(&g.debug[..], b"idle");
    assert!(out.shutdown);
    assert_eq!(out.errors(), 0, "closing an idle connection is no error");
    assert!(s.is_closed());
    assert_eq!(s.poll_timeout(), None);
}

/// Fires the timers as they come due until the connection winds down
/// (at most `max` times); when it did.
fn run_until_closed(c: &mut Connection, max: usize) -> Instant {
    for _ in 0..max {
        let due = c.poll_timeout().expect("a timer while open");
        fire(c, due);
        if !c.is_open() {
            return due;
        }
    }
    panic!("still open");
}

#[test]
fn pings_keep_no_idle_connection_open() {
    let t0 = Instant::now();
    let (mut s, mut r) = settled(t0);
    let mut p = Peer::new();
    p.ping([7; 8]);
    s.handle_input(t0 + Duration::from_secs(4), &p.take())
        .unwrap();
    let out = r.read(&mut s);
    assert!(
        out.frames
            .iter()
            .any(|f| matches!(f, Frame::Ping(p) if p.ack))
    );
    assert_eq!(s.poll_timeout(), Some(t0 + IDLE));
    fire(&mut s, t0 + IDLE);
    assert_eq!(r.read(&mut s).goaway_code(), Some(ErrorCode::NO_ERROR));
    assert!(s.is_closed());
}

#[test]
fn a_request_restarts_the_idle_count() {
    let t0 = Instant::now();
    let (mut s, mut r) = settled(t0);
    let t1 = t0 + Duration::from_secs(3);
    let mut p = Peer::new();
    p.get(1, "/");
    s.handle_input(t1, &p.take()).unwrap();
    assert_eq!(s.poll_timeout(), Some(t1 + IDLE));
    fire(&mut s, t0 + IDLE);
    assert!(s.is_open(), "the request restarted the count");
    // Answered at once: the response is traffic too (sent by a command,
    // which carries no time), so the timer looks once more before closing.
    s.send_response(sid(1), status(204), true).unwrap();
    r.read(&mut s);
    let closed = run_until_closed(&mut s, 3);
    assert!(closed >= t1 + IDLE && closed <= t1 + IDLE * 2);
    let out = r.read(&mut s);
    let g = out.goaway().expect("GOAWAY");
    assert_eq!((g.code, g.last_stream.get()), (ErrorCode::NO_ERROR, 1));
}

#[test]
fn an_open_stream_is_not_idle() {
    let t0 = Instant::now();
    let (mut s, mut r) = settled(t0);
    let mut p = Peer::new();
    p.post(1, &[]);
    s.handle_input(t0, &p.take()).unwrap();
    // Twenty idle periods of silence on an open upload (or a long-lived
    // gRPC stream): the connection stays.
    let mut now = t0;
    for _ in 0..20 {
        now = s.poll_timeout().expect("the idle timer looks again");
        fire(&mut s, now);
        assert!(s.is_open());
    }
    assert!(now >= t0 + IDLE * 20);
    // The upload ends, the response goes out: idle from then on.
    p.data(1, b"x", true);
    s.handle_input(now, &p.take()).unwrap();
    s.send_response(sid(1), status(200), true).unwrap();
    assert!(r.read(&mut s).goaway().is_none());
    let closed = run_until_closed(&mut s, 3);
    assert!(closed >= now + IDLE && closed <= now + IDLE * 2);
    assert_eq!(r.read(&mut s).goaway_code(), Some(ErrorCode::NO_ERROR));
}

#[test]
fn a_response_sent_without_input_counts_as_traffic() {
    // The stream ends by our send alone, long after the last input: the
    // timer that comes due next looks again rather than closing at once.
    let t0 = Instant::now();
    let (mut s, mut r) = settled(t0);
    let mut p = Peer::new();
    p.get(1, "/slow");
    s.handle_input(t0, &p.take()).unwrap();
    fire(&mut s, t0 + IDLE);
    assert_eq!(s.poll_timeout(), Some(t0 + IDLE * 2));
    // Sent just before the next look.
    s.send_response(sid(1), status(200), true).unwrap();
    r.read(&mut s);
    fire(&mut s, t0 + IDLE * 2);
    assert!(s.is_open(), "closed right after the response");
    assert_eq!(run_until_closed(&mut s, 2), t0 + IDLE * 3);
}

#[test]
fn an_unfinished_header_block_times_out() {
    let t0 = Instant::now();
    let (mut s, mut r) = settled(t0);
    let mut p = Peer::new();
    open_headers(&mut p, 1);
    s.handle_input(t0, &p.take()).unwrap();
    assert_eq!(s.poll_timeout(), Some(t0 + HEADER));
    // A CONTINUATION that still does not end the block does not push the
    // deadline back.
    p.continuation(1, bytes::Bytes::new(), false);
    s.handle_input(t0 + Duration::from_secs(1), &p.take())
        .unwrap();
    assert_eq!(s.poll_timeout(), Some(t0 + HEADER));
    fire(&mut s, t0 + HEADER);
    let out = r.read(&mut s);
    assert_eq!(out.goaway_code(), Some(ErrorCode::ENHANCE_YOUR_CALM));
    assert!(out.shutdown);
    assert!(matches!(
        out.events.last(),
        Some(Event::Error(Error::IncompleteTimeout("header block")))
    ));
    assert!(s.is_closed());
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn a_finished_header_block_clears_the_timer() {
    let t0 = Instant::now();
    let (mut s, mut r) = settled(t0);
    let mut p = Peer::new();
    open_headers(&mut p, 1);
    s.handle_input(t0, &p.take()).unwrap();
    p.continuation(1, bytes::Bytes::new(), true);
    s.handle_input(t0 + Duration::from_secs(1), &p.take())
        .unwrap();
    assert_eq!(r.read(&mut s).requests().len(), 1);
    fire(&mut s, t0 + HEADER * 2);
    assert!(s.is_open());
}

#[test]
fn a_frame_trickled_byte_by_byte_times_out() {
    let t0 = Instant::now();
    let (mut s, mut r) = settled(t0);
    let mut p = Peer::new();
    p.ping([1; 8]);
    let ping = p.take();
    // One byte every half second: 17 bytes would take 8 s.
    let mut now = t0;
    for b in &ping[..4] {
        s.handle_input(now, std::slice::from_ref(b)).unwrap();
        now += Duration::from_millis(500);
    }
    assert_eq!(s.poll_timeout(), Some(t0 + HEADER));
    fire(&mut s, t0 + HEADER);
    let out = r.read(&mut s);
    assert_eq!(out.goaway_code(), Some(ErrorCode::ENHANCE_YOUR_CALM));
    assert!(matches!(
        out.events.last(),
        Some(Event::Error(Error::IncompleteTimeout("frame")))
    ));
}

#[test]
fn incomplete_input_is_not_idle() {
    // Both timers due at once: the half frame is judged as such.
    let mut cfg = config();
    cfg.idle_timeout = Some(HEADER);
    let mut s = Connection::server(cfg);
    let t0 = Instant::now();
    let mut p = Peer::client();
    p.settings_ack();
    let mut input = p.take();
    input.extend_from_slice(b"\x00\x00\x10\x01");
    s.handle_input(t0, &input).unwrap();
    fire(&mut s, t0 + HEADER);
    assert!(matches!(s.error(), Some(Error::IncompleteTimeout("frame"))));
    // With the incomplete timer off, an open field block is not idle.
    let mut cfg = config();
    cfg.header_block_timeout = None;
    let mut s = Connection::server(cfg);
    let mut p = Peer::client();
    p.settings_ack();
    open_headers(&mut p, 1);
    s.handle_input(t0, &p.take()).unwrap();
    fire(&mut s, t0 + IDLE);
    assert!(s.is_open());
}

#[test]
fn a_data_payload_in_progress_restarts_the_clock() {
    let t0 = Instant::now();
    let (mut s, mut r) = settled(t0);
    let mut p = Peer::new();
    p.post(1, &[]).data(1, &[9; 1000], true);
    let bytes = p.take();
    let head = bytes.len() - 1000;
    s.handle_input(t0, &bytes[..head + 100]).unwrap();
    // 100 bytes a second: slower than the timeout in all, but moving.
    let mut now = t0;
    for i in 1..9 {
        now = t0 + Duration::from_secs(i);
        fire(&mut s, now);
        let at = head + 100 * (i as usize + 1);
        s.handle_input(now, &bytes[at - 100..at]).unwrap();
        assert!(s.is_open());
    }
    assert_eq!(s.poll_timeout(), Some(now + HEADER));
    // Then it stalls.
    fire(&mut s, now + HEADER);
    let out = r.read(&mut s);
    assert!(matches!(
        out.events.last(),
        Some(Event::Error(Error::IncompleteTimeout("DATA frame")))
    ));
}

#[test]
fn a_missing_or_partial_preface_times_out() {
    // Nothing at all: the timers run from the driver's start.
    let t0 = Instant::now();
    let mut s = Connection::server(config());
    s.start(t0);
    assert_eq!(s.poll_timeout(), Some(t0 + HEADER));
    fire(&mut s, t0 + HEADER);
    let out = Reader::new().read(&mut s);
    assert_eq!(out.goaway_code(), Some(ErrorCode::ENHANCE_YOUR_CALM));
    assert!(matches!(
        out.events.last(),
        Some(Event::Error(Error::IncompleteTimeout("connection preface")))
    ));
    // Half the preface, then the rest a second later, but no SETTINGS.
    let mut s = Connection::server(config());
    s.handle_input(t0, &PREFACE[..10]).unwrap();
    s.handle_input(t0 + Duration::from_secs(1), &PREFACE[10..])
        .unwrap();
    assert_eq!(s.poll_timeout(), Some(t0 + HEADER));
    fire(&mut s, t0 + HEADER);
    assert!(matches!(
        s.error(),
        Some(Error::IncompleteTimeout("connection preface"))
    ));
}

#[test]
fn a_client_closes_its_idle_connection_too() {
    let t0 = Instant::now();
    let mut c = Connection::client(config());
    let mut s = Connection::server(config());
    let id = c.send_request(get("https://example.com/"), true).unwrap();
    pump(&mut c, &mut s, t0, &mut |_, _| {}, &mut |s, e| {
        if let Event::Request { stream, .. } = e {
            s.send_response(stream, status(204), true).unwrap();
        }
    });
    assert_eq!(id.get(), 1);
    let due = c.poll_timeout().unwrap();
    assert_eq!(due, t0 + IDLE);
    // The client's timer is no later than the server's: it goes first.
    fire(&mut c, due);
    let out = Reader::new().read(&mut c);
    assert_eq!(out.goaway_code(), Some(ErrorCode::NO_ERROR));
    assert!(out.shutdown);
    assert!(c.is_closed());
}

#[test]
fn a_client_that_pings_while_idle_keeps_its_connection() {
    // gRPC's keepalive_permit_without_calls: the client asked to keep its
    // idle connection alive, so the idle timer must not close it.
    let t0 = Instant::now();
    let mut cfg = config();
    cfg.keepalive_interval = Some(Duration::from_secs(1));
    cfg.keepalive_while_idle = true;
    let mut c = Connection::client(cfg);
    let mut s = Connection::server(config());
    c.send_request(get("https://example.com/"), true).unwrap();
    pump(&mut c, &mut s, t0, &mut |_, _| {}, &mut |s, e| {
        if let Event::Request { stream, .. } = e {
            s.send_response(stream, status(204), true).unwrap();
        }
    });
    let mut now = t0;
    while now < t0 + IDLE * 3 {
        now += Duration::from_millis(500);
        fire(&mut c, now);
        // The server answers every keep-alive PING, as a live peer does.
        pump(&mut c, &mut s, now, &mut |_, _| {}, &mut |_, _| {});
        assert!(!c.is_closed(), "closed at {:?}", now - t0);
    }
}

#[test]
fn none_disables_both() {
    let mut cfg = Config::default();
    cfg.idle_timeout = None;
    cfg.header_block_timeout = None;
    let mut s = Connection::server(cfg);
    let t0 = Instant::now();
    let mut p = Peer::client();
    p.settings_ack();
    open_headers(&mut p, 1);
    s.handle_input(t0, &p.take()).unwrap();
    assert_eq!(s.poll_timeout(), None);
}

/// A client conversation that ends inside a field block.
fn stalled_script(seed: u8) -> Vec<u8> {
    let mut p = Peer::client();
    p.settings_ack().get(1, "/a").ping([seed; 8]);
    p.post(3, &[]).data(3, &vec![seed; 300], true);
    open_headers(&mut p, 5);
    p.take()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// However the input is cut (at one instant), the same deadline comes
    /// out, and the same GOAWAY and error when it passes.
    #[test]
    fn deadlines_are_split_invariant((input, cuts) in any::<u8>().prop_flat_map(|seed| {
        let input = stalled_script(seed);
        let len = input.len();
        (Just(input), cuts(len))
    })) {
        let t0 = Instant::now();
        let run = |cuts: &[usize]| {
            let mut s = Connection::server(config());
            let mut at = 0;
            for &c in cuts.iter().chain(std::iter::once(&input.len())) {
                s.handle_input(t0, &input[at..c]).unwrap();
                at = c;
            }
            let due = s.poll_timeout();
            if let Some(due) = due {
                s.handle_timeout(due);
            }
            let out = Reader::new().read(&mut s);
            (due, out.goaway().cloned(), s.error().cloned())
        };
        let whole = run(&[]);
        prop_assert_eq!(whole.0, Some(t0 + HEADER));
        prop_assert!(matches!(whole.2, Some(Error::IncompleteTimeout("header block"))));
        prop_assert_eq!(&run(&cuts), &whole);
        let every: Vec<usize> = (1..input.len()).collect();
        prop_assert_eq!(&run(&every), &whole);
    }
}
