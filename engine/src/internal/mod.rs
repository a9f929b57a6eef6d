//! Re-encryption of MinIO's internal encrypted data in the `.minio.sys` meta
//! bucket (JOB.md §14, CRYPTO.md §7 and §8d, ONDISK.md §1.4).
//!
//! Runs once per job, cluster-wide, when the job's target key is the KMS
//! default key. Every item is an ordinary meta-bucket object (null version,
//! usually inline); the new content becomes new per-drive `xl.meta` files in a
//! [`CommitPlan`], committed through the run pipeline's journaled path.
//!
//! | item (path in `.minio.sys`) | [`ItemKind`] | how MinIO stores it with a KMS | what we do |
//! |---|---|---|---|
//! | `config/config.json` | `ServerConfig` | `EncryptBytes`, context `{".minio.sys": ".minio.sys/config/config.json"}` | re-envelope; plaintext → encrypt |
//! | `config/history/<uuid>.kv` | `ConfigHistory` | `EncryptBytes`, same rule | re-envelope; plaintext → encrypt |
//! | `config/iam/{users,service-accounts,sts}/<n>/identity.json`, `groups/<g>/members.json`, `policies/<p>/policy.json`, `policydb/{users,sts-users,service-accounts,groups}/<n>.json` | `Iam` | `EncryptBytes` (`saveIAMConfig`) | re-envelope; plaintext → encrypt |
//! | `config/iam/format.json` | `IamFormat` | plaintext as current MinIO leaves it (the IAM loader skips it; MinIO-written sample drive sets hold it plaintext) — the format migration of older releases saved it through `saveIAMConfig`, i.e. encrypted, and MinIO still reads that | re-envelope only if encrypted; plaintext stays plaintext (encrypting it is not what MinIO writes) |
//! | `config/tier-config.bin` | `TierConfig` | an SSE-S3 object (object-level keys in `MetaSys`) | re-wrap the sealed key, stays SSE-S3 (metadata only); plaintext → SSE-S3 (data rewrite) |
//! | `buckets/<b>/.metadata.bin` | `BucketMetadata` | plain msgpack; only `BucketTargetsConfigJSON` (DARE) + `BucketTargetsConfigMetaJSON` are encrypted | new DEK/OEK/IV for the targets; every other field byte-identical; plaintext targets → encrypt |
//!
//! Config blobs are classified as MinIO reads them (CRYPTO.md §7.3): KMS
//! envelope (re-envelope), madmin root-credential encryption (written before
//! 2021 without a KMS: reported and left alone, we do not hold the root
//! credentials), UTF-8 plaintext, or unknown (failed). Everything else under
//! `.minio.sys` (site replication, batch jobs, usage, pool state, listing
//! caches) is never encrypted by this mechanism and never touched.
//!
//! | item | what it owns |
//! |---|---|
//! | [`discover`] | listing the meta bucket on every set |
//! | [`survey`] | what a run would do to each item, without KMS calls (`plan`) |
//! | [`sealed`] | the items under each KMS key (the run's key proof) |
//! | [`prepare`] / [`prepare_all`] | KMS calls, new content, new `xl.meta` per drive → [`CommitPlan`] |
//! | [`hook_work`] / [`prepare_for_job`] | the run pipeline's once-per-job hook |
//! | [`decrypt_item`] / [`verify`] | reading each item back through the KMS |
//! | [`bucket_meta`] | the two encrypted fields of `.metadata.bin` |

pub mod bucket_meta;

use std::path::{Path, PathBuf};

use kms_client::{KeyId, Kms};
use md5::{Digest, Md5};
use xlmeta::meta::{ObjectV2, META_INLINE_DATA};
use xlmeta::XlMeta;
use xxhash_rust::xxh64::xxh64;
use zeroize::Zeroizing;

use crate::drives::topology::Topology;
use crate::drives::walk::{encode_dir_object, merge_sorted, walk_dir};
use crate::erasure::set::locate_version;
use crate::erasure::stream::{encode_part, read_object, ObjectLayout};
use crate::run::object::InternalWork;
use crate::run::plan::{CommitPlan, DriveChange, StagedDataDir, VersionChange};
use crate::run::summary::{ActionKind, InternalCounters, Outcome, VersionSizes};
use crate::sse::config::{
    bucket_targets_context, decrypt_bucket_targets, decrypt_config_with_kms,
    encrypt_bucket_targets, encrypt_config_with_kms, parse_bucket_targets_meta, ConfigBlob,
    META_BUCKET,
};
use crate::sse::keys::{Iv, ObjectKey, SecretBytes};
use crate::sse::metadata::{sealed_key_entries, Classification, CryptoEntries, SseType};
use crate::sse::rotate::{kms_generate_request, reseal_s3};
use crate::sse::{dare, Changes, RandomSource, SseError};
use bucket_meta::BucketMetadataDoc;

/// MinIO's inline limit for an unversioned object's shard (`smallFileThreshold`).
const INLINE_LIMIT: u64 = 128 * 1024;
/// MetaSys key of the plaintext size MinIO keeps for encrypted objects.
const META_ACTUAL_SIZE: &str = "X-Minio-Internal-actual-size";

/// What an internal item is (module doc table).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ItemKind {
    ServerConfig,
    ConfigHistory,
    IamFormat,
    Iam,
    TierConfig,
    BucketMetadata { bucket: String },
}

