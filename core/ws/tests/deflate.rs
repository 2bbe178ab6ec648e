//! permessage-deflate: RFC 7692 §7.2.3's examples, round trips and split
//! invariance over random messages and parameters, context takeover and its
//! absence, the inflate limit (zip bombs), corrupt input, and negotiation.

use bytes::BytesMut;
use proptest::prelude::*;
use wirestate_machine::{ClassifyError, ErrorKind};
use wirestate_ws::{
    DeflateConfig, DeflateError, DeflateParams, Extension, HandshakeError, PerMessageDeflate, Role,
};

const HELLO: &[u8] = &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

fn params(f: impl FnOnce(&mut DeflateParams)) -> DeflateParams {
    let mut p = DeflateParams::default();
    f(&mut p);
    p
}

fn compress(c: &mut PerMessageDeflate, payload: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    c.compress(payload, &mut out).unwrap();
    out.to_vec()
}

fn inflate(
    d: &mut PerMessageDeflate,
    frames: &[&[u8]],
    max: usize,
) -> Result<Vec<u8>, DeflateError> {
    let mut out = BytesMut::new();
    for (i, f) in frames.iter().enumerate() {
        d.decompress(f, i + 1 == frames.len(), &mut out, max)?;
    }
    Ok(out.to_vec())
}

fn pair(p: &DeflateParams) -> (PerMessageDeflate, PerMessageDeflate) {
    (
        PerMessageDeflate::new(p, Role::Client),
        PerMessageDeflate::new(p, Role::Server),
    )
}

// ---- RFC 7692 §7.2.3 ----

#[test]
fn rfc_hello_compressed() {
    let (mut client, mut server) = pair(&DeflateParams::default());
    assert_eq!(compress(&mut client, b"Hello"), HELLO);
    assert_eq!(inflate(&mut server, &[HELLO], 100).unwrap(), b"Hello");
}

#[test]
fn rfc_hello_fragmented() {
    let (_, mut server) = pair(&DeflateParams::default());
    let frames: [&[u8]; 2] = [&[0xf2, 0x48, 0xcd], &[0xc9, 0xc9, 0x07, 0x00]];
    assert_eq!(inflate(&mut server, &frames, 100).unwrap(), b"Hello");
}

#[test]
fn rfc_context_takeover_second_message() {
    // §7.2.3.2: with context takeover the second "Hello" is a back-reference.
    let second: &[u8] = &[0xf2, 0x00, 0x11, 0x00, 0x00];
    let (mut client, mut server) = pair(&DeflateParams::default());
    assert_eq!(compress(&mut client, b"Hello"), HELLO);
    let again = compress(&mut client, b"Hello");
    assert_eq!(again, second);
    assert_eq!(inflate(&mut server, &[HELLO], 100).unwrap(), b"Hello");
    assert_eq!(inflate(&mut server, &[&again], 100).unwrap(), b"Hello");

    // The RFC's own bytes decode the same.
    let (_, mut server) = pair(&DeflateParams::default());
    assert_eq!(inflate(&mut server, &[HELLO], 100).unwrap(), b"Hello");
    assert_eq!(inflate(&mut server, &[second], 100).unwrap(), b"Hello");
}

#[test]
fn rfc_stored_block() {
    // §7.2.3.3: "Hello" in a DEFLATE block with no compression.
    let stored: &[u8] = &[
        0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
    ];
    let (_, mut server) = pair(&DeflateParams::default());
    assert_eq!(inflate(&mut server, &[stored], 100).unwrap(), b"Hello");
}

#[test]
fn rfc_bfinal_block() {
    // §7.2.3.4: a final block; the appended tail is then ignored, and the
    // next message starts afresh.
    let bfinal: &[u8] = &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
    let (_, mut server) = pair(&DeflateParams::default());
    assert_eq!(inflate(&mut server, &[bfinal], 100).unwrap(), b"Hello");
    assert_eq!(inflate(&mut server, &[bfinal], 100).unwrap(), b"Hello");
    assert_eq!(inflate(&mut server, &[HELLO], 100).unwrap(), b"Hello");
}

#[test]
fn rfc_two_blocks() {
    // §7.2.3.5: two DEFLATE blocks in one message.
    let two: &[u8] = &[
        0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
    ];
    let (_, mut server) = pair(&DeflateParams::default());
    assert_eq!(inflate(&mut server, &[two], 100).unwrap(), b"Hello");
}

