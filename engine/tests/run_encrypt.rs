//! `keyrotate run` with `plaintextOnly: true` on plaintext fixtures (issue 8):
//! every version becomes SSE-KMS under the job's key and reads back (erasure,
//! unseal, DARE) to its manifest digest, keeps its client-visible ETag,
//! drives agree, and no data dir is left that no version references —
//! after an uninterrupted run and after runs killed with SIGKILL during the
//! data rewrites and resumed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use engine::fixture::{build_with_sizes, FixtureSpec, Mix, SizeClass};
use engine::run::verify::read_plaintext;
use engine::sse::metadata::CryptoEntries;
use engine::sse::Classification;
use kms_client::config::KmsConfig;
use sha2::{Digest, Sha256};
use xlmeta::uuid::format_uuid;
use xlmeta::XlMeta;

#[path = "common/runs.rs"]
mod runs;
use runs::*;

#[path = "common/sizes.rs"]
mod sizes;
use sizes::{BOUNDARY_SIZES, KIB, MIB};

fn build(out: &Path, sizes: &[u64], versions: u32) -> serde_json::Value {
    let spec = FixtureSpec {
        drives: 4,
        parity: 2,
        objects: sizes.len() as u64,
        mix: Mix {
            plain: 1,
            sse_s3: 0,
            sse_kms: 0,
            sse_c: 0,
        },
        versions,
        multipart_every: Some(9),
        sizes: SizeClass::Small,
        tags: true,
        seed: 5,
        ..FixtureSpec::default()
    };
    build_with_sizes(out, &spec, engine::fixture::FixtureKms::Default, sizes).unwrap();
    manifest(out)
}

fn job(dir: &Path) -> PathBuf {
    write_job(
        dir,
        "fixture",
        "  encryption:\n    type: sse-kms\n    key: my-minio-key\n  flags:\n    filter:\n      plaintextOnly: true\n",
    )
}

/// Every object version: SSE-KMS, reads back, same ETag as in the manifest's
/// source xl.meta, drives agree; each object dir holds exactly the data dirs
/// its versions reference.
fn check_deployment(root: &Path, m: &serde_json::Value, etags: &[(String, String, String)]) {
    let kms = KmsConfig::from_lookup(
        &|n: &str| (n == "MINIO_KMS_SECRET_KEY").then(|| KEY1.to_owned()),
        None,
    )
    .unwrap()
    .build()
    .unwrap();
    let roots = drives(root, 4);
    let mut seen = 0;
    for e in m["objects"].as_array().unwrap() {
        if e["delete_marker"].as_bool() == Some(true) || e["bucket"] != "fixture" {
            continue;
        }
        seen += 1;
        let object = e["object"].as_str().unwrap();
        let vid_text = e["version_id"].as_str().unwrap_or("");
        let vid = version_bytes(vid_text);
        let plain = read_plaintext(Some(kms.as_ref()), &roots, "fixture", object, vid)
            .unwrap_or_else(|err| panic!("{object} {vid_text}: {err}"));
        assert_eq!(
            hex::encode(Sha256::digest(&plain)),
            e["plaintext_sha256"].as_str().unwrap(),
            "{object}"
        );
        let metas: Vec<Vec<u8>> = roots
            .iter()
            .map(|r| std::fs::read(r.join("fixture").join(object).join("xl.meta")).unwrap())
            .collect();
        let parsed: Vec<XlMeta> = metas.iter().map(|b| XlMeta::parse(b).unwrap()).collect();
        let i = parsed[0]
            .versions()
            .iter()
            .position(|v| v.header().version_id == vid)
            .unwrap();
        for p in &parsed {
            p.verify().unwrap();
            assert_eq!(
                p.versions()[i].header().signature,
                parsed[0].versions()[i].header().signature,
                "{object}: drives agree"
            );
        }
        let obj = parsed[0].object(i).unwrap();
        let entries = CryptoEntries::from_sys(
            obj.meta_sys
                .iter()
                .flatten()
                .map(|(k, v)| (k.as_bytes(), v.as_ref())),
        );
        assert!(
            matches!(entries.classify(), Classification::SseKms(_)),
            "{object}: SSE-KMS"
        );
        let want = etags
            .iter()
            .find(|(o, v, _)| o == object && v == vid_text)
            .map(|(_, _, e)| e.as_str());
        assert_eq!(obj.meta_usr("etag"), want, "{object}: ETag unchanged");
    }
    assert!(seen > 0);
    // Data dirs on disk = data dirs referenced (non-inline versions), per drive.
    for r in &roots {
        for dir in std::fs::read_dir(r.join("fixture")).unwrap().flatten() {
            for obj_dir in std::fs::read_dir(dir.path()).unwrap().flatten() {
                let xl = std::fs::read(obj_dir.path().join("xl.meta")).unwrap();
                let x = XlMeta::parse(&xl).unwrap();
                let referenced: BTreeSet<String> = (0..x.versions().len())
                    .filter_map(|i| x.object(i).ok())
                    .filter(|o| !o.is_inline())
                    .map(|o| format_uuid(&o.data_dir))
                    .collect();
                let on_disk: BTreeSet<String> = std::fs::read_dir(obj_dir.path())
                    .unwrap()
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n != "xl.meta")
                    .collect();
                assert_eq!(on_disk, referenced, "{}", obj_dir.path().display());
            }
        }
    }
}

