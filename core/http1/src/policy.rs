//! Client policy shared by every adapter's connection pool: which requests
//! may be retried, how long to back off, and which origin a URL names.
//! Pure functions — randomness for jitter is an input.

use http::{Method, Uri};
use std::time::Duration;

/// Methods that may be retried after a failure midway (RFC 9110 §9.2.2).
///
/// ```
/// use wirestate_http1::policy::is_idempotent;
/// assert!(is_idempotent(&http::Method::PUT));
/// assert!(!is_idempotent(&http::Method::POST));
/// ```
pub fn is_idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}

/// The delay before retry number `attempt` (0-based): `base · 2^attempt`,
/// capped at `max`, scaled by `jitter` in `0.0..=1.0` ("full jitter").
///
/// ```
/// use std::time::Duration;
/// use wirestate_http1::policy::backoff;
/// let ms = Duration::from_millis;
/// assert_eq!(backoff(0, ms(50), ms(2000), 1.0), ms(50));
/// assert_eq!(backoff(3, ms(50), ms(2000), 0.5), ms(200));
/// assert_eq!(backoff(30, ms(50), ms(2000), 1.0), ms(2000));
/// ```
pub fn backoff(attempt: u32, base: Duration, max: Duration, jitter: f64) -> Duration {
    let exp = base.saturating_mul(1 << attempt.min(16));
    exp.min(max).mul_f64(jitter.clamp(0.0, 1.0))
}

/// When and how long a pooled client retries a failed request.
///
/// A request is retried when another attempt may succeed (not, say, a
/// connection TLS refused) and either it never reached the server (any
/// method) or it is idempotent and failed on the way — and only while its
/// body can be sent again.
///
/// ```
/// use std::time::Duration;
/// use wirestate_http1::policy::Retry;
/// let r = Retry::default();
/// assert!(r.allows(0, true, true, false, true)); // unsent POST
/// assert!(r.allows(1, true, false, true, true)); // GET cut off midway
/// assert!(!r.allows(0, true, false, false, true)); // POST cut off midway
/// assert!(!r.allows(0, true, true, true, false)); // refused, would be again
/// assert!(!r.allows(2, true, true, true, true)); // out of attempts
/// assert_eq!(r.delay(1, 1.0), Duration::from_millis(100));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retry {
    /// Extra attempts after the first.
    pub retries: u32,
    /// First retry delay; doubled each attempt, with full jitter.
    pub backoff: Duration,
    /// Largest retry delay.
    pub max_backoff: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            retries: 2,
            backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl Retry {
    /// Whether failed attempt number `attempt` (0-based) may be retried.
    pub fn allows(
        &self,
        attempt: u32,
        replayable: bool,
        unsent: bool,
        idempotent: bool,
        retryable: bool,
    ) -> bool {
        attempt < self.retries && replayable && retryable && (unsent || idempotent)
    }

    /// The delay before retry `attempt`, with `jitter` in `0.0..=1.0`.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        backoff(attempt, self.backoff, self.max_backoff, jitter)
    }
}

/// Why a URL has no usable origin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OriginError {
    /// Only `http://` (or no scheme) is served.
    #[error("unsupported scheme {0}")]
    UnsupportedScheme(String),
    /// The URL names no host.
    #[error("URL has no host")]
    NoHost,
    /// The port is not a number from 0 to 65535.
    #[error("invalid port {0:?}")]
    InvalidPort(String),
}

/// The port a URL names, or `default` when it names none (or an empty one,
/// RFC 3986 §3.2.3).
///
/// `http::Uri` accepts any text after the host's colon and reports a port
/// it cannot read as a `u16` as no port at all; taking the default then
/// would send a request meant for `:99999` or `:8o8o` to port 80, so such a
/// port is an error here.
///
/// ```
/// use wirestate_http1::policy::port;
/// assert_eq!(port(&"ws://a:9000/".parse().unwrap(), 80), Ok(9000));
/// assert_eq!(port(&"ws://a/".parse().unwrap(), 80), Ok(80));
/// assert!(port(&"ws://a:99999/".parse().unwrap(), 80).is_err());
/// ```
pub fn port(uri: &Uri, default: u16) -> Result<u16, OriginError> {
    let Some(authority) = uri.authority() else {
        return Ok(default);
    };
    let host_port = authority
        .as_str()
        .rsplit_once('@')
        .map_or(authority.as_str(), |(_, h)| h);
    // An IPv6 literal's colons are inside its brackets.
    let after_host = host_port.rsplit_once(']').map_or(host_port, |(_, p)| p);
    match after_host.rsplit_once(':') {
        None | Some((_, "")) => Ok(default),
        // port = *DIGIT: no sign, which `u16::from_str` would take.
        Some((_, p)) => p
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| p.parse().ok())
            .flatten()
            .ok_or_else(|| OriginError::InvalidPort(p.to_string())),
    }
}

