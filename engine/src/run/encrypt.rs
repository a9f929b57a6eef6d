//! The `encrypt` action's data path (CRYPTO.md §8c, ONDISK §5.8, §7–§10):
//! a plaintext object version becomes SSE-KMS exactly as MinIO's PUT would
//! have written it, and the result is a [`CommitPlan`] for the run pipeline.
//!
//! ```text
//!  drives ──read_at──▶ reader thread ──pieces──▶ DARE layout + seal (rayon) ──▶ RS + bitrot frames (rayon) ──▶ writer per drive
//!          (verify HighwayHash, reconstruct)    per-part keys                                                 new dataDir in .minio.sys/tmp/keyrotate-<uuid>/
//! ```
//!
//! * Reading verifies every chunk before use and reconstructs from parity
//!   per block; more than `P` bad shards in a block is [`EncryptError::Corrupt`]
//!   and nothing stays behind (the staging directory is removed).
//! * Memory is bounded: a few erasure blocks per stage are in flight
//!   ([`BATCH_BYTES`]), whatever the object size, in recycled buffers.
//! * Each byte is copied as little as the formats allow: verified plaintext
//!   goes from the read buffers straight into its DARE package slot and is
//!   sealed in place (`DareLayout`); ciphertext is copied once into its
//!   shard's bitrot frame, next to which parity and hashes are computed
//!   ([`Erasure::encode_framed_into`]).
//! * Reads go through each drive's [`DriveIo`] worker (io_uring); part files
//!   are written and fsynced by one writer thread per drive and object, so
//!   a slow fsync never holds up the reads queued on the worker. AES-GCM
//!   (`ring`), Reed-Solomon and HighwayHash run on the rayon pool.
//! * Data lands in a fresh dataDir staged under `.minio.sys/tmp` (files and
//!   directories fsynced), or in each drive's inline section when MinIO's
//!   inline rule says so (ONDISK §9.1, decided on the plaintext size).
//! * Every drive gets its own `xl.meta` with only the version edited; the
//!   old dataDir is listed for removal only when no other version uses it.
//! * A compressed version is encrypted as MinIO stores a compressed SSE
//!   object (CRYPTO.md §4.6): each part's stored S2 stream as it is (never
//!   decompressed), `PartASizes` and the actual size kept, each part's
//!   compression index sealed under the compression-index key. MinIO's GET
//!   decides "compressed" and "encrypted" from the version's metadata alone,
//!   whatever its compression settings, decrypts first and then decompresses,
//!   and seeks through a sealed index by DARE package.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use kms_client::{Context, DataKey};
use rayon::prelude::*;
use xlmeta::meta::META_INLINE_DATA;
use xlmeta::uuid::format_uuid;
use xlmeta::{ObjectV2, VersionType, XlMeta};

use super::plan::{CommitPlan, DriveChange, StagedDataDir, VersionChange};
use super::summary::{ActionKind, Outcome, SkipReason, VersionSizes};
use crate::crashpoint::crash_point;
use crate::drives::io::{DriveIo, DriveIoError, STAGING_DIR};
use crate::drives::walk::encode_dir_object;
use crate::erasure::bitrot::{self, HASH_LEN};
use crate::erasure::{Erasure, ErasureError};
use crate::sse::dare::{self, CipherSuite, Encryptor, MAX_PACKAGE, MAX_PAYLOAD};
use crate::sse::metadata::{CryptoEntries, META_ACTUAL_SIZE, META_CRC, USR_ETAG};
use crate::sse::rand::RandomSource;
use crate::sse::rotate::{encrypt_plaintext, NewEncryption};
use crate::sse::{Classification, SecretKey, SseError};

/// MinIO's default `inline_block` (ONDISK §9.1).
pub const INLINE_BLOCK: u64 = 128 * 1024;

/// Target plaintext bytes per pipeline stage (rounded to whole erasure blocks).
pub const BATCH_BYTES: u64 = 4 << 20;

/// Data rewrites in flight at once: enough to overlap one object's fsyncs
/// with another's CPU work, few enough that memory stays bounded whatever
/// the pipeline's KMS concurrency (each rewrite holds a few batches).
pub fn rewrite_slots() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get() + 1)
        .clamp(2, 4)
}

/// A counting semaphore for [`rewrite_slots`].
struct Slots {
    free: std::sync::Mutex<usize>,
    cv: std::sync::Condvar,
}

impl Slots {
    fn acquire(&self) -> Result<SlotGuard<'_>, ()> {
        let mut free = self.free.lock().map_err(|_| ())?;
        while *free == 0 {
            free = self.cv.wait(free).map_err(|_| ())?;
        }
        *free -= 1;
        Ok(SlotGuard(self))
    }
}

struct SlotGuard<'a>(&'a Slots);

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut free) = self.0.free.lock() {
            *free += 1;
        }
        self.0.cv.notify_one();
    }
}

/// MetaSys key MinIO sets on compressed objects.
const META_COMPRESSION: &str = "X-Minio-Internal-compression";

/// MinIO's inline threshold `T` for a bucket (`T/8` once versioning is
/// enabled or suspended... MinIO uses the versioned flag of the write).
pub fn inline_threshold(versioned: bool, inline_block: u64) -> u64 {
    if versioned {
        inline_block / 8
    } else {
        inline_block
    }
}

/// Whether versioning is enabled on `bucket`, from its
/// `.minio.sys/buckets/<bucket>/.metadata.bin` (ONDISK §1.4) read on the
/// set's drives: MinIO's PUT inlines against `T/8` then. A bucket without
/// the file is unversioned (MinIO's default).
pub fn bucket_versioned(roots: &[&Path], bucket: &str) -> Result<bool, String> {
    let drives: Vec<Option<&Path>> = roots.iter().map(|r| Some(*r)).collect();
    let name = format!("buckets/{bucket}/.metadata.bin");
    let v = match crate::erasure::set::locate_version(&drives, ".minio.sys", &name, [0; 16]) {
        Ok(v) => v,
        Err(crate::erasure::set::LocateError::NotFound { .. }) => return Ok(false),
        Err(e) => return Err(e.to_string()),
    };
    let mut bytes = Vec::new();
    crate::erasure::stream::read_object(&v.layout, &v.locations, &mut bytes)
        .map_err(|e| format!("{name}: {e}"))?;
    let xml = versioning_xml(&bytes).ok_or_else(|| format!("{name}: not a BucketMetadata"))?;
    Ok(xml
        .windows(b"<Status>Enabled</Status>".len())
        .any(|w| w == b"<Status>Enabled</Status>"))
}

/// `VersioningConfigXML` of a `.metadata.bin` (4-byte header, msgpack map).
fn versioning_xml(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut rd = bytes.get(4..)?;
    let len = rmp::decode::read_map_len(&mut rd).ok()?;
    for _ in 0..len {
        let klen = rmp::decode::read_str_len(&mut rd).ok()? as usize;
        let key = rd.get(..klen)?;
        rd = rd.get(klen..)?;
        if key == b"VersioningConfigXML" {
            let n = rmp::decode::read_bin_len(&mut rd).ok()? as usize;
            return Some(rd.get(..n)?.to_vec());
        }
        skip_value(&mut rd, 0)?;
    }
    Some(Vec::new())
}

