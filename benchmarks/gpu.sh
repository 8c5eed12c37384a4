#!/usr/bin/env bash
# Scoring on an NVIDIA GPU: vigil-models (ONNX Runtime's CUDA provider through `ort`) against a
# bare onnxruntime-gpu Python session, for every model family in onnx/artifacts (test-linear
# aside) at batch 1, 256 and 4096; then both on the CPU at batch 256 for reference. Rows/s and
# p50/p99 milliseconds per call, each call timed on its own.
#
#   benchmarks/gpu.sh                       # builds vigil-harness with --features vigil-models/cuda
#   VIGIL_HARNESS_BIN=/path/vigil-harness benchmarks/gpu.sh    # a prebuilt one
#
# Environment:
#   VIGIL_HARNESS_BIN   a vigil-harness built with `--features vigil-models/cuda` (else built here)
#   VIGIL_PEER_PYTHON   the Python with onnxruntime-gpu==1.31.1 and numpy (default python3);
#                       PYTHONPATH may point at the folder holding an unpacked wheel's onnxruntime/
#   VIGIL_GPU_SITE      site-packages folders (colon-separated) to find onnxruntime-gpu and the
#                       nvidia-* wheels in first (see benchmarks/gpu-env.sh)
#   OUT_DIR             where the JSON reports, gpu.log and summary.txt go (default bench-data/gpu)
#   GPU_BENCH_SECONDS   time for the whole run after the build (default 420; families that no
#                       longer fit are skipped and said so)
#   GPU_BENCH_MAX_SECONDS  timed seconds per batch size and side (default 1.0)
#
# Every step says what it does; a step or family that fails is reported and the next one runs.
# The exit status is the number of failed runs (0: all ran).

set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

OUT_DIR="${OUT_DIR:-bench-data/gpu}"
mkdir -p "$OUT_DIR" || exit 1
exec > >(tee "$OUT_DIR/gpu.log") 2>&1

START=$SECONDS
step() { printf '\n== [%3ds] %s\n' $((SECONDS - START)) "$*"; }
failures=()

step "1/5 the vigil-harness binary"
if [ -n "${VIGIL_HARNESS_BIN:-}" ]; then
  BIN="$VIGIL_HARNESS_BIN"
  echo "prebuilt: $BIN"
else
  echo "building: cargo build --release -p vigil-harness --features vigil-models/cuda"
  if ! cargo build --release -p vigil-harness --features vigil-models/cuda; then
    echo "gpu.sh: the build failed; set VIGIL_HARNESS_BIN to a prebuilt vigil-harness" >&2
    exit 1
  fi
  BIN="${CARGO_TARGET_DIR:-target}/release/vigil-harness"
fi
if [ ! -x "$BIN" ]; then
  echo "gpu.sh: $BIN is not an executable file; set VIGIL_HARNESS_BIN" >&2
  exit 1
fi
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"
# A binary built elsewhere may need shared libraries this machine lacks (libpcap.so.0.8 from
# libpcap0.8): copies put beside it, or in lib/ beside it, are found.
export LD_LIBRARY_PATH="$(dirname "$BIN"):$(dirname "$BIN")/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
unresolved="$(ldd "$BIN" 2>/dev/null | awk '/not found/ {print $1}' | tr '\n' ' ')"
if [ -n "$unresolved" ]; then
  echo "gpu.sh: $BIN needs $unresolved, not found on this machine: install them" \
    "(libpcap.so.0.8: apt-get install libpcap0.8) or copy them from the build machine" \
    "(with what \`ldd\` lists for them) into $(dirname "$BIN")/" >&2
  exit 1
fi
if ! "$BIN" --version; then
  echo "gpu.sh: $BIN does not run on this machine" >&2
  exit 1
fi
# The time limit counts from here, the build aside.
START=$SECONDS
TOTAL="${GPU_BENCH_SECONDS:-420}"
MAX_SECONDS="${GPU_BENCH_MAX_SECONDS:-1.0}"
left() { echo $((TOTAL - (SECONDS - START))); }

step "2/5 the GPU environment (benchmarks/gpu-env.sh)"
# shellcheck source=benchmarks/gpu-env.sh
if ! source benchmarks/gpu-env.sh; then
  echo "gpu.sh: the GPU environment is incomplete (see above); going on, each run says what fails"
fi
PY="${VIGIL_PEER_PYTHON:-python3}"

step "3/5 what is here: GPU, onnxruntime providers, the CUDA provider's libraries"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi -L || failures+=("nvidia-smi")
  nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv || true
else
  echo "nvidia-smi: not found"
  failures+=("nvidia-smi")
fi
echo "python: $PY; PYTHONPATH=${PYTHONPATH:-}"
"$PY" -c 'import onnxruntime as o, numpy as n; print("onnxruntime", o.__version__, "at", o.__file__); print("numpy", n.__version__); print("available providers:", o.get_available_providers())' \
  || failures+=("python onnxruntime import")