impl ItemKind {
    /// The kind of meta-bucket object `name`, or `None` when keyrotate never
    /// touches it.
    pub fn classify(name: &str) -> Option<Self> {
        let parts: Vec<&str> = name.split('/').collect();
        match parts.as_slice() {
            ["config", "config.json"] => Some(Self::ServerConfig),
            ["config", "history", f] if f.ends_with(".kv") => Some(Self::ConfigHistory),
            ["config", "iam", "format.json"] => Some(Self::IamFormat),
            ["config", "iam", "users" | "service-accounts" | "sts", n, "identity.json"]
            | ["config", "iam", "groups", n, "members.json"]
            | ["config", "iam", "policies", n, "policy.json"]
                if !n.is_empty() =>
            {
                Some(Self::Iam)
            }
            ["config", "iam", "policydb", "users" | "sts-users" | "service-accounts" | "groups", f]
                if f.ends_with(".json") =>
            {
                Some(Self::Iam)
            }
            ["config", "tier-config.bin"] => Some(Self::TierConfig),
            ["buckets", b, ".metadata.bin"] if !b.is_empty() && !b.starts_with('.') => {
                Some(Self::BucketMetadata {
                    bucket: (*b).to_owned(),
                })
            }
            _ => None,
        }
    }

    /// Whether MinIO encrypts a plaintext item of this kind once a KMS is
    /// configured (so keyrotate may encrypt it too).
    pub fn minio_encrypts(&self) -> bool {
        !matches!(self, Self::IamFormat)
    }
}

/// One internal object on one erasure set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InternalItem {
    /// The set's drive roots in set order.
    pub drives: Vec<PathBuf>,
    /// Object name inside `.minio.sys`.
    pub name: String,
    pub kind: ItemKind,
}

/// How an item is stored now.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Encoding {
    /// KMS-encrypted under this key (config envelope, SSE-S3 tier config or
    /// bucket targets).
    Kms { key_id: String },
    /// madmin `EncryptData` with the root credentials.
    RootCredentials,
    /// Not encrypted.
    Plaintext,
    /// Bucket metadata without remote targets: nothing encrypted, nothing to encrypt.
    NothingEncrypted,
    /// None of the formats MinIO reads.
    Unknown,
}

/// What a run does to an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// New data key under the target key, same format and context.
    Rotate,
    /// Plaintext that MinIO itself would encrypt: encrypted under the target key.
    Encrypt,
    /// Root-credential encryption: reported, left alone (`skipped`).
    LeaveRootCredentials,
    /// Stays as it is and is not counted (plaintext MinIO keeps plaintext,
    /// bucket metadata without targets).
    Leave,
    /// Not in any format MinIO reads (`failed`).
    Fail,
}

impl Action {
    fn for_encoding(kind: &ItemKind, enc: &Encoding) -> Self {
        match enc {
            Encoding::Kms { .. } => Action::Rotate,
            Encoding::Plaintext if kind.minio_encrypts() => Action::Encrypt,
            Encoding::Plaintext | Encoding::NothingEncrypted => Action::Leave,
            Encoding::RootCredentials => Action::LeaveRootCredentials,
            Encoding::Unknown => Action::Fail,
        }
    }
}

/// Why an internal item could not be handled. Never carries key material or
/// decrypted content.
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    #[error("listing .minio.sys on {drive}: {source}")]
    List {
        drive: PathBuf,
        source: std::io::Error,
    },
    #[error("set {0} has a missing drive: internal items must be rewritten on every drive")]
    MissingDrive(usize),
    #[error(".minio.sys/{object}: {detail}")]
    Read { object: String, detail: String },
    #[error(".minio.sys/{object}: xl.meta copies disagree: {detail}")]
    Inconsistent { object: String, detail: String },
    #[error(".minio.sys/{object}: {source}")]
    Crypto {
        object: String,
        #[source]
        source: SseError,
    },
    #[error(".minio.sys/{object}: xl.meta: {source}")]
    XlMeta {
        object: String,
        #[source]
        source: xlmeta::Error,
    },
    #[error(".minio.sys/{object}: {detail}")]
    Format { object: String, detail: String },
}

/// The drive roots of every set, failing if any drive is missing.
pub fn sets_of(topology: &Topology) -> Result<Vec<Vec<PathBuf>>, InternalError> {
    let mut out = Vec::new();
    for set in topology.pools.iter().flat_map(|p| &p.sets) {
        let drives: Option<Vec<PathBuf>> = set
            .drives
            .iter()
            .map(|d| d.as_ref().map(|d| d.path.clone()))
            .collect();
        out.push(drives.ok_or(InternalError::MissingDrive(set.index))?);
    }
    Ok(out)
}

/// Lists every internal item on every set, sorted by set then name.
pub fn discover(sets: &[Vec<PathBuf>]) -> Result<Vec<InternalItem>, InternalError> {
    let mut items = Vec::new();
    for drives in sets {
        let mut lists = Vec::new();
        for root in drives {
            for prefix in ["config/", "buckets/"] {
                lists.push(walk_dir(root, META_BUCKET, prefix).map_err(|source| {
                    InternalError::List {
                        drive: root.clone(),
                        source,
                    }
                })?);
            }
        }
        for name in merge_sorted(lists) {
            if let Some(kind) = ItemKind::classify(&name) {
                items.push(InternalItem {
                    drives: drives.clone(),
                    name,
                    kind,
                });
            }
        }
    }
    Ok(items)
}

/// An item read from its set: every drive's `xl.meta`, the object version
/// (identical on all drives apart from `EcIndex`) and its content.
struct Loaded {
    copies: Vec<Vec<u8>>,
    obj: ObjectV2<'static>,
    layout: ObjectLayout,
    content: Vec<u8>,
}

fn null_index(meta: &XlMeta<'_>) -> Option<usize> {
    meta.versions()
        .iter()
        .position(|v| v.header().version_id == [0; 16])
}

