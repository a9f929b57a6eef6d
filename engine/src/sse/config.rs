//! Encryption of MinIO's internal objects (CRYPTO.md §7): the config blob
//! format of `EncryptBytes`/`DecryptBytes` (IAM, server config, config
//! history) over a sio-go stream, and the bucket-targets fields of
//! `.metadata.bin`.
//!
//! Config blob:
//! ```text
//! 0x01 ‖ le32(L) ‖ JSON{"keyid","kmskey":b64,"algorithm","nonce":b64(8 B)} (L bytes) ‖ sio-go stream
//! ```
//! sio-go stream (buffer B = 16384, key = DEK plaintext):
//! `T = Seal(nonce8 ‖ le32(0), "", aad)`; fragment k ≥ 1 = `Seal(nonce8 ‖ le32(k),
//! chunk_k, flag ‖ T)` with flag 0x80 on the last fragment, 0x00 before;
//! non-final fragments hold exactly B bytes, the final one 0..=B.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use kms_client::{Context, DataKey, KeyId, Kms, KmsError, PlaintextKey};

use super::dare::{self, Aead, CipherSuite, TAG_SIZE};
use super::keys::{decode_b64, path_join, Iv, ObjectKey, SecretBytes, SecretKey};
use super::metadata::{sealed_key_entries, CryptoEntries, ParsedSse, SseType};
use super::rand::{self, RandomSource};
use super::SseError;

/// Plaintext bytes per sio-go fragment.
pub const SIOGO_BUF_SIZE: usize = 16384;
/// The bucket holding MinIO's internal objects.
pub const META_BUCKET: &str = ".minio.sys";
/// Upper bound MinIO puts on the config header JSON.
const MAX_HEADER_LEN: usize = 1 << 20;

/// Why an internal object could not be encrypted or decrypted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigCryptoError {
    /// Not in the `EncryptBytes` format (version byte, length or JSON header).
    #[error("not a KMS-encrypted config blob: {0}")]
    NotKmsFormat(&'static str),
    /// The header names an algorithm MinIO never writes.
    #[error("unsupported config stream algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// The stream failed authentication or is malformed.
    #[error("config stream: authentication failed or malformed")]
    StreamCorrupt,
}

/// sio-go's AEAD names as they appear in the header.
fn algorithm_name(suite: CipherSuite) -> &'static str {
    match suite {
        CipherSuite::Aes256Gcm => "AES-256-GCM",
        CipherSuite::ChaCha20Poly1305 => "ChaCha20-Poly1305",
    }
}

fn siogo_nonce(nonce8: &[u8; 8], k: u32) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..8].copy_from_slice(nonce8);
    n[8..].copy_from_slice(&k.to_le_bytes());
    n
}

/// Size of the sio-go stream of `n` plaintext bytes.
pub fn siogo_encrypted_size(n: usize) -> usize {
    n + TAG_SIZE * n.div_ceil(SIOGO_BUF_SIZE).max(1)
}

