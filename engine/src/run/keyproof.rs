//! The key proof of pre-flight: before the first drive write, `run` proves
//! that the configured KMS keys are the ones the data was sealed with.
//!
//! A static key with the right name and the wrong bytes would otherwise
//! seal new data keys (plaintext encryption, rotations) that the MinIO
//! server can never open, and an old key the KMS does not hold would fail
//! every version it sealed, one by one, until the circuit breaker stops the
//! job. So, from a dry pass over the job's scope (every version, whatever
//! the job decides for it) and MinIO's internal items:
//!
//! * **target key**: when anything in scope is sealed under its name, the
//!   configured key must unseal one of them (a static key alone, not an old
//!   key of the same name). A remote KMS (KES, MinIO KMS) must also make a
//!   test data key under it. With nothing sealed under the name (a fresh
//!   key) a static key cannot be proven against data: the run says so and
//!   prints the key's fingerprint to compare with the server's.
//! * **source keys**: every key named by a version the job would rotate or
//!   convert (and by an internal item it would re-encrypt) must unseal one
//!   of its versions: for a static key, it must be configured at all.
//!
//! Each key is tried on up to [`SAMPLES`] items; one success proves it.
//! A refusal is one line naming the key, an item it failed on and the
//! likely fix. Static keys are shown by [`StaticKey::fingerprint`], never
//! by their bytes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use kms_client::{Context, KeyId, Kms, KmsError, PlaintextKey, StaticKey, StaticKeys};

use super::object::{Breaker, ObjectCtx, SealedVersion};
use super::pipeline::{self, SetDrives};
use crate::internal::{InternalError, InternalItem};
use crate::job::decide::Capabilities;
use crate::job::model::Retry;
use crate::job::timestamp::Timestamp;
use crate::job::Job;
use crate::sse::rotate::DecryptRequest;
use crate::sse::SseError;

/// Items tried per key before it is refused.
pub const SAMPLES: usize = 4;

/// An item sealed under a KMS key, which the proof tries to unseal.
#[derive(Clone, Debug)]
pub struct Sample {
    /// `bucket/object` (with the version), or `.minio.sys/NAME`.
    pub what: String,
    /// Set and object: samples are the first in listing order, whatever
    /// order the dry pass's workers finish in.
    order: (usize, String),
    source: Source,
}

#[derive(Clone, Debug)]
enum Source {
    Version(DecryptRequest),
    Internal(InternalItem),
}

/// Why one try failed: the error as shown, and whether a retry may help.
struct Failure {
    text: String,
    transient: bool,
}

impl Sample {
    /// A version a dry pass found sealed on set `set`.
    pub fn version(set: usize, bucket: &str, object: &str, v: &SealedVersion) -> Self {
        let what = if v.version_id.is_empty() {
            format!("{bucket}/{object}")
        } else {
            format!("{bucket}/{object} (version {})", v.version_id)
        };
        Sample {
            what,
            order: (set, object.to_owned()),
            source: Source::Version(v.unwrap.clone()),
        }
    }

    /// Keeps the first [`SAMPLES`] of `samples` in listing order.
    pub fn keep_first(samples: &mut Vec<Sample>) {
        samples.sort_by(|a, b| a.order.cmp(&b.order));
        samples.truncate(SAMPLES);
    }

    /// A KMS-encrypted internal item.
    pub fn internal(item: InternalItem) -> Self {
        Sample {
            what: format!(".minio.sys/{}", item.name),
            order: (0, item.name.clone()),
            source: Source::Internal(item),
        }
    }