fn load(item: &InternalItem) -> Result<Loaded, InternalError> {
    let object = || item.name.clone();
    let roots: Vec<Option<&Path>> = item.drives.iter().map(|d| Some(d.as_path())).collect();
    let located = locate_version(&roots, META_BUCKET, &item.name, [0; 16]).map_err(|e| {
        InternalError::Read {
            object: object(),
            detail: e.to_string(),
        }
    })?;
    let mut content = Vec::new();
    read_object(&located.layout, &located.locations, &mut content).map_err(|e| {
        InternalError::Read {
            object: object(),
            detail: e.to_string(),
        }
    })?;
    let rel = Path::new(META_BUCKET)
        .join(encode_dir_object(&item.name))
        .join("xl.meta");
    let mut copies = Vec::with_capacity(item.drives.len());
    let mut first: Option<ObjectV2<'static>> = None;
    for root in &item.drives {
        let path = root.join(&rel);
        let bytes = std::fs::read(&path).map_err(|e| InternalError::Inconsistent {
            object: object(),
            detail: format!("{}: {e}", path.display()),
        })?;
        let meta = XlMeta::parse(&bytes).map_err(|source| InternalError::XlMeta {
            object: object(),
            source,
        })?;
        let index = null_index(&meta).ok_or_else(|| InternalError::Inconsistent {
            object: object(),
            detail: format!("{}: no null version", path.display()),
        })?;
        let mut obj = meta
            .object(index)
            .map_err(|source| InternalError::XlMeta {
                object: object(),
                source,
            })?
            .into_owned();
        match &first {
            None => first = Some(obj),
            Some(f) => {
                obj.ec_index = f.ec_index;
                if normalized(obj) != normalized(f.clone()) {
                    return Err(InternalError::Inconsistent {
                        object: object(),
                        detail: format!("{} differs from the first drive", path.display()),
                    });
                }
            }
        }
        drop(meta);
        copies.push(bytes);
    }
    let obj = first.ok_or_else(|| InternalError::Read {
        object: object(),
        detail: "set has no drives".into(),
    })?;
    Ok(Loaded {
        copies,
        obj,
        layout: located.layout,
        content,
    })
}

/// The object with its metadata maps sorted: MinIO encodes Go maps in
/// random order, so copies may list the same entries differently.
fn normalized(mut obj: ObjectV2<'static>) -> ObjectV2<'static> {
    if let Some(m) = obj.meta_sys.as_mut() {
        m.sort();
    }
    if let Some(m) = obj.meta_usr.as_mut() {
        m.sort();
    }
    obj
}

/// Classifies a config blob the way MinIO's readers try it.
fn blob_encoding(data: &[u8]) -> Encoding {
    if std::str::from_utf8(data).is_ok() {
        return Encoding::Plaintext;
    }
    if let Ok(blob) = ConfigBlob::parse(data) {
        return Encoding::Kms {
            key_id: blob.header.key_id.as_str().to_owned(),
        };
    }
    // madmin EncryptData: salt(32) ‖ algorithm id ∈ {0,1,2} ‖ nonce(8) ‖ stream.
    if data.len() > 41 && matches!(data.get(32), Some(0..=2)) {
        return Encoding::RootCredentials;
    }
    Encoding::Unknown
}

fn tier_encoding(item: &InternalItem, obj: &ObjectV2<'_>) -> Result<Encoding, InternalError> {
    let entries = CryptoEntries::from_sys(
        obj.meta_sys
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_bytes(), v)),
    );
    match entries.classify() {
        Classification::Plaintext => Ok(Encoding::Plaintext),
        Classification::SseS3(p) | Classification::SseKms(p) => match &p.kms {
            Some(k) => Ok(Encoding::Kms {
                key_id: k.key_id.as_str().to_owned(),
            }),
            None => Err(crypto(item, SseError::NoKmsKey)),
        },
        _ => Ok(Encoding::Unknown),
    }
}

fn targets_encoding(item: &InternalItem, content: &[u8]) -> Result<Encoding, InternalError> {
    let doc = BucketMetadataDoc::parse(content).map_err(|e| format_err(item, e))?;
    if !doc.targets_meta().is_empty() {
        let parsed = parse_bucket_targets_meta(doc.targets_meta()).map_err(|e| crypto(item, e))?;
        let key = parsed.kms.ok_or_else(|| crypto(item, SseError::NoKmsKey))?;
        return Ok(Encoding::Kms {
            key_id: key.key_id.as_str().to_owned(),
        });
    }
    if doc.targets().is_empty() {
        Ok(Encoding::NothingEncrypted)
    } else if std::str::from_utf8(doc.targets()).is_ok() {
        Ok(Encoding::Plaintext)
    } else {
        Ok(Encoding::Unknown)
    }
}

fn encoding_of(item: &InternalItem, loaded: &Loaded) -> Result<Encoding, InternalError> {
    match &item.kind {
        ItemKind::TierConfig => tier_encoding(item, &loaded.obj),
        ItemKind::BucketMetadata { .. } => targets_encoding(item, &loaded.content),
        _ => Ok(blob_encoding(&loaded.content)),
    }
}

fn crypto(item: &InternalItem, source: SseError) -> InternalError {
    InternalError::Crypto {
        object: item.name.clone(),
        source,
    }
}

fn format_err(item: &InternalItem, e: impl std::fmt::Display) -> InternalError {
    InternalError::Format {
        object: item.name.clone(),
        detail: e.to_string(),
    }
}

fn xl_err(item: &InternalItem) -> impl Fn(xlmeta::Error) -> InternalError + '_ {
    move |source| InternalError::XlMeta {
        object: item.name.clone(),
        source,
    }
}

/// What a run would do to one item (for `plan`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SurveyEntry {
    pub name: String,
    pub kind: ItemKind,
    pub encoding: Encoding,
    pub action: Action,
}

