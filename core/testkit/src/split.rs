//! Split invariance: the same input, chunked differently, must give the same
//! events, the same output bytes and the same error, reported while the same
//! byte is being fed.

use proptest::prelude::*;
use std::fmt::Debug;
use std::ops::Range;
use std::time::Instant;
use wirestate_machine::{Machine, Transmit};

/// Everything a machine produced for one way of chunking an input.
#[derive(Debug, Clone)]
pub struct Transcript<N, Er> {
    /// Events, after normalisation (for example adjacent body data merged).
    pub events: Vec<N>,
    /// Every byte the machine transmitted, in order.
    pub output: Vec<u8>,
    /// Where in `output` a `Transmit::Shutdown` came, if one did.
    pub shutdown_at: Option<usize>,
    /// The error `handle_input`/`handle_eof` returned, and the input range of
    /// the call that returned it (`len..len` for `handle_eof`).
    pub error: Option<(Er, Range<usize>)>,
    /// Whether the machine reported itself closed at the end.
    pub closed: bool,
}

/// Feeds `input` to `machine` in the pieces given by `cuts` (sorted offsets
/// strictly inside the input), then EOF if `eof`. After every input the
/// events and transmits are drained; `react` sees each event first and may
/// issue commands (respond to a request, for example). Feeding stops at the
/// first error, as an adapter would stop reading.
pub fn feed<M, N>(
    mut machine: M,
    now: Instant,
    input: &[u8],
    cuts: &[usize],
    eof: bool,
    react: &mut dyn FnMut(&mut M, &M::Event),
    normalize: &dyn Fn(Vec<M::Event>) -> Vec<N>,
) -> Transcript<N, M::Error>
where
    M: Machine,
{
    let mut events = Vec::new();
    let mut output = Vec::new();
    let mut shutdown_at = None;
    let mut error = None;
    let mut drain = |m: &mut M, events: &mut Vec<M::Event>, output: &mut Vec<u8>| loop {
        let mut progressed = false;
        while let Some(ev) = m.poll_event() {
            react(m, &ev);
            events.push(ev);
            progressed = true;
        }
        while let Some(t) = m.poll_transmit() {
            match t {
                Transmit::Bytes(b) => output.extend_from_slice(&b),
                Transmit::Shutdown => {
                    shutdown_at.get_or_insert(output.len());
                }
            }
            progressed = true;
        }
        if !progressed {
            break;
        }
    };
    drain(&mut machine, &mut events, &mut output);
    let mut start = 0;
    let bounds = cuts.iter().copied().chain(std::iter::once(input.len()));
    for end in bounds {
        if end <= start {
            continue;
        }
        let res = machine.handle_input(now, &input[start..end]);
        drain(&mut machine, &mut events, &mut output);
        if let Err(e) = res {
            error = Some((e, start..end));
            break;
        }
        start = end;
    }
    if error.is_none() && eof {
        let res = machine.handle_eof(now);
        drain(&mut machine, &mut events, &mut output);
        if let Err(e) = res {
            error = Some((e, input.len()..input.len()));
        }
    }
    Transcript {
        events: normalize(events),
        output,
        shutdown_at,
        error,
        closed: machine.is_closed(),
    }
}

/// A proptest strategy for cut points inside an input of `len` bytes.
pub fn cuts(len: usize) -> impl Strategy<Value = Vec<usize>> {
    let max = len.saturating_sub(1);
    proptest::collection::btree_set(1..len.max(2), 0..=max.min(64))
        .prop_map(move |s| s.into_iter().filter(|&c| c < len).collect())
}

/// Checks that feeding `input` byte by byte and in the pieces `cuts` gives
/// the same transcript as feeding it whole. An error must be the same error,
/// reported by the call that fed the byte at which byte-by-byte feeding
/// reported it. Returns the whole-input transcript for further assertions.
pub fn assert_split_invariant<M, N>(
    make: &dyn Fn() -> M,
    now: Instant,
    input: &[u8],
    cuts: &[usize],
    eof: bool,
    react: &mut dyn FnMut(&mut M, &M::Event),
    normalize: &dyn Fn(Vec<M::Event>) -> Vec<N>,
) -> Transcript<N, M::Error>
where
    M: Machine,
    M::Error: PartialEq + Debug,
    N: PartialEq + Debug,
{
    let whole = feed(make(), now, input, &[], eof, react, normalize);
    let every: Vec<usize> = (1..input.len()).collect();
    let bytewise = feed(make(), now, input, &every, eof, react, normalize);
    let split = feed(make(), now, input, cuts, eof, react, normalize);
    for (name, t) in [("byte-by-byte", &bytewise), ("split", &split)] {
        assert_eq!(
            whole.events, t.events,
            "{name}: events differ (cuts {cuts:?})"
        );
        assert_eq!(
            String::from_utf8_lossy(&whole.output),
            String::from_utf8_lossy(&t.output),
            "{name}: output differs (cuts {cuts:?})"
        );
        assert_eq!(
            whole.shutdown_at, t.shutdown_at,
            "{name}: shutdown differs (cuts {cuts:?})"
        );
        assert_eq!(
            whole.closed, t.closed,
            "{name}: closed differs (cuts {cuts:?})"
        );
        assert_eq!(
            whole.error.as_ref().map(|e| &e.0),
            t.error.as_ref().map(|e| &e.0),
            "{name}: error differs (cuts {cuts:?})"
        );
    }
    if let (Some((_, at)), Some((_, range))) = (&bytewise.error, &split.error) {
        let byte = at.start;
        let ok = range.contains(&byte) || (range.is_empty() && range.start == byte);
        assert!(
            ok,
            "error reported by the call feeding {range:?}, byte by byte at {byte} (cuts {cuts:?})"
        );
    }
    whole
}
