//! Decoders of what comes from a drive or a job file never panic: every
//! malformed input is a typed error. Each decoder is fed thousands of
//! mutations (bit flips, truncations, splices, random bytes) of a valid
//! input, with fixed seeds so a failure reproduces. The coverage-guided
//! fuzzers (`make fuzz`) go deeper; this runs in every `make test`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use engine::sse::config::{siogo_decrypt, siogo_encrypt, ConfigBlob};
use engine::sse::dare;
use engine::sse::{CipherSuite, CryptoEntries, SecretKey, SseType};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ROUNDS: usize = 3000;

/// One random mutation of `valid`.
fn mutate(rng: &mut StdRng, valid: &[u8]) -> Vec<u8> {
    let mut v = valid.to_vec();
    match rng.gen_range(0..6) {
        0 if !v.is_empty() => {
            let i = rng.gen_range(0..v.len());
            v[i] ^= 1 << rng.gen_range(0..8);
        }
        1 => v.truncate(rng.gen_range(0..=v.len())),
        2 => {
            let at = rng.gen_range(0..=v.len());
            let extra: Vec<u8> = (0..rng.gen_range(1..64)).map(|_| rng.gen()).collect();
            v.splice(at..at, extra);
        }
        3 if !v.is_empty() => {
            // Overwrite a run with one value (lengths, counts, flags).
            let i = rng.gen_range(0..v.len());
            let n = rng.gen_range(1..=8).min(v.len() - i);
            let b = [0x00, 0xff, 0x7f, 0x80][rng.gen_range(0..4)];
            v[i..i + n].fill(b);
        }
        4 => v = (0..rng.gen_range(0..256)).map(|_| rng.gen()).collect(),
        _ if v.len() > 2 => {
            // Duplicate a slice of itself somewhere else.
            let a = rng.gen_range(0..v.len());
            let b = rng.gen_range(a..v.len());
            let at = rng.gen_range(0..=v.len());
            let piece = v[a..b].to_vec();
            v.splice(at..at, piece);
        }
        _ => v.push(rng.gen()),
    }
    v
}

/// Runs `decode` on mutations of each valid input; fails naming the input
/// that panicked.
fn no_panic(name: &str, seed: u64, valid: &[Vec<u8>], decode: impl Fn(&[u8])) {
    let mut rng = StdRng::seed_from_u64(seed);
    for round in 0..ROUNDS {
        let base = &valid[round % valid.len()];
        let input = mutate(&mut rng, base);
        let r = catch_unwind(AssertUnwindSafe(|| decode(&input)));
        assert!(r.is_ok(), "{name}: panicked on input {input:02x?}");
    }
}

#[test]
fn dare_decryption() {
    let key = SecretKey::new([7; 32]);
    let valid: Vec<Vec<u8>> = [1usize, 100, 65536, 65537]
        .iter()
        .flat_map(|&n| {
            let pt: Vec<u8> = (0..n).map(|i| i as u8).collect();
            [CipherSuite::Aes256Gcm, CipherSuite::ChaCha20Poly1305]
                .map(|s| dare::encrypt(&key, s, [3; 12], &pt).unwrap())
        })
        .collect();
    no_panic("dare::decrypt", 1, &valid, |b| {
        let _ = dare::decrypt(&key, b);
    });
    // Size arithmetic on any stored size.
    let mut rng = StdRng::seed_from_u64(2);
    for _ in 0..ROUNDS {
        let m: u64 = match rng.gen_range(0..3) {
            0 => rng.gen(),
            1 => rng.gen_range(0..1 << 20),
            _ => u64::MAX - rng.gen_range(0..1 << 20),
        };
        let _ = dare::decrypted_size(m);
        let _ = dare::encrypted_size(m);
    }
}

#[test]
fn config_blobs() {
    let key = SecretKey::new([9; 32]);
    let stream = siogo_encrypt(
        &key,
        CipherSuite::Aes256Gcm,
        &[1; 8],
        b"aad",
        &[0x42; 20000],
    )
    .unwrap();
    no_panic("siogo_decrypt", 3, &[stream], |b| {
        let _ = siogo_decrypt(&key, CipherSuite::Aes256Gcm, &[1; 8], b"aad", b);
    });
    // EncryptBytes blobs as MinIO stores them (from the known-answer vectors).
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/vectors");
    let mut blobs = Vec::new();
    for entry in std::fs::read_dir(&vectors).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with("config_crypto.json") {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        collect_base64_blobs(&v, &mut blobs);
    }
    assert!(!blobs.is_empty(), "config_crypto vectors hold blobs");
    no_panic("ConfigBlob::parse", 4, &blobs, |b| {
        let _ = ConfigBlob::parse(b);
    });
}

