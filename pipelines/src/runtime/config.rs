//! The topology file (`vigil run --config vigil.toml`): named sources, transforms and
//! sinks wired by name, like Vector's.
//!
//! Relative paths of inputs (captures, files, models, mapping files) and of the store
//! are relative to the topology file's directory ([`TopologyConfig::from_path`]); a
//! relative EVE path or webhook spool is relative to the store, so `--data` moves
//! everything a run writes. Any setting can be overridden from the environment:
//! `VIGIL_SOURCES__WIRE__NAME=eth1` sets `[sources.wire] name`
//! ([`super::env_overrides`]).
//!
//! ```toml
//! sensor = "lab-1"
//!
//! [store]
//! dir = "vigil-data"              # default: $VIGIL_STORE, else ./vigil-data
//!
//! [sources.capture]
//! type = "pcap"                   # pcap | interface | flow_csv | metrics | actions
//! paths = ["samples/ssh.pcap"]    # files, directories, or "-" for stdin
//!
//! [transforms.netfound]
//! type = "score"
//! model = "onnx/artifacts/netfound"
//! inputs = ["capture"]
//!
//! [transforms.alerts]
//! type = "alerts"
//! inputs = ["netfound"]
//! rules = "builtin"               # or a rules file, or ["builtin", "local.toml"]
//!
//! [sinks.store]
//! type = "store"
//! inputs = ["netfound", "alerts"]
//!
//! [sinks.siem]
//! type = "webhook"                # alerts POSTed one by one, through an on-disk spool
//! inputs = ["alerts"]
//! url = "http://127.0.0.1:8088/vigil/alerts"   # http only: https via a TLS-terminating proxy
//! spool = "webhook-spool/siem"    # the default; relative to the store
//! max_spool_bytes = 268435456     # undelivered alerts kept at most; past it the sink waits
//! timeout_ms = 5000               # per request
//! retry_initial_ms = 500          # first retry delay, doubled up to…
//! retry_max_ms = 30000            # …this
//! drain_secs = 30                 # at the end of a run, wait this long for the spool to drain
//! headers = { Authorization = "env:SIEM_TOKEN" }   # env:NAME or file:PATH; never logged
//! ```
//!
//! A webhook sink makes an alert durable by appending it to its spool (fsynced), which
//! acknowledges the batch; a delivery task then POSTs the spooled alerts in order, one
//! per request (the EVE JSON object, with `Idempotency-Key`: the alert's
//! `vigil.alert_id`, else the SHA-256 of its JSON), and commits its position after each
//! 2xx. A failure (no connection, a timeout, any other status) is retried with
//! exponential backoff and jitter, never skipped, so order holds; a permanent client
//! error (4xx other than 408, 425 and 429) is logged as an error, counted
//! (`vigil_webhook_rejected_total`) and retried at `retry_max_ms`, since dropping the
//! alert would lose it. Delivery is at least once: a crash between a 2xx and the
//! commit sends that alert again, with the same key. What is still spooled when a run
//! ends after `drain_secs` is delivered by the next run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::sources::KafkaFormat;
pub use crate::alerting::rules::AlertRule;
use crate::alerting::rules::RuleSource;
use crate::store::{Partitioning, Retention};

