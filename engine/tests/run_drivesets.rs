//! `keyrotate run` on real MinIO erasure sets (testdata/drivesets): every
//! SSE-KMS version is rotated, every SSE-S3 version converted and every
//! plaintext version encrypted under the target key; every version reads
//! back to the manifest's digest before and after the job; the old data key
//! no longer opens the new sealed key; the part layout (part numbers,
//! plaintext and DARE sizes) is kept; all drives agree; versions the job
//! must not touch (SSE-C, locked, delete markers) keep their bytes; modTime
//! and the client-visible ETag are unchanged. The same on fixtures with
//! generated part layouts (a property test), against the digests the
//! fixture builder computed from the plaintext it generated.

use std::path::{Path, PathBuf};

use engine::fixture::{
    build_with_shapes, FixtureKms, FixtureSpec, Layout, Shape, SseKind, DEFAULT_KMS_SECRET_KEY,
};
use engine::run::verify::{read_plaintext, unseal_object_key};
use engine::sse::{Classification, CryptoEntries};
use kms_client::config::KmsConfig;
use proptest::prelude::*;
use sha2::{Digest, Sha256};

#[path = "common/runs.rs"]
mod runs;
use runs::*;

#[allow(dead_code)]
#[path = "common/readback.rs"]
mod readback;

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

/// The object part of version `vid` in an xl.meta file.
fn object_of(xl: &[u8], vid: [u8; 16]) -> xlmeta::ObjectV2<'static> {
    let x = xlmeta::XlMeta::parse(xl).unwrap();
    let i = x
        .versions()
        .iter()
        .position(|v| v.header().version_id == vid)
        .unwrap();
    x.object(i).unwrap().into_owned()
}

fn classify(xl: &[u8], vid: [u8; 16]) -> Classification {
    let o = object_of(xl, vid);
    CryptoEntries::from_sys(
        o.meta_sys
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_ref(), v.as_ref())),
    )
    .classify()
}

fn stored_etag(xl: &[u8], vid: [u8; 16]) -> String {
    object_of(xl, vid)
        .meta_usr("etag")
        .unwrap_or_default()
        .to_owned()
}

/// Whether a deployment holds encrypted MinIO internal data (`.minio.sys`
/// config, IAM, bucket targets) the job must re-encrypt.
#[derive(Clone, Copy, PartialEq)]
enum Internal {
    Expected,
    None,
}

fn check_set(name: &str, n: usize, key: &str, key_name: &str, buckets: &[&str], i: Internal) {
    let (_tmp, root) = unpack(name);
    let (read, rotated) = check_deployment(&root, n, key, key_name, buckets, i);
    assert!(read >= 10, "only {read} versions read");
    assert!(rotated >= 6, "only {rotated} versions rotated");
}

/// DARE ciphertext size of `n` plaintext bytes (CRYPTO.md: 64 KiB packages,
/// each with a 16-byte header and a 16-byte tag).
fn dare_size(n: u64) -> u64 {
    n + 32 * n.div_ceil(64 * 1024)
}

/// Reads a version the manifest still describes (its encryption unchanged)
/// with the test's own decoder and decryption, SSE-C with the manifest's
/// client key, and compares it with the manifest's digest and stored size.
fn read_back_as_written(drives: &[PathBuf], e: &serde_json::Value, kms: &dyn kms_client::Kms) {
    let (bucket, object) = (e["bucket"].as_str().unwrap(), e["object"].as_str().unwrap());
    let vid = version_bytes(e["version_id"].as_str().unwrap_or(""));
    let all: Vec<Option<&Path>> = drives.iter().map(|p| Some(p.as_path())).collect();
    let located = engine::erasure::set::locate_version(&all, bucket, object, vid)
        .unwrap_or_else(|err| panic!("{bucket}/{object}: {err}"));
    let stored = readback::decode(&located, &[], None);
    assert!(
        readback::check_plaintext(e, &located, &stored, Some(kms)),
        "{bucket}/{object}: not compared"
    );
}

