//! `manifest.json`: what a model artifact is, what it takes and what it gives.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::family::Family;
use crate::precision::Precision;

/// The contents of an artifact's `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Model name, e.g. `flowtransformer-nf`.
    pub name: String,
    /// Model family (`netfound`, `flow_transformer`, `itransformer`, `hstu`, or another
    /// spelling kept as [`Family::Other`]).
    pub family: Family,
    /// Artifact version.
    pub version: String,
    /// Lower-case hex sha256 of `model.onnx`.
    pub sha256: String,
    /// The graph inputs.
    pub inputs: Vec<TensorSpec>,
    /// The graph outputs.
    pub outputs: Vec<TensorSpec>,
    /// Class names, in the order of the class axis of a classifier's output.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Decision thresholds per label, or per output for a model's single-score output
    /// (netFound's `malicious`).
    #[serde(default)]
    pub thresholds: BTreeMap<String, f64>,
    /// Preprocessing constants, free-form per family; read them through the typed
    /// accessors ([`Manifest::netfound`], [`Manifest::flow_transformer`],
    /// [`Manifest::itransformer`], [`Manifest::hstu`]).
    #[serde(default)]
    pub preprocessing: serde_json::Value,
    /// The training data used.
    #[serde(default)]
    pub training_data: serde_json::Value,
    /// Metrics measured on it.
    #[serde(default)]
    pub metrics: serde_json::Value,
    /// The float16 variant (`onnx/tools/fp16.py`), if one was made.
    #[serde(default)]
    pub fp16: Option<VariantEntry>,
    /// The int8 variant (`onnx/tools/int8.py`), if one was made.
    #[serde(default)]
    pub int8: Option<VariantEntry>,
    /// ONNX Runtime's graph optimisation for `model.onnx`, when the default (`all`) is
    /// not the fastest (measured with `benchmarks/ort-settings.py`).
    #[serde(default)]
    pub graph_optimization: Option<GraphOptimization>,
    /// Alerting thresholds chosen on validation data for a stated false-positive rate,
    /// by name (`fpr_1e-3`, `fpr_1e-4`): see [`OperatingPoint`].
    #[serde(default)]
    pub operating_points: BTreeMap<String, OperatingPoint>,
    /// A forecaster's anomaly likelihood over its residuals (the iTransformer's), with
    /// the parameters its offline evaluation chose: see [`LikelihoodParams`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anomaly_likelihood: Option<LikelihoodParams>,
}

/// NAB's HTM-detector likelihood over a residual stream (`likelihood` model rules): m =
/// the mean of the last `short` residuals, Φ((m − μ) / σ) with μ and σ over up to `long`
/// earlier means (none before `min_history`), a red-zone likelihood right after another
/// lowered to the yellow zone, and 1 for a value beyond its series' range so far by more
/// than `spatial_tolerance` of it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LikelihoodParams {
    /// Residuals averaged per step (HTM's default: 10).
    pub short: usize,
    /// Earlier means the step is compared with, at most (HTM: 8,640).
    pub long: usize,
    /// Earlier means needed before a step scores above 0.
    pub min_history: usize,
    /// Likelihood from which a run counts (HTM: 0.99999).
    pub red_zone: f64,
    /// What a red-zone likelihood right after another becomes (HTM: 0.999).
    pub yellow_zone: f64,
    /// The spatial rule's slack, as a fraction of the range so far (NAB: 0.05).
    pub spatial_tolerance: f64,
}

