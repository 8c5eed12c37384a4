"""Float16 variants of the model artifacts, for the GPU: model.fp16.onnx beside model.onnx, and an
`fp16` entry in manifest.json stating how far its outputs are from the float32 model's.

The conversion is onnxconverter-common's `convert_float_to_float16(keep_io_types=True)`: weights
and activations in float16, inputs and outputs still float32, so the manifest's signature and
Vigil's inputs are unchanged. Parity is the largest absolute difference between the two models'
outputs on the artifact's parity.json inputs, both run by the CPU ONNX Runtime. When ONNX Runtime
refuses the converted graph, no variant is written and the entry says why (netFound: the converter
leaves a Gemm fed both float32 and float16).

Needs only onnxconverter-common, onnx, onnxruntime and numpy (no PyTorch):
    python3 -m venv /tmp/fp16 && /tmp/fp16/bin/pip install onnxconverter-common==1.16.0 \
        onnx==1.23.2 onnxruntime==1.31.1 numpy==2.4.6
    /tmp/fp16/bin/python onnx/tools/fp16.py            # report only
    /tmp/fp16/bin/python onnx/tools/fp16.py --write    # write model.fp16.onnx + manifest entries
Vigil itself still loads model.onnx (see the manifest's `model_file`).
"""

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxconverter_common import float16

from manifest_entry import set_entry

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
FP16_FILE = "model.fp16.onnx"


def parity_feed(artifact: Path, manifest: dict) -> dict:
    """The parity.json inputs, in the manifest's dtypes."""
    dtypes = {i["name"]: i["dtype"] for i in manifest["inputs"]}
    inputs = json.loads((artifact / "parity.json").read_text())["inputs"]
    return {n: np.array(t["data"], dtype=dtypes[n]).reshape(t["shape"]) for n, t in inputs.items()}


def run(model: bytes, feed: dict) -> list:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    return session.run(None, feed)


def convert(artifact: Path) -> tuple[bytes, dict]:
    """The float16 model's bytes, and its manifest entry."""
    manifest = json.loads((artifact / "manifest.json").read_text())
    model = onnx.load(artifact / "model.onnx")
    # Cast nodes stay float32 (converted casts around them): the converter changes a Cast's
    # output type to float16 but not its `to` attribute, which ONNX Runtime refuses.
    blocked = list(float16.DEFAULT_OP_BLOCK_LIST) + ["Cast"]
    fp16 = float16.convert_float_to_float16(model, keep_io_types=True, op_block_list=blocked)
    data = fp16.SerializeToString()
    entry = {
        "model_file": FP16_FILE,
        "sha256": hashlib.sha256(data).hexdigest(),
        "converter": "onnxconverter-common %s convert_float_to_float16(keep_io_types=True, "
        "op_block_list=DEFAULT_OP_BLOCK_LIST + [Cast])"
        % getattr(sys.modules["onnxconverter_common"], "__version__", "?"),
        "inputs": "parity.json",
    }
    feed = parity_feed(artifact, manifest)
    expected = run((artifact / "model.onnx").read_bytes(), feed)
    try:
        got = run(data, feed)
    except Exception as e:  # noqa: BLE001 - ONNX Runtime raises its own exception types
        entry.update(model_file=None, sha256=None, max_abs_diff=None)
        entry["note"] = "no variant: ONNX Runtime refuses the converted model (%s)" % str(e).splitlines()[0]
        return b"", entry
    diffs = {
        o["name"]: float(np.max(np.abs(np.asarray(g, np.float64) - np.asarray(x, np.float64))))
        for o, g, x in zip(manifest["outputs"], got, expected)
    }
    entry["max_abs_diff"] = max(diffs.values())
    entry["max_abs_diff_per_output"] = diffs
    entry["note"] = "max |fp16 - fp32| over the parity inputs, both on the CPU ONNX Runtime %s" % ort.__version__
    return data, entry



def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("artifacts", nargs="*", help="artifact folders (default: all but test-linear)")
    parser.add_argument("--write", action="store_true", help="write model.fp16.onnx and the manifest entry")
    args = parser.parse_args()
    dirs = [Path(a) for a in args.artifacts] or sorted(
        d for d in ARTIFACTS.iterdir() if (d / "manifest.json").is_file() and d.name != "test-linear"
    )
    failed = 0
    for artifact in dirs:
        try:
            data, entry = convert(artifact)
        except Exception as e:  # noqa: BLE001 - report and go on with the next artifact
            print("%-28s conversion failed: %s" % (artifact.name, e))
            failed += 1
            continue
        diff = entry["max_abs_diff"]
        print("%-28s %s" % (artifact.name, entry["note"] if diff is None else "max abs diff %.3g" % diff))
        if args.write:
            if data:
                (artifact / FP16_FILE).write_bytes(data)
            else:
                (artifact / FP16_FILE).unlink(missing_ok=True)
            set_entry(artifact / "manifest.json", "fp16", entry)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
