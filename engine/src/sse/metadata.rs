//! The `X-Minio-Internal-Server-Side-Encryption-*` metadata of an object
//! version (CRYPTO.md §3, ONDISK.md §5.6–5.8): reading it into typed values,
//! classifying the version (JOB.md §8.6), and describing edits as a
//! [`Changes`] set the engine applies through the xl.meta editor.
//!
//! All crypto keys live in `MetaSys` (values = the bytes of the text, e.g. the
//! base64 string); the ETag lives in `MetaUsr` under `etag`. Lookups are
//! exact and case-sensitive, as in MinIO.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use kms_client::{Context, KeyId};

use super::keys::{decode_b64, path_join, Domain, Iv, SealAlgorithm, SealedKey, SEALED_LEN};
use super::SseError;

/// `…-Iv`: base64 of the 32-byte seal IV.
pub const META_IV: &str = "X-Minio-Internal-Server-Side-Encryption-Iv";
/// `…-Seal-Algorithm`: `DAREv2-HMAC-SHA256` (legacy `DARE-SHA256`).
pub const META_ALGORITHM: &str = "X-Minio-Internal-Server-Side-Encryption-Seal-Algorithm";
/// Sealed OEK of an SSE-C object.
pub const META_SEALED_KEY_SSEC: &str = "X-Minio-Internal-Server-Side-Encryption-Sealed-Key";
/// Sealed OEK of an SSE-S3 object.
pub const META_SEALED_KEY_S3: &str = "X-Minio-Internal-Server-Side-Encryption-S3-Sealed-Key";
/// Sealed OEK of an SSE-KMS object.
pub const META_SEALED_KEY_KMS: &str = "X-Minio-Internal-Server-Side-Encryption-Kms-Sealed-Key";
/// KMS master key name (SSE-S3 and SSE-KMS).
pub const META_KEY_ID: &str = "X-Minio-Internal-Server-Side-Encryption-S3-Kms-Key-Id";
/// Base64 of the KMS ciphertext of the data key (SSE-S3 and SSE-KMS).
pub const META_DATA_ENCRYPTION_KEY: &str =
    "X-Minio-Internal-Server-Side-Encryption-S3-Kms-Sealed-Key";
/// Base64 of the canonical JSON of the user KMS context (SSE-KMS only).
pub const META_CONTEXT: &str = "X-Minio-Internal-Server-Side-Encryption-Context";
/// Present (empty) when the data is encrypted per part.
pub const META_MULTIPART: &str = "X-Minio-Internal-Encrypted-Multipart";
/// Plaintext size (MetaSys, decimal).
pub const META_ACTUAL_SIZE: &str = "X-Minio-Internal-actual-size";
/// Object checksum blob (MetaSys, binary; DARE-encrypted for SSE objects).
pub const META_CRC: &str = "x-minio-internal-crc";
/// The ETag (MetaUsr).
pub const USR_ETAG: &str = "etag";

/// Every key whose presence marks a version as encrypted (MinIO `IsEncrypted`).
pub const CRYPTO_KEYS: [&str; 9] = [
    META_MULTIPART,
    META_IV,
    META_ALGORITHM,
    META_SEALED_KEY_SSEC,
    META_SEALED_KEY_S3,
    META_SEALED_KEY_KMS,
    META_KEY_ID,
    META_DATA_ENCRYPTION_KEY,
    META_CONTEXT,
];

/// Server-side encryption type of a version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SseType {
    /// SSE-S3.
    S3,
    /// SSE-KMS.
    Kms,
    /// SSE-C.
    C,
}

impl SseType {
    /// The seal domain of this type.
    pub fn domain(self) -> Domain {
        match self {
            SseType::S3 => Domain::SseS3,
            SseType::Kms => Domain::SseKms,
            SseType::C => Domain::SseC,
        }
    }

    fn sealed_key_name(self) -> &'static str {
        match self {
            SseType::S3 => META_SEALED_KEY_S3,
            SseType::Kms => META_SEALED_KEY_KMS,
            SseType::C => META_SEALED_KEY_SSEC,
        }
    }
}

/// The crypto entries of a version's `MetaSys`, copied out of any iterator
/// of `(key, value bytes)` (the xl.meta view borrows; we keep only these).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CryptoEntries {
    entries: BTreeMap<&'static str, Vec<u8>>,
}

