//! Internal subsystem re-encryption through `keyrotate run` (JOB.md §14):
//! MinIO's encrypted config, IAM, tier config and bucket targets move to the
//! target key when it is the default key, keep their plaintext byte for
//! byte, and survive kill -9 at any point of the run.

use std::collections::BTreeMap;
use std::path::PathBuf;

use engine::internal::{decrypt_item, discover, verify};
use kms_client::static_key::{StaticKey, StaticKms};
use kms_client::KeyId;

#[path = "common/runs.rs"]
mod runs;
use runs::*;

const KEY2: &str = "new-minio-key:3m8bxcmBPtcsDhcZ2hMXyj0Q0y7xUOLJY6IS4lR8Aqc=";

fn kms(target: &str, old: &[&str]) -> StaticKms {
    StaticKms::new(
        StaticKey::parse(target).unwrap(),
        old.iter().map(|k| StaticKey::parse(k).unwrap()).collect(),
    )
}

/// Every internal item's plaintext, by name (root-credential items: none).
fn plaintexts(sets: &[Vec<PathBuf>], kms: &StaticKms) -> BTreeMap<String, Option<Vec<u8>>> {
    discover(sets)
        .unwrap()
        .iter()
        .map(|item| {
            let d = decrypt_item(item, kms).unwrap();
            (d.name.clone(), d.plaintext.map(|p| p.expose().to_vec()))
        })
        .collect()
}

#[test]
fn run_moves_internal_data_to_the_new_default_key() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 20, "sse-kms=1", &["--internal"]);
    let sets = vec![drives(&root, 4)];
    let before = plaintexts(&sets, &kms(KEY1, &[]));
    assert!(before.len() >= 8, "fixture has internal items: {before:?}");

    let job = write_job(&root, "fixture", "");
    // `plan` lists the internal items a run would re-encrypt.
    let out = std::process::Command::new(bin())
        .arg("plan")
        .arg(&job)
        .arg("--drives")
        .args(&sets[0])
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["internalApplies"], true);
    let rotations = plan["internal"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "rotate")
        .count();
    assert!(rotations >= 8, "{plan}");

    let mut cmd = run_cmd(&job, &sets[0], &root.join("state"), KEY2);
    cmd.args(["--old-kms-secret-key", KEY1]);
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["internal"]["failed"], 0, "{summary}");
    assert!(
        summary["internal"]["rotated"].as_u64().unwrap() > 0,
        "{summary}"
    );

    // Readable with the new key alone, under the new key, same plaintext.
    let new_only = kms(KEY2, &[]);
    let problems = verify(&sets, &new_only, Some(&KeyId::new("new-minio-key"))).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(plaintexts(&sets, &new_only), before);
    assert_eq!(
        summary["internal"]["rotated"].as_u64(),
        Some(rotations as u64)
    );

    // `verify` with the new key alone checks internal items too.
    let out = std::process::Command::new(bin())
        .arg("verify")
        .arg("--drives")
        .args(&sets[0])
        .arg("--json")
        .env("MINIO_KMS_SECRET_KEY", KEY2)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "{report}");
    assert!(report["internalChecked"].as_u64().unwrap() >= 8, "{report}");
    assert_eq!(report["problems"], serde_json::json!([]));
}

#[test]
fn a_job_on_another_key_leaves_internal_data_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 5, "plain=1", &["--internal"]);
    let set = drives(&root, 4);
    let sys = |d: &PathBuf| {
        let mut files = BTreeMap::new();
        let mut stack = vec![d.join(".minio.sys/config"), d.join(".minio.sys/buckets")];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    files.insert(p.clone(), std::fs::read(&p).unwrap());
                }
            }
        }
        files
    };
    let before: Vec<_> = set.iter().map(sys).collect();
    // The static KMS knows one key; naming another makes the job's target
    // not the default key, so internal data is out of scope. No object is
    // in scope either (the prefix matches nothing), so the run completes.
    let job = write_job(
        &root,
        "fixture",
        "  prefix: no-such-prefix/\n  encryption:\n    key: some-other-key\n",
    );
    let (code, summary, out) = run(&job, &set, &root.join("state"), KEY1);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(summary["internal"]["rotated"], 0, "{summary}");
    let after: Vec<_> = set.iter().map(sys).collect();
    assert_eq!(before, after);
}

