//! `vigil rules`: print the built-in rules, or check rules files and show what they
//! resolve to (each model rule's threshold with the false-positive rate it was chosen
//! for).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;
use vigil_models::{Manifest, artifact_dirs};

use super::Outcome;
use vigil_pipelines::alerting::rules::{ModelInfo, RuleLoader, RuleSet, RuleSource};
use vigil_pipelines::alerting::sql_rules::check_query;

/// `vigil rules`.
#[derive(Debug, Args)]
pub struct RulesArgs {
    #[command(subcommand)]
    command: RulesCommand,
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// Print the built-in rule set (TOML), to read or to start a rules file from.
    Print,
    /// Check rules (every problem is reported) and list what they resolve to.
    Check(CheckArgs),
}

/// `vigil rules check`.
#[derive(Debug, Args)]
struct CheckArgs {
    /// Rules files, layered in order over the built-in set (`-` reads none of them:
    /// check the built-in set alone).
    files: Vec<PathBuf>,
    /// Do not start from the built-in set.
    #[arg(long)]
    no_builtin: bool,
    /// Model artifacts (directories with a `manifest.json`, or a directory of them)
    /// whose rules to resolve; rules of other models are dormant [default: the model
    /// search path: $VIGIL_MODELS, /usr/share/vigil/models, onnx/artifacts].
    #[arg(long)]
    models: Vec<PathBuf>,
    /// JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

/// Run `vigil rules`.
pub fn run(args: RulesArgs) -> anyhow::Result<Outcome> {
    match args.command {
        RulesCommand::Print => {
            std::io::stdout()
                .write_all(vigil_pipelines::alerting::rules::BUILTIN_RULES.as_bytes())?;
            Ok(Outcome::Complete)
        }
        RulesCommand::Check(a) => check(a),
    }
}

/// The manifests under `dirs` (each an artifact, or a directory of artifacts).
fn models(dirs: &[PathBuf]) -> anyhow::Result<BTreeMap<String, ModelInfo>> {
    let mut out = BTreeMap::new();
    for d in dirs {
        for dir in artifact_dirs(d).map_err(|e| anyhow::anyhow!("{}: {e}", d.display()))? {
            let m = Manifest::from_path(&dir.join("manifest.json"))
                .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
            // The first directory with a model wins, as in a model lookup.
            out.entry(m.name.clone()).or_insert_with(|| ModelInfo::from_manifest(&m));
        }
    }
    Ok(out)
}

fn check(a: CheckArgs) -> anyhow::Result<Outcome> {
    let mut sources = Vec::new();
    if !a.no_builtin {
        sources.push(RuleSource::Builtin);
    }
    sources.extend(a.files.iter().filter(|f| f.as_os_str() != "-").cloned().map(RuleSource::File));
    let dirs = match a.models.is_empty() {
        true => vigil_models::locate::search_dirs(&[]),
        false => a.models.clone(),
    };
    let loader = RuleLoader::new(sources, models(&dirs)?, Box::new(check_query));
    let set = loader.load().map_err(|problems| {
        anyhow::anyhow!("{} problem(s):\n  {}", problems.len(), problems.join("\n  "))
    })?;
    let mut out = std::io::stdout().lock();
    if a.json {
        write_json(&set, &mut out)?;
    } else {
        write_table(&set, &mut out)?;
    }
    Ok(Outcome::Complete)
}

fn write_json(set: &RuleSet, out: &mut impl Write) -> anyhow::Result<()> {
    for r in &set.model_rules {
        let line = json!({
            "kind": "model", "sid": r.meta.sid, "rev": r.meta.rev, "signature": r.meta.signature,
            "severity": r.meta.severity, "model": r.model, "field": r.field,
            "label": r.label, "not_label": r.not_label,
            "min_score": r.min_score, "threshold_origin": r.threshold_origin,
        });
        writeln!(out, "{line}")?;
    }
    for r in &set.sql_rules {
        let line = json!({
            "kind": "sql", "sid": r.meta.sid, "rev": r.meta.rev, "signature": r.meta.signature,
            "severity": r.meta.severity, "tables": r.tables,
            "window_secs": r.window_us / 1_000_000, "every_secs": r.every_us / 1_000_000,
        });
        writeln!(out, "{line}")?;
    }
    for d in &set.dormant {
        writeln!(out, "{}", json!({ "kind": "dormant", "rule": d }))?;
    }
    Ok(())
}

fn write_table(set: &RuleSet, out: &mut impl Write) -> anyhow::Result<()> {
    writeln!(out, "{:<8} {:<4} {:<62} threshold", "sid", "sev", "signature")?;
    for r in &set.model_rules {
        let o = &r.threshold_origin;
        let origin = match o.get("operating_point") {
            Some(p) => format!(
                "{} ≥ {:.4} ({} of {}: validation recall {}, FPR {}{})",
                r.field,
                r.min_score,
                p.as_str().unwrap_or_default(),
                r.model,
                o["validation"]["recall"],
                o["validation"]["fpr"],
                if o["resolvable"] == json!(false) {
                    "; rate not resolvable on validation"
                } else {
                    ""
                }
            ),
            None => format!("{} ≥ {} (set in the rule)", r.field, r.min_score),
        };
        writeln!(
            out,
            "{:<8} {:<4} {:<62} {origin}",
            r.meta.sid, r.meta.severity, r.meta.signature
        )?;
    }
    for r in &set.sql_rules {
        writeln!(
            out,
            "{:<8} {:<4} {:<62} SQL over {} in {} s windows, every {} s",
            r.meta.sid,
            r.meta.severity,
            r.meta.signature,
            r.tables.join(" + "),
            r.window_us / 1_000_000,
            r.every_us / 1_000_000
        )?;
    }
    if !set.dormant.is_empty() {
        writeln!(out, "dormant (their model is not loaded): {}", set.dormant.join(", "))?;
    }
    Ok(())
}
