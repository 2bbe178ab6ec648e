//! The opening handshake (RFC 6455 §4) as pure functions over `http` types.
//!
//! A client builds its upgrade request with [`ClientHandshake::request`] and
//! checks the answer with [`PendingHandshake::verify`]; a server recognises
//! an upgrade with [`is_upgrade_request`], answers it with [`accept`] (or
//! [`ServerHandshake::accept`]) and turns a refusal into a response with
//! [`reject_response`]. Both ends end up with the same [`Negotiated`]
//! subprotocol and permessage-deflate parameters.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::header::{
    self, CONNECTION, HOST, ORIGIN, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_EXTENSIONS,
    SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, Version,
};
use std::fmt;
use std::sync::Arc;
use wirestate_machine::{ClassifyError, Entropy, ErrorKind};

use crate::deflate::{DeflateConfig, DeflateParams, Extension, PERMESSAGE_DEFLATE, is_tchar};

/// The GUID RFC 6455 §1.3 appends to the key before hashing.
pub const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The only protocol version this crate speaks (RFC 6455 §4.1).
const VERSION: &str = "13";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: the base64 of the SHA-1
/// of the key (as sent, still base64) followed by [`WEBSOCKET_GUID`].
///
/// ```
/// use wirestate_ws::derive_accept_key;
///
/// assert_eq!(
///     derive_accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
///     "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
/// );
/// ```
pub fn derive_accept_key(key: &[u8]) -> String {
    let mut sha1 = sha1_smol::Sha1::new();
    sha1.update(key);
    sha1.update(WEBSOCKET_GUID.as_bytes());
    BASE64.encode(sha1.digest().bytes())
}

/// Why a handshake failed.
///
/// On the server, [`hint`](HandshakeError::hint) is the status to answer
/// with ([`reject_response`] builds the response); on the client, the
/// server's answer was not acceptable and the connection should be dropped
/// (no hint). Usage errors are the caller's mistakes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    // ---- the client's request (server side) ----
    /// The request method is not GET (405).
    #[error("WebSocket upgrade requires GET")]
    MethodNotGet,
    /// The request is older than HTTP/1.1 (400).
    #[error("WebSocket upgrade requires HTTP/1.1")]
    UnsupportedHttpVersion,
    /// The request has neither a Host header nor an authority (400).
    #[error("missing Host")]
    MissingHost,
    /// No `Upgrade: websocket` (400).
    #[error("missing Upgrade: websocket")]
    MissingUpgrade,
    /// No `upgrade` token in Connection (400).
    #[error("missing Connection: upgrade")]
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Version` missing or not 13 (426, answered with
    /// `Sec-WebSocket-Version: 13`).
    #[error("unsupported WebSocket version (only 13)")]
    UnsupportedWebSocketVersion,
    /// `Sec-WebSocket-Key` missing, repeated, or not the base64 of 16 bytes (400).
    #[error("missing or invalid Sec-WebSocket-Key")]
    InvalidKey,
    /// The origin policy refused the request's Origin (403).
    #[error("origin not allowed")]
    OriginNotAllowed,
    /// `Sec-WebSocket-Protocol` is not a list of tokens (400).
    #[error("malformed Sec-WebSocket-Protocol")]
    InvalidProtocolHeader,
    /// `Sec-WebSocket-Extensions` does not follow the grammar (400).
    #[error("malformed Sec-WebSocket-Extensions")]
    InvalidExtensionsHeader,

    // ---- the server's response (client side) ----
    /// The server's answer lacks `Upgrade: websocket` or Connection
    /// `upgrade`, or has a malformed `Sec-WebSocket-Protocol` (or more than
    /// one value) or `Sec-WebSocket-Extensions`.
    #[error("invalid handshake response: {0}")]
    InvalidResponse(&'static str),
    /// The server answered with a status other than 101.
    #[error("server answered {0} instead of 101")]
    BadStatus(u16),
    /// `Sec-WebSocket-Accept` missing, repeated or wrong.
    #[error("Sec-WebSocket-Accept does not match the key")]
    AcceptKeyMismatch,
    /// The server chose a subprotocol we did not offer.
    #[error("server chose subprotocol {0:?}, which was not offered")]
    UnofferedSubprotocol(String),
    /// The server accepted an extension we did not offer, or more than one
    /// permessage-deflate.
    #[error("server accepted extension {0:?}, which was not offered")]
    UnsupportedExtension(String),
    /// The server's permessage-deflate answer breaks RFC 7692 §7.1.
    #[error("invalid permessage-deflate answer: {0}")]
    InvalidExtensionResponse(&'static str),

    // ---- usage ----
    /// The URI is not `ws://` or `wss://` with a host.
    #[error("WebSocket URI needs ws:// or wss:// and a host")]
    InvalidUri,
    /// A subprotocol (offered by the client, or returned by a server's
    /// chooser) that is not a token, or a chooser's pick the client did not offer.
    #[error("invalid subprotocol {0:?}")]
    InvalidSubprotocol(String),
}

