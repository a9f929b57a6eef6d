//! Every object version in `testdata/drivesets/*.tar.xz` (written by MinIO's
//! own code) reads back to the plaintext digest of its manifest, with every
//! combination of up to `parity` drives removed and with any one drive's
//! shard corrupted.

use std::path::{Path, PathBuf};

#[path = "common/readback.rs"]
mod readback;

fn unpack(tarball: &Path) -> (tempfile::TempDir, PathBuf) {
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

fn tarballs() -> Vec<PathBuf> {
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

#[test]
fn every_object_reads_back_under_faults() {
    for tarball in tarballs() {
        let (_tmp, root) = unpack(&tarball);
        let (versions, compared) = readback::verify_deployment(&root, true, None);
        assert!(
            versions >= 20,
            "{}: only {versions} versions",
            tarball.display()
        );
        assert!(
            compared >= 10,
            "{}: only {compared} versions compared",
            tarball.display()
        );
    }
}
