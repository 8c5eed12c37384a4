//! How a table's files are partitioned by time: by hour (`date=YYYY-MM-DD/hour=HH`, the
//! default), by day (`date=YYYY-MM-DD`) or by month (`date=YYYY-MM`), each a hive layout
//! that DataFusion, DuckDB and pyarrow read as is.
//!
//! A table has one layout: the one its directory already holds, else the configured one
//! (see [`Partitioning::resolve`]). Low-rate tables want coarse partitions: two years of
//! hourly ETTh1 are 17,420 hour partitions, hence as many files at least, but 24 months.

use std::fmt;
use std::io;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use vigil_ingest::time::{civil_from_us, civil_to_us};

use super::Table;
use super::files::sorted_dirs;

const US_PER_HOUR: i64 = 3_600_000_000;
const US_PER_DAY: i64 = 24 * US_PER_HOUR;

/// The time span of one partition of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Partitioning {
    /// `date=YYYY-MM-DD/hour=HH`.
    Hour,
    /// `date=YYYY-MM-DD`.
    Day,
    /// `date=YYYY-MM`.
    Month,
}

impl Partitioning {
    /// The default of each table: months for metrics (a point per series and step, so
    /// few rows an hour) and alert state (a row per analyst decision), hours for the
    /// rest.
    pub fn default_for(table: Table) -> Partitioning {
        match table {
            Table::Metrics | Table::AlertState => Partitioning::Month,
            _ => Partitioning::Hour,
        }
    }

    /// The partition holding time `ts_us` (µs since the epoch), as an ordinal that
    /// increases with time: hours, days or months since 1970-01.
    pub fn key(self, ts_us: i64) -> i64 {
        match self {
            Partitioning::Hour => ts_us.div_euclid(US_PER_HOUR),
            Partitioning::Day => ts_us.div_euclid(US_PER_DAY),
            Partitioning::Month => {
                let c = civil_from_us(ts_us);
                (c.year - 1970) * 12 + i64::from(c.month) - 1
            }
        }
    }

    /// The directory of the partition `key` (see [`key`](Self::key)), relative to the
    /// table's.
    pub fn name(self, key: i64) -> String {
        match self {
            Partitioning::Hour => {
                let c = civil_from_us(key * US_PER_HOUR);
                format!("date={:04}-{:02}-{:02}/hour={:02}", c.year, c.month, c.day, c.hour)
            }
            Partitioning::Day => {
                let c = civil_from_us(key * US_PER_DAY);
                format!("date={:04}-{:02}-{:02}", c.year, c.month, c.day)
            }
            Partitioning::Month => {
                format!("date={:04}-{:02}", 1970 + key.div_euclid(12), key.rem_euclid(12) + 1)
            }
        }
    }