#[test]
fn rfc_empty_message() {
    // §7.2.3.6: an empty message compresses to a single 0x00.
    let (mut client, mut server) = pair(&DeflateParams::default());
    assert_eq!(compress(&mut client, b""), [0x00]);
    assert_eq!(inflate(&mut server, &[&[0x00]], 100).unwrap(), b"");
    // An empty last frame after data.
    assert_eq!(inflate(&mut server, &[HELLO, &[]], 100).unwrap(), b"Hello");
}

// ---- context takeover ----

#[test]
fn no_context_takeover_resets_the_sender() {
    let p = params(|p| p.client_no_context_takeover = true);
    let (mut client, mut server) = pair(&p);
    for _ in 0..3 {
        // Every message compresses as if it were the first ...
        let wire = compress(&mut client, b"Hello");
        assert_eq!(wire, HELLO);
        // ... and a fresh inflater reads it.
        let mut fresh = PerMessageDeflate::new(&p, Role::Server);
        assert_eq!(inflate(&mut fresh, &[&wire], 100).unwrap(), b"Hello");
        assert_eq!(inflate(&mut server, &[&wire], 100).unwrap(), b"Hello");
    }
    // The server's direction keeps its context.
    let first = compress(&mut server, b"Hello");
    let second = compress(&mut server, b"Hello");
    assert_ne!(first, second);
}

#[test]
fn no_context_takeover_resets_the_receiver() {
    // A sender that (wrongly) keeps its context is caught by a receiver
    // that resets: the back-reference points before the message start.
    let (mut sender, _) = pair(&DeflateParams::default());
    let one = compress(&mut sender, b"Hello");
    let two = compress(&mut sender, b"Hello");
    let p = params(|p| p.client_no_context_takeover = true);
    let mut server = PerMessageDeflate::new(&p, Role::Server);
    assert_eq!(inflate(&mut server, &[&one], 100).unwrap(), b"Hello");
    assert_eq!(
        inflate(&mut server, &[&two], 100),
        Err(DeflateError::Corrupt)
    );
}

/// Pseudo-random bytes (xorshift), incompressible on their own.
fn noise(n: usize, mut x: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn role_picks_the_direction() {
    // Context takeover: only the server resets.
    let p = params(|p| p.server_no_context_takeover = true);
    let (mut client, mut server) = pair(&p);
    let one = compress(&mut client, b"Hello");
    let two = compress(&mut client, b"Hello");
    assert_ne!(one, two, "the client keeps its context");
    assert_eq!(inflate(&mut server, &[&one], 100).unwrap(), b"Hello");
    assert_eq!(inflate(&mut server, &[&two], 100).unwrap(), b"Hello");
    assert_eq!(compress(&mut server, b"Hello"), HELLO);
    assert_eq!(compress(&mut server, b"Hello"), HELLO, "the server resets");

    // Window: a 1000-byte block repeated is found by a 15-bit window only.
    let p = params(|p| p.server_max_window_bits = 9);
    let block = noise(1000, 88172645463325252);
    let data = [&block[..], &block[..], &block[..]].concat();
    let (mut client, mut server) = pair(&p);
    let from_client = compress(&mut client, &data);
    let from_server = compress(&mut server, &data);
    assert!(from_client.len() < 1200, "{}", from_client.len());
    assert!(from_server.len() > 2900, "{}", from_server.len());
    assert_eq!(
        inflate(&mut server, &[&from_client], usize::MAX).unwrap(),
        data
    );
    assert_eq!(
        inflate(&mut client, &[&from_server], usize::MAX).unwrap(),
        data
    );
}

// ---- limits ----

#[test]
fn zip_bomb_stops_at_the_limit() {
    let bomb = {
        let (mut c, _) = pair(&DeflateParams::default());
        compress(&mut c, &vec![0u8; 10 << 20])
    };
    assert!(bomb.len() < 20_000, "{}", bomb.len());
    let max = 1 << 20;
    for frame in [bomb.len(), 1000, 7] {
        let (_, mut server) = pair(&DeflateParams::default());
        let mut out = BytesMut::new();
        let mut result = Ok(());
        let chunks: Vec<&[u8]> = bomb.chunks(frame).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            result = server.decompress(chunk, i + 1 == chunks.len(), &mut out, max);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(DeflateError::TooLarge { max }));
        assert_eq!(out.len(), max);
        // Output grows in bounded steps: never far past the limit.
        assert!(
            out.capacity() <= 2 * max + (128 << 10),
            "{}",
            out.capacity()
        );
    }
}

