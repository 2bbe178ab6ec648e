//! Sans-IO HTTP/2 (RFC 9113) and HPACK (RFC 7541), in layers usable alone:
//!
//! * [`hpack`]: header compression — the decoder and encoder with Huffman
//!   coding and the dynamic table;
//! * [`frame`]: the frame codec — every frame type of RFC 9113, with
//!   padding, size limits, errors naming the GOAWAY or RST_STREAM to send,
//!   and the client preface (with a sniffer for h2c beside HTTP/1.1);
//! * [`stream_state`]: stream states (RFC 9113 §5.1) as an explicit
//!   transition table;
//! * [`flow`]: flow-control windows, with receive credit returned only as
//!   the application releases data;
//! * [`connection`]: the connection machine for clients and servers —
//!   streams, `http` heads, flow control, SETTINGS, PING, GOAWAY and flood
//!   defences — behind the `wirestate_machine::Machine` contract;
//! * [`pacing`]: when a runtime should let a tiny DATA frame wait for more
//!   of its body (time as an input).

#![forbid(unsafe_code)]

pub mod connection;
pub mod flow;
pub mod frame;
pub mod hpack;
pub mod pacing;
pub mod stream_state;
