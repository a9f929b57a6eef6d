//! Streaming bitrot protection (ONDISK §8): HighwayHash-256 under MinIO's fixed
//! key, written as `hash(32) ‖ chunk` for every erasure block of a shard file
//! or inline shard.

use highway::{HighwayHash, HighwayHasher, Key};

/// Length of one HighwayHash-256 digest in a shard stream.
pub const HASH_LEN: usize = 32;

/// MinIO's bitrot key (`magicHighwayHash256Key`, ONDISK §8.3).
pub const BITROT_KEY: [u8; 32] = [
    0x4b, 0xe7, 0x34, 0xfa, 0x8e, 0x23, 0x8a, 0xcd, 0x26, 0x3e, 0x83, 0xe6, 0xbb, 0x96, 0x85, 0x52,
    0x04, 0x0f, 0x93, 0x5d, 0xa3, 0x9f, 0x44, 0x14, 0x97, 0xe0, 0x9d, 0x13, 0x22, 0xde, 0x36, 0xa0,
];

/// The hash state keyed like MinIO's: the 32 key bytes as four LE words.
fn hasher() -> HighwayHasher {
    let mut words = [0u64; 4];
    for (w, bytes) in words.iter_mut().zip(BITROT_KEY.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(bytes);
        *w = u64::from_le_bytes(b);
    }
    HighwayHasher::new(Key(words))
}

fn digest_bytes(words: [u64; 4]) -> [u8; HASH_LEN] {
    let mut out = [0u8; HASH_LEN];
    for (chunk, w) in out.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// HighwayHash-256 of `data` under MinIO's bitrot key.
pub fn highway256(data: &[u8]) -> [u8; HASH_LEN] {
    let mut h = hasher();
    h.append(data);
    digest_bytes(h.finalize256())
}

/// Incremental HighwayHash-256 (for callers hashing data that arrives in pieces).
#[derive(Clone)]
pub struct Highway256(HighwayHasher);

impl Default for Highway256 {
    fn default() -> Self {
        Self(hasher())
    }
}

impl Highway256 {
    /// Feeds more bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.append(data);
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> [u8; HASH_LEN] {
        digest_bytes(self.0.finalize256())
    }
}

/// Appends one framed chunk (`hash ‖ chunk`) to `out`.
pub fn frame_into(out: &mut Vec<u8>, chunk: &[u8]) {
    out.extend_from_slice(&highway256(chunk));
    out.extend_from_slice(chunk);
}

/// Checks one framed chunk (`hash ‖ chunk`, exactly `HASH_LEN + chunk_len` bytes)
/// and returns the chunk, or `None` when the stored hash does not match.
pub fn verify_frame(frame: &[u8]) -> Option<&[u8]> {
    let (stored, chunk) = frame.split_at_checked(HASH_LEN)?;
    (highway256(chunk) == stored).then_some(chunk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_test_chain() {
        // ONDISK §8.3: 32 rounds of m = m ‖ HH256(m) starting from the empty message.
        let mut m = Vec::new();
        let mut d = [0u8; HASH_LEN];
        for _ in 0..32 {
            d = highway256(&m);
            m.extend_from_slice(&d);
        }
        assert_eq!(
            hex::encode(d),
            "39c0407ed3f01b18d22c85db4aeff11e060ca5f43131b0126731ca197cd42313"
        );
    }

    #[test]
    fn incremental_equals_one_shot_and_frames_verify() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
        let mut h = Highway256::default();
        for piece in data.chunks(333) {
            h.update(piece);
        }
        assert_eq!(h.finish(), highway256(&data));
        let mut framed = Vec::new();
        frame_into(&mut framed, &data);
        assert_eq!(verify_frame(&framed), Some(&data[..]));
        framed[40] ^= 1;
        assert_eq!(verify_frame(&framed), None);
        assert_eq!(verify_frame(&framed[..10]), None);
    }
}
