//! A client call's settings ([`CallOptions`]) and the request head built
//! from them, shared by every runtime's channel (`wirestate_rt::grpc` and
//! `wirestate_blocking::grpc` re-export [`CallOptions`]).
//!
//! Time is an input: the head carries the time left until the call's
//! deadline, which the caller measures on its own clock.

use std::time::Duration;

use http::HeaderValue;
use http::request;
use http::uri::Authority;

use crate::compression::Encoding;
use crate::head::{ContentType, MethodPath, RequestHead};
use crate::message::DEFAULT_MAX_MESSAGE_SIZE;
use crate::metadata::Metadata;
use crate::retry::GRPC_PREVIOUS_RPC_ATTEMPTS;
use crate::status::{Code, Status};
use crate::web::{WebMode, encode_web_text};
use bytes::{Bytes, BytesMut};

/// Per-call settings of a client.
///
/// ```
/// use std::time::Duration;
/// use wirestate_grpc::{CallOptions, Encoding, Metadata};
///
/// let mut md = Metadata::new();
/// md.insert("x-tenant", "a").unwrap();
/// let opts = CallOptions::default()
///     .with_timeout(Duration::from_secs(2))
///     .with_metadata(md)
///     .with_compression(Encoding::Gzip);
/// let parts = opts
///     .request_parts("/demo.Pinger/Ping", &"example.com:50051".parse().unwrap(), opts.timeout, 0)
///     .unwrap();
/// assert_eq!(parts.headers["grpc-timeout"], "2000000u");
/// assert_eq!(parts.headers["grpc-encoding"], "gzip");
/// assert_eq!(parts.headers["x-tenant"], "a");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CallOptions {
    /// The call's deadline, sent as `grpc-timeout` and enforced by the
    /// channel: past it the call fails with DEADLINE_EXCEEDED and its
    /// stream is reset (CANCEL).
    pub timeout: Option<Duration>,
    /// Custom metadata sent with the request.
    pub metadata: Metadata,
    /// How request messages are compressed (`grpc-encoding`).
    pub compression: Encoding,
    /// The largest response message accepted.
    pub max_message_size: usize,
    /// How many times a unary or server-streaming call is retried at once
    /// when the server never processed it (REFUSED_STREAM, above a
    /// GOAWAY's last stream id, a connection that ended before taking
    /// it): always safe, whatever the method, and not counted by the
    /// channel's retry policy.
    pub retries: u32,
    /// Whether the call waits for the channel to connect (gRPC's
    /// wait-for-ready) rather than failing UNAVAILABLE at once when the
    /// channel has no connection and cannot open one: `None` takes the
    /// channel's default (fail-fast unless the channel was built to wait).
    /// See [`CallOptions::wait_for_ready`].
    pub wait_for_ready: Option<bool>,
}

impl Default for CallOptions {
    fn default() -> Self {
        Self {
            timeout: None,
            metadata: Metadata::new(),
            compression: Encoding::Identity,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            retries: 1,
            wait_for_ready: None,
        }
    }
}

impl CallOptions {
    /// Options with a timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Options with metadata.
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// Options for a wait-for-ready call (`true`) or a fail-fast one
    /// (`false`, gRPC's default), whatever the channel's default.
    ///
    /// A fail-fast call fails UNAVAILABLE at once when the channel's
    /// connect fails, or while the channel waits out its connection
    /// backoff after a failed connect (TRANSIENT_FAILURE). A wait-for-ready
    /// call instead waits for a connection — the channel reconnecting on
    /// its backoff schedule — until its deadline (then DEADLINE_EXCEEDED)
    /// or until it is dropped. Once its request reached a connection, it
    /// is like any other call: a connection that ends before the server
    /// took the request (GOAWAY, connection loss) is retried
    /// transparently ([`retries`](Self::retries) times), and a retried
    /// wait-for-ready attempt waits for the reconnect again. The channel's
    /// retry policy and hedging work as for any call, each attempt
    /// waiting as the call does: so a fail-fast call's retries on
    /// UNAVAILABLE made while the channel backs off fail at once too (they
    /// do not connect sooner), while a wait-for-ready call's first
    /// attempt already rides out the outage.
    pub fn wait_for_ready(mut self, wait: bool) -> Self {
        self.wait_for_ready = Some(wait);
        self
    }

    /// Options compressing requests with `encoding`.
    pub fn with_compression(mut self, encoding: Encoding) -> Self {
        self.compression = encoding;
        self
    }

