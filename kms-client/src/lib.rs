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
//! | [`static_key`] | the static-key backend (`MINIO_KMS_SECRET_KEY`), old keys for decryption, legacy formats |
//! | [`kes`] | the KES backend (`MINIO_KMS_KES_*`): HTTPS + mTLS / API key, retries, bulk calls |
//! | [`minkms`] | the MinIO KMS backend (`MINIO_KMS_SERVER`, `_ENCLAVE`, `_API_KEY`): framed protobuf over HTTPS |
//! | [`config`] | which backend MinIO would use, from the same variables (or an env file) |
//! | [`env_file`] | `KEY=VALUE` env files such as `/etc/default/minio` |
//! | [`identity`] | KES (`kes:v1:`) and MinIO KMS (`k1:`) API keys, their identities and client certificates |
//! | `testing` | (feature `kes-fixture`) an in-process HTTPS protocol fixture for tests and benchmarks |
//!
//! Backends and the variables that select them (the MinIO server's own):
//!
//! | backend | selected by | default key |
//! |---|---|---|
//! | [`StaticKms`] | `MINIO_KMS_SECRET_KEY=name:base64` or `MINIO_KMS_SECRET_KEY_FILE` (+ keyrotate's decrypt-only `KEYROTATE_OLD_KMS_SECRET_KEYS`) | the key's name |
//! | [`kes::KesClient`] | `MINIO_KMS_KES_ENDPOINT`, `_KEY_NAME`, `_API_KEY` or `_CERT_FILE` + `_KEY_FILE`, `_CAPATH` | `MINIO_KMS_KES_KEY_NAME` |
//! | [`minkms::MinKmsClient`] | `MINIO_KMS_SERVER`, `MINIO_KMS_ENCLAVE`, `MINIO_KMS_API_KEY` | `MINIO_KMS_SSE_KEY` |
//!
//! [`KmsConfig::from_lookup`] reads them (from the process env, an env file or
//! a test map) and [`KmsConfig::build`] returns the backend.
//!
//! Every backend implements [`Kms`]: blocking calls, plus batch calls
//! ([`Kms::decrypt_batch`], [`Kms::generate_batch`]) that a remote backend runs
//! with up to [`Kms::max_in_flight`] requests in flight over reused connections.

mod b64;
pub mod config;
pub mod context;
mod crypto;
pub mod env_file;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod identity;
pub mod kes;
pub mod key;
pub mod minkms;
pub mod static_key;
#[cfg(feature = "kes-fixture")]
pub mod testing;

