//! One object through the decision and reseal stages: gather its `xl.meta`
//! from every drive of the set, check that the drives agree (DESIGN
//! invariant 1), decide each version (JOB.md §9), re-seal the ones to rotate
//! or convert with the KMS, and build the per-drive bytes of a
//! [`CommitPlan`].
//!
//! Per-drive bytes are made by editing each drive's own `xl.meta` with the
//! same [`Changes`], so untouched versions stay byte-identical and each
//! drive keeps its own `EcIndex` and inline shard (invariants 2 and 5).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kms_client::{Context, KeyId, Kms, KmsError, PlaintextKey};
use xlmeta::meta::{VersionBody, META_FREE_VERSION, META_TRANSITION_STATUS};
use xlmeta::{VersionType, XlMeta};
use xxhash_rust::xxh64::xxh64;

use super::keyproof::kms_error_text;
use super::plan::{CommitPlan, DriveChange, StagedDataDir, VersionChange};
use super::record::{EditIntent, MetaEdit};
use super::residue;
use super::summary::{
    ActionKind, Outcome, PlaintextKind, SkipReason, VersionSizes, FAILED_CORRUPT,
    FAILED_INCONSISTENT,
};
use crate::drives::io::DriveIo;
use crate::drives::walk::encode_dir_object;
use crate::job::decide::{decide, Action, Capabilities, Decision};
use crate::job::facts::{classify_encryption, EncryptionKind, VersionFacts, VersionKind};
use crate::job::timestamp::Timestamp;
use crate::job::Job;
use crate::sse::metadata::META_ACTUAL_SIZE;
use crate::sse::rotate::{
    effective_user_context, kms_generate_request, reseal_kms, reseal_s3_to_kms,
};
use crate::sse::{Changes, Classification, CryptoEntries, OsRandom, SseError};

/// `MetaSys` key of a pending replication purge (ONDISK §5.7).
const META_PURGE_STATUS: &str = "x-minio-internal-purgestatus";
/// `MetaSys` key of the compression algorithm.
const META_COMPRESSION: &str = "X-Minio-Internal-compression";

/// A plaintext version to encrypt, handed to the [`EncryptPlanner`].
pub struct EncryptRequest<'a> {
    /// Set drive roots, in set order.
    pub drives: &'a [PathBuf],
    pub bucket: &'a str,
    pub object: &'a str,
    /// The object's directory relative to each drive root.
    pub object_dir: &'a Path,
    /// Index of the version in every drive's `xl.meta`.
    pub version_index: usize,
    /// Per drive, the current `xl.meta` (with this object's other edits applied).
    pub xlmeta: &'a [Vec<u8>],
    pub kms: &'a dyn Kms,
    pub key: &'a KeyId,
    pub context: Option<&'a Context>,
}

/// The encrypt planner's answer: the new per-drive `xl.meta`, the staged
/// data dir of each drive, and the data dirs that become unreferenced.
pub struct EncryptPlan {
    pub new_xlmeta: Vec<Vec<u8>>,
    pub staged: Vec<Option<StagedDataDir>>,
    pub remove_data_dirs: Vec<String>,
    /// The version's sizes once encrypted (the stored size grows by the DARE
    /// overhead); `None` keeps the sizes read.
    pub sizes: Option<VersionSizes>,
}

