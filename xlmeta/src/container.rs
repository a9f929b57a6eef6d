//! The `xl.meta` container (ONDISK §3): magic, version dispatch, the
//! indexed body of 1.3 files or the legacy `{"Versions": […]}` map of 1.0–1.2
//! files, the CRC and the inline data section.
//!
//! Decoding is zero-copy and lazy: [`XlMeta::parse`] reads only the
//! container and the small per-version headers; a version's metadata is
//! decoded when asked for. Legacy containers have no stored headers, so
//! their metas are decoded up front to derive headers and sort them the way
//! MinIO's loader does.

use std::borrow::Cow;

use xxhash_rust::xxh64::xxh64;

use crate::error::{Error, MsgpProblem, Result};
use crate::fixup;
use crate::header::{
    VersionHeader, VersionType, FLAG_USES_DATA_DIR, HEADER_VERSION_CURRENT, META_VERSION_CURRENT,
};
use crate::inline::InlineData;
use crate::meta::{ObjectV2, VersionBody, VersionMeta};
use crate::msgp::{self, len_u32, Reader};
use crate::uuid::format_uuid;

/// `XL2 `.
pub const MAGIC: &[u8; 4] = b"XL2 ";

/// One version: its header and its stored (or re-encoded) meta bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version<'a> {
    header: VersionHeader,
    /// Stored header bytes (1.3 files), `None` when derived or re-encoded.
    header_raw: Option<&'a [u8]>,
    meta_raw: Cow<'a, [u8]>,
    /// Stored bin-wrapped header+meta pair, while untouched (1.3 files).
    pair_raw: Option<&'a [u8]>,
}

impl<'a> Version<'a> {
    /// The version header (stored, or derived for legacy containers).
    pub fn header(&self) -> &VersionHeader {
        &self.header
    }

    /// Stored header bytes, when the file had them and the version is untouched.
    pub fn header_bytes(&self) -> Option<&[u8]> {
        self.header_raw
    }

    /// The version meta bytes (msgpack map).
    pub fn meta_bytes(&self) -> &[u8] {
        &self.meta_raw
    }

    /// Decodes the version meta, borrowing from this version.
    pub fn meta(&self) -> Result<VersionMeta<'_>> {
        VersionMeta::decode(&self.meta_raw)
    }

    /// Whether this version was re-encoded by an edit.
    pub fn is_modified(&self) -> bool {
        self.pair_raw.is_none() && matches!(self.meta_raw, Cow::Owned(_))
    }

    /// Inline-data key of this version: its UUID string, or `null`.
    pub fn inline_key(&self) -> String {
        if self.header.is_null_version() {
            "null".to_owned()
        } else {
            format_uuid(&self.header.version_id)
        }
    }
}

/// A decoded `xl.meta` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XlMeta<'a> {
    raw: &'a [u8],
    major: u16,
    minor: u16,
    header_version: u64,
    meta_version: u64,
    versions: Vec<Version<'a>>,
    /// The CRC-covered body and the stored CRC (1.2 and 1.3 files).
    crc: Option<(&'a [u8], u32)>,
    inline: InlineData<'a>,
    modified: bool,
    /// The raw `{"Versions": […]}` map of a 1.0–1.2 container, as stored.
    legacy_map: Option<&'a [u8]>,
}

/// Low 32 bits of xxHash64 of the body (ONDISK §3.3).
pub fn body_crc(body: &[u8]) -> u32 {
    xxh64(body, 0) as u32
}

