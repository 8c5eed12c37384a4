"""Export a trained model to ONNX with its manifest and parity fixture.

`python -m vigil_onnx.export flow_transformer` re-exports from the last training checkpoint
(`onnx/build/<family>/`; `flow_transformer_nslkdd` and `flow_transformer_iot23` likewise);
`python -m vigil_onnx.train <family>` trains and exports.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch

from . import __version__
from . import data as D
from .fixtures import write_parity
from .flow_transformer import FlowTransformer, FlowTransformerConfig, FlowTransformerProbs

ONNX_DIR = Path(__file__).resolve().parents[1]
OPSET = 17
PARITY_ROWS = 256
PARITY_TOL = 1e-4


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def parity_rows(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Up to n rows with every class present: round-robin over classes, fixed seed."""
    rng = np.random.default_rng(seed)
    per = {c: rng.permutation(np.flatnonzero(y == c)).tolist() for c in np.unique(y)}
    out = []
    while len(out) < n and any(per.values()):
        for c in sorted(per):
            if per[c] and len(out) < n:
                out.append(per[c].pop())
    return np.sort(np.array(out, dtype=np.int64))


def load_checkpoint(work: Path) -> FlowTransformer:
    ckpt = torch.load(work / "model.pt", map_location="cpu", weights_only=True)
    model = FlowTransformer(FlowTransformerConfig(**ckpt["config"]))
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()


