"""Training data for FlowTransformer, produced only by the Rust tokenizer.

`vigil tokenize flow` turns each flow CSV into windows of W flows (Parquet), so training and
serving share one tokenizer. This module runs it, reads the Parquet into numpy arrays and makes
a stratified split with a fixed seed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = Path(os.environ.get("VIGIL_DATA", REPO.parent / "shared" / "data"))
CICIDS_DIR = "flows/cicids2017-improved-sampled"
NSLKDD_FILE = "flows/nsl-kdd/KDDTrain+_20Percent.txt"
IOT23_DIR = "flows/iot-23-zeek-conn-labeled"


def vigil_binary() -> Path:
    """The `vigil` binary: `$VIGIL_BIN`, else a built one in the usual target dirs, else PATH."""
    env = os.environ.get("VIGIL_BIN")
    if env:
        return Path(env)
    targets = [os.environ.get("CARGO_TARGET_DIR"), REPO / "target", "/work/target-conformance"]
    for t in targets:
        if not t:
            continue
        for profile in ("release", "debug"):
            p = Path(t) / profile / "vigil"
            if p.is_file():
                return p
    found = shutil.which("vigil")
    if found:
        return Path(found)
    raise FileNotFoundError(
        "no `vigil` binary: build it with `cargo build --release -p vigil-pipelines` or set VIGIL_BIN"
    )


@dataclass
class Windows:
    """Tokenized windows: numeric [N, W, n_num] f32, categorical [N, W, n_cat] i64, padding [N] i64."""

    numeric: np.ndarray
    categorical: np.ndarray
    padding: np.ndarray
    labels: np.ndarray  # [N] object (str)
    source: np.ndarray  # [N] index into `files`
    files: list[str]
    raw: np.ndarray | None = None  # [N] the tokenizer's labels before a task's mapping


    def __len__(self) -> int:
        return len(self.labels)

    def take(self, idx: np.ndarray) -> "Windows":
        return Windows(
            self.numeric[idx], self.categorical[idx], self.padding[idx],
            self.labels[idx], self.source[idx], self.files,
            None if self.raw is None else self.raw[idx],
        )


def csv_files(data_dir: Path = DEFAULT_DATA, sub: str = CICIDS_DIR) -> list[Path]:
    """The flow CSVs of a data set folder (default: the sampled CIC-IDS2017), sorted by name."""
    d = data_dir / sub
    files = sorted(p for p in d.glob("*.csv") if p.name != "data_header_reference.csv")
    if not files:
        raise FileNotFoundError(f"no flow CSVs under {d}")
    return files


def nslkdd_files(data_dir: Path = DEFAULT_DATA) -> list[Path]:
    """NSL-KDD's `KDDTrain+_20Percent.txt` (no header line: the `nsl_kdd` mapping names the columns)."""
    f = data_dir / NSLKDD_FILE
    if not f.is_file():
        raise FileNotFoundError(f"no NSL-KDD file at {f}")
    return [f]


def binary_label(label: str) -> str:
    """NSL-KDD's binary task: `normal` stays, every attack name becomes `attack`."""
    return "normal" if label == "normal" else "attack"


def concat_csvs(files: list[Path], out: Path) -> Path:
    """One CSV with the shared header, for fitting one preprocessor over all files (one file is
    copied as is, header or not)."""
    if len(files) == 1:
        shutil.copyfile(files[0], out)
        return out
    header = None
    with open(out, "w", newline="") as w:
        for f in files:
            with open(f, newline="") as r:
                h = r.readline()
                if header is None:
                    header = h
                    w.write(h)
                elif h != header:
                    raise ValueError(f"{f}: header differs from {files[0]}")
                shutil.copyfileobj(r, w)
    return out


def fit_preprocessor(
    files: list[Path], work: Path, window: int = 8, group_by: str = "src", mapping: str = "cicflowmeter",
    constant: tuple[str, ...] = (),
) -> Path:
    """Fit one preprocessor on all `files` (concatenated) and save it as `work/preprocessor.json`.

    The categoricals named in `constant` keep no level, so every flow encodes them as id 0 (unseen):
    the model sees them as a constant (for a feature our own flows cannot provide)."""
    vigil = str(vigil_binary())
    work.mkdir(parents=True, exist_ok=True)
    prep = work / "preprocessor.json"
    allcsv = concat_csvs(files, work / "all.csv")
    subprocess.run(
        [vigil, "tokenize", "flow", str(allcsv), "--mapping", mapping, "--save-preprocessor", str(prep),
         "--out", str(work / "all.parquet"), "--window", str(window), "--group-by", group_by],
        check=True,
    )
    if constant:
        p = load_preprocessor(prep)
        names = [c["name"] for c in p["categorical"]]
        for name in constant:
            p["categorical"][names.index(name)]["levels"] = []
        prep.write_text(json.dumps(p, indent=2))
    return prep


def tokenize_files(
    files: list[Path], work: Path, prep: Path, window: int = 8, group_by: str = "src",
    mapping: str = "cicflowmeter", suffix: str = "",
) -> list[Path]:
    """Tokenize each file on its own (windows never span files) with the saved preprocessor."""
    vigil = str(vigil_binary())
    outs = []
    for f in files:
        out = work / (f.stem + suffix + ".parquet")
        subprocess.run(
            [vigil, "tokenize", "flow", str(f), "--mapping", mapping, "--preprocessor", str(prep),
             "--out", str(out), "--window", str(window), "--group-by", group_by],
            check=True,
        )
        outs.append(out)
    return outs


