//! Plaintext → SSE-KMS data rewrite (`engine::run::encrypt`), end to end on
//! fixture deployments: plans are committed by a small test applier (the
//! steps of `run::plan`'s protocol), then every version is read back through
//! the erasure reader, unsealed and DARE-decrypted, and compared with the
//! fixture manifest. Also: inline ↔ part-file moves, repairable and
//! unrepairable bitrot, and refusal cases.

use std::path::{Path, PathBuf};

use engine::drives::io::DriveIo;
use engine::erasure::set::locate_version;
use engine::erasure::stream::read_object;
use engine::fixture::{build_with_sizes, FixtureSpec, Manifest, ManifestObject, Mix, SizeClass};
use engine::run::encrypt::{
    encrypt_version, inline_threshold, EncryptError, EncryptRequest, INLINE_BLOCK,
};
use engine::run::plan::CommitPlan;
use engine::run::summary::{ActionKind, Outcome, SkipReason};
use engine::sse::dare;
use engine::sse::metadata::CryptoEntries;
use engine::sse::{Classification, OsRandom};
use kms_client::{Context, DataKey, KeyId, PlaintextKey};
use sha2::{Digest, Sha256};
use xlmeta::XlMeta;

#[path = "common/sizes.rs"]
mod sizes;
use sizes::{BOUNDARY_SIZES, KIB, MIB};

struct Fx {
    _dir: tempfile::TempDir,
    roots: Vec<PathBuf>,
    drives: Vec<DriveIo>,
    manifest: Manifest,
}

fn fixture(drives: usize, parity: usize, sizes: &[u64], multipart_every: Option<u64>) -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fx");
    let spec = FixtureSpec {
        drives,
        parity,
        objects: sizes.len() as u64,
        mix: Mix {
            plain: 1,
            sse_s3: 0,
            sse_kms: 0,
            sse_c: 0,
        },
        multipart_every,
        sizes: SizeClass::Small,
        tags: true,
        locked_every: None,
        seed: 11,
        ..FixtureSpec::default()
    };
    let manifest =
        build_with_sizes(&out, &spec, engine::fixture::FixtureKms::Default, sizes).unwrap();
    let roots: Vec<PathBuf> = (1..=drives)
        .map(|i| out.join(format!("drive{i}")))
        .collect();
    let drives = roots.iter().map(|r| DriveIo::spawn(r).unwrap()).collect();
    Fx {
        _dir: dir,
        roots,
        drives,
        manifest,
    }
}

fn data_key() -> DataKey {
    let mut k = [0u8; 32];
    getrandom::getrandom(&mut k).unwrap();
    DataKey {
        key_id: KeyId::new("new-key"),
        plaintext: PlaintextKey::new(k),
        ciphertext: b"kms-ciphertext".to_vec(),
    }
}

fn objects(m: &Manifest) -> Vec<&ManifestObject> {
    m.objects
        .iter()
        .filter(|o| o.bucket == "fixture" && !o.delete_marker)
        .collect()
}

fn xl_metas(fx: &Fx, o: &ManifestObject) -> Vec<Vec<u8>> {
    fx.roots
        .iter()
        .map(|r| std::fs::read(r.join(&o.bucket).join(&o.object).join("xl.meta")).unwrap())
        .collect()
}

fn plan_for(
    fx: &Fx,
    o: &ManifestObject,
    key: &DataKey,
    ctx: Option<&Context>,
    threshold: u64,
) -> Result<CommitPlan, EncryptError> {
    plan_from(fx, o, &xl_metas(fx, o), key, ctx, threshold)
}

fn plan_from(
    fx: &Fx,
    o: &ManifestObject,
    metas: &[Vec<u8>],
    key: &DataKey,
    ctx: Option<&Context>,
    threshold: u64,
) -> Result<CommitPlan, EncryptError> {
    let req = EncryptRequest {
        drives: &fx.drives,
        xl_meta: metas,
        version_index: 0,
        bucket: &o.bucket,
        object: &o.object,
        data_key: key,
        user_context: ctx,
        inline_threshold: threshold,
    };
    encrypt_version(&req, &mut OsRandom)
}

