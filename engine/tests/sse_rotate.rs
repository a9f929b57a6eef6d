//! The job's actions end to end through a static-key KMS: rotate SSE-KMS
//! (job context / stored context / bucket-named context key), convert SSE-S3
//! to SSE-KMS (ETag kept for clients, stale context dropped), encrypt a
//! plaintext version (single part and multipart, checksum), and refusals
//! that must leave nothing half-done.

#[path = "vectors/sse_support.rs"]
mod sse_support;

use std::collections::BTreeMap;

use engine::sse::etag::{seal_etag, StoredEtag};
use engine::sse::metadata::{
    object_kms_context, sealed_key_entries, META_CONTEXT, META_CRC, META_MULTIPART,
    META_SEALED_KEY_KMS, META_SEALED_KEY_S3, USR_ETAG,
};
use engine::sse::rotate::{
    encrypt_plaintext_with_kms, kms_generate_request, reseal_kms, rewrap_with_kms,
};
use engine::sse::{
    dare, CipherSuite, Classification, CryptoEntries, Iv, ObjectKey, ParsedSse, ReplayRandom,
    SseError, SseType,
};
use kms_client::{Context, KeyId, Kms};
use sse_support::{SharedRandom, StaticKms};

const OLD: &str = "old-key:RToXnzpt60mYKPmjlLuYvGc3G+yh9PsKVciexzqttzM=";
const NEW: &str = "new-key:P03yBg4rb4/0UWNeyO2kmNlEJ546ucW0mq0XioXaf+g=";
const MD5: [u8; 16] = [0x9e; 16];

/// A KMS that knows both the old and the new key (a rotation needs both,
/// CRYPTO.md §10.14), routing by key name.
struct Both<'a>(&'a StaticKms, &'a StaticKms);

impl Kms for Both<'_> {
    fn default_key(&self) -> &KeyId {
        self.1.default_key()
    }

    fn generate_key(
        &self,
        key: &KeyId,
        context: &Context,
    ) -> Result<kms_client::DataKey, kms_client::KmsError> {
        self.pick(key).generate_key(key, context)
    }

    fn decrypt(
        &self,
        key: &KeyId,
        ct: &[u8],
        context: &Context,
    ) -> Result<kms_client::PlaintextKey, kms_client::KmsError> {
        self.pick(key).decrypt(key, ct, context)
    }
}

impl Both<'_> {
    fn pick(&self, key: &KeyId) -> &StaticKms {
        if key == self.0.default_key() {
            self.0
        } else {
            self.1
        }
    }
}

/// Deterministic bytes standing in for the CSPRNG.
fn rng(seed: u8) -> SharedRandom {
    SharedRandom::new(
        (0..4096u32)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed)
            .collect(),
    )
}

struct Object {
    sys: BTreeMap<String, Vec<u8>>,
    usr: BTreeMap<String, String>,
    oek: ObjectKey,
}

/// Writes an object the way MinIO's PUT does (sealed ETag included).
fn put(kms: &StaticKms, ty: SseType, bucket: &str, object: &str, user: Option<&Context>) -> Object {
    let aad = object_kms_context(if ty == SseType::Kms { user } else { None }, bucket, object);
    let dek = kms.generate_key(kms.default_key(), &aad).unwrap();
    let mut r = rng(7);
    let oek = ObjectKey::generate(&dek.plaintext, &mut r).unwrap();
    let iv = Iv::generate(&mut r).unwrap();
    let sealed = oek
        .seal(&dek.plaintext, iv, ty.domain(), bucket, object, &mut r)
        .unwrap();
    let sys = sealed_key_entries(ty, &sealed, Some((&dek.key_id, &dek.ciphertext)), user)
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let etag = hex::encode(seal_etag(&oek, &MD5, &mut r).unwrap());
    Object {
        sys,
        usr: BTreeMap::from([(USR_ETAG.to_owned(), etag)]),
        oek,
    }
}

fn parse(sys: &BTreeMap<String, Vec<u8>>) -> ParsedSse {
    match CryptoEntries::from_sys(sys.iter().map(|(k, v)| (k.as_str(), v.as_slice()))).classify() {
        Classification::SseS3(p) | Classification::SseKms(p) => p,
        other => panic!("{other:?}"),
    }
}

/// Opens the object's key through `kms` and returns it.
fn open(kms: &StaticKms, sys: &BTreeMap<String, Vec<u8>>, bucket: &str, object: &str) -> ObjectKey {
    let p = parse(sys);
    let req = p.unwrap_request(bucket, object).unwrap();
    let dek = kms
        .decrypt(&req.key_id, &req.ciphertext, &req.context)
        .unwrap();
    p.unseal(&dek, bucket, object).unwrap()
}

