"""Train netFound: `python -m vigil_onnx.train netfound` (masked-token pretraining, then the
traffic-class and malicious heads fine-tuned together), the ports-and-sizes baseline, the
held-out evaluation by capture file, and the export (`python -m vigil_onnx.export netfound`).

Split (issue 12's protocol, committed as `onnx/splits/netfound.json`): by capture file only,
never by flow. A capture is test when sha256(path relative to pcap/) mod 100 < 25, validation
when it is in [25, 45), else training; of the two CIC-DDoS2019 captures SynFlood trains and
WebDDoS tests. Pretraining uses every flow of every training capture (capped per file), labelled
or not. The class list comes from the training files only; the minimum number of training files
a class needs, the epoch count and the exported seed are chosen on validation; test is read once.
"""

from __future__ import annotations

import argparse
import collections
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import netfound_data as ND
from . import protocol as P
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


SEEDS = (0, 1, 2)


def choose_classes(flows: ND.Flows, min_files: int, train: np.ndarray) -> list[str]:
    """nDPI master protocols seen in at least `min_files` training capture files; the rest fold
    into "other"."""
    files = collections.defaultdict(set)
    for a, f in zip(flows.app[train], flows.file[train]):
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


def fit_baseline(xtr, ytr, wtr, xte, n_classes, cw, hidden: int, epochs: int = 300, lr: float = 0.01,
                 seed: int = SEED) -> np.ndarray:
    """Logistic regression (hidden=0) or a one-hidden-layer MLP, full-batch Adam, weighted CE."""
    torch.manual_seed(seed)
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


