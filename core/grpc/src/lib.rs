//! Sans-IO gRPC: the layers that do not need an HTTP/2 connection, usable
//! alone from any event loop.
//!
//! | module        | what it holds |
//! | ------------- | ------------- |
//! | [`message`]   | the 5-byte Length-Prefixed-Message framing: [`MessageDecoder`] (chunks in, zero-copy messages out, size limit), [`encode_message`], [`message_header`] |
//! | [`compression`] | `identity`, `gzip` and `deflate` (zlib) per message ([`compress`], [`decompress`] with an output limit), `grpc-encoding` / `grpc-accept-encoding` ([`Encoding`], [`EncodingSet`], [`negotiate`]) |
//! | [`status`]    | [`Code`] (all 17), [`Status`] ⇄ trailers with percent-encoded `grpc-message` and `grpc-status-details-bin`; the spec's mappings from HTTP statuses and HTTP/2 reset codes |
//! | [`metadata`]  | [`Metadata`] over `http::HeaderMap`: ASCII and `-bin` keys, charset checks, reserved keys refused, size accounting |
//! | [`timeout`]   | `grpc-timeout` ([`parse_timeout`], [`format_timeout`]) and deadlines from a `now` the caller passes |
//! | [`web`]       | gRPC-Web: the trailers frame, the `-text` base64 codec with padding mid-stream ([`WebTextDecoder`]), and a body decoder for both modes ([`WebDecoder`]) |
//! | [`cors`]      | CORS for gRPC-Web, opt-in: [`cors::CorsPolicy`] answers browser preflights and adds `Access-Control-Allow-Origin` / `-Expose-Headers` to calls from allowed origins |
//! | [`reader`]    | [`MessageReader`]: one call's body (gRPC or gRPC-Web) in, decompressed messages and the final status out, for any adapter |
//! | [`head`]      | request and response heads over `http` types: [`RequestHead`] (build, and check on the server), [`ResponseHead`], [`trailers_only`], [`error_response`] |
//! | [`accept`]    | a server's first look at a call, for every runtime: [`accept::accept`] checks the head, runs the [`accept::Interceptor`]s, routes the method and negotiates the response encoding, or says what refuses the call ([`accept::Refused`]) |
//! | [`call`]      | a client call's settings, [`CallOptions`] (timeout, metadata, compression, limits), and the request head of each attempt built from them, for every runtime's channel |
//! | [`retry`]     | the retry policy of gRFC A6: [`retry::RetryPolicy`] (validated, `maxAttempts` capped at 5), per-method [`retry::RetryConfig`], [`retry::RetryThrottle`], and one call's [`retry::RetryState`] (jittered backoff with the randomness as an input, `grpc-retry-pushback-ms`, commit on response headers or a full retry buffer, transparent retries) |
//! | [`keepalive`] | the channel's keep-alive interval, doubled when a server answers GOAWAY `too_many_pings` (gRFC A8) |
//!
//! Message bytes stay bytes: serialization is the job of a
//! [`wirestate_codec::Codec`](https://docs.rs/wirestate-codec) (Protobuf
//! via prost, JSON, …) on top, so this crate does not depend on prost.
//! Nothing here does IO or reads a clock; no input panics or allocates
//! without bound.
//!
//! # Errors
//!
//! One [`Error`] enum, classified like every wirestate error: its
//! [`kind`](Error::kind) says whose fault it is (protocol, limit, usage),
//! its [`hint`](Error::hint) the `grpc-status` to reply with, and
//! [`http_status`](Error::http_status) the HTTP status where the spec
//! wants one (405, 415). [`Error::to_status`] gives the [`Status`] to send.
//!
//! # Example
//!
//! A unary call's bytes, the way a server sees them, without a network:
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use http::HeaderMap;
//! use wirestate_grpc::{
//!     Code, Encoding, MessageDecoder, MethodPath, RequestHead, ResponseHead, Status,
//!     decompress_message, encode_message_with,
//! };
//!
//! // Client: the head and one gzip-compressed message.
//! let mut head = RequestHead::new(MethodPath::new("helloworld.Greeter", "SayHello")?);
//! head.encoding = Encoding::Gzip;
//! let request = head.to_request(None, false);
//! let mut body = BytesMut::new();
//! encode_message_with(Encoding::Gzip, b"\x0a\x05world", &mut body)?;
//!
//! // Server: check the head, then split the body, as DATA frames arrive.
//! let call = RequestHead::from_request(&request)?;
//! assert_eq!(call.path.method(), "SayHello");
//! let mut decoder = MessageDecoder::new();
//! let body = body.freeze();
//! decoder.push(body.slice(..7));
//! assert!(decoder.next_message().is_none());
//! decoder.push(body.slice(7..));
//! let message = decoder.next_message().unwrap()?;
//! decoder.finish()?;
//! let payload = decompress_message(&message, call.encoding, 4 << 20)?;
//! assert_eq!(&payload[..], b"\x0a\x05world");
//!
//! // Server: the response head, then the status in trailers.
//! let response = ResponseHead::default().to_response();
//! assert_eq!(response.headers["content-type"], "application/grpc");
//! let mut trailers = HeaderMap::new();
//! Status::new(Code::Ok, "").to_trailers(&mut trailers);
//! assert_eq!(trailers["grpc-status"], "0");
//! # Ok::<(), wirestate_grpc::Error>(())
//! ```
//!
//! # A call on your own HTTP/2 connection
//!
//! The runtimes' channels are built from these pieces on a
//! `wirestate_h2::connection::Connection`; a custom event loop can do the
//! same. The client opens a stream with the head from
//! [`CallOptions::request_parts`] (which sends the time left as
//! `grpc-timeout`), sends the framed message with `end_stream`, reads the
//! response head with [`ResponseHead::from_response`] (a trailers-only
//! answer ends the call there), feeds DATA into a [`MessageReader`]
//! (releasing the flow-control credit as it goes) and takes the status
//! from the trailers. The deadline is the caller's timer: past it, reset
//! the stream with CANCEL and fail the call with DEADLINE_EXCEEDED. Here
//! both ends run in memory; with a socket, each `pump` is a write and a
//! read.
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use std::time::{Duration, Instant};
//! use wirestate_grpc::{
//!     CallOptions, Code, MessageReader, RequestHead, ResponseHead, ResponseStart, Status,
//!     encode_message,
//! };
//! use wirestate_h2::connection::{Config, Connection, Event};
//! use wirestate_machine::{Machine, Transmit};
//!
//! fn pump(from: &mut Connection, to: &mut Connection, now: Instant) {
//!     while let Some(t) = from.poll_transmit() {
//!         if let Transmit::Bytes(b) = t {
//!             to.handle_input(now, &b).unwrap();
//!         }
//!     }
//! }
//!
//! let now = Instant::now();
//! let mut client = Connection::client(Config::default());
//! let mut server = Connection::server(Config::default());
//!
//! // Client: head and one message (a protobuf `HelloRequest { name: "world" }`).
//! let options = CallOptions::default().with_timeout(Duration::from_secs(5));
//! let authority = "localhost:50051".parse().unwrap();
//! let head = options
//!     .request_parts("/helloworld.Greeter/SayHello", &authority, options.timeout, 0)
//!     .unwrap();
//! let deadline = now + Duration::from_secs(5); // the loop's timer
//! let stream = client.send_request(head, false).unwrap();
//! let mut body = BytesMut::new();
//! encode_message(b"\x0a\x05world", false, &mut body)?;
//! // Taken whole: it fits the stream window (else wait for Event::Writable).
//! assert_eq!(client.send_data(stream, body.freeze(), true).unwrap(), 12);
//! pump(&mut client, &mut server, now);
//!
//! // Server: check the head, answer one message and the status.
//! let mut request = MessageReader::new(None, Default::default(), 4 << 20);
//! let mut served = None;
//! while let Some(event) = server.poll_event() {
//!     match event {
//!         Event::Request { stream, head, .. } => {
//!             let call = RequestHead::from_request(&head)?;
//!             assert_eq!(call.timeout, Some(Duration::from_secs(5)));
//!             served = Some(stream);
//!         }
//!         Event::Data { stream, data, end_stream, flow_len } => {
//!             server.release_capacity(stream, flow_len).unwrap();
//!             request.push(data);
//!             if end_stream {
//!                 request.finish(None)?;
//!             }
//!         }
//!         _ => {}
//!     }
//! }
//! assert_eq!(&request.next_message().unwrap()?[..], b"\x0a\x05world");
//! let s = served.unwrap();
//! server.send_response(s, ResponseHead::default().to_response(), false).unwrap();
//! let mut reply = BytesMut::new();
//! encode_message(b"\x0a\x0bhello world", false, &mut reply)?;
//! server.send_data(s, reply.freeze(), false).unwrap();
//! let mut trailers = http::HeaderMap::new();
//! Status::new(Code::Ok, "").to_trailers(&mut trailers);
//! server.send_trailers(s, trailers).unwrap();
//! pump(&mut server, &mut client, now);
//!
//! // Client: head, messages, then the status from the trailers.
//! let mut response = None;
//! let mut status = None;
//! let mut messages: Vec<Bytes> = Vec::new();
//! while let Some(event) = client.poll_event() {
//!     match event {
//!         Event::Response { head, .. } => match ResponseHead::from_response(&head) {
//!             ResponseStart::Head(h) => {
//!                 response = Some(MessageReader::new(None, h.encoding, options.max_message_size));
//!             }
//!             // Trailers-only (an error, usually): the call is over.
//!             ResponseStart::End(s) => status = Some(s),
//!         },
//!         Event::Data { stream, data, flow_len, .. } => {
//!             client.release_capacity(stream, flow_len).unwrap();
//!             let reader = response.as_mut().unwrap();
//!             reader.push(data);
//!             while let Some(m) = reader.next_message() {
//!                 messages.push(m?);
//!             }
//!         }
//!         Event::Trailers { trailers, .. } => {
//!             let reader = response.as_mut().unwrap();
//!             reader.finish(Some(trailers))?;
//!             status = Some(reader.status());
//!         }
//!         // A reset stream fails the call: Status::from_h2_error_code(code.into()).
//!         _ => {}
//!     }
//! }
//! assert_eq!(messages, [Bytes::from_static(b"\x0a\x0bhello world")]);
//! assert_eq!(status.unwrap().code, Code::Ok);
//! assert!(now < deadline); // else: client.reset(stream, ErrorCode::CANCEL)
//! # Ok::<(), wirestate_grpc::Error>(())
//! ```

