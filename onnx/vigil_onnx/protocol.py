"""The evaluation protocol every family follows (issue 12), in numpy only.

- Splits are fixed and committed under `onnx/splits/` (`load_split`, `save_split`): train,
  validation and test. Every choice is made on validation; test is read once, for the report.
- Rows of validation or test that encode identically to a training row are removed
  (`drop_seen`), and the number removed is reported.
- Figures are reported as mean ± standard deviation over seeds (`mean_std`), with a 95%
  bootstrap interval (`bootstrap_ci`) that resamples clusters (files, attack types) where the
  data clusters, and rows within each class otherwise.
- Alerting thresholds are chosen on validation for a stated false-positive rate over benign rows
  (`operating_point`), with the recall and the calibration error (`ece`) at that threshold.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

import numpy as np

SPLITS_DIR = Path(__file__).resolve().parents[1] / "splits"
#: False-positive rates over benign rows that every manifest states a threshold for.
TARGET_FPRS = (1e-3, 1e-4)


def load_split(name: str) -> dict:
    """`onnx/splits/<name>.json`."""
    path = SPLITS_DIR / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no committed split {path}: make it with the family's `--make-split`")
    return json.loads(path.read_text())


def save_split(name: str, split: dict) -> Path:
    SPLITS_DIR.mkdir(parents=True, exist_ok=True)
    path = SPLITS_DIR / f"{name}.json"
    path.write_text(json.dumps(split, indent=1) + "\n")
    return path


def row_hash(text: str) -> str:
    """A stable short hash of one record's text (sha1, 16 hex digits)."""
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def hash_bucket(text: str, buckets: int = 10) -> int:
    """The record's bucket in [0, buckets): identical records always share a bucket."""
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16) % buckets


def encoding_keys(*arrays: np.ndarray) -> np.ndarray:
    """One bytes key per row of the given arrays (same first axis): rows with equal keys are
    encoded identically."""
    flat = [np.ascontiguousarray(a.reshape(len(a), -1)) for a in arrays]
    return np.array([b"".join(f[i].tobytes() for f in flat) for i in range(len(flat[0]))], dtype=object)


def drop_seen(train_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Indices of `keys` whose encoding does not occur in `train_keys`."""
    seen = set(train_keys.tolist())
    return np.array([i for i, k in enumerate(keys.tolist()) if k not in seen], dtype=np.int64)


def mean_std(values: list[float]) -> dict:
    """Mean and sample standard deviation (ddof 1) of per-seed figures, with the values."""
    a = np.asarray(values, dtype=np.float64)
    return {"mean": round(float(a.mean()), 4), "std": round(float(a.std(ddof=1)) if len(a) > 1 else 0.0, 4),
            "per_seed": [round(float(v), 4) for v in a]}


def bootstrap_ci(metric: Callable[[np.ndarray], float], strata: np.ndarray, clusters: np.ndarray | None = None,
                 n: int = 1000, seed: int = 0) -> list[float]:
    """95% percentile interval of `metric(idx)` over `n` resamples of the rows.

    Within each stratum (a class), its clusters (files, attack types; rows when `clusters` is
    None) are drawn with replacement and every row of a drawn cluster is taken, so each class
    keeps its share and clustered rows move together."""
    rng = np.random.default_rng(seed)
    strata_rows = [np.flatnonzero(strata == s) for s in np.unique(strata)]
    groups = []
    if clusters is not None:
        clusters = np.asarray(clusters)
        for rows in strata_rows:
            ids, inverse = np.unique(clusters[rows], return_inverse=True)
            groups.append([rows[inverse == k] for k in range(len(ids))])
    stats = []
    for _ in range(n):
        if clusters is None:
            idx = [rng.choice(rows, size=len(rows)) for rows in strata_rows]
        else:
            idx = [members[k] for members in groups for k in rng.integers(0, len(members), size=len(members))]
        stats.append(metric(np.concatenate(idx)))
    lo, hi = np.percentile(stats, [2.5, 97.5])
    return [round(float(lo), 4), round(float(hi), 4)]


def ece(p: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error of a binary probability `p` against outcomes `y` (0/1): the
    row-weighted mean |observed rate - mean p| over equal-width bins."""
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            total += m.sum() * abs(y[m].mean() - p[m].mean())
    return float(total / max(len(p), 1))


def threshold_for_fpr(benign_scores: np.ndarray, fpr: float) -> float:
    """The smallest threshold t with fraction(benign score > t) <= fpr. With fewer than 1/fpr
    benign rows that is their largest score: the split cannot resolve a smaller rate."""
    s = np.sort(np.asarray(benign_scores, dtype=np.float64))
    allowed = int(np.floor(fpr * len(s)))
    return float(s[len(s) - 1 - allowed]) if len(s) else 1.0


def operating_point(score_val: np.ndarray, positive_val: np.ndarray, score_test: np.ndarray,
                    positive_test: np.ndarray, fpr: float, score: str, probability: bool = True) -> dict:
    """A threshold on `score` (alert when score > threshold) chosen on validation for `fpr` over
    its benign rows, with recall and FPR on validation and on test, and the ECE of the score
    when it is a probability (`None` otherwise)."""
    pv, pt = positive_val.astype(bool), positive_test.astype(bool)
    t = threshold_for_fpr(score_val[~pv], fpr)

    def at(s, pos):
        alert = s > t
        return {"recall": round(float(alert[pos].mean()), 4) if pos.any() else None,
                "fpr": round(float(alert[~pos].mean()), 6) if (~pos).any() else None,
                "benign_rows": int((~pos).sum()), "positive_rows": int(pos.sum())}

    return {
        "score": score,
        "target_fpr": fpr,
        "threshold": t,
        "resolvable": bool((~pv).sum() * fpr >= 1),
        "validation": at(score_val, pv),
        "test": at(score_test, pt),
        "ece_validation": round(ece(score_val, pv), 4) if probability else None,
        "ece_test": round(ece(score_test, pt), 4) if probability else None,
    }


def operating_points(score_val, positive_val, score_test, positive_test, score: str,
                     probability: bool = True) -> dict:
    """`operating_point` at every rate of `TARGET_FPRS`, keyed `fpr_1e-3`, `fpr_1e-4`."""
    return {f"fpr_{f:.0e}".replace("e-0", "e-"): operating_point(score_val, positive_val, score_test,
                                                                  positive_test, f, score, probability)
            for f in TARGET_FPRS}
