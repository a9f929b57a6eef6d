//! `keyrotate run JOB.yaml --drives ...`: execute (or resume) a job.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::common::{is_tty, read_job, target_key, Target, EXIT_PREFLIGHT};
use super::{CliError, CmdResult};
use crate::drives::lock::Access;
use crate::job::decide::Capabilities;
use crate::run::keyproof;
use crate::run::notify::{self, RetryPolicy, Token};
use crate::run::object::{Breaker, InternalPlanner, ObjectCtx};
use crate::run::pipeline::{self, install_signal_handlers, Options};
use crate::run::state::{default_root, job_sha256, JobDir};

/// Run a job on the drives: rotate SSE-KMS versions, convert SSE-S3 ones
/// to SSE-KMS, encrypt plaintext ones, and (when the target is the default
/// key) re-encrypt MinIO's internal data. Resumes automatically when the
/// state directory holds an unfinished run of the same job file.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The job file (YAML); before --drives, which takes every value after it.
    #[arg(value_name = "JOB")]
    job: Option<PathBuf>,
    #[command(flatten)]
    target: Target,
    /// State root (journal, report, summary); default $XDG_STATE_HOME/keyrotate.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// KMS requests in flight (worker threads).
    #[arg(long, default_value_t = 64)]
    kms_concurrency: usize,
    /// Cap KMS requests per second across all workers (default unlimited):
    /// spares a KMS that other clusters share.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    kms_rate: Option<u64>,
    /// Keep a Prometheus text-format file of the job's counters here (for
    /// node_exporter's textfile collector), rewritten every 10 s and at the end.
    #[arg(long, value_name = "PATH")]
    metrics_file: Option<PathBuf>,
    #[command(flatten)]
    window: super::window::WindowArgs,
    /// Retry the versions that failed in an earlier run of this job.
    #[arg(long)]
    retry_failed: bool,
    /// Plans per group commit (one journal fdatasync each).
    #[arg(long, default_value_t = 512, hide = true)]
    batch: usize,
    /// Skip the key proof of pre-flight (the target key unseals what is
    /// sealed under its name, every source key unseals its data). Only when
    /// a source key is gone for good: its versions then fail one by one and
    /// may stop the job at the KMS circuit breaker, and a static key with
    /// the wrong bytes is no longer caught before it seals new data.
    #[arg(long)]
    skip_key_proof: bool,
    /// Print the final summary as JSON (MinIO's batchJobInfo fields first).
    #[arg(long)]
    json: bool,
    /// When stderr is not a terminal, print a progress line this often
    /// (`10s`, `500ms`, `0.2s`; a bare number is seconds).
    #[arg(long, default_value = "10s", value_parser = parse_interval)]
    progress_interval: Duration,
}

