"""The Numenta Anomaly Benchmark's scoring (Lavin & Ahmad 2015, NAB v1.x), written anew in numpy.

What NAB does (numenta/NAB `nab/sweeper.py`, `nab/optimizer.py`, `nab/runner.py`), and so this
module:

- Each data file has labelled anomaly windows. A row inside a window is worth a true positive
  scaled by a sigmoid of its position: `S(p) = 2 / (1 + exp(5 p)) - 1` with
  `p = -(right - i + 1) / width` (so the window's first row is worth `S(-1) = 0.987`, normalised
  to 1, and its last `S(-1/width)`), times the profile's `tpWeight`. A row outside every window
  is a false positive worth `S(|i - prev_right| / (prev_width - 1)) * fpWeight` (negative, and
  close to 0 just after a window), or `-fpWeight` before the first window (`S(p) = -1` for
  `p >= 3`).
- The first `min(floor(0.15 n), 750)` rows of a file are probationary: never scored.
- At a threshold, a row is a detection when its anomaly score is at least the threshold. A
  window's worth is its best (earliest) detected row, or `-fnWeight` when none is detected;
  false positives add up. The corpus score is the sum over files.
- Threshold optimisation: the threshold with the largest corpus score over every distinct
  anomaly score (NAB's `calcScoreByThreshold`, one threshold for the whole corpus).
- Normalisation: `100 (raw - null) / (perfect - null)` with `null = -fnWeight * windows` (the
  null detector detects nothing) and `perfect = tpWeight * windows`.

Profiles as NAB's `config/profiles.json`: standard (tp 1, fp 0.11, fn 1), reward_low_FP_rate
(fp 0.22), reward_low_FN_rate (fn 2).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PROFILES = {
    "standard": {"tpWeight": 1.0, "fpWeight": 0.11, "fnWeight": 1.0},
    "reward_low_FP_rate": {"tpWeight": 1.0, "fpWeight": 0.22, "fnWeight": 1.0},
    "reward_low_FN_rate": {"tpWeight": 1.0, "fpWeight": 0.11, "fnWeight": 2.0},
}
PROBATION_PERCENT = 0.15
OUTSIDE = -1  # window id of a row outside every window
PROBATION = -2  # window id of a probationary row


def scaled_sigmoid(p: np.ndarray | float) -> np.ndarray:
    """NAB's `scaledSigmoid`: `2 sigmoid(-5 p) - 1`, and -1 from p = 3 on."""
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(over="ignore"):
        s = 2.0 / (1.0 + np.exp(5.0 * p)) - 1.0
    return np.where(p >= 3.0, -1.0, s)


MAX_TP = float(scaled_sigmoid(-1.0))


def probation_length(n: int) -> float:
    return min(math.floor(PROBATION_PERCENT * n), PROBATION_PERCENT * 5000)


@dataclass
class LabelledFile:
    """One data file's rows as NAB sees them.

    `window[i]`: the id (0, 1, ... within the file) of the window row i is in, `OUTSIDE`, or
    `PROBATION`; `inside[i]`: whether row i lies in a window (probationary or not);
    `tp_part[i]` / `fp_part[i]`: the row's unweighted worth as a detection inside / outside a
    window (times tpWeight / fpWeight, NAB's per-row `S(t)` column).
    """

    name: str
    timestamps: np.ndarray  # datetime64[us]
    window: np.ndarray
    inside: np.ndarray
    tp_part: np.ndarray
    fp_part: np.ndarray
    n_windows: int

    def sweep_scores(self, profile: dict) -> np.ndarray:
        """NAB's per-row sweep score `S(t)` under a profile (the results CSVs' `S(t)_<profile>`)."""
        return np.where(self.inside, self.tp_part * profile["tpWeight"], self.fp_part * profile["fpWeight"])


def parse_times(values) -> np.ndarray:
    return np.array([np.datetime64(str(v).strip().replace(" ", "T")) for v in values], dtype="datetime64[us]")


