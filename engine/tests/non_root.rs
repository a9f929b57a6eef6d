//! Drives read by a user that does not own their files. keyrotate usually
//! runs as root, but `plan` and `verify` are read-only and an operator may
//! run them as MinIO's user or any user with read access. Reads open files
//! with `O_NOATIME` as MinIO does, which the kernel refuses (`EPERM`) on a
//! file the caller does not own: the drive worker must fall back to a plain
//! open and read everything exactly as root does. Runs the binary as
//! `nobody` through `setpriv`, with both I/O backends; needs root.

use std::process::Command;

#[path = "common/runs.rs"]
mod runs;
use runs::*;

const NOBODY: &str = "65534";

/// Runs `keyrotate ARGS`, as `nobody` when `as_nobody`; returns the JSON
/// on stdout (the command must succeed).
fn keyrotate(args: &[&str], as_nobody: bool, no_uring: bool) -> serde_json::Value {
    let mut c = if as_nobody {
        let mut c = Command::new("setpriv");
        c.args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
        ])
        .arg(bin());
        c
    } else {
        Command::new(bin())
    };
    c.args(args).env("MINIO_KMS_SECRET_KEY", KEY1);
    if no_uring {
        c.env("KEYROTATE_NO_IO_URING", "1");
    }
    let o = c.output().unwrap();
    assert!(
        o.status.success(),
        "{args:?} as nobody={as_nobody}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn can_switch_user() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let setpriv = Command::new("setpriv").arg("--version").output().is_ok();
    if !root || !setpriv {
        eprintln!("skipped: needs root and setpriv (root {root}, setpriv {setpriv})");
    }
    root && setpriv
}

#[test]
fn plan_and_verify_read_drives_they_do_not_own() {
    if !can_switch_user() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // The temp dir is private to root: open it for reading.
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let root = tmp.path().join("d");
    let extra = ["--multipart-every", "5", "--versions", "2"];
    fixture(&root, 40, "sse-kms=3,sse-s3=1,plain=1", &extra);
    let job = write_job(&root, "fixture", "");
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&job).unwrap());
    assert_eq!(owner, 0, "the fixture belongs to root");
    let spec = format!("{}/drive{{1...4}}", root.display());
    let plan = ["plan", job.to_str().unwrap(), "--drives", &spec, "--json"];
    let verify = ["verify", "--drives", &spec, "--data", "--json"];
    let plan_root = keyrotate(&plan, false, false);
    let verify_root = keyrotate(&verify, false, false);
    assert!(plan_root["objects"].as_u64().unwrap() >= 40, "{plan_root}");
    assert!(
        verify_root["dataChecked"].as_u64().unwrap() > 0,
        "{verify_root}"
    );
    for no_uring in [false, true] {
        assert_eq!(
            keyrotate(&plan, true, no_uring),
            plan_root,
            "plan, no_uring {no_uring}"
        );
        assert_eq!(
            keyrotate(&verify, true, no_uring),
            verify_root,
            "verify --data, no_uring {no_uring}"
        );
    }
}
