//! The key proof of pre-flight (issue 15 defect 1, issue 16 item 6): before
//! the first drive write, `run` proves the configured keys against the data
//! in scope. A target key with the right name and the wrong bytes, a source
//! key the KMS does not hold, or an unknown key on KES is refused (exit 3)
//! with the drives byte-identical; static keys are shown by fingerprint,
//! never by their bytes; and a KMS that keeps failing mid-run names its last
//! error and the likely fix.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use base64::Engine as _;
use sha2::{Digest, Sha256};

#[path = "common/runs.rs"]
mod runs;
use runs::*;

/// `KEY1`'s name with other bytes: what a mistyped `MINIO_KMS_SECRET_KEY` is.
const WRONG: &str = "my-minio-key:Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyMTI=";
/// A fresh key nothing is sealed under yet.
const NEW: &str = "new-minio-key:3m8bxcmBPtcsDhcZ2hMXyj0Q0y7xUOLJY6IS4lR8Aqc=";

fn secret(key: &str) -> (String, [u8; 32]) {
    let (name, b64) = key.split_once(':').unwrap();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    (name.to_owned(), raw.try_into().unwrap())
}

/// The documented fingerprint (README, "Key proof"): the first 8 bytes, in
/// hex, of SHA-256 over `keyrotate static key fingerprint v1\n` followed by
/// the 32 key bytes — what `printf …; base64 -d | sha256sum` gives.
fn fingerprint(key: &str) -> String {
    let (_, raw) = secret(key);
    let mut h = Sha256::new();
    h.update(b"keyrotate static key fingerprint v1\n");
    h.update(raw);
    hex::encode(&h.finalize()[..8])
}

/// SHA-256 of every file and folder under the drives (the drive lock file,
/// which every command makes, aside): any write shows.
fn drive_hashes(drives: &[PathBuf]) -> BTreeMap<PathBuf, String> {
    drive_files(drives)
        .into_iter()
        .map(|(p, bytes)| (p, hex::encode(Sha256::digest(&bytes))))
        .collect()
}

/// Every file of a state directory, concatenated.
fn state_bytes(state: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    let mut stack = vec![state.to_owned()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                all.extend(std::fs::read(e.path()).unwrap());
            }
        }
    }
    all
}

fn assert_no_secret(keys: &[&str], texts: &[&[u8]]) {
    for key in keys {
        let (_, raw) = secret(key);
        let b64 = key.split_once(':').unwrap().1;
        for text in texts {
            let s = String::from_utf8_lossy(text);
            assert!(!s.contains(b64), "the key's base64 is in an output");
            assert!(
                !s.contains(&hex::encode(raw)),
                "the key's hex is in an output"
            );
            assert!(
                !text.windows(32).any(|w| w == raw),
                "raw key bytes in an output"
            );
        }
    }
}

const PLAINTEXT_ONLY: &str = "  flags:\n    filter:\n      plaintextOnly: true\n";

/// The reported case: `plaintextOnly`, the right key name, wrong bytes. On
/// main every plaintext version was encrypted under the wrong bytes.
#[test]
fn wrong_key_bytes_are_refused_before_any_write() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 24, "plain=2,sse-kms=1", &[]);
    let drives = drives(&root, 4);
    let before = drive_hashes(&drives);
    let job = write_job(tmp.path(), "fixture", PLAINTEXT_ONLY);
    let state = tmp.path().join("state");
    let (code, _, out) = run(&job, &drives, &state, WRONG);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code, 3, "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("\"my-minio-key\""),
        "names the key: {stderr}"
    );
    assert!(
        stderr.contains("fixture/dir000/obj-"),
        "names an object: {stderr}"
    );
    assert!(stderr.contains(&fingerprint(WRONG)), "{stderr}");
    assert_eq!(drive_hashes(&drives), before, "nothing may be written");
    assert_no_secret(&[WRONG], &[&out.stdout, &out.stderr, &state_bytes(&state)]);

    // `plan` makes the same proof (a static key is local) and says so.
    let o = Command::new(bin())
        .arg("plan")
        .arg(&job)
        .arg("--drives")
        .args(&drives)
        .env("MINIO_KMS_SECRET_KEY", WRONG)
        .output()
        .unwrap();
    let plan_err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{plan_err}");
    assert!(
        plan_err.contains("run would refuse") && plan_err.contains("\"my-minio-key\""),
        "{plan_err}"
    );
    assert_no_secret(&[WRONG], &[&o.stdout, &o.stderr]);

    // A rotation job with the same wrong key: refused the same way.
    let job = write_job(tmp.path(), "fixture", "");
    let (code, _, out) = run(&job, &drives, &state, WRONG);
    assert_eq!(code, 3, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(drive_hashes(&drives), before, "nothing may be written");
}

