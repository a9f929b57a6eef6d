//! Internal data re-encryption (issue 9) on MinIO-written drive sets and on
//! `keyrotate fixture --internal` deployments: every item decrypts with the
//! new key to byte-identical plaintext, bucket metadata keeps every other
//! field, a non-default key touches nothing, and an interrupted commit
//! resumes from its plans.
//!
//! Plans are applied by a small test applier following the CommitPlan
//! protocol (expect_old hash, done-if-new, temp + rename) until the run
//! pipeline's commit executor is merged.

#[path = "common/drivesets.rs"]
mod samples;
#[path = "vectors/sse_support.rs"]
mod sse_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use engine::internal::{
    self, bucket_meta::BucketMetadataDoc, decrypt_item, discover, Action, Encoding, ItemKind,
};
use engine::run::plan::CommitPlan;
use engine::sse::OsRandom;
use kms_client::{Context, DataKey, KeyId, Kms, KmsError, PlaintextKey};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use samples::{tarballs, tarballs_with_internal_items, unpack};
use sse_support::{SharedRandom, StaticKms};
use xxhash_rust::xxh64::xxh64;

const NEW_KEY: &str = "new-key:zVfTBhsWiHunyGWGUTuJYPsd6ejrT+TXXg0PcsrVUwk=";

fn random_stream(seed: u64) -> SharedRandom {
    random_stream_len(seed, 1 << 20)
}

fn static_kms(secret: &str, seed: u64) -> StaticKms {
    StaticKms::new(secret, random_stream(seed))
}

/// The KMS of a cluster being moved to a new default key: generates under
/// the new key, still decrypts under the old one.
struct Rotating {
    new: StaticKms,
    old: StaticKms,
}

impl Kms for Rotating {
    fn default_key(&self) -> &KeyId {
        self.new.default_key()
    }
    fn generate_key(&self, key: &KeyId, context: &Context) -> Result<DataKey, KmsError> {
        self.new.generate_key(key, context)
    }
    fn decrypt(&self, key: &KeyId, ct: &[u8], ctx: &Context) -> Result<PlaintextKey, KmsError> {
        if key == self.old.default_key() {
            self.old.decrypt(key, ct, ctx)
        } else {
            self.new.decrypt(key, ct, ctx)
        }
    }
}

fn drives_of(root: &Path, n: usize) -> Vec<Vec<PathBuf>> {
    vec![(1..=n).map(|i| root.join(format!("drive{i}"))).collect()]
}

/// Applies a plan on drives `0..upto` following the CommitPlan protocol.
fn apply(plan: &CommitPlan, upto: usize) -> Result<(), String> {
    for (drive, change) in plan.drives.iter().zip(&plan.per_drive).take(upto) {
        let path = drive.join(&plan.object_dir).join("xl.meta");
        let current = std::fs::read(&path).map_err(|e| e.to_string())?;
        if current == change.new_xlmeta {
            continue;
        }
        if xxh64(&current, 0) != change.expect_old {
            return Err(format!("{}: changed under the plan", path.display()));
        }
        if let Some(staged) = &change.staged_data_dir {
            let dest = drive.join(&plan.object_dir).join(&staged.name);
            if !dest.exists() {
                std::fs::rename(drive.join(&staged.staged_at), &dest).map_err(|e| e.to_string())?;
            }
        }
        let tmp = path.with_extension("keyrotate-tmp");
        std::fs::write(&tmp, &change.new_xlmeta).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, &path).map_err(|e| e.to_string())?;
    }
    if upto >= plan.drives.len() {
        for drive in &plan.drives {
            for dir in &plan.remove_data_dirs {
                let old = drive.join(&plan.object_dir).join(dir);
                if old.exists() {
                    std::fs::remove_dir_all(&old).map_err(|e| e.to_string())?;
                }
            }
        }
    }
    Ok(())
}

/// Every file under `.minio.sys` of every drive, with its bytes.
fn meta_bucket_files(sets: &[Vec<PathBuf>]) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    for d in sets.iter().flatten() {
        walk(&d.join(".minio.sys"), &mut out);
    }
    out
}

/// What one item looked like before a run.
struct Before {
    encoding: Encoding,
    plaintext: Option<Vec<u8>>,
    stored: Vec<u8>,
}