/// (object, version id, stored etag) before the run.
fn etags_of(root: &Path, m: &serde_json::Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for e in m["objects"].as_array().unwrap() {
        if e["delete_marker"].as_bool() == Some(true) || e["bucket"] != "fixture" {
            continue;
        }
        let object = e["object"].as_str().unwrap().to_owned();
        let vid = e["version_id"].as_str().unwrap_or("").to_owned();
        let xl = std::fs::read(root.join("drive1/fixture").join(&object).join("xl.meta")).unwrap();
        let x = XlMeta::parse(&xl).unwrap();
        let b = version_bytes(&vid);
        let i = x
            .versions()
            .iter()
            .position(|v| v.header().version_id == b)
            .unwrap();
        let etag = x.object(i).unwrap().meta_usr("etag").unwrap().to_owned();
        out.push((object, vid, etag));
    }
    out
}

/// Runs the plaintext-only job once: it succeeds, encrypts `versions`
/// versions, and leaves a deployment [`check_deployment`] accepts and no
/// staging behind.
fn encrypt_all(tmp: &Path, root: &Path, m: &serde_json::Value, versions: u64) {
    let etags = etags_of(root, m);
    let (code, summary, out) = run(&job(tmp), &drives(root, 4), &tmp.join("state"), KEY1);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(summary["objectsEncrypted"], versions, "{summary}");
    assert_eq!(summary["objectsFailed"], 0, "{summary}");
    assert_eq!(
        summary["objectsScanned"].as_u64().unwrap(),
        summary["objects"].as_u64().unwrap() + summary["deleteMarkersSkipped"].as_u64().unwrap(),
        "{summary}"
    );
    // Byte counters: what clients read, and what is now stored (plaintext
    // plus the DARE overhead of every package).
    let plaintext: u64 = m["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["bucket"] == "fixture" && e["delete_marker"].as_bool() != Some(true))
        .map(|e| e["plaintext_size"].as_u64().unwrap())
        .sum();
    assert_eq!(
        summary["bytesActual"].as_u64(),
        Some(plaintext),
        "{summary}"
    );
    assert!(
        summary["bytesTransferred"].as_u64().unwrap() > plaintext,
        "stored bytes are the encrypted sizes: {summary}"
    );
    check_deployment(root, m, &etags);
    assert_eq!(
        staging_left(&drives(root, 4)),
        0,
        "staging dirs left by a finished run"
    );
}

#[test]
fn plaintext_only_run_encrypts_every_boundary_size() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("fx");
    let sizes = BOUNDARY_SIZES;
    let m = build(&root, &sizes, 1);
    encrypt_all(tmp.path(), &root, &m, sizes.len() as u64);
    // A second run finds nothing plaintext left.
    let (code, summary, _) = run(
        &job(tmp.path()),
        &drives(&root, 4),
        &tmp.path().join("state2"),
        KEY1,
    );
    assert_eq!(code, 0);
    assert_eq!(summary["objectsEncrypted"], 0, "{summary}");
}

/// Every plaintext version of a versioned object is encrypted in one run
/// (one data rewrite per commit: the object takes one pass per version).
#[test]
fn every_plaintext_version_of_an_object_is_encrypted() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("fx");
    let sizes = [0, 1, 64 * KIB, MIB + 1, 3 * MIB + 7, 200 * KIB];
    let m = build(&root, &sizes, 3);
    let versions = m["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["bucket"] == "fixture" && e["delete_marker"].as_bool() != Some(true))
        .count() as u64;
    assert!(versions > sizes.len() as u64, "the fixture is versioned");
    encrypt_all(tmp.path(), &root, &m, versions);
}

#[test]
fn kill_nine_during_data_rewrites_then_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("fx");
    // Part-file and inline objects, multipart every 9th, two versions each
    // (kills land between the passes over an object's versions too).
    let sizes: Vec<u64> = (0..24u64)
        .map(|i| match i % 4 {
            0 => 3 * MIB + i,
            1 => 700 * KIB + i,
            2 => 10 * KIB + i,
            _ => MIB + 1,
        })
        .collect();
    let m = build(&root, &sizes, 2);
    let etags = etags_of(&root, &m);
    let (last, kills) = run_with_kills(
        &job(tmp.path()),
        &drives(&root, 4),
        &tmp.path().join("state"),
        12,
    );
    assert!(kills >= 5, "only {kills} kills landed during the run");
    assert_eq!(last["objectsFailed"], 0, "{last}");
    check_deployment(&root, &m, &etags);
    // What killed runs staged and never committed is removed by the resume
    // that finishes the job; object directories never held any of it.
    assert_eq!(
        staging_left(&drives(&root, 4)),
        0,
        "staging dirs left after {kills} kills"
    );
}
