//! Alert rules: what a rules file holds ([`RulesFile`]), where rules come from
//! ([`RuleSource`]: the built-in set, files, or a topology's inline list), and the
//! checked set an alerts stage runs ([`RuleSet`], from [`RuleLoader::load`]).
//!
//! Layers are read in order: a rule with the sid of an earlier one replaces it
//! (`disabled = true` removes it) and allow-lists add up. Every problem of every layer
//! is reported at once. A rule reading a model that no stage before the alerts stage
//! runs stays dormant (logged), except in a topology's inline list, where it is an
//! error as before.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Value, json};
use vigil_models::{LikelihoodParams, OperatingPoint};

use super::allow::{AllowList, AllowSpec};
use super::threshold::{Threshold, Track};

/// The built-in rule set (`rules = "builtin"`), as shipped in `pipelines/rules/default.toml`.
pub const BUILTIN_RULES: &str = include_str!("../../rules/default.toml");

/// The operating point a model rule uses when it gives no `min_score`.
pub const DEFAULT_OPERATING_POINT: &str = "fpr_1e-4";
/// The operating point a `likelihood` model rule uses unless it names one.
pub const LIKELIHOOD_OPERATING_POINT: &str = "likelihood_nab";

/// The tables SQL rules may read.
pub const SQL_TABLES: [&str; 4] = ["flows", "actions", "metrics", "alerts"];

/// A rules file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    /// Global allow-list.
    #[serde(default)]
    pub allow: AllowSpec,
    /// Model rules.
    #[serde(default)]
    pub model: Vec<AlertRule>,
    /// SQL rules.
    #[serde(default)]
    pub sql: Vec<SqlRule>,
}

/// A model rule: a model's verdict on one row at or above a threshold.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// Signature id (stable; required in rules files, derived from the name inline).
    #[serde(default)]
    pub sid: Option<u32>,
    /// Generator id (default 1).
    #[serde(default)]
    pub gid: Option<u32>,
    /// Revision (default 1).
    #[serde(default)]
    pub rev: Option<u32>,
    /// The signature text.
    pub name: String,
    /// The model whose verdict is read (its manifest name).
    pub model: String,
    /// Only this predicted label (classifiers).
    #[serde(default)]
    pub label: Option<String>,
    /// Not this predicted label (the benign class, e.g. `BENIGN`).
    #[serde(default)]
    pub not_label: Option<String>,
    /// The value compared: `score` (default: the verdict's score, the surprise or the
    /// anomaly score), `malicious` (netFound), `attack` (1 − P(`not_label`), the
    /// score the manifests' operating points are for), or `likelihood` (metrics: the
    /// anomaly likelihood of the manifest's `anomaly_likelihood`, in HTM's log form).
    #[serde(default)]
    pub field: Option<String>,
    /// Alert when the value is at least this; default: the manifest's operating point.
    #[serde(default)]
    pub min_score: Option<f32>,
    /// The manifest's operating point to use (default `fpr_1e-4`).
    #[serde(default)]
    pub operating_point: Option<String>,
    /// 1 (high) to 3 (low); default 2.
    #[serde(default)]
    pub severity: Option<u8>,
    /// The alert category; default "Anomalous Activity".
    #[serde(default)]
    pub category: Option<String>,
    /// Shorthand for `threshold = { type = "limit", track = "by_src", count = 1,
    /// seconds = N }` (default 60).
    #[serde(default)]
    pub suppress_secs: Option<u64>,
    /// Thresholding.
    #[serde(default)]
    pub threshold: Option<Threshold>,
    /// This rule's allow-list.
    #[serde(default)]
    pub allow: Option<AllowSpec>,
    /// Remove the rule of this sid from the layers below.
    #[serde(default)]
    pub disabled: bool,
}

