//! `keyrotate generate` and `keyrotate validate`, run as the real binary,
//! and the job files under testdata/jobs/ against their expected outcome.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_keyrotate"))
}

fn jobs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/jobs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("keyrotate-job-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn template_is_valid_once_the_bucket_is_filled_in() {
    let out = bin().arg("generate").output().unwrap();
    assert!(out.status.success());
    let template = String::from_utf8(out.stdout).unwrap();

    // As printed, the only problem is the empty bucket.
    let raw = scratch("template.yaml");
    std::fs::write(&raw, &template).unwrap();
    let out = bin()
        .args(["validate", "--json"])
        .arg(&raw)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{report:#}");
    assert_eq!(errors[0]["message"], "keyrotate.bucket: required");

    // Fill in the bucket and nothing else.
    assert_eq!(template.matches("bucket: \"\"").count(), 1);
    let filled = template.replacen("bucket: \"\"", "bucket: my-bucket", 1);
    let path = scratch("filled.yaml");
    std::fs::write(&path, &filled).unwrap();
    let out = bin().arg("validate").arg(&path).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // And it avoids the traps of the `mc batch generate` template (JOB.md §2).
    let job = engine::job::parse_job(&filled).unwrap();
    assert!(
        !job.filter.plaintext_only,
        "a bucket-only edit must not give a plaintext-only job"
    );
    assert_eq!(
        job.filter,
        engine::job::model::Filter::default(),
        "no filter active by default"
    );
    for trap in ["sse-s3", "\"date\"", "newerThan: \"7d\""] {
        assert!(!filled.contains(trap), "template contains {trap}");
    }
}

#[test]
fn testdata_jobs_match_their_expected_outcome() {
    let mut checked = 0;
    let mut entries: Vec<_> = std::fs::read_dir(jobs_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for yaml in entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
    {
        let expected_path = yaml.with_extension("expected.json");
        let expected: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&expected_path).unwrap()).unwrap();

        // Library.
        let errors = engine::job::validate(&std::fs::read_to_string(yaml).unwrap());
        assert_eq!(
            serde_json::to_value(&errors).unwrap(),
            expected["errors"],
            "{}",
            yaml.display()
        );
        assert_eq!(errors.is_empty(), expected["valid"].as_bool().unwrap());

        // Binary, --json.
        let out = bin()
            .args(["validate", "--json"])
            .arg(yaml)
            .output()
            .unwrap();
        let mut report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        report.as_object_mut().unwrap().remove("file");
        assert_eq!(report, expected, "{}", yaml.display());
        let want_code = if expected["valid"].as_bool().unwrap() {
            0
        } else {
            2
        };
        assert_eq!(out.status.code(), Some(want_code), "{}", yaml.display());
        checked += 1;
    }
    assert!(checked >= 4, "the three BRIEF examples and the sample");
}

#[test]
fn brief_examples_validate() {
    for name in [
        "brief-example-encrypt-plaintext.yaml",
        "brief-example-rotate-kmskey.yaml",
        "brief-example-encrypt-and-rotate.yaml",
    ] {
        let text = std::fs::read_to_string(jobs_dir().join(name)).unwrap();
        engine::job::parse_job(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn brief_sample_is_rejected_at_each_placeholder_at_once() {
    let out = bin()
        .arg("validate")
        .arg(jobs_dir().join("brief-sample.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Every problem at once, each pointing at its placeholder and saying what to write.
    let want = [
        ("keyrotate.bucket: invalid bucket name \"BUCKET\"", "(line 5, column 11)"),
        ("keyrotate.encryption.context: must be base64 of a JSON object of strings: \"<base64-encoded-kms-context>\" is a template placeholder — put base64 of a JSON object here", "(line 9, column 14)"),
        ("keyrotate.flags.filter: newerThan must be greater than olderThan (no object can match)", "(line 14, column 18)"),
        ("keyrotate.flags.filter.createdAfter: invalid date \"date\": use YYYY-MM-DD or RFC 3339 (e.g. 2024-05-01T00:00:00Z) — replace the template placeholder", "(line 16, column 21)"),
        ("keyrotate.flags.filter.createdBefore: invalid date \"date\": use YYYY-MM-DD or RFC 3339 (e.g. 2024-05-01T00:00:00Z) — replace the template placeholder", "(line 17, column 22)"),
    ];
    assert!(lines[0].ends_with("5 problem(s)"), "{text}");
    for (msg, pos) in want {
        assert!(
            lines
                .iter()
                .any(|l| l.trim_start().starts_with(msg) && l.ends_with(pos)),
            "missing {msg} {pos} in\n{text}"
        );
    }
    // The 7d/7d pair: the hint says what to put there.
    assert!(
        text.contains("hint: newerThan is the upper age limit"),
        "{text}"
    );
}

#[test]
fn validate_reports_unreadable_files_as_invalid_arguments() {
    let out = bin()
        .args(["validate", "/nonexistent/job.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let bin_path = scratch("notutf8.yaml");
    std::fs::write(&bin_path, b"keyrotate:\n  bucket: \xff\n").unwrap();
    let out = bin()
        .args(["validate", "--json"])
        .arg(&bin_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["errors"][0]["id"], "V-1");
}
