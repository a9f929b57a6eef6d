//! Compressed plaintext fixtures (`FixtureSpec::compressed_every`) and
//! `keyrotate run` on them (issue 21): every stored part of a compressed
//! version is an S2 stream that the test-only decoder (written from the
//! format's description) decompresses to its manifest part sizes and digest,
//! smaller than its plaintext; after an "encrypt and rotate everything" job
//! every version is SSE-KMS, still compressed with its actual sizes kept, and
//! reads back (decrypt, then decompress) to its manifest digest.

use std::path::{Path, PathBuf};

use engine::erasure::set::{locate_version, LocatedVersion};
use engine::fixture::{build_with_sizes, FixtureSpec, Mix, SizeClass, DEFAULT_KMS_SECRET_KEY};
use engine::sse::{Classification, CryptoEntries, SseType};
use kms_client::{StaticKey, StaticKms};
use serde_json::Value;
use sha2::{Digest, Sha256};

#[path = "common/readback.rs"]
mod readback;
#[path = "common/runs.rs"]
mod runs;
use readback::s2;

const KIB: u64 = 1024;
const MIB: u64 = 1 << 20;

/// Version `e` as stored: its located layout and the stored bytes.
fn locate(drives: &[PathBuf], e: &Value) -> (LocatedVersion, Vec<u8>) {
    let all: Vec<Option<&Path>> = drives.iter().map(|d| Some(d.as_path())).collect();
    let vid = runs::version_bytes(e["version_id"].as_str().unwrap_or(""));
    let located = locate_version(
        &all,
        e["bucket"].as_str().unwrap(),
        e["object"].as_str().unwrap(),
        vid,
    )
    .unwrap();
    let stored = readback::decode(&located, &[], None);
    (located, stored)
}

/// What a version's metadata says of compression and encryption.
#[derive(Debug)]
struct Meta {
    compression: Option<String>,
    actual_size: Option<String>,
    part_actual_sizes: Vec<i64>,
    /// SSE type and KMS key name.
    sse: Option<(SseType, String)>,
}

