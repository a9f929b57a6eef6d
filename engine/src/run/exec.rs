//! The commit executor: applies journaled [`CommitPlan`]s to the drives
//! through the per-drive workers, following the protocol in [`super::plan`].
//!
//! The same procedure serves a fresh commit and a resume: every drive's
//! current `xl.meta` is read first and classified as *old* (hash equals
//! `expect_old`: needs the write), *new* (already holds `new_xlmeta`), or
//! *other* (changed under us, or missing). A plan with any *other* drive is
//! not forced: it is reported as a conflict and the caller decides (a fresh
//! commit re-reads and re-decides the object, JOB.md §9 step 12). Because a
//! re-read that is byte-identical to the bytes the plan was computed from
//! yields the same decision, the hash check *is* the commit-time re-check.
//!
//! Per batch: one read of every plan's `xl.meta` on every drive (all in
//! flight), staged data dirs moved in, then on each drive one
//! `atomic_write_batch` of all its new `xl.meta` files (drives in parallel),
//! and only when every drive holds the new file, old data dirs removed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use xxhash_rust::xxh64::xxh64;

use super::plan::{CommitPlan, StagedDataDir};
use crate::crashpoint::crash_point;
use crate::drives::io::{DriveIo, DriveIoError};
use crate::job::model::Retry;

/// What became of one plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanResult {
    /// Every drive holds the new `xl.meta`; old data dirs are gone.
    Committed,
    /// Some drive holds neither the expected old nor the new `xl.meta`
    /// (or none at all); nothing was written for this plan.
    Conflict(String),
    /// All drives hold nothing of the object any more.
    Vanished,
    /// An I/O error before any drive took the new `xl.meta`: the drives
    /// still agree on the old one.
    Failed(String),
    /// An I/O error after some drive took the new `xl.meta`: the drives
    /// disagree until the plan is executed again, which finishes it
    /// (classification skips the drives already done). The intent must stay
    /// pending for a resume.
    Unfinished(String),
}

/// Applies plans through one worker per drive.
pub struct Executor {
    workers: HashMap<PathBuf, DriveIo>,
}

/// One drive's share of a batch: its worker, files to swap, and which
/// plans (and drive of each) they belong to.
type DriveBatch = (DriveIo, Vec<(PathBuf, Vec<u8>)>, Vec<(usize, usize)>);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum DriveState {
    Old,
    New,
    Missing,
    Other,
}

