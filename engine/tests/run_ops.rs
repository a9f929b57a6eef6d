//! Operator controls of a run (issue 20): `--kms-rate` measured at the
//! KMS's side, the `--metrics-file` read by an independent Prometheus
//! parser, maintenance windows and the audit export.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use base64::Engine as _;
use kms_client::testing::{Fixture as KesFixture, FixtureConfig};
use serde_json::Value;

#[path = "common/runs.rs"]
mod runs;
use runs::*;

/// The KES protocol fixture knowing `KEY1` (what `runs::fixture` seals
/// with), and the environment pointing `keyrotate` at it.
fn kes(dir: &Path) -> (KesFixture, Vec<(String, String)>) {
    let (name, b64) = KEY1.split_once(':').unwrap();
    let secret: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
        .try_into()
        .unwrap();
    let fixture = KesFixture::start(FixtureConfig {
        keys: vec![(name.to_owned(), secret)],
        // Both cores: the fixture must not be what limits the client.
        worker_threads: 2,
        ..FixtureConfig::default()
    })
    .unwrap();
    let write = |file: &str, text: &str| {
        let p = dir.join(file);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let env = vec![
        ("MINIO_KMS_KES_ENDPOINT".to_owned(), fixture.endpoint()),
        ("MINIO_KMS_KES_KEY_NAME".to_owned(), name.to_owned()),
        (
            "MINIO_KMS_KES_CERT_FILE".to_owned(),
            write("client.crt", fixture.client_cert_pem()),
        ),
        (
            "MINIO_KMS_KES_KEY_FILE".to_owned(),
            write("client.key", fixture.client_key_pem()),
        ),
        (
            "MINIO_KMS_KES_CAPATH".to_owned(),
            write("ca.pem", fixture.ca_pem()),
        ),
    ];
    (fixture, env)
}

fn kes_run(
    job: &Path,
    drives: &[PathBuf],
    state: &Path,
    env: &[(String, String)],
    extra: &[&str],
) -> (i32, Value) {
    let o = Command::new(bin())
        .arg("run")
        .arg(job)
        .arg("--drives")
        .args(drives)
        .arg("--state-dir")
        .arg(state)
        .args(["--skip-server-check", "--json"])
        .args(extra)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env_remove("MINIO_KMS_SECRET_KEY")
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    assert!(
        v.is_object(),
        "no summary; stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.code().unwrap_or(-1), v)
}

/// Requests per second between the first and the last arrival.
fn rate(arrivals: &[Instant]) -> f64 {
    let (first, last) = (arrivals[0], arrivals[arrivals.len() - 1]);
    (arrivals.len() - 1) as f64 / (last - first).as_secs_f64()
}

/// `--kms-rate 500` with 32 workers: the KMS sees 500 requests/s (±10%)
/// over a run of about four seconds (900 rotations, two requests each),
/// and the summary reports the rate it achieved.
#[test]
fn kms_rate_caps_the_requests_the_kms_receives() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 900, "sse-kms=1", &[]);
    let drives = drives(&root, 4);
    let job = write_job(tmp.path(), "fixture", "");
    let (kms, env) = kes(tmp.path());
    let state = tmp.path().join("state");
    let (code, s) = kes_run(
        &job,
        &drives,
        &state,
        &env,
        &["--kms-rate", "500", "--kms-concurrency", "32"],
    );
    assert_eq!(code, 0, "{s:#}");
    assert_eq!(s["objectsRotated"], 900, "{s:#}");
    let arrivals = kms.arrivals();
    assert!(arrivals.len() >= 1800, "{} requests", arrivals.len());
    let measured = rate(&arrivals);
    assert!(
        (450.0..=550.0).contains(&measured),
        "measured {measured:.1} requests/s at the KMS over {} requests",
        arrivals.len()
    );
    let reported = s["kmsRate"]["achievedPerSecond"].as_f64().unwrap();
    assert!((450.0..=550.0).contains(&reported), "{s:#}");
    assert_eq!(s["kmsRate"]["limitPerSecond"], 500);
}

/// One sample's value from an independent parse of the metrics file:
/// (metric, labels other than job_id) → value; every sample must carry the
/// job id.
fn scrape(path: &Path, job_id: &str) -> std::collections::BTreeMap<(String, String), f64> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).unwrap();
    let scrape = prometheus_parse::Scrape::parse(std::io::BufReader::new(file).lines()).unwrap();
    let mut out = std::collections::BTreeMap::new();
    for s in scrape.samples {
        assert_eq!(s.labels.get("job_id"), Some(job_id), "{}", s.metric);
        let mut other: Vec<String> = s
            .labels
            .iter()
            .filter(|(k, _)| k.as_str() != "job_id")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        other.sort();
        let value = match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            other => panic!("{}: unexpected {other:?}", s.metric),
        };
        let was = out.insert((s.metric.clone(), other.join(",")), value);
        assert!(was.is_none(), "{} twice", s.metric);
    }
    out
}

