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
