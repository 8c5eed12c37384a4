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
import hashlib
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
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


def _endpoint_key(host: pl.Expr, port: pl.Expr) -> pl.Expr:
    return pl.concat_str([host, pl.lit(" "), port.cast(pl.Utf8)])


def _pair_key(a: pl.Expr, b: pl.Expr) -> list[pl.Expr]:
    """The two endpoints in a fixed order, so a flow matches nDPI's line in either direction."""
    return [pl.min_horizontal(a, b).alias("ep_lo"), pl.max_horizontal(a, b).alias("ep_hi")]


def ndpi_frame(data: Path) -> pl.DataFrame:
    """nDPI's flows as (pcap, proto, ep_lo, ep_hi, nth, master), in file order; `nth` numbers
    the lines of one (pcap, proto, endpoints) key. A label that nDPI did not get from the
    packets' content (`[Confidence: Match by port]`, `Match by IP`, custom rule, nBPF) becomes
    "Unknown": a port guess is no traffic-class ground truth (synscan.pcap's SYN-only flows are
    "VNC", "AJP", ... by port)."""
    raw = pl.read_csv(data / NDPI_CSV, infer_schema=False)

    def endpoint(col: str) -> pl.Expr:
        parts = pl.col(col).str.extract_groups(r"^(.*):([^:]*)$")
        return _endpoint_key(parts.struct.field("1").str.strip_chars("[]"),
                             parts.struct.field("2").cast(pl.Int64))

    conf = pl.col("raw_line").str.extract(r"\]\[Confidence: ([^\]]+)\]", 1)
    master = pl.col("ndpi_proto").str.splitn("/", 2).struct.field("field_1").str.split(".").list.first()
    return (
        raw.select(
            pl.col("pcap"),
            pl.col("l4").replace_strict(L4, default=pl.col("l4").cast(pl.Int64, strict=False).fill_null(-1),
                                        return_dtype=pl.Int64).alias("proto"),
            *_pair_key(endpoint("src"), endpoint("dst")),
            pl.when(conf.str.starts_with("DPI").fill_null(False)).then(master).otherwise(pl.lit("Unknown"))
            .alias("master"),
        )
        .with_columns(pl.int_range(pl.len()).over("pcap", "proto", "ep_lo", "ep_hi").alias("nth"))
    )


def ndpi_labels(data: Path) -> dict:
    """{(pcap, proto, frozenset of endpoints): [master protocol, ...]} in file order (see
    `ndpi_frame`), for lookups flow by flow."""
    lab: dict = {}
    for pcap, proto, lo, hi, master in ndpi_frame(data).select(
            "pcap", "proto", "ep_lo", "ep_hi", "master").iter_rows():
        ends = frozenset((h, int(p)) for h, p in (e.rsplit(" ", 1) for e in (lo, hi)))
        lab.setdefault((pcap, proto, ends), []).append(master)
    return lab


def _flow_keys(fi: int, rel: str, tokens: pa.Table, flows_path: Path) -> pl.DataFrame:
    """A capture's tokenized flows in order, joined on `flow_id` to `vigil flows`' 5-tuple.
    `matched` is false where the flow is missing or its `community_id` differs."""
    tok = pl.from_arrow(tokens.select(["flow_id", "community_id", "protocol"]))
    flo = (pl.read_parquet(flows_path, columns=["flow_id", "community_id", "src_ip", "dst_ip", "src_port", "dst_port"])
           .unique("flow_id", keep="last", maintain_order=True)
           .rename({"community_id": "flow_community_id"}))
    j = tok.join(flo, on="flow_id", how="left", maintain_order="left")
    matched = (pl.col("community_id") == pl.col("flow_community_id")).fill_null(False)
    return j.select(
        pl.lit(fi).alias("file"), pl.lit(rel).alias("rel"), pl.col("protocol").cast(pl.Int64).alias("proto"),
        matched.alias("matched"),
        *(pl.when(matched).then(pl.col(c)).otherwise(pl.lit("")).alias(c[:3]) for c in ("src_ip", "dst_ip")),
        *(pl.when(matched).then(pl.col(c).cast(pl.Int64)).otherwise(0).alias(c[0] + "port")
          for c in ("src_port", "dst_port")),
    )


