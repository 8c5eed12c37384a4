//! A small timestamp parser (no chrono) and the civil-calendar helpers that
//! time features need.
//!
//! Accepted forms, all giving microseconds since the Unix epoch, UTC:
//!
//! - `YYYY-MM-DD`, midnight;
//! - `YYYY-MM-DD HH:MM`, `YYYY-MM-DD HH:MM:SS`, with `T` or one space between
//!   date and time, an optional fraction of up to 9 digits (`.123456`, kept to
//!   the microsecond), and an optional zone: `Z`, `±HH:MM`, `±HHMM` or `±HH`.
//!   No zone means UTC;
//! - a bare number of epoch seconds or milliseconds (optionally signed, the
//!   seconds may have a fraction). The unit is guessed from the magnitude:
//!   `|n| < 10^11` is seconds (up to the year 5138), anything larger is
//!   milliseconds. Use [`EpochUnit`] to force one.
//!
//! Years must have four digits; leap seconds (`:60`) are refused.

use crate::packet::TimestampUs;

/// How a bare number is read as a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EpochUnit {
    /// Seconds below 10^11 in magnitude, milliseconds above.
    #[default]
    Auto,
    /// Always seconds (a fraction is allowed).
    Seconds,
    /// Always milliseconds (a fraction is allowed).
    Millis,
}

const US_PER_SEC: i64 = 1_000_000;
const US_PER_DAY: i64 = 86_400 * US_PER_SEC;

/// Parse `s` with [`EpochUnit::Auto`]; `None` when it is not a timestamp.
pub fn parse_timestamp(s: &str) -> Option<TimestampUs> {
    parse_timestamp_with(s, EpochUnit::Auto)
}

/// Parse `s` as a date-time or an epoch number in `unit`.
pub fn parse_timestamp_with(s: &str, unit: EpochUnit) -> Option<TimestampUs> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() >= 10 && b[4] == b'-' && b[7] == b'-' { parse_iso(b) } else { parse_epoch(s, unit) }
}

fn parse_epoch(s: &str, unit: EpochUnit) -> Option<TimestampUs> {
    let ok = !s.is_empty()
        && s.bytes()
            .enumerate()
            .all(|(i, c)| c.is_ascii_digit() || c == b'.' || (i == 0 && (c == b'-' || c == b'+')))
        && s.bytes().any(|c| c.is_ascii_digit());
    if !ok {
        return None;
    }
    let v: f64 = s.parse().ok()?;
    let millis = match unit {
        EpochUnit::Seconds => false,
        EpochUnit::Millis => true,
        EpochUnit::Auto => v.abs() >= 1e11,
    };
    // Integers go through i64 so large values keep their precision.
    let us = match (s.contains('.'), millis) {
        (false, false) => s.parse::<i64>().ok()?.checked_mul(US_PER_SEC)?,
        (false, true) => s.parse::<i64>().ok()?.checked_mul(1_000)?,
        (true, false) => f64_to_i64((v * 1e6).round())?,
        (true, true) => f64_to_i64((v * 1e3).round())?,
    };
    Some(us)
}

/// `v` as an integer, `None` outside the `i64` range.
fn f64_to_i64(v: f64) -> Option<i64> {
    // The range check makes the cast exact up to f64 rounding.
    #[allow(clippy::cast_possible_truncation)]
    (v.is_finite() && v.abs() < 9.2e18).then_some(v as i64)
}

fn num(b: &[u8]) -> Option<i64> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0i64, |a, &c| a * 10 + i64::from(c - b'0')))
}

