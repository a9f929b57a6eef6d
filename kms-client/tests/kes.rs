//! KES and MinIO KMS clients against the in-process protocol fixture
//! (`kms_client::testing`, a protocol fixture, not a KES): real HTTPS with a
//! test CA and client certificates generated at test time, fault injection,
//! and counts of the requests the server actually saw.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kms_client::http::{ClientAuth, ClientOptions, RetryPolicy};
use kms_client::identity::ApiKey;
use kms_client::kes::{KesClient, KesConfig};
use kms_client::minkms::{MinKmsClient, MinKmsConfig};
use kms_client::testing::{Fault, Fixture, FixtureConfig};
use kms_client::{Context, DecryptRequest, GenerateRequest, KeyId, Kms, KmsError};

const API_KEY: &str = "kes:v1:AGaV6VXHasF0FnaB60WdCOeTZ8eTIDikL4zlN16c8NAs";
const K1_KEY: &str = "k1:MBDtmC9ZAf3Wi4-oGglgKx_6T1jwJfct1IC15HOxetg";

fn fixture(allowed: Vec<String>) -> Fixture {
    Fixture::start(FixtureConfig {
        keys: vec![("my-key".into(), [1; 32]), ("other-key".into(), [2; 32])],
        allowed_identities: allowed,
        ..FixtureConfig::default()
    })
    .expect("fixture")
}

/// Writes the fixture's PEMs to a fresh directory: (ca, cert, key).
fn pem_files(fx: &Fixture, tag: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("kms-client-test-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    let cert = dir.join("client.crt");
    let key = dir.join("client.key");
    std::fs::write(&ca, fx.ca_pem()).unwrap();
    std::fs::write(&cert, fx.client_cert_pem()).unwrap();
    std::fs::write(&key, fx.client_key_pem()).unwrap();
    (ca, cert, key)
}

fn options(attempts: u32) -> ClientOptions {
    ClientOptions {
        retry: RetryPolicy {
            attempts,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
        },
        request_timeout: Duration::from_secs(5),
        ..ClientOptions::default()
    }
}

fn cert_client(fx: &Fixture, tag: &str, opts: ClientOptions) -> KesClient {
    let (ca, cert, key) = pem_files(fx, tag);
    KesClient::new(KesConfig {
        endpoints: vec![fx.endpoint()],
        default_key: KeyId::new("my-key"),
        auth: ClientAuth::CertFiles {
            cert,
            key,
            password_set: false,
        },
        ca_path: Some(ca),
        options: opts,
    })
    .expect("client")
}

fn ctx(object: &str) -> Context {
    [("bucket", format!("bucket/{object}"))]
        .into_iter()
        .collect()
}

#[test]
fn mtls_generate_decrypt_and_permanent_errors() {
    let fx = fixture(vec![]);
    let kes = cert_client(&fx, "mtls", options(4));
    let key = KeyId::new("my-key");
    let dek = kes.generate_key(&key, &ctx("a")).expect("generate");
    assert_eq!(
        dek.ciphertext.len(),
        76,
        "current KES ciphertext: sealed(48) || iv || nonce"
    );
    assert_eq!(
        kes.decrypt(&key, &dek.ciphertext, &ctx("a"))
            .expect("decrypt"),
        dek.plaintext
    );
    // An empty key name means the default key.
    assert_eq!(
        kes.decrypt(&KeyId::new(""), &dek.ciphertext, &ctx("a"))
            .unwrap(),
        dek.plaintext
    );

    // Permanent errors surface at once: exactly one request each.
    let before = fx.requests();
    let err = kes.decrypt(&key, &dek.ciphertext, &ctx("b")).unwrap_err();
    assert!(matches!(err, KmsError::DecryptionFailed { .. }), "{err:?}");
    assert_eq!(fx.requests(), before + 1);
    let err = kes
        .generate_key(&KeyId::new("missing"), &ctx("a"))
        .unwrap_err();
    assert!(
        matches!(err, KmsError::KeyNotFound(ref k) if k == "missing"),
        "{err:?}"
    );
    assert_eq!(fx.requests(), before + 2);
    for (fault, check) in [
        (
            Fault::Status(400, "invalid context".into()),
            (|e: &KmsError| matches!(e, KmsError::Rejected { status: 400, .. }))
                as fn(&KmsError) -> bool,
        ),
        (
            Fault::Status(403, "not authorized: insufficient permissions".into()),
            |e| matches!(e, KmsError::NotAuthorized(_)),
        ),
        (Fault::Status(404, "key does not exist".into()), |e| {
            matches!(e, KmsError::KeyNotFound(_))
        }),
        (Fault::Malformed, |e| {
            matches!(e, KmsError::MalformedResponse(_))
        }),
    ] {
        let before = fx.requests();
        fx.inject([fault.clone()]);
        let err = kes.generate_key(&key, &ctx("a")).unwrap_err();
        assert!(check(&err), "{fault:?} -> {err:?}");
        assert!(!err.is_transient(), "{err:?}");
        assert_eq!(fx.requests(), before + 1, "{fault:?} must not be retried");
    }
}

#[test]
fn transient_faults_are_retried_with_backoff() {
    transient_faults_case(false);
}

/// The same over HTTP/1.1, where a reset closes the whole connection.
#[test]
fn transient_faults_are_retried_with_backoff_http1() {
    transient_faults_case(true);
}

fn transient_faults_case(http1_only: bool) {
    let fx = Fixture::start(FixtureConfig {
        keys: vec![("my-key".into(), [1; 32])],
        http1_only,
        ..FixtureConfig::default()
    })
    .expect("fixture");
    let kes = cert_client(
        &fx,
        if http1_only { "retry-h1" } else { "retry-h2" },
        options(5),
    );
    let key = KeyId::new("my-key");
    let dek = kes.generate_key(&key, &ctx("a")).unwrap();

    let before = fx.requests();
    fx.inject([
        Fault::Status(503, "busy".into()),
        Fault::Status(429, "slow down".into()),
        Fault::Reset,
        Fault::Status(500, "oops".into()),
    ]);
    let plain = kes
        .decrypt(&key, &dek.ciphertext, &ctx("a"))
        .expect("succeeds on the 5th try");
    assert_eq!(plain, dek.plaintext);
    assert_eq!(fx.requests(), before + 5);
    assert_eq!(fx.pending_faults(), 0);

    // Attempts run out: the last transient error surfaces, still typed transient.
    let before = fx.requests();
    fx.inject(vec![Fault::Status(502, "bad gateway".into()); 5]);
    let err = kes.decrypt(&key, &dek.ciphertext, &ctx("a")).unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().contains("502"), "{err}");
    assert_eq!(fx.requests(), before + 5);
}

