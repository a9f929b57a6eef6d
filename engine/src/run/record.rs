//! The records of a run's journal and how a resume replays them.
//!
//! Order of records for one object: its plan's [`Record::Intent`] (durable
//! before any drive is written), then the [`Record::Finished`] lines of its
//! versions that need no write, in one group commit (a replay applies a
//! group commit whole or not at all); after every drive holds
//! the change, [`Record::Done`]. An object with several plaintext versions is
//! encrypted one version per pass; each pass but the last ends its records
//! with [`Record::Again`] naming the versions left, so a resume between
//! passes encrypts exactly those. [`Record::Watermark`] says that everything
//! of a set up to an object name is recorded. A replay rebuilds the counters
//! and the report from `Finished`/`Done` alone, so nothing is counted twice.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::plan::{CommitPlan, VersionChange};
use super::summary::{JobState, Outcome, Summary};

/// The set number of internal items' intents (JOB.md §14): they belong to
/// no erasure set's listing.
pub const INTERNAL_SET: usize = usize::MAX;

/// One version's metadata edit, as journaled: enough to recompute every
/// drive's new `xl.meta` from its old one (the journal then carries a few
/// hundred bytes per object instead of every drive's whole file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaEdit {
    /// Version index in the object's `xl.meta`.
    pub index: usize,
    pub sys_set: Vec<(String, serde_bytes::ByteBuf)>,
    pub sys_remove: Vec<String>,
    pub usr_set: Vec<(String, String)>,
    pub usr_remove: Vec<String>,
}

impl MetaEdit {
    pub fn new(index: usize, c: &crate::sse::Changes) -> Self {
        MetaEdit {
            index,
            sys_set: c
                .sys_set
                .iter()
                .map(|(k, v)| (k.clone(), serde_bytes::ByteBuf::from(v.clone())))
                .collect(),
            sys_remove: c.sys_remove.clone(),
            usr_set: c
                .usr_set
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            usr_remove: c.usr_remove.clone(),
        }
    }

    pub fn changes(&self) -> crate::sse::Changes {
        crate::sse::Changes {
            sys_set: self
                .sys_set
                .iter()
                .map(|(k, v)| (k.clone(), v.to_vec()))
                .collect(),
            sys_remove: self.sys_remove.clone(),
            usr_set: self.usr_set.iter().cloned().collect(),
            usr_remove: self.usr_remove.clone(),
        }
    }
}

/// A metadata-only plan in compact form (see [`MetaEdit`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditIntent {
    pub drives: Vec<std::path::PathBuf>,
    pub object_dir: std::path::PathBuf,
    /// Per drive: xxh64 of the old and of the new `xl.meta`.
    pub expect_old: Vec<u64>,
    pub new_hash: Vec<u64>,
    pub edits: Vec<MetaEdit>,
    pub versions: Vec<VersionChange>,
}

/// A plan waiting for its done record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pending {
    Full(CommitPlan),
    Edit(EditIntent),
}

impl Pending {
    pub fn versions(self) -> Vec<VersionChange> {
        match self {
            Pending::Full(p) => p.versions,
            Pending::Edit(e) => e.versions,
        }
    }
}

/// One journal record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Record {
    /// The run's identity; the first record of a job, repeated by nothing.
    Begin {
        job_id: String,
        start_time: String,
        /// The job's fixed "now" (JOB.md §8.2), Unix nanoseconds.
        t0_nanos: i64,
        job_sha256: String,
        /// Every drive of the deployment the run works on, in set order: a
        /// resume must name the same drives (its journaled plans do).
        #[serde(default)]
        drives: Vec<std::path::PathBuf>,
    },
    /// A resume started (informational: the report counts runs by it).
    Resumed { at: String },
    /// A plan about to be written to the drives.
    Intent {
        id: u64,
        set: usize,
        key: String,
        plan: CommitPlan,
    },
    /// A metadata-only plan, compact (same meaning as `Intent`).
    IntentEdit {
        id: u64,
        set: usize,
        key: String,
        intent: EditIntent,
    },
    /// The plan with this id is on every drive (`error: None`), or could not
    /// be applied and every version in it failed with `error`.
    Done {
        id: u64,
        error: Option<(String, String)>,
    },
    /// The intent with this id was dropped unapplied (the object changed
    /// and was decided again, or vanished); it counts nothing.
    Abandoned { id: u64 },
    /// A version that needs no write (filtered, skipped, failed) is final.
    Finished {
        set: usize,
        key: String,
        version: VersionChange,
    },
    /// Every object of `set` up to and including `key` is recorded.
    Watermark { set: usize, key: String },
    /// The object's other plaintext versions (`versions`, by id) wait for
    /// another pass: until a later record of the object, it is not finished
    /// even when its plan is done (a resume encrypts exactly these).
    Again {
        set: usize,
        key: String,
        versions: Vec<[u8; 16]>,
    },
    /// `--retry-failed`: the failed versions of this object are retried, and
    /// their earlier outcomes no longer count.
    Retry { set: usize, key: String },
    /// Internal subsystem re-encryption (JOB.md §14) is planned for this
    /// job: what discovery found failed or left alone. Appended after the
    /// items' intents (set [`INTERNAL_SET`]) in the same group commit, so its
    /// presence proves every intent before it is durable; each item's `Done`
    /// then counts into `internal{}`.
    Internal {
        failed: u64,
        skipped: u64,
        errors: Vec<String>,
    },
    /// `--retry-failed` with internal items failed: their re-encryption
    /// runs again from discovery, and its earlier counts no longer count.
    RetryInternal,
    /// The run stopped before the end of the listing (canceled, aborted);
    /// a later run of the same job resumes.
    Stopped { state: JobState, at: String },
    /// The listing finished: the job is over.
    End { state: JobState, at: String },
}

