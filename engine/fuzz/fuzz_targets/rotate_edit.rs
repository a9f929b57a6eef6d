//! The metadata edit a rotation commits, on arbitrary `xl.meta` bytes: for
//! the first object version, replace its SSE entries with new SSE-KMS ones
//! through the engine's own edit (`run::object::apply_changes`), re-encode
//! and re-decode. The result must verify, keep every other version's
//! header, and parse back to exactly the new sealed key, key id, context
//! and user metadata.

#![no_main]

use engine::run::object::apply_changes;
use engine::sse::metadata::{
    sealed_key_entries, META_CONTEXT, META_SEALED_KEY_S3, META_SEALED_KEY_SSEC,
};
use engine::sse::{Changes, CryptoEntries, Iv, SealAlgorithm, SealedKey, SseType};
use kms_client::{Context, KeyId};
use libfuzzer_sys::fuzz_target;
use xlmeta::XlMeta;

fuzz_target!(|data: &[u8]| {
    let Ok(xl) = XlMeta::parse(data) else { return };
    let Some(i) = (0..xl.versions().len()).find(|&i| xl.object(i).is_ok()) else {
        return;
    };

    let sealed = SealedKey::from_parts(
        Iv::new([5; 32]),
        SealAlgorithm::DareV2HmacSha256,
        [6; engine::sse::keys::SEALED_LEN],
    );
    let key = KeyId::new("rotated-key");
    let mut ctx = Context::new();
    ctx.insert("project", "fuzz");
    let mut changes = Changes::default();
    for name in [META_SEALED_KEY_S3, META_SEALED_KEY_SSEC, META_CONTEXT] {
        changes.remove_sys(name);
    }
    let entries = sealed_key_entries(SseType::Kms, &sealed, Some((&key, b"dek-ct")), Some(&ctx))
        .expect("entries");
    for (k, v) in entries {
        changes.set_sys(k, v);
    }
    changes.set_usr("X-Amz-Meta-Fuzz", "rotated");

    let mut edited = xl.clone();
    if apply_changes(&mut edited, i, &changes).is_err() {
        return;
    }
    let out = edited.encode().expect("encode after a rotation edit");
    let back = XlMeta::parse(&out).expect("edited file decodes");
    back.verify_crc().expect("edited CRC");
    assert_eq!(back.versions().len(), xl.versions().len());
    for (j, (a, b)) in xl.versions().iter().zip(back.versions()).enumerate() {
        if j != i {
            assert_eq!(a.header(), b.header(), "version {j} changed");
        }
    }
    let obj = back.object(i).expect("edited object");
    let p = CryptoEntries::from_sys(
        obj.meta_sys
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_bytes(), v.as_ref())),
    )
    .parse(SseType::Kms)
    .expect("rotated metadata parses as SSE-KMS");
    assert!(p.sealed == sealed, "sealed key");
    let kms = p.kms.expect("KMS binding");
    assert_eq!(kms.key_id, key);
    assert_eq!(kms.ciphertext, b"dek-ct");
    assert_eq!(p.context, Some(ctx));
    assert_eq!(obj.meta_usr("X-Amz-Meta-Fuzz"), Some("rotated"));
});