    /// The hive partition columns a query engine sees: `date` and `hour`, or `date`.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Partitioning::Hour => &["date", "hour"],
            Partitioning::Day | Partitioning::Month => &["date"],
        }
    }

    /// The layout of a partition name and the end of its span in µs since the epoch, if
    /// it is one of the three layouts.
    pub fn parse_end(partition: &str) -> Option<(Partitioning, i64)> {
        let (date, hour) = match partition.split_once('/') {
            Some((d, h)) => (d, Some(h.strip_prefix("hour=")?.parse::<u32>().ok()?)),
            None => (partition, None),
        };
        let mut parts = date.strip_prefix("date=")?.split('-');
        let y: i64 = parts.next()?.parse().ok()?;
        let m: u32 = parts.next()?.parse().ok()?;
        let d: Option<u32> = match parts.next() {
            Some(d) => Some(d.parse().ok()?),
            None => None,
        };
        if parts.next().is_some() {
            return None;
        }
        match (d, hour) {
            (None, None) => {
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                civil_to_us(y, m, 1, 0, 0, 0, 0)?;
                Some((Partitioning::Month, civil_to_us(ny, nm, 1, 0, 0, 0, 0)?))
            }
            (Some(d), None) => {
                Some((Partitioning::Day, civil_to_us(y, m, d, 0, 0, 0, 0)? + US_PER_DAY))
            }
            (Some(d), Some(h)) => {
                Some((Partitioning::Hour, civil_to_us(y, m, d, h, 0, 0, 0)? + US_PER_HOUR))
            }
            (None, Some(_)) => None,
        }
    }

    /// The layout `table` has under the store `root`, from its first `date=` directory
    /// (`None`: no partition yet).
    pub fn on_disk(root: &Path, table: Table) -> io::Result<Option<Partitioning>> {
        let Some(date) = sorted_dirs(&root.join(table.name()), "date=")?.into_iter().next() else {
            return Ok(None);
        };
        let name = date.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let partition = match sorted_dirs(&date, "hour=")?.first() {
            Some(hour) => {
                format!("{name}/{}", hour.file_name().and_then(|n| n.to_str()).unwrap_or_default())
            }
            None => name,
        };
        Ok(Partitioning::parse_end(&partition).map(|(p, _)| p))
    }

    /// The layout to write `table` with: the one on disk; else `configured`, else the
    /// table's default. A configured layout that differs from the one on disk is an
    /// error (one table, one layout, or queries cannot read it).
    pub fn resolve(
        root: &Path,
        table: Table,
        configured: Option<Partitioning>,
    ) -> anyhow::Result<Partitioning> {
        let found = Partitioning::on_disk(root, table)?;
        match (found, configured) {
            (Some(f), Some(c)) if f != c => anyhow::bail!(
                "store {}: table `{table}` is partitioned by {f} on disk, but by {c} in the \
                 configuration; configure {f}, or move its files to another store first",
                root.display()
            ),
            (Some(f), _) => Ok(f),
            (None, c) => Ok(c.unwrap_or_else(|| Partitioning::default_for(table))),
        }
    }
}

impl fmt::Display for Partitioning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Partitioning::Hour => "hour",
            Partitioning::Day => "day",
            Partitioning::Month => "month",
        })
    }
}

impl FromStr for Partitioning {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hour" => Ok(Partitioning::Hour),
            "day" => Ok(Partitioning::Day),
            "month" => Ok(Partitioning::Month),
            other => Err(format!("unknown partitioning {other:?}: expected hour, day or month")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_names_and_ends_agree() {
        let t = civil_to_us(2016, 12, 31, 23, 59, 59, 999_999).unwrap();
        let cases = [
            (Partitioning::Hour, "date=2016-12-31/hour=23"),
            (Partitioning::Day, "date=2016-12-31"),
            (Partitioning::Month, "date=2016-12"),
        ];
        for (p, name) in cases {
            assert_eq!(p.name(p.key(t)), name);
            // The partition ends one µs after its last instant, where the next begins.
            assert_eq!(Partitioning::parse_end(name), Some((p, t + 1)));
            assert_eq!(p.key(t + 1), p.key(t) + 1);
        }
        let before_epoch = civil_to_us(1969, 12, 31, 0, 0, 0, 0).unwrap();
        assert_eq!(Partitioning::Month.name(Partitioning::Month.key(before_epoch)), "date=1969-12");
        for bad in
            ["date=2016", "date=2016-13", "date=2016-12-01/x=1", "hour=01", "date=2016-12-01-1"]
        {
            assert_eq!(Partitioning::parse_end(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_layout_on_disk_wins_and_a_conflicting_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(Partitioning::resolve(root, Table::Metrics, None).unwrap(), Partitioning::Month);
        assert_eq!(Partitioning::resolve(root, Table::Flows, None).unwrap(), Partitioning::Hour);
        std::fs::create_dir_all(root.join("metrics/date=2026-01-02/hour=03")).unwrap();
        assert_eq!(Partitioning::resolve(root, Table::Metrics, None).unwrap(), Partitioning::Hour);
        let err = Partitioning::resolve(root, Table::Metrics, Some(Partitioning::Month))
            .unwrap_err()
            .to_string();
        assert!(err.contains("partitioned by hour on disk, but by month"), "{err}");
        std::fs::create_dir_all(root.join("flows/date=2026-01-02")).unwrap();
        assert_eq!(Partitioning::on_disk(root, Table::Flows).unwrap(), Some(Partitioning::Day));
    }
}