    /// Unseals the item with `kms` (its data key; for an internal item, its
    /// content, as MinIO reads it).
    fn open(&self, kms: &dyn Kms) -> Result<(), Failure> {
        let kms_failure = |e: &KmsError| Failure {
            text: kms_error_text(e, kms),
            transient: e.is_transient(),
        };
        match &self.source {
            Source::Version(r) => kms
                .decrypt(&r.key_id, &r.ciphertext, &r.context)
                .map(drop)
                .map_err(|e| kms_failure(&e)),
            Source::Internal(item) => match crate::internal::decrypt_item(item, kms) {
                Ok(_) => Ok(()),
                Err(InternalError::Crypto {
                    source: SseError::Kms(e),
                    ..
                }) => Err(kms_failure(&e)),
                Err(e) => Err(Failure {
                    text: e.to_string(),
                    transient: false,
                }),
            },
        }
    }
}

/// What the proof runs on: the sealed versions of the scope and the
/// sealed internal items.
#[derive(Debug, Default)]
pub struct Evidence {
    /// Versions and internal items sealed under each key.
    pub sealed: BTreeMap<String, u64>,
    /// Versions and internal items the job would re-seal from each key.
    pub needed: BTreeMap<String, u64>,
    /// Up to [`SAMPLES`] items per key, internal items first.
    pub samples: BTreeMap<String, Vec<Sample>>,
    /// Versions and internal items the job would write (encrypt, rotate,
    /// convert): with none, a target that cannot make data keys is harmless.
    pub writes: u64,
}

impl Evidence {
    /// A dry pass over the job's scope (the decision pass of `plan`) and
    /// MinIO's internal items; `internal_applies` when the run re-encrypts
    /// them (the target is the default key).
    pub fn gather(
        sets: &[SetDrives],
        job: &Job,
        t0: Timestamp,
        internal_applies: bool,
    ) -> Result<Self, String> {
        let ctx = ObjectCtx {
            job: job.clone(),
            t0,
            caps: Capabilities::this_build(),
            kms: None,
            target: KeyId::new(""),
            job_context: None,
            encrypt: None,
            internal: None,
            breaker: Breaker::default(),
        };
        let mut report = pipeline::plan(sets, ctx, 16, &mut |_| {})?;
        Self::from_plan(sets, &mut report, internal_applies)
    }

    /// From a dry pass already made (`plan`): takes its samples.
    pub fn from_plan(
        sets: &[SetDrives],
        report: &mut pipeline::PlanReport,
        internal_applies: bool,
    ) -> Result<Self, String> {
        let roots: Vec<Vec<PathBuf>> = sets.iter().map(|s| s.roots.clone()).collect();
        let mut ev = Evidence::default();
        for (item, key) in crate::internal::sealed(&roots).map_err(|e| e.to_string())? {
            *ev.sealed.entry(key.clone()).or_default() += 1;
            if internal_applies {
                *ev.needed.entry(key.clone()).or_default() += 1;
                ev.writes += 1;
            }
            let samples = ev.samples.entry(key).or_default();
            if samples.len() < SAMPLES {
                samples.push(Sample::internal(item));
            }
        }
        for (key, n) in &report.sealed_by_key {
            *ev.sealed.entry(key.clone()).or_default() += n;
        }
        for (key, n) in &report.by_source_key {
            ev.writes += n;
            if key != pipeline::PLAINTEXT_SOURCE {
                *ev.needed.entry(key.clone()).or_default() += n;
            }
        }
        for (key, samples) in std::mem::take(&mut report.sealed_samples) {
            let have = ev.samples.entry(key).or_default();
            let room = SAMPLES.saturating_sub(have.len());
            have.extend(samples.into_iter().take(room));
        }
        Ok(ev)
    }
}

/// A configured static key, by fingerprint.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StaticKeyInfo {
    pub name: String,
    /// `target` (generates and decrypts) or `old` (decrypts only).
    pub role: &'static str,
    /// [`StaticKey::fingerprint`].
    pub fingerprint: String,
}

