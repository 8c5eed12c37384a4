//! SQL over the event store, through DataFusion.
//!
//! - [`catalog`]: a `SessionContext` with one listing table per store table
//!   (`date` and `hour` partition columns, or `date` alone for a table partitioned by day or month; the union of every file's columns);
//! - [`guard`]: read-only statements only, with a per-query memory limit and timeout;
//! - [`format`]: results as a table, CSV, JSON lines or Arrow IPC;
//! - [`saved`]: named queries for analysts.
//!
//! DataFusion serves every query. Polars is not used here: the store is Parquet and
//! DataFusion plans SQL over it directly; a second engine would only add build time.

pub mod catalog;
pub mod format;
pub mod guard;
pub mod saved;

pub use catalog::{QueryLimits, check_store, open_store, query_store};
pub use format::{OutputFormat, write_batches};
pub use guard::{QueryResult, SqlError, run_query};
pub use saved::{SAVED_QUERIES, SavedQuery, saved_query};
