//! The object key (OEK) and the keys derived from it; sealing and unsealing
//! the OEK under a KMS data key or an SSE-C client key (CRYPTO.md §1, §2).
//!
//! ```text
//! KEK    = HMAC(ext key, IV ‖ domain ‖ "DAREv2-HMAC-SHA256" ‖ path_join(bucket, object))
//! sealed = DARE 2.0 (one final package) of the 32-byte OEK under KEK   → 64 bytes
//! ```
//! The legacy `DARE-SHA256` algorithm (`KEK = SHA-256(ext key ‖ IV)`, DARE 1.0
//! or 2.0) is unsealed only, never written.

use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use kms_client::PlaintextKey;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::dare::{self, CipherSuite};
use super::rand::{self, RandomSource};
use super::SseError;

type HmacSha256 = Hmac<Sha256>;

/// 32 bytes of secret key material (an OEK, a KEK or a key derived from the
/// OEK): zeroized on drop, redacted in `Debug`, deliberately not `Clone`.
#[derive(Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    /// Takes ownership of key bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Copies a KMS plaintext data key (a DEK is used directly as a stream key
    /// by the config format).
    pub fn from_plaintext(key: &PlaintextKey) -> Self {
        Self(*key.expose())
    }

    /// The key bytes, for the cipher that consumes them.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// Decrypted bytes that may hold credentials (IAM and config objects,
/// remote-target secrets): zeroized on drop, redacted in `Debug`.
#[derive(Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of the bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

/// HMAC-SHA-256 over the concatenation of `parts`.
pub(crate) fn hmac(key: &[u8; 32], parts: &[&[u8]]) -> SecretKey {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    for p in parts {
        mac.update(p);
    }
    SecretKey(mac.finalize().into_bytes().into())
}

/// Whose key an object key is sealed under; part of the KEK derivation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Domain {
    /// SSE-S3: a DEK from the KMS default key.
    SseS3,
    /// SSE-KMS: a DEK from a named KMS key.
    SseKms,
    /// SSE-C: the client's own key.
    SseC,
}