/// An alerting threshold on the model's score, chosen on validation data so that at
/// most `target_fpr` of the benign rows score at or above it, or for another stated
/// criterion (`chosen_for`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    /// The score compared with the threshold, in words (`1 - P(BENIGN)`, `malicious`).
    #[serde(default)]
    pub score: Option<String>,
    /// The model rule field it was chosen for when that is not the model's own score:
    /// `likelihood` (the log form of [`LikelihoodParams`]' likelihood).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The false-positive rate it was chosen for (`None`: chosen for `chosen_for`).
    #[serde(default)]
    pub target_fpr: Option<f64>,
    /// What it was chosen for when not a false-positive rate (the iTransformer's
    /// likelihood: NAB's standard profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen_for: Option<String>,
    /// Alert when the score is at least this.
    pub threshold: f64,
    /// `false` when validation had fewer than 1 / `target_fpr` benign rows, so the rate
    /// could not be resolved (the threshold is then the one for the smallest rate seen).
    #[serde(default)]
    pub resolvable: Option<bool>,
    /// Recall and false-positive rate measured at the threshold, on validation.
    #[serde(default)]
    pub validation: serde_json::Value,
}

/// ONNX Runtime's graph optimisation level for a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GraphOptimization {
    /// None.
    Disabled,
    /// Semantics-preserving rewrites (constant folding, redundant nodes).
    Basic,
    /// Basic, and fusions of common node groups.
    Extended,
    /// Everything, layout changes included (ONNX Runtime's default).
    All,
}

/// A reduced-precision variant of the graph: its file, or why there is none. The other
/// fields the tools write (parity, held-out metrics, speed) are for people and stay unread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariantEntry {
    /// The file beside `model.onnx`; `None` when no variant could be made.
    #[serde(default)]
    pub model_file: Option<String>,
    /// Lower-case hex sha256 of that file.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Why there is no variant, or a remark about it.
    #[serde(default)]
    pub note: Option<String>,
    /// ONNX Runtime's graph optimisation for this graph, when not the default.
    #[serde(default)]
    pub graph_optimization: Option<GraphOptimization>,
}

/// One graph input or output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpec {
    /// Name in the ONNX graph.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Dimensions; dynamic ones are `-1` or a name such as `"batch"`.
    pub shape: Vec<Dim>,
}

/// A tensor element type as written in the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum DType {
    /// 32-bit float.
    Float32,
    /// 64-bit float.
    Float64,
    /// 16-bit float.
    Float16,
    /// 32-bit signed integer.
    Int32,
    /// 64-bit signed integer.
    Int64,
    /// 8-bit signed integer.
    Int8,
    /// 8-bit unsigned integer.
    Uint8,
    /// Boolean.
    Bool,
    /// String.
    String,
}

impl DType {
    /// The manifest spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DType::Float32 => "float32",
            DType::Float64 => "float64",
            DType::Float16 => "float16",
            DType::Int32 => "int32",
            DType::Int64 => "int64",
            DType::Int8 => "int8",
            DType::Uint8 => "uint8",
            DType::Bool => "bool",
            DType::String => "string",
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One dimension of a [`TensorSpec`]: a fixed size, or dynamic (`-1` or a name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Dim {
    /// A size; `-1` means dynamic.
    Fixed(i64),
    /// A named dynamic dimension, e.g. `"batch"`.
    Named(String),
}

impl Dim {
    /// The fixed size, or `None` when the dimension is dynamic.
    pub fn size(&self) -> Option<usize> {
        match self {
            Dim::Fixed(n) if *n >= 0 => Some(*n as usize),
            _ => None,
        }
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Named(s) => f.write_str(s),
        }
    }
}

impl Manifest {
    /// The graph file (relative to the artifact) and its sha256 for `precision`, or why the
    /// artifact has none.
    pub fn graph_file(&self, precision: Precision) -> std::result::Result<(&str, &str), String> {
        let entry = match precision {
            Precision::Fp32 => return Ok(("model.onnx", &self.sha256)),
            Precision::Fp16 => self.fp16.as_ref(),
            Precision::Int8 => self.int8.as_ref(),
        };
        let Some(entry) = entry else {
            return Err(format!(
                "the manifest has no `{precision}` entry (no {precision} variant was made)"
            ));
        };
        match (&entry.model_file, &entry.sha256) {
            (Some(file), Some(sha)) => Ok((file, sha)),
            _ => Err(format!(
                "there is no {precision} variant: {}",
                entry.note.as_deref().unwrap_or("its manifest entry names no file")
            )),
        }
    }

