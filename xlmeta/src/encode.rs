//! msgp-exact marshalling of version metas (ONDISK §5.1–5.5): the field
//! order, map sizes and nil/omit rules of MinIO's generated code.
//!
//! The signature (ONDISK §4.4) marshals a normalised copy of a version, so
//! the object encoder takes the overridable fields as parameters instead of
//! cloning the struct.

use std::borrow::Cow;

use crate::error::Result;
use crate::meta::{DeleteMarker, LegacyObject, MetaSys, MetaUsr, MsgpTime, ObjectV2};
use crate::msgp::{self, len_u32};

/// The fields of a `V2Obj` the signature replaces before marshalling.
pub(crate) struct ObjectOverrides<'o, 'a> {
    pub ec_index: i64,
    pub part_etags: Option<&'o [Cow<'a, str>]>,
    pub part_actual_sizes: Option<&'o [i64]>,
    pub meta_sys: Option<&'o MetaSys<'a>>,
    pub meta_usr: Option<&'o MetaUsr<'a>>,
}

fn write_key(out: &mut Vec<u8>, key: &str) {
    // Field names are short constants: always fixstr.
    out.push(0xa0 | key.len() as u8);
    out.extend_from_slice(key.as_bytes());
}

fn write_int_array(out: &mut Vec<u8>, v: &[i64], what: &'static str) -> Result<()> {
    msgp::write_array_len(out, len_u32(v.len(), what)?);
    for &x in v {
        msgp::write_int(out, x);
    }
    Ok(())
}

/// Writes a nil-able string-keyed map with `write_value` for the values.
fn write_map<V: ?Sized + ToOwned>(
    out: &mut Vec<u8>,
    map: Option<&[(Cow<'_, str>, Cow<'_, V>)]>,
    what: &'static str,
    write_value: fn(&mut Vec<u8>, &V) -> Result<()>,
) -> Result<()> {
    match map {
        None => msgp::write_nil(out),
        Some(m) => {
            msgp::write_map_len(out, len_u32(m.len(), what)?);
            for (k, v) in m {
                msgp::write_str(out, k)?;
                write_value(out, v)?;
            }
        }
    }
    Ok(())
}

pub(crate) fn write_meta_sys(out: &mut Vec<u8>, map: Option<&MetaSys<'_>>) -> Result<()> {
    write_map(out, map.map(Vec::as_slice), "MetaSys", msgp::write_bin)
}

fn write_meta_usr(out: &mut Vec<u8>, map: Option<&MetaUsr<'_>>) -> Result<()> {
    write_map(out, map.map(Vec::as_slice), "MetaUsr", msgp::write_str)
}

impl<'a> ObjectV2<'a> {
    /// `PartETags` as MinIO re-encodes them: all-empty lists become nil (ONDISK §6.1).
    pub(crate) fn normalized_etags(&self) -> Option<&[Cow<'a, str>]> {
        self.part_etags
            .as_deref()
            .filter(|t| t.iter().any(|e| !e.is_empty()))
    }

