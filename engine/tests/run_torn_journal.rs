//! A torn journal tail after a crash: `keyrotate run` is stopped right
//! before the `fdatasync` of a group commit in the middle of the run
//! (`journal.before_sync`), so its last batch of records is in the file but
//! was never made durable — a power loss can leave any prefix of it, or a
//! prefix with holes. The journal is cut at every record boundary of that
//! unsynced batch and at random offsets inside it, and each cut is resumed
//! on its own copy of the crashed deployment (the runs name the drives
//! relative to the deployment, so the journal of a copy names its own). Whatever the cut, the resume
//! must end where an uninterrupted run does (the checks of
//! [`crashes::check_end`]: exit 0, equal counters and report, every version
//! reads back to its manifest digest, drives agree, internal items rotated).

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use engine::crashpoint::ENV;

use rand::{Rng, SeedableRng};

#[path = "common/crashes.rs"]
mod crashes;
#[path = "common/runs.rs"]
mod runs;
use crashes::*;
use runs::*;

/// The journal's framing (engine/src/run/journal.rs): magic (4), payload
/// length le32 (4), xxh64 le64 (8), payload.
const HEADER: usize = 16;
/// The magic of a record; every other magic is a durability mark, whose
/// payload starts with the length of the log known durable when it was
/// written (le64).
const RECORD: &[u8; 4] = b"KRJ1";

/// Object results per group commit of the crashed run: a batch holds
/// several objects' records.
const BATCH: usize = 3;
/// Random cuts inside the unsynced batch, besides its record boundaries.
const RANDOM_CUTS: usize = 20;

fn journal_of(root: &Path) -> PathBuf {
    let mut journals = journal_files(&root.join("state"));
    assert_eq!(journals.len(), 1, "one run's journal: {journals:?}");
    journals.pop().unwrap()
}

/// The whole frames of a journal: (offset, magic, end).
fn frames(bytes: &[u8]) -> Vec<(usize, [u8; 4], usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + HEADER <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        let end = at + HEADER + len;
        if end > bytes.len() {
            break;
        }
        out.push((at, bytes[at..at + 4].try_into().unwrap(), end));
        at = end;
    }
    assert_eq!(
        at,
        bytes.len(),
        "the crashed journal ends with a whole frame"
    );
    out
}

/// Where the unsynced tail starts: the durable length the last mark names.
fn durable_prefix(bytes: &[u8]) -> usize {
    let (at, _, _) = frames(bytes)
        .into_iter()
        .rev()
        .find(|(_, magic, _)| magic != RECORD)
        .expect("a durability mark");
    let start = at + HEADER;
    u64::from_le_bytes(bytes[start..start + 8].try_into().unwrap()) as usize
}

/// Whether the records in `bytes[from..]` name `what` (the records are
/// msgpack maps keyed by the record's kind).
fn tail_has(bytes: &[u8], from: usize, what: &[u8]) -> bool {
    bytes[from..].windows(what.len()).any(|w| w == what)
}

/// `keyrotate run` in the deployment at `root`, naming its drives, job
/// and state directory relative to it (the journal names the drives as
/// given: a copy of a crashed deployment resumes on its own drives).
fn run_in(root: &Path, crash: Option<(&str, u64)>, batch: usize) -> Output {
    let rel_drives: Vec<PathBuf> = (1..=DRIVES)
        .map(|i| PathBuf::from(format!("drive{i}")))
        .collect();
    let mut cmd = run_cmd(
        Path::new("job-fixture.yaml"),
        &rel_drives,
        Path::new("state"),
        KEY1,
    );
    cmd.current_dir(root)
        .env("KEYROTATE_TEST_BATCH", batch.to_string())
        .env_remove(ENV);
    if let Some((name, n)) = crash {
        cmd.env(ENV, format!("{name}:{n}"));
    }
    cmd.output().unwrap()
}

/// The commits a crash is tried before: the first three are the run's
/// start and the internal items'; every run has objects' commits up to
/// the last of these.
const HITS: std::ops::RangeInclusive<u64> = 4..=9;
/// Crashed runs tried at most: which commit holds the object with a
/// delete marker (the versions needing no write) varies from run to run.
const ATTEMPTS: u64 = 60;

/// A deployment crashed before the `fdatasync` of a commit whose unsynced
/// batch holds versions needing no write and intents (runs crashed at
/// each commit of [`HITS`] in turn, side by side, until one does); returns
/// its root and the durable length of its journal.
fn crashed_mid_run(fx: &Fixture, base: &Path) -> (PathBuf, usize) {
    let next = AtomicU64::new(0);
    let found = Mutex::new(None::<(PathBuf, usize)>);
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| loop {
                let attempt = next.fetch_add(1, Ordering::Relaxed);
                if attempt >= ATTEMPTS || found.lock().unwrap().is_some() {
                    break;
                }
                let hit = HITS.start() + attempt % (HITS.end() - HITS.start() + 1);
                let root = base.join(format!("crashed{attempt}"));
                copy(&fx.pristine, &root);
                let out = run_in(&root, Some(("journal.before_sync", hit)), BATCH);
                assert!(
                    crashed_at(&out, "journal.before_sync"),
                    "commit {hit}: {}",
                    describe(&out)
                );
                let bytes = std::fs::read(journal_of(&root)).unwrap();
                let durable = durable_prefix(&bytes);
                assert!(durable < bytes.len(), "an unsynced tail");
                let wanted =
                    tail_has(&bytes, durable, b"Finished") && tail_has(&bytes, durable, b"Intent");
                let mut found = found.lock().unwrap();
                if wanted && found.is_none() {
                    eprintln!("crashed before the sync of commit {hit}");
                    *found = Some((root, durable));
                } else {
                    std::fs::remove_dir_all(&root).unwrap();
                }
            });
        }
    });
    found
        .into_inner()
        .unwrap()
        .expect("a commit of the run whose batch holds finished versions and intents")
}

#[test]
fn every_cut_of_an_unsynced_tail_resumes_to_the_uninterrupted_end() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = build_fixture(tmp.path());
    let (template, durable) = crashed_mid_run(&fx, tmp.path());
    let bytes = std::fs::read(journal_of(&template)).unwrap();
    let mut cuts: Vec<usize> = frames(&bytes)
        .iter()
        .map(|&(_, _, end)| end)
        .chain([durable])
        .filter(|&end| end >= durable)
        .collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(15);
    cuts.extend((0..RANDOM_CUTS).map(|_| rng.gen_range(durable + 1..bytes.len())));
    cuts.sort_unstable();
    cuts.dedup();
    eprintln!(
        "{} cuts in an unsynced tail of {} bytes (journal {} bytes)",
        cuts.len(),
        bytes.len() - durable,
        bytes.len()
    );
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&cut) = cuts.get(i) else { break };
                let dir = tmp.path().join(format!("cut{i}"));
                copy(&template, &dir);
                std::fs::write(journal_of(&dir), &bytes[..cut]).unwrap();
                let out = run_in(&dir, None, 64);
                match check_end_result(&fx, &dir, &out) {
                    Ok(()) => std::fs::remove_dir_all(&dir).unwrap(),
                    Err(msg) => failures.lock().unwrap().push(format!(
                        "journal cut at {cut} (durable {durable}, length {}): {msg}",
                        bytes.len()
                    )),
                }
            });
        }
    });
    // The template itself was never touched by a resume.
    assert!(std::fs::read(journal_of(&template)).unwrap() == bytes);
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} cuts failed:\n{}",
        failures.len(),
        cuts.len(),
        failures.join("\n\n")
    );
}
