//! The job's counters (JOB.md §11) and the summary that the webhook, `status`
//! and `run --json` print.
//!
//! Counters change only by [`Summary::record`] of a version's final
//! [`Outcome`], and every outcome is journaled before it is recorded, so a
//! resume rebuilds the same figures by replaying the journal.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::residue::{self, Residue};

/// Why a version matched the job but was not eligible (JOB.md §9): one
/// enum for the decision and the counters, defined with the decision.
pub use crate::job::decide::SkipReason;

/// What was done to a version that succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ActionKind {
    /// Plaintext → SSE-KMS (data rewritten).
    Encrypt,
    /// SSE-S3 → SSE-KMS (metadata only).
    Convert,
    /// SSE-KMS → SSE-KMS under a new data key (metadata only).
    Rotate,
}

/// The final result of one listed version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "outcome", content = "detail")]
pub enum Outcome {
    Done(ActionKind),
    Filtered,
    Skipped(SkipReason),
    DeleteMarkerSkipped,
    /// Failed after all tries; the reason is a short class name
    /// (`tampered`, `kms`, `io`, ...), the message goes to the report.
    Failed(String),
}

/// Counters of internal subsystem re-encryption (JOB.md §14).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InternalCounters {
    pub rotated: u64,
    pub failed: u64,
    pub skipped: u64,
}

/// KMS calls made by the run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KmsCalls {
    pub decrypt: u64,
    pub generate: u64,
}

/// The job's state as scripts see it. Field order is the wire order: the
/// first 14 fields are MinIO's `batchJobInfo` JSON, in MinIO's order (JOB.md
/// §12); everything after them is keyrotate's additive extension.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    #[serde(rename = "jobID")]
    pub job_id: String,
    pub job_type: String,
    pub start_time: String,
    pub last_update: String,
    pub retry_attempts: u64,
    pub attempts: u64,
    pub complete: bool,
    pub failed: bool,
    pub objects: u64,
    pub delete_markers: u64,
    pub objects_failed: u64,
    pub delete_markers_failed: u64,
    pub bytes_transferred: u64,
    pub bytes_failed: u64,
    // ---- extensions [ours] ----
    pub status: String,
    pub last_bucket: String,
    pub last_object: String,
    pub end_time: String,
    pub objects_scanned: u64,
    pub objects_filtered: u64,
    pub objects_skipped: u64,
    pub skipped_by_reason: BTreeMap<String, u64>,
    pub delete_markers_skipped: u64,
    pub objects_encrypted: u64,
    pub objects_converted: u64,
    pub objects_rotated: u64,
    pub bytes_actual: u64,
    pub failed_by_reason: BTreeMap<String, u64>,
    pub last_error: String,
    pub internal: InternalCounters,
    /// Plaintext versions in the job's scope that stay plaintext, per
    /// reason ([`PlaintextKind::left_reason`]). Absent in summaries
    /// written before it existed.
    #[serde(default)]
    pub plaintext_left: BTreeMap<String, u64>,
    pub kms_calls: KmsCalls,
    #[serde(rename = "T0")]
    pub t0: String,
    pub job_file_sha256: String,
    pub dry_run: bool,
    pub report: String,
    pub tool: Tool,
    /// The deployment (format.json id) the run belongs to.
    #[serde(rename = "deploymentID", default)]
    pub deployment_id: String,
    /// What in scope still depends on a KMS key other than the target, and
    /// why (see [`super::residue`]); empty when nothing is left.
    #[serde(default)]
    pub residue: Residue,
    /// `run --kms-rate`: the cap and the rate this run achieved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_rate: Option<crate::run::ratelimit::KmsRate>,
}

/// The program that produced a summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Default for Tool {
    fn default() -> Self {
        Tool {
            name: "keyrotate".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// Sizes of one version, for the byte counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionSizes {
    /// Bytes stored on disk (`Size` in xl.meta): MinIO's `bytesTransferred`.
    pub stored: u64,
    /// Bytes a client reads (the actual size).
    pub actual: u64,
}

/// A version that was plaintext when the run decided it (recorded with its
/// outcome, so a resume counts `plaintextLeft` the same).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PlaintextKind {
    /// An `xl.meta` (V2) object version.
    Object,
    /// A legacy (`xl.json`, V1) version: never rewritten by this tool.
    Legacy,
}

