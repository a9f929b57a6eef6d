//! Which KMS to use, read from the variables the MinIO server reads (CRYPTO.md
//! §5.6; MinIO internal/kms/config.go), so keyrotate talks to the same KMS,
//! configured the same way, as the server on the node.
//!
//! [`KmsConfig::from_lookup`] takes a variable lookup (the process env, an
//! env file, or a map in tests) and returns exactly one backend family, or one
//! clear error when none or several are configured. Old static keys for
//! decryption come from `KEYROTATE_OLD_KMS_SECRET_KEYS` and the CLI
//! (`--old-kms-secret-key`, see [`OldStaticKeys`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::env_file::EnvFile;
use crate::http::{ClientAuth, ClientOptions};
use crate::identity::ApiKey;
use crate::kes::{KesClient, KesConfig};
use crate::minkms::{MinKmsClient, MinKmsConfig};
use crate::static_key::{StaticKey, StaticKms};
use crate::{KeyId, Kms, KmsError};

/// MinIO KMS (MinKMS) variables.
pub const MINIO_KMS_SERVER: &str = "MINIO_KMS_SERVER";
pub const MINIO_KMS_ENCLAVE: &str = "MINIO_KMS_ENCLAVE";
pub const MINIO_KMS_SSE_KEY: &str = "MINIO_KMS_SSE_KEY";
pub const MINIO_KMS_API_KEY: &str = "MINIO_KMS_API_KEY";
/// KES variables.
pub const MINIO_KMS_KES_ENDPOINT: &str = "MINIO_KMS_KES_ENDPOINT";
pub const MINIO_KMS_KES_KEY_NAME: &str = "MINIO_KMS_KES_KEY_NAME";
pub const MINIO_KMS_KES_API_KEY: &str = "MINIO_KMS_KES_API_KEY";
pub const MINIO_KMS_KES_KEY_FILE: &str = "MINIO_KMS_KES_KEY_FILE";
pub const MINIO_KMS_KES_CERT_FILE: &str = "MINIO_KMS_KES_CERT_FILE";
pub const MINIO_KMS_KES_CAPATH: &str = "MINIO_KMS_KES_CAPATH";
pub const MINIO_KMS_KES_KEY_PASSWORD: &str = "MINIO_KMS_KES_KEY_PASSWORD";
/// Static key variables.
pub const MINIO_KMS_SECRET_KEY: &str = "MINIO_KMS_SECRET_KEY";
pub const MINIO_KMS_SECRET_KEY_FILE: &str = "MINIO_KMS_SECRET_KEY_FILE";
/// keyrotate's decrypt-only old static keys: `NAME:BASE64,NAME:BASE64`.
pub const KEYROTATE_OLD_KMS_SECRET_KEYS: &str = "KEYROTATE_OLD_KMS_SECRET_KEYS";

const MINKMS_VARS: [&str; 4] = [
    MINIO_KMS_SERVER,
    MINIO_KMS_ENCLAVE,
    MINIO_KMS_API_KEY,
    MINIO_KMS_SSE_KEY,
];
const KES_VARS: [&str; 7] = [
    MINIO_KMS_KES_ENDPOINT,
    MINIO_KMS_KES_KEY_NAME,
    MINIO_KMS_KES_API_KEY,
    MINIO_KMS_KES_KEY_FILE,
    MINIO_KMS_KES_CERT_FILE,
    MINIO_KMS_KES_KEY_PASSWORD,
    MINIO_KMS_KES_CAPATH,
];

/// A variable lookup: the process env, an env file, or a test map.
pub trait Lookup {
    /// The variable's value if it is set (an empty value counts as set).
    fn get(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Lookup for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Lookup for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Lookup for EnvFile {
    fn get(&self, name: &str) -> Option<String> {
        EnvFile::get(self, name).map(str::to_string)
    }
}

/// The process env layered over an env file: a variable set in the process
/// wins (as when systemd's `EnvironmentFile=` is overridden by `Environment=`).
#[derive(Debug)]
pub struct Layered<'a> {
    /// Consulted first.
    pub first: &'a dyn Lookup,
    /// Consulted when `first` does not set the variable.
    pub then: &'a dyn Lookup,
}

impl std::fmt::Debug for dyn Lookup + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lookup")
    }
}

