//! Alerts: the filtered list (flat or grouped by signature, paginated) and the
//! analyst's decisions (acknowledge, escalate, reopen), one alert or every alert a
//! filter matches, written to the alert-state table.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use vigil_ingest::alert_state::{AlertState, StateChange};

use super::filters::{AlertFilter, check_alert_id, field_sql, quote};
use super::sql::{objects, with_evidence};
use crate::error::ApiError;
use crate::serve::Shared;

/// Alerts per page unless asked, and at most.
const PAGE: usize = 100;
const MAX_PAGE: usize = 1000;
/// Alerts one bulk decision may cover at most.
const MAX_BULK: usize = 10_000;

/// Paging and grouping of `GET /api/alerts`.
#[derive(Debug, Default, Deserialize)]
pub struct Paging {
    /// Rows per page.
    pub limit: Option<usize>,
    /// Rows to skip (the `next` of the previous page).
    pub offset: Option<usize>,
    /// `signature` (one row per rule) or another alert field (one row per value),
    /// with counts and first and last seen.
    pub group: Option<String>,
}

/// `alerts a` left-joined with each alert's current state `s`.
fn from_alerts() -> String {
    format!(
        "alerts a LEFT JOIN ({}) s ON a.alert_id = s.alert_id",
        vigil_ingest::alert_state::CURRENT_STATE_SQL
    )
}

/// `GET /api/alerts?since&until&severity&model&sid&src_ip&state&q&include.F&exclude.F&group&limit&offset`:
/// `{"alerts": […], "next": offset or null}`, newest first. Grouped by `signature`:
/// one row per rule; by another field F of [`VALUE_FIELDS`](super::filters::VALUE_FIELDS):
/// one row per value (`field`, `value`); each with its alerts, signatures, highest
/// severity, first and last seen, most alerts first.
pub async fn list(
    State(shared): State<Arc<Shared>>,
    Query(filter): Query<AlertFilter>,
    Query(pairs): Query<Vec<(String, String)>>,
    Query(paging): Query<Paging>,
) -> Result<Json<Value>, ApiError> {
    let limit = paging.limit.unwrap_or(PAGE).clamp(1, MAX_PAGE);
    let offset = paging.offset.unwrap_or(0);
    let cond = filter.with_values(&pairs)?.conditions()?.join(" AND ");
    let counts = "count(*) AS alerts, count(DISTINCT a.signature_id) AS signatures, \
                  min(a.severity) AS severity, min(a.timestamp) AS first_seen, \
                  max(a.timestamp) AS last_seen";
    let sql = match paging.group.as_deref() {
        None | Some("") | Some("none") => format!(
            "SELECT a.timestamp, a.alert_id, COALESCE(s.state, 'new') AS state, s.actor, \
             a.severity, a.signature, a.signature_id, a.category, a.src_ip, a.src_port, \
             a.dest_ip, a.dest_port, a.proto, a.entity, a.community_id, a.flow_id, a.model, \
             a.label, a.score, a.suppressed, a.evidence \
             FROM {} WHERE {cond} ORDER BY a.timestamp DESC, a.alert_id \
             LIMIT {} OFFSET {offset}",
            from_alerts(),
            limit + 1
        ),
        Some("signature") => format!(
            "SELECT a.signature_id, a.signature, {counts} \
             FROM {} WHERE {cond} GROUP BY a.signature_id, a.signature \
             ORDER BY alerts DESC, a.signature_id LIMIT {} OFFSET {offset}",
            from_alerts(),
            limit + 1
        ),
        Some(field) => format!(
            "SELECT {} AS field, {} AS value, {counts} FROM {} WHERE {cond} GROUP BY 2 \
             ORDER BY alerts DESC, value LIMIT {} OFFSET {offset}",
            quote(field),
            field_sql(field)?,
            from_alerts(),
            limit + 1
        ),
    };
    let out = shared.backend.sql(&sql).await?;
    let mut rows = with_evidence(objects(&out.batches)?);
    let more = rows.len() > limit;
    rows.truncate(limit);
    Ok(Json(json!({ "alerts": rows, "next": more.then_some(offset + limit) })))
}

/// The optional body of a decision.
#[derive(Debug, Default, Deserialize)]
pub struct Decision {
    /// Who decides.
    pub actor: Option<String>,
    /// Why.
    pub comment: Option<String>,
}

fn state_of(action: &str) -> Result<AlertState, ApiError> {
    match action {
        "ack" | "escalate" | "reopen" => action.parse().map_err(ApiError::bad_request),
        _ => Err(ApiError::not_found(format!("no action `{action}` (ack, escalate, reopen)"))),
    }
}

/// Record `state` for `ids`.
fn record(shared: &Shared, ids: &[String], state: AlertState, d: Decision) -> Result<(), ApiError> {
    let ts = vigil_ingest::time::now_us();
    let changes: Vec<StateChange> = ids
        .iter()
        .map(|id| StateChange {
            alert_id: id.clone(),
            state,
            actor: d.actor.clone(),
            comment: d.comment.clone(),
            ts,
        })
        .collect();
    shared.backend.record_states(&changes)?;
    Ok(())
}

/// The decision in a request body: none (empty, `null`) or a JSON object.
fn decision(body: &[u8]) -> Result<Decision, ApiError> {
    let text = std::str::from_utf8(body).unwrap_or("").trim();
    if text.is_empty() || text == "null" {
        return Ok(Decision::default());
    }
    serde_json::from_str(text).map_err(|e| {
        ApiError::bad_request(format!("the body is not a decision ({{actor, comment}}): {e}"))
    })
}

/// `POST /api/alerts/{id}/{ack|escalate|reopen}`: 404 for an id that is no alert.
pub async fn set_one(
    State(shared): State<Arc<Shared>>,
    Path((id, action)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let state = state_of(&action)?;
    check_alert_id(&id)?;
    let d = decision(&body)?;
    let sql = format!("SELECT count(*) AS n FROM alerts WHERE alert_id = {}", quote(&id));
    let found = objects(&shared.backend.sql(&sql).await?.batches)?;
    if found.first().and_then(|r| r.get("n")).and_then(Value::as_i64).unwrap_or(0) == 0 {
        return Err(ApiError::not_found(format!("no alert {id}")));
    }
    record(&shared, std::slice::from_ref(&id), state, d)?;
    Ok(Json(json!({ "alert_id": id, "state": state.as_str() })))
}

/// `POST /api/alerts/{ack|escalate|reopen}?<filters>`: every alert the filters match
/// (at most 10,000; more is refused).
pub async fn set_many(
    State(shared): State<Arc<Shared>>,
    Path(action): Path<String>,
    Query(filter): Query<AlertFilter>,
    Query(pairs): Query<Vec<(String, String)>>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let state = state_of(&action)?;
    let d = decision(&body)?;
    let cond = filter.with_values(&pairs)?.conditions()?.join(" AND ");
    let sql = format!(
        "SELECT DISTINCT a.alert_id FROM {} WHERE {cond} AND a.alert_id IS NOT NULL LIMIT {}",
        from_alerts(),
        MAX_BULK + 1
    );
    let ids: Vec<String> = objects(&shared.backend.sql(&sql).await?.batches)?
        .into_iter()
        .filter_map(|r| r.get("alert_id").and_then(Value::as_str).map(str::to_string))
        .collect();
    if ids.len() > MAX_BULK {
        return Err(ApiError::bad_request(format!(
            "the filter matches more than {MAX_BULK} alerts: narrow it"
        )));
    }
    record(&shared, &ids, state, d)?;
    Ok(Json(json!({ "state": state.as_str(), "alerts": ids.len() })))
}
