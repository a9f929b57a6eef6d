//! MinIO's wildcard matcher (JOB.md §7): upstream's own cases as data, and
//! properties against a naive recursive reference.

use std::path::Path;

use engine::job::wildcard::matches;
use proptest::prelude::*;

#[test]
fn minio_pkg_match_cases() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/wildcard/match_cases.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 53, "every TestMatch case of minio/pkg");
    let mut failures = Vec::new();
    for c in cases {
        let (p, v) = (c["pattern"].as_str().unwrap(), c["value"].as_str().unwrap());
        let want = c["matched"].as_bool().unwrap();
        if matches(p, v) != want {
            failures.push(format!(
                "case {}: Match({p:?}, {v:?}) should be {want}",
                c["case"]
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn byte_semantics() {
    // `?` is one byte: "é" is two.
    assert!(!matches("?", "é"));
    assert!(matches("??", "é"));
    assert!(matches("*", ""));
    assert!(matches("a*b*c", "a/x/b/y/c"));
    assert!(!matches("A*", "a"));
    assert!(matches("[ab]", "[ab]"), "no classes: brackets are literal");
    assert!(
        matches("a\\*", "a\\xyz"),
        "no escapes: backslash is literal"
    );
}

#[test]
fn pathological_pattern_is_fast() {
    // Exponential for a recursive matcher; here a few million steps at most.
    let pattern = format!("{}b", "*a".repeat(30));
    let value = "a".repeat(100_000);
    assert!(!matches(&pattern, &value));
    assert!(matches(&pattern, &(value + "b")));
}

/// The obvious recursive definition, for small inputs only.
fn reference(p: &[u8], v: &[u8]) -> bool {
    match p.split_first() {
        None => v.is_empty(),
        Some((b'*', rest)) => (0..=v.len()).any(|i| reference(rest, &v[i..])),
        Some((b'?', rest)) => !v.is_empty() && reference(rest, &v[1..]),
        Some((c, rest)) => v.first() == Some(c) && reference(rest, &v[1..]),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn agrees_with_reference(p in "[ab*?/é]{0,8}", v in "[ab/é]{0,12}") {
        prop_assert_eq!(matches(&p, &v), reference(p.as_bytes(), v.as_bytes()));
    }

    #[test]
    fn star_and_literal_laws(s in "[a-z/]{0,16}") {
        prop_assert!(matches("*", &s));
        prop_assert!(matches(&s, &s), "a pattern without wildcards matches itself");
        let qs = "?".repeat(s.len());
        prop_assert!(matches(&qs, &s));
        let longer = format!("{qs}?");
        prop_assert!(!matches(&longer, &s));
    }
}
