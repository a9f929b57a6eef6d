//! Timestamps (JOB.md §6) as instants in Unix nanoseconds (UTC).
//!
//! Accepted: RFC 3339 date-times (`T`, `t` or one space; fraction of 1–9
//! digits; `Z`, `z` or `±hh:mm`; no zone means UTC), bare `YYYY-MM-DD`
//! (midnight UTC), and the YAML 1.1 variants with one-digit month, day and
//! hour. Quoting does not matter (MinIO accepts a date-only value only when
//! unquoted: AB-6).

/// An instant, nanoseconds since 1970-01-01T00:00:00Z. `i128` so any
/// four-digit year fits (xl.meta mod times are `i64` ns and convert losslessly).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i128);

impl Timestamp {
    /// From xl.meta's `MTime` (Unix nanoseconds).
    pub fn from_unix_nanos(ns: i64) -> Self {
        Timestamp(ns as i128)
    }

    /// From Unix seconds.
    pub fn from_unix_secs(s: i64) -> Self {
        Timestamp(s as i128 * 1_000_000_000)
    }

    /// Nanoseconds since the Unix epoch.
    pub fn unix_nanos(self) -> i128 {
        self.0
    }

    /// `self − earlier` in nanoseconds (negative when `earlier` is later).
    pub fn nanos_since(self, earlier: Timestamp) -> i128 {
        self.0 - earlier.0
    }

    /// Parses one of the §6 forms; `None` when the text is none of them.
    pub fn parse(s: &str) -> Option<Timestamp> {
        let mut c = Cursor {
            b: s.as_bytes(),
            i: 0,
        };
        let year = c.digits(4, 4)?;
        c.eat(b'-')?;
        let month = c.digits(1, 2)?;
        c.eat(b'-')?;
        let day = c.digits(1, 2)?;
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return None;
        }
        let days = days_from_civil(year, month, day);
        if c.done() {
            return Some(Timestamp(days * 86_400 * 1_000_000_000));
        }
        match c.next()? {
            b'T' | b't' | b' ' => {}
            _ => return None,
        }
        let hour = c.digits(1, 2)?;
        c.eat(b':')?;
        let min = c.digits(2, 2)?;
        c.eat(b':')?;
        let sec = c.digits(2, 2)?;
        if hour > 23 || min > 59 || sec > 59 {
            return None;
        }
        let mut nanos: i128 = 0;
        if c.peek() == Some(b'.') {
            c.i += 1;
            let start = c.i;
            let frac = c.digits(1, 9)?;
            let n = (c.i - start) as u32;
            nanos = frac as i128 * 10i128.pow(9 - n);
        }
        let offset_secs: i128 = match c.next() {
            None => 0,
            Some(b'Z' | b'z') => 0,
            Some(sign @ (b'+' | b'-')) => {
                let oh = c.digits(2, 2)?;
                c.eat(b':')?;
                let om = c.digits(2, 2)?;
                if oh > 23 || om > 59 {
                    return None;
                }
                let off = (oh * 3600 + om * 60) as i128;
                if sign == b'-' {
                    -off
                } else {
                    off
                }
            }
            Some(_) => return None,
        };
        if !c.done() {
            return None;
        }
        let secs = days * 86_400 + (hour * 3600 + min * 60 + sec) as i128 - offset_secs;
        Some(Timestamp(secs * 1_000_000_000 + nanos))
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
    fn eat(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }
    /// Reads `min..=max` ASCII digits (greedy).
    fn digits(&mut self, min: usize, max: usize) -> Option<i64> {
        let start = self.i;
        let mut v: i64 = 0;
        while self.i - start < max {
            match self.peek() {
                Some(d @ b'0'..=b'9') => {
                    v = v * 10 + i64::from(d - b'0');
                    self.i += 1;
                }
                _ => break,
            }
        }
        (self.i - start >= min).then_some(v)
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i128 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) as i128
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: &str) -> Option<i128> {
        Timestamp::parse(s).map(|t| t.unix_nanos() / 1_000_000_000)
    }

    #[test]
    fn accepted_forms() {
        assert_eq!(secs("1970-01-01"), Some(0));
        assert_eq!(secs("2024-05-01"), Some(1_714_521_600));
        assert_eq!(secs("2024-05-01T00:00:00Z"), Some(1_714_521_600));
        assert_eq!(secs("2024-05-01t00:00:00z"), Some(1_714_521_600));
        assert_eq!(secs("2024-05-01 00:00:00"), Some(1_714_521_600));
        assert_eq!(secs("2024-05-01T02:00:00+02:00"), Some(1_714_521_600));
        assert_eq!(secs("2024-04-30T22:00:00-02:00"), Some(1_714_521_600));
        assert_eq!(secs("2024-5-1"), Some(1_714_521_600));
        assert_eq!(
            secs("2024-5-1 7:05:00"),
            Some(1_714_521_600 + 7 * 3600 + 300)
        );
        assert_eq!(secs("2000-02-29"), Some(951_782_400));
        assert_eq!(secs("1969-12-31T23:59:59Z"), Some(-1));
        let t = Timestamp::parse("2024-05-01T00:00:00.123456789Z").unwrap();
        assert_eq!(t.unix_nanos() % 1_000_000_000, 123_456_789);
        let t = Timestamp::parse("2030-01-02T03:04:05.000Z").unwrap();
        assert_eq!(t.unix_nanos(), 1_893_553_445 * 1_000_000_000);
    }

    #[test]
    fn rejected_forms() {
        for bad in [
            "date",
            "",
            "2024",
            "2024-05",
            "24-05-01",
            "2024-13-01",
            "2024-02-30",
            "2023-02-29",
            "2024-05-01T",
            "2024-05-01T25:00:00Z",
            "2024-05-01T00:00Z",
            "2024-05-01T00:00:60Z",
            "2024-05-01T00:00:00 UTC",
            "2024-05-01T00:00:00+0200",
            "2024-05-01T00:00:00.Z",
            "2024-05-01T00:00:00.1234567890Z",
            "2024-05-01  00:00:00",
            "May 1 2024",
            "2024-05-01T00:00:00Z ",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad:?}");
        }
    }
}