impl PlaintextKind {
    /// Why a plaintext version stays plaintext after its `outcome`, or
    /// `None` when it was encrypted or is no object a client reads.
    pub fn left_reason(self, outcome: &Outcome) -> Option<&'static str> {
        Some(match outcome {
            Outcome::Skipped(SkipReason::LockedPlaintext | SkipReason::Locked) => "locked",
            Outcome::Skipped(SkipReason::Transitioned) => "transitioned",
            Outcome::Skipped(SkipReason::Unsupported) if self == PlaintextKind::Legacy => "legacy",
            Outcome::Skipped(SkipReason::Unsupported) => "unsupported",
            Outcome::Skipped(SkipReason::Inconsistent) => "inconsistent",
            // Shards beyond repair: left for MinIO's healing, still plaintext.
            Outcome::Skipped(SkipReason::Corrupt) => "corrupt",
            // Copies that disagree or shards beyond repair now fail the
            // version (work left in scope); say which.
            Outcome::Failed(class) if class == FAILED_INCONSISTENT => "inconsistent",
            Outcome::Failed(class) if class == FAILED_CORRUPT => "corrupt",
            Outcome::Failed(_) => "failed",
            Outcome::Done(_)
            | Outcome::Filtered
            | Outcome::DeleteMarkerSkipped
            | Outcome::Skipped(_) => return None,
        })
    }
}

/// Job states of JOB.md §13.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum JobState {
    Running,
    Completed,
    Failed,
    Aborted,
    Canceled,
    /// A maintenance window closed (`run --max-duration/--stop-at/--limit`);
    /// the next `run` continues.
    Paused,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
            JobState::Aborted => "aborted",
            JobState::Canceled => "canceled",
            JobState::Paused => "paused",
        }
    }

    /// The process exit code of a run that ended in this state (JOB.md §13).
    pub fn exit_code(self) -> u8 {
        match self {
            JobState::Running | JobState::Completed => 0,
            JobState::Failed => 1,
            JobState::Aborted => 4,
            JobState::Canceled => 130,
            JobState::Paused => 5,
        }
    }
}

impl Summary {
    /// Counts one version's final outcome. `tries` is how many attempts it took.
    pub fn record(&mut self, outcome: &Outcome, sizes: VersionSizes, tries: u64) {
        self.objects_scanned += 1;
        self.attempts += tries;
        match outcome {
            Outcome::Done(kind) => {
                self.objects += 1;
                self.bytes_transferred += sizes.stored;
                self.bytes_actual += sizes.actual;
                match kind {
                    ActionKind::Encrypt => self.objects_encrypted += 1,
                    ActionKind::Convert => self.objects_converted += 1,
                    ActionKind::Rotate => self.objects_rotated += 1,
                }
            }
            Outcome::Filtered => self.objects_filtered += 1,
            Outcome::DeleteMarkerSkipped | Outcome::Skipped(SkipReason::DeleteMarker) => {
                self.delete_markers_skipped += 1
            }
            Outcome::Skipped(reason) => {
                self.objects_skipped += 1;
                *self
                    .skipped_by_reason
                    .entry(reason.as_str().to_owned())
                    .or_default() += 1;
            }
            Outcome::Failed(reason) => {
                self.objects_failed += 1;
                self.bytes_failed += sizes.stored;
                *self.failed_by_reason.entry(reason.clone()).or_default() += 1;
            }
        }
    }

    /// Counts a plaintext version's outcome in `plaintextLeft` (nothing
    /// when it was encrypted).
    pub fn record_plaintext(&mut self, kind: PlaintextKind, outcome: &Outcome) {
        if let Some(reason) = kind.left_reason(outcome) {
            *self.plaintext_left.entry(reason.to_owned()).or_default() += 1;
        }
    }

