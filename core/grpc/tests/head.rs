//! Request and response heads: building, validating, trailers-only and
//! error replies.

use std::time::Duration;

use http::{HeaderValue, Method, StatusCode, request, response};
use wirestate_grpc::{
    Code, ContentType, Encoding, EncodingSet, Error, Metadata, MethodPath, RequestHead,
    ResponseHead, ResponseStart, Status, error_response, trailers_only,
};

fn request() -> request::Parts {
    let mut head = RequestHead::new(MethodPath::new("pkg.Svc", "Method").unwrap());
    head.content_type = ContentType::grpc_proto();
    head.timeout = Some(Duration::from_millis(1500));
    head.encoding = Encoding::Gzip;
    head.user_agent = Some(HeaderValue::from_static("grpc-rust-wirestate/0.1"));
    head.metadata
        .insert("authorization", "Bearer y235")
        .unwrap();
    head.metadata
        .insert_bin("trace-proto-bin", b"\x01\x02")
        .unwrap();
    head.to_request(Some(&"pubsub.googleapis.com".parse().unwrap()), false)
}

#[test]
fn request_head_fields() {
    let parts = request();
    assert_eq!(parts.method, Method::POST);
    assert_eq!(parts.uri, "http://pubsub.googleapis.com/pkg.Svc/Method");
    let h = &parts.headers;
    assert_eq!(h["te"], "trailers");
    assert_eq!(h["grpc-timeout"], "1500000u");
    assert_eq!(h["content-type"], "application/grpc+proto");
    assert_eq!(h["grpc-encoding"], "gzip");
    assert_eq!(h["grpc-accept-encoding"], "gzip,deflate,identity");
    assert_eq!(h["user-agent"], "grpc-rust-wirestate/0.1");
    assert_eq!(h["authorization"], "Bearer y235");
    assert_eq!(h["trace-proto-bin"], "AQI");
    // Without an authority: the path alone.
    let head = RequestHead::new(MethodPath::parse("/a.B/C").unwrap());
    let parts = head.to_request(None, true);
    assert_eq!(parts.uri, "/a.B/C");
    assert!(!parts.headers.contains_key("grpc-encoding"));
    assert!(!parts.headers.contains_key("grpc-timeout"));
    // gRPC-Web: no `te`.
    let mut head = RequestHead::new(MethodPath::parse("/a.B/C").unwrap());
    head.content_type = ContentType::web(true);
    let parts = head.to_request(None, false);
    assert!(!parts.headers.contains_key("te"));
    assert_eq!(parts.headers["content-type"], "application/grpc-web-text");
}

#[test]
fn server_reads_back_what_the_client_built() {
    let parts = request();
    let head = RequestHead::from_request(&parts).unwrap();
    assert_eq!(head.path.service(), "pkg.Svc");
    assert_eq!(head.path.method(), "Method");
    assert_eq!(head.timeout, Some(Duration::from_millis(1500)));
    assert_eq!(head.encoding, Encoding::Gzip);
    assert_eq!(head.accept_encoding, EncodingSet::SUPPORTED);
    assert_eq!(head.content_type, ContentType::grpc_proto());
    assert_eq!(head.metadata.len(), 2);
    assert_eq!(
        &head.metadata.get_bin("trace-proto-bin").unwrap().unwrap()[..],
        b"\x01\x02"
    );
}

