//! The keyrotate job: the YAML file, its validation, the filters and the
//! per-version decisions (JOB.md §1–§9). Pure logic: no drive, KMS or
//! network access; the CLI reads the file and hands us the text.
//!
//! | module | what it owns |
//! |---|---|
//! | [`yaml`] | a YAML tree with a line/column on every node (built from `yaml-rust2` events) |
//! | [`validate`] | tree → [`Job`], V-1…V-18, every error at once ([`parse_job`]) |
//! | [`error`] | [`JobError`] (id, path, message, position, hint) and [`Invalid`] |
//! | [`model`] | the validated [`Job`] with defaults applied |
//! | [`duration`] | `7d10h31s`-style durations (§5) |
//! | [`timestamp`] | dates and RFC 3339 instants (§6) |
//! | [`wildcard`] | MinIO's `*`/`?` matcher, iterative (§7) |
//! | [`facts`] | [`VersionFacts`], the decision input, and the encryption classification (§8.6) |
//! | [`filter`] | the filters of §8, AND across categories, OR within tags/metadata |
//! | [`decide`] | [`decide()`](decide::decide): §9's first-matching-rule procedure |
//! | [`redact`] | the job file as stored, its notify token replaced |
//! | [`template`] | the template of `keyrotate generate` |
//!
//! ```
//! use engine::job::{parse_job, decide::{decide, Action, Capabilities, Decision}};
//! use engine::job::{facts::VersionFacts, timestamp::Timestamp};
//!
//! let job = parse_job("keyrotate:\n  apiVersion: v1\n  bucket: photos\n").unwrap();
//! let t0 = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
//! let v = VersionFacts::object(Timestamp::parse("2025-06-01").unwrap());
//! assert_eq!(decide(&job, &v, t0, Capabilities::default()), Decision::Action(Action::Encrypt));
//! ```

pub mod decide;
pub mod duration;
pub mod error;
pub mod facts;
pub mod filter;
pub mod model;
pub mod redact;
pub mod template;
pub mod timestamp;
pub mod validate;
pub mod wildcard;
pub mod yaml;

pub use error::{Invalid, JobError, Rule};
pub use facts::VersionFacts;
pub use model::Job;
pub use redact::redact_secrets;
pub use validate::parse_job;

/// Static validation only: every problem of `text`, in file order (empty when valid).
pub fn validate(text: &str) -> Vec<JobError> {
    match parse_job(text) {
        Ok(_) => Vec::new(),
        Err(Invalid(errors)) => errors,
    }
}
