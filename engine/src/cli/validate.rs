//! `keyrotate validate JOB.yaml [--json]`: the static checks of JOB.md §4.
//! Exit 0 when valid, 2 when not; every problem is listed.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

use super::{CliError, CmdResult, EXIT_INVALID};
use crate::job::{self, JobError};

/// Check a job file without touching drives or the KMS.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The job file (YAML).
    job: PathBuf,
    /// Print the result as JSON: {"file", "valid", "errors": [{id, path, message, line, column, hint?}]}.
    #[arg(long)]
    json: bool,
}

/// The `--json` document.
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    /// The file checked.
    pub file: String,
    /// No errors.
    pub valid: bool,
    /// Every problem, in file order.
    pub errors: &'a [JobError],
}

pub fn run(args: Args) -> CmdResult {
    let bytes = std::fs::read(&args.job)
        .with_context(|| format!("reading job file {}", args.job.display()))
        .map_err(|e| CliError::new(EXIT_INVALID, e))?;
    let errors = match std::str::from_utf8(&bytes) {
        Ok(text) => job::validate(text),
        Err(e) => vec![JobError {
            id: job::Rule::V1,
            path: String::new(),
            message: format!("invalid YAML: the file is not UTF-8 ({e})"),
            line: 1,
            column: 1,
            hint: None,
        }],
    };
    let file = args.job.display().to_string();
    if args.json {
        let report = Report {
            file,
            valid: errors.is_empty(),
            errors: &errors,
        };
        let text = serde_json::to_string_pretty(&report).map_err(|e| CliError::new(1, e))?;
        outln!("{text}");
    } else if errors.is_empty() {
        outln!("{file}: valid");
    } else {
        eprintln!("{file}: {} problem(s)", errors.len());
        for e in &errors {
            eprintln!("  {e}");
            if let Some(h) = &e.hint {
                eprintln!("      hint: {h}");
            }
        }
    }
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_INVALID)
    })
}
