//! The upstream and worked-example cases of `testdata/crypto-vectors.json`
//! (a byte-identical copy of `shared/spec/crypto-vectors.json`, CRYPTO.md §9)
//! that concern `engine::sse`: sio's golden and invalid DARE packages (2.0
//! and 1.0), part keys, ETags, SSE-C and legacy unseals, metadata parsing,
//! and the spec's full worked examples (object, rotation, conversion,
//! multipart, checksum, config blob, bucket targets).
//!
//! Not covered here: KMS backends, KES/MinKMS wire formats, madmin (other
//! crates), and the `sio-go-stream` table, whose entries use AES-128-GCM and
//! XChaCha20-Poly1305, which MinIO's config encryption never writes (the
//! AES-256-GCM sio-go construction is checked byte-exact by `config_crypto.json`
//! and by `example-config-encrypt-*` below).

#[path = "vectors/sse_support.rs"]
mod sse_support;

use std::collections::BTreeMap;
use std::path::Path;

use engine::sse::config::{config_context, encrypt_bucket_targets, encrypt_config, ConfigBlob};
use engine::sse::dare::{self, decrypted_size, encrypted_size, Decryptor, Encryptor};
use engine::sse::etag::{is_etag_sealed, unseal_etag, StoredEtag};
use engine::sse::keys::path_join;
use engine::sse::metadata::{sealed_key_entries, Changes, META_MULTIPART};
use engine::sse::rotate::{kms_generate_request, reseal_kms, reseal_s3_to_kms};
use engine::sse::{
    CipherSuite, Classification, CryptoEntries, Domain, Iv, ObjectKey, ReplayRandom, SealAlgorithm,
    SealedKey, SecretKey, SseType,
};
use kms_client::{Context, KeyId, Kms, PlaintextKey};
use serde_json::Value;
use sse_support::{arr, context_of, h, s, sha256_hex, SharedRandom, StaticKms};

fn vectors() -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/crypto-vectors.json");
    sse_support::load(&path)["vectors"]
        .as_array()
        .expect("vectors")
        .clone()
}

fn by_kind(kind: &str) -> Vec<Value> {
    let v: Vec<Value> = vectors()
        .into_iter()
        .filter(|v| v["kind"] == kind)
        .collect();
    assert!(!v.is_empty(), "no vectors of kind {kind}");
    v
}

fn meta_of(v: &Value) -> BTreeMap<String, Vec<u8>> {
    v.as_object()
        .expect("metadata")
        .iter()
        .map(|(k, x)| (k.clone(), x.as_str().unwrap().as_bytes().to_vec()))
        .collect()
}

