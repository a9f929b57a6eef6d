//! The job's state directory: where the journal, report and summary of
//! each run of a job live, outside the drives (MinIO empties
//! `.minio.sys/tmp` on start).
//!
//! A run belongs to a job file *and* a deployment (the `id` of the drives'
//! `format.json`): an unfinished run resumes only on its own deployment,
//! and once a run has ended, the next run of the job file is a new run that
//! scans again (issue 16).
//!
//! ```text
//! <state root>/<first 16 hex of the job file's sha256>/
//!     job.yaml            the job file as run (a resume must present the same bytes)
//!     <deployment id>/
//!         lock            held (flock) while a process works on the job there
//!         run-0001/       one directory per run, numbered; the highest is the latest
//!             journal       see `journal`
//!             report.jsonl  one line per finished version, rebuilt from the journal on resume
//!             summary.json  the counters at the last checkpoint and at the end
//! ```
//!
//! Directories are 0700 and files 0600: the journal names every object, and
//! the job file's notify token is stored only redacted (see
//! [`crate::job::redact_secrets`]); the job's identity is the hash of the
//! bytes given on the command line, never of the stored copy.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::journal::sync_parent_dir;

/// Errors of the state directory, naming the path.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state directory {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("state directory {path} is in use by another keyrotate process (lock held)")]
    Busy { path: PathBuf },
    #[error(
        "no state directory given and neither $XDG_STATE_HOME nor $HOME is set; pass --state-dir"
    )]
    NoDefault,
    #[error("{path} holds a run of this job in the layout of an earlier keyrotate (one run per job file, not per deployment): finish it with that version, or remove that directory if it is over")]
    OldLayout { path: PathBuf },
}

/// The state root used when `--state-dir` is not given:
/// `$XDG_STATE_HOME/keyrotate`, else `~/.local/state/keyrotate`.
pub fn default_root() -> Result<PathBuf, StateError> {
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir).join("keyrotate"));
    }
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(|home| PathBuf::from(home).join(".local/state/keyrotate"))
        .ok_or(StateError::NoDefault)
}

/// Hex SHA-256 of a job file: the identity of a job for resume.
pub fn job_sha256(job_file: &[u8]) -> String {
    hex::encode(Sha256::digest(job_file))
}

/// A job's state directory on one deployment, locked for this process while
/// it lives, and the run directory it works in.
#[derive(Debug)]
pub struct JobDir {
    path: PathBuf,
    run: PathBuf,
    _lock: File,
}

/// The prefix of run directories (`run-0001`, ...).
const RUN_PREFIX: &str = "run-";

impl JobDir {
    /// Opens (creating if needed) the directory of the job with this file
    /// content on `deployment` under `root`, takes its lock, stores the job
    /// file with its secrets redacted, and works in its latest run (a first
    /// one if none).
    pub fn open(root: &Path, job_file: &[u8], deployment: &str) -> Result<Self, StateError> {
        let sha = job_sha256(job_file);
        let job_dir = root.join(&sha[..16]);
        if job_dir.join("journal").exists() {
            return Err(StateError::OldLayout { path: job_dir });
        }
        let path = job_dir.join(deployment);
        let io_err = |source| StateError::Io {
            path: path.clone(),
            source,
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(&path)
            .map_err(io_err)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(FILE_MODE)
            .open(path.join("lock"))
            .map_err(io_err)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(StateError::Busy { path }),
            Err(fs::TryLockError::Error(e)) => return Err(io_err(e)),
        }
        restrict(&job_dir).map_err(io_err)?;
        let job_path = job_dir.join("job.yaml");
        let stored = String::from_utf8_lossy(job_file);
        let redacted = crate::job::redact_secrets(&stored);
        // Rewritten when it differs: state directories of earlier versions
        // hold the token in clear.
        if fs::read(&job_path).ok().as_deref() != Some(redacted.as_bytes()) {
            write_atomic(&job_path, redacted.as_bytes()).map_err(io_err)?;
        }
        let mut dir = JobDir {
            run: PathBuf::new(),
            path: path.clone(),
            _lock: lock,
        };
        match run_numbers(&dir.path).map_err(io_err)?.last() {
            Some(&n) => dir.run = dir.path.join(run_name(n)),
            None => dir.new_run()?,
        }
        Ok(dir)
    }