    /// Marshals the `V2Obj` map exactly as MinIO writes it.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        self.encode_with(
            out,
            &ObjectOverrides {
                ec_index: self.ec_index,
                part_etags: self.normalized_etags(),
                part_actual_sizes: self.part_actual_sizes.as_deref(),
                meta_sys: self.meta_sys.as_ref(),
                meta_usr: self.meta_usr.as_ref(),
            },
        )
    }

    pub(crate) fn encode_with(&self, out: &mut Vec<u8>, o: &ObjectOverrides<'_, 'a>) -> Result<()> {
        let part_idx = self.part_indices.as_deref().filter(|p| !p.is_empty());
        // Struct with 17/18 fields: msgp always writes a map16 header.
        out.extend_from_slice(&[0xde, 0x00, if part_idx.is_some() { 0x12 } else { 0x11 }]);
        write_key(out, "ID");
        msgp::write_bin(out, &self.version_id)?;
        write_key(out, "DDir");
        msgp::write_bin(out, &self.data_dir)?;
        write_key(out, "EcAlgo");
        msgp::write_uint(out, u64::from(self.ec_algo));
        write_key(out, "EcM");
        msgp::write_int(out, self.ec_m);
        write_key(out, "EcN");
        msgp::write_int(out, self.ec_n);
        write_key(out, "EcBSize");
        msgp::write_int(out, self.ec_block_size);
        write_key(out, "EcIndex");
        msgp::write_int(out, o.ec_index);
        write_key(out, "EcDist");
        msgp::write_array_len(out, len_u32(self.ec_dist.len(), "EcDist")?);
        for &d in &self.ec_dist {
            msgp::write_uint(out, u64::from(d));
        }
        write_key(out, "CSumAlgo");
        msgp::write_uint(out, u64::from(self.checksum_algo));
        write_key(out, "PartNums");
        write_int_array(out, &self.part_numbers, "PartNums")?;
        write_key(out, "PartETags");
        match o.part_etags {
            None => msgp::write_nil(out),
            Some(tags) => {
                msgp::write_array_len(out, len_u32(tags.len(), "PartETags")?);
                for t in tags {
                    msgp::write_str(out, t)?;
                }
            }
        }
        write_key(out, "PartSizes");
        write_int_array(out, &self.part_sizes, "PartSizes")?;
        write_key(out, "PartASizes");
        match o.part_actual_sizes {
            None => msgp::write_nil(out),
            Some(s) => write_int_array(out, s, "PartASizes")?,
        }
        if let Some(idx) = part_idx {
            write_key(out, "PartIdx");
            msgp::write_array_len(out, len_u32(idx.len(), "PartIdx")?);
            for i in idx {
                msgp::write_bin(out, i)?;
            }
        }
        write_key(out, "Size");
        msgp::write_int(out, self.size);
        write_key(out, "MTime");
        msgp::write_int(out, self.mod_time);
        write_key(out, "MetaSys");
        write_meta_sys(out, o.meta_sys)?;
        write_key(out, "MetaUsr");
        write_meta_usr(out, o.meta_usr)?;
        Ok(())
    }

    /// Marshals the whole version meta (`{Type: 1, V2Obj: …, v: …}`).
    pub fn encode_version(&self, written_by_version: u64, out: &mut Vec<u8>) -> Result<()> {
        out.push(0x83);
        write_key(out, "Type");
        msgp::write_uint(out, 1);
        write_key(out, "V2Obj");
        self.encode(out)?;
        write_key(out, "v");
        msgp::write_uint(out, written_by_version);
        Ok(())
    }
}

impl DeleteMarker<'_> {
    /// Marshals the `DelObj` map (`MetaSys` omitted only when nil).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        self.encode_with(out, self.meta_sys.as_ref())
    }

    pub(crate) fn encode_with(
        &self,
        out: &mut Vec<u8>,
        meta_sys: Option<&MetaSys<'_>>,
    ) -> Result<()> {
        out.push(if meta_sys.is_some() { 0x83 } else { 0x82 });
        write_key(out, "ID");
        msgp::write_bin(out, &self.version_id)?;
        write_key(out, "MTime");
        msgp::write_int(out, self.mod_time);
        if let Some(m) = meta_sys {
            write_key(out, "MetaSys");
            write_meta_sys(out, Some(m))?;
        }
        Ok(())
    }

    /// Marshals the whole version meta (`{Type: 2, DelObj: …, v: …}`).
    pub fn encode_version(&self, written_by_version: u64, out: &mut Vec<u8>) -> Result<()> {
        out.push(0x83);
        write_key(out, "Type");
        msgp::write_uint(out, 2);
        write_key(out, "DelObj");
        self.encode(out)?;
        write_key(out, "v");
        msgp::write_uint(out, written_by_version);
        Ok(())
    }
}

fn write_time(out: &mut Vec<u8>, t: MsgpTime) {
    msgp::write_time(out, t.secs, t.nanos);
}

