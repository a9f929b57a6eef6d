//! The write path of kernels before 5.8, whose `syncfs` reports no
//! writeback errors: each staged file and each target directory is also
//! fsynced. `KEYROTATE_TEST_OLD_KERNEL=1` takes that path on this kernel;
//! a run then rotates and encrypts exactly as the usual path does, and
//! (where `strace` can trace) really makes those fsyncs.

use std::process::Command;

#[path = "common/runs.rs"]
mod runs;
use runs::*;

const OBJECTS: u64 = 24;

/// Runs the job on a fresh fixture, under `strace -c` when `trace`;
/// returns the summary and the number of fsync calls (when traced).
fn run_on_fresh(old_kernel: bool, trace: bool) -> (serde_json::Value, Option<u64>) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(
        &root,
        OBJECTS,
        "sse-kms=2,plain=1",
        &["--multipart-every", "4"],
    );
    let drives = drives(&root, 4);
    let job = write_job(&root, "fixture", "");
    let cmd = run_cmd(&job, &drives, &root.join("state"), KEY1);
    let counts = tmp.path().join("strace.txt");
    let mut cmd = if trace {
        let mut c = Command::new("strace");
        c.args(["-f", "-c", "-e", "trace=fsync", "-o"])
            .arg(&counts)
            .arg(cmd.get_program())
            .args(cmd.get_args());
        c.envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))));
        c
    } else {
        cmd
    };
    if old_kernel {
        cmd.env("KEYROTATE_TEST_OLD_KERNEL", "1");
    }
    let v = json_of_success(&cmd.output().unwrap());
    // Everything reads back under the new sealing, all drives agree.
    let (_, report, _) = verify_cmd(&drives, &["--data"]);
    assert_eq!(report["problems"].as_array().unwrap().len(), 0, "{report}");
    assert_eq!(report["plaintext"], 0, "{report}");
    assert_eq!(staging_left(&drives), 0);
    let fsyncs = trace.then(|| {
        let text = std::fs::read_to_string(&counts).unwrap_or_default();
        text.lines()
            .find(|l| l.trim_end().ends_with("fsync"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    });
    (v, fsyncs)
}

fn strace_works() -> bool {
    let ok = Command::new("strace")
        .args(["-f", "-c", "-o", "/dev/null", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("strace cannot trace here: fsync counts not checked");
    }
    ok
}

#[test]
fn the_pre_5_8_path_rotates_and_encrypts_like_the_usual_one() {
    let trace = strace_works();
    let (usual, usual_fsyncs) = run_on_fresh(false, trace);
    let (old, old_fsyncs) = run_on_fresh(true, trace);
    for k in [
        "objects",
        "objectsRotated",
        "objectsEncrypted",
        "objectsFailed",
        "bytesTransferred",
        "kmsCalls",
    ] {
        assert_eq!(old[k], usual[k], "{k}: {old} vs {usual}");
    }
    assert_eq!(old["objectsFailed"], 0, "{old}");
    assert!(old["objectsEncrypted"].as_u64().unwrap() > 0, "{old}");
    if let (Some(usual), Some(old)) = (usual_fsyncs, old_fsyncs) {
        // Every xl.meta written (one per object per drive) is fsynced, and
        // its directory (directories once per batch): at least one more
        // fsync per object and drive.
        assert!(
            old >= usual + OBJECTS * 4,
            "fsync calls: {old} on the old-kernel path, {usual} on the usual one"
        );
    }
}
