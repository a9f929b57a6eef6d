//! `keyrotate verify --drives ... [--bucket B --prefix P] [--data]`.

use std::process::ExitCode;

use super::common::Target;
use super::CmdResult;
use crate::run::verify::{verify, VerifyReport};

/// Check that every version is identical on all drives (sealed fields
/// included), that its key unseals with the KMS, and with --data that it
/// decrypts with clean bitrot checksums. Reports what is still plaintext,
/// SSE-S3, or under each KMS key. Exit 1 when anything is wrong.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: Target,
    /// Only this bucket (default: every bucket).
    #[arg(long)]
    bucket: Option<String>,
    /// Only objects below this prefix.
    #[arg(long, default_value = "")]
    prefix: String,
    /// Also read, bitrot-check and decrypt every version's data.
    #[arg(long)]
    data: bool,
    /// Do not contact the KMS (no unseal checks).
    #[arg(long)]
    no_kms: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> CmdResult {
    let topo = args.target.topology(false)?;
    // No `run` may rewrite the drives while they are read.
    let _drives = args
        .target
        .lock(&topo, crate::drives::lock::Access::Shared)?;
    let sets = args.target.sets(&topo)?;
    let kms = if args.no_kms {
        None
    } else {
        Some(args.target.kms()?)
    };
    let buckets = match &args.bucket {
        Some(b) => vec![b.clone()],
        None => {
            let root = sets
                .first()
                .and_then(|s| s.roots.first())
                .cloned()
                .unwrap_or_default();
            let mut v: Vec<String> = std::fs::read_dir(&root)
                .map_err(|e| super::CliError::new(3, anyhow::anyhow!("{}: {e}", root.display())))?
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .filter(|n| n != ".minio.sys")
                .collect();
            v.sort();
            v
        }
    };
    let mut report = VerifyReport::default();
    for b in &buckets {
        verify(
            &sets,
            kms.as_deref(),
            b,
            &args.prefix,
            args.data,
            &mut report,
        )
        .map_err(|e| super::CliError::new(3, anyhow::anyhow!(e)))?;
    }
    let target = kms
        .as_deref()
        .map_or_else(String::new, |k| k.default_key().as_str().to_owned());
    // MinIO's internal encrypted data is cluster-wide: checked unless the
    // operator narrowed the scope to one bucket.
    if let (Some(kms), None) = (kms.as_deref(), &args.bucket) {
        let roots: Vec<Vec<std::path::PathBuf>> = sets.iter().map(|s| s.roots.clone()).collect();
        crate::run::residue::add_internal(&mut report.residue, &roots, &target)
            .map_err(|e| super::CliError::new(3, anyhow::anyhow!(e)))?;
        let items = crate::internal::discover(&roots)
            .map_err(|e| super::CliError::new(3, anyhow::anyhow!(e)))?;
        report.internal_checked = items.len() as u64;
        let problems = crate::internal::verify(&roots, kms, None)
            .map_err(|e| super::CliError::new(3, anyhow::anyhow!(e)))?;
        report
            .problems
            .extend(problems.into_iter().map(|e| format!("internal: {e}")));
    }
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        outln!(
            "{} objects, {} versions, {} delete markers: {} plaintext, {} SSE-S3, {} SSE-C",
            report.objects,
            report.versions,
            report.delete_markers,
            report.plaintext,
            report.sse_s3,
            report.sse_c
        );
        for (k, n) in &report.sse_kms_by_key {
            outln!("  SSE-KMS under {k:?}: {n}");
        }
        for (k, n) in &report.sse_s3_by_key {
            outln!("  SSE-S3 under {k:?}: {n}");
        }
        if args.data {
            outln!("  data decrypted and checked: {}", report.data_checked);
        }
        outln!("  internal items checked: {}", report.internal_checked);
        let target = if target.is_empty() {
            "(no KMS)"
        } else {
            target.as_str()
        };
        let mut out = std::io::stdout().lock();
        let _ = crate::run::residue::write_text(&mut out, &report.residue, target);
        drop(out);
        for p in &report.problems {
            outln!("PROBLEM {p}");
        }
        outln!(
            "{}",
            if report.problems.is_empty() {
                "OK"
            } else {
                "PROBLEMS FOUND"
            }
        );
    }
    Ok(if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