impl Domain {
    /// The exact string hashed into the KEK.
    pub fn as_str(self) -> &'static str {
        match self {
            Domain::SseS3 => "SSE-S3",
            Domain::SseKms => "SSE-KMS",
            Domain::SseC => "SSE-C",
        }
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The algorithm named by `…-Seal-Algorithm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SealAlgorithm {
    /// `DAREv2-HMAC-SHA256`: the only algorithm MinIO writes.
    DareV2HmacSha256,
    /// `DARE-SHA256`: legacy, SSE-C only, unsealed but never written.
    DareSha256,
}

impl SealAlgorithm {
    /// The metadata value.
    pub fn as_str(self) -> &'static str {
        match self {
            SealAlgorithm::DareV2HmacSha256 => "DAREv2-HMAC-SHA256",
            SealAlgorithm::DareSha256 => "DARE-SHA256",
        }
    }

    /// Parses a metadata value (exact, case-sensitive).
    pub fn parse(s: &[u8]) -> Option<Self> {
        match s {
            b"DAREv2-HMAC-SHA256" => Some(SealAlgorithm::DareV2HmacSha256),
            b"DARE-SHA256" => Some(SealAlgorithm::DareSha256),
            _ => None,
        }
    }
}

/// The 32-byte IV drawn fresh for every seal. Not secret.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Iv([u8; 32]);

impl Iv {
    /// Wraps IV bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Draws a fresh IV.
    pub fn generate(rng: &mut dyn RandomSource) -> Result<Self, SseError> {
        Ok(Self(rand::array(rng)?))
    }

    /// The IV bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Standard base64 with padding, as stored in `…-Iv` (44 characters).
    pub fn to_base64(&self) -> String {
        B64.encode(self.0)
    }

    /// Parses the stored form; anything but 32 bytes is rejected.
    pub fn from_base64(s: &[u8]) -> Option<Self> {
        let v = decode_b64(s)?;
        <[u8; 32]>::try_from(v.as_slice()).ok().map(Self)
    }
}

impl fmt::Debug for Iv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Iv({})", hex::encode(self.0))
    }
}

/// Standard base64 as Go's `StdEncoding` reads it: padding required, but
/// non-zero trailing bits accepted (Rust's `STANDARD` rejects them).
const GO_STD: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// Decodes standard base64 like Go, which also skips CR and LF.
pub(crate) fn decode_b64(s: &[u8]) -> Option<Vec<u8>> {
    if s.iter().any(|&b| b == b'\r' || b == b'\n') {
        let clean: Vec<u8> = s
            .iter()
            .copied()
            .filter(|&b| b != b'\r' && b != b'\n')
            .collect();
        GO_STD.decode(clean).ok()
    } else {
        GO_STD.decode(s).ok()
    }
}

/// Go's `path.Join(bucket, object)`: the path a sealed key is bound to.
pub fn path_join(bucket: &str, object: &str) -> String {
    let joined = match (bucket.is_empty(), object.is_empty()) {
        (true, true) => return String::new(),
        (false, true) => bucket.to_owned(),
        (true, false) => object.to_owned(),
        (false, false) => format!("{bucket}/{object}"),
    };
    clean_path(&joined)
}

/// Go's `path.Clean` (lexical; the input is non-empty).
fn clean_path(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if matches!(out.last(), Some(&last) if last != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            s => out.push(s),
        }
    }
    let body = out.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".to_owned(),
        (false, false) => body,
    }
}

/// The object encryption key: fixed for the life of an object version.
///
/// Everything that protects the object's bytes (data, ETag, checksum,
/// compression index) is derived from it; rotation only re-seals it.
#[derive(PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct ObjectKey(SecretKey);

impl fmt::Debug for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ObjectKey(<redacted>)")
    }
}

/// Base strings of the OEK-derived keys (CRYPTO.md §1, §4.8).
const ETAG_KEY: &[u8] = b"SSE-etag";
const CHECKSUM_KEY: &[u8] = b"object-checksum";
const COMPRESSION_INDEX_KEY: &[u8] = b"compression-index";

impl ObjectKey {
    /// Wraps raw key bytes (e.g. a recorded OEK).
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(SecretKey(bytes))
    }

    /// A fresh OEK the way MinIO makes one:
    /// `HMAC(ext key, "object-encryption-key generation" ‖ R32)`.
    pub fn generate(ext_key: &PlaintextKey, rng: &mut dyn RandomSource) -> Result<Self, SseError> {
        let mut nonce: [u8; 32] = rand::array(rng)?;
        let key = hmac(
            ext_key.expose(),
            &[b"object-encryption-key generation", &nonce],
        );
        nonce.zeroize();
        Ok(Self(key))
    }

    /// The key bytes.
    pub fn expose(&self) -> &[u8; 32] {
        self.0.expose()
    }

    /// The DARE key of a single-part object's data: the OEK itself.
    pub fn data_key(&self) -> &SecretKey {
        &self.0
    }

    /// The DARE key of part `part_number` (xl.meta `PartNums`, 1-based) of a
    /// multipart object: `HMAC(OEK, le32(part_number))`.
    pub fn part_key(&self, part_number: u32) -> SecretKey {
        hmac(self.expose(), &[&part_number.to_le_bytes()])
    }

    /// The DARE key of the stream holding part `part_number`: the OEK itself
    /// for single-part data, the part key when the data is per-part
    /// encrypted (CRYPTO.md §4.4).
    pub fn stream_key(&self, per_part: bool, part_number: u32) -> SecretKey {
        if per_part {
            self.part_key(part_number)
        } else {
            SecretKey(*self.expose())
        }
    }

    /// The key the ETag is sealed under.
    pub fn etag_key(&self) -> SecretKey {
        hmac(self.expose(), &[ETAG_KEY])
    }

    /// The key of the `x-minio-internal-crc` checksum blob.
    pub fn checksum_key(&self) -> SecretKey {
        hmac(self.expose(), &[CHECKSUM_KEY])
    }

    /// The key of the per-part compression indexes.
    pub fn compression_index_key(&self) -> SecretKey {
        hmac(self.expose(), &[COMPRESSION_INDEX_KEY])
    }

    /// Seals this key under `ext_key` for `bucket/object` with algorithm
    /// `DAREv2-HMAC-SHA256`; draws the 12-byte DARE random value from `rng`.
    pub fn seal(
        &self,
        ext_key: &PlaintextKey,
        iv: Iv,
        domain: Domain,
        bucket: &str,
        object: &str,
        rng: &mut dyn RandomSource,
    ) -> Result<SealedKey, SseError> {
        let kek = kek_v2(ext_key, &iv, domain, bucket, object);
        let random: [u8; 12] = rand::array(rng)?;
        let mut sealed = [0u8; SEALED_LEN];
        dare::seal_single_package(
            &kek,
            CipherSuite::Aes256Gcm,
            &random,
            self.expose(),
            &mut sealed,
        )?;
        Ok(SealedKey {
            iv,
            algorithm: SealAlgorithm::DareV2HmacSha256,
            sealed,
        })
    }
}

fn kek_v2(
    ext_key: &PlaintextKey,
    iv: &Iv,
    domain: Domain,
    bucket: &str,
    object: &str,
) -> SecretKey {
    let path = path_join(bucket, object);
    hmac(
        ext_key.expose(),
        &[
            iv.as_bytes(),
            domain.as_str().as_bytes(),
            SealAlgorithm::DareV2HmacSha256.as_str().as_bytes(),
            path.as_bytes(),
        ],
    )
}

/// Length of a sealed object key: one DARE package around 32 bytes.
pub const SEALED_LEN: usize = 64;

/// A sealed object key with the IV and algorithm it needs to be unsealed.
///
/// Only [`ObjectKey::seal`] and the metadata parser make one; the only way
/// back to an [`ObjectKey`] is [`SealedKey::unseal`].
#[derive(Clone, PartialEq, Eq)]
pub struct SealedKey {
    iv: Iv,
    algorithm: SealAlgorithm,
    sealed: [u8; SEALED_LEN],
}

impl fmt::Debug for SealedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedKey")
            .field("iv", &self.iv)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl SealedKey {
    /// Assembles a sealed key from its parsed metadata parts.
    pub fn from_parts(iv: Iv, algorithm: SealAlgorithm, sealed: [u8; SEALED_LEN]) -> Self {
        Self {
            iv,
            algorithm,
            sealed,
        }
    }

    /// The IV.
    pub fn iv(&self) -> &Iv {
        &self.iv
    }

    /// The seal algorithm.
    pub fn algorithm(&self) -> SealAlgorithm {
        self.algorithm
    }

    /// The 64 sealed bytes.
    pub fn sealed_bytes(&self) -> &[u8; SEALED_LEN] {
        &self.sealed
    }

    /// The stored form of the sealed bytes (standard base64, 88 characters).
    pub fn sealed_base64(&self) -> String {
        B64.encode(self.sealed)
    }

    /// Recovers the OEK. Any wrong input (ext key, domain, bucket, object,
    /// IV) or tampered byte gives the same [`SseError::UnsealFailed`].
    pub fn unseal(
        &self,
        ext_key: &PlaintextKey,
        domain: Domain,
        bucket: &str,
        object: &str,
    ) -> Result<ObjectKey, SseError> {
        let mut out = [0u8; 32];
        let ok = match self.algorithm {
            SealAlgorithm::DareV2HmacSha256 => {
                let kek = kek_v2(ext_key, &self.iv, domain, bucket, object);
                dare::open_single_package_v2(&kek, &self.sealed, &mut out).is_ok()
            }
            SealAlgorithm::DareSha256 => {
                let mut h = Sha256::new();
                h.update(ext_key.expose());
                h.update(self.iv.as_bytes());
                let kek = SecretKey(h.finalize().into());
                dare::open_single_package_any(&kek, &self.sealed, &mut out).is_ok()
            }
        };
        let key = ObjectKey::new(out);
        out.zeroize();
        if ok {
            Ok(key)
        } else {
            Err(SseError::UnsealFailed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_join_is_go_path_join() {
        for (b, o, want) in [
            ("bucket", "object", "bucket/object"),
            ("bucket", "dir/", "bucket/dir"),
            ("bucket", "a//b", "bucket/a/b"),
            ("bucket", "./x", "bucket/x"),
            ("bucket", "", "bucket"),
            ("bucket", "a/../../b", "b"),
            ("bucket", "../../b", "../b"),
            ("photos", "2024/cat.png", "photos/2024/cat.png"),
        ] {
            assert_eq!(path_join(b, o), want, "{b:?} {o:?}");
        }
    }

    #[test]
    fn iv_rejects_wrong_lengths() {
        assert!(Iv::from_base64(b"4OHi4+Tl5ufo6err7O3u7/Dx8vP09fb3+Pn6+/z9/v8=").is_some());
        assert!(Iv::from_base64(b"4OHi4+Tl5ufo6err7O3u7/Dx8vP09fb3+Pn6+/z9/v/g").is_none());
        assert!(Iv::from_base64(b"not base64!").is_none());
        // Go accepts non-zero trailing bits and skips CR/LF.
        assert!(Iv::from_base64(b"4OHi4+Tl5ufo6err7O3u7/Dx8vP09fb3+Pn6+/z9/v/=").is_some());
        assert!(Iv::from_base64(b"4OHi4+Tl5ufo6err7O3u7/Dx8vP0\r\n9fb3+Pn6+/z9/v8=").is_some());
    }
}
