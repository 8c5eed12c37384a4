//! HSTU verdicts on action sequences: per event, `label` (the model's most likely
//! next token), `score` (the surprise of the observed one, `-log p(observed | the
//! entity's events before it)`, in nats) and `rank` (its 1-based rank among all
//! tokens, ties counted against it).
//!
//! An HSTU artifact (`family` `hstu`) reads tokenizer rows (`vigil tokenize actions`):
//! its inputs are tokenizer columns (`object_ids`, `time_buckets`, optionally
//! `action_ids`, each `[B, max_len]`), and its output `scores` `[B, V]` is the
//! log-softmax over the target table's ids for the row's last position, given the
//! positions before it. The manifest's `preprocessing` holds `max_len`,
//! `num_buckets`, the vocabulary (`vocab`, as `ActionVocab::to_json`) and the
//! predicted column (`target`, `object_ids` when absent).
//!
//! An event with no earlier event of its entity (`length` 1) has no history to be
//! surprising against: its `score` and `rank` are null (the label is still given).

use std::sync::Arc;

use arrow_array::builder::{Float32Builder, StringBuilder, UInt32Builder};
use arrow_array::cast::AsArray;
use arrow_array::types::{TimestampMicrosecondType, UInt32Type};
use arrow_array::{ArrayRef, RecordBatch, StructArray};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use vigil_ingest::actions::ActionEvent;
use vigil_models::Model;
use vigil_models::ndarray::{ArrayD, ArrayView1, Axis, IxDyn};
use vigil_tokenizers::actions::{
    ActionSequenceConfig, ActionVocab, FIRST_TOKEN_ID, OOV_ID, PAD_ID, SequenceSnapshot, Vocab,
    columns,
};

/// A tokenizer column an HSTU model reads or predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowColumn {
    /// `action_ids`.
    ActionIds,
    /// `object_ids`.
    ObjectIds,
    /// `time_buckets`.
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

/// How an HSTU model reads tokenizer rows, from its manifest.
#[derive(Debug, Clone)]
pub struct ActionModelSpec {
    /// Row length (the scored event included).
    pub max_len: usize,
    /// Number of time buckets.
    pub num_buckets: u32,
    /// The vocabulary the model was trained with.
    pub vocab: ActionVocab,
    /// The graph inputs, in manifest order, with the column each one takes.
    inputs: Vec<(String, RowColumn)>,
    /// The predicted column (`action_ids` or `object_ids`).
    target: RowColumn,
}

impl ActionModelSpec {
    /// Reads the spec from `model`'s manifest, refusing a model that is not an
    /// action-sequence model (another family, inputs that are not tokenizer
    /// columns, no vocabulary, an output width that is not the vocabulary's).
    pub fn from_model(model: &Model) -> anyhow::Result<Self> {
        let m = model.manifest();
        let name = model.name();
        anyhow::ensure!(
            m.family == "hstu",
            "model {name} is a `{}` model, not an action-sequence (hstu) model",
            m.family
        );
        let prep = &m.preprocessing;
        let max_len = prep["max_len"]
            .as_u64()
            .ok_or_else(|| anyhow::anyhow!("model {name}: no preprocessing.max_len"))?
            as usize;
        let num_buckets = prep["num_buckets"].as_u64().unwrap_or(128) as u32;
        let vocab = ActionVocab::from_json(&prep["vocab"].to_string())
            .map_err(|e| anyhow::anyhow!("model {name}: preprocessing.vocab: {e}"))?;
        let target_name = prep["target"].as_str().unwrap_or(columns::OBJECT_IDS);
        let target = match RowColumn::from_name(target_name) {
            Some(t @ (RowColumn::ActionIds | RowColumn::ObjectIds)) => t,
            _ => anyhow::bail!(
                "model {name}: preprocessing.target `{target_name}` is not an id column"
            ),
        };
        let mut inputs = Vec::new();
        for spec in &m.inputs {
            let col = RowColumn::from_name(&spec.name).ok_or_else(|| {
                anyhow::anyhow!(
                    "model {name}: input `{}` is not a tokenizer column (action_ids, object_ids, time_buckets)",
                    spec.name
                )
            })?;
            let width = spec.shape.get(1).and_then(|d| d.size());
            anyhow::ensure!(
                width.is_none_or(|w| w == max_len),
                "model {name}: input `{}` has width {width:?}, preprocessing.max_len is {max_len}",
                spec.name
            );
            inputs.push((spec.name.clone(), col));
        }
        let spec = ActionModelSpec { max_len, num_buckets, vocab, inputs, target };
        let out = m
            .output("scores")
            .ok_or_else(|| anyhow::anyhow!("model {name} has no `scores` output"))?;
        let width = out.shape.get(1).and_then(|d| d.size());
        anyhow::ensure!(
            width.is_none_or(|w| w == spec.target_vocab().size()),
            "model {name}: `scores` has width {width:?}, the {target_name} vocabulary {} ids",
            spec.target_vocab().size()
        );
        Ok(spec)
    }