impl CryptoEntries {
    /// Picks the crypto keys out of a `MetaSys` map.
    pub fn from_sys<K, V, I>(sys: I) -> Self
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
        I: IntoIterator<Item = (K, V)>,
    {
        let mut entries = BTreeMap::new();
        for (k, v) in sys {
            if let Some(name) = CRYPTO_KEYS.iter().find(|n| n.as_bytes() == k.as_ref()) {
                entries.insert(*name, v.as_ref().to_vec());
            }
        }
        Self { entries }
    }

    fn get(&self, key: &str) -> Option<&[u8]> {
        self.entries.get(key).map(Vec::as_slice)
    }

    fn has(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    /// Whether the data is encrypted per part (presence of the flag).
    pub fn is_multipart(&self) -> bool {
        self.has(META_MULTIPART)
    }

    /// Classifies the version (CRYPTO.md §3.3, JOB.md §8.6).
    pub fn classify(&self) -> Classification {
        let markers: Vec<SseType> = [SseType::Kms, SseType::S3, SseType::C]
            .into_iter()
            .filter(|t| self.has(t.sealed_key_name()))
            .collect();
        match markers.as_slice() {
            [] if self.entries.is_empty() => Classification::Plaintext,
            [] => Classification::Tampered(SseError::UnknownSseType),
            // SSE-C is skipped whatever its flags (JOB.md §9 step 6 precedes step 7).
            [SseType::C] => Classification::SseC(self.parse(SseType::C).ok()),
            [t] => match self.parse(*t) {
                Ok(p) if *t == SseType::S3 => Classification::SseS3(p),
                Ok(p) => Classification::SseKms(p),
                Err(e) => Classification::Tampered(e),
            },
            _ => Classification::Tampered(SseError::MultipleSealedKeys),
        }
    }

    /// Parses the metadata as type `ty`, with MinIO's checks in MinIO's
    /// order (CRYPTO.md §3.4): first failure wins.
    pub fn parse(&self, ty: SseType) -> Result<ParsedSse, SseError> {
        let iv = self.get(META_IV).ok_or(SseError::MissingMeta(META_IV))?;
        let alg = self
            .get(META_ALGORITHM)
            .ok_or(SseError::MissingMeta(META_ALGORITHM))?;
        let sealed = self
            .get(ty.sealed_key_name())
            .ok_or(SseError::MissingMeta(ty.sealed_key_name()))?;
        let (key_id, kms_key) = match ty {
            SseType::C => (None, None),
            SseType::S3 | SseType::Kms => {
                let id = self.get(META_KEY_ID);
                let ct = self.get(META_DATA_ENCRYPTION_KEY);
                match (id, ct) {
                    (Some(_), None) => return Err(SseError::MissingMeta(META_DATA_ENCRYPTION_KEY)),
                    (None, Some(_)) => return Err(SseError::MissingMeta(META_KEY_ID)),
                    (None, None) if ty == SseType::Kms => {
                        return Err(SseError::MissingMeta(META_KEY_ID))
                    }
                    pair => pair,
                }
            }
        };
        let iv = Iv::from_base64(iv).ok_or(SseError::InvalidMeta(META_IV))?;
        let algorithm = match SealAlgorithm::parse(alg) {
            Some(SealAlgorithm::DareV2HmacSha256) => SealAlgorithm::DareV2HmacSha256,
            Some(SealAlgorithm::DareSha256) if ty == SseType::C => SealAlgorithm::DareSha256,
            _ => return Err(SseError::InvalidMeta(META_ALGORITHM)),
        };
        let sealed: [u8; SEALED_LEN] = decode_b64(sealed)
            .and_then(|v| v.try_into().ok())
            .ok_or(SseError::InvalidMeta(ty.sealed_key_name()))?;
        let kms = match (key_id, kms_key) {
            (Some(id), Some(ct)) => {
                let ciphertext =
                    decode_b64(ct).ok_or(SseError::InvalidMeta(META_DATA_ENCRYPTION_KEY))?;
                let id = std::str::from_utf8(id).map_err(|_| SseError::InvalidMeta(META_KEY_ID))?;
                Some(KmsBinding {
                    key_id: KeyId::new(id),
                    ciphertext,
                })
            }
            _ => None,
        };
        let context = match (ty, self.get(META_CONTEXT)) {
            (SseType::Kms, Some(b64)) => Some(parse_user_context(b64)?),
            _ => None,
        };
        Ok(ParsedSse {
            ty,
            sealed: SealedKey::from_parts(iv, algorithm, sealed),
            kms,
            context,
            multipart: self.is_multipart(),
        })
    }
}

/// Parses a stored `…-Context`: base64 of a JSON object of string values.
fn parse_user_context(b64: &[u8]) -> Result<Context, SseError> {
    let json = decode_b64(b64).ok_or(SseError::InvalidMeta(META_CONTEXT))?;
    let map: BTreeMap<String, String> =
        serde_json::from_slice(&json).map_err(|_| SseError::InvalidMeta(META_CONTEXT))?;
    Ok(map.into_iter().collect())
}

/// What a version is, for the job's decisions.
#[derive(Debug)]
pub enum Classification {
    /// No crypto metadata at all.
    Plaintext,
    /// SSE-S3 with well-formed metadata.
    SseS3(ParsedSse),
    /// SSE-KMS with well-formed metadata.
    SseKms(ParsedSse),
    /// SSE-C (parsed if well-formed): always skipped.
    SseC(Option<ParsedSse>),
    /// Crypto metadata MinIO would refuse (unknown type, several sealed keys,
    /// a marker without what it needs): never touched, never "plaintext".
    Tampered(SseError),
}

/// The KMS half of SSE-S3/SSE-KMS metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmsBinding {
    /// The master key the DEK is encrypted under.
    pub key_id: KeyId,
    /// The KMS ciphertext of the DEK, exactly as stored (decoded from base64).
    pub ciphertext: Vec<u8>,
}

