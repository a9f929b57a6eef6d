//! The floors: the least I/O a program must do for the same work, measured
//! on the same files in the same run.
//!
//! * [`rewrite`]: every `xl.meta` rewritten crash-safely (read, write a
//!   temp file, fsync it, rename it over, fsync the directory), the bytes
//!   unchanged, by a pool of threads pulling from one queue interleaved
//!   across drives; [`best_rewrite_threads`] picks the thread count.
//! * [`read_pool`]: a std::fs thread pool walking the bucket directories and
//!   reading every `xl.meta`.
//! * [`find_cat`]: `find DRIVES -name xl.meta | xargs cat > /dev/null`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// One file rewritten the way a careful program replaces it.
fn rewrite_one(f: &Path) -> std::io::Result<()> {
    let bytes = std::fs::read(f)?;
    let tmp = f.with_file_name("xl.meta.floor-tmp");
    let mut out = std::fs::File::create(&tmp)?;
    out.write_all(&bytes)?;
    out.sync_all()?;
    std::fs::rename(&tmp, f)?;
    if let Some(dir) = f.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// The files of all drives interleaved (object 0 on every drive, object 1
/// on every drive, …), so any thread count keeps every drive busy.
pub fn interleave(per_drive: &[Vec<PathBuf>]) -> Vec<PathBuf> {
    let longest = per_drive.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = Vec::with_capacity(per_drive.iter().map(Vec::len).sum());
    for i in 0..longest {
        for d in per_drive {
            if let Some(f) = d.get(i) {
                out.push(f.clone());
            }
        }
    }
    out
}

/// Runs `work` on every item with `threads` threads pulling from one queue,
/// stopping early (no new items taken) once `cap` has passed; returns the
/// wall seconds and how many items were done.
fn pool<T: Sync>(
    items: &[T],
    threads: usize,
    cap: Option<Duration>,
    work: impl Fn(&T) -> std::io::Result<()> + Sync,
) -> std::io::Result<(f64, usize)> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let t = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads.max(1))
            .map(|_| {
                s.spawn(|| -> std::io::Result<()> {
                    loop {
                        if cap.is_some_and(|c| t.elapsed() >= c) {
                            return Ok(());
                        }
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else {
                            return Ok(());
                        };
                        work(item)?;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| std::io::Error::other("floor thread panicked"))??;
        }
        Ok::<(), std::io::Error>(())
    })?;
    Ok((t.elapsed().as_secs_f64(), done.into_inner()))
}

/// Rewrites every file with `threads` threads; returns the wall seconds.
pub fn rewrite(files: &[PathBuf], threads: usize) -> std::io::Result<f64> {
    Ok(pool(files, threads, None, |f| rewrite_one(f))?.0)
}

/// Thread counts tried for the rewrite floor: one per drive, 2 … 128 (more
/// fsyncs in flight let the filesystem journal commit them together).
pub fn candidate_threads(drives: usize) -> Vec<usize> {
    let mut c = vec![drives, 2, 4, 8, 16, 32, 64, 128];
    c.sort_unstable();
    c.dedup();
    c
}

/// The rewrite floor's thread count with the highest rate on `sample`
/// (the same files for every candidate, read once beforehand so no
/// candidate pays for a cold cache; each candidate stops after `cap`);
/// returns it and every (threads, files/s).
pub fn best_rewrite_threads(
    sample: &[PathBuf],
    candidates: &[usize],
    cap: Duration,
) -> std::io::Result<(usize, Vec<(usize, f64)>)> {
    for f in sample {
        std::hint::black_box(std::fs::read(f)?);
    }
    let mut table = Vec::new();
    for &t in candidates {
        let (s, n) = pool(sample, t, Some(cap), |f| rewrite_one(f))?;
        table.push((t, n as f64 / s.max(1e-9)));
    }
    let best = table
        .iter()
        .copied()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(1, |b| b.0);
    Ok((best, table))
}

