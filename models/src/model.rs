//! Loading a model artifact and scoring batches with it.

use std::borrow::Cow;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ndarray::{ArrayD, Axis, Slice};
use ort::session::{Session, SessionInputValue};
use ort::value::{DynValue, Tensor, TensorElementType, ValueType};
use sha2::{Digest, Sha256};

use crate::decode::{self, Prediction};
use crate::device::{Device, SessionSource};
use crate::error::{Error, Result};
use crate::manifest::{DType, Dim, Manifest, TensorSpec};
use crate::precision::Precision;
use crate::runtime;

/// How to load a model.
#[derive(Debug, Clone)]
pub struct ModelOptions {
    device: Device,
    max_batch: usize,
    intra_threads: Option<usize>,
    sessions: usize,
    precision: Precision,
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions {
            device: Device::Cpu,
            max_batch: 256,
            intra_threads: None,
            sessions: 1,
            precision: Precision::Fp32,
        }
    }
}

impl ModelOptions {
    /// The device to score on (default [`Device::Cpu`]); see [`Device`] for what `cuda` and
    /// `auto` do when CUDA cannot be used.
    #[must_use]
    pub fn device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// Which graph to load (default [`Precision::Fp32`], `model.onnx`); a variant the
    /// artifact lacks is [`Error::NoVariant`].
    #[must_use]
    pub fn precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// The most items [`Model::run`] gives ONNX Runtime at once (default 256, at least 1).
    #[must_use]
    pub fn max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch.max(1);
        self
    }

    /// Threads ONNX Runtime uses within an operator (default: its own choice).
    #[must_use]
    pub fn intra_threads(mut self, threads: usize) -> Self {
        self.intra_threads = Some(threads);
        self
    }

    /// Score with `workers` threads (default: one session, ONNX Runtime's own thread
    /// count). On the CPU that is `workers` single-threaded sessions: a batch of more
    /// than [`max_batch`](Self::max_batch) items is cut into runs spread over them,
    /// which go at once. One single-threaded session per core scores faster than one
    /// session with a thread per core (`vigil-harness bench sessions`, 2 cores, batch
    /// 256: +14 to +40% rows/s for netFound, +39% FlowTransformer, +6 to +11%
    /// iTransformer, +1 to +5% HSTU). On a GPU it stays one session.
    #[must_use]
    pub fn workers(mut self, workers: usize) -> Self {
        self.sessions = workers.max(1);
        self.intra_threads = Some(1);
        self
    }
}

/// One input tensor for [`Model::run`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum InputTensor {
    /// float32.
    F32(ArrayD<f32>),
    /// float64.
    F64(ArrayD<f64>),
    /// int64 (token ids, buckets).
    I64(ArrayD<i64>),
    /// int32.
    I32(ArrayD<i32>),
    /// uint8.
    U8(ArrayD<u8>),
    /// bool (masks).
    Bool(ArrayD<bool>),
}

macro_rules! each_input {
    ($self:expr, $a:ident => $body:expr) => {
        match $self {
            InputTensor::F32($a) => $body,
            InputTensor::F64($a) => $body,
            InputTensor::I64($a) => $body,
            InputTensor::I32($a) => $body,
            InputTensor::U8($a) => $body,
            InputTensor::Bool($a) => $body,
        }
    };
}

macro_rules! input_from {
    ($($t:ty => $v:ident),*) => {$(
        impl From<ArrayD<$t>> for InputTensor {
            fn from(a: ArrayD<$t>) -> Self {
                InputTensor::$v(a)
            }
        }
    )*};
}
input_from!(f32 => F32, f64 => F64, i64 => I64, i32 => I32, u8 => U8, bool => Bool);

impl InputTensor {
    /// Its element type.
    pub fn dtype(&self) -> DType {
        match self {
            InputTensor::F32(_) => DType::Float32,
            InputTensor::F64(_) => DType::Float64,
            InputTensor::I64(_) => DType::Int64,
            InputTensor::I32(_) => DType::Int32,
            InputTensor::U8(_) => DType::Uint8,
            InputTensor::Bool(_) => DType::Bool,
        }
    }

