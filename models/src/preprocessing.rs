//! Typed views of a manifest's `preprocessing`, one per family: the only place that
//! reads those free-form JSON fields.
//!
//! Each accessor on [`Manifest`] reads what its family's tokenizer needs and refuses
//! what is missing or malformed with [`Error::Preprocessing`], naming the model and
//! the field.

use serde_json::Value;
use vigil_tokenizers::NetfoundConfig;
use vigil_tokenizers::actions::{ActionVocab, DEFAULT_NUM_BUCKETS, columns};
use vigil_tokenizers::flow_window::{FlowWindowConfig, GroupBy, Preprocessor};

use crate::error::{Error, Result};
use crate::manifest::Manifest;

/// netFound: the burst grid the graph reads and the tokenizer settings it was trained
/// with.
#[derive(Debug, Clone, PartialEq)]
pub struct NetfoundPreprocessing {
    /// Bursts per flow in the graph input (later bursts are dropped, missing ones zero).
    pub max_bursts: usize,
    /// Tokens per burst in the graph input, CLS included (longer bursts are cut).
    pub tokens_per_burst: usize,
    /// The tokenizer settings (no internal networks: those are the deployment's).
    pub tokenizer: NetfoundConfig,
}

/// FlowTransformer: the fitted preprocessor, the window and the column mapping of the
/// training flows.
#[derive(Debug, Clone)]
pub struct FlowPreprocessing {
    /// The preprocessor fitted on the training flows.
    pub preprocessor: Preprocessor,
    /// Window length and grouping (other settings at their defaults).
    pub window: FlowWindowConfig,
    /// The column mapping of the training flows (`cicflowmeter`, `zeek_conn`, ...).
    pub mapping: Option<String>,
}

/// iTransformer: the series, grid step and window length the model was trained on.
#[derive(Debug, Clone, PartialEq)]
pub struct VariatePreprocessing {
    /// The variates, in input order (absent: the caller must name them).
    pub series: Option<Vec<String>>,
    /// Grid step in seconds (absent: the caller must give it).
    pub step_seconds: Option<f64>,
    /// Steps per input window.
    pub lookback: usize,
}

/// HSTU: row length, time buckets, vocabulary and the predicted column.
#[derive(Debug, Clone, PartialEq)]
pub struct HstuPreprocessing {
    /// Row length, the scored event included.
    pub max_len: usize,
    /// Number of time buckets (128 when absent).
    pub num_buckets: u32,
    /// The vocabulary the model was trained with.
    pub vocab: ActionVocab,
    /// The predicted tokenizer column (`object_ids` when absent).
    pub target: String,
}

impl Manifest {
    /// netFound's preprocessing: `max_bursts` and `tokens_per_burst` (else the fixed
    /// dimensions of the `tokens` input), and the tokenizer settings: those of
    /// `preprocessing.tokenizer` when it is an object (`burst_gap_ms`,
    /// `max_packets_per_burst`, `max_bursts`, `payload`, `tcp_options`), on top of the
    /// defaults of `vigil tokenize netfound`, with `preprocessing.max_bursts` bursts
    /// emitted as soon as they are complete.
    pub fn netfound(&self) -> Result<NetfoundPreprocessing> {
        let prep = &self.preprocessing;
        let fixed = |axis: usize| {
            self.input("tokens").and_then(|t| t.shape.get(axis)).and_then(|d| d.size())
        };
        let from_prep = |key: &str| prep[key].as_u64().map(|v| v as usize);
        let max_bursts = from_prep("max_bursts")
            .or_else(|| fixed(1))
            .ok_or_else(|| self.prep_err("no preprocessing.max_bursts and no fixed burst axis"))?;
        let tokens_per_burst =
            from_prep("tokens_per_burst").or_else(|| fixed(2)).ok_or_else(|| {
                self.prep_err("no preprocessing.tokens_per_burst and no fixed token axis")
            })?;
        if max_bursts == 0 || tokens_per_burst == 0 {
            return Err(self.prep_err("empty burst grid"));
        }

        let mut c = NetfoundConfig::default();
        let t = &prep["tokenizer"];
        if let Some(ms) = t["burst_gap_ms"].as_f64() {
            c.burst_gap_us = (ms * 1000.0).round() as i64;
        }
        if let Some(n) = t["max_packets_per_burst"].as_u64() {
            c.max_packets_per_burst = n as usize;
        }
        if let Some(n) = t["max_bursts"].as_u64().or(prep["max_bursts"].as_u64()) {
            c.max_bursts = n as usize;
            c.emit_after_bursts = Some(n as usize);
        }
        if let Some(b) = t["payload"].as_bool() {
            c.payload = b;
        }
        if let Some(b) = t["tcp_options"].as_bool() {
            c.tcp_options = b;
        }
        c.validate().map_err(|e| self.prep_err(format!("preprocessing.tokenizer: {e}")))?;
        Ok(NetfoundPreprocessing { max_bursts, tokens_per_burst, tokenizer: c })
    }

