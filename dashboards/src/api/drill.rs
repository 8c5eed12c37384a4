//! Drill-downs: a flow with its verdicts and related alerts and flows, an entity's
//! actions with their surprise, a series' observed values against its forecasts. The
//! alerts listed are alerts (`event_type = 'alert'`), not summaries of repeats.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Map, Value, json};

use super::filters::quote;
use super::sql::{objects, with_evidence};
use crate::error::ApiError;
use crate::serve::Shared;

/// Rows a drill-down list holds at most.
const RELATED: usize = 100;
/// Points of a series at most (the newest).
const POINTS: usize = 5000;

async fn rows(shared: &Shared, sql: &str) -> Result<Vec<Map<String, Value>>, ApiError> {
    Ok(objects(&shared.backend.sql(sql).await?.batches)?)
}

/// At most [`RELATED`] alerts (not summaries) matching `cond`, by time (`order`: `""`
/// oldest first, `"DESC"` newest first), their evidence as JSON.
async fn alerts(
    shared: &Shared,
    cond: &str,
    order: &str,
) -> Result<Vec<Map<String, Value>>, ApiError> {
    let sql = format!(
        "SELECT * FROM alerts WHERE event_type = 'alert' AND ({cond}) \
         ORDER BY timestamp {order} LIMIT {RELATED}"
    );
    Ok(with_evidence(rows(shared, &sql).await?))
}

/// `GET /api/flows/{flow_id}`: the flow (every column, the models' verdicts with their
/// evidence included), its netFound bursts (`forward`, `packets`, `bytes`, `iat_us`,
/// `ts`; empty when no netFound stage scored it), its alerts and those sharing its Community ID, and the other
/// recent flows of its source host.
pub async fn flow(
    State(shared): State<Arc<Shared>>,
    Path(flow_id): Path<u64>,
) -> Result<Json<Value>, ApiError> {
    let found =
        rows(&shared, &format!("SELECT * FROM flows WHERE flow_id = {flow_id} LIMIT 1")).await?;
    let Some(mut flow) = found.into_iter().next() else {
        return Err(ApiError::not_found(format!("no flow {flow_id}")));
    };
    let text = |k: &str| flow.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let (cid, src) = (quote(&text("community_id")), quote(&text("src_ip")));
    let alerts =
        alerts(&shared, &format!("flow_id = {flow_id} OR community_id = {cid}"), "").await?;
    let same_cid = rows(
        &shared,
        &format!(
            "SELECT flow_id, uid, sensor, ts_start, ts_end, conn_state FROM flows \
             WHERE community_id = {cid} AND flow_id <> {flow_id} ORDER BY ts_start LIMIT {RELATED}"
        ),
    )
    .await?;
    let host = rows(
        &shared,
        &format!(
            "SELECT flow_id, ts_start, src_ip, src_port, dst_ip, dst_port, proto, conn_state \
             FROM flows WHERE (src_ip = {src} OR dst_ip = {src}) AND flow_id <> {flow_id} \
             ORDER BY ts_start DESC LIMIT {RELATED}"
        ),
    )
    .await?;
    // netFound's bursts (when a netFound stage scored the flow), apart from the row.
    let bursts = flow.remove("bursts").unwrap_or(Value::Array(Vec::new()));
    Ok(Json(json!({
        "flow": flow,
        "bursts": bursts,
        "alerts": alerts,
        "same_community_id": same_cid,
        "same_host": host,
    })))
}

/// `GET /api/entities/{entity}`: its newest actions with the surprise of each, the rank
/// of what happened and the model's most likely actions, and its alerts.
pub async fn entity(
    State(shared): State<Arc<Shared>>,
    Path(entity): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let e = quote(&entity);
    let actions = rows(
        &shared,
        &format!("SELECT * FROM actions WHERE entity = {e} ORDER BY ts DESC LIMIT {RELATED}"),
    )
    .await?;
    let alerts = alerts(&shared, &format!("entity = {e} OR src_ip = {e}"), "DESC").await?;
    if actions.is_empty() && alerts.is_empty() {
        return Err(ApiError::not_found(format!("no actions or alerts of {entity:?}")));
    }
    Ok(Json(json!({ "entity": entity, "actions": actions, "alerts": alerts })))
}

/// `GET /api/series/{series}`: its newest points (observed, forecast, anomaly score) in
/// time order, and its alerts (the anomaly marks).
pub async fn series(
    State(shared): State<Arc<Shared>>,
    Path(series): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let s = quote(&series);
    let points = rows(
        &shared,
        &format!(
            "SELECT ts, value, forecast, anomaly_score, model FROM \
             (SELECT * FROM metrics WHERE series = {s} ORDER BY ts DESC LIMIT {POINTS}) ORDER BY ts"
        ),
    )
    .await?;
    if points.is_empty() {
        return Err(ApiError::not_found(format!("no points of series {series:?}")));
    }
    let alerts = alerts(&shared, &format!("entity = {s}"), "").await?;
    Ok(Json(json!({ "series": series, "points": points, "alerts": alerts })))
}
