//! `keyrotate run` on the object-features set (testdata/drivesets/
//! ds-4drives-ec2-features, written by MinIO's own code with compression
//! and S3 checksums on): every version is read as a client would (decrypt,
//! decompress, checksums, ETag) and checked against its manifest before and
//! after an "encrypt and rotate everything" job, and ranged reads through
//! each compression index (MinIO's seek path) match the whole read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use engine::erasure::set::locate_version;
use engine::erasure::stream::read_object;
use engine::sse::dare::{self, Decryptor, HEADER_SIZE, MAX_PACKAGE, MAX_PAYLOAD, TAG_SIZE};
use engine::sse::metadata::minio_reads_per_part;
use engine::sse::{Classification, CryptoEntries, ObjectKey, SecretKey, SseType};
use kms_client::{Kms, PlaintextKey};
use serde_json::Value;
use sha2::{Digest, Sha256};

#[path = "common/runs.rs"]
mod runs;
#[path = "common/s2.rs"]
mod s2;
use runs::*;

const SET: &str = "ds-4drives-ec2-features";
const KEY: &str = "feat-key:jYwz6Ohezz1su1EtxzkfbIL2L9QM29BPTi8mLuMr7rU=";

fn kms() -> std::sync::Arc<dyn Kms> {
    kms_client::config::KmsConfig::from_lookup(
        &|n: &str| (n == "MINIO_KMS_SECRET_KEY").then(|| KEY.to_owned()),
        None,
    )
    .unwrap()
    .build()
    .unwrap()
}

/// One version as a client sees it, plus how it is stored.
#[derive(Debug)]
struct View {
    plaintext: Vec<u8>,
    etag: String,
    checksums: BTreeMap<String, String>,
    compressed: bool,
    /// SSE type and KMS key name (`None` for plaintext).
    sse: Option<(SseType, String)>,
    part_actual_sizes: Vec<i64>,
    /// Ranged reads through the compression indexes that were compared.
    indexed_reads: usize,
}

/// Decrypts a whole DARE stream (nothing for an empty one, as MinIO stores
/// zero bytes).
fn open_all(key: &SecretKey, ct: &[u8]) -> Vec<u8> {
    if ct.is_empty() {
        return Vec::new();
    }
    dare::decrypt(key, ct).unwrap()
}

/// Opens a DARE stream that starts at package `seq` of its part.
fn dare_open_from(key: &SecretKey, mut ct: &[u8], seq: u32) -> Vec<u8> {
    let mut d = Decryptor::new(key).with_sequence(seq);
    let mut out = Vec::new();
    while !ct.is_empty() {
        let header: [u8; HEADER_SIZE] = ct[..HEADER_SIZE].try_into().unwrap();
        let len = d.check_header(&header).unwrap();
        let mut payload = ct[HEADER_SIZE..HEADER_SIZE + len].to_vec();
        let tag: [u8; TAG_SIZE] = ct[HEADER_SIZE + len..HEADER_SIZE + len + TAG_SIZE]
            .try_into()
            .unwrap();
        d.open(&header, &mut payload, &tag).unwrap();
        out.extend(payload);
        ct = &ct[HEADER_SIZE + len + TAG_SIZE..];
    }
    out
}

