//! Real MinIO data: the 1000 SSE-S3 objects of `testdata/minio/decryptObjectInfo.json.zst`
//! (written by MinIO in 2020 with the since-removed `MINIO_KMS_MASTER_KEY`
//! `my-minio-key:` + "change this password to a secret", CRYPTO.md §5.4).
//! Each version's metadata is parsed and classified, its DEK recovered with
//! the legacy construction (a DARE 2.0 package under `HMAC(master, key name ‖
//! canonical context)`, which also proves the context we compute is MinIO's),
//! and its object key unsealed: the AEAD tag authenticates every input.

use std::io::Read;
use std::path::Path;

use engine::sse::keys::SecretKey;
use engine::sse::{dare, Classification, CryptoEntries, ObjectKey};
use hmac::{Hmac, Mac};
use kms_client::PlaintextKey;
use sha2::Sha256;

const MASTER: &[u8; 32] = b"change this password to a secret";

#[test]
fn real_minio_sse_s3_objects_unseal() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/minio/decryptObjectInfo.json.zst");
    let file = std::fs::File::open(&path).unwrap();
    let mut json = Vec::new();
    ruzstd::decoding::StreamingDecoder::new(file)
        .unwrap()
        .read_to_end(&mut json)
        .unwrap();
    let records: Vec<serde_json::Value> = serde_json::from_slice(&json).unwrap();
    assert_eq!(records.len(), 1000);
    let mut oeks = std::collections::HashSet::new();
    for r in &records {
        let (bucket, name) = (r["Bucket"].as_str().unwrap(), r["Name"].as_str().unwrap());
        let user_def = r["UserDef"].as_object().unwrap();
        let entries = CryptoEntries::from_sys(
            user_def
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str().unwrap().as_bytes())),
        );
        let parsed = match entries.classify() {
            Classification::SseS3(p) => p,
            other => panic!("{bucket}/{name}: {other:?}"),
        };
        let req = parsed.unwrap_request(bucket, name).unwrap();
        assert_eq!(
            req.ciphertext.len(),
            64,
            "legacy master-key DEKs are one DARE package"
        );
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(MASTER).unwrap();
        mac.update(req.key_id.as_str().as_bytes());
        mac.update(&req.context.to_canonical_json());
        let kek = SecretKey::new(mac.finalize().into_bytes().into());
        let dek = dare::decrypt(&kek, &req.ciphertext)
            .unwrap_or_else(|e| panic!("{bucket}/{name}: DEK: {e}"));
        let dek = PlaintextKey::from_slice(&dek).unwrap();
        let oek: ObjectKey = parsed
            .unseal(&dek, bucket, name)
            .unwrap_or_else(|e| panic!("{bucket}/{name}: {e}"));
        // The key is bound to this object: another name fails.
        assert!(parsed
            .unseal(&dek, bucket, &format!("{name}.renamed"))
            .is_err());
        oeks.insert(*oek.expose());
    }
    assert_eq!(oeks.len(), 1000, "every object has its own key");
}
