#!/usr/bin/env python3
"""Seed the fuzz corpora from the shared captures (classic pcap only).

Each seed holds up to 8 packets of one capture in the fuzz targets' frame
format: [link-type index, len_hi, len_lo, ts delta, bytes...] (see
fuzz_targets/common.rs for the index order).

usage: fuzz/seed-corpus.py [--data DIR]   (writes fuzz/corpus/<target>/)
"""
import argparse, csv, hashlib, os, struct

# Must match LINKTYPES in fuzz_targets/common.rs.
LINKTYPES = [1, 0, 108, 101, 228, 229, 113, 276, 9, 104, 105, 127, 192, 239]


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


if __name__ == "__main__":
    main()