    /// The sequencer settings that reproduce the model's rows.
    pub fn sequence_config(&self) -> ActionSequenceConfig {
        ActionSequenceConfig {
            max_len: self.max_len,
            num_buckets: self.num_buckets,
            ..ActionSequenceConfig::default()
        }
    }

    /// The vocabulary of the predicted column.
    pub fn target_vocab(&self) -> &Vocab {
        match self.target {
            RowColumn::ActionIds => &self.vocab.actions,
            _ => &self.vocab.objects,
        }
    }

    /// Whether the model's vocabulary knows both the action and the object of `event`.
    pub fn knows(&self, event: &ActionEvent) -> bool {
        self.vocab.actions.id(&event.action) != OOV_ID
            && self.vocab.objects.id(&event.object) != OOV_ID
    }
}

/// One event's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionVerdict {
    /// The most likely token at the event's position (ids ≥ 2).
    pub label: String,
    /// Surprise of the observed token in nats; `None` without history.
    pub score: Option<f32>,
    /// 1-based rank of the observed token among the real ids; `None` without history.
    pub rank: Option<u32>,
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

/// The id ≥ 2 with the highest score (the first on ties).
fn best_id(log_probs: ArrayView1<f32>) -> usize {
    let mut best = FIRST_TOKEN_ID as usize;
    for (k, &s) in log_probs.iter().enumerate().skip(best) {
        if s > log_probs[best] {
            best = k;
        }
    }
    best
}

/// Score tokenizer rows (each of `spec.max_len`) with an HSTU model.
pub fn score_snapshots(
    model: &Model,
    spec: &ActionModelSpec,
    snaps: &[SequenceSnapshot],
) -> anyhow::Result<Vec<ActionVerdict>> {
    let (b, l) = (snaps.len(), spec.max_len);
    if b == 0 {
        return Ok(Vec::new());
    }
    let mut inputs = Vec::with_capacity(spec.inputs.len());
    for (name, col) in &spec.inputs {
        let mut data = Vec::with_capacity(b * l);
        for s in snaps {
            let row = col.of(s);
            anyhow::ensure!(
                row.len() == l,
                "entity {} at ts {}: row of {} positions, the model takes {l}",
                s.entity,
                s.ts,
                row.len()
            );
            data.extend(row.iter().map(|&v| i64::from(v)));
        }
        let tensor = ArrayD::from_shape_vec(IxDyn(&[b, l]), data)?;
        inputs.push((name.as_str(), tensor.into()));
    }
    let outputs = model.run(&inputs)?;
    let scores = outputs
        .get("scores")
        .ok_or_else(|| anyhow::anyhow!("model {} gave no `scores`", model.name()))?;
    let v = spec.target_vocab();
    anyhow::ensure!(
        scores.ndim() == 2 && scores.shape()[1] == v.size(),
        "model {}: `scores` of shape {:?}, expected [{b}, {}]",
        model.name(),
        scores.shape(),
        v.size()
    );
    let mut verdicts = Vec::with_capacity(b);
    for (s, row) in snaps.iter().zip(scores.axis_iter(Axis(0))) {
        let row = row.into_dimensionality::<vigil_models::ndarray::Ix1>()?;
        let label = v.token(best_id(row.view()) as u32).unwrap_or_default().to_owned();
        let target = spec.target.of(s)[l - 1] as usize;
        let (score, rank) = if s.length >= 2 && target < v.size() {
            let (surprise, rank) = surprise_and_rank(row.view(), target);
            (Some(surprise), Some(rank))
        } else {
            (None, None)
        };
        verdicts.push(ActionVerdict { label, score, rank });
    }
    Ok(verdicts)
}

