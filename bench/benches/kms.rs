//! KMS throughput.
//!
//! * `static_key/pair`: one data-key decrypt + one generate with the static
//!   key on one thread (= per core). Target ≥ 300,000 pairs/s.
//! * `kes/*`: KES client requests per second against the in-process HTTPS
//!   protocol fixture (`kms_client::testing`, not a KES) with 1 ms injected
//!   latency and 128 requests in flight, over HTTP/2 and over HTTP/1.1.
//!   Target ≥ 20,000 requests/s on the 2-core machine (client and fixture
//!   share the cores).
//!
//! The machine is shared with other builds, so wall-clock figures swing with
//! the load. The `*_cpu` variants time the same work in CPU time instead
//! (thread CPU time for the static key, whole-process CPU time — client and
//! fixture together — for KES): their throughput is work per CPU-second,
//! i.e. per core, and twice that is what the 2-core machine sustains when
//! nothing else runs.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kms_client::http::{ClientAuth, ClientOptions};
use kms_client::kes::{KesClient, KesConfig};
use kms_client::testing::{Fixture, FixtureConfig};
use kms_client::{Context, DecryptRequest, GenerateRequest, KeyId, Kms, StaticKey, StaticKms};

/// CPU time consumed so far by this thread or by the whole process.
fn cpu_time(clock: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `f` `iters` times and returns the CPU time it took on `clock`.
fn cpu_timed(clock: libc::clockid_t, iters: u64, mut f: impl FnMut()) -> Duration {
    let start = cpu_time(clock);
    for _ in 0..iters {
        f();
    }
    cpu_time(clock) - start
}

fn static_key(c: &mut Criterion) {
    let kms = StaticKms::new(StaticKey::new("my-key", [7; 32]).unwrap(), vec![]);
    let key = KeyId::new("my-key");
    let context: Context = [("mybucket", "mybucket/photos/2024/img.jpg")]
        .into_iter()
        .collect();
    let stored = kms.generate_key(&key, &context).unwrap().ciphertext;
    let mut group = c.benchmark_group("static_key");
    group.throughput(Throughput::Elements(1));
    group.bench_function("pair", |b| {
        b.iter(|| {
            let old = kms.decrypt(&key, &stored, &context).unwrap();
            let new = kms.generate_key(&key, &context).unwrap();
            (old, new)
        })
    });
    group.bench_function("pair_cpu", |b| {
        b.iter_custom(|iters| {
            cpu_timed(libc::CLOCK_THREAD_CPUTIME_ID, iters, || {
                let old = kms.decrypt(&key, &stored, &context).unwrap();
                let new = kms.generate_key(&key, &context).unwrap();
                criterion::black_box((old, new));
            })
        })
    });
    group.bench_function("decrypt", |b| {
        b.iter(|| kms.decrypt(&key, &stored, &context).unwrap())
    });
    group.bench_function("generate", |b| {
        b.iter(|| kms.generate_key(&key, &context).unwrap())
    });
    group.bench_function("context_json", |b| b.iter(|| context.to_canonical_json()));
    group.finish();
}

fn kes(c: &mut Criterion) {
    const BATCH: usize = 2048;
    let mut group = c.benchmark_group("kes");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(10);
    for http2 in [true, false] {
        let fx = Fixture::start(FixtureConfig {
            keys: vec![("my-key".into(), [1; 32])],
            latency: Duration::from_millis(1),
            worker_threads: 1,
            http1_only: !http2,
            ..FixtureConfig::default()
        })
        .unwrap();
        let dir = std::env::temp_dir().join(format!("kms-bench-{}-{http2}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, pem) in [
            ("ca.pem", fx.ca_pem()),
            ("c.crt", fx.client_cert_pem()),
            ("c.key", fx.client_key_pem()),
        ] {
            std::fs::write(dir.join(name), pem).unwrap();
        }
        let client = KesClient::new(KesConfig {
            endpoints: vec![fx.endpoint()],
            default_key: KeyId::new("my-key"),
            auth: ClientAuth::CertFiles {
                cert: dir.join("c.crt"),
                key: dir.join("c.key"),
                password_set: false,
            },
            ca_path: Some(dir.join("ca.pem")),
            options: ClientOptions {
                max_in_flight: 128,
                http2,
                worker_threads: 1,
                ..ClientOptions::default()
            },
        })
        .unwrap();
        let key = KeyId::new("my-key");
        let contexts: Vec<Context> = (0..BATCH)
            .map(|i| [("b", format!("b/object-{i}"))].into_iter().collect())
            .collect();
        let generate: Vec<GenerateRequest<'_>> = contexts
            .iter()
            .map(|c| GenerateRequest {
                key: &key,
                context: c,
            })
            .collect();
        let deks: Vec<_> = client
            .generate_batch(&generate)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let decrypt: Vec<DecryptRequest<'_>> = deks
            .iter()
            .zip(&contexts)
            .map(|(d, c)| DecryptRequest {
                key: &key,
                ciphertext: &d.ciphertext,
                context: c,
            })
            .collect();
        let proto = if http2 { "h2" } else { "http1" };
        group.bench_function(format!("decrypt_128_in_flight_1ms_{proto}"), |b| {
            b.iter(|| {
                let out = client.decrypt_batch(&decrypt);
                assert!(out.iter().all(Result::is_ok));
            })
        });
        group.bench_function(format!("generate_128_in_flight_1ms_{proto}"), |b| {
            b.iter(|| {
                let out = client.generate_batch(&generate);
                assert!(out.iter().all(Result::is_ok));
            })
        });
        group.bench_function(format!("decrypt_128_in_flight_1ms_{proto}_cpu"), |b| {
            b.iter_custom(|iters| {
                let wall = Instant::now();
                let cpu = cpu_timed(libc::CLOCK_PROCESS_CPUTIME_ID, iters, || {
                    let out = client.decrypt_batch(&decrypt);
                    assert!(out.iter().all(Result::is_ok));
                });
                let requests = iters as f64 * BATCH as f64;
                eprintln!(
                    "kes {proto}: {requests} decrypts: wall {:.0} req/s, CPU {:.1} us/req (client + fixture)",
                    requests / wall.elapsed().as_secs_f64(),
                    cpu.as_secs_f64() * 1e6 / requests
                );
                cpu
            })
        });
        eprintln!(
            "kes {proto}: {} TLS connections for {} requests",
            fx.connections(),
            fx.requests()
        );
    }
    group.finish();
}

criterion_group!(benches, static_key, kes);
criterion_main!(benches);
