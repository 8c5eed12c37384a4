//! `GET /api/scores`: the distribution of each model's scores over the rows it scored.
//!
//! Models score rows two ways: as a verdict struct column with a `model_version` field
//! (netFound and FlowTransformer in `flows`), whose score is the first of `malicious`,
//! `score`, `anomaly_score` or `surprise` the struct has; or as flat columns beside a
//! `model` column (HSTU's `surprise` in `actions`, iTransformer's `anomaly_score` in
//! `metrics`), one distribution per model named there. Probabilities are binned over
//! [0, 1], anything else over its observed range.

use std::sync::Arc;

use arrow_schema::{DataType, Fields};
use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::sql::objects;
use crate::error::ApiError;
use crate::serve::Shared;

/// The tables whose rows models score.
const TABLES: [&str; 3] = ["flows", "actions", "metrics"];
/// The score fields, the first a verdict has being its score.
const SCORE_FIELDS: [&str; 4] = ["malicious", "score", "anomaly_score", "surprise"];
const DEFAULT_BINS: usize = 20;
const MAX_BINS: usize = 200;

/// `GET /api/scores?bins=N`.
#[derive(Debug, Default, Deserialize)]
pub struct Bins {
    /// Bins per histogram (default 20, at most 200).
    pub bins: Option<usize>,
}

/// The score field of a verdict struct, if it is one.
fn score_field(fields: &Fields) -> Option<&'static str> {
    fields.find("model_version")?;
    SCORE_FIELDS.into_iter().find(|f| {
        fields
            .find(f)
            .is_some_and(|(_, x)| x.data_type().is_floating() || x.data_type().is_integer())
    })
}

/// `{"models": [{table, model, field, lo, hi, n, counts}]}`: one histogram per model
/// and table.
pub async fn scores(
    State(shared): State<Arc<Shared>>,
    Query(b): Query<Bins>,
) -> Result<Json<Value>, ApiError> {
    let bins = b.bins.unwrap_or(DEFAULT_BINS).clamp(1, MAX_BINS);
    let mut models = Vec::new();
    for table in TABLES {
        // A table the store does not have yet has no models.
        let Ok(empty) = shared.backend.sql(&format!("SELECT * FROM {table} LIMIT 0")).await else {
            continue;
        };
        let schema = empty.schema;
        for f in schema.fields() {
            let DataType::Struct(children) = f.data_type() else { continue };
            let Some(field) = score_field(children) else { continue };
            let e = format!("CAST({}['{field}'] AS DOUBLE)", f.name());
            let h = Histogram { table, model: f.name(), field, e: &e, only: "TRUE", bins };
            models.push(h.of(&shared).await?);
        }
        let flat = SCORE_FIELDS.into_iter().find(|c| schema.field_with_name(c).is_ok());
        let (Some(field), Ok(_)) = (flat, schema.field_with_name("model")) else { continue };
        let e = format!("CAST({field} AS DOUBLE)");
        let sql = format!(
            "SELECT DISTINCT model FROM {table} WHERE model IS NOT NULL AND {e} IS NOT NULL \
             ORDER BY model"
        );
        for r in objects(&shared.backend.sql(&sql).await?.batches)? {
            let Some(model) = r.get("model").and_then(Value::as_str) else { continue };
            let only = format!("model = {}", super::filters::quote(model));
            let h = Histogram { table, model, field, e: &e, only: &only, bins };
            models.push(h.of(&shared).await?);
        }
    }
    Ok(Json(json!({ "models": models })))
}

/// One model's histogram: `e` over the rows of `table` matching `only`.
struct Histogram<'a> {
    table: &'a str,
    model: &'a str,
    field: &'a str,
    e: &'a str,
    only: &'a str,
    bins: usize,
}

impl Histogram<'_> {
    async fn of(&self, shared: &Shared) -> Result<Value, ApiError> {
        let Histogram { table, model, field, e, only, bins } = *self;
        let sql = format!(
            "SELECT min({e}) AS lo, max({e}) AS hi, count({e}) AS n FROM {table} WHERE {only}"
        );
        let range = objects(&shared.backend.sql(&sql).await?.batches)?;
        let get = |k: &str| range.first().and_then(|r| r.get(k)).and_then(Value::as_f64);
        let (mut lo, mut hi) = (get("lo").unwrap_or(0.0), get("hi").unwrap_or(0.0));
        let n = get("n").unwrap_or(0.0) as u64;
        if lo >= 0.0 && hi <= 1.0 {
            (lo, hi) = (0.0, 1.0);
        }
        let mut counts = vec![0u64; bins];
        if n > 0 {
            let width = if hi > lo { (hi - lo) / bins as f64 } else { 1.0 };
            let sql = format!(
                "SELECT LEAST(CAST(floor(({e} - {lo}) / {width}) AS BIGINT), {}) AS bin, \
                 count(*) AS n FROM {table} WHERE {only} AND {e} IS NOT NULL GROUP BY 1",
                bins - 1
            );
            for r in objects(&shared.backend.sql(&sql).await?.batches)? {
                let bin = r.get("bin").and_then(Value::as_i64).unwrap_or(0);
                counts[bin.clamp(0, bins as i64 - 1) as usize] +=
                    r.get("n").and_then(Value::as_u64).unwrap_or(0);
            }
        }
        Ok(json!({
            "table": table, "model": model, "field": field, "lo": lo, "hi": hi, "n": n,
            "counts": counts,
        }))
    }
}