cuda_provider="$(dirname "${ORT_DYLIB_PATH:-/nonexistent/x}")/libonnxruntime_providers_cuda.so"
if [ -f "$cuda_provider" ]; then
  echo "ldd $cuda_provider (unresolved libraries, if any):"
  ldd "$cuda_provider" | grep -E "not found|cudart|cublas|cudnn|cufft|curand" || true
else
  echo "no $cuda_provider: ORT_DYLIB_PATH=${ORT_DYLIB_PATH:-unset} is not onnxruntime-gpu"
fi

run_bench() { # label, seconds allowed, bench score arguments...
  local label="$1" limit="$2"
  shift 2
  if [ "$(left)" -lt 20 ]; then
    echo "skipped $label: the time budget (GPU_BENCH_SECONDS=$TOTAL) is spent"
    failures+=("$label (no time left)")
    return
  fi
  [ "$limit" -gt "$(left)" ] && limit="$(left)"
  echo "\$ $BIN bench score $*   (at most ${limit}s)"
  timeout --kill-after=10 "$limit" "$BIN" bench score "$@"
  local rc=$?
  case $rc in
    0) ;;
    124 | 137) echo "gpu.sh: $label ran past ${limit}s and was stopped"; failures+=("$label (timeout)") ;;
    *) echo "gpu.sh: $label failed (exit $rc)"; failures+=("$label (exit $rc)") ;;
  esac
}

step "4/5 smoke test: test-linear on CUDA, with the CUDA library preloading logged"
export RUST_LOG="warn,vigil_models=debug"
run_bench "smoke cuda" 120 onnx/artifacts/test-linear \
  --device cuda --batch 1,256 --iters 50 --max-seconds 0.2 --warmup 2 \
  --json-out "$OUT_DIR/test-linear.cuda.json"
unset RUST_LOG

families=()
for m in onnx/artifacts/*/manifest.json; do
  f="$(basename "$(dirname "$m")")"
  [ "$f" = test-linear ] || families+=("$f")
done
echo "families: ${families[*]}"

step "5/5 every family on CUDA (batch 1, 256, 4096), then on the CPU (batch 256)"
for f in "${families[@]}"; do
  step "$f on cuda"
  run_bench "$f cuda" 150 "onnx/artifacts/$f" --device cuda --batch 1,256,4096 \
    --iters 5000 --max-seconds "$MAX_SECONDS" --warmup 5 --json-out "$OUT_DIR/$f.cuda.json"
done
for f in "${families[@]}"; do
  step "$f on cpu (reference)"
  run_bench "$f cpu" 60 "onnx/artifacts/$f" --device cpu --batch 256 \
    --iters 5000 --max-seconds "$MAX_SECONDS" --warmup 2 --json-out "$OUT_DIR/$f.cpu.json"
done

step "summary (also in $OUT_DIR/summary.txt; JSON per run in $OUT_DIR/)"
"$PY" - "$OUT_DIR" <<'PY' | tee "$OUT_DIR/summary.txt" || echo "no summary: python failed"
import glob, json, os, sys
num = lambda v, d: "-" if v is None else "%.*f" % (d, v)
print("%-28s %-5s %-5s %5s | %12s %9s %9s | %12s %9s %9s | %6s" % (
    "model", "ours", "peer", "batch", "vigil rows/s", "p50 ms", "p99 ms", "peer rows/s", "p50 ms", "p99 ms", "ratio"))
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    try:
        r = json.load(open(path))
    except Exception as e:
        print("unreadable %s: %s" % (path, e))
        continue
    peer = r.get("peer") or {}
    peer_dev = (peer.get("providers") or ["-"])[0].replace("ExecutionProvider", "").lower()
    run_note = r.get("load_error") or peer.get("error") or r.get("peer_error") or ""
    for t in r["rows"]:
        o, p = t.get("ours") or {}, t.get("peer") or {}
        ratio = "%.2fx" % (o["rows_per_s"] / p["rows_per_s"]) if o and p else "-"
        note = t.get("ours_error") or t.get("peer_error") or ""
        if r.get("load_error"):
            note = ""
        print("%-28s %-5s %-5s %5d | %12s %9s %9s | %12s %9s %9s | %6s %s" % (
            r["model"], r.get("device") or "none", peer_dev, t["batch"],
            num(o.get("rows_per_s"), 0), num(o.get("p50_ms"), 3), num(o.get("p99_ms"), 3),
            num(p.get("rows_per_s"), 0), num(p.get("p50_ms"), 3), num(p.get("p99_ms"), 3), ratio, note[:120]))
    if run_note:
        print("%-28s   (asked %s) %s" % ("", r["device_asked"], run_note[:300]))
PY

step "done in $((SECONDS - START))s after the build; ${#failures[@]} failed run(s)"
for x in "${failures[@]}"; do echo "  failed: $x"; done
exit "${#failures[@]}"
