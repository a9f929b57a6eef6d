//! A drive that refuses writes in the middle of a commit. Drive I/O errors
//! are retried (JOB.md §10); a plan that still fails after some drive took
//! its new `xl.meta` leaves the drives disagreeing, so its intent stays
//! pending and the job stops as `aborted` (exit 4, resumable) instead of
//! ending with drives that disagree; a resume finishes it (DESIGN
//! invariant 4). The refusal is real: the object's directory on one drive
//! is made immutable (`chattr +i`), which refuses even root.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "common/runs.rs"]
mod runs;
use runs::*;

/// An immutable directory, made mutable again when dropped.
struct Immutable(PathBuf);

impl Immutable {
    /// `None` where the filesystem or the user cannot set the flag.
    fn set(dir: &Path) -> Option<Self> {
        let ok = Command::new("chattr")
            .arg("+i")
            .arg(dir)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            eprintln!("skipped: chattr +i is not possible on {}", dir.display());
        }
        ok.then(|| Immutable(dir.to_owned()))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

const VICTIM: &str = "fixture/dir000/obj-0000007";

fn verify(drives: &[PathBuf]) -> serde_json::Value {
    verify_cmd(drives, &[]).1
}

fn xl(drive: &Path) -> Vec<u8> {
    std::fs::read(drive.join(VICTIM).join("xl.meta")).unwrap()
}

#[test]
fn a_drive_refusing_writes_stops_the_job_and_a_resume_finishes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 20, "sse-kms=1", &[]);
    let drives = drives(&root, 4);
    let job = write_job(&root, "fixture", "");
    let state = root.join("state");
    let before: Vec<Vec<u8>> = drives.iter().map(|d| xl(d)).collect();
    let Some(lock) = Immutable::set(&drives[2].join(VICTIM)) else {
        return;
    };
    let (code, v, out) = run(&job, &drives, &state, KEY1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code, 4, "{v} {stderr}");
    assert_eq!(v["status"], "aborted", "{v}");
    let err = v["lastError"].as_str().unwrap();
    assert!(
        err.contains("obj-0000007") && err.contains("drive3") && err.contains("resume"),
        "the error names the object, the drive and what to do: {err}"
    );
    // Every other drive took the new xl.meta; drive 3 kept the old one.
    assert_ne!(xl(&drives[0]), before[0]);
    assert_eq!(xl(&drives[2]), before[2]);
    // verify sees the disagreement the stop left behind.
    let problems = verify(&drives)["problems"].as_array().unwrap().len();
    assert!(problems > 0, "verify reports the half-applied object");

    // The drive is repaired; the resume finishes the pending plan first.
    drop(lock);
    let (code, v, out) = run(&job, &drives, &state, KEY1);
    assert_eq!(code, 0, "{v} {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(v["objectsRotated"], 20, "{v}");
    assert_eq!(v["objectsFailed"], 0, "{v}");
    assert_ne!(xl(&drives[2]), before[2]);
    let after = verify(&drives);
    assert_eq!(after["problems"].as_array().unwrap().len(), 0, "{after}");
    assert_eq!(staging_left(&drives), 0);
}

#[test]
fn a_drive_error_that_clears_is_retried_within_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 20, "sse-kms=1", &[]);
    let drives = drives(&root, 4);
    let retry = "  flags:\n    retry:\n      attempts: 20\n      delay: 100ms\n";
    let job = write_job(&root, "fixture", retry);
    let state = root.join("state");
    let before = xl(&drives[0]);
    let Some(lock) = Immutable::set(&drives[2].join(VICTIM)) else {
        return;
    };
    let child = run_cmd(&job, &drives, &state, KEY1)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The first try wrote the other drives: then the error clears, while
    // the run waits to try again.
    let start = Instant::now();
    while xl(&drives[0]) == before {
        assert!(start.elapsed() < Duration::from_secs(60), "never reached");
        std::thread::sleep(Duration::from_millis(2));
    }
    drop(lock);
    let out = child.wait_with_output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{v} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(v["objectsRotated"], 20, "{v}");
    assert_eq!(v["objectsFailed"], 0, "{v}");
    let after = verify(&drives);
    assert_eq!(after["problems"].as_array().unwrap().len(), 0, "{after}");
}
