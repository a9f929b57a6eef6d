//! The JSON shape of MinIO's `xl-meta` debugging tool
//! (`docs/debugging/xl-meta`), so its output and `keyrotate inspect --json`
//! can be compared directly:
//!
//! `{"Versions":[{"Idx":0,"Header":{…},"Metadata":{…}}]}` where `Header`
//! has `VersionID`/`Signature` in hex, `ModTime` as RFC 3339 and the
//! numeric `Type`/`Flags`/`EcM`/`EcN`, and `Metadata` is the version meta
//! converted generically from msgpack (MinIO's field names, `bin` as
//! base64, integers as numbers, msgp times as RFC 3339). Object keys are
//! sorted, as Go's `encoding/json` sorts map keys. Times are printed in UTC.
//!
//! For 1.0–1.2 containers the tool has no headers to print: it converts the
//! stored legacy map as a whole (`{"Versions":[{"Type":…,"V2Obj":{…}}]}`,
//! stored order), and so does this module. A legacy file edited in memory
//! (which encodes as 1.3) prints the indexed view.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Number, Value};

use crate::container::XlMeta;
use crate::error::{MsgpProblem, Result};
use crate::header::VersionHeader;
use crate::msgp::Reader;
use crate::time::format_rfc3339_nano;

/// Deeper than any structure MinIO writes; bounds recursion on hostile input.
const MAX_DEPTH: usize = 32;

fn object(entries: BTreeMap<String, Value>) -> Value {
    Value::Object(entries.into_iter().collect::<Map<_, _>>())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The tool's `Header` object.
pub fn header_json(h: &VersionHeader) -> Value {
    let mut m = BTreeMap::new();
    m.insert("VersionID".to_owned(), Value::String(hex(&h.version_id)));
    m.insert(
        "ModTime".to_owned(),
        Value::String(format_rfc3339_nano(h.mod_time)),
    );
    m.insert("Signature".to_owned(), Value::String(hex(&h.signature)));
    m.insert("Type".to_owned(), Value::from(h.vtype.as_u8()));
    m.insert("Flags".to_owned(), Value::from(h.flags));
    m.insert("EcM".to_owned(), Value::from(h.ec_m));
    m.insert("EcN".to_owned(), Value::from(h.ec_n));
    object(m)
}

/// The whole file as the tool prints it.
pub fn to_minio_json(xl: &XlMeta<'_>) -> Result<Value> {
    if let Some(map) = xl.legacy_map() {
        return msgpack_to_json(map);
    }
    let versions = xl
        .versions()
        .iter()
        .enumerate()
        .map(|(idx, v)| {
            let mut m = BTreeMap::new();
            m.insert("Idx".to_owned(), Value::from(idx));
            m.insert("Header".to_owned(), header_json(v.header()));
            m.insert("Metadata".to_owned(), msgpack_to_json(v.meta_bytes())?);
            Ok(object(m))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut top = BTreeMap::new();
    top.insert("Versions".to_owned(), Value::Array(versions));
    Ok(object(top))
}

/// Converts one msgpack value to JSON the way msgp's `CopyToJSON` does.
pub fn msgpack_to_json(bytes: &[u8]) -> Result<Value> {
    let mut r = Reader::new(bytes);
    let v = value(&mut r, 0)?;
    if !r.is_empty() {
        return Err(r.err("msgpack value", MsgpProblem::TrailingBytes));
    }
    Ok(v)
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn value(r: &mut Reader<'_>, depth: usize) -> Result<Value> {
    const WHAT: &str = "metadata value";
    if depth > MAX_DEPTH {
        return Err(r.err(WHAT, MsgpProblem::TooDeep));
    }
    let m = r.peek(WHAT)?;
    Ok(match m {
        0xc0 => {
            r.skip(WHAT)?;
            Value::Null
        }
        0xc2 | 0xc3 => Value::Bool(r.read_bool(WHAT)?),
        0x00..=0x7f | 0xcc..=0xcf => Value::Number(Number::from(r.read_u64(WHAT)?)),
        0xe0..=0xff | 0xd0..=0xd3 => Value::Number(Number::from(r.read_i64(WHAT)?)),
        0xca => {
            let raw = r.read_raw(WHAT)?;
            let f = f32::from_be_bytes(
                raw.get(1..5)
                    .and_then(|b| b.try_into().ok())
                    .unwrap_or_default(),
            );
            // msgp prints a float32 with the shortest digits that round-trip
            // as float32 (0.1, not 0.10000000149011612).
            let shortest = f.to_string().parse::<f64>().unwrap_or(f64::NAN);
            Number::from_f64(shortest).map_or(Value::Null, Value::Number)
        }
        0xcb => {
            let raw = r.read_raw(WHAT)?;
            let f = f64::from_be_bytes(
                raw.get(1..9)
                    .and_then(|b| b.try_into().ok())
                    .unwrap_or_default(),
            );
            Number::from_f64(f).map_or(Value::Null, Value::Number)
        }
        0xa0..=0xbf | 0xd9..=0xdb => {
            Value::String(String::from_utf8_lossy(r.read_str_bytes(WHAT)?).into_owned())
        }
        0xc4..=0xc6 => Value::String(b64(r.read_bin(WHAT)?)),
        0x90..=0x9f | 0xdc | 0xdd => {
            let n = r.read_array_len(WHAT)?;
            let mut out = Vec::with_capacity(usize::try_from(n).unwrap_or(0).min(r.rest().len()));
            for _ in 0..n {
                out.push(value(r, depth + 1)?);
            }
            Value::Array(out)
        }
        0x80..=0x8f | 0xde | 0xdf => {
            let n = r.read_map_len(WHAT)?;
            let mut out = BTreeMap::new();
            for _ in 0..n {
                let key = match r.peek(WHAT)? {
                    0xc4..=0xc6 => r.read_bin(WHAT)?,
                    _ => r.read_str_bytes(WHAT)?,
                };
                out.insert(
                    String::from_utf8_lossy(key).into_owned(),
                    value(r, depth + 1)?,
                );
            }
            object(out)
        }
        _ => {
            let (ty, data) = r.read_ext(WHAT)?;
            if ty == 5 && data.len() == 12 {
                let mut secs = [0u8; 8];
                let mut nanos = [0u8; 4];
                secs.copy_from_slice(data.get(..8).unwrap_or(&[0; 8]));
                nanos.copy_from_slice(data.get(8..).unwrap_or(&[0; 4]));
                let ns = i64::from_be_bytes(secs)
                    .wrapping_mul(1_000_000_000)
                    .wrapping_add(i64::from(u32::from_be_bytes(nanos)));
                Value::String(format_rfc3339_nano(ns))
            } else {
                let mut m = BTreeMap::new();
                m.insert("type".to_owned(), Value::from(ty));
                m.insert("data".to_owned(), Value::String(b64(data)));
                object(m)
            }
        }
    })
}