/// Skips one msgpack value (nesting bounded).
fn skip_value(rd: &mut &[u8], depth: usize) -> Option<()> {
    use rmp::Marker as M;
    if depth > 16 {
        return None;
    }
    let marker = rmp::decode::read_marker(rd).ok()?;
    match marker {
        M::Null | M::True | M::False | M::FixPos(_) | M::FixNeg(_) => Some(()),
        M::U8 | M::I8 => take(rd, 1),
        M::U16 | M::I16 => take(rd, 2),
        M::U32 | M::I32 | M::F32 => take(rd, 4),
        M::U64 | M::I64 | M::F64 => take(rd, 8),
        M::FixStr(n) => take(rd, usize::from(n)),
        M::Str8 | M::Bin8 => {
            let n = be(rd, 1)?;
            take(rd, n)
        }
        M::Str16 | M::Bin16 => {
            let n = be(rd, 2)?;
            take(rd, n)
        }
        M::Str32 | M::Bin32 => {
            let n = be(rd, 4)?;
            take(rd, n)
        }
        M::FixExt1 => take(rd, 2),
        M::FixExt2 => take(rd, 3),
        M::FixExt4 => take(rd, 5),
        M::FixExt8 => take(rd, 9),
        M::FixExt16 => take(rd, 17),
        M::Ext8 => {
            let n = be(rd, 1)?;
            take(rd, n + 1)
        }
        M::Ext16 => {
            let n = be(rd, 2)?;
            take(rd, n + 1)
        }
        M::Ext32 => {
            let n = be(rd, 4)?;
            take(rd, n + 1)
        }
        M::FixArray(n) => (0..n).try_for_each(|_| skip_value(rd, depth + 1)),
        M::Array16 | M::Array32 => {
            let n = be(rd, if marker == M::Array16 { 2 } else { 4 })?;
            (0..n).try_for_each(|_| skip_value(rd, depth + 1))
        }
        M::FixMap(n) => (0..usize::from(n) * 2).try_for_each(|_| skip_value(rd, depth + 1)),
        M::Map16 | M::Map32 => {
            let n = be(rd, if marker == M::Map16 { 2 } else { 4 })?;
            (0..n.checked_mul(2)?).try_for_each(|_| skip_value(rd, depth + 1))
        }
        M::Reserved => None,
    }
}

fn take(rd: &mut &[u8], n: usize) -> Option<()> {
    *rd = rd.get(n..)?;
    Some(())
}

/// A big-endian length of `n` bytes.
fn be(rd: &mut &[u8], n: usize) -> Option<usize> {
    let b = rd.get(..n)?;
    let v = b.iter().fold(0usize, |a, &x| (a << 8) | usize::from(x));
    *rd = rd.get(n..)?;
    Some(v)
}

/// Why a version could not be encrypted. Nothing was left on the drives.
#[derive(Debug, thiserror::Error)]
pub enum EncryptError {
    /// The drives' copies of the version disagree (needs heal first).
    #[error("{object}: drives disagree: {reason}")]
    Inconsistent { object: String, reason: String },
    /// The version is not a plaintext object version.
    #[error("{object}: not a plaintext object version ({what})")]
    NotPlaintext { object: String, what: String },
    /// Delete markers and legacy versions have no V2 data.
    #[error("{object}: {what} has no data to encrypt")]
    NotAnObject { object: String, what: &'static str },
    /// The data lives on a remote tier.
    #[error("{object}: transitioned version, data is remote")]
    Transitioned { object: String },
    /// MinIO could not read the result (CRYPTO.md §8c step 4).
    #[error("{object}: cannot be encrypted readably: {reason}")]
    Unsupported { object: String, reason: String },
    /// More shards are bad than parity can repair.
    #[error("{object}: part {part}: data corrupt beyond repair: {source}")]
    Corrupt {
        object: String,
        part: u32,
        source: ErasureError,
    },
    /// The metadata describes an impossible layout.
    #[error("{object}: invalid metadata: {reason}")]
    Layout { object: String, reason: String },
    #[error("{object}: {source}")]
    Drive {
        object: String,
        source: DriveIoError,
    },
    #[error("{object}: writing {path}: {source}")]
    Write {
        object: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{object}: xl.meta: {source}")]
    XlMeta {
        object: String,
        source: xlmeta::Error,
    },
    #[error("{object}: {source}")]
    Sse { object: String, source: SseError },
    #[error("{object}: erasure coding: {source}")]
    Erasure {
        object: String,
        source: ErasureError,
    },
}

impl EncryptError {
    /// Short class name for counters and reports (`corrupt`, `io`, ...).
    pub fn reason(&self) -> &'static str {
        match self {
            EncryptError::Inconsistent { .. } => "inconsistent",
            EncryptError::NotPlaintext { .. } => "notPlaintext",
            EncryptError::NotAnObject { .. } => "notAnObject",
            EncryptError::Transitioned { .. } => "transitioned",
            EncryptError::Unsupported { .. } => "unsupported",
            EncryptError::Corrupt { .. } => "corrupt",
            EncryptError::Layout { .. } | EncryptError::XlMeta { .. } => "invalid",
            EncryptError::Drive { .. } | EncryptError::Write { .. } => "io",
            EncryptError::Sse { .. } => "crypto",
            EncryptError::Erasure { .. } => "erasure",
        }
    }

    /// The outcome the pipeline records for the version.
    pub fn outcome(&self) -> Outcome {
        match self {
            EncryptError::Inconsistent { .. } => Outcome::Skipped(SkipReason::Inconsistent),
            EncryptError::NotPlaintext { .. } => Outcome::Skipped(SkipReason::NotPlaintext),
            EncryptError::NotAnObject { .. } => Outcome::Skipped(SkipReason::NotAnObject),
            EncryptError::Transitioned { .. } => Outcome::Skipped(SkipReason::Transitioned),
            EncryptError::Unsupported { .. } => Outcome::Skipped(SkipReason::Unsupported),
            EncryptError::Corrupt { .. } => Outcome::Skipped(SkipReason::Corrupt),
            _ => Outcome::Failed(self.reason().into()),
        }
    }
}

/// Everything the encrypt action needs for one version.
pub struct EncryptRequest<'a> {
    /// The set's drives in set (format.json) order.
    pub drives: &'a [DriveIo],
    /// Each drive's current `xl.meta` bytes, same order.
    pub xl_meta: &'a [Vec<u8>],
    /// Index of the version in the (agreeing) version lists.
    pub version_index: usize,
    /// S3 bucket and object name (decoded).
    pub bucket: &'a str,
    pub object: &'a str,
    /// The fresh data key from the pipeline's KMS stage (its `key_id` is the target key).
    pub data_key: &'a DataKey,
    /// The job's KMS context to store (the bucket entry is never stored).
    pub user_context: Option<&'a Context>,
    /// MinIO's inline threshold for this bucket ([`inline_threshold`]).
    pub inline_threshold: u64,
}

