//! The TOML parsers never panic: a topology (parsed, then checked as `vigil run
//! --check` does, every problem at once) and a rules file (parsed and checked against
//! the shipped models' manifests, SQL rules planned by DataFusion). Errors name their
//! origin.
//!
//! Input: `[which byte, TOML text...]`: an even byte reads a topology, an odd one rules.
#![no_main]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vigil_models::Manifest;
use vigil_pipelines::alerting::sql_rules::check_query;
use vigil_pipelines::alerting::{ModelInfo, RuleLoader, RuleSource};
use vigil_pipelines::runtime::config::TopologyConfig;
use vigil_pipelines::runtime::topology::Topology;

/// What the shipped manifests say of their models, read once.
fn models() -> &'static BTreeMap<String, ModelInfo> {
    static MODELS: OnceLock<BTreeMap<String, ModelInfo>> = OnceLock::new();
    MODELS.get_or_init(|| {
        let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../onnx/artifacts");
        let mut out = BTreeMap::new();
        for dir in vigil_models::artifact_dirs(&artifacts).expect("onnx/artifacts") {
            let m = Manifest::from_path(&dir.join("manifest.json")).expect("a shipped manifest");
            out.insert(m.name.clone(), ModelInfo::from_manifest(&m));
        }
        out
    })
}

/// One scratch rules file per fuzzing process.
fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("vigil-fuzz-{}.rules.toml", std::process::id()))
    })
}

fn topology(text: &str) {
    let origin = Path::new("fuzz/vigil.toml");
    match TopologyConfig::from_toml(text, origin) {
        Ok(config) => {
            // Checked, not run: refusing is fine, panicking is not.
            let _ = Topology::build(config);
        }
        Err(e) => {
            assert!(e.to_string().starts_with("fuzz/vigil.toml"), "error without the file: {e}")
        }
    }
}

fn rules(text: &str) {
    std::fs::write(scratch(), text).expect("scratch file");
    let sources = vec![RuleSource::Builtin, RuleSource::File(scratch().clone())];
    let loader = RuleLoader::new(sources, models().clone(), Box::new(check_query));
    if let Err(problems) = loader.load() {
        assert!(!problems.is_empty(), "refused without a reason");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    if which % 2 == 0 { topology(text) } else { rules(text) }
});
