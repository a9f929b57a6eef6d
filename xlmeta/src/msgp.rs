//! msgpack primitives with tinylib/msgp's exact behaviour (ONDISK §5.5).
//!
//! [`Reader`] is a zero-copy cursor: strings and byte strings are returned
//! as slices of the input. Markers are classified with `rmp::Marker`.
//! The writer functions reproduce msgp's choices byte for byte: signed
//! integers never use the unsigned markers, unsigned ones never the signed
//! markers, bytes are always `bin`, and length headers are minimal. No
//! generic msgpack encoder does all of that, which is why they are written
//! out here.

use rmp::Marker;

use crate::error::{Error, MsgpProblem, Result};

/// Zero-copy msgpack cursor over an untrusted buffer.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Current offset.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// Whether all input was consumed.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// The input bytes between two offsets previously returned by [`Reader::pos`].
    pub fn span(&self, start: usize, end: usize) -> &'a [u8] {
        self.buf.get(start..end).unwrap_or_default()
    }

    /// An error at the current offset.
    pub fn err(&self, what: &'static str, problem: MsgpProblem) -> Error {
        Error::Msgp {
            offset: self.pos,
            what,
            problem,
        }
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or_else(|| self.err(what, MsgpProblem::Eof))?;
        let out = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| self.err(what, MsgpProblem::Eof))?;
        self.pos = end;
        Ok(out)
    }

    fn take_array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let bytes = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// The next byte, not consumed.
    pub fn peek(&self, what: &'static str) -> Result<u8> {
        self.buf
            .get(self.pos)
            .copied()
            .ok_or_else(|| self.err(what, MsgpProblem::Eof))
    }

    fn marker(&mut self, what: &'static str) -> Result<(u8, Marker)> {
        let b = self.peek(what)?;
        self.pos += 1;
        Ok((b, Marker::from_u8(b)))
    }

    fn unexpected(&self, what: &'static str, byte: u8) -> Error {
        // Point at the offending marker, which was already consumed.
        Error::Msgp {
            offset: self.pos.saturating_sub(1),
            what,
            problem: MsgpProblem::UnexpectedMarker(byte),
        }
    }

    /// Consumes a `nil` if one is next; returns whether it did.
    pub fn try_nil(&mut self) -> bool {
        if self.buf.get(self.pos) == Some(&0xc0) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Reads any integer encoding as `i128` (wide enough for every msgpack integer).
    fn read_integer(&mut self, what: &'static str) -> Result<i128> {
        let (b, m) = self.marker(what)?;
        Ok(match m {
            Marker::FixPos(v) => i128::from(v),
            Marker::FixNeg(v) => i128::from(v),
            Marker::U8 => i128::from(self.take_array::<1>(what)?[0]),
            Marker::U16 => i128::from(u16::from_be_bytes(self.take_array(what)?)),
            Marker::U32 => i128::from(u32::from_be_bytes(self.take_array(what)?)),
            Marker::U64 => i128::from(u64::from_be_bytes(self.take_array(what)?)),
            Marker::I8 => i128::from(i8::from_be_bytes(self.take_array(what)?)),
            Marker::I16 => i128::from(i16::from_be_bytes(self.take_array(what)?)),
            Marker::I32 => i128::from(i32::from_be_bytes(self.take_array(what)?)),
            Marker::I64 => i128::from(i64::from_be_bytes(self.take_array(what)?)),
            _ => return Err(self.unexpected(what, b)),
        })
    }

    /// Reads any integer that fits `u64` (msgp's `ReadUint64`).
    pub fn read_u64(&mut self, what: &'static str) -> Result<u64> {
        let v = self.read_integer(what)?;
        u64::try_from(v).map_err(|_| self.err(what, MsgpProblem::IntOverflow))
    }

    /// Reads any integer that fits `u32`.
    pub fn read_u32(&mut self, what: &'static str) -> Result<u32> {
        let v = self.read_integer(what)?;
        u32::try_from(v).map_err(|_| self.err(what, MsgpProblem::IntOverflow))
    }

    /// Reads any integer that fits `u8`.
    pub fn read_u8(&mut self, what: &'static str) -> Result<u8> {
        let v = self.read_integer(what)?;
        u8::try_from(v).map_err(|_| self.err(what, MsgpProblem::IntOverflow))
    }

    /// Reads any integer that fits `i64` (msgp's `ReadInt64`).
    pub fn read_i64(&mut self, what: &'static str) -> Result<i64> {
        let v = self.read_integer(what)?;
        i64::try_from(v).map_err(|_| self.err(what, MsgpProblem::IntOverflow))
    }

    /// Reads any integer that fits `i32`.
    pub fn read_i32(&mut self, what: &'static str) -> Result<i32> {
        let v = self.read_integer(what)?;
        i32::try_from(v).map_err(|_| self.err(what, MsgpProblem::IntOverflow))
    }

    /// Reads a boolean.
    pub fn read_bool(&mut self, what: &'static str) -> Result<bool> {
        match self.marker(what)? {
            (_, Marker::True) => Ok(true),
            (_, Marker::False) => Ok(false),
            (b, _) => Err(self.unexpected(what, b)),
        }
    }

    /// Reads a `bin` value (bin8/16/32) without copying.
    pub fn read_bin(&mut self, what: &'static str) -> Result<&'a [u8]> {
        let len = match self.marker(what)? {
            (_, Marker::Bin8) => usize::from(self.take_array::<1>(what)?[0]),
            (_, Marker::Bin16) => usize::from(u16::from_be_bytes(self.take_array(what)?)),
            (_, Marker::Bin32) => be_u32_len(self.take_array(what)?),
            (b, _) => return Err(self.unexpected(what, b)),
        };
        self.take(len, what)
    }

    /// Reads a `bin` of exactly `N` bytes (msgp's `ReadExactBytes`).
    pub fn read_bin_exact<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let start = self.pos;
        let bytes = self.read_bin(what)?;
        let mut out = [0u8; N];
        if bytes.len() != N {
            return Err(Error::Msgp {
                offset: start,
                what,
                problem: MsgpProblem::BadLength(bytes.len()),
            });
        }
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// Reads the raw bytes of a `str` value without UTF-8 validation.
    pub fn read_str_bytes(&mut self, what: &'static str) -> Result<&'a [u8]> {
        let len = match self.marker(what)? {
            (_, Marker::FixStr(n)) => usize::from(n),
            (_, Marker::Str8) => usize::from(self.take_array::<1>(what)?[0]),
            (_, Marker::Str16) => usize::from(u16::from_be_bytes(self.take_array(what)?)),
            (_, Marker::Str32) => be_u32_len(self.take_array(what)?),
            (b, _) => return Err(self.unexpected(what, b)),
        };
        self.take(len, what)
    }

    /// Reads a `str` value without copying; it must be UTF-8.
    pub fn read_str(&mut self, what: &'static str) -> Result<&'a str> {
        let start = self.pos;
        let bytes = self.read_str_bytes(what)?;
        std::str::from_utf8(bytes).map_err(|_| Error::Msgp {
            offset: start,
            what,
            problem: MsgpProblem::InvalidUtf8,
        })
    }

    /// Reads a map header.
    pub fn read_map_len(&mut self, what: &'static str) -> Result<u32> {
        match self.marker(what)? {
            (_, Marker::FixMap(n)) => Ok(u32::from(n)),
            (_, Marker::Map16) => Ok(u32::from(u16::from_be_bytes(self.take_array(what)?))),
            (_, Marker::Map32) => Ok(u32::from_be_bytes(self.take_array(what)?)),
            (b, _) => Err(self.unexpected(what, b)),
        }
    }

    /// Reads an array header.
    pub fn read_array_len(&mut self, what: &'static str) -> Result<u32> {
        match self.marker(what)? {
            (_, Marker::FixArray(n)) => Ok(u32::from(n)),
            (_, Marker::Array16) => Ok(u32::from(u16::from_be_bytes(self.take_array(what)?))),
            (_, Marker::Array32) => Ok(u32::from_be_bytes(self.take_array(what)?)),
            (b, _) => Err(self.unexpected(what, b)),
        }
    }

    /// Reads an extension header and its payload: `(type, data)`.
    pub fn read_ext(&mut self, what: &'static str) -> Result<(i8, &'a [u8])> {
        let len = match self.marker(what)? {
            (_, Marker::FixExt1) => 1,
            (_, Marker::FixExt2) => 2,
            (_, Marker::FixExt4) => 4,
            (_, Marker::FixExt8) => 8,
            (_, Marker::FixExt16) => 16,
            (_, Marker::Ext8) => usize::from(self.take_array::<1>(what)?[0]),
            (_, Marker::Ext16) => usize::from(u16::from_be_bytes(self.take_array(what)?)),
            (_, Marker::Ext32) => be_u32_len(self.take_array(what)?),
            (b, _) => return Err(self.unexpected(what, b)),
        };
        let ty = i8::from_be_bytes(self.take_array(what)?);
        Ok((ty, self.take(len, what)?))
    }

    /// Skips one complete value of any kind. Iterative, so hostile nesting
    /// cannot exhaust the stack.
    pub fn skip(&mut self, what: &'static str) -> Result<()> {
        let mut pending: u64 = 1;
        while pending > 0 {
            pending -= 1;
            let (b, m) = self.marker(what)?;
            let data_len = match m {
                Marker::FixPos(_)
                | Marker::FixNeg(_)
                | Marker::Null
                | Marker::True
                | Marker::False => 0,
                Marker::U8 | Marker::I8 => 1,
                Marker::U16 | Marker::I16 => 2,
                Marker::U32 | Marker::I32 | Marker::F32 => 4,
                Marker::U64 | Marker::I64 | Marker::F64 => 8,
                Marker::FixStr(n) => usize::from(n),
                Marker::Str8 | Marker::Bin8 => usize::from(self.take_array::<1>(what)?[0]),
                Marker::Str16 | Marker::Bin16 => {
                    usize::from(u16::from_be_bytes(self.take_array(what)?))
                }
                Marker::Str32 | Marker::Bin32 => be_u32_len(self.take_array(what)?),
                Marker::FixExt1 => 2,
                Marker::FixExt2 => 3,
                Marker::FixExt4 => 5,
                Marker::FixExt8 => 9,
                Marker::FixExt16 => 17,
                Marker::Ext8 => usize::from(self.take_array::<1>(what)?[0]) + 1,
                Marker::Ext16 => usize::from(u16::from_be_bytes(self.take_array(what)?)) + 1,
                Marker::Ext32 => be_u32_len(self.take_array(what)?).saturating_add(1),
                Marker::FixArray(n) => {
                    pending += u64::from(n);
                    0
                }
                Marker::Array16 => {
                    pending += u64::from(u16::from_be_bytes(self.take_array(what)?));
                    0
                }
                Marker::Array32 => {
                    pending += u64::from(u32::from_be_bytes(self.take_array(what)?));
                    0
                }
                Marker::FixMap(n) => {
                    pending += 2 * u64::from(n);
                    0
                }
                Marker::Map16 => {
                    pending += 2 * u64::from(u16::from_be_bytes(self.take_array(what)?));
                    0
                }
                Marker::Map32 => {
                    pending += 2 * u64::from(u32::from_be_bytes(self.take_array(what)?));
                    0
                }
                Marker::Reserved => return Err(self.unexpected(what, b)),
            };
            self.take(data_len, what)?;
        }
        Ok(())
    }

    /// Reads one complete value and returns its raw bytes.
    pub fn read_raw(&mut self, what: &'static str) -> Result<&'a [u8]> {
        let start = self.pos;
        self.skip(what)?;
        Ok(self.span(start, self.pos))
    }
}

fn be_u32_len(bytes: [u8; 4]) -> usize {
    // u32 always fits usize on the 32/64-bit targets this crate supports.
    usize::try_from(u32::from_be_bytes(bytes)).unwrap_or(usize::MAX)
}

/// Converts a length to the u32 msgpack headers carry.
pub fn len_u32(len: usize, what: &'static str) -> Result<u32> {
    u32::try_from(len).map_err(|_| Error::TooLarge { what })
}

/// Appends `nil`.
pub fn write_nil(out: &mut Vec<u8>) {
    out.push(0xc0);
}

/// Appends a boolean.
pub fn write_bool(out: &mut Vec<u8>, v: bool) {
    out.push(if v { 0xc3 } else { 0xc2 });
}

/// Appends an unsigned integer the way msgp's `AppendUint64` does.
pub fn write_uint(out: &mut Vec<u8>, v: u64) {
    if v < 0x80 {
        out.push(v as u8);
    } else if let Ok(b) = u8::try_from(v) {
        out.extend_from_slice(&[0xcc, b]);
    } else if let Ok(w) = u16::try_from(v) {
        out.push(0xcd);
        out.extend_from_slice(&w.to_be_bytes());
    } else if let Ok(w) = u32::try_from(v) {
        out.push(0xce);
        out.extend_from_slice(&w.to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// Appends a signed integer the way msgp's `AppendInt64` does: positives
/// above 127 use `d1`/`d2`/`d3`, never the unsigned markers.
pub fn write_int(out: &mut Vec<u8>, v: i64) {
    if (0..0x80).contains(&v) || (-32..0).contains(&v) {
        out.push(v as u8);
    } else if (-128..-32).contains(&v) {
        out.extend_from_slice(&[0xd0, v as u8]);
    } else if let Ok(w) = i16::try_from(v) {
        out.push(0xd1);
        out.extend_from_slice(&w.to_be_bytes());
    } else if let Ok(w) = i32::try_from(v) {
        out.push(0xd2);
        out.extend_from_slice(&w.to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

fn write_len(
    out: &mut Vec<u8>,
    len: u32,
    fix: Option<(u8, u32)>,
    m8: Option<u8>,
    m16: u8,
    m32: u8,
) {
    match (fix, m8) {
        (Some((base, max)), _) if len <= max => out.push(base | len as u8),
        (_, Some(m)) if len <= 0xff => out.extend_from_slice(&[m, len as u8]),
        _ if len <= 0xffff => {
            out.push(m16);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(m32);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
}

/// Appends a string (fixstr/str8/str16/str32, minimal).
pub fn write_str(out: &mut Vec<u8>, s: &str) -> Result<()> {
    write_str_bytes(out, s.as_bytes())
}

/// Appends raw bytes as a msgpack `str`.
pub fn write_str_bytes(out: &mut Vec<u8>, s: &[u8]) -> Result<()> {
    write_len(
        out,
        len_u32(s.len(), "string")?,
        Some((0xa0, 31)),
        Some(0xd9),
        0xda,
        0xdb,
    );
    out.extend_from_slice(s);
    Ok(())
}

/// Appends bytes as `bin` (there is no fixbin: bin8/16/32, minimal).
pub fn write_bin(out: &mut Vec<u8>, b: &[u8]) -> Result<()> {
    write_len(
        out,
        len_u32(b.len(), "byte string")?,
        None,
        Some(0xc4),
        0xc5,
        0xc6,
    );
    out.extend_from_slice(b);
    Ok(())
}

/// Appends a map header.
pub fn write_map_len(out: &mut Vec<u8>, len: u32) {
    write_len(out, len, Some((0x80, 15)), None, 0xde, 0xdf);
}

/// Appends an array header.
pub fn write_array_len(out: &mut Vec<u8>, len: u32) {
    write_len(out, len, Some((0x90, 15)), None, 0xdc, 0xdd);
}

/// Appends a msgp `time.Time`: extension type 5, 8 bytes BE seconds + 4 bytes BE nanoseconds.
pub fn write_time(out: &mut Vec<u8>, secs: i64, nanos: u32) {
    out.extend_from_slice(&[0xc7, 12, 5]);
    out.extend_from_slice(&secs.to_be_bytes());
    out.extend_from_slice(&nanos.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(v: i64) -> Vec<u8> {
        let mut o = Vec::new();
        write_int(&mut o, v);
        o
    }

    fn uint(v: u64) -> Vec<u8> {
        let mut o = Vec::new();
        write_uint(&mut o, v);
        o
    }

    #[test]
    fn signed_choices_match_msgp() {
        assert_eq!(int(0), [0x00]);
        assert_eq!(int(127), [0x7f]);
        assert_eq!(int(128), [0xd1, 0x00, 0x80]);
        assert_eq!(int(32767), [0xd1, 0x7f, 0xff]);
        assert_eq!(int(32768), [0xd2, 0x00, 0x00, 0x80, 0x00]);
        assert_eq!(int(1048576), [0xd2, 0x00, 0x10, 0x00, 0x00]);
        assert_eq!(int(1 << 31), [0xd3, 0, 0, 0, 0, 0x80, 0, 0, 0]);
        assert_eq!(int(-1), [0xff]);
        assert_eq!(int(-32), [0xe0]);
        assert_eq!(int(-33), [0xd0, 0xdf]);
        assert_eq!(int(-128), [0xd0, 0x80]);
        assert_eq!(int(-129), [0xd1, 0xff, 0x7f]);
        assert_eq!(int(i64::MIN)[0], 0xd3);
    }

    #[test]
    fn unsigned_choices_match_msgp() {
        assert_eq!(uint(127), [0x7f]);
        assert_eq!(uint(128), [0xcc, 0x80]);
        assert_eq!(uint(256), [0xcd, 0x01, 0x00]);
        assert_eq!(uint(1_700_000_000), [0xce, 0x65, 0x53, 0xf1, 0x00]);
        assert_eq!(uint(u64::MAX)[0], 0xcf);
    }

    #[test]
    fn strings_bins_headers() {
        let mut o = Vec::new();
        write_str(&mut o, "etag").unwrap();
        write_bin(&mut o, b"true").unwrap();
        write_str(&mut o, &"x".repeat(32)).unwrap();
        assert_eq!(&o[..11], b"\xa4etag\xc4\x04true");
        assert_eq!(&o[11..13], &[0xd9, 32]);
        let mut h = Vec::new();
        write_map_len(&mut h, 17);
        write_array_len(&mut h, 7);
        write_map_len(&mut h, 3);
        assert_eq!(h, [0xde, 0x00, 0x11, 0x97, 0x83]);
    }

    #[test]
    fn reader_round_trips_and_never_overreads() {
        let mut o = Vec::new();
        for v in [0i64, 200, -5, -200, 70000, i64::MAX, i64::MIN] {
            write_int(&mut o, v);
        }
        write_uint(&mut o, u64::MAX);
        let mut r = Reader::new(&o);
        for v in [0i64, 200, -5, -200, 70000, i64::MAX, i64::MIN] {
            assert_eq!(r.read_i64("v").unwrap(), v);
        }
        assert!(r.clone().read_i64("v").is_err());
        assert_eq!(r.read_u64("v").unwrap(), u64::MAX);
        assert!(r.is_empty());
        // A bin32 claiming 4 GiB in a 6-byte buffer fails cleanly.
        assert!(Reader::new(&[0xc6, 0xff, 0xff, 0xff, 0xff, 0])
            .read_bin("b")
            .is_err());
        // Deep nesting is skipped without recursion.
        let nested = vec![0x91u8; 100_000];
        assert!(Reader::new(&nested).skip("n").is_err());
        let mut ok = vec![0x91u8; 100_000];
        ok.push(0xc0);
        assert!(Reader::new(&ok).skip("n").is_ok());
    }
}
