"""netFound training data, produced only by the Rust tokenizer (`vigil tokenize netfound`).

Every capture file under `$VIGIL_DATA/pcap` (INDEX.csv) is tokenized on its own, and `vigil flows`
is run on the same file, so each tokenized flow gets its 5-tuple by joining on `flow_id` (checked
through `community_id`, which both write). Labels:

- traffic class: nDPI's master protocol (`ndpi_proto` `91.26/TLS.ntop` -> `TLS`) from
  `pcap/derived/ndpi_flows_expected.csv`, matched on (pcap, L4 protocol, the two endpoints in
  either direction), when nDPI's confidence is DPI (`DPI`, `DPI (cache)`, `DPI (partial)`);
  `Unknown`, port/IP guesses and unmatched flows are unlabelled (pretraining only).
- malicious: CIC-DDoS2019 flows between the attacker 172.16.0.5 and a victim 192.168.50.1/.4
  (LUCID's rule, either direction) are malicious, the other flows of those captures benign; every
  flow of the malware/scan captures named in PROVENANCE.md is malicious; the nDPI-labelled flows of
  the other nDPI captures are benign.
"""

from __future__ import annotations

import csv
import re
import hashlib
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from .data import DEFAULT_DATA, vigil_binary

NDPI_CSV = "pcap/derived/ndpi_flows_expected.csv"
INDEX_CSV = "pcap/INDEX.csv"
# The malware/scan captures of pcap/PROVENANCE.md that are present in pcap/ndpi/pcap (tcp_scan,
# sql_injection, xss and WebattackSQLinj are named there but not shipped).
MALICIOUS_CAPTURES = [
    "WebattackRCE.pcap", "bot.pcap", "dns-tunnel-iodine.pcap", "dns2tcp_tunnel.pcap",
    "dns_exfiltration.pcap", "emotet.pcap", "icmp-tunnel.pcap", "log4j-webapp-exploit.pcap",
    "malware.pcap", "synscan.pcap", "trickbot.pcap",
]
CICDDOS = ["attacks/cic-ddos2019/CIC-DDoS-2019-SynFlood.pcap", "attacks/cic-ddos2019/CIC-DDoS-2019-WebDDoS.pcap"]
LUCID = {"attackers": {"172.16.0.5"}, "victims": {"192.168.50.1", "192.168.50.4"}}
L4 = {"TCP": 6, "UDP": 17, "ICMP": 1, "ICMPV6": 58, "IGMP": 2, "ESP": 50, "VRRP": 112, "OSPF": 89, "PIM": 103}


def capture_files(data: Path = DEFAULT_DATA) -> list[str]:
    """Every capture of pcap/INDEX.csv, as paths relative to pcap/."""
    with open(data / INDEX_CSV, newline="") as f:
        return sorted(r["path"] for r in csv.DictReader(f))


def _stem(rel: str) -> str:
    return rel.replace("/", "__")


def tokenize_all(data: Path, work: Path, threads: int = 2) -> list[tuple[str, Path, Path]]:
    """`vigil tokenize netfound` and `vigil flows` per capture file (skipped when already there)."""
    vigil = str(vigil_binary())
    out_dir = work / "tokens"
    out_dir.mkdir(parents=True, exist_ok=True)

    def one(rel: str):
        """A capture the reader refuses (truncated fuzz-2021-10-13.pcap, the pcapng with two
        snapshot lengths) is skipped, as is one where either command fails."""
        src = data / "pcap" / rel
        tok, flo = out_dir / (_stem(rel) + ".tok.parquet"), out_dir / (_stem(rel) + ".flows.parquet")
        for out, cmd in ((tok, [vigil, "tokenize", "netfound", str(src), "--out", str(tok), "-q"]),
                         (flo, [vigil, "flows", str(src), "--format", "parquet", "-o", str(flo), "-q"])):
            if not out.exists() and subprocess.run(cmd, capture_output=True).returncode != 0:
                out.unlink(missing_ok=True)
                return None
        return rel, tok, flo

    with ThreadPoolExecutor(threads) as ex:
        done = list(ex.map(one, capture_files(data)))
    return [d for d in done if d is not None and d[1].exists() and d[2].exists()]