def tokenize(
    files: list[Path], work: Path, window: int = 8, group_by: str = "src", mapping: str = "cicflowmeter"
) -> tuple[list[Path], Path]:
    """Fit one preprocessor on all files, then tokenize each file with it. Returns (parquets, prep.json)."""
    prep = fit_preprocessor(files, work, window, group_by, mapping)
    return tokenize_files(files, work, prep, window, group_by, mapping), prep


def read_windows(parquets: list[Path]) -> Windows:
    nums, cats, pads, labels, srcs = [], [], [], [], []
    for i, p in enumerate(parquets):
        t = pq.read_table(p, columns=["label", "padding", "numeric", "categorical"])
        n = t.num_rows
        num = t.column("numeric").combine_chunks()
        cat = t.column("categorical").combine_chunks()
        # list<list<x>> with exactly W inner lists of fixed width: flatten twice, reshape.
        w = len(num[0]) if n else 0
        nf = np.asarray(num.flatten().flatten(), dtype=np.float32)
        cf = np.asarray(cat.flatten().flatten(), dtype=np.int64)
        nums.append(nf.reshape(n, w, -1))
        cats.append(cf.reshape(n, w, -1))
        pads.append(t.column("padding").to_numpy().astype(np.int64))
        labels.append(np.asarray(t.column("label").to_pylist(), dtype=object))
        srcs.append(np.full(n, i, dtype=np.int64))
    return Windows(
        np.concatenate(nums), np.concatenate(cats), np.concatenate(pads),
        np.concatenate(labels), np.concatenate(srcs), [str(p) for p in parquets],
    )


def stratified_split(labels: np.ndarray, val_frac: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per label, a fixed-seed shuffle; `val_frac` of each class (at least one when it has 2+) to validation."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for lab in sorted(set(labels.tolist())):
        idx = np.flatnonzero(labels == lab)
        rng.shuffle(idx)
        k = int(round(len(idx) * val_frac))
        if len(idx) >= 2:
            k = max(1, k)
        val.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def load_preprocessor(path: Path) -> dict:
    return json.loads(Path(path).read_text())


@dataclass(frozen=True)
class FlowTask:
    """One FlowTransformer set-up: which files, how `vigil tokenize flow` windows them, the label
    task and the artifact it exports (`python -m vigil_onnx.train <family>`)."""

    family: str  # the train/export subcommand; its work files go to build/<family>/
    artifact: str  # artifacts/<artifact>/
    files: Callable[[Path], list[Path]]
    mapping: str
    window: int
    group_by: str
    dataset: str  # for the manifest's training_data
    label_column: str
    label_map: Callable[[str], str] | None = None  # tokenizer label -> class; None = as is
    label_map_text: str | None = None
    notes: str = ""
    constant: tuple[str, ...] = ()  # categoricals kept without levels (features our flows lack)

    def classes(self, labels: np.ndarray) -> np.ndarray:
        """The tokenizer's labels mapped to this task's classes."""
        if self.label_map is None:
            return labels
        return np.asarray([self.label_map(l) for l in labels], dtype=object)


FLOW_TASKS = {
    "flow_transformer": FlowTask(
        family="flow_transformer", artifact="flow-transformer-cicids2017", files=csv_files,
        mapping="cicflowmeter", window=8, group_by="src",
        dataset="improved CIC-IDS2017 (Engelen et al.), sampled: shared/data/flows/cicids2017-improved-sampled",
        label_column="Label",
        notes=(
            "Validation macro-F1 is dominated by the rare classes (Heartbleed, Infiltration, the three "
            "web attacks: 1-11 validation windows each); one XSS window moves it by ~0.06, and it moved "
            "between 0.92 and 0.99 over the last epochs. Hyperparameters (class-weight power 0.5, lr 1e-3, "
            "30 epochs) were chosen after three runs on this same validation split; there is no separate "
            "test split. Windows are tokenized per file (one label per file), so a window's context "
            "flows share the scored flow's label."
        ),
    ),
    "flow_transformer_nslkdd": FlowTask(
        family="flow_transformer_nslkdd", artifact="flow-transformer-nslkdd", files=nslkdd_files,
        mapping="nsl_kdd", window=1, group_by="none",
        dataset="NSL-KDD (Tavallaee et al. 2009), KDDTrain+_20Percent: shared/data/flows/nsl-kdd",
        label_column="label (column 42 of 43; the 43rd, difficulty, is not read)",
        label_map=binary_label,
        label_map_text="binary: `normal` -> normal, every attack name -> attack",
        notes=(
            "W = 1: NSL-KDD records have no timestamps or addresses and the file is not in time order "
            "(adjacent rows share the binary label 50.1% of the time, 50.2% for random pairs), so the "
            "rows before a record are unrelated records; its 2-second and 100-connection traffic features "
            "(count, srv_count, dst_host_*) already summarise its context. The transformer therefore sees "
            "one token per record. Validation is a stratified 20% of KDDTrain+_20Percent (seed 0), not "
            "KDDTest+, whose unseen attack types make it much harder; hyperparameters are the CIC-IDS2017 "
            "ones, unchanged."
        ),
    ),
    "flow_transformer_iot23": FlowTask(
        family="flow_transformer_iot23", artifact="flow-transformer-iot23",
        files=lambda data: csv_files(data, IOT23_DIR), mapping="zeek_conn", window=8, group_by="src",
        dataset="IoT-23 labelled Zeek conn.logs (Garcia et al. 2020): shared/data/flows/iot-23-zeek-conn-labeled",
        label_column="label", label_map=lambda l: "Benign" if str(l).lower() == "benign" else "Malicious",
        label_map_text="binary: `benign`/`Benign` -> Benign, `Malicious` -> Malicious",
        constant=("service",),
        notes=("Zeek's `service` comes from protocol analyzers that vigil does not run (our flows say `-`), so "
               "the preprocessor keeps no level for it: the model cannot lean on it."),
    ),
}