impl<'a> XlMeta<'a> {
    /// Decodes a container without verifying the CRC (see [`XlMeta::verify_crc`]).
    pub fn parse(raw: &'a [u8]) -> Result<Self> {
        if raw.len() <= 8 {
            if raw.first() == Some(&b'{') {
                return Err(Error::LegacyXlJson);
            }
            return Err(Error::TooShort { len: raw.len() });
        }
        let mut magic = [0u8; 4];
        magic.copy_from_slice(raw.get(..4).unwrap_or(&[0; 4]));
        if &magic != MAGIC {
            // MinIO falls back to the v1 JSON format for anything else.
            let first = raw.iter().find(|b| !b.is_ascii_whitespace());
            if first == Some(&b'{') {
                return Err(Error::LegacyXlJson);
            }
            return Err(Error::BadMagic { magic });
        }
        let ver = raw.get(4..8).unwrap_or_default();
        let (major, minor) = if ver == b"1   " {
            (1, 0)
        } else {
            let b = |i: usize| ver.get(i).copied().unwrap_or(0);
            (
                u16::from_le_bytes([b(0), b(1)]),
                u16::from_le_bytes([b(2), b(3)]),
            )
        };
        if major != 1 || minor > 3 {
            return Err(Error::UnsupportedVersion { major, minor });
        }
        let payload = raw.get(8..).unwrap_or_default();
        let mut r = Reader::new(payload);
        // (header version, meta version, versions, CRC, inline section)
        let mut legacy_map = None;
        let (header_version, meta_version, versions, crc, inline) = match minor {
            0 => {
                let body = r.read_raw("legacy xl.meta map")?;
                legacy_map = Some(body);
                (
                    0,
                    1,
                    Self::legacy_versions(body)?,
                    None,
                    InlineData::default(),
                )
            }
            1 | 2 => {
                let body = r.read_bin("legacy xl.meta body")?;
                legacy_map = Some(body);
                let crc = if minor == 2 {
                    Some((body, r.read_u32("legacy CRC")?))
                } else {
                    None
                };
                let inline = InlineData::decode(r.rest())?;
                (0, 1, Self::legacy_versions(body)?, crc, inline)
            }
            _ => {
                let body = r.read_bin("xl.meta body")?;
                let crc = r.read_u32("CRC")?;
                let inline = InlineData::decode(r.rest())?;
                let (hv, mv, versions) = Self::indexed_versions(body)?;
                (hv, mv, versions, Some((body, crc)), inline)
            }
        };
        Ok(Self {
            raw,
            major,
            minor,
            header_version,
            meta_version,
            versions,
            crc,
            inline,
            modified: false,
            legacy_map,
        })
    }

    /// Body of a 1.3 file: header version, meta version, count, then bin pairs.
    fn indexed_versions(body: &'a [u8]) -> Result<(u64, u64, Vec<Version<'a>>)> {
        let mut r = Reader::new(body);
        let hv = r.read_u64("header version")?;
        let mv = r.read_u64("meta version")?;
        if hv > HEADER_VERSION_CURRENT || hv == 0 {
            return Err(Error::UnsupportedHeaderVersion(hv));
        }
        if mv > META_VERSION_CURRENT {
            return Err(Error::UnsupportedMetaVersion(mv));
        }
        let count = r.read_i64("version count")?;
        let count =
            usize::try_from(count).map_err(|_| r.err("version count", MsgpProblem::IntOverflow))?;
        // Each pair needs at least 4 bytes: bound the allocation by the input.
        let mut versions = Vec::with_capacity(count.min(r.rest().len() / 4));
        for index in 0..count {
            let start = r.pos();
            let header_raw = r.read_bin("version header bin")?;
            let meta_raw = r.read_bin("version meta bin")?;
            let header = VersionHeader::decode(header_raw, hv).map_err(|e| match e {
                Error::InvalidVersionType { vtype, .. } => {
                    Error::InvalidVersionType { index, vtype }
                }
                other => other,
            })?;
            versions.push(Version {
                header,
                header_raw: Some(header_raw),
                meta_raw: Cow::Borrowed(meta_raw),
                pair_raw: Some(r.span(start, r.pos())),
            });
        }
        Ok((hv, mv, versions))
    }

