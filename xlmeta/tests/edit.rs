//! Edits, lossless re-encoding and building from scratch.

mod common;

use std::borrow::Cow;

use common::*;
use xlmeta::header::{FLAG_INLINE_DATA, FLAG_USES_DATA_DIR};
use xlmeta::{DeleteMarker, Error, ObjectV2, VersionBody, VersionType, XlMeta, XlMetaBuilder};

/// Offset of a sub-slice inside its parent buffer.
fn offset(parent: &[u8], child: &[u8]) -> usize {
    child.as_ptr() as usize - parent.as_ptr() as usize
}

/// Byte range of version `i`'s bin-wrapped header+meta pair in a 1.3 file.
fn pair_range(file: &[u8], xl: &XlMeta<'_>, i: usize) -> std::ops::Range<usize> {
    let v = &xl.versions()[i];
    let hdr = v.header_bytes().expect("stored header");
    let meta = v.meta_bytes();
    let hdr_prefix = 2; // headers are < 256 bytes: c4 LL
    let meta_prefix = match meta.len() {
        0..=255 => 2,
        256..=65535 => 3,
        _ => 5,
    };
    assert_eq!(
        offset(file, meta) - meta_prefix,
        offset(file, hdr) + hdr.len()
    );
    offset(file, hdr) - hdr_prefix..offset(file, meta) + meta.len()
}

fn sys_keys(o: &ObjectV2<'_>) -> Vec<String> {
    o.meta_sys
        .iter()
        .flatten()
        .map(|(k, _)| k.to_string())
        .collect()
}

const KEY: &str = "X-Minio-Internal-Server-Side-Encryption-S3-Kms-Key-Id";

#[test]
fn editing_one_metasys_entry_changes_only_that_version() {
    let orig = minio_file("xl-many-parts.meta");
    let xl = XlMeta::parse(&orig).unwrap();
    let k = 3;
    let before = xl.object(k).unwrap();
    let old_key_id = before.meta_sys(KEY).unwrap().to_vec();
    let sys_order: Vec<String> = sys_keys(&before);

    let mut edited = xl.clone();
    edited
        .edit_object(k, |o| {
            o.set_meta_sys(KEY, b"a-much-longer-replacement-kms-key-name");
            Ok(())
        })
        .unwrap();
    let out = edited.encode().unwrap();
    let new = XlMeta::parse(&out).unwrap();
    new.verify().unwrap();
    assert_eq!(
        (new.header_version(), new.meta_version()),
        (2, 2),
        "strategy A keeps versions"
    );

    // Magic/version and the body prefix (header version, meta version, count) are unchanged.
    assert_eq!(out[..8], orig[..8]);
    let first_orig = pair_range(&orig, &xl, 0).start;
    let first_new = pair_range(&out, &new, 0).start;
    assert_eq!(first_orig, first_new);
    assert_eq!(out[13..first_new], orig[13..first_orig]);
    // The body length changed (the value grew) and so did the CRC.
    assert_ne!(out[9..13], orig[9..13]);
    assert_ne!(new.stored_crc(), xl.stored_crc());
    // Every other version's pair is byte-identical; the body is exactly the
    // original with version k's pair swapped.
    for i in 0..xl.versions().len() {
        let (a, b) = (pair_range(&orig, &xl, i), pair_range(&out, &new, i));
        if i == k {
            assert_ne!(out[b], orig[a]);
        } else {
            assert_eq!(out[b], orig[a], "version {i} changed");
        }
    }
    let (ka, kb) = (pair_range(&orig, &xl, k), pair_range(&out, &new, k));
    let body_end_orig = 13 + u32::from_be_bytes(orig[9..13].try_into().unwrap()) as usize;
    let body_end_new = 13 + u32::from_be_bytes(out[9..13].try_into().unwrap()) as usize;
    assert_eq!(out[13..kb.start], orig[13..ka.start]);
    assert_eq!(out[kb.end..body_end_new], orig[ka.end..body_end_orig]);
    // After the CRC: identical inline section (empty here) — nothing else changed.
    assert_eq!(out[body_end_new + 5..], orig[body_end_orig + 5..]);
    assert_eq!(
        out.len() as isize - orig.len() as isize,
        (kb.end - kb.start) as isize - (ka.end - ka.start) as isize
    );

    // The edited version: new value, same entry order, fresh signature, other header fields kept.
    let after = new.object(k).unwrap();
    assert_eq!(
        after.meta_sys(KEY),
        Some(b"a-much-longer-replacement-kms-key-name".as_slice())
    );
    assert_ne!(old_key_id, b"a-much-longer-replacement-kms-key-name");
    let order: Vec<String> = sys_keys(&after);
    assert_eq!(order, sys_order);
    let (h_old, h_new) = (xl.versions()[k].header(), new.versions()[k].header());
    assert_eq!(
        new.versions()[k].meta().unwrap().signature().unwrap(),
        h_new.signature
    );
    assert_ne!(h_old.signature, h_new.signature);
    assert_eq!(
        (
            h_old.version_id,
            h_old.mod_time,
            h_old.vtype,
            h_old.flags,
            h_old.ec_m,
            h_old.ec_n
        ),
        (
            h_new.version_id,
            h_new.mod_time,
            h_new.vtype,
            h_new.flags,
            h_new.ec_m,
            h_new.ec_n
        )
    );
    // Apart from the edited entry the object is unchanged.
    let mut expect = before.clone();
    expect.set_meta_sys(KEY, b"a-much-longer-replacement-kms-key-name");
    assert_eq!(after, expect);

    // Reverting the edit restores the original bytes exactly (msgp-exact encoder).
    let mut back = new.clone();
    back.edit_object(k, |o| {
        o.set_meta_sys(KEY, &old_key_id);
        Ok(())
    })
    .unwrap();
    assert_eq!(back.encode().unwrap(), orig);
}

