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

pub mod cli;
pub mod run;
pub mod sse;
