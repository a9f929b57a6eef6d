//! The static-key ("builtin") KMS: `MINIO_KMS_SECRET_KEY=name:base64` (CRYPTO.md §5).
//!
//! * [`StaticKey`]: one named 32-byte master key (zeroized, never printed).
//! * [`StaticKms`]: the backend. One *target* key generates and decrypts;
//!   any number of *old* keys only decrypt, chosen by the key id stored with
//!   each object, so keyrotate can move objects from one static key to another
//!   (MinIO itself knows one key and cannot).
//! * [`RandomSource`]: where generate draws its 60 random bytes; tests replay
//!   MinIO's recorded bytes through [`ReplayRandom`].
//!
//! Decrypt reads every format MinIO still reads (binary AES, legacy JSON with
//! AES or ChaCha20) plus the pre-2021 master-key DARE format (§5.4), and never
//! mutates the caller's ciphertext (MinIO's parser does; see §5.3).

use std::borrow::Cow;
use std::fmt;
use std::sync::Mutex;

use zeroize::Zeroizing;

use crate::b64;
use crate::crypto::{self, Aead, HmacKey};
use crate::{Context, DataKey, KeyId, Kms, KmsError, PlaintextKey};

/// Bytes of randomness one `generate_key` consumes: iv(16) || nonce(12), then the DEK(32).
pub const GENERATE_RANDOM_BYTES: usize = 28 + 32;

/// A source of cryptographic randomness for data keys and IVs.
pub trait RandomSource: Send + Sync {
    /// Fills `buf` entirely, or fails.
    fn fill(&self, buf: &mut [u8]) -> Result<(), KmsError>;
}

/// The operating system's CSPRNG (`getrandom`), as MinIO uses `crypto/rand`.
///
/// Small requests are served from a per-thread 4 KiB block of OS randomness
/// (one syscall per ~68 data keys instead of two per key; syscalls are the
/// main cost of a generate). Served bytes are wiped from the block at once.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

const POOL_SIZE: usize = 4096;

struct RandomPool {
    block: Zeroizing<[u8; POOL_SIZE]>,
    used: usize,
}

thread_local! {
    static POOL: std::cell::RefCell<RandomPool> =
        std::cell::RefCell::new(RandomPool { block: Zeroizing::new([0; POOL_SIZE]), used: POOL_SIZE });
}

fn os_fill(buf: &mut [u8]) -> Result<(), KmsError> {
    use ring::rand::SecureRandom as _;
    ring::rand::SystemRandom::new()
        .fill(buf)
        .map_err(|_| KmsError::Random("the OS random source failed".into()))
}

impl RandomSource for OsRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), KmsError> {
        if buf.len() > POOL_SIZE / 4 {
            return os_fill(buf);
        }
        POOL.with(|pool| {
            let mut pool = pool
                .try_borrow_mut()
                .map_err(|_| KmsError::Random("random pool busy".into()))?;
            if POOL_SIZE - pool.used < buf.len() {
                os_fill(&mut pool.block[..])?;
                pool.used = 0;
            }
            let start = pool.used;
            let chunk = &mut pool.block[start..start + buf.len()];
            buf.copy_from_slice(chunk);
            chunk.fill(0);
            pool.used += buf.len();
            Ok(())
        })
    }
}

/// Replays recorded bytes in order (known-answer tests); fails when exhausted.
pub struct ReplayRandom {
    state: Mutex<(Vec<u8>, usize)>,
}

impl ReplayRandom {
    /// Replays `bytes` from the start.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self {
            state: Mutex::new((bytes, 0)),
        }
    }

    /// How many recorded bytes are still unread.
    pub fn remaining(&self) -> usize {
        self.state.lock().map(|s| s.0.len() - s.1).unwrap_or(0)
    }
}

impl fmt::Debug for ReplayRandom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayRandom")
            .field("remaining", &self.remaining())
            .finish_non_exhaustive()
    }
}

impl RandomSource for ReplayRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), KmsError> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| KmsError::Random("replay source poisoned".into()))?;
        let (bytes, pos) = &mut *state;
        let chunk = bytes
            .get(*pos..*pos + buf.len())
            .ok_or_else(|| KmsError::Random("replayed randomness exhausted".into()))?;
        buf.copy_from_slice(chunk);
        *pos += buf.len();
        Ok(())
    }
}

/// What [`StaticKey::fingerprint`] hashes before the key bytes, so the
/// fingerprint is no hash of the key used anywhere else.
pub const FINGERPRINT_DOMAIN: &[u8] = b"keyrotate static key fingerprint v1\n";

