//! Field blocks ↔ `http` heads: the validation of RFC 9113 §8.2–8.3 for
//! what arrives, and the checks and pseudo-headers for what we send.

use super::Error;
use crate::hpack::{Field, Pseudo};
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::uri::{self, Authority, PathAndQuery, Scheme};
use http::{HeaderMap, Method, StatusCode, Uri, Version, request, response};

/// Why a received message is malformed (RFC 9113 §8.1.1): a stream error
/// PROTOCOL_ERROR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed(#[allow(dead_code)] pub &'static str);

/// Fields that are connection-specific in HTTP/1.1 and forbidden in
/// HTTP/2 (§8.2.2); `te` is allowed with the value `trailers` only.
const CONNECTION_SPECIFIC: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

#[derive(Default)]
struct Pseudos {
    method: Option<Bytes>,
    scheme: Option<Bytes>,
    authority: Option<Bytes>,
    path: Option<Bytes>,
    protocol: Option<Bytes>,
    status: Option<Bytes>,
}

/// A field block split: the pseudo-headers, the regular fields, and what
/// was read of them on the way.
struct Split {
    pseudo: Pseudos,
    headers: HeaderMap,
    /// The content-length, if any (every value the same run of digits),
    /// or why it is invalid: checked by heads, not by trailers.
    content_length: Result<Option<u64>, Malformed>,
    /// The first `host` field.
    host: Option<HeaderValue>,
}

/// Splits `fields` (drained; the caller keeps the vector for the next
/// block) into pseudo-headers (first, known, once each) and a header map
/// of valid regular fields.
///
/// Each regular field's name is sorted once, by one `match` (forbidden,
/// `te`, `content-length`, `host`), and its value checked once: this runs
/// for every request.
fn split(fields: &mut Vec<Field>) -> Result<Split, Malformed> {
    let mut pseudo = Pseudos::default();
    // Sized for the regular fields only: the map's table is allocated once,
    // no larger than it needs to be.
    let regular = fields.iter().filter(|f| !f.is_pseudo()).count();
    let mut headers = HeaderMap::with_capacity(regular);
    let mut content_length = Ok(None);
    let mut host = None;
    let mut regular_seen = false;
    for f in fields.drain(..) {
        if f.is_pseudo() {
            if regular_seen {
                return Err(Malformed("pseudo-header after a regular field"));
            }
            let slot = match &f.name[..] {
                b":method" => &mut pseudo.method,
                b":scheme" => &mut pseudo.scheme,
                b":authority" => &mut pseudo.authority,
                b":path" => &mut pseudo.path,
                b":protocol" => &mut pseudo.protocol,
                b":status" => &mut pseudo.status,
                _ => return Err(Malformed("unknown pseudo-header")),
            };
            if slot.is_some() {
                return Err(Malformed("duplicate pseudo-header"));
            }
            if !valid_value(&f.value) {
                return Err(Malformed("invalid pseudo-header value"));
            }
            *slot = Some(f.value);
            continue;
        }
        regular_seen = true;
        if f.name.is_empty() || f.name.iter().any(u8::is_ascii_uppercase) {
            return Err(Malformed("field name not lowercase"));
        }
        let name = HeaderName::from_bytes(&f.name).map_err(|_| Malformed("invalid field name"))?;
        match name.as_str() {
            "connection" | "keep-alive" | "proxy-connection" | "transfer-encoding" | "upgrade" => {
                return Err(Malformed("connection-specific field"));
            }
            "te" if &f.value[..] != b"trailers" => {
                return Err(Malformed("te other than trailers"));
            }
            "content-length" => {
                content_length = content_length.and_then(|cl| next_content_length(cl, &f.value));
            }
            _ => {}
        }
        // `HeaderValue` refuses NUL, CR and LF itself (every control byte
        // but HTAB): only the ends are left to check (§8.2.1).
        if !trimmed(&f.value) {
            return Err(Malformed("invalid field value"));
        }
        let mut value = HeaderValue::from_maybe_shared(f.value)
            .map_err(|_| Malformed("invalid field value"))?;
        value.set_sensitive(f.sensitive);
        if host.is_none() && name == http::header::HOST {
            host = Some(value.clone());
        }
        headers.append(name, value);
    }
    Ok(Split {
        pseudo,
        headers,
        content_length,
        host,
    })
}