    /// Its shape.
    pub fn shape(&self) -> &[usize] {
        each_input!(self, a => a.shape())
    }

    /// An ONNX Runtime tensor of the items in `range` (all of it when `None`).
    fn to_value(&self, range: Option<Range<usize>>) -> ort::Result<DynValue> {
        each_input!(self, a => {
            let part = match range {
                Some(r) => a.slice_axis(Axis(0), Slice::from(r)).as_standard_layout().into_owned(),
                None => a.as_standard_layout().into_owned(),
            };
            Ok(Tensor::from_array(part)?.into_dyn())
        })
    }
}

/// The outputs of [`Model::run`], as float32 arrays in the manifest's output order.
///
/// float64 and integer outputs are converted to float32; bool outputs become 0.0 and 1.0.
#[derive(Debug, Clone, PartialEq)]
pub struct Outputs {
    names: Vec<String>,
    arrays: Vec<ArrayD<f32>>,
}

impl Outputs {
    /// The output called `name`.
    pub fn get(&self, name: &str) -> Option<&ArrayD<f32>> {
        self.names.iter().position(|n| n == name).map(|i| &self.arrays[i])
    }

    /// The output names, in the manifest's order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// (name, array) pairs in the manifest's order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ArrayD<f32>)> {
        self.names.iter().map(String::as_str).zip(&self.arrays)
    }

    /// The (name, array) pairs.
    pub fn into_vec(self) -> Vec<(String, ArrayD<f32>)> {
        self.names.into_iter().zip(self.arrays).collect()
    }
}

/// The fewest items a run is given when a batch is shared among sessions.
const MIN_RUN: usize = 16;

/// A loaded, checked model artifact: `manifest.json` plus an ONNX Runtime session.
#[derive(Debug)]
pub struct Model {
    manifest: Manifest,
    path: PathBuf,
    device: Device,
    precision: Precision,
    max_batch: usize,
    /// One or more sessions of the same model; runs take a free one.
    sessions: Vec<Mutex<Session>>,
}

impl Model {
    /// Loads the artifact in `dir` (`manifest.json` and `model.onnx`) on the CPU.
    pub fn load(dir: impl AsRef<Path>) -> Result<Model> {
        Model::load_with(dir, &ModelOptions::default())
    }