/// One named 32-byte static master key.
pub struct StaticKey {
    name: KeyId,
    secret: Zeroizing<[u8; 32]>,
    hmac: HmacKey,
}

impl StaticKey {
    /// A key from its name and 32 secret bytes.
    pub fn new(name: impl Into<String>, secret: [u8; 32]) -> Result<Self, KmsError> {
        let name = name.into();
        if name.is_empty() {
            return Err(KmsError::Config("static KMS key: empty key name".into()));
        }
        let secret = Zeroizing::new(secret);
        let hmac = HmacKey::new(&secret[..]);
        Ok(Self {
            name: KeyId::new(name),
            secret,
            hmac,
        })
    }

    /// Parses `name:base64` (the `MINIO_KMS_SECRET_KEY` format: split at the
    /// first `:`, standard base64 of exactly 32 bytes; surrounding whitespace
    /// and line breaks ignored). Errors name the key, never its bytes.
    pub fn parse(text: &str) -> Result<Self, KmsError> {
        let text = text.trim();
        let (name, encoded) = text.split_once(':').ok_or_else(|| {
            KmsError::Config("static KMS key: expected NAME:BASE64 (no ':' found)".into())
        })?;
        let decoded = Zeroizing::new(b64::decode_std(encoded.trim()).ok_or_else(|| {
            KmsError::Config(format!(
                "static KMS key {name:?}: the key is not valid base64"
            ))
        })?);
        let secret: [u8; 32] = decoded.as_slice().try_into().map_err(|_| {
            KmsError::Config(format!(
                "static KMS key {name:?}: the key is {} bytes, not 32",
                decoded.len()
            ))
        })?;
        Self::new(name, secret)
    }

    /// The key's name (the key id stored with each object).
    pub fn name(&self) -> &KeyId {
        &self.name
    }

    /// A short public fingerprint of the key bytes, to compare two
    /// configurations without showing either key: the first 8 bytes, in
    /// hex, of SHA-256 over [`FINGERPRINT_DOMAIN`] followed by the 32 key
    /// bytes. From a `NAME:BASE64` value in a shell:
    /// `{ printf 'keyrotate static key fingerprint v1\n'; printf %s "$BASE64" | base64 -d; } | sha256sum | cut -c1-16`.
    pub fn fingerprint(&self) -> String {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(FINGERPRINT_DOMAIN);
        ctx.update(&self.secret[..]);
        let digest = ctx.finish();
        digest.as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// `GenerateKey` (§5.2): 28 random bytes iv||nonce, then the 32-byte DEK,
    /// drawn in that order (the order MinIO draws them).
    pub fn generate(
        &self,
        context: &Context,
        random: &dyn RandomSource,
    ) -> Result<DataKey, KmsError> {
        let (plaintext, ciphertext) = self.generate_raw(&context.to_canonical_json(), random)?;
        Ok(DataKey {
            key_id: self.name.clone(),
            plaintext,
            ciphertext,
        })
    }

    /// Generate with raw associated data: (plaintext, ciphertext).
    pub fn generate_raw(
        &self,
        aad: &[u8],
        random: &dyn RandomSource,
    ) -> Result<(PlaintextKey, Vec<u8>), KmsError> {
        let mut rand = Zeroizing::new([0u8; GENERATE_RANDOM_BYTES]);
        random.fill(&mut rand[..28])?;
        random.fill(&mut rand[28..])?;
        let (iv_nonce, dek) = rand.split_at(28);
        let (iv, nonce) = split_iv_nonce(iv_nonce)?;
        let key = crypto::sealing_key(Aead::AesGcmHmac, &self.secret, &self.hmac, iv);
        let mut ciphertext = crypto::seal(Aead::AesGcmHmac, &key, nonce, dek, aad)
            .map_err(|_| KmsError::Random("AES-GCM seal failed".into()))?;
        ciphertext.extend_from_slice(iv_nonce);
        let plaintext = PlaintextKey::from_slice(dek)
            .ok_or_else(|| KmsError::Random("bad DEK length".into()))?;
        Ok((plaintext, ciphertext))
    }

    /// `Decrypt` (§5.3, §5.4) of any supported format. The input is only read.
    pub fn decrypt(&self, ciphertext: &[u8], context: &Context) -> Result<PlaintextKey, KmsError> {
        let plaintext = self.decrypt_raw(ciphertext, &context.to_canonical_json())?;
        PlaintextKey::from_slice(&plaintext).ok_or_else(|| KmsError::MalformedCiphertext {
            key: self.name.to_string(),
            reason: format!("decrypted data key is {} bytes, not 32", plaintext.len()),
        })
    }

    /// Decrypt with raw associated data and any plaintext length (the KES
    /// secret-key construction, which the static key shares).
    pub fn decrypt_raw(
        &self,
        ciphertext: &[u8],
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        match parse_ciphertext(ciphertext) {
            Parsed::MasterKeyDare(package) => self.open_master_key_dare(package, aad),
            Parsed::Aead {
                aead,
                sealed,
                iv,
                nonce,
            } => {
                let key = crypto::sealing_key(aead, &self.secret, &self.hmac, &iv);
                crypto::open(aead, &key, &nonce, &sealed, aad).map_err(|_| self.decryption_failed())
            }
            Parsed::Malformed(reason) => Err(KmsError::MalformedCiphertext {
                key: self.name.to_string(),
                reason: reason.into(),
            }),
        }
    }

    /// The pre-2021 `MINIO_KMS_MASTER_KEY` format: one final DARE 2.0 package
    /// under `HMAC(master, name || context_json)`.
    fn open_master_key_dare(
        &self,
        package: &[u8; 64],
        aad_json: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let key = self.hmac.sign(&[self.name.as_str().as_bytes(), aad_json]);
        let aead = match package[1] {
            0x00 => Aead::AesGcmHmac,
            0x01 => Aead::ChaCha20Poly1305,
            _ => {
                return Err(KmsError::MalformedCiphertext {
                    key: self.name.to_string(),
                    reason: "master-key DARE package with an unknown cipher suite".into(),
                })
            }
        };
        let (header, sealed) = package.split_at(16);
        // Sequence number 0: the nonce is header[4..16] unchanged; it must
        // carry the final flag since the package is the whole stream.
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&header[4..16]);
        if nonce[0] & 0x80 == 0 {
            return Err(self.decryption_failed());
        }
        crypto::open(aead, &key, &nonce, sealed, &header[..4]).map_err(|_| self.decryption_failed())
    }

