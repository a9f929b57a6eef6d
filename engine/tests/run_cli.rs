//! The operator commands around a run, through the binary: `plan --list`
//! names the decision `run` then reports for each version; `status` shows
//! the finished job with the run's counters; `verify` passes after the run
//! (with `--data` too) and catches a drive whose copy differs only in its
//! sealed key (ONDISK §6.4); rewritten files keep their owner, group and
//! mode; a MinIO server using a drive stops the run (exit 3) before any
//! write; the io_uring fallback is reported once on stderr;
//! `forceEncryptLocked` rotates locked encrypted versions only; an object
//! deleted mid-run is skipped as `vanished`.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

#[path = "common/runs.rs"]
mod runs;
use runs::*;

/// (bucket, object, version id) → action or reason of one report line.
fn decisions(lines: &[Value]) -> BTreeMap<(String, String, String), String> {
    lines
        .iter()
        .map(|l| {
            let key = (
                l["bucket"].as_str().unwrap().to_owned(),
                l["object"].as_str().unwrap().to_owned(),
                l["versionId"].as_str().unwrap_or("").to_owned(),
            );
            let what = l["action"]
                .as_str()
                .or_else(|| l["reason"].as_str())
                .unwrap()
                .to_owned();
            (key, what)
        })
        .collect()
}

/// Every `xl.meta` below `dir`.
fn xl_metas(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else if p.file_name().unwrap() == "xl.meta" {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn plan_list_status_verify_and_file_ownership_around_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(
        &root,
        30,
        "plain=1,sse-s3=1,sse-kms=2,sse-c=1",
        &["--versions", "2", "--locked-every", "5"],
    );
    let drives = drives(&root, 4);
    let before = snapshot(&drives);
    let job = write_job(tmp.path(), "fixture", "");
    let state = tmp.path().join("state");

    // MinIO's files belong to its own user; keyrotate runs as root.
    // SAFETY: geteuid has no preconditions.
    let root_user = unsafe { libc::geteuid() } == 0;
    let owned = xl_metas(&drives[0].join("fixture"));
    assert!(owned.len() >= 30);
    for p in &owned {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o640)).unwrap();
        if root_user {
            std::os::unix::fs::chown(p, Some(1234), Some(5678)).unwrap();
        }
    }

    // plan --list --json: one JSON line per version, then the summary.
    let o = Command::new(bin())
        .args(["plan", "--list", "--json"])
        .arg(&job)
        .arg("--drives")
        .args(&drives)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // JSON Lines: the versions, then the summary.
    let mut docs: Vec<Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let plan = docs.pop().unwrap();
    let planned = decisions(&docs);
    let m = manifest(&root);
    let in_bucket = m["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["bucket"] == "fixture")
        .count();
    assert_eq!(docs.len(), in_bucket, "one line per version");
    assert_eq!(planned.len(), in_bucket, "no version listed twice");
    let count = |what: &str| planned.values().filter(|v| *v == what).count() as u64;
    assert_eq!(
        plan["byAction"]["rotate"].as_u64().unwrap(),
        count("rotate")
    );
    assert_eq!(
        plan["byAction"]["convert"].as_u64().unwrap(),
        count("convert")
    );
    assert!(count("rotate") > 0 && count("convert") > 0 && count("encrypt") > 0);
    assert!(count("ssec") > 0 && count("deleteMarker") > 0);
    // Every SSE-S3/SSE-KMS version in scope comes from the fixture's key.
    assert_eq!(
        plan["bySourceKey"]["my-minio-key"].as_u64(),
        Some(count("rotate") + count("convert")),
        "{plan}"
    );
    assert_eq!(snapshot(&drives), before, "plan writes nothing");

    let (code, summary, out) = run(&job, &drives, &state, KEY1);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    // The run decides every version as the plan said.
    let reported = decisions(&report_lines(&state));
    for (k, v) in &reported {
        assert_eq!(planned.get(k), Some(v), "{k:?}");
    }
    assert!(reported.values().filter(|v| *v == "rotate").count() as u64 == count("rotate"));

    // status: the finished job with the run's counters.
    let o = Command::new(bin())
        .args(["status", "--json", "--state-dir"])
        .arg(&state)
        .output()
        .unwrap();
    assert!(o.status.success());
    let status: Value = serde_json::from_slice(&o.stdout).unwrap();
    let jobs = status.as_array().unwrap();
    assert_eq!(jobs.len(), 1, "{status}");
    assert_eq!(jobs[0]["status"], "completed");
    for counter in [
        "objects",
        "objectsRotated",
        "objectsConverted",
        "objectsEncrypted",
        "objectsSkipped",
        "objectsFailed",
        "deleteMarkersSkipped",
        "jobID",
    ] {
        assert_eq!(jobs[0][counter], summary[counter], "{counter}");
    }
    let text = Command::new(bin())
        .args(["status", "--state-dir"])
        .arg(&state)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(summary["jobID"].as_str().unwrap()) && text.contains("completed"),
        "{text}"
    );

    // Rewritten files keep owner, group and mode.
    for p in &owned {
        let md = std::fs::metadata(p).unwrap();
        assert_eq!(md.mode() & 0o7777, 0o640, "{}", p.display());
        if root_user {
            assert_eq!((md.uid(), md.gid()), (1234, 5678), "{}", p.display());
        }
    }
    let after = snapshot(&drives);
    assert_ne!(after, before, "the run rewrote metadata");

    // verify (and --data): all drives agree, every key unseals.
    let (code, v, err) = verify_cmd(&drives, &["--data"]);
    assert_eq!(code, 0, "{v} {err}");
    assert!(v["problems"].as_array().unwrap().is_empty());
    assert!(v["dataChecked"].as_u64().unwrap() > 0, "{v}");
    // Everything the run wrote is SSE-KMS under the target key, next to the
    // locked SSE-KMS versions it left.
    let locked_kms = m["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["sse"] == "SSE-KMS" && e["locked"] == true)
        .count() as u64;
    assert_eq!(
        v["sseKmsByKey"]["my-minio-key"].as_u64(),
        Some(count("rotate") + count("convert") + count("encrypt") + locked_kms),
        "{v}"
    );
    assert_eq!(
        v["plaintext"].as_u64(),
        Some(count("lockedPlaintext")),
        "{v}"
    );
    assert_eq!(v["sseS3"].as_u64().unwrap(), {
        m["objects"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["sse"] == "SSE-S3" && e["locked"] == true)
            .count() as u64
    });

    // One drive put back to its pre-run copy of a rotated object: the copies
    // differ only in the sealed key, which MinIO would never notice.
    let (object, _) = reported
        .iter()
        .find(|(_, v)| *v == "rotate")
        .map(|(k, v)| (k.1.clone(), v))
        .unwrap();
    let rel = PathBuf::from("drive2")
        .join("fixture")
        .join(&object)
        .join("xl.meta");
    assert_ne!(before[&rel], after[&rel]);
    std::fs::write(root.join(&rel), &before[&rel]).unwrap();
    let (code, v, err) = verify_cmd(&drives, &[]);
    assert_eq!(code, 1, "{v} {err}");
    let problems: Vec<&str> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    // Each rewritten version of that object is named, nothing else.
    let rewritten = reported
        .iter()
        .filter(|(k, v)| k.1 == object && (*v == "rotate" || *v == "convert" || *v == "encrypt"))
        .count();
    assert_eq!(problems.len(), rewritten, "{problems:?}");
    assert!(
        problems
            .iter()
            .all(|p| p.contains(&format!("fixture/{object} ")) && p.contains("drive 2")),
        "{problems:?}"
    );
}

