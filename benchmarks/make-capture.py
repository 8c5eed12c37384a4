#!/usr/bin/env python3
"""Build a large benchmark capture from the shared captures.

Concatenates every untruncated classic-pcap Ethernet capture listed in
$VIGIL_DATA/pcap/INDEX.csv, in INDEX order, and repeats the whole set until at
least --packets packets are written. Each copy is shifted in time to follow
the previous one, and its IPv4 addresses are rewritten (second octet XOR copy
number) so copies make new flows instead of extending old ones. The result is
one Ethernet pcap (µs), which every peer tool (ndpiReader, softflowd, tshark)
reads.

usage: benchmarks/make-capture.py [--data DIR] [--packets N] [-o FILE]
"""
import argparse
import csv
import os
import struct
import sys

MAGIC_US = 0xA1B2C3D4
MAGIC_NS = 0xA1B23C4D
MAX_SPAN_US = 600_000_000


def read_pcap(path):
    """Yield (ts_us, caplen_bytes, wirelen) from a classic pcap; stop at a truncated record."""
    with open(path, "rb") as f:
        hdr = f.read(24)
        if len(hdr) < 24:
            return
        for endian in ("<", ">"):
            magic = struct.unpack(endian + "I", hdr[:4])[0]
            if magic in (MAGIC_US, MAGIC_NS):
                break
        else:
            return
        scale = 1 if magic == MAGIC_US else 1000
        linktype = struct.unpack(endian + "I", hdr[20:24])[0] & 0x0FFFFFFF
        if linktype != 1:
            return
        rec = struct.Struct(endian + "IIII")
        while True:
            h = f.read(16)
            if len(h) < 16:
                return
            sec, frac, caplen, wirelen = rec.unpack(h)
            if caplen > 262144:
                return
            if wirelen > 65535 + 64 or wirelen < caplen:
                f.read(caplen)
                continue  # fuzzed length fields would distort byte rates
            data = f.read(caplen)
            if len(data) < caplen:
                return
            yield sec * 1_000_000 + frac // scale, data, wirelen


def rewrite_ipv4(data, copy):
    """XOR the second octet of both IPv4 addresses with the copy number (untagged Ethernet only)."""
    if copy == 0 or len(data) < 34 or data[12:14] != b"\x08\x00":
        return data
    b = bytearray(data)
    b[27] ^= copy & 0xFF
    b[31] ^= copy & 0xFF
    return bytes(b)


def main():
    default_data = os.environ.get("VIGIL_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--data", default=default_data)
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("-o", "--output", default="bench-data/bench-1m.pcap")
    args = ap.parse_args()

    index = os.path.join(args.data, "pcap", "INDEX.csv")
    with open(index, newline="") as f:
        paths = [
            os.path.join(args.data, "pcap", r["path"])
            for r in csv.DictReader(f)
            if r["fmt"] == "pcap" and r["links"] == "EN10MB" and r["trunc"] == "False"
        ]
    captures = []
    for p in paths:
        trace = list(read_pcap(p))
        if not trace:
            continue
        t0 = min(ts for ts, _, _ in trace)
        # Keep each capture's own timing, but squash pathological spans (bad clocks).
        captures.append([(min(ts - t0, MAX_SPAN_US), data, wl) for ts, data, wl in trace])
    if not captures:
        sys.exit(f"no usable captures under {args.data}/pcap")

    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    written = 0
    cursor = 1_600_000_000_000_000
    copy = 0
    with open(args.output, "wb") as out:
        out.write(struct.pack("<IHHiIII", MAGIC_US, 2, 4, 0, 0, 262144, 1))
        while written < args.packets:
            for trace in captures:
                for rel, data, wl in trace:
                    ts = cursor + rel
                    out.write(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(data), wl))
                    out.write(rewrite_ipv4(data, copy))
                    written += 1
                cursor += max(rel for rel, _, _ in trace) + 1000
            copy += 1
    print(f"{args.output}: {written} packets, {copy} copies of {len(captures)} captures", file=sys.stderr)


if __name__ == "__main__":
    main()
