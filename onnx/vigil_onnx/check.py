"""Check committed artifacts without PyTorch: sha256 and shapes against the manifest, and the
parity fixture through ONNX Runtime (max abs diff <= the manifest's tolerance).

`python -m vigil_onnx.check [artifacts/<name> ...]` (needs only numpy and onnxruntime).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def check(d: Path) -> float:
    import onnxruntime as ort

    m = json.loads((d / "manifest.json").read_text())
    digest = hashlib.sha256((d / m["model_file"]).read_bytes()).hexdigest()
    if digest != m["sha256"]:
        raise SystemExit(f"{d}: sha256 {digest} does not match the manifest's {m['sha256']}")
    sess = ort.InferenceSession(str(d / m["model_file"]), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    if names != [i["name"] for i in m["inputs"]]:
        raise SystemExit(f"{d}: graph inputs {names} differ from the manifest")
    inputs = dict(np.load(d / m["parity"]["inputs"]))
    expected = dict(np.load(d / m["parity"]["outputs"]))
    got = sess.run(list(expected), inputs)
    diff = max(float(np.max(np.abs(g - expected[k]))) for g, k in zip(got, expected))
    if diff > m["parity"]["tolerance"]:
        raise SystemExit(f"{d}: parity max abs diff {diff} > {m['parity']['tolerance']}")
    return diff


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    # Every artifact with a parity fixture (test-linear, the Rust tests' toy model, has none).
    dirs = [Path(a) for a in argv] or sorted(
        p for p in ARTIFACTS.iterdir()
        if (p / "manifest.json").is_file() and "parity" in json.loads((p / "manifest.json").read_text())
    )
    for d in dirs:
        print(f"{d.name}: ok, parity max abs diff {check(d):.3e}")


if __name__ == "__main__":
    main()