@dataclass
class Flows:
    """Per flow, padded to [N, NB, T]: tokens int64, directions int64, bytes/counts/iats float32,
    protocol int64 [N]; file index, 5-tuple and labels."""

    tokens: np.ndarray
    directions: np.ndarray
    bytes: np.ndarray
    counts: np.ndarray
    iats: np.ndarray
    protocol: np.ndarray
    file: np.ndarray  # [N] index into files
    files: list[str]
    src: list
    dst: list
    sport: np.ndarray
    dport: np.ndarray
    app: np.ndarray  # [N] object: nDPI master protocol, "" when unlabelled
    malicious: np.ndarray  # [N] int64: 1 malicious, 0 benign, -1 unlabelled

    def __len__(self) -> int:
        return len(self.protocol)

    def inputs(self, idx) -> dict:
        return {"tokens": self.tokens[idx], "directions": self.directions[idx], "bytes": self.bytes[idx],
                "counts": self.counts[idx], "iats": self.iats[idx], "protocol": self.protocol[idx]}


def pad_flows(table, nb: int, t: int) -> dict:
    """The Parquet columns as the ONNX inputs: bursts truncated to t tokens / right-padded with 0,
    missing bursts all zero."""
    n = table.num_rows
    tokens = np.zeros((n, nb, t), dtype=np.int64)
    out = {k: np.zeros((n, nb), dtype=np.float32) for k in ("bytes", "counts", "iats")}
    dirs = np.zeros((n, nb), dtype=np.int64)
    bt = table.column("burst_tokens").to_pylist()
    cols = {k: table.column(k).to_pylist() for k in ("directions", "bytes", "counts", "iats")}
    for i in range(n):
        for j, b in enumerate(bt[i][:nb]):
            b = b[:t]
            tokens[i, j, :len(b)] = b
            dirs[i, j] = int(cols["directions"][i][j])
            for k in ("bytes", "counts", "iats"):
                out[k][i, j] = cols[k][i][j]
    return {"tokens": tokens, "directions": dirs, **out,
            "protocol": table.column("protocol").to_numpy().astype(np.int64)}


def _endpoint(s: str) -> tuple[str, int]:
    host, port = s.rsplit(":", 1)
    return host.strip("[]"), int(port)


def ndpi_labels(data: Path) -> dict:
    """{(pcap, proto, frozenset of endpoints): [master protocol, ...]} in file order. A label that
    nDPI did not get from the packets' content (`[Confidence: Match by port]`, `Match by IP`, custom
    rule, nBPF) becomes "Unknown": a port guess is no traffic-class ground truth (synscan.pcap's
    SYN-only flows are "VNC", "AJP", ... by port)."""
    lab: dict = {}
    with open(data / NDPI_CSV, newline="") as f:
        for r in csv.DictReader(f):
            proto = L4.get(r["l4"], int(r["l4"]) if r["l4"].isdigit() else -1)
            a, b = _endpoint(r["src"]), _endpoint(r["dst"])
            master = r["ndpi_proto"].split("/", 1)[1].split(".")[0]
            conf = re.search(r"\]\[Confidence: ([^\]]+)\]", r["raw_line"])
            if not (conf and conf.group(1).startswith("DPI")):
                master = "Unknown"
            lab.setdefault((r["pcap"], proto, frozenset((a, b))), []).append(master)
    return lab


