//! `keyrotate report` (the per-version audit export) and `keyrotate forget`
//! (drop a finished job's state), over the jobs of a state root.
//!
//! The CSV starts with the columns of an AWS S3 Batch Operations completion
//! report (Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode,
//! ResultMessage), then keyrotate's own (Action, OldKey, NewKey, Time), after
//! one header row. Versions not changed (skipped, filtered, delete markers)
//! are `succeeded` with the reason in ResultMessage, as a batch job reports
//! a task that had nothing to do; failed ones are `failed` with the failure
//! class as ErrorCode. Keys are written as they are (RFC 4180 quoting), not
//! URL-encoded.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Deserialize;

use super::common::EXIT_PREFLIGHT;
use super::{CliError, CmdResult, EXIT_INVALID};
use crate::run::state::default_root;
use crate::run::summary::Summary;

/// Write a job's per-version report (CSV in the S3 Batch Operations
/// completion report layout, or JSON lines) to standard output.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// State root; default $XDG_STATE_HOME/keyrotate.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// The job: its job id (`status` shows it) or state directory name;
    /// needed when the root holds several jobs.
    #[arg(long)]
    job: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    format: Format,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Format {
    Csv,
    Jsonl,
}

/// Remove a finished (completed or failed) job's state directory: its
/// journal, report and summary. Refuses a job that is unfinished (paused,
/// canceled, aborted: a later `run` would resume it) or running.
#[derive(Debug, clap::Args)]
pub struct ForgetArgs {
    /// The job id (`status` shows it) or state directory name.
    job: String,
    /// State root; default $XDG_STATE_HOME/keyrotate.
    #[arg(long)]
    state_dir: Option<PathBuf>,
}

/// One job found in a state root.
struct JobEntry {
    dir: PathBuf,
    summary: Summary,
}

fn root_of(dir: Option<PathBuf>) -> Result<PathBuf, CliError> {
    match dir {
        Some(d) => Ok(d),
        None => default_root().map_err(|e| CliError::new(EXIT_PREFLIGHT, e)),
    }
}

/// The run directories under `root` (any directory holding a readable
/// `summary.json`, up to three levels down: the state layout nests runs
/// under the job and the deployment).
fn jobs(root: &Path) -> Result<Vec<JobEntry>, CliError> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_owned(), 0)];
    while let Some((dir, depth)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if depth == 0 => {
                return Err(CliError::new(
                    EXIT_PREFLIGHT,
                    anyhow::anyhow!("{}: {e}", root.display()),
                ))
            }
            Err(_) => continue,
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            match std::fs::read(path.join("summary.json")) {
                Ok(bytes) => {
                    if let Ok(summary) = serde_json::from_slice::<Summary>(&bytes) {
                        out.push(JobEntry { dir: path, summary });
                    }
                }
                Err(_) if depth < 2 => stack.push((path, depth + 1)),
                Err(_) => {}
            }
        }
    }
    out.sort_by(|a, b| a.dir.cmp(&b.dir));
    Ok(out)
}

/// The job `want` names (job id or directory name), or the only job.
fn pick(root: &Path, want: Option<&str>) -> Result<JobEntry, CliError> {
    let all = jobs(root)?;
    let names = |all: &[JobEntry]| {
        all.iter()
            .map(|j| j.summary.job_id.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let invalid = |msg: String| CliError::new(EXIT_INVALID, anyhow::anyhow!(msg));
    match want {
        Some(w) => {
            let listed = names(&all);
            all.into_iter()
                .find(|j| j.summary.job_id == w || j.dir.file_name().is_some_and(|n| n == w))
                .ok_or_else(|| {
                    invalid(format!("no job {w} in {} (jobs: {listed})", root.display()))
                })
        }
        None if all.len() == 1 => Ok(all.into_iter().next().unwrap_or_else(|| unreachable!())),
        None if all.is_empty() => Err(invalid(format!("no jobs in {}", root.display()))),
        None => Err(invalid(format!(
            "{} holds several jobs ({}): pass --job",
            root.display(),
            names(&all)
        ))),
    }
}

/// A line of `report.jsonl` (fields as the run writes them).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Line {
    bucket: String,
    object: String,
    #[serde(default)]
    version_id: String,
    action: Option<String>,
    reason: Option<String>,
    old_key: Option<String>,
    new_key: Option<String>,
    error: Option<String>,
}

/// The CSV header: S3 Batch Operations' completion report columns, then ours.
pub const CSV_HEADER: [&str; 11] = [
    "Bucket",
    "Key",
    "VersionId",
    "TaskStatus",
    "ErrorCode",
    "HTTPStatusCode",
    "ResultMessage",
    "Action",
    "OldKey",
    "NewKey",
    "Time",
];

fn csv_row(l: &Line, time: &str) -> [String; 11] {
    let (status, code, http, message) = match (&l.action, &l.reason) {
        (Some(_), _) => ("succeeded", String::new(), "200", "Successful".to_owned()),
        (None, Some(r)) if r.starts_with("failed:") => (
            "failed",
            r.trim_start_matches("failed:").to_owned(),
            "500",
            l.error.clone().unwrap_or_default(),
        ),
        (None, Some(r)) => ("succeeded", String::new(), "200", format!("Skipped: {r}")),
        (None, None) => ("succeeded", String::new(), "200", String::new()),
    };
    [
        l.bucket.clone(),
        l.object.clone(),
        l.version_id.clone(),
        status.to_owned(),
        code,
        http.to_owned(),
        message,
        l.action
            .clone()
            .or_else(|| l.reason.clone())
            .unwrap_or_default(),
        l.old_key.clone().unwrap_or_default(),
        l.new_key.clone().unwrap_or_default(),
        time.to_owned(),
    ]
}

/// RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled.
fn csv_field(f: &str) -> String {
    if f.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f.to_owned()
    }
}

