//! From drive paths to pools and erasure sets, by each drive's
//! `.minio.sys/format.json` (ONDISK §2.1–§2.2).
//!
//! Every path must be a formatted drive of the same deployment; drives are
//! grouped into pools by equality of `xl.sets`, and each drive's `xl.this`
//! gives its set and position. Problems are reported with the drive's path.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use uuid::Uuid;
use xlmeta::format::{BackendFormat, FormatJson, FormatXl};

use super::endpoints::{self, EndpointError};
use super::placement::DistributionAlgo;

/// Path of format.json below a drive root.
pub const FORMAT_PATH: &str = ".minio.sys/format.json";

/// format.json for drive `this` of a pool with `sets` (what `minio server`
/// writes for a fresh erasure deployment).
pub fn new_format(deployment_id: Uuid, this: Uuid, sets: &[Vec<Uuid>]) -> FormatJson {
    FormatJson {
        version: "1".into(),
        format: BackendFormat::Xl,
        id: deployment_id.to_string(),
        xl: FormatXl {
            version: "3".into(),
            this: this.to_string(),
            sets: sets
                .iter()
                .map(|s| s.iter().map(Uuid::to_string).collect())
                .collect(),
            distribution_algo: xlmeta::format::DistributionAlgo::SipModParity,
        },
    }
}

fn algo_of(f: &FormatJson) -> DistributionAlgo {
    match f.xl.distribution_algo {
        xlmeta::format::DistributionAlgo::CrcMod => DistributionAlgo::CrcMod,
        _ => DistributionAlgo::SipMod,
    }
}

/// Why the drives do not form a usable deployment.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error(transparent)]
    Endpoints(#[from] EndpointError),
    #[error("drive {path}: not accessible: {source}")]
    Inaccessible {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("drive {0}: not formatted (no .minio.sys/format.json)")]
    Unformatted(PathBuf),
    #[error("drive {path}: invalid format.json: {reason}")]
    BadFormat { path: PathBuf, reason: String },
    #[error("drive {path}: belongs to deployment {found}, other drives to {expected}")]
    Foreign {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error("drives {first} and {second} both claim to be drive {uuid}")]
    Duplicate {
        uuid: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("drive {path}: its id {uuid} is not in its own format.json sets")]
    NotInSets { path: PathBuf, uuid: String },
    #[error("drives {first} and {second} were given as one pool but belong to different pools")]
    PoolMismatch { first: PathBuf, second: PathBuf },
    #[error("missing drives: {}", .0.iter().map(|m| m.to_string()).collect::<Vec<_>>().join("; "))]
    Missing(Vec<MissingDrive>),
}

/// A drive named by format.json that none of the given paths is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingDrive {
    pub pool: usize,
    pub set: usize,
    pub position: usize,
    pub uuid: String,
}

impl std::fmt::Display for MissingDrive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pool {} set {} position {} (drive {})",
            self.pool, self.set, self.position, self.uuid
        )
    }
}

/// One formatted drive and where it sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drive {
    pub path: PathBuf,
    pub uuid: Uuid,
    pub pool: usize,
    pub set: usize,
    /// Position in the set (format.json order): holds shard `EcDist[position]`.
    pub position: usize,
}

/// One erasure set: its drives by position (`None` = missing).
#[derive(Debug, Clone)]
pub struct ErasureSet {
    pub pool: usize,
    pub index: usize,
    pub drives: Vec<Option<Drive>>,
}

/// One pool: equal-sized sets sharing a set-selection hash.
#[derive(Debug, Clone)]
pub struct Pool {
    pub index: usize,
    pub algo: DistributionAlgo,
    pub sets: Vec<ErasureSet>,
}

impl Pool {
    /// The set that holds the encoded object name `object` (ONDISK §2.3).
    pub fn set_for(&self, object: &str, deployment_id: &Uuid) -> Option<&ErasureSet> {
        self.sets.get(
            self.algo
                .set_index(object, self.sets.len(), deployment_id)?,
        )
    }
}

/// The deployment seen through this node's drives.
#[derive(Debug, Clone)]
pub struct Topology {
    pub deployment_id: Uuid,
    pub pools: Vec<Pool>,
    /// Drives named by format.json but not among the given paths
    /// (non-empty only with [`MissingPolicy::Allow`]).
    pub missing: Vec<MissingDrive>,
}

impl Topology {
    /// Every present drive.
    pub fn drives(&self) -> impl Iterator<Item = &Drive> {
        self.pools
            .iter()
            .flat_map(|p| &p.sets)
            .flat_map(|s| &s.drives)
            .flatten()
    }
}

/// Whether drives named by format.json may be absent from the arguments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MissingPolicy {
    /// Fail with [`TopologyError::Missing`] (a rotation must reach every drive).
    #[default]
    Reject,
    /// Keep the slot empty (read-only uses that tolerate up to parity missing).
    Allow,
}

