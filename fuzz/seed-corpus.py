#!/usr/bin/env python3
"""Seed the fuzz corpora from the shared captures (classic pcap only).

decode_packet, flow_table: each seed holds up to 8 packets of one capture in
the fuzz targets' frame format: [link-type index, len_hi, len_lo, ts delta,
bytes...] (see fuzz_targets/common.rs for the index order).

decode_differential: one frame per seed, [link-type index, bytes...] (see
LINKTYPES in fuzz_targets/decode_differential.rs), picked from DIFF_SEEDS: the
frames on which the etherparse oracle found something to say.

capture_reader: whole capture files of at most 64 KiB (pcap, pcapng, gzip), Zeek's
weird traces and suricata-verify's decoder and IPv6-evasion cases among them, and
`vigil gen` captures when --vigil is given.

flow_csv, metrics_reader, action_log: [pick byte, the first lines of a file]; the pick
byte chooses the mapping (FLOW_MAPPINGS) or the format (see each target).

model_manifest: every committed manifest (onnx/artifacts/*/manifest.json).

usage: fuzz/seed-corpus.py [--data DIR] [--vigil BIN]   (writes fuzz/corpus/<target>/)
"""
import argparse, csv, glob, gzip, hashlib, os, struct, subprocess, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# Must match LINKTYPES in fuzz_targets/common.rs.
LINKTYPES = [1, 0, 108, 101, 228, 229, 113, 276, 9, 104, 105, 127, 192, 239]

# Must match LINKTYPES in fuzz_targets/decode_differential.rs (DLT_RAW 12/14 read as 101).
DIFF_LINKTYPES = [1, 113, 101, 228, 229, 0, 108]

# (seed name, capture under pcap/, 0-based packet index): one frame each.
DIFF_SEEDS = [
    ("eth-tcp-syn-options", "ndpi/pcap/443-curl.pcap", 0),
    ("eth-q-in-q-udp", "zeek/traces/q-in-q.pcap", 0),
    ("eth-ipv4-fragment", "ndpi/pcap/dns_fragmented.pcap", 2),
    ("eth-tcp-header-cut", "ndpi/pcap/fuzz-2006-09-29-28586.pcap", 26),
    ("eth-ipv6-zero-payload-len", "zeek/traces/cisco-fabric-path.pcap", 112),
    ("eth-icmpv6-quote-with-ah", "suricata-verify/tests/ipv6-evasion/ipv6-dos-with-ext-headers-5/denial6-5.pcap", 14),
    ("eth-pppoe-ipv6", "zeek/traces/pppoe.pcap", 21),
    ("eth-mpls-tcp", "zeek/traces/mixed-vlan-mpls.pcap", 0),
    ("sll-unlisted-arphrd", "ndpi/pcap/KakaoTalk_chat.pcap", 0),
    ("raw-ip", "ndpi/pcap/codm.pcap", 0),
    ("null-loopback", "ndpi/pcap/rdp.pcap", 0),
    ("ipv6-hop-by-hop-mld", "zeek/traces/icmp/icmp6-mldv2.pcap", 0),
]


def packets(path, limit):
    with open(path, "rb") as f:
        hdr = f.read(24)
        if len(hdr) < 24:
            return None, []
        for e in "<>":
            if struct.unpack(e + "I", hdr[:4])[0] in (0xA1B2C3D4, 0xA1B23C4D):
                break
        else:
            return None, []
        lt = struct.unpack(e + "I", hdr[20:24])[0] & 0x0FFFFFFF
        out = []
        while len(out) < limit:
            h = f.read(16)
            if len(h) < 16:
                break
            caplen = struct.unpack(e + "I", h[8:12])[0]
            data = f.read(caplen)
            if len(data) < caplen or caplen > 0xFFFF:
                break
            out.append(data)
        return lt, out


# Must match ingest/src/flow_records/mapping.rs BUILTIN (ColumnMapping::builtin_names()).
FLOW_MAPPINGS = ["cicflowmeter", "nf_v2", "nf_v2_derivable", "nsl_kdd", "zeek_conn"]

