#!/usr/bin/env bash
# The long fuzz runs (fuzz/README.md): every target (or those named) for SECONDS
# (default 1800, 30 minutes) of wall time, two at a time on a two-core machine, each from
# its seeds and its corpus (fuzz/corpus/<target>, kept between runs). Prints each
# target's CPU seconds and executions; exits non-zero on the first crash, hang, leak or
# out-of-memory (its input is under fuzz/artifacts/<target>/).
#
#   fuzz/long-run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"

secs="${1:-1800}"
shift || true
export CARGO_TARGET_DIR="${VIGIL_FUZZ_TARGET_DIR:-$HOME/.cache/vigil/fuzz-target}"
export RUSTC_BOOTSTRAP=1
export LDFLAGS="${LDFLAGS:-} -fsanitize=address"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
cargo fuzz build -O
bin="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release"
logs="$(mktemp -d)"
run() {
  local t="$1"
  mkdir -p "corpus/$t" "artifacts/$t"
  /usr/bin/time -f "%U %S" -o "$logs/$t.time" "$bin/$t" "corpus/$t" "seeds/$t" \
    -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="artifacts/$t/" >"$logs/$t.log" 2>&1
}
status=0
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  pair=("${targets[@]:i:2}")
  pids=()
  for t in "${pair[@]}"; do run "$t" & pids+=($!); done
  for j in "${!pids[@]}"; do
    t="${pair[$j]}"
    if ! wait "${pids[$j]}"; then
      tail -n 40 "$logs/$t.log" >&2
      echo "fuzz: $t failed (see artifacts/$t/)" >&2
      status=1
    fi
    # The last line: /usr/bin/time puts "Command exited with non-zero status N" first.
    read -r user sys < <(tail -n 1 "$logs/$t.time")
    execs=$(grep -E '^stat::number_of_executed_units' "$logs/$t.log" | awk '{print $2}')
    echo "fuzz: $t: $(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.1f", (u + s) / 60 }') CPU-minutes, ${execs:-?} executions"
  done
done
exit "$status"
