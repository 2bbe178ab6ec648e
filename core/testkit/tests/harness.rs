//! The harness itself must catch machines that depend on how input is split.

use std::time::Instant;
use wirestate_machine::{Machine, Transmit};
use wirestate_testkit::{Pair, assert_split_invariant, feed};

/// The one error the test machines raise.
#[derive(Debug, Clone, PartialEq)]
struct Bang;

impl std::fmt::Display for Bang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("bang")
    }
}

impl std::error::Error for Bang {}

/// Emits one event per complete line and echoes it back: split invariant.
#[derive(Default)]
struct Lines {
    buf: Vec<u8>,
    events: Vec<String>,
    out: Vec<Transmit>,
    eof: bool,
    /// Write each line back.
    echo: bool,
}

/// Emits one event per `handle_input` call: depends on chunking.
#[derive(Default)]
struct PerCall {
    events: Vec<usize>,
}

impl Machine for Lines {
    type Event = String;
    type Error = Bang;
    fn handle_input(&mut self, _: Instant, bytes: &[u8]) -> Result<(), Self::Error> {
        for &b in bytes {
            if b == b'!' {
                return Err(Bang);
            }
            if b == b'\n' {
                let line = String::from_utf8_lossy(&self.buf).into_owned();
                if self.echo {
                    self.out.push(Transmit::Bytes(format!("{line}\n").into()));
                }
                self.events.push(line);
                self.buf.clear();
            } else {
                self.buf.push(b);
            }
        }
        Ok(())
    }
    fn handle_eof(&mut self, _: Instant) -> Result<(), Self::Error> {
        self.eof = true;
        self.out.push(Transmit::Shutdown);
        Ok(())
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self) -> Option<Transmit> {
        (!self.out.is_empty()).then(|| self.out.remove(0))
    }
    fn poll_event(&mut self) -> Option<String> {
        (!self.events.is_empty()).then(|| self.events.remove(0))
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn wants_read(&self) -> bool {
        !self.eof
    }
    fn is_closed(&self) -> bool {
        self.eof && self.out.is_empty()
    }
}

impl Machine for PerCall {
    type Event = usize;
    type Error = Bang;
    fn handle_input(&mut self, _: Instant, bytes: &[u8]) -> Result<(), Self::Error> {
        self.events.push(bytes.len());
        Ok(())
    }
    fn handle_eof(&mut self, _: Instant) -> Result<(), Self::Error> {
        Ok(())
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self) -> Option<Transmit> {
        None
    }
    fn poll_event(&mut self) -> Option<usize> {
        self.events.pop()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn wants_read(&self) -> bool {
        true
    }
    fn is_closed(&self) -> bool {
        false
    }
}

#[test]
fn invariant_machine_passes() {
    let now = Instant::now();
    let echoing = || Lines {
        echo: true,
        ..Lines::default()
    };
    let t = assert_split_invariant(
        &echoing,
        now,
        b"ab\ncd\nef\n",
        &[1, 4, 7],
        true,
        &mut |_, _| {},
        &|e| e,
    );
    assert_eq!(t.events, ["ab", "cd", "ef"]);
    assert_eq!(t.output, b"ab\ncd\nef\n");
    assert_eq!(t.shutdown_at, Some(9));
    assert!(t.closed);
}

#[test]
#[should_panic(expected = "events differ")]
fn chunk_dependent_machine_fails() {
    let now = Instant::now();
    assert_split_invariant(
        &PerCall::default,
        now,
        b"abcdef",
        &[3],
        false,
        &mut |_, _| {},
        &|e| e,
    );
}

#[test]
fn errors_carry_the_feeding_range() {
    let now = Instant::now();
    let t = feed(
        Lines::default(),
        now,
        b"ab\nc!d\n",
        &[2, 5],
        false,
        &mut |_, _| {},
        &|e| e,
    );
    let (e, range) = t.error.unwrap();
    assert_eq!(e, Bang);
    assert_eq!(range, 2..5);
    assert_eq!(t.events, ["ab"]);
}

#[test]
fn pair_moves_bytes_and_eof() {
    let echoing = Lines {
        echo: true,
        ..Lines::default()
    };
    let mut pair = Pair::new(Lines::default(), echoing, 1, 3);
    pair.a.out.push(Transmit::Bytes("hello\nworld\n".into()));
    pair.a.out.push(Transmit::Shutdown);
    pair.drive();
    let got: Vec<String> = std::iter::from_fn(|| pair.b.poll_event()).collect();
    assert_eq!(got, ["hello", "world"]);
    assert!(pair.b.eof, "shutdown became EOF");
    // b echoed the lines back, then shut down after its EOF.
    let echoed: Vec<String> = std::iter::from_fn(|| pair.a.poll_event()).collect();
    assert_eq!(echoed, ["hello", "world"]);
}
