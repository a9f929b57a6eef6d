//! The few primitives the static-key backend needs (CRYPTO.md §5): HMAC-SHA-256,
//! AES-256-GCM and ChaCha20-Poly1305 (via HChaCha20) on 32-byte data keys.
//!
//! Thin wrappers over `ring` and `chacha20` so the format code reads like the
//! spec and never touches a cipher API directly.

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hmac;
use zeroize::Zeroizing;

/// Why an AEAD operation failed; deliberately carries no detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AeadFailure;

/// The AEADs a static-key ciphertext may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Aead {
    /// AES-256-GCM under `HMAC(master, iv)` (every binary ciphertext).
    AesGcmHmac,
    /// ChaCha20-Poly1305 under `HChaCha20(master, iv)` (legacy JSON only).
    ChaCha20Poly1305,
}

/// `HMAC-SHA-256(key, message)` with the ipad/opad state precomputed once.
pub(crate) struct HmacKey(hmac::Key);

impl HmacKey {
    pub(crate) fn new(key: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, key))
    }

    pub(crate) fn sign(&self, parts: &[&[u8]]) -> Zeroizing<[u8; 32]> {
        let mut ctx = hmac::Context::with_key(&self.0);
        for part in parts {
            ctx.update(part);
        }
        let tag = ctx.sign();
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(tag.as_ref());
        out
    }
}

/// Derives the per-ciphertext sealing key from the master key and the 16-byte IV.
pub(crate) fn sealing_key(
    aead: Aead,
    master: &[u8; 32],
    hmac: &HmacKey,
    iv: &[u8; 16],
) -> Zeroizing<[u8; 32]> {
    match aead {
        Aead::AesGcmHmac => hmac.sign(&[iv]),
        Aead::ChaCha20Poly1305 => {
            use chacha20::cipher::consts::U10;
            let derived = chacha20::hchacha::<U10>(master.into(), iv.into());
            let mut out = Zeroizing::new([0u8; 32]);
            out.copy_from_slice(&derived);
            out
        }
    }
}

fn less_safe_key(aead: Aead, key: &[u8; 32]) -> Result<LessSafeKey, AeadFailure> {
    let alg = match aead {
        Aead::AesGcmHmac => &aead::AES_256_GCM,
        Aead::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
    };
    // Both algorithms take 32-byte keys; ring rejects nothing else here.
    UnboundKey::new(alg, key)
        .map(LessSafeKey::new)
        .map_err(|_| AeadFailure)
}

/// Seals `plaintext` in place, returning ciphertext || tag.
pub(crate) fn seal(
    aead: Aead,
    key: &[u8; 32],
    nonce: &[u8; 12],
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, AeadFailure> {
    let key = less_safe_key(aead, key)?;
    let mut buf = Vec::with_capacity(plaintext.len() + 16 + 28);
    buf.extend_from_slice(plaintext);
    let nonce = Nonce::assume_unique_for_key(*nonce);
    key.seal_in_place_append_tag(nonce, Aad::from(aad), &mut buf)
        .map_err(|_| AeadFailure)?;
    Ok(buf)
}

/// Opens ciphertext || tag into a fresh zeroized buffer.
pub(crate) fn open(
    aead: Aead,
    key: &[u8; 32],
    nonce: &[u8; 12],
    sealed: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, AeadFailure> {
    let key = less_safe_key(aead, key)?;
    let mut buf = Zeroizing::new(sealed.to_vec());
    let nonce = Nonce::assume_unique_for_key(*nonce);
    let len = key
        .open_in_place(nonce, Aad::from(aad), &mut buf)
        .map_err(|_| AeadFailure)?
        .len();
    buf.truncate(len);
    Ok(buf)
}