    /// The graph optimisation the manifest asks for `precision`'s graph (`None`: ONNX
    /// Runtime's default).
    pub fn graph_optimization(&self, precision: Precision) -> Option<GraphOptimization> {
        match precision {
            Precision::Fp32 => self.graph_optimization,
            Precision::Fp16 => self.fp16.as_ref().and_then(|e| e.graph_optimization),
            Precision::Int8 => self.int8.as_ref().and_then(|e| e.graph_optimization),
        }
    }

    /// Reads and checks `path` (a `manifest.json`).
    pub fn from_path(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        Self::from_json(&text, path)
    }

    /// Parses and checks the text of a `manifest.json`; `path` names it in errors.
    pub fn from_json(text: &str, path: &Path) -> Result<Manifest> {
        let manifest: Manifest = serde_json::from_str(text)
            .map_err(|source| Error::ManifestParse { path: path.to_path_buf(), source })?;
        manifest
            .validate()
            .map_err(|message| Error::ManifestInvalid { path: path.to_path_buf(), message })?;
        Ok(manifest)
    }

    /// Checks the manifest's own consistency.
    fn validate(&self) -> std::result::Result<(), String> {
        if !is_sha256(&self.sha256) {
            return Err(format!("sha256 {:?} is not 64 hex digits", self.sha256));
        }
        for (key, entry) in [("fp16", &self.fp16), ("int8", &self.int8)] {
            let Some(entry) = entry else { continue };
            if let Some(file) = &entry.model_file {
                let plain = Path::new(file).file_name().is_some_and(|n| n == file.as_str());
                if !plain || !file.ends_with(".onnx") {
                    return Err(format!("{key}.model_file {file:?} is not an .onnx file name"));
                }
                if !entry.sha256.as_ref().is_some_and(|s| is_sha256(s)) {
                    return Err(format!("{key}.sha256 is not 64 hex digits"));
                }
            }
        }
        if self.inputs.is_empty() || self.outputs.is_empty() {
            return Err("inputs and outputs must not be empty".into());
        }
        for (kind, specs) in [("input", &self.inputs), ("output", &self.outputs)] {
            for (i, spec) in specs.iter().enumerate() {
                if specs[..i].iter().any(|s| s.name == spec.name) {
                    return Err(format!("{kind} {:?} is listed twice", spec.name));
                }
                if let Some(Dim::Fixed(n)) =
                    spec.shape.iter().find(|d| matches!(d, Dim::Fixed(n) if *n < -1))
                {
                    return Err(format!("{kind} {:?} has dimension {n}", spec.name));
                }
            }
        }
        for label in self.thresholds.keys() {
            if !self.labels.iter().any(|l| l == label) && self.output(label).is_none() {
                return Err(format!("threshold for unknown label or output {label:?}"));
            }
        }
        Ok(())
    }

    /// The input spec called `name`.
    pub fn input(&self, name: &str) -> Option<&TensorSpec> {
        self.inputs.iter().find(|s| s.name == name)
    }

    /// The output spec called `name`.
    pub fn output(&self, name: &str) -> Option<&TensorSpec> {
        self.outputs.iter().find(|s| s.name == name)
    }

