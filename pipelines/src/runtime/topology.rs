//! Building a topology from its configuration: every check that can fail is made
//! before anything runs (unknown stage or model, a cycle, a model fed records it
//! cannot read, a missing file, a flow CSV without the mapping's columns, a rule
//! naming a model no stage runs, a model name found nowhere, a bad listen address, a webhook URL that is not
//! http:// or a header that cannot be resolved, a second dashboard sink or one on an
//! open address without a token), each naming the stage, all reported at once.
//! Building creates nothing on disk.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use vigil_models::Model;
use vigil_tokenizers::NetfoundConfig;

use super::config::{SinkConfig, SourceConfig, StoreConfig, TopologyConfig, TransformConfig};
use super::record::RecordKind;
use super::sinks::{EveWriter, KafkaWriter, Sink, StoreSink, WebhookSink};
use super::sources::KafkaFormat;
use super::sources::Source;
use super::store_sink::{DEFAULT_FLUSH_AGE, DEFAULT_FLUSH_ROWS};
use super::transforms::{ModelReload, NetfoundTransform, Transform, load_model};
use crate::store::{Partitioning, StoreWriter, Table, default_store_dir};

/// A checked topology, ready to run.
pub struct Topology {
    /// The configuration it came from.
    pub config: TopologyConfig,
    /// The store directory.
    pub store_dir: PathBuf,
    /// Sources by name.
    pub sources: Vec<(String, Source)>,
    /// Transforms by name, with their inputs.
    pub transforms: Vec<(String, Transform, Vec<String>)>,
    /// Sinks by name, with their inputs.
    pub sinks: Vec<(String, Sink, Vec<String>)>,
    /// Loaded models by transform name (for the summary).
    pub models: BTreeMap<String, Arc<Model>>,
    /// The batcher of each scoring transform.
    pub batching: BTreeMap<String, ScoreBatching>,
    /// What reloads each scoring transform's model when its artifact changes.
    pub reloads: BTreeMap<String, ModelReload>,
    /// Batches scored at once (the scoring pool's size).
    pub scoring_workers: usize,
    /// The console a `dashboard` sink serves, its live feed the sink's.
    pub console: Option<vigil_dashboards::ConsoleConfig>,
}

fn inputs_of(t: &TransformConfig) -> &[String] {
    match t {
        TransformConfig::Score { inputs, .. } | TransformConfig::Alerts { inputs, .. } => inputs,
    }
}

fn sink_inputs(s: &SinkConfig) -> &[String] {
    match s {
        SinkConfig::Store { inputs } | SinkConfig::Eve { inputs, .. } => inputs,
        SinkConfig::Kafka(k) => &k.inputs,
        SinkConfig::Webhook(w) => &w.inputs,
        SinkConfig::Dashboard(d) => &d.inputs,
    }
}

/// The problems found in a topology; all are reported at once.
#[derive(Debug, Default)]
struct Problems(Vec<String>);

impl Problems {
    fn add(&mut self, problem: impl std::fmt::Display) {
        self.0.push(problem.to_string());
    }

    /// Keep the value, or note the error.
    fn check<T>(&mut self, r: anyhow::Result<T>) -> Option<T> {
        r.map_err(|e| self.add(format!("{e:#}"))).ok()
    }

    fn into_result(self) -> anyhow::Result<()> {
        match self.0.len() {
            0 => Ok(()),
            1 => bail!("{}", self.0[0]),
            n => bail!("the topology has {n} problems:\n  - {}", self.0.join("\n  - ")),
        }
    }
}

/// How a scoring transform's batcher cuts.
#[derive(Debug, Clone, Copy)]
pub struct ScoreBatching {
    /// Rows at most.
    pub max_rows: usize,
    /// Wait at most.
    pub max_delay: std::time::Duration,
}

