//! Honest outcomes (issue 16): a run is bound to the deployment it ran on,
//! `completed` means the scope is done, `--retry-failed` clears a failure it
//! fixed, counters agree between `plan`, `run`, `status` and the report, and
//! the summary's residue says what still depends on each old key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

#[path = "common/runs.rs"]
mod runs;
use runs::*;

/// The key runs move to; KEY1 (the fixture's) becomes an old key.
const NEW: &str = "new-minio-key:3m8bxcmBPtcsDhcZ2hMXyj0Q0y7xUOLJY6IS4lR8Aqc=";

fn copy_dir(from: &Path, to: &Path) {
    let o = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn status_json(state: &Path) -> Value {
    let o = Command::new(bin())
        .args(["status", "--json", "--state-dir"])
        .arg(state)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn status_text(state: &Path) -> String {
    let o = Command::new(bin())
        .args(["status", "--state-dir"])
        .arg(state)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Manifest entries of the fixture bucket.
fn bucket_entries(root: &Path) -> Vec<Value> {
    manifest(root)["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["bucket"] == "fixture")
        .cloned()
        .collect()
}

/// Item 1: a job file whose last run completed starts a new run that scans
/// again — here on drives restored from a backup taken before the run.
#[test]
fn a_completed_job_on_restored_drives_runs_again() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 10, "sse-kms=1", &[]);
    let backup = tmp.path().join("backup");
    copy_dir(&root, &backup);
    let drives = drives(&root, 4);
    let job = write_job(tmp.path(), "fixture", "");
    let state = tmp.path().join("state");
    let (code, first, _) = run(&job, &drives, &state, KEY1);
    assert_eq!(code, 0, "{first}");
    assert_eq!(first["objectsRotated"], 10, "{first}");

    std::fs::remove_dir_all(&root).unwrap();
    copy_dir(&backup, &root);
    let before = snapshot(&drives);
    let (code, second, out) = run(&job, &drives, &state, KEY1);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_ne!(second["jobID"], first["jobID"], "a new run: {second}");
    assert_eq!(second["objectsScanned"], 10, "{second}");
    assert_eq!(second["objectsRotated"], 10, "{second}");
    let after = snapshot(&drives);
    assert_eq!(
        before
            .iter()
            .filter(|(k, v)| after.get(*k) != Some(v))
            .count(),
        40,
        "every restored object was rotated again on every drive"
    );
    let runs = status_json(&state);
    assert_eq!(runs.as_array().unwrap().len(), 2, "{runs}");
}

/// Item 1: a run canceled on deployment A does not stand for deployment B;
/// B gets its own run, and A's run resumes on A (saying so).
#[test]
fn an_unfinished_run_resumes_only_on_its_own_deployment() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    fixture(&a, 30, "sse-kms=1", &["--seed", "1"]);
    fixture(&b, 12, "sse-kms=1", &["--seed", "2"]);
    let (dep_a, dep_b) = (
        manifest(&a)["deployment_id"].as_str().unwrap().to_owned(),
        manifest(&b)["deployment_id"].as_str().unwrap().to_owned(),
    );
    assert_ne!(dep_a, dep_b);
    let (drives_a, drives_b) = (drives(&a, 4), drives(&b, 4));
    let job = write_job(tmp.path(), "fixture", "");
    let state = tmp.path().join("state");

    let child = start_slowed_run(&job, &drives_a, &state, KEY1);
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let canceled = summary_of(child, 130);
    assert_eq!(canceled["status"], "canceled");

    let (code, on_b, out) = run(&job, &drives_b, &state, KEY1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code, 0, "{stderr}");
    assert_ne!(on_b["jobID"], canceled["jobID"], "{on_b}");
    assert_eq!(on_b["objectsScanned"], 12, "{on_b}");
    assert_eq!(on_b["objectsRotated"], 12, "{on_b}");
    assert!(!stderr.contains("resuming"), "{stderr}");

    // The same deployment under other paths (a copy): its journaled plans
    // name the drives it was started on, so it is refused.
    let copy = tmp.path().join("a-copy");
    copy_dir(&a, &copy);
    let (code, _, out) = run(&job, &drives(&copy, 4), &state, KEY1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("resume it with the same drives"),
        "{stderr}"
    );

    let (code, on_a, out) = run(&job, &drives_a, &state, KEY1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(on_a["jobID"], canceled["jobID"], "{on_a}");
    assert_eq!(on_a["objectsRotated"], 30, "{on_a}");
    let id = canceled["jobID"].as_str().unwrap();
    assert!(
        stderr.contains(&format!("resuming run {id} started at")),
        "{stderr}"
    );

    let runs = status_json(&state);
    let mut seen: Vec<(String, String)> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["deploymentID"].as_str().unwrap_or("").to_owned(),
                r["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    let mut want = vec![
        (dep_a.clone(), "completed".to_owned()),
        (dep_b.clone(), "completed".to_owned()),
    ];
    want.sort();
    assert_eq!(seen, want, "{runs}");
    let text = status_text(&state);
    assert!(text.contains(&dep_a) && text.contains(&dep_b), "{text}");
}

/// Item 2: versions whose copies disagree are work left in scope: the job
/// fails (exit 1) and says where to look; once healed, `--retry-failed`
/// finishes them and the job completes.
#[test]
fn inconsistent_versions_fail_the_job_until_healed() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 12, "sse-kms=1", &[]);
    let drives = drives(&root, 4);
    let meta = |d: usize, i: u64| {
        drives[d]
            .join("fixture")
            .join(format!("dir000/obj-{i:07}"))
            .join("xl.meta")
    };
    let healthy = snapshot(&drives);
    let mut bytes = std::fs::read(meta(1, 3)).unwrap();
    bytes[24] ^= 0x55;
    std::fs::write(meta(1, 3), &bytes).unwrap();
    std::fs::remove_file(meta(3, 5)).unwrap();

    let job = write_job(tmp.path(), "fixture", "");
    let state = tmp.path().join("state");
    let mut cmd = run_cmd(&job, &drives, &state, KEY1);
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let text = Command::new(bin())
        .args(args.iter().filter(|a| a.to_str() != Some("--json")))
        .env("MINIO_KMS_SECRET_KEY", KEY1)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert_eq!(text.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("2 versions")
            && stdout.contains("report.jsonl")
            && stdout.contains("verify"),
        "the summary names how many and where to look: {stdout}"
    );
    let s = &status_json(&state)[0];
    assert_eq!(s["status"], "failed", "{s}");
    assert_eq!(s["failed"], true, "{s}");
    assert_eq!(s["failedByReason"]["inconsistent"], 2, "{s}");
    assert_eq!(s["objectsRotated"], 10, "{s}");

    // Heal: put the two copies back as they were.
    for (d, i) in [(1, 3), (3, 5)] {
        let rel = PathBuf::from(format!("drive{}/fixture/dir000/obj-{i:07}/xl.meta", d + 1));
        std::fs::write(meta(d, i), &healthy[&rel]).unwrap();
    }
    let out = cmd.arg("--retry-failed").output().unwrap();
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{s}");
    assert_eq!(s["status"], "completed", "{s}");
    assert_eq!(s["objectsFailed"], 0, "{s}");
    assert_eq!(s["objectsRotated"], 12, "{s}");
    assert_eq!(s["objectsScanned"], 12, "{s}");
    assert_eq!(s["lastError"], "", "{s}");
}

