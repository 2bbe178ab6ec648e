//! CORS for gRPC-Web, sans-IO: the decisions a server makes about a
//! browser's cross-origin calls, shared by every runtime.
//!
//! Browsers are the main users of gRPC-Web. A page served from another
//! origin first sends a preflight (`OPTIONS` with `Origin` and
//! `Access-Control-Request-Method`), because a gRPC-Web call has a
//! non-simple content type and custom headers; only when the answer allows
//! the origin, the method and the headers does the browser send the call,
//! and it then lets the page read only the response headers that the
//! response lists in `Access-Control-Expose-Headers` (the status travels in
//! a trailers frame in the body, but `grpc-status` / `grpc-message` also
//! appear as headers in trailers-only answers).
//!
//! A [`CorsPolicy`] answers preflights ([`CorsPolicy::preflight`]: 204 with
//! the `Access-Control-Allow-*` headers for an allowed origin, 403 without
//! any of them otherwise) and decorates actual responses
//! ([`CorsPolicy::decorate`]: `Access-Control-Allow-Origin` and
//! `Access-Control-Expose-Headers` for an allowed origin, nothing for
//! others). It is opt-in: a server without one sends no CORS header.

use std::time::Duration;

use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, HeaderMap, HeaderName, HeaderValue, ORIGIN, VARY,
};
use http::{Method, Response, StatusCode};

/// Request headers a gRPC-Web call always may carry.
pub const DEFAULT_ALLOW_HEADERS: [&str; 6] = [
    "content-type",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
    "grpc-encoding",
    "grpc-accept-encoding",
];

/// Response headers a page always may read.
pub const DEFAULT_EXPOSE_HEADERS: [&str; 3] =
    ["grpc-status", "grpc-message", "grpc-status-details-bin"];

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