    /// Loads the artifact in `dir` with `options`.
    ///
    /// Checks, in order: the manifest parses and is consistent; the graph of the precision
    /// asked for exists (`model.onnx`, or the variant its manifest entry names) and its sha256
    /// equals the manifest's; ONNX Runtime accepts the file on the device asked for
    /// ([`Error::Cuda`] when `cuda` cannot be used); the session's inputs and outputs
    /// have the manifest's names, dtypes and ranks, and agree on every fixed dimension.
    pub fn load_with(dir: impl AsRef<Path>, options: &ModelOptions) -> Result<Model> {
        let dir = dir.as_ref();
        let manifest = Manifest::from_path(&dir.join("manifest.json"))?;
        let (file, expected) = manifest
            .graph_file(options.precision)
            .map_err(|reason| Error::NoVariant { model: manifest.name.clone(), reason })?;
        let (path, expected) = (dir.join(file), expected.to_string());
        let bytes =
            std::fs::read(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
        let actual = hex(&Sha256::digest(&bytes));
        if !actual.eq_ignore_ascii_case(&expected) {
            return Err(Error::ShaMismatch { path, expected, actual });
        }

        let env = runtime::environment()?;
        let source = SessionSource {
            env: &env,
            intra_threads: options.intra_threads,
            optimization: manifest.graph_optimization(options.precision),
            model: &manifest.name,
            path: &path,
            bytes: &bytes,
        };
        let (first, device) = source.session(options.device)?;
        check_signature(&path, &manifest, &first)?;
        let mut sessions = vec![Mutex::new(first)];
        // On the CPU, one single-threaded session per worker (see `ModelOptions::workers`).
        if device == Device::Cpu {
            for _ in 1..options.sessions {
                sessions.push(Mutex::new(source.session(Device::Cpu)?.0));
            }
        }
        let precision = options.precision;
        tracing::debug!(model = %manifest.name, path = %path.display(), %device, %precision, sessions = sessions.len(), "model loaded");
        Ok(Model { manifest, path, device, precision, max_batch: options.max_batch, sessions })
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The model's name (from the manifest).
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    /// The precision of the graph it runs.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The graph file it was loaded from (`model.onnx`, or a variant's).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The device actually in use: [`Device::Cpu`] or [`Device::Cuda`], never [`Device::Auto`]
    /// ([`Device::Cpu`] after an `auto` fallback).
    pub fn device(&self) -> Device {
        self.device
    }

    /// The most items given to ONNX Runtime at once.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// Scores `inputs`, given by name; every manifest input must be present.
    ///
    /// Inputs whose first manifest dimension is dynamic form the batch: they must agree on their
    /// first dimension, and more than [`Model::max_batch`] items are scored in several runs whose
    /// outputs are concatenated along the batch axis; with several sessions
    /// ([`ModelOptions::sessions`]) those runs go at once, one per session. Thread-safe.
    pub fn run(&self, inputs: &[(&str, InputTensor)]) -> Result<Outputs> {
        let batch = self.check_inputs(inputs)?;
        // With several sessions, a batch is cut so that each gets a share (runs of at
        // least MIN_RUN items), as well as at max_batch.
        let splittable = self.manifest.outputs.iter().all(is_batched);
        let size = match batch {
            Some(n) if splittable && self.sessions.len() > 1 => {
                n.div_ceil(self.sessions.len()).max(MIN_RUN).min(self.max_batch)
            }
            _ => self.max_batch,
        };
        let chunks = self.chunks(batch, size)?;
        // Runs are spread over the sessions: worker `w` takes runs w, w + k, w + 2k, ….
        let workers = self.sessions.len().min(chunks.len());
        if workers <= 1 {
            return self.run_chunks(self.free_session(), inputs, &chunks);
        }
        let mut runs: Vec<Option<Vec<ArrayD<f32>>>> = vec![None; chunks.len()];
        let done = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|w| {
                    let chunks = &chunks;
                    scope.spawn(move || {
                        let session = &self.sessions[w];
                        (w..chunks.len())
                            .step_by(workers)
                            .map(|i| Ok((i, self.run_once(session, inputs, &chunks[i])?)))
                            .collect::<Result<Vec<_>>>()
                    })
                })
                .collect();
            join_all(handles, || self.run_err("a run panicked".into()))
        })?;
        for (i, outputs) in done.into_iter().flatten() {
            runs[i] = Some(outputs);
        }
        self.join_runs(runs.into_iter().flatten().collect())
    }

    /// Scores several batches, each as [`Model::run`] would (they may differ in their
    /// dynamic dimensions, e.g. netFound batches cut to different burst grids); with
    /// several sessions the batches go at once, each worker taking the next batch not
    /// yet taken, so give the largest first. The outputs are in the order of `batches`.
    pub fn run_each(&self, batches: &[Vec<(&str, InputTensor)>]) -> Result<Vec<Outputs>> {
        let workers = self.sessions.len().min(batches.len());
        if workers <= 1 {
            return batches.iter().map(|inputs| self.run(inputs)).collect();
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let done = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|w| {
                    let next = &next;
                    scope.spawn(move || {
                        let mut out = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(inputs) = batches.get(i) else { return Ok(out) };
                            let chunks = self.chunks(self.check_inputs(inputs)?, self.max_batch)?;
                            out.push((i, self.run_chunks(&self.sessions[w], inputs, &chunks)?));
                        }
                    })
                })
                .collect();
            join_all(handles, || self.run_err("a run panicked".into()))
        })?;
        let mut outputs: Vec<Option<Outputs>> = (0..batches.len()).map(|_| None).collect();
        for (i, o) in done.into_iter().flatten() {
            outputs[i] = Some(o);
        }
        Ok(outputs.into_iter().map(|o| o.expect("every batch ran")).collect())
    }

    /// The item ranges of runs of at most `size` items (`None`: one run of everything).
    fn chunks(&self, batch: Option<usize>, size: usize) -> Result<Vec<Option<Range<usize>>>> {
        let chunks: Vec<Option<Range<usize>>> = match batch {
            Some(n) if n > size => {
                (0..n).step_by(size).map(|s| Some(s..(s + size).min(n))).collect()
            }
            _ => vec![None],
        };
        if chunks.len() > 1
            && let Some(o) = self.manifest.outputs.iter().find(|o| !is_batched(o))
        {
            return Err(self.input_err(format!(
                "{} items is more than max_batch {}, and output {:?} has no batch axis to join runs on",
                batch.unwrap_or(0),
                self.max_batch,
                o.name
            )));
        }
        Ok(chunks)
    }

    /// The runs of `chunks`, one after another on `session`, joined.
    fn run_chunks(
        &self,
        session: &Mutex<Session>,
        inputs: &[(&str, InputTensor)],
        chunks: &[Option<Range<usize>>],
    ) -> Result<Outputs> {
        let runs =
            chunks.iter().map(|r| self.run_once(session, inputs, r)).collect::<Result<Vec<_>>>()?;
        self.join_runs(runs)
    }

    /// The outputs of consecutive runs, joined along the batch axis.
    fn join_runs(&self, runs: Vec<Vec<ArrayD<f32>>>) -> Result<Outputs> {
        let mut parts: Vec<Vec<ArrayD<f32>>> = vec![Vec::new(); self.manifest.outputs.len()];
        for outputs in runs {
            for (part, array) in parts.iter_mut().zip(outputs) {
                part.push(array);
            }
        }
        let arrays = parts
            .into_iter()
            .zip(&self.manifest.outputs)
            .map(|(mut part, spec)| {
                if part.len() == 1 {
                    return Ok(part.pop().expect("one part"));
                }
                let views: Vec<_> = part.iter().map(|a| a.view()).collect();
                ndarray::concatenate(Axis(0), &views).map_err(|e| Error::Decode {
                    output: spec.name.clone(),
                    message: format!("cannot join batches: {e}"),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Outputs {
            names: self.manifest.outputs.iter().map(|o| o.name.clone()).collect(),
            arrays,
        })
    }

    /// A session no run holds now, else the first (whose lock then waits).
    fn free_session(&self) -> &Mutex<Session> {
        self.sessions
            .iter()
            .find(|s| matches!(s.try_lock(), Ok(_) | Err(std::sync::TryLockError::Poisoned(_))))
            .unwrap_or(&self.sessions[0])
    }

    /// One run of the items in `range` (all of them: `None`) on `session`; the
    /// outputs in manifest order.
    fn run_once(
        &self,
        session: &Mutex<Session>,
        inputs: &[(&str, InputTensor)],
        range: &Option<Range<usize>>,
    ) -> Result<Vec<ArrayD<f32>>> {
        let values = inputs
            .iter()
            .map(|(name, tensor)| {
                let spec = self.manifest.input(name).expect("checked");
                let r = if is_batched(spec) { range.clone() } else { None };
                let value = tensor.to_value(r).map_err(|e| self.run_err(e.to_string()))?;
                Ok((Cow::Owned(name.to_string()), SessionInputValue::from(value)))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut session = session.lock().unwrap_or_else(|e| e.into_inner());
        let outputs = session.run(values).map_err(|e| self.run_err(e.to_string()))?;
        self.manifest
            .outputs
            .iter()
            .map(|spec| {
                let value = outputs.get(&spec.name).ok_or_else(|| Error::Decode {
                    output: spec.name.clone(),
                    message: "missing from the session's outputs".into(),
                })?;
                to_f32(value, &spec.name)
            })
            .collect()
    }

    /// The best label per item of classifier output `output`, named with the manifest's labels.
    pub fn top_labels(&self, outputs: &Outputs, output: &str) -> Result<Vec<Prediction>> {
        let scores = outputs.get(output).ok_or_else(|| Error::Decode {
            output: output.to_string(),
            message: format!("model {} has no such output", self.manifest.name),
        })?;
        decode::top_labels(scores, &self.manifest.labels, output)
    }

    /// Checks names, dtypes and shapes; returns the batch size when there is a batch axis.
    fn check_inputs(&self, inputs: &[(&str, InputTensor)]) -> Result<Option<usize>> {
        for (i, (name, _)) in inputs.iter().enumerate() {
            if inputs[..i].iter().any(|(n, _)| n == name) {
                return Err(self.input_err(format!("input {name:?} given twice")));
            }
        }
        let mut batch: Option<(usize, &str)> = None;
        for spec in &self.manifest.inputs {
            let Some((_, tensor)) = inputs.iter().find(|(n, _)| *n == spec.name) else {
                return Err(self.input_err(format!("input {:?} is missing", spec.name)));
            };
            if tensor.dtype() != spec.dtype {
                return Err(self.input_err(format!(
                    "input {:?} is {}, expected {}",
                    spec.name,
                    tensor.dtype(),
                    spec.dtype
                )));
            }
            let shape = tensor.shape();
            let fits = shape.len() == spec.shape.len()
                && shape.iter().zip(&spec.shape).all(|(&n, d)| d.size().is_none_or(|s| s == n));
            if !fits {
                return Err(self.input_err(format!(
                    "input {:?} has shape {shape:?}, expected [{}]",
                    spec.name,
                    join(&spec.shape)
                )));
            }
            if is_batched(spec) {
                match batch {
                    Some((n, other)) if n != shape[0] => {
                        return Err(self.input_err(format!(
                            "input {:?} has {} items but {other:?} has {n}",
                            spec.name, shape[0]
                        )));
                    }
                    None => batch = Some((shape[0], &spec.name)),
                    _ => {}
                }
            }
        }
        if let Some((name, _)) = inputs.iter().find(|(n, _)| self.manifest.input(n).is_none()) {
            let known: Vec<&str> = self.manifest.inputs.iter().map(|s| s.name.as_str()).collect();
            return Err(
                self.input_err(format!("unknown input {name:?}; the model takes {known:?}"))
            );
        }
        Ok(batch.map(|(n, _)| n))
    }

    fn input_err(&self, message: String) -> Error {
        Error::Input { model: self.manifest.name.clone(), message }
    }

    fn run_err(&self, message: String) -> Error {
        Error::Run { model: self.manifest.name.clone(), message }
    }
}

/// The results of scoped worker threads, in order; a panicked one is `panicked()`.
fn join_all<T>(
    handles: Vec<std::thread::ScopedJoinHandle<'_, Result<T>>>,
    panicked: impl Fn() -> Error,
) -> Result<Vec<T>> {
    handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(panicked()))).collect()
}

/// Whether the first dimension is dynamic (the batch axis).
fn is_batched(spec: &TensorSpec) -> bool {
    spec.shape.first().is_some_and(|d| d.size().is_none())
}

fn join(dims: &[Dim]) -> String {
    dims.iter().map(Dim::to_string).collect::<Vec<_>>().join(", ")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn dtype_of(ty: TensorElementType) -> Option<DType> {
    Some(match ty {
        TensorElementType::Float32 => DType::Float32,
        TensorElementType::Float64 => DType::Float64,
        TensorElementType::Float16 => DType::Float16,
        TensorElementType::Int32 => DType::Int32,
        TensorElementType::Int64 => DType::Int64,
        TensorElementType::Int8 => DType::Int8,
        TensorElementType::Uint8 => DType::Uint8,
        TensorElementType::Bool => DType::Bool,
        TensorElementType::String => DType::String,
        _ => return None,
    })
}

/// Copies an output tensor into a float32 array.
fn to_f32(value: &DynValue, name: &str) -> Result<ArrayD<f32>> {
    let err = |message: String| Error::Decode { output: name.to_string(), message };
    let ValueType::Tensor { ty, .. } = value.dtype() else {
        return Err(err(format!("not a tensor but {}", value.dtype())));
    };
    let e = |e: ort::Error| err(e.to_string());
    Ok(match ty {
        TensorElementType::Float32 => value.try_extract_array::<f32>().map_err(e)?.to_owned(),
        TensorElementType::Float64 => {
            value.try_extract_array::<f64>().map_err(e)?.mapv(|v| v as f32)
        }
        TensorElementType::Int64 => value.try_extract_array::<i64>().map_err(e)?.mapv(|v| v as f32),
        TensorElementType::Int32 => value.try_extract_array::<i32>().map_err(e)?.mapv(|v| v as f32),
        TensorElementType::Uint8 => value.try_extract_array::<u8>().map_err(e)?.mapv(f32::from),
        TensorElementType::Bool => {
            value.try_extract_array::<bool>().map_err(e)?.mapv(|v| if v { 1.0 } else { 0.0 })
        }
        other => return Err(err(format!("{other} outputs are not supported"))),
    })
}

/// Compares the session's inputs and outputs with the manifest's.
fn check_signature(path: &Path, manifest: &Manifest, session: &Session) -> Result<()> {
    let err = |message: String| Error::SignatureMismatch { path: path.to_path_buf(), message };
    for (kind, specs, outlets) in [
        ("input", &manifest.inputs, session.inputs()),
        ("output", &manifest.outputs, session.outputs()),
    ] {
        let names: Vec<&str> = outlets.iter().map(|o| o.name()).collect();
        for spec in specs {
            let Some(outlet) = outlets.iter().find(|o| o.name() == spec.name) else {
                return Err(err(format!(
                    "manifest {kind} {:?} is not in the model, whose {kind}s are {names:?}",
                    spec.name
                )));
            };
            let ValueType::Tensor { ty, shape, .. } = outlet.dtype() else {
                return Err(err(format!("model {kind} {:?} is not a tensor", spec.name)));
            };
            if dtype_of(*ty) != Some(spec.dtype) {
                return Err(err(format!(
                    "{kind} {:?} is {ty} in the model but {} in the manifest",
                    spec.name, spec.dtype
                )));
            }
            if shape.len() != spec.shape.len() {
                return Err(err(format!(
                    "{kind} {:?} has rank {} in the model ({shape:?}) but {} in the manifest ([{}])",
                    spec.name,
                    shape.len(),
                    spec.shape.len(),
                    join(&spec.shape)
                )));
            }
            for (i, (&m, d)) in shape.iter().zip(&spec.shape).enumerate() {
                let agrees = match (m >= 0, d.size()) {
                    (true, Some(s)) => m as usize == s,
                    (true, None) => false,
                    (false, _) => true,
                };
                if !agrees {
                    return Err(err(format!(
                        "{kind} {:?} dimension {i} is {} in the model but {d} in the manifest",
                        spec.name,
                        if m >= 0 { m.to_string() } else { "dynamic".into() }
                    )));
                }
            }
        }
        if let Some(extra) = names.iter().find(|n| !specs.iter().any(|s| s.name == **n)) {
            return Err(err(format!("model {kind} {extra:?} is not in the manifest")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{IxDyn, array};

    #[test]
    fn input_tensor_slices_the_batch() {
        let t = InputTensor::from(array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]].into_dyn());
        assert_eq!(t.dtype(), DType::Float32);
        assert_eq!(t.shape(), &[3, 2]);
        let t = InputTensor::from(ArrayD::<i64>::zeros(IxDyn(&[2, 7])));
        assert_eq!(t.dtype(), DType::Int64);
    }

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    }
}
