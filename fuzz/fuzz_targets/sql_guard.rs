//! The read-only SQL guard, structure-aware: statements built from a small SQL grammar
//! (queries over the store's tables, table functions, file paths inside and outside
//! the store, DDL, DML, `COPY` and `SET` alone, inside CTEs and under `EXPLAIN`) run
//! through [`run_query`] on a real store with the console's limits. Whatever the
//! statement:
//! - nothing is written: the store's files and the paths outside it stay as they were,
//!   and a statement that would write is refused (unless a plain `EXPLAIN` only plans it);
//! - nothing outside the store is read: no result holds the marker of a file outside it;
//! - it is bounded: it returns within its time limit (plus scheduling slack), with at
//!   most the row limit.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use vigil_pipelines::sql::{QueryLimits, SqlError, open_store, run_query};

/// A marker only the file outside the store holds.
const SECRET: &str = "VIGIL_FUZZ_OUTSIDE_THE_STORE";
const LIMITS: QueryLimits = QueryLimits {
    memory_bytes: 64 << 20,
    timeout: Duration::from_millis(500),
    max_rows: Some(1000),
};
/// Time past the limit a query may take to notice it (one batch, the scheduler).
const SLACK: Duration = Duration::from_secs(3);
/// Nesting depth past which subqueries and expressions are cut short.
const MAX_DEPTH: u8 = 4;

struct World {
    runtime: tokio::runtime::Runtime,
    ctx: datafusion::prelude::SessionContext,
    store: PathBuf,
    outside: PathBuf,
    /// Where a write would land outside the store; must never exist.
    target: PathBuf,
    store_files: Vec<PathBuf>,
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() { dirs.push(p) } else { out.push(p) }
        }
    }
    out.sort();
    out
}

/// A copy of the committed sample store (`fixtures/store`: scored flows, alerts,
/// metric steps, actions), and a CSV and a JSON file outside it holding the marker.
fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("vigil-fuzz-sql-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let store = base.join("store");
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/store");
        copy_dir(&sample, &store);
        let outside = base.join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret.csv"), format!("a,b\n1,{SECRET}\n")).unwrap();
        std::fs::write(outside.join("secret.json"), format!("{{\"a\":\"{SECRET}\"}}\n")).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let ctx = runtime.block_on(open_store(&store, LIMITS)).expect("the sample store opens");
        let store_files = files_under(&store);
        World { runtime, ctx, store, outside, target: base.join("written"), store_files }
    })
}

fn copy_dir(from: &Path, to: &Path) {
    for f in files_under(from) {
        let dst = to.join(f.strip_prefix(from).unwrap());
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(&f, &dst).unwrap();
    }
}

