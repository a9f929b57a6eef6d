//! Every object version in `testdata/drivesets/*.tar.xz` (written by MinIO's
//! own code) reads back to the plaintext digest of its manifest, with every
//! combination of up to `parity` drives removed and with any one drive's
//! shard corrupted.

#[path = "common/readback.rs"]
mod readback;
#[path = "common/drivesets.rs"]
mod samples;

use samples::{tarballs, unpack};

#[test]
fn every_object_reads_back_under_faults() {
    for tarball in tarballs() {
        let (_tmp, root) = unpack(&tarball);
        let (versions, compared) = readback::verify_deployment(&root, true);
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

#[test]
fn listing_matches_the_manifest() {
    use engine::drives::io::DriveIo;
    use engine::drives::walk::list_set;
    for tarball in tarballs() {
        let (_tmp, root) = unpack(&tarball);
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap();
        let n = manifest["drives"].as_u64().unwrap();
        let ios: Vec<DriveIo> = (1..=n)
            .map(|i| DriveIo::spawn(root.join(format!("drive{i}"))).unwrap())
            .collect();
        let mut by_bucket: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for o in manifest["objects"].as_array().unwrap() {
            let bucket = o["bucket"].as_str().unwrap();
            if bucket != ".minio.sys" {
                let keys = by_bucket.entry(bucket.to_owned()).or_default();
                keys.push(o["object"].as_str().unwrap().to_owned());
            }
        }
        // The manifest names every bucket the drives hold.
        let on_disk: Vec<String> = std::fs::read_dir(root.join("drive1"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != ".minio.sys")
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert!(!on_disk.is_empty(), "{}", tarball.display());
        assert_eq!(
            by_bucket.keys().cloned().collect::<Vec<_>>(),
            on_disk,
            "{}",
            tarball.display()
        );
        for (bucket, mut keys) in by_bucket {
            keys.sort();
            keys.dedup();
            assert_eq!(list_set(&ios, &bucket, "").unwrap(), keys, "{bucket}");
            // One drive gone: the others still list everything.
            assert_eq!(list_set(&ios[1..], &bucket, "").unwrap(), keys, "{bucket}");
        }
    }
}
