//! Known-answer vectors for the KMS client.
//!
//! * Every `*kms_builtin.json` in `testdata/vectors/` (MinIO-generated; files
//!   of other kinds are skipped, so a new `extra_kms_builtin.json` is tested
//!   without a code change).
//! * The KMS cases of `testdata/crypto-vectors.json` (CRYPTO.md §9): static-key
//!   and KES secret-key decrypts, pre-2021 master-key DEKs, context JSON,
//!   API-key identities, env selection and the KES / MinIO KMS wire formats.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kms_client::config::{detect, Family};
use kms_client::identity::ApiKey;
use kms_client::minkms::{encode_frames, FrameRequest};
use kms_client::{Context, KeyId, Kms, KmsError, ReplayRandom, StaticKey, StaticKms};
use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
}

fn b64(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .unwrap_or_else(|e| panic!("bad base64 {s:?}: {e}"))
}

fn str_of<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("missing string field {field:?} in {v}"))
}

/// A context from a JSON object of strings.
fn context_of(v: &Value) -> Context {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().expect("string value").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn static_kms(secret: &str, random: Vec<u8>) -> StaticKms<ReplayRandom> {
    StaticKms::with_random(
        StaticKey::parse(secret).expect("secret key"),
        vec![],
        ReplayRandom::new(random),
    )
}

#[test]
fn kms_client_vectors() {
    let dir = workspace().join("testdata/vectors");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut checked = 0;
    for file in &files {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.ends_with("kms_builtin.json") {
            check_kms_builtin(file);
            checked += 1;
        }
    }
    assert!(checked > 0, "no *kms_builtin.json in {}", dir.display());
}

fn check_kms_builtin(path: &Path) {
    let text = std::fs::read_to_string(path).expect("read vectors");
    let doc: Value = serde_json::from_str(&text).expect("parse vectors");
    let ctx = |c: &str| format!("{}: {c}", path.display());

    // Canonical context JSON, from the raw entry bytes (the bad-utf8 case
    // cannot be carried by the JSON `context` object itself).
    let marshal = doc["context_marshal"].as_array().expect("context_marshal");
    assert!(!marshal.is_empty());
    for case in marshal {
        let context: Context = match case["context_entries_hex"].as_array() {
            Some(entries) => entries
                .iter()
                .map(|e| {
                    (
                        unhex(e[0].as_str().expect("key hex")),
                        unhex(e[1].as_str().expect("value hex")),
                    )
                })
                .collect(),
            None => context_of(&case["context"]),
        };
        assert_eq!(
            hex::encode(context.to_canonical_json()),
            str_of(case, "marshal_text_hex"),
            "{}",
            ctx(&format!("context_marshal {}", case["context"]))
        );
    }

    // Generate with the recorded randomness, then decrypt, then the wrong context.
    let cases = doc["generate_decrypt"]
        .as_array()
        .expect("generate_decrypt");
    assert!(!cases.is_empty());
    for (i, case) in cases.iter().enumerate() {
        let what = ctx(&format!("generate_decrypt[{i}]"));
        let kms = static_kms(
            str_of(case, "kms_secret_key"),
            unhex(str_of(case, "random_consumed_hex")),
        );
        let key = KeyId::new(str_of(case, "key_id"));
        let context = context_of(&case["context"]);
        assert_eq!(
            hex::encode(context.to_canonical_json()),
            str_of(case, "associated_data_hex"),
            "{what}"
        );
        let dek = kms.generate_key(&key, &context).expect("generate");
        assert_eq!(
            hex::encode(dek.plaintext.expose()),
            str_of(case, "dek_plaintext_hex"),
            "{what}"
        );
        assert_eq!(
            hex::encode(&dek.ciphertext),
            str_of(case, "dek_ciphertext_hex"),
            "{what}"
        );
        assert_eq!(dek.key_id, key);
        // The same bytes as MinIO stores them (base64) and as its DEK text form.
        let b64 = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(&dek.ciphertext)
        };
        assert_eq!(b64, str_of(case, "dek_ciphertext_b64"), "{what}");
        let text: Value = serde_json::from_str(str_of(case, "dek_marshal_text")).expect("DEK text");
        assert_eq!(text["keyid"], str_of(case, "key_id"), "{what}");
        assert_eq!(text["ciphertext"], b64, "{what}");
        assert_eq!(
            context.to_canonical_json(),
            str_of(case, "associated_data").as_bytes(),
            "{what}"
        );

        let stored = unhex(str_of(case, "dek_ciphertext_hex"));
        let copy = stored.clone();
        let plain = kms.decrypt(&key, &stored, &context).expect("decrypt");
        assert_eq!(
            hex::encode(plain.expose()),
            str_of(case, "dek_plaintext_hex"),
            "{what}"
        );
        assert_eq!(stored, copy, "{what}: decrypt mutated its input");
        assert_eq!(case["decrypt_roundtrip_ok"], Value::Bool(true));

        if case["decrypt_with_wrong_ctx_err"].is_string() {
            let mut wrong = context.clone();
            wrong.insert("wrong", "context");
            let err = kms
                .decrypt(&key, &stored, &wrong)
                .expect_err("wrong context must fail");
            assert!(
                matches!(err, KmsError::DecryptionFailed { .. }),
                "{what}: {err:?}"
            );
            assert!(!err.is_transient());
        }
        // Another key name is a typed "not found", for both operations.
        let other = KeyId::new("some-other-key");
        assert!(
            matches!(
                kms.decrypt(&other, &stored, &context),
                Err(KmsError::KeyNotFound(_))
            ),
            "{what}"
        );
        assert!(
            matches!(
                kms.generate_key(&other, &context),
                Err(KmsError::KeyNotFound(_))
            ),
            "{what}"
        );
    }

    // Legacy JSON ciphertexts (AES and ChaCha20), from the intact input bytes.
    let legacy = doc["legacy_json_decrypt"]
        .as_array()
        .expect("legacy_json_decrypt");
    assert!(!legacy.is_empty());
    for (i, case) in legacy.iter().enumerate() {
        let what = ctx(&format!(
            "legacy_json_decrypt[{i}] {}",
            str_of(case, "algorithm")
        ));
        let secret = str_of(case, "kms_secret_key");
        let kms = static_kms(secret, vec![]);
        let key = KeyId::new(secret.split_once(':').expect("name:key").0);
        let context = context_of(&case["context"]);
        let input = unhex(str_of(case, "json_ciphertext_hex"));
        assert_eq!(input, str_of(case, "json_ciphertext").as_bytes(), "{what}");
        let copy = input.clone();
        let result = kms.decrypt(&key, &input, &context);
        assert_eq!(input, copy, "{what}: decrypt mutated its input");
        if case["decrypt_ok"] == Value::Bool(true) {
            let plain = result.unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(
                hex::encode(plain.expose()),
                str_of(case, "expected_plaintext"),
                "{what}"
            );
            let mut wrong = context.clone();
            wrong.insert("x", "y");
            assert!(
                matches!(
                    kms.decrypt(&key, &input, &wrong),
                    Err(KmsError::DecryptionFailed { .. })
                ),
                "{what}"
            );
        } else {
            assert!(result.is_err(), "{what}");
        }
    }
}

