//! HPACK decode and encode of a browser-like GET (17 fields), side by side
//! with `loona-hpack` (the maintained successor of the `hpack` crate).
//!
//! * `first`: a fresh context, every field a literal (the table fills up);
//! * `repeated`: the same request again on the same context (the second
//!   request of a page load), nearly every field an index.
//!
//! The contexts are prepared and dropped outside the timed part (`iter_batched_ref`).
//! Decoding feeds both libraries the same bytes (ours, Huffman-coded);
//! loona-hpack's encoder never Huffman-codes, so ours is measured both with
//! and without it.
//!
//! `cargo bench -p wirestate-h2 --bench hpack`

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use wirestate_h2::hpack::{Decoder, Encoder, EncoderConfig, Field};

fn request() -> Vec<Field> {
    [
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "www.example.com"),
        (":path", "/assets/js/app.3f9a1c7e.js?v=20240601"),
        (
            "sec-ch-ua",
            "\"Chromium\";v=\"125\", \"Not.A/Brand\";v=\"24\", \"Google Chrome\";v=\"125\"",
        ),
        ("sec-ch-ua-mobile", "?0"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36",
        ),
        ("sec-ch-ua-platform", "\"Linux\""),
        ("accept", "*/*"),
        ("sec-fetch-site", "same-origin"),
        ("sec-fetch-mode", "no-cors"),
        ("sec-fetch-dest", "script"),
        ("referer", "https://www.example.com/products/index.html"),
        ("accept-encoding", "gzip, deflate, br, zstd"),
        ("accept-language", "en-US,en;q=0.9,de;q=0.8"),
        (
            "cookie",
            "_ga=GA1.2.1234567890.1700000000; session_id=8f14e45fceea167a5a36dedd4bea2543; theme=dark",
        ),
        ("priority", "u=1"),
    ]
    .into_iter()
    .map(|(n, v)| Field::new(n, v))
    .collect()
}

fn no_huffman() -> EncoderConfig {
    let mut c = EncoderConfig::default();
    c.huffman = false;
    c
}

fn encode_ours(encoder: &mut Encoder, fields: &[Field]) -> Bytes {
    let mut dst = BytesMut::with_capacity(1024);
    encoder.encode(fields, &mut dst);
    dst.freeze()
}

fn pairs(fields: &[Field]) -> Vec<(&[u8], &[u8])> {
    fields.iter().map(|f| (&f.name[..], &f.value[..])).collect()
}

fn bench_decode(c: &mut Criterion) {
    let fields = request();
    let mut encoder = Encoder::new();
    let first = encode_ours(&mut encoder, &fields);
    let repeated = encode_ours(&mut encoder, &fields);
    // Sanity: loona decodes our blocks to the same fields.
    let mut check = loona_hpack::Decoder::new();
    for block in [&first, &repeated] {
        let got = check.decode(block).expect("loona decodes our block");
        assert_eq!(
            got,
            pairs(&fields)
                .iter()
                .map(|(n, v)| (n.to_vec(), v.to_vec()))
                .collect::<Vec<_>>()
        );
    }

    let mut g = c.benchmark_group("hpack_decode");
    g.throughput(Throughput::Elements(fields.len() as u64));
    g.bench_function("first/wirestate", |b| {
        b.iter_batched_ref(
            Decoder::new,
            |d| black_box(d.decode(black_box(&first)).expect("valid")),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("first/loona-hpack", |b| {
        b.iter_batched_ref(
            loona_hpack::Decoder::new,
            |d| black_box(d.decode(black_box(&first)).expect("valid")),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("repeated/wirestate", |b| {
        b.iter_batched_ref(
            || {
                let mut d = Decoder::new();
                d.decode(&first).expect("valid");
                d
            },
            |d| black_box(d.decode(black_box(&repeated)).expect("valid")),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("repeated/loona-hpack", |b| {
        b.iter_batched_ref(
            || {
                let mut d = loona_hpack::Decoder::new();
                d.decode(&first).expect("valid");
                d
            },
            |d| black_box(d.decode(black_box(&repeated)).expect("valid")),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn bench_encode(c: &mut Criterion) {
    let fields = request();
    let list = pairs(&fields);
    let mut g = c.benchmark_group("hpack_encode");
    g.throughput(Throughput::Elements(fields.len() as u64));
    for (name, config) in [
        ("wirestate", EncoderConfig::default()),
        ("wirestate-no-huffman", no_huffman()),
    ] {
        g.bench_function(format!("first/{name}"), |b| {
            b.iter_batched_ref(
                || Encoder::with_config(config),
                |e| black_box(encode_ours(e, black_box(&fields))),
                BatchSize::SmallInput,
            )
        });
        g.bench_function(format!("repeated/{name}"), |b| {
            b.iter_batched_ref(
                || {
                    let mut e = Encoder::with_config(config);
                    encode_ours(&mut e, &fields);
                    e
                },
                |e| black_box(encode_ours(e, black_box(&fields))),
                BatchSize::SmallInput,
            )
        });
    }
    g.bench_function("first/loona-hpack", |b| {
        b.iter_batched_ref(
            loona_hpack::Encoder::new,
            |e| black_box(e.encode(black_box(list.iter().copied()))),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("repeated/loona-hpack", |b| {
        b.iter_batched_ref(
            || {
                let mut e = loona_hpack::Encoder::new();
                e.encode(list.iter().copied());
                e
            },
            |e| black_box(e.encode(black_box(list.iter().copied()))),
            BatchSize::SmallInput,
        )
    });
    g.finish();

    // Block sizes, for the report.
    let mut ours = Encoder::new();
    let mut plain = Encoder::with_config(no_huffman());
    let mut loona = loona_hpack::Encoder::new();
    for round in ["first", "repeated"] {
        eprintln!(
            "block size ({round}): wirestate {} B, wirestate without Huffman {} B, loona-hpack {} B",
            encode_ours(&mut ours, &fields).len(),
            encode_ours(&mut plain, &fields).len(),
            loona.encode(list.iter().copied()).len(),
        );
    }
}

criterion_group!(benches, bench_decode, bench_encode);
criterion_main!(benches);
