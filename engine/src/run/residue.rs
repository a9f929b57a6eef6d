//! The residue: what in a job's scope still depends on a KMS key other than
//! the target, and why — the answer to "can I delete key X" (issue 16).
//!
//! A residue maps a key to reasons and version counts. Keys are KMS key
//! names, plus pseudo-keys for what needs no KMS key but was left as it is:
//! [`PLAINTEXT`] (never encrypted) and [`SSE_C`] (client keys, excluded by
//! every job), and [`UNKNOWN`] for copies too damaged to say. Internal items
//! (JOB.md §14) count under their key with the reason [`INTERNAL`].

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use crate::internal::Encoding;
use crate::sse::{Classification, CryptoEntries};

/// Key → reason → versions (or internal items).
pub type Residue = BTreeMap<String, BTreeMap<String, u64>>;

/// Plaintext left plaintext.
pub const PLAINTEXT: &str = "(plaintext)";
/// SSE-C: the client holds the key; no job touches it.
pub const SSE_C: &str = "(SSE-C)";
/// No copy could be read well enough to name its key.
pub const UNKNOWN: &str = "(unknown)";
/// The reason of internal items.
pub const INTERNAL: &str = "internal";

/// The key a version's stored copy depends on, from its `MetaSys` entries;
/// `None` when it is the target key (nothing left for the residue).
pub fn dependency<K, V, I>(meta_sys: I, target: &str) -> Option<String>
where
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
    I: IntoIterator<Item = (K, V)>,
{
    let key = match CryptoEntries::from_sys(meta_sys).classify() {
        Classification::Plaintext => PLAINTEXT.to_owned(),
        Classification::SseC(_) => SSE_C.to_owned(),
        Classification::SseKms(p) | Classification::SseS3(p) => p
            .kms
            .map_or_else(|| UNKNOWN.to_owned(), |k| k.key_id.as_str().to_owned()),
        Classification::Tampered(_) => UNKNOWN.to_owned(),
    };
    (key != target).then_some(key)
}

/// Adds `n` under `key` and `reason`.
pub fn add(residue: &mut Residue, key: &str, reason: &str, n: u64) {
    *residue
        .entry(key.to_owned())
        .or_default()
        .entry(reason.to_owned())
        .or_default() += n;
}

/// Takes back one under `key` and `reason`, dropping emptied entries.
pub fn remove(residue: &mut Residue, key: &str, reason: &str) {
    if let Some(reasons) = residue.get_mut(key) {
        if let Some(n) = reasons.get_mut(reason) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                reasons.remove(reason);
            }
        }
        if reasons.is_empty() {
            residue.remove(key);
        }
    }
}

/// Adds MinIO's internal items that are under a KMS key other than
/// `target` (read only: no KMS call).
pub fn add_internal(
    residue: &mut Residue,
    sets: &[Vec<PathBuf>],
    target: &str,
) -> Result<(), crate::internal::InternalError> {
    for (entry, _) in crate::internal::survey(sets)? {
        if let Encoding::Kms { key_id } = &entry.encoding {
            if key_id != target {
                add(residue, key_id, INTERNAL, 1);
            }
        }
    }
    Ok(())
}

/// The residue as text: the verdict for KMS keys first, then each key's
/// reasons (KMS keys, then the pseudo-keys).
pub fn write_text(out: &mut dyn Write, residue: &Residue, target: &str) -> std::io::Result<()> {
    let is_pseudo = |k: &str| k.starts_with('(');
    let kms_keys: Vec<&String> = residue.keys().filter(|k| !is_pseudo(k)).collect();
    if kms_keys.is_empty() {
        writeln!(
            out,
            "key retirement: no version in scope depends on a KMS key other than {target:?}"
        )?;
    } else {
        writeln!(
            out,
            "key retirement: still needed besides {target:?}: {}",
            kms_keys
                .iter()
                .map(|k| format!("{k:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    let ordered = kms_keys
        .into_iter()
        .chain(residue.keys().filter(|k| is_pseudo(k)));
    for key in ordered {
        let reasons = &residue[key];
        let total: u64 = reasons.values().sum();
        let detail = reasons
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        writeln!(out, "  {key}: {total} ({detail})")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_and_remove_keep_no_empty_entries() {
        let mut r = Residue::new();
        add(&mut r, "k", "locked", 2);
        add(&mut r, "k", "failed", 1);
        remove(&mut r, "k", "failed");
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"k":{"locked":2}}"#);
        remove(&mut r, "k", "locked");
        remove(&mut r, "k", "locked");
        assert!(r.is_empty());
        remove(&mut r, "absent", "x");
        assert!(r.is_empty());
    }

    #[test]
    fn plaintext_and_target_key_dependencies() {
        let none: [(&str, &[u8]); 0] = [];
        assert_eq!(dependency(none, "t").as_deref(), Some(PLAINTEXT));
        let mut text = Vec::new();
        let mut r = Residue::new();
        add(&mut r, SSE_C, "ssec", 3);
        write_text(&mut text, &r, "t").unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.starts_with(
            "key retirement: no version in scope depends on a KMS key other than \"t\"\n"
        ));
        assert!(text.contains("(SSE-C): 3 (ssec 3)"), "{text}");
        add(&mut r, "old", "locked", 1);
        let mut text = Vec::new();
        write_text(&mut text, &r, "t").unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains("still needed besides \"t\": \"old\""),
            "{text}"
        );
    }
}
