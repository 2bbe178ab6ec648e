//! HPACK against RFC 7541: every example of Appendix C (decoded to the
//! given fields and table state, and encoded to the given bytes by an
//! encoder configured as the examples' was), the error cases of §5 and §6,
//! the header list limit keeping the table in sync, table size updates, and
//! the encoder's indexing policy.

use bytes::{Bytes, BytesMut};
use wirestate_h2::hpack::{
    Decoder, Encoder, EncoderConfig, Error, Field, Hint, Indexing, Pseudo, decode_int, encode_int,
};
use wirestate_machine::ErrorKind;

fn hex(s: &str) -> Bytes {
    let s: String = s.split_whitespace().collect();
    assert!(s.len() % 2 == 0, "odd hex");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect::<Vec<u8>>()
        .into()
}

fn f(name: &'static str, value: &'static str) -> Field {
    Field::new(name, value)
}

fn table(d: &Decoder) -> Vec<(String, String)> {
    strings(d.table_entries())
}

fn strings<'a>(entries: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> Vec<(String, String)> {
    entries
        .map(|(n, v)| {
            (
                String::from_utf8_lossy(n).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect()
}

fn encoder_table(e: &Encoder) -> Vec<(String, String)> {
    strings(e.table_entries())
}

fn owned(entries: &[(&str, &str)]) -> Vec<(String, String)> {
    entries
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn config(huffman: bool, indexing: Indexing) -> EncoderConfig {
    let mut c = EncoderConfig::default();
    c.huffman = huffman;
    c.indexing = indexing;
    c
}

fn encode(e: &mut Encoder, fields: &[Field]) -> Bytes {
    let mut dst = BytesMut::new();
    e.encode(fields, &mut dst);
    dst.freeze()
}

// ---- C.1 integers ----

#[test]
fn c1_integers() {
    // C.1.1: 10 with a 5-bit prefix.
    assert_eq!(encode_int(10, 5), [0x0a]);
    assert_eq!(decode_int(&[0xea], 5), Ok((10, 1)));
    // C.1.2: 1337 with a 5-bit prefix.
    assert_eq!(encode_int(1337, 5), [0x1f, 0x9a, 0x0a]);
    assert_eq!(decode_int(&[0xff, 0x9a, 0x0a], 5), Ok((1337, 3)));
    // C.1.3: 42 at an octet boundary (8-bit prefix).
    assert_eq!(encode_int(42, 8), [0x2a]);
    assert_eq!(decode_int(&[0x2a], 8), Ok((42, 1)));
}

// ---- C.2 single representations ----

#[test]
fn c2_1_literal_with_indexing() {
    let block = hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
    let mut d = Decoder::new();
    assert_eq!(
        d.decode(&block).unwrap(),
        [f("custom-key", "custom-header")]
    );
    assert_eq!(table(&d), owned(&[("custom-key", "custom-header")]));
    assert_eq!(d.table_size(), 55);

    let mut e = Encoder::with_config(config(false, Indexing::Guarded));
    assert_eq!(encode(&mut e, &[f("custom-key", "custom-header")]), block);
    assert_eq!(e.table_size(), 55);
}

#[test]
fn c2_2_literal_without_indexing() {
    let block = hex("040c 2f73 616d 706c 652f 7061 7468");
    let mut d = Decoder::new();
    assert_eq!(d.decode(&block).unwrap(), [f(":path", "/sample/path")]);
    assert_eq!(d.table_len(), 0);

    let mut e = Encoder::with_config(config(false, Indexing::Guarded));
    let mut dst = BytesMut::new();
    e.block(&mut dst).unindexed_field(b":path", b"/sample/path");
    assert_eq!(dst.freeze(), block);
    assert_eq!(e.table_len(), 0);
}

#[test]
fn c2_3_literal_never_indexed() {
    let block = hex("1008 7061 7373 776f 7264 0673 6563 7265 74");
    let mut d = Decoder::new();
    let fields = d.decode(&block).unwrap();
    assert_eq!(fields, [Field::sensitive("password", "secret")]);
    assert!(fields[0].sensitive);
    assert_eq!(d.table_len(), 0);

    let mut e = Encoder::with_config(config(false, Indexing::Guarded));
    assert_eq!(
        encode(&mut e, &[Field::sensitive("password", "secret")]),
        block
    );
    assert_eq!(e.table_len(), 0);
}

#[test]
fn c2_4_indexed() {
    let block = hex("82");
    let mut d = Decoder::new();
    assert_eq!(d.decode(&block).unwrap(), [f(":method", "GET")]);
    assert_eq!(d.table_len(), 0);
    let mut e = Encoder::new();
    assert_eq!(encode(&mut e, &[f(":method", "GET")]), block);
}

// ---- C.3 / C.4 requests ----

fn requests() -> [Vec<Field>; 3] {
    [
        vec![
            f(":method", "GET"),
            f(":scheme", "http"),
            f(":path", "/"),
            f(":authority", "www.example.com"),
        ],
        vec![
            f(":method", "GET"),
            f(":scheme", "http"),
            f(":path", "/"),
            f(":authority", "www.example.com"),
            f("cache-control", "no-cache"),
        ],
        vec![
            f(":method", "GET"),
            f(":scheme", "https"),
            f(":path", "/index.html"),
            f(":authority", "www.example.com"),
            f("custom-key", "custom-value"),
        ],
    ]
}

fn request_tables() -> [(Vec<(String, String)>, usize); 3] {
    [
        (owned(&[(":authority", "www.example.com")]), 57),
        (
            owned(&[
                ("cache-control", "no-cache"),
                (":authority", "www.example.com"),
            ]),
            110,
        ),
        (
            owned(&[
                ("custom-key", "custom-value"),
                ("cache-control", "no-cache"),
                (":authority", "www.example.com"),
            ]),
            164,
        ),
    ]
}

/// Decodes and encodes a sequence of blocks on one connection, checking
/// fields, table state after each block, and the encoder's bytes.
fn run_sequence(
    blocks: &[Bytes],
    lists: &[Vec<Field>],
    tables: &[(Vec<(String, String)>, usize)],
    mut d: Decoder,
    mut e: Encoder,
) {
    for (i, block) in blocks.iter().enumerate() {
        assert_eq!(d.decode(block).unwrap(), lists[i], "block {i} fields");
        assert_eq!(table(&d), tables[i].0, "block {i} decoder table");
        assert_eq!(d.table_size(), tables[i].1, "block {i} decoder table size");
        assert_eq!(&encode(&mut e, &lists[i]), block, "block {i} encoding");
        assert_eq!(encoder_table(&e), tables[i].0, "block {i} encoder table");
        assert_eq!(e.table_size(), tables[i].1, "block {i} encoder table size");
    }
}

#[test]
fn c3_requests_without_huffman() {
    let blocks = [
        hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d"),
        hex("8286 84be 5808 6e6f 2d63 6163 6865"),
        hex("8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65"),
    ];
    run_sequence(
        &blocks,
        &requests(),
        &request_tables(),
        Decoder::new(),
        Encoder::with_config(config(false, Indexing::Guarded)),
    );
}

#[test]
fn c4_requests_with_huffman() {
    let blocks = [
        hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"),
        hex("8286 84be 5886 a8eb 1064 9cbf"),
        hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"),
    ];
    run_sequence(
        &blocks,
        &requests(),
        &request_tables(),
        Decoder::new(),
        Encoder::with_config(config(true, Indexing::Guarded)),
    );
}

// ---- C.5 / C.6 responses, table size 256 ----

fn responses() -> [Vec<Field>; 3] {
    [
        vec![
            f(":status", "302"),
            f("cache-control", "private"),
            f("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
            f("location", "https://www.example.com"),
        ],
        vec![
            f(":status", "307"),
            f("cache-control", "private"),
            f("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
            f("location", "https://www.example.com"),
        ],
        vec![
            f(":status", "200"),
            f("cache-control", "private"),
            f("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
            f("location", "https://www.example.com"),
            f("content-encoding", "gzip"),
            f(
                "set-cookie",
                "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
            ),
        ],
    ]
}

fn response_tables() -> [(Vec<(String, String)>, usize); 3] {
    [
        (
            owned(&[
                ("location", "https://www.example.com"),
                ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
                ("cache-control", "private"),
                (":status", "302"),
            ]),
            222,
        ),
        (
            owned(&[
                (":status", "307"),
                ("location", "https://www.example.com"),
                ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
                ("cache-control", "private"),
            ]),
            222,
        ),
        (
            owned(&[
                (
                    "set-cookie",
                    "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
                ),
                ("content-encoding", "gzip"),
                ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
            ]),
            215,
        ),
    ]
}

#[test]
fn c5_responses_without_huffman() {
    let blocks = [
        hex(
            "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
             2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
             6c65 2e63 6f6d",
        ),
        hex("4803 3330 37c1 c0bf"),
        hex(
            "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
             54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
             5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
             3d31",
        ),
    ];
    run_sequence(
        &blocks,
        &responses(),
        &response_tables(),
        Decoder::with_table_size(256),
        // The examples index set-cookie: the RFC's encoder indexes everything.
        Encoder::with_table_size(256, config(false, Indexing::Always)),
    );
}

#[test]
fn c6_responses_with_huffman() {
    let blocks = [
        hex(
            "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
             2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        ),
        hex("4883 640e ffc1 c0bf"),
        hex(
            "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
             77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
             9587 3160 65c0 03ed 4ee5 b106 3d50 07",
        ),
    ];
    run_sequence(
        &blocks,
        &responses(),
        &response_tables(),
        Decoder::with_table_size(256),
        Encoder::with_table_size(256, config(true, Indexing::Always)),
    );
}

/// With the default (guarded) policy the C.5 responses differ only where
/// the policy says so: `set-cookie` is sent never-indexed.
#[test]
fn c5_with_the_default_policy_round_trips() {
    let mut e = Encoder::with_table_size(256, EncoderConfig::default());
    let mut d = Decoder::with_table_size(256);
    for list in responses() {
        let block = encode(&mut e, &list);
        let got = d.decode(&block).unwrap();
        for (a, b) in got.iter().zip(&list) {
            assert_eq!((&a.name, &a.value), (&b.name, &b.value));
            assert_eq!(a.sensitive, &a.name[..] == b"set-cookie");
        }
        assert_eq!(got.len(), list.len());
        assert_eq!(table(&d), encoder_table(&e));
    }
}

// ---- zero copy ----

#[test]
fn plain_literals_are_slices_of_the_block() {
    // C.2.2: a literal without indexing, not Huffman-coded.
    let block = hex("040c 2f73 616d 706c 652f 7061 7468");
    let fields = Decoder::new().decode(&block).unwrap();
    let range = block.as_ptr_range();
    assert!(range.contains(&fields[0].value.as_ptr()));
    // Entries added to the table are copies: the table never pins a block.
    let block = hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
    let mut d = Decoder::new();
    d.decode(&block).unwrap();
    let (name, _) = d.table_entries().next().unwrap();
    assert!(!block.as_ptr_range().contains(&name.as_ptr()));
}

// ---- errors ----

fn decode_err(block: &[u8]) -> Error {
    Decoder::new()
        .decode(&Bytes::copy_from_slice(block))
        .unwrap_err()
}

#[test]
fn huffman_errors() {
    // `0x00` literal without indexing, new name "x", Huffman value of one byte.
    let lit = |value: &[u8]| {
        let mut b = vec![0x00, 0x01, b'x', 0x80 | value.len() as u8];
        b.extend_from_slice(value);
        b
    };
    // 'a' (00011) padded with ones: valid.
    assert_eq!(
        Decoder::new()
            .decode(&Bytes::from(lit(&[0b0001_1111])))
            .unwrap(),
        [f("x", "a")]
    );
    // Padded with zeros: not the high bits of EOS.
    assert_eq!(decode_err(&lit(&[0b0001_1000])), Error::HuffmanPadding);
    assert_eq!(decode_err(&lit(&[0b0001_1101])), Error::HuffmanPadding);
    // Padding longer than 7 bits.
    assert_eq!(
        decode_err(&lit(&[0b0001_1111, 0xff])),
        Error::HuffmanPadding
    );
    assert_eq!(decode_err(&lit(&[0xff])), Error::HuffmanPadding);
    // EOS in the string.
    assert_eq!(
        decode_err(&lit(&[0xff, 0xff, 0xff, 0xfc])),
        Error::HuffmanEos
    );
    assert_eq!(
        decode_err(&lit(&[0x1f, 0xff, 0xff, 0xff, 0xe0])),
        Error::HuffmanEos
    );
    // In a name as well.
    assert_eq!(
        decode_err(&[0x00, 0x81, 0b0001_1000, 0x00]),
        Error::HuffmanPadding
    );
}

#[test]
fn integer_overflow() {
    // An index of 2^32 + 126.
    assert_eq!(
        decode_err(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]),
        Error::IntegerOverflow
    );
    // A string length beyond 32 bits.
    assert_eq!(
        decode_err(&[0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0x7f]),
        Error::IntegerOverflow
    );
    // Too many (zero) continuation octets.
    assert_eq!(
        decode_err(&[0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]),
        Error::IntegerOverflow
    );
    // A size update of 2^40.
    assert_eq!(
        decode_err(&[0x3f, 0xe1, 0xff, 0xff, 0xff, 0xff, 0x1f]),
        Error::IntegerOverflow
    );
}

#[test]
fn invalid_indices() {
    assert_eq!(
        decode_err(&[0x80]),
        Error::InvalidIndex { index: 0, max: 61 }
    );
    assert_eq!(
        decode_err(&[0xbe]),
        Error::InvalidIndex { index: 62, max: 61 }
    );
    // A literal's name index past the tables.
    assert_eq!(
        decode_err(&[0x7f, 0x00, 0x01, b'v']),
        Error::InvalidIndex { index: 63, max: 61 }
    );
    assert_eq!(
        decode_err(&[0x0f, 0x2f, 0x01, b'v']),
        Error::InvalidIndex { index: 62, max: 61 }
    );
    // The highest valid index works, one more does not.
    let mut d = Decoder::new();
    d.decode(&hex(
        "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
    ))
    .unwrap();
    assert_eq!(
        d.decode(&hex("be")).unwrap(),
        [f("custom-key", "custom-header")]
    );
    assert_eq!(
        d.decode(&hex("bf")).unwrap_err(),
        Error::InvalidIndex { index: 63, max: 62 }
    );
}

#[test]
fn truncated_blocks() {
    let full = hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d");
    for cut in [4, 5, 6, full.len() - 1] {
        assert_eq!(decode_err(&full[..cut]), Error::Truncated, "cut at {cut}");
    }
    // A prefix that ends between representations is a valid block.
    assert_eq!(Decoder::new().decode(&full.slice(..3)).unwrap().len(), 3);
    assert_eq!(decode_err(&[0xff]), Error::Truncated);
    assert_eq!(Decoder::new().decode(&Bytes::new()).unwrap(), []);
}

#[test]
fn size_updates() {
    // Above the limit.
    let mut above = encode_int(4097, 5);
    above[0] |= 0x20;
    assert_eq!(
        decode_err(&above),
        Error::SizeUpdateTooLarge {
            size: 4097,
            max: 4096
        }
    );
    // At the limit, then twice at the start (the minimum-then-final pair).
    let mut d = Decoder::new();
    let mut block = vec![0x20];
    let mut at = encode_int(4096, 5);
    at[0] |= 0x20;
    block.extend_from_slice(&at);
    block.push(0x82);
    assert_eq!(
        d.decode(&Bytes::from(block)).unwrap(),
        [f(":method", "GET")]
    );
    assert_eq!(d.table_max_size(), 4096);
    // After a field.
    assert_eq!(decode_err(&[0x82, 0x20]), Error::SizeUpdateNotAtStart);
    // Shrinking evicts.
    let mut d = Decoder::with_table_size(256);
    d.decode(&hex("4803 3330 3258 0770 7269 7661 7465"))
        .unwrap();
    assert_eq!(d.table_size(), 42 + 52);
    d.decode(&hex("3f21")).unwrap(); // size 64
    assert_eq!(table(&d), owned(&[("cache-control", "private")]));
    d.decode(&hex("20")).unwrap();
    assert_eq!(
        (d.table_len(), d.table_size(), d.table_max_size()),
        (0, 0, 0)
    );
}

#[test]
fn a_lowered_limit_requires_a_size_update() {
    let mut d = Decoder::new();
    d.set_max_table_size(100);
    assert_eq!(
        d.clone().decode(&hex("82")).unwrap_err(),
        Error::MissingSizeUpdate
    );
    // An empty block does not carry the update either.
    assert_eq!(
        d.clone().decode(&Bytes::new()).unwrap_err(),
        Error::MissingSizeUpdate
    );
    // 100 is too large? No: at the limit is fine; above is not.
    let mut too_big = encode_int(101, 5);
    too_big[0] |= 0x20;
    assert!(matches!(
        d.clone().decode(&Bytes::from(too_big)).unwrap_err(),
        Error::SizeUpdateTooLarge {
            size: 101,
            max: 100
        }
    ));
    assert_eq!(d.decode(&hex("3f45 82")).unwrap(), [f(":method", "GET")]);
    assert_eq!(d.table_max_size(), 100);
    // Raising the limit needs no update.
    d.set_max_table_size(4096);
    assert_eq!(d.decode(&hex("82")).unwrap(), [f(":method", "GET")]);
}

#[test]
fn errors_are_sticky_and_classified() {
    let mut d = Decoder::new();
    assert_eq!(
        d.decode(&hex("80")).unwrap_err(),
        Error::InvalidIndex { index: 0, max: 61 }
    );
    // The context is lost: a valid block is refused too.
    assert_eq!(
        d.decode(&hex("82")).unwrap_err(),
        Error::InvalidIndex { index: 0, max: 61 }
    );
    let e = Error::HuffmanEos;
    assert_eq!(e.kind(), ErrorKind::Protocol);
    assert_eq!(e.hint(), Some(Hint::CompressionError));
    assert_eq!(Hint::CompressionError.error_code(), 0x9);
    let e = Error::HeaderListTooLarge { max: 10 };
    assert_eq!(e.kind(), ErrorKind::Limit);
    assert_eq!(e.hint(), Some(Hint::RefuseStream));
    assert!(!e.is_connection_error());
}

// ---- the header list limit ----

#[test]
fn an_oversize_list_keeps_the_table_in_sync() {
    let mut e = Encoder::new();
    let first = [
        f(":method", "GET"),                                 // 42
        f("x-first", "short"),                               // 44, indexed
        f("x-big", "a value that pushes the list over 100"), // indexed although dropped
        Field::sensitive("x-secret", "never indexed"),       // not kept, not indexed
        f("x-last", "also indexed after the limit"),
    ];
    let block1 = encode(&mut e, &first);
    let second = [
        f("x-big", "a value that pushes the list over 100"),
        f("x-last", "also indexed after the limit"),
        f("x-first", "short"),
    ];
    let block2 = encode(&mut e, &second);
    // The second block refers to the first one's entries only.
    assert_eq!(&block2[..], [0xbf, 0xbe, 0xc0]);

    let mut d = Decoder::new();
    d.set_max_header_list_size(100);
    let mut out = Vec::new();
    assert_eq!(
        d.decode_into(&block1, &mut out),
        Err(Error::HeaderListTooLarge { max: 100 })
    );
    // The fields before the limit were kept.
    assert_eq!(out, first[..2]);
    assert_eq!(table(&d), encoder_table(&e));
    // The next block decodes against the same table.
    d.set_max_header_list_size(1000);
    assert_eq!(d.decode(&block2).unwrap(), second);

    // A following block that is too large on its own fails alone.
    let mut d = Decoder::new();
    d.set_max_header_list_size(43);
    assert!(d.decode(&block1).is_err());
    assert_eq!(d.decode(&hex("82")).unwrap(), [f(":method", "GET")]);
    assert_eq!(
        d.decode(&block2).unwrap_err(),
        Error::HeaderListTooLarge { max: 43 }
    );
}

#[test]
fn a_protocol_error_after_the_limit_wins() {
    let mut d = Decoder::new();
    d.set_max_header_list_size(40);
    // :method GET (42, over the limit), then index 0.
    assert_eq!(
        d.decode(&hex("82 80")).unwrap_err(),
        Error::InvalidIndex { index: 0, max: 61 }
    );
    // Huffman errors in skipped literals are still found.
    let mut d = Decoder::new();
    d.set_max_header_list_size(40);
    assert_eq!(
        d.decode(&hex("82 0001 78 81 18")).unwrap_err(),
        Error::HuffmanPadding
    );
}

// ---- the encoder ----

#[test]
fn encoder_announces_size_changes() {
    let mut e = Encoder::new();
    let mut d = Decoder::new();
    let list = [f("x-a", "1"), f("x-b", "2")];
    d.decode(&encode(&mut e, &list)).unwrap();
    assert_eq!(e.table_len(), 2);

    // Lowered: the next block starts with the update, which the decoder requires.
    e.update_max_size(40);
    d.set_max_table_size(40);
    let block = encode(&mut e, &[f(":method", "GET")]);
    assert_eq!(&block[..], [0x3f, 0x09, 0x82]);
    d.decode(&block).unwrap();
    assert_eq!((e.table_len(), d.table_len()), (1, 1));

    // Lowered to 0 and raised again between blocks: both are announced.
    e.update_max_size(0);
    e.update_max_size(4096);
    d.set_max_table_size(0);
    d.set_max_table_size(4096);
    let block = encode(&mut e, &[f(":method", "GET")]);
    assert_eq!(&block[..], [0x20, 0x3f, 0xe1, 0x1f, 0x82]);
    d.decode(&block).unwrap();
    assert_eq!((e.table_len(), d.table_len()), (0, 0));
    assert_eq!((e.table_max_size(), d.table_max_size()), (4096, 4096));

    // Raised beyond the encoder's own cap: nothing changes.
    e.update_max_size(1 << 20);
    assert_eq!(&encode(&mut e, &[f(":method", "GET")])[..], [0x82]);

    // A cap below 4,096 is announced in the first block.
    let mut config = EncoderConfig::default();
    config.max_table_size = 1024;
    let mut e = Encoder::with_config(config);
    assert_eq!(
        &encode(&mut e, &[f(":method", "GET")])[..],
        [0x3f, 0xe1, 0x07, 0x82]
    );
    // A cap above it takes effect when the peer allows it.
    config.max_table_size = 65536;
    let mut e = Encoder::with_config(config);
    assert_eq!(&encode(&mut e, &[f(":method", "GET")])[..], [0x82]);
    e.update_max_size(1 << 20);
    assert_eq!(
        &encode(&mut e, &[f(":method", "GET")])[..],
        [0x3f, 0xe1, 0xff, 0x03, 0x82]
    );
}

#[test]
fn encoder_never_indexes_sensitive_fields() {
    let mut e = Encoder::new();
    let mut d = Decoder::new();
    let long_cookie = "session=0123456789abcdefghijklmnop";
    let list = [
        f("authorization", "Bearer abc"),
        f("proxy-authorization", "Basic xyz"),
        f("cookie", "a=1"),
        f("cookie", long_cookie),
        f("set-cookie", "id=1; Secure"),
        Field::sensitive("x-api-key", "k"),
        Field::sensitive(":method", "GET"),
        f("x-plain", "v"),
    ];
    for _ in 0..2 {
        let block = encode(&mut e, &list);
        let got = d.decode(&block).unwrap();
        let sensitive: Vec<bool> = got.iter().map(|f| f.sensitive).collect();
        assert_eq!(
            sensitive,
            [true, true, true, false, true, true, true, false]
        );
        assert_eq!(table(&d), encoder_table(&e));
    }
    // Only the long cookie and x-plain entered the table.
    assert_eq!(
        encoder_table(&e),
        owned(&[("x-plain", "v"), ("cookie", long_cookie)])
    );
    // `authorization` with its static name index, never-indexed: 0001 1111 + 8.
    let block = encode(&mut Encoder::new(), &[f("authorization", "x")]);
    assert_eq!(&block[..2], [0x1f, 0x08]);
}

#[test]
fn encoder_skips_large_and_unique_values() {
    let mut e = Encoder::new();
    let big = "x".repeat(3100);
    encode(
        &mut e,
        &[
            Field::new("x-big", big.clone()),
            f("content-length", "1234"),
            f("etag", "\"abc\""),
            f("x-small", "yes"),
        ],
    );
    assert_eq!(encoder_table(&e), owned(&[("x-small", "yes")]));
    // Indexing::Never keeps the table empty; Always indexes everything that fits.
    let mut never = Encoder::with_config(config(true, Indexing::Never));
    encode(&mut never, &[f("x-small", "yes")]);
    assert_eq!(never.table_len(), 0);
    let mut always = Encoder::with_config(config(true, Indexing::Always));
    encode(&mut always, &[f("content-length", "1234")]);
    assert_eq!(always.table_len(), 1);
}

#[test]
fn header_maps_and_pseudo_headers() {
    use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
    let mut headers = HeaderMap::new();
    headers.append("accept", HeaderValue::from_static("text/html"));
    headers.append("accept", HeaderValue::from_static("*/*"));
    let mut token = HeaderValue::from_static("secret-token");
    token.set_sensitive(true);
    headers.insert("x-token", token);

    let (method, uri) = (Method::GET, Uri::from_static("https://example.com"));
    let mut e = Encoder::new();
    let mut d = Decoder::new();
    let mut dst = BytesMut::new();
    e.encode_headers(&Pseudo::request(&method, &uri), &headers, &mut dst);
    let got = d.decode(&dst.freeze()).unwrap();
    assert_eq!(
        got,
        [
            f(":method", "GET"),
            f(":scheme", "https"),
            f(":authority", "example.com"),
            f(":path", "/"),
            f("accept", "text/html"),
            f("accept", "*/*"),
            Field::sensitive("x-token", "secret-token"),
        ]
    );
    assert!(got[..4].iter().all(Field::is_pseudo));
    assert!(!got[4].is_pseudo());

    let connect = Method::CONNECT;
    let target = Uri::from_static("example.com:443");
    assert_eq!(
        Pseudo::request(&connect, &target),
        Pseudo {
            method: Some("CONNECT"),
            authority: Some("example.com:443"),
            ..Pseudo::default()
        }
    );
    // RFC 9113 §8.3.1: :authority must not include the userinfo of an
    // http or https URI (it went out as "u:p@example.com:8080").
    let uri = Uri::from_static("http://u:p@example.com:8080/x");
    assert_eq!(
        Pseudo::request(&method, &uri).authority,
        Some("example.com:8080")
    );
    let target = Uri::from_static("u@example.com:443");
    assert_eq!(
        Pseudo::request(&connect, &target).authority,
        Some("example.com:443")
    );
    let status = StatusCode::NOT_FOUND;
    let mut dst = BytesMut::new();
    e.encode_headers(&Pseudo::response(&status), &HeaderMap::new(), &mut dst);
    assert_eq!(&dst[..], [0x8d]);
}
