//! Packet timestamps the flow table can trust. A capture's clock can be wrong for a
//! packet or two: a corrupt record claims 2100, a sensor briefly stamps 1970 while its
//! clock is unset, an NTP step moves time back by hours.
//!
//! Refused, counted as a weird and given neither to the decoder's reassembly nor to
//! the flow table (where it would end every open flow at once, or open a flow, and a
//! store partition, in that year):
//! - a timestamp more than [`MAX_AHEAD_US`] (a day) ahead of this machine's clock:
//!   `timestamp_in_future`;
//! - one before [`EARLIEST_US`] (1995-01-01) in a capture whose clock is past it:
//!   `timestamp_implausibly_old`.
//!
//! Counted as a weird but accounted, as Zeek, Suricata and nDPI account it (merged
//! test captures are full of them, and flows must agree with those tools): a timestamp
//! more than [`MAX_BACKWARDS_US`] (an hour) behind the capture's clock (the latest
//! timestamp accepted), `timestamp_went_backwards`. Smaller steps back are ordinary
//! reordering. When [`REANCHOR_AFTER`] packets in a row are that far behind, the clock
//! was stepped back for good and follows them (so one step is counted a few times,
//! not once per packet for an hour).
//!
//! The capture's clock starts afresh with each capture opened (files of a directory
//! may come in any order), set by its first packet not in the future. A capture whose
//! clock was never set (every packet in 1970, as in many test traces) is read as it
//! is, as those tools read it.

use crate::packet::TimestampUs;
use crate::time::{US_PER_DAY, US_PER_SEC, days_from_civil};

/// The earliest timestamp taken once a capture's clock is past it: 1995-01-01.
pub const EARLIEST_US: TimestampUs = days_from_civil(1995, 1, 1) * US_PER_DAY;
/// How far ahead of this machine's clock a timestamp may be.
pub const MAX_AHEAD_US: TimestampUs = US_PER_DAY;
/// How far behind the capture's clock a timestamp may be before it counts as odd.
pub const MAX_BACKWARDS_US: TimestampUs = 3600 * US_PER_SEC;
/// Packets in a row behind by more than [`MAX_BACKWARDS_US`] that move the clock back.
pub const REANCHOR_AFTER: u32 = 4;

/// What [`ClockGuard::check`] makes of a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockVerdict {
    /// An ordinary timestamp.
    Ok,
    /// Accounted, and counted as this weird.
    Odd(&'static str),
    /// Not accounted; counted as this weird.
    Refused(&'static str),
}

/// Checks each packet's timestamp against the bounds above.
#[derive(Debug, Clone, Default)]
pub struct ClockGuard {
    /// The latest timestamp accepted in this capture.
    network_time: Option<TimestampUs>,
    /// Packets in a row that were far behind.
    behind_in_a_row: u32,
    /// The wall clock plus [`MAX_AHEAD_US`] as last read; read again only when a
    /// timestamp passes it.
    future_limit: TimestampUs,
}

impl ClockGuard {
    /// A new capture begins: its clock is set by its first packet.
    pub fn restart(&mut self) {
        self.network_time = None;
        self.behind_in_a_row = 0;
    }

    /// What to do with a packet stamped `ts`.
    pub fn check(&mut self, ts: TimestampUs) -> ClockVerdict {
        if ts > self.future_limit {
            self.future_limit = wall_clock_us().saturating_add(MAX_AHEAD_US);
            if ts > self.future_limit {
                return ClockVerdict::Refused("timestamp_in_future");
            }
        }
        let Some(now) = self.network_time else {
            self.network_time = Some(ts);
            return ClockVerdict::Ok;
        };
        if ts < EARLIEST_US && now >= EARLIEST_US {
            return ClockVerdict::Refused("timestamp_implausibly_old");
        }
        if ts >= now.saturating_sub(MAX_BACKWARDS_US) {
            self.behind_in_a_row = 0;
            self.network_time = Some(now.max(ts));
            return ClockVerdict::Ok;
        }
        self.behind_in_a_row += 1;
        if self.behind_in_a_row == REANCHOR_AFTER {
            self.behind_in_a_row = 0;
            self.network_time = Some(ts);
        }
        ClockVerdict::Odd("timestamp_went_backwards")
    }
}

/// The wall clock, µs since the epoch.
fn wall_clock_us() -> TimestampUs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::ClockVerdict::{Odd, Ok, Refused};
    use super::*;

    const T0: TimestampUs = 1_700_000_000 * US_PER_SEC;

    #[test]
    fn impossible_times_are_refused_and_steps_back_counted() {
        let mut g = ClockGuard::default();
        assert_eq!(g.check(T0), Ok);
        assert_eq!(g.check(0), Refused("timestamp_implausibly_old"));
        assert_eq!(g.check(4_102_444_800 * US_PER_SEC), Refused("timestamp_in_future"));
        assert_eq!(g.check(T0 - 60 * US_PER_SEC), Ok, "a minute back is reordering");
        assert_eq!(g.check(T0 - 3 * US_PER_DAY), Odd("timestamp_went_backwards"));
        assert_eq!(g.check(T0 + US_PER_SEC), Ok);
        g.restart();
        assert_eq!(g.check(T0 - 3 * US_PER_DAY), Ok, "a new capture sets its own clock");
    }

    #[test]
    fn a_capture_whose_clock_was_never_set_is_read_as_it_is() {
        let mut g = ClockGuard::default();
        assert_eq!(g.check(5 * US_PER_SEC), Ok);
        assert_eq!(g.check(6 * US_PER_SEC), Ok);
        assert_eq!(g.check(T0), Ok, "and its clock may be set later");
        assert_eq!(g.check(7 * US_PER_SEC), Refused("timestamp_implausibly_old"));
    }

    #[test]
    fn a_clock_stepped_back_for_good_is_followed_after_a_run_of_packets() {
        let mut g = ClockGuard::default();
        g.check(T0);
        let back = T0 - US_PER_DAY;
        let odd = (0..10).filter(|&i| g.check(back + i64::from(i)) != Ok).count();
        assert_eq!(odd, REANCHOR_AFTER as usize);
        assert_eq!(g.check(T0 - 2 * US_PER_DAY), Odd("timestamp_went_backwards"));
    }
}
