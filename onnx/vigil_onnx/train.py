"""Train and export a model family: `python -m vigil_onnx.train flow_transformer`.

Deterministic: fixed seeds, one thread, deterministic algorithms.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import data as D
from . import hstu as H
from .flow_transformer import FlowTransformer, FlowTransformerConfig
from .metrics import binary_report, report

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
    """Multinomial logistic regression (full batch Adam, L2); returns validation probabilities."""
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
        return torch.softmax(lin(torch.from_numpy(xva)), dim=1).numpy()


def predict_probs(model: FlowTransformer, w: D.Windows, batch: int = 1024) -> np.ndarray:
    """Class probabilities [N, C]."""
    model.eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(w), batch):
            out.append(model(
                torch.from_numpy(w.numeric[s:s + batch]),
                torch.from_numpy(w.categorical[s:s + batch]),
                torch.from_numpy(w.padding[s:s + batch]),
            ).softmax(1).numpy())
    return np.concatenate(out)


def predict(model: FlowTransformer, w: D.Windows, batch: int = 1024) -> np.ndarray:
    return predict_probs(model, w, batch).argmax(1)


def fit_flow_transformer(tr: D.Windows, ytr: np.ndarray, va: D.Windows, yva: np.ndarray,
                         labels: list[str], levels: list[int], args) -> dict:
    """The logistic-regression baseline and a seeded FlowTransformer, both trained on `tr` and
    evaluated on `va`. Returns model, config, reports (with the positive class's binary figures
    for an attack/normal task), history, validation probabilities and predictions."""
    cfg = FlowTransformerConfig(window=tr.numeric.shape[1], n_numeric=tr.numeric.shape[2],
                                categorical_levels=levels, n_classes=len(labels),
                                d_model=args.d_model, n_layers=args.layers)
    weights = class_weights(ytr, len(labels), args.class_weight_power)

    # Baseline: logistic regression on the last flow's features only.
    t1 = time.time()
    base_probs = train_logreg(last_flow_features(tr, levels), ytr, last_flow_features(va, levels),
                              len(labels), weights)
    base_pred = base_probs.argmax(1)
    base = report(yva, base_pred, labels)
    print(f"logistic regression baseline: macro-F1 {base['macro_f1']:.4f} ({time.time() - t1:.1f}s)")
    # A two-class task reports accuracy, F1, precision, recall and AUC of its positive class.
    positive = labels.index("attack") if "attack" in labels and len(labels) == 2 else None
    if positive is not None:
        base["binary"] = binary_report(yva, base_probs[:, positive], positive)
        print(f"  {base['binary']}")

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
    probs = predict_probs(model, va)
    pred = probs.argmax(1)
    final = report(yva, pred, labels)
    if positive is not None:
        final["binary"] = binary_report(yva, probs[:, positive], positive)
    return {"model": model, "config": cfg, "report": final, "baseline": base, "history": history,
            "probs": probs, "pred": pred, "base_pred": base_pred}


def add_flow_arguments(ft, task: D.FlowTask) -> None:
    """The FlowTransformer options; data, tokenizer and artifact defaults come from `task`."""
    add_flow_transformer_arguments(ft, task.artifact, task.family, task.window, task.group_by)


def add_flow_transformer_arguments(ft: argparse.ArgumentParser, artifact: str, work: str,
                                   window: int = 8, group_by: str = "src") -> None:
    """The options every FlowTransformer training entry shares (data, windows, optimisation)."""
    ft.add_argument("--data", default=str(D.DEFAULT_DATA))
    ft.add_argument("--artifacts", default=str(ONNX_DIR / "artifacts" / artifact))
    ft.add_argument("--work", default=str(BUILD / work), help="tokenized data and checkpoint")
    ft.add_argument("--split-seed", type=int, default=SEED)
    ft.add_argument("--window", type=int, default=window)
    ft.add_argument("--group-by", default=group_by)
    ft.add_argument("--val-frac", type=float, default=0.2)
    ft.add_argument("--epochs", type=int, default=30)
    ft.add_argument("--batch", type=int, default=128)
    ft.add_argument("--lr", type=float, default=1e-3)
    ft.add_argument("--d-model", type=int, default=64)
    ft.add_argument("--layers", type=int, default=2)
    ft.add_argument("--class-weight-power", type=float, default=0.5)
    ft.add_argument("--threads", type=int, default=1)


#: Every family `train all` retrains, in order (each with its defaults).
ALL_FAMILIES = [
    "flow_transformer", "flow_transformer_nslkdd", "flow_transformer_iot23", "itransformer", "hstu",
    "hstu_actions", "netfound",
]


def train_all() -> None:
    """Retrain and re-export every model with its defaults, then re-run the NAB evaluation."""
    for family in ALL_FAMILIES:
        started = time.time()
        print(f"== train {family}", flush=True)
        main([family])
        print(f"== {family}: {time.time() - started:.0f} s", flush=True)
    from . import evaluate
    evaluate.main(["nab"])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m vigil_onnx.train")
    sub = p.add_subparsers(dest="family", required=True)
    sub.add_parser("all", help="every family below in turn, with its defaults, then `evaluate nab`")
    add_flow_arguments(sub.add_parser("flow_transformer", help="FlowTransformer on improved CIC-IDS2017"),
                       D.FLOW_TASKS["flow_transformer"])
    add_flow_arguments(sub.add_parser("flow_transformer_nslkdd",
                                      help="binary FlowTransformer (normal vs attack) on NSL-KDD KDDTrain+_20Percent"),
                       D.FLOW_TASKS["flow_transformer_nslkdd"])
    add_flow_arguments(sub.add_parser("flow_transformer_iot23",
                                      help="binary FlowTransformer on IoT-23's labelled Zeek conn.logs"),
                       D.FLOW_TASKS["flow_transformer_iot23"])
    from . import itransformer
    itransformer.add_arguments(sub.add_parser("itransformer", help="iTransformer on ETTh1 (96 -> 96)"), ONNX_DIR)
    H.add_parser(sub)
    from . import hstu_actions
    hstu_actions.add_parser(sub)
    from . import netfound_train
    netfound_train.add_parser(sub)
    args = p.parse_args(argv)
    if args.family == "all":
        train_all()
    elif args.family in D.FLOW_TASKS:
        from . import flow_protocol
        flow_protocol.train(args, D.FLOW_TASKS[args.family])
    elif args.family == "itransformer":
        itransformer.train(args)
    elif args.family == "hstu":
        H.train(args)
    elif args.family == "hstu_actions":
        hstu_actions.train(args)
    elif args.family == "netfound":
        netfound_train.train(args)


if __name__ == "__main__":
    main()