#[test]
fn server_refusals() {
    let mut p = request();
    p.method = Method::GET;
    let e = RequestHead::from_request(&p).unwrap_err();
    assert_eq!(e, Error::MethodNotAllowed);
    let r = error_response(&e);
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.headers["grpc-status"], "13");

    let mut p = request();
    p.headers
        .insert("content-type", HeaderValue::from_static("application/json"));
    let e = RequestHead::from_request(&p).unwrap_err();
    assert_eq!(e, Error::UnsupportedContentType);
    assert_eq!(
        error_response(&e).status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    p.headers.remove("content-type");
    assert_eq!(
        RequestHead::from_request(&p),
        Err(Error::UnsupportedContentType)
    );

    for path in [
        "/",
        "/pkg.Svc",
        "/pkg.Svc/",
        "//Method",
        "/a/b/c",
        "/a.B/C?x=1",
    ] {
        let mut p = request();
        p.uri = path.parse().unwrap();
        let e = RequestHead::from_request(&p);
        // `?x=1` is not part of the path: that one is fine.
        if path.contains('?') {
            assert!(e.is_ok());
            continue;
        }
        let e = e.unwrap_err();
        assert_eq!(e, Error::InvalidPath, "{path}");
        let r = error_response(&e);
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.headers["grpc-status"], "12"); // UNIMPLEMENTED
        assert_eq!(r.headers["content-type"], "application/grpc");
    }

    let mut p = request();
    p.headers
        .insert("grpc-timeout", HeaderValue::from_static("123456789S"));
    assert_eq!(RequestHead::from_request(&p), Err(Error::InvalidTimeout));

    let mut p = request();
    p.headers
        .insert("grpc-encoding", HeaderValue::from_static("zstd"));
    assert_eq!(
        RequestHead::from_request(&p),
        Err(Error::UnsupportedEncoding {
            name: "zstd".into()
        })
    );

    // A missing `te` is tolerated.
    let mut p = request();
    p.headers.remove("te");
    assert!(RequestHead::from_request(&p).is_ok());
}

#[test]
fn binary_metadata_is_checked_on_arrival() {
    // Padded and unpadded base64 both decode (PROTOCOL-HTTP2.md asks
    // receivers to accept either).
    for value in ["q80=", "q80"] {
        let mut p = request();
        p.headers
            .insert("x-key-bin", HeaderValue::from_static(value));
        let head = RequestHead::from_request(&p).unwrap();
        let got = head.metadata.get_bin("x-key-bin").unwrap().unwrap();
        assert_eq!(&got[..], b"\xab\xcd", "{value}");
    }
    // Not base64: malformed metadata, INTERNAL in trailers-only (grpc-go
    // refuses it too), even when a valid value of the key came first.
    for values in [&["!!!*"][..], &["q80", "q8=0"]] {
        let mut p = request();
        for v in values {
            p.headers.append("x-key-bin", HeaderValue::from_static(v));
        }
        let e = RequestHead::from_request(&p).unwrap_err();
        assert_eq!(e, Error::InvalidBinaryValue, "{values:?}");
        let r = error_response(&e);
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.headers["grpc-status"], "13");
    }
    // An ASCII key may hold anything printable.
    let mut p = request();
    p.headers.insert("x-key", HeaderValue::from_static("!!!*"));
    assert!(RequestHead::from_request(&p).is_ok());
}

#[test]
fn method_paths() {
    assert!(MethodPath::new("a b", "c").is_err());
    assert!(MethodPath::new("", "c").is_err());
    assert!(MethodPath::new("a", "").is_err());
    assert!(MethodPath::new("a", "b/c").is_err());
    assert!(MethodPath::parse("no-slash/x").is_err());
    let p = MethodPath::new("grpc.health.v1.Health", "Check").unwrap();
    assert_eq!(p.to_string(), "/grpc.health.v1.Health/Check");
    assert_eq!(p.service(), "grpc.health.v1.Health");
}

