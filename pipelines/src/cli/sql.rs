//! `vigil sql`: read-only SQL over the event store.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use datafusion::prelude::SessionContext;
use vigil_pipelines::sql::{
    OutputFormat, QueryLimits, SAVED_QUERIES, SqlError, open_store, query_store, saved_query,
    write_batches,
};
use vigil_pipelines::store::default_store_dir;

use super::Outcome;

/// Arguments of `vigil sql`.
#[derive(Debug, Args)]
#[command(after_help = "Tables: flows, metrics, actions, alerts, dead_letters (each with `date` \
and `hour` partition columns). Model verdicts are struct columns named after the model, e.g. \
netfound.label.\n\nExamples:\n  vigil sql \"select count(*) from flows\"\n  vigil sql --saved top-talkers --format json\n  vigil sql --list-saved\n  echo \"select * from alerts limit 5\" | vigil sql -\n  vigil sql            (an interactive shell)")]
pub struct SqlArgs {
    /// The query; `-` reads it from standard input. Without one (and without --saved),
    /// an interactive shell starts.
    query: Option<String>,
    /// The store directory [default: $VIGIL_STORE, else ./vigil-data].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Output format.
    #[arg(long, short, value_enum, default_value = "table")]
    format: OutputFormat,
    /// Run a saved query (see --list-saved).
    #[arg(long, value_name = "NAME", conflicts_with = "query")]
    saved: Option<String>,
    /// List the saved queries and exit.
    #[arg(long)]
    list_saved: bool,
    /// Memory a query may use, in MiB.
    #[arg(long, default_value_t = 1024, value_name = "MIB")]
    memory_limit: usize,
    /// Stop a query after this many seconds.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    timeout: u64,
}

/// Run `vigil sql`. Its error is one message: the error chain with the parts that
/// repeat what an outer part already said left out.
pub fn run(args: SqlArgs) -> anyhow::Result<Outcome> {
    run_sql(args).map_err(|e| anyhow::anyhow!(one_line(&e)))
}

/// An error chain joined by `: `, skipping each cause whose text the message so far
/// already holds (DataFusion's errors display their causes themselves).
fn one_line(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        let part = part.trim();
        if part.is_empty() || text.contains(part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(part);
    }
    text
}

fn run_sql(args: SqlArgs) -> anyhow::Result<Outcome> {
    if args.list_saved {
        for q in SAVED_QUERIES {
            println!("{:<20} {}\n{:<20} {}\n", q.name, q.about, "", q.sql);
        }
        return Ok(Outcome::Complete);
    }
    let root = args.data.clone().unwrap_or_else(default_store_dir);
    if !root.is_dir() {
        bail!(
            "no store at {} (run `vigil demo` or `vigil run` first, or pass --data DIR)",
            root.display()
        );
    }
    let limits = QueryLimits {
        memory_bytes: args.memory_limit.max(1) << 20,
        timeout: std::time::Duration::from_secs(args.timeout.max(1)),
        max_rows: None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let session = Session { root: &root, format: args.format, limits };
    runtime.block_on(async {
        let ctx = open_store(&root, limits)
            .await
            .with_context(|| format!("cannot open the store at {}", root.display()))?;
        let query = match (&args.saved, args.query.as_deref()) {
            (Some(name), _) => Some(
                saved_query(name)
                    .with_context(|| {
                        let names: Vec<&str> = SAVED_QUERIES.iter().map(|q| q.name).collect();
                        format!("no saved query `{name}` (saved: {})", names.join(", "))
                    })?
                    .sql
                    .to_string(),
            ),
            (None, Some("-")) => {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s)?;
                Some(s)
            }
            (None, Some(q)) => Some(q.to_string()),
            (None, None) => None,
        };
        match query {
            Some(q) => {
                for statement in split_statements(&q) {
                    session.execute(&ctx, &statement).await?;
                }
                Ok(Outcome::Complete)
            }
            None => shell(&ctx, &session).await,
        }
    })
}

/// What every statement of one `vigil sql` runs with.
struct Session<'a> {
    root: &'a Path,
    format: OutputFormat,
    limits: QueryLimits,
}