/// One report line (JSONL): a version's final outcome.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportLine<'a> {
    pub bucket: &'a str,
    pub object: &'a str,
    pub version_id: &'a str,
    pub action: Option<&'static str>,
    pub reason: Option<String>,
    pub old_key: Option<&'a str>,
    pub new_key: Option<&'a str>,
    pub error: Option<&'a str>,
}

impl<'a> ReportLine<'a> {
    pub fn of(v: &'a VersionChange) -> Self {
        let (action, reason) = match &v.outcome {
            Outcome::Done(kind) => (
                Some(match kind {
                    super::summary::ActionKind::Encrypt => "encrypt",
                    super::summary::ActionKind::Convert => "convert",
                    super::summary::ActionKind::Rotate => "rotate",
                }),
                None,
            ),
            Outcome::Filtered => (None, Some("filtered".to_owned())),
            Outcome::Skipped(r) => (None, Some(r.as_str().to_owned())),
            Outcome::DeleteMarkerSkipped => (None, Some("deleteMarker".to_owned())),
            Outcome::Failed(r) => (None, Some(format!("failed:{r}"))),
        };
        ReportLine {
            bucket: &v.bucket,
            object: &v.object,
            version_id: &v.version_id,
            action,
            reason,
            old_key: v.old_key.as_deref(),
            new_key: v.new_key.as_deref(),
            error: v.error.as_deref(),
        }
    }
}

/// The state a journal describes, built by applying its records in order:
/// a resume replays the file, a live run applies each record as it appends
/// it, so both compute counters by the same code.
#[derive(Debug, Default)]
pub struct Ledger {
    pub begin: Option<(String, String, i64, String)>,
    /// The drives of the `Begin` record.
    pub begin_drives: Vec<std::path::PathBuf>,
    pub summary: Summary,
    /// Plans with an intent but no done record: resume finishes them.
    pub pending: BTreeMap<u64, (usize, String, Pending)>,
    /// Per set, the low watermark.
    pub watermark: HashMap<usize, String>,
    /// Objects recorded (tracked only while replaying; pruned to those after
    /// their set's watermark by [`Ledger::prune`]).
    pub finished: HashSet<(usize, String)>,
    track_finished: bool,
    /// Objects with plaintext versions left for another pass (see
    /// [`Record::Again`]).
    pub again: HashMap<(usize, String), Vec<[u8; 16]>>,
    /// Failed versions per object, so a Retry record can take them back.
    pub failed: HashMap<(usize, String), Vec<VersionChange>>,
    /// The last End/Stopped record.
    pub end: Option<JobState>,
    pub stopped: Option<JobState>,
    pub next_id: u64,
    /// The internal re-encryption of JOB.md §14 is recorded.
    pub internal_done: bool,
}

impl Ledger {
    /// A ledger for replaying a journal (tracks finished objects).
    pub fn for_replay() -> Self {
        Ledger {
            track_finished: true,
            ..Ledger::default()
        }
    }

