//! Calendar maths: days ↔ civil dates (H. Hinnant's algorithms), leap years,
//! month lengths and abbreviations, and the UTC breakdown of a timestamp.

/// Microseconds in a second.
pub const US_PER_SEC: i64 = 1_000_000;
/// Microseconds in a day.
pub const US_PER_DAY: i64 = 86_400 * US_PER_SEC;

/// English month abbreviations, `Jan` … `Dec`.
pub const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// A month abbreviation (`Jan` … `Dec`, case-insensitive) as 1..=12.
pub fn month_from_abbr(s: &str) -> Option<u32> {
    MONTHS.iter().position(|m| m.eq_ignore_ascii_case(s)).map(|i| i as u32 + 1)
}

/// Whether `y` is a Gregorian leap year.
pub fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Days in month `m` (1..=12) of year `y`.
pub fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`). A day past the month's end rolls into the next month.
pub const fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian `(year, month, day)` of a day number since
/// 1970-01-01 (H. Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are bounded by the calendar (1..=12, 1..=31).
    (year, month as u32, day as u32)
}

/// Microseconds since the epoch of a civil date and time, validated: years
/// 1..=9999, a real day of the month, `h` ≤ 23, `mi` ≤ 59, `s` ≤ 59 (no leap seconds).
pub fn civil_to_us(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32, us: u32) -> Option<i64> {
    if !(1..=9999).contains(&y) || !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) {
        return None;
    }
    if h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let secs = days_from_civil(y, i64::from(mo), i64::from(d)) * 86_400
        + i64::from(h * 3600 + mi * 60 + s);
    Some(secs * US_PER_SEC + i64::from(us))
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
pub fn civil_from_us(ts: i64) -> CivilTime {
    let days = ts.div_euclid(US_PER_DAY);
    let secs = ts.rem_euclid(US_PER_DAY) / US_PER_SEC;
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday (3 when Monday = 0).
    let weekday = (days + 3).rem_euclid(7);
    let day_of_year = days - days_from_civil(year, 1, 1) + 1;
    // All casts below are of values already bounded by the calendar.
    CivilTime {
        year,
        month,
        day,
        hour: (secs / 3600) as u32,
        minute: (secs / 60 % 60) as u32,
        second: (secs % 60) as u32,
        weekday: weekday as u32,
        day_of_year: day_of_year as u32,
    }
}

/// `ts` (µs since the epoch) as RFC 3339 in UTC with microseconds:
/// `2026-12-04T10:00:00.123456Z`.
pub fn rfc3339_us(ts: i64) -> String {
    let c = civil_from_us(ts);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        c.year,
        c.month,
        c.day,
        c.hour,
        c.minute,
        c.second,
        ts.rem_euclid(US_PER_SEC)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_with_microseconds() {
        assert_eq!(rfc3339_us(1_000_000_000_123_456), "2001-09-09T01:46:40.123456Z");
        assert_eq!(rfc3339_us(-1), "1969-12-31T23:59:59.999999Z");
    }

    #[test]
    fn days_round_trip() {
        for days in [-800_000i64, -1, 0, 59, 365, 11_000, 800_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, i64::from(m), i64::from(d)), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_in_month(2016, 2), 29);
        assert_eq!(days_in_month(1900, 2), 28);
        assert_eq!(month_from_abbr("dec"), Some(12));
        assert_eq!(civil_to_us(2015, 2, 29, 0, 0, 0, 0), None);
    }
}
