#!/usr/bin/env bash
# The Kafka-protocol broker the tests use: nisshi 0.8.1 (tansu's successor) with SQLite
# storage, on a literal 127.0.0.1 listener.
#   .ci/kafka-broker.sh start DIR PORT   build once (cached in $NISSHI_ROOT), start, wait
#   .ci/kafka-broker.sh stop DIR
# nisshi 0.8.1's lock file pins crates that declare rustc 1.96 but build with 1.95, hence
# --ignore-rust-version. The build takes tens of minutes on 2 cores, once per machine.
set -euo pipefail
ROOT=${NISSHI_ROOT:-$HOME/.cache/nisshi}
BIN=$ROOT/bin/nisshi
case "${1:-}" in
  start)
    DIR=$2 PORT=$3
    if [ ! -x "$BIN" ]; then
      echo "kafka-broker: building nisshi 0.8.1 into $ROOT (once)"
      cargo install nisshi --version 0.8.1 --locked --ignore-rust-version \
        --no-default-features --features libsql --root "$ROOT"
    fi
    rm -rf "$DIR"
    mkdir -p "$DIR"
    cd "$DIR" # nisshi reads ./.env: start it in a clean directory, with a relative sqlite path
    LISTENER_URL=tcp://127.0.0.1:$PORT ADVERTISED_LISTENER_URL=tcp://127.0.0.1:$PORT \
      STORAGE_ENGINE=sqlite://nisshi.db CLUSTER_ID=vigil-ci \
      nohup "$BIN" broker --silent >broker.log 2>&1 &
    echo $! >broker.pid
    for _ in $(seq 1 100); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
        echo "kafka-broker: nisshi up on 127.0.0.1:$PORT (pid $(cat broker.pid))"
        exit 0
      fi
      sleep 0.2
    done
    echo "kafka-broker: nisshi did not start" >&2
    cat broker.log >&2
    exit 1
    ;;
  stop)
    DIR=$2
    [ -f "$DIR/broker.pid" ] && kill "$(cat "$DIR/broker.pid")" 2>/dev/null || true
    ;;
  *)
    echo "usage: $0 start DIR PORT | stop DIR" >&2
    exit 2
    ;;
esac