#[test]
fn limit_is_inclusive() {
    let payload = b"abcdefghij".repeat(100);
    let (mut c, _) = pair(&DeflateParams::default());
    let wire = compress(&mut c, &payload);
    let (_, mut s) = pair(&DeflateParams::default());
    assert_eq!(inflate(&mut s, &[&wire], 1000).unwrap(), payload);
    let (_, mut s) = pair(&DeflateParams::default());
    assert_eq!(
        inflate(&mut s, &[&wire], 999),
        Err(DeflateError::TooLarge { max: 999 })
    );
    // The limit counts what `out` already held.
    let (_, mut s) = pair(&DeflateParams::default());
    let mut out = BytesMut::from(&b"x"[..]);
    assert_eq!(
        s.decompress(&wire, true, &mut out, 1000),
        Err(DeflateError::TooLarge { max: 1000 })
    );
}

#[test]
fn corrupt_input_is_refused() {
    let (_, mut s) = pair(&DeflateParams::default());
    // BTYPE 11 is reserved.
    assert_eq!(
        inflate(&mut s, &[&[0x07, 0x00]], 100),
        Err(DeflateError::Corrupt)
    );
    // Stored block whose NLEN is not the complement of LEN.
    let (_, mut s) = pair(&DeflateParams::default());
    assert_eq!(
        inflate(&mut s, &[&[0x00, 0x05, 0x00, 0x00, 0x00, b'H']], 100),
        Err(DeflateError::Corrupt)
    );
    // A distance before the start of any output.
    let (_, mut s) = pair(&DeflateParams::default());
    assert_eq!(
        inflate(&mut s, &[&[0xf2, 0x00, 0x11, 0x00, 0x00]], 100),
        Err(DeflateError::Corrupt)
    );
    // The codec recovers for a new message after an error.
    assert_eq!(inflate(&mut s, &[HELLO], 100).unwrap(), b"Hello");
}

#[test]
fn errors_classify() {
    let too_large = DeflateError::TooLarge { max: 1 };
    assert_eq!(too_large.close_code(), 1009);
    assert_eq!(too_large.kind(), ErrorKind::Limit);
    assert_eq!(too_large.hint(), Some(1009));
    assert_eq!(DeflateError::Corrupt.close_code(), 1007);
    assert_eq!(DeflateError::Corrupt.kind(), ErrorKind::Protocol);
}

#[test]
fn min_compress_size() {
    let p = params(|p| p.min_compress_size = 100);
    let (c, s) = pair(&p);
    assert_eq!(c.min_compress_size(), 100);
    assert_eq!(s.min_compress_size(), 100);
    // An 8-bit sending window cannot be compressed with: never worth it.
    let p = params(|p| p.server_max_window_bits = 8);
    let (c, s) = pair(&p);
    assert_eq!(
        c.min_compress_size(),
        100.min(DeflateParams::default().min_compress_size)
    );
    assert_eq!(s.min_compress_size(), usize::MAX);
}

// ---- properties ----

fn any_params() -> impl Strategy<Value = DeflateParams> {
    (any::<bool>(), any::<bool>(), 8u8..=15, 8u8..=15, 0u32..=9).prop_map(
        |(snc, cnc, sb, cb, level)| {
            params(|p| {
                p.server_no_context_takeover = snc;
                p.client_no_context_takeover = cnc;
                p.server_max_window_bits = sb;
                p.client_max_window_bits = cb;
                p.level = level;
            })
        },
    )
}

fn message() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        // Compressible: few distinct bytes, long runs.
        proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b' ')], 0..3000),
        (any::<u8>(), 0usize..70_000).prop_map(|(b, n)| vec![b; n]),
    ]
}

