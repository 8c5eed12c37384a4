//! HSTU: each action event against its entity's earlier events → `label` (the model's
//! most likely token at the event's position), `score` (the surprise of the observed
//! one, `-log p(observed | the entity's events before it)`, in nats) and `rank` (its
//! 1-based rank among all tokens, ties counted against it).
//!
//! The graph reads tokenizer columns (`object_ids`, `time_buckets`, optionally
//! `action_ids`, each int64 `[B, max_len]`) and gives `scores` `[B, V]`, the
//! log-softmax over the target column's ids for the row's last position, given the
//! positions before it. Rows are left-padded; when the graph's length axis is dynamic
//! (`-1` in the manifest, see `onnx/tools/hstu_dynamic_len.py`), padding is masked and a
//! row scores the same cut to its own events, so a batch is grouped by row length and
//! each group cut to its longest row ([`super::grouping`]): most entities have far
//! fewer than `max_len` events. An event with no earlier event of its entity (`length` 1) has
//! no history to be surprising against: its `score` and `rank` are `None` (the label
//! is still given).

use std::sync::Arc;

use arrow_array::StructArray;
use arrow_array::builder::{Float32Builder, StringBuilder, UInt32Builder};
use arrow_schema::{DataType, Field, Fields};
use ndarray::{ArrayD, ArrayView1, Axis, Ix1, IxDyn};
use vigil_tokenizers::TokenStamp;
use vigil_tokenizers::actions::{
    ActionSequenceConfig, ActionSequencer, ActionVocab, FIRST_TOKEN_ID, OOV_ID, SequenceSnapshot,
    Vocab, columns,
};

use super::columns::{output, pair_list_column, pair_list_type};
use super::grouping::{Group, groups};
use super::{Scorer, arrow_err, ensure_family, shape_err, tokenizer_err};
use crate::error::{Error, Result};
use crate::family::Family;
use crate::model::{InputTensor, Model, Outputs};
use crate::preprocessing::HstuPreprocessing;

/// A tokenizer column an HSTU graph reads or predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowColumn {
    ActionIds,
    ObjectIds,
    TimeBuckets,
}

impl RowColumn {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            columns::ACTION_IDS => Some(RowColumn::ActionIds),
            columns::OBJECT_IDS => Some(RowColumn::ObjectIds),
            columns::TIME_BUCKETS => Some(RowColumn::TimeBuckets),
            _ => None,
        }
    }

    fn of(self, s: &SequenceSnapshot) -> &[u32] {
        match self {
            RowColumn::ActionIds => &s.action_ids,
            RowColumn::ObjectIds => &s.object_ids,
            RowColumn::TimeBuckets => &s.time_buckets,
        }
    }
}

/// One event's HSTU verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionVerdict {
    /// The most likely token at the event's position (ids ≥ 2).
    pub label: String,
    /// Surprise of the observed token in nats; `None` without history.
    pub score: Option<f32>,
    /// 1-based rank of the observed token among the real ids; `None` without history.
    pub rank: Option<u32>,
    /// The [`EXPECTED`] most likely tokens with their probabilities, most likely first
    /// (`label` is the first).
    pub expected: Vec<(String, f32)>,
}

/// Most likely tokens kept per verdict.
pub const EXPECTED: usize = 5;

/// HSTU's scorer.
#[derive(Debug)]
pub struct HstuScorer {
    model: Arc<Model>,
    prep: HstuPreprocessing,
    /// The graph inputs, in manifest order, with the column each one takes.
    inputs: Vec<(String, RowColumn)>,
    /// The predicted column.
    target: RowColumn,
    /// Whether rows are cut to their length (the graph's length axis is dynamic)
    /// rather than given whole (`max_len`).
    packs: bool,
}

