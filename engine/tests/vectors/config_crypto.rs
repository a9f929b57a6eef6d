//! `…config_crypto.json`: `EncryptBytes` config blobs (header JSON, sio-go
//! stream, contexts) and bucket-target encryption, byte-exact from the
//! recorded randomness, plus decryption through the same in-test KMS.

use std::path::Path;

use engine::sse::config::{
    bucket_targets_context, config_context, config_context_legacy, decrypt_bucket_targets,
    decrypt_config_with_kms, encrypt_bucket_targets, encrypt_config, parse_bucket_targets_meta,
    reencrypt_bucket_targets_with_kms, ConfigBlob,
};
use engine::sse::ReplayRandom;
use kms_client::Kms;

use super::sse_support::{context_of, h, load, s, sha256_hex, u, SharedRandom, StaticKms};

pub fn check(path: &Path) {
    let v = load(path);
    let objects = v["config_objects"].as_array().expect("config_objects");
    assert!(!objects.is_empty());
    let mut secret = None;
    for c in objects {
        let obj = s(c, "object_path");
        let size = usize::try_from(u(c, "plaintext_size")).unwrap();
        let shown = s(c, "plaintext");
        let plaintext: Vec<u8> = if c.get("plaintext_rule").is_some() {
            // "the JSON snippet shown, repeated 3000 times"
            let snippet = &shown.as_bytes()[..size / 3000];
            snippet.repeat(3000)
        } else {
            shown.as_bytes().to_vec()
        };
        assert_eq!(plaintext.len(), size);
        assert_eq!(
            sha256_hex(&plaintext),
            s(c, "plaintext_sha256"),
            "{obj}: plaintext"
        );
        let ctx = config_context(obj);
        assert_eq!(ctx, context_of(&c["context"]));
        assert_eq!(
            String::from_utf8(ctx.to_canonical_json()).unwrap(),
            s(c, "associated_data")
        );

        let rng = SharedRandom::new(h(c, "random_consumed_hex"));
        let kms = StaticKms::new(s(c, "kms_secret_key"), rng.clone());
        secret = Some(s(c, "kms_secret_key").to_owned());
        let dek = kms.generate_key(kms.default_key(), &ctx).unwrap();
        let blob = encrypt_config(&dek, &plaintext, &mut rng.clone()).unwrap();
        assert_eq!(rng.remaining(), 0, "{obj}: randomness left over");
        assert_eq!(blob.len() as u64, u(c, "ciphertext_size"), "{obj}");
        assert_eq!(sha256_hex(&blob), s(c, "ciphertext_sha256"), "{obj}");
        if let Some(hex_ct) = c.get("ciphertext_hex").and_then(|x| x.as_str()) {
            assert_eq!(hex::encode(&blob), hex_ct, "{obj}");
        }
        let json = s(c, "header_and_json");
        assert_eq!(blob[0], 1);
        assert_eq!(
            u32::from_le_bytes(blob[1..5].try_into().unwrap()) as usize,
            json.len()
        );
        assert_eq!(
            &blob[5..5 + json.len()],
            json.as_bytes(),
            "{obj}: header JSON"
        );

        assert!(c["decrypt_ok"].as_bool().unwrap());
        assert_eq!(
            decrypt_config_with_kms(&kms, obj, &blob).unwrap().expose(),
            plaintext,
            "{obj}: decrypt"
        );
        // The bare-path context does not open a blob written with the full path.
        assert!(!s(c, "decrypt_with_context_without_bucket_prefix_err").is_empty());
        let parsed = ConfigBlob::parse(&blob).unwrap();
        assert!(kms
            .decrypt(
                &parsed.header.key_id,
                &parsed.header.kms_ciphertext,
                &config_context_legacy(obj)
            )
            .is_err());
    }

    let secret = secret.expect("a static key");
    for c in v["bucket_targets"].as_array().expect("bucket_targets") {
        let bucket = s(c, "bucket");
        let ctx = bucket_targets_context(bucket);
        assert_eq!(ctx, context_of(&c["kms_context"]));
        assert_eq!(
            String::from_utf8(ctx.to_canonical_json()).unwrap(),
            s(c, "associated_data")
        );
        let rng = SharedRandom::new(h(c, "random_consumed_hex"));
        let kms = StaticKms::new(&secret, rng.clone());
        let dek = kms.generate_key(kms.default_key(), &ctx).unwrap();
        let plaintext = s(c, "plaintext").as_bytes();
        let enc = encrypt_bucket_targets(bucket, &dek, plaintext, &mut rng.clone()).unwrap();
        assert_eq!(rng.remaining(), 0, "{bucket}: randomness left over");
        assert_eq!(
            hex::encode(&enc.data),
            s(c, "encrypted_hex"),
            "{bucket}: BucketTargetsConfigJSON"
        );
        assert_eq!(
            String::from_utf8(enc.meta_json.clone()).unwrap(),
            s(c, "meta_json"),
            "{bucket}: MetaJSON"
        );

        assert!(c["decrypt_ok"].as_bool().unwrap());
        let meta = parse_bucket_targets_meta(s(c, "meta_json").as_bytes()).unwrap();
        let req = meta.kms.as_ref().unwrap();
        let dek2 = kms.decrypt(&req.key_id, &req.ciphertext, &ctx).unwrap();
        assert_eq!(
            decrypt_bucket_targets(bucket, &meta, &dek2, &h(c, "encrypted_hex"))
                .unwrap()
                .expose(),
            plaintext
        );
        assert!(
            decrypt_bucket_targets("otherbucket", &meta, &dek2, &h(c, "encrypted_hex")).is_err()
        );

        // Re-encryption under a fresh DEK decrypts to the same targets.
        let again = reencrypt_bucket_targets_with_kms(
            &StaticKms::new(&secret, SharedRandom::new(vec![0x77; 28 + 32])),
            bucket,
            &h(c, "encrypted_hex"),
            s(c, "meta_json").as_bytes(),
            &mut ReplayRandom::new(vec![0x66; 32 + 32 + 12 + 12]),
        )
        .unwrap();
        assert_ne!(again.data, h(c, "encrypted_hex"));
        let meta2 = parse_bucket_targets_meta(&again.meta_json).unwrap();
        let b2 = meta2.kms.as_ref().unwrap();
        let dek3 = kms.decrypt(&b2.key_id, &b2.ciphertext, &ctx).unwrap();
        assert_eq!(
            decrypt_bucket_targets(bucket, &meta2, &dek3, &again.data)
                .unwrap()
                .expose(),
            plaintext
        );
    }
}
