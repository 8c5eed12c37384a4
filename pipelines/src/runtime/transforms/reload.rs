//! Hot reload of a scoring transform's model: when a file of its artifact directory
//! changes (looked at every second, between batches), the artifact is loaded again,
//! checked as at start-up (manifest, sha256, graph inputs and outputs), and takes over
//! from the next batch. A model that fails those checks, or would score another kind
//! of record, is refused with an error in the log and the stage's
//! `model_reload_failures`; the loaded model keeps serving. A transform holding rows
//! (the iTransformer's resampler) takes the new model once it holds none.
//!
//! Alert stages keep the thresholds of the model they started with.

use std::path::{Path, PathBuf};

use super::{Transform, load_model};
use crate::alerting::reload::{CHECK_EVERY, FileWatch};
use crate::runtime::config::TransformConfig;
use crate::runtime::stats::StageStats;

/// Watches one scoring transform's artifact and reloads it.
#[derive(Debug)]
pub struct ModelReload {
    name: String,
    config: TransformConfig,
    workers: usize,
    watch: FileWatch,
    /// A change was seen and not yet acted on.
    pending: bool,
}

impl ModelReload {
    /// Watch the files of `artifact` (the directory the transform's model came from).
    pub fn new(name: &str, config: &TransformConfig, workers: usize, artifact: &Path) -> Self {
        let files: Vec<PathBuf> = std::fs::read_dir(artifact)
            .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect())
            .unwrap_or_default();
        ModelReload {
            name: name.to_string(),
            config: config.clone(),
            workers,
            watch: FileWatch::new(files, CHECK_EVERY),
            pending: false,
        }
    }

    /// Reload into `transform` if its artifact changed; counted in `stats`.
    pub fn poll(&mut self, transform: &mut Transform, stats: &StageStats) {
        self.pending |= self.watch.changed();
        if !self.pending || transform.held_since().is_some() {
            return;
        }
        self.pending = false;
        match self.load(transform) {
            Ok(fresh) => {
                *transform = fresh;
                stats.add_model_reload(true);
                tracing::info!(transform = %self.name, "model reloaded");
            }
            Err(e) => {
                stats.add_model_reload(false);
                tracing::error!(
                    transform = %self.name,
                    "model reload refused, the loaded model keeps serving: {e:#}"
                );
            }
        }
    }

    fn load(&self, current: &Transform) -> anyhow::Result<Transform> {
        let model = load_model(&self.name, &self.config, self.workers)?;
        let fresh = Transform::new(&self.name, &self.config, model)?;
        anyhow::ensure!(
            fresh.input_kind() == current.input_kind(),
            "transform `{}`: the new model scores {:?} records, the running one {:?}",
            self.name,
            fresh.input_kind(),
            current.input_kind()
        );
        Ok(fresh)
    }
}
