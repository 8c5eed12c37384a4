"""Next-item evaluation in numpy (no PyTorch): the leave-one-out split and full-ranking metrics
of the HSTU reference protocol, shared by `vigil_onnx.hstu` and `tools/int8.py`.

A row is one event with the entity's events before it; rows are given as arrays: `entity` [N]
(str), `ts` [N] (µs) and `target` [N] (the row's own object id).
"""

from __future__ import annotations

import numpy as np

#: Object ids below this are padding and out-of-vocabulary, never ranked.
FIRST = 2


def entity_order(entity: np.ndarray, ts: np.ndarray) -> dict[str, list[int]]:
    """Each entity's row indices in time order (ts, then row order; entities sorted, numerically
    where they are numbers)."""
    by: dict = {}
    for i, e in enumerate(entity):
        by.setdefault(e, []).append(i)
    key = lambda s: (0, int(s), "") if str(s).isdigit() else (1, 0, str(s))
    return {e: sorted(by[e], key=lambda i: (ts[i], i)) for e in sorted(by, key=key)}


def leave_one_out(entity: np.ndarray, ts: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per entity with 3+ events: the last row test, the second-to-last validation, the rest
    (with at least one event before them) training."""
    tr, va, te = [], [], []
    for idx in entity_order(entity, ts).values():
        if len(idx) < 3:
            continue
        te.append(idx[-1])
        va.append(idx[-2])
        tr.extend(i for i in idx[:-2] if length[i] >= 2)
    return np.array(tr), np.array(va), np.array(te)


def seen_items(entity: np.ndarray, ts: np.ndarray, target: np.ndarray, idx: np.ndarray) -> list[np.ndarray]:
    """For each row of `idx`, the objects of its entity's earlier events: the reference
    evaluation (`filter_invalid_ids`) removes them from the ranking."""
    before = {}
    for members in entity_order(entity, ts).values():
        objs = target[members]
        for k, i in enumerate(members):
            before[i] = objs[:k]
    return [np.unique(before[int(i)]) for i in idx]


def rank_metrics(scores: np.ndarray, target: np.ndarray, k: int = 10,
                 seen: list[np.ndarray] | None = None) -> dict:
    """HR@k, NDCG@k and MRR of a full ranking over the real items (ids >= FIRST), the entity's
    earlier objects removed when `seen` is given (the target never is); ties count against the
    target. Unrounded."""
    s = scores.astype(np.float64)
    s[:, :FIRST] = -np.inf
    t = s[np.arange(len(s)), target]
    if seen is not None:
        for r, items in enumerate(seen):
            s[r, items[items != target[r]]] = -np.inf
    rank = (s > t[:, None]).sum(1) + (s == t[:, None]).sum(1) - 1
    hit = rank < k
    return {f"hr@{k}": float(hit.mean()), f"ndcg@{k}": float((hit / np.log2(rank + 2)).mean()),
            "mrr": float((1.0 / (rank + 1)).mean()), "rows": int(len(s))}
