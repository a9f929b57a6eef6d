//! `run`: executing a job on the drives, and everything that makes it
//! resumable and accountable.
//!
//! | module | what it owns |
//! |---|---|
//! | [`encrypt`] | plaintext → SSE-KMS data rewrite: stream, stage, build the commit plan |
//! | [`journal`] | the checksummed, group-committed log that resume replays |
//! | [`metrics`] | `run --metrics-file`: the Prometheus textfile for node_exporter |
//! | [`plan`] | one object's change on every drive: the unit of intent and commit |
//! | [`summary`] | counters, outcomes and job states (JOB.md §11, §13) |
//! | [`state`] | the job's state directory, its lock and job id |
//! | [`notify`] | the end-of-job webhook (JOB.md §12) |
//! | [`residue`] | what still depends on a key other than the target, and why |
//! | [`record`] | the journal's records and the [`record::Ledger`] both live runs and resumes count with |
//! | [`exec`] | the commit executor: plans onto the drives, also the resume repair |
//! | [`object`] | one object: gather, agreement, decide, KMS, reseal, per-drive bytes |
//! | [`pipeline`] | walker → workers → committer with bounded channels; `plan` |
//! | [`ratelimit`] | `run --kms-rate`: the token bucket in front of the KMS |
//! | [`preflight`] | refuse to run while another process (a MinIO server) uses the drives |
//! | [`keyproof`] | prove the configured KMS keys against the stored data before the first write |
//! | [`verify`] | agreement, unseal and data checks of `keyrotate verify` |

pub mod encrypt;
pub mod exec;
pub mod journal;
pub mod keyproof;
pub mod metrics;
pub mod notify;
pub mod object;
pub mod pipeline;
pub mod plan;
pub mod preflight;
pub mod ratelimit;
pub mod record;
pub mod residue;
pub mod state;
pub mod summary;
pub mod verify;
