//! Parsing request and response heads with httparse into `http` types, and
//! the framing facts (Content-Length, Transfer-Encoding, Host, Connection,
//! Expect) the connection machines decide on.
//!
//! Heads are parsed from the receive buffer in place; the finished head is
//! split off as one `Bytes` and every URI and header value is a zero-copy
//! slice of it.

use crate::config::{Limits, MAX_HEADERS_CEILING};
use crate::{Error, HeaderCaseMap};
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri, Version, request, response};
use std::mem::MaybeUninit;
use std::ops::Range;
use wirestate_machine::RecvBuf;

/// What the framing and connection headers of a head say.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Facts {
    pub content_length: Option<u64>,
    pub te: TransferCodings,
    pub host_count: u32,
    pub conn_close: bool,
    pub conn_keep_alive: bool,
    pub conn_upgrade: bool,
    pub has_upgrade: bool,
    pub expect_continue: bool,
    /// An `Expect` member other than `100-continue` (RFC 9110 §10.1.1).
    pub expect_unknown: bool,
}

/// The Transfer-Encoding list, summarised.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TransferCodings {
    pub present: bool,
    pub chunked_count: u32,
    pub chunked_last: bool,
    pub other: bool,
    pub malformed: bool,
}

/// A parsed request head.
pub(crate) struct ParsedRequest {
    pub parts: request::Parts,
    pub facts: Facts,
}

/// A parsed response head.
pub(crate) struct ParsedResponse {
    pub parts: response::Parts,
    pub facts: Facts,
}

/// Where one header's name and value sit inside the head.
#[derive(Clone, Copy)]
struct Span {
    name: (usize, usize),
    value: (usize, usize),
}

/// Header names seen recently on this connection. A hit clones the cached
/// name instead of building a new one, so custom names (`x-request-id`,
/// `sec-fetch-mode`) cost no allocation per request.
#[derive(Default)]
struct NameCache {
    /// Each name with the spelling it arrived in.
    names: Vec<(HeaderName, Box<[u8]>)>,
    next: usize,
}

const NAME_CACHE_CAP: usize = 64;

impl NameCache {
    #[inline]
    fn get(&mut self, raw: &[u8]) -> Result<HeaderName, Error> {
        let n = self.names.len();
        // Requests on one connection repeat their headers in the same order
        // and spelling, so the slot after the last hit usually matches
        // byte for byte.
        if let Some((name, spelling)) = self.names.get(self.next) {
            if **spelling == *raw {
                self.next += 1;
                return Ok(name.clone());
            }
        }
        for k in 0..n {
            let i = (self.next + k) % n;
            let (name, spelling) = &self.names[i];
            if **spelling == *raw
                || (spelling.len() == raw.len() && spelling.eq_ignore_ascii_case(raw))
            {
                self.next = i + 1;
                return Ok(name.clone());
            }
        }
        let name = HeaderName::from_bytes(raw).map_err(|_| Error::InvalidHeaderName)?;
        if n < NAME_CACHE_CAP {
            self.names.push((name.clone(), raw.into()));
            self.next = n + 1;
        }
        Ok(name)
    }
}

/// Where httparse found the parts of a request head.
struct ScannedRequest {
    /// Length of the head, blank line included.
    len: usize,
    method_range: Range<usize>,
    path_range: Range<usize>,
    version: Version,
}

/// Incremental head parser state for one connection.
#[derive(Default)]
pub(crate) struct HeadParser {
    names: NameCache,
    spans: Vec<Span>,
    /// Bytes of the buffer already searched for line ends.
    scanned: usize,
    /// One past the last LF seen in the current head, i.e. the parse window.
    lf_window: usize,
    /// Where the first LF of the current head is, once seen.
    first_lf: Option<usize>,
}

enum Kind {
    Request,
    Response,
}

impl HeadParser {
    /// Forgets progress on the current head (after it completed or the
    /// buffer was cleared).
    pub fn reset(&mut self) {
        self.scanned = 0;
        self.lf_window = 0;
        self.first_lf = None;
    }