#[test]
fn every_sample_version_reencodes_to_its_stored_bytes_when_unchanged() {
    // Re-encoding a version that was not changed must reproduce MinIO's
    // bytes, except where MinIO itself normalises ([""] ETags → nil, no `v`).
    for (name, bytes) in all_samples() {
        let xl = XlMeta::parse(&bytes).unwrap();
        for (i, v) in xl.versions().iter().enumerate() {
            let meta = v.meta().unwrap();
            let VersionBody::Object(o) = &meta.body else {
                continue;
            };
            let mut out = Vec::new();
            o.encode_version(meta.written_by_version, &mut out).unwrap();
            let normalised = o
                .part_etags
                .as_ref()
                .is_some_and(|t| t.iter().all(|e| e.is_empty()));
            if meta.has_written_by_version && !normalised {
                assert_eq!(out, v.meta_bytes(), "{name} v{i}");
            }
            let back = xlmeta::VersionMeta::decode(&out).unwrap();
            assert_eq!(
                back.signature().unwrap(),
                v.header().signature,
                "{name} v{i}"
            );
        }
    }
}

#[test]
fn legacy_container_edit_upgrades_to_1_3() {
    for (name, bytes) in [
        ("xl.meta", minio_file("xl.meta")),
        ("v1.2", zstd_file("xl.meta-v1.2.zst")),
        (
            "disk1",
            zip_xlmetas("xl-meta-inline-notinline.zip").remove(0).1,
        ),
    ] {
        let mut xl = XlMeta::parse(&bytes).unwrap();
        let n = xl.versions().len();
        let before: Vec<_> = (0..n).map(|i| xl.object(i).unwrap().into_owned()).collect();
        xl.edit_object(n - 1, |o| {
            o.set_meta_usr("content-type", "application/x-edited");
            Ok(())
        })
        .unwrap();
        let out = xl.encode().unwrap();
        let up = XlMeta::parse(&out).unwrap();
        up.verify().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(up.container_version(), (1, 3), "{name}");
        assert_eq!((up.header_version(), up.meta_version()), (3, 3), "{name}");
        assert_eq!(up.versions().len(), n);
        for (i, want) in before.iter().enumerate() {
            let o = up.object(i).unwrap();
            if i == n - 1 {
                assert_eq!(o.meta_usr("content-type"), Some("application/x-edited"));
            } else {
                assert_eq!(&o, want, "{name} v{i}");
                // Untouched metas are kept verbatim.
                assert_eq!(up.versions()[i].meta_bytes(), xl.versions()[i].meta_bytes());
            }
        }
        assert_eq!(
            up.inline_data(),
            &xlmeta::InlineData::decode(&out[out.len() - xl_inline_len(&xl)..]).unwrap()
        );
    }
}

