//! Status codes, `grpc-message` percent-encoding, trailers, and the spec's
//! mapping tables.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use proptest::prelude::*;
use wirestate_grpc::{Code, Error, Metadata, Status, decode_grpc_message, encode_grpc_message};

#[test]
fn all_seventeen_codes() {
    let names = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    for (n, (code, name)) in Code::ALL.iter().zip(names).enumerate() {
        assert_eq!(code.value(), n as u32);
        assert_eq!(Code::from_u32(n as u32), *code);
        assert_eq!(code.name(), name);
        assert_eq!(code.to_string(), name);
        assert_eq!(Code::parse(n.to_string().as_bytes()), Ok(*code));
        assert_eq!(code.to_header_value(), n.to_string().as_str());
    }
    assert_eq!(Code::from_u32(17), Code::Unknown);
    assert_eq!(Code::from_u32(u32::MAX), Code::Unknown);
    assert_eq!(Code::from_i32(-1), Code::Unknown);
    assert_eq!(Code::from_i32(14), Code::Unavailable);
}

#[test]
fn grpc_status_parsing() {
    assert_eq!(Code::parse(b"99"), Ok(Code::Unknown));
    assert_eq!(Code::parse(b"99999999999999999999"), Ok(Code::Unknown));
    assert_eq!(Code::parse(b"007"), Ok(Code::PermissionDenied));
    assert_eq!(Code::parse(b" 4 "), Ok(Code::DeadlineExceeded));
    for bad in [&b""[..], b"-1", b"+1", b"1a", b"0x1", b"OK", b"1 2"] {
        assert_eq!(Code::parse(bad), Err(Error::InvalidGrpcStatus), "{bad:?}");
    }
}

#[test]
fn spec_message_examples() {
    assert_eq!(decode_grpc_message(b"Hello%20World"), "Hello World");
    assert_eq!(encode_grpc_message("Hello World"), "Hello World");
    assert_eq!(encode_grpc_message("a%b"), "a%25b");
    assert_eq!(encode_grpc_message("tab\there"), "tab%09here");
    assert_eq!(encode_grpc_message("\u{7f}"), "%7F");
    assert_eq!(encode_grpc_message("日本"), "%E6%97%A5%E6%9C%AC");
    assert_eq!(decode_grpc_message(b"%E6%97%A5%E6%9C%AC"), "日本");
    // Lenient: broken escapes stay as they are.
    assert_eq!(decode_grpc_message(b"%"), "%");
    assert_eq!(decode_grpc_message(b"%4"), "%4");
    assert_eq!(decode_grpc_message(b"%G1%41"), "%G1A");
    assert_eq!(decode_grpc_message(b"100%"), "100%");
    // Bytes that are not UTF-8 become U+FFFD instead of failing.
    assert_eq!(decode_grpc_message(b"%FFok"), "\u{fffd}ok");
    // Raw bytes outside the allowed range are kept too.
    assert_eq!(decode_grpc_message(b"caf\xc3\xa9"), "café");
}

#[test]
fn trailers_round_trip_with_details_and_metadata() {
    let mut md = Metadata::new();
    md.insert("retry-after", "5").unwrap();
    md.insert_bin("debug-bin", &[0, 255]).unwrap();
    let status = Status::new(Code::Unavailable, "try later: 100% busy\r\n")
        .with_details(Bytes::from_static(b"\x08\x0e\x12\x03abc"))
        .with_metadata(md);
    let mut trailers = HeaderMap::new();
    status.to_trailers(&mut trailers);
    assert_eq!(trailers["grpc-status"], "14");
    assert_eq!(trailers["grpc-message"], "try later: 100%25 busy%0D%0A");
    assert_eq!(trailers["grpc-status-details-bin"], "CA4SA2FiYw");
    assert_eq!(trailers["retry-after"], "5");
    assert_eq!(Status::from_trailers(&trailers).unwrap(), status);
}

#[test]
fn ok_status_has_no_message_header() {
    let mut trailers = HeaderMap::new();
    Status::ok().to_trailers(&mut trailers);
    assert_eq!(trailers.len(), 1);
    assert_eq!(trailers["grpc-status"], "0");
    assert!(Status::from_trailers(&trailers).unwrap().is_ok());
}