fn entries(m: &BTreeMap<String, Vec<u8>>) -> CryptoEntries {
    CryptoEntries::from_sys(m.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
}

fn domain(name: &str) -> Domain {
    match name {
        "SSE-S3" => Domain::SseS3,
        "SSE-KMS" => Domain::SseKms,
        "SSE-C" => Domain::SseC,
        other => panic!("unknown domain {other}"),
    }
}

/// Opens one package that must be package number `seq` of its stream.
fn open_one(key: &SecretKey, pkg: &[u8], seq: u32) -> Result<Vec<u8>, dare::DareError> {
    let mut dec = Decryptor::new(key).with_sequence(seq);
    let (header, rest) = pkg
        .split_first_chunk::<16>()
        .ok_or(dare::DareError::UnexpectedEof)?;
    let len = dec.check_header(header)?;
    if rest.len() != len + 16 {
        return Err(dare::DareError::InvalidPayloadSize);
    }
    let (payload, tag) = rest.split_at(len);
    let mut buf = payload.to_vec();
    dec.open(header, &mut buf, tag.try_into().unwrap())?;
    Ok(buf)
}

#[test]
fn dare_package_tables() {
    for v in by_kind("dare_package_table") {
        let id = s(&v, "id");
        let key = SecretKey::new(arr(&v["inputs"], "key_hex"));
        let packages = v["expected"]["packages_hex"].as_array().unwrap();
        if v["expected"]["all_fail"].as_bool() == Some(true) {
            for (i, p) in packages.iter().enumerate() {
                let pkg = hex::decode(p.as_str().unwrap()).unwrap();
                assert!(open_one(&key, &pkg, i as u32).is_err(), "{id}[{i}] opened");
            }
            continue;
        }
        let random = h(&v["inputs"], "random_hex");
        for (i, p) in packages.iter().enumerate() {
            let pkg = hex::decode(p.as_str().unwrap()).unwrap();
            let pt = vec![0u8; i + 1];
            let suite = if i % 2 == 0 {
                CipherSuite::Aes256Gcm
            } else {
                CipherSuite::ChaCha20Poly1305
            };
            assert_eq!(open_one(&key, &pkg, i as u32).unwrap(), pt, "{id}[{i}]");
            if random.len() == 12 {
                // DARE 2.0: we seal bit-exact (final package with sequence number i).
                let mut enc = Encryptor::new(&key, suite, random.clone().try_into().unwrap())
                    .with_sequence(i as u32);
                let mut buf = pt.clone();
                let (header, tag) = enc.seal(&mut buf, true).unwrap();
                assert_eq!([&header[..], &buf, &tag].concat(), pkg, "{id}[{i}] seal");
            } else {
                // DARE 1.0 is read-only; a 2.0-only reader refuses it.
                let mut dec = Decryptor::new_v2_only(&key).with_sequence(i as u32);
                assert!(dec.check_header(pkg[..16].try_into().unwrap()).is_err());
            }
            // Opening at the wrong sequence number fails.
            assert!(
                open_one(&key, &pkg, i as u32 + 1).is_err(),
                "{id}[{i}] wrong seq"
            );
        }
    }
}

#[test]
fn dare_streams_and_sizes() {
    for v in by_kind("dare_stream") {
        let (i, e) = (&v["inputs"], &v["expected"]);
        let key = SecretKey::new(arr(i, "key_hex"));
        let suite = CipherSuite::from_id(i["cipher"].as_u64().unwrap() as u8).unwrap();
        let n = i["plaintext_len"].as_u64().unwrap() as usize;
        let pt: Vec<u8> = (0..n).map(|k| (7 * k + 3) as u8).collect();
        let ct = dare::encrypt(&key, suite, arr(i, "random12_hex"), &pt).unwrap();
        assert_eq!(ct.len() as u64, e["ciphertext_len"].as_u64().unwrap());
        assert_eq!(sha256_hex(&ct), s(e, "ciphertext_sha256"));
        if let Some(last) = e.get("last_package_hex") {
            assert!(hex::encode(&ct).ends_with(last.as_str().unwrap()));
        }
        if let Some(headers) = e["package_headers_hex"].as_array() {
            for (k, hd) in headers.iter().enumerate() {
                assert_eq!(
                    hex::encode(&ct[k * 65568..k * 65568 + 16]),
                    hd.as_str().unwrap()
                );
            }
        }
        assert_eq!(dare::decrypt(&key, &ct).unwrap(), pt);
    }
    let v = &by_kind("dare_sizes")[0];
    let sizes = v["inputs"]["plaintext_sizes"].as_array().unwrap();
    let enc = v["expected"]["encrypted_sizes"].as_array().unwrap();
    for (p, e) in sizes.iter().zip(enc) {
        let (p, e) = (p.as_u64().unwrap(), e.as_u64().unwrap());
        assert_eq!(encrypted_size(p), Some(e));
        assert_eq!(decrypted_size(e).unwrap(), p);
    }
    for bad in v["expected"]["invalid_encrypted_sizes_examples"]
        .as_array()
        .unwrap()
    {
        assert!(decrypted_size(bad.as_u64().unwrap()).is_err(), "{bad}");
    }
}

#[test]
fn part_keys_and_etags() {
    for v in by_kind("derive_part_key") {
        let oek = ObjectKey::new(arr(&v["inputs"], "oek_hex"));
        let n = v["inputs"]["part_number"].as_u64().unwrap() as u32;
        assert_eq!(
            hex::encode(oek.part_key(n).expose()),
            s(&v["expected"], "part_key_hex")
        );
    }
    for v in by_kind("unseal_etag") {
        let oek = ObjectKey::new(arr(&v["inputs"], "oek_hex"));
        let stored = s(&v["inputs"], "stored_etag");
        let got = StoredEtag::parse(stored).and_then(|e| match e {
            StoredEtag::Sealed(bin) => unseal_etag(&oek, &bin),
            other => panic!("{other:?}"),
        });
        match v["expected"].get("etag") {
            Some(want) => {
                assert_eq!(hex::encode(got.unwrap()), want.as_str().unwrap());
                assert_eq!(
                    hex::encode(oek.etag_key().expose()),
                    s(&v["expected"], "etag_key_hex")
                );
            }
            None => assert!(got.is_err(), "{}", s(&v, "id")),
        }
    }
    for v in by_kind("decrypt_etag_dash_rule") {
        let stored = s(&v["inputs"], "stored_etag");
        match v["expected"].get("etag") {
            Some(_) => assert_eq!(StoredEtag::parse(stored).unwrap(), StoredEtag::Multipart),
            None => assert!(StoredEtag::parse(stored).is_err(), "{stored}"),
        }
    }
    for v in by_kind("is_etag_sealed") {
        assert_eq!(
            is_etag_sealed(&h(&v["inputs"], "etag_hex")),
            v["expected"]["sealed"].as_bool().unwrap()
        );
    }
}

#[test]
fn object_key_seal_and_unseal() {
    for v in by_kind("unseal_object_key") {
        let (i, e) = (&v["inputs"], &v["expected"]);
        if let Some(md) = i.get("metadata") {
            let ext = PlaintextKey::from_slice(&base64_decode(s(i, "ext_key_b64"))).unwrap();
            let parsed = match entries(&meta_of(md)).classify() {
                Classification::SseC(Some(p)) => p,
                other => panic!("{other:?}"),
            };
            assert_eq!(domain(s(i, "domain")), Domain::SseC);
            let got = parsed.unseal(&ext, s(i, "bucket"), s(i, "object"));
            match e.get("oek_hex") {
                Some(oek) => assert_eq!(hex::encode(got.unwrap().expose()), oek.as_str().unwrap()),
                None => assert!(got.is_err()),
            }
        } else {
            let ext = PlaintextKey::new(arr(i, "ext_key_hex"));
            let sealed = SealedKey::from_parts(
                Iv::new(arr(i, "iv_hex")),
                SealAlgorithm::DareSha256,
                arr(i, "sealed_key_hex"),
            );
            assert_eq!(
                hex::encode(sealed.unseal(&ext, Domain::SseC, "", "").unwrap().expose()),
                s(e, "oek_hex")
            );
        }
    }
    for v in by_kind("seal_object_key") {
        let (i, e) = (&v["inputs"], &v["expected"]);
        let ext = PlaintextKey::new(arr(i, "ext_key_hex"));
        let mut rng =
            ReplayRandom::new([h(i, "oek_nonce32_hex"), h(i, "dare_random12_hex")].concat());
        let oek = ObjectKey::generate(&ext, &mut rng).unwrap();
        assert_eq!(hex::encode(oek.expose()), s(e, "oek_hex"));
        let (b, o, d) = (s(i, "bucket"), s(i, "object"), domain(s(i, "domain")));
        let sealed = oek
            .seal(&ext, Iv::new(arr(i, "iv_hex")), d, b, o, &mut rng)
            .unwrap();
        assert_eq!(hex::encode(sealed.sealed_bytes()), s(e, "sealed_key_hex"));
        assert!(sealed.unseal(&ext, Domain::SseS3, b, o).is_err());
        assert!(sealed.unseal(&ext, d, "Bucket", o).is_err());
        assert!(sealed.unseal(&ext, d, b, "Object").is_err());
        assert_eq!(sealed.unseal(&ext, d, b, o).unwrap(), oek);
    }
    for v in by_kind("legacy_master_key_sse_s3") {
        // The DEK comes from a removed KMS format; given it, the OEK unseals.
        let (i, e) = (&v["inputs"], &v["expected"]);
        let parsed = match entries(&meta_of(&i["metadata"])).classify() {
            Classification::SseS3(p) => p,
            other => panic!("{other:?}"),
        };
        let req = parsed
            .unwrap_request(s(i, "bucket"), s(i, "object"))
            .unwrap();
        assert_eq!(
            String::from_utf8(req.context.to_canonical_json()).unwrap(),
            s(i, "context_json")
        );
        let dek = PlaintextKey::new(arr(e, "dek_hex"));
        assert_eq!(
            hex::encode(
                parsed
                    .unseal(&dek, s(i, "bucket"), s(i, "object"))
                    .unwrap()
                    .expose()
            ),
            s(e, "oek_hex")
        );
    }
    for v in by_kind("seal_path") {
        assert_eq!(
            path_join(s(&v["inputs"], "bucket"), s(&v["inputs"], "object")),
            s(&v["expected"], "path")
        );
    }
    for v in by_kind("kms_context_json") {
        let ctx = context_of(&v["inputs"]["context"]);
        assert_eq!(
            hex::encode(ctx.to_canonical_json()),
            s(&v["expected"], "json_hex"),
            "{}",
            s(&v, "id")
        );
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

#[test]
fn metadata_parsing_and_classification() {
    for v in by_kind("metadata_classification") {
        for row in v["expected"]["rows"].as_array().unwrap() {
            let e = entries(&meta_of(&row["metadata"]));
            if let Some(mp) = row.get("multipart") {
                assert_eq!(e.is_multipart(), mp.as_bool().unwrap(), "{row}");
                continue;
            }
            let c = e.classify();
            let encrypted = !matches!(c, Classification::Plaintext);
            assert_eq!(encrypted, row["is_encrypted"].as_bool().unwrap(), "{row}");
            if row.get("is_sse_s3").and_then(Value::as_bool) == Some(true) {
                // Present but empty values: SSE-S3 marker with unusable metadata.
                assert!(matches!(c, Classification::Tampered(_)), "{row}");
                assert!(e.parse(SseType::S3).is_err());
            }
            if row.get("is_sse_c").and_then(Value::as_bool) == Some(true) {
                assert!(matches!(c, Classification::SseC(None)), "{row}");
            }
        }
    }
    for v in by_kind("sse_s3_parse_metadata") {
        if let Some(cases) = v["inputs"].get("cases") {
            for c in cases.as_array().unwrap() {
                let got = entries(&meta_of(&c["metadata"])).parse(SseType::S3);
                let Some(msg) = c["error"].as_str() else {
                    assert!(got.is_ok(), "{c}");
                    continue;
                };
                let err = format!("{:?}", got.expect_err(msg));
                let want = [
                    ("missing the internal encryption IV", "MissingMeta(\"X-Minio-Internal-Server-Side-Encryption-Iv\")"),
                    ("missing the internal seal algorithm", "MissingMeta(\"X-Minio-Internal-Server-Side-Encryption-Seal-Algorithm\")"),
                    ("missing the internal sealed key", "MissingMeta(\"X-Minio-Internal-Server-Side-Encryption-S3-Sealed-Key\")"),
                    ("missing the internal KMS key-ID", "MissingMeta(\"X-Minio-Internal-Server-Side-Encryption-S3-Kms-Key-Id\")"),
                    ("missing the internal sealed KMS data key", "MissingMeta(\"X-Minio-Internal-Server-Side-Encryption-S3-Kms-Sealed-Key\")"),
                    ("IV is malformed", "InvalidMeta(\"X-Minio-Internal-Server-Side-Encryption-Iv\")"),
                    ("seal algorithm is invalid", "InvalidMeta(\"X-Minio-Internal-Server-Side-Encryption-Seal-Algorithm\")"),
                    ("sealed key for SSE-S3 is invalid", "InvalidMeta(\"X-Minio-Internal-Server-Side-Encryption-S3-Sealed-Key\")"),
                    ("sealed KMS data key for SSE-S3 is invalid", "InvalidMeta(\"X-Minio-Internal-Server-Side-Encryption-S3-Kms-Sealed-Key\")"),
                ]
                .iter()
                .find(|(m, _)| msg.contains(m))
                .unwrap_or_else(|| panic!("unmapped MinIO error {msg:?}"))
                .1;
                assert_eq!(err, want, "{msg}");
            }
        } else {
            let p = entries(&meta_of(&v["inputs"]["metadata"]))
                .parse(SseType::S3)
                .unwrap();
            let e = &v["expected"];
            let kms = p.kms.unwrap();
            assert_eq!(kms.key_id.as_str(), s(e, "key_id"));
            assert_eq!(hex::encode(kms.ciphertext), s(e, "kms_ciphertext_hex"));
            assert_eq!(hex::encode(p.sealed.iv().as_bytes()), s(e, "iv_hex"));
            assert_eq!(hex::encode(p.sealed.sealed_bytes()), s(e, "sealed_key_hex"));
        }
    }
}

/// Replays a KMS iv‖nonce then a DEK, as the static KMS draws them.
fn kms_random(i: &Value, prefix: &str) -> Vec<u8> {
    [
        h(i, &format!("{prefix}kms_iv16_hex")),
        h(i, &format!("{prefix}kms_nonce12_hex")),
        h(i, &format!("{prefix}dek_plaintext_hex")),
    ]
    .concat()
}

#[test]
fn worked_examples() {
    // Full objects: KMS DEK, OEK, seal, metadata, data, sealed ETag.
    for v in by_kind("sse_object_example") {
        let (i, e) = (&v["inputs"], &v["expected"]);
        let (b, o) = (s(i, "bucket"), s(i, "object"));
        let ty = if e["metadata_MetaSys"]
            .get("X-Minio-Internal-Server-Side-Encryption-Kms-Sealed-Key")
            .is_some()
        {
            SseType::Kms
        } else {
            SseType::S3
        };
        let user = i.get("user_context").map(context_of);
        let kms = StaticKms::new(
            s(i, "builtin_kms_old"),
            SharedRandom::new(kms_random(i, "")),
        );
        let gen = kms_generate_request(&KeyId::new(s(i, "kms_key_name")), user.as_ref(), b, o);
        assert_eq!(
            String::from_utf8(gen.context.to_canonical_json()).unwrap(),
            s(e, "kms_aad_utf8")
        );
        let dek = kms.generate_key(&gen.key_id, &gen.context).unwrap();
        assert_eq!(hex::encode(&dek.ciphertext), s(e, "dek_ciphertext_hex"));
        let mut rng = ReplayRandom::new(
            [
                h(i, "oek_generation_nonce32_hex"),
                h(i, "seal_dare_random12_hex"),
            ]
            .concat(),
        );
        let oek = ObjectKey::generate(&dek.plaintext, &mut rng).unwrap();
        assert_eq!(hex::encode(oek.expose()), s(e, "oek_hex"));
        let sealed = oek
            .seal(
                &dek.plaintext,
                Iv::new(arr(i, "seal_iv32_hex")),
                ty.domain(),
                b,
                o,
                &mut rng,
            )
            .unwrap();
        assert_eq!(hex::encode(sealed.sealed_bytes()), s(e, "sealed_oek_hex"));
        let built: BTreeMap<String, Vec<u8>> = sealed_key_entries(
            ty,
            &sealed,
            Some((&dek.key_id, &dek.ciphertext)),
            user.as_ref(),
        )
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(built, meta_of(&e["metadata_MetaSys"]));
        let pt = s(i, "plaintext_utf8").as_bytes();
        let data = dare::encrypt(
            oek.data_key(),
            CipherSuite::Aes256Gcm,
            arr(i, "data_dare_random12_hex"),
            pt,
        )
        .unwrap();
        assert_eq!(hex::encode(&data), s(e, "data_ciphertext_hex"));
        assert_eq!(data.len() as u64, e["xl_meta_Size"].as_u64().unwrap());
        let etag = engine::sse::etag::seal_etag(
            &oek,
            &h(i, "plaintext_md5_hex"),
            &mut ReplayRandom::new(h(i, "etag_dare_random12_hex")),
        )
        .unwrap();
        assert_eq!(hex::encode(etag), s(e, "stored_etag_MetaUsr"));
    }

    // Rotation and conversion.
    for v in by_kind("rotate_example")
        .into_iter()
        .chain(by_kind("convert_example"))
    {
        let (i, e) = (&v["inputs"], &v["expected"]);
        let (b, o) = ("photos", "2024/cat.png");
        let before = meta_of(&i["before_metadata_MetaSys"]);
        let parsed = match entries(&before).classify() {
            Classification::SseS3(p) | Classification::SseKms(p) => p,
            other => panic!("{other:?}"),
        };
        let old_kms = StaticKms::new(s(i, "old_kms"), SharedRandom::new(Vec::new()));
        let req = parsed.unwrap_request(b, o).unwrap();
        assert_eq!(
            String::from_utf8(req.context.to_canonical_json()).unwrap(),
            s(e, "kms_aad_utf8")
        );
        let old = old_kms
            .decrypt(&req.key_id, &req.ciphertext, &req.context)
            .unwrap();
        assert_eq!(
            hex::encode(parsed.unseal(&old, b, o).unwrap().expose()),
            s(e, "oek_hex")
        );
        let new_kms = StaticKms::new(s(i, "new_kms"), SharedRandom::new(kms_random(i, "new_")));
        let user: Option<Context> = parsed.context.clone();
        let gen = kms_generate_request(&KeyId::new("new-key"), user.as_ref(), b, o);
        let new = new_kms.generate_key(&gen.key_id, &gen.context).unwrap();
        assert_eq!(hex::encode(&new.ciphertext), s(e, "new_dek_ciphertext_hex"));
        let mut rng = ReplayRandom::new(
            [
                h(i, "new_seal_iv32_hex"),
                h(i, "new_seal_dare_random12_hex"),
            ]
            .concat(),
        );
        let stored_etag = "20000f00b132333435363738393a3b3cf0c3651af81e4e7e969bfd613cc01160d3f2b4601d86825ce751a6017ecc30ef";
        let changes: Changes = match parsed.ty {
            SseType::Kms => reseal_kms(&parsed, b, o, &old, &new, user.as_ref(), &mut rng).unwrap(),
            _ => reseal_s3_to_kms(
                &parsed,
                b,
                o,
                Some(stored_etag),
                &old,
                &new,
                user.as_ref(),
                &mut rng,
            )
            .unwrap(),
        };
        let mut sys = before.clone();
        let mut usr = BTreeMap::from([("etag".to_owned(), stored_etag.to_owned())]);
        changes.apply(&mut sys, &mut usr);
        assert_eq!(
            sys,
            meta_of(&e["after_metadata_MetaSys"]),
            "{}",
            s(&v, "id")
        );
        if let Some(removed) = e.get("removed_keys") {
            for k in removed.as_array().unwrap() {
                assert!(!sys.contains_key(k.as_str().unwrap()));
            }
            assert_eq!(usr["etag"], s(e, "stored_etag_if_client_etag_preserved"));
            assert_eq!(s(e, "client_visible_etag_before"), usr["etag"]);
        } else {
            assert_eq!(usr["etag"], stored_etag, "rotation keeps the stored ETag");
        }
    }

    // Multipart parts with MinIO's part nonces.
    for v in by_kind("multipart_example") {
        let oek = ObjectKey::new(arr(&v["inputs"], "oek_hex"));
        let upload = s(&v["inputs"], "upload_id");
        let mut total = 0u64;
        for p in v["expected"]["parts"].as_array().unwrap() {
            let n = p["part_number"].as_u64().unwrap() as u32;
            let nonce = dare::multipart_random(upload, n);
            assert_eq!(hex::encode(nonce), s(p, "minio_nonce12_hex"));
            let key = oek.part_key(n);
            assert_eq!(hex::encode(key.expose()), s(p, "part_key_hex"));
            let pt = s(p, "plaintext_utf8").as_bytes();
            let ct = dare::encrypt(&key, CipherSuite::Aes256Gcm, nonce, pt).unwrap();
            assert_eq!(hex::encode(&ct), s(p, "ciphertext_hex"));
            assert_eq!(ct.len() as u64, p["PartSizes"].as_u64().unwrap());
            total += pt.len() as u64;
        }
        assert_eq!(v["expected"]["metadata_adds"][META_MULTIPART], "");
        assert_eq!(
            v["expected"]["metadata_adds"]["X-Minio-Internal-actual-size"],
            total.to_string()
        );
    }

    // Checksum blob and compression-index keys.
    for v in by_kind("metadata_encrypt") {
        let (i, e) = (&v["inputs"], &v["expected"]);
        let oek = ObjectKey::new(arr(i, "oek_hex"));
        assert_eq!(s(i, "base_key"), "object-checksum");
        assert_eq!(
            hex::encode(oek.checksum_key().expose()),
            s(e, "derived_key_hex")
        );
        assert_eq!(
            hex::encode(oek.compression_index_key().expose()),
            s(e, "compression_index_key_hex")
        );
        let ct = dare::encrypt(
            &oek.checksum_key(),
            CipherSuite::Aes256Gcm,
            arr(i, "dare_random12_hex"),
            &h(i, "plaintext_hex"),
        )
        .unwrap();
        assert_eq!(hex::encode(ct), s(e, "ciphertext_hex"));
    }

    // Config blobs.
    for v in by_kind("config_encrypt_bytes") {
        let (i, e) = (&v["inputs"], &v["expected"]);
        let path = s(i, "object_path");
        let kms = StaticKms::new(s(i, "kms"), SharedRandom::new(kms_random(i, "")));
        let dek = kms
            .generate_key(kms.default_key(), &config_context(path))
            .unwrap();
        let blob = encrypt_config(
            &dek,
            s(i, "plaintext_utf8").as_bytes(),
            &mut ReplayRandom::new(h(i, "stream_nonce8_hex")),
        )
        .unwrap();
        assert_eq!(
            hex::encode(&blob),
            s(e, "ciphertext_hex"),
            "{}",
            s(&v, "id")
        );
        assert_eq!(
            ConfigBlob::parse(&blob)
                .unwrap()
                .decrypt(&dek.plaintext)
                .unwrap()
                .expose(),
            s(i, "plaintext_utf8").as_bytes()
        );
    }

    // Bucket targets.
    for v in by_kind("bucket_targets_encrypt") {
        let (i, e) = (&v["inputs"], &v["expected"]);
        let kms = StaticKms::new(s(i, "kms"), SharedRandom::new(kms_random(i, "")));
        let bucket = s(i, "bucket");
        let dek = kms
            .generate_key(kms.default_key(), &context_of(&i["context"]))
            .unwrap();
        let mut rng = ReplayRandom::new(
            [
                h(i, "oek_generation_nonce32_hex"),
                h(i, "seal_iv32_hex"),
                h(i, "seal_dare_random12_hex"),
                h(i, "data_dare_random12_hex"),
            ]
            .concat(),
        );
        let out =
            encrypt_bucket_targets(bucket, &dek, s(i, "targets_json_utf8").as_bytes(), &mut rng)
                .unwrap();
        assert_eq!(hex::encode(&out.data), s(e, "BucketTargetsConfigJSON_hex"));
        assert_eq!(
            String::from_utf8(out.meta_json).unwrap(),
            s(e, "BucketTargetsConfigMetaJSON_utf8")
        );
    }
}

#[test]
fn dare_v1_streams_from_golden_packages() {
    // sio's DARE 1.0 golden packages 0..n carry sequence numbers 0..n, so
    // their concatenation is a valid legacy stream (no final flag in 1.0).
    let v = by_kind("dare_package_table")
        .into_iter()
        .find(|v| v["id"] == "dare-v1-golden")
        .unwrap();
    let key = SecretKey::new(arr(&v["inputs"], "key_hex"));
    let pkgs: Vec<Vec<u8>> = v["expected"]["packages_hex"].as_array().unwrap()[..6]
        .iter()
        .map(|p| hex::decode(p.as_str().unwrap()).unwrap())
        .collect();
    let stream = pkgs.concat();
    let want: Vec<u8> = (0..6).flat_map(|i| vec![0u8; i + 1]).collect();
    assert_eq!(dare::decrypt(&key, &stream).unwrap(), want);
    let mut out = Vec::new();
    dare::decrypt_stream(&key, &stream[..], &mut out).unwrap();
    assert_eq!(out, want);
    // Reordered or missing packages are out of sequence.
    let swapped = [&pkgs[1][..], &pkgs[0], &pkgs[2]].concat();
    assert!(matches!(
        dare::decrypt(&key, &swapped),
        Err(dare::DareError::OutOfOrder)
    ));
    let gap = [&pkgs[0][..], &pkgs[2]].concat();
    assert!(matches!(
        dare::decrypt(&key, &gap),
        Err(dare::DareError::OutOfOrder)
    ));
    // A truncated last package.
    assert!(matches!(
        dare::decrypt(&key, &stream[..stream.len() - 1]),
        Err(dare::DareError::UnexpectedEof)
    ));
}

#[test]
fn real_multipart_sizes() {
    // xl-many-parts.meta: 9016 parts, all 6 MiB but the last; the summary
    // figures of the real file must follow from the DARE size arithmetic.
    let v = &by_kind("multipart_sizes")[0];
    let (i, e) = (&v["inputs"], &v["expected"]);
    let first = i["first_part_size"].as_u64().unwrap();
    let last = i["last_part_size"].as_u64().unwrap();
    let parts = e["parts"].as_u64().unwrap();
    assert_eq!(
        decrypted_size(first).unwrap(),
        e["first_part_actual"].as_u64().unwrap()
    );
    assert_eq!(
        decrypted_size(last).unwrap(),
        e["last_part_actual"].as_u64().unwrap()
    );
    assert_eq!(encrypted_size(6 << 20), Some(first));
    assert_eq!((parts - 1) * first + last, e["size"].as_u64().unwrap());
    assert_eq!(
        (parts - 1) * decrypted_size(first).unwrap() + decrypted_size(last).unwrap(),
        e["actual_size"].as_u64().unwrap()
    );
}