/// Test hook: `KEYROTATE_TEST_COMMIT_DELAY_MS` sleeps between a batch's
/// journal commit and its drive writes, so a crash test can land kills
/// inside the window where the journal and the drives disagree.
fn test_delay() {
    if let Some(ms) = std::env::var("KEYROTATE_TEST_COMMIT_DELAY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

impl Executor {
    /// Uses (and shares) these workers; a plan's drive without a worker gets one.
    pub fn new(workers: HashMap<PathBuf, DriveIo>) -> Self {
        Executor { workers }
    }

    /// The worker of a drive root, started on first use.
    pub fn worker(&mut self, root: &Path) -> Result<DriveIo, String> {
        if let Some(w) = self.workers.get(root) {
            return Ok(w.clone());
        }
        let w = DriveIo::spawn(root).map_err(|e| format!("{}: {e}", root.display()))?;
        self.workers.insert(root.to_owned(), w.clone());
        Ok(w)
    }

    /// Removes every drive writer's staging files (kept between batches so
    /// their inodes are reused). Also done when the executor is dropped.
    pub fn release_staging(&self) {
        for w in self.workers.values() {
            w.release_staging();
        }
    }

    /// [`execute`](Self::execute), then the plans that failed with an I/O
    /// error are executed again, up to `retry.attempts` tries in all, a
    /// jittered `[delay, 2·delay)` apart (JOB.md §10: drive I/O errors are
    /// transient). Executing a plan again is safe at any point: it finishes
    /// what the last try left. A plan that still fails is
    /// [`PlanResult::Failed`] only when every drive reads back its old
    /// `xl.meta` (the drives agree, nothing of the plan is on them);
    /// otherwise — some drive took the new one, or cannot be read — it is
    /// [`PlanResult::Unfinished`].
    pub fn execute_retrying(&mut self, plans: &[&CommitPlan], retry: Retry) -> Vec<PlanResult> {
        let mut proven = not_proven(plans);
        let mut results = self.execute_proving(plans, &mut proven);
        let failed = |results: &[PlanResult]| -> Vec<usize> {
            (0..results.len())
                .filter(|&i| matches!(results[i], PlanResult::Failed(_)))
                .collect()
        };
        for _ in 1..retry.attempts.max(1) {
            let again = failed(&results);
            if again.is_empty() {
                return results;
            }
            let jitter: f64 = rand::random();
            std::thread::sleep(retry.delay.mul_f64(1.0 + jitter));
            let subset: Vec<&CommitPlan> = again.iter().map(|&i| plans[i]).collect();
            let mut subset_proven: Vec<Vec<bool>> = again
                .iter()
                .map(|&i| std::mem::take(&mut proven[i]))
                .collect();
            let retried = self.execute_proving(&subset, &mut subset_proven);
            for ((i, r), p) in again.into_iter().zip(retried).zip(subset_proven) {
                results[i] = r;
                proven[i] = p;
            }
        }
        let left = failed(&results);
        if left.is_empty() {
            return results;
        }
        let subset: Vec<&CommitPlan> = left.iter().map(|&i| plans[i]).collect();
        let mut unused = vec![None; subset.len()];
        let ios = self.workers_of(&subset, &mut unused);
        let states = self.classify(&subset, &ios, &mut unused);
        for (k, i) in left.into_iter().enumerate() {
            let plan = subset[k];
            // A malformed plan is never written by any run.
            let malformed = plan.per_drive.len() != plan.drives.len();
            let all_old = states.get(k).is_some_and(|s| {
                s.len() == plan.drives.len() && s.iter().all(|x| *x == DriveState::Old)
            });
            if let (false, PlanResult::Failed(e)) = (malformed || all_old, &results[i]) {
                results[i] = PlanResult::Unfinished(e.clone());
            }
        }
        results
    }

    /// Why the drives of `plan` disagree on the object, naming a drive
    /// (its copy cannot be read or parsed, or differs in a version from
    /// the first readable one, per-drive fields aside); `None` when they
    /// agree, or when no drive holds the object any more.
    pub fn disagreement(&mut self, plan: &CommitPlan) -> Option<String> {
        let mut raws = Vec::with_capacity(plan.drives.len());
        for root in &plan.drives {
            let io = match self.worker(root) {
                Ok(io) => io,
                Err(e) => return Some(e),
            };
            let got = io.read_file(plan.object_dir.join("xl.meta")).wait();
            raws.push(got.map_err(|e| (e.is_not_found(), e.to_string())));
        }
        if raws.iter().all(|r| matches!(r, Err((true, _)))) {
            return None;
        }
        let a = super::object::agreement(&raws);
        let drive = |d: usize| plan.drives.get(d).map(|r| r.display().to_string());
        if let Some((d, Err(e))) = a.metas.iter().enumerate().find(|(_, m)| m.is_err()) {
            return Some(format!("{}: {e}", drive(d).unwrap_or_default()));
        }
        // A problem reads "drive N: …", N counting the plan's drives from 1.
        let problem = a.problems.into_iter().flatten().next()?;
        let named = problem
            .strip_prefix("drive ")
            .and_then(|p| p.split_once(':'))
            .and_then(|(n, rest)| Some((drive(n.parse::<usize>().ok()?.checked_sub(1)?)?, rest)));
        Some(match named {
            Some((root, rest)) => format!("xl.meta on {root}:{rest}"),
            None => problem,
        })
    }

    /// The workers of every plan's drives, by plan; a plan whose workers
    /// cannot be had (or that is malformed) gets its failure in `results`.
    fn workers_of(
        &mut self,
        plans: &[&CommitPlan],
        results: &mut [Option<PlanResult>],
    ) -> Vec<Vec<DriveIo>> {
        let mut ios: Vec<Vec<DriveIo>> = Vec::with_capacity(plans.len());
        for (i, plan) in plans.iter().enumerate() {
            let mut v = Vec::with_capacity(plan.drives.len());
            for root in &plan.drives {
                match self.worker(root) {
                    Ok(w) => v.push(w),
                    Err(e) => {
                        results[i] = Some(PlanResult::Failed(e));
                        break;
                    }
                }
            }
            if plan.per_drive.len() != plan.drives.len() {
                results[i] = Some(PlanResult::Failed(format!(
                    "{}: plan has {} drive changes for {} drives",
                    plan.object_dir.display(),
                    plan.per_drive.len(),
                    plan.drives.len()
                )));
            }
            ios.push(v);
        }
        ios
    }

    /// Applies a batch of plans; result `i` answers plan `i`.
    pub fn execute(&mut self, plans: &[&CommitPlan]) -> Vec<PlanResult> {
        self.execute_proving(plans, &mut not_proven(plans))
    }

    /// [`execute`](Self::execute), where `proven[i][d]` says that drive `d`
    /// of plan `i` was given the plan's new `xl.meta` by a write that
    /// reported it durable (an earlier try of this batch; set here for the
    /// writes that succeed). A drive already holding the new `xl.meta`
    /// without that proof — a crashed run left it, or a sync failed after
    /// its swap — is written again: what a read returns may be the page
    /// cache only, so the old data dirs are removed only once every drive's
    /// new `xl.meta` is proven durable.
    fn execute_proving(
        &mut self,
        plans: &[&CommitPlan],
        proven: &mut [Vec<bool>],
    ) -> Vec<PlanResult> {
        let mut results: Vec<Option<PlanResult>> = vec![None; plans.len()];
        let ios = self.workers_of(plans, &mut results);
        // 1. classify every drive (all reads in flight)
        let states = self.classify(plans, &ios, &mut results);
        test_delay();
        crash_point("exec.classified");
        // 2. staged data dirs into place (drives in parallel)
        on_every_drive(
            "moving data dirs in",
            plans,
            &ios,
            &mut results,
            |i, d, io| {
                let state = states.get(i).and_then(|s| s.get(d));
                match (&plans[i].per_drive[d].staged_data_dir, state) {
                    (Some(staged), Some(DriveState::Old)) => move_staged(plans[i], staged, io),
                    _ => Ok(()),
                }
            },
        );
        crash_point("exec.staged_moved");
        // 3. xl.meta swaps: per drive one batch, drives in parallel
        let mut per_drive: HashMap<PathBuf, DriveBatch> = HashMap::new();
        for (i, plan) in plans.iter().enumerate() {
            if results[i].is_some() {
                continue;
            }
            for (d, change) in plan.per_drive.iter().enumerate() {
                let unproven_new = states[i][d] == DriveState::New
                    && !proven.get(i).and_then(|p| p.get(d)).is_some_and(|p| *p);
                if states[i][d] == DriveState::Old || unproven_new {
                    let entry = per_drive
                        .entry(plan.drives[d].clone())
                        .or_insert_with(|| (ios[i][d].clone(), Vec::new(), Vec::new()));
                    entry
                        .1
                        .push((plan.object_dir.join("xl.meta"), change.new_xlmeta.clone()));
                    entry.2.push((i, d));
                }
            }
        }
        // Per drive: its (plan, drive) pairs and the batch's outcome, a
        // panic of its thread as a plan result of its own.
        type Outcome = (Vec<(usize, usize)>, Result<(), PlanResult>);
        let outcomes: Vec<Outcome> = std::thread::scope(|s| {
            let handles: Vec<_> = per_drive
                .into_iter()
                .map(|(root, (io, items, idx))| {
                    let handle = s.spawn(move || {
                        #[cfg(test)]
                        fault::panic_at(io.root(), "write");
                        io.atomic_write_batch(items)
                    });
                    (root, idx, handle)
                })
                .collect();
            handles
                .into_iter()
                .map(|(root, idx, h)| {
                    let res = match h.join() {
                        Ok(res) => res.map_err(|e| PlanResult::Failed(e.to_string())),
                        // Which swaps happened is unknown: never committed.
                        Err(_) => Err(PlanResult::Unfinished(panicked(&root, "writing xl.meta"))),
                    };
                    (idx, res)
                })
                .collect()
        });
        for (idx, res) in outcomes {
            for (i, d) in idx {
                match &res {
                    Ok(()) => {
                        if let Some(p) = proven.get_mut(i).and_then(|p| p.get_mut(d)) {
                            *p = true;
                        }
                    }
                    Err(r) => fail(&mut results[i], r.clone()),
                }
            }
        }
        crash_point("exec.xlmeta_written");
        // 4. old data dirs, only once every drive holds the new xl.meta
        // (drives in parallel)
        on_every_drive(
            "removing old data dirs",
            plans,
            &ios,
            &mut results,
            |i, _, io| remove_old_dirs(plans[i], io),
        );
        crash_point("exec.old_removed");
        for r in results.iter_mut() {
            r.get_or_insert(PlanResult::Committed);
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or(PlanResult::Failed("not executed".into())))
            .collect()
    }

    fn classify(
        &self,
        plans: &[&CommitPlan],
        ios: &[Vec<DriveIo>],
        results: &mut [Option<PlanResult>],
    ) -> Vec<Vec<DriveState>> {
        let tickets: Vec<Vec<_>> = plans
            .iter()
            .zip(ios)
            .enumerate()
            .map(|(i, (plan, ios))| {
                if results[i].is_some() {
                    return Vec::new();
                }
                ios.iter()
                    .map(|io| io.read_file(plan.object_dir.join("xl.meta")))
                    .collect()
            })
            .collect();
        let mut states = Vec::with_capacity(plans.len());
        for (i, (plan, tickets)) in plans.iter().zip(tickets).enumerate() {
            let mut s = Vec::with_capacity(tickets.len());
            let mut err = None;
            let mut gone = None;
            for (d, t) in tickets.into_iter().enumerate() {
                let change = &plan.per_drive[d];
                let got = t.wait();
                #[cfg(test)]
                let got = fault::read(&plan.drives[d], got);
                s.push(match got {
                    Ok(bytes) => {
                        let h = xxh64(&bytes, 0);
                        if h == change.expect_old {
                            DriveState::Old
                        } else if bytes == change.new_xlmeta {
                            DriveState::New
                        } else {
                            DriveState::Other
                        }
                    }
                    Err(e) if e.is_not_found() => match drive_gone(&plan.drives[d]) {
                        Some(why) => {
                            gone.get_or_insert(why);
                            DriveState::Other
                        }
                        None => DriveState::Missing,
                    },
                    Err(e) => {
                        err.get_or_insert(e.to_string());
                        DriveState::Other
                    }
                });
            }
            if results[i].is_none() {
                // Never write an empty xl.meta (a compact intent whose edit
                // could not be reproduced on that drive).
                let unbuildable = s
                    .iter()
                    .zip(&plan.per_drive)
                    .position(|(st, c)| *st == DriveState::Old && c.new_xlmeta.is_empty());
                if let Some(d) = unbuildable {
                    results[i] = Some(PlanResult::Conflict(format!(
                        "{}: the new xl.meta for {} cannot be rebuilt",
                        plan.object_dir.display(),
                        plan.drives[d].display()
                    )));
                } else if let Some(e) = gone {
                    // Not this object's doing: the job stops (the intent
                    // stays pending) until the drive is back.
                    results[i] = Some(PlanResult::Unfinished(e));
                } else if let Some(e) = err {
                    results[i] = Some(PlanResult::Failed(e));
                } else if s.iter().all(|x| *x == DriveState::Missing) {
                    results[i] = Some(PlanResult::Vanished);
                } else if let Some(d) = s
                    .iter()
                    .position(|x| matches!(x, DriveState::Other | DriveState::Missing))
                {
                    results[i] = Some(PlanResult::Conflict(format!(
                        "{}: xl.meta on {} changed since it was read",
                        plan.object_dir.display(),
                        plan.drives[d].display()
                    )));
                }
            }
            states.push(s);
        }
        states
    }
}

/// Why a drive's directory no longer resolves (renamed away, or its mount
/// gone with the path): every file on it then reads as missing, which must
/// not pass for an object changed or deleted under the run.
fn drive_gone(root: &Path) -> Option<String> {
    std::fs::symlink_metadata(root)
        .err()
        .map(|e| format!("drive {}: its directory is gone: {e}", root.display()))
}

impl Drop for Executor {
    fn drop(&mut self) {
        self.release_staging();
    }
}

/// Moves each drive's staged data dir into the object directory (a drive
/// already holding the new `xl.meta` has it in place).
fn move_staged(
    plan: &CommitPlan,
    staged: &StagedDataDir,
    io: &DriveIo,
) -> Result<(), DriveIoError> {
    let dest = plan.object_dir.join(&staged.name);
    // keyrotate usually runs as root while MinIO runs as its own user:
    // the new data dir and its part files take the object directory's
    // owner before they become visible.
    match io.stat(&plan.object_dir).wait() {
        Ok(owner) => give_tree_to(io, &staged.staged_at, owner.uid, owner.gid)?,
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e),
    }
    match io.rename(&staged.staged_at, &dest).wait() {
        Ok(()) => {}
        // Moved by an earlier, interrupted attempt, whose fsync may have
        // failed: synced again below.
        Err(e) if e.is_not_found() && io.stat(&dest).wait().is_ok() => {}
        Err(e) => return Err(e),
    }
    io.fsync(&plan.object_dir).wait()?;
    // The now empty per-object staging dir (`.minio.sys/tmp/keyrotate-<uuid>`);
    // best effort: MinIO empties its tmp at start anyway.
    if let Some(parent) = staged
        .staged_at
        .parent()
        .filter(|p| p.starts_with(crate::drives::io::STAGING_DIR))
        .filter(|p| *p != std::path::Path::new(crate::drives::io::STAGING_DIR))
    {
        let _ = io.unlink(parent, true).wait();
    }
    Ok(())
}

/// Runs `step(plan index, drive index, worker)` for every drive of every
/// plan not yet decided, one thread per
/// drive (a drive's steps in plan order: the fsyncs of different drives
/// overlap instead of queueing behind each other). The first error of a
/// plan fails it.
fn on_every_drive(
    what: &str,
    plans: &[&CommitPlan],
    ios: &[Vec<DriveIo>],
    results: &mut [Option<PlanResult>],
    step: impl Fn(usize, usize, &DriveIo) -> Result<(), DriveIoError> + Sync,
) {
    let mut per_drive: HashMap<&Path, Vec<(usize, usize)>> = HashMap::new();
    for (i, plan) in plans.iter().enumerate() {
        if results[i].is_some() {
            continue;
        }
        for (d, root) in plan.drives.iter().enumerate() {
            per_drive.entry(root.as_path()).or_default().push((i, d));
        }
    }
    let step = &step;
    let failures: Vec<(usize, PlanResult)> = std::thread::scope(|s| {
        let handles: Vec<_> = per_drive
            .into_iter()
            .map(|(root, work)| {
                let plans_of_drive: Vec<usize> = work.iter().map(|(i, _)| *i).collect();
                let handle = s.spawn(move || {
                    let mut failed = Vec::new();
                    for (i, d) in work {
                        #[cfg(test)]
                        fault::panic_at(&plans[i].drives[d], "step");
                        let Some(io) = ios.get(i).and_then(|v| v.get(d)) else {
                            let e = "no worker for a drive of the plan".to_owned();
                            failed.push((i, PlanResult::Failed(e)));
                            continue;
                        };
                        if let Err(e) = step(i, d, io) {
                            failed.push((i, PlanResult::Failed(e.to_string())));
                        }
                    }
                    failed
                });
                (root, plans_of_drive, handle)
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|(root, plans_of_drive, h)| {
                // A panic may have stopped the drive's steps anywhere:
                // every plan of the drive is left unfinished.
                h.join().unwrap_or_else(|_| {
                    let e = panicked(root, what);
                    plans_of_drive
                        .into_iter()
                        .map(|i| (i, PlanResult::Unfinished(e.clone())))
                        .collect()
                })
            })
            .collect()
    });
    for (i, r) in failures {
        fail(&mut results[i], r);
    }
}

/// Records a plan's failure: the first one counts, but an unfinished plan
/// stays unfinished.
fn fail(result: &mut Option<PlanResult>, r: PlanResult) {
    match (result.as_ref(), &r) {
        (None, _) | (Some(_), PlanResult::Unfinished(_)) => *result = Some(r),
        _ => {}
    }
}

/// The failure of a drive's thread that panicked while doing `what`.
fn panicked(root: &Path, what: &str) -> String {
    format!("{}: thread panicked while {what} (a bug)", root.display())
}

/// No drive of any plan proven to hold its new `xl.meta` durably yet.
fn not_proven(plans: &[&CommitPlan]) -> Vec<Vec<bool>> {
    plans.iter().map(|p| vec![false; p.drives.len()]).collect()
}

/// Changes the owner of `rel` and everything below it (on the drive's
/// worker thread) where it differs. A staged tree that is already gone was
/// moved in by an earlier attempt, which changed its owner first.
fn give_tree_to(
    io: &DriveIo,
    rel: &std::path::Path,
    uid: u32,
    gid: u32,
) -> Result<(), DriveIoError> {
    use std::os::unix::fs::MetadataExt;
    let target = rel.to_owned();
    let result = io.run_blocking(move |root| -> std::io::Result<()> {
        let mut stack = vec![root.join(&target)];
        while let Some(path) = stack.pop() {
            let meta = match std::fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if meta.uid() != uid || meta.gid() != gid {
                std::os::unix::fs::lchown(&path, Some(uid), Some(gid))?;
            }
            if meta.is_dir() {
                for entry in std::fs::read_dir(&path)? {
                    stack.push(entry?.path());
                }
            }
        }
        Ok(())
    })?;
    result.map_err(|source| DriveIoError {
        drive: io.root().to_owned(),
        op: "chown",
        path: rel.to_owned(),
        source,
    })
}

/// Removes the plan's old data dirs on every drive (absent ones are fine).
fn remove_old_dirs(plan: &CommitPlan, io: &DriveIo) -> Result<(), DriveIoError> {
    if plan.remove_data_dirs.is_empty() {
        return Ok(());
    }
    for name in &plan.remove_data_dirs {
        if name.is_empty() || name.contains('/') || name == ".." || name == "." {
            continue;
        }
        let rel = plan.object_dir.join(name);
        let abs = io.resolve(&rel)?;
        let res = io.run_blocking(move |_| match std::fs::remove_dir_all(&abs) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        })?;
        res.map_err(|source| DriveIoError {
            drive: io.root().to_owned(),
            op: "remove data dir",
            path: rel.clone(),
            source,
        })?;
    }
    io.fsync(&plan.object_dir).wait()
}

/// Test hook: faults of a chosen drive in the executor's steps, on demand
/// (like [`crate::drives::write::fault`]): a read error in classification,
/// a panic in a drive's thread.
#[cfg(test)]
pub(crate) mod fault {
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    use crate::drives::io::DriveIoError;

    /// Per drive root and step: calls left before the failing one.
    static ARMED: Mutex<Vec<(PathBuf, &'static str, u32)>> = Mutex::new(Vec::new());

    /// Makes the `n`-th `step` from now (1: the next) on the drive at
    /// `root` fail, once: `"read"` (an `xl.meta` read of classification
    /// fails with EIO), `"write"` (the drive's `xl.meta` batch thread
    /// panics), `"step"` (the drive's thread moving data dirs in or
    /// removing old ones panics).
    pub fn arm(root: &Path, step: &'static str, n: u32) {
        assert!(n > 0);
        ARMED.lock().unwrap().push((root.to_owned(), step, n));
    }

    fn fires(root: &Path, step: &str) -> bool {
        let mut armed = ARMED.lock().unwrap_or_else(|p| p.into_inner());
        let Some(at) = armed.iter().position(|(r, s, _)| r == root && *s == step) else {
            return false;
        };
        armed[at].2 -= 1;
        if armed[at].2 > 0 {
            return false;
        }
        armed.remove(at);
        true
    }

    pub(super) fn read(
        root: &Path,
        got: Result<Vec<u8>, DriveIoError>,
    ) -> Result<Vec<u8>, DriveIoError> {
        if fires(root, "read") {
            return Err(DriveIoError {
                drive: root.to_owned(),
                op: "read",
                path: PathBuf::from("xl.meta"),
                source: std::io::Error::from_raw_os_error(libc::EIO),
            });
        }
        got
    }

    pub(super) fn panic_at(root: &Path, step: &str) {
        if fires(root, step) {
            panic!("injected panic in {step} on {}", root.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::plan::{DriveChange, StagedDataDir};

    fn setup(n: usize) -> (tempfile::TempDir, Vec<PathBuf>) {
        let dir = tempfile::tempdir().unwrap();
        let roots: Vec<PathBuf> = (0..n).map(|i| dir.path().join(format!("d{i}"))).collect();
        for r in &roots {
            std::fs::create_dir_all(r.join("b/o/old-dd")).unwrap();
            std::fs::write(r.join("b/o/old-dd/part.1"), b"x").unwrap();
            std::fs::write(r.join("b/o/xl.meta"), b"old").unwrap();
        }
        (dir, roots)
    }

    fn plan(roots: &[PathBuf]) -> CommitPlan {
        CommitPlan {
            drives: roots.to_vec(),
            object_dir: PathBuf::from("b/o"),
            per_drive: roots
                .iter()
                .map(|_| DriveChange {
                    expect_old: xxh64(b"old", 0),
                    new_xlmeta: b"new".to_vec(),
                    staged_data_dir: None,
                })
                .collect(),
            remove_data_dirs: vec!["old-dd".into()],
            versions: Vec::new(),
        }
    }

    fn read(r: &Path) -> Vec<u8> {
        std::fs::read(r.join("b/o/xl.meta")).unwrap()
    }

    /// A crash between drives leaves some new, some old: a resume finishes
    /// the old ones and only then removes the old data dir.
    #[test]
    fn resume_finishes_a_half_applied_plan() {
        let (_d, roots) = setup(4);
        std::fs::write(roots[1].join("b/o/xl.meta"), b"new").unwrap();
        std::fs::write(roots[3].join("b/o/xl.meta"), b"new").unwrap();
        let p = plan(&roots);
        let mut ex = Executor::new(HashMap::new());
        assert_eq!(ex.execute(&[&p]), [PlanResult::Committed]);
        for r in &roots {
            assert_eq!(read(r), b"new");
            assert!(!r.join("b/o/old-dd").exists());
        }
        // Idempotent: running it again changes nothing and still succeeds.
        assert_eq!(ex.execute(&[&p]), [PlanResult::Committed]);
    }

    /// A drive holding something else is not forced, and nothing is written.
    #[test]
    fn a_changed_drive_is_a_conflict_and_nothing_is_written() {
        let (_d, roots) = setup(3);
        std::fs::write(roots[2].join("b/o/xl.meta"), b"someone else").unwrap();
        let p = plan(&roots);
        let mut ex = Executor::new(HashMap::new());
        assert!(matches!(ex.execute(&[&p])[0], PlanResult::Conflict(_)));
        assert_eq!(read(&roots[0]), b"old");
        assert!(roots[0].join("b/o/old-dd").exists());
        std::fs::remove_file(roots[1].join("b/o/xl.meta")).unwrap();
        assert!(matches!(ex.execute(&[&p])[0], PlanResult::Conflict(_)));
        for r in &roots {
            let _ = std::fs::remove_dir_all(r.join("b/o"));
        }
        assert_eq!(ex.execute(&[&p]), [PlanResult::Vanished]);
    }

    /// Staged data dirs move in before the swap; a dir already moved by an
    /// interrupted attempt is fine.
    #[test]
    fn staged_data_dirs_move_in_once() {
        let (_d, roots) = setup(2);
        let mut p = plan(&roots);
        for (i, r) in roots.iter().enumerate() {
            std::fs::create_dir_all(r.join(".minio.sys/tmp/st")).unwrap();
            std::fs::write(r.join(".minio.sys/tmp/st/part.1"), [i as u8]).unwrap();
            p.per_drive[i].staged_data_dir = Some(StagedDataDir {
                staged_at: PathBuf::from(".minio.sys/tmp/st"),
                name: "new-dd".into(),
            });
        }
        // drive 0 was moved by an earlier attempt
        std::fs::rename(
            roots[0].join(".minio.sys/tmp/st"),
            roots[0].join("b/o/new-dd"),
        )
        .unwrap();
        let mut ex = Executor::new(HashMap::new());
        assert_eq!(ex.execute(&[&p]), [PlanResult::Committed]);
        for (i, r) in roots.iter().enumerate() {
            assert_eq!(
                std::fs::read(r.join("b/o/new-dd/part.1")).unwrap(),
                [i as u8]
            );
            assert_eq!(read(r), b"new");
        }
    }

    /// MinIO runs as its own user: moved-in data dirs and part files take
    /// the object directory's owner (the test runs as root, like keyrotate).
    #[test]
    fn moved_in_data_dirs_take_the_object_directorys_owner() {
        use std::os::unix::fs::MetadataExt;
        let (_d, roots) = setup(2);
        let mut p = plan(&roots);
        for (i, r) in roots.iter().enumerate() {
            std::os::unix::fs::chown(r.join("b/o"), Some(1234), Some(5678)).unwrap();
            std::fs::create_dir_all(r.join(".minio.sys/tmp/st")).unwrap();
            std::fs::write(r.join(".minio.sys/tmp/st/part.1"), [i as u8]).unwrap();
            p.per_drive[i].staged_data_dir = Some(StagedDataDir {
                staged_at: PathBuf::from(".minio.sys/tmp/st"),
                name: "new-dd".into(),
            });
        }
        let mut ex = Executor::new(HashMap::new());
        assert_eq!(ex.execute(&[&p]), [PlanResult::Committed]);
        for r in &roots {
            for path in [r.join("b/o/new-dd"), r.join("b/o/new-dd/part.1")] {
                let m = std::fs::metadata(&path).unwrap();
                assert_eq!((m.uid(), m.gid()), (1234, 5678), "{}", path.display());
            }
        }
    }

    fn no_wait(attempts: u32) -> Retry {
        Retry {
            attempts,
            delay: std::time::Duration::ZERO,
        }
    }

    fn assert_unfinished(r: &PlanResult, what: &str) {
        assert!(matches!(r, PlanResult::Unfinished(_)), "{what}: {r:?}");
    }

    /// The sync after the swaps fails on drive 0: its new `xl.meta` is in
    /// the page cache only, whatever a read returns. The retry must make it
    /// durable again before the old data dir goes — here its sync fails
    /// too, so the plan stays unfinished and the old data dir stays on
    /// every drive; once the disk syncs again, the plan finishes.
    #[test]
    fn a_retry_after_a_failed_sync_does_not_trust_what_it_reads_back() {
        let (_d, roots) = setup(3);
        let p = plan(&roots);
        crate::drives::write::fault::fail_sync(&roots[0], 2);
        crate::drives::write::fault::fail_sync(&roots[0], 1);
        let mut ex = Executor::new(HashMap::new());
        let r = ex.execute_retrying(&[&p], no_wait(2));
        assert_unfinished(&r[0], "the retry's sync failed");
        for root in &roots {
            assert!(root.join("b/o/old-dd").exists(), "{}", root.display());
        }
        assert_eq!(ex.execute(&[&p]), [PlanResult::Committed]);
        for root in &roots {
            assert_eq!(read(root), b"new");
            assert!(!root.join("b/o/old-dd").exists());
        }
    }

    /// A drive thread that panics while writing `xl.meta` files, or while
    /// removing old data dirs, leaves its plans unfinished: never committed.
    #[test]
    fn a_panicking_drive_thread_leaves_its_plans_unfinished() {
        for step in ["write", "step"] {
            let (_d, roots) = setup(3);
            let p = plan(&roots);
            fault::arm(&roots[1], step, 1);
            let mut ex = Executor::new(HashMap::new());
            let r = ex.execute_retrying(&[&p], no_wait(2));
            assert_unfinished(&r[0], step);
            assert!(
                roots[1].join("b/o/old-dd").exists() || step == "write",
                "{step}: the old data dir of the panicked drive"
            );
            // A resume finishes it.
            assert_eq!(ex.execute(&[&p]), [PlanResult::Committed], "{step}");
            for root in &roots {
                assert_eq!(read(root), b"new");
                assert!(!root.join("b/o/old-dd").exists());
            }
        }
    }

    /// Drive 0 takes the new `xl.meta`, drive 1 fails; the re-check after
    /// the last try cannot read drive 0. Nothing proves the drives agree:
    /// the plan stays unfinished instead of failing with drives disagreeing.
    #[test]
    fn a_read_error_on_the_final_recheck_keeps_the_plan_unfinished() {
        let (_d, roots) = setup(2);
        let p = plan(&roots);
        crate::drives::write::fault::fail_sync(&roots[1], 1);
        // Drive 0's second classification read: the final re-check.
        fault::arm(&roots[0], "read", 2);
        let mut ex = Executor::new(HashMap::new());
        let r = ex.execute_retrying(&[&p], no_wait(1));
        assert_eq!(read(&roots[0]), b"new");
        assert_eq!(read(&roots[1]), b"old");
        assert_unfinished(&r[0], "drive 0 unreadable on the re-check");
    }
}
