//! `…object_keys.json`: OEK generation, seal/unseal in all three domains,
//! the legacy `DARE-SHA256` sealed key, part keys and sealed ETags.

use std::path::Path;

use engine::sse::etag::{is_etag_sealed, seal_etag, unseal_etag};
use engine::sse::{Domain, Iv, ObjectKey, ReplayRandom, SealAlgorithm, SealedKey, SseError};
use kms_client::PlaintextKey;

use super::sse_support::{arr, h, load, s, u};

fn domain(name: &str) -> Domain {
    match name {
        "SSE-S3" => Domain::SseS3,
        "SSE-KMS" => Domain::SseKms,
        "SSE-C" => Domain::SseC,
        other => panic!("unknown domain {other}"),
    }
}

pub fn check(path: &Path) {
    let v = load(path);
    let mut cases = 0;

    for c in v["generate_key"].as_array().expect("generate_key") {
        let ext = PlaintextKey::new(arr(c, "ext_key_hex"));
        let mut rng = ReplayRandom::new(h(c, "random_consumed_hex"));
        let oek = ObjectKey::generate(&ext, &mut rng).unwrap();
        assert_eq!(hex::encode(oek.expose()), s(c, "object_key_hex"));
        assert_eq!(rng.remaining(), 0);
        cases += 1;
    }

    for c in v["seal_unseal"].as_array().expect("seal_unseal") {
        let (bucket, object) = (s(c, "bucket"), s(c, "object"));
        let dom = domain(s(c, "domain"));
        let ext = PlaintextKey::new(arr(c, "ext_key_hex"));
        let mut rng = ReplayRandom::new(h(c, "random_consumed_hex"));
        let oek = ObjectKey::generate(&ext, &mut rng).unwrap();
        assert_eq!(hex::encode(oek.expose()), s(c, "object_key_hex"));
        let iv = Iv::generate(&mut rng).unwrap();
        assert_eq!(hex::encode(iv.as_bytes()), s(c, "iv_hex"));
        let sealed = oek.seal(&ext, iv, dom, bucket, object, &mut rng).unwrap();
        assert_eq!(
            rng.remaining(),
            0,
            "{bucket}/{object}: randomness left over"
        );
        assert_eq!(sealed.algorithm().as_str(), s(c, "seal_algorithm"));
        assert_eq!(
            hex::encode(sealed.sealed_bytes()),
            s(c, "sealed_key_hex"),
            "{dom} {bucket}/{object}"
        );
        assert_eq!(sealed.sealed_base64(), s(c, "sealed_key_b64"));
        assert!(c["unseal_ok"].as_bool().unwrap());
        assert_eq!(sealed.unseal(&ext, dom, bucket, object).unwrap(), oek);
        // MinIO: "The secret key does not match …" for another object name;
        // the same for any other binding input.
        assert!(!s(c, "unseal_other_object_error").is_empty());
        let other_dom = if dom == Domain::SseKms {
            Domain::SseS3
        } else {
            Domain::SseKms
        };
        for (d, b, o) in [
            (dom, bucket, "other"),
            (dom, "other", object),
            (other_dom, bucket, object),
        ] {
            assert!(
                matches!(sealed.unseal(&ext, d, b, o), Err(SseError::UnsealFailed)),
                "{d} {b}/{o}"
            );
        }
        let wrong = PlaintextKey::new([0x55; 32]);
        assert!(matches!(
            sealed.unseal(&wrong, dom, bucket, object),
            Err(SseError::UnsealFailed)
        ));
        cases += 1;
    }

    for c in v["legacy_insecure"].as_array().expect("legacy_insecure") {
        // Random layout: 32 (OEK nonce) + 32 (IV) + 8 (DARE 1.0 random).
        let ext = PlaintextKey::new(arr(c, "ext_key_hex"));
        let mut rng = ReplayRandom::new(h(c, "random_consumed_hex"));
        let oek = ObjectKey::generate(&ext, &mut rng).unwrap();
        assert_eq!(hex::encode(oek.expose()), s(c, "object_key_hex"));
        assert_eq!(
            SealAlgorithm::parse(s(c, "seal_algorithm").as_bytes()),
            Some(SealAlgorithm::DareSha256)
        );
        assert_eq!(u(c, "sealed_len"), 64);
        let sealed = SealedKey::from_parts(
            Iv::new(arr(c, "iv_hex")),
            SealAlgorithm::DareSha256,
            arr(c, "sealed_key_hex"),
        );
        // The DARE 1.0 package opens with SHA-256(ext ‖ IV) to the OEK (CRYPTO.md §2.2);
        // MinIO's Unseal reports `unseal_ok: false` for it (its sio buffer bug), and
        // keyrotate never touches such SSE-C objects either way.
        assert!(!c["unseal_ok"].as_bool().unwrap());
        assert_eq!(
            sealed.unseal(&ext, Domain::SseC, "any", "thing").unwrap(),
            oek
        );
        // Every bit of the DARE 1.0 package (header, sealed key, tag) and of
        // the IV is bound.
        for pos in 0..64 {
            for bit in 0..8 {
                let mut bad = arr::<64>(c, "sealed_key_hex");
                bad[pos] ^= 1 << bit;
                let tampered = SealedKey::from_parts(
                    Iv::new(arr(c, "iv_hex")),
                    SealAlgorithm::DareSha256,
                    bad,
                );
                assert!(
                    matches!(
                        tampered.unseal(&ext, Domain::SseC, "a", "b"),
                        Err(SseError::UnsealFailed)
                    ),
                    "legacy sealed key byte {pos} bit {bit}"
                );
            }
        }
        for pos in 0..32 {
            let mut iv = arr::<32>(c, "iv_hex");
            iv[pos] ^= 0x01;
            let tampered = SealedKey::from_parts(
                Iv::new(iv),
                SealAlgorithm::DareSha256,
                arr(c, "sealed_key_hex"),
            );
            assert!(
                matches!(
                    tampered.unseal(&ext, Domain::SseC, "a", "b"),
                    Err(SseError::UnsealFailed)
                ),
                "legacy IV byte {pos}"
            );
        }
        // The v2-only algorithm must refuse a DARE 1.0 package.
        let as_v2 = SealedKey::from_parts(
            Iv::new(arr(c, "iv_hex")),
            SealAlgorithm::DareV2HmacSha256,
            arr(c, "sealed_key_hex"),
        );
        assert!(as_v2.unseal(&ext, Domain::SseC, "a", "b").is_err());
        cases += 1;
    }

    for c in v["part_keys"].as_array().expect("part_keys") {
        let oek = ObjectKey::new(arr(c, "object_key_hex"));
        let part = u32::try_from(u(c, "part_id")).unwrap();
        assert_eq!(
            hex::encode(oek.part_key(part).expose()),
            s(c, "part_key_hex"),
            "part {part}"
        );
        cases += 1;
    }

    for c in v["etag_seal"].as_array().expect("etag_seal") {
        let oek = ObjectKey::new(arr(c, "object_key_hex"));
        if c.get("plaintext_md5_hex").is_none() {
            // Empty ETag: sealing returns it unchanged.
            assert_eq!(
                seal_etag(&oek, &[], &mut ReplayRandom::new(Vec::new())).unwrap(),
                h(c, "sealed_etag_hex")
            );
            cases += 1;
            continue;
        }
        let md5 = h(c, "plaintext_md5_hex");
        let mut rng = ReplayRandom::new(h(c, "random_consumed_hex"));
        let sealed = seal_etag(&oek, &md5, &mut rng).unwrap();
        assert_eq!(rng.remaining(), 0);
        assert_eq!(hex::encode(&sealed), s(c, "sealed_etag_hex"));
        assert_eq!(hex::encode(&sealed), s(c, "stored_etag_string"));
        assert_eq!(is_etag_sealed(&sealed), c["is_sealed"].as_bool().unwrap());
        assert_eq!(s(c, "unseal_err"), "<nil>");
        assert_eq!(
            hex::encode(unseal_etag(&oek, &sealed).unwrap()),
            s(c, "unsealed_hex")
        );
        cases += 1;
    }
    assert!(cases > 0, "{}: no cases", path.display());
}