    /// Decides which prefix of the buffer to hand to httparse, if any.
    ///
    /// A head can only complete at a line end, so httparse runs on the
    /// prefix up to the last LF and only when a new LF arrived — or on the
    /// prefix at which a size limit trips. Either way the verdict is a
    /// function of a prefix that ends at a fixed byte, so the same input
    /// yields the same error at the same byte however it is split.
    fn window(
        &mut self,
        buf: &[u8],
        limits: &Limits,
        kind: &Kind,
    ) -> Option<(usize, Option<Error>)> {
        let len = buf.len();
        let head_cap = limits.max_head_bytes;
        let scan_end = len.min(head_cap);
        let start = self.scanned.min(scan_end);
        let mut grew = false;
        if start < scan_end {
            let new = &buf[start..scan_end];
            if self.first_lf.is_none() {
                self.first_lf = memchr::memchr(b'\n', new).map(|i| start + i);
            }
            if let Some(i) = memchr::memrchr(b'\n', new) {
                self.lf_window = start + i + 1;
                grew = true;
            }
            self.scanned = scan_end;
        }
        if matches!(kind, Kind::Request) {
            // No LF within the first `max_request_line + 2` bytes (CRLF allowed).
            let line_cap = limits.max_request_line.saturating_add(2);
            let too_long = match self.first_lf {
                Some(at) => at >= line_cap,
                None => len >= line_cap,
            };
            if too_long {
                return Some((line_cap.min(len), Some(Error::RequestLineTooLong)));
            }
        }
        if len > head_cap {
            return Some((head_cap, Some(Error::HeadersTooLarge)));
        }
        grew.then_some((self.lf_window, None))
    }

    /// Parses a request head from the front of `rx`. `Ok(None)` means more
    /// bytes are needed.
    #[inline]
    pub fn parse_request(
        &mut self,
        rx: &mut RecvBuf,
        limits: &Limits,
        preserve_case: bool,
    ) -> Result<Option<ParsedRequest>, Error> {
        let Some((window, limit_err)) = self.window(rx.as_slice(), limits, &Kind::Request) else {
            return Ok(None);
        };
        let buf = &rx.as_slice()[..window];
        let scanned = scan_as_http11(buf, &Kind::Request, limits, |b| {
            self.scan_request(b, limits)
        });
        let Some(ScannedRequest {
            len,
            method_range,
            path_range,
            version,
        }) = scanned?
        else {
            return limit_err.map_or(Ok(None), Err);
        };
        let head = rx.split_to(len);
        self.reset();

        let method = Method::from_bytes(&head[method_range]).map_err(|_| Error::InvalidMethod)?;
        // A request-target has no fragment (RFC 9112 §3.2); `Uri` would
        // drop one silently, so a recipient that kept it would see another
        // target than we do.
        if memchr::memchr(b'#', &head[path_range.clone()]).is_some() {
            return Err(Error::InvalidTarget);
        }
        let uri =
            Uri::from_maybe_shared(head.slice(path_range)).map_err(|_| Error::InvalidTarget)?;
        check_target_form(&method, &uri)?;
        let (headers, facts, case) = self.build_headers(&head, preserve_case)?;
        let mut parts = request::Request::new(()).into_parts().0;
        parts.method = method;
        parts.uri = uri;
        parts.version = version;
        parts.headers = headers;
        if let Some(case) = case {
            parts.extensions.insert(case);
        }
        Ok(Some(ParsedRequest { parts, facts }))
    }

    /// Runs httparse over a request head in `buf`, recording the header
    /// spans; `Ok(None)` when the head is incomplete. Returns the head's
    /// length, the method and target ranges and the version.
    #[inline]
    fn scan_request(
        &mut self,
        buf: &[u8],
        limits: &Limits,
    ) -> Result<Option<ScannedRequest>, httparse::Error> {
        let mut slots =
            [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CEILING];
        let slots = &mut slots[..limits.max_headers.clamp(1, MAX_HEADERS_CEILING)];
        let mut req = httparse::Request::new(&mut []);
        let len = match httparse::ParserConfig::default()
            .parse_request_with_uninit_headers(&mut req, buf, slots)?
        {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => return Ok(None),
        };
        let base = buf.as_ptr() as usize;
        let off = |s: &[u8]| s.as_ptr() as usize - base;
        let method = req.method.unwrap_or_default();
        let method_range = off(method.as_bytes())..off(method.as_bytes()) + method.len();
        let path = req.path.unwrap_or_default();
        let path_range = off(path.as_bytes())..off(path.as_bytes()) + path.len();
        let version = if req.version == Some(0) {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        };
        self.spans.clear();
        for h in req.headers.iter() {
            let n = off(h.name.as_bytes());
            let v = off(h.value);
            self.spans.push(Span {
                name: (n, n + h.name.len()),
                value: (v, v + h.value.len()),
            });
        }
        Ok(Some(ScannedRequest {
            len,
            method_range,
            path_range,
            version,
        }))
    }

