//! MinIO's load-time fixups of old version metas (ONDISK §3.4).
//!
//! MinIO repairs two historical bugs when it loads a 1.3 file whose meta
//! version is old, and writes the repaired version (with a recomputed
//! header) the next time it saves the file. A writer that keeps the meta
//! version (strategy A) leaves them to MinIO; a writer that bumps the meta
//! version to 3 (strategy B) must apply them itself, because MinIO will no
//! longer recognise the candidates afterwards.

use std::borrow::Cow;

use crate::meta::{DeleteMarker, ObjectV2};
use crate::time::{format_rfc3339_nano, parse_rfc3339_nano};

/// Replication timestamps of delete markers, stored in local time by old releases.
pub const DELETE_MARKER_TIMESTAMP_KEYS: [&str; 2] = [
    "x-minio-internal-replication-timestamp",
    "x-minio-internal-replica-timestamp",
];

/// Releases that wrote oversized compression indexes: strictly between
/// these `WrittenByVersion` values.
const BAD_INDEX_RELEASES: (u64, u64) = (1_701_471_618, 1_730_156_418);
/// Parts up to this actual size must not carry an index.
const MAX_UNINDEXED_PART: i64 = 8 << 20;

/// Meta version < 2 delete markers: rewrite replication timestamps in UTC
/// (RFC 3339 with nanoseconds). Returns whether MinIO would re-encode the
/// version (it does whenever either key is present, even if unchanged).
pub fn normalize_delete_marker_timestamps(d: &mut DeleteMarker<'_>) -> bool {
    let Some(map) = d.meta_sys.as_mut() else {
        return false;
    };
    let mut present = false;
    for (k, v) in map.iter_mut() {
        if !DELETE_MARKER_TIMESTAMP_KEYS.contains(&k.as_ref()) {
            continue;
        }
        present = true;
        let parsed = std::str::from_utf8(v).ok().and_then(parse_rfc3339_nano);
        if let Some(ns) = parsed {
            *v = Cow::Owned(format_rfc3339_nano(ns).into_bytes());
        }
    }
    present
}

/// Whether a meta version < 3 object is a candidate for the compression
/// index fixup (the same raw byte search MinIO uses).
pub fn is_part_index_candidate(meta_raw: &[u8]) -> bool {
    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }
    contains(meta_raw, b"\xa7PartIdx")
        && contains(
            meta_raw,
            b"\xbcX-Minio-Internal-compression\xc4\x15klauspost/compress/s2",
        )
}

/// Meta version < 3 s2-compressed objects written by the affected releases:
/// drop per-part indexes of parts whose actual size is at most 8 MiB (the
/// whole field if none remains). Returns whether anything changed.
pub fn clear_small_part_indexes(o: &mut ObjectV2<'_>, written_by_version: u64) -> bool {
    if written_by_version <= BAD_INDEX_RELEASES.0 || written_by_version >= BAD_INDEX_RELEASES.1 {
        return false;
    }
    let Some(indexes) = o.part_indices.as_mut() else {
        return false;
    };
    let sizes = o.part_actual_sizes.as_deref().unwrap_or_default();
    let mut changed = false;
    let mut all_empty = true;
    for (idx, &size) in indexes.iter_mut().zip(sizes) {
        if size <= MAX_UNINDEXED_PART && !idx.is_empty() {
            *idx = Cow::Borrowed(&[]);
            changed = true;
        }
        all_empty &= idx.is_empty();
    }
    if changed && all_empty {
        o.part_indices = None;
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_marker_timestamps_become_utc() {
        let mut d = DeleteMarker {
            version_id: [1; 16],
            mod_time: 1,
            meta_sys: Some(vec![
                (
                    Cow::Borrowed("x-minio-internal-replication-timestamp"),
                    Cow::Borrowed(b"2021-06-01T12:00:00.5+02:00".as_slice()),
                ),
                (
                    Cow::Borrowed("x-minio-internal-replica-timestamp"),
                    Cow::Borrowed(b"not a time".as_slice()),
                ),
                (
                    Cow::Borrowed("other"),
                    Cow::Borrowed(b"2021-06-01T12:00:00+02:00".as_slice()),
                ),
            ]),
        };
        assert!(normalize_delete_marker_timestamps(&mut d));
        let m = d.meta_sys.as_ref().unwrap();
        assert_eq!(m[0].1.as_ref(), b"2021-06-01T10:00:00.5Z");
        assert_eq!(m[1].1.as_ref(), b"not a time");
        assert_eq!(m[2].1.as_ref(), b"2021-06-01T12:00:00+02:00");
        let mut plain = DeleteMarker {
            meta_sys: Some(Vec::new()),
            ..d
        };
        assert!(!normalize_delete_marker_timestamps(&mut plain));
    }

    #[test]
    fn small_part_indexes_are_cleared_for_affected_releases() {
        let idx = |b: &'static [u8]| Cow::Borrowed(b);
        let mut o = ObjectV2 {
            part_actual_sizes: Some(vec![1 << 20, 16 << 20]),
            part_indices: Some(vec![idx(b"a"), idx(b"b")]),
            ..ObjectV2::default()
        };
        assert!(!clear_small_part_indexes(&mut o.clone(), 1_600_000_000));
        assert!(clear_small_part_indexes(&mut o, 1_710_000_000));
        assert_eq!(o.part_indices.as_ref().unwrap()[0].as_ref(), b"");
        assert_eq!(o.part_indices.as_ref().unwrap()[1].as_ref(), b"b");
        let mut all_small = ObjectV2 {
            part_actual_sizes: Some(vec![1, 2]),
            part_indices: Some(vec![idx(b"a"), idx(b"b")]),
            ..ObjectV2::default()
        };
        assert!(clear_small_part_indexes(&mut all_small, 1_710_000_000));
        assert_eq!(all_small.part_indices, None);
    }
}
