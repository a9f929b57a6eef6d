//! API keys and identities (CRYPTO.md §6.2, §6.5).
//!
//! * KES: `kes:v1:` + base64(0x00 || Ed25519 seed); identity = hex SHA-256 of
//!   the DER SubjectPublicKeyInfo.
//! * MinIO KMS: `k1:` + base64url-no-pad(Ed25519 seed); identity = `h1:` +
//!   base64url-no-pad(SHA-256(SPKI)).
//!
//! Either key authenticates through a self-signed Ed25519 client certificate
//! whose common name is the identity, built here with `rcgen`.

use std::fmt;

use ring::signature::{Ed25519KeyPair, KeyPair as _};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use zeroize::Zeroizing;

use crate::{b64, KmsError};

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410), before the 32-byte key.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Which API-key dialect a key came from (decides the identity text).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiKeyKind {
    /// `kes:v1:` (KES).
    Kes,
    /// `k1:` (MinIO KMS, aead.dev/mtls).
    MinKms,
}

/// An Ed25519 API key (KES or MinIO KMS). The seed is zeroized and never printed.
pub struct ApiKey {
    kind: ApiKeyKind,
    seed: Zeroizing<[u8; 32]>,
    public: [u8; 32],
}

impl ApiKey {
    /// Parses `kes:v1:<base64(0x00 || seed)>`.
    pub fn parse_kes(text: &str) -> Result<Self, KmsError> {
        let bad = |why: &str| KmsError::Config(format!("KES API key: {why}"));
        let encoded = text
            .trim()
            .strip_prefix("kes:v1:")
            .ok_or_else(|| bad("missing the 'kes:v1:' prefix"))?;
        let raw = Zeroizing::new(b64::decode_std(encoded).ok_or_else(|| bad("not valid base64"))?);
        let (kind, seed) = raw.split_first().ok_or_else(|| bad("empty"))?;
        if *kind != 0 {
            return Err(bad("unsupported key type (only Ed25519, type 0)"));
        }
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| bad("the key is not 32 bytes"))?;
        Self::from_seed(ApiKeyKind::Kes, seed)
    }

    /// Parses `k1:<base64url-no-pad(seed)>` (MinIO KMS).
    pub fn parse_k1(text: &str) -> Result<Self, KmsError> {
        let bad = |why: &str| KmsError::Config(format!("MinIO KMS API key: {why}"));
        let text = text.trim();
        if text.starts_with("k2:") {
            return Err(bad("ECDSA (k2:) keys are not supported; use a k1: key"));
        }
        let encoded = text
            .strip_prefix("k1:")
            .ok_or_else(|| bad("missing the 'k1:' prefix"))?;
        let raw = Zeroizing::new(
            b64::decode_url_nopad(encoded).ok_or_else(|| bad("not valid base64url"))?,
        );
        let seed: [u8; 32] = raw
            .as_slice()
            .try_into()
            .map_err(|_| bad("the key is not 32 bytes"))?;
        Self::from_seed(ApiKeyKind::MinKms, seed)
    }

    fn from_seed(kind: ApiKeyKind, seed: [u8; 32]) -> Result<Self, KmsError> {
        let seed = Zeroizing::new(seed);
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed[..])
            .map_err(|_| KmsError::Config("API key: not a valid Ed25519 seed".into()))?;
        let mut public = [0u8; 32];
        public.copy_from_slice(pair.public_key().as_ref());
        Ok(Self { kind, seed, public })
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public
    }

    /// The identity a KMS policy names: hex (KES) or `h1:` (MinIO KMS).
    pub fn identity(&self) -> String {
        let digest = spki_sha256(&self.public);
        match self.kind {
            ApiKeyKind::Kes => digest.iter().map(|b| format!("{b:02x}")).collect(),
            ApiKeyKind::MinKms => format!("h1:{}", b64::encode_url_nopad(&digest)),
        }
    }

    /// PKCS#8 v2 DER of the key pair (RFC 8410 with the public key).
    fn pkcs8(&self) -> Zeroizing<Vec<u8>> {
        let mut der = Zeroizing::new(Vec::with_capacity(85));
        der.extend_from_slice(&[
            0x30, 0x53, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70,
        ]);
        der.extend_from_slice(&[0x04, 0x22, 0x04, 0x20]);
        der.extend_from_slice(&self.seed[..]);
        der.extend_from_slice(&[0xa1, 0x23, 0x03, 0x21, 0x00]);
        der.extend_from_slice(&self.public);
        der
    }

    /// A self-signed client certificate for this key: CN = identity, valid
    /// from now for 90 days, digitalSignature + clientAuth (as MinIO builds it).
    pub fn client_certificate(
        &self,
    ) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), KmsError> {
        let err = |e: rcgen::Error| {
            KmsError::Tls(format!("building the API-key client certificate: {e}"))
        };
        let pkcs8 = PrivatePkcs8KeyDer::from(self.pkcs8().to_vec());
        let key_pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_ED25519)
            .map_err(err)?;
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, self.identity());
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::minutes(5);
        params.not_after = now + time::Duration::days(90);
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.self_signed(&key_pair).map_err(err)?;
        Ok((cert.der().clone(), PrivateKeyDer::Pkcs8(pkcs8)))
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("kind", &self.kind)
            .field("identity", &self.identity())
            .finish_non_exhaustive()
    }
}

