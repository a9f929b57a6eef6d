//! The job's crypto actions as pure functions (CRYPTO.md §8a–c, JOB.md §9):
//! rotate an SSE-KMS version to a new data key, convert SSE-S3 to SSE-KMS,
//! re-wrap SSE-S3 in place (MinIO's own rotation; tier config), and the
//! metadata for a plaintext version that becomes SSE-KMS.
//!
//! KMS calls are kept apart from the reseal so the pipeline can batch them in
//! its own stage: [`ParsedSse::unwrap_request`] says what to decrypt,
//! [`GenerateRequest`] what to generate, and the `reseal_*` functions take
//! the resulting keys. The `*_with_kms` wrappers chain both for simple callers.

use kms_client::{Context, DataKey, KeyId, Kms, KmsError, PlaintextKey};

use super::etag::etag_for_conversion;
use super::keys::{Iv, ObjectKey, SealedKey};
use super::metadata::{
    object_kms_context, sealed_key_entries, Changes, ParsedSse, SseType, META_CONTEXT, META_CRC,
    META_MULTIPART, META_SEALED_KEY_S3, USR_ETAG,
};
use super::rand::{self, RandomSource};
use super::{dare, SseError};

/// A KMS decrypt the pipeline must run before the reseal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecryptRequest {
    /// Stored key id.
    pub key_id: KeyId,
    /// Stored DEK ciphertext.
    pub ciphertext: Vec<u8>,
    /// Associated data (the object's KMS context).
    pub context: Context,
}

/// A KMS generate the pipeline must run before the reseal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenerateRequest {
    /// Target key.
    pub key_id: KeyId,
    /// Associated data for the new DEK.
    pub context: Context,
}

impl ParsedSse {
    /// What the KMS must decrypt to recover this version's DEK.
    pub fn unwrap_request(&self, bucket: &str, object: &str) -> Result<DecryptRequest, SseError> {
        let kms = self.kms.as_ref().ok_or(SseError::NoKmsKey)?;
        if self.ty == SseType::C {
            return Err(SseError::WrongType {
                expected: "SSE-S3 or SSE-KMS",
                found: self.ty,
            });
        }
        Ok(DecryptRequest {
            key_id: kms.key_id.clone(),
            ciphertext: kms.ciphertext.clone(),
            context: self.kms_context(bucket, object),
        })
    }

    /// Unseals the OEK with the DEK the KMS returned for [`unwrap_request`](Self::unwrap_request).
    pub fn unseal(
        &self,
        dek: &PlaintextKey,
        bucket: &str,
        object: &str,
    ) -> Result<ObjectKey, SseError> {
        self.sealed.unseal(dek, self.ty.domain(), bucket, object)
    }
}

/// The user context a rotated or converted SSE-KMS version ends up with:
/// the job's context if it sets one, else the stored one (SSE-KMS) or none.
pub fn effective_user_context(
    parsed: Option<&ParsedSse>,
    job_context: Option<&Context>,
) -> Option<Context> {
    match (job_context, parsed) {
        (Some(job), _) => Some(job.clone()),
        (None, Some(p)) if p.ty == SseType::Kms => p.context.clone(),
        (None, _) => None,
    }
}

/// The generate request for moving a version to SSE-KMS under `target`.
pub fn kms_generate_request(
    target: &KeyId,
    user_context: Option<&Context>,
    bucket: &str,
    object: &str,
) -> GenerateRequest {
    GenerateRequest {
        key_id: target.clone(),
        context: object_kms_context(user_context, bucket, object),
    }
}

/// Seals `oek` under the new DEK, checks it unseals again (catches a bad
/// DEK before anything is written), and returns the sealed key.
fn seal_checked(
    oek: &ObjectKey,
    new_dek: &DataKey,
    ty: SseType,
    bucket: &str,
    object: &str,
    rng: &mut dyn RandomSource,
) -> Result<SealedKey, SseError> {
    let iv = Iv::generate(rng)?;
    let sealed = oek.seal(&new_dek.plaintext, iv, ty.domain(), bucket, object, rng)?;
    if sealed.unseal(&new_dek.plaintext, ty.domain(), bucket, object)? != *oek {
        return Err(SseError::UnsealFailed);
    }
    Ok(sealed)
}

