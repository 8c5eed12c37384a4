//! Time without a date library: the proleptic Gregorian calendar maths
//! ([`civil`](mod@civil)) and the text timestamp parsers ([`parse`](mod@parse)),
//! once for the whole crate.
//!
//! Used by the action-log readers ([`crate::actions::timestamp`]: Apache,
//! syslog, ISO-8601, epoch), the flow-record readers
//! ([`crate::flow_records::parse_timestamp_us`]: datetime, epoch in a given
//! unit), the metrics reader ([`crate::metrics::parse_timestamp`],
//! [`crate::metrics::civil_from_us`]), and the `vigil` CLI (Zeek's `#open`
//! date). Every timestamp is microseconds since the Unix epoch, UTC.

pub mod civil;
pub mod parse;

pub use civil::{
    CivilTime, MONTHS, US_PER_DAY, US_PER_SEC, civil_from_days, civil_from_us, civil_to_us,
    days_from_civil, days_in_month, is_leap, month_from_abbr, rfc3339_us,
};
pub use parse::{
    EpochUnit, IsoRules, parse_apache, parse_epoch, parse_epoch_float, parse_iso8601,
    parse_iso8601_with, parse_syslog,
};

/// Microseconds since the epoch, now (0 if the clock is before it).
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}