    /// Legacy `{"Versions": [...]}`: derive each header and sort like MinIO.
    fn legacy_versions(body: &'a [u8]) -> Result<Vec<Version<'a>>> {
        let mut r = Reader::new(body);
        let n = r.read_map_len("legacy xl.meta map")?;
        let mut versions = Vec::new();
        for _ in 0..n {
            let key = r.read_str_bytes("legacy xl.meta key")?;
            if key != b"Versions" || r.try_nil() {
                if key != b"Versions" {
                    r.skip("legacy xl.meta field")?;
                }
                continue;
            }
            let count = r.read_array_len("legacy Versions")?;
            versions.reserve(usize::try_from(count).unwrap_or(0).min(r.rest().len()));
            for index in 0..usize::try_from(count).unwrap_or(usize::MAX) {
                let meta_raw = r.read_raw("legacy version")?;
                let mut meta = VersionMeta::decode(meta_raw).map_err(|e| with_index(e, index))?;
                // MinIO reads legacy entries as meta version 1, which
                // converts delete markers' replication timestamps to UTC
                // before the header (and its signature) is computed.
                if let VersionBody::Delete(d) = &mut meta.body {
                    fixup::normalize_delete_marker_timestamps(d);
                }
                let header = derive_header(&meta, now_unix_secs())?;
                versions.push(Version {
                    header,
                    header_raw: None,
                    meta_raw: Cow::Borrowed(meta_raw),
                    pair_raw: None,
                });
            }
        }
        // Stable sort by MinIO's total order (ONDISK §4.3).
        versions.sort_by(|a, b| {
            if a.header.sorts_before(&b.header) {
                std::cmp::Ordering::Less
            } else if b.header.sorts_before(&a.header) {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        });
        Ok(versions)
    }

    /// `(major, minor)` container version.
    pub fn container_version(&self) -> (u16, u16) {
        (self.major, self.minor)
    }

    /// Header version of a 1.3 body (0 for legacy containers).
    pub fn header_version(&self) -> u64 {
        self.header_version
    }

    /// Meta version of a 1.3 body (1 for legacy containers, as MinIO sets on conversion).
    pub fn meta_version(&self) -> u64 {
        self.meta_version
    }

    /// Whether the container predates the indexed 1.3 layout.
    pub fn is_legacy_container(&self) -> bool {
        self.minor < 3
    }

    /// The stored `{"Versions": […]}` map of an unedited 1.0–1.2 container
    /// (`None` for 1.3 files and once a version was edited).
    pub fn legacy_map(&self) -> Option<&'a [u8]> {
        self.legacy_map.filter(|_| !self.modified)
    }

    /// Versions, newest first.
    pub fn versions(&self) -> &[Version<'a>] {
        &self.versions
    }

    /// One version.
    pub fn version(&self, index: usize) -> Result<&Version<'a>> {
        self.versions.get(index).ok_or(Error::NoSuchVersion {
            index,
            count: self.versions.len(),
        })
    }