    fn decryption_failed(&self) -> KmsError {
        KmsError::DecryptionFailed {
            key: self.name.to_string(),
        }
    }
}

impl fmt::Debug for StaticKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticKey")
            .field("name", &self.name.as_str())
            .finish_non_exhaustive()
    }
}

fn split_iv_nonce(iv_nonce: &[u8]) -> Result<(&[u8; 16], &[u8; 12]), KmsError> {
    let bad = || KmsError::Random("bad iv/nonce length".into());
    let (iv, nonce) = iv_nonce.split_at_checked(16).ok_or_else(bad)?;
    Ok((
        iv.try_into().map_err(|_| bad())?,
        nonce.try_into().map_err(|_| bad())?,
    ))
}

/// A stored static-key ciphertext, classified without mutating it.
enum Parsed<'a> {
    /// Pre-2021 master-key DEK: a 64-byte single DARE 2.0 package.
    MasterKeyDare(&'a [u8; 64]),
    /// Binary (AES) or legacy JSON (AES or ChaCha) ciphertext: sealed DEK || tag.
    Aead {
        aead: Aead,
        sealed: Cow<'a, [u8]>,
        iv: [u8; 16],
        nonce: [u8; 12],
    },
    Malformed(&'static str),
}

fn parse_ciphertext(ct: &[u8]) -> Parsed<'_> {
    // §5.4: exactly one DARE 2.0 package holding 32 bytes (length field 31).
    if let Ok(package) = <&[u8; 64]>::try_from(ct) {
        if package[0] == 0x20 && u16::from_le_bytes([package[2], package[3]]) == 31 {
            return Parsed::MasterKeyDare(package);
        }
    }
    if ct.first() == Some(&b'{') && ct.last() == Some(&b'}') {
        if let Some(json) = LegacyJson::parse(ct) {
            return Parsed::Aead {
                aead: json.aead,
                sealed: Cow::Owned(json.bytes),
                iv: json.iv,
                nonce: json.nonce,
            };
        }
        // As in MinIO: a binary ciphertext may happen to start with '{' and
        // end with '}'; a failed parse means "binary", never an error.
    }
    let Some(split) = ct.len().checked_sub(28) else {
        return Parsed::Malformed("shorter than iv(16) + nonce(12)");
    };
    let (sealed, tail) = ct.split_at(split);
    let (iv, nonce) = tail.split_at(16);
    match (iv.try_into(), nonce.try_into()) {
        (Ok(iv), Ok(nonce)) => Parsed::Aead {
            aead: Aead::AesGcmHmac,
            sealed: Cow::Borrowed(sealed),
            iv,
            nonce,
        },
        _ => Parsed::Malformed("shorter than iv(16) + nonce(12)"),
    }
}

