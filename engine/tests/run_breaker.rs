//! The KMS circuit breaker (JOB.md §10): when the KMS fails on 100 versions
//! in a row the job stops as `aborted` (exit 4) instead of failing every
//! object, writes nothing for the failed versions, and a later run with a
//! working KMS resumes it to completion.

use std::process::Command;

#[path = "common/runs.rs"]
mod runs;
use runs::*;

fn with_batch_of_one(mut c: Command) -> Command {
    // Commit after every object so the breaker is looked at often.
    c.env("KEYROTATE_TEST_BATCH", "1");
    c
}

#[test]
fn kms_failing_in_a_row_aborts_the_job_and_a_resume_finishes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    let objects = 400;
    fixture(&root, objects, "sse-kms=1", &[]);
    let drives = drives(&root, 4);
    let job = write_job(&root, "fixture", "");
    let state = root.join("state");
    let before = snapshot(&drives);

    // Past the key proof, which would refuse the missing old key at once.
    let out = with_batch_of_one(run_cmd(&job, &drives, &state, KEY2))
        .arg("--skip-key-proof")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "aborted", "{v}");
    assert!(
        v["lastError"].as_str().unwrap().contains("circuit breaker"),
        "{v}"
    );
    // Workers run ahead of the commit stage: the 100 failures in a row are
    // counted where the KMS is called, while the summary holds only what was
    // journaled before the stop (the rest is redone on resume).
    assert!(v["failedByReason"]["kms"].as_u64().unwrap() >= 1, "{v}");
    assert!(
        v["objectsScanned"].as_u64().unwrap() < objects,
        "the job stopped early: {v}"
    );
    assert_eq!(v["objectsRotated"], 0);
    assert_eq!(
        snapshot(&drives),
        before,
        "nothing is written for versions the KMS failed on"
    );

    // The operator fixes the KMS (the old key for decryption, KEY2 as the
    // target) and runs again: the aborted job resumes, retrying its failures.
    let mut again = run_cmd(&job, &drives, &state, KEY2);
    again
        .arg("--retry-failed")
        .arg("--old-kms-secret-key")
        .arg(KEY1);
    let out = again.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let end: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(end["status"], "completed", "{end}");
    assert_eq!(end["jobID"], v["jobID"], "a resume keeps the job id");
    assert_eq!(end["objectsRotated"].as_u64(), Some(objects), "{end}");
    assert_eq!(end["objectsFailed"].as_u64(), Some(0), "{end}");

    // Every object is now sealed under KEY2 alone: a verify with only the new
    // key decrypts every object key.
    let o = Command::new(bin())
        .arg("verify")
        .arg("--drives")
        .args(&drives)
        .arg("--json")
        .env("MINIO_KMS_SECRET_KEY", KEY2)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let by_key = report["sseKmsByKey"].as_object().unwrap();
    assert_eq!(by_key.len(), 1, "{report}");
    assert!(by_key["other-key"].as_u64().unwrap() >= objects, "{report}");
}
