//! Crash safety at every durability boundary, deterministically: for each
//! point of [`CRASH_POINTS`] and a few hit counts, `keyrotate run` is made
//! to abort exactly there (`KEYROTATE_TEST_CRASH_AT`), then resumed —
//! sometimes crashing again at a second point during the resume — until it
//! completes. Each scenario runs on its own copy of one fixture that takes
//! every path (SSE-KMS rotations, SSE-S3 conversions, plaintext encryption
//! with staged data dirs, multipart, versions and delete markers, MinIO's
//! internal items), one version per group commit so a run has many batches.
//!
//! A point the run never reaches fails the test (the table cannot go stale).
//! After the last resume: exit 0, counters equal to an uninterrupted run on
//! an identical copy, every version reads back to its manifest digest, all
//! drives agree on every version's metadata (sealed keys included), each
//! object directory holds exactly the data dirs its versions reference, the
//! internal items verify under the target key with unchanged plaintexts,
//! the report has one line per version, and nothing is left in staging.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use engine::crashpoint::{CRASH_POINTS, ENV};
use engine::internal::{decrypt_item, discover, verify};
use engine::run::object::agreement;
use engine::run::verify::read_plaintext;
use kms_client::config::KmsConfig;
use kms_client::static_key::{StaticKey, StaticKms};
use kms_client::KeyId;
use serde_json::Value;
use sha2::{Digest, Sha256};
use xlmeta::uuid::format_uuid;
use xlmeta::XlMeta;

#[path = "common/runs.rs"]
mod runs;
use runs::*;

/// Points a run passes once: only their first hit exists.
const ONCE: &[&str] = &[
    "run.resume_executed",
    "run.end_appended",
    "internal.intents_committed",
    "internal.done_appended",
];

/// Points passed once per staged data dir (an encrypted version, a drive of
/// the large internal item): a few times per run.
const FEW: &[&str] = &["encrypt.staged", "internal.staged"];

/// The hit counts tried at a point. The first batch of a run is the
/// internal items' (4 drive batches, 1 executor batch, the 2nd and 3rd
/// journal commits); the 9th hit lands in the objects' batches, mid-run.
fn hits(point: &str) -> &'static [u64] {
    if ONCE.contains(&point) {
        &[1]
    } else if FEW.contains(&point) {
        &[1, 3]
    } else {
        &[1, 3, 9]
    }
}

/// Where a resume after a later-hit crash crashes again: every resume
/// passes it (plans left by the first crash re-executed, their Done
/// records not yet durable).
const SECOND: &str = "run.resume_executed";

const DRIVES: usize = 4;

