"""Train netFound: `python -m vigil_onnx.train netfound` (masked-token pretraining, then the
traffic-class and malicious heads fine-tuned together), the ports-and-sizes baseline, the
held-out evaluation by capture file, and the export (`python -m vigil_onnx.export netfound`).

Split (deterministic, by capture file): an nDPI capture is a test file when
sha256(path relative to pcap/) mod 100 < --test-pct. The two CIC-DDoS2019 captures are split by
flow instead (the last --cic-test-frac of each file's flows, in the tokenizer's order, are test),
since there are only two and every flow in them matches LUCID's rule. Pretraining uses every
flow of every capture except the test flows (capped per file), labels unused.
"""

from __future__ import annotations

import argparse
import collections
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import netfound_data as ND
from .data import DEFAULT_DATA
from .metrics import report
from .netfound import CLS, MASK, PAD, NetFound, NetFoundConfig

ONNX_DIR = Path(__file__).resolve().parents[1]
SEED = 0
OTHER = "other"


def seed_everything(seed: int = SEED) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.use_deterministic_algorithms(True)


def capped(idx: np.ndarray, files: np.ndarray, cap: int, seed: int = SEED) -> np.ndarray:
    """At most `cap` of `idx` per file (fixed-seed choice), sorted."""
    rng = np.random.default_rng(seed)
    out = []
    for f in np.unique(files[idx]):
        i = idx[files[idx] == f]
        out.append(i if len(i) <= cap else np.sort(rng.choice(i, cap, replace=False)))
    return np.sort(np.concatenate(out)) if out else idx[:0]


def file_weights(idx: np.ndarray, files: np.ndarray, cap: int) -> np.ndarray:
    """Per flow min(1, cap / flows of its file in idx): no file counts for more than `cap` flows."""
    cnt = collections.Counter(files[idx].tolist())
    return np.array([min(1.0, cap / cnt[f]) for f in files[idx]], dtype=np.float32)


def split(flows: ND.Flows, test_pct: int, cic_test_frac: float) -> np.ndarray:
    """Boolean [N]: the flow is a test flow."""
    test = np.zeros(len(flows), dtype=bool)
    for fi, rel in enumerate(flows.files):
        m = flows.file == fi
        if rel in ND.CICDDOS:
            idx = np.flatnonzero(m)
            test[idx[int(round(len(idx) * (1 - cic_test_frac))):]] = True
        elif rel.startswith("ndpi/pcap/") and ND.file_is_test(rel, test_pct):
            test[m] = True
    return test


def choose_classes(flows: ND.Flows, min_files: int) -> list[str]:
    """nDPI master protocols seen in at least `min_files` capture files (all files, by count only);
    the rest fold into "other"."""
    files = collections.defaultdict(set)
    for a, f in zip(flows.app, flows.file):
        if a not in ("", "Unknown"):
            files[a].add(int(f))
    keep = sorted(a for a, s in files.items() if len(s) >= min_files)
    return keep + [OTHER]


def baseline_features(flows: ND.Flows, idx: np.ndarray, top_ports: list[int]) -> np.ndarray:
    """Ports and packet sizes only: protocol one-hot, log ports, one-hot of the responder port
    among the training set's most common ones, and per burst log bytes / log packets / direction
    (the first 12 bursts), plus forward/backward burst and packet totals."""
    n = len(idx)
    proto = np.stack([flows.protocol[idx] == p for p in (6, 17, 1, 58)], 1).astype(np.float32)
    sp, dp = flows.sport[idx], flows.dport[idx]
    pidx = {p: i for i, p in enumerate(top_ports)}
    onehot = np.zeros((n, len(top_ports) + 1), np.float32)
    for r, p in enumerate(dp):
        onehot[r, pidx.get(int(p), len(top_ports))] = 1
    lo = np.zeros((n, len(top_ports) + 1), np.float32)
    for r, p in enumerate(np.minimum(sp, dp)):
        lo[r, pidx.get(int(p), len(top_ports))] = 1
    by, co = np.log1p(flows.bytes[idx]), np.log1p(flows.counts[idx])
    di = flows.directions[idx].astype(np.float32)
    valid = (flows.tokens[idx, :, 0] != PAD).astype(np.float32)
    tot = np.stack([(di * valid).sum(1), ((1 - di) * valid).sum(1),
                    np.log1p((flows.counts[idx] * di).sum(1)), np.log1p((flows.counts[idx] * (1 - di) * valid).sum(1))], 1)
    return np.concatenate([proto, np.log1p(np.stack([sp, dp], 1)) / 11.0, onehot, lo, by / 7, co / 2, di, valid, tot / 3],
                          1).astype(np.float32)


