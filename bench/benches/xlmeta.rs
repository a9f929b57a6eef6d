//! xlmeta codec throughput: decode and edit+re-encode of (a) a one-version
//! SSE-KMS object and (b) MinIO's `xl.meta-v1.2` sample (855 versions).
//!
//! Targets (issue 2): ≥ 1,000,000 decodes/s and ≥ 400,000 edit+re-encodes/s
//! per core for (a).
//!
//! Every benchmark runs twice: `wall/…` with criterion's wall clock and
//! `cpu/…` with the benchmark thread's CPU time, which gives the per-core
//! figure even on a machine shared with other work.

use std::borrow::Cow;
use std::hint::black_box;
use std::io::Read;

use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use xlmeta::{ObjectV2, XlMeta, XlMetaBuilder};

const KMS_SEALED_KEY: &str = "X-Minio-Internal-Server-Side-Encryption-Kms-Sealed-Key";

/// A one-version SSE-KMS object as MinIO's PUT writes it (single part, not inline).
fn sse_kms_file() -> Vec<u8> {
    let sys: Vec<(&str, &str)> = vec![
        ("X-Minio-Internal-Server-Side-Encryption-Seal-Algorithm", "DAREv2-HMAC-SHA256"),
        ("X-Minio-Internal-Server-Side-Encryption-Iv", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
        (
            KMS_SEALED_KEY,
            "IAAfAMyU9dAUe+hl0GyPxnkJwtKFnQqZgSBCagLd2gzbS8lFMpWFxpUXDHYtvpIUHnkfZHGw/BNjeLHU4O6ioA==",
        ),
        ("X-Minio-Internal-Server-Side-Encryption-S3-Kms-Key-Id", "my-minio-key"),
        (
            "X-Minio-Internal-Server-Side-Encryption-S3-Kms-Sealed-Key",
            "M8nw5jlpDwcz1+DQCMt+RWsmbOTa6Tw5wcgGZ8IzpumsjVtfjIkq4WIIlh0G0lIXNyS+PBZF63mw9n8xwG4pQOvFo3eTTtp4pRMTXA==",
        ),
        ("X-Minio-Internal-Server-Side-Encryption-Context", "eyJteWJ1Y2tldCI6Im15YnVja2V0L3Bob3Rvcy8yMDI0L2ltZy5qcGcifQ=="),
        ("X-Minio-Internal-actual-size", "1048576"),
    ];
    let usr = [
        ("content-type", "image/jpeg"),
        (
            "etag",
            "d9b6a7fd3c0e4b2f8a9c1e7d5b3f2a4c6e8d0b1a3c5e7f9d2b4a6c8e0f1a3b5c7d9e2f4a6b8c0d1e3f5a7b9c2d4e6f8a0b",
        ),
        ("X-Amz-Meta-Owner", "alice"),
    ];
    let obj = ObjectV2 {
        version_id: [0x71; 16],
        data_dir: [0x6b; 16],
        ec_algo: 1,
        ec_m: 2,
        ec_n: 2,
        ec_block_size: 1 << 20,
        ec_index: 1,
        ec_dist: vec![4, 1, 2, 3],
        checksum_algo: 1,
        part_numbers: vec![1],
        part_etags: None,
        part_sizes: vec![1_049_088],
        part_actual_sizes: Some(vec![1_048_576]),
        part_indices: None,
        size: 1_049_088,
        mod_time: 1_741_064_768_890_123_456,
        meta_sys: Some(
            sys.iter()
                .map(|(k, v)| (Cow::Borrowed(*k), Cow::Borrowed(v.as_bytes())))
                .collect(),
        ),
        meta_usr: Some(
            usr.iter()
                .map(|(k, v)| (Cow::Borrowed(*k), Cow::Borrowed(*v)))
                .collect(),
        ),
    };
    let mut b = XlMetaBuilder::new();
    b.add_object(&obj, 1_770_854_400, None).unwrap();
    b.build().unwrap()
}

fn v12_file() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/minio/xl.meta-v1.2.zst"
    );
    let raw = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    ruzstd::decoding::StreamingDecoder::new(raw.as_slice())
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// What an engine does per version it rotates: replace the sealed key.
fn edit_and_encode(bytes: &[u8], index: usize, key: &str, value: &[u8]) -> Vec<u8> {
    let mut xl = XlMeta::parse(bytes).unwrap();
    xl.edit_object(index, |o| {
        o.set_meta_sys(key, value);
        Ok(())
    })
    .unwrap();
    xl.encode().unwrap()
}

/// CPU time consumed by the calling thread.
struct ThreadCpuTime;

fn thread_cpu_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

static WALL: WallTime = WallTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu_now()
    }
    fn end(&self, start: Duration) -> Duration {
        thread_cpu_now().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}

fn benches<M: Measurement>(c: &mut Criterion<M>, clock: &str) {
    let kms = sse_kms_file();
    let new_key = b"NEWKEYIAAfAMyU9dAUe+hl0GyPxnkJwtKFnQqZgSBCagLd2gzbS8lFMpWFxpUXDHYtvpIUHnkfZHGw/BNjeLHU4O6io==";
    let mut g = c.benchmark_group(format!("{clock}/sse_kms_1_version"));
    g.throughput(Throughput::Elements(1));
    // Container and headers only: version metas are decoded lazily.
    g.bench_function("parse", |b| {
        b.iter(|| black_box(XlMeta::parse(black_box(&kms)).unwrap()))
    });
    // Container plus the typed object (every V2Obj field and both maps).
    g.bench_function("decode", |b| {
        b.iter(|| {
            let xl = XlMeta::parse(black_box(&kms)).unwrap();
            black_box(xl.object(0).unwrap());
        })
    });
    g.bench_function("decode_verify", |b| {
        b.iter(|| {
            let xl = XlMeta::parse(black_box(&kms)).unwrap();
            xl.verify().unwrap();
            black_box(xl.object(0).unwrap());
        })
    });
    g.bench_function("edit_reencode", |b| {
        b.iter(|| black_box(edit_and_encode(black_box(&kms), 0, KMS_SEALED_KEY, new_key)))
    });
    g.finish();

    let v12 = v12_file();
    let mut g = c.benchmark_group(format!("{clock}/v1_2_855_versions"));
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode", |b| {
        b.iter(|| black_box(XlMeta::parse(black_box(&v12)).unwrap()))
    });
    g.bench_function("edit_reencode", |b| {
        b.iter(|| {
            black_box(edit_and_encode(
                black_box(&v12),
                100,
                "x-minio-internal-inline-data",
                b"false",
            ))
        })
    });
    g.finish();
}

fn wall(c: &mut Criterion) {
    benches(c, "wall");
}

fn cpu(c: &mut Criterion<ThreadCpuTime>) {
    benches(c, "cpu");
}

criterion_group!(wall_clock, wall);
criterion_group! {
    name = cpu_time;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = cpu
}
criterion_main!(wall_clock, cpu_time);