fn set_sealed(
    changes: &mut Changes,
    ty: SseType,
    sealed: &SealedKey,
    dek: &DataKey,
    ctx: Option<&Context>,
) -> Result<(), SseError> {
    for (k, v) in sealed_key_entries(ty, sealed, Some((&dek.key_id, &dek.ciphertext)), ctx)? {
        changes.set_sys(k, v);
    }
    Ok(())
}

/// §8a: re-seals an SSE-KMS version's OEK under a new DEK. `user_context`
/// is what [`effective_user_context`] returned (stored as given; the
/// `…-Context` entry is deleted when it is empty or absent).
pub fn reseal_kms(
    parsed: &ParsedSse,
    bucket: &str,
    object: &str,
    old_dek: &PlaintextKey,
    new_dek: &DataKey,
    user_context: Option<&Context>,
    rng: &mut dyn RandomSource,
) -> Result<Changes, SseError> {
    expect_type(parsed, SseType::Kms)?;
    let oek = parsed.unseal(old_dek, bucket, object)?;
    let sealed = seal_checked(&oek, new_dek, SseType::Kms, bucket, object, rng)?;
    let mut changes = Changes::default();
    set_sealed(&mut changes, SseType::Kms, &sealed, new_dek, user_context)?;
    if user_context.is_none_or(Context::is_empty) {
        changes.remove_sys(META_CONTEXT);
    }
    Ok(changes)
}

/// §8b: converts an SSE-S3 version to SSE-KMS: same OEK, domain `SSE-KMS`,
/// `…-S3-Sealed-Key` replaced by `…-Kms-Sealed-Key`. A sealed single-part
/// ETag is replaced by its clear value so clients keep seeing the same ETag.
#[allow(clippy::too_many_arguments)]
pub fn reseal_s3_to_kms(
    parsed: &ParsedSse,
    bucket: &str,
    object: &str,
    stored_etag: Option<&str>,
    old_dek: &PlaintextKey,
    new_dek: &DataKey,
    user_context: Option<&Context>,
    rng: &mut dyn RandomSource,
) -> Result<Changes, SseError> {
    expect_type(parsed, SseType::S3)?;
    let oek = parsed.unseal(old_dek, bucket, object)?;
    let sealed = seal_checked(&oek, new_dek, SseType::Kms, bucket, object, rng)?;
    let mut changes = Changes::default();
    set_sealed(&mut changes, SseType::Kms, &sealed, new_dek, user_context)?;
    changes.remove_sys(META_SEALED_KEY_S3);
    if user_context.is_none_or(Context::is_empty) {
        // MinIO ignored a stale context while SSE-S3, but would use it as AAD now.
        changes.remove_sys(META_CONTEXT);
    }
    if let Some(etag) = stored_etag {
        if let Some(clear) = etag_for_conversion(&oek, etag)? {
            changes.set_usr(USR_ETAG, clear);
        }
    }
    Ok(changes)
}

/// MinIO's own rotation of an SSE-S3 version: re-seal under a new DEK from
/// the default key and stay SSE-S3 (used for the tier config, §7.4).
pub fn reseal_s3(
    parsed: &ParsedSse,
    bucket: &str,
    object: &str,
    old_dek: &PlaintextKey,
    new_dek: &DataKey,
    rng: &mut dyn RandomSource,
) -> Result<Changes, SseError> {
    expect_type(parsed, SseType::S3)?;
    let oek = parsed.unseal(old_dek, bucket, object)?;
    let sealed = seal_checked(&oek, new_dek, SseType::S3, bucket, object, rng)?;
    let mut changes = Changes::default();
    set_sealed(&mut changes, SseType::S3, &sealed, new_dek, None)?;
    Ok(changes)
}

fn expect_type(parsed: &ParsedSse, ty: SseType) -> Result<(), SseError> {
    if parsed.ty == ty {
        Ok(())
    } else {
        Err(SseError::WrongType {
            expected: match ty {
                SseType::S3 => "SSE-S3",
                SseType::Kms => "SSE-KMS",
                SseType::C => "SSE-C",
            },
            found: parsed.ty,
        })
    }
}

