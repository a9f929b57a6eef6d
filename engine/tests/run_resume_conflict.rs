//! A resume that meets a half-applied plan it cannot finish: the run is
//! stopped half-way through a drive batch of `xl.meta` swaps
//! (`write.half_swapped`), leaving an object whose drives disagree (some
//! hold the new `xl.meta`, some the old), and then the copy of a drive
//! that still held the old one changes. The resume must not close that plan
//! (neither done nor failed): the job stops as aborted (exit 4, resumable)
//! with `lastError` naming the object and the drive, the drives as they
//! were. Once that drive holds the old copy again, a resume finishes the
//! plan and the job ends where an uninterrupted run does.

use std::path::{Path, PathBuf};

use engine::run::object::agreement;

#[path = "common/crashes.rs"]
mod crashes;
#[path = "common/runs.rs"]
mod runs;
use crashes::*;
use runs::*;

/// Object directories (relative to a drive) whose `xl.meta` is the
/// pristine one on some drives and another on others, with those drives.
fn half_applied(root: &Path, pristine: &Path) -> Option<(PathBuf, Vec<usize>, Vec<usize>)> {
    let now = snapshot(&drives(root, DRIVES));
    let before = snapshot(&drives(pristine, DRIVES));
    let mut dirs: Vec<PathBuf> = now
        .keys()
        .filter_map(|k| k.strip_prefix("drive1").ok())
        .filter_map(|k| k.parent().map(Path::to_owned))
        .filter(|k| k.starts_with("fixture"))
        .collect();
    dirs.sort();
    dirs.into_iter().find_map(|dir| {
        let (mut old, mut new) = (Vec::new(), Vec::new());
        for d in 0..DRIVES {
            let key = PathBuf::from(format!("drive{}", d + 1))
                .join(&dir)
                .join("xl.meta");
            if now.get(&key) == before.get(&key) {
                old.push(d);
            } else {
                new.push(d);
            }
        }
        (!old.is_empty() && !new.is_empty()).then_some((dir, old, new))
    })
}

fn drives_agree(root: &Path, dir: &Path) -> bool {
    let raws: Vec<Result<Vec<u8>, (bool, String)>> = drives(root, DRIVES)
        .iter()
        .map(|d| std::fs::read(d.join(dir).join("xl.meta")).map_err(|e| (true, e.to_string())))
        .collect();
    let a = agreement(&raws);
    a.metas.iter().all(Result::is_ok) && a.problems.iter().all(Option::is_none)
}

#[test]
fn a_resume_never_closes_a_plan_whose_drives_disagree() {
    let tmp = tempfile::tempdir().unwrap();
    let fx = build_fixture(tmp.path());
    // Stop in the middle of an objects' batch (the first 4 hits are the
    // internal items' drive batches), until one leaves drives disagreeing.
    let (root, (dir, old, new)) = (9..40)
        .find_map(|hit| {
            let root = tmp.path().join(format!("crashed{hit}"));
            copy(&fx.pristine, &root);
            let out = run_at(&root, Some(("write.half_swapped", hit)));
            let crashed = crashed_at(&out, "write.half_swapped");
            assert!(
                crashed || out.status.code() == Some(0),
                "{}",
                describe(&out)
            );
            match half_applied(&root, &fx.pristine).filter(|_| crashed) {
                Some(found) => Some((root, found)),
                None => {
                    std::fs::remove_dir_all(&root).unwrap();
                    None
                }
            }
        })
        .expect("a crash that leaves an object half applied");
    eprintln!("{}: new on drives {new:?}, old on {old:?}", dir.display());
    // The copy on a drive that kept the old xl.meta changes: another
    // object's (valid) xl.meta takes its place.
    let victim = drives(&root, DRIVES)[old[0]].join(&dir).join("xl.meta");
    let kept = std::fs::read(&victim).unwrap();
    let other = std::fs::read_dir(victim.parent().unwrap().parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.path().join("xl.meta"))
        .find(|p| p.exists() && p != &victim)
        .unwrap();
    std::fs::copy(&other, &victim).unwrap();
    let disagreeing = snapshot(&drives(&root, DRIVES));

    let out = run_at(&root, None);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["status"], "aborted", "{summary}");
    let err = summary["lastError"].as_str().unwrap();
    let object = dir.file_name().unwrap().to_string_lossy();
    let drive = format!("drive{}", old[0] + 1);
    assert!(
        err.contains(object.as_ref()) && err.contains(&drive),
        "lastError names {object} and {drive}: {err}"
    );
    eprintln!("lastError: {err}");
    assert_eq!(
        snapshot(&drives(&root, DRIVES)),
        disagreeing,
        "nothing written"
    );
    // Again: still pending, still stopped.
    let out = run_at(&root, None);
    assert_eq!(out.status.code(), Some(4), "{}", describe(&out));

    // The drive holds its old copy again: the resume finishes the plan.
    std::fs::write(&victim, kept).unwrap();
    let out = run_at(&root, None);
    assert!(drives_agree(&root, &dir));
    check_end(&fx, &root, &out);
}