impl Topology {
    /// Check `config` and build its stages. Every problem is reported at once, and
    /// nothing is created on disk (the store, EVE files and webhook spools are made
    /// when the run starts).
    pub fn build(mut config: TopologyConfig) -> anyhow::Result<Topology> {
        let mut p = Problems::default();
        let unfound = config.resolve_models();
        unfound.values().for_each(|e| p.add(e.clone()));
        if config.sources.is_empty() {
            p.add("the topology has no sources");
        }
        if config.sinks.is_empty() {
            p.add("the topology has no sinks");
        }
        if config.batch.max_rows == 0 {
            p.add("batch.max_rows must be at least 1");
        }
        if config.channel_capacity == 0 {
            p.add("channel_capacity must be at least 1");
        }
        if config.scoring.workers == Some(0) {
            p.add("scoring.workers must be at least 1");
        }
        if let Some(h) = &config.http
            && h.listen.parse::<std::net::SocketAddr>().is_err()
        {
            p.add(format!(
                "http.listen `{}` is not an address with a port (e.g. 127.0.0.1:9187)",
                h.listen
            ));
        }
        let mut names = BTreeSet::new();
        for n in config.sources.keys().chain(config.transforms.keys()).chain(config.sinks.keys()) {
            if !names.insert(n.as_str()) {
                p.add(format!("the name `{n}` is used twice"));
            }
        }
        // Inputs must name sources or transforms.
        let mut wiring = Problems::default();
        let mut check_inputs = |stage: &str, inputs: &[String]| {
            if inputs.is_empty() {
                wiring.add(format!("`{stage}` has no inputs"));
            }
            for i in inputs {
                if !config.sources.contains_key(i) && !config.transforms.contains_key(i) {
                    if config.sinks.contains_key(i) {
                        wiring.add(format!("`{stage}` reads from `{i}`, which is a sink"));
                    } else {
                        wiring.add(format!(
                            "`{stage}` reads from `{i}`, which is not a source or transform"
                        ));
                    }
                }
            }
        };
        for (n, t) in &config.transforms {
            check_inputs(n, inputs_of(t));
        }
        for (n, s) in &config.sinks {
            check_inputs(n, sink_inputs(s));
        }
        let wired = wiring.0.is_empty();
        p.0.extend(wiring.0);
        let order = if wired { p.check(transform_order(&config)) } else { None };

        // Every model is loaded (and every problem with one reported), in any case.
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let scoring_workers = config.scoring.workers.unwrap_or(cores).max(1);
        let mut models = BTreeMap::new();
        let mut reloads = BTreeMap::new();
        let mut built: BTreeMap<String, Transform> = BTreeMap::new();
        for (name, tc) in &config.transforms {
            if matches!(tc, TransformConfig::Alerts { .. }) || unfound.contains_key(name) {
                continue;
            }
            let Some(model) = p.check(load_model(name, tc, scoring_workers)) else { continue };
            if let Some(t) = p.check(Transform::new(name, tc, model.clone())) {
                built.insert(name.clone(), t);
            }
            if let Some(m) = model {
                let artifact = m.path().parent().unwrap_or(Path::new("."));
                reloads.insert(name.clone(), ModelReload::new(name, tc, scoring_workers, artifact));
                models.insert(name.clone(), m);
            }
        }
        // Alerts stages read the models run before them (their manifests' thresholds).
        for (name, tc) in &config.transforms {
            if !matches!(tc, TransformConfig::Alerts { .. }) {
                continue;
            }
            let upstream = upstream_stage_models(&config, &models, name);
            if let Some(t) = p.check(Transform::alerts(name, tc, &upstream)) {
                built.insert(name.clone(), t);
            }
        }

        // The kinds each stage emits, in dependency order, once the wiring is sound.
        let mut emits: BTreeMap<String, BTreeSet<RecordKind>> = BTreeMap::new();
        for (n, s) in &config.sources {
            let kind = match s {
                SourceConfig::Pcap { .. }
                | SourceConfig::Interface { .. }
                | SourceConfig::FlowCsv { .. } => RecordKind::Flows,
                SourceConfig::Metrics { .. } => RecordKind::Metrics,
                SourceConfig::Actions { .. } => RecordKind::Actions,
                SourceConfig::Kafka(k) => match KafkaFormat::parse(&k.format) {
                    Ok(f) => f.kind(),
                    Err(_) => RecordKind::Flows, // reported when the source is made
                },
            };
            emits.insert(n.clone(), [kind, RecordKind::DeadLetters].into());
        }
        for name in order.iter().flatten() {
            let tc = &config.transforms[name];
            let fed: BTreeSet<RecordKind> = inputs_of(tc)
                .iter()
                .flat_map(|i| emits.get(i).into_iter().flatten().copied())
                .collect();
            let out = match (tc, built.get(name)) {
                (TransformConfig::Alerts { .. }, _) => {
                    for i in inputs_of(tc) {
                        if !matches!(config.transforms.get(i), Some(TransformConfig::Score { .. }))
                        {
                            p.add(format!(
                                "transform `{name}`: alert rules read scored records; `{i}` is not a score transform"
                            ));
                        }
                    }
                    [RecordKind::Alerts].into()
                }
                (_, Some(t)) => {
                    if let Some(kind) = t.input_kind()
                        && !fed.contains(&kind)
                    {
                        let family = models
                            .get(name)
                            .map(|m| m.manifest().family.to_string())
                            .unwrap_or_default();
                        let got: Vec<String> = fed
                            .iter()
                            .filter(|k| **k != RecordKind::DeadLetters)
                            .map(|k| k.to_string())
                            .collect();
                        p.add(format!(
                            "transform `{name}`: a {family} model reads {kind}, but its inputs give {}",
                            if got.is_empty() { "nothing".to_string() } else { got.join(", ") }
                        ));
                    }
                    fed
                }
                (_, None) => fed,
            };
            emits.insert(name.clone(), out);
        }

        // netFound needs packet tokens: its inputs must lead back to capture sources only.
        let mut tokens: BTreeMap<String, NetfoundConfig> = BTreeMap::new();
        for (name, t) in &built {
            if !matches!(t, Transform::Netfound(_)) || !wired {
                continue;
            }
            let Some(wanted) = p.check(NetfoundTransform::tokenizer_config(&models[name])) else {
                continue;
            };
            for src in upstream_sources(&config, name) {
                match &config.sources[&src] {
                    SourceConfig::Pcap { .. } | SourceConfig::Interface { .. } => {}
                    SourceConfig::Kafka(k) if k.format == "pcap" => {}
                    _ => p.add(format!(
                        "transform `{name}`: netFound reads packets, but source `{src}` gives flow records without them"
                    )),
                }
                if let Some(prev) = tokens.insert(src.clone(), wanted.clone())
                    && prev != wanted
                {
                    p.add(format!(
                        "source `{src}` feeds netFound models that want different tokenizer settings"
                    ));
                }
            }
        }
        let mut sources = Vec::new();
        for (n, s) in &config.sources {
            let source =
                Source::new(s, tokens.get(n).cloned()).with_context(|| format!("source `{n}`"));
            if let Some(source) = p.check(source) {
                sources.push((n.clone(), source));
            }
        }

        let store_dir = config.store.dir.clone().unwrap_or_else(default_store_dir);
        let mut sinks = Vec::new();
        let mut spools: BTreeMap<PathBuf, &str> = BTreeMap::new();
        let mut console: Option<(String, vigil_dashboards::ConsoleConfig)> = None;
        for (n, s) in &config.sinks {
            let fed: BTreeSet<RecordKind> = sink_inputs(s)
                .iter()
                .flat_map(|i| emits.get(i).into_iter().flatten().copied())
                .collect();
            let sink = match s {
                SinkConfig::Store { .. } => {
                    p.check(
                        creatable(&store_dir).with_context(|| format!("sink `{n}`: the store")),
                    );
                    let Some(writer) =
                        p.check(store_writer(&store_dir, &config.sensor, &config.store))
                    else {
                        continue;
                    };
                    let Some(make_room) = p.check(make_room_tables(&config.store)) else {
                        continue;
                    };
                    Sink::Store(
                        StoreSink::new(
                            writer,
                            config.store.flush_rows.unwrap_or(DEFAULT_FLUSH_ROWS),
                            config.store.flush_ms.map_or(DEFAULT_FLUSH_AGE, Duration::from_millis),
                        )
                        .make_room(make_room),
                    )
                }
                SinkConfig::Eve { path, .. } => {
                    if wired && !fed.contains(&RecordKind::Alerts) {
                        p.add(format!(
                            "sink `{n}` writes alerts, but none of its inputs raises any (add an alerts transform)"
                        ));
                    }
                    let path = store_dir.join(path);
                    p.check(creatable(&path).with_context(|| format!("sink `{n}`")));
                    Sink::Eve(EveWriter::new(&path))
                }
                SinkConfig::Kafka(k) => {
                    let Some(w) =
                        p.check(KafkaWriter::new(k).with_context(|| format!("sink `{n}`")))
                    else {
                        continue;
                    };
                    Sink::Kafka(Box::new(w))
                }
                SinkConfig::Webhook(w) => {
                    if wired && !fed.contains(&RecordKind::Alerts) {
                        p.add(format!(
                            "sink `{n}` posts alerts, but none of its inputs raises any (add an alerts transform)"
                        ));
                    }
                    let Some(hook) = p.check(
                        WebhookSink::new(n, w, &store_dir)
                            .with_context(|| format!("sink `{n}` (webhook {})", w.url)),
                    ) else {
                        continue;
                    };
                    let spool = hook.spool().to_path_buf();
                    p.check(creatable(&spool).with_context(|| format!("sink `{n}`: the spool")));
                    let key = std::path::absolute(&spool).unwrap_or(spool.clone());
                    if let Some(other) = spools.insert(key, n) {
                        p.add(format!(
                            "sinks `{other}` and `{n}` share the spool {}",
                            spool.display()
                        ));
                    }
                    Sink::Webhook(Box::new(hook))
                }
                SinkConfig::Dashboard(d) => {
                    // Without alerts among its inputs it still serves the store.
                    let Some(c) =
                        p.check(console_config(n, d).with_context(|| format!("sink `{n}`")))
                    else {
                        continue;
                    };
                    let live = c.live.clone().expect("a dashboard sink's console has a feed");
                    if let Some((other, _)) = console.replace((n.clone(), c)) {
                        p.add(format!("sinks `{other}` and `{n}` both serve a console: keep one"));
                    }
                    Sink::Dashboard(live)
                }
            };
            sinks.push((n.clone(), sink, sink_inputs(s).to_vec()));
        }
        p.into_result()?;

        let mut batching = BTreeMap::new();
        for (name, tc) in &config.transforms {
            if let TransformConfig::Score { max_batch, max_delay_ms, .. } = tc {
                let b = ScoreBatching {
                    max_rows: max_batch.unwrap_or(DEFAULT_MAX_BATCH),
                    max_delay: std::time::Duration::from_millis(
                        max_delay_ms.unwrap_or(DEFAULT_MAX_DELAY_MS),
                    ),
                };
                batching.insert(name.clone(), b);
            }
        }
        let transforms = order
            .unwrap_or_default()
            .into_iter()
            .filter_map(|n| {
                let t = built.remove(&n)?;
                Some((n.clone(), t, inputs_of(&config.transforms[&n]).to_vec()))
            })
            .collect();
        Ok(Topology {
            config,
            store_dir,
            sources,
            transforms,
            sinks,
            models,
            batching,
            reloads,
            scoring_workers,
            console: console.map(|(_, c)| c),
        })
    }
}

