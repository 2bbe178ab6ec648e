//! The opening handshake: RFC 6455's sample key, client → server → client
//! round trips, every refusal with its status, header lists spread over
//! several lines, and the client's checks of the server's answer.

use http::header::{HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version, request, response};
use wirestate_machine::{ClassifyError, ErrorKind};
use wirestate_ws::{
    ClientHandshake, DeflateConfig, DeflateParams, HandshakeError, Negotiated, OriginPolicy,
    PendingHandshake, PerMessageDeflate, Role, ServerHandshake, accept, derive_accept_key,
    is_upgrade, is_upgrade_request, reject_response,
};

const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const SAMPLE_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

fn entropy() -> impl FnMut(&mut [u8]) {
    let mut n = 0u8;
    move |buf: &mut [u8]| {
        for b in buf {
            n = n.wrapping_add(37);
            *b = n;
        }
    }
}

fn client(uri: &str) -> ClientHandshake {
    ClientHandshake::new(uri.parse().unwrap())
}

fn request_of(c: &ClientHandshake) -> (request::Parts, PendingHandshake) {
    let (req, pending) = c.request(&mut entropy()).unwrap();
    (req.into_parts().0, pending)
}

/// Client request → server accept → client verify; both sides' results.
fn round_trip(c: &ClientHandshake, s: &ServerHandshake) -> (Negotiated, Response<()>) {
    let (req, pending) = request_of(c);
    assert!(is_upgrade_request(&req));
    let (resp, on_server) = accept(&req, s).unwrap();
    let on_client = pending.verify_response(&resp).unwrap();
    assert_eq!(on_client, on_server);
    (on_client, resp)
}

/// The RFC 6455 §1.3 sample request.
fn sample() -> request::Parts {
    Request::get("/chat")
        .header("host", "server.example.com")
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-key", SAMPLE_KEY)
        .header("origin", "http://example.com")
        .header("sec-websocket-protocol", "chat, superchat")
        .header("sec-websocket-version", "13")
        .body(())
        .unwrap()
        .into_parts()
        .0
}

fn with(mut parts: request::Parts, f: impl FnOnce(&mut request::Parts)) -> request::Parts {
    f(&mut parts);
    parts
}

