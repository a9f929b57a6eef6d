//! A part's stored byte stream ↔ the bitrot-framed shard streams of a set.
//!
//! Reading takes one [`ShardSource`] per shard number (`None` when the drive is
//! missing), verifies each chunk's HighwayHash before use and reconstructs from
//! parity whenever a data shard is missing, short or corrupt, so up to `P` bad
//! shards are tolerated. A shard found bad once is not consulted again for the
//! rest of the part. Writing encodes blocks and appends `hash ‖ chunk` to one
//! sink per shard number.

use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::bitrot::{self, HASH_LEN};
use super::{Erasure, ErasureError};
use crate::drives::io::{DriveFile, DriveIo};

/// Random-access reads of one drive's shard stream (a part file or an inline
/// shard held in memory).
pub trait ShardSource {
    /// Fills `buf` from byte `offset`; a short stream is an error.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()>;
}

impl ShardSource for std::fs::File {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }
}

impl ShardSource for [u8] {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let start = usize::try_from(offset).ok();
        let src = start.and_then(|s| self.get(s..s.checked_add(buf.len())?));
        match src {
            Some(src) => {
                buf.copy_from_slice(src);
                Ok(())
            }
            None => Err(std::io::ErrorKind::UnexpectedEof.into()),
        }
    }
}

impl ShardSource for Vec<u8> {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.as_slice().read_exact_at(offset, buf)
    }
}

/// Why a shard was dropped while reading a part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardFault {
    /// No source was given (drive or file missing).
    Missing,
    /// The stream ended early or the read failed.
    Unreadable(String),
    /// A chunk's HighwayHash did not match.
    HashMismatch { block: u64 },
}

/// What a successful read had to work around, per shard number.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReadReport {
    /// `(shard index 0-based, fault)` for every shard that was dropped.
    pub faults: Vec<(usize, ShardFault)>,
    /// Number of blocks that needed reconstruction.
    pub reconstructed_blocks: u64,
}

/// Decodes one part of `part_size` stored bytes into `out`.
///
/// `sources[k]` is the stream of shard number `k + 1` (its `EcIndex`).
pub fn read_part(
    erasure: &Erasure,
    part_size: u64,
    sources: &[Option<&dyn ShardSource>],
    out: &mut dyn Write,
) -> Result<ReadReport, ErasureError> {
    let n = erasure.total_shards();
    let d = erasure.data_shards();
    let mut report = ReadReport::default();
    let mut bad = vec![false; n];
    for (k, is_bad) in bad.iter_mut().enumerate() {
        if sources.get(k).is_none_or(Option::is_none) {
            *is_bad = true;
            report.faults.push((k, ShardFault::Missing));
        }
    }
    let block_size = erasure.block_size();
    let frame_stride = HASH_LEN as u64 + erasure.shard_size();
    let mut remaining = part_size;
    let mut block = 0u64;
    let mut frame = Vec::new();
    while remaining > 0 {
        let block_len = remaining.min(block_size);
        let chunk_len = block_len.div_ceil(d as u64);
        let offset = block * frame_stride;
        let mut shards: Vec<Option<Vec<u8>>> = vec![None; n];
        let mut good = 0usize;
        // Data shards first (no decoding needed when all are good), then parity.
        for k in 0..n {
            if good == d {
                break;
            }
            let Some(src) = (!bad[k])
                .then(|| sources.get(k).copied().flatten())
                .flatten()
            else {
                continue;
            };
            frame.resize(HASH_LEN + chunk_len as usize, 0);
            if let Err(e) = src.read_exact_at(offset, &mut frame) {
                bad[k] = true;
                report
                    .faults
                    .push((k, ShardFault::Unreadable(e.to_string())));
                continue;
            }
            match bitrot::verify_frame(&frame) {
                Some(chunk) => {
                    shards[k] = Some(chunk.to_vec());
                    good += 1;
                }
                None => {
                    bad[k] = true;
                    report.faults.push((k, ShardFault::HashMismatch { block }));
                }
            }
        }
        if good < d {
            let detail = report
                .faults
                .iter()
                .map(|(k, f)| format!("shard {}: {f:?}", k + 1))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(ErasureError::TooFewShards {
                block,
                available: good,
                needed: d,
                detail,
            });
        }
        if shards[..d].iter().any(Option::is_none) {
            erasure.reconstruct_data(&mut shards)?;
            report.reconstructed_blocks += 1;
        }
        let mut left = block_len as usize;
        for shard in shards.iter().take(d).flatten() {
            let take = left.min(shard.len());
            out.write_all(&shard[..take])
                .map_err(|source| ErasureError::Io {
                    context: format!("writing decoded block {block}"),
                    source,
                })?;
            left -= take;
        }
        remaining -= block_len;
        block += 1;
    }
    Ok(report)
}