/// A CORS policy for the gRPC-Web path of a server. See the
/// [module documentation](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsPolicy {
    origins: AllowedOrigins,
    allow_headers: Vec<HeaderName>,
    mirror_request_headers: bool,
    expose_headers: Vec<HeaderName>,
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

    fn with(origins: AllowedOrigins) -> Self {
        Self {
            origins,
            allow_headers: DEFAULT_ALLOW_HEADERS
                .iter()
                .map(|h| HeaderName::from_static(h))
                .collect(),
            mirror_request_headers: true,
            expose_headers: DEFAULT_EXPOSE_HEADERS
                .iter()
                .map(|h| HeaderName::from_static(h))
                .collect(),
            max_age: Some(Duration::from_secs(24 * 60 * 60)),
        }
    }

    /// Also allows this request header (a metadata key).
    pub fn allow_header(mut self, name: HeaderName) -> Self {
        if !self.allow_headers.contains(&name) {
            self.allow_headers.push(name);
        }
        self
    }

    /// Whether a preflight may ask for any request header, as call
    /// metadata keys are the application's (default `true`): the answer
    /// then allows the listed headers and the ones the preflight names.
    /// With `false`, only the listed headers are allowed.
    pub fn mirror_request_headers(mut self, mirror: bool) -> Self {
        self.mirror_request_headers = mirror;
        self
    }

    /// Also exposes this response header to the page. The response's own
    /// non-standard headers (its initial metadata) are always exposed.
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
    /// these to the gRPC server when it has a policy.
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
            AllowedOrigins::List(list) => list.contains(origin).then(|| origin.clone()),
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
    /// 204 with `Access-Control-Allow-Origin`, `-Methods` (POST, the only
    /// method of gRPC-Web), `-Headers` and `-Max-Age` when the origin is let
    /// in and asks for POST; 403 without any CORS header otherwise, which
    /// the browser reports as a failed preflight.
    pub fn preflight(&self, request: &HeaderMap) -> Response<()> {
        let mut response = Response::new(());
        self.vary(response.headers_mut());
        let post = request
            .get(ACCESS_CONTROL_REQUEST_METHOD)
            .is_some_and(|m| m.as_bytes() == b"POST");
        let Some(origin) = self.allow_origin(request).filter(|_| post) else {
            *response.status_mut() = StatusCode::FORBIDDEN;
            return response;
        };
        *response.status_mut() = StatusCode::NO_CONTENT;
        let h = response.headers_mut();
        h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("POST"),
        );
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
    /// (the gRPC status headers, the listed ones, and the response's own
    /// metadata headers) to the response of an actual call from an allowed
    /// origin; leaves other responses as they are (but for `Vary`).
    pub fn decorate(&self, request: &HeaderMap, response: &mut HeaderMap) {
        self.vary(response);
        let Some(origin) = self.allow_origin(request) else {
            return;
        };
        let mut exposed: Vec<&str> = self.expose_headers.iter().map(HeaderName::as_str).collect();
        for name in response.keys() {
            if !safelisted(name) && !exposed.contains(&name.as_str()) {
                exposed.push(name.as_str());
            }
        }
        let exposed = exposed.join(", ");
        response.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
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

    fn preflight_of(origin: &str) -> HeaderMap {
        req(&[
            ("origin", origin),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "content-type,x-grpc-web,x-user-agent,x-my-key",
            ),
        ])
    }

    #[test]
    fn preflight_from_an_allowed_origin_is_answered_204() {
        let p = CorsPolicy::origins(["https://app.example"]);
        let r = p.preflight(&preflight_of("https://app.example"));
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let h = r.headers();
        assert_eq!(h[ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example");
        assert_eq!(h[ACCESS_CONTROL_ALLOW_METHODS], "POST");
        let allowed = h[ACCESS_CONTROL_ALLOW_HEADERS].to_str().unwrap();
        for name in ["content-type", "x-grpc-web", "grpc-timeout", "x-my-key"] {
            assert!(
                allowed.split(", ").any(|a| a == name),
                "{name} in {allowed}"
            );
        }
        assert_eq!(h[ACCESS_CONTROL_MAX_AGE], "86400");
        assert_eq!(h[VARY], "origin");
        assert!(CorsPolicy::is_preflight(
            &Method::OPTIONS,
            &preflight_of("https://x")
        ));
        assert!(!CorsPolicy::is_preflight(
            &Method::POST,
            &preflight_of("https://x")
        ));
    }

    #[test]
    fn configured_origins_match_as_browsers_serialize_them() {
        // Browsers send the origin's scheme and host in lowercase; a policy
        // given "https://App.Example:8443" refused every real preflight.
        let p = CorsPolicy::origins(["HTTPS://App.Example:8443"]);
        let r = p.preflight(&preflight_of("https://app.example:8443"));
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            r.headers()[ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://app.example:8443"
        );
    }

    #[test]
    fn preflight_from_another_origin_or_method_is_refused_bare() {
        let p = CorsPolicy::origins(["https://app.example"]);
        let r = p.preflight(&preflight_of("https://evil.example"));
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(
            !r.headers()
                .keys()
                .any(|k| k.as_str().starts_with("access-control-"))
        );
        let mut get = preflight_of("https://app.example");
        get.insert(
            ACCESS_CONTROL_REQUEST_METHOD,
            HeaderValue::from_static("GET"),
        );
        assert_eq!(p.preflight(&get).status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn listed_headers_only_when_not_mirroring() {
        let p = CorsPolicy::any_origin()
            .mirror_request_headers(false)
            .allow_header(HeaderName::from_static("x-token"))
            .max_age(None);
        let r = p.preflight(&preflight_of("https://a.example"));
        assert_eq!(r.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        let allowed = r.headers()[ACCESS_CONTROL_ALLOW_HEADERS].to_str().unwrap();
        assert!(allowed.contains("x-token") && !allowed.contains("x-my-key"));
        assert!(!r.headers().contains_key(ACCESS_CONTROL_MAX_AGE));
        assert!(!r.headers().contains_key(VARY));
    }

    #[test]
    fn actual_responses_get_origin_and_exposed_headers_only_when_allowed() {
        let p = CorsPolicy::origins(["https://app.example/"]);
        let mut response = req(&[
            ("content-type", "application/grpc-web+proto"),
            ("x-initial", "1"),
        ]);
        p.decorate(&req(&[("origin", "https://app.example")]), &mut response);
        assert_eq!(response[ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example");
        let exposed = response[ACCESS_CONTROL_EXPOSE_HEADERS].to_str().unwrap();
        assert_eq!(
            exposed,
            "grpc-status, grpc-message, grpc-status-details-bin, x-initial"
        );

        let mut other = req(&[("content-type", "application/grpc-web+proto")]);
        p.decorate(&req(&[("origin", "https://evil.example")]), &mut other);
        assert!(!other.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
        assert!(!other.contains_key(ACCESS_CONTROL_EXPOSE_HEADERS));
        let mut none = HeaderMap::new();
        p.decorate(&HeaderMap::new(), &mut none);
        assert!(!none.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN));
    }
}
