//! Real MinIO files (testdata/minio, ONDISK §12): decode, verify, re-encode.

mod common;

use common::*;
use xlmeta::{Error, XlMeta};

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

fn objects<'a>(xl: &XlMeta<'a>) -> Vec<xlmeta::ObjectV2<'a>> {
    (0..xl.versions().len())
        .map(|i| xl.object(i).unwrap())
        .collect()
}

#[test]
fn xl_meta_v1_0_facts() {
    let bytes = minio_file("xl.meta");
    assert_eq!(bytes.len(), 303);
    let xl = XlMeta::parse(&bytes).unwrap();
    assert_eq!(xl.container_version(), (1, 0));
    assert_eq!(xl.stored_crc(), None);
    let [o] = objects(&xl).try_into().unwrap();
    assert_eq!(o.version_id, [0; 16]);
    assert_eq!(
        (o.ec_m, o.ec_n, o.ec_block_size, o.ec_index),
        (2, 2, 10_485_760, 3)
    );
    assert_eq!(o.ec_dist, [3, 4, 1, 2]);
    assert_eq!((o.size, o.part_numbers.as_slice()), (6482, [1].as_slice()));
    assert_eq!(o.part_etags.as_ref().map(Vec::len), Some(1));
    assert_eq!(o.part_etags.as_ref().unwrap()[0], "");
    assert_eq!(o.meta_sys.as_ref().map(Vec::len), Some(0));
    assert_eq!(o.meta_usr("content-type"), Some("application/json"));
    assert!(o.meta_usr("etag").is_some());
    assert_eq!(o.meta_usr.as_ref().map(Vec::len), Some(2));
    let meta = xl.versions()[0].meta().unwrap();
    assert!(!meta.has_written_by_version);
    // Derived header: object, uses its data dir, EC 2+2.
    let h = xl.versions()[0].header();
    assert_eq!((h.flags, h.ec_m, h.ec_n), (2, 2, 2));
}

#[test]
fn xl_meta_v1_2_facts() {
    let bytes = zstd_file("xl.meta-v1.2.zst");
    assert_eq!(bytes.len(), 283_036);
    let xl = XlMeta::parse(&bytes).unwrap();
    assert_eq!(xl.container_version(), (1, 2));
    assert_eq!(xl.stored_crc(), xl.computed_crc());
    assert!(xl.stored_crc().is_some());
    assert_eq!(xl.versions().len(), 855);
    assert!(xl.inline_data().is_empty());
    let mut prev: Option<xlmeta::VersionHeader> = None;
    for (i, o) in objects(&xl).iter().enumerate() {
        assert_ne!(o.version_id, [0; 16]);
        assert_eq!((o.ec_m, o.ec_n, o.ec_index, o.size), (4, 4, 7, 256), "v{i}");
        assert_eq!(o.ec_dist, [7, 8, 1, 2, 3, 4, 5, 6]);
        assert_eq!(
            o.meta_sys("x-minio-internal-inline-data"),
            Some(b"true".as_slice())
        );
        let h = *xl.versions()[i].header();
        assert_eq!((h.flags, h.ec_m, h.ec_n), (6, 4, 4));
        // Sorted newest first by MinIO's order.
        if let Some(p) = prev {
            assert!(!h.sorts_before(&p), "v{i} out of order");
        }
        prev = Some(h);
        assert_eq!(xl.version_inline_data(i).unwrap(), None);
    }
}

#[test]
fn xl_many_parts_facts() {
    let bytes = minio_file("xl-many-parts.meta");
    assert_eq!(bytes.len(), 828_237);
    let xl = XlMeta::parse(&bytes).unwrap();
    assert_eq!(xl.container_version(), (1, 3));
    assert_eq!((xl.header_version(), xl.meta_version()), (2, 2));
    assert_eq!(xl.versions().len(), 7);
    let mut failed = 0;
    for (i, o) in objects(&xl).iter().enumerate() {
        let h = xl.versions()[i].header();
        assert_eq!(h.flags, 2, "v{i}");
        assert_eq!((h.ec_m, h.ec_n), (0, 0), "header v2 carries no EC info");
        assert_eq!((o.ec_m, o.ec_n, o.ec_index), (12, 4, 2));
        let mut dist: Vec<u8> = (2..=16).collect();
        dist.push(1);
        assert_eq!(o.ec_dist, dist);
        assert_eq!(o.part_numbers.len(), 9016);
        assert_eq!(o.part_sizes.len(), 9016);
        assert_eq!(o.part_numbers.first(), Some(&1));
        assert_eq!(o.part_numbers.last(), Some(&9016));
        assert_eq!(o.part_sizes[0], 6_294_528);
        assert_eq!(o.part_actual_sizes.as_ref().unwrap()[0], 6_291_456);
        assert_eq!(o.size, o.part_sizes.iter().sum::<i64>());
        assert!(o.part_etags.is_none());
        assert!(o.meta_usr("etag").unwrap().ends_with("-9016"));
        // Six versions failed replication; one carries an empty status.
        let status = o.meta_usr("X-Amz-Replication-Status").unwrap();
        failed += usize::from(status == "FAILED");
        assert!(o.meta_usr("X-Amz-Meta-Mtime").is_some());
        for key in [
            "X-Minio-Internal-Server-Side-Encryption-Iv",
            "X-Minio-Internal-Server-Side-Encryption-S3-Sealed-Key",
            "X-Minio-Internal-Server-Side-Encryption-S3-Kms-Key-Id",
            "X-Minio-Internal-Server-Side-Encryption-S3-Kms-Sealed-Key",
            "X-Minio-Internal-Server-Side-Encryption-Seal-Algorithm",
            "X-Minio-Internal-Encrypted-Multipart",
            "X-Minio-Internal-actual-size",
        ] {
            assert!(o.meta_sys(key).is_some(), "v{i} lacks {key}");
        }
        // 56.7 GB object.
        assert!(
            o.size > 56_000_000_000 && o.size < 57_000_000_000,
            "{}",
            o.size
        );
    }
    assert_eq!(failed, 6);
}