/// No leading or trailing whitespace.
fn trimmed(v: &[u8]) -> bool {
    let ws = |b: &u8| *b == b' ' || *b == b'\t';
    !v.first().is_some_and(ws) && !v.last().is_some_and(ws)
}

/// No NUL, CR or LF, no leading or trailing whitespace (§8.2.1).
fn valid_value(v: &[u8]) -> bool {
    !v.iter().any(|b| matches!(b, 0 | b'\r' | b'\n')) && trimmed(v)
}

/// The content-length after one more value: a run of digits, the same as
/// any before it.
fn next_content_length(found: Option<u64>, b: &[u8]) -> Result<Option<u64>, Malformed> {
    if b.is_empty() || b.len() > 19 || !b.iter().all(u8::is_ascii_digit) {
        return Err(Malformed("invalid content-length"));
    }
    let n = b.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    if found.is_some_and(|f| f != n) {
        return Err(Malformed("differing content-length values"));
    }
    Ok(Some(n))
}

/// A received request head: its parts and content-length.
pub(crate) fn request(fields: &mut Vec<Field>) -> Result<(request::Parts, Option<u64>), Malformed> {
    let Split {
        pseudo: p,
        headers,
        content_length,
        host,
    } = split(fields)?;
    if p.status.is_some() {
        return Err(Malformed(":status in a request"));
    }
    if p.protocol.is_some() {
        // Extended CONNECT (RFC 8441) is not advertised.
        return Err(Malformed(":protocol without extended CONNECT"));
    }
    let method = p.method.ok_or(Malformed("missing :method"))?;
    let method = Method::from_bytes(&method).map_err(|_| Malformed("invalid :method"))?;
    let authority = match &p.authority {
        Some(a) => Some(a.clone()),
        None => host.as_ref().map(|h| Bytes::copy_from_slice(h.as_bytes())),
    };
    if let (Some(a), Some(h)) = (&p.authority, &host) {
        if a[..] != *h.as_bytes() {
            return Err(Malformed("host differs from :authority"));
        }
    }
    // RFC 9113 §8.3.1: an http or https :authority carries no userinfo
    // (deprecated, and a way to dress one host up as another); CONNECT's
    // is host and port only (RFC 9110 §9.3.6).
    let web = method == Method::CONNECT
        || p.scheme
            .as_ref()
            .is_some_and(|s| s.eq_ignore_ascii_case(b"http") || s.eq_ignore_ascii_case(b"https"));
    if web && authority.as_ref().is_some_and(|a| a.contains(&b'@')) {
        return Err(Malformed("userinfo in :authority"));
    }
    let uri = if method == Method::CONNECT {
        if p.scheme.is_some() || p.path.is_some() {
            return Err(Malformed(":scheme or :path in CONNECT"));
        }
        let a = p.authority.ok_or(Malformed("CONNECT without :authority"))?;
        Uri::from_maybe_shared(a).map_err(|_| Malformed("invalid :authority"))?
    } else {
        let scheme = p.scheme.ok_or(Malformed("missing :scheme"))?;
        let path = p.path.ok_or(Malformed("missing :path"))?;
        if path.is_empty() {
            return Err(Malformed("empty :path"));
        }
        if &path[..] == b"*" {
            if method != Method::OPTIONS {
                return Err(Malformed(":path * without OPTIONS"));
            }
            Uri::from_static("*")
        } else {
            if path[0] != b'/' && !scheme_is_other(&scheme) {
                return Err(Malformed(":path not absolute"));
            }
            // The parts are parsed from the decoded field values in place
            // (`from_maybe_shared` keeps the `Bytes`), not copied out of
            // them as a `Uri::builder` fed slices would.
            let invalid = |_| Malformed("invalid :scheme, :authority or :path");
            let mut parts = uri::Parts::default();
            if let Some(a) = authority {
                parts.scheme = Some(Scheme::try_from(&scheme[..]).map_err(invalid)?);
                parts.authority = Some(Authority::from_maybe_shared(a).map_err(invalid)?);
            }
            parts.path_and_query = Some(PathAndQuery::from_maybe_shared(path).map_err(invalid)?);
            Uri::from_parts(parts).map_err(|_| Malformed("invalid :scheme, :authority or :path"))?
        }
    };
    let cl = content_length?;
    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method = method;
    parts.uri = uri;
    parts.version = Version::HTTP_2;
    parts.headers = headers;
    Ok((parts, cl))
}

