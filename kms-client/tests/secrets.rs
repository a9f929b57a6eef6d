//! No secret appears in any `Debug`, `Display` or error text: keys, API keys,
//! plaintext data keys. Also the env-file + variable configuration path.

use std::collections::BTreeMap;

use kms_client::config::{KmsConfig, Layered};
use kms_client::env_file::EnvFile;
use kms_client::identity::ApiKey;
use kms_client::{Context, KeyId, Kms, KmsError, StaticKey};

const SECRET_B64: &str = "RToXnzpt60mYKPmjlLuYvGc3G+yh9PsKVciexzqttzM=";
const OLD_B64: &str = "P03yBg4rb4/0UWNeyO2kmNlEJ546ucW0mq0XioXaf+g=";
const KES_API_KEY: &str = "kes:v1:AGaV6VXHasF0FnaB60WdCOeTZ8eTIDikL4zlN16c8NAs";
const K1_API_KEY: &str = "k1:MBDtmC9ZAf3Wi4-oGglgKx_6T1jwJfct1IC15HOxetg";

fn b64(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

/// Every rendering a secret could leak through.
fn forbidden() -> Vec<String> {
    let mut out = vec![
        SECRET_B64.to_string(),
        OLD_B64.to_string(),
        "AGaV6VXHasF0FnaB60WdCOeTZ8eTIDikL4zlN16c8NAs".into(),
    ];
    out.push("MBDtmC9ZAf3Wi4-oGglgKx_6T1jwJfct1IC15HOxetg".into());
    for raw in [b64(SECRET_B64), b64(OLD_B64)] {
        out.push(hex::encode(&raw));
        out.push(format!("{raw:?}"));
        out.push(format!("{:?}", &raw[..8]));
    }
    out
}

fn assert_clean(what: &str, text: &str, extra: &[String]) {
    for secret in forbidden().iter().chain(extra) {
        assert!(
            !text.contains(secret.as_str()),
            "{what} leaks a secret: {text}"
        );
    }
}

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name: &str| map.get(name).cloned()
}

#[test]
fn debug_and_errors_never_show_secrets() {
    let secret = format!("my-minio-key:{SECRET_B64}");
    let old = format!("old-key:{OLD_B64}");
    let lookup = env(&[
        ("MINIO_KMS_SECRET_KEY", &secret),
        ("KEYROTATE_OLD_KMS_SECRET_KEYS", &old),
    ]);
    let config = KmsConfig::from_lookup(&lookup, None).unwrap();
    assert_eq!(config.default_key().as_str(), "my-minio-key");
    assert_clean("static KmsConfig", &format!("{config:?}"), &[]);
    let kms = config.build().unwrap();

    let context: Context = [("bucket", "bucket/object")].into_iter().collect();
    let dek = kms
        .generate_key(&KeyId::new("my-minio-key"), &context)
        .unwrap();
    let plaintext_hex = hex::encode(dek.plaintext.expose());
    let dek_secrets = [
        plaintext_hex.clone(),
        format!("{:?}", dek.plaintext.expose()),
    ];
    assert_clean("DataKey", &format!("{dek:?}"), &dek_secrets);
    assert_clean(
        "PlaintextKey",
        &format!("{:?}", dek.plaintext),
        &dek_secrets,
    );

    let errors: Vec<KmsError> = vec![
        kms.decrypt(
            &KeyId::new("my-minio-key"),
            &dek.ciphertext,
            &Context::new(),
        )
        .unwrap_err(),
        kms.decrypt(&KeyId::new("nope"), &dek.ciphertext, &context)
            .unwrap_err(),
        kms.decrypt(&KeyId::new("my-minio-key"), b"short", &context)
            .unwrap_err(),
        kms.generate_key(&KeyId::new("old-key"), &context)
            .unwrap_err(),
        StaticKey::parse(&format!("k:{}", &SECRET_B64[..40])).unwrap_err(),
        StaticKey::parse(&format!("k:{SECRET_B64}{SECRET_B64}")).unwrap_err(),
        StaticKey::parse(SECRET_B64).unwrap_err(),
        ApiKey::parse_kes(&KES_API_KEY.replace("kes:v1:AG", "kes:v1:AQ")).unwrap_err(),
        KmsConfig::from_lookup(
            &env(&[
                ("MINIO_KMS_SECRET_KEY", &secret),
                ("MINIO_KMS_KES_ENDPOINT", "https://k"),
            ]),
            None,
        )
        .unwrap_err(),
    ];
    for e in &errors {
        assert_clean("error", &format!("{e} / {e:?}"), &dek_secrets);
    }

    let kes = KmsConfig::from_lookup(
        &env(&[
            ("MINIO_KMS_KES_ENDPOINT", "https://kes{1...2}:7373"),
            ("MINIO_KMS_KES_KEY_NAME", "minio-key"),
            ("MINIO_KMS_KES_API_KEY", KES_API_KEY),
        ]),
        None,
    )
    .unwrap();
    let text = format!("{kes:?}");
    assert!(
        text.contains("https://kes2:7373") && text.contains("ea9826089311fe44"),
        "{text}"
    );
    assert_clean("KES KmsConfig", &text, &[]);

    let minkms = KmsConfig::from_lookup(
        &env(&[
            ("MINIO_KMS_SERVER", "127.0.0.1:7373"),
            ("MINIO_KMS_ENCLAVE", "demo"),
            ("MINIO_KMS_SSE_KEY", "minio-key"),
            ("MINIO_KMS_API_KEY", K1_API_KEY),
        ]),
        None,
    )
    .unwrap();
    assert_eq!(minkms.default_key().as_str(), "minio-key");
    assert_clean("MinKMS KmsConfig", &format!("{minkms:?}"), &[]);
}

