//! The sample drive sets of `testdata/drivesets/`: listing and unpacking.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// Unpacks a `*.tar.xz` into a temporary directory; returns it and the
/// deployment root inside (holding `driveN/` and `manifest.json`).
pub fn unpack(tarball: &Path) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = std::fs::File::open(tarball).unwrap();
    tar::Archive::new(xz2::read::XzDecoder::new(file))
        .unpack(dir.path())
        .unwrap();
    let stem = tarball
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches(".tar.xz");
    let root = dir.path().join(stem);
    (dir, root)
}

/// Every sample tarball, sorted.
pub fn tarballs() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/drivesets");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().is_some_and(|s| s.ends_with(".tar.xz")))
        .collect();
    v.sort();
    assert!(!v.is_empty());
    v
}

/// The sample tarballs whose manifest lists MinIO internal items
/// (`.minio.sys` objects); the others hold objects only.
pub fn tarballs_with_internal_items() -> Vec<PathBuf> {
    tarballs()
        .into_iter()
        .filter(|t| {
            let name = t.to_str().unwrap().trim_end_matches(".tar.xz");
            let manifest: serde_json::Value =
                serde_json::from_slice(&std::fs::read(format!("{name}.manifest.json")).unwrap())
                    .unwrap();
            manifest["objects"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o["bucket"] == ".minio.sys")
        })
        .collect()
}