/// The commit protocol of `run::plan`, without journal: staged dirs in,
/// xl.meta swapped (old bytes checked), old data dirs removed, staging gone.
fn apply(plan: &CommitPlan) {
    for (root, ch) in plan.drives.iter().zip(&plan.per_drive) {
        let dir = root.join(&plan.object_dir);
        if let Some(s) = &ch.staged_data_dir {
            std::fs::rename(root.join(&s.staged_at), dir.join(&s.name)).unwrap();
        }
        let old = std::fs::read(dir.join("xl.meta")).unwrap();
        assert_eq!(xxhash_rust::xxh64::xxh64(&old, 0), ch.expect_old);
        std::fs::write(dir.join("xl.meta.new"), &ch.new_xlmeta).unwrap();
        std::fs::rename(dir.join("xl.meta.new"), dir.join("xl.meta")).unwrap();
    }
    for (root, ch) in plan.drives.iter().zip(&plan.per_drive) {
        let dir = root.join(&plan.object_dir);
        for d in &plan.remove_data_dirs {
            std::fs::remove_dir_all(dir.join(d)).unwrap();
        }
        if let Some(parent) = ch
            .staged_data_dir
            .as_ref()
            .and_then(|s| s.staged_at.parent())
        {
            std::fs::remove_dir(root.join(parent)).unwrap();
        }
    }
}

/// Reads the version back through the erasure reader, unseals the OEK with
/// `key` and decrypts every part; checks the manifest digest.
fn check_encrypted(fx: &Fx, o: &ManifestObject, key: &DataKey, etag_before: &str) {
    let roots: Vec<Option<&Path>> = fx.roots.iter().map(|r| Some(r.as_path())).collect();
    let v = locate_version(&roots, &o.bucket, &o.object, [0; 16]).unwrap();
    assert!(v.problems.iter().all(String::is_empty), "{:?}", v.problems);
    let mut stored = Vec::new();
    let report = read_object(&v.layout, &v.locations, &mut stored).unwrap();
    assert!(report.parts.iter().all(|(_, r)| r.faults.is_empty()));

    let metas = xl_metas(fx, o);
    let parsed: Vec<XlMeta> = metas.iter().map(|m| XlMeta::parse(m).unwrap()).collect();
    let sig = parsed[0].versions()[0].header().signature;
    for m in &parsed {
        m.verify().unwrap();
        assert_eq!(m.versions()[0].header().signature, sig, "drives agree");
    }
    let obj = parsed[0].object(0).unwrap();
    let entries = CryptoEntries::from_sys(
        obj.meta_sys
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_bytes(), v.as_ref())),
    );
    let Classification::SseKms(sse) = entries.classify() else {
        panic!("{}: not SSE-KMS: {:?}", o.object, entries.classify());
    };
    assert_eq!(
        obj.meta_usr("etag"),
        Some(etag_before),
        "{}: ETag kept",
        o.object
    );
    assert_eq!(
        obj.meta_sys("X-Minio-Internal-actual-size"),
        Some(o.plaintext_size.to_string().as_bytes())
    );
    assert_eq!(obj.size as u64, stored.len() as u64);
    assert_eq!(
        obj.size as u64,
        o.parts
            .iter()
            .map(|&p| dare::encrypted_size(p).unwrap())
            .sum::<u64>()
    );
    assert_eq!(
        obj.part_actual_sizes.clone().unwrap(),
        o.parts.iter().map(|&p| p as i64).collect::<Vec<_>>()
    );
    let oek = sse.unseal(&key.plaintext, &o.bucket, &o.object).unwrap();
    let multipart = o.parts.len() > 1;
    assert_eq!(entries.is_multipart(), multipart);
    let mut plain = Vec::new();
    let mut off = 0usize;
    for (&(number, size), _) in v.layout.parts.iter().zip(&o.parts) {
        let ct = &stored[off..off + size as usize];
        off += size as usize;
        if ct.is_empty() {
            continue;
        }
        let k = if multipart {
            oek.part_key(number)
        } else {
            engine::sse::SecretKey::new(*oek.data_key().expose())
        };
        plain.extend(dare::decrypt(&k, ct).unwrap());
    }
    assert_eq!(
        hex::encode(Sha256::digest(&plain)),
        o.plaintext_sha256,
        "{}",
        o.object
    );
}

