"""Fixed train / validation / test splits of the flow data sets (committed under `onnx/splits/`).

- **CIC-IDS2017** (`cicids2017.json`): within each file (one class per file), rows are ordered
  by `Timestamp`, then `id`, and cut into contiguous blocks: the first 60% train, the next 20%
  validation, the last 20% test. Each block is written and tokenized on its own, so no window
  ever holds flows of two splits (a stronger guarantee than a gap of W flows).
- **NSL-KDD** (`nslkdd.json`): whole attack types are held out in validation and test (unseen
  attacks). `normal` rows and the rows of the training types go by the sha1 of the record's
  text: bucket (mod 10) 0-5 train, 6-7 validation, 8-9 test, so identical records never straddle
  splits and validation and test also hold seen types.

- **IoT-23** (`iot23.json`): split by file for test (the two captures `IOT23_TEST`: Hakai, a
  family found nowhere else, and a small Mirai capture); every other file is ordered by `ts`,
  then `uid`, and cut into contiguous blocks, 80% train and 20% validation, each tokenized on
  its own. The files are first normalised as Zeek writes conn.log (`iot23_normalise`).

`make_*` draws a split and records it; `write_parts` re-applies the committed record, checks it
(file sha256, block sizes and boundary rows) and writes one CSV per split and source file. The
CSVs are read and written with Polars, every cell kept as the text the source holds, so the
written parts are byte for byte those of the csv-module version they replaced.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

import polars as pl

from . import data as D
from . import protocol as P

PARTS = ("train", "validation", "test")
CIC_FRACTIONS = (0.6, 0.2, 0.2)
NSL_BUCKETS = {"train": range(0, 6), "validation": range(6, 8), "test": range(8, 10)}
#: NSL-KDD attack types per split, by category (Attack_Types.csv): each split's DoS, probe,
#: R2L and U2R types, the largest of each category kept for training.
NSL_TYPES = {
    "train": ["neptune", "teardrop", "ipsweep", "nmap", "warezclient", "imap", "ftp_write",
              "buffer_overflow"],
    "validation": ["back", "land", "portsweep", "warezmaster", "multihop", "loadmodule"],
    "test": ["smurf", "pod", "satan", "guess_passwd", "phf", "spy", "rootkit"],
}


IOT23_TEST = ("CTU-Malware-Capture-8-1-labeled.csv", "CTU-Malware-Capture-44-1-labeled.csv")
IOT23_FRACTIONS = (0.8, 0.2)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_text_csv(path: Path) -> pl.DataFrame:
    """A CSV with every cell as the text written (no type inference); an empty cell is null, which
    `write_text_csv` writes back as an empty cell."""
    return pl.read_csv(path, infer_schema=False)


def write_text_csv(frame: pl.DataFrame, path: Path, line_end: str) -> Path:
    """Cells as text, quoted only where needed (as Python's csv module writes them)."""
    frame.write_csv(path, line_terminator=line_end, quote_style="necessary")
    return path


def _cic_blocks(frame: pl.DataFrame) -> list[pl.DataFrame]:
    """Rows ordered by (Timestamp, id), an empty Timestamp first, cut 60/20/20."""
    frame = frame.sort(
        pl.col("Timestamp").str.to_datetime(time_unit="us"),
        pl.col("id").cast(pl.Int64),
        nulls_last=False, maintain_order=True,
    )
    a = int(round(frame.height * CIC_FRACTIONS[0]))
    b = a + int(round(frame.height * CIC_FRACTIONS[1]))
    return [frame[:a], frame[a:b], frame[b:]]


def iot23_normalise(src: Path, dst: Path) -> Path:
    """A copy as Zeek's own conn.log reads: LF line ends (the honeypot files use CRLF) and an unset
    `history` as `-` (IoT-23's export wrote Zeek's `-` as an empty cell). Nothing else changes."""
    frame = read_text_csv(src).with_columns(pl.col("history").fill_null("-"))
    return write_text_csv(frame, dst, "\n")


def _iot23_blocks(frame: pl.DataFrame) -> list[pl.DataFrame]:
    """Rows ordered by (ts, uid), cut 80/20."""
    frame = frame.sort(pl.col("ts").cast(pl.Float64), "uid", maintain_order=True)
    a = int(round(frame.height * IOT23_FRACTIONS[0]))
    return [frame[:a], frame[a:]]


def _ends(block: pl.DataFrame, key: Callable[[dict], list]) -> dict:
    """A block's size and the keys of its first and last rows, as the split record holds them."""
    if block.height == 0:
        return {"rows": 0, "first": None, "last": None}
    return {"rows": block.height, "first": key(block.row(0, named=True)),
            "last": key(block.row(-1, named=True))}


def _iot23_boundary(block: pl.DataFrame) -> dict:
    return _ends(block, lambda r: [r["ts"], r["uid"]])


def _boundary(block: pl.DataFrame) -> dict:
    return _ends(block, lambda r: [r["Timestamp"], int(r["id"])])


def make_iot23(data: Path = D.DEFAULT_DATA) -> dict:
    """The IoT-23 split record: test files whole, the others' train and validation blocks."""
    files = []
    for path in D.csv_files(data, D.IOT23_DIR):
        rec = {"file": path.name, "sha256": file_sha256(path)}
        if path.name in IOT23_TEST:
            rec["test"] = "whole file"
        else:
            blocks = _iot23_blocks(read_text_csv(path))
            rec.update({part: _iot23_boundary(b) for part, b in zip(PARTS[:2], blocks)})
        files.append(rec)
    return {"dataset": D.IOT23_DIR,
            "rule": ("test: the whole files CTU-Malware-Capture-8-1 and -44-1; every other file ordered by "
                     "(ts, uid) and cut into contiguous blocks, 80% train and 20% validation; each block "
                     "tokenized on its own"),
            "files": files}


def make_cicids(data: Path = D.DEFAULT_DATA) -> dict:
    """The CIC-IDS2017 split record: per file, the row range of each block."""
    files = []
    for path in D.csv_files(data):
        blocks = _cic_blocks(read_text_csv(path))
        files.append({"file": path.name, "sha256": file_sha256(path),
                      **{part: _boundary(b) for part, b in zip(PARTS, blocks)}})
    return {
        "dataset": D.CICIDS_DIR,
        "rule": ("per file: rows ordered by (Timestamp, id), cut into contiguous blocks of 60% train, "
                 "20% validation, 20% test; each block tokenized on its own"),
        "files": files,
    }


def make_nslkdd(data: Path = D.DEFAULT_DATA) -> dict:
    """The NSL-KDD split record: held-out types and the counts the hash rule gives."""
    path = D.nslkdd_files(data)[0]
    parts = _nsl_assign(path, None)
    return {
        "dataset": D.NSLKDD_FILE,
        "file": path.name,
        "sha256": file_sha256(path),
        "rule": ("attack types listed under `types` go whole to their split; `normal` and the other "
                 "types by sha1(record text) mod 10: 0-5 train, 6-7 validation, 8-9 test"),
        "types": NSL_TYPES,
        "rows": {part: len(v) for part, v in parts.items()},
    }


def _nsl_assign(path: Path, types: dict | None) -> dict[str, list[str]]:
    types = types or NSL_TYPES
    owner = {t: part for part, ts in types.items() for t in ts if part != "train"}
    out = {p: [] for p in PARTS}
    with open(path, newline="") as f:
        for line in f:
            if not line.strip():
                continue
            label = line.split(",")[41]
            part = owner.get(label)
            if part is None:
                b = P.hash_bucket(line.rstrip("\r\n"))
                part = next(p for p, r in NSL_BUCKETS.items() if b in r)
            out[part].append(line)
    return out


def _check_sha(path: Path, want: str) -> None:
    got = file_sha256(path)
    if got != want:
        raise ValueError(f"{path}: sha256 {got} differs from the committed split's {want}")


def write_parts(name: str, data: Path, out: Path) -> dict[str, list[Path]]:
    """Apply the committed split `name` (`cicids2017` or `nslkdd`): one CSV per split and source
    file under `out`, checked against the record. Returns {part: [csv, ...]}."""
    split = P.load_split(name)
    out.mkdir(parents=True, exist_ok=True)
    written = {p: [] for p in PARTS}
    if name == "cicids2017":
        for rec in split["files"]:
            path = data / split["dataset"] / rec["file"]
            _check_sha(path, rec["sha256"])
            for part, block in zip(PARTS, _cic_blocks(read_text_csv(path))):
                if _boundary(block) != rec[part]:
                    raise ValueError(f"{path}: the {part} block differs from onnx/splits/{name}.json")
                written[part].append(write_text_csv(block, out / f"{path.stem}.{part}.csv", "\r\n"))
    elif name == "iot23":
        for rec in split["files"]:
            path = data / split["dataset"] / rec["file"]
            _check_sha(path, rec["sha256"])
            norm = iot23_normalise(path, out / f"{path.stem}.normalised.csv")
            if "test" in rec:
                written["test"].append(norm)
                continue
            for part, block in zip(PARTS[:2], _iot23_blocks(read_text_csv(norm))):
                if _iot23_boundary(block) != rec[part]:
                    raise ValueError(f"{path}: the {part} block differs from onnx/splits/{name}.json")
                written[part].append(write_text_csv(block, out / f"{path.stem}.{part}.csv", "\n"))
    elif name == "nslkdd":
        path = data / split["dataset"]
        _check_sha(path, split["sha256"])
        for part, lines in _nsl_assign(path, split["types"]).items():
            if len(lines) != split["rows"][part]:
                raise ValueError(f"{path}: {len(lines)} {part} rows, the committed split says {split['rows'][part]}")
            dst = out / f"{path.stem}.{part}.txt"
            dst.write_text("".join(lines))
            written[part].append(dst)
    else:
        raise ValueError(f"unknown flow split {name!r}")
    return written
