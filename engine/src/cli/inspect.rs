//! `keyrotate inspect`: decode xl.meta files and print every version.
//!
//! Text output is for people; `--json` prints the structure of MinIO's own
//! `xl-meta` debugging tool (see `xlmeta::minio_json`) so both tools'
//! outputs can be compared; `--check` verifies the CRC and every version
//! signature and exits 1 on any mismatch or undecodable file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use base64::Engine as _;
use xlmeta::uuid::format_uuid;
use xlmeta::{VersionBody, XlMeta};

use super::{CliError, CmdResult};

/// Exit code when a file fails to decode or verify.
const EXIT_FAILED: u8 = 1;

/// Decode xl.meta files and print every version.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// xl.meta files to decode.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Print the JSON structure of MinIO's `xl-meta` tool instead of text.
    #[arg(long)]
    json: bool,
    /// Verify the CRC and every version signature; exit 1 on a mismatch.
    #[arg(long)]
    check: bool,
}

pub fn run(args: Args) -> CmdResult {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failed = false;
    let mut json_files = serde_json::Map::new();
    for path in &args.paths {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("keyrotate: {}: {e}", path.display());
                failed = true;
                continue;
            }
        };
        let xl = match XlMeta::parse(&bytes) {
            Ok(xl) => xl,
            Err(e) => {
                eprintln!("keyrotate: {}: {e}", path.display());
                failed = true;
                continue;
            }
        };
        if args.check {
            for problem in xl.verify_all() {
                eprintln!("keyrotate: {}: {problem}", path.display());
                failed = true;
            }
        }
        if args.json {
            let value = xlmeta::minio_json::to_minio_json(&xl)
                .with_context(|| format!("{}: converting to JSON", path.display()))
                .map_err(|e| CliError::new(EXIT_FAILED, e))?;
            json_files.insert(path.display().to_string(), value);
        } else {
            if let Err(e) = print_text(&mut out, path, &xl) {
                // A closed pipe (`| head`) is the reader's choice, not a failure.
                if is_broken_pipe(&e) {
                    return Ok(ExitCode::SUCCESS);
                }
                return Err(CliError::new(EXIT_FAILED, e));
            }
        }
    }
    if args.json {
        // One file: its object, as the MinIO tool prints it; several: keyed by path.
        let value = if args.paths.len() == 1 && json_files.len() == 1 {
            json_files
                .into_iter()
                .next()
                .map(|(_, v)| v)
                .unwrap_or_default()
        } else {
            serde_json::Value::Object(json_files)
        };
        let text =
            serde_json::to_string_pretty(&value).map_err(|e| CliError::new(EXIT_FAILED, e))?;
        writeln!(out, "{text}").map_err(|e| CliError::new(EXIT_FAILED, e))?;
    }
    Ok(if failed {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<std::io::Error>()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

/// A MetaSys value for display: text when printable, else base64.
fn show_bytes(v: &[u8]) -> String {
    match std::str::from_utf8(v) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => format!("{s:?}"),
        _ => format!(
            "base64:{}",
            base64::engine::general_purpose::STANDARD.encode(v)
        ),
    }
}

fn print_text(out: &mut impl Write, path: &Path, xl: &XlMeta<'_>) -> anyhow::Result<()> {
    let (major, minor) = xl.container_version();
    writeln!(out, "{}:", path.display())?;
    write!(out, "  container {major}.{minor}")?;
    if !xl.is_legacy_container() {
        write!(
            out,
            ", header version {}, meta version {}",
            xl.header_version(),
            xl.meta_version()
        )?;
    }
    if let (Some(stored), Some(computed)) = (xl.stored_crc(), xl.computed_crc()) {
        write!(out, ", CRC {stored:08x} (computed {computed:08x})")?;
    }
    writeln!(out, ", {} version(s)", xl.versions().len())?;
    for (i, v) in xl.versions().iter().enumerate() {
        let h = v.header();
        writeln!(
            out,
            "  [{i}] {} {} mod_time={} ({}) signature={} flags={} EcM={} EcN={}",
            h.vtype.name(),
            if h.is_null_version() {
                "null".to_owned()
            } else {
                format_uuid(&h.version_id)
            },
            h.mod_time,
            xlmeta::time::format_rfc3339_nano(h.mod_time),
            hex::encode(h.signature),
            h.flags,
            h.ec_m,
            h.ec_n,
        )?;
        let meta = v
            .meta()
            .with_context(|| format!("{}: version {i}", path.display()))?;
        if meta.has_unknown_keys() {
            writeln!(out, "      unknown keys: {}", meta.unknown_keys.join(", "))?;
        }
        match &meta.body {
            VersionBody::Object(o) => {
                writeln!(
                    out,
                    "      data_dir={} EC {}+{} block={} index={} dist={:?} size={} parts={} v={}",
                    format_uuid(&o.data_dir),
                    o.ec_m,
                    o.ec_n,
                    o.ec_block_size,
                    o.ec_index,
                    o.ec_dist,
                    o.size,
                    o.part_numbers.len(),
                    meta.written_by_version,
                )?;
                for (n, (num, size)) in o.part_numbers.iter().zip(&o.part_sizes).enumerate().take(8)
                {
                    let actual = o.part_actual_sizes.as_ref().and_then(|a| a.get(n));
                    let etag = o.part_etags.as_ref().and_then(|t| t.get(n));
                    writeln!(
                        out,
                        "      part {num}: size={size} actual={actual:?} etag={etag:?}"
                    )?;
                }
                if o.part_numbers.len() > 8 {
                    writeln!(out, "      … {} more parts", o.part_numbers.len() - 8)?;
                }
                for (k, val) in o.meta_sys.iter().flatten() {
                    writeln!(out, "      MetaSys {k} = {}", show_bytes(val))?;
                }
                for (k, val) in o.meta_usr.iter().flatten() {
                    writeln!(out, "      MetaUsr {k} = {val:?}")?;
                }
                if let Some(data) = xl.version_inline_data(i)? {
                    writeln!(out, "      inline data: {} bytes", data.len())?;
                }
            }
            VersionBody::Delete(d) => {
                for (k, val) in d.meta_sys.iter().flatten() {
                    writeln!(out, "      MetaSys {k} = {}", show_bytes(val))?;
                }
            }
            VersionBody::Legacy(l) => {
                writeln!(
                    out,
                    "      legacy {} size={} EC {}+{} index={} parts={} data_dir={}",
                    l.version,
                    l.stat.size,
                    l.erasure.data_blocks,
                    l.erasure.parity_blocks,
                    l.erasure.index,
                    l.parts.len(),
                    l.data_dir
                )?;
            }
        }
    }
    let keys: Vec<&str> = xl.inline_data().keys().collect();
    if !keys.is_empty() {
        writeln!(out, "  inline data keys: {}", keys.join(", "))?;
    }
    Ok(())
}
