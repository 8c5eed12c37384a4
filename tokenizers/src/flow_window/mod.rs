//! FlowTransformer input: encoded flow features in windows of W flows.
//!
//! ```text
//!  FlowFeatures ─► Preprocessor::transform ─► EncodedFlow ─► FlowWindower::push ─► FlowWindow
//!  (vigil-ingest     (fitted on training,       numeric f32,    (per group, LRU,       W rows, scored flow last
//!   flow_records)     saved as JSON)            categorical id   never future flows)   ─► windows_to_record_batch
//! ```
//!
//! This follows FlowTransformer ([liamdm/FlowTransformer], Manocchio et al.
//! 2023): `StandardPreProcessing` for the encodings, windows of consecutive
//! flows whose last element is classified (`LastTokenClassificationHead`).
//! Deliberate differences:
//!
//! - **Unseen categorical levels are 0.** FlowTransformer's comment says
//!   "0 = previously unseen", but its code initialises with ones, so unseen
//!   levels share id 1 with the most frequent level. Ours: top K → 1..=K, else 0.
//! - **Ties in level frequency** are broken by level text, so fitting is deterministic.
//! - **Below-min numerics clamp to 0.0** (FlowTransformer: NaN); NaN and −∞ → 0.0,
//!   +∞ → 1.0. Above max is not clamped unless `clip_above_max` (as FlowTransformer).
//! - **Windows only look back.** FlowTransformer takes rows `i-W+1..=i` of the
//!   dataset (training may also draw random context rows); we take the W − 1
//!   latest flows that started no later than the scored one and were seen
//!   before it, optionally per host ([`GroupBy`]), and **pad at the start**
//!   (FlowTransformer skips the first W − 1 rows instead). The `padding`
//!   column says how many rows are padding, so a model can mask them.
//! - Numeric windows are one `list<list<f32>>` column and categoricals one
//!   `list<list<u32>>`, instead of one Keras input per feature.
//!
//! [liamdm/FlowTransformer]: https://github.com/liamdm/FlowTransformer
//!
//! ```
//! use vigil_ingest::flow_records::{ColumnMapping, FlowCsvReader};
//! use vigil_tokenizers::flow_window::{
//!     FlowWindowConfig, FlowWindowTokenizer, PreprocessConfig, Preprocessor, windows_to_record_batch,
//! };
//! let mapping = ColumnMapping::from_json(
//!     r#"{"name": "t", "src_addr": "src", "numeric": ["bytes"], "categorical": ["port"]}"#,
//! )?;
//! let csv = "src,bytes,port\n10.0.0.1,0,80\n10.0.0.1,99,443\n10.0.0.1,9,80\n";
//! let flows: Vec<_> = FlowCsvReader::new(csv.as_bytes(), "t.csv", &mapping)?
//!     .collect::<Result<_, _>>()?;
//! let pre = Preprocessor::fit(PreprocessConfig::default(), &flows)?;
//! // Saved with the model, read back when serving.
//! let pre = Preprocessor::from_json(&pre.to_json())?;
//! let config = FlowWindowConfig { window: 2, ..FlowWindowConfig::default() };
//! let mut tok = FlowWindowTokenizer::new(pre, config)?;
//! let windows: Vec<_> = flows.iter().map(|f| tok.push(f)).collect::<Result<_, _>>()?;
//! // Third flow: bytes 9 -> ln(10)/ln(100) = 0.5; port 80 is the most frequent level -> 1.
//! assert_eq!(windows[2].numeric_row(1), &[0.5]);
//! assert_eq!(windows[2].categorical_row(1), &[1]);
//! assert_eq!(windows[0].padding, 1);
//! let batch = windows_to_record_batch(&windows)?;
//! assert_eq!(batch.num_rows(), 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod preprocess;
mod schema;
mod window;

pub use preprocess::{
    CategoricalLevels, EncodedFlow, NumericScale, PreprocessConfig, Preprocessor, UNSEEN,
};
pub use schema::{columns, flow_window_schema, windows_to_record_batch};
pub use window::{FlowWindow, FlowWindowConfig, FlowWindowStats, FlowWindower, GroupBy};

use vigil_ingest::flow_records::FlowFeatures;

use crate::TokenizerError;

/// A fitted [`Preprocessor`] and a [`FlowWindower`]: records in, windows out.
#[derive(Debug)]
pub struct FlowWindowTokenizer {
    preprocessor: Preprocessor,
    windower: FlowWindower,
}

impl FlowWindowTokenizer {
    /// Checks the window config.
    pub fn new(
        preprocessor: Preprocessor,
        config: FlowWindowConfig,
    ) -> Result<Self, TokenizerError> {
        Ok(FlowWindowTokenizer { preprocessor, windower: FlowWindower::new(config)? })
    }

    /// Encodes `rec` and returns its window (a feature-name mismatch is refused, state unchanged).
    pub fn push(&mut self, rec: &FlowFeatures) -> Result<FlowWindow, TokenizerError> {
        let row = self.preprocessor.transform(rec)?;
        Ok(self.windower.push(rec, row))
    }

    /// The preprocessor.
    pub fn preprocessor(&self) -> &Preprocessor {
        &self.preprocessor
    }

    /// The windower's counters.
    pub fn stats(&self) -> FlowWindowStats {
        self.windower.stats()
    }
}
