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
    /// `{}` when empty, else `{"k":"v",…}` with keys in byte order, no spaces,
    /// and Go's HTML-safe string escaping.
    pub fn to_canonical_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            2 + self
                .entries
                .iter()
                .map(|(k, v)| k.len() + v.len() + 6)
                .sum::<usize>(),
        );
        out.push(b'{');
        for (i, (k, v)) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_json_string(&mut out, k);
            out.push(b':');
            write_json_string(&mut out, v);
        }
        out.push(b'}');
        out
    }
}

/// Appends `s` as a JSON string the way Go's `encoding/json` does with HTML
/// escaping on: each byte of invalid UTF-8 becomes `\ufffd`.
fn write_json_string(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for chunk in s.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                '<' | '>' | '&' | '\u{0}'..='\u{1f}' => {
                    let b = c as u8;
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[usize::from(b >> 4)]);
                    out.push(HEX[usize::from(b & 0xf)]);
                }
                '\u{2028}' => out.extend_from_slice(b"\\u2028"),
                '\u{2029}' => out.extend_from_slice(b"\\u2029"),
                _ => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        for _ in chunk.invalid() {
            out.extend_from_slice(b"\\ufffd");
        }
    }
    out.push(b'"');
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

#[cfg(test)]
mod tests {
    use super::Context;

    fn json(entries: &[(&[u8], &[u8])]) -> String {
        let ctx: Context = entries
            .iter()
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect();
        String::from_utf8(ctx.to_canonical_json()).expect("canonical JSON is UTF-8")
    }

    #[test]
    fn canonical_json_matches_minio() {
        assert_eq!(json(&[]), "{}");
        assert_eq!(
            json(&[(b"b", b"1"), (b"a", b"2"), (b"B", b"3")]),
            r#"{"B":"3","a":"2","b":"1"}"#
        );
        assert_eq!(json(&[(b"k<>&", b"v")]), r#"{"k\u003c\u003e\u0026":"v"}"#);
        assert_eq!(
            json(&[(
                b"q\"\\\n\r\t\x08\x0c\x01\x7f",
                "\u{2028}\u{2029}é".as_bytes()
            )]),
            "{\"q\\\"\\\\\\n\\r\\t\\u0008\\u000c\\u0001\x7f\":\"\\u2028\\u2029é\"}"
        );
        assert_eq!(
            json(&[(b"a\xffb", b"\xe2\x82")]),
            r#"{"a\ufffdb":"\ufffd\ufffd"}"#
        );
    }
}