    /// Starts the next run: a new, empty run directory to work in.
    pub fn new_run(&mut self) -> Result<(), StateError> {
        let io_err = |source| StateError::Io {
            path: self.path.clone(),
            source,
        };
        let next = run_numbers(&self.path)
            .map_err(io_err)?
            .last()
            .map_or(1, |n| n + 1);
        let run = self.path.join(run_name(next));
        fs::DirBuilder::new()
            .mode(DIR_MODE)
            .create(&run)
            .map_err(io_err)?;
        sync_parent_dir(&run).map_err(io_err)?;
        self.run = run;
        Ok(())
    }

    /// The job's directory on this deployment (holding its runs).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory of the run worked in.
    pub fn run_path(&self) -> &Path {
        &self.run
    }

    pub fn journal_path(&self) -> PathBuf {
        self.run.join("journal")
    }

    pub fn report_path(&self) -> PathBuf {
        self.run.join("report.jsonl")
    }

    pub fn summary_path(&self) -> PathBuf {
        self.run.join("summary.json")
    }
}

/// Mode of the state directories: the owner only.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file in a state directory: the owner only.
pub const FILE_MODE: u32 = 0o600;

/// Creates (truncating) a state file readable by its owner only.
pub fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)
}

/// Sets a job directory and the directories below it to 0700 and their
/// files to 0600 (directories written by earlier versions were
/// world-readable). Symbolic links are left alone.
fn restrict(dir: &Path) -> io::Result<()> {
    fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))?;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            restrict(&entry.path())?;
        } else if kind.is_file() {
            fs::set_permissions(entry.path(), fs::Permissions::from_mode(FILE_MODE))?;
        }
    }
    Ok(())
}

fn run_name(n: u64) -> String {
    format!("{RUN_PREFIX}{n:04}")
}