    /// Applies one record; `line` receives every version outcome that
    /// becomes final (the report).
    pub fn apply(&mut self, record: &Record, line: &mut dyn FnMut(&VersionChange)) {
        match record {
            Record::Begin {
                job_id,
                start_time,
                t0_nanos,
                job_sha256,
                drives,
            } => {
                self.begin_drives.clone_from(drives);
                self.begin = Some((
                    job_id.clone(),
                    start_time.clone(),
                    *t0_nanos,
                    job_sha256.clone(),
                ))
            }
            Record::Resumed { .. } => self.stopped = None,
            Record::Intent { id, set, key, plan } => {
                self.again.remove(&(*set, key.clone()));
                self.next_id = self.next_id.max(id + 1);
                self.pending
                    .insert(*id, (*set, key.clone(), Pending::Full(plan.clone())));
            }
            Record::IntentEdit {
                id,
                set,
                key,
                intent,
            } => {
                self.again.remove(&(*set, key.clone()));
                self.next_id = self.next_id.max(id + 1);
                self.pending
                    .insert(*id, (*set, key.clone(), Pending::Edit(intent.clone())));
            }
            Record::Done { id, error } => {
                let Some((set, key, plan)) = self.pending.remove(id) else {
                    return;
                };
                if set == INTERNAL_SET {
                    // An internal item is not a version of the job's scope:
                    // it counts in `internal{}` only (JOB.md §14).
                    match error {
                        None => self.summary.internal.rotated += 1,
                        Some((_, message)) => {
                            self.summary.internal.failed += 1;
                            self.summary.last_error.clone_from(message);
                        }
                    }
                    for v in plan.versions() {
                        let v = outcome_of(v, error.as_ref());
                        if let Outcome::Done(kind) = v.outcome {
                            self.count_kms_calls(kind);
                        }
                        line(&v);
                    }
                } else {
                    for v in plan.versions() {
                        let v = outcome_of(v, error.as_ref());
                        self.count(set, &key, v, line);
                    }
                    if self.track_finished && !self.again.contains_key(&(set, key.clone())) {
                        self.finished.insert((set, key));
                    }
                }
            }
            Record::Abandoned { id } => {
                self.pending.remove(id);
            }
            Record::Finished { set, key, version } => {
                self.again.remove(&(*set, key.clone()));
                self.count(*set, key, version.clone(), line);
                if self.track_finished {
                    self.finished.insert((*set, key.clone()));
                }
            }
            Record::Watermark { set, key } => {
                self.watermark.insert(*set, key.clone());
            }
            Record::Again { set, key, versions } => {
                self.finished.remove(&(*set, key.clone()));
                self.again.insert((*set, key.clone()), versions.clone());
            }
            Record::Retry { set, key } => {
                if let Some(old) = self.failed.remove(&(*set, key.clone())) {
                    for v in &old {
                        uncount(&mut self.summary, v);
                        self.summary
                            .record_residue(&v.outcome, &v.depends_on, false);
                    }
                }
                self.finished.remove(&(*set, key.clone()));
            }
            Record::Internal {
                failed,
                skipped,
                errors,
            } => {
                self.internal_done = true;
                self.summary.internal.failed += failed;
                self.summary.internal.skipped += skipped;
                if let Some(e) = errors.last() {
                    self.summary.last_error.clone_from(e);
                }
            }
            Record::RetryInternal => {
                self.internal_done = false;
                self.summary.internal = Default::default();
            }
            Record::Stopped { state, .. } => self.stopped = Some(*state),
            Record::End { state, .. } => self.end = Some(*state),
        }
    }

    /// Stops tracking finished objects (a live run needs only the watermark).
    pub fn stop_tracking(&mut self) {
        self.track_finished = false;
        self.finished = HashSet::new();
    }

    /// Keeps only finished objects after their set's watermark.
    pub fn prune(&mut self) {
        let wm = &self.watermark;
        self.finished
            .retain(|(set, key)| wm.get(set).is_none_or(|w| key > w));
    }

    /// Successful KMS calls: metadata actions unwrap the old data key;
    /// every action generates a new one.
    fn count_kms_calls(&mut self, kind: super::summary::ActionKind) {
        if kind != super::summary::ActionKind::Encrypt {
            self.summary.kms_calls.decrypt += 1;
        }
        self.summary.kms_calls.generate += 1;
    }

    fn count(
        &mut self,
        set: usize,
        key: &str,
        v: VersionChange,
        line: &mut dyn FnMut(&VersionChange),
    ) {
        self.summary.record(&v.outcome, v.sizes, v.tries);
        if let Some(kind) = v.plaintext {
            self.summary.record_plaintext(kind, &v.outcome);
        }
        self.summary.record_residue(&v.outcome, &v.depends_on, true);
        if let Outcome::Done(kind) = v.outcome {
            // MinIO's resume marker: the last successfully changed object.
            self.summary.last_bucket.clone_from(&v.bucket);
            self.summary.last_object.clone_from(&v.object);
            self.count_kms_calls(kind);
        }
        line(&v);
        if matches!(v.outcome, Outcome::Failed(_)) {
            self.summary.last_error = v.error.clone().unwrap_or_default();
            self.failed
                .entry((set, key.to_owned()))
                .or_default()
                .push(v);
        }
    }
}