#[test]
fn timeouts_are_transient_and_retried() {
    let fx = fixture(vec![]);
    let mut opts = options(2);
    opts.request_timeout = Duration::from_millis(300);
    let kes = cert_client(&fx, "timeout", opts);
    let key = KeyId::new("my-key");
    fx.inject([Fault::Delay(Duration::from_secs(2))]);
    let start = Instant::now();
    kes.generate_key(&key, &ctx("a"))
        .expect("second try answers");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "the slow attempt was abandoned"
    );

    fx.inject([
        Fault::Delay(Duration::from_secs(2)),
        Fault::Delay(Duration::from_secs(2)),
    ]);
    let err = kes.generate_key(&key, &ctx("a")).unwrap_err();
    assert!(
        err.is_transient() && err.to_string().contains("no answer"),
        "{err:?}"
    );
}

#[test]
fn api_key_auth_and_unknown_identity() {
    let api_key = ApiKey::parse_kes(API_KEY).unwrap();
    let fx = fixture(vec![api_key.identity()]);
    let (ca, _, _) = pem_files(&fx, "apikey");
    let client = |key: &str| {
        KesClient::new(KesConfig {
            endpoints: vec![fx.endpoint()],
            default_key: KeyId::new("my-key"),
            auth: ClientAuth::ApiKey(ApiKey::parse_kes(key).unwrap()),
            ca_path: Some(ca.clone()),
            options: options(3),
        })
        .unwrap()
    };
    let kes = client(API_KEY);
    let dek = kes
        .generate_key(&KeyId::new("my-key"), &ctx("x"))
        .expect("API key accepted");
    assert_eq!(
        kes.decrypt(&KeyId::new("my-key"), &dek.ciphertext, &ctx("x"))
            .unwrap(),
        dek.plaintext
    );

    // Another API key: a valid certificate, but an identity with no policy.
    let stranger = client("kes:v1:ACQpoGqx3rHHjT938Hfu5hVVQJHZWSqVI2Xp1KlYxFVw");
    let before = fx.requests();
    let err = stranger
        .generate_key(&KeyId::new("my-key"), &ctx("x"))
        .unwrap_err();
    assert!(matches!(err, KmsError::NotAuthorized(_)), "{err:?}");
    assert_eq!(fx.requests(), before + 1);
}