/// A SQL rule: a query over a sliding event-time window of recent rows.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SqlRule {
    /// Signature id.
    pub sid: u32,
    /// Generator id (default 1).
    #[serde(default)]
    pub gid: Option<u32>,
    /// Revision (default 1).
    #[serde(default)]
    pub rev: Option<u32>,
    /// The signature text.
    #[serde(default)]
    pub name: String,
    /// The tables the query reads.
    #[serde(default)]
    pub tables: Vec<String>,
    /// The window's length, seconds of event time.
    #[serde(default)]
    pub window_secs: u64,
    /// Evaluate every this many seconds of event time (default: half the window).
    #[serde(default)]
    pub every_secs: Option<u64>,
    /// The query; each result row is a match.
    #[serde(default)]
    pub query: String,
    /// 1 (high) to 3 (low); default 2.
    #[serde(default)]
    pub severity: Option<u8>,
    /// The alert category; default "Anomalous Activity".
    #[serde(default)]
    pub category: Option<String>,
    /// Thresholding; default one alert per window length, by source (else entity).
    #[serde(default)]
    pub threshold: Option<Threshold>,
    /// This rule's allow-list.
    #[serde(default)]
    pub allow: Option<AllowSpec>,
    /// Remove the rule of this sid from the layers below.
    #[serde(default)]
    pub disabled: bool,
}

/// Where rules come from.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleSource {
    /// The built-in set.
    Builtin,
    /// A rules file (watched for changes).
    File(PathBuf),
    /// Model rules written in the topology.
    Inline(Vec<AlertRule>),
}

/// What every alert of a rule carries.
#[derive(Debug, Clone)]
pub struct RuleMeta {
    /// Signature id.
    pub sid: u32,
    /// Generator id.
    pub gid: u32,
    /// Revision.
    pub rev: u32,
    /// Signature text.
    pub signature: String,
    /// Category.
    pub category: String,
    /// 1 to 3.
    pub severity: u8,
    /// Thresholding.
    pub threshold: Threshold,
    /// The rule's own allow-list.
    pub allow: Option<AllowList>,
}

/// A checked model rule.
#[derive(Debug, Clone)]
pub struct ModelRule {
    /// Signature and thresholding.
    pub meta: RuleMeta,
    /// The model's manifest name.
    pub model: String,
    /// Only this label.
    pub label: Option<String>,
    /// Not this label.
    pub not_label: Option<String>,
    /// `score`, `malicious` or `attack`.
    pub field: String,
    /// Alert at or above this.
    pub min_score: f32,
    /// Where the threshold comes from (the operating point and its validation figures).
    pub threshold_origin: Value,
}

/// A checked SQL rule; its query has its placeholders filled in.
#[derive(Debug, Clone)]
pub struct SqlRuleDef {
    /// Signature and thresholding.
    pub meta: RuleMeta,
    /// The tables read.
    pub tables: Vec<String>,
    /// Window length, µs.
    pub window_us: i64,
    /// Evaluation step, µs.
    pub every_us: i64,
    /// The query.
    pub query: String,
}

/// What the loader knows of a model a stage before the alerts stage runs.
#[derive(Debug, Clone, Default)]
pub struct ModelInfo {
    /// Artifact version.
    pub version: String,
    /// sha256 of `model.onnx`.
    pub sha256: String,
    /// Class names.
    pub labels: Vec<String>,
    /// Alerting thresholds by name.
    pub operating_points: BTreeMap<String, OperatingPoint>,
    /// The anomaly likelihood over the model's residuals, when its manifest has one.
    pub likelihood: Option<LikelihoodParams>,
}

impl ModelInfo {
    /// What a manifest says of its model.
    pub fn from_manifest(m: &vigil_models::Manifest) -> ModelInfo {
        ModelInfo {
            version: m.version.clone(),
            sha256: m.sha256.clone(),
            labels: m.labels.clone(),
            operating_points: m.operating_points.clone(),
            likelihood: m.anomaly_likelihood,
        }
    }
}

/// The rules an alerts stage runs.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    /// Model rules.
    pub model_rules: Vec<ModelRule>,
    /// SQL rules.
    pub sql_rules: Vec<SqlRuleDef>,
    /// The global allow-list.
    pub allow: AllowList,
    /// Rules left out because their model does not run here, as `sid (model)`.
    pub dormant: Vec<String>,
}

impl RuleSet {
    /// Every sid in the set.
    pub fn sids(&self) -> HashSet<u32> {
        let m = self.model_rules.iter().map(|r| r.meta.sid);
        m.chain(self.sql_rules.iter().map(|r| r.meta.sid)).collect()
    }
}

