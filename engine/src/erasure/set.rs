//! Finding one object version on the drives of its erasure set: reads every
//! present drive's `xl.meta`, picks the version, checks each drive's
//! `EcIndex` against `EcDist` (ONDISK §7.3) and says where each drive keeps its
//! shard (inline entry or dataDir), ready for [`super::stream::read_object`].
//!
//! A drive whose `xl.meta` is missing, unreadable, lacks the version or
//! disagrees on its shard number becomes [`ShardLocation::Missing`]; decoding
//! then tolerates it like any other lost shard.

use std::path::{Path, PathBuf};

use xlmeta::uuid::format_uuid;
use xlmeta::XlMeta;

use super::stream::{ObjectLayout, ShardLocation};
use super::{check_layout, Erasure};
use crate::drives::io::DriveIo;
use crate::drives::walk::encode_dir_object;

/// Why a version cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    /// No drive holds a usable `xl.meta` with this version.
    #[error("{bucket}/{object} version {version}: not found on any drive ({detail})")]
    NotFound {
        bucket: String,
        object: String,
        version: String,
        detail: String,
    },
    /// The version is a delete marker or a legacy object (no V2 erasure data).
    #[error("{bucket}/{object} version {version}: {what} has no data to read")]
    NoData {
        bucket: String,
        object: String,
        version: String,
        what: &'static str,
    },
    /// The metadata describes an impossible layout.
    #[error("{bucket}/{object} version {version}: invalid erasure metadata: {reason}")]
    Layout {
        bucket: String,
        object: String,
        version: String,
        reason: String,
    },
}

/// One drive's view of the version, when usable.
#[derive(Debug)]
struct DriveView {
    layout: ObjectLayout,
    location: ShardLocation,
}

/// A located version: its layout and, per set position, where the shard is.
#[derive(Debug, Clone)]
pub struct LocatedVersion {
    pub layout: ObjectLayout,
    pub locations: Vec<ShardLocation>,
    /// Per set position, why the drive was not usable (empty when it was).
    pub problems: Vec<String>,
    /// The version's `xl.meta` bytes as read from the first usable drive.
    pub xl_meta: Vec<u8>,
}

/// How a drive is reached: a root path (plain file reads) or the drive's I/O
/// worker (every read through its ring).
pub trait DriveAccess {
    /// Reads a whole file at `rel` below the drive root; the error is a message.
    fn read_file(&self, rel: &Path) -> Result<Vec<u8>, String>;
    /// Where the shards of the dataDir `rel` are read from.
    fn data_dir(&self, rel: PathBuf) -> ShardLocation;
}

impl DriveAccess for Path {
    fn read_file(&self, rel: &Path) -> Result<Vec<u8>, String> {
        let path = self.join(rel);
        std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn data_dir(&self, rel: PathBuf) -> ShardLocation {
        ShardLocation::DataDir(self.join(rel))
    }
}

impl DriveAccess for DriveIo {
    fn read_file(&self, rel: &Path) -> Result<Vec<u8>, String> {
        DriveIo::read_file(self, rel)
            .wait()
            .map_err(|e| e.to_string())
    }

