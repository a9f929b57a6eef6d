//! `keyrotate status [--state-dir D] [--json]`: progress of a running or
//! finished job, from its `summary.json` (written at every checkpoint).

use std::path::PathBuf;
use std::process::ExitCode;

use super::common::EXIT_PREFLIGHT;
use super::{CliError, CmdResult};
use crate::run::state::default_root;
use crate::run::summary::Summary;

/// Show the state of the jobs in the state root (newest first).
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
    let mut found: Vec<(std::time::SystemTime, Summary)> = Vec::new();
    for entry in std::fs::read_dir(&root)
        .map_err(|e| CliError::new(EXIT_PREFLIGHT, anyhow::anyhow!("{}: {e}", root.display())))?
        .flatten()
    {
        let path = entry.path().join("summary.json");
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let Ok(s) = serde_json::from_slice::<Summary>(&bytes) else {
            continue;
        };
        let mtime = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .unwrap_or(std::time::UNIX_EPOCH);
        found.push((mtime, s));
    }
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    if args.json {
        let v: Vec<&Summary> = found.iter().map(|(_, s)| s).collect();
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else if found.is_empty() {
        println!("no jobs in {}", root.display());
    } else {
        for (_, s) in &found {
            println!(
                "{} {} (started {}, updated {}): {} scanned, {} done, {} skipped, {} filtered, {} failed; report {}",
                s.job_id, s.status, s.start_time, s.last_update, s.objects_scanned, s.objects,
                s.objects_skipped, s.objects_filtered, s.objects_failed, s.report
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