/// Checks a SQL rule's query against the tables' schemas (supplied by the SQL engine).
pub type QueryCheck = dyn Fn(&[String], &str) -> Result<(), String> + Send + Sync;

/// Loads and checks the rules of an alerts stage, again on each reload.
pub struct RuleLoader {
    sources: Vec<RuleSource>,
    models: BTreeMap<String, ModelInfo>,
    check_query: Box<QueryCheck>,
}

impl std::fmt::Debug for RuleLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleLoader").field("sources", &self.sources).finish_non_exhaustive()
    }
}

impl RuleLoader {
    /// A loader for `sources`, the `models` run before the stage, checking SQL with
    /// `check_query`.
    pub fn new(
        sources: Vec<RuleSource>,
        models: BTreeMap<String, ModelInfo>,
        check_query: Box<QueryCheck>,
    ) -> RuleLoader {
        RuleLoader { sources, models, check_query }
    }

    /// The files to watch for changes.
    pub fn files(&self) -> Vec<PathBuf> {
        let f = self.sources.iter().filter_map(|s| match s {
            RuleSource::File(p) => Some(p.clone()),
            _ => None,
        });
        f.collect()
    }

    /// What is known of a model.
    pub fn model(&self, name: &str) -> Option<&ModelInfo> {
        self.models.get(name)
    }

    /// Read every layer and check the result; the error lists every problem.
    pub fn load(&self) -> Result<RuleSet, Vec<String>> {
        let mut problems = Vec::new();
        let mut models: BTreeMap<u32, (AlertRule, bool)> = BTreeMap::new();
        let mut sqls: BTreeMap<u32, SqlRule> = BTreeMap::new();
        let mut allow = AllowList::default();
        for source in &self.sources {
            let (origin, file, inline) = match source {
                RuleSource::Builtin => ("built-in rules".to_string(), parse(BUILTIN_RULES), false),
                RuleSource::File(p) => (p.display().to_string(), read(p), false),
                RuleSource::Inline(rules) => (
                    "the topology's rules".to_string(),
                    Ok(RulesFile { model: rules.clone(), ..Default::default() }),
                    true,
                ),
            };
            let file = match file {
                Ok(f) => f,
                Err(e) => {
                    problems.push(format!("{origin}: {e}"));
                    continue;
                }
            };
            match AllowList::new(&file.allow) {
                Ok(a) => allow.extend(a),
                Err(es) => problems.extend(es.into_iter().map(|e| format!("{origin}: allow: {e}"))),
            }
            let mut seen = BTreeSet::new();
            for mut r in file.model {
                let sid = match (r.sid, inline) {
                    (Some(s), _) => s,
                    (None, true) => derived_sid(&r.name),
                    (None, false) => {
                        problems.push(format!("{origin}: model rule `{}` has no sid", r.name));
                        continue;
                    }
                };
                r.sid = Some(sid);
                if !seen.insert(sid) {
                    problems.push(format!("{origin}: sid {sid} is used twice"));
                    continue;
                }
                sqls.remove(&sid);
                if r.disabled {
                    models.remove(&sid);
                } else {
                    models.insert(sid, (r, inline));
                }
            }
            for r in file.sql {
                if !seen.insert(r.sid) {
                    problems.push(format!("{origin}: sid {} is used twice", r.sid));
                    continue;
                }
                models.remove(&r.sid);
                if r.disabled {
                    sqls.remove(&r.sid);
                } else {
                    sqls.insert(r.sid, r);
                }
            }
        }
        let mut set = RuleSet { allow, ..Default::default() };
        for (sid, (r, inline)) in models {
            let at = format!("rule {sid} (`{}`)", r.name);
            let Some(info) = self.models.get(&r.model) else {
                if inline {
                    problems.push(format!(
                        "{at} reads model `{}`, which no stage before it runs",
                        r.model
                    ));
                } else {
                    set.dormant.push(format!("{sid} ({})", r.model));
                }
                continue;
            };
            match model_rule(r, info) {
                Ok(m) => set.model_rules.push(m),
                Err(es) => problems.extend(es.into_iter().map(|e| format!("{at}: {e}"))),
            }
        }
        for (sid, r) in sqls {
            let at = format!("rule {sid} (`{}`)", r.name);
            match self.sql_rule(r) {
                Ok(Some(s)) => set.sql_rules.push(s),
                Ok(None) => set.dormant.push(format!("{sid} (sql)")),
                Err(es) => problems.extend(es.into_iter().map(|e| format!("{at}: {e}"))),
            }
        }
        if problems.is_empty() { Ok(set) } else { Err(problems) }
    }

