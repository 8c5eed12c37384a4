"""netFound with dynamic burst and token axes: model.onnx relabelled so that `tokens` is
[batch, bursts, tokens] and the per-burst inputs [batch, bursts], instead of a fixed 12 x 55 grid.

The exported graph already derives every shape from its inputs (rotary tables are sliced to the
input's length, masks come from the tokens), so only the declared input shapes were fixed. A flow
scored on a grid cut to its own bursts and tokens gives the same outputs as on the padded grid:
padded tokens and bursts are masked as keys and left out of the mean. This script relabels the
dims, checks that claim on every parity row (each row cut to its own size, and the whole batch
cut to its longest row, against the padded original), and with --write replaces model.onnx and
updates the manifest (sha256, input shapes, a `dynamic_axes` entry with the measured difference).

Needs only onnx, onnxruntime and numpy (no PyTorch):
    .venv/bin/pip install onnx==1.23.2
    .venv/bin/python onnx/tools/dynamic_axes.py            # report only
    .venv/bin/python onnx/tools/dynamic_axes.py --write
"""

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

ARTIFACT = Path(__file__).resolve().parent.parent / "artifacts" / "netfound"
PER_BURST = ("directions", "bytes", "counts", "iats")
TOLERANCE = 1e-5


def relabel(model: onnx.ModelProto) -> onnx.ModelProto:
    """Axis 1 of the burst inputs becomes `bursts`, axis 2 of `tokens` becomes `tokens`."""
    for value in model.graph.input:
        dims = value.type.tensor_type.shape.dim
        if value.name == "tokens" or value.name in PER_BURST:
            dims[1].ClearField("dim_value")
            dims[1].dim_param = "bursts"
        if value.name == "tokens":
            dims[2].ClearField("dim_value")
            dims[2].dim_param = "tokens"
    onnx.checker.check_model(model)
    return model


def session(data: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def cut(feed: dict, rows: slice, bursts: int, tokens: int) -> dict:
    out = {}
    for name, value in feed.items():
        value = value[rows]
        if name == "tokens":
            value = value[:, :bursts, :tokens]
        elif name in PER_BURST:
            value = value[:, :bursts]
        out[name] = value
    return out


def extent(tokens: np.ndarray) -> tuple[int, int]:
    """Bursts up to the last non-empty one, tokens up to the last non-zero one (at least 1 each)."""
    bursts = np.flatnonzero(tokens.any(axis=-1))
    columns = np.flatnonzero(tokens.any(axis=tuple(range(tokens.ndim - 1))))
    return (int(bursts[-1]) + 1 if len(bursts) else 1, int(columns[-1]) + 1 if len(columns) else 1)


def max_diff(a: list, b: list) -> float:
    return max(float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)))) for x, y in zip(a, b))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="replace model.onnx and update the manifest")
    args = parser.parse_args()
    original = (ARTIFACT / "model.onnx").read_bytes()
    relabelled = relabel(onnx.load_from_string(original))
    data = relabelled.SerializeToString()
    fixed, dynamic = session(original), session(data)
    with np.load(ARTIFACT / "parity_inputs.npz") as npz:
        feed = {k: npz[k] for k in npz.files}
    padded = fixed.run(None, feed)
    rows = len(feed["protocol"])
    worst = max_diff(padded, dynamic.run(None, cut(feed, slice(None), *extent(feed["tokens"]))))
    sizes = []
    for i in range(rows):
        size = extent(feed["tokens"][i])
        sizes.append(size)
        got = dynamic.run(None, cut(feed, slice(i, i + 1), *size))
        worst = max(worst, max_diff([p[i : i + 1] for p in padded], got))
    cells = sum(b * t for b, t in sizes) / (rows * feed["tokens"].shape[1] * feed["tokens"].shape[2])
    print("netfound: %d parity rows, each cut to its own grid: max |diff| %.3g (%.0f%% of the padded cells)"
          % (rows, worst, 100 * cells))
    if worst > TOLERANCE:
        print("netfound: over the tolerance %g; not written" % TOLERANCE)
        return 1
    if args.write:
        (ARTIFACT / "model.onnx").write_bytes(data)
        manifest_path = ARTIFACT / "manifest.json"
        manifest = json.loads(manifest_path.read_text())
        manifest["sha256"] = hashlib.sha256(data).hexdigest()
        for spec in manifest["inputs"]:
            if spec["name"] == "tokens":
                spec["shape"] = [-1, -1, -1]
            elif spec["name"] in PER_BURST:
                spec["shape"] = [-1, -1]
        manifest["dynamic_axes"] = {
            "inputs": {"tokens": ["batch", "bursts", "tokens"], **{n: ["batch", "bursts"] for n in PER_BURST}},
            "note": "preprocessing.max_bursts and tokens_per_burst are upper bounds: a batch may be cut to "
            "its longest flow; padded bursts and tokens are masked, so the outputs do not change",
            "tool": "onnx/tools/dynamic_axes.py (relabels the input dims of the torch export; weights unchanged)",
            "parity_rows": rows,
            "max_abs_diff_own_grid_vs_padded": worst,
        }
        manifest_path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
        print("netfound: model.onnx and manifest.json written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
