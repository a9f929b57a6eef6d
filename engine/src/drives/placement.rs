//! Where an object lives (ONDISK §2.3, §7.3): which erasure set of a pool
//! (`sipHashMod` / `crcHashMod`) and which shard each drive of the set holds
//! (`hashOrder`).

use std::hash::Hasher;

use siphasher::sip::SipHasher24;

/// The set-selection algorithm named by format.json `xl.distributionAlgo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DistributionAlgo {
    /// `CRCMOD`: CRC32-IEEE of the object name.
    CrcMod,
    /// `SIPMOD` and `SIPMOD+PARITY`: SipHash-2-4 keyed by the deployment id.
    SipMod,
}

impl DistributionAlgo {
    /// Parses the format.json spelling; `None` for an unknown algorithm.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "CRCMOD" => Some(Self::CrcMod),
            "SIPMOD" | "SIPMOD+PARITY" => Some(Self::SipMod),
            _ => None,
        }
    }

    /// Set index of the encoded object name `key` among `sets` sets.
    /// `None` when `sets == 0`.
    pub fn set_index(self, key: &str, sets: usize, deployment_id: &uuid::Uuid) -> Option<usize> {
        match self {
            Self::CrcMod => crc_hash_mod(key, sets),
            Self::SipMod => sip_hash_mod(key, sets, deployment_id),
        }
    }
}

/// `hashOrder(key, n)`: `EcDist` for `key = "<bucket>/<encoded object>"`, a
/// rotation of `1..=n` starting after `CRC32(key) mod n`. `None` when `n == 0`.
pub fn hash_order(key: &str, n: usize) -> Option<Vec<usize>> {
    if n == 0 {
        return None;
    }
    let start = crc32fast::hash(key.as_bytes()) as usize % n;
    Some((1..=n).map(|i| 1 + (start + i) % n).collect())
}

/// `sipHashMod`: SipHash-2-4 of `key` keyed by the deployment id's 16 bytes
/// (two LE words), modulo `sets`. `None` when `sets == 0`.
pub fn sip_hash_mod(key: &str, sets: usize, deployment_id: &uuid::Uuid) -> Option<usize> {
    if sets == 0 {
        return None;
    }
    let id = deployment_id.as_bytes();
    let (lo, hi) = id.split_at(8);
    let word = |b: &[u8]| {
        let mut w = [0u8; 8];
        w.copy_from_slice(b);
        u64::from_le_bytes(w)
    };
    let mut h = SipHasher24::new_with_keys(word(lo), word(hi));
    h.write(key.as_bytes());
    Some((h.finish() % sets as u64) as usize)
}

/// `crcHashMod`: CRC32-IEEE of `key` modulo `sets`. `None` when `sets == 0`.
pub fn crc_hash_mod(key: &str, sets: usize) -> Option<usize> {
    if sets == 0 {
        return None;
    }
    Some(crc32fast::hash(key.as_bytes()) as usize % sets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_examples() {
        // ONDISK §2.3 independent example and §7.3 samples.
        let id = uuid::Uuid::parse_str("01234567-89ab-cdef-0123-456789abcdef").unwrap();
        assert_eq!(sip_hash_mod("photos/2024/a.jpg", 4, &id), Some(2));
        assert_eq!(hash_order("testbucket/hosts", 4), Some(vec![1, 2, 3, 4]));
        assert_eq!(hash_order("testbucket/file", 4), Some(vec![2, 3, 4, 1]));
        assert_eq!(hash_order("x", 0), None);
        assert_eq!(sip_hash_mod("x", 0, &id), None);
        assert_eq!(
            DistributionAlgo::parse("SIPMOD+PARITY"),
            Some(DistributionAlgo::SipMod)
        );
        assert_eq!(DistributionAlgo::parse("nope"), None);
    }
}
