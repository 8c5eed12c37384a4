//! Metric time series: readers, timestamps, resampling, and the `metrics` table.
//!
//! ```text
//!  CSV (long │ wide) / JSON lines, .gz or not
//!        │  MetricsReader::next_point (streaming; bad rows → DeadLetter, counted)
//!        ▼
//!  MetricPoint { series, ts µs, value } ──► metrics_to_batch ──► RecordBatch (metrics_schema)
//!        │  Resampler::push (regular grid, duplicates aggregated, gaps filled or marked)
//!        ▼
//!  ResampledStep { ts, values[N], missing[N] } ──► vigil-tokenizers variate windows
//! ```
//!
//! - [`MetricsReader`] reads long (`series,ts,value`, or NAB's `timestamp,value`)
//!   and wide (ETTh1's `date,HUFL,…,OT`) CSV, and JSON lines, transparently
//!   gunzipped. Timestamp formats are listed in [`timestamp`].
//! - [`Resampler`] and [`resample`] put points on a regular grid; the gap
//!   policy is described in [`resample`](mod@resample).
//! - [`metrics_schema`] and [`metrics_to_batch`] give the DESIGN `metrics` table shape.
//!
//! ```
//! use vigil_ingest::metrics::{MetricsReader, MetricsReaderConfig, ResampleConfig, resample};
//! let nab = "timestamp,value\n2014-02-14 14:30:00,0.132\n2014-02-14 14:40:00,0.134\n";
//! let mut r = MetricsReader::from_reader("ec2_cpu.csv", nab.as_bytes(), MetricsReaderConfig::default())?;
//! let points = r.read_all()?;
//! assert_eq!(points[0].series, "ec2_cpu");
//! let cfg = ResampleConfig { step_us: 300_000_000, max_ffill_steps: 1, ..Default::default() };
//! let frame = resample(&points, None, cfg)?;
//! let values: Vec<f64> = frame.steps.iter().map(|s| s.values[0]).collect();
//! assert_eq!(values, vec![0.132, 0.132, 0.134]); // 14:35 forward-filled
//! # Ok::<(), vigil_ingest::IngestError>(())
//! ```

mod reader;
pub mod resample;
mod schema;
pub mod timestamp;

pub use reader::{
    IndexTime, MetricsFormat, MetricsReader, MetricsReaderConfig, MetricsReaderStats,
    TIMESTAMP_COLUMNS,
};
pub use resample::{
    Aggregation, ResampleConfig, ResampleStats, ResampledFrame, ResampledStep, Resampler, resample,
};
pub use schema::{metric_columns, metrics_schema, metrics_to_batch};
pub use timestamp::{CivilTime, EpochUnit, civil_from_us, parse_timestamp, parse_timestamp_with};

use crate::packet::TimestampUs;

pub use crate::dead_letter::{DeadLetter, MAX_RAW_LEN};

/// One observation: a row of the `metrics` table.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint {
    /// Series (variate) name.
    pub series: String,
    /// Time, µs since the epoch, UTC.
    pub ts: TimestampUs,
    /// The value (always finite; gaps are not points).
    pub value: f64,
}
