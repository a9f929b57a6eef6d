//! `…bitrot.json`: HighwayHash-256 under MinIO's key and a complete streaming
//! shard file set.

use std::path::Path;

use engine::erasure::bitrot::{highway256, BITROT_KEY};
use engine::erasure::stream::{encode_part, read_part, ShardSource};
use engine::erasure::Erasure;

use super::common::{load, rule_bytes, s, u};

pub fn check(path: &Path) {
    let doc = load(path);
    assert_eq!(hex::encode(BITROT_KEY), s(&doc, "magic_key_hex"));
    let hashes = doc["hashes"].as_array().expect("hashes");
    assert!(!hashes.is_empty());
    for case in hashes {
        let input = if let Some(h) = case["input_hex"].as_str() {
            hex::decode(h).unwrap()
        } else {
            let rule = s(case, "input_rule");
            let len: usize = rule
                .split(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .expect("length");
            rule_bytes(rule, len)
        };
        assert_eq!(
            hex::encode(highway256(&input)),
            s(case, "highwayhash256"),
            "{case}"
        );
    }

    let sf = &doc["streaming_shard_file"];
    let e = Erasure::new(
        u(sf, "data_blocks") as usize,
        u(sf, "parity_blocks") as usize,
        u(sf, "block_size"),
    )
    .unwrap();
    let size = u(sf, "object_size");
    let data = rule_bytes(s(sf, "data_rule"), size as usize);
    let files = encode_part(&e, &data).unwrap();
    let expected = sf["files"].as_array().expect("files");
    assert_eq!(expected.len(), files.len());
    for want in expected {
        let i = u(want, "shard_index") as usize;
        assert_eq!(files[i].len() as u64, u(want, "file_len"));
        assert_eq!(
            hex::encode(&files[i]),
            s(want, "file_hex"),
            "shard file {i}"
        );
    }
    let originals: Vec<Vec<u8>> = expected
        .iter()
        .map(|w| hex::decode(s(w, "file_hex")).unwrap())
        .collect();
    let sources: Vec<Option<&dyn ShardSource>> = originals
        .iter()
        .map(|f| Some(f as &dyn ShardSource))
        .collect();
    let mut out = Vec::new();
    read_part(&e, size, &sources, &mut out).unwrap();
    assert!(out == data, "MinIO's shard files decode to the object");
}
