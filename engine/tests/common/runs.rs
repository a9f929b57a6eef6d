//! Helpers of the `run` acceptance tests: deployments, the binary, snapshots.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub const KEY1: &str = "my-minio-key:RToXnzpt60mYKPmjlLuYvGc3G+yh9PsKVciexzqttzM=";
/// A static key under another name: it knows nothing of `KEY1`'s objects, so
/// every unseal of one fails in the KMS (key not found) on every try.
pub const KEY2: &str = "other-key:Nh2dGzXuY7BxLw8U5OcYk3h0Jj1pQ3cZ5t6m3vJ0qTE=";

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_keyrotate"))
}

/// Unpacks `testdata/drivesets/<name>.tar.xz`; returns (tempdir, root).
pub fn unpack(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tarball = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/drivesets")
        .join(format!("{name}.tar.xz"));
    let dir = tempfile::tempdir().unwrap();
    let file = std::fs::File::open(&tarball).unwrap();
    tar::Archive::new(xz2::read::XzDecoder::new(file))
        .unpack(dir.path())
        .unwrap();
    let root = dir.path().join(name);
    (dir, root)
}

/// Builds a fixture deployment with the binary.
pub fn fixture(out: &Path, objects: u64, mix: &str, extra: &[&str]) {
    let o = Command::new(bin())
        .args(["fixture", "--out"])
        .arg(out)
        .args(["--objects", &objects.to_string(), "--mix", mix])
        .args(extra)
        .env("MINIO_KMS_SECRET_KEY", KEY1)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

pub fn drives(root: &Path, n: usize) -> Vec<PathBuf> {
    (1..=n).map(|i| root.join(format!("drive{i}"))).collect()
}

/// Summary fields a crash must not change.
pub const COUNTERS: &[&str] = &[
    "objectsScanned",
    "objects",
    "objectsRotated",
    "objectsConverted",
    "objectsEncrypted",
    "objectsSkipped",
    "objectsFiltered",
    "objectsFailed",
    "deleteMarkersSkipped",
    "bytesTransferred",
    "bytesActual",
    "deleteMarkers",
    "complete",
    "failed",
    "attempts",
    "skippedByReason",
    "failedByReason",
    "internal",
    "status",
];

/// `keyrotate verify --json [EXTRA] --drives DRIVES` with the static key:
/// (exit code, JSON report, stderr).
pub fn verify_cmd(drives: &[PathBuf], extra: &[&str]) -> (i32, Value, String) {
    let o = Command::new(bin())
        .arg("verify")
        .args(extra)
        .arg("--json")
        .arg("--drives")
        .args(drives)
        .env("MINIO_KMS_SECRET_KEY", KEY1)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        serde_json::from_slice(&o.stdout).unwrap_or(Value::Null),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `keyrotate verify --data --json --drives DRIVES` with `key`: its report
/// and the problems it names, less those of SSE-C versions (whose data needs
/// the client's key).
pub fn verify_data(drives: &[PathBuf], key: &str) -> (Value, Vec<String>) {
    let o = Command::new(bin())
        .args(["verify", "--data", "--json", "--drives"])
        .args(drives)
        .env("MINIO_KMS_SECRET_KEY", key)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let problems = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .filter(|p| !p.contains("SSE-C"))
        .collect();
    (v, problems)
}

/// The JSON on stdout of a command that must have exited 0.
pub fn json_of_success(out: &Output) -> Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `keyrotate-*` staging entries (folders, spare files) left in the drives'
/// `.minio.sys/tmp`.
#[allow(dead_code)]
pub fn staging_left(drives: &[PathBuf]) -> usize {
    drives
        .iter()
        .flat_map(|r| {
            std::fs::read_dir(r.join(".minio.sys/tmp"))
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter(|e| e.file_name().to_string_lossy().starts_with("keyrotate-"))
        .count()
}

pub fn write_job(dir: &Path, bucket: &str, extra: &str) -> PathBuf {
    let p = dir.join(format!("job-{bucket}.yaml"));
    std::fs::write(
        &p,
        format!("keyrotate:\n  apiVersion: v1\n  bucket: {bucket}\n{extra}"),
    )
    .unwrap();
    p
}

/// `keyrotate run` (JSON summary) with the static key in the environment.
pub fn run_cmd(job: &Path, drives: &[PathBuf], state: &Path, key: &str) -> Command {
    let mut c = Command::new(bin());
    c.arg("run")
        .arg(job)
        .arg("--drives")
        .args(drives)
        .arg("--state-dir")
        .arg(state)
        .args(["--skip-server-check", "--json", "--kms-concurrency", "4"])
        .env("MINIO_KMS_SECRET_KEY", key);
    c
}

pub fn run(job: &Path, drives: &[PathBuf], state: &Path, key: &str) -> (i32, Value, Output) {
    run_with(job, drives, state, key, &[])
}

/// [`run`] with extra arguments.
pub fn run_with(
    job: &Path,
    drives: &[PathBuf],
    state: &Path,
    key: &str,
    extra: &[&str],
) -> (i32, Value, Output) {
    let o = run_cmd(job, drives, state, key)
        .args(extra)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (o.status.code().unwrap_or(-1), v, o)
}

/// Where every command keeps a drive's lock (engine/src/drives/lock.rs):
/// made by the first command on the drives and kept, by design.
pub const DRIVE_LOCK_FILE: &str = ".minio.sys/tmp/keyrotate.lock";

/// Every file and folder under the drives, internal data included: path →
/// bytes (empty for a folder), the drive lock file alone aside, so that any
/// other write, creation or removal shows.
pub fn drive_files(drives: &[PathBuf]) -> BTreeMap<PathBuf, Vec<u8>> {
    let locks: Vec<PathBuf> = drives.iter().map(|d| d.join(DRIVE_LOCK_FILE)).collect();
    let mut out = BTreeMap::new();
    let mut stack: Vec<PathBuf> = drives.to_vec();
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                out.insert(p.clone(), Vec::new());
                stack.push(p);
            } else if !locks.contains(&p) {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Every `xl.meta` under the drives: path relative to the deployment → bytes.
pub fn snapshot(drives: &[PathBuf]) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for (i, d) in drives.iter().enumerate() {
        let mut stack = vec![d.clone()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap().flatten() {
                let p = e.path();
                if e.file_type().unwrap().is_dir() {
                    if !p.ends_with(".minio.sys") {
                        stack.push(p);
                    }
                } else if p.file_name().unwrap() == "xl.meta" {
                    let rel =
                        PathBuf::from(format!("drive{}", i + 1)).join(p.strip_prefix(d).unwrap());
                    out.insert(rel, std::fs::read(&p).unwrap());
                }
            }
        }
    }
    out
}

/// The meta bytes of version `vid` in an xl.meta file.
pub fn version_meta(xl: &[u8], vid: [u8; 16]) -> Option<(Vec<u8>, i64)> {
    let x = xlmeta::XlMeta::parse(xl).ok()?;
    x.versions()
        .iter()
        .find(|v| v.header().version_id == vid)
        .map(|v| (v.meta_bytes().to_vec(), v.header().mod_time))
}

pub fn version_bytes(id: &str) -> [u8; 16] {
    if id.is_empty() || id == "null" {
        return [0; 16];
    }
    *uuid::Uuid::parse_str(id).unwrap().as_bytes()
}

/// Every run directory under a state root (`<job>/<deployment>/run-NNNN`,
/// engine/src/run/state.rs), in path order (a deployment's latest last).
pub fn run_dirs(state: &Path) -> Vec<PathBuf> {
    let subdirs = |p: &Path| -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = std::fs::read_dir(p)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect();
        out.sort();
        out
    };
    let mut out = Vec::new();
    for job in subdirs(state) {
        for deployment in subdirs(&job) {
            out.extend(subdirs(&deployment).into_iter().filter(|r| {
                r.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("run-"))
            }));
        }
    }
    out
}

/// Every run's journal under a state root
/// (`<job>/<deployment>/run-NNNN/journal`).
pub fn journal_files(state: &Path) -> Vec<PathBuf> {
    run_dirs(state)
        .into_iter()
        .map(|r| r.join("journal"))
        .filter(|j| j.exists())
        .collect()
}

/// Every run's `report.jsonl` under a state root
/// (`<job>/<deployment>/run-NNNN/report.jsonl`).
pub fn report_files(state: &Path) -> Vec<PathBuf> {
    run_dirs(state)
        .into_iter()
        .map(|r| r.join("report.jsonl"))
        .filter(|r| r.exists())
        .collect()
}

/// The report lines of the latest run in `state` (the report written last).
pub fn report_lines(state: &Path) -> Vec<Value> {
    let report = report_files(state)
        .into_iter()
        .max_by_key(|p| {
            (
                std::fs::metadata(p).and_then(|m| m.modified()).ok(),
                p.clone(),
            )
        })
        .unwrap();
    std::fs::read_to_string(report)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Complete lines in the reports of the runs in `state` (0 before any exists).
pub fn reported_so_far(state: &Path) -> usize {
    report_files(state)
        .into_iter()
        .filter_map(|p| std::fs::read(p).ok())
        .map(|r| r.iter().filter(|b| **b == b'\n').count())
        .sum()
}

/// Waits (at most 30 s) until the job in `state` has reported `n` versions.
pub fn wait_for_reports(state: &Path, n: usize) {
    let start = std::time::Instant::now();
    while reported_so_far(state) < n && start.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Starts `keyrotate run` with one version per group commit, each commit
/// slowed by 25 ms, and returns once it has reported 2 versions: a run
/// caught in the middle, for a signal or a change under its feet.
pub fn start_slowed_run(
    job: &Path,
    drives: &[PathBuf],
    state: &Path,
    key: &str,
) -> std::process::Child {
    start_run_slowed_by(job, drives, state, key, 25)
}

/// [`start_slowed_run`] with each commit slowed by `delay_ms`: for a test
/// that must start other commands while the run is still going.
pub fn start_run_slowed_by(
    job: &Path,
    drives: &[PathBuf],
    state: &Path,
    key: &str,
    delay_ms: u64,
) -> std::process::Child {
    use std::process::Stdio;
    let mut cmd = run_cmd(job, drives, state, key);
    cmd.env("KEYROTATE_TEST_COMMIT_DELAY_MS", delay_ms.to_string())
        .env("KEYROTATE_TEST_BATCH", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    // Reports, not a fixed sleep: a loaded machine may not have committed yet.
    wait_for_reports(state, 2);
    child
}

/// Waits for `child` and returns its JSON summary, asserting its exit code.
pub fn summary_of(child: std::process::Child, code: i32) -> Value {
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn manifest(root: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap()
}

/// Runs `keyrotate run` until it finishes, killing it with SIGKILL after a
/// random 30–250 ms on the first `kills` attempts (group commits slowed so
/// kills land mid-commit); returns the final JSON summary and the kills that
/// landed.
pub fn run_with_kills(
    job: &Path,
    drives: &[PathBuf],
    state: &Path,
    kills: usize,
) -> (Value, usize) {
    use rand::Rng;
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let mut rng = rand::thread_rng();
    let (mut landed, mut rounds) = (0, 0);
    loop {
        rounds += 1;
        assert!(rounds < 200, "the run never finished");
        let mut cmd = run_cmd(job, drives, state, KEY1);
        cmd.env("KEYROTATE_TEST_COMMIT_DELAY_MS", "15")
            .env("KEYROTATE_TEST_BATCH", "2")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if landed < kills {
            let wait = Duration::from_millis(rng.gen_range(30..250));
            let start = Instant::now();
            while start.elapsed() < wait && child.try_wait().unwrap().is_none() {
                std::thread::sleep(Duration::from_millis(2));
            }
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap();
                child.wait().unwrap();
                landed += 1;
                continue;
            }
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        return (serde_json::from_slice(&out.stdout).unwrap(), landed);
    }
}