impl HandshakeError {
    /// Whose fault this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            HandshakeError::InvalidUri | HandshakeError::InvalidSubprotocol(_) => ErrorKind::Usage,
            _ => ErrorKind::Protocol,
        }
    }

    /// The status a server answers with; `None` for failures of the
    /// server's response (the client just closes) and for usage errors.
    pub fn hint(&self) -> Option<StatusCode> {
        use HandshakeError::*;
        Some(match self {
            MethodNotGet => StatusCode::METHOD_NOT_ALLOWED,
            UnsupportedWebSocketVersion => StatusCode::UPGRADE_REQUIRED,
            OriginNotAllowed => StatusCode::FORBIDDEN,
            UnsupportedHttpVersion
            | MissingHost
            | MissingUpgrade
            | MissingConnectionUpgrade
            | InvalidKey
            | InvalidProtocolHeader
            | InvalidExtensionsHeader => StatusCode::BAD_REQUEST,
            InvalidResponse(_)
            | BadStatus(_)
            | AcceptKeyMismatch
            | UnofferedSubprotocol(_)
            | UnsupportedExtension(_)
            | InvalidExtensionResponse(_)
            | InvalidUri
            | InvalidSubprotocol(_) => return None,
        })
    }
}

impl ClassifyError for HandshakeError {
    type Hint = StatusCode;
    fn kind(&self) -> ErrorKind {
        HandshakeError::kind(self)
    }
    fn hint(&self) -> Option<StatusCode> {
        HandshakeError::hint(self)
    }
}

/// What both ends agreed on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Negotiated {
    /// The subprotocol the server chose, if any.
    pub subprotocol: Option<String>,
    /// permessage-deflate parameters, if compression was agreed.
    pub deflate: Option<DeflateParams>,
}

// ---------------------------------------------------------------------------
// Header helpers
// ---------------------------------------------------------------------------

/// Every comma-separated element of every line of `name`, trimmed, empty
/// elements skipped.
fn list<'a>(headers: &'a HeaderMap, name: &HeaderName) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers
        .get_all(name)
        .into_iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    list(headers, name).any(|t| t.eq_ignore_ascii_case(token.as_bytes()))
}