/// The struct type of an action model's verdict column.
pub fn verdict_type() -> DataType {
    DataType::Struct(Fields::from(vec![
        Field::new("label", DataType::Utf8, false),
        Field::new("score", DataType::Float32, true),
        Field::new("rank", DataType::UInt32, true),
    ]))
}

/// `base` plus one struct column named `model_name` ([`verdict_type`]).
pub fn scored_actions_schema(base: &Schema, model_name: &str) -> SchemaRef {
    let mut fields: Vec<Field> = base.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(model_name, verdict_type(), false));
    Arc::new(Schema::new(fields))
}

/// `base` (one row per verdict, in order) with the verdicts appended as a struct column.
pub fn with_verdicts(
    base: &RecordBatch,
    model_name: &str,
    verdicts: &[ActionVerdict],
) -> anyhow::Result<RecordBatch> {
    anyhow::ensure!(
        base.num_rows() == verdicts.len(),
        "{} rows but {} verdicts",
        base.num_rows(),
        verdicts.len()
    );
    let n = verdicts.len();
    let mut label = StringBuilder::with_capacity(n, n * 8);
    let mut score = Float32Builder::with_capacity(n);
    let mut rank = UInt32Builder::with_capacity(n);
    for v in verdicts {
        label.append_value(&v.label);
        score.append_option(v.score);
        rank.append_option(v.rank);
    }
    let DataType::Struct(fields) = verdict_type() else { unreachable!("a struct type") };
    let verdict = StructArray::try_new(
        fields,
        vec![Arc::new(label.finish()), Arc::new(score.finish()), Arc::new(rank.finish())],
        None,
    )?;
    let mut cols: Vec<ArrayRef> = base.columns().to_vec();
    cols.push(Arc::new(verdict));
    Ok(RecordBatch::try_new(scored_actions_schema(&base.schema(), model_name), cols)?)
}

/// The columns of raw action events: `entity`, `ts` (µs UTC), `action`, `object`.
pub fn events_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(columns::ENTITY, DataType::Utf8, false),
        Field::new(
            columns::TS,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("action", DataType::Utf8, false),
        Field::new("object", DataType::Utf8, false),
    ]))
}

/// Action events as one batch of [`events_schema`].
pub fn events_to_record_batch(events: &[ActionEvent]) -> anyhow::Result<RecordBatch> {
    let mut entity = StringBuilder::new();
    let mut ts = arrow_array::builder::TimestampMicrosecondBuilder::with_capacity(events.len())
        .with_timezone("UTC");
    let mut action = StringBuilder::new();
    let mut object = StringBuilder::new();
    for e in events {
        entity.append_value(&e.entity);
        ts.append_value(e.ts);
        action.append_value(&e.action);
        object.append_value(&e.object);
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(entity.finish()),
        Arc::new(ts.finish()),
        Arc::new(action.finish()),
        Arc::new(object.finish()),
    ];
    Ok(RecordBatch::try_new(events_schema(), cols)?)
}

/// Fits a row to `max_len` positions: keeps the newest `max_len` (the scored event is
/// last) or left-pads with [`PAD_ID`] / bucket 0.
fn fit_row(row: &[u32], max_len: usize) -> Vec<u32> {
    if row.len() >= max_len {
        row[row.len() - max_len..].to_vec()
    } else {
        let mut v = vec![PAD_ID; max_len - row.len()];
        v.extend_from_slice(row);
        v
    }
}

