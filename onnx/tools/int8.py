"""Int8 variants of the model artifacts, for the CPU: model.int8.onnx beside model.onnx, and an
`int8` entry in manifest.json saying how it was made, how far its outputs are from the float32
model's, its held-out metric next to model.onnx's on the same rows, and its speed.

The quantisation is ONNX Runtime's `quantize_dynamic`: int8 weights (QInt8); activations are
quantised to uint8 at run time, with one scale per tensor and batch. The graph's declared inputs and
outputs are copied back from model.onnx (the quantiser's shape inference pins netFound's symbolic
embedding width), so the variant has the same input and output names, dtypes and dynamic axes and
Vigil feeds it the same tensors. When ONNX Runtime refuses every quantised graph, no variant is
written and the entry says why.

Settings: of the CANDIDATES (per_channel, op types), the one whose outputs are
closest to model.onnx's on the artifact's selection rows is kept (mean |int8 - fp32| over mean
|fp32|, averaged over the outputs; ties: the smaller file). Selection rows are never held-out rows:
a fixed sample of the validation split where the artifact reports another split (iTransformer,
HSTU), else of the training rows; their labels are not read.

Weights are always quantised with reduce_range (7 bits): the only setting whose outputs do not
depend on the CPU. Without it, ONNX Runtime's u8s8 kernels on x86 CPUs without VNNI (AVX2 only,
as AMD EPYC Zen 2/3) saturate in VPMADDUBSW: graphs chosen with full-range weights on a VNNI
machine gave parity distances 7 to 20 times their stated ones on an AVX2 one (HSTU ml-100k 1.92
against 0.095, the iTransformer 2.34 against 0.18), while the reduce_range graphs gave the same
outputs on both.

Held-out metric: the manifest's headline figure, on the split it names, computed for model.onnx and
model.int8.onnx by the CPU ONNX Runtime on the same rows, in batches of 256 (Vigil's default batch;
int8 activation scales depend on the batch). The rows are rebuilt as the training code built them
(`vigil tokenize ...` with the manifest's preprocessor or vocabulary, the same split and seed),
through vigil_onnx.data, .metrics and .netfound_data; the few helpers needed from the modules that
import PyTorch are restated here, each naming its original. The model.onnx figure is checked
against the manifest's (to 1e-4).

Speed: rows per second of each graph on 256 held-out rows at once, one thread
(intra_op_num_threads=1), best of 3 runs after a warm-up.

Needs numpy, onnx, onnxruntime and pyarrow (no PyTorch), the data ($VIGIL_DATA, default
../shared/data), the `vigil` binary ($VIGIL_BIN) and, once, pip (MovieLens ml-100k comes from the
recbole==1.2.1 wheel). Work files (tokenized data, the wheel) go to onnx/build/int8/:
    VIGIL_BIN=target/release/vigil .venv/bin/python onnx/tools/int8.py            # report only
    VIGIL_BIN=target/release/vigil .venv/bin/python onnx/tools/int8.py --write    # model.int8.onnx + entries
Vigil runs the variant with `--precision int8`.
"""

import argparse
import csv
import hashlib
import json
import logging
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import onnxruntime as ort
import pyarrow.parquet as pq
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.quantization.registry import IntegerOpsRegistry

ONNX_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ONNX_DIR))
from vigil_onnx import data as D  # noqa: E402
from vigil_onnx import metrics as M  # noqa: E402
from vigil_onnx import netfound_data as ND  # noqa: E402
from vigil_onnx import flow_eval as FE  # noqa: E402
from vigil_onnx import ranking as R  # noqa: E402
from vigil_onnx import variate_data as VD  # noqa: E402

from manifest_entry import set_entry  # noqa: E402

