//! Vigil's runtime pieces and the glue behind the `vigil` command.
//!
//! - [`extract`]: capture → decoded packets → flows, with counters and progress.
//! - [`inputs`]: capture inputs (files, directories, `-`).
//! - [`logging`]: `tracing` to stderr for the command-line tools.
//! - [`output`]: flow writers (Zeek `conn.log` TSV, JSON lines, CSV, Parquet).
//! - [`score`]: model verdicts added to tokenized rows.
//! - [`sql`]: read-only DataFusion SQL over the store, saved queries.
//! - [`store`]: the event store (partitioned Parquet tables, compaction, retention).
//! - [`tokenize`]: captures to model inputs (netFound tokens) as Parquet-ready batches.
//!
//! The conformance suite and the benchmarks live in `pipelines/harness`
//! (`vigil-harness`), outside the library that ships.
#![deny(missing_docs)]

pub mod alerting;
pub mod console;
pub mod extract;
pub mod inputs;
pub mod logging;
pub mod output;
pub mod privileges;
pub mod runtime;
pub mod score;
pub mod sql;
pub mod store;
pub mod tokenize;
