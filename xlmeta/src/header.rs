//! The per-version header (`xlMetaV2VersionHeader`, ONDISK §4): the small
//! array MinIO reads to list and merge versions without decoding metadata.

use crate::error::{Error, MsgpProblem, Result};
use crate::msgp::{self, Reader};

/// Header version MinIO writes today (7-element array).
pub const HEADER_VERSION_CURRENT: u64 = 3;
/// Meta version MinIO writes today.
pub const META_VERSION_CURRENT: u64 = 3;

/// Flag bit: delete marker that tracks a tiered object to free.
pub const FLAG_FREE_VERSION: u8 = 1;
/// Flag bit: the version keeps data in its data directory.
pub const FLAG_USES_DATA_DIR: u8 = 2;
/// Flag bit: the version's data is in the inline data section.
pub const FLAG_INLINE_DATA: u8 = 4;

/// Kind of a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VersionType {
    /// An object version (`V2Obj`).
    Object = 1,
    /// A delete marker (`DelObj`).
    Delete = 2,
    /// An object converted from `xl.json` (`V1Obj`).
    Legacy = 3,
}

impl VersionType {
    /// Maps the on-disk value; `None` for 0 and values ≥ 4.
    pub fn from_u64(v: u64) -> Option<Self> {
        match v {
            1 => Some(Self::Object),
            2 => Some(Self::Delete),
            3 => Some(Self::Legacy),
            _ => None,
        }
    }

    /// The on-disk value.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// The name MinIO uses (`ObjectType`, `DeleteType`, `LegacyType`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Object => "ObjectType",
            Self::Delete => "DeleteType",
            Self::Legacy => "LegacyType",
        }
    }
}

/// A decoded version header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionHeader {
    /// Raw version UUID; all zero for the null version.
    pub version_id: [u8; 16],
    /// Modification time, Unix nanoseconds.
    pub mod_time: i64,
    /// Signature (ONDISK §4.4); zero for header version 1.
    pub signature: [u8; 4],
    /// Version kind, as stored (validated to be 1..=3).
    pub vtype: VersionType,
    /// Flag bits (`FLAG_*`).
    pub flags: u8,
    /// Parity shards; 0 for non-objects and headers older than version 3.
    pub ec_n: u8,
    /// Data shards; 0 for non-objects and headers older than version 3.
    pub ec_m: u8,
}

