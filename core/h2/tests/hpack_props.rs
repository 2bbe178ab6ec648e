//! Property tests for HPACK: Huffman round trips and canonical decoding,
//! encoder → decoder round trips over random header lists with random
//! table sizes changing between blocks, and arbitrary input to the decoder
//! (no panic, limits respected, the table unaffected by the list limit).

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use wirestate_h2::hpack::{
    Decoder, Encoder, EncoderConfig, Error, Field, Indexing, Pseudo, huffman_decode,
    huffman_encode, huffman_encoded_len,
};

/// Names mixing the static table's, the policy's special cases and new ones.
const NAMES: &[&str] = &[
    ":method",
    ":path",
    ":authority",
    ":status",
    "accept",
    "accept-encoding",
    "authorization",
    "cookie",
    "set-cookie",
    "content-length",
    "user-agent",
    "x-custom",
    "x-trace-id",
    "",
];

/// Values: a few that repeat (so tables get hit), or arbitrary bytes.
fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::sample::select(vec![
            &b"GET"[..], b"/", b"gzip, deflate", b"200", b"", b"text/html", b"a-longer-repeated-value-0123456789",
        ]).prop_map(|v| v.to_vec()),
        2 => prop::collection::vec(any::<u8>(), 0..40),
        1 => prop::collection::vec(any::<u8>(), 0..600),
    ]
}

fn field() -> impl Strategy<Value = Field> {
    (
        prop_oneof![
            4 => prop::sample::select(NAMES).prop_map(|n| n.as_bytes().to_vec()),
            1 => prop::collection::vec(any::<u8>(), 0..20),
        ],
        value(),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(name, value, sensitive)| Field {
            name: name.into(),
            value: value.into(),
            sensitive,
        })
}

/// One block, with the peer's table size setting changed (zero, one or two
/// times) before it.
#[derive(Debug, Clone)]
struct Step {
    settings: Vec<usize>,
    fields: Vec<Field>,
}

fn table_size() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(0usize),
        Just(64),
        0usize..512,
        Just(4096),
        0usize..70_000
    ]
}

fn step() -> impl Strategy<Value = Step> {
    (
        prop_oneof![
            3 => Just(vec![]),
            1 => prop::collection::vec(table_size(), 1..3),
        ],
        prop::collection::vec(field(), 0..12),
    )
        .prop_map(|(settings, fields)| Step { settings, fields })
}