/// The rows of a tokenized batch (`vigil tokenize actions` output, made with the
/// model's vocabulary), fitted to `spec.max_len`; `source` names the input in errors.
pub fn snapshots_from_batch(
    batch: &RecordBatch,
    spec: &ActionModelSpec,
    source: &str,
    first_row: usize,
) -> anyhow::Result<Vec<SequenceSnapshot>> {
    let col = |name: &str| {
        batch.column_by_name(name).ok_or_else(|| {
            anyhow::anyhow!("{source}: no `{name}` column: not a tokenized actions table")
        })
    };
    let entity = col(columns::ENTITY)?.as_string_opt::<i32>();
    let ts = col(columns::TS)?.as_primitive_opt::<TimestampMicrosecondType>();
    let length = col(columns::LENGTH)?.as_primitive_opt::<UInt32Type>();
    let (Some(entity), Some(ts), Some(length)) = (entity, ts, length) else {
        anyhow::bail!("{source}: entity/ts/length columns of unexpected types");
    };
    let list = |name: &str| -> anyhow::Result<&arrow_array::ListArray> {
        col(name)?
            .as_list_opt::<i32>()
            .ok_or_else(|| anyhow::anyhow!("{source}: `{name}` must be a list of u32"))
    };
    let actions = list(columns::ACTION_IDS)?;
    let objects = list(columns::OBJECT_IDS)?;
    let buckets = list(columns::TIME_BUCKETS)?;
    let ids = |list: &arrow_array::ListArray, i: usize, what: &str| -> anyhow::Result<Vec<u32>> {
        let v = list.value(i);
        let v = v.as_primitive_opt::<UInt32Type>().ok_or_else(|| {
            anyhow::anyhow!("{source}: row {}: `{what}` is not a list of u32", first_row + i)
        })?;
        Ok(fit_row(v.values(), spec.max_len))
    };
    let (n_actions, n_objects) =
        (spec.vocab.actions.size() as u32, spec.vocab.objects.size() as u32);
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let s = SequenceSnapshot {
            entity: entity.value(i).to_owned(),
            ts: ts.value(i),
            action_ids: ids(actions, i, columns::ACTION_IDS)?,
            object_ids: ids(objects, i, columns::OBJECT_IDS)?,
            time_buckets: ids(buckets, i, columns::TIME_BUCKETS)?,
            length: length.value(i).min(spec.max_len as u32),
        };
        let bad = s.action_ids.iter().any(|&a| a >= n_actions)
            || s.object_ids.iter().any(|&o| o >= n_objects)
            || s.time_buckets.iter().any(|&t| t >= spec.num_buckets);
        anyhow::ensure!(
            !bad,
            "{source}: row {}: ids beyond the model's vocabulary ({n_actions} actions, {n_objects} objects, \
             {} buckets): tokenize with the model's vocabulary (--vocab)",
            first_row + i,
            spec.num_buckets
        );
        out.push(s);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use vigil_models::ndarray::arr1;

    use super::*;

    #[test]
    fn surprise_is_minus_log_p_and_ties_count_against_the_target() {
        // ids 0 (pad) and 1 (OOV) are never ranked.
        let lp = arr1(&[0.0f32, 0.0, -1.0, -2.0, -1.0, -0.5]);
        assert_eq!(surprise_and_rank(lp.view(), 5), (0.5, 1));
        assert_eq!(surprise_and_rank(lp.view(), 2), (1.0, 3), "tied with id 4");
        assert_eq!(surprise_and_rank(lp.view(), 3), (2.0, 4));
        assert_eq!(best_id(lp.view()), 5);
        assert_eq!(best_id(arr1(&[9.0f32, 9.0, -1.0, -1.0]).view()), 2, "first on ties");
    }

    #[test]
    fn rows_are_cut_to_the_newest_positions_or_left_padded() {
        assert_eq!(fit_row(&[1, 2, 3], 2), vec![2, 3]);
        assert_eq!(fit_row(&[1, 2], 4), vec![0, 0, 1, 2]);
    }

    #[test]
    fn verdicts_are_appended_as_one_struct_column() {
        let ev = ActionEvent {
            entity: "10.0.0.1".into(),
            ts: 5,
            action: "GET 2xx".into(),
            object: "/".into(),
        };
        let base = events_to_record_batch(&[ev.clone(), ev]).unwrap();
        let v = |score| ActionVerdict { label: "/a".into(), score, rank: score.map(|_| 3) };
        let b = with_verdicts(&base, "m", &[v(None), v(Some(1.5))]).unwrap();
        assert_eq!(b.num_columns(), 5);
        let s = b.column_by_name("m").unwrap().as_struct();
        assert!(s.column_by_name("score").unwrap().is_null(0));
        let rank = s.column_by_name("rank").unwrap().as_primitive::<UInt32Type>();
        assert_eq!(rank.value(1), 3);
        assert!(with_verdicts(&base, "m", &[v(None)]).is_err());
    }
}
