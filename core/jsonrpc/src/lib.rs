//! Sans-IO JSON-RPC 2.0 (<https://www.jsonrpc.org/specification>): the
//! messages, and a [`Peer`] machine that calls, answers, correlates ids and
//! times requests out. The base of the MCP implementation.
//!
//! Two layers, usable apart:
//!
//! * **Messages.** [`decode`] reads one complete message — single or
//!   batch — with the specification's validation and the [`Limits`]; each
//!   entry is a [`Message`] ([`Request`], [`Notification`], [`Response`],
//!   [`ErrorResponse`]) or the [`Error`] to answer it with
//!   ([`Error::reply`]). [`Message::encode`] and [`encode_batch`] write
//!   compact JSON into a `BytesMut`. Ids ([`RequestId`]) are strings or
//!   integers of any size, echoed byte for byte. Params, results and error
//!   data stay raw ([`RawJson`], zero-copy slices of the received message)
//!   until the application decodes them ([`Request::params`] answers a
//!   mismatch with `-32602 Invalid params`).
//! * **The peer.** [`Peer`] follows the machine conventions of
//!   `wirestate-machine` with messages instead of bytes:
//!   [`handle_message`](Peer::handle_message) /
//!   [`handle_timeout`](Peer::handle_timeout) in,
//!   [`poll_message`](Peer::poll_message) / [`poll_event`](Peer::poll_event)
//!   / [`poll_timeout`](Peer::poll_timeout) out, commands
//!   ([`send_request`](Peer::send_request), [`respond`](Peer::respond),
//!   [`cancel`](Peer::cancel), [`extend_timeout`](Peer::extend_timeout), …)
//!   in between. Framing (newline-delimited stdio, HTTP bodies, WebSocket
//!   messages) belongs to the transport.
//!
//! Nothing here reads a clock, a socket or a random generator; time is the
//! `now` the caller passes.
//!
//! # Example: two peers
//!
//! ```
//! use std::time::{Duration, Instant};
//! use wirestate_jsonrpc::{ErrorObject, Event, Peer, RawJson};
//!
//! let now = Instant::now();
//! let (mut client, mut server) = (Peer::default(), Peer::default());
//!
//! // The client calls `subtract` with a 5 s deadline.
//! let params = RawJson::from_serialize(&[42, 23]).unwrap();
//! let id = client
//!     .send_request(now, "subtract", Some(params), Some(Duration::from_secs(5)))
//!     .unwrap();
//! assert_eq!(client.poll_timeout(), Some(now + Duration::from_secs(5)));
//!
//! // The transport carries each message across.
//! while let Some(message) = client.poll_message() {
//!     server.handle_message(now, &message).unwrap();
//! }
//!
//! // The server answers.
//! while let Some(event) = server.poll_event() {
//!     let Event::Request(request) = event else { continue };
//!     match request.method.as_str() {
//!         "subtract" => match request.params::<(i64, i64)>() {
//!             Ok((a, b)) => {
//!                 let result = RawJson::from_serialize(&(a - b)).unwrap();
//!                 server.respond(&request.id, result).unwrap();
//!             }
//!             Err(invalid_params) => server.respond_error(&request.id, invalid_params).unwrap(),
//!         },
//!         _ => server.respond_error(&request.id, ErrorObject::method_not_found()).unwrap(),
//!     }
//! }
//! let answer = server.poll_message().unwrap();
//! assert_eq!(&answer[..], br#"{"jsonrpc":"2.0","id":1,"result":19}"#);
//!
//! // The client gets the result for its request, and the deadline is gone.
//! client.handle_message(now, &answer).unwrap();
//! let Some(Event::Response { request, result }) = client.poll_event() else { panic!() };
//! assert_eq!((request, result.decode::<i64>().unwrap()), (id, 19));
//! assert_eq!(client.poll_timeout(), None);
//! ```
//!
//! # Errors
//!
//! [`Error`] sorts problems into the three kinds of
//! [`wirestate_machine::ErrorKind`] and offers [`Error::hint`], the
//! [`ErrorCode`] the peer answered with. Beyond the five standard codes,
//! limits are answered with codes from the server-error range (-32007
//! message too large, -32009 too many pending requests, -32010 batch too
//! large), as jsonrpsee does.
//!
//! # Example: over a socket, newline-delimited, on your own clock
//!
//! A [`Peer`] is not a byte [`Machine`](wirestate_machine::Machine): the
//! transport frames messages. For JSON lines over TCP or a pipe, pair it
//! with `wirestate_codec`'s `LineDecoder` (bytes in, one message per line)
//! and `encode_line` (one message out). Time is whatever the loop says it
//! is: here a virtual clock runs a request into its deadline, and a
//! cancelled request's late answer is dropped.
//!
//! ```
//! use bytes::BytesMut;
//! use std::time::{Duration, Instant};
//! use wirestate_codec::{LineDecoder, encode_line};
//! use wirestate_jsonrpc::{Event, Peer, RawJson};
//!
//! let start = Instant::now();
//! let mut peer = Peer::default();
//! let mut lines = LineDecoder::new();
//!
//! let slow = peer.send_request(start, "slow", None, Some(Duration::from_secs(1))).unwrap();
//! let gone = peer.send_request(start, "gone", None, None).unwrap();
//! peer.cancel(&gone).unwrap(); // telling the server is the application's protocol
//!
//! // What the loop writes to the socket.
//! let mut out = BytesMut::new();
//! while let Some(message) = peer.poll_message() {
//!     encode_line(&message, &mut out).unwrap();
//! }
//! assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 2);
//!
//! // What it reads: any chunking; a call of the server's and a late answer.
//! let now = start + Duration::from_millis(300);
//! for chunk in [&b"{\"jsonrpc\":\"2.0\",\"id\":\"s1\",\"meth"[..], b"od\":\"ping\"}\n{\"jsonrpc\":", b"\"2.0\",\"id\":2,\"result\":0}\n"] {
//!     lines.push(chunk);
//!     while let Some(line) = lines.next_line() {
//!         // A line over the decoder's limit is an Err: answer or hang up.
//!         peer.handle_message_bytes(now, line.unwrap()).unwrap();
//!     }
//! }
//! let Some(Event::Request(ping)) = peer.poll_event() else { panic!() };
//! peer.respond(&ping.id, RawJson::from_serialize(&"pong").unwrap()).unwrap();
//! assert_eq!(peer.poll_event(), None); // the answer to `gone` was dropped
//! assert_eq!(peer.stats().late_responses, 1);
//!
//! // Sleep until the earliest deadline, then fire it.
//! let deadline = peer.poll_timeout().unwrap();
//! assert_eq!(deadline, start + Duration::from_secs(1));
//! peer.handle_timeout(deadline);
//! assert_eq!(peer.poll_event(), Some(Event::TimedOut { request: slow }));
//! assert_eq!(peer.poll_timeout(), None);
//! ```

#![forbid(unsafe_code)]

mod decode;
mod error;
mod id;
mod message;
mod peer;
mod raw;

pub use decode::{Decoded, Limits, decode};
pub use error::{Error, ErrorCode, ErrorObject, Invalid};
pub use id::{NumberId, RequestId};
pub use message::{ErrorResponse, Message, Notification, Request, Response, encode_batch};
pub use peer::{BatchEntry, Config, Event, Peer, Stats};
pub use raw::RawJson;