impl std::fmt::Debug for EncryptRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptRequest")
            .field("bucket", &self.bucket)
            .field("object", &self.object)
            .field("version_index", &self.version_index)
            .finish_non_exhaustive()
    }
}

/// One drive's parsed copy of the version.
struct DriveCopy<'a> {
    obj: ObjectV2<'a>,
    inline: Option<&'a [u8]>,
}

/// Where shard number `k + 1` comes from.
enum Source<'a> {
    Inline(&'a [u8]),
    /// Drive and the version's dataDir on it (relative to the drive root).
    DataDir(&'a DriveIo, PathBuf),
    Missing,
}

/// The version as all drives agree on it.
struct Layout {
    erasure: Erasure,
    distribution: Vec<u8>,
    /// `(part number, stored size)`.
    parts: Vec<(u32, u64)>,
}

/// Encrypts one plaintext version and returns the plan that commits it.
/// Part files (if any) are staged and durable when this returns; on error
/// nothing is left behind.
pub fn encrypt_version(
    req: &EncryptRequest<'_>,
    rng: &mut dyn RandomSource,
) -> Result<CommitPlan, EncryptError> {
    let name = format!("{}/{}", req.bucket, req.object);
    let object_dir = Path::new(req.bucket).join(encode_dir_object(req.object));
    let n = req.drives.len();
    if req.xl_meta.len() != n || n == 0 {
        return Err(EncryptError::Layout {
            object: name,
            reason: format!("{} xl.meta copies for {n} drives", req.xl_meta.len()),
        });
    }
    let xmeta = |source| EncryptError::XlMeta {
        object: name.clone(),
        source,
    };
    let metas = req
        .xl_meta
        .iter()
        .map(|b| XlMeta::parse(b))
        .collect::<Result<Vec<_>, _>>()
        .map_err(xmeta)?;
    let copies = drive_copies(&metas, req.version_index, &name)?;
    let first = &copies[0].obj;
    let layout = layout_of(first, n, &name)?;
    for (j, c) in copies.iter().enumerate() {
        if layout.distribution.get(j).map(|&d| i64::from(d)) != Some(c.obj.ec_index) {
            return Err(EncryptError::Inconsistent {
                object: name,
                reason: format!("drive {j}: EcIndex {} against EcDist", c.obj.ec_index),
            });
        }
    }

    // What the object is and becomes.
    match CryptoEntries::from_sys(
        first
            .meta_sys
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_bytes(), v.as_ref())),
    )
    .classify()
    {
        Classification::Plaintext => {}
        other => {
            return Err(EncryptError::NotPlaintext {
                object: name,
                what: classification_name(&other).into(),
            })
        }
    }
    if first.is_transitioned() {
        return Err(EncryptError::Transitioned { object: name });
    }
    let etag = first.meta_usr(USR_ETAG).unwrap_or("");
    let multipart = layout.parts.len() > 1 || etag.contains('-');
    if multipart && etag.len() == 32 {
        // MinIO reads per part only when the etag is not 32 characters long.
        return Err(EncryptError::Unsupported {
            object: name,
            reason: format!("{} parts with a single-part ETag", layout.parts.len()),
        });
    }
    let compressed = first.meta_sys(META_COMPRESSION).is_some();
    let actual_parts: Vec<u64> = match &first.part_actual_sizes {
        Some(a) if a.len() == layout.parts.len() => a
            .iter()
            .map(|&s| u64::try_from(s).ok())
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| EncryptError::Layout {
                object: name.clone(),
                reason: "negative PartASizes".into(),
            })?,
        _ if compressed => {
            return Err(EncryptError::Layout {
                object: name,
                reason: "compressed object without PartASizes".into(),
            })
        }
        _ => layout.parts.iter().map(|p| p.1).collect(),
    };
    let actual_total: u64 = match first
        .meta_sys(META_ACTUAL_SIZE)
        .and_then(|v| std::str::from_utf8(v).ok()?.parse::<u64>().ok())
    {
        Some(a) => a,
        None => actual_parts.iter().sum(),
    };
    let new_sizes = layout
        .parts
        .iter()
        .map(|&(_, s)| dare::encrypted_size(s))
        .collect::<Option<Vec<u64>>>()
        .ok_or_else(|| EncryptError::Layout {
            object: name.clone(),
            reason: "part too large to encrypt".into(),
        })?;
    let new_total: u64 = new_sizes.iter().sum();
    let inline_out = !multipart
        && layout.parts.len() == 1
        && layout.erasure.shard_file_size(actual_total) <= req.inline_threshold;
    let inline_in = first.is_inline();

    let sse_err = |source| EncryptError::Sse {
        object: name.clone(),
        source,
    };
    let crc = first.meta_sys(META_CRC);
    let enc = encrypt_plaintext(
        req.bucket,
        req.object,
        req.data_key,
        req.user_context,
        multipart,
        crc,
        rng,
    )
    .map_err(sse_err)?;
    let part_indices = match &first.part_indices {
        Some(idx) => Some(
            idx.iter()
                .map(|i| {
                    if i.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut r = [0u8; 12];
                    rng.fill(&mut r)?;
                    Ok(dare::encrypt(
                        &enc.oek.compression_index_key(),
                        CipherSuite::Aes256Gcm,
                        r,
                        i,
                    )?)
                })
                .collect::<Result<Vec<_>, SseError>>()
                .map_err(sse_err)?,
        ),
        None => None,
    };
    let mut part_randoms = Vec::with_capacity(layout.parts.len());
    for _ in &layout.parts {
        let mut r = [0u8; 12];
        rng.fill(&mut r).map_err(sse_err)?;
        part_randoms.push(r);
    }

    let new_ddir: [u8; 16] = if inline_out && inline_in {
        first.data_dir
    } else {
        *uuid::Uuid::new_v4().as_bytes()
    };
    let ddir_name = format_uuid(&new_ddir);
    let staging = (!inline_out)
        .then(|| Path::new(STAGING_DIR).join(format!("keyrotate-{}", uuid::Uuid::new_v4())));

    // Sources per shard number.
    let mut sources: Vec<Source<'_>> = (0..n).map(|_| Source::Missing).collect();
    for (j, c) in copies.iter().enumerate() {
        let k = usize::from(layout.distribution[j]) - 1;
        sources[k] = match (c.obj.is_inline(), c.inline) {
            (true, Some(bytes)) => Source::Inline(bytes),
            (true, None) => Source::Missing,
            (false, _) => Source::DataDir(
                &req.drives[j],
                object_dir.join(format_uuid(&c.obj.data_dir)),
            ),
        };
    }

    let job = StreamJob {
        name: &name,
        layout: &layout,
        sources: &sources,
        enc: &enc,
        multipart,
        randoms: &part_randoms,
    };
    let inline_shards = match &staging {
        None => Some(job.run_inline()?),
        Some(staging) => {
            let staged = staging.join(&ddir_name);
            if let Err(e) = job.run_staged(req.drives, &staged) {
                discard_staging(req.drives, staging);
                return Err(e);
            }
            None
        }
    };

    // Per-drive xl.meta.
    let actual_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let old_ddir = first.data_dir;
    let shared = metas[0].versions().iter().enumerate().any(|(i, _)| {
        i != req.version_index
            && metas[0]
                .object(i)
                .is_ok_and(|o| o.data_dir == old_ddir && !o.is_inline())
    });
    let mut per_drive = Vec::with_capacity(n);
    let result = (|| {
        for (j, bytes) in req.xl_meta.iter().enumerate() {
            let mut meta = XlMeta::parse(bytes).map_err(xmeta)?;
            meta.edit_object(req.version_index, |obj| {
                obj.data_dir = new_ddir;
                obj.part_sizes = new_sizes.iter().map(|&s| actual_i64(s)).collect();
                obj.part_actual_sizes = Some(actual_parts.iter().map(|&s| actual_i64(s)).collect());
                obj.size = actual_i64(new_total);
                if let Some(idx) = &part_indices {
                    obj.part_indices = Some(idx.iter().map(|i| i.clone().into()).collect());
                }
                for k in &enc.changes.sys_remove {
                    obj.remove_meta_sys(k);
                }
                for (k, v) in &enc.changes.sys_set {
                    obj.set_meta_sys(k, v);
                }
                for k in &enc.changes.usr_remove {
                    obj.remove_meta_usr(k);
                }
                for (k, v) in &enc.changes.usr_set {
                    obj.set_meta_usr(k, v);
                }
                obj.set_meta_sys(META_ACTUAL_SIZE, actual_total.to_string().as_bytes());
                if inline_out {
                    obj.set_meta_sys(META_INLINE_DATA, b"true");
                } else {
                    obj.remove_meta_sys(META_INLINE_DATA);
                }
                Ok(())
            })
            .map_err(xmeta)?;
            let k = usize::from(layout.distribution[j]) - 1;
            let shard = inline_shards.as_ref().and_then(|s| s.get(k).cloned());
            if shard.is_some() || inline_in {
                meta.set_version_inline_data(req.version_index, shard)
                    .map_err(xmeta)?;
            }
            let new_xlmeta = meta.encode().map_err(xmeta)?;
            per_drive.push(DriveChange {
                expect_old: xxhash_rust::xxh64::xxh64(bytes, 0),
                new_xlmeta,
                staged_data_dir: staging.as_ref().map(|s| StagedDataDir {
                    staged_at: s.join(&ddir_name),
                    name: ddir_name.clone(),
                }),
            });
        }
        Ok(())
    })();
    if let Err(e) = result {
        if let Some(s) = &staging {
            discard_staging(req.drives, s);
        }
        return Err(e);
    }
    let remove_data_dirs = if !inline_in && !shared && old_ddir != new_ddir {
        vec![format_uuid(&old_ddir)]
    } else {
        Vec::new()
    };
    let version_id = if first.version_id == [0; 16] {
        String::new()
    } else {
        format_uuid(&first.version_id)
    };
    Ok(CommitPlan {
        drives: req.drives.iter().map(|d| d.root().to_owned()).collect(),
        object_dir,
        per_drive,
        remove_data_dirs,
        versions: vec![VersionChange {
            bucket: req.bucket.to_owned(),
            object: req.object.to_owned(),
            version_id,
            outcome: Outcome::Done(ActionKind::Encrypt),
            sizes: VersionSizes {
                stored: new_total,
                actual: actual_total,
            },
            old_key: None,
            new_key: Some(req.data_key.key_id.as_str().to_owned()),
            tries: 1,
            error: None,
            plaintext: None,
            depends_on: Vec::new(),
        }],
    })
}

