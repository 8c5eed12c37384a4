"""Writes the tiny test artifact onnx/artifacts/test-linear/ used by the vigil-models tests.

probs = softmax(x @ W + b), with x: float32 [batch, 4] (dynamic batch) and probs: float32 [batch, 3];
the graph also outputs the logits. The expected outputs in parity.json are computed with numpy, not
ONNX Runtime, so the Rust test compares the runtime against an independent reference.

Needs only `onnx` and `numpy` (no PyTorch):
    python3 -m venv /tmp/onnxgen && /tmp/onnxgen/bin/pip install onnx numpy
    /tmp/onnxgen/bin/python onnx/tools/make_test_model.py
The output is deterministic (fixed seed), so re-running it leaves the committed files unchanged.
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = Path(__file__).resolve().parent.parent / "artifacts" / "test-linear"
LABELS = ["benign", "scan", "dos"]


def main() -> None:
    rng = np.random.default_rng(20260129)
    w = rng.normal(size=(4, 3)).astype(np.float32)
    b = rng.normal(size=(3,)).astype(np.float32)

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])
    probs = helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 3])
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "test_linear",
        [x],
        [logits, probs],
        initializer=[numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="vigil-make_test_model"
    )
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)

    OUT.mkdir(parents=True, exist_ok=True)
    data = model.SerializeToString(deterministic=True)
    (OUT / "model.onnx").write_bytes(data)

    xs = rng.normal(size=(5, 4)).astype(np.float32)
    lg = xs.astype(np.float64) @ w.astype(np.float64) + b.astype(np.float64)
    e = np.exp(lg - lg.max(axis=1, keepdims=True))
    pr = e / e.sum(axis=1, keepdims=True)

    manifest = {
        "name": "test-linear",
        "family": "test",
        "version": "1.0.0",
        "sha256": hashlib.sha256(data).hexdigest(),
        "inputs": [{"name": "x", "dtype": "float32", "shape": ["batch", 4]}],
        "outputs": [
            {"name": "logits", "dtype": "float32", "shape": ["batch", 3]},
            {"name": "probs", "dtype": "float32", "shape": ["batch", 3]},
        ],
        "labels": LABELS,
        "thresholds": {"scan": 0.5, "dos": 0.7},
        "preprocessing": {"note": "none: x is used as is"},
        "training_data": {"source": "synthetic: random weights, seed 20260129"},
        "metrics": {},
    }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")

    parity = {
        "inputs": {"x": {"shape": list(xs.shape), "data": xs.ravel().tolist()}},
        "outputs": {
            "logits": {"shape": list(lg.shape), "data": lg.ravel().tolist()},
            "probs": {"shape": list(pr.shape), "data": pr.ravel().tolist()},
        },
    }
    (OUT / "parity.json").write_text(json.dumps(parity, indent=1) + "\n")
    print(f"wrote {OUT} ({len(data)} bytes, sha256 {manifest['sha256']})")


if __name__ == "__main__":
    main()
