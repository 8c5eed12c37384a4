"""Vigil's model zoo: PyTorch training and ONNX export of the families scored by the Rust `models` crate."""

__version__ = "0.1.0"
