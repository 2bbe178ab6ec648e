//! Sans-IO HTTP/2 (RFC 9113) and HPACK (RFC 7541), in layers usable alone:
//!
//! * [`hpack`]: header compression — the decoder and encoder with Huffman
//!   coding and the dynamic table;
//! * [`frame`]: the frame codec — every frame type of RFC 9113, with
//!   padding, size limits, errors naming the GOAWAY or RST_STREAM to send,
//!   and the client preface (with a sniffer for h2c beside HTTP/1.1).

#![forbid(unsafe_code)]

pub mod frame;
pub mod hpack;
