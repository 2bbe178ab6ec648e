//! Flow-control windows: the rules of RFC 9113 §6.9, and properties over
//! random sequences of data, releases and updates.

use proptest::prelude::*;
use wirestate_h2::flow::{FlowError, MAX_WINDOW, RecvWindow, SendWindow};

#[test]
fn send_window_grants_at_most_what_is_available() {
    let mut w = SendWindow::new(65_535);
    assert_eq!(w.take(100_000), 65_535);
    assert_eq!(w.available(), 0);
    assert_eq!(w.take(1), 0);
    w.on_window_update(10).unwrap();
    assert_eq!(w.take(4), 4);
    assert_eq!(w.available(), 6);
}

#[test]
fn send_window_overflow_is_a_flow_control_error() {
    let mut w = SendWindow::new(MAX_WINDOW);
    assert!(matches!(
        w.on_window_update(1),
        Err(FlowError::Overflow { .. })
    ));
    assert_eq!(w.available(), MAX_WINDOW, "nothing changed");
    let mut w = SendWindow::new(65_535);
    assert!(w.on_initial_change(65_535, MAX_WINDOW).is_ok());
    assert!(w.on_window_update(1).is_err());
}

#[test]
fn lowered_initial_window_can_go_negative() {
    // §6.9.2: the sender must track a negative window and wait for
    // WINDOW_UPDATE frames to make it positive.
    let mut w = SendWindow::new(65_535);
    assert_eq!(w.take(60_000), 60_000);
    w.on_initial_change(65_535, 16_384).unwrap();
    assert_eq!(w.get(), 5_535 - 49_151);
    assert_eq!(w.available(), 0);
    w.on_window_update(43_616).unwrap();
    assert_eq!(w.available(), 0, "exactly back to zero");
    w.on_window_update(1).unwrap();
    assert_eq!(w.available(), 1);
}

#[test]
fn receiving_beyond_the_window_is_refused_without_change() {
    let mut w = RecvWindow::new(100, 100);
    w.on_data(60).unwrap();
    assert_eq!(
        w.on_data(41),
        Err(FlowError::Exceeded {
            len: 41,
            available: 40
        })
    );
    assert_eq!(w.get(), 40);
    assert_eq!(w.held(), 60);
    w.on_data(40).unwrap();
    assert_eq!(w.get(), 0);
}

#[test]
fn credit_goes_back_only_as_the_application_releases() {
    let mut w = RecvWindow::new(65_535, 65_535);
    w.on_data(65_535).unwrap();
    assert_eq!(w.poll_update(), None, "all of it still held");
    w.release(10_000).unwrap();
    // The peer is stalled (window 0 < half): any credit goes at once.
    assert_eq!(w.poll_update(), Some(10_000));
    w.release(1_000).unwrap();
    assert_eq!(
        w.poll_update(),
        None,
        "under half, but less than a sixteenth of the target: batched"
    );
    w.release(3_096).unwrap();
    assert_eq!(w.poll_update(), Some(4_096), "a sixteenth: sent");
    assert!(w.release(60_000).is_err(), "more than held");
    assert_eq!(w.held(), 51_439);
}

#[test]
fn small_releases_are_batched() {
    let mut w = RecvWindow::new(65_535, 65_535);
    for _ in 0..10 {
        w.on_data(1_000).unwrap();
        w.release(1_000).unwrap();
        assert_eq!(w.poll_update(), None, "window still above half");
    }
    for _ in 0..30 {
        w.on_data(1_000).unwrap();
        w.release(1_000).unwrap();
    }
    assert_eq!(w.poll_update(), Some(40_000));
    assert_eq!(w.get(), 65_535);
}

#[test]
fn a_larger_connection_target_is_announced_first() {
    let mut w = RecvWindow::new(65_535, 1 << 20);
    assert_eq!(w.poll_update(), Some((1 << 20) - 65_535));
    assert_eq!(w.get(), 1 << 20);
    assert_eq!(w.poll_update(), None);
    // A smaller target waits for the peer to use up the difference.
    w.set_target(65_535);
    w.on_data(1 << 19).unwrap();
    w.release(1 << 19).unwrap();
    assert_eq!(w.poll_update(), None);
    w.on_data((1 << 19) - 10_000).unwrap();
    w.release((1 << 19) - 10_000).unwrap();
    assert_eq!(w.poll_update(), Some(55_535), "topped up to the new target");
}