/// SHA-256 of the DER SubjectPublicKeyInfo of an Ed25519 public key.
fn spki_sha256(public: &[u8; 32]) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&ED25519_SPKI_PREFIX);
    ctx.update(public);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// KES identity of any certificate: hex SHA-256 of its DER SubjectPublicKeyInfo.
pub fn certificate_identity(cert: &CertificateDer<'_>) -> Option<String> {
    let spki = spki_of(cert.as_ref())?;
    let digest = ring::digest::digest(&ring::digest::SHA256, spki);
    Some(digest.as_ref().iter().map(|b| format!("{b:02x}")).collect())
}

/// Finds the SubjectPublicKeyInfo inside an X.509 certificate (minimal DER walk:
/// Certificate → TBSCertificate → the 7th element, skipping the optional [0] version).
fn spki_of(cert: &[u8]) -> Option<&[u8]> {
    let (cert_body, _) = der_seq(cert)?;
    let (tbs, _) = der_seq(cert_body)?;
    let mut rest = tbs;
    let mut index = 0;
    loop {
        let (tag, whole, after) = der_element(rest)?;
        if index == 0 && tag == 0xa0 {
            rest = after; // explicit version
            continue;
        }
        // serial, signature alg, issuer, validity, subject, then SPKI.
        if index == 5 {
            return Some(whole);
        }
        index += 1;
        rest = after;
    }
}

/// Splits one DER element: (tag, the whole element, the bytes after it).
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *input.first()?;
    let first = *input.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for b in input.get(2..2 + n)? {
            len = (len << 8) | usize::from(*b);
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    let whole = input.get(..end)?;
    Some((tag, whole, input.get(end..)?))
}

/// The contents of a DER SEQUENCE and the bytes after it.
fn der_seq(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let (tag, whole, after) = der_element(input)?;
    if tag != 0x30 {
        return None;
    }
    let header = whole.len() - content_len(whole)?;
    Some((whole.get(header..)?, after))
}

fn content_len(element: &[u8]) -> Option<usize> {
    let first = *element.get(1)?;
    if first < 0x80 {
        Some(usize::from(first))
    } else {
        let n = usize::from(first & 0x7f);
        element.len().checked_sub(2 + n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_certificate_carries_its_identity() {
        let key = ApiKey::parse_kes("kes:v1:AGaV6VXHasF0FnaB60WdCOeTZ8eTIDikL4zlN16c8NAs").unwrap();
        let (cert, _) = key.client_certificate().unwrap();
        assert_eq!(certificate_identity(&cert).unwrap(), key.identity());
        assert_eq!(
            key.identity(),
            "ea9826089311fe44d7590408ede9150f7c637b6cab0a91ee6fe1aa5d9fb366f6"
        );
        let debug = format!("{key:?}");
        assert!(!debug.contains("AGaV6VXH"), "{debug}");
    }
}