/// The console of a dashboard sink `name`: its address, its token (the setting, else
/// `$VIGIL_TOKEN`; required off loopback) and a new live feed.
fn console_config(
    name: &str,
    d: &super::config::DashboardSinkConfig,
) -> anyhow::Result<vigil_dashboards::ConsoleConfig> {
    let token = match &d.token {
        Some(t) => Some(super::config::secret_value(&format!("sinks.{name}.token"), t)?),
        None => vigil_dashboards::access::env_token(),
    };
    vigil_dashboards::Access::new(d.listen, token.clone())?;
    Ok(vigil_dashboards::ConsoleConfig {
        listen: d.listen,
        token,
        live: Some(vigil_dashboards::LiveAlerts::new()),
        ..Default::default()
    })
}

/// Rows a scoring batch holds at most, by default.
pub const DEFAULT_MAX_BATCH: usize = 1024;

/// Milliseconds a row may wait for its scoring batch, by default.
pub const DEFAULT_MAX_DELAY_MS: u64 = 100;

/// The store writer of `sensor`, each table in the layout it has on disk, else the
/// configured one (an error when they differ, or for an unknown table name).
fn store_writer(
    dir: &std::path::Path,
    sensor: &str,
    config: &StoreConfig,
) -> anyhow::Result<StoreWriter> {
    let mut writer = StoreWriter::new(dir, sensor);
    for (name, layout) in &config.partitions {
        let table: Table = name.parse().map_err(|e| anyhow::anyhow!("store.partitions: {e}"))?;
        writer = writer.with_partitioning(table, Partitioning::resolve(dir, table, Some(*layout))?);
    }
    Ok(writer)
}

