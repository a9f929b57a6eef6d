//! Version metadata (`xlMetaV2Version`, ONDISK §5): typed views of object
//! versions (`V2Obj`), delete markers (`DelObj`) and converted legacy
//! objects (`V1Obj`), decoded zero-copy from the stored msgpack.
//!
//! Strings and byte strings borrow from the input (`Cow::Borrowed`); edits
//! replace single entries with owned values, so an edited version only
//! allocates what changed. Map entries keep their stored order because
//! MinIO wrote them in (random) Go map order and a re-encode should not
//! reshuffle entries it did not touch.

use std::borrow::Cow;

use crate::error::{Error, MsgpProblem, Result};
use crate::header::{VersionType, FLAG_FREE_VERSION, FLAG_INLINE_DATA, FLAG_USES_DATA_DIR};
use crate::msgp::Reader;

/// A string-keyed metadata map in stored order.
pub type MetaMap<'a, V> = Vec<(Cow<'a, str>, Cow<'a, V>)>;
/// `MetaSys`: internal metadata, string keys → byte values, in stored order.
pub type MetaSys<'a> = MetaMap<'a, [u8]>;
/// `MetaUsr`: user/S3 metadata, string keys → string values, in stored order.
pub type MetaUsr<'a> = MetaMap<'a, str>;

/// MetaSys key whose presence marks an inline version (flag 4).
pub const META_INLINE_DATA: &str = "x-minio-internal-inline-data";
/// MetaSys key whose presence on a delete marker makes it a free version (flag 1).
pub const META_FREE_VERSION: &str = "x-minio-internal-free-version";
/// MetaSys key of the tiering state.
pub const META_TRANSITION_STATUS: &str = "x-minio-internal-transition-status";
/// MetaUsr key of the restore state of a tiered object.
pub const META_AMZ_RESTORE: &str = "x-amz-restore";
/// Prefix that routes a flat metadata key into MetaSys (compared case-insensitively).
pub const META_SYS_PREFIX: &str = "x-minio-internal-";

/// Whether MinIO stores a flat metadata key in `MetaSys` (ONDISK §5.6):
/// longer than the prefix and starting with it, ignoring ASCII case.
pub fn is_meta_sys_key(key: &str) -> bool {
    key.len() > META_SYS_PREFIX.len()
        && key
            .as_bytes()
            .get(..META_SYS_PREFIX.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(META_SYS_PREFIX.as_bytes()))
}

/// An object version (`V2Obj`), every field of ONDISK §5.2.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectV2<'a> {
    /// `ID`: version UUID bytes; zero for the null version.
    pub version_id: [u8; 16],
    /// `DDir`: data directory UUID bytes.
    pub data_dir: [u8; 16],
    /// `EcAlgo`: 1 = Reed-Solomon.
    pub ec_algo: u8,
    /// `EcM`: data shards.
    pub ec_m: i64,
    /// `EcN`: parity shards.
    pub ec_n: i64,
    /// `EcBSize`: erasure block size.
    pub ec_block_size: i64,
    /// `EcIndex`: 1-based shard number held by this drive (per drive).
    pub ec_index: i64,
    /// `EcDist`: shard distribution over the set's drives.
    pub ec_dist: Vec<u8>,
    /// `CSumAlgo`: 1 = streaming HighwayHash-256.
    pub checksum_algo: u8,
    /// `PartNums`: part numbers.
    pub part_numbers: Vec<i64>,
    /// `PartETags`: `None` = nil (`c0`).
    pub part_etags: Option<Vec<Cow<'a, str>>>,
    /// `PartSizes`: stored size of each part.
    pub part_sizes: Vec<i64>,
    /// `PartASizes`: actual (plaintext) size of each part; `None` = nil.
    pub part_actual_sizes: Option<Vec<i64>>,
    /// `PartIdx`: compression indexes; `None` = omitted.
    pub part_indices: Option<Vec<Cow<'a, [u8]>>>,
    /// `Size`: total stored size.
    pub size: i64,
    /// `MTime`: Unix nanoseconds (equals the header ModTime).
    pub mod_time: i64,
    /// `MetaSys`; `None` = nil.
    pub meta_sys: Option<MetaSys<'a>>,
    /// `MetaUsr`; `None` = nil.
    pub meta_usr: Option<MetaUsr<'a>>,
}

