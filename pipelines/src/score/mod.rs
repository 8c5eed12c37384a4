//! Scoring tokenized records with a model from `onnx/artifacts/`, adding the
//! model's verdict to each row as one struct column named after the model.
//!
//! One module per family:
//! - [`flow`]: FlowTransformer windows → `label`, `score`, `probs`;
//! - [`netfound`]: netFound bursts → `label`, `score`, `probs`, `malicious`, `embedding`;
//! - [`variate`]: iTransformer windows → `forecast` (variate × horizon, de-normalised)
//!   and `score`, the anomaly score of the step after the window.

mod flow;
mod netfound;
mod variate;

pub use flow::{score_flow_windows, scored_flow_schema};
pub use netfound::{NetfoundShape, netfound_inputs, score_netfound, scored_netfound_schema};
pub use variate::{residual_score, score_variate_windows, scored_variate_schema};