/// The metrics file of a finished run parses with an independent Prometheus
/// text-format parser and its totals are the run's `--json` summary.
#[test]
fn metrics_file_parses_and_matches_the_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(
        &root,
        40,
        "plain=1,sse-s3=1,sse-kms=2,sse-c=1",
        &["--versions", "2", "--locked-every", "7"],
    );
    let drives = drives(&root, 4);
    let job = write_job(tmp.path(), "fixture", "");
    let state = tmp.path().join("state");
    let metrics = tmp.path().join("keyrotate.prom");
    let o = run_cmd(&job, &drives, &state, KEY1)
        .arg("--metrics-file")
        .arg(&metrics)
        .output()
        .unwrap();
    let s: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(o.status.code(), Some(0), "{s:#}");
    let m = scrape(&metrics, s["jobID"].as_str().unwrap());
    let get = |metric: &str, labels: &str| -> u64 {
        let v = m
            .get(&(metric.to_owned(), labels.to_owned()))
            .unwrap_or_else(|| panic!("no {metric}{{{labels}}} in {m:?}"));
        *v as u64
    };
    let n = |k: &str| s[k].as_u64().unwrap();
    assert!(n("objectsRotated") > 0 && n("objectsConverted") > 0 && n("objectsEncrypted") > 0);
    assert_eq!(
        get("keyrotate_versions_total", "action=rotate"),
        n("objectsRotated")
    );
    assert_eq!(
        get("keyrotate_versions_total", "action=convert"),
        n("objectsConverted")
    );
    assert_eq!(
        get("keyrotate_versions_total", "action=encrypt"),
        n("objectsEncrypted")
    );
    assert_eq!(
        get("keyrotate_versions_scanned_total", ""),
        n("objectsScanned")
    );
    assert_eq!(
        get("keyrotate_versions_filtered_total", ""),
        n("objectsFiltered")
    );
    let by_reason = s["skippedByReason"].as_object().unwrap();
    assert!(!by_reason.is_empty());
    for (reason, count) in by_reason {
        assert_eq!(
            get(
                "keyrotate_versions_skipped_total",
                &format!("reason={reason}")
            ),
            count.as_u64().unwrap()
        );
    }
    assert_eq!(
        get("keyrotate_versions_skipped_total", "reason=deleteMarker"),
        n("deleteMarkersSkipped")
    );
    assert_eq!(
        get("keyrotate_bytes_rewritten_total", ""),
        n("bytesTransferred")
    );
    assert_eq!(
        get("keyrotate_kms_requests_total", "kind=decrypt"),
        s["kmsCalls"]["decrypt"].as_u64().unwrap()
    );
    assert_eq!(
        get("keyrotate_kms_requests_total", "kind=generate"),
        s["kmsCalls"]["generate"].as_u64().unwrap()
    );
    assert_eq!(get("keyrotate_kms_errors_total", ""), 0);
    assert_eq!(get("keyrotate_drive_write_errors_total", ""), 0);
    assert_eq!(get("keyrotate_run_state", "state=completed"), 1);
    assert_eq!(get("keyrotate_run_state", "state=running"), 0);
    let start = get("keyrotate_start_time_seconds", "");
    let updated = get("keyrotate_last_update_seconds", "");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        start <= updated && updated <= now && now - start < 600,
        "{start} {updated} {now}"
    );
    // Written by rename: no temporary file is left beside it.
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// (bucket, object, version id) → action or skip/failure reason, and the
/// number of report lines.
fn decisions(
    state: &Path,
) -> (
    std::collections::BTreeMap<(String, String, String), String>,
    usize,
) {
    let lines = report_lines(state);
    let map = lines
        .iter()
        .map(|l| {
            let key = (
                l["bucket"].as_str().unwrap().to_owned(),
                l["object"].as_str().unwrap().to_owned(),
                l["versionId"].as_str().unwrap_or("").to_owned(),
            );
            let what = l["action"]
                .as_str()
                .or_else(|| l["reason"].as_str())
                .unwrap()
                .to_owned();
            (key, what)
        })
        .collect();
    (map, lines.len())
}

/// Every file under the drives, relative to the deployment (keyrotate's
/// own lock files aside).
fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else if !p.ends_with("keyrotate.lock") {
                out.push(p.strip_prefix(root).unwrap().to_owned());
            }
        }
    }
    out.sort();
    out
}