    /// Check a SQL rule and fill in its placeholders; `None` when it reads the threshold
    /// of a model that does not run here.
    fn sql_rule(&self, r: SqlRule) -> Result<Option<SqlRuleDef>, Vec<String>> {
        let mut problems = Vec::new();
        if r.window_secs == 0 {
            problems.push("window_secs must be at least 1".to_string());
        }
        let every = r.every_secs.unwrap_or((r.window_secs / 2).max(1));
        if every == 0 || every > r.window_secs.max(1) {
            problems.push("every_secs must be 1 to window_secs".to_string());
        }
        if r.tables.is_empty() {
            problems.push("no tables".to_string());
        }
        for t in &r.tables {
            if !SQL_TABLES.contains(&t.as_str()) {
                problems.push(format!("table `{t}` is not one of {}", SQL_TABLES.join(", ")));
            }
        }
        let default = Threshold::limit_one(Track::BySrc, r.window_secs.max(1));
        let meta = noted(
            meta(
                r.sid,
                r.gid,
                r.rev,
                &r.name,
                r.severity,
                &r.category,
                r.threshold,
                &r.allow,
                default,
            ),
            &mut problems,
        );
        let query = match fill_placeholders(&r.query, &self.models) {
            Ok(Some(q)) => q,
            Ok(None) => return Ok(None),
            Err(e) => {
                problems.push(e);
                String::new()
            }
        };
        if problems.is_empty()
            && let Err(e) = (self.check_query)(&r.tables, &query)
        {
            problems.push(format!("query: {e}"));
        }
        match (problems.is_empty(), meta) {
            (true, Some(meta)) => Ok(Some(SqlRuleDef {
                meta,
                tables: r.tables,
                window_us: r.window_secs as i64 * 1_000_000,
                every_us: every as i64 * 1_000_000,
                query,
            })),
            _ => Err(problems),
        }
    }
}

/// The value, or `None` with its problems added to `problems`.
fn noted<T>(r: Result<T, Vec<String>>, problems: &mut Vec<String>) -> Option<T> {
    r.map_err(|es| problems.extend(es)).ok()
}

fn parse(text: &str) -> Result<RulesFile, String> {
    toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())
}

fn read(path: &Path) -> Result<RulesFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    parse(&text)
}

/// A stable sid for an inline rule without one: 9,900,000 + a hash of its name.
fn derived_sid(name: &str) -> u32 {
    use sha2::Digest;
    let h = sha2::Sha256::digest(name.as_bytes());
    9_900_000 + u32::from_be_bytes([h[0], h[1], h[2], h[3]]) % 100_000
}

