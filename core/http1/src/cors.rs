//! CORS, sans-IO: the decisions a server makes about a browser's
//! cross-origin requests, shared by every protocol that browsers call
//! (gRPC-Web in `wirestate-grpc`, MCP's Streamable HTTP in
//! `wirestate-mcp`) and by every runtime.
//!
//! A page served from another origin first sends a preflight (`OPTIONS`
//! with `Origin` and `Access-Control-Request-Method`) for any request with
//! a non-simple content type or custom headers; only when the answer
//! allows the origin, the method and the headers does the browser send
//! the request, and it then lets the page read only the response headers
//! that the response lists in `Access-Control-Expose-Headers`.
//!
//! A [`CorsPolicy`] answers preflights ([`CorsPolicy::preflight`]: 204
//! with the `Access-Control-Allow-*` headers for an allowed origin asking
//! for an allowed method, 403 without any of them otherwise) and decorates
//! actual responses ([`CorsPolicy::decorate`]: `Access-Control-Allow-Origin`
//! and `Access-Control-Expose-Headers` for an allowed origin, nothing for
//! others). It is opt-in: a server without one sends no CORS header. A
//! policy knows no protocol: the protocol crates add what theirs needs
//! (methods, request headers, response headers to expose) with
//! [`CorsPolicy::with_defaults`].

use std::time::Duration;

use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, HeaderMap, HeaderName, HeaderValue, ORIGIN, VARY,
};
use http::{Method, Response, StatusCode};

/// Which origins a [`CorsPolicy`] lets in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AllowedOrigins {
    /// Every origin (`Access-Control-Allow-Origin: *`).
    Any,
    /// Exactly these origins (`scheme://host[:port]`, compared
    /// byte for byte as browsers send them).
    List(Vec<HeaderValue>),
}

/// A CORS policy for a server's browser-facing endpoint. See the
/// [module documentation](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsPolicy {
    origins: AllowedOrigins,
    allow_methods: Vec<Method>,
    allow_headers: Vec<HeaderName>,
    mirror_request_headers: bool,
    expose_headers: Vec<HeaderName>,
    expose_response_headers: bool,
    max_age: Option<Duration>,
}

impl CorsPolicy {
    /// A policy letting in every origin.
    pub fn any_origin() -> Self {
        Self::with(AllowedOrigins::Any)
    }

    /// A policy letting in exactly these origins; a value that is not a
    /// valid header value is ignored (no browser could send it). Each is
    /// taken in lowercase without a trailing `/`, as browsers serialize an
    /// origin (`HTTPS://App.Example/` matches `https://app.example`).
    pub fn origins<I, S>(origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let list = origins
            .into_iter()
            .filter_map(|o| {
                HeaderValue::from_str(&o.as_ref().trim_end_matches('/').to_ascii_lowercase()).ok()
            })
            .collect();
        Self::with(AllowedOrigins::List(list))
    }

    /// Nothing allowed yet but the origins: no method, no header (the
    /// protocol's [`with_defaults`](Self::with_defaults) adds them).
    fn with(origins: AllowedOrigins) -> Self {
        Self {
            origins,
            allow_methods: Vec::new(),
            allow_headers: Vec::new(),
            mirror_request_headers: true,
            expose_headers: Vec::new(),
            expose_response_headers: false,
            max_age: Some(Duration::from_secs(24 * 60 * 60)),
        }
    }

