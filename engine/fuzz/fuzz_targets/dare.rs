//! DARE (object data and the ETag/config packages) under a fixed key.
//!
//! Even first byte: the rest is a stored stream. Decrypting never panics,
//! and the whole-buffer, in-place and streaming decryptors agree: all fail,
//! or all return the same plaintext whose length the size arithmetic
//! predicts. Odd first byte: the rest is a plaintext; its encryption
//! decrypts back, and the ciphertext with one byte changed or cut short
//! (at a place the input picks) never decrypts to a different plaintext.

#![no_main]

use engine::sse::SecretKey;
use engine::sse::{dare, CipherSuite};
use libfuzzer_sys::fuzz_target;

/// Every decryptor's verdict; panics if they disagree.
fn decrypt_all(key: &SecretKey, ct: &[u8]) -> Option<Vec<u8>> {
    let whole = dare::decrypt(key, ct).ok();
    let mut buf = ct.to_vec();
    let in_place = dare::decrypt_in_place(key, &mut buf).ok().map(|()| buf);
    let mut out = Vec::new();
    let streamed = dare::decrypt_stream(key, ct, &mut out).ok().map(|n| {
        assert_eq!(n, out.len() as u64);
        out
    });
    assert_eq!(whole, in_place, "decrypt vs decrypt_in_place");
    if !ct.is_empty() {
        assert_eq!(whole, streamed, "decrypt vs decrypt_stream");
    }
    if let Some(pt) = &whole {
        assert_eq!(
            dare::decrypted_size(ct.len() as u64).ok(),
            Some(pt.len() as u64)
        );
    }
    whole
}

fuzz_target!(|data: &[u8]| {
    let key = SecretKey::new([7; 32]);
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        decrypt_all(&key, rest);
        return;
    }
    let Some((pick, pt)) = rest.split_first_chunk::<4>() else {
        return;
    };
    let suite = if mode & 2 == 0 {
        CipherSuite::Aes256Gcm
    } else {
        CipherSuite::ChaCha20Poly1305
    };
    // Bit 2 stretches the plaintext over two packages (64 KiB each).
    let pt: Vec<u8> = if mode & 4 != 0 && !pt.is_empty() {
        pt.iter().copied().cycle().take(65536 + pt.len()).collect()
    } else {
        pt.to_vec()
    };
    let ct = dare::encrypt(&key, suite, [mode; 12], &pt).expect("encrypt");
    assert_eq!(dare::encrypted_size(pt.len() as u64), Some(ct.len() as u64));
    if ct.is_empty() {
        return;
    }
    assert_eq!(decrypt_all(&key, &ct).as_deref(), Some(pt.as_slice()));
    let at = u32::from_le_bytes(*pick) as usize % ct.len();
    let mut flipped = ct.clone();
    flipped[at] ^= mode | 1;
    if let Some(got) = decrypt_all(&key, &flipped) {
        assert_eq!(got, pt, "a changed byte decrypted to other data");
    }
    if let Some(got) = decrypt_all(&key, &ct[..at]) {
        assert_eq!(got, pt, "a truncated stream decrypted to other data");
    }
    let other = SecretKey::new([8; 32]);
    assert!(dare::decrypt(&other, &ct).is_err(), "wrong key decrypts");
});
