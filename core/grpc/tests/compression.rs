//! Compression: gzip round trips, the bomb limit, corrupt input, flags and
//! negotiation.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use wirestate_grpc::{
    Code, Encoding, EncodingSet, Error, Message, MessageDecoder, compress, decompress,
    decompress_message, encode_message_as, encode_message_with, error_response, negotiate,
};
use wirestate_machine::ErrorKind;

#[test]
fn gzip_bomb_stops_at_the_limit() {
    // 64 MiB of zeros compress to about 64 KiB.
    let zeros = vec![0u8; 64 << 20];
    let mut bomb = BytesMut::new();
    compress(Encoding::Gzip, &zeros, &mut bomb).unwrap();
    assert!(bomb.len() < 128 << 10, "{}", bomb.len());
    let mut out = BytesMut::from(&b"keep"[..]);
    let e = decompress(Encoding::Gzip, &bomb, 4 << 20, &mut out).unwrap_err();
    assert_eq!(e, Error::DecompressedTooLarge { max: 4 << 20 });
    assert_eq!(e.kind(), ErrorKind::Limit);
    assert_eq!(e.hint(), Some(Code::ResourceExhausted));
    assert_eq!(&out[..], b"keep", "dst left as it was");
    // Through the message helper too.
    let m = Message {
        compressed: true,
        data: bomb.freeze(),
    };
    assert_eq!(
        decompress_message(&m, Encoding::Gzip, 1 << 20),
        Err(Error::DecompressedTooLarge { max: 1 << 20 })
    );
}

#[test]
fn limit_is_inclusive() {
    let data = vec![7u8; 1000];
    let mut z = BytesMut::new();
    compress(Encoding::Gzip, &data, &mut z).unwrap();
    let mut out = BytesMut::new();
    decompress(Encoding::Gzip, &z, 1000, &mut out).unwrap();
    assert_eq!(&out[..], &data[..]);
    assert_eq!(
        decompress(Encoding::Gzip, &z, 999, &mut BytesMut::new()),
        Err(Error::DecompressedTooLarge { max: 999 })
    );
    assert_eq!(
        decompress(Encoding::Identity, &data, 999, &mut BytesMut::new()),
        Err(Error::DecompressedTooLarge { max: 999 })
    );
}

#[test]
fn corrupt_gzip() {
    let mut z = BytesMut::new();
    compress(Encoding::Gzip, b"hello hello hello", &mut z).unwrap();
    let cases: Vec<Vec<u8>> = vec![
        vec![],
        b"not gzip at all".to_vec(),
        z[..z.len() - 4].to_vec(), // no ISIZE
        {
            let mut v = z.to_vec();
            let n = v.len();
            v[n - 6] ^= 0xff; // CRC
            v
        },
        [&z[..], b"junk"].concat(),
    ];
    for c in cases {
        let e = decompress(Encoding::Gzip, &c, 1 << 20, &mut BytesMut::new()).unwrap_err();
        assert_eq!(e, Error::Decompress, "{c:?}");
        assert_eq!(e.hint(), Some(Code::Internal));
    }
    // Concatenated members are one message, as Go reads them.
    let mut two = z.to_vec();
    two.extend_from_slice(&z);
    let mut out = BytesMut::new();
    decompress(Encoding::Gzip, &two, 1 << 20, &mut out).unwrap();
    assert_eq!(&out[..], b"hello hello hellohello hello hello");
}

#[test]
fn flagged_messages() {
    let plain = Message {
        compressed: false,
        data: Bytes::from_static(b"as is"),
    };
    assert_eq!(
        &decompress_message(&plain, Encoding::Gzip, 10).unwrap()[..],
        b"as is"
    );
    let flagged = Message {
        compressed: true,
        data: Bytes::from_static(b"x"),
    };
    let e = decompress_message(&flagged, Encoding::Identity, 10).unwrap_err();
    assert_eq!(e, Error::CompressedWithoutEncoding);
    assert_eq!(e.hint(), Some(Code::Internal));
}

