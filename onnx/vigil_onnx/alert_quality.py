"""Detection quality of the shipped rules, end to end: `vigil run` (this build) with
`rules = "builtin"` over the committed test splits, its flows and alerts read back from the
store and joined to the labels. No threshold is chosen here: the rules take theirs from the
manifests (chosen on validation data), and each test split is read once.

Data sets (each run on its own, as the models were evaluated):

- **CIC-IDS2017** (FlowTransformer, CICFlowMeter CSV): the test block of every file of
  `onnx/splits/cicids2017.json`, one run per file; a file holds one class.
- **IoT-23** (FlowTransformer, Zeek conn.log): the two held-out captures' conn.logs, one run
  each; labels joined on (start time in µs, 5-tuple).
- **Captures** (netFound, and FlowTransformer-IoT-23 on the flows made from the packets): the
  test capture files of `onnx/splits/netfound.json`, one run each; labels as netFound's
  (`netfound_data`): CIC-DDoS2019 by LUCID's rule, every flow of the malware/scan captures
  malicious, the nDPI-labelled flows of the other captures benign, the rest unlabelled.

Figures per data set and model rule:

- flow level (the rule's match: score at or above its threshold, before thresholding):
  precision, recall, and false alarms per 10 k benign flows;
- alert level (after thresholding, what an analyst sees): alerts and summaries per 10 k
  flows, the share of alerts raised on attack flows, and the attack sources alerted on.

Unlike the manifests' model figures, no test row is removed for matching a training row: a
sensor sees every flow. `python -m vigil_onnx.evaluate alerts` prints the report as JSON.
"""

from __future__ import annotations

import csv
import json
import subprocess
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow.dataset as ds

from . import data as D
from . import flow_splits as S
from . import netfound_data as N
from . import protocol as P

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

#: What every run's topology starts with: its sensor, batching and store.
HEADER = """
sensor = "quality"
[batch]
max_rows = 4096
max_ms = 1000
[store]
dir = "{store}"
"""

CSV_TOPOLOGY = HEADER + """
[sources.flows]
type = "flow_csv"
path = "{input}"
mapping = "{mapping}"
[transforms.score]
type = "score"
model = "{artifacts}/{model}"
inputs = ["flows"]
[transforms.alerts]
type = "alerts"
inputs = ["score"]
rules = "builtin"
[sinks.store]
type = "store"
inputs = ["score", "alerts"]
"""

CAPTURE_TOPOLOGY = HEADER + """
[sources.capture]
type = "pcap"
paths = ["{input}"]
[transforms.netfound]
type = "score"
model = "{artifacts}/netfound"
inputs = ["capture"]
[transforms.flowtransformer]
type = "score"
model = "{artifacts}/flow-transformer-iot23"
inputs = ["netfound"]
[transforms.alerts]
type = "alerts"
inputs = ["flowtransformer"]
rules = "builtin"
[sinks.store]
type = "store"
inputs = ["flowtransformer", "alerts"]
"""


def model_rules(vigil: Path) -> dict[str, dict]:
    """The built-in model rules as `vigil rules check --json` resolves them: {model: rule}."""
    out = subprocess.run([str(vigil), "rules", "check", "--json", "--models", str(ARTIFACTS)],
                         check=True, capture_output=True, text=True).stdout
    rules = [json.loads(line) for line in out.splitlines()]
    return {r["model"]: r for r in rules if r["kind"] == "model"}


