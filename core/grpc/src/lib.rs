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