fn set(name: &'static str, value: &'static str) -> impl FnOnce(&mut request::Parts) {
    move |p| {
        p.headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
}

fn remove(name: &'static str) -> impl FnOnce(&mut request::Parts) {
    move |p| {
        p.headers.remove(name);
    }
}

fn refused(parts: &request::Parts, s: &ServerHandshake) -> (HandshakeError, Response<()>) {
    let err = accept(parts, s).unwrap_err();
    let resp = reject_response(&err);
    (err, resp)
}

// ---- keys ----

#[test]
fn rfc_sample_key() {
    assert_eq!(derive_accept_key(SAMPLE_KEY.as_bytes()), SAMPLE_ACCEPT);
    let (resp, _) = accept(&sample(), &ServerHandshake::new()).unwrap();
    assert_eq!(resp.headers()["sec-websocket-accept"], SAMPLE_ACCEPT);
}

#[test]
fn key_comes_from_entropy() {
    let c = client("ws://h/");
    let (a, pa) = c.request(&mut |b: &mut [u8]| b.fill(0)).unwrap();
    let (b, _) = c.request(&mut |b: &mut [u8]| b.fill(0xff)).unwrap();
    assert_eq!(a.headers()["sec-websocket-key"], "AAAAAAAAAAAAAAAAAAAAAA==");
    assert_eq!(b.headers()["sec-websocket-key"], "/////////////////////w==");
    assert_eq!(
        pa.expected_accept(),
        derive_accept_key(b"AAAAAAAAAAAAAAAAAAAAAA==")
    );
}

// ---- the client's request ----

#[test]
fn client_request_shape() {
    let c = client("ws://example.com/chat?room=1")
        .header(
            http::header::ORIGIN,
            HeaderValue::from_static("https://example.com"),
        )
        .header(
            http::header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("ignored"),
        );
    let (req, _) = c.request(&mut entropy()).unwrap();
    assert_eq!(req.method(), Method::GET);
    assert_eq!(req.version(), Version::HTTP_11);
    assert_eq!(req.uri(), "ws://example.com/chat?room=1");
    assert_eq!(req.uri().path_and_query().unwrap(), "/chat?room=1");
    let h = req.headers();
    assert_eq!(h["host"], "example.com");
    assert_eq!(h["upgrade"], "websocket");
    assert_eq!(h["connection"], "Upgrade");
    assert_eq!(h["sec-websocket-version"], "13");
    assert_eq!(h["origin"], "https://example.com");
    assert_eq!(h.get_all("sec-websocket-key").iter().count(), 1);
    assert_ne!(h["sec-websocket-key"], "ignored");
    assert!(h.get("sec-websocket-protocol").is_none());
    assert!(h.get("sec-websocket-extensions").is_none());
}

#[test]
fn host_header_from_authority() {
    for (uri, host) in [
        ("ws://example.com", "example.com"),
        ("ws://example.com:80/", "example.com"),
        ("ws://example.com:8080/", "example.com:8080"),
        ("wss://example.com:443/", "example.com"),
        ("wss://example.com:80/", "example.com:80"),
        ("WSS://Example.com/", "Example.com"),
        ("ws://user:pw@example.com:81/", "example.com:81"),
        ("ws://[::1]:9000/", "[::1]:9000"),
        ("ws://127.0.0.1/", "127.0.0.1"),
    ] {
        let (req, _) = request_of(&client(uri));
        assert_eq!(req.headers["host"], host, "{uri}");
    }
}

#[test]
fn client_usage_errors() {
    for uri in ["http://example.com/", "/path", "example.com:80"] {
        let err = client(uri).request(&mut entropy()).unwrap_err();
        assert_eq!(err, HandshakeError::InvalidUri, "{uri}");
        assert_eq!(err.kind(), ErrorKind::Usage);
        assert_eq!(err.hint(), None);
    }
    for bad in ["", "a b", "x,y", "ü"] {
        let err = client("ws://h/")
            .protocol(bad)
            .request(&mut entropy())
            .unwrap_err();
        assert_eq!(err, HandshakeError::InvalidSubprotocol(bad.into()));
    }
    let err = client("ws://h/")
        .protocols(["a", "a"])
        .request(&mut entropy())
        .unwrap_err();
    assert_eq!(err, HandshakeError::InvalidSubprotocol("a".into()));
}

// ---- round trips ----

#[test]
fn plain_round_trip() {
    let (n, resp) = round_trip(&client("ws://h/"), &ServerHandshake::new());
    assert_eq!(n, Negotiated::default());
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(resp.headers()["upgrade"], "websocket");
    assert_eq!(resp.headers()["connection"], "Upgrade");
    assert!(resp.headers().get("sec-websocket-protocol").is_none());
    assert!(resp.headers().get("sec-websocket-extensions").is_none());
}

#[test]
fn subprotocol_round_trips() {
    let c = client("ws://h/").protocols(["b", "a"]);
    // The server's preference decides.
    let s = ServerHandshake::new().protocols(["a", "b"]);
    let (n, resp) = round_trip(&c, &s);
    assert_eq!(n.subprotocol.as_deref(), Some("a"));
    assert_eq!(resp.headers()["sec-websocket-protocol"], "a");
    // No overlap: none.
    let s = ServerHandshake::new().protocols(["z"]);
    assert_eq!(round_trip(&c, &s).0.subprotocol, None);
    // The client offered none: none, whatever the server supports.
    let (n, resp) = round_trip(&client("ws://h/"), &ServerHandshake::new().protocols(["a"]));
    assert_eq!(n.subprotocol, None);
    assert!(resp.headers().get("sec-websocket-protocol").is_none());
    // A chooser sees the offer in order.
    let s = ServerHandshake::new().protocol_chooser(|offered| {
        assert_eq!(offered, ["b", "a"]);
        Some(offered[1].to_owned())
    });
    assert_eq!(round_trip(&c, &s).0.subprotocol.as_deref(), Some("a"));
    let s = ServerHandshake::new().protocol_chooser(|_| None);
    assert_eq!(round_trip(&c, &s).0.subprotocol, None);
}

#[test]
fn chooser_must_pick_an_offer() {
    let (req, _) = request_of(&client("ws://h/").protocol("a"));
    let s = ServerHandshake::new().protocol_chooser(|_| Some("zzz".into()));
    let err = accept(&req, &s).unwrap_err();
    assert_eq!(err, HandshakeError::InvalidSubprotocol("zzz".into()));
    assert_eq!(err.kind(), ErrorKind::Usage);
    assert_eq!(reject_response(&err).status(), 500);
}

#[test]
fn deflate_round_trips() {
    let c = client("ws://h/").deflate(DeflateConfig::default());
    // Server without deflate: none, and the client accepts that.
    let (n, resp) = round_trip(&c, &ServerHandshake::new());
    assert_eq!(n.deflate, None);
    assert!(resp.headers().get("sec-websocket-extensions").is_none());
    // Both: RFC defaults.
    let s = ServerHandshake::new().deflate(DeflateConfig::default());
    let (n, resp) = round_trip(&c, &s);
    assert_eq!(n.deflate, Some(DeflateParams::default()));
    assert_eq!(
        resp.headers()["sec-websocket-extensions"],
        "permessage-deflate"
    );

    // Limits on both sides meet.
    let mut cc = DeflateConfig::default();
    cc.server_max_window_bits = Some(10);
    cc.client_no_context_takeover = true;
    let mut sc = DeflateConfig::default();
    sc.client_max_window_bits = Some(9);
    sc.server_no_context_takeover = true;
    let c = client("ws://h/").protocol("p").deflate(cc);
    let s = ServerHandshake::new().protocols(["p"]).deflate(sc);
    let (n, resp) = round_trip(&c, &s);
    assert_eq!(n.subprotocol.as_deref(), Some("p"));
    let p = n.deflate.unwrap();
    assert!(p.server_no_context_takeover && p.client_no_context_takeover);
    assert_eq!(
        (p.server_max_window_bits, p.client_max_window_bits),
        (10, 9)
    );
    assert_eq!(
        resp.headers()["sec-websocket-extensions"],
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         server_max_window_bits=10; client_max_window_bits=9"
    );

    // And the codecs built from each side's result talk to each other.
    let mut cd = PerMessageDeflate::new(&p, Role::Client);
    let mut sd = PerMessageDeflate::new(&p, Role::Server);
    let mut wire = bytes::BytesMut::new();
    cd.compress(b"hello hello hello hello", &mut wire).unwrap();
    let mut msg = bytes::BytesMut::new();
    sd.decompress(&wire, true, &mut msg, 1000).unwrap();
    assert_eq!(&msg[..], b"hello hello hello hello");
}

#[test]
fn extra_response_headers() {
    let s = ServerHandshake::new()
        .header(
            HeaderName::from_static("x-served-by"),
            HeaderValue::from_static("test"),
        )
        .header(
            http::header::UPGRADE,
            HeaderValue::from_static("overridden"),
        );
    let (_, resp) = round_trip(&client("ws://h/"), &s);
    assert_eq!(resp.headers()["x-served-by"], "test");
    assert_eq!(resp.headers()["upgrade"], "websocket");
}

// ---- the server's checks ----

#[test]
fn header_lists_over_several_lines() {
    let req = with(sample(), |p| {
        p.headers.remove("sec-websocket-protocol");
        for v in ["x", "chat, superchat", ""] {
            p.headers
                .append("sec-websocket-protocol", HeaderValue::from_static(v));
        }
        p.headers.insert(
            "connection",
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        p.headers
            .insert("upgrade", HeaderValue::from_static("WebSocket"));
        p.headers.append(
            "sec-websocket-extensions",
            HeaderValue::from_static("foo; bar"),
        );
        p.headers.append(
            "sec-websocket-extensions",
            HeaderValue::from_static("permessage-deflate; client_max_window_bits=\"10\""),
        );
    });
    assert!(is_upgrade_request(&req));
    let s = ServerHandshake::new()
        .protocols(["superchat"])
        .deflate(DeflateConfig::default());
    let (resp, n) = accept(&req, &s).unwrap();
    assert_eq!(n.subprotocol.as_deref(), Some("superchat"));
    assert_eq!(n.deflate.unwrap().client_max_window_bits, 10);
    assert_eq!(
        resp.headers()["sec-websocket-extensions"],
        "permessage-deflate; client_max_window_bits=10"
    );

    // Connection on two lines, Upgrade listing several protocols.
    let req = with(sample(), |p| {
        p.headers
            .insert("connection", HeaderValue::from_static("keep-alive"));
        p.headers
            .append("connection", HeaderValue::from_static("upgrade"));
        p.headers
            .insert("upgrade", HeaderValue::from_static("h2c, websocket"));
    });
    assert!(is_upgrade_request(&req));
    assert!(accept(&req, &ServerHandshake::new()).is_ok());
}

#[test]
fn is_upgrade_request_needs_all_three() {
    assert!(is_upgrade_request(&sample()));
    assert!(!is_upgrade_request(
        &with(sample(), |p| p.method = Method::POST)
    ));
    assert!(!is_upgrade_request(&with(sample(), remove("upgrade"))));
    assert!(!is_upgrade_request(&with(
        sample(),
        set("connection", "keep-alive")
    )));
    assert!(!is_upgrade_request(&with(sample(), set("upgrade", "h2c"))));
    // "upgrade" must be a whole token.
    assert!(!is_upgrade_request(&with(
        sample(),
        set("connection", "upgraded")
    )));
}

#[test]
fn is_upgrade_reads_method_and_headers_alone() {
    for p in [
        sample(),
        with(sample(), |p| p.method = Method::POST),
        with(sample(), set("upgrade", "h2c")),
        with(sample(), set("upgrade", "h2c, WebSocket")),
        with(sample(), set("connection", "keep-alive, Upgrade")),
    ] {
        assert_eq!(is_upgrade(&p.method, &p.headers), is_upgrade_request(&p));
    }
    // Upgrade is a list: a client offering two protocols asks for a WebSocket too.
    let both = with(sample(), set("upgrade", "h2c, websocket"));
    assert!(is_upgrade(&both.method, &both.headers));
}

#[test]
fn every_refusal_has_its_status() {
    let s = ServerHandshake::new();
    let cases: Vec<(request::Parts, HandshakeError, u16)> = vec![
        (
            with(sample(), |p| p.method = Method::POST),
            HandshakeError::MethodNotGet,
            405,
        ),
        (
            with(sample(), |p| p.version = Version::HTTP_10),
            HandshakeError::UnsupportedHttpVersion,
            400,
        ),
        (
            with(sample(), remove("host")),
            HandshakeError::MissingHost,
            400,
        ),
        (
            with(sample(), remove("upgrade")),
            HandshakeError::MissingUpgrade,
            400,
        ),
        (
            with(sample(), set("upgrade", "websocket2")),
            HandshakeError::MissingUpgrade,
            400,
        ),
        (
            with(sample(), remove("connection")),
            HandshakeError::MissingConnectionUpgrade,
            400,
        ),
        (
            with(sample(), set("connection", "close")),
            HandshakeError::MissingConnectionUpgrade,
            400,
        ),
        (
            with(sample(), remove("sec-websocket-version")),
            HandshakeError::UnsupportedWebSocketVersion,
            426,
        ),
        (
            with(sample(), set("sec-websocket-version", "8")),
            HandshakeError::UnsupportedWebSocketVersion,
            426,
        ),
        (
            with(sample(), set("sec-websocket-version", "13, 8")),
            HandshakeError::UnsupportedWebSocketVersion,
            426,
        ),
        (
            with(sample(), remove("sec-websocket-key")),
            HandshakeError::InvalidKey,
            400,
        ),
        // 15 bytes, 17 bytes, unpadded, not base64.
        (
            with(sample(), set("sec-websocket-key", "AAAAAAAAAAAAAAAAAAAA")),
            HandshakeError::InvalidKey,
            400,
        ),
        (
            with(
                sample(),
                set("sec-websocket-key", "AAAAAAAAAAAAAAAAAAAAAAA="),
            ),
            HandshakeError::InvalidKey,
            400,
        ),
        (
            with(sample(), set("sec-websocket-key", "AAAAAAAAAAAAAAAAAAAAAA")),
            HandshakeError::InvalidKey,
            400,
        ),
        (
            with(
                sample(),
                set("sec-websocket-key", "!!!!!!!!!!!!!!!!!!!!!!=="),
            ),
            HandshakeError::InvalidKey,
            400,
        ),
        (
            with(sample(), |p| {
                p.headers
                    .append("sec-websocket-key", HeaderValue::from_static(SAMPLE_KEY));
            }),
            HandshakeError::InvalidKey,
            400,
        ),
        (
            with(sample(), set("sec-websocket-protocol", "a b")),
            HandshakeError::InvalidProtocolHeader,
            400,
        ),
        (
            with(sample(), set("sec-websocket-extensions", "a;")),
            HandshakeError::InvalidExtensionsHeader,
            400,
        ),
    ];
    for (req, want, status) in cases {
        let (err, resp) = refused(&req, &s);
        assert_eq!(err, want);
        assert_eq!(err.kind(), ErrorKind::Protocol);
        assert_eq!(
            ClassifyError::hint(&err),
            Some(StatusCode::from_u16(status).unwrap())
        );
        assert_eq!(resp.status(), status, "{want:?}");
        match status {
            426 => {
                assert_eq!(resp.headers()["sec-websocket-version"], "13");
                assert_eq!(resp.headers()["upgrade"], "websocket");
            }
            405 => assert_eq!(resp.headers()["allow"], "GET"),
            _ => assert!(resp.headers().is_empty(), "{:?}", resp.headers()),
        }
        assert!(resp.headers().get("content-length").is_none());
    }
}

#[test]
fn http2_and_absolute_uri_host() {
    // HTTP/1.1 or later, and a Host may come from the URI's authority.
    let req = with(sample(), |p| {
        p.headers.remove("host");
        p.uri = "http://server.example.com/chat".parse().unwrap();
    });
    assert!(accept(&req, &ServerHandshake::new()).is_ok());
}

#[test]
fn origin_policies() {
    let list = ServerHandshake::new().origin(OriginPolicy::AllowList(vec![
        "https://a.example".into(),
        "http://example.com".into(),
    ]));
    assert!(accept(&sample(), &list).is_ok());
    assert!(accept(&with(sample(), set("origin", "HTTP://EXAMPLE.COM")), &list).is_ok());
    // No Origin: not a browser; allowed.
    assert!(accept(&with(sample(), remove("origin")), &list).is_ok());
    for bad in ["http://evil.example", "null", "http://example.com.evil"] {
        let (err, resp) = refused(&with(sample(), set("origin", bad)), &list);
        assert_eq!(err, HandshakeError::OriginNotAllowed);
        assert_eq!(resp.status(), 403);
    }
    // Two Origin lines are refused even if one is allowed.
    let twice = with(sample(), |p| {
        p.headers
            .append("origin", HeaderValue::from_static("http://evil.example"));
    });
    assert_eq!(refused(&twice, &list).0, HandshakeError::OriginNotAllowed);
    assert_eq!(
        refused(&twice, &ServerHandshake::new()).0,
        HandshakeError::OriginNotAllowed
    );

    let strict = ServerHandshake::new().origin(OriginPolicy::Custom(std::sync::Arc::new(
        |o: Option<&HeaderValue>| o.is_some_and(|o| o.as_bytes().ends_with(b".example.com")),
    )));
    assert!(
        accept(
            &with(sample(), set("origin", "https://x.example.com")),
            &strict
        )
        .is_ok()
    );
    assert_eq!(
        refused(&sample(), &strict).0,
        HandshakeError::OriginNotAllowed
    );
    assert_eq!(
        refused(&with(sample(), remove("origin")), &strict).0,
        HandshakeError::OriginNotAllowed
    );
}

#[test]
fn server_ignores_unknown_extensions_and_bad_offers() {
    let s = ServerHandshake::new().deflate(DeflateConfig::default());
    for (offer, want) in [
        ("x-webkit-deflate-frame", None),
        ("permessage-deflate; server_max_window_bits=16", None),
        (
            "permessage-deflate; client_max_window_bits; client_max_window_bits",
            None,
        ),
        ("permessage-deflate; mystery", None),
        (
            "permessage-deflate; mystery, permessage-deflate",
            Some("permessage-deflate"),
        ),
        (
            "foo, permessage-deflate; server_max_window_bits=\"12\"",
            Some("permessage-deflate; server_max_window_bits=12"),
        ),
    ] {
        let req = with(sample(), |p| {
            p.headers.insert(
                "sec-websocket-extensions",
                HeaderValue::from_str(offer).unwrap(),
            );
        });
        let (resp, n) = accept(&req, &s).unwrap();
        let got = resp
            .headers()
            .get("sec-websocket-extensions")
            .map(|v| v.to_str().unwrap());
        assert_eq!(got, want, "{offer}");
        assert_eq!(n.deflate.is_some(), want.is_some());
    }
}

// ---- the client's checks ----

/// A valid 101 answer to `pending`, then `f` applied.
fn answer(pending: &PendingHandshake, f: impl FnOnce(&mut response::Parts)) -> response::Parts {
    let mut parts = Response::builder()
        .status(101)
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-accept", pending.expected_accept())
        .body(())
        .unwrap()
        .into_parts()
        .0;
    f(&mut parts);
    parts
}

fn hset(name: &'static str, value: &'static str) -> impl FnOnce(&mut response::Parts) {
    move |p| {
        p.headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
}

#[test]
fn client_refuses_bad_answers() {
    let (_, pending) = request_of(
        &client("ws://h/")
            .protocols(["a", "b"])
            .deflate(DeflateConfig::default()),
    );
    assert!(pending.verify(&answer(&pending, |_| {})).is_ok());
    let cases: Vec<(response::Parts, HandshakeError)> = vec![
        (
            answer(&pending, |p| p.status = StatusCode::OK),
            HandshakeError::BadStatus(200),
        ),
        (
            answer(&pending, |p| p.status = StatusCode::FORBIDDEN),
            HandshakeError::BadStatus(403),
        ),
        (
            answer(&pending, |p| {
                p.headers.remove("upgrade");
            }),
            HandshakeError::InvalidResponse("missing Upgrade: websocket"),
        ),
        (
            answer(&pending, hset("upgrade", "h2c")),
            HandshakeError::InvalidResponse("missing Upgrade: websocket"),
        ),
        (
            answer(&pending, hset("connection", "keep-alive")),
            HandshakeError::InvalidResponse("missing Connection: upgrade"),
        ),
        (
            answer(&pending, |p| {
                p.headers.remove("sec-websocket-accept");
            }),
            HandshakeError::AcceptKeyMismatch,
        ),
        (
            answer(&pending, hset("sec-websocket-accept", SAMPLE_ACCEPT)),
            HandshakeError::AcceptKeyMismatch,
        ),
        (
            answer(&pending, |p| {
                let v = p.headers["sec-websocket-accept"].clone();
                p.headers.append("sec-websocket-accept", v);
            }),
            HandshakeError::AcceptKeyMismatch,
        ),
        (
            answer(&pending, hset("sec-websocket-protocol", "c")),
            HandshakeError::UnofferedSubprotocol("c".into()),
        ),
        (
            answer(&pending, hset("sec-websocket-protocol", "a, b")),
            HandshakeError::InvalidResponse("more than one subprotocol"),
        ),
        (
            answer(&pending, hset("sec-websocket-protocol", "a b")),
            HandshakeError::InvalidResponse("malformed Sec-WebSocket-Protocol"),
        ),
        (
            answer(&pending, hset("sec-websocket-extensions", "foo")),
            HandshakeError::UnsupportedExtension("foo".into()),
        ),
        (
            answer(
                &pending,
                hset(
                    "sec-websocket-extensions",
                    "permessage-deflate, permessage-deflate",
                ),
            ),
            HandshakeError::UnsupportedExtension("permessage-deflate".into()),
        ),
        (
            answer(
                &pending,
                hset("sec-websocket-extensions", "permessage-deflate;"),
            ),
            HandshakeError::InvalidResponse("malformed Sec-WebSocket-Extensions"),
        ),
        (
            answer(
                &pending,
                hset(
                    "sec-websocket-extensions",
                    "permessage-deflate; server_max_window_bits=7",
                ),
            ),
            HandshakeError::InvalidExtensionResponse("window bits must be 8 to 15"),
        ),
    ];
    for (resp, want) in cases {
        let err = pending.verify(&resp).unwrap_err();
        assert_eq!(err, want);
        assert_eq!(err.kind(), ErrorKind::Protocol);
        assert_eq!(err.hint(), None, "nothing to send back from a client");
    }
    // Case-insensitive tokens, a chosen subprotocol, accepted deflate.
    let ok = answer(&pending, |p| {
        p.headers
            .insert("upgrade", HeaderValue::from_static("WEBSOCKET"));
        p.headers.insert(
            "connection",
            HeaderValue::from_static("keep-alive, upgrade"),
        );
        p.headers
            .insert("sec-websocket-protocol", HeaderValue::from_static("b"));
        p.headers.insert(
            "sec-websocket-extensions",
            HeaderValue::from_static("permessage-deflate; server_max_window_bits=12"),
        );
    });
    let n = pending.verify(&ok).unwrap();
    assert_eq!(n.subprotocol.as_deref(), Some("b"));
    assert_eq!(n.deflate.unwrap().server_max_window_bits, 12);
}

#[test]
fn client_without_offers_refuses_any() {
    let (_, pending) = request_of(&client("ws://h/"));
    let resp = answer(&pending, hset("sec-websocket-protocol", "a"));
    assert_eq!(
        pending.verify(&resp),
        Err(HandshakeError::UnofferedSubprotocol("a".into()))
    );
    let resp = answer(
        &pending,
        hset("sec-websocket-extensions", "permessage-deflate"),
    );
    assert_eq!(
        pending.verify(&resp),
        Err(HandshakeError::UnsupportedExtension(
            "permessage-deflate".into()
        ))
    );
}