pub fn run(mut args: Args) -> CmdResult {
    let started = std::time::Instant::now();
    let window = args.window.window(started)?;
    let job_path = args.target.job_argument(args.job.take())?;
    let (job, bytes) = read_job(&job_path)?;
    let topo = args.target.topology(false)?;
    // Held until the process ends: no other job, plan or verify meanwhile.
    let _drives = args.target.lock(&topo, Access::Exclusive)?;
    args.target.server_check(&topo)?;
    let sets = args.target.sets(&topo)?;
    args.target.require_bucket(&sets, &job.bucket)?;
    let kms = args.target.kms()?;
    let limited = args
        .kms_rate
        .map(|rate| Arc::new(crate::run::ratelimit::RateLimited::new(kms.clone(), rate)));
    let kms: Arc<dyn kms_client::Kms> = match &limited {
        Some(l) => l.clone(),
        None => kms,
    };
    let root = match &args.state_dir {
        Some(d) => d.clone(),
        None => default_root().map_err(|e| CliError::new(EXIT_PREFLIGHT, e))?,
    };
    let mut dir = JobDir::open(&root, &bytes, &topo.deployment_id.to_string())
        .map_err(|e| CliError::new(EXIT_PREFLIGHT, e))?;
    let (target, job_context) = target_key(&job, Some(kms.as_ref()));
    let notify = job.notify.clone();
    let retry = job.retry;
    let t0 = super::common::now_t0();
    // Before the first drive write (a resume's pending plans included).
    let proof = if args.skip_key_proof {
        keyproof::KeyProof::skipped(kms.as_ref(), &target)
    } else {
        prove_keys(&sets, &job, t0, kms.as_ref(), &target)?
    };
    for (warn, line) in proof.lines() {
        if warn {
            eprintln!("keyrotate: warning: {line}");
        } else if !args.json {
            outln!("{line}");
        }
    }
    let ctx = ObjectCtx {
        job,
        t0,
        caps: Capabilities::this_build(),
        kms: Some(kms),
        target,
        job_context,
        encrypt: Some(crate::run::encrypt::planner(
            crate::run::encrypt::INLINE_BLOCK,
        )),
        internal: Some(internal_planner(&sets)),
        breaker: Breaker::default(),
    };
    install_signal_handlers();
    let total = Arc::new(AtomicU64::new(UNKNOWN));
    let bar = is_tty().then(|| progress_bar(&sets, &ctx.job.bucket, &ctx.job.prefixes));
    if bar.is_none() {
        count_in_scope(&sets, &ctx.job.bucket, &ctx.job.prefixes, total.clone());
    }
    let lines = bar
        .is_none()
        .then(|| ProgressLines::start(args.progress_interval, total));
    let opts = Options {
        concurrency: args.kms_concurrency.max(1),
        batch: args.batch.max(1),
        retry_failed: args.retry_failed,
        on_resume: Some(|job_id, start| {
            eprintln!("keyrotate: resuming run {job_id} started at {start}")
        }),
        window,
    };
    let target_name = ctx.target.as_str().to_owned();
    let sha = job_sha256(&bytes);
    let mut metrics = args
        .metrics_file
        .clone()
        .map(crate::run::metrics::MetricsFile::new);
    let mut metrics_warned = false;
    let mut progress = |s: &crate::run::summary::Summary, objects: u64| {
        if let Some(m) = metrics.as_mut() {
            if let Err(e) = m.update(s, false) {
                if !std::mem::replace(&mut metrics_warned, true) {
                    eprintln!("keyrotate: metrics file: {e}");
                }
            }
        }
        match &bar {
            Some(b) => {
                b.set_position(objects);
                b.set_message(format!(
                    "done {} skipped {} failed {}",
                    s.objects, s.objects_skipped, s.objects_failed
                ));
            }
            None => {
                if let Some(l) = &lines {
                    l.update(s, objects);
                }
            }
        }
    };
    let end = pipeline::run(&mut dir, &sha, &sets, ctx, &opts, &mut progress);
    if let Some(l) = lines {
        l.finish();
    }
    let mut end = end.map_err(|e| CliError::new(EXIT_PREFLIGHT, e))?;
    if let Some(l) = &limited {
        end.summary.kms_rate = Some(l.report());
        save_summary(&dir, &end.summary);
    }
    if let Some(path) = &args.metrics_file {
        let mut m = crate::run::metrics::MetricsFile::new(path.clone());
        if let Err(e) = m.update(&end.summary, true) {
            eprintln!("keyrotate: metrics file {}: {e}", path.display());
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if let Some(endpoint) = &notify.endpoint {
        let token = notify.token.as_ref().map(|t| Token::new(t.expose()));
        let policy = RetryPolicy {
            attempts: retry.attempts,
            delay: retry.delay,
        };
        if let Err(e) = notify::send(endpoint, token.as_ref(), &end.summary, policy) {
            eprintln!("keyrotate: notification failed: {e}");
        }
    }
    if args.json {
        // The summary's own field order (MinIO's first), then the proof.
        #[derive(serde::Serialize)]
        struct Output<'a> {
            #[serde(flatten)]
            summary: &'a crate::run::summary::Summary,
            #[serde(rename = "keyProof")]
            key_proof: &'a keyproof::KeyProof,
        }
        let output = Output {
            summary: &end.summary,
            key_proof: &proof,
        };
        outln!(
            "{}",
            serde_json::to_string_pretty(&output).unwrap_or_default()
        );
    } else {
        let s = &end.summary;
        outln!(
            "{} {}: {} versions scanned, {} rotated, {} converted, {} encrypted, {} skipped, {} filtered, {} delete markers, {} failed",
            s.job_id,
            s.status,
            s.objects_scanned,
            s.objects_rotated,
            s.objects_converted,
            s.objects_encrypted,
            s.objects_skipped,
            s.objects_filtered,
            s.delete_markers_skipped,
            s.objects_failed
        );
        if s.objects_failed > 0 {
            let reasons = s
                .failed_by_reason
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect::<Vec<_>>()
                .join(", ");
            outln!(
                "{} versions failed and were left as they were ({reasons}): their lines in {} say why, and `keyrotate verify` shows their copies; once fixed (copies healed by MinIO, the KMS reachable), `keyrotate run --retry-failed` finishes them",
                s.objects_failed, s.report
            );
        }
        if let Some(r) = &s.kms_rate {
            outln!(
                "kms rate: {} requests, {}/s achieved (limit {}/s)",
                r.requests,
                r.achieved_per_second,
                r.limit_per_second
            );
        }
        if let Some(line) = s.plaintext_left_text() {
            outln!("{line}");
        }
        if !s.last_error.is_empty() {
            outln!("last error: {}", s.last_error);
        }
        let mut out = std::io::stdout().lock();
        let _ = crate::run::residue::write_text(&mut out, &s.residue, &target_name);
        drop(out);
        outln!("report: {}", s.report);
    }
    Ok(ExitCode::from(end.state.exit_code()))
}

/// The key proof of pre-flight ([`crate::run::keyproof`]): a dry pass over
/// the scope and the internal items, then test unseals; exit 3 when a key
/// is wrong or missing.
fn prove_keys(
    sets: &[crate::run::pipeline::SetDrives],
    job: &crate::job::Job,
    t0: crate::job::timestamp::Timestamp,
    kms: &dyn kms_client::Kms,
    target: &kms_client::KeyId,
) -> Result<keyproof::KeyProof, CliError> {
    let internal_applies = crate::internal::applies(kms, target);
    let evidence = keyproof::Evidence::gather(sets, job, t0, internal_applies)
        .map_err(|e| CliError::new(EXIT_PREFLIGHT, anyhow::anyhow!("key proof: {e}")))?;
    keyproof::prove(kms, target, &evidence, job.retry).map_err(|e| CliError::new(EXIT_PREFLIGHT, e))
}

/// Rewrites summary.json with what the CLI adds after the pipeline's last
/// save (the KMS rate); best effort like the pipeline's own saves.
fn save_summary(dir: &JobDir, summary: &crate::run::summary::Summary) {
    if let Ok(json) = serde_json::to_vec_pretty(summary) {
        let _ = crate::run::state::write_atomic(&dir.summary_path(), &json);
    }
}

/// Internal config re-encryption (JOB.md §14) over every set's drives; the
/// pipeline calls it once per job, only when the target is the default key.
fn internal_planner(sets: &[crate::run::pipeline::SetDrives]) -> Arc<InternalPlanner> {
    let roots: Vec<Vec<std::path::PathBuf>> = sets.iter().map(|s| s.roots.clone()).collect();
    Arc::new(move |kms: &dyn kms_client::Kms| {
        crate::internal::hook_work(&roots, kms, &mut crate::sse::OsRandom)
    })
}

/// `--progress-interval`: a duration (`10s`, `500ms`, `0.2s`) or a bare
/// number of seconds (`0.2`, `10`).
fn parse_interval(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|e| format!("{text:?}: {e}"));
    }
    if let Some(secs) = text.strip_suffix('s').and_then(|n| n.parse::<f64>().ok()) {
        return Duration::try_from_secs_f64(secs).map_err(|e| format!("{text:?}: {e}"));
    }
    match crate::job::duration::parse_nanos(text) {
        Ok(n) if n > 0 => Ok(Duration::from_nanos(u64::try_from(n).unwrap_or(u64::MAX))),
        Ok(_) => Err(format!("{text:?}: must be positive")),
        Err(e) => Err(format!("{text:?}: {e}")),
    }
}