/// How many manifest versions fall in each (action or reason) of a job
/// without filters, as JOB.md §9 decides them (the fixture knows each
/// version's encryption and lock).
fn expected_decisions(entries: &[Value], force_locked: bool) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for e in entries {
        let what = if e["delete_marker"] == true {
            "deleteMarker"
        } else {
            match (e["sse"].as_str().unwrap(), e["locked"] == true) {
                ("SSE-C", _) => "ssec",
                ("", true) => "lockedPlaintext",
                (_, true) if !force_locked => "locked",
                ("", false) => "encrypt",
                ("SSE-S3", _) => "convert",
                _ => "rotate",
            }
        };
        *out.entry(what.to_owned()).or_default() += 1;
    }
    out
}

/// The final decision of each version of the fixture bucket in the report
/// (the last line of a version wins: a retried version has its failed line
/// before).
fn report_decisions(state: &Path) -> (usize, BTreeMap<String, u64>) {
    let lines: Vec<Value> = report_lines(state)
        .into_iter()
        .filter(|l| l["bucket"] == "fixture")
        .collect();
    let mut last = BTreeMap::new();
    for l in &lines {
        let key = (
            l["object"].as_str().unwrap().to_owned(),
            l["versionId"].as_str().unwrap_or("").to_owned(),
        );
        let what = l["action"]
            .as_str()
            .or_else(|| l["reason"].as_str())
            .unwrap()
            .to_owned();
        last.insert(key, what);
    }
    let mut counts = BTreeMap::new();
    for what in last.values() {
        *counts.entry(what.clone()).or_default() += 1;
    }
    (lines.len(), counts)
}

