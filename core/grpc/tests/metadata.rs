//! Metadata: keys, values, `-bin` round trips, reserved keys, size.

use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use wirestate_grpc::{Error, Metadata, decode_bin_value, encode_bin_value, is_reserved_key};
use wirestate_machine::ErrorKind;

#[test]
fn key_and_value_charset() {
    let mut md = Metadata::new();
    md.insert("a-z_0.9", "visible ASCII ~!").unwrap();
    // Upper case folds to lower case, as in HTTP.
    md.insert("X-Trace", "1").unwrap();
    assert_eq!(md.get_str("x-trace"), Some("1"));
    for bad in ["", "a b", "a:b", "ü", "a/b", "a@b"] {
        assert_eq!(
            md.insert(bad, "v"),
            Err(Error::InvalidMetadataKey),
            "{bad:?}"
        );
    }
    for bad in ["tab\t", "nl\n", "é", "\u{7f}"] {
        assert_eq!(
            md.insert("k", bad),
            Err(Error::InvalidMetadataValue),
            "{bad:?}"
        );
    }
    assert_eq!(Error::InvalidMetadataValue.kind(), ErrorKind::Usage);
    // `-bin` keys take bytes, the others text.
    assert_eq!(md.insert("k-bin", "v"), Err(Error::InvalidMetadataKey));
    assert_eq!(md.insert_bin("k", b"v"), Err(Error::InvalidMetadataKey));
    assert_eq!(md.insert_bin("-bin", b"v"), Err(Error::InvalidMetadataKey));
}

#[test]
fn reserved_keys() {
    for key in [
        "grpc-status",
        "grpc-message",
        "grpc-timeout",
        "grpc-encoding",
        "grpc-accept-encoding",
        "grpc-status-details-bin",
        "grpc-future-thing",
        "Grpc-Status",
        "GRPC-TIMEOUT",
        "Content-Type",
        ":path",
        "content-type",
        "te",
        "user-agent",
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    ] {
        assert!(is_reserved_key(key), "{key}");
    }
    for key in [
        "authorization",
        "grpc-trace-bin",
        "grpc-tags-bin",
        "grpc-previous-rpc-attempts",
        "grpc-retry-pushback-ms",
        "Grpc-Trace-Bin",
        "x-grpc-thing",
        "grpc",
        "grpcx",
    ] {
        assert!(!is_reserved_key(key), "{key}");
    }
    let mut md = Metadata::new();
    assert_eq!(
        md.insert("grpc-status", "0"),
        Err(Error::ReservedMetadataKey)
    );
    assert_eq!(md.insert("te", "trailers"), Err(Error::ReservedMetadataKey));
    assert_eq!(
        md.insert_bin("grpc-status-details-bin", b""),
        Err(Error::ReservedMetadataKey)
    );
    md.insert_bin("grpc-trace-bin", b"\x00").unwrap();
}

#[test]
fn received_headers_keep_only_user_metadata() {
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("application/grpc"));
    h.insert("grpc-status", HeaderValue::from_static("0"));
    h.insert("te", HeaderValue::from_static("trailers"));
    h.insert("authorization", HeaderValue::from_static("Bearer x"));
    h.append("x-many", HeaderValue::from_static("1"));
    h.append("x-many", HeaderValue::from_static("2"));
    // Valid HTTP, outside gRPC's charset: kept, not an error.
    h.insert("x-latin", HeaderValue::from_bytes(b"caf\xe9").unwrap());
    let md = Metadata::from_headers(&h);
    assert_eq!(md.len(), 4);
    assert_eq!(md.get_str("authorization"), Some("Bearer x"));
    let many: Vec<_> = md.get_all("x-many").collect();
    assert_eq!(many, ["1", "2"]);
    assert_eq!(md.get_str("x-latin"), None);
    assert_eq!(md.get("x-latin").unwrap().as_bytes(), b"caf\xe9");
    assert!(!md.contains_key("grpc-status"));
}

