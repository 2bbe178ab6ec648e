//! Request and response heads over `http` types: building what a client
//! sends and a server answers, and checking what arrives.

use std::fmt;
use std::time::Duration;

use http::header::{CONTENT_TYPE, HeaderMap, HeaderValue, TE, USER_AGENT};
use http::uri::{Authority, PathAndQuery, Scheme, Uri};
use http::{Method, StatusCode, request, response};

use crate::Error;
use crate::compression::{Encoding, EncodingSet, GRPC_ACCEPT_ENCODING, GRPC_ENCODING};
use crate::metadata::{Metadata, decode_bin_value, is_bin_key, is_reserved_lower};
use crate::status::{GRPC_STATUS, Status};
use crate::timeout::{GRPC_TIMEOUT, format_timeout, parse_timeout};
use crate::web::WebMode;

/// Which gRPC wire format a content type names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireFormat {
    /// `application/grpc`: gRPC over HTTP/2.
    Grpc,
    /// `application/grpc-web`: gRPC-Web, binary.
    GrpcWeb,
    /// `application/grpc-web-text`: gRPC-Web, base64 text.
    GrpcWebText,
}

impl WireFormat {
    /// The media type without a subtype.
    pub const fn base(self) -> &'static str {
        match self {
            WireFormat::Grpc => "application/grpc",
            WireFormat::GrpcWeb => "application/grpc-web",
            WireFormat::GrpcWebText => "application/grpc-web-text",
        }
    }

    /// How a body in this format is framed: `None` for gRPC (messages,
    /// status in HTTP trailers), the gRPC-Web mode otherwise (what
    /// [`MessageReader`](crate::MessageReader) and
    /// [`WebDecoder`](crate::WebDecoder) take).
    ///
    /// ```
    /// use wirestate_grpc::{WebMode, WireFormat};
    /// assert_eq!(WireFormat::Grpc.web_mode(), None);
    /// assert_eq!(WireFormat::GrpcWebText.web_mode(), Some(WebMode::Text));
    /// ```
    pub const fn web_mode(self) -> Option<WebMode> {
        match self {
            WireFormat::Grpc => None,
            WireFormat::GrpcWeb => Some(WebMode::Binary),
            WireFormat::GrpcWebText => Some(WebMode::Text),
        }
    }
}

/// A gRPC content type: the wire format and the message format after `+`
/// (`proto`, `json`, …), if any.
///
/// ```
/// use wirestate_grpc::{ContentType, WireFormat};
/// let ct = ContentType::parse(b"application/grpc-web-text+proto").unwrap();
/// assert_eq!(ct.format, WireFormat::GrpcWebText);
/// assert_eq!(ct.subtype.as_deref(), Some("proto"));
/// assert_eq!(ContentType::parse(b"application/grpc; charset=utf-8").unwrap(), ContentType::grpc());
/// assert!(ContentType::parse(b"application/json").is_none());
/// assert!(ContentType::parse(b"application/grpcx").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContentType {
    /// The wire format.
    pub format: WireFormat,
    /// The message format after `+`, in lower case.
    pub subtype: Option<String>,
}

impl ContentType {
    /// `application/grpc`.
    pub fn grpc() -> ContentType {
        ContentType {
            format: WireFormat::Grpc,
            subtype: None,
        }
    }

    /// `application/grpc+proto`.
    pub fn grpc_proto() -> ContentType {
        ContentType {
            format: WireFormat::Grpc,
            subtype: Some("proto".into()),
        }
    }

    /// `application/grpc-web`, or `-text` for base64 bodies.
    pub fn web(text: bool) -> ContentType {
        ContentType {
            format: if text {
                WireFormat::GrpcWebText
            } else {
                WireFormat::GrpcWeb
            },
            subtype: None,
        }
    }