    /// FlowTransformer's preprocessing: `preprocessor` (as `Preprocessor::to_json`
    /// writes it), `window`, `group_by` (`none`, `src`, `dst`, `src_dst`; `none` when
    /// absent) and `mapping`.
    pub fn flow_transformer(&self) -> Result<FlowPreprocessing> {
        let prep = &self.preprocessing;
        let preprocessor = Preprocessor::from_json(&prep["preprocessor"].to_string())
            .map_err(|e| self.prep_err(format!("preprocessing.preprocessor: {e}")))?;
        let window = prep["window"]
            .as_u64()
            .ok_or_else(|| self.prep_err("no preprocessing.window"))? as usize;
        let group_by = match prep["group_by"].as_str().unwrap_or("none") {
            "none" => GroupBy::None,
            "src" => GroupBy::SrcAddr,
            "dst" => GroupBy::DstAddr,
            "src_dst" | "src-dst" => GroupBy::SrcDst,
            other => {
                return Err(self.prep_err(format!("preprocessing.group_by `{other}` is unknown")));
            }
        };
        Ok(FlowPreprocessing {
            preprocessor,
            window: FlowWindowConfig { window, group_by, ..FlowWindowConfig::default() },
            mapping: prep["mapping"].as_str().map(str::to_string),
        })
    }

    /// iTransformer's preprocessing: `series`, `step_seconds` and `lookback`.
    pub fn itransformer(&self) -> Result<VariatePreprocessing> {
        let prep = &self.preprocessing;
        let series = match &prep["series"] {
            Value::Null => None,
            v => Some(
                serde_json::from_value(v.clone())
                    .map_err(|e| self.prep_err(format!("preprocessing.series: {e}")))?,
            ),
        };
        let lookback =
            prep["lookback"].as_u64().ok_or_else(|| self.prep_err("no preprocessing.lookback"))?
                as usize;
        Ok(VariatePreprocessing { series, step_seconds: prep["step_seconds"].as_f64(), lookback })
    }

    /// HSTU's preprocessing: `max_len`, `num_buckets`, `vocab` (as `ActionVocab::to_json`
    /// writes it) and `target`.
    pub fn hstu(&self) -> Result<HstuPreprocessing> {
        let prep = &self.preprocessing;
        let max_len =
            prep["max_len"].as_u64().ok_or_else(|| self.prep_err("no preprocessing.max_len"))?
                as usize;
        let num_buckets = prep["num_buckets"].as_u64().map_or(DEFAULT_NUM_BUCKETS, |n| n as u32);
        let vocab = ActionVocab::from_json(&prep["vocab"].to_string())
            .map_err(|e| self.prep_err(format!("preprocessing.vocab: {e}")))?;
        let target = prep["target"].as_str().unwrap_or(columns::OBJECT_IDS).to_string();
        Ok(HstuPreprocessing { max_len, num_buckets, vocab, target })
    }

    fn prep_err(&self, message: impl Into<String>) -> Error {
        Error::Preprocessing { model: self.name.clone(), message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn shipped(name: &str) -> Manifest {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../onnx/artifacts").join(name);
        Manifest::from_path(&dir.join("manifest.json")).unwrap()
    }

    #[test]
    fn shipped_manifests_read_as_their_family() {
        let nf = shipped("netfound").netfound().unwrap();
        assert_eq!((nf.max_bursts, nf.tokens_per_burst), (12, 55));
        // The manifest's tokenizer is a description of the defaults, plus max_bursts.
        assert_eq!(nf.tokenizer, NetfoundConfig::default());

        let flow = shipped("flow-transformer-cicids2017").flow_transformer().unwrap();
        // Chosen on validation (issue 12): the scored flow alone, without window context.
        assert_eq!((flow.window.window, flow.window.group_by), (1, GroupBy::SrcAddr));
        assert_eq!(flow.mapping.as_deref(), Some("cicflowmeter"));

        let v = shipped("itransformer-etth1").itransformer().unwrap();
        assert_eq!((v.lookback, v.step_seconds), (96, Some(3600.0)));
        assert_eq!(v.series.unwrap().len(), 7);

        let h = shipped("hstu-ml100k").hstu().unwrap();
        assert_eq!((h.max_len, h.num_buckets, h.target.as_str()), (50, 128, "object_ids"));
    }

    #[test]
    fn missing_fields_are_named_with_the_model() {
        let e = shipped("test-linear").hstu().unwrap_err().to_string();
        assert_eq!(e, "model test-linear: no preprocessing.max_len");
        let e = shipped("test-linear").netfound().unwrap_err().to_string();
        assert!(e.contains("preprocessing.max_bursts"), "{e}");
    }
}
