//! The router and the server.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use crate::access::Access;
use crate::api::{self, LiveAlerts};
use crate::backend::Backend;

/// How a console is served.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// Where to listen (default `127.0.0.1:8787`).
    pub listen: SocketAddr,
    /// The bearer token requests must carry (required off loopback).
    pub token: Option<String>,
    /// Rows a query answers at most (the rest are cut, and the answer says so).
    pub max_rows: usize,
    /// Request bodies at most, bytes.
    pub max_body_bytes: usize,
    /// Alerts pushed by the runtime as it writes them (its `dashboard` sink), streamed
    /// as they come besides the store's polled newest.
    pub live: Option<LiveAlerts>,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8787)),
            token: None,
            max_rows: 10_000,
            max_body_bytes: 64 * 1024,
            live: None,
        }
    }
}

/// What every handler gets.
pub(crate) struct Shared {
    pub backend: Arc<dyn Backend>,
    pub max_rows: usize,
    pub live: Option<LiveAlerts>,
    pub rates: std::sync::Mutex<api::Rates>,
}

/// The console's routes over `backend`, the data behind `access` (the web UI's files
/// are not: they hold no data). No CORS headers are sent, so browsers keep other
/// origins out.
pub fn router(backend: Arc<dyn Backend>, config: &ConsoleConfig, access: Access) -> Router {
    let shared = Arc::new(Shared {
        backend,
        max_rows: config.max_rows,
        live: config.live.clone(),
        rates: Default::default(),
    });
    api::routes()
        .layer(middleware::from_fn_with_state(Arc::new(access), check_token))
        .merge(api::ui_routes())
        .with_state(shared)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
}

async fn check_token(State(access): State<Arc<Access>>, req: Request, next: Next) -> Response {
    let auth = req.headers().get(axum::http::header::AUTHORIZATION).map(|v| v.as_bytes());
    if !access.allows(auth) {
        let body = axum::Json(serde_json::json!({ "error": "a bearer token is required" }));
        return (StatusCode::UNAUTHORIZED, [("www-authenticate", "Bearer")], body).into_response();
    }
    next.run(req).await
}

/// Where the stage counters come from, for [`metrics_router`].
pub type StatsSource = Arc<dyn Fn() -> Vec<vigil_ingest::stage_stats::StageSnapshot> + Send + Sync>;

/// A router answering `GET /metrics` (Prometheus text) and `GET /api/stats` (the same
/// counters as JSON, `{"stages": […]}`, what `vigil stats --url` reads) only: the
/// runtime's counters listener, which exposes nothing else.
pub fn metrics_router(stats: StatsSource) -> Router {
    let json = stats.clone();
    Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || {
                let stats = stats.clone();
                async move {
                    let text = vigil_ingest::stage_stats::prometheus_text(&stats());
                    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
                }
            }),
        )
        .route(
            "/api/stats",
            axum::routing::get(move || {
                let stats = json.clone();
                async move { axum::Json(serde_json::json!({ "stages": stats() })) }
            }),
        )
}

/// Serve `app` on `listener` until `shutdown` resolves.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
    Ok(())
}

/// Serve the console on `config.listen` until `shutdown` resolves; refuses a
/// non-loopback address without a token. Logs the address it listens on.
pub async fn serve(
    backend: Arc<dyn Backend>,
    config: ConsoleConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let access = Access::new(config.listen, config.token.clone())?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, token = access.needs_token(), "console listening");
    serve_on(listener, router(backend, &config, access), shutdown).await
}
