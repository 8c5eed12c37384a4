//! The console's HTTP API (JSON unless said).
//!
//! | route | what |
//! |---|---|
//! | `POST /api/sql` | read-only SQL: JSON `{"columns", "rows"}`, CSV or Arrow IPC by `Accept` |
//! | `GET /api/alerts` | alerts, filtered, flat or grouped by signature, paginated |
//! | `POST /api/alerts/{id}/ack`, `/escalate`, `/reopen` | one alert's state |
//! | `POST /api/alerts/ack`, `/escalate`, `/reopen` | the state of every alert a filter matches |
//! | `GET /api/alerts/stream` | new alerts as server-sent events |
//! | `GET /api/flows/{flow_id}` | a flow, its verdicts, related alerts and flows |
//! | `GET /api/entities/{entity}` | an entity's actions with their surprise, its alerts |
//! | `GET /api/series/{series}` | observed against forecast, anomaly scores, alerts |
//! | `GET /api/scores` | each model's score distribution |
//! | `GET /api/stats` | the stage counters |
//! | `GET /api/models` | the model manifests, with metrics and thresholds |
//! | `GET /metrics` | the stage counters in Prometheus' text format |
//! | `GET /`, `GET /assets/…` | the web UI (embedded; the only routes without the token) |

mod alerts;
mod drill;
mod filters;
mod live;
mod scores;
mod sql;
mod stats;

use std::sync::Arc;

pub use live::LiveAlerts;
pub(crate) use stats::Rates;

use axum::Router;
use axum::routing::{get, post};

use crate::serve::Shared;

/// The data routes (each behind the token, when there is one).
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/sql", post(sql::query))
        .route("/api/alerts", get(alerts::list))
        .route("/api/alerts/stream", get(live::stream))
        .route("/api/flows/{flow_id}", get(drill::flow))
        .route("/api/entities/{entity}", get(drill::entity))
        .route("/api/series/{series}", get(drill::series))
        .route("/api/alerts/{action}", post(alerts::set_many))
        .route("/api/alerts/{id}/{action}", post(alerts::set_one))
        .route("/api/scores", get(scores::scores))
        .route("/api/stats", get(stats::stats))
        .route("/api/models", get(stats::models))
        .route("/metrics", get(stats::metrics))
}

/// The web UI's files: no data, so no token (the page asks for it and sends it with
/// every API request).
pub(crate) fn ui_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/", get(crate::assets::index))
        .route("/assets/{*path}", get(crate::assets::file))
}