fn data_dirs(fx: &Fx, o: &ManifestObject) -> Vec<Vec<String>> {
    fx.roots
        .iter()
        .map(|r| {
            let mut v: Vec<String> = std::fs::read_dir(r.join(&o.bucket).join(&o.object))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n != "xl.meta")
                .collect();
            v.sort();
            v
        })
        .collect()
}

fn staging_entries(fx: &Fx) -> Vec<String> {
    fx.roots
        .iter()
        .flat_map(|r| std::fs::read_dir(r.join(".minio.sys/tmp")).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("keyrotate-"))
        .collect()
}

#[test]
fn boundary_sizes_and_multipart_encrypt_and_read_back() {
    let sizes = BOUNDARY_SIZES;
    let fx = fixture(4, 2, &sizes, Some(9));
    let objs = objects(&fx.manifest);
    assert_eq!(objs.len(), sizes.len());
    assert_eq!(objs[8].parts.len(), 3);
    let mut ctx = Context::new();
    ctx.insert("project", "keyrotate");
    for o in objs {
        let before = xl_metas(&fx, o);
        let etag = XlMeta::parse(&before[0])
            .unwrap()
            .object(0)
            .unwrap()
            .meta_usr("etag")
            .unwrap()
            .to_owned();
        let old_dirs = data_dirs(&fx, o);
        let key = data_key();
        let plan = plan_for(
            &fx,
            o,
            &key,
            Some(&ctx),
            inline_threshold(false, INLINE_BLOCK),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", o.object));
        assert_eq!(plan.versions[0].outcome, Outcome::Done(ActionKind::Encrypt));
        assert_eq!(plan.versions[0].sizes.actual, o.plaintext_size);
        // Nothing visible changed before the commit.
        assert_eq!(xl_metas(&fx, o), before);
        assert_eq!(
            plan.per_drive.iter().any(|c| c.staged_data_dir.is_some()),
            !o.inline
        );
        if o.inline {
            assert!(plan.remove_data_dirs.is_empty());
        } else {
            assert_eq!(plan.remove_data_dirs, std::slice::from_ref(&o.data_dir));
        }
        apply(&plan);
        check_encrypted(&fx, o, &key, &etag);
        let new_dirs = data_dirs(&fx, o);
        for (old, new) in old_dirs.iter().zip(&new_dirs) {
            assert!(
                !new.contains(&o.data_dir),
                "{}: old data dir left",
                o.object
            );
            assert_eq!(new.len(), usize::from(!o.inline), "{old:?} → {new:?}");
        }
        // The stored context is the job's (bucket entry never stored).
        let m = xl_metas(&fx, o);
        let obj_meta = XlMeta::parse(&m[0]).unwrap();
        let obj = obj_meta.object(0).unwrap();
        assert!(obj
            .meta_sys("X-Minio-Internal-Server-Side-Encryption-Context")
            .is_some());
        assert_eq!(obj.is_inline(), o.inline, "{}", o.object);
    }
    assert!(staging_entries(&fx).is_empty());
}

#[test]
fn inline_and_part_files_follow_minio_threshold() {
    // 64 KiB is inline at T = 128 KiB; at T/8 (versioned bucket) it moves to
    // part files. 1 MiB (2+2: 512 KiB per shard) moves inline at T = 1 MiB.
    let fx = fixture(4, 2, &[64 * KIB, MIB], None);
    let objs = objects(&fx.manifest);
    let (small, big) = (objs[0], objs[1]);
    assert!(small.inline && !big.inline);

    let key = data_key();
    let plan = plan_for(&fx, small, &key, None, inline_threshold(true, INLINE_BLOCK)).unwrap();
    assert!(plan.per_drive.iter().all(|c| c.staged_data_dir.is_some()));
    assert!(plan.remove_data_dirs.is_empty(), "inline had no data dir");
    apply(&plan);
    check_encrypted(&fx, small, &key, &small.plaintext_md5);
    let m = XlMeta::parse(&xl_metas(&fx, small)[0])
        .unwrap()
        .object(0)
        .unwrap()
        .is_inline();
    assert!(!m);
    assert!(data_dirs(&fx, small).iter().all(|d| d.len() == 1));

    let key = data_key();
    let plan = plan_for(&fx, big, &key, None, MIB).unwrap();
    assert!(plan.per_drive.iter().all(|c| c.staged_data_dir.is_none()));
    assert_eq!(plan.remove_data_dirs, std::slice::from_ref(&big.data_dir));
    apply(&plan);
    check_encrypted(&fx, big, &key, &big.plaintext_md5);
    let metas = xl_metas(&fx, big);
    let parsed = XlMeta::parse(&metas[0]).unwrap();
    assert!(parsed.object(0).unwrap().is_inline());
    assert!(parsed.version_inline_data(0).unwrap().is_some());
    assert!(data_dirs(&fx, big).iter().all(Vec::is_empty));
}

fn flip_byte(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    b[at] ^= 0x40;
    std::fs::write(path, b).unwrap();
}

#[test]
fn bitrot_within_parity_is_repaired_beyond_is_refused_cleanly() {
    let fx = fixture(4, 2, &[3 * MIB + 17, 2 * MIB + 5], None);
    let objs = objects(&fx.manifest);
    let part = |o: &ManifestObject, j: usize| {
        fx.roots[j]
            .join(&o.bucket)
            .join(&o.object)
            .join(&o.data_dir)
            .join("part.1")
    };
    // Two bad shards (different blocks on one, a missing file on another).
    let o = objs[0];
    flip_byte(&part(o, 0), 100);
    flip_byte(&part(o, 0), 600_000);
    std::fs::remove_file(part(o, 1)).unwrap();
    let key = data_key();
    let plan = plan_for(&fx, o, &key, None, INLINE_BLOCK).unwrap();
    apply(&plan);
    check_encrypted(&fx, o, &key, &o.plaintext_md5);

    // Three bad shards in the same block: corrupt, nothing written.
    let o = objs[1];
    for j in 0..3 {
        flip_byte(&part(o, j), 40 + j);
    }
    let before = xl_metas(&fx, o);
    let err = plan_for(&fx, o, &data_key(), None, INLINE_BLOCK).unwrap_err();
    assert!(matches!(err, EncryptError::Corrupt { .. }), "{err}");
    assert_eq!(err.outcome(), Outcome::Skipped(SkipReason::Corrupt));
    assert_eq!(xl_metas(&fx, o), before);
    assert!(staging_entries(&fx).is_empty(), "staging cleaned up");
}

#[test]
fn refuses_what_it_must_not_encrypt() {
    let fx = fixture(4, 2, &[1000], None);
    let o = objects(&fx.manifest)[0];
    let key = data_key();
    let plan = plan_for(&fx, o, &key, None, INLINE_BLOCK).unwrap();
    apply(&plan);
    // Now SSE-KMS: a second encryption is refused.
    let err = plan_for(&fx, o, &key, None, INLINE_BLOCK).unwrap_err();
    assert!(matches!(err, EncryptError::NotPlaintext { .. }), "{err}");
    // Drives that disagree are refused.
    let fx = fixture(4, 2, &[1000], None);
    let o = objects(&fx.manifest)[0];
    let mut metas = xl_metas(&fx, o);
    let mut m = XlMeta::parse(&metas[1]).unwrap();
    m.edit_object(0, |obj| {
        obj.set_meta_usr("content-type", "text/plain");
        Ok(())
    })
    .unwrap();
    metas[1] = m.encode().unwrap();
    let err = plan_from(&fx, o, &metas, &key, None, INLINE_BLOCK).unwrap_err();
    assert!(matches!(err, EncryptError::Inconsistent { .. }), "{err}");
}

#[test]
fn bucket_versioning_is_read_from_metadata_bin() {
    use engine::run::encrypt::bucket_versioned;
    let fx = fixture(4, 2, &[10], None);
    let roots: Vec<&Path> = fx.roots.iter().map(PathBuf::as_path).collect();
    assert!(!bucket_versioned(&roots, "fixture").unwrap());
    assert!(!bucket_versioned(&roots, "no-such-bucket").unwrap());
    let dir = tempfile::tempdir().unwrap();
    let spec = FixtureSpec {
        objects: 2,
        versions: 2,
        mix: Mix {
            plain: 1,
            sse_s3: 0,
            sse_kms: 0,
            sse_c: 0,
        },
        ..FixtureSpec::default()
    };
    build_with_sizes(
        &dir.path().join("fx"),
        &spec,
        engine::fixture::FixtureKms::Default,
        &[],
    )
    .unwrap();
    let roots: Vec<PathBuf> = (1..=4)
        .map(|i| dir.path().join(format!("fx/drive{i}")))
        .collect();
    let roots: Vec<&Path> = roots.iter().map(PathBuf::as_path).collect();
    assert!(bucket_versioned(&roots, "fixture").unwrap());
}

#[test]
fn compressed_objects_keep_actual_sizes_and_encrypt_their_index() {
    // MinIO compresses before it encrypts: the stored bytes are encrypted as
    // they are, PartASizes / actual-size stay the uncompressed figures, and
    // each PartIdx is sealed under HMAC(OEK, "compression-index").
    let fx = fixture(4, 2, &[100 * KIB], None);
    let o = objects(&fx.manifest)[0];
    for r in &fx.roots {
        let p = r.join(&o.bucket).join(&o.object).join("xl.meta");
        let bytes = std::fs::read(&p).unwrap();
        let mut m = XlMeta::parse(&bytes).unwrap();
        m.edit_object(0, |obj| {
            obj.set_meta_sys("X-Minio-Internal-compression", b"klauspost/compress/s2");
            obj.set_meta_sys("X-Minio-Internal-actual-size", b"200000");
            obj.part_actual_sizes = Some(vec![200_000]);
            obj.part_indices = Some(vec![b"s2-index".to_vec().into()]);
            Ok(())
        })
        .unwrap();
        std::fs::write(&p, m.encode().unwrap()).unwrap();
    }
    let key = data_key();
    let plan = plan_for(&fx, o, &key, None, INLINE_BLOCK).unwrap();
    assert_eq!(plan.versions[0].sizes.actual, 200_000);
    apply(&plan);
    let metas = xl_metas(&fx, o);
    let x = XlMeta::parse(&metas[0]).unwrap();
    let obj = x.object(0).unwrap();
    assert_eq!(obj.part_actual_sizes, Some(vec![200_000]));
    assert_eq!(
        obj.meta_sys("X-Minio-Internal-actual-size"),
        Some(&b"200000"[..])
    );
    assert_eq!(obj.size as u64, dare::encrypted_size(100 * KIB).unwrap());
    let entries = CryptoEntries::from_sys(
        obj.meta_sys
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_bytes(), v.as_ref())),
    );
    let Classification::SseKms(sse) = entries.classify() else {
        panic!("not SSE-KMS");
    };
    let oek = sse.unseal(&key.plaintext, &o.bucket, &o.object).unwrap();
    let idx = &obj.part_indices.as_ref().unwrap()[0];
    assert_ne!(idx.as_ref(), b"s2-index");
    assert_eq!(
        dare::decrypt(&oek.compression_index_key(), idx).unwrap(),
        b"s2-index"
    );
    // The stored (here: uncompressed) bytes decrypt under the OEK.
    let roots: Vec<Option<&Path>> = fx.roots.iter().map(|r| Some(r.as_path())).collect();
    let v = locate_version(&roots, &o.bucket, &o.object, [0; 16]).unwrap();
    let mut stored = Vec::new();
    read_object(&v.layout, &v.locations, &mut stored).unwrap();
    let plain = dare::decrypt(oek.data_key(), &stored).unwrap();
    assert_eq!(hex::encode(Sha256::digest(&plain)), o.plaintext_sha256);
}