/// A point and its armed hit.
type Crash = (&'static str, u64);
/// The point a resume crashes at, and whether it must reach it.
type Second = (&'static str, bool);

struct Fixture {
    /// The pristine deployment every scenario copies.
    pristine: PathBuf,
    reference: Value,
    /// `.minio.sys/tmp` entries per drive after the uninterrupted run.
    reference_tmp: Vec<BTreeSet<String>>,
    /// Its report, sorted.
    reference_report: Vec<String>,
    manifest: Value,
    internal_before: BTreeMap<String, Option<Vec<u8>>>,
}

fn kms() -> StaticKms {
    StaticKms::new(StaticKey::parse(KEY1).unwrap(), Vec::new())
}

fn copy(from: &Path, to: &Path) {
    let o = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn internal_plaintexts(root: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    let k = kms();
    discover(&[drives(root, DRIVES)])
        .unwrap()
        .iter()
        .map(|item| {
            let d = decrypt_item(item, &k).unwrap();
            (d.name.clone(), d.plaintext.map(|p| p.expose().to_vec()))
        })
        .collect()
}

fn tmp_entries(root: &Path) -> Vec<BTreeSet<String>> {
    drives(root, DRIVES)
        .iter()
        .map(|d| {
            std::fs::read_dir(d.join(".minio.sys/tmp"))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .collect()
}

/// One `keyrotate run` on the deployment at `root`, optionally armed.
fn run_at(root: &Path, crash: Option<(&str, u64)>) -> Output {
    let job = root.join("job-fixture.yaml");
    let mut cmd = run_cmd(&job, &drives(root, DRIVES), &root.join("state"), KEY1);
    cmd.env("KEYROTATE_TEST_BATCH", "1").env_remove(ENV);
    if let Some((name, n)) = crash {
        cmd.env(ENV, format!("{name}:{n}"));
    }
    cmd.output().unwrap()
}

fn crashed_at(o: &Output, name: &str) -> bool {
    o.status.signal() == Some(libc::SIGABRT)
        && String::from_utf8_lossy(&o.stderr)
            .contains(&format!("crash point {name} reached: aborting"))
}

fn describe(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The report lines of the job run at `root`, sorted (objects are
/// committed in any order).
fn report(root: &Path) -> Vec<String> {
    let mut lines: Vec<String> = report_lines(&root.join("state"))
        .iter()
        .map(Value::to_string)
        .collect();
    lines.sort();
    lines
}

/// 300 KB of config history, inline now: its rotation moves it to a new
/// data dir, staged like an encryption's.
fn add_large_internal_item(root: &Path) {
    use kms_client::Kms;
    use rand_chacha::rand_core::SeedableRng;
    let name = "config/history/7d3e1c2a-0000-4000-8000-000000000001.kv";
    let plain: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let k = kms();
    let blob = engine::sse::config::encrypt_config_with_kms(
        &k,
        k.default_key(),
        name,
        &plain,
        &mut engine::sse::OsRandom,
    )
    .unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(99);
    let (files, _) = engine::fixture::object::meta_bucket_object(
        DRIVES,
        name,
        &blob,
        1_748_779_200_000_000_000,
        &mut rng,
    )
    .unwrap();
    for (drive, xl) in drives(root, DRIVES).iter().zip(files) {
        let dir = drive.join(".minio.sys").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("xl.meta"), xl).unwrap();
    }
}

fn build_fixture(base: &Path) -> Fixture {
    let pristine = base.join("pristine");
    fixture(
        &pristine,
        10,
        "sse-kms=2,sse-s3=1,plain=2",
        &[
            "--versions",
            "2",
            "--multipart-every",
            "2",
            "--seed",
            "29",
            "--internal",
        ],
    );
    add_large_internal_item(&pristine);
    write_job(&pristine, "fixture", "");
    let reference_root = base.join("reference");
    copy(&pristine, &reference_root);
    let out = run_at(&reference_root, None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let reference: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The fixture takes every path.
    for k in [
        "objectsRotated",
        "objectsConverted",
        "objectsEncrypted",
        "deleteMarkersSkipped",
    ] {
        assert!(reference[k].as_u64().unwrap() > 0, "{k}: {reference}");
    }
    assert!(
        reference["internal"]["rotated"].as_u64().unwrap() > 0,
        "{reference}"
    );
    assert_eq!(reference["objectsFailed"], 0, "{reference}");
    Fixture {
        reference_tmp: tmp_entries(&reference_root),
        reference_report: report(&reference_root),
        manifest: manifest(&pristine),
        internal_before: internal_plaintexts(&pristine),
        pristine,
        reference,
    }
}

/// Everything a finished job must leave, whatever crashed on the way.
fn check_end(fx: &Fixture, root: &Path, last: &Output) {
    assert_eq!(last.status.code(), Some(0), "{}", describe(last));
    let summary: Value = serde_json::from_slice(&last.stdout).unwrap();
    for k in COUNTERS {
        assert_eq!(summary[k], fx.reference[k], "{k}: {summary}");
    }
    let roots = drives(root, DRIVES);
    assert_eq!(tmp_entries(root), fx.reference_tmp, "staging left");
    assert_eq!(staging_left(&roots), 0);
    assert_eq!(report(root), fx.reference_report, "report");
    // Every version reads back to its digest.
    let object_kms = KmsConfig::from_lookup(
        &|n: &str| (n == "MINIO_KMS_SECRET_KEY").then(|| KEY1.to_owned()),
        None,
    )
    .unwrap()
    .build()
    .unwrap();
    for e in fx.manifest["objects"].as_array().unwrap() {
        if e["delete_marker"].as_bool() == Some(true) || e["bucket"] != "fixture" {
            continue;
        }
        let object = e["object"].as_str().unwrap();
        let vid = version_bytes(e["version_id"].as_str().unwrap_or(""));
        let plain = read_plaintext(Some(object_kms.as_ref()), &roots, "fixture", object, vid)
            .unwrap_or_else(|err| panic!("{object}: {err}"));
        assert_eq!(
            hex::encode(Sha256::digest(&plain)),
            e["plaintext_sha256"].as_str().unwrap(),
            "{object}"
        );
    }
    // Drives agree on every version (sealed keys included); data dirs on
    // disk are exactly those referenced.
    let bucket = roots[0].join("fixture");
    let mut object_dirs = Vec::new();
    let mut stack = vec![bucket.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            if e.path().join("xl.meta").exists() {
                object_dirs.push(e.path().strip_prefix(&roots[0]).unwrap().to_owned());
            } else if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
    assert!(object_dirs.len() >= 10);
    for rel in &object_dirs {
        let raws: Vec<Result<Vec<u8>, (bool, String)>> = roots
            .iter()
            .map(|r| std::fs::read(r.join(rel).join("xl.meta")).map_err(|e| (true, e.to_string())))
            .collect();
        let a = agreement(&raws);
        let counts: BTreeSet<usize> = a
            .metas
            .iter()
            .map(|m| m.as_ref().map(|x| x.versions().len()).unwrap_or(usize::MAX))
            .collect();
        assert_eq!(counts.len(), 1, "{}: version counts differ", rel.display());
        assert!(
            a.problems.iter().all(Option::is_none),
            "{}: {:?}",
            rel.display(),
            a.problems
        );
        for (r, raw) in roots.iter().zip(&raws) {
            let x = XlMeta::parse(raw.as_ref().unwrap()).unwrap();
            let referenced: BTreeSet<String> = (0..x.versions().len())
                .filter_map(|i| x.object(i).ok())
                .filter(|o| !o.is_inline())
                .map(|o| format_uuid(&o.data_dir))
                .collect();
            let on_disk: BTreeSet<String> = std::fs::read_dir(r.join(rel))
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "xl.meta")
                .collect();
            assert_eq!(on_disk, referenced, "{}", r.join(rel).display());
        }
    }
    // Internal items: valid and agreeing copies under the target key, same
    // plaintexts.
    let sets = vec![roots.clone()];
    let problems = verify(&sets, &kms(), Some(&KeyId::new("my-minio-key"))).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(internal_plaintexts(root), fx.internal_before);
}

/// One scenario: crash at `first`, resume (crashing at `second` when
/// given: `strict` when that resume must reach it), finish, check; returns
/// the crashes. A run that never reaches `first` fails it, unless
/// `may_finish`: then that run is checked and 0 returned.
fn scenario(
    fx: &Fixture,
    dir: &Path,
    first: Crash,
    second: Option<Second>,
    may_finish: bool,
) -> Result<usize, String> {
    copy(&fx.pristine, dir);
    let out = run_at(dir, Some(first));
    let finished = may_finish && out.status.code() == Some(0);
    if !finished && !crashed_at(&out, first.0) {
        return Err(format!(
            "{}:{} was not reached (no abort there)\n{}",
            first.0,
            first.1,
            describe(&out)
        ));
    }
    let (mut crashes, mut out) = match finished {
        true => (0, out),
        false => (1, run_at(dir, second.map(|(name, _)| (name, 1)))),
    };
    if let (Some((name, strict)), 1) = (second, crashes) {
        if crashed_at(&out, name) {
            crashes += 1;
            out = run_at(dir, None);
        } else if strict || out.status.code() != Some(0) {
            return Err(format!(
                "resume after {}:{}: expected a crash at {name}\n{}",
                first.0,
                first.1,
                describe(&out)
            ));
        }
    }
    let checked =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check_end(fx, dir, &out)));
    checked.map_err(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        format!(
            "after a crash at {}:{} and {second:?}: {msg}",
            first.0, first.1
        )
    })?;
    std::fs::remove_dir_all(dir).unwrap();
    Ok(crashes)
}

#[test]
fn a_crash_at_every_durability_point_resumes_to_the_uninterrupted_end() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let fx = build_fixture(tmp.path());
    for p in ONCE.iter().chain(FEW).chain([&SECOND]) {
        assert!(CRASH_POINTS.contains(p), "{p} is no crash point");
    }
    // (first crash, second crash during the resume: the point and whether
    // the resume must reach it)
    let mut cases: Vec<(Crash, Option<Second>)> = Vec::new();
    for (i, &point) in CRASH_POINTS.iter().enumerate() {
        for (j, &n) in hits(point).iter().enumerate() {
            let next = CRASH_POINTS[(i + 1) % CRASH_POINTS.len()];
            let seconds: &[Option<Second>] = match j {
                // A single crash and a clean resume; and a resume that
                // crashes in turn at another point, if it gets there (a
                // resume does less than a run: some points may lie
                // behind it).
                0 => &[None, Some((next, false))],
                // A resume that crashes while it finishes what the first
                // crash left.
                1 => &[Some((SECOND, true))],
                _ => &[None],
            };
            cases.extend(seconds.iter().map(|&second| ((point, n), second)));
        }
    }
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    // Second crashes that landed where a resume was free not to reach them.
    let lenient = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(first, second)) = cases.get(i) else {
                    break;
                };
                let dir = tmp.path().join(format!("case{i}"));
                match scenario(&fx, &dir, first, second, false) {
                    Ok(c) => {
                        if c == 2 && second.is_some_and(|(_, strict)| !strict) {
                            lenient.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(e) => failures.lock().unwrap().push(e),
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} scenarios failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
    let lenient = lenient.into_inner();
    let lenient_cases = cases
        .iter()
        .filter(|(_, s)| s.is_some_and(|(_, strict)| !strict))
        .count();
    eprintln!(
        "{} scenarios ({lenient} of {lenient_cases} optional second crashes landed) in {:.1}s",
        cases.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        lenient * 2 >= lenient_cases,
        "only {lenient} of {lenient_cases} resumes crashed at their second point"
    );
}

/// A resume needs nothing but the journal: a crash right after each intent
/// commit of the run in turn (that batch's intents durable, none of them
/// executed: the compact ones are rebuilt from the drives) resumes to the
/// uninterrupted end.
#[test]
fn a_crash_after_each_intent_commit_resumes_to_the_uninterrupted_end() {
    const POINT: &str = "run.intents_committed";
    let tmp = tempfile::tempdir().unwrap();
    let fx = build_fixture(tmp.path());
    let next = AtomicU64::new(1);
    // The first hit count a run does not reach.
    let end = AtomicU64::new(u64::MAX);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= end.load(Ordering::Relaxed) || n > 200 {
                    break;
                }
                let dir = tmp.path().join(format!("hit{n}"));
                match scenario(&fx, &dir, (POINT, n), None, true) {
                    Ok(0) => {
                        end.fetch_min(n, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(e) => failures.lock().unwrap().push(e),
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    let end = end.into_inner();
    eprintln!(
        "a crash after each of {} intent commits",
        end.saturating_sub(1)
    );
    // One batch per object result: at least one per object.
    assert!(
        (11..=200).contains(&end),
        "{POINT} reached {} times",
        end.saturating_sub(1)
    );
}
