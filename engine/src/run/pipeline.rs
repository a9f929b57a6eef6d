//! The run pipeline of DESIGN.md: set walker → workers (gather, agree,
//! decide, KMS, reseal: [`super::object`]) → committer (journal intent with
//! group commit, [`Executor`], done, watermark), all joined by bounded
//! channels so memory does not grow with the number of objects.
//!
//! The committer is the only writer of the journal. It applies every record
//! it appends to a [`Ledger`] — the same code a resume replays the journal
//! with — so live counters and rebuilt counters cannot differ.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver};

use super::exec::{Executor, PlanResult};
use super::journal::{Journal, JournalError};
use super::object::{self, DryVersion, ObjectCtx, ObjectResult};
use super::plan::{CommitPlan, VersionChange};
use super::record::{EditIntent, Ledger, Pending, Record, ReportLine, INTERNAL_SET};
use super::state::{write_atomic, JobDir};
use super::summary::{JobState, Outcome, SkipReason, Summary};
use crate::crashpoint::crash_point;
use crate::drives::io::DriveIo;
use crate::drives::topology::Topology;
use crate::drives::walk::stream_set;
use crate::job::model::Retry;

/// Set by SIGINT/SIGTERM: stop listing, finish what is in flight, record
/// the cancel durably.
pub static CANCEL: AtomicBool = AtomicBool::new(false);

/// Installs the SIGINT/SIGTERM handler that sets [`CANCEL`].
pub fn install_signal_handlers() {
    extern "C" fn on_signal(_: libc::c_int) {
        CANCEL.store(true, Ordering::SeqCst);
    }
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// One erasure set: drive roots in set order and their workers.
#[derive(Clone)]
pub struct SetDrives {
    pub index: usize,
    pub roots: Vec<PathBuf>,
    pub ios: Vec<DriveIo>,
}

/// Every set of the topology, with a worker per drive; fails when a set has
/// a drive missing (a rotation must reach every drive: no write quorum
/// short of all of them is enough, DESIGN invariant 1).
pub fn sets_of(topo: &Topology) -> Result<Vec<SetDrives>, String> {
    let mut out = Vec::new();
    for pool in &topo.pools {
        for set in &pool.sets {
            let mut roots = Vec::new();
            for (pos, d) in set.drives.iter().enumerate() {
                let Some(d) = d else {
                    return Err(format!(
                        "pool {} set {}: drive at position {pos} is missing; every drive of a set is needed to rotate",
                        pool.index, set.index
                    ));
                };
                roots.push(d.path.clone());
            }
            let ios = roots
                .iter()
                .map(DriveIo::spawn)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("starting drive workers: {e}"))?;
            out.push(SetDrives {
                index: out.len(),
                roots,
                ios,
            });
        }
    }
    Ok(out)
}

/// Knobs of a run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Worker threads, hence KMS requests in flight.
    pub concurrency: usize,
    /// Plans per group commit.
    pub batch: usize,
    /// Retry versions that failed in an earlier run of the job.
    pub retry_failed: bool,
    /// Told (job id, start time) when an unfinished run is resumed.
    pub on_resume: Option<fn(&str, &str)>,
    /// A maintenance window: when the run pauses (resumable).
    pub window: Window,
}

/// When a run pauses on its own (`run --max-duration/--stop-at/--limit`):
/// like a cancel it stops at a group-commit boundary, durably, and the next
/// `run` of the job continues; the state is [`JobState::Paused`].
#[derive(Clone, Debug, Default)]
pub struct Window {
    /// Pause once this instant has passed.
    pub deadline: Option<Instant>,
    /// Pause once this many versions were decided in this run (whole
    /// objects: the last object may take it a few versions past).
    pub limit: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            concurrency: 64,
            batch: 512,
            retry_failed: false,
            on_resume: None,
            window: Window::default(),
        }
    }
}

/// A unit of work: one object of one set.
struct Work {
    set: usize,
    seq: u64,
    key: String,
    /// A `--retry-failed` retry of an object with failed versions.
    retry: bool,
    /// Decided again after a commit-time conflict, or a later pass over
    /// the object's plaintext versions (a conflict then fails).
    second: bool,
    /// Only these versions (by id): the plaintext versions left for
    /// another pass.
    only: Option<VersionIds>,
}

/// Version ids (the plaintext versions an object has left for later passes).
type VersionIds = Vec<[u8; 16]>;

/// What the walk does with a listed object: `None` when the journal has it
/// finished, else whether it is a `--retry-failed` retry and which versions
/// are left (an interrupted multi-pass encryption).
type SkipFn<'a> = dyn Fn(usize, &str) -> Option<(bool, Option<VersionIds>)> + 'a;

/// Progress callback: called after each group commit with the summary so far and the number of
/// objects finished, counting those an earlier run of the job finished (so a
/// resumed job's progress starts where it stopped).
pub type Progress<'a> = &'a mut dyn FnMut(&Summary, u64);

