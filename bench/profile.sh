#!/usr/bin/env bash
# Profiles the gateway on one face, two ways:
#
#   callgrind  the gateway under valgrind, driven by loadgen for a bounded
#              number of requests (RATE x SECONDS); user-space instruction
#              counts, repeatable from run to run. Top functions, inclusive
#              and self.
#   perf       where the server core's time goes (kernel included) during a
#              wrk run, by sampling the cpu-clock (this VM has no hardware
#              counters: `perf stat -e instructions` is "not supported").
#
#   bench/profile.sh passthrough      # or: openim
#
# Settings: RATE (300/s), SECONDS (10), CONNS (wrk, 64), DURATION (perf, 5 s),
# PORT_BASE (18091), OUT (a temp dir by default), MODES ("callgrind perf").
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET=${1:-passthrough}
RATE=${RATE:-300}
SECONDS_=${SECONDS:-10}
CONNS=${CONNS:-64}
DURATION=${DURATION:-5}
PORT_BASE=${PORT_BASE:-18091}
MODES=${MODES:-"callgrind perf"}
LOAD_CPU=${LOAD_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
PORT_STUB=$PORT_BASE
PORT_GW=$((PORT_BASE + 2))
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
. "$(dirname "$0")/common.sh"

missing=()
for tool in wrk valgrind perf taskset; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  pkgs=()
  for t in "${missing[@]}"; do
    case $t in perf) pkgs+=(linux-perf) ;; taskset) pkgs+=(util-linux) ;; *) pkgs+=("$t") ;; esac
  done
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi
cargo build --release --quiet --bin entrust-gateway --example upstream_stub --example loadgen
BIN=$CARGO_TARGET_DIR/release
TMP=$(mktemp -d "${TMPDIR:-/tmp}/entrust-profile.XXXXXX")
OUT=${OUT:-$TMP}
mkdir -p "$OUT"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || true

taskset -c "$SERVER_CPU" "$BIN/examples/upstream_stub" "$PORT_STUB" 2>/dev/null &
PIDS+=($!)
wait_port "$PORT_STUB" 3000
write_gateway_config "$TMP/gateway.toml" "$PORT_GW" "$PORT_STUB"

if [ "$TARGET" = openim ]; then
  export BENCH_CONTENT_TYPE=application/json BENCH_UNIQUE_HEADER=Idempotency-Key
  export BENCH_BODY='{"groupInfoForSet":{"groupID":"bench1","groupName":"bench","introduction":"hello","needVerification":2}}'
  URL=http://127.0.0.1:$PORT_GW/group/set_group_info
  UNIQ=(--unique-header Idempotency-Key)
else
  export BENCH_CONTENT_TYPE=application/x-www-form-urlencoded BENCH_BODY=groupIds=bench1 BENCH_UNIQUE_HEADER=
  URL=http://127.0.0.1:$PORT_GW/entrust/group/profile/query.json
  UNIQ=()
fi

if [[ " $MODES " == *" callgrind "* ]]; then
  say "callgrind: $TARGET, $((RATE * SECONDS_)) requests at $RATE/s"
  taskset -c "$SERVER_CPU" valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" \
    "$BIN/entrust-gateway" --config "$TMP/gateway.toml" 2>"$OUT/valgrind.log" &
  VG=$!
  PIDS+=("$VG")
  wait_port "$PORT_GW" 3000
  taskset -c "$LOAD_CPU" "$BIN/examples/loadgen" --url "$URL" --rate "$RATE" --seconds "$SECONDS_" \
    --warmup-seconds 0 --connections 8 --header "Content-Type: $BENCH_CONTENT_TYPE" --body "$BENCH_BODY" \
    "${UNIQ[@]}" | tee "$OUT/loadgen.txt" | grep -v '^LOADGEN' >&2
  kill -INT "$VG"
  wait "$VG" 2>/dev/null || true
  total=$(callgrind_annotate "$OUT/callgrind.out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  answered=$(grep '^LOADGEN' "$OUT/loadgen.txt" | tr ' ' '\n' | awk -F= '$1 == "answered" {print $2}')
  echo "callgrind: $total instructions for $answered requests (plus start-up and shutdown): $((total / answered)) per request"
  echo "-- top functions, inclusive"
  callgrind_annotate --inclusive=yes "$OUT/callgrind.out" 2>/dev/null | sed -n '/file:function/,$p' | head -45 | cut -c1-200
  echo "-- top functions, self"
  callgrind_annotate "$OUT/callgrind.out" 2>/dev/null | sed -n '/file:function/,$p' | head -35 | cut -c1-200
fi

if [[ " $MODES " == *" perf "* ]]; then
  say "perf: $TARGET, wrk with $CONNS connections for $DURATION s, sampling cpu $SERVER_CPU"
  taskset -c "$SERVER_CPU" "$BIN/entrust-gateway" --config "$TMP/gateway.toml" 2>/dev/null &
  GWP=$!
  PIDS+=("$GWP")
  wait_port "$PORT_GW" 3000
  taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"$((DURATION + 2))s" -s bench/wrk.lua "$URL" >"$OUT/wrk.txt" &
  WRK=$!
  sleep 1
  perf record -q -e cpu-clock -F 2000 -g -C "$SERVER_CPU" -o "$OUT/perf.data" -- sleep "$DURATION" 2>/dev/null
  wait "$WRK"
  grep '^WRK' "$OUT/wrk.txt"
  echo "-- server core, by process"
  perf report -i "$OUT/perf.data" --no-children --sort comm --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -8
  echo "-- server core, top symbols (self), all processes"
  perf report -i "$OUT/perf.data" --no-children --sort comm,dso,symbol --stdio -g none 2>/dev/null |
    grep -E '^ +[0-9]' | head -40 | cut -c1-160
fi
say "raw output in $OUT"
