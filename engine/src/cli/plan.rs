//! `keyrotate plan JOB.yaml --drives ...`: the full decision pass, without
//! writes and without KMS calls.

use std::path::PathBuf;
use std::process::ExitCode;

use super::common::{read_job, target_key, Target};
use super::CmdResult;
use crate::job::decide::Capabilities;
use crate::job::timestamp::Timestamp;
use crate::run::object::{Breaker, ObjectCtx};
use crate::run::pipeline;
use crate::run::record::ReportLine;

/// Show what a job would do: counts per action, skip reason and source KMS
/// key, bytes to rewrite and projected KMS calls. Writes nothing.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The job file (YAML).
    job: PathBuf,
    #[command(flatten)]
    target: Target,
    /// Print one line per version (JSON lines with --json).
    #[arg(long)]
    list: bool,
    /// Worker threads.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> CmdResult {
    let (job, _) = read_job(&args.job)?;
    let topo = args.target.topology(false)?;
    let sets = args.target.sets(&topo)?;
    let (target, job_context) = target_key(&job, None);
    let ctx = ObjectCtx {
        job,
        t0: Timestamp::from_unix_nanos(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as i64)
                .unwrap_or(0),
        ),
        caps: Capabilities::default(),
        kms: None,
        target,
        job_context,
        encrypt: None,
        internal: None,
        breaker: Breaker::default(),
    };
    let (list, json) = (args.list, args.json);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut line = |v: &crate::run::plan::VersionChange| {
        use std::io::Write;
        if !list {
            return;
        }
        let l = ReportLine::of(v);
        let _ = if json {
            writeln!(out, "{}", serde_json::to_string(&l).unwrap_or_default())
        } else {
            writeln!(
                out,
                "{}/{} {} {}",
                l.bucket,
                l.object,
                if l.version_id.is_empty() {
                    "null"
                } else {
                    l.version_id
                },
                l.action
                    .map_or_else(|| l.reason.clone().unwrap_or_default(), str::to_owned)
            )
        };
    };
    let report = pipeline::plan(&sets, ctx, args.concurrency.max(1), &mut line)
        .map_err(|e| super::CliError::new(super::common::EXIT_PREFLIGHT, anyhow::anyhow!(e)))?;
    drop(out);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        println!("objects: {}  versions: {}", report.objects, report.versions);
        for (k, n) in &report.by_action {
            println!("  {k}: {n}");
        }
        for (k, n) in &report.by_skip_reason {
            println!("  skipped {k}: {n}");
        }
        for (k, n) in &report.by_failure {
            println!("  would fail {k}: {n}");
        }
        println!(
            "  filtered: {}  delete markers: {}",
            report.filtered, report.delete_markers
        );
        for (k, n) in &report.by_source_key {
            println!("  from key {k}: {n}");
        }
        println!(
            "bytes to rewrite: {}  KMS calls: {} decrypt, {} generate",
            report.bytes_to_rewrite,
            report.projected_kms_calls.decrypt,
            report.projected_kms_calls.generate
        );
    }
    Ok(ExitCode::SUCCESS)
}
