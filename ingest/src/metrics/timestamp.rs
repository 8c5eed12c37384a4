//! The metrics reader's timestamp parser and the civil-calendar helpers that
//! time features need: thin wrappers over [`crate::time`] keeping the metrics
//! answers on edge cases.
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
use crate::time::IsoRules;

pub use crate::time::{CivilTime, EpochUnit, civil_from_us, days_from_civil};

/// The metrics ISO rules: a fraction needs 1 to 9 digits.
const ISO_RULES: IsoRules = IsoRules {
    date_only: true,
    leap_second: false,
    day_overflow: false,
    empty_fraction: false,
    max_fraction_digits: Some(9),
};

/// Parse `s` with [`EpochUnit::Auto`]; `None` when it is not a timestamp.
pub fn parse_timestamp(s: &str) -> Option<TimestampUs> {
    parse_timestamp_with(s, EpochUnit::Auto)
}

/// Parse `s` as a date-time or an epoch number in `unit`.
pub fn parse_timestamp_with(s: &str, unit: EpochUnit) -> Option<TimestampUs> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() >= 10 && b[4] == b'-' && b[7] == b'-' {
        crate::time::parse_iso8601_with(s, &ISO_RULES)
    } else {
        crate::time::parse_epoch(s, unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{US_PER_DAY, US_PER_SEC};

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