#[test]
fn corrupt_file_gives_typed_error() {
    let bytes = gz_file("xl.meta-corrupt.gz");
    assert_eq!(bytes.len(), 7_864_320);
    match XlMeta::parse(&bytes) {
        Err(Error::Msgp { .. }) => {}
        other => panic!("expected a typed msgpack error, got {other:?}"),
    }
    // Every truncation of a real file fails cleanly too (no panic).
    let good = minio_file("xl.meta");
    for n in 0..good.len() {
        let _ = XlMeta::parse(&good[..n]);
    }
    // Legacy xl.json is detected as such.
    assert_eq!(
        XlMeta::parse(br#"{"version":"1.0.1","format":"xl"}"#),
        Err(Error::LegacyXlJson)
    );
    assert!(matches!(
        XlMeta::parse(b"XL2 \x02\x00\x00\x00\x00"),
        Err(Error::UnsupportedVersion { major: 2, .. })
    ));
    assert!(matches!(
        XlMeta::parse(b"NOPE\x01\x00\x03\x00\x00"),
        Err(Error::BadMagic { .. })
    ));
}

#[test]
fn consist_drives_agree() {
    let drives = zip_xlmetas("xl-meta-consist.zip");
    assert_eq!(drives.len(), 10);
    let mut sigs = Vec::new();
    for (name, bytes) in &drives {
        let xl = XlMeta::parse(bytes).unwrap();
        let drive: usize = name.split('/').next().unwrap().parse().unwrap();
        let want_version = if drive == 5 { (1, 3) } else { (1, 2) };
        assert_eq!(xl.container_version(), want_version, "{name}");
        let [o] = objects(&xl).try_into().unwrap();
        assert_eq!((o.ec_m, o.ec_n, o.size), (6, 4, 141_250), "{name}");
        assert!(
            o.meta_sys("X-Minio-Internal-actual-size").is_some(),
            "{name}"
        );
        assert_eq!(
            o.ec_index,
            i64::from(o.ec_dist[drive - 1]),
            "{name}: EcIndex = EcDist[position]"
        );
        if drive == 5 {
            assert_eq!((xl.header_version(), xl.meta_version()), (2, 1));
            assert!(o.part_etags.is_none());
        } else {
            assert!(o.part_etags.as_ref().unwrap().iter().all(|e| e.is_empty()));
        }
        sigs.push(xl.versions()[0].header().signature);
    }
    assert!(sigs.windows(2).all(|w| w[0] == w[1]), "{sigs:02x?}");
}

#[test]
fn inline_notinline_facts() {
    let drives = zip_xlmetas("xl-meta-inline-notinline.zip");
    assert_eq!(drives.len(), 2);
    for (name, bytes) in &drives {
        let xl = XlMeta::parse(bytes).unwrap();
        assert_eq!(xl.container_version(), (1, 2), "{name}");
        let [o] = objects(&xl).try_into().unwrap();
        assert_eq!((o.size, o.ec_m, o.ec_n), (132_096, 2, 2));
        assert_eq!(o.ec_dist, [2, 3, 4, 1]);
        assert!(o.is_inline());
        let data = xl.version_inline_data(0).unwrap();
        if name.starts_with("disk1") {
            assert_eq!(xl.inline_data().keys().collect::<Vec<_>>(), ["null"]);
            assert_eq!(data.map(<[u8]>::len), Some(66_080));
        } else {
            assert_eq!(data, None, "{name}");
        }
    }
}

#[test]
fn merge_drives_facts() {
    let drives = zip_xlmetas("xl-meta-merge.zip");
    assert_eq!(drives.len(), 8);
    let mut ids = std::collections::BTreeSet::new();
    for (name, bytes) in &drives {
        let xl = XlMeta::parse(bytes).unwrap();
        assert_eq!(
            (
                xl.container_version(),
                xl.header_version(),
                xl.meta_version()
            ),
            ((1, 3), 2, 2),
            "{name}"
        );
        let first_four = ["xl1/", "xl2/", "xl3/", "xl4/"]
            .iter()
            .any(|p| name.starts_with(p));
        assert_eq!(
            xl.versions().len(),
            if first_four { 2 } else { 1 },
            "{name}"
        );
        for (i, v) in xl.versions().iter().enumerate() {
            ids.insert(v.header().version_id);
            let o = xl.object(i).unwrap();
            let meta = v.meta().unwrap();
            assert_eq!(meta.written_by_version, 1_709_666_000);
            assert_eq!((o.ec_m, o.ec_n), (2, 2));
            assert_eq!(o.ec_dist, [1, 2, 3, 4]);
            let data = xl.version_inline_data(i).unwrap().unwrap();
            if first_four {
                assert_eq!(o.size, 228);
                assert_eq!(data.len(), 146);
                assert!(!v.header().is_null_version());
            } else {
                assert_eq!(o.size, 19_113);
                assert_eq!(o.meta_usr("content-type"), Some("text/markdown"));
                assert!(v.header().is_null_version());
            }
        }
    }
    assert_eq!(ids.len(), 3, "merging all drives yields 3 versions");
}

// The `xl-meta` tool's JSON of every sample: tests/minio_tool.rs.