/// Only MinIO's internal items are sealed under the key: the proof uses
/// them, and refuses before the internal items or any object is rewritten.
#[test]
fn wrong_key_bytes_are_refused_by_the_internal_items() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 6, "plain=1", &["--internal"]);
    let drives = drives(&root, 4);
    let before = drive_hashes(&drives);
    let job = write_job(tmp.path(), "fixture", PLAINTEXT_ONLY);
    let (code, _, out) = run(&job, &drives, &tmp.path().join("state"), WRONG);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("\"my-minio-key\""), "{stderr}");
    assert!(
        stderr.contains(".minio.sys/"),
        "names an internal item: {stderr}"
    );
    assert_eq!(drive_hashes(&drives), before, "nothing may be written");
}

/// SSE-KMS and SSE-S3 versions under a key the static key ring does not
/// hold: refused at pre-flight, naming the key and the fix (on main the
/// run failed every version and tripped the circuit breaker).
#[test]
fn a_missing_old_key_is_refused_before_any_write() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 12, "sse-kms=1,sse-s3=1", &["--internal"]);
    let drives = drives(&root, 4);
    let before = drive_hashes(&drives);
    let job = write_job(tmp.path(), "fixture", "");
    let (code, _, out) = run(&job, &drives, &tmp.path().join("state"), KEY2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code, 3, "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("\"my-minio-key\""), "{stderr}");
    assert!(
        stderr.contains("--old-kms-secret-key"),
        "names the fix: {stderr}"
    );
    assert_eq!(drive_hashes(&drives), before, "nothing may be written");
}

