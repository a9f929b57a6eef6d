//! Plaintext → SSE-KMS encryption throughput against the I/O floor of the
//! same work, measured in the same run (issue 8):
//!
//! * fixture: 4 drives, 2 parity, plaintext objects of 4–64 MiB, ≥ 2 GiB
//!   in total (built by a child process, so its memory does not count);
//! * floor: for every object, read the part files the encryption reads (the
//!   data shards) and write the same number of bytes the encryption writes
//!   (one file per drive, fsynced), all drives in parallel;
//! * encrypt: `run::encrypt::encrypt_version` per object, then the commit
//!   through `run`'s commit executor (staged dir moved in, xl.meta swapped
//!   and fsynced on every drive, old dir removed), batched by one committer
//!   thread while the encryption slots go on, as in `run`.
//!
//! Reports MB/s of plaintext for both, their ratio, the peak RSS (`VmHWM`),
//! CPU seconds (and per GiB of plaintext: independent of other load on the
//! machine) of both phases and the load average around them. Usage: `encrypt_bench DIR
//! [TOTAL_MIB]` or `make bench-encrypt` (release build; not part of `make
//! test`); `ENCRYPT_BENCH_JOBS` objects in flight (default: the encrypt hook's
//! `rewrite_slots()`). `--json` (anywhere) also prints the figures as one
//! JSON line last, for the e2e suite.
//!
//! `--compressed` (anywhere; `make bench-encrypt-compressed`): the objects
//! hold text-like data stored S2-compressed as MinIO stores it with
//! compression on (about 2–3× smaller; issue 21). Encryption then reads and
//! writes the compressed stream, and so does the floor: it reads the stored
//! (compressed) shards and writes what encrypting the stored bytes writes.
//! MB/s stay in plaintext (actual) bytes; the ratio compares the two times.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Instant;

use bench::suite::child::{self_cpu_s, vm_hwm_kib};
use bench::suite::machine;
use engine::drives::io::DriveIo;
use engine::erasure::Erasure;
use engine::fixture::{build_with_sizes, FixtureSpec, Manifest, Mix, SizeClass};
use engine::run::encrypt::{encrypt_version, inline_threshold, EncryptRequest, INLINE_BLOCK};
use engine::run::exec::{Executor, PlanResult};
use engine::run::plan::CommitPlan;
use engine::sse::OsRandom;
use kms_client::{DataKey, KeyId, PlaintextKey};

const MIB: u64 = 1 << 20;

fn sizes(total_mib: u64) -> Vec<u64> {
    let cycle = [4u64, 16, 64, 32, 8, 48, 24, 56, 12, 40];
    let mut out = Vec::new();
    let mut sum = 0;
    let mut i = 0usize;
    while sum < total_mib {
        let s = cycle[i % cycle.len()];
        out.push(s * MIB + (i as u64 * 4099) % MIB);
        sum += s;
        i += 1;
    }
    out
}

fn peak_rss_kib() -> u64 {
    vm_hwm_kib("/proc/self/status").unwrap_or(0)
}

fn spec(objects: u64, compressed: bool) -> FixtureSpec {
    FixtureSpec {
        compressed_every: compressed.then_some(1),
        drives: 4,
        parity: 2,
        objects,
        mix: Mix {
            plain: 1,
            sse_s3: 0,
            sse_kms: 0,
            sse_c: 0,
        },
        sizes: SizeClass::Large,
        seed: 8,
        ..FixtureSpec::default()
    }
}

/// Commits a batch of plans the way `run` does: the commit executor, through
/// the drives' I/O workers (staged dirs moved in, every drive's `xl.meta`
/// swapped in parallel and fsynced, old data dirs removed). Only the journal
/// write that precedes it in `run` is left out.
fn apply(exec: &mut Executor, plans: &[CommitPlan]) -> Result<(), String> {
    let refs: Vec<&CommitPlan> = plans.iter().collect();
    let results = exec.execute(&refs);
    if results.len() != plans.len() {
        return Err("commit results do not cover the batch".into());
    }
    for r in results {
        match r {
            PlanResult::Committed => {}
            PlanResult::Conflict(e) | PlanResult::Failed(e) | PlanResult::Unfinished(e) => {
                return Err(e)
            }
            PlanResult::Vanished => return Err("object vanished".into()),
        }
    }
    Ok(())
}

/// Plans committed together at most (`run` batches its commits too).
const COMMIT_BATCH: usize = 16;

/// The 1-minute load average (other work on the machine skews wall times;
/// CPU seconds per GiB do not depend on it).
fn load_avg() -> String {
    format!("{:.2}", machine::load_avg()[0])
}

/// Stored (as read: compressed or not) sizes of each part of every fixture
/// object, from its `xl.meta` on the first drive.
fn stored_part_sizes(root: &std::path::Path, manifest: &Manifest) -> Result<Vec<Vec<u64>>, String> {
    manifest
        .objects
        .iter()
        .filter(|o| o.bucket == "fixture")
        .map(|o| {
            let path = root.join(&o.bucket).join(&o.object).join("xl.meta");
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let meta =
                xlmeta::XlMeta::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
            let obj = meta
                .object(0)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(obj.part_sizes.iter().map(|&s| s as u64).collect())
        })
        .collect()
}