/// Reads `reader` to its end, erasure-codes it block by block and appends each
/// shard's framed chunks to `sinks[k]` (shard number `k + 1`). Returns the
/// number of stored bytes consumed (the part size).
pub fn write_part<W: Write>(
    erasure: &Erasure,
    reader: &mut dyn Read,
    sinks: &mut [W],
) -> Result<u64, ErasureError> {
    let block_size = usize::try_from(erasure.block_size()).unwrap_or(usize::MAX);
    let mut buf = vec![0u8; block_size];
    let mut total = 0u64;
    let mut framed = Vec::new();
    loop {
        let len = read_full(reader, &mut buf).map_err(|source| ErasureError::Io {
            context: "reading part data".into(),
            source,
        })?;
        if len == 0 {
            break;
        }
        let shards = erasure.encode_block(&buf[..len])?;
        for (k, (shard, sink)) in shards.iter().zip(sinks.iter_mut()).enumerate() {
            framed.clear();
            bitrot::frame_into(&mut framed, shard);
            sink.write_all(&framed).map_err(|source| ErasureError::Io {
                context: format!("writing shard {}", k + 1),
                source,
            })?;
        }
        total += len as u64;
        if len < block_size {
            break;
        }
    }
    Ok(total)
}

/// Encodes an in-memory part into one framed shard stream per shard number.
pub fn encode_part(erasure: &Erasure, data: &[u8]) -> Result<Vec<Vec<u8>>, ErasureError> {
    let size = erasure.bitrot_file_size(data.len() as u64);
    let mut sinks: Vec<Vec<u8>> = (0..erasure.total_shards())
        .map(|_| Vec::with_capacity(usize::try_from(size).unwrap_or(0)))
        .collect();
    erasure.encode_framed(data, &mut sinks)?;
    Ok(sinks)
}

fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Where one drive of the set keeps its shard of a version.
#[derive(Debug, Clone)]
pub enum ShardLocation {
    /// The drive's inline-data entry for the version (single part).
    Inline(Vec<u8>),
    /// The version's dataDir on that drive (`…/<object>/<DDir>`); parts are `part.N`.
    DataDir(PathBuf),
    /// The same, read through the drive's I/O worker (`data_dir` relative to its root).
    OnDrive { io: DriveIo, data_dir: PathBuf },
    /// Drive offline, object or metadata absent, or `EcIndex` inconsistent.
    Missing,
}

/// The erasure layout of one object version, as recorded in its `xl.meta`.
#[derive(Debug, Clone)]
pub struct ObjectLayout {
    /// `EcM`/`EcN`/`EcBSize`.
    pub erasure: Erasure,
    /// `EcDist`: drive at set position `j` holds shard number `distribution[j]`.
    pub distribution: Vec<u8>,
    /// `(part number, stored part size)` in order.
    pub parts: Vec<(u32, u64)>,
}

/// Outcome of reading a whole version.
#[derive(Debug, Default)]
pub struct ObjectReadReport {
    /// Per part, what had to be worked around.
    pub parts: Vec<(u32, ReadReport)>,
}

/// Errors of reading a whole version.
#[derive(Debug, thiserror::Error)]
pub enum ObjectReadError {
    /// `EcDist` does not describe the set (wrong length or not a permutation of 1..=N).
    #[error("distribution {distribution:?} does not fit {drives} drives / {shards} shards")]
    Distribution {
        distribution: Vec<u8>,
        drives: usize,
        shards: usize,
    },
    /// An inline shard was given for a multipart version.
    #[error("inline data for a version with {0} parts")]
    InlineMultipart(usize),
    /// Decoding part `part` failed.
    #[error("part {part}: {source}")]
    Part { part: u32, source: ErasureError },
}

/// Decodes every part of a version, in order, into `out`.
///
/// `drives[j]` is the drive at set position `j` (format.json order).
pub fn read_object(
    layout: &ObjectLayout,
    drives: &[ShardLocation],
    out: &mut dyn Write,
) -> Result<ObjectReadReport, ObjectReadError> {
    let n = layout.erasure.total_shards();
    let bad_dist = || ObjectReadError::Distribution {
        distribution: layout.distribution.clone(),
        drives: drives.len(),
        shards: n,
    };
    if layout.distribution.len() != n || drives.len() != n {
        return Err(bad_dist());
    }
    // shard number k + 1 → set position j
    let mut position_of = vec![usize::MAX; n];
    for (j, &shard) in layout.distribution.iter().enumerate() {
        let k = usize::from(shard)
            .checked_sub(1)
            .filter(|k| *k < n)
            .ok_or_else(bad_dist)?;
        if position_of[k] != usize::MAX {
            return Err(bad_dist());
        }
        position_of[k] = j;
    }
    if layout.parts.len() != 1 && drives.iter().any(|d| matches!(d, ShardLocation::Inline(_))) {
        return Err(ObjectReadError::InlineMultipart(layout.parts.len()));
    }
    let mut report = ObjectReadReport::default();
    for &(number, size) in &layout.parts {
        let owned: Vec<Option<Source<'_>>> = position_of
            .iter()
            .map(|&j| match &drives[j] {
                ShardLocation::Inline(bytes) => Some(Source::Bytes(bytes)),
                ShardLocation::DataDir(dir) => open_part(dir, number).map(Source::File),
                ShardLocation::OnDrive { io, data_dir } => Some(Source::Drive(DriveFile::new(
                    io.clone(),
                    data_dir.join(format!("part.{number}")),
                ))),
                ShardLocation::Missing => None,
            })
            .collect();
        let sources: Vec<Option<&dyn ShardSource>> = owned
            .iter()
            .map(|s| s.as_ref().map(|s| s as &dyn ShardSource))
            .collect();
        let part = read_part(&layout.erasure, size, &sources, out).map_err(|source| {
            ObjectReadError::Part {
                part: number,
                source,
            }
        })?;
        report.parts.push((number, part));
    }
    Ok(report)
}