impl Lookup for Layered<'_> {
    fn get(&self, name: &str) -> Option<String> {
        self.first.get(name).or_else(|| self.then.get(name))
    }
}

/// The backend family MinIO's variables select.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// `MINIO_KMS_SERVER` … (MinIO KMS).
    MinKms,
    /// `MINIO_KMS_KES_*` (KES).
    Kes,
    /// `MINIO_KMS_SECRET_KEY` / `_FILE` (static key).
    Static,
}

/// Decides the family exactly as MinIO's `IsPresent` does: `Ok(None)` when no
/// KMS is configured, an error when families mix or required variables are
/// missing. An empty `MINIO_KMS_SECRET_KEY`, or a `_FILE` naming nothing that
/// exists, counts as absent (MinIO's container image always sets the latter).
pub fn detect(env: &dyn Lookup) -> Result<Option<Family>, KmsError> {
    let present = |names: &[&str]| names.iter().any(|n| env.get(n).is_some());
    let minkms = present(&MINKMS_VARS);
    let kes = present(&KES_VARS);
    let secret_key = env
        .get(MINIO_KMS_SECRET_KEY)
        .filter(|v| !v.is_empty())
        .is_some();
    let secret_file = env
        .get(MINIO_KMS_SECRET_KEY_FILE)
        .filter(|v| !v.is_empty())
        .is_some_and(|f| secret_file_path(&f).is_some());
    let static_key = secret_key || secret_file;
    let cfg = |m: String| KmsError::Config(m);
    match (minkms, kes, static_key) {
        (true, true, _) => return Err(cfg("settings for both MinIO KMS (MINIO_KMS_SERVER, …) and KES (MINIO_KMS_KES_*) are present; configure one KMS".into())),
        (true, _, true) => return Err(cfg("settings for both MinIO KMS (MINIO_KMS_SERVER, …) and a static key (MINIO_KMS_SECRET_KEY) are present; configure one KMS".into())),
        (_, true, true) => return Err(cfg("settings for both KES (MINIO_KMS_KES_*) and a static key (MINIO_KMS_SECRET_KEY) are present; configure one KMS".into())),
        _ => {}
    }
    let missing = |family: &str, name: &str| {
        cfg(format!(
            "incomplete {family} configuration: {name} is not set"
        ))
    };
    if minkms {
        for name in [
            MINIO_KMS_SERVER,
            MINIO_KMS_ENCLAVE,
            MINIO_KMS_SSE_KEY,
            MINIO_KMS_API_KEY,
        ] {
            if env.get(name).is_none() {
                return Err(missing("MinIO KMS", name));
            }
        }
        return Ok(Some(Family::MinKms));
    }
    if static_key {
        if secret_key && secret_file {
            return Err(cfg(format!(
                "both {MINIO_KMS_SECRET_KEY} and {MINIO_KMS_SECRET_KEY_FILE} are set; set one"
            )));
        }
        return Ok(Some(Family::Static));
    }
    if kes {
        for name in [MINIO_KMS_KES_ENDPOINT, MINIO_KMS_KES_KEY_NAME] {
            if env.get(name).is_none() {
                return Err(missing("KES", name));
            }
        }
        if present(&[
            MINIO_KMS_KES_KEY_FILE,
            MINIO_KMS_KES_CERT_FILE,
            MINIO_KMS_KES_KEY_PASSWORD,
        ]) {
            if env.get(MINIO_KMS_KES_API_KEY).is_some() {
                return Err(cfg(format!(
                    "KES: both {MINIO_KMS_KES_API_KEY} and a client certificate are set; use one"
                )));
            }
            for name in [MINIO_KMS_KES_CERT_FILE, MINIO_KMS_KES_KEY_FILE] {
                if env.get(name).is_none() {
                    return Err(missing("KES", name));
                }
            }
        } else if env.get(MINIO_KMS_KES_API_KEY).is_none() {
            return Err(cfg(format!(
                "incomplete KES configuration: no authentication ({MINIO_KMS_KES_API_KEY}, or {MINIO_KMS_KES_CERT_FILE} + {MINIO_KMS_KES_KEY_FILE})"
            )));
        }
        return Ok(Some(Family::Kes));
    }
    Ok(None)
}