/// A fresh target key cannot be proven against data: the run says so and
/// shows its fingerprint (and the old key's) in text and JSON; `plan` shows
/// them too; no output or state file holds a key.
#[test]
fn fingerprints_are_shown_and_keys_never_are() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 8, "plain=1,sse-kms=1", &[]);
    let drives = drives(&root, 4);
    let job = write_job(tmp.path(), "fixture", "");

    let plan = |json: bool| {
        let mut c = Command::new(bin());
        c.arg("plan")
            .arg(&job)
            .arg("--drives")
            .args(&drives)
            .env("MINIO_KMS_SECRET_KEY", NEW)
            .env("KEYROTATE_OLD_KMS_SECRET_KEYS", KEY1);
        if json {
            c.arg("--json");
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o
    };
    let text = plan(false);
    let shown = String::from_utf8_lossy(&text.stdout);
    assert!(shown.contains(&fingerprint(NEW)), "{shown}");
    assert!(shown.contains(&fingerprint(KEY1)), "{shown}");
    let json = plan(true);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let keys = v["staticKeys"].as_array().unwrap();
    let fp = |name: &str| {
        keys.iter()
            .find(|k| k["name"] == name)
            .map(|k| k["fingerprint"].as_str().unwrap().to_owned())
    };
    assert_eq!(fp("new-minio-key"), Some(fingerprint(NEW)), "{v}");
    assert_eq!(fp("my-minio-key"), Some(fingerprint(KEY1)), "{v}");
    assert_eq!(v["keyProof"]["target"]["proven"], false, "{v}");
    assert_eq!(v["keyProof"]["sources"][0]["key"], "my-minio-key", "{v}");
    assert_eq!(v["keyProof"]["sources"][0]["proven"], true, "{v}");

    let state = tmp.path().join("state");
    let mut cmd = run_cmd(&job, &drives, &state, NEW);
    cmd.arg("--old-kms-secret-key").arg(KEY1);
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let proof = &summary["keyProof"];
    let target = &proof["target"];
    assert_eq!(target["key"], "new-minio-key", "{summary}");
    assert_eq!(
        target["fingerprint"].as_str(),
        Some(fingerprint(NEW).as_str())
    );
    assert_eq!(
        target["proven"], false,
        "nothing was sealed under it: {summary}"
    );
    let source = proof["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "my-minio-key")
        .unwrap_or_else(|| panic!("{summary}"));
    assert_eq!(source["proven"], true, "{summary}");
    assert!(
        stderr.contains("cannot be proven") && stderr.contains(&fingerprint(NEW)),
        "the operator is told to compare the fingerprint: {stderr}"
    );

    // Text output of a second run (nothing left to do) shows it too.
    let mut cmd = Command::new(bin());
    cmd.arg("run")
        .arg(&job)
        .arg("--drives")
        .args(&drives)
        .arg("--state-dir")
        .arg(tmp.path().join("state2"))
        .arg("--skip-server-check")
        .env("MINIO_KMS_SECRET_KEY", NEW);
    let text_run = cmd.output().unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&text_run.stdout),
        String::from_utf8_lossy(&text_run.stderr)
    );
    assert_eq!(text_run.status.code(), Some(0), "{all}");
    assert!(all.contains(&fingerprint(NEW)), "{all}");
    assert!(all.contains("proven"), "now sealed under it: {all}");

    assert_no_secret(
        &[NEW, KEY1],
        &[
            &text.stdout,
            &text.stderr,
            &json.stdout,
            &out.stdout,
            &out.stderr,
            &text_run.stdout,
            &text_run.stderr,
            &state_bytes(&state),
            &state_bytes(&tmp.path().join("state2")),
        ],
    );
}

/// KES (the same client serves MinIO KMS): an unknown target key and an
/// unknown source key are refused at pre-flight; with both known the job
/// runs.
#[test]
fn kes_unknown_keys_are_refused_at_preflight() {
    use kms_client::testing::{Fixture, FixtureConfig};
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 8, "sse-kms=1,plain=1", &[]);
    let drives = drives(&root, 4);
    let before = drive_hashes(&drives);
    let kes_run = |known: Vec<(String, [u8; 32])>, default_key: &str, job_extra: &str, n: u32| {
        let fx = Fixture::start(FixtureConfig {
            keys: known,
            ..FixtureConfig::default()
        })
        .unwrap();
        let dir = tmp.path().join(format!("kes{n}"));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |f: &str, t: &str| {
            std::fs::write(dir.join(f), t).unwrap();
            dir.join(f)
        };
        let job = write_job(&dir, "fixture", job_extra);
        let o = Command::new(bin())
            .arg("run")
            .arg(&job)
            .arg("--drives")
            .args(&drives)
            .arg("--state-dir")
            .arg(dir.join("state"))
            .args(["--skip-server-check", "--json"])
            .env_remove("MINIO_KMS_SECRET_KEY")
            .env("MINIO_KMS_KES_ENDPOINT", fx.endpoint())
            .env("MINIO_KMS_KES_KEY_NAME", default_key)
            .env(
                "MINIO_KMS_KES_CERT_FILE",
                write("c.crt", fx.client_cert_pem()),
            )
            .env(
                "MINIO_KMS_KES_KEY_FILE",
                write("c.key", fx.client_key_pem()),
            )
            .env("MINIO_KMS_KES_CAPATH", write("ca.pem", fx.ca_pem()))
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let old = secret(KEY1);
    let new = secret(NEW);

    // The job names a key the KMS does not have.
    let (code, err) = kes_run(
        vec![old.clone(), new.clone()],
        "new-minio-key",
        "  encryption:\n    key: no-such-key\n",
        1,
    );
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("\"no-such-key\"") && err.contains("not found"),
        "{err}"
    );
    assert_eq!(drive_hashes(&drives), before, "nothing may be written");

    // The objects' key is unknown to the KMS.
    let (code, err) = kes_run(vec![new.clone()], "new-minio-key", "", 2);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("\"my-minio-key\"") && err.contains("not found"),
        "{err}"
    );
    assert_eq!(drive_hashes(&drives), before, "nothing may be written");

    // Both known: the job runs.
    let (code, err) = kes_run(vec![old.clone(), new.clone()], "new-minio-key", "", 3);
    assert_eq!(code, 0, "{err}");
    assert_ne!(drive_hashes(&drives), before);
}