    fn data_dir(&self, rel: PathBuf) -> ShardLocation {
        ShardLocation::OnDrive {
            io: self.clone(),
            data_dir: rel,
        }
    }
}

/// Locates `bucket/object` version `version_id` (all-zero = null version) on
/// the drives of one set, given by position (`None` = drive absent).
pub fn locate_version<D: DriveAccess + ?Sized>(
    drives: &[Option<&D>],
    bucket: &str,
    object: &str,
    version_id: [u8; 16],
) -> Result<LocatedVersion, LocateError> {
    let version = if version_id == [0; 16] {
        "null".to_owned()
    } else {
        format_uuid(&version_id)
    };
    let rel: PathBuf = Path::new(bucket).join(encode_dir_object(object));
    let mut views: Vec<Result<(DriveView, Vec<u8>), String>> = Vec::with_capacity(drives.len());
    let mut no_data: Option<&'static str> = None;
    for (position, root) in drives.iter().enumerate() {
        let Some(root) = root else {
            views.push(Err("drive absent".into()));
            continue;
        };
        views.push(drive_view(*root, &rel, version_id, position, &mut no_data));
    }
    let problems: Vec<String> = views
        .iter()
        .map(|v| v.as_ref().err().cloned().unwrap_or_default())
        .collect();
    let first = views.iter().position(Result::is_ok);
    let Some(first) = first else {
        if let Some(what) = no_data {
            return Err(LocateError::NoData {
                bucket: bucket.into(),
                object: object.into(),
                version,
                what,
            });
        }
        return Err(LocateError::NotFound {
            bucket: bucket.into(),
            object: object.into(),
            version,
            detail: problems.join("; "),
        });
    };
    let mut locations = Vec::with_capacity(views.len());
    let mut layout = None;
    let mut xl_meta = Vec::new();
    for (i, view) in views.into_iter().enumerate() {
        match view {
            Ok((v, bytes)) => {
                if i == first {
                    layout = Some(v.layout.clone());
                    xl_meta = bytes;
                }
                locations.push(v.location);
            }
            Err(_) => locations.push(ShardLocation::Missing),
        }
    }
    let layout = layout.ok_or_else(|| LocateError::Layout {
        bucket: bucket.into(),
        object: object.into(),
        version: version.clone(),
        reason: "no layout".into(),
    })?;
    if layout.distribution.len() != drives.len() {
        return Err(LocateError::Layout {
            bucket: bucket.into(),
            object: object.into(),
            version,
            reason: format!(
                "EcDist has {} entries for a set of {} drives",
                layout.distribution.len(),
                drives.len()
            ),
        });
    }
    Ok(LocatedVersion {
        layout,
        locations,
        problems,
        xl_meta,
    })
}

fn drive_view<D: DriveAccess + ?Sized>(
    drive: &D,
    dir: &Path,
    version_id: [u8; 16],
    position: usize,
    no_data: &mut Option<&'static str>,
) -> Result<(DriveView, Vec<u8>), String> {
    let path = dir.join("xl.meta");
    let bytes = drive.read_file(&path)?;
    let meta = XlMeta::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let index = meta
        .versions()
        .iter()
        .position(|v| v.header().version_id == version_id)
        .ok_or_else(|| format!("{}: no such version", path.display()))?;
    let header = meta.versions()[index].header();
    match header.vtype {
        xlmeta::VersionType::Object => {}
        xlmeta::VersionType::Delete => {
            *no_data = Some("a delete marker");
            return Err(format!("{}: delete marker", path.display()));
        }
        _ => {
            *no_data = Some("a legacy (xl.json era) object");
            return Err(format!("{}: legacy version", path.display()));
        }
    }
    let obj = meta
        .object(index)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let bad = |what: &str| format!("{}: {what}", path.display());
    let data = usize::try_from(obj.ec_m).map_err(|_| bad("negative EcM"))?;
    let parity = usize::try_from(obj.ec_n).map_err(|_| bad("negative EcN"))?;
    // Before anything is sized from them.
    let parts = check_layout(obj.ec_block_size, &obj.part_numbers, &obj.part_sizes)
        .map_err(|e| bad(&e.to_string()))?;
    let block = obj.ec_block_size.unsigned_abs();
    let erasure = Erasure::new(data, parity, block).map_err(|e| bad(&e.to_string()))?;
    if obj.ec_dist.get(position).map(|&d| i64::from(d)) != Some(obj.ec_index) {
        return Err(bad(&format!(
            "EcIndex {} disagrees with EcDist {:?} at position {position}",
            obj.ec_index, obj.ec_dist
        )));
    }
    let inline = meta
        .version_inline_data(index)
        .map_err(|e| bad(&e.to_string()))?;
    let location = match inline {
        Some(data) => ShardLocation::Inline(data.to_vec()),
        None => drive.data_dir(dir.join(format_uuid(&obj.data_dir))),
    };
    let layout = ObjectLayout {
        erasure,
        distribution: obj.ec_dist.clone(),
        parts,
    };
    drop(obj);
    drop(meta);
    Ok((DriveView { layout, location }, bytes))
}