/// A planned version's final outcome: as planned, or failed with the
/// plan's error.
pub fn outcome_of(mut v: VersionChange, error: Option<&(String, String)>) -> VersionChange {
    if let Some((reason, message)) = error {
        v.outcome = Outcome::Failed(reason.clone());
        v.error = Some(message.clone());
    }
    v
}

/// Takes back a failed version's counts (before it is retried).
fn uncount(s: &mut Summary, v: &VersionChange) {
    if let Outcome::Failed(reason) = &v.outcome {
        if let Some(kind) = v.plaintext {
            s.unrecord_plaintext(kind, &v.outcome);
        }
        s.objects_scanned = s.objects_scanned.saturating_sub(1);
        s.attempts = s.attempts.saturating_sub(v.tries);
        s.objects_failed = s.objects_failed.saturating_sub(1);
        s.bytes_failed = s.bytes_failed.saturating_sub(v.sizes.stored);
        if let Some(n) = s.failed_by_reason.get_mut(reason) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                s.failed_by_reason.remove(reason);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::plan::{CommitPlan, VersionChange};
    use crate::run::summary::{ActionKind, Outcome, VersionSizes};

    fn version(id: &str) -> VersionChange {
        VersionChange {
            bucket: "b".into(),
            object: "k".into(),
            version_id: id.into(),
            outcome: Outcome::Done(ActionKind::Encrypt),
            sizes: VersionSizes::default(),
            old_key: None,
            new_key: Some("key".into()),
            tries: 1,
            error: None,
            plaintext: None,
            depends_on: Vec::new(),
        }
    }

    fn intent(id: u64, v: &str) -> Record {
        Record::Intent {
            id,
            set: 0,
            key: "k".into(),
            plan: CommitPlan {
                drives: Vec::new(),
                object_dir: "b/k".into(),
                per_drive: Vec::new(),
                remove_data_dirs: Vec::new(),
                versions: vec![version(v)],
            },
        }
    }

    /// An object encrypted pass by pass is finished only by its last pass;
    /// a replay cut between passes leaves exactly the remaining versions.
    #[test]
    fn an_object_with_passes_left_is_not_finished() {
        let k = (0usize, "k".to_owned());
        let mut ledger = Ledger::for_replay();
        let mut lines = 0;
        let mut apply = |l: &mut Ledger, r: Record| l.apply(&r, &mut |_| lines += 1);
        apply(&mut ledger, intent(0, "v1"));
        apply(
            &mut ledger,
            Record::Again {
                set: 0,
                key: "k".into(),
                versions: vec![[2; 16], [3; 16]],
            },
        );
        apply(&mut ledger, Record::Done { id: 0, error: None });
        assert!(!ledger.finished.contains(&k), "two passes are left");
        assert_eq!(ledger.again[&k], vec![[2; 16], [3; 16]]);
        assert_eq!(ledger.summary.objects_encrypted, 1);

        apply(&mut ledger, intent(1, "v2"));
        apply(
            &mut ledger,
            Record::Again {
                set: 0,
                key: "k".into(),
                versions: vec![[3; 16]],
            },
        );
        apply(&mut ledger, Record::Done { id: 1, error: None });
        assert!(!ledger.finished.contains(&k));
        assert_eq!(ledger.again[&k], vec![[3; 16]]);

        apply(&mut ledger, intent(2, "v3"));
        apply(&mut ledger, Record::Done { id: 2, error: None });
        assert!(ledger.finished.contains(&k), "the last pass finishes it");
        assert!(ledger.again.is_empty());
        assert_eq!(ledger.summary.objects_encrypted, 3);
        assert_eq!(lines, 3);
    }

    /// A failed version counts in the residue under the key it still
    /// depends on; a retry takes that back with its other counts, and its
    /// new outcome decides (done: nothing left).
    #[test]
    fn a_retry_takes_back_a_failed_version_s_residue() {
        let mut ledger = Ledger::for_replay();
        let finish = |l: &mut Ledger, version: VersionChange| {
            let key = "k".to_owned();
            l.apply(
                &Record::Finished {
                    set: 0,
                    key,
                    version,
                },
                &mut |_| (),
            )
        };
        let mut failed = version("v1");
        failed.outcome = Outcome::Failed("kms".into());
        failed.depends_on = vec!["old-key".into()];
        let mut locked = version("v2");
        locked.outcome = Outcome::Skipped(crate::run::summary::SkipReason::Locked);
        locked.depends_on = vec!["old-key".into()];
        finish(&mut ledger, failed.clone());
        finish(&mut ledger, locked);
        let residue = |l: &Ledger| serde_json::to_string(&l.summary.residue).unwrap();
        assert_eq!(residue(&ledger), r#"{"old-key":{"failed":1,"locked":1}}"#);
        let key = "k".to_owned();
        ledger.apply(&Record::Retry { set: 0, key }, &mut |_| ());
        assert_eq!(residue(&ledger), r#"{"old-key":{"locked":1}}"#);
        let mut done = failed;
        done.outcome = Outcome::Done(ActionKind::Rotate);
        finish(&mut ledger, done);
        assert_eq!(residue(&ledger), r#"{"old-key":{"locked":1}}"#);
        assert_eq!(ledger.summary.objects_scanned, 2);
        ledger.summary.check_invariants().unwrap();
    }

    /// Internal items count in `internal{}` and the KMS calls only, and an
    /// intent without the `Internal` record that closes its commit is still
    /// pending, unconfirmed (the resume abandons it and reruns discovery).
    #[test]
    fn internal_items_count_apart_from_versions() {
        let mut ledger = Ledger::for_replay();
        let apply = |l: &mut Ledger, r: Record| l.apply(&r, &mut |_| ());
        let internal = |id: u64, v: &str| match intent(id, v) {
            Record::Intent { id, key, plan, .. } => Record::Intent {
                id,
                set: INTERNAL_SET,
                key,
                plan,
            },
            _ => unreachable!(),
        };
        apply(&mut ledger, internal(0, "config"));
        apply(&mut ledger, internal(1, "iam"));
        assert!(!ledger.internal_done && ledger.pending.len() == 2);
        apply(
            &mut ledger,
            Record::Internal {
                failed: 1,
                skipped: 2,
                errors: vec!["root credentials".into()],
            },
        );
        assert!(ledger.internal_done);
        apply(&mut ledger, Record::Done { id: 0, error: None });
        let failed = Some(("internal".to_owned(), "disk full".to_owned()));
        apply(
            &mut ledger,
            Record::Done {
                id: 1,
                error: failed,
            },
        );
        let s = &ledger.summary;
        assert_eq!(
            (s.internal.rotated, s.internal.failed, s.internal.skipped),
            (1, 2, 2)
        );
        assert_eq!(
            (s.objects_scanned, s.objects_encrypted, s.objects_failed),
            (0, 0, 0)
        );
        assert_eq!((s.kms_calls.decrypt, s.kms_calls.generate), (0, 1));
        assert_eq!(s.last_error, "disk full");
        assert!(ledger.finished.is_empty() && ledger.pending.is_empty());
    }

    /// `plaintextLeft` is rebuilt from the journal like every counter, and a
    /// retried plaintext failure is taken back from it.
    #[test]
    fn plaintext_left_replays_and_retries() {
        let mut ledger = Ledger::for_replay();
        let apply = |l: &mut Ledger, r: Record| l.apply(&r, &mut |_| ());
        let mut v = version("v1");
        v.plaintext = Some(crate::run::summary::PlaintextKind::Object);
        let failed = Some(("io".to_owned(), "disk".to_owned()));
        let mut planned = intent(0, "v1");
        if let Record::Intent { plan, .. } = &mut planned {
            plan.versions = vec![v.clone()];
        }
        apply(&mut ledger, planned);
        apply(
            &mut ledger,
            Record::Done {
                id: 0,
                error: failed,
            },
        );
        v.outcome = Outcome::Skipped(crate::run::summary::SkipReason::Transitioned);
        apply(
            &mut ledger,
            Record::Finished {
                set: 0,
                key: "t".into(),
                version: v,
            },
        );
        let left = |l: &Ledger| l.summary.plaintext_left.clone();
        assert_eq!(
            left(&ledger),
            BTreeMap::from([("failed".into(), 1), ("transitioned".into(), 1)])
        );
        apply(
            &mut ledger,
            Record::Retry {
                set: 0,
                key: "k".into(),
            },
        );
        assert_eq!(left(&ledger), BTreeMap::from([("transitioned".into(), 1)]));
    }
}