/// Reads and checks one drive's format.json.
pub fn read_format(path: &Path) -> Result<FormatJson, TopologyError> {
    let meta = std::fs::metadata(path).map_err(|source| TopologyError::Inaccessible {
        path: path.to_owned(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(TopologyError::Inaccessible {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        });
    }
    let bytes = match std::fs::read(path.join(FORMAT_PATH)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(TopologyError::Unformatted(path.to_owned()))
        }
        Err(source) => {
            return Err(TopologyError::Inaccessible {
                path: path.to_owned(),
                source,
            })
        }
    };
    let bad = |reason: String| TopologyError::BadFormat {
        path: path.to_owned(),
        reason,
    };
    let f = FormatJson::parse(&bytes).map_err(|e| bad(e.to_string()))?;
    if f.xl.version != "3" {
        return Err(bad(format!(
            "erasure format version {:?} (MinIO migrates to 3 at start)",
            f.xl.version
        )));
    }
    if f.is_offline_placeholder() {
        return Err(bad("drive is an offline placeholder".into()));
    }
    Uuid::parse_str(&f.xl.this).map_err(|e| bad(format!("drive id {:?}: {e}", f.xl.this)))?;
    Ok(f)
}

/// Expands MinIO endpoint arguments and discovers the topology.
pub fn discover<S: AsRef<str>>(
    args: &[S],
    missing: MissingPolicy,
) -> Result<Topology, TopologyError> {
    let pools = endpoints::parse_pools(args)?;
    discover_paths(&pools, missing)
}

/// Discovers the topology of already-expanded drive paths (grouped as given).
pub fn discover_paths(
    arg_pools: &[Vec<PathBuf>],
    missing: MissingPolicy,
) -> Result<Topology, TopologyError> {
    let mut deployment: Option<(String, PathBuf)> = None;
    let mut by_uuid: HashMap<String, PathBuf> = HashMap::new();
    // format pools, keyed by their `xl.sets`, in first-seen order
    let mut pools: Vec<(Vec<Vec<String>>, DistributionAlgo, Vec<Drive>)> = Vec::new();
    for arg_pool in arg_pools {
        let mut arg_pool_index: Option<(usize, PathBuf)> = None;
        for path in arg_pool {
            let f = read_format(path)?;
            match &deployment {
                Some((id, _)) if *id != f.id => {
                    return Err(TopologyError::Foreign {
                        path: path.clone(),
                        found: f.id,
                        expected: id.clone(),
                    })
                }
                Some(_) => {}
                None => deployment = Some((f.id.clone(), path.clone())),
            }
            if let Some(first) = by_uuid.insert(f.xl.this.clone(), path.clone()) {
                return Err(TopologyError::Duplicate {
                    uuid: f.xl.this,
                    first,
                    second: path.clone(),
                });
            }
            let xlmeta::format::DrivePosition {
                set,
                index: position,
            } = f.this_position().ok_or_else(|| TopologyError::NotInSets {
                path: path.clone(),
                uuid: f.xl.this.clone(),
            })?;
            let algo = algo_of(&f);
            let pool = match pools.iter().position(|(sets, _, _)| *sets == f.xl.sets) {
                Some(i) => i,
                None => {
                    pools.push((f.xl.sets.clone(), algo, Vec::new()));
                    pools.len() - 1
                }
            };
            match &arg_pool_index {
                Some((p, first)) if *p != pool => {
                    return Err(TopologyError::PoolMismatch {
                        first: first.clone(),
                        second: path.clone(),
                    })
                }
                Some(_) => {}
                None => arg_pool_index = Some((pool, path.clone())),
            }
            let uuid = Uuid::parse_str(&f.xl.this).unwrap_or_default();
            pools[pool].2.push(Drive {
                path: path.clone(),
                uuid,
                pool,
                set,
                position,
            });
        }
    }
    let Some((id, _)) = deployment else {
        return Err(TopologyError::Endpoints(EndpointError::Empty));
    };
    let deployment_id = Uuid::parse_str(&id).unwrap_or_default();
    let mut absent = Vec::new();
    let mut out = Vec::new();
    for (index, (sets, algo, drives)) in pools.into_iter().enumerate() {
        let mut erasure_sets: Vec<ErasureSet> = sets
            .iter()
            .enumerate()
            .map(|(i, s)| ErasureSet {
                pool: index,
                index: i,
                drives: vec![None; s.len()],
            })
            .collect();
        for d in drives {
            let slot = &mut erasure_sets[d.set].drives[d.position];
            *slot = Some(d);
        }
        for (si, set) in erasure_sets.iter().enumerate() {
            for (pos, d) in set.drives.iter().enumerate() {
                if d.is_none() {
                    absent.push(MissingDrive {
                        pool: index,
                        set: si,
                        position: pos,
                        uuid: sets[si][pos].clone(),
                    });
                }
            }
        }
        out.push(Pool {
            index,
            algo,
            sets: erasure_sets,
        });
    }
    if !absent.is_empty() && missing == MissingPolicy::Reject {
        return Err(TopologyError::Missing(absent));
    }
    Ok(Topology {
        deployment_id,
        pools: out,
        missing: absent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uuid(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// Writes a pool of `sets × width` drives under `root/p{pool}d{i}`.
    fn make_pool(root: &Path, pool: usize, id: Uuid, sets: usize, width: usize) -> Vec<PathBuf> {
        let ids: Vec<Vec<Uuid>> = (0..sets)
            .map(|s| {
                (0..width)
                    .map(|j| uuid((pool * 1000 + s * 100 + j + 1) as u128))
                    .collect()
            })
            .collect();
        let mut paths = Vec::new();
        for (s, set) in ids.iter().enumerate() {
            for (j, this) in set.iter().enumerate() {
                let p = root.join(format!("p{pool}d{}", s * width + j + 1));
                std::fs::create_dir_all(p.join(".minio.sys")).unwrap();
                std::fs::write(
                    p.join(FORMAT_PATH),
                    new_format(id, *this, &ids).to_json().unwrap(),
                )
                .unwrap();
                paths.push(p);
            }
        }
        paths
    }

    #[test]
    fn discovers_pools_sets_and_positions() {
        let dir = tempfile::tempdir().unwrap();
        let id = uuid(42);
        make_pool(dir.path(), 0, id, 2, 4);
        make_pool(dir.path(), 1, id, 1, 6);
        let a = format!("{}/p0d{{1...8}}", dir.path().display());
        let b = format!("{}/p1d{{1...6}}", dir.path().display());
        let t = discover(&[a.as_str(), b.as_str()], MissingPolicy::Reject).unwrap();
        assert_eq!(t.deployment_id, id);
        assert_eq!(t.pools.len(), 2);
        assert_eq!(t.pools[0].sets.len(), 2);
        assert_eq!(t.pools[1].sets[0].drives.len(), 6);
        let d = t.pools[0].sets[1].drives[2].as_ref().unwrap();
        assert_eq!(d.path, dir.path().join("p0d7"));
        assert_eq!((d.set, d.position), (1, 2));
        assert_eq!(t.drives().count(), 14);
        // a single-set pool always selects set 0
        assert_eq!(t.pools[1].set_for("x", &id).unwrap().index, 0);
        let bytes = std::fs::read(dir.path().join("p0d1").join(FORMAT_PATH)).unwrap();
        assert!(bytes.starts_with(br#"{"version":"1","format":"xl","id":"00000000-0000-0000-0000-00000000002a","xl":{"version":"3","this":"#));
    }

    #[test]
    fn reports_bad_drives() {
        let dir = tempfile::tempdir().unwrap();
        let paths = make_pool(dir.path(), 0, uuid(1), 1, 4);
        let first3 = format!("{}/p0d{{1...3}}", dir.path().display());
        assert!(
            matches!(discover(&[first3.as_str()], MissingPolicy::Reject), Err(TopologyError::Missing(m)) if m.len() == 1 && m[0].position == 3)
        );
        let t = discover(&[first3.as_str()], MissingPolicy::Allow).unwrap();
        assert_eq!(t.missing.len(), 1);
        assert!(t.pools[0].sets[0].drives[3].is_none());

        // The messages name what is wrong and where.
        let err = discover(&[first3.as_str()], MissingPolicy::Reject).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "missing drives: pool 0 set 0 position 3 (drive {})",
                uuid(4)
            )
        );

        let foreign = make_pool(&dir.path().join("other"), 0, uuid(2), 1, 4);
        let mut mixed = paths[..3].to_vec();
        mixed.push(foreign[3].clone());
        let err = discover_paths(&[mixed], MissingPolicy::Reject).unwrap_err();
        assert!(matches!(err, TopologyError::Foreign { .. }));
        assert_eq!(
            err.to_string(),
            format!(
                "drive {}: belongs to deployment {}, other drives to {}",
                foreign[3].display(),
                uuid(2),
                uuid(1)
            )
        );

        let copy = dir.path().join("copy");
        std::fs::create_dir_all(copy.join(".minio.sys")).unwrap();
        std::fs::copy(paths[0].join(FORMAT_PATH), copy.join(FORMAT_PATH)).unwrap();
        let dup = vec![paths[0].clone(), copy.clone()];
        let err = discover_paths(&[dup], MissingPolicy::Allow).unwrap_err();
        assert!(matches!(err, TopologyError::Duplicate { .. }));
        assert_eq!(
            err.to_string(),
            format!(
                "drives {} and {} both claim to be drive {}",
                paths[0].display(),
                copy.display(),
                uuid(1)
            )
        );

        let empty = dir.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        let err = discover_paths(&[vec![empty.clone()]], MissingPolicy::Allow).unwrap_err();
        assert!(matches!(err, TopologyError::Unformatted(_)));
        assert_eq!(
            err.to_string(),
            format!(
                "drive {}: not formatted (no .minio.sys/format.json)",
                empty.display()
            )
        );
        assert!(matches!(
            discover_paths(&[vec![dir.path().join("nope")]], MissingPolicy::Allow),
            Err(TopologyError::Inaccessible { .. })
        ));
        std::fs::write(
            copy.join(FORMAT_PATH),
            br#"{"version":"1","format":"fs","id":"","fs":{"version":"2"}}"#,
        )
        .unwrap();
        assert!(matches!(
            discover_paths(&[vec![copy]], MissingPolicy::Allow),
            Err(TopologyError::BadFormat { .. })
        ));
    }
}