/// Item 3: a `--retry-failed` that fixes every failed version ends the job
/// `completed` (exit 0, no stale `lastError`), and the counters of `plan`,
/// `run`, `status` and the report are the fixture's composition exactly.
#[test]
fn retry_failed_clears_the_failure_and_counters_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(
        &root,
        30,
        "plain=1,sse-s3=1,sse-kms=2,sse-c=1",
        &["--versions", "2", "--multipart-every", "4", "--internal"],
    );
    let drives = drives(&root, 4);
    let want = expected_decisions(&bucket_entries(&root), false);
    assert!(["encrypt", "convert", "rotate", "ssec", "deleteMarker"]
        .iter()
        .all(|k| want.get(*k).is_some_and(|n| *n > 0)));
    let job = write_job(tmp.path(), "fixture", "");
    let state = tmp.path().join("state");

    let o = Command::new(bin())
        .args(["plan", "--json"])
        .arg(&job)
        .arg("--drives")
        .args(&drives)
        .output()
        .unwrap();
    let plan = json_of_success(&o);
    for k in ["encrypt", "convert", "rotate"] {
        assert_eq!(plan["byAction"][k].as_u64(), want.get(k).copied(), "{k}");
    }
    assert_eq!(
        plan["bySkipReason"]["ssec"].as_u64(),
        want.get("ssec").copied()
    );

    // Two objects with one copy that no longer reads (checksum off) fail,
    // every version of them. (A missing old key no longer fails versions
    // one by one: the key proof refuses the run before any write.)
    let copies: Vec<PathBuf> = [1, 2]
        .iter()
        .map(|i| drives[1].join(format!("fixture/dir000/obj-{i:07}/xl.meta")))
        .collect();
    let healthy: Vec<Vec<u8>> = copies.iter().map(|c| std::fs::read(c).unwrap()).collect();
    for (copy, bytes) in copies.iter().zip(&healthy) {
        let mut bytes = bytes.clone();
        bytes[24] ^= 0x55;
        std::fs::write(copy, &bytes).unwrap();
    }
    let out = run_cmd(&job, &drives, &state, NEW)
        .env("KEYROTATE_OLD_KMS_SECRET_KEYS", KEY1)
        .output()
        .unwrap();
    let first: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(out.status.code(), Some(1), "{first}");
    let failed = first["objectsFailed"].as_u64().unwrap();
    assert!(failed >= 2, "{first}");
    assert_eq!(first["failedByReason"]["inconsistent"], failed, "{first}");
    assert_ne!(first["lastError"], "", "{first}");
    assert_eq!(first["internal"]["failed"], 0, "{first}");
    // Healed, the retry fixes all of them.
    for (copy, bytes) in copies.iter().zip(&healthy) {
        std::fs::write(copy, bytes).unwrap();
    }
    let out = run_cmd(&job, &drives, &state, NEW)
        .arg("--retry-failed")
        .env("KEYROTATE_OLD_KMS_SECRET_KEYS", KEY1)
        .output()
        .unwrap();
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{s}");
    assert_eq!(
        (&s["status"], &s["failed"]),
        (&json!("completed"), &json!(false))
    );
    assert_eq!(s["lastError"], "", "{s}");
    assert_eq!(s["internal"]["failed"], 0, "{s}");
    assert!(s["internal"]["rotated"].as_u64() > Some(0), "{s}");
    let scanned: u64 = want.values().sum();
    let got = |s: &Value| {
        [
            ("encrypt", "objectsEncrypted"),
            ("convert", "objectsConverted"),
            ("rotate", "objectsRotated"),
            ("deleteMarker", "deleteMarkersSkipped"),
        ]
        .iter()
        .map(|(k, field)| (k.to_string(), s[*field].as_u64().unwrap()))
        .chain([(
            "ssec".to_owned(),
            s["skippedByReason"]["ssec"].as_u64().unwrap(),
        )])
        .collect::<BTreeMap<String, u64>>()
    };
    assert_eq!(got(&s), want, "{s}");
    assert_eq!(s["objectsScanned"].as_u64(), Some(scanned), "{s}");
    assert_eq!(s["objectsFailed"], 0, "{s}");
    assert_eq!(plan["versions"].as_u64(), Some(scanned));

    let status = status_json(&state);
    let st = &status[0];
    assert_eq!(st["status"], "completed", "{st}");
    assert_eq!(st["lastError"], "", "{st}");
    assert_eq!(got(st), want, "{st}");
    assert_eq!(st["objectsScanned"], s["objectsScanned"]);

    let (_, reported) = report_decisions(&state);
    assert_eq!(reported, want, "report");
}

