//! SSE metadata as stored in a version's `MetaSys`.
//!
//! The input is a list of `key index ‖ length ‖ value` records (the index
//! picks one of the crypto keys MinIO writes, or another key; the value is
//! any bytes). Classification and parsing never panic; whatever parses as a
//! type re-emits (as MinIO's `CreateMetadata` would write it) to entries
//! that parse back to the same sealed key, KMS binding, context and
//! multipart flag; unsealing with a wrong key fails cleanly. The whole
//! input is also read as a stored ETag and as a stored IV.

#![no_main]

use engine::sse::etag::StoredEtag;
use engine::sse::metadata::{
    sealed_key_entries, CRYPTO_KEYS, META_ACTUAL_SIZE, META_MULTIPART,
};
use engine::sse::{CryptoEntries, Domain, Iv, SealAlgorithm, SseType};
use kms_client::PlaintextKey;
use libfuzzer_sys::fuzz_target;

/// The keys the input picks from: every encryption key, the actual size,
/// and one MinIO does not know.
const KEYS: [&str; CRYPTO_KEYS.len() + 2] = {
    let mut keys = [META_ACTUAL_SIZE; CRYPTO_KEYS.len() + 2];
    let mut i = 0;
    while i < CRYPTO_KEYS.len() {
        keys[i] = CRYPTO_KEYS[i];
        i += 1;
    }
    keys[i + 1] = "X-Minio-Internal-Server-Side-Encryption-Unknown";
    keys
};

fuzz_target!(|data: &[u8]| {
    let mut sys: Vec<(&str, &[u8])> = Vec::new();
    let mut rest = data;
    while let [idx, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        sys.push((KEYS[usize::from(*idx) % KEYS.len()], &tail[..n]));
        rest = &tail[n..];
    }
    let entries = CryptoEntries::from_sys(sys.iter().copied());
    let _ = entries.classify();
    for ty in [SseType::S3, SseType::Kms, SseType::C] {
        let Ok(p) = entries.parse(ty) else { continue };
        let _ = p.kms_context("bucket", "a/b");
        let domain = match ty {
            SseType::S3 => Domain::SseS3,
            SseType::Kms => Domain::SseKms,
            SseType::C => Domain::SseC,
        };
        assert!(p
            .sealed
            .unseal(&PlaintextKey::new([3; 32]), domain, "bucket", "a/b")
            .is_err());
        if p.sealed.algorithm() != SealAlgorithm::DareV2HmacSha256 {
            continue;
        }
        let kms = p.kms.as_ref().map(|k| (&k.key_id, k.ciphertext.as_slice()));
        let mut again =
            sealed_key_entries(ty, &p.sealed, kms, p.context.as_ref()).expect("re-emit");
        if p.multipart {
            again.push((META_MULTIPART, Vec::new()));
        }
        let q = CryptoEntries::from_sys(again.iter().map(|(k, v)| (k.as_bytes(), v)))
            .parse(ty)
            .expect("re-emitted metadata parses");
        assert_eq!(q.ty, p.ty);
        assert!(q.sealed == p.sealed, "sealed key changed");
        assert_eq!(q.kms, p.kms);
        assert_eq!(q.context.unwrap_or_default(), p.context.unwrap_or_default());
        assert_eq!(q.multipart, p.multipart);
    }

    let text = String::from_utf8_lossy(data);
    if let Ok(StoredEtag::Plain(b) | StoredEtag::Sealed(b)) = StoredEtag::parse(&text) {
        assert_eq!(hex::encode(b), text.to_ascii_lowercase());
    }
    if let Some(iv) = Iv::from_base64(data) {
        assert_eq!(Iv::from_base64(iv.to_base64().as_bytes()), Some(iv));
    }
});