def label_file(name: str, timestamps: np.ndarray, windows: list[list[str]]) -> LabelledFile:
    """Row roles of one file from its windows (NAB's `Sweeper.calcSweepScore`): a window starts and
    ends at rows whose timestamps equal its limits."""
    n = len(timestamps)
    index = {t: i for i, t in reversed(list(enumerate(timestamps.tolist())))}  # first row of a time
    limits = []
    for start, end in windows:
        a, b = parse_times([start, end]).tolist()
        if a not in index or b not in index:
            raise ValueError(f"{name}: window {start} .. {end} does not start and end on rows")
        limits.append((index[a], index[b]))
    limits.sort()
    window = np.full(n, OUTSIDE, dtype=np.int64)
    inside = np.zeros(n, dtype=bool)
    tp_part = np.zeros(n)
    fp_part = np.zeros(n)
    prev = None  # (right, width) of the last window passed
    pos = np.arange(n)
    cursor = 0
    for w, (left, right) in enumerate(limits + [(n, n)]):
        # Rows before this window: false positives relative to the previous window.
        out = pos[cursor:left]
        if prev is None:
            fp_part[out] = -1.0
        else:
            fp_part[out] = scaled_sigmoid(np.abs(prev[0] - out) / float(prev[1] - 1))
        if left >= n:
            break
        rows = pos[left:right + 1]
        width = float(right - left + 1)
        tp_part[rows] = scaled_sigmoid(-(right - rows + 1) / width) / MAX_TP
        window[rows] = w
        inside[rows] = True
        prev, cursor = (right, width), right + 1
    window[: int(math.ceil(probation_length(n)))] = PROBATION
    scored = {int(w) for w in np.unique(window) if w >= 0}
    # Windows wholly inside the probation are not scored (NAB asserts there are none).
    return LabelledFile(name, timestamps, window, inside, tp_part, fp_part, len(scored))


def load_corpus(nab_dir: Path, names: list[str] | None = None) -> dict[str, LabelledFile]:
    """Every data file under `nab_dir/data` (or those `names`, as `realKnownCause/nyc_taxi.csv`)
    with its windows from `labels/combined_windows.json`."""
    windows = json.loads((nab_dir / "labels" / "combined_windows.json").read_text())
    data = nab_dir / "data"
    if names is None:
        names = sorted(str(p.relative_to(data)) for p in data.glob("*/*.csv"))
    out = {}
    for name in names:
        ts = parse_times(np.loadtxt(data / name, delimiter=",", skiprows=1, usecols=0, dtype=str))
        out[name] = label_file(name, ts, windows[name])
    return out


def file_score(f: LabelledFile, scores: np.ndarray, threshold: float, profile: dict) -> float:
    """Raw NAB score of one file at a threshold (detections: scores >= threshold)."""
    scorable = f.window != PROBATION
    det = (np.asarray(scores) >= threshold) & scorable
    fp = float(np.sum(f.fp_part[det & ~f.inside]) * profile["fpWeight"])
    total = fp
    for w in np.unique(f.window[scorable & f.inside]):
        hit = det & (f.window == w)
        total += float(f.tp_part[hit].max()) * profile["tpWeight"] if hit.any() else -profile["fnWeight"]
    return total