fn xl_inline_len(xl: &XlMeta<'_>) -> usize {
    let mut v = Vec::new();
    xl.inline_data().encode(&mut v).unwrap();
    v.len()
}

#[test]
fn inline_data_replace_keeps_other_entries_verbatim() {
    let (_, bytes) = zip_xlmetas("xl-meta-merge.zip").remove(0);
    let mut xl = XlMeta::parse(&bytes).unwrap();
    assert_eq!(xl.versions().len(), 2);
    let other = xl.version_inline_data(1).unwrap().unwrap().to_vec();
    let keys: Vec<String> = xl.inline_data().keys().map(str::to_owned).collect();
    xl.set_version_inline_data(0, Some(vec![7; 300])).unwrap();
    let out = xl.encode().unwrap();
    let new = XlMeta::parse(&out).unwrap();
    new.verify().unwrap();
    assert_eq!(
        new.version_inline_data(0).unwrap(),
        Some(vec![7u8; 300].as_slice())
    );
    assert_eq!(new.version_inline_data(1).unwrap(), Some(other.as_slice()));
    assert_eq!(
        new.inline_data()
            .keys()
            .map(str::to_owned)
            .collect::<Vec<_>>(),
        keys
    );
    // The metadata body is untouched: only the inline section changed.
    let body_end = 13 + u32::from_be_bytes(bytes[9..13].try_into().unwrap()) as usize + 5;
    assert_eq!(out[..body_end], bytes[..body_end]);

    // Removing both entries leaves no section at all (not `01 80`) and
    // clearing the inline key changes the flags.
    let mut xl = XlMeta::parse(&bytes).unwrap();
    for i in 0..2 {
        xl.set_version_inline_data(i, None).unwrap();
        xl.edit_object(i, |o| {
            assert!(o.remove_meta_sys("x-minio-internal-inline-data"));
            Ok(())
        })
        .unwrap();
    }
    let out = xl.encode().unwrap();
    let new = XlMeta::parse(&out).unwrap();
    new.verify().unwrap();
    assert_eq!(
        out.len(),
        13 + u32::from_be_bytes(out[9..13].try_into().unwrap()) as usize + 5
    );
    assert_eq!(new.versions()[0].header().flags, FLAG_USES_DATA_DIR);
}

#[test]
fn edits_that_would_corrupt_are_refused() {
    let bytes = minio_file("xl-many-parts.meta");
    let mut xl = XlMeta::parse(&bytes).unwrap();
    let err = xl
        .edit_object(0, |o| {
            o.mod_time += 1;
            Ok(())
        })
        .unwrap_err();
    assert_eq!(
        err,
        Error::ImmutableField {
            index: 0,
            field: "MTime"
        }
    );
    let err = xl
        .edit_object(0, |o| {
            o.ec_index = 5;
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(
        err,
        Error::ImmutableField {
            field: "EcIndex",
            ..
        }
    ));
    assert!(matches!(
        xl.object(99),
        Err(Error::NoSuchVersion {
            index: 99,
            count: 7
        })
    ));
    assert!(!xl.is_modified());
    assert_eq!(xl.encode().unwrap(), bytes);
}

fn sample_object(id: u8, mod_time: i64, inline: bool) -> ObjectV2<'static> {
    let mut sys = vec![(
        Cow::Borrowed("X-Minio-Internal-actual-size"),
        Cow::Borrowed(b"5".as_slice()),
    )];
    if inline {
        sys.push((
            Cow::Borrowed("x-minio-internal-inline-data"),
            Cow::Borrowed(b"true".as_slice()),
        ));
    }
    ObjectV2 {
        version_id: [id; 16],
        data_dir: [0xdd; 16],
        ec_algo: 1,
        ec_m: 2,
        ec_n: 2,
        ec_block_size: 1 << 20,
        ec_index: 1,
        ec_dist: vec![1, 2, 3, 4],
        checksum_algo: 1,
        part_numbers: vec![1],
        part_etags: None,
        part_sizes: vec![5],
        part_actual_sizes: Some(vec![5]),
        part_indices: None,
        size: 5,
        mod_time,
        meta_sys: Some(sys),
        meta_usr: Some(vec![(
            Cow::Borrowed("etag"),
            Cow::Borrowed("5d41402abc4b2a76b9719d911017c592"),
        )]),
    }
}