ARTIFACTS = ONNX_DIR / "artifacts"
WORK = ONNX_DIR / "build" / "int8"
INT8_FILE = "model.int8.onnx"
BATCH = 256
SELECTION_ROWS = 1024
MAX_DELTA = 0.01
REPRODUCE_TOL = 1e-4
ALL_OPS = sorted(IntegerOpsRegistry)  # quantize_dynamic's default: every op it can quantise
CANDIDATES = [
    {"per_channel": pc, "reduce_range": True, "op_types_to_quantize": ops, "nodes_to_exclude": []}
    for ops in (ALL_OPS, ["MatMul"]) for pc in (False, True)
]
IOT23_DIR = "flows/iot-23-zeek-conn-labeled"
ETTH1 = "timeseries/ett/ETTh1.csv"
ML100K_WHEEL = "recbole==1.2.1"
ML100K_MEMBER = "recbole/dataset_example/ml-100k/ml-100k.inter"


@dataclass
class HeldOut:
    """An artifact's held-out rows (the split its manifest reports) and its selection rows."""

    split: str  # the manifest's `metrics` key
    headline: str  # the metric compared
    rows: str  # what the held-out rows are
    feed: dict  # their model inputs
    score: Callable[[list], dict]  # the graph's outputs on them -> {metric: value}
    selection_rows: str
    selection: dict


# ---------------------------------------------------------------- rows, per family


def take(feed: dict, idx: np.ndarray) -> dict:
    return {k: np.ascontiguousarray(v[idx]) for k, v in feed.items()}


def sample(idx: np.ndarray, n: int = SELECTION_ROWS, seed: int = 0) -> np.ndarray:
    """At most n of idx (fixed seed), sorted."""
    idx = np.asarray(idx)
    return idx if len(idx) <= n else np.sort(np.random.default_rng(seed).choice(idx, n, replace=False))


def workdir(artifact: Path) -> Path:
    d = WORK / artifact.name
    d.mkdir(parents=True, exist_ok=True)
    return d


def classifier_score(labels: list[str], y: np.ndarray) -> Callable[[list], dict]:
    """Macro-F1 and accuracy of argmax(probs), the graph's first output (metrics.report)."""

    def score(outputs: list) -> dict:
        r = M.report(y, outputs[0].argmax(1), labels)
        return {"macro_f1": r["macro_f1"], "accuracy": r["accuracy"]}

    return score


def flow_windows(manifest: dict, files: list[Path], work: Path) -> D.Windows:
    """`vigil tokenize flow` of each file on its own with the manifest's preprocessor."""
    p = manifest["preprocessing"]
    prep = work / "preprocessor.json"
    prep.write_text(json.dumps(p["preprocessor"], indent=2))
    parquets = D.tokenize_files(files, work, prep, p["window"], p["group_by"], p["mapping"])
    return D.read_windows(parquets)


def window_feed(w: D.Windows, idx: np.ndarray) -> dict:
    return {"numeric": w.numeric[idx], "categorical": w.categorical[idx], "padding": w.padding[idx]}


def flow_task(artifact: Path, manifest: dict) -> HeldOut:
    """CIC-IDS2017 and NSL-KDD (vigil_onnx.flow_protocol): the committed split tokenized with the
    artifact's preprocessor; its headline test windows are reported, training windows select."""
    parts, task, _ = FE.test_windows(artifact, workdir(artifact))
    w = parts["test"]
    idx = np.flatnonzero(task.target("test", w))
    return HeldOut("exported_model.test", "macro_f1",
                   "test windows of the committed split (onnx/splits/), seen rows removed",
                   window_feed(w, idx), classifier_score(manifest["labels"], task.y(w)[idx]),
                   f"training windows ({SELECTION_ROWS} drawn, seed 0)",
                   window_feed(parts["train"], sample(np.arange(len(parts["train"])))))


