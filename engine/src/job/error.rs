//! Validation errors (JOB.md §4): every problem of a job file, each with its
//! id, YAML path, message and position, reported together.

use serde::Serialize;

use super::yaml::Pos;

/// Which rule of JOB.md §4 a problem breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Rule {
    /// V-1: YAML syntax, duplicate or merge key, several documents, too large.
    #[serde(rename = "V-1")]
    V1,
    /// V-2: not exactly one `keyrotate` job.
    #[serde(rename = "V-2")]
    V2,
    /// V-3: unknown field.
    #[serde(rename = "V-3")]
    V3,
    /// V-4: `apiVersion` is not `v1`.
    #[serde(rename = "V-4")]
    V4,
    /// V-5: bucket missing or invalid.
    #[serde(rename = "V-5")]
    V5,
    /// V-6: invalid prefix.
    #[serde(rename = "V-6")]
    V6,
    /// V-7: `encryption.type` other than `sse-kms`.
    #[serde(rename = "V-7")]
    V7,
    /// V-8: KMS key id with surrounding spaces.
    #[serde(rename = "V-8")]
    V8,
    /// V-9: bad KMS context.
    #[serde(rename = "V-9")]
    V9,
    /// V-10: bad duration.
    #[serde(rename = "V-10")]
    V10,
    /// V-11: `newerThan ≤ olderThan`.
    #[serde(rename = "V-11")]
    V11,
    /// V-12: `createdAfter > createdBefore`.
    #[serde(rename = "V-12")]
    V12,
    /// V-13: bad timestamp.
    #[serde(rename = "V-13")]
    V13,
    /// V-14: empty tag/metadata key.
    #[serde(rename = "V-14")]
    V14,
    /// V-15: internal metadata key.
    #[serde(rename = "V-15")]
    V15,
    /// V-16: `plaintextOnly` with `kmskey`.
    #[serde(rename = "V-16")]
    V16,
    /// V-17: negative retry settings.
    #[serde(rename = "V-17")]
    V17,
    /// V-18: notify endpoint is not an http(s) URL.
    #[serde(rename = "V-18")]
    V18,
    /// A value of the wrong YAML type (a list where a string belongs, `yes`
    /// for a boolean, a quoted or fractional `attempts`). JOB.md §2 requires
    /// these rejections but §4 gives them no id; ours is `schema`.
    #[serde(rename = "schema")]
    Schema,
}

/// One problem in a job file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobError {
    /// The rule broken.
    pub id: Rule,
    /// YAML path (`keyrotate.flags.filter.tags[0].key`); empty when the
    /// problem is about the file as a whole.
    pub path: String,
    /// The complete message of JOB.md §4, path included.
    pub message: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What to put there instead, when the message alone does not say it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl JobError {
    pub(crate) fn new(id: Rule, path: &str, problem: impl AsRef<str>, pos: Pos) -> Self {
        let problem = problem.as_ref();
        let message = if path.is_empty() {
            problem.to_owned()
        } else {
            format!("{path}: {problem}")
        };
        JobError {
            id,
            path: path.to_owned(),
            message,
            line: pos.line,
            column: pos.column,
            hint: None,
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl std::fmt::Display for JobError {
    /// `<yaml path>: <problem> (line L, column C)` — JOB.md §4.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (line {}, column {})",
            self.message, self.line, self.column
        )
    }
}

/// Every problem found in a job file, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid job file: {} problem(s), first: {}", .0.len(), .0.first().map(ToString::to_string).unwrap_or_default())]
pub struct Invalid(pub Vec<JobError>);