    /// Parses a response head from the front of `rx`.
    pub fn parse_response(
        &mut self,
        rx: &mut RecvBuf,
        limits: &Limits,
        preserve_case: bool,
    ) -> Result<Option<ParsedResponse>, Error> {
        let Some((window, limit_err)) = self.window(rx.as_slice(), limits, &Kind::Response) else {
            return Ok(None);
        };
        let buf = &rx.as_slice()[..window];
        let scanned = scan_as_http11(buf, &Kind::Response, limits, |b| {
            self.scan_response(b, limits)
        });
        let Some((len, code, version)) = scanned? else {
            return limit_err.map_or(Ok(None), Err);
        };
        let head = rx.split_to(len);
        self.reset();

        let status = StatusCode::from_u16(code).map_err(|_| Error::InvalidStatus)?;
        let (headers, facts, case) = self.build_headers(&head, preserve_case)?;
        let mut parts = response::Response::new(()).into_parts().0;
        parts.status = status;
        parts.version = version;
        parts.headers = headers;
        if let Some(case) = case {
            parts.extensions.insert(case);
        }
        Ok(Some(ParsedResponse { parts, facts }))
    }

    /// Runs httparse over a response head in `buf`, recording the header
    /// spans; `Ok(None)` when the head is incomplete. Returns the head's
    /// length, the status code and the version.
    fn scan_response(
        &mut self,
        buf: &[u8],
        limits: &Limits,
    ) -> Result<Option<(usize, u16, Version)>, httparse::Error> {
        let mut slots =
            [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CEILING];
        let slots = &mut slots[..limits.max_headers.clamp(1, MAX_HEADERS_CEILING)];
        let mut res = httparse::Response::new(&mut []);
        let len = match httparse::ParserConfig::default()
            .parse_response_with_uninit_headers(&mut res, buf, slots)?
        {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => return Ok(None),
        };
        let base = buf.as_ptr() as usize;
        let code = res.code.unwrap_or_default();
        let version = if res.version == Some(0) {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        };
        self.spans.clear();
        for h in res.headers.iter() {
            let n = h.name.as_ptr() as usize - base;
            let v = h.value.as_ptr() as usize - base;
            self.spans.push(Span {
                name: (n, n + h.name.len()),
                value: (v, v + h.value.len()),
            });
        }
        Ok(Some((len, code, version)))
    }

    fn build_headers(
        &mut self,
        head: &Bytes,
        preserve_case: bool,
    ) -> Result<(HeaderMap, Facts, Option<HeaderCaseMap>), Error> {
        let mut map = HeaderMap::with_capacity(self.spans.len());
        let mut facts = Facts::default();
        let mut case = preserve_case.then(HeaderCaseMap::default);
        for span in &self.spans {
            let raw_name = &head[span.name.0..span.name.1];
            let name = self.names.get(raw_name)?;
            let value = HeaderValue::from_maybe_shared(head.slice(span.value.0..span.value.1))
                .map_err(|_| Error::InvalidHeaderValue)?;
            note_fact(&mut facts, &name, value.as_bytes())?;
            if let Some(case) = &mut case {
                case.append(name.clone(), head.slice(span.name.0..span.name.1));
            }
            map.append(name, value);
        }
        Ok((map, facts, case))
    }
}

/// Parses a trailer section (header lines and the blank line, CRLF only).
pub(crate) fn parse_trailers(section: &[u8], limits: &Limits) -> Result<HeaderMap, Error> {
    let mut slots = vec![httparse::EMPTY_HEADER; limits.max_headers.clamp(1, MAX_HEADERS_CEILING)];
    let fields = match httparse::parse_headers(section, &mut slots) {
        Ok(httparse::Status::Complete((_, fields))) => fields,
        Ok(httparse::Status::Partial) => return Err(Error::InvalidTrailers),
        Err(httparse::Error::TooManyHeaders) => return Err(Error::TrailersTooLarge),
        Err(_) => return Err(Error::InvalidTrailers),
    };
    let mut map = HeaderMap::with_capacity(fields.len());
    for f in fields {
        let name = HeaderName::from_bytes(f.name.as_bytes()).map_err(|_| Error::InvalidTrailers)?;
        let value = HeaderValue::from_bytes(f.value).map_err(|_| Error::InvalidTrailers)?;
        map.append(name, value);
    }
    Ok(map)
}

