//! The MinIO KMS ("MinKMS", AIStor KMS) backend (CRYPTO.md §6.4–6.5).
//!
//! Every key operation is `POST /v1/kms/{enclave}` with a body of frames
//! `be16(command) || be32(len) || protobuf`; the answer carries one frame per
//! request, same command, in order. Commands used: KEY:GENERATE (207) and
//! KEY:DECRYPT (206). Authentication: a `k1:` API key's self-signed Ed25519
//! client certificate. The protobuf messages are tiny and encoded by hand.
//!
//! Not verified against a real server (it is closed source; CRYPTO.md §11):
//! decrypt sends no key version, as MinIO does. The client sends one frame per
//! HTTP request (as MinIO does) and gets concurrency from many requests in
//! flight; [`encode_frames`] can batch, but partial-failure semantics of a
//! batched request are undocumented, so the client does not rely on them.

use std::fmt;
use std::path::PathBuf;

use hyper::StatusCode;

use crate::http::{
    error_message, map_status, tls_config, ClientAuth, ClientOptions, Response, Transport,
};
use crate::identity::ApiKey;
use crate::kes::path_escape;
use crate::{Context, DataKey, KeyId, KmsError, PlaintextKey};

/// KEY:DECRYPT.
pub const CMD_KEY_DECRYPT: u16 = 206;
/// KEY:GENERATE.
pub const CMD_KEY_GENERATE: u16 = 207;

/// Settings of a MinIO KMS client.
pub struct MinKmsConfig {
    /// `https://host:port` of each server.
    pub endpoints: Vec<String>,
    /// `MINIO_KMS_ENCLAVE`.
    pub enclave: String,
    /// `MINIO_KMS_SSE_KEY`.
    pub default_key: KeyId,
    /// `MINIO_KMS_API_KEY` (`k1:`).
    pub api_key: ApiKey,
    /// CA file or directory (`None` = system bundle).
    pub ca_path: Option<PathBuf>,
    /// Timeouts, retries, concurrency.
    pub options: ClientOptions,
}

impl fmt::Debug for MinKmsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MinKmsConfig")
            .field("endpoints", &self.endpoints)
            .field("enclave", &self.enclave)
            .field("default_key", &self.default_key)
            .field("api_key", &self.api_key)
            .field("ca_path", &self.ca_path)
            .field("options", &self.options)
            .finish()
    }
}

/// One request frame's protobuf message.
#[derive(Debug, Clone, Copy)]
pub enum FrameRequest<'a> {
    /// GenerateKeyRequest {1 name, 3 associated data, 4 length}.
    Generate {
        name: &'a str,
        associated_data: &'a [u8],
        length: u32,
    },
    /// DecryptRequest {1 name, 3 ciphertext, 4 associated data} (no version).
    Decrypt {
        name: &'a str,
        ciphertext: &'a [u8],
        associated_data: &'a [u8],
    },
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, field: u8, bytes: &[u8]) {
    if bytes.is_empty() {
        return; // proto3: default values are omitted
    }
    out.push(field << 3 | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

impl FrameRequest<'_> {
    fn command(&self) -> u16 {
        match self {
            FrameRequest::Generate { .. } => CMD_KEY_GENERATE,
            FrameRequest::Decrypt { .. } => CMD_KEY_DECRYPT,
        }
    }

    fn message(&self) -> Vec<u8> {
        let mut m = Vec::new();
        match *self {
            FrameRequest::Generate {
                name,
                associated_data,
                length,
            } => {
                put_bytes(&mut m, 1, name.as_bytes());
                put_bytes(&mut m, 3, associated_data);
                if length != 0 {
                    m.push(4 << 3);
                    put_varint(&mut m, u64::from(length));
                }
            }
            FrameRequest::Decrypt {
                name,
                ciphertext,
                associated_data,
            } => {
                put_bytes(&mut m, 1, name.as_bytes());
                put_bytes(&mut m, 3, ciphertext);
                put_bytes(&mut m, 4, associated_data);
            }
        }
        m
    }
}

/// Encodes request frames into one body.
pub fn encode_frames(requests: &[FrameRequest<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for request in requests {
        let message = request.message();
        out.extend_from_slice(&request.command().to_be_bytes());
        out.extend_from_slice(&(message.len() as u32).to_be_bytes());
        out.extend_from_slice(&message);
    }
    out
}

/// Splits a body into (command, message) frames; `None` if truncated.
pub fn decode_frames(mut body: &[u8]) -> Option<Vec<(u16, &[u8])>> {
    let mut frames = Vec::new();
    while !body.is_empty() {
        let (header, rest) = body.split_at_checked(6)?;
        let command = u16::from_be_bytes([header[0], header[1]]);
        let len = u32::from_be_bytes([header[2], header[3], header[4], header[5]]) as usize;
        let (message, rest) = rest.split_at_checked(len)?;
        frames.push((command, message));
        body = rest;
    }
    Some(frames)
}

/// Reads the length-delimited and varint fields of a protobuf message:
/// (field number, bytes) for wire type 2, skipping varints; `None` if malformed.
pub fn protobuf_fields(mut message: &[u8]) -> Option<Vec<(u32, &[u8])>> {
    fn varint(input: &mut &[u8]) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (b, rest) = input.split_first()?;
            *input = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    let mut fields = Vec::new();
    while !message.is_empty() {
        let key = varint(&mut message)?;
        let field = u32::try_from(key >> 3).ok()?;
        match key & 7 {
            0 => {
                varint(&mut message)?;
            }
            2 => {
                let len = usize::try_from(varint(&mut message)?).ok()?;
                let (value, rest) = message.split_at_checked(len)?;
                fields.push((field, value));
                message = rest;
            }
            5 => message = message.get(4..)?,
            1 => message = message.get(8..)?,
            _ => return None,
        }
    }
    Some(fields)
}

/// A MinIO KMS client.
pub struct MinKmsClient {
    transport: Transport,
    path: String,
    default_key: KeyId,
}

impl fmt::Debug for MinKmsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MinKmsClient")
            .field("path", &self.path)
            .field("default_key", &self.default_key)
            .finish_non_exhaustive()
    }
}