impl HstuScorer {
    /// The scorer of `model`, refusing a model that is not an action-sequence model
    /// (another family, inputs that are not tokenizer columns, no vocabulary, an output
    /// width that is not the target vocabulary's).
    pub fn new(model: Arc<Model>) -> Result<Self> {
        ensure_family(&model, Self::FAMILY)?;
        let m = model.manifest();
        let prep = m.hstu()?;
        let err = |message: String| Error::Preprocessing { model: m.name.clone(), message };
        let target = match RowColumn::from_name(&prep.target) {
            Some(t @ (RowColumn::ActionIds | RowColumn::ObjectIds)) => t,
            _ => {
                return Err(err(format!(
                    "preprocessing.target `{}` is not an id column",
                    prep.target
                )));
            }
        };
        let mut inputs = Vec::new();
        let packs =
            m.inputs.iter().all(|spec| spec.shape.get(1).is_some_and(|d| d.size().is_none()));
        for spec in &m.inputs {
            let col = RowColumn::from_name(&spec.name).ok_or_else(|| {
                err(format!(
                    "input `{}` is not a tokenizer column (action_ids, object_ids, time_buckets)",
                    spec.name
                ))
            })?;
            let width = spec.shape.get(1).and_then(|d| d.size());
            if width.is_some_and(|w| w != prep.max_len) {
                return Err(err(format!(
                    "input `{}` has width {width:?}, preprocessing.max_len is {}",
                    spec.name, prep.max_len
                )));
            }
            inputs.push((spec.name.clone(), col));
        }
        let scorer = HstuScorer { model: model.clone(), prep, inputs, target, packs };
        let out = m.output("scores").ok_or_else(|| err("no `scores` output".into()))?;
        let width = out.shape.get(1).and_then(|d| d.size());
        let size = scorer.target_vocab().size();
        if width.is_some_and(|w| w != size) {
            return Err(err(format!(
                "`scores` has width {width:?}, the {} vocabulary {size} ids",
                scorer.prep.target
            )));
        }
        Ok(scorer)
    }

    /// One verdict per row of `snaps` from the outputs of a run on them.
    fn decode_rows<'a>(
        &self,
        snaps: impl ExactSizeIterator<Item = &'a SequenceSnapshot>,
        outputs: &Outputs,
    ) -> Result<Vec<ActionVerdict>> {
        let b = snaps.len();
        let scores = output(outputs, &self.model, "scores")?;
        let v = self.target_vocab();
        if scores.ndim() != 2 || scores.shape() != [b, v.size()] {
            return Err(Error::Decode {
                output: "scores".into(),
                message: format!("shape {:?}, expected [{b}, {}]", scores.shape(), v.size()),
            });
        }
        let mut verdicts = Vec::with_capacity(b);
        for (s, row) in snaps.zip(scores.axis_iter(Axis(0))) {
            let row = row.into_dimensionality::<Ix1>().expect("a row of a 2-d array");
            let expected: Vec<(String, f32)> = top_ids(row.view(), EXPECTED)
                .into_iter()
                .map(|k| (v.token(k as u32).unwrap_or_default().to_owned(), row[k].exp()))
                .collect();
            let label = expected.first().map(|e| e.0.clone()).unwrap_or_default();
            let target = self.target.of(s).last().copied().unwrap_or_default() as usize;
            let (score, rank) = if s.length >= 2 && target < v.size() {
                let (surprise, rank) = surprise_and_rank(row.view(), target);
                (Some(surprise), Some(rank))
            } else {
                (None, None)
            };
            verdicts.push(ActionVerdict { label, score, rank, expected });
        }
        Ok(verdicts)
    }

    /// Whether rows are cut to their own length (the graph's length axis is dynamic).
    pub fn packs(&self) -> bool {
        self.packs
    }

    /// The positions of `s` a cut row keeps: its events, at least 2 (a context position
    /// and the scored one), at most `max_len`.
    fn row_len(&self, s: &SequenceSnapshot) -> usize {
        (s.length as usize).clamp(2, self.prep.max_len.max(2))
    }

    /// The graph inputs for `snaps`, each row's last `l` positions; refuses rows that are
    /// not `max_len` long or hold ids beyond the model's vocabulary.
    fn encode<'a>(
        &self,
        snaps: impl ExactSizeIterator<Item = &'a SequenceSnapshot> + Clone,
        l: usize,
    ) -> Result<Vec<(&str, InputTensor)>> {
        let (b, max_len) = (snaps.len(), self.prep.max_len);
        let limits = |col: RowColumn| match col {
            RowColumn::ActionIds => self.prep.vocab.actions.size() as u32,
            RowColumn::ObjectIds => self.prep.vocab.objects.size() as u32,
            RowColumn::TimeBuckets => self.prep.num_buckets,
        };
        let mut inputs = Vec::with_capacity(self.inputs.len());
        for (name, col) in &self.inputs {
            let limit = limits(*col);
            let mut data = Vec::with_capacity(b * l);
            for s in snaps.clone() {
                let row = col.of(s);
                let bad = |message: String| Error::Input {
                    model: self.model.name().into(),
                    message: format!("entity {} at ts {}: {message}", s.entity, s.ts),
                };
                if row.len() != max_len {
                    return Err(bad(format!(
                        "row of {} positions, the model takes {max_len}",
                        row.len()
                    )));
                }
                if let Some(id) = row.iter().find(|&&v| v >= limit) {
                    return Err(bad(format!("{name} {id} is beyond the model's {limit}")));
                }
                data.extend(row[max_len - l.min(max_len)..].iter().map(|&v| i64::from(v)));
            }
            let tensor = ArrayD::from_shape_vec(IxDyn(&[b, l.min(max_len)]), data)
                .map_err(shape_err(&self.model))?;
            inputs.push((name.as_str(), tensor.into()));
        }
        Ok(inputs)
    }

    /// The sequencer settings that reproduce the model's rows.
    pub fn sequence_config(&self) -> ActionSequenceConfig {
        ActionSequenceConfig {
            max_len: self.prep.max_len,
            num_buckets: self.prep.num_buckets,
            ..ActionSequenceConfig::default()
        }
    }

    /// The vocabulary the model was trained with.
    pub fn vocab(&self) -> &ActionVocab {
        &self.prep.vocab
    }

    /// The vocabulary of the predicted column.
    pub fn target_vocab(&self) -> &Vocab {
        match self.target {
            RowColumn::ActionIds => &self.prep.vocab.actions,
            _ => &self.prep.vocab.objects,
        }
    }

    /// Whether the model's vocabulary knows both `action` and `object`.
    pub fn knows(&self, action: &str, object: &str) -> bool {
        self.prep.vocab.actions.id(action) != OOV_ID && self.prep.vocab.objects.id(object) != OOV_ID
    }
}

