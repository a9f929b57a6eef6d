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
    /// argument per pool. Defaults to MINIO_VOLUMES of the --env-file.
    #[arg(long, num_args = 1..)]
    pub drives: Vec<String>,
    /// Read MINIO_KMS_* (and MINIO_VOLUMES) from this file, e.g. /etc/default/minio.
    #[arg(long)]
    pub env_file: Option<PathBuf>,
    /// A decrypt-only old static key, NAME:BASE64 (repeatable; static-key KMS only).
    #[arg(long = "old-kms-secret-key", value_name = "NAME:BASE64")]
    pub old_keys: Vec<String>,
    /// Skip the check that no other process uses the drives (a file open or
    /// a working directory under a drive, or a MinIO server command naming
    /// one). Only when you are certain the server is stopped: rotating under
    /// a running server loses updates.
    #[arg(long)]
    pub skip_server_check: bool,
}

impl Target {
    fn env_file(&self) -> Result<Option<EnvFile>, CliError> {
        self.env_file
            .as_ref()
            .map(|p| EnvFile::read(p).map_err(|e| CliError::new(EXIT_PREFLIGHT, e)))
            .transpose()
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
        let file = self.env_file()?;
        let fail = |e: kms_client::KmsError| CliError::new(EXIT_PREFLIGHT, e);
        let mut config = match &file {
            Some(f) => KmsConfig::from_lookup(
                &Layered {
                    first: &ProcessEnv,
                    then: f,
                },
                None,
            ),
            None => KmsConfig::from_lookup(&ProcessEnv, None),
        }
        .map_err(fail)?;
        for k in &self.old_keys {
            config.add_old_static_key(k).map_err(fail)?;
        }
        Ok(config)
    }
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
