//! The error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while finding ONNX Runtime, loading a model or scoring with it.
///
/// Each variant names the file or model it is about.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No ONNX Runtime library was found.
    #[error(
        "ONNX Runtime {version} not found ({reason}); install it with `python3 -m venv .venv && \
         .venv/bin/pip install onnxruntime=={version}` in the project root, or set ORT_DYLIB_PATH \
         to its libonnxruntime.so"
    )]
    LibraryNotFound {
        /// Why nothing was found (the places searched).
        reason: String,
        /// The ONNX Runtime version this crate is built for.
        version: &'static str,
    },
    /// The library was found but could not be loaded.
    #[error("cannot load ONNX Runtime from {}: {message}", path.display())]
    LibraryLoad {
        /// The library file.
        path: PathBuf,
        /// What the loader said.
        message: String,
    },
    /// The library is older than the version this crate needs.
    #[error(
        "ONNX Runtime at {} is version {found}, but {needed} or newer is needed; install it with \
         `.venv/bin/pip install onnxruntime=={needed}` or point ORT_DYLIB_PATH at a newer library",
        path.display()
    )]
    RuntimeVersion {
        /// The library file.
        path: PathBuf,
        /// The version it reports.
        found: String,
        /// The version this crate is built for.
        needed: &'static str,
    },
    /// Creating the ONNX Runtime environment failed.
    #[error("cannot create the ONNX Runtime environment: {message}")]
    Environment {
        /// What ONNX Runtime said.
        message: String,
    },
    /// CUDA was asked for (`device = cuda`) but cannot be used; `auto` would have fallen back
    /// to the CPU instead.
    #[error(
        "model {model}: device cuda was asked for, but CUDA cannot be used: {reason}. To use \
         the GPU: {hint}. To score on the CPU when there is no GPU, use device auto \
         (`--device auto`, or `device = \"auto\"` in the topology)"
    )]
    Cuda {
        /// The model's name.
        model: String,
        /// Why: the build, the ONNX Runtime library, a CUDA library, the driver or the GPU.
        reason: String,
        /// What to do about it.
        hint: &'static str,
    },
    /// Reading a file failed.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `manifest.json` is not valid JSON or lacks a field.
    #[error("invalid manifest {}: {source}", path.display())]
    ManifestParse {
        /// The manifest file.
        path: PathBuf,
        /// The JSON error, with line and column.
        source: serde_json::Error,
    },
    /// `manifest.json` parses but is inconsistent.
    #[error("invalid manifest {}: {message}", path.display())]
    ManifestInvalid {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The sha256 of the model file differs from the manifest's.
    #[error("sha256 mismatch for {}: manifest says {expected}, file has {actual}", path.display())]
    ShaMismatch {
        /// The model file.
        path: PathBuf,
        /// The manifest's sha256.
        expected: String,
        /// The file's sha256.
        actual: String,
    },
    /// The precision asked for has no graph in the artifact.
    #[error("model {model}: {reason}; use precision fp32, or make the variant with onnx/tools/")]
    NoVariant {
        /// The model's name.
        model: String,
        /// Why: no manifest entry, or the entry's note.
        reason: String,
    },
    /// ONNX Runtime refused the model file (corrupt protobuf, unsupported operator, ...).
    #[error("ONNX Runtime cannot load {}: {message}", path.display())]
    ModelLoad {
        /// The model file.
        path: PathBuf,
        /// What ONNX Runtime said.
        message: String,
    },
    /// The model's inputs or outputs differ from the manifest's names, dtypes or shapes.
    #[error("{} does not match its manifest: {message}", path.display())]
    SignatureMismatch {
        /// The model file.
        path: PathBuf,
        /// The first difference found.
        message: String,
    },
    /// The inputs given to [`crate::Model::run`] do not fit the model.
    #[error("bad input for model {model}: {message}")]
    Input {
        /// The model's name.
        model: String,
        /// What is wrong.
        message: String,
    },
    /// ONNX Runtime failed while scoring.
    #[error("model {model} failed to run: {message}")]
    Run {
        /// The model's name.
        model: String,
        /// What ONNX Runtime said.
        message: String,
    },
    /// The manifest's `preprocessing` lacks a field its family needs, or has a bad one.
    #[error("model {model}: {message}")]
    Preprocessing {
        /// The model's name.
        model: String,
        /// Which field, and what is wrong with it.
        message: String,
    },
    /// A scorer was asked for a model of another family.
    #[error("model {model} is a `{found}` model, not a {expected} model")]
    Family {
        /// The model's name.
        model: String,
        /// The family the scorer scores.
        expected: &'static str,
        /// The manifest's family.
        found: String,
    },
    /// The model's tokenizer refused a record or its settings.
    #[error("model {model}: {source}")]
    Tokenizer {
        /// The model's name.
        model: String,
        /// The tokenizer's error.
        source: vigil_tokenizers::TokenizerError,
    },
    /// Tokens were not made the way the model needs (another tokenizer, other settings,
    /// another vocabulary, or no record of how they were made).
    #[error("{input}: {message}")]
    Tokens {
        /// The token file (or stream) they came from.
        input: String,
        /// What differs, naming both the tokens' and the model's values.
        message: String,
    },
    /// Building the verdict column failed.
    #[error("model {model}: building the verdicts: {source}")]
    Arrow {
        /// The model's name.
        model: String,
        /// Arrow's error.
        source: arrow_schema::ArrowError,
    },
    /// An output could not be decoded.
    #[error("cannot decode output {output}: {message}")]
    Decode {
        /// The output's name.
        output: String,
        /// What is wrong.
        message: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