/// Runs one job per bucket of `buckets` on the deployment at `root` and
/// checks every version of its manifest against the rules above; returns
/// (versions read back, versions the job re-sealed).
fn check_deployment(
    root: &Path,
    n: usize,
    key: &str,
    key_name: &str,
    buckets: &[&str],
    internal: Internal,
) -> (usize, usize) {
    let drives = drives(root, n);
    let before = snapshot(&drives);
    let state = root.join("state");
    let m = manifest(root);
    let kms = kms(key);
    let internal_before = internal_plaintexts(&drives, kms.as_ref());
    if internal == Internal::Expected {
        assert!(internal_before.len() >= 5, "{internal_before:?}");
    }
    let in_scope = |e: &&serde_json::Value| {
        buckets.contains(&e["bucket"].as_str().unwrap()) && e["delete_marker"] != true
    };
    // Before the job every version reads back to its digest.
    let mut read_before = 0;
    for e in m["objects"].as_array().unwrap().iter().filter(in_scope) {
        read_back_as_written(&drives, e, kms.as_ref());
        read_before += 1;
    }
    // Versions per action, from the manifest.
    let acted_on = |kind: &str| {
        m["objects"]
            .as_array()
            .unwrap()
            .iter()
            .filter(in_scope)
            .filter(|e| e["locked"] != true && e["bucket"] != "locked" && e["sse"] == kind)
            .count() as u64
    };
    let want_actions = [
        ("objectsEncrypted", acted_on("")),
        ("objectsConverted", acted_on("SSE-S3")),
        ("objectsRotated", acted_on("SSE-KMS")),
    ];
    let mut actions = [0u64; 3];
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
        for (n, (field, _)) in actions.iter_mut().zip(&want_actions) {
            *n += summary[field].as_u64().unwrap();
        }
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
        assert_eq!(
            summary["internal"]["rotated"].as_u64().unwrap() > 0,
            internal == Internal::Expected,
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
    for ((field, want), got) in want_actions.iter().zip(actions) {
        assert_eq!(got, *want, "{field}");
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
        if dm {
            continue;
        }
        if !changes {
            read_back_as_written(&drives, e, kms.as_ref());
            continue;
        }
        let plain = read_plaintext(Some(kms.as_ref()), &drives, bucket, object, vid)
            .unwrap_or_else(|err| panic!("{bucket}/{object}: {err}"));
        assert_eq!(
            hex::encode(Sha256::digest(&plain)),
            e["plaintext_sha256"].as_str().unwrap(),
            "{bucket}/{object}"
        );
        rotated += 1;
        // The part layout is kept: the same parts, each of the manifest's
        // plaintext size and stored as its DARE ciphertext; all drives agree.
        let (old_obj, new_obj) = (
            object_of(&before[&rel(1)], vid),
            object_of(&after[&rel(1)], vid),
        );
        let plain_parts: Vec<i64> = e["parts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_i64().unwrap())
            .collect();
        assert_eq!(
            new_obj.part_numbers, old_obj.part_numbers,
            "{bucket}/{object}"
        );
        assert_eq!(
            new_obj.part_numbers.len(),
            plain_parts.len(),
            "{bucket}/{object}"
        );
        assert_eq!(
            new_obj.part_actual_sizes.as_deref(),
            Some(plain_parts.as_slice()),
            "{bucket}/{object}"
        );
        let sealed_parts: Vec<i64> = plain_parts
            .iter()
            .map(|&p| dare_size(p as u64) as i64)
            .collect();
        assert_eq!(new_obj.part_sizes, sealed_parts, "{bucket}/{object}");
        assert_eq!(
            new_obj.size,
            sealed_parts.iter().sum::<i64>(),
            "{bucket}/{object}"
        );
        // MinIO records the plaintext size of multipart uploads (and not
        // always of single-part SSE objects, whose size follows from DARE).
        let actual = new_obj.meta_sys(engine::sse::metadata::META_ACTUAL_SIZE);
        let multipart = old_obj.meta_usr("etag").is_some_and(|t| t.contains('-'));
        if multipart || actual.is_some() {
            assert_eq!(
                actual,
                Some(e["plaintext_size"].as_u64().unwrap().to_string().as_bytes()),
                "{bucket}/{object}"
            );
        }
        let signature = |i: usize| {
            xlmeta::XlMeta::parse(&after[&rel(i)])
                .unwrap()
                .versions()
                .iter()
                .find(|v| v.header().version_id == vid)
                .map(|v| v.header().signature)
        };
        let first = signature(1);
        assert!(first.is_some(), "{bucket}/{object}");
        for i in 2..=n {
            assert_eq!(signature(i), first, "{bucket}/{object}: drive{i} disagrees");
        }
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
        // (A multipart upload of one part keeps its `-1` ETag.)
        if sse == "SSE-S3" && !old.multipart {
            assert_eq!(
                new_etag,
                e["plaintext_md5"].as_str().unwrap(),
                "{bucket}/{object}"
            );
        } else {
            assert_eq!(old_etag, new_etag, "{bucket}/{object}");
        }
    }
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
    (read_before, rotated)
}

const SAMPLE_BUCKETS: &[&str] = &["encrypted", "versioned", "locked"];

#[test]
fn rotates_real_minio_sets() {
    check_set(
        "ds-4drives-ec2-key1",
        4,
        KEY1,
        "my-minio-key",
        SAMPLE_BUCKETS,
        Internal::Expected,
    );
}

#[test]
fn rotates_six_drive_set() {
    check_set(
        "ds-6drives-ec2-key2",
        6,
        "rotated-key:P03yBg4rb4/0UWNeyO2kmNlEJ546ucW0mq0XioXaf+g=",
        "rotated-key",
        SAMPLE_BUCKETS,
        Internal::Expected,
    );
}

/// Part layouts MinIO wrote (tiny parts, parts smaller than the data-shard
/// count, DARE package and erasure block boundaries) for every encryption
/// type, on 8 drives with 3 parity shards.
#[test]
fn rotates_part_layout_set() {
    check_set(
        "ds-8drives-ec3-parts",
        8,
        "parts-key:dXnn1AZ1A7IMruRTdRVG8YmSsPWDHUx+T7MdxovRrhE=",
        "parts-key",
        &["parts"],
        Internal::None,
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
    let (read, rotated) = check_deployment(
        &root,
        4,
        KEY1,
        "my-minio-key",
        &["fixture"],
        Internal::Expected,
    );
    assert!(read >= 10, "only {read} versions read");
    assert!(rotated >= 6, "only {rotated} versions rotated");
}

/// Plaintext part sizes around the boundaries the data path must get right.
fn part_size() -> impl Strategy<Value = u64> {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    prop_oneof![
        // Around the data-shard count (parts smaller than one byte per shard).
        3 => 1u64..=12,
        // Around one DARE package of plaintext.
        2 => (64 * KIB - 2)..=(64 * KIB + 2),
        // Around one erasure block of plaintext, and of DARE ciphertext
        // (1 MiB − 16 × 32 bytes of package overhead seals to exactly 1 MiB).
        1 => (MIB - 2)..=(MIB + 2),
        1 => (MIB - 512 - 2)..=(MIB - 512 + 2),
        2 => 13u64..200_000,
    ]
}

/// Part layouts: a single PUT (0 bytes included) or a multipart upload of
/// 1–10 parts whose last part may be 0 or 1 byte; at most ~1.2 MB each (one
/// part may cross an erasure block) so a case stays fast in debug builds.
fn layout() -> impl Strategy<Value = Layout> {
    let single = prop_oneof![Just(0u64), part_size()].prop_map(Layout::Size);
    let last = prop_oneof![Just(0u64), Just(1u64), part_size()];
    let multipart =
        (proptest::collection::vec(part_size(), 0..=9), last).prop_map(|(mut parts, last)| {
            parts.push(last);
            let mut total = 0;
            for p in &mut parts {
                if total + *p > 1_200_000 {
                    *p = *p % 4096 + 1;
                }
                total += *p;
            }
            Layout::Parts(parts)
        });
    prop_oneof![1 => single, 3 => multipart]
}

proptest! {
    // 16 cases by default; PROPTEST_CASES=N for a deeper search.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(16),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Fixture deployments (the project's builder; digests computed from the
    /// generated plaintext) with generated part layouts, each as plaintext,
    /// SSE-KMS, SSE-S3 and SSE-C: one "encrypt and rotate everything" job
    /// (plaintext → SSE-KMS, SSE-KMS rotation, SSE-S3 conversion) and every
    /// version reads back to its digest with its layout kept.
    #[test]
    fn generated_part_layouts_read_back_after_the_job(
        layouts in proptest::collection::vec(layout(), 2..=3),
        (drives, parity) in prop_oneof![Just((4usize, 2usize)), Just((5, 1)), Just((6, 2)), Just((8, 3))],
        versions in 1u32..=2,
        seed in any::<u64>(),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("fx");
        let kinds = [SseKind::Plain, SseKind::Kms, SseKind::S3, SseKind::C];
        let shapes: Vec<Shape> = layouts
            .iter()
            .flat_map(|l| kinds.map(|k| Shape { kind: Some(k), layout: l.clone() }))
            .collect();
        let spec = FixtureSpec {
            drives,
            parity,
            objects: shapes.len() as u64,
            versions,
            seed,
            ..FixtureSpec::default()
        };
        let built = build_with_shapes(&root, &spec, FixtureKms::Default, &shapes).unwrap();
        // The builder made the layouts asked for.
        for o in built.objects.iter().filter(|o| o.bucket == "fixture" && !o.delete_marker) {
            let index: usize = o.object.rsplit('-').next().unwrap().parse().unwrap();
            let shape = &shapes[index];
            let parts = match &shape.layout {
                Layout::Size(n) => vec![*n],
                Layout::Parts(p) => p.clone(),
            };
            prop_assert_eq!(&o.parts, &parts, "{}", o.object);
            prop_assert_eq!(o.sse.as_str(), shape.kind.unwrap().manifest_name());
        }
        let (read, rotated) = check_deployment(
            &root,
            drives,
            DEFAULT_KMS_SECRET_KEY,
            "keyrotate-fixture",
            &["fixture"],
            Internal::None,
        );
        // Every version but the SSE-C controls (and delete markers) re-sealed.
        let m = manifest(&root);
        let live = |sse: Option<&str>| {
            m["objects"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["bucket"] == "fixture" && e["delete_marker"] != true)
                .filter(|e| sse.is_none_or(|s| e["sse"] == s))
                .count()
        };
        prop_assert_eq!(read, live(None));
        prop_assert_eq!(rotated, live(None) - live(Some("SSE-C")));
        prop_assert!(rotated >= 6);
    }
}