def standardised_errors(forecast: np.ndarray, y: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> dict:
    """As itransformer.scaled_metrics: MSE and MAE on values standardised with the train scaler."""
    e = (forecast.astype(np.float64) - y) / sd
    return {"mse": float(np.mean(e ** 2)), "mae": float(np.mean(np.abs(e)))}


def etth1(artifact: Path, manifest: dict) -> HeldOut:
    """iTransformer (itransformer.train): `vigil tokenize variate` windows of lookback + horizon steps,
    de-normalised to raw values as itransformer.read_windows does; the test windows are reported,
    validation windows select."""
    p = manifest["preprocessing"]
    lookback, width = p["lookback"], p["lookback"] + p["horizon"]
    parquet, _ = VD.tokenize(D.DEFAULT_DATA / ETTH1, workdir(artifact), lookback, p["horizon"])
    raw, _, marks = VD.read_windows(parquet)
    split = manifest["training_data"]["split"]
    starts = {s: np.arange(split[f"{s}_rows"][0], split[f"{s}_rows"][1] - width + 1) for s in ("val", "test")}
    assert all(len(starts[s]) == split["windows"][s] for s in starts)
    te, va = starts["test"], starts["val"]
    mu, sd = np.array(p["scaler"]["mean"]), np.array(p["scaler"]["std"])
    y = raw[te, lookback:]
    feed = lambda idx: {"x": raw[idx, :lookback], "x_mark": marks[idx, :lookback]}
    return HeldOut("test_standardised", "mse", f"test windows: starts {te[0]}..{te[-1]}, stride 1",
                   feed(te), lambda out: standardised_errors(out[0], y, mu, sd),
                   f"validation windows ({SELECTION_ROWS} drawn, seed 0)", feed(sample(va)))


def ml100k_inter(work: Path) -> Path:
    """As hstu.ml100k_inter: ml-100k.inter from the recbole==1.2.1 wheel (fetched with pip once)."""
    out = work / "ml-100k.inter"
    if not out.is_file():
        wheels = sorted(work.glob("recbole-1.2.1-*.whl"))
        if not wheels:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", ML100K_WHEEL, "-d", str(work)],
                           check=True)
            wheels = sorted(work.glob("recbole-1.2.1-*.whl"))
        with zipfile.ZipFile(wheels[0]) as z:
            out.write_bytes(z.read(ML100K_MEMBER))
    return out


def ml100k_action_csv(inter: Path, out: Path) -> Path:
    """As hstu.to_action_csv: entity,ts,action,object rows sorted by (user, ts, file order)."""
    with open(inter) as f:
        col = {h.split(":")[0]: i for i, h in enumerate(f.readline().rstrip("\n").split("\t"))}
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    events = sorted((int(r[col["user_id"]]), int(float(r[col["timestamp"]])), i, r[col["item_id"]])
                    for i, r in enumerate(rows))
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["entity", "ts", "action", "object"])
        w.writerows([u, ts, "rate", item] for u, ts, _, item in events)
    return out


def action_rows(log: Path, kind: str, manifest: dict, out: Path, entity_prefix: str = "") -> dict:
    """`vigil tokenize actions` of one log with the manifest's vocabulary, read as hstu.read_rows."""
    p = manifest["preprocessing"]
    vocab = out.parent / "vocab.json"
    vocab.write_text(json.dumps(p["vocab"], indent=2))
    cmd = [str(D.vigil_binary()), "tokenize", "actions", str(log), "--log", kind, "--out", str(out),
           "--vocab", str(vocab), "--max-len", str(p["max_len"])]
    if subprocess.run(cmd).returncode not in (0, 3):  # 3: done, with lines it could not parse
        raise SystemExit(f"{' '.join(cmd)} failed")
    t = pq.read_table(out, columns=["entity", "ts", "action_ids", "object_ids", "time_buckets", "length"])

    def matrix(c: str) -> np.ndarray:
        return np.asarray(t.column(c).combine_chunks().flatten(), dtype=np.int64).reshape(t.num_rows, -1)

    return {"entity": np.array([entity_prefix + e for e in t.column("entity").to_pylist()], dtype=object),
            "ts": t.column("ts").cast("int64").to_numpy().astype(np.int64),
            "length": t.column("length").to_numpy().astype(np.int64),
            **{c: matrix(c) for c in ("object_ids", "time_buckets", "action_ids")}}