/// Item 3: an object decided again after a commit-time conflict counts each
/// of its versions once (the delete marker and the SSE-C version recorded
/// by the first decision are not counted again).
#[test]
fn a_conflict_redecided_object_counts_each_version_once() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 40, "sse-kms=1,sse-c=1", &["--versions", "2"]);
    let drives = drives(&root, 4);
    let entries = bucket_entries(&root);
    let want = expected_decisions(&entries, false);
    let job = write_job(tmp.path(), "fixture", "");
    let state = tmp.path().join("state");
    // The last object in listing order: it has a delete marker (every tenth).
    let last = "dir000/obj-0000039";
    assert!(entries
        .iter()
        .any(|e| e["object"] == last && e["delete_marker"] == true));
    let child = start_slowed_run(&job, &drives, &state, KEY1);
    // The same change on every drive (the copies still agree): a user
    // metadata entry on its newest object version.
    for d in &drives {
        let p = d.join("fixture").join(last).join("xl.meta");
        let bytes = std::fs::read(&p).unwrap();
        let mut x = xlmeta::XlMeta::parse(&bytes).unwrap();
        let i = (0..x.versions().len())
            .find(|&i| x.versions()[i].header().vtype == xlmeta::VersionType::Object)
            .unwrap();
        x.edit_object(i, |o| {
            o.set_meta_usr("X-Amz-Meta-Touched", "yes");
            Ok(())
        })
        .unwrap();
        std::fs::write(&p, x.encode().unwrap()).unwrap();
    }
    let s = summary_of(child, 0);
    let scanned: u64 = want.values().sum();
    assert_eq!(s["objectsScanned"].as_u64(), Some(scanned), "{s}");
    assert_eq!(
        s["deleteMarkersSkipped"].as_u64(),
        want.get("deleteMarker").copied(),
        "{s}"
    );
    assert_eq!(
        s["objectsRotated"].as_u64(),
        want.get("rotate").copied(),
        "{s}"
    );
    let (lines, reported) = report_decisions(&state);
    assert_eq!(lines as u64, scanned, "one report line per version");
    assert_eq!(reported, want);
    // The touched version was rotated on its fresh bytes (the edit kept).
    let x = std::fs::read(drives[0].join("fixture").join(last).join("xl.meta")).unwrap();
    assert!(String::from_utf8_lossy(&x).contains("X-Amz-Meta-Touched"));
}

/// What the fixture says is left after a run of a job without filters:
/// (key or pseudo-key) → reason → versions.
fn expected_residue(entries: &[Value], force_locked: bool) -> Value {
    let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for e in entries.iter().filter(|e| e["delete_marker"] != true) {
        let sse = e["sse"].as_str().unwrap();
        let locked = e["locked"] == true;
        let (key, reason) = match sse {
            "SSE-C" => ("(SSE-C)".to_owned(), "ssec"),
            "" if locked => ("(plaintext)".to_owned(), "lockedPlaintext"),
            _ if locked && !force_locked => {
                (e["kms_key_id"].as_str().unwrap().to_owned(), "locked")
            }
            _ => continue,
        };
        *out.entry(key)
            .or_default()
            .entry(reason.into())
            .or_default() += 1;
    }
    serde_json::to_value(out).unwrap()
}

