//! Execution-provider choice: where a model is scored, and what happens when CUDA is not there.
//!
//! ```text
//!   Device::Cpu  ──────────────────────────────────────────────► CPU session
//!   Device::Cuda ─► preload CUDA/cuDNN ─► register CUDA EP ─► commit ─► CUDA session
//!                        (libraries)          │ any failure          └─► Error::Cuda
//!   Device::Auto ─► as Cuda ───────────────────┴─► one warning per process ─► CPU session
//! ```

mod cuda;
mod libraries;

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};

use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};

use crate::error::{Error, Result};
use crate::manifest::GraphOptimization;

/// Where a model is scored.
///
/// - [`Device::Cpu`] (the default): ONNX Runtime's CPU execution provider.
/// - [`Device::Cuda`]: ONNX Runtime's CUDA execution provider on GPU 0, or an error.
///   It needs this crate built with its `cuda` feature, the `onnxruntime-gpu==1.31.1`
///   library (`ORT_DYLIB_PATH`) and the CUDA 13 and cuDNN 9 libraries (the `nvidia-*`
///   wheels; see `benchmarks/gpu-env.sh`). When any of that is missing, or there is no GPU,
///   [`crate::Model::load_with`] fails with [`Error::Cuda`], which names the model, the
///   reason and what to do.
/// - [`Device::Auto`]: CUDA when it works, else the CPU, with ONE `tracing` warning per
///   process (not per model or worker).
///
/// [`crate::Model::device`] tells which device is in use (never [`Device::Auto`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Device {
    /// ONNX Runtime's default CPU execution provider.
    #[default]
    Cpu,
    /// ONNX Runtime's CUDA execution provider on GPU 0; failing to set it up is an error.
    Cuda,
    /// CUDA when it can be used, else the CPU (one warning per process).
    Auto,
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
            Device::Auto => "auto",
        })
    }
}

impl FromStr for Device {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda),
            "auto" => Ok(Device::Auto),
            other => Err(format!("unknown device {other:?}: expected cpu, cuda or auto")),
        }
    }
}

/// Why CUDA cannot be used, and what the user can do about it.
#[derive(Debug, Clone)]
pub(crate) struct Unavailable {
    reason: String,
    hint: &'static str,
}

/// Whether the `auto` fallback warning was logged already (once per process).
static AUTO_FALLBACK_WARNED: AtomicBool = AtomicBool::new(false);

/// What a session is built from: the environment, the thread setting and the model.
pub(crate) struct SessionSource<'a> {
    /// The process-wide ONNX Runtime environment.
    pub env: &'a Environment,
    /// Threads within an operator, when set.
    pub intra_threads: Option<usize>,
    /// The graph optimisation level, when not ONNX Runtime's default.
    pub optimization: Option<GraphOptimization>,
    /// The model's name, for messages.
    pub model: &'a str,
    /// The model file, for messages.
    pub path: &'a Path,
    /// The model file's bytes.
    pub bytes: &'a [u8],
}

impl SessionSource<'_> {
    /// A session builder with the thread setting, no execution provider yet.
    ///
    /// ONNX Runtime's memory pattern is off: it plans one block per input shape from
    /// the first run at that shape, and scoring sees many shapes (every batch size,
    /// HSTU's length groups, netFound's grids), so each new shape grew the arena again.
    /// Off, a session's memory stops growing once its largest shape has run: on mixed
    /// batch sizes 651 instead of 1,000 MiB for netFound, 117 instead of 169 for HSTU,
    /// 76 instead of 86 for iTransformer, 65 instead of 69 for FlowTransformer, with
    /// rows/s within the run-to-run spread (`benchmarks/ort-settings.py --memory`).
    fn builder(&self) -> Result<SessionBuilder> {
        let mut builder = Session::builder(self.env).map_err(|e| self.load_err(e))?;
        builder = builder.with_memory_pattern(false).map_err(|e| self.load_err(e))?;
        if let Some(n) = self.intra_threads {
            builder = builder.with_intra_threads(n).map_err(|e| self.load_err(e))?;
        }
        if let Some(level) = self.optimization {
            let level = match level {
                GraphOptimization::Disabled => GraphOptimizationLevel::Disable,
                GraphOptimization::Basic => GraphOptimizationLevel::Level1,
                GraphOptimization::Extended => GraphOptimizationLevel::Level2,
                GraphOptimization::All => GraphOptimizationLevel::All,
            };
            builder = builder.with_optimization_level(level).map_err(|e| self.load_err(e))?;
        }
        Ok(builder)
    }

    fn cpu(&self) -> Result<Session> {
        self.builder()?.commit_from_memory(self.bytes).map_err(|e| self.load_err(e))
    }

    fn load_err(&self, e: impl fmt::Display) -> Error {
        Error::ModelLoad { path: self.path.to_path_buf(), message: e.to_string() }
    }

    /// Creates the session on `device`; returns it with the device actually used.
    pub(crate) fn session(&self, device: Device) -> Result<(Session, Device)> {
        match device {
            Device::Cpu => Ok((self.cpu()?, Device::Cpu)),
            Device::Cuda => match cuda::session(self) {
                Ok(session) => Ok((session, Device::Cuda)),
                Err(Unavailable { reason, hint }) => {
                    Err(Error::Cuda { model: self.model.to_string(), reason, hint })
                }
            },
            Device::Auto => match cuda::session(self) {
                Ok(session) => Ok((session, Device::Cuda)),
                Err(u) => {
                    if AUTO_FALLBACK_WARNED.swap(true, Ordering::SeqCst) {
                        tracing::debug!(model = self.model, reason = %u.reason, "device auto: on the CPU");
                    } else {
                        tracing::warn!(
                            model = self.model,
                            "device auto: CUDA cannot be used ({}; {}), so models are scored \
                             on the CPU (logged once per process)",
                            u.reason,
                            u.hint
                        );
                    }
                    Ok((self.cpu()?, Device::Cpu))
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        assert_eq!("CPU".parse::<Device>(), Ok(Device::Cpu));
        assert_eq!("cuda".parse::<Device>(), Ok(Device::Cuda));
        assert_eq!("Auto".parse::<Device>(), Ok(Device::Auto));
        let e = "tpu".parse::<Device>().unwrap_err();
        assert!(e.contains("tpu") && e.contains("auto"), "{e}");
        for d in [Device::Cpu, Device::Cuda, Device::Auto] {
            assert_eq!(d.to_string().parse::<Device>(), Ok(d));
        }
        assert_eq!(Device::default(), Device::Cpu);
    }
}