/// The numbers of the run directories in `dir`, ascending.
fn run_numbers(dir: &Path) -> io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        if let Some(n) = name
            .to_str()
            .and_then(|n| n.strip_prefix(RUN_PREFIX))
            .and_then(|n| n.parse().ok())
        {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Every run's summary file under a state root:
/// `<root>/<job>/<deployment>/run-NNNN/summary.json`.
pub fn summary_files(root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let dirs = |p: &Path| -> io::Result<Vec<PathBuf>> {
        Ok(fs::read_dir(p)?
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect())
    };
    for job in dirs(root)? {
        for deployment in dirs(&job).unwrap_or_default() {
            for n in run_numbers(&deployment).unwrap_or_default() {
                let summary = deployment.join(run_name(n)).join("summary.json");
                if summary.exists() {
                    out.push(summary);
                }
            }
        }
    }
    Ok(out)
}

/// Writes a small file crash-safely: temp file in the same directory, fsync,
/// rename, directory fsync. The file is readable by its owner only.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    {
        let mut file = create_private(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    sync_parent_dir(path)
}

/// A new job id: `keyrotate-` and a 22-character shortuuid (base57 of a
/// random UUID), the form MinIO gives batch jobs (JOB.md §13).
pub fn new_job_id() -> String {
    const ALPHABET: &[u8; 57] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut n: u128 = rand::random();
    let mut digits = [b'2'; 22];
    for digit in digits.iter_mut().rev() {
        *digit = ALPHABET[(n % 57) as usize];
        n /= 57;
    }
    format!("keyrotate-{}", String::from_utf8_lossy(&digits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_process_per_job_directory() {
        let root = tempfile::tempdir().unwrap();
        let first = JobDir::open(root.path(), b"keyrotate: {}", "dep-a").unwrap();
        assert!(matches!(
            JobDir::open(root.path(), b"keyrotate: {}", "dep-a"),
            Err(StateError::Busy { .. })
        ));
        // Another job file, or another deployment, is another directory.
        let other = JobDir::open(root.path(), b"keyrotate: {x: 1}", "dep-a").unwrap();
        assert_ne!(first.path(), other.path());
        let elsewhere = JobDir::open(root.path(), b"keyrotate: {}", "dep-b").unwrap();
        assert_ne!(first.path(), elsewhere.path());
        assert_eq!(
            fs::read(first.path().parent().unwrap().join("job.yaml")).unwrap(),
            b"keyrotate: {}"
        );
        drop(first);
        JobDir::open(root.path(), b"keyrotate: {}", "dep-a").unwrap();
    }

    /// A job directory of the earlier layout (its journal directly in it) is
    /// refused, not ignored: its run may hold plans still to finish.
    #[test]
    fn the_earlier_layout_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let old = root.path().join(&job_sha256(b"j")[..16]);
        fs::create_dir_all(&old).unwrap();
        fs::write(old.join("journal"), b"").unwrap();
        assert!(matches!(
            JobDir::open(root.path(), b"j", "dep"),
            Err(StateError::OldLayout { .. })
        ));
    }

    /// Runs are numbered; opening works in the latest, `new_run` adds one.
    #[test]
    fn runs_are_numbered_and_the_latest_is_reopened() {
        let root = tempfile::tempdir().unwrap();
        let mut dir = JobDir::open(root.path(), b"j", "dep").unwrap();
        assert!(dir.run_path().ends_with("run-0001"));
        dir.new_run().unwrap();
        assert!(dir.journal_path().starts_with(dir.path().join("run-0002")));
        fs::write(dir.summary_path(), b"{}").unwrap();
        drop(dir);
        let dir = JobDir::open(root.path(), b"j", "dep").unwrap();
        assert!(dir.run_path().ends_with("run-0002"));
        assert_eq!(summary_files(root.path()).unwrap(), [dir.summary_path()]);
    }

    #[test]
    fn a_job_directory_left_world_readable_is_made_private() {
        let root = tempfile::tempdir().unwrap();
        let job = b"keyrotate: {}";
        let opened = JobDir::open(root.path(), job, "dep").unwrap();
        let deployment = opened.path().to_owned();
        let run = opened.run_path().to_owned();
        drop(opened);
        let job_dir = deployment.parent().unwrap().to_owned();
        // As keyrotate 0.1 left its files: world-readable.
        let open = |p: &Path, mode| fs::set_permissions(p, fs::Permissions::from_mode(mode));
        fs::write(run.join("journal"), b"x").unwrap();
        fs::write(run.join("summary.json"), b"{}").unwrap();
        for (p, mode) in [
            (job_dir.clone(), 0o755),
            (deployment.clone(), 0o755),
            (run.clone(), 0o755),
            (job_dir.join("job.yaml"), 0o644),
            (run.join("journal"), 0o644),
            (run.join("summary.json"), 0o644),
        ] {
            open(&p, mode).unwrap();
        }
        let _again = JobDir::open(root.path(), job, "dep").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        for d in [&job_dir, &deployment, &run] {
            assert_eq!(mode(d), 0o700, "{}", d.display());
        }
        for f in [
            job_dir.join("job.yaml"),
            deployment.join("lock"),
            run.join("journal"),
            run.join("summary.json"),
        ] {
            assert_eq!(mode(&f), 0o600, "{}", f.display());
        }
    }

    #[test]
    fn job_ids_look_like_minios() {
        let id = new_job_id();
        assert_eq!(id.len(), "keyrotate-".len() + 22);
        assert!(id.starts_with("keyrotate-"));
        assert_ne!(id, new_job_id());
    }
}
