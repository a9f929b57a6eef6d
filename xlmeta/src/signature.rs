//! Version signatures (ONDISK §4.4): a 4-byte fingerprint of a version that
//! is identical on every drive. Per-drive fields (`EcIndex`, map entry
//! order) are excluded: map entries are combined with an order-independent
//! XXH3 hash, the rest of the struct is marshalled and hashed with XXH64.

use xxhash_rust::xxh3::xxh3_64;
use xxhash_rust::xxh64::xxh64;

use crate::encode::ObjectOverrides;
use crate::error::Result;
use crate::meta::{DeleteMarker, LegacyObject, ObjectV2, VersionBody, VersionMeta};

const SEED_STRING_MAP: u64 = 0xc2b4_0bba_c11a_7295;
const SEED_BYTES_MAP: u64 = 0x1bbc_7e1d_de65_4743;
const KEY_MIX: u64 = 0x4ee3_bbaf_7ab2_506b;
const VALUE_MIX: u64 = 0x8da4_c8da_6619_4257;

fn map_hash<'e>(seed: u64, entries: impl Iterator<Item = (&'e [u8], &'e [u8])>) -> u64 {
    entries.fold(seed, |c, (k, v)| {
        c ^ (xxh3_64(k) ^ KEY_MIX).wrapping_add(xxh3_64(v) ^ VALUE_MIX)
    })
}

fn fold(crc: u64) -> [u8; 4] {
    ((crc ^ (crc >> 32)) as u32).to_le_bytes()
}

/// Signature of an object version.
pub fn object_signature(o: &ObjectV2<'_>) -> Result<[u8; 4]> {
    let usr = map_hash(
        SEED_STRING_MAP,
        o.meta_usr
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_bytes(), v.as_bytes())),
    );
    let sys = map_hash(
        SEED_BYTES_MAP,
        o.meta_sys
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_bytes(), v.as_ref())),
    );
    let mut buf = Vec::with_capacity(256 + 24 * o.part_numbers.len());
    o.encode_with(
        &mut buf,
        &ObjectOverrides {
            ec_index: 0,
            part_etags: o.normalized_etags(),
            part_actual_sizes: o.part_actual_sizes.as_deref().filter(|s| !s.is_empty()),
            meta_sys: None,
            meta_usr: None,
        },
    )?;
    Ok(fold(usr ^ sys ^ xxh64(&buf, 0)))
}

/// Signature of a delete marker.
pub fn delete_signature(d: &DeleteMarker<'_>) -> Result<[u8; 4]> {
    let sys = map_hash(
        SEED_BYTES_MAP,
        d.meta_sys
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_bytes(), v.as_ref())),
    );
    let mut buf = Vec::with_capacity(48);
    d.encode_with(&mut buf, None)?;
    Ok(fold(sys ^ xxh64(&buf, 0)))
}

/// Signature of a converted legacy object.
pub fn legacy_signature(l: &LegacyObject<'_>) -> Result<[u8; 4]> {
    let meta = map_hash(
        SEED_STRING_MAP,
        l.meta.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())),
    );
    let mut buf = Vec::with_capacity(512);
    l.encode_with(&mut buf, 0, "", &[])?;
    Ok(fold(meta ^ xxh64(&buf, 0)))
}

impl VersionMeta<'_> {
    /// The signature MinIO computes for this version.
    pub fn signature(&self) -> Result<[u8; 4]> {
        match &self.body {
            VersionBody::Object(o) => object_signature(o),
            VersionBody::Delete(d) => delete_signature(d),
            VersionBody::Legacy(l) => legacy_signature(l),
        }
    }
}
