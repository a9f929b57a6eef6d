//! The job's state directory: where the journal, report and summary of one
//! job live, outside the drives (MinIO empties `.minio.sys/tmp` on start).
//!
//! ```text
//! <state root>/<first 16 hex of the job file's sha256>/
//!     job.yaml        the job file as run (a resume must present the same bytes)
//!     journal         see `journal`
//!     report.jsonl    one line per finished version, rebuilt from the journal on resume
//!     summary.json    the counters at the last checkpoint and at the end
//!     lock            held (flock) while a process works on the job
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

/// A job's state directory, locked for this process while it lives.
#[derive(Debug)]
pub struct JobDir {
    path: PathBuf,
    _lock: File,
}

impl JobDir {
    /// Opens (creating if needed) the directory of the job with this file
    /// content under `root`, takes its lock, and stores the job file with
    /// its secrets redacted.
    pub fn open(root: &Path, job_file: &[u8]) -> Result<Self, StateError> {
        let sha = job_sha256(job_file);
        let path = root.join(&sha[..16]);
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
        restrict(&path).map_err(io_err)?;
        let job_path = path.join("job.yaml");
        let stored = String::from_utf8_lossy(job_file);
        let redacted = crate::job::redact_secrets(&stored);
        // Rewritten when it differs: state directories of earlier versions
        // hold the token in clear.
        if fs::read(&job_path).ok().as_deref() != Some(redacted.as_bytes()) {
            write_atomic(&job_path, redacted.as_bytes()).map_err(io_err)?;
        }
        Ok(JobDir { path, _lock: lock })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn journal_path(&self) -> PathBuf {
        self.path.join("journal")
    }

    pub fn report_path(&self) -> PathBuf {
        self.path.join("report.jsonl")
    }

    pub fn summary_path(&self) -> PathBuf {
        self.path.join("summary.json")
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
        let first = JobDir::open(root.path(), b"keyrotate: {}").unwrap();
        assert!(matches!(
            JobDir::open(root.path(), b"keyrotate: {}"),
            Err(StateError::Busy { .. })
        ));
        // Another job file is another directory.
        let other = JobDir::open(root.path(), b"keyrotate: {x: 1}").unwrap();
        assert_ne!(first.path(), other.path());
        assert_eq!(
            fs::read(first.path().join("job.yaml")).unwrap(),
            b"keyrotate: {}"
        );
        drop(first);
        JobDir::open(root.path(), b"keyrotate: {}").unwrap();
    }

    #[test]
    fn a_job_directory_of_an_earlier_version_is_made_private() {
        let root = tempfile::tempdir().unwrap();
        let job = b"keyrotate: {}";
        let dir = JobDir::open(root.path(), job).unwrap().path().to_owned();
        // As keyrotate 0.1 left it: world-readable.
        let open = |p: &Path, mode| fs::set_permissions(p, fs::Permissions::from_mode(mode));
        fs::write(dir.join("journal"), b"x").unwrap();
        fs::create_dir(dir.join("old")).unwrap();
        fs::write(dir.join("old/summary.json"), b"{}").unwrap();
        for (p, mode) in [
            (dir.clone(), 0o755),
            (dir.join("journal"), 0o644),
            (dir.join("job.yaml"), 0o644),
            (dir.join("old"), 0o755),
            (dir.join("old/summary.json"), 0o644),
        ] {
            open(&p, mode).unwrap();
        }
        let _again = JobDir::open(root.path(), job).unwrap();
        let mode = |p: PathBuf| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(dir.clone()), 0o700);
        assert_eq!(mode(dir.join("old")), 0o700);
        for f in ["journal", "job.yaml", "lock", "old/summary.json"] {
            assert_eq!(mode(dir.join(f)), 0o600, "{f}");
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