#[test]
fn env_file_configuration_and_old_keys() {
    let text = format!(
        "# /etc/default/minio\nMINIO_VOLUMES=\"/mnt/disk{{1...4}}\"\nexport MINIO_KMS_SECRET_KEY=\"new-key:{SECRET_B64}\"\nKEYROTATE_OLD_KMS_SECRET_KEYS='my-minio-key:{OLD_B64}'\n"
    );
    let file = EnvFile::parse(&text).unwrap();
    assert_clean("EnvFile", &format!("{file:?}"), &[]);
    let none = env(&[]);
    let mut config = KmsConfig::from_lookup(
        &Layered {
            first: &none,
            then: &file,
        },
        None,
    )
    .unwrap();
    assert_eq!(config.default_key().as_str(), "new-key");
    config
        .add_old_static_key(&format!("third:{SECRET_B64}"))
        .unwrap();
    let kms = config.build().unwrap();

    // Objects under the old key decrypt; new keys are generated only under the target.
    let old = kms_client::StaticKms::new(
        StaticKey::parse(&format!("my-minio-key:{OLD_B64}")).unwrap(),
        vec![],
    );
    let context: Context = [("b", "b/o")].into_iter().collect();
    let old_dek = old
        .generate_key(&KeyId::new("my-minio-key"), &context)
        .unwrap();
    assert_eq!(
        kms.decrypt(&KeyId::new("my-minio-key"), &old_dek.ciphertext, &context)
            .unwrap(),
        old_dek.plaintext
    );
    assert!(matches!(
        kms.generate_key(&KeyId::new("my-minio-key"), &context),
        Err(KmsError::KeyNotFound(_))
    ));
    let new_dek = kms.generate_key(&KeyId::new("new-key"), &context).unwrap();
    // Readable with the new key alone afterwards.
    let new_only = kms_client::StaticKms::new(
        StaticKey::parse(&format!("new-key:{SECRET_B64}")).unwrap(),
        vec![],
    );
    assert_eq!(
        new_only
            .decrypt(&KeyId::new("new-key"), &new_dek.ciphertext, &context)
            .unwrap(),
        new_dek.plaintext
    );

    // The process env wins over the file; no KMS at all is one clear error.
    let over = env(&[("MINIO_KMS_SECRET_KEY", &format!("override:{SECRET_B64}"))]);
    let layered = KmsConfig::from_lookup(
        &Layered {
            first: &over,
            then: &file,
        },
        None,
    )
    .unwrap();
    assert_eq!(layered.default_key().as_str(), "override");
    let err = KmsConfig::from_lookup(&env(&[("MINIO_VOLUMES", "/x")]), None).unwrap_err();
    assert!(err.to_string().contains("no KMS configured"), "{err}");
    // Old static keys make no sense for KES.
    let err = KmsConfig::from_lookup(
        &env(&[
            ("MINIO_KMS_KES_ENDPOINT", "https://k:7373"),
            ("MINIO_KMS_KES_KEY_NAME", "k"),
            ("MINIO_KMS_KES_API_KEY", KES_API_KEY),
            ("KEYROTATE_OLD_KMS_SECRET_KEYS", &format!("a:{OLD_B64}")),
        ]),
        None,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("only applies to a static-key KMS"),
        "{err}"
    );
}

#[test]
fn secret_key_file() {
    let dir = std::env::temp_dir().join(format!("kms-client-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("minio_master_key");
    std::fs::write(&path, format!("file-key:{SECRET_B64}\n")).unwrap();
    let p = path.to_string_lossy().into_owned();
    let config = KmsConfig::from_lookup(&env(&[("MINIO_KMS_SECRET_KEY_FILE", &p)]), None).unwrap();
    assert_eq!(config.default_key().as_str(), "file-key");
    // Both set: an error. A file that does not exist counts as unset (MinIO's rule).
    let both = env(&[
        ("MINIO_KMS_SECRET_KEY_FILE", &p),
        ("MINIO_KMS_SECRET_KEY", &format!("k:{SECRET_B64}")),
    ]);
    assert!(KmsConfig::from_lookup(&both, None).is_err());
    let missing = env(&[("MINIO_KMS_SECRET_KEY_FILE", "/nonexistent/minio_master_key")]);
    assert!(KmsConfig::from_lookup(&missing, None)
        .unwrap_err()
        .to_string()
        .contains("no KMS configured"));
}