#[test]
fn unknown_keys_are_detected_and_block_reencoding() {
    let mut b = XlMetaBuilder::new();
    b.add_object(&sample_object(1, 1_000, false), 1_770_854_400, None)
        .unwrap();
    let file = b.build().unwrap();
    // Splice an unknown V2Obj key in by rewriting the meta by hand: bump the
    // map16 count and append `a3 "Foo" 01` after the last field.
    let xl = XlMeta::parse(&file).unwrap();
    let mut meta = xl.versions()[0].meta_bytes().to_vec();
    let at = meta
        .windows(3)
        .position(|w| w == [0xde, 0x00, 0x11])
        .unwrap();
    meta[at + 2] = 0x12;
    let v_at = meta.windows(2).rposition(|w| w == [0xa1, b'v']).unwrap();
    meta.splice(v_at..v_at, [0xa3, b'F', b'o', b'o', 0x01]);
    let decoded = xlmeta::VersionMeta::decode(&meta).unwrap();
    assert_eq!(decoded.unknown_keys, ["V2Obj.Foo"]);
    // Rebuild a file carrying that meta and check the edit API refuses it.
    let mut hdr = Vec::new();
    xl.versions()[0].header().encode(3, &mut hdr).unwrap();
    let mut body = vec![3, 3, 1];
    xlmeta::msgp::write_bin(&mut body, &hdr).unwrap();
    xlmeta::msgp::write_bin(&mut body, &meta).unwrap();
    let mut f = b"XL2 \x01\x00\x03\x00".to_vec();
    xlmeta::msgp::write_bin(&mut f, &body).unwrap();
    f.push(0xce);
    f.extend_from_slice(&xlmeta::container::body_crc(&body).to_be_bytes());
    let mut xl = XlMeta::parse(&f).unwrap();
    assert!(xl.has_unknown_keys(0).unwrap());
    let err = xl.edit_object(0, |_| Ok(())).unwrap_err();
    assert!(matches!(err, Error::UnknownKeys { index: 0, .. }), "{err}");
}

#[test]
fn build_from_scratch() {
    let mut b = XlMetaBuilder::new();
    let older = sample_object(1, 1_000, false);
    let newer = sample_object(2, 3_000, true);
    b.add_object(&older, 1_770_854_400, None).unwrap();
    b.add_object(&newer, 1_770_854_400, Some(b"shard".to_vec()))
        .unwrap();
    let marker = DeleteMarker {
        version_id: [3; 16],
        mod_time: 2_000,
        meta_sys: Some(Vec::new()),
    };
    b.add_delete_marker(&marker, 1_770_854_400).unwrap();
    assert_eq!(b.len(), 3);
    let out = b.build().unwrap();
    let xl = XlMeta::parse(&out).unwrap();
    xl.verify().unwrap();
    assert_eq!(
        (
            xl.container_version(),
            xl.header_version(),
            xl.meta_version()
        ),
        ((1, 3), 3, 3)
    );
    let order: Vec<_> = xl
        .versions()
        .iter()
        .map(|v| (v.header().version_id[0], v.header().vtype))
        .collect();
    assert_eq!(
        order,
        [
            (2, VersionType::Object),
            (3, VersionType::Delete),
            (1, VersionType::Object)
        ]
    );
    assert_eq!(
        xl.versions()[0].header().flags,
        FLAG_USES_DATA_DIR | FLAG_INLINE_DATA
    );
    assert_eq!(xl.versions()[1].header().flags, 0);
    assert_eq!(
        (
            xl.versions()[2].header().ec_m,
            xl.versions()[2].header().ec_n
        ),
        (2, 2)
    );
    assert_eq!(xl.object(0).unwrap(), newer);
    assert_eq!(xl.object(2).unwrap(), older);
    assert_eq!(
        xl.version_inline_data(0).unwrap(),
        Some(b"shard".as_slice())
    );
    assert_eq!(xl.version_inline_data(2).unwrap(), None);
    let VersionBody::Delete(d) = xl.versions()[1].meta().unwrap().body else {
        panic!()
    };
    assert_eq!(d, marker);
    // Delete marker meta as MinIO writes it: 83 Type 02 DelObj {ID, MTime, MetaSys 80} v.
    assert!(xl.versions()[1]
        .meta_bytes()
        .starts_with(b"\x83\xa4Type\x02\xa6DelObj\x83\xa2ID\xc4\x10"));
    // Re-adding the same id replaces the version.
    b.add_object(&sample_object(1, 1_000, false), 1, None)
        .unwrap();
    assert_eq!(b.len(), 3);
    // Invalid inputs are refused.
    let mut bad = sample_object(4, 5, false);
    bad.ec_n = 3;
    assert!(matches!(
        b.add_object(&bad, 0, None),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        b.add_object(&sample_object(5, 5, false), 0, Some(vec![1])),
        Err(Error::InvalidInput(_))
    ));
    let dm0 = DeleteMarker {
        mod_time: 0,
        ..marker
    };
    assert!(b.add_delete_marker(&dm0, 0).is_err());
}