#[test]
fn a_minio_server_using_a_drive_stops_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 5, "sse-kms=1", &[]);
    let drives = drives(&root, 4);
    let before = snapshot(&drives);
    let job = write_job(tmp.path(), "fixture", "");
    // A shell copied as `minio`, its argv `minio -c 'sleep 30' server DRIVES`.
    let fake = tmp.path().join("minio");
    std::fs::copy("/bin/sh", &fake).unwrap();
    let mut server = Command::new(&fake)
        .args(["-c", "sleep 30", "server"])
        .arg(format!("{}/drive{{1...4}}", root.display()))
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let o = Command::new(bin())
        .arg("run")
        .arg(&job)
        .arg("--drives")
        .args(&drives)
        .arg("--state-dir")
        .arg(tmp.path().join("state"))
        .env("MINIO_KMS_SECRET_KEY", KEY1)
        .output()
        .unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!("pid {}", server.id())) && stderr.contains("--skip-server-check"),
        "{stderr}"
    );
    assert_eq!(snapshot(&drives), before, "nothing may be written");
}

#[test]
fn io_uring_fallback_is_reported_once() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 20, "sse-kms=1", &[]);
    let verify = |no_uring: bool| {
        let mut c = Command::new(bin());
        c.args(["verify", "--data", "--drives"])
            .args(drives(&root, 4))
            .env("MINIO_KMS_SECRET_KEY", KEY1);
        if no_uring {
            c.env("KEYROTATE_NO_IO_URING", "1");
        }
        let o = c.output().unwrap();
        assert!(
            o.status.success(),
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        (stderr.matches("io_uring unavailable").count(), o.stdout)
    };
    let (reports, forced_out) = verify(true);
    assert_eq!(reports, 1, "four drive workers, one report");
    let (reports, out) = verify(false);
    assert!(reports <= 1);
    assert_eq!(forced_out, out, "both backends read the same");
}

