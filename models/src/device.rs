//! Execution-provider choice.

use std::fmt;
use std::str::FromStr;

use ort::session::builder::SessionBuilder;

/// Where a model is scored.
///
/// [`Device::Cpu`] is the default. [`Device::Cuda`] registers ONNX Runtime's CUDA execution
/// provider (GPU 0) when this crate is built with its `cuda` feature and the runtime is the
/// `onnxruntime-gpu` wheel with CUDA and cuDNN installed. When that fails, and always when the
/// crate is built without the `cuda` feature, the model is scored on the CPU instead and ONE
/// `tracing` warning is logged for that model; [`crate::Model::device`] tells which device
/// is in use. Asking for CUDA is therefore never an error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Device {
    /// ONNX Runtime's default CPU execution provider.
    #[default]
    Cpu,
    /// ONNX Runtime's CUDA execution provider on GPU 0.
    Cuda,
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
        })
    }
}

impl FromStr for Device {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda),
            other => Err(format!("unknown device {other:?}: expected cpu or cuda")),
        }
    }
}

/// Registers the execution provider for `device` on `builder`; returns the device actually used.
pub(crate) fn apply(
    builder: SessionBuilder,
    device: Device,
    model: &str,
) -> (SessionBuilder, Device) {
    match device {
        Device::Cpu => (builder, Device::Cpu),
        Device::Cuda => cuda(builder, model),
    }
}

#[cfg(feature = "cuda")]
fn cuda(builder: SessionBuilder, model: &str) -> (SessionBuilder, Device) {
    let ep = ort::ep::CUDA::default().build().error_on_failure();
    match builder.with_execution_providers([ep]) {
        Ok(builder) => (builder, Device::Cuda),
        Err(e) => {
            tracing::warn!(
                model,
                error = %e,
                "CUDA execution provider unavailable; falling back to CPU"
            );
            (e.recover(), Device::Cpu)
        }
    }
}

#[cfg(not(feature = "cuda"))]
fn cuda(builder: SessionBuilder, model: &str) -> (SessionBuilder, Device) {
    tracing::warn!(
        model,
        "CUDA asked for, but vigil-models was built without its `cuda` feature; falling back to CPU"
    );
    (builder, Device::Cpu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        assert_eq!("CPU".parse::<Device>(), Ok(Device::Cpu));
        assert_eq!("cuda".parse::<Device>(), Ok(Device::Cuda));
        assert!("tpu".parse::<Device>().unwrap_err().contains("tpu"));
        assert_eq!(Device::Cuda.to_string(), "cuda");
        assert_eq!(Device::default(), Device::Cpu);
    }
}
