//! Text timestamps to microseconds since the Unix epoch, UTC: ISO-8601 /
//! RFC 3339, Apache `%t`, syslog (RFC 3164, year supplied) and epoch numbers.
//!
//! The readers once had one parser each and they disagree on a few edge cases;
//! each keeps its own answers through a parameter: [`IsoRules`] for ISO-8601
//! and [`EpochUnit`] for epoch numbers. Limits: years 1..=9999.

use super::civil::{
    US_PER_DAY, US_PER_SEC, civil_to_us, days_from_civil, days_in_month, month_from_abbr,
};

/// What [`parse_iso8601_with`] accepts beyond what every reader accepts.
///
/// Always accepted: `Y-M-D`, then `T`, `t` or a space, `H:M[:S]`, an optional
/// `.` or `,` fraction (cut to microseconds), an optional zone `Z`, `±HH`,
/// `±HHMM` or `±HH:MM` (none means UTC). The default is the action-log rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsoRules {
    /// A bare date means midnight UTC (actions, metrics); flow records refuse it.
    pub date_only: bool,
    /// Second `60` is accepted and rolls into the next minute (flow records);
    /// actions and metrics refuse leap seconds.
    pub leap_second: bool,
    /// Any day up to 31 is accepted and rolls into the next month (flow
    /// records); actions and metrics check the month's length.
    pub day_overflow: bool,
    /// A `.` with no digits after it is no fraction (actions, flow records);
    /// metrics refuses it.
    pub empty_fraction: bool,
    /// Longest fraction accepted, in digits (metrics and flow records: 9);
    /// `None` accepts any length (actions).
    pub max_fraction_digits: Option<usize>,
}

impl Default for IsoRules {
    fn default() -> Self {
        IsoRules {
            date_only: true,
            leap_second: false,
            day_overflow: false,
            empty_fraction: true,
            max_fraction_digits: None,
        }
    }
}

/// How a bare number is read as a time. The readers guessed units differently
/// and keep doing so: metrics use [`EpochUnit::Auto`], actions
/// [`EpochUnit::Magnitude`], flow records an explicit unit from their mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EpochUnit {
    /// Seconds below 10^11 in magnitude, milliseconds above (metrics).
    #[default]
    Auto,
    /// Always seconds (a fraction is allowed).
    Seconds,
    /// Always milliseconds (a fraction is allowed).
    Millis,
    /// Always microseconds (a fraction is allowed, rounded).
    Micros,
    /// Guessed from the integer part: above 10^17 nanoseconds, above 10^14
    /// microseconds, above 10^11 milliseconds, else seconds; the fraction is
    /// cut, not rounded (actions).
    Magnitude,
}

/// A non-empty run of ASCII digits as a number.
fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
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
    let z = &s[1..];
    let (h, m) = match z.len() {
        2 => (digits(z)?, 0),
        4 => (digits(&z[..2])?, digits(&z[2..])?),
        5 if z.as_bytes()[2] == b':' => (digits(&z[..2])?, digits(&z[3..])?),
        _ => return None,
    };
    (h <= 23 && m <= 59).then_some(sign * (h * 3600 + m * 60))
}

/// `H:M:S` with each part a run of digits.
fn hms(s: &str) -> Option<(u32, u32, u32)> {
    let mut it = s.split(':');
    let h = digits(it.next()?)?;
    let m = digits(it.next()?)?;
    let sec = digits(it.next()?)?;
    let ok = it.next().is_none() && h <= 99 && m <= 99 && sec <= 99;
    ok.then_some((h as u32, m as u32, sec as u32))
}

/// ISO-8601 / RFC 3339 with the default (action-log) [`IsoRules`].
pub fn parse_iso8601(s: &str) -> Option<i64> {
    parse_iso8601_with(s, &IsoRules::default())
}

