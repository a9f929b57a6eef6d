//! JOB.md §8 (filters) and §9 (decisions), one test per row, and the anchor
//! bugs AB-1…AB-6 (§16) as tests that show where we differ from MinIO and
//! in which direction.

use std::time::Duration;

use engine::job::decide::{
    decide, is_locked, Action, Capabilities, Decision, FailReason, SkipReason,
};
use engine::job::facts::{keys, VersionFacts, VersionKind};
use engine::job::timestamp::Timestamp;
use engine::job::{parse_job, Job};

const DAY: i64 = 86_400;

fn t(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

/// Job start: all ages are measured from here.
fn t0() -> Timestamp {
    t("2026-01-01T00:00:00Z")
}

/// A version modified `days` days before T0.
fn aged(days: i64) -> Timestamp {
    Timestamp::from_unix_nanos(
        (t0().unix_nanos() / 1_000_000_000) as i64 * 1_000_000_000 - days * DAY * 1_000_000_000,
    )
}

fn job(filter_lines: &str) -> Job {
    let text = format!(
        "keyrotate:\n  apiVersion: v1\n  bucket: my-bucket\n  flags:\n    filter:\n{filter_lines}"
    );
    parse_job(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn any_job() -> Job {
    job("")
}

fn run(j: &Job, v: &VersionFacts) -> Decision {
    decide(j, v, t0(), Capabilities::default())
}

fn plain() -> VersionFacts {
    VersionFacts::object(aged(10))
}

fn sys(v: &mut VersionFacts, entries: &[(&str, &str)]) {
    for (k, val) in entries {
        v.meta_sys.insert((*k).to_owned(), val.as_bytes().to_vec());
    }
}

fn usr(mut v: VersionFacts, entries: &[(&str, &str)]) -> VersionFacts {
    for (k, val) in entries {
        v.meta_usr.insert((*k).to_owned(), (*val).to_owned());
    }
    v
}

fn sse_kms(key_id: &str) -> VersionFacts {
    let mut v = plain();
    sys(
        &mut v,
        &[
            (keys::KMS_SEALED_KEY, SEALED_B64),
            (keys::IV, IV_B64),
            (keys::SEAL_ALGORITHM, "DAREv2-HMAC-SHA256"),
            (keys::KMS_KEY_ID, key_id),
            (keys::KMS_DATA_KEY, "ZGF0YWtleQ=="),
        ],
    );
    v
}

fn sse_s3() -> VersionFacts {
    let mut v = plain();
    sys(
        &mut v,
        &[
            (keys::S3_SEALED_KEY, SEALED_B64),
            (keys::IV, IV_B64),
            (keys::SEAL_ALGORITHM, "DAREv2-HMAC-SHA256"),
            (keys::KMS_KEY_ID, "minio-default-key"),
            (keys::KMS_DATA_KEY, "ZGF0YWtleQ=="),
        ],
    );
    v
}

fn sse_c() -> VersionFacts {
    let mut v = plain();
    sys(
        &mut v,
        &[
            (keys::SSEC_SEALED_KEY, SEALED_B64),
            (keys::IV, IV_B64),
            (keys::SEAL_ALGORITHM, "DAREv2-HMAC-SHA256"),
        ],
    );
    v
}

/// Well-formed (all-zero) sealed key and IV: the SSE parser checks lengths.
const SEALED_B64: &str =
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==";
const IV_B64: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

const ENCRYPT: Decision = Decision::Action(Action::Encrypt);
const CONVERT: Decision = Decision::Action(Action::Convert);
const ROTATE: Decision = Decision::Action(Action::Rotate);
const FILTERED: Decision = Decision::Filtered;

fn skip(r: SkipReason) -> Decision {
    Decision::Skip(r)
}

// ---- §9, row by row -------------------------------------------------------

#[test]
fn s9_2_delete_marker_is_skipped_before_filters() {
    let mut v = plain();
    v.kind = VersionKind::DeleteMarker;
    assert_eq!(run(&any_job(), &v), skip(SkipReason::DeleteMarker));
    // Even when no filter would select it.
    assert_eq!(
        run(&job("      olderThan: 1000d\n"), &v),
        skip(SkipReason::DeleteMarker)
    );
}

#[test]
fn s9_3_free_version_and_pending_purge_are_not_objects() {
    let mut v = plain();
    v.free_version = true;
    assert_eq!(run(&any_job(), &v), skip(SkipReason::NotAnObject));
    // Free versions are delete-type in xl.meta, yet not delete markers.
    v.kind = VersionKind::DeleteMarker;
    assert_eq!(run(&any_job(), &v), skip(SkipReason::NotAnObject));
    let mut v = sse_kms("k");
    v.purge_pending = true;
    assert_eq!(run(&any_job(), &v), skip(SkipReason::NotAnObject));
}

#[test]
fn s9_4_inconsistent_set_is_skipped_even_if_filtered_out() {
    let mut v = sse_kms("k");
    v.consistent = false;
    assert_eq!(run(&any_job(), &v), skip(SkipReason::Inconsistent));
    assert_eq!(
        run(&job("      kmskey: other\n"), &v),
        skip(SkipReason::Inconsistent)
    );
}

#[test]
fn s9_5_filters_decide_before_encryption_state() {
    // An SSE-C or tampered version outside the filters is only "filtered".
    let j = job("      newerThan: 1d\n");
    assert_eq!(run(&j, &sse_c()), FILTERED);
    let mut tampered = plain();
    sys(&mut tampered, &[(keys::IV, IV_B64)]);
    assert_eq!(run(&j, &tampered), FILTERED);
}

#[test]
fn s9_6_ssec_is_always_skipped() {
    assert_eq!(run(&any_job(), &sse_c()), skip(SkipReason::Ssec));
    assert_eq!(
        run(&job("      forceEncryptLocked: true\n"), &sse_c()),
        skip(SkipReason::Ssec)
    );
    let locked = usr(sse_c(), &[("x-amz-object-lock-legal-hold", "ON")]);
    assert_eq!(
        run(&job("      forceEncryptLocked: true\n"), &locked),
        skip(SkipReason::Ssec)
    );
}

#[test]
fn s9_7_tampered_metadata_fails_and_is_never_plaintext() {
    let tampered = FailReason::Tampered;
    let mut cases = Vec::new();
    // Encryption keys without any sealed-key marker.
    for k in [
        keys::IV,
        keys::SEAL_ALGORITHM,
        keys::KMS_KEY_ID,
        keys::KMS_DATA_KEY,
        keys::CONTEXT,
        keys::ENCRYPTED_MULTIPART,
    ] {
        let mut v = plain();
        sys(&mut v, &[(k, "x")]);
        cases.push((format!("only {k}"), v));
    }
    // Two markers.
    let mut v = sse_kms("k");
    sys(&mut v, &[(keys::S3_SEALED_KEY, "x")]);
    cases.push(("KMS and S3 markers".into(), v));
    // A marker without what it needs.
    let mut v = sse_kms("k");
    v.meta_sys.remove(keys::IV);
    cases.push(("SSE-KMS without IV".into(), v));
    let mut v = sse_kms("k");
    v.meta_sys.remove(keys::KMS_KEY_ID);
    cases.push(("SSE-KMS without key id".into(), v));
    let mut v = sse_s3();
    v.meta_sys.remove(keys::KMS_DATA_KEY);
    cases.push(("SSE-S3 with key id but no KMS data key".into(), v));
    for (name, v) in cases {
        assert_eq!(run(&any_job(), &v), Decision::Failed(tampered), "{name}");
        // plaintextOnly must not turn them into "plaintext to encrypt".
        assert_eq!(
            run(&job("      plaintextOnly: true\n"), &v),
            Decision::Failed(tampered),
            "{name}"
        );
    }
}

#[test]
fn s9_8_plaintext_only_skips_encrypted_versions() {
    let j = job("      plaintextOnly: true\n");
    assert_eq!(run(&j, &sse_s3()), skip(SkipReason::NotPlaintext));
    assert_eq!(run(&j, &sse_kms("k")), skip(SkipReason::NotPlaintext));
    assert_eq!(run(&j, &plain()), ENCRYPT);
}

#[test]
fn s9_9_lock_state_at_t0() {
    let hold = [("X-Amz-Object-Lock-Legal-Hold", "on")];
    let future = [
        ("x-amz-object-lock-mode", "COMPLIANCE"),
        (
            "x-amz-object-lock-retain-until-date",
            "2030-01-02T03:04:05.000Z",
        ),
    ];
    let governance = [
        ("x-amz-object-lock-mode", "GOVERNANCE"),
        (
            "x-amz-object-lock-retain-until-date",
            "2026-01-01T00:00:01Z",
        ),
    ];
    let expired = [
        ("x-amz-object-lock-mode", "COMPLIANCE"),
        (
            "x-amz-object-lock-retain-until-date",
            "2025-12-31T23:59:59Z",
        ),
    ];
    let at_t0 = [
        ("x-amz-object-lock-mode", "GOVERNANCE"),
        (
            "x-amz-object-lock-retain-until-date",
            "2026-01-01T00:00:00Z",
        ),
    ];
    let bad_date = [
        ("x-amz-object-lock-mode", "GOVERNANCE"),
        ("x-amz-object-lock-retain-until-date", "soon"),
    ];
    let hold_off = [("x-amz-object-lock-legal-hold", "OFF")];

    for meta in [&hold[..], &future, &governance, &bad_date] {
        assert!(is_locked(&usr(plain(), meta), t0()), "{meta:?}");
        // Locked plaintext: always skipped, forced or not.
        assert_eq!(
            run(&any_job(), &usr(plain(), meta)),
            skip(SkipReason::LockedPlaintext)
        );
        assert_eq!(
            run(
                &job("      forceEncryptLocked: true\n"),
                &usr(plain(), meta)
            ),
            skip(SkipReason::LockedPlaintext)
        );
        // Locked encrypted: skipped unless forced.
        assert_eq!(
            run(&any_job(), &usr(sse_kms("k"), meta)),
            skip(SkipReason::Locked)
        );
        assert_eq!(
            run(&any_job(), &usr(sse_s3(), meta)),
            skip(SkipReason::Locked)
        );
        assert_eq!(
            run(
                &job("      forceEncryptLocked: true\n"),
                &usr(sse_kms("k"), meta)
            ),
            ROTATE
        );
        assert_eq!(
            run(
                &job("      forceEncryptLocked: true\n"),
                &usr(sse_s3(), meta)
            ),
            CONVERT
        );
    }
    for meta in [&expired[..], &at_t0, &hold_off] {
        assert!(!is_locked(&usr(plain(), meta), t0()), "{meta:?}");
        assert_eq!(run(&any_job(), &usr(plain(), meta)), ENCRYPT, "{meta:?}");
    }
}

#[test]
fn s9_10_transitioned_legacy_and_unsupported_layouts() {
    let mut v = plain();
    v.transitioned = true;
    assert_eq!(run(&any_job(), &v), skip(SkipReason::Transitioned));
    let mut v = sse_kms("k");
    v.transitioned = true;
    assert_eq!(
        run(&any_job(), &v),
        ROTATE,
        "re-wrapping touches metadata only"
    );

    let mut v = sse_kms("k");
    v.kind = VersionKind::Legacy;
    assert_eq!(run(&any_job(), &v), skip(SkipReason::Unsupported));

    let etag32 = [("etag", "0123456789abcdef0123456789abcdef")];
    let mut v = usr(plain(), &etag32);
    v.part_count = 2;
    assert_eq!(run(&any_job(), &v), skip(SkipReason::Unsupported));
    let mut v = usr(plain(), &[("etag", "0123456789abcdef0123456789abcdef-2")]);
    v.part_count = 2;
    assert_eq!(run(&any_job(), &v), ENCRYPT);
    let mut v = usr(sse_s3(), &etag32);
    v.part_count = 2;
    assert_eq!(
        run(&any_job(), &v),
        CONVERT,
        "the ETag rule is for encrypt only"
    );

    let mut v = plain();
    v.compressed = true;
    assert_eq!(run(&any_job(), &v), skip(SkipReason::Unsupported));
    assert_eq!(
        decide(
            &any_job(),
            &v,
            t0(),
            Capabilities {
                encrypt_compressed: true
            }
        ),
        ENCRYPT
    );
}

#[test]
fn s9_11_action_by_current_encryption() {
    assert_eq!(run(&any_job(), &plain()), ENCRYPT);
    assert_eq!(run(&any_job(), &sse_s3()), CONVERT);
    assert_eq!(run(&any_job(), &sse_kms("old")), ROTATE);
    // Already under the target key: still rotated (the KMS may have a newer key version).
    let j = parse_job("keyrotate:\n  apiVersion: v1\n  bucket: b-1\n  encryption:\n    key: old\n")
        .unwrap();
    assert_eq!(run(&j, &sse_kms("old")), ROTATE);
    // Legacy SSE-S3 without KMS key id (both absent) is valid SSE-S3.
    let mut v = sse_s3();
    v.meta_sys.remove(keys::KMS_KEY_ID);
    v.meta_sys.remove(keys::KMS_DATA_KEY);
    assert_eq!(run(&any_job(), &v), CONVERT);
}

// ---- §8, filter by filter -------------------------------------------------

#[test]
fn s8_2_age_filters_and_boundaries() {
    let older = job("      olderThan: 7d\n");
    assert_eq!(
        run(&older, &VersionFacts::object(aged(7))),
        ENCRYPT,
        "age == olderThan is selected"
    );
    assert_eq!(run(&older, &VersionFacts::object(aged(6))), FILTERED);
    let newer = job("      newerThan: 7d\n");
    assert_eq!(
        run(&newer, &VersionFacts::object(aged(7))),
        FILTERED,
        "age == newerThan is not"
    );
    assert_eq!(run(&newer, &VersionFacts::object(aged(6))), ENCRYPT);
    // Clock skew: a modTime after T0 is a negative age.
    assert_eq!(run(&newer, &VersionFacts::object(aged(-1))), ENCRYPT);
    assert_eq!(run(&older, &VersionFacts::object(aged(-1))), FILTERED);
    // A window.
    let window = job("      newerThan: 30d\n      olderThan: 7d\n");
    for (days, want) in [
        (3, FILTERED),
        (7, ENCRYPT),
        (29, ENCRYPT),
        (30, FILTERED),
        (31, FILTERED),
    ] {
        assert_eq!(
            run(&window, &VersionFacts::object(aged(days))),
            want,
            "{days} days"
        );
    }
    // T0 is the reference, not the wall clock.
    let v = VersionFacts::object(t("2025-12-20T00:00:00Z"));
    assert_eq!(
        decide(
            &older,
            &v,
            t("2025-12-26T00:00:00Z"),
            Capabilities::default()
        ),
        FILTERED
    );
    assert_eq!(
        decide(
            &older,
            &v,
            t("2025-12-27T00:00:00Z"),
            Capabilities::default()
        ),
        ENCRYPT
    );
}

#[test]
fn s8_2_date_filters_inclusive() {
    let j = job("      createdAfter: 2025-01-01\n      createdBefore: 2025-01-31T23:59:59Z\n");
    for (m, want) in [
        ("2024-12-31T23:59:59.999999999Z", FILTERED),
        ("2025-01-01T00:00:00Z", ENCRYPT),
        ("2025-01-15T12:00:00+05:00", ENCRYPT),
        ("2025-01-31T23:59:59Z", ENCRYPT),
        ("2025-01-31T23:59:59.000000001Z", FILTERED),
    ] {
        assert_eq!(run(&j, &VersionFacts::object(t(m))), want, "{m}");
    }
}

#[test]
fn s8_3_tags() {
    let j = job("      tags:\n        - key: Project\n          value: \"alpha*\"\n        - key: env\n          value: prod\n");
    let tagged = |s: &str| usr(plain(), &[("X-Amz-Tagging", s)]);
    assert_eq!(
        run(&j, &tagged("project=alpha-1")),
        ENCRYPT,
        "key case-insensitive, value wildcard"
    );
    assert_eq!(run(&j, &tagged("a=b&env=prod")), ENCRYPT, "OR across items");
    assert_eq!(run(&j, &tagged("project=beta&env=production")), FILTERED);
    assert_eq!(run(&j, &plain()), FILTERED, "no tags never matches");
    assert_eq!(
        run(&j, &usr(plain(), &[("x-amz-tagging", "env=prod")])),
        ENCRYPT,
        "lower-case stored key"
    );
    let spaced = job("      tags:\n        - key: team name\n          value: \"ops *\"\n");
    assert_eq!(
        run(&spaced, &tagged("team+name=ops%20east")),
        ENCRYPT,
        "form decoding: + and %20"
    );
    for bad in [
        "env=prod&env=prod",
        "env=%zz",
        "env=prod;x=y",
        "=prod&env=prod",
        &(1..=11)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join("&"),
    ] {
        assert_eq!(
            run(&j, &tagged(&format!("{bad}&project=alpha"))),
            FILTERED,
            "invalid tag set {bad:?}"
        );
    }
    let long_key = format!("{}=prod", "k".repeat(129));
    assert_eq!(
        run(
            &job("      tags:\n        - key: \"*\"\n          value: \"*\"\n"),
            &tagged(&long_key)
        ),
        FILTERED
    );
}

#[test]
fn s8_4_metadata() {
    let by_bare = job("      metadata:\n        - key: owner\n          value: \"team-*\"\n");
    assert_eq!(
        run(&by_bare, &usr(plain(), &[("X-Amz-Meta-Owner", "team-a")])),
        ENCRYPT,
        "bare key means x-amz-meta-<key>"
    );
    assert_eq!(
        run(&by_bare, &usr(plain(), &[("owner", "team-a")])),
        FILTERED,
        "not a user-metadata key"
    );
    let by_full =
        job("      metadata:\n        - key: x-amz-meta-owner\n          value: team-a\n");
    assert_eq!(
        run(&by_full, &usr(plain(), &[("X-Amz-Meta-Owner", "team-a")])),
        ENCRYPT
    );
    let ct = job("      metadata:\n        - key: Content-Type\n          value: \"image/*\"\n");
    assert_eq!(
        run(&ct, &usr(plain(), &[("content-type", "image/png")])),
        ENCRYPT,
        "standard header, any case"
    );
    assert_eq!(
        run(&ct, &usr(plain(), &[("content-type", "text/plain")])),
        FILTERED
    );
    assert_eq!(
        run(
            &ct,
            &usr(plain(), &[("X-Amz-Meta-Content-Type", "image/png")])
        ),
        FILTERED
    );
    let expires = job("      metadata:\n        - key: expires\n          value: \"*2030*\"\n");
    assert_eq!(
        run(
            &expires,
            &usr(plain(), &[("expires", "Mon, 01 Jan 2030 00:00:00 GMT")])
        ),
        ENCRYPT
    );
    let or = job("      metadata:\n        - key: a\n          value: \"1\"\n        - key: b\n          value: \"2\"\n");
    assert_eq!(run(&or, &usr(plain(), &[("X-Amz-Meta-B", "2")])), ENCRYPT);
    // Internal keys never match, whatever the filter says about user keys.
    let star = job("      metadata:\n        - key: x-amz-meta-*\n          value: \"*\"\n");
    let mut v = plain();
    sys(&mut v, &[("x-minio-internal-inline-data", "true")]);
    assert_eq!(run(&star, &v), FILTERED);
}

#[test]
fn s8_5_kmskey() {
    let j = job("      kmskey: arn:aws:kms:old-key\n");
    assert_eq!(run(&j, &sse_kms("old-key")), ROTATE, "filter ARN stripped");
    assert_eq!(
        run(&j, &sse_kms("arn:aws:kms:old-key")),
        ROTATE,
        "stored ARN stripped too"
    );
    assert_eq!(run(&j, &sse_kms("Old-Key")), FILTERED, "case-sensitive");
    assert_eq!(
        run(&j, &sse_kms("old-key-2")),
        FILTERED,
        "no wildcards, exact"
    );
    assert_eq!(run(&j, &plain()), FILTERED, "only SSE-KMS versions pass");
    assert_eq!(
        run(&j, &sse_s3()),
        FILTERED,
        "SSE-S3 carries a key id but is not SSE-KMS"
    );
}

#[test]
fn s8_6_plaintext_only_is_a_skip_not_a_filter_miss() {
    let j = job("      plaintextOnly: true\n");
    assert_eq!(run(&j, &sse_kms("k")), skip(SkipReason::NotPlaintext));
    assert_ne!(run(&j, &sse_kms("k")), FILTERED);
}

#[test]
fn s8_1_and_across_every_category() {
    let j = job(
        "      olderThan: 1d\n      createdAfter: 2025-01-01\n      tags:\n        - key: env\n          value: prod\n      metadata:\n        - key: content-type\n          value: \"image/*\"\n      kmskey: k1\n",
    );
    let all = || {
        usr(
            sse_kms("k1"),
            &[
                ("X-Amz-Tagging", "env=prod"),
                ("content-type", "image/jpeg"),
            ],
        )
    };
    assert_eq!(run(&j, &all()), ROTATE);
    // Break each category alone: the version is filtered.
    let mut v = all();
    v.mod_time = aged(0);
    assert_eq!(run(&j, &v), FILTERED, "age");
    let mut v = all();
    v.mod_time = t("2024-06-01");
    assert_eq!(run(&j, &v), FILTERED, "dates");
    assert_eq!(
        run(&j, &usr(all(), &[("X-Amz-Tagging", "env=dev")])),
        FILTERED,
        "tags"
    );
    assert_eq!(
        run(&j, &usr(all(), &[("content-type", "text/html")])),
        FILTERED,
        "metadata"
    );
    let mut v = all();
    sys(&mut v, &[(keys::KMS_KEY_ID, "k2")]);
    assert_eq!(run(&j, &v), FILTERED, "kmskey");
}

// ---- §16 anchor bugs ------------------------------------------------------
//
// Each `minio_*` function models the anchor's code as JOB.md §16 describes
// it, so each test states both results and that they differ.

/// AB-1: MinIO keeps `modTime ≤ createdAfter` and `modTime ≥ createdBefore`.
fn minio_dates_keep(
    mod_time: Timestamp,
    after: Option<Timestamp>,
    before: Option<Timestamp>,
) -> bool {
    after.is_none_or(|a| mod_time <= a) && before.is_none_or(|b| mod_time >= b)
}

#[test]
fn ab01_created_after_selects_newer() {
    let j = job("      createdAfter: 2025-06-01\n");
    let newer = VersionFacts::object(t("2025-09-01"));
    let older = VersionFacts::object(t("2025-01-01"));
    assert_eq!(run(&j, &newer), ENCRYPT);
    assert_eq!(run(&j, &older), FILTERED);
    let a = j.filter.created_after;
    assert!(
        !minio_dates_keep(newer.mod_time, a, None),
        "MinIO drops what was asked for"
    );
    assert!(
        minio_dates_keep(older.mod_time, a, None),
        "and keeps the complement"
    );

    let j = job("      createdBefore: 2025-06-01\n");
    assert_eq!(run(&j, &older), ENCRYPT);
    assert_eq!(run(&j, &newer), FILTERED);
    let b = j.filter.created_before;
    assert!(
        !minio_dates_keep(older.mod_time, None, b) && minio_dates_keep(newer.mod_time, None, b)
    );
}

/// AB-2/AB-3: MinIO's filter returns as soon as tags (or metadata) decide.
fn minio_filter(
    tags_set: bool,
    tags_ok: bool,
    meta_set: bool,
    meta_ok: bool,
    kms_ok: bool,
) -> bool {
    if tags_set {
        return tags_ok;
    }
    if meta_set {
        return meta_ok;
    }
    kms_ok
}

#[test]
fn ab02_tags_and_metadata_both_apply() {
    let j = job("      tags:\n        - key: env\n          value: prod\n      metadata:\n        - key: content-type\n          value: \"image/*\"\n");
    let v = usr(
        plain(),
        &[("X-Amz-Tagging", "env=prod"), ("content-type", "text/html")],
    );
    assert_eq!(run(&j, &v), FILTERED, "metadata does not match: AND");
    assert!(
        minio_filter(true, true, true, false, true),
        "MinIO selects it on tags alone"
    );
}

#[test]
fn ab03_metadata_and_kmskey_both_apply() {
    let j = job("      metadata:\n        - key: content-type\n          value: \"image/*\"\n      kmskey: wanted\n");
    let v = usr(sse_kms("other"), &[("content-type", "image/png")]);
    assert_eq!(run(&j, &v), FILTERED, "kmskey does not match: AND");
    assert!(
        minio_filter(false, false, true, true, false),
        "MinIO never reaches kmskey"
    );
}

#[test]
fn ab04_kmskey_is_read_and_applied() {
    // (a) The documented spelling is a real field, not silently dropped.
    let j = job("      kmskey: \"arn:aws:kms:old-key\"\n");
    assert_eq!(j.filter.kms_key.as_deref(), Some("old-key"));
    // And a typo is an error instead of an ignored key.
    let errors = engine::job::validate(
        "keyrotate:\n  apiVersion: v1\n  bucket: b-1\n  flags:\n    filter:\n      kmsKeyId: x\n",
    );
    assert_eq!(
        errors[0].message,
        "keyrotate.flags.filter: unknown field 'kmsKeyId', did you mean 'kmskeyid'?"
    );
    // (b) It reads the internal key id, so objects under other keys are left alone;
    // (c) both sides are ARN-stripped.
    assert_eq!(run(&j, &sse_kms("old-key")), ROTATE);
    assert_eq!(run(&j, &sse_kms("arn:aws:kms:old-key")), ROTATE);
    assert_eq!(run(&j, &sse_kms("new-key")), FILTERED);
    // MinIO: the response-header key is never stored, so every version passes.
    let minio_passes = |v: &VersionFacts| {
        v.usr("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id")
            .is_none()
    };
    assert!(minio_passes(&sse_kms("new-key")));
}

#[test]
fn ab05_day_durations_are_accepted() {
    let j = job("      newerThan: 7d\n      olderThan: 5d12h30s\n");
    assert_eq!(
        j.filter.newer_than,
        Some(Duration::from_secs(7 * DAY as u64))
    );
    assert_eq!(
        j.filter.older_than,
        Some(Duration::from_secs(5 * DAY as u64 + 12 * 3600 + 30))
    );
    assert_eq!(run(&j, &VersionFacts::object(aged(6))), ENCRYPT);
    assert_eq!(run(&j, &VersionFacts::object(aged(5))), FILTERED);
    // MinIO decodes these fields with Go's time.ParseDuration: it rejects
    // the documented forms, and where it accepts one we agree on the value.
    assert_eq!(go_parse_duration("7d"), None, "MinIO rejects `7d`");
    assert_eq!(go_parse_duration("5d12h30s"), None);
    for go_form in ["168h", "1h30m", "90s", "1.5h", "500ms"] {
        let ours = job(&format!("      newerThan: {go_form}\n"))
            .filter
            .newer_than
            .unwrap();
        assert_eq!(
            Some(ours.as_secs_f64()),
            go_parse_duration(go_form),
            "{go_form}"
        );
    }
}

/// Go's `time.ParseDuration` for unsigned values: decimal numbers, each
/// followed by one of Go's units (no `d`); seconds, or None when Go errors.
fn go_parse_duration(s: &str) -> Option<f64> {
    const UNITS: [(&str, f64); 8] = [
        ("ns", 1e-9),
        ("us", 1e-6),
        ("µs", 1e-6),
        ("μs", 1e-6),
        ("ms", 1e-3),
        ("s", 1.0),
        ("m", 60.0),
        ("h", 3600.0),
    ];
    if s == "0" {
        return Some(0.0);
    }
    let mut rest = s;
    let mut total = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let (_, scale) = UNITS.iter().find(|(u, _)| *u == &rest[..unit_len])?;
        total += number * scale;
        rest = &rest[unit_len..];
    }
    (!s.is_empty()).then_some(total)
}

#[test]
fn ab06_quoted_date_only_is_accepted() {
    let quoted = job("      createdAfter: \"2024-01-02\"\n");
    let unquoted = job("      createdAfter: 2024-01-02\n");
    assert_eq!(quoted.filter.created_after, Some(t("2024-01-02T00:00:00Z")));
    assert_eq!(quoted.filter.created_after, unquoted.filter.created_after);
    // MinIO: a quoted value must be RFC 3339 to the second, so the quoted form fails.
    let minio_quoted_ok = |s: &str| s.len() >= 20 && s.as_bytes()[10] == b'T';
    assert!(!minio_quoted_ok("2024-01-02"));
}

// ---- real MinIO metadata ---------------------------------------------------

/// The internal metadata MinIO itself wrote for each SSE kind
/// (testdata/vectors/sse_metadata.json) classifies as that kind, and drives
/// the matching action and the kmskey filter.
#[test]
fn classification_of_minio_written_metadata() {
    use engine::job::facts::{classify_encryption, EncryptionKind};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/vectors/sse_metadata.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for case in doc["cases"].as_array().unwrap() {
        let kind = case["kind"].as_str().unwrap();
        let mut v = plain();
        for pair in case["internal_metadata"].as_array().unwrap() {
            v.meta_sys.insert(
                pair[0].as_str().unwrap().to_owned(),
                pair[1].as_str().unwrap().as_bytes().to_vec(),
            );
        }
        let (want_kind, want_action) = match kind
            .split(['-', '+'])
            .take(2)
            .collect::<Vec<_>>()
            .join("-")
            .as_str()
        {
            "SSE-S3" => (EncryptionKind::SseS3, CONVERT),
            "SSE-KMS" => (EncryptionKind::SseKms, ROTATE),
            "SSE-C" => (EncryptionKind::SseC, skip(SkipReason::Ssec)),
            other => panic!("unknown kind {other}"),
        };
        assert_eq!(classify_encryption(&v.meta_sys), want_kind, "{kind}");
        assert_eq!(run(&any_job(), &v), want_action, "{kind}");
        let by_key = job("      kmskey: my-minio-key\n");
        let want = if want_kind == EncryptionKind::SseKms {
            ROTATE
        } else {
            FILTERED
        };
        assert_eq!(run(&by_key, &v), want, "{kind} with kmskey");
        seen.insert(kind.to_owned());
    }
    assert!(seen.len() >= 6, "{seen:?}");
}