fn note_fact(facts: &mut Facts, name: &HeaderName, value: &[u8]) -> Result<(), Error> {
    if *name == header::CONTENT_LENGTH {
        // RFC 9112 §6.3: a comma-separated list whose values are all valid
        // and all the same is processed as that one value (as identical
        // repeated fields are); any empty or differing element refuses it.
        for item in value.split(|&b| b == b',') {
            let n = parse_content_length(item.trim_ascii())?;
            match facts.content_length {
                Some(prev) if prev != n => return Err(Error::ConflictingContentLength),
                _ => facts.content_length = Some(n),
            }
        }
    } else if *name == header::TRANSFER_ENCODING {
        facts.te.present = true;
        for coding in list_items(value) {
            if facts.te.chunked_last {
                // Something follows `chunked`: it is no longer final.
                facts.te.chunked_last = false;
            }
            if coding.eq_ignore_ascii_case(b"chunked") {
                facts.te.chunked_count += 1;
                facts.te.chunked_last = true;
            } else if coding.iter().all(|&b| is_tchar(b)) {
                facts.te.other = true;
            } else {
                // Parameters, quotes or junk: not a coding we could decode.
                facts.te.other = true;
                facts.te.malformed = true;
            }
        }
    } else if *name == header::HOST {
        facts.host_count += 1;
        if !is_valid_host(value) {
            return Err(Error::InvalidHost);
        }
    } else if *name == header::CONNECTION {
        for token in list_items(value) {
            if token.eq_ignore_ascii_case(b"close") {
                facts.conn_close = true;
            } else if token.eq_ignore_ascii_case(b"keep-alive") {
                facts.conn_keep_alive = true;
            } else if token.eq_ignore_ascii_case(b"upgrade") {
                facts.conn_upgrade = true;
            }
        }
    } else if *name == header::UPGRADE {
        facts.has_upgrade = true;
    } else if *name == header::EXPECT {
        for item in list_items(value) {
            if item.eq_ignore_ascii_case(b"100-continue") {
                facts.expect_continue = true;
            } else {
                facts.expect_unknown = true;
            }
        }
    }
    Ok(())
}

/// Content-Length is one or more decimal digits, nothing else: no sign, no
/// hex, no inner whitespace (the caller splits lists and trims the ends).
pub(crate) fn parse_content_length(value: &[u8]) -> Result<u64, Error> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return Err(Error::InvalidContentLength);
    }
    value
        .iter()
        .try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .ok_or(Error::InvalidContentLength)
}

/// The non-empty elements of a comma-separated header list, trimmed.
fn list_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(|s| s.trim_ascii())
        .filter(|s| !s.is_empty())
}

/// RFC 9110 `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `Host = uri-host [ ":" port ]`, where an empty value is allowed (RFC 9110
/// §7.2). Userinfo, paths and whitespace are refused.
pub(crate) fn is_valid_host(value: &[u8]) -> bool {
    if value.is_empty() {
        return true;
    }
    let (host, port) = if value[0] == b'[' {
        let Some(end) = value.iter().position(|&b| b == b']') else {
            return false;
        };
        let literal = &value[1..end];
        if literal.is_empty()
            || !literal.iter().all(|&b| {
                b.is_ascii_hexdigit() || b == b':' || b == b'.' || b.is_ascii_alphanumeric()
            })
        {
            return false;
        }
        match &value[end + 1..] {
            [] => (&value[..=end], None),
            [b':', port @ ..] => (&value[..=end], Some(port)),
            _ => return false,
        }
    } else {
        match value.iter().rposition(|&b| b == b':') {
            Some(i) => (&value[..i], Some(&value[i + 1..])),
            None => (value, None),
        }
    };
    let host_ok =
        host.starts_with(b"[") || (!host.is_empty() && host.iter().all(|&b| HOST_CHAR[b as usize]));
    let port_ok = port.is_none_or(|p| p.len() <= 5 && p.iter().all(u8::is_ascii_digit));
    host_ok && port_ok
}

/// `reg-name` / IPv4 characters: unreserved, pct-encoded and sub-delims.
static HOST_CHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            );
        b += 1;
    }
    t
};

