//! One gRPC call as the runtimes run it on either side, from the core's
//! pieces, against a hostile peer: a client reading a response (the head
//! through [`ResponseHead::from_response`], the body through a
//! [`MessageReader`], the status from the trailers), or a server taking a
//! request ([`accept::accept`] on the head, the body through a
//! [`MessageReader`], `grpc-timeout` as a deadline).
//!
//! # Input layout
//!
//! ```text
//! [cfg: u8] [step: u8] [head_len: u16 LE] [head] [trailers_len: u16 LE] [trailers] [body...]
//! ```
//!
//! * `cfg` bit 0: the server side (else the client); bit 1: gRPC-Web (the
//!   body in the mode the content type names, trailers in the body);
//!   bits 2-4 pick the message size limit from [`MAX_SIZES`].
//! * `head`: lines; the first is the `:status` (client) or the `:path`
//!   (server), the others `name: value` headers (lines no header can be
//!   are skipped). `trailers`: `name: value` lines, the HTTP trailers.
//! * The body is pushed in pieces of `1 + step` bytes.
//!
//! # What is checked
//!
//! No panic. No message over the limit, and no more messages than the
//! body has 5-byte prefixes. Nothing comes out after an error or after
//! the end. The call's status — whatever ended it — survives a round trip
//! through trailers (code, message, details). A server's deadline from
//! `grpc-timeout` can be added to any instant the caller might hold.

use super::grpc::MAX_SIZES;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use std::time::{Duration, Instant};
use wirestate_grpc::accept::{self, AcceptConfig};
use wirestate_grpc::{Encoding, MessageReader, ResponseHead, ResponseStart, Status, WebMode};

/// The gRPC call target.
pub fn grpc_call(data: &[u8]) {
    let mut input = data;
    let [cfg, step] = take::<2>(&mut input);
    let head = block(&mut input);
    let trailers = headers(block(&mut input).split(|&b| b == b'\n'));
    let body = Bytes::copy_from_slice(input);
    let web = cfg & 2 != 0;
    let max = MAX_SIZES[usize::from((cfg >> 2) & 7)];
    let mut lines = head.split(|&b| b == b'\n');
    let first = lines.next().unwrap_or_default();
    let headers = headers(lines);
    let (mode, encoding) = if cfg & 1 == 0 {
        let (mut parts, ()) = http::Response::new(()).into_parts();
        parts.status = std::str::from_utf8(first)
            .ok()
            .and_then(|s| s.trim().parse::<u16>().ok())
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::OK);
        parts.headers = headers;
        match ResponseHead::from_response(&parts) {
            ResponseStart::End(status) => return round_trip(&status),
            ResponseStart::Head(h) => (web.then(|| h.web_mode()), h.encoding),
        }
    } else {
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts.method = Method::POST;
        parts.uri = std::str::from_utf8(first)
            .ok()
            .and_then(|s| s.parse::<Uri>().ok())
            .unwrap_or_else(|| Uri::from_static("/pkg.Svc/Method"));
        parts.headers = headers;
        let config = AcceptConfig::new(Encoding::Gzip);
        match accept::accept(
            &parts,
            &[],
            |m| (m != "/pkg.Svc/Gone").then_some(()),
            &config,
        ) {
            Err(refused) => {
                // The refusal is an answer a client must be able to read.
                let response = refused.to_response();
                if let ResponseStart::End(status) = ResponseHead::from_response(&response) {
                    round_trip(&status);
                }
                return;
            }
            Ok(call) => {
                if let Some(timeout) = call.head.timeout {
                    // The runtimes add it to their clock's now.
                    let _ = Instant::now().checked_add(timeout);
                    assert!(timeout <= Duration::from_secs(100_000_000 * 3600));
                }
                // A gRPC-Web request is read in its own mode.
                let mode = call.web.or(web.then_some(WebMode::Binary));
                (mode, call.head.encoding)
            }
        }
    };
    let mut reader = MessageReader::new(mode, encoding, max);
    let mut count = 0usize;
    let mut failed = false;
    let mut drain = |reader: &mut MessageReader, failed: &mut bool| {
        while let Some(m) = reader.next_message() {
            assert!(!*failed, "a message after an error");
            match m {
                Ok(m) => {
                    assert!(m.len() <= max, "a message over the limit");
                    count += 1;
                    assert!(count <= body.len() / 5, "more messages than prefixes");
                }
                Err(_) => *failed = true,
            }
        }
    };
    for piece in body.chunks(1 + usize::from(step)) {
        reader.push(body.slice_ref(piece));
        drain(&mut reader, &mut failed);
    }
    let ended = reader.finish((mode.is_none()).then_some(trailers));
    drain(&mut reader, &mut failed);
    if ended.is_ok() && !failed {
        assert!(reader.is_finished());
        round_trip(&reader.status());
    }
    reader.push(Bytes::from_static(b"\0\0\0\0\x01x"));
    assert!(reader.next_message().is_none(), "a message after the end");
}

/// `N` bytes off the front of `input` (zeros past its end).
fn take<const N: usize>(input: &mut &[u8]) -> [u8; N] {
    let mut out = [0; N];
    let n = N.min(input.len());
    out[..n].copy_from_slice(&input[..n]);
    *input = &input[n..];
    out
}

/// A block of `u16 LE` length off the front of `input`.
fn block<'a>(input: &mut &'a [u8]) -> &'a [u8] {
    let len = usize::from(u16::from_le_bytes(take::<2>(input)));
    let (head, rest) = input.split_at(len.min(input.len()));
    *input = rest;
    head
}

/// `name: value` lines as headers, appended; lines no header can be are
/// skipped.
fn headers<'a>(lines: impl Iterator<Item = &'a [u8]>) -> HeaderMap {
    let mut map = HeaderMap::new();
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let value = line[colon + 1..].trim_ascii();
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(value),
        ) {
            map.append(name, value);
        }
    }
    map
}

/// A status written to trailers reads back the same.
fn round_trip(status: &Status) {
    let mut trailers = HeaderMap::new();
    status.to_trailers(&mut trailers);
    let back = Status::from_trailers(&trailers).expect("a status we wrote reads back");
    assert_eq!(back.code, status.code);
    assert_eq!(back.message, status.message, "grpc-message round trip");
    assert_eq!(back.details, status.details);
}
