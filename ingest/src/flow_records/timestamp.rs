//! Timestamp cells to µs since the epoch: a thin wrapper over [`crate::time`]
//! that keeps the flow-record readers' answers on edge cases.

use super::TimestampFormat;
use crate::time::{EpochUnit, IsoRules, parse_epoch_float, parse_iso8601_with};

/// The flow-record readers' ISO rules: a time is required, second `60` and
/// days up to 31 in any month are taken (and roll over), as they always were.
const DATETIME_RULES: IsoRules = IsoRules {
    date_only: false,
    leap_second: true,
    day_overflow: true,
    empty_fraction: true,
    max_fraction_digits: Some(9),
};

/// Parses one timestamp cell to µs since the Unix epoch; `None` when it does not fit `format`.
///
/// `datetime` takes `YYYY-MM-DD HH:MM:SS[.fraction]` (or `T` between, optional
/// zone, `Z` or an offset), UTC when no zone is given, fraction cut to
/// microseconds. Epoch cells take anything `f64` parses, rounded to the microsecond.
pub fn parse_timestamp_us(cell: &str, format: TimestampFormat) -> Option<i64> {
    match format {
        TimestampFormat::EpochS => parse_epoch_float(cell, EpochUnit::Seconds),
        TimestampFormat::EpochMs => parse_epoch_float(cell, EpochUnit::Millis),
        TimestampFormat::EpochUs => parse_epoch_float(cell, EpochUnit::Micros),
        TimestampFormat::Datetime => parse_iso8601_with(cell, &DATETIME_RULES),
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