/// The legacy JSON ciphertext `{"aead","id","iv","nonce","bytes"}` (2021-05
/// to 2024-05). Field names match case-insensitively, as Go's decoder does.
struct LegacyJson {
    aead: Aead,
    iv: [u8; 16],
    nonce: [u8; 12],
    bytes: Vec<u8>,
}

impl LegacyJson {
    fn parse(text: &[u8]) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_slice(text).ok()?;
        let object = value.as_object()?;
        let (mut aead, mut iv, mut nonce, mut bytes) = (None, None, None, None);
        for (name, field) in object {
            match name.to_ascii_lowercase().as_str() {
                "aead" => aead = Some(go_string(field)?),
                "id" => {
                    go_string(field)?;
                }
                "iv" => iv = go_bytes(field)?,
                "nonce" => nonce = go_bytes(field)?,
                "bytes" => bytes = go_bytes(field)?,
                _ => {}
            }
        }
        let aead = match aead.as_deref() {
            Some("AES-256-GCM-HMAC-SHA-256") => Aead::AesGcmHmac,
            Some("ChaCha20Poly1305") => Aead::ChaCha20Poly1305,
            _ => return None,
        };
        Some(Self {
            aead,
            iv: iv?.try_into().ok()?,
            nonce: nonce?.try_into().ok()?,
            bytes: bytes.unwrap_or_default(),
        })
    }
}

/// A JSON string field (null reads as ""), else a type error.
fn go_string(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => Some(String::new()),
        serde_json::Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// A Go `[]byte` field: base64 string or null; `Some(None)` for null.
fn go_bytes(v: &serde_json::Value) -> Option<Option<Vec<u8>>> {
    match v {
        serde_json::Value::Null => Some(None),
        serde_json::Value::String(s) => b64::decode_std(s).map(Some),
        _ => None,
    }
}

/// The static-key backend: one target key (generate + decrypt) and any
/// number of decrypt-only old keys, chosen by the stored key id.
///
/// Several keys may share a name (the key bytes were replaced under the same
/// name): decrypt then tries the target first, then each old key in order.
pub struct StaticKms<R: RandomSource = OsRandom> {
    target: StaticKey,
    old: Vec<StaticKey>,
    random: R,
}

impl StaticKms<OsRandom> {
    /// A backend drawing randomness from the OS.
    pub fn new(target: StaticKey, old: Vec<StaticKey>) -> Self {
        Self::with_random(target, old, OsRandom)
    }
}

impl<R: RandomSource> StaticKms<R> {
    /// A backend with an explicit random source (tests replay recorded bytes).
    pub fn with_random(target: StaticKey, old: Vec<StaticKey>, random: R) -> Self {
        Self {
            target,
            old,
            random,
        }
    }

    /// The target key.
    pub fn target(&self) -> &StaticKey {
        &self.target
    }

    /// The decrypt-only keys.
    pub fn old_keys(&self) -> &[StaticKey] {
        &self.old
    }

    fn candidates<'s>(&'s self, key: &'s KeyId) -> impl Iterator<Item = &'s StaticKey> + 's {
        std::iter::once(&self.target)
            .chain(self.old.iter())
            .filter(move |k| k.name() == key)
    }
}

impl<R: RandomSource> fmt::Debug for StaticKms<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticKms")
            .field("target", &self.target)
            .field("old", &self.old)
            .finish_non_exhaustive()
    }
}

impl<R: RandomSource> Kms for StaticKms<R> {
    fn default_key(&self) -> &KeyId {
        self.target.name()
    }

