//! `minio_json` (what `keyrotate inspect --json` prints) against a model of
//! MinIO's `xl-meta` debugging tool (docs/debugging/xl-meta) built here on an
//! independent msgpack decoder (`rmpv`), for every real MinIO sample and
//! every vector file.
//!
//! The model follows the tool step by step: 1.0 files convert the raw map,
//! 1.1/1.2 the bin-wrapped map; 1.3 files become `{"Versions":[{Idx,
//! Header, Metadata}]}` where `Header` is the decoded header array (EcN is
//! stored before EcM) with hex `VersionID`/`Signature` and an RFC 3339
//! `ModTime`, and `Metadata` is msgp's generic msgpack→JSON conversion
//! (`bin` as standard base64, integers as numbers, `str`/`bin` map keys).
//! The whole JSON values are compared, so every field (ids, mod times,
//! erasure fields, sizes, parts, MetaSys, MetaUsr, signatures) is checked.

mod common;

use base64::Engine as _;
use common::*;
use rmpv::Value as Mp;
use serde_json::{json, Map, Value};
use xlmeta::XlMeta;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// msgp's `UnmarshalAsJSON`/`CopyToJSON` of one decoded value.
fn msgp_json(v: &Mp) -> Value {
    match v {
        Mp::Nil => Value::Null,
        Mp::Boolean(b) => Value::Bool(*b),
        Mp::Integer(i) => i
            .as_u64()
            .map(Value::from)
            .or_else(|| i.as_i64().map(Value::from))
            .unwrap(),
        // Go prints a float32 with its own shortest digits.
        Mp::F32(f) => json!(f.to_string().parse::<f64>().unwrap()),
        Mp::F64(f) => json!(f),
        Mp::String(s) => Value::String(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        Mp::Binary(b) => Value::String(b64(b)),
        Mp::Array(a) => Value::Array(a.iter().map(msgp_json).collect()),
        Mp::Map(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Mp::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                        Mp::Binary(b) => String::from_utf8_lossy(b).into_owned(),
                        other => panic!("msgp rejects map key {other:?}"),
                    };
                    (key, msgp_json(v))
                })
                .collect::<Map<_, _>>(),
        ),
        Mp::Ext(ty, data) => json!({ "type": ty, "data": b64(data) }),
    }
}

fn read(buf: &mut &[u8]) -> Mp {
    rmpv::decode::read_value(buf).unwrap()
}

fn bin(v: Mp) -> Vec<u8> {
    match v {
        Mp::Binary(b) => b,
        other => panic!("expected bin, got {other:?}"),
    }
}

fn rfc3339(unix_nanos: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_nanos))
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// What MinIO's `xl-meta` tool prints for one file (times in UTC).
fn tool_json(file: &[u8]) -> Value {
    assert_eq!(&file[..4], b"XL2 ");
    let minor = if &file[4..8] == b"1   " {
        0
    } else {
        u16::from_le_bytes([file[6], file[7]])
    };
    let mut payload = &file[8..];
    match minor {
        0 => msgp_json(&read(&mut payload)),
        1 | 2 => {
            let body = bin(read(&mut payload));
            msgp_json(&read(&mut body.as_slice()))
        }
        3 => {
            let body = bin(read(&mut payload));
            let mut b = body.as_slice();
            let header_ver = read(&mut b).as_u64().unwrap();
            let _meta_ver = read(&mut b).as_u64().unwrap();
            let count = read(&mut b).as_i64().unwrap();
            let mut versions = Vec::new();
            for idx in 0..count {
                let hdr = bin(read(&mut b));
                let meta = bin(read(&mut b));
                let Mp::Array(h) = read(&mut hdr.as_slice()) else {
                    panic!("header is not an array")
                };
                assert_eq!(h.len(), if header_ver > 2 { 7 } else { 5 });
                let byte = |i: usize| h[i].as_u64().unwrap();
                let (ec_n, ec_m) = if header_ver > 2 {
                    (byte(5), byte(6))
                } else {
                    (0, 0)
                };
                let mut m = &meta[..];
                let metadata = msgp_json(&read(&mut m));
                assert!(m.is_empty(), "trailing bytes after version meta");
                versions.push(json!({
                    "Idx": idx,
                    "Header": {
                        "VersionID": hex(h[0].as_slice().unwrap()),
                        "ModTime": rfc3339(h[1].as_i64().unwrap()),
                        "Signature": hex(h[2].as_slice().unwrap()),
                        "Type": byte(3),
                        "Flags": byte(4),
                        "EcM": ec_m,
                        "EcN": ec_n,
                    },
                    "Metadata": metadata,
                }));
            }
            json!({ "Versions": versions })
        }
        other => panic!("minor {other}"),
    }
}

