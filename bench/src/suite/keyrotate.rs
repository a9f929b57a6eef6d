//! Runs the `keyrotate` binary on a fixture: `run` (rotation, checked to
//! have rotated every object) and `plan`, each measured by [`super::child`].

use std::path::{Path, PathBuf};
use std::process::Command;

use super::cache::Fixture;
use super::child::{self, Measured};

/// The job every scenario runs: rotate the bucket to the default key.
pub const JOB: &str = "keyrotate:\n  apiVersion: v1\n  bucket: fixture\n  encryption: {}\n";

/// KMS variables a child might inherit from the caller: all are removed,
/// then the scenario's own are set.
const KMS_VARS: &[&str] = &[
    "MINIO_KMS_SECRET_KEY",
    "MINIO_KMS_SECRET_KEY_FILE",
    "MINIO_KMS_KES_ENDPOINT",
    "MINIO_KMS_KES_KEY_NAME",
    "MINIO_KMS_KES_API_KEY",
    "MINIO_KMS_KES_KEY_FILE",
    "MINIO_KMS_KES_CERT_FILE",
    "MINIO_KMS_KES_CAPATH",
    "MINIO_KMS_KES_KEY_PASSWORD",
    "MINIO_KMS_SERVER",
    "MINIO_KMS_ENCLAVE",
    "MINIO_KMS_SSE_KEY",
    "MINIO_KMS_API_KEY",
    "KEYROTATE_OLD_KMS_SECRET_KEYS",
    "MINIO_VOLUMES",
];

/// The binary, the work directory (job file, state dirs) and the device.
#[derive(Debug, Clone)]
pub struct Keyrotate {
    pub bin: PathBuf,
    pub work: PathBuf,
    /// Block device of the fixtures (for /proc/diskstats).
    pub dev: String,
}

/// The KMS configuration of a child, as variables.
pub type KmsEnv = Vec<(String, String)>;

/// The static key the fixtures are sealed with.
pub fn static_env() -> KmsEnv {
    vec![(
        "MINIO_KMS_SECRET_KEY".into(),
        engine::fixture::DEFAULT_KMS_SECRET_KEY.into(),
    )]
}

impl Keyrotate {
    /// The job file; `dirs` limits it to the first `dirs` fixture
    /// directories (`dirNNN/`, 1000 objects each) with a prefix list.
    fn job(&self, dirs: Option<u64>) -> Result<PathBuf, String> {
        let p = self.work.join("job.yaml");
        let mut text = JOB.to_owned();
        if let Some(n) = dirs {
            let list: Vec<String> = (0..n).map(|i| format!("\"dir{i:03}/\"")).collect();
            text.push_str(&format!("  prefix: [{}]\n", list.join(", ")));
        }
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
        Ok(p)
    }

    fn command(&self, kms: &KmsEnv) -> Command {
        let mut c = Command::new(&self.bin);
        for v in KMS_VARS {
            c.env_remove(v);
        }
        c.envs(kms.iter().map(|(k, v)| (k, v)));
        c
    }

    /// `keyrotate run` with a fresh state directory on the whole fixture;
    /// fails unless every object was rotated. Returns the measurement and
    /// the JSON summary.
    pub fn rotate(
        &self,
        fixture: &Fixture,
        kms: &KmsEnv,
        concurrency: Option<usize>,
    ) -> Result<(Measured, serde_json::Value), String> {
        self.rotate_part(fixture, kms, concurrency, None)
    }

    /// [`rotate`](Self::rotate) limited to the first `dirs` thousand objects.
    pub fn rotate_part(
        &self,
        fixture: &Fixture,
        kms: &KmsEnv,
        concurrency: Option<usize>,
        dirs: Option<u64>,
    ) -> Result<(Measured, serde_json::Value), String> {
        let expect = dirs.map_or(fixture.params.objects, |d| {
            (d * 1000).min(fixture.params.objects)
        });
        let job = self.job(dirs)?;
        let state = self.work.join("state");
        remove(&state)?;
        let mut cmd = self.command(kms);
        cmd.arg("run")
            .arg(&job)
            .args(["--drives", &fixture.drive_spec()])
            .args(["--json", "--skip-server-check", "--state-dir"])
            .arg(&state);
        if let Some(c) = concurrency {
            cmd.args(["--kms-concurrency", &c.to_string()]);
        }
        fixture
            .mark_dirty()
            .map_err(|e| format!("{}: {e}", fixture.dir.display()))?;
        let m = child::run(&mut cmd, &self.dev).map_err(|e| format!("keyrotate run: {e}"))?;
        if !m.ok {
            return Err(format!("keyrotate run failed: {}", m.stderr_text()));
        }
        let summary: serde_json::Value = serde_json::from_slice(&m.stdout)
            .map_err(|e| format!("keyrotate run: summary: {e}"))?;
        let rotated = summary["objectsRotated"].as_u64();
        let failed = summary["objectsFailed"].as_u64();
        if rotated != Some(expect) || failed != Some(0) {
            return Err(format!(
                "keyrotate run rotated {rotated:?} of {expect} objects, {failed:?} failed: {}",
                summary["lastError"]
            ));
        }
        fixture
            .mark_complete()
            .map_err(|e| format!("{}: {e}", fixture.dir.display()))?;
        remove(&state)?;
        Ok((m, summary))
    }

    /// `keyrotate plan --json`; fails unless it saw every object.
    pub fn plan(&self, fixture: &Fixture) -> Result<Measured, String> {
        let job = self.job(None)?;
        let mut cmd = self.command(&static_env());
        cmd.arg("plan")
            .arg(&job)
            .args(["--drives", &fixture.drive_spec(), "--json"]);
        let m = child::run(&mut cmd, &self.dev).map_err(|e| format!("keyrotate plan: {e}"))?;
        if !m.ok {
            return Err(format!("keyrotate plan failed: {}", m.stderr_text()));
        }
        let report: serde_json::Value = serde_json::from_slice(&m.stdout)
            .map_err(|e| format!("keyrotate plan: report: {e}"))?;
        if report["objects"].as_u64() != Some(fixture.params.objects) {
            return Err(format!(
                "keyrotate plan saw {} objects, expected {}",
                report["objects"], fixture.params.objects
            ));
        }
        Ok(m)
    }
}

fn remove(dir: &Path) -> Result<(), String> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(format!("{}: {e}", dir.display()))
        }
        _ => Ok(()),
    }
}