    /// These options for one request (what a typed client stub does with
    /// a request's metadata and deadline): `metadata` added, its keys
    /// replacing these options' values of the same keys, and `timeout`
    /// (the time left until the request's deadline) taken when it is
    /// shorter than these options' timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// use wirestate_grpc::{CallOptions, Metadata};
    ///
    /// let mut base = Metadata::new();
    /// base.insert("x-a", "client").unwrap();
    /// base.insert("x-b", "client").unwrap();
    /// let opts = CallOptions::default()
    ///     .with_metadata(base)
    ///     .with_timeout(Duration::from_secs(5));
    /// let mut md = Metadata::new();
    /// md.insert("x-b", "request").unwrap();
    /// let call = opts.for_request(md, Some(Duration::from_secs(1)));
    /// assert_eq!(call.metadata.get_str("x-a"), Some("client"));
    /// assert_eq!(call.metadata.get_str("x-b"), Some("request"));
    /// assert_eq!(call.timeout, Some(Duration::from_secs(1)));
    /// assert_eq!(opts.for_request(Metadata::new(), Some(Duration::from_secs(9))).timeout, opts.timeout);
    /// ```
    pub fn for_request(&self, metadata: Metadata, timeout: Option<Duration>) -> CallOptions {
        let mut options = self.clone();
        if !metadata.is_empty() {
            let mut map = options.metadata.into_header_map();
            // `extend` with a map replaces every key it brings.
            map.extend(metadata.into_header_map());
            options.metadata = Metadata::from_headers(&map);
        }
        if let Some(left) = timeout {
            options.timeout = Some(options.timeout.map_or(left, |t| t.min(left)));
        }
        options
    }

    /// The request head of one attempt of a call to `path` on
    /// `authority` (over h2c): these options' metadata and compression,
    /// `timeout_left` (the time left until the call's deadline, measured
    /// by the caller) as `grpc-timeout`, and
    /// `grpc-previous-rpc-attempts` when `previous_attempts` is not zero
    /// (a retry).
    ///
    /// # Errors
    ///
    /// INVALID_ARGUMENT if `path` is not `/package.Service/Method`.
    // `Status` is what the channels fail a call with (as in tonic and
    // grpc-go), not a rare error worth boxing.
    #[allow(clippy::result_large_err)]
    pub fn request_parts(
        &self,
        path: &str,
        authority: &Authority,
        timeout_left: Option<Duration>,
        previous_attempts: u32,
    ) -> Result<request::Parts, Status> {
        self.parts(None, path, authority, timeout_left, previous_attempts)
    }

    /// The request of one attempt of a gRPC-Web call (over HTTP/1.1) to
    /// `path` on `authority` whose request message is `framed` (one
    /// length-prefixed message, as for gRPC): the head as
    /// [`request_parts`](Self::request_parts) builds it, with the
    /// gRPC-Web content type of `mode` and without `te: trailers`, and
    /// the body — `framed` itself, or its base64 text in
    /// [`WebMode::Text`].
    ///
    /// ```
    /// use bytes::Bytes;
    /// use wirestate_grpc::{CallOptions, WebMode};
    ///
    /// let framed = Bytes::from_static(b"\0\0\0\0\x02hi");
    /// let authority = "example.com:8080".parse().unwrap();
    /// let (parts, body) = CallOptions::default()
    ///     .web_request(WebMode::Text, "/demo.Pinger/Ping", &authority, None, 0, framed)
    ///     .unwrap();
    /// assert_eq!(parts.headers["content-type"], "application/grpc-web-text");
    /// assert!(!parts.headers.contains_key("te"));
    /// assert_eq!(&body[..], b"AAAAAAJoaQ==");
    /// ```
    ///
    /// # Errors
    ///
    /// INVALID_ARGUMENT if `path` is not `/package.Service/Method`.
    #[allow(clippy::result_large_err)]
    pub fn web_request(
        &self,
        mode: WebMode,
        path: &str,
        authority: &Authority,
        timeout_left: Option<Duration>,
        previous_attempts: u32,
        framed: Bytes,
    ) -> Result<(request::Parts, Bytes), Status> {
        let parts = self.parts(Some(mode), path, authority, timeout_left, previous_attempts)?;
        let body = match mode {
            WebMode::Binary => framed,
            WebMode::Text => {
                let mut text = BytesMut::new();
                encode_web_text(&framed, &mut text);
                text.freeze()
            }
        };
        Ok((parts, body))
    }

