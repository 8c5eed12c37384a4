//! Alert rules over scored records: a model's verdict at or above a threshold raises
//! an EVE-style alert, once per rule and key (source address, entity or series) within
//! the rule's suppression window (in event time, so replays alert as live runs do).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{
    Float32Builder, StringBuilder, TimestampMicrosecondBuilder, UInt8Builder, UInt16Builder,
    UInt64Builder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, TimestampMicrosecondType, UInt8Type, UInt16Type, UInt32Type,
    UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch, StructArray};
use serde_json::json;

use super::verdict::verdict_column_name;
use crate::runtime::config::AlertRule;
use crate::runtime::record::{Envelope, RecordKind};
use crate::store::Table;

/// One alert, before it becomes a row.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Event time, µs.
    pub ts: i64,
    /// The rule.
    pub rule: usize,
    /// Flow id, for flow alerts.
    pub flow_id: Option<u64>,
    /// Community ID, for flow alerts.
    pub community_id: Option<String>,
    /// (src ip, src port, dst ip, dst port, proto), for flow alerts.
    pub tuple: Option<(String, u16, String, u16, u8)>,
    /// Entity (actions) or series (metrics).
    pub entity: Option<String>,
    /// The verdict's label.
    pub label: Option<String>,
    /// The compared value.
    pub score: f32,
    /// Why, as JSON.
    pub evidence: serde_json::Value,
    /// The row's sensor.
    pub sensor: String,
}

/// Evaluates rules and keeps the suppression state.
pub struct AlertsTransform {
    rules: Vec<AlertRule>,
    last: HashMap<(usize, String), i64>,
    /// Alerts suppressed so far.
    pub suppressed: u64,
}

impl AlertsTransform {
    /// A transform with these rules.
    pub fn new(rules: Vec<AlertRule>) -> anyhow::Result<Self> {
        for r in &rules {
            anyhow::ensure!(
                (1..=3).contains(&r.severity),
                "rule {}: severity must be 1 to 3",
                r.name
            );
            let field = r.field.as_deref().unwrap_or("score");
            anyhow::ensure!(
                ["score", "malicious"].contains(&field),
                "rule {}: field must be `score` or `malicious`, not `{field}`",
                r.name
            );
        }
        Ok(AlertsTransform { rules, last: HashMap::new(), suppressed: 0 })
    }

    /// Alerts raised by a scored batch (none for batches no rule reads).
    pub fn apply(&mut self, env: &Envelope) -> anyhow::Result<Option<Envelope>> {
        let mut alerts = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            match env.kind {
                RecordKind::Flows => flow_alerts(i, rule, &env.batch, &mut alerts)?,
                RecordKind::Actions => {
                    row_alerts(i, rule, &env.batch, "entity", "surprise", &mut alerts)?
                }
                RecordKind::Metrics => {
                    row_alerts(i, rule, &env.batch, "series", "anomaly_score", &mut alerts)?
                }
                RecordKind::Alerts | RecordKind::DeadLetters => {}
            }
        }
        alerts.retain(|a| {
            let key = a
                .tuple
                .as_ref()
                .map(|t| t.0.clone())
                .or_else(|| a.entity.clone())
                .unwrap_or_default();
            let window = (self.rules[a.rule].suppress_secs as i64).saturating_mul(1_000_000);
            match self.last.get(&(a.rule, key.clone())) {
                Some(&t) if a.ts >= t && a.ts - t < window => {
                    self.suppressed += 1;
                    false
                }
                _ => {
                    self.last.insert((a.rule, key), a.ts);
                    true
                }
            }
        });
        if alerts.is_empty() {
            return Ok(None);
        }
        Ok(Some(Envelope::new(RecordKind::Alerts, alerts_batch(&alerts, &self.rules)?)))
    }
}

fn label_matches(rule: &AlertRule, label: Option<&str>) -> bool {
    rule.label.as_deref().is_none_or(|l| Some(l) == label)
        && rule.not_label.as_deref().is_none_or(|l| Some(l) != label)
}

fn flow_alerts(
    i: usize,
    rule: &AlertRule,
    b: &RecordBatch,
    out: &mut Vec<Alert>,
) -> anyhow::Result<()> {
    let Some(verdict) = b.column_by_name(&verdict_column_name(&rule.model)) else { return Ok(()) };
    let verdict: &StructArray = verdict.as_struct();
    let field = rule.field.as_deref().unwrap_or("score");
    let Some(value) = verdict.column_by_name(field) else { return Ok(()) };
    let value = value.as_primitive::<Float32Type>();
    let label = verdict.column_by_name("label").map(|l| l.as_string::<i32>().clone());
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
        if verdict.is_null(r) || value.is_null(r) || value.value(r) < rule.min_score {
            continue;
        }
        let l = label.as_ref().filter(|l| l.is_valid(r)).map(|l| l.value(r));
        if !label_matches(rule, l) {
            continue;
        }
        out.push(Alert {
            ts: ts.value(r),
            rule: i,
            flow_id: Some(flow_id.value(r)),
            community_id: Some(cid.value(r).to_string()),
            tuple: Some((src.value(r).into(), sp.value(r), dst.value(r).into(), dp.value(r), proto.value(r))),
            entity: None,
            label: l.map(str::to_string),
            score: value.value(r),
            evidence: json!({ "field": field, "value": value.value(r), "label": l, "conn_state": state.value(r) }),
            sensor: sensor.value(r).to_string(),
        });
    }
    Ok(())
}

