//! Real MinIO files (testdata/minio, ONDISK §12): decode, verify, re-encode.

mod common;

use common::*;
use xlmeta::XlMeta;

#[test]
fn every_sample_decodes_verifies_and_reencodes_identically() {
    let samples = all_samples();
    assert!(
        samples.len() >= 23,
        "expected 3 files + 10 + 2 + 8 zipped drives, got {}",
        samples.len()
    );
    for (name, bytes) in &samples {
        let xl = XlMeta::parse(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        xl.verify().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(xl.verify_all().is_empty(), "{name}");
        for (i, v) in xl.versions().iter().enumerate() {
            let meta = v.meta().unwrap_or_else(|e| panic!("{name} v{i}: {e}"));
            assert_eq!(
                meta.signature().unwrap(),
                v.header().signature,
                "{name} v{i}"
            );
            assert!(
                !meta.has_unknown_keys(),
                "{name} v{i}: {:?}",
                meta.unknown_keys
            );
        }
        assert_eq!(
            &xl.encode().unwrap(),
            bytes,
            "{name}: untouched re-encode differs"
        );
    }
}
