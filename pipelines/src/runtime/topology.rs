//! Building a topology from its configuration: every check that can fail is made
//! before anything runs (unknown stage or model, a cycle, a model fed records it
//! cannot read, a missing file), each error naming the stage.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use vigil_models::Model;
use vigil_tokenizers::NetfoundConfig;

use super::config::{SinkConfig, SourceConfig, TopologyConfig, TransformConfig};
use super::record::RecordKind;
use super::sinks::{EveWriter, Sink};
use super::sources::Source;
use super::transforms::{NetfoundTransform, Transform, load_model};
use crate::store::{StoreWriter, default_store_dir};

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
}

fn inputs_of(t: &TransformConfig) -> &[String] {
    match t {
        TransformConfig::Score { inputs, .. } | TransformConfig::Alerts { inputs, .. } => inputs,
    }
}

fn sink_inputs(s: &SinkConfig) -> &[String] {
    match s {
        SinkConfig::Store { inputs } | SinkConfig::Eve { inputs, .. } => inputs,
    }
}

impl Topology {
    /// Check `config` and build its stages.
    pub fn build(config: TopologyConfig) -> anyhow::Result<Topology> {
        anyhow::ensure!(!config.sources.is_empty(), "the topology has no sources");
        anyhow::ensure!(!config.sinks.is_empty(), "the topology has no sinks");
        anyhow::ensure!(config.batch.max_rows > 0, "batch.max_rows must be at least 1");
        anyhow::ensure!(config.channel_capacity > 0, "channel_capacity must be at least 1");
        let mut names = BTreeSet::new();
        for n in config.sources.keys().chain(config.transforms.keys()).chain(config.sinks.keys()) {
            anyhow::ensure!(names.insert(n.as_str()), "the name `{n}` is used twice");
        }
        // Inputs must name sources or transforms.
        let check_inputs = |stage: &str, inputs: &[String]| -> anyhow::Result<()> {
            anyhow::ensure!(!inputs.is_empty(), "`{stage}` has no inputs");
            for i in inputs {
                if !config.sources.contains_key(i) && !config.transforms.contains_key(i) {
                    if config.sinks.contains_key(i) {
                        bail!("`{stage}` reads from `{i}`, which is a sink");
                    }
                    bail!("`{stage}` reads from `{i}`, which is not a source or transform");
                }
            }
            Ok(())
        };
        for (n, t) in &config.transforms {
            check_inputs(n, inputs_of(t))?;
        }
        for (n, s) in &config.sinks {
            check_inputs(n, sink_inputs(s))?;
        }
        let order = transform_order(&config)?;

        // Models and transforms, in dependency order, with the kinds each stage emits.
        let mut models = BTreeMap::new();
        let mut emits: BTreeMap<String, BTreeSet<RecordKind>> = BTreeMap::new();
        for (n, s) in &config.sources {
            let kind = match s {
                SourceConfig::Pcap { .. }
                | SourceConfig::Interface { .. }
                | SourceConfig::FlowCsv { .. } => RecordKind::Flows,
                SourceConfig::Metrics { .. } => RecordKind::Metrics,
                SourceConfig::Actions { .. } => RecordKind::Actions,
            };
            emits.insert(n.clone(), [kind, RecordKind::DeadLetters].into());
        }
        let mut transforms = Vec::new();
        for name in &order {
            let tc = &config.transforms[name];
            let model = load_model(name, tc)?;
            let t = Transform::new(name, tc, model.clone())?;
            let fed: BTreeSet<RecordKind> =
                inputs_of(tc).iter().flat_map(|i| emits[i].iter().copied()).collect();
            let out = match t.input_kind() {
                Some(kind) => {
                    if !fed.contains(&kind) {
                        let family =
                            model.as_ref().map(|m| m.manifest().family.clone()).unwrap_or_default();
                        let got: Vec<String> = fed
                            .iter()
                            .filter(|k| **k != RecordKind::DeadLetters)
                            .map(|k| k.to_string())
                            .collect();
                        bail!(
                            "transform `{name}`: a {family} model reads {kind}, but its inputs give {}",
                            if got.is_empty() { "nothing".to_string() } else { got.join(", ") }
                        );
                    }
                    fed
                }
                None => {
                    for i in inputs_of(tc) {
                        anyhow::ensure!(
                            matches!(config.transforms.get(i), Some(TransformConfig::Score { .. })),
                            "transform `{name}`: alert rules read scored records; `{i}` is not a score transform"
                        );
                    }
                    [RecordKind::Alerts].into()
                }
            };
            if let Some(m) = model {
                models.insert(name.clone(), m);
            }
            emits.insert(name.clone(), out);
            transforms.push((name.clone(), t, inputs_of(tc).to_vec()));
        }

        // netFound needs packet tokens: its inputs must lead back to capture sources only.
        let mut tokens: BTreeMap<String, NetfoundConfig> = BTreeMap::new();
        for (name, t, _) in &transforms {
            if let Transform::Netfound(_) = t {
                let model = &models[name];
                let wanted = NetfoundTransform::tokenizer_config(model)?;
                for src in upstream_sources(&config, name) {
                    match &config.sources[&src] {
                        SourceConfig::Pcap { .. } | SourceConfig::Interface { .. } => {}
                        _ => bail!(
                            "transform `{name}`: netFound reads packets, but source `{src}` gives flow records without them"
                        ),
                    }
                    if let Some(prev) = tokens.insert(src.clone(), wanted.clone())
                        && prev != wanted
                    {
                        bail!(
                            "source `{src}` feeds netFound models that want different tokenizer settings"
                        );
                    }
                }
            }
        }
        let mut sources = Vec::new();
        for (n, s) in &config.sources {
            let source =
                Source::new(s, tokens.get(n).cloned()).with_context(|| format!("source `{n}`"))?;
            sources.push((n.clone(), source));
        }

        let store_dir = config.store.dir.clone().unwrap_or_else(default_store_dir);
        let mut sinks = Vec::new();
        for (n, s) in &config.sinks {
            let fed: BTreeSet<RecordKind> =
                sink_inputs(s).iter().flat_map(|i| emits[i].iter().copied()).collect();
            let sink = match s {
                SinkConfig::Store { .. } => {
                    std::fs::create_dir_all(&store_dir).with_context(|| {
                        format!("sink `{n}`: cannot create the store {}", store_dir.display())
                    })?;
                    Sink::Store(StoreWriter::new(&store_dir, &config.sensor))
                }
                SinkConfig::Eve { path, .. } => {
                    anyhow::ensure!(
                        fed.contains(&RecordKind::Alerts),
                        "sink `{n}` writes alerts, but none of its inputs raises any (add an alerts transform)"
                    );
                    Sink::Eve(EveWriter::open(path).with_context(|| format!("sink `{n}`"))?)
                }
            };
            sinks.push((n.clone(), sink, sink_inputs(s).to_vec()));
        }
        Ok(Topology { config, store_dir, sources, transforms, sinks, models })
    }
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
