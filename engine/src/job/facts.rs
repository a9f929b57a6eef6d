//! What the decision procedure reads about one version ([`VersionFacts`]),
//! independent of how xl.meta is decoded; `run` fills it from `xlmeta`.
//!
//! Also [`classify_encryption`], the JOB.md §8.6 view of the SSE module's
//! classification (CRYPTO.md §3.3).

use std::collections::BTreeMap;

use super::timestamp::Timestamp;

/// The xl.meta version type as far as decisions care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionKind {
    /// An object version (xl.meta type 1).
    Object,
    /// A delete marker (type 2).
    DeleteMarker,
    /// A legacy V1 (`xl.json`) version (type 3).
    Legacy,
}

/// One version as read (consistently) from the drives of its set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionFacts {
    /// Version type.
    pub kind: VersionKind,
    /// `MTime`: the S3 LastModified.
    pub mod_time: Timestamp,
    /// A tier "free version" (delete-type with `x-minio-internal-free-version`).
    pub free_version: bool,
    /// A version whose deletion is still pending replication (purge status set).
    pub purge_pending: bool,
    /// Every drive of the set holds an identical, CRC-valid copy (ONDISK.md
    /// §10.2 step 1). `false` → Skipped(`inconsistent`).
    pub consistent: bool,
    /// Data lives in a remote tier (`x-minio-internal-transition-status: complete`).
    pub transitioned: bool,
    /// Stored with compression.
    pub compressed: bool,
    /// Number of parts.
    pub part_count: usize,
    /// `MetaSys`: internal metadata, exact-case keys, byte values.
    pub meta_sys: BTreeMap<String, Vec<u8>>,
    /// `MetaUsr`: user and S3 metadata (tags, lock, `etag`, `content-type`, ...).
    pub meta_usr: BTreeMap<String, String>,
}

impl VersionFacts {
    /// A consistent, single-part, plaintext object version with no metadata.
    pub fn object(mod_time: Timestamp) -> Self {
        VersionFacts {
            kind: VersionKind::Object,
            mod_time,
            free_version: false,
            purge_pending: false,
            consistent: true,
            transitioned: false,
            compressed: false,
            part_count: 1,
            meta_sys: BTreeMap::new(),
            meta_usr: BTreeMap::new(),
        }
    }

    /// A `MetaUsr` value by case-insensitive key (MinIO stores these keys in
    /// either canonical or lower case). The first in key order wins.
    pub fn usr(&self, key: &str) -> Option<&str> {
        self.meta_usr
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// A `MetaSys` value by exact key (MinIO's lookups there are exact).
    pub fn sys(&self, key: &str) -> Option<&[u8]> {
        self.meta_sys.get(key).map(Vec::as_slice)
    }
}

/// Internal metadata keys of MinIO's SSE (ONDISK.md §5.7).
pub mod keys {
    /// SSE-KMS marker.
    pub const KMS_SEALED_KEY: &str = "X-Minio-Internal-Server-Side-Encryption-Kms-Sealed-Key";
    /// SSE-S3 marker.
    pub const S3_SEALED_KEY: &str = "X-Minio-Internal-Server-Side-Encryption-S3-Sealed-Key";
    /// SSE-C marker.
    pub const SSEC_SEALED_KEY: &str = "X-Minio-Internal-Server-Side-Encryption-Sealed-Key";
    /// Object IV.
    pub const IV: &str = "X-Minio-Internal-Server-Side-Encryption-Iv";
    /// Seal algorithm.
    pub const SEAL_ALGORITHM: &str = "X-Minio-Internal-Server-Side-Encryption-Seal-Algorithm";
    /// KMS key id.
    pub const KMS_KEY_ID: &str = "X-Minio-Internal-Server-Side-Encryption-S3-Kms-Key-Id";
    /// KMS-sealed data key.
    pub const KMS_DATA_KEY: &str = "X-Minio-Internal-Server-Side-Encryption-S3-Kms-Sealed-Key";
    /// KMS context.
    pub const CONTEXT: &str = "X-Minio-Internal-Server-Side-Encryption-Context";
    /// Multipart marker.
    pub const ENCRYPTED_MULTIPART: &str = "X-Minio-Internal-Encrypted-Multipart";
}

/// Encryption state of a version (JOB.md §8.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncryptionKind {
    /// No encryption metadata at all.
    Plaintext,
    /// SSE-S3.
    SseS3,
    /// SSE-KMS.
    SseKms,
    /// SSE-C (customer keys; never touched).
    SseC,
    /// Contradictory or incomplete metadata: several markers, a marker
    /// without what it needs, or encryption keys without a marker.
    Tampered(&'static str),
}

impl EncryptionKind {
    /// SSE-S3 or SSE-KMS (what `plaintextOnly` leaves alone).
    pub fn is_encrypted(self) -> bool {
        matches!(self, EncryptionKind::SseS3 | EncryptionKind::SseKms)
    }
}

/// Classifies a version's encryption with the SSE module's parser (the one
/// classification of the code base, CRYPTO.md §3.3): anything MinIO would
/// read inconsistently is `Tampered`.
pub fn classify_encryption(meta_sys: &BTreeMap<String, Vec<u8>>) -> EncryptionKind {
    use crate::sse::{Classification, CryptoEntries};
    match CryptoEntries::from_sys(meta_sys.iter()).classify() {
        Classification::Plaintext => EncryptionKind::Plaintext,
        Classification::SseS3(_) => EncryptionKind::SseS3,
        Classification::SseKms(_) => EncryptionKind::SseKms,
        Classification::SseC(_) => EncryptionKind::SseC,
        Classification::Tampered(_) => {
            EncryptionKind::Tampered("contradictory or incomplete encryption metadata")
        }
    }
}
