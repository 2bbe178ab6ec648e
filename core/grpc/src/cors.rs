//! CORS for gRPC-Web: what a [`CorsPolicy`] (the one of
//! [`wirestate_http1::cors`], shared with MCP's) must allow for browsers'
//! gRPC-Web calls, shared by every runtime.
//!
//! Browsers are the main users of gRPC-Web. A page served from another
//! origin first sends a preflight, because a gRPC-Web call has a
//! non-simple content type and custom headers; only when the answer allows
//! the origin, POST and the headers does the browser send the call, and it
//! then lets the page read only the response headers that the response
//! lists in `Access-Control-Expose-Headers` (the status travels in a
//! trailers frame in the body, but `grpc-status` / `grpc-message` also
//! appear as headers in trailers-only answers).
//!
//! [`grpc_web_policy`] adds those to a policy: POST, the gRPC-Web request
//! headers ([`DEFAULT_ALLOW_HEADERS`], and any a preflight names, as call
//! metadata keys are the application's), the status headers
//! ([`DEFAULT_EXPOSE_HEADERS`]) and the response's own metadata headers
//! exposed. The runtimes' `grpc::Cors` handlers apply it to the policy
//! they are given, so `CorsPolicy::origins([...])` is all a server needs.
//! It is opt-in: a server without a policy sends no CORS header.

use http::Method;

pub use wirestate_http1::cors::{AllowedOrigins, CorsPolicy};

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

/// `policy` with what gRPC-Web calls need (see the
/// [module documentation](self)); applying it twice changes nothing.
pub fn grpc_web_policy(policy: CorsPolicy) -> CorsPolicy {
    policy
        .with_defaults(
            &[Method::POST],
            &DEFAULT_ALLOW_HEADERS,
            &DEFAULT_EXPOSE_HEADERS,
        )
        .expose_response_headers(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{
        ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
        ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD,
        HeaderMap, HeaderName, HeaderValue, VARY,
    };
    use http::{Method, StatusCode};

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
        let p = grpc_web_policy(CorsPolicy::origins(["https://app.example"]));
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
        let p = grpc_web_policy(CorsPolicy::origins(["HTTPS://App.Example:8443"]));
        let r = p.preflight(&preflight_of("https://app.example:8443"));
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            r.headers()[ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://app.example:8443"
        );
    }

    #[test]
    fn preflight_from_another_origin_or_method_is_refused_bare() {
        let p = grpc_web_policy(CorsPolicy::origins(["https://app.example"]));
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
        let p = grpc_web_policy(CorsPolicy::any_origin())
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
        let p = grpc_web_policy(CorsPolicy::origins(["https://app.example/"]));
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