/// The tables whose retention lets a store sink remove their oldest files on a full disk.
fn make_room_tables(config: &StoreConfig) -> anyhow::Result<Vec<Table>> {
    let allowed = config.retention.iter().filter(|(_, r)| r.make_room);
    allowed
        .map(|(name, _)| name.parse().map_err(|e| anyhow::anyhow!("store.retention: {e}")))
        .collect()
}

/// Whether `path` exists or could be created: its nearest existing ancestor is a
/// directory. Nothing is created.
fn creatable(path: &std::path::Path) -> anyhow::Result<()> {
    let abs = std::path::absolute(path)?;
    let existing = abs.ancestors().find(|a| a.exists()).unwrap_or(std::path::Path::new("/"));
    if existing == abs {
        return Ok(());
    }
    anyhow::ensure!(
        existing.is_dir(),
        "{} cannot be created: {} is not a directory",
        path.display(),
        existing.display()
    );
    Ok(())
}

/// The models run by score transforms before `stage`, by transform name.
fn upstream_stage_models(
    config: &TopologyConfig,
    models: &BTreeMap<String, Arc<Model>>,
    stage: &str,
) -> BTreeMap<String, Arc<Model>> {
    let mut out = BTreeMap::new();
    let mut todo: Vec<String> =
        config.transforms.get(stage).map_or(Vec::new(), |t| inputs_of(t).to_vec());
    let mut seen = BTreeSet::new();
    while let Some(s) = todo.pop() {
        if !seen.insert(s.clone()) {
            continue;
        }
        if let Some(t) = config.transforms.get(&s) {
            if let Some(m) = models.get(&s) {
                out.insert(s.clone(), m.clone());
            }
            todo.extend(inputs_of(t).iter().cloned());
        }
    }
    out
}