/// §8c: keys and metadata for a plaintext version that becomes SSE-KMS.
/// The caller encrypts the data with [`NewEncryption::oek`] (single part:
/// [`ObjectKey::data_key`]; multipart: [`ObjectKey::part_key`] per part
/// number), rewrites sizes and keeps the stored ETag (§8c step 6).
pub struct NewEncryption {
    /// The new object key.
    pub oek: ObjectKey,
    /// Metadata edits: sealed key entries, the multipart flag, the encrypted checksum.
    pub changes: Changes,
}

impl std::fmt::Debug for NewEncryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewEncryption")
            .field("changes", &self.changes)
            .finish_non_exhaustive()
    }
}

/// Builds [`NewEncryption`] for `bucket/object` from a fresh DEK (generated
/// with [`kms_generate_request`]). `multipart` = the version is a multipart
/// upload (its etag has a `-N` suffix); `crc` = its stored checksum blob.
pub fn encrypt_plaintext(
    bucket: &str,
    object: &str,
    new_dek: &DataKey,
    user_context: Option<&Context>,
    multipart: bool,
    crc: Option<&[u8]>,
    rng: &mut dyn RandomSource,
) -> Result<NewEncryption, SseError> {
    let oek = ObjectKey::generate(&new_dek.plaintext, rng)?;
    let sealed = seal_checked(&oek, new_dek, SseType::Kms, bucket, object, rng)?;
    let mut changes = Changes::default();
    set_sealed(&mut changes, SseType::Kms, &sealed, new_dek, user_context)?;
    if multipart {
        changes.set_sys(META_MULTIPART, Vec::new());
    }
    if let Some(blob) = crc.filter(|b| !b.is_empty()) {
        let random: [u8; 12] = rand::array(rng)?;
        changes.set_sys(
            META_CRC,
            dare::encrypt(
                &oek.checksum_key(),
                dare::CipherSuite::Aes256Gcm,
                random,
                blob,
            )?,
        );
    }
    Ok(NewEncryption { oek, changes })
}

/// Rotates or converts a version in one go, calling the KMS (decrypt, then
/// generate). For pipelines that stage KMS calls, use the `reseal_*` functions.
#[allow(clippy::too_many_arguments)]
pub fn rewrap_with_kms(
    kms: &dyn Kms,
    parsed: &ParsedSse,
    bucket: &str,
    object: &str,
    stored_etag: Option<&str>,
    target: &KeyId,
    job_context: Option<&Context>,
    rng: &mut dyn RandomSource,
) -> Result<Changes, SseError> {
    let req = parsed.unwrap_request(bucket, object)?;
    let old = kms
        .decrypt(&req.key_id, &req.ciphertext, &req.context)
        .map_err(kms_err)?;
    let user = effective_user_context(Some(parsed), job_context);
    let gen = kms_generate_request(target, user.as_ref(), bucket, object);
    let new = kms
        .generate_key(&gen.key_id, &gen.context)
        .map_err(kms_err)?;
    match parsed.ty {
        SseType::Kms => reseal_kms(parsed, bucket, object, &old, &new, user.as_ref(), rng),
        SseType::S3 => reseal_s3_to_kms(
            parsed,
            bucket,
            object,
            stored_etag,
            &old,
            &new,
            user.as_ref(),
            rng,
        ),
        SseType::C => Err(SseError::WrongType {
            expected: "SSE-S3 or SSE-KMS",
            found: SseType::C,
        }),
    }
}

fn kms_err(e: KmsError) -> SseError {
    SseError::Kms(e)
}

/// [`encrypt_plaintext`] with the KMS call: generates the DEK under `target`
/// for the effective context.
#[allow(clippy::too_many_arguments)]
pub fn encrypt_plaintext_with_kms(
    kms: &dyn Kms,
    bucket: &str,
    object: &str,
    target: &KeyId,
    job_context: Option<&Context>,
    multipart: bool,
    crc: Option<&[u8]>,
    rng: &mut dyn RandomSource,
) -> Result<NewEncryption, SseError> {
    let gen = kms_generate_request(target, job_context, bucket, object);
    let dek = kms
        .generate_key(&gen.key_id, &gen.context)
        .map_err(kms_err)?;
    encrypt_plaintext(bucket, object, &dek, job_context, multipart, crc, rng)
}
