//! `keyrotate status [--state-dir D] [--json]`: progress of running and
//! finished runs, per deployment, from each run's `summary.json` (written at
//! every checkpoint).

use std::path::PathBuf;
use std::process::ExitCode;

use super::common::EXIT_PREFLIGHT;
use super::{CliError, CmdResult};
use crate::run::state::{default_root, summary_files};
use crate::run::summary::{JobState, Summary};

/// The state `status` gives a run whose summary says `running` but whose
/// process is gone (killed, crashed, machine rebooted): `run` resumes it.
const INTERRUPTED: &str = "interrupted";

/// Show the runs of the jobs in the state root, per deployment (newest first).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// State root; default $XDG_STATE_HOME/keyrotate.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// List every job in the state root (what `status` shows today; for
    /// scripts that want to say so).
    #[arg(long)]
    all: bool,
    /// Print the summaries as a JSON array.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> CmdResult {
    let _ = args.all;
    let root = match args.state_dir {
        Some(d) => d,
        None => default_root().map_err(|e| CliError::new(EXIT_PREFLIGHT, e))?,
    };
    let mut found: Vec<(std::time::SystemTime, Summary, bool)> = Vec::new();
    let files = summary_files(&root)
        .map_err(|e| CliError::new(EXIT_PREFLIGHT, anyhow::anyhow!("{}: {e}", root.display())))?;
    for path in files {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let Ok(s) = serde_json::from_slice::<Summary>(&bytes) else {
            continue;
        };
        let mtime = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .unwrap_or(std::time::UNIX_EPOCH);
        // <job>/<deployment>/run-NNNN/summary.json: the lock is the deployment's.
        let deployment_dir = path.parent().and_then(|run| run.parent());
        let interrupted =
            s.status == JobState::Running.as_str() && deployment_dir.is_some_and(owner_gone);
        found.push((mtime, s, interrupted));
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    if args.json {
        let v: Vec<serde_json::Value> = found
            .iter()
            .map(|(_, s, interrupted)| {
                let mut v = serde_json::to_value(s).unwrap_or_default();
                if let Some(map) = v.as_object_mut() {
                    if *interrupted {
                        map.insert("status".into(), INTERRUPTED.into());
                    }
                    map.insert("resumable".into(), resumable(s, *interrupted).into());
                }
                v
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else if found.is_empty() {
        outln!("no jobs in {}", root.display());
    } else {
        // Grouped by deployment, each group in the order of its newest run.
        let mut deployments: Vec<&str> = Vec::new();
        for (_, s, _) in &found {
            if !deployments.contains(&s.deployment_id.as_str()) {
                deployments.push(&s.deployment_id);
            }
        }
        for deployment in deployments {
            outln!("deployment {deployment}:");
            for (_, s, interrupted) in found
                .iter()
                .filter(|(_, s, _)| s.deployment_id == deployment)
            {
                let status = if *interrupted {
                    format!("{INTERRUPTED} (resumable)")
                } else if resumable(s, false) {
                    format!("{} (resumable)", s.status)
                } else {
                    s.status.clone()
                };
                outln!(
                    "  {} {status} (started {}, updated {}): {} scanned, {} done, {} skipped, {} filtered, {} failed; report {}",
                    s.job_id, s.start_time, s.last_update, s.objects_scanned, s.objects,
                    s.objects_skipped, s.objects_filtered, s.objects_failed, s.report
                );
                if let Some(line) = s.plaintext_left_text() {
                    outln!("    {line}");
                }
                if !s.last_error.is_empty() {
                    outln!("    last error: {}", s.last_error);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether the process that owned the job's directory on a deployment is
/// gone: a running `keyrotate run` holds its lock (`JobDir`) until it exits, and
/// the kernel releases it even on SIGKILL.
fn owner_gone(dir: &std::path::Path) -> bool {
    let Ok(lock) = std::fs::File::open(dir.join("lock")) else {
        // No lock file: no process ever worked here.
        return true;
    };
    // Shared, and released at once: a run starting now fails its own
    // exclusive try only within this instant.
    match lock.try_lock_shared() {
        Ok(()) => {
            let _ = lock.unlock();
            true
        }
        Err(_) => false,
    }
}

/// Whether `keyrotate run` with the same job file continues this job.
fn resumable(s: &Summary, interrupted: bool) -> bool {
    interrupted
        || [JobState::Aborted, JobState::Canceled, JobState::Paused]
            .iter()
            .any(|state| s.status == state.as_str())
}