    /// Parses a content type that starts with `application/grpc`
    /// (case-insensitive), then optionally `-web` or `-web-text`, then
    /// optionally `+subtype`, then optionally `;parameters` (ignored).
    /// `None` for anything else.
    pub fn parse(value: &[u8]) -> Option<ContentType> {
        let value = value.trim_ascii();
        // Prefixes compared in place (no lowercased copy of the value: this
        // runs for every call).
        let (format, rest) = [
            WireFormat::GrpcWebText,
            WireFormat::GrpcWeb,
            WireFormat::Grpc,
        ]
        .into_iter()
        .find_map(|f| {
            let base = f.base().as_bytes();
            (value.len() >= base.len() && value[..base.len()].eq_ignore_ascii_case(base))
                .then(|| (f, &value[base.len()..]))
        })?;
        let (sub, _params) = match rest.iter().position(|&b| b == b';') {
            Some(i) => rest.split_at(i),
            None => (rest, &[][..]),
        };
        let sub = sub.trim_ascii_end();
        let subtype = match sub {
            [] => None,
            [b'+', name @ ..]
                if !name.is_empty()
                    && name
                        .iter()
                        .all(|&b| b.is_ascii_alphanumeric() || b"!#$&-^_.".contains(&b)) =>
            {
                Some(String::from_utf8_lossy(name).to_ascii_lowercase())
            }
            _ => return None,
        };
        Some(ContentType { format, subtype })
    }

    /// Reads the `content-type` of a head.
    pub fn from_headers(headers: &HeaderMap) -> Option<ContentType> {
        ContentType::parse(headers.get(CONTENT_TYPE)?.as_bytes())
    }

    /// The header value.
    pub fn to_header_value(&self) -> HeaderValue {
        match &self.subtype {
            // The common case as a static value: no allocation per call.
            None => HeaderValue::from_static(self.format.base()),
            Some(_) => HeaderValue::from_str(&self.to_string())
                .unwrap_or_else(|_| HeaderValue::from_static(self.format.base())),
        }
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.format.base())?;
        if let Some(sub) = &self.subtype {
            write!(f, "+{sub}")?;
        }
        Ok(())
    }
}

/// A method's `:path`: `/` service `/` method, case-sensitive.
///
/// ```
/// use wirestate_grpc::MethodPath;
/// let p = MethodPath::new("google.pubsub.v2.PublisherService", "CreateTopic").unwrap();
/// assert_eq!(p.as_str(), "/google.pubsub.v2.PublisherService/CreateTopic");
/// assert_eq!(MethodPath::parse("/pkg.Svc/Do").unwrap().method(), "Do");
/// assert!(MethodPath::parse("/pkg.Svc").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MethodPath {
    path: String,
    /// Index of the `/` between service and method.
    split: usize,
}

impl MethodPath {
    /// The path of `method` in `service` (a fully qualified name such as
    /// `pkg.Service`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPath`] if either is empty or holds a `/` or a byte
    /// not allowed in a URI path.
    pub fn new(service: &str, method: &str) -> Result<MethodPath, Error> {
        MethodPath::parse(&format!("/{service}/{method}"))
    }

    /// Parses a `:path`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPath`] (UNIMPLEMENTED) if it is not `/Service/Method`
    /// with both parts non-empty and valid in a URI path (no query).
    pub fn parse(path: &str) -> Result<MethodPath, Error> {
        let split = MethodPath::split(path)?;
        let pq = PathAndQuery::try_from(path).map_err(|_| Error::InvalidPath)?;
        if pq.query().is_some() || pq.path() != path {
            return Err(Error::InvalidPath);
        }
        Ok(MethodPath {
            path: path.to_owned(),
            split,
        })
    }

    /// The path of a request's URI: `http` already checked its bytes and
    /// split off any query, so only the `/Service/Method` shape is left to
    /// check (no second parse, and no copy, as [`parse`](Self::parse)
    /// makes).
    fn from_uri(uri: &Uri) -> Result<MethodPath, Error> {
        let path = uri.path();
        let split = MethodPath::split(path)?;
        Ok(MethodPath {
            path: path.to_owned(),
            split,
        })
    }

    /// Where the method starts in `path`, which must be `/Service/Method`
    /// with both parts non-empty.
    fn split(path: &str) -> Result<usize, Error> {
        let rest = path.strip_prefix('/').ok_or(Error::InvalidPath)?;
        let slash = rest.find('/').ok_or(Error::InvalidPath)?;
        let (service, method) = (&rest[..slash], &rest[slash + 1..]);
        if service.is_empty() || method.is_empty() || method.contains('/') {
            return Err(Error::InvalidPath);
        }
        Ok(slash + 1)
    }

    /// The whole path, `/Service/Method`.
    pub fn as_str(&self) -> &str {
        &self.path
    }

    /// The service name.
    pub fn service(&self) -> &str {
        &self.path[1..self.split]
    }

    /// The method name.
    pub fn method(&self) -> &str {
        &self.path[self.split + 1..]
    }
}

