//! The store's tables registered in a DataFusion `SessionContext`.
//!
//! Before the tables are registered every file's Parquet footer is read once per
//! process (remembered by path, size and modification time): a file that is not
//! readable Parquet is skipped with a warning, moved to `<store>/_quarantine/` and
//! recorded in `dead_letters` (see [`crate::store::quarantine`]), so one bad file
//! never takes a table, or the store, down.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, SystemTime};

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::store::{FileCheck, Partitioning, Table, check_file, list_files, quarantine};

use super::guard::{QueryResult, SqlError, run_query};

/// Bounds on one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// Memory the query's operators may hold (sorts, joins, aggregations); past it
    /// they spill or fail with a resources error.
    pub memory_bytes: usize,
    /// Wall-clock limit.
    pub timeout: Duration,
    /// Rows a result holds at most: the query stops computing past them. `None`
    /// keeps every row (`vigil sql`, which the user asked for all of).
    pub max_rows: Option<usize>,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits { memory_bytes: 1 << 30, timeout: Duration::from_secs(60), max_rows: None }
    }
}

/// The partition columns of `table`, from its directory layout (`date` and `hour`, or
/// `date`), as strings.
fn partition_cols(root: &Path, table: Table) -> anyhow::Result<Vec<(String, DataType)>> {
    let layout = Partitioning::on_disk(root, table)?.unwrap_or(Partitioning::default_for(table));
    Ok(layout.columns().iter().map(|c| (c.to_string(), DataType::Utf8)).collect())
}

/// A session over the store at `root` with the tables `flows`, `metrics`, `actions`,
/// `alerts` and `dead_letters`. A table with no files yet is empty but has its base
/// columns, so queries over a fresh store work. Columns some files lack (a model's
/// verdict added later) read as null. Unreadable files are quarantined first (see
/// [`check_store`]).
pub async fn open_store(root: &Path, limits: QueryLimits) -> anyhow::Result<SessionContext> {
    check_store(root)?;
    // No list-files cache: its entries never expire by default, so a long session (the
    // shell) would miss new files and fail on files compaction or quarantine removed.
    // Listing the store's directories per query costs little.
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(limits.memory_bytes, 1.0)
        .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0))
        .build_arc()?;
    // Plain Utf8 strings rather than views: measured faster on the saved queries (top-talkers
    // 247 -> 181 ms on 1M flows) and the same types as the tables' base schemas.
    let config = SessionConfig::new()
        .with_information_schema(true)
        .set_bool("datafusion.execution.parquet.schema_force_view_types", false)
        // Its grouped top-k sizes a hash table by the query's LIMIT: a huge one panics
        // (capacity overflow) or allocates gigabytes before any row is read.
        .set_bool("datafusion.optimizer.enable_topk_aggregation", false);
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
        fields
            .extend(partition_cols(root, table)?.into_iter().map(|(n, t)| Field::new(n, t, false)));
        let schema = Arc::new(Schema::new(fields));
        ctx.register_table(table.name(), Arc::new(MemTable::try_new(schema, vec![vec![]])?))?;
        return Ok(());
    }
    let dir = std::fs::canonicalize(root.join(table.name()))?;
    let url = ListingTableUrl::parse(format!("{}/", dir.display()))?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(partition_cols(root, table)?);
    let inferred = options.infer_schema(&ctx.state(), &url).await?;
    let schema = union(&base, &inferred)?;
    let config = ListingTableConfig::new(url).with_listing_options(options).with_schema(schema);
    ctx.register_table(table.name(), Arc::new(ListingTable::try_new(config)?))?;
    Ok(())
}

/// [`run_query`] over a session of the store at `root` (see [`open_store`]) that also
/// survives a file going bad under it. When a file listed for the query was gone when
/// read (compaction), the query is run again, once. When it fails reading data, the store's
/// footers are checked again (a file that appeared since), then, if none was bad, the
/// queried tables' files are decoded whole (a corrupt page); unreadable files are
/// quarantined (`dead_letters` is registered anew, to show them) and the query is run
/// again, once.
pub async fn query_store(
    ctx: &SessionContext,
    root: &Path,
    sql: &str,
    limits: &QueryLimits,
) -> Result<QueryResult, SqlError> {
    let first = run_query(ctx, sql, limits).await;
    match &first {
        Err(e) if e.is_missing_file() => return run_query(ctx, sql, limits).await,
        Err(e) if e.is_data_error() => {}
        _ => return first,
    }
    let mut moved = check_store(root).unwrap_or_else(|e| {
        tracing::warn!("checking the store's files: {e:#}");
        0
    });
    if moved == 0 {
        let tables = queried_tables(ctx, sql).await;
        moved = check_tables_deep(root, &tables).unwrap_or_else(|e| {
            tracing::warn!("checking the store's files: {e:#}");
            0
        });
    }
    if moved == 0 {
        return first;
    }
    // The new dead letters: `dead_letters` may have been empty when the session opened.
    let _ = ctx.deregister_table(Table::DeadLetters.name());
    if let Err(e) = register(ctx, root, Table::DeadLetters).await {
        tracing::warn!("dead_letters: {e:#}");
    }
    run_query(ctx, sql, limits).await
}

