//! Small timestamp parsers for the formats action logs use. All return
//! microseconds since the Unix epoch, UTC.
//!
//! Limits: years 1..=9999, fractional seconds beyond microseconds are cut,
//! leap seconds (`:60`) are refused.

const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Days from 1970-01-01 to the given civil date (H. Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Microseconds since the epoch for a validated civil date and time.
fn civil_to_us(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32, us: u32) -> Option<i64> {
    if !(1..=9999).contains(&y) || !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) {
        return None;
    }
    if h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + i64::from(h * 3600 + mi * 60 + s);
    Some(secs * 1_000_000 + i64::from(us))
}

/// A month abbreviation (`Jan` … `Dec`, case-insensitive) as 1..=12.
pub fn month_from_abbr(s: &str) -> Option<u32> {
    MONTHS.iter().position(|m| m.eq_ignore_ascii_case(s)).map(|i| i as u32 + 1)
}

fn num(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn hms(s: &str) -> Option<(u32, u32, u32)> {
    let mut it = s.split(':');
    let h = num(it.next()?)?;
    let m = num(it.next()?)?;
    let sec = num(it.next()?)?;
    it.next().is_none().then_some((h, m, sec))
}

/// A UTC offset `+HHMM`, `-HH:MM`, `+HH` or `Z`, in seconds east of UTC.
fn offset_secs(s: &str) -> Option<i64> {
    if s == "Z" || s == "z" {
        return Some(0);
    }
    let sign = match s.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: String = s[1..].chars().filter(|c| *c != ':').collect();
    let (h, m) = match digits.len() {
        2 => (num(&digits)?, 0),
        4 => (num(&digits[..2])?, num(&digits[2..])?),
        _ => return None,
    };
    (h <= 23 && m <= 59).then_some(sign * i64::from(h * 3600 + m * 60))
}

/// Apache/nginx `%t`: `10/Oct/2000:13:55:36 -0700` (brackets optional).
pub fn parse_apache(s: &str) -> Option<i64> {
    let s = s.trim().trim_start_matches('[').trim_end_matches(']');
    let (dt, tz) = s.split_once(' ')?;
    let mut parts = dt.splitn(3, '/');
    let d = num(parts.next()?)?;
    let mo = month_from_abbr(parts.next()?)?;
    let (y, time) = parts.next()?.split_once(':')?;
    let (h, mi, sec) = hms(time)?;
    let local = civil_to_us(i64::from(num(y)?), mo, d, h, mi, sec, 0)?;
    Some(local - offset_secs(tz.trim())? * 1_000_000)
}

/// Syslog (RFC 3164) `Dec 10 06:55:46`, which has no year: `year` supplies it. UTC.
pub fn parse_syslog(s: &str, year: i32) -> Option<i64> {
    let mut it = s.split_ascii_whitespace();
    let mo = month_from_abbr(it.next()?)?;
    let d = num(it.next()?)?;
    let (h, mi, sec) = hms(it.next()?)?;
    if it.next().is_some() {
        return None;
    }
    civil_to_us(i64::from(year), mo, d, h, mi, sec, 0)
}

/// ISO-8601 / RFC 3339: `2015-05-17T10:05:03[.123456][Z|+02:00|+0200]`; a space may
/// replace the `T`; no offset means UTC; a bare date means midnight UTC.
pub fn parse_iso8601(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.len() < 10 || !s.is_char_boundary(10) {
        return None;
    }
    let (date, rest) = s.split_at(10);
    let b = date.as_bytes();
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = i64::from(num(&date[..4])?);
    let mo = num(&date[5..7])?;
    let d = num(&date[8..10])?;
    if rest.is_empty() {
        return civil_to_us(y, mo, d, 0, 0, 0, 0);
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let tz_at = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (time, tz) = rest.split_at(tz_at);
    let (time, frac) = match time.split_once(['.', ',']) {
        Some((t, f)) => (t, f),
        None => (time, ""),
    };
    let (h, mi, sec) = hms(time)?;
    let us = if frac.is_empty() {
        0
    } else {
        let digits = &frac[..frac.len().min(6)];
        num(digits)? * 10u32.pow(6 - digits.len() as u32)
    };
    if frac.len() > 6 && !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let off = if tz.is_empty() { 0 } else { offset_secs(tz)? };
    Some(civil_to_us(y, mo, d, h, mi, sec, us)? - off * 1_000_000)
}

/// Epoch time as a number. The unit is guessed from the magnitude of the
/// integer part: above 10^17 nanoseconds, above 10^14 microseconds, above
/// 10^11 milliseconds, else seconds (so seconds are right until the year 5138
/// and milliseconds from 1973 on). Fractions are allowed (`1431856803.25`).
pub fn parse_epoch(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    if int.is_empty() || int.len() > 19 || !int.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let i: i128 = int.parse().ok()?;
    let digits = &frac[..frac.len().min(9)];
    // The fraction in nanoseconds of the unit.
    let f: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse::<i128>().ok()? * 10i128.pow(9 - digits.len() as u32)
    };
    let v = match i {
        i if i > 100_000_000_000_000_000 => i / 1_000,
        i if i > 100_000_000_000_000 => i + f / 1_000_000_000,
        i if i > 100_000_000_000 => i * 1_000 + f / 1_000_000,
        i => i * 1_000_000 + f / 1_000,
    };
    let v = i64::try_from(v).ok()?;
    Some(if neg { -v } else { v })
}

/// Tries epoch, then ISO-8601, then the Apache form.
pub fn parse_any(s: &str) -> Option<i64> {
    parse_epoch(s).or_else(|| parse_iso8601(s)).or_else(|| parse_apache(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apache_example_from_the_httpd_docs() {
        // 2000-10-10 13:55:36 -07:00 = 20:55:36 UTC = 971211336.
        assert_eq!(parse_apache("[10/Oct/2000:13:55:36 -0700]"), Some(971_211_336_000_000));
        // First line of elastic-apache/apache_logs.
        assert_eq!(parse_apache("17/May/2015:10:05:03 +0000"), Some(1_431_857_103_000_000));
        assert_eq!(parse_apache("32/May/2015:10:05:03 +0000"), None);
        assert_eq!(parse_apache("17/May/2015:10:05:03"), None);
    }

    #[test]
    fn syslog_with_configured_year() {
        // OpenSSH_2k.log line 1; 2015-12-10 06:55:46 UTC = 1449730546.
        assert_eq!(parse_syslog("Dec 10 06:55:46", 2015), Some(1_449_730_546_000_000));
        assert_eq!(parse_syslog("Jun  4 01:02:03", 2005), parse_iso8601("2005-06-04T01:02:03Z"));
        assert_eq!(parse_syslog("Feb 29 00:00:00", 2015), None);
        assert_eq!(parse_syslog("Foo 10 06:55:46", 2015), None);
    }

    #[test]
    fn iso8601_forms() {
        let base = Some(1_431_857_103_000_000);
        assert_eq!(parse_iso8601("2015-05-17T10:05:03Z"), base);
        assert_eq!(parse_iso8601("2015-05-17 10:05:03"), base);
        assert_eq!(parse_iso8601("2015-05-17T12:05:03+02:00"), base);
        assert_eq!(parse_iso8601("2015-05-17T05:05:03-0500"), base);
        assert_eq!(parse_iso8601("2015-05-17T10:05:03.25Z"), Some(1_431_857_103_250_000));
        assert_eq!(parse_iso8601("2015-05-17"), Some(1_431_820_800_000_000));
        assert_eq!(parse_iso8601("2015-13-17T10:05:03Z"), None);
        assert_eq!(parse_iso8601("garbage"), None);
        assert_eq!(parse_iso8601("1969-12-31T23:59:59Z"), Some(-1_000_000));
    }

    #[test]
    fn epoch_units_by_magnitude() {
        assert_eq!(parse_epoch("1431857103"), Some(1_431_857_103_000_000));
        assert_eq!(parse_epoch("1431857103.5"), Some(1_431_857_103_500_000));
        assert_eq!(parse_epoch("1431857103500"), Some(1_431_857_103_500_000));
        assert_eq!(parse_epoch("1431857103500000"), Some(1_431_857_103_500_000));
        assert_eq!(parse_epoch("1431857103500000000"), Some(1_431_857_103_500_000));
        assert_eq!(parse_epoch("12abc"), None);
        assert_eq!(parse_any("2015-05-17T10:05:03Z"), Some(1_431_857_103_000_000));
    }
}
