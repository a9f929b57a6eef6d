//! `…sse_metadata.json`: the crypto metadata MinIO's PUT path writes for
//! SSE-S3, SSE-KMS (with and without context), SSE-C and multipart, rebuilt
//! byte-exact from the recorded randomness; classification and the reader
//! path; and MinIO's recorded rotation to a second static key.

use std::collections::BTreeMap;
use std::path::Path;

use engine::sse::etag::seal_etag;
use engine::sse::metadata::{object_kms_context, sealed_key_entries, META_MULTIPART};
use engine::sse::rotate::{reseal_kms, reseal_s3};
use engine::sse::{Classification, CryptoEntries, Iv, ObjectKey, ReplayRandom, SseType};
use kms_client::{Context, KeyId, Kms, PlaintextKey};
use serde_json::Value;

use super::sse_support::{arr, context_of, h, load, s, SharedRandom, StaticKms};

fn meta_map(v: &Value) -> BTreeMap<String, Vec<u8>> {
    v.as_array()
        .expect("metadata pairs")
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_owned(),
                p[1].as_str().unwrap().as_bytes().to_vec(),
            )
        })
        .collect()
}

pub fn check(path: &Path) {
    let v = load(path);
    let cases = v["cases"].as_array().expect("cases");
    assert!(!cases.is_empty());
    for c in cases {
        let kind = s(c, "kind");
        let (bucket, object) = (s(c, "bucket"), s(c, "object"));
        let label = format!("{kind} {bucket}/{object}");
        let ty = if kind.starts_with("SSE-S3") {
            SseType::S3
        } else if kind.starts_with("SSE-KMS") {
            SseType::Kms
        } else {
            SseType::C
        };
        let multipart = kind.ends_with("-multipart");
        let user = c.get("user_kms_context").map(context_of);
        let rng = SharedRandom::new(h(c, "random_consumed_hex"));
        let kms = StaticKms::new(s(c, "kms_secret_key"), rng.clone());

        // PUT: DEK (SSE-S3/KMS) or client key (SSE-C), then OEK, IV, seal.
        let (ext, binding) = if ty == SseType::C {
            (PlaintextKey::new(arr(c, "ssec_client_key_hex")), None)
        } else {
            let requested = s(c, "kms_key_id_requested");
            let key = if requested.is_empty() {
                kms.default_key().clone()
            } else {
                KeyId::new(requested)
            };
            let aad = object_kms_context(user.as_ref(), bucket, object);
            let dek = kms.generate_key(&key, &aad).unwrap();
            (dek.plaintext.clone(), Some((dek.key_id, dek.ciphertext)))
        };
        let mut r = rng.clone();
        let oek = ObjectKey::generate(&ext, &mut r).unwrap();
        assert_eq!(hex::encode(oek.expose()), s(c, "object_key_hex"), "{label}");
        let iv = Iv::generate(&mut r).unwrap();
        let sealed = oek
            .seal(&ext, iv, ty.domain(), bucket, object, &mut r)
            .unwrap();
        assert_eq!(rng.remaining(), 0, "{label}: randomness left over");
        let mut built: BTreeMap<String, Vec<u8>> = sealed_key_entries(
            ty,
            &sealed,
            binding.as_ref().map(|(k, ct)| (k, ct.as_slice())),
            user.as_ref(),
        )
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        if multipart {
            built.insert(META_MULTIPART.to_owned(), Vec::new());
        }
        let expected = meta_map(&c["internal_metadata"]);
        assert_eq!(built, expected, "{label}: PUT metadata");

        let mut er = ReplayRandom::new(h(c, "etag_seal_random_hex"));
        let etag = seal_etag(&oek, &h(c, "plaintext_md5_hex"), &mut er).unwrap();
        assert_eq!(
            hex::encode(etag),
            s(c, "stored_etag"),
            "{label}: sealed ETag"
        );

        // Reader path: classify what MinIO stored and get the OEK back.
        let entries =
            CryptoEntries::from_sys(expected.iter().map(|(k, v)| (k.as_str(), v.as_slice())));
        assert_eq!(entries.is_multipart(), multipart);
        let parsed = match (entries.classify(), ty) {
            (Classification::SseS3(p), SseType::S3) | (Classification::SseKms(p), SseType::Kms) => {
                p
            }
            (Classification::SseC(Some(p)), SseType::C) => {
                assert!(c["unseal_ok"].as_bool().unwrap());
                assert_eq!(p.unseal(&ext, bucket, object).unwrap(), oek);
                continue;
            }
            (other, _) => panic!("{label}: classified as {other:?}"),
        };
        assert_eq!(parsed.context, user.filter(|u| !u.is_empty()));
        let req = parsed.unwrap_request(bucket, object).unwrap();
        let old_dek = kms
            .decrypt(&req.key_id, &req.ciphertext, &req.context)
            .unwrap();
        assert_eq!(
            parsed.unseal(&old_dek, bucket, object).unwrap(),
            oek,
            "{label}: unseal"
        );

        // MinIO's rotateKey: old key unwraps, new key wraps; SSE-S3 stays SSE-S3.
        let rot = &c["rotation"];
        assert_eq!(s(rot, "error"), "<nil>");
        let rrng = SharedRandom::new(h(rot, "random_consumed_hex"));
        let new_kms = StaticKms::new(s(rot, "new_kms_secret_key"), rrng.clone());
        let old_kms = StaticKms::new(s(rot, "old_kms_secret_key"), SharedRandom::new(Vec::new()));
        let old_dek = old_kms
            .decrypt(&req.key_id, &req.ciphertext, &req.context)
            .unwrap();
        let new_key = KeyId::new(s(rot, "new_key_id"));
        let mut r = rrng.clone();
        let changes = match ty {
            SseType::S3 => {
                let new_dek = new_kms
                    .generate_key(&new_key, &parsed.kms_context(bucket, object))
                    .unwrap();
                reseal_s3(&parsed, bucket, object, &old_dek, &new_dek, &mut r).unwrap()
            }
            _ => {
                let stored: Option<Context> = parsed.context.clone();
                let new_dek = new_kms
                    .generate_key(
                        &new_key,
                        &object_kms_context(stored.as_ref(), bucket, object),
                    )
                    .unwrap();
                reseal_kms(
                    &parsed,
                    bucket,
                    object,
                    &old_dek,
                    &new_dek,
                    stored.as_ref(),
                    &mut r,
                )
                .unwrap()
            }
        };
        assert_eq!(
            rrng.remaining(),
            0,
            "{label}: rotation randomness left over"
        );
        let mut sys = expected.clone();
        let mut usr = BTreeMap::new();
        changes.apply(&mut sys, &mut usr);
        assert!(
            usr.is_empty() && changes.usr_remove.is_empty(),
            "{label}: rotation touched MetaUsr"
        );
        assert_eq!(
            sys,
            meta_map(&rot["internal_metadata_after"]),
            "{label}: rotated metadata"
        );

        // The rotated metadata opens with the new KMS only.
        let after = CryptoEntries::from_sys(sys.iter().map(|(k, v)| (k.as_str(), v.as_slice())));
        let p2 = match after.classify() {
            Classification::SseS3(p) | Classification::SseKms(p) => p,
            other => panic!("{label}: rotated metadata classified as {other:?}"),
        };
        assert_eq!(p2.ty, ty);
        let req2 = p2.unwrap_request(bucket, object).unwrap();
        assert!(rot["unseal_with_new_kms_ok"].as_bool().unwrap());
        let new_dek = new_kms
            .decrypt(&req2.key_id, &req2.ciphertext, &req2.context)
            .unwrap();
        assert_eq!(p2.unseal(&new_dek, bucket, object).unwrap(), oek);
        assert!(old_kms
            .decrypt(&req2.key_id, &req2.ciphertext, &req2.context)
            .is_err());
    }
}
