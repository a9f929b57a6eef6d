//! The per-version decision procedure of JOB.md §9: a pure function of the
//! job, one version's facts and the job's fixed start time `T0`.

use super::facts::{classify_encryption, EncryptionKind, VersionFacts, VersionKind};
use super::filter;
use super::model::Job;
use super::timestamp::Timestamp;

/// What to do with one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Rewrite it.
    Action(Action),
    /// In scope but not eligible; counted per reason, not an error.
    Skip(SkipReason),
    /// Outside the job's filters (`objectsFiltered`).
    Filtered,
    /// An error (`objectsFailed`).
    Failed(FailReason),
}

/// The rewrite chosen by the version's current encryption (§9 step 11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Plaintext → SSE-KMS under the target key.
    Encrypt,
    /// SSE-S3 → SSE-KMS, same object key re-sealed.
    Convert,
    /// SSE-KMS → SSE-KMS with a new data key from the target key.
    Rotate,
}

/// `skippedByReason` keys (JOB.md §11.2); the serialized names are the report's.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub enum SkipReason {
    /// A delete marker (counted in `deleteMarkersSkipped`).
    DeleteMarker,
    /// Pending replication purge or tier free version.
    NotAnObject,
    /// Drives of the set disagree; needs heal.
    Inconsistent,
    /// SSE-C.
    Ssec,
    /// `plaintextOnly` and the version is encrypted.
    NotPlaintext,
    /// Locked plaintext: never encrypted.
    LockedPlaintext,
    /// Locked, encrypted, and not forced.
    Locked,
    /// Plaintext data in a remote tier.
    Transitioned,
    /// A layout the tool cannot convert faithfully.
    Unsupported,
    /// Gone at the commit-time re-check (decided by `run`, not here).
    Vanished,
    /// Already on the current target key version (`--skip-current`, by `run`).
    AlreadyCurrent,
    /// Plaintext whose shards fail bitrot beyond what parity repairs: left
    /// untouched for MinIO's healing (decided by `run` while encrypting).
    Corrupt,
}

impl SkipReason {
    /// The name used in counters and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::DeleteMarker => "deleteMarker",
            SkipReason::NotAnObject => "notAnObject",
            SkipReason::Inconsistent => "inconsistent",
            SkipReason::Ssec => "ssec",
            SkipReason::NotPlaintext => "notPlaintext",
            SkipReason::LockedPlaintext => "lockedPlaintext",
            SkipReason::Locked => "locked",
            SkipReason::Transitioned => "transitioned",
            SkipReason::Unsupported => "unsupported",
            SkipReason::Vanished => "vanished",
            SkipReason::AlreadyCurrent => "alreadyCurrent",
            SkipReason::Corrupt => "corrupt",
        }
    }
}

/// `failedByReason` keys produced by the decision itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum FailReason {
    /// Contradictory encryption metadata; never retried.
    Tampered,
}

/// What the rest of keyrotate can do, for the "unsupported" rules of §9
/// step 10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// Encrypting compressed versions is implemented.
    pub encrypt_compressed: bool,
}

impl Capabilities {
    /// What this build implements: `run` and `plan` decide with it.
    /// Compressed plaintext is encrypted as MinIO stores a compressed SSE
    /// object (its S2 stream encrypted as it is, CRYPTO.md §4.6).
    pub const fn this_build() -> Self {
        Capabilities {
            encrypt_compressed: true,
        }
    }
}

/// §9 steps 2–11 for one listed version (step 1, bucket/prefix, is the
/// listing's job; step 12 is this call again on re-read metadata).
pub fn decide(job: &Job, v: &VersionFacts, t0: Timestamp, caps: Capabilities) -> Decision {
    use Decision::*;
    // 2–4. A tier free version is stored as a delete-type version but is
    // no delete marker to S3 clients, so step 3 claims it first.
    if v.free_version {
        return Skip(SkipReason::NotAnObject);
    }
    if v.kind == VersionKind::DeleteMarker {
        return Skip(SkipReason::DeleteMarker);
    }
    if v.purge_pending {
        return Skip(SkipReason::NotAnObject);
    }
    if !v.consistent {
        return Skip(SkipReason::Inconsistent);
    }
    // 5
    if !filter::selected(&job.filter, v, t0) {
        return Filtered;
    }
    let enc = classify_encryption(&v.meta_sys);
    // 6–8
    match enc {
        EncryptionKind::SseC => return Skip(SkipReason::Ssec),
        EncryptionKind::Tampered(_) => return Failed(FailReason::Tampered),
        e if job.filter.plaintext_only && e.is_encrypted() => {
            return Skip(SkipReason::NotPlaintext)
        }
        _ => {}
    }
    // 9
    if is_locked(v, t0) {
        if enc == EncryptionKind::Plaintext {
            return Skip(SkipReason::LockedPlaintext);
        }
        if !job.filter.force_encrypt_locked {
            return Skip(SkipReason::Locked);
        }
    }
    // 10
    let plaintext = enc == EncryptionKind::Plaintext;
    if plaintext && v.transitioned {
        return Skip(SkipReason::Transitioned);
    }
    if v.kind == VersionKind::Legacy {
        return Skip(SkipReason::Unsupported);
    }
    if plaintext {
        let etag_len = v.usr("etag").map_or(0, str::len);
        if (v.part_count > 1 && etag_len == 32) || (v.compressed && !caps.encrypt_compressed) {
            return Skip(SkipReason::Unsupported);
        }
    }
    // 11
    Action(match enc {
        EncryptionKind::SseS3 => self::Action::Convert,
        EncryptionKind::SseKms => self::Action::Rotate,
        _ => self::Action::Encrypt,
    })
}

/// §9 step 9: legal hold `ON` (any case), or GOVERNANCE/COMPLIANCE
/// retention until after `T0`. A mode with an unparseable date is locked.
pub fn is_locked(v: &VersionFacts, t0: Timestamp) -> bool {
    if v.usr("X-Amz-Object-Lock-Legal-Hold")
        .is_some_and(|h| h.eq_ignore_ascii_case("ON"))
    {
        return true;
    }
    let mode = v.usr("X-Amz-Object-Lock-Mode").unwrap_or("");
    if !(mode.eq_ignore_ascii_case("GOVERNANCE") || mode.eq_ignore_ascii_case("COMPLIANCE")) {
        return false;
    }
    match v
        .usr("X-Amz-Object-Lock-Retain-Until-Date")
        .and_then(Timestamp::parse)
    {
        Some(until) => until > t0,
        None => true,
    }
}