/// The run pipeline's encrypt hook ([`super::object::EncryptPlanner`]): one
/// [`DriveIo`] worker per drive root, reused across objects; each version
/// gets its own data key from the KMS (CRYPTO.md §8c step 1); the bucket's
/// versioning state (inline rule) is read once per bucket and set.
pub fn planner(inline_block: u64) -> std::sync::Arc<super::object::EncryptPlanner> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    type HookError = (Outcome, String);
    let workers: Mutex<HashMap<PathBuf, DriveIo>> = Mutex::default();
    let versioning: Mutex<HashMap<(PathBuf, String), bool>> = Mutex::default();
    let slots = Slots {
        free: Mutex::new(rewrite_slots()),
        cv: std::sync::Condvar::new(),
    };
    std::sync::Arc::new(
        move |req: &super::object::EncryptRequest<'_>| -> Result<super::object::EncryptPlan, HookError> {
            let poisoned = || (Outcome::Failed("io".into()), "encrypt hook state poisoned".to_owned());
            let drives = {
                let mut w = workers.lock().map_err(|_| poisoned())?;
                req.drives
                    .iter()
                    .map(|r| match w.get(r) {
                        Some(d) => Ok(d.clone()),
                        None => {
                            let d = DriveIo::spawn(r)
                                .map_err(|e| (Outcome::Failed("io".into()), format!("{}: {e}", r.display())))?;
                            w.insert(r.clone(), d.clone());
                            Ok(d)
                        }
                    })
                    .collect::<Result<Vec<_>, HookError>>()?
            };
            let first = req.drives.first().cloned().unwrap_or_default();
            let cached = versioning
                .lock()
                .map_err(|_| poisoned())?
                .get(&(first.clone(), req.bucket.to_owned()))
                .copied();
            let versioned = match cached {
                Some(v) => v,
                None => {
                    let roots: Vec<&Path> = req.drives.iter().map(PathBuf::as_path).collect();
                    let v = bucket_versioned(&roots, req.bucket)
                        .map_err(|e| (Outcome::Failed("invalid".into()), e))?;
                    versioning
                        .lock()
                        .map_err(|_| poisoned())?
                        .insert((first, req.bucket.to_owned()), v);
                    v
                }
            };
            let gen = crate::sse::rotate::kms_generate_request(
                req.key,
                req.context,
                req.bucket,
                req.object,
            );
            let dek = req
                .kms
                .generate_key(&gen.key_id, &gen.context)
                .map_err(|e| (Outcome::Failed("kms".into()), e.to_string()))?;
            // Bounded memory: at most `rewrite_slots()` objects stream at once.
            let _slot = slots.acquire().map_err(|()| poisoned())?;
            let er = EncryptRequest {
                drives: &drives,
                xl_meta: req.xlmeta,
                version_index: req.version_index,
                bucket: req.bucket,
                object: req.object,
                data_key: &dek,
                user_context: req.context,
                inline_threshold: inline_threshold(versioned, inline_block),
            };
            let plan = encrypt_version(&er, &mut crate::sse::OsRandom)
                .map_err(|e| (e.outcome(), e.to_string()))?;
            Ok(super::object::EncryptPlan {
                sizes: plan.versions.first().map(|v| v.sizes),
                new_xlmeta: plan.per_drive.iter().map(|c| c.new_xlmeta.clone()).collect(),
                staged: plan
                    .per_drive
                    .into_iter()
                    .map(|c| c.staged_data_dir)
                    .collect(),
                remove_data_dirs: plan.remove_data_dirs,
            })
        },
    )
}

