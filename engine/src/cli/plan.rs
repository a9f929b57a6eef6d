//! `keyrotate plan JOB.yaml --drives ...`: the full decision pass, without
//! writes and without KMS calls (a static key is local: its fingerprint and
//! key proof are shown).

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
    /// The job file (YAML); before --drives, which takes every value after it.
    #[arg(value_name = "JOB")]
    job: Option<PathBuf>,
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

pub fn run(mut args: Args) -> CmdResult {
    let job_path = args.target.job_argument(args.job.take())?;
    let (job, _) = read_job(&job_path)?;
    let topo = args.target.topology(false)?;
    // No `run` may rewrite the drives while they are read.
    let _drives = args
        .target
        .lock(&topo, crate::drives::lock::Access::Shared)?;
    let sets = args.target.sets(&topo)?;
    args.target.require_bucket(&sets, &job.bucket)?;
    let (mut target, job_context) = target_key(&job, None);
    // An unnamed target is the KMS default key: its name comes from the KMS
    // configuration (no KMS call), so `--list` names the new key.
    if target.as_str().is_empty() {
        if let Some(key) = args.target.default_key_name() {
            target = key;
        }
    }
    // Without KMS calls, an unnamed target is the default key; a named one
    // is the default only if the KMS says so, which `run` checks.
    let internal_applies = job.encryption.key.is_none();
    let roots: Vec<Vec<PathBuf>> = sets.iter().map(|s| s.roots.clone()).collect();
    let ctx = ObjectCtx {
        job,
        t0: super::common::now_t0(),
        caps: Capabilities::this_build(),
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
        let written = if json {
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
        // The reader is gone (`plan --list | head`): nothing more can be
        // shown, and a plan has no effect to finish.
        if written.is_err_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) {
            std::process::exit(0);
        }
    };
    let retry = ctx.job.retry;
    let target = ctx.target.clone();
    let started = std::time::Instant::now();
    let mut report = pipeline::plan(&sets, ctx, args.concurrency.max(1), &mut line)
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
    // Static keys by fingerprint, to compare with the server's, and the
    // key proof `run` would make (a static key is local: no KMS call; the
    // configuration of a remote KMS is read, not built; none is fine).
    let config = match args.target.kms_config() {
        Ok(config) => Some(config),
        Err(e) => {
            let e = e.to_string();
            if !e.contains("no KMS configured") {
                eprintln!("keyrotate: warning: KMS configuration: {e}");
            }
            None
        }
    };
    let static_keys =
        crate::run::keyproof::static_key_infos(config.as_ref().and_then(|c| c.static_keys()));
    let proof = match config {
        Some(config) if config.static_keys().is_some() => {
            let applies = internal_applies || job_key_is(&target, config.default_key());
            let evidence = crate::run::keyproof::Evidence::from_plan(&sets, &mut report, applies)
                .map_err(|e| {
                super::CliError::new(super::common::EXIT_PREFLIGHT, anyhow::anyhow!(e))
            })?;
            let kms = config
                .build()
                .map_err(|e| super::CliError::new(super::common::EXIT_PREFLIGHT, e))?;
            Some(crate::run::keyproof::prove(
                kms.as_ref(),
                &target,
                &evidence,
                retry,
            ))
        }
        _ => None,
    };
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
            map.insert(
                "staticKeys".into(),
                serde_json::to_value(&static_keys).unwrap_or_default(),
            );
            match &proof {
                Some(Ok(p)) => {
                    map.insert(
                        "keyProof".into(),
                        serde_json::to_value(p).unwrap_or_default(),
                    );
                }
                Some(Err(e)) => {
                    map.insert(
                        "keyProof".into(),
                        serde_json::json!({ "refused": e.to_string() }),
                    );
                }
                None => {}
            }
            map.insert("internal".into(), items.into());
        }
        // After `--list` lines the summary is one more JSON line, so the
        // whole output stays JSON Lines.
        let text = if list {
            serde_json::to_string(&value)
        } else {
            serde_json::to_string_pretty(&value)
        };
        outln!("{}", text.unwrap_or_default());
    } else {
        outln!("objects: {}  versions: {}", report.objects, report.versions);
        for (k, n) in &report.by_action {
            outln!("  {k}: {n}");
        }
        for (k, n) in &report.by_skip_reason {
            outln!("  skipped {k}: {n}");
        }
        for (k, n) in &report.by_failure {
            outln!("  would fail {k}: {n}");
        }
        outln!(
            "  filtered: {}  delete markers: {}",
            report.filtered,
            report.delete_markers
        );
        for (k, n) in &report.by_source_key {
            outln!("  from key {k}: {n}");
        }
        for (k, n) in &report.sealed_by_key {
            outln!("  sealed under key {k} (whatever the action): {n}");
        }
        for k in &static_keys {
            outln!(
                "static key {:?} ({}): fingerprint {}",
                k.name,
                k.role,
                k.fingerprint
            );
        }
        if let Some(Ok(p)) = &proof {
            for (_, line) in p.lines() {
                outln!("{line}");
            }
        }
        outln!(
            "bytes to rewrite: {}  KMS calls: {} decrypt, {} generate",
            super::units::bytes(report.bytes_to_rewrite),
            report.projected_kms_calls.decrypt,
            report.projected_kms_calls.generate
        );
        print_internal(&internal, internal_applies);
        outln!("{estimate}");
    }
    if let Some(Err(e)) = &proof {
        eprintln!("keyrotate: warning: run would refuse this job: {e}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether the job's key (empty: the default) is `default`.
fn job_key_is(key: &kms_client::KeyId, default: &kms_client::KeyId) -> bool {
    key.as_str().is_empty() || key == default
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
        outln!(
            "internal items (target is the default key): {}",
            items.len()
        );
    } else {
        outln!(
            "internal items: {} (re-encrypted only if the job's key is the KMS default key)",
            items.len()
        );
    }
    for (action, n) in &by_action {
        outln!("  {}: {n}", action.trim_matches('"'));
    }
    for (entry, err) in items {
        if let Some(err) = err {
            outln!("  cannot read .minio.sys/{}: {err}", entry.name);
        }
    }
}