/// Encrypts `plaintext` as a sio-go stream.
pub fn siogo_encrypt(
    key: &SecretKey,
    suite: CipherSuite,
    nonce8: &[u8; 8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, SseError> {
    let aead = Aead::new(suite, key);
    let t = aead.seal(&siogo_nonce(nonce8, 0), aad, &mut [])?;
    let mut out = Vec::with_capacity(siogo_encrypted_size(plaintext.len()));
    let nfrag = plaintext.len().div_ceil(SIOGO_BUF_SIZE).max(1);
    let mut chunks = plaintext.chunks(SIOGO_BUF_SIZE);
    for k in 1..=nfrag {
        let chunk = chunks.next().unwrap_or_default();
        let mut frag_aad = [0u8; 1 + TAG_SIZE];
        frag_aad[0] = if k == nfrag { 0x80 } else { 0x00 };
        frag_aad[1..].copy_from_slice(&t);
        let start = out.len();
        out.extend_from_slice(chunk);
        let seq = u32::try_from(k).map_err(|_| dare::DareError::TooLong)?;
        let buf = out.get_mut(start..).unwrap_or_default();
        let tag = aead.seal(&siogo_nonce(nonce8, seq), &frag_aad, buf)?;
        out.extend_from_slice(&tag);
    }
    Ok(out)
}

/// Decrypts a sio-go stream; any modification, truncation or extension fails.
pub fn siogo_decrypt(
    key: &SecretKey,
    suite: CipherSuite,
    nonce8: &[u8; 8],
    aad: &[u8],
    stream: &[u8],
) -> Result<SecretBytes, SseError> {
    let aead = Aead::new(suite, key);
    let t = aead.seal(&siogo_nonce(nonce8, 0), aad, &mut [])?;
    // Wiped if a later fragment fails: config plaintext holds credentials.
    let mut out = zeroize::Zeroizing::new(Vec::with_capacity(stream.len()));
    let mut rest = stream;
    let mut k: u32 = 1;
    loop {
        // A fragment is final iff nothing follows it.
        let last = rest.len() <= SIOGO_BUF_SIZE + TAG_SIZE;
        let take = if last {
            rest.len()
        } else {
            SIOGO_BUF_SIZE + TAG_SIZE
        };
        let (frag, tail) = rest
            .split_at_checked(take)
            .ok_or(ConfigCryptoError::StreamCorrupt)?;
        let (ct, tag) = frag
            .split_last_chunk::<TAG_SIZE>()
            .ok_or(ConfigCryptoError::StreamCorrupt)?;
        let mut frag_aad = [0u8; 1 + TAG_SIZE];
        frag_aad[0] = if last { 0x80 } else { 0x00 };
        frag_aad[1..].copy_from_slice(&t);
        let start = out.len();
        out.extend_from_slice(ct);
        let buf = out.get_mut(start..).unwrap_or_default();
        if aead
            .open(&siogo_nonce(nonce8, k), &frag_aad, buf, tag)
            .is_err()
        {
            return Err(ConfigCryptoError::StreamCorrupt.into());
        }
        if last {
            return Ok(SecretBytes::new(std::mem::take(&mut *out)));
        }
        rest = tail;
        k = k.checked_add(1).ok_or(ConfigCryptoError::StreamCorrupt)?;
    }
}

/// The parsed header of a config blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigHeader {
    /// The key the DEK is encrypted under.
    pub key_id: KeyId,
    /// The KMS ciphertext of the DEK.
    pub kms_ciphertext: Vec<u8>,
    /// The stream's AEAD.
    pub suite: CipherSuite,
    /// The stream nonce.
    pub nonce: [u8; 8],
}

/// A config blob split into its header and stream.
#[derive(Clone, Debug)]
pub struct ConfigBlob<'a> {
    /// The header.
    pub header: ConfigHeader,
    /// The sio-go stream after it.
    pub stream: &'a [u8],
}

#[derive(serde::Deserialize)]
struct RawHeader {
    keyid: String,
    kmskey: String,
    algorithm: String,
    nonce: String,
}

impl<'a> ConfigBlob<'a> {
    /// Parses `data` as an `EncryptBytes` blob (CRYPTO.md §7.1, §7.3 detection).
    pub fn parse(data: &'a [u8]) -> Result<Self, ConfigCryptoError> {
        let (&version, rest) = data
            .split_first()
            .ok_or(ConfigCryptoError::NotKmsFormat("empty"))?;
        if version != 1 {
            return Err(ConfigCryptoError::NotKmsFormat("version byte is not 1"));
        }
        let (len, rest) = rest
            .split_first_chunk::<4>()
            .ok_or(ConfigCryptoError::NotKmsFormat("truncated length"))?;
        let len = usize::try_from(u32::from_le_bytes(*len))
            .map_err(|_| ConfigCryptoError::NotKmsFormat("header length"))?;
        if len > MAX_HEADER_LEN {
            return Err(ConfigCryptoError::NotKmsFormat("header length above 1 MiB"));
        }
        let (json, stream) = rest
            .split_at_checked(len)
            .ok_or(ConfigCryptoError::NotKmsFormat("truncated header"))?;
        let raw: RawHeader = serde_json::from_slice(json)
            .map_err(|_| ConfigCryptoError::NotKmsFormat("header is not the expected JSON"))?;
        let suite = match raw.algorithm.as_str() {
            "AES-256-GCM" => CipherSuite::Aes256Gcm,
            "ChaCha20-Poly1305" => CipherSuite::ChaCha20Poly1305,
            _ => return Err(ConfigCryptoError::UnsupportedAlgorithm(raw.algorithm)),
        };
        let kms_ciphertext = decode_b64(raw.kmskey.as_bytes())
            .ok_or(ConfigCryptoError::NotKmsFormat("kmskey is not base64"))?;
        let nonce = decode_b64(raw.nonce.as_bytes())
            .and_then(|n| <[u8; 8]>::try_from(n.as_slice()).ok())
            .ok_or(ConfigCryptoError::NotKmsFormat(
                "nonce is not 8 bytes of base64",
            ))?;
        Ok(Self {
            header: ConfigHeader {
                key_id: KeyId::new(raw.keyid),
                kms_ciphertext,
                suite,
                nonce,
            },
            stream,
        })
    }

