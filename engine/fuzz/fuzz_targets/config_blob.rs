//! Config blobs (`.minio.sys/config/…`, IAM items, bucket targets).
//!
//! Even first byte: the rest is parsed as an `EncryptBytes` blob (header
//! fields must point into the input), decrypted under a fixed DEK, decrypted
//! as a bare sio-go stream, and read as bucket-target SSE metadata; none may
//! panic. Odd first byte: the rest is a plaintext; its sio-go stream
//! decrypts back, and with one byte changed or cut short never decrypts to
//! a different plaintext.

#![no_main]

use engine::sse::config::{parse_bucket_targets_meta, siogo_decrypt, siogo_encrypt, ConfigBlob};
use engine::sse::{CipherSuite, SecretKey};
use kms_client::PlaintextKey;
use libfuzzer_sys::fuzz_target;

const NONCE: [u8; 8] = [1; 8];

fuzz_target!(|data: &[u8]| {
    let key = SecretKey::new([9; 32]);
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let suite = if mode & 2 == 0 {
        CipherSuite::Aes256Gcm
    } else {
        CipherSuite::ChaCha20Poly1305
    };
    if mode & 1 == 0 {
        if let Ok(blob) = ConfigBlob::parse(rest) {
            assert!(rest.ends_with(blob.stream));
            let _ = blob.decrypt(&PlaintextKey::new([9; 32]));
        }
        let _ = siogo_decrypt(&key, suite, &NONCE, b"aad", rest);
        let _ = parse_bucket_targets_meta(rest);
        return;
    }
    let Some((pick, pt)) = rest.split_first_chunk::<4>() else {
        return;
    };
    // Bit 2 stretches the plaintext over two sio-go fragments (16 KiB each).
    let pt: Vec<u8> = if mode & 4 != 0 && !pt.is_empty() {
        pt.iter().copied().cycle().take(16384 + pt.len()).collect()
    } else {
        pt.to_vec()
    };
    let ct = siogo_encrypt(&key, suite, &NONCE, b"aad", &pt).expect("encrypt");
    let back = siogo_decrypt(&key, suite, &NONCE, b"aad", &ct).expect("round trip");
    assert_eq!(back.expose(), pt.as_slice());
    let at = u32::from_le_bytes(*pick) as usize % ct.len();
    let mut flipped = ct.clone();
    flipped[at] ^= mode | 1;
    if let Ok(got) = siogo_decrypt(&key, suite, &NONCE, b"aad", &flipped) {
        assert_eq!(
            got.expose(),
            pt.as_slice(),
            "a changed byte decrypted to other data"
        );
    }
    if let Ok(got) = siogo_decrypt(&key, suite, &NONCE, b"aad", &ct[..at]) {
        assert_eq!(
            got.expose(),
            pt.as_slice(),
            "a truncated stream decrypted to other data"
        );
    }
    assert!(
        siogo_decrypt(&key, suite, &NONCE, b"other", &ct).is_err(),
        "wrong AAD decrypts"
    );
});
