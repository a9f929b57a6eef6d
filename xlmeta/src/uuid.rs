//! Canonical UUID text <-> 16 raw bytes, as MinIO stores version ids, data
//! directories and inline-data keys (lowercase, hyphenated 8-4-4-4-12).

use crate::error::{Error, Result};

/// Length of the canonical text form.
pub const UUID_TEXT_LEN: usize = 36;

/// Formats 16 bytes as a canonical lowercase hyphenated UUID string.
pub fn format_uuid(bytes: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(UUID_TEXT_LEN);
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// Parses a hyphenated UUID (either case) into its 16 bytes.
pub fn parse_uuid(text: &str) -> Result<[u8; 16]> {
    let bad = || Error::InvalidUuid(text.to_owned());
    if text.len() != UUID_TEXT_LEN {
        return Err(bad());
    }
    let mut out = [0u8; 16];
    let mut nibbles = text
        .bytes()
        .enumerate()
        .filter(|(i, _)| !matches!(i, 8 | 13 | 18 | 23));
    for slot in out.iter_mut() {
        let (Some((_, hi)), Some((_, lo))) = (nibbles.next(), nibbles.next()) else {
            return Err(bad());
        };
        *slot = (hex_val(hi).ok_or_else(bad)? << 4) | hex_val(lo).ok_or_else(bad)?;
    }
    for pos in [8, 13, 18, 23] {
        if text.as_bytes().get(pos) != Some(&b'-') {
            return Err(bad());
        }
    }
    Ok(out)
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let text = "3285bd89-5eb1-4d65-9d81-4d8f14f86507";
        let bytes = parse_uuid(text).unwrap();
        assert_eq!(bytes[0], 0x32);
        assert_eq!(bytes[15], 0x07);
        assert_eq!(format_uuid(&bytes), text);
        assert_eq!(parse_uuid(&text.to_uppercase()).unwrap(), bytes);
        assert!(parse_uuid("3285bd89x5eb1-4d65-9d81-4d8f14f86507").is_err());
        assert!(parse_uuid("3285bd89-5eb1-4d65-9d81-4d8f14f8650").is_err());
        assert!(parse_uuid("g285bd89-5eb1-4d65-9d81-4d8f14f86507").is_err());
    }
}
