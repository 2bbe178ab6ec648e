//! Writing heads: start lines, header fields (in their original case when a
//! [`HeaderCaseMap`] says so) and the framing fields the machine decides.

use http::{HeaderMap, Method, StatusCode, Uri, Version};
use std::fmt::Write as _;
use wirestate_machine::TxQueue;

/// Original-case header names, kept alongside a [`HeaderMap`] (whose names
/// are always lowercase) in a message's extensions.
///
/// With `preserve_header_case` on, received heads carry one; when a head
/// sent through a connection carries one, its names are written in the
/// recorded case. Proxies need this to pass headers through unchanged.
///
/// ```
/// use bytes::Bytes;
/// use http::header::HOST;
/// use wirestate_http1::HeaderCaseMap;
///
/// let mut case = HeaderCaseMap::default();
/// case.append(HOST, Bytes::from_static(b"HOST"));
/// assert_eq!(case.get_all(&HOST).next().map(|b| &b[..]), Some(&b"HOST"[..]));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderCaseMap(HeaderMap<bytes::Bytes>);

impl HeaderCaseMap {
    /// Records the original spelling of the next value of `name`.
    pub fn append(&mut self, name: http::HeaderName, original: bytes::Bytes) {
        self.0.append(name, original);
    }

    /// The recorded spellings of `name`, one per value, in order.
    pub fn get_all<'a>(
        &'a self,
        name: &http::HeaderName,
    ) -> impl Iterator<Item = &'a bytes::Bytes> + 'a {
        self.0.get_all(name).into_iter()
    }
}

/// The case map to honour when writing `ext`'s head, if preservation is on.
pub(crate) fn case_map(preserve: bool, ext: &http::Extensions) -> Option<&HeaderCaseMap> {
    if preserve {
        ext.get::<HeaderCaseMap>()
    } else {
        None
    }
}

/// Writes `name: value\r\n` for every field.
pub(crate) fn write_fields(tx: &mut TxQueue, headers: &HeaderMap, case: Option<&HeaderCaseMap>) {
    match case {
        None => {
            for (name, value) in headers {
                tx.write(name.as_str().as_bytes());
                tx.write(b": ");
                tx.write(value.as_bytes());
                tx.write(b"\r\n");
            }
        }
        Some(case) => {
            for name in headers.keys() {
                let mut spellings = case.get_all(name);
                for value in headers.get_all(name) {
                    // Fall back to the lowercase name if the recorded
                    // spelling is missing or no longer matches.
                    let spelled = spellings
                        .next()
                        .filter(|s| s.eq_ignore_ascii_case(name.as_str().as_bytes()))
                        .map_or(name.as_str().as_bytes(), |s| &s[..]);
                    tx.write(spelled);
                    tx.write(b": ");
                    tx.write(value.as_bytes());
                    tx.write(b"\r\n");
                }
            }
        }
    }
}

/// Writes `content-length: n\r\n`.
pub(crate) fn write_content_length(tx: &mut TxQueue, n: u64) {
    const PREFIX: &[u8] = b"content-length: ";
    let mut line = [0u8; 16 + 20 + 2];
    line[..PREFIX.len()].copy_from_slice(PREFIX);
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let d = &digits[i..];
    line[PREFIX.len()..PREFIX.len() + d.len()].copy_from_slice(d);
    let end = PREFIX.len() + d.len();
    line[end..end + 2].copy_from_slice(b"\r\n");
    tx.write(&line[..end + 2]);
}

/// Writes a status line. Common statuses come preformatted.
pub(crate) fn write_status_line(tx: &mut TxQueue, status: StatusCode) {
    let line: &[u8] = match status.as_u16() {
        200 => b"HTTP/1.1 200 OK\r\n",
        204 => b"HTTP/1.1 204 No Content\r\n",
        404 => b"HTTP/1.1 404 Not Found\r\n",
        _ => {
            tx.write(b"HTTP/1.1 ");
            tx.write(status.as_str().as_bytes());
            tx.write(b" ");
            tx.write(status.canonical_reason().unwrap_or("").as_bytes());
            tx.write(b"\r\n");
            return;
        }
    };
    tx.write(line);
}

/// The URI's authority without its userinfo: `host[:port]`, what the Host
/// field and request targets carry. RFC 9110 §4.2.4: a sender must not
/// generate the userinfo of an http URI in a target or a field value (and
/// servers refuse a Host with one); empty without an authority.
pub(crate) fn host_port(uri: &Uri) -> &str {
    let authority = uri.authority().map_or("", |a| a.as_str());
    authority.rsplit_once('@').map_or(authority, |(_, h)| h)
}

/// Writes a request line. `absolute` selects absolute-form (forward proxies).
pub(crate) fn write_request_line(
    tx: &mut TxQueue,
    method: &Method,
    uri: &Uri,
    version: Version,
    absolute: bool,
) {
    tx.write(method.as_str().as_bytes());
    tx.write(b" ");
    let path = match uri.path_and_query().map(|p| p.as_str()) {
        None | Some("") => "/",
        Some(p) => p,
    };
    if *method == Method::CONNECT {
        tx.write(host_port(uri).as_bytes());
    } else if let (true, Some(scheme)) = (absolute, uri.scheme_str())
        && uri.authority().is_some()
    {
        let mut s = String::new();
        let _ = write!(s, "{scheme}://{}{path}", host_port(uri));
        tx.write(s.as_bytes());
    } else {
        tx.write(path.as_bytes());
    }
    tx.write(if version == Version::HTTP_10 {
        b" HTTP/1.0\r\n"
    } else {
        b" HTTP/1.1\r\n"
    });
}