#[test]
fn bin_values_padding_and_commas() {
    // Unpadded on encode.
    assert_eq!(encode_bin_value(b"a"), "YQ");
    assert_eq!(encode_bin_value(b"ab"), "YWI");
    assert_eq!(encode_bin_value(b"abc"), "YWJj");
    // Padded or not on decode.
    for v in [&b"YQ"[..], b"YQ==", b" YQ== "] {
        assert_eq!(&decode_bin_value(v).unwrap()[..], b"a");
    }
    assert_eq!(decode_bin_value(b"Y"), Err(Error::InvalidBinaryValue));
    assert_eq!(decode_bin_value(b"Y!=="), Err(Error::InvalidBinaryValue));
    let mut h = HeaderMap::new();
    h.append("x-bin", HeaderValue::from_static("YQ,YWI=,"));
    h.append("x-bin", HeaderValue::from_static("YWJj"));
    let md = Metadata::from_headers(&h);
    let all = md.get_bin_all("x-bin").unwrap();
    let all: Vec<&[u8]> = all.iter().map(|b| &b[..]).collect();
    assert_eq!(all, [&b"a"[..], b"ab", b"", b"abc"]);
    assert_eq!(&md.get_bin("x-bin").unwrap().unwrap()[..], b"a");
    assert!(md.get_bin("absent-bin").is_none());
    h.insert("y-bin", HeaderValue::from_static("%%%"));
    let md = Metadata::from_headers(&h);
    assert_eq!(md.get_bin("y-bin"), Some(Err(Error::InvalidBinaryValue)));
    assert_eq!(md.get_bin_all("y-bin"), Err(Error::InvalidBinaryValue));
    assert_eq!(Error::InvalidBinaryValue.kind(), ErrorKind::Protocol);
}

#[test]
fn size_accounting_and_copying() {
    let mut md = Metadata::new();
    assert_eq!(md.header_list_size(), 0);
    md.insert("abc", "12345").unwrap();
    assert_eq!(md.header_list_size(), 3 + 5 + 32);
    md.insert_bin("k-bin", &[0; 3]).unwrap(); // "AAAA"
    assert_eq!(md.header_list_size(), 40 + 5 + 4 + 32);
    md.append("abc", "6").unwrap();
    let mut h = HeaderMap::new();
    md.append_to(&mut h);
    assert_eq!(h.get_all("abc").iter().count(), 2);
    assert_eq!(Metadata::from_headers(&h), md);
    assert_eq!(md.iter().count(), 3);
    assert_eq!((&md).into_iter().count(), 3);
    assert_eq!(md.remove("abc").unwrap(), "12345");
    assert_eq!(md.clone().into_header_map().len(), 1);
    assert!(!md.is_empty());
}

fn key() -> impl Strategy<Value = String> {
    "[a-z0-9_.-]{1,12}".prop_filter("not reserved", |k| {
        !is_reserved_key(k) && !k.ends_with("-bin")
    })
}

proptest! {
    /// Any bytes survive a `-bin` entry, padded or not on the wire.
    #[test]
    fn bin_round_trip(k in key(), values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..4)) {
        let key = format!("{k}-bin");
        let mut md = Metadata::new();
        for v in &values {
            md.append_bin(&key, v).unwrap();
        }
        for v in md.get_all(&key) {
            prop_assert!(!v.as_bytes().contains(&b'='));
        }
        let mut h = HeaderMap::new();
        md.append_to(&mut h);
        let back = Metadata::from_headers(&h).get_bin_all(&key).unwrap();
        let back: Vec<Vec<u8>> = back.iter().map(|b| b.to_vec()).collect();
        prop_assert_eq!(&back, &values);
        // Padded, as some peers send it.
        for v in &values {
            use base64::Engine;
            let padded = base64::engine::general_purpose::STANDARD.encode(v);
            prop_assert_eq!(&decode_bin_value(padded.as_bytes()).unwrap()[..], &v[..]);
        }
    }

    /// ASCII entries survive too.
    #[test]
    fn ascii_round_trip(k in key(), v in "[ -~]{0,40}") {
        let mut md = Metadata::new();
        md.insert(&k, &v).unwrap();
        let mut h = HeaderMap::new();
        md.append_to(&mut h);
        let back = Metadata::from_headers(&h);
        prop_assert_eq!(back.get_str(&k), Some(v.as_str()));
    }
}
