//! Crash points: named places at every durability boundary of a run where a
//! test can make the process die on purpose, deterministically.
//!
//! `KEYROTATE_TEST_CRASH_AT=<name>:<n>` arms one point: its `n`-th hit
//! (counted over all threads, from 1) calls [`std::process::abort`], which
//! runs no destructor and flushes no buffer: for the run, what `kill -9`
//! is. (A power cut can lose more — bytes written but not yet synced —
//! which the journal's torn-tail rule and the writer's sync order answer
//! for; their own tests cover that.) The environment is read once per
//! process; unarmed, a point costs the load and branch of an initialised
//! `OnceLock` (the points sit on the hot path of benchmarked runs: once per
//! batch or commit, once per encrypted version).
//!
//! [`CRASH_POINTS`] lists every point; engine/tests/run_crashpoints.rs crashes
//! a run at each one and checks that a resume ends where an uninterrupted run
//! does, and fails for a point that is never reached, while the unit test
//! below checks that the table and the [`crash_point`] calls in the
//! sources name the same points. Names are `area.what`:
//!
//! | area | module | boundary |
//! |---|---|---|
//! | `journal` | [`crate::run::journal`] | group commit: before the write, before and after `fdatasync` |
//! | `write` | [`crate::drives::write`] | a drive's batch: staged, 1st `syncfs`, half swapped, 2nd `syncfs` |
//! | `exec` | [`crate::run::exec`] | a batch of plans: classified, data dirs moved in, `xl.meta` written, old dirs removed |
//! | `encrypt` | [`crate::run::encrypt`] | a new data dir staged and durable, its intent not yet journaled |
//! | `run` | [`crate::run::pipeline`] | intents committed, Done records appended but not committed, resume, end |
//! | `internal` | [`crate::internal`], [`crate::run::pipeline`] | a new data dir staged (no intent yet); the internal items' intents committed, their Done records appended |

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The environment variable that arms a point: `<name>:<n>`.
pub const ENV: &str = "KEYROTATE_TEST_CRASH_AT";

/// Every crash point, roughly in the order a run meets them.
pub const CRASH_POINTS: &[&str] = &[
    "journal.before_write",
    "journal.before_sync",
    "journal.after_sync",
    "run.intents_committed",
    "exec.classified",
    "exec.staged_moved",
    "write.staged",
    "write.after_first_sync",
    "write.half_swapped",
    "write.after_second_sync",
    "exec.xlmeta_written",
    "exec.old_removed",
    "run.done_appended",
    "run.resume_executed",
    "run.end_appended",
    "encrypt.staged",
    "internal.staged",
    "internal.intents_committed",
    "internal.done_appended",
];

/// The armed point and how many hits are left before it fires.
struct Armed {
    name: &'static str,
    left: AtomicU64,
}

static ARMED: OnceLock<Option<Armed>> = OnceLock::new();

/// Reads [`ENV`]; a malformed value or an unknown name is reported on
/// stderr and arms nothing (so a test expecting the crash fails).
fn arm() -> Option<Armed> {
    let value = std::env::var(ENV).ok()?;
    let parsed = parse(&value);
    if parsed.is_none() {
        eprintln!("keyrotate: ignoring {ENV}={value:?}: not <crash point>:<n ≥ 1>");
    }
    parsed.map(|(name, n)| Armed {
        name,
        left: AtomicU64::new(n),
    })
}

/// `<name>:<n>` with a listed name and `n ≥ 1`.
fn parse(value: &str) -> Option<(&'static str, u64)> {
    let (name, n) = value.rsplit_once(':')?;
    let n = n.parse::<u64>().ok().filter(|&n| n > 0)?;
    let name = CRASH_POINTS.iter().copied().find(|p| *p == name)?;
    Some((name, n))
}

/// A durability boundary named `name` (one of [`CRASH_POINTS`]): aborts the
/// process here on the armed hit.
#[inline]
pub fn crash_point(name: &'static str) {
    if let Some(armed) = ARMED.get_or_init(arm) {
        hit(armed, name);
    }
}

/// Whether `name` is the armed point: a point that needs bookkeeping to find
/// its place (a count of files) keeps it only then.
#[inline]
pub fn is_armed(name: &str) -> bool {
    matches!(ARMED.get_or_init(arm), Some(armed) if armed.name == name)
}

#[cold]
#[inline(never)]
fn hit(armed: &Armed, name: &'static str) {
    if armed.name != name {
        return;
    }
    // Exactly one thread sees the count go from 1 to 0.
    let before = armed
        .left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| l.checked_sub(1));
    if before == Ok(1) {
        // stderr is unbuffered: the line is out before the abort.
        eprintln!("keyrotate: crash point {name} reached: aborting");
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::{parse, CRASH_POINTS};
    use std::collections::BTreeSet;
    use std::path::Path;

    /// The point named by every call of `crash_point` in the sources.
    fn called(dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                called(&path, out);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let needle = concat!("crash_point", "(\"");
            for (at, _) in text.match_indices(needle) {
                let rest = &text[at + needle.len()..];
                let end = rest.find('"').unwrap();
                out.insert(rest[..end].to_owned());
            }
        }
    }

    #[test]
    fn only_a_listed_point_and_a_positive_count_arm() {
        assert_eq!(parse("write.staged:3"), Some(("write.staged", 3)));
        assert_eq!(
            parse("journal.after_sync:1"),
            Some(("journal.after_sync", 1))
        );
        for bad in [
            "write.staged:0",
            "write.staged:",
            "write.staged",
            "write.staged:-1",
            "write.nowhere:1",
            ":1",
            "",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_table_names_exactly_the_points_in_the_code() {
        let mut calls = BTreeSet::new();
        called(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut calls,
        );
        let table: BTreeSet<String> = CRASH_POINTS.iter().map(|p| p.to_string()).collect();
        assert_eq!(table.len(), CRASH_POINTS.len(), "a point listed twice");
        assert_eq!(calls, table);
        for p in CRASH_POINTS {
            let (area, what) = p.split_once('.').unwrap();
            assert!(!area.is_empty() && !what.is_empty() && !what.contains('.'));
        }
    }
}