/// The single value of `name`, if it appears exactly once.
fn single<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a HeaderValue> {
    let mut all = headers.get_all(name).into_iter();
    let first = all.next()?;
    all.next().is_none().then_some(first)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// The subprotocols of a `Sec-WebSocket-Protocol` list, in order.
fn protocols(headers: &HeaderMap) -> Result<Vec<&str>, HandshakeError> {
    list(headers, &SEC_WEBSOCKET_PROTOCOL)
        .map(|t| {
            std::str::from_utf8(t)
                .ok()
                .filter(|s| is_token(s))
                .ok_or(HandshakeError::InvalidProtocolHeader)
        })
        .collect()
}

fn extensions(headers: &HeaderMap) -> Result<Vec<Extension>, HandshakeError> {
    let mut all = Vec::new();
    for value in headers.get_all(SEC_WEBSOCKET_EXTENSIONS) {
        all.extend(
            Extension::parse_list(value.as_bytes())
                .map_err(|_| HandshakeError::InvalidExtensionsHeader)?,
        );
    }
    Ok(all)
}

// ---------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------

/// The client's side of the handshake: what to ask for.
///
/// ```
/// use http::HeaderValue;
/// use wirestate_ws::ClientHandshake;
///
/// let mut entropy = |buf: &mut [u8]| buf.fill(1);
/// let (request, _pending) = ClientHandshake::new("wss://example.com:8443/feed?x=1".parse().unwrap())
///     .protocols(["v2.feed", "v1.feed"])
///     .header(http::header::AUTHORIZATION, HeaderValue::from_static("Bearer t"))
///     .request(&mut entropy)
///     .unwrap();
/// assert_eq!(request.headers()["host"], "example.com:8443");
/// assert_eq!(request.headers()["sec-websocket-protocol"], "v2.feed, v1.feed");
/// assert_eq!(request.headers()["sec-websocket-key"], "AQEBAQEBAQEBAQEBAQEBAQ==");
/// ```
#[derive(Debug, Clone)]
pub struct ClientHandshake {
    uri: Uri,
    protocols: Vec<String>,
    deflate: Option<DeflateConfig>,
    headers: HeaderMap,
}

impl ClientHandshake {
    /// A handshake for `uri` (`ws://` or `wss://`, checked by
    /// [`request`](Self::request)), with no subprotocol and no compression.
    pub fn new(uri: Uri) -> Self {
        Self {
            uri,
            protocols: Vec::new(),
            deflate: None,
            headers: HeaderMap::new(),
        }
    }

    /// Offers a subprotocol (after those already offered: order is preference).
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocols.push(protocol.into());
        self
    }

    /// Offers several subprotocols, most preferred first.
    pub fn protocols<I: IntoIterator<Item = S>, S: Into<String>>(mut self, protocols: I) -> Self {
        self.protocols.extend(protocols.into_iter().map(Into::into));
        self
    }

    /// Offers permessage-deflate as `config` describes.
    pub fn deflate(mut self, config: DeflateConfig) -> Self {
        self.deflate = Some(config);
        self
    }

    /// Adds a header to the request (Origin, Authorization, cookies, …).
    /// The handshake's own headers (Upgrade, Connection, `Sec-WebSocket-*`,
    /// Host) are set by [`request`](Self::request) and win over these.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// The upgrade request (its URI is the full `ws://` URI; HTTP/1.1 sends
    /// the path and query), with a fresh 16-byte key from `entropy`, and the
    /// [`PendingHandshake`] that will check the server's answer.
    pub fn request(
        &self,
        entropy: &mut impl Entropy,
    ) -> Result<(Request<()>, PendingHandshake), HandshakeError> {
        let default_port = match self.uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("ws") => 80,
            Some(s) if s.eq_ignore_ascii_case("wss") => 443,
            _ => return Err(HandshakeError::InvalidUri),
        };
        let host = self
            .uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or(HandshakeError::InvalidUri)?;
        let host = match self.uri.port_u16() {
            Some(port) if port != default_port => format!("{host}:{port}"),
            _ => host.to_owned(),
        };
        let host = HeaderValue::try_from(host).map_err(|_| HandshakeError::InvalidUri)?;

        for p in &self.protocols {
            if !is_token(p) || self.protocols.iter().filter(|q| *q == p).count() > 1 {
                return Err(HandshakeError::InvalidSubprotocol(p.clone()));
            }
        }

        let mut raw = [0u8; 16];
        entropy.fill(&mut raw);
        let key = BASE64.encode(raw);
        let accept = derive_accept_key(key.as_bytes());

        let mut headers = self.headers.clone();
        headers.insert(HOST, host);
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(
            SEC_WEBSOCKET_KEY,
            HeaderValue::try_from(key).map_err(|_| HandshakeError::InvalidUri)?,
        );
        headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static(VERSION));
        headers.remove(SEC_WEBSOCKET_PROTOCOL);
        if !self.protocols.is_empty() {
            let joined = self.protocols.join(", ");
            // Tokens are visible ASCII.
            let value = HeaderValue::try_from(joined)
                .map_err(|_| HandshakeError::InvalidSubprotocol(self.protocols[0].clone()))?;
            headers.insert(SEC_WEBSOCKET_PROTOCOL, value);
        }
        if let Some(deflate) = &self.deflate {
            let value =
                HeaderValue::try_from(deflate.offer()).map_err(|_| HandshakeError::InvalidUri)?;
            headers.append(SEC_WEBSOCKET_EXTENSIONS, value);
        }

        let mut request = Request::new(());
        *request.method_mut() = Method::GET;
        *request.uri_mut() = self.uri.clone();
        *request.version_mut() = Version::HTTP_11;
        *request.headers_mut() = headers;
        Ok((
            request,
            PendingHandshake {
                accept,
                protocols: self.protocols.clone(),
                deflate: self.deflate.clone(),
            },
        ))
    }
}

/// A sent client handshake, waiting for the server's answer.
#[derive(Debug, Clone)]
pub struct PendingHandshake {
    accept: String,
    protocols: Vec<String>,
    deflate: Option<DeflateConfig>,
}

impl PendingHandshake {
    /// The `Sec-WebSocket-Accept` value the server must send.
    pub fn expected_accept(&self) -> &str {
        &self.accept
    }