/// A delete marker (`DelObj`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteMarker<'a> {
    /// `ID`: version UUID bytes.
    pub version_id: [u8; 16],
    /// `MTime`: Unix nanoseconds.
    pub mod_time: i64,
    /// `MetaSys`; `None` = omitted.
    pub meta_sys: Option<MetaSys<'a>>,
}

/// A msgp `time.Time` (extension 5): seconds and nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MsgpTime {
    /// Seconds since the Unix epoch.
    pub secs: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
}

impl MsgpTime {
    /// Unix nanoseconds, as Go's `UnixNano` (wrapping like Go on overflow).
    pub fn unix_nanos(&self) -> i64 {
        self.secs
            .wrapping_mul(1_000_000_000)
            .wrapping_add(i64::from(self.nanos))
    }
}

/// `Stat` of a legacy object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LegacyStat<'a> {
    /// `Size`.
    pub size: i64,
    /// `ModTime`.
    pub mod_time: MsgpTime,
    /// `Name`.
    pub name: &'a str,
    /// `Dir`.
    pub dir: bool,
    /// `Mode`.
    pub mode: u32,
}

/// One whole-file bitrot checksum of a legacy object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LegacyChecksum<'a> {
    /// `PartNumber`.
    pub part_number: i64,
    /// `Algorithm` (bitrot algorithm enum, ONDISK §8.1).
    pub algorithm: u64,
    /// `Hash`.
    pub hash: &'a [u8],
}

/// `Erasure` of a legacy object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LegacyErasure<'a> {
    /// `Algorithm`.
    pub algorithm: &'a str,
    /// `DataBlocks`.
    pub data_blocks: i64,
    /// `ParityBlocks`.
    pub parity_blocks: i64,
    /// `BlockSize`.
    pub block_size: i64,
    /// `Index` (per drive).
    pub index: i64,
    /// `Distribution`.
    pub distribution: Vec<i64>,
    /// `Checksums`.
    pub checksums: Vec<LegacyChecksum<'a>>,
}

/// `ObjectPartInfo` as stored in legacy objects (short msgp keys).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LegacyPart<'a> {
    /// `e`: ETag.
    pub etag: &'a str,
    /// `n`: part number.
    pub number: i64,
    /// `s`: size.
    pub size: i64,
    /// `as`: actual size.
    pub actual_size: i64,
    /// `mt`: modification time.
    pub mod_time: MsgpTime,
    /// `i`: compression index (omitted when absent).
    pub index: Option<&'a [u8]>,
    /// `crc`: checksums (omitted when absent).
    pub checksums: Option<Vec<(&'a str, &'a str)>>,
    /// `err`: error text (omitted when empty).
    pub error: &'a str,
}

/// A legacy object converted from `xl.json` (`V1Obj`, ONDISK §5.4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LegacyObject<'a> {
    /// `Version`: "1.0.0" or "1.0.1".
    pub version: &'a str,
    /// `Format`: "xl".
    pub format: &'a str,
    /// `Stat`.
    pub stat: LegacyStat<'a>,
    /// `Erasure`.
    pub erasure: LegacyErasure<'a>,
    /// `Minio.Release`.
    pub minio_release: &'a str,
    /// `Meta`, in stored order.
    pub meta: Vec<(&'a str, &'a str)>,
    /// `Parts`.
    pub parts: Vec<LegacyPart<'a>>,
    /// `VersionID`: "null" or a UUID string.
    pub version_id: &'a str,
    /// `DataDir`: "legacy".
    pub data_dir: &'a str,
}

