//! Cross-crate and interop tests for wirestate live in `tests/`.
