//! A table whose rows are swapped between queries: the SQL rules plan each query once
//! and, at every window, only set the rows and plan its physical execution.

use std::sync::{Arc, Mutex};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;

/// The rows a query sees now.
#[derive(Debug)]
pub struct WindowTable {
    schema: SchemaRef,
    rows: Mutex<Vec<RecordBatch>>,
}

impl WindowTable {
    /// An empty table of `schema`.
    pub fn new(schema: SchemaRef) -> Arc<WindowTable> {
        Arc::new(WindowTable { schema, rows: Mutex::new(Vec::new()) })
    }

    /// The rows queries planned from now on see.
    pub fn set(&self, rows: Vec<RecordBatch>) {
        *self.rows.lock().unwrap_or_else(|e| e.into_inner()) = rows;
    }
}

#[async_trait]
impl TableProvider for WindowTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let rows = self.rows.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Ok(MemorySourceConfig::try_new_exec(&[rows], self.schema.clone(), projection.cloned())?)
    }
}