    /// Checks the server's answer: 101, `Upgrade: websocket`, an `upgrade`
    /// token in Connection, the right `Sec-WebSocket-Accept`, a subprotocol we
    /// offered (or none), and only extensions we offered, with valid
    /// parameters.
    pub fn verify(&self, response: &http::response::Parts) -> Result<Negotiated, HandshakeError> {
        self.verify_head(response.status, &response.headers)
    }

    /// [`verify`](Self::verify) for a whole response.
    pub fn verify_response<B>(&self, response: &Response<B>) -> Result<Negotiated, HandshakeError> {
        self.verify_head(response.status(), response.headers())
    }

    fn verify_head(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> Result<Negotiated, HandshakeError> {
        if status != StatusCode::SWITCHING_PROTOCOLS {
            return Err(HandshakeError::BadStatus(status.as_u16()));
        }
        if !has_token(headers, &UPGRADE, "websocket") {
            return Err(HandshakeError::InvalidResponse(
                "missing Upgrade: websocket",
            ));
        }
        if !has_token(headers, &CONNECTION, "upgrade") {
            return Err(HandshakeError::InvalidResponse(
                "missing Connection: upgrade",
            ));
        }
        match single(headers, &SEC_WEBSOCKET_ACCEPT) {
            Some(v) if v.as_bytes() == self.accept.as_bytes() => {}
            _ => return Err(HandshakeError::AcceptKeyMismatch),
        }

        let chosen = protocols(headers)
            .map_err(|_| HandshakeError::InvalidResponse("malformed Sec-WebSocket-Protocol"))?;
        let subprotocol = match chosen.as_slice() {
            [] => None,
            [p] if self.protocols.iter().any(|q| q == p) => Some((*p).to_owned()),
            [p] => return Err(HandshakeError::UnofferedSubprotocol((*p).to_owned())),
            _ => return Err(HandshakeError::InvalidResponse("more than one subprotocol")),
        };

        let mut deflate = None;
        let answered = extensions(headers)
            .map_err(|_| HandshakeError::InvalidResponse("malformed Sec-WebSocket-Extensions"))?;
        for ext in answered {
            match &self.deflate {
                Some(config)
                    if deflate.is_none() && ext.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE) =>
                {
                    deflate = Some(config.verify(&ext)?);
                }
                _ => return Err(HandshakeError::UnsupportedExtension(ext.name)),
            }
        }
        Ok(Negotiated {
            subprotocol,
            deflate,
        })
    }
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

/// Decides whether an Origin header (if present) is allowed; see
/// [`OriginPolicy::Custom`].
pub type OriginCheck = Arc<dyn Fn(Option<&HeaderValue>) -> bool + Send + Sync>;

/// Which `Origin` values a server accepts (RFC 6455 §10.2). Browsers always
/// send Origin; other clients usually do not, and can forge it anyway, so it
/// guards against cross-site use from browsers, not against other clients.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum OriginPolicy {
    /// Accept any origin, or none.
    #[default]
    Any,
    /// Accept a request without Origin, or whose Origin equals one of these
    /// (ASCII case-insensitively), e.g. `https://example.com`.
    AllowList(Vec<String>),
    /// Ask a function, given the Origin header if present.
    Custom(OriginCheck),
}

impl fmt::Debug for OriginPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OriginPolicy::Any => f.write_str("Any"),
            OriginPolicy::AllowList(list) => f.debug_tuple("AllowList").field(list).finish(),
            OriginPolicy::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

impl OriginPolicy {
    /// Whether a request with this Origin header (if any) is accepted.
    pub fn allows(&self, origin: Option<&HeaderValue>) -> bool {
        match self {
            OriginPolicy::Any => true,
            OriginPolicy::AllowList(list) => origin.is_none_or(|o| {
                list.iter()
                    .any(|allowed| allowed.as_bytes().eq_ignore_ascii_case(o.as_bytes()))
            }),
            OriginPolicy::Custom(f) => f(origin),
        }
    }
}

/// Picks a subprotocol from the client's offer (in its order); see
/// [`ServerHandshake::protocol_chooser`].
pub type ProtocolChooser = Arc<dyn Fn(&[&str]) -> Option<String> + Send + Sync>;

