//! Model rules against scored rows: which rows match, with their evidence.
//!
//! Flows: the model's verdict column (`label`, `score`, `probs`, `malicious`,
//! `occlusion`); the evidence holds the top class probabilities and the parts the score
//! rests on (FlowTransformer: features; netFound: bursts; by occlusion, see
//! `runtime::transforms::explain`). Actions: the HSTU surprise, with the observed
//! action against the model's five most likely ones and its rank. Metrics: the anomaly
//! score, with forecast against observed over the series' last steps.

use std::collections::{HashMap, VecDeque};

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, TimestampMicrosecondType, UInt8Type, UInt16Type, UInt32Type,
    UInt64Type,
};
use arrow_array::{Array, RecordBatch, StructArray};
use serde_json::{Value, json};

use super::alert::{Alert, ModelRef};
use super::rules::{ModelInfo, ModelRule};
use crate::runtime::record::RecordKind;
use crate::runtime::transforms::verdict::verdict_column_name;

/// Steps of forecast against observed kept per series for the evidence.
pub const HISTORY_STEPS: usize = 8;
/// Series whose recent steps are kept at most (past it the history starts afresh).
pub const HISTORY_SERIES: usize = 10_000;

/// One step of a series: (time, observed, forecast).
type Step = (i64, Option<f64>, Option<f64>);

/// The last steps of each series, up to the batch being matched.
#[derive(Debug, Default)]
pub struct SeriesHistory {
    steps: HashMap<String, VecDeque<Step>>,
}

/// The columns of a scored metrics batch the history reads.
struct StepColumns<'a> {
    series: &'a arrow_array::StringArray,
    ts: &'a arrow_array::TimestampMicrosecondArray,
    value: &'a arrow_array::Float64Array,
    forecast: &'a arrow_array::Float64Array,
}

impl<'a> StepColumns<'a> {
    fn of(b: &'a RecordBatch) -> Option<StepColumns<'a>> {
        Some(StepColumns {
            series: b.column_by_name("series")?.as_string_opt::<i32>()?,
            ts: b.column_by_name("ts")?.as_primitive_opt::<TimestampMicrosecondType>()?,
            value: b.column_by_name("value")?.as_primitive_opt::<Float64Type>()?,
            forecast: b.column_by_name("forecast")?.as_primitive_opt::<Float64Type>()?,
        })
    }

    fn step(&self, r: usize) -> Step {
        let opt = |a: &arrow_array::Float64Array| a.is_valid(r).then(|| a.value(r));
        (self.ts.value(r), opt(self.value), opt(self.forecast))
    }
}

impl SeriesHistory {
    /// Take in the rows of a scored metrics batch (after matching it).
    pub fn push(&mut self, b: &RecordBatch) -> anyhow::Result<()> {
        let Some(c) = StepColumns::of(b) else { return Ok(()) };
        if self.steps.len() > HISTORY_SERIES {
            self.steps.clear();
        }
        for r in 0..b.num_rows() {
            let q = self.steps.entry(c.series.value(r).to_string()).or_default();
            q.push_back(c.step(r));
            if q.len() > HISTORY_STEPS {
                q.pop_front();
            }
        }
        Ok(())
    }

    /// The last steps of row `r`'s series up to it, oldest first, as evidence: the
    /// batch's rows before it, and before those the steps of earlier batches.
    fn evidence(&self, b: &RecordBatch, r: usize) -> Value {
        let Some(c) = StepColumns::of(b) else { return Value::Array(Vec::new()) };
        let (series, ts) = (c.series.value(r), c.ts.value(r));
        let mut steps: Vec<Step> = (0..=r)
            .rev()
            .filter(|&i| c.series.value(i) == series)
            .take(HISTORY_STEPS)
            .map(|i| c.step(i))
            .collect();
        let earlier = self.steps.get(series).into_iter().flatten().rev().filter(|s| s.0 <= ts);
        steps.extend(earlier.take(HISTORY_STEPS - steps.len()).copied());
        let v: Vec<Value> = steps
            .iter()
            .rev()
            .map(|(t, v, f)| {
                json!({ "ts": vigil_ingest::time::rfc3339_us(*t), "observed": v, "forecast": f })
            })
            .collect();
        Value::Array(v)
    }
}

fn model_ref(rule: &ModelRule, info: &ModelInfo) -> ModelRef {
    ModelRef {
        name: rule.model.clone(),
        version: Some(info.version.clone()),
        sha256: Some(info.sha256.clone()),
    }
}

fn label_matches(rule: &ModelRule, label: Option<&str>) -> bool {
    rule.label.as_deref().is_none_or(|l| Some(l) == label)
        && rule.not_label.as_deref().is_none_or(|l| Some(l) != label)
}

/// A scored batch with what the alerts stage keeps beside it.
pub struct Scored<'a> {
    /// The rows.
    pub batch: &'a RecordBatch,
    /// Metrics: the series' recent steps.
    pub history: &'a SeriesHistory,
    /// Metrics: each row's log likelihood (`likelihood` rules), empty for other batches.
    pub likelihood: &'a [Option<f32>],
}