/// The whole topology file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologyConfig {
    /// Stamped on every row (`sensor` column) and naming the store's files.
    #[serde(default = "default_sensor")]
    pub sensor: String,
    /// The event store.
    #[serde(default)]
    pub store: StoreConfig,
    /// Micro-batching.
    #[serde(default)]
    pub batch: BatchConfig,
    /// Batches buffered between two stages (backpressure beyond).
    #[serde(default = "default_channel")]
    pub channel_capacity: usize,
    /// The scoring pool.
    #[serde(default)]
    pub scoring: ScoringConfig,
    /// The Prometheus `/metrics` listener; off when absent.
    #[serde(default)]
    pub http: Option<HttpConfig>,
    /// Named sources.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceConfig>,
    /// Named transforms.
    #[serde(default)]
    pub transforms: BTreeMap<String, TransformConfig>,
    /// Named sinks.
    #[serde(default)]
    pub sinks: BTreeMap<String, SinkConfig>,
    /// The user a run started as root switches to once its live interfaces are open
    /// (default `nobody`); see [`crate::privileges`].
    #[serde(default)]
    pub user: Option<String>,
    /// Stop cleanly once every source has had no input for this many seconds
    /// (`vigil run --until-idle`); files end at their end anyway.
    #[serde(default)]
    pub until_idle_secs: Option<f64>,
    /// Directories where a score stage's model name (`model = "netfound"`) is looked
    /// up first; then `$VIGIL_MODELS`, `/usr/share/vigil/models` and `onnx/artifacts`
    /// beside or above the executable and the working directory
    /// ([`vigil_models::locate`]). `vigil run --models DIR` adds to the front.
    #[serde(default)]
    pub models: Vec<PathBuf>,
}

/// A list of paths, or one path alone.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<PathBuf>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(PathBuf),
        Many(Vec<PathBuf>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(p) => vec![p],
        OneOrMany::Many(v) => v,
    })
}

fn default_sensor() -> String {
    vigil_ingest::flow::DEFAULT_SENSOR.to_string()
}

fn default_channel() -> usize {
    8
}

/// The event store's place and upkeep.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// The store directory; default `$VIGIL_STORE`, else `./vigil-data`.
    pub dir: Option<PathBuf>,
    /// Seconds between compaction and retention runs (default 300).
    pub maintenance_secs: Option<u64>,
    /// Compaction merges a partition's small files once it holds this many (default 8,
    /// at least 2).
    pub compact_min_files: Option<usize>,
    /// Retention per table name (`flows`, `alerts`, ...).
    #[serde(default)]
    pub retention: BTreeMap<String, Retention>,
    /// Partition layout per table name: `hour`, `day` or `month` (default: `month` for
    /// `metrics`, `hour` for the rest). A table keeps the layout it has on disk; a
    /// different one here is an error.
    #[serde(default)]
    pub partitions: BTreeMap<String, Partitioning>,
    /// A store sink writes the rows it holds once they reach this many (default 65536)…
    #[serde(default)]
    pub flush_rows: Option<usize>,
    /// …or once the oldest has waited this many milliseconds (default 1000): one file
    /// per partition per flush, instead of one per batch.
    #[serde(default)]
    pub flush_ms: Option<u64>,
}

/// When a source's pending rows become a batch.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Rows per batch at most.
    #[serde(default = "default_rows")]
    pub max_rows: usize,
    /// Milliseconds a row may wait for its batch to fill.
    #[serde(default = "default_ms")]
    pub max_ms: u64,
}

fn default_rows() -> usize {
    4096
}

fn default_ms() -> u64 {
    1000
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig { max_rows: default_rows(), max_ms: default_ms() }
    }
}

/// The pool scoring runs on: every scoring transform applies one batch at a time
/// on a blocking thread, and at most `workers` do at once. On the CPU each model
/// has one single-threaded ONNX Runtime session per worker, and a batch's runs are
/// spread over them (this measured faster than one session with `workers` threads:
/// `vigil-harness bench sessions`); on a GPU a model has one session.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoringConfig {
    /// Batches scored at once, over all scoring transforms; default: the cores.
    pub workers: Option<usize>,
}

/// The `/metrics` listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address to listen on; default `127.0.0.1:9187`.
    #[serde(default = "default_listen")]
    pub listen: String,
}

fn default_listen() -> String {
    "127.0.0.1:9187".to_string()
}