/// Reads the data-shard part files of every object and writes the bytes
/// the encryption writes (the DARE stream of each stored part, erasure
/// coded), fsynced, one thread per drive.
fn floor(
    roots: &[PathBuf],
    manifest: &Manifest,
    stored_parts: &[Vec<u64>],
    erasure: &Erasure,
) -> std::io::Result<()> {
    std::thread::scope(|s| {
        let handles: Vec<_> = roots
            .iter()
            .enumerate()
            .map(|(j, root)| {
                s.spawn(move || -> std::io::Result<()> {
                    let scratch = root.join(".minio.sys/tmp/floor");
                    std::fs::create_dir_all(&scratch)?;
                    // 4 MiB at a time, like the encryption's batches.
                    let mut buf = vec![0x5au8; 4 << 20];
                    let objects = manifest.objects.iter().filter(|o| o.bucket == "fixture");
                    for (o, stored) in objects.zip(stored_parts) {
                        let shard = usize::from(o.distribution[j]);
                        if shard <= erasure.data_shards() {
                            let p = root.join(&o.bucket).join(&o.object).join(&o.data_dir);
                            for n in 1..=o.parts.len() {
                                let mut f = std::fs::File::open(p.join(format!("part.{n}")))?;
                                while f.read(&mut buf)? > 0 {
                                    std::hint::black_box(&buf);
                                }
                            }
                        }
                        let enc: u64 = stored
                            .iter()
                            .map(|&p| {
                                erasure.bitrot_file_size(
                                    engine::sse::dare::encrypted_size(p).unwrap_or(0),
                                )
                            })
                            .sum();
                        let f = scratch.join("out");
                        let mut out = std::fs::File::create(&f)?;
                        let mut left = enc as usize;
                        while left > 0 {
                            let n = left.min(buf.len());
                            out.write_all(&buf[..n])?;
                            left -= n;
                        }
                        out.sync_all()?;
                        std::fs::remove_file(&f)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| std::io::Error::other("floor thread panicked"))??;
        }
        Ok(())
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let json = std::env::args().any(|a| a == "--json");
    let compressed = std::env::args().any(|a| a == "--compressed");
    let mut args = std::env::args()
        .skip(1)
        .filter(|a| a != "--json" && a != "--compressed");
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: encrypt_bench DIR [TOTAL_MIB] [--compressed] [--json]")?,
    );
    let total_mib: u64 = args.next().map_or(Ok(2048), |s| s.parse())?;
    let sizes = sizes(total_mib);
    let fx = dir.join("fx");
    if std::env::var_os("ENCRYPT_BENCH_BUILD").is_some() {
        build_with_sizes(
            &fx,
            &spec(sizes.len() as u64, compressed),
            engine::fixture::FixtureKms::Default,
            &sizes,
        )?;
        return Ok(());
    }
    // A fresh plaintext fixture every run (an encrypted one cannot be reused).
    if fx.exists() {
        std::fs::remove_dir_all(&fx)?;
    }
    {
        let t = Instant::now();
        let mut build = std::process::Command::new(std::env::current_exe()?);
        if compressed {
            build.arg("--compressed");
        }
        let st = build
            .arg(&dir)
            .arg(total_mib.to_string())
            .env("ENCRYPT_BENCH_BUILD", "1")
            .status()?;
        if !st.success() {
            return Err("fixture build failed".into());
        }
        eprintln!("fixture built in {:.1}s", t.elapsed().as_secs_f64());
    }
    let manifest: Manifest = serde_json::from_slice(&std::fs::read(fx.join("manifest.json"))?)?;
    let roots: Vec<PathBuf> = (1..=4).map(|i| fx.join(format!("drive{i}"))).collect();
    let erasure = Erasure::new(2, 2, engine::erasure::DEFAULT_BLOCK_SIZE)?;
    let objects: Vec<_> = manifest
        .objects
        .iter()
        .filter(|o| o.bucket == "fixture")
        .collect();
    let plain: u64 = objects.iter().map(|o| o.plaintext_size).sum();
    let stored: u64 = objects.iter().map(|o| o.stored_size).sum();
    if compressed && !objects.iter().all(|o| o.compressed) {
        return Err("--compressed: the fixture has uncompressed objects".into());
    }
    eprintln!(
        "{} objects, {:.0} MiB plaintext, {:.0} MiB stored{}",
        objects.len(),
        plain as f64 / MIB as f64,
        stored as f64 / MIB as f64,
        if compressed { " (S2-compressed)" } else { "" }
    );
    let stored_parts = stored_part_sizes(&roots[0], &manifest)?;

    // Start both measurements with no dirty fixture data in the page cache.
    std::process::Command::new("sync").status()?;
    let load_before = load_avg();
    let (t, c0) = (Instant::now(), self_cpu_s());
    floor(&roots, &manifest, &stored_parts, &erasure)?;
    let floor_s = t.elapsed().as_secs_f64();
    let floor_cpu = self_cpu_s() - c0;

    let drives: Vec<DriveIo> = roots.iter().map(DriveIo::spawn).collect::<Result<_, _>>()?;
    let key = DataKey {
        key_id: KeyId::new("bench-key"),
        plaintext: PlaintextKey::new([0x42; 32]),
        ciphertext: b"bench".to_vec(),
    };
    // Objects in flight at once, like the run pipeline's workers.
    let jobs: usize = std::env::var("ENCRYPT_BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(engine::run::encrypt::rewrite_slots);
    std::process::Command::new("sync").status()?;
    let (t, c0) = (Instant::now(), self_cpu_s());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let commit_ns = std::sync::atomic::AtomicU64::new(0);
    // Like `run`: encryption slots hand their plans to one committer, which
    // applies whatever has queued up as one batch (one xl.meta swap round
    // per drive for the whole batch).
    let (plan_tx, plan_rx) = std::sync::mpsc::sync_channel::<CommitPlan>(2 * jobs);
    let (next, commit_ns, roots, drives, objects, key) =
        (&next, &commit_ns, &roots, &drives, &objects, &key);
    std::thread::scope(|s| -> Result<(), String> {
        let committer = s.spawn(move || -> Result<(), String> {
            let mut exec =
                Executor::new(roots.iter().cloned().zip(drives.iter().cloned()).collect());
            while let Ok(first) = plan_rx.recv() {
                let mut batch = vec![first];
                while batch.len() < COMMIT_BATCH {
                    match plan_rx.try_recv() {
                        Ok(p) => batch.push(p),
                        Err(_) => break,
                    }
                }
                let c = Instant::now();
                apply(&mut exec, &batch)?;
                commit_ns.fetch_add(
                    c.elapsed().as_nanos() as u64,
                    std::sync::atomic::Ordering::Relaxed,
                );
            }
            Ok(())
        });
        let workers: Vec<_> = (0..jobs)
            .map(|_| {
                let plan_tx = plan_tx.clone();
                s.spawn(move || -> Result<(), String> {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(o) = objects.get(i) else {
                            return Ok(());
                        };
                        let metas: Vec<Vec<u8>> = roots
                            .iter()
                            .map(|r| {
                                std::fs::read(r.join(&o.bucket).join(&o.object).join("xl.meta"))
                            })
                            .collect::<Result<_, _>>()
                            .map_err(|e| e.to_string())?;
                        let req = EncryptRequest {
                            drives,
                            xl_meta: &metas,
                            version_index: 0,
                            bucket: &o.bucket,
                            object: &o.object,
                            data_key: key,
                            user_context: None,
                            inline_threshold: inline_threshold(false, INLINE_BLOCK),
                        };
                        let plan =
                            encrypt_version(&req, &mut OsRandom).map_err(|e| e.to_string())?;
                        plan_tx
                            .send(plan)
                            .map_err(|_| "committer stopped".to_owned())?;
                    }
                })
            })
            .collect();
        drop(plan_tx);
        let mut first_err = None;
        for w in workers {
            if let Err(e) = w.join().map_err(|_| "worker panicked".to_owned())? {
                first_err.get_or_insert(e);
            }
        }
        committer
            .join()
            .map_err(|_| "committer panicked".to_owned())??;
        first_err.map_or(Ok(()), Err)
    })?;
    let commit_s = commit_ns.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e9;
    let enc_s = t.elapsed().as_secs_f64();
    let enc_cpu = self_cpu_s() - c0;
    let gib = plain as f64 / (1u64 << 30) as f64;
    println!(
        "cpu: floor {floor_cpu:.1}s ({:.2} CPU-s/GiB), encrypt {enc_cpu:.1}s ({:.2} CPU-s/GiB); load average {load_before} before, {} after",
        floor_cpu / gib,
        enc_cpu / gib,
        load_avg()
    );
    let mbps = |s: f64| plain as f64 / 1e6 / s;
    println!(
        "floor {:.1} MB/s ({floor_s:.1}s), encrypt {:.1} MB/s ({enc_s:.1}s, commit {commit_s:.1}s in the committer; {jobs} objects in flight), ratio {:.2}, peak RSS {} MiB",
        mbps(floor_s),
        mbps(enc_s),
        floor_s / enc_s,
        peak_rss_kib() / 1024
    );
    if json {
        let v = serde_json::json!({
            "objects": objects.len(), "plaintext_bytes": plain, "total_mib": total_mib,
            "compressed": compressed, "stored_bytes": stored,
            "floor_s": floor_s, "encrypt_s": enc_s, "floor_mb_s": mbps(floor_s),
            "encrypt_mb_s": mbps(enc_s), "ratio": floor_s / enc_s, "floor_cpu_s": floor_cpu,
            "encrypt_cpu_s": enc_cpu, "commit_s": commit_s, "jobs": jobs,
            "peak_rss_mib": peak_rss_kib() as f64 / 1024.0,
        });
        println!("{v}");
    }
    Ok(())
}
