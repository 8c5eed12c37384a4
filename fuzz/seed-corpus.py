#!/usr/bin/env python3
"""Seed the fuzz corpora from the shared captures (classic pcap only).

decode_packet, flow_table: each seed holds up to 8 packets of one capture in
the fuzz targets' frame format: [link-type index, len_hi, len_lo, ts delta,
bytes...] (see fuzz_targets/common.rs for the index order).

decode_differential: one frame per seed, [link-type index, bytes...] (see
LINKTYPES in fuzz_targets/decode_differential.rs), picked from DIFF_SEEDS: the
frames on which the etherparse oracle found something to say.

usage: fuzz/seed-corpus.py [--data DIR]   (writes fuzz/corpus/<target>/)
"""
import argparse, csv, hashlib, os, struct

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


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.environ.get("VIGIL_DATA", os.path.join(here, "..", "..", "shared", "data")))
    args = ap.parse_args()
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