/// Every configured static key, target first.
pub fn static_key_infos(keys: Option<StaticKeys<'_>>) -> Vec<StaticKeyInfo> {
    let Some(keys) = keys else {
        return Vec::new();
    };
    let info = |k: &StaticKey, role| StaticKeyInfo {
        name: k.name().as_str().to_owned(),
        role,
        fingerprint: k.fingerprint(),
    };
    std::iter::once(info(keys.target, "target"))
        .chain(keys.old.iter().map(|k| info(k, "old")))
        .collect()
}

/// One key after the proof.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyStanding {
    pub key: String,
    /// The static key's fingerprint (none for a remote KMS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    pub proven: bool,
    /// What proved it: an item it unsealed, or a test data key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proven_by: Option<String>,
    /// Versions and internal items in scope sealed under it.
    pub sealed: u64,
    /// Versions and internal items the job re-seals from it.
    pub needed: u64,
    /// Why it is not proven.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The result of the proof (`keyProof` in `run --json`).
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyProof {
    pub target: KeyStanding,
    pub sources: Vec<KeyStanding>,
    pub static_keys: Vec<StaticKeyInfo>,
}

impl KeyProof {
    /// No proof (`--skip-key-proof`): the keys as configured.
    pub fn skipped(kms: &dyn Kms, target: &KeyId) -> Self {
        let target = if target.as_str().is_empty() {
            kms.default_key()
        } else {
            target
        };
        let statics = kms.static_keys();
        KeyProof {
            target: KeyStanding {
                key: target.as_str().to_owned(),
                fingerprint: statics
                    .filter(|k| k.target.name() == target)
                    .map(|k| k.target.fingerprint()),
                proven: false,
                proven_by: None,
                sealed: 0,
                needed: 0,
                note: Some("not proven: --skip-key-proof".into()),
            },
            sources: Vec::new(),
            static_keys: static_key_infos(statics),
        }
    }

    /// One line per key for the operator; warnings (keys that could not be
    /// proven) are marked.
    pub fn lines(&self) -> Vec<(bool, String)> {
        let describe = |k: &KeyStanding, role: &str| {
            let fp = k
                .fingerprint
                .as_ref()
                .map(|f| format!(" (static, fingerprint {f})"))
                .unwrap_or_default();
            let how = match (&k.proven_by, &k.note) {
                (Some(by), _) => format!("proven: {by}"),
                (None, Some(note)) => note.clone(),
                (None, None) => "not proven".into(),
            };
            (
                !k.proven,
                format!(
                    "{role} key {:?}{fp}: {} items sealed under it, {} to re-seal; {how}",
                    k.key, k.sealed, k.needed
                ),
            )
        };
        std::iter::once(describe(&self.target, "target"))
            .chain(self.sources.iter().map(|s| describe(s, "source")))
            .collect()
    }
}

/// A refusal: one line naming the key, an item and the likely fix.
#[derive(Debug, thiserror::Error)]
#[error("key proof: {0}")]
pub struct ProofError(String);

/// A static key alone, for asking "do *these* bytes unseal it" without the
/// old keys of the same name answering instead.
struct OnlyKey<'a>(&'a StaticKey);

impl Kms for OnlyKey<'_> {
    fn default_key(&self) -> &KeyId {
        self.0.name()
    }

    fn generate_key(&self, key: &KeyId, _: &Context) -> Result<kms_client::DataKey, KmsError> {
        Err(KmsError::Config(format!(
            "the key proof never generates under {:?}",
            key.as_str()
        )))
    }

    fn decrypt(
        &self,
        key: &KeyId,
        ciphertext: &[u8],
        context: &Context,
    ) -> Result<PlaintextKey, KmsError> {
        if !key.as_str().is_empty() && key != self.0.name() {
            return Err(KmsError::KeyNotFound(key.as_str().to_owned()));
        }
        self.0.decrypt(ciphertext, context)
    }

    fn static_keys(&self) -> Option<StaticKeys<'_>> {
        Some(StaticKeys {
            target: self.0,
            old: &[],
        })
    }
}

