//! The `format.json` model (ONDISK §2) and the xl.meta codec over the complete
//! erasure sets in testdata/drivesets, which MinIO's own code wrote: every
//! drive's format.json parses and places the drive where the manifest says,
//! and every xl.meta decodes, verifies and re-encodes to identical bytes.

use std::path::Path;

#[path = "common/runs.rs"]
mod runs;
use runs::*;

use xlmeta::format::FormatJson;
use xlmeta::XlMeta;

fn xl_metas(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            xl_metas(&p, out);
        } else if p.file_name().is_some_and(|n| n == "xl.meta") {
            out.push(p);
        }
    }
}

#[test]
fn drivesets_format_json_and_every_xl_meta() {
    for name in [
        "ds-4drives-ec2-key1",
        "ds-6drives-ec2-key2",
        "ds-8drives-ec3-parts",
    ] {
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../testdata/drivesets")
                    .join(format!("{name}.manifest.json")),
            )
            .unwrap(),
        )
        .unwrap();
        let (_tmp, root) = unpack(name);
        let n = manifest["drives"].as_u64().unwrap() as usize;
        let mut metas = 0;
        for (i, drive) in drives(&root, n).iter().enumerate() {
            let raw = std::fs::read(drive.join(".minio.sys/format.json")).unwrap();
            let f = FormatJson::parse(&raw).unwrap_or_else(|e| panic!("{name} drive{i}: {e}"));
            assert_eq!(f.id, manifest["deployment_id"].as_str().unwrap(), "{name}");
            assert_eq!((f.set_count(), f.set_drive_count()), (1, n), "{name}");
            let pos = f.this_position().unwrap();
            assert_eq!((pos.set, pos.index), (0, i), "{name} drive{}", i + 1);
            if let Some(ids) = manifest["set_drive_ids"].as_array() {
                assert_eq!(f.xl.this, ids[i].as_str().unwrap(), "{name}");
            }
            assert!(!f.is_offline_placeholder());
            // Re-encoding keeps the document's content.
            let again: serde_json::Value = serde_json::from_slice(&f.to_json().unwrap()).unwrap();
            let orig: serde_json::Value = serde_json::from_slice(&raw).unwrap();
            assert_eq!(again, orig, "{name}");

            let mut files = Vec::new();
            xl_metas(drive, &mut files);
            for path in files {
                let bytes = std::fs::read(&path).unwrap();
                let xl =
                    XlMeta::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(xl.verify_all().is_empty(), "{}", path.display());
                assert_eq!(xl.encode().unwrap(), bytes, "{}", path.display());
                metas += 1;
            }
        }
        assert!(metas >= n * 10, "{name}: only {metas} xl.meta files");
    }
}
