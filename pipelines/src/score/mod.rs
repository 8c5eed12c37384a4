//! Scoring tokenized records with a model from `onnx/artifacts/`, adding the
//! model's verdict to each row as one struct column named after the model.
//!
//! One module per family:
//! - [`flow`]: FlowTransformer windows → `label`, `score`, `probs`;
//! - [`netfound`]: netFound bursts → `label`, `score`, `probs`, `malicious`, `embedding`;
//! - [`variate`]: iTransformer windows → `forecast` (variate × horizon, de-normalised)
//!   and `score`, the anomaly score of the step after the window;
//! - [`actions`]: HSTU action sequences → `label` (the most likely next token),
//!   `score` (surprise of the observed one) and `rank`.

mod actions;
mod flow;
mod netfound;
mod variate;

pub use actions::{
    ActionModelSpec, ActionVerdict, events_schema, events_to_record_batch, score_snapshots,
    scored_actions_schema, snapshots_from_batch, surprise_and_rank, verdict_type, with_verdicts,
};
pub use flow::{score_flow_windows, scored_flow_schema};
pub use netfound::{
    NetfoundShape, netfound_inputs, netfound_tokenizer_config, score_netfound,
    scored_netfound_schema,
};
pub use variate::{residual_score, score_variate_windows, scored_variate_schema};
