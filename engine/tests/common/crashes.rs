//! Helpers of the crash tests (`run_crashpoints`, `run_torn_journal`): a
//! fixture that takes every path of a run (SSE-KMS rotations, SSE-S3
//! conversions, plaintext encryption with staged data dirs, multipart,
//! versions and delete markers, MinIO's internal items), its uninterrupted
//! reference run, and [`check_end`]: everything a finished job must leave,
//! whatever crashed on the way.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use engine::crashpoint::ENV;
use engine::internal::{decrypt_item, discover, verify};
use engine::run::object::agreement;
use engine::run::verify::read_plaintext;
use kms_client::config::KmsConfig;
use kms_client::static_key::{StaticKey, StaticKms};
use kms_client::KeyId;
use serde_json::Value;
use sha2::{Digest, Sha256};
use xlmeta::uuid::format_uuid;
use xlmeta::XlMeta;

use super::runs::*;

pub const DRIVES: usize = 4;

pub struct Fixture {
    /// The pristine deployment every scenario copies.
    pub pristine: PathBuf,
    pub reference: Value,
    /// `.minio.sys/tmp` entries per drive after the uninterrupted run.
    pub reference_tmp: Vec<BTreeSet<String>>,
    /// Its report, sorted.
    pub reference_report: Vec<String>,
    pub manifest: Value,
    pub internal_before: BTreeMap<String, Option<Vec<u8>>>,
}

pub fn kms() -> StaticKms {
    StaticKms::new(StaticKey::parse(KEY1).unwrap(), Vec::new())
}