/// Every long base64 string in a vector file that decodes to bytes.
fn collect_base64_blobs(v: &serde_json::Value, out: &mut Vec<Vec<u8>>) {
    use base64::Engine;
    match v {
        serde_json::Value::String(s) if s.len() > 40 => {
            if let Ok(b) = base64::engine::general_purpose::STANDARD.decode(s) {
                out.push(b);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_base64_blobs(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| collect_base64_blobs(x, out)),
        _ => {}
    }
}

#[test]
fn sse_metadata() {
    // Real SSE-S3 / SSE-KMS / SSE-C metadata from the known-answer vectors.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/vectors/sse_metadata.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let valid: Vec<Vec<(String, Vec<u8>)>> = v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["internal_metadata"].as_array())
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| {
                    Some((
                        e[0].as_str()?.to_owned(),
                        e[1].as_str()?.as_bytes().to_vec(),
                    ))
                })
                .collect()
        })
        .collect();
    assert!(valid.len() >= 3, "vector cases with metadata");
    let mut rng = StdRng::seed_from_u64(5);
    for round in 0..ROUNDS {
        let mut sys: Vec<(String, Vec<u8>)> = Vec::new();
        for (k, v) in &valid[round % valid.len()] {
            if rng.gen_bool(0.9) {
                let v = if rng.gen_bool(0.4) {
                    mutate(&mut rng, v)
                } else {
                    v.clone()
                };
                sys.push((k.clone(), v));
            }
        }
        if rng.gen_bool(0.2) {
            let other = &valid[rng.gen_range(0..valid.len())];
            if let Some(e) = other.get(rng.gen_range(0..other.len().max(1))) {
                sys.push(e.clone());
            }
        }
        if rng.gen_bool(0.2) {
            sys.push((
                "X-Minio-Internal-Encrypted-Multipart".to_owned(),
                Vec::new(),
            ));
        }
        let r = catch_unwind(AssertUnwindSafe(|| {
            let e = CryptoEntries::from_sys(sys.iter().map(|(k, v)| (k.as_bytes(), v)));
            let _ = e.classify();
            let _ = e.is_multipart();
            for ty in [SseType::S3, SseType::Kms, SseType::C] {
                if let Ok(p) = e.parse(ty) {
                    let _ = p.kms_context("bucket", "object");
                }
            }
        }));
        assert!(r.is_ok(), "CryptoEntries panicked on {sys:?}");
    }
}

#[test]
fn job_files() {
    let jobs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/jobs");
    let mut valid = Vec::new();
    for entry in std::fs::read_dir(&jobs).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            valid.push(std::fs::read(&path).unwrap());
        }
    }
    assert!(!valid.is_empty());
    no_panic("parse_job", 6, &valid, |b| {
        if let Ok(text) = std::str::from_utf8(b) {
            let _ = engine::job::parse_job(text);
        }
    });
}

#[test]
fn bitrot_frames() {
    let mut frame = Vec::new();
    engine::erasure::bitrot::frame_into(&mut frame, &[5; 1000]);
    no_panic("verify_frame", 7, &[frame], |b| {
        let _ = engine::erasure::bitrot::verify_frame(b);
    });
}

/// Found by the `rotate_edit` fuzzer: a version whose `MetaSys` repeats the
/// KMS key id. The rotation's edit replaced only the first copy, while
/// MinIO reads the last, so the rotated object kept its old key id.
#[test]
fn rotation_edit_replaces_repeated_keys() {
    use engine::sse::metadata::META_KEY_ID;
    use engine::sse::Changes;
    use xlmeta::XlMeta;

    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/fuzz/repeated-sys-key.xl.meta");
    let raw = std::fs::read(path).unwrap();
    let xl = XlMeta::parse(&raw).unwrap();
    let i = (0..xl.versions().len())
        .find(|&i| xl.object(i).is_ok())
        .unwrap();
    let mut changes = Changes::default();
    changes.set_sys(META_KEY_ID, "rotated-key");
    let mut edited = xl.clone();
    engine::run::object::apply_changes(&mut edited, i, &changes).unwrap();
    let back_raw = edited.encode().unwrap();
    let back = XlMeta::parse(&back_raw).unwrap();
    let obj = back.object(i).unwrap();
    // MinIO reads the last copy of a repeated key; every copy must change.
    assert_eq!(obj.meta_sys(META_KEY_ID), Some(&b"rotated-key"[..]));
    let copies: Vec<&[u8]> = obj
        .meta_sys
        .iter()
        .flatten()
        .filter(|(k, _)| k == META_KEY_ID)
        .map(|(_, v)| v.as_ref())
        .collect();
    assert_eq!(copies, [b"rotated-key", b"rotated-key"]);
}