/// Splits `data` at the given cut points (taken modulo its length).
fn split<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    points.sort_unstable();
    let mut out = Vec::new();
    let mut last = 0;
    for p in points {
        out.push(&data[last..p]);
        last = p;
    }
    out.push(&data[last..]);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every message survives a round trip in both directions, whatever the
    /// parameters, and however the compressed stream is cut into frames.
    #[test]
    fn round_trip_and_split_invariance(
        p in any_params(),
        messages in proptest::collection::vec((message(), proptest::collection::vec(any::<usize>(), 0..6)), 1..6),
    ) {
        let (mut client, mut server) = pair(&p);
        let (mut server_whole, mut client_whole) = pair(&p);
        for (msg, cuts) in &messages {
            // client → server, cut into frames.
            let wire = compress(&mut client, msg);
            let frames = split(&wire, cuts);
            prop_assert_eq!(&inflate(&mut server, &frames, usize::MAX).unwrap(), msg);
            // ... and the same bytes whole.
            prop_assert_eq!(&inflate(&mut client_whole, &[&wire], usize::MAX).unwrap(), msg);
            // server → client.
            let wire = compress(&mut server, msg);
            let frames = split(&wire, cuts);
            prop_assert_eq!(&inflate(&mut client, &frames, usize::MAX).unwrap(), msg);
            prop_assert_eq!(&inflate(&mut server_whole, &[&wire], usize::MAX).unwrap(), msg);
        }
    }

    /// Byte-at-a-time feeding gives the same message.
    #[test]
    fn one_byte_frames(msg in message().prop_filter("short", |m| m.len() < 5000)) {
        let (mut client, mut server) = pair(&DeflateParams::default());
        let wire = compress(&mut client, &msg);
        let frames: Vec<&[u8]> = wire.chunks(1).collect();
        let frames = if frames.is_empty() { vec![&wire[..]] } else { frames };
        prop_assert_eq!(inflate(&mut server, &frames, usize::MAX).unwrap(), msg);
    }

    /// The limit holds for any message and any cut: either the message fits
    /// and is returned whole, or the error comes with exactly `max` bytes out.
    #[test]
    fn limit_holds(msg in message(), max in 0usize..5000, cuts in proptest::collection::vec(any::<usize>(), 0..4)) {
        let (mut client, mut server) = pair(&DeflateParams::default());
        let wire = compress(&mut client, &msg);
        let frames = split(&wire, &cuts);
        let mut out = BytesMut::new();
        let mut result = Ok(());
        for (i, f) in frames.iter().enumerate() {
            result = server.decompress(f, i + 1 == frames.len(), &mut out, max);
            if result.is_err() { break; }
        }
        if msg.len() <= max {
            prop_assert_eq!(result, Ok(()));
            prop_assert_eq!(&out[..], &msg[..]);
        } else {
            prop_assert_eq!(result, Err(DeflateError::TooLarge { max }));
            prop_assert_eq!(out.len(), max);
            prop_assert_eq!(&out[..], &msg[..max]);
        }
    }

    /// Arbitrary input never panics and never exceeds the limit.
    #[test]
    fn garbage_never_panics(
        frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..5),
        bits in 8u8..=15,
    ) {
        let p = params(|p| p.client_max_window_bits = bits);
        let mut server = PerMessageDeflate::new(&p, Role::Server);
        let mut out = BytesMut::new();
        for (i, f) in frames.iter().enumerate() {
            if server.decompress(f, i + 1 == frames.len(), &mut out, 4096).is_err() {
                break;
            }
        }
        prop_assert!(out.len() <= 4096);
    }
}

// ---- negotiation ----

fn offers(header: &str) -> Vec<Extension> {
    Extension::parse_list(header.as_bytes()).unwrap()
}

fn accept(config: &DeflateConfig, header: &str) -> Option<(DeflateParams, String)> {
    config.accept(&offers(header))
}

#[test]
fn offer_format() {
    assert_eq!(
        DeflateConfig::default().offer(),
        "permessage-deflate; client_max_window_bits"
    );
    let mut c = DeflateConfig::default();
    c.server_no_context_takeover = true;
    c.client_no_context_takeover = true;
    c.server_max_window_bits = Some(10);
    c.client_max_window_bits = Some(20); // clamped
    assert_eq!(
        c.offer(),
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         server_max_window_bits=10; client_max_window_bits=15"
    );
}

