//! `run --metrics-file PATH`: the run's counters as a Prometheus text-format
//! file for node_exporter's textfile collector.
//!
//! The file is rewritten whole (temporary file in the same directory, then
//! rename), so the collector never reads half a file; every series carries
//! the job id. Counters are the job's totals (a resumed job's include the
//! earlier runs'), the same figures as `status` and `run --json`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::summary::Summary;
use crate::job::timestamp::Timestamp;

/// How often a run rewrites the metrics file (and once at the end).
pub const INTERVAL: Duration = Duration::from_secs(10);

/// States the `keyrotate_run_state` gauge lists (one is 1, the others 0).
const STATES: [&str; 6] = [
    "running",
    "completed",
    "failed",
    "aborted",
    "canceled",
    "paused",
];

/// Renders the summary in the Prometheus text exposition format (0.0.4).
pub fn render(s: &Summary) -> String {
    let job = escape(&s.job_id);
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            let sep = if labels.is_empty() { "" } else { "," };
            let _ = writeln!(out, "{name}{{job_id=\"{job}\"{sep}{labels}}} {value}");
        }
    };
    let n = |v: u64| v as f64;
    family(
        "keyrotate_versions_total",
        "counter",
        "Versions changed, by action.",
        &[
            ("action=\"rotate\"".into(), n(s.objects_rotated)),
            ("action=\"convert\"".into(), n(s.objects_converted)),
            ("action=\"encrypt\"".into(), n(s.objects_encrypted)),
        ],
    );
    family(
        "keyrotate_versions_scanned_total",
        "counter",
        "Versions listed and decided.",
        &[(String::new(), n(s.objects_scanned))],
    );
    let skipped: Vec<(String, f64)> = s
        .skipped_by_reason
        .iter()
        .map(|(r, v)| (format!("reason=\"{}\"", escape(r)), n(*v)))
        .chain([(
            "reason=\"deleteMarker\"".to_owned(),
            n(s.delete_markers_skipped),
        )])
        .collect();
    family(
        "keyrotate_versions_skipped_total",
        "counter",
        "Versions matched but not eligible, by reason.",
        &skipped,
    );
    family(
        "keyrotate_versions_filtered_total",
        "counter",
        "Versions excluded by the job's filters.",
        &[(String::new(), n(s.objects_filtered))],
    );
    let failed: Vec<(String, f64)> = s
        .failed_by_reason
        .iter()
        .map(|(r, v)| (format!("reason=\"{}\"", escape(r)), n(*v)))
        .collect();
    family(
        "keyrotate_versions_failed_total",
        "counter",
        "Versions that failed after all tries, by reason.",
        &failed,
    );
    family(
        "keyrotate_bytes_rewritten_total",
        "counter",
        "Stored bytes of the versions changed (MinIO's bytesTransferred).",
        &[(String::new(), n(s.bytes_transferred))],
    );
    family(
        "keyrotate_kms_requests_total",
        "counter",
        "KMS requests, by kind.",
        &[
            ("kind=\"decrypt\"".into(), n(s.kms_calls.decrypt)),
            ("kind=\"generate\"".into(), n(s.kms_calls.generate)),
        ],
    );
    let failed_by = |r: &str| n(s.failed_by_reason.get(r).copied().unwrap_or(0));
    family(
        "keyrotate_kms_errors_total",
        "counter",
        "Versions that failed on a KMS error after all tries.",
        &[(String::new(), failed_by("kms"))],
    );
    family(
        "keyrotate_drive_write_errors_total",
        "counter",
        "Versions that failed on a drive read or write error.",
        &[(String::new(), failed_by("io"))],
    );
    let status = state_of(&s.status);
    let states: Vec<(String, f64)> = STATES
        .iter()
        .map(|st| {
            (
                format!("state=\"{st}\""),
                if *st == status { 1.0 } else { 0.0 },
            )
        })
        .collect();
    family(
        "keyrotate_run_state",
        "gauge",
        "The job's state: 1 for the current one.",
        &states,
    );
    let secs =
        |t: &str| Timestamp::parse(t).map_or(0.0, |t| (t.unix_nanos() / 1_000_000_000) as f64);
    family(
        "keyrotate_start_time_seconds",
        "gauge",
        "When the job started, seconds since the Unix epoch.",
        &[(String::new(), secs(&s.start_time))],
    );
    family(
        "keyrotate_last_update_seconds",
        "gauge",
        "When these figures were taken, seconds since the Unix epoch.",
        &[(String::new(), secs(&s.last_update))],
    );
    out
}

/// The gauge's state of a summary status (`paused`, or a label with a suffix).
fn state_of(status: &str) -> &'static str {
    STATES
        .iter()
        .copied()
        .find(|st| status.starts_with(st))
        .unwrap_or("running")
}

/// Label values: backslash, double quote and newline escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Writes the metrics file at most every [`INTERVAL`] (and always when
/// forced, at the end of a run).
#[derive(Debug)]
pub struct MetricsFile {
    path: PathBuf,
    last: Option<Instant>,
}

impl MetricsFile {
    pub fn new(path: PathBuf) -> Self {
        MetricsFile { path, last: None }
    }

    /// Rewrites the file if the interval has passed (or `force`); a failure
    /// is returned for the caller to warn about: metrics never stop a run.
    pub fn update(&mut self, s: &Summary, force: bool) -> std::io::Result<()> {
        if !force && self.last.is_some_and(|t| t.elapsed() < INTERVAL) {
            return Ok(());
        }
        self.last = Some(Instant::now());
        let mut s = s.clone();
        if s.last_update.is_empty() || !force {
            s.last_update = super::pipeline::now_rfc3339();
        }
        write_replacing(&self.path, render(&s).as_bytes())
    }
}

/// Temporary file beside `path`, then rename: a reader sees the old file or
/// the new one. Not fsynced: the file is a view, rebuilt from the job's state.
fn write_replacing(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn paused_status_maps_to_the_paused_state() {
        assert_eq!(state_of("paused"), "paused");
        assert_eq!(state_of(""), "running");
        assert_eq!(state_of("completed"), "completed");
    }
}
