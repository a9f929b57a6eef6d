//! `engine`: everything in keyrotate that touches drives, keys or jobs.
//!
//! The `keyrotate` binary (`src/main.rs`) is a thin shell over this library.
//! One module per concern:
//!
//! | module | what it owns |
//! |---|---|
//! | `run` | executing a job: journal, counters, report, notification |
//! | `cli` | argument parsing and output of each `keyrotate` command |
//! | `sse` | MinIO's object crypto: sealing object keys, SSE metadata, DARE streams, ETags, config blobs |
//! | `drives` | endpoints, format.json topology, placement, per-drive I/O workers (io_uring reads, batched crash-safe writes), listing |
//! | `erasure` | Reed-Solomon shards, streaming bitrot, reading/writing a set's shard streams |
//! | `fixture` | builds MinIO-format test deployments with a manifest |
//! | `internal` | re-encryption of MinIO's internal data in `.minio.sys` (IAM, config, tier config, bucket targets) |
//! | `job` | the job file: YAML model, validation (V-1…V-18), filters and per-version decisions |
//! | `crashpoint` | test hook: named durability boundaries where a run can be made to abort |

pub mod cli;
pub mod crashpoint;
pub mod drives;
pub mod erasure;
pub mod fixture;
pub mod internal;
pub mod job;
pub mod run;
pub mod sse;
