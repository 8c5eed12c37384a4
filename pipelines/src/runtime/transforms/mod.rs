//! Transforms: scoring with a model (its [`Family`] picks the [`vigil_models::Scorer`],
//! and so the records it reads) and alert rules over scored records.
//!
//! A scoring transform's model is loaded once ([`load_model`]) and shared as an
//! `Arc<Model>`: on the CPU one single-threaded ONNX Runtime session per scoring
//! worker, over which each batch's runs are spread (see [`vigil_models::scorer`]).

mod actions;
mod alerts;
pub mod explain;
mod flows;
mod metrics;
pub mod reload;
pub mod verdict;

use std::sync::Arc;

use vigil_models::{
    Device, Family, FlowScorer, HstuScorer, Model, ModelOptions, NetfoundScorer, Precision,
    VariateScorer,
};

pub use crate::alerting::{Alert, alerts_batch};
pub use actions::ActionsTransform;
pub use alerts::{AlertsTransform, model_info};
pub use flows::{FlowTransform, NetfoundTransform};
pub use metrics::MetricsTransform;
pub use reload::ModelReload;

use super::config::TransformConfig;
use super::record::{Envelope, RecordKind};
use super::stats::StageStats;
use crate::alerting::EngineLimits;

/// A transform ready to run.
pub enum Transform {
    /// netFound over flows' packet tokens.
    Netfound(NetfoundTransform),
    /// FlowTransformer over flow windows.
    Flow(FlowTransform),
    /// iTransformer over metrics.
    Metrics(MetricsTransform),
    /// HSTU over actions.
    Actions(ActionsTransform),
    /// Alert rules.
    Alerts(AlertsTransform),
}

/// Load a model for a score transform, naming the transform in errors.
/// Scoring runs on `workers` threads (one session each on the CPU).
pub fn load_model(
    name: &str,
    config: &TransformConfig,
    workers: usize,
) -> anyhow::Result<Option<Arc<Model>>> {
    let TransformConfig::Score { model, device, precision, .. } = config else {
        return Ok(None);
    };
    let invalid = |e: String| anyhow::anyhow!("transform `{name}`: {e}");
    let device: Device = device.as_deref().unwrap_or("cpu").parse().map_err(invalid)?;
    let precision: Precision = precision.as_deref().unwrap_or("fp32").parse().map_err(invalid)?;
    let options = ModelOptions::default().device(device).precision(precision).workers(workers);
    let m = Model::load_with(model, &options).map_err(|e| {
        anyhow::anyhow!("transform `{name}`: cannot load the model in {}: {e}", model.display())
    })?;
    Ok(Some(Arc::new(m)))
}

impl Transform {
    /// The transform for a configuration (`model` loaded by [`load_model`] for scoring).
    pub fn new(
        name: &str,
        config: &TransformConfig,
        model: Option<Arc<Model>>,
    ) -> anyhow::Result<Transform> {
        let t = match (config, model) {
            (TransformConfig::Alerts { .. }, _) => {
                anyhow::bail!("transform `{name}`: an alerts stage is made by Transform::alerts")
            }
            (
                TransformConfig::Score {
                    embedding,
                    series,
                    step_seconds,
                    explain_above,
                    explain_max_rows,
                    ..
                },
                Some(model),
            ) => {
                let explain =
                    explain::Explain::from_model(&model, *explain_above, *explain_max_rows);
                let scoring = || -> anyhow::Result<Transform> {
                    Ok(match model.manifest().family.clone() {
                        Family::Netfound => Transform::Netfound(NetfoundTransform::new(
                            NetfoundScorer::new(model)?,
                            *embedding,
                            explain,
                        )?),
                        Family::FlowTransformer => {
                            Transform::Flow(FlowTransform::new(FlowScorer::new(model)?, explain)?)
                        }
                        Family::ITransformer => Transform::Metrics(MetricsTransform::new(
                            VariateScorer::new(model, series.clone(), *step_seconds)?,
                        )?),
                        Family::Hstu => {
                            Transform::Actions(ActionsTransform::new(HstuScorer::new(model)?)?)
                        }
                        Family::Other(other) => {
                            anyhow::bail!("no scorer for model family `{other}`")
                        }
                    })
                };
                scoring().map_err(|e| anyhow::anyhow!("transform `{name}`: {e:#}"))?
            }
            (TransformConfig::Score { .. }, None) => anyhow::bail!("transform `{name}`: no model"),
        };
        Ok(t)
    }

