//! The two encrypted fields of `.minio.sys/buckets/<bucket>/.metadata.bin`
//! (CRYPTO.md §7.5) located inside the msgpack map, so that only their values
//! are replaced and every other byte of the document stays as MinIO wrote it.
//!
//! Layout: `le16(format = 1) ‖ le16(version = 1) ‖ msgpack map` with string
//! keys; `BucketTargetsConfigJSON` (DARE stream or plaintext JSON) and
//! `BucketTargetsConfigMetaJSON` (JSON map of SSE-S3 metadata, empty when the
//! targets are plaintext) are msgpack `bin` values.

use std::ops::Range;

use xlmeta::msgp::{self, Reader};

/// Key of the (encrypted) remote-target configuration.
pub const TARGETS_KEY: &str = "BucketTargetsConfigJSON";
/// Key of the SSE metadata that decrypts it.
pub const TARGETS_META_KEY: &str = "BucketTargetsConfigMetaJSON";

/// A parsed `.metadata.bin`: where the two target fields sit.
#[derive(Debug, Clone)]
pub struct BucketMetadataDoc<'a> {
    raw: &'a [u8],
    /// Byte ranges (in `raw`) of the encoded values, `None` when absent.
    targets: Option<Range<usize>>,
    targets_meta: Option<Range<usize>>,
    targets_value: &'a [u8],
    targets_meta_value: &'a [u8],
}

/// Why a `.metadata.bin` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BucketMetaError {
    #[error("bucket metadata header is not format 1 / version 1")]
    Header,
    #[error("bucket metadata msgpack: {0}")]
    Msgpack(#[from] xlmeta::Error),
    #[error("bucket metadata has targets but no {TARGETS_META_KEY} field to hold their keys")]
    NoMetaField,
}

impl<'a> BucketMetadataDoc<'a> {
    /// Parses the header and walks the top-level map once.
    pub fn parse(raw: &'a [u8]) -> Result<Self, BucketMetaError> {
        if raw.get(..4) != Some(&[1, 0, 1, 0][..]) {
            return Err(BucketMetaError::Header);
        }
        let body = raw.get(4..).unwrap_or_default();
        let mut r = Reader::new(body);
        let n = r.read_map_len("BucketMetadata")?;
        let mut doc = Self {
            raw,
            targets: None,
            targets_meta: None,
            targets_value: &[],
            targets_meta_value: &[],
        };
        for _ in 0..n {
            let key = r.read_str("BucketMetadata key")?;
            let start = r.pos();
            match key {
                TARGETS_KEY => {
                    doc.targets_value = r.read_bin(TARGETS_KEY)?;
                    doc.targets = Some(start + 4..r.pos() + 4);
                }
                TARGETS_META_KEY => {
                    doc.targets_meta_value = r.read_bin(TARGETS_META_KEY)?;
                    doc.targets_meta = Some(start + 4..r.pos() + 4);
                }
                _ => r.skip("BucketMetadata value")?,
            }
        }
        Ok(doc)
    }

    /// `BucketTargetsConfigJSON` (empty when absent).
    pub fn targets(&self) -> &'a [u8] {
        self.targets_value
    }

    /// `BucketTargetsConfigMetaJSON` (empty when absent).
    pub fn targets_meta(&self) -> &'a [u8] {
        self.targets_meta_value
    }

    /// The document with both target fields replaced; every other byte is
    /// copied unchanged.
    pub fn with_targets(&self, targets: &[u8], meta: &[u8]) -> Result<Vec<u8>, BucketMetaError> {
        let (Some(t), Some(m)) = (self.targets.clone(), self.targets_meta.clone()) else {
            return Err(BucketMetaError::NoMetaField);
        };
        let mut spans = [(t, targets), (m, meta)];
        spans.sort_by_key(|(r, _)| r.start);
        let mut out = Vec::with_capacity(self.raw.len() + targets.len() + meta.len());
        let mut at = 0;
        for (range, value) in spans {
            out.extend_from_slice(self.raw.get(at..range.start).unwrap_or_default());
            msgp::write_bin(&mut out, value)?;
            at = range.end;
        }
        out.extend_from_slice(self.raw.get(at..).unwrap_or_default());
        Ok(out)
    }

    /// Whether `other` equals this document in every field except the two
    /// target fields (used to check a rewrite).
    pub fn same_except_targets(&self, other: &BucketMetadataDoc<'_>) -> bool {
        let strip = |d: &BucketMetadataDoc<'_>| -> Option<Vec<u8>> {
            let mut spans = [d.targets.clone()?, d.targets_meta.clone()?];
            spans.sort_by_key(|r| r.start);
            let mut out = Vec::new();
            let mut at = 0;
            for r in spans {
                out.extend_from_slice(d.raw.get(at..r.start)?);
                at = r.end;
            }
            out.extend_from_slice(d.raw.get(at..)?);
            Some(out)
        };
        matches!((strip(self), strip(other)), (Some(a), Some(b)) if a == b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_the_target_fields() {
        let raw = crate::fixture::bucket::bucket_metadata("bkt", 1_700_000_000, true, false);
        let doc = BucketMetadataDoc::parse(&raw).unwrap();
        assert!(doc.targets().is_empty() && doc.targets_meta().is_empty());
        let big = vec![7u8; 300];
        let new = doc.with_targets(&big, b"{\"a\":\"b\"}").unwrap();
        let parsed = BucketMetadataDoc::parse(&new).unwrap();
        assert_eq!(parsed.targets(), &big[..]);
        assert_eq!(parsed.targets_meta(), b"{\"a\":\"b\"}");
        assert!(doc.same_except_targets(&parsed));
        let back = parsed.with_targets(&[], &[]).unwrap();
        assert_eq!(back, raw);
        let mut other = raw.clone();
        let last = other.len() - 1;
        other[last] ^= 1;
        assert!(!doc.same_except_targets(&BucketMetadataDoc::parse(&other).unwrap()));
        assert!(matches!(
            BucketMetadataDoc::parse(&raw[1..]),
            Err(BucketMetaError::Header)
        ));
        assert!(BucketMetadataDoc::parse(&raw[..raw.len() - 3]).is_err());
    }
}
