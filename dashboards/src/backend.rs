//! What the console is handed by the binary that serves it.

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use vigil_ingest::alert_state::StateChange;
use vigil_ingest::stage_stats::StageSnapshot;

use crate::error::ApiError;

/// A query's result: its schema (also without rows) and its batches.
#[derive(Debug, Clone)]
pub struct QueryOutput {
    /// The columns.
    pub schema: SchemaRef,
    /// The rows.
    pub batches: Vec<RecordBatch>,
}

/// The store and the runtime, as the console sees them.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Run read-only SQL over the store with the limits of `vigil sql` (memory, time);
    /// a statement that is not read-only, or that fails to plan, is a 400.
    async fn sql(&self, sql: &str) -> Result<QueryOutput, ApiError>;

    /// Append analysts' decisions to the alert-state table (the one thing the console
    /// writes).
    fn record_states(&self, changes: &[StateChange]) -> anyhow::Result<()>;

    /// The stage counters now (empty when nothing runs or has run).
    fn stats(&self) -> Vec<StageSnapshot>;

    /// The manifests of the models known to the store's runs.
    fn models(&self) -> Vec<serde_json::Value>;
}