    /// The inline data section.
    pub fn inline_data(&self) -> &InlineData<'a> {
        &self.inline
    }

    /// The inline data of one version: by its version key, falling back to
    /// its data directory UUID string (historical layout, ONDISK §9.2).
    pub fn version_inline_data(&self, index: usize) -> Result<Option<&[u8]>> {
        let v = self.version(index)?;
        if let Some(d) = self.inline.get(&v.inline_key()) {
            return Ok(Some(d));
        }
        if v.header.vtype == VersionType::Object {
            if let VersionBody::Object(o) = v.meta()?.body {
                return Ok(self.inline.get(&format_uuid(&o.data_dir)));
            }
        }
        Ok(None)
    }

    /// Stored CRC, for containers that have one.
    pub fn stored_crc(&self) -> Option<u32> {
        self.crc.map(|(_, c)| c)
    }

    /// Recomputed CRC of the stored body, for containers that have one.
    pub fn computed_crc(&self) -> Option<u32> {
        self.crc.map(|(body, _)| body_crc(body))
    }

    /// Checks the stored CRC (1.2 and 1.3 files; older ones have none).
    pub fn verify_crc(&self) -> Result<()> {
        match self.crc {
            Some((body, stored)) => {
                let computed = body_crc(body);
                if computed == stored {
                    Ok(())
                } else {
                    Err(Error::CrcMismatch { stored, computed })
                }
            }
            None => Ok(()),
        }
    }

    /// Recomputes one version's signature and checks it and the identifying
    /// header fields against its meta.
    pub fn verify_version(&self, index: usize) -> Result<()> {
        let v = self.version(index)?;
        let meta = v.meta().map_err(|e| with_index(e, index))?;
        let h = &v.header;
        if meta.version_type() != h.vtype {
            return Err(Error::HeaderMismatch {
                index,
                field: "Type",
            });
        }
        if meta.version_id() != h.version_id {
            return Err(Error::HeaderMismatch {
                index,
                field: "VersionID",
            });
        }
        if meta.mod_time() != h.mod_time {
            return Err(Error::HeaderMismatch {
                index,
                field: "ModTime",
            });
        }
        let mut computed = meta.signature()?;
        // Meta version 1 (and every legacy container) is read by MinIO with
        // delete-marker replication timestamps converted to UTC first.
        if computed != h.signature && (self.is_legacy_container() || self.meta_version < 2) {
            if let VersionBody::Delete(mut d) = meta.body {
                if fixup::normalize_delete_marker_timestamps(&mut d) {
                    computed = crate::signature::delete_signature(&d)?;
                }
            }
        }
        // Header version 1 stored no signature.
        let has_signature = self.is_legacy_container() || self.header_version >= 2;
        if has_signature && computed != h.signature {
            return Err(Error::SignatureMismatch {
                index,
                stored: hex4(&h.signature),
                computed: hex4(&computed),
            });
        }
        Ok(())
    }

    /// CRC and every version; stops at the first problem.
    pub fn verify(&self) -> Result<()> {
        self.verify_crc()?;
        (0..self.versions.len()).try_for_each(|i| self.verify_version(i))
    }

    /// Every problem [`XlMeta::verify`] would find, not only the first.
    pub fn verify_all(&self) -> Vec<Error> {
        let mut errors: Vec<Error> = self.verify_crc().err().into_iter().collect();
        errors.extend((0..self.versions.len()).filter_map(|i| self.verify_version(i).err()));
        errors
    }

    /// The object at `index`, detached from `self` so it can be edited and
    /// handed back to [`XlMeta::replace_object`]. Borrows from the input
    /// buffer while the version is untouched.
    pub fn object(&self, index: usize) -> Result<ObjectV2<'a>> {
        let v = self.version(index)?;
        let not_object = || Error::NotAnObject {
            index,
            vtype: v.header.vtype.as_u8(),
        };
        match &v.meta_raw {
            Cow::Borrowed(b) => match VersionMeta::decode(b)
                .map_err(|e| with_index(e, index))?
                .body
            {
                VersionBody::Object(o) => Ok(o),
                _ => Err(not_object()),
            },
            Cow::Owned(b) => match VersionMeta::decode(b)
                .map_err(|e| with_index(e, index))?
                .body
            {
                VersionBody::Object(o) => Ok(o.into_owned()),
                _ => Err(not_object()),
            },
        }
    }

    /// Whether the version at `index` carries metadata keys this codec does
    /// not know (re-encoding would drop them; the engine should skip it).
    pub fn has_unknown_keys(&self, index: usize) -> Result<bool> {
        Ok(self
            .version(index)?
            .meta()
            .map_err(|e| with_index(e, index))?
            .has_unknown_keys())
    }

    /// The object at `index` for editing, with its `v` field; refuses
    /// versions carrying keys this codec does not know.
    fn editable(&self, index: usize) -> Result<(ObjectV2<'a>, u64)> {
        let v = self.version(index)?;
        let not_object = || Error::NotAnObject {
            index,
            vtype: v.header.vtype.as_u8(),
        };
        let check = |meta: &VersionMeta<'_>| {
            if meta.has_unknown_keys() {
                return Err(Error::UnknownKeys {
                    index,
                    keys: meta.unknown_keys.join(","),
                });
            }
            Ok(meta.written_by_version)
        };
        match &v.meta_raw {
            Cow::Borrowed(b) => {
                let meta = VersionMeta::decode(b).map_err(|e| with_index(e, index))?;
                let written_by = check(&meta)?;
                match meta.body {
                    VersionBody::Object(o) => Ok((o, written_by)),
                    _ => Err(not_object()),
                }
            }
            Cow::Owned(b) => {
                let meta = VersionMeta::decode(b).map_err(|e| with_index(e, index))?;
                let written_by = check(&meta)?;
                match meta.body {
                    VersionBody::Object(o) => Ok((o.into_owned(), written_by)),
                    _ => Err(not_object()),
                }
            }
        }
    }

    /// Replaces the object version at `index` with `obj`: re-encodes its
    /// meta (keeping `v`), recomputes its signature and flags, and re-encodes
    /// its header. Identity and erasure layout fields must be unchanged.
    pub fn replace_object(&mut self, index: usize, obj: &ObjectV2<'_>) -> Result<()> {
        self.replace_object_at(index, obj, now_unix_secs())
    }

    /// [`XlMeta::replace_object`] with an explicit clock (only restored
    /// tiered objects' flags depend on it).
    pub fn replace_object_at(
        &mut self,
        index: usize,
        obj: &ObjectV2<'_>,
        now_unix_secs: i64,
    ) -> Result<()> {
        let (old, written_by) = self.editable(index)?;
        Identity::of(&old).check(index, obj)?;
        self.store_object(index, obj, written_by, now_unix_secs)
    }

    /// Decodes the object at `index` once, lets `edit` change it, checks
    /// that no identifying field changed, and stores it (see
    /// [`XlMeta::replace_object`]).
    pub fn edit_object(
        &mut self,
        index: usize,
        edit: impl FnOnce(&mut ObjectV2<'a>) -> Result<()>,
    ) -> Result<()> {
        let (mut obj, written_by) = self.editable(index)?;
        let before = Identity::of(&obj);
        edit(&mut obj)?;
        before.check(index, &obj)?;
        self.store_object(index, &obj, written_by, now_unix_secs())
    }

    fn store_object(
        &mut self,
        index: usize,
        obj: &ObjectV2<'_>,
        written_by: u64,
        now_unix_secs: i64,
    ) -> Result<()> {
        let v = self.version(index)?;
        let mut meta_raw = Vec::with_capacity(v.meta_raw.len() + 64);
        obj.encode_version(written_by, &mut meta_raw)?;
        let mut header = v.header;
        header.signature = crate::signature::object_signature(obj)?;
        let mut flags = obj.flags(now_unix_secs);
        if obj.is_transitioned() {
            // UsesDataDir of a tiered object depends on the wall clock; keep
            // what MinIO decided (ONDISK pitfall 27).
            flags = (flags & !FLAG_USES_DATA_DIR) | (header.flags & FLAG_USES_DATA_DIR);
        }
        header.flags = flags;
        if let Some(slot) = self.versions.get_mut(index) {
            *slot = Version {
                header,
                header_raw: None,
                meta_raw: Cow::Owned(meta_raw),
                pair_raw: None,
            };
        }
        self.modified = true;
        Ok(())
    }

    /// Replaces (`Some`) or removes (`None`) the inline data of the version
    /// at `index`, keeping the order of the other entries.
    pub fn set_version_inline_data(&mut self, index: usize, data: Option<Vec<u8>>) -> Result<()> {
        let key = self.version(index)?.inline_key();
        match data {
            Some(d) => self.inline.set(&key, d),
            None => {
                self.inline.remove(&key);
            }
        }
        self.modified = true;
        Ok(())
    }

    /// Whether anything was edited since parsing.
    pub fn is_modified(&self) -> bool {
        self.modified
    }

    /// Encodes the file. Untouched files come back byte-identical. Edited
    /// 1.3 files keep their header and meta versions and every untouched
    /// version pair verbatim (strategy A, ONDISK §6.2); edited 1.0–1.2 files
    /// are upgraded to 1.3 (strategy B).
    pub fn encode(&self) -> Result<Vec<u8>> {
        if !self.modified {
            return Ok(self.raw.to_vec());
        }
        if self.is_legacy_container() {
            return self.encode_upgraded();
        }
        self.encode_13(self.header_version, self.meta_version, true)
    }

    /// Encodes as MinIO's writer would (strategy B): container 1.3, header
    /// and meta version 3, every header re-encoded as a 7-element array
    /// (headers loaded from older versions keep EcN = EcM = 0), meta bytes
    /// kept verbatim except for versions MinIO's loader repairs (§3.4),
    /// which are re-encoded with a fresh header as MinIO would.
    pub fn encode_upgraded(&self) -> Result<Vec<u8>> {
        self.encode_13(HEADER_VERSION_CURRENT, META_VERSION_CURRENT, false)
    }

    fn encode_13(
        &self,
        header_version: u64,
        meta_version: u64,
        reuse_pairs: bool,
    ) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.raw.len() + 64);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[1, 0, 3, 0]);
        // Body length is patched after the body is written.
        out.extend_from_slice(&[0xc6, 0, 0, 0, 0]);
        let body_start = out.len();
        msgp::write_uint(&mut out, header_version);
        msgp::write_uint(&mut out, meta_version);
        let count = i64::try_from(self.versions.len()).map_err(|_| Error::TooLarge {
            what: "version count",
        })?;
        msgp::write_int(&mut out, count);
        let mut hdr = Vec::with_capacity(48);
        for v in &self.versions {
            match (reuse_pairs, v.pair_raw) {
                (true, Some(pair)) => out.extend_from_slice(pair),
                _ => {
                    let fixed = if reuse_pairs { None } else { self.fixed_up(v)? };
                    let (header, meta) = match &fixed {
                        Some((h, m)) => (h, m.as_slice()),
                        None => (&v.header, v.meta_raw.as_ref()),
                    };
                    hdr.clear();
                    header.encode(header_version, &mut hdr)?;
                    msgp::write_bin(&mut out, &hdr)?;
                    msgp::write_bin(&mut out, meta)?;
                }
            }
        }
        let body_len = len_u32(out.len() - body_start, "xl.meta body")?;
        if let Some(len) = out.get_mut(body_start - 4..body_start) {
            len.copy_from_slice(&body_len.to_be_bytes());
        }
        let crc = body_crc(out.get(body_start..).unwrap_or_default());
        out.push(0xce);
        out.extend_from_slice(&crc.to_be_bytes());
        self.inline.encode(&mut out)?;
        Ok(out)
    }

    /// The version as MinIO's loader repairs it (ONDISK §3.4) when this 1.3
    /// file's meta version predates the repair; `None` if nothing changes.
    fn fixed_up(&self, v: &Version<'a>) -> Result<Option<(VersionHeader, Vec<u8>)>> {
        if self.is_legacy_container() || self.meta_version >= META_VERSION_CURRENT {
            return Ok(None);
        }
        let candidate = match v.header.vtype {
            VersionType::Object => fixup::is_part_index_candidate(&v.meta_raw),
            VersionType::Delete => self.meta_version < 2,
            VersionType::Legacy => false,
        };
        if !candidate {
            return Ok(None);
        }
        let mut meta = v.meta()?;
        let written_by = meta.written_by_version;
        let changed = match &mut meta.body {
            VersionBody::Object(o) => fixup::clear_small_part_indexes(o, written_by),
            VersionBody::Delete(d) => fixup::normalize_delete_marker_timestamps(d),
            VersionBody::Legacy(_) => false,
        };
        if !changed {
            return Ok(None);
        }
        let mut raw = Vec::with_capacity(v.meta_raw.len());
        match &meta.body {
            VersionBody::Object(o) => o.encode_version(written_by, &mut raw)?,
            VersionBody::Delete(d) => d.encode_version(written_by, &mut raw)?,
            VersionBody::Legacy(_) => return Ok(None),
        }
        let header = derive_header(&meta, now_unix_secs())?;
        Ok(Some((header, raw)))
    }

    pub(crate) fn from_parts(
        versions: Vec<(VersionHeader, Vec<u8>)>,
        inline: InlineData<'a>,
    ) -> Self {
        Self {
            raw: &[],
            major: 1,
            minor: 3,
            header_version: HEADER_VERSION_CURRENT,
            meta_version: META_VERSION_CURRENT,
            versions: versions
                .into_iter()
                .map(|(header, meta)| Version {
                    header,
                    header_raw: None,
                    meta_raw: Cow::Owned(meta),
                    pair_raw: None,
                })
                .collect(),
            crc: None,
            inline,
            modified: true,
            legacy_map: None,
        }
    }
}