/// The object count in scope is not known yet.
const UNKNOWN: u64 = u64::MAX;

/// The counters a progress line shows.
#[derive(Clone, Copy)]
struct Counts {
    objects: u64,
    versions_done: u64,
    skipped: u64,
    filtered: u64,
    failed: u64,
}

/// Progress for a stderr that is not a terminal (a log, journald): a thread
/// prints one line every interval, whether or not a batch finished in it
/// (a stalled KMS shows as a line whose counts do not move), with the
/// counts, the rate and, once the objects in scope are counted, the ETA.
struct ProgressLines {
    tx: Option<std::sync::mpsc::Sender<Counts>>,
    printer: Option<std::thread::JoinHandle<()>>,
}

impl ProgressLines {
    fn start(interval: Duration, total: Arc<AtomicU64>) -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<Counts>();
        let printer = std::thread::spawn(move || {
            use std::sync::mpsc::RecvTimeoutError;
            let started = Instant::now();
            let mut next = started + interval;
            // The first counts seen: objects an earlier run finished are
            // not this process's rate.
            let mut first: Option<u64> = None;
            let mut latest: Option<Counts> = None;
            loop {
                match rx.recv_timeout(next.saturating_duration_since(Instant::now())) {
                    Ok(c) => {
                        first.get_or_insert(c.objects);
                        latest = Some(c);
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        next += interval.max(Duration::from_millis(1));
                        let c = latest.unwrap_or(Counts {
                            objects: 0,
                            versions_done: 0,
                            skipped: 0,
                            filtered: 0,
                            failed: 0,
                        });
                        let done_here = c.objects.saturating_sub(first.unwrap_or(c.objects));
                        let rate = done_here as f64 / started.elapsed().as_secs_f64().max(1e-3);
                        print_progress(c, rate, total.load(Ordering::Relaxed));
                    }
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        });
        ProgressLines {
            tx: Some(tx),
            printer: Some(printer),
        }
    }

    fn update(&self, s: &crate::run::summary::Summary, objects: u64) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Counts {
                objects,
                versions_done: s.objects,
                skipped: s.objects_skipped,
                filtered: s.objects_filtered,
                failed: s.objects_failed,
            });
        }
    }

    /// Stops the lines before the summary is printed.
    fn finish(mut self) {
        drop(self.tx.take());
        if let Some(printer) = self.printer.take() {
            let _ = printer.join();
        }
    }
}