#[test]
fn our_initial_window_change_moves_stream_windows() {
    let mut w = RecvWindow::new(65_535, 65_535);
    w.on_data(30_000).unwrap();
    w.on_initial_change(65_535, 1 << 20);
    assert_eq!(w.get(), 35_535 + (1 << 20) - 65_535);
    assert_eq!(w.target(), 1 << 20);
    w.release(30_000).unwrap();
    assert_eq!(w.due(), 30_000);
    assert_eq!(w.poll_update(), None, "batched: under half the new target");
}

#[derive(Debug, Clone)]
enum Op {
    Data(u32),
    Release(u32),
    Update,
    Target(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u32..70_000).prop_map(Op::Data),
        (0u32..70_000).prop_map(Op::Release),
        Just(Op::Update),
        (0u32..(2 << 20)).prop_map(Op::Target),
    ]
}

proptest! {
    /// A peer that sends exactly what the window allows never trips
    /// FLOW_CONTROL_ERROR; the window never exceeds the largest target
    /// seen; held data never exceeds what was received; a reader that
    /// releases everything always unblocks the sender.
    #[test]
    fn recv_window_invariants(initial in 0u32..(1 << 20), target in 0u32..(2 << 20), ops in proptest::collection::vec(op(), 0..200)) {
        let mut w = RecvWindow::new(initial, target);
        // The peer's view of its send window.
        let mut peer = i64::from(initial);
        let mut received: u64 = 0;
        let mut released: u64 = 0;
        let mut ceiling = i64::from(initial.max(target));
        for op in ops {
            match op {
                Op::Data(n) => {
                    let ok = w.on_data(n).is_ok();
                    prop_assert_eq!(ok, i64::from(n) <= peer);
                    if ok { peer -= i64::from(n); received += u64::from(n); }
                }
                Op::Release(n) => {
                    let ok = w.release(n).is_ok();
                    prop_assert_eq!(ok, u64::from(n) <= received - released);
                    if ok { released += u64::from(n); }
                }
                Op::Update => {
                    if let Some(inc) = w.poll_update() {
                        prop_assert!(inc > 0);
                        peer += i64::from(inc);
                    }
                }
                Op::Target(t) => { w.set_target(t); ceiling = ceiling.max(i64::from(t)); }
            }
            prop_assert_eq!(w.get(), peer, "our view and the peer's agree");
            prop_assert!(peer <= ceiling);
            prop_assert!(peer <= i64::from(MAX_WINDOW));
            prop_assert_eq!(u64::from(w.held()), received - released);
        }
        // Release everything: the peer gets its window back up to target.
        let held = w.held();
        w.release(held).unwrap();
        if let Some(inc) = w.poll_update() { peer += i64::from(inc); }
        prop_assert!(peer >= i64::from(w.target()) || peer >= i64::from(w.target() / 2) || w.due() <= 0);
        prop_assert!(w.due() <= 0 || peer >= i64::from(w.target() / 2));
    }

    /// `take` never grants more than the window, which never goes above
    /// 2^31 - 1 whatever updates arrive.
    #[test]
    fn send_window_invariants(initial in 0u32..=MAX_WINDOW, ops in proptest::collection::vec((any::<bool>(), 0u32..=MAX_WINDOW), 0..100)) {
        let mut w = SendWindow::new(initial);
        for (take, n) in ops {
            let before = w.get();
            if take {
                let got = w.take(n as usize);
                prop_assert!(got as i64 <= before.max(0));
                prop_assert_eq!(w.get(), before - got as i64);
            } else {
                let r = w.on_window_update(n);
                prop_assert_eq!(r.is_ok(), before + i64::from(n) <= i64::from(MAX_WINDOW));
                if r.is_err() { prop_assert_eq!(w.get(), before); }
            }
            prop_assert!(w.get() <= i64::from(MAX_WINDOW));
        }
    }
}