fn snapshot(sets: &[Vec<PathBuf>], kms: &dyn Kms) -> BTreeMap<String, Before> {
    discover(sets)
        .unwrap()
        .iter()
        .map(|item| {
            let d = decrypt_item(item, kms).unwrap_or_else(|e| panic!("{e}"));
            (
                d.name,
                Before {
                    encoding: d.encoding,
                    plaintext: d.plaintext.as_ref().map(|p| p.expose().to_vec()),
                    stored: d.stored.to_vec(),
                },
            )
        })
        .collect()
}

/// Checks every item after a run against its snapshot, reading with a KMS
/// that only knows the new key (and with one drive lost).
fn check_after(sets: &[Vec<PathBuf>], before: &BTreeMap<String, Before>, new_only: &dyn Kms) {
    let new_key = new_only.default_key().as_str();
    let items = discover(sets).unwrap();
    assert_eq!(items.len(), before.len());
    for item in &items {
        let b = &before[&item.name];
        let after = decrypt_item(item, new_only).unwrap_or_else(|e| panic!("{e}"));
        let after = Before {
            encoding: after.encoding.clone(),
            plaintext: after.plaintext.as_ref().map(|p| p.expose().to_vec()),
            stored: after.stored.to_vec(),
        };
        match (&b.encoding, &item.kind) {
            (Encoding::RootCredentials, _) | (Encoding::NothingEncrypted, _) => {
                assert_eq!(after.stored, b.stored, "{}", item.name);
            }
            (Encoding::Plaintext, k) if !k.minio_encrypts() => {
                assert_eq!(after.stored, b.stored, "{}", item.name);
                assert_eq!(after.encoding, Encoding::Plaintext);
            }
            _ => {
                assert_eq!(
                    after.encoding,
                    Encoding::Kms {
                        key_id: new_key.into()
                    },
                    "{}",
                    item.name
                );
                assert_eq!(after.plaintext, b.plaintext, "{}", item.name);
                let rewrap =
                    item.kind == ItemKind::TierConfig && matches!(b.encoding, Encoding::Kms { .. });
                // A tier config re-wrap changes only the sealed key; the rest
                // gets new ciphertext under a new data key.
                assert_eq!(after.stored == b.stored, rewrap, "{}", item.name);
            }
        }
        if let ItemKind::BucketMetadata { .. } = item.kind {
            let old = BucketMetadataDoc::parse(&b.stored).unwrap();
            let new = BucketMetadataDoc::parse(&after.stored).unwrap();
            assert!(old.same_except_targets(&new), "{}", item.name);
        }
        // Still readable with any one drive lost (new shards are consistent).
        for lost in 0..item.drives.len() {
            let mut it = item.clone();
            let moved = it.drives[lost].with_extension("away");
            std::fs::rename(&it.drives[lost], &moved).unwrap();
            it.drives[lost] = moved.clone();
            let read = engine::erasure::set::locate_version(
                &it.drives
                    .iter()
                    .enumerate()
                    .map(|(i, d)| (i != lost).then_some(d.as_path()))
                    .collect::<Vec<_>>(),
                ".minio.sys",
                &it.name,
                [0; 16],
            )
            .unwrap();
            let mut out = Vec::new();
            engine::erasure::stream::read_object(&read.layout, &read.locations, &mut out).unwrap();
            assert_eq!(out, after.stored, "{} without drive {lost}", item.name);
            std::fs::rename(&moved, &item.drives[lost]).unwrap();
        }
    }
    assert!(
        internal::verify(sets, new_only, Some(new_only.default_key()))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn drivesets_internal_items_rotate_to_the_new_key() {
    let mut with_internal = 0;
    for tarball in tarballs() {
        let (_tmp, root) = unpack(&tarball);
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap();
        let secret = manifest["kms_secret_key"].as_str().unwrap();
        let n = manifest["drives"].as_u64().unwrap() as usize;
        let sets = drives_of(&root, n);
        // A set without internal data (the part-layout set): nothing to find.
        if !manifest["objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["bucket"] == ".minio.sys")
        {
            assert!(discover(&sets).unwrap().is_empty(), "{}", tarball.display());
            continue;
        }
        with_internal += 1;
        let old = static_kms(secret, 1);
        let before = snapshot(&sets, &old);

        // The snapshot agrees with what MinIO's oracle recorded.
        let mut seen = 0;
        for o in manifest["objects"].as_array().unwrap() {
            if o["bucket"] != ".minio.sys" {
                continue;
            }
            let name = o["object"].as_str().unwrap();
            let b = &before[name];
            if let Some(plain) = o["config_plaintext"].as_str() {
                assert_eq!(b.plaintext.as_deref(), Some(plain.as_bytes()), "{name}");
                seen += 1;
            } else if o["sse"] == "SSE-S3" {
                assert_eq!(
                    sse_support::sha256_hex(b.plaintext.as_ref().unwrap()),
                    o["plaintext_sha256"].as_str().unwrap()
                );
                seen += 1;
            }
        }
        assert!(seen >= 5, "{}", tarball.display());
        let encrypted_targets = before
            .iter()
            .filter(|(n, b)| {
                n.starts_with("buckets/") && matches!(b.encoding, Encoding::Kms { .. })
            })
            .count();
        assert_eq!(encrypted_targets, 1, "{}", tarball.display());

        // Survey (for `plan`) names the same actions prepare takes.
        let survey = internal::survey(&sets).unwrap();
        assert!(survey.iter().all(|(_, e)| e.is_none()));
        let kms = Rotating {
            new: static_kms(NEW_KEY, 2),
            old: static_kms(secret, 3),
        };
        let target = kms.default_key().clone();
        assert!(internal::applies(&kms, &target));
        let prepared = internal::prepare_all(&sets, &kms, &target, &mut OsRandom).unwrap();
        assert!(prepared.failed.is_empty(), "{:?}", prepared.failed);
        for (p, (s, _)) in prepared.items.iter().zip(&survey) {
            assert_eq!(p.name, s.name);
            assert_eq!(p.action, s.action, "{}", p.name);
        }
        let format = prepared
            .items
            .iter()
            .find(|p| p.name == "config/iam/format.json")
            .unwrap();
        assert_eq!(format.action, Action::Leave);
        assert!(format.plan.is_none());
        let rotated = before
            .values()
            .filter(|b| matches!(b.encoding, Encoding::Kms { .. }))
            .count() as u64;
        let c = prepared.counters();
        assert_eq!((c.rotated, c.failed, c.skipped), (rotated, 0, 0));
        for plan in prepared.plans() {
            // Every new xl.meta is valid and keeps the version's identity.
            for (change, drive) in plan.per_drive.iter().zip(&plan.drives) {
                let new = xlmeta::XlMeta::parse(&change.new_xlmeta).unwrap();
                new.verify().unwrap();
                let old_bytes =
                    std::fs::read(drive.join(&plan.object_dir).join("xl.meta")).unwrap();
                let old = xlmeta::XlMeta::parse(&old_bytes).unwrap();
                let (o, n) = (old.object(0).unwrap(), new.object(0).unwrap());
                assert_eq!(
                    (o.version_id, o.mod_time, o.data_dir, o.ec_index, &o.ec_dist),
                    (n.version_id, n.mod_time, n.data_dir, n.ec_index, &n.ec_dist)
                );
                assert_eq!(n.size, n.part_sizes.iter().sum::<i64>());
            }
            apply(plan, usize::MAX).unwrap();
        }
        check_after(&sets, &before, &static_kms(NEW_KEY, 4));
    }
    assert!(with_internal >= 2);
}

#[test]
fn a_non_default_target_key_leaves_internal_data_byte_identical() {
    let (_tmp, root) = unpack(&tarballs_with_internal_items()[0]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap();
    let sets = drives_of(&root, manifest["drives"].as_u64().unwrap() as usize);
    let kms = Rotating {
        new: static_kms(NEW_KEY, 5),
        old: static_kms(manifest["kms_secret_key"].as_str().unwrap(), 6),
    };
    let files = meta_bucket_files(&sets);
    let other = KeyId::new("some-other-key");
    assert!(!internal::applies(&kms, &other));
    assert!(
        internal::prepare_for_job(&sets, &kms, &other, &mut OsRandom)
            .unwrap()
            .is_none()
    );
    assert_eq!(meta_bucket_files(&sets), files);
    assert!(
        internal::prepare_for_job(&sets, &kms, &KeyId::new(""), &mut OsRandom)
            .unwrap()
            .is_some()
    );
}

#[test]
fn interrupted_commit_resumes_from_its_plans() {
    let (_tmp, root) = unpack(&tarballs_with_internal_items()[0]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap();
    let secret = manifest["kms_secret_key"].as_str().unwrap();
    let sets = drives_of(&root, manifest["drives"].as_u64().unwrap() as usize);
    let before = snapshot(&sets, &static_kms(secret, 7));
    let kms = Rotating {
        new: static_kms(NEW_KEY, 8),
        old: static_kms(secret, 9),
    };
    let target = kms.default_key().clone();
    let prepared = internal::prepare_all(&sets, &kms, &target, &mut OsRandom).unwrap();
    let plans: Vec<CommitPlan> = prepared.plans().cloned().collect();
    // The plans survive the journal's encoding unchanged.
    for p in &plans {
        let bytes = rmp_serde::to_vec(p).unwrap();
        assert_eq!(&rmp_serde::from_slice::<CommitPlan>(&bytes).unwrap(), p);
    }
    // The pipeline hook plans the same items.
    let hook = internal::hook_work(&sets, &kms, &mut OsRandom);
    assert_eq!((hook.skipped, hook.failed.len()), (0, 0));
    assert_eq!(
        hook.plans.iter().map(|p| &p.object_dir).collect::<Vec<_>>(),
        plans.iter().map(|p| &p.object_dir).collect::<Vec<_>>()
    );
    // "Crash": the first plan fully committed, the second on two drives only,
    // the rest not at all.
    apply(&plans[0], usize::MAX).unwrap();
    apply(&plans[1], 2).unwrap();
    // Reading now: the half-written item has disagreeing copies and is
    // refused rather than re-planned from a mix of old and new drives.
    let half = discover(&sets)
        .unwrap()
        .into_iter()
        .find(|i| plans[1].object_dir.ends_with(&i.name))
        .unwrap();
    assert!(matches!(
        internal::prepare(&half, &kms, &target, &mut OsRandom),
        Err(internal::InternalError::Inconsistent { .. })
    ));
    // Resume replays every plan: done drives are recognised, old ones changed.
    for p in &plans {
        apply(p, usize::MAX).unwrap();
    }
    // A replay after completion is a no-op.
    let files = meta_bucket_files(&sets);
    for p in &plans {
        apply(p, usize::MAX).unwrap();
    }
    assert_eq!(meta_bucket_files(&sets), files);
    check_after(&sets, &before, &static_kms(NEW_KEY, 10));
    // A plan whose object changed under it is refused, not forced.
    let again = internal::prepare_all(&sets, &kms, &target, &mut OsRandom).unwrap();
    let stale = &plans[0];
    assert!(
        apply(stale, usize::MAX).is_ok(),
        "drives hold the new meta: done"
    );
    let fresh = again.plans().next().unwrap();
    apply(fresh, usize::MAX).unwrap();
    assert!(apply(stale, usize::MAX).is_err());
}

/// Prepares every item under the KMS default key and applies every plan.
fn rotate_all(sets: &[Vec<PathBuf>], kms: &dyn Kms) -> internal::PreparedRun {
    let target = kms.default_key().clone();
    let prepared = internal::prepare_all(sets, kms, &target, &mut OsRandom).unwrap();
    assert!(prepared.failed.is_empty(), "{:?}", prepared.failed);
    for p in prepared.plans() {
        apply(p, usize::MAX).unwrap();
    }
    prepared
}

/// A small plaintext-object fixture plus `--internal` data (encrypted with
/// `kms`, or plaintext without one).
fn fixture_with_internal(
    objects: u64,
    kms: Option<&dyn Kms>,
) -> (
    tempfile::TempDir,
    Vec<Vec<PathBuf>>,
    Vec<engine::fixture::ManifestObject>,
) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("fx");
    let spec = engine::fixture::FixtureSpec {
        objects,
        mix: "plain=1".parse().unwrap(),
        ..Default::default()
    };
    engine::fixture::build(&out, &spec, engine::fixture::FixtureKms::None).unwrap();
    let entries =
        engine::fixture::internal::add_internal(&out, spec.drives, spec.seed, kms).unwrap();
    let sets = drives_of(&out, spec.drives);
    (tmp, sets, entries)
}

#[test]
fn fixture_internal_data_rotates_and_stays_readable() {
    let old_secret = "fixture-key:E1Yv2S36wWrFO20nN4rrF+PwZQbVXJLJ8YL6w1ngbqw=";
    let old = static_kms(old_secret, 11);
    let (_tmp, sets, entries) = fixture_with_internal(3, Some(&old));
    let before = snapshot(&sets, &old);
    // One entry per item, all found by discovery (plus the fixture bucket's metadata).
    assert_eq!(before.len(), entries.len() + 1);
    for e in &entries {
        let b = &before[&e.object];
        let plain = b.plaintext.as_ref().unwrap();
        if e.object.starts_with("buckets/") {
            assert!(plain.starts_with(b"{\"Targets\""));
        } else {
            assert_eq!(
                sse_support::sha256_hex(plain),
                e.plaintext_sha256,
                "{}",
                e.object
            );
        }
        let expect_plain = e.object == "config/iam/format.json";
        assert_eq!(
            b.encoding == Encoding::Plaintext,
            expect_plain,
            "{}: {:?}",
            e.object,
            b.encoding
        );
    }
    let kms = Rotating {
        new: static_kms(NEW_KEY, 12),
        old: static_kms(old_secret, 13),
    };
    let prepared = rotate_all(&sets, &kms);
    assert_eq!(prepared.counters().rotated, entries.len() as u64 - 1);
    check_after(&sets, &before, &static_kms(NEW_KEY, 14));
}

#[test]
fn plaintext_internal_data_is_encrypted_where_minio_encrypts_it() {
    let (_tmp, sets, entries) = fixture_with_internal(1, None);
    let kms = static_kms(NEW_KEY, 15);
    let before = snapshot(&sets, &kms);
    assert!(before
        .values()
        .all(|b| matches!(b.encoding, Encoding::Plaintext | Encoding::NothingEncrypted)));
    let prepared = rotate_all(&sets, &kms);
    // Everything but iam/format.json (and the targetless fixture bucket).
    assert_eq!(prepared.counters().rotated, entries.len() as u64 - 1);
    check_after(&sets, &before, &kms);
    // The tier config became an SSE-S3 object with MinIO's size bookkeeping.
    let tier = discover(&sets)
        .unwrap()
        .into_iter()
        .find(|i| i.kind == ItemKind::TierConfig)
        .unwrap();
    let xl =
        std::fs::read(tier.drives[0].join(".minio.sys/config/tier-config.bin/xl.meta")).unwrap();
    let meta = xlmeta::XlMeta::parse(&xl).unwrap();
    let obj = meta.object(0).unwrap();
    let plain_len = before["config/tier-config.bin"].stored.len() as i64;
    assert_eq!(obj.part_actual_sizes, Some(vec![plain_len]));
    assert_eq!(
        obj.meta_sys("X-Minio-Internal-actual-size"),
        Some(plain_len.to_string().as_bytes())
    );
    assert!(obj
        .meta_sys("X-Minio-Internal-Server-Side-Encryption-S3-Sealed-Key")
        .is_some());
}

/// Writes a plain meta-bucket object `name` holding `data` on every drive.
fn put_meta_object(sets: &[Vec<PathBuf>], name: &str, data: &[u8]) {
    let drives = &sets[0];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(99);
    let (files, _) = engine::fixture::object::meta_bucket_object(
        drives.len(),
        name,
        data,
        1_748_779_200_000_000_000,
        &mut rng,
    )
    .unwrap();
    for (drive, xl) in drives.iter().zip(files) {
        let dir = drive.join(".minio.sys").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("xl.meta"), xl).unwrap();
    }
}

#[test]
fn root_credential_items_are_left_and_legacy_context_items_get_the_full_context() {
    let old_secret = "fixture-key:E1Yv2S36wWrFO20nN4rrF+PwZQbVXJLJ8YL6w1ngbqw=";
    let old = static_kms(old_secret, 21);
    let (_tmp, sets, _) = fixture_with_internal(1, Some(&old));
    // madmin EncryptData output (madmin-go's own test vector, crypto-vectors.json
    // `madmin-decrypt-2`): IAM written with the root credentials before 2021.
    let vectors: serde_json::Value = serde_json::from_slice(
        &std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testdata/crypto-vectors.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let madmin = vectors["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == "madmin-decrypt-2")
        .unwrap();
    let madmin = hex::decode(madmin["inputs"]["ciphertext_hex"].as_str().unwrap()).unwrap();
    let root_item = "config/iam/users/legacy/identity.json";
    put_meta_object(&sets, root_item, &madmin);
    // A blob under MinIO's legacy bare-path context.
    let legacy_item = "config/iam/policydb/users/legacy.json";
    let plain = br#"{"version":1,"policy":"readonly","updatedAt":"2025-06-01T12:00:00Z"}"#;
    let dek = old
        .generate_key(
            old.default_key(),
            &engine::sse::config::config_context_legacy(legacy_item),
        )
        .unwrap();
    let blob = engine::sse::config::encrypt_config(&dek, plain, &mut OsRandom).unwrap();
    put_meta_object(&sets, legacy_item, &blob);

    let before = snapshot(&sets, &old);
    assert_eq!(before[root_item].encoding, Encoding::RootCredentials);
    assert_eq!(before[root_item].plaintext, None);
    assert_eq!(before[legacy_item].plaintext.as_deref(), Some(&plain[..]));
    let kms = Rotating {
        new: static_kms(NEW_KEY, 22),
        old: static_kms(old_secret, 23),
    };
    let prepared = rotate_all(&sets, &kms);
    let c = prepared.counters();
    assert_eq!((c.skipped, c.failed), (1, 0));
    let root = prepared.items.iter().find(|p| p.name == root_item).unwrap();
    assert_eq!(root.action, Action::LeaveRootCredentials);
    assert!(root.plan.is_none());
    let new_only = static_kms(NEW_KEY, 24);
    check_after(&sets, &before, &new_only);
    // The rewritten blob is bound to the full-path context only.
    let item = discover(&sets)
        .unwrap()
        .into_iter()
        .find(|i| i.name == legacy_item)
        .unwrap();
    let stored = decrypt_item(&item, &new_only).unwrap().stored;
    let parsed = engine::sse::config::ConfigBlob::parse(&stored).unwrap();
    let h = &parsed.header;
    let full = engine::sse::config::config_context(legacy_item);
    let dek = new_only
        .decrypt(&h.key_id, &h.kms_ciphertext, &full)
        .unwrap();
    assert_eq!(parsed.decrypt(&dek).unwrap().expose(), plain);
    let bare = engine::sse::config::config_context_legacy(legacy_item);
    assert!(new_only
        .decrypt(&h.key_id, &h.kms_ciphertext, &bare)
        .is_err());
}

#[test]
fn fixture_cli_internal_flag_writes_items_a_run_would_encrypt() {
    for plaintext in [true, false] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("fx");
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_keyrotate"));
        cmd.args([
            "fixture",
            "--objects",
            "2",
            "--mix",
            "plain=1",
            "--internal",
        ])
        .arg("--out")
        .arg(&out)
        .env_remove("MINIO_KMS_SECRET_KEY")
        .env_remove("MINIO_KMS_KES_ENDPOINT")
        .env_remove("MINIO_KMS_SERVER");
        if plaintext {
            cmd.arg("--plaintext-internal");
        }
        assert!(cmd.status().unwrap().success());
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
        let internal_entries = manifest["objects"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["bucket"] == ".minio.sys")
            .count();
        let sets = drives_of(&out, 4);
        let survey = internal::survey(&sets).unwrap();
        assert_eq!(survey.len(), internal_entries);
        for (entry, err) in &survey {
            assert!(err.is_none(), "{}: {err:?}", entry.name);
            let expect = match entry.name.as_str() {
                "config/iam/format.json" | "buckets/fixture/.metadata.bin" => Action::Leave,
                _ if plaintext => Action::Encrypt,
                _ => Action::Rotate,
            };
            assert_eq!(entry.action, expect, "{}", entry.name);
        }
        if !plaintext {
            // Encrypted with the fixture's published default key.
            let key =
                kms_client::StaticKey::parse(engine::fixture::DEFAULT_KMS_SECRET_KEY).unwrap();
            let kms = kms_client::StaticKms::new(key, Vec::new());
            assert!(internal::verify(&sets, &kms, Some(kms.default_key()))
                .unwrap()
                .is_empty());
        }
    }
}

#[test]
fn large_items_move_to_a_staged_data_dir_and_old_data_dirs_are_removed() {
    let old_secret = "fixture-key:E1Yv2S36wWrFO20nN4rrF+PwZQbVXJLJ8YL6w1ngbqw=";
    let old = static_kms(old_secret, 31);
    let (_tmp, sets, _) = fixture_with_internal(1, Some(&old));
    // 300 KB of config history: shards of 150 KB, above the inline limit.
    let name = "config/history/7d3e1c2a-0000-4000-8000-000000000001.kv";
    let plain: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let blob = engine::sse::config::encrypt_config_with_kms(
        &old,
        old.default_key(),
        name,
        &plain,
        &mut OsRandom,
    )
    .unwrap();
    put_meta_object(&sets, name, &blob);
    let before = snapshot(&sets, &old);
    let kms = Rotating {
        new: static_kms(NEW_KEY, 32),
        old: static_kms(old_secret, 33),
    };
    let data_dir_of = |sets: &[Vec<PathBuf>]| {
        let xl = std::fs::read(sets[0][0].join(".minio.sys").join(name).join("xl.meta")).unwrap();
        let meta = xlmeta::XlMeta::parse(&xl).unwrap();
        let o = meta.object(0).unwrap();
        assert!(!o.is_inline());
        assert!(meta.version_inline_data(0).unwrap().is_none());
        uuid::Uuid::from_bytes(o.data_dir).to_string()
    };
    let prepared = rotate_all(&sets, &kms);
    let plan = prepared
        .plans()
        .find(|p| p.object_dir.ends_with(name))
        .unwrap();
    assert!(plan.per_drive.iter().all(|c| c.staged_data_dir.is_some()));
    assert!(plan.remove_data_dirs.is_empty(), "it was inline");
    let first = data_dir_of(&sets);
    check_after(&sets, &before, &static_kms(NEW_KEY, 34));
    // Again: data dir to a new data dir; the old one goes.
    let middle = snapshot(&sets, &static_kms(NEW_KEY, 35));
    let prepared = rotate_all(&sets, &kms);
    let plan = prepared
        .plans()
        .find(|p| p.object_dir.ends_with(name))
        .unwrap();
    assert_eq!(plan.remove_data_dirs, std::slice::from_ref(&first));
    assert_ne!(data_dir_of(&sets), first);
    for d in &sets[0] {
        assert!(!d.join(".minio.sys").join(name).join(&first).exists());
        // Staging dirs were moved in, nothing is left under tmp.
        let tmp: Vec<_> = std::fs::read_dir(d.join(".minio.sys/tmp"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != ".trash")
            .collect();
        assert!(tmp
            .iter()
            .all(|n| std::fs::read_dir(d.join(".minio.sys/tmp").join(n))
                .unwrap()
                .next()
                .is_none()));
    }
    check_after(&sets, &middle, &static_kms(NEW_KEY, 36));
    assert_eq!(
        middle[name].plaintext.as_deref(),
        Some(&plain[..]),
        "plaintext kept across both passes"
    );
}

/// Throughput figure (run with `--ignored --nocapture`): many IAM items.
#[test]
#[ignore]
fn timing_many_iam_items() {
    let old_secret = "fixture-key:E1Yv2S36wWrFO20nN4rrF+PwZQbVXJLJ8YL6w1ngbqw=";
    let old = StaticKms::new(old_secret, random_stream_len(41, 64 << 20));
    let (_tmp, sets, _) = fixture_with_internal(1, Some(&old));
    let n = 1000;
    for i in 0..n {
        let name = format!("config/iam/users/user{i:05}/identity.json");
        let plain = format!(
            r#"{{"version":1,"credentials":{{"accessKey":"user{i:05}","secretKey":"secret-{i:010}","status":"on"}},"updatedAt":"2025-06-01T12:00:00Z"}}"#
        );
        let blob = engine::sse::config::encrypt_config_with_kms(
            &old,
            old.default_key(),
            &name,
            plain.as_bytes(),
            &mut OsRandom,
        )
        .unwrap();
        put_meta_object(&sets, &name, &blob);
    }
    let kms = Rotating {
        new: StaticKms::new(NEW_KEY, random_stream_len(42, 64 << 20)),
        old: static_kms(old_secret, 43),
    };
    let target = kms.default_key().clone();
    let t = std::time::Instant::now();
    let prepared = internal::prepare_all(&sets, &kms, &target, &mut OsRandom).unwrap();
    let prep = t.elapsed();
    let t = std::time::Instant::now();
    for p in prepared.plans() {
        apply(p, usize::MAX).unwrap();
    }
    let commit = t.elapsed();
    let items = prepared.items.len();
    println!(
        "{items} internal items on 4 drives: prepare {:.1} ms ({:.0} items/s), test applier {:.1} ms",
        prep.as_secs_f64() * 1e3,
        items as f64 / prep.as_secs_f64(),
        commit.as_secs_f64() * 1e3
    );
    assert!(items > n);
}

fn random_stream_len(seed: u64, len: usize) -> SharedRandom {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut bytes = vec![0u8; len];
    rng.fill_bytes(&mut bytes);
    SharedRandom::new(bytes)
}
