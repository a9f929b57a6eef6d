//! Drive locks: a `run` has the drives to itself; `plan` and `verify` share
//! them with each other but not with a `run`.
//!
//! Two jobs rewriting the same versions at once interleave their reads and
//! writes and leave versions whose metadata and data disagree, so every
//! command takes an `flock` on [`LOCK_FILE`] in each drive's
//! `.minio.sys/tmp/` for as long as the process lives: exclusive for `run`,
//! shared for `plan` and `verify`, never waiting (a busy drive refuses the
//! command). The kernel drops the lock when the process ends, killed or
//! not, so a lock never outlives its holder and nothing needs cleaning.
//!
//! `flock` does not say who holds a lock: a refusal names the holders from
//! `/proc/locks`, else the process the last exclusive holder wrote into the
//! file. The file lives with the staging folders (on the drive itself, so
//! every host and mount namespace sees the same lock) but is never swept with
//! them: its name lacks their `keyrotate-` prefix. MinIO empties the folder
//! at start; by then no keyrotate may run (the server check refuses).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::io::STAGING_DIR;

/// The lock file's name inside each drive's [`STAGING_DIR`].
pub const LOCK_FILE: &str = "keyrotate.lock";

/// Test hook: `KEYROTATE_TEST_LOCK_HOLD_MS` sleeps once the drives are
/// locked, so a test can start a second command while the first holds them.
const HOLD_ENV: &str = "KEYROTATE_TEST_LOCK_HOLD_MS";

/// How a command uses the drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads only (`plan`, `verify`): any number at once, no `run`.
    Shared,
    /// Rewrites (`run`): alone.
    Exclusive,
}

/// Why the drives could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds a conflicting lock.
    #[error("drive {drive} is in use by another keyrotate process ({holder}); {advice}")]
    Busy {
        drive: PathBuf,
        holder: String,
        advice: &'static str,
    },
    /// The lock file cannot be made or opened.
    #[error("drive {drive}: cannot lock {path}: {source}")]
    Io {
        drive: PathBuf,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The locks of every drive of the command; dropping it releases them.
#[derive(Debug)]
pub struct DriveLocks {
    _files: Vec<File>,
}

/// Locks every drive in `drives` (all or none; in path order, so two
/// commands never each hold a part). A reader that may not create the lock
/// file of a drive (another user's drives, a read-only mount) goes on
/// without that drive's lock: no `run` can hold a file that does not exist.
pub fn lock_drives(drives: &[PathBuf], access: Access) -> Result<DriveLocks, LockError> {
    let mut sorted: Vec<&PathBuf> = drives.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut files = Vec::with_capacity(sorted.len());
    for drive in sorted {
        if let Some(file) = lock_one(drive, access)? {
            files.push(file);
        }
    }
    if let Some(ms) = std::env::var(HOLD_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    Ok(DriveLocks { _files: files })
}

fn lock_one(drive: &Path, access: Access) -> Result<Option<File>, LockError> {
    let dir = drive.join(STAGING_DIR);
    let path = dir.join(LOCK_FILE);
    let io_err = |source| LockError::Io {
        drive: drive.to_owned(),
        path: path.clone(),
        source,
    };
    let file = match open(&dir, &path) {
        Ok(f) => f,
        Err(e) if access == Access::Shared && may_skip(&e) => {
            tracing::warn!(
                "{}: not locked ({e}): a run started meanwhile would not be noticed",
                drive.display()
            );
            return Ok(None);
        }
        Err(e) => return Err(io_err(e)),
    };
    let locked = match access {
        Access::Shared => file.try_lock_shared(),
        Access::Exclusive => file.try_lock(),
    };
    match locked {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(LockError::Busy {
                drive: drive.to_owned(),
                holder: holder(&file),
                advice: match access {
                    Access::Exclusive => "a run needs the drives to itself: wait until it ends",
                    Access::Shared => "it is rewriting them: wait until it ends",
                },
            })
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io_err(e)),
    }
    if access == Access::Exclusive {
        // For the refusal message of the next comer when /proc/locks is
        // not readable; best effort, the lock itself is what counts.
        let mut f = &file;
        let _ = f
            .set_len(0)
            .and_then(|()| writeln!(f, "{} {}", std::process::id(), own_cmdline()));
    }
    Ok(Some(file))
}

/// Opens (creating it and its folder if needed) the lock file; read-only
/// when it exists but is not ours to write (a reader as another user).
fn open(dir: &Path, path: &Path) -> std::io::Result<File> {
    let rw = || {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(path)
    };
    match rw() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)?;
            rw()
        }
        Err(e) if may_skip(&e) => File::open(path).or(Err(e)),
        other => other,
    }
}