/// Transforms in an order where each comes after its inputs; a cycle is an error.
fn transform_order(config: &TopologyConfig) -> anyhow::Result<Vec<String>> {
    let mut order = Vec::new();
    let mut state: BTreeMap<&str, u8> = BTreeMap::new(); // 1 visiting, 2 done
    fn visit<'a>(
        n: &'a str,
        config: &'a TopologyConfig,
        state: &mut BTreeMap<&'a str, u8>,
        order: &mut Vec<String>,
    ) -> anyhow::Result<()> {
        match state.get(n) {
            Some(2) => return Ok(()),
            Some(_) => bail!("the transforms form a cycle through `{n}`"),
            None => {}
        }
        state.insert(n, 1);
        for i in inputs_of(&config.transforms[n]) {
            if config.transforms.contains_key(i) {
                visit(i, config, state, order)?;
            }
        }
        state.insert(n, 2);
        order.push(n.to_string());
        Ok(())
    }
    for n in config.transforms.keys() {
        visit(n, config, &mut state, &mut order)?;
    }
    Ok(order)
}

/// The sources a stage reads from, through any transforms.
fn upstream_sources(config: &TopologyConfig, stage: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut todo = vec![stage.to_string()];
    let mut seen = BTreeSet::new();
    while let Some(s) = todo.pop() {
        if !seen.insert(s.clone()) {
            continue;
        }
        if config.sources.contains_key(&s) {
            out.insert(s);
        } else if let Some(t) = config.transforms.get(&s) {
            todo.extend(inputs_of(t).iter().cloned());
        }
    }
    out
}