/// Rewrites the meta version byte of a builder-made 1.3 file and fixes the CRC.
fn with_meta_version(mut file: Vec<u8>, meta_version: u8) -> Vec<u8> {
    assert_eq!(file[13..15], [3, 3]);
    file[14] = meta_version;
    let len = u32::from_be_bytes(file[9..13].try_into().unwrap()) as usize;
    let crc = xlmeta::container::body_crc(&file[13..13 + len]);
    file[14 + len..18 + len].copy_from_slice(&crc.to_be_bytes());
    file
}

#[test]
fn upgrade_applies_minio_load_fixups() {
    const TS: &str = "x-minio-internal-replication-timestamp";
    let marker = DeleteMarker {
        version_id: [9; 16],
        mod_time: 5_000,
        meta_sys: Some(vec![(
            Cow::Borrowed(TS),
            Cow::Borrowed(b"2021-06-01T12:00:00.5+02:00".as_slice()),
        )]),
    };
    let mut compressed = sample_object(8, 4_000, false);
    compressed.meta_sys.as_mut().unwrap().push((
        Cow::Borrowed("X-Minio-Internal-compression"),
        Cow::Borrowed(b"klauspost/compress/s2".as_slice()),
    ));
    compressed.part_indices = Some(vec![Cow::Borrowed(b"index".as_slice())]);
    let mut b = XlMetaBuilder::new();
    b.add_delete_marker(&marker, 1_600_000_000).unwrap();
    b.add_object(&compressed, 1_710_000_000, None).unwrap();
    let v3 = b.build().unwrap();

    // Meta version 3: nothing to repair, strategy B keeps every meta verbatim.
    let xl = XlMeta::parse(&v3).unwrap();
    assert_eq!(xl.encode_upgraded().unwrap(), v3);

    // Meta version 1: both repairs apply.
    let v1 = with_meta_version(v3.clone(), 1);
    let xl = XlMeta::parse(&v1).unwrap();
    assert_eq!(xl.meta_version(), 1);
    let up = xl.encode_upgraded().unwrap();
    let back = XlMeta::parse(&up).unwrap();
    back.verify().unwrap();
    assert_eq!(back.meta_version(), 3);
    let VersionBody::Delete(d) = back.versions()[0].meta().unwrap().body else {
        panic!()
    };
    assert_eq!(d.meta_sys.unwrap()[0].1.as_ref(), b"2021-06-01T10:00:00.5Z");
    assert_ne!(
        back.versions()[0].header().signature,
        xl.versions()[0].header().signature
    );
    let o = back.object(1).unwrap();
    assert_eq!(
        o.part_indices, None,
        "index of a 1 MiB part written by an affected release is dropped"
    );
    assert!(!back.versions()[1]
        .meta_bytes()
        .windows(7)
        .any(|w| w == b"PartIdx"));

    // Meta version 2: only the compression index repair applies.
    let v2 = with_meta_version(v3.clone(), 2);
    let up2 = XlMeta::parse(&v2).unwrap().encode_upgraded().unwrap();
    let back = XlMeta::parse(&up2).unwrap();
    back.verify().unwrap();
    assert_eq!(
        back.versions()[0].meta_bytes(),
        XlMeta::parse(&v3).unwrap().versions()[0].meta_bytes()
    );
    assert_eq!(back.object(1).unwrap().part_indices, None);

    // Strategy A (an edit) keeps the meta version and leaves the repairs to MinIO.
    let mut xl = XlMeta::parse(&v1).unwrap();
    xl.edit_object(1, |o| {
        o.set_meta_usr("x", "y");
        Ok(())
    })
    .unwrap();
    let edited = xl.encode().unwrap();
    let a = XlMeta::parse(&edited).unwrap();
    assert_eq!(a.meta_version(), 1);
    assert_eq!(
        a.versions()[0].meta_bytes(),
        XlMeta::parse(&v1).unwrap().versions()[0].meta_bytes()
    );
}

