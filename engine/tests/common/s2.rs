//! Test-side readers of what MinIO stores for compressed and checksummed
//! objects: the S2 stream (framing and blocks), the per-part compression
//! index as MinIO keeps it (`PartIdx`, headers removed), and the checksum
//! blob of `x-minio-internal-crc`. Written from the formats' descriptions,
//! independent of the engine (which never decompresses).

#![allow(dead_code)]

use std::collections::BTreeMap;

use base64::Engine;

/// Decompresses a whole S2 stream (it must start with its stream identifier).
pub fn decompress(stream: &[u8]) -> Result<Vec<u8>, String> {
    decompress_from(stream, true)
}

/// Decompresses S2 chunks; `identified`: the stream must open with the
/// identifier chunk (a read that starts at an indexed chunk has none).
pub fn decompress_from(mut b: &[u8], identified: bool) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut first = true;
    while !b.is_empty() {
        let head = b.get(..4).ok_or("truncated chunk header")?;
        let kind = head[0];
        let len = usize::from(head[1]) | usize::from(head[2]) << 8 | usize::from(head[3]) << 16;
        let body = b.get(4..4 + len).ok_or("truncated chunk")?;
        b = &b[4 + len..];
        if first && identified && kind != 0xff {
            return Err(format!("stream starts with chunk type {kind:#x}"));
        }
        first = false;
        match kind {
            0xff if body != b"S2sTwO" && body != b"sNaPpY" => {
                return Err("bad stream identifier".into());
            }
            0xff => {}
            // Compressed block after a 4-byte checksum of its plaintext.
            0x00 => out.extend(decode_block(body.get(4..).ok_or("short block")?)?),
            0x01 => out.extend_from_slice(body.get(4..).ok_or("short block")?),
            0x02..=0x7f => return Err(format!("unskippable chunk type {kind:#x}")),
            // Padding, index and other skippable chunks.
            _ => {}
        }
    }
    Ok(out)
}

fn uvarint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &x) in b.iter().enumerate().take(10) {
        v |= u64::from(x & 0x7f) << (7 * i);
        if x < 0x80 {
            return Some((v, i + 1));
        }
    }
    None
}

/// Go's zig-zag `binary.Varint`.
fn varint(b: &[u8]) -> Option<(i64, usize)> {
    let (u, n) = uvarint(b)?;
    Some((((u >> 1) as i64) ^ -((u & 1) as i64), n))
}

/// One S2 block: the decoded length, then literals and copies (Snappy's,
/// plus S2's repeat of the last offset: a 1-byte-offset copy with offset 0).
fn decode_block(src: &[u8]) -> Result<Vec<u8>, String> {
    let (dlen, mut s) = uvarint(src).ok_or("bad block length")?;
    let mut dst: Vec<u8> = Vec::with_capacity(dlen as usize);
    let byte = |i: usize| {
        src.get(i)
            .copied()
            .map(usize::from)
            .ok_or("truncated block")
    };
    let mut offset = 0usize;
    while s < src.len() {
        let tag = byte(s)?;
        let length;
        match tag & 3 {
            0 => {
                let x = tag >> 2;
                let (lit, extra) = match x {
                    0..=59 => (x, 0),
                    60 => (byte(s + 1)?, 1),
                    61 => (byte(s + 1)? | byte(s + 2)? << 8, 2),
                    62 => (byte(s + 1)? | byte(s + 2)? << 8 | byte(s + 3)? << 16, 3),
                    _ => (
                        byte(s + 1)? | byte(s + 2)? << 8 | byte(s + 3)? << 16 | byte(s + 4)? << 24,
                        4,
                    ),
                };
                s += 1 + extra;
                let lit = src.get(s..s + lit + 1).ok_or("literal past the block")?;
                dst.extend_from_slice(lit);
                s += lit.len();
                continue;
            }
            1 => {
                let code = (tag >> 2) & 7;
                let off = (tag & 0xe0) << 3 | byte(s + 1)?;
                s += 2;
                if off == 0 {
                    length = match code {
                        5 => {
                            s += 1;
                            byte(s - 1)? + 4
                        }
                        6 => {
                            s += 2;
                            (byte(s - 2)? | byte(s - 1)? << 8) + 256
                        }
                        7 => {
                            s += 3;
                            (byte(s - 3)? | byte(s - 2)? << 8 | byte(s - 1)? << 16) + 65536
                        }
                        c => c,
                    } + 4;
                } else {
                    offset = off;
                    length = code + 4;
                }
            }
            2 => {
                length = 1 + (tag >> 2);
                offset = byte(s + 1)? | byte(s + 2)? << 8;
                s += 3;
            }
            _ => {
                length = 1 + (tag >> 2);
                offset = byte(s + 1)? | byte(s + 2)? << 8 | byte(s + 3)? << 16 | byte(s + 4)? << 24;
                s += 5;
            }
        }
        if offset == 0 || offset > dst.len() {
            return Err(format!("copy offset {offset} at {}", dst.len()));
        }
        let start = dst.len() - offset;
        for i in 0..length {
            let b = dst[start + i];
            dst.push(b);
        }
    }
    if dst.len() as u64 != dlen {
        return Err(format!("block decoded to {} of {dlen} bytes", dst.len()));
    }
    Ok(dst)
}

