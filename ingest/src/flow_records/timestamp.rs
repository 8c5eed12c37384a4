//! Timestamp cells to µs since the epoch, without a date library.

use super::TimestampFormat;

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian; H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn num(s: &str, lo: i64, hi: i64) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = s.parse().ok()?;
    (lo..=hi).contains(&v).then_some(v)
}

fn parse_datetime(s: &str) -> Option<i64> {
    let (date, time) = s.split_once([' ', 'T'])?;
    let mut d = date.split('-');
    let (y, mo, da) = (d.next()?, d.next()?, d.next()?);
    if d.next().is_some() {
        return None;
    }
    let (y, mo, da) = (num(y, 1, 9999)?, num(mo, 1, 12)?, num(da, 1, 31)?);
    let time = time.trim_end_matches('Z');
    let (hms, frac) = match time.split_once('.') {
        Some((a, b)) => (a, b),
        None => (time, ""),
    };
    let mut t = hms.split(':');
    let (h, mi, se) = (t.next()?, t.next()?, t.next()?);
    if t.next().is_some() {
        return None;
    }
    let (h, mi, se) = (num(h, 0, 23)?, num(mi, 0, 59)?, num(se, 0, 60)?);
    let mut us = 0i64;
    if !frac.is_empty() {
        if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let six = format!("{frac:0<6}");
        us = six[..6].parse().ok()?;
    }
    let secs = days_from_civil(y, mo, da) * 86_400 + h * 3600 + mi * 60 + se;
    Some(secs * 1_000_000 + us)
}

/// Parses one timestamp cell to µs since the Unix epoch; `None` when it does not fit `format`.
///
/// `datetime` takes `YYYY-MM-DD HH:MM:SS[.fraction]` (or `T` between, optional
/// trailing `Z`), read as UTC, fraction cut to microseconds.
pub fn parse_timestamp_us(cell: &str, format: TimestampFormat) -> Option<i64> {
    let cell = cell.trim();
    let scaled = |mult: f64| -> Option<i64> {
        let v: f64 = cell.parse().ok()?;
        let us = (v * mult).round();
        (us.is_finite() && us.abs() < 9.0e18).then_some(us as i64)
    };
    match format {
        TimestampFormat::EpochS => scaled(1e6),
        TimestampFormat::EpochMs => scaled(1e3),
        TimestampFormat::EpochUs => cell.parse().ok().or_else(|| scaled(1.0)),
        TimestampFormat::Datetime => parse_datetime(cell),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cicflowmeter_datetime() {
        // 2017-07-06 is day 17353 since the epoch: 17353 * 86400 = 1_499_299_200 s.
        // + 16:25:41 = 59_141 s -> 1_499_358_341 s, and .298564 s.
        assert_eq!(
            parse_timestamp_us("2017-07-06 16:25:41.298564", TimestampFormat::Datetime),
            Some(1_499_358_341_298_564)
        );
        assert_eq!(
            parse_timestamp_us("1970-01-01T00:00:01.5Z", TimestampFormat::Datetime),
            Some(1_500_000)
        );
        assert_eq!(parse_timestamp_us("2017-13-06 16:25:41", TimestampFormat::Datetime), None);
        assert_eq!(parse_timestamp_us("yesterday", TimestampFormat::Datetime), None);
        assert_eq!(parse_timestamp_us("2017-07-06", TimestampFormat::Datetime), None);
    }

    #[test]
    fn epochs() {
        assert_eq!(
            parse_timestamp_us("1538478769.600293", TimestampFormat::EpochS),
            Some(1_538_478_769_600_293)
        );
        assert_eq!(parse_timestamp_us("1500", TimestampFormat::EpochMs), Some(1_500_000));
        assert_eq!(parse_timestamp_us("42", TimestampFormat::EpochUs), Some(42));
        assert_eq!(parse_timestamp_us("NaN", TimestampFormat::EpochS), None);
        assert_eq!(parse_timestamp_us("1e300", TimestampFormat::EpochS), None);
    }
}