def load(data: Path, work: Path, nb: int, t: int, threads: int = 2) -> tuple[Flows, dict]:
    done = tokenize_all(data, work, threads)
    labels = ndpi_labels(data)
    mal_files = {"ndpi/pcap/" + m for m in MALICIOUS_CAPTURES}
    parts, files, stats = [], [], {"files_tokenized": len(done), "flows": 0, "ndpi_rows": sum(len(v) for v in labels.values()),
                                   "ndpi_matched": 0, "ndpi_ambiguous_keys": 0, "community_id_mismatch": 0}
    used: dict = {}
    for fi, (rel, tok, flo) in enumerate(done):
        tt = pq.read_table(tok)
        if tt.num_rows == 0:
            files.append(rel)
            continue
        ft = pq.read_table(flo, columns=["flow_id", "community_id", "src_ip", "dst_ip", "src_port", "dst_port", "proto"])
        fmap = {fid: k for k, fid in enumerate(ft.column("flow_id").to_pylist())}
        fcid = ft.column("community_id").to_pylist()
        fsrc, fdst = ft.column("src_ip").to_pylist(), ft.column("dst_ip").to_pylist()
        fsp, fdp = ft.column("src_port").to_pylist(), ft.column("dst_port").to_pylist()
        arr = pad_flows(tt, nb, t)
        n = tt.num_rows
        src, dst, sport, dport = [], [], np.zeros(n, np.int64), np.zeros(n, np.int64)
        app = np.full(n, "", dtype=object)
        mal = np.full(n, -1, dtype=np.int64)
        pcap_name = rel.rsplit("/", 1)[1]
        for i, (fid, cid, proto) in enumerate(zip(tt.column("flow_id").to_pylist(), tt.column("community_id").to_pylist(),
                                                  arr["protocol"].tolist())):
            k = fmap.get(fid)
            if k is None or fcid[k] != cid:
                stats["community_id_mismatch"] += 1
                src.append(""), dst.append("")
                continue
            src.append(fsrc[k]), dst.append(fdst[k])
            sport[i], dport[i] = fsp[k], fdp[k]
            if rel.startswith("ndpi/pcap/"):
                key = (pcap_name, proto, frozenset(((fsrc[k], fsp[k]), (fdst[k], fdp[k]))))
                got = labels.get(key)
                if got is None and proto in (1, 58):  # ICMP: nDPI prints port 0
                    key = (pcap_name, proto, frozenset(((fsrc[k], 0), (fdst[k], 0))))
                    got = labels.get(key)
                if got:
                    # Several of our flows on one key (or nDPI lines): take them in order.
                    j = used.get(key, 0)
                    if j < len(got):
                        used[key] = j + 1
                        app[i] = got[j]
                        stats["ndpi_matched"] += 1
                    else:
                        stats["ndpi_ambiguous_keys"] += 1
                if rel in mal_files:
                    mal[i] = 1
                elif app[i] not in ("", "Unknown"):
                    mal[i] = 0
            elif rel in CICDDOS:
                pair = {fsrc[k], fdst[k]}
                mal[i] = int(bool(pair & LUCID["attackers"]) and bool(pair & LUCID["victims"]))
        parts.append((arr, np.full(n, fi), src, dst, sport, dport, app, mal))
        files.append(rel)
        stats["flows"] += n
    cat = lambda j: np.concatenate([p[j] for p in parts])  # noqa: E731
    arrs = {k: np.concatenate([p[0][k] for p in parts]) for k in parts[0][0]}
    flows = Flows(**arrs, file=cat(1), files=files, src=sum((p[2] for p in parts), []),
                  dst=sum((p[3] for p in parts), []), sport=cat(4), dport=cat(5), app=cat(6), malicious=cat(7))
    return flows, stats


PARTS = ("train", "validation", "test")
#: The CIC-DDoS2019 captures go whole to one split each (there are two).
CICDDOS_PARTS = {CICDDOS[0]: "train", CICDDOS[1]: "test"}


def file_part(rel: str) -> str:
    """A capture's split: CICDDOS_PARTS, else sha256(path relative to pcap/) mod 100: < 25 test,
    < 45 validation, else train."""
    if rel in CICDDOS_PARTS:
        return CICDDOS_PARTS[rel]
    b = int(hashlib.sha256(rel.encode()).hexdigest(), 16) % 100
    return "test" if b < 25 else "validation" if b < 45 else "train"


def split(flows: Flows) -> np.ndarray:
    """[N] object: each flow's split (its capture file's), checked against onnx/splits/netfound.json
    (written when absent)."""
    parts = [file_part(rel) for rel in flows.files]
    record = {"rule": ("by capture file: sha256(path relative to pcap/) mod 100 < 25 test, < 45 validation, "
                       "else train; CIC-DDoS2019 SynFlood train, WebDDoS test"),
              **{p: sorted(rel for rel, q in zip(flows.files, parts) if q == p) for p in PARTS}}
    from . import protocol as P

    try:
        committed = P.load_split("netfound")
    except FileNotFoundError:
        P.save_split("netfound", record)
        committed = record
    if committed != record:
        raise SystemExit("the capture files' split differs from onnx/splits/netfound.json")
    return np.asarray(parts, dtype=object)[flows.file]
