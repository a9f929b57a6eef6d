//! MinIO erasure coding: Reed-Solomon shards, streaming bitrot and the size
//! arithmetic that ties them together (ONDISK §7–§9).
//!
//! | item | what it owns |
//! |---|---|
//! | [`Erasure`] | one `(D, P, block size)` geometry: shard sizes, block encode/reconstruct |
//! | [`bitrot`] | HighwayHash-256 with MinIO's key and the `hash ‖ chunk` framing |
//! | [`set`] | locating a version on a set: layout, per-drive shard locations |
//! | [`stream`] | a part's byte stream ↔ per-shard bitrot files, tolerant of bad shards |
//!
//! The matrix is klauspost/reedsolomon's default (Vandermonde made systematic),
//! which the `reed-solomon-erasure` crate builds identically; the vector tests
//! in `tests/vectors/reedsolomon.rs` hold it to MinIO's own shards.

pub mod bitrot;
pub mod set;
pub mod stream;

use reed_solomon_erasure::galois_8::ReedSolomon;

/// MinIO's erasure block size (`blockSizeV2`): 1 MiB of stored part bytes per block.
pub const DEFAULT_BLOCK_SIZE: u64 = 1 << 20;

/// The largest block size MinIO ever wrote (`blockSizeV1`, 10 MiB, in old
/// objects). Buffers are sized by the block: a larger `EcBSize` is corrupt
/// metadata, refused before anything is allocated for it.
pub const MAX_BLOCK_SIZE: u64 = 10 << 20;

/// Part numbers run from 1 to 10000 (`globalMaxPartID`, as S3).
pub const MAX_PART_NUMBER: i64 = 10_000;

/// The largest stored size of a part or a whole object: MinIO's object limit
/// (`globalMaxObjectSize`, 5 TiB, also the largest single PUT, so a single
/// part) plus room for what encryption adds (32 bytes per 64 KiB package,
/// 1/2048) and compression framing: 1/1024 more.
pub const MAX_STORED_SIZE: u64 = (5 << 40) + ((5 << 40) >> 10);

/// A version's erasure layout fields that no MinIO writes: corrupt metadata
/// (checked before reading, since buffers are sized from these fields).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("erasure block size (EcBSize) {0} is outside 1..={MAX_BLOCK_SIZE}")]
    BlockSize(i64),
    #[error("{numbers} part numbers but {sizes} part sizes")]
    PartCount { numbers: usize, sizes: usize },
    #[error("{0} parts: more than MinIO allows ({MAX_PART_NUMBER})")]
    TooManyParts(usize),
    #[error("part number {0} is outside 1..={MAX_PART_NUMBER}")]
    PartNumber(i64),
    #[error("part {number} size {size} is outside 0..={MAX_STORED_SIZE}")]
    PartSize { number: i64, size: i64 },
    #[error("parts of {0} bytes in all: more than MinIO stores in one object ({MAX_STORED_SIZE})")]
    TotalSize(u128),
}

/// Checks the erasure block size and the parts (`PartNums`/`PartSizes`) of
/// a version against MinIO's limits; returns the `(number, size)` pairs.
pub fn check_layout(
    block_size: i64,
    part_numbers: &[i64],
    part_sizes: &[i64],
) -> Result<Vec<(u32, u64)>, LayoutError> {
    if !(1..=MAX_BLOCK_SIZE as i64).contains(&block_size) {
        return Err(LayoutError::BlockSize(block_size));
    }
    if part_numbers.len() != part_sizes.len() {
        return Err(LayoutError::PartCount {
            numbers: part_numbers.len(),
            sizes: part_sizes.len(),
        });
    }
    if part_numbers.len() > MAX_PART_NUMBER as usize {
        return Err(LayoutError::TooManyParts(part_numbers.len()));
    }
    let mut total = 0u128;
    let mut parts = Vec::with_capacity(part_numbers.len());
    for (&number, &size) in part_numbers.iter().zip(part_sizes) {
        let n = u32::try_from(number)
            .ok()
            .filter(|n| (1..=MAX_PART_NUMBER as u32).contains(n))
            .ok_or(LayoutError::PartNumber(number))?;
        let s = u64::try_from(size)
            .ok()
            .filter(|&s| s <= MAX_STORED_SIZE)
            .ok_or(LayoutError::PartSize { number, size })?;
        total += u128::from(s);
        parts.push((n, s));
    }
    if total > u128::from(MAX_STORED_SIZE) {
        return Err(LayoutError::TotalSize(total));
    }
    Ok(parts)
}

