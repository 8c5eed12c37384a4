//! Retention: a table keeps at most `max_age` of data and at most `max_bytes` on disk;
//! whole files go, oldest partition first.

use std::io;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::files::{DataFile, list_files, sorted_dirs};
use super::{Partitioning, Table};

/// A table's retention policy; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// Files whose partition (hour, day or month) ended longer ago than this are removed.
    #[serde(default, with = "opt_secs")]
    pub max_age: Option<Duration>,
    /// Past this total size the oldest files are removed.
    #[serde(default)]
    pub max_bytes: Option<u64>,
    /// When the disk is full, a store sink removes this table's oldest files, one at a
    /// time, to make room for new rows (instead of waiting for space).
    #[serde(default)]
    pub make_room: bool,
}

mod opt_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_secs))
    }
}

/// What a retention run removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionStats {
    /// Files removed.
    pub files: u64,
    /// Bytes freed.
    pub bytes: u64,
}

/// The end of a file's partition in µs since the epoch, if its partition parses.
fn partition_end_us(f: &DataFile) -> Option<i64> {
    Partitioning::parse_end(&f.partition).map(|(_, end)| end)
}

/// Apply `policy` to `table` at time `now_us` (µs since the epoch).
pub fn enforce_retention(
    root: &Path,
    table: Table,
    policy: &Retention,
    now_us: i64,
) -> io::Result<RetentionStats> {
    let mut stats = RetentionStats::default();
    let mut files = list_files(root, table)?;
    if let Some(age) = policy.max_age {
        let cutoff = now_us.saturating_sub(age.as_micros().min(i64::MAX as u128) as i64);
        let (old, keep): (Vec<DataFile>, Vec<DataFile>) =
            files.into_iter().partition(|f| partition_end_us(f).is_some_and(|end| end <= cutoff));
        for f in old {
            remove(&f, &mut stats)?;
        }
        files = keep;
    }
    if let Some(max) = policy.max_bytes {
        let mut total: u64 = files.iter().map(|f| f.bytes).sum();
        for f in &files {
            if total <= max {
                break;
            }
            total -= f.bytes;
            remove(f, &mut stats)?;
        }
    }
    remove_empty_partitions(&root.join(table.name()))?;
    Ok(stats)
}

fn remove(f: &DataFile, stats: &mut RetentionStats) -> io::Result<()> {
    match std::fs::remove_file(&f.path) {
        Ok(()) => {
            stats.files += 1;
            stats.bytes += f.bytes;
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Remove hour and date directories left empty (ignoring failures: a writer may be
/// creating a file in one right now).
fn remove_empty_partitions(base: &Path) -> io::Result<()> {
    for date in sorted_dirs(base, "date=")? {
        for hour in sorted_dirs(&date, "hour=")? {
            let _ = std::fs::remove_dir(&hour);
        }
        let _ = std::fs::remove_dir(&date);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{RecordBatch, StringArray, TimestampMicrosecondArray};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;
    use crate::store::StoreWriter;
    use crate::store::tables::ts_type;

    const HOUR: i64 = 3_600_000_000;

    fn batch(ts: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("ts", ts_type(), false),
            Field::new("series", DataType::Utf8, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(TimestampMicrosecondArray::from(vec![ts]).with_timezone("UTC")),
                Arc::new(StringArray::from(vec!["x".repeat(64)])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn a_month_partition_goes_when_the_month_has_ended_long_enough() {
        let dir = tempfile::tempdir().unwrap();
        let w = StoreWriter::new(dir.path(), "r");
        let july = vigil_ingest::time::civil_to_us(2016, 7, 15, 0, 0, 0, 0).unwrap();
        w.write(Table::Metrics, &batch(july)).unwrap();
        let day = Retention { max_age: Some(Duration::from_secs(86_400)), ..Default::default() };
        // 2016-08-01 12:00: July ended 12 hours ago, less than a day.
        let aug = vigil_ingest::time::civil_to_us(2016, 8, 1, 12, 0, 0, 0).unwrap();
        assert_eq!(enforce_retention(dir.path(), Table::Metrics, &day, aug).unwrap().files, 0);
        let s = enforce_retention(dir.path(), Table::Metrics, &day, aug + 12 * HOUR).unwrap();
        assert_eq!(s.files, 1);
        assert!(!dir.path().join("metrics/date=2016-07").exists());
    }

    #[test]
    fn old_hours_go_first_by_age_then_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let w =
            StoreWriter::new(dir.path(), "r").with_partitioning(Table::Metrics, Partitioning::Hour);
        let now = vigil_ingest::time::civil_to_us(2026, 11, 29, 12, 30, 0, 0).unwrap();
        for h in [30, 5, 2, 0] {
            w.write(Table::Metrics, &batch(now - h * HOUR)).unwrap();
        }
        // A day of age: the file 30 hours old goes.
        let day = Retention { max_age: Some(Duration::from_secs(86_400)), ..Default::default() };
        let s = enforce_retention(dir.path(), Table::Metrics, &day, now).unwrap();
        assert_eq!(s.files, 1);
        let left = list_files(dir.path(), Table::Metrics).unwrap();
        assert_eq!(left.len(), 3);
        assert_eq!(left[0].partition, "date=2026-11-29/hour=07");
        // Room for two files: the oldest of the three goes.
        let size =
            Retention { max_bytes: Some(left[1].bytes + left[2].bytes), ..Default::default() };
        enforce_retention(dir.path(), Table::Metrics, &size, now).unwrap();
        let left = list_files(dir.path(), Table::Metrics).unwrap();
        let parts: Vec<&str> = left.iter().map(|f| f.partition.as_str()).collect();
        assert_eq!(parts, ["date=2026-11-29/hour=10", "date=2026-11-29/hour=12"]);
        // Empty partition directories are gone too.
        assert!(!dir.path().join("metrics/date=2026-11-28").exists());
        assert!(!dir.path().join("metrics/date=2026-11-29/hour=07").exists());
    }
}
