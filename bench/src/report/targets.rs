//! Each scenario checked against its target. Ratios are recomputed from the
//! measured value and floor (the file's own `ratio`/`target_met` are only
//! cross-checked), and the targets of the issues are known here so a
//! results file cannot silently loosen one.

use super::results::{E2e, Scenario};

/// A scenario the suite is expected to measure.
pub struct Known {
    pub name: &'static str,
    pub measures: &'static str,
    /// Minimum value/floor ratio set by the issues, if any.
    pub target: Option<f64>,
}

pub const KNOWN: &[Known] = &[
    Known {
        name: "rotate",
        measures: "SSE-KMS metadata rotation (static key) vs rewriting every xl.meta with temp+fsync+rename",
        target: Some(0.8),
    },
    Known {
        name: "plan_vs_cat",
        measures: "`plan` vs `find … | xargs cat` of every xl.meta",
        target: Some(1.0),
    },
    Known {
        name: "plan_vs_stdfs",
        measures: "`plan` vs reading every xl.meta with a std::fs thread pool",
        target: None,
    },
    Known {
        name: "encrypt",
        measures: "plaintext → SSE-KMS encryption vs read+write of the same bytes",
        target: Some(0.7),
    },
    Known {
        name: "kms_0.2ms",
        measures: "KMS-bound rotation, KES fixture at 0.2 ms vs concurrency / (2 × latency)",
        target: None,
    },
    Known {
        name: "kms_1ms",
        measures: "KMS-bound rotation, KES fixture at 1 ms vs concurrency / (2 × latency)",
        target: Some(0.7),
    },
    Known {
        name: "kms_5ms",
        measures: "KMS-bound rotation, KES fixture at 5 ms vs concurrency / (2 × latency)",
        target: None,
    },
];

/// The peak-RSS bound: RSS at the largest object count over the smallest.
pub const RSS_TARGET: f64 = 1.2;

/// One scenario row: measured or not.
pub struct Checked<'a> {
    pub name: String,
    pub measures: &'static str,
    pub scenario: Option<&'a Scenario>,
    pub ratio: Option<f64>,
    pub target: Option<f64>,
    pub met: Option<bool>,
}

/// Known scenarios in their fixed order (absent ones included, unmeasured),
/// then any others in file order. Disagreements with the file's own
/// figures are pushed to `warnings`.
pub fn check<'a>(e2e: Option<&'a E2e>, warnings: &mut Vec<String>) -> Vec<Checked<'a>> {
    let mut out: Vec<Checked<'a>> = KNOWN
        .iter()
        .map(|k| {
            one(
                k.name,
                k.measures,
                k.target,
                e2e.and_then(|e| e.scenario(k.name)),
                warnings,
            )
        })
        .collect();
    for s in e2e.iter().flat_map(|e| &e.scenarios) {
        if !KNOWN.iter().any(|k| k.name == s.name) {
            out.push(one(&s.name, "", None, Some(s), warnings));
        }
    }
    out
}

fn one<'a>(
    name: &str,
    measures: &'static str,
    known_target: Option<f64>,
    s: Option<&'a Scenario>,
    warnings: &mut Vec<String>,
) -> Checked<'a> {
    let mut c = Checked {
        name: name.to_string(),
        measures,
        scenario: s,
        ratio: None,
        target: known_target,
        met: None,
    };
    let Some(s) = s else { return c };
    c.ratio = match (s.value, s.floor_value) {
        (Some(v), Some(f)) if f > 0.0 => Some(v / f),
        _ => s.ratio,
    };
    if let (Some(mine), Some(theirs)) = (c.ratio, s.ratio) {
        if (mine - theirs).abs() > 0.005 * mine.abs().max(1e-9) {
            warnings.push(format!(
                "{name}: e2e wrote ratio {theirs:.4}, value/floor is {mine:.4}; the report uses value/floor"
            ));
        }
    }
    match (known_target, s.target_ratio) {
        (Some(k), Some(t)) if (k - t).abs() > 1e-9 => warnings.push(format!(
            "{name}: e2e used target {t}, the issue sets {k}; the report checks {k}"
        )),
        (None, Some(t)) => c.target = Some(t),
        _ => {}
    }
    c.met = match (c.ratio, c.target) {
        (Some(r), Some(t)) => Some(r >= t),
        _ => None,
    };
    if let (Some(mine), Some(theirs)) = (c.met, s.target_met) {
        if mine != theirs {
            warnings.push(format!(
                "{name}: e2e wrote target_met={theirs}, the recomputed check says {mine}"
            ));
        }
    }
    c
}

/// RSS flatness as checked here: (ratio large/small, target, met).
pub fn rss(e2e: Option<&E2e>) -> Option<(f64, f64, bool)> {
    let f = e2e?.rss_flatness.as_ref()?;
    if f.rss_small_mib <= 0.0 {
        return None;
    }
    let ratio = f.rss_large_mib / f.rss_small_mib;
    // The bound, whatever the file says: it cannot loosen it.
    let target = f.target.map_or(RSS_TARGET, |t| t.min(RSS_TARGET));
    Some((ratio, target, ratio <= target))
}

pub fn mark(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "✔",
        Some(false) => "✘",
        None => "—",
    }
}