# (mapping, file under flows/): a flow_csv seed each.
FLOW_SEEDS = [
    ("cicflowmeter", "cicids2017-improved-sampled/Portscan_2500.csv"),
    ("nf_v2", "unsw-nb15-sampled/unsw-nb15_1_sampled.csv"),
    ("nsl_kdd", "nsl-kdd/KDDTrain+_20Percent.txt"),
    ("zeek_conn", "iot-23-zeek-conn-labeled/CTU-Malware-Capture-8-1-labeled.csv"),
    ("zeek_conn", "maccdc2012/maccdc2012_00016.csv"),
]

# (pick byte, file under timeseries/): metrics_reader seeds (pick: bits 0-1 the format,
# Auto/LongCsv/WideCsv/JsonLines; bit 2 no header; bit 3 `;`; bit 4 named .jsonl).
METRIC_SEEDS = [
    (0, "ett/ETTh1.csv"),
    (2, "ett/ETTh1.csv"),
    (0, "nab/data/realAWSCloudwatch/ec2_cpu_utilization_c6585a.csv"),
    (1, "nab/data/realAWSCloudwatch/ec2_cpu_utilization_c6585a.csv"),
    (6, "exchange_rate/exchange_rate.txt.gz"),
]

# (pick byte, file under user_actions/): action_log seeds (pick % 4: access log, auth
# log, CSV, JSON lines).
ACTION_SEEDS = [
    (0, "loghub/Apache/Apache_2k.log"),
    (1, "loghub/OpenSSH/OpenSSH_2k.log"),
    (1, "loghub/Linux/Linux_2k.log"),
    (2, "loghub/OpenSSH/OpenSSH_2k.log_structured.csv"),
]


# Must match KafkaFormat::NAMES (pipelines/src/runtime/sources/kafka_format.rs); the
# flow-CSV mappings follow them in the kafka_payload target's format byte.
KAFKA_NAMES = ["flows_json", "metrics_json", "actions_json", "arrow", "arrow_metrics", "arrow_actions", "pcap"]

# (which, file of the repository): config_toml seeds (which: 0 a topology, 1 rules).
CONFIG_SEEDS = [(0, "examples/vigil.toml"), (0, "dist/debian/vigil.toml"), (1, "pipelines/rules/default.toml")]


def kafka_seeds(data_dir):
    """One seed per decoder: messages joined by 0xFF 0xFE after the format byte."""
    sep = b"\xff\xfe"
    flows = os.path.join(data_dir, "flows")
    seeds = [
        (len(KAFKA_NAMES) + FLOW_MAPPINGS.index("cicflowmeter"),
         head(os.path.join(flows, "cicids2017-improved-sampled/Portscan_2500.csv"), 6).splitlines()[1:]),
        (len(KAFKA_NAMES) + FLOW_MAPPINGS.index("nsl_kdd"),
         head(os.path.join(flows, "nsl-kdd/KDDTrain+_20Percent.txt"), 5).splitlines()),
        (KAFKA_NAMES.index("metrics_json"),
         [b'{"series":"cpu","ts":"2024-01-01T00:00:00Z","value":1.5}', b'{"ts":1704067260,"a":2,"b":"x"}']),
        (KAFKA_NAMES.index("actions_json"),
         [b'{"entity":"10.0.0.1","ts":"2024-01-01T00:00:00Z","action":"GET 2xx","object":"/"}']),
        (KAFKA_NAMES.index("flows_json"),
         [b'{"flow_id":"1","ts_start":1704067200000000,"ts_end":1704067201000000,"src_ip":"10.0.0.1",'
          b'"dst_ip":"10.0.0.2","src_port":1234,"dst_port":80,"proto":6}']),
    ]
    lt, pkts = packets(os.path.join(data_dir, "pcap", "ndpi/pcap/443-curl.pcap"), 8)
    if pkts:
        records = [struct.pack("<IIII", 1704067200 + i, 0, len(p), len(p)) + p for i, p in enumerate(pkts)]
        seeds.append((KAFKA_NAMES.index("pcap"), records))
    for pick, messages in seeds:
        write_seed("kafka_payload", bytes([pick]) + sep.join(messages))
    return len(seeds)