/// Plaintext encryption (another module): stages the new data dirs and
/// returns the plan. `Err((outcome, message))` records the version as that
/// skip or failure.
pub type EncryptPlanner =
    dyn Fn(&EncryptRequest<'_>) -> Result<EncryptPlan, (Outcome, String)> + Send + Sync;

/// Internal subsystem re-encryption (JOB.md §14; another module): given the
/// KMS, returns commit plans for MinIO's encrypted internal files. Run once
/// per job, when the target key is the KMS's default key.
pub type InternalPlanner = dyn Fn(&dyn Kms) -> InternalWork + Send + Sync;

/// What the internal planner found.
#[derive(Default)]
pub struct InternalWork {
    pub plans: Vec<CommitPlan>,
    /// Files left alone (not encrypted, or not under the default key).
    pub skipped: u64,
    /// Files that could not be planned, with why.
    pub failed: Vec<String>,
}

/// What stays the same for every object of a run.
pub struct ObjectCtx {
    pub job: Job,
    pub t0: Timestamp,
    pub caps: Capabilities,
    /// `None` for `plan` (no KMS calls at all).
    pub kms: Option<Arc<dyn Kms>>,
    pub target: KeyId,
    pub job_context: Option<Context>,
    pub encrypt: Option<Arc<EncryptPlanner>>,
    pub internal: Option<Arc<InternalPlanner>>,
    pub breaker: Breaker,
}

/// The KMS circuit breaker of JOB.md §10: 100 versions failing in a row, or
/// failures for 60 s without a success, stop the job (aborted).
#[derive(Default)]
pub struct Breaker {
    streak: AtomicU64,
    /// Milliseconds since `origin` of the first failure of the streak, +1 (0 = none).
    since_ms: AtomicU64,
    origin: std::sync::OnceLock<Instant>,
    /// The last failure's error: a tripped breaker names it.
    last_error: std::sync::Mutex<String>,
}

impl Breaker {
    /// Versions failing in a row that trip the breaker.
    const STREAK: u64 = 100;
    /// Milliseconds of failures without a success that trip it.
    const WINDOW_MS: u64 = 60_000;

    fn now_ms(&self) -> u64 {
        self.origin.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
    }

    fn success(&self) {
        self.streak.store(0, Ordering::Relaxed);
        self.since_ms.store(0, Ordering::Relaxed);
    }

    fn failure(&self, error: &str) {
        if let Ok(mut last) = self.last_error.lock() {
            error.clone_into(&mut last);
        }
        self.failure_at(self.now_ms());
    }

    /// Why the job stops once [`Breaker::tripped`]: the last KMS error.
    pub fn message(&self) -> String {
        let last = self
            .last_error
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default();
        format!(
            "KMS circuit breaker: {} versions in a row failed in the KMS, the last with: {last}; the job stops (resumable once the cause is fixed)",
            self.streak.load(Ordering::Relaxed)
        )
    }

    /// A failure at `now` (ms since the origin, + 1).
    fn failure_at(&self, now: u64) {
        self.streak.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .since_ms
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Whether the job must stop.
    pub fn tripped(&self) -> bool {
        self.tripped_at(self.now_ms())
    }

    fn tripped_at(&self, now: u64) -> bool {
        let since = self.since_ms.load(Ordering::Relaxed);
        self.streak.load(Ordering::Relaxed) >= Self::STREAK
            || (since > 0 && now.saturating_sub(since) >= Self::WINDOW_MS)
    }
}

/// One object's result: versions final without a write, and at most one plan.
pub struct ObjectResult {
    pub set: usize,
    pub key: String,
    pub finished: Vec<VersionChange>,
    pub plan: Option<CommitPlan>,
    /// For `plan`: per-version facts a dry run reports.
    pub dry: Vec<DryVersion>,
    /// Sum of the `xl.meta` sizes that a commit rewrites.
    pub rewrite_bytes: u64,
    /// The metadata edits behind `plan` (journaled instead of the bytes
    /// when the plan has no data part). Empty when they do not describe
    /// the whole plan: an encryption rewrites data they do not carry.
    pub edits: Vec<MetaEdit>,
    /// Plaintext versions left for another pass: one data rewrite per
    /// object per commit (each pass stages one new data dir per drive), so
    /// an object with several plaintext versions is encrypted pass by pass.
    pub more_plaintext: Vec<[u8; 16]>,
    /// For dry runs: every version sealed under a KMS key (SSE-KMS or
    /// SSE-S3), whatever the decision, with what unseals it (the key proof).
    pub sealed: Vec<SealedVersion>,
}

/// A version sealed under a KMS key, as a dry run found it.
#[derive(Clone, Debug)]
pub struct SealedVersion {
    /// Version id text (`""` for the null version).
    pub version_id: String,
    /// The KMS decrypt that recovers its data key.
    pub unwrap: crate::sse::rotate::DecryptRequest,
}

/// What a dry run learns about a version that would be changed.
#[derive(Clone, Debug)]
pub struct DryVersion {
    pub version: VersionChange,
    /// The source KMS key (`None` for plaintext / SSE-S3 without a key).
    pub source_key: Option<String>,
}

/// One drive's copy of a file as read: the bytes, or (whether it is
/// missing, why not).
pub type Raw = Result<Vec<u8>, (bool, String)>;

/// Reads `rel` on every drive (all in flight).
pub fn gather(ios: &[DriveIo], rel: &Path) -> Vec<Raw> {
    let tickets: Vec<_> = ios.iter().map(|io| io.read_file(rel)).collect();
    tickets
        .into_iter()
        .map(|t| t.wait().map_err(|e| (e.is_not_found(), e.to_string())))
        .collect()
}

/// [`gather`] for many files at once: one batch per drive, every drive's
/// batch in flight together. Per file, per drive in the order of `ios`.
pub fn gather_many(ios: &[DriveIo], rels: &[PathBuf]) -> Vec<Vec<Raw>> {
    let batches: Vec<_> = ios.iter().map(|io| io.read_files(rels)).collect();
    let mut out: Vec<Vec<Raw>> = rels.iter().map(|_| Vec::with_capacity(ios.len())).collect();
    for batch in batches {
        for (file, r) in out.iter_mut().zip(batch.wait()) {
            file.push(r.map_err(|e| (e.is_not_found(), e.to_string())));
        }
    }
    out
}

/// The object's on-disk directory relative to a drive root.
pub fn object_dir(bucket: &str, key: &str) -> PathBuf {
    PathBuf::from(bucket).join(encode_dir_object(key))
}

/// Version id text: `""` for the null version.
pub fn version_text(id: &[u8; 16]) -> String {
    if *id == [0; 16] {
        String::new()
    } else {
        xlmeta::uuid::format_uuid(id)
    }
}

/// Per-drive parsed `xl.meta` and which versions every drive agrees on.
pub struct Agreement<'a> {
    /// Per drive: the parsed file, or why it is unusable.
    pub metas: Vec<Result<XlMeta<'a>, String>>,
    /// Index of the first usable drive.
    pub reference: Option<usize>,
    /// Per version index of the reference: `None` if consistent, else why not.
    pub problems: Vec<Option<String>>,
}

/// Parses and CRC-checks every drive's copy and compares versions, ignoring
/// the per-drive fields (`EcIndex`, inline data, map order).
pub fn agreement<'a>(raws: &'a [Result<Vec<u8>, (bool, String)>]) -> Agreement<'a> {
    let metas: Vec<Result<XlMeta<'a>, String>> = raws
        .iter()
        .map(|r| match r {
            Ok(bytes) => XlMeta::parse(bytes)
                .and_then(|x| x.verify().map(|()| x))
                .map_err(|e| format!("xl.meta invalid: {e}")),
            Err((true, _)) => Err("xl.meta missing".to_owned()),
            Err((false, e)) => Err(e.clone()),
        })
        .collect();
    let reference = metas.iter().position(Result::is_ok);
    let mut problems = Vec::new();
    if let Some(Ok(r)) = reference.map(|i| &metas[i]) {
        for i in 0..r.versions().len() {
            let mut problem = None;
            let want = normalized(r, i);
            for (d, m) in metas.iter().enumerate() {
                let p = match m {
                    Err(e) => Some(format!("drive {}: {e}", d + 1)),
                    Ok(m) if normalized(m, i) != want || want.is_none() => {
                        Some(format!("drive {}: version {i} differs", d + 1))
                    }
                    Ok(_) => None,
                };
                if p.is_some() {
                    problem = p;
                    break;
                }
            }
            problems.push(problem);
        }
    }
    Agreement {
        metas,
        reference,
        problems,
    }
}