#[test]
fn legacy_delete_marker_header_uses_utc_timestamps() {
    const TS: &str = "x-minio-internal-replica-timestamp";
    let local = DeleteMarker {
        version_id: [9; 16],
        mod_time: 5_000,
        meta_sys: Some(vec![(
            Cow::Borrowed(TS),
            Cow::Borrowed(b"2021-06-01T12:00:00+02:00".as_slice()),
        )]),
    };
    let utc = DeleteMarker {
        meta_sys: Some(vec![(
            Cow::Borrowed(TS),
            Cow::Borrowed(b"2021-06-01T10:00:00Z".as_slice()),
        )]),
        ..local.clone()
    };
    // A 1.2 container: bin({"Versions": [meta]}) + CRC.
    let mut meta = Vec::new();
    local.encode_version(0, &mut meta).unwrap();
    let mut body = vec![0x81, 0xa8];
    body.extend_from_slice(b"Versions");
    body.push(0x91);
    body.extend_from_slice(&meta);
    let mut file = b"XL2 \x01\x00\x02\x00".to_vec();
    xlmeta::msgp::write_bin(&mut file, &body).unwrap();
    xlmeta::msgp::write_uint(&mut file, u64::from(xlmeta::container::body_crc(&body)));
    let xl = XlMeta::parse(&file).unwrap();
    xl.verify().unwrap();
    assert_eq!(
        xl.versions()[0].header().signature,
        xlmeta::signature::delete_signature(&utc).unwrap()
    );
    assert_ne!(
        xl.versions()[0].header().signature,
        xlmeta::signature::delete_signature(&local).unwrap()
    );
    assert_eq!(
        xl.versions()[0].meta_bytes(),
        meta.as_slice(),
        "meta bytes stay verbatim"
    );
}

/// A version read from a drive may repeat a `MetaSys` or `MetaUsr` key (the
/// `rotate_edit` fuzzer found one repeating the KMS key id). MinIO reads the
/// last copy, so a set must replace every copy, not only the first.
#[test]
fn set_replaces_every_copy_of_a_repeated_key() {
    const KEY_ID: &str = "X-Minio-Internal-Server-Side-Encryption-S3-Kms-Key-Id";
    let raw = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/fuzz/repeated-sys-key.xl.meta"
    ))
    .unwrap();
    let xl = XlMeta::parse(&raw).unwrap();
    let i = (0..xl.versions().len())
        .find(|&i| xl.object(i).is_ok())
        .unwrap();
    let copies = |o: &ObjectV2<'_>| sys_keys(o).iter().filter(|k| *k == KEY_ID).count();
    assert_eq!(
        copies(&xl.object(i).unwrap()),
        2,
        "the input repeats the key"
    );
    assert_eq!(
        xl.object(i).unwrap().meta_sys(KEY_ID),
        Some(&b"c2VhbGVk"[..])
    );

    let mut edited = xl.clone();
    edited
        .edit_object(i, |o| {
            o.set_meta_sys(KEY_ID, b"rotated-key");
            o.meta_usr = Some(vec![
                (Cow::Borrowed("x-amz-meta-a"), Cow::Borrowed("1")),
                (Cow::Borrowed("x-amz-meta-a"), Cow::Borrowed("2")),
            ]);
            o.set_meta_usr("x-amz-meta-a", "3");
            Ok(())
        })
        .unwrap();
    let out = edited.encode().unwrap();
    let back = XlMeta::parse(&out).unwrap();
    let o = back.object(i).unwrap();
    assert_eq!(copies(&o), 2, "no copy removed: other bytes stay as stored");
    assert!(o
        .meta_sys
        .iter()
        .flatten()
        .filter(|(k, _)| k == KEY_ID)
        .all(|(_, v)| v.as_ref() == b"rotated-key"));
    assert_eq!(o.meta_sys(KEY_ID), Some(&b"rotated-key"[..]));
    assert_eq!(o.meta_usr("x-amz-meta-a"), Some("3"));
    assert!(o.meta_usr.iter().flatten().all(|(_, v)| v == "3"));
}
