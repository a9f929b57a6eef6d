//! Helpers shared by the `sse` vector checks: JSON access, hex, and a tiny
//! in-test MinIO static-key KMS (CRYPTO.md §5.2) that draws its randomness
//! from the same replayed stream as the code under test.

#![allow(dead_code)]

use std::path::Path;
use std::sync::{Arc, Mutex};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use engine::sse::{RandomSource, ReplayRandom, SseError};
use hmac::{Hmac, Mac};
use kms_client::{Context, DataKey, KeyId, Kms, KmsError, PlaintextKey};
use serde_json::Value;
use sha2::Sha256;

pub fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("field {key:?} missing or not a string in {v}"))
}

pub fn h(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(s(v, key)).unwrap_or_else(|e| panic!("field {key:?}: {e}"))
}

pub fn arr<const N: usize>(v: &Value, key: &str) -> [u8; N] {
    h(v, key)
        .try_into()
        .unwrap_or_else(|_| panic!("field {key:?} is not {N} bytes"))
}

pub fn u(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("field {key:?} missing or not a number"))
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(Sha256::digest(data))
}

pub fn context_of(v: &Value) -> Context {
    v.as_object()
        .unwrap_or_else(|| panic!("not a JSON object: {v}"))
        .iter()
        .map(|(k, val)| {
            (
                k.as_bytes().to_vec(),
                val.as_str().expect("string value").as_bytes().to_vec(),
            )
        })
        .collect()
}

/// One random stream shared by the KMS and the code under test, in the order
/// MinIO consumed it.
#[derive(Clone)]
pub struct SharedRandom(pub Arc<Mutex<ReplayRandom>>);

impl SharedRandom {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Arc::new(Mutex::new(ReplayRandom::new(bytes))))
    }

    pub fn remaining(&self) -> usize {
        self.0.lock().unwrap().remaining()
    }
}

impl RandomSource for SharedRandom {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), SseError> {
        self.0.lock().unwrap().fill(buf)
    }
}

/// MinIO's built-in static-key KMS (`MINIO_KMS_SECRET_KEY=name:b64`),
/// binary ciphertexts only: `AES-GCM(HMAC(master, iv), nonce, dek, aad) ‖ iv ‖ nonce`.
pub struct StaticKms {
    name: KeyId,
    master: [u8; 32],
    rng: SharedRandom,
}

impl StaticKms {
    pub fn new(secret: &str, rng: SharedRandom) -> Self {
        let (name, b64) = secret.split_once(':').expect("name:key");
        let master = B64
            .decode(b64)
            .expect("base64 key")
            .try_into()
            .expect("32-byte key");
        Self {
            name: KeyId::new(name),
            master,
            rng,
        }
    }

    fn aead(&self, iv: &[u8]) -> Aes256Gcm {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.master).unwrap();
        mac.update(iv);
        Aes256Gcm::new_from_slice(&mac.finalize().into_bytes()).unwrap()
    }
}

impl Kms for StaticKms {
    fn default_key(&self) -> &KeyId {
        &self.name
    }

    fn generate_key(&self, key: &KeyId, context: &Context) -> Result<DataKey, KmsError> {
        if *key != self.name {
            return Err(KmsError::KeyNotFound(key.to_string()));
        }
        let mut rng = self.rng.clone();
        let mut ivn = [0u8; 28];
        rng.fill(&mut ivn)
            .map_err(|e| KmsError::Config(e.to_string()))?;
        let mut dek = [0u8; 32];
        rng.fill(&mut dek)
            .map_err(|e| KmsError::Config(e.to_string()))?;
        let (iv, nonce) = ivn.split_at(16);
        let aad = context.to_canonical_json();
        let mut ct = self
            .aead(iv)
            .encrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: &dek,
                    aad: &aad,
                },
            )
            .unwrap();
        ct.extend_from_slice(&ivn);
        Ok(DataKey {
            key_id: self.name.clone(),
            plaintext: PlaintextKey::new(dek),
            ciphertext: ct,
        })
    }

    fn decrypt(
        &self,
        key: &KeyId,
        ciphertext: &[u8],
        context: &Context,
    ) -> Result<PlaintextKey, KmsError> {
        if *key != self.name {
            return Err(KmsError::KeyNotFound(key.to_string()));
        }
        let fail = || KmsError::DecryptionFailed {
            key: key.to_string(),
        };
        let split = ciphertext.len().checked_sub(28).ok_or_else(fail)?;
        let (ct, ivn) = ciphertext.split_at(split);
        let (iv, nonce) = ivn.split_at(16);
        let aad = context.to_canonical_json();
        let pt = self
            .aead(iv)
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
            .map_err(|_| fail())?;
        PlaintextKey::from_slice(&pt).ok_or_else(fail)
    }
}