/// MinIO retries a relative secret-key file under `/run/secrets/` (Docker secrets).
fn secret_file_path(name: &str) -> Option<PathBuf> {
    let path = Path::new(name);
    if path.exists() {
        return Some(path.to_path_buf());
    }
    if path.is_relative() {
        let secret = Path::new("/run/secrets").join(path);
        if secret.exists() {
            return Some(secret);
        }
    }
    None
}

/// Decrypt-only static keys: `--old-kms-secret-key NAME:BASE64` (repeatable)
/// and `KEYROTATE_OLD_KMS_SECRET_KEYS=NAME:BASE64,...`.
#[derive(Debug, Default)]
pub struct OldStaticKeys(Vec<StaticKey>);

/// A configuration error with `context` in front; an inner configuration
/// error keeps its message only, so "KMS configuration:" is said once.
fn config_within(context: &str, e: KmsError) -> KmsError {
    match e {
        KmsError::Config(message) => KmsError::Config(format!("{context}: {message}")),
        other => KmsError::Config(format!("{context}: {other}")),
    }
}

impl OldStaticKeys {
    /// Adds one `NAME:BASE64` key (a CLI flag value).
    pub fn add(&mut self, text: &str) -> Result<(), KmsError> {
        self.0
            .push(StaticKey::parse(text).map_err(|e| config_within("old static key", e))?);
        Ok(())
    }

    /// Adds every key of a comma-separated list (empty entries ignored).
    pub fn add_list(&mut self, list: &str) -> Result<(), KmsError> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .try_for_each(|k| self.add(k))
    }

    /// The keys.
    pub fn keys(&self) -> &[StaticKey] {
        &self.0
    }

    /// Whether no old key is given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A fully read KMS configuration: one backend family with its settings.
#[derive(Debug)]
#[non_exhaustive]
pub enum KmsConfig {
    /// Static key: the target key and decrypt-only old keys.
    Static {
        target: StaticKey,
        old: OldStaticKeys,
    },
    /// KES.
    Kes(KesConfig),
    /// MinIO KMS.
    MinKms(MinKmsConfig),
}