#[test]
fn trailers_errors() {
    let mut t = HeaderMap::new();
    assert_eq!(Status::from_trailers(&t), Err(Error::MissingGrpcStatus));
    assert_eq!(Error::MissingGrpcStatus.to_status().code, Code::Unknown);
    t.insert("grpc-status", HeaderValue::from_static("x"));
    assert_eq!(Status::from_trailers(&t), Err(Error::InvalidGrpcStatus));
    assert_eq!(Error::InvalidGrpcStatus.to_status().code, Code::Internal);
    // Broken details do not hide the status.
    t.insert("grpc-status", HeaderValue::from_static("5"));
    t.insert("grpc-status-details-bin", HeaderValue::from_static("!!"));
    let s = Status::from_trailers(&t).unwrap();
    assert_eq!((s.code, s.details.len()), (Code::NotFound, 0));
    // Padded details are accepted as well as unpadded ones.
    t.insert("grpc-status-details-bin", HeaderValue::from_static("YWI="));
    assert_eq!(&Status::from_trailers(&t).unwrap().details[..], b"ab");
}

#[test]
fn http_status_table() {
    let table = [
        (400, Code::Internal),
        (401, Code::Unauthenticated),
        (403, Code::PermissionDenied),
        (404, Code::Unimplemented),
        (429, Code::Unavailable),
        (431, Code::Internal),
        (502, Code::Unavailable),
        (503, Code::Unavailable),
        (504, Code::Unavailable),
        (200, Code::Unknown),
        (100, Code::Unknown),
        (302, Code::Unknown),
        (405, Code::Unknown),
        (415, Code::Unknown),
        (500, Code::Unknown),
        (599, Code::Unknown),
    ];
    for (http, code) in table {
        let status = StatusCode::from_u16(http).unwrap();
        assert_eq!(Code::from_http_status(status), code, "{http}");
        let s = Status::from_http_status(status);
        assert_eq!(s.code, code);
        assert!(s.message.contains(&http.to_string()));
    }
}

#[test]
fn rst_stream_table() {
    let table = [
        (0x0, Code::Internal),          // NO_ERROR
        (0x1, Code::Internal),          // PROTOCOL_ERROR
        (0x2, Code::Internal),          // INTERNAL_ERROR
        (0x3, Code::Internal),          // FLOW_CONTROL_ERROR
        (0x4, Code::Internal),          // SETTINGS_TIMEOUT
        (0x5, Code::Internal),          // STREAM_CLOSED (no mapping in the spec)
        (0x6, Code::Internal),          // FRAME_SIZE_ERROR
        (0x7, Code::Unavailable),       // REFUSED_STREAM
        (0x8, Code::Cancelled),         // CANCEL
        (0x9, Code::Internal),          // COMPRESSION_ERROR
        (0xa, Code::Internal),          // CONNECT_ERROR
        (0xb, Code::ResourceExhausted), // ENHANCE_YOUR_CALM
        (0xc, Code::PermissionDenied),  // INADEQUATE_SECURITY
        (0xd, Code::Internal),          // HTTP_1_1_REQUIRED
        (0xe, Code::Unknown),
        (u32::MAX, Code::Unknown),
    ];
    for (h2, code) in table {
        assert_eq!(Code::from_h2_error_code(h2), code, "{h2:#x}");
        assert_eq!(Status::from_h2_error_code(h2).code, code);
    }
    assert!(Status::from_h2_error_code(8).message.contains("CANCEL"));
}

#[test]
fn display() {
    assert_eq!(
        Status::new(Code::NotFound, "nope").to_string(),
        "NOT_FOUND: nope"
    );
    assert_eq!(Status::ok().to_string(), "OK");
    let s: Status = Error::InvalidPath.into();
    assert_eq!(s.code, Code::Unimplemented);
}

proptest! {
    /// Any string survives percent-encoding, and the encoding uses only
    /// the allowed bytes.
    #[test]
    fn message_round_trip(s in any::<String>()) {
        let v = encode_grpc_message(&s);
        prop_assert!(v.as_bytes().iter().all(|&b| (0x20..=0x7e).contains(&b)));
        prop_assert_eq!(decode_grpc_message(v.as_bytes()), s);
    }

    /// Decoding never fails, and leaves text without `%` alone.
    #[test]
    fn decode_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let s = decode_grpc_message(&bytes);
        if !bytes.contains(&b'%') && let Ok(text) = std::str::from_utf8(&bytes) {
            prop_assert_eq!(s, text);
        }
    }

    /// Every status survives trailers.
    #[test]
    fn status_round_trip(code in 0u32..17, message in any::<String>(), details in proptest::collection::vec(any::<u8>(), 0..40)) {
        let status = Status::new(Code::from_u32(code), message).with_details(Bytes::from(details));
        let mut t = HeaderMap::new();
        status.to_trailers(&mut t);
        prop_assert_eq!(Status::from_trailers(&t).unwrap(), status);
    }
}