/// Reads every item and says what a run would do, without KMS calls.
/// Items that cannot be read are listed with [`Action::Fail`] and the error.
pub fn survey(
    sets: &[Vec<PathBuf>],
) -> Result<Vec<(SurveyEntry, Option<InternalError>)>, InternalError> {
    let mut out = Vec::new();
    for item in discover(sets)? {
        let found = load(&item).and_then(|l| encoding_of(&item, &l));
        let entry = |encoding: Encoding| SurveyEntry {
            name: item.name.clone(),
            kind: item.kind.clone(),
            action: Action::for_encoding(&item.kind, &encoding),
            encoding,
        };
        out.push(match found {
            Ok(enc) => (entry(enc), None),
            Err(e) => (entry(Encoding::Unknown), Some(e)),
        });
    }
    Ok(out)
}

/// Every item encrypted under a KMS key, with the key's name (the key
/// proof tries them). Items that cannot be read are left out: the run
/// reports them as failed.
pub fn sealed(sets: &[Vec<PathBuf>]) -> Result<Vec<(InternalItem, String)>, InternalError> {
    let mut out = Vec::new();
    for item in discover(sets)? {
        if let Ok(Encoding::Kms { key_id }) = load(&item).and_then(|l| encoding_of(&item, &l)) {
            out.push((item, key_id));
        }
    }
    Ok(out)
}

/// The result of preparing one item.
#[derive(Debug)]
pub struct Prepared {
    pub name: String,
    pub kind: ItemKind,
    pub action: Action,
    /// The key the item was encrypted under (`None` when plaintext).
    pub old_key: Option<String>,
    /// The change to commit (`Rotate` and `Encrypt` only).
    pub plan: Option<CommitPlan>,
}

/// Preparation of every internal item of a deployment.
#[derive(Debug, Default)]
pub struct PreparedRun {
    pub items: Vec<Prepared>,
    pub failed: Vec<InternalError>,
}

impl PreparedRun {
    /// The plans to commit, in item order.
    pub fn plans(&self) -> impl Iterator<Item = &CommitPlan> {
        self.items.iter().filter_map(|p| p.plan.as_ref())
    }

    /// `internal{rotated, failed, skipped}` once every plan is committed;
    /// the pipeline adds commit failures to `failed` and takes them out of
    /// `rotated`.
    pub fn counters(&self) -> InternalCounters {
        let mut c = InternalCounters {
            failed: self.failed.len() as u64,
            ..Default::default()
        };
        for p in &self.items {
            match p.action {
                Action::Rotate | Action::Encrypt => c.rotated += 1,
                Action::LeaveRootCredentials => c.skipped += 1,
                Action::Fail => c.failed += 1,
                Action::Leave => {}
            }
        }
        c
    }

    /// [`PreparedRun::counters`] after the commit, when `failed_plans` of
    /// the plans could not be committed (conflict or I/O).
    pub fn counters_after_commit(&self, failed_plans: u64) -> InternalCounters {
        let mut c = self.counters();
        let failed = failed_plans.min(c.rotated);
        c.rotated -= failed;
        c.failed += failed;
        c
    }
}

/// Whether a job with effective target key `target` re-encrypts internal
/// data (JOB.md §14: only when it is the cluster's default key).
pub fn applies(kms: &dyn Kms, target: &KeyId) -> bool {
    target.as_str().is_empty() || target == kms.default_key()
}

/// The pipeline's hook, once per job: `None` (nothing read, nothing
/// written) unless the job's effective target is the default key; an empty
/// target means the default key.
pub fn prepare_for_job(
    sets: &[Vec<PathBuf>],
    kms: &dyn Kms,
    target: &KeyId,
    rng: &mut dyn RandomSource,
) -> Result<Option<PreparedRun>, InternalError> {
    if !applies(kms, target) {
        return Ok(None);
    }
    let target = if target.as_str().is_empty() {
        kms.default_key()
    } else {
        target
    };
    prepare_all(sets, kms, target, rng).map(Some)
}

/// The pipeline hook: prepares every internal item under the KMS default
/// key (the pipeline calls it only when that is the job's target).
pub fn hook_work(sets: &[Vec<PathBuf>], kms: &dyn Kms, rng: &mut dyn RandomSource) -> InternalWork {
    let target = kms.default_key().clone();
    let run = match prepare_all(sets, kms, &target, rng) {
        Ok(run) => run,
        Err(e) => {
            return InternalWork {
                failed: vec![e.to_string()],
                ..InternalWork::default()
            }
        }
    };
    let skipped = run.counters().skipped;
    let mut failed: Vec<String> = run.failed.iter().map(ToString::to_string).collect();
    failed.extend(
        run.items
            .iter()
            .filter(|p| p.action == Action::Fail)
            .map(|p| format!(".minio.sys/{}: not in any format MinIO reads", p.name)),
    );
    InternalWork {
        plans: run.items.into_iter().filter_map(|p| p.plan).collect(),
        skipped,
        failed,
    }
}

/// Prepares every internal item of `sets` for re-encryption under `target`.
/// One item's failure does not stop the others.
pub fn prepare_all(
    sets: &[Vec<PathBuf>],
    kms: &dyn Kms,
    target: &KeyId,
    rng: &mut dyn RandomSource,
) -> Result<PreparedRun, InternalError> {
    let mut run = PreparedRun::default();
    for item in discover(sets)? {
        match prepare(&item, kms, target, rng) {
            Ok(p) => run.items.push(p),
            Err(e) => run.failed.push(e),
        }
    }
    Ok(run)
}

