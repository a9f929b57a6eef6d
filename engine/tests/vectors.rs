//! Known-answer vectors produced by running MinIO's own code (`testdata/vectors/`).
//!
//! Every `*.json` file in that folder is loaded and dispatched by the suffix of
//! its name, so a new file such as `extra_dare.json` is tested without a code
//! change. Kinds owned by other crates are tested by their own `vectors`
//! target; a file whose kind no crate knows fails here.

use std::path::{Path, PathBuf};

#[path = "vectors/bitrot.rs"]
mod bitrot;
#[path = "vectors/common.rs"]
mod common;
#[path = "vectors/config_crypto.rs"]
mod config_crypto;
#[path = "vectors/dare.rs"]
mod dare;
#[path = "vectors/object_keys.rs"]
mod object_keys;
#[path = "vectors/placement.rs"]
mod placement;
#[path = "vectors/reedsolomon.rs"]
mod reedsolomon;
#[path = "vectors/sse_metadata.rs"]
mod sse_metadata;
#[path = "vectors/sse_support.rs"]
mod sse_support;

/// Every vector kind in the workspace, by file-name suffix, and which crate tests it.
const KINDS: &[(&str, &str)] = &[
    ("xlmeta.json", "xlmeta"),
    ("kms_builtin.json", "kms-client"),
    ("object_keys.json", "engine"),
    ("sse_metadata.json", "engine"),
    ("dare.json", "engine"),
    ("config_crypto.json", "engine"),
    ("reedsolomon.json", "engine"),
    ("bitrot.json", "engine"),
    ("placement.json", "engine"),
];

fn vector_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/vectors");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

fn kind_of(path: &Path) -> Option<&'static str> {
    let name = path.file_name()?.to_str()?;
    KINDS
        .iter()
        .find(|(suffix, _)| name.ends_with(suffix))
        .map(|(suffix, _)| *suffix)
}

#[test]
fn every_vector_file_has_a_known_kind() {
    let files = vector_files();
    assert!(!files.is_empty(), "no vector files found");
    for file in files {
        assert!(
            kind_of(&file).is_some(),
            "{}: no crate knows this vector kind",
            file.display()
        );
    }
}

/// Runs every engine-owned vector file through its kind's checker.
#[test]
fn engine_vectors() {
    for file in vector_files() {
        match kind_of(&file) {
            Some("object_keys.json") => object_keys::check(&file),
            Some("sse_metadata.json") => sse_metadata::check(&file),
            Some("dare.json") => dare::check(&file),
            Some("config_crypto.json") => config_crypto::check(&file),
            Some("reedsolomon.json") => reedsolomon::check(&file),
            Some("bitrot.json") => bitrot::check(&file),
            Some("placement.json") => placement::check(&file),
            _ => {}
        }
    }
}
