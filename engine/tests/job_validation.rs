//! Static validation (JOB.md §4): one table row per rule V-1…V-18 with the
//! exact message, YAML path and position; several errors reported at once.

use engine::job::{parse_job, validate, JobError, Rule};

/// A minimal valid job plus `extra` lines under `keyrotate:` (2-space indent).
fn doc(extra: &str) -> String {
    format!("keyrotate:\n  apiVersion: v1\n  bucket: my-bucket\n{extra}")
}

/// A valid job whose `flags.filter` holds `lines` (6-space indent), which
/// therefore start on line 6, column 7.
fn filter(lines: &str) -> String {
    doc(&format!("  flags:\n    filter:\n{lines}"))
}

struct Row {
    rule: Rule,
    yaml: String,
    path: &'static str,
    message: &'static str,
    line: usize,
    column: usize,
}

fn row(
    rule: Rule,
    yaml: impl Into<String>,
    path: &'static str,
    message: &'static str,
    line: usize,
    column: usize,
) -> Row {
    Row {
        rule,
        yaml: yaml.into(),
        path,
        message,
        line,
        column,
    }
}

fn table() -> Vec<Row> {
    use Rule::*;
    vec![
        row(V1, doc("  bucket: other-bucket\n"), "keyrotate", "keyrotate: invalid YAML: duplicate key 'bucket'", 4, 3),
        row(
            V1,
            "keyrotate:\n  apiVersion: v1\n  bucket: [my-bucket\n",
            "",
            "invalid YAML: while parsing a flow sequence, expected ',' or ']'",
            4,
            1,
        ),
        row(V1, doc("  <<: {prefix: a}\n"), "", "invalid YAML: merge keys ('<<') are not allowed: they hide which key set a value", 4, 3),
        row(V2, "replicate:\n  apiVersion: v1\n", "", "job file must contain exactly one 'keyrotate' job (found: replicate)", 1, 1),
        row(V2, doc("expire:\n  apiVersion: v1\n"), "", "job file must contain exactly one 'keyrotate' job (found: keyrotate, expire)", 4, 1),
        row(V3, filter("      kmskye: old-key\n"), "keyrotate.flags.filter", "keyrotate.flags.filter: unknown field 'kmskye', did you mean 'kmskey'?", 6, 7),
        row(V3, doc("  colour: red\n"), "keyrotate", "keyrotate: unknown field 'colour'", 4, 3),
        row(V4, "keyrotate:\n  apiVersion: v2\n  bucket: my-bucket\n", "keyrotate.apiVersion", "keyrotate.apiVersion: must be \"v1\"", 2, 15),
        row(V4, "keyrotate:\n  bucket: my-bucket\n", "keyrotate.apiVersion", "keyrotate.apiVersion: must be \"v1\"", 1, 1),
        row(V5, "keyrotate:\n  apiVersion: v1\n  bucket: BUCKET\n", "keyrotate.bucket", "keyrotate.bucket: invalid bucket name \"BUCKET\"", 3, 11),
        row(V5, "keyrotate:\n  apiVersion: v1\n  bucket: \"\"\n", "keyrotate.bucket", "keyrotate.bucket: required", 3, 11),
        row(V6, doc("  prefix: a//b\n"), "keyrotate.prefix", "keyrotate.prefix: invalid object prefix", 4, 11),
        row(V6, doc("  prefix: [ok/, ../up]\n"), "keyrotate.prefix[1]", "keyrotate.prefix[1]: invalid object prefix", 4, 17),
        row(
            V7,
            doc("  encryption:\n    type: sse-s3\n"),
            "keyrotate.encryption.type",
            "keyrotate.encryption.type: only \"sse-kms\" is supported; this job always produces SSE-KMS (to re-wrap SSE-S3 in place, rotate the KMS master key instead)",
            5,
            11,
        ),
        row(V8, doc("  encryption:\n    key: \" my-key\"\n"), "keyrotate.encryption.key", "keyrotate.encryption.key: KMS key id contains unsupported characters", 5, 10),
        row(
            V9,
            doc("  encryption:\n    context: '{\"team\": 1}'\n"),
            "keyrotate.encryption.context",
            "keyrotate.encryption.context: must be base64 of a JSON object of strings: the value of \"team\" is 1, not a string",
            5,
            14,
        ),
        row(
            V10,
            filter("      newerThan: 7D\n"),
            "keyrotate.flags.filter.newerThan",
            "keyrotate.flags.filter.newerThan: invalid duration \"7D\": unknown unit \"D\" (units: ns, us, µs, ms, s, m, h, d, w)",
            6,
            18,
        ),
        row(
            V10,
            filter("      olderThan: 3600\n"),
            "keyrotate.flags.filter.olderThan",
            "keyrotate.flags.filter.olderThan: invalid duration \"3600\": missing unit (use e.g. 7d, 24h, 5d12h30s, 90m)",
            6,
            18,
        ),
        row(
            V10,
            filter("      olderThan: -1h\n"),
            "keyrotate.flags.filter.olderThan",
            "keyrotate.flags.filter.olderThan: invalid duration \"-1h\": negative durations are not allowed",
            6,
            18,
        ),
        row(
            V11,
            filter("      newerThan: 7d\n      olderThan: 168h\n"),
            "keyrotate.flags.filter",
            "keyrotate.flags.filter: newerThan must be greater than olderThan (no object can match)",
            6,
            18,
        ),
        row(
            V12,
            filter("      createdAfter: 2024-02-01\n      createdBefore: 2024-01-31T23:59:59Z\n"),
            "keyrotate.flags.filter",
            "keyrotate.flags.filter: createdAfter is after createdBefore (no object can match)",
            6,
            21,
        ),
        row(
            V13,
            filter("      createdBefore: \"date\"\n"),
            "keyrotate.flags.filter.createdBefore",
            "keyrotate.flags.filter.createdBefore: invalid date \"date\": use YYYY-MM-DD or RFC 3339 (e.g. 2024-05-01T00:00:00Z) — replace the template placeholder",
            6,
            22,
        ),
        row(
            V13,
            filter("      createdAfter: 01/05/2024\n"),
            "keyrotate.flags.filter.createdAfter",
            "keyrotate.flags.filter.createdAfter: invalid date \"01/05/2024\": use YYYY-MM-DD or RFC 3339 (e.g. 2024-05-01T00:00:00Z)",
            6,
            21,
        ),
        row(V14, filter("      tags:\n        - key: \"\"\n          value: x\n"), "keyrotate.flags.filter.tags[0].key", "keyrotate.flags.filter.tags[0].key: key can't be empty", 7, 16),
        row(
            V14,
            filter("      metadata:\n        - key: a\n        - value: x\n"),
            "keyrotate.flags.filter.metadata[1].key",
            "keyrotate.flags.filter.metadata[1].key: key can't be empty",
            8,
            11,
        ),
        row(
            V15,
            filter("      metadata:\n        - key: X-Minio-Internal-Server-Side-Encryption-Iv\n          value: \"*\"\n"),
            "keyrotate.flags.filter.metadata[0].key",
            "keyrotate.flags.filter.metadata[0].key: internal metadata cannot be matched",
            7,
            16,
        ),
        row(
            V16,
            filter("      plaintextOnly: true\n      kmskey: old-key\n"),
            "keyrotate.flags.filter",
            "keyrotate.flags.filter: kmskey selects SSE-KMS objects but plaintextOnly excludes them (no object can match)",
            7,
            15,
        ),
        row(V17, doc("  flags:\n    retry:\n      attempts: -1\n"), "keyrotate.flags.retry", "keyrotate.flags.retry: attempts and delay must not be negative", 6, 17),
        row(V17, doc("  flags:\n    retry:\n      delay: -25ms\n"), "keyrotate.flags.retry", "keyrotate.flags.retry: attempts and delay must not be negative", 6, 14),
        row(V18, doc("  flags:\n    notify:\n      endpoint: ftp://example.com/x\n"), "keyrotate.flags.notify.endpoint", "keyrotate.flags.notify.endpoint: must be an http or https URL", 6, 17),
        row(V18, doc("  flags:\n    notify:\n      endpoint: example.com/hook\n"), "keyrotate.flags.notify.endpoint", "keyrotate.flags.notify.endpoint: must be an http or https URL", 6, 17),
    ]
}