/// Reads one item, re-encrypts it (KMS decrypt with MinIO's context and
/// fallback, generate under `target`) and builds its [`CommitPlan`].
pub fn prepare(
    item: &InternalItem,
    kms: &dyn Kms,
    target: &KeyId,
    rng: &mut dyn RandomSource,
) -> Result<Prepared, InternalError> {
    let loaded = load(item)?;
    let encoding = encoding_of(item, &loaded)?;
    let action = Action::for_encoding(&item.kind, &encoding);
    let old_key = match &encoding {
        Encoding::Kms { key_id } => Some(key_id.clone()),
        _ => None,
    };
    let mut prepared = Prepared {
        name: item.name.clone(),
        kind: item.kind.clone(),
        action,
        old_key: old_key.clone(),
        plan: None,
    };
    if !matches!(action, Action::Rotate | Action::Encrypt) {
        return Ok(prepared);
    }
    let new = match &item.kind {
        ItemKind::TierConfig => tier_change(item, &loaded, kms, target, rng)?,
        ItemKind::BucketMetadata { bucket } => {
            let content = new_bucket_metadata(item, bucket, &loaded, kms, target, rng)?;
            NewVersion::content(content)
        }
        _ => {
            let plaintext = match action {
                Action::Rotate => decrypt_config_with_kms(kms, &item.name, &loaded.content)
                    .map_err(|e| crypto(item, e))?,
                _ => SecretBytes::new(loaded.content.clone()),
            };
            let content = encrypt_config_with_kms(kms, target, &item.name, plaintext.expose(), rng)
                .map_err(|e| crypto(item, e))?;
            NewVersion::content(content)
        }
    };
    let (per_drive, remove_data_dirs) = new.per_drive(item, &loaded, rng)?;
    let sizes = VersionSizes {
        stored: new.content.as_ref().map_or(loaded.content.len(), Vec::len) as u64,
        actual: new.actual_size.unwrap_or(loaded.content.len() as u64),
    };
    prepared.plan = Some(CommitPlan {
        drives: item.drives.clone(),
        object_dir: Path::new(META_BUCKET).join(encode_dir_object(&item.name)),
        per_drive,
        remove_data_dirs,
        versions: vec![VersionChange {
            bucket: META_BUCKET.into(),
            object: item.name.clone(),
            version_id: String::new(),
            outcome: Outcome::Done(match action {
                Action::Encrypt => ActionKind::Encrypt,
                _ => ActionKind::Rotate,
            }),
            sizes,
            old_key,
            new_key: Some(new.key_id),
            tries: 1,
            error: None,
            plaintext: None,
            depends_on: Vec::new(),
        }],
    });
    Ok(prepared)
}

/// The new state of an item's version.
struct NewVersion {
    /// New stored bytes (`None`: data unchanged, metadata-only change).
    content: Option<Vec<u8>>,
    /// MetaSys/MetaUsr edits.
    changes: Changes,
    /// New plaintext size when it differs from the stored size.
    actual_size: Option<u64>,
    key_id: String,
}

impl NewVersion {
    fn content(content: Vec<u8>) -> Self {
        Self {
            content: Some(content),
            changes: Changes::default(),
            actual_size: None,
            key_id: String::new(),
        }
    }

    /// Every drive's new `xl.meta`: the version edited in place (same
    /// version id and mod time). New content stays inline when it was and
    /// still fits MinIO's inline limit; otherwise it goes to a new data dir,
    /// written and fsynced under `.minio.sys/tmp/` now and moved in by the
    /// commit. Returns the changes and the old data dirs to remove.
    fn per_drive(
        &self,
        item: &InternalItem,
        loaded: &Loaded,
        rng: &mut dyn RandomSource,
    ) -> Result<(Vec<DriveChange>, Vec<String>), InternalError> {
        let erasure = &loaded.layout.erasure;
        let shards = match &self.content {
            Some(c) => Some(encode_part(erasure, c).map_err(|e| format_err(item, e))?),
            None => None,
        };
        let was_inline = loaded.obj.is_inline();
        let inline = match &self.content {
            Some(c) => was_inline && erasure.shard_file_size(c.len() as u64) <= INLINE_LIMIT,
            None => was_inline,
        };
        // A new data dir only when the content moves out of xl.meta or
        // replaces an old data dir.
        let new_dir = match (&self.content, inline) {
            (Some(_), false) => {
                let b: [u8; 16] = crate::sse::rand::array(rng).map_err(|e| crypto(item, e))?;
                Some(uuid::Builder::from_random_bytes(b).into_uuid())
            }
            _ => None,
        };
        let staging = match new_dir {
            Some(_) => {
                let b: [u8; 16] = crate::sse::rand::array(rng).map_err(|e| crypto(item, e))?;
                Some(uuid::Builder::from_random_bytes(b).into_uuid())
            }
            None => None,
        };
        let remove = match (new_dir, was_inline) {
            (Some(_), false) => vec![xlmeta::uuid::format_uuid(&loaded.obj.data_dir)],
            _ => Vec::new(),
        };
        let etag = self.content.as_ref().map(|c| hex::encode(Md5::digest(c)));
        let mut out = Vec::with_capacity(loaded.copies.len());
        for (root, raw) in item.drives.iter().zip(&loaded.copies) {
            let mut meta = XlMeta::parse(raw).map_err(xl_err(item))?;
            let index = null_index(&meta).ok_or_else(|| InternalError::Inconsistent {
                object: item.name.clone(),
                detail: "null version vanished".into(),
            })?;
            let mut shard_number = 0i64;
            meta.edit_object(index, |o| {
                shard_number = o.ec_index;
                if let Some(c) = &self.content {
                    let len = c.len() as i64;
                    o.size = len;
                    o.part_sizes = vec![len];
                    let actual = self.actual_size.map_or(len, |a| a as i64);
                    if o.part_actual_sizes.is_some() || self.actual_size.is_some() {
                        o.part_actual_sizes = Some(vec![actual]);
                    }
                }
                if let Some(dir) = new_dir {
                    o.data_dir = *dir.as_bytes();
                    o.remove_meta_sys(META_INLINE_DATA);
                }
                if let Some(etag) = &etag {
                    o.set_meta_usr("etag", etag);
                }
                for k in &self.changes.sys_remove {
                    o.remove_meta_sys(k);
                }
                for (k, v) in &self.changes.sys_set {
                    o.set_meta_sys(k, v);
                }
                for (k, v) in &self.changes.usr_set {
                    o.set_meta_usr(k, v);
                }
                Ok(())
            })
            .map_err(xl_err(item))?;
            let shard = match &shards {
                Some(shards) => Some(
                    usize::try_from(shard_number)
                        .ok()
                        .and_then(|k| k.checked_sub(1))
                        .and_then(|k| shards.get(k))
                        .ok_or_else(|| format_err(item, format!("EcIndex {shard_number}")))?,
                ),
                None => None,
            };
            let mut staged = None;
            match (shard, new_dir, staging) {
                (Some(shard), None, _) => meta
                    .set_version_inline_data(index, Some(shard.clone()))
                    .map_err(xl_err(item))?,
                (Some(shard), Some(dir), Some(tmp)) => {
                    if was_inline {
                        meta.set_version_inline_data(index, None)
                            .map_err(xl_err(item))?;
                    }
                    staged = Some(stage_part(item, root, tmp, dir, shard)?);
                }
                _ => {}
            }
            out.push(DriveChange {
                expect_old: xxh64(raw, 0),
                new_xlmeta: meta.encode().map_err(xl_err(item))?,
                staged_data_dir: staged,
            });
        }
        Ok((out, remove))
    }
}