impl VersionHeader {
    /// Decodes a header in the given header version's shape (1: 4, 2: 5, 3: 7 elements).
    pub fn decode(bytes: &[u8], header_version: u64) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let want = match header_version {
            1 => 4,
            2 => 5,
            3 => 7,
            v => return Err(Error::UnsupportedHeaderVersion(v)),
        };
        let n = r.read_array_len("version header")?;
        if n != want {
            return Err(r.err("version header", MsgpProblem::BadArrayLen(n)));
        }
        let version_id = r.read_bin_exact::<16>("header VersionID")?;
        let mod_time = r.read_i64("header ModTime")?;
        let signature = if header_version >= 2 {
            r.read_bin_exact::<4>("header Signature")?
        } else {
            [0; 4]
        };
        let vtype_raw = r.read_u8("header Type")?;
        let vtype =
            VersionType::from_u64(u64::from(vtype_raw)).ok_or(Error::InvalidVersionType {
                index: 0,
                vtype: u64::from(vtype_raw),
            })?;
        let flags = r.read_u8("header Flags")?;
        let (ec_n, ec_m) = if header_version >= 3 {
            (r.read_u8("header EcN")?, r.read_u8("header EcM")?)
        } else {
            (0, 0)
        };
        if !r.is_empty() {
            return Err(r.err("version header", MsgpProblem::TrailingBytes));
        }
        Ok(Self {
            version_id,
            mod_time,
            signature,
            vtype,
            flags,
            ec_n,
            ec_m,
        })
    }

    /// Appends the header in the given header version's shape (2 or 3; MinIO
    /// never wrote version 1 and neither does this crate).
    pub fn encode(&self, header_version: u64, out: &mut Vec<u8>) -> Result<()> {
        match header_version {
            2 => msgp::write_array_len(out, 5),
            3 => msgp::write_array_len(out, 7),
            v => return Err(Error::UnsupportedHeaderVersion(v)),
        }
        msgp::write_bin(out, &self.version_id)?;
        msgp::write_int(out, self.mod_time);
        msgp::write_bin(out, &self.signature)?;
        msgp::write_uint(out, u64::from(self.vtype.as_u8()));
        msgp::write_uint(out, u64::from(self.flags));
        if header_version == 3 {
            msgp::write_uint(out, u64::from(self.ec_n));
            msgp::write_uint(out, u64::from(self.ec_m));
        }
        Ok(())
    }

    /// Whether this is the null version (all-zero id).
    pub fn is_null_version(&self) -> bool {
        self.version_id == [0; 16]
    }

    /// MinIO's `sortsBefore` (ONDISK §4.3): newest first, then objects before
    /// delete markers before legacy, then signature, id and flags descending.
    pub fn sorts_before(&self, other: &Self) -> bool {
        if self.mod_time != other.mod_time {
            return self.mod_time > other.mod_time;
        }
        if self.vtype != other.vtype {
            return self.vtype < other.vtype;
        }
        if self.signature != other.signature {
            return self.signature > other.signature;
        }
        if self.version_id != other.version_id {
            return self.version_id > other.version_id;
        }
        self.flags > other.flags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_and_v2_round_trip() {
        // Header of ONDISK §3.6.
        let raw = hex_bytes(concat!(
            "97c410",
            "00000000000000000000000000000000",
            "d317979cfe3d85cd15c4046722938e",
            "01060202"
        ));
        let h = VersionHeader::decode(&raw, 3).unwrap();
        assert_eq!(h.mod_time, 1_700_000_000_123_456_789);
        assert_eq!(h.signature, [0x67, 0x22, 0x93, 0x8e]);
        assert_eq!(
            (h.vtype, h.flags, h.ec_n, h.ec_m),
            (VersionType::Object, 6, 2, 2)
        );
        let mut out = Vec::new();
        h.encode(3, &mut out).unwrap();
        assert_eq!(out, raw);
        let h = VersionHeader {
            version_id: [7; 16],
            mod_time: 1_700_000_000_123_456_789,
            signature: [1, 2, 3, 4],
            vtype: VersionType::Object,
            flags: 6,
            ec_n: 4,
            ec_m: 12,
        };
        for hv in [2, 3] {
            let mut out = Vec::new();
            h.encode(hv, &mut out).unwrap();
            let back = VersionHeader::decode(&out, hv).unwrap();
            if hv == 3 {
                assert_eq!(back, h);
            } else {
                assert_eq!((back.ec_m, back.ec_n), (0, 0));
            }
            assert!(VersionHeader::decode(&out, if hv == 3 { 2 } else { 3 }).is_err());
        }
        assert!(VersionHeader::decode(&[0x97], 3).is_err());
        assert!(VersionHeader::decode(&[], 4).is_err());
    }

    #[test]
    fn ordering() {
        let a = VersionHeader {
            version_id: [1; 16],
            mod_time: 10,
            signature: [0; 4],
            vtype: VersionType::Object,
            flags: 0,
            ec_n: 0,
            ec_m: 0,
        };
        let newer = VersionHeader { mod_time: 11, ..a };
        assert!(newer.sorts_before(&a) && !a.sorts_before(&newer));
        let del = VersionHeader {
            vtype: VersionType::Delete,
            ..a
        };
        assert!(a.sorts_before(&del));
        let sig = VersionHeader {
            signature: [1, 0, 0, 0],
            ..a
        };
        assert!(sig.sorts_before(&a));
        assert!(!a.sorts_before(&a));
    }

    fn hex_bytes(s: &str) -> Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }
}
