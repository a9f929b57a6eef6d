//! `keyrotate run JOB.yaml --drives ...`: execute (or resume) a job.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use super::common::{is_tty, read_job, target_key, Target, EXIT_PREFLIGHT};
use super::{CliError, CmdResult};
use crate::drives::lock::Access;
use crate::job::decide::Capabilities;
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
    /// The job file (YAML).
    job: PathBuf,
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
    /// Print the final summary as JSON (MinIO's batchJobInfo fields first).
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> CmdResult {
    let started = std::time::Instant::now();
    let window = args.window.window(started)?;
    let (job, bytes) = read_job(&args.job)?;
    let topo = args.target.topology(false)?;
    // Held until the process ends: no other job, plan or verify meanwhile.
    let _drives = args.target.lock(&topo, Access::Exclusive)?;
    args.target.server_check(&topo)?;
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
    let dir = JobDir::open(&root, &bytes).map_err(|e| CliError::new(EXIT_PREFLIGHT, e))?;
    let sets = args.target.sets(&topo)?;
    let (target, job_context) = target_key(&job, Some(kms.as_ref()));
    let notify = job.notify.clone();
    let retry = job.retry;
    let ctx = ObjectCtx {
        job,
        t0: super::common::now_t0(),
        caps: Capabilities::default(),
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
    let bar = is_tty().then(|| progress_bar(&sets, &ctx.job.bucket, &ctx.job.prefixes));
    let opts = Options {
        concurrency: args.kms_concurrency.max(1),
        batch: args.batch.max(1),
        retry_failed: args.retry_failed,
        window,
    };
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
        if let Some(b) = &bar {
            b.set_position(objects);
            b.set_message(format!(
                "done {} skipped {} failed {}",
                s.objects, s.objects_skipped, s.objects_failed
            ));
        }
    };
    let mut end = pipeline::run(&dir, &sha, &sets, ctx, &opts, &mut progress)
        .map_err(|e| CliError::new(EXIT_PREFLIGHT, e))?;
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
        println!(
            "{}",
            serde_json::to_string_pretty(&end.summary).unwrap_or_default()
        );
    } else {
        let s = &end.summary;
        println!(
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
        if let Some(r) = &s.kms_rate {
            println!(
                "kms rate: {} requests, {}/s achieved (limit {}/s)",
                r.requests, r.achieved_per_second, r.limit_per_second
            );
        }
        if !s.last_error.is_empty() {
            println!("last error: {}", s.last_error);
        }
        println!("report: {}", s.report);
    }
    Ok(ExitCode::from(end.state.exit_code()))
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
            "{spinner} {elapsed_precise} {pos} objects ({per_sec}) {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let counted = bar.clone();
    let roots: Vec<Vec<std::path::PathBuf>> = sets.iter().map(|s| s.roots.clone()).collect();
    let (bucket, prefixes) = (bucket.to_owned(), prefixes.to_vec());
    // Detached: it only reads directories, and the process exits when the
    // job ends, counted or not.
    std::thread::spawn(move || {
        let mut total = 0u64;
        for set in &roots {
            let set: Vec<&std::path::Path> = set.iter().map(|r| r.as_path()).collect();
            for prefix in &prefixes {
                for key in crate::drives::walk::stream_roots(&set, &bucket, prefix) {
                    if key.is_err() {
                        return;
                    }
                    total += 1;
                }
            }
        }
        counted.set_length(total);
        counted.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} objects ({per_sec}, ETA {eta}) {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
    });
    bar
}
