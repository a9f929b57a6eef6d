//! Reads every version of a deployment back and compares it with its
//! manifest, under every drive-loss combination up to parity and with each
//! drive's shard corrupted in turn. Shared by the drivesets and fixture tests.

use std::path::{Path, PathBuf};

use engine::drives::io::DriveIo;
use engine::drives::topology::{discover_paths, MissingPolicy};
use engine::erasure::set::{locate_version, LocatedVersion};
use engine::erasure::stream::{read_object, ShardLocation};
use engine::sse::dare;
use engine::sse::metadata::{Classification, CryptoEntries, SseType};
use kms_client::{Kms, PlaintextKey, StaticKey, StaticKms};
use serde_json::Value;
use sha2::{Digest, Sha256};

#[path = "s2.rs"]
pub mod s2;

pub fn version_bytes(id: &str) -> [u8; 16] {
    if id.is_empty() {
        [0; 16]
    } else {
        *uuid::Uuid::parse_str(id).unwrap().as_bytes()
    }
}

/// The stored bytes of a located version, with some set positions masked.
pub fn decode(v: &LocatedVersion, remove: &[usize], corrupt: Option<usize>) -> Vec<u8> {
    let mut locations = v.locations.clone();
    for &r in remove {
        locations[r] = ShardLocation::Missing;
    }
    // (part file, original bytes) of every part corrupted on disk.
    let mut restore = Vec::new();
    if let Some(c) = corrupt {
        match &mut locations[c] {
            ShardLocation::Inline(bytes) if !bytes.is_empty() => {
                let mid = bytes.len() / 2;
                bytes[mid] ^= 0x5a;
            }
            ShardLocation::DataDir(dir) => {
                // Every part of the object is damaged on this drive.
                for (number, _) in &v.layout.parts {
                    let part = dir.join(format!("part.{number}"));
                    if let Ok(orig) = std::fs::read(&part) {
                        if !orig.is_empty() {
                            let mut bytes = orig.clone();
                            let mid = bytes.len() / 2;
                            bytes[mid] ^= 0x5a;
                            std::fs::write(&part, &bytes).unwrap();
                            restore.push((part, orig));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    let result = read_object(&v.layout, &locations, &mut out);
    for (part, orig) in restore {
        std::fs::write(part, orig).unwrap();
    }
    result.unwrap_or_else(|e| panic!("remove {remove:?} corrupt {corrupt:?}: {e}"));
    out
}

/// All subsets of `0..n` with at most `k` members.
pub fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
    (0u32..1 << n)
        .filter(|m| m.count_ones() as usize <= k)
        .map(|m| (0..n).filter(|i| m & (1 << i) != 0).collect())
        .collect()
}

/// The plaintext of a version's stored bytes: decrypted with the sse module
/// (SSE-S3/SSE-KMS through `kms`, SSE-C with the manifest's client key).
/// `None` when an SSE-S3/SSE-KMS version is met without a KMS.
pub fn plaintext(
    entry: &Value,
    located: &LocatedVersion,
    stored: Vec<u8>,
    kms: Option<&dyn Kms>,
) -> Option<Vec<u8>> {
    let sse = entry["sse"].as_str().unwrap_or("");
    if sse.is_empty() {
        return Some(stored);
    }
    let bucket = entry["bucket"].as_str().unwrap();
    let object = entry["object"].as_str().unwrap();
    let meta = xlmeta::XlMeta::parse(&located.xl_meta).unwrap();
    let vid = version_bytes(entry["version_id"].as_str().unwrap_or(""));
    let index = meta
        .versions()
        .iter()
        .position(|v| v.header().version_id == vid)
        .unwrap();
    let obj = meta.object(index).unwrap();
    let sys = obj.meta_sys.clone().unwrap_or_default();
    let entries = CryptoEntries::from_sys(sys.iter().map(|(k, v)| (k.as_ref(), v.as_ref())));
    let parsed = match entries.classify() {
        Classification::SseS3(p) | Classification::SseKms(p) | Classification::SseC(Some(p)) => p,
        other => panic!("{bucket}/{object}: unexpected classification {other:?}"),
    };
    assert_eq!(parsed.ty.domain().as_str(), sse, "{bucket}/{object}");
    let ext = match parsed.ty {
        SseType::C => {
            let key = hex::decode(entry["ssec_key_hex"].as_str().unwrap()).unwrap();
            PlaintextKey::from_slice(&key).unwrap()
        }
        _ => {
            let kms = kms?;
            let req = parsed.unwrap_request(bucket, object).unwrap();
            kms.decrypt(&req.key_id, &req.ciphertext, &req.context)
                .unwrap()
        }
    };
    let oek = parsed.unseal(&ext, bucket, object).unwrap();
    // An empty plaintext is stored as no DARE package at all (CRYPTO.md).
    let open = |key: &engine::sse::SecretKey, sealed: &[u8]| {
        if sealed.is_empty() {
            Vec::new()
        } else {
            dare::decrypt(key, sealed).unwrap_or_else(|e| panic!("{bucket}/{object}: {e}"))
        }
    };
    if !parsed.multipart {
        return Some(open(oek.data_key(), &stored));
    }
    let mut out = Vec::new();
    let mut off = 0usize;
    for &(number, size) in &located.layout.parts {
        let end = off + size as usize;
        out.extend(open(&oek.part_key(number), &stored[off..end]));
        off = end;
    }
    Some(out)
}

/// Checks one decoded version against its manifest entry; returns whether
/// its plaintext could be compared.
pub fn check_plaintext(
    entry: &Value,
    located: &LocatedVersion,
    stored: &[u8],
    kms: Option<&dyn Kms>,
) -> bool {
    if let Some(size) = entry["stored_size"].as_u64() {
        assert_eq!(
            stored.len() as u64,
            size,
            "{}/{}",
            entry["bucket"],
            entry["object"]
        );
    }
    let Some(mut plain) = plaintext(entry, located, stored.to_vec(), kms) else {
        return false;
    };
    if entry["compressed"].as_bool() == Some(true) {
        // Each part is its own S2 stream; back to back they decode as one.
        plain = s2::decompress(&plain)
            .unwrap_or_else(|e| panic!("{}/{}: {e}", entry["bucket"], entry["object"]));
    }
    assert_eq!(
        hex::encode(Sha256::digest(&plain)),
        entry["plaintext_sha256"].as_str().unwrap(),
        "{}/{}",
        entry["bucket"],
        entry["object"]
    );
    true
}

/// Checks every version of the deployment at `root` (holding `driveN/` and
/// `manifest.json`). `faults` adds the drive-loss and corruption rounds.
pub fn verify_deployment(root: &Path, faults: bool) -> (usize, usize) {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap();
    // The static KMS key the deployment's SSE-S3/SSE-KMS data keys are under.
    let static_kms = manifest["kms_secret_key"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(|t| StaticKms::new(StaticKey::parse(t).unwrap(), Vec::new()));
    let kms = static_kms.as_ref().map(|k| k as &dyn Kms);
    let n = manifest["drives"].as_u64().unwrap() as usize;
    // Objects use the manifest's parity; meta-bucket objects use N/2.
    let default_parity = manifest["parity_blocks"].as_u64().unwrap() as usize;
    let paths: Vec<PathBuf> = (1..=n).map(|i| root.join(format!("drive{i}"))).collect();
    let topo = discover_paths(&[paths], MissingPolicy::Reject).unwrap();
    assert_eq!(
        topo.deployment_id.to_string(),
        manifest["deployment_id"].as_str().unwrap()
    );
    let set = &topo.pools[0].sets[0];
    let ids: Vec<String> = set
        .drives
        .iter()
        .map(|d| d.as_ref().unwrap().uuid.to_string())
        .collect();
    let want_ids: Vec<String> = manifest["set_drive_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, want_ids);
    let ios: Vec<DriveIo> = set
        .drives
        .iter()
        .map(|d| DriveIo::spawn(&d.as_ref().unwrap().path).unwrap())
        .collect();
    let roots: Vec<PathBuf> = set
        .drives
        .iter()
        .map(|d| d.as_ref().unwrap().path.clone())
        .collect();
    let (mut compared, mut versions) = (0, 0);
    for entry in manifest["objects"].as_array().unwrap() {
        let bucket = entry["bucket"].as_str().unwrap();
        let object = entry["object"].as_str().unwrap();
        let vid = version_bytes(entry["version_id"].as_str().unwrap_or(""));
        let all: Vec<Option<&Path>> = roots.iter().map(|p| Some(p.as_path())).collect();
        if entry["delete_marker"].as_bool() == Some(true) {
            assert!(locate_version(&all, bucket, object, vid).is_err());
            continue;
        }
        versions += 1;
        let located = locate_version(&all, bucket, object, vid)
            .unwrap_or_else(|e| panic!("{}: {e}", root.display()));
        let want_dist: Vec<u8> = entry["distribution"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_u64().unwrap() as u8).collect())
            .unwrap_or_default();
        if !want_dist.is_empty() {
            assert_eq!(located.layout.distribution, want_dist, "{bucket}/{object}");
        }
        let clean = decode(&located, &[], None);
        // The same through the per-drive I/O workers (metadata and shards).
        let via_io: Vec<Option<&DriveIo>> = ios.iter().map(Some).collect();
        let located_io = locate_version(&via_io, bucket, object, vid).unwrap();
        assert!(located_io
            .locations
            .iter()
            .all(|l| !matches!(l, ShardLocation::DataDir(_))));
        assert!(
            decode(&located_io, &[], None) == clean,
            "{bucket}/{object} via workers"
        );
        if check_plaintext(entry, &located, &clean, kms) {
            compared += 1;
        }
        if !faults {
            continue;
        }
        let parity = located.layout.erasure.parity_shards();
        if bucket != ".minio.sys" {
            assert_eq!(parity, default_parity, "{bucket}/{object}");
        }
        for remove in subsets(n, parity) {
            // Removing a drive also hides its xl.meta: locate from the rest.
            let present: Vec<Option<&Path>> = roots
                .iter()
                .enumerate()
                .map(|(i, p)| (!remove.contains(&i)).then_some(p.as_path()))
                .collect();
            let v = locate_version(&present, bucket, object, vid).unwrap();
            assert!(
                decode(&v, &[], None) == clean,
                "{bucket}/{object} without drives {remove:?}"
            );
        }
        for c in 0..n {
            assert!(
                decode(&located, &[], Some(c)) == clean,
                "{bucket}/{object} drive {c} corrupt"
            );
        }
        // One more bad shard than parity cannot be decoded (non-empty data).
        if !clean.is_empty() {
            let too_many: Vec<usize> = (0..=parity).collect();
            let mut locations = located.locations.clone();
            for &r in &too_many {
                locations[r] = ShardLocation::Missing;
            }
            assert!(read_object(&located.layout, &locations, &mut Vec::new()).is_err());
        }
    }
    assert!(
        versions >= 20,
        "{}: only {versions} versions",
        root.display()
    );
    assert!(
        compared >= 10,
        "{}: only {compared} plaintext versions compared",
        root.display()
    );
    (versions, compared)
}