fn config() -> impl Strategy<Value = EncoderConfig> {
    (
        any::<bool>(),
        prop::sample::select(vec![Indexing::Guarded, Indexing::Always, Indexing::Never]),
        table_size(),
    )
        .prop_map(|(huffman, indexing, max_table_size)| {
            let mut c = EncoderConfig::default();
            c.huffman = huffman;
            c.indexing = indexing;
            c.max_table_size = max_table_size;
            c
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn huffman_round_trips(s in prop::collection::vec(any::<u8>(), 0..300)) {
        let coded = huffman_encode(&s);
        prop_assert_eq!(coded.len(), huffman_encoded_len(&s));
        prop_assert_eq!(huffman_decode(&coded).unwrap(), s);
    }

    /// Valid padding is unique (fewer than 8 one-bits), so whatever decodes
    /// re-encodes to the same bytes.
    #[test]
    fn huffman_decoding_is_canonical(coded in prop::collection::vec(any::<u8>(), 0..64)) {
        match huffman_decode(&coded) {
            Ok(s) => prop_assert_eq!(huffman_encode(&s), coded),
            Err(e) => prop_assert!(matches!(e, Error::HuffmanEos | Error::HuffmanPadding)),
        }
    }

    #[test]
    fn encoder_decoder_round_trips(
        config in config(),
        steps in prop::collection::vec(step(), 1..8),
    ) {
        let mut encoder = Encoder::with_config(config);
        let mut decoder = Decoder::new();
        decoder.set_max_header_list_size(usize::MAX);
        for step in &steps {
            for &s in &step.settings {
                // The peer's SETTINGS: the encoder learns it, the decoder
                // applies it once acknowledged — both before the next block.
                encoder.update_max_size(s);
                decoder.set_max_table_size(s);
            }
            let mut block = BytesMut::new();
            encoder.encode(&step.fields, &mut block);
            let got = decoder.decode(&block.freeze()).unwrap();
            prop_assert_eq!(got.len(), step.fields.len());
            for (g, want) in got.iter().zip(&step.fields) {
                prop_assert_eq!(&g.name, &want.name);
                prop_assert_eq!(&g.value, &want.value);
                // Sensitive fields stay sensitive (the policy may add some).
                prop_assert!(g.sensitive || !want.sensitive);
            }
            let enc: Vec<_> = encoder.table_entries().collect();
            let dec: Vec<_> = decoder.table_entries().collect();
            prop_assert_eq!(enc, dec);
            prop_assert_eq!(encoder.table_size(), decoder.table_size());
            prop_assert!(encoder.table_size() <= encoder.table_max_size());
            prop_assert!(encoder.table_max_size() <= config.max_table_size.max(4096));
        }
    }

    /// Arbitrary blocks: no panic; with a header list limit the fields are
    /// a prefix of the unlimited decoder's, the limit holds, and the table
    /// ends up the same.
    #[test]
    fn arbitrary_blocks(
        blocks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 1..6),
        limit in 0usize..300,
        table in table_size(),
    ) {
        let mut limited = Decoder::with_table_size(table);
        limited.set_max_header_list_size(limit);
        let mut full = Decoder::with_table_size(table);
        full.set_max_header_list_size(usize::MAX);
        for block in blocks {
            let block = Bytes::from(block);
            let expected = full.decode(&block);
            let mut got = Vec::new();
            let result = limited.decode_into(&block, &mut got);
            match (&expected, &result) {
                (Ok(all), Ok(())) => prop_assert_eq!(all, &got),
                (Ok(all), Err(Error::HeaderListTooLarge { max })) => {
                    prop_assert_eq!(*max, limit);
                    prop_assert!(all.len() > got.len());
                    prop_assert_eq!(&all[..got.len()], &got[..]);
                }
                (Err(a), Err(b)) => {
                    prop_assert_eq!(a, b);
                    prop_assert!(a.is_connection_error());
                    break;
                }
                _ => prop_assert!(false, "{:?} vs {:?}", expected, result),
            }
            let size: usize = got.iter().map(Field::size).sum();
            prop_assert!(size <= limit);
            let a: Vec<_> = limited.table_entries().collect();
            let b: Vec<_> = full.table_entries().collect();
            prop_assert_eq!(a, b);
            prop_assert!(limited.table_size() <= limited.table_max_size());
        }
    }
}

/// A response head or trailers from a small alphabet, so that blocks
/// repeat: the ones the encoder keeps and writes again as they were.
fn response_block() -> impl Strategy<Value = (Option<&'static str>, Vec<(&'static str, String)>)> {
    (
        prop::option::of(prop::sample::select(vec!["200", "404"])),
        prop::collection::vec(
            (
                prop::sample::select(vec!["content-type", "grpc-status", "grpc-message", "x-a"]),
                prop_oneof![
                    3 => prop::sample::select(vec!["application/grpc", "0", "1", "hi"])
                        .prop_map(str::to_owned),
                    1 => "[a-z0-9]{0,12}",
                ],
            ),
            0..4,
        ),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// `encode_headers` blocks, each sent one to three times, with the
    /// table size changing now and then: every block decodes to its
    /// fields, whether it was encoded or written again from the encoder's
    /// recent blocks, and the two tables stay the same.
    #[test]
    fn repeated_response_blocks_round_trip(
        steps in prop::collection::vec(
            (response_block(), 1usize..4, prop::option::of(table_size())),
            1..24,
        ),
    ) {
        let mut encoder = Encoder::new();
        let mut decoder = Decoder::new();
        decoder.set_max_header_list_size(usize::MAX);
        for ((status, fields), times, setting) in &steps {
            if let Some(s) = setting {
                encoder.update_max_size(*s);
                decoder.set_max_table_size(*s);
            }
            let mut headers = http::HeaderMap::new();
            for (name, value) in fields {
                headers.append(*name, value.parse().unwrap());
            }
            let pseudo = Pseudo { status: *status, ..Pseudo::default() };
            for _ in 0..*times {
                let mut block = BytesMut::new();
                encoder.encode_headers(&pseudo, &headers, &mut block);
                let got = decoder.decode(&block.freeze()).unwrap();
                let mut want: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
                if let Some(s) = status {
                    want.push((b":status".to_vec(), s.as_bytes().to_vec()));
                }
                for (n, v) in &headers {
                    want.push((n.as_str().as_bytes().to_vec(), v.as_bytes().to_vec()));
                }
                let got: Vec<(Vec<u8>, Vec<u8>)> =
                    got.iter().map(|f| (f.name.to_vec(), f.value.to_vec())).collect();
                prop_assert_eq!(got, want);
                let enc: Vec<_> = encoder.table_entries().collect();
                let dec: Vec<_> = decoder.table_entries().collect();
                prop_assert_eq!(enc, dec);
            }
        }
    }
}