/// A compression index as MinIO stores it in `PartIdx` (S2's index with its
/// chunk header, magic, size and trailer removed).
#[derive(Debug)]
pub struct Index {
    pub total_uncompressed: i64,
    pub total_compressed: i64,
    /// (compressed offset, uncompressed offset) of indexed chunk starts.
    pub entries: Vec<(i64, i64)>,
}

impl Index {
    pub fn parse(mut b: &[u8]) -> Result<Index, String> {
        let mut next = || -> Result<i64, String> {
            let (v, n) = varint(b).ok_or("bad varint")?;
            b = &b[n..];
            Ok(v)
        };
        let total_uncompressed = next()?;
        let total_compressed = next()?;
        let est_block = next()?;
        let count = usize::try_from(next()?).map_err(|_| "negative count")?;
        let has_uncompressed = *b.first().ok_or("truncated index")?;
        b = &b[1..];
        let mut next = || -> Result<i64, String> {
            let (v, n) = varint(b).ok_or("bad varint")?;
            b = &b[n..];
            Ok(v)
        };
        let mut unc = Vec::with_capacity(count);
        for i in 0..count {
            let delta = if has_uncompressed == 1 { next()? } else { 0 };
            let v = if i == 0 {
                delta
            } else {
                unc[i - 1] + est_block + delta
            };
            unc.push(v);
        }
        let mut comp: Vec<i64> = Vec::with_capacity(count);
        let mut predict = est_block / 2;
        for i in 0..count {
            let delta = next()?;
            if i == 0 {
                comp.push(delta);
            } else {
                comp.push(comp[i - 1] + predict + delta);
                predict += delta / 2;
            }
        }
        Ok(Index {
            total_uncompressed,
            total_compressed,
            entries: comp.into_iter().zip(unc).collect(),
        })
    }

    /// The indexed chunk at or before uncompressed offset `at`.
    pub fn find(&self, at: i64) -> (i64, i64) {
        self.entries
            .iter()
            .take_while(|e| e.1 <= at)
            .last()
            .copied()
            .unwrap_or((0, 0))
    }
}

/// The checksums a client sees (with checksum mode on, whole object) from
/// a plaintext `x-minio-internal-crc` blob: algorithm → base64 value (with
/// `-N` for a composite multipart checksum) and `x-amz-checksum-type`.
pub fn read_checksums(mut b: &[u8]) -> BTreeMap<String, String> {
    const SHA256: u64 = 1 << 1;
    const SHA1: u64 = 1 << 2;
    const CRC32: u64 = 1 << 3;
    const CRC32C: u64 = 1 << 4;
    const MULTIPART: u64 = 1 << 6;
    const INCLUDES_PARTS: u64 = 1 << 7;
    const CRC64NVME: u64 = 1 << 8;
    const FULL_OBJECT: u64 = 1 << 9;
    let mut out = BTreeMap::new();
    while let Some((t, n)) = uvarint(b) {
        b = &b[n..];
        let (name, len) = if t & CRC32 != 0 {
            ("CRC32", 4)
        } else if t & CRC32C != 0 {
            ("CRC32C", 4)
        } else if t & SHA1 != 0 {
            ("SHA1", 20)
        } else if t & SHA256 != 0 {
            ("SHA256", 32)
        } else if t & CRC64NVME != 0 {
            ("CRC64NVME", 8)
        } else {
            break;
        };
        let Some(raw) = b.get(..len) else { break };
        let mut value = base64::engine::general_purpose::STANDARD.encode(raw);
        b = &b[len..];
        let full = t & FULL_OBJECT != 0 || t & CRC64NVME != 0;
        if t & MULTIPART != 0 {
            let Some((parts, n)) = uvarint(b) else { break };
            b = &b[n..];
            if !full {
                value = format!("{value}-{parts}");
            }
            if t & INCLUDES_PARTS != 0 {
                b = b.get(parts as usize * len..).unwrap_or_default();
            }
        }
        let kind = if full || t & MULTIPART == 0 {
            "FULL_OBJECT"
        } else {
            "COMPOSITE"
        };
        out.insert(name.to_owned(), value);
        out.insert("x-amz-checksum-type".to_owned(), kind.to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn repeat_copy_lengths() {
        // "abcd" literal, copy offset 4 length 4, then repeat of offset 4
        // with the 1-byte length form (code 5): 4 + 4 + 4 = 12 more bytes.
        let block = [
            20u8, 0x0c, b'a', b'b', b'c', b'd', 0x01, 0x04, 0x15, 0x00, 0x04,
        ];
        let got = super::decode_block(&block).unwrap();
        assert_eq!(got, b"abcdabcdabcdabcdabcd");
    }
}