#[test]
fn framed_with_compression() {
    let mut wire = BytesMut::new();
    encode_message_with(Encoding::Gzip, b"payload payload payload", &mut wire).unwrap();
    encode_message_with(Encoding::Identity, b"plain", &mut wire).unwrap();
    let mut dec = MessageDecoder::new();
    dec.push(wire.freeze());
    let a = dec.next_message().unwrap().unwrap();
    let b = dec.next_message().unwrap().unwrap();
    assert!(a.compressed && !b.compressed);
    assert_eq!(
        &decompress_message(&a, Encoding::Gzip, 100).unwrap()[..],
        b"payload payload payload"
    );
    assert_eq!(
        &decompress_message(&b, Encoding::Gzip, 100).unwrap()[..],
        b"plain"
    );
}

/// Per-message compression on one gzip stream: what the interop cases
/// `client_compressed_streaming` and `server_compressed_streaming` send
/// (one message compressed, the next not), read back with each flag.
#[test]
fn per_message_choice_on_one_stream() {
    let data = vec![0u8; 31_415];
    let mut wire = BytesMut::new();
    encode_message_as(Encoding::Gzip, true, &data, &mut wire).unwrap();
    encode_message_as(Encoding::Gzip, false, &data, &mut wire).unwrap();
    // Identity never compresses, whatever is asked.
    encode_message_as(Encoding::Identity, true, b"plain", &mut wire).unwrap();
    let mut dec = MessageDecoder::new();
    dec.push(wire.freeze());
    let a = dec.next_message().unwrap().unwrap();
    let b = dec.next_message().unwrap().unwrap();
    let c = dec.next_message().unwrap().unwrap();
    assert!(a.compressed && a.data.len() < 1_000, "{}", a.data.len());
    assert!(!b.compressed && b.data.len() == data.len());
    assert!(!c.compressed && &c.data[..] == b"plain");
    for m in [&a, &b] {
        assert_eq!(
            decompress_message(m, Encoding::Gzip, 1 << 20).unwrap(),
            data
        );
    }
    // `encode_message_with` is the compress-every-message case.
    let (mut x, mut y) = (BytesMut::new(), BytesMut::new());
    encode_message_with(Encoding::Gzip, b"same", &mut x).unwrap();
    encode_message_as(Encoding::Gzip, true, b"same", &mut y).unwrap();
    assert_eq!(x, y);
}

#[test]
fn encoding_headers() {
    let mut h = HeaderMap::new();
    assert_eq!(Encoding::from_headers(&h), Ok(Encoding::Identity));
    h.insert("grpc-encoding", HeaderValue::from_static("gzip"));
    assert_eq!(Encoding::from_headers(&h), Ok(Encoding::Gzip));
    h.insert("grpc-encoding", HeaderValue::from_static("snappy"));
    let e = Encoding::from_headers(&h).unwrap_err();
    assert_eq!(
        e,
        Error::UnsupportedEncoding {
            name: "snappy".into()
        }
    );
    assert_eq!(e.hint(), Some(Code::Unimplemented));
    // The reply lists what we support.
    let reply = error_response(&e);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["grpc-status"], "12");
    assert_eq!(
        reply.headers["grpc-accept-encoding"],
        "gzip,deflate,identity"
    );

    let mut h = HeaderMap::new();
    assert!(EncodingSet::from_headers(&h).is_empty());
    h.insert(
        "grpc-accept-encoding",
        HeaderValue::from_static("deflate, GZIP ,br"),
    );
    let set = EncodingSet::from_headers(&h);
    assert!(set.contains(Encoding::Gzip) && !set.contains(Encoding::Identity));
    assert!(set.contains(Encoding::Deflate));
    assert_eq!(set.to_header_value().unwrap(), "gzip,deflate");
    assert_eq!(
        EncodingSet::only(Encoding::Deflate)
            .with(Encoding::Identity)
            .to_header_value()
            .unwrap(),
        "deflate,identity"
    );
    assert_eq!(EncodingSet::EMPTY.to_header_value(), None);
    let identity = EncodingSet::EMPTY.with(Encoding::Identity);
    assert_eq!(identity.to_header_value().unwrap(), "identity");
    assert_eq!(
        EncodingSet::SUPPORTED.iter().collect::<Vec<_>>(),
        [Encoding::Gzip, Encoding::Deflate, Encoding::Identity]
    );
    assert_eq!(
        [Encoding::Identity].into_iter().collect::<EncodingSet>(),
        EncodingSet::only(Encoding::Identity)
    );
}