#[test]
fn server_accepts_plain_offer() {
    let (p, answer) = accept(&DeflateConfig::default(), "permessage-deflate").unwrap();
    assert_eq!(answer, "permessage-deflate");
    assert_eq!(p, DeflateParams::default());
}

#[test]
fn server_honours_and_limits() {
    let mut c = DeflateConfig::default();
    c.server_max_window_bits = Some(12);
    c.client_max_window_bits = Some(11);
    c.client_no_context_takeover = true;
    // The client asks for a smaller server window and lets us limit its own.
    let (p, answer) = accept(
        &c,
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits",
    )
    .unwrap();
    assert_eq!(
        answer,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         server_max_window_bits=10; client_max_window_bits=11"
    );
    assert!(p.server_no_context_takeover && p.client_no_context_takeover);
    assert_eq!(
        (p.server_max_window_bits, p.client_max_window_bits),
        (10, 11)
    );

    // Without client_max_window_bits in the offer we cannot limit the client.
    let (p, answer) = accept(&c, "permessage-deflate").unwrap();
    assert_eq!(
        answer,
        "permessage-deflate; client_no_context_takeover; server_max_window_bits=12"
    );
    assert_eq!(
        (p.server_max_window_bits, p.client_max_window_bits),
        (12, 15)
    );

    // The client's own hint is binding once echoed.
    let (p, answer) = accept(
        &DeflateConfig::default(),
        "permessage-deflate; client_max_window_bits=9",
    )
    .unwrap();
    assert_eq!(answer, "permessage-deflate; client_max_window_bits=9");
    assert_eq!(p.client_max_window_bits, 9);

    // An offer of 15 must still be answered to be accepted.
    let (_, answer) = accept(
        &DeflateConfig::default(),
        "permessage-deflate; server_max_window_bits=15",
    )
    .unwrap();
    assert_eq!(answer, "permessage-deflate; server_max_window_bits=15");
}

#[test]
fn server_accepts_eight_bits_without_compressing() {
    let (p, answer) = accept(
        &DeflateConfig::default(),
        "permessage-deflate; server_max_window_bits=8",
    )
    .unwrap();
    assert_eq!(answer, "permessage-deflate; server_max_window_bits=8");
    let mut server = PerMessageDeflate::new(&p, Role::Server);
    let mut client = PerMessageDeflate::new(&p, Role::Client);
    assert_eq!(server.min_compress_size(), usize::MAX);
    // Forced anyway: stored blocks, which an 8-bit inflater reads.
    let data = b"abcabcabcabcabcabcabcabc".repeat(30);
    let wire = compress(&mut server, &data);
    assert_eq!(inflate(&mut client, &[&wire], usize::MAX).unwrap(), data);
    // The client still compresses towards the server.
    assert_eq!(client.min_compress_size(), 32);
}

#[test]
fn server_declines_bad_offers_and_takes_the_next() {
    let c = DeflateConfig::default();
    for bad in [
        "permessage-deflate; foo",                       // unknown parameter
        "permessage-deflate; server_max_window_bits=16", // out of range
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=08", // leading zero
        "permessage-deflate; server_max_window_bits",    // value required
        "permessage-deflate; client_max_window_bits=abc",
        "permessage-deflate; server_no_context_takeover=1", // no value allowed
        "permessage-deflate; client_max_window_bits; client_max_window_bits", // duplicate
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    ] {
        assert_eq!(accept(&c, bad), None, "{bad}");
        let (p, _) = accept(
            &c,
            &format!("{bad}, permessage-deflate; server_max_window_bits=11"),
        )
        .unwrap_or_else(|| panic!("fallback after {bad}"));
        assert_eq!(p.server_max_window_bits, 11);
    }
    // Quoted values are unquoted before checking.
    let (p, _) = accept(&c, "permessage-deflate; server_max_window_bits=\"10\"").unwrap();
    assert_eq!(p.server_max_window_bits, 10);
    assert_eq!(
        accept(&c, "permessage-deflate; server_max_window_bits=\"1 0\""),
        None
    );
    // Other extensions are ignored.
    let (p, _) = accept(
        &c,
        "x-webkit-deflate-frame, foo; bar=baz, permessage-deflate; client_max_window_bits=12",
    )
    .unwrap();
    assert_eq!(p.client_max_window_bits, 12);
    assert_eq!(accept(&c, "x-webkit-deflate-frame"), None);
}