/// The fields an edit must not change (ONDISK §6.2): identity, erasure
/// layout and part numbering.
struct Identity {
    version_id: [u8; 16],
    mod_time: i64,
    ec: (u8, i64, i64, i64, i64, u8),
    ec_dist: Vec<u8>,
    part_numbers: Vec<i64>,
}

impl Identity {
    fn of(o: &ObjectV2<'_>) -> Self {
        Self {
            version_id: o.version_id,
            mod_time: o.mod_time,
            ec: (
                o.ec_algo,
                o.ec_m,
                o.ec_n,
                o.ec_block_size,
                o.ec_index,
                o.checksum_algo,
            ),
            ec_dist: o.ec_dist.clone(),
            part_numbers: o.part_numbers.clone(),
        }
    }

    fn check(&self, index: usize, o: &ObjectV2<'_>) -> Result<()> {
        let changed = [
            ("ID", o.version_id != self.version_id),
            ("MTime", o.mod_time != self.mod_time),
            ("EcAlgo", o.ec_algo != self.ec.0),
            ("EcM", o.ec_m != self.ec.1),
            ("EcN", o.ec_n != self.ec.2),
            ("EcBSize", o.ec_block_size != self.ec.3),
            ("EcIndex", o.ec_index != self.ec.4),
            ("CSumAlgo", o.checksum_algo != self.ec.5),
            ("EcDist", o.ec_dist != self.ec_dist),
            ("PartNums", o.part_numbers != self.part_numbers),
        ];
        match changed.iter().find(|(_, c)| *c) {
            Some((field, _)) => Err(Error::ImmutableField { index, field }),
            None => Ok(()),
        }
    }
}

/// Header MinIO derives from a version meta (ONDISK §4.1, §4.2, §4.4).
pub fn derive_header(meta: &VersionMeta<'_>, now_unix_secs: i64) -> Result<VersionHeader> {
    let (ec_n, ec_m) = meta.header_ec();
    Ok(VersionHeader {
        version_id: meta.version_id(),
        mod_time: meta.mod_time(),
        signature: meta.signature()?,
        vtype: meta.version_type(),
        flags: meta.flags(now_unix_secs),
        ec_n,
        ec_m,
    })
}

fn with_index(e: Error, index: usize) -> Error {
    match e {
        Error::InvalidVersionType { vtype, .. } => Error::InvalidVersionType { index, vtype },
        other => other,
    }
}

fn hex4(b: &[u8; 4]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(crate) fn now_unix_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
