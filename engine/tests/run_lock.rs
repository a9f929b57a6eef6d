//! Drive locks (issue 15, defect 2): two runs on the same drives with
//! different state directories corrupted each other. A `run` holds every
//! drive alone for as long as it lives; `plan` and `verify` share them; a
//! refusal is one line naming the drive and the process holding it; a
//! killed holder's lock goes with it; a resume's staging sweep keeps it.
//!
//! Holders are kept busy with the test hooks `KEYROTATE_TEST_COMMIT_DELAY_MS`
//! (a run sleeping inside its batches) and `KEYROTATE_TEST_LOCK_HOLD_MS`
//! (any command sleeping once it holds the drives). Whether a drive is
//! locked is asked of the kernel directly (`flock` on the lock file).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "common/runs.rs"]
mod runs;
use runs::*;

/// Documented place of a drive's lock (drives/lock.rs).
fn lock_file(drive: &Path) -> PathBuf {
    drive.join(".minio.sys/tmp/keyrotate.lock")
}

/// A child process killed (SIGKILL) when the test ends, passed or not.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for Killed {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Killed {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

/// Polls `done` until it holds; fails if `child` exits first or a minute passes.
fn wait_for(child: &mut Child, what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the first process ended ({status}) before {what}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether the kernel lets us lock `drive` alone (nobody holds it).
fn free(drive: &Path) -> bool {
    std::fs::File::open(lock_file(drive)).is_ok_and(|f| f.try_lock().is_ok())
}

/// The `flock`s process `pid` holds, per the kernel (`READ` or `WRITE`).
fn flocks_of(pid: u32) -> Vec<String> {
    std::fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .filter(|l| !l.contains("->"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1) == Some(&"FLOCK") && f.get(4) == Some(&pid.to_string().as_str()))
                .then(|| f[3].to_owned())
        })
        .collect()
}

fn command(args: &[&str], drives: &[PathBuf]) -> Command {
    let mut c = Command::new(bin());
    c.args(args)
        .arg("--drives")
        .args(drives)
        .env("MINIO_KMS_SECRET_KEY", KEY1);
    c
}

/// The single stderr line of a refused command: exit 3, naming a drive of
/// the set and the holder's pid.
fn assert_refused(out: &std::process::Output, drives: &[PathBuf], holder: u32, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{what} must refuse (pre-flight) while pid {holder} holds the drives; stderr: {stderr}"
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{what}: one line: {stderr}");
    assert!(
        drives
            .iter()
            .any(|d| lines[0].contains(&d.display().to_string())),
        "{what}: names the drive: {stderr}"
    );
    assert!(
        lines[0].contains(&format!("pid {holder}")),
        "{what}: names the holder {holder}: {stderr}"
    );
}

fn journal_written(state: &Path) -> bool {
    journal_files(state)
        .iter()
        .any(|j| std::fs::metadata(j).is_ok_and(|m| m.len() > 0))
}

#[test]
fn a_second_run_on_the_same_drives_refuses_and_a_killed_run_frees_them() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 24, "sse-kms=2,plain=1", &["--versions", "2"]);
    let drives = drives(&root, 4);
    let job = write_job(tmp.path(), "fixture", "");
    let (state_a, state_b) = (tmp.path().join("state-a"), tmp.path().join("state-b"));

    // Run A sleeps inside its first batch (journal committed, drives not
    // yet written), long enough for everything below.
    let mut a = run_cmd(&job, &drives, &state_a, KEY1)
        .args(["--batch", "2"])
        .env("KEYROTATE_TEST_COMMIT_DELAY_MS", "60000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Killed)
        .unwrap();
    wait_for(&mut a, "run A committed its first batch", || {
        journal_written(&state_a)
    });

    // Same job, another state directory.
    let (code, _, out) = run(&job, &drives, &state_b, KEY1);
    assert_refused(&out, &drives, a.id(), "a second run");
    assert_ne!(code, 0);
    // Another job file on the same drives.
    let other = tmp.path().join("other.yaml");
    let mut text = std::fs::read(&job).unwrap();
    text.extend_from_slice(b"# another job file\n");
    std::fs::write(&other, text).unwrap();
    let (_, _, out) = run(&other, &drives, &state_b, KEY1);
    assert_refused(&out, &drives, a.id(), "a run of another job");
    let plan = command(&["plan", job.to_str().unwrap()], &drives)
        .output()
        .unwrap();
    assert_refused(&plan, &drives, a.id(), "plan");
    let verify = command(&["verify", "--no-kms"], &drives).output().unwrap();
    assert_refused(&verify, &drives, a.id(), "verify");

    // kill -9: the kernel releases the lock with the process.
    a.kill().unwrap();
    a.wait().unwrap();
    assert!(drives.iter().all(|d| free(d)), "a killed run holds nothing");

    // A resume sweeps what killed runs staged; the lock stays in force.
    let planted = drives[0].join(".minio.sys/tmp/keyrotate-left-by-a-killed-run");
    std::fs::write(&planted, b"staged").unwrap();
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&planted)
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();
    let mut resumed = run_cmd(&job, &drives, &state_a, KEY1)
        .args(["--batch", "2"])
        .env("KEYROTATE_TEST_COMMIT_DELAY_MS", "1500")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Killed)
        .unwrap();
    wait_for(
        &mut resumed,
        "the resume swept the abandoned staging",
        || !planted.exists(),
    );
    let (_, _, out) = run(&job, &drives, &state_b, KEY1);
    assert_refused(&out, &drives, resumed.id(), "a run beside a resume");
    resumed.kill().unwrap();
    resumed.wait().unwrap();

    // The job finishes and the drives agree.
    let (code, summary, out) = run(&job, &drives, &state_a, KEY1);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(summary["status"], "completed", "{summary}");
    let (code, report, stderr) = verify_cmd(&drives, &["--data"]);
    assert_eq!(code, 0, "{report} {stderr}");
}

#[test]
fn plans_and_verifies_share_the_drives_but_keep_runs_out() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 8, "sse-kms=1,plain=1", &[]);
    let drives = drives(&root, 4);
    let job = write_job(tmp.path(), "fixture", "");
    let state = tmp.path().join("state");

    let mut plan = command(&["plan", job.to_str().unwrap()], &drives)
        .env("KEYROTATE_TEST_LOCK_HOLD_MS", "60000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Killed)
        .unwrap();
    let pid = plan.id();
    wait_for(&mut plan, "plan holds the drives shared", || {
        let held = flocks_of(pid);
        held.len() == drives.len() && held.iter().all(|k| k == "READ")
    });
    // Readers side by side.
    let other_plan = command(&["plan", job.to_str().unwrap()], &drives)
        .output()
        .unwrap();
    assert!(
        other_plan.status.success(),
        "{}",
        String::from_utf8_lossy(&other_plan.stderr)
    );
    let (code, report, stderr) = verify_cmd(&drives, &["--data"]);
    assert_eq!(code, 0, "verify beside a plan: {report} {stderr}");
    // No writer beside a reader.
    let (_, _, out) = run(&job, &drives, &state, KEY1);
    assert_refused(&out, &drives, plan.id(), "a run beside a plan");

    plan.kill().unwrap();
    plan.wait().unwrap();
    let (code, summary, out) = run(&job, &drives, &state, KEY1);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(summary["status"], "completed", "{summary}");
}