fn verify_with(drives: &[PathBuf], env: &[(&str, &str)], extra: &[&str]) -> Value {
    let mut c = Command::new(bin());
    c.arg("verify")
        .args(extra)
        .arg("--json")
        .arg("--drives")
        .args(drives)
        .env_remove("KEYROTATE_OLD_KMS_SECRET_KEYS");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Acceptance of issue 16, the key-retirement story: a deployment with
/// plaintext, SSE-S3, SSE-KMS under two keys, SSE-C, locked versions and
/// internal items. After a run, the residue is exactly what the fixture
/// says must stay (locked versions under their keys, locked plaintext,
/// SSE-C); `verify --bucket` prints the same table; a second run with
/// `forceEncryptLocked` leaves nothing under the old keys.
#[test]
fn the_residue_says_which_old_keys_are_still_needed() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(
        &root,
        40,
        "plain=1,sse-s3=1,sse-kms=2,sse-c=1",
        &[
            "--versions",
            "2",
            "--locked-every",
            "3",
            "--second-key-every",
            "2",
            "--internal",
        ],
    );
    let drives = drives(&root, 4);
    let m = manifest(&root);
    let second_key = m["second_kms_secret_key"].as_str().unwrap().to_owned();
    let second_name = m["second_kms_key_id"].as_str().unwrap().to_owned();
    let entries = bucket_entries(&root);
    // Both keys hold SSE-KMS versions, locked and not.
    for key in ["my-minio-key", second_name.as_str()] {
        for locked in [true, false] {
            assert!(
                entries.iter().any(|e| e["sse"] == "SSE-KMS"
                    && e["kms_key_id"] == key
                    && (e["locked"] == true) == locked),
                "{key} locked={locked}"
            );
        }
    }
    let old_keys = format!("{KEY1},{second_key}");
    let env = [
        ("MINIO_KMS_SECRET_KEY", NEW),
        ("KEYROTATE_OLD_KMS_SECRET_KEYS", old_keys.as_str()),
    ];

    // Before: verify sees the internal items under the fixture's key.
    let v = verify_with(&drives, &env, &[]);
    assert!(
        v["residue"]["my-minio-key"]["internal"].as_u64() > Some(0),
        "{v}"
    );

    let state = tmp.path().join("state");
    let job = write_job(tmp.path(), "fixture", "");
    let mut cmd = run_cmd(&job, &drives, &state, NEW);
    cmd.env("KEYROTATE_OLD_KMS_SECRET_KEYS", &old_keys);
    let s = json_of_success(&cmd.output().unwrap());
    assert_eq!(s["status"], "completed", "{s}");
    let want = expected_residue(&entries, false);
    assert!(want["my-minio-key"]["locked"].as_u64() > Some(0), "{want}");
    assert!(
        want[second_name.as_str()]["locked"].as_u64() > Some(0),
        "{want}"
    );
    assert_eq!(s["residue"], want, "{s}");
    assert!(s["internal"]["rotated"].as_u64() > Some(0), "{s}");
    // verify --bucket: the same table for what is on the drives.
    let v = verify_with(&drives, &env, &["--bucket", "fixture"]);
    assert_eq!(v["residue"], want, "{v}");
    // The internal items are under the new key now.
    let v = verify_with(&drives, &env, &[]);
    assert_eq!(v["residue"], want, "{v}");

    // forceEncryptLocked: nothing left under either old key.
    let job = write_job(
        tmp.path(),
        "fixture",
        "  flags:\n    filter:\n      forceEncryptLocked: true\n",
    );
    let mut cmd = run_cmd(&job, &drives, &state, NEW);
    cmd.env("KEYROTATE_OLD_KMS_SECRET_KEYS", &old_keys);
    let s = json_of_success(&cmd.output().unwrap());
    let want = expected_residue(&entries, true);
    assert_eq!(
        want.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["(SSE-C)", "(plaintext)"],
        "{want}"
    );
    assert_eq!(s["residue"], want, "{s}");
    let v = verify_with(&drives, &env, &["--bucket", "fixture"]);
    assert_eq!(v["residue"], want, "{v}");
    let by_key = v["sseKmsByKey"].as_object().unwrap();
    assert_eq!(by_key.keys().collect::<Vec<_>>(), ["new-minio-key"], "{v}");
    // The text summary lists what stays and why.
    let job_text = tmp.path().join("job-text.yaml");
    std::fs::copy(&job, &job_text).unwrap();
    let o = Command::new(bin())
        .arg("run")
        .arg(&job_text)
        .arg("--drives")
        .args(&drives)
        .arg("--state-dir")
        .arg(&state)
        .args(["--skip-server-check", "--kms-concurrency", "4"])
        .env("MINIO_KMS_SECRET_KEY", NEW)
        .env("KEYROTATE_OLD_KMS_SECRET_KEYS", &old_keys)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(
        text.contains("no version in scope depends on a KMS key other than \"new-minio-key\""),
        "{text}"
    );
    assert!(text.contains("(SSE-C)") && text.contains("ssec"), "{text}");
}
