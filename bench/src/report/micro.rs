//! The issues' criterion targets, checked against this run's criterion
//! results: absolute rates (decodes per second per core, KMS requests per
//! second) and ratios of one benchmark to a baseline measured in the same
//! `cargo bench` run (DARE vs raw AES-GCM, io_uring vs a std::fs pool).
//!
//! Like [`super::targets`], the targets live here, not in the results, so a
//! results directory cannot loosen one. A benchmark missing from the run
//! leaves its row "not measured".

use super::criterion::{Bench, Throughput};

/// How a target reads the criterion results.
#[derive(Debug, Clone, Copy)]
pub enum Check {
    /// Work units per second of one benchmark (elements, or bytes) ≥ the target.
    Rate {
        id: &'static str,
        unit: &'static str,
    },
    /// Work per second of `id` over that of `baseline` ≥ the target. A
    /// `baseline` ending in `/` is a family: its best member is the baseline
    /// (a thread pool at its best thread count).
    Ratio {
        id: &'static str,
        baseline: &'static str,
    },
}

/// One target of an issue.
#[derive(Debug, Clone, Copy)]
pub struct MicroTarget {
    pub issue: u32,
    pub measures: &'static str,
    pub check: Check,
    pub target: f64,
}

pub const MICRO_TARGETS: &[MicroTarget] = &[
    MicroTarget {
        issue: 2,
        measures: "xl.meta decode, 1-version SSE-KMS file, per core",
        check: Check::Rate {
            id: "cpu/sse_kms_1_version/decode",
            unit: "decodes/s",
        },
        target: 1_000_000.0,
    },
    MicroTarget {
        issue: 2,
        measures: "xl.meta edit + re-encode, 1-version SSE-KMS file, per core",
        check: Check::Rate {
            id: "cpu/sse_kms_1_version/edit_reencode",
            unit: "edits/s",
        },
        target: 400_000.0,
    },
    MicroTarget {
        issue: 3,
        measures: "static key decrypt + generate pairs, per core",
        check: Check::Rate {
            id: "static_key/pair_cpu",
            unit: "pairs/s",
        },
        target: 300_000.0,
    },
    MicroTarget {
        issue: 3,
        measures: "KES client decrypt, 128 in flight, 1 ms injected latency",
        check: Check::Rate {
            id: "kes/decrypt_128_in_flight_1ms_h2",
            unit: "requests/s",
        },
        target: 20_000.0,
    },
    MicroTarget {
        issue: 3,
        measures: "KES client generate, 128 in flight, 1 ms injected latency",
        check: Check::Rate {
            id: "kes/generate_128_in_flight_1ms_h2",
            unit: "requests/s",
        },
        target: 20_000.0,
    },
    MicroTarget {
        issue: 4,
        measures: "DARE encrypt (packages in their slots) vs raw ring seal, 1 MiB",
        check: Check::Ratio {
            id: "dare/1MiB/dare_seal_laid_out",
            baseline: "dare/1MiB/raw_ring_aes256gcm_seal",
        },
        target: 0.85,
    },
    MicroTarget {
        issue: 4,
        measures: "DARE encrypt (packages in their slots) vs raw ring seal, 64 MiB",
        check: Check::Ratio {
            id: "dare/64MiB/dare_seal_laid_out",
            baseline: "dare/64MiB/raw_ring_aes256gcm_seal",
        },
        target: 0.85,
    },
    MicroTarget {
        issue: 4,
        measures: "DARE decrypt in place vs raw ring open, 1 MiB",
        check: Check::Ratio {
            id: "dare/1MiB/dare_decrypt_in_place",
            baseline: "dare/1MiB/raw_ring_aes256gcm_open",
        },
        target: 0.85,
    },
    MicroTarget {
        issue: 4,
        measures: "DARE decrypt in place vs raw ring open, 64 MiB",
        check: Check::Ratio {
            id: "dare/64MiB/dare_decrypt_in_place",
            baseline: "dare/64MiB/raw_ring_aes256gcm_open",
        },
        target: 0.85,
    },
    MicroTarget {
        issue: 5,
        measures: "xl.meta reads, 4-drive fixture: io_uring workers vs the best std::fs pool",
        check: Check::Ratio {
            id: "xl_meta_read_4_drives/workers/IoUring",
            baseline: "xl_meta_read_4_drives/std_fs_pool/",
        },
        target: 1.2,
    },
];

/// A target with what this run measured for it.
#[derive(Debug, Clone)]
pub struct MicroChecked {
    pub target: MicroTarget,
    /// The measured rate (for a ratio: of the benchmark itself).
    pub value: Option<f64>,
    /// For a ratio: the baseline's id and rate.
    pub baseline: Option<(String, f64)>,
    /// The figure compared with the target (rate, or ratio).
    pub figure: Option<f64>,
    pub met: Option<bool>,
}