/// What can go wrong while encoding or decoding erasure shards.
#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    /// The `(D, P)` pair is not one MinIO can write or read.
    #[error("invalid erasure geometry {data}+{parity} (block size {block_size})")]
    Geometry {
        data: usize,
        parity: usize,
        block_size: u64,
    },
    /// Fewer than `D` usable shards remain for a block.
    #[error("block {block}: only {available} of {needed} required shards are readable ({detail})")]
    TooFewShards {
        block: u64,
        available: usize,
        needed: usize,
        detail: String,
    },
    /// The Reed-Solomon library refused the shards (lengths disagree, …).
    #[error("reed-solomon: {0:?}")]
    Codec(reed_solomon_erasure::Error),
    /// Reading the source stream or writing a sink failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

/// One erasure geometry: `D` data shards, `P` parity shards and the block size.
///
/// Built from the per-version `EcM`/`EcN`/`EcBSize` of an `xl.meta` (never from
/// drive-count defaults, ONDISK §2.5).
#[derive(Clone)]
pub struct Erasure {
    data: usize,
    parity: usize,
    block_size: u64,
    /// `None` for `P = 0`: the crate rejects it, and MinIO then only splits.
    codec: Option<ReedSolomon>,
}

impl std::fmt::Debug for Erasure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Erasure({}+{}, block {})",
            self.data, self.parity, self.block_size
        )
    }
}

impl Erasure {
    /// Checks MinIO's constraints (`D > 0`, `P ≥ 0`, `D + P ≤ 256`,
    /// `0 < block ≤` [`MAX_BLOCK_SIZE`]) and builds the codec.
    pub fn new(data: usize, parity: usize, block_size: u64) -> Result<Self, ErasureError> {
        let bad = || ErasureError::Geometry {
            data,
            parity,
            block_size,
        };
        if data == 0 || data + parity > 256 || block_size == 0 || block_size > MAX_BLOCK_SIZE {
            return Err(bad());
        }
        let codec = match parity {
            0 => None,
            p => Some(ReedSolomon::new(data, p).map_err(|_| bad())?),
        };
        Ok(Self {
            data,
            parity,
            block_size,
            codec,
        })
    }

    /// Data shard count `D` (`EcM`).
    pub fn data_shards(&self) -> usize {
        self.data
    }

    /// Parity shard count `P` (`EcN`).
    pub fn parity_shards(&self) -> usize {
        self.parity
    }

    /// `D + P`: one shard per drive of the set.
    pub fn total_shards(&self) -> usize {
        self.data + self.parity
    }

    /// Block size `B` (`EcBSize`).
    pub fn block_size(&self) -> u64 {
        self.block_size
    }

    /// `ceil(B / D)`: the shard chunk of one full block.
    pub fn shard_size(&self) -> u64 {
        self.block_size.div_ceil(self.data as u64)
    }

    /// Bytes of shard payload per drive for a part of `part_size` stored bytes.
    pub fn shard_file_size(&self, part_size: u64) -> u64 {
        let full = part_size / self.block_size;
        let rest = part_size % self.block_size;
        full * self.shard_size() + rest.div_ceil(self.data as u64)
    }

    /// On-disk size of one drive's bitrot-framed shard file (payload + one
    /// 32-byte hash per chunk).
    pub fn bitrot_file_size(&self, part_size: u64) -> u64 {
        let payload = self.shard_file_size(part_size);
        payload.div_ceil(self.shard_size()) * bitrot::HASH_LEN as u64 + payload
    }

    /// Number of erasure blocks of a part (`0` for an empty part).
    pub fn block_count(&self, part_size: u64) -> u64 {
        part_size.div_ceil(self.block_size)
    }

    /// Splits one block (at most `B` bytes, non-empty) into `D + P` shards of
    /// `ceil(len / D)` bytes each, zero-padding the last data shard like
    /// klauspost's `Split`, and computes parity.
    pub fn encode_block(&self, block: &[u8]) -> Result<Vec<Vec<u8>>, ErasureError> {
        let chunk = block.len().div_ceil(self.data);
        let mut shards: Vec<Vec<u8>> = (0..self.total_shards())
            .map(|i| {
                let start = (i * chunk).min(block.len());
                let end = ((i + 1) * chunk).min(block.len());
                let mut s = if i < self.data {
                    block[start..end].to_vec()
                } else {
                    Vec::new()
                };
                s.resize(chunk, 0);
                s
            })
            .collect();
        if let Some(codec) = &self.codec {
            codec.encode(&mut shards).map_err(ErasureError::Codec)?;
        }
        Ok(shards)
    }

