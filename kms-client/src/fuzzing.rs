//! Entry points for the coverage-guided fuzzers in `kms-client/fuzz`: the
//! private response decoders of the remote backends, reached with a status
//! code and a body exactly as the transport hands them over. Not an API.

use hyper::StatusCode;
use zeroize::Zeroizing;

use crate::http::Response;
use crate::{DataKey, KeyId, KmsError, PlaintextKey};

fn response(status: u16, body: &[u8]) -> Option<Response> {
    Some(Response {
        status: StatusCode::from_u16(status).ok()?,
        body: Zeroizing::new(body.to_vec()),
    })
}

fn bad_status() -> KmsError {
    KmsError::MalformedResponse("invalid HTTP status".into())
}

/// KES `/v1/key/generate` answer.
pub fn kes_generate(key: &KeyId, status: u16, body: &[u8]) -> Result<DataKey, KmsError> {
    crate::kes::parse_generate(key, response(status, body).ok_or_else(bad_status)?)
}

/// KES `/v1/key/decrypt` answer.
pub fn kes_decrypt(key: &KeyId, status: u16, body: &[u8]) -> Result<PlaintextKey, KmsError> {
    crate::kes::parse_decrypt(key, response(status, body).ok_or_else(bad_status)?)
}

/// MinIO KMS `KeyGenerate` answer.
pub fn minkms_generate(key: &KeyId, status: u16, body: &[u8]) -> Result<DataKey, KmsError> {
    crate::minkms::parse_generate(key, &response(status, body).ok_or_else(bad_status)?)
}

/// MinIO KMS `KeyDecrypt` answer.
pub fn minkms_decrypt(key: &KeyId, status: u16, body: &[u8]) -> Result<PlaintextKey, KmsError> {
    crate::minkms::parse_decrypt(key, &response(status, body).ok_or_else(bad_status)?)
}

/// The error text shown for a failed call.
pub fn error_message(body: &[u8]) -> String {
    crate::http::error_message(body)
}