impl Session<'_> {
    /// Run one statement and print its result. A failure is one message (no error
    /// chain behind it, so it prints once), with the option to change where one helps.
    async fn execute(&self, ctx: &SessionContext, sql: &str) -> anyhow::Result<()> {
        let result = query_store(ctx, self.root, sql, &self.limits)
            .await
            .map_err(|e| anyhow::anyhow!(explain(&e, &self.limits)))?;
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        write_batches(&mut out, self.format, &result.schema, &result.batches)
    }
}

/// A failed query's message, with advice for the limits.
fn explain(e: &SqlError, limits: &QueryLimits) -> String {
    match e {
        SqlError::Memory(detail) => format!(
            "the query needs more memory than its limit of {} MiB (raise --memory-limit)\n{detail}",
            limits.memory_bytes >> 20
        ),
        SqlError::Timeout(_) => {
            format!("{e} (raise --timeout, now {} s)", limits.timeout.as_secs())
        }
        _ => e.to_string(),
    }
}

/// Statements separated by `;` (outside quotes); empty ones are dropped.
fn split_statements(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match (quote, c) {
            (None, ';') => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
        current.push(c);
    }
    out.push(current);
    out.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

/// A line-based shell: statements end with `;`; `\d` lists tables, `\s` saved queries,
/// `\q` (or end of input) quits. Errors are printed and the shell goes on.
async fn shell(ctx: &SessionContext, session: &Session<'_>) -> anyhow::Result<Outcome> {
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        eprintln!("vigil sql: statements end with `;`. \\d tables, \\s saved queries, \\q quit.");
    }
    let mut pending = String::new();
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut failed = false;
    loop {
        if interactive {
            eprint!("{}", if pending.is_empty() { "vigil> " } else { "  ...> " });
            std::io::stderr().flush()?;
        }
        let Some(line) = lines.next().transpose()? else { break };
        let trimmed = line.trim();
        if pending.is_empty() {
            match trimmed {
                "\\q" | "quit" | "exit" => break,
                "\\d" => {
                    let sql = "SELECT table_name, count(*) AS columns FROM information_schema.columns \
                               WHERE table_schema = 'public' GROUP BY table_name ORDER BY table_name";
                    report(session.execute(ctx, sql).await, &mut failed);
                    continue;
                }
                "\\s" => {
                    SAVED_QUERIES.iter().for_each(|q| eprintln!("{:<20} {}", q.name, q.about));
                    continue;
                }
                _ => {}
            }
        }
        pending.push_str(&line);
        pending.push('\n');
        if trimmed.ends_with(';') {
            for statement in split_statements(&std::mem::take(&mut pending)) {
                report(session.execute(ctx, &statement).await, &mut failed);
            }
        }
    }
    for statement in split_statements(&pending) {
        report(session.execute(ctx, &statement).await, &mut failed);
    }
    Ok(if failed && !interactive { Outcome::Partial } else { Outcome::Complete })
}

fn report(result: anyhow::Result<()>, failed: &mut bool) {
    if let Err(e) = result {
        *failed = true;
        eprintln!("error: {e:#}");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn error_chains_print_each_part_once() {
        let inner = std::io::Error::other("disk on fire");
        let e = anyhow::Error::new(std::io::Error::other(format!("IO error: {inner}")))
            .context("cannot open the store at /x");
        assert_eq!(one_line(&e), "cannot open the store at /x: IO error: disk on fire");
        let df = datafusion::error::DataFusionError::Plan("no such column".into());
        let e = anyhow::Error::new(df).context("outer");
        assert_eq!(one_line(&e), "outer: Error during planning: no such column");
    }

    #[test]
    fn limit_errors_name_the_option_to_raise() {
        let limits =
            QueryLimits { memory_bytes: 8 << 20, timeout: Duration::from_secs(5), max_rows: None };
        let m = explain(&SqlError::Memory("Failed to allocate".into()), &limits);
        assert!(
            m.starts_with(
                "the query needs more memory than its limit of 8 MiB (raise --memory-limit)\nFailed"
            ),
            "{m}"
        );
        let t = explain(&SqlError::Timeout(limits.timeout), &limits);
        assert!(t.ends_with("(raise --timeout, now 5 s)"), "{t}");
    }

    #[test]
    fn statements_split_on_semicolons_outside_quotes() {
        assert_eq!(
            split_statements("select 1; select ';' as x ;\n ;"),
            ["select 1", "select ';' as x"]
        );
    }
}
