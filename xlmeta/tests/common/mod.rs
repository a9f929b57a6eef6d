//! Shared test helpers: locating and decompressing the real MinIO samples.

#![allow(dead_code)]

use std::io::Read;
use std::path::PathBuf;

/// The workspace `testdata/` directory.
pub fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

/// Raw bytes of `testdata/minio/<name>`.
pub fn minio_file(name: &str) -> Vec<u8> {
    std::fs::read(testdata().join("minio").join(name)).unwrap()
}

/// zstd-decompressed `testdata/minio/<name>`.
pub fn zstd_file(name: &str) -> Vec<u8> {
    let raw = minio_file(name);
    let mut out = Vec::new();
    ruzstd::decoding::StreamingDecoder::new(raw.as_slice())
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// gunzipped `testdata/minio/<name>`.
pub fn gz_file(name: &str) -> Vec<u8> {
    let raw = minio_file(name);
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(raw.as_slice())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Every `xl.meta` inside `testdata/minio/<name>` (a zip), sorted by path.
pub fn zip_xlmetas(name: &str) -> Vec<(String, Vec<u8>)> {
    let raw = minio_file(name);
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(raw)).unwrap();
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let fname = f.name().unwrap().into_owned();
        if f.is_file() && fname.ends_with("xl.meta") {
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            out.push((fname, data));
        }
    }
    out.sort();
    out
}

/// Every real MinIO xl.meta sample except the corrupt one: `(label, bytes)`.
pub fn all_samples() -> Vec<(String, Vec<u8>)> {
    let mut out = vec![
        ("xl.meta".to_owned(), minio_file("xl.meta")),
        (
            "xl-many-parts.meta".to_owned(),
            minio_file("xl-many-parts.meta"),
        ),
        ("xl.meta-v1.2".to_owned(), zstd_file("xl.meta-v1.2.zst")),
    ];
    for zip in [
        "xl-meta-consist.zip",
        "xl-meta-inline-notinline.zip",
        "xl-meta-merge.zip",
    ] {
        out.extend(
            zip_xlmetas(zip)
                .into_iter()
                .map(|(n, d)| (format!("{zip}:{n}"), d)),
        );
    }
    out
}

/// Lowercase hex.
pub fn hex(b: &[u8]) -> String {
    hex::encode(b)
}