    /// Takes back [`record_plaintext`](Self::record_plaintext) (a version
    /// about to be retried).
    pub fn unrecord_plaintext(&mut self, kind: PlaintextKind, outcome: &Outcome) {
        let Some(reason) = kind.left_reason(outcome) else {
            return;
        };
        if let Some(n) = self.plaintext_left.get_mut(reason) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.plaintext_left.remove(reason);
            }
        }
    }

    /// Counts (`add`) or takes back a version's part in the residue: what
    /// it still depends on (`depends_on`, the target key left out) when its
    /// outcome left it as it was.
    pub fn record_residue(&mut self, outcome: &Outcome, depends_on: &[String], add: bool) {
        let Some(reason) = residue_reason(outcome) else {
            return;
        };
        for key in depends_on {
            if add {
                residue::add(&mut self.residue, key, reason, 1);
            } else {
                residue::remove(&mut self.residue, key, reason);
            }
        }
    }

    /// Plaintext the job was asked to encrypt is left for a reason other
    /// than a lock: the scope is not done (exit 1, not `completed`).
    pub fn plaintext_left_unfinished(&self) -> bool {
        self.plaintext_left.keys().any(|r| r != "locked")
    }

    /// The text summary's `plaintextLeft` line, `None` when nothing is left.
    pub fn plaintext_left_text(&self) -> Option<String> {
        let total: u64 = self.plaintext_left.values().sum();
        if total == 0 {
            return None;
        }
        let reasons: Vec<String> = self
            .plaintext_left
            .iter()
            .map(|(r, n)| format!("{n} {r}"))
            .collect();
        Some(format!(
            "plaintext left: {total} versions stay unencrypted ({})",
            reasons.join(", ")
        ))
    }

    /// Sets the final state and MinIO's `complete`/`failed` flags for it.
    pub fn finish(&mut self, state: JobState) {
        self.status = state.as_str().to_owned();
        self.complete = state == JobState::Completed;
        self.failed = matches!(
            state,
            JobState::Failed | JobState::Aborted | JobState::Canceled
        );
    }

    /// The state a run whose listing finished ends in.
    pub fn final_state(&self) -> JobState {
        if self.objects_failed > 0 || self.internal.failed > 0 || self.plaintext_left_unfinished() {
            JobState::Failed
        } else {
            JobState::Completed
        }
    }

    /// Checks the invariants of JOB.md §11.2; a violation is a bug in the engine.
    pub fn check_invariants(&self) -> Result<(), String> {
        let parts = self.objects_filtered
            + self.objects_skipped
            + self.objects
            + self.objects_failed
            + self.delete_markers_skipped;
        if self.objects_scanned != parts {
            return Err(format!(
                "objectsScanned {} != sum of outcomes {parts}",
                self.objects_scanned
            ));
        }
        let actions = self.objects_encrypted + self.objects_converted + self.objects_rotated;
        if self.objects != actions {
            return Err(format!(
                "objects {} != encrypted+converted+rotated {actions}",
                self.objects
            ));
        }
        Ok(())
    }
}

/// Why a version with this outcome is still as it was, for the residue;
/// `None` when it needs nothing (done, delete markers, gone, already current).
pub fn residue_reason(outcome: &Outcome) -> Option<&str> {
    match outcome {
        Outcome::Done(_) | Outcome::DeleteMarkerSkipped => None,
        Outcome::Filtered => Some("filtered"),
        Outcome::Skipped(
            SkipReason::DeleteMarker
            | SkipReason::Vanished
            | SkipReason::AlreadyCurrent
            | SkipReason::NotAnObject,
        ) => None,
        Outcome::Skipped(r) => Some(r.as_str()),
        Outcome::Failed(class) if class == FAILED_INCONSISTENT => Some("inconsistent"),
        Outcome::Failed(_) => Some("failed"),
    }
}

