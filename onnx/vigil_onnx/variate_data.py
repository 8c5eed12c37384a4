"""iTransformer data from the Rust tokenizer, without PyTorch (shared by `vigil_onnx.itransformer`
and `tools/int8.py`): `vigil tokenize variate --time-features` windows of lookback + horizon
steps, de-normalised back to raw values, with their time features.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from . import data as D


def tokenize(csv: Path, work: Path, lookback: int, horizon: int) -> tuple[Path, list[str]]:
    """Hourly windows of lookback + horizon steps, stride 1, with time features, into `work`:
    (the Parquet file, the command's arguments)."""
    work.mkdir(parents=True, exist_ok=True)
    out = work / f"etth1_w{lookback + horizon}.parquet"
    cmd = [str(D.vigil_binary()), "tokenize", "variate", str(csv), "--step", "3600",
           "--lookback", str(lookback + horizon), "--stride", "1", "--time-features", "--out", str(out)]
    subprocess.run(cmd, check=True)
    return out, cmd[1:]


def read_windows(parquet: Path) -> tuple[np.ndarray, list[str], np.ndarray]:
    """De-normalised windows [W, L+H, N] (raw values), the series names and the time features
    [W, L+H, 4]."""
    import pyarrow.parquet as pq

    t = pq.read_table(parquet, columns=["series", "values", "mean", "std", "time_features"])
    n = t.num_rows
    series = t.column("series")[0].as_py()
    vals = np.asarray(t.column("values").combine_chunks().flatten().flatten(), dtype=np.float64)
    vals = vals.reshape(n, len(series), -1)                                  # [W, N, T]
    mean = np.asarray(t.column("mean").combine_chunks().flatten(), dtype=np.float64).reshape(n, -1, 1)
    std = np.asarray(t.column("std").combine_chunks().flatten(), dtype=np.float64).reshape(n, -1, 1)
    raw = (vals * std + mean).transpose(0, 2, 1)                             # [W, T, N]
    marks = np.asarray(t.column("time_features").combine_chunks().flatten().flatten(), dtype=np.float32)
    marks = marks.reshape(n, 4, -1).transpose(0, 2, 1)                       # [W, T, 4]
    return raw.astype(np.float32), series, np.ascontiguousarray(marks)
