use crate::{SeededEntropy, VirtualClock};
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use wirestate_machine::{Machine, Transmit};

/// One direction of the simulated wire.
#[derive(Debug, Default)]
struct Pipe {
    bytes: VecDeque<u8>,
    /// Set once the sender's `Shutdown` reached the pipe.
    shutdown: bool,
    /// Set once the EOF was delivered.
    delivered_eof: bool,
}

/// Two machines — a client `a` and a server `b` — wired together over an
/// in-memory pipe on a virtual clock.
///
/// Bytes move in randomly sized pieces (seeded, so runs repeat), a
/// `Transmit::Shutdown` becomes an EOF on the other side once the bytes
/// before it are delivered, and [`advance`](Pair::advance) moves time and
/// fires due timers. Events are not drained: the test polls `a` and `b`
/// itself and issues commands between steps.
#[derive(Debug)]
pub struct Pair<A, B> {
    /// The client side.
    pub a: A,
    /// The server side.
    pub b: B,
    /// The shared virtual clock.
    pub clock: VirtualClock,
    a_to_b: Pipe,
    b_to_a: Pipe,
    rng: SeededEntropy,
    max_chunk: usize,
    /// Errors returned by `handle_input`/`handle_eof` of `a`.
    pub a_errors: Vec<String>,
    /// Errors returned by `handle_input`/`handle_eof` of `b`.
    pub b_errors: Vec<String>,
}

impl<A: Machine, B: Machine> Pair<A, B> {
    /// Wires `a` to `b`; pieces on the wire are 1..=`max_chunk` bytes.
    pub fn new(a: A, b: B, seed: u64, max_chunk: usize) -> Self {
        Self {
            a,
            b,
            clock: VirtualClock::new(),
            a_to_b: Pipe::default(),
            b_to_a: Pipe::default(),
            rng: SeededEntropy::new(seed),
            max_chunk: max_chunk.max(1),
            a_errors: Vec::new(),
            b_errors: Vec::new(),
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Moves transmits onto the wire and one piece across in each direction.
    /// Returns whether anything moved.
    pub fn step(&mut self) -> bool {
        let now = self.clock.now();
        let mut moved = collect(&mut self.a, &mut self.a_to_b);
        moved |= collect(&mut self.b, &mut self.b_to_a);
        moved |= deliver(
            &mut self.b,
            &mut self.a_to_b,
            now,
            &mut self.rng,
            self.max_chunk,
            &mut self.b_errors,
        );
        moved |= deliver(
            &mut self.a,
            &mut self.b_to_a,
            now,
            &mut self.rng,
            self.max_chunk,
            &mut self.a_errors,
        );
        moved
    }

    /// Steps until nothing moves (bounded, so a livelock fails loudly).
    pub fn drive(&mut self) {
        for _ in 0..1_000_000 {
            if !self.step() {
                return;
            }
        }
        panic!("pair did not settle after a million steps");
    }

    /// Advances the clock by `by`, firing due timers on both sides, then
    /// drives. Checks the contract that a fired timer is not due again.
    pub fn advance(&mut self, by: Duration) {
        let now = self.clock.advance(by);
        fire(&mut self.a, now);
        fire(&mut self.b, now);
        self.drive();
    }

    /// Bytes in flight towards `b` and towards `a`.
    pub fn in_flight(&self) -> (usize, usize) {
        (self.a_to_b.bytes.len(), self.b_to_a.bytes.len())
    }
}

fn fire<M: Machine>(m: &mut M, now: Instant) {
    if m.poll_timeout().is_some_and(|t| t <= now) {
        m.handle_timeout(now);
        assert!(
            m.poll_timeout().is_none_or(|t| t > now),
            "timer still due after handle_timeout"
        );
    }
}

fn collect<M: Machine>(m: &mut M, pipe: &mut Pipe) -> bool {
    let mut moved = false;
    while let Some(t) = m.poll_transmit() {
        moved = true;
        match t {
            Transmit::Bytes(b) => {
                assert!(!pipe.shutdown, "bytes transmitted after Shutdown");
                pipe.bytes.extend(b.iter());
            }
            Transmit::Shutdown => pipe.shutdown = true,
        }
    }
    moved
}

fn deliver<M: Machine>(
    m: &mut M,
    pipe: &mut Pipe,
    now: Instant,
    rng: &mut SeededEntropy,
    max_chunk: usize,
    errors: &mut Vec<String>,
) -> bool {
    if !pipe.bytes.is_empty() && m.wants_read() {
        let n = (1 + rng.below(max_chunk as u64) as usize).min(pipe.bytes.len());
        let chunk: Vec<u8> = pipe.bytes.drain(..n).collect();
        if let Err(e) = m.handle_input(now, &chunk) {
            errors.push(e.to_string());
        }
        return true;
    }
    if pipe.bytes.is_empty() && pipe.shutdown && !pipe.delivered_eof {
        pipe.delivered_eof = true;
        if let Err(e) = m.handle_eof(now) {
            errors.push(e.to_string());
        }
        return true;
    }
    false
}
