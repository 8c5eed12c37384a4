//! Scoring flows: netFound over each flow's packet tokens, FlowTransformer over flow
//! windows. The family's [`Scorer`] does the scoring; this adds its verdicts to the
//! flow rows.

use std::sync::Arc;

use anyhow::Context;
use vigil_ingest::flow_records::{FlowFeatures, features_for_mapping, nf_v2_features};
use vigil_models::{FlowScorer, Model, NetfoundScorer, Scorer};
use vigil_tokenizers::flow_window::FlowWindowTokenizer;
use vigil_tokenizers::{FlowTokens, NetfoundConfig};

use super::explain::{Explain, with_occlusion, with_occlusion_type};
use super::verdict::{VerdictSpec, with_column};
use crate::runtime::record::Envelope;
use crate::runtime::rows::bursts_column;
use crate::runtime::stats::StageStats;

/// netFound: the flows' tokens (from the capture source) → traffic class, class
/// probabilities, malicious probability (and embedding when asked), and the flows'
/// bursts as a `bursts` column.
pub struct NetfoundTransform {
    scorer: NetfoundScorer,
    verdict: VerdictSpec,
    explain: Option<Explain>,
}

impl NetfoundTransform {
    /// A transform scoring with `scorer`; `embedding` keeps the embedding in the rows;
    /// with `explain`, the flows it would alert on get their bursts' occlusion.
    pub fn new(
        scorer: NetfoundScorer,
        embedding: bool,
        explain: Option<Explain>,
    ) -> anyhow::Result<Self> {
        let mut keep = vec!["label", "score", "probs", "malicious", "occlusion"];
        if embedding {
            keep.push("embedding");
        }
        let verdict =
            VerdictSpec::new(scorer.model(), &with_occlusion_type(&scorer.verdict_type()), &keep)?;
        Ok(NetfoundTransform { scorer, verdict, explain })
    }

    /// The tokenizer settings the model wants from the capture source.
    pub fn tokenizer_config(model: &Model) -> anyhow::Result<NetfoundConfig> {
        Ok(model.manifest().netfound()?.tokenizer)
    }

    /// Add the verdict column to a flows batch (the tokens were made by the source).
    pub fn apply(&mut self, env: Envelope, stats: &StageStats) -> anyhow::Result<Envelope> {
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
                let verdicts = self.scorer.score(&flows)?;
                let column = self.scorer.verdict_column(&verdicts)?;
                let (src, ts) = sources_and_times(&env.batch)?;
                let item_rows: Vec<usize> = (0..rows).filter(|r| positions[*r].is_some()).collect();
                let source_of = |i: usize| (src.value(item_rows[i]), ts.value(item_rows[i]));
                let explain = self.explain.as_mut();
                explained(column, explain, &self.scorer, &flows, &verdicts, source_of, stats)
            })?;
            self.verdict.build(Some(&scored), &positions)?
        };
        let batch = with_column(&env.batch, &self.verdict.column, Arc::new(verdict))?;
        // The bursts the model read, for the flow's burst timeline.
        let batch = with_column(&batch, "bursts", bursts_column(&tokens))?;
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
    explain: Option<Explain>,
}

impl FlowTransform {
    /// A transform scoring with `scorer`, windows built with its model's settings; with
    /// `explain`, the flows it would alert on get their features' occlusion.
    pub fn new(scorer: FlowScorer, explain: Option<Explain>) -> anyhow::Result<Self> {
        let tokenizer = scorer.tokenizer()?;
        let verdict = VerdictSpec::new(
            scorer.model(),
            &with_occlusion_type(&scorer.verdict_type()),
            &["label", "score", "probs", "occlusion"],
        )?;
        // Flows from a capture get the features of the model's mapping where our flows can
        // provide them (else NF-v2, and the preprocessor names what is missing).
        let features = scorer.mapping().and_then(features_for_mapping).unwrap_or(nf_v2_features);
        Ok(FlowTransform { scorer, tokenizer, features, verdict, explain })
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
                let verdicts = self.scorer.score(&windows)?;
                let column = self.scorer.verdict_column(&verdicts)?;
                let (src, ts) = sources_and_times(&env.batch)?;
                let source_of = |i: usize| (src.value(i), ts.value(i));
                let explain = self.explain.as_mut();
                explained(column, explain, &self.scorer, &windows, &verdicts, source_of, stats)
            })?;
            self.verdict.build(Some(&scored), &positions)?
        };
        let batch = with_column(&env.batch, &self.verdict.column, Arc::new(verdict))?;
        Ok(Envelope { batch, ..env })
    }
}

/// The `src_ip` and `ts_start` columns of a flows batch.
fn sources_and_times(
    b: &arrow_array::RecordBatch,
) -> anyhow::Result<(&arrow_array::StringArray, &arrow_array::TimestampMicrosecondArray)> {
    use arrow_array::cast::AsArray;
    let src = b.column_by_name("src_ip").context("flows without `src_ip`")?;
    let ts = b.column_by_name("ts_start").context("flows without `ts_start`")?;
    Ok((
        src.as_string_opt::<i32>().context("`src_ip` is not text")?,
        ts.as_primitive_opt().context("`ts_start` is not a timestamp")?,
    ))
}

/// The scored verdicts with their occlusion evidence (null where not explained);
/// `source_of`: an item's source address and event time.
fn explained<'a, S>(
    column: arrow_array::StructArray,
    explain: Option<&mut Explain>,
    scorer: &S,
    items: &[S::Item],
    verdicts: &[S::Verdict],
    source_of: impl Fn(usize) -> (&'a str, i64),
    stats: &StageStats,
) -> anyhow::Result<arrow_array::StructArray>
where
    S: vigil_models::Occlude,
    S::Verdict: super::explain::AlertScored,
{
    let occlusion = match explain {
        Some(e) => {
            let (c, skipped) = e.column(scorer, items, verdicts, source_of)?;
            stats.add_unexplained(skipped);
            c
        }
        None => vigil_models::occlusion_column(&vec![None; items.len()]),
    };
    with_occlusion(column, occlusion)
}
