//! HPACK decoding: arbitrary header blocks on one connection, decoded with
//! a header list limit and without one (the limit must only drop fields,
//! never desynchronise the dynamic table), and every decoded list
//! re-encoded and decoded again on a second context.
//!
//! # Input layout
//!
//! ```text
//! [config] then records until the input ends:
//!   [n < 0xf0] [n bytes]      one header block (shorter if the input ends)
//!   [0xf0 | s]                SETTINGS_HEADER_TABLE_SIZE = SIZES[s & 7] for
//!                             the decoded side (s < 8) or the re-encoding
//!                             side (s >= 8), applied before the next block
//! ```
//!
//! `config`: bits 0–2 pick the starting table size (`SIZES`), bits 3–5 the
//! header list limit (`LIMITS`), bit 6 turns the re-encoder's Huffman
//! coding off, bit 7 makes it index everything.

use bytes::{Bytes, BytesMut};
use wirestate_h2::hpack::{Decoder, Encoder, EncoderConfig, Error, Field, Indexing};

/// Table sizes a configuration or setting picks from.
const SIZES: [usize; 8] = [4096, 0, 64, 256, 100, 1024, 65_536, 4096];
/// Header list limits the configuration picks from.
const LIMITS: [usize; 8] = [usize::MAX, 0, 40, 100, 300, 1000, 16_384, 65_536];

/// Fuzz body for `hpack_decode` (layout in the module docs).
pub fn hpack_decode(data: &[u8]) {
    let Some((&config, mut rest)) = data.split_first() else {
        return;
    };
    let size = SIZES[usize::from(config & 7)];
    let limit = LIMITS[usize::from((config >> 3) & 7)];
    let mut limited = Decoder::with_table_size(size);
    limited.set_max_header_list_size(limit);
    let mut reference = Decoder::with_table_size(size);
    reference.set_max_header_list_size(usize::MAX);

    let mut enc_config = EncoderConfig::default();
    enc_config.huffman = config & 0x40 == 0;
    enc_config.indexing = if config & 0x80 != 0 {
        Indexing::Always
    } else {
        Indexing::Guarded
    };
    let mut encoder = Encoder::with_config(enc_config);
    let mut again = Decoder::new();
    again.set_max_header_list_size(usize::MAX);

    while let Some((&n, tail)) = rest.split_first() {
        rest = tail;
        if n >= 0xf0 {
            let s = SIZES[usize::from(n & 7)];
            if n & 8 == 0 {
                limited.set_max_table_size(s);
                reference.set_max_table_size(s);
            } else {
                encoder.update_max_size(s);
                again.set_max_table_size(s);
            }
            continue;
        }
        let take = usize::from(n).min(rest.len());
        let block = Bytes::copy_from_slice(&rest[..take]);
        rest = &rest[take..];

        let expected = reference.decode(&block);
        let mut got = Vec::new();
        let result = limited.decode_into(&block, &mut got);
        match (&expected, &result) {
            (Ok(all), Ok(())) => assert_eq!(all, &got, "the limit changed the fields"),
            (Ok(all), Err(Error::HeaderListTooLarge { max })) => {
                assert_eq!(*max, limit);
                assert!(all.len() > got.len(), "refused a list within the limit");
                assert_eq!(&all[..got.len()], &got[..], "kept fields are not a prefix");
                let total: usize = all.iter().map(Field::size).sum();
                assert!(total > limit, "refused a list within the limit");
            }
            (Err(a), Err(b)) => {
                assert_eq!(a, b, "the limit changed the error");
                assert!(a.is_connection_error());
                // Sticky: nothing decodes after a compression error.
                assert_eq!(limited.decode(&Bytes::new()).as_ref(), Err(a));
                return;
            }
            _ => panic!("limited {result:?} vs unlimited {expected:?}"),
        }
        let kept: usize = got.iter().map(Field::size).sum();
        assert!(kept <= limit, "kept {kept} bytes over the limit {limit}");
        assert!(
            limited.table_entries().eq(reference.table_entries()),
            "the limit desynchronised the table"
        );
        assert!(limited.table_size() <= limited.table_max_size());

        let Ok(fields) = expected else { continue };
        let mut encoded = BytesMut::new();
        encoder.encode(&fields, &mut encoded);
        let back = again
            .decode(&encoded.freeze())
            .expect("our own block decodes");
        assert_eq!(back.len(), fields.len());
        for (b, f) in back.iter().zip(&fields) {
            assert_eq!((&b.name, &b.value), (&f.name, &f.value), "round trip");
            assert!(b.sensitive || !f.sensitive, "lost the never-indexed flag");
        }
        assert!(
            encoder.table_entries().eq(again.table_entries()),
            "encoder and decoder tables differ"
        );
    }
}