    /// Bytes of one shard's bitrot frames for `len` bytes of part data
    /// (whole blocks, only the last one short): what
    /// [`encode_framed_into`](Self::encode_framed_into) writes per shard.
    pub fn framed_len(&self, len: u64) -> u64 {
        self.block_count(len) * bitrot::HASH_LEN as u64 + self.shard_file_size(len)
    }

    /// Erasure-codes `data` block by block (whole blocks; only the last may
    /// be short) and appends each block's bitrot frame `hash ‖ chunk` to
    /// `out[k]` for shard number `k + 1`: the same bytes as
    /// [`encode_block`](Self::encode_block) + [`bitrot::frame_into`].
    pub fn encode_framed(&self, data: &[u8], out: &mut [Vec<u8>]) -> Result<(), ErasureError> {
        let len = usize::try_from(self.framed_len(data.len() as u64)).unwrap_or(usize::MAX);
        let starts: Vec<usize> = out.iter().map(Vec::len).collect();
        for o in out.iter_mut() {
            o.resize(o.len() + len, 0);
        }
        let mut tails: Vec<&mut [u8]> = out
            .iter_mut()
            .zip(starts)
            .map(|(o, s)| o.get_mut(s..).unwrap_or_default())
            .collect();
        self.encode_framed_into(data, &mut tails)
    }

    /// Like [`encode_framed`](Self::encode_framed), into `out[k]` of exactly
    /// [`framed_len`](Self::framed_len) bytes each, whose previous contents
    /// do not matter: every byte is written (so recycled buffers need no
    /// zero-fill). Data chunks are copied once, straight into their frames;
    /// parity is computed in place next to them; blocks are coded and hashed
    /// in parallel on the rayon pool.
    pub fn encode_framed_into(
        &self,
        data: &[u8],
        out: &mut [&mut [u8]],
    ) -> Result<(), ErasureError> {
        use rayon::prelude::*;
        let (d, n) = (self.data, self.total_shards());
        let len = usize::try_from(self.framed_len(data.len() as u64)).unwrap_or(usize::MAX);
        if out.len() != n || out.iter().any(|o| o.len() != len) {
            return Err(ErasureError::Codec(
                reed_solomon_erasure::Error::IncorrectShardSize,
            ));
        }
        let block = usize::try_from(self.block_size).unwrap_or(usize::MAX);
        let chunk_of = |len: usize| len.div_ceil(d);
        // frames[block][shard]: disjoint views into the outputs.
        let mut frames: Vec<Vec<&mut [u8]>> =
            data.chunks(block).map(|_| Vec::with_capacity(n)).collect();
        for o in out.iter_mut() {
            let mut rest: &mut [u8] = o;
            for (b, f) in data.chunks(block).zip(frames.iter_mut()) {
                let (frame, tail) =
                    std::mem::take(&mut rest).split_at_mut(bitrot::HASH_LEN + chunk_of(b.len()));
                f.push(frame);
                rest = tail;
            }
        }
        frames
            .par_iter_mut()
            .zip(data.par_chunks(block))
            .try_for_each(|(shards, b)| {
                let chunk = chunk_of(b.len());
                for (k, f) in shards.iter_mut().take(d).enumerate() {
                    let body = &mut f[bitrot::HASH_LEN..];
                    let mine = b
                        .get((k * chunk).min(b.len())..((k + 1) * chunk).min(b.len()))
                        .unwrap_or_default();
                    let (copy, pad) = body.split_at_mut(mine.len());
                    copy.copy_from_slice(mine);
                    // Zero padding of the last data shard (klauspost's `Split`).
                    pad.fill(0);
                }
                let (data, parity) = shards.split_at_mut(d);
                if let Some(codec) = &self.codec {
                    let data: Vec<&[u8]> = data.iter().map(|f| &f[bitrot::HASH_LEN..]).collect();
                    let mut parity: Vec<&mut [u8]> = parity
                        .iter_mut()
                        .map(|f| &mut f[bitrot::HASH_LEN..])
                        .collect();
                    codec
                        .encode_sep(&data, &mut parity)
                        .map_err(ErasureError::Codec)?;
                }
                for f in shards.iter_mut() {
                    let (hash, chunk) = f.split_at_mut(bitrot::HASH_LEN);
                    hash.copy_from_slice(&bitrot::highway256(chunk));
                }
                Ok(())
            })
    }

