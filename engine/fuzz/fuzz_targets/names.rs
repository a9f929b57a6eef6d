//! Names read from drive directories and job patterns: directory-object
//! name mapping round-trips, the internal-item classifier only accepts what
//! it names, the k-way merge of sorted listings equals a sorted, deduplicated
//! union, and the wildcard matcher never panics (and `*` matches anything).

#![no_main]

use engine::drives::walk::{decode_dir_object, encode_dir_object, merge_sorted, DIR_OBJECT_SUFFIX};
use engine::internal::ItemKind;
use engine::job::wildcard::matches;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (pattern, value) = text.split_once('\0').unwrap_or((&text, &text));
    let _ = matches(pattern, value);
    assert!(matches("*", value));
    if !pattern.contains(['*', '?']) {
        assert!(matches(pattern, pattern));
    }

    // On-disk names never end in '/'; keys that end in the suffix are ambiguous.
    if !value.ends_with('/') {
        assert_eq!(encode_dir_object(&decode_dir_object(value)), value);
    }
    if !value.ends_with(DIR_OBJECT_SUFFIX) {
        assert_eq!(decode_dir_object(&encode_dir_object(value)), value);
    }

    if let Some(kind) = ItemKind::classify(value) {
        assert!(value.starts_with("config/") || value.starts_with("buckets/"));
        if let ItemKind::BucketMetadata { bucket } = kind {
            assert_eq!(value, format!("buckets/{bucket}/.metadata.bin"));
        }
    }

    // Three per-drive listings: lines routed by their first byte.
    let mut lists = vec![Vec::new(), Vec::new(), Vec::new()];
    for line in text.split('\n') {
        let d = line.bytes().next().map_or(0, usize::from) % 3;
        lists[d].push(line.to_owned());
    }
    let mut want: Vec<String> = lists.iter().flatten().cloned().collect();
    for l in &mut lists {
        l.sort();
        l.dedup();
    }
    want.sort();
    want.dedup();
    assert_eq!(merge_sorted(lists), want);
});
