//! Vigil's model layer: model manifests, ONNX Runtime sessions through `ort`, execution-provider
//! choice, batched scoring and decoding of outputs into scores, labels, forecasts and embeddings.
//!
//! A model artifact is a directory with `model.onnx` and `manifest.json` (see [`Manifest`]).
//! [`Model::load`] checks the file's sha256 and that the graph's inputs and outputs match the
//! manifest, then [`Model::run`] scores batches:
//!
//! ```no_run
//! use ndarray::ArrayD;
//! use vigil_models::{InputTensor, Model};
//!
//! # fn main() -> vigil_models::Result<()> {
//! let model = Model::load("onnx/artifacts/test-linear")?;
//! let x = ArrayD::<f32>::zeros(ndarray::IxDyn(&[8, 4]));
//! let outputs = model.run(&[("x", InputTensor::from(x))])?;
//! for p in model.top_labels(&outputs, "probs")? {
//!     println!("{} {:.3}", p.label, p.score);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Each model [`Family`] has a [`Scorer`] (netFound, FlowTransformer, iTransformer, HSTU):
//! its tokenizer configured from the manifest, the graph inputs, the run and the decoding
//! of outputs into verdicts and their Arrow column, used by `vigil score` and the runtime
//! alike. A scorer shares its model's one ONNX Runtime session with every worker (see
//! [`scorer`]). The manifest's free-form `preprocessing` is read only through the typed
//! accessors of [`preprocessing`].
//!
//! ONNX Runtime itself is loaded at run time; see [`runtime`] for where it is looked for.
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod decode;
mod device;
mod error;
mod family;
pub mod locate;
pub mod manifest;
mod model;
mod precision;
pub mod preprocessing;
pub mod runtime;
pub mod scorer;

pub use decode::Prediction;
pub use device::Device;
pub use error::{Error, Result};
pub use family::Family;
pub use manifest::{
    DType, Dim, GraphOptimization, LikelihoodParams, Manifest, OperatingPoint, TensorSpec,
    VariantEntry, artifact_dirs,
};
pub use model::{InputTensor, Model, ModelOptions, Outputs};
pub use ndarray;
pub use precision::Precision;
pub use scorer::{
    ActionVerdict, ClassVerdict, FlowScorer, HstuScorer, NetfoundScorer, NetfoundVerdict, Occlude,
    Occlusion, Scorer, VariateItem, VariateScorer, VariateVerdict, expected_column, expected_type,
    occlude, occlusion_column, occlusion_type,
};