/// A version with its per-drive fields cleared, comparable across drives.
#[derive(PartialEq, Debug)]
enum Norm {
    Object(Box<xlmeta::ObjectV2<'static>>),
    Raw(Vec<u8>),
}

fn normalized(x: &XlMeta<'_>, i: usize) -> Option<(Vec<u8>, i64, u8, Norm)> {
    let v = x.version(i).ok()?;
    let h = v.header();
    let norm = match h.vtype {
        VersionType::Object => {
            let mut o = x.object(i).ok()?.into_owned();
            o.ec_index = 0;
            if let Some(s) = o.meta_sys.as_mut() {
                s.sort();
            }
            if let Some(u) = o.meta_usr.as_mut() {
                u.sort();
            }
            Norm::Object(Box::new(o))
        }
        _ => Norm::Raw(v.meta_bytes().to_vec()),
    };
    Some((h.version_id.to_vec(), h.mod_time, h.flags, norm))
}

fn sys_map(sys: Option<&xlmeta::MetaSys<'_>>) -> BTreeMap<String, Vec<u8>> {
    sys.map(|s| s.iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect())
        .unwrap_or_default()
}

/// The decision input of version `i` (consistent across drives).
pub fn facts(x: &XlMeta<'_>, i: usize, consistent: bool) -> Option<VersionFacts> {
    let v = x.version(i).ok()?;
    let h = v.header();
    let mut f = VersionFacts::object(Timestamp::from_unix_nanos(h.mod_time));
    f.consistent = consistent;
    match h.vtype {
        VersionType::Object => {
            let o = x.object(i).ok()?;
            f.meta_sys = sys_map(o.meta_sys.as_ref());
            f.meta_usr = o
                .meta_usr
                .as_ref()
                .map(|u| {
                    u.iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()
                })
                .unwrap_or_default();
            f.part_count = o.part_numbers.len();
            f.transitioned = f
                .meta_sys
                .get(META_TRANSITION_STATUS)
                .is_some_and(|s| s == b"complete");
            f.compressed = f.meta_sys.contains_key(META_COMPRESSION);
            f.purge_pending = f
                .meta_sys
                .get(META_PURGE_STATUS)
                .is_some_and(|s| !s.is_empty());
        }
        VersionType::Delete => {
            f.kind = VersionKind::DeleteMarker;
            if let Ok(meta) = v.meta() {
                if let VersionBody::Delete(d) = &meta.body {
                    f.meta_sys = sys_map(d.meta_sys.as_ref());
                }
            }
            f.free_version = f.meta_sys.contains_key(META_FREE_VERSION);
            f.purge_pending = f
                .meta_sys
                .get(META_PURGE_STATUS)
                .is_some_and(|s| !s.is_empty());
        }
        VersionType::Legacy => f.kind = VersionKind::Legacy,
    }
    Some(f)
}

/// Whether version `i` is plaintext (and so counts in `plaintextLeft` when
/// a run leaves it): V2 objects by their encryption entries, legacy (V1)
/// versions by the internal entries of their one `Meta` map.
fn plaintext_kind(x: &XlMeta<'_>, i: usize, f: &VersionFacts) -> Option<PlaintextKind> {
    const INTERNAL: &str = "x-minio-internal-";
    let plaintext =
        |sys: &BTreeMap<String, Vec<u8>>| classify_encryption(sys) == EncryptionKind::Plaintext;
    match f.kind {
        VersionKind::Object => plaintext(&f.meta_sys).then_some(PlaintextKind::Object),
        VersionKind::Legacy => {
            let meta = x.version(i).ok()?.meta().ok()?;
            let VersionBody::Legacy(l) = &meta.body else {
                return None;
            };
            let sys = l
                .meta
                .iter()
                .filter(|(k, _)| {
                    k.get(..INTERNAL.len())
                        .is_some_and(|p| p.eq_ignore_ascii_case(INTERNAL))
                })
                .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
                .collect();
            plaintext(&sys).then_some(PlaintextKind::Legacy)
        }
        VersionKind::DeleteMarker => None,
    }
}

/// The key version `i` of `x` depends on besides `target` (see [`residue`]).
fn dependency_of(x: &XlMeta<'_>, i: usize, target: &str) -> Option<String> {
    match x.object(i) {
        Ok(o) => residue::dependency(
            o.meta_sys
                .iter()
                .flatten()
                .map(|(k, v)| (k.as_bytes(), v.as_ref())),
            target,
        ),
        Err(_) => Some(residue::UNKNOWN.to_owned()),
    }
}

/// Sets what each version depends on (unless known: copies that disagree)
/// for the residue: a version to change keeps what it had if its plan fails;
/// one left as it is, what its copy holds. Versions with nothing to leave
/// (done, delete markers, gone) need nothing.
fn fill_depends_on(versions: &mut [VersionChange], reference: &XlMeta<'_>, target: &str) {
    for v in versions.iter_mut().filter(|v| v.depends_on.is_empty()) {
        let had = match &v.outcome {
            Outcome::Done(ActionKind::Encrypt) => Some(residue::PLAINTEXT.to_owned()),
            Outcome::Done(_) => v.old_key.clone().filter(|k| k != target),
            o if super::summary::residue_reason(o).is_none() => None,
            _ => match reference
                .versions()
                .iter()
                .position(|x| version_text(&x.header().version_id) == v.version_id)
            {
                Some(i) => dependency_of(reference, i, target),
                None => Some(residue::UNKNOWN.to_owned()),
            },
        };
        v.depends_on = had.into_iter().collect();
    }
}

/// Per version of the reference copy: the keys its copies depend on besides
/// `target` (see [`residue`]); with `!all`, only for versions whose copies
/// disagree (empty for the others). Such a version depends on what every
/// readable copy holds: a stale copy still needs its old key.
pub fn dependencies(ag: &Agreement<'_>, target: &str, all: bool) -> Vec<Vec<String>> {
    let Some(Ok(reference)) = ag.reference.map(|r| &ag.metas[r]) else {
        return Vec::new();
    };
    let of = |x: &XlMeta<'_>, i: usize| dependency_of(x, i, target);
    (0..reference.versions().len())
        .map(|i| {
            let disagree = ag.problems.get(i).is_some_and(Option::is_some);
            if !(all || disagree) {
                return Vec::new();
            }
            let mut keys: Vec<String> = of(reference, i).into_iter().collect();
            if disagree {
                let id = reference.versions()[i].header().version_id;
                for x in ag.metas.iter().flatten() {
                    let found = x
                        .versions()
                        .iter()
                        .position(|v| v.header().version_id == id);
                    keys.extend(found.and_then(|j| of(x, j)));
                }
                keys.sort();
                keys.dedup();
            }
            keys
        })
        .collect()
}

fn sizes_of(x: &XlMeta<'_>, i: usize) -> VersionSizes {
    match x.object(i) {
        Ok(o) => {
            let stored = u64::try_from(o.size).unwrap_or(0);
            let actual = o
                .meta_sys
                .as_ref()
                .and_then(|s| s.iter().find(|(k, _)| k == META_ACTUAL_SIZE))
                .and_then(|(_, v)| std::str::from_utf8(v).ok()?.parse().ok())
                .unwrap_or(stored);
            VersionSizes { stored, actual }
        }
        Err(_) => VersionSizes::default(),
    }
}

fn outcome_of_skip(r: SkipReason) -> Outcome {
    match r {
        SkipReason::DeleteMarker => Outcome::DeleteMarkerSkipped,
        r => Outcome::Skipped(r),
    }
}

/// The full plan of a journaled [`EditIntent`], for a resume: every drive
/// still holding the old file gets the edits re-applied (and the result must
/// hash to the journaled new hash: the edit is deterministic); a drive
/// already holding the new file keeps it; anything else makes the executor
/// report a conflict.
pub fn rebuild(intent: &EditIntent, ios: &[DriveIo]) -> CommitPlan {
    let raws = gather(ios, &intent.object_dir.join("xl.meta"));
    let per_drive = raws
        .iter()
        .enumerate()
        .map(|(d, raw)| {
            let old = intent.expect_old.get(d).copied().unwrap_or(0);
            let want = intent.new_hash.get(d).copied().unwrap_or(0);
            let new_xlmeta = match raw {
                Ok(bytes) if xxh64(bytes, 0) == want => bytes.clone(),
                Ok(bytes) if xxh64(bytes, 0) == old => reapply(bytes, &intent.edits)
                    .filter(|b| xxh64(b, 0) == want)
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            DriveChange {
                expect_old: old,
                new_xlmeta,
                staged_data_dir: None,
            }
        })
        .collect();
    CommitPlan {
        drives: intent.drives.clone(),
        object_dir: intent.object_dir.clone(),
        per_drive,
        remove_data_dirs: Vec::new(),
        versions: intent.versions.clone(),
    }
}

fn reapply(bytes: &[u8], edits: &[MetaEdit]) -> Option<Vec<u8>> {
    let mut x = XlMeta::parse(bytes).ok()?;
    for e in edits {
        apply_changes(&mut x, e.index, &e.changes()).ok()?;
    }
    x.encode().ok()
}

/// Applies `changes` to version `i` of one drive's file (public for the
/// `rotate_edit` fuzz target: the exact edit a rotation commits).
pub fn apply_changes(x: &mut XlMeta<'_>, i: usize, changes: &Changes) -> Result<(), xlmeta::Error> {
    x.edit_object(i, |o| {
        // Both maps are written even when nil before (as always).
        o.meta_sys.get_or_insert_with(Vec::new);
        o.meta_usr.get_or_insert_with(Vec::new);
        for k in &changes.sys_remove {
            o.remove_meta_sys(k);
        }
        // The setters replace every copy of a repeated key (MinIO reads the last).
        for (k, v) in &changes.sys_set {
            o.set_meta_sys(k, v);
        }
        for k in &changes.usr_remove {
            o.remove_meta_usr(k);
        }
        for (k, v) in &changes.usr_set {
            o.set_meta_usr(k, v);
        }
        Ok(())
    })
}

/// Runs `f` up to `attempts` times while it fails transiently, waiting a
/// jittered `[delay, 2·delay)` between tries (JOB.md §10). Returns the
/// result and the number of tries.
fn with_retries<T>(
    attempts: u32,
    delay: Duration,
    mut f: impl FnMut() -> Result<T, KmsError>,
) -> (Result<T, KmsError>, u64) {
    let attempts = attempts.max(1);
    let mut tries = 0;
    loop {
        tries += 1;
        match f() {
            Err(e) if e.is_transient() && tries < u64::from(attempts) => {
                let jitter: f64 = rand::random();
                std::thread::sleep(delay.mul_f64(1.0 + jitter));
            }
            r => return (r, tries),
        }
    }
}

/// The failure class of an SSE error, for `failedByReason`.
fn sse_reason(e: &SseError) -> &'static str {
    match e {
        SseError::Kms(_) => "kms",
        SseError::UnsealFailed => "unsealFailed",
        _ => "tampered",
    }
}

/// Decides and (unless a dry run) re-seals every version of one object.
pub fn process(
    ctx: &ObjectCtx,
    set: usize,
    drives: &[PathBuf],
    ios: &[DriveIo],
    key: &str,
) -> ObjectResult {
    process_versions(ctx, set, drives, ios, key, None)
}

/// [`process`] limited to the versions in `only` (a later pass over an
/// object's remaining plaintext versions); other versions are neither
/// decided nor reported again.
pub fn process_versions(
    ctx: &ObjectCtx,
    set: usize,
    drives: &[PathBuf],
    ios: &[DriveIo],
    key: &str,
    only: Option<&[[u8; 16]]>,
) -> ObjectResult {
    let dir = object_dir(&ctx.job.bucket, key);
    let raws = gather(ios, &dir.join("xl.meta"));
    process_read(ctx, set, drives, key, only, dir, &raws)
}

/// [`process_versions`] on the object's `xl.meta` already read from every
/// drive of the set (`raws`, in set order, as [`gather`] returns them);
/// `dir` is [`object_dir`] of the key.
pub fn process_read(
    ctx: &ObjectCtx,
    set: usize,
    drives: &[PathBuf],
    key: &str,
    only: Option<&[[u8; 16]]>,
    dir: PathBuf,
    raws: &[Raw],
) -> ObjectResult {
    let bucket = ctx.job.bucket.as_str();
    let mut result = ObjectResult {
        set,
        key: key.to_owned(),
        finished: Vec::new(),
        plan: None,
        dry: Vec::new(),
        rewrite_bytes: 0,
        edits: Vec::new(),
        more_plaintext: Vec::new(),
        sealed: Vec::new(),
    };
    let base = |version_id: String, outcome: Outcome| VersionChange {
        bucket: bucket.to_owned(),
        object: key.to_owned(),
        version_id,
        outcome,
        sizes: VersionSizes::default(),
        old_key: None,
        new_key: None,
        tries: 0,
        error: None,
        plaintext: None,
        depends_on: Vec::new(),
    };
    if raws.iter().all(|r| matches!(r, Err((true, _)))) {
        // Gone since the listing (only with a server writing, or a prefix
        // walk racing a delete): nothing to report.
        return result;
    }
    let ag = agreement(raws);
    let Some(reference) = ag.reference else {
        // No copy can be read: work left in scope until MinIO heals it.
        let mut v = base(String::new(), Outcome::Failed(FAILED_INCONSISTENT.into()));
        v.depends_on = vec![residue::UNKNOWN.to_owned()];
        v.error = Some(
            ag.metas
                .iter()
                .enumerate()
                .filter_map(|(d, m)| m.as_ref().err().map(|e| format!("drive {}: {e}", d + 1)))
                .collect::<Vec<_>>()
                .join("; "),
        );
        result.finished.push(v);
        return result;
    };
    // What versions left as they are depend on, for the residue: copies
    // that disagree now (before the drives' files are taken for edits), the
    // others after the decisions, and only for those left (not for `plan`).
    let residue_wanted = ctx.kms.is_some();
    let target = ctx.target.as_str();
    let depends_on = if residue_wanted {
        dependencies(&ag, target, false)
    } else {
        Vec::new()
    };
    let mut metas: Vec<XlMeta<'_>> = Vec::with_capacity(ag.metas.len());
    if ag.metas.iter().all(Result::is_ok) {
        metas = ag.metas.into_iter().flatten().collect();
    }
    // A second parse: `metas` get edited, the reference stays as read.
    let reference_meta = match raws
        .get(reference)
        .map(|r| r.as_ref().map(|b| XlMeta::parse(b)))
    {
        Some(Ok(Ok(x))) => x,
        _ => return result,
    };
    let count = reference_meta.versions().len();
    let mut planned: Vec<VersionChange> = Vec::new();
    let mut encrypt: Option<(usize, VersionChange)> = None;
    let mut rng = OsRandom;
    for i in 0..count {
        let id = reference_meta.versions()[i].header().version_id;
        if only.is_some_and(|only| !only.contains(&id)) {
            continue;
        }
        let vid = version_text(&id);
        let problem = ag.problems.get(i).cloned().flatten();
        let deps = depends_on.get(i).cloned().unwrap_or_default();
        let Some(f) = facts(&reference_meta, i, problem.is_none()) else {
            let mut v = base(vid, Outcome::Failed(FAILED_INCONSISTENT.into()));
            v.error = Some(format!("version {i} does not decode"));
            v.depends_on = deps;
            result.finished.push(v);
            continue;
        };
        if ctx.kms.is_none() {
            // Whatever the decision: a version sealed under the target key
            // proves its bytes even when the job leaves it alone.
            if let Classification::SseKms(p) | Classification::SseS3(p) =
                CryptoEntries::from_sys(f.meta_sys.iter()).classify()
            {
                if let Ok(unwrap) = p.unwrap_request(bucket, key) {
                    result.sealed.push(SealedVersion {
                        version_id: vid.clone(),
                        unwrap,
                    });
                }
            }
        }
        let mut v = base(vid, Outcome::Filtered);
        v.sizes = sizes_of(&reference_meta, i);
        v.depends_on = deps;
        let decision = decide(&ctx.job, &f, ctx.t0, ctx.caps);
        if decision != Decision::Filtered {
            v.plaintext = plaintext_kind(&reference_meta, i, &f);
        }
        let action = match decision {
            Decision::Filtered => {
                result.finished.push(v);
                continue;
            }
            Decision::Skip(SkipReason::Inconsistent) => {
                // Copies that disagree are work left in scope (issue 16):
                // a failure, retried once MinIO has healed them.
                v.outcome = Outcome::Failed(FAILED_INCONSISTENT.into());
                v.error = problem;
                v.tries = 1;
                result.finished.push(v);
                continue;
            }
            Decision::Skip(r) => {
                v.outcome = outcome_of_skip(r);
                result.finished.push(v);
                continue;
            }
            Decision::Failed(r) => {
                v.outcome = Outcome::Failed(format!("{r:?}").to_lowercase());
                v.error = Some("contradictory encryption metadata".into());
                v.tries = 1;
                result.finished.push(v);
                continue;
            }
            Decision::Action(a) => a,
        };
        // Sizes no MinIO writes: corrupt metadata, failed here before a
        // reader sizes buffers from it or a rotation passes it on.
        if let Some(e) = reference_meta.object(i).ok().and_then(|o| {
            crate::erasure::check_layout(o.ec_block_size, &o.part_numbers, &o.part_sizes).err()
        }) {
            v.outcome = Outcome::Failed("invalid".into());
            v.sizes = VersionSizes::default();
            let drive = drives.get(reference).map(|d| d.display().to_string());
            v.error = Some(format!(
                "{bucket}/{key}: xl.meta on drive {}: {e}",
                drive.unwrap_or_default()
            ));
            v.tries = 1;
            result.finished.push(v);
            continue;
        }
        if metas.iter().any(|m| m.has_unknown_keys(i).unwrap_or(true)) {
            v.outcome = Outcome::Skipped(SkipReason::Unsupported);
            v.error = Some("version carries metadata keys this tool does not know".into());
            result.finished.push(v);
            continue;
        }
        let kind = match action {
            Action::Rotate => ActionKind::Rotate,
            Action::Convert => ActionKind::Convert,
            Action::Encrypt => ActionKind::Encrypt,
        };
        // Unknown only in a plan without a KMS configuration: no name then,
        // rather than an empty one.
        v.new_key = Some(ctx.target.as_str().to_owned()).filter(|k| !k.is_empty());
        let parsed = match CryptoEntries::from_sys(f.meta_sys.iter()).classify() {
            Classification::SseKms(p) | Classification::SseS3(p) => Some(p),
            Classification::Plaintext => None,
            Classification::Tampered(e) if action != Action::Encrypt => {
                v.outcome = Outcome::Failed("tampered".into());
                v.error = Some(e.to_string());
                v.tries = 1;
                result.finished.push(v);
                continue;
            }
            _ => None,
        };
        v.old_key = parsed
            .as_ref()
            .and_then(|p| p.kms.as_ref())
            .map(|k| k.key_id.as_str().to_owned());
        v.tries = 1;
        let Some(kms) = ctx.kms.as_deref() else {
            // Dry run: what would happen.
            v.outcome = Outcome::Done(kind);
            result.dry.push(DryVersion {
                source_key: v.old_key.clone(),
                version: v,
            });
            continue;
        };
        match action {
            Action::Encrypt => {
                if ctx.encrypt.is_none() {
                    v.outcome = Outcome::Failed("encryptUnavailable".into());
                    v.error = Some("plaintext encryption is not available in this build".into());
                    result.finished.push(v);
                } else if encrypt.is_some() {
                    // One data rewrite per object and commit: the next pass.
                    result.more_plaintext.push(id);
                } else {
                    v.outcome = Outcome::Done(kind);
                    encrypt = Some((i, v));
                }
                continue;
            }
            Action::Rotate | Action::Convert => {}
        }
        let Some(parsed) = parsed else {
            continue;
        };
        let (a, o) = (ctx.job.retry.attempts, ctx.job.retry.delay);
        let mut reseal = || -> Result<(Changes, u64), (String, String, u64)> {
            let req = parsed
                .unwrap_request(bucket, key)
                .map_err(|e| (sse_reason(&e).to_owned(), e.to_string(), 1))?;
            let (old, t1) = with_retries(a, o, || {
                kms.decrypt(&req.key_id, &req.ciphertext, &req.context)
            });
            let old: PlaintextKey =
                old.map_err(|e| ("kms".to_owned(), kms_error_text(&e, kms), t1))?;
            let user = effective_user_context(Some(&parsed), ctx.job_context.as_ref());
            let gen = kms_generate_request(&ctx.target, user.as_ref(), bucket, key);
            let (new, t2) = with_retries(a, o, || kms.generate_key(&gen.key_id, &gen.context));
            let tries = t1.max(t2);
            let new = new.map_err(|e| ("kms".to_owned(), kms_error_text(&e, kms), tries))?;
            let stored_etag = f.usr("etag").map(str::to_owned);
            let changes = match action {
                Action::Convert => reseal_s3_to_kms(
                    &parsed,
                    bucket,
                    key,
                    stored_etag.as_deref(),
                    &old,
                    &new,
                    user.as_ref(),
                    &mut rng,
                ),
                _ => reseal_kms(&parsed, bucket, key, &old, &new, user.as_ref(), &mut rng),
            }
            .map_err(|e| (sse_reason(&e).to_owned(), e.to_string(), tries))?;
            Ok((changes, tries))
        };
        match reseal() {
            Ok((changes, tries)) => {
                ctx.breaker.success();
                v.tries = tries;
                let mut err = None;
                for m in metas.iter_mut() {
                    if let Err(e) = apply_changes(m, i, &changes) {
                        err = Some(e.to_string());
                        break;
                    }
                }
                if let Some(e) = err {
                    // Some drives may be edited: drop the whole object's edits.
                    v.outcome = Outcome::Failed("xlmeta".into());
                    v.error = Some(e);
                    result.finished.push(v);
                    result.finished.append(&mut planned);
                    for p in result.finished.iter_mut() {
                        if matches!(p.outcome, Outcome::Done(_)) {
                            p.outcome = Outcome::Failed("xlmeta".into());
                            p.error = Some("another version of the object failed to encode".into());
                        }
                    }
                    if residue_wanted {
                        fill_depends_on(&mut result.finished, &reference_meta, target);
                    }
                    return result;
                }
                v.outcome = Outcome::Done(kind);
                planned.push(v);
                result.edits.push(MetaEdit::new(i, &changes));
            }
            Err((reason, message, tries)) => {
                if reason == "kms" {
                    ctx.breaker.failure(&message);
                }
                v.tries = tries;
                v.outcome = Outcome::Failed(reason);
                v.error = Some(message);
                result.finished.push(v);
            }
        }
    }
    // Plaintext encryption last, on top of the object's metadata edits.
    let mut data_plan: Option<EncryptPlan> = None;
    if let (Some((i, mut v)), Some(planner), Some(kms)) =
        (encrypt, ctx.encrypt.as_deref(), ctx.kms.as_deref())
    {
        let current: Vec<Vec<u8>> = metas.iter().filter_map(|m| m.encode().ok()).collect();
        let req = EncryptRequest {
            drives,
            bucket,
            object: key,
            object_dir: &dir,
            version_index: i,
            xlmeta: &current,
            kms,
            key: &ctx.target,
            context: ctx.job_context.as_ref(),
        };
        match planner(&req) {
            Ok(p) if p.new_xlmeta.len() == metas.len() && p.staged.len() == metas.len() => {
                if let Some(sizes) = p.sizes {
                    v.sizes = sizes;
                }
                planned.push(v);
                data_plan = Some(p);
            }
            Ok(_) => {
                v.outcome = Outcome::Failed("encrypt".into());
                v.error = Some("encrypt plan does not cover every drive".into());
                result.finished.push(v);
            }
            Err((outcome, message)) => {
                // Skips (a layout that cannot be converted faithfully) leave
                // the version as it is; failures retry, and so does data
                // beyond repair once healed (work left in scope).
                v.outcome = match outcome {
                    Outcome::Skipped(SkipReason::Corrupt) => Outcome::Failed(FAILED_CORRUPT.into()),
                    Outcome::Skipped(SkipReason::Inconsistent) => {
                        Outcome::Failed(FAILED_INCONSISTENT.into())
                    }
                    o => o,
                };
                v.error = Some(message);
                result.finished.push(v);
            }
        }
    }
    if residue_wanted {
        fill_depends_on(&mut result.finished, &reference_meta, target);
        fill_depends_on(&mut planned, &reference_meta, target);
    }
    if !result.dry.is_empty() {
        // A dry run rewrites nothing, but says how much a run would.
        result.rewrite_bytes = raws
            .iter()
            .map(|r| r.as_ref().map_or(0, |b| b.len() as u64))
            .sum();
    }
    if planned.is_empty() {
        return result;
    }
    if data_plan.is_some() {
        // The new bytes include re-encrypted data (inline in `xl.meta`
        // when the version is small, with no data dir to stage or remove):
        // re-applying the edits on resume could not reproduce them, so the
        // intent must carry the bytes.
        result.edits.clear();
    }
    let mut per_drive = Vec::with_capacity(metas.len());
    for (d, m) in metas.iter().enumerate() {
        let Ok(old) = &raws[d] else { return result };
        let new = match &data_plan {
            Some(p) => p.new_xlmeta.get(d).cloned(),
            None => m.encode().ok(),
        };
        let Some(new) = new else {
            for mut p in planned.drain(..) {
                p.outcome = Outcome::Failed("xlmeta".into());
                p.error = Some("encoding the new xl.meta failed".into());
                result.finished.push(p);
            }
            return result;
        };
        result.rewrite_bytes += new.len() as u64;
        per_drive.push(DriveChange {
            expect_old: xxh64(old, 0),
            new_xlmeta: new,
            staged_data_dir: data_plan
                .as_ref()
                .and_then(|p| p.staged.get(d).cloned().flatten()),
        });
    }
    result.plan = Some(CommitPlan {
        drives: drives.to_vec(),
        object_dir: dir,
        per_drive,
        remove_data_dirs: data_plan.map(|p| p.remove_data_dirs).unwrap_or_default(),
        versions: planned,
    });
    result
}

#[cfg(test)]
mod breaker_tests {
    use super::Breaker;

