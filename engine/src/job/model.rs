//! The validated job (JOB.md §2–§3): every value already parsed and
//! defaulted, so nothing downstream re-reads a string from the file.

use std::collections::BTreeMap;
use std::time::Duration;

use zeroize::Zeroizing;

use super::timestamp::Timestamp;

/// A `keyrotate` job, valid per the static stage of JOB.md §4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The bucket to process (a valid S3 bucket name).
    pub bucket: String,
    /// Prefixes to walk, deduplicated, without entries covered by a shorter
    /// one, in byte order; `[""]` means the whole bucket.
    pub prefixes: Vec<String>,
    /// Target key and context.
    pub encryption: Encryption,
    /// Which versions are in scope.
    pub filter: Filter,
    /// Webhook at the end of the run.
    pub notify: Notify,
    /// Per-version retry policy.
    pub retry: Retry,
}

/// `keyrotate.encryption` (JOB.md §3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Encryption {
    /// Target key name with any `arn:aws:kms:` prefix stripped; `None` means
    /// the cluster default key.
    pub key: Option<String>,
    /// The new KMS context; `None` keeps each version's existing context.
    pub context: Option<KmsContext>,
}

/// A KMS context: a JSON object of strings. Sorted, since MinIO stores its
/// canonical (sorted-key) JSON.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KmsContext(pub BTreeMap<String, String>);

/// `keyrotate.flags.filter` (JOB.md §8). Absent filters are `None`/empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    /// Select `age < newer_than`.
    pub newer_than: Option<Duration>,
    /// Select `age ≥ older_than`.
    pub older_than: Option<Duration>,
    /// Select `modTime ≥ created_after`.
    pub created_after: Option<Timestamp>,
    /// Select `modTime ≤ created_before`.
    pub created_before: Option<Timestamp>,
    /// OR-list of tag conditions.
    pub tags: Vec<KeyValue>,
    /// OR-list of metadata conditions.
    pub metadata: Vec<KeyValue>,
    /// Only SSE-KMS versions under this key id (ARN prefix stripped).
    pub kms_key: Option<String>,
    /// Act only on plaintext versions (encrypted ones are skipped).
    pub plaintext_only: bool,
    /// Also act on encrypted versions under retention or legal hold.
    pub force_encrypt_locked: bool,
}

/// A `{key, value}` condition; `value` is a wildcard pattern (§7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// Tag key or metadata name (compared case-insensitively).
    pub key: String,
    /// Wildcard pattern for the value.
    pub value: String,
}

/// `keyrotate.flags.notify`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Notify {
    /// Absolute http(s) URL.
    pub endpoint: Option<String>,
    /// The `Authorization` header value.
    pub token: Option<NotifyToken>,
}

/// The webhook credential: never printed, wiped on drop (AB-25).
#[derive(Clone, PartialEq, Eq)]
pub struct NotifyToken(Zeroizing<String>);

impl NotifyToken {
    pub(crate) fn new(s: String) -> Self {
        NotifyToken(Zeroizing::new(s))
    }

    /// The header value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for NotifyToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NotifyToken(<redacted>)")
    }
}

/// `keyrotate.flags.retry` with MinIO's keyrotate defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Total tries per version, counting the first (≥ 1).
    pub attempts: u32,
    /// Least delay between tries.
    pub delay: Duration,
}

impl Retry {
    /// `batchKeyRotateJobDefaultRetries`.
    pub const DEFAULT_ATTEMPTS: u32 = 3;
    /// `batchKeyRotateJobDefaultRetryDelay`.
    pub const DEFAULT_DELAY: Duration = Duration::from_millis(25);
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: Self::DEFAULT_ATTEMPTS,
            delay: Self::DEFAULT_DELAY,
        }
    }
}