def hstu_split(manifest: dict, rows: dict) -> HeldOut:
    """HSTU (hstu.train_rows): leave-one-out (vigil_onnx.ranking), each entity's earlier objects
    removed from the ranking; each entity's last event is reported, its second-to-last
    (validation) selects."""
    _, va, te = R.leave_one_out(rows["entity"], rows["ts"], rows["length"])
    split = manifest["training_data"]["split"]
    assert (len(va), len(te)) == (split["val_rows"], split["test_rows"]), (len(va), len(te))
    feed = {i["name"]: rows[i["name"]] for i in manifest["inputs"]}
    target = rows["object_ids"][te, -1]
    seen = R.seen_items(rows["entity"], rows["ts"], rows["object_ids"][:, -1], te)
    return HeldOut("test_hstu", "ndcg@10", "test rows: each entity's last event (leave-one-out)",
                   take(feed, te), lambda out: R.rank_metrics(out[0], target, seen=seen),
                   "validation rows: each entity's second-to-last event", take(feed, va))


def ml100k(artifact: Path, manifest: dict) -> HeldOut:
    """hstu-ml100k (hstu.train): MovieLens ratings as an action CSV, tokenized."""
    work = workdir(artifact)
    log = ml100k_action_csv(ml100k_inter(work), work / "ml100k_actions.csv")
    return hstu_split(manifest, action_rows(log, "csv", manifest, work / "seq.parquet"))


def user_actions(artifact: Path, manifest: dict) -> HeldOut:
    """hstu-user-actions (hstu_actions.train): each log of the manifest tokenized with its vocabulary,
    entities kept apart by the log's name."""
    work = workdir(artifact)
    parts = [action_rows(D.DEFAULT_DATA / log["file"], log["log"], manifest, work / f"{log['name']}.parquet",
                         entity_prefix=f"{log['name']}:") for log in manifest["preprocessing"]["logs"]]
    return hstu_split(manifest, {k: np.concatenate([p[k] for p in parts]) for k in parts[0]})


def netfound(artifact: Path, manifest: dict) -> HeldOut:
    """netFound (netfound_train.train): every capture tokenized and labelled by netfound_data.load,
    split by file (netfound_data.split); the test flows with a traffic class are reported,
    training flows with one select."""
    p, split = manifest["preprocessing"], manifest["training_data"]["split"]
    flows, _ = ND.load(D.DEFAULT_DATA, workdir(artifact), p["max_bursts"], p["tokens_per_burst"])
    part = ND.split(flows)
    test, train = part == "test", part == "train"
    # Every test flow comes from a committed test file. A committed file may now hold no flow: the
    # decoder refuses nDPI's one-packet fuzz capture (fuzz-2021-06-07-c6c72a0a56.pcap) as weird.
    assert {flows.files[f] for f in np.unique(flows.file[test])} <= set(split["test_files"])
    labels = manifest["labels"]
    has_class = np.array([a not in ("", "Unknown") for a in flows.app])
    y = np.array([labels.index(a) if a in labels else labels.index("other") for a in flows.app])
    te, tr = np.flatnonzero(test & has_class), np.flatnonzero(train & has_class)
    return HeldOut("traffic_class_test", "macro_f1", "test flows with a traffic class (held-out capture files)",
                   flows.inputs(te), classifier_score(labels, y[te]),
                   f"training flows with a traffic class ({SELECTION_ROWS} drawn, seed 0)", flows.inputs(sample(tr)))


HELD_OUT = {
    "flow-transformer-cicids2017": flow_task,
    "flow-transformer-nslkdd": flow_task,
    "flow-transformer-iot23": flow_task,
    "itransformer-etth1": etth1,
    "hstu-ml100k": ml100k,
    "hstu-user-actions": user_actions,
    "netfound": netfound,
}


# ---------------------------------------------------------------- graphs


def session(model: bytes, threads: int = 0) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def run(sess: ort.InferenceSession, feed: dict, batch: int = BATCH) -> list:
    """The graph's outputs over all rows of feed, in batches."""
    n = len(next(iter(feed.values())))
    parts = [sess.run(None, {k: v[s:s + batch] for k, v in feed.items()}) for s in range(0, n, batch)]
    return [np.concatenate(o) for o in zip(*parts)]