impl Scorer for HstuScorer {
    type Tokenizer = ActionSequencer;
    type Item = SequenceSnapshot;
    type Verdict = ActionVerdict;

    const FAMILY: Family = Family::Hstu;

    fn model(&self) -> &Model {
        &self.model
    }

    /// A sequencer with the model's row length, buckets and vocabulary.
    fn tokenizer(&self) -> Result<ActionSequencer> {
        ActionSequencer::new(self.sequence_config(), self.prep.vocab.clone())
            .map_err(tokenizer_err(&self.model))
    }

    /// Rows cut to the longest (when the model [packs](HstuScorer::packs)) or whole.
    fn inputs(&self, snaps: &[SequenceSnapshot]) -> Result<Vec<(&str, InputTensor)>> {
        let l = match self.packs {
            true => snaps.iter().map(|s| self.row_len(s)).max().unwrap_or(2),
            false => self.prep.max_len,
        };
        self.encode(snaps.iter(), l)
    }

    fn decode(&self, snaps: &[SequenceSnapshot], outputs: &Outputs) -> Result<Vec<ActionVerdict>> {
        self.decode_rows(snaps.iter(), outputs)
    }

    /// Rows grouped by length when the model packs (else one group of whole rows),
    /// each group cut to its longest row (the groups spread over the model's sessions),
    /// verdicts in the order of `snaps`.
    fn score(&self, snaps: &[SequenceSnapshot]) -> Result<Vec<ActionVerdict>> {
        if snaps.is_empty() {
            return Ok(Vec::new());
        }
        let groups = match self.packs {
            true => {
                let sizes: Vec<(usize, usize)> =
                    snaps.iter().map(|s| (self.row_len(s), 1)).collect();
                groups(&sizes, self.model.max_batch())
            }
            false => {
                vec![Group { members: (0..snaps.len()).collect(), grid: (self.prep.max_len, 1) }]
            }
        };
        let inputs = groups
            .iter()
            .map(|g| self.encode(g.members.iter().map(|&i| &snaps[i]), g.grid.0))
            .collect::<Result<Vec<_>>>()?;
        let outputs = self.model.run_each(&inputs)?;
        let mut verdicts: Vec<Option<ActionVerdict>> = vec![None; snaps.len()];
        for (group, outputs) in groups.iter().zip(&outputs) {
            let members = group.members.iter().map(|&i| &snaps[i]);
            for (&i, v) in group.members.iter().zip(self.decode_rows(members, outputs)?) {
                verdicts[i] = Some(v);
            }
        }
        Ok(verdicts.into_iter().map(|v| v.expect("every row is in a group")).collect())
    }