/// The body of a version, by type.
#[derive(Debug, Clone, PartialEq, Eq)]
// Objects are the common case: boxing them would add an allocation per decode.
#[allow(clippy::large_enum_variant)]
pub enum VersionBody<'a> {
    /// Object version.
    Object(ObjectV2<'a>),
    /// Delete marker.
    Delete(DeleteMarker<'a>),
    /// Converted legacy object.
    /// Boxed: large and rare, it would otherwise inflate every decoded version.
    Legacy(Box<LegacyObject<'a>>),
}

/// A decoded version meta (the outer `xlMetaV2Version` map).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionMeta<'a> {
    /// The version's body.
    pub body: VersionBody<'a>,
    /// `v` (`WrittenByVersion`): Unix seconds of the writing release; 0 if absent.
    pub written_by_version: u64,
    /// Whether `v` was present in the stored bytes.
    pub has_written_by_version: bool,
    /// Keys found in the version or object maps that this codec does not know.
    pub unknown_keys: Vec<String>,
}

impl<'a> VersionMeta<'a> {
    /// Decodes a stored version meta.
    pub fn decode(bytes: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let mut unknown = Vec::new();
        let mut vtype: Option<u64> = None;
        let mut object = None;
        let mut delete = None;
        let mut legacy = None;
        let mut written_by = None;
        let n = r.read_map_len("version meta")?;
        for _ in 0..n {
            let key = read_key(&mut r, "version meta key")?;
            match key {
                b"Type" => vtype = Some(r.read_u64("Type")?),
                b"V2Obj" => {
                    if r.try_nil() {
                        object = None;
                    } else {
                        // Decoded in place: the struct is large, moves cost.
                        decode_object(&mut r, object.insert(ObjectV2::default()), &mut unknown)?;
                    }
                }
                b"DelObj" => {
                    delete = if r.try_nil() {
                        None
                    } else {
                        Some(decode_delete(&mut r, &mut unknown)?)
                    }
                }
                b"V1Obj" => {
                    legacy = if r.try_nil() {
                        None
                    } else {
                        Some(Box::new(decode_legacy(&mut r)?))
                    }
                }
                b"v" => written_by = Some(r.read_u64("v")?),
                other => {
                    unknown.push(String::from_utf8_lossy(other).into_owned());
                    r.skip("unknown version meta field")?;
                }
            }
        }
        let raw_type = vtype.unwrap_or(0);
        let body = match (VersionType::from_u64(raw_type), object, delete, legacy) {
            (Some(VersionType::Object), Some(o), _, _) => VersionBody::Object(o),
            (Some(VersionType::Delete), _, Some(d), _) => VersionBody::Delete(d),
            (Some(VersionType::Legacy), _, _, Some(l)) => VersionBody::Legacy(l),
            _ => {
                return Err(Error::InvalidVersionType {
                    index: 0,
                    vtype: raw_type,
                })
            }
        };
        Ok(Self {
            body,
            written_by_version: written_by.unwrap_or(0),
            has_written_by_version: written_by.is_some(),
            unknown_keys: unknown,
        })
    }

    /// The version's type.
    pub fn version_type(&self) -> VersionType {
        match self.body {
            VersionBody::Object(_) => VersionType::Object,
            VersionBody::Delete(_) => VersionType::Delete,
            VersionBody::Legacy(_) => VersionType::Legacy,
        }
    }

    /// Version id as the header carries it (legacy objects: parsed `VersionID`, zero if "null").
    pub fn version_id(&self) -> [u8; 16] {
        match &self.body {
            VersionBody::Object(o) => o.version_id,
            VersionBody::Delete(d) => d.version_id,
            VersionBody::Legacy(l) => crate::uuid::parse_uuid(l.version_id).unwrap_or([0; 16]),
        }
    }

    /// Modification time as the header carries it (Unix ns).
    pub fn mod_time(&self) -> i64 {
        match &self.body {
            VersionBody::Object(o) => o.mod_time,
            VersionBody::Delete(d) => d.mod_time,
            VersionBody::Legacy(l) => l.stat.mod_time.unix_nanos(),
        }
    }

    /// Whether the stored bytes carried keys this codec would drop on re-encode.
    pub fn has_unknown_keys(&self) -> bool {
        !self.unknown_keys.is_empty()
    }

    /// Header flags MinIO derives from this meta (ONDISK §4.2), evaluated at `now_unix_secs`
    /// (only restored tiered objects depend on the time).
    pub fn flags(&self, now_unix_secs: i64) -> u8 {
        match &self.body {
            VersionBody::Object(o) => o.flags(now_unix_secs),
            VersionBody::Delete(d) => {
                if meta_sys_get(d.meta_sys.as_ref(), META_FREE_VERSION).is_some() {
                    FLAG_FREE_VERSION
                } else {
                    0
                }
            }
            VersionBody::Legacy(_) => 0,
        }
    }

    /// `(EcN, EcM)` as the header carries them (u8 truncation as in Go).
    pub fn header_ec(&self) -> (u8, u8) {
        match &self.body {
            VersionBody::Object(o) => (o.ec_n as u8, o.ec_m as u8),
            _ => (0, 0),
        }
    }
}

/// Replaces the value of every entry named `key`, or appends one. A map
/// read from a drive may repeat a key; MinIO (like [`ObjectV2::meta_sys`])
/// reads the last copy, so updating only the first would leave the old
/// value in force (found by the `rotate_edit` fuzzer: a rotated object kept
/// its old sealed key).
fn set_entry<'a, V: ToOwned + ?Sized>(map: &mut MetaMap<'a, V>, key: &str, value: Cow<'a, V>) {
    let mut found = false;
    for entry in map.iter_mut().filter(|(k, _)| k == key) {
        entry.1 = value.clone();
        found = true;
    }
    if !found {
        map.push((Cow::Owned(key.to_owned()), value));
    }
}

