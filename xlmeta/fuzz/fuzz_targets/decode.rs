//! Decode arbitrary bytes as `xl.meta`; whatever decodes must verify,
//! convert, re-encode identically when untouched, and survive an edit and
//! a MinIO-style upgrade with a consistent, re-decodable result.

#![no_main]

use libfuzzer_sys::fuzz_target;
use xlmeta::XlMeta;

fuzz_target!(|data: &[u8]| {
    let Ok(xl) = XlMeta::parse(data) else { return };
    let _ = xl.verify_all();
    let _ = xlmeta::minio_json::to_minio_json(&xl);
    assert_eq!(xl.encode().expect("untouched encode"), data);
    for (i, v) in xl.versions().iter().enumerate() {
        if let Ok(meta) = v.meta() {
            let _ = meta.signature();
        }
        let _ = xl.version_inline_data(i);
    }
    if let Ok(up) = xl.encode_upgraded() {
        let back = XlMeta::parse(&up).expect("upgraded file decodes");
        back.verify_crc().expect("upgraded CRC");
        assert_eq!(back.versions().len(), xl.versions().len());
    }
    // Edit the first object version that accepts edits.
    let Some(i) = (0..xl.versions().len()).find(|&i| xl.object(i).is_ok()) else { return };
    let mut edited = xl.clone();
    let edit = edited.edit_object(i, |o| {
        o.set_meta_sys("X-Minio-Internal-fuzz", b"1");
        o.remove_meta_usr("etag");
        o.size = o.size.wrapping_add(1);
        Ok(())
    });
    if edit.is_err() {
        return;
    }
    let out = edited.encode().expect("encode after edit");
    let back = XlMeta::parse(&out).expect("edited file decodes");
    back.verify_crc().expect("edited CRC");
    let v = &back.versions()[i];
    let meta = v.meta().expect("edited version decodes");
    assert_eq!(meta.signature().expect("signature"), v.header().signature);
    let obj = back.object(i).expect("edited object");
    assert_eq!(obj.meta_sys("X-Minio-Internal-fuzz"), Some(b"1".as_slice()));
});
