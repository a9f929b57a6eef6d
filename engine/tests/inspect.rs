//! `keyrotate inspect`: the `--json` output has the structure of MinIO's
//! `xl-meta` tool and carries what MinIO's own decoder returned for the
//! vector files; `--check` catches CRC and signature mismatches.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use serde_json::Value;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("keyrotate-inspect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn inspect(args: &[&str], path: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keyrotate"))
        .arg("inspect")
        .args(args)
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn xlmeta_cases() -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/vectors");
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with("xlmeta.json") {
            let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            cases.extend(doc["cases"].as_array().unwrap().iter().cloned());
        }
    }
    assert!(cases.len() >= 3);
    cases
}

fn type_number(name: &str) -> u64 {
    match name {
        "ObjectType" => 1,
        "DeleteType" => 2,
        "LegacyType" => 3,
        other => panic!("unknown type {other}"),
    }
}

#[test]
fn json_matches_minio_tool_structure_and_minio_decoder() {
    for case in xlmeta_cases() {
        let name = case["name"].as_str().unwrap();
        let bytes = hex::decode(case["xl_meta_hex"].as_str().unwrap()).unwrap();
        let path = temp_file(&format!("{name}.xl.meta"), &bytes);
        let (code, stdout, stderr) = inspect(&["--json", "--check"], &path);
        assert_eq!(code, 0, "{name}: {stderr}");
        let json: Value = serde_json::from_str(&stdout).unwrap();
        let versions = json["Versions"].as_array().unwrap();
        let headers = case["version_headers_sorted"].as_array().unwrap();
        let decoded = case["decoded_versions"].as_array().unwrap();
        assert_eq!(versions.len(), headers.len(), "{name}");
        for (i, ((v, h), d)) in versions.iter().zip(headers).zip(decoded).enumerate() {
            assert_eq!(v["Idx"], i, "{name}");
            // Header: hex ids and signature, RFC 3339 time, numeric fields.
            let hdr = &v["Header"];
            let vid = h["version_id"].as_str().unwrap();
            assert_eq!(hdr["VersionID"], vid.replace('-', ""), "{name} v{i}");
            assert_eq!(hdr["ModTime"], h["mod_time"], "{name} v{i}");
            assert_eq!(hdr["Signature"], h["signature_hex"], "{name} v{i}");
            let vtype = type_number(h["type"].as_str().unwrap());
            assert_eq!(hdr["Type"], vtype, "{name} v{i}");
            assert_eq!(hdr["Flags"], h["flags"], "{name} v{i}");
            assert_eq!(hdr["EcM"], h["EcM"], "{name} v{i}");
            assert_eq!(hdr["EcN"], h["EcN"], "{name} v{i}");
            let mut keys: Vec<&String> = hdr.as_object().unwrap().keys().collect();
            keys.sort();
            assert_eq!(
                keys,
                [
                    "EcM",
                    "EcN",
                    "Flags",
                    "ModTime",
                    "Signature",
                    "Type",
                    "VersionID"
                ]
            );

            // Metadata: MinIO's field names, base64 bytes, integer MTime.
            let md = &v["Metadata"];
            assert_eq!(md["Type"], vtype, "{name} v{i}");
            assert_eq!(md["v"], 1_770_854_400u64, "{name} v{i}");
            let input = case["add_version_inputs_in_order"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["version_id"] == d["version_id"])
                .unwrap();
            let id_bytes = xlmeta::uuid::parse_uuid(vid).unwrap();
            let want_meta = d["metadata"].as_object().unwrap();
            if d["deleted"].as_bool().unwrap() {
                let del = &md["DelObj"];
                assert_eq!(del["ID"], b64(&id_bytes), "{name} v{i}");
                assert_eq!(del["MTime"], input["mod_time_unix_nano"], "{name} v{i}");
                assert_eq!(del["MetaSys"].as_object().unwrap().len(), want_meta.len());
                assert!(md.get("V2Obj").is_none());
            } else {
                let o = &md["V2Obj"];
                assert_eq!(o["ID"], b64(&id_bytes), "{name} v{i}");
                let ddir = xlmeta::uuid::parse_uuid(d["data_dir"].as_str().unwrap()).unwrap();
                assert_eq!(o["DDir"], b64(&ddir), "{name} v{i}");
                assert_eq!(o["EcIndex"], d["erasure_index"], "{name} v{i}");
                assert_eq!(o["Size"], d["size"], "{name} v{i}");
                assert_eq!(o["MTime"], input["mod_time_unix_nano"], "{name} v{i}");
                assert_eq!(o["EcM"], input["erasure"]["data"], "{name} v{i}");
                assert_eq!(o["EcN"], input["erasure"]["parity"], "{name} v{i}");
                assert_eq!(o["EcDist"], input["erasure"]["distribution"], "{name} v{i}");
                let (sys, usr) = (
                    o["MetaSys"].as_object().unwrap(),
                    o["MetaUsr"].as_object().unwrap(),
                );
                assert_eq!(sys.len() + usr.len(), want_meta.len(), "{name} v{i}");
                for (k, val) in want_meta {
                    let val = val.as_str().unwrap();
                    if xlmeta::meta::is_meta_sys_key(k) {
                        assert_eq!(sys[k], b64(val.as_bytes()), "{name} v{i} {k}");
                    } else {
                        assert_eq!(usr[k], val, "{name} v{i} {k}");
                    }
                }
            }
        }
    }
}

