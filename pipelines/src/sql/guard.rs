//! Running one query: read-only, bounded in memory and time.

use std::time::Duration;

use arrow_array::RecordBatch;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;

/// Why a query did not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The statement would change something (DDL, DML, `COPY`, `SET`, ...).
    #[error(
        "the store is read-only: {0} (only SELECT, WITH, EXPLAIN, SHOW and DESCRIBE are allowed)"
    )]
    ReadOnly(String),
    /// Past the time limit.
    #[error("the query ran past its time limit of {0:?}")]
    Timeout(Duration),
    /// DataFusion refused or failed the query (syntax, unknown column, memory limit, ...).
    #[error("{0}")]
    Query(#[from] datafusion::error::DataFusionError),
}

fn read_only() -> SQLOptions {
    SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false)
}

/// A query's result: its schema (also when there are no rows) and its batches.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// The result's columns.
    pub schema: arrow_schema::SchemaRef,
    /// The rows.
    pub batches: Vec<RecordBatch>,
}

/// Plan and run `sql` on `ctx`, refusing anything that is not read-only, and stopping
/// it after `timeout`. The memory limit is the session's (see [`super::open_store`]).
pub async fn run_query(
    ctx: &SessionContext,
    sql: &str,
    timeout: Duration,
) -> Result<QueryResult, SqlError> {
    let work = async {
        let df = ctx.sql_with_options(sql, read_only()).await.map_err(classify)?;
        let schema = std::sync::Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await.map_err(SqlError::Query)?;
        Ok(QueryResult { schema, batches })
    };
    tokio::time::timeout(timeout, work).await.map_err(|_| SqlError::Timeout(timeout))?
}

/// DataFusion's verdicts on DDL/DML/statements become [`SqlError::ReadOnly`].
fn classify(e: datafusion::error::DataFusionError) -> SqlError {
    let text = e.to_string();
    let refused = ["DDL not supported", "DML not supported", "Statement not supported"];
    match refused.iter().find(|r| text.contains(*r)) {
        Some(_) => {
            SqlError::ReadOnly(text.trim_start_matches("Error during planning: ").to_string())
        }
        None => SqlError::Query(e),
    }
}