def fit_baseline(xtr, ytr, wtr, xte, n_classes, cw, hidden: int, epochs: int = 300, lr: float = 0.01) -> np.ndarray:
    """Logistic regression (hidden=0) or a one-hidden-layer MLP, full-batch Adam, weighted CE."""
    torch.manual_seed(SEED)
    net = nn.Linear(xtr.shape[1], n_classes) if hidden == 0 else nn.Sequential(
        nn.Linear(xtr.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, n_classes))
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-4)
    xt, yt, wt = torch.from_numpy(xtr), torch.from_numpy(ytr), torch.from_numpy(wtr)
    for _ in range(epochs):
        opt.zero_grad()
        (F.cross_entropy(net(xt), yt, weight=cw, reduction="none") * wt).sum().div(wt.sum()).backward()
        opt.step()
    with torch.no_grad():
        return net(torch.from_numpy(xte)).argmax(1).numpy()


def tensors(flows: ND.Flows, idx) -> tuple:
    return (torch.from_numpy(flows.tokens[idx]), torch.from_numpy(flows.directions[idx]),
            torch.from_numpy(flows.bytes[idx]), torch.from_numpy(flows.counts[idx]),
            torch.from_numpy(flows.iats[idx]), torch.from_numpy(flows.protocol[idx]))