    /// Adds what a protocol's requests need: its `methods`, the request
    /// headers its clients send (`allow`), the response headers its pages
    /// read (`expose`). Already present entries are not repeated, so
    /// applying a protocol's defaults twice changes nothing.
    pub fn with_defaults(mut self, methods: &[Method], allow: &[&str], expose: &[&str]) -> Self {
        for m in methods {
            self = self.allow_method(m.clone());
        }
        for name in allow
            .iter()
            .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok())
        {
            self = self.allow_header(name);
        }
        for name in expose
            .iter()
            .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok())
        {
            self = self.expose_header(name);
        }
        self
    }

    /// Also allows this method in preflights.
    pub fn allow_method(mut self, method: Method) -> Self {
        if !self.allow_methods.contains(&method) {
            self.allow_methods.push(method);
        }
        self
    }

    /// Whether the response's own non-standard headers (gRPC's initial
    /// metadata) are exposed too, beyond the listed ones (default
    /// `false`).
    pub fn expose_response_headers(mut self, expose: bool) -> Self {
        self.expose_response_headers = expose;
        self
    }

    /// Whether `origin` (an `Origin` header value) is let in.
    pub fn allows_origin(&self, origin: &HeaderValue) -> bool {
        match &self.origins {
            AllowedOrigins::Any => true,
            AllowedOrigins::List(list) => list.contains(origin),
        }
    }

    /// Also allows this request header (for gRPC, a metadata key).
    pub fn allow_header(mut self, name: HeaderName) -> Self {
        if !self.allow_headers.contains(&name) {
            self.allow_headers.push(name);
        }
        self
    }

    /// Whether a preflight may ask for any request header, as gRPC call
    /// metadata keys and MCP's `Mcp-Param-*` headers are the
    /// application's (default `true`): the answer
    /// then allows the listed headers and the ones the preflight names.
    /// With `false`, only the listed headers are allowed.
    pub fn mirror_request_headers(mut self, mirror: bool) -> Self {
        self.mirror_request_headers = mirror;
        self
    }

    /// Also exposes this response header to the page.
    pub fn expose_header(mut self, name: HeaderName) -> Self {
        if !self.expose_headers.contains(&name) {
            self.expose_headers.push(name);
        }
        self
    }

    /// How long a browser may cache a preflight answer (`None`: no
    /// `Access-Control-Max-Age`). Default 24 hours.
    pub fn max_age(mut self, max_age: Option<Duration>) -> Self {
        self.max_age = max_age;
        self
    }

    /// The origins let in.
    pub fn allowed_origins(&self) -> &AllowedOrigins {
        &self.origins
    }

    /// Whether a request is a CORS preflight: `OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`. A combined HTTP handler routes
    /// these to the endpoint of the path they name.
    pub fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
        method == Method::OPTIONS
            && headers.contains_key(ORIGIN)
            && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD)
    }

    /// The `Access-Control-Allow-Origin` value for a request's `Origin`,
    /// or `None` when it is missing or not let in.
    fn allow_origin(&self, request: &HeaderMap) -> Option<HeaderValue> {
        let origin = request.get(ORIGIN)?;
        match &self.origins {
            AllowedOrigins::Any => Some(HeaderValue::from_static("*")),
            AllowedOrigins::List(_) => self.allows_origin(origin).then(|| origin.clone()),
        }
    }

    /// `Vary: Origin` when the answer depends on the origin, so that a
    /// shared cache does not serve one origin's answer to another.
    fn vary(&self, response: &mut HeaderMap) {
        if matches!(self.origins, AllowedOrigins::List(_)) {
            response.append(VARY, HeaderValue::from_static("origin"));
        }
    }

    /// The answer to a preflight (see [`is_preflight`](Self::is_preflight)):
    /// 204 with `Access-Control-Allow-Origin`, `-Methods` (the allowed
    /// ones), `-Headers` and `-Max-Age` when the origin is let in and asks
    /// for an allowed method; 403 without any CORS header otherwise, which
    /// the browser reports as a failed preflight.
    pub fn preflight(&self, request: &HeaderMap) -> Response<()> {
        let mut response = Response::new(());
        self.vary(response.headers_mut());
        let method_ok = request.get(ACCESS_CONTROL_REQUEST_METHOD).is_some_and(|m| {
            self.allow_methods
                .iter()
                .any(|a| a.as_str().as_bytes() == m.as_bytes())
        });
        let Some(origin) = self.allow_origin(request).filter(|_| method_ok) else {
            *response.status_mut() = StatusCode::FORBIDDEN;
            return response;
        };
        *response.status_mut() = StatusCode::NO_CONTENT;
        let h = response.headers_mut();
        h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        let methods: Vec<&str> = self.allow_methods.iter().map(Method::as_str).collect();
        if let Ok(v) = HeaderValue::from_str(&methods.join(", ")) {
            h.insert(ACCESS_CONTROL_ALLOW_METHODS, v);
        }
        let mut allowed: Vec<String> = self
            .allow_headers
            .iter()
            .map(|n| n.as_str().to_owned())
            .collect();
        if self.mirror_request_headers {
            for value in request.get_all(ACCESS_CONTROL_REQUEST_HEADERS) {
                let Ok(text) = value.to_str() else { continue };
                for name in text.split(',').map(str::trim) {
                    // Only names that are valid headers, lowercased as
                    // HTTP/2 and the metadata API use them.
                    if let Ok(name) = HeaderName::from_bytes(name.as_bytes())
                        && !allowed.iter().any(|a| a == name.as_str())
                    {
                        allowed.push(name.as_str().to_owned());
                    }
                }
            }
        }
        if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
            h.insert(ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
        if let Some(age) = self.max_age {
            h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from(age.as_secs()));
        }
        response
    }

    /// Adds `Access-Control-Allow-Origin` and `Access-Control-Expose-Headers`
    /// (the listed headers, and with
    /// [`expose_response_headers`](Self::expose_response_headers) the
    /// response's own non-standard ones) to the response of an actual
    /// request from an allowed origin; leaves other responses as they are
    /// (but for `Vary`).
    pub fn decorate(&self, request: &HeaderMap, response: &mut HeaderMap) {
        self.vary(response);
        let Some(origin) = self.allow_origin(request) else {
            return;
        };
        let mut exposed: Vec<&str> = self.expose_headers.iter().map(HeaderName::as_str).collect();
        for name in response.keys().filter(|_| self.expose_response_headers) {
            if !safelisted(name) && !exposed.contains(&name.as_str()) {
                exposed.push(name.as_str());
            }
        }
        let exposed = exposed.join(", ");
        response.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        if exposed.is_empty() {
            return;
        }
        if let Ok(v) = HeaderValue::from_str(&exposed) {
            response.insert(ACCESS_CONTROL_EXPOSE_HEADERS, v);
        }
    }
}

