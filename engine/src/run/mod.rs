//! `run`: executing a job on the drives, and everything that makes it
//! resumable and accountable.
//!
//! | module | what it owns |
//! |---|---|
//! | [`encrypt`] | plaintext → SSE-KMS data rewrite: stream, stage, build the commit plan |
//! | [`journal`] | the checksummed, group-committed log that resume replays |
//! | [`plan`] | one object's change on every drive: the unit of intent and commit |
//! | [`summary`] | counters, outcomes and job states (JOB.md §11, §13) |
//! | [`state`] | the job's state directory, its lock and job id |
//! | [`notify`] | the end-of-job webhook (JOB.md §12) |

pub mod encrypt;
pub mod journal;
pub mod notify;
pub mod plan;
pub mod state;
pub mod summary;
