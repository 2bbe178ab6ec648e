//! Unmasking throughput against memcpy of the same size (the goal:
//! at least 0.8× memcpy speed for 64 KiB payloads).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use wirestate_ws::apply_mask;

fn bench(c: &mut Criterion) {
    for size in [125usize, 4096, 65536] {
        let mut g = c.benchmark_group(format!("unmask_{size}"));
        g.throughput(Throughput::Bytes(size as u64));
        let src = vec![0xA5u8; size];
        let mut dst = vec![0u8; size];
        g.bench_function("memcpy", |b| {
            b.iter(|| {
                dst.copy_from_slice(black_box(&src));
                black_box(&dst);
            })
        });
        let mut buf = src.clone();
        g.bench_function("apply_mask", |b| {
            b.iter(|| {
                apply_mask(black_box(&mut buf), [1, 2, 3, 4], 0);
                black_box(&buf);
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
