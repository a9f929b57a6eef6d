//! The benchmark report behind `make bench`: reads one run's results and
//! writes `BENCHMARKS.md`, its SVG plots and a ratios summary.
//!
//! * `results` — the end-to-end results file (`e2e.json`), read leniently;
//! * `criterion` — criterion's saved estimates under `target/criterion`;
//! * `targets` — each scenario's ratio to its floor, checked against the
//!   issues' targets (recomputed, never trusted from the file);
//! * `fit` — the least-squares fits behind "how cost grows";
//! * `plots` — throughput vs objects / drives / KMS latency, ratios chart;
//! * `markdown` — the document and the stdout summary.
//!
//! Missing inputs or sections never fail the report: they render as "not
//! measured in this run", and unreadable parts are listed in it.

pub mod criterion;
pub mod fit;
pub mod markdown;
pub mod micro;
pub mod plots;
pub mod results;
pub mod targets;

use std::path::{Component, Path, PathBuf};

use results::E2e;

/// Where to read and write.
#[derive(Debug, Clone)]
pub struct Options {
    pub e2e: PathBuf,
    pub criterion: PathBuf,
    /// The Markdown file to write.
    pub out: PathBuf,
    /// The directory for the SVG plots.
    pub plots: PathBuf,
    /// The criterion options of this run, quoted in the report.
    pub criterion_args: Option<String>,
    /// How long the criterion step took, quoted in the report.
    pub criterion_seconds: Option<f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("drawing plot {name}: {message}")]
    Plot { name: &'static str, message: String },
}

/// What a render produced.
#[derive(Debug)]
pub struct Rendered {
    pub markdown: String,
    /// The ratios table for stdout.
    pub summary: String,
    /// Plot files written.
    pub plots: Vec<PathBuf>,
    /// Problems reading the inputs (also listed in the document).
    pub warnings: Vec<String>,
}

/// Reads the results, writes the document and the plots.
pub fn render(opts: &Options) -> Result<Rendered, ReportError> {
    let mut warnings = Vec::new();
    let e2e = load_e2e(&opts.e2e, &mut warnings);
    let benches = criterion::load(&opts.criterion, &mut warnings);
    let checked = targets::check(e2e.as_ref(), &mut warnings);

    let write = |path: &Path, bytes: &[u8]| {
        std::fs::write(path, bytes).map_err(|source| ReportError::Write {
            path: path.to_path_buf(),
            source,
        })
    };
    std::fs::create_dir_all(&opts.plots).map_err(|source| ReportError::Write {
        path: opts.plots.clone(),
        source,
    })?;
    let bars: Vec<plots::RatioBar> = checked
        .iter()
        .filter_map(|c| {
            Some(plots::RatioBar {
                name: c.name.clone(),
                ratio: c.ratio?,
                target: c.target,
            })
        })
        .collect();
    let (objects, drives, kms) = match &e2e {
        Some(e) => (
            &e.scaling_objects[..],
            &e.scaling_drives[..],
            &e.kms_latency[..],
        ),
        None => (&[][..], &[][..], &[][..]),
    };
    let drawn: [(&'static str, plots::PlotResult); 4] = [
        ("objects", plots::objects(objects)),
        ("drives", plots::drives(drives)),
        ("kms", plots::kms(kms)),
        ("ratios", plots::ratios(&bars)),
    ];
    let doc_dir = opts
        .out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut links = Vec::new();
    let mut written = Vec::new();
    for (name, result) in drawn {
        let path = opts.plots.join(format!("{name}.svg"));
        match result.map_err(|e| ReportError::Plot {
            name,
            message: e.to_string(),
        })? {
            Some(svg) => {
                write(&path, svg.as_bytes())?;
                links.push((name, relative(doc_dir, &path)));
                written.push(path);
            }
            // A plot left from an earlier run must not sit next to a report
            // that no longer has its data.
            None => {
                if path.exists() {
                    std::fs::remove_file(&path).map_err(|source| ReportError::Write {
                        path: path.clone(),
                        source,
                    })?;
                }
            }
        }
    }

    let e2e_path = opts.e2e.display().to_string();
    let criterion_path = opts.criterion.display().to_string();
    let doc = markdown::Doc {
        e2e: e2e.as_ref(),
        e2e_path: &e2e_path,
        checked: &checked,
        benches: &benches,
        criterion_path: &criterion_path,
        criterion_args: opts.criterion_args.as_deref(),
        criterion_seconds: opts.criterion_seconds,
        plots: &links,
        warnings: &warnings,
    };
    let md = markdown::document(&doc);
    write(&opts.out, md.as_bytes())?;
    let summary = markdown::summary(&checked, e2e.as_ref(), &benches);
    Ok(Rendered {
        markdown: md,
        summary,
        plots: written,
        warnings,
    })
}

fn load_e2e(path: &Path, warnings: &mut Vec<String>) -> Option<E2e> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            warnings.push(format!("e2e results {}: {e}", path.display()));
            return None;
        }
    };
    match E2e::parse(&text) {
        Ok(mut e) => {
            warnings.append(&mut e.warnings);
            Some(e)
        }
        Err(e) => {
            warnings.push(format!("e2e results {}: not JSON ({e})", path.display()));
            None
        }
    }
}

/// `to` as a `/`-separated path relative to the directory `from`, for a
/// Markdown link. Both are resolved against the current directory first.
fn relative(from: &Path, to: &Path) -> String {
    let abs = |p: &Path| {
        let p = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        // Lexical normalization: `a/./b` and `a/x/../b` name the same place.
        let mut out: Vec<String> = Vec::new();
        for c in p.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir => {
                    out.pop();
                }
                c => out.push(c.as_os_str().to_string_lossy().into_owned()),
            }
        }
        out
    };
    let (from, to) = (abs(from), abs(to));
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".into(); from.len() - common];
    parts.extend(to[common..].iter().cloned());
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::relative;
    use std::path::Path;

    #[test]
    fn relative_links() {
        assert_eq!(
            relative(Path::new("/r"), Path::new("/r/bench/plots/a.svg")),
            "bench/plots/a.svg"
        );
        assert_eq!(
            relative(Path::new("/r/docs"), Path::new("/r/bench/plots/a.svg")),
            "../bench/plots/a.svg"
        );
        assert_eq!(
            relative(Path::new("/r/./x/.."), Path::new("/r/p/a.svg")),
            "p/a.svg"
        );
    }
}