/// The origin (host, port) of an `http://` URL, the key a pool groups
/// connections by. IPv6 brackets are removed.
///
/// ```
/// use wirestate_http1::policy::origin;
/// let uri: http::Uri = "http://[::1]:8080/x".parse().unwrap();
/// assert_eq!(origin(&uri).unwrap(), ("::1".to_string(), 8080));
/// ```
pub fn origin(uri: &Uri) -> Result<(String, u16), OriginError> {
    match secure_origin(uri)? {
        (host, port, false) => Ok((host, port)),
        (_, _, true) => Err(OriginError::UnsupportedScheme("https".into())),
    }
}

/// The origin of an `http://` or `https://` URL, for clients that speak
/// TLS: (host, port, whether it is `https`), 443 being the default port of
/// `https`. IPv6 brackets are removed.
///
/// ```
/// use wirestate_http1::policy::secure_origin;
/// let uri: http::Uri = "https://example.com/x".parse().unwrap();
/// assert_eq!(secure_origin(&uri).unwrap(), ("example.com".to_string(), 443, true));
/// ```
pub fn secure_origin(uri: &Uri) -> Result<(String, u16, bool), OriginError> {
    let tls = match uri.scheme_str() {
        Some("http") | None => false,
        Some("https") => true,
        Some(other) => return Err(OriginError::UnsupportedScheme(other.to_string())),
    };
    let host = uri.host().ok_or(OriginError::NoHost)?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    Ok((host, port(uri, if tls { 443 } else { 80 })?, tls))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn origin_takes_the_port_or_the_default() {
        assert_eq!(origin(&uri("http://a:8080/")), Ok(("a".into(), 8080)));
        assert_eq!(origin(&uri("http://a/")), Ok(("a".into(), 80)));
        // An empty port means the scheme's default (RFC 3986 §3.2.3).
        assert_eq!(origin(&uri("http://a:/")), Ok(("a".into(), 80)));
        assert_eq!(origin(&uri("http://u:p@a/")), Ok(("a".into(), 80)));
        assert_eq!(origin(&uri("http://u:p@a:81/")), Ok(("a".into(), 81)));
        assert_eq!(origin(&uri("http://[::1]/")), Ok(("::1".into(), 80)));
        assert!(matches!(
            origin(&uri("https://a/")),
            Err(OriginError::UnsupportedScheme(_))
        ));
        assert_eq!(
            secure_origin(&uri("https://a/")),
            Ok(("a".into(), 443, true))
        );
        assert_eq!(
            secure_origin(&uri("https://a:8443/")),
            Ok(("a".into(), 8443, true))
        );
        assert_eq!(
            secure_origin(&uri("http://a/")),
            Ok(("a".into(), 80, false))
        );
        assert!(secure_origin(&uri("ftp://a/")).is_err());
    }

    #[test]
    fn a_port_out_of_range_is_refused_not_taken_for_the_default() {
        // `http` parses these URLs but reports no port for them; the
        // request must not go to port 80 instead.
        for s in [
            "http://127.0.0.1:99999/",
            "http://127.0.0.1:65536/",
            "http://a:abc/",
            "http://a:+80/",
            "http://[::1]:70000/",
            "http://u:p@a:99999/",
        ] {
            assert!(
                matches!(origin(&uri(s)), Err(OriginError::InvalidPort(_))),
                "{s}: {:?}",
                origin(&uri(s))
            );
        }
    }
}