fn meta_sys_get<'m>(map: Option<&'m MetaSys<'_>>, key: &str) -> Option<&'m [u8]> {
    map?.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_ref())
}

impl<'a> ObjectV2<'a> {
    /// A MetaSys value (exact, case-sensitive key as MinIO looks it up).
    pub fn meta_sys(&self, key: &str) -> Option<&[u8]> {
        meta_sys_get(self.meta_sys.as_ref(), key)
    }

    /// A MetaUsr value (exact, case-sensitive key).
    pub fn meta_usr(&self, key: &str) -> Option<&str> {
        self.meta_usr
            .as_ref()?
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    /// Sets a MetaSys entry: replaces the value in place if the key exists
    /// (in every copy of a duplicated key, see [`set_entry`]), otherwise
    /// appends (creating the map if it was nil).
    pub fn set_meta_sys(&mut self, key: &str, value: &[u8]) {
        let map = self.meta_sys.get_or_insert_with(Vec::new);
        set_entry(map, key, Cow::Owned(value.to_vec()));
    }

    /// Removes a MetaSys entry; returns whether it existed.
    pub fn remove_meta_sys(&mut self, key: &str) -> bool {
        let Some(map) = self.meta_sys.as_mut() else {
            return false;
        };
        let before = map.len();
        map.retain(|(k, _)| k != key);
        map.len() != before
    }

    /// Sets a MetaUsr entry (in place or appended).
    pub fn set_meta_usr(&mut self, key: &str, value: &str) {
        let map = self.meta_usr.get_or_insert_with(Vec::new);
        set_entry(map, key, Cow::Owned(value.to_owned()));
    }

    /// Removes a MetaUsr entry; returns whether it existed.
    pub fn remove_meta_usr(&mut self, key: &str) -> bool {
        let Some(map) = self.meta_usr.as_mut() else {
            return false;
        };
        let before = map.len();
        map.retain(|(k, _)| k != key);
        map.len() != before
    }

    /// Sets `PartETags` (`None` = nil).
    pub fn set_part_etags(&mut self, etags: Option<Vec<String>>) {
        self.part_etags = etags.map(|v| v.into_iter().map(Cow::Owned).collect());
    }

    /// Whether the version's data lives in the inline data section.
    pub fn is_inline(&self) -> bool {
        self.meta_sys(META_INLINE_DATA).is_some()
    }

    /// Whether the version was transitioned to a remote tier.
    pub fn is_transitioned(&self) -> bool {
        self.meta_sys(META_TRANSITION_STATUS) == Some(b"complete".as_slice())
    }

    /// Header flags as MinIO computes them (ONDISK §4.2) at `now_unix_secs`.
    pub fn flags(&self, now_unix_secs: i64) -> u8 {
        let mut flags = 0;
        if !self.is_transitioned() || self.restored_on_disk(now_unix_secs) {
            flags |= FLAG_USES_DATA_DIR;
        }
        if self.is_inline() {
            flags |= FLAG_INLINE_DATA;
        }
        flags
    }

    /// A tiered object restored locally: `x-amz-restore` is
    /// `ongoing-request="false", expiry-date="<RFC 1123 GMT>"` with the expiry in the future.
    fn restored_on_disk(&self, now_unix_secs: i64) -> bool {
        let Some(restore) = self.meta_usr(META_AMZ_RESTORE) else {
            return false;
        };
        let Some(rest) = restore.strip_prefix("ongoing-request=\"false\", expiry-date=\"") else {
            return false;
        };
        let Some(date) = rest.strip_suffix('"') else {
            return false;
        };
        crate::time::parse_http_date(date).is_some_and(|expiry| expiry > now_unix_secs)
    }

    /// Detaches from the input buffer.
    pub fn into_owned(self) -> ObjectV2<'static> {
        ObjectV2 {
            version_id: self.version_id,
            data_dir: self.data_dir,
            ec_algo: self.ec_algo,
            ec_m: self.ec_m,
            ec_n: self.ec_n,
            ec_block_size: self.ec_block_size,
            ec_index: self.ec_index,
            ec_dist: self.ec_dist,
            checksum_algo: self.checksum_algo,
            part_numbers: self.part_numbers,
            part_etags: self
                .part_etags
                .map(|v| v.into_iter().map(|s| Cow::Owned(s.into_owned())).collect()),
            part_sizes: self.part_sizes,
            part_actual_sizes: self.part_actual_sizes,
            part_indices: self
                .part_indices
                .map(|v| v.into_iter().map(|b| Cow::Owned(b.into_owned())).collect()),
            size: self.size,
            mod_time: self.mod_time,
            meta_sys: self.meta_sys.map(|m| {
                m.into_iter()
                    .map(|(k, v)| (Cow::Owned(k.into_owned()), Cow::Owned(v.into_owned())))
                    .collect()
            }),
            meta_usr: self.meta_usr.map(|m| {
                m.into_iter()
                    .map(|(k, v)| (Cow::Owned(k.into_owned()), Cow::Owned(v.into_owned())))
                    .collect()
            }),
        }
    }
}