fn response(status: u16, headers: &[(&str, &str)]) -> response::Parts {
    let (mut parts, ()) = http::Response::new(()).into_parts();
    parts.status = StatusCode::from_u16(status).unwrap();
    for (k, v) in headers {
        parts.headers.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    parts
}

#[test]
fn response_head_round_trip() {
    let mut md = Metadata::new();
    md.insert("x-served-by", "a").unwrap();
    let head = ResponseHead {
        encoding: Encoding::Gzip,
        metadata: md,
        ..ResponseHead::default()
    };
    let parts = head.to_response();
    assert_eq!(parts.status, 200);
    assert_eq!(parts.headers["grpc-encoding"], "gzip");
    assert_eq!(
        ResponseHead::from_response(&parts),
        ResponseStart::Head(head)
    );
}

#[test]
fn client_side_response_starts() {
    // Trailers-only, built by the helper.
    let status = Status::new(Code::NotFound, "no such topic");
    let parts = trailers_only(&status, &ContentType::grpc());
    assert_eq!(parts.status, 200);
    assert_eq!(parts.headers["content-type"], "application/grpc");
    assert_eq!(
        ResponseHead::from_response(&parts),
        ResponseStart::End(status)
    );
    // A present grpc-status wins over the HTTP status.
    let r = response(503, &[("grpc-status", "8")]);
    let ResponseStart::End(s) = ResponseHead::from_response(&r) else {
        panic!()
    };
    assert_eq!(s.code, Code::ResourceExhausted);
    // Malformed grpc-status: INTERNAL.
    let r = response(200, &[("grpc-status", "x")]);
    let ResponseStart::End(s) = ResponseHead::from_response(&r) else {
        panic!()
    };
    assert_eq!(s.code, Code::Internal);
    // No grpc-status: the HTTP mapping.
    for (http, code) in [
        (404, Code::Unimplemented),
        (503, Code::Unavailable),
        (500, Code::Unknown),
    ] {
        let r = response(http, &[("content-type", "text/html")]);
        let ResponseStart::End(s) = ResponseHead::from_response(&r) else {
            panic!()
        };
        assert_eq!(s.code, code, "{http}");
    }
    // 200 but not gRPC.
    let r = response(200, &[("content-type", "text/html")]);
    let ResponseStart::End(s) = ResponseHead::from_response(&r) else {
        panic!()
    };
    assert_eq!(s.code, Code::Unknown);
    // An encoding we cannot decode.
    let r = response(
        200,
        &[
            ("content-type", "application/grpc"),
            ("grpc-encoding", "br"),
        ],
    );
    let ResponseStart::End(s) = ResponseHead::from_response(&r) else {
        panic!()
    };
    assert_eq!(s.code, Code::Internal);
}

/// Repeated fields: the first value of each read-once header counts (as
/// `HeaderMap::get` gives it), every `grpc-accept-encoding` value adds to
/// the set, and only user metadata (repeats kept, in order) is left.
#[test]
fn server_reads_first_values_and_keeps_only_user_metadata() {
    let mut p = request();
    let h = &mut p.headers;
    h.append("grpc-timeout", HeaderValue::from_static("bogus"));
    h.append("content-type", HeaderValue::from_static("application/json"));
    h.append("grpc-encoding", HeaderValue::from_static("zstd"));
    h.insert("grpc-accept-encoding", HeaderValue::from_static("identity"));
    h.append("grpc-accept-encoding", HeaderValue::from_static("gzip"));
    h.append("user-agent", HeaderValue::from_static("second"));
    h.append("authorization", HeaderValue::from_static("Bearer 2"));
    for reserved in ["grpc-status", "grpc-message", "host", "content-length"] {
        h.append(reserved, HeaderValue::from_static("1"));
    }
    h.append("grpc-trace-bin", HeaderValue::from_static("AQI"));
    let head = RequestHead::from_request(&p).unwrap();
    assert_eq!(head.timeout, Some(Duration::from_millis(1500)));
    assert_eq!(head.content_type, ContentType::grpc_proto());
    assert_eq!(head.encoding, Encoding::Gzip);
    assert_eq!(
        head.accept_encoding,
        EncodingSet::only(Encoding::Gzip).with(Encoding::Identity)
    );
    assert_eq!(head.user_agent.unwrap(), "grpc-rust-wirestate/0.1");
    let auth: Vec<_> = head.metadata.get_all("authorization").collect();
    assert_eq!(auth, ["Bearer y235", "Bearer 2"]);
    let mut keys: Vec<_> = head.metadata.iter().map(|(k, _)| k.as_str()).collect();
    keys.dedup();
    keys.sort_unstable();
    assert_eq!(keys, ["authorization", "grpc-trace-bin", "trace-proto-bin"]);
}
