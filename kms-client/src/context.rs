//! The KMS context: associated data every data key is bound to.

use std::collections::BTreeMap;

/// A KMS context: a map of byte strings, serialized canonically (keys sorted
/// by raw bytes, MinIO's JSON escaping) and used as AEAD associated data.
///
/// Entries are byte strings, not `String`s, because MinIO's serializer
/// defines the output for invalid UTF-8 too.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    entries: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Context {
    /// An empty context (serializes as `{}`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces one entry.
    pub fn insert(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.entries.insert(key.into(), value.into());
    }

    /// Whether the context has an entry with this key.
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.entries.contains_key(key)
    }

    /// Entries in canonical (sorted) order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.entries
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
    }

    /// Whether the context is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The canonical JSON MinIO sends as associated data (CRYPTO.md §1.4):
    /// `{}` when empty, otherwise `{"k":"v",...}` with keys in byte order, no
    /// whitespace, and Go's HTML-safe string escaping.
    pub fn to_canonical_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            2 + self
                .entries
                .iter()
                .map(|(k, v)| k.len() + v.len() + 6)
                .sum::<usize>(),
        );
        out.push(b'{');
        for (i, (key, value)) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_json_string(&mut out, key);
            out.push(b':');
            write_json_string(&mut out, value);
        }
        out.push(b'}');
        out
    }

    /// Parses a stored context (a JSON object of strings, e.g. the decoded
    /// `…-Context` metadata entry). Later duplicates win, as in Go.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        let map: BTreeMap<String, String> = serde_json::from_slice(bytes)?;
        Ok(map.into_iter().collect())
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` as a JSON string the way Go's `encoding/json` does with HTML
/// escaping on: invalid UTF-8 becomes `\ufffd` once per offending byte.
fn write_json_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    let mut rest = s;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                write_valid(out, valid.as_bytes());
                break;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                write_valid(out, valid);
                // Go decodes an invalid sequence one byte at a time (width 1)
                // and writes U+FFFD for each byte; valid text resumes after it.
                out.extend_from_slice(b"\\ufffd");
                rest = after.get(1..).unwrap_or_default();
            }
        }
    }
    out.push(b'"');
}

/// Escapes valid UTF-8 (given as bytes): scans bytes, copying runs that need
/// no escape in one go. Multi-byte characters pass through except U+2028 and
/// U+2029 (`E2 80 A8` / `E2 80 A9`).
fn write_valid(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let (escape, width): (Option<&[u8]>, usize) = match b {
            b'"' => (Some(b"\\\""), 1),
            b'\\' => (Some(b"\\\\"), 1),
            b'\n' => (Some(b"\\n"), 1),
            b'\r' => (Some(b"\\r"), 1),
            b'\t' => (Some(b"\\t"), 1),
            0x00..=0x1f | b'<' | b'>' | b'&' => (None, 1),
            0xe2 if bytes.get(i + 1) == Some(&0x80)
                && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9)) =>
            {
                (
                    Some(if bytes[i + 2] == 0xa8 {
                        b"\\u2028"
                    } else {
                        b"\\u2029"
                    }),
                    3,
                )
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[start..i]);
        match escape {
            Some(e) => out.extend_from_slice(e),
            None => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
        i += width;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
}

impl<K: Into<Vec<u8>>, V: Into<Vec<u8>>> FromIterator<(K, V)> for Context {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut context = Context::new();
        for (k, v) in iter {
            context.insert(k, v);
        }
        context
    }
}