impl fmt::Display for MethodPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)
    }
}

/// The head of a gRPC request: what a client sends, and what a server
/// reads from a valid request.
///
/// ```
/// use std::time::Duration;
/// use wirestate_grpc::{Encoding, MethodPath, RequestHead};
///
/// let mut head = RequestHead::new(MethodPath::parse("/helloworld.Greeter/SayHello").unwrap());
/// head.timeout = Some(Duration::from_secs(1));
/// head.encoding = Encoding::Gzip;
/// head.metadata.insert("authorization", "Bearer t").unwrap();
/// let parts = head.to_request(Some(&"example.com".parse().unwrap()), true);
/// assert_eq!(parts.method, "POST");
/// assert_eq!(parts.uri, "https://example.com/helloworld.Greeter/SayHello");
/// assert_eq!(parts.headers["te"], "trailers");
/// assert_eq!(parts.headers["grpc-timeout"], "1000000u");
/// assert_eq!(parts.headers["content-type"], "application/grpc");
///
/// // The server side reads it back.
/// assert_eq!(RequestHead::from_request(&parts).unwrap(), head);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The method's `:path`.
    pub path: MethodPath,
    /// The content type (default `application/grpc`).
    pub content_type: ContentType,
    /// `grpc-timeout`, if any.
    pub timeout: Option<Duration>,
    /// `grpc-encoding`: how the request's flagged messages are compressed.
    pub encoding: Encoding,
    /// `grpc-accept-encoding`: what the response may be compressed with.
    pub accept_encoding: EncodingSet,
    /// `user-agent`, if any.
    pub user_agent: Option<HeaderValue>,
    /// Custom metadata.
    pub metadata: Metadata,
}

impl RequestHead {
    /// A request for `path` with `application/grpc`, no timeout, identity
    /// encoding, accepting every encoding this crate implements, and no
    /// metadata.
    pub fn new(path: MethodPath) -> RequestHead {
        RequestHead {
            path,
            content_type: ContentType::grpc(),
            timeout: None,
            encoding: Encoding::Identity,
            accept_encoding: EncodingSet::SUPPORTED,
            user_agent: None,
            metadata: Metadata::new(),
        }
    }

    /// The request head: `POST`, the URI (absolute with `authority`, over
    /// https when `tls`; the path alone without), then `te: trailers` (not
    /// for gRPC-Web, which browsers send without it), `grpc-timeout`,
    /// `content-type`, `grpc-encoding` (when not identity),
    /// `grpc-accept-encoding`, `user-agent`, and the metadata.
    pub fn to_request(&self, authority: Option<&Authority>, tls: bool) -> request::Parts {
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts.method = Method::POST;
        parts.uri = self.uri(authority, tls);
        let h = &mut parts.headers;
        if self.content_type.format == WireFormat::Grpc {
            h.insert(TE, HeaderValue::from_static("trailers"));
        }
        if let Some(t) = self.timeout {
            h.insert(GRPC_TIMEOUT, format_timeout(t));
        }
        h.insert(CONTENT_TYPE, self.content_type.to_header_value());
        if self.encoding != Encoding::Identity {
            h.insert(GRPC_ENCODING, self.encoding.to_header_value());
        }
        if let Some(v) = self.accept_encoding.to_header_value() {
            h.insert(GRPC_ACCEPT_ENCODING, v);
        }
        if let Some(ua) = &self.user_agent {
            h.insert(USER_AGENT, ua.clone());
        }
        self.metadata.append_to(h);
        parts
    }

    fn uri(&self, authority: Option<&Authority>, tls: bool) -> Uri {
        let pq = PathAndQuery::try_from(self.path.as_str()).ok();
        let mut b = Uri::builder();
        if let Some(a) = authority {
            b = b
                .scheme(if tls { Scheme::HTTPS } else { Scheme::HTTP })
                .authority(a.clone());
        }
        if let Some(pq) = pq {
            b = b.path_and_query(pq);
        }
        b.build().unwrap_or_default()
    }