pub fn copy(from: &Path, to: &Path) {
    let o = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

pub fn internal_plaintexts(root: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    let k = kms();
    discover(&[drives(root, DRIVES)])
        .unwrap()
        .iter()
        .map(|item| {
            let d = decrypt_item(item, &k).unwrap();
            (d.name.clone(), d.plaintext.map(|p| p.expose().to_vec()))
        })
        .collect()
}

pub fn tmp_entries(root: &Path) -> Vec<BTreeSet<String>> {
    drives(root, DRIVES)
        .iter()
        .map(|d| {
            std::fs::read_dir(d.join(".minio.sys/tmp"))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .collect()
}

/// One `keyrotate run` on the deployment at `root`, one version per group
/// commit, optionally armed.
pub fn run_at(root: &Path, crash: Option<(&str, u64)>) -> Output {
    run_batched(root, crash, 1)
}

/// [`run_at`] with up to `batch` object results per group commit.
pub fn run_batched(root: &Path, crash: Option<(&str, u64)>, batch: usize) -> Output {
    let job = root.join("job-fixture.yaml");
    let mut cmd = run_cmd(&job, &drives(root, DRIVES), &root.join("state"), KEY1);
    cmd.env("KEYROTATE_TEST_BATCH", batch.to_string())
        .env_remove(ENV);
    if let Some((name, n)) = crash {
        cmd.env(ENV, format!("{name}:{n}"));
    }
    cmd.output().unwrap()
}

pub fn crashed_at(o: &Output, name: &str) -> bool {
    o.status.signal() == Some(libc::SIGABRT)
        && String::from_utf8_lossy(&o.stderr)
            .contains(&format!("crash point {name} reached: aborting"))
}

pub fn describe(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The report lines of the job run at `root`, sorted (objects are
/// committed in any order).
pub fn report(root: &Path) -> Vec<String> {
    let mut lines: Vec<String> = report_lines(&root.join("state"))
        .iter()
        .map(Value::to_string)
        .collect();
    lines.sort();
    lines
}

/// 300 KB of config history, inline now: its rotation moves it to a new
/// data dir, staged like an encryption's.
pub fn add_large_internal_item(root: &Path) {
    use kms_client::Kms;
    use rand_chacha::rand_core::SeedableRng;
    let name = "config/history/7d3e1c2a-0000-4000-8000-000000000001.kv";
    let plain: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let k = kms();
    let blob = engine::sse::config::encrypt_config_with_kms(
        &k,
        k.default_key(),
        name,
        &plain,
        &mut engine::sse::OsRandom,
    )
    .unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(99);
    let (files, _) = engine::fixture::object::meta_bucket_object(
        DRIVES,
        name,
        &blob,
        1_748_779_200_000_000_000,
        &mut rng,
    )
    .unwrap();
    for (drive, xl) in drives(root, DRIVES).iter().zip(files) {
        let dir = drive.join(".minio.sys").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("xl.meta"), xl).unwrap();
    }
}

pub fn build_fixture(base: &Path) -> Fixture {
    let pristine = base.join("pristine");
    fixture(
        &pristine,
        10,
        "sse-kms=2,sse-s3=1,plain=2",
        &[
            "--versions",
            "2",
            "--multipart-every",
            "2",
            "--seed",
            "29",
            "--internal",
        ],
    );
    add_large_internal_item(&pristine);
    write_job(&pristine, "fixture", "");
    let reference_root = base.join("reference");
    copy(&pristine, &reference_root);
    let out = run_at(&reference_root, None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let reference: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The fixture takes every path.
    for k in [
        "objectsRotated",
        "objectsConverted",
        "objectsEncrypted",
        "deleteMarkersSkipped",
    ] {
        assert!(reference[k].as_u64().unwrap() > 0, "{k}: {reference}");
    }
    assert!(
        reference["internal"]["rotated"].as_u64().unwrap() > 0,
        "{reference}"
    );
    assert_eq!(reference["objectsFailed"], 0, "{reference}");
    Fixture {
        reference_tmp: tmp_entries(&reference_root),
        reference_report: report(&reference_root),
        manifest: manifest(&pristine),
        internal_before: internal_plaintexts(&pristine),
        pristine,
        reference,
    }
}

/// Everything a finished job must leave, whatever crashed on the way.
pub fn check_end(fx: &Fixture, root: &Path, last: &Output) {
    assert_eq!(last.status.code(), Some(0), "{}", describe(last));
    let summary: Value = serde_json::from_slice(&last.stdout).unwrap();
    for k in COUNTERS {
        assert_eq!(summary[k], fx.reference[k], "{k}: {summary}");
    }
    let roots = drives(root, DRIVES);
    assert_eq!(tmp_entries(root), fx.reference_tmp, "staging left");
    assert_eq!(staging_left(&roots), 0);
    assert_eq!(report(root), fx.reference_report, "report");
    // Every version reads back to its digest.
    let object_kms = KmsConfig::from_lookup(
        &|n: &str| (n == "MINIO_KMS_SECRET_KEY").then(|| KEY1.to_owned()),
        None,
    )
    .unwrap()
    .build()
    .unwrap();
    for e in fx.manifest["objects"].as_array().unwrap() {
        if e["delete_marker"].as_bool() == Some(true) || e["bucket"] != "fixture" {
            continue;
        }
        let object = e["object"].as_str().unwrap();
        let vid = version_bytes(e["version_id"].as_str().unwrap_or(""));
        let plain = read_plaintext(Some(object_kms.as_ref()), &roots, "fixture", object, vid)
            .unwrap_or_else(|err| panic!("{object}: {err}"));
        assert_eq!(
            hex::encode(Sha256::digest(&plain)),
            e["plaintext_sha256"].as_str().unwrap(),
            "{object}"
        );
    }
    // Drives agree on every version (sealed keys included); data dirs on
    // disk are exactly those referenced.
    let bucket = roots[0].join("fixture");
    let mut object_dirs = Vec::new();
    let mut stack = vec![bucket.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            if e.path().join("xl.meta").exists() {
                object_dirs.push(e.path().strip_prefix(&roots[0]).unwrap().to_owned());
            } else if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
    assert!(object_dirs.len() >= 10);
    for rel in &object_dirs {
        let raws: Vec<Result<Vec<u8>, (bool, String)>> = roots
            .iter()
            .map(|r| std::fs::read(r.join(rel).join("xl.meta")).map_err(|e| (true, e.to_string())))
            .collect();
        let a = agreement(&raws);
        let counts: BTreeSet<usize> = a
            .metas
            .iter()
            .map(|m| m.as_ref().map(|x| x.versions().len()).unwrap_or(usize::MAX))
            .collect();
        assert_eq!(counts.len(), 1, "{}: version counts differ", rel.display());
        assert!(
            a.problems.iter().all(Option::is_none),
            "{}: {:?}",
            rel.display(),
            a.problems
        );
        for (r, raw) in roots.iter().zip(&raws) {
            let x = XlMeta::parse(raw.as_ref().unwrap()).unwrap();
            let referenced: BTreeSet<String> = (0..x.versions().len())
                .filter_map(|i| x.object(i).ok())
                .filter(|o| !o.is_inline())
                .map(|o| format_uuid(&o.data_dir))
                .collect();
            let on_disk: BTreeSet<String> = std::fs::read_dir(r.join(rel))
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "xl.meta")
                .collect();
            assert_eq!(on_disk, referenced, "{}", r.join(rel).display());
        }
    }
    // Internal items: valid and agreeing copies under the target key, same
    // plaintexts.
    let sets = vec![roots.clone()];
    let problems = verify(&sets, &kms(), Some(&KeyId::new("my-minio-key"))).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(internal_plaintexts(root), fx.internal_before);
}

/// [`check_end`], its failure as a message instead of a panic (scenarios
/// run side by side and report every failure at once).
pub fn check_end_result(fx: &Fixture, root: &Path, last: &Output) -> Result<(), String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check_end(fx, root, last))).map_err(
        |p| {
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        },
    )
}