#[test]
fn check_detects_crc_and_signature_mismatches() {
    let case = &xlmeta_cases()[0];
    let good = hex::decode(case["xl_meta_hex"].as_str().unwrap()).unwrap();
    let body_len = u32::from_be_bytes(good[9..13].try_into().unwrap()) as usize;
    let crc_at = 13 + body_len + 1;

    let mut bad_crc = good.clone();
    bad_crc[crc_at] ^= 0xff;
    let path = temp_file("bad-crc.xl.meta", &bad_crc);
    let (code, _, stderr) = inspect(&["--check"], &path);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("bad-crc.xl.meta") && stderr.contains("CRC mismatch"),
        "{stderr}"
    );
    // Without --check the file is still printed.
    assert_eq!(inspect(&[], &path).0, 0);

    // A stale signature with a valid CRC: flip a signature byte and fix the CRC.
    let mut bad_sig = good.clone();
    let sig_at = bad_sig.windows(2).position(|w| w == [0xc4, 0x04]).unwrap() + 2;
    bad_sig[sig_at] ^= 0x01;
    let crc = xlmeta::container::body_crc(&bad_sig[13..13 + body_len]);
    bad_sig[crc_at..crc_at + 4].copy_from_slice(&crc.to_be_bytes());
    let path = temp_file("bad-sig.xl.meta", &bad_sig);
    let (code, _, stderr) = inspect(&["--check"], &path);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("bad-sig.xl.meta") && stderr.contains("signature mismatch"),
        "{stderr}"
    );

    // Undecodable input names the file and fails.
    let path = temp_file("truncated.xl.meta", &good[..40]);
    let (code, _, stderr) = inspect(&[], &path);
    assert_eq!(code, 1);
    assert!(stderr.contains("truncated.xl.meta"), "{stderr}");

    let path = temp_file("good.xl.meta", &good);
    let (code, stdout, _) = inspect(&["--check"], &path);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("ObjectType null") && stdout.contains("x-minio-internal-inline-data"),
        "{stdout}"
    );
}

/// `inspect --json` of real MinIO files prints exactly `xlmeta::minio_json`
/// (which xlmeta/tests/minio_tool.rs compares field by field with a model of
/// MinIO's `xl-meta` tool): the 1.3 indexed layout, and for 1.0/1.2 files the
/// stored legacy map as the tool converts it.
#[test]
fn json_of_real_minio_files_is_the_minio_tool_view() {
    use std::io::Read as _;
    let minio = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/minio");
    let mut v12 = Vec::new();
    ruzstd::decoding::StreamingDecoder::new(
        std::fs::File::open(minio.join("xl.meta-v1.2.zst")).unwrap(),
    )
    .unwrap()
    .read_to_end(&mut v12)
    .unwrap();
    let files = [
        (
            "xl.meta",
            std::fs::read(minio.join("xl.meta")).unwrap(),
            true,
        ),
        ("v1.2.xl.meta", v12, true),
        (
            "many-parts.xl.meta",
            std::fs::read(minio.join("xl-many-parts.meta")).unwrap(),
            false,
        ),
    ];
    for (name, bytes, legacy) in files {
        let path = temp_file(name, &bytes);
        let (code, stdout, stderr) = inspect(&["--json", "--check"], &path);
        assert_eq!(code, 0, "{name}: {stderr}");
        let got: Value = serde_json::from_str(&stdout).unwrap();
        let xl = xlmeta::XlMeta::parse(&bytes).unwrap();
        assert_eq!(
            got,
            xlmeta::minio_json::to_minio_json(&xl).unwrap(),
            "{name}"
        );
        let versions = got["Versions"].as_array().unwrap();
        assert_eq!(versions.len(), xl.versions().len(), "{name}");
        let first = &versions[0];
        if legacy {
            // The tool prints legacy entries as stored: {Type, V2Obj}.
            assert!(first.get("Header").is_none(), "{name}");
            assert_eq!(first["Type"], 1, "{name}");
            assert!(first["V2Obj"]["MTime"].is_i64(), "{name}");
        } else {
            assert_eq!(first["Idx"], 0, "{name}");
            assert_eq!(first["Metadata"]["V2Obj"]["EcM"], 12, "{name}");
        }
    }
}