#[derive(Debug, Arbitrary)]
enum Stmt {
    Query(Query),
    With(Vec<(u8, Stmt)>, Query),
    Explain {
        analyze: bool,
        verbose: bool,
        inner: Box<Stmt>,
    },
    Write(Write),
    /// Arbitrary text, for what the grammar does not reach.
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum Write {
    CreateTableAs(u8, Query),
    CreateView(u8, Query),
    CreateExternal(u8, Loc, FileType),
    Insert(StoreTable, Query),
    Update(StoreTable),
    Delete(StoreTable),
    Drop(StoreTable),
    Truncate(StoreTable),
    Copy(Query, FileType),
    Set(u8, u8),
    CreateFunction(u8),
    CreateSchema(u8),
}

#[derive(Debug, Arbitrary, Clone, Copy)]
enum StoreTable {
    Flows,
    Alerts,
    AlertState,
    DeadLetters,
    Metrics,
    Actions,
    Information,
}

#[derive(Debug, Arbitrary, Clone, Copy)]
enum FileType {
    Csv,
    Parquet,
    Json,
    Arrow,
}

#[derive(Debug, Arbitrary, Clone, Copy)]
enum Loc {
    SecretCsv,
    SecretJson,
    OutsideDir,
    StoreDir,
    StoreFile,
    Target,
    EtcPasswd,
    Url,
    Glob,
}

#[derive(Debug, Arbitrary)]
enum Source {
    Table(StoreTable),
    Path(Loc),
    TableFn(TableFn, i64, i64, i64),
    FileFn(u8, Loc),
    Sub(Box<Query>),
}

#[derive(Debug, Arbitrary, Clone, Copy)]
enum TableFn {
    GenerateSeries,
    Range,
}

#[derive(Debug, Arbitrary)]
struct Query {
    distinct: bool,
    select: Vec<Expr>,
    from: Option<Source>,
    join: Option<(Source, Expr)>,
    filter: Option<Expr>,
    group: bool,
    order: bool,
    limit: Option<u64>,
    union: Option<Box<Query>>,
}

#[derive(Debug, Arbitrary)]
enum Expr {
    Star,
    Col(u8),
    Int(i64),
    Str(String),
    Call(u8, Vec<Expr>),
    Bin(Box<Expr>, u8, Box<Expr>),
    Subquery(Box<Query>),
    Window(u8),
}

const COLUMNS: [&str; 10] =
    ["src_ip", "dst_ip", "ts", "score", "signature", "severity", "value", "entity", "reason", "*"];
const FUNCTIONS: [&str; 14] = [
    "count",
    "sum",
    "max",
    "min",
    "avg",
    "length",
    "upper",
    "concat",
    "coalesce",
    "array_agg",
    "string_agg",
    "regexp_replace",
    "repeat",
    "to_timestamp",
];
const FILE_FNS: [&str; 6] =
    ["read_csv", "read_parquet", "read_json", "parquet_metadata", "read_file", "glob"];
const OPS: [&str; 8] = ["+", "*", "=", "<", "AND", "OR", "||", "LIKE"];
const SETTINGS: [&str; 4] = [
    "datafusion.execution.batch_size",
    "datafusion.execution.target_partitions",
    "datafusion.catalog.information_schema",
    "datafusion.runtime.memory_limit",
];

impl StoreTable {
    fn sql(self) -> &'static str {
        match self {
            StoreTable::Flows => "flows",
            StoreTable::Alerts => "alerts",
            StoreTable::AlertState => "alert_state",
            StoreTable::DeadLetters => "dead_letters",
            StoreTable::Metrics => "metrics",
            StoreTable::Actions => "actions",
            StoreTable::Information => "information_schema.tables",
        }
    }
}

impl FileType {
    fn sql(self) -> &'static str {
        match self {
            FileType::Csv => "CSV",
            FileType::Parquet => "PARQUET",
            FileType::Json => "JSON",
            FileType::Arrow => "ARROW",
        }
    }
}

