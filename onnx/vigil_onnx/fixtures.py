"""Parity fixtures: the inputs a test feeds a model and the outputs PyTorch gave for them.

Every artifact writes them the same way: ``parity_inputs.npz`` / ``parity_outputs.npz`` for the
Python check (``vigil_onnx.check``) and ``parity.json`` for the Rust parity test
(``models/tests/parity.rs``), which reads ``{"inputs"|"outputs": {name: {"shape", "data"}}}``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def _tensor(a: np.ndarray) -> dict:
    return {"shape": list(a.shape), "data": a.reshape(-1).tolist()}


def write_parity(out: Path, inputs: dict, outputs: dict, json_rows: int | None = None) -> None:
    """Write the fixture into ``out``; ``json_rows`` caps the rows kept in ``parity.json``."""
    rows = slice(None) if json_rows is None else slice(0, json_rows)
    fixture = {"inputs": {k: _tensor(np.asarray(v)[rows]) for k, v in inputs.items()},
               "outputs": {k: _tensor(np.asarray(v)[rows]) for k, v in outputs.items()}}
    (out / "parity.json").write_text(json.dumps(fixture, separators=(",", ":")) + "\n")
    np.savez_compressed(out / "parity_inputs.npz", **inputs)
    np.savez_compressed(out / "parity_outputs.npz", **outputs)
