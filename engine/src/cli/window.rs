//! Maintenance windows of `run`: `--max-duration`, `--stop-at` and
//! `--limit` (a canary) turn into a [`Window`] the pipeline pauses at.

use std::time::{Duration, Instant};

use chrono::{DateTime, Local, NaiveTime, TimeZone};

use super::{CliError, EXIT_INVALID};
use crate::run::pipeline::Window;

/// Window options of `run`.
#[derive(Debug, clap::Args)]
pub struct WindowArgs {
    /// Pause (exit 5, resumable) once the run has taken this long: `2h`,
    /// `90m`, `1h30m`, `45s`.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub max_duration: Option<Duration>,
    /// Pause (exit 5, resumable) at this time: `06:00` (local time, the next
    /// such time) or RFC 3339 (`2026-12-05T06:00:00+01:00`).
    #[arg(long, value_name = "TIME")]
    pub stop_at: Option<String>,
    /// Pause (exit 5, resumable) after deciding N versions (whole objects):
    /// a canary to inspect with `verify` before the next `run` continues.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
}

impl WindowArgs {
    /// The window, its deadline the earlier of `--max-duration` and `--stop-at`.
    pub fn window(&self, started: Instant) -> Result<Window, CliError> {
        let mut deadline = self.max_duration.map(|d| started + d);
        if let Some(at) = &self.stop_at {
            let now = Local::now();
            let when = stop_at(at, now).map_err(|e| {
                CliError::new(EXIT_INVALID, anyhow::anyhow!("--stop-at {at:?}: {e}"))
            })?;
            let left = (when - now).to_std().unwrap_or(Duration::ZERO);
            let at = Instant::now() + left;
            deadline = Some(deadline.map_or(at, |d| d.min(at)));
        }
        Ok(Window {
            deadline,
            limit: self.limit,
        })
    }
}

/// `2h`, `90m`, `1h30m`, `45s`, `500ms`: a sum of number+unit terms.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("{text:?}: expected a number, e.g. 2h, 90m, 1h30m"));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|e| format!("{text:?}: {e}"))?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let secs = match &rest[..unit] {
            "h" => 3600,
            "m" => 60,
            "s" => 1,
            "ms" => {
                total += Duration::from_millis(n);
                rest = &rest[unit..];
                continue;
            }
            u => return Err(format!("{text:?}: unknown unit {u:?} (h, m, s, ms)")),
        };
        total += Duration::from_secs(n.saturating_mul(secs));
        rest = &rest[unit..];
    }
    Ok(total)
}

/// The instant `--stop-at` names, after `now`: RFC 3339, or a local
/// wall-clock time (`HH:MM` or `HH:MM:SS`) today, else tomorrow.
pub fn stop_at(text: &str, now: DateTime<Local>) -> Result<DateTime<Local>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Local));
    }
    let time = NaiveTime::parse_from_str(text, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M:%S"))
        .map_err(|_| "expected HH:MM (local time) or RFC 3339".to_owned())?;
    for day in 0..3 {
        let date = now.date_naive() + chrono::Days::new(day);
        // A time a DST change skips has no local instant on that day.
        if let Some(t) = Local.from_local_datetime(&date.and_time(time)).earliest() {
            if t > now {
                return Ok(t);
            }
        }
    }
    Err("no such local time in the next days".into())
}

/// `plan`'s duration estimate: the decision pass this plan just timed
/// (a run makes the same reads, and about as many writes: counted twice),
/// plus the KMS calls at `--kms-rate` when one is given. Data rewrites and
/// KMS latency are not measured by `plan`, and the text says so.
#[derive(Debug)]
pub struct Estimate {
    pub seconds: u64,
    pub measured_versions_per_second: u64,
    pub kms_calls: u64,
    pub kms_rate: Option<u64>,
    pub bytes_to_rewrite_not_counted: u64,
}

pub fn estimate(
    versions: u64,
    plan_elapsed: Duration,
    kms_calls: u64,
    kms_rate: Option<u64>,
    bytes_to_rewrite: u64,
) -> Estimate {
    let pass = plan_elapsed.as_secs_f64().max(0.001);
    let kms = kms_rate.map_or(0.0, |r| kms_calls as f64 / r.max(1) as f64);
    Estimate {
        seconds: (2.0 * pass + kms).ceil() as u64,
        measured_versions_per_second: (versions as f64 / pass) as u64,
        kms_calls,
        kms_rate,
        bytes_to_rewrite_not_counted: bytes_to_rewrite,
    }
}

impl std::fmt::Display for Estimate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ESTIMATE (rough, not a promise): run takes about {}s: the decision pass measured here at {} versions/s, twice (reads and writes)",
            self.seconds, self.measured_versions_per_second
        )?;
        match self.kms_rate {
            Some(r) => write!(f, ", plus {} KMS calls at --kms-rate {r}/s", self.kms_calls)?,
            None => write!(
                f,
                "; KMS latency for {} calls not included (give --kms-rate to bound it)",
                self.kms_calls
            )?,
        }
        if self.bytes_to_rewrite_not_counted > 0 {
            write!(
                f,
                "; rewriting {} bytes of plaintext data not included",
                self.bytes_to_rewrite_not_counted
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_sums_of_terms() {
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("1s500ms"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("2").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("2d").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn a_wall_clock_time_is_the_next_one() {
        let now = Local
            .with_ymd_and_hms(2026, 12, 5, 7, 0, 0)
            .earliest()
            .unwrap();
        let t = stop_at("06:00", now).unwrap();
        assert_eq!(
            t,
            Local
                .with_ymd_and_hms(2026, 12, 6, 6, 0, 0)
                .earliest()
                .unwrap()
        );
        let t = stop_at("08:30", now).unwrap();
        assert_eq!(
            t,
            Local
                .with_ymd_and_hms(2026, 12, 5, 8, 30, 0)
                .earliest()
                .unwrap()
        );
        let t = stop_at("2026-12-05T06:00:00Z", now).unwrap();
        assert_eq!(t.timestamp(), 1_796_450_400);
        assert!(stop_at("6 o'clock", now).is_err());
    }
}