/// The server's side of the handshake: what it accepts.
///
/// ```
/// use wirestate_ws::{OriginPolicy, ServerHandshake};
///
/// let server = ServerHandshake::new()
///     .protocols(["graphql-transport-ws"])
///     .origin(OriginPolicy::AllowList(vec!["https://app.example.com".into()]));
/// # let _ = server;
/// ```
#[derive(Clone, Default)]
pub struct ServerHandshake {
    protocols: Vec<String>,
    chooser: Option<ProtocolChooser>,
    origin: OriginPolicy,
    deflate: Option<DeflateConfig>,
    headers: HeaderMap,
}

impl fmt::Debug for ServerHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandshake")
            .field("protocols", &self.protocols)
            .field("chooser", &self.chooser.as_ref().map(|_| ".."))
            .field("origin", &self.origin)
            .field("deflate", &self.deflate)
            .field("headers", &self.headers)
            .finish()
    }
}

impl ServerHandshake {
    /// Accepts any origin, no subprotocol, no compression.
    pub fn new() -> Self {
        Self::default()
    }

    /// Subprotocols we support, most preferred first: the answer is the
    /// first of these the client offered (none if it offered none of them).
    pub fn protocols<I: IntoIterator<Item = S>, S: Into<String>>(mut self, protocols: I) -> Self {
        self.protocols.extend(protocols.into_iter().map(Into::into));
        self
    }

    /// Chooses the subprotocol with a function instead of the preference
    /// list; it gets the client's offer and must return one of them or `None`.
    pub fn protocol_chooser(
        mut self,
        chooser: impl Fn(&[&str]) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.chooser = Some(Arc::new(chooser));
        self
    }

    /// Sets the origin policy (default: any).
    pub fn origin(mut self, policy: OriginPolicy) -> Self {
        self.origin = policy;
        self
    }

    /// Accepts permessage-deflate as `config` describes.
    pub fn deflate(mut self, config: DeflateConfig) -> Self {
        self.deflate = Some(config);
        self
    }

    /// Adds a header to every 101 response (the handshake's own win).
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// Same as [`accept`].
    pub fn accept(
        &self,
        request: &http::request::Parts,
    ) -> Result<(Response<()>, Negotiated), HandshakeError> {
        accept(request, self)
    }
}

/// Whether `request` asks for a WebSocket: GET with `Upgrade: websocket` and
/// an `upgrade` token in Connection. A cheap routing test; [`accept`] checks
/// the rest.
pub fn is_upgrade_request(request: &http::request::Parts) -> bool {
    is_upgrade(&request.method, &request.headers)
}

/// [`is_upgrade_request`] for a request's method and headers, as any
/// request type holds them (`Request<B>` of any body, a head being routed).
pub fn is_upgrade(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::GET
        && has_token(headers, &UPGRADE, "websocket")
        && has_token(headers, &CONNECTION, "upgrade")
}