def signature(model: onnx.ModelProto) -> list:
    """(name, element type, dims) of the graph's inputs and outputs."""
    return [(v.name, v.type.tensor_type.elem_type, [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim])
            for v in (*model.graph.input, *model.graph.output)]


def quantize(model_path: Path, settings: dict) -> bytes:
    """quantize_dynamic (QInt8 weights) with `settings`; the declared inputs and outputs of model.onnx."""
    source = onnx.load(model_path)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / INT8_FILE
        quantize_dynamic(model_path, out, weight_type=QuantType.QInt8, **settings)
        model = onnx.load(out)
    for mine, theirs in ((model.graph.input, source.graph.input), (model.graph.output, source.graph.output)):
        declared = {v.name: v for v in theirs}
        for v in mine:
            v.CopyFrom(declared[v.name])
    assert signature(model) == signature(source)
    return model.SerializeToString()


def describe(settings: dict) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in settings.items())
    return f"onnxruntime {ort.__version__} quantize_dynamic(weight_type=QuantType.QInt8, {args})"


def distance(got: list, want: list) -> float:
    """Mean |got - want| over mean |want|, averaged over the outputs."""
    ratios = [np.mean(np.abs(g.astype(np.float64) - w)) / max(float(np.mean(np.abs(w))), 1e-12)
              for g, w in zip(got, want)]
    return float(np.mean(ratios))


def choose(model_path: Path, rows: dict) -> tuple[dict, bytes, dict]:
    """The candidate closest to model.onnx on `rows` (ties: the smaller file): its settings and bytes,
    and every candidate's distance (or why it failed)."""
    want = run(session(model_path.read_bytes()), rows)
    tried, best = {}, None
    for settings in CANDIDATES:
        key = "per_channel=%s reduce_range=%s ops=%s" % (settings["per_channel"], settings["reduce_range"],
                                                          "+".join(settings["op_types_to_quantize"]))
        try:
            data = quantize(model_path, settings)
            d = distance(run(session(data), rows), want)
        except Exception as e:  # noqa: BLE001 - the quantiser and ONNX Runtime raise their own types
            tried[key] = "failed: %s" % str(e).splitlines()[0]
            continue
        tried[key] = d
        if best is None or (d, len(data)) < (best[0], len(best[2])):
            best = (d, settings, data)
    return (best[1], best[2], tried) if best else (None, b"", tried)


# ---------------------------------------------------------------- the entry


def parity_feed(artifact: Path, manifest: dict) -> dict:
    """The parity.json inputs, in the manifest's dtypes."""
    dtypes = {i["name"]: i["dtype"] for i in manifest["inputs"]}
    inputs = json.loads((artifact / "parity.json").read_text())["inputs"]
    return {n: np.array(t["data"], dtype=dtypes[n]).reshape(t["shape"]) for n, t in inputs.items()}


def max_abs_diffs(manifest: dict, got: list, want: list) -> dict:
    """max |got - want| per output, by the manifest's output names."""
    return {o["name"]: float(np.max(np.abs(g.astype(np.float64) - w)))
            for o, g, w in zip(manifest["outputs"], got, want)}


def cut_to_extent(feed: dict, dynamic_axes: dict) -> dict:
    """The inputs cut along their named non-batch axes to the last position where any input is
    non-zero (as Vigil cuts a batch to its longest flow)."""
    extent = {}
    for name, axes in dynamic_axes.items():
        for axis, label in enumerate(axes):
            if label != "batch":
                x = np.moveaxis(feed[name], axis, 0)
                used = np.flatnonzero(x.reshape(len(x), -1).any(1))
                extent[label] = max(extent.get(label, 1), int(used[-1]) + 1 if len(used) else 1)
    return {k: v[tuple(slice(extent[a]) if a in extent else slice(None) for a in dynamic_axes.get(k, []))]
            for k, v in feed.items()}


