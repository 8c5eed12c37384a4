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
(file sha256, block sizes and boundary rows) and writes one CSV per split and source file.
"""

from __future__ import annotations

import csv
import hashlib
from datetime import datetime
from pathlib import Path

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


def _time_key(row: dict) -> tuple:
    ts = row["Timestamp"]
    return (datetime.fromisoformat(ts) if ts else datetime.min, int(row["id"]))


def _read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as f:
        r = csv.DictReader(f)
        return list(r.fieldnames), list(r)


def _cic_blocks(rows: list[dict]) -> list[list[dict]]:
    rows = sorted(rows, key=_time_key)
    a = int(round(len(rows) * CIC_FRACTIONS[0]))
    b = a + int(round(len(rows) * CIC_FRACTIONS[1]))
    return [rows[:a], rows[a:b], rows[b:]]


def iot23_normalise(src: Path, dst: Path) -> Path:
    """A copy as Zeek's own conn.log reads: LF line ends (the honeypot files use CRLF) and an unset
    `history` as `-` (IoT-23's export wrote Zeek's `-` as an empty cell). Nothing else changes."""
    with open(src, newline="") as r, open(dst, "w", newline="") as w:
        rows = csv.reader(r)
        out = csv.writer(w, lineterminator="\n")
        header = next(rows)
        h = header.index("history")
        out.writerow(header)
        for row in rows:
            if len(row) > h and row[h] == "":
                row[h] = "-"
            out.writerow(row)
    return dst


def _iot23_blocks(rows: list[dict]) -> list[list[dict]]:
    rows = sorted(rows, key=lambda r: (float(r["ts"]), r["uid"]))
    a = int(round(len(rows) * IOT23_FRACTIONS[0]))
    return [rows[:a], rows[a:]]


def _iot23_boundary(block: list[dict]) -> dict:
    return {"rows": len(block), "first": [block[0]["ts"], block[0]["uid"]] if block else None,
            "last": [block[-1]["ts"], block[-1]["uid"]] if block else None}


def make_iot23(data: Path = D.DEFAULT_DATA) -> dict:
    """The IoT-23 split record: test files whole, the others' train and validation blocks."""
    files = []
    for path in D.csv_files(data, D.IOT23_DIR):
        rec = {"file": path.name, "sha256": file_sha256(path)}
        if path.name in IOT23_TEST:
            rec["test"] = "whole file"
        else:
            _, rows = _read_csv(path)
            rec.update({part: _iot23_boundary(b) for part, b in zip(PARTS[:2], _iot23_blocks(rows))})
        files.append(rec)
    return {"dataset": D.IOT23_DIR,
            "rule": ("test: the whole files CTU-Malware-Capture-8-1 and -44-1; every other file ordered by "
                     "(ts, uid) and cut into contiguous blocks, 80% train and 20% validation; each block "
                     "tokenized on its own"),
            "files": files}


def _boundary(block: list[dict]) -> dict:
    return {"rows": len(block),
            "first": [block[0]["Timestamp"], int(block[0]["id"])] if block else None,
            "last": [block[-1]["Timestamp"], int(block[-1]["id"])] if block else None}


def make_cicids(data: Path = D.DEFAULT_DATA) -> dict:
    """The CIC-IDS2017 split record: per file, the row range of each block."""
    files = []
    for path in D.csv_files(data):
        _, rows = _read_csv(path)
        blocks = _cic_blocks(rows)
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
            header, rows = _read_csv(path)
            for part, block in zip(PARTS, _cic_blocks(rows)):
                if _boundary(block) != rec[part]:
                    raise ValueError(f"{path}: the {part} block differs from onnx/splits/{name}.json")
                dst = out / f"{path.stem}.{part}.csv"
                with open(dst, "w", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=header)
                    w.writeheader()
                    w.writerows(block)
                written[part].append(dst)
    elif name == "iot23":
        for rec in split["files"]:
            path = data / split["dataset"] / rec["file"]
            _check_sha(path, rec["sha256"])
            norm = iot23_normalise(path, out / f"{path.stem}.normalised.csv")
            if "test" in rec:
                written["test"].append(norm)
                continue
            header, rows = _read_csv(norm)
            for part, block in zip(PARTS[:2], _iot23_blocks(rows)):
                if _iot23_boundary(block) != rec[part]:
                    raise ValueError(f"{path}: the {part} block differs from onnx/splits/{name}.json")
                dst = out / f"{path.stem}.{part}.csv"
                with open(dst, "w", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
                    w.writeheader()
                    w.writerows(block)
                written[part].append(dst)
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
