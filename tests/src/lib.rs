//! Cross-crate and interop tests for wirestate live in `tests/`.
//!
//! The library itself holds what those tests share with other crates: the
//! fuzz bodies in [`fuzz`], which the cargo-fuzz targets in `fuzz/` call and
//! `tests/fuzz_replay.rs` replays over the committed corpora.

pub mod fuzz;
