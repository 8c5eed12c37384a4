"""FlowTransformer data and figures under the evaluation protocol, without PyTorch.

The committed split (`flow_splits`) tokenized into windows with the Rust tokenizer, identifier
levels dropped from the preprocessor, rows seen in training removed, and the figures a flow
task is judged on (`Task`). `evaluate_artifact` recomputes an exported artifact's test figures
through ONNX Runtime, so `python -m vigil_onnx.evaluate flows` regenerates the tables in CI.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import data as D
from . import flow_splits as S
from . import protocol as P
from .metrics import binary_report, report

#: The split and the benign class of each task.
SPLIT = {"flow_transformer": "cicids2017", "flow_transformer_nslkdd": "nslkdd", "flow_transformer_iot23": "iot23"}
BENIGN = {"flow_transformer": "BENIGN", "flow_transformer_nslkdd": "normal", "flow_transformer_iot23": "Benign"}
#: Port categoricals: a source port keeps no level, a destination port only the well-known ones.
SOURCE_PORTS = ("Src Port",)
DESTINATION_PORTS = ("Dst Port", "dst_port")
PORT_LIMIT = 1024


def drop_identifiers(prep_path: Path) -> dict:
    """Keep no level for `Src Port` and only destination ports <= 1024: other ports encode as
    id 0 (unseen), so they cannot act as per-file identifiers. Returns what was dropped."""
    prep = D.load_preprocessor(prep_path)
    dropped = {}
    for c in prep["categorical"]:
        if c["name"] in SOURCE_PORTS:
            dropped[c["name"]] = c["levels"]
            c["levels"] = []
        elif c["name"] in DESTINATION_PORTS:
            keep = [v for v in c["levels"] if v.isdigit() and int(v) <= PORT_LIMIT]
            dropped[c["name"]] = [v for v in c["levels"] if v not in keep]
            c["levels"] = keep
    prep_path.write_text(json.dumps(prep, indent=2))
    return dropped


def split_windows(task: D.FlowTask, work: Path, data: Path = D.DEFAULT_DATA, prep: Path | None = None,
                  window: int | None = None) -> tuple[dict[str, D.Windows], Path, dict]:
    """The committed split tokenized in windows of `window` flows (default: the task's):
    {part: Windows}. With `prep` (an artifact's preprocessor) it is used as is; without, one is
    fitted on the training CSVs and identifiers are dropped."""
    parts = S.write_parts(SPLIT[task.family], data, work / "split")
    window = window or task.window
    dropped = {}
    if prep is None:
        prep = D.fit_preprocessor(parts["train"], work, window, task.group_by, task.mapping, task.constant)
        dropped = drop_identifiers(prep)
    out = {}
    for part, files in parts.items():
        pq = D.tokenize_files(files, work, prep, window, task.group_by, task.mapping)
        w = D.read_windows(pq)
        w.raw, w.labels = w.labels, task.classes(w.labels)
        out[part] = w
    return out, prep, dropped


def scored_keys(w: D.Windows) -> np.ndarray:
    """The scored (last) flow's encoding, one key per window."""
    return P.encoding_keys(w.numeric[:, -1, :], w.categorical[:, -1, :])


def drop_seen_rows(parts: dict[str, D.Windows]) -> tuple[dict[str, D.Windows], dict]:
    """Validation and test windows whose scored flow encodes like a training flow, removed."""
    train = scored_keys(parts["train"])
    removed = {}
    for part in ("validation", "test"):
        keep = P.drop_seen(train, scored_keys(parts[part]))
        removed[part] = int(len(parts[part]) - len(keep))
        parts[part] = parts[part].take(keep)
    return parts, removed


def without_context(w: D.Windows) -> D.Windows:
    """The windows with every row but the scored flow zeroed and masked."""
    num, cat = np.zeros_like(w.numeric), np.zeros_like(w.categorical)
    num[:, -1], cat[:, -1] = w.numeric[:, -1], w.categorical[:, -1]
    pad = np.full(len(w), w.numeric.shape[1] - 1, dtype=np.int64)
    return D.Windows(num, cat, pad, w.labels, w.source, w.files)


class Task:
    """Labels, the figure choices are made on, and the benign class of one flow task."""

    def __init__(self, family: str, labels: list[str], split: dict):
        self.family = family
        self.labels = labels
        self.benign = labels.index(BENIGN[family])
        self.binary = len(labels) == 2
        self.held_out = split.get("types", {})

    def target(self, part: str, w: D.Windows) -> np.ndarray:
        """The rows a part's headline figures are on: all rows, or for NSL-KDD the benign rows
        and the attack types held out in that part (unseen in training)."""
        if not self.held_out:
            return np.ones(len(w), dtype=bool)
        return np.isin(w.raw, [BENIGN[self.family], *self.held_out[part]])

    def clusters(self, w: D.Windows) -> np.ndarray | None:
        """Bootstrap clusters: NSL-KDD attack types (benign rows one by one), IoT-23 capture files;
        none for CIC-IDS2017, whose files are its classes."""
        if self.held_out:
            return np.where(w.raw == BENIGN[self.family], np.arange(len(w)).astype(str), w.raw)
        if SPLIT[self.family] == "iot23":
            return w.source
        return None

    def y(self, w: D.Windows) -> np.ndarray:
        return np.array([self.labels.index(l) for l in w.labels], dtype=np.int64)

    def figures(self, y: np.ndarray, probs: np.ndarray) -> dict:
        """Macro-F1 and accuracy; for the binary task also F1, recall and AUC of the attacks."""
        r = report(y, probs.argmax(1), self.labels)
        out = {"macro_f1": r["macro_f1"], "accuracy": r["accuracy"], "per_class": r["per_class"]}
        if self.binary:
            out["binary"] = binary_report(y, 1.0 - probs[:, self.benign], 1 - self.benign)
        return out

    def selection(self, y: np.ndarray, probs: np.ndarray) -> float:
        """The validation figure every choice maximises: macro-F1."""
        return report(y, probs.argmax(1), self.labels)["macro_f1"]


def artifact_task(artifact: Path) -> tuple[D.FlowTask, dict]:
    """The flow task an artifact was trained for, and its manifest."""
    manifest = json.loads((artifact / "manifest.json").read_text())
    task = next(t for t in D.FLOW_TASKS.values() if t.artifact == manifest["name"])
    return task, manifest


def test_windows(artifact: Path, work: Path, data: Path = D.DEFAULT_DATA) -> tuple[dict, "Task", dict]:
    """The artifact's committed split tokenized with its own preprocessor, seen rows removed:
    ({part: Windows}, Task, removed counts)."""
    flow_task, manifest = artifact_task(artifact)
    work.mkdir(parents=True, exist_ok=True)
    prep = work / "preprocessor.json"
    prep.write_text(json.dumps(manifest["preprocessing"]["preprocessor"], indent=2))
    parts, _, _ = split_windows(flow_task, work, data, prep, manifest["preprocessing"]["window"])
    parts, removed = drop_seen_rows(parts)
    return parts, Task(flow_task.family, manifest["labels"], P.load_split(SPLIT[flow_task.family])), removed


def onnx_probs(artifact: Path, w: D.Windows, batch: int = 1024) -> np.ndarray:
    """`probs` of the artifact's `model.onnx` (ONNX Runtime, CPU) for the windows."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(artifact / "model.onnx"), providers=["CPUExecutionProvider"])
    out = [sess.run(["probs"], {"numeric": w.numeric[s:s + batch], "categorical": w.categorical[s:s + batch],
                                "padding": w.padding[s:s + batch]})[0] for s in range(0, len(w), batch)]
    return np.concatenate(out)


def evaluate_artifact(artifact: Path, work: Path, data: Path = D.DEFAULT_DATA) -> dict:
    """The exported model's test figures recomputed from the artifact and the committed split,
    next to those its manifest records (`metrics.exported_model.test`)."""
    parts, task, removed = test_windows(artifact, work, data)
    _, manifest = artifact_task(artifact)
    w = parts["test"]
    mask = task.target("test", w)
    y = task.y(w)
    probs = onnx_probs(artifact, w)
    got = task.figures(y[mask], probs[mask])
    recorded = manifest["metrics"]["exported_model"]["test"]
    return {"artifact": manifest["name"], "test_rows": int(mask.sum()), "removed": removed,
            "macro_f1": [round(got["macro_f1"], 4), round(recorded["macro_f1"], 4)],
            "accuracy": [round(got["accuracy"], 4), round(recorded["accuracy"], 4)]}
