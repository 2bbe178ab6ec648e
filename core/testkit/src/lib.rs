//! Test harnesses shared by the wirestate crates (not published).
//!
//! * [`split`]: feed a machine the same input whole, byte by byte and in
//!   random pieces, and check that the events, the output and the error are
//!   the same ([`assert_split_invariant`]).
//! * [`VirtualClock`]: time as a value tests move by hand.
//! * [`Pair`]: two machines wired together over an in-memory pipe that
//!   re-chunks bytes at random, on a virtual clock.
//! * [`SeededEntropy`]: deterministic randomness for machines that need it.

mod clock;
mod entropy;
mod pair;
pub mod split;

pub use clock::VirtualClock;
pub use entropy::SeededEntropy;
pub use pair::Pair;
pub use split::{Transcript, assert_split_invariant, cuts, feed};