def run(vigil: Path, topology: str, store: Path) -> float:
    """`vigil run` on a topology; returns the seconds it took."""
    store.mkdir(parents=True, exist_ok=True)
    config = store / "topology.toml"
    config.write_text(topology)
    t0 = time.time()
    r = subprocess.run([str(vigil), "-q", "run", "--config", str(config)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"vigil run failed ({r.returncode}) on {config}:\n{r.stderr[-3000:]}")
    return time.time() - t0


def read_table(store: Path, table: str, columns: list[str] | None = None):
    path = store / table
    if not path.is_dir():
        return None
    return ds.dataset(path, format="parquet", partitioning="hive").to_table(columns=columns)


def verdict_name(model: str) -> str:
    return "".join(c.lower() if c.isalnum() or c == "_" else "_" for c in model)


def rule_scores(flows, rule: dict, labels: list[str]) -> np.ndarray:
    """Each flow's value of the rule's field (NaN: not scored), as the model rule computes it."""
    col = flows.column(verdict_name(rule["model"])).combine_chunks()
    field = rule["field"]
    n = len(col)
    out = np.full(n, np.nan)
    valid = np.asarray(col.is_valid())
    if field == "attack":
        benign = labels.index(rule["not_label"])
        probs = col.field("probs").to_pylist()
        for i in range(n):
            if valid[i] and probs[i] is not None:
                out[i] = 1.0 - probs[i][benign]
    else:
        vals = col.field(field).to_pylist()
        for i in range(n):
            if valid[i] and vals[i] is not None:
                out[i] = vals[i]
    return out


class Tally:
    """Counts of one model rule over one data set."""

    def __init__(self):
        self.flows = self.scored = self.pos = self.neg = 0
        self.tp = self.fp = 0
        self.alerts = self.summaries = self.alerts_on_attack = self.alerts_on_benign = 0
        self.attack_sources: set = set()
        self.alerted_sources: set = set()
        self.sql: dict = defaultdict(int)

    def add_sql(self, store: Path):
        """The SQL rules' alerts of a run (signature → alerts), for the record."""
        t = read_table(store, "alerts")
        if t is None:
            return
        for sig, sid, kind in zip(t.column("signature").to_pylist(), t.column("signature_id").to_pylist(),
                                  t.column("event_type").to_pylist()):
            if kind == "alert" and sid >= 9_200_000:
                self.sql[f"{sid} {sig}"] += 1

    def add(self, score: np.ndarray, y: np.ndarray, src: list, key: list, alerts, threshold: float):
        """`y`: 1 attack, 0 benign, -1 unlabelled; `key`: each flow's flow_id; `alerts`: the
        rule's rows of the alerts table (pyarrow table)."""
        self.flows += len(y)
        scored = ~np.isnan(score)
        self.scored += int(scored.sum())
        hit = scored & (np.nan_to_num(score, nan=-1.0) >= threshold - 1e-6)
        self.pos += int((y == 1).sum())
        self.neg += int((y == 0).sum())
        self.tp += int((hit & (y == 1)).sum())
        self.fp += int((hit & (y == 0)).sum())
        self.attack_sources |= {src[i] for i in np.flatnonzero(y == 1)}
        label_of = dict(zip(key, y))
        if alerts is None:
            return
        kinds = alerts.column("event_type").to_pylist()
        fids = alerts.column("flow_id").to_pylist()
        srcs = alerts.column("src_ip").to_pylist()
        for kind, fid, s in zip(kinds, fids, srcs):
            if kind != "alert":
                self.summaries += 1
                continue
            self.alerts += 1
            lab = label_of.get(fid, -1)
            self.alerts_on_attack += int(lab == 1)
            self.alerts_on_benign += int(lab == 0)
            if lab == 1:
                self.alerted_sources.add(s)

    def report(self) -> dict:
        div = lambda a, b: round(a / b, 4) if b else None  # noqa: E731
        labelled = self.alerts_on_attack + self.alerts_on_benign
        return {
            "flows": self.flows, "scored": self.scored, "attack_flows": self.pos, "benign_flows": self.neg,
            "flow_precision": div(self.tp, self.tp + self.fp), "flow_recall": div(self.tp, self.pos),
            "false_alarms_per_10k_benign": div(10_000 * self.fp, self.neg),
            "alerts": self.alerts, "summaries": self.summaries,
            "alerts_per_10k_flows": div(10_000 * self.alerts, self.flows),
            "alert_precision": div(self.alerts_on_attack, labelled),
            "attack_sources": len(self.attack_sources),
            "attack_sources_alerted": len(self.alerted_sources & self.attack_sources),
            "sql_rule_alerts": dict(sorted(self.sql.items())),
        }


def alerts_of(store: Path, sid: int):
    t = read_table(store, "alerts")
    if t is None:
        return None
    import pyarrow.compute as pc

    return t.filter(pc.equal(t.column("signature_id"), sid))


def cicids2017(vigil: Path, data: Path, work: Path, rules: dict) -> dict:
    model = "flow-transformer-cicids2017"
    rule = rules[model]
    labels = json.loads((ARTIFACTS / model / "manifest.json").read_text())["labels"]
    parts = S.write_parts("cicids2017", data, work / "split")
    tally, seconds = Tally(), 0.0
    for f in parts["test"]:
        with open(f, newline="") as fh:
            classes = {r["Label"] for r in csv.DictReader(fh)}
        (label,) = classes
        store = work / "runs" / f.stem
        seconds += run(vigil, CSV_TOPOLOGY.format(store=store, input=f, mapping="cicflowmeter",
                                                  artifacts=ARTIFACTS, model=model), store)
        flows = read_table(store, "flows")
        y = np.full(flows.num_rows, 0 if label == rule["not_label"] else 1)
        tally.add(rule_scores(flows, rule, labels), y, flows.column("src_ip").to_pylist(),
                  flows.column("flow_id").to_pylist(), alerts_of(store, rule["sid"]), rule["min_score"])
        tally.add_sql(store)
    return {"data": "CIC-IDS2017 test blocks", "rule": rule["sid"], "model": model,
            "threshold": rule["min_score"], "seconds": round(seconds, 1), **tally.report()}


def _conn_key(ts: str, src, sp, dst, dp, proto) -> tuple:
    whole, _, frac = ts.partition(".")
    us = int(whole) * 1_000_000 + int((frac + "000000")[:6])
    return (us, src, int(sp), dst, int(dp), proto)


PROTO = {"tcp": 6, "udp": 17, "icmp": 1}


def iot23(vigil: Path, data: Path, work: Path, rules: dict) -> dict:
    model = "flow-transformer-iot23"
    rule = rules[model]
    labels = json.loads((ARTIFACTS / model / "manifest.json").read_text())["labels"]
    parts = S.write_parts("iot23", data, work / "split")
    tally, seconds, unmatched = Tally(), 0.0, 0
    for f in parts["test"]:
        lab: dict = {}
        with open(f, newline="") as fh:
            for r in csv.DictReader(fh):
                k = _conn_key(r["ts"], r["id.orig_h"], r["id.orig_p"], r["id.resp_h"], r["id.resp_p"],
                              PROTO.get(r["proto"], -1))
                y = 1 if r["label"].lower().startswith("malicious") else 0
                lab[k] = y if lab.get(k, y) == y else -1
        store = work / "runs" / f.stem
        seconds += run(vigil, CSV_TOPOLOGY.format(store=store, input=f, mapping="zeek_conn",
                                                  artifacts=ARTIFACTS, model=model), store)
        flows = read_table(store, "flows")
        ts = flows.column("ts_start").cast("int64").to_pylist()
        cols = [flows.column(c).to_pylist() for c in ("src_ip", "src_port", "dst_ip", "dst_port", "proto")]
        y = []
        for i in range(flows.num_rows):
            v = lab.get((ts[i], cols[0][i], cols[1][i], cols[2][i], cols[3][i], cols[4][i]), -1)
            unmatched += int(v == -1)
            y.append(v)
        tally.add(rule_scores(flows, rule, labels), np.array(y), cols[0], flows.column("flow_id").to_pylist(),
                  alerts_of(store, rule["sid"]), rule["min_score"])
        tally.add_sql(store)
    return {"data": "IoT-23 held-out captures (conn.log)", "rule": rule["sid"], "model": model,
            "threshold": rule["min_score"], "unlabelled_flows": unmatched, "seconds": round(seconds, 1),
            **tally.report()}


def capture_labels(rel: str, flows, ndpi: dict) -> np.ndarray:
    """netFound's malicious labels of a capture's flows: 1, 0, or -1 (unlabelled)."""
    n = flows.num_rows
    src, dst = flows.column("src_ip").to_pylist(), flows.column("dst_ip").to_pylist()
    sp, dp = flows.column("src_port").to_pylist(), flows.column("dst_port").to_pylist()
    proto = flows.column("proto").to_pylist()
    name = rel.rsplit("/", 1)[1]
    y = np.full(n, -1)
    if rel in N.CICDDOS:
        for i in range(n):
            pair = {src[i], dst[i]}
            y[i] = int(bool(pair & N.LUCID["attackers"]) and bool(pair & N.LUCID["victims"]))
        return y
    if not rel.startswith("ndpi/pcap/"):
        return y
    if name in N.MALICIOUS_CAPTURES:
        return np.ones(n, dtype=int)
    for i in range(n):
        ports = (sp[i], dp[i]) if proto[i] not in (1, 58) else (0, 0)
        got = ndpi.get((name, proto[i], frozenset(((src[i], ports[0]), (dst[i], ports[1])))))
        if got and any(g != "Unknown" for g in got):
            y[i] = 0
    return y


def captures(vigil: Path, data: Path, work: Path, rules: dict) -> list[dict]:
    split = P.load_split("netfound")
    ndpi = N.ndpi_labels(data)
    models = {"netfound": [], "flow-transformer-iot23": []}
    tallies = {m: Tally() for m in models}
    manifests = {m: json.loads((ARTIFACTS / m / "manifest.json").read_text()) for m in models}
    seconds, files, failed = 0.0, 0, []
    for rel in split["test"]:
        store = work / "runs" / N._stem(rel)
        try:
            seconds += run(vigil, CAPTURE_TOPOLOGY.format(store=store, input=data / "pcap" / rel,
                                                          artifacts=ARTIFACTS), store)
        except RuntimeError as e:
            failed.append(f"{rel}: {str(e).splitlines()[-1]}")
            continue
        files += 1
        flows = read_table(store, "flows")
        if flows is None:
            continue
        y = capture_labels(rel, flows, ndpi)
        for m in models:
            rule = rules[m]
            tallies[m].add(rule_scores(flows, rule, manifests[m]["labels"]), y,
                           flows.column("src_ip").to_pylist(), flows.column("flow_id").to_pylist(),
                           alerts_of(store, rule["sid"]), rule["min_score"])
        tallies["netfound"].add_sql(store)
    return [{"data": f"netFound test captures ({files} files)", "rule": rules[m]["sid"], "model": m,
             "threshold": rules[m]["min_score"], "failed_files": failed, "seconds": round(seconds, 1),
             **tallies[m].report()} for m in models]


def evaluate_alerts(args) -> list[dict]:
    vigil = D.vigil_binary()
    data = Path(args.data)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="vigil-alert-quality-"))
    rules = model_rules(vigil)
    out = []
    for name, f in (("cicids2017", cicids2017), ("iot23", iot23)):
        if args.only and name not in args.only:
            continue
        r = f(vigil, data, work / name, rules)
        print(json.dumps(r), flush=True)
        out.append(r)
    if not args.only or "captures" in args.only:
        for r in captures(vigil, data, work / "captures", rules):
            print(json.dumps(r), flush=True)
            out.append(r)
    return out


