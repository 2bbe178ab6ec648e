//! Reading back what a machine wrote: every byte the server sends must be
//! a sequence of well-framed HTTP/1.1 responses, every byte the client
//! sends a sequence of well-framed requests.

use std::collections::VecDeque;
use wirestate_http1::{BodyDecoder, BodyKind, BodyStep, Limits};
use wirestate_machine::RecvBuf;

/// A final response the server accepted a command for, in the order written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResponseExpect {
    pub(crate) status: u16,
    /// The request was HEAD: no body follows whatever the head says.
    pub(crate) is_head: bool,
    /// The request was CONNECT: a 2xx hands the connection over.
    pub(crate) is_connect: bool,
    /// The request was HTTP/1.0: a body without length runs to the close.
    pub(crate) http10: bool,
}

/// How a body is delimited, from the head that was written.
enum Framing {
    Length(usize),
    Chunked,
    Close,
}

fn framing(headers: &[httparse::Header<'_>], what: &str) -> Framing {
    let mut cl = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("content-length"));
    let te = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("transfer-encoding"))
        .count();
    match (cl.next(), te) {
        (Some(h), 0) => {
            assert!(cl.next().is_none(), "{what}: two Content-Length fields");
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|s| s.parse::<usize>().ok());
            Framing::Length(n.unwrap_or_else(|| panic!("{what}: bad Content-Length {h:?}")))
        }
        (None, 1) => {
            let h = headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("transfer-encoding"));
            assert!(
                h.is_some_and(|h| h.value == b"chunked"),
                "{what}: Transfer-Encoding is not just chunked: {h:?}"
            );
            Framing::Chunked
        }
        (None, 0) => Framing::Close,
        _ => panic!("{what}: both or repeated framing fields: {headers:?}"),
    }
}

/// Skips a body at `pos`. `None` if the output ends inside it, which is
/// allowed (a body still being sent, or cut short by a close).
fn skip_body(out: &[u8], pos: usize, framing: &Framing, what: &str) -> Option<usize> {
    match *framing {
        Framing::Length(n) => (out.len() - pos >= n).then_some(pos + n),
        Framing::Close => None,
        Framing::Chunked => {
            let rest = &out[pos..];
            let mut rx = RecvBuf::new(rest.len() + 1);
            rx.extend(rest).expect("fits");
            let mut dec = BodyDecoder::new(BodyKind::Chunked);
            let limits = Limits::default();
            loop {
                match dec.step(&mut rx, &limits) {
                    Ok(Some(BodyStep::Data(_))) => {}
                    Ok(Some(BodyStep::End(_))) => return Some(out.len() - rx.len()),
                    Ok(None) => return None,
                    Err(e) => panic!("{what}: bad chunked body ({e}) at {pos}"),
                }
            }
        }
    }
}

/// Checks the server's whole output against the responses it accepted.
pub(crate) fn check_responses(out: &[u8], mut expected: VecDeque<ResponseExpect>) {
    let mut pos = 0;
    while pos < out.len() {
        let mut headers = [httparse::EMPTY_HEADER; 128];
        let mut res = httparse::Response::new(&mut headers);
        let n = match res.parse(&out[pos..]) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!(
                "the server wrote an unreadable response head ({other:?}) at {pos}: {:?}",
                String::from_utf8_lossy(&out[pos..out.len().min(pos + 200)])
            ),
        };
        assert_eq!(
            res.version,
            Some(1),
            "the server wrote a non-HTTP/1.1 response"
        );
        let status = res.code.expect("complete");
        pos += n;
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        let Some(exp) = expected.pop_front() else {
            // The farewell after a protocol error: an empty error response,
            // and the last thing on the connection.
            assert!(status >= 400, "unexpected response {status}");
            assert!(
                matches!(framing(res.headers, "farewell"), Framing::Length(0)),
                "farewell with a body"
            );
            assert_eq!(pos, out.len(), "output after the farewell");
            return;
        };
        assert_eq!(status, exp.status, "responses out of order");
        let what = format!("response {status}");
        if status == 101 || (exp.is_connect && (200..300).contains(&status)) {
            // The connection belongs to another protocol now.
            assert!(
                matches!(framing(res.headers, &what), Framing::Close),
                "{what}: a framing field on a hand-off"
            );
            return;
        }
        let framing = framing(res.headers, &what);
        if status == 204 {
            assert!(
                matches!(framing, Framing::Close),
                "{what}: framing on a 204"
            );
            continue;
        }
        if exp.is_head || status == 304 {
            continue;
        }
        if matches!(framing, Framing::Close) {
            assert!(exp.http10, "{what}: close-delimited to an HTTP/1.1 client");
        }
        match skip_body(out, pos, &framing, &what) {
            Some(end) => pos = end,
            None => return,
        }
    }
}

/// Checks the client's whole output against the requests it accepted
/// (some trailing ones may be missing: held behind `Expect: 100-continue`
/// and dropped when the server answered without 100).
pub(crate) fn check_requests(out: &[u8], mut expected: VecDeque<http::Method>) {
    let mut pos = 0;
    while pos < out.len() {
        let mut headers = [httparse::EMPTY_HEADER; 128];
        let mut req = httparse::Request::new(&mut headers);
        let n = match req.parse(&out[pos..]) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!(
                "the client wrote an unreadable request head ({other:?}) at {pos}: {:?}",
                String::from_utf8_lossy(&out[pos..out.len().min(pos + 200)])
            ),
        };
        pos += n;
        let method = expected.pop_front().expect("more requests than sent");
        assert_eq!(req.method, Some(method.as_str()), "requests out of order");
        let what = format!("{method} request");
        let framing = match framing(req.headers, &what) {
            // A request without framing fields has no body.
            Framing::Close => Framing::Length(0),
            f => f,
        };
        match skip_body(out, pos, &framing, &what) {
            Some(end) => pos = end,
            None => return,
        }
    }
}