def export_flow_transformer(work: Path, val: D.Windows, yva: np.ndarray, out: Path,
                            task: D.FlowTask | None = None) -> dict:
    import onnx
    import onnxruntime as ort

    meta = json.loads((work / "meta.json").read_text())
    model = load_checkpoint(work)
    cfg = model.cfg
    wrapped = FlowTransformerProbs(model).eval()
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / "model.onnx"

    rows = parity_rows(yva, PARITY_ROWS)
    inputs = {
        "numeric": val.numeric[rows].astype(np.float32),
        "categorical": val.categorical[rows].astype(np.int64),
        "padding": val.padding[rows].astype(np.int64),
    }
    tin = tuple(torch.from_numpy(inputs[k]) for k in ("numeric", "categorical", "padding"))
    with torch.no_grad():
        probs = wrapped(*tin).numpy().astype(np.float32)

    torch.onnx.export(
        wrapped, tin, str(onnx_path),
        input_names=["numeric", "categorical", "padding"], output_names=["probs"],
        dynamic_axes={"numeric": {0: "batch"}, "categorical": {0: "batch"},
                      "padding": {0: "batch"}, "probs": {0: "batch"}},
        opset_version=OPSET, dynamo=False, do_constant_folding=True,
    )
    onnx.checker.check_model(onnx.load(str(onnx_path)))

    # Parity: ONNX Runtime (CPU) against PyTorch on the fixture rows.
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(["probs"], inputs)[0]
    max_diff = float(np.max(np.abs(got - probs)))
    print(f"parity: {len(rows)} rows, max abs diff ONNX Runtime vs PyTorch = {max_diff:.3e}")
    if max_diff > PARITY_TOL:
        raise SystemExit(f"parity failed: {max_diff} > {PARITY_TOL}")
    # Dynamic batch: batch 1 and an odd size run too.
    for b in (1, 7):
        sub = {k: v[:b] for k, v in inputs.items()}
        assert np.max(np.abs(sess.run(["probs"], sub)[0] - probs[:b])) <= PARITY_TOL

    write_parity(out, inputs, {"probs": probs}, json_rows=32)

    # Latency of the exported graph at a few batch sizes (single thread), for the record.
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s1 = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    latency = {}
    for b in (1, 32, 256):
        sub = {k: np.repeat(v, (b + len(rows) - 1) // len(rows), axis=0)[:b] for k, v in inputs.items()}
        s1.run(["probs"], sub)
        n = max(3, 200 // b)
        t = time.perf_counter()
        for _ in range(n):
            s1.run(["probs"], sub)
        latency[f"batch_{b}_ms"] = round((time.perf_counter() - t) / n * 1e3, 3)

    prep = json.loads(Path(meta["preprocessor_path"]).read_text())
    w, nn_, nc = cfg.window, cfg.n_numeric, len(cfg.categorical_levels)
    manifest = {
        "name": meta.get("name") or task.artifact,
        "family": "flow_transformer",
        "version": __version__,
        "model_file": "model.onnx",
        "sha256": sha256(onnx_path),
        "opset": OPSET,
        "exporter": f"torch.onnx.export (dynamo=False), torch {torch.__version__}",
        "inputs": [
            {"name": "numeric", "dtype": "float32", "shape": [-1, w, nn_]},
            {"name": "categorical", "dtype": "int64", "shape": [-1, w, nc]},
            {"name": "padding", "dtype": "int64", "shape": [-1]},
        ],
        "outputs": [{"name": "probs", "dtype": "float32", "shape": [-1, cfg.n_classes]}],
        "labels": meta["labels"],
        "decision": "argmax over probs; label = labels[argmax], score = its probability",
        "thresholds": meta.get("thresholds", {}),
        "architecture": {
            **cfg.to_dict(),
            "encoder": "basic transformer, post-LN blocks, learned positions",
            "head": "LastToken (state of the last window position, the scored flow) -> linear -> softmax",
            "input_encoding": "per-categorical embeddings (id 0 = unseen/padding) ++ numerics -> linear to d_model",
            "padding_mask": "the first `padding` rows of a window are masked as attention keys",
        },
        "preprocessing": {
            "tokenizer": "vigil tokenize flow",
            "mapping": meta["mapping"],
            "window": meta["window"],
            "group_by": meta["group_by"],
            "preprocessor": prep,
        },
        "training_data": meta.get("training_data") or {
            "dataset": task.dataset,
            "files": meta["files"],
            "label_column": task.label_column,
            **({"label_map": task.label_map_text} if task.label_map_text else {}),
            "split": meta["split"],
            "tokenized_per_file": True,
            "preprocessor_fitted_on": "all files concatenated",
        },
        "training": meta["training"],
        "metrics": {
            **meta["metrics"],
            "parity_max_abs_diff_onnxruntime_vs_pytorch": max_diff,
            "onnxruntime_cpu_latency_1_thread": latency,
        },
        **({"operating_points": meta["operating_points"]} if "operating_points" in meta else {}),
        "parity": {
            "fixture": "parity.json (first 32 rows)",
            "inputs": "parity_inputs.npz",
            "outputs": "parity_outputs.npz",
            "rows": int(len(rows)),
            "tolerance": PARITY_TOL,
            "source": meta.get("parity_source", "PyTorch eval-mode outputs of the validation rows"),
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"artifacts in {out}: {size / 1024:.0f} KiB; latency {latency}")
    return manifest


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m vigil_onnx.export")
    p.add_argument("family", choices=[*D.FLOW_TASKS, "itransformer", "hstu",
                                      "hstu_actions", "netfound"])
    p.add_argument("--artifacts", default=None, help="default: artifacts/<the family's artifact name>")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.family == "itransformer":
        from . import itransformer
        itransformer.export(ONNX_DIR / "build" / "itransformer",
                            Path(args.artifacts or ONNX_DIR / "artifacts" / "itransformer-etth1"))
        return
    if args.family == "hstu":
        from .hstu import export_from_checkpoint
        export_from_checkpoint(ONNX_DIR / "build" / "hstu", Path(args.artifacts or ONNX_DIR / "artifacts" / "hstu-ml100k"))
        return
    if args.family == "hstu_actions":
        from .hstu import export_from_checkpoint
        from .hstu_actions import NAME, read_parts
        work = ONNX_DIR / "build" / "hstu_actions"
        export_from_checkpoint(work, Path(args.artifacts or ONNX_DIR / "artifacts" / NAME), read_parts(work))
        return
    if args.family == "netfound":
        from .netfound_export import export_from_checkpoint as netfound_export
        netfound_export(ONNX_DIR / "build" / "netfound", Path(args.artifacts or ONNX_DIR / "artifacts" / "netfound"))
        return
    # A FlowTransformer (vigil_onnx.flow_protocol): the parity rows come from its validation split,
    # tokenized again with the saved preprocessor at the exported window.
    from .flow_eval import drop_seen_rows, split_windows

    task = D.FLOW_TASKS[args.family]
    work = ONNX_DIR / "build" / args.family
    meta = json.loads((work / "meta.json").read_text())
    parts, _, _ = split_windows(task, work, D.DEFAULT_DATA, Path(meta["preprocessor_path"]), meta["window"])
    va = drop_seen_rows(parts)[0]["validation"]
    y = np.array([meta["labels"].index(l) for l in va.labels], dtype=np.int64)
    export_flow_transformer(work, va, y, Path(args.artifacts or ONNX_DIR / "artifacts" / task.artifact), task)

if __name__ == "__main__":
    main()