pub use config::{KmsConfig, OldStaticKeys};
pub use context::Context;
pub use key::{DataKey, KeyId, PlaintextKey};
pub use static_key::{OsRandom, RandomSource, ReplayRandom, StaticKey, StaticKms};

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
    /// The KMS rejected the request as invalid (e.g. a bad context or key
    /// name); retrying the same request cannot succeed.
    #[error("KMS rejected the request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    /// The TLS setup or handshake failed in a way a retry cannot fix
    /// (untrusted server certificate, unusable client key).
    #[error("KMS TLS: {0}")]
    Tls(String),
    /// The random source failed.
    #[error("random source: {0}")]
    Random(String),
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

    /// The keys of a static-key backend (`None` for KES and MinIO KMS,
    /// whose keys never leave the KMS): keyrotate proves each against the
    /// stored data and prints their fingerprints.
    fn static_keys(&self) -> Option<StaticKeys<'_>> {
        None
    }

    /// How many requests this backend can usefully keep in flight; the
    /// engine sizes its batches with it (1 for local backends).
    fn max_in_flight(&self) -> usize {
        1
    }

    /// Decrypts many data keys; result `i` answers request `i`. Remote
    /// backends run them concurrently (bounded by [`Kms::max_in_flight`]),
    /// each with its own retries; one failure does not fail the others.
    fn decrypt_batch(
        &self,
        requests: &[DecryptRequest<'_>],
    ) -> Vec<Result<PlaintextKey, KmsError>> {
        requests
            .iter()
            .map(|r| self.decrypt(r.key, r.ciphertext, r.context))
            .collect()
    }

    /// Generates many data keys; result `i` answers request `i`.
    fn generate_batch(&self, requests: &[GenerateRequest<'_>]) -> Vec<Result<DataKey, KmsError>> {
        requests
            .iter()
            .map(|r| self.generate_key(r.key, r.context))
            .collect()
    }
}

/// An empty key name means the default key, in every MinIO KMS family.
pub(crate) fn resolve_key<'a>(default: &'a KeyId, key: &'a KeyId) -> &'a KeyId {
    if key.as_str().is_empty() {
        default
    } else {
        key
    }
}

/// Implements [`Kms`] for a remote client that has `transport`,
/// `default_key` and the async `generate_key_async` / `decrypt_async`:
/// blocking calls run on the client's runtime, batches keep up to
/// `max_in_flight` requests in flight.
macro_rules! remote_kms {
    ($client:ty) => {
        impl $crate::Kms for $client {
            fn default_key(&self) -> &$crate::KeyId {
                &self.default_key
            }

            fn generate_key(
                &self,
                key: &$crate::KeyId,
                context: &$crate::Context,
            ) -> Result<$crate::DataKey, $crate::KmsError> {
                self.transport
                    .block_on(self.generate_key_async(key, context))
            }

            fn decrypt(
                &self,
                key: &$crate::KeyId,
                ciphertext: &[u8],
                context: &$crate::Context,
            ) -> Result<$crate::PlaintextKey, $crate::KmsError> {
                self.transport
                    .block_on(self.decrypt_async(key, ciphertext, context))
            }

            fn max_in_flight(&self) -> usize {
                self.transport.options.max_in_flight.max(1)
            }

            fn decrypt_batch(
                &self,
                requests: &[$crate::DecryptRequest<'_>],
            ) -> Vec<Result<$crate::PlaintextKey, $crate::KmsError>> {
                self.transport.run_batch(requests, |r| {
                    self.decrypt_async(r.key, r.ciphertext, r.context)
                })
            }

            fn generate_batch(
                &self,
                requests: &[$crate::GenerateRequest<'_>],
            ) -> Vec<Result<$crate::DataKey, $crate::KmsError>> {
                self.transport
                    .run_batch(requests, |r| self.generate_key_async(r.key, r.context))
            }
        }
    };
}
pub(crate) use remote_kms;

/// The keys of a static-key backend ([`Kms::static_keys`]).
#[derive(Clone, Copy, Debug)]
pub struct StaticKeys<'a> {
    /// The key that generates (and decrypts first).
    pub target: &'a StaticKey,
    /// The decrypt-only old keys.
    pub old: &'a [StaticKey],
}

/// One decrypt in a [`Kms::decrypt_batch`].
#[derive(Clone, Copy, Debug)]
pub struct DecryptRequest<'a> {
    /// The key id stored with the object.
    pub key: &'a KeyId,
    /// The stored data key ciphertext.
    pub ciphertext: &'a [u8],
    /// The associated data.
    pub context: &'a Context,
}

/// One generate in a [`Kms::generate_batch`].
#[derive(Clone, Copy, Debug)]
pub struct GenerateRequest<'a> {
    /// The key to generate under.
    pub key: &'a KeyId,
    /// The associated data.
    pub context: &'a Context,
}

impl<T: Kms + ?Sized> Kms for std::sync::Arc<T> {
    fn default_key(&self) -> &KeyId {
        (**self).default_key()
    }
    fn generate_key(&self, key: &KeyId, context: &Context) -> Result<DataKey, KmsError> {
        (**self).generate_key(key, context)
    }
    fn decrypt(
        &self,
        key: &KeyId,
        ciphertext: &[u8],
        context: &Context,
    ) -> Result<PlaintextKey, KmsError> {
        (**self).decrypt(key, ciphertext, context)
    }
    fn static_keys(&self) -> Option<StaticKeys<'_>> {
        (**self).static_keys()
    }
    fn max_in_flight(&self) -> usize {
        (**self).max_in_flight()
    }
    fn decrypt_batch(
        &self,
        requests: &[DecryptRequest<'_>],
    ) -> Vec<Result<PlaintextKey, KmsError>> {
        (**self).decrypt_batch(requests)
    }
    fn generate_batch(&self, requests: &[GenerateRequest<'_>]) -> Vec<Result<DataKey, KmsError>> {
        (**self).generate_batch(requests)
    }
}
