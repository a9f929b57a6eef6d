//! Durations (JOB.md §5): Go's `time.ParseDuration` syntax plus `d` (24 h)
//! and `w` (7 d), i.e. minio/pkg `xtime.ParseDuration`.
//!
//! Parsing yields signed nanoseconds so callers can tell "negative" apart
//! from "malformed" (V-10 vs V-17); the job keeps `std::time::Duration`.

/// Why a duration did not parse; the text is the `<why>` of V-10.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Empty string.
    #[error("empty duration")]
    Empty,
    /// A number without a unit (only `0` may stand alone).
    #[error("missing unit (use e.g. 7d, 24h, 5d12h30s, 90m)")]
    MissingUnit,
    /// A unit we do not know (units are case-sensitive).
    #[error("unknown unit \"{0}\" (units: ns, us, µs, ms, s, m, h, d, w)")]
    UnknownUnit(String),
    /// Anything else that is not `[-+]?(number unit)+`.
    #[error("not a duration (use e.g. 7d, 24h, 5d12h30s, 90m)")]
    Syntax,
    /// More than Go's 2^63−1 ns (about 292 years).
    #[error("too large (the limit is about 292 years)")]
    Overflow,
}

const NS_PER: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
    ("w", 604_800_000_000_000),
];

/// Parses a duration into signed nanoseconds.
pub fn parse_nanos(s: &str) -> Result<i128, DurationError> {
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let (neg, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body == "0" {
        return Ok(0);
    }
    if body.is_empty() {
        return Err(DurationError::Syntax);
    }
    let mut total: u128 = 0;
    let mut rest = body;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(a) => {
                let n = a.bytes().take_while(u8::is_ascii_digit).count();
                a.split_at(n)
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(DurationError::Syntax);
        }
        let unit_len = after
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(after.len(), |(i, _)| i);
        let (unit, next) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(DurationError::MissingUnit);
        }
        let scale = NS_PER
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, n)| *n)
            .ok_or_else(|| DurationError::UnknownUnit(unit.to_owned()))?;
        // u128 holds any realistic digit run; longer runs overflow anyway.
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| DurationError::Overflow)?
        };
        let mut seg = int.checked_mul(scale).ok_or(DurationError::Overflow)?;
        if !frac_part.is_empty() {
            // Like Go, digits past what can matter are ignored.
            let digits = &frac_part[..frac_part.len().min(30)];
            let f: u128 = digits.parse().map_err(|_| DurationError::Syntax)?;
            let div = 10u128.pow(digits.len() as u32);
            seg = seg
                .checked_add(f * scale / div)
                .ok_or(DurationError::Overflow)?;
        }
        total = total.checked_add(seg).ok_or(DurationError::Overflow)?;
        if total > i64::MAX as u128 {
            return Err(DurationError::Overflow);
        }
        rest = next;
    }
    let total = total as i128;
    Ok(if neg { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i128 = 3_600_000_000_000;

    #[test]
    fn documented_examples() {
        assert_eq!(parse_nanos("7d"), Ok(7 * 24 * H));
        assert_eq!(parse_nanos("24h"), Ok(24 * H));
        assert_eq!(
            parse_nanos("5d12h30s"),
            Ok(5 * 24 * H + 12 * H + 30_000_000_000)
        );
        assert_eq!(
            parse_nanos("7d10h31s"),
            Ok(7 * 24 * H + 10 * H + 31_000_000_000)
        );
        assert_eq!(parse_nanos("1.5h"), Ok(H + H / 2));
        assert_eq!(parse_nanos("1h1d"), Ok(25 * H));
        assert_eq!(parse_nanos("2w"), Ok(14 * 24 * H));
        assert_eq!(parse_nanos(".5s"), Ok(500_000_000));
        assert_eq!(parse_nanos("500ms"), Ok(500_000_000));
        assert_eq!(parse_nanos("1µs"), Ok(1000));
        assert_eq!(parse_nanos("1μs"), Ok(1000));
        assert_eq!(parse_nanos("0"), Ok(0));
        assert_eq!(parse_nanos("-0"), Ok(0));
        assert_eq!(parse_nanos("-1h"), Ok(-H));
        assert_eq!(parse_nanos("+1h"), Ok(H));
    }

    #[test]
    fn rejections() {
        assert_eq!(parse_nanos("3600"), Err(DurationError::MissingUnit));
        assert_eq!(
            parse_nanos("7D"),
            Err(DurationError::UnknownUnit("D".into()))
        );
        assert_eq!(
            parse_nanos("7 d"),
            Err(DurationError::UnknownUnit(" d".into()))
        );
        assert_eq!(parse_nanos(""), Err(DurationError::Empty));
        assert_eq!(parse_nanos("-"), Err(DurationError::Syntax));
        assert_eq!(parse_nanos("h"), Err(DurationError::Syntax));
        assert_eq!(parse_nanos("date"), Err(DurationError::Syntax));
        assert_eq!(parse_nanos("107000d"), Err(DurationError::Overflow));
        assert_eq!(
            parse_nanos("9999999999999999999999999999999999999999h"),
            Err(DurationError::Overflow)
        );
        // Just under Go's limit (2^63-1 ns = 2562047h47m16.854775807s).
        assert_eq!(parse_nanos("2562047h"), Ok(2562047 * H));
        assert_eq!(parse_nanos("2562048h"), Err(DurationError::Overflow));
    }
}