/// The failure class of a version whose copies disagree or cannot be read
/// or decided: work left in scope until healed (issue 16).
pub const FAILED_INCONSISTENT: &str = "inconsistent";
/// The failure class of plaintext whose data is beyond repair.
pub const FAILED_CORRUPT: &str = "corrupt";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_fourteen_keys_are_minios_in_order() {
        // Read the key order from the text: it is the wire order.
        let json = serde_json::to_string(&Summary::default()).unwrap();
        let keys: Vec<&str> = json
            .split("\":")
            .filter_map(|chunk| chunk.rsplit("\"").next())
            .take(14)
            .collect();
        assert_eq!(
            keys,
            [
                "jobID",
                "jobType",
                "startTime",
                "lastUpdate",
                "retryAttempts",
                "attempts",
                "complete",
                "failed",
                "objects",
                "deleteMarkers",
                "objectsFailed",
                "deleteMarkersFailed",
                "bytesTransferred",
                "bytesFailed"
            ]
        );
        assert!(json.starts_with("{\"jobID\":\"\",\"jobType\":\"\",\"startTime\":\"\""));
    }

    #[test]
    fn counters_add_up() {
        let mut s = Summary::default();
        let sizes = VersionSizes {
            stored: 100,
            actual: 90,
        };
        s.record(&Outcome::Done(ActionKind::Rotate), sizes, 1);
        s.record(&Outcome::Done(ActionKind::Convert), sizes, 2);
        s.record(&Outcome::Done(ActionKind::Encrypt), sizes, 1);
        s.record(&Outcome::Skipped(SkipReason::Ssec), sizes, 0);
        s.record(&Outcome::Filtered, sizes, 0);
        s.record(&Outcome::DeleteMarkerSkipped, VersionSizes::default(), 0);
        s.record(&Outcome::Failed("kms".into()), sizes, 3);
        s.check_invariants().unwrap();
        assert_eq!((s.objects, s.objects_failed, s.objects_scanned), (3, 1, 7));
        assert_eq!(
            (s.bytes_transferred, s.bytes_actual, s.bytes_failed),
            (300, 270, 100)
        );
        assert_eq!(s.attempts, 7);
        assert_eq!(s.skipped_by_reason["ssec"], 1);
        assert_eq!(s.final_state(), JobState::Failed);
        s.finish(JobState::Failed);
        assert!(!s.complete && s.failed);
    }

    #[test]
    fn plaintext_left_counts_what_stays_plaintext() {
        let mut s = Summary::default();
        let obj = PlaintextKind::Object;
        for outcome in [
            Outcome::Done(ActionKind::Encrypt),
            Outcome::Filtered,
            Outcome::Skipped(SkipReason::Vanished),
            Outcome::Skipped(SkipReason::LockedPlaintext),
            Outcome::Skipped(SkipReason::LockedPlaintext),
        ] {
            s.record_plaintext(obj, &outcome);
        }
        assert_eq!(s.plaintext_left, BTreeMap::from([("locked".into(), 2)]));
        assert_eq!(s.final_state(), JobState::Completed, "locks complete");
        assert_eq!(
            s.plaintext_left_text().as_deref(),
            Some("plaintext left: 2 versions stay unencrypted (2 locked)")
        );
        let unsupported = Outcome::Skipped(SkipReason::Unsupported);
        s.record_plaintext(PlaintextKind::Legacy, &unsupported);
        s.record_plaintext(obj, &unsupported);
        s.record_plaintext(obj, &Outcome::Skipped(SkipReason::Transitioned));
        s.record_plaintext(obj, &Outcome::Skipped(SkipReason::Inconsistent));
        s.record_plaintext(obj, &Outcome::Skipped(SkipReason::Corrupt));
        let failed = Outcome::Failed("kms".into());
        s.record_plaintext(obj, &failed);
        assert_eq!(s.final_state(), JobState::Failed);
        s.unrecord_plaintext(obj, &failed);
        assert!(!s.plaintext_left.contains_key("failed"));
        let keys: Vec<&str> = s.plaintext_left.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "corrupt",
                "inconsistent",
                "legacy",
                "locked",
                "transitioned",
                "unsupported"
            ]
        );
        assert_eq!(s.final_state(), JobState::Failed, "not only locks");
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["plaintextLeft"]["legacy"], 1);
        // A summary written before the field existed still loads.
        let mut old = serde_json::to_value(Summary::default()).unwrap();
        old.as_object_mut().unwrap().remove("plaintextLeft");
        assert!(serde_json::from_value::<Summary>(old).is_ok());
    }
}