/// A source of records.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceConfig {
    /// Capture files or directories of them (`-` = stdin), turned into flows.
    Pcap {
        /// Files, directories, or `-` (`path = "…"` for one).
        #[serde(alias = "path", deserialize_with = "one_or_many")]
        paths: Vec<PathBuf>,
        /// Keep watching the directories for new capture files until stopped.
        #[serde(default)]
        follow: bool,
    },
    /// A live interface, turned into flows.
    Interface {
        /// Interface name.
        name: String,
    },
    /// Flow records from a CSV (NF-v2, CICFlowMeter, Zeek conn.log).
    FlowCsv {
        /// The file.
        path: PathBuf,
        /// Column mapping: a built-in name or a mapping file.
        mapping: String,
    },
    /// Metric points (long or wide CSV, JSON lines).
    Metrics {
        /// The file (`-` = stdin).
        path: PathBuf,
    },
    /// Action logs (web access, auth, CSV, JSON lines).
    Actions {
        /// The file (`-` = stdin).
        path: PathBuf,
        /// `access`, `auth`, `csv`, `jsonl` or `auto` (default; `log` too, as the CLI's
        /// `--log`).
        #[serde(default, alias = "log")]
        format: Option<String>,
    },
    /// Messages of Kafka topics, read in a consumer group (at least once: offsets are
    /// committed once the rows are durable).
    Kafka(KafkaSourceConfig),
}

/// A Kafka source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceConfig {
    /// Bootstrap brokers, comma-separated (`host:port,host:port`).
    pub brokers: String,
    /// Topics; one starting with `^` is a regular expression.
    pub topics: Vec<String>,
    /// The consumer group.
    pub group: String,
    /// Payload format: `flows_json`, `metrics_json`, `actions_json` (one JSON object
    /// per message in the store's schemas); `arrow`, `arrow_metrics`, `arrow_actions`
    /// (Arrow IPC streams of flows, metrics, actions); `pcap` (one packet per message,
    /// made into flows as captures are); or a flow-CSV mapping name (`cicflowmeter`,
    /// `nf_v2`, `zeek_conn`, `nsl_kdd`) or mapping file, for one flow row per message
    /// as a JSON object keyed by column name or a CSV line.
    pub format: String,
    /// Where a new group starts: `earliest` (default) or `latest`.
    #[serde(default)]
    pub start: Option<String>,
    /// Also produce malformed messages (their bytes, with the topic, partition, offset
    /// and error as headers) to this topic; they are in `dead_letters` either way.
    #[serde(default)]
    pub dlq_topic: Option<String>,
    /// librdkafka settings passed through (`security.protocol`, `sasl.*`, `ssl.*`, …);
    /// a value `env:NAME` is read from the environment, `file:PATH` from a file.
    #[serde(default)]
    pub librdkafka: BTreeMap<String, String>,
}