impl DeleteMarker<'_> {
    /// Detaches from the input buffer.
    pub fn into_owned(self) -> DeleteMarker<'static> {
        DeleteMarker {
            version_id: self.version_id,
            mod_time: self.mod_time,
            meta_sys: self.meta_sys.map(|m| {
                m.into_iter()
                    .map(|(k, v)| (Cow::Owned(k.into_owned()), Cow::Owned(v.into_owned())))
                    .collect()
            }),
        }
    }
}

/// Reads a map key: msgp accepts `str` or `bin` keys.
fn read_key<'a>(r: &mut Reader<'a>, what: &'static str) -> Result<&'a [u8]> {
    match r.peek(what)? {
        0xc4..=0xc6 => r.read_bin(what),
        _ => r.read_str_bytes(what),
    }
}

/// Caps a pre-allocation by what the remaining input could possibly hold
/// (every element takes at least one byte), so hostile counts cannot
/// trigger huge allocations.
fn capacity(r: &Reader<'_>, n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX).min(r.rest().len())
}

fn read_int_array(r: &mut Reader<'_>, what: &'static str) -> Result<Vec<i64>> {
    if r.try_nil() {
        return Ok(Vec::new());
    }
    let n = r.read_array_len(what)?;
    let mut out = Vec::with_capacity(capacity(r, n));
    for _ in 0..n {
        out.push(r.read_i64(what)?);
    }
    Ok(out)
}

fn read_opt_int_array(r: &mut Reader<'_>, what: &'static str) -> Result<Option<Vec<i64>>> {
    if r.try_nil() {
        return Ok(None);
    }
    read_int_array(r, what).map(Some)
}

/// Reads a nil-able map of `str` keys, zero-copy, with `read_value` for the values.
fn read_map<'a, V: ?Sized + ToOwned>(
    r: &mut Reader<'a>,
    what: &'static str,
    read_value: fn(&mut Reader<'a>, &'static str) -> Result<&'a V>,
) -> Result<Option<MetaMap<'a, V>>> {
    if r.try_nil() {
        return Ok(None);
    }
    let n = r.read_map_len(what)?;
    let mut out = Vec::with_capacity(capacity(r, n));
    for _ in 0..n {
        let k = r.read_str(what)?;
        out.push((Cow::Borrowed(k), Cow::Borrowed(read_value(r, what)?)));
    }
    Ok(Some(out))
}