impl KmsConfig {
    /// Reads the configuration MinIO would use from `env`, plus
    /// `KEYROTATE_OLD_KMS_SECRET_KEYS`. `ca_dir` stands in for MinIO's
    /// `certs/CAs` directory (used when `MINIO_KMS_KES_CAPATH` is unset).
    /// Errors when no KMS or several are configured.
    pub fn from_lookup(env: &dyn Lookup, ca_dir: Option<&Path>) -> Result<Self, KmsError> {
        let family = detect(env)?.ok_or_else(|| {
            KmsError::Config(format!(
                "no KMS configured: set {MINIO_KMS_SECRET_KEY} (or _FILE), {MINIO_KMS_KES_ENDPOINT} (KES) or {MINIO_KMS_SERVER} (MinIO KMS), in the environment or the --env-file"
            ))
        })?;
        let mut old = OldStaticKeys::default();
        if let Some(list) = env.get(KEYROTATE_OLD_KMS_SECRET_KEYS) {
            old.add_list(&list)?;
        }
        if family != Family::Static && !old.is_empty() {
            return Err(KmsError::Config(format!(
                "{KEYROTATE_OLD_KMS_SECRET_KEYS} only applies to a static-key KMS; KES and MinIO KMS hold old keys themselves"
            )));
        }
        let config = match family {
            Family::Static => {
                let text = match env.get(MINIO_KMS_SECRET_KEY).filter(|v| !v.is_empty()) {
                    Some(text) => zeroize::Zeroizing::new(text),
                    None => {
                        let name = env.get(MINIO_KMS_SECRET_KEY_FILE).unwrap_or_default();
                        let path = secret_file_path(&name).ok_or_else(|| {
                            KmsError::Config(format!(
                                "{MINIO_KMS_SECRET_KEY_FILE}: {name} not found"
                            ))
                        })?;
                        let bytes = std::fs::read(&path).map_err(|e| {
                            KmsError::Config(format!(
                                "{MINIO_KMS_SECRET_KEY_FILE}: {}: {e}",
                                path.display()
                            ))
                        })?;
                        let text =
                            zeroize::Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned());
                        drop(zeroize::Zeroizing::new(bytes));
                        text
                    }
                };
                let target =
                    StaticKey::parse(&text).map_err(|e| config_within(MINIO_KMS_SECRET_KEY, e))?;
                KmsConfig::Static { target, old }
            }
            Family::Kes => {
                let endpoints =
                    expand_endpoints(&env.get(MINIO_KMS_KES_ENDPOINT).unwrap_or_default())?;
                if endpoints.is_empty() {
                    return Err(KmsError::Config(format!(
                        "{MINIO_KMS_KES_ENDPOINT} is empty"
                    )));
                }
                let auth = match env.get(MINIO_KMS_KES_API_KEY).filter(|v| !v.is_empty()) {
                    Some(key) => ClientAuth::ApiKey(ApiKey::parse_kes(&key)?),
                    None => ClientAuth::CertFiles {
                        cert: PathBuf::from(env.get(MINIO_KMS_KES_CERT_FILE).unwrap_or_default()),
                        key: PathBuf::from(env.get(MINIO_KMS_KES_KEY_FILE).unwrap_or_default()),
                        password_set: env
                            .get(MINIO_KMS_KES_KEY_PASSWORD)
                            .is_some_and(|p| !p.is_empty()),
                    },
                };
                let ca_path = env
                    .get(MINIO_KMS_KES_CAPATH)
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
                    .or_else(|| ca_dir.map(Path::to_path_buf));
                KmsConfig::Kes(KesConfig {
                    endpoints,
                    default_key: KeyId::new(env.get(MINIO_KMS_KES_KEY_NAME).unwrap_or_default()),
                    auth,
                    ca_path,
                    options: ClientOptions::default(),
                })
            }
            Family::MinKms => {
                let endpoints = expand_endpoints(&env.get(MINIO_KMS_SERVER).unwrap_or_default())?;
                if endpoints.is_empty() {
                    return Err(KmsError::Config(format!("{MINIO_KMS_SERVER} is empty")));
                }
                KmsConfig::MinKms(MinKmsConfig {
                    endpoints,
                    enclave: env.get(MINIO_KMS_ENCLAVE).unwrap_or_default(),
                    default_key: KeyId::new(env.get(MINIO_KMS_SSE_KEY).unwrap_or_default()),
                    api_key: ApiKey::parse_k1(&env.get(MINIO_KMS_API_KEY).unwrap_or_default())?,
                    ca_path: ca_dir.map(Path::to_path_buf),
                    options: ClientOptions::default(),
                })
            }
        };
        Ok(config)
    }

    /// Adds a decrypt-only old static key (`--old-kms-secret-key`); an error
    /// for KES and MinIO KMS, which hold old keys themselves.
    pub fn add_old_static_key(&mut self, text: &str) -> Result<(), KmsError> {
        match self {
            KmsConfig::Static { old, .. } => old.add(text),
            _ => Err(KmsError::Config(
                "--old-kms-secret-key only applies to a static-key KMS; KES and MinIO KMS hold old keys themselves".into(),
            )),
        }
    }

    /// Tuning for remote backends (timeouts, retries, concurrency); no effect
    /// on the static key.
    pub fn client_options_mut(&mut self) -> Option<&mut ClientOptions> {
        match self {
            KmsConfig::Static { .. } => None,
            KmsConfig::Kes(c) => Some(&mut c.options),
            KmsConfig::MinKms(c) => Some(&mut c.options),
        }
    }

    /// The key MinIO uses when none is named.
    pub fn default_key(&self) -> &KeyId {
        match self {
            KmsConfig::Static { target, .. } => target.name(),
            KmsConfig::Kes(c) => &c.default_key,
            KmsConfig::MinKms(c) => &c.default_key,
        }
    }

    /// The static keys (`None` for KES and MinIO KMS), without building
    /// the backend.
    pub fn static_keys(&self) -> Option<crate::StaticKeys<'_>> {
        match self {
            KmsConfig::Static { target, old } => Some(crate::StaticKeys {
                target,
                old: old.keys(),
            }),
            _ => None,
        }
    }

    /// Builds the backend (loads certificates, starts the HTTP client).
    pub fn build(self) -> Result<Arc<dyn Kms>, KmsError> {
        Ok(match self {
            KmsConfig::Static { target, old } => Arc::new(StaticKms::new(target, old.0)),
            KmsConfig::Kes(c) => Arc::new(KesClient::new(c)?),
            KmsConfig::MinKms(c) => Arc::new(MinKmsClient::new(c)?),
        })
    }
}

