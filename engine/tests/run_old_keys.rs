//! Moving objects from one static key to another (issue 3): MinIO holds one
//! static key, keyrotate takes old ones for decryption only from
//! `KEYROTATE_OLD_KMS_SECRET_KEYS` (as well as `--old-kms-secret-key`), picks
//! one by the key id stored with each object, and afterwards every object
//! reads with the new key alone.

use std::process::Command;

#[path = "common/runs.rs"]
mod runs;
use runs::*;

const NEW: &str = "new-minio-key:3m8bxcmBPtcsDhcZ2hMXyj0Q0y7xUOLJY6IS4lR8Aqc=";
/// An unrelated old key listed first: the stored key id must pick `KEY1`.
const DECOY: &str = "decoy-key:q0m8IwQ5o2y2kR4cG5m7cM0u0fOjC0hYwTqf0m0bq9E=";

fn verify(drives: &[std::path::PathBuf], env: &[(&str, &str)]) -> (bool, serde_json::Value) {
    let mut c = Command::new(bin());
    c.arg("verify")
        .arg("--data")
        .arg("--drives")
        .args(drives)
        .arg("--json")
        .env_remove("KEYROTATE_OLD_KMS_SECRET_KEYS");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    let report = serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
    (o.status.success(), report)
}

#[test]
fn old_keys_from_the_environment_then_the_new_key_alone_reads_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    let objects = 24;
    fixture(&root, objects, "sse-kms=3,sse-s3=1", &[]);
    let drives = drives(&root, 4);

    // Before: the new key alone cannot read the objects.
    let (ok, report) = verify(&drives, &[("MINIO_KMS_SECRET_KEY", NEW)]);
    assert!(!ok, "objects are still under the old key: {report}");

    let job = write_job(&root, "fixture", "");
    let mut cmd = run_cmd(&job, &drives, &root.join("state"), NEW);
    cmd.env("KEYROTATE_OLD_KMS_SECRET_KEYS", format!("{DECOY},{KEY1}"));
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["status"], "completed", "{summary}");
    assert_eq!(summary["objectsFailed"], 0, "{summary}");
    assert!(summary["objectsRotated"].as_u64().unwrap() > 0, "{summary}");
    // No secret of any key reaches the output, the log or the job state.
    let mut state = Vec::new();
    let mut stack = vec![root.join("state")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                state.extend(std::fs::read(e.path()).unwrap());
            }
        }
    }
    assert!(!state.is_empty());
    for key in [NEW, DECOY, KEY1] {
        let secret = key.split_once(':').unwrap().1;
        let raw = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(secret)
                .unwrap()
        };
        for text in [secret.to_owned(), hex::encode(&raw)] {
            assert!(!stderr.contains(&text), "{stderr}");
            assert!(!String::from_utf8_lossy(&out.stdout).contains(&text));
            assert!(!String::from_utf8_lossy(&state).contains(&text));
        }
        assert!(!state.windows(raw.len()).any(|w| w == raw));
    }

    // After: the new key alone decrypts every object key and its data.
    let (ok, report) = verify(&drives, &[("MINIO_KMS_SECRET_KEY", NEW)]);
    assert!(ok, "{report}");
    assert_eq!(report["problems"], serde_json::json!([]), "{report}");
    assert!(
        report["dataChecked"].as_u64().unwrap() >= objects,
        "every object's data decrypted: {report}"
    );
    let by_key = report["sseKmsByKey"].as_object().unwrap();
    assert_eq!(
        by_key.keys().collect::<Vec<_>>(),
        ["new-minio-key"],
        "{report}"
    );
    // The old key alone no longer reads them.
    let (ok, _) = verify(&drives, &[("MINIO_KMS_SECRET_KEY", KEY1)]);
    assert!(!ok, "objects left under the old key");
}

/// The KMS comes from the environment or an `--env-file` such as
/// `/etc/default/minio`; none or several backends is one clear error (a
/// pre-flight failure, JOB.md P-2: exit 3).
#[test]
fn env_file_with_none_or_several_kms_backends_is_one_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 4, "sse-kms=1", &[]);
    let drives = drives(&root, 4);
    let run = |file_text: &str| {
        let env_file = tmp.path().join("minio.env");
        std::fs::write(&env_file, file_text).unwrap();
        let o = Command::new(bin())
            .arg("verify")
            .arg("--drives")
            .args(&drives)
            .arg("--env-file")
            .arg(&env_file)
            .env_remove("MINIO_KMS_SECRET_KEY")
            .env_remove("MINIO_KMS_SECRET_KEY_FILE")
            .env_remove("MINIO_KMS_KES_ENDPOINT")
            .env_remove("MINIO_KMS_SERVER")
            .env_remove("KEYROTATE_OLD_KMS_SECRET_KEYS")
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let secret = KEY1.split_once(':').unwrap().1;

    let (code, err) = run(&format!("export MINIO_KMS_SECRET_KEY=\"{KEY1}\"\n"));
    assert_eq!(code, Some(0), "{err}");

    let (code, err) = run("MINIO_VOLUMES=\"/mnt/disk{1...4}\"\n");
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("no KMS configured"), "{err}");

    let (code, err) = run(&format!(
        "MINIO_KMS_SECRET_KEY={KEY1}\nMINIO_KMS_KES_ENDPOINT=https://kes:7373\nMINIO_KMS_KES_KEY_NAME=k\n"
    ));
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("KES") && err.contains("static key") && err.contains("configure one KMS"),
        "{err}"
    );
    assert!(!err.contains(secret), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one error line: {err}");
}
