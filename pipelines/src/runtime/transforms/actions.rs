//! Scoring actions: each event against its entity's earlier events (the HSTU
//! [`Scorer`]), giving the surprise of what happened, its rank and the most likely
//! alternative.

use std::sync::Arc;

use anyhow::Context;
use arrow_array::builder::{Float32Builder, StringBuilder, UInt32Builder};
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{ArrayRef, RecordBatch};
use vigil_ingest::actions::ActionEvent;
use vigil_models::{HstuScorer, Scorer};
use vigil_tokenizers::actions::ActionSequencer;

use crate::runtime::record::Envelope;
use crate::runtime::stats::StageStats;

/// The column of the most likely actions at each event: `list<struct<token, p>>`,
/// most likely first (not a base column of `actions`: files without it read as null).
pub const EXPECTED_COLUMN: &str = "expected";

/// HSTU over an action stream; entity histories live in the sequencer.
pub struct ActionsTransform {
    scorer: HstuScorer,
    sequencer: ActionSequencer,
}

impl ActionsTransform {
    /// A transform scoring with `scorer`.
    pub fn new(scorer: HstuScorer) -> anyhow::Result<Self> {
        let sequencer = scorer.tokenizer()?;
        Ok(ActionsTransform { scorer, sequencer })
    }

    /// Fill `surprise`, `rank`, `predicted` and `model` of an actions batch, and add
    /// the `expected` column.
    pub fn apply(&mut self, env: Envelope, stats: &StageStats) -> anyhow::Result<Envelope> {
        let batch = &env.batch;
        let col = |name: &str| {
            batch.column_by_name(name).with_context(|| format!("actions rows without `{name}`"))
        };
        let (entity, action, object) = (
            col("entity")?.as_string::<i32>(),
            col("action")?.as_string::<i32>(),
            col("object")?.as_string::<i32>(),
        );
        let ts = col("ts")?.as_primitive::<TimestampMicrosecondType>();
        let snaps: Vec<_> = stats.tokenizing(|| {
            (0..batch.num_rows())
                .map(|i| {
                    self.sequencer.push(&ActionEvent {
                        entity: entity.value(i).to_string(),
                        ts: ts.value(i),
                        action: action.value(i).to_string(),
                        object: object.value(i).to_string(),
                    })
                })
                .collect()
        });
        let verdicts = stats.scoring(|| self.scorer.score(&snaps))?;
        let n = verdicts.len();
        let mut surprise = Float32Builder::with_capacity(n);
        let mut rank = UInt32Builder::with_capacity(n);
        let (mut predicted, mut model) = (StringBuilder::new(), StringBuilder::new());
        for v in &verdicts {
            surprise.append_option(v.score);
            rank.append_option(v.rank);
            predicted.append_value(&v.label);
            model.append_value(self.scorer.model().name());
        }
        let mut cols: Vec<ArrayRef> = batch.columns().to_vec();
        let schema = batch.schema();
        let mut set = |name: &str, array: ArrayRef| -> anyhow::Result<()> {
            let i = schema.index_of(name)?;
            cols[i] = array;
            Ok(())
        };
        set("surprise", Arc::new(surprise.finish()))?;
        set("rank", Arc::new(rank.finish()))?;
        set("predicted", Arc::new(predicted.finish()))?;
        set("model", Arc::new(model.finish()))?;
        let batch = RecordBatch::try_new(schema.clone(), cols)?;
        let expected =
            vigil_models::expected_column(verdicts.iter().map(|v| v.expected.as_slice()));
        let batch = super::verdict::with_column(&batch, EXPECTED_COLUMN, expected)?;
        Ok(Envelope { batch, ..env })
    }
}
