//! Scoring flows: netFound over each flow's packet tokens, FlowTransformer over flow
//! windows.

use std::sync::Arc;

use anyhow::Context;
use vigil_ingest::flow_records::{FlowFeatures, features_for_mapping, nf_v2_features};
use vigil_models::Model;
use vigil_tokenizers::flow_window::{FlowWindowConfig, FlowWindowTokenizer, GroupBy, Preprocessor};
use vigil_tokenizers::{FlowTokens, NetfoundConfig};

use super::verdict::{VerdictSpec, last_struct, with_column};
use crate::runtime::record::Envelope;
use crate::runtime::stats::StageStats;
use crate::score::{
    NetfoundShape, score_flow_windows, score_netfound, scored_flow_schema, scored_netfound_schema,
};

/// netFound: the flows' tokens (from the capture source) → traffic class, malicious
/// probability (and embedding when asked).
pub struct NetfoundTransform {
    model: Arc<Model>,
    shape: NetfoundShape,
    verdict: VerdictSpec,
}

impl NetfoundTransform {
    /// A transform scoring with `model`; `embedding` keeps the embedding in the rows.
    pub fn new(model: Arc<Model>, embedding: bool) -> anyhow::Result<Self> {
        let shape = NetfoundShape::from_manifest(model.manifest())?;
        let mut keep = vec!["label", "score", "malicious"];
        if embedding {
            keep.push("embedding");
        }
        let verdict = VerdictSpec::new(&model, &scored_netfound_schema(&model), &keep)?;
        Ok(NetfoundTransform { model, shape, verdict })
    }

    /// The tokenizer settings the model wants from the capture source.
    pub fn tokenizer_config(model: &Model) -> anyhow::Result<NetfoundConfig> {
        crate::score::netfound_tokenizer_config(model.manifest(), &[])
    }

    /// Add the verdict column to a flows batch (the tokens were made by the source).
    pub fn apply(&self, env: Envelope, stats: &StageStats) -> anyhow::Result<Envelope> {
        let rows = env.rows();
        let tokens = env.tokens.clone().with_context(|| {
            format!(
                "model {}: the flows carry no packet tokens (is the source a capture?)",
                self.model.name()
            )
        })?;
        let mut flows: Vec<FlowTokens> = Vec::new();
        let positions: Vec<Option<u32>> = tokens
            .iter()
            .map(|t| {
                t.as_ref().map(|t| {
                    flows.push(t.clone());
                    (flows.len() - 1) as u32
                })
            })
            .collect();
        anyhow::ensure!(positions.len() == rows, "tokens and flow rows differ in number");
        let verdict = if flows.is_empty() {
            self.verdict.build(None, &positions)?
        } else {
            let scored = stats.scoring(|| score_netfound(&self.model, &flows, self.shape))?;
            self.verdict.build(Some(&last_struct(&scored)?), &positions)?
        };
        let batch = with_column(&env.batch, &self.verdict.column, Arc::new(verdict))?;
        Ok(Envelope { batch, ..env })
    }
}

/// FlowTransformer: each flow with the W−1 flows before it (per the model's grouping)
/// → class and probability.
pub struct FlowTransform {
    model: Arc<Model>,
    tokenizer: FlowWindowTokenizer,
    features: fn(&vigil_ingest::FlowRecord) -> FlowFeatures,
    verdict: VerdictSpec,
}

impl FlowTransform {
    /// A transform scoring with `model`, windows built with its manifest's settings.
    pub fn new(model: Arc<Model>) -> anyhow::Result<Self> {
        let prep = &model.manifest().preprocessing;
        let preprocessor = Preprocessor::from_json(&prep["preprocessor"].to_string())
            .with_context(|| format!("model {}: preprocessing.preprocessor", model.name()))?;
        let window = prep["window"].as_u64().context("the manifest has no preprocessing.window")?;
        let group_by = match prep["group_by"].as_str().unwrap_or("none") {
            "none" => GroupBy::None,
            "src" => GroupBy::SrcAddr,
            "dst" => GroupBy::DstAddr,
            "src_dst" | "src-dst" => GroupBy::SrcDst,
            other => {
                anyhow::bail!("model {}: preprocessing.group_by `{other}` is unknown", model.name())
            }
        };
        let config =
            FlowWindowConfig { window: window as usize, group_by, ..FlowWindowConfig::default() };
        let tokenizer = FlowWindowTokenizer::new(preprocessor, config)?;
        let verdict =
            VerdictSpec::new(&model, &scored_flow_schema(model.name()), &["label", "score"])?;
        // Flows from a capture get the features of the model's mapping where our flows can
        // provide them (else NF-v2, and the preprocessor names what is missing).
        let features =
            prep["mapping"].as_str().and_then(features_for_mapping).unwrap_or(nf_v2_features);
        Ok(FlowTransform { model, tokenizer, features, verdict })
    }

    /// Add the verdict column to a flows batch.
    pub fn apply(&mut self, env: Envelope, stats: &StageStats) -> anyhow::Result<Envelope> {
        let (recs, windows) = stats.tokenizing(|| -> anyhow::Result<_> {
            let recs: Vec<FlowFeatures> = match &env.features {
                Some(f) => f.as_ref().clone(),
                None => {
                    vigil_ingest::flows_from_batch(&env.batch)?.iter().map(self.features).collect()
                }
            };
            let windows =
                recs.iter().map(|r| self.tokenizer.push(r)).collect::<Result<Vec<_>, _>>()?;
            Ok((recs, windows))
        })?;
        let positions: Vec<Option<u32>> = (0..recs.len() as u32).map(Some).collect();
        let verdict = if windows.is_empty() {
            self.verdict.build(None, &positions)?
        } else {
            let scored = stats.scoring(|| score_flow_windows(&self.model, &windows))?;
            self.verdict.build(Some(&last_struct(&scored)?), &positions)?
        };
        let batch = with_column(&env.batch, &self.verdict.column, Arc::new(verdict))?;
        Ok(Envelope { batch, ..env })
    }
}