def finetune(model: NetFound, flows: ND.Flows, idx, ycls, ymal, wcls, wmal, cw, pos_weight, args, log,
             seed: int = 0, val=None) -> list:
    """Joint fine-tune: weighted CE on flows with a class (ycls >= 0), weighted BCE on flows with a
    malicious label (ymal >= 0). With `val` (a function of the model giving the validation
    macro-F1), the epoch with the best one is kept."""
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    steps = args.epochs * ((len(idx) + args.batch - 1) // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=max(1, steps), pct_start=0.1)
    gen = torch.Generator().manual_seed(SEED + 2 + 1000 * seed)
    hist, best, best_state = [], -1.0, None
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
        if val is not None:
            h["val_macro_f1"] = round(val(model), 4)
            if h["val_macro_f1"] > best:
                best, best_state = h["val_macro_f1"], copy.deepcopy(model.state_dict())
        hist.append(h)
        log(f"finetune seed {seed} {h}")
    if val is not None:
        model.load_state_dict(best_state)
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


def class_targets(flows: ND.Flows, labels: list[str]) -> np.ndarray:
    """[N] class index of each flow's nDPI protocol (unlisted -> "other"), -1 when unlabelled."""
    idx = {l: i for i, l in enumerate(labels)}
    return np.array([idx.get(a, idx[OTHER]) if a not in ("", "Unknown") else -1 for a in flows.app], dtype=np.int64)


def class_weights(y: np.ndarray, w: np.ndarray, n: int, power: float) -> torch.Tensor:
    """Effective (file-weighted) class frequency to the -power, mean 1."""
    eff = np.maximum(np.bincount(y, weights=w, minlength=n), 1e-3) ** -power
    return torch.tensor(eff / eff.mean(), dtype=torch.float32)


def malicious_by_family(flows: ND.Flows, idx: np.ndarray, p: np.ndarray, thr: float) -> dict:
    """Per malicious test capture (a family: one malware or scan capture, or the DDoS capture's
    attack flows): its flows against every benign test flow, F1 at `thr` and AUC."""
    y = flows.malicious[idx]
    benign = y == 0
    out = {}
    for f in np.unique(flows.file[idx][y == 1]):
        fam = (flows.file[idx] == f) & (y == 1)
        m = fam | benign
        out[flows.files[f]] = {"flows": int(fam.sum()), **binary_report(y[m], p[m], thr)}
    return out


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
    part = ND.split(flows)
    is_tr, is_va, is_te = (part == p for p in ND.PARTS)
    ymal = flows.malicious.copy()
    pre_idx = capped(np.flatnonzero(is_tr), flows.file, args.pretrain_file_cap)

    cfg_for = lambda n: NetFoundConfig(n_classes=n, max_bursts=args.max_bursts, tokens_per_burst=args.tokens_per_burst,
                                       d_model=args.d_model, burst_layers=args.burst_layers, flow_layers=args.flow_layers,
                                       n_heads=args.heads, dropout=args.dropout)
    # Pretraining depends only on the flows, the split and these settings: kept in work/ and reused
    # by a later run with the same key. Its class head is replaced for each class list.
    seed_everything()
    base = NetFound(cfg_for(2))
    key = json.dumps({k: getattr(args, k) for k in ("tokens_per_burst", "max_bursts", "pretrain_epochs", "pretrain_lr",
                                                     "pretrain_file_cap", "mask_frac", "mlm_max_per_batch", "d_model",
                                                     "heads", "burst_layers", "flow_layers", "dropout", "batch")}
                     | {"n_pre": int(len(pre_idx)), "split": "netfound.json"}, sort_keys=True)
    pre_path = work / "pretrained.pt"
    cached = torch.load(pre_path, weights_only=False) if pre_path.exists() else None
    t1 = time.time()
    if cached is not None and cached["key"] == key and not args.no_cache:
        base.load_state_dict(cached["state_dict"])
        pre_hist = cached["history"]
        log(f"pretrained weights reused from {pre_path}")
    else:
        pre_hist = pretrain(base, flows, pre_idx, args, log) if args.pretrain_epochs > 0 else []
        torch.save({"key": key, "state_dict": base.state_dict(), "history": pre_hist}, pre_path)
    t_pre = time.time() - t1
    pretrained = {k: v for k, v in base.state_dict().items() if not k.startswith("cls_head")}

    def run(labels: list[str], seed: int) -> dict:
        """Fine-tune the pretrained model for `labels` with `seed`; the best validation epoch kept."""
        ycls = class_targets(flows, labels)
        ft_idx = capped(np.flatnonzero(is_tr & ((ycls >= 0) | (ymal >= 0))), flows.file, args.finetune_file_cap)
        tr_cls = ft_idx[ycls[ft_idx] >= 0]
        va_cls = np.flatnonzero(is_va & (ycls >= 0))
        wtr = file_weights(tr_cls, flows.file, args.class_file_cap)
        cw = class_weights(ycls[tr_cls], wtr, len(labels), args.class_weight_power)
        wmal_all = np.zeros(len(flows), np.float32)
        wmal_all[ft_idx] = file_weights(ft_idx, flows.file, args.class_file_cap)
        wcls_all = np.zeros(len(flows), np.float32)
        wcls_all[tr_cls] = wtr
        mal_tr = ft_idx[ymal[ft_idx] >= 0]
        pos = float((wmal_all[mal_tr] * (ymal[mal_tr] == 1)).sum())
        neg = float((wmal_all[mal_tr] * (ymal[mal_tr] == 0)).sum())
        torch.manual_seed(SEED + 1000 + seed)
        model = NetFound(cfg_for(len(labels)))
        model.load_state_dict(pretrained, strict=False)
        val = lambda m: report(ycls[va_cls], predict(m, flows, va_cls)[0].argmax(1), labels)["macro_f1"]
        hist = finetune(model, flows, ft_idx, ycls[ft_idx], ymal[ft_idx], wcls_all[ft_idx], wmal_all[ft_idx], cw,
                        neg / max(pos, 1e-6), args, log, seed=seed, val=val)
        return {"model": model, "seed": seed, "labels": labels, "ycls": ycls, "history": hist,
                "val": max(h["val_macro_f1"] for h in hist), "ft_idx": ft_idx, "tr_cls": tr_cls, "cw": cw, "wtr": wtr}

    # Choices on validation: the class rule (min training files per class), then epochs (best
    # validation epoch) and the exported seed.
    grid = {}
    for mf in args.min_files_grid:
        labels = choose_classes(flows, mf, is_tr)
        grid[mf] = run(labels, SEEDS[0])
        log(f"min_files {mf}: classes {labels}, val macro-F1 {grid[mf]['val']:.4f}")
    min_files = max(grid, key=lambda k: grid[k]["val"])
    runs = [grid[min_files]] + [run(grid[min_files]["labels"], s) for s in SEEDS[1:]]
    labels, ycls = runs[0]["labels"], runs[0]["ycls"]
    best = max(runs, key=lambda r: r["val"])
    va_cls, te_cls = np.flatnonzero(is_va & (ycls >= 0)), np.flatnonzero(is_te & (ycls >= 0))
    va_mal, te_mal = np.flatnonzero(is_va & (ymal >= 0)), np.flatnonzero(is_te & (ymal >= 0))
    yte = ycls[te_cls]

    # Baselines on ports + packet sizes: same training flows and weights, 3 seeds.
    tr_cls = best["tr_cls"]
    top_ports = [p for p, _ in collections.Counter(flows.dport[tr_cls].tolist()).most_common(args.baseline_ports)]
    xtr, xte = baseline_features(flows, tr_cls, top_ports), baseline_features(flows, te_cls, top_ports)
    baselines = {}
    for name, hidden in (("logistic_regression", 0), ("mlp_64", 64)):
        reps = []
        for s_ in SEEDS:
            torch.manual_seed(s_)
            reps.append(report(yte, fit_baseline(xtr, ycls[tr_cls], best["wtr"], xte, len(labels), best["cw"], hidden,
                                                 seed=s_), labels))
        baselines[name] = {"macro_f1": P.mean_std([r["macro_f1"] for r in reps]),
                           "accuracy": P.mean_std([r["accuracy"] for r in reps]), "seed_0": reps[0]}
        log(f"baseline {name}: test {baselines[name]['macro_f1']} acc {baselines[name]['accuracy']}")

    # Test, read once per model.
    for r in runs:
        probs, malp, _ = predict(r["model"], flows, te_cls)
        r["test"] = report(yte, probs.argmax(1), labels)
        r["test_probs"] = probs
    model = best["model"]
    probs = best["test_probs"]
    pred = probs.argmax(1)
    final = best["test"]
    conf = np.zeros((len(labels), len(labels)), dtype=int)
    for a_, b_ in zip(yte, pred):
        conf[a_, b_] += 1
    # Malicious head: threshold for the stated false-positive rates on validation benign flows.
    _, malv, _ = predict(model, flows, va_mal)
    _, malp, _ = predict(model, flows, te_mal)
    points = P.operating_points(malv, ymal[va_mal] == 1, malp, ymal[te_mal] == 1, score="malicious")
    mal_rep = binary_report(ymal[te_mal], malp, args.mal_threshold)
    mal_rep["by_family"] = malicious_by_family(flows, te_mal, malp, args.mal_threshold)
    mal_rep["validation"] = binary_report(ymal[va_mal], malv, args.mal_threshold)
    files_te = flows.file[te_cls]
    ci = P.bootstrap_ci(lambda i: report(yte[i], pred[i], labels)["macro_f1"], np.zeros(len(yte)), files_te)
    table = {"netfound": {"validation_macro_f1": P.mean_std([r["val"] for r in runs]),
                          "test_macro_f1": P.mean_std([r["test"]["macro_f1"] for r in runs]),
                          "test_accuracy": P.mean_std([r["test"]["accuracy"] for r in runs])},
             **{f"baseline_{k}": {"test_macro_f1": v["macro_f1"], "test_accuracy": v["accuracy"]}
                for k, v in baselines.items()}}
    log(f"netFound: {json.dumps(table)}; exported seed {best['seed']} test {final['macro_f1']:.4f} "
        f"acc {final['accuracy']:.4f}, 95% CI over files {ci}")
    log(f"confusion (rows true, cols pred, order {labels}):\n{conf}")
    log(f"malicious head: {json.dumps(mal_rep)}")

    files_of = lambda m: sorted({flows.files[f] for f in np.unique(flows.file[m])})
    counts = {
        "classes": labels, "min_files_per_class": min_files,
        "flows_total": len(flows), "capture_files_tokenized": len(flows.files),
        "files": {p: len(files_of(part == p)) for p in ND.PARTS},
        "pretrain_flows": int(len(pre_idx)), "finetune_flows": int(len(best["ft_idx"])),
        "traffic_class": {"train_flows": int(len(tr_cls)), "validation_flows": int(len(va_cls)),
                          "test_flows": int(len(te_cls)), "test_files": len(files_of(te_cls)),
                          "train_per_class": {l: int((ycls[tr_cls] == i).sum()) for i, l in enumerate(labels)},
                          "test_per_class": {l: int((yte == i).sum()) for i, l in enumerate(labels)},
                          "train_files_per_class": {l: len(set(flows.file[tr_cls][ycls[tr_cls] == i].tolist()))
                                                    for i, l in enumerate(labels)},
                          "test_files_per_class": {l: len(set(files_te[yte == i].tolist())) for i, l in enumerate(labels)}},
        "malicious": {"test_flows": {"benign": int((ymal[te_mal] == 0).sum()), "malicious": int((ymal[te_mal] == 1).sum())},
                      "test_malicious_files": sorted(mal_rep["by_family"])},
    }
    args.min_files = min_files
    torch.save({"config": model.cfg.to_dict(), "state_dict": model.state_dict()}, work / "model.pt")
    meta = {
        "labels": labels,
        "split": {"kind": P.load_split("netfound")["rule"], "committed": "onnx/splits/netfound.json",
                  "test_files": files_of(is_te)},
        "counts": counts,
        "training": {
            "pretrain": {"objective": f"masked-token prediction ({args.mask_frac:.0%} of real non-CLS tokens: 80% MASK, 10% random, 10% kept)",
                         "flows": "every flow of the training captures, labelled or not (capped per file)",
                         "epochs": args.pretrain_epochs, "lr": args.pretrain_lr, "flows_per_file_cap": args.pretrain_file_cap,
                         "seconds": round(t_pre, 1), "history": pre_hist},
            "finetune": {"objective": "traffic-class cross-entropy (class weights = effective frequency^-%s, flows weighted so no "
                                      "file counts for more than %d) + %s x malicious BCE (pos_weight balanced)"
                                      % (args.class_weight_power, args.class_file_cap, args.mal_weight),
                         "max_epochs": args.epochs, "lr": args.lr, "batch": args.batch,
                         "flows_per_file_cap": args.finetune_file_cap, "seeds": list(SEEDS),
                         "history": best["history"]},
            "chosen_on_validation": {
                "min_files_per_class": {str(k): round(v["val"], 4) for k, v in grid.items()},
                "epoch": "the fine-tuning epoch with the best validation macro-F1",
                "exported_seed": best["seed"]},
            "optimizer": "AdamW + OneCycle, grad-norm clip 1.0", "threads": args.threads,
        },
        "metrics": {
            "protocol": ("issue 12: split by capture file (onnx/splits/netfound.json), class list from training "
                         "files, choices on validation, test read once"),
            "table_mean_std_over_seeds": table,
            "traffic_class_test": final,
            "traffic_class_test_macro_f1_bootstrap_95_over_files": ci,
            "traffic_class_confusion": {"order": labels, "rows_true_cols_pred": conf.tolist()},
            "baseline_ports_and_sizes_test": baselines,
            "malicious_test": mal_rep,
        },
        "operating_points": points,
        "stats": stats,
        "args": {k: v for k, v in vars(args).items() if k != "func"},
        "log": lines,
    }
    (work / "meta.json").write_text(json.dumps(meta, indent=1, default=str))
    np.save(work / "test_cls_idx.npy", te_cls)
    np.save(work / "test_mal_idx.npy", te_mal)
    if not args.no_export:
        from .netfound_export import export
        export(work, flows, te_cls, yte, Path(args.artifacts))
    print(f"total {time.time() - t0:.1f}s")


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("netfound", help="netFound hierarchical transformer on the shared pcaps (nDPI classes + malicious)")
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--artifacts", default=str(ONNX_DIR / "artifacts" / "netfound"))
    p.add_argument("--work", default=str(ONNX_DIR / "build" / "netfound"), help="tokenized flows and checkpoint")
    p.add_argument("--max-bursts", type=int, default=12)
    p.add_argument("--tokens-per-burst", type=int, default=55, help="CLS + 3 packets x 18 tokens")
    p.add_argument("--min-files-grid", type=int, nargs="+", default=[4, 8],
                   help="a class needs this many training capture files, else 'other' (chosen on validation)")
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
    return p
