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
        // msgp's time extension prints as Go's time.MarshalJSON.
        Mp::Ext(5, data) if data.len() == 12 => {
            let secs = i64::from_be_bytes(data[..8].try_into().unwrap());
            let nanos = i64::from(u32::from_be_bytes(data[8..].try_into().unwrap()));
            Value::String(rfc3339(secs * 1_000_000_000 + nanos))
        }
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

fn s(v: &str) -> Mp {
    Mp::from(v)
}

/// msgp's time extension (type 5): big-endian seconds and nanoseconds.
fn msgp_time(secs: i64, nanos: u32) -> Mp {
    let mut data = secs.to_be_bytes().to_vec();
    data.extend_from_slice(&nanos.to_be_bytes());
    Mp::Ext(5, data)
}

fn map(entries: Vec<(&str, Mp)>) -> Mp {
    Mp::Map(entries.into_iter().map(|(k, v)| (s(k), v)).collect())
}

/// A version converted from `xl.json` (`V1Obj`, MinIO's `xlMetaV1Object`
/// field names, encoded here by rmpv, not by our encoder) in a 1.0
/// container: typed decoding, the derived header, verification, lossless
/// re-encoding and the tool's JSON (with msgp's time extension).
#[test]
fn legacy_v1_object_decodes_with_its_derived_header() {
    const SECS: i64 = 1_600_000_000;
    const NANOS: u32 = 123_456_789;
    let vid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
    let v1 = map(vec![
        ("Version", s("1.0.1")),
        ("Format", s("xl")),
        (
            "Stat",
            map(vec![
                ("Size", Mp::from(6482)),
                ("ModTime", msgp_time(SECS, NANOS)),
                ("Name", s("")),
                ("Dir", Mp::from(false)),
                ("Mode", Mp::from(0)),
            ]),
        ),
        (
            "Erasure",
            map(vec![
                ("Algorithm", s("rs-vandermonde")),
                ("DataBlocks", Mp::from(2)),
                ("ParityBlocks", Mp::from(2)),
                ("BlockSize", Mp::from(10_485_760)),
                ("Index", Mp::from(3)),
                (
                    "Distribution",
                    Mp::Array([3, 4, 1, 2].into_iter().map(Mp::from).collect()),
                ),
                (
                    "Checksums",
                    Mp::Array(vec![map(vec![
                        ("PartNumber", Mp::from(1)),
                        ("Algorithm", Mp::from(3)),
                        ("Hash", Mp::Binary(vec![0xab; 32])),
                    ])]),
                ),
            ]),
        ),
        (
            "Minio",
            map(vec![("Release", s("RELEASE.2020-06-01T00-00-00Z"))]),
        ),
        (
            "Meta",
            map(vec![
                ("etag", s("5d41402abc4b2a76b9719d911017c592")),
                ("content-type", s("text/plain")),
            ]),
        ),
        (
            "Parts",
            Mp::Array(vec![map(vec![
                ("e", s("")),
                ("n", Mp::from(1)),
                ("s", Mp::from(6482)),
                ("as", Mp::from(6482)),
                ("mt", msgp_time(SECS, 0)),
            ])]),
        ),
        ("VersionID", s(vid)),
        ("DataDir", s("legacy")),
    ]);
    let top = map(vec![(
        "Versions",
        Mp::Array(vec![map(vec![("Type", Mp::from(3)), ("V1Obj", v1)])]),
    )]);
    let mut file = b"XL2 1   ".to_vec();
    rmpv::encode::write_value(&mut file, &top).unwrap();

    let xl = XlMeta::parse(&file).unwrap();
    assert_eq!(xl.container_version(), (1, 0));
    assert!(xl.verify_all().is_empty(), "{:?}", xl.verify_all());
    assert_eq!(xl.encode().unwrap(), file, "untouched re-encode");
    let [v] = xl.versions() else {
        panic!("one version")
    };
    let h = v.header();
    assert_eq!(h.vtype, xlmeta::VersionType::Legacy);
    assert_eq!(h.vtype.name(), "LegacyType");
    assert_eq!(hex(&h.version_id), vid.replace('-', ""));
    assert_eq!(h.mod_time, SECS * 1_000_000_000 + i64::from(NANOS));
    // MinIO derives flags and erasure counts from V2 objects only.
    assert_eq!((h.flags, h.ec_m, h.ec_n), (0, 0, 0));
    let meta = v.meta().unwrap();
    assert_eq!(meta.signature().unwrap(), h.signature);
    let xlmeta::VersionBody::Legacy(l) = &meta.body else {
        panic!("expected V1Obj, got {:?}", meta.body)
    };
    assert_eq!((l.version, l.format, l.data_dir), ("1.0.1", "xl", "legacy"));
    assert_eq!(l.version_id, vid);
    assert_eq!(l.stat.size, 6482);
    assert_eq!(l.stat.mod_time.unix_nanos(), h.mod_time);
    let e = &l.erasure;
    assert_eq!(
        (
            e.algorithm,
            e.data_blocks,
            e.parity_blocks,
            e.block_size,
            e.index
        ),
        ("rs-vandermonde", 2, 2, 10_485_760, 3)
    );
    assert_eq!(e.distribution, [3, 4, 1, 2]);
    assert_eq!(e.checksums.len(), 1);
    assert_eq!(
        (e.checksums[0].part_number, e.checksums[0].algorithm),
        (1, 3)
    );
    assert_eq!(e.checksums[0].hash, [0xab; 32]);
    assert_eq!(l.minio_release, "RELEASE.2020-06-01T00-00-00Z");
    assert_eq!(
        l.meta,
        [
            ("etag", "5d41402abc4b2a76b9719d911017c592"),
            ("content-type", "text/plain")
        ]
    );
    assert_eq!(l.parts.len(), 1);
    assert_eq!(
        (l.parts[0].number, l.parts[0].size, l.parts[0].actual_size),
        (1, 6482, 6482)
    );
    assert_eq!(l.parts[0].mod_time.unix_nanos(), SECS * 1_000_000_000);

    // The tool's view: the stored map, times as RFC 3339.
    let got = ours(&file);
    assert_same("V1Obj", &got, &tool_json(&file));
    assert_eq!(
        got["Versions"][0]["V1Obj"]["Stat"]["ModTime"],
        "2020-09-13T12:26:40.123456789Z"
    );

    // The same version inside a 1.2 container (bin-wrapped map + CRC).
    let mut body = Vec::new();
    rmpv::encode::write_value(&mut body, &top).unwrap();
    let mut v12 = b"XL2 \x01\x00\x02\x00".to_vec();
    rmpv::encode::write_value(&mut v12, &Mp::Binary(body.clone())).unwrap();
    v12.push(0xce);
    v12.extend_from_slice(&xlmeta::container::body_crc(&body).to_be_bytes());
    let xl12 = XlMeta::parse(&v12).unwrap();
    assert!(xl12.verify_all().is_empty());
    assert_eq!(xl12.versions()[0].header(), h);
    assert_eq!(xl12.encode().unwrap(), v12);
    assert_same("V1Obj 1.2", &ours(&v12), &tool_json(&v12));
}