    /// Checks a request head on the server side and reads it, in the
    /// order: method, content type, path, `grpc-timeout`, `grpc-encoding`,
    /// `-bin` metadata values. A missing `te` is tolerated. Reserved headers are left out of the
    /// metadata.
    ///
    /// # Errors
    ///
    /// [`Error::MethodNotAllowed`] (reply HTTP 405),
    /// [`Error::UnsupportedContentType`] (reply HTTP 415),
    /// [`Error::InvalidPath`] (UNIMPLEMENTED), [`Error::InvalidTimeout`]
    /// (INTERNAL), [`Error::UnsupportedEncoding`] (UNIMPLEMENTED, with
    /// `grpc-accept-encoding` listing ours), [`Error::InvalidBinaryValue`]
    /// for a `-bin` value that is not base64, padded or not (INTERNAL). [`error_response`] builds the
    /// reply for each.
    pub fn from_request(parts: &request::Parts) -> Result<RequestHead, Error> {
        if parts.method != Method::POST {
            return Err(Error::MethodNotAllowed);
        }
        // One walk over the fields, each sorted by its name, instead of a
        // hashed lookup per header read and a second walk for the
        // metadata: this runs for every call. First values win, as
        // `HeaderMap::get` would have it.
        let mut content_type = None;
        let mut timeout = None;
        let mut encoding = None;
        let mut accept_encoding = EncodingSet::EMPTY;
        let mut user_agent = None;
        let mut metadata = HeaderMap::new();
        let mut bad_bin = None;
        for (name, value) in &parts.headers {
            match name.as_str() {
                "content-type" => {
                    content_type.get_or_insert(value);
                }
                "grpc-timeout" => {
                    timeout.get_or_insert(value);
                }
                "grpc-encoding" => {
                    encoding.get_or_insert(value);
                }
                "grpc-accept-encoding" => {
                    accept_encoding = accept_encoding.union(EncodingSet::parse(value.as_bytes()));
                }
                "user-agent" => {
                    user_agent.get_or_insert(value);
                }
                key if !is_reserved_lower(key) => {
                    // A `-bin` value that is not base64 is malformed
                    // metadata: refused (INTERNAL, as grpc-go does) rather
                    // than handed on for the handler to trip over.
                    if bad_bin.is_none()
                        && is_bin_key(key)
                        && decode_bin_value(value.as_bytes()).is_err()
                    {
                        bad_bin = Some(Error::InvalidBinaryValue);
                    }
                    metadata.append(name.clone(), value.clone());
                }
                _ => {}
            }
        }
        let content_type = content_type
            .and_then(|v| ContentType::parse(v.as_bytes()))
            .ok_or(Error::UnsupportedContentType)?;
        let path = MethodPath::from_uri(&parts.uri)?;
        let timeout = match timeout {
            Some(v) => Some(parse_timeout(v.as_bytes())?),
            None => None,
        };
        let encoding = match encoding {
            Some(v) => Encoding::from_value(v)?,
            None => Encoding::Identity,
        };
        if let Some(e) = bad_bin {
            return Err(e);
        }
        Ok(RequestHead {
            path,
            content_type,
            timeout,
            encoding,
            accept_encoding,
            user_agent: user_agent.cloned(),
            metadata: Metadata::from_map(metadata),
        })
    }
}

/// The head of a gRPC response (before its messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The content type (default `application/grpc`).
    pub content_type: ContentType,
    /// `grpc-encoding`: how the response's flagged messages are compressed.
    pub encoding: Encoding,
    /// `grpc-accept-encoding`: what the server can decode.
    pub accept_encoding: EncodingSet,
    /// Custom metadata (initial metadata).
    pub metadata: Metadata,
}

impl Default for ResponseHead {
    fn default() -> Self {
        ResponseHead {
            content_type: ContentType::grpc(),
            encoding: Encoding::Identity,
            accept_encoding: EncodingSet::SUPPORTED,
            metadata: Metadata::new(),
        }
    }
}

/// How a response starts, as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseStart {
    /// A normal response: messages follow, then trailers.
    Head(ResponseHead),
    /// The call is over: a trailers-only response (whatever its status, OK
    /// included), or one that is not gRPC, with a status synthesized as
    /// the spec requires.
    End(Status),
}

impl ResponseHead {
    /// The response head: `:status 200`, `content-type`, `grpc-encoding`
    /// (when not identity), `grpc-accept-encoding`, and the metadata.
    pub fn to_response(&self) -> response::Parts {
        let (mut parts, ()) = http::Response::new(()).into_parts();
        let h = &mut parts.headers;
        h.insert(CONTENT_TYPE, self.content_type.to_header_value());
        if self.encoding != Encoding::Identity {
            h.insert(GRPC_ENCODING, self.encoding.to_header_value());
        }
        if let Some(v) = self.accept_encoding.to_header_value() {
            h.insert(GRPC_ACCEPT_ENCODING, v);
        }
        self.metadata.append_to(h);
        parts
    }

