//! `engine`: everything in keyrotate that touches drives, keys or jobs.
//!
//! The `keyrotate` binary (`src/main.rs`) is a thin shell over this library.
//! One module per concern:
//!
//! | module | what it owns |
//! |---|---|
//! | `cli` | argument parsing and output of each `keyrotate` command |
//! | `job` | the job file: YAML model, validation (V-1…V-18), filters and per-version decisions |

pub mod cli;
pub mod job;