def head(path, lines):
    """The first `lines` lines of a file (gzip inflated)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        return b"".join(f.readline() for _ in range(lines))


def write_seed(target, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as out:
        out.write(data)


def text_seeds(data_dir, vigil):
    n = {}
    for mapping, rel in FLOW_SEEDS:
        write_seed("flow_csv", bytes([FLOW_MAPPINGS.index(mapping)]) + head(os.path.join(data_dir, "flows", rel), 20))
        n["flow_csv"] = n.get("flow_csv", 0) + 1
    for pick, rel in METRIC_SEEDS:
        write_seed("metrics_reader", bytes([pick]) + head(os.path.join(data_dir, "timeseries", rel), 20))
        n["metrics_reader"] = n.get("metrics_reader", 0) + 1
    for pick, rel in ACTION_SEEDS:
        write_seed("action_log", bytes([pick]) + head(os.path.join(data_dir, "user_actions", rel), 20))
        n["action_log"] = n.get("action_log", 0) + 1
    n["kafka_payload"] = kafka_seeds(data_dir)
    for which, rel in CONFIG_SEEDS:
        with open(os.path.join(HERE, "..", rel), "rb") as f:
            write_seed("config_toml", bytes([which]) + f.read())
        n["config_toml"] = n.get("config_toml", 0) + 1
    # sql_guard's input is a statement built by `arbitrary` from any bytes.
    for i in range(4):
        write_seed("sql_guard", hashlib.sha256(b"sql_guard %d" % i).digest() * (i + 1))
    n["sql_guard"] = 4
    for m in sorted(glob.glob(os.path.join(HERE, "..", "onnx", "artifacts", "*", "manifest.json"))):
        with open(m, "rb") as f:
            write_seed("model_manifest", f.read())
        n["model_manifest"] = n.get("model_manifest", 0) + 1
    for root, _, files in os.walk(os.path.join(data_dir, "pcap")):
        for name in files:
            path = os.path.join(root, name)
            if name.endswith((".pcap", ".pcapng", ".cap", ".gz")) and os.path.getsize(path) <= 64 << 10:
                with open(path, "rb") as f:
                    write_seed("capture_reader", f.read())
                n["capture_reader"] = n.get("capture_reader", 0) + 1
    if vigil:
        with tempfile.TemporaryDirectory() as tmp:
            for kind in ("port-scan", "host-sweep", "ssh-brute-force", "syn-flood", "fragments", "benign-mix"):
                out = os.path.join(tmp, kind + ".pcap")
                subprocess.run([vigil, "gen", kind, "--out", out, "--count", "40"], check=True,
                               stdout=subprocess.DEVNULL)
                with open(out, "rb") as f:
                    write_seed("capture_reader", f.read())
                n["capture_reader"] += 1
    for target, count in n.items():
        print(f"{count} {target} seeds")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.environ.get("VIGIL_DATA", os.path.join(here, "..", "..", "shared", "data")))
    ap.add_argument("--vigil", help="a vigil binary, for `vigil gen` captures")
    args = ap.parse_args()
    text_seeds(args.data, args.vigil)
    with open(os.path.join(args.data, "pcap", "INDEX.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    n = 0
    for target in ("decode_packet", "flow_table"):
        os.makedirs(os.path.join(here, "corpus", target), exist_ok=True)
    for r in rows:
        if r["fmt"] != "pcap":
            continue
        lt, pkts = packets(os.path.join(args.data, "pcap", r["path"]), 8)
        if lt not in LINKTYPES or not pkts:
            continue
        seed = b"".join(bytes([LINKTYPES.index(lt), len(p) >> 8, len(p) & 0xFF, 1]) + p for p in pkts)
        name = hashlib.sha1(seed).hexdigest()
        for target in ("decode_packet", "flow_table"):
            with open(os.path.join(here, "corpus", target, name), "wb") as out:
                out.write(seed)
        n += 1
    print(f"{n} seeds per target")
    diff_dir = os.path.join(here, "corpus", "decode_differential")
    os.makedirs(diff_dir, exist_ok=True)
    m = 0
    for name, rel, index in DIFF_SEEDS:
        lt, pkts = packets(os.path.join(args.data, "pcap", rel), index + 1)
        lt = 101 if lt in (12, 14) else lt
        if lt not in DIFF_LINKTYPES or len(pkts) <= index:
            print(f"skipped {rel} #{index}")
            continue
        with open(os.path.join(diff_dir, name), "wb") as out:
            out.write(bytes([DIFF_LINKTYPES.index(lt)]) + pkts[index])
        m += 1
    print(f"{m} decode_differential seeds")


if __name__ == "__main__":
    main()
