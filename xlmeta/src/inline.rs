//! The inline data section (ONDISK §9.2): after the CRC, a version byte `1`
//! and a msgpack map of version key (UUID string or `null`) → this drive's
//! bitrot-protected shard stream.
//!
//! Entries keep their stored order and, unless replaced, their stored
//! bytes: a rewrite only re-encodes the map header and the entry it changes.

use std::borrow::Cow;

use crate::error::{Error, Result};
use crate::msgp::{self, len_u32, Reader};

/// The only inline section version MinIO knows.
pub const INLINE_DATA_VERSION: u8 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry<'a> {
    key: Cow<'a, str>,
    value: Cow<'a, [u8]>,
    /// Stored key+value bytes, while the entry is untouched.
    raw: Option<&'a [u8]>,
}

/// A decoded inline data section.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InlineData<'a> {
    raw: &'a [u8],
    entries: Vec<Entry<'a>>,
    modified: bool,
}

impl<'a> InlineData<'a> {
    /// Decodes a section (the bytes after the CRC; empty = no inline data).
    pub fn decode(raw: &'a [u8]) -> Result<Self> {
        let Some((&version, rest)) = raw.split_first() else {
            return Ok(Self::default());
        };
        if version != INLINE_DATA_VERSION {
            return Err(Error::InlineData("unknown inline data version"));
        }
        let mut r = Reader::new(rest);
        let n = r.read_map_len("inline data map")?;
        let mut entries = Vec::with_capacity(usize::try_from(n).unwrap_or(0).min(rest.len()));
        for _ in 0..n {
            let start = r.pos();
            let key = r.read_str("inline data key")?;
            if key.is_empty() {
                return Err(Error::InlineData("empty key"));
            }
            let value = r.read_bin("inline data value")?;
            entries.push(Entry {
                key: Cow::Borrowed(key),
                value: Cow::Borrowed(value),
                raw: Some(r.span(start, r.pos())),
            });
        }
        if !r.is_empty() {
            return Err(Error::InlineData(
                "trailing bytes after the inline data map",
            ));
        }
        Ok(Self {
            raw,
            entries,
            modified: false,
        })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keys in stored order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.key.as_ref())
    }

    /// `(key, value)` pairs in stored order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.entries
            .iter()
            .map(|e| (e.key.as_ref(), e.value.as_ref()))
    }

    /// The value stored under `key`.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.value.as_ref())
    }

    /// Replaces the value of `key` in place, or appends a new entry.
    pub fn set(&mut self, key: &str, value: Vec<u8>) {
        self.modified = true;
        match self.entries.iter_mut().find(|e| e.key == key) {
            Some(e) => {
                e.value = Cow::Owned(value);
                e.raw = None;
            }
            None => self.entries.push(Entry {
                key: Cow::Owned(key.to_owned()),
                value: Cow::Owned(value),
                raw: None,
            }),
        }
    }

    /// Removes `key`, keeping the order of the others; returns whether it existed.
    pub fn remove(&mut self, key: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.key != key);
        let removed = self.entries.len() != before;
        self.modified |= removed;
        removed
    }

    /// Appends the encoded section. Untouched sections are copied verbatim;
    /// an empty section is written as nothing at all (not `01 80`).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<()> {
        if !self.modified {
            out.extend_from_slice(self.raw);
            return Ok(());
        }
        if self.entries.is_empty() {
            return Ok(());
        }
        out.push(INLINE_DATA_VERSION);
        msgp::write_map_len(out, len_u32(self.entries.len(), "inline data map")?);
        for e in &self.entries {
            match e.raw {
                Some(raw) => out.extend_from_slice(raw),
                None => {
                    msgp::write_str(out, &e.key)?;
                    msgp::write_bin(out, &e.value)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_edit_encode() {
        let raw = [
            &[1u8, 0x82, 0xa1, b'a', 0xc4, 1, 9, 0xa4][..],
            b"null",
            &[0xc4, 0],
        ]
        .concat();
        let mut d = InlineData::decode(&raw).unwrap();
        assert_eq!(d.keys().collect::<Vec<_>>(), ["a", "null"]);
        assert_eq!(d.get("a"), Some([9u8].as_slice()));
        let mut out = Vec::new();
        d.encode(&mut out).unwrap();
        assert_eq!(out, raw);
        d.set("a", vec![1, 2]);
        d.set("b", vec![]);
        assert!(d.remove("null"));
        out.clear();
        d.encode(&mut out).unwrap();
        assert_eq!(
            out,
            [1, 0x82, 0xa1, b'a', 0xc4, 2, 1, 2, 0xa1, b'b', 0xc4, 0]
        );
        assert!(d.remove("a") && d.remove("b"));
        out.clear();
        d.encode(&mut out).unwrap();
        assert!(out.is_empty());
        assert!(InlineData::decode(&[2, 0x80]).is_err());
        assert!(InlineData::decode(&[1, 0x81, 0xa0, 0xc4, 0]).is_err());
        assert!(InlineData::decode(&[1, 0x81, 0xa1]).is_err());
    }
}