/// A transform between sources and sinks.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TransformConfig {
    /// Tokenize and score with a model; its family picks the tokenizer and the records
    /// it accepts (netfound, flowtransformer: flows; itransformer: metrics; hstu: actions).
    Score {
        /// The model: a name (see [`TopologyConfig::models`]) or its directory.
        model: PathBuf,
        /// Upstream stages.
        inputs: Vec<String>,
        /// `cpu` (default); `cuda`: the GPU, or the topology fails to start naming what is
        /// missing; `auto`: the GPU when CUDA can be used, else the CPU with one warning.
        #[serde(default)]
        device: Option<String>,
        /// `fp32` (default, model.onnx); `int8` or `fp16`: the artifact's variant of that
        /// precision (see its manifest's `int8` and `fp16` entries), or the topology fails
        /// to start.
        #[serde(default)]
        precision: Option<String>,
        /// Store the model's embedding too (netFound).
        #[serde(default)]
        embedding: bool,
        /// netFound and FlowTransformer: flows scoring at least this (on the score the
        /// manifest's operating points use) get occlusion evidence in the verdict's
        /// `occlusion` field [default: the lowest operating-point threshold; above 1:
        /// none].
        #[serde(default)]
        explain_above: Option<f32>,
        /// Flows explained per scoring batch at most, each source address at most once
        /// a minute of event time (the rest are counted as unexplained) [default: 16].
        #[serde(default)]
        explain_max_rows: Option<usize>,
        /// iTransformer: the series to forecast, instead of the manifest's.
        #[serde(default)]
        series: Option<Vec<String>>,
        /// iTransformer: the grid step in seconds, instead of the manifest's (`step` too,
        /// as the CLI's `--step`).
        #[serde(default, alias = "step")]
        step_seconds: Option<f64>,
        /// Rows joined into one scoring batch at most (default 1024); larger source
        /// batches pass whole.
        #[serde(default)]
        max_batch: Option<usize>,
        /// Milliseconds a row may wait for its scoring batch to fill (default 100).
        #[serde(default)]
        max_delay_ms: Option<u64>,
    },
    /// Raise alerts from scored records.
    Alerts {
        /// Upstream stages.
        inputs: Vec<String>,
        /// The rules: `"builtin"`, a rules file, a list of those layered in order
        /// (`["builtin", "local.toml"]`), or inline model rules. Files are reloaded when
        /// they change.
        rules: RulesConfig,
        /// Thresholding buckets (rule and tracked key) kept at most; past it the oldest
        /// are evicted [default: 100000].
        #[serde(default)]
        suppress_max_keys: Option<usize>,
        /// How far behind the newest event time SQL windows are evaluated, so that rows
        /// this late still count [default: 10 s].
        #[serde(default)]
        lateness_secs: Option<u64>,
        /// Rows each table's SQL window keeps at most [default: 1000000].
        #[serde(default)]
        window_max_rows: Option<usize>,
    },
}

/// The rules of an alerts stage: `"builtin"`, a rules file, a list of those (layered in
/// order), or model rules written inline.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum RulesConfig {
    /// Model rules written in the topology.
    Inline(Vec<AlertRule>),
    /// `"builtin"` and rules files, layered in order.
    Layers(Vec<String>),
    /// `"builtin"` or one rules file.
    One(String),
}

impl RulesConfig {
    /// Where the rules come from.
    pub fn sources(&self) -> Vec<RuleSource> {
        let named = |s: &String| match s.as_str() {
            "builtin" => RuleSource::Builtin,
            path => RuleSource::File(PathBuf::from(path)),
        };
        match self {
            RulesConfig::Inline(rules) => vec![RuleSource::Inline(rules.clone())],
            RulesConfig::Layers(names) => names.iter().map(named).collect(),
            RulesConfig::One(name) => vec![named(name)],
        }
    }

    /// Make rules files relative to `base`.
    fn resolve(&mut self, base: &Path) {
        let fix = |s: &mut String| {
            if s != "builtin" && Path::new(s.as_str()).is_relative() {
                *s = base.join(&*s).display().to_string();
            }
        };
        match self {
            RulesConfig::Inline(_) => {}
            RulesConfig::Layers(names) => names.iter_mut().for_each(fix),
            RulesConfig::One(name) => fix(name),
        }
    }
}

/// A sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SinkConfig {
    /// The event store: each record kind to its table.
    Store {
        /// Upstream stages.
        inputs: Vec<String>,
    },
    /// Alerts as EVE JSON lines.
    Eve {
        /// The file to append to.
        path: PathBuf,
        /// Upstream stages.
        inputs: Vec<String>,
    },
    /// Records (scored events, alerts) produced to a Kafka topic.
    Kafka(KafkaSinkConfig),
    /// Alerts POSTed to an HTTP webhook through an on-disk spool.
    Webhook(WebhookSinkConfig),
    /// The analyst's console (HTTP API and web UI) over the store, served while the
    /// topology runs; the alerts of its inputs are pushed to its live stream as they
    /// are written.
    Dashboard(DashboardSinkConfig),
}