#[allow(clippy::too_many_arguments)]
fn meta(
    sid: u32,
    gid: Option<u32>,
    rev: Option<u32>,
    name: &str,
    severity: Option<u8>,
    category: &Option<String>,
    threshold: Option<Threshold>,
    allow: &Option<AllowSpec>,
    default_threshold: Threshold,
) -> Result<RuleMeta, Vec<String>> {
    let mut problems = Vec::new();
    let severity = severity.unwrap_or(2);
    if !(1..=3).contains(&severity) {
        problems.push("severity must be 1 to 3".to_string());
    }
    if name.trim().is_empty() {
        problems.push("the name (signature) is empty".to_string());
    }
    let threshold = threshold.unwrap_or(default_threshold);
    problems.extend(threshold.problem());
    let allow = match allow.as_ref().map(AllowList::new).transpose() {
        Ok(a) => a,
        Err(es) => {
            problems.extend(es.into_iter().map(|e| format!("allow: {e}")));
            None
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(RuleMeta {
        sid,
        gid: gid.unwrap_or(1),
        rev: rev.unwrap_or(1),
        signature: name.to_string(),
        category: category.clone().unwrap_or_else(|| "Anomalous Activity".to_string()),
        severity,
        threshold,
        allow,
    })
}

fn model_rule(r: AlertRule, info: &ModelInfo) -> Result<ModelRule, Vec<String>> {
    let mut problems = Vec::new();
    let field = r.field.clone().unwrap_or_else(|| "score".to_string());
    if !["score", "malicious", "attack", "likelihood"].contains(&field.as_str()) {
        problems.push(format!(
            "field must be `score`, `malicious`, `attack` or `likelihood`, not `{field}`"
        ));
    }
    if field == "likelihood" && info.likelihood.is_none() {
        problems.push(format!(
            "`likelihood` needs the manifest's `anomaly_likelihood`, which `{}` has not",
            r.model
        ));
    }
    if field == "attack" {
        match &r.not_label {
            Some(l) if info.labels.contains(l) => {}
            Some(l) => {
                problems.push(format!("`attack` is 1 − P(`{l}`), but the model has no label `{l}`"))
            }
            None => problems.push("`attack` needs `not_label`, the benign class".to_string()),
        }
    }
    let (min_score, origin) = match (r.min_score, &r.operating_point) {
        (Some(_), Some(_)) => {
            problems.push("give min_score or operating_point, not both".to_string());
            (0.0, Value::Null)
        }
        (Some(s), None) => (s, json!({ "min_score": s })),
        (None, op) => {
            let default = if field == "likelihood" {
                LIKELIHOOD_OPERATING_POINT
            } else {
                DEFAULT_OPERATING_POINT
            };
            let name = op.as_deref().unwrap_or(default);
            match info.operating_points.get(name) {
                Some(p)
                    if (p.field.as_deref() == Some("likelihood")) != (field == "likelihood") =>
                {
                    problems.push(format!(
                        "operating point `{name}` was chosen for the field `{}`, not `{field}`",
                        p.field.as_deref().unwrap_or("score")
                    ));
                    (0.0, Value::Null)
                }
                Some(p) => (
                    p.threshold as f32,
                    json!({ "operating_point": name, "target_fpr": p.target_fpr,
                        "chosen_for": p.chosen_for,
                        "threshold": p.threshold, "resolvable": p.resolvable,
                        "validation": p.validation }),
                ),
                None => {
                    let known: Vec<&str> =
                        info.operating_points.keys().map(String::as_str).collect();
                    problems.push(format!(
                        "the manifest of `{}` has no operating point `{name}` ({}); give min_score",
                        r.model,
                        if known.is_empty() {
                            "it has none".to_string()
                        } else {
                            format!("it has {}", known.join(", "))
                        }
                    ));
                    (0.0, Value::Null)
                }
            }
        }
    };
    let default = Threshold::limit_one(Track::BySrc, r.suppress_secs.unwrap_or(60));
    if r.threshold.is_some() && r.suppress_secs.is_some() {
        problems.push("give threshold or suppress_secs, not both".to_string());
    }
    let sid = r.sid.unwrap_or_default();
    let meta = noted(
        meta(sid, r.gid, r.rev, &r.name, r.severity, &r.category, r.threshold, &r.allow, default),
        &mut problems,
    );
    match (problems.is_empty(), meta) {
        (true, Some(meta)) => Ok(ModelRule {
            meta,
            model: r.model,
            label: r.label,
            not_label: r.not_label,
            field,
            min_score,
            threshold_origin: origin,
        }),
        _ => Err(problems),
    }
}

/// Replace `${threshold:MODEL}` and `${threshold:MODEL:POINT}` with the model's
/// operating threshold; `Ok(None)` when the model does not run here.
fn fill_placeholders(
    query: &str,
    models: &BTreeMap<String, ModelInfo>,
) -> Result<Option<String>, String> {
    let mut out = String::with_capacity(query.len());
    let mut rest = query;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').ok_or("an unclosed `${` in the query")? + start;
        let inner = &rest[start + 2..end];
        let mut parts = inner.split(':');
        let (kind, model, point) = (parts.next(), parts.next(), parts.next());
        let (Some("threshold"), Some(model)) = (kind, model) else {
            return Err(format!("unknown placeholder `${{{inner}}}` (use ${{threshold:MODEL}})"));
        };
        let Some(info) = models.get(model) else { return Ok(None) };
        let point = point.unwrap_or(DEFAULT_OPERATING_POINT);
        let p = info
            .operating_points
            .get(point)
            .ok_or_else(|| format!("the manifest of `{model}` has no operating point `{point}`"))?;
        out.push_str(&format!("{:?}", p.threshold));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(labels: &[&str], threshold: Option<f64>) -> ModelInfo {
        let mut operating_points = BTreeMap::new();
        for (name, rate) in [("fpr_1e-3", 1e-3), ("fpr_1e-4", 1e-4)] {
            let Some(t) = threshold else { break };
            operating_points.insert(
                name.to_string(),
                OperatingPoint {
                    score: None,
                    field: None,
                    target_fpr: Some(rate),
                    chosen_for: None,
                    threshold: t,
                    resolvable: Some(true),
                    validation: json!({"recall": 0.9}),
                },
            );
        }
        ModelInfo {
            version: "1".into(),
            sha256: "ab".into(),
            labels: labels.iter().map(|s| s.to_string()).collect(),
            operating_points,
            likelihood: None,
        }
    }

    fn all_models() -> BTreeMap<String, ModelInfo> {
        let mut m = BTreeMap::new();
        for name in ["netfound", "flow-transformer-iot23", "flow-transformer-nslkdd", "hstu-ml100k"]
        {
            m.insert(
                name.to_string(),
                info(&["Benign", "Malicious", "normal", "attack"], Some(0.9)),
            );
        }
        m.insert("flow-transformer-cicids2017".into(), info(&["BENIGN", "DDoS"], Some(0.99)));
        m.insert("hstu-user-actions".into(), info(&[], Some(18.0)));
        let mut it = info(&[], Some(44.0));
        it.operating_points.insert(
            "likelihood_nab".into(),
            OperatingPoint {
                score: None,
                field: Some("likelihood".into()),
                target_fpr: None,
                chosen_for: Some("NAB standard profile".into()),
                threshold: 0.995,
                resolvable: None,
                validation: json!({"recall": 0.003}),
            },
        );
        it.likelihood = Some(LikelihoodParams {
            short: 1,
            long: 8640,
            min_history: 100,
            red_zone: 0.99999,
            yellow_zone: 0.999,
            spatial_tolerance: 0.05,
        });
        m.insert("itransformer-etth1".into(), it);
        m.insert("no-points".into(), info(&[], None));
        m
    }

    fn loader(sources: Vec<RuleSource>, models: BTreeMap<String, ModelInfo>) -> RuleLoader {
        RuleLoader::new(sources, models, Box::new(|_, _| Ok(())))
    }

    #[test]
    fn the_builtin_rules_load_with_every_shipped_model() {
        let set = loader(vec![RuleSource::Builtin], all_models()).load().unwrap();
        assert_eq!(set.model_rules.len(), 7);
        assert_eq!(set.sql_rules.len(), 7);
        assert!(set.dormant.is_empty(), "{:?}", set.dormant);
        let ft = set.model_rules.iter().find(|r| r.model == "flow-transformer-cicids2017").unwrap();
        assert_eq!(ft.min_score, 0.99_f64 as f32);
        assert_eq!(ft.threshold_origin["target_fpr"], 1e-4);
        let it = set.model_rules.iter().find(|r| r.model == "itransformer-etth1").unwrap();
        assert_eq!((it.field.as_str(), it.min_score), ("likelihood", 0.995));
        assert_eq!(it.threshold_origin["chosen_for"], "NAB standard profile");
        let hstu = set.sql_rules.iter().find(|r| r.meta.sid == 9200005).unwrap();
        assert!(hstu.query.contains("surprise >= 18.0"), "{}", hstu.query);
        // Without the models, their rules are dormant, not errors.
        let set = loader(vec![RuleSource::Builtin], BTreeMap::new()).load().unwrap();
        assert!(set.model_rules.is_empty());
        assert_eq!(set.sql_rules.len(), 5, "those without a model's threshold");
        assert_eq!(set.dormant.len(), 9);
    }

    #[test]
    fn layers_replace_disable_and_add_by_sid() {
        let dir = tempfile::tempdir().unwrap();
        let local = dir.path().join("local.toml");
        std::fs::write(
            &local,
            r#"
[allow]
cidrs = ["10.0.0.0/8"]
[[sql]]
sid = 9200001
disabled = true
[[model]]
sid = 9100001
name = "netFound, stricter"
model = "netfound"
field = "malicious"
min_score = 0.99
[[model]]
sid = 1000001
name = "local"
model = "netfound"
min_score = 0.5
"#,
        )
        .unwrap();
        let set = loader(vec![RuleSource::Builtin, RuleSource::File(local)], all_models())
            .load()
            .unwrap();
        assert!(set.sql_rules.iter().all(|r| r.meta.sid != 9200001));
        let nf = set.model_rules.iter().find(|r| r.meta.sid == 9100001).unwrap();
        assert_eq!((nf.min_score, nf.meta.signature.as_str()), (0.99, "netFound, stricter"));
        assert!(set.model_rules.iter().any(|r| r.meta.sid == 1000001));
        assert!(!set.allow.is_empty());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.toml");
        std::fs::write(
            &bad,
            r#"
[allow]
cidrs = ["10.0.0.0/99"]
[[model]]
sid = 1
name = "a"
model = "netfound"
field = "probability"
severity = 7
min_score = 0.5
[[model]]
sid = 1
name = "duplicate"
model = "netfound"
min_score = 0.5
[[model]]
sid = 3
name = "b"
model = "no-points"
[[model]]
sid = 4
name = "likelihood without the manifest's parameters"
model = "netfound"
field = "likelihood"
min_score = 0.9
[[model]]
sid = 5
name = "likelihood at the residual's point"
model = "itransformer-etth1"
field = "likelihood"
operating_point = "fpr_1e-3"
[[model]]
sid = 6
name = "residual at the likelihood's point"
model = "itransformer-etth1"
operating_point = "likelihood_nab"
[[sql]]
sid = 2
name = "c"
tables = ["packets"]
window_secs = 0
query = "SELECT ${nope}"
"#,
        )
        .unwrap();
        let problems =
            loader(vec![RuleSource::File(bad.clone())], all_models()).load().unwrap_err();
        let text = problems.join("\n");
        for want in [
            "prefix length",
            "field must be",
            "severity must be 1 to 3",
            "sid 1 is used twice",
            "no operating point `fpr_1e-4`",
            "`likelihood` needs the manifest's `anomaly_likelihood`, which `netfound` has not",
            "operating point `fpr_1e-3` was chosen for the field `score`, not `likelihood`",
            "operating point `likelihood_nab` was chosen for the field `likelihood`, not `score`",
            "table `packets`",
            "window_secs must be at least 1",
            "unknown placeholder",
        ] {
            assert!(text.contains(want), "missing `{want}` in:\n{text}");
        }
        assert!(problems.iter().all(|p| !p.is_empty()));
        // A file that is not TOML names itself.
        std::fs::write(&bad, "[[model]\n").unwrap();
        let e = loader(vec![RuleSource::File(bad.clone())], all_models()).load().unwrap_err();
        assert!(e[0].starts_with(&bad.display().to_string()), "{e:?}");
    }

    #[test]
    fn inline_rules_keep_their_old_meaning() {
        let r = AlertRule {
            name: "x".into(),
            model: "netfound".into(),
            min_score: Some(0.8),
            suppress_secs: Some(30),
            ..Default::default()
        };
        let set = loader(vec![RuleSource::Inline(vec![r.clone()])], all_models()).load().unwrap();
        let m = &set.model_rules[0];
        assert_eq!(m.meta.sid, derived_sid("x"));
        assert_eq!(m.meta.threshold, Threshold::limit_one(Track::BySrc, 30));
        let unknown = AlertRule { model: "nope".into(), ..r };
        let e = loader(vec![RuleSource::Inline(vec![unknown])], all_models()).load().unwrap_err();
        assert!(e[0].contains("no stage before it runs"), "{e:?}");
    }
}