    /// The head of an attempt, gRPC (`web: None`) or gRPC-Web.
    #[allow(clippy::result_large_err)]
    fn parts(
        &self,
        web: Option<WebMode>,
        path: &str,
        authority: &Authority,
        timeout_left: Option<Duration>,
        previous_attempts: u32,
    ) -> Result<request::Parts, Status> {
        let method = MethodPath::parse(path)
            .map_err(|e| Status::new(Code::InvalidArgument, e.to_string()))?;
        let mut head = RequestHead::new(method);
        if let Some(mode) = web {
            head.content_type = ContentType::web(mode == WebMode::Text);
        }
        head.metadata = self.metadata.clone();
        head.encoding = self.compression;
        head.timeout = timeout_left;
        let mut parts = head.to_request(Some(authority), false);
        if previous_attempts > 0 {
            parts.headers.insert(
                GRPC_PREVIOUS_RPC_ATTEMPTS,
                HeaderValue::from(previous_attempts),
            );
        }
        Ok(parts)
    }
}

/// Points a request built for a channel's authority (by
/// [`CallOptions::web_request`]) at `address`, the `host:port` an HTTP/1.1
/// client dials (it dials the URI's authority), keeping the channel's
/// authority as the `Host` header when the two differ.
///
/// ```
/// use bytes::Bytes;
/// use wirestate_grpc::CallOptions;
/// use wirestate_grpc::call::route_to;
/// use wirestate_grpc::WebMode;
///
/// let authority = "api.example.com:443".parse().unwrap();
/// let (mut parts, _) = CallOptions::default()
///     .web_request(WebMode::Binary, "/a.B/C", &authority, None, 0, Bytes::new())
///     .unwrap();
/// route_to(&mut parts, &"127.0.0.1:8080".parse().unwrap());
/// assert_eq!(parts.uri, "http://127.0.0.1:8080/a.B/C");
/// assert_eq!(parts.headers["host"], "api.example.com:443");
/// ```
pub fn route_to(parts: &mut request::Parts, address: &Authority) {
    let old = std::mem::take(&mut parts.uri).into_parts();
    if let Some(authority) = &old.authority
        && authority != address
        && let Ok(host) = HeaderValue::from_str(authority.as_str())
    {
        parts.headers.insert(http::header::HOST, host);
    }
    let mut uri = http::uri::Parts::default();
    uri.scheme = Some(http::uri::Scheme::HTTP);
    uri.authority = Some(address.clone());
    uri.path_and_query = old.path_and_query;
    parts.uri = http::Uri::from_parts(uri).unwrap_or_default();
}

/// Marks a request built by [`CallOptions::request_parts`] (whose URI says
/// `http`) as one sent over TLS: its `:scheme` becomes `https`, as the
/// gRPC spec asks of calls over TLS.
///
/// ```
/// let mut uri: http::Uri = "http://api.example.com:443/a.B/C".parse().unwrap();
/// wirestate_grpc::call::use_https(&mut uri);
/// assert_eq!(uri, "https://api.example.com:443/a.B/C");
/// ```
pub fn use_https(uri: &mut http::Uri) {
    if uri.scheme() == Some(&http::uri::Scheme::HTTPS) {
        return;
    }
    let mut parts = uri.clone().into_parts();
    parts.scheme = Some(http::uri::Scheme::HTTPS);
    // A URI without an authority takes no scheme (`from_parts` refuses
    // it): it stays as it is, and the connection's default scheme applies.
    if let Ok(secure) = http::Uri::from_parts(parts) {
        *uri = secure;
    }
}

/// The status a gRPC-Web channel fails a client- or bidi-streaming call
/// with, at once: gRPC-Web sends the request whole, as browsers do, so it
/// carries unary and server-streaming calls only.
pub fn web_streaming_unsupported() -> Status {
    Status::new(
        Code::Unimplemented,
        "gRPC-Web carries unary and server-streaming calls only: \
         client- and bidi-streaming calls need an HTTP/2 channel",
    )
}

/// A hook told the status a call ended with (see [`CallEnd::on_end`]).
pub type OnEnd = Box<dyn FnOnce(&Status) + Send + Sync>;

/// How a stream of response (or request) messages ended, and who is told
/// once it does: the end-of-call bookkeeping every runtime's message
/// stream shares. A client's retry throttle counts a committed call's
/// outcome through [`on_end`](Self::on_end).
#[derive(Default)]
pub struct CallEnd {
    done: Option<Result<(), Status>>,
    on_end: Option<OnEnd>,
}

impl std::fmt::Debug for CallEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallEnd")
            .field("done", &self.done)
            .field("on_end", &self.on_end.is_some())
            .finish()
    }
}

impl CallEnd {
    /// A call that has not ended.
    pub fn new() -> CallEnd {
        CallEnd::default()
    }

