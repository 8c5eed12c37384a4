//! Running one query: read-only, bounded in memory and time.

use std::time::Duration;

use arrow_array::RecordBatch;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;
use futures_util::StreamExt;

use super::QueryLimits;

/// Why a query did not run to the end. Each variant displays as one message with no
/// error source behind it, so an error chain (`{e:#}`) prints it once.
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
    /// Past the memory limit (DataFusion's resources-exhausted error, its message).
    #[error("the query needs more memory than its limit: {0}")]
    Memory(String),
    /// DataFusion refused or failed the query (syntax, unknown column, bad data, ...).
    #[error("{}", one_message(.0))]
    Query(datafusion::error::DataFusionError),
}

impl From<datafusion::error::DataFusionError> for SqlError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        use datafusion::error::DataFusionError as E;
        match e.find_root() {
            E::ResourcesExhausted(m) => SqlError::Memory(m.clone()),
            _ => SqlError::Query(e),
        }
    }
}

impl SqlError {
    /// Whether the query failed reading the store's files (Parquet, I/O, object store),
    /// rather than on its own terms: then checking the files and retrying may help.
    pub fn is_data_error(&self) -> bool {
        use datafusion::error::DataFusionError as E;
        let SqlError::Query(e) = self else { return false };
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(s) = source {
            if let Some(e) = s.downcast_ref::<E>()
                && matches!(e, E::ParquetError(_) | E::ObjectStore(_) | E::IoError(_))
            {
                return true;
            }
            if s.is::<parquet::errors::ParquetError>() || s.is::<std::io::Error>() {
                return true;
            }
            source = s.source();
        }
        false
    }
}

impl SqlError {
    /// Whether the query failed because a file listed for it was gone when read (a
    /// compaction or retention removed it meanwhile): running it again lists anew.
    pub fn is_missing_file(&self) -> bool {
        use datafusion::error::DataFusionError as E;
        let SqlError::Query(e) = self else { return false };
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(s) = source {
            if let Some(E::ObjectStore(e)) = s.downcast_ref::<E>()
                && matches!(e.as_ref(), datafusion::object_store::Error::NotFound { .. })
            {
                return true;
            }
            if s.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound)
            {
                return true;
            }
            source = s.source();
        }
        false
    }
}

/// A DataFusion error as one message: its display (which already includes what it
/// wraps), without a backtrace.
fn one_message(e: &datafusion::error::DataFusionError) -> String {
    e.strip_backtrace().trim_end().to_string()
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
    /// Whether rows past [`QueryLimits::max_rows`] were left out.
    pub truncated: bool,
}

/// Plan and run `sql` on `ctx`, refusing anything that is not read-only, stopping it
/// after `limits.timeout` and once it has `limits.max_rows` rows. The memory limit is
/// the session's (see [`super::open_store`]).
pub async fn run_query(
    ctx: &SessionContext,
    sql: &str,
    limits: &QueryLimits,
) -> Result<QueryResult, SqlError> {
    let work = async {
        let df = ctx.sql_with_options(sql, read_only()).await.map_err(classify)?;
        let schema = std::sync::Arc::new(df.schema().as_arrow().clone());
        let (batches, truncated) = match limits.max_rows {
            None => (df.collect().await?, false),
            Some(max) => first_rows(df.execute_stream().await?, max).await?,
        };
        Ok(QueryResult { schema, batches, truncated })
    };
    let timeout = limits.timeout;
    tokio::time::timeout(timeout, work).await.map_err(|_| SqlError::Timeout(timeout))?
}

/// At most `max` rows of `stream`, and whether it had more; the rest is not computed.
async fn first_rows(
    mut stream: SendableRecordBatchStream,
    max: usize,
) -> Result<(Vec<RecordBatch>, bool), SqlError> {
    let mut batches = Vec::new();
    let mut left = max;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        if batch.num_rows() > left {
            batches.push(batch.slice(0, left));
            return Ok((batches, true));
        }
        left -= batch.num_rows();
        batches.push(batch);
    }
    Ok((batches, false))
}

/// DataFusion's verdicts on DDL/DML/statements become [`SqlError::ReadOnly`].
fn classify(e: datafusion::error::DataFusionError) -> SqlError {
    let text = e.to_string();
    let refused = ["DDL not supported", "DML not supported", "Statement not supported"];
    match refused.iter().find(|r| text.contains(*r)) {
        Some(_) => {
            SqlError::ReadOnly(text.trim_start_matches("Error during planning: ").to_string())
        }
        None => SqlError::from(e),
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use datafusion::error::DataFusionError as E;

    use super::*;

    #[test]
    fn errors_are_classified_and_carry_no_source() {
        let wrapped = |e: E| {
            E::ArrowError(
                Box::new(datafusion::arrow::error::ArrowError::ExternalError(Box::new(e))),
                None,
            )
        };
        let memory = SqlError::from(wrapped(E::ResourcesExhausted("Failed to allocate".into())));
        assert!(matches!(&memory, SqlError::Memory(m) if m == "Failed to allocate"), "{memory}");
        let gone = datafusion::object_store::Error::NotFound {
            path: "/s/flows/x.parquet".into(),
            source: Box::new(std::io::Error::from(std::io::ErrorKind::NotFound)),
        };
        let gone = SqlError::from(wrapped(E::ObjectStore(Box::new(gone))));
        assert!(gone.is_missing_file() && gone.is_data_error());
        let bad = SqlError::from(E::ParquetError(Box::new(
            datafusion::parquet::errors::ParquetError::General("corrupt page".into()),
        )));
        assert!(bad.is_data_error() && !bad.is_missing_file());
        let plan = SqlError::from(E::Plan("no such column".into()));
        assert!(!plan.is_data_error() && !plan.is_missing_file());
        for e in [&memory, &gone, &bad, &plan] {
            assert!(e.source().is_none(), "{e}");
        }
        assert_eq!(plan.to_string(), "Error during planning: no such column");
    }
}