/// Lists every set and hands its objects in order to `emit` (which returns
/// false to stop); stops on cancel.
fn walk(
    sets: &[SetDrives],
    bucket: &str,
    prefixes: &[String],
    skip: &SkipFn<'_>,
    emit: &mut dyn FnMut(Work) -> bool,
    stop: &dyn Fn() -> bool,
) -> Result<(), String> {
    for set in sets {
        let mut seq = 0;
        for prefix in prefixes {
            for key in stream_set(&set.ios, bucket, prefix) {
                let key = key.map_err(|e| e.to_string())?;
                if stop() {
                    return Ok(());
                }
                let Some((retry, only)) = skip(set.index, &key) else {
                    continue;
                };
                let work = Work {
                    set: set.index,
                    seq,
                    key,
                    retry,
                    second: false,
                    only,
                };
                seq += 1;
                if !emit(work) {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// Per set: the contiguous prefix of processed objects (low watermark).
#[derive(Default)]
struct Watermarks {
    next: HashMap<usize, u64>,
    ahead: HashMap<usize, BTreeMap<u64, String>>,
    moved: HashMap<usize, String>,
}

impl Watermarks {
    fn finished(&mut self, set: usize, seq: u64, key: String) {
        let ahead = self.ahead.entry(set).or_default();
        ahead.insert(seq, key);
        let next = self.next.entry(set).or_default();
        while let Some(k) = ahead.remove(next) {
            *next += 1;
            self.moved.insert(set, k);
        }
    }

    fn take_moved(&mut self) -> Vec<(usize, String)> {
        self.moved.drain().collect()
    }
}

/// The end of a run.
pub struct RunEnd {
    pub state: JobState,
    pub summary: Summary,
}

/// Errors that stop a run before its end (pre-flight or state directory).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("{0}")]
    Io(String),
    #[error("this job's state directory belongs to another job file (sha256 {0})")]
    OtherJob(String),
    #[error("run {job_id} was started on the drives {was}; resume it with the same drives (given: {now})")]
    OtherDrives {
        job_id: String,
        was: String,
        now: String,
    },
    #[error(transparent)]
    State(#[from] super::state::StateError),
}

/// The committer's state: journal, ledger, report writer.
struct Committer<'a> {
    journal: Journal<Record>,
    ledger: Ledger,
    report: std::io::BufWriter<std::fs::File>,
    exec: Executor,
    dir: &'a JobDir,
    /// Tries of a plan that fails with a drive I/O error (the job's retry policy).
    retry: Retry,
    /// Set when a plan is left [`PlanResult::Unfinished`]: its drives
    /// disagree, its intent stays pending, and the job stops (aborted,
    /// resumable) so that no run ends with drives disagreeing.
    halt: Option<String>,
}

impl Committer<'_> {
    fn append(&mut self, rec: Record) -> Result<(), RunError> {
        self.journal.append(&rec)?;
        let report = &mut self.report;
        self.ledger.apply(&rec, &mut |v| write_line(report, v));
        Ok(())
    }

    fn commit(&mut self) -> Result<(), RunError> {
        self.journal.commit()?;
        // The report keeps up with the durable journal (one write per
        // batch), so a reader of the report — `status`, an operator's
        // `tail` — sees progress as it is made, not only every 8 KiB or at
        // the next summary save. A resume rebuilds it from the journal.
        let _ = self.report.flush();
        Ok(())
    }

    /// Stops the job after a plan was left half applied.
    fn unfinished(&mut self, plan: &CommitPlan, error: String) {
        self.halt.get_or_insert(format!(
            "{}: {error}; its drives disagree until a resume of this job finishes it",
            plan.object_dir.display()
        ));
    }

    /// Whether a plan was left unfinished (the job must stop); its error
    /// becomes the job's last error.
    fn halted(&mut self) -> bool {
        match self.halt.take() {
            Some(e) => {
                self.ledger.summary.last_error = e;
                true
            }
            None => false,
        }
    }

    fn save_summary(&mut self) {
        let _ = self.report.flush();
        let mut s = self.ledger.summary.clone();
        s.last_update = now_rfc3339();
        if let Ok(json) = serde_json::to_vec_pretty(&s) {
            let _ = write_atomic(&self.dir.summary_path(), &json);
        }
    }

    /// Executes plans (already journaled) and records their outcome; returns
    /// the objects whose plan met changed bytes, to be decided again, with
    /// the versions of the plan (the object's other versions are recorded).
    fn execute(
        &mut self,
        plans: Vec<(u64, usize, String, CommitPlan, bool)>,
    ) -> Result<Vec<(usize, String, VersionIds)>, RunError> {
        if plans.is_empty() {
            return Ok(Vec::new());
        }
        let refs: Vec<&CommitPlan> = plans.iter().map(|p| &p.3).collect();
        let results = self.exec.execute_retrying(&refs, self.retry);
        let mut again = Vec::new();
        for ((id, set, key, plan, second_try), result) in plans.into_iter().zip(results) {
            match result {
                PlanResult::Committed => self.append(Record::Done { id, error: None })?,
                // No record: the intent stays pending, a resume finishes it.
                PlanResult::Unfinished(e) => self.unfinished(&plan, e),
                PlanResult::Failed(e) => self.append(Record::Done {
                    id,
                    error: Some(("io".into(), e)),
                })?,
                // Decided on fresh bytes (or a resume): the versions fail as
                // changed, but only while the drives agree; a plan met with
                // drives that disagree (half applied by a crashed run, or a
                // copy changed since) stays pending and stops the job, so
                // no job ends with the drives of a set disagreeing.
                PlanResult::Conflict(e) if second_try => match self.exec.disagreement(&plan) {
                    Some(why) => {
                        let object = format!("{}: ", plan.object_dir.display());
                        let e = e.strip_prefix(&object).unwrap_or(&e);
                        self.unfinished(&plan, format!("{e}; {why}"))
                    }
                    None => self.append(Record::Done {
                        id,
                        error: Some(("changed".into(), e)),
                    })?,
                },
                PlanResult::Conflict(_) => {
                    self.append(Record::Abandoned { id })?;
                    let ids = plan
                        .versions
                        .iter()
                        .map(|v| version_id_bytes(&v.version_id));
                    again.push((set, key, ids.collect()));
                }
                PlanResult::Vanished => {
                    self.append(Record::Abandoned { id })?;
                    for mut v in plan.versions {
                        v.outcome = Outcome::Skipped(SkipReason::Vanished);
                        self.append(Record::Finished {
                            set,
                            key: key.clone(),
                            version: v,
                        })?;
                    }
                }
            }
        }
        Ok(again)
    }
}

/// A version id as [`object::version_text`] writes it, back to bytes (the
/// null version for `""` or anything unparsable).
fn version_id_bytes(text: &str) -> [u8; 16] {
    uuid::Uuid::parse_str(text).map_or([0; 16], |u| *u.as_bytes())
}

fn write_line(out: &mut impl Write, v: &VersionChange) {
    if let Ok(mut line) = serde_json::to_vec(&ReportLine::of(v)) {
        line.push(b'\n');
        let _ = out.write_all(&line);
    }
}

/// RFC 3339 UTC with nanoseconds (trailing zeros dropped), as MinIO prints.
pub fn now_rfc3339() -> String {
    xlmeta::time::format_rfc3339_nano(now_nanos())
}

pub(crate) fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Runs the job whose state lives in `dir`: resumes its latest run when it
/// is unfinished (or, with `--retry-failed`, ended with failures), else
/// starts a new run that scans everything again.
pub fn run(
    dir: &mut JobDir,
    job_sha256: &str,
    sets: &[SetDrives],
    mut ctx: ObjectCtx,
    opts: &Options,
    progress: Progress<'_>,
) -> Result<RunEnd, RunError> {
    let process_start = std::time::SystemTime::now();
    // Rebuild counters and the report from the journal, record by record.
    let report_file = super::state::create_private(&dir.report_path())
        .map_err(|e| RunError::Io(format!("{}: {e}", dir.report_path().display())))?;
    let mut report = std::io::BufWriter::new(report_file);
    let mut ledger = Ledger::for_replay();
    let (journal, replay) = Journal::<Record>::open_with(dir.journal_path(), |rec| {
        ledger.apply(&rec, &mut |v| write_line(&mut report, v));
    })?;
    let resumed = replay.records > 0;
    let retry =
        opts.retry_failed && (!ledger.failed.is_empty() || ledger.summary.internal.failed > 0);
    if ledger.end.is_some_and(|state| !retry && closed(dir, state)) {
        // The latest run is over: this is a new run of the job file.
        drop((journal, report));
        dir.new_run()?;
        return run(dir, job_sha256, sets, ctx, opts, progress);
    }
    let drives: Vec<PathBuf> = sets.iter().flat_map(|s| s.roots.iter().cloned()).collect();
    if let Some((job_id, ..)) = &ledger.begin {
        if !ledger.begin_drives.is_empty() && ledger.begin_drives != drives {
            let show = |d: &[PathBuf]| {
                d.iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            return Err(RunError::OtherDrives {
                job_id: job_id.clone(),
                was: show(&ledger.begin_drives),
                now: show(&drives),
            });
        }
    }
    ledger.prune();
    let dir: &JobDir = dir;
    let mut c = Committer {
        journal,
        ledger,
        report,
        exec: Executor::new(
            sets.iter()
                .flat_map(|s| s.roots.iter().cloned().zip(s.ios.iter().cloned()))
                .collect(),
        ),
        dir,
        retry: ctx.job.retry,
        halt: None,
    };
    match c.ledger.begin.clone() {
        Some((job_id, start, t0, sha)) => {
            if sha != job_sha256 {
                return Err(RunError::OtherJob(sha));
            }
            ctx.t0 = crate::job::timestamp::Timestamp::from_unix_nanos(t0);
            if let (Some(tell), None) = (opts.on_resume, c.ledger.end) {
                tell(&job_id, &start);
            }
            c.ledger.summary.job_id = job_id;
            c.ledger.summary.start_time = start;
        }
        None => {
            let t0 = ctx.t0.unix_nanos() as i64;
            let job_id = super::state::new_job_id();
            let start_time = now_rfc3339();
            c.ledger.summary.job_id = job_id.clone();
            c.ledger.summary.start_time = start_time.clone();
            c.append(Record::Begin {
                job_id,
                start_time,
                t0_nanos: t0,
                job_sha256: job_sha256.to_owned(),
                drives,
            })?;
        }
    }
    if let (Some(state), false) = (c.ledger.end, retry) {
        // The run ended, but its process stopped before its final summary
        // was saved: that is all there is left to do.
        return finish(c, state, job_sha256, &ctx, sets, dir);
    }
    if resumed {
        c.append(Record::Resumed { at: now_rfc3339() })?;
    }
    if retry && c.ledger.summary.internal.failed > 0 && c.ledger.pending.is_empty() {
        c.append(Record::RetryInternal)?;
    }
    // `status` reads this while the run goes on.
    fill_summary(&mut c.ledger.summary, job_sha256, ctx.t0, dir);
    c.ledger.summary.status = JobState::Running.as_str().into();
    c.save_summary();
    // Finish or repair every plan that was in flight (DESIGN invariant 4).
    let mut pending = Vec::new();
    for (id, (set, key, p)) in c.ledger.pending.clone() {
        if set == INTERNAL_SET && !c.ledger.internal_done {
            // Its commit never completed (the `Internal` record that closes
            // it is missing), so no drive saw this plan: discovery reruns.
            c.append(Record::Abandoned { id })?;
            continue;
        }
        let plan = match p {
            Pending::Full(plan) => plan,
            Pending::Edit(intent) => {
                let ios: Vec<DriveIo> = intent
                    .drives
                    .iter()
                    .map(|r| c.exec.worker(r))
                    .collect::<Result<_, _>>()
                    .map_err(RunError::Io)?;
                object::rebuild(&intent, &ios)
            }
        };
        pending.push((id, set, key, plan, true));
    }
    c.commit()?;
    c.execute(pending)?;
    crash_point("run.resume_executed");
    c.commit()?;
    if resumed {
        remove_abandoned_staging(&c.exec, sets, process_start);
    }
    // A plan a resume could not finish either: stop before anything new.
    if c.halted() {
        return close(c, JobState::Aborted, job_sha256, &ctx, sets, dir);
    }

    internal(&mut c, &ctx)?;
    if c.halted() {
        return close(c, JobState::Aborted, job_sha256, &ctx, sets, dir);
    }

    // The walk skips what the journal has recorded.
    let watermark = c.ledger.watermark.clone();
    let finished = std::mem::take(&mut c.ledger.finished);
    c.ledger.stop_tracking();
    // A retry decides again only the versions that failed (the object's
    // others are recorded); an object-level failure (no version id) or the
    // null version retries the whole object.
    let failed: HashMap<(usize, String), Option<VersionIds>> = if opts.retry_failed {
        c.ledger
            .failed
            .iter()
            .map(|(k, versions)| {
                let ids: VersionIds = versions
                    .iter()
                    .map(|v| version_id_bytes(&v.version_id))
                    .collect();
                (k.clone(), (!ids.contains(&[0; 16])).then_some(ids))
            })
            .collect()
    } else {
        HashMap::new()
    };
    let earlier_done = Arc::new(AtomicU64::new(0));
    let earlier = earlier_done.clone();
    let again = std::mem::take(&mut c.ledger.again);
    let skip = move |set: usize, key: &str| -> Option<(bool, Option<VersionIds>)> {
        let k = (set, key.to_owned());
        if let Some(only) = failed.get(&k) {
            return Some((true, only.clone()));
        }
        if let Some(versions) = again.get(&k) {
            return Some((false, Some(versions.clone())));
        }
        if watermark.get(&set).is_some_and(|w| key <= w.as_str()) || finished.contains(&k) {
            earlier.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some((false, None))
    };

    let ctx = Arc::new(ctx);
    let bucket = ctx.job.bucket.clone();
    let prefixes = ctx.job.prefixes.clone();
    let concurrency = opts.concurrency.max(1);
    let (work_tx, work_rx) = bounded::<Work>(concurrency * 4);
    // One batch waits while the previous one is written: memory holds at
    // most two batches of per-drive xl.meta bytes.
    let (res_tx, res_rx) = bounded::<(Work, ObjectResult)>(opts.batch.max(1));
    let stop_flag = Arc::new(AtomicBool::new(false));
    let mut state = JobState::Running;
    let mut walk_error = None;
    std::thread::scope(|s| -> Result<(), RunError> {
        let stop = stop_flag.clone();
        let walker = s.spawn(move || {
            let stop_fn = || CANCEL.load(Ordering::Relaxed) || stop.load(Ordering::Relaxed);
            let mut emit = |w| work_tx.send(w).is_ok();
            walk(sets, &bucket, &prefixes, &skip, &mut emit, &stop_fn)
        });
        for _ in 0..concurrency {
            let rx: Receiver<Work> = work_rx.clone();
            let tx = res_tx.clone();
            let ctx = ctx.clone();
            s.spawn(move || {
                for w in rx {
                    let Some(set) = sets.get(w.set) else { continue };
                    let r = object::process_versions(
                        &ctx,
                        w.set,
                        &set.roots,
                        &set.ios,
                        &w.key,
                        w.only.as_deref(),
                    );
                    if tx.send((w, r)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(work_rx);
        drop(res_tx);
        let mut done_here = 0u64;
        let mut count_progress = |summary: &Summary, finished: u64| {
            done_here += finished;
            progress(summary, earlier_done.load(Ordering::Relaxed) + done_here);
        };
        let outcome = commit_loop(
            &mut c,
            &ctx,
            sets,
            &res_rx,
            opts,
            &stop_flag,
            &mut count_progress,
        );
        stop_flag.store(true, Ordering::Relaxed);
        // Drain so workers and the walker can finish.
        for _ in res_rx.iter() {}
        match walker.join() {
            Ok(Err(e)) => walk_error = Some(e),
            Ok(Ok(())) => {}
            Err(_) => walk_error = Some("the listing thread panicked".into()),
        }
        state = outcome?;
        Ok(())
    })?;
    if state == JobState::Running {
        state = if walk_error.is_some() {
            JobState::Aborted
        } else if CANCEL.load(Ordering::Relaxed) {
            JobState::Canceled
        } else {
            c.ledger.summary.final_state()
        };
    }
    if let Some(e) = &walk_error {
        c.ledger.summary.last_error = e.clone();
    }
    close(c, state, job_sha256, &ctx, sets, dir)
}

/// Ends a run in `state`: the journal's end (or stop) record, committed,
/// and the final summary with the residue of internal items.
fn close(
    mut c: Committer<'_>,
    state: JobState,
    job_sha256: &str,
    ctx: &ObjectCtx,
    sets: &[SetDrives],
    dir: &JobDir,
) -> Result<RunEnd, RunError> {
    let at = now_rfc3339();
    match state {
        JobState::Completed | JobState::Failed => c.append(Record::End { state, at })?,
        _ => c.append(Record::Stopped { state, at })?,
    }
    crash_point("run.end_appended");
    c.commit()?;
    finish(c, state, job_sha256, ctx, sets, dir)
}

/// Whether the run in `dir` ended in `state` with its final summary saved
/// (its process went through [`finish`]).
fn closed(dir: &JobDir, state: JobState) -> bool {
    std::fs::read(dir.summary_path())
        .ok()
        .and_then(|b| serde_json::from_slice::<Summary>(&b).ok())
        .is_some_and(|s| s.status == state.as_str() && !s.end_time.is_empty())
}

/// The final summary of a run whose end is journaled: the residue of
/// internal items added, saved.
fn finish(
    mut c: Committer<'_>,
    state: JobState,
    job_sha256: &str,
    ctx: &ObjectCtx,
    sets: &[SetDrives],
    dir: &JobDir,
) -> Result<RunEnd, RunError> {
    if state == JobState::Completed {
        // Nothing failed in the end (a retry fixed what had): no stale error.
        c.ledger.summary.last_error.clear();
    }
    let roots: Vec<Vec<PathBuf>> = sets.iter().map(|s| s.roots.clone()).collect();
    if let Err(e) =
        super::residue::add_internal(&mut c.ledger.summary.residue, &roots, ctx.target.as_str())
    {
        tracing::warn!("internal items left out of the residue: {e}");
    }
    fill_summary(&mut c.ledger.summary, job_sha256, ctx.t0, dir);
    c.ledger.summary.finish(state);
    c.ledger.summary.end_time = now_rfc3339();
    c.save_summary();
    Ok(RunEnd {
        state,
        summary: c.ledger.summary.clone(),
    })
}

/// Runs the internal re-encryption hook once per job (JOB.md §14) when the
/// target is the default key; its plans take the same journaled path.
fn internal(c: &mut Committer<'_>, ctx: &ObjectCtx) -> Result<(), RunError> {
    let (Some(hook), Some(kms)) = (ctx.internal.as_deref(), ctx.kms.as_deref()) else {
        return Ok(());
    };
    if c.ledger.internal_done
        || !(ctx.target.as_str().is_empty() || ctx.target == *kms.default_key())
    {
        return Ok(());
    }
    let work = hook(kms);
    let mut ids = Vec::with_capacity(work.plans.len());
    for plan in &work.plans {
        let id = c.ledger.next_id;
        c.append(Record::Intent {
            id,
            set: INTERNAL_SET,
            key: plan.object_dir.display().to_string(),
            plan: plan.clone(),
        })?;
        ids.push(id);
    }
    // After the intents, in the same commit: once it is durable, a resume
    // finishes these intents and never runs discovery again.
    c.append(Record::Internal {
        failed: work.failed.len() as u64,
        skipped: work.skipped,
        errors: work.failed.clone(),
    })?;
    c.commit()?;
    crash_point("internal.intents_committed");
    let refs: Vec<&CommitPlan> = work.plans.iter().collect();
    let results = c.exec.execute_retrying(&refs, c.retry);
    for ((id, plan), result) in ids.into_iter().zip(&work.plans).zip(results) {
        let error = match result {
            PlanResult::Committed => None,
            PlanResult::Unfinished(e) => {
                c.unfinished(plan, e);
                continue;
            }
            other => Some(("internal".into(), format!("{other:?}"))),
        };
        c.append(Record::Done { id, error })?;
    }
    crash_point("internal.done_appended");
    c.commit()?;
    Ok(())
}

fn fill_summary(s: &mut Summary, sha: &str, t0: crate::job::timestamp::Timestamp, dir: &JobDir) {
    s.job_type = "keyrotate".into();
    s.job_file_sha256 = sha.to_owned();
    s.t0 = xlmeta::time::format_rfc3339_nano(t0.unix_nanos() as i64);
    s.report = dir.report_path().display().to_string();
    s.deployment_id = dir
        .path()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    s.last_update = now_rfc3339();
    if s.status.is_empty() {
        s.status = JobState::Running.as_str().into();
    }
}

/// Receives results, group-commits intents, executes, records.
fn commit_loop(
    c: &mut Committer<'_>,
    ctx: &ObjectCtx,
    sets: &[SetDrives],
    rx: &Receiver<(Work, ObjectResult)>,
    opts: &Options,
    stop: &AtomicBool,
    progress: Progress<'_>,
) -> Result<JobState, RunError> {
    let mut marks = Watermarks::default();
    let mut last_save = Instant::now();
    let mut again: VecDeque<(Work, ObjectResult)> = VecDeque::new();
    let batch_max = std::env::var("KEYROTATE_TEST_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(opts.batch)
        .max(1);
    let scanned_before = c.ledger.summary.objects_scanned;
    let mut ended = JobState::Running;
    loop {
        // A cancel stops at a batch boundary: results not yet journaled are
        // dropped (nothing was written for them) and redone on resume.
        if CANCEL.load(Ordering::Relaxed) && again.is_empty() {
            break;
        }
        // A closed window stops the same way, as a pause.
        let decided = c.ledger.summary.objects_scanned - scanned_before;
        let left = opts.window.limit.map(|l| l.saturating_sub(decided));
        if again.is_empty()
            && (left == Some(0) || opts.window.deadline.is_some_and(|d| Instant::now() >= d))
        {
            ended = JobState::Paused;
            break;
        }
        if ctx.breaker.tripped() {
            c.ledger.summary.last_error = ctx.breaker.message();
            return Ok(JobState::Aborted);
        }
        let mut batch: Vec<(Work, ObjectResult)> = again.drain(..).collect();
        if batch.is_empty() {
            match rx.recv_timeout(Duration::from_millis(500)) {
                Ok(x) => batch.push(x),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            }
        }
        // Under `--limit`, the batch stops once it holds the versions left
        // (whole objects: at most one object's versions past the limit). An
        // object's plaintext versions left for later passes count now: those
        // passes come before the run may pause.
        let versions = |b: &[(Work, ObjectResult)]| -> u64 {
            b.iter()
                .map(|(_, r)| {
                    let planned = r.plan.as_ref().map_or(0, |p| p.versions.len());
                    (r.finished.len() + planned + r.more_plaintext.len()) as u64
                })
                .sum()
        };
        while batch.len() < batch_max && left.is_none_or(|l| versions(&batch) < l) {
            match rx.try_recv() {
                Ok(x) => batch.push(x),
                Err(_) => break,
            }
        }
        let mut plans = Vec::new();
        let mut done_keys = Vec::new();
        let mut passes: HashMap<(usize, String), VersionIds> = HashMap::new();
        for (w, mut r) in batch {
            let more = std::mem::take(&mut r.more_plaintext);
            if w.retry {
                c.append(Record::Retry {
                    set: w.set,
                    key: w.key.clone(),
                })?;
            }
            if let Some(plan) = r.plan {
                let id = c.ledger.next_id;
                let metadata_only = !r.edits.is_empty()
                    && plan.remove_data_dirs.is_empty()
                    && plan.per_drive.iter().all(|d| d.staged_data_dir.is_none());
                if metadata_only {
                    c.append(Record::IntentEdit {
                        id,
                        set: r.set,
                        key: r.key.clone(),
                        intent: EditIntent {
                            drives: plan.drives.clone(),
                            object_dir: plan.object_dir.clone(),
                            expect_old: plan.per_drive.iter().map(|d| d.expect_old).collect(),
                            new_hash: plan
                                .per_drive
                                .iter()
                                .map(|d| xxhash_rust::xxh64::xxh64(&d.new_xlmeta, 0))
                                .collect(),
                            edits: r.edits,
                            versions: plan.versions.clone(),
                        },
                    })?;
                } else {
                    c.append(Record::Intent {
                        id,
                        set: r.set,
                        key: r.key.clone(),
                        plan: plan.clone(),
                    })?;
                }
                plans.push((id, r.set, r.key.clone(), plan, w.second));
            }
            // After the object's intent: a version recorded final never
            // precedes the plan of the versions it is finished with.
            for v in r.finished {
                c.append(Record::Finished {
                    set: r.set,
                    key: r.key.clone(),
                    version: v,
                })?;
            }
            if !more.is_empty() {
                // After the object's records of this pass: until a later
                // pass records it, the object is not finished.
                c.append(Record::Again {
                    set: r.set,
                    key: r.key.clone(),
                    versions: more.clone(),
                })?;
                passes.insert((r.set, r.key.clone()), more);
            }
            done_keys.push((w.set, w.seq, w.key, w.second));
        }
        // One fdatasync makes the whole window of intents durable.
        c.commit()?;
        crash_point("run.intents_committed");
        let changed = c.execute(plans)?;
        if c.halted() {
            return Ok(JobState::Aborted);
        }
        // Done records are appended; the next commit makes them durable.
        crash_point("run.done_appended");
        // A conflicting object is finished only after its second decision.
        let mut deferred = HashMap::new();
        let mut finished_now = 0;
        for (set, seq, key, second) in done_keys {
            let conflict = !second && changed.iter().any(|(s, k, _)| *s == set && *k == key);
            if conflict || passes.contains_key(&(set, key.clone())) {
                deferred.insert((set, key), seq);
                continue;
            }
            finished_now += 1;
            if seq != u64::MAX {
                marks.finished(set, seq, key);
            }
        }
        // §9 step 12: an object that changed since it was read is decided
        // again on fresh bytes (once: a second conflict fails); an object
        // with plaintext versions left gets its next pass, decided on the
        // bytes the last pass committed.
        // Only the versions of the abandoned plan (and those left for later
        // passes) are decided again: the object's other versions are
        // recorded already and must not count twice.
        let mut redo: Vec<(usize, String, Option<VersionIds>)> = Vec::new();
        for (set, key, mut ids) in changed {
            ids.extend(passes.remove(&(set, key.clone())).unwrap_or_default());
            redo.push((set, key, Some(ids)));
        }
        redo.extend(
            passes
                .into_iter()
                .map(|((set, key), v)| (set, key, Some(v))),
        );
        for (set, key, only) in redo {
            if let Some(sd) = sets.get(set) {
                let r =
                    object::process_versions(ctx, set, &sd.roots, &sd.ios, &key, only.as_deref());
                let seq = deferred.remove(&(set, key.clone())).unwrap_or(u64::MAX);
                let w = Work {
                    set,
                    seq,
                    key,
                    retry: false,
                    second: true,
                    only,
                };
                again.push_back((w, r));
            }
        }
        if last_save.elapsed() >= Duration::from_secs(1) {
            for (set, key) in marks.take_moved() {
                c.append(Record::Watermark { set, key })?;
            }
            c.save_summary();
            last_save = Instant::now();
        }
        progress(&c.ledger.summary, finished_now);
        if stop.load(Ordering::Relaxed) {
            break;
        }
    }
    for (set, key) in marks.take_moved() {
        c.append(Record::Watermark { set, key })?;
    }
    c.commit()?;
    Ok(ended)
}

/// `plan`: the decision pass without writes or KMS calls.
#[derive(Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanReport {
    pub objects: u64,
    pub versions: u64,
    pub by_action: BTreeMap<String, u64>,
    pub by_skip_reason: BTreeMap<String, u64>,
    pub by_failure: BTreeMap<String, u64>,
    pub filtered: u64,
    pub delete_markers: u64,
    pub by_source_key: BTreeMap<String, u64>,
    /// Versions sealed under each KMS key (SSE-KMS and SSE-S3), whatever
    /// the job decides for them: what the keys can be proven against.
    pub sealed_by_key: BTreeMap<String, u64>,
    /// Up to [`super::keyproof::SAMPLES`] of those versions per key (for
    /// the key proof; not printed).
    #[serde(skip)]
    pub sealed_samples: BTreeMap<String, Vec<super::keyproof::Sample>>,
    pub bytes_to_rewrite: u64,
    pub projected_kms_calls: KmsProjection,
}

/// KMS calls a run would make.
#[derive(Debug, Default, serde::Serialize)]
pub struct KmsProjection {
    pub decrypt: u64,
    pub generate: u64,
}

/// The `bySourceKey` entry of plaintext versions (no source key).
pub const PLAINTEXT_SOURCE: &str = "(plaintext)";

/// Objects per batch of the `plan` pass.
const PLAN_BATCH: usize = 64;

/// Runs the decision pass; `line` receives every version (for `--list`).
pub fn plan(
    sets: &[SetDrives],
    ctx: ObjectCtx,
    concurrency: usize,
    line: &mut dyn FnMut(&VersionChange),
) -> Result<PlanReport, String> {
    let ctx = Arc::new(ctx);
    // Objects travel in batches of one set's: a worker reads a batch's
    // xl.meta with one request per drive and hands its results over at
    // once, so no thread wakes up per object.
    let (work_tx, work_rx) = bounded::<Vec<Work>>(concurrency * 2);
    let (res_tx, res_rx) = bounded::<Vec<ObjectResult>>(concurrency * 2);
    let mut report = PlanReport::default();
    let bucket = ctx.job.bucket.clone();
    let bucket_name = bucket.clone();
    let prefixes = ctx.job.prefixes.clone();
    let walked = std::thread::scope(|s| {
        let walker = s.spawn(move || {
            let mut batch: Vec<Work> = Vec::with_capacity(PLAN_BATCH);
            let mut emit = |w: Work| {
                let full =
                    batch.len() == PLAN_BATCH || batch.first().is_some_and(|b| b.set != w.set);
                if full && work_tx.send(std::mem::take(&mut batch)).is_err() {
                    return false;
                }
                batch.push(w);
                true
            };
            let walked = walk(
                sets,
                &bucket,
                &prefixes,
                &|_, _| Some((false, None)),
                &mut emit,
                &|| CANCEL.load(Ordering::Relaxed),
            );
            if !batch.is_empty() {
                let _ = work_tx.send(batch);
            }
            walked
        });
        for _ in 0..concurrency.max(1) {
            let rx = work_rx.clone();
            let tx = res_tx.clone();
            let ctx = ctx.clone();
            s.spawn(move || {
                for batch in rx {
                    let Some(set) = batch.first().and_then(|w| sets.get(w.set)) else {
                        continue;
                    };
                    let dirs: Vec<PathBuf> = batch
                        .iter()
                        .map(|w| object::object_dir(&ctx.job.bucket, &w.key))
                        .collect();
                    let metas: Vec<PathBuf> = dirs.iter().map(|d| d.join("xl.meta")).collect();
                    let raws = object::gather_many(&set.ios, &metas);
                    let results = batch
                        .iter()
                        .zip(dirs)
                        .zip(&raws)
                        .map(|((w, dir), raws)| {
                            object::process_read(&ctx, w.set, &set.roots, &w.key, None, dir, raws)
                        })
                        .collect();
                    if tx.send(results).is_err() {
                        break;
                    }
                }
            });
        }
        drop(work_rx);
        drop(res_tx);
        for r in res_rx.iter().flatten() {
            report.objects += 1;
            for sealed in &r.sealed {
                let key = sealed.unwrap.key_id.as_str();
                *report.sealed_by_key.entry(key.to_owned()).or_default() += 1;
                let samples = report.sealed_samples.entry(key.to_owned()).or_default();
                samples.push(super::keyproof::Sample::version(
                    r.set,
                    &bucket_name,
                    &r.key,
                    sealed,
                ));
                if samples.len() > 2 * super::keyproof::SAMPLES {
                    super::keyproof::Sample::keep_first(samples);
                }
            }
            for v in &r.finished {
                count_plan(&mut report, v);
                line(v);
            }
            for DryVersion {
                version,
                source_key,
            } in &r.dry
            {
                count_plan(&mut report, version);
                line(version);
                report.projected_kms_calls.generate += 1;
                if let Some(k) = source_key {
                    report.projected_kms_calls.decrypt += 1;
                    *report.by_source_key.entry(k.clone()).or_default() += 1;
                } else {
                    *report
                        .by_source_key
                        .entry(PLAINTEXT_SOURCE.into())
                        .or_default() += 1;
                }
            }
            if !r.dry.is_empty() {
                // Each affected object's xl.meta is rewritten on every drive.
                report.bytes_to_rewrite += r.rewrite_bytes;
                for d in &r.dry {
                    if matches!(
                        d.version.outcome,
                        Outcome::Done(super::summary::ActionKind::Encrypt)
                    ) {
                        report.bytes_to_rewrite += d.version.sizes.stored;
                    }
                }
            }
        }
        for samples in report.sealed_samples.values_mut() {
            super::keyproof::Sample::keep_first(samples);
        }
        walker
            .join()
            .unwrap_or_else(|_| Err("listing panicked".into()))
    });
    walked?;
    Ok(report)
}

fn count_plan(report: &mut PlanReport, v: &VersionChange) {
    report.versions += 1;
    match &v.outcome {
        Outcome::Done(kind) => {
            *report
                .by_action
                .entry(format!("{kind:?}").to_lowercase())
                .or_default() += 1
        }
        Outcome::Filtered => report.filtered += 1,
        Outcome::Skipped(r) => *report.by_skip_reason.entry(r.as_str().into()).or_default() += 1,
        Outcome::DeleteMarkerSkipped => report.delete_markers += 1,
        Outcome::Failed(r) => *report.by_failure.entry(r.clone()).or_default() += 1,
    }
}

/// Deletes what killed runs staged under `.minio.sys/tmp/keyrotate-*` and
/// never committed. Called on resume once every journaled plan is finished,
/// so no remaining plan needs any of it; entries newer than this process
/// (another job working on the same drives) are left alone. MinIO would
/// discard them at its start anyway; this keeps the drives clean now.
///
/// This process's own drive writers stage in `keyrotate-*` folders too (the
/// plans just finished made them), and a filesystem stamps times with a
/// coarse clock that can lag `process_start` by a tick: their staging is
/// released first, or the sweep could delete the folders under them and
/// fail every later batch. The next batch makes new ones.
fn remove_abandoned_staging(
    exec: &Executor,
    sets: &[SetDrives],
    process_start: std::time::SystemTime,
) {
    exec.release_staging();
    for root in sets.iter().flat_map(|s| &s.roots) {
        let tmp = root.join(crate::drives::io::STAGING_DIR);
        let Ok(entries) = std::fs::read_dir(&tmp) else {
            continue;
        };
        for entry in entries.flatten() {
            let abandoned = entry
                .file_name()
                .to_string_lossy()
                .starts_with("keyrotate-")
                && entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t < process_start);
            if !abandoned {
                continue;
            }
            let path = entry.path();
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            if let Err(e) = removed {
                tracing::warn!("{}: cannot remove abandoned staging: {e}", path.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sweep after a resume's plans: a killed run's staging goes, and
    /// this process's writers go on writing — even when the filesystem
    /// stamped their folders before the process started (coarse clock),
    /// as `process_start` in the future simulates.
    #[test]
    fn the_staging_sweep_spares_this_process_s_writers() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        let tmp = root.join(crate::drives::io::STAGING_DIR);
        std::fs::create_dir_all(tmp.join("keyrotate-killed/part")).unwrap();
        std::fs::create_dir_all(tmp.join("minio-own")).unwrap();
        std::fs::create_dir_all(root.join("b/o")).unwrap();
        std::fs::write(root.join("b/o/xl.meta"), b"old").unwrap();
        let io = DriveIo::spawn(&root).unwrap();
        let sets = [SetDrives {
            index: 0,
            roots: vec![root.clone()],
            ios: vec![io.clone()],
        }];
        let exec = Executor::new([(root.clone(), io.clone())].into_iter().collect());
        io.atomic_write_batch(vec![(PathBuf::from("b/o/xl.meta"), b"one".to_vec())])
            .unwrap();
        let later = std::time::SystemTime::now() + Duration::from_secs(60);
        remove_abandoned_staging(&exec, &sets, later);
        let left: Vec<String> = std::fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["minio-own"], "only what is not keyrotate's is left");
        io.atomic_write_batch(vec![(PathBuf::from("b/o/xl.meta"), b"two".to_vec())])
            .unwrap();
        assert_eq!(std::fs::read(root.join("b/o/xl.meta")).unwrap(), b"two");
    }
}