/// Which request-target forms go with which methods (RFC 9112 §3.2).
fn check_target_form(method: &Method, uri: &Uri) -> Result<(), Error> {
    let asterisk = uri.scheme().is_none() && uri.authority().is_none() && uri.path() == "*";
    let authority_form = uri.scheme().is_none() && uri.authority().is_some();
    let absolute_form = uri.scheme().is_some() && uri.authority().is_some();
    let origin_form =
        uri.scheme().is_none() && uri.authority().is_none() && uri.path().starts_with('/');
    // Userinfo in a target is refused (RFC 9110 §4.2.4: "treat its
    // presence as an error"; authority-form has no room for it at all), and
    // CONNECT names its port (RFC 9110 §9.3.6: there is no default port).
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(Error::InvalidTarget);
    }
    let ok = if *method == Method::CONNECT {
        authority_form && uri.port().is_some()
    } else if asterisk {
        *method == Method::OPTIONS
    } else {
        origin_form || absolute_form
    };
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidTarget)
    }
}

/// Turns an httparse error on `buf` into ours, naming the part that failed.
fn classify(e: httparse::Error, buf: &[u8], kind: &Kind, limits: &Limits) -> Error {
    let first_line = buf
        .split(|&b| b == b'\n')
        .find(|l| !l.is_empty() && *l != b"\r")
        .unwrap_or(buf);
    match e {
        httparse::Error::HeaderName => {
            if folded_line_at_error(buf, kind, limits) {
                Error::ObsoleteFold
            } else {
                Error::InvalidHeaderName
            }
        }
        httparse::Error::HeaderValue => Error::InvalidHeaderValue,
        httparse::Error::NewLine => Error::InvalidLineEnding,
        httparse::Error::Status => Error::InvalidStatus,
        httparse::Error::TooManyHeaders => Error::TooManyHeaders,
        httparse::Error::Token => {
            let method = first_line.split(|&b| b == b' ').next().unwrap_or_default();
            if matches!(kind, Kind::Request) && !method.iter().all(|&b| is_tchar(b)) {
                Error::InvalidMethod
            } else {
                Error::InvalidTarget
            }
        }
        httparse::Error::Version => {
            let line = first_line.strip_suffix(b"\r").unwrap_or(first_line);
            if matches!(kind, Kind::Request) && line.split(|&b| b == b' ').count() > 3 {
                // Whitespace inside the request-target ("GET /a b
                // HTTP/1.1"): a bad target (400, RFC 9112 §3.2), not an
                // unsupported version (505) because the line ends in one.
                return Error::InvalidTarget;
            }
            let version = match kind {
                Kind::Request => line.rsplit(|&b| b == b' ').next(),
                Kind::Response => line.split(|&b| b == b' ').next(),
            }
            .unwrap_or_default();
            if is_http_version_syntax(version) {
                Error::UnsupportedVersion
            } else {
                Error::InvalidVersion
            }
        }
    }
}

/// Runs `scan` (httparse over a head) on `buf`. A higher minor version of
/// HTTP/1 is processed as the highest we implement, 1.1 (RFC 9112 §2.3);
/// httparse knows only 1.0 and 1.1, so on its version error such a head is
/// scanned again from a copy spelled 1.1 (same length, so every offset still
/// points into `buf`). Only that rare error path pays for the copy.
#[inline]
fn scan_as_http11<T>(
    buf: &[u8],
    kind: &Kind,
    limits: &Limits,
    mut scan: impl FnMut(&[u8]) -> Result<Option<T>, httparse::Error>,
) -> Result<Option<T>, Error> {
    match scan(buf) {
        Err(httparse::Error::Version) => match newer_http1_minor(buf, kind) {
            Some(at) => {
                let mut copy = buf.to_vec();
                copy[at] = b'1';
                scan(&copy).map_err(|e| classify(e, &copy, kind, limits))
            }
            None => Err(classify(httparse::Error::Version, buf, kind, limits)),
        },
        other => other.map_err(|e| classify(e, buf, kind, limits)),
    }
}

