#!/usr/bin/env bash
# Generates what the Debian package ships besides the binary: shell completions and man
# pages, from the `vigil` binary of PROFILE (default release) into
# $CARGO_TARGET_DIR/PROFILE/deb-assets/, where `[package.metadata.deb]` takes them.
#   dist/debian/build-assets.sh [PROFILE]
set -euo pipefail
cd "$(dirname "$0")/../.."
profile="${1:-release}"
dir="$profile"
[ "$profile" = dev ] && dir=debug
target="${CARGO_TARGET_DIR:-target}"
vigil="$target/$dir/vigil"
[ -x "$vigil" ] || { echo "build-assets: no $vigil (cargo build --profile $profile -p vigil-pipelines)" >&2; exit 1; }
out="$target/$dir/deb-assets"
rm -rf "$out" && mkdir -p "$out/man"
"$vigil" completions bash > "$out/vigil.bash"
"$vigil" completions zsh > "$out/_vigil"
"$vigil" completions fish > "$out/vigil.fish"
"$vigil" man --out "$out/man"
echo "build-assets: $(ls "$out/man" | wc -l) man pages and 3 completion scripts in $out"
