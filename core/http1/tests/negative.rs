//! Every refused input produces the documented error, kind and hint; the
//! server answers with that status and `Connection: close`, then closes, and
//! parses no request after the error.

mod corpus;

use corpus::*;
use std::time::Instant;
use wirestate_http1::{ClientEvent, Error, ServerEvent};
use wirestate_machine::ErrorKind;
use wirestate_testkit::feed;

fn documented_kind(e: &Error) -> ErrorKind {
    match e {
        Error::RequestLineTooLong
        | Error::HeadersTooLarge
        | Error::TooManyHeaders
        | Error::ChunkExtensionTooLong
        | Error::TrailersTooLarge
        | Error::BodyTooLarge => ErrorKind::Limit,
        _ => ErrorKind::Protocol,
    }
}

#[test]
fn server_refusals() {
    let now = Instant::now();
    let mut refused = 0;
    for case in server_cases() {
        let Expect::Err(expected) = &case.expect else {
            continue;
        };
        refused += 1;
        let t = feed(
            server(now),
            now,
            &case.input,
            &[],
            case.eof,
            &mut server_reactor(),
            &normalize_server,
        );
        let (err, _) = t
            .error
            .as_ref()
            .unwrap_or_else(|| panic!("{}: no error", case.name));
        assert_eq!(err, expected, "{}", case.name);
        assert_eq!(err.kind(), documented_kind(err), "{}", case.name);

        // The error is the last event, and nothing is parsed after it.
        let at = t
            .events
            .iter()
            .position(|e| matches!(e, ServerEvent::Error(_)));
        let at = at.unwrap_or_else(|| panic!("{}: no error event", case.name));
        assert_eq!(
            at,
            t.events.len() - 1,
            "{}: events after the error",
            case.name
        );

        // The farewell is the hinted status with Connection: close, then the
        // write side is shut.
        let out = String::from_utf8_lossy(&t.output);
        match err.hint() {
            Some(status) => {
                let farewell = format!(
                    "HTTP/1.1 {} {}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
                    status.as_str(),
                    status.canonical_reason().unwrap()
                );
                assert!(out.ends_with(&farewell), "{}: output {out:?}", case.name);
            }
            None => assert!(!out.contains("HTTP/1.1 4"), "{}: {out:?}", case.name),
        }
        assert_eq!(
            t.shutdown_at,
            Some(t.output.len()),
            "{}: not shut down",
            case.name
        );
        assert!(t.closed, "{}: not closed", case.name);
    }
    assert!(refused >= 40, "only {refused} refusals in the corpus");
}

#[test]
fn hints_per_error() {
    use http::StatusCode as S;
    let table = [
        (Error::RequestLineTooLong, S::URI_TOO_LONG),
        (Error::HeadersTooLarge, S::REQUEST_HEADER_FIELDS_TOO_LARGE),
        (Error::TooManyHeaders, S::REQUEST_HEADER_FIELDS_TOO_LARGE),
        (Error::TrailersTooLarge, S::REQUEST_HEADER_FIELDS_TOO_LARGE),
        (Error::BodyTooLarge, S::PAYLOAD_TOO_LARGE),
        (Error::UnsupportedTransferCoding, S::NOT_IMPLEMENTED),
        (Error::ExpectationFailed, S::EXPECTATION_FAILED),
        (Error::UnsupportedVersion, S::HTTP_VERSION_NOT_SUPPORTED),
        (Error::HeaderTimeout, S::REQUEST_TIMEOUT),
        (Error::ContentLengthAndTransferEncoding, S::BAD_REQUEST),
        (Error::ObsoleteFold, S::BAD_REQUEST),
        (Error::MissingHost, S::BAD_REQUEST),
    ];
    for (e, s) in table {
        assert_eq!(e.hint(), Some(s), "{e:?}");
    }
}

#[test]
fn client_refusals() {
    let now = Instant::now();
    for case in client_cases() {
        let Expect::Err(expected) = &case.expect else {
            continue;
        };
        let t = feed(
            client_for(&case, now),
            now,
            &case.input,
            &[],
            case.eof,
            &mut |_, _| {},
            &normalize_client,
        );
        let (err, _) = t
            .error
            .as_ref()
            .unwrap_or_else(|| panic!("{}: no error", case.name));
        assert_eq!(err, expected, "{}", case.name);
        assert_eq!(err.kind(), documented_kind(err), "{}", case.name);
        assert!(
            t.events.iter().any(|e| matches!(e, ClientEvent::Error(_))),
            "{}",
            case.name
        );
        let after = t
            .events
            .iter()
            .skip_while(|e| !matches!(e, ClientEvent::Error(_)))
            .skip(1);
        assert!(
            after
                .clone()
                .all(|e| matches!(e, ClientEvent::Aborted { .. })),
            "{}: {:?}",
            case.name,
            t.events
        );
        assert!(t.closed, "{}: not closed", case.name);
    }
}

#[test]
fn sticky_errors() {
    let now = Instant::now();
    let mut conn = server(now);
    use wirestate_machine::Machine;
    let e = conn
        .handle_input(now, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
        .unwrap_err();
    assert_eq!(e, Error::DuplicateHost);
    assert_eq!(
        conn.handle_input(now, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        Err(Error::DuplicateHost)
    );
    assert!(!conn.wants_read());
    assert_eq!(conn.error(), Some(&Error::DuplicateHost));
}