impl Loc {
    fn path(self, w: &World) -> String {
        match self {
            Loc::SecretCsv => w.outside.join("secret.csv").display().to_string(),
            Loc::SecretJson => w.outside.join("secret.json").display().to_string(),
            Loc::OutsideDir => format!("{}/", w.outside.display()),
            Loc::StoreDir => format!("{}/flows/", w.store.display()),
            Loc::StoreFile => {
                w.store_files.first().map(|p| p.display().to_string()).unwrap_or_default()
            }
            Loc::Target => w.target.display().to_string(),
            Loc::EtcPasswd => "/etc/passwd".into(),
            Loc::Url => format!("file://{}", w.outside.join("secret.csv").display()),
            Loc::Glob => format!("{}/*", w.outside.display()),
        }
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// SQL text, whether running it would change something, and whether it holds text
/// the grammar did not build (then only the files tell).
struct Render<'w> {
    w: &'w World,
    out: String,
    writes: bool,
    raw: bool,
}

impl Render<'_> {
    fn stmt(&mut self, s: &Stmt, depth: u8) {
        match s {
            Stmt::Query(q) => self.query(q, depth),
            Stmt::With(ctes, q) => {
                self.out.push_str("WITH ");
                for (i, (name, cte)) in ctes.iter().take(3).enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    self.out.push_str(&format!("c{name} AS ("));
                    if depth < MAX_DEPTH {
                        self.stmt(cte, depth + 1)
                    } else {
                        self.out.push_str("SELECT 1")
                    }
                    self.out.push(')');
                }
                if ctes.is_empty() {
                    self.out.push_str("c AS (SELECT 1)");
                }
                self.out.push(' ');
                self.query(q, depth);
            }
            Stmt::Explain { analyze, verbose, inner } => {
                self.out.push_str("EXPLAIN ");
                if *analyze {
                    self.out.push_str("ANALYZE ");
                }
                if *verbose {
                    self.out.push_str("VERBOSE ");
                }
                let before = self.writes;
                if depth < MAX_DEPTH {
                    self.stmt(inner, depth + 1)
                } else {
                    self.out.push_str("SELECT 1")
                }
                // A plain EXPLAIN plans a write without running it.
                if !analyze {
                    self.writes = before;
                }
            }
            Stmt::Write(w) => {
                self.writes = true;
                self.write(w, depth);
            }
            Stmt::Raw(text) => {
                self.out.push_str(text);
                self.raw = true;
            }
        }
    }

    fn write(&mut self, w: &Write, depth: u8) {
        let target = self.w.target.display().to_string();
        match w {
            Write::CreateTableAs(n, q) => {
                self.out.push_str(&format!("CREATE TABLE t{n} AS "));
                self.query(q, depth);
            }
            Write::CreateView(n, q) => {
                self.out.push_str(&format!("CREATE VIEW v{n} AS "));
                self.query(q, depth);
            }
            Write::CreateExternal(n, loc, ft) => self.out.push_str(&format!(
                "CREATE EXTERNAL TABLE e{n} STORED AS {} LOCATION {}",
                ft.sql(),
                quote(&loc.path(self.w))
            )),
            Write::Insert(t, q) => {
                self.out.push_str(&format!("INSERT INTO {} ", t.sql()));
                self.query(q, depth);
            }
            Write::Update(t) => self.out.push_str(&format!("UPDATE {} SET ts = 0", t.sql())),
            Write::Delete(t) => self.out.push_str(&format!("DELETE FROM {}", t.sql())),
            Write::Drop(t) => self.out.push_str(&format!("DROP TABLE {}", t.sql())),
            Write::Truncate(t) => self.out.push_str(&format!("TRUNCATE TABLE {}", t.sql())),
            Write::Copy(q, ft) => {
                self.out.push_str("COPY (");
                self.query(q, depth);
                self.out.push_str(&format!(") TO {} STORED AS {}", quote(&target), ft.sql()));
            }
            Write::Set(k, v) => self.out.push_str(&format!(
                "SET {} = {}",
                SETTINGS[usize::from(*k) % SETTINGS.len()],
                v
            )),
            Write::CreateFunction(n) => {
                self.out.push_str(&format!("CREATE FUNCTION f{n}(x INT) RETURNS INT RETURN x + 1"))
            }
            Write::CreateSchema(n) => self.out.push_str(&format!("CREATE SCHEMA s{n}")),
        }
    }

    fn query(&mut self, q: &Query, depth: u8) {
        self.out.push_str("SELECT ");
        if q.distinct {
            self.out.push_str("DISTINCT ");
        }
        if q.select.is_empty() {
            self.out.push('*');
        }
        for (i, e) in q.select.iter().take(4).enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.expr(e, depth);
        }
        if let Some(src) = &q.from {
            self.out.push_str(" FROM ");
            self.source(src, depth);
            if let Some((other, on)) = &q.join {
                self.out.push_str(" JOIN ");
                self.source(other, depth);
                self.out.push_str(" ON ");
                self.expr(on, depth);
            }
        }
        if let Some(f) = &q.filter {
            self.out.push_str(" WHERE ");
            self.expr(f, depth);
        }
        if q.group {
            self.out.push_str(" GROUP BY 1");
        }
        if q.order {
            self.out.push_str(" ORDER BY 1 DESC");
        }
        if let Some(n) = q.limit {
            self.out.push_str(&format!(" LIMIT {n}"));
        }
        if let Some(u) = &q.union
            && depth < MAX_DEPTH
        {
            self.out.push_str(" UNION ALL ");
            self.query(u, depth + 1);
        }
    }

    fn source(&mut self, s: &Source, depth: u8) {
        match s {
            Source::Table(t) => self.out.push_str(t.sql()),
            Source::Path(loc) => self.out.push_str(&quote(&loc.path(self.w))),
            Source::TableFn(f, a, b, c) => {
                let name = match f {
                    TableFn::GenerateSeries => "generate_series",
                    TableFn::Range => "range",
                };
                self.out.push_str(&format!("{name}({a}, {b}, {c})"));
            }
            Source::FileFn(f, loc) => self.out.push_str(&format!(
                "{}({})",
                FILE_FNS[usize::from(*f) % FILE_FNS.len()],
                quote(&loc.path(self.w))
            )),
            Source::Sub(q) => {
                self.out.push('(');
                if depth < MAX_DEPTH {
                    self.query(q, depth + 1)
                } else {
                    self.out.push_str("SELECT 1")
                }
                self.out.push_str(") AS s");
            }
        }
    }

    fn expr(&mut self, e: &Expr, depth: u8) {
        if depth >= MAX_DEPTH {
            self.out.push('1');
            return;
        }
        match e {
            Expr::Star => self.out.push('*'),
            Expr::Col(c) => self.out.push_str(COLUMNS[usize::from(*c) % COLUMNS.len()]),
            Expr::Int(i) => self.out.push_str(&i.to_string()),
            Expr::Str(s) => self.out.push_str(&quote(s)),
            Expr::Call(f, args) => {
                self.out.push_str(FUNCTIONS[usize::from(*f) % FUNCTIONS.len()]);
                self.out.push('(');
                for (i, a) in args.iter().take(3).enumerate() {
                    if i > 0 {
                        self.out.push_str(", ");
                    }
                    self.expr(a, depth + 1);
                }
                self.out.push(')');
            }
            Expr::Bin(a, op, b) => {
                self.out.push('(');
                self.expr(a, depth + 1);
                self.out.push_str(&format!(" {} ", OPS[usize::from(*op) % OPS.len()]));
                self.expr(b, depth + 1);
                self.out.push(')');
            }
            Expr::Subquery(q) => {
                self.out.push('(');
                self.query(q, depth + 1);
                self.out.push(')');
            }
            Expr::Window(c) => self.out.push_str(&format!(
                "row_number() OVER (PARTITION BY {} ORDER BY 1)",
                COLUMNS[usize::from(*c) % (COLUMNS.len() - 1)]
            )),
        }
    }
}

