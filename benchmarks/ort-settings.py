#!/usr/bin/env python3
"""ONNX Runtime session settings per model family: graph optimisation level, and a model
optimised offline (saved by ONNX Runtime, then loaded with optimisations off) against one
optimised at load.

For each artifact, on its parity inputs repeated to --batch rows, one intra-op thread: load
time (median of 5) and rows/s (best of --repeat timed runs of --seconds each) at each level.
Vigil loads with ONNX Runtime's default (all optimisations) and one single-threaded session per
scoring worker (`vigil-harness bench sessions` measured that against one shared session).

With --memory: the memory pattern on (ONNX Runtime's default) and off (Vigil's), each in a fresh
process on batches of mixed sizes (1, 7, 32, 100 and 256 rows, in a fixed random order, as a
stream gives them): rows/s, and resident memory after the first batch of 256 and at the end.

usage: .venv/bin/python benchmarks/ort-settings.py [--batch 256] [--seconds 2] [--repeat 3] [--memory] [ARTIFACT...]
"""

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

ARTIFACTS = Path(__file__).resolve().parent.parent / "onnx" / "artifacts"
LEVELS = {
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def feed(artifact: Path, batch: int) -> dict:
    """The parity inputs in the manifest's dtypes, rows repeated to `batch`."""
    manifest = json.loads((artifact / "manifest.json").read_text())
    dtypes = {i["name"]: i["dtype"] for i in manifest["inputs"]}
    inputs = json.loads((artifact / "parity.json").read_text())["inputs"]
    out = {}
    for name, t in inputs.items():
        a = np.array(t["data"], dtype=dtypes[name]).reshape(t["shape"])
        out[name] = np.resize(a, (batch, *a.shape[1:]))
    return out


def options(level, save_to: str | None = None) -> ort.SessionOptions:
    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    o.inter_op_num_threads = 1
    o.graph_optimization_level = level
    if save_to:
        o.optimized_model_filepath = save_to
    return o


def load_ms(path: str, level) -> float:
    times = []
    for _ in range(5):
        t = time.perf_counter()
        ort.InferenceSession(path, options(level), providers=["CPUExecutionProvider"])
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def rows_per_s(path: str, level, data: dict, seconds: float, repeat: int) -> float:
    s = ort.InferenceSession(path, options(level), providers=["CPUExecutionProvider"])
    s.run(None, data)
    batch = len(next(iter(data.values())))
    best = 0.0
    for _ in range(repeat):
        n, t = 0, time.perf_counter()
        while time.perf_counter() - t < seconds:
            s.run(None, data)
            n += 1
        best = max(best, n * batch / (time.perf_counter() - t))
    return best


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_run(name: str, pattern: bool, seconds: float) -> None:
    """One configuration in this process: prints rows/s and RSS after warm-up and at the end."""
    artifact = ARTIFACTS / name
    manifest = json.loads((artifact / "manifest.json").read_text())
    o = options(LEVELS[manifest.get("graph_optimization", "all")])
    o.enable_mem_pattern = pattern
    s = ort.InferenceSession(str(artifact / "model.onnx"), o, providers=["CPUExecutionProvider"])
    sizes = (1, 7, 32, 100, 256)
    feeds = {b: feed(artifact, b) for b in sizes}
    s.run(None, feeds[256])
    warm = rss_mib()
    rng, rows, t = random.Random(1), 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        b = rng.choice(sizes)
        s.run(None, feeds[b])
        rows += b
    print("%-28s %-8s %10.0f %9.0f %9.0f" % (name, "on" if pattern else "off",
                                            rows / (time.perf_counter() - t), warm, rss_mib()))


def memory(names: list[str], seconds: float) -> None:
    print("%-28s %-8s %10s %9s %9s" % ("artifact", "pattern", "rows/s", "MiB warm", "MiB end"))
    for name in names:
        for pattern in ("on", "off"):
            subprocess.run([sys.executable, __file__, "--memory-run", name, pattern, str(seconds)], check=True)


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--memory-run":
        memory_run(sys.argv[2], sys.argv[3] == "on", float(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("artifacts", nargs="*")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory", action="store_true", help="memory pattern on and off, batches of mixed sizes")
    args = parser.parse_args()
    names = args.artifacts or sorted(
        d.name for d in ARTIFACTS.iterdir() if (d / "parity.json").is_file() and d.name != "test-linear"
    )
    if args.memory:
        memory(names, args.seconds * args.repeat)
        return
    print("%-28s %-9s %9s %10s" % ("artifact", "level", "load ms", "rows/s"))
    for name in names:
        artifact = ARTIFACTS / name
        path = str(artifact / "model.onnx")
        data = feed(artifact, args.batch)
        for label, level in LEVELS.items():
            print("%-28s %-9s %9.1f %10.0f" % (name, label, load_ms(path, level),
                                              rows_per_s(path, level, data, args.seconds, args.repeat)))
        with tempfile.TemporaryDirectory() as tmp:
            saved = str(Path(tmp) / "optimized.onnx")
            ort.InferenceSession(path, options(LEVELS["all"], saved), providers=["CPUExecutionProvider"])
            off = LEVELS["disabled"]
            print("%-28s %-9s %9.1f %10.0f" % (name, "offline", load_ms(saved, off),
                                              rows_per_s(saved, off, data, args.seconds, args.repeat)))


if __name__ == "__main__":
    main()
