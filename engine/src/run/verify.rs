//! `verify`: is every version consistent on all drives, does its sealed key
//! open with the KMS, and (with data) does it decrypt with a clean bitrot
//! check; and what is still plaintext, SSE-S3, or under which KMS key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kms_client::Kms;
use serde::Serialize;
use xlmeta::VersionType;

use super::object::{agreement, dependencies, facts, gather, object_dir, version_text};
use super::pipeline::SetDrives;
use super::residue::{self, Residue};
use crate::drives::walk::stream_set;
use crate::erasure::set::locate_version;
use crate::erasure::stream::read_object;
use crate::sse::{dare, Classification, CryptoEntries, ObjectKey, ParsedSse};

/// What `verify` found.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub objects: u64,
    pub versions: u64,
    pub delete_markers: u64,
    pub plaintext: u64,
    pub sse_s3: u64,
    pub sse_c: u64,
    /// SSE-KMS versions per KMS key name.
    pub sse_kms_by_key: BTreeMap<String, u64>,
    /// SSE-S3 versions per KMS key name.
    pub sse_s3_by_key: BTreeMap<String, u64>,
    pub data_checked: u64,
    /// MinIO's internal encrypted items checked (JOB.md §14).
    pub internal_checked: u64,
    /// `bucket/object version: problem`, for everything that is not right.
    pub problems: Vec<String>,
    /// What depends on a key other than the KMS's default key, and in which
    /// state (the table of a run's residue, for what is on the drives).
    pub residue: Residue,
}

/// Unseals a version's object key with the KMS.
pub fn unseal_object_key(
    kms: &dyn Kms,
    parsed: &ParsedSse,
    bucket: &str,
    object: &str,
) -> Result<ObjectKey, String> {
    let req = parsed
        .unwrap_request(bucket, object)
        .map_err(|e| e.to_string())?;
    let dek = kms
        .decrypt(&req.key_id, &req.ciphertext, &req.context)
        .map_err(|e| e.to_string())?;
    parsed
        .unseal(&dek, bucket, object)
        .map_err(|e| e.to_string())
}

/// Reads a version's data (erasure decode with bitrot checks) and decrypts
/// it when it is SSE-S3/SSE-KMS; returns the plaintext.
pub fn read_plaintext(
    kms: Option<&dyn Kms>,
    roots: &[PathBuf],
    bucket: &str,
    object: &str,
    version_id: [u8; 16],
) -> Result<Vec<u8>, String> {
    let drives: Vec<Option<&Path>> = roots.iter().map(|r| Some(r.as_path())).collect();
    let located = locate_version(&drives, bucket, object, version_id).map_err(|e| e.to_string())?;
    let mut stored = Vec::new();
    read_object(&located.layout, &located.locations, &mut stored).map_err(|e| e.to_string())?;
    let x = xlmeta::XlMeta::parse(&located.xl_meta).map_err(|e| e.to_string())?;
    let index = x
        .versions()
        .iter()
        .position(|v| v.header().version_id == version_id)
        .ok_or("version vanished")?;
    let o = x.object(index).map_err(|e| e.to_string())?;
    let entries = CryptoEntries::from_sys(
        o.meta_sys
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_ref(), v.as_ref())),
    );
    let parsed = match entries.classify() {
        Classification::Plaintext => return Ok(stored),
        Classification::SseKms(p) | Classification::SseS3(p) => p,
        Classification::SseC(_) => return Err("SSE-C: needs the client key".into()),
        Classification::Tampered(e) => return Err(e.to_string()),
    };
    let kms = kms.ok_or("encrypted: needs the KMS")?;
    let oek = unseal_object_key(kms, &parsed, bucket, object)?;
    if !parsed.multipart {
        if stored.is_empty() {
            return Ok(stored);
        }
        return dare::decrypt(oek.data_key(), &stored).map_err(|e| e.to_string());
    }
    let mut out = Vec::new();
    let mut offset = 0usize;
    for &(number, size) in &located.layout.parts {
        let size = usize::try_from(size).map_err(|_| "part too large")?;
        let part = stored
            .get(offset..offset + size)
            .ok_or("stored parts shorter than their sizes")?;
        offset += size;
        if !part.is_empty() {
            out.extend(
                dare::decrypt(&oek.part_key(number), part)
                    .map_err(|e| format!("part {number}: {e}"))?,
            );
        }
    }
    Ok(out)
}

