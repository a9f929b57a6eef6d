//! Base64 as Go's `encoding/base64.StdEncoding` reads it (CRYPTO.md pitfall 7):
//! padded standard alphabet, CR/LF ignored, non-zero trailing bits accepted.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

const GO_STD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// Decodes like Go's `base64.StdEncoding.DecodeString`.
pub(crate) fn decode_std(text: &str) -> Option<Vec<u8>> {
    if text.contains(['\r', '\n']) {
        let cleaned: String = text.chars().filter(|c| *c != '\r' && *c != '\n').collect();
        GO_STD.decode(cleaned).ok()
    } else {
        GO_STD.decode(text).ok()
    }
}

/// Encodes with the padded standard alphabet (what MinIO and KES write).
pub(crate) fn encode_std(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// base64url without padding (aead.dev/mtls `k1:` keys and `h1:` identities).
pub(crate) fn encode_url_nopad(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding.
pub(crate) fn decode_url_nopad(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
}