#[test]
fn rotate_sse_kms_keeps_or_replaces_the_context() {
    let old = StaticKms::new(OLD, rng(1));
    let new = StaticKms::new(NEW, rng(2));
    let target = KeyId::new("new-key");
    let stored: Context = [("project", "alpha")].into_iter().collect();
    let job: Context = [("team", "ops"), ("b", "user-value")].into_iter().collect();
    for (job_ctx, want) in [(None, Some(&stored)), (Some(&job), Some(&job))] {
        let mut o = put(&old, SseType::Kms, "b", "dir/obj", Some(&stored));
        let before_etag = o.usr.clone();
        let p = parse(&o.sys);
        let changes = rewrap_with_kms(
            &Both(&old, &new),
            &p,
            "b",
            "dir/obj",
            Some(&o.usr[USR_ETAG]),
            &target,
            job_ctx,
            &mut rng(3),
        )
        .unwrap();
        changes.apply(&mut o.sys, &mut o.usr);
        assert_eq!(o.usr, before_etag, "rotation keeps the stored ETag");
        let after = parse(&o.sys);
        assert_eq!(after.ty, SseType::Kms);
        assert_eq!(after.context.as_ref(), want);
        assert_eq!(after.kms.as_ref().unwrap().key_id, target);
        assert_eq!(
            open(&new, &o.sys, "b", "dir/obj"),
            o.oek,
            "same OEK under the new key"
        );
        // With a user entry named like the bucket, that value is the AAD (not "b/dir/obj").
        let aad = after.kms_context("b", "dir/obj");
        if job_ctx.is_some() {
            assert_eq!(
                aad.to_canonical_json(),
                br#"{"b":"user-value","team":"ops"}"#
            );
        } else {
            assert_eq!(
                aad.to_canonical_json(),
                br#"{"b":"b/dir/obj","project":"alpha"}"#
            );
        }
        // The old KMS can no longer open it.
        let req = after.unwrap_request("b", "dir/obj").unwrap();
        assert!(old
            .decrypt(&req.key_id, &req.ciphertext, &req.context)
            .is_err());
    }
    // An empty job context removes the stored one.
    let mut o = put(&old, SseType::Kms, "b", "o", Some(&stored));
    let p = parse(&o.sys);
    let changes = rewrap_with_kms(
        &Both(&old, &new),
        &p,
        "b",
        "o",
        None,
        &target,
        Some(&Context::new()),
        &mut rng(3),
    )
    .unwrap();
    assert!(changes.sys_remove.iter().any(|k| k == META_CONTEXT));
    changes.apply(&mut o.sys, &mut o.usr);
    assert_eq!(parse(&o.sys).context, None);
    assert_eq!(open(&new, &o.sys, "b", "o"), o.oek);
}

#[test]
fn convert_sse_s3_to_sse_kms_keeps_the_client_etag() {
    let old = StaticKms::new(OLD, rng(1));
    let new = StaticKms::new(NEW, rng(2));
    let mut o = put(&old, SseType::S3, "photos", "2024/cat.png", None);
    // A stale context entry on an SSE-S3 object must not become AAD.
    o.sys
        .insert(META_CONTEXT.to_owned(), b"eyJ4IjoieSJ9".to_vec());
    let p = parse(&o.sys);
    assert_eq!(p.ty, SseType::S3);
    let stored = o.usr[USR_ETAG].clone();
    let changes = rewrap_with_kms(
        &Both(&old, &new),
        &p,
        "photos",
        "2024/cat.png",
        Some(&stored),
        &KeyId::new("new-key"),
        None,
        &mut rng(4),
    )
    .unwrap();
    changes.apply(&mut o.sys, &mut o.usr);
    assert!(!o.sys.contains_key(META_SEALED_KEY_S3));
    assert!(o.sys.contains_key(META_SEALED_KEY_KMS));
    assert!(!o.sys.contains_key(META_CONTEXT));
    assert_eq!(
        o.usr[USR_ETAG],
        hex::encode(MD5),
        "clients keep seeing the MD5"
    );
    let after = parse(&o.sys);
    assert_eq!(after.ty, SseType::Kms);
    assert_eq!(open(&new, &o.sys, "photos", "2024/cat.png"), o.oek);

    // Multipart and plain ETags stay as they are.
    for etag in [
        "916516b396f0f4d4f2a0e7177557bec4-12",
        "9e107d9d372bb6826bd81d3542a419d6",
    ] {
        let o = put(&old, SseType::S3, "photos", "x", None);
        let p = parse(&o.sys);
        let c = rewrap_with_kms(
            &Both(&old, &new),
            &p,
            "photos",
            "x",
            Some(etag),
            &KeyId::new("new-key"),
            None,
            &mut rng(4),
        )
        .unwrap();
        assert!(c.usr_set.is_empty(), "{etag}");
    }
}