impl MinKmsClient {
    /// Builds the client (no request is sent).
    pub fn new(config: MinKmsConfig) -> Result<Self, KmsError> {
        if config.enclave.is_empty() {
            return Err(KmsError::Config(
                "MinIO KMS: MINIO_KMS_ENCLAVE is empty".into(),
            ));
        }
        let tls = tls_config(
            &ClientAuth::ApiKey(config.api_key),
            config.ca_path.as_deref(),
        )?;
        Ok(Self {
            transport: Transport::new(&config.endpoints, tls, config.options)?,
            path: format!("/v1/kms/{}", path_escape(&config.enclave)),
            default_key: config.default_key,
        })
    }

    /// Generates a data key (async).
    pub async fn generate_key_async(
        &self,
        key: &KeyId,
        context: &Context,
    ) -> Result<DataKey, KmsError> {
        let key = crate::resolve_key(&self.default_key, key);
        let aad = context.to_canonical_json();
        let body = encode_frames(&[FrameRequest::Generate {
            name: key.as_str(),
            associated_data: &aad,
            length: 32,
        }]);
        self.transport
            .post(&self.path, "application/octet-stream", body, |r| {
                parse_generate(key, &r)
            })
            .await
    }

    /// Decrypts a data key (async).
    pub async fn decrypt_async(
        &self,
        key: &KeyId,
        ciphertext: &[u8],
        context: &Context,
    ) -> Result<PlaintextKey, KmsError> {
        let key = crate::resolve_key(&self.default_key, key);
        let aad = context.to_canonical_json();
        let body = encode_frames(&[FrameRequest::Decrypt {
            name: key.as_str(),
            ciphertext,
            associated_data: &aad,
        }]);
        self.transport
            .post(&self.path, "application/octet-stream", body, |r| {
                parse_decrypt(key, &r)
            })
            .await
    }
}

/// A `KeyGenerate` answer: plaintext (field 2, 32 bytes) and ciphertext
/// (field 3, non-empty).
pub(crate) fn parse_generate(key: &KeyId, r: &Response) -> Result<DataKey, KmsError> {
    let fields = single_frame(key, CMD_KEY_GENERATE, r)?;
    let plaintext = field(&fields, 2).and_then(PlaintextKey::from_slice);
    let ciphertext = field(&fields, 3).filter(|c| !c.is_empty());
    match (plaintext, ciphertext) {
        (Some(plaintext), Some(ciphertext)) => Ok(DataKey {
            key_id: key.clone(),
            plaintext,
            ciphertext: ciphertext.to_vec(),
        }),
        _ => Err(KmsError::MalformedResponse(format!(
            "MinIO KMS generate for key {key:?}: missing fields"
        ))),
    }
}

/// A `KeyDecrypt` answer: the plaintext (field 1, 32 bytes).
pub(crate) fn parse_decrypt(key: &KeyId, r: &Response) -> Result<PlaintextKey, KmsError> {
    let fields = single_frame(key, CMD_KEY_DECRYPT, r)?;
    field(&fields, 1)
        .and_then(PlaintextKey::from_slice)
        .ok_or_else(|| {
            KmsError::MalformedResponse(format!(
                "MinIO KMS decrypt for key {key:?}: no 32-byte plaintext"
            ))
        })
}

fn field<'a>(fields: &[(u32, &'a [u8])], number: u32) -> Option<&'a [u8]> {
    fields
        .iter()
        .rev()
        .find(|(n, _)| *n == number)
        .map(|(_, v)| *v)
}

/// Checks the status and returns the single response frame's fields (copied
/// into a zeroized buffer's lifetime by the caller's closure).
fn single_frame<'r>(
    key: &KeyId,
    command: u16,
    response: &'r Response,
) -> Result<Vec<(u32, &'r [u8])>, KmsError> {
    if response.status != StatusCode::OK {
        return Err(map_error(key, response));
    }
    let malformed =
        |why: &str| KmsError::MalformedResponse(format!("MinIO KMS answer for key {key:?}: {why}"));
    let frames = decode_frames(&response.body).ok_or_else(|| malformed("truncated frame"))?;
    let [(cmd, message)] = frames.as_slice() else {
        return Err(malformed("expected exactly one frame"));
    };
    if *cmd != command {
        return Err(malformed("frame for another command"));
    }
    protobuf_fields(message).ok_or_else(|| malformed("invalid protobuf"))
}

fn map_error(key: &KeyId, response: &Response) -> KmsError {
    // ErrResponse {1: message} as protobuf, or JSON / plain text.
    let message = protobuf_fields(&response.body)
        .and_then(|f| field(&f, 1).map(|m| String::from_utf8_lossy(m).into_owned()))
        .filter(|m| !m.is_empty() && m.chars().all(|c| !c.is_control()))
        .unwrap_or_else(|| error_message(&response.body));
    map_status("MinIO KMS", key, response.status, message, |m| {
        m.contains("ciphertext") || m.contains("decrypt")
    })
}

crate::remote_kms!(MinKmsClient);
