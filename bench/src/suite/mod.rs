//! The end-to-end benchmark suite behind `target/release/e2e`: every
//! scenario next to its floor, measured in the same run on the same files.
//!
//! | module | what it owns |
//! |---|---|
//! | [`results`] | the results file (schema 1), the interface to the report |
//! | [`machine`] | the machine description, RFC 3339 times |
//! | [`cache`] | fixtures cached by parameters + seed + version |
//! | [`child`] | child processes measured: wall, peak RSS, CPU, device counters |
//! | [`keyrotate`] | `keyrotate run` / `plan` on a fixture |
//! | [`floors`] | the rewrite and read floors |
//! | [`kes`] | the KES protocol fixture for KMS-bound rotation |
//! | [`scenarios`] | the scenarios and scaling runs, in order |

pub mod cache;
pub mod child;
pub mod floors;
pub mod kes;
pub mod keyrotate;
pub mod machine;
pub mod results;
pub mod scenarios;

/// How big each part of the suite is.
#[derive(Debug, Clone)]
pub struct Sizes {
    /// Objects of the main fixture (4 drives): rotate and plan. When it
    /// equals the first object-scaling count, that point reuses its run.
    pub main_objects: u64,
    /// Rewrites per candidate thread count when picking the floor's, at
    /// most `sweep_cap_s` seconds each.
    pub sweep_rewrites: usize,
    pub sweep_cap_s: f64,
    pub scaling_objects: Vec<u64>,
    pub scaling_drives: Vec<usize>,
    /// Objects of each drive-scaling fixture.
    pub drives_objects: u64,
    /// Objects of the KMS fixture (a multiple of 1000: points rotate the
    /// first thousands of it by prefix).
    pub kms_objects: u64,
    pub kms_latencies_ms: Vec<f64>,
    /// Seconds each KMS point should run (objects are sized from it).
    pub kms_point_s: f64,
    /// Plaintext MiB of the encryption scenario.
    pub encrypt_mib: u64,
}

impl Sizes {
    /// The full suite, sized for 20 minutes of `make bench` on a 2-core
    /// machine with a cold cache (see BENCHMARKS.md for the split).
    pub fn full() -> Self {
        Sizes {
            main_objects: 20_000,
            sweep_rewrites: 8_000,
            sweep_cap_s: 1.0,
            scaling_objects: vec![20_000, 50_000, 200_000],
            scaling_drives: vec![2, 4, 8, 16],
            drives_objects: 5_000,
            kms_objects: 20_000,
            kms_latencies_ms: vec![0.2, 1.0, 5.0],
            kms_point_s: 10.0,
            encrypt_mib: 1024,
        }
    }

    /// Tiny sizes for smoke tests (well under a minute).
    pub fn quick() -> Self {
        Sizes {
            main_objects: 600,
            sweep_rewrites: 400,
            sweep_cap_s: 0.3,
            scaling_objects: vec![600, 900, 1200],
            scaling_drives: vec![2, 4],
            drives_objects: 300,
            kms_objects: 2_000,
            kms_latencies_ms: vec![0.2, 1.0, 5.0],
            kms_point_s: 0.5,
            encrypt_mib: 32,
        }
    }
}
