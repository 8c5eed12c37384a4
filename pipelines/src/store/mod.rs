//! The event store: one directory per table, Parquet files partitioned by time,
//! written so that a reader (DataFusion, DuckDB, pyarrow) never sees a partial file.
//!
//! ```text
//! <store>/<table>/date=YYYY-MM-DD/hour=HH/<instance>-<uuid>.parquet   (by hour)
//! <store>/<table>/date=YYYY-MM/<instance>-<uuid>.parquet              (by month)
//! ```
//!
//! - [`partitioning`]: a table's layout, by hour (the default), day or month (the
//!   default of `metrics`);
//! - the five tables and their base Arrow schemas: [`vigil_ingest::tables`];
//! - [`writer`]: batches → one zstd Parquet file per partition (temporary name,
//!   fsync, rename, fsync of the directory);
//! - [`compact`]: merges a partition's small files of one sensor into one, crash-safe,
//!   streaming;
//! - [`retention`]: drops the oldest partitions past a maximum age or size;
//! - [`files`]: listing the committed files of a table;
//! - [`origin`]: which input records each file holds, so a re-run after a crash stores
//!   nothing twice;
//! - [`alert_state`]: an analyst's decisions on alerts, appended;
//! - [`quarantine`]: files that are not readable Parquet move to
//!   `<store>/_quarantine/<table>/…` and become dead letters.
//!
//! Model verdicts are extra struct columns (one per model, named after it), so a new
//! model adds a column; files without it read as nulls (see [`crate::sql`]).

pub mod alert_state;
pub mod compact;
pub mod files;
pub mod origin;
pub mod partitioning;
pub mod quarantine;
pub mod retention;
pub mod room;
pub mod writer;

use std::path::PathBuf;

pub use compact::{CompactStats, compact_table};
pub use files::{DataFile, list_files};
pub use partitioning::Partitioning;
pub use quarantine::{FileCheck, QUARANTINE_DIR, check_file, quarantine};
pub use retention::{Retention, RetentionStats, enforce_retention};
pub use vigil_ingest::tables::{self, Table};
pub use writer::{StoreWriter, Written};

/// The environment variable naming the store directory.
pub const STORE_ENV: &str = "VIGIL_STORE";

/// The directory used when no `--data` is given: `$VIGIL_STORE`, else `vigil-data`
/// relative to the working directory.
pub fn default_store_dir() -> PathBuf {
    std::env::var_os(STORE_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("vigil-data"))
}