/// One drive's source for one part.
enum Source<'a> {
    Bytes(&'a [u8]),
    File(std::fs::File),
    Drive(DriveFile),
}

impl ShardSource for Source<'_> {
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        match self {
            Source::Bytes(b) => b.read_exact_at(offset, buf),
            Source::File(f) => ShardSource::read_exact_at(f, offset, buf),
            Source::Drive(d) => d.read_exact_at(offset, buf),
        }
    }
}

fn open_part(dir: &Path, number: u32) -> Option<std::fs::File> {
    std::fs::File::open(dir.join(format!("part.{number}"))).ok()
}

#[cfg(test)]
mod tests {
    use super::super::DEFAULT_BLOCK_SIZE;
    use super::*;

    fn data(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[3])
            .collect()
    }

    fn decode(e: &Erasure, size: u64, shards: &[Option<Vec<u8>>]) -> Result<Vec<u8>, ErasureError> {
        let sources: Vec<Option<&dyn ShardSource>> = shards
            .iter()
            .map(|s| s.as_ref().map(|v| v as &dyn ShardSource))
            .collect();
        let mut out = Vec::new();
        read_part(e, size, &sources, &mut out)?;
        Ok(out)
    }

    #[test]
    fn round_trip_across_block_boundaries_with_losses() {
        let e = Erasure::new(4, 2, 4096).unwrap();
        for size in [0usize, 1, 4095, 4096, 4097, 3 * 4096, 3 * 4096 + 5] {
            let input = data(size);
            let shards = encode_part(&e, &input).unwrap();
            for s in &shards {
                assert_eq!(s.len() as u64, e.bitrot_file_size(size as u64));
            }
            let all: Vec<Option<Vec<u8>>> = shards.iter().cloned().map(Some).collect();
            assert_eq!(decode(&e, size as u64, &all).unwrap(), input);
            for a in 0..6 {
                for b in a + 1..6 {
                    let mut some = all.clone();
                    some[a] = None;
                    some[b] = None;
                    assert_eq!(
                        decode(&e, size as u64, &some).unwrap(),
                        input,
                        "{size} {a} {b}"
                    );
                }
            }
            if size > 0 {
                let mut three = all.clone();
                three[0] = None;
                three[3] = None;
                three[5] = None;
                assert!(matches!(
                    decode(&e, size as u64, &three),
                    Err(ErasureError::TooFewShards { .. })
                ));
            }
        }
    }

    #[test]
    fn corrupt_and_short_shards_are_detected_and_repaired() {
        let e = Erasure::new(2, 2, DEFAULT_BLOCK_SIZE).unwrap();
        let input = data(1_500_000);
        let shards = encode_part(&e, &input).unwrap();
        let mut some: Vec<Option<Vec<u8>>> = shards.into_iter().map(Some).collect();
        // flip a byte in the second block of shard 1, truncate shard 2
        let second = HASH_LEN + e.shard_size() as usize + HASH_LEN + 7;
        some[0].as_mut().unwrap()[second] ^= 0x80;
        some[1].as_mut().unwrap().truncate(100);
        let sources: Vec<Option<&dyn ShardSource>> = some
            .iter()
            .map(|s| s.as_ref().map(|v| v as &dyn ShardSource))
            .collect();
        let mut out = Vec::new();
        let report = read_part(&e, input.len() as u64, &sources, &mut out).unwrap();
        assert_eq!(out, input);
        assert!(report
            .faults
            .contains(&(0, ShardFault::HashMismatch { block: 1 })));
        assert!(matches!(
            report.faults.iter().find(|f| f.0 == 1),
            Some((1, ShardFault::Unreadable(_)))
        ));
        assert_eq!(report.reconstructed_blocks, 2);
        // a third bad shard is one too many
        some[2].as_mut().unwrap()[3] ^= 1;
        assert!(decode(&e, input.len() as u64, &some).is_err());
    }
}
