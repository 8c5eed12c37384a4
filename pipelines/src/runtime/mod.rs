//! The streaming runtime behind `vigil run` and `vigil demo`.
//!
//! ```text
//!  sources (blocking threads) ──► transforms (score on a blocking pool) ──► sinks
//!  pcap/iface/csv/metrics/actions     netFound, FlowTransformer,             store (Parquet)
//!  Kafka topics                       iTransformer, HSTU, alert rules      EVE JSON, Kafka,
//!                                                                        HTTP webhook
//!       │ bounded channels
//!       └── micro-batches: Arrow RecordBatches of N rows or T ms
//! ```
//!
//! - [`ack`] and [`checkpoint`]: acknowledged delivery, and where sources resume;
//! - [`config`]: the TOML topology;
//! - [`topology`]: checks it and builds the stages;
//! - [`runner`]: runs them (tasks, channels, shutdown, counters, upkeep);
//! - [`sources`], [`transforms`], [`sinks`] (and [`kafka_sink`], [`webhook`] with
//!   [`webhook_spool`] and [`http_client`]): the stages;
//! - [`stats`] and [`http`]: counters, Prometheus text on `/metrics` (axum);
//! - [`record`], [`rows`], [`outputs`]: batches and their plumbing.

pub mod ack;
pub mod batcher;
pub mod checkpoint;
pub mod config;
pub mod env_overrides;
pub mod http;
pub mod http_client;
pub mod kafka_sink;
pub mod outputs;
pub mod record;
pub mod redact;
pub mod rows;
pub mod runner;
pub mod sinks;
pub mod sources;
pub mod stats;
pub mod store_sink;
pub mod topology;
pub mod transforms;
pub mod webhook;
pub mod webhook_spool;

pub use config::TopologyConfig;
pub use runner::{RunSummary, Runner, stats_file};
pub use topology::Topology;