/// The rows of `s` that `rule` matches, as alerts not yet thresholded.
pub fn matches(
    rule: &ModelRule,
    info: &ModelInfo,
    kind: RecordKind,
    s: &Scored,
) -> anyhow::Result<Vec<Alert>> {
    let mut out = Vec::new();
    match kind {
        RecordKind::Flows => flow_matches(rule, info, s.batch, &mut out)?,
        RecordKind::Actions | RecordKind::Metrics => row_matches(rule, info, kind, s, &mut out)?,
        RecordKind::Alerts | RecordKind::DeadLetters => {}
    }
    Ok(out)
}

/// A `list<struct<NAME: utf8, VALUE: f32>>` cell as `[{NAME: …, VALUE: …}]` (null: none).
fn pairs_cell(list: &arrow_array::ListArray, r: usize) -> Option<Value> {
    if list.is_null(r) {
        return None;
    }
    let row = list.value(r);
    let items = row.as_struct_opt()?;
    let (names, values) = (items.column(0).as_string_opt::<i32>()?, items.column(1));
    let values = values.as_primitive_opt::<Float32Type>()?;
    let (kn, kv) = (items.column_names()[0], items.column_names()[1]);
    let v: Vec<Value> = (0..items.len())
        .map(|i| {
            let mut o = serde_json::Map::new();
            o.insert(kn.to_string(), json!(names.value(i)));
            o.insert(kv.to_string(), json!(values.value(i)));
            Value::Object(o)
        })
        .collect();
    Some(Value::Array(v))
}

/// The top classes by probability, as `{label: p}` in order.
fn top_probabilities(labels: &[String], probs: &[f32], k: usize) -> Value {
    let mut idx: Vec<usize> = (0..probs.len()).collect();
    idx.sort_by(|a, b| probs[*b].total_cmp(&probs[*a]));
    let top = idx.into_iter().take(k).map(|i| {
        let name = labels.get(i).cloned().unwrap_or_else(|| i.to_string());
        json!([name, probs[i]])
    });
    Value::Array(top.collect())
}

fn flow_matches(
    rule: &ModelRule,
    info: &ModelInfo,
    b: &RecordBatch,
    out: &mut Vec<Alert>,
) -> anyhow::Result<()> {
    let Some(verdict) = b.column_by_name(&verdict_column_name(&rule.model)) else { return Ok(()) };
    let verdict: &StructArray = verdict.as_struct();
    let f32_field =
        |n: &str| verdict.column_by_name(n).map(|c| c.as_primitive::<Float32Type>().clone());
    let (score, malicious) = (f32_field("score"), f32_field("malicious"));
    let probs = verdict.column_by_name("probs").map(|c| c.as_list::<i32>().clone());
    let occlusion =
        verdict.column_by_name("occlusion").and_then(|c| c.as_list_opt::<i32>().cloned());
    let label = verdict.column_by_name("label").map(|l| l.as_string::<i32>().clone());
    let benign = rule.not_label.as_ref().and_then(|l| info.labels.iter().position(|x| x == l));
    let col = |n: &str| b.column_by_name(n).ok_or_else(|| anyhow::anyhow!("flows without `{n}`"));
    let ts = col("ts_start")?.as_primitive::<TimestampMicrosecondType>();
    let flow_id = col("flow_id")?.as_primitive::<UInt64Type>();
    let cid = col("community_id")?.as_string::<i32>();
    let (src, dst) = (col("src_ip")?.as_string::<i32>(), col("dst_ip")?.as_string::<i32>());
    let (sp, dp) = (
        col("src_port")?.as_primitive::<UInt16Type>(),
        col("dst_port")?.as_primitive::<UInt16Type>(),
    );
    let proto = col("proto")?.as_primitive::<UInt8Type>();
    let state = col("conn_state")?.as_string::<i32>();
    let sensor = col("sensor")?.as_string::<i32>();
    for r in 0..b.num_rows() {
        if verdict.is_null(r) {
            continue;
        }
        let p: Option<Vec<f32>> = probs
            .as_ref()
            .filter(|p| p.is_valid(r))
            .map(|p| p.value(r).as_primitive::<Float32Type>().values().to_vec());
        let value = match rule.field.as_str() {
            "malicious" => malicious.as_ref().filter(|m| m.is_valid(r)).map(|m| m.value(r)),
            "attack" => match (&p, benign) {
                (Some(p), Some(i)) if i < p.len() => Some(1.0 - p[i]),
                _ => None,
            },
            _ => score.as_ref().filter(|s| s.is_valid(r)).map(|s| s.value(r)),
        };
        let Some(value) = value.filter(|v| *v >= rule.min_score) else { continue };
        let l = label.as_ref().filter(|l| l.is_valid(r)).map(|l| l.value(r));
        if !label_matches(rule, l) {
            continue;
        }
        let mut evidence = json!({
            "field": rule.field, "value": value, "label": l, "threshold": rule.threshold_origin,
            "conn_state": state.value(r),
        });
        if let Some(p) = &p {
            evidence["probabilities"] = top_probabilities(&info.labels, p, 5);
        }
        if let Some(parts) = occlusion.as_ref().and_then(|o| pairs_cell(o, r)) {
            evidence["occlusion"] = json!({ "method": "occlusion", "parts": parts });
        }
        out.push(Alert {
            ts: ts.value(r),
            model: model_ref(rule, info),
            flow_id: Some(flow_id.value(r)),
            community_id: Some(cid.value(r).to_string()).filter(|c| !c.is_empty()),
            src_ip: Some(src.value(r).into()),
            src_port: Some(sp.value(r)),
            dest_ip: Some(dst.value(r).into()),
            dest_port: Some(dp.value(r)),
            proto: Some(proto.value(r)),
            label: l.map(str::to_string),
            score: value,
            evidence,
            sensor: sensor.value(r).to_string(),
            ..Default::default()
        });
    }
    Ok(())
}

