"""HSTU with a dynamic row length: model.onnx rewritten so that its inputs are [batch, length]
for any length up to the manifest's max_len, instead of a fixed max_len.

Rows are left-padded (the scored event is the last position, padding ids are 0 and masked as
keys), and the export fixed the length in three constant (L-1) x (L-1) tables: the relative
position index (which depends only on key - query), the causal mask and the identity. This script
slices each of them to the bottom-right n x n block, n being the context length of the input
(length - 1), which is what the export would have written for that length. The attention's
normaliser (1 / (max_len - 1)) stays as trained. A row cut to its own events (its left padding
dropped) then scores as the padded row did. The script checks that on every parity row (each cut
to its own length, and the whole batch cut to its longest row) and with --write replaces
model.onnx and updates the manifest (sha256, input shapes, a `dynamic_axes` entry with the
measured difference). Run onnx/tools/int8.py and fp16.py afterwards: the variants derive from
model.onnx.

Needs only onnx, onnxruntime and numpy (no PyTorch):
    .venv/bin/python onnx/tools/hstu_dynamic_len.py            # report only
    .venv/bin/python onnx/tools/hstu_dynamic_len.py --write
"""

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from dynamic_axes import max_diff, session

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
NAMES = ("hstu-ml100k", "hstu-user-actions")
INPUTS = ("object_ids", "time_buckets", "action_ids")
TOLERANCE = 1e-5


def fixed_tables(graph: onnx.GraphProto, n: int) -> list[str]:
    """Outputs of Constant nodes and initializers whose last two dims are n x n."""
    found = []
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            shape = tuple(node.attribute[0].t.dims)
            if len(shape) >= 2 and shape[-2:] == (n, n):
                found.append(node.output[0])
    found += [i.name for i in graph.initializer if len(i.dims) >= 2 and tuple(i.dims[-2:]) == (n, n)]
    return found


def make_dynamic(model: onnx.ModelProto, max_len: int) -> onnx.ModelProto:
    """Slice every (max_len-1)^2 table to the input's context length; relabel the length axis."""
    graph = model.graph
    n = max_len - 1
    tables = fixed_tables(graph, n)
    if len(tables) != 3:
        raise SystemExit(f"expected 3 fixed {n}x{n} tables, found {tables}")
    # context = shape(object_ids)[1] - 1, as a 1-element tensor; starts = [-context, -context].
    const = lambda name, values: helper.make_node(  # noqa: E731
        "Constant", [], [name], value=numpy_helper.from_array(np.array(values, np.int64), name))
    nodes = [
        const("dyn/one", [1]),
        const("dyn/axes", [-2, -1]),
        const("dyn/ends", [np.iinfo(np.int64).max] * 2),
        helper.make_node("Shape", ["object_ids"], ["dyn/shape"]),
        helper.make_node("Gather", ["dyn/shape", "dyn/one"], ["dyn/length"], axis=0),
        helper.make_node("Sub", ["dyn/one", "dyn/length"], ["dyn/minus_context"]),
        helper.make_node("Concat", ["dyn/minus_context", "dyn/minus_context"], ["dyn/starts"], axis=0),
    ]
    for t in tables:
        nodes.append(helper.make_node("Slice", [t, "dyn/starts", "dyn/ends", "dyn/axes"], [t + "/dyn"]))
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in tables:
                node.input[i] = name + "/dyn"
    # Constants first (the graph stays topologically sorted), then the slices.
    graph.node.extend(nodes)
    order = [x for x in graph.node if x.op_type == "Constant" and x not in nodes]
    order += nodes + [x for x in graph.node if x.op_type != "Constant" and x not in nodes]
    del graph.node[:]
    graph.node.extend(order)
    for value in graph.input:
        if value.name in INPUTS:
            dim = value.type.tensor_type.shape.dim[1]
            dim.ClearField("dim_value")
            dim.dim_param = "length"
    onnx.checker.check_model(model)
    return model


def cut(feed: dict, rows: slice, length: int) -> dict:
    return {k: v[rows, v.shape[1] - length :] for k, v in feed.items()}


def length_of(object_ids: np.ndarray) -> int:
    """Positions from the first non-padding one to the end (at least 2: context and target)."""
    used = np.flatnonzero(object_ids.reshape(-1, object_ids.shape[-1]).any(axis=0))
    return max(2, object_ids.shape[-1] - int(used[0])) if len(used) else 2


def convert(name: str, write: bool) -> int:
    artifact = ARTIFACTS / name
    manifest_path = artifact / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    max_len = int(manifest["preprocessing"]["max_len"])
    original = (artifact / "model.onnx").read_bytes()
    names = [spec["name"] for spec in manifest["inputs"] if spec["name"] in INPUTS]
    if all(spec["shape"][1] == -1 for spec in manifest["inputs"] if spec["name"] in names):
        print("%s: the length axis is already dynamic" % name)
        return 0
    data = make_dynamic(onnx.load_from_string(original), max_len).SerializeToString()
    fixed, dynamic = session(original), session(data)
    with np.load(artifact / "parity_inputs.npz") as npz:
        feed = {k: npz[k].astype(np.int64) for k in npz.files}
    padded = fixed.run(None, feed)
    rows = len(feed["object_ids"])
    worst = max_diff(padded, dynamic.run(None, cut(feed, slice(None), length_of(feed["object_ids"]))))
    lengths = []
    for i in range(rows):
        length = length_of(feed["object_ids"][i])
        lengths.append(length)
        got = dynamic.run(None, cut(feed, slice(i, i + 1), length))
        worst = max(worst, max_diff([p[i : i + 1] for p in padded], got))
    print("%s: %d parity rows of lengths %s, each cut to its own length: max |diff| %.3g"
          % (name, rows, lengths, worst))
    if worst > TOLERANCE:
        print("%s: over the tolerance %g; not written" % (name, TOLERANCE))
        return 1
    if write:
        (artifact / "model.onnx").write_bytes(data)
        manifest["sha256"] = hashlib.sha256(data).hexdigest()
        for spec in manifest["inputs"]:
            if spec["name"] in INPUTS:
                spec["shape"] = [-1, -1]
        manifest["dynamic_axes"] = {
            "inputs": {n: ["batch", "length"] for n in names},
            "note": "preprocessing.max_len is an upper bound: a left-padded row may be cut to its own "
            "events (at least 2 positions); padding keys are masked and the position, causal and "
            "identity tables are sliced to the length, so the outputs do not change",
            "tool": "onnx/tools/hstu_dynamic_len.py (slices the export's fixed tables; weights unchanged)",
            "parity_rows": rows,
            "max_abs_diff_own_length_vs_padded": worst,
        }
        manifest_path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
        print("%s: model.onnx and manifest.json written" % name)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="replace model.onnx and update the manifest")
    args = parser.parse_args()
    return max(convert(name, args.write) for name in NAMES)


if __name__ == "__main__":
    sys.exit(main())
