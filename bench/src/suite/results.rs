//! The results file (`target/bench-results/e2e.json`, schema 1): what the
//! report generator reads. Field names are the interface; do not rename.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub schema: u32,
    pub started: String,
    pub finished: String,
    pub wall_s: f64,
    pub machine: Machine,
    pub scenarios: Vec<Scenario>,
    pub scaling_objects: Vec<ScalingObjects>,
    pub scaling_drives: Vec<ScalingDrives>,
    pub kms_latency: Vec<KmsLatency>,
    pub rss_flatness: Option<RssFlatness>,
    pub profile: BTreeMap<String, String>,
}

/// The machine the figures come from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub cpu_model: String,
    pub cores: u32,
    pub mem_gib: f64,
    pub kernel: String,
    /// Filesystem type of the bench directory.
    pub fs: String,
    pub disk_free_gib: f64,
    pub rustc: String,
    pub load_avg_start: [f64; 3],
    pub io_uring: bool,
}

/// One measured scenario next to its floor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scenario {
    pub name: String,
    pub params: serde_json::Value,
    /// `objects/s`, `MB/s` or `requests/s`.
    pub metric: String,
    pub value: f64,
    pub floor_name: String,
    pub floor_value: f64,
    pub ratio: f64,
    pub target_ratio: Option<f64>,
    pub target_met: Option<bool>,
    pub peak_rss_mib: Option<f64>,
    pub wall_s: f64,
    pub cpu_s: Option<f64>,
    pub notes: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScalingObjects {
    pub objects: u64,
    pub run_s: f64,
    pub objects_per_s: f64,
    pub peak_rss_mib: f64,
    pub plan_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScalingDrives {
    pub drives: u32,
    pub objects: u64,
    pub run_s: f64,
    pub objects_per_s: f64,
    pub floor_objects_per_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KmsLatency {
    pub latency_ms: f64,
    pub concurrency: u32,
    pub requests_per_s: f64,
    pub ideal_per_s: f64,
    pub ratio: f64,
    pub objects_per_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RssFlatness {
    pub rss_small_mib: f64,
    pub rss_large_mib: f64,
    pub ratio: f64,
    pub target: f64,
    pub met: bool,
}

impl Scenario {
    /// A scenario with `ratio = value / floor` and the target judged.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: &str,
        metric: &str,
        value: f64,
        floor_name: &str,
        floor_value: f64,
        target_ratio: Option<f64>,
        params: serde_json::Value,
        notes: String,
    ) -> Self {
        let ratio = if floor_value > 0.0 {
            value / floor_value
        } else {
            0.0
        };
        Scenario {
            name: name.into(),
            params,
            metric: metric.into(),
            value,
            floor_name: floor_name.into(),
            floor_value,
            ratio,
            target_ratio,
            target_met: target_ratio.map(|t| ratio >= t),
            peak_rss_mib: None,
            wall_s: 0.0,
            cpu_s: None,
            notes,
        }
    }

    /// The line printed as the scenario is measured.
    pub fn line(&self) -> String {
        let target = match (self.target_ratio, self.target_met) {
            (Some(t), Some(true)) => format!(" (target >= {t}: met)"),
            (Some(t), _) => format!(" (target >= {t}: MISSED)"),
            _ => String::new(),
        };
        format!(
            "{:<14} {:>10.1} {} vs {} {:.1}: ratio {:.2}x{target}",
            self.name, self.value, self.metric, self.floor_name, self.floor_value, self.ratio
        )
    }
}
