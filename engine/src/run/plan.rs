//! A commit plan: everything one object's change does on the drives of its
//! set, computed before anything is written and journaled as intent.
//!
//! Every producer of changes builds one — metadata rotation and conversion
//! (the run pipeline), plaintext encryption (new data dirs staged first), and
//! internal config re-encryption — and every plan goes through the same
//! journaled commit, so there is one crash-safe write path and one resume
//! procedure.
//!
//! The commit protocol (ONDISK §10.2, DESIGN invariants 3–4):
//!
//! 1. the producer has written and fsynced any new data dir under the drive's
//!    `.minio.sys/tmp/` (staging, discarded by MinIO at start);
//! 2. the plan is appended to the journal and group-committed;
//! 3. on every drive: the staged data dir is renamed into the object
//!    directory (directory fsynced), then the new `xl.meta` replaces the old
//!    one crash-safely (staged, made durable, renamed, the rename made
//!    durable; a batch of them with one filesystem sync per step:
//!    [`crate::drives::io::DriveIo::atomic_write_batch`]);
//! 4. only when every drive holds the new `xl.meta`: the old data dirs are
//!    removed on every drive;
//! 5. the plan is journaled done, with each version's outcome.
//!
//! Resume replays step 3–5 for every plan without a done record. A drive
//! whose `xl.meta` hashes to [`DriveChange::expect_old`] gets the change; one
//! that already holds [`DriveChange::new_xlmeta`] is done; anything else
//! means the object changed under us, and the plan is reported, not forced.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::summary::{Outcome, VersionSizes};

/// One object's change on every drive of its set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitPlan {
    /// The drive roots of the set, in set order, so that a resume needs
    /// nothing but the journal.
    pub drives: Vec<PathBuf>,
    /// The object's directory relative to each drive root
    /// (`bucket/object`, with MinIO's on-disk encoding of directory objects).
    pub object_dir: PathBuf,
    /// Per drive, in the order of `drives`.
    pub per_drive: Vec<DriveChange>,
    /// Data dir names (UUIDs inside `object_dir`) to remove from every drive
    /// once all drives hold the new `xl.meta`; only dirs no remaining version
    /// references.
    pub remove_data_dirs: Vec<String>,
    /// What the change means for each version it touches, for counters and
    /// the report (recorded when the plan is done).
    pub versions: Vec<VersionChange>,
}

/// The change on one drive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriveChange {
    /// xxh64 (seed 0) of the `xl.meta` bytes the plan was computed from.
    pub expect_old: u64,
    /// The complete new `xl.meta` for this drive (its own `EcIndex` and
    /// inline shard included).
    #[serde(with = "serde_bytes")]
    pub new_xlmeta: Vec<u8>,
    /// A fully written, fsynced data dir staged on this drive, to move into
    /// the object directory before the `xl.meta` swap.
    pub staged_data_dir: Option<StagedDataDir>,
}

/// A data dir written ahead of the commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedDataDir {
    /// Where it was written, relative to the drive root (under `.minio.sys/tmp/`).
    pub staged_at: PathBuf,
    /// Its final name inside the object directory (the new `DataDir` UUID).
    pub name: String,
}

/// One version's part in a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionChange {
    /// Bucket and object name as clients know them.
    pub bucket: String,
    pub object: String,
    /// Version id text (`""` for the null version).
    pub version_id: String,
    /// The outcome once the plan is committed.
    pub outcome: Outcome,
    pub sizes: VersionSizes,
    /// KMS key before and after (`None` for plaintext).
    pub old_key: Option<String>,
    pub new_key: Option<String>,
    /// Tries it took (KMS retries included).
    pub tries: u64,
    /// The last error, for failed versions (never secret material).
    #[serde(default)]
    pub error: Option<String>,
    /// Set when the version was plaintext and in the job's scope: it counts
    /// in `plaintextLeft` unless encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plaintext: Option<super::summary::PlaintextKind>,
    /// What the stored copies depend on besides the target key (KMS key
    /// names or [`super::residue`]'s pseudo-keys), for the residue.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
}
