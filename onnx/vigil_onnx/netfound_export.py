"""Export netFound to ONNX with its manifest and parity fixture (`python -m vigil_onnx.export netfound`
re-exports the last checkpoint in onnx/build/netfound/)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from . import __version__
from . import netfound_data as ND
from .export import OPSET, PARITY_TOL, parity_rows, sha256
from .fixtures import write_parity
from .metrics import report
from .netfound import CLS, EOS, MASK, PAD, PROTOCOLS, VOCAB, NetFound, NetFoundConfig, NetFoundExport

INPUTS = ["tokens", "directions", "bytes", "counts", "iats", "protocol"]
OUTPUTS = ["probs", "malicious", "embedding"]
PARITY_ROWS = 256
JSON_ROWS = 24


def load_checkpoint(work: Path) -> NetFound:
    ckpt = torch.load(work / "model.pt", map_location="cpu", weights_only=True)
    model = NetFound(NetFoundConfig(**ckpt["config"]))
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()


def export(work: Path, flows: ND.Flows, te_cls: np.ndarray, yte: np.ndarray, out: Path) -> dict:
    import onnx
    import onnxruntime as ort

    meta = json.loads((work / "meta.json").read_text())
    model = load_checkpoint(work)
    cfg = model.cfg
    wrapped = NetFoundExport(model).eval()
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / "model.onnx"

    # Parity rows: test flows, every class present (round robin), then a few malicious test flows
    # (first in the JSON fixture, which keeps the first JSON_ROWS rows).
    te_mal = np.load(work / "test_mal_idx.npy")
    mal_rows = te_mal[flows.malicious[te_mal] == 1]
    rng = np.random.default_rng(0)
    mal_rows = np.sort(rng.choice(mal_rows, min(8, len(mal_rows)), replace=False)) if len(mal_rows) else mal_rows
    cls_rows = te_cls[parity_rows(yte, PARITY_ROWS - len(mal_rows))]
    rows = np.concatenate([cls_rows[:JSON_ROWS - len(mal_rows)], mal_rows, cls_rows[JSON_ROWS - len(mal_rows):]])
    inputs = {k: np.ascontiguousarray(v) for k, v in flows.inputs(rows).items()}
    tin = tuple(torch.from_numpy(inputs[k]) for k in INPUTS)
    with torch.no_grad():
        probs, mal, emb = (t.numpy().astype(np.float32) for t in wrapped(*tin))
    expected = {"probs": probs, "malicious": mal, "embedding": emb}

    torch.onnx.export(
        wrapped, tin, str(onnx_path), input_names=INPUTS, output_names=OUTPUTS,
        # Bursts and tokens are dynamic too: a batch is cut to its longest flow (padding is masked).
        dynamic_axes={
            **{k: {0: "batch"} for k in INPUTS}, **{k: {0: "batch"} for k in OUTPUTS},
            "tokens": {0: "batch", 1: "bursts", 2: "tokens"},
            **{k: {0: "batch", 1: "bursts"} for k in ("directions", "bytes", "counts", "iats")},
        },
        opset_version=OPSET, dynamo=False, do_constant_folding=True,
    )
    onnx.checker.check_model(onnx.load(str(onnx_path)))

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = dict(zip(OUTPUTS, sess.run(OUTPUTS, inputs)))
    diffs = {k: float(np.max(np.abs(got[k] - expected[k]))) for k in OUTPUTS}
    max_diff = max(diffs.values())
    print(f"parity: {len(rows)} rows, max abs diff ONNX Runtime vs PyTorch = {diffs}")
    if max_diff > PARITY_TOL:
        raise SystemExit(f"parity failed: {diffs} > {PARITY_TOL}")
    for b in (1, 7):
        sub = {k: v[:b] for k, v in inputs.items()}
        for k, g in zip(OUTPUTS, sess.run(OUTPUTS, sub)):
            assert np.max(np.abs(g - expected[k][:b])) <= PARITY_TOL, (b, k)

    # The exported (dense) graph on the whole traffic-class test set gives the same figures as
    # the packed PyTorch path used in training.
    labels = meta["labels"]
    preds = []
    for s in range(0, len(te_cls), 128):
        preds.append(sess.run(["probs"], flows.inputs(te_cls[s:s + 128]))[0].argmax(1))
    ort_report = report(yte, np.concatenate(preds), labels)
    print(f"ONNX Runtime test macro-F1 {ort_report['macro_f1']:.4f}")

    write_parity(out, inputs, expected, json_rows=JSON_ROWS)

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s1 = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    latency = {}
    for b in (1, 32, 256):
        sub = {k: np.repeat(v, (b + len(rows) - 1) // len(rows), axis=0)[:b] for k, v in inputs.items()}
        s1.run(OUTPUTS, sub)
        n = max(3, 100 // b)
        t = time.perf_counter()
        for _ in range(n):
            s1.run(OUTPUTS, sub)
        latency[f"batch_{b}_ms"] = round((time.perf_counter() - t) / n * 1e3, 3)

    nb, t, c, d = cfg.max_bursts, cfg.tokens_per_burst, cfg.n_classes, cfg.d_model
    manifest = {
        "name": "netfound",
        "family": "netfound",
        "version": __version__,
        "model_file": "model.onnx",
        "sha256": sha256(onnx_path),
        "opset": OPSET,
        "exporter": f"torch.onnx.export (dynamo=False), torch {torch.__version__}",
        "inputs": [
            {"name": "tokens", "dtype": "int64", "shape": [-1, nb, t]},
            {"name": "directions", "dtype": "int64", "shape": [-1, nb]},
            {"name": "bytes", "dtype": "float32", "shape": [-1, nb]},
            {"name": "counts", "dtype": "float32", "shape": [-1, nb]},
            {"name": "iats", "dtype": "float32", "shape": [-1, nb]},
            {"name": "protocol", "dtype": "int64", "shape": [-1]},
        ],
        "outputs": [
            {"name": "probs", "dtype": "float32", "shape": [-1, c]},
            {"name": "malicious", "dtype": "float32", "shape": [-1]},
            {"name": "embedding", "dtype": "float32", "shape": [-1, d]},
        ],
        "labels": labels,
        "decision": "traffic class = labels[argmax probs]; malicious when malicious >= thresholds.malicious; "
                    "embedding = the flow-level representation (mean of the flow encoder's states over the flow's "
                    "non-empty bursts) for clustering",
        "thresholds": {"malicious": meta["args"]["mal_threshold"]},
        "architecture": {
            **cfg.to_dict(),
            "token_embedding": f"factorised: Embedding({cfg.vocab}, {cfg.d_embed}) -> Linear({cfg.d_embed}, {d})",
            "metadata_embedding": "per burst, added to every token of the burst: Embedding(2) of the direction + "
                                  "MLP(3 -> d -> d, GELU) of [log1p(bytes), log1p(packets), log1p(IAT us) / 4] + "
                                  f"Embedding(5) of the protocol ({', '.join(map(str, PROTOCOLS))} -> 1..4, other 0)",
            "burst_encoder": "pre-LN blocks, rotary positions over the token index (RoFormer, half split), "
                             "padding tokens (0) masked as keys, final LayerNorm; the burst's CLS state goes up",
            "flow_encoder": "pre-LN blocks over the bursts' CLS states, rotary positions over the burst index, "
                            "padded bursts (all tokens 0) masked as keys, final LayerNorm, mean over non-empty bursts",
            "heads": "traffic class: linear -> softmax; malicious: linear -> sigmoid; both on the embedding",
            "pretraining_head": "masked-token prediction through the tied factorised embedding (not in the graph)",
        },
        "preprocessing": {
            "tokenizer": "vigil tokenize netfound (defaults: --burst-gap-ms 10 --max-packets-per-burst 6 "
                         "--max-bursts 12, 12-byte payload prefix on, no TCP options, CLS prepended)",
            "max_bursts": nb,
            "tokens_per_burst": t,
            "tokens": f"each flow's burst_tokens as written (CLS {CLS} first), each burst truncated to "
                      f"tokens_per_burst or right-padded with {PAD}; missing bursts all {PAD}",
            "directions": "1 = forward, 0 = backward or padded burst",
            "bytes_counts_iats": "raw tokenizer values (bytes, packets, microseconds), 0 for padded bursts; "
                                 "log scaling is in the graph",
            "protocol": "raw IP protocol number; mapped in the graph",
            "vocabulary": {"size": VOCAB, "pad": PAD, "cls": CLS, "mask": MASK, "eos": EOS,
                           "words": "16-bit words + 1"},
        },
        "training_data": {
            "source": "every capture of shared/data/pcap (INDEX.csv), each tokenized on its own by `vigil tokenize "
                      "netfound` and joined to `vigil flows` of the same file on flow_id (community_id checked)",
            "traffic_class_labels": "nDPI master protocol from pcap/derived/ndpi_flows_expected.csv, matched on "
                                    "(pcap, L4 protocol, both endpoints in either direction); Unknown / unmatched "
                                    f"flows used for pretraining only; classes seen in >= {meta['args']['min_files']} training "
                                    "capture files, the rest folded into 'other'",
            "malicious_labels": "CIC-DDoS2019 SynFlood/WebDDoS captures with LUCID's rule (attacker 172.16.0.5 <-> "
                                "victims 192.168.50.1/.4; every flow in the two sample captures matches it, so they "
                                "give no benign flows); every flow of the malware/scan captures "
                                f"{ND.MALICIOUS_CAPTURES}; benign = nDPI-labelled (not Unknown) flows of the other nDPI captures",
            "split": meta["split"],
            "counts": meta["counts"],
            "join_stats": meta["stats"],
        },
        "training": meta["training"],
        "metrics": {
            **meta["metrics"],
            "traffic_class_test_onnxruntime": {"macro_f1": ort_report["macro_f1"], "accuracy": ort_report["accuracy"]},
            "parity_max_abs_diff_onnxruntime_vs_pytorch": diffs,
            "onnxruntime_cpu_latency_1_thread": latency,
        },
        **({"operating_points": meta["operating_points"]} if "operating_points" in meta else {}),
        "parity": {
            "fixture": f"parity.json (first {JSON_ROWS} rows)",
            "inputs": "parity_inputs.npz",
            "outputs": "parity_outputs.npz",
            "rows": int(len(rows)),
            "tolerance": PARITY_TOL,
            "source": "PyTorch eval-mode outputs of test flows (every traffic class, plus malicious flows)",
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"artifacts in {out}: {size / 1024:.0f} KiB (model.onnx {onnx_path.stat().st_size / 1024:.0f} KiB); latency {latency}")
    return manifest


def export_from_checkpoint(work: Path, out: Path) -> dict:
    meta = json.loads((work / "meta.json").read_text())
    a = meta["args"]
    flows, _ = ND.load(Path(a["data"]), work, a["max_bursts"], a["tokens_per_burst"])
    labels = meta["labels"]
    idx = {l: i for i, l in enumerate(labels)}
    te_cls = np.load(work / "test_cls_idx.npy")
    yte = np.array([idx.get(x, idx["other"]) for x in flows.app[te_cls]], dtype=np.int64)
    return export(work, flows, te_cls, yte, out)