/// Answers a client's opening handshake (RFC 6455 §4.2): the `101` response
/// to send and what was agreed, or the reason to refuse (see
/// [`reject_response`]).
///
/// Checks, in order: GET, HTTP/1.1 or later, Host, `Upgrade: websocket`,
/// Connection `upgrade`, `Sec-WebSocket-Version: 13`, a `Sec-WebSocket-Key`
/// of 16 bytes, the origin policy; then picks a subprotocol and a
/// permessage-deflate offer (unknown extensions are ignored).
///
/// A whole handshake, both ends:
///
/// ```
/// use wirestate_ws::{ClientHandshake, DeflateConfig, ServerHandshake};
///
/// // Client: the request to send, and what will check the answer.
/// let mut entropy = |buf: &mut [u8]| buf.fill(7); // use a real RNG
/// let (request, pending) = ClientHandshake::new("ws://example.com/chat".parse().unwrap())
///     .protocol("chat.v2")
///     .deflate(DeflateConfig::default())
///     .request(&mut entropy)
///     .unwrap();
///
/// // Server: answer it.
/// let server = ServerHandshake::new()
///     .protocols(["chat.v3", "chat.v2"])
///     .deflate(DeflateConfig::default());
/// let (parts, ()) = request.into_parts();
/// let (response, on_server) = server.accept(&parts).unwrap();
///
/// // Client: verify the answer.
/// let (parts, ()) = response.into_parts();
/// let on_client = pending.verify(&parts).unwrap();
/// assert_eq!(on_client, on_server);
/// assert_eq!(on_client.subprotocol.as_deref(), Some("chat.v2"));
/// assert!(on_client.deflate.is_some());
/// ```
pub fn accept(
    request: &http::request::Parts,
    config: &ServerHandshake,
) -> Result<(Response<()>, Negotiated), HandshakeError> {
    let headers = &request.headers;
    if request.method != Method::GET {
        return Err(HandshakeError::MethodNotGet);
    }
    if matches!(request.version, Version::HTTP_09 | Version::HTTP_10) {
        return Err(HandshakeError::UnsupportedHttpVersion);
    }
    if single(headers, &HOST).is_none() && request.uri.authority().is_none() {
        return Err(HandshakeError::MissingHost);
    }
    if !has_token(headers, &UPGRADE, "websocket") {
        return Err(HandshakeError::MissingUpgrade);
    }
    if !has_token(headers, &CONNECTION, "upgrade") {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    // Before the key: a client of an older draft gets 426 and the version
    // to retry with.
    match single(headers, &SEC_WEBSOCKET_VERSION) {
        Some(v) if v.as_bytes().trim_ascii() == VERSION.as_bytes() => {}
        _ => return Err(HandshakeError::UnsupportedWebSocketVersion),
    }
    let key = single(headers, &SEC_WEBSOCKET_KEY).ok_or(HandshakeError::InvalidKey)?;
    let key = key.as_bytes().trim_ascii();
    // 24 characters, padded: exactly the encoding of 16 bytes.
    if key.len() != 24 || BASE64.decode(key).map_or(true, |k| k.len() != 16) {
        return Err(HandshakeError::InvalidKey);
    }
    // Several Origin lines are never legitimate (RFC 6454 §7.3).
    let mut origins = headers.get_all(ORIGIN).iter();
    let origin = origins.next();
    if origins.next().is_some() || !config.origin.allows(origin) {
        return Err(HandshakeError::OriginNotAllowed);
    }

    let offered = protocols(headers)?;
    let subprotocol = match &config.chooser {
        Some(choose) if !offered.is_empty() => match choose(&offered) {
            Some(p) if offered.contains(&p.as_str()) => Some(p),
            Some(p) => return Err(HandshakeError::InvalidSubprotocol(p)),
            None => None,
        },
        _ => config
            .protocols
            .iter()
            .find(|p| offered.contains(&p.as_str()))
            .cloned(),
    };

    let offers = extensions(headers)?;
    let deflate = config.deflate.as_ref().and_then(|d| d.accept(&offers));

    let mut out = config.headers.clone();
    out.insert(UPGRADE, HeaderValue::from_static("websocket"));
    out.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    out.remove(SEC_WEBSOCKET_PROTOCOL);
    out.remove(SEC_WEBSOCKET_EXTENSIONS);
    // Base64 is visible ASCII.
    if let Ok(v) = HeaderValue::try_from(derive_accept_key(key)) {
        out.insert(SEC_WEBSOCKET_ACCEPT, v);
    }
    if let Some(p) = &subprotocol {
        // A token the client sent: visible ASCII.
        if let Ok(v) = HeaderValue::try_from(p.as_str()) {
            out.insert(SEC_WEBSOCKET_PROTOCOL, v);
        }
    }
    let deflate = match deflate {
        Some((params, answer)) => {
            // Tokens and numbers only.
            if let Ok(v) = HeaderValue::try_from(answer) {
                out.insert(SEC_WEBSOCKET_EXTENSIONS, v);
            }
            Some(params)
        }
        None => None,
    };
    let mut response = Response::new(());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *response.headers_mut() = out;
    Ok((
        response,
        Negotiated {
            subprotocol,
            deflate,
        },
    ))
}

/// The response refusing a handshake that failed with `error`: its
/// [`hint`](HandshakeError::hint) status (500 when there is none), with
/// `Sec-WebSocket-Version: 13` on 426 and `Allow: GET` on 405. No body and
/// no framing headers: the HTTP/1.1 layer adds those.
///
/// ```
/// use wirestate_ws::{HandshakeError, reject_response};
///
/// let response = reject_response(&HandshakeError::UnsupportedWebSocketVersion);
/// assert_eq!(response.status(), 426);
/// assert_eq!(response.headers()["sec-websocket-version"], "13");
/// ```
pub fn reject_response(error: &HandshakeError) -> Response<()> {
    let status = error.hint().unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::new(());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    match status {
        StatusCode::UPGRADE_REQUIRED => {
            headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static(VERSION));
            headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
            headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        }
        StatusCode::METHOD_NOT_ALLOWED => {
            headers.insert(header::ALLOW, HeaderValue::from_static("GET"));
        }
        _ => {}
    }
    response
}