fn holds_secret(batches: &[RecordBatch]) -> bool {
    batches.iter().any(|b| {
        b.columns().iter().any(|c| {
            let text = ArrayFormatter::try_new(c.as_ref(), &FormatOptions::default());
            text.is_ok_and(|f| (0..c.len()).any(|i| f.value(i).to_string().contains(SECRET)))
        })
    })
}

fuzz_target!(|stmt: Stmt| {
    let w = world();
    let mut r = Render { w, out: String::new(), writes: false, raw: false };
    r.stmt(&stmt, 0);
    let started = Instant::now();
    let result = w.runtime.block_on(run_query(&w.ctx, &r.out, &LIMITS));
    let took = started.elapsed();
    assert!(took <= LIMITS.timeout + SLACK, "{:?} for {}", took, r.out);
    match result {
        Ok(q) => {
            assert!(!r.writes || r.raw, "a statement that writes ran: {}", r.out);
            let rows: usize = q.batches.iter().map(|b| b.num_rows()).sum();
            assert!(rows <= LIMITS.max_rows.unwrap(), "{rows} rows from {}", r.out);
            assert!(!holds_secret(&q.batches), "read a file outside the store: {}", r.out);
        }
        Err(
            SqlError::Timeout(_) | SqlError::Memory(_) | SqlError::ReadOnly(_) | SqlError::Query(_),
        ) => {}
    }
    assert!(!w.target.exists(), "wrote outside the store: {}", r.out);
    assert_eq!(files_under(&w.store), w.store_files, "the store changed: {}", r.out);
});
