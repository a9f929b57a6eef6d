//! The KES backend (CRYPTO.md §6.1–6.3): `POST /v1/key/generate/{name}` and
//! `POST /v1/key/decrypt/{name}` with JSON bodies whose byte fields are
//! base64, over mutually authenticated TLS (client certificate or API key).
//!
//! Errors map by (status, message) as MinIO's KES client does: 404 key not
//! found, 403 not authorized, 400 "decryption failed" → decryption failed,
//! other 4xx → rejected (all permanent); 5xx, 429, timeouts and connection
//! failures are transient and retried with jitter.
//!
//! Besides the blocking [`Kms`] calls the client offers async calls
//! ([`KesClient::generate_key_async`], [`KesClient::decrypt_async`]) and
//! batch calls that keep up to `max_in_flight` requests in flight.

use std::fmt;
use std::path::PathBuf;

use zeroize::{Zeroize, Zeroizing};

use crate::b64;
use crate::http::{
    error_message, map_status, tls_config, ClientAuth, ClientOptions, Response, Transport,
};
use crate::{Context, DataKey, KeyId, KmsError, PlaintextKey};

/// Settings of a KES client.
#[derive(Debug)]
pub struct KesConfig {
    /// `https://host:port` of each KES server (tried round-robin, failing over).
    pub endpoints: Vec<String>,
    /// `MINIO_KMS_KES_KEY_NAME`.
    pub default_key: KeyId,
    /// Client certificate or API key.
    pub auth: ClientAuth,
    /// CA file or directory for the server certificate (`None` = system bundle).
    pub ca_path: Option<PathBuf>,
    /// Timeouts, retries, concurrency.
    pub options: ClientOptions,
}

/// A KES client.
pub struct KesClient {
    transport: Transport,
    default_key: KeyId,
}

impl fmt::Debug for KesClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KesClient")
            .field("default_key", &self.default_key)
            .finish_non_exhaustive()
    }
}

impl KesClient {
    /// Loads certificates and builds the pooled HTTPS client (no request is sent).
    pub fn new(config: KesConfig) -> Result<Self, KmsError> {
        let tls = tls_config(&config.auth, config.ca_path.as_deref())?;
        Ok(Self {
            transport: Transport::new(&config.endpoints, tls, config.options)?,
            default_key: config.default_key,
        })
    }

    /// Generates a data key (async; runs on the caller's runtime).
    pub async fn generate_key_async(
        &self,
        key: &KeyId,
        context: &Context,
    ) -> Result<DataKey, KmsError> {
        let key = crate::resolve_key(&self.default_key, key);
        let (path, body) = request_for_generate(key, context);
        self.transport
            .post(&path, "application/json", body, |r| parse_generate(key, r))
            .await
    }

    /// Decrypts a data key (async; runs on the caller's runtime).
    pub async fn decrypt_async(
        &self,
        key: &KeyId,
        ciphertext: &[u8],
        context: &Context,
    ) -> Result<PlaintextKey, KmsError> {
        let key = crate::resolve_key(&self.default_key, key);
        let (path, body) = request_for_decrypt(key, ciphertext, context);
        self.transport
            .post(&path, "application/json", body, |r| parse_decrypt(key, r))
            .await
    }
}

/// Go's `url.PathEscape`: keep unreserved characters and `$&+,:;=@`.
pub(crate) fn path_escape(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~$&+,:;=@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Maps a KES error response; `Ok` statuses never reach here.
fn map_error(key: &KeyId, response: &Response) -> KmsError {
    let message = error_message(&response.body);
    map_status("KES", key, response.status, message, |m| {
        m.contains("decryption failed") || m.contains("not authentic")
    })
}

#[derive(serde::Deserialize)]
struct GenerateBody {
    plaintext: String,
    ciphertext: String,
}

#[derive(serde::Deserialize)]
struct DecryptBody {
    plaintext: String,
}

pub(crate) fn parse_generate(key: &KeyId, response: Response) -> Result<DataKey, KmsError> {
    if !response.status.is_success() {
        return Err(map_error(key, &response));
    }
    let malformed =
        |why: &str| KmsError::MalformedResponse(format!("KES generate for key {key:?}: {why}"));
    let mut body: GenerateBody =
        serde_json::from_slice(&response.body).map_err(|_| malformed("not the expected JSON"))?;
    let plaintext = take_plaintext(&mut body.plaintext)
        .ok_or_else(|| malformed("plaintext is not 32 bytes of base64"))?;
    let ciphertext = b64::decode_std(&body.ciphertext)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| malformed("ciphertext is not base64 or empty"))?;
    Ok(DataKey {
        key_id: key.clone(),
        plaintext,
        ciphertext,
    })
}

/// Decodes a base64 plaintext key and wipes the text it came from.
fn take_plaintext(text: &mut String) -> Option<PlaintextKey> {
    let decoded = Zeroizing::new(b64::decode_std(text));
    text.zeroize();
    decoded.as_deref().and_then(PlaintextKey::from_slice)
}

pub(crate) fn parse_decrypt(key: &KeyId, response: Response) -> Result<PlaintextKey, KmsError> {
    if !response.status.is_success() {
        return Err(map_error(key, &response));
    }
    let malformed =
        |why: &str| KmsError::MalformedResponse(format!("KES decrypt for key {key:?}: {why}"));
    let mut body: DecryptBody =
        serde_json::from_slice(&response.body).map_err(|_| malformed("not the expected JSON"))?;
    take_plaintext(&mut body.plaintext)
        .ok_or_else(|| malformed("plaintext is not 32 bytes of base64"))
}

/// The request line and body MinIO's KES client sends, for wire tests.
pub fn request_for_generate(key: &KeyId, context: &Context) -> (String, String) {
    (
        format!("/v1/key/generate/{}", path_escape(key.as_str())),
        format!(
            r#"{{"context":"{}"}}"#,
            b64::encode_std(&context.to_canonical_json())
        ),
    )
}

/// The decrypt request path and body, for wire tests.
pub fn request_for_decrypt(key: &KeyId, ciphertext: &[u8], context: &Context) -> (String, String) {
    (
        format!("/v1/key/decrypt/{}", path_escape(key.as_str())),
        format!(
            r#"{{"ciphertext":"{}","context":"{}"}}"#,
            b64::encode_std(ciphertext),
            b64::encode_std(&context.to_canonical_json())
        ),
    )
}

crate::remote_kms!(KesClient);
