//! CORS for the MCP endpoint, opt-in ([`HttpConfig::cors`]), so that MCP
//! clients running in a browser page (the MCP Inspector, web apps) on
//! another origin can use it.
//!
//! The policy is [`wirestate_http1::cors::CorsPolicy`], the one gRPC-Web
//! uses, with what MCP needs added ([`mcp_policy`]): the methods GET, POST
//! and DELETE; the request headers `Content-Type`, `Mcp-Session-Id`,
//! `MCP-Protocol-Version`, `Last-Event-ID`, `Authorization`, `Mcp-Method`
//! and `Mcp-Name` ([`ALLOW_HEADERS`]; and, unless switched off with
//! [`CorsPolicy::mirror_request_headers`], any other a preflight names, as
//! `Mcp-Param-*` headers are the application's); `Mcp-Session-Id` exposed
//! to the page ([`EXPOSE_HEADERS`]), without which a browser client could
//! not learn its session.
//!
//! With a policy, [`HttpServer::handle_request`] answers a preflight
//! (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) itself:
//! 204 with the `Access-Control-Allow-*` headers for an allowed origin
//! asking for an allowed method, 403 otherwise. Every other answer to a
//! request from an allowed origin — complete, streamed, or decided later
//! ([`HttpServer::poll_reply`]) — carries `Access-Control-Allow-Origin`
//! and `Access-Control-Expose-Headers`.
//!
//! **The two origin lists.** DNS-rebinding protection
//! ([`HttpConfig::origins`]) refuses requests whose `Origin` is not on its
//! list with 403, before anything else; CORS decides what a browser lets a
//! page of another origin send and read. An origin the CORS policy lets
//! in is served as if it were on the DNS-rebinding list too (listing it in
//! both would be the only sensible configuration anyway), so `--mcp-cors
//! https://inspector.example` is all a server needs; `*` lets every origin
//! in. The `Host` allow-list ([`HttpConfig::hosts`]) still applies to
//! every request, preflights included: that is what stops a rebound DNS
//! name, whatever the origin.
//!
//! [`HttpConfig::cors`]: super::HttpConfig::cors
//! [`HttpConfig::origins`]: super::HttpConfig::origins
//! [`HttpConfig::hosts`]: super::HttpConfig::hosts

use http::header::ORIGIN;
use http::request::Parts;
use http::{HeaderMap, Method};
use wirestate_http1::cors::CorsPolicy;

use super::{ExchangeId, HttpError, HttpServer, Reply, refusal};

/// Request headers an MCP client in a browser may send.
pub const ALLOW_HEADERS: [&str; 7] = [
    "content-type",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
    "authorization",
    "mcp-method",
    "mcp-name",
];

/// Response headers the page may read.
pub const EXPOSE_HEADERS: [&str; 1] = ["mcp-session-id"];

/// `policy` with what MCP clients need (see the
/// [module documentation](self)); applying it twice changes nothing.
pub fn mcp_policy(policy: CorsPolicy) -> CorsPolicy {
    policy.with_defaults(
        &[Method::GET, Method::POST, Method::DELETE],
        &ALLOW_HEADERS,
        &EXPOSE_HEADERS,
    )
}

impl HttpServer {
    /// With a policy, the answer to a CORS preflight (after the `Host`
    /// check, whose refusal it is otherwise); `None` for other requests.
    pub(super) fn cors_preflight(&mut self, head: &Parts) -> Option<Reply> {
        let policy = self.config.cors.as_ref()?;
        if !CorsPolicy::is_preflight(&head.method, &head.headers) {
            return None;
        }
        if let Err(e @ HttpError::HostNotAllowed { .. }) = self.check_origin(head) {
            let r = refusal(&e);
            self.events.push_back(super::HttpEvent::Refused(e));
            return Some(Reply::Full(r));
        }
        let (parts, ()) = policy.preflight(&head.headers).into_parts();
        Some(Reply::Full(http::Response::from_parts(
            parts,
            bytes::Bytes::new(),
        )))
    }

    /// Whether an `Origin` that DNS-rebinding protection refused is let
    /// in by the CORS policy (see the [module documentation](self)).
    pub(super) fn cors_allows(&self, head: &Parts) -> bool {
        match (&self.config.cors, head.headers.get(ORIGIN)) {
            (Some(policy), Some(origin)) => policy.allows_origin(origin),
            _ => false,
        }
    }

    /// Adds the CORS response headers to `reply` (a head decided later is
    /// decorated when [`HttpServer::poll_reply`] gives it).
    pub(super) fn cors_decorate(&mut self, head: &Parts, reply: &mut Reply) {
        let Some(policy) = &self.config.cors else {
            return;
        };
        match reply {
            Reply::Full(r) => policy.decorate(&head.headers, r.headers_mut()),
            Reply::Open { response, .. } => policy.decorate(&head.headers, response.headers_mut()),
            Reply::Deferred { exchange } => {
                if let Some(origin) = head.headers.get(ORIGIN) {
                    let mut h = HeaderMap::new();
                    h.insert(ORIGIN, origin.clone());
                    self.cors_later.insert(*exchange, h);
                }
            }
        }
    }

    /// Decorates a head [`HttpServer::poll_reply`] gives, if its request
    /// came with an `Origin`; forgets the exchange's origin when `reply`
    /// is `None` and `forget` is set (the exchange ended without one).
    pub(super) fn cors_decorate_later(
        &mut self,
        exchange: ExchangeId,
        reply: Option<&mut Reply>,
        forget: bool,
    ) {
        if self.cors_later.is_empty() {
            return;
        }
        let Some(reply) = reply else {
            if forget {
                self.cors_later.remove(&exchange);
            }
            return;
        };
        let (Some(policy), Some(request)) = (&self.config.cors, self.cors_later.remove(&exchange))
        else {
            return;
        };
        match reply {
            Reply::Full(r) => policy.decorate(&request, r.headers_mut()),
            Reply::Open { response, .. } => policy.decorate(&request, response.headers_mut()),
            Reply::Deferred { .. } => {}
        }
    }
}
