//! `bench`: keyrotate's benchmarks.
//!
//! Criterion micro-benchmarks live in `benches/`, one file per crate or
//! module measured; every figure is quoted against a baseline measured in the
//! same run. [`suite`] is the end-to-end suite behind the `e2e` binary.

pub mod suite;
