//! What `run`, `plan` and `verify` share: drives, KMS, job, pre-flight.

use std::path::PathBuf;
use std::sync::Arc;

use kms_client::config::{KmsConfig, Layered, ProcessEnv};
use kms_client::env_file::EnvFile;
use kms_client::{Context, KeyId, Kms};

use super::{CliError, EXIT_INVALID};
use crate::drives::topology::{discover, MissingPolicy, Topology};
use crate::job::{parse_job, Job};
use crate::run::pipeline::{sets_of, SetDrives};
use crate::run::preflight::servers_using;

/// Pre-flight failed (JOB.md §13).
pub const EXIT_PREFLIGHT: u8 = 3;

/// Drive and KMS options.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// The drives of this node, MinIO syntax (`/mnt/disk{1...4}`); one
    /// argument per pool. Takes every value that follows it: put the job
    /// file first. Defaults to MINIO_VOLUMES of the --env-file.
    #[arg(long, num_args = 1..)]
    pub drives: Vec<String>,
    /// Read MINIO_KMS_* (and MINIO_VOLUMES) from this file, e.g. /etc/default/minio.
    #[arg(long)]
    pub env_file: Option<PathBuf>,
    /// A decrypt-only old static key, NAME:BASE64 (repeatable; static-key
    /// KMS only). Visible to every local user in the process list: prefer
    /// --old-kms-secret-key-file.
    #[arg(long = "old-kms-secret-key", value_name = "NAME:BASE64")]
    pub old_keys: Vec<String>,
    /// A file of decrypt-only old static keys, one NAME:BASE64 per line
    /// (blank lines and lines starting with # are ignored; repeatable).
    #[arg(long = "old-kms-secret-key-file", value_name = "PATH")]
    pub old_key_files: Vec<PathBuf>,
    /// Skip the check that no other process uses the drives (a file open or
    /// a working directory under a drive, or a MinIO server command naming
    /// one). Only when you are certain the server is stopped: rotating under
    /// a running server loses updates.
    #[arg(long)]
    pub skip_server_check: bool,
}

impl Target {
    fn env_file(&self) -> Result<Option<EnvFile>, CliError> {
        let Some(path) = &self.env_file else {
            return Ok(None);
        };
        // A file that cannot be read is a wrong argument, not a KMS problem
        // (its parse errors, which name the line, stay KMS configuration).
        if let Err(e) = std::fs::metadata(path) {
            return Err(CliError::new(
                EXIT_INVALID,
                anyhow::anyhow!("--env-file {}: {e}", path.display()),
            ));
        }
        EnvFile::read(path)
            .map(Some)
            .map_err(|e| CliError::new(EXIT_PREFLIGHT, e))
    }

    /// The job file argument. `--drives` takes every value after it, so
    /// `plan --drives D job.yaml` hands the job to `--drives`: a regular file
    /// is never a drive, so a last drive value that is one is the job.
    pub fn job_argument(&mut self, job: Option<PathBuf>) -> Result<PathBuf, CliError> {
        if let Some(job) = job {
            return Ok(job);
        }
        if self.drives.len() > 1 {
            if let Some(last) = self.drives.last().map(PathBuf::from) {
                if last.is_file() {
                    self.drives.pop();
                    return Ok(last);
                }
            }
        }
        Err(CliError::new(
            EXIT_INVALID,
            anyhow::anyhow!(
                "no job file given: put it before --drives (--drives takes every argument that follows it), e.g. `keyrotate plan JOB.yaml --drives '/mnt/disk{{1...4}}'`"
            ),
        ))
    }