/// A dashboard sink: where the console listens and who may use it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardSinkConfig {
    /// Upstream stages: their alerts go live (other records are left to the store).
    pub inputs: Vec<String>,
    /// Where to listen (default `127.0.0.1:8787`); an address that is not loopback
    /// needs a token. `vigil run --serve ADDR` overrides it.
    #[serde(default = "default_console_listen")]
    pub listen: std::net::SocketAddr,
    /// The bearer token requests must carry: `env:NAME`, `file:PATH` or the value
    /// [default: $VIGIL_TOKEN].
    #[serde(default)]
    pub token: Option<String>,
}

fn default_console_listen() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 8787))
}

/// A webhook sink (see the module docs for its delivery contract).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSinkConfig {
    /// Upstream stages.
    pub inputs: Vec<String>,
    /// `http://host[:port]/path`; https is refused (use a TLS-terminating proxy).
    pub url: String,
    /// The spool directory; default `webhook-spool/<sink name>`, relative to the store.
    #[serde(default)]
    pub spool: Option<PathBuf>,
    /// Bytes of undelivered alerts the spool keeps at most (default 256 MiB); when it
    /// is full the sink waits (backpressure), it never drops.
    #[serde(default = "default_spool_bytes")]
    pub max_spool_bytes: u64,
    /// Milliseconds for one request: connect, send, response head (default 5000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Milliseconds before the first retry of an alert (default 500), doubled at each
    /// failure…
    #[serde(default = "default_retry_initial_ms")]
    pub retry_initial_ms: u64,
    /// …up to this (default 30000).
    #[serde(default = "default_retry_max_ms")]
    pub retry_max_ms: u64,
    /// Extra request headers; a value `env:NAME` is read from the environment,
    /// `file:PATH` from a file. Values are never logged.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Seconds the end of a run waits for the spool to drain (default 30); what is
    /// left stays spooled for the next run.
    #[serde(default = "default_drain_secs")]
    pub drain_secs: u64,
}

fn default_spool_bytes() -> u64 {
    256 << 20
}

fn default_timeout_ms() -> u64 {
    5000
}

fn default_retry_initial_ms() -> u64 {
    500
}

fn default_retry_max_ms() -> u64 {
    30_000
}

fn default_drain_secs() -> u64 {
    30
}

/// A secret setting's value: `env:NAME` from the environment, `file:PATH` from a file
/// (trimmed), anything else as written; errors name `setting`, never the value.
pub fn secret_value(setting: &str, value: &str) -> anyhow::Result<String> {
    use anyhow::Context;
    if let Some(name) = value.strip_prefix("env:") {
        return std::env::var(name)
            .with_context(|| format!("{setting}: environment variable {name} is not set"));
    }
    if let Some(path) = value.strip_prefix("file:") {
        return std::fs::read_to_string(path)
            .map(|s| s.trim().to_string())
            .with_context(|| format!("{setting}: cannot read {path}"));
    }
    Ok(value.to_string())
}

/// A Kafka sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkConfig {
    /// Upstream stages.
    pub inputs: Vec<String>,
    /// Bootstrap brokers, comma-separated.
    pub brokers: String,
    /// The topic.
    pub topic: String,
    /// `json` (default: one JSON object per row, keyed by `community_id`, entity or
    /// series) or `arrow` (one Arrow IPC stream per batch).
    #[serde(default)]
    pub format: Option<String>,
    /// librdkafka settings passed through, as for the Kafka source.
    #[serde(default)]
    pub librdkafka: BTreeMap<String, String>,
}

impl TopologyConfig {
    /// Parse a topology; errors name the file and the line.
    pub fn from_toml(text: &str, origin: &Path) -> anyhow::Result<TopologyConfig> {
        toml::from_str(text).map_err(|e| anyhow::anyhow!("{}: {e}", origin.display()))
    }

