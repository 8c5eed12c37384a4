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
