//! Parse arbitrary bytes as `.minio.sys/format.json`: never panics; a
//! document that parses re-encodes to JSON that parses to the same value
//! and re-encodes identically, and its drive positions are consistent with
//! its `sets` table.

#![no_main]

use libfuzzer_sys::fuzz_target;
use xlmeta::format::DrivePosition;
use xlmeta::FormatJson;

fuzz_target!(|data: &[u8]| {
    let Ok(f) = FormatJson::parse(data) else {
        return;
    };
    let json = f.to_json().expect("encode");
    let back = FormatJson::parse(&json).expect("re-encoded format.json parses");
    assert_eq!(back, f);
    assert_eq!(back.to_json().expect("encode"), json);
    assert!(f.same_pool(&back));
    assert!(f.set_count() >= 1 && f.set_drive_count() >= 1);
    let _ = f.is_offline_placeholder();
    if let Some(DrivePosition { set, index }) = f.this_position() {
        assert!(f.xl.sets[set][index].eq_ignore_ascii_case(&f.xl.this));
    }
    for (s, drives) in f.xl.sets.iter().enumerate() {
        for d in drives {
            let p = f.position_of(d).expect("listed drive has a position");
            assert!(p.set <= s);
        }
    }
});