/// Well-formed crypto metadata of one version.
#[derive(Clone, Debug)]
pub struct ParsedSse {
    /// The encryption type.
    pub ty: SseType,
    /// The sealed OEK with its IV and algorithm.
    pub sealed: SealedKey,
    /// Key id and DEK ciphertext; `None` for SSE-C and for key-less legacy
    /// SSE-S3 (written with a removed in-process master key).
    pub kms: Option<KmsBinding>,
    /// The stored user context (SSE-KMS only).
    pub context: Option<Context>,
    /// Whether data is encrypted per part.
    pub multipart: bool,
}

/// The associated data the KMS binds an object's DEK to (CRYPTO.md §1.2):
/// the user context plus `bucket → path_join(bucket, object)` unless the user
/// context already has a key equal to the bucket name.
pub fn object_kms_context(user: Option<&Context>, bucket: &str, object: &str) -> Context {
    let mut ctx = user.cloned().unwrap_or_default();
    if !ctx.contains_key(bucket.as_bytes()) {
        ctx.insert(bucket.as_bytes(), path_join(bucket, object).into_bytes());
    }
    ctx
}

impl ParsedSse {
    /// The KMS context this version's DEK was generated under. SSE-S3 ignores
    /// any stored context (CRYPTO.md §10.3).
    pub fn kms_context(&self, bucket: &str, object: &str) -> Context {
        match self.ty {
            SseType::Kms => object_kms_context(self.context.as_ref(), bucket, object),
            SseType::S3 | SseType::C => object_kms_context(None, bucket, object),
        }
    }
}

/// Edits to one version's metadata maps, applied by the engine through the
/// xl.meta editor. Keys not named here stay byte-identical.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// `MetaSys` entries to add or replace (value = raw bytes to store).
    pub sys_set: BTreeMap<String, Vec<u8>>,
    /// `MetaSys` entries to delete (absent ones are ignored).
    pub sys_remove: Vec<String>,
    /// `MetaUsr` entries to add or replace.
    pub usr_set: BTreeMap<String, String>,
    /// `MetaUsr` entries to delete.
    pub usr_remove: Vec<String>,
}

impl Changes {
    /// Sets a `MetaSys` entry.
    pub fn set_sys(&mut self, key: &str, value: impl Into<Vec<u8>>) {
        self.sys_remove.retain(|k| k != key);
        self.sys_set.insert(key.to_owned(), value.into());
    }

    /// Deletes a `MetaSys` entry.
    pub fn remove_sys(&mut self, key: &str) {
        self.sys_set.remove(key);
        if !self.sys_remove.iter().any(|k| k == key) {
            self.sys_remove.push(key.to_owned());
        }
    }

    /// Sets a `MetaUsr` entry.
    pub fn set_usr(&mut self, key: &str, value: impl Into<String>) {
        self.usr_remove.retain(|k| k != key);
        self.usr_set.insert(key.to_owned(), value.into());
    }