fn meta_of(located: &LocatedVersion, e: &Value) -> Meta {
    let vid = runs::version_bytes(e["version_id"].as_str().unwrap_or(""));
    let x = xlmeta::XlMeta::parse(&located.xl_meta).unwrap();
    let i = x
        .versions()
        .iter()
        .position(|v| v.header().version_id == vid)
        .unwrap();
    let o = x.object(i).unwrap();
    let sys: Vec<(String, Vec<u8>)> = o
        .meta_sys
        .iter()
        .flatten()
        .map(|(k, v)| (k.to_string(), v.to_vec()))
        .collect();
    let get = |name: &str| {
        sys.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    };
    let sse = match CryptoEntries::from_sys(sys.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
        .classify()
    {
        Classification::Plaintext => None,
        Classification::SseS3(p) | Classification::SseKms(p) => Some((
            p.ty,
            p.kms
                .map(|k| k.key_id.as_str().to_owned())
                .unwrap_or_default(),
        )),
        other => panic!("{}: {other:?}", e["object"]),
    };
    Meta {
        compression: get("X-Minio-Internal-compression"),
        actual_size: get("X-Minio-Internal-actual-size"),
        part_actual_sizes: o.part_actual_sizes.clone().unwrap_or_default(),
        sse,
    }
}

#[test]
fn compressed_plaintext_fixture_encrypts_and_reads_back() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("fx");
    // Inline and part-file sizes, below MinIO's 4 KiB minimum, across S2's
    // 1 MiB blocks; every third object multipart, every other one text.
    let sizes = [
        0,
        5000,
        1000,
        12 * KIB,
        100 * KIB,
        MIB,
        MIB + 1,
        2 * MIB + 12345,
        300 * KIB,
        3 * MIB + 7,
        64 * KIB,
        5 * MIB / 2,
    ];
    let spec = FixtureSpec {
        drives: 4,
        parity: 2,
        objects: 24,
        mix: Mix {
            plain: 3,
            sse_s3: 0,
            sse_kms: 1,
            sse_c: 0,
        },
        versions: 2,
        multipart_every: Some(3),
        sizes: SizeClass::Small,
        compressed_every: Some(2),
        seed: 21,
        ..FixtureSpec::default()
    };
    build_with_sizes(&root, &spec, engine::fixture::FixtureKms::Default, &sizes).unwrap();
    let m = runs::manifest(&root);
    let drives = runs::drives(&root, 4);
    let versions: Vec<Value> = m["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["bucket"] == "fixture" && e["delete_marker"] != true)
        .cloned()
        .collect();

    // Before: each compressed part decodes on its own to its manifest size,
    // the whole to the manifest digest; text compresses at least 2×.
    let (mut compressed, mut multipart, mut inline) = (0, 0, 0);
    let (mut plain_bytes, mut stored_bytes) = (0u64, 0u64);
    for e in &versions {
        let name = format!("{} {}", e["object"], e["version_id"]);
        let (located, stored) = locate(&drives, e);
        let Meta {
            compression: comp,
            actual_size: actual,
            part_actual_sizes: part_actual,
            sse,
        } = meta_of(&located, e);
        assert_eq!(comp.is_some(), e["compressed"] == true, "{name}");
        if e["compressed"] != true {
            continue;
        }
        assert!(sse.is_none(), "{name}");
        assert_eq!(comp.as_deref(), Some("klauspost/compress/s2"), "{name}");
        let size = e["plaintext_size"].as_u64().unwrap();
        assert_eq!(actual, Some(size.to_string()), "{name}");
        let parts: Vec<u64> = serde_json::from_value(e["parts"].clone()).unwrap();
        assert_eq!(
            part_actual,
            parts.iter().map(|&p| p as i64).collect::<Vec<_>>(),
            "{name}"
        );
        let mut whole = Vec::new();
        let mut off = 0usize;
        for (&(_, len), &want) in located.layout.parts.iter().zip(&parts) {
            let part = &stored[off..off + len as usize];
            off += len as usize;
            let plain = s2::decompress(part).unwrap_or_else(|err| panic!("{name}: {err}"));
            assert_eq!(plain.len() as u64, want, "{name}");
            whole.extend(plain);
        }
        assert_eq!(
            hex::encode(Sha256::digest(&whole)),
            e["plaintext_sha256"].as_str().unwrap(),
            "{name}"
        );
        compressed += 1;
        multipart += usize::from(parts.len() > 1);
        inline += usize::from(e["inline"] == true);
        plain_bytes += size;
        stored_bytes += stored.len() as u64;
    }
    assert!(
        compressed >= 12 && multipart >= 2 && inline >= 2,
        "{compressed} {multipart} {inline}"
    );
    assert!(
        stored_bytes * 2 < plain_bytes,
        "{stored_bytes} stored of {plain_bytes}"
    );
    // The readback every fixture test uses agrees (stored sizes, digests).
    readback::verify_deployment(&root, false);

    // Encrypt and rotate everything under the fixture's KMS key.
    let job = runs::write_job(&root, "fixture", "");
    let (code, summary, out) =
        runs::run(&job, &drives, &root.join("state"), DEFAULT_KMS_SECRET_KEY);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code, 0, "{summary}\n{stderr}");
    assert_eq!(summary["status"], "completed", "{summary}");
    assert_eq!(summary["plaintextLeft"], serde_json::json!({}), "{summary}");
    let plain_versions = versions.iter().filter(|e| e["sse"] == "").count();
    assert_eq!(summary["objectsEncrypted"], plain_versions, "{summary}");
    assert_eq!(runs::staging_left(&drives), 0);

    // After: SSE-KMS under the key, compression and actual sizes kept, and
    // decrypt-then-decompress gives the manifest digest.
    let kms = StaticKms::new(
        StaticKey::parse(DEFAULT_KMS_SECRET_KEY).unwrap(),
        Vec::new(),
    );
    let key_name = DEFAULT_KMS_SECRET_KEY.split(':').next().unwrap();
    for e in &versions {
        let name = format!("{} {}", e["object"], e["version_id"]);
        let (located, stored) = locate(&drives, e);
        let Meta {
            compression: comp,
            actual_size: actual,
            part_actual_sizes: part_actual,
            sse,
        } = meta_of(&located, e);
        assert_eq!(sse, Some((SseType::Kms, key_name.to_owned())), "{name}");
        assert_eq!(comp.is_some(), e["compressed"] == true, "{name}");
        let parts: Vec<i64> = serde_json::from_value(e["parts"].clone()).unwrap();
        assert_eq!(part_actual, parts, "{name}");
        if e["compressed"] == true {
            assert_eq!(actual, Some(e["plaintext_size"].to_string()), "{name}");
        }
        let mut now = e.clone();
        now["sse"] = "SSE-KMS".into();
        now.as_object_mut().unwrap().remove("stored_size");
        assert!(
            readback::check_plaintext(&now, &located, &stored, Some(&kms)),
            "{name}"
        );
    }
    let (v, problems) = runs::verify_data(&drives, DEFAULT_KMS_SECRET_KEY);
    assert_eq!(v["plaintext"], 0, "{v}");
    assert!(problems.is_empty(), "{problems:?}");
}