    /// Fills in missing data shards (`None`) from any `D` present shards.
    /// Parity shards are left as they are.
    pub fn reconstruct_data(&self, shards: &mut [Option<Vec<u8>>]) -> Result<(), ErasureError> {
        if shards[..self.data.min(shards.len())]
            .iter()
            .all(Option::is_some)
        {
            return Ok(());
        }
        match &self.codec {
            Some(codec) => codec.reconstruct_data(shards).map_err(ErasureError::Codec),
            None => Err(ErasureError::Codec(
                reed_solomon_erasure::Error::TooFewShardsPresent,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_the_spec_example() {
        // ONDISK §7.2 / §8.2: D = 12, B = 1 MiB, part of 6294528 bytes.
        let e = Erasure::new(12, 4, DEFAULT_BLOCK_SIZE).unwrap();
        assert_eq!(e.shard_size(), 87382);
        assert_eq!(e.shard_file_size(6294528), 524548);
        assert_eq!(e.bitrot_file_size(6294528), 524772);
        assert_eq!(e.shard_file_size(0), 0);
        assert_eq!(e.bitrot_file_size(0), 0);
        assert_eq!(e.block_count(2 * DEFAULT_BLOCK_SIZE), 2);
    }

    #[test]
    fn worked_example_hello_2_2() {
        // ONDISK §7.4.
        let e = Erasure::new(2, 2, DEFAULT_BLOCK_SIZE).unwrap();
        let shards = e.encode_block(b"hello").unwrap();
        let hex: Vec<String> = shards.iter().map(hex::encode).collect();
        assert_eq!(hex, ["68656c", "6c6f00", "6071b4", "647bd8"]);
        let mut opt: Vec<Option<Vec<u8>>> = shards.into_iter().map(Some).collect();
        opt[0] = None;
        opt[1] = None;
        e.reconstruct_data(&mut opt).unwrap();
        assert_eq!(opt[0].as_deref(), Some(&b"hel"[..]));
        assert_eq!(opt[1].as_deref(), Some(&b"lo\0"[..]));
    }

    #[test]
    fn framed_encoding_equals_block_encoding_plus_frames() {
        for (d, p, bs) in [(2, 2, 1 << 20), (4, 2, 4096), (3, 0, 1000), (5, 3, 777)] {
            let e = Erasure::new(d, p, bs).unwrap();
            for len in [
                0usize,
                1,
                5,
                776,
                777,
                4095,
                4096,
                4097,
                3 * 4096 + 5,
                1_500_001,
            ] {
                let data: Vec<u8> = (0..len).map(|i| (i * 131 + 17) as u8).collect();
                let mut want = vec![b"prefix".to_vec(); d + p];
                for block in data.chunks(bs as usize) {
                    for (w, s) in want.iter_mut().zip(e.encode_block(block).unwrap()) {
                        bitrot::frame_into(w, &s);
                    }
                }
                let mut got = vec![b"prefix".to_vec(); d + p];
                e.encode_framed(&data, &mut got).unwrap();
                assert_eq!(got, want, "{d}+{p} block {bs} len {len}");
                // Into dirty buffers: every byte is overwritten.
                let framed = e.framed_len(len as u64) as usize;
                let mut dirty = vec![vec![0xa5u8; framed]; d + p];
                let mut views: Vec<&mut [u8]> = dirty.iter_mut().map(|v| &mut v[..]).collect();
                e.encode_framed_into(&data, &mut views).unwrap();
                for (g, w) in dirty.iter().zip(&want) {
                    assert_eq!(g[..], w[6..], "{d}+{p} block {bs} len {len} dirty");
                }
            }
            assert!(e.encode_framed(b"x", &mut [Vec::new()]).is_err());
        }
    }

    /// MinIO's limits, from its source (cmd/object-api-utils.go,
    /// cmd/erasure-coding.go): blocks of 1 MiB (10 MiB in old objects),
    /// part numbers 1..=10000, objects up to 5 TiB stored (plus the
    /// encryption/compression allowance).
    #[test]
    fn layout_limits_at_their_bounds() {
        const MIB: i64 = 1 << 20;
        const TIB: i64 = 1 << 40;
        let max = MAX_STORED_SIZE as i64;
        assert_eq!(check_layout(MIB, &[1], &[5]), Ok(vec![(1, 5)]));
        assert!(check_layout(10 * MIB, &[1], &[0]).is_ok());
        assert_eq!(
            check_layout(10 * MIB + 1, &[1], &[5]),
            Err(LayoutError::BlockSize(10 * MIB + 1))
        );
        assert_eq!(check_layout(0, &[1], &[5]), Err(LayoutError::BlockSize(0)));
        assert_eq!(
            check_layout(-1, &[1], &[5]),
            Err(LayoutError::BlockSize(-1))
        );
        assert_eq!(
            check_layout(1 << 40, &[1], &[5]),
            Err(LayoutError::BlockSize(1 << 40))
        );
        // A single 5 TiB PUT, encrypted (DARE adds 1/2048) fits.
        let dare_5tib = 5 * TIB + 5 * TIB / 2048;
        assert!(check_layout(MIB, &[1], &[dare_5tib]).is_ok());
        assert!(check_layout(MIB, &[1], &[max]).is_ok());
        assert_eq!(
            check_layout(MIB, &[1], &[max + 1]),
            Err(LayoutError::PartSize {
                number: 1,
                size: max + 1
            })
        );
        assert_eq!(
            check_layout(MIB, &[1], &[1 << 50]),
            Err(LayoutError::PartSize {
                number: 1,
                size: 1 << 50
            })
        );
        assert_eq!(
            check_layout(MIB, &[1], &[-1]),
            Err(LayoutError::PartSize {
                number: 1,
                size: -1
            })
        );
        // The most parts MinIO allows, each of its minimum part size.
        let numbers: Vec<i64> = (1..=10_000).collect();
        let sizes = vec![5 * MIB; 10_000];
        assert!(check_layout(MIB, &numbers, &sizes).is_ok());
        let numbers: Vec<i64> = (1..=10_001).collect();
        let sizes = vec![0; 10_001];
        assert_eq!(
            check_layout(MIB, &numbers, &sizes),
            Err(LayoutError::TooManyParts(10_001))
        );
        assert_eq!(
            check_layout(MIB, &[0], &[1]),
            Err(LayoutError::PartNumber(0))
        );
        assert_eq!(
            check_layout(MIB, &[10_001], &[1]),
            Err(LayoutError::PartNumber(10_001))
        );
        assert!(check_layout(MIB, &[10_000], &[1]).is_ok());
        assert_eq!(
            check_layout(MIB, &[1, 2], &[1]),
            Err(LayoutError::PartCount {
                numbers: 2,
                sizes: 1
            })
        );
        // Each part within bounds, together too large.
        assert_eq!(
            check_layout(MIB, &[1, 2], &[max, 1]),
            Err(LayoutError::TotalSize(u128::from(MAX_STORED_SIZE) + 1))
        );
    }

    #[test]
    fn rejects_bad_geometry_and_handles_zero_parity() {
        assert!(Erasure::new(0, 2, DEFAULT_BLOCK_SIZE).is_err());
        assert!(Erasure::new(200, 57, DEFAULT_BLOCK_SIZE).is_err());
        assert!(Erasure::new(2, 2, 0).is_err());
        // The largest block MinIO wrote (10 MiB) and not a byte more.
        assert!(Erasure::new(2, 2, MAX_BLOCK_SIZE).is_ok());
        assert!(Erasure::new(2, 2, MAX_BLOCK_SIZE + 1).is_err());
        assert!(Erasure::new(2, 2, 1 << 40).is_err());
        let e = Erasure::new(3, 0, DEFAULT_BLOCK_SIZE).unwrap();
        let shards = e.encode_block(b"abcdefg").unwrap();
        assert_eq!(
            shards,
            [b"abc".to_vec(), b"def".to_vec(), b"g\0\0".to_vec()]
        );
        let mut opt = vec![None, Some(b"def".to_vec()), Some(b"g\0\0".to_vec())];
        assert!(e.reconstruct_data(&mut opt).is_err());
    }
}