    #[test]
    fn trips_at_the_hundredth_failure_in_a_row() {
        let b = Breaker::default();
        for _ in 0..99 {
            b.failure("e");
        }
        assert!(!b.tripped(), "99 failures in a row are tolerated");
        b.failure("KMS key \"demo-key\" not found");
        assert!(b.tripped());
        assert!(b.message().contains("KMS key \"demo-key\" not found"));
    }

    #[test]
    fn a_success_resets_the_streak() {
        let b = Breaker::default();
        for _ in 0..99 {
            b.failure("e");
        }
        b.success();
        for _ in 0..99 {
            b.failure("e");
        }
        assert!(!b.tripped(), "the streak restarted at the success");
    }

    #[test]
    fn a_minute_of_failures_without_a_success_trips() {
        let b = Breaker::default();
        b.failure_at(5_000);
        b.failure_at(30_000);
        assert!(!b.tripped_at(64_999), "59.999 s of failures");
        assert!(b.tripped_at(65_000), "60 s of failures, 2 in a row");
        // The window restarts at the first failure after a success.
        b.success();
        assert!(!b.tripped_at(1_000_000), "a success clears the window");
        b.failure_at(70_000);
        assert!(!b.tripped_at(129_999));
        assert!(b.tripped_at(130_000));
        // No failure at all never trips, however long the run.
        assert!(!Breaker::default().tripped_at(u64::MAX));
    }
}
