//! The filters of JOB.md §8, each a pure check of one category against one
//! version. All configured categories must pass (AND); within `tags` and
//! within `metadata` any item may match (OR). Unlike MinIO (AB-2, AB-3)
//! every category is evaluated: there is no early return.

use super::facts::{classify_encryption, keys, EncryptionKind, VersionFacts};
use super::model::{Filter, KeyValue};
use super::timestamp::Timestamp;
use super::validate::strip_arn;
use super::wildcard;

/// MinIO's `standardHeaders` plus `Expires` (JOB.md §8.4).
const STANDARD_HEADERS: &[&str] = &[
    "Content-Type",
    "Cache-Control",
    "Content-Encoding",
    "Content-Language",
    "Content-Disposition",
    "X-Amz-Storage-Class",
    "X-Amz-Tagging",
    "X-Amz-Replication-Status",
    "X-Amz-Object-Lock-Mode",
    "X-Amz-Object-Lock-Retain-Until-Date",
    "X-Amz-Object-Lock-Legal-Hold",
    "X-Amz-Tagging-Count",
    "X-Amz-Server-Side-Encryption",
    "Expires",
];

const USER_META_PREFIX: &str = "x-amz-meta-";

/// §8.2 age: `olderThan` selects `age ≥ D`, `newerThan` selects `age < D`.
pub fn age_passes(f: &Filter, mod_time: Timestamp, t0: Timestamp) -> bool {
    let age = t0.nanos_since(mod_time);
    let older_ok = f.older_than.is_none_or(|d| age >= d.as_nanos() as i128);
    let newer_ok = f.newer_than.is_none_or(|d| age < d.as_nanos() as i128);
    older_ok && newer_ok
}

/// §8.2 dates, both bounds inclusive (MinIO's keyrotate compares inverted: AB-1).
pub fn dates_pass(f: &Filter, mod_time: Timestamp) -> bool {
    f.created_after.is_none_or(|a| mod_time >= a) && f.created_before.is_none_or(|b| mod_time <= b)
}

/// Why a stored tagging string is not a valid S3 tag set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    /// Bad percent-encoding or a `;` (Go's `url.ParseQuery` rejects both).
    #[error("tagging is not a valid URL query")]
    Encoding,
    /// A key appears twice.
    #[error("duplicate tag key")]
    Duplicate,
    /// More than 10 tags.
    #[error("more than 10 tags")]
    TooMany,
    /// Empty key, key over 128 bytes or value over 256 bytes.
    #[error("tag key or value has an invalid length")]
    Length,
}

/// Parses the stored `X-Amz-Tagging` string (form-urlencoded) into pairs.
pub fn parse_tags(s: &str) -> Result<Vec<(String, String)>, TagError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in s.split('&') {
        if pair.contains(';') {
            return Err(TagError::Encoding);
        }
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (form_unescape(k)?, form_unescape(v)?);
        if k.is_empty() || k.len() > 128 || v.len() > 256 {
            return Err(TagError::Length);
        }
        if out.iter().any(|(ek, _)| *ek == k) {
            return Err(TagError::Duplicate);
        }
        out.push((k, v));
    }
    if out.len() > 10 {
        return Err(TagError::TooMany);
    }
    Ok(out)
}

fn form_unescape(s: &str) -> Result<String, TagError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b.get(i + 1..i + 3).ok_or(TagError::Encoding)?;
                let hex = std::str::from_utf8(hex).map_err(|_| TagError::Encoding)?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| TagError::Encoding)?);
                i += 2;
            }
            _ => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| TagError::Encoding)
}

/// Go's `strings.EqualFold` for the keys we compare: per-character simple
/// case folding.
pub fn eq_fold(a: &str, b: &str) -> bool {
    let mut ai = a.chars();
    let mut bi = b.chars();
    loop {
        match (ai.next(), bi.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) => {
                if x != y
                    && !x.to_lowercase().eq(y.to_lowercase())
                    && !x.to_uppercase().eq(y.to_uppercase())
                {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// §8.3: any item matches any tag. No tags or a bad tag set never match.
pub fn tags_pass(items: &[KeyValue], v: &VersionFacts) -> bool {
    if items.is_empty() {
        return true;
    }
    let Some(Ok(tags)) = v.usr("X-Amz-Tagging").map(parse_tags) else {
        return false;
    };
    items.iter().any(|it| {
        tags.iter()
            .any(|(k, val)| eq_fold(&it.key, k) && wildcard::matches(&it.value, val))
    })
}

/// The stored key a metadata filter key stands for (§8.4 normalization).
fn metadata_target(key: &str) -> String {
    if let Some(h) = STANDARD_HEADERS
        .iter()
        .find(|h| h.eq_ignore_ascii_case(key))
    {
        return (*h).to_owned();
    }
    if key
        .get(..USER_META_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(USER_META_PREFIX))
    {
        return key.to_owned();
    }
    format!("{USER_META_PREFIX}{key}")
}

/// §8.4: any item matches the user metadata or a stored standard header.
pub fn metadata_passes(items: &[KeyValue], v: &VersionFacts) -> bool {
    if items.is_empty() {
        return true;
    }
    items.iter().any(|it| {
        let target = metadata_target(&it.key);
        v.meta_usr.iter().any(|(k, val)| {
            !k.to_ascii_lowercase().starts_with("x-minio-")
                && k.eq_ignore_ascii_case(&target)
                && wildcard::matches(&it.value, val)
        })
    })
}

/// §8.5: SSE-KMS versions whose stored key id equals the filter (both
/// ARN-stripped). Anything else, tampered included, does not pass.
pub fn kms_key_passes(kms_key: Option<&str>, v: &VersionFacts, enc: EncryptionKind) -> bool {
    let Some(want) = kms_key else { return true };
    if enc != EncryptionKind::SseKms {
        return false;
    }
    v.sys(keys::KMS_KEY_ID)
        .and_then(|b| std::str::from_utf8(b).ok())
        .is_some_and(|have| strip_arn(have) == strip_arn(want))
}

/// All of §8.2–§8.5 (AND). `plaintextOnly` is a skip reason (§9 step 8).
pub fn selected(f: &Filter, v: &VersionFacts, t0: Timestamp) -> bool {
    let enc = classify_encryption(&v.meta_sys);
    // Evaluate every category (no short-circuit), so no category can be
    // lost the way MinIO's early returns lose them.
    let results = [
        age_passes(f, v.mod_time, t0),
        dates_pass(f, v.mod_time),
        tags_pass(&f.tags, v),
        metadata_passes(&f.metadata, v),
        kms_key_passes(f.kms_key.as_deref(), v, enc),
    ];
    results.iter().all(|r| *r)
}