    /// How the body of this response to a gRPC-Web request is framed:
    /// the mode its content type names, binary for a server answering
    /// plain `application/grpc` over HTTP/1.1 (which can only mean the
    /// binary framing with the trailers frame).
    ///
    /// ```
    /// use wirestate_grpc::{ContentType, ResponseHead, WebMode};
    /// let mut head = ResponseHead::default();
    /// assert_eq!(head.web_mode(), WebMode::Binary);
    /// head.content_type = ContentType::web(true);
    /// assert_eq!(head.web_mode(), WebMode::Text);
    /// ```
    pub fn web_mode(&self) -> WebMode {
        self.content_type
            .format
            .web_mode()
            .unwrap_or(WebMode::Binary)
    }

    /// Reads a response head on the client side.
    ///
    /// * `grpc-status` present: a trailers-only response, whatever the
    ///   HTTP status (the spec says a present `grpc-status` must be used):
    ///   [`ResponseStart::End`] with it (or with INTERNAL/UNKNOWN if it is
    ///   malformed).
    /// * HTTP status other than 200: `End` with the status mapped from it
    ///   ([`Status::from_http_status`]).
    /// * a content type that is not gRPC: `End` with UNKNOWN.
    /// * a `grpc-encoding` this crate does not implement: `End` with
    ///   INTERNAL (the client cannot decode the messages).
    /// * otherwise [`ResponseStart::Head`].
    pub fn from_response(parts: &response::Parts) -> ResponseStart {
        let h = &parts.headers;
        if h.contains_key(GRPC_STATUS) {
            return ResponseStart::End(Status::from_trailers(h).unwrap_or_else(|e| e.to_status()));
        }
        if parts.status != StatusCode::OK {
            return ResponseStart::End(Status::from_http_status(parts.status));
        }
        let Some(content_type) = ContentType::from_headers(h) else {
            let got = h
                .get(CONTENT_TYPE)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default();
            return ResponseStart::End(Status::new(
                crate::Code::Unknown,
                format!("response content-type is not gRPC: {got:?}"),
            ));
        };
        let encoding = match Encoding::from_headers(h) {
            Ok(e) => e,
            Err(e) => return ResponseStart::End(Status::new(crate::Code::Internal, e.to_string())),
        };
        ResponseStart::Head(ResponseHead {
            content_type,
            encoding,
            accept_encoding: EncodingSet::from_headers(h),
            metadata: Metadata::from_headers(h),
        })
    }
}

/// A trailers-only response: `:status 200`, the content type, and the
/// status as headers (`grpc-status`, `grpc-message`,
/// `grpc-status-details-bin`, metadata). Sent with END_STREAM, no body.
pub fn trailers_only(status: &Status, content_type: &ContentType) -> response::Parts {
    let (mut parts, ()) = http::Response::new(()).into_parts();
    parts
        .headers
        .insert(CONTENT_TYPE, content_type.to_header_value());
    status.to_trailers(&mut parts.headers);
    parts
}

/// The reply to a request refused by [`RequestHead::from_request`] (or
/// any other error): HTTP 405 or 415 where the spec says so, else a
/// trailers-only 200, carrying the error's status either way; an
/// unsupported `grpc-encoding` also lists ours in `grpc-accept-encoding`.
///
/// ```
/// use wirestate_grpc::{Error, error_response};
/// let r = error_response(&Error::UnsupportedContentType);
/// assert_eq!(r.status, 415);
/// let r = error_response(&Error::UnsupportedEncoding { name: "br".into() });
/// assert_eq!(r.status, 200);
/// assert_eq!(r.headers["grpc-status"], "12"); // UNIMPLEMENTED
/// assert_eq!(r.headers["grpc-accept-encoding"], "gzip,deflate,identity");
/// ```
pub fn error_response(error: &Error) -> response::Parts {
    let mut parts = trailers_only(&error.to_status(), &ContentType::grpc());
    parts.status = error.http_status();
    if matches!(error, Error::UnsupportedEncoding { .. })
        && let Some(v) = EncodingSet::SUPPORTED.to_header_value()
    {
        parts.headers.insert(GRPC_ACCEPT_ENCODING, v);
    }
    parts
}