/// Work units per second at the typical time.
fn rate(b: &Bench) -> Option<f64> {
    let work = match b.throughput? {
        Throughput::Bytes(n) | Throughput::BytesDecimal(n) | Throughput::Elements(n) => n,
    };
    (b.ns > 0.0).then(|| work as f64 * 1e9 / b.ns)
}

fn find<'a>(benches: &'a [Bench], id: &str) -> Option<&'a Bench> {
    benches.iter().find(|b| b.id == id)
}

/// Every target against `benches`, in the fixed order of [`MICRO_TARGETS`].
pub fn check(benches: &[Bench]) -> Vec<MicroChecked> {
    MICRO_TARGETS
        .iter()
        .map(|t| {
            let (value, baseline, figure) = match t.check {
                Check::Rate { id, .. } => {
                    let v = find(benches, id).and_then(rate);
                    (v, None, v)
                }
                Check::Ratio { id, baseline } => {
                    let v = find(benches, id).and_then(rate);
                    let base = if baseline.ends_with('/') {
                        benches
                            .iter()
                            .filter(|b| b.id.starts_with(baseline))
                            .filter_map(|b| Some((b.id.clone(), rate(b)?)))
                            .max_by(|a, b| a.1.total_cmp(&b.1))
                    } else {
                        find(benches, baseline).and_then(|b| Some((b.id.clone(), rate(b)?)))
                    };
                    let ratio = v.zip(base.as_ref()).map(|(v, (_, b))| v / b);
                    (v, base, ratio)
                }
            };
            MicroChecked {
                target: *t,
                value,
                baseline,
                figure,
                met: figure.map(|f| f >= t.target),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bench(id: &str, ns: f64, tp: Throughput) -> Bench {
        Bench {
            id: id.into(),
            ns,
            ns_low: ns,
            ns_high: ns,
            throughput: Some(tp),
            written: None,
        }
    }

    fn row<'a>(rows: &'a [MicroChecked], id: &str) -> &'a MicroChecked {
        rows.iter()
            .find(|r| match r.target.check {
                Check::Rate { id: i, .. } | Check::Ratio { id: i, .. } => i == id,
            })
            .expect("row")
    }

    #[test]
    fn rates_ratios_and_best_baseline() {
        let benches = vec![
            // 1 element per 800 ns = 1.25 M/s: met; 1 per 3 µs = 333 K/s: not met (400 K).
            bench(
                "cpu/sse_kms_1_version/decode",
                800.0,
                Throughput::Elements(1),
            ),
            bench(
                "cpu/sse_kms_1_version/edit_reencode",
                3000.0,
                Throughput::Elements(1),
            ),
            bench(
                "dare/1MiB/dare_seal_laid_out",
                100.0,
                Throughput::Bytes(1 << 20),
            ),
            bench(
                "dare/1MiB/raw_ring_aes256gcm_seal",
                90.0,
                Throughput::Bytes(1 << 20),
            ),
            bench(
                "xl_meta_read_4_drives/workers/IoUring",
                100.0,
                Throughput::Elements(1000),
            ),
            bench(
                "xl_meta_read_4_drives/std_fs_pool/4",
                150.0,
                Throughput::Elements(1000),
            ),
            bench(
                "xl_meta_read_4_drives/std_fs_pool/8",
                125.0,
                Throughput::Elements(1000),
            ),
        ];
        let rows = check(&benches);
        assert_eq!(rows.len(), MICRO_TARGETS.len());
        let decode = row(&rows, "cpu/sse_kms_1_version/decode");
        assert!((decode.figure.unwrap() - 1.25e6).abs() < 1.0);
        assert_eq!(decode.met, Some(true));
        assert_eq!(
            row(&rows, "cpu/sse_kms_1_version/edit_reencode").met,
            Some(false)
        );
        let dare = row(&rows, "dare/1MiB/dare_seal_laid_out");
        assert!((dare.figure.unwrap() - 0.9).abs() < 1e-9);
        assert_eq!(dare.met, Some(true));
        // The best pool (8 threads, 125 ns) is the baseline: 1.25×, met.
        let read = row(&rows, "xl_meta_read_4_drives/workers/IoUring");
        assert_eq!(
            read.baseline.as_ref().unwrap().0,
            "xl_meta_read_4_drives/std_fs_pool/8"
        );
        assert!((read.figure.unwrap() - 1.25).abs() < 1e-9);
        assert_eq!(read.met, Some(true));
        // Absent from the run: not measured, neither met nor missed.
        let kes = row(&rows, "kes/decrypt_128_in_flight_1ms_h2");
        assert_eq!((kes.figure, kes.met), (None, None));
        let dare64 = row(&rows, "dare/64MiB/dare_seal_laid_out");
        assert_eq!(dare64.met, None);
    }
}