/// Removes the staging directories of a plan that will not be committed.
pub fn discard_plan(drives: &[DriveIo], plan: &CommitPlan) {
    for change in &plan.per_drive {
        if let Some(parent) = change
            .staged_data_dir
            .as_ref()
            .and_then(|s| s.staged_at.parent())
        {
            discard_staging(drives, parent);
            return;
        }
    }
}

/// Best-effort removal of `staging` (relative) on every drive.
fn discard_staging(drives: &[DriveIo], staging: &Path) {
    for d in drives {
        let abs = d.root().join(staging);
        let _ = d.run_blocking(move |_| std::fs::remove_dir_all(abs));
    }
}

fn classification_name(c: &Classification) -> &'static str {
    match c {
        Classification::Plaintext => "plaintext",
        Classification::SseS3(_) => "SSE-S3",
        Classification::SseKms(_) => "SSE-KMS",
        Classification::SseC(_) => "SSE-C",
        _ => "encrypted, unknown type",
    }
}

/// Parses every drive's copy of the version and checks they agree.
fn drive_copies<'a>(
    metas: &'a [XlMeta<'a>],
    index: usize,
    name: &str,
) -> Result<Vec<DriveCopy<'a>>, EncryptError> {
    let mut out = Vec::with_capacity(metas.len());
    let mut reference = None;
    for (j, meta) in metas.iter().enumerate() {
        let v = meta.version(index).map_err(|source| EncryptError::XlMeta {
            object: name.into(),
            source,
        })?;
        let h = v.header();
        match h.vtype {
            VersionType::Object => {}
            VersionType::Delete => {
                return Err(EncryptError::NotAnObject {
                    object: name.into(),
                    what: "a delete marker",
                })
            }
            _ => {
                return Err(EncryptError::NotAnObject {
                    object: name.into(),
                    what: "a legacy version",
                })
            }
        }
        let key = (h.version_id, h.signature, h.mod_time);
        match &reference {
            None => reference = Some(key),
            Some(r) if *r == key => {}
            Some(_) => {
                return Err(EncryptError::Inconsistent {
                    object: name.into(),
                    reason: format!("drive {j}: version header differs from drive 0"),
                })
            }
        }
        let obj = meta.object(index).map_err(|source| EncryptError::XlMeta {
            object: name.into(),
            source,
        })?;
        let inline = meta
            .version_inline_data(index)
            .map_err(|source| EncryptError::XlMeta {
                object: name.into(),
                source,
            })?;
        out.push(DriveCopy { obj, inline });
    }
    Ok(out)
}

fn layout_of(obj: &ObjectV2<'_>, n: usize, name: &str) -> Result<Layout, EncryptError> {
    let bad = |reason: String| EncryptError::Layout {
        object: name.into(),
        reason,
    };
    let data = usize::try_from(obj.ec_m).map_err(|_| bad("negative EcM".into()))?;
    let parity = usize::try_from(obj.ec_n).map_err(|_| bad("negative EcN".into()))?;
    // Before anything is sized from them.
    let parts = crate::erasure::check_layout(obj.ec_block_size, &obj.part_numbers, &obj.part_sizes)
        .map_err(|e| bad(e.to_string()))?;
    let block = obj.ec_block_size.unsigned_abs();
    let erasure = Erasure::new(data, parity, block).map_err(|e| bad(e.to_string()))?;
    if erasure.total_shards() != n || obj.ec_dist.len() != n {
        return Err(bad(format!(
            "{data}+{parity} with EcDist {:?} on a set of {n} drives",
            obj.ec_dist
        )));
    }
    let mut seen = vec![false; n];
    for &d in &obj.ec_dist {
        match usize::from(d).checked_sub(1).and_then(|k| seen.get_mut(k)) {
            Some(s) if !*s => *s = true,
            _ => {
                return Err(bad(format!(
                    "EcDist {:?} is not a permutation",
                    obj.ec_dist
                )))
            }
        }
    }
    if parts.is_empty() {
        return Err(bad("no parts".into()));
    }
    Ok(Layout {
        erasure,
        distribution: obj.ec_dist.clone(),
        parts,
    })
}

/// The streaming part of one version's encryption.
struct StreamJob<'a> {
    name: &'a str,
    layout: &'a Layout,
    sources: &'a [Source<'a>],
    enc: &'a NewEncryption,
    multipart: bool,
    randoms: &'a [[u8; 12]],
}

/// A plaintext batch from the reader: part index, bytes, last of its part.
type Batch = Result<(usize, Plain, bool), EncryptError>;