/// ISO-8601 / RFC 3339: `2015-05-17T10:05:03[.123456][Z|+02:00|+0200|+02]`,
/// `H:M` without seconds too; what else is accepted is set by `rules`.
pub fn parse_iso8601_with(s: &str, rules: &IsoRules) -> Option<i64> {
    let s = s.trim();
    let (date, rest) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mut parts = date.split('-');
    let (y, mo, d) = (digits(parts.next()?)?, digits(parts.next()?)?, digits(parts.next()?)?);
    if parts.next().is_some() || !(1..=9999).contains(&y) || !(1..=12).contains(&mo) {
        return None;
    }
    let last_day = if rules.day_overflow { 31 } else { i64::from(days_in_month(y, mo as u32)) };
    if d < 1 || d > last_day {
        return None;
    }
    let midnight = days_from_civil(y, mo, d) * US_PER_DAY;
    let Some(rest) = rest else {
        return rules.date_only.then_some(midnight);
    };
    let (time, zone) = rest.split_at(rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len()));
    let (time, frac) = match time.split_once(['.', ',']) {
        Some((t, f)) => (t, Some(f)),
        None => (time, None),
    };
    let mut t = time.split(':');
    let (h, mi) = (digits(t.next()?)?, digits(t.next()?)?);
    let sec = t.next().map_or(Some(0), digits)?;
    let max_sec = if rules.leap_second { 60 } else { 59 };
    if t.next().is_some() || h > 23 || mi > 59 || sec > max_sec {
        return None;
    }
    let us = match frac {
        None => 0,
        Some("") if rules.empty_fraction => 0,
        Some(f) => {
            let too_long = rules.max_fraction_digits.is_some_and(|max| f.len() > max);
            if f.is_empty() || too_long || !f.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let six = &f[..f.len().min(6)];
            digits(six)? * 10i64.pow(6 - six.len() as u32)
        }
    };
    let off = if zone.is_empty() { 0 } else { offset_secs(zone)? };
    Some(midnight + (h * 3600 + mi * 60 + sec - off) * US_PER_SEC + us)
}

/// Apache/nginx `%t`: `10/Oct/2000:13:55:36 -0700` (brackets optional).
pub fn parse_apache(s: &str) -> Option<i64> {
    let s = s.trim().trim_start_matches('[').trim_end_matches(']');
    let (dt, tz) = s.split_once(' ')?;
    let mut parts = dt.splitn(3, '/');
    let d = digits(parts.next()?)?;
    let mo = month_from_abbr(parts.next()?)?;
    let (y, time) = parts.next()?.split_once(':')?;
    let (h, mi, sec) = hms(time)?;
    let local = civil_to_us(digits(y)?, mo, u32::try_from(d).ok()?, h, mi, sec, 0)?;
    Some(local - offset_secs(tz.trim())? * US_PER_SEC)
}

/// Syslog (RFC 3164) `Dec 10 06:55:46`, which has no year: `year` supplies it. UTC.
pub fn parse_syslog(s: &str, year: i32) -> Option<i64> {
    let mut it = s.split_ascii_whitespace();
    let mo = month_from_abbr(it.next()?)?;
    let d = u32::try_from(digits(it.next()?)?).ok()?;
    let (h, mi, sec) = hms(it.next()?)?;
    if it.next().is_some() {
        return None;
    }
    civil_to_us(i64::from(year), mo, d, h, mi, sec, 0)
}

