//! Objects whose xl.meta is corrupt or missing on one drive fail as
//! `inconsistent` (work left in scope until healed: the job ends failed) and
//! are named in the report; their files stay as they were, and every other
//! object is rotated.

use std::path::PathBuf;

#[path = "common/runs.rs"]
mod runs;
use runs::*;

#[test]
fn corrupt_or_missing_copies_fail_and_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 12, "sse-kms=1", &[]);
    let drives = drives(&root, 4);
    let obj = |i: u64| format!("dir000/obj-{i:07}");
    let meta = |d: usize, i: u64| drives[d].join("fixture").join(obj(i)).join("xl.meta");
    // drive 2: a flipped byte in object 3's xl.meta; drive 4: object 5's removed.
    let mut bytes = std::fs::read(meta(1, 3)).unwrap();
    // Inside the CRC-covered metadata (inline data after it is bitrot-checked on read).
    let at = 24;
    bytes[at] ^= 0x55;
    std::fs::write(meta(1, 3), &bytes).unwrap();
    std::fs::remove_file(meta(3, 5)).unwrap();
    let before = snapshot(&drives);

    let job = write_job(&root, "fixture", "");
    let state = root.join("state");
    let (code, summary, out) = run(&job, &drives, &state, KEY1);
    assert_eq!(code, 1, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(summary["failedByReason"]["inconsistent"], 2, "{summary}");
    assert_eq!(summary["objectsRotated"], 10, "{summary}");
    let lines = report_lines(&state);
    let mut bad: Vec<&str> = lines
        .iter()
        .filter(|l| l["reason"] == "failed:inconsistent")
        .map(|l| l["object"].as_str().unwrap())
        .collect();
    bad.sort();
    assert_eq!(bad, [obj(3), obj(5)]);
    let after = snapshot(&drives);
    for i in [3, 5] {
        for d in 1..=4 {
            let rel = PathBuf::from(format!("drive{d}/fixture"))
                .join(obj(i))
                .join("xl.meta");
            assert_eq!(before.get(&rel), after.get(&rel), "{}", rel.display());
        }
    }
    let changed = before
        .iter()
        .filter(|(k, v)| after.get(*k) != Some(v))
        .count();
    assert_eq!(changed, 10 * 4);
}

/// Plaintext objects whose inline shards are corrupt on 3 of 4 drives (beyond
/// what parity repairs) fail as `corrupt` (unreadable: work left in scope),
/// are reported, and are left exactly as they were for MinIO's healing; they
/// stay plaintext (`plaintextLeft`).
#[test]
fn plaintext_beyond_repair_fails_as_corrupt() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 16, "plain=1,sse-kms=1", &[]);
    let drives = drives(&root, 4);
    let m = manifest(&root);
    let mut corrupted = Vec::new();
    for e in m["objects"].as_array().unwrap() {
        let plain_inline = e["bucket"] == "fixture"
            && e["sse"] == ""
            && e["inline"] == true
            && e["plaintext_size"].as_u64() > Some(0);
        if !plain_inline || corrupted.len() == 2 {
            continue;
        }
        // The inline shard is the last thing in xl.meta, outside the CRC.
        for d in &drives[..3] {
            let p = d
                .join("fixture")
                .join(e["object"].as_str().unwrap())
                .join("xl.meta");
            let mut bytes = std::fs::read(&p).unwrap();
            let last = bytes.len() - 1;
            bytes[last] ^= 0x55;
            std::fs::write(&p, &bytes).unwrap();
        }
        corrupted.push(e["object"].as_str().unwrap().to_owned());
    }
    assert_eq!(corrupted.len(), 2);
    let before = snapshot(&drives);
    let job = write_job(&root, "fixture", "");
    let (code, s, _) = run(&job, &drives, &root.join("state"), KEY1);
    assert_eq!(code, 1, "{s}");
    assert_eq!(s["status"], "failed", "{s}");
    assert_eq!(s["plaintextLeft"], serde_json::json!({"corrupt": 2}), "{s}");
    assert_eq!(s["failedByReason"]["corrupt"].as_u64(), Some(2), "{s}");
    assert_eq!(s["objectsFailed"], 2, "{s}");
    let after = snapshot(&drives);
    for object in &corrupted {
        for (path, bytes) in &before {
            if path.to_string_lossy().contains(object.as_str()) {
                assert_eq!(&after[path], bytes, "{object}: untouched");
            }
        }
    }
}

/// `--retry-failed` retries the failed versions of a finished job without
/// counting anything twice.
#[test]
fn retry_failed_does_not_double_count() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 16, "plain=1,sse-kms=1", &[]);
    let drives = drives(&root, 4);
    let job = write_job(&root, "fixture", "");
    let state = root.join("state");
    // Plaintext objects encrypt under KEY2; SSE-KMS ones cannot be unsealed
    // (past the key proof, which would refuse the missing old key).
    let (code, first, _) = run_with(&job, &drives, &state, KEY2, &["--skip-key-proof"]);
    assert_eq!(code, 1, "{first}");
    let failed = first["objectsFailed"].as_u64().unwrap();
    assert!(
        failed > 0 && first["objectsEncrypted"].as_u64() > Some(0),
        "{first}"
    );
    assert_eq!(first["failedByReason"]["kms"].as_u64(), Some(failed));
    let mut cmd = run_cmd(&job, &drives, &state, KEY2);
    let out = cmd
        .args(["--retry-failed", "--skip-key-proof"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let retried: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for k in [
        "objectsScanned",
        "objects",
        "objectsFailed",
        "objectsEncrypted",
        "bytesFailed",
    ] {
        assert_eq!(retried[k], first[k], "{k}");
    }
    assert_eq!(retried["attempts"], first["attempts"]);
}