impl StreamJob<'_> {
    fn blocks_per_batch(&self) -> u64 {
        (BATCH_BYTES / self.layout.erasure.block_size()).max(1)
    }

    /// Reads every part in order and sends plaintext batches.
    fn read_all(&self, tx: &mpsc::SyncSender<Batch>) {
        for (pi, &(number, size)) in self.layout.parts.iter().enumerate() {
            let mut reader = PartReader::new(&self.layout.erasure, size, number, self.sources);
            if size == 0 {
                if tx.send(Ok((pi, Plain::default(), true))).is_err() {
                    return;
                }
                continue;
            }
            loop {
                match reader.next_batch(self.blocks_per_batch()) {
                    Ok(Some((bytes, last))) => {
                        if tx.send(Ok((pi, bytes, last))).is_err() {
                            return;
                        }
                        if last {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(source) => {
                        let _ = tx.send(Err(EncryptError::Corrupt {
                            object: self.name.into(),
                            part: number,
                            source,
                        }));
                        return;
                    }
                }
            }
        }
    }

    /// Runs reader → DARE → RS, handing each batch's framed shard bytes
    /// (per shard number) to `sink(part index, shards, last of part)`.
    fn pump(
        &self,
        mut sink: impl FnMut(usize, Vec<Vec<u8>>, bool) -> Result<(), EncryptError>,
    ) -> Result<(), EncryptError> {
        let erasure = &self.layout.erasure;
        std::thread::scope(|s| {
            let (tx, rx) = mpsc::sync_channel::<Batch>(1);
            s.spawn(move || self.read_all(&tx));
            let mut state: Option<PartState> = None;
            for msg in rx {
                let (pi, plain, last) = msg?;
                let st = match &mut state {
                    Some(st) if st.part == pi => st,
                    _ => {
                        let (number, _) = self.layout.parts[pi];
                        let key = if self.multipart {
                            self.enc.oek.part_key(number)
                        } else {
                            SecretKey::new(*self.enc.oek.data_key().expose())
                        };
                        state.insert(PartState {
                            part: pi,
                            dare: DareLayout::new(key, self.randoms[pi]),
                        })
                    }
                };
                let shards = st.push(erasure, plain, last).map_err(|e| match e {
                    StageError::Dare(source) => EncryptError::Sse {
                        object: self.name.into(),
                        source: source.into(),
                    },
                    StageError::Erasure(source) => EncryptError::Erasure {
                        object: self.name.into(),
                        source,
                    },
                })?;
                sink(pi, shards, last)?;
            }
            Ok(())
        })
    }

    /// Collects each shard's stream in memory (inline output).
    fn run_inline(&self) -> Result<Vec<Vec<u8>>, EncryptError> {
        let mut out: Vec<Vec<u8>> = vec![Vec::new(); self.layout.erasure.total_shards()];
        self.pump(|_, shards, _| {
            for (o, s) in out.iter_mut().zip(shards) {
                o.extend_from_slice(&s);
                pool::give(s);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Writes each drive's part files under `staged` (relative to every
    /// drive root) and makes them and their directories durable.
    fn run_staged(&self, drives: &[DriveIo], staged: &Path) -> Result<(), EncryptError> {
        let drive_err = |source| EncryptError::Drive {
            object: self.name.into(),
            source,
        };
        for d in drives {
            d.mkdir_all(staged).map_err(drive_err)?;
        }
        // shard number k + 1 → drive position
        let mut position_of = vec![0usize; drives.len()];
        for (j, &d) in self.layout.distribution.iter().enumerate() {
            position_of[usize::from(d) - 1] = j;
        }
        std::thread::scope(|s| {
            let mut txs = Vec::with_capacity(drives.len());
            let mut handles = Vec::with_capacity(drives.len());
            for d in drives {
                let (tx, rx) = mpsc::sync_channel::<WriteMsg>(2);
                txs.push(tx);
                let dir = d.root().join(staged);
                let name = self.name;
                handles.push(s.spawn(move || write_drive(&dir, rx, name)));
            }
            let pumped = self.pump(|pi, shards, last| {
                let number = self.layout.parts[pi].0;
                for (k, bytes) in shards.into_iter().enumerate() {
                    // A writer that failed has hung up; its error is reported at join.
                    let _ = txs[position_of[k]].send(WriteMsg {
                        part: number,
                        bytes,
                        last,
                    });
                }
                Ok(())
            });
            drop(txs);
            let mut first_err = pumped.err();
            for h in handles {
                match h.join() {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        first_err.get_or_insert(e);
                    }
                    Err(_) => {
                        first_err.get_or_insert(EncryptError::Write {
                            object: self.name.into(),
                            path: staged.to_owned(),
                            source: std::io::Error::other("writer thread panicked"),
                        });
                    }
                }
            }
            match first_err {
                Some(e) => Err(e),
                None => Ok(()),
            }
        })?;
        // The new dataDir and its parents in the staging area must survive a crash
        // before the plan is journaled.
        // All in flight at once: they are independent (each makes one
        // directory's entries durable), and concurrent fsyncs on a
        // filesystem share journal commits instead of paying one each.
        let parent = staged.parent().unwrap_or(staged);
        let tickets: Vec<_> = [staged, parent, Path::new(STAGING_DIR)]
            .into_iter()
            .flat_map(|rel| drives.iter().map(move |d| d.fsync(rel)))
            .collect();
        for t in tickets {
            t.wait().map_err(drive_err)?;
        }
        // Durable on every drive; no intent names it yet.
        crash_point("encrypt.staged");
        Ok(())
    }
}

/// One batch of one part file for one drive.
struct WriteMsg {
    part: u32,
    bytes: Vec<u8>,
    last: bool,
}

/// A drive's writer: appends to `part.N` and fsyncs each file when its last
/// batch is written. It runs on its own thread (one per drive and object),
/// not on the drive's I/O worker: a blocking write + fsync there would stall
/// every read queued on that drive by the other objects in flight.
fn write_drive(dir: &Path, rx: mpsc::Receiver<WriteMsg>, name: &str) -> Result<(), EncryptError> {
    let mut open: Option<(u32, std::fs::File)> = None;
    for msg in rx {
        let path = dir.join(format!("part.{}", msg.part));
        let file = match open.take() {
            Some((p, f)) if p == msg.part => Some(f),
            _ => None,
        };
        let res = (|| -> std::io::Result<Option<std::fs::File>> {
            let mut f = match file {
                Some(f) => f,
                None => std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)?,
            };
            f.write_all(&msg.bytes)?;
            if msg.last {
                f.sync_all()?;
                return Ok(None);
            }
            Ok(Some(f))
        })();
        pool::give(msg.bytes);
        match res {
            Ok(Some(f)) => open = Some((msg.part, f)),
            Ok(None) => {}
            Err(source) => {
                return Err(EncryptError::Write {
                    object: name.into(),
                    path,
                    source,
                })
            }
        }
    }
    Ok(())
}

/// Recycled batch buffers. Fresh multi-MiB vectors per batch were zeroed
/// and page-faulted in by the kernel every time: as much CPU as the whole
/// AES-GCM once was. A few idle buffers are kept (bounded count), so the
/// steady state allocates nothing.
mod pool {
    use std::sync::Mutex;

    /// Idle buffers kept at most (each a batch's size, a few MiB).
    const KEEP: usize = 24;
    static FREE: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

    /// An empty vector with room for `cap` bytes.
    pub(super) fn take(cap: usize) -> Vec<u8> {
        let recycled = FREE.lock().ok().and_then(|mut f| f.pop());
        match recycled {
            Some(mut v) => {
                v.clear();
                v.reserve(cap);
                v
            }
            None => Vec::with_capacity(cap),
        }
    }

    /// A vector of exactly `len` bytes with unspecified (stale) contents,
    /// for callers that overwrite every byte: no zero-fill when a recycled
    /// buffer is long enough.
    pub(super) fn take_len(len: usize) -> Vec<u8> {
        let mut v = FREE
            .lock()
            .ok()
            .and_then(|mut f| f.pop())
            .unwrap_or_default();
        if v.len() >= len {
            v.truncate(len);
        } else {
            v.resize(len, 0);
        }
        v
    }

    /// Returns a buffer for reuse (dropped when enough are idle).
    pub(super) fn give(v: Vec<u8>) {
        if v.capacity() == 0 {
            return;
        }
        if let Ok(mut f) = FREE.lock() {
            if f.len() < KEEP {
                f.push(v);
            }
        }
    }
}

enum StageError {
    Dare(dare::DareError),
    Erasure(ErasureError),
}

/// DARE and erasure state of the part being encrypted.
struct PartState {
    part: usize,
    dare: DareLayout,
}

impl PartState {
    /// Encrypts and erasure-codes one plaintext batch; returns per shard
    /// number the framed bytes to append.
    fn push(
        &mut self,
        erasure: &Erasure,
        plain: Plain,
        last: bool,
    ) -> Result<Vec<Vec<u8>>, StageError> {
        for piece in plain.slices() {
            self.dare.append(piece);
        }
        plain.recycle();
        self.dare.seal(last).map_err(StageError::Dare)?;
        let sealed = self.dare.sealed();
        let block = usize::try_from(erasure.block_size()).unwrap_or(usize::MAX);
        let end = if last {
            sealed.len()
        } else {
            sealed.len() / block * block
        };
        let frames = usize::try_from(erasure.framed_len(end as u64)).unwrap_or(usize::MAX);
        let mut out: Vec<Vec<u8>> = (0..erasure.total_shards())
            .map(|_| pool::take_len(frames))
            .collect();
        let mut views: Vec<&mut [u8]> = out.iter_mut().map(Vec::as_mut_slice).collect();
        erasure
            .encode_framed_into(sealed.get(..end).unwrap_or_default(), &mut views)
            .map_err(StageError::Erasure)?;
        // What stays is less than a block (plus an unfinished package).
        self.dare.consume(end);
        Ok(out)
    }
}

/// A part's DARE 2.0 stream under construction, laid out in one buffer:
/// plaintext is copied once, straight into its package's payload slot
/// (header and tag slots left for the seal), and packages are sealed in
/// place, in parallel groups, when a batch ends.
struct DareLayout {
    key: SecretKey,
    random: [u8; 12],
    /// Sequence number of the first unsealed package.
    seq: u32,
    /// `buf[..sealed]` is whole sealed packages (minus what was consumed).
    buf: Vec<u8>,
    sealed: usize,
    /// Payload bytes of the unfinished package at the end of `buf`.
    open: Option<usize>,
}

impl DareLayout {
    fn new(key: SecretKey, random: [u8; 12]) -> Self {
        Self {
            key,
            random,
            seq: 0,
            buf: pool::take(0),
            sealed: 0,
            open: None,
        }
    }

    /// Appends plaintext.
    fn append(&mut self, mut piece: &[u8]) {
        while !piece.is_empty() {
            let fill = match self.open {
                Some(f) => f,
                None => {
                    self.buf.extend_from_slice(&[0u8; dare::HEADER_SIZE]);
                    0
                }
            };
            let take = (MAX_PAYLOAD - fill).min(piece.len());
            let (now, rest) = piece.split_at(take);
            self.buf.extend_from_slice(now);
            piece = rest;
            if fill + take == MAX_PAYLOAD {
                self.buf.extend_from_slice(&[0u8; dare::TAG_SIZE]);
                self.open = None;
            } else {
                self.open = Some(fill + take);
            }
        }
    }

    /// Seals every whole package appended so far (non-final), or with
    /// `last` everything, the final package included.
    fn seal(&mut self, last: bool) -> Result<(), dare::DareError> {
        const GROUP: usize = 16;
        let end = match (self.open, last) {
            (Some(_), true) => {
                self.buf.extend_from_slice(&[0u8; dare::TAG_SIZE]);
                self.open = None;
                self.buf.len()
            }
            (Some(fill), false) => self.buf.len() - dare::HEADER_SIZE - fill,
            (None, _) => self.buf.len(),
        };
        let (key, random, seq) = (&self.key, self.random, self.seq);
        let region = self.buf.get_mut(self.sealed..end).unwrap_or_default();
        let packages = region.len().div_ceil(MAX_PACKAGE);
        let groups = packages.div_ceil(GROUP);
        region
            .par_chunks_mut(GROUP * MAX_PACKAGE)
            .enumerate()
            .try_for_each(|(g, out)| {
                let start = u32::try_from(g * GROUP)
                    .ok()
                    .and_then(|f| seq.checked_add(f))
                    .ok_or(dare::DareError::TooLong)?;
                Encryptor::new(key, CipherSuite::Aes256Gcm, random)
                    .with_sequence(start)
                    .seal_laid_out(out, last && g + 1 == groups)
                    .map(drop)
            })?;
        self.seq = u32::try_from(packages)
            .ok()
            .and_then(|p| self.seq.checked_add(p))
            .ok_or(dare::DareError::TooLong)?;
        self.sealed = end;
        Ok(())
    }

    /// The sealed ciphertext not consumed yet.
    fn sealed(&self) -> &[u8] {
        self.buf.get(..self.sealed).unwrap_or_default()
    }

    /// Drops the first `n` sealed bytes (handed on to erasure coding).
    fn consume(&mut self, n: usize) {
        let n = n.min(self.sealed);
        self.buf.drain(..n);
        self.sealed -= n;
    }
}

impl Drop for DareLayout {
    fn drop(&mut self) {
        pool::give(std::mem::take(&mut self.buf));
    }
}

/// One batch of a part's plaintext as pieces of the verified shard reads
/// (`pieces` index into `bufs`): handed on without assembling a copy.
#[derive(Default)]
struct Plain {
    bufs: Vec<Vec<u8>>,
    pieces: Vec<(usize, std::ops::Range<usize>)>,
}

impl Plain {
    fn slices(&self) -> impl Iterator<Item = &[u8]> {
        self.pieces.iter().map(|(b, r)| {
            self.bufs
                .get(*b)
                .and_then(|v| v.get(r.clone()))
                .unwrap_or_default()
        })
    }

    /// Hands the read buffers to the pool (they become frame buffers).
    fn recycle(self) {
        for b in self.bufs {
            pool::give(b);
        }
    }
}

/// Reads one part's plaintext a batch of blocks at a time, verifying every
/// chunk and reconstructing blocks with bad data shards.
struct PartReader<'a> {
    erasure: &'a Erasure,
    size: u64,
    number: u32,
    sources: &'a [Source<'a>],
    /// Shards whose stream is unreadable or short: not consulted again.
    dead: Vec<bool>,
    next_block: u64,
}

impl<'a> PartReader<'a> {
    fn new(erasure: &'a Erasure, size: u64, number: u32, sources: &'a [Source<'a>]) -> Self {
        let dead = sources
            .iter()
            .map(|s| matches!(s, Source::Missing))
            .collect();
        Self {
            erasure,
            size,
            number,
            sources,
            dead,
            next_block: 0,
        }
    }

    /// The next up to `max_blocks` blocks of plaintext and whether they end the part.
    fn next_batch(&mut self, max_blocks: u64) -> Result<Option<(Plain, bool)>, ErasureError> {
        let e = self.erasure;
        let (n, d) = (e.total_shards(), e.data_shards());
        let blocks = e.block_count(self.size);
        if self.next_block >= blocks {
            return Ok(None);
        }
        let b0 = self.next_block;
        let b1 = (b0 + max_blocks).min(blocks);
        let bsize = e.block_size();
        let stride = HASH_LEN as u64 + e.shard_size();
        let block_len = |b: u64| (self.size - b * bsize).min(bsize);
        let chunk_len = |b: u64| block_len(b).div_ceil(d as u64);
        let offset = b0 * stride;
        let span: u64 = (b0..b1).map(|b| HASH_LEN as u64 + chunk_len(b)).sum();
        let span_usize = usize::try_from(span).map_err(|_| too_big(b0))?;
        let count = usize::try_from(b1 - b0).map_err(|_| too_big(b0))?;

        let mut data: Vec<Option<Vec<u8>>> = vec![None; n];
        let mut ok: Vec<Vec<bool>> = vec![vec![false; count]; n];
        let mut tried = vec![false; n];
        let mut faults: Vec<String> = Vec::new();
        loop {
            let (worst, worst_block) = (0..count)
                .map(|bi| ((0..n).filter(|&k| ok[k][bi]).count(), bi))
                .min()
                .unwrap_or((d, 0));
            if worst >= d {
                break;
            }
            let want = d - worst;
            let picks: Vec<usize> = (0..n)
                .filter(|&k| !tried[k] && !self.dead[k])
                .take(want)
                .collect();
            if picks.is_empty() {
                return Err(ErasureError::TooFewShards {
                    block: b0 + worst_block as u64,
                    available: worst,
                    needed: d,
                    detail: format!("part {}: {}", self.number, faults.join(", ")),
                });
            }
            let fetched = self.fetch(&picks, offset, span_usize);
            for (k, got) in picks.into_iter().zip(fetched) {
                tried[k] = true;
                match got {
                    Ok(bytes) if bytes.len() == span_usize => {
                        let verdicts: Vec<bool> = (0..count)
                            .into_par_iter()
                            .map(|bi| {
                                let b = b0 + bi as u64;
                                let start = bi * stride as usize;
                                let len = HASH_LEN + chunk_len(b) as usize;
                                bytes
                                    .get(start..start + len)
                                    .and_then(bitrot::verify_frame)
                                    .is_some()
                            })
                            .collect();
                        for (bi, v) in verdicts.iter().enumerate() {
                            if !v {
                                faults.push(format!(
                                    "shard {} block {}: bitrot",
                                    k + 1,
                                    b0 + bi as u64
                                ));
                            }
                        }
                        ok[k] = verdicts;
                        data[k] = Some(bytes);
                    }
                    Ok(bytes) => {
                        self.dead[k] = true;
                        faults.push(format!(
                            "shard {}: short ({} of {span})",
                            k + 1,
                            bytes.len()
                        ));
                    }
                    Err(reason) => {
                        self.dead[k] = true;
                        faults.push(format!("shard {}: {reason}", k + 1));
                    }
                }
            }
        }

        // The plaintext as pieces of the verified reads, block by block;
        // only blocks missing a data chunk are decoded (into owned shards).
        let mut pieces = Vec::new();
        let mut decoded: Vec<Vec<u8>> = Vec::new();
        for (bi, b) in (b0..b1).enumerate() {
            let clen = usize::try_from(chunk_len(b)).map_err(|_| too_big(b))?;
            let blen = usize::try_from(block_len(b)).map_err(|_| too_big(b))?;
            let start = bi * stride as usize + HASH_LEN;
            let chunk = |k: usize| -> Option<&[u8]> {
                if !ok[k][bi] {
                    return None;
                }
                data[k].as_ref()?.get(start..start + clen)
            };
            let mut left = blen;
            if (0..d).all(|k| chunk(k).is_some()) {
                for k in 0..d {
                    let take = left.min(clen);
                    pieces.push((k, start..start + take));
                    left -= take;
                }
            } else {
                let mut all: Vec<Option<Vec<u8>>> =
                    (0..n).map(|k| chunk(k).map(<[u8]>::to_vec)).collect();
                e.reconstruct_data(&mut all)?;
                for shard in all.into_iter().take(d) {
                    let shard = shard.unwrap_or_default();
                    let take = left.min(shard.len());
                    pieces.push((n + decoded.len(), 0..take));
                    decoded.push(shard);
                    left -= take;
                }
            }
            if left != 0 {
                return Err(ErasureError::TooFewShards {
                    block: b,
                    available: 0,
                    needed: d,
                    detail: "reconstruction returned short shards".into(),
                });
            }
        }
        let mut bufs: Vec<Vec<u8>> = data.into_iter().map(Option::unwrap_or_default).collect();
        bufs.extend(decoded);
        let out = Plain { bufs, pieces };
        self.next_block = b1;
        Ok(Some((out, b1 == blocks)))
    }

    /// Reads `len` bytes at `offset` of the given shards, all in flight at once.
    fn fetch(&self, ks: &[usize], offset: u64, len: usize) -> Vec<Result<Vec<u8>, String>> {
        enum Pending<T> {
            Ready(Result<Vec<u8>, String>),
            Ticket(T),
        }
        let part = format!("part.{}", self.number);
        let pending: Vec<_> = ks
            .iter()
            .map(|&k| match &self.sources[k] {
                Source::Inline(bytes) => Pending::Ready(
                    usize::try_from(offset)
                        .ok()
                        .and_then(|o| bytes.get(o..o.checked_add(len)?))
                        .map(<[u8]>::to_vec)
                        .ok_or_else(|| "inline shard too short".to_owned()),
                ),
                Source::DataDir(drive, dir) => {
                    Pending::Ticket(drive.read_at(dir.join(&part), offset, len))
                }
                Source::Missing => Pending::Ready(Err("missing".into())),
            })
            .collect();
        pending
            .into_iter()
            .map(|p| match p {
                Pending::Ready(r) => r,
                Pending::Ticket(t) => t.wait().map_err(|e| e.to_string()),
            })
            .collect()
    }
}

fn too_big(block: u64) -> ErasureError {
    ErasureError::TooFewShards {
        block,
        available: 0,
        needed: 0,
        detail: "batch does not fit in memory".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dare_layout_equals_the_reference_stream() {
        use rand::{Rng, SeedableRng};
        let random = [3u8; 12];
        let mut rng = rand::rngs::StdRng::seed_from_u64(8);
        for len in [1usize, 65535, 65536, 65537, 16 * 65536 + 5, 40 * 65536] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let reference = dare::encrypt(
                &SecretKey::new([7; 32]),
                CipherSuite::Aes256Gcm,
                random,
                &plain,
            )
            .unwrap();
            // Random pieces, random batch ends (sealing in between), and
            // consuming sealed bytes as the erasure stage does.
            for _ in 0..4 {
                let mut l = DareLayout::new(SecretKey::new([7; 32]), random);
                let mut got = Vec::new();
                let mut rest = &plain[..];
                while !rest.is_empty() {
                    let (piece, tail) = rest.split_at(rng.gen_range(1..=rest.len().min(200_000)));
                    l.append(piece);
                    rest = tail;
                    if !rest.is_empty() && rng.gen_bool(0.5) {
                        l.seal(false).unwrap();
                        let take = rng.gen_range(0..=l.sealed().len());
                        got.extend_from_slice(&l.sealed()[..take]);
                        l.consume(take);
                    }
                }
                l.seal(true).unwrap();
                got.extend_from_slice(l.sealed());
                assert_eq!(got, reference, "{len}");
            }
        }
    }

    #[test]
    fn inline_thresholds() {
        assert_eq!(inline_threshold(false, INLINE_BLOCK), 131072);
        assert_eq!(inline_threshold(true, INLINE_BLOCK), 16384);
    }
}