def label_flows(flows: pl.DataFrame, ndpi: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
    """Each flow's traffic class (`app`, "" when unlabelled) and malicious label (1, 0, -1
    unlabelled), by the rules of the module doc.

    A flow of an nDPI capture takes nDPI's line on its (pcap, proto, endpoints) key, an ICMP flow
    with ports 0 when its own ports miss (nDPI prints 0); several flows on one key take the lines
    in order, and those past the last line stay unlabelled (`ndpi_ambiguous_keys`)."""
    keys = ndpi.select("pcap", "proto", "ep_lo", "ep_hi").unique().with_columns(pl.lit(True).alias("known"))
    mal_files = ["ndpi/pcap/" + m for m in MALICIOUS_CAPTURES]
    is_ndpi = pl.col("matched") & pl.col("rel").str.starts_with("ndpi/pcap/")
    pcap = pl.col("rel").str.split("/").list.last().alias("pcap")

    def pair(ports: bool) -> list[pl.Expr]:
        sp, dp = (pl.col("sport"), pl.col("dport")) if ports else (pl.lit(0), pl.lit(0))
        return _pair_key(_endpoint_key(pl.col("src"), sp), _endpoint_key(pl.col("dst"), dp))

    by_port = flows.with_row_index("row").with_columns(pcap, *pair(True))
    by_port = by_port.join(keys, on=["pcap", "proto", "ep_lo", "ep_hi"], how="left", maintain_order="left")
    icmp = pl.col("known").is_null() & pl.col("proto").is_in([1, 58])
    zero = dict(zip(("ep_lo", "ep_hi"), pair(False)))
    keyed = (
        by_port.with_columns(*(pl.when(icmp).then(zero[c]).otherwise(pl.col(c)).alias(c) for c in zero))
        .drop("known")
        .join(keys, on=["pcap", "proto", "ep_lo", "ep_hi"], how="left", maintain_order="left")
        .with_columns(known=is_ndpi & pl.col("known").fill_null(False))
        .with_columns(nth=pl.when(pl.col("known")).then(pl.int_range(pl.len()).over(
            pl.col("known"), "pcap", "proto", "ep_lo", "ep_hi")))
        .join(ndpi, on=["pcap", "proto", "ep_lo", "ep_hi", "nth"], how="left", maintain_order="left")
    )
    lucid = (pl.col("src").is_in(list(LUCID["attackers"])) | pl.col("dst").is_in(list(LUCID["attackers"]))) & \
        (pl.col("src").is_in(list(LUCID["victims"])) | pl.col("dst").is_in(list(LUCID["victims"])))
    labelled = keyed.sort("row").select(
        pl.col("master").fill_null("").alias("app"),
        pl.when(is_ndpi & pl.col("rel").is_in(mal_files)).then(1)
        .when(is_ndpi & ~pl.col("master").fill_null("").is_in(["", "Unknown"])).then(0)
        .when(pl.col("matched") & pl.col("rel").is_in(CICDDOS)).then(lucid.cast(pl.Int64))
        .otherwise(-1).alias("malicious"),
    )
    stats = {"ndpi_matched": int(keyed["master"].is_not_null().sum()),
             "ndpi_ambiguous_keys": int((keyed["known"] & keyed["master"].is_null()).sum()),
             "community_id_mismatch": int((~flows["matched"]).sum())}
    return labelled, stats


def load(data: Path, work: Path, nb: int, t: int, threads: int = 2) -> tuple[Flows, dict]:
    done = tokenize_all(data, work, threads)
    ndpi = ndpi_frame(data)
    arrays, keys, files = [], [], []
    for fi, (rel, tok, flo) in enumerate(done):
        files.append(rel)
        tt = pq.read_table(tok)
        if tt.num_rows == 0:
            continue
        arrays.append(pad_flows(tt, nb, t))
        keys.append(_flow_keys(fi, rel, tt, flo))
    flows = pl.concat(keys)
    labelled, matching = label_flows(flows, ndpi)
    stats = {"files_tokenized": len(done), "flows": flows.height, "ndpi_rows": ndpi.height, **matching}
    out = Flows(**{k: np.concatenate([a[k] for a in arrays]) for k in arrays[0]},
                file=flows["file"].to_numpy().astype(np.int64), files=files,
                src=flows["src"].to_list(), dst=flows["dst"].to_list(),
                sport=flows["sport"].to_numpy().astype(np.int64), dport=flows["dport"].to_numpy().astype(np.int64),
                app=labelled["app"].to_numpy().astype(object), malicious=labelled["malicious"].to_numpy().astype(np.int64))
    return out, stats


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