    /// Applies the changes to plain maps (tests, and callers without an editor).
    pub fn apply(&self, sys: &mut BTreeMap<String, Vec<u8>>, usr: &mut BTreeMap<String, String>) {
        for k in &self.sys_remove {
            sys.remove(k);
        }
        for (k, v) in &self.sys_set {
            sys.insert(k.clone(), v.clone());
        }
        for k in &self.usr_remove {
            usr.remove(k);
        }
        for (k, v) in &self.usr_set {
            usr.insert(k.clone(), v.clone());
        }
    }
}

/// The crypto `MetaSys` entries MinIO writes for a sealed key
/// (`CreateMetadata`): Seal-Algorithm, Iv, the type's sealed key, and for
/// SSE-S3/SSE-KMS the key id and DEK ciphertext; the user context iff
/// non-empty (SSE-KMS only).
pub fn sealed_key_entries(
    ty: SseType,
    sealed: &SealedKey,
    kms: Option<(&KeyId, &[u8])>,
    context: Option<&Context>,
) -> Result<Vec<(&'static str, Vec<u8>)>, SseError> {
    if sealed.algorithm() != SealAlgorithm::DareV2HmacSha256 {
        // MinIO never writes the legacy algorithm; neither do we.
        return Err(SseError::InvalidMeta(META_ALGORITHM));
    }
    let mut out = vec![
        (
            META_ALGORITHM,
            sealed.algorithm().as_str().as_bytes().to_vec(),
        ),
        (META_IV, sealed.iv().to_base64().into_bytes()),
        (ty.sealed_key_name(), sealed.sealed_base64().into_bytes()),
    ];
    if let Some((id, ct)) = kms {
        out.push((META_KEY_ID, id.as_str().as_bytes().to_vec()));
        out.push((META_DATA_ENCRYPTION_KEY, B64.encode(ct).into_bytes()));
    }
    if let (SseType::Kms, Some(ctx)) = (ty, context) {
        if !ctx.is_empty() {
            out.push((
                META_CONTEXT,
                B64.encode(ctx.to_canonical_json()).into_bytes(),
            ));
        }
    }
    Ok(out)
}

/// Whether MinIO's reader decrypts the data per part (CRYPTO.md §4.4): the
/// `…-Encrypted-Multipart` flag is present, every part size is a valid DARE
/// size, and the stored ETag is not exactly 32 characters long.
pub fn minio_reads_per_part(multipart_flag: bool, stored_etag: &str, part_sizes: &[u64]) -> bool {
    multipart_flag
        && stored_etag.len() != 32
        && part_sizes
            .iter()
            .all(|&s| super::dare::decrypted_size(s).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(pairs: &[(&str, &str)]) -> CryptoEntries {
        CryptoEntries::from_sys(pairs.iter().map(|(k, v)| (*k, v.as_bytes())))
    }

    #[test]
    fn classification_follows_minio() {
        assert!(matches!(
            entries(&[
                ("content-type", "x"),
                ("X-Minio-Internal-Server-Side-Encryption", "")
            ])
            .classify(),
            Classification::Plaintext
        ));
        for k in CRYPTO_KEYS {
            let c = entries(&[(k, "")]).classify();
            match k {
                META_SEALED_KEY_SSEC => assert!(matches!(c, Classification::SseC(None))),
                _ => assert!(matches!(c, Classification::Tampered(_)), "{k}: {c:?}"),
            }
        }
        assert!(matches!(
            entries(&[(META_SEALED_KEY_S3, ""), (META_SEALED_KEY_KMS, "")]).classify(),
            Classification::Tampered(SseError::MultipleSealedKeys)
        ));
        // Case matters: a lowercase key is not a crypto key.
        assert!(matches!(
            entries(&[("x-minio-internal-server-side-encryption-iv", "")]).classify(),
            Classification::Plaintext
        ));
    }

    #[test]
    fn per_part_decision_follows_minio() {
        let sizes = [5245440u64, 48];
        assert!(minio_reads_per_part(
            true,
            "916516b396f0f4d4f2a0e7177557bec4-2",
            &sizes
        ));
        assert!(!minio_reads_per_part(
            false,
            "916516b396f0f4d4f2a0e7177557bec4-2",
            &sizes
        ));
        // A 32-character ETag makes MinIO read the data as one stream.
        assert!(!minio_reads_per_part(
            true,
            "916516b396f0f4d4f2a0e7177557bec4",
            &sizes
        ));
        // An impossible encrypted part size too.
        assert!(!minio_reads_per_part(
            true,
            "916516b396f0f4d4f2a0e7177557bec4-2",
            &[5245440, 32]
        ));
    }
}
