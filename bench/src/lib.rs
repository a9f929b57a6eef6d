//! `bench`: keyrotate's benchmarks.
//!
//! Criterion micro-benchmarks live in `benches/`, one file per crate or
//! module measured; every figure is quoted against a baseline measured in the
//! same run.
//!
//! | module | job |
//! |---|---|
//! | [`suite`] | the end-to-end suite behind the `e2e` binary: fixtures (cached by seed), each scenario next to its floor measured in the same run, scaling runs, the results file |
//! | [`report`] | turns one `make bench` run (criterion's saved estimates and the end-to-end results file) into `BENCHMARKS.md` and its plots; the `bench_report` binary is its command line |

pub mod report;
pub mod suite;