// ---------------------------------------------------------------------------
// crypto-vectors.json (CRYPTO.md §9): the KMS kinds.

fn crypto_vectors() -> Vec<Value> {
    let path = workspace().join("testdata/crypto-vectors.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&text).expect("parse crypto-vectors.json");
    doc["vectors"].as_array().expect("vectors").clone()
}

fn of_kind(kind: &str) -> Vec<Value> {
    let cases: Vec<Value> = crypto_vectors()
        .into_iter()
        .filter(|v| v["kind"] == kind)
        .collect();
    assert!(!cases.is_empty(), "no vectors of kind {kind}");
    cases
}

#[test]
fn builtin_kms_decrypt() {
    for v in of_kind("builtin_kms_decrypt") {
        let id = str_of(&v, "id");
        let inputs = &v["inputs"];
        let kms = static_kms(str_of(inputs, "MINIO_KMS_SECRET_KEY"), vec![]);
        let context = context_of(&inputs["context"]);
        assert_eq!(
            context.to_canonical_json(),
            str_of(inputs, "aad_utf8").as_bytes(),
            "{id}"
        );
        let ct = str_of(inputs, "ciphertext_utf8").as_bytes();
        let plain = kms
            .decrypt(&KeyId::new(str_of(inputs, "key_name")), ct, &context)
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(
            plain.expose().to_vec(),
            b64(str_of(&v["expected"], "plaintext_b64")),
            "{id}"
        );
    }
}

/// KES's secret-key decrypt vectors. Our static key decrypts exactly those
/// MinIO's static KMS accepts (`minio_builtin_accepts`) and must reject the
/// KES-only msgpack / binary-ChaCha ones and every must-fail case. The
/// plaintexts here are not 32 bytes, so success is checked through the
/// length error that names a successful AEAD open, see below.
#[test]
fn kes_secret_key_decrypt() {
    for v in of_kind("secret_key_decrypt") {
        let id = str_of(&v, "id");
        let inputs = &v["inputs"];
        let secret: [u8; 32] = b64(str_of(inputs, "key_b64"))
            .try_into()
            .expect("32-byte key");
        let key = StaticKey::new("k", secret).expect("key");
        let ct = match inputs.get("ciphertext_utf8").and_then(Value::as_str) {
            Some(s) => s.as_bytes().to_vec(),
            None => b64(str_of(inputs, "ciphertext_b64")),
        };
        let aad = b64(str_of(inputs, "associated_data_b64"));
        let result = key.decrypt_raw(&ct, &aad);
        if v["expected"]["error"] == Value::Bool(true) {
            assert!(result.is_err(), "{id}: must fail");
        } else if v["minio_builtin_accepts"] == Value::Bool(true) {
            let plain = result.unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(*plain, b64(str_of(&v["expected"], "plaintext_b64")), "{id}");
        } else {
            assert!(
                result.is_err(),
                "{id}: MinIO's static KMS cannot read this KES-only format"
            );
        }
    }
}

#[test]
fn legacy_master_key_dek() {
    for v in of_kind("legacy_master_key_sse_s3") {
        let id = str_of(&v, "id");
        let inputs = &v["inputs"];
        let meta = &inputs["metadata"];
        let name = str_of(
            meta,
            "X-Minio-Internal-Server-Side-Encryption-S3-Kms-Key-Id",
        );
        let secret: [u8; 32] = unhex(str_of(inputs, "master_key_hex"))
            .try_into()
            .expect("32 bytes");
        let ct = b64(str_of(
            meta,
            "X-Minio-Internal-Server-Side-Encryption-S3-Kms-Sealed-Key",
        ));
        assert_eq!(ct.len(), 64, "{id}");
        let bucket = str_of(inputs, "bucket");
        let context: Context = [(
            bucket.to_string(),
            format!("{bucket}/{}", str_of(inputs, "object")),
        )]
        .into_iter()
        .collect();
        assert_eq!(
            context.to_canonical_json(),
            str_of(inputs, "context_json").as_bytes(),
            "{id}"
        );
        // The old master key given as a (decrypt-only) static key recovers it.
        let kms = StaticKms::new(
            StaticKey::new("new-key", [7; 32]).expect("key"),
            vec![StaticKey::new(name, secret).expect("key")],
        );
        let copy = ct.clone();
        let dek = kms
            .decrypt(&KeyId::new(name), &ct, &context)
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(
            hex::encode(dek.expose()),
            str_of(&v["expected"], "dek_hex"),
            "{id}"
        );
        assert_eq!(ct, copy);
        // Another object's context fails with a typed error.
        let mut wrong = context.clone();
        wrong.insert(bucket, format!("{bucket}/other"));
        assert!(
            matches!(
                kms.decrypt(&KeyId::new(name), &ct, &wrong),
                Err(KmsError::DecryptionFailed { .. })
            ),
            "{id}"
        );
    }
}

#[test]
fn kms_context_json() {
    for v in of_kind("kms_context_json") {
        let id = str_of(&v, "id");
        let context = context_of(&v["inputs"]["context"]);
        let json = context.to_canonical_json();
        assert_eq!(
            hex::encode(&json),
            str_of(&v["expected"], "json_hex"),
            "{id}"
        );
        assert_eq!(json, str_of(&v["expected"], "json_utf8").as_bytes(), "{id}");
    }
}

#[test]
fn api_key_identities() {
    for v in of_kind("kes_api_key_identity") {
        let id = str_of(&v, "id");
        let key = ApiKey::parse_kes(str_of(&v["inputs"], "api_key"))
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(key.identity(), str_of(&v["expected"], "identity"), "{id}");
        assert_eq!(
            hex::encode(key.public_key()),
            str_of(&v["expected"], "public_key_hex"),
            "{id}"
        );
    }
    for v in of_kind("kes_api_key_parse") {
        assert!(
            ApiKey::parse_kes(str_of(&v["inputs"], "api_key")).is_err(),
            "{}",
            str_of(&v, "id")
        );
    }
    for v in of_kind("mtls_k1_identity") {
        let id = str_of(&v, "id");
        let key = ApiKey::parse_k1(str_of(&v["inputs"], "api_key"))
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(key.identity(), str_of(&v["expected"], "identity"), "{id}");
    }
}

#[test]
fn kms_config_env() {
    for v in of_kind("kms_config_env") {
        for case in v["inputs"]["cases"].as_array().expect("cases") {
            let env: BTreeMap<String, String> = case["env"]
                .as_object()
                .expect("env")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().expect("value").to_string()))
                .collect();
            let lookup = |name: &str| env.get(name).cloned();
            let result = detect(&lookup);
            if case["error"] == Value::Bool(true) {
                assert!(result.is_err(), "{case}");
            } else {
                let present = result.unwrap_or_else(|e| panic!("{case}: {e}")).is_some();
                assert_eq!(present, case["is_present"] == Value::Bool(true), "{case}");
            }
        }
    }
    // The family chosen for the present cases.
    let env = |pairs: &[(&str, &str)]| {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| map.get(name).cloned()
    };
    let kes = env(&[
        ("MINIO_KMS_KES_ENDPOINT", "https://k:7373"),
        ("MINIO_KMS_KES_KEY_NAME", "k"),
        ("MINIO_KMS_KES_API_KEY", "x"),
    ]);
    assert_eq!(detect(&kes).unwrap(), Some(Family::Kes));
}