/// Splits a comma-separated endpoint list and expands MinIO ellipses
/// (`https://kes{1...3}:7373`, zero-padded `{01...10}`).
pub fn expand_endpoints(text: &str) -> Result<Vec<String>, KmsError> {
    let mut out = Vec::new();
    for endpoint in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        expand_one(endpoint, &mut out)?;
    }
    Ok(out)
}

/// More endpoints than any KMS cluster has. Ellipses multiply (five
/// `{1...32}` make 33 million names), so the expansion stops here with an
/// error instead of exhausting memory (found by the `config` fuzzer).
const MAX_ENDPOINTS: usize = 10_000;

fn expand_one(pattern: &str, out: &mut Vec<String>) -> Result<(), KmsError> {
    let Some(open) = pattern.find('{') else {
        if out.len() >= MAX_ENDPOINTS {
            return Err(KmsError::Config(format!(
                "KMS endpoint list expands to more than {MAX_ENDPOINTS} endpoints"
            )));
        }
        out.push(pattern.to_string());
        return Ok(());
    };
    let bad = || KmsError::Config(format!("invalid endpoint ellipsis pattern {pattern:?}"));
    let close = pattern[open..]
        .find('}')
        .map(|i| open + i)
        .ok_or_else(bad)?;
    let (lo, hi) = pattern[open + 1..close].split_once("...").ok_or_else(bad)?;
    let width = if lo.len() > 1 && lo.starts_with('0') {
        lo.len()
    } else {
        0
    };
    let (lo_n, hi_n): (u64, u64) = (
        lo.parse().map_err(|_| bad())?,
        hi.parse().map_err(|_| bad())?,
    );
    if lo_n > hi_n || hi_n - lo_n > 10_000 {
        return Err(bad());
    }
    for n in lo_n..=hi_n {
        let expanded = format!("{}{:0width$}{}", &pattern[..open], n, &pattern[close + 1..]);
        expand_one(&expanded, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ellipses_expand() {
        assert_eq!(
            expand_endpoints("https://kes{1...3}:7373, https://other:7373").unwrap(),
            [
                "https://kes1:7373",
                "https://kes2:7373",
                "https://kes3:7373",
                "https://other:7373"
            ]
        );
        assert_eq!(
            expand_endpoints("h{08...10}").unwrap(),
            ["h08", "h09", "h10"]
        );
        assert!(expand_endpoints("h{3...1}").is_err());
        assert_eq!(
            expand_endpoints("h{1...100}{1...100}").unwrap().len(),
            10_000
        );
        assert!(expand_endpoints("h{1...100}{1...100},i").is_err());
        // Found by the `config` fuzzer: 33 million names ran out of memory.
        let oom = "https://kes{1...32}.x/kms{08...11}:ex https://kes{1...32}.x/kms{08...11}:ex \
                   \u{1a}tt-es{1...32}\u{1a}tt-es{1...32}.x/km}:";
        assert!(expand_endpoints(oom).is_err());
    }
}