#[test]
fn encrypt_plaintext_single_and_multipart() {
    let kms = StaticKms::new(NEW, rng(5));
    let target = KeyId::new("new-key");
    let ctx: Context = [("project", "alpha")].into_iter().collect();
    let data = b"The quick brown fox jumps over the lazy dog".repeat(4000);
    for multipart in [false, true] {
        let enc = encrypt_plaintext_with_kms(
            &kms,
            "b",
            "o",
            &target,
            Some(&ctx),
            multipart,
            Some(b"crc"),
            &mut rng(6),
        )
        .unwrap();
        let sys: BTreeMap<String, Vec<u8>> = enc.changes.sys_set.clone().into_iter().collect();
        assert_eq!(sys.contains_key(META_MULTIPART), multipart);
        let p = parse(&sys);
        assert_eq!(p.ty, SseType::Kms);
        assert_eq!(p.multipart, multipart);
        assert_eq!(p.context.as_ref(), Some(&ctx));
        let oek = open(&kms, &sys, "b", "o");
        assert_eq!(oek, enc.oek);
        assert_eq!(
            dare::decrypt(&oek.checksum_key(), &sys[META_CRC]).unwrap(),
            b"crc"
        );
        // Data under the right key: the OEK for one part, part keys by number otherwise.
        if multipart {
            for (n, part) in [(1u32, &data[..70_000]), (3, &data[70_000..])] {
                let ct = dare::encrypt(
                    &enc.oek.part_key(n),
                    CipherSuite::Aes256Gcm,
                    dare::multipart_random("upload", n),
                    part,
                )
                .unwrap();
                assert_eq!(dare::decrypt(&oek.part_key(n), &ct).unwrap(), part);
                assert!(dare::decrypt(oek.data_key(), &ct).is_err());
            }
        } else {
            let ct =
                dare::encrypt(enc.oek.data_key(), CipherSuite::Aes256Gcm, [1; 12], &data).unwrap();
            assert_eq!(dare::decrypt(oek.data_key(), &ct).unwrap(), data);
        }
        // The stored ETag is kept: no MetaUsr change.
        assert!(enc.changes.usr_set.is_empty());
        assert!(matches!(
            StoredEtag::parse("9e107d9d372bb6826bd81d3542a419d6"),
            Ok(StoredEtag::Plain(_))
        ));
    }
}

#[test]
fn refusals_leave_nothing_half_done() {
    let old = StaticKms::new(OLD, rng(1));
    let new = StaticKms::new(NEW, rng(2));
    let o = put(&old, SseType::Kms, "b", "o", None);
    let p = parse(&o.sys);
    // Wrong old DEK (e.g. a KMS that returned garbage): unseal fails, no changes.
    let wrong = kms_client::PlaintextKey::new([0; 32]);
    let dek = new
        .generate_key(
            &KeyId::new("new-key"),
            &kms_generate_request(&KeyId::new("new-key"), None, "b", "o").context,
        )
        .unwrap();
    assert!(matches!(
        reseal_kms(&p, "b", "o", &wrong, &dek, None, &mut rng(3)),
        Err(SseError::UnsealFailed)
    ));
    // The object was renamed: its sealed key is bound to the old name.
    assert!(rewrap_with_kms(
        &old,
        &p,
        "b",
        "renamed",
        None,
        &KeyId::new("old-key"),
        None,
        &mut rng(3)
    )
    .is_err());
    // A target key the KMS does not have: permanent, not retried.
    let err = rewrap_with_kms(
        &Both(&old, &new),
        &p,
        "b",
        "o",
        None,
        &KeyId::new("nope"),
        None,
        &mut rng(3),
    )
    .unwrap_err();
    assert!(matches!(err, SseError::Kms(_)) && !err.is_transient());
    assert!(SseError::Kms(kms_client::KmsError::Transient("503".into())).is_transient());
    // Out of randomness: an error, not a panic.
    let mut empty = ReplayRandom::new(Vec::new());
    assert!(matches!(
        reseal_kms(
            &p,
            "b",
            "o",
            &old.decrypt(
                &p.kms.as_ref().unwrap().key_id,
                &p.kms.as_ref().unwrap().ciphertext,
                &p.kms_context("b", "o")
            )
            .unwrap(),
            &dek,
            None,
            &mut empty
        ),
        Err(SseError::Random(_))
    ));
}