fn read_meta_sys<'a>(r: &mut Reader<'a>) -> Result<Option<MetaSys<'a>>> {
    read_map(r, "MetaSys", Reader::read_bin)
}

fn read_meta_usr<'a>(r: &mut Reader<'a>) -> Result<Option<MetaUsr<'a>>> {
    read_map(r, "MetaUsr", Reader::read_str)
}

fn decode_object<'a>(
    r: &mut Reader<'a>,
    o: &mut ObjectV2<'a>,
    unknown: &mut Vec<String>,
) -> Result<()> {
    let n = r.read_map_len("V2Obj")?;
    for _ in 0..n {
        let key = read_key(r, "V2Obj key")?;
        match key {
            b"ID" => o.version_id = r.read_bin_exact::<16>("V2Obj ID")?,
            b"DDir" => o.data_dir = r.read_bin_exact::<16>("V2Obj DDir")?,
            b"EcAlgo" => o.ec_algo = r.read_u8("EcAlgo")?,
            b"EcM" => o.ec_m = r.read_i64("EcM")?,
            b"EcN" => o.ec_n = r.read_i64("EcN")?,
            b"EcBSize" => o.ec_block_size = r.read_i64("EcBSize")?,
            b"EcIndex" => o.ec_index = r.read_i64("EcIndex")?,
            b"EcDist" => {
                o.ec_dist = if r.try_nil() {
                    Vec::new()
                } else {
                    let n = r.read_array_len("EcDist")?;
                    let mut v = Vec::with_capacity(capacity(r, n));
                    for _ in 0..n {
                        v.push(r.read_u8("EcDist")?);
                    }
                    v
                }
            }
            b"CSumAlgo" => o.checksum_algo = r.read_u8("CSumAlgo")?,
            b"PartNums" => o.part_numbers = read_int_array(r, "PartNums")?,
            b"PartETags" => {
                o.part_etags = if r.try_nil() {
                    None
                } else {
                    let n = r.read_array_len("PartETags")?;
                    let mut v = Vec::with_capacity(capacity(r, n));
                    for _ in 0..n {
                        v.push(Cow::Borrowed(r.read_str("PartETags")?));
                    }
                    Some(v)
                }
            }
            b"PartSizes" => o.part_sizes = read_int_array(r, "PartSizes")?,
            b"PartASizes" => o.part_actual_sizes = read_opt_int_array(r, "PartASizes")?,
            b"PartIdx" => {
                o.part_indices = if r.try_nil() {
                    None
                } else {
                    let n = r.read_array_len("PartIdx")?;
                    let mut v = Vec::with_capacity(capacity(r, n));
                    for _ in 0..n {
                        v.push(Cow::Borrowed(r.read_bin("PartIdx")?));
                    }
                    // msgp decodes a present empty array as nil (ONDISK §5.2).
                    (!v.is_empty()).then_some(v)
                }
            }
            b"Size" => o.size = r.read_i64("Size")?,
            b"MTime" => o.mod_time = r.read_i64("MTime")?,
            b"MetaSys" => o.meta_sys = read_meta_sys(r)?,
            b"MetaUsr" => o.meta_usr = read_meta_usr(r)?,
            other => {
                unknown.push(format!("V2Obj.{}", String::from_utf8_lossy(other)));
                r.skip("unknown V2Obj field")?;
            }
        }
    }
    Ok(())
}

fn decode_delete<'a>(r: &mut Reader<'a>, unknown: &mut Vec<String>) -> Result<DeleteMarker<'a>> {
    let mut d = DeleteMarker::default();
    let n = r.read_map_len("DelObj")?;
    for _ in 0..n {
        match read_key(r, "DelObj key")? {
            b"ID" => d.version_id = r.read_bin_exact::<16>("DelObj ID")?,
            b"MTime" => d.mod_time = r.read_i64("DelObj MTime")?,
            b"MetaSys" => d.meta_sys = read_meta_sys(r)?,
            other => {
                unknown.push(format!("DelObj.{}", String::from_utf8_lossy(other)));
                r.skip("unknown DelObj field")?;
            }
        }
    }
    Ok(d)
}