fn write_str_map(out: &mut Vec<u8>, m: &[(&str, &str)], what: &'static str) -> Result<()> {
    msgp::write_map_len(out, len_u32(m.len(), what)?);
    for (k, v) in m {
        msgp::write_str(out, k)?;
        msgp::write_str(out, v)?;
    }
    Ok(())
}

impl LegacyObject<'_> {
    /// Marshals `V1Obj` (ONDISK §5.4) with the signature's overrides:
    /// `Erasure.Index`, `Minio.Release` and `Meta` are parameters.
    pub(crate) fn encode_with(
        &self,
        out: &mut Vec<u8>,
        erasure_index: i64,
        release: &str,
        meta: &[(&str, &str)],
    ) -> Result<()> {
        out.push(0x89);
        write_key(out, "Version");
        msgp::write_str(out, self.version)?;
        write_key(out, "Format");
        msgp::write_str(out, self.format)?;
        write_key(out, "Stat");
        out.push(0x85);
        write_key(out, "Size");
        msgp::write_int(out, self.stat.size);
        write_key(out, "ModTime");
        write_time(out, self.stat.mod_time);
        write_key(out, "Name");
        msgp::write_str(out, self.stat.name)?;
        write_key(out, "Dir");
        msgp::write_bool(out, self.stat.dir);
        write_key(out, "Mode");
        msgp::write_uint(out, u64::from(self.stat.mode));
        write_key(out, "Erasure");
        let e = &self.erasure;
        out.push(0x87);
        write_key(out, "Algorithm");
        msgp::write_str(out, e.algorithm)?;
        write_key(out, "DataBlocks");
        msgp::write_int(out, e.data_blocks);
        write_key(out, "ParityBlocks");
        msgp::write_int(out, e.parity_blocks);
        write_key(out, "BlockSize");
        msgp::write_int(out, e.block_size);
        write_key(out, "Index");
        msgp::write_int(out, erasure_index);
        write_key(out, "Distribution");
        write_int_array(out, &e.distribution, "Distribution")?;
        write_key(out, "Checksums");
        msgp::write_array_len(out, len_u32(e.checksums.len(), "Checksums")?);
        for c in &e.checksums {
            out.push(0x83);
            write_key(out, "PartNumber");
            msgp::write_int(out, c.part_number);
            write_key(out, "Algorithm");
            msgp::write_uint(out, c.algorithm);
            write_key(out, "Hash");
            msgp::write_bin(out, c.hash)?;
        }
        write_key(out, "Minio");
        out.push(0x81);
        write_key(out, "Release");
        msgp::write_str(out, release)?;
        write_key(out, "Meta");
        write_str_map(out, meta, "Meta")?;
        write_key(out, "Parts");
        msgp::write_array_len(out, len_u32(self.parts.len(), "Parts")?);
        for p in &self.parts {
            let n = 5
                + u8::from(p.index.is_some())
                + u8::from(p.checksums.is_some())
                + u8::from(!p.error.is_empty());
            out.push(0x80 | n);
            write_key(out, "e");
            msgp::write_str(out, p.etag)?;
            write_key(out, "n");
            msgp::write_int(out, p.number);
            write_key(out, "s");
            msgp::write_int(out, p.size);
            write_key(out, "as");
            msgp::write_int(out, p.actual_size);
            write_key(out, "mt");
            write_time(out, p.mod_time);
            if let Some(i) = p.index {
                write_key(out, "i");
                msgp::write_bin(out, i)?;
            }
            if let Some(c) = &p.checksums {
                write_key(out, "crc");
                write_str_map(out, c, "crc")?;
            }
            if !p.error.is_empty() {
                write_key(out, "err");
                msgp::write_str(out, p.error)?;
            }
        }
        write_key(out, "VersionID");
        msgp::write_str(out, self.version_id)?;
        write_key(out, "DataDir");
        msgp::write_str(out, self.data_dir)?;
        Ok(())
    }
}