    /// Decrypts the stream with the DEK the KMS returned for the header.
    pub fn decrypt(&self, dek: &PlaintextKey) -> Result<SecretBytes, SseError> {
        siogo_decrypt(
            &SecretKey::from_plaintext(dek),
            self.header.suite,
            &self.header.nonce,
            &[],
            self.stream,
        )
    }
}

/// Go `encoding/json` string escaping on top of serde_json's: HTML-safe
/// `<>&` and U+2028/U+2029 (serde_json already escapes control characters).
fn go_json_string(s: &str) -> String {
    let base = serde_json::Value::String(s.to_owned()).to_string();
    let mut out = String::with_capacity(base.len());
    for c in base.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// The context MinIO encrypts internal object `path` under: `{".minio.sys": ".minio.sys/<path>"}`.
pub fn config_context(path: &str) -> Context {
    [(META_BUCKET, path_join(META_BUCKET, path))]
        .into_iter()
        .collect()
}

/// The legacy context MinIO falls back to on decrypt: `{".minio.sys": "<path>"}`.
pub fn config_context_legacy(path: &str) -> Context {
    [(META_BUCKET, path)].into_iter().collect()
}

/// Builds a config blob from a fresh DEK (generated with [`config_context`]);
/// draws the 8-byte stream nonce from `rng`. Always AES-256-GCM.
pub fn encrypt_config(
    dek: &DataKey,
    plaintext: &[u8],
    rng: &mut dyn RandomSource,
) -> Result<Vec<u8>, SseError> {
    let nonce: [u8; 8] = rand::array(rng)?;
    let suite = CipherSuite::Aes256Gcm;
    let json = format!(
        "{{\"keyid\":{},\"kmskey\":\"{}\",\"algorithm\":\"{}\",\"nonce\":\"{}\"}}",
        go_json_string(dek.key_id.as_str()),
        B64.encode(&dek.ciphertext),
        algorithm_name(suite),
        B64.encode(nonce)
    );
    let len = u32::try_from(json.len())
        .map_err(|_| ConfigCryptoError::NotKmsFormat("header too long"))?;
    let stream = siogo_encrypt(
        &SecretKey::from_plaintext(&dek.plaintext),
        suite,
        &nonce,
        &[],
        plaintext,
    )?;
    let mut out = Vec::with_capacity(5 + json.len() + stream.len());
    out.push(1);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(json.as_bytes());
    out.extend_from_slice(&stream);
    Ok(out)
}

/// Decrypts a config blob of internal object `path`, trying the full-path
/// context first and MinIO's legacy bare-path context second.
pub fn decrypt_config_with_kms(
    kms: &dyn Kms,
    path: &str,
    data: &[u8],
) -> Result<SecretBytes, SseError> {
    let blob = ConfigBlob::parse(data)?;
    let h = &blob.header;
    let dek = match kms.decrypt(&h.key_id, &h.kms_ciphertext, &config_context(path)) {
        Ok(k) => k,
        Err(KmsError::DecryptionFailed { .. }) => {
            kms.decrypt(&h.key_id, &h.kms_ciphertext, &config_context_legacy(path))?
        }
        Err(e) => return Err(e.into()),
    };
    blob.decrypt(&dek)
}

/// Re-encrypts plaintext of internal object `path` under a new DEK of `key`
/// (always the full-path context) and verifies the result decrypts.
pub fn encrypt_config_with_kms(
    kms: &dyn Kms,
    key: &KeyId,
    path: &str,
    plaintext: &[u8],
    rng: &mut dyn RandomSource,
) -> Result<Vec<u8>, SseError> {
    let dek = kms.generate_key(key, &config_context(path))?;
    let out = encrypt_config(&dek, plaintext, rng)?;
    if ConfigBlob::parse(&out)?.decrypt(&dek.plaintext)?.expose() != plaintext {
        return Err(ConfigCryptoError::StreamCorrupt.into());
    }
    Ok(out)
}

/// The KMS context of a bucket's remote-target configuration.
pub fn bucket_targets_context(bucket: &str) -> Context {
    [
        (bucket, bucket),
        ("bucket-targets.json", "bucket-targets.json"),
    ]
    .into_iter()
    .collect()
}

/// `BucketTargetsConfigJSON` and `BucketTargetsConfigMetaJSON` of `.metadata.bin`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncryptedTargets {
    /// DARE 2.0 stream of the targets JSON.
    pub data: Vec<u8>,
    /// Go `json.Marshal` of the SSE-S3 metadata map (sorted keys).
    pub meta_json: Vec<u8>,
}