fn parse_iso(b: &[u8]) -> Option<TimestampUs> {
    let year = num(&b[0..4])?;
    let month = num(&b[5..7])?;
    let day = num(&b[8..10])?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut us = days_from_civil(year, month, day) * US_PER_DAY;
    let rest = &b[10..];
    if rest.is_empty() {
        return Some(us);
    }
    if rest[0] != b'T' && rest[0] != b't' && rest[0] != b' ' {
        return None;
    }
    let t = &rest[1..];
    if t.len() < 5 || t[2] != b':' {
        return None;
    }
    let hour = num(&t[0..2])?;
    let minute = num(&t[3..5])?;
    let mut i = 5;
    let mut second = 0;
    if t.len() >= 8 && t[5] == b':' {
        second = num(&t[6..8])?;
        i = 8;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    us += (hour * 3600 + minute * 60 + second) * US_PER_SEC;
    if i < t.len() && (t[i] == b'.' || t[i] == b',') {
        let start = i + 1;
        let mut end = start;
        while end < t.len() && t[end].is_ascii_digit() {
            end += 1;
        }
        let frac = &t[start..end];
        if frac.is_empty() || frac.len() > 9 {
            return None;
        }
        let mut micros = 0;
        for k in 0..6 {
            micros = micros * 10 + frac.get(k).map_or(0, |&c| i64::from(c - b'0'));
        }
        us += micros;
        i = end;
    }
    let zone = &t[i..];
    let offset_min = match zone {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), z @ ..] => {
            let (h, m) = match z {
                [h1, h2] => (num(&[*h1, *h2])?, 0),
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => (num(&[*h1, *h2])?, num(&[*m1, *m2])?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let o = h * 60 + m;
            if *sign == b'-' { -o } else { o }
        }
        _ => return None,
    };
    Some(us - offset_min * 60 * US_PER_SEC)
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
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A UTC calendar breakdown of a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilTime {
    /// Year, e.g. 2016.
    pub year: i64,
    /// Month, 1..=12.
    pub month: u32,
    /// Day of month, 1..=31.
    pub day: u32,
    /// Hour, 0..=23.
    pub hour: u32,
    /// Minute, 0..=59.
    pub minute: u32,
    /// Second, 0..=59.
    pub second: u32,
    /// Day of week, Monday = 0 .. Sunday = 6 (pandas' `dayofweek`).
    pub weekday: u32,
    /// Day of year, 1..=366.
    pub day_of_year: u32,
}

/// Break `ts` (µs since the epoch) into UTC calendar fields.
pub fn civil_from_us(ts: TimestampUs) -> CivilTime {
    let days = ts.div_euclid(US_PER_DAY);
    let secs = ts.rem_euclid(US_PER_DAY) / US_PER_SEC;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // 1970-01-01 was a Thursday (3 when Monday = 0).
    let weekday = (days + 3).rem_euclid(7);
    let day_of_year = days - days_from_civil(year, 1, 1) + 1;
    // All casts below are of values already bounded by the calendar.
    CivilTime {
        year,
        month: month as u32,
        day: day as u32,
        hour: (secs / 3600) as u32,
        minute: (secs / 60 % 60) as u32,
        second: (secs % 60) as u32,
        weekday: weekday as u32,
        day_of_year: day_of_year as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_forms() {
        // 2016-07-01 00:00:00 UTC = 1467331200 s (first row of ETTh1).
        let t = 1_467_331_200 * US_PER_SEC;
        assert_eq!(parse_timestamp("2016-07-01 00:00:00"), Some(t));
        assert_eq!(parse_timestamp("2016-07-01T00:00:00Z"), Some(t));
        assert_eq!(parse_timestamp("2016-07-01"), Some(t));
        assert_eq!(parse_timestamp("2016-07-01 00:00"), Some(t));
        assert_eq!(parse_timestamp("2016-07-01T02:00:00+02:00"), Some(t));
        assert_eq!(parse_timestamp("2016-06-30T22:00:00-0200"), Some(t));
        assert_eq!(parse_timestamp("2016-07-01T01:00:00+01"), Some(t));
        // NAB label form, six fraction digits.
        assert_eq!(parse_timestamp("2016-07-01 00:00:00.000250"), Some(t + 250));
        assert_eq!(parse_timestamp("2016-07-01T00:00:00.5Z"), Some(t + 500_000));
    }

    #[test]
    fn epoch_forms() {
        assert_eq!(parse_timestamp("1467331200"), Some(1_467_331_200_000_000));
        assert_eq!(parse_timestamp("1467331200000"), Some(1_467_331_200_000_000));
        assert_eq!(parse_timestamp("1467331200.25"), Some(1_467_331_200_250_000));
        assert_eq!(parse_timestamp("-1"), Some(-1_000_000));
        assert_eq!(parse_timestamp_with("1000", EpochUnit::Millis), Some(1_000_000));
    }

    #[test]
    fn garbage_is_refused() {
        for s in [
            "",
            "abc",
            "2016-13-01",
            "2016-02-30",
            "2016-07-01 24:00:00",
            "2016-07-01X00:00",
            "2016-07-01 00:00:60",
            "2016-07-01 00:00:00+25:00",
            "1e9",
            "--1",
            "2016-07-01 00:00:00.",
        ] {
            assert_eq!(parse_timestamp(s), None, "{s}");
        }
    }

    #[test]
    fn civil_round_trip() {
        // 2016-07-01 was a Friday (4), day 183 of a leap year.
        let c = civil_from_us(parse_timestamp("2016-07-01 13:45:10").unwrap());
        assert_eq!(
            c,
            CivilTime {
                year: 2016,
                month: 7,
                day: 1,
                hour: 13,
                minute: 45,
                second: 10,
                weekday: 4,
                day_of_year: 183
            }
        );
        let c = civil_from_us(-1);
        assert_eq!((c.year, c.month, c.day, c.hour, c.weekday), (1969, 12, 31, 23, 2));
        for days in [-800_000i64, -1, 0, 59, 365, 11_000, 800_000] {
            let c = civil_from_us(days * US_PER_DAY);
            assert_eq!(days_from_civil(c.year, i64::from(c.month), i64::from(c.day)), days);
        }
    }
}