/// The counters of a summary that must not depend on how the job was split
/// into runs.
const COUNTERS: [&str; 17] = [
    "objects",
    "objectsScanned",
    "objectsRotated",
    "objectsConverted",
    "objectsEncrypted",
    "objectsSkipped",
    "skippedByReason",
    "objectsFiltered",
    "deleteMarkersSkipped",
    "objectsFailed",
    "failedByReason",
    "bytesTransferred",
    "bytesActual",
    "kmsCalls",
    "internal",
    "complete",
    "status",
];

/// A job paused by `--max-duration`, then by `--limit`, then finished by a
/// plain `run` ends as the same job run once: same counters, same report
/// decisions (each version once), same files on the drives, and `verify
/// --data` passes.
#[test]
fn a_job_split_by_windows_ends_as_one_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, split) = (tmp.path().join("one"), tmp.path().join("split"));
    for root in [&one, &split] {
        fixture(
            root,
            80,
            "plain=1,sse-s3=1,sse-kms=2,sse-c=1",
            &["--versions", "2"],
        );
    }
    let job = write_job(tmp.path(), "fixture", "");

    let (state_one, drives_one) = (tmp.path().join("state-one"), drives(&one, 4));
    let (code, whole, _) = run(&job, &drives_one, &state_one, KEY1);
    assert_eq!(code, 0, "{whole:#}");
    let total = whole["objectsScanned"].as_u64().unwrap();

    let (state, drives) = (tmp.path().join("state-split"), drives(&split, 4));
    // 1. A one-second window over commits slowed to 25 ms each.
    let o = run_cmd(&job, &drives, &state, KEY1)
        .args(["--max-duration", "1s"])
        .env("KEYROTATE_TEST_COMMIT_DELAY_MS", "25")
        .env("KEYROTATE_TEST_BATCH", "1")
        .output()
        .unwrap();
    let first: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(o.status.code(), Some(5), "{first:#}");
    assert_eq!(first["status"], "paused");
    assert!(!first["failed"].as_bool().unwrap() && !first["complete"].as_bool().unwrap());
    let after_first = first["objectsScanned"].as_u64().unwrap();
    assert!(
        after_first < total,
        "{after_first} of {total}: the window never closed"
    );
    let status = Command::new(bin())
        .args(["status", "--json", "--state-dir"])
        .arg(&state)
        .output()
        .unwrap();
    let listed: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(listed[0]["status"], "paused");
    assert_eq!(listed[0]["resumable"], true);

    // 2. A canary of 10 versions.
    let o = run_cmd(&job, &drives, &state, KEY1)
        .args(["--limit", "10"])
        .output()
        .unwrap();
    let second: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(o.status.code(), Some(5), "{second:#}");
    assert_eq!(second["jobID"], first["jobID"]);
    let canary = second["objectsScanned"].as_u64().unwrap() - after_first;
    // Whole objects: at most the largest object's versions less one past 10.
    let mut per_object = std::collections::BTreeMap::new();
    for (bucket, object, _) in decisions(&state_one).0.keys() {
        *per_object
            .entry((bucket.clone(), object.clone()))
            .or_insert(0u64) += 1;
    }
    let widest = per_object.values().copied().max().unwrap();
    assert!(
        (10..10 + widest).contains(&canary),
        "the canary decided {canary} versions (objects have up to {widest})"
    );

    // 3. A plain run finishes the job.
    let (code, last, _) = run(&job, &drives, &state, KEY1);
    assert_eq!(code, 0, "{last:#}");
    assert_eq!(last["jobID"], first["jobID"]);
    for k in COUNTERS {
        assert_eq!(last[k], whole[k], "{k}");
    }
    assert_eq!(decisions(&state), decisions(&state_one));
    assert_eq!(decisions(&state).1 as u64, total);
    assert_eq!(files(&split), files(&one));
    let (code, report, _) = verify_cmd(&drives, &["--data"]);
    assert_eq!(code, 0, "{report:#}");
}

fn keyrotate(args: &[&str], state: &Path) -> std::process::Output {
    Command::new(bin())
        .args(args)
        .arg("--state-dir")
        .arg(state)
        .output()
        .unwrap()
}