#[test]
fn every_rule_exact_message_path_and_position() {
    let mut seen = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for r in table() {
        let errors = validate(&r.yaml);
        let got: Vec<(Rule, &str, &str, usize, usize)> = errors
            .iter()
            .map(|e| (e.id, e.path.as_str(), e.message.as_str(), e.line, e.column))
            .collect();
        let want = vec![(r.rule, r.path, r.message, r.line, r.column)];
        if got != want {
            failures.push(format!(
                "{:?} on\n{}\n  got  {got:?}\n  want {want:?}",
                r.rule, r.yaml
            ));
        }
        seen.insert(r.rule);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    use Rule::*;
    for rule in [
        V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11, V12, V13, V14, V15, V16, V17, V18,
    ] {
        assert!(seen.contains(&rule), "no row for {rule:?}");
    }
}

#[test]
fn display_format_is_path_problem_line_column() {
    let e = &validate("keyrotate:\n  apiVersion: v1\n  bucket: BUCKET\n")[0];
    assert_eq!(
        e.to_string(),
        "keyrotate.bucket: invalid bucket name \"BUCKET\" (line 3, column 11)"
    );
}

#[test]
fn three_different_errors_are_all_reported() {
    let yaml = "keyrotate:\n  apiVersion: v2\n  bucket: Bad_Bucket\n  flags:\n    filter:\n      createdAfter: \"date\"\n";
    let errors = validate(yaml);
    let ids: Vec<(Rule, usize)> = errors.iter().map(|e| (e.id, e.line)).collect();
    assert_eq!(ids, vec![(Rule::V4, 2), (Rule::V5, 3), (Rule::V13, 6)]);
}

#[test]
fn type_errors_are_schema_errors_with_positions() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "      plaintextOnly: yes\n",
            "keyrotate.flags.filter.plaintextOnly",
            "expected true or false, found \"yes\"",
        ),
        (
            "      plaintextOnly: \"true\"\n",
            "keyrotate.flags.filter.plaintextOnly",
            "expected true or false, found the quoted string \"true\"",
        ),
        (
            "      tags: {key: a}\n",
            "keyrotate.flags.filter.tags",
            "expected a list of {key, value} items, found a mapping",
        ),
        (
            "      kmskey: [a]\n",
            "keyrotate.flags.filter.kmskey",
            "expected a string, found a list",
        ),
    ];
    for (lines, path, problem) in cases {
        let errors = validate(&filter(lines));
        assert_eq!(errors.len(), 1, "{lines}: {errors:?}");
        assert_eq!(errors[0].id, Rule::Schema);
        assert_eq!(errors[0].path, *path);
        assert_eq!(errors[0].message, format!("{path}: {problem}"));
        assert_eq!(
            (errors[0].line, errors[0].column),
            (6, 7 + lines.trim().find(':').unwrap() + 2)
        );
    }
    for (attempts, problem) in [
        (
            "\"3\"",
            "must be an unquoted whole number, found the string \"3\"",
        ),
        ("3.5", "must be a whole number, found 3.5"),
    ] {
        let errors = validate(&doc(&format!(
            "  flags:\n    retry:\n      attempts: {attempts}\n"
        )));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(
            errors[0].message,
            format!("keyrotate.flags.retry.attempts: {problem}")
        );
    }
}

