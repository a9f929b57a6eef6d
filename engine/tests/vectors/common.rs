//! Helpers shared by the engine's vector checks.

use std::path::Path;

use serde_json::Value;

/// Loads a vector file as JSON.
pub fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Synthetic data as the vectors describe it: `b[i] = byte(i*31+7) XOR s`,
/// with `s` read from the rule text (`"... XOR 0x22 ..."`).
pub fn rule_bytes(rule: &str, len: usize) -> Vec<u8> {
    let xor = rule
        .split("XOR 0x")
        .nth(1)
        .and_then(|rest| u8::from_str_radix(rest.get(..2)?, 16).ok())
        .unwrap_or_else(|| panic!("no XOR constant in rule {rule:?}"));
    (0..len)
        .map(|i| (i.wrapping_mul(31).wrapping_add(7) as u8) ^ xor)
        .collect()
}

/// A field as u64, panicking with the field name.
pub fn u(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("missing numeric field {key}: {v}"))
}

/// A field as str, panicking with the field name.
pub fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("missing string field {key}: {v}"))
}
