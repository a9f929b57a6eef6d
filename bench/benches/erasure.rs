//! Erasure and drive I/O throughput:
//!
//! * Reed-Solomon encode of 1 MiB blocks at 8+4 (MinIO's 12-drive default),
//!   reported in bytes of object data per second;
//! * HighwayHash-256 (bitrot) over 1 MiB chunks;
//! * reading every `xl.meta` of a 4-drive fixture in parallel through the
//!   per-drive io_uring workers — in batches ([`DriveIo::read_files`], as
//!   `plan` reads) and one ticket per file ([`DriveIo::read_file`]) — and
//!   through the same workers on plain syscalls, against `std::fs::read` on
//!   a thread pool of 2, 4, 8 and 16 threads in the same run (all reading
//!   every file's full bytes from the same absolute paths, warm page cache).
//!   One more pool, `openat_pool`, makes the worker's own syscalls
//!   blocking on threads (open relative to the drive root with
//!   `O_NOATIME`, one read into a 16 KiB buffer, close): what is left
//!   between it and the workers is io_uring's share.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use engine::drives::io::{Backend, DriveIo};
use engine::erasure::bitrot::highway256;
use engine::erasure::{Erasure, DEFAULT_BLOCK_SIZE};
use engine::fixture::{build, FixtureKms, FixtureSpec, Mix, SizeClass};

fn block(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[2])
        .collect()
}

fn rs_and_highway(c: &mut Criterion) {
    let data = block(DEFAULT_BLOCK_SIZE as usize);
    let mut g = c.benchmark_group("erasure");
    g.throughput(Throughput::Bytes(data.len() as u64));
    let e = Erasure::new(8, 4, DEFAULT_BLOCK_SIZE).expect("8+4");
    g.bench_function("rs_encode_8+4_1MiB", |b| {
        b.iter(|| e.encode_block(&data).expect("encode"))
    });
    g.bench_function("highwayhash256_1MiB", |b| b.iter(|| highway256(&data)));
    g.finish();
}

/// Every xl.meta of every drive of a fresh fixture, per drive (relative paths).
fn fixture(objects: u64) -> (tempfile::TempDir, Vec<(PathBuf, Vec<PathBuf>)>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("fx");
    let spec = FixtureSpec {
        drives: 4,
        parity: 2,
        objects,
        mix: Mix {
            plain: 1,
            sse_s3: 0,
            sse_kms: 0,
            sse_c: 0,
        },
        sizes: SizeClass::Small,
        ..FixtureSpec::default()
    };
    let manifest = build(&out, &spec, FixtureKms::None).expect("fixture");
    let drives = (1..=4)
        .map(|i| {
            let root = out.join(format!("drive{i}"));
            let files = manifest
                .objects
                .iter()
                .map(|o| Path::new(&o.bucket).join(&o.object).join("xl.meta"))
                .collect();
            (root, files)
        })
        .collect();
    (dir, drives)
}

