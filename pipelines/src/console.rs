//! The console's [`Backend`] over a store directory: read-only SQL with the limits of
//! `vigil sql`, the alert-state table, the counters the store's instances left, and the
//! manifests of a models directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use vigil_dashboards::{ApiError, Backend, QueryOutput};
use vigil_ingest::alert_state::StateChange;
use vigil_ingest::stage_stats::StageSnapshot;

use crate::sql::{QueryLimits, SqlError, open_store, query_store};
use crate::store::alert_state::record_changes;

/// Rows a console query computes at most, unless its limits say fewer: a bound on
/// the memory one request can take (the SQL console shows fewer still: `--max-rows`).
pub const MAX_RESULT_ROWS: usize = 1_000_000;

/// `limits` with a row bound ([`MAX_RESULT_ROWS`] when they have none).
fn bounded(limits: QueryLimits) -> QueryLimits {
    QueryLimits { max_rows: Some(limits.max_rows.unwrap_or(MAX_RESULT_ROWS)), ..limits }
}

/// A console over the store at `root`.
#[derive(Debug, Clone)]
pub struct StoreConsole {
    root: PathBuf,
    limits: QueryLimits,
    models: Vec<PathBuf>,
    /// The running instance's counters, when served by `vigil run` (else the files
    /// the store's instances left).
    live: Option<crate::runtime::stats::StatsRegistry>,
}

impl StoreConsole {
    /// Over the store at `root`, with query `limits`, listing the manifests under
    /// `models` (artifact directories, or directories of them).
    pub fn new(root: &Path, limits: QueryLimits, models: Vec<PathBuf>) -> Arc<StoreConsole> {
        let limits = bounded(limits);
        Arc::new(StoreConsole { root: root.to_path_buf(), limits, models, live: None })
    }

    /// The same, with the counters of the running instance `live`.
    pub fn live(
        root: &Path,
        limits: QueryLimits,
        models: Vec<PathBuf>,
        live: crate::runtime::stats::StatsRegistry,
    ) -> Arc<StoreConsole> {
        let limits = bounded(limits);
        Arc::new(StoreConsole { root: root.to_path_buf(), limits, models, live: Some(live) })
    }
}

/// A refused or failed query as an API error: the client's fault (400) unless the
/// store's data failed.
fn api_error(e: SqlError) -> ApiError {
    match &e {
        SqlError::Query(_) if e.is_data_error() => ApiError::internal(e.to_string()),
        _ => ApiError::bad_request(e.to_string()),
    }
}

#[async_trait::async_trait]
impl Backend for StoreConsole {
    async fn sql(&self, sql: &str) -> Result<QueryOutput, ApiError> {
        // A session per query: it lists the store's files as they are now.
        let ctx = open_store(&self.root, self.limits).await?;
        let r = query_store(&ctx, &self.root, sql, &self.limits).await.map_err(api_error)?;
        Ok(QueryOutput { schema: r.schema, batches: r.batches })
    }

    fn record_states(&self, changes: &[StateChange]) -> anyhow::Result<()> {
        record_changes(&self.root, "console", changes).map(|_| ())
    }

    fn stats(&self) -> Vec<StageSnapshot> {
        if let Some(live) = &self.live {
            return live.snapshot();
        }
        let instances = crate::runtime::stats::stored_snapshots(&self.root).unwrap_or_default();
        let several = instances.len() > 1;
        instances
            .into_iter()
            .flat_map(|(instance, stages)| {
                stages.into_iter().map(move |mut s| {
                    if several {
                        s.stage = format!("{instance}/{}", s.stage);
                    }
                    s
                })
            })
            .collect()
    }

    fn models(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        for dir in &self.models {
            for d in vigil_models::artifact_dirs(dir).unwrap_or_default() {
                let text = std::fs::read(d.join("manifest.json")).unwrap_or_default();
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&text) {
                    out.push(v);
                }
            }
        }
        out
    }
}