/// Verifies `bucket` (below `prefix`) on every set; the residue counts
/// what is not under the KMS's default key.
pub fn verify(
    sets: &[SetDrives],
    kms: Option<&dyn Kms>,
    bucket: &str,
    prefix: &str,
    data: bool,
    report: &mut VerifyReport,
) -> Result<(), String> {
    let target = kms.map_or("", |k| k.default_key().as_str());
    let t0 = crate::job::timestamp::Timestamp::from_unix_nanos(super::pipeline::now_nanos());
    for set in sets {
        for key in stream_set(&set.ios, bucket, prefix) {
            let key = key.map_err(|e| e.to_string())?;
            report.objects += 1;
            let raws = gather(&set.ios, &object_dir(bucket, &key).join("xl.meta"));
            let ag = agreement(&raws);
            let Some(Ok(x)) = ag.reference.map(|r| &ag.metas[r]) else {
                report
                    .problems
                    .push(format!("{bucket}/{key}: no drive holds a valid xl.meta"));
                continue;
            };
            let depends_on = dependencies(&ag, target, true);
            for (i, v) in x.versions().iter().enumerate() {
                let vid = v.header().version_id;
                let name = format!("{bucket}/{key} {}", version_text(&vid));
                let inconsistent = matches!(ag.problems.get(i), Some(Some(_)));
                if let Some(Some(p)) = ag.problems.get(i) {
                    report.problems.push(format!("{name}: inconsistent: {p}"));
                }
                if v.header().vtype != VersionType::Object {
                    report.delete_markers += 1;
                    continue;
                }
                let locked =
                    facts(x, i, true).is_some_and(|f| crate::job::decide::is_locked(&f, t0));
                for dep in depends_on.get(i).into_iter().flatten() {
                    let state = if inconsistent {
                        "inconsistent"
                    } else {
                        match (dep.as_str(), locked) {
                            (residue::SSE_C, _) => "ssec",
                            (residue::UNKNOWN, _) => "tampered",
                            (residue::PLAINTEXT, true) => "lockedPlaintext",
                            (residue::PLAINTEXT, false) => "plaintext",
                            (_, true) => "locked",
                            (_, false) => "notRotated",
                        }
                    };
                    residue::add(&mut report.residue, dep, state, 1);
                }
                report.versions += 1;
                let Ok(o) = x.object(i) else {
                    report.problems.push(format!("{name}: does not decode"));
                    continue;
                };
                let entries = CryptoEntries::from_sys(
                    o.meta_sys
                        .iter()
                        .flatten()
                        .map(|(k, v)| (k.as_ref(), v.as_ref())),
                );
                let key_name = |p: &ParsedSse| {
                    p.kms
                        .as_ref()
                        .map_or_else(String::new, |k| k.key_id.as_str().to_owned())
                };
                let parsed = match entries.classify() {
                    Classification::Plaintext => {
                        report.plaintext += 1;
                        None
                    }
                    Classification::SseS3(p) => {
                        report.sse_s3 += 1;
                        *report.sse_s3_by_key.entry(key_name(&p)).or_default() += 1;
                        Some(p)
                    }
                    Classification::SseKms(p) => {
                        *report.sse_kms_by_key.entry(key_name(&p)).or_default() += 1;
                        Some(p)
                    }
                    Classification::SseC(_) => {
                        report.sse_c += 1;
                        continue;
                    }
                    Classification::Tampered(e) => {
                        report.problems.push(format!("{name}: tampered: {e}"));
                        continue;
                    }
                };
                if let (Some(p), Some(kms)) = (&parsed, kms) {
                    if let Err(e) = unseal_object_key(kms, p, bucket, &key) {
                        report.problems.push(format!("{name}: unseal: {e}"));
                        continue;
                    }
                }
                if data {
                    match read_plaintext(kms, &set.roots, bucket, &key, vid) {
                        Ok(_) => report.data_checked += 1,
                        Err(e) => report.problems.push(format!("{name}: data: {e}")),
                    }
                }
            }
        }
    }
    Ok(())
}
