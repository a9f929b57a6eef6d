//! MinIO's object crypto, byte-exact (`shared/spec/CRYPTO.md`). Works on keys
//! and bytes only: no drive I/O, and KMS calls only in the `*_with_kms`
//! convenience wrappers.
//!
//! | module | what it owns | CRYPTO.md |
//! |---|---|---|
//! | [`keys`] | OEK, IV, sealed key, seal domains and algorithms, `path.Join`; seal/unseal; part, ETag, checksum and compression-index keys | §1, §2, §4.4 |
//! | [`dare`] | DARE 2.0 streams (AES-256-GCM, ChaCha20-Poly1305) over buffers and `Read`/`Write`; DARE 1.0 decryption; size arithmetic | §4.1–4.5 |
//! | [`metadata`] | the `X-Minio-Internal-Server-Side-Encryption-*` entries: parsing, classification, [`Changes`] sets | §3 |
//! | [`etag`] | sealed ETags and the stored-ETag rules | §4.7 |
//! | [`rotate`] | rotate SSE-KMS, convert SSE-S3 → SSE-KMS, re-wrap SSE-S3, encrypt plaintext: KMS requests apart from the pure reseal | §8a–c |
//! | [`config`] | `EncryptBytes`/`DecryptBytes` config blobs (sio-go streams) and bucket-target encryption | §7 |
//! | [`rand`] | injectable randomness (OS CSPRNG, or recorded bytes for vector replay) | §1.1 |
//!
//! Secrets ([`keys::ObjectKey`], [`keys::SecretKey`], KMS plaintext keys, and
//! decrypted config/targets as [`keys::SecretBytes`]) are
//! zeroized on drop and print as `<redacted>`; errors never carry key bytes.
//!
//! A version's life in one example: classify its metadata, unseal its object
//! key with the DEK the KMS returned, decrypt its data.
//!
//! ```
//! use engine::sse::{dare, CipherSuite, Classification, CryptoEntries, Domain, Iv, ObjectKey, OsRandom};
//! use engine::sse::metadata::sealed_key_entries;
//! use kms_client::{KeyId, PlaintextKey};
//!
//! let dek = PlaintextKey::new([7; 32]); // what Kms::decrypt would return
//! let mut rng = OsRandom;
//! let oek = ObjectKey::generate(&dek, &mut rng)?;
//! let sealed = oek.seal(&dek, Iv::generate(&mut rng)?, Domain::SseKms, "bucket", "a/b.txt", &mut rng)?;
//! let sys = sealed_key_entries(engine::sse::SseType::Kms, &sealed, Some((&KeyId::new("my-key"), b"kms-ciphertext")), None)?;
//! let data = dare::encrypt(oek.data_key(), CipherSuite::Aes256Gcm, [1; 12], b"hello")?;
//!
//! let Classification::SseKms(parsed) = CryptoEntries::from_sys(sys).classify() else { panic!() };
//! let request = parsed.unwrap_request("bucket", "a/b.txt")?; // key id, ciphertext, context for the KMS
//! assert_eq!(request.context.to_canonical_json(), br#"{"bucket":"bucket/a/b.txt"}"#);
//! let key = parsed.unseal(&dek, "bucket", "a/b.txt")?;
//! assert_eq!(dare::decrypt(key.data_key(), &data)?, b"hello");
//! # Ok::<(), engine::sse::SseError>(())
//! ```

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod config;
pub mod dare;
pub mod etag;
pub mod keys;
pub mod metadata;
pub mod rand;
pub mod rotate;

pub use config::ConfigCryptoError;
pub use dare::{CipherSuite, DareError};
pub use keys::{Domain, Iv, ObjectKey, SealAlgorithm, SealedKey, SecretBytes, SecretKey};
pub use metadata::{Changes, Classification, CryptoEntries, ParsedSse, SseType};
pub use rand::{OsRandom, RandomSource, ReplayRandom};

/// Why an SSE operation failed. No variant carries key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SseError {
    /// The sealed key did not open: wrong key, domain, bucket, object or IV,
    /// or a tampered byte (deliberately not told apart).
    #[error("object key unseal failed: wrong key or tampered metadata")]
    UnsealFailed,
    /// A required crypto metadata entry is missing.
    #[error("encryption metadata {0} is missing")]
    MissingMeta(&'static str),
    /// A crypto metadata entry is malformed.
    #[error("encryption metadata {0} is malformed")]
    InvalidMeta(&'static str),
    /// Crypto metadata without any sealed key (MinIO: "object tampered").
    #[error("encryption metadata of unknown type")]
    UnknownSseType,
    /// More than one sealed-key entry.
    #[error("more than one sealed object key in the metadata")]
    MultipleSealedKeys,
    /// SSE-S3/SSE-KMS metadata without a KMS key id (legacy master key).
    #[error("no KMS key id stored: object was sealed with a removed legacy master key")]
    NoKmsKey,
    /// An operation was applied to the wrong encryption type.
    #[error("expected {expected}, found {found:?}")]
    WrongType {
        /// What the operation handles.
        expected: &'static str,
        /// What the version is.
        found: SseType,
    },
    /// A stored ETag is neither empty, hex, nor a multipart ETag.
    #[error("stored ETag is malformed")]
    InvalidEtag,
    /// A DARE stream (data, ETag, checksum, sealed key) is invalid.
    #[error(transparent)]
    Dare(#[from] DareError),
    /// An internal config object is invalid.
    #[error(transparent)]
    Config(#[from] ConfigCryptoError),
    /// The KMS refused or failed.
    #[error(transparent)]
    Kms(#[from] kms_client::KmsError),
    /// The random source failed.
    #[error("random source: {0}")]
    Random(String),
}

impl SseError {
    /// Whether retrying may help: only transient KMS failures. Everything
    /// else (authentication failures, malformed metadata) is permanent.
    pub fn is_transient(&self) -> bool {
        matches!(self, SseError::Kms(e) if e.is_transient())
    }
}
