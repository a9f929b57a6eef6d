//! `keyrotate plan JOB.yaml --drives ...`: the full decision pass, without
//! writes and without KMS calls.

use std::path::PathBuf;
use std::process::ExitCode;

use super::common::{read_job, target_key, Target};
use super::CmdResult;
use crate::job::decide::Capabilities;
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
    /// KMS requests per second the run will be capped at (`run
    /// --kms-rate`), for the duration estimate.
    #[arg(long, value_name = "N")]
    kms_rate: Option<u64>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> CmdResult {
    let (job, _) = read_job(&args.job)?;
    let topo = args.target.topology(false)?;
    // No `run` may rewrite the drives while they are read.
    let _drives = args
        .target
        .lock(&topo, crate::drives::lock::Access::Shared)?;
    let sets = args.target.sets(&topo)?;
    let (target, job_context) = target_key(&job, None);
    // Without KMS calls, an unnamed target is the default key; a named one
    // is the default only if the KMS says so, which `run` checks.
    let internal_applies = job.encryption.key.is_none();
    let roots: Vec<Vec<PathBuf>> = sets.iter().map(|s| s.roots.clone()).collect();
    let ctx = ObjectCtx {
        job,
        t0: super::common::now_t0(),
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
    let started = std::time::Instant::now();
    let report = pipeline::plan(&sets, ctx, args.concurrency.max(1), &mut line)
        .map_err(|e| super::CliError::new(super::common::EXIT_PREFLIGHT, anyhow::anyhow!(e)))?;
    drop(out);
    // Text output only: it is a timing, and `--json` stays the same for
    // the same drives.
    let estimate = super::window::estimate(
        report.versions,
        started.elapsed(),
        report.projected_kms_calls.decrypt + report.projected_kms_calls.generate,
        args.kms_rate,
        report.bytes_to_rewrite,
    );
    let internal = crate::internal::survey(&roots)
        .map_err(|e| super::CliError::new(super::common::EXIT_PREFLIGHT, e))?;
    if json {
        let mut value = serde_json::to_value(&report).unwrap_or_default();
        if let Some(map) = value.as_object_mut() {
            let items: Vec<serde_json::Value> = internal
                .iter()
                .map(|(entry, err)| {
                    let mut v = serde_json::to_value(entry).unwrap_or_default();
                    if let (Some(err), Some(m)) = (err, v.as_object_mut()) {
                        m.insert("error".into(), err.to_string().into());
                    }
                    v
                })
                .collect();
            map.insert("internalApplies".into(), internal_applies.into());
            map.insert("internal".into(), items.into());
        }
        // After `--list` lines the summary is one more JSON line, so the
        // whole output stays JSON Lines.
        let text = if list {
            serde_json::to_string(&value)
        } else {
            serde_json::to_string_pretty(&value)
        };
        println!("{}", text.unwrap_or_default());
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
        print_internal(&internal, internal_applies);
        println!("{estimate}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The internal-data part of the text output (JOB.md §14).
fn print_internal(
    items: &[(
        crate::internal::SurveyEntry,
        Option<crate::internal::InternalError>,
    )],
    applies: bool,
) {
    let mut by_action = std::collections::BTreeMap::new();
    for (entry, _) in items {
        *by_action
            .entry(serde_json::to_string(&entry.action).unwrap_or_default())
            .or_insert(0u64) += 1;
    }
    if applies {
        println!(
            "internal items (target is the default key): {}",
            items.len()
        );
    } else {
        println!(
            "internal items: {} (re-encrypted only if the job's key is the KMS default key)",
            items.len()
        );
    }
    for (action, n) in &by_action {
        println!("  {}: {n}", action.trim_matches('"'));
    }
    for (entry, err) in items {
        if let Some(err) = err {
            println!("  cannot read .minio.sys/{}: {err}", entry.name);
        }
    }
}