#[test]
fn kill_nine_during_internal_re_encryption_then_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 30, "sse-kms=1,sse-s3=1", &["--internal"]);
    let sets = vec![drives(&root, 4)];
    let before = plaintexts(&sets, &kms(KEY1, &[]));
    let old_xlmeta: Vec<_> = discover(&sets)
        .unwrap()
        .iter()
        .map(|i| std::fs::read(i.drives[0].join(".minio.sys").join(&i.name).join("xl.meta")).ok())
        .collect();
    let job = write_job(&root, "fixture", "");
    let (summary, kills) = run_with_kills(&job, &sets[0], &root.join("state"), 8);
    assert!(kills > 0, "no kill landed");
    assert_eq!(summary["internal"]["failed"], 0, "{summary}");

    // Every item decrypts to the same plaintext, under re-sealed keys, and
    // every drive of the set holds a valid, agreeing copy (verify checks it).
    let k = kms(KEY1, &[]);
    let problems = verify(&sets, &k, Some(&KeyId::new("my-minio-key"))).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(plaintexts(&sets, &k), before);
    let new_xlmeta: Vec<_> = discover(&sets)
        .unwrap()
        .iter()
        .map(|i| std::fs::read(i.drives[0].join(".minio.sys").join(&i.name).join("xl.meta")).ok())
        .collect();
    let changed = old_xlmeta
        .iter()
        .zip(&new_xlmeta)
        .filter(|(a, b)| a != b)
        .count();
    assert!(changed > 0, "internal items were re-encrypted");
}

/// kill -9 exactly inside the internal commit window: the internal intents
/// are journaled, no drive is written yet (the test hook holds the writes
/// back). Returns the summaries of an uninterrupted reference run and of the
/// resume, after checking that the resume completed the internal items: same
/// plaintexts, every drive agrees and holds the new copy.
fn kill_in_internal_window_then_resume() -> (serde_json::Value, serde_json::Value) {
    use std::process::Stdio;
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    fixture(&a, 5, "sse-kms=1", &["--internal", "--seed", "3"]);
    fixture(&b, 5, "sse-kms=1", &["--internal", "--seed", "3"]);
    let (set_a, set_b) = (vec![drives(&a, 4)], vec![drives(&b, 4)]);
    let (code, reference, out) = run(
        &write_job(&a, "fixture", ""),
        &set_a[0],
        &a.join("state"),
        KEY1,
    );
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(reference["internal"]["rotated"].as_u64().unwrap() >= 8);

    let before = plaintexts(&set_b, &kms(KEY1, &[]));
    let xl = |sets: &[Vec<PathBuf>]| -> Vec<Vec<u8>> {
        discover(sets)
            .unwrap()
            .iter()
            .flat_map(|i| {
                i.drives
                    .iter()
                    .map(|d| std::fs::read(d.join(".minio.sys").join(&i.name).join("xl.meta")))
                    .collect::<Vec<_>>()
            })
            .map(|r| r.unwrap_or_default())
            .collect()
    };
    let old_xl = xl(&set_b);
    let job = write_job(&b, "fixture", "");
    let state = b.join("state");
    let mut cmd = run_cmd(&job, &set_b[0], &state, KEY1);
    cmd.env("KEYROTATE_TEST_COMMIT_DELAY_MS", "4000")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2000));
    assert!(child.try_wait().unwrap().is_none(), "still held back");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(xl(&set_b), old_xl, "killed before any internal write");

    let (code, end, out) = run(&job, &set_b[0], &state, KEY1);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    let k = kms(KEY1, &[]);
    let problems = verify(&set_b, &k, Some(&KeyId::new("my-minio-key"))).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(plaintexts(&set_b, &k), before);
    let new_xl = xl(&set_b);
    let changed = old_xl.iter().zip(&new_xl).filter(|(o, n)| o != n).count();
    assert!(changed >= 8 * 4, "re-encrypted on every drive: {changed}");
    (reference, end)
}

#[test]
fn kill_nine_between_internal_intents_and_writes_then_resume() {
    let (reference, end) = kill_in_internal_window_then_resume();
    assert_eq!(end["internal"], reference["internal"], "{end}");
    assert_eq!(end["status"], "completed");
}

/// The resume finishes the journaled internal intents and does not run
/// discovery again; internal items count in `internal{}` only (JOB.md §14),
/// so the object counters are those of the 5 objects, as uninterrupted.
#[test]
fn kill_nine_between_internal_intents_and_writes_keeps_object_counters() {
    let (reference, end) = kill_in_internal_window_then_resume();
    for k in [
        "objects",
        "objectsRotated",
        "objectsScanned",
        "attempts",
        "kmsCalls",
    ] {
        assert_eq!(end[k], reference[k], "{k}: {end}\n{reference}");
    }
    assert_eq!(reference["objectsScanned"], 5, "{reference}");
    assert_eq!(reference["objectsRotated"], 5, "{reference}");
}
