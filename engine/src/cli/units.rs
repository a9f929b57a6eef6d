//! Numbers for people: text output shows sizes and rates in human units
//! (`256.0 MiB`, `54.1/s`); `--json` keeps the exact numbers.

/// Bytes in binary units with one decimal (`512 B`, `1.5 KiB`, `256.0 MiB`).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A per-second rate with one decimal (`54.1/s`).
pub fn rate(per_sec: f64) -> String {
    format!("{per_sec:.1}/s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_rates_read_as_people_write_them() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(1536), "1.5 KiB");
        // 268417441 / 2^20 = 255.98...
        assert_eq!(bytes(268_417_441), "256.0 MiB");
        assert_eq!(bytes(5 * (1 << 30)), "5.0 GiB");
        assert_eq!(bytes(u64::MAX), "16.0 EiB");
        assert_eq!(rate(54.1444), "54.1/s");
        assert_eq!(rate(0.0), "0.0/s");
    }
}
