//! The alerts transform: an [`AlertEngine`] (rules, windows, thresholding) over the
//! scored batches of the stages before it.

use std::collections::BTreeMap;
use std::sync::Arc;

use vigil_models::Model;

use crate::alerting::rules::{ModelInfo, RuleLoader, RuleSource};
use crate::alerting::sql_rules::check_query;
use crate::alerting::{AlertEngine, EngineLimits};
use crate::runtime::record::Envelope;

/// What an alerts transform knows of a model a stage before it runs.
pub fn model_info(model: &Model) -> ModelInfo {
    ModelInfo::from_manifest(model.manifest())
}

/// Raises alerts from scored records.
pub struct AlertsTransform {
    engine: AlertEngine,
}

impl AlertsTransform {
    /// A transform running the rules of `sources` over the scores of `models` (by
    /// manifest name; rules of other models stay dormant).
    pub fn new(
        sources: Vec<RuleSource>,
        models: &BTreeMap<String, Arc<Model>>,
        limits: EngineLimits,
    ) -> anyhow::Result<Self> {
        let infos = models.iter().map(|(n, m)| (n.clone(), model_info(m))).collect();
        let loader = RuleLoader::new(sources, infos, Box::new(check_query));
        Ok(AlertsTransform { engine: AlertEngine::new(loader, limits)? })
    }

    /// The engine (rules, counters).
    pub fn engine(&self) -> &AlertEngine {
        &self.engine
    }

    /// Thresholding buckets evicted at their cap so far.
    pub fn evicted(&self) -> u64 {
        self.engine.evicted()
    }

    /// Alerts raised by a scored batch.
    pub fn apply(&mut self, env: &Envelope) -> anyhow::Result<Option<Envelope>> {
        self.engine.apply(env)
    }

    /// End of input: the SQL windows still pending.
    pub fn finish(&mut self) -> anyhow::Result<Option<Envelope>> {
        self.engine.finish()
    }
}