fn read_time(r: &mut Reader<'_>, what: &'static str) -> Result<MsgpTime> {
    let start = r.pos();
    let (ty, data) = r.read_ext(what)?;
    if ty != 5 || data.len() != 12 {
        return Err(Error::Msgp {
            offset: start,
            what,
            problem: MsgpProblem::BadLength(data.len()),
        });
    }
    let mut secs = [0u8; 8];
    let mut nanos = [0u8; 4];
    secs.copy_from_slice(data.get(..8).unwrap_or(&[0; 8]));
    nanos.copy_from_slice(data.get(8..).unwrap_or(&[0; 4]));
    Ok(MsgpTime {
        secs: i64::from_be_bytes(secs),
        nanos: u32::from_be_bytes(nanos),
    })
}

/// Runs `f` for each entry of a (possibly nil) map, passing the key.
fn for_each_field<'a>(
    r: &mut Reader<'a>,
    what: &'static str,
    mut f: impl FnMut(&mut Reader<'a>, &'a [u8]) -> Result<()>,
) -> Result<()> {
    if r.try_nil() {
        return Ok(());
    }
    let n = r.read_map_len(what)?;
    for _ in 0..n {
        let key = read_key(r, what)?;
        f(r, key)?;
    }
    Ok(())
}

/// Runs `f` for each element of a (possibly nil) array.
fn for_each_elem<'a>(
    r: &mut Reader<'a>,
    what: &'static str,
    mut f: impl FnMut(&mut Reader<'a>) -> Result<()>,
) -> Result<()> {
    if r.try_nil() {
        return Ok(());
    }
    let n = r.read_array_len(what)?;
    for _ in 0..n {
        f(r)?;
    }
    Ok(())
}

fn read_str_map<'a>(r: &mut Reader<'a>, what: &'static str) -> Result<Vec<(&'a str, &'a str)>> {
    let mut out = Vec::new();
    for_each_field(r, what, |r, k| {
        let k = std::str::from_utf8(k).map_err(|_| r.err(what, MsgpProblem::InvalidUtf8))?;
        out.push((k, r.read_str(what)?));
        Ok(())
    })?;
    Ok(out)
}