/// Asserts equality and names the first differing JSON path.
fn assert_same(name: &str, got: &Value, want: &Value) {
    fn walk(path: &str, a: &Value, b: &Value) -> Option<String> {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let keys: std::collections::BTreeSet<_> = x.keys().chain(y.keys()).collect();
                keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => walk(&format!("{path}.{k}"), p, q),
                    (p, q) => Some(format!("{path}.{k}: {p:?} vs {q:?}")),
                })
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
                .iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (p, q))| walk(&format!("{path}[{i}]"), p, q)),
            _ if a == b => None,
            _ => Some(format!("{path}: {a} vs {b}")),
        }
    }
    if let Some(diff) = walk("", got, want) {
        panic!("{name}: keyrotate vs MinIO tool model differ at {diff}");
    }
}

fn ours(bytes: &[u8]) -> Value {
    xlmeta::minio_json::to_minio_json(&XlMeta::parse(bytes).unwrap()).unwrap()
}

#[test]
fn every_real_sample_matches_the_minio_tool_model() {
    let samples = all_samples();
    assert!(samples.len() >= 23);
    for (name, bytes) in &samples {
        assert_same(name, &ours(bytes), &tool_json(bytes));
    }
}

#[test]
fn every_vector_file_matches_the_minio_tool_model() {
    let dir = testdata().join("vectors");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.to_string_lossy().ends_with("xlmeta.json") {
            continue;
        }
        let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        for case in doc["cases"].as_array().unwrap() {
            let bytes = hex::decode(case["xl_meta_hex"].as_str().unwrap()).unwrap();
            let name = format!("{}:{}", path.display(), case["name"]);
            assert_same(&name, &ours(&bytes), &tool_json(&bytes));
            n += 1;
        }
    }
    assert!(n >= 3, "xlmeta vector cases found: {n}");
}

/// The model itself is grounded in facts the samples' README states, so a
/// wrong model cannot make both sides agree on nonsense.
#[test]
fn model_agrees_with_documented_sample_facts() {
    let v10 = tool_json(&minio_file("xl.meta"));
    let o = &v10["Versions"][0]["V2Obj"];
    assert_eq!(v10["Versions"][0]["Type"], 1);
    assert_eq!(o["EcDist"], json!([3, 4, 1, 2]));
    assert_eq!((o["EcM"].clone(), o["EcN"].clone()), (json!(2), json!(2)));
    assert_eq!(o["EcIndex"], 3);
    assert_eq!(o["EcBSize"], 10_485_760);
    assert_eq!(o["Size"], 6482);
    assert_eq!(o["PartETags"], json!([""]));
    assert_eq!(o["MetaUsr"]["content-type"], "application/json");

    let many = tool_json(&minio_file("xl-many-parts.meta"));
    let versions = many["Versions"].as_array().unwrap();
    assert_eq!(versions.len(), 7);
    for v in versions {
        assert_eq!(
            (v["Header"]["EcM"].clone(), v["Header"]["Flags"].clone()),
            (json!(0), json!(2))
        );
        let o = &v["Metadata"]["V2Obj"];
        assert_eq!(o["EcM"], 12);
        assert_eq!(o["PartNums"].as_array().unwrap().len(), 9016);
        // MetaSys values are bin: base64 in the tool's output.
        let alg = o["MetaSys"]["X-Minio-Internal-Server-Side-Encryption-Seal-Algorithm"]
            .as_str()
            .unwrap();
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(alg)
                .unwrap(),
            b"DAREv2-HMAC-SHA256"
        );
        // MTime is integer nanoseconds and equals the header's ModTime.
        let mtime = o["MTime"].as_i64().unwrap();
        assert_eq!(v["Header"]["ModTime"], rfc3339(mtime));
    }

    let v12 = tool_json(&zstd_file("xl.meta-v1.2.zst"));
    assert_eq!(v12["Versions"].as_array().unwrap().len(), 855);
    assert!(v12.get("Versions").unwrap()[0].get("Header").is_none());
}

/// MinIO stores a v3 header's EcN before its EcM; every sample has EcM ==
/// EcN, so a file whose header says 4 data + 2 parity shards (patched into
/// a vector file) tells a swap apart.
#[test]
fn header_erasure_fields_follow_minio_order() {
    let doc: Value =
        serde_json::from_slice(&std::fs::read(testdata().join("vectors/xlmeta.json")).unwrap())
            .unwrap();
    let mut bytes = hex::decode(doc["cases"][0]["xl_meta_hex"].as_str().unwrap()).unwrap();
    let xl = XlMeta::parse(&bytes).unwrap();
    assert_eq!(xl.header_version(), 3);
    let hdr = xl.versions()[0].header_bytes().unwrap();
    let end = hdr.as_ptr() as usize - bytes.as_ptr() as usize + hdr.len();
    drop(xl);
    // ... Type, Flags, EcN, EcM: EcN = 2 parity, EcM = 4 data.
    bytes[end - 2] = 2;
    bytes[end - 1] = 4;
    let got = ours(&bytes);
    assert_same("patched", &got, &tool_json(&bytes));
    assert_eq!(got["Versions"][0]["Header"]["EcM"], 4);
    assert_eq!(got["Versions"][0]["Header"]["EcN"], 2);
}
