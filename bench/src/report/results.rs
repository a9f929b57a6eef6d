//! The end-to-end results file (`target/bench-results/e2e.json`, schema 1)
//! read leniently: every field is optional, unknown fields are ignored, and a
//! section (or a row of one) that does not parse is dropped with a warning
//! instead of failing the report. What is absent renders as "not measured in
//! this run".

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

/// The schema version this reader was written against.
pub const SCHEMA: u64 = 1;

/// Everything read from one e2e results file.
#[derive(Debug, Default)]
pub struct E2e {
    pub schema: Option<u64>,
    pub started: Option<String>,
    pub finished: Option<String>,
    pub wall_s: Option<f64>,
    pub machine: Option<Machine>,
    pub scenarios: Vec<Scenario>,
    pub scaling_objects: Vec<ObjectsRow>,
    pub scaling_drives: Vec<DrivesRow>,
    pub kms_latency: Vec<KmsRow>,
    pub rss_flatness: Option<RssFlatness>,
    /// Scenario name → where the time goes.
    pub profile: BTreeMap<String, String>,
    /// What could not be read, for the report and stderr.
    pub warnings: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Machine {
    pub cpu_model: Option<String>,
    pub cores: Option<u32>,
    pub mem_gib: Option<f64>,
    pub kernel: Option<String>,
    pub fs: Option<String>,
    pub disk_free_gib: Option<f64>,
    pub rustc: Option<String>,
    pub load_avg_start: Option<Vec<f64>>,
    pub io_uring: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub params: Value,
    pub metric: Option<String>,
    pub value: Option<f64>,
    pub floor_name: Option<String>,
    pub floor_value: Option<f64>,
    /// As written by e2e; the report recomputes it from value and floor.
    pub ratio: Option<f64>,
    pub target_ratio: Option<f64>,
    pub target_met: Option<bool>,
    pub peak_rss_mib: Option<f64>,
    pub wall_s: Option<f64>,
    pub cpu_s: Option<f64>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ObjectsRow {
    pub objects: u64,
    pub run_s: f64,
    pub objects_per_s: f64,
    pub peak_rss_mib: Option<f64>,
    pub plan_s: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DrivesRow {
    pub drives: u32,
    pub objects: u64,
    pub run_s: f64,
    pub objects_per_s: f64,
    pub floor_objects_per_s: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct KmsRow {
    pub latency_ms: f64,
    pub concurrency: u32,
    pub requests_per_s: f64,
    pub ideal_per_s: Option<f64>,
    pub ratio: Option<f64>,
    pub objects_per_s: Option<f64>,
}

#[derive(Debug, Deserialize)]
pub struct RssFlatness {
    pub rss_small_mib: f64,
    pub rss_large_mib: f64,
    pub ratio: Option<f64>,
    pub target: Option<f64>,
    pub met: Option<bool>,
}

impl E2e {
    /// Parses the text of a results file. Only text that is not a JSON
    /// object at all is an error; everything else degrades to warnings.
    pub fn parse(text: &str) -> Result<E2e, serde_json::Error> {
        let root: Value = serde_json::from_str(text)?;
        let mut e2e = E2e::default();
        let Value::Object(mut map) = root else {
            e2e.warnings
                .push("e2e results: the top level is not a JSON object".into());
            return Ok(e2e);
        };
        let w = &mut e2e.warnings;
        e2e.schema = field(&mut map, "schema", w);
        if let Some(s) = e2e.schema.filter(|&s| s != SCHEMA) {
            w.push(format!(
                "e2e results: schema {s}, this renderer reads schema {SCHEMA}; fields may be missing"
            ));
        }
        e2e.started = field(&mut map, "started", w);
        e2e.finished = field(&mut map, "finished", w);
        e2e.wall_s = field(&mut map, "wall_s", w);
        e2e.machine = field(&mut map, "machine", w);
        e2e.scenarios = rows(&mut map, "scenarios", w);
        e2e.scaling_objects = rows(&mut map, "scaling_objects", w);
        e2e.scaling_drives = rows(&mut map, "scaling_drives", w);
        e2e.kms_latency = rows(&mut map, "kms_latency", w);
        e2e.rss_flatness = field(&mut map, "rss_flatness", w);
        e2e.profile = field(&mut map, "profile", w).unwrap_or_default();
        Ok(e2e)
    }

    pub fn scenario(&self, name: &str) -> Option<&Scenario> {
        self.scenarios.iter().find(|s| s.name == name)
    }
}

/// One top-level field; `null` or absent is `None`, a wrong shape is `None`
/// plus a warning.
fn field<T: DeserializeOwned>(
    map: &mut serde_json::Map<String, Value>,
    key: &str,
    warnings: &mut Vec<String>,
) -> Option<T> {
    match map.remove(key) {
        None | Some(Value::Null) => None,
        Some(v) => match serde_json::from_value(v) {
            Ok(t) => Some(t),
            Err(e) => {
                warnings.push(format!("e2e results: `{key}` unreadable ({e}); ignored"));
                None
            }
        },
    }
}

/// An array section read row by row, so one bad row costs only itself.
fn rows<T: DeserializeOwned>(
    map: &mut serde_json::Map<String, Value>,
    key: &str,
    warnings: &mut Vec<String>,
) -> Vec<T> {
    match map.remove(key) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .filter_map(|(i, v)| match serde_json::from_value(v) {
                Ok(t) => Some(t),
                Err(e) => {
                    warnings.push(format!(
                        "e2e results: `{key}[{i}]` unreadable ({e}); skipped"
                    ));
                    None
                }
            })
            .collect(),
        Some(_) => {
            warnings.push(format!("e2e results: `{key}` is not an array; ignored"));
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_rows_and_sections_become_warnings() {
        let e = E2e::parse(
            r#"{"schema": 2, "machine": 5, "extra": {"x": 1},
                "scenarios": [{"name": "rotate", "value": 10.0, "unknown": true},
                              {"value": "nope"}],
                "scaling_drives": {}}"#,
        )
        .unwrap();
        assert_eq!(e.scenarios.len(), 1);
        assert_eq!(e.scenarios[0].value, Some(10.0));
        assert!(e.machine.is_none());
        assert_eq!(e.warnings.len(), 4, "{:?}", e.warnings);
        assert!(e.warnings[0].contains("schema 2"));
        assert!(e.warnings.iter().any(|w| w.contains("scenarios[1]")));
        assert!(e.warnings.iter().any(|w| w.contains("scaling_drives")));
    }

    #[test]
    fn not_json_is_an_error() {
        assert!(E2e::parse("{ nope").is_err());
        let e = E2e::parse("[]").unwrap();
        assert_eq!(e.warnings.len(), 1);
    }
}