/// Actions (surprise) or metrics (anomaly score, or its likelihood) of the rule's model.
fn row_matches(
    rule: &ModelRule,
    info: &ModelInfo,
    kind: RecordKind,
    s: &Scored,
    out: &mut Vec<Alert>,
) -> anyhow::Result<()> {
    let (b, history) = (s.batch, s.history);
    let is_actions = kind == RecordKind::Actions;
    let (key, score_col) =
        if is_actions { ("entity", "surprise") } else { ("series", "anomaly_score") };
    let (Some(model), Some(score)) = (b.column_by_name("model"), b.column_by_name(score_col))
    else {
        return Ok(());
    };
    let model = model.as_string::<i32>();
    let score = score.as_primitive::<Float32Type>();
    let by_likelihood = !is_actions && rule.field == "likelihood";
    let value_of = |r: usize| {
        if by_likelihood {
            s.likelihood.get(r).copied().flatten()
        } else {
            score.is_valid(r).then(|| score.value(r))
        }
    };
    let col = |n: &str| b.column_by_name(n).ok_or_else(|| anyhow::anyhow!("rows without `{n}`"));
    let ts = col("ts")?.as_primitive::<TimestampMicrosecondType>();
    let keys = col(key)?.as_string::<i32>();
    let sensor = col("sensor")?.as_string::<i32>();
    for r in 0..b.num_rows() {
        if model.is_null(r) || model.value(r) != rule.model {
            continue;
        }
        let Some(value) = value_of(r).filter(|v| *v >= rule.min_score) else { continue };
        let (label, evidence) = if is_actions {
            let action = col("action")?.as_string::<i32>().value(r).to_string();
            let object = col("object")?.as_string::<i32>();
            let rank = col("rank")?.as_primitive::<UInt32Type>();
            let predicted = col("predicted")?.as_string::<i32>();
            let top = b
                .column_by_name("expected")
                .and_then(|c| c.as_list_opt::<i32>())
                .and_then(|l| pairs_cell(l, r));
            let expected = top.unwrap_or_else(|| {
                let p = predicted.is_valid(r).then(|| predicted.value(r));
                json!(p.map(|p| vec![json!({ "token": p })]).unwrap_or_default())
            });
            let ev = json!({
                "observed": { "action": action, "object": object.is_valid(r).then(|| object.value(r)) },
                "expected": expected,
                "observed_rank": rank.is_valid(r).then(|| rank.value(r)),
                "surprise": value, "threshold": rule.threshold_origin,
            });
            (Some(action), ev)
        } else {
            let observed = col("value")?.as_primitive::<Float64Type>();
            let forecast = col("forecast")?.as_primitive::<Float64Type>();
            let mut ev = json!({
                "series": keys.value(r),
                "anomaly_score": score.is_valid(r).then(|| score.value(r)),
                "observed": observed.is_valid(r).then(|| observed.value(r)),
                "forecast": forecast.is_valid(r).then(|| forecast.value(r)),
                "recent": history.evidence(b, r),
                "threshold": rule.threshold_origin,
            });
            if by_likelihood {
                ev["likelihood"] = json!(value);
            }
            (None, ev)
        };
        if !label_matches(rule, label.as_deref()) {
            continue;
        }
        out.push(Alert {
            ts: ts.value(r),
            model: model_ref(rule, info),
            entity: Some(keys.value(r).to_string()),
            label,
            score: value,
            evidence,
            sensor: sensor.value(r).to_string(),
            ..Default::default()
        });
    }
    Ok(())
}
