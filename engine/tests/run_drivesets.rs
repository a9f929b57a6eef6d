//! `keyrotate run` on real MinIO erasure sets (testdata/drivesets): every
//! SSE-KMS version is rotated and every SSE-S3 version converted under the
//! target key; the data reads back to the manifest's digest; the old data
//! key no longer opens the new sealed key; all drives agree; versions the
//! job must not touch (plaintext, SSE-C, locked, delete markers) keep their
//! bytes; modTime and the client-visible ETag are unchanged.

use std::path::{Path, PathBuf};

use engine::run::verify::{read_plaintext, unseal_object_key};
use engine::sse::{Classification, CryptoEntries};
use kms_client::config::KmsConfig;
use sha2::{Digest, Sha256};

#[path = "common/runs.rs"]
mod runs;
use runs::*;

fn kms(key: &str) -> std::sync::Arc<dyn kms_client::Kms> {
    let key = key.to_owned();
    KmsConfig::from_lookup(
        &move |n: &str| (n == "MINIO_KMS_SECRET_KEY").then(|| key.clone()),
        None,
    )
    .unwrap()
    .build()
    .unwrap()
}

/// Every internal item (`.minio.sys`) by name: its plaintext, or `None`
/// for items MinIO encrypts with root credentials.
fn internal_plaintexts(
    drives: &[PathBuf],
    kms: &dyn kms_client::Kms,
) -> std::collections::BTreeMap<String, Option<Vec<u8>>> {
    let sets = [drives.to_vec()];
    engine::internal::discover(&sets)
        .unwrap()
        .iter()
        .map(|item| {
            let d = engine::internal::decrypt_item(item, kms)
                .unwrap_or_else(|e| panic!("{}: {e}", item.name));
            (d.name.clone(), d.plaintext.map(|p| p.expose().to_vec()))
        })
        .collect()
}

fn classify(xl: &[u8], vid: [u8; 16]) -> Classification {
    let x = xlmeta::XlMeta::parse(xl).unwrap();
    let i = x
        .versions()
        .iter()
        .position(|v| v.header().version_id == vid)
        .unwrap();
    let o = x.object(i).unwrap();
    CryptoEntries::from_sys(
        o.meta_sys
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_ref(), v.as_ref())),
    )
    .classify()
}

fn stored_etag(xl: &[u8], vid: [u8; 16]) -> String {
    let x = xlmeta::XlMeta::parse(xl).unwrap();
    let i = x
        .versions()
        .iter()
        .position(|v| v.header().version_id == vid)
        .unwrap();
    let o = x.object(i).unwrap();
    o.meta_usr
        .unwrap()
        .iter()
        .find(|(k, _)| k == "etag")
        .map(|(_, v)| v.to_string())
        .unwrap_or_default()
}

fn check_set(name: &str, n: usize, key: &str, key_name: &str) {
    let (_tmp, root) = unpack(name);
    check_deployment(
        &root,
        n,
        key,
        key_name,
        &["encrypted", "versioned", "locked"],
    );
}