    fn static_keys(&self) -> Option<crate::StaticKeys<'_>> {
        Some(crate::StaticKeys {
            target: &self.target,
            old: &self.old,
        })
    }

    fn generate_key(&self, key: &KeyId, context: &Context) -> Result<DataKey, KmsError> {
        // An empty name means the default key, as in every MinIO KMS family.
        let key = if key.as_str().is_empty() {
            self.target.name()
        } else {
            key
        };
        // Old keys never generate: after a run the objects must be readable
        // with the target key alone.
        if key != self.target.name() {
            return Err(KmsError::KeyNotFound(key.to_string()));
        }
        self.target.generate(context, &self.random)
    }

    fn decrypt(
        &self,
        key: &KeyId,
        ciphertext: &[u8],
        context: &Context,
    ) -> Result<PlaintextKey, KmsError> {
        let mut last = None;
        for candidate in self.candidates(key) {
            match candidate.decrypt(ciphertext, context) {
                Ok(plaintext) => return Ok(plaintext),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| KmsError::KeyNotFound(key.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kms() -> StaticKms {
        StaticKms::new(StaticKey::new("k", [9; 32]).unwrap(), vec![])
    }

    /// Go's JSON decoder matches field names case-insensitively and ignores
    /// unknown fields; the legacy parser must accept what MinIO accepts.
    #[test]
    fn legacy_json_field_names_are_case_insensitive() {
        let kms = kms();
        let key = KeyId::new("k");
        let context: Context = [("b", "b/o")].into_iter().collect();
        let dek = kms.generate_key(&key, &context).unwrap();
        let (sealed, tail) = dek.ciphertext.split_at(48);
        let (iv, nonce) = tail.split_at(16);
        let json = format!(
            r#"{{"AEAD":"AES-256-GCM-HMAC-SHA-256","Id":null,"IV":"{}","nonce":"{}","Bytes":"{}","extra":[1,2]}}"#,
            b64::encode_std(iv),
            b64::encode_std(nonce),
            b64::encode_std(sealed)
        );
        assert_eq!(
            kms.decrypt(&key, json.as_bytes(), &context).unwrap(),
            dek.plaintext
        );
        // Wrong IV length: not a legacy ciphertext, so read as binary, which fails.
        let bad = json.replace(&b64::encode_std(iv), &b64::encode_std(&iv[..12]));
        assert!(matches!(
            kms.decrypt(&key, bad.as_bytes(), &context),
            Err(KmsError::DecryptionFailed { .. })
        ));
    }

    #[test]
    fn short_and_empty_ciphertexts_are_typed_errors() {
        let kms = kms();
        for ct in [&b""[..], b"{}", &[0u8; 27]] {
            let err = kms
                .decrypt(&KeyId::new("k"), ct, &Context::new())
                .unwrap_err();
            assert!(
                matches!(err, KmsError::MalformedCiphertext { .. }),
                "{err:?}"
            );
        }
    }

    #[test]
    fn same_name_keys_are_tried_in_order() {
        let old = StaticKms::new(StaticKey::new("k", [1; 32]).unwrap(), vec![]);
        let context = Context::new();
        let dek = old.generate_key(&KeyId::new("k"), &context).unwrap();
        // The key bytes changed under the same name: target first, then old keys.
        let kms = StaticKms::new(
            StaticKey::new("k", [2; 32]).unwrap(),
            vec![StaticKey::new("k", [1; 32]).unwrap()],
        );
        assert_eq!(
            kms.decrypt(&KeyId::new("k"), &dek.ciphertext, &context)
                .unwrap(),
            dek.plaintext
        );
        // An empty key name means the default (target) key.
        let fresh = kms.generate_key(&KeyId::new(""), &context).unwrap();
        assert_eq!(fresh.key_id.as_str(), "k");
    }

    /// The documented recipe: SHA-256 over the domain line and the key
    /// bytes, first 8 bytes in hex (sha2 as the independent hash).
    #[test]
    fn fingerprint_follows_the_documented_recipe() {
        use sha2::Digest as _;
        let key = StaticKey::parse("k:RToXnzpt60mYKPmjlLuYvGc3G+yh9PsKVciexzqttzM=").unwrap();
        let raw = b64::decode_std("RToXnzpt60mYKPmjlLuYvGc3G+yh9PsKVciexzqttzM=").unwrap();
        let mut h = sha2::Sha256::new();
        h.update(b"keyrotate static key fingerprint v1\n");
        h.update(&raw);
        let want: String = h.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(key.fingerprint(), want);
        assert_eq!(want.len(), 16);
        let other = StaticKey::new("k", [0; 32]).unwrap();
        assert_ne!(other.fingerprint(), key.fingerprint());
    }

    #[test]
    fn os_random_pool_serves_distinct_bytes() {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..500 {
            let mut buf = [0u8; 28];
            OsRandom.fill(&mut buf).unwrap();
            assert!(seen.insert(buf), "repeated random block");
        }
        let mut big = vec![0u8; 5000];
        OsRandom.fill(&mut big).unwrap();
        assert!(big.iter().any(|b| *b != 0));
    }
}
