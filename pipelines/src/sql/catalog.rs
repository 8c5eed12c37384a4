//! The store's tables registered in a DataFusion `SessionContext`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::store::{Table, list_files};

/// Bounds on one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// Memory the query's operators may hold (sorts, joins, aggregations); past it
    /// they spill or fail with a resources error.
    pub memory_bytes: usize,
    /// Wall-clock limit.
    pub timeout: Duration,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits { memory_bytes: 1 << 30, timeout: Duration::from_secs(60) }
    }
}

/// The partition columns every table has, from its directory layout.
fn partition_cols() -> Vec<(String, DataType)> {
    vec![("date".to_string(), DataType::Utf8), ("hour".to_string(), DataType::Utf8)]
}

/// A session over the store at `root` with the tables `flows`, `metrics`, `actions`,
/// `alerts` and `dead_letters`. A table with no files yet is empty but has its base
/// columns, so queries over a fresh store work. Columns some files lack (a model's
/// verdict added later) read as null.
pub async fn open_store(root: &Path, limits: QueryLimits) -> anyhow::Result<SessionContext> {
    let runtime =
        RuntimeEnvBuilder::new().with_memory_limit(limits.memory_bytes, 1.0).build_arc()?;
    // Plain Utf8 strings rather than views: measured faster on the saved queries (top-talkers
    // 247 -> 181 ms on 1M flows) and the same types as the tables' base schemas.
    let config = SessionConfig::new()
        .with_information_schema(true)
        .set_bool("datafusion.execution.parquet.schema_force_view_types", false);
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    for table in Table::ALL {
        register(&ctx, root, table).await?;
    }
    Ok(ctx)
}

async fn register(ctx: &SessionContext, root: &Path, table: Table) -> anyhow::Result<()> {
    let base = table.base_schema();
    let has_files = !list_files(root, table)?.is_empty();
    if !has_files {
        let mut fields: Vec<Field> = base.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.extend(partition_cols().into_iter().map(|(n, t)| Field::new(n, t, false)));
        let schema = Arc::new(Schema::new(fields));
        ctx.register_table(table.name(), Arc::new(MemTable::try_new(schema, vec![vec![]])?))?;
        return Ok(());
    }
    let dir = std::fs::canonicalize(root.join(table.name()))?;
    let url = ListingTableUrl::parse(format!("{}/", dir.display()))?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(partition_cols());
    let inferred = options.infer_schema(&ctx.state(), &url).await?;
    let schema = union(&base, &inferred)?;
    let config = ListingTableConfig::new(url).with_listing_options(options).with_schema(schema);
    ctx.register_table(table.name(), Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}

/// The base columns, then the files' extra columns, every column nullable since a
/// file may lack it. Where both have a column the files' type wins (DataFusion reads
/// strings as views, for example).
fn union(base: &SchemaRef, inferred: &SchemaRef) -> anyhow::Result<SchemaRef> {
    let mut fields: Vec<Field> = base
        .fields()
        .iter()
        .map(|f| match inferred.field_with_name(f.name()) {
            Ok(g) => g.clone(),
            Err(_) => f.as_ref().clone(),
        })
        .collect();
    for f in inferred.fields() {
        if base.field_with_name(f.name()).is_err() {
            fields.push(f.as_ref().clone());
        }
    }
    Ok(Arc::new(Schema::new(fields.into_iter().map(|f| f.with_nullable(true)).collect::<Vec<_>>())))
}