/// `deflate` as grpc-core (grpcio's `Compression.Deflate`), grpc-java and
/// tonic send it: the zlib format (RFC 1950). Before, a grpcio client
/// compressing with deflate got UNIMPLEMENTED "unsupported grpc-encoding"
/// on every call.
#[test]
fn deflate_is_zlib() {
    // zlib.compress(b"hello") in Python (grpc-core's zlib with windowBits 15).
    let wire = [
        0x78, 0x9c, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x06, 0x2c, 0x02, 0x15,
    ];
    let mut h = HeaderMap::new();
    h.insert("grpc-encoding", HeaderValue::from_static("deflate"));
    assert_eq!(Encoding::from_headers(&h), Ok(Encoding::Deflate));
    let mut out = BytesMut::new();
    decompress(Encoding::Deflate, &wire, 64, &mut out).unwrap();
    assert_eq!(&out[..], b"hello");
    // What we send starts with a zlib header (CMF 0x78) and decodes back.
    let mut z = BytesMut::new();
    compress(Encoding::Deflate, b"hello hello hello", &mut z).unwrap();
    assert_eq!(z[0], 0x78);
    let mut back = BytesMut::new();
    decompress(Encoding::Deflate, &z, 64, &mut back).unwrap();
    assert_eq!(&back[..], b"hello hello hello");
    // A deflate bomb stops at the limit; raw deflate (no zlib header) and
    // empty input are corrupt.
    let mut bomb = BytesMut::new();
    compress(Encoding::Deflate, &vec![0u8; 1 << 20], &mut bomb).unwrap();
    let mut out = BytesMut::from(&b"kept"[..]);
    assert_eq!(
        decompress(Encoding::Deflate, &bomb, 1000, &mut out),
        Err(Error::DecompressedTooLarge { max: 1000 })
    );
    assert_eq!(&out[..], b"kept");
    assert_eq!(
        decompress(Encoding::Deflate, &wire[2..], 64, &mut out),
        Err(Error::Decompress)
    );
    assert_eq!(
        decompress(Encoding::Deflate, &[], 64, &mut out),
        Err(Error::Decompress)
    );
}

#[test]
fn negotiation() {
    assert_eq!(
        negotiate(Encoding::Gzip, EncodingSet::SUPPORTED),
        Encoding::Gzip
    );
    assert_eq!(
        negotiate(Encoding::Gzip, EncodingSet::only(Encoding::Identity)),
        Encoding::Identity
    );
    assert_eq!(
        negotiate(Encoding::Identity, EncodingSet::EMPTY),
        Encoding::Identity
    );
    // A peer can decode what it sent, and identity, whatever it lists.
    let mut h = HeaderMap::new();
    h.insert("grpc-encoding", HeaderValue::from_static("gzip"));
    let accepts = EncodingSet::peer_accepts(&h);
    assert!(accepts.contains(Encoding::Gzip) && accepts.contains(Encoding::Identity));
    assert_eq!(
        EncodingSet::peer_accepts(&HeaderMap::new()),
        EncodingSet::only(Encoding::Identity)
    );
}

proptest! {
    /// Whatever is compressed decompresses to itself, per encoding.
    #[test]
    fn round_trip(data in proptest::collection::vec(any::<u8>(), 0..2000), which in 0..3usize) {
        let enc = Encoding::ALL[which];
        let mut z = BytesMut::new();
        compress(enc, &data, &mut z).unwrap();
        let mut out = BytesMut::new();
        decompress(enc, &z, data.len(), &mut out).unwrap();
        prop_assert_eq!(&out[..], &data[..]);
    }

    /// Arbitrary bytes never panic the gzip or deflate decoder, and never
    /// give more than the limit.
    #[test]
    fn arbitrary_gzip(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        for enc in [Encoding::Gzip, Encoding::Deflate] {
            let mut out = BytesMut::new();
            if decompress(enc, &data, 64, &mut out).is_ok() {
                prop_assert!(out.len() <= 64);
            } else {
                prop_assert!(out.is_empty());
            }
        }
    }
}