/// `f` until it succeeds or fails for good (transient failures are tried
/// `retry.attempts` times, `retry.delay` apart).
fn tried<T>(retry: Retry, mut f: impl FnMut() -> Result<T, Failure>) -> Result<T, Failure> {
    let mut tries = 1;
    loop {
        match f() {
            Err(e) if e.transient && tries < retry.attempts.max(1) => {
                tries += 1;
                std::thread::sleep(retry.delay);
            }
            r => return r,
        }
    }
}

/// The first of `samples` that `kms` unseals, else the first failure
/// (`None` with no samples at all).
fn first_opened<'s>(
    samples: &'s [Sample],
    kms: &dyn Kms,
    retry: Retry,
) -> Result<&'s Sample, Option<(&'s Sample, Failure)>> {
    let mut first_failure = None;
    for s in samples {
        match tried(retry, || s.open(kms)) {
            Ok(()) => return Ok(s),
            Err(e) => {
                first_failure.get_or_insert((s, e));
            }
        }
    }
    Err(first_failure)
}

/// Proves the target key and every source key against `ev` (module doc).
pub fn prove(
    kms: &dyn Kms,
    target: &KeyId,
    ev: &Evidence,
    retry: Retry,
) -> Result<KeyProof, ProofError> {
    let target = if target.as_str().is_empty() {
        kms.default_key()
    } else {
        target
    };
    let statics = kms.static_keys();
    let fingerprint_of = |name: &str| {
        statics.and_then(|k| {
            std::iter::once(k.target)
                .chain(k.old)
                .find(|s| s.name().as_str() == name)
                .map(StaticKey::fingerprint)
        })
    };
    let none: Vec<Sample> = Vec::new();
    let samples_of = |k: &str| ev.samples.get(k).unwrap_or(&none);
    let standing = |key: &str| KeyStanding {
        key: key.to_owned(),
        fingerprint: fingerprint_of(key),
        proven: false,
        proven_by: None,
        sealed: ev.sealed.get(key).copied().unwrap_or(0),
        needed: ev.needed.get(key).copied().unwrap_or(0),
        note: None,
    };

    let mut t = standing(target.as_str());
    let samples = samples_of(target.as_str());
    match statics {
        Some(keys) if keys.target.name() == target => {
            let fp = keys.target.fingerprint();
            if samples.is_empty() {
                t.note = Some(format!(
                    "cannot be proven: nothing in scope is sealed under it; compare fingerprint {fp} with the server's key"
                ));
            } else {
                match first_opened(samples, &OnlyKey(keys.target), retry) {
                    Ok(s) => {
                        t.proven = true;
                        t.proven_by = Some(format!("it unseals {}", s.what));
                    }
                    // Sealed under the name by an old key of that name
                    // (the bytes were replaced on purpose): not evidence
                    // against the new bytes, nor for them.
                    Err(_) if samples.iter().all(|s| s.open(kms).is_ok()) => {
                        t.note = Some(format!(
                            "cannot be proven: what is sealed under its name opens only with an old key of that name; compare fingerprint {fp} with the server's key"
                        ));
                    }
                    Err(failed) => {
                        let what = failed.map(|(s, _)| s.what.as_str()).unwrap_or("?");
                        return Err(ProofError(format!(
                            "static key {:?} (fingerprint {fp}) does not unseal {}, which is sealed under that name: these are not the bytes the data was sealed with; check MINIO_KMS_SECRET_KEY against the MinIO server's configuration (compare fingerprints)",
                            target.as_str(),
                            what
                        )));
                    }
                }
            }
        }
        _ if ev.writes == 0 => {
            t.note = Some("not proven: the job has nothing to write in scope".into());
        }
        Some(_) => {
            return Err(ProofError(format!(
                "the job's key {:?} is not the static key {:?}: a static-key KMS generates under its own key only",
                target.as_str(),
                kms.default_key().as_str()
            )));
        }
        None => {
            let probe: Context = [("keyrotate", "key-proof")].into_iter().collect();
            tried(retry, || {
                kms.generate_key(target, &probe).map_err(|e| Failure {
                    text: kms_error_text(&e, kms),
                    transient: e.is_transient(),
                })
            })
            .map_err(|e| {
                ProofError(format!(
                    "the job's target key {:?} cannot make data keys: {}",
                    target.as_str(),
                    e.text
                ))
            })?;
            t.proven = true;
            t.proven_by = Some("the KMS made a test data key under it".into());
            if !samples.is_empty() {
                match first_opened(samples, kms, retry) {
                    Ok(s) => t.proven_by = Some(format!("it unseals {}", s.what)),
                    Err(None) => {}
                    Err(Some((s, e))) => {
                        return Err(ProofError(format!(
                            "target key {:?} does not unseal {}: {}",
                            target.as_str(),
                            s.what,
                            e.text
                        )))
                    }
                }
            }
        }
    }

    let mut sources = Vec::new();
    for (key, needed) in &ev.needed {
        if key == target.as_str() || *needed == 0 {
            continue;
        }
        let mut s = standing(key);
        let samples = samples_of(key);
        let example = samples
            .first()
            .map(|s| format!(" (e.g. {})", s.what))
            .unwrap_or_default();
        if let Some(keys) = statics {
            // An empty stored id is left to the decrypt to judge, as the
            // run does.
            let held = key.is_empty()
                || std::iter::once(keys.target)
                    .chain(keys.old)
                    .any(|k| k.name().as_str() == key);
            if !held {
                return Err(ProofError(format!(
                    "{needed} items to re-seal are sealed under KMS key {key:?}{example}, which is not configured: pass it with --old-kms-secret-key {key}:BASE64 (or KEYROTATE_OLD_KMS_SECRET_KEYS)"
                )));
            }
        }
        match first_opened(samples, kms, retry) {
            Ok(opened) => {
                s.proven = true;
                s.proven_by = Some(format!("it unseals {}", opened.what));
            }
            // Nothing to try (no version's unseal could be read back).
            Err(None) => s.note = Some("not proven: no item to try".into()),
            Err(Some((failed, e))) => {
                return Err(ProofError(format!(
                    "KMS key {key:?}, which {needed} items to re-seal are sealed under, does not unseal {}: {}",
                    failed.what, e.text
                )));
            }
        }
        sources.push(s);
    }
    Ok(KeyProof {
        target: t,
        sources,
        static_keys: static_key_infos(statics),
    })
}

