//! `…reedsolomon.json`: shards of MinIO's `Erasure.EncodeData` and the size
//! arithmetic, plus reconstruction from every `P`-sized loss.

use std::path::Path;

use engine::erasure::stream::{read_part, ShardSource};
use engine::erasure::{bitrot::HASH_LEN, Erasure};
use sha2::{Digest, Sha256};

use super::common::{load, rule_bytes, s, u};

pub fn check(path: &Path) {
    let doc = load(path);
    let cases = doc["cases"].as_array().expect("cases");
    assert!(!cases.is_empty());
    for case in cases {
        let (d, p) = (
            u(case, "data_blocks") as usize,
            u(case, "parity_blocks") as usize,
        );
        let block_size = u(case, "block_size");
        let input_size = u(case, "input_size");
        let e = Erasure::new(d, p, block_size).unwrap();
        let what = format!("{}: {d}+{p} size {input_size}", path.display());
        assert_eq!(e.shard_size(), u(case, "shard_size_full_block"), "{what}");
        assert_eq!(
            e.shard_file_size(input_size),
            u(case, "shard_file_size_for_input"),
            "{what}"
        );
        assert_eq!(
            e.bitrot_file_size(input_size),
            u(case, "bitrot_shard_file_size_for_input"),
            "{what}"
        );
        let encoded = u(case, "encoded_block_size") as usize;
        let data = rule_bytes(s(case, "data_rule"), encoded);
        let shards = e.encode_block(&data).unwrap();
        let expected = case["shards"].as_array().expect("shards");
        assert_eq!(expected.len(), d + p, "{what}");
        for want in expected {
            let i = u(want, "index") as usize;
            let got = &shards[i];
            assert_eq!(got.len() as u64, u(want, "len"), "{what} shard {i}");
            if let Some(h) = want["hex"].as_str() {
                assert_eq!(hex::encode(got), h, "{what} shard {i}");
            }
            assert_eq!(
                hex::encode(Sha256::digest(got)),
                s(want, "sha256"),
                "{what} shard {i}"
            );
        }
        // Decode back with every loss of up to P shards (framed as a shard stream).
        let framed: Vec<Vec<u8>> = shards
            .iter()
            .map(|sh| {
                let mut f = Vec::new();
                engine::erasure::bitrot::frame_into(&mut f, sh);
                assert_eq!(f.len(), HASH_LEN + sh.len());
                f
            })
            .collect();
        // Every loss pattern for small blocks; for full blocks (slow in debug
        // builds) the patterns that lose the most data shards or only parity.
        let n = d + p;
        let all_masks: Vec<u32> = if encoded <= 4096 {
            (0u32..(1 << n))
                .filter(|m| m.count_ones() as usize <= p)
                .collect()
        } else {
            let low = (1u32 << p) - 1;
            vec![0, low, low << (d - p.min(d)), low << d, 1 << (d - 1)]
        };
        for mask in all_masks {
            let sources: Vec<Option<&dyn ShardSource>> = framed
                .iter()
                .enumerate()
                .map(|(k, f)| (mask & (1 << k) == 0).then_some(f as &dyn ShardSource))
                .collect();
            let mut out = Vec::new();
            read_part(&e, encoded as u64, &sources, &mut out)
                .unwrap_or_else(|err| panic!("{what} mask {mask:b}: {err}"));
            assert!(out == data, "{what} mask {mask:b}: decoded bytes differ");
        }
    }
}