def sweep_thresholds(files: list[LabelledFile], scores: list[np.ndarray], profile: dict) -> tuple[np.ndarray, np.ndarray]:
    """Corpus raw score at every distinct anomaly score used as the threshold, highest threshold
    first, starting with 1.1 (nothing detected): NAB's `calcScoreByThreshold` over the pooled rows."""
    s_all, worth, wid = [], [], []
    offset = 0
    for f, s in zip(files, scores):
        keep = f.window != PROBATION
        s_all.append(np.asarray(s, dtype=np.float64)[keep])
        worth.append(f.sweep_scores(profile)[keep])
        w = f.window[keep]
        wid.append(np.where(w >= 0, w + offset, OUTSIDE))
        offset += int(f.window.max()) + 1 if (f.window >= 0).any() else 0
    s_all, worth, wid = np.concatenate(s_all), np.concatenate(worth), np.concatenate(wid)
    order = np.argsort(-s_all, kind="stable")
    s_sorted, worth, wid = s_all[order], worth[order], wid[order]
    n_windows = len(np.unique(wid[wid >= 0]))
    best = {}  # window -> best worth detected so far
    fp = 0.0
    base = -profile["fnWeight"] * n_windows
    thresholds, totals = [1.1], [base]
    tp_gain = 0.0  # sum over detected windows of (best worth + fnWeight)
    i, n = 0, len(s_sorted)
    while i < n:
        j = i
        while j < n and s_sorted[j] == s_sorted[i]:
            j += 1
        for k in range(i, j):
            if wid[k] < 0:
                fp += worth[k]
            else:
                old = best.get(wid[k])
                if old is None:
                    best[wid[k]] = worth[k]
                    tp_gain += worth[k] + profile["fnWeight"]
                elif worth[k] > old:
                    best[wid[k]] = worth[k]
                    tp_gain += worth[k] - old
        thresholds.append(s_sorted[i])
        totals.append(base + tp_gain + fp)
        i = j
    return np.array(thresholds), np.array(totals)


def normalise(raw: float, n_windows: int, profile: dict) -> float:
    null = -profile["fnWeight"] * n_windows
    perfect = profile["tpWeight"] * n_windows
    return 100.0 * (raw - null) / (perfect - null)


def score_detector(corpus: dict[str, LabelledFile], scores: dict[str, np.ndarray],
                   thresholds: dict[str, float] | None = None, fixed: str = "at_shipped_threshold") -> dict:
    """NAB scores of one detector on the files of `scores`, per profile: the optimised threshold,
    its raw and normalised score, and (given `thresholds`) the score at a fixed threshold too,
    under the key `fixed`."""
    names = sorted(scores)
    files = [corpus[n] for n in names]
    n_windows = sum(f.n_windows for f in files)
    out = {"files": len(names), "windows": n_windows}
    for pname, profile in PROFILES.items():
        th, tot = sweep_thresholds(files, [scores[n] for n in names], profile)
        b = int(np.argmax(tot))
        r = {"threshold": float(th[b]), "raw": float(tot[b]), "score": normalise(float(tot[b]), n_windows, profile)}
        if thresholds is not None:
            raw = sum(file_score(f, scores[n], thresholds[pname], profile) for f, n in zip(files, names))
            r[fixed] = {"threshold": thresholds[pname], "raw": raw,
                                         "score": normalise(raw, n_windows, profile)}
        out[pname] = r
    return out


def nab_metrics(out: Path) -> dict:
    """The NAB figures of `python -m vigil_onnx.evaluate nab` (kept in `nab.json` next to the
    manifest), so that re-exporting keeps them."""
    path = out / "nab.json"
    if not path.is_file():
        return {"nab": "not evaluated: run python -m vigil_onnx.evaluate nab"}
    r = json.loads(path.read_text())
    score = lambda d: {p: d[p]["score"] for p in ("standard", "reward_low_FP_rate", "reward_low_FN_rate")}
    return {"nab": {
        "details": "nab.json",
        "corpus": r["corpus"],
        "anomaly_score": r["anomaly_score"],
        "scoring": r["scoring"],
        "all_files": {k: score(v) for k, v in r["all_files"].items()},
        "files_with_shipped_results": {k: score(v) for k, v in r["comparison_files_with_shipped_results"].items()},
        "shipped_final_results_full_corpus": r["shipped_final_results_full_corpus"],
        **({"protocol": r["protocol"]} if "protocol" in r else {}),
        "scorer_check": r["scorer_check"],
    }}