    /// `label`, `score` (nullable), `rank` (nullable), `expected`.
    fn verdict_type(&self) -> DataType {
        DataType::Struct(verdict_fields())
    }

    fn verdict_column(&self, verdicts: &[ActionVerdict]) -> Result<StructArray> {
        let n = verdicts.len();
        let mut label = StringBuilder::with_capacity(n, n * 8);
        let mut score = Float32Builder::with_capacity(n);
        let mut rank = UInt32Builder::with_capacity(n);
        for v in verdicts {
            label.append_value(&v.label);
            score.append_option(v.score);
            rank.append_option(v.rank);
        }
        StructArray::try_new(
            verdict_fields(),
            vec![
                Arc::new(label.finish()),
                Arc::new(score.finish()),
                Arc::new(rank.finish()),
                expected_column(verdicts.iter().map(|v| v.expected.as_slice())),
            ],
            None,
        )
        .map_err(arrow_err(&self.model))
    }

    /// The model's row length and buckets, and its vocabulary's fingerprint.
    fn token_stamp(&self) -> TokenStamp {
        TokenStamp::actions(&self.prep.vocab, &self.sequence_config())
    }
}

fn verdict_fields() -> Fields {
    Fields::from(vec![
        Field::new("label", DataType::Utf8, false),
        Field::new("score", DataType::Float32, true),
        Field::new("rank", DataType::UInt32, true),
        Field::new("expected", expected_type(), true),
    ])
}

/// The type of the `expected` column: `list<struct<token: utf8, p: f32>>`.
pub fn expected_type() -> DataType {
    pair_list_type("token", "p")
}

/// An `expected` column, one list of (token, probability) per row.
pub fn expected_column<'a>(
    rows: impl Iterator<Item = &'a [(String, f32)]>,
) -> arrow_array::ArrayRef {
    let rows = rows.map(|r| Some(r.iter().map(|(t, p)| (t.as_str(), *p))));
    pair_list_column("token", "p", rows)
}

/// Surprise `-log_probs[target]` and the 1-based rank of `target` among the real ids
/// (≥ 2; an out-of-vocabulary target is ranked against them too), ties counted
/// against it.
pub fn surprise_and_rank(log_probs: ArrayView1<f32>, target: usize) -> (f32, u32) {
    let t = log_probs[target];
    let above = log_probs
        .iter()
        .enumerate()
        .skip(FIRST_TOKEN_ID as usize)
        .filter(|&(k, &s)| k != target && s >= t)
        .count();
    (-t, above as u32 + 1)
}

/// The `k` ids ≥ 2 with the highest scores, highest first (lower ids first on ties).
fn top_ids(log_probs: ArrayView1<f32>, k: usize) -> Vec<usize> {
    let mut ids: Vec<usize> = (FIRST_TOKEN_ID as usize..log_probs.len()).collect();
    let order = |a: &usize, b: &usize| log_probs[*b].total_cmp(&log_probs[*a]).then(a.cmp(b));
    if ids.len() > k && k > 0 {
        ids.select_nth_unstable_by(k - 1, order);
        ids.truncate(k);
    }
    ids.sort_by(order);
    ids.truncate(k);
    ids
}

#[cfg(test)]
mod tests {
    use ndarray::arr1;

    use super::*;

    #[test]
    fn surprise_is_minus_log_p_and_ties_count_against_the_target() {
        // ids 0 (pad) and 1 (OOV) are never ranked.
        let lp = arr1(&[0.0f32, 0.0, -1.0, -2.0, -1.0, -0.5]);
        assert_eq!(surprise_and_rank(lp.view(), 5), (0.5, 1));
        assert_eq!(surprise_and_rank(lp.view(), 2), (1.0, 3), "tied with id 4");
        assert_eq!(surprise_and_rank(lp.view(), 3), (2.0, 4));
        assert_eq!(top_ids(lp.view(), 1), [5]);
        assert_eq!(top_ids(lp.view(), 3), [5, 2, 4], "ties: the lower id first");
        assert_eq!(top_ids(lp.view(), 9), [5, 2, 4, 3]);
        assert_eq!(top_ids(arr1(&[9.0f32, 9.0, -1.0, -1.0]).view(), 1), [2], "first on ties");
    }
}