#: The figures `compare` checks, exactly (run times are not compared) ...
EXACT = ("flows", "attack_flows", "benign_flows", "attack_sources_alerted", "sql_rule_alerts")
#: ... and within a tolerance: scores of a flow can differ in the last bits with how its
#: scoring batch was cut, which can move a flow across a threshold.
CLOSE = {"flow_precision": 0.002, "flow_recall": 0.002, "alert_precision": 0.01, "alerts": 0.01,
         "summaries": 0.01}


def _differs(key: str, a, b) -> bool:
    if key in EXACT or a is None or b is None:
        return a != b
    tol = CLOSE[key]
    return abs(a - b) > (tol * max(abs(b), 1) if key in ("alerts", "summaries") else tol)


def compare(got: list[dict], recorded: list[dict]) -> None:
    """Fail when a recomputed figure differs from the recorded report's (same data and model)."""
    by_key = {(r["data"], r["model"]): r for r in recorded}
    diffs = []
    for r in got:
        old = by_key.get((r["data"], r["model"]))
        if old is None:
            diffs.append(f"{r['data']} / {r['model']}: not in the recorded report")
            continue
        diffs += [f"{r['data']} / {r['model']}: {k} {r[k]} (recorded {old.get(k)})"
                  for k in (*EXACT, *CLOSE) if _differs(k, r.get(k), old.get(k))]
    if diffs:
        raise SystemExit("alert quality differs from the recorded report (re-run "
                         "`python -m vigil_onnx.evaluate alerts --out ../pipelines/rules/quality.json` "
                         "if the change is intended):\n  " + "\n  ".join(diffs))
    print(f"alert quality: {len(got)} figures sets as recorded")