    /// The decision threshold for `label` (or a single-score output), if the manifest has one.
    pub fn threshold(&self, label: &str) -> Option<f64> {
        self.thresholds.get(label).copied()
    }
}

/// Whether `s` is 64 hex digits.
fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The artifact directories at `dir`: `dir` itself when it holds a `manifest.json`,
/// else its subdirectories that do, in name order.
pub fn artifact_dirs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    if dir.join("manifest.json").is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let mut subs: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("manifest.json").is_file())
        .collect();
    subs.sort();
    Ok(subs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "cc5222c1f5cb00d58ea186e7ae5e7a3a5575cb89cee8d9ad078e71e4cd8481f0";

    fn parse(json: &str) -> std::result::Result<Manifest, String> {
        let m: Manifest = serde_json::from_str(json).map_err(|e| e.to_string())?;
        m.validate()?;
        Ok(m)
    }

    #[test]
    fn parses_dynamic_dims_and_defaults() {
        let m = parse(&format!(
            r#"{{"name":"m","family":"f","version":"1","sha256":"{SHA}",
            "inputs":[{{"name":"x","dtype":"int64","shape":[-1,"seq",8]}}],
            "outputs":[{{"name":"y","dtype":"float32","shape":["batch"]}}]}}"#
        ))
        .unwrap();
        assert_eq!(m.inputs[0].dtype, DType::Int64);
        assert_eq!(
            m.inputs[0].shape,
            vec![Dim::Fixed(-1), Dim::Named("seq".into()), Dim::Fixed(8)]
        );
        assert_eq!(m.inputs[0].shape[0].size(), None);
        assert_eq!(m.inputs[0].shape[2].size(), Some(8));
        assert!(m.labels.is_empty());
        assert!(m.preprocessing.is_null());
    }

    #[test]
    fn refuses_bad_sha_and_unknown_threshold() {
        let bad_sha = r#"{"name":"m","family":"f","version":"1","sha256":"abc",
            "inputs":[{"name":"x","dtype":"float32","shape":[1]}],
            "outputs":[{"name":"y","dtype":"float32","shape":[1]}]}"#;
        assert!(parse(bad_sha).unwrap_err().contains("sha256"));
        let bad_threshold = format!(
            r#"{{"name":"m","family":"f","version":"1","sha256":"{SHA}",
            "inputs":[{{"name":"x","dtype":"float32","shape":[1]}}],
            "outputs":[{{"name":"y","dtype":"float32","shape":[1]}}],
            "labels":["a"],"thresholds":{{"b":0.5}}}}"#
        );
        assert!(parse(&bad_threshold).unwrap_err().contains("unknown label"));
        let output_threshold = format!(
            r#"{{"name":"m","family":"f","version":"1","sha256":"{SHA}",
            "inputs":[{{"name":"x","dtype":"float32","shape":[1]}}],
            "outputs":[{{"name":"y","dtype":"float32","shape":[1]}}],
            "labels":["a"],"thresholds":{{"y":0.5}}}}"#
        );
        assert_eq!(parse(&output_threshold).unwrap().threshold("y"), Some(0.5));
    }

    #[test]
    fn graph_optimization_is_per_graph() {
        let m = parse(&format!(
            r#"{{"name":"m","family":"f","version":"1","sha256":"{SHA}",
            "inputs":[{{"name":"x","dtype":"float32","shape":[1]}}],
            "outputs":[{{"name":"y","dtype":"float32","shape":[1]}}],
            "graph_optimization":"disabled",
            "int8":{{"model_file":"model.int8.onnx","sha256":"{SHA}","graph_optimization":"basic"}},
            "fp16":{{"model_file":"model.fp16.onnx","sha256":"{SHA}"}}}}"#
        ))
        .unwrap();
        assert_eq!(m.graph_optimization(Precision::Fp32), Some(GraphOptimization::Disabled));
        assert_eq!(m.graph_optimization(Precision::Int8), Some(GraphOptimization::Basic));
        assert_eq!(m.graph_optimization(Precision::Fp16), None);
        let bad = format!(
            r#"{{"name":"m","family":"f","version":"1","sha256":"{SHA}",
            "inputs":[{{"name":"x","dtype":"float32","shape":[1]}}],
            "outputs":[{{"name":"y","dtype":"float32","shape":[1]}}],
            "graph_optimization":"max"}}"#
        );
        assert!(parse(&bad).unwrap_err().contains("unknown variant `max`"));
    }

    #[test]
    fn refuses_unknown_dtype() {
        let json = format!(
            r#"{{"name":"m","family":"f","version":"1","sha256":"{SHA}",
            "inputs":[{{"name":"x","dtype":"float99","shape":[1]}}],
            "outputs":[{{"name":"y","dtype":"float32","shape":[1]}}]}}"#
        );
        assert!(parse(&json).unwrap_err().contains("float99"));
    }
}