#[test]
fn valid_values_and_defaults() {
    let job = parse_job(&doc(
        "  prefix: [b/, a/, a/x/, b/]\n  encryption:\n    type: sse-kms\n    key: arn:aws:kms:new-key\n    context: eyJwcm9qZWN0IjoiYWxwaGEifQ==\n  flags:\n    filter:\n      newerThan: 30d\n      olderThan: 0\n      createdAfter: 2024-5-1\n      kmskeyid: arn:aws:kms:old-key\n      plaintextOnly: FALSE\n    notify:\n      endpoint: https://hooks.example.com/x\n      token: Bearer s3cret\n    retry:\n      attempts: 0\n      delay: 1d\n",
    ))
    .unwrap();
    assert_eq!(job.prefixes, ["a/", "b/"]);
    assert_eq!(job.encryption.key.as_deref(), Some("new-key"));
    assert_eq!(
        job.encryption
            .context
            .as_ref()
            .unwrap()
            .0
            .get("project")
            .map(String::as_str),
        Some("alpha")
    );
    assert_eq!(
        job.filter.newer_than,
        Some(std::time::Duration::from_secs(30 * 86400))
    );
    assert_eq!(job.filter.older_than, None, "0 means off");
    assert_eq!(
        job.filter.kms_key.as_deref(),
        Some("old-key"),
        "kmskeyid alias, ARN stripped"
    );
    assert_eq!(job.retry.attempts, 3, "0 means the default");
    assert_eq!(job.retry.delay, std::time::Duration::from_secs(86400));
    assert_eq!(job.notify.token.as_ref().unwrap().expose(), "Bearer s3cret");
    assert!(
        !format!("{job:?}").contains("s3cret"),
        "the token never shows in Debug"
    );

    let job = parse_job(&doc(
        "  encryption:\n    context: '{\"b\":\"2\",\"a\":\"1\"}'\n",
    ))
    .unwrap();
    assert_eq!(
        job.encryption.context.unwrap().0.keys().collect::<Vec<_>>(),
        ["a", "b"]
    );
    let job = parse_job(&doc("  encryption: {}\n")).unwrap();
    assert_eq!(job.encryption.key, None);
    assert_eq!(job.retry.delay, std::time::Duration::from_millis(25));
    assert_eq!(job.prefixes, [""]);
}

