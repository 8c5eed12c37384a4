#!/usr/bin/env bash
# Keeps a persistent CARGO_TARGET_DIR from filling the disk between CI runs.
#
#   .ci/prune-target.sh before   free space first: drop incremental state, then the whole
#                                debug profile, while the filesystem is short of room
#   .ci/prune-target.sh after    drop what later runs will not use: every test or bin
#                                executable but the newest of each name (older ones are
#                                stale hashes), and incremental state past its bound
#
# Thresholds (GiB) come from VIGIL_CI_MIN_FREE_GIB (default 25), VIGIL_CI_MAX_DEBUG_GIB
# (default 40) and VIGIL_CI_MAX_INCREMENTAL_GIB (default 8).
set -euo pipefail

target="${CARGO_TARGET_DIR:?CARGO_TARGET_DIR must be set}"
min_free_gib="${VIGIL_CI_MIN_FREE_GIB:-25}"
max_debug_gib="${VIGIL_CI_MAX_DEBUG_GIB:-40}"
max_incremental_gib="${VIGIL_CI_MAX_INCREMENTAL_GIB:-8}"
debug="$target/debug"

free_gib() { df -P -k "$target" | awk 'NR == 2 { printf "%d", $4 / 1048576 }'; }
size_gib() { [ -d "$1" ] && du -s -k "$1" | awk '{ printf "%d", $1 / 1048576 }' || echo 0; }

before() {
  echo "ci: target $target: $(size_gib "$debug") GiB in debug/, $(free_gib) GiB free"
  if [ "$(free_gib)" -lt "$min_free_gib" ] && [ -d "$debug/incremental" ]; then
    echo "ci: short of space: removing $debug/incremental"
    rm -rf "$debug/incremental"
  fi
  if [ "$(free_gib)" -lt "$min_free_gib" ] || [ "$(size_gib "$debug")" -gt "$max_debug_gib" ]; then
    echo "ci: short of space: removing $debug (a cold build follows)"
    rm -rf "$debug"
  fi
  local left
  left="$(free_gib)"
  if [ "$left" -lt "$min_free_gib" ]; then
    echo "ci: warning: only $left GiB free after pruning the target dir" >&2
  fi
}

# Removes every executable `<name>-<16 hex digits>` in deps/ but the newest of each name.
# Libraries (.rlib, .rmeta, .so) are shared by later builds and stay.
prune_executables() {
  [ -d "$debug/deps" ] || return 0
  find "$debug/deps" -maxdepth 1 -type f -regextype posix-extended \
    -regex '.*/[A-Za-z0-9_]+-[0-9a-f]{16}' -printf '%T@ %p\n' |
    sort -rn |
    awk '{ name = $2; sub(/.*\//, "", name); sub(/-[0-9a-f]{16}$/, "", name); if (seen[name]++) print $2 }' |
    xargs -r rm -f
}

after() {
  prune_executables
  if [ "$(size_gib "$debug/incremental")" -gt "$max_incremental_gib" ]; then
    echo "ci: removing $debug/incremental (over ${max_incremental_gib} GiB)"
    rm -rf "$debug/incremental"
  fi
  echo "ci: target $target after the run: $(size_gib "$debug") GiB in debug/, $(free_gib) GiB free"
}

case "${1:-}" in
  before) before ;;
  after) after ;;
  *) echo "usage: $0 before|after" >&2; exit 2 ;;
esac