#[test]
fn untrusted_server_certificate_is_a_permanent_tls_error() {
    let fx = fixture(vec![]);
    let other = fixture(vec![]);
    let (_, cert, key) = pem_files(&fx, "untrusted");
    let (other_ca, _, _) = pem_files(&other, "untrusted-ca");
    let kes = KesClient::new(KesConfig {
        endpoints: vec![fx.endpoint()],
        default_key: KeyId::new("my-key"),
        auth: ClientAuth::CertFiles {
            cert,
            key,
            password_set: false,
        },
        ca_path: Some(other_ca),
        options: options(3),
    })
    .unwrap();
    let err = kes
        .generate_key(&KeyId::new("my-key"), &ctx("a"))
        .unwrap_err();
    assert!(matches!(err, KmsError::Tls(_)), "{err:?}");
    assert_eq!(fx.requests(), 0);
}

#[test]
fn batches_keep_many_requests_in_flight_over_few_connections() {
    for http2 in [true, false] {
        let fx = fixture(vec![]);
        fx.set_latency(Duration::from_millis(20));
        let mut opts = options(3);
        opts.http2 = http2;
        opts.max_in_flight = 128;
        let kes = cert_client(&fx, if http2 { "batch-h2" } else { "batch-h1" }, opts);
        let key = KeyId::new("my-key");
        let contexts: Vec<Context> = (0..256).map(|i| ctx(&format!("obj-{i}"))).collect();
        let start = Instant::now();
        let generated = kes.generate_batch(
            &contexts
                .iter()
                .map(|c| GenerateRequest {
                    key: &key,
                    context: c,
                })
                .collect::<Vec<_>>(),
        );
        let deks: Vec<_> = generated
            .into_iter()
            .map(|r| r.expect("generate"))
            .collect();
        let decrypted = kes.decrypt_batch(
            &deks
                .iter()
                .zip(&contexts)
                .map(|(d, c)| DecryptRequest {
                    key: &key,
                    ciphertext: &d.ciphertext,
                    context: c,
                })
                .collect::<Vec<_>>(),
        );
        let elapsed = start.elapsed();
        for (dek, plain) in deks.iter().zip(decrypted) {
            assert_eq!(plain.expect("decrypt"), dek.plaintext);
        }
        // 512 requests at 20 ms each would take > 10 s one by one; 128 in
        // flight need about 4 rounds of 20 ms per batch.
        assert!(
            elapsed < Duration::from_secs(3),
            "http2={http2}: {elapsed:?}"
        );
        let conns = fx.connections();
        if http2 {
            assert_eq!(
                conns, 1,
                "HTTP/2 multiplexes every request over one connection"
            );
        } else {
            assert!(
                (2..=160).contains(&conns),
                "HTTP/1.1 pools: {conns} connections"
            );
        }
        // A second batch reuses the pooled connections.
        let again = kes.generate_batch(
            &contexts[..128]
                .iter()
                .map(|c| GenerateRequest {
                    key: &key,
                    context: c,
                })
                .collect::<Vec<_>>(),
        );
        assert!(again.iter().all(Result::is_ok));
        assert_eq!(fx.connections(), conns, "http2={http2}: connections reused");
    }
}

#[test]
fn minkms_client_against_fixture() {
    let api_key = ApiKey::parse_k1(K1_KEY).unwrap();
    let fx = fixture(vec![kms_client::identity::certificate_identity(
        &api_key.client_certificate().unwrap().0,
    )
    .unwrap()]);
    let (ca, _, _) = pem_files(&fx, "minkms");
    let kms = MinKmsClient::new(MinKmsConfig {
        endpoints: vec![fx.endpoint().replace("https://", "")],
        enclave: "demo".into(),
        default_key: KeyId::new("my-key"),
        api_key,
        ca_path: Some(ca),
        options: options(3),
    })
    .unwrap();
    let key = KeyId::new("my-key");
    let dek = kms.generate_key(&key, &ctx("m")).expect("generate");
    assert_eq!(
        kms.decrypt(&key, &dek.ciphertext, &ctx("m")).unwrap(),
        dek.plaintext
    );
    assert!(matches!(
        kms.decrypt(&key, &dek.ciphertext, &ctx("n")),
        Err(KmsError::DecryptionFailed { .. })
    ));
    assert!(matches!(
        kms.generate_key(&KeyId::new("nope"), &ctx("m")),
        Err(KmsError::KeyNotFound(_))
    ));
    let before = fx.requests();
    fx.inject([Fault::Status(503, "busy".into())]);
    kms.generate_key(&key, &ctx("m")).expect("retried");
    assert_eq!(fx.requests(), before + 2);
}
