//! Which of an artifact's graphs to load: the float32 export, or a float16 or int8 variant
//! made from it (their files and how far they are from float32 are in the manifest's `fp16`
//! and `int8` entries; see `onnx/tools/fp16.py` and `onnx/tools/int8.py`).

use std::fmt;
use std::str::FromStr;

/// The numeric precision of the graph a [`Model`](crate::Model) runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Precision {
    /// `model.onnx`, the exported float32 graph (the default).
    #[default]
    Fp32,
    /// Weights and activations in float16, inputs and outputs float32: for the GPU.
    Fp16,
    /// Dynamically quantised int8 weights (ONNX Runtime's `quantize_dynamic`): for the CPU.
    Int8,
}

impl Precision {
    /// Its name, as written in topologies and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Fp16 => "fp16",
            Precision::Int8 => "int8",
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "fp32" | "float32" => Ok(Precision::Fp32),
            "fp16" | "float16" => Ok(Precision::Fp16),
            "int8" => Ok(Precision::Int8),
            other => Err(format!("unknown precision {other:?}: expected fp32, fp16 or int8")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in [Precision::Fp32, Precision::Fp16, Precision::Int8] {
            assert_eq!(p.name().parse::<Precision>(), Ok(p));
        }
        assert_eq!("FLOAT16".parse::<Precision>(), Ok(Precision::Fp16));
        assert!("int4".parse::<Precision>().unwrap_err().contains("fp32, fp16 or int8"));
    }
}