/// A KMS error with the likely fix, for the report and the screen.
pub fn kms_error_text(e: &KmsError, kms: &dyn Kms) -> String {
    let is_static = kms.static_keys().is_some();
    let hint = match e {
        KmsError::KeyNotFound(k) if is_static => Some(format!(
            "pass the key it was sealed with: --old-kms-secret-key {k}:BASE64 or KEYROTATE_OLD_KMS_SECRET_KEYS"
        )),
        KmsError::KeyNotFound(k) => Some(format!(
            "the KMS does not hold key {k:?}: use the MinIO server's KMS configuration (--env-file)"
        )),
        KmsError::DecryptionFailed { key } if is_static => Some(format!(
            "the configured bytes of key {key:?} are not the ones it was sealed with: compare key fingerprints with the server's configuration"
        )),
        KmsError::NotAuthorized(_) => {
            Some("keyrotate's KMS identity may not use this key: use the MinIO server's".into())
        }
        KmsError::Transient(_) => {
            Some("the KMS is unreachable or overloaded: run again once it answers".into())
        }
        _ => None,
    };
    match hint {
        Some(h) => format!("{e} ({h})"),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kms_client::StaticKms;

    /// Evidence of `n` versions sealed by `by` under its name.
    fn sealed_by(by: &StaticKms, n: usize, needed: u64) -> Evidence {
        let name = by.target().name().as_str().to_owned();
        let mut ev = Evidence::default();
        for i in 0..n {
            let context: Context = [("b", format!("b/o{i}"))].into_iter().collect();
            let dk = by.generate_key(by.target().name(), &context).unwrap();
            let v = SealedVersion {
                version_id: String::new(),
                unwrap: DecryptRequest {
                    key_id: dk.key_id,
                    ciphertext: dk.ciphertext,
                    context,
                },
            };
            ev.samples
                .entry(name.clone())
                .or_default()
                .push(Sample::version(0, "b", &format!("o{i}"), &v));
        }
        ev.sealed.insert(name.clone(), n as u64);
        ev.needed.insert(name, needed);
        ev.writes = needed + 1;
        ev
    }

    fn key(name: &str, byte: u8) -> StaticKey {
        StaticKey::new(name, [byte; 32]).unwrap()
    }

    #[test]
    fn the_target_is_proven_refused_or_left_unproven() {
        let retry = Retry {
            attempts: 1,
            delay: std::time::Duration::ZERO,
        };
        let old = StaticKms::new(key("k", 1), vec![]);
        let ev = sealed_by(&old, 2, 0);
        // The same bytes: proven by the first item.
        let same = StaticKms::new(key("k", 1), vec![]);
        let p = prove(&same, &KeyId::new(""), &ev, retry).unwrap();
        assert!(p.target.proven, "{p:?}");
        assert_eq!(p.target.proven_by.as_deref(), Some("it unseals b/o0"));
        assert_eq!(p.static_keys[0].fingerprint, key("k", 1).fingerprint());
        // Other bytes under the name: refused, naming key, item, fingerprint.
        let wrong = StaticKms::new(key("k", 2), vec![]);
        let e = prove(&wrong, &KeyId::new("k"), &ev, retry)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"k\"") && e.contains("b/o0"), "{e}");
        assert!(e.contains(&key("k", 2).fingerprint()), "{e}");
        // Other bytes, with the old bytes of the same name given as an old
        // key (the key replaced on purpose): not refused, not proven.
        let replaced = StaticKms::new(key("k", 2), vec![key("k", 1)]);
        let p = prove(&replaced, &KeyId::new("k"), &ev, retry).unwrap();
        assert!(!p.target.proven, "{p:?}");
        assert!(p
            .target
            .note
            .as_deref()
            .unwrap()
            .contains("old key of that name"));
        // Nothing under the name: unproven, with the fingerprint to compare.
        let fresh = StaticKms::new(key("fresh", 3), vec![key("k", 1)]);
        let ev = sealed_by(&old, 1, 1);
        let p = prove(&fresh, &KeyId::new(""), &ev, retry).unwrap();
        assert!(!p.target.proven);
        assert!(p
            .target
            .note
            .as_deref()
            .unwrap()
            .contains(&key("fresh", 3).fingerprint()));
        assert!(p.sources[0].proven, "the old key unseals its item: {p:?}");
        // The source key missing from the ring: refused with the fix.
        let alone = StaticKms::new(key("fresh", 3), vec![]);
        let e = prove(&alone, &KeyId::new(""), &ev, retry)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--old-kms-secret-key k:BASE64"), "{e}");
    }

    #[test]
    fn errors_carry_their_fix() {
        let static_kms = kms_client::StaticKms::new(StaticKey::new("t", [1; 32]).unwrap(), vec![]);
        let text = kms_error_text(&KmsError::KeyNotFound("demo-key".into()), &static_kms);
        assert!(text.starts_with("KMS key \"demo-key\" not found"), "{text}");
        assert!(
            text.contains("--old-kms-secret-key demo-key:BASE64"),
            "{text}"
        );
        let rejected = KmsError::Rejected {
            status: 400,
            message: "x".into(),
        };
        assert_eq!(
            kms_error_text(&rejected, &static_kms),
            rejected.to_string(),
            "no hint when none applies"
        );
    }
}
