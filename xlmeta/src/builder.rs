//! Building a brand-new `xl.meta`, encoded exactly as MinIO's
//! `xlMetaV2.AddVersion` followed by `AppendTo` would: container 1.3,
//! header and meta version 3, versions newest first (a new version goes
//! before the first one whose ModTime is not newer, ONDISK §4.3), inline
//! entries appended in insertion order.
//!
//! Map entry order inside MetaSys/MetaUsr is taken as given (MinIO's is
//! random), so tests can reproduce a MinIO file byte for byte.

use crate::container::{derive_header, now_unix_secs, XlMeta};
use crate::error::{Error, Result};
use crate::header::VersionHeader;
use crate::inline::InlineData;
use crate::meta::{DeleteMarker, ObjectV2, VersionMeta, META_INLINE_DATA};
use crate::uuid::format_uuid;

/// Accumulates versions and inline data for a new file.
#[derive(Debug, Clone, Default)]
pub struct XlMetaBuilder {
    versions: Vec<(VersionHeader, Vec<u8>)>,
    inline: InlineData<'static>,
}

fn inline_key(version_id: &[u8; 16]) -> String {
    if *version_id == [0; 16] {
        "null".to_owned()
    } else {
        format_uuid(version_id)
    }
}

impl XlMetaBuilder {
    /// An empty file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an object version; `inline_data` is this drive's shard stream
    /// when the object is inline (its MetaSys must then carry
    /// `x-minio-internal-inline-data`). `written_by_version` is the `v` field.
    pub fn add_object(
        &mut self,
        obj: &ObjectV2<'_>,
        written_by_version: u64,
        inline_data: Option<Vec<u8>>,
    ) -> Result<()> {
        if obj.ec_algo != 1 || obj.checksum_algo != 1 {
            return Err(Error::InvalidInput("EcAlgo and CSumAlgo must be 1"));
        }
        if obj.ec_m <= 0
            || obj.ec_n < 0
            || obj.ec_m < obj.ec_n
            || obj.ec_m.saturating_add(obj.ec_n) > 256
        {
            return Err(Error::InvalidInput(
                "erasure layout must satisfy D > 0, P >= 0, D >= P, D + P <= 256",
            ));
        }
        if obj.mod_time <= 0 {
            return Err(Error::InvalidInput("MTime must be positive"));
        }
        if inline_data.is_some() && obj.meta_sys(META_INLINE_DATA).is_none() {
            return Err(Error::InvalidInput(
                "inline data without the x-minio-internal-inline-data MetaSys key",
            ));
        }
        let mut meta = Vec::with_capacity(512);
        obj.encode_version(written_by_version, &mut meta)?;
        let key = inline_key(&obj.version_id);
        self.insert(meta)?;
        match inline_data {
            Some(data) => self.inline.set(&key, data),
            None => {
                self.inline.remove(&key);
            }
        }
        Ok(())
    }

    /// Adds a delete marker (MinIO creates them with an empty, non-nil MetaSys).
    pub fn add_delete_marker(
        &mut self,
        marker: &DeleteMarker<'_>,
        written_by_version: u64,
    ) -> Result<()> {
        if marker.mod_time <= 0 {
            return Err(Error::InvalidInput("MTime must be positive"));
        }
        let mut meta = Vec::with_capacity(64);
        marker.encode_version(written_by_version, &mut meta)?;
        self.inline.remove(&inline_key(&marker.version_id));
        self.insert(meta)
    }

    fn insert(&mut self, meta: Vec<u8>) -> Result<()> {
        let decoded = VersionMeta::decode(&meta)?;
        let header = derive_header(&decoded, now_unix_secs())?;
        // A version with the same id replaces the existing one.
        self.versions
            .retain(|(h, _)| h.version_id != header.version_id);
        let pos = self
            .versions
            .iter()
            .position(|(h, _)| h.mod_time <= header.mod_time)
            .unwrap_or(self.versions.len());
        self.versions.insert(pos, (header, meta));
        Ok(())
    }

    /// Number of versions added so far.
    pub fn len(&self) -> usize {
        self.versions.len()
    }

    /// Whether no version was added.
    pub fn is_empty(&self) -> bool {
        self.versions.is_empty()
    }

    /// The encoded file.
    pub fn build(&self) -> Result<Vec<u8>> {
        XlMeta::from_parts(self.versions.clone(), self.inline.clone()).encode_upgraded()
    }
}