/// Whether `:path` may be other than `/...` for this scheme (only http
/// and https fix its form).
fn scheme_is_other(scheme: &[u8]) -> bool {
    !matches!(scheme, b"http" | b"https")
}

/// A received response head: its parts and content-length.
pub(crate) fn response(
    fields: &mut Vec<Field>,
) -> Result<(response::Parts, Option<u64>), Malformed> {
    let Split {
        pseudo: p,
        headers,
        content_length,
        ..
    } = split(fields)?;
    if p.method.is_some()
        || p.scheme.is_some()
        || p.authority.is_some()
        || p.path.is_some()
        || p.protocol.is_some()
    {
        return Err(Malformed("request pseudo-header in a response"));
    }
    let status = p.status.ok_or(Malformed("missing :status"))?;
    if status.len() != 3 || !status.iter().all(u8::is_ascii_digit) {
        return Err(Malformed("invalid :status"));
    }
    let status = StatusCode::from_bytes(&status).map_err(|_| Malformed("invalid :status"))?;
    let cl = content_length?;
    let (mut parts, ()) = http::Response::new(()).into_parts();
    parts.status = status;
    parts.version = Version::HTTP_2;
    parts.headers = headers;
    Ok((parts, cl))
}

/// Received trailers: no pseudo-headers.
pub(crate) fn trailers(fields: &mut Vec<Field>) -> Result<HeaderMap, Malformed> {
    if fields.iter().any(Field::is_pseudo) {
        return Err(Malformed("pseudo-header in trailers"));
    }
    Ok(split(fields)?.headers)
}

/// Refuses connection-specific fields in a head we are about to send.
///
/// One walk over the fields, comparing names that are already parsed,
/// rather than a lookup per forbidden name (each of which parses and
/// hashes the name given as a string): heads are a handful of fields.
pub(crate) fn check_outgoing(headers: &HeaderMap) -> Result<(), Error> {
    for (name, value) in headers {
        if *name == http::header::TE {
            if value.as_bytes() != b"trailers" {
                return Err(Error::InvalidHead("te other than trailers"));
            }
        } else if CONNECTION_SPECIFIC.contains(&name.as_str()) {
            return Err(Error::InvalidHead("connection-specific field"));
        }
    }
    Ok(())
}

/// The size of a header list as SETTINGS_MAX_HEADER_LIST_SIZE counts it.
pub(crate) fn list_size(pseudo: &Pseudo<'_>, headers: &HeaderMap) -> usize {
    let p = [
        (7, pseudo.method),
        (7, pseudo.scheme),
        (10, pseudo.authority),
        (5, pseudo.path),
        (9, pseudo.protocol),
        (7, pseudo.status),
    ];
    let pseudo_size: usize = p
        .iter()
        .filter_map(|(n, v)| v.map(|v| n + v.len() + 32))
        .sum();
    pseudo_size
        + headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 32)
            .sum::<usize>()
}