#[test]
fn kes_wire() {
    for v in of_kind("kes_wire") {
        let key = KeyId::new(str_of(&v["inputs"], "key_name"));
        let context = context_of(&v["inputs"]["context"]);
        let expected = &v["expected"];
        let (path, body) = kms_client::kes::request_for_generate(&key, &context);
        assert_eq!(path, str_of(&expected["generate"], "path"));
        assert_eq!(body, str_of(&expected["generate"], "body"));
        let decrypt_body: Value =
            serde_json::from_str(str_of(&expected["decrypt"], "body")).expect("json");
        let ct = b64(str_of(&decrypt_body, "ciphertext"));
        let (path, body) = kms_client::kes::request_for_decrypt(&key, &ct, &context);
        assert_eq!(path, str_of(&expected["decrypt"], "path"));
        assert_eq!(body, str_of(&expected["decrypt"], "body"));
    }
}

#[test]
fn minkms_wire() {
    for v in of_kind("minkms_wire") {
        let d = &v["inputs"]["decrypt"];
        let g = &v["inputs"]["generate"];
        let ct = unhex(str_of(d, "ciphertext_hex"));
        let decrypt = FrameRequest::Decrypt {
            name: str_of(d, "name"),
            ciphertext: &ct,
            associated_data: str_of(d, "associated_data_utf8").as_bytes(),
        };
        let generate = FrameRequest::Generate {
            name: str_of(g, "name"),
            associated_data: str_of(g, "associated_data_utf8").as_bytes(),
            length: g["length"].as_u64().expect("length") as u32,
        };
        let e = &v["expected"];
        assert_eq!(
            hex::encode(encode_frames(&[decrypt])),
            str_of(e, "decrypt_frame_hex")
        );
        assert_eq!(
            hex::encode(encode_frames(&[generate])),
            str_of(e, "generate_frame_hex")
        );
        assert_eq!(
            hex::encode(encode_frames(&[decrypt, decrypt])),
            str_of(e, "batched_body_hex")
        );
    }
}