fn decode_legacy<'a>(r: &mut Reader<'a>) -> Result<LegacyObject<'a>> {
    let mut l = LegacyObject::default();
    for_each_field(r, "V1Obj", |r, key| {
        match key {
            b"Version" => l.version = r.read_str("V1Obj Version")?,
            b"Format" => l.format = r.read_str("V1Obj Format")?,
            b"Stat" => for_each_field(r, "V1Obj Stat", |r, k| {
                match k {
                    b"Size" => l.stat.size = r.read_i64("Stat Size")?,
                    b"ModTime" => l.stat.mod_time = read_time(r, "Stat ModTime")?,
                    b"Name" => l.stat.name = r.read_str("Stat Name")?,
                    b"Dir" => l.stat.dir = r.read_bool("Stat Dir")?,
                    b"Mode" => l.stat.mode = r.read_u32("Stat Mode")?,
                    _ => r.skip("unknown Stat field")?,
                }
                Ok(())
            })?,
            b"Erasure" => for_each_field(r, "V1Obj Erasure", |r, k| {
                let e = &mut l.erasure;
                match k {
                    b"Algorithm" => e.algorithm = r.read_str("Erasure Algorithm")?,
                    b"DataBlocks" => e.data_blocks = r.read_i64("Erasure DataBlocks")?,
                    b"ParityBlocks" => e.parity_blocks = r.read_i64("Erasure ParityBlocks")?,
                    b"BlockSize" => e.block_size = r.read_i64("Erasure BlockSize")?,
                    b"Index" => e.index = r.read_i64("Erasure Index")?,
                    b"Distribution" => e.distribution = read_int_array(r, "Erasure Distribution")?,
                    b"Checksums" => for_each_elem(r, "Erasure Checksums", |r| {
                        let mut c = LegacyChecksum::default();
                        for_each_field(r, "Checksum", |r, k| {
                            match k {
                                b"PartNumber" => {
                                    c.part_number = r.read_i64("Checksum PartNumber")?
                                }
                                b"Algorithm" => c.algorithm = r.read_u64("Checksum Algorithm")?,
                                b"Hash" => c.hash = r.read_bin("Checksum Hash")?,
                                _ => r.skip("unknown Checksum field")?,
                            }
                            Ok(())
                        })?;
                        e.checksums.push(c);
                        Ok(())
                    })?,
                    _ => r.skip("unknown Erasure field")?,
                }
                Ok(())
            })?,
            b"Minio" => for_each_field(r, "V1Obj Minio", |r, k| {
                match k {
                    b"Release" => l.minio_release = r.read_str("Minio Release")?,
                    _ => r.skip("unknown Minio field")?,
                }
                Ok(())
            })?,
            b"Meta" => l.meta = read_str_map(r, "V1Obj Meta")?,
            b"Parts" => for_each_elem(r, "V1Obj Parts", |r| {
                let mut p = LegacyPart::default();
                for_each_field(r, "Part", |r, k| {
                    match k {
                        b"e" => p.etag = r.read_str("Part e")?,
                        b"n" => p.number = r.read_i64("Part n")?,
                        b"s" => p.size = r.read_i64("Part s")?,
                        b"as" => p.actual_size = r.read_i64("Part as")?,
                        b"mt" => p.mod_time = read_time(r, "Part mt")?,
                        b"i" => {
                            p.index = if r.try_nil() {
                                None
                            } else {
                                Some(r.read_bin("Part i")?)
                            }
                        }
                        b"crc" => p.checksums = Some(read_str_map(r, "Part crc")?),
                        b"err" => p.error = r.read_str("Part err")?,
                        _ => r.skip("unknown Part field")?,
                    }
                    Ok(())
                })?;
                l.parts.push(p);
                Ok(())
            })?,
            b"VersionID" => l.version_id = r.read_str("V1Obj VersionID")?,
            b"DataDir" => l.data_dir = r.read_str("V1Obj DataDir")?,
            _ => r.skip("unknown V1Obj field")?,
        }
        Ok(())
    })?;
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_is_case_insensitive_and_needs_more_than_the_prefix() {
        assert!(is_meta_sys_key("X-Minio-Internal-actual-size"));
        assert!(is_meta_sys_key("x-minio-internal-inline-data"));
        assert!(!is_meta_sys_key("x-minio-internal-"));
        assert!(!is_meta_sys_key("content-type"));
        assert!(!is_meta_sys_key("X-Amz-Meta-x"));
    }

    #[test]
    fn edits_keep_order_and_replace_in_place() {
        let mut o = ObjectV2 {
            meta_sys: Some(vec![
                (Cow::Borrowed("a"), Cow::Borrowed(b"1".as_slice())),
                (Cow::Borrowed("b"), Cow::Borrowed(b"2".as_slice())),
            ]),
            ..ObjectV2::default()
        };
        o.set_meta_sys("a", b"x");
        o.set_meta_sys("c", b"3");
        assert!(o.remove_meta_sys("b"));
        assert!(!o.remove_meta_sys("zz"));
        let keys: Vec<_> = o
            .meta_sys
            .as_ref()
            .unwrap()
            .iter()
            .map(|(k, _)| k.as_ref())
            .collect();
        assert_eq!(keys, ["a", "c"]);
        assert_eq!(o.meta_sys("a"), Some(b"x".as_slice()));
        o.set_meta_usr("etag", "abc");
        assert_eq!(o.meta_usr("etag"), Some("abc"));
        assert!(o.remove_meta_usr("etag"));
        assert_eq!(o.flags(0), FLAG_USES_DATA_DIR);
        o.set_meta_sys(META_INLINE_DATA, b"true");
        assert_eq!(o.flags(0), FLAG_USES_DATA_DIR | FLAG_INLINE_DATA);
        o.set_meta_sys(META_TRANSITION_STATUS, b"complete");
        assert_eq!(o.flags(0), FLAG_INLINE_DATA);
        o.set_meta_usr(
            META_AMZ_RESTORE,
            "ongoing-request=\"false\", expiry-date=\"Fri, 21 Dec 2012 00:00:00 GMT\"",
        );
        assert_eq!(
            o.flags(1_356_048_000 - 1),
            FLAG_INLINE_DATA | FLAG_USES_DATA_DIR
        );
        assert_eq!(o.flags(1_356_048_000), FLAG_INLINE_DATA);
    }
}