/// Hand-made seeds: RFC 7541 Appendix C's header blocks as connections.
pub fn hpack_seeds() -> Vec<(&'static str, Vec<u8>)> {
    fn blocks(config: u8, blocks: &[&[u8]]) -> Vec<u8> {
        let mut out = vec![config];
        for b in blocks {
            out.push(u8::try_from(b.len()).expect("a short block"));
            out.extend_from_slice(b);
        }
        out
    }
    const C3: [&[u8]; 3] = [
        b"\x82\x86\x84\x41\x0fwww.example.com",
        b"\x82\x86\x84\xbe\x58\x08no-cache",
        b"\x82\x87\x85\xbf\x40\x0acustom-key\x0ccustom-value",
    ];
    const C4: [&[u8]; 3] = [
        b"\x82\x86\x84\x41\x8c\xf1\xe3\xc2\xe5\xf2\x3a\x6b\xa0\xab\x90\xf4\xff",
        b"\x82\x86\x84\xbe\x58\x86\xa8\xeb\x10\x64\x9c\xbf",
        b"\x82\x87\x85\xbf\x40\x88\x25\xa8\x49\xe9\x5b\xa9\x7d\x7f\x89\x25\xa8\x49\xe9\x5b\xb8\xe8\xb4\xbf",
    ];
    const C5: [&[u8]; 3] = [
        b"\x48\x03302\x58\x07private\x61\x1dMon, 21 Oct 2013 20:13:21 GMT\x6e\x17https://www.example.com",
        b"\x48\x03307\xc1\xc0\xbf",
        b"\x88\xc1\x61\x1dMon, 21 Oct 2013 20:13:22 GMT\xc0\x5a\x04gzip\x77\x38foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    ];
    const C6: [&[u8]; 3] = [
        b"\x48\x82\x64\x02\x58\x85\xae\xc3\x77\x1a\x4b\x61\x96\xd0\x7a\xbe\x94\x10\x54\xd4\x44\xa8\x20\x05\x95\x04\x0b\x81\x66\xe0\x82\xa6\x2d\x1b\xff\x6e\x91\x9d\x29\xad\x17\x18\x63\xc7\x8f\x0b\x97\xc8\xe9\xae\x82\xae\x43\xd3",
        b"\x48\x83\x64\x0e\xff\xc1\xc0\xbf",
        b"\x88\xc1\x61\x96\xd0\x7a\xbe\x94\x10\x54\xd4\x44\xa8\x20\x05\x95\x04\x0b\x81\x66\xe0\x84\xa6\x2d\x1b\xff\xc0\x5a\x83\x9b\xd9\xab\x77\xad\x94\xe7\x82\x1d\xd7\xf2\xe6\xc7\xb3\x35\xdf\xdf\xcd\x5b\x39\x60\xd5\xaf\x27\x08\x7f\x36\x72\xc1\xab\x27\x0f\xb5\x29\x1f\x95\x87\x31\x60\x65\xc0\x03\xed\x4e\xe5\xb1\x06\x3d\x50\x07",
    ];
    // Config bits: size 3 = 256, limit 3 = 100 bytes.
    let mut seeds = vec![
        ("c3-requests", blocks(0, &C3)),
        ("c4-requests-huffman", blocks(0, &C4)),
        ("c5-responses", blocks(3, &C5)),
        ("c6-responses-huffman", blocks(3 | 0x80, &C6)),
        ("c5-responses-limit-100", blocks(3 | (3 << 3), &C5)),
        ("c4-requests-limit-40-plain", blocks((2 << 3) | 0x40, &C4)),
    ];
    // A lowered setting, then the block with the size update it requires
    // (then one without: a compression error).
    let mut shrink = blocks(0, &C3[..1]);
    shrink.push(0xf0 | 2); // SETTINGS_HEADER_TABLE_SIZE 64 for the decoders
    shrink.push(0xf8 | 1); // 0 for the re-encoding side
    shrink.extend_from_slice(&[3, 0x3f, 0x21, 0xbe]); // size 64, then index 62
    shrink.extend_from_slice(&[1, 0x82]);
    seeds.push(("size-update-after-settings", shrink));
    let mut missing = blocks(0, &C3[..1]);
    missing.push(0xf0 | 1);
    missing.extend_from_slice(&[1, 0x82]);
    seeds.push(("missing-size-update", missing));
    seeds.push(("bad-padding", blocks(0, &[b"\x00\x01x\x81\x18", b"\x82"])));
    seeds.push(("eos", blocks(0, &[b"\x00\x01x\x84\xff\xff\xff\xfc"])));
    seeds.push((
        "integer-overflow",
        blocks(0, &[b"\xff\xff\xff\xff\xff\x0f"]),
    ));
    seeds
}
