"""Classification metrics in numpy (no scikit-learn dependency)."""

from __future__ import annotations

import numpy as np


def per_class_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    f1 = np.zeros(n_classes)
    for c in range(n_classes):
        tp = np.sum((y_pred == c) & (y_true == c))
        fp = np.sum((y_pred == c) & (y_true != c))
        fn = np.sum((y_pred != c) & (y_true == c))
        denom = 2 * tp + fp + fn
        f1[c] = 2 * tp / denom if denom else 0.0
    return f1


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Mean F1 over the classes present in y_true (sklearn's macro over the true labels)."""
    present = np.unique(y_true)
    return float(per_class_f1(y_true, y_pred, n_classes)[present].mean())


def report(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict:
    f1 = per_class_f1(y_true, y_pred, len(labels))
    support = np.bincount(y_true, minlength=len(labels))
    return {
        "macro_f1": macro_f1(y_true, y_pred, len(labels)),
        "accuracy": float(np.mean(y_true == y_pred)),
        "per_class": {
            lab: {"f1": round(float(f1[i]), 4), "support": int(support[i])}
            for i, lab in enumerate(labels)
        },
    }


def roc_auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve of `score` for the positives `y_true == 1` (Mann-Whitney U,
    tied scores get their average rank)."""
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(score, dtype=np.float64)
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    # Average rank (1-based) of each run of equal scores.
    starts = np.flatnonzero(np.r_[True, sorted_s[1:] != sorted_s[:-1]])
    ends = np.r_[starts[1:], len(s)]
    for a, b in zip(starts, ends):
        ranks[order[a:b]] = (a + b + 1) / 2.0
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def binary_report(y_true: np.ndarray, p_positive: np.ndarray, positive: int) -> dict:
    """Accuracy, F1 and precision/recall of class `positive` (predicted when its probability is
    the larger, i.e. > 0.5), and ROC AUC of that probability."""
    pred = (p_positive > 0.5).astype(np.int64)
    t = (np.asarray(y_true) == positive).astype(np.int64)
    tp, fp, fn = int(np.sum(pred & t)), int(np.sum(pred & (1 - t))), int(np.sum((1 - pred) & t))
    return {
        "accuracy": float(np.mean(pred == t)),
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "auc": roc_auc(t, p_positive),
    }
