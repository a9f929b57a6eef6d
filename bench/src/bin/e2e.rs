//! End-to-end benchmark of `keyrotate run` and `plan` on a 4-drive fixture
//! of SSE-KMS objects under a static key, each against an I/O floor measured
//! in the same run on the same files:
//!
//! * run floor: rewrite every `xl.meta` with the durability keyrotate gives
//!   it (temp file + fsync + rename + directory fsync), one thread per drive;
//! * plan floor: `find DRIVES -name xl.meta | xargs cat > /dev/null`.
//!
//! Also the peak RSS of the `run` process. Usage:
//! `e2e [--objects N] [--dir D] [--keyrotate PATH]` (default 20000 objects,
//! `target/release/keyrotate`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const KEY: &str = "bench-key:n5yYMBmIjqAPxdUo/tNLm4691YdkgGCopJsMd07fwSI=";

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn xl_metas(drive: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![drive.join("fixture")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "xl.meta") {
                out.push(p);
            }
        }
    }
    out
}

/// Rewrites every xl.meta of a drive crash-safely, as a plain program would.
fn rewrite_all(files: &[PathBuf]) -> std::io::Result<()> {
    use std::io::Write;
    for f in files {
        let bytes = std::fs::read(f)?;
        let tmp = f.with_file_name("xl.meta.floor-tmp");
        let mut out = std::fs::File::create(&tmp)?;
        out.write_all(&bytes)?;
        out.sync_all()?;
        std::fs::rename(&tmp, f)?;
        if let Some(dir) = f.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
    }
    Ok(())
}

fn drop_caches_hint() {
    // Not dropping the page cache (needs root and disturbs other work): both
    // sides of each ratio run warm, right after one another.
}

/// Runs `cmd` to completion; returns (success, stdout, stderr, peak RSS KiB).
/// The child is reaped with `wait4` (for its own rusage), not `Child::wait`.
#[allow(clippy::zombie_processes)]
fn run_measured(cmd: &mut Command) -> (bool, Vec<u8>, Vec<u8>, i64) {
    use std::io::Read;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut so = child.stdout.take().expect("stdout");
    let mut se = child.stderr.take().expect("stderr");
    let t = std::thread::spawn(move || {
        let _ = se.read_to_end(&mut err);
        err
    });
    let _ = so.read_to_end(&mut out);
    let err = t.join().unwrap_or_default();
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid; wait4 fills it for our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    // SAFETY: pid is our unwaited child; pointers are to owned locals.
    unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (ok, out, err, ru.ru_maxrss)
}

fn main() {
    let objects: u64 = arg("--objects")
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let bin =
        PathBuf::from(arg("--keyrotate").unwrap_or_else(|| "target/release/keyrotate".into()));
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = arg("--dir")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_owned());
    let deploy = dir.join("deploy");
    let _ = std::fs::remove_dir_all(&deploy);
    let t = Instant::now();
    let st = Command::new(&bin)
        .args(["fixture", "--out"])
        .arg(&deploy)
        .args([
            "--objects",
            &objects.to_string(),
            "--mix",
            "sse-kms=1",
            "--drives",
            "4",
        ])
        .env("MINIO_KMS_SECRET_KEY", KEY)
        .status()
        .expect("keyrotate fixture");
    assert!(st.success());
    eprintln!(
        "fixture: {objects} objects in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    let drives: Vec<PathBuf> = (1..=4).map(|i| deploy.join(format!("drive{i}"))).collect();
    let spec = format!("{}/drive{{1...4}}", deploy.display());
    drop_caches_hint();

    // plan floor vs plan
    let t = Instant::now();
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "find {} -name xl.meta | xargs cat > /dev/null",
            drives
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        ))
        .status()
        .expect("find");
    assert!(st.success());
    let find_s = t.elapsed().as_secs_f64();
    let job = dir.join("job.yaml");
    std::fs::write(&job, "keyrotate:\n  apiVersion: v1\n  bucket: fixture\n").expect("job");
    let t = Instant::now();
    let out = Command::new(&bin)
        .arg("plan")
        .arg(&job)
        .args(["--drives", &spec, "--json"])
        .output()
        .expect("plan");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan_s = t.elapsed().as_secs_f64();

    // run floor vs run
    let files: Vec<Vec<PathBuf>> = drives.iter().map(|d| xl_metas(d)).collect();
    let t = Instant::now();
    std::thread::scope(|s| {
        for f in &files {
            s.spawn(move || rewrite_all(f).expect("floor rewrite"));
        }
    });
    let floor_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (ok, stdout, stderr, rss_kib) = run_measured(
        Command::new(&bin)
            .arg("run")
            .arg(&job)
            .args([
                "--drives",
                &spec,
                "--json",
                "--skip-server-check",
                "--state-dir",
            ])
            .arg(dir.join("state"))
            .env("MINIO_KMS_SECRET_KEY", KEY),
    );
    let run_s = t.elapsed().as_secs_f64();
    assert!(ok, "{}", String::from_utf8_lossy(&stderr));
    let summary: serde_json::Value = serde_json::from_slice(&stdout).expect("summary");
    assert_eq!(summary["objectsRotated"].as_u64(), Some(objects));
    let rss_mib = rss_kib as f64 / 1024.0;
    let n = objects as f64;
    println!("objects: {objects}");
    println!(
        "run:  {:.0} objects/s ({run_s:.2}s); floor {:.0} objects/s ({floor_s:.2}s); ratio {:.2}x (target >= 0.8)",
        n / run_s,
        n / floor_s,
        floor_s / run_s
    );
    println!(
        "plan: {:.0} objects/s ({plan_s:.2}s); find|xargs cat {find_s:.2}s; ratio {:.2}x (target >= 1.0)",
        n / plan_s,
        find_s / plan_s
    );
    println!("peak RSS of run: {rss_mib:.0} MiB (target < 200 MiB)");
}