/// Reads version `e` of the manifest from the drives as MinIO's GET would.
fn view(drives: &[PathBuf], e: &Value, kms: &dyn Kms) -> View {
    let bucket = e["bucket"].as_str().unwrap();
    let object = e["object"].as_str().unwrap();
    let name = format!("{bucket}/{object}");
    let vid = version_bytes(e["version_id"].as_str().unwrap_or(""));
    let all: Vec<Option<&Path>> = drives.iter().map(|d| Some(d.as_path())).collect();
    let located = locate_version(&all, bucket, object, vid).unwrap();
    let mut stored = Vec::new();
    read_object(&located.layout, &located.locations, &mut stored).unwrap();
    let x = xlmeta::XlMeta::parse(&located.xl_meta).unwrap();
    let i = x
        .versions()
        .iter()
        .position(|v| v.header().version_id == vid)
        .unwrap();
    let o = x.object(i).unwrap();
    let sys: BTreeMap<String, Vec<u8>> = o
        .meta_sys
        .iter()
        .flatten()
        .map(|(k, v)| (k.to_string(), v.to_vec()))
        .collect();
    let stored_etag = o.meta_usr("etag").unwrap_or("").to_owned();
    let compressed = sys.contains_key("X-Minio-Internal-compression");
    let (oek, parsed): (Option<ObjectKey>, _) =
        match CryptoEntries::from_sys(sys.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
            .classify()
        {
            Classification::Plaintext => (None, None),
            Classification::SseS3(p)
            | Classification::SseKms(p)
            | Classification::SseC(Some(p)) => {
                let ext = if p.ty == SseType::C {
                    let key = hex::decode(e["ssec_key_hex"].as_str().unwrap()).unwrap();
                    PlaintextKey::from_slice(&key).unwrap()
                } else {
                    let req = p.unwrap_request(bucket, object).unwrap();
                    kms.decrypt(&req.key_id, &req.ciphertext, &req.context)
                        .unwrap_or_else(|err| panic!("{name}: {err}"))
                };
                (Some(p.unseal(&ext, bucket, object).unwrap()), Some(p))
            }
            other => panic!("{name}: {other:?}"),
        };
    let part_sizes: Vec<u64> = located.layout.parts.iter().map(|p| p.1).collect();
    // The stored stream of each part, decrypted (still compressed if so).
    let per_part = parsed
        .as_ref()
        .is_some_and(|p| minio_reads_per_part(p.multipart, &stored_etag, &part_sizes));
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let mut off = 0usize;
    for &(_, size) in &located.layout.parts {
        parts.push(stored[off..off + size as usize].to_vec());
        off += size as usize;
    }
    let decrypted: Vec<Vec<u8>> = match &oek {
        None => parts.clone(),
        Some(k) if per_part => located
            .layout
            .parts
            .iter()
            .zip(&parts)
            .map(|((n, _), p)| open_all(&k.part_key(*n), p))
            .collect(),
        Some(k) => vec![open_all(k.data_key(), &stored)],
    };
    let plain_parts: Vec<Vec<u8>> = if compressed {
        decrypted
            .iter()
            .map(|p| s2::decompress(p).unwrap_or_else(|err| panic!("{name}: {err}")))
            .collect()
    } else {
        decrypted.clone()
    };
    let plaintext: Vec<u8> = plain_parts.concat();

    // Ranged reads as MinIO seeks them: index → (compressed, uncompressed)
    // chunk start; encrypted, the DARE stream resumes at that chunk's
    // package with its sequence number.
    let mut indexed_reads = 0;
    let indexes = o.part_indices.clone().unwrap_or_default();
    let mut part_start = 0usize;
    for (pi, idx) in indexes.iter().enumerate() {
        let plain_len = plain_parts.get(pi).map_or(0, Vec::len);
        if !idx.is_empty() {
            let idx = match &oek {
                Some(k) => dare::decrypt(&k.compression_index_key(), idx).unwrap(),
                None => idx.to_vec(),
            };
            let index = s2::Index::parse(&idx).unwrap_or_else(|err| panic!("{name}: {err}"));
            assert_eq!(index.total_uncompressed as usize, plain_len, "{name}");
            for at in [plain_len / 2, plain_len * 3 / 4 + 12345, plain_len - 1000] {
                let (c_off, u_off) = index.find(at as i64);
                assert!(c_off > 0 && u_off > 0, "{name}: the index is not used");
                let (c_off, u_off) = (c_off as usize, u_off as usize);
                let chunks = match &oek {
                    None => parts[pi][c_off..].to_vec(),
                    Some(k) => {
                        let (seq, skip) = (c_off / MAX_PAYLOAD, c_off % MAX_PAYLOAD);
                        let key = if per_part {
                            k.part_key(located.layout.parts[pi].0)
                        } else {
                            SecretKey::new(*k.data_key().expose())
                        };
                        let opened =
                            dare_open_from(&key, &parts[pi][seq * MAX_PACKAGE..], seq as u32);
                        opened[skip..].to_vec()
                    }
                };
                let tail = s2::decompress_from(&chunks, false).unwrap();
                let want = &plaintext[part_start + at..part_start + plain_len];
                assert_eq!(&tail[at - u_off..], want, "{name}: range from {at}");
                indexed_reads += 1;
            }
        }
        part_start += plain_len;
    }

    let checksums = match sys.get("x-minio-internal-crc") {
        None => BTreeMap::new(),
        Some(blob) => match &oek {
            None => s2::read_checksums(blob),
            Some(k) => s2::read_checksums(&dare::decrypt(&k.checksum_key(), blob).unwrap()),
        },
    };
    // The ETag a client sees (CRYPTO.md §4.7).
    let etag = if stored_etag.len() == 32 || stored_etag.contains('-') {
        stored_etag.clone()
    } else {
        match (&parsed, &oek) {
            (Some(p), Some(k)) if p.ty == SseType::S3 => hex::encode(
                engine::sse::etag::unseal_etag(k, &hex::decode(&stored_etag).unwrap()).unwrap(),
            ),
            _ => stored_etag[stored_etag.len().saturating_sub(32)..].to_owned(),
        }
    };
    View {
        plaintext,
        etag,
        checksums,
        compressed,
        sse: parsed.map(|p| {
            let key = p
                .kms
                .map(|k| k.key_id.as_str().to_owned())
                .unwrap_or_default();
            (p.ty, key)
        }),
        part_actual_sizes: o.part_actual_sizes.clone().unwrap_or_default(),
        indexed_reads,
    }
}

/// Reads every version and checks it against its manifest entry.
fn check_all(drives: &[PathBuf], m: &Value, kms: &dyn Kms) -> BTreeMap<String, View> {
    let mut out = BTreeMap::new();
    let mut indexed = 0;
    for e in m["objects"].as_array().unwrap() {
        if e["delete_marker"].as_bool() == Some(true) {
            continue;
        }
        let name = format!("{} {}", e["object"], e["version_id"]);
        let v = view(drives, e, kms);
        assert_eq!(
            hex::encode(Sha256::digest(&v.plaintext)),
            e["plaintext_sha256"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(v.compressed, e["compressed"].as_bool().unwrap(), "{name}");
        let want: BTreeMap<String, String> =
            serde_json::from_value(e["checksums"].clone()).unwrap();
        assert_eq!(v.checksums, want, "{name}: client-visible checksums");
        if e["compression_index"].as_bool() == Some(true) {
            assert!(v.indexed_reads > 0, "{name}: no compression index");
        }
        indexed += v.indexed_reads;
        out.insert(name, v);
    }
    assert_eq!(out.len(), 88);
    assert!(indexed >= 4 * 3 * 2, "only {indexed} indexed reads");
    out
}

#[test]
fn encrypt_and_rotate_everything_keeps_every_feature() {
    let (_tmp, root) = unpack(SET);
    let drives = drives(&root, 4);
    let m = manifest(&root);
    let kms = kms();
    let before = check_all(&drives, &m, kms.as_ref());

    let job = write_job(&root, "feat", "");
    let (code, summary, out) = run(&job, &drives, &root.join("state"), KEY);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code, 0, "{summary}\n{stderr}");
    assert_eq!(summary["status"], "completed", "{summary}");
    assert!(
        summary["failedByReason"].as_object().unwrap().is_empty(),
        "{summary}"
    );
    assert_eq!(summary["plaintextLeft"], serde_json::json!({}), "{summary}");
    assert_eq!(summary["objectsEncrypted"], 22, "{summary}");
    assert_eq!(summary["objectsConverted"], 22, "{summary}");
    assert_eq!(summary["objectsRotated"], 22, "{summary}");
    assert_eq!(summary["skippedByReason"], serde_json::json!({"ssec": 22}));
    assert_eq!(staging_left(&drives), 0);

    let after = check_all(&drives, &m, kms.as_ref());
    for (name, b) in &before {
        let a = &after[name];
        assert_eq!(a.etag, b.etag, "{name}: client-visible ETag");
        assert_eq!(a.checksums, b.checksums, "{name}: checksums");
        assert_eq!(a.compressed, b.compressed, "{name}: compression");
        assert_eq!(a.part_actual_sizes, b.part_actual_sizes, "{name}");
        assert_eq!(a.indexed_reads, b.indexed_reads, "{name}");
        match &b.sse {
            Some((SseType::C, _)) => assert_eq!(a.sse, b.sse, "{name}"),
            _ => assert_eq!(
                a.sse,
                Some((SseType::Kms, "feat-key".to_owned())),
                "{name}: not SSE-KMS under the target key"
            ),
        }
    }
    assert!(before
        .values()
        .any(|b| b.sse.is_none() && b.compressed && b.indexed_reads > 0));

    // keyrotate's own verify agrees: all drives consistent, every key opens.
    let (v, problems) = verify_data(&drives, KEY);
    assert_eq!(v["plaintext"], 0, "{v}");
    assert!(problems.is_empty(), "{problems:?}");
}

/// What a job leaves plaintext is counted per reason, in `--json` and in the
/// text summary; plaintext left under a lock still completes (exit 0), any
/// other reason (here a version whose data sits in a remote tier) does not.
#[test]
fn plaintext_left_is_counted_and_only_locks_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("fx");
    fixture(&root, 20, "plain=1,sse-kms=1", &["--locked-every", "3"]);
    let drives = drives(&root, 4);
    let m = manifest(&root);
    let plain: Vec<&Value> = m["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["bucket"] == "fixture" && e["sse"] == "" && e["delete_marker"] != true)
        .collect();
    let locked = plain.iter().filter(|e| e["locked"] == true).count();
    assert!(locked > 0 && plain.len() > locked + 1);

    // Locks alone: completed, exit 0, the locked plaintext named.
    let state = root.join("state");
    let job = write_job(&root, "fixture", "");
    let (code, s, _) = run(&job, &drives, &state, KEY1);
    assert_eq!(code, 0, "{s}");
    assert_eq!(s["plaintextLeft"], serde_json::json!({ "locked": locked }));

    // A fresh deployment where one unlocked plaintext version is tiered.
    let root = tmp.path().join("fx2");
    fixture(&root, 20, "plain=1,sse-kms=1", &["--locked-every", "3"]);
    let drives = runs::drives(&root, 4);
    let m = manifest(&root);
    let tiered = m["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["bucket"] == "fixture" && e["sse"] == "" && e["locked"] != true)
        .unwrap();
    let vid = version_bytes(tiered["version_id"].as_str().unwrap_or(""));
    for d in &drives {
        let p = d
            .join("fixture")
            .join(tiered["object"].as_str().unwrap())
            .join("xl.meta");
        let bytes = std::fs::read(&p).unwrap();
        let mut x = xlmeta::XlMeta::parse(&bytes).unwrap();
        let i = x
            .versions()
            .iter()
            .position(|v| v.header().version_id == vid)
            .unwrap();
        x.edit_object(i, |o| {
            o.set_meta_sys("x-minio-internal-transition-status", b"complete");
            Ok(())
        })
        .unwrap();
        std::fs::write(&p, x.encode().unwrap()).unwrap();
    }
    // The text summary names what is left and why; the job is not done.
    let job = write_job(&root, "fixture", "");
    let state = root.join("state");
    let o = std::process::Command::new(bin())
        .arg("run")
        .arg(&job)
        .arg("--drives")
        .args(&drives)
        .arg("--state-dir")
        .arg(&state)
        .arg("--skip-server-check")
        .env("MINIO_KMS_SECRET_KEY", KEY1)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let line = format!(
        "plaintext left: {} versions stay unencrypted ({locked} locked, 1 transitioned)",
        locked + 1
    );
    assert!(out.contains(&line), "{out}");
    let o = std::process::Command::new(bin())
        .args(["status", "--state-dir"])
        .arg(&state)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(&line), "status: {out}");
    // And the stored summary (`status --json`).
    let o = std::process::Command::new(bin())
        .args(["status", "--json", "--state-dir"])
        .arg(&state)
        .output()
        .unwrap();
    let all: Value = serde_json::from_slice(&o.stdout).unwrap();
    let s = &all[0];
    assert_eq!(s["status"], "failed", "{s}");
    assert_eq!(
        s["plaintextLeft"],
        serde_json::json!({ "locked": locked, "transitioned": 1 })
    );
    assert!(s["failedByReason"].as_object().unwrap().is_empty(), "{s}");
}