/// Alerts on actions (surprise) or metrics (anomaly score): the row's `model` must be
/// the rule's.
fn row_alerts(
    i: usize,
    rule: &AlertRule,
    b: &RecordBatch,
    key: &str,
    score_col: &str,
    out: &mut Vec<Alert>,
) -> anyhow::Result<()> {
    let (Some(model), Some(score)) = (b.column_by_name("model"), b.column_by_name(score_col))
    else {
        return Ok(());
    };
    let model = model.as_string::<i32>();
    let score = score.as_primitive::<Float32Type>();
    let col = |n: &str| b.column_by_name(n).ok_or_else(|| anyhow::anyhow!("rows without `{n}`"));
    let ts = col("ts")?.as_primitive::<TimestampMicrosecondType>();
    let keys = col(key)?.as_string::<i32>();
    let sensor = col("sensor")?.as_string::<i32>();
    let is_actions = key == "entity";
    for r in 0..b.num_rows() {
        if model.is_null(r)
            || model.value(r) != rule.model
            || score.is_null(r)
            || score.value(r) < rule.min_score
        {
            continue;
        }
        let (label, evidence) = if is_actions {
            let action = col("action")?.as_string::<i32>().value(r).to_string();
            let object = col("object")?.as_string::<i32>().value(r).to_string();
            let rank = col("rank")?.as_primitive::<UInt32Type>();
            let predicted = col("predicted")?.as_string::<i32>();
            let ev = json!({ "action": action, "object": object, "surprise": score.value(r),
                "rank": rank.is_valid(r).then(|| rank.value(r)),
                "predicted": predicted.is_valid(r).then(|| predicted.value(r)) });
            (Some(action), ev)
        } else {
            let value = col("value")?.as_primitive::<Float64Type>();
            let forecast = col("forecast")?.as_primitive::<Float64Type>();
            let ev = json!({ "series": keys.value(r), "anomaly_score": score.value(r),
                "value": value.is_valid(r).then(|| value.value(r)),
                "forecast": forecast.is_valid(r).then(|| forecast.value(r)) });
            (None, ev)
        };
        if !label_matches(rule, label.as_deref()) {
            continue;
        }
        out.push(Alert {
            ts: ts.value(r),
            rule: i,
            flow_id: None,
            community_id: None,
            tuple: None,
            entity: Some(keys.value(r).to_string()),
            label,
            score: score.value(r),
            evidence,
            sensor: sensor.value(r).to_string(),
        });
    }
    Ok(())
}

/// Alerts as rows of the `alerts` table.
pub fn alerts_batch(alerts: &[Alert], rules: &[AlertRule]) -> anyhow::Result<RecordBatch> {
    let n = alerts.len();
    let mut ts = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut event_type = StringBuilder::new();
    let mut flow_id = UInt64Builder::with_capacity(n);
    let mut cid = StringBuilder::new();
    let (mut src, mut dst) = (StringBuilder::new(), StringBuilder::new());
    let (mut sp, mut dp) = (UInt16Builder::with_capacity(n), UInt16Builder::with_capacity(n));
    let mut proto = UInt8Builder::with_capacity(n);
    let mut entity = StringBuilder::new();
    let (mut sig, mut cat) = (StringBuilder::new(), StringBuilder::new());
    let mut sev = UInt8Builder::with_capacity(n);
    let (mut model, mut label) = (StringBuilder::new(), StringBuilder::new());
    let mut score = Float32Builder::with_capacity(n);
    let (mut evidence, mut sensor) = (StringBuilder::new(), StringBuilder::new());
    for a in alerts {
        let rule = &rules[a.rule];
        ts.append_value(a.ts);
        event_type.append_value("alert");
        flow_id.append_option(a.flow_id);
        cid.append_option(a.community_id.as_deref());
        src.append_option(a.tuple.as_ref().map(|t| t.0.as_str()));
        sp.append_option(a.tuple.as_ref().map(|t| t.1));
        dst.append_option(a.tuple.as_ref().map(|t| t.2.as_str()));
        dp.append_option(a.tuple.as_ref().map(|t| t.3));
        proto.append_option(a.tuple.as_ref().map(|t| t.4));
        entity.append_option(a.entity.as_deref());
        sig.append_value(&rule.name);
        cat.append_value(rule.category.as_deref().unwrap_or("Anomalous Activity"));
        sev.append_value(rule.severity);
        model.append_value(&rule.model);
        label.append_option(a.label.as_deref());
        score.append_value(a.score);
        evidence.append_value(a.evidence.to_string());
        sensor.append_value(&a.sensor);
    }
    let cols: Vec<ArrayRef> = vec![
        Arc::new(ts.finish()),
        Arc::new(event_type.finish()),
        Arc::new(flow_id.finish()),
        Arc::new(cid.finish()),
        Arc::new(src.finish()),
        Arc::new(sp.finish()),
        Arc::new(dst.finish()),
        Arc::new(dp.finish()),
        Arc::new(proto.finish()),
        Arc::new(entity.finish()),
        Arc::new(sig.finish()),
        Arc::new(cat.finish()),
        Arc::new(sev.finish()),
        Arc::new(model.finish()),
        Arc::new(label.finish()),
        Arc::new(score.finish()),
        Arc::new(evidence.finish()),
        Arc::new(sensor.finish()),
    ];
    Ok(RecordBatch::try_new(Table::Alerts.base_schema(), cols)?)
}
