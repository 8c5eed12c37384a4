//! FlowTransformer: each flow with the W − 1 flows before it (per the model's grouping)
//! → class and probabilities.
//!
//! The graph takes `numeric` float32 `[B, W, n]`, `categorical` int64 `[B, W, m]` and
//! `padding` int64 `[B]` (padding rows at the start of each window) and gives `probs`
//! `[B, classes]`.

use std::sync::Arc;

use arrow_array::StructArray;
use arrow_schema::{DataType, Fields};
use ndarray::{ArrayD, IxDyn};
use vigil_tokenizers::TokenStamp;
use vigil_tokenizers::flow_window::{FlowWindow, FlowWindowTokenizer, UNSEEN};

use super::columns::ClassVerdict;
use super::occlusion::Occlude;
use super::{Scorer, arrow_err, ensure_family, shape_err, tokenizer_err};
use crate::error::{Error, Result};
use crate::family::Family;
use crate::model::{InputTensor, Model, Outputs};
use crate::preprocessing::FlowPreprocessing;

/// FlowTransformer's scorer.
#[derive(Debug)]
pub struct FlowScorer {
    model: Arc<Model>,
    prep: FlowPreprocessing,
}

impl FlowScorer {
    /// The scorer of `model`, a FlowTransformer artifact.
    pub fn new(model: Arc<Model>) -> Result<Self> {
        ensure_family(&model, Self::FAMILY)?;
        let prep = model.manifest().flow_transformer()?;
        Ok(FlowScorer { model, prep })
    }

    /// The column mapping of the model's training flows (its features).
    pub fn mapping(&self) -> Option<&str> {
        self.prep.mapping.as_deref()
    }
}

impl Scorer for FlowScorer {
    type Tokenizer = FlowWindowTokenizer;
    type Item = FlowWindow;
    type Verdict = ClassVerdict;

    const FAMILY: Family = Family::FlowTransformer;

    fn model(&self) -> &Model {
        &self.model
    }

    /// The model's preprocessor, window and grouping.
    fn tokenizer(&self) -> Result<FlowWindowTokenizer> {
        FlowWindowTokenizer::new(self.prep.preprocessor.clone(), self.prep.window.clone())
            .map_err(tokenizer_err(&self.model))
    }

    fn inputs(&self, windows: &[FlowWindow]) -> Result<Vec<(&str, InputTensor)>> {
        let b = windows.len();
        let Some(first) = windows.first() else {
            return Err(Error::Input {
                model: self.model.name().into(),
                message: "no windows".into(),
            });
        };
        let (w, n, m) = (first.len(), first.n_numeric, first.n_categorical);
        let mut numeric = Vec::with_capacity(b * w * n);
        let mut categorical = Vec::with_capacity(b * w * m);
        let mut padding = Vec::with_capacity(b);
        for win in windows {
            if win.len() != w || win.n_numeric != n || win.n_categorical != m {
                return Err(Error::Input {
                    model: self.model.name().into(),
                    message: format!(
                        "flow {}: window shape differs from the first window's",
                        win.tuple.flow_id
                    ),
                });
            }
            numeric.extend_from_slice(&win.numeric);
            categorical.extend(win.categorical.iter().map(|&c| i64::from(c)));
            padding.push(i64::from(win.padding));
        }
        let shaped = shape_err(&self.model);
        Ok(vec![
            (
                "numeric",
                ArrayD::from_shape_vec(IxDyn(&[b, w, n]), numeric).map_err(&shaped)?.into(),
            ),
            (
                "categorical",
                ArrayD::from_shape_vec(IxDyn(&[b, w, m]), categorical).map_err(&shaped)?.into(),
            ),
            ("padding", ArrayD::from_shape_vec(IxDyn(&[b]), padding).map_err(&shaped)?.into()),
        ])
    }

    fn decode(&self, _: &[FlowWindow], outputs: &Outputs) -> Result<Vec<ClassVerdict>> {
        ClassVerdict::decode_all(&self.model, outputs)
    }

    /// `label`, `score`, `probs`.
    fn verdict_type(&self) -> DataType {
        DataType::Struct(Fields::from(ClassVerdict::fields()))
    }

    fn verdict_column(&self, verdicts: &[ClassVerdict]) -> Result<StructArray> {
        StructArray::try_new(
            Fields::from(ClassVerdict::fields()),
            ClassVerdict::columns(verdicts.iter()),
            None,
        )
        .map_err(arrow_err(&self.model))
    }

    fn token_stamp(&self) -> TokenStamp {
        TokenStamp::flow(&self.prep.preprocessor, &self.prep.window)
    }
}

/// The scored flow's features, one at a time: a numeric one set to 0 (its encoding when
/// missing, or at the training minimum), a categorical one to unseen. The window's
/// other flows stay as they are.
impl Occlude for FlowScorer {
    fn parts(&self, w: &FlowWindow) -> usize {
        w.n_numeric + w.n_categorical
    }

    fn masked(&self, w: &FlowWindow, part: usize) -> (FlowWindow, String) {
        let mut m = w.clone();
        let last = w.len() - 1;
        let prep = &self.prep.preprocessor;
        let name = if part < w.n_numeric {
            m.numeric[last * w.n_numeric + part] = 0.0;
            prep.numeric.get(part).map(|f| f.name.clone())
        } else {
            let c = part - w.n_numeric;
            m.categorical[last * w.n_categorical + c] = UNSEEN;
            prep.categorical.get(c).map(|f| f.name.clone())
        };
        (m, name.unwrap_or_else(|| format!("feature {part}")))
    }
}