def mask_tokens(tokens: torch.Tensor, frac: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask `frac` of the real (non-PAD, non-CLS) tokens: 80% MASK, 10% random id, 10% kept."""
    real = (tokens != PAD) & (tokens != CLS)
    r = torch.rand(tokens.shape, generator=gen)
    sel = real & (r < frac)
    r2 = torch.rand(tokens.shape, generator=gen)
    out = tokens.clone()
    out[sel & (r2 < 0.8)] = MASK
    rnd = torch.randint(1, 65537, tokens.shape, generator=gen)
    swap = sel & (r2 >= 0.8) & (r2 < 0.9)
    out[swap] = rnd[swap]
    return out, sel


def pretrain(model: NetFound, flows: ND.Flows, idx: np.ndarray, args, log) -> list:
    opt = torch.optim.AdamW(model.parameters(), lr=args.pretrain_lr, weight_decay=0.01)
    steps = args.pretrain_epochs * ((len(idx) + args.batch - 1) // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.pretrain_lr, total_steps=max(1, steps), pct_start=0.1)
    gen = torch.Generator().manual_seed(SEED + 1)
    hist = []
    for ep in range(args.pretrain_epochs):
        model.train()
        t0 = time.time()
        perm = idx[torch.randperm(len(idx), generator=gen).numpy()]
        tot = n = correct = 0
        for s in range(0, len(perm), args.batch):
            tk, di, by, co, ia, pr = tensors(flows, perm[s:s + args.batch])
            masked, sel = mask_tokens(tk, args.mask_frac, gen)
            _, _, _, states, bi = model.forward_packed(masked, di, by, co, ia, pr)
            t = states.shape[1]
            target = tk.reshape(-1, tk.shape[-1])[bi][:, :t]
            m = sel.reshape(-1, tk.shape[-1])[bi][:, :t]
            if not m.any():
                continue
            if int(m.sum()) > args.mlm_max_per_batch:
                # Keep a fixed-seed subset of the masked positions for the loss (the 65,541-way
                # softmax dominates the cost); the others stay masked in the input.
                pos = m.reshape(-1).nonzero().squeeze(1)
                keep = pos[torch.randperm(len(pos), generator=gen)[:args.mlm_max_per_batch]]
                m = torch.zeros_like(m).reshape(-1).index_fill(0, keep, True).reshape(m.shape)
            logits = model.mlm_logits(states[m])
            loss = F.cross_entropy(logits, target[m])
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            k = int(m.sum())
            tot += loss.item() * k
            n += k
            correct += int((logits.argmax(1) == target[m]).sum())
        h = {"epoch": ep + 1, "mlm_loss": round(tot / max(n, 1), 4), "mlm_accuracy": round(correct / max(n, 1), 4),
             "seconds": round(time.time() - t0, 1)}
        hist.append(h)
        log(f"pretrain {h}")
    return hist


def predict(model: NetFound, flows: ND.Flows, idx: np.ndarray, batch: int = 256):
    model.eval()
    probs, mal, emb = [], [], []
    with torch.no_grad():
        for s in range(0, len(idx), batch):
            lg, ml, e, _, _ = model.forward_packed(*tensors(flows, idx[s:s + batch]))
            probs.append(torch.softmax(lg, -1).numpy())
            mal.append(torch.sigmoid(ml).numpy())
            emb.append(e.numpy())
    if not len(idx):
        return np.zeros((0, model.cfg.n_classes)), np.zeros(0), np.zeros((0, model.cfg.d_model))
    return np.concatenate(probs), np.concatenate(mal), np.concatenate(emb)


def finetune(model: NetFound, flows: ND.Flows, idx, ycls, ymal, wcls, wmal, cw, pos_weight, args, log) -> list:
    """Joint fine-tune: weighted CE on flows with a class (ycls >= 0), weighted BCE on flows with a
    malicious label (ymal >= 0)."""
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    steps = args.epochs * ((len(idx) + args.batch - 1) // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=max(1, steps), pct_start=0.1)
    gen = torch.Generator().manual_seed(SEED + 2 + 1000 * args.finetune_seed)
    hist = []
    yc, ym = torch.from_numpy(ycls), torch.from_numpy(ymal).float()
    wc, wm = torch.from_numpy(wcls), torch.from_numpy(wmal)
    for ep in range(args.epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(len(idx), generator=gen)
        tc = tm = 0.0
        for s in range(0, len(idx), args.batch):
            p = perm[s:s + args.batch]
            lg, ml, _, _, _ = model.forward_packed(*tensors(flows, idx[p.numpy()]))
            c, m = yc[p] >= 0, ym[p] >= 0
            loss = lg.sum() * 0
            if c.any():
                lc = F.cross_entropy(lg[c], yc[p][c], weight=cw, reduction="none")
                lc = (lc * wc[p][c]).sum() / (wc[p][c] * cw[yc[p][c]]).sum()
                loss = loss + lc
                tc += lc.item()
            if m.any():
                lm = F.binary_cross_entropy_with_logits(ml[m], ym[p][m], reduction="none",
                                                        pos_weight=torch.tensor(pos_weight))
                lm = (lm * wm[p][m]).sum() / wm[p][m].sum()
                loss = loss + args.mal_weight * lm
                tm += lm.item()
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
        h = {"epoch": ep + 1, "class_loss_sum": round(tc, 3), "malicious_loss_sum": round(tm, 3),
             "seconds": round(time.time() - t0, 1)}
        hist.append(h)
        log(f"finetune {h}")
    return hist


def auc(y: np.ndarray, s: np.ndarray) -> float:
    """ROC AUC by ranks (ties averaged)."""
    pos, neg = y == 1, y == 0
    if not pos.any() or not neg.any():
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    ss = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and ss[j + 1] == ss[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * neg.sum()))


def binary_report(y: np.ndarray, p: np.ndarray, thr: float) -> dict:
    pred = (p >= thr).astype(int)
    tp, fp = int(((pred == 1) & (y == 1)).sum()), int(((pred == 1) & (y == 0)).sum())
    fn, tn = int(((pred == 0) & (y == 1)).sum()), int(((pred == 0) & (y == 0)).sum())
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return {"f1": round(f1, 4), "auc": round(auc(y, p), 4), "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "precision": round(tp / (tp + fp), 4) if tp + fp else None,
            "recall": round(tp / (tp + fn), 4) if tp + fn else None, "threshold": thr}


def train(args) -> None:
    torch.set_num_threads(args.threads)
    seed_everything()
    t0 = time.time()
    work, data = Path(args.work), Path(args.data)
    work.mkdir(parents=True, exist_ok=True)
    lines = []

    def log(s):
        print(s, flush=True)
        lines.append(s)

    flows, stats = ND.load(data, work, args.max_bursts, args.tokens_per_burst, threads=2)
    log(f"tokenized/joined {stats} in {time.time() - t0:.1f}s")
    test = split(flows, args.test_pct, args.cic_test_frac)
    labels = choose_classes(flows, args.min_files)
    lab_idx = {l: i for i, l in enumerate(labels)}
    has_app = np.array([a not in ("", "Unknown") for a in flows.app])
    ycls = np.array([lab_idx.get(a, lab_idx[OTHER]) if h else -1 for a, h in zip(flows.app, has_app)], dtype=np.int64)
    ymal = flows.malicious.copy()

    # Sets.
    tr_all = np.flatnonzero(~test)
    pre_idx = capped(tr_all, flows.file, args.pretrain_file_cap)
    ft_idx = np.flatnonzero(~test & ((ycls >= 0) | (ymal >= 0)))
    ft_idx = capped(ft_idx, flows.file, args.finetune_file_cap)
    te_cls = np.flatnonzero(test & (ycls >= 0))
    te_mal = np.flatnonzero(test & (ymal >= 0))
    tr_cls = ft_idx[ycls[ft_idx] >= 0]
    fi_test = sorted({flows.files[f] for f in np.unique(flows.file[test])})
    fi_cls_tr = sorted({flows.files[f] for f in np.unique(flows.file[tr_cls])})
    fi_cls_te = sorted({flows.files[f] for f in np.unique(flows.file[te_cls])})
    counts = {
        "classes": labels,
        "min_files_per_class": args.min_files,
        "flows_total": len(flows), "capture_files_tokenized": len(flows.files),
        "pretrain_flows": int(len(pre_idx)),
        "finetune_flows": int(len(ft_idx)),
        "traffic_class": {"train_flows": int(len(tr_cls)), "train_files": len(fi_cls_tr),
                          "test_flows": int(len(te_cls)), "test_files": len(fi_cls_te),
                          "train_per_class": {l: int((ycls[tr_cls] == i).sum()) for i, l in enumerate(labels)},
                          "test_per_class": {l: int((ycls[te_cls] == i).sum()) for i, l in enumerate(labels)},
                          "train_files_per_class": {l: len(set(flows.file[tr_cls][ycls[tr_cls] == i].tolist())) for i, l in enumerate(labels)},
                          "test_files_per_class": {l: len(set(flows.file[te_cls][ycls[te_cls] == i].tolist())) for i, l in enumerate(labels)}},
        "malicious": {"train_flows": {"benign": int((ymal[ft_idx] == 0).sum()), "malicious": int((ymal[ft_idx] == 1).sum())},
                      "test_flows": {"benign": int((ymal[te_mal] == 0).sum()), "malicious": int((ymal[te_mal] == 1).sum())},
                      "test_malicious_files": sorted({flows.files[f] for f in np.unique(flows.file[te_mal[ymal[te_mal] == 1]])})},
        "test_nDPI_files": len([f for f in fi_test if f.startswith("ndpi/")]),
    }
    log(json.dumps(counts, indent=1))

    # Baselines on ports + packet sizes, same split and weights.
    ytr, yte = ycls[tr_cls], ycls[te_cls]
    wtr = file_weights(tr_cls, flows.file, args.class_file_cap)
    eff = np.bincount(ytr, weights=wtr, minlength=len(labels))
    cw = torch.tensor((np.maximum(eff, 1e-3) ** -args.class_weight_power) / np.mean(np.maximum(eff, 1e-3) ** -args.class_weight_power),
                      dtype=torch.float32)
    top_ports = [p for p, _ in collections.Counter(flows.dport[tr_cls].tolist()).most_common(args.baseline_ports)]
    xtr, xte = baseline_features(flows, tr_cls, top_ports), baseline_features(flows, te_cls, top_ports)
    baselines = {}
    for name, hidden in (("logistic_regression", 0), ("mlp_64", 64)):
        baselines[name] = report(yte, fit_baseline(xtr, ytr, wtr, xte, len(labels), cw, hidden), labels)
        log(f"baseline {name}: test macro-F1 {baselines[name]['macro_f1']:.4f} acc {baselines[name]['accuracy']:.4f}")

    cfg = NetFoundConfig(n_classes=len(labels), max_bursts=args.max_bursts, tokens_per_burst=args.tokens_per_burst,
                         d_model=args.d_model, burst_layers=args.burst_layers, flow_layers=args.flow_layers,
                         n_heads=args.heads, dropout=args.dropout)
    seed_everything()
    model = NetFound(cfg)
    log(f"parameters: {sum(p.numel() for p in model.parameters()):,}")
    t1 = time.time()
    # The pretrained weights depend only on the flows, the split and these settings: kept in
    # work/ and reused by a later run with the same key (fine-tuning experiments).
    key = json.dumps({k: getattr(args, k) for k in ("tokens_per_burst", "max_bursts", "test_pct", "cic_test_frac",
                                                     "pretrain_epochs", "pretrain_lr", "pretrain_file_cap", "mask_frac",
                                                     "mlm_max_per_batch", "d_model", "heads", "burst_layers",
                                                     "flow_layers", "dropout", "batch")} | {"n_pre": int(len(pre_idx))},
                     sort_keys=True)
    pre_path = work / "pretrained.pt"
    cached = torch.load(pre_path, weights_only=False) if pre_path.exists() else None
    if cached is not None and cached["key"] == key and not args.no_cache:
        model.load_state_dict(cached["state_dict"])
        torch.set_rng_state(cached["rng_state"])  # the same fine-tuning run as after pretraining
        pre_hist = cached["history"]
        log(f"pretrained weights reused from {pre_path}")
    else:
        pre_hist = pretrain(model, flows, pre_idx, args, log) if args.pretrain_epochs > 0 else []
        torch.save({"key": key, "state_dict": model.state_dict(), "history": pre_hist,
                    "rng_state": torch.get_rng_state()}, pre_path)
    t_pre = time.time() - t1

    wmal_all = np.zeros(len(flows), np.float32)
    wmal_all[ft_idx] = file_weights(ft_idx, flows.file, args.class_file_cap)
    wcls_all = np.zeros(len(flows), np.float32)
    wcls_all[tr_cls] = wtr
    mal_tr = ft_idx[ymal[ft_idx] >= 0]
    pos = float((wmal_all[mal_tr] * (ymal[mal_tr] == 1)).sum())
    neg = float((wmal_all[mal_tr] * (ymal[mal_tr] == 0)).sum())
    pos_weight = neg / max(pos, 1e-6)
    if args.finetune_seed:
        # Another fine-tuning run on the same pretrained weights (dropout, batch order): for the
        # spread of the figures; 0 keeps the committed run's random stream.
        torch.manual_seed(SEED + 1000 + args.finetune_seed)
    t2 = time.time()
    ft_hist = finetune(model, flows, ft_idx, ycls[ft_idx], ymal[ft_idx], wcls_all[ft_idx], wmal_all[ft_idx], cw,
                       pos_weight, args, log)
    t_ft = time.time() - t2

    probs, _, _ = predict(model, flows, te_cls)
    pred = probs.argmax(1)
    final = report(yte, pred, labels)
    conf = np.zeros((len(labels), len(labels)), dtype=int)
    for a, b in zip(yte, pred):
        conf[a, b] += 1
    _, malp, _ = predict(model, flows, te_mal)
    mal_rep = binary_report(ymal[te_mal], malp, args.mal_threshold)
    by_src = {}
    for f in np.unique(flows.file[te_mal]):
        m = flows.file[te_mal] == f
        rel = flows.files[f]
        key = rel if (rel in ND.CICDDOS or rel.rsplit("/", 1)[1] in ND.MALICIOUS_CAPTURES) else "benign nDPI test files"
        d = by_src.setdefault(key, {"flows": 0, "flagged": 0})
        d["flows"] += int(m.sum())
        d["flagged"] += int((malp[m] >= args.mal_threshold).sum())
    mal_rep["by_source"] = by_src
    # Malicious head on file-held-out flows only (the nDPI test files: malware captures vs benign).
    nd = np.array([not flows.files[f].startswith("attacks/") for f in flows.file[te_mal]])
    mal_rep["ndpi_files_only"] = binary_report(ymal[te_mal][nd], malp[nd], args.mal_threshold)
    log(f"netFound test macro-F1 {final['macro_f1']:.4f} acc {final['accuracy']:.4f}; per class "
        f"{ {k: v['f1'] for k, v in final['per_class'].items()} }")
    log(f"confusion (rows true, cols pred, order {labels}):\n{conf}")
    log(f"malicious head: {mal_rep}")

    torch.save({"config": cfg.to_dict(), "state_dict": model.state_dict()}, work / "model.pt")
    meta = {
        "labels": labels,
        "split": {"kind": "by capture file: nDPI captures with sha256(path relative to pcap/) mod 100 < test_pct are test; "
                          "the two CIC-DDoS2019 captures by flow (last cic_test_frac of each file's flows)",
                  "test_pct": args.test_pct, "cic_test_frac": args.cic_test_frac, "test_files": fi_test},
        "counts": counts,
        "training": {
            "pretrain": {"objective": f"masked-token prediction ({args.mask_frac:.0%} of real non-CLS tokens: 80% MASK, 10% random, 10% kept)",
                         "epochs": args.pretrain_epochs, "lr": args.pretrain_lr, "flows_per_file_cap": args.pretrain_file_cap,
                         "seconds": round(t_pre, 1), "history": pre_hist},
            "finetune": {"objective": "traffic-class cross-entropy (class weights = effective frequency^-%s, flows weighted so no "
                                      "file counts for more than %d) + %s x malicious BCE (pos_weight balanced)"
                                      % (args.class_weight_power, args.class_file_cap, args.mal_weight),
                         "epochs": args.epochs, "lr": args.lr, "batch": args.batch, "flows_per_file_cap": args.finetune_file_cap,
                         "seconds": round(t_ft, 1), "history": ft_hist},
            "optimizer": "AdamW + OneCycle, grad-norm clip 1.0", "seed": SEED, "threads": args.threads,
        },
        "metrics": {
            "traffic_class_test": final,
            "traffic_class_confusion": {"order": labels, "rows_true_cols_pred": conf.tolist()},
            "baseline_ports_and_sizes_test": baselines,
            "malicious_test": mal_rep,
        },
        "stats": stats,
        "args": {k: v for k, v in vars(args).items() if k != "func"},
        "log": lines,
    }
    (work / "meta.json").write_text(json.dumps(meta, indent=1, default=str))
    np.save(work / "test_cls_idx.npy", te_cls)
    np.save(work / "test_mal_idx.npy", te_mal)
    if not args.no_export:
        from .netfound_export import export
        export(work, flows, te_cls, ycls[te_cls], Path(args.artifacts))
    print(f"total {time.time() - t0:.1f}s")


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("netfound", help="netFound hierarchical transformer on the shared pcaps (nDPI classes + malicious)")
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--artifacts", default=str(ONNX_DIR / "artifacts" / "netfound"))
    p.add_argument("--work", default=str(ONNX_DIR / "build" / "netfound"), help="tokenized flows and checkpoint")
    p.add_argument("--max-bursts", type=int, default=12)
    p.add_argument("--tokens-per-burst", type=int, default=55, help="CLS + 3 packets x 18 tokens")
    p.add_argument("--test-pct", type=int, default=25)
    p.add_argument("--cic-test-frac", type=float, default=0.3)
    p.add_argument("--min-files", type=int, default=8, help="a class needs this many capture files, else 'other'")
    p.add_argument("--pretrain-epochs", type=int, default=3)
    p.add_argument("--pretrain-lr", type=float, default=1e-3)
    p.add_argument("--pretrain-file-cap", type=int, default=300)
    p.add_argument("--mask-frac", type=float, default=0.15)
    p.add_argument("--mlm-max-per-batch", type=int, default=256, help="masked positions scored per batch")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--finetune-file-cap", type=int, default=400)
    p.add_argument("--class-file-cap", type=int, default=50)
    p.add_argument("--class-weight-power", type=float, default=0.5)
    p.add_argument("--mal-weight", type=float, default=0.5)
    p.add_argument("--mal-threshold", type=float, default=0.5)
    p.add_argument("--baseline-ports", type=int, default=50)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--burst-layers", type=int, default=2)
    p.add_argument("--flow-layers", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-export", action="store_true")
    p.add_argument("--no-cache", action="store_true", help="pretrain even when work/pretrained.pt matches")
    p.add_argument("--finetune-seed", type=int, default=0, help="0: the committed run; N: another fine-tuning seed")
    return p