/// Writes one drive's `part.1` under `.minio.sys/tmp/keyrotate-<tmp>/<dir>/`
/// and makes it durable (file and both directories fsynced). The
/// `keyrotate-` prefix marks it as ours: a resume removes what a crash left
/// there before the intent naming it was journaled.
fn stage_part(
    item: &InternalItem,
    root: &Path,
    tmp: uuid::Uuid,
    dir: uuid::Uuid,
    shard: &[u8],
) -> Result<StagedDataDir, InternalError> {
    use std::io::Write as _;
    let rel = Path::new(META_BUCKET)
        .join("tmp")
        .join(format!("keyrotate-{tmp}"))
        .join(dir.to_string());
    let abs = root.join(&rel);
    let io = |e: std::io::Error| InternalError::Read {
        object: item.name.clone(),
        detail: format!("staging {}: {e}", abs.display()),
    };
    std::fs::create_dir_all(&abs).map_err(io)?;
    let mut f = std::fs::File::create(abs.join("part.1")).map_err(io)?;
    f.write_all(shard).map_err(io)?;
    f.sync_all().map_err(io)?;
    // The new entries: part.1, <dir>, <tmp> in `.minio.sys/tmp`.
    for d in abs.ancestors().take(3) {
        std::fs::File::open(d)
            .and_then(|f| f.sync_all())
            .map_err(io)?;
    }
    // Durable; no intent names it yet.
    crate::crashpoint::crash_point("internal.staged");
    Ok(StagedDataDir {
        staged_at: rel,
        name: dir.to_string(),
    })
}

/// Tier config: re-wrap the SSE-S3 sealed key under a DEK of `target`
/// (metadata only), or turn a plaintext tier config into an SSE-S3 object.
fn tier_change(
    item: &InternalItem,
    loaded: &Loaded,
    kms: &dyn Kms,
    target: &KeyId,
    rng: &mut dyn RandomSource,
) -> Result<NewVersion, InternalError> {
    let err = |e: SseError| crypto(item, e);
    let entries = CryptoEntries::from_sys(
        loaded
            .obj
            .meta_sys
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_bytes(), v)),
    );
    let gen = kms_generate_request(target, None, META_BUCKET, &item.name);
    match entries.classify() {
        Classification::SseS3(parsed) => {
            let req = parsed
                .unwrap_request(META_BUCKET, &item.name)
                .map_err(err)?;
            let old = kms
                .decrypt(&req.key_id, &req.ciphertext, &req.context)
                .map_err(|e| err(e.into()))?;
            let new = kms
                .generate_key(&gen.key_id, &gen.context)
                .map_err(|e| err(e.into()))?;
            let changes =
                reseal_s3(&parsed, META_BUCKET, &item.name, &old, &new, rng).map_err(err)?;
            Ok(NewVersion {
                content: None,
                changes,
                actual_size: None,
                key_id: new.key_id.as_str().to_owned(),
            })
        }
        Classification::Plaintext => {
            let new = kms
                .generate_key(&gen.key_id, &gen.context)
                .map_err(|e| err(e.into()))?;
            let oek = ObjectKey::generate(&new.plaintext, rng).map_err(err)?;
            let iv = Iv::generate(rng).map_err(err)?;
            let sealed = oek
                .seal(
                    &new.plaintext,
                    iv,
                    SseType::S3.domain(),
                    META_BUCKET,
                    &item.name,
                    rng,
                )
                .map_err(err)?;
            let random: [u8; 12] = crate::sse::rand::array(rng).map_err(err)?;
            let data = dare::encrypt(
                oek.data_key(),
                dare::CipherSuite::Aes256Gcm,
                random,
                &loaded.content,
            )
            .map_err(|e| err(e.into()))?;
            let mut changes = Changes::default();
            for (k, v) in sealed_key_entries(
                SseType::S3,
                &sealed,
                Some((&new.key_id, &new.ciphertext)),
                None,
            )
            .map_err(err)?
            {
                changes.set_sys(k, v);
            }
            changes.set_sys(META_ACTUAL_SIZE, loaded.content.len().to_string());
            // The stored etag stays the plaintext MD5 MinIO computed at PUT
            // (a 32-char etag is served as is for any SSE type).
            let etag = loaded.obj.meta_usr("etag").unwrap_or_default().to_owned();
            changes.set_usr("etag", etag);
            Ok(NewVersion {
                content: Some(data),
                changes,
                actual_size: Some(loaded.content.len() as u64),
                key_id: new.key_id.as_str().to_owned(),
            })
        }
        _ => Err(format_err(
            item,
            "tier config is neither SSE-S3 nor plaintext",
        )),
    }
}