/// Response headers a page reads without their being exposed (the
/// CORS-safelisted ones), and headers that are no metadata.
fn safelisted(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "cache-control"
            | "content-language"
            | "content-length"
            | "content-type"
            | "expires"
            | "last-modified"
            | "pragma"
            | "vary"
            | "date"
            | "transfer-encoding"
            | "connection"
    ) || name.as_str().starts_with("access-control-")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(*n, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn preflight(origin: &str, method: &str) -> HeaderMap {
        req(&[
            ("origin", origin),
            ("access-control-request-method", method),
            ("access-control-request-headers", "content-type,x-custom"),
        ])
    }

    #[test]
    fn a_policy_allows_only_the_methods_and_headers_it_was_given() {
        let bare = CorsPolicy::origins(["https://app.example"]);
        assert_eq!(
            bare.preflight(&preflight("https://app.example", "POST"))
                .status(),
            StatusCode::FORBIDDEN,
            "no method allowed yet"
        );
        let p = bare
            .with_defaults(&[Method::GET, Method::POST], &["content-type"], &["x-id"])
            .with_defaults(&[Method::POST], &["content-type"], &["x-id"])
            .mirror_request_headers(false);
        let r = p.preflight(&preflight("https://app.example", "GET"));
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(r.headers()[ACCESS_CONTROL_ALLOW_METHODS], "GET, POST");
        assert_eq!(r.headers()[ACCESS_CONTROL_ALLOW_HEADERS], "content-type");
        let r = p.preflight(&preflight("https://app.example", "DELETE"));
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let mut response = req(&[("x-id", "1"), ("x-other", "2")]);
        p.decorate(&req(&[("origin", "https://app.example")]), &mut response);
        assert_eq!(response[ACCESS_CONTROL_EXPOSE_HEADERS], "x-id");
        assert!(p.allows_origin(&HeaderValue::from_static("https://app.example")));
        assert!(!p.allows_origin(&HeaderValue::from_static("https://evil.example")));
    }

    #[test]
    fn nothing_to_expose_sends_no_expose_header() {
        let p = CorsPolicy::any_origin().allow_method(Method::POST);
        let mut response = req(&[("x-id", "1")]);
        p.decorate(&req(&[("origin", "https://a.example")]), &mut response);
        assert_eq!(response[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(!response.contains_key(ACCESS_CONTROL_EXPOSE_HEADERS));
        let p = p.expose_response_headers(true);
        let mut response = req(&[("x-id", "1"), ("content-type", "a/b")]);
        p.decorate(&req(&[("origin", "https://a.example")]), &mut response);
        assert_eq!(response[ACCESS_CONTROL_EXPOSE_HEADERS], "x-id");
    }
}