    /// An alerts stage over the scores of `models` (transform name → model; those run
    /// before the stage).
    pub fn alerts(
        name: &str,
        config: &TransformConfig,
        models: &std::collections::BTreeMap<String, Arc<Model>>,
    ) -> anyhow::Result<Transform> {
        let TransformConfig::Alerts {
            rules,
            suppress_max_keys,
            lateness_secs,
            window_max_rows,
            ..
        } = config
        else {
            anyhow::bail!("transform `{name}` is not an alerts stage");
        };
        let defaults = EngineLimits::default();
        let limits = EngineLimits {
            max_keys: suppress_max_keys.unwrap_or(defaults.max_keys),
            window_rows: window_max_rows.unwrap_or(defaults.window_rows),
            lateness_secs: lateness_secs.unwrap_or(defaults.lateness_secs),
        };
        let by_name = models.values().map(|m| (m.name().to_string(), m.clone())).collect();
        let t = AlertsTransform::new(rules.sources(), &by_name, limits)
            .map_err(|e| anyhow::anyhow!("transform `{name}`: {e:#}"))?;
        Ok(Transform::Alerts(t))
    }

    /// The record kind it scores (`None`: alerts read any scored kind).
    pub fn input_kind(&self) -> Option<RecordKind> {
        match self {
            Transform::Netfound(_) | Transform::Flow(_) => Some(RecordKind::Flows),
            Transform::Metrics(_) => Some(RecordKind::Metrics),
            Transform::Actions(_) => Some(RecordKind::Actions),
            Transform::Alerts(_) => None,
        }
    }

    /// For a transform that holds rows across batches (the iTransformer's
    /// resampler): the newest event time among `env`'s rows it takes in. `None`:
    /// whatever it makes of `env` is passed on before the next batch.
    pub fn holds(&self, env: &Envelope) -> Option<i64> {
        match self {
            Transform::Metrics(t) if env.kind == RecordKind::Metrics => t.newest_point(env),
            _ => None,
        }
    }

    /// Rows before this event time have all been passed on (`None`: none is held).
    pub fn held_since(&self) -> Option<i64> {
        match self {
            Transform::Metrics(t) => t.pending_since(),
            _ => None,
        }
    }

    /// Alert suppression keys evicted at the cap so far (0 for scoring transforms).
    pub fn suppression_evicted(&self) -> u64 {
        match self {
            Transform::Alerts(a) => a.evicted(),
            _ => 0,
        }
    }

    /// Process one batch. Scoring transforms pass batches of other kinds (dead letters)
    /// through; the alerts transform emits only alerts. Tokenize and score time go to
    /// `stats`.
    pub fn apply(&mut self, env: Envelope, stats: &StageStats) -> anyhow::Result<Vec<Envelope>> {
        if let Transform::Alerts(a) = self {
            let raised = a.apply(&env)?.into_iter();
            return Ok(raised.map(|out| env.derive(out.kind, out.batch)).collect());
        }
        if Some(env.kind) != self.input_kind() || env.rows() == 0 {
            return Ok(vec![env]);
        }
        Ok(match self {
            Transform::Netfound(t) => vec![t.apply(env, stats)?],
            Transform::Flow(t) => vec![t.apply(env, stats)?],
            Transform::Metrics(t) => t.apply(env, stats)?,
            Transform::Actions(t) => vec![t.apply(env, stats)?],
            Transform::Alerts(_) => unreachable!("handled above"),
        })
    }

    /// End of input: what the transform still holds.
    pub fn finish(&mut self, stats: &StageStats) -> anyhow::Result<Vec<Envelope>> {
        match self {
            Transform::Metrics(t) => t.finish(stats),
            Transform::Alerts(t) => Ok(t.finish()?.into_iter().collect()),
            _ => Ok(Vec::new()),
        }
    }
}