/// `.metadata.bin` with the bucket targets under a new DEK/OEK/IV.
fn new_bucket_metadata(
    item: &InternalItem,
    bucket: &str,
    loaded: &Loaded,
    kms: &dyn Kms,
    target: &KeyId,
    rng: &mut dyn RandomSource,
) -> Result<Vec<u8>, InternalError> {
    let doc = BucketMetadataDoc::parse(&loaded.content).map_err(|e| format_err(item, e))?;
    let plaintext = decrypt_targets(item, bucket, &doc, kms)?;
    let ctx = bucket_targets_context(bucket);
    let dek = kms
        .generate_key(target, &ctx)
        .map_err(|e| crypto(item, e.into()))?;
    let enc = encrypt_bucket_targets(bucket, &dek, plaintext.expose(), rng)
        .map_err(|e| crypto(item, e))?;
    let out = doc
        .with_targets(&enc.data, &enc.meta_json)
        .map_err(|e| format_err(item, e))?;
    // Self-check: the new document decrypts to the same targets.
    let check = BucketMetadataDoc::parse(&out).map_err(|e| format_err(item, e))?;
    if decrypt_targets(item, bucket, &check, kms)? != plaintext || !doc.same_except_targets(&check)
    {
        return Err(format_err(
            item,
            "re-encrypted bucket targets do not verify",
        ));
    }
    Ok(out)
}

fn decrypt_targets(
    item: &InternalItem,
    bucket: &str,
    doc: &BucketMetadataDoc<'_>,
    kms: &dyn Kms,
) -> Result<SecretBytes, InternalError> {
    if doc.targets_meta().is_empty() {
        return Ok(SecretBytes::new(doc.targets().to_vec()));
    }
    let meta = parse_bucket_targets_meta(doc.targets_meta()).map_err(|e| crypto(item, e))?;
    let key = meta
        .kms
        .as_ref()
        .ok_or_else(|| crypto(item, SseError::NoKmsKey))?;
    let dek = kms
        .decrypt(
            &key.key_id,
            &key.ciphertext,
            &bucket_targets_context(bucket),
        )
        .map_err(|e| crypto(item, e.into()))?;
    decrypt_bucket_targets(bucket, &meta, &dek, doc.targets()).map_err(|e| crypto(item, e))
}

/// An item read back through the KMS. Its plaintext holds credentials:
/// zeroized on drop and never printed.
pub struct Decrypted {
    pub name: String,
    pub kind: ItemKind,
    pub encoding: Encoding,
    /// The plaintext MinIO would load (config JSON, tier config bytes, bucket
    /// targets JSON; the whole document for bucket metadata without targets).
    /// `None` for root-credential items.
    pub plaintext: Option<SecretBytes>,
    /// The stored object content (for bucket metadata: the whole document).
    pub stored: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decrypted")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("encoding", &self.encoding)
            .field(
                "plaintext_len",
                &self.plaintext.as_ref().map(|p| p.expose().len()),
            )
            .field("stored_len", &self.stored.len())
            .finish()
    }
}

/// Reads one item and decrypts it as MinIO would.
pub fn decrypt_item(item: &InternalItem, kms: &dyn Kms) -> Result<Decrypted, InternalError> {
    let loaded = load(item)?;
    let encoding = encoding_of(item, &loaded)?;
    let plaintext = match (&item.kind, &encoding) {
        (_, Encoding::RootCredentials | Encoding::Unknown) => None,
        (ItemKind::BucketMetadata { bucket }, _) => {
            let doc = BucketMetadataDoc::parse(&loaded.content).map_err(|e| format_err(item, e))?;
            Some(decrypt_targets(item, bucket, &doc, kms)?)
        }
        (ItemKind::TierConfig, Encoding::Kms { .. }) => {
            let entries = CryptoEntries::from_sys(
                loaded
                    .obj
                    .meta_sys
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.as_bytes(), v)),
            );
            let parsed = entries.parse(SseType::S3).map_err(|e| crypto(item, e))?;
            let req = parsed
                .unwrap_request(META_BUCKET, &item.name)
                .map_err(|e| crypto(item, e))?;
            let dek = kms
                .decrypt(&req.key_id, &req.ciphertext, &req.context)
                .map_err(|e| crypto(item, e.into()))?;
            let oek = parsed
                .unseal(&dek, META_BUCKET, &item.name)
                .map_err(|e| crypto(item, e))?;
            Some(SecretBytes::new(
                dare::decrypt(oek.data_key(), &loaded.content)
                    .map_err(|e| crypto(item, e.into()))?,
            ))
        }
        (_, Encoding::Kms { .. }) => Some(
            decrypt_config_with_kms(kms, &item.name, &loaded.content)
                .map_err(|e| crypto(item, e))?,
        ),
        (_, Encoding::Plaintext | Encoding::NothingEncrypted) => {
            Some(SecretBytes::new(loaded.content.clone()))
        }
    };
    Ok(Decrypted {
        name: item.name.clone(),
        kind: item.kind.clone(),
        encoding,
        plaintext,
        stored: Zeroizing::new(loaded.content),
    })
}

