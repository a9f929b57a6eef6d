//! Pre-flight refusals (exit 3, nothing written): a drive of the set
//! missing, drives of two deployments, a state directory in use; and an
//! invalid job file (exit 2).

#[path = "common/runs.rs"]
mod runs;
use runs::*;

#[test]
fn refuses_missing_drive_foreign_drives_and_invalid_jobs() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    fixture(&a, 3, "sse-kms=1", &["--seed", "1"]);
    fixture(&b, 3, "sse-kms=1", &["--seed", "2"]);
    let before = snapshot(&drives(&a, 4));
    let job = write_job(tmp.path(), "fixture", "");
    let state = tmp.path().join("state");

    let three = &drives(&a, 4)[..3];
    let (code, _, out) = run(&job, three, &state, KEY1);
    assert_eq!(code, 3, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));

    let mut mixed = drives(&a, 4)[..3].to_vec();
    mixed.push(drives(&b, 4)[3].clone());
    let (code, _, out) = run(&job, &mixed, &state, KEY1);
    assert_eq!(code, 3);
    assert!(String::from_utf8_lossy(&out.stderr).contains("deployment"));

    let bad = tmp.path().join("bad.yaml");
    std::fs::write(&bad, "keyrotate:\n  apiVersion: v2\n").unwrap();
    let (code, _, _) = run(&bad, &drives(&a, 4), &state, KEY1);
    assert_eq!(code, 2);

    let (code, _, out) = run(&job, &drives(&a, 4), &state, "");
    assert_eq!(
        code,
        3,
        "no KMS configured: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    assert_eq!(snapshot(&drives(&a, 4)), before, "nothing may be written");
}
