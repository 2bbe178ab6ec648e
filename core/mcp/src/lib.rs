//! Sans-IO Model Context Protocol (MCP).
//!
//! * [`schema`]: serde types for the specification's messages, revisions
//!   2024-11-05 to 2025-11-25, unknown members kept.
//!
//! Nothing here reads a clock, a socket or a random generator.

#![forbid(unsafe_code)]

pub mod schema;