    /// Read and parse a topology file with the environment's `VIGIL_…` overrides
    /// ([`super::env_overrides`]); its relative paths are made relative to the file's
    /// directory.
    pub fn from_path(path: &Path) -> anyhow::Result<TopologyConfig> {
        let (text, table, applied) = Self::read_with_overrides(path)?;
        let mut config = match applied.is_empty() {
            true => Self::from_toml(&text, path)?,
            false => {
                tracing::info!(overrides = ?applied, "settings from the environment");
                let origin = format!("{} (with {})", path.display(), applied.join(", "));
                table.try_into().map_err(|e| anyhow::anyhow!("{origin}: {e}"))?
            }
        };
        let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        config.resolve_paths(base);
        Ok(config)
    }

    /// The topology file as the run sees it (the environment's overrides applied), with
    /// its secrets redacted ([`super::redact`]): what `vigil run --print-config` shows.
    pub fn effective_text(path: &Path) -> anyhow::Result<String> {
        let (_, table, _) = Self::read_with_overrides(path)?;
        Ok(toml::to_string(&super::redact::redact(&table))?)
    }

    /// The file's text, its table with the environment's overrides, and those applied.
    fn read_with_overrides(path: &Path) -> anyhow::Result<(String, toml::Table, Vec<String>)> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let mut table: toml::Table =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let applied = super::env_overrides::apply(&mut table, std::env::vars())?;
        Ok((text, table, applied))
    }

    /// Make relative input paths, model directories, mapping files and the store
    /// directory relative to `base` (`-`, stdin, stays). EVE paths and webhook spools
    /// stay relative: they are relative to the store.
    pub fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() && p.as_os_str() != "-" {
                *p = base.join(&*p);
            }
        };
        if let Some(d) = &mut self.store.dir {
            fix(d);
        }
        for s in self.sources.values_mut() {
            match s {
                SourceConfig::Pcap { paths, .. } => paths.iter_mut().for_each(fix),
                SourceConfig::Interface { .. } => {}
                SourceConfig::FlowCsv { path, mapping } => {
                    fix(path);
                    if vigil_ingest::flow_records::ColumnMapping::builtin(mapping).is_none() {
                        let mut m = PathBuf::from(&*mapping);
                        fix(&mut m);
                        *mapping = m.display().to_string();
                    }
                }
                SourceConfig::Metrics { path } | SourceConfig::Actions { path, .. } => fix(path),
                SourceConfig::Kafka(k) => {
                    let builtin = KafkaFormat::NAMES.contains(&k.format.as_str())
                        || vigil_ingest::flow_records::ColumnMapping::builtin(&k.format).is_some();
                    if !builtin {
                        let mut m = PathBuf::from(&k.format);
                        fix(&mut m);
                        k.format = m.display().to_string();
                    }
                }
            }
        }
        self.models.iter_mut().for_each(fix);
        for t in self.transforms.values_mut() {
            match t {
                // A bare name is looked up later, unless it is a directory here.
                TransformConfig::Score { model, .. } => {
                    let here = base.join(&*model).join("manifest.json").is_file();
                    if here || !vigil_models::locate::is_model_name(model) {
                        fix(model)
                    }
                }
                TransformConfig::Alerts { rules, .. } => rules.resolve(base),
            }
        }
    }

    /// Turn every score stage's model name into the directory it names (see
    /// [`TopologyConfig::models`]); returns the problem of each stage whose model
    /// name is found nowhere, by stage.
    pub fn resolve_models(&mut self) -> BTreeMap<String, String> {
        let mut problems = BTreeMap::new();
        for (name, t) in self.transforms.iter_mut() {
            if let TransformConfig::Score { model, .. } = t {
                match vigil_models::locate::resolve_model(model, &self.models) {
                    Ok(dir) => *model = dir,
                    Err(e) => {
                        drop(problems.insert(name.clone(), format!("transform `{name}`: {e}")))
                    }
                }
            }
        }
        problems
    }
}