#![forbid(unsafe_code)]

pub mod accept;
pub mod backoff;
pub mod call;
pub mod channel;
pub mod compression;
pub mod cors;
mod error;
pub mod head;
pub mod hedging;
pub mod keepalive;
pub mod message;
pub mod metadata;
pub mod reader;
pub mod retry;
pub mod service_config;
pub mod status;
pub mod timeout;
pub mod web;

pub use crate::call::CallOptions;
pub use crate::channel::{ChannelConfig, ValidChannelConfig};
pub use crate::compression::{
    Encoding, EncodingSet, GRPC_ACCEPT_ENCODING, GRPC_ENCODING, compress, decompress,
    decompress_message, encode_message_as, encode_message_with, negotiate,
};
pub use crate::error::Error;
pub use crate::head::{
    ContentType, MethodPath, RequestHead, ResponseHead, ResponseStart, WireFormat, error_response,
    trailers_only,
};
pub use crate::message::{
    DEFAULT_MAX_MESSAGE_SIZE, MESSAGE_HEADER_LEN, Message, MessageDecoder, encode_message,
    message_header,
};
pub use crate::metadata::{Metadata, decode_bin_value, encode_bin_value, is_reserved_key};
pub use crate::reader::MessageReader;
pub use crate::status::{
    Code, GRPC_MESSAGE, GRPC_STATUS, GRPC_STATUS_DETAILS_BIN, Status, decode_grpc_message,
    encode_grpc_message,
};
pub use crate::timeout::{
    GRPC_TIMEOUT, deadline_after, format_timeout, parse_timeout, timeout_until,
};
pub use crate::web::{
    WebDecoder, WebFrame, WebMode, WebTextDecoder, encode_web_text, encode_web_trailers,
    parse_web_trailers,
};