def own_extent(manifest: dict, feed: dict, fp32: ort.InferenceSession, int8: ort.InferenceSession) -> dict:
    """Each parity row alone, cut to its own extent along the manifest's dynamic axes: the shapes
    run, max |int8 - fp32| on them, and max |int8 cut - int8 padded| (padding moves the run-time
    activation scales)."""
    axes = manifest["dynamic_axes"]["inputs"]
    shapes, vs_fp32, vs_padded = set(), 0.0, 0.0
    for i in range(len(next(iter(feed.values())))):
        row = take(feed, [i])
        cut = cut_to_extent(row, axes)
        shapes.add(tuple(cut[next(iter(axes))].shape[1:]))
        got = int8.run(None, cut)
        vs_fp32 = max(vs_fp32, *max_abs_diffs(manifest, got, fp32.run(None, cut)).values())
        vs_padded = max(vs_padded, *max_abs_diffs(manifest, got, int8.run(None, row)).values())
    return {"inputs": "each parity.json row alone, cut to its own extent", "shapes": sorted(map(list, shapes)),
            "max_abs_diff": vs_fp32, "int8_cut_vs_padded_max_abs_diff": vs_padded}


def parity(artifact: Path, manifest: dict, fp32: ort.InferenceSession, int8: ort.InferenceSession) -> dict:
    """max |int8 - fp32| on the parity.json inputs, per output; on each row cut to its own extent
    when the manifest has dynamic axes; and how far an int8 row moves between a batch of 1 and the
    whole batch (activation scales are per batch)."""
    feed = parity_feed(artifact, manifest)
    got = int8.run(None, feed)
    diffs = max_abs_diffs(manifest, got, fp32.run(None, feed))
    out = {"inputs": "parity.json", "max_abs_diff": max(diffs.values()), "max_abs_diff_per_output": diffs}
    if "dynamic_axes" in manifest:
        out["dynamic_axes"] = own_extent(manifest, feed, fp32, int8)
    alone = run(int8, feed, batch=1)
    out["int8_batch_of_1_vs_whole_max_abs_diff"] = max(max_abs_diffs(manifest, alone, got).values())
    return out


def held_out(data: HeldOut, manifest: dict, fp32: ort.InferenceSession, int8: ort.InferenceSession) -> dict:
    """The headline metric of both graphs on the held-out rows, the delta, and the check of the fp32
    figure against the manifest's."""
    f, q = data.score(run(fp32, data.feed)), data.score(run(int8, data.feed))
    reported = manifest["metrics"]
    for key in data.split.split("."):
        reported = reported[key]
    h = data.headline
    delta = q[h] - f[h]
    return {
        "split": data.split,
        "rows": data.rows,
        "n_rows": len(next(iter(data.feed.values()))),
        "batch": BATCH,
        "metric": h,
        "fp32": f[h],
        "int8": q[h],
        "delta": delta,
        "abs_delta_at_most_0.01": bool(abs(delta) <= MAX_DELTA),
        "manifest_fp32": reported[h],
        "fp32_reproduces_manifest": all(abs(f[k] - reported[k]) <= REPRODUCE_TOL for k in f),
        "all_metrics": {k: {"manifest_fp32": reported[k], "fp32": f[k], "int8": q[k], "delta": q[k] - f[k]}
                        for k in f},
    }


def rows_per_second(sess: ort.InferenceSession, feed: dict, repeats: int = 3) -> float:
    sess.run(None, feed)
    best = min(timed(sess, feed) for _ in range(repeats))
    return len(next(iter(feed.values()))) / best


def timed(sess: ort.InferenceSession, feed: dict) -> float:
    t = time.perf_counter()
    sess.run(None, feed)
    return time.perf_counter() - t


def cpu_name() -> str:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    m = re.search(r"model name\s*:\s*(.+)", text)
    return m.group(1).strip() if m else "unknown"


def speed(fp32: bytes, int8: bytes, feed: dict) -> dict:
    """Rows per second of each graph on BATCH held-out rows at once, one thread, best of 3."""
    batch = {k: np.resize(v, (BATCH, *v.shape[1:])) for k, v in feed.items()}
    f, q = (rows_per_second(session(m, threads=1), batch) for m in (fp32, int8))
    return {"batch": BATCH, "intra_op_num_threads": 1, "best_of": 3, "cpu": cpu_name(),
            "rows_per_second_fp32": round(f, 1), "rows_per_second_int8": round(q, 1),
            "int8_over_fp32": round(q / f, 3), "file_bytes_fp32": len(fp32), "file_bytes_int8": len(int8)}