/// An epoch number in `unit`: `[+-]digits[.digits]` (no `+` with
/// [`EpochUnit::Magnitude`]); `None` for anything else.
pub fn parse_epoch(s: &str, unit: EpochUnit) -> Option<i64> {
    let s = s.trim();
    let mult = match unit {
        EpochUnit::Magnitude => return parse_epoch_magnitude(s),
        EpochUnit::Seconds => US_PER_SEC,
        EpochUnit::Millis => 1_000,
        EpochUnit::Micros => 1,
        EpochUnit::Auto => 0, // decided below from the value
    };
    let ok = !s.is_empty()
        && s.bytes()
            .enumerate()
            .all(|(i, c)| c.is_ascii_digit() || c == b'.' || (i == 0 && (c == b'-' || c == b'+')))
        && s.bytes().any(|c| c.is_ascii_digit());
    if !ok {
        return None;
    }
    let v: f64 = s.parse().ok()?;
    let mult = if mult == 0 && v.abs() >= 1e11 {
        1_000
    } else if mult == 0 {
        US_PER_SEC
    } else {
        mult
    };
    // Integers go through i64 so large values keep their precision.
    if s.contains('.') {
        f64_to_i64((v * mult as f64).round())
    } else {
        s.parse::<i64>().ok()?.checked_mul(mult)
    }
}

/// Like [`parse_epoch`] with an explicit unit, but anything Rust's `f64`
/// parser takes (`1.5e9`, …) is accepted too, scaled and rounded to the
/// microsecond. The flow-record readers have always been this lenient.
pub fn parse_epoch_float(s: &str, unit: EpochUnit) -> Option<i64> {
    let s = s.trim();
    if let Some(us) = parse_epoch(s, unit) {
        return Some(us);
    }
    let mult = match unit {
        EpochUnit::Seconds | EpochUnit::Auto | EpochUnit::Magnitude => 1e6,
        EpochUnit::Millis => 1e3,
        EpochUnit::Micros => 1.0,
    };
    let us = (s.parse::<f64>().ok()? * mult).round();
    (us.is_finite() && us.abs() < 9.0e18).then_some(us as i64)
}

/// `v` as an integer, `None` outside the `i64` range.
fn f64_to_i64(v: f64) -> Option<i64> {
    // The range check makes the cast exact up to f64 rounding.
    #[allow(clippy::cast_possible_truncation)]
    (v.is_finite() && v.abs() < 9.2e18).then_some(v as i64)
}

/// [`EpochUnit::Magnitude`]: exact decimal arithmetic, fraction cut to the microsecond.
fn parse_epoch_magnitude(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_keep_each_readers_edge_cases() {
        let flow = IsoRules {
            date_only: false,
            leap_second: true,
            day_overflow: true,
            max_fraction_digits: Some(9),
            ..IsoRules::default()
        };
        assert_eq!(parse_iso8601("2015-05-17"), Some(1_431_820_800_000_000));
        assert_eq!(parse_iso8601_with("2015-05-17", &flow), None);
        assert_eq!(parse_iso8601("2015-02-29 00:00:00"), None);
        assert_eq!(parse_iso8601_with("2015-02-29 00:00:00", &flow), parse_iso8601("2015-03-01"));
        assert_eq!(parse_iso8601("2015-05-17 00:00:60"), None);
        assert_eq!(
            parse_iso8601_with("2015-05-17 00:00:60", &flow),
            parse_iso8601("2015-05-17 00:01")
        );
        assert_eq!(parse_iso8601("1970-01-01 00:00:00.1234567890"), Some(123_456));
        assert_eq!(parse_iso8601_with("1970-01-01 00:00:00.1234567890", &flow), None);
    }

    #[test]
    fn epoch_units() {
        assert_eq!(parse_epoch("1e9", EpochUnit::Seconds), None);
        assert_eq!(parse_epoch_float("1e9", EpochUnit::Seconds), Some(1_000_000_000_000_000));
        assert_eq!(parse_epoch("+1.5", EpochUnit::Millis), Some(1_500));
        assert_eq!(parse_epoch("42.6", EpochUnit::Micros), Some(43));
        assert_eq!(parse_epoch("1431857103500", EpochUnit::Auto), Some(1_431_857_103_500_000));
        assert_eq!(
            parse_epoch("1431857103500000", EpochUnit::Auto),
            Some(1_431_857_103_500_000_000)
        );
        assert_eq!(
            parse_epoch("1431857103500000", EpochUnit::Magnitude),
            Some(1_431_857_103_500_000)
        );
    }
}