fn csv_line(fields: &[impl AsRef<str>]) -> String {
    let mut s = fields
        .iter()
        .map(|f| csv_field(f.as_ref()))
        .collect::<Vec<_>>()
        .join(",");
    s.push_str("\r\n");
    s
}

pub fn run(args: Args) -> CmdResult {
    let root = root_of(args.state_dir)?;
    let job = pick(&root, args.job.as_deref())?;
    let path = job.dir.join("report.jsonl");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CliError::new(EXIT_PREFLIGHT, anyhow::anyhow!("{}: {e}", path.display())))?;
    // Per-version times are not journaled: every row carries the time the
    // job's figures were last taken (its end time once it ended).
    let time = if job.summary.end_time.is_empty() {
        job.summary.last_update.clone()
    } else {
        job.summary.end_time.clone()
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let werr =
        |e: std::io::Error| CliError::new(1, anyhow::Error::new(e).context("writing the report"));
    if matches!(args.format, Format::Csv) {
        out.write_all(csv_line(&CSV_HEADER).as_bytes())
            .map_err(werr)?;
    }
    for (n, raw) in text.lines().enumerate() {
        // A run killed mid-write leaves a torn last line; the next run
        // rebuilds the report from the journal.
        let Ok(line) = serde_json::from_str::<Line>(raw) else {
            eprintln!(
                "keyrotate: {}: line {} unreadable, skipped",
                path.display(),
                n + 1
            );
            continue;
        };
        let bytes = match args.format {
            Format::Csv => csv_line(&csv_row(&line, &time)),
            Format::Jsonl => {
                let mut v: serde_json::Value = serde_json::from_str(raw).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("jobID".into(), job.summary.job_id.clone().into());
                    o.insert("time".into(), time.clone().into());
                }
                format!("{v}\n")
            }
        };
        out.write_all(bytes.as_bytes()).map_err(werr)?;
    }
    out.flush().map_err(werr)?;
    Ok(ExitCode::SUCCESS)
}

pub fn forget(args: ForgetArgs) -> CmdResult {
    let root = root_of(args.state_dir)?;
    let job = pick(&root, Some(&args.job))?;
    let refuse = |msg: String| CliError::new(EXIT_INVALID, anyhow::anyhow!(msg));
    // A running job holds its lock (in the run's directory or one above
    // it, up to the root); hold it while removing.
    let lock_path = job
        .dir
        .ancestors()
        .take_while(|d| *d != root.as_path())
        .map(|d| d.join("lock"))
        .find(|l| l.exists());
    let _lock = match &lock_path {
        Some(path) => {
            let lock = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| {
                    CliError::new(EXIT_PREFLIGHT, anyhow::anyhow!("{}: {e}", path.display()))
                })?;
            if lock.try_lock().is_err() {
                return Err(refuse(format!(
                    "{} is running (its state directory is locked)",
                    job.summary.job_id
                )));
            }
            Some(lock)
        }
        None => None,
    };
    let finished = job.summary.status == "completed" || job.summary.status == "failed";
    if !finished {
        return Err(refuse(format!(
            "{} is {}: a later `run` resumes it; finish it before forgetting it",
            job.summary.job_id, job.summary.status
        )));
    }
    std::fs::remove_dir_all(&job.dir)
        .map_err(|e| CliError::new(1, anyhow::anyhow!("removing {}: {e}", job.dir.display())))?;
    // Parents left with no run under them (only a lock or the stored job
    // file) go too.
    for dir in job
        .dir
        .ancestors()
        .skip(1)
        .take_while(|d| *d != root.as_path())
    {
        let left: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
            .map(|e| e.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        if left.iter().any(|p| p.is_dir()) {
            break;
        }
        let _ = std::fs::remove_dir_all(dir);
    }
    println!("forgot {} ({})", job.summary.job_id, job.dir.display());
    Ok(ExitCode::SUCCESS)
}
