//! Timestamp parsers for the formats action logs use, all returning
//! microseconds since the Unix epoch, UTC. Thin wrappers over
//! [`crate::time`], which holds the one implementation; these keep the
//! action-log answers on edge cases (see [`IsoRules`]'s default and
//! [`EpochUnit::Magnitude`]).
//!
//! Limits: years 1..=9999, fractional seconds beyond microseconds are cut,
//! leap seconds (`:60`) are refused.

use crate::time::{EpochUnit, IsoRules};

pub use crate::time::{month_from_abbr, parse_apache, parse_syslog};

/// Days from 1970-01-01 to the given civil date (H. Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    crate::time::days_from_civil(y, i64::from(m), i64::from(d))
}

/// ISO-8601 / RFC 3339: `2015-05-17T10:05:03[.123456][Z|+02:00|+0200]`; a space may
/// replace the `T`; no offset means UTC; a bare date means midnight UTC.
pub fn parse_iso8601(s: &str) -> Option<i64> {
    crate::time::parse_iso8601_with(s, &IsoRules::default())
}

/// Epoch time as a number. The unit is guessed from the magnitude of the
/// integer part: above 10^17 nanoseconds, above 10^14 microseconds, above
/// 10^11 milliseconds, else seconds (so seconds are right until the year 5138
/// and milliseconds from 1973 on). Fractions are allowed (`1431856803.25`).
/// This guess differs from the metrics reader's ([`EpochUnit::Auto`]) and is kept.
pub fn parse_epoch(s: &str) -> Option<i64> {
    crate::time::parse_epoch(s, EpochUnit::Magnitude)
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
