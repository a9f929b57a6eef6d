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

/// `plan` decides like `run` but writes nothing and calls no KMS.
#[test]
fn plan_predicts_the_run_without_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(
        &root,
        20,
        "sse-kms=1,sse-s3=1",
        &["--locked-every", "5", "--versions", "2"],
    );
    let drives = drives(&root, 4);
    let before = snapshot(&drives);
    let job = write_job(tmp.path(), "fixture", "");
    // No KMS in the environment: plan must not need one.
    let out = std::process::Command::new(bin())
        .arg("plan")
        .arg(&job)
        .arg("--drives")
        .args(&drives)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(snapshot(&drives), before);
    let (code, run_summary, _) = run(&job, &drives, &tmp.path().join("state"), KEY1);
    assert_eq!(code, 0);
    let rotate = plan["byAction"]["rotate"].as_u64().unwrap_or(0);
    let convert = plan["byAction"]["convert"].as_u64().unwrap_or(0);
    assert_eq!(run_summary["objectsRotated"].as_u64(), Some(rotate));
    assert_eq!(run_summary["objectsConverted"].as_u64(), Some(convert));
    assert_eq!(
        plan["bySkipReason"]["locked"],
        run_summary["skippedByReason"]["locked"]
    );
    assert!(plan["bySkipReason"]["locked"].as_u64().unwrap() > 0);
    assert_eq!(plan["deleteMarkers"], run_summary["deleteMarkersSkipped"]);
    assert_eq!(
        plan["projectedKmsCalls"]["generate"].as_u64(),
        Some(rotate + convert)
    );
    assert_eq!(
        plan["projectedKmsCalls"]["decrypt"].as_u64(),
        Some(rotate + convert)
    );
    assert_eq!(
        run_summary["kmsCalls"]["generate"].as_u64(),
        Some(rotate + convert)
    );
    assert!(plan["bytesToRewrite"].as_u64().unwrap() > 0);
}