/// `verify` for internal data: every item decrypts with the KMS, and (when
/// `expect_key` is given) every KMS-encrypted item is under that key and no
/// item that MinIO would encrypt is left plaintext. Returns one problem per
/// failing item; root-credential items are not problems.
pub fn verify(
    sets: &[Vec<PathBuf>],
    kms: &dyn Kms,
    expect_key: Option<&KeyId>,
) -> Result<Vec<InternalError>, InternalError> {
    let mut problems = Vec::new();
    for item in discover(sets)? {
        match decrypt_item(&item, kms) {
            Err(e) => problems.push(e),
            Ok(d) => {
                let detail = match (&d.encoding, expect_key) {
                    (Encoding::Kms { key_id }, Some(k)) if key_id != k.as_str() => Some(format!(
                        "encrypted under {key_id:?}, expected {:?}",
                        k.as_str()
                    )),
                    (Encoding::Plaintext, Some(_)) if item.kind.minio_encrypts() => {
                        Some("still plaintext".to_owned())
                    }
                    (Encoding::Unknown, _) => Some("not in any format MinIO reads".to_owned()),
                    _ => None,
                };
                if let Some(detail) = detail {
                    problems.push(InternalError::Format {
                        object: item.name.clone(),
                        detail,
                    });
                }
            }
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_meta_bucket_paths() {
        let k = |n: &str| ItemKind::classify(n);
        assert_eq!(k("config/config.json"), Some(ItemKind::ServerConfig));
        assert_eq!(k("config/history/3f1c.kv"), Some(ItemKind::ConfigHistory));
        assert_eq!(k("config/iam/format.json"), Some(ItemKind::IamFormat));
        for iam in [
            "config/iam/users/alice/identity.json",
            "config/iam/service-accounts/svc1/identity.json",
            "config/iam/sts/AK/identity.json",
            "config/iam/groups/g/members.json",
            "config/iam/policies/readwrite/policy.json",
            "config/iam/policydb/users/alice.json",
            "config/iam/policydb/sts-users/x.json",
            "config/iam/policydb/service-accounts/svc1.json",
            "config/iam/policydb/groups/g.json",
        ] {
            assert_eq!(k(iam), Some(ItemKind::Iam), "{iam}");
        }
        assert_eq!(k("config/tier-config.bin"), Some(ItemKind::TierConfig));
        assert_eq!(
            k("buckets/photos/.metadata.bin"),
            Some(ItemKind::BucketMetadata {
                bucket: "photos".into()
            })
        );
        for other in [
            "buckets/.usage.json",
            "buckets/photos/.metacache/x",
            "buckets/.replication/mrf/x",
            "config/iam/users/alice/policy.json",
            "config/history/x.json",
            "pool.bin",
            "config/iam/policydb/users/alice.txt",
        ] {
            assert_eq!(k(other), None, "{other}");
        }
        assert!(!ItemKind::IamFormat.minio_encrypts());
        assert!(ItemKind::Iam.minio_encrypts());
    }

    #[test]
    fn counters_and_plan_listing_shape() {
        let p = |action| Prepared {
            name: "config/config.json".into(),
            kind: ItemKind::ServerConfig,
            action,
            old_key: None,
            plan: None,
        };
        let run = PreparedRun {
            items: vec![
                p(Action::Rotate),
                p(Action::Encrypt),
                p(Action::LeaveRootCredentials),
                p(Action::Leave),
                p(Action::Fail),
            ],
            failed: vec![InternalError::MissingDrive(0)],
        };
        let c = run.counters();
        assert_eq!((c.rotated, c.failed, c.skipped), (2, 2, 1));
        let c = run.counters_after_commit(1);
        assert_eq!((c.rotated, c.failed, c.skipped), (1, 3, 1));
        let c = run.counters_after_commit(9);
        assert_eq!((c.rotated, c.failed), (0, 4));
        let entry = SurveyEntry {
            name: "buckets/b/.metadata.bin".into(),
            kind: ItemKind::BucketMetadata { bucket: "b".into() },
            encoding: Encoding::Kms { key_id: "k".into() },
            action: Action::Rotate,
        };
        assert_eq!(
            serde_json::to_string(&entry).unwrap(),
            r#"{"name":"buckets/b/.metadata.bin","kind":{"bucketMetadata":{"bucket":"b"}},"encoding":{"kms":{"keyId":"k"}},"action":"rotate"}"#
        );
    }

    #[test]
    fn classifies_blob_encodings_in_minio_order() {
        assert_eq!(blob_encoding(b"{\"version\":1}"), Encoding::Plaintext);
        assert_eq!(blob_encoding(b""), Encoding::Plaintext);
        let mut madmin = vec![0xffu8; 32];
        madmin.push(1);
        madmin.extend_from_slice(&[0xfe; 40]);
        assert_eq!(blob_encoding(&madmin), Encoding::RootCredentials);
        madmin[32] = 3;
        assert_eq!(blob_encoding(&madmin), Encoding::Unknown);
        let json =
            br#"{"keyid":"k","kmskey":"AAAA","algorithm":"AES-256-GCM","nonce":"AAAAAAAAAAA="}"#;
        let mut kms = vec![1u8];
        kms.extend_from_slice(&(json.len() as u32).to_le_bytes());
        kms.extend_from_slice(json);
        kms.extend_from_slice(&[0xff; 16]);
        assert_eq!(blob_encoding(&kms), Encoding::Kms { key_id: "k".into() });
    }
}
