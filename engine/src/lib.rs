//! `engine`: everything in keyrotate that touches drives, keys or jobs.
//!
//! The `keyrotate` binary (`src/main.rs`) is a thin shell over this library.
//! One module per concern:
//!
//! | module | what it owns |
//! |---|---|
//! | `cli` | argument parsing and output of each `keyrotate` command |
//! | `drives` | endpoints, format.json topology, placement, per-drive io_uring workers, listing |
//! | `erasure` | Reed-Solomon shards, streaming bitrot, reading/writing a set's shard streams |
//! | `fixture` | builds MinIO-format test deployments with a manifest |

pub mod cli;
pub mod drives;
pub mod erasure;
pub mod fixture;