/// The object directories' parents of every drive (`DRIVE/fixture/dirNNN`),
/// the units of work of the read pool.
fn seeds(drives: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for d in drives {
        for e in std::fs::read_dir(d.join("fixture"))? {
            out.push(e?.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Walks `dir` and reads every `xl.meta` below it; returns how many.
fn walk_read(dir: &Path, count: &AtomicUsize) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            walk_read(&e.path(), count)?;
        } else if e.file_name() == "xl.meta" {
            std::hint::black_box(std::fs::read(e.path())?);
            count.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

/// Walks the drives and reads every `xl.meta` with `threads` threads;
/// returns (wall seconds, files read).
pub fn read_pool(drives: &[PathBuf], threads: usize) -> std::io::Result<(f64, usize)> {
    let t = Instant::now();
    let seeds = seeds(drives)?;
    let count = AtomicUsize::new(0);
    pool(&seeds, threads, None, |d| walk_read(d, &count))?;
    Ok((t.elapsed().as_secs_f64(), count.into_inner()))
}

/// (threads, seconds).
pub type Timed = (usize, f64);

/// The read pool at each candidate thread count; returns the best (threads,
/// seconds) and every (threads, seconds).
pub fn best_read_pool(
    drives: &[PathBuf],
    candidates: &[usize],
    expect_files: usize,
) -> std::io::Result<(Timed, Vec<Timed>)> {
    let mut table = Vec::new();
    for &t in candidates {
        let (s, n) = read_pool(drives, t)?;
        if n != expect_files {
            return Err(std::io::Error::other(format!(
                "read pool read {n} xl.meta files, expected {expect_files}"
            )));
        }
        table.push((t, s));
    }
    let best = table
        .iter()
        .copied()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((1, f64::INFINITY));
    Ok((best, table))
}

/// `find DRIVES -name xl.meta | xargs cat > /dev/null`; returns wall seconds.
pub fn find_cat(drives: &[PathBuf]) -> std::io::Result<f64> {
    let list: Vec<String> = drives
        .iter()
        .map(|d| format!("'{}'", d.display()))
        .collect();
    let t = Instant::now();
    let st = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "find {} -name xl.meta | xargs cat > /dev/null",
            list.join(" ")
        ))
        .status()?;
    if !st.success() {
        return Err(std::io::Error::other(format!("find | xargs cat: {st}")));
    }
    Ok(t.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_touch_every_file_and_keep_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut per_drive = Vec::new();
        let mut drives = Vec::new();
        for d in 0..3 {
            let root = dir.path().join(format!("drive{d}"));
            let mut files = Vec::new();
            for o in 0..5 {
                let obj = root.join(format!("fixture/dir000/obj-{o}"));
                std::fs::create_dir_all(&obj).unwrap();
                let f = obj.join("xl.meta");
                std::fs::write(&f, format!("{d}-{o}")).unwrap();
                files.push(f);
            }
            per_drive.push(files);
            drives.push(root);
        }
        let all = interleave(&per_drive);
        assert_eq!(all.len(), 15);
        assert_eq!(all[1], per_drive[1][0]);
        rewrite(&all, 4).unwrap();
        for (d, files) in per_drive.iter().enumerate() {
            for (o, f) in files.iter().enumerate() {
                assert_eq!(std::fs::read_to_string(f).unwrap(), format!("{d}-{o}"));
                assert!(!f.with_file_name("xl.meta.floor-tmp").exists());
            }
        }
        let (_, n) = read_pool(&drives, 2).unwrap();
        assert_eq!(n, 15);
        assert!(best_read_pool(&drives, &[1, 2], 14).is_err());
        let (best, table) = best_rewrite_threads(&all, &[1, 3], Duration::from_secs(5)).unwrap();
        assert!([1, 3].contains(&best));
        assert_eq!(table.len(), 2);
        find_cat(&drives).unwrap();
        assert_eq!(candidate_threads(4), [2, 4, 8, 16, 32, 64, 128]);
        let (_, n) = pool(&all, 1, Some(Duration::ZERO), |_| Ok(())).unwrap();
        assert_eq!(n, 0);
    }
}
