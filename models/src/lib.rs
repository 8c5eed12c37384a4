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
//! ONNX Runtime itself is loaded at run time; see [`runtime`] for where it is looked for.
#![deny(missing_docs)]

pub mod decode;
mod device;
mod error;
pub mod manifest;
mod model;
pub mod runtime;

pub use decode::Prediction;
pub use device::Device;
pub use error::{Error, Result};
pub use manifest::{DType, Dim, Manifest, TensorSpec};
pub use model::{InputTensor, Model, ModelOptions, Outputs};
pub use ndarray;