    /// The drive arguments: `--drives`, else MINIO_VOLUMES of the env file.
    fn drive_args(&self) -> Result<Vec<String>, CliError> {
        if !self.drives.is_empty() {
            return Ok(self.drives.clone());
        }
        let vols = self
            .env_file()?
            .and_then(|f| f.get("MINIO_VOLUMES").map(str::to_owned))
            .or_else(|| std::env::var("MINIO_VOLUMES").ok())
            .unwrap_or_default();
        let args: Vec<String> = vols.split_whitespace().map(str::to_owned).collect();
        if args.is_empty() {
            return Err(CliError::new(
                EXIT_INVALID,
                anyhow::anyhow!("no drives: pass --drives or an --env-file with MINIO_VOLUMES"),
            ));
        }
        Ok(args)
    }

    /// Discovers the topology; every drive of every set must be present.
    pub fn topology(&self, allow_missing: bool) -> Result<Topology, CliError> {
        let policy = if allow_missing {
            MissingPolicy::Allow
        } else {
            MissingPolicy::Reject
        };
        discover(&self.drive_args()?, policy).map_err(|e| CliError::new(EXIT_PREFLIGHT, e))
    }

    /// Refuses when another process (a MinIO server, renamed or not) uses
    /// any of the drives.
    pub fn server_check(&self, topo: &Topology) -> Result<(), CliError> {
        if self.skip_server_check {
            return Ok(());
        }
        let drives: Vec<PathBuf> = topo.drives().map(|d| d.path.clone()).collect();
        let found = servers_using(&drives);
        if let Some(p) = found.first() {
            return Err(CliError::new(
                EXIT_PREFLIGHT,
                anyhow::anyhow!(
                    "process pid {} ({}) uses drive {} ({}); stop it first: keyrotate works on the drives of a stopped MinIO server{}. Only if you are certain nothing writes to these drives, pass --skip-server-check",
                    p.pid,
                    p.cmdline,
                    p.drive.display(),
                    p.how,
                    match found.len() {
                        1 => String::new(),
                        n => format!(" ({} more processes use the drives)", n - 1),
                    }
                ),
            ));
        }
        Ok(())
    }

    /// Locks every drive of the topology for this process (drives/lock.rs).
    pub fn lock(
        &self,
        topo: &Topology,
        access: crate::drives::lock::Access,
    ) -> Result<crate::drives::lock::DriveLocks, CliError> {
        let drives: Vec<PathBuf> = topo.drives().map(|d| d.path.clone()).collect();
        crate::drives::lock::lock_drives(&drives, access)
            .map_err(|e| CliError::new(EXIT_PREFLIGHT, e))
    }

    /// Sets with a worker per drive.
    pub fn sets(&self, topo: &Topology) -> Result<Vec<SetDrives>, CliError> {
        sets_of(topo).map_err(|e| CliError::new(EXIT_PREFLIGHT, anyhow::anyhow!(e)))
    }

    /// The KMS, configured as the MinIO server is.
    pub fn kms(&self) -> Result<Arc<dyn Kms>, CliError> {
        self.kms_config()?
            .build()
            .map_err(|e| CliError::new(EXIT_PREFLIGHT, e))
    }

