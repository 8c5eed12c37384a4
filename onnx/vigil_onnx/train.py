"""Train and export a model family: `python -m vigil_onnx.train flow_transformer` (also
`flow_transformer_iot23`, `itransformer`, `hstu`).

Deterministic: fixed seeds, one thread, deterministic algorithms.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import data as D
from . import hstu as H
from .flow_transformer import FlowTransformer, FlowTransformerConfig
from .metrics import report

ONNX_DIR = Path(__file__).resolve().parents[1]
BUILD = ONNX_DIR / "build"
SEED = 0


def seed_everything(seed: int = SEED) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.use_deterministic_algorithms(True)


def class_weights(y: np.ndarray, n: int, power: float) -> torch.Tensor:
    """Inverse frequency to `power` (1 = balanced, 0.5 = inverse square root), mean 1."""
    counts = np.bincount(y, minlength=n).astype(np.float64)
    w = np.maximum(counts, 1.0) ** -power
    return torch.tensor(w / w.mean(), dtype=torch.float32)


def last_flow_features(w: D.Windows, levels: list[int]) -> np.ndarray:
    """The baseline's features: the scored (last) flow's numerics plus one-hot categoricals."""
    num = w.numeric[:, -1, :]
    cat = w.categorical[:, -1, :]
    onehots = [np.eye(n + 1, dtype=np.float32)[cat[:, i]] for i, n in enumerate(levels)]
    return np.concatenate([num] + onehots, axis=1).astype(np.float32)


def train_logreg(xtr, ytr, xva, n_classes, weights, epochs=400, lr=0.05) -> np.ndarray:
    """Multinomial logistic regression (full batch Adam, L2); returns validation predictions."""
    torch.manual_seed(SEED)
    lin = nn.Linear(xtr.shape[1], n_classes)
    opt = torch.optim.Adam(lin.parameters(), lr=lr, weight_decay=1e-5)
    xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr)
    loss_fn = nn.CrossEntropyLoss(weight=weights)
    for _ in range(epochs):
        opt.zero_grad()
        loss_fn(lin(xt), yt).backward()
        opt.step()
    with torch.no_grad():
        return lin(torch.from_numpy(xva)).argmax(1).numpy()


def predict(model: FlowTransformer, w: D.Windows, batch: int = 1024) -> np.ndarray:
    model.eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(w), batch):
            out.append(model(
                torch.from_numpy(w.numeric[s:s + batch]),
                torch.from_numpy(w.categorical[s:s + batch]),
                torch.from_numpy(w.padding[s:s + batch]),
            ).argmax(1).numpy())
    return np.concatenate(out)


def fit_flow_transformer(tr: D.Windows, ytr: np.ndarray, va: D.Windows, yva: np.ndarray,
                         labels: list[str], levels: list[int], args) -> dict:
    """The logistic-regression baseline and a seeded FlowTransformer, both trained on `tr` and
    evaluated on `va`. Returns model, config, reports, history and validation predictions."""
    cfg = FlowTransformerConfig(window=tr.numeric.shape[1], n_numeric=tr.numeric.shape[2],
                                categorical_levels=levels, n_classes=len(labels),
                                d_model=args.d_model, n_layers=args.layers)
    weights = class_weights(ytr, len(labels), args.class_weight_power)

    # Baseline: logistic regression on the last flow's features only.
    t1 = time.time()
    base_pred = train_logreg(last_flow_features(tr, levels), ytr, last_flow_features(va, levels),
                             len(labels), weights)
    base = report(yva, base_pred, labels)
    print(f"logistic regression baseline: macro-F1 {base['macro_f1']:.4f} ({time.time() - t1:.1f}s)")

    seed_everything()
    model = FlowTransformer(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    steps = args.epochs * ((len(tr) + args.batch - 1) // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.1)
    loss_fn = nn.CrossEntropyLoss(weight=weights)
    gen = torch.Generator().manual_seed(SEED)
    xn, xc, xp, yt = (torch.from_numpy(a) for a in (tr.numeric, tr.categorical, tr.padding, ytr))
    history = []
    for epoch in range(args.epochs):
        model.train()
        t2 = time.time()
        perm = torch.randperm(len(tr), generator=gen)
        total = 0.0
        for s in range(0, len(tr), args.batch):
            i = perm[s:s + args.batch]
            opt.zero_grad()
            loss = loss_fn(model(xn[i], xc[i], xp[i]), yt[i])
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(i)
        r = report(yva, predict(model, va), labels)
        history.append({"epoch": epoch + 1, "loss": round(total / len(tr), 5),
                        "val_macro_f1": round(r["macro_f1"], 4), "val_accuracy": round(r["accuracy"], 4)})
        print(f"epoch {epoch + 1}/{args.epochs}: loss {total / len(tr):.4f}, "
              f"val macro-F1 {r['macro_f1']:.4f}, acc {r['accuracy']:.4f} ({time.time() - t2:.1f}s)")
    pred = predict(model, va)
    final = report(yva, pred, labels)
    return {"model": model, "config": cfg, "report": final, "baseline": base, "history": history,
            "pred": pred, "base_pred": base_pred}


def train_flow_transformer(args) -> None:
    torch.set_num_threads(args.threads)
    seed_everything()
    t0 = time.time()
    files = D.csv_files(Path(args.data))
    work = Path(args.work)
    parquets, prep_path = D.tokenize(files, work, window=args.window, group_by=args.group_by)
    prep = D.load_preprocessor(prep_path)
    w = D.read_windows(parquets)
    labels = sorted(set(w.labels.tolist()))
    y = np.array([labels.index(l) for l in w.labels], dtype=np.int64)
    tr_idx, va_idx = D.stratified_split(w.labels, val_frac=args.val_frac, seed=args.split_seed)
    tr, va = w.take(tr_idx), w.take(va_idx)
    ytr, yva = y[tr_idx], y[va_idx]
    levels = [len(c["levels"]) for c in prep["categorical"]]
    print(f"windows: {len(w)} ({len(tr)} train, {len(va)} val), W={w.numeric.shape[1]}, "
          f"n_num={w.numeric.shape[2]}, n_cat={w.categorical.shape[2]}, classes={len(labels)}, "
          f"tokenized in {time.time() - t0:.1f}s")
    assert w.numeric.shape[2] == len(prep["numeric"]) and w.categorical.shape[2] == len(levels)
    assert int(w.categorical.max()) <= max(levels)

    fit = fit_flow_transformer(tr, ytr, va, yva, labels, levels, args)
    model, cfg, final, base, history, pred = (fit[k] for k in ("model", "config", "report", "baseline",
                                                               "history", "pred"))
    for t, p_ in zip(yva[yva != pred], pred[yva != pred]):
        print(f"  val error: true {labels[t]!r} predicted {labels[p_]!r}")
    print(json.dumps({"model": final, "baseline": base}, indent=1))

    ckpt = work / "model.pt"
    torch.save({"config": cfg.to_dict(), "state_dict": model.state_dict()}, ckpt)
    meta = {
        "labels": labels,
        "preprocessor_path": str(prep_path),
        "window": cfg.window,
        "group_by": args.group_by,
        "mapping": "cicflowmeter",
        "files": [str(f.relative_to(Path(args.data))) for f in files],
        "split": {"kind": "stratified by label", "val_frac": args.val_frac, "seed": args.split_seed,
                  "train_windows": len(tr), "val_windows": len(va)},
        "training": {"optimizer": "AdamW + OneCycle", "lr": args.lr, "epochs": args.epochs,
                     "batch": args.batch, "loss": f"cross-entropy, class weights = frequency^-{args.class_weight_power}",
                     "seed": SEED},
        "metrics": {
            "validation": final,
            "baseline_logistic_regression_last_flow": base,
            "val_errors": [[labels[t], labels[p_]] for t, p_ in zip(yva[yva != pred], pred[yva != pred])],
            "history": history,
            "notes": (
                "Validation macro-F1 is dominated by the rare classes (Heartbleed, Infiltration, the three "
                "web attacks: 1-11 validation windows each); one XSS window moves it by ~0.06, and it moved "
                "between 0.92 and 0.99 over the last epochs. Hyperparameters (class-weight power 0.5, lr 1e-3, "
                "30 epochs) were chosen after three runs on this same validation split; there is no separate "
                "test split. Windows are tokenized per file (one label per file), so a window's context "
                "flows share the scored flow's label."
            ),
        },
    }
    (work / "meta.json").write_text(json.dumps(meta, indent=1))
    np.save(work / "val_idx.npy", va_idx)

    from .export import export_flow_transformer
    export_flow_transformer(work, w.take(va_idx), yva, Path(args.artifacts))
    print(f"total {time.time() - t0:.1f}s")


def add_flow_transformer_arguments(ft: argparse.ArgumentParser, artifact: str, work: str) -> None:
    """The options every FlowTransformer training entry shares (data, windows, optimisation)."""
    ft.add_argument("--data", default=str(D.DEFAULT_DATA))
    ft.add_argument("--artifacts", default=str(ONNX_DIR / "artifacts" / artifact))
    ft.add_argument("--work", default=str(BUILD / work), help="tokenized data and checkpoint")
    ft.add_argument("--split-seed", type=int, default=SEED)
    ft.add_argument("--window", type=int, default=8)
    ft.add_argument("--group-by", default="src")
    ft.add_argument("--val-frac", type=float, default=0.2)
    ft.add_argument("--epochs", type=int, default=30)
    ft.add_argument("--batch", type=int, default=128)
    ft.add_argument("--lr", type=float, default=1e-3)
    ft.add_argument("--d-model", type=int, default=64)
    ft.add_argument("--layers", type=int, default=2)
    ft.add_argument("--class-weight-power", type=float, default=0.5)
    ft.add_argument("--threads", type=int, default=1)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m vigil_onnx.train")
    sub = p.add_subparsers(dest="family", required=True)
    ft = sub.add_parser("flow_transformer", help="FlowTransformer on improved CIC-IDS2017")
    add_flow_transformer_arguments(ft, "flow-transformer-cicids2017", "flow_transformer")
    from . import iot23
    iot23.add_parser(sub)
    from . import itransformer
    itransformer.add_arguments(sub.add_parser("itransformer", help="iTransformer on ETTh1 (96 -> 96)"), ONNX_DIR)
    H.add_parser(sub)
    args = p.parse_args(argv)
    if args.family == "flow_transformer":
        train_flow_transformer(args)
    elif args.family == "flow_transformer_iot23":
        iot23.train(args)
    elif args.family == "itransformer":
        itransformer.train(args)
    elif args.family == "hstu":
        H.train(args)


if __name__ == "__main__":
    main()
