#!/usr/bin/env bash
# Runs every fuzz target for a while (default 30 s each) from its committed seeds
# (fuzz/seeds/<target>), as CI's smoke test; exits non-zero on the first crash, hang,
# leak or out-of-memory. New inputs go to a scratch corpus, not to the seeds.
#
#   fuzz/smoke.sh [SECONDS] [TARGET...]
#
# Builds with the toolchain at hand: nightly-only flags (-Zsanitizer=address) are let
# through with RUSTC_BOOTSTRAP=1 when it is a stable one. CARGO_TARGET_DIR defaults to
# ~/.cache/vigil/fuzz-target, outside the clone.
set -euo pipefail
cd "$(dirname "$0")"

secs="${1:-30}"
shift || true
export CARGO_TARGET_DIR="${VIGIL_FUZZ_TARGET_DIR:-$HOME/.cache/vigil/fuzz-target}"
export RUSTC_BOOTSTRAP=1
# C libraries built for the pipelines targets (zstd, librdkafka) get AddressSanitizer
# too; their configure scripts link test programs, which need its runtime.
export LDFLAGS="${LDFLAGS:-} -fsanitize=address"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi

cargo fuzz build -O
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t"
  [ -d "seeds/$t" ] || { echo "fuzz: no seeds/$t" >&2; exit 1; }
  echo "fuzz: $t for ${secs} s"
  if ! cargo fuzz run -O "$t" "$scratch/$t" "seeds/$t" -- \
      -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      >"$scratch/$t.log" 2>&1; then
    tail -n 60 "$scratch/$t.log" >&2
    echo "fuzz: $t failed (the input is under fuzz/artifacts/$t/)" >&2
    exit 1
  fi
  grep -E '^stat::number_of_executed_units|^#[0-9]+ *DONE' "$scratch/$t.log" | tail -n 2 | sed "s/^/fuzz: $t: /"
done