fn print_progress(c: Counts, rate: f64, total: u64) {
    use std::io::Write;
    let (of, eta) = if total == UNKNOWN {
        (String::new(), "ETA unknown (counting)".to_owned())
    } else if rate > 0.0 {
        let left = total.saturating_sub(c.objects) as f64 / rate;
        (
            format!("/{total}"),
            format!("ETA {}", human_duration(Duration::from_secs_f64(left))),
        )
    } else {
        (format!("/{total}"), "ETA unknown".to_owned())
    };
    // Not `eprintln!`: a closed log pipe must not stop the job.
    let _ = writeln!(
        std::io::stderr(),
        "keyrotate: progress: {}{of} objects, {} versions done, {} skipped, {} filtered, {} failed; {rate:.1} objects/s, {eta}",
        c.objects,
        c.versions_done,
        c.skipped,
        c.filtered,
        c.failed,
    );
}

/// `1h02m`, `3m05s`, `42s`.
fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, min, sec) => format!("{min}m{sec:02}s"),
        (h, min, _) => format!("{h}h{min:02}m"),
    }
}

/// Counts the objects in scope in the background (a directory walk, no
/// xl.meta reads) and stores the count in `total` when done.
fn count_in_scope(
    sets: &[crate::run::pipeline::SetDrives],
    bucket: &str,
    prefixes: &[String],
    total: Arc<AtomicU64>,
) {
    let roots: Vec<Vec<std::path::PathBuf>> = sets.iter().map(|s| s.roots.clone()).collect();
    let (bucket, prefixes) = (bucket.to_owned(), prefixes.to_vec());
    // Detached: it only reads directories, and the process exits when the
    // job ends, counted or not.
    std::thread::spawn(move || {
        if let Some(n) = count_objects(&roots, &bucket, &prefixes) {
            total.store(n, Ordering::Relaxed);
        }
    });
}

/// Objects in scope, or `None` when a directory cannot be listed.
fn count_objects(roots: &[Vec<PathBuf>], bucket: &str, prefixes: &[String]) -> Option<u64> {
    let mut total = 0u64;
    for set in roots {
        let set: Vec<&std::path::Path> = set.iter().map(|r| r.as_path()).collect();
        for prefix in prefixes {
            for key in crate::drives::walk::stream_roots(&set, bucket, prefix) {
                key.ok()?;
                total += 1;
            }
        }
    }
    Some(total)
}

/// The `{rate}` of a bar template: objects per second, one decimal.
fn with_rate(style: indicatif::ProgressStyle) -> indicatif::ProgressStyle {
    style.with_key(
        "rate",
        |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&super::units::rate(state.per_sec()));
        },
    )
}

/// The TTY progress bar: a spinner with the rate until a background count of
/// the objects in scope (a directory walk, no xl.meta reads) finishes, then a
/// bar with the ETA. Position is objects finished, including those an
/// earlier run of the job finished.
fn progress_bar(
    sets: &[crate::run::pipeline::SetDrives],
    bucket: &str,
    prefixes: &[String],
) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {elapsed_precise} {pos} objects ({rate}) {msg}",
        )
        .map(with_rate)
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let counted = bar.clone();
    let roots: Vec<Vec<std::path::PathBuf>> = sets.iter().map(|s| s.roots.clone()).collect();
    let (bucket, prefixes) = (bucket.to_owned(), prefixes.to_vec());
    // Detached: it only reads directories, and the process exits when the
    // job ends, counted or not.
    std::thread::spawn(move || {
        let Some(total) = count_objects(&roots, &bucket, &prefixes) else {
            return;
        };
        counted.set_length(total);
        counted.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} objects ({rate}, ETA {eta}) {msg}",
            )
            .map(with_rate)
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
    });
    bar
}
