#!/usr/bin/env bash
# CI's check of the Debian package: build it (from PROFILE's binary, default dev, the one
# the tests built), install it with apt-get, set up ONNX Runtime with the package's helper,
# run `vigil demo` from the installed samples and models into a temporary store, check
# the service's user, unit and config, then purge it and check that nothing is left.
# Needs root, cargo-deb, and the binary built.  dist/debian/ci-test.sh [PROFILE]
set -euo pipefail
cd "$(dirname "$0")/../.."
profile="${1:-dev}"
target="${CARGO_TARGET_DIR:-target}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

dist/debian/build-assets.sh "$profile"
cargo deb -p vigil-pipelines --no-build --profile "$profile" --fast --output "$out" >/dev/null
deb=$(ls "$out"/vigil_*.deb)
echo "package: $deb ($(du -h "$deb" | cut -f1))"
fail() { echo "package check failed: $*" >&2; exit 1; }

DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >/dev/null
[ -x /usr/bin/vigil ] || fail "no /usr/bin/vigil"
getent passwd vigil >/dev/null || fail "no vigil user"
[ "$(stat -c %U /var/lib/vigil)" = vigil ] || fail "/var/lib/vigil is not vigil's"
grep -q '^ExecStart=/usr/bin/vigil run --config /etc/vigil/vigil.toml$' /usr/lib/systemd/system/vigil.service \
  || fail "the unit does not run the config"
grep -q '^CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN$' /usr/lib/systemd/system/vigil.service \
  || fail "the unit's capabilities"
[ -f /usr/share/man/man1/vigil.1 ] || [ -f /usr/share/man/man1/vigil.1.gz ] || fail "no man page"
[ -f /usr/share/bash-completion/completions/vigil ] || fail "no bash completion"

# Outside the checkout, with no ONNX Runtime but the one the helper sets up.
cd /
env -u ORT_DYLIB_PATH /usr/sbin/vigil-setup-onnxruntime
env -u ORT_DYLIB_PATH -u VIGIL_MODELS vigil --version | tee "$out/version"
grep -q "^ONNX Runtime: 1.31.1 (/usr/lib/vigil/libonnxruntime.so.1.31.1)" "$out/version" || fail "runtime not found"
grep -q "netfound  /usr/share/vigil/models/netfound" "$out/version" || fail "models not found"
env -u ORT_DYLIB_PATH vigil -q run --check --config /etc/vigil/vigil.toml --data "$out/check" \
  || echo "note: the default config does not check here (no eth0?)"
env -u ORT_DYLIB_PATH vigil -q demo --root /usr/share/vigil --data "$out/store"
flows=$(env -u ORT_DYLIB_PATH vigil sql --data "$out/store" --format csv "select count(*) as n from flows" | tail -n 1)
[ "$flows" -gt 0 ] || fail "the demo stored no flows"
echo "installed package: demo stored $flows flows"
cd - >/dev/null

DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq vigil >/dev/null
for p in /usr/bin/vigil /usr/sbin/vigil-setup-onnxruntime /usr/lib/vigil /usr/share/vigil /etc/vigil /var/lib/vigil \
         /usr/lib/systemd/system/vigil.service; do
  [ ! -e "$p" ] || fail "$p is left after purge"
done
! getent passwd vigil >/dev/null || fail "the vigil user is left after purge"
echo "package: installed, ran the demo, purged cleanly"
