//! `vigil sql`: read-only SQL over the event store.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use datafusion::prelude::SessionContext;
use vigil_pipelines::sql::{
    OutputFormat, QueryLimits, SAVED_QUERIES, open_store, run_query, saved_query, write_batches,
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

/// Run `vigil sql`.
pub fn run(args: SqlArgs) -> anyhow::Result<Outcome> {
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
        timeout: Duration::from_secs(args.timeout.max(1)),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
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
                    execute(&ctx, &statement, args.format, limits.timeout).await?;
                }
                Ok(Outcome::Complete)
            }
            None => shell(&ctx, args.format, limits.timeout).await,
        }
    })
}

async fn execute(
    ctx: &SessionContext,
    sql: &str,
    format: OutputFormat,
    timeout: Duration,
) -> anyhow::Result<()> {
    let result = run_query(ctx, sql, timeout).await?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    write_batches(&mut out, format, &result.schema, &result.batches)
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
async fn shell(
    ctx: &SessionContext,
    format: OutputFormat,
    timeout: Duration,
) -> anyhow::Result<Outcome> {
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
                    report(execute(ctx, sql, format, timeout).await, &mut failed);
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
                report(execute(ctx, &statement, format, timeout).await, &mut failed);
            }
        }
    }
    for statement in split_statements(&pending) {
        report(execute(ctx, &statement, format, timeout).await, &mut failed);
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
    use super::split_statements;

    #[test]
    fn statements_split_on_semicolons_outside_quotes() {
        assert_eq!(
            split_statements("select 1; select ';' as x ;\n ;"),
            ["select 1", "select ';' as x"]
        );
    }
}