/// Runs one job per bucket of `buckets` on the deployment at `root` and
/// checks every version of its manifest against the rules above.
fn check_deployment(root: &Path, n: usize, key: &str, key_name: &str, buckets: &[&str]) {
    let drives = drives(root, n);
    let before = snapshot(&drives);
    let state = root.join("state");
    let m = manifest(root);
    let kms = kms(key);
    let internal_before = internal_plaintexts(&drives, kms.as_ref());
    assert!(internal_before.len() >= 5, "{internal_before:?}");
    for &bucket in buckets {
        let job = write_job(root, bucket, "");
        let (code, summary, out) = run(&job, &drives, &state, key);
        assert!(
            code == 0 || code == 1,
            "{bucket}: exit {code}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Every version in scope succeeds, plaintext versions of versioned
        // objects included (one pass per version).
        let failed = summary["failedByReason"].as_object().unwrap();
        assert!(failed.is_empty(), "{bucket}: {summary}");
        assert_eq!(code, 0, "{bucket}: {summary}");
        assert_eq!(
            staging_left(&drives),
            0,
            "{bucket}: staging left by the run"
        );
        // The job's key is the default key: MinIO's internal data moves too.
        assert_eq!(summary["internal"]["failed"], 0, "{summary}");
        assert!(
            summary["internal"]["rotated"].as_u64().unwrap() > 0,
            "{summary}"
        );
        assert_eq!(
            summary["objectsScanned"].as_u64().unwrap(),
            summary["objectsFiltered"].as_u64().unwrap()
                + summary["objectsSkipped"].as_u64().unwrap()
                + summary["objects"].as_u64().unwrap()
                + summary["objectsFailed"].as_u64().unwrap()
                + summary["deleteMarkersSkipped"].as_u64().unwrap()
        );
    }
    let after = snapshot(&drives);
    // Buckets no job named keep every xl.meta byte for byte.
    let mut untouched = 0;
    for (rel, bytes) in &before {
        let bucket = rel.components().nth(1).unwrap().as_os_str();
        if !buckets.iter().any(|b| bucket == *b) {
            assert_eq!(after.get(rel), Some(bytes), "{}", rel.display());
            untouched += 1;
        }
    }
    assert_eq!(
        untouched > 0,
        m["objects"].as_array().unwrap().iter().any(|e| {
            e["bucket"] != ".minio.sys" && !buckets.contains(&e["bucket"].as_str().unwrap())
        })
    );
    // Every internal item decrypts under its new sealing to the same bytes.
    assert_eq!(internal_plaintexts(&drives, kms.as_ref()), internal_before);
    let mut rotated = 0;
    for e in m["objects"].as_array().unwrap() {
        let bucket = e["bucket"].as_str().unwrap();
        if !buckets.contains(&bucket) {
            continue;
        }
        let object = e["object"].as_str().unwrap();
        let vid = version_bytes(e["version_id"].as_str().unwrap_or(""));
        let rel = |i: usize| {
            PathBuf::from(format!("drive{i}"))
                .join(bucket)
                .join(object)
                .join("xl.meta")
        };
        let sse = e["sse"].as_str().unwrap_or("");
        let locked = e["locked"].as_bool() == Some(true) || bucket == "locked";
        let dm = e["delete_marker"].as_bool() == Some(true);
        // Plaintext is encrypted, every version of it.
        let encrypted = !dm && !locked && sse.is_empty();
        if encrypted {
            assert!(
                matches!(classify(&after[&rel(1)], vid), Classification::SseKms(_)),
                "{bucket}/{object}: plaintext version left"
            );
        }
        let changes = !dm && !locked && (sse == "SSE-KMS" || sse == "SSE-S3") || encrypted;
        for i in 1..=n {
            let (old_meta, old_time) = version_meta(&before[&rel(i)], vid).unwrap();
            let (new_meta, new_time) = version_meta(&after[&rel(i)], vid).unwrap();
            assert_eq!(old_time, new_time, "{bucket}/{object}: modTime");
            if !changes {
                assert_eq!(old_meta, new_meta, "{bucket}/{object} must be untouched");
            } else {
                assert_ne!(old_meta, new_meta, "{bucket}/{object} must be re-sealed");
            }
        }
        if dm || sse == "SSE-C" {
            continue;
        }
        let roots = drives.clone();
        let plain = read_plaintext(Some(kms.as_ref()), &roots, bucket, object, vid)
            .unwrap_or_else(|err| panic!("{bucket}/{object}: {err}"));
        assert_eq!(
            hex::encode(Sha256::digest(&plain)),
            e["plaintext_sha256"].as_str().unwrap(),
            "{bucket}/{object}"
        );
        if !changes {
            continue;
        }
        rotated += 1;
        let new = match classify(&after[&rel(1)], vid) {
            Classification::SseKms(p) => p,
            other => panic!("{bucket}/{object}: not SSE-KMS after the run: {other:?}"),
        };
        assert_eq!(new.kms.as_ref().unwrap().key_id.as_str(), key_name);
        assert!(unseal_object_key(kms.as_ref(), &new, bucket, object).is_ok());
        if encrypted {
            assert_eq!(
                stored_etag(&before[&rel(1)], vid),
                stored_etag(&after[&rel(1)], vid),
                "{bucket}/{object}"
            );
            continue;
        }
        // The old data key does not open the new sealed key.
        let old = match classify(&before[&rel(1)], vid) {
            Classification::SseKms(p) | Classification::SseS3(p) => p,
            other => panic!("{other:?}"),
        };
        let req = old.unwrap_request(bucket, object).unwrap();
        let old_dek = kms
            .decrypt(&req.key_id, &req.ciphertext, &req.context)
            .unwrap();
        assert!(
            new.unseal(&old_dek, bucket, object).is_err(),
            "{bucket}/{object}"
        );
        // The ETag clients see is unchanged.
        let (old_etag, new_etag) = (
            stored_etag(&before[&rel(1)], vid),
            stored_etag(&after[&rel(1)], vid),
        );
        if sse == "SSE-S3" && e["parts"].as_array().unwrap().len() == 1 {
            assert_eq!(
                new_etag,
                e["plaintext_md5"].as_str().unwrap(),
                "{bucket}/{object}"
            );
        } else {
            assert_eq!(old_etag, new_etag, "{bucket}/{object}");
        }
    }
    assert!(rotated >= 6, "only {rotated} versions rotated");
    let locked =
        |e: &serde_json::Value| e["locked"].as_bool() == Some(true) || e["bucket"] == "locked";
    // All drives agree, every sealed key opens, every version decrypts.
    let (v, problems) = verify_data(&drives, key);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        v["sseS3"].as_u64().unwrap(),
        m["objects"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["sse"] == "SSE-S3"
                && e["delete_marker"].as_bool() != Some(true)
                && e["bucket"] != ".minio.sys"
                && (locked(e) || !buckets.contains(&e["bucket"].as_str().unwrap())))
            .count() as u64
    );
}

#[test]
fn rotates_real_minio_sets() {
    check_set("ds-4drives-ec2-key1", 4, KEY1, "my-minio-key");
}

#[test]
fn rotates_six_drive_set() {
    check_set(
        "ds-6drives-ec2-key2",
        6,
        "rotated-key:P03yBg4rb4/0UWNeyO2kmNlEJ546ucW0mq0XioXaf+g=",
        "rotated-key",
    );
}

/// The same on a `keyrotate fixture` deployment: every encryption type,
/// versions, delete markers, multipart, tags, locked versions.
#[test]
fn rotates_a_fixture_deployment() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("fx");
    fixture(
        &root,
        40,
        "plain=1,sse-s3=1,sse-kms=2,sse-c=1",
        &[
            "--versions",
            "2",
            "--multipart-every",
            "4",
            "--locked-every",
            "5",
            "--tags",
            "--sizes",
            "mixed",
            "--internal",
        ],
    );
    check_deployment(&root, 4, KEY1, "my-minio-key", &["fixture"]);
}