fn verify(config: &DeflateConfig, answer: &str) -> Result<DeflateParams, HandshakeError> {
    config.verify(&offers(answer)[0])
}

#[test]
fn client_verifies_the_answer() {
    let c = DeflateConfig::default();
    assert_eq!(
        verify(&c, "permessage-deflate").unwrap(),
        DeflateParams::default()
    );
    let p = verify(
        &c,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         server_max_window_bits=9; client_max_window_bits=10",
    )
    .unwrap();
    assert!(p.server_no_context_takeover && p.client_no_context_takeover);
    assert_eq!(
        (p.server_max_window_bits, p.client_max_window_bits),
        (9, 10)
    );

    for bad in [
        "permessage-deflate; foo",
        "permessage-deflate; client_max_window_bits", // needs a value in an answer
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=9; server_max_window_bits=9",
        "permessage-deflate; client_no_context_takeover=x",
    ] {
        assert!(
            matches!(
                verify(&c, bad),
                Err(HandshakeError::InvalidExtensionResponse(_))
            ),
            "{bad}"
        );
    }
    assert_eq!(
        verify(&c, "foo"),
        Err(HandshakeError::UnsupportedExtension("foo".into()))
    );
}

#[test]
fn client_holds_the_server_to_its_offer() {
    let mut c = DeflateConfig::default();
    c.server_max_window_bits = Some(10);
    c.server_no_context_takeover = true;
    c.client_max_window_bits = Some(12);
    c.client_no_context_takeover = true;
    let ok = "permessage-deflate; server_no_context_takeover; server_max_window_bits=10";
    let p = verify(&c, ok).unwrap();
    // Our own announcements hold even though the server did not repeat them.
    assert!(p.client_no_context_takeover);
    assert_eq!(p.client_max_window_bits, 12);
    let p = verify(&c, &format!("{ok}; client_max_window_bits=9")).unwrap();
    assert_eq!(p.client_max_window_bits, 9);

    for bad in [
        "permessage-deflate; server_max_window_bits=10", // dropped no_context_takeover
        "permessage-deflate; server_no_context_takeover", // dropped the window
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=11", // larger
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=13",
    ] {
        assert!(
            matches!(
                verify(&c, bad),
                Err(HandshakeError::InvalidExtensionResponse(_))
            ),
            "{bad}"
        );
    }
}

// ---- the header grammar ----

#[test]
fn extension_grammar() {
    let list = offers(" a ,, b;x ; y = \"q\\\"uo,te;d\" ;z=tok , c\t;\tw=1 ,");
    assert_eq!(list.len(), 3);
    assert_eq!(list[0], Extension::new("a"));
    assert_eq!(list[1].name, "b");
    assert_eq!(
        list[1].params,
        [
            ("x".into(), None),
            ("y".into(), Some("q\"uo,te;d".into())),
            ("z".into(), Some("tok".into()))
        ]
    );
    assert_eq!(list[2].params, [("w".into(), Some("1".into()))]);
    // Formatting quotes what is not a token, and parses back the same.
    assert_eq!(list[1].to_string(), "b; x; y=\"q\\\"uo,te;d\"; z=tok");
    assert_eq!(offers(&list[1].to_string())[0], list[1]);
    assert_eq!(offers(""), []);
    assert_eq!(offers(" , "), []);

    for bad in [
        "a;",
        "a; =1",
        "a; x=",
        "a; x=\"open",
        "a b",
        "a; x=1 2",
        ";a",
        "a; x=\"\u{1}\"",
        "a; x=\"\\\u{7f}\"",
        "é",
        "a; x=y=z",
    ] {
        assert!(Extension::parse_list(bad.as_bytes()).is_err(), "{bad:?}");
    }
    assert!(Extension::parse_list(b"a; x=\"\xff\"").is_err());
}

proptest! {
    /// Parsing never panics, and what parses formats back to an equal list.
    #[test]
    fn grammar_round_trips(input in "[a-z;=,\" \\\\\t0-9]{0,40}") {
        if let Ok(list) = Extension::parse_list(input.as_bytes()) {
            let text: Vec<String> = list.iter().map(ToString::to_string).collect();
            prop_assert_eq!(offers(&text.join(", ")), list);
        }
    }
}
