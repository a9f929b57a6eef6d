//! Configuration text (env files, `MINIO_KMS_*` values) and stored KMS
//! contexts. Never panics; a parsed env file answers for every name it lists
//! and selects a KMS family (or refuses) without panicking; API keys
//! re-parse to the same identity; a context re-reads from its canonical
//! JSON; expanded endpoint lists hold no unexpanded ellipsis.

#![no_main]

use kms_client::config::{detect, expand_endpoints, Lookup};
use kms_client::env_file::EnvFile;
use kms_client::identity::{certificate_identity, ApiKey};
use kms_client::Context;
use libfuzzer_sys::fuzz_target;
use rustls_pki_types::CertificateDer;

fuzz_target!(|data: &[u8]| {
    let _ = certificate_identity(&CertificateDer::from(data));
    if let Ok(ctx) = Context::from_json(data) {
        let json = ctx.to_canonical_json();
        assert_eq!(
            Context::from_json(&json).expect("canonical JSON reads"),
            ctx
        );
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match EnvFile::parse(text) {
        Ok(env) => {
            for name in env.names() {
                assert!(Lookup::get(&env, name).is_some());
            }
            let _ = detect(&env);
        }
        Err((line, _)) => assert!(line >= 1 && line <= text.lines().count()),
    }
    for parse in [ApiKey::parse_kes, ApiKey::parse_k1] {
        if let Ok(k) = parse(text) {
            let again = parse(text).expect("re-parses");
            assert_eq!(again.identity(), k.identity());
        }
    }
    if let Ok(list) = expand_endpoints(text) {
        assert!(list.iter().all(|e| !e.contains('{') && !e.is_empty()));
    }
});
