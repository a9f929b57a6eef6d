//! `.minio.sys/format.json` (ONDISK §2): which deployment, pool and erasure
//! set a drive belongs to, and its position inside the set.
//!
//! The struct field order matches Go's `encoding/json` output, so
//! [`FormatJson::to_json`] of a parsed file reproduces MinIO's compact form.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::uuid::parse_uuid;

/// UUID MinIO writes for a drive slot that is offline.
pub const OFFLINE_DRIVE_UUID: &str = "ffffffff-ffff-ffff-ffff-ffffffffffff";

/// The whole `format.json` document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormatJson {
    /// Format meta version, always `"1"`.
    pub version: String,
    /// Backend kind.
    pub format: BackendFormat,
    /// Deployment id (UUID); also the SipHash key of set placement.
    pub id: String,
    /// Erasure layout of this drive's pool.
    pub xl: FormatXl,
}

/// Backend kind in `format.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackendFormat {
    /// Erasure-coded deployment.
    #[serde(rename = "xl")]
    Xl,
    /// Single-drive deployment (one set of one drive, EC:0).
    #[serde(rename = "xl-single")]
    XlSingle,
    /// The old FS mode: unsupported.
    #[serde(rename = "fs")]
    Fs,
}

/// The `xl` member of `format.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormatXl {
    /// Erasure format version (`"3"` current; `"1"`/`"2"` are migrated by MinIO on start).
    pub version: String,
    /// UUID of this drive.
    pub this: String,
    /// `[set][position]` drive UUIDs of this drive's pool.
    pub sets: Vec<Vec<String>>,
    /// Object → set hashing algorithm.
    #[serde(rename = "distributionAlgo")]
    pub distribution_algo: DistributionAlgo,
}

/// Object → erasure set hashing (ONDISK §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DistributionAlgo {
    /// CRC32-IEEE of the object name modulo the set count (legacy).
    #[serde(rename = "CRCMOD")]
    CrcMod,
    /// SipHash-2-4 keyed by the deployment id, N/2 default parity era.
    #[serde(rename = "SIPMOD")]
    SipMod,
    /// SipHash-2-4 keyed by the deployment id, current parity defaults.
    #[serde(rename = "SIPMOD+PARITY")]
    SipModParity,
}

/// Where a drive sits inside its pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrivePosition {
    /// Erasure set index inside the pool.
    pub set: usize,
    /// Position of the drive inside the set (0-based; `EcDist` index).
    pub index: usize,
}

impl FormatJson {
    /// Parses and validates a `format.json` document.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let format: FormatJson =
            serde_json::from_slice(bytes).map_err(|e| Error::Format(e.to_string()))?;
        format.validate()?;
        Ok(format)
    }

    /// Compact JSON as MinIO writes it.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::Format(e.to_string()))
    }

    /// Checks the invariants keyrotate relies on: a supported backend, a
    /// non-empty rectangular `sets` array and a parseable deployment id.
    pub fn validate(&self) -> Result<()> {
        if self.format == BackendFormat::Fs {
            return Err(Error::Format("FS backend is not supported".into()));
        }
        if self.version != "1" {
            return Err(Error::Format(format!(
                "unknown format version {:?}",
                self.version
            )));
        }
        let Some(first) = self.xl.sets.first() else {
            return Err(Error::Format("xl.sets is empty".into()));
        };
        if first.is_empty() || self.xl.sets.iter().any(|set| set.len() != first.len()) {
            return Err(Error::Format(
                "xl.sets sets are empty or of unequal size".into(),
            ));
        }
        self.deployment_id_bytes()?;
        Ok(())
    }

    /// The deployment id as 16 raw bytes (SipHash key material, ONDISK §2.3).
    pub fn deployment_id_bytes(&self) -> Result<[u8; 16]> {
        parse_uuid(&self.id)
            .map_err(|_| Error::Format(format!("invalid deployment id {:?}", self.id)))
    }

    /// Number of erasure sets in this drive's pool.
    pub fn set_count(&self) -> usize {
        self.xl.sets.len()
    }

    /// Drives per erasure set.
    pub fn set_drive_count(&self) -> usize {
        self.xl.sets.first().map_or(0, Vec::len)
    }

    /// Whether `xl.this` is the offline placeholder UUID.
    pub fn is_offline_placeholder(&self) -> bool {
        self.xl.this.eq_ignore_ascii_case(OFFLINE_DRIVE_UUID)
    }

    /// Position of `xl.this` inside `xl.sets`, if present.
    pub fn this_position(&self) -> Option<DrivePosition> {
        self.position_of(&self.xl.this)
    }

    /// Position of a drive UUID inside `xl.sets`.
    pub fn position_of(&self, drive: &str) -> Option<DrivePosition> {
        self.xl.sets.iter().enumerate().find_map(|(set, drives)| {
            drives
                .iter()
                .position(|d| d.eq_ignore_ascii_case(drive))
                .map(|index| DrivePosition { set, index })
        })
    }

    /// Whether two drives belong to the same pool (identical `xl.sets`, ONDISK §2.2).
    pub fn same_pool(&self, other: &FormatJson) -> bool {
        self.id == other.id && self.xl.sets == other.xl.sets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"version":"1","format":"xl","id":"01234567-89ab-cdef-0123-456789abcdef","xl":{"version":"3","this":"b5a4d2b2-53b8-4b2b-9e5c-1e1c6c1c0c02","sets":[["a1a4d2b2-53b8-4b2b-9e5c-1e1c6c1c0c01","b5a4d2b2-53b8-4b2b-9e5c-1e1c6c1c0c02"],["c1a4d2b2-53b8-4b2b-9e5c-1e1c6c1c0c03","d1a4d2b2-53b8-4b2b-9e5c-1e1c6c1c0c04"]],"distributionAlgo":"SIPMOD+PARITY"}}"#;

    #[test]
    fn parses_and_reencodes_identically() {
        let f = FormatJson::parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(f.format, BackendFormat::Xl);
        assert_eq!(f.xl.distribution_algo, DistributionAlgo::SipModParity);
        assert_eq!(f.this_position(), Some(DrivePosition { set: 0, index: 1 }));
        assert_eq!(f.set_count(), 2);
        assert_eq!(f.set_drive_count(), 2);
        assert_eq!(f.deployment_id_bytes().unwrap()[0], 0x01);
        assert_eq!(f.to_json().unwrap(), SAMPLE.as_bytes());
        assert!(!f.is_offline_placeholder());
    }

    #[test]
    fn rejects_bad_documents() {
        assert!(FormatJson::parse(b"{}").is_err());
        let fs = SAMPLE.replace(r#""format":"xl""#, r#""format":"fs""#);
        assert!(FormatJson::parse(fs.as_bytes()).is_err());
        let ragged = SAMPLE.replace(r#","d1a4d2b2-53b8-4b2b-9e5c-1e1c6c1c0c04""#, "");
        assert!(matches!(
            FormatJson::parse(ragged.as_bytes()),
            Err(Error::Format(_))
        ));
        let bad_id = SAMPLE.replace("01234567-89ab", "zz234567-89ab");
        assert!(FormatJson::parse(bad_id.as_bytes()).is_err());
        let algo = SAMPLE.replace("SIPMOD+PARITY", "NOPE");
        assert!(FormatJson::parse(algo.as_bytes()).is_err());
    }
}