/// Errors of a caller that may not write the drive.
fn may_skip(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
    )
}

/// Who holds `file`'s lock: `pid N: command` per holder from
/// `/proc/locks`, else what the last exclusive holder wrote in the file.
fn holder(file: &File) -> String {
    let me = std::process::id();
    let from_proc = file
        .metadata()
        .ok()
        .and_then(|m| {
            let locks = std::fs::read_to_string("/proc/locks").ok()?;
            Some(flock_holders(&locks, m.dev(), m.ino()))
        })
        .unwrap_or_default();
    let mut named: Vec<String> = from_proc
        .into_iter()
        .filter(|&pid| pid != me)
        .map(|pid| format!("pid {pid}: {}", cmdline(pid)))
        .collect();
    named.dedup();
    if named.is_empty() {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut &*file, &mut text);
        return match text.trim().split_once(' ') {
            Some((pid, cmd)) if pid.parse::<u32>().is_ok() => format!("pid {pid}: {cmd}"),
            _ => "process unknown".into(),
        };
    }
    named.join("; ")
}

/// The pids holding an `flock` on the file `(dev, ino)`, from the text of
/// `/proc/locks` (`1: FLOCK ADVISORY WRITE <pid> <maj>:<min>:<ino> 0 EOF`,
/// device numbers in hex).
fn flock_holders(locks: &str, dev: u64, ino: u64) -> Vec<u32> {
    let want = format!(
        "{:02x}:{:02x}:{ino}",
        rustix::fs::major(dev),
        rustix::fs::minor(dev)
    );
    locks
        .lines()
        .filter(|l| !l.contains("->"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (kind, pid, file) = (f.get(1)?, f.get(4)?, f.get(5)?);
            (*kind == "FLOCK" && *file == want).then(|| pid.parse().ok())?
        })
        .collect()
}

/// A process's command line, spaces between arguments, cut short.
fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| shorten(&b))
        .unwrap_or_else(|_| "command unknown".into())
}

fn own_cmdline() -> String {
    std::fs::read("/proc/self/cmdline")
        .map(|b| shorten(&b))
        .unwrap_or_default()
}

fn shorten(raw: &[u8]) -> String {
    const MAX: usize = 160;
    let text: String = String::from_utf8_lossy(raw)
        .trim_end_matches('\0')
        .chars()
        .map(|c| if c == '\0' || c.is_control() { ' ' } else { c })
        .collect();
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_locks_lines_name_the_holders_of_one_file() {
        let dev = rustix::fs::makedev(0x103, 0x2b);
        let text = "\
1: FLOCK  ADVISORY  WRITE 2316 103:2b:2163 0 EOF
2: FLOCK  ADVISORY  READ  411 103:2b:2163 0 EOF
2: -> FLOCK  ADVISORY  WRITE 999 103:2b:2163 0 EOF
3: POSIX  ADVISORY  WRITE 77 103:2b:2163 0 EOF
4: FLOCK  ADVISORY  WRITE 55 103:2b:21630 0 EOF
5: FLOCK  ADVISORY  WRITE 56 103:2c:2163 0 EOF
";
        assert_eq!(flock_holders(text, dev, 2163), vec![2316, 411]);
        assert!(flock_holders("", dev, 2163).is_empty());
    }

    /// Within one process, two opens of the lock file are two lock
    /// holders, as two processes are.
    #[test]
    fn exclusive_excludes_everything_and_shared_shares() {
        let dir = tempfile::tempdir().unwrap();
        let drives = vec![dir.path().join("d1"), dir.path().join("d2")];
        for d in &drives {
            std::fs::create_dir_all(d).unwrap();
        }
        let r1 = lock_drives(&drives, Access::Shared).unwrap();
        let r2 = lock_drives(&drives, Access::Shared).unwrap();
        let err = lock_drives(&drives, Access::Exclusive).unwrap_err();
        assert!(
            matches!(&err, LockError::Busy { drive, .. } if *drive == drives[0]),
            "{err}"
        );
        drop((r1, r2));
        let w = lock_drives(&drives, Access::Exclusive).unwrap();
        let err = lock_drives(&drives[1..], Access::Shared).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&drives[1].display().to_string()), "{text}");
        // The holder is this process, which /proc/locks lists but a
        // refusal skips: the pid written in the file names it instead.
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        drop(w);
        lock_drives(&drives, Access::Exclusive).unwrap();
    }
}