/// Encrypts a bucket's targets JSON under a fresh DEK (generated with
/// [`bucket_targets_context`] under the default key): new OEK, new IV, OEK
/// sealed with domain SSE-S3 for path `<bucket>`.
pub fn encrypt_bucket_targets(
    bucket: &str,
    dek: &DataKey,
    plaintext: &[u8],
    rng: &mut dyn RandomSource,
) -> Result<EncryptedTargets, SseError> {
    let oek = ObjectKey::generate(&dek.plaintext, rng)?;
    let iv = Iv::generate(rng)?;
    let sealed = oek.seal(&dek.plaintext, iv, SseType::S3.domain(), bucket, "", rng)?;
    let random: [u8; 12] = rand::array(rng)?;
    let data = dare::encrypt(oek.data_key(), CipherSuite::Aes256Gcm, random, plaintext)?;
    let entries = sealed_key_entries(
        SseType::S3,
        &sealed,
        Some((&dek.key_id, &dek.ciphertext)),
        None,
    )?;
    let mut map = BTreeMap::new();
    for (k, v) in entries {
        map.insert(
            k,
            String::from_utf8(v)
                .map_err(|_| ConfigCryptoError::NotKmsFormat("metadata is not UTF-8"))?,
        );
    }
    let fields: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{}:{}", go_json_string(k), go_json_string(v)))
        .collect();
    let meta_json = format!("{{{}}}", fields.join(",")).into_bytes();
    Ok(EncryptedTargets { data, meta_json })
}

/// Parses `BucketTargetsConfigMetaJSON` (a JSON map of SSE-S3 metadata).
pub fn parse_bucket_targets_meta(meta_json: &[u8]) -> Result<ParsedSse, SseError> {
    let map: BTreeMap<String, String> = serde_json::from_slice(meta_json).map_err(|_| {
        ConfigCryptoError::NotKmsFormat("bucket targets metadata is not a JSON map")
    })?;
    CryptoEntries::from_sys(map.iter().map(|(k, v)| (k.as_str(), v.as_bytes()))).parse(SseType::S3)
}

/// Decrypts `BucketTargetsConfigJSON` with the DEK the KMS returned for
/// [`ParsedSse::kms`] under [`bucket_targets_context`].
pub fn decrypt_bucket_targets(
    bucket: &str,
    meta: &ParsedSse,
    dek: &PlaintextKey,
    data: &[u8],
) -> Result<SecretBytes, SseError> {
    let oek = meta.sealed.unseal(dek, SseType::S3.domain(), bucket, "")?;
    Ok(SecretBytes::new(dare::decrypt(oek.data_key(), data)?))
}

/// Re-encrypts a bucket's targets under a new DEK of the KMS default key:
/// decrypts with the stored key (context [`bucket_targets_context`]), then
/// new DEK, new OEK, new IV. Returns both new `.metadata.bin` fields.
pub fn reencrypt_bucket_targets_with_kms(
    kms: &dyn Kms,
    bucket: &str,
    data: &[u8],
    meta_json: &[u8],
    rng: &mut dyn RandomSource,
) -> Result<EncryptedTargets, SseError> {
    let meta = parse_bucket_targets_meta(meta_json)?;
    let binding = meta.kms.as_ref().ok_or(SseError::NoKmsKey)?;
    let ctx = bucket_targets_context(bucket);
    let old = kms.decrypt(&binding.key_id, &binding.ciphertext, &ctx)?;
    let plaintext = decrypt_bucket_targets(bucket, &meta, &old, data)?;
    let dek = kms.generate_key(kms.default_key(), &ctx)?;
    encrypt_bucket_targets(bucket, &dek, plaintext.expose(), rng)
}
