//! The live-server check of pre-flight (issue 15 defect 3): any other
//! process with a file or its working directory under a drive is refused,
//! whatever its name (a MinIO binary renamed to
//! `minio.RELEASE.2025-04-22T22-12-26Z` holds `.minio.sys/format.json` open);
//! keyrotate's own process and threads are never flagged.

use std::path::Path;
use std::process::{Child, Command};

#[path = "common/runs.rs"]
mod runs;
use runs::*;

/// `keyrotate run` with the server check on (no `--skip-server-check`).
fn checked_run(job: &Path, drives: &[std::path::PathBuf], state: &Path) -> (i32, String) {
    let o = Command::new(bin())
        .arg("run")
        .arg(job)
        .arg("--drives")
        .args(drives)
        .arg("--state-dir")
        .arg(state)
        .arg("--json")
        .env("MINIO_KMS_SECRET_KEY", KEY1)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Waits until `child` has `path` open or as its cwd (the shell needs a
/// moment to open it and exec).
fn wait_until_holding(child: &Child, path: &Path) {
    let proc_dir = format!("/proc/{}", child.id());
    let want = std::fs::canonicalize(path).unwrap();
    for _ in 0..500 {
        let cwd = std::fs::read_link(format!("{proc_dir}/cwd")).ok();
        let fds = std::fs::read_dir(format!("{proc_dir}/fd"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read_link(e.path()).ok());
        let exe_is_sleep = std::fs::read_link(format!("{proc_dir}/exe"))
            .is_ok_and(|e| !e.to_string_lossy().ends_with("sh"));
        if exe_is_sleep && (cwd.as_deref() == Some(&want) || fds.into_iter().any(|f| f == want)) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("the helper process never held {}", path.display());
}

#[test]
fn a_renamed_server_holding_a_drive_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 4, "sse-kms=1", &[]);
    let drives = drives(&root, 4);
    let job = write_job(tmp.path(), "fixture", "");
    let before = snapshot(&drives);

    // A `sleep` renamed as a MinIO release, started with no drive argument,
    // holding drive1's format.json open on fd 3 (as the server does).
    let renamed = tmp.path().join("minio.RELEASE.2025-04-22T22-12-26Z");
    std::fs::copy("/bin/sleep", &renamed).unwrap();
    let format = drives[0].join(".minio.sys/format.json");
    let mut holder = Command::new("sh")
        .arg("-c")
        .arg("exec 3<\"$1\"; exec \"$2\" 30")
        .arg("sh")
        .arg(&format)
        .arg(&renamed)
        .spawn()
        .unwrap();
    wait_until_holding(&holder, &format);
    let (code, err) = checked_run(&job, &drives, &tmp.path().join("state"));
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_eq!(code, 3, "{err}");
    assert!(err.contains(&format!("pid {}", holder.id())), "{err}");
    assert!(err.contains("minio.RELEASE.2025-04-22T22-12-26Z"), "{err}");
    assert!(err.contains(&drives[0].display().to_string()), "{err}");
    assert_eq!(snapshot(&drives), before, "nothing may be written");

    // A process working in a drive's bucket directory.
    let bucket_dir = drives[1].join("fixture");
    let mut worker = Command::new("sleep")
        .arg("30")
        .current_dir(&bucket_dir)
        .spawn()
        .unwrap();
    wait_until_holding(&worker, &bucket_dir);
    let (code, err) = checked_run(&job, &drives, &tmp.path().join("state"));
    worker.kill().unwrap();
    worker.wait().unwrap();
    assert_eq!(code, 3, "{err}");
    assert!(err.contains(&format!("pid {}", worker.id())), "{err}");
    assert!(err.contains(&drives[1].display().to_string()), "{err}");
    assert_eq!(snapshot(&drives), before, "nothing may be written");

    // Nobody else on the drives: keyrotate's own files, threads and
    // drive workers do not count, and the run goes through.
    let (code, err) = checked_run(&job, &drives, &tmp.path().join("state"));
    assert_eq!(code, 0, "{err}");
}
