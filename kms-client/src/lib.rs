//! `kms-client`: the key management interface keyrotate talks to.
//!
//! keyrotate must use the same KMS, configured the same way, as the MinIO
//! server on the node. Every object rotation asks the KMS to decrypt the old
//! data key ([`Kms::decrypt`]) and to generate a new one ([`Kms::generate_key`]).
//!
//! | module | what it owns |
//! |---|---|
//! | [`context`] | the KMS context (associated data) and its canonical JSON |
//! | [`key`] | key ids, data keys and plaintext key material (zeroized, never printed) |

pub mod context;
pub mod key;

pub use context::Context;
pub use key::{DataKey, KeyId, PlaintextKey};

/// Why a KMS call failed.
///
/// [`KmsError::is_transient`] tells the engine whether a retry may help;
/// permanent errors surface at once. No variant ever carries key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KmsError {
    /// The KMS does not know this key.
    #[error("KMS key {0:?} not found")]
    KeyNotFound(String),
    /// The ciphertext did not decrypt with this key and context (wrong key,
    /// wrong context or tampered ciphertext: the AEAD cannot tell which).
    #[error(
        "KMS decryption failed for key {key:?}: wrong key, wrong context or tampered ciphertext"
    )]
    DecryptionFailed { key: String },
    /// The KMS ciphertext is not in any format this backend understands.
    #[error("malformed KMS ciphertext for key {key:?}: {reason}")]
    MalformedCiphertext { key: String, reason: String },
    /// The client is not allowed to use this key or endpoint.
    #[error("not authorized by the KMS: {0}")]
    NotAuthorized(String),
    /// A temporary failure (5xx, 429, timeout, connection reset): retrying may succeed.
    #[error("transient KMS failure: {0}")]
    Transient(String),
    /// A response the client could not understand.
    #[error("malformed KMS response: {0}")]
    MalformedResponse(String),
    /// The KMS configuration is missing, ambiguous or invalid.
    #[error("KMS configuration: {0}")]
    Config(String),
}

impl KmsError {
    /// Whether retrying the same request may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, KmsError::Transient(_))
    }
}

/// A key management service: generates data keys and decrypts them again.
///
/// Implementations are shared across the engine's threads. Calls block; a
/// remote backend keeps many requests in flight when called from many
/// threads (or through its own bulk API) and reuses connections.
pub trait Kms: Send + Sync {
    /// The key MinIO uses when a request names none (`MINIO_KMS_KES_KEY_NAME`,
    /// `MINIO_KMS_SSE_KEY`, or the static key's name).
    fn default_key(&self) -> &KeyId;

    /// Generates a fresh 32-byte data key under `key`, bound to `context`.
    fn generate_key(&self, key: &KeyId, context: &Context) -> Result<DataKey, KmsError>;

    /// Decrypts a data key ciphertext produced by `generate_key` (or by any
    /// format of it MinIO still reads) under `key` and `context`.
    fn decrypt(
        &self,
        key: &KeyId,
        ciphertext: &[u8],
        context: &Context,
    ) -> Result<PlaintextKey, KmsError>;
}
