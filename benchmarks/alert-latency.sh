#!/usr/bin/env bash
# Alert latency on a live-paced stream: CIC-IDS2017 test flows produced to a Kafka topic at
# RATE messages a second, read by `vigil run` (Kafka source → FlowTransformer → alerts with
# the built-in rules → EVE file and store), and the time from each alert's source rows
# arriving to the alert written to EVE, read back from `vigil stats` (the
# `vigil_alert_latency_seconds` histogram; p50 and p99 interpolated in their buckets, as
# `vigil stats` prints them).
#
#   benchmarks/alert-latency.sh [RATE] [BATCH_MS]
#
# Needs a Kafka-protocol broker at $VIGIL_KAFKA_BROKERS (e.g. `.ci/kafka-broker.sh start
# /tmp/kafka 19092`), a `vigil` binary ($VIGIL_BIN, default target/release/vigil under
# $CARGO_TARGET_DIR), ONNX Runtime (ORT_DYLIB_PATH or .venv) and $VIGIL_DATA.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-200}
BATCH_MS=${2:-100}
VIGIL=${VIGIL_BIN:-${CARGO_TARGET_DIR:-target}/release/vigil}
BROKERS=${VIGIL_KAFKA_BROKERS:?set VIGIL_KAFKA_BROKERS}
DATA=${VIGIL_DATA:-../shared/data}
WORK=$(mktemp -d)
trap 'kill "${RUN_PID:-}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
TOPIC="latency-$(date +%s)-$$"

# The CIC-IDS2017 test blocks (the committed split), one CSV, benign and attacks mixed in
# time order.
.venv/bin/python - "$DATA" "$WORK" <<'EOF'
import csv, sys
from pathlib import Path
sys.path.insert(0, "onnx")
from vigil_onnx import flow_splits as S
parts = S.write_parts("cicids2017", Path(sys.argv[1]), Path(sys.argv[2]) / "split")
rows, header = [], None
for f in parts["test"]:
    with open(f, newline="") as fh:
        r = csv.DictReader(fh)
        header = r.fieldnames
        rows += list(r)
rows.sort(key=lambda r: (r["Timestamp"], int(r["id"])))
with open(Path(sys.argv[2]) / "test.csv", "w", newline="") as fh:
    w = csv.DictWriter(fh, fieldnames=header)
    w.writeheader()
    w.writerows(rows)
print(f"{len(rows)} test flows", file=sys.stderr)
EOF

cat >"$WORK/topology.toml" <<EOF
sensor = "latency"
[batch]
max_rows = 4096
max_ms = $BATCH_MS
[store]
dir = "$WORK/store"
[sources.flows]
type = "kafka"
brokers = "$BROKERS"
topics = ["$TOPIC"]
group = "latency-$$"
format = "cicflowmeter"
start = "earliest"
[transforms.score]
type = "score"
model = "$PWD/onnx/artifacts/flow-transformer-cicids2017"
inputs = ["flows"]
max_delay_ms = $BATCH_MS
[transforms.alerts]
type = "alerts"
inputs = ["score"]
rules = "builtin"
[sinks.eve]
type = "eve"
path = "eve.json"
inputs = ["alerts"]
[sinks.store]
type = "store"
inputs = ["score", "alerts"]
EOF

"$VIGIL" -q kafka produce --brokers "$BROKERS" --topic "$TOPIC" --format flow-csv \
  --mapping cicflowmeter /dev/null 2>/dev/null || true # creates the topic
"$VIGIL" -q run --config "$WORK/topology.toml" --until-idle 10 &
RUN_PID=$!
sleep 3
start=$(date +%s.%N)
"$VIGIL" -q kafka produce --brokers "$BROKERS" --topic "$TOPIC" --format flow-csv \
  --mapping cicflowmeter --rate "$RATE" "$WORK/test.csv"
echo "produced in $(echo "$(date +%s.%N) - $start" | bc) s at <= $RATE msg/s" >&2
wait "$RUN_PID"
RUN_PID=
"$VIGIL" stats --data "$WORK/store" | grep -E "alert latency|^ *(stage|flows|score|alerts|eve) "