/// The user metadata entries of version `vid` (lock mode, retain-until date,
/// legal hold, tags, content type, ...).
fn user_meta(xl: &[u8], vid: [u8; 16]) -> BTreeMap<String, String> {
    let x = xlmeta::XlMeta::parse(xl).unwrap();
    let i = x
        .versions()
        .iter()
        .position(|v| v.header().version_id == vid)
        .unwrap();
    x.object(i)
        .unwrap()
        .meta_usr
        .iter()
        .flatten()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `forceEncryptLocked: true` rotates locked encrypted versions, keeping
/// their lock metadata, modTime and every other user field; locked
/// plaintext versions are still left alone (JOB.md §9 step 9).
#[test]
fn force_encrypt_locked_rotates_locked_encrypted_versions_only() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(
        &root,
        30,
        "plain=1,sse-s3=1,sse-kms=1",
        &["--locked-every", "2", "--tags"],
    );
    let drives = drives(&root, 4);
    let before = snapshot(&drives);
    let job = write_job(
        tmp.path(),
        "fixture",
        "  flags:\n    filter:\n      forceEncryptLocked: true\n",
    );
    let state = tmp.path().join("state");
    let (code, summary, out) = run(&job, &drives, &state, KEY1);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    let after = snapshot(&drives);
    let reported = decisions(&report_lines(&state));
    let (mut locked_rotated, mut locked_plain) = (0, 0);
    for e in manifest(&root)["objects"].as_array().unwrap() {
        if e["bucket"] != "fixture" || e["locked"] != true || e["delete_marker"] == true {
            continue;
        }
        let object = e["object"].as_str().unwrap();
        let id = e["version_id"].as_str().unwrap_or("");
        let vid = version_bytes(id);
        let what = &reported[&("fixture".to_owned(), object.to_owned(), id.to_owned())];
        let rel = PathBuf::from("drive1")
            .join("fixture")
            .join(object)
            .join("xl.meta");
        let (old_meta, old_time) = version_meta(&before[&rel], vid).unwrap();
        let (new_meta, new_time) = version_meta(&after[&rel], vid).unwrap();
        assert_eq!(old_time, new_time, "{object}: modTime");
        match e["sse"].as_str().unwrap() {
            "" => {
                assert_eq!(what, "lockedPlaintext", "{object}");
                assert_eq!(old_meta, new_meta, "{object}: untouched");
                locked_plain += 1;
            }
            sse => {
                let want = if sse == "SSE-S3" { "convert" } else { "rotate" };
                assert_eq!(what, want, "{object}");
                assert_ne!(old_meta, new_meta, "{object}: re-sealed");
                let (old_usr, new_usr) =
                    (user_meta(&before[&rel], vid), user_meta(&after[&rel], vid));
                let lock_keys = old_usr
                    .keys()
                    .filter(|k| k.to_ascii_lowercase().contains("object-lock"))
                    .count();
                assert!(lock_keys > 0, "{object}: {old_usr:?}");
                // SSE-S3 → SSE-KMS stores the plain ETag (the one clients saw).
                let strip = |m: &BTreeMap<String, String>| {
                    let mut m = m.clone();
                    if sse == "SSE-S3" {
                        m.remove("etag");
                    }
                    m
                };
                assert_eq!(strip(&old_usr), strip(&new_usr), "{object}");
                locked_rotated += 1;
            }
        }
    }
    assert!(locked_rotated > 0 && locked_plain > 0, "{summary}");
    assert_eq!(
        summary["skippedByReason"]["locked"].as_u64().unwrap_or(0),
        0
    );
    assert_eq!(
        summary["skippedByReason"]["lockedPlaintext"].as_u64(),
        Some(locked_plain)
    );
}

/// An object deleted while the run is going (JOB.md §9 step 12) is
/// Skipped(`vanished`), not a failure; everything else completes.
#[test]
fn an_object_deleted_during_the_run_is_skipped_as_vanished() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 40, "sse-kms=1", &[]);
    let drives = drives(&root, 4);
    let job = write_job(tmp.path(), "fixture", "");
    let state = tmp.path().join("state");
    let mut objects: Vec<String> = manifest(&root)["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["bucket"] == "fixture")
        .map(|e| e["object"].as_str().unwrap().to_owned())
        .collect();
    objects.sort();
    let last = objects.pop().unwrap();
    let child = start_slowed_run(&job, &drives, &state, KEY1);
    for d in &drives {
        std::fs::remove_dir_all(d.join("fixture").join(&last)).unwrap();
    }
    let summary = summary_of(child, 0);
    assert_eq!(summary["skippedByReason"]["vanished"], 1, "{summary}");
    assert_eq!(summary["objectsRotated"], 39, "{summary}");
    assert_eq!(summary["objectsFailed"], 0, "{summary}");
    let reported = decisions(&report_lines(&state));
    assert_eq!(
        reported[&("fixture".to_owned(), last.clone(), String::new())],
        "vanished"
    );
}