/// The store tables `sql` reads (all of them when it does not plan).
async fn queried_tables(ctx: &SessionContext, sql: &str) -> Vec<Table> {
    let Ok(plan) = ctx.state().create_logical_plan(sql).await else {
        return Table::ALL.to_vec();
    };
    let mut tables = Vec::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Ok(t) = scan.table_name.table().parse::<Table>()
            && !tables.contains(&t)
        {
            tables.push(t);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    tables
}

/// Files known good: (size, modification time) by path.
type Known = Mutex<HashMap<PathBuf, (u64, Option<SystemTime>)>>;

/// Files found readable.
static READABLE: LazyLock<Known> = LazyLock::new(Default::default);

/// Read the footer of every file of every table in the store at `root` (once per
/// process for an unchanged file) and quarantine those that are not readable Parquet;
/// returns how many were quarantined. `dead_letters` is checked last, after the dead
/// letters about the other tables' files were written. A file that cannot be opened
/// (no permission) is left where it is, with a warning.
pub fn check_store(root: &Path) -> anyhow::Result<usize> {
    let mut moved = 0;
    for table in Table::ALL {
        moved += check_table(root, table)?;
    }
    Ok(moved)
}

/// Files whose every page was decoded.
static DECODED: LazyLock<Known> = LazyLock::new(Default::default);

fn check_table(root: &Path, table: Table) -> anyhow::Result<usize> {
    check_files(root, table, &READABLE, check_file)
}

/// Decode every page of every file of `tables` (once per process for an unchanged
/// file) and quarantine those that fail: for after a query failed reading data whose
/// footers were fine (a corrupt page). Slow: it reads the tables whole.
pub fn check_tables_deep(root: &Path, tables: &[Table]) -> anyhow::Result<usize> {
    let mut moved = 0;
    for &table in tables {
        moved += check_files(root, table, &DECODED, decode_file)?;
    }
    Ok(moved)
}

/// Read every record batch of `path`.
fn decode_file(path: &Path) -> FileCheck {
    let schema = match check_file(path) {
        FileCheck::Readable(schema) => schema,
        other => return other,
    };
    let reader = std::fs::File::open(path).map_err(|e| e.to_string()).and_then(|f| {
        ParquetRecordBatchReaderBuilder::try_new(f)
            .and_then(|b| b.build())
            .map_err(|e| e.to_string())
    });
    match reader {
        Ok(reader) => match reader.into_iter().find_map(Result::err) {
            Some(e) => FileCheck::Unreadable(e.to_string()),
            None => FileCheck::Readable(schema),
        },
        Err(e) => FileCheck::Unreadable(e),
    }
}

/// Check the files of `table` not in `known` with `check`; quarantine the unreadable.
fn check_files(
    root: &Path,
    table: Table,
    known: &Known,
    check: fn(&Path) -> FileCheck,
) -> anyhow::Result<usize> {
    let mut moved = 0;
    for f in list_files(root, table)? {
        let mtime = std::fs::metadata(&f.path).and_then(|m| m.modified()).ok();
        let key = (f.bytes, mtime);
        if known.lock().unwrap_or_else(|e| e.into_inner()).get(&f.path) == Some(&key) {
            continue;
        }
        match check(&f.path) {
            FileCheck::Readable(_) => {
                known.lock().unwrap_or_else(|e| e.into_inner()).insert(f.path, key);
            }
            FileCheck::Unreadable(reason) => match quarantine(root, table, &f.path, &reason) {
                Ok(done) => moved += usize::from(done.is_some()),
                // A read-only store, say: queries reading the file will fail on it.
                Err(e) => tracing::warn!(
                    "{}: not readable Parquet ({reason}), and cannot be quarantined: {e}",
                    f.path.display()
                ),
            },
            FileCheck::Inaccessible(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            FileCheck::Inaccessible(e) => {
                tracing::warn!("{}: cannot be read ({e}); left in place", f.path.display());
            }
        }
    }
    Ok(moved)
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