    /// The KMS configuration, with the old static keys, not yet built (no
    /// connection made).
    pub fn kms_config(&self) -> Result<KmsConfig, CliError> {
        let fail = |e: kms_client::KmsError| CliError::new(EXIT_PREFLIGHT, e);
        let mut config = self.server_kms_config()?;
        if !self.old_keys.is_empty() {
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| {
                eprintln!(
                    "keyrotate: warning: --old-kms-secret-key shows the key to every local user (/proc/PID/cmdline, ps); use --old-kms-secret-key-file"
                )
            });
        }
        for k in &self.old_keys {
            config.add_old_static_key(k).map_err(fail)?;
        }
        for path in &self.old_key_files {
            for k in read_old_key_file(path)?.iter() {
                config.add_old_static_key(k).map_err(fail)?;
            }
        }
        Ok(config)
    }

    /// The KMS configuration as the MinIO server reads it (environment
    /// first, then the --env-file), without keyrotate's old keys.
    fn server_kms_config(&self) -> Result<KmsConfig, CliError> {
        let file = self.env_file()?;
        match &file {
            Some(f) => KmsConfig::from_lookup(
                &Layered {
                    first: &ProcessEnv,
                    then: f,
                },
                None,
            ),
            None => KmsConfig::from_lookup(&ProcessEnv, None),
        }
        .map_err(|e| CliError::new(EXIT_PREFLIGHT, e))
    }

    /// The name of the KMS default key, from the configuration alone (no
    /// KMS call); `None` when no KMS is configured.
    pub fn default_key_name(&self) -> Option<KeyId> {
        Some(self.server_kms_config().ok()?.default_key().clone())
    }

    /// Refuses a job whose bucket does not exist, before anything is written
    /// (MinIO answers `NoSuchSourceBucket`). A bucket exists, as MinIO's
    /// bucket lookup decides, when its directory is on at least half the
    /// drives of every set (read quorum for a volume); its metadata
    /// (`.minio.sys/buckets/<bucket>/`) may be missing, as on buckets of
    /// older servers, and MinIO then takes its defaults.
    pub fn require_bucket(&self, sets: &[SetDrives], bucket: &str) -> Result<(), CliError> {
        let is_dir = |p: PathBuf| std::fs::metadata(p).is_ok_and(|m| m.is_dir());
        let dirs_in_quorum = sets.iter().all(|set| {
            let present = set.roots.iter().filter(|r| is_dir(r.join(bucket))).count();
            present > 0 && present >= set.roots.len() / 2
        });
        if dirs_in_quorum && !bucket.is_empty() && !bucket.starts_with('.') {
            return Ok(());
        }
        Err(CliError::new(
            EXIT_INVALID,
            anyhow::anyhow!(
                "keyrotate.bucket: bucket {bucket:?} does not exist on these drives (NoSuchSourceBucket); nothing was done"
            ),
        ))
    }
}

/// Old static keys from a file, one NAME:BASE64 per line; blank lines and
/// `#` comments are skipped. Zeroized when dropped.
fn read_old_key_file(path: &PathBuf) -> Result<zeroize::Zeroizing<Vec<String>>, CliError> {
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
        CliError::new(
            EXIT_INVALID,
            anyhow::anyhow!("--old-kms-secret-key-file {}: {e}", path.display()),
        )
    })?);
    Ok(zeroize::Zeroizing::new(
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect(),
    ))
}

/// Reads and validates a job file; returns it with its bytes.
pub fn read_job(path: &PathBuf) -> Result<(Job, Vec<u8>), CliError> {
    let bytes = std::fs::read(path).map_err(|e| {
        CliError::new(
            EXIT_INVALID,
            anyhow::anyhow!("reading job file {}: {e}", path.display()),
        )
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        CliError::new(
            EXIT_INVALID,
            anyhow::anyhow!("{}: not UTF-8: {e}", path.display()),
        )
    })?;
    let job = parse_job(text).map_err(|inv| {
        let msg = inv
            .0
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        CliError::new(
            EXIT_INVALID,
            anyhow::anyhow!("invalid job file {}:\n{msg}", path.display()),
        )
    })?;
    Ok((job, bytes))
}

/// The target key and job context.
pub fn target_key(job: &Job, kms: Option<&dyn Kms>) -> (KeyId, Option<Context>) {
    let key = match (&job.encryption.key, kms) {
        (Some(k), _) => KeyId::new(k.clone()),
        (None, Some(kms)) => kms.default_key().clone(),
        (None, None) => KeyId::new(""),
    };
    let ctx = job
        .encryption
        .context
        .as_ref()
        .map(|c| c.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    (key, ctx)
}

/// Whether stderr is a terminal (progress bars only then).
pub fn is_tty() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

/// `T0` of a run (JOB.md §9): the instant lock states and ages are judged at.
pub fn now_t0() -> crate::job::timestamp::Timestamp {
    crate::job::timestamp::Timestamp::from_unix_nanos(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0),
    )
}
