//! `keyrotate run JOB.yaml --drives ...`: execute (or resume) a job.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use super::common::{is_tty, read_job, target_key, Target, EXIT_PREFLIGHT};
use super::{CliError, CmdResult};
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
}

pub fn run(args: Args) -> CmdResult {
    let (job, bytes) = read_job(&args.job)?;
    let topo = args.target.topology(false)?;
    args.target.server_check(&topo)?;
    let kms = args.target.kms()?;
    let root = match &args.state_dir {
        Some(d) => d.clone(),
        None => default_root().map_err(|e| CliError::new(EXIT_PREFLIGHT, e))?,
    };
    let dir = JobDir::open(&root, &bytes).map_err(|e| CliError::new(EXIT_PREFLIGHT, e))?;
    let sets = args.target.sets(&topo)?;
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
            println!("{line}");
        }
    }
    let ctx = ObjectCtx {
        job,
        t0,
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
    };
    let sha = job_sha256(&bytes);
    let mut progress = |s: &crate::run::summary::Summary, objects: u64| {
        if let Some(b) = &bar {
            b.set_position(objects);
            b.set_message(format!(
                "done {} skipped {} failed {}",
                s.objects, s.objects_skipped, s.objects_failed
            ));
        }
    };
    let end = pipeline::run(&dir, &sha, &sets, ctx, &opts, &mut progress)
        .map_err(|e| CliError::new(EXIT_PREFLIGHT, e))?;
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
        println!(
            "{}",
            serde_json::to_string_pretty(&output).unwrap_or_default()
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
        if !s.last_error.is_empty() {
            println!("last error: {}", s.last_error);
        }
        println!("report: {}", s.report);
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
