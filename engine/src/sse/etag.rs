//! ETags of encrypted objects (CRYPTO.md §4.7): sealing, unsealing, and the
//! rules for what a stored `etag` (MetaUsr) is.
//!
//! A sealed ETag is a DARE stream (2.0 when written) of the 16-byte MD5 (or
//! random bytes) under `HMAC(OEK, "SSE-etag")`, stored as 96 hex digits.
//! Multipart ETags (`<32 hex>-<parts>`) are never sealed.

use super::dare::{self, CipherSuite};
use super::keys::ObjectKey;
use super::rand::{self, RandomSource};
use super::SseError;

/// What a stored `etag` value is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoredEtag {
    /// Empty (MinIO stores an empty ETag unchanged).
    Empty,
    /// A clear 32-hex-digit MD5 (or any ≤ 16-byte binary ETag): served as is.
    Plain(Vec<u8>),
    /// `<32 hex>-<int32>`: a multipart ETag, never sealed.
    Multipart,
    /// Binary ETag longer than 16 bytes: sealed under the OEK.
    Sealed(Vec<u8>),
}

impl StoredEtag {
    /// Classifies a stored `etag` string the way MinIO's decrypt path does.
    pub fn parse(stored: &str) -> Result<Self, SseError> {
        if stored.is_empty() {
            return Ok(StoredEtag::Empty);
        }
        if stored.contains('-') {
            return if is_multipart_etag(stored) {
                Ok(StoredEtag::Multipart)
            } else {
                Err(SseError::InvalidEtag)
            };
        }
        let bin = hex::decode(stored).map_err(|_| SseError::InvalidEtag)?;
        if is_etag_sealed(&bin) {
            Ok(StoredEtag::Sealed(bin))
        } else {
            Ok(StoredEtag::Plain(bin))
        }
    }
}

/// `<32 hex digits>-<base-10 int32>`, exactly one dash.
fn is_multipart_etag(s: &str) -> bool {
    let mut it = s.split('-');
    let (Some(md5), Some(count), None) = (it.next(), it.next(), it.next()) else {
        return false;
    };
    md5.len() == 32 && md5.bytes().all(|b| b.is_ascii_hexdigit()) && count.parse::<i32>().is_ok()
}

/// MinIO's test for a sealed binary ETag: longer than 16 bytes.
pub fn is_etag_sealed(etag: &[u8]) -> bool {
    etag.len() > 16
}

/// Seals an ETag (empty stays empty) with a fresh DARE 2.0 random value.
pub fn seal_etag(
    oek: &ObjectKey,
    etag: &[u8],
    rng: &mut dyn RandomSource,
) -> Result<Vec<u8>, SseError> {
    if etag.is_empty() {
        return Ok(Vec::new());
    }
    let random: [u8; 12] = rand::array(rng)?;
    Ok(dare::encrypt(
        &oek.etag_key(),
        CipherSuite::Aes256Gcm,
        random,
        etag,
    )?)
}

/// Unseals a binary ETag; one that is not sealed is returned unchanged.
pub fn unseal_etag(oek: &ObjectKey, etag: &[u8]) -> Result<Vec<u8>, SseError> {
    if !is_etag_sealed(etag) {
        return Ok(etag.to_vec());
    }
    Ok(dare::decrypt(&oek.etag_key(), etag)?)
}

/// The stored `etag` an SSE-S3 → SSE-KMS conversion must write so that
/// clients keep seeing the same ETag (CRYPTO.md §8b): `Some(hex(unsealed))`
/// for a sealed ETag, `None` (keep as is) for anything else.
pub fn etag_for_conversion(oek: &ObjectKey, stored: &str) -> Result<Option<String>, SseError> {
    match StoredEtag::parse(stored)? {
        StoredEtag::Sealed(bin) => Ok(Some(hex::encode(unseal_etag(oek, &bin)?))),
        StoredEtag::Empty | StoredEtag::Plain(_) | StoredEtag::Multipart => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_etag_rules() {
        assert_eq!(StoredEtag::parse("").unwrap(), StoredEtag::Empty);
        assert_eq!(
            StoredEtag::parse("916516b396f0f4d4f2a0e7177557bec4-738").unwrap(),
            StoredEtag::Multipart
        );
        for bad in [
            "916516b396f0f4d4f2a0e7177557bec4-Q",
            "16516b396f0f4d4f2a0e7177557bec4-1",
            "16516b396f0f4d4f2a0e7177557bec4-1-2",
            "abc",
        ] {
            assert!(StoredEtag::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            StoredEtag::parse("90682b8e8cc7609c4671e1d64c73fc30").unwrap(),
            StoredEtag::Plain(_)
        ));
        assert!(matches!(
            StoredEtag::parse("f201040c9dc593e39ea004dc1323699bcd").unwrap(),
            StoredEtag::Sealed(_)
        ));
    }
}