/// A static key whose bytes were replaced under the same name: the first
/// data keys under `my-minio-key` were made with `KEY1`'s bytes, the rest
/// with other bytes. Pre-flight proves `KEY1` (it opens the first), the run
/// then fails every later version and the breaker stops it: the screen
/// must say what the KMS said, not only that it "kept failing".
#[test]
fn a_tripped_breaker_names_the_last_kms_error() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    let (name, good) = secret(KEY1);
    let (_, other) = secret(WRONG);
    struct Switching {
        good: kms_client::StaticKms,
        other: kms_client::StaticKms,
        calls: AtomicU64,
    }
    impl kms_client::Kms for Switching {
        fn default_key(&self) -> &kms_client::KeyId {
            kms_client::Kms::default_key(&self.good)
        }
        fn generate_key(
            &self,
            key: &kms_client::KeyId,
            context: &kms_client::Context,
        ) -> Result<kms_client::DataKey, kms_client::KmsError> {
            // The first two objects' keys with KEY1's bytes.
            if self.calls.fetch_add(1, Ordering::SeqCst) < 2 {
                self.good.generate_key(key, context)
            } else {
                self.other.generate_key(key, context)
            }
        }
        fn decrypt(
            &self,
            _: &kms_client::KeyId,
            _: &[u8],
            _: &kms_client::Context,
        ) -> Result<kms_client::PlaintextKey, kms_client::KmsError> {
            unreachable!("the fixture only generates")
        }
    }
    let kms = Switching {
        good: kms_client::StaticKms::new(kms_client::StaticKey::new(&*name, good).unwrap(), vec![]),
        other: kms_client::StaticKms::new(
            kms_client::StaticKey::new(&*name, other).unwrap(),
            vec![],
        ),
        calls: AtomicU64::new(0),
    };
    let spec = engine::fixture::FixtureSpec {
        objects: 130,
        mix: "sse-kms=1".parse().unwrap(),
        ..Default::default()
    };
    engine::fixture::build(
        &root,
        &spec,
        engine::fixture::FixtureKms::Custom(Arc::new(kms)),
    )
    .unwrap();
    let drives = drives(&root, 4);
    let job = write_job(tmp.path(), "fixture", "");
    let out = Command::new(bin())
        .arg("run")
        .arg(&job)
        .arg("--drives")
        .args(&drives)
        .arg("--state-dir")
        .arg(tmp.path().join("state"))
        .args(["--skip-server-check", "--kms-concurrency", "1"])
        .arg("--old-kms-secret-key")
        .arg(KEY1)
        .env("MINIO_KMS_SECRET_KEY", KEY2)
        .env("KEYROTATE_TEST_BATCH", "1")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(4), "{all}");
    assert!(all.contains("circuit breaker"), "{all}");
    assert!(
        all.contains("KMS decryption failed for key \"my-minio-key\""),
        "the last KMS error is on screen: {all}"
    );
}