/// `report --format csv` has the S3 Batch Operations completion report
/// columns then ours, one row per reported version, read back with an
/// independent CSV reader; `jsonl` carries the same lines; `status --all`
/// lists the root's jobs; `forget` refuses a paused job and removes a
/// finished one.
#[test]
fn report_export_status_all_and_forget() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    // Job 1 completes; job 2 (other deployment, a KMS that does not know
    // the objects' key, its proof skipped) fails its SSE-KMS versions; job
    // 3 pauses.
    let mut jobs = Vec::new();
    for (n, key) in [(1, KEY1), (2, KEY2), (3, KEY1)] {
        let dir = tmp.path().join(format!("job{n}"));
        fixture(
            &dir.join("d"),
            20,
            "plain=1,sse-s3=1,sse-kms=2,sse-c=1",
            &["--versions", "2"],
        );
        let job = write_job(&dir, "fixture", &format!("# job {n}\n"));
        let drives = drives(&dir.join("d"), 4);
        let mut cmd = run_cmd(&job, &drives, &state, key);
        if n == 2 {
            // The key proof would refuse the unknown key before any write;
            // past it (a key gone for good), the versions fail one by one.
            cmd.arg("--skip-key-proof");
        }
        if n == 3 {
            cmd.args(["--limit", "5"]);
        }
        let o = cmd.output().unwrap();
        let s: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(o.status.code(), Some([0, 1, 5][n - 1]), "job {n}: {s:#}");
        jobs.push(s);
    }
    let id = |n: usize| jobs[n - 1]["jobID"].as_str().unwrap().to_owned();

    // Several jobs: --job is needed.
    let o = keyrotate(&["report"], &state);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--job"));

    for n in [1, 2] {
        // The run's directory, wherever the state layout puts it.
        let mut stack = vec![state.clone()];
        let mut dir = None;
        while let Some(d) = stack.pop() {
            for p in std::fs::read_dir(&d).unwrap().flatten().map(|e| e.path()) {
                if p.ends_with("summary.json")
                    && serde_json::from_slice::<Value>(&std::fs::read(&p).unwrap()).unwrap()
                        ["jobID"]
                        == id(n)
                {
                    dir = Some(d.clone());
                } else if p.is_dir() {
                    stack.push(p);
                }
            }
        }
        let dir = dir.unwrap();
        let lines: Vec<Value> = std::fs::read_to_string(dir.join("report.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let o = keyrotate(&["report", "--job", &id(n), "--format", "csv"], &state);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let mut reader = csv::Reader::from_reader(o.stdout.as_slice());
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        assert_eq!(
            header,
            [
                "Bucket",
                "Key",
                "VersionId",
                "TaskStatus",
                "ErrorCode",
                "HTTPStatusCode",
                "ResultMessage",
                "Action",
                "OldKey",
                "NewKey",
                "Time"
            ]
        );
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), lines.len());
        let (mut succeeded, mut failed) = (0, 0);
        for (row, line) in rows.iter().zip(&lines) {
            assert_eq!(&row[0], line["bucket"].as_str().unwrap());
            assert_eq!(&row[1], line["object"].as_str().unwrap());
            assert_eq!(&row[2], line["versionId"].as_str().unwrap_or(""));
            assert_eq!(&row[10], jobs[n - 1]["endTime"].as_str().unwrap());
            if let Some(action) = line["action"].as_str() {
                assert_eq!(
                    (&row[3], &row[5], &row[6], &row[7]),
                    ("succeeded", "200", "Successful", action)
                );
                assert_eq!(&row[8], line["oldKey"].as_str().unwrap_or(""));
                assert_eq!(&row[9], line["newKey"].as_str().unwrap_or(""));
                succeeded += 1;
            } else {
                let reason = line["reason"].as_str().unwrap();
                if let Some(class) = reason.strip_prefix("failed:") {
                    assert_eq!((&row[3], &row[4], &row[5]), ("failed", class, "500"));
                    assert_eq!(&row[6], line["error"].as_str().unwrap());
                    failed += 1;
                } else {
                    assert_eq!(
                        (&row[3], &row[6]),
                        ("succeeded", format!("Skipped: {reason}").as_str())
                    );
                }
            }
        }
        let s = &jobs[n - 1];
        assert_eq!(succeeded, s["objects"].as_u64().unwrap());
        assert_eq!(failed, s["objectsFailed"].as_u64().unwrap());
        if n == 2 {
            assert!(failed > 0);
        }

        let o = keyrotate(&["report", "--job", &id(n), "--format", "jsonl"], &state);
        let out: Vec<Value> = String::from_utf8(o.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(out.len(), lines.len());
        for (o, l) in out.iter().zip(&lines) {
            assert_eq!(o["jobID"], id(n));
            for k in [
                "bucket",
                "object",
                "versionId",
                "action",
                "reason",
                "oldKey",
                "newKey",
            ] {
                assert_eq!(o[k], l[k], "{k}");
            }
        }
    }

    let listed = |state: &Path| -> Vec<String> {
        let o = keyrotate(&["status", "--all", "--json"], state);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        let mut ids: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["jobID"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let mut all = vec![id(1), id(2), id(3)];
    all.sort();
    assert_eq!(listed(&state), all);

    // The paused job is unfinished: refused, kept.
    let o = keyrotate(&["forget", &id(3)], &state);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("paused"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(listed(&state).len(), 3);
    // Finished jobs (completed, failed) go.
    for n in [1, 2] {
        let o = keyrotate(&["forget", &id(n)], &state);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    assert_eq!(listed(&state), vec![id(3)]);
    assert_eq!(std::fs::read_dir(&state).unwrap().count(), 1);
}

/// `plan` labels its duration estimate, and with `--kms-rate` the estimate
/// is at least the KMS calls it projects divided by that rate.
#[test]
fn plan_prints_a_labelled_duration_estimate() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("d");
    fixture(&root, 30, "plain=1,sse-s3=1,sse-kms=2", &[]);
    let drives = drives(&root, 4);
    let job = write_job(tmp.path(), "fixture", "");
    let plan = |extra: &[&str]| {
        Command::new(bin())
            .arg("plan")
            .arg(&job)
            .arg("--drives")
            .args(&drives)
            .arg("--skip-server-check")
            .args(extra)
            .output()
            .unwrap()
    };
    let text = |extra: &[&str]| {
        let o = plan(extra);
        assert_eq!(o.status.code(), Some(0));
        String::from_utf8(o.stdout).unwrap()
    };
    let estimate = |text: &str| -> (u64, String) {
        let line = text
            .lines()
            .find(|l| l.starts_with("ESTIMATE (rough, not a promise): run takes about "))
            .unwrap_or_else(|| panic!("no estimate in {text}"))
            .to_owned();
        let secs = line["ESTIMATE (rough, not a promise): run takes about ".len()..]
            .split('s')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        (secs, line)
    };
    // The projected KMS calls, from plan's own count line.
    let plain = text(&[]);
    let calls: u64 = plain
        .lines()
        .find_map(|l| l.split_once("KMS calls: "))
        .map(|(_, rest)| {
            rest.split(", ")
                .map(|p| p.split(' ').next().unwrap().parse::<u64>().unwrap())
                .sum()
        })
        .unwrap();
    assert!(calls > 0);
    let (_, line) = estimate(&plain);
    assert!(
        line.contains("KMS latency") && line.contains("not included"),
        "{line}"
    );
    let (secs, line) = estimate(&text(&["--kms-rate", "10"]));
    assert!(secs >= calls / 10, "{line}");
    assert!(
        line.contains(&format!("{calls} KMS calls at --kms-rate 10/s")),
        "{line}"
    );
    // --json is the same for the same drives: no timing in it.
    let json = |_: ()| -> Value { serde_json::from_slice(&plan(&["--json"]).stdout).unwrap() };
    assert_eq!(json(()), json(()));
}

/// `completions bash` is a script bash loads and binds to `keyrotate`;
/// zsh and fish get theirs; `manpages` writes one page per command that
/// `--help` lists, each naming its own options.
#[test]
fn completions_and_man_pages_come_from_the_command_line() {
    let out = |args: &[&str]| {
        let o = Command::new(bin()).args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        String::from_utf8(o.stdout).unwrap()
    };
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("keyrotate.bash");
    std::fs::write(&script, out(&["completions", "bash"])).unwrap();
    let bound = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {} && complete -p keyrotate",
            script.display()
        ))
        .output()
        .unwrap();
    assert_eq!(bound.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&bound.stdout).contains("keyrotate"));
    assert!(out(&["completions", "zsh"]).starts_with("#compdef keyrotate"));
    assert!(out(&["completions", "fish"]).contains("complete -c keyrotate"));

    let help = out(&["--help"]);
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(
        commands.contains(&"run") && commands.contains(&"report"),
        "{help}"
    );
    let dir = tmp.path().join("man");
    out(&["manpages", "--out", dir.to_str().unwrap()]);
    for c in &commands {
        let page = std::fs::read_to_string(dir.join(format!("keyrotate-{c}.1"))).unwrap();
        assert!(page.contains(&format!(".TH keyrotate-{c} 1")), "{c}");
    }
    let run_page = std::fs::read_to_string(dir.join("keyrotate-run.1")).unwrap();
    for option in [
        "kms\\-rate",
        "max\\-duration",
        "stop\\-at",
        "limit",
        "metrics\\-file",
    ] {
        assert!(run_page.contains(option), "{option}");
    }
    assert!(dir.join("keyrotate.1").exists());
}
