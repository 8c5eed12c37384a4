//! Stage counters and model manifests.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::serve::Shared;

/// `GET /api/stats`: `{"stages": […]}`, each stage's counters.
pub async fn stats(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({ "stages": shared.backend.stats() }))
}

/// `GET /metrics`: the counters in Prometheus' text format.
pub async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let text = vigil_ingest::stage_stats::prometheus_text(&shared.backend.stats());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// `GET /api/models`: every model manifest (metrics, thresholds, operating points).
pub async fn models(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(Value::Array(shared.backend.models()))
}