def added_ops(fp32: bytes, int8: bytes) -> dict:
    """Node counts of the op types the quantiser brought in."""
    before, after = (Counter(n.op_type for n in onnx.load_from_string(b).graph.node) for b in (fp32, int8))
    return {op: n for op, n in sorted(after.items()) if op not in before}


def convert(artifact: Path) -> tuple[bytes, dict]:
    """The int8 model's bytes, and its manifest entry."""
    manifest = json.loads((artifact / "manifest.json").read_text())
    model_path = artifact / "model.onnx"
    data = HELD_OUT[artifact.name](artifact, manifest)
    settings, int8, tried = choose(model_path, data.selection)
    selection = {"rows": data.selection_rows, "criterion": "smallest mean |int8 - fp32| / mean |fp32| "
                 "(averaged over the outputs; labels not read), ties: the smaller file", "candidates": tried}
    if settings is None:
        return b"", {"model_file": None, "sha256": None, "selection": selection,
                     "note": "no variant: every candidate failed (see selection.candidates)"}
    fp32 = model_path.read_bytes()
    fp32_sess, int8_sess = session(fp32), session(int8)
    entry = {
        "model_file": INT8_FILE,
        "sha256": hashlib.sha256(int8).hexdigest(),
        "quantizer": describe(settings),
        "settings": {"weight_type": "QInt8", **settings},
        "quantized_ops": added_ops(fp32, int8),
        "selection": selection,
        "parity": parity(artifact, manifest, fp32_sess, int8_sess),
        "held_out": held_out(data, manifest, fp32_sess, int8_sess),
        "speed": speed(fp32, int8, data.feed),
    }
    entry["note"] = note(entry)
    return int8, entry


def note(entry: dict) -> str:
    h, s = entry["held_out"], entry["speed"]
    text = "%s on %s: fp32 %.4f, int8 %.4f (delta %+.4f, |delta| %s 0.01); %.2fx the fp32 rows/s on one thread; " \
           "%d -> %d bytes" % (h["metric"], h["split"], h["fp32"], h["int8"], h["delta"],
                               "<=" if h["abs_delta_at_most_0.01"] else ">", s["int8_over_fp32"],
                               s["file_bytes_fp32"], s["file_bytes_int8"])
    if not h["fp32_reproduces_manifest"]:
        text += "; the fp32 figures recomputed here do NOT reproduce the manifest's (see held_out.all_metrics)"
    return text



def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("artifacts", nargs="*", help="artifact folders (default: all but test-linear)")
    parser.add_argument("--write", action="store_true", help="write model.int8.onnx and the manifest entry")
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.ERROR)  # the quantiser's advice to pre-process, per call
    dirs = [Path(a) for a in args.artifacts] or sorted(
        d for d in ARTIFACTS.iterdir() if (d / "manifest.json").is_file() and d.name != "test-linear"
    )
    failed = 0
    for artifact in dirs:
        started = time.time()
        try:
            model, entry = convert(artifact)
        except Exception as e:  # noqa: BLE001 - report and go on with the next artifact
            print("%-28s failed: %r" % (artifact.name, e))
            failed += 1
            continue
        print("%-28s %s (%.0f s)" % (artifact.name, entry["note"], time.time() - started))
        if args.write:
            if model:
                (artifact / INT8_FILE).write_bytes(model)
            else:
                (artifact / INT8_FILE).unlink(missing_ok=True)
            # The session setting benchmarks/ort-settings.py chose for the variant stays with it.
            old = json.loads((artifact / "manifest.json").read_text()).get("int8", {})
            if model and "graph_optimization" in old:
                entry["graph_optimization"] = old["graph_optimization"]
            set_entry(artifact / "manifest.json", "int8", entry)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
