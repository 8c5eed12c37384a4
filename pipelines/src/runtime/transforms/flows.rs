//! Scoring flows: netFound over each flow's packet tokens, FlowTransformer over flow
//! windows. The family's [`Scorer`] does the scoring; this adds its verdicts to the
//! flow rows.

use std::sync::Arc;

use anyhow::Context;
use vigil_ingest::flow_records::{FlowFeatures, features_for_mapping, nf_v2_features};
use vigil_models::{FlowScorer, Model, NetfoundScorer, Scorer};
use vigil_tokenizers::flow_window::FlowWindowTokenizer;
use vigil_tokenizers::{FlowTokens, NetfoundConfig};

use super::verdict::{VerdictSpec, with_column};
use crate::runtime::record::Envelope;
use crate::runtime::stats::StageStats;

/// netFound: the flows' tokens (from the capture source) → traffic class, class
/// probabilities, malicious probability (and embedding when asked).
pub struct NetfoundTransform {
    scorer: NetfoundScorer,
    verdict: VerdictSpec,
}

impl NetfoundTransform {
    /// A transform scoring with `scorer`; `embedding` keeps the embedding in the rows.
    pub fn new(scorer: NetfoundScorer, embedding: bool) -> anyhow::Result<Self> {
        let mut keep = vec!["label", "score", "probs", "malicious"];
        if embedding {
            keep.push("embedding");
        }
        let verdict = VerdictSpec::new(scorer.model(), &scorer.verdict_type(), &keep)?;
        Ok(NetfoundTransform { scorer, verdict })
    }

    /// The tokenizer settings the model wants from the capture source.
    pub fn tokenizer_config(model: &Model) -> anyhow::Result<NetfoundConfig> {
        Ok(model.manifest().netfound()?.tokenizer)
    }

    /// Add the verdict column to a flows batch (the tokens were made by the source).
    pub fn apply(&self, env: Envelope, stats: &StageStats) -> anyhow::Result<Envelope> {
        let rows = env.rows();
        let tokens = env.tokens.clone().with_context(|| {
            format!(
                "model {}: the flows carry no packet tokens (is the source a capture?)",
                self.scorer.model().name()
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
            let scored = stats.scoring(|| -> anyhow::Result<_> {
                Ok(self.scorer.verdict_column(&self.scorer.score(&flows)?)?)
            })?;
            self.verdict.build(Some(&scored), &positions)?
        };
        let batch = with_column(&env.batch, &self.verdict.column, Arc::new(verdict))?;
        Ok(Envelope { batch, ..env })
    }
}

/// FlowTransformer: each flow with the W−1 flows before it (per the model's grouping)
/// → class, its probability and every class's (`probs`, in the manifest's label order).
pub struct FlowTransform {
    scorer: FlowScorer,
    tokenizer: FlowWindowTokenizer,
    features: fn(&vigil_ingest::FlowRecord) -> FlowFeatures,
    verdict: VerdictSpec,
}

impl FlowTransform {
    /// A transform scoring with `scorer`, windows built with its model's settings.
    pub fn new(scorer: FlowScorer) -> anyhow::Result<Self> {
        let tokenizer = scorer.tokenizer()?;
        let verdict =
            VerdictSpec::new(scorer.model(), &scorer.verdict_type(), &["label", "score", "probs"])?;
        // Flows from a capture get the features of the model's mapping where our flows can
        // provide them (else NF-v2, and the preprocessor names what is missing).
        let features = scorer.mapping().and_then(features_for_mapping).unwrap_or(nf_v2_features);
        Ok(FlowTransform { scorer, tokenizer, features, verdict })
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
            let scored = stats.scoring(|| -> anyhow::Result<_> {
                Ok(self.scorer.verdict_column(&self.scorer.score(&windows)?)?)
            })?;
            self.verdict.build(Some(&scored), &positions)?
        };
        let batch = with_column(&env.batch, &self.verdict.column, Arc::new(verdict))?;
        Ok(Envelope { batch, ..env })
    }
}
