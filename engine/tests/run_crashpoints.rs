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

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use engine::crashpoint::CRASH_POINTS;

#[path = "common/crashes.rs"]
mod crashes;
#[path = "common/runs.rs"]
mod runs;
use crashes::*;

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

/// A point and its armed hit.
type Crash = (&'static str, u64);
/// The point a resume crashes at, and whether it must reach it.
type Second = (&'static str, bool);

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
    check_end_result(fx, dir, &out).map_err(|msg| {
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