/// Where the minor digit sits when the start line (after any empty lines)
/// names `HTTP/1.d` with `d` above 1 — at the end of a request line, at the
/// start of a status line: a version to be read as HTTP/1.1 (RFC 9112 §2.3).
fn newer_http1_minor(buf: &[u8], kind: &Kind) -> Option<usize> {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let newer = |d: u8| (b'2'..=b'9').contains(&d);
    match kind {
        Kind::Request => {
            let end = start + memchr::memchr(b'\n', &buf[start..])?;
            let end = if buf[end - 1] == b'\r' { end - 1 } else { end };
            let (&minor, rest) = buf[start..end].split_last()?;
            (rest.ends_with(b" HTTP/1.") && newer(minor)).then_some(end - 1)
        }
        Kind::Response => {
            let line = &buf[start..];
            (line.starts_with(b"HTTP/1.")
                && line.get(7).is_some_and(|&d| newer(d))
                && line.get(8) == Some(&b' '))
            .then_some(start + 7)
        }
    }
}

/// `HTTP/d.d`, or `HTTP/d` (how HTTP/2 and HTTP/3 spell themselves).
fn is_http_version_syntax(v: &[u8]) -> bool {
    match v {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor] => {
            major.is_ascii_digit() && minor.is_ascii_digit()
        }
        [b'H', b'T', b'T', b'P', b'/', major] => major.is_ascii_digit(),
        _ => false,
    }
}

/// Whether the line on which httparse failed starts with whitespace
/// (obs-fold). The failing line is the last line of the shortest prefix,
/// ending at a line end, that fails; found by bisection so the answer does
/// not depend on how much input followed.
fn folded_line_at_error(buf: &[u8], kind: &Kind, limits: &Limits) -> bool {
    let mut ends: Vec<usize> = memchr::memchr_iter(b'\n', buf).map(|i| i + 1).collect();
    if ends.last() != Some(&buf.len()) {
        ends.push(buf.len());
    }
    let fails = |end: usize| {
        let mut slots =
            [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CEILING];
        let slots = &mut slots[..limits.max_headers.clamp(1, MAX_HEADERS_CEILING)];
        let cfg = httparse::ParserConfig::default();
        match kind {
            Kind::Request => cfg
                .parse_request_with_uninit_headers(
                    &mut httparse::Request::new(&mut []),
                    &buf[..end],
                    slots,
                )
                .is_err(),
            Kind::Response => cfg
                .parse_response_with_uninit_headers(
                    &mut httparse::Response::new(&mut []),
                    &buf[..end],
                    slots,
                )
                .is_err(),
        }
    };
    let idx = ends.partition_point(|&end| !fails(end));
    let Some(&end) = ends.get(idx) else {
        return false;
    };
    let line_start: Range<usize> = 0..end.saturating_sub(1);
    let start = memchr::memrchr(b'\n', &buf[line_start]).map_or(0, |i| i + 1);
    matches!(buf.get(start), Some(b' ' | b'\t'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_is_plain_digits() {
        assert_eq!(parse_content_length(b"0"), Ok(0));
        assert_eq!(parse_content_length(b"0042"), Ok(42));
        assert_eq!(
            parse_content_length(b"18446744073709551615"),
            Err(Error::InvalidContentLength)
        );
        assert_eq!(
            parse_content_length(b"9999999999999999999"),
            Ok(9_999_999_999_999_999_999)
        );
        for bad in [
            &b"+5"[..],
            b"-5",
            b"0x10",
            b"1,1",
            b"1 1",
            b"",
            b" ",
            b"1.0",
            b"\xff",
        ] {
            assert_eq!(
                parse_content_length(bad),
                Err(Error::InvalidContentLength),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn host_values() {
        for ok in [
            &b""[..],
            b"example.com",
            b"example.com:8080",
            b"127.0.0.1",
            b"[::1]",
            b"[::1]:443",
            b"xn--d1a.example",
        ] {
            assert!(is_valid_host(ok), "{ok:?}");
        }
        for bad in [
            &b"user@example.com"[..],
            b"a b",
            b"example.com/x",
            b"example.com:80a",
            b"[::1",
            b"[::1]x",
            b"a:123456",
            b":80",
            b"exa\"mple",
        ] {
            assert!(!is_valid_host(bad), "{bad:?}");
        }
    }

    #[test]
    fn version_syntax() {
        assert!(is_http_version_syntax(b"HTTP/1.2"));
        assert!(is_http_version_syntax(b"HTTP/2.0"));
        assert!(is_http_version_syntax(b"HTTP/3"));
        assert!(!is_http_version_syntax(b"http/1.1"));
        assert!(!is_http_version_syntax(b"HTTP/1.1x"));
    }
}
