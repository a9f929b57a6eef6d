//! Criterion 0.5's saved results: every `<dir>/new/benchmark.json` (ids and
//! the declared throughput) with its `new/estimates.json` (nanoseconds per
//! iteration) under `target/criterion`. The typical time is the slope
//! estimate when criterion fitted one (linear sampling), else the mean: the
//! same figure criterion prints as `time:`.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Deserialize;

/// One benchmark's result.
#[derive(Debug, Clone)]
pub struct Bench {
    /// `group/function[/value]`, as criterion names it.
    pub id: String,
    /// Typical time per iteration, with its 95% confidence interval.
    pub ns: f64,
    pub ns_low: f64,
    pub ns_high: f64,
    pub throughput: Option<Throughput>,
    /// When criterion wrote the estimates.
    pub written: Option<SystemTime>,
}

/// Work per iteration, as declared with `group.throughput(..)`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub enum Throughput {
    Bytes(u64),
    BytesDecimal(u64),
    Elements(u64),
}

impl Bench {
    /// Throughput at the typical time, formatted with its unit.
    pub fn throughput_text(&self) -> Option<String> {
        let t = self.throughput?;
        if self.ns <= 0.0 {
            return None;
        }
        let per_s = 1e9 / self.ns;
        Some(match t {
            Throughput::Bytes(n) => {
                let b = n as f64 * per_s;
                if b >= 1024.0 * 1024.0 * 1024.0 {
                    format!("{} GiB/s", sig(b / (1024.0 * 1024.0 * 1024.0)))
                } else {
                    format!("{} MiB/s", sig(b / (1024.0 * 1024.0)))
                }
            }
            Throughput::BytesDecimal(n) => format!("{} MB/s", sig(n as f64 * per_s / 1e6)),
            Throughput::Elements(n) => format!("{} elem/s", si(n as f64 * per_s)),
        })
    }
}

#[derive(Deserialize)]
struct BenchmarkJson {
    full_id: String,
    throughput: Option<Throughput>,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
    confidence_interval: Interval,
}

#[derive(Deserialize)]
struct Interval {
    lower_bound: f64,
    upper_bound: f64,
}

#[derive(Deserialize)]
struct EstimatesJson {
    mean: Estimate,
    slope: Option<Estimate>,
}

/// Reads every benchmark under `root`, sorted by id. A missing root is an
/// empty list; an unreadable benchmark is skipped with a warning.
pub fn load(root: &Path, warnings: &mut Vec<String>) -> Vec<Bench> {
    let mut dirs = Vec::new();
    find_new_dirs(root, &mut dirs);
    let mut out: Vec<Bench> = dirs
        .into_iter()
        .filter_map(|dir| match read_one(&dir) {
            Ok(b) => Some(b),
            Err(e) => {
                warnings.push(format!("criterion: {}: {e}; skipped", dir.display()));
                None
            }
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

fn find_new_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let p = e.path();
        if e.file_name() == "new" {
            if p.join("benchmark.json").is_file() {
                out.push(p);
            }
        } else if e.file_name() != "report" {
            find_new_dirs(&p, out);
        }
    }
}

fn read_one(dir: &Path) -> Result<Bench, String> {
    let read = |name: &str| std::fs::read(dir.join(name)).map_err(|e| format!("{name}: {e}"));
    let meta: BenchmarkJson = serde_json::from_slice(&read("benchmark.json")?)
        .map_err(|e| format!("benchmark.json: {e}"))?;
    let est: EstimatesJson = serde_json::from_slice(&read("estimates.json")?)
        .map_err(|e| format!("estimates.json: {e}"))?;
    let typical = est.slope.unwrap_or(est.mean);
    let written = std::fs::metadata(dir.join("estimates.json"))
        .and_then(|m| m.modified())
        .ok();
    Ok(Bench {
        id: meta.full_id,
        ns: typical.point_estimate,
        ns_low: typical.confidence_interval.lower_bound,
        ns_high: typical.confidence_interval.upper_bound,
        throughput: meta.throughput,
        written,
    })
}

/// A duration in nanoseconds with an adaptive unit, 3–4 significant digits.
pub fn duration(ns: f64) -> String {
    if ns < 1e3 {
        format!("{} ns", sig(ns))
    } else if ns < 1e6 {
        format!("{} µs", sig(ns / 1e3))
    } else if ns < 1e9 {
        format!("{} ms", sig(ns / 1e6))
    } else {
        format!("{} s", sig(ns / 1e9))
    }
}

/// A count per second with a K/M/G prefix.
fn si(v: f64) -> String {
    if v >= 1e9 {
        format!("{} G", sig(v / 1e9))
    } else if v >= 1e6 {
        format!("{} M", sig(v / 1e6))
    } else if v >= 1e3 {
        format!("{} K", sig(v / 1e3))
    } else {
        sig(v)
    }
}

/// About four significant digits, without scientific notation.
pub fn sig(v: f64) -> String {
    // -0.0 (a fitted slope of exactly zero, say) prints as 0.
    let v = if v == 0.0 { 0.0 } else { v };
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(duration(12.5), "12.50 ns");
        assert_eq!(duration(1_500.0), "1.500 µs");
        assert_eq!(duration(2_345_678.0), "2.346 ms");
        assert_eq!(duration(3e9), "3.000 s");
        let b = |t| Bench {
            id: String::new(),
            ns: 1e6,
            ns_low: 0.0,
            ns_high: 0.0,
            throughput: Some(t),
            written: None,
        };
        // 1 MiB in 1 ms is 1000 MiB/s; 1 GiB in 1 ms is ~977 GiB/s.
        assert_eq!(
            b(Throughput::Bytes(1 << 20)).throughput_text().unwrap(),
            "1000 MiB/s"
        );
        assert_eq!(
            b(Throughput::Bytes(1 << 30)).throughput_text().unwrap(),
            "1000 GiB/s"
        );
        assert_eq!(
            b(Throughput::BytesDecimal(1_000_000))
                .throughput_text()
                .unwrap(),
            "1000 MB/s"
        );
        assert_eq!(
            b(Throughput::Elements(4)).throughput_text().unwrap(),
            "4.000 K elem/s"
        );
    }
}
