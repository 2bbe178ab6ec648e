//! The head parsers alone: `parse_request_head` and `parse_response_head`.

use http::{HeaderMap, Version};
use wirestate_http1::{Limits, parse_request_head, parse_response_head};

/// Where the minor digit of a request line (after any empty lines) ending
/// in ` HTTP/1.d`, `d` above 1, sits.
fn newer_http1_minor(head: &[u8]) -> Option<usize> {
    let start = head.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let end = start + head[start..].iter().position(|&b| b == b'\n')?;
    let end = if head[end - 1] == b'\r' { end - 1 } else { end };
    let (&minor, rest) = head[start..end].split_last()?;
    (rest.ends_with(b" HTTP/1.") && (b'2'..=b'9').contains(&minor)).then_some(end - 1)
}

/// Fuzzes [`parse_request_head`]. When a head parses: it took at least one
/// byte and no more than given; one byte less is still incomplete (a head
/// never completes early, so no split can see a different head); the head
/// alone parses the same; httparse agrees on its length; and its canonical
/// re-encoding parses back to the same head and body framing.
pub fn request_head(data: &[u8]) {
    let Ok(Some((parts, body, len))) = parse_request_head(data) else {
        return;
    };
    assert!(
        len > 0 && len <= data.len(),
        "head length {len} of {}",
        data.len()
    );
    let shorter = parse_request_head(&data[..len - 1]);
    assert!(
        matches!(shorter, Ok(None)),
        "the head minus its last byte gave {shorter:?}"
    );

    let again = parse_request_head(&data[..len]);
    let Ok(Some((p2, b2, l2))) = again else {
        panic!("the head alone gave {again:?}");
    };
    assert_eq!((l2, b2), (len, body));
    assert_eq!(
        canonical_request(&p2.method, &p2.uri, p2.version, &p2.headers),
        canonical_request(&parts.method, &parts.uri, parts.version, &parts.headers)
    );

    // HTTP/1.2 to 1.9 are served as 1.1 (RFC 9112 §2.3), which httparse
    // refuses: it reads the head with that version spelled 1.1.
    let mut as_11 = data[..len].to_vec();
    if let Some(at) = newer_http1_minor(&as_11) {
        as_11[at] = b'1';
    }
    let mut headers = [httparse::EMPTY_HEADER; wirestate_http1::MAX_HEADERS_CEILING];
    let mut req = httparse::Request::new(&mut headers);
    assert_eq!(
        req.parse(&as_11),
        Ok(httparse::Status::Complete(len)),
        "httparse disagrees"
    );

    let canon = canonical_request(&parts.method, &parts.uri, parts.version, &parts.headers);
    let line_len = canon
        .iter()
        .position(|&b| b == b'\r')
        .unwrap_or(canon.len());
    let limits = Limits::default();
    if line_len > limits.max_request_line || canon.len() > limits.max_head_bytes {
        // Normalising (`http://a` to `http://a/`) may push it over a limit.
        return;
    }
    let back = parse_request_head(&canon);
    let Ok(Some((p3, b3, l3))) = back else {
        panic!(
            "the canonical form {:?} gave {back:?}",
            String::from_utf8_lossy(&canon)
        );
    };
    assert_eq!((l3, b3), (canon.len(), body));
    assert_eq!(
        canonical_request(&p3.method, &p3.uri, p3.version, &p3.headers),
        canon
    );
    assert_eq!(p3.headers, parts.headers);
}

/// Fuzzes [`parse_response_head`] with the same checks as
/// [`request_head`].
pub fn response_head(data: &[u8]) {
    let Ok(Some((parts, len))) = parse_response_head(data) else {
        return;
    };
    assert!(
        len > 0 && len <= data.len(),
        "head length {len} of {}",
        data.len()
    );
    let shorter = parse_response_head(&data[..len - 1]);
    assert!(
        matches!(shorter, Ok(None)),
        "the head minus its last byte gave {shorter:?}"
    );

    let again = parse_response_head(&data[..len]);
    let Ok(Some((p2, l2))) = again else {
        panic!("the head alone gave {again:?}");
    };
    assert_eq!(l2, len);
    assert_eq!(
        (p2.status, p2.version, &p2.headers),
        (parts.status, parts.version, &parts.headers)
    );

    // As for requests: HTTP/1.2 to 1.9 are read as 1.1.
    let mut as_11 = data[..len].to_vec();
    let start = as_11.iter().position(|&b| b != b'\r' && b != b'\n');
    if let Some(start) = start {
        let line = &as_11[start..];
        if line.starts_with(b"HTTP/1.")
            && line.get(7).is_some_and(|d| (b'2'..=b'9').contains(d))
            && line.get(8) == Some(&b' ')
        {
            as_11[start + 7] = b'1';
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; wirestate_http1::MAX_HEADERS_CEILING];
    let mut res = httparse::Response::new(&mut headers);
    assert_eq!(
        res.parse(&as_11),
        Ok(httparse::Status::Complete(len)),
        "httparse disagrees"
    );

    let mut canon = format!(
        "{} {} {}\r\n",
        version_str(parts.version),
        parts.status.as_str(),
        parts.status.canonical_reason().unwrap_or("")
    )
    .into_bytes();
    write_fields(&mut canon, &parts.headers);
    if canon.len() > Limits::default().max_head_bytes {
        return;
    }
    let back = parse_response_head(&canon);
    let Ok(Some((p3, l3))) = back else {
        panic!(
            "the canonical form {:?} gave {back:?}",
            String::from_utf8_lossy(&canon)
        );
    };
    assert_eq!(l3, canon.len());
    assert_eq!(
        (p3.status, p3.version, &p3.headers),
        (parts.status, parts.version, &parts.headers)
    );
}

fn version_str(v: Version) -> &'static str {
    if v == Version::HTTP_10 {
        "HTTP/1.0"
    } else {
        "HTTP/1.1"
    }
}

/// `METHOD target VERSION`, then `name: value` lines, then the blank line.
fn canonical_request(
    method: &http::Method,
    uri: &http::Uri,
    version: Version,
    headers: &HeaderMap,
) -> Vec<u8> {
    let mut out = format!("{method} {uri} {}\r\n", version_str(version)).into_bytes();
    write_fields(&mut out, headers);
    out
}

fn write_fields(out: &mut Vec<u8>, headers: &HeaderMap) {
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}
