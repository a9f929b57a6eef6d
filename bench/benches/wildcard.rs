//! MinIO's wildcard matcher on the pathological pattern `*a*a*…*a*b`
//! against long runs of `a` (no match: every star backtracks). A recursive
//! matcher is exponential here; ours should grow about linearly with the
//! value length.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use engine::job::wildcard::matches;

fn pathological(c: &mut Criterion) {
    let mut g = c.benchmark_group("wildcard/pathological");
    for stars in [8usize, 32] {
        let pattern = format!("{}*b", "*a".repeat(stars));
        for len in [1_000usize, 10_000, 100_000] {
            let value = "a".repeat(len);
            g.throughput(Throughput::Bytes(len as u64));
            g.bench_with_input(
                BenchmarkId::new(format!("{stars}-stars"), len),
                &value,
                |b, v| {
                    b.iter(|| {
                        assert!(!matches(
                            std::hint::black_box(&pattern),
                            std::hint::black_box(v)
                        ))
                    })
                },
            );
        }
    }
    g.finish();

    // A realistic tag pattern for scale.
    c.bench_function("wildcard/typical", |b| {
        b.iter(|| {
            matches(
                std::hint::black_box("image/*"),
                std::hint::black_box("image/png"),
            )
        })
    });
}

criterion_group!(benches, pathological);
criterion_main!(benches);