#[test]
fn anchors_and_aliases_are_allowed() {
    let job = parse_job(&doc("  prefix: &p logs/\n  flags:\n    filter:\n      tags:\n        - key: dir\n          value: *p\n")).unwrap();
    assert_eq!(job.filter.tags[0].value, "logs/");
}

#[test]
fn both_kmskey_spellings_is_a_duplicate() {
    let errors = validate(&filter("      kmskey: a\n      kmskeyid: b\n"));
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].id, Rule::V1);
    assert_eq!((errors[0].line, errors[0].column), (7, 17));
}

#[test]
fn json_shape() {
    let errors: Vec<JobError> = validate("replicate: {}\n");
    let v = serde_json::to_value(&errors).unwrap();
    assert_eq!(v[0]["id"], "V-2");
    assert_eq!(v[0]["line"], 1);
    assert!(v[0].get("hint").is_none());
}

mod never_panics {
    use proptest::prelude::*;

    const VALID: &str = "keyrotate:\n  apiVersion: v1\n  bucket: my-bucket\n  prefix: [a/, b/]\n  encryption:\n    key: k\n    context: eyJhIjoiYiJ9\n  flags:\n    filter:\n      newerThan: 30d\n      olderThan: 7d\n      createdAfter: 2024-01-01\n      tags:\n        - key: a\n          value: \"b*\"\n    retry:\n      attempts: 3\n      delay: 1s\n";

    #[test]
    fn baseline_is_valid() {
        assert_eq!(engine::job::validate(VALID), vec![]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Arbitrary text: an answer, never a panic, every error positioned.
        #[test]
        fn arbitrary_text(s in "\\PC{0,200}") {
            for e in engine::job::validate(&s) {
                prop_assert!(e.line >= 1 && e.column >= 1);
            }
        }

        /// A valid job with one byte range replaced by YAML-ish noise.
        #[test]
        fn mutated_valid_job(at in 0usize..VALID.len(), len in 0usize..12, noise in "[-:{}\\[\\]&*!|>'\" a-z0-9\n]{0,12}") {
            let end = (at + len).min(VALID.len());
            let text = format!("{}{}{}", &VALID[..at], noise, &VALID[end..]);
            for e in engine::job::validate(&text) {
                prop_assert!(e.line >= 1 && e.column >= 1);
                prop_assert!(!e.message.is_empty());
            }
        }
    }
}
