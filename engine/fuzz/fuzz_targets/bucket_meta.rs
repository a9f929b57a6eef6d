//! `.minio.sys/buckets/<b>/.metadata.bin` as the bucket-target rewrite
//! reads it: parsing never panics, and for a document that parses, replacing
//! the two target fields (with their own values, then with values the input
//! supplies) yields a document that parses back with exactly those values
//! and every other field unchanged.

#![no_main]

use engine::internal::bucket_meta::BucketMetadataDoc;
use libfuzzer_sys::fuzz_target;

fn check_rewrite(doc: &BucketMetadataDoc<'_>, targets: &[u8], meta: &[u8]) {
    let Ok(out) = doc.with_targets(targets, meta) else {
        return;
    };
    let back = BucketMetadataDoc::parse(&out).expect("rewritten document parses");
    assert_eq!(back.targets(), targets);
    assert_eq!(back.targets_meta(), meta);
    assert!(doc.same_except_targets(&back), "other fields changed");
}

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = BucketMetadataDoc::parse(data) else {
        return;
    };
    check_rewrite(&doc, doc.targets(), doc.targets_meta());
    let (a, b) = data.split_at(data.len() / 2);
    check_rewrite(&doc, a, b);
    check_rewrite(&doc, &[], &[]);
});