/// Reads every file through one worker per drive, up to `window` in flight each.
fn read_all_workers(
    workers: &[DriveIo],
    files: &[(PathBuf, Vec<PathBuf>)],
    window: usize,
) -> usize {
    std::thread::scope(|s| {
        let handles: Vec<_> = workers
            .iter()
            .zip(files)
            .map(|(io, (_, rels))| {
                s.spawn(move || {
                    let mut total = 0;
                    let mut pending = std::collections::VecDeque::with_capacity(window);
                    for rel in rels {
                        if pending.len() == window {
                            let t: engine::drives::io::Ticket<Vec<u8>> =
                                pending.pop_front().expect("ticket");
                            total += t.wait().expect("read").len();
                        }
                        pending.push_back(io.read_file(rel));
                    }
                    for t in pending {
                        total += t.wait().expect("read").len();
                    }
                    total
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("join")).sum()
    })
}

/// Reads every file through one worker per drive in batches of `batch`
/// paths, `depth` batches in flight per drive.
fn read_all_batched(
    workers: &[DriveIo],
    files: &[(PathBuf, Vec<PathBuf>)],
    batch: usize,
    depth: usize,
) -> usize {
    std::thread::scope(|s| {
        let handles: Vec<_> = workers
            .iter()
            .zip(files)
            .map(|(io, (_, rels))| {
                s.spawn(move || {
                    let mut total = 0;
                    let mut pending = std::collections::VecDeque::with_capacity(depth);
                    for chunk in rels.chunks(batch) {
                        if pending.len() == depth {
                            let b: engine::drives::io::ReadBatch =
                                pending.pop_front().expect("batch");
                            total += b
                                .wait()
                                .into_iter()
                                .map(|r| r.expect("read").len())
                                .sum::<usize>();
                        }
                        pending.push_back(io.read_files(chunk));
                    }
                    for b in pending {
                        total += b
                            .wait()
                            .into_iter()
                            .map(|r| r.expect("read").len())
                            .sum::<usize>();
                    }
                    total
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("join")).sum()
    })
}

/// The baseline: a pool of `threads` threads pulling paths and calling `std::fs::read`.
fn read_all_std(paths: &[PathBuf], threads: usize) -> usize {
    let next = AtomicUsize::new(0);
    let total = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(p) = paths.get(i) else { break };
                total.fetch_add(std::fs::read(p).expect("read").len(), Ordering::Relaxed);
            });
        }
    });
    total.into_inner()
}

/// The workers' syscalls made by a thread pool: every file opened relative
/// to its drive root's descriptor, read into a reused buffer (a second
/// read only when it fills), copied out at its size, closed.
fn read_all_openat(drives: &[(std::os::fd::OwnedFd, &[PathBuf])], threads: usize) -> usize {
    use rustix::fs::{Mode, OFlags};
    let items: Vec<(usize, &PathBuf)> = drives
        .iter()
        .enumerate()
        .flat_map(|(d, (_, rels))| rels.iter().map(move |r| (d, r)))
        .collect();
    let next = AtomicUsize::new(0);
    let total = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((d, rel)) = items.get(i) else { break };
                    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOATIME;
                    let fd = rustix::fs::openat(&drives[*d].0, rel.as_path(), flags, Mode::empty())
                        .expect("open");
                    let mut out = Vec::new();
                    loop {
                        let n = rustix::io::read(&fd, &mut buf[..]).expect("read");
                        out.extend_from_slice(&buf[..n]);
                        if n < buf.len() {
                            break;
                        }
                    }
                    total.fetch_add(std::hint::black_box(out).len(), Ordering::Relaxed);
                }
            });
        }
    });
    total.into_inner()
}

fn xl_meta_reads(c: &mut Criterion) {
    // `cargo test --all-targets` runs benches once in test mode: keep that quick.
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let (_dir, files) = fixture(if bench_mode { 20_000 } else { 300 });
    let count: usize = files.iter().map(|(_, f)| f.len()).sum();
    let absolute: Vec<PathBuf> = files
        .iter()
        .flat_map(|(root, rels)| rels.iter().map(|r| root.join(r)))
        .collect();
    let expected = read_all_std(&absolute, 4);
    let mut g = c.benchmark_group("xl_meta_read_4_drives");
    g.throughput(Throughput::Elements(count as u64));
    g.sample_size(10);
    for backend in [Backend::IoUring, Backend::Syscalls] {
        let Ok(workers) = files
            .iter()
            .map(|(root, _)| DriveIo::spawn_with(root, backend))
            .collect::<Result<Vec<_>, _>>()
        else {
            eprintln!("{backend:?} unavailable here; skipped");
            continue;
        };
        assert_eq!(read_all_batched(&workers, &files, 64, 4), expected);
        assert_eq!(read_all_workers(&workers, &files, 256), expected);
        g.bench_with_input(
            BenchmarkId::new("workers", format!("{backend:?}")),
            &workers,
            |b, w| b.iter(|| read_all_batched(w, &files, 64, 4)),
        );
        g.bench_with_input(
            BenchmarkId::new("workers_per_file", format!("{backend:?}")),
            &workers,
            |b, w| b.iter(|| read_all_workers(w, &files, 256)),
        );
    }
    for threads in [2, 4, 8, 16] {
        g.bench_with_input(
            BenchmarkId::new("std_fs_pool", threads),
            &threads,
            |b, &t| b.iter(|| read_all_std(&absolute, t)),
        );
    }
    let dirs: Vec<(std::os::fd::OwnedFd, &[PathBuf])> = files
        .iter()
        .map(|(root, rels)| {
            let flags = rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY;
            let fd = rustix::fs::open(root, flags, rustix::fs::Mode::empty()).expect("root");
            (fd, rels.as_slice())
        })
        .collect();
    assert_eq!(read_all_openat(&dirs, 4), expected);
    for threads in [4, 8] {
        g.bench_with_input(
            BenchmarkId::new("openat_pool", threads),
            &threads,
            |b, &t| b.iter(|| read_all_openat(&dirs, t)),
        );
    }
    g.finish();
}

criterion_group!(benches, rs_and_highway, xl_meta_reads);
criterion_main!(benches);