    /// A call that ended with `status` before anyone asked (a
    /// trailers-only response): a hook set later runs at once.
    pub fn ended(status: Status) -> CallEnd {
        CallEnd {
            done: Some(if status.is_ok() { Ok(()) } else { Err(status) }),
            on_end: None,
        }
    }

    /// How the call ended, once it did.
    pub fn result(&self) -> Option<&Result<(), Status>> {
        self.done.as_ref()
    }

    /// Runs `f` with the call's status once it ends (at once if it has);
    /// never if the call is dropped before. A second hook replaces the
    /// first.
    pub fn on_end(&mut self, f: OnEnd) {
        match &self.done {
            Some(done) => f(done.as_ref().err().unwrap_or(&Status::ok())),
            None => self.on_end = Some(f),
        }
    }

    /// The call ended with `result`: the hook, if any, is told (once).
    pub fn end(&mut self, result: Result<(), Status>) {
        if let Some(f) = self.on_end.take() {
            f(result.as_ref().err().unwrap_or(&Status::ok()));
        }
        self.done = Some(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authority() -> Authority {
        "localhost:1".parse().unwrap()
    }

    #[test]
    fn request_parts_of_attempts() {
        let opts = CallOptions::default();
        let first = opts.request_parts("/a.B/C", &authority(), None, 0).unwrap();
        assert_eq!(first.uri, "http://localhost:1/a.B/C");
        assert!(!first.headers.contains_key("grpc-timeout"));
        assert!(!first.headers.contains_key(GRPC_PREVIOUS_RPC_ATTEMPTS));
        assert!(!first.headers.contains_key("grpc-encoding"));
        let retry = opts
            .request_parts("/a.B/C", &authority(), Some(Duration::ZERO), 2)
            .unwrap();
        assert_eq!(retry.headers[GRPC_PREVIOUS_RPC_ATTEMPTS], "2");
        assert_eq!(retry.headers["grpc-timeout"], "0n");
        let bad = opts.request_parts("no-slash", &authority(), None, 0);
        assert_eq!(bad.unwrap_err().code, Code::InvalidArgument);
    }

    #[test]
    fn for_request_keeps_the_options_without_a_request_part() {
        let opts = CallOptions::default().with_compression(Encoding::Gzip);
        let same = opts.for_request(Metadata::new(), None);
        assert_eq!(same.timeout, None);
        assert_eq!(same.compression, Encoding::Gzip);
        assert!(same.metadata.is_empty());
        let mut md = Metadata::new();
        md.insert_bin("trace-bin", b"\x01\x02").unwrap();
        let call = opts.for_request(md, Some(Duration::from_millis(5)));
        assert_eq!(call.timeout, Some(Duration::from_millis(5)));
        assert_eq!(
            call.metadata.get_bin("trace-bin").unwrap().unwrap(),
            &b"\x01\x02"[..]
        );
    }

    #[test]
    fn call_end_tells_its_hook_once() {
        use std::sync::{Arc, Mutex};
        let told = Arc::new(Mutex::new(Vec::new()));
        let hook = |told: &Arc<Mutex<Vec<Code>>>| -> OnEnd {
            let told = told.clone();
            Box::new(move |s: &Status| told.lock().unwrap().push(s.code))
        };
        let mut end = CallEnd::new();
        assert!(end.result().is_none());
        end.on_end(hook(&told));
        end.end(Err(Status::new(Code::Unavailable, "x")));
        assert_eq!(
            end.result().unwrap().as_ref().unwrap_err().code,
            Code::Unavailable
        );
        // Later ends and hooks: the hook ran once; a new hook runs at once.
        end.end(Ok(()));
        assert_eq!(*told.lock().unwrap(), [Code::Unavailable]);
        end.on_end(hook(&told));
        assert_eq!(*told.lock().unwrap(), [Code::Unavailable, Code::Ok]);
        // Ended before any hook (trailers-only).
        let mut early = CallEnd::ended(Status::new(Code::Internal, "no"));
        early.on_end(hook(&told));
        assert_eq!(told.lock().unwrap().last(), Some(&Code::Internal));
        assert!(CallEnd::ended(Status::ok()).result().unwrap().is_ok());
        assert!(format!("{early:?}").contains("CallEnd"));
    }

    #[test]
    fn use_https_keeps_a_uri_without_authority() {
        // No scheme without an authority: the path stays, and the
        // connection's default scheme applies.
        let mut uri: http::Uri = "/a.B/C".parse().unwrap();
        use_https(&mut uri);
        assert_eq!(uri, "/a.B/C");
        let mut uri: http::Uri = "http://h:1/a.B/C?x".parse().unwrap();
        use_https(&mut uri);
        assert_eq!(uri, "https://h:1/a.B/C?x");
    }
}
