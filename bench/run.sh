#!/usr/bin/env bash
# Benchmarks the gateway against nginx and a direct call, in one run, with
# one load generator (wrk) and the same connection counts:
#
#   direct       wrk -> upstream stub
#   nginx        wrk -> nginx (reverse proxy, four static signing headers) -> stub
#   passthrough  wrk -> gateway /entrust/group/profile/query.json (signs) -> stub
#   openim       wrk -> gateway /group/set_group_info (JSON -> profile/update.json form) -> stub
#
# then an open-loop run of each at half its own maximum (examples/loadgen.rs),
# start-to-ready time and idle RSS of the gateway, and the ratios.
#
#   bench/run.sh                                  # everything (about 12 minutes after the build)
#   ROUNDS=1 DURATION=5 CONNS="64" bench/run.sh   # shorter
#   SMOKE=1 bench/run.sh                          # seconds: every target started and
#                                                 # answered as expected, figures not judged (CI)
#
# Settings (environment): DURATION (s per measured wrk run, 10), WARMUP (s, 2),
# CONNS ("64 1000"), ROUNDS (3: every measurement is repeated, rounds
# interleaved, and the report gives medians), PACED_CONNS (64), READY_RUNS (9), LOAD_CPU (0),
# SERVER_CPU (1), NICE (-20 as root, else 0), PORT_BASE (18081: stub, +1 nginx, +2 gateway), OUT (a
# directory for the raw output; a new one under /tmp by default), TARGETS (a subset of
# "direct nginx passthrough openim"), PHASES (a subset of "wrk paced ready";
# paced needs wrk's figures), GATEWAY_BIN (another gateway binary, for A/B).
#
# Cores: on this 2-core machine the load generator (wrk, loadgen) runs on
# LOAD_CPU and the server side (the proxy under test and the stub) on
# SERVER_CPU, pinned with taskset, so the generator never takes CPU from
# the proxy. The proxy and the stub share one core: every proxy pays the
# same stub cost, and CPU time per request is reported per process.
# Everything listens on 127.0.0.1 only; every load run is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# Smoke mode (CI): a debug build, one short round of the closed-loop
# phase, every target checked, no report.
SMOKE=${SMOKE:-0}
if [ "$SMOKE" = 1 ]; then
  DURATION=1 WARMUP=1 CONNS=8 ROUNDS=1 PHASES=wrk
fi
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-"64 1000"}
PACED_CONNS=${PACED_CONNS:-64}
READY_RUNS=${READY_RUNS:-9}
ROUNDS=${ROUNDS:-3}
TARGETS=${TARGETS:-"direct nginx passthrough openim"}
PHASES=${PHASES:-"wrk paced ready"}
LOAD_CPU=${LOAD_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
# Benchmark processes run at this niceness (root only): on a machine shared
# with other work, a co-tenant time-slicing the proxy or the load generator
# adds its scheduler slice (milliseconds) to the latency tail.
if [ "$(id -u)" -eq 0 ]; then NICE=${NICE:--20}; else NICE=${NICE:-0}; fi
LOAD=(nice -n "$NICE" taskset -c "$LOAD_CPU")
SRV=(nice -n "$NICE" taskset -c "$SERVER_CPU")
PORT_BASE=${PORT_BASE:-18081}
PORT_STUB=$PORT_BASE
PORT_NGINX=$((PORT_BASE + 1))
PORT_GW=$((PORT_BASE + 2))
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

. "$(dirname "$0")/common.sh"
die() { printf 'bench/run.sh: %s\n' "$*" >&2; exit 1; }

# --- 1. what the benchmark needs, from Debian's packages -------------------
missing=()
for tool in wrk nginx taskset curl python3 pgrep; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  pkgs=()
  for t in "${missing[@]}"; do
    case $t in
      taskset) pkgs+=(util-linux) ;;
      pgrep) pkgs+=(procps) ;;
      *) pkgs+=("$t") ;;
    esac
  done
  say "installing ${pkgs[*]} (apt-get)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  # nginx's package starts the system service where systemd runs (port 80;
  # refused in containers): the benchmark doesn't use it, it runs its own.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi
command -v cargo >/dev/null 2>&1 || die "cargo is needed (the Rust toolchain, 1.85 or newer)"
[ "$(nproc)" -ge 2 ] || die "needs at least 2 cores (one for the load generator, one for the server side)"

# --- 2. release build --------------------------------------------------------
if [ "$SMOKE" = 1 ]; then PROFILE=(); BIN=$CARGO_TARGET_DIR/debug; else PROFILE=(--release); BIN=$CARGO_TARGET_DIR/release; fi
say "cargo build ${PROFILE[*]} (gateway, upstream_stub, loadgen, ready_time)"
cargo build "${PROFILE[@]}" --quiet --bin entrust-gateway \
  --example upstream_stub --example loadgen --example ready_time
GW=${GATEWAY_BIN:-$BIN/entrust-gateway}

# --- 3. a scratch directory and cleanup --------------------------------------
# Scratch (configs, the gateway's and nginx's logs, nginx's temp files) on
# tmpfs when there is one: both log one line per request, and on a disk
# shared with other work, writeback can stall a logging process at random
# (a container runtime's log pipe doesn't). Removed at exit; OUT is kept.
SCRATCH_BASE=${TMPDIR:-/tmp}
[ -d /dev/shm ] && [ -w /dev/shm ] && SCRATCH_BASE=/dev/shm
TMP=$(mktemp -d "$SCRATCH_BASE/entrust-bench.XXXXXX")
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/entrust-bench-results.XXXXXX")}
mkdir -p "$OUT"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

for port in $PORT_STUB $PORT_NGINX $PORT_GW; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port is in use (set PORT_BASE)"
  fi
done

wait_port_free() {
  local i
  for i in $(seq 1 500); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null || return 0
    sleep 0.01
  done
  die "127.0.0.1:$1 is still in use"
}
stop() { # pid
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { # pid: utime + stime, all threads (fields 14 and 15)
  awk '{print $14 + $15}' "/proc/$1/stat"
}
vm_kb() { # pid field
  awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"
}
core_busy() { # cpu: busy and total jiffies
  awk -v c="cpu$1" '$1 == c {idle = $5 + $6; t = 0; for (i = 2; i <= NF; i++) t += $i; print t - idle, t}' /proc/stat
}

# --- 4. the stub, nginx and gateway configs ----------------------------------
say "upstream stub on 127.0.0.1:$PORT_STUB (cpu $SERVER_CPU)"
"${SRV[@]}" "$BIN/examples/upstream_stub" "$PORT_STUB" 2>"$TMP/stub.log" &
STUB_PID=$!
PIDS+=("$STUB_PID")
wait_port "$PORT_STUB"

write_nginx_config "$TMP/nginx" "$PORT_NGINX" "$PORT_STUB" on

write_gateway_config "$TMP/gateway.toml" "$PORT_GW" "$PORT_STUB"
"$GW" --config "$TMP/gateway.toml" --check-config >/dev/null 2>&1 \
  || die "the benchmark gateway config is invalid: $("$GW" --config "$TMP/gateway.toml" --check-config 2>&1 | tail -1)"

# The four targets: name, port, path, content type, body, extra header,
# unique header (a fresh Idempotency-Key per OpenIM write: duplicate
# protection is measured, never a replay).
FORM_BODY="groupIds=bench1"
JSON_BODY='{"groupInfoForSet":{"groupID":"bench1","groupName":"bench","introduction":"hello","needVerification":2}}'
target_port() { case $1 in direct) echo "$PORT_STUB" ;; nginx) echo "$PORT_NGINX" ;; *) echo "$PORT_GW" ;; esac; }
target_path() { case $1 in openim) echo /group/set_group_info ;; *) echo /entrust/group/profile/query.json ;; esac; }
set_request_env() { # target
  # OpenIM needs an operationID on every request (a trace id: one fixed
  # value is what OpenIM's own scripts send, and is never a key).
  if [ "$1" = openim ]; then
    export BENCH_CONTENT_TYPE=application/json BENCH_BODY=$JSON_BODY BENCH_UNIQUE_HEADER=Idempotency-Key \
      BENCH_HEADER="operationID: bench"
  else
    export BENCH_CONTENT_TYPE=application/x-www-form-urlencoded BENCH_BODY=$FORM_BODY BENCH_UNIQUE_HEADER= \
      BENCH_HEADER=
  fi
}

SERVER_PID=""
start_server() { # target -> sets SERVER_PID (the process doing the work)
  case $1 in
    direct) SERVER_PID=$STUB_PID ;;
    nginx)
      "${SRV[@]}" nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" &
      NGINX_MASTER=$!
      PIDS+=("$NGINX_MASTER")
      wait_port "$PORT_NGINX"
      SERVER_PID=""
      for _ in $(seq 1 200); do
        SERVER_PID=$(pgrep -P "$NGINX_MASTER" | head -1 || true)
        [ -n "$SERVER_PID" ] && break
        sleep 0.01
      done
      [ -n "$SERVER_PID" ] || die "no nginx worker"
      ;;
    passthrough | openim)
      "${SRV[@]}" "$GW" --config "$TMP/gateway.toml" 2>>"$TMP/gateway-$1.log" &
      SERVER_PID=$!
      PIDS+=("$SERVER_PID")
      wait_port "$PORT_GW"
      ;;
  esac
}
stop_server() { # target
  case $1 in
    direct) ;;
    nginx) stop "$NGINX_MASTER"; wait_port_free "$PORT_NGINX" ;;
    *) stop "$SERVER_PID"; wait_port_free "$PORT_GW" ;;
  esac
}

kv() { # line key
  tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k {print $2}'
}
stub_count() { # path
  curl -s "http://127.0.0.1:$PORT_STUB/__stats" |
    python3 -c 'import json,sys; print(json.load(sys.stdin).get("POST "+sys.argv[1],{}).get("count",0))' "$1" 2>/dev/null ||
    echo 0
}

RESULTS=$OUT/results.tsv
printf 'target\tconns\trps\tp50_us\tp99_us\tp999_us\tmax_us\terrors\tproxy_cpu_us_per_req\tstub_cpu_us_per_req\tpeak_rss_kb\tload_core_busy\tserver_core_busy\tround\n' >"$RESULTS"

# --- 5. closed-loop runs (wrk) -----------------------------------------------
say "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$ROUNDS"); do
for conns in $CONNS; do
  [[ " $PHASES " == *" wrk "* ]] || break
  for target in $TARGETS; do
    set_request_env "$target"
    url="http://127.0.0.1:$(target_port "$target")$(target_path "$target")"
    say "round $round: $target, $conns connections: $url"
    start_server "$target"
    # Checks the answer before loading it.
    if [ "$target" = openim ]; then
      answer=$(curl -s -X POST "$url" -H "Content-Type: application/json" -H "operationID: check-$conns-$$" -d "$JSON_BODY")
      grep -q '"errCode":0' <<<"$answer" || die "$target answered $answer"
    else
      answer=$(curl -s -X POST "$url" -H "Content-Type: application/x-www-form-urlencoded" -d "$FORM_BODY")
      [ "$answer" = '{"code":200}' ] || die "$target answered $answer"
    fi
    threads=1
    "${LOAD[@]}" wrk -t"$threads" -c"$conns" -d"${WARMUP}s" -s bench/wrk.lua "$url" >/dev/null
    updates_before=$(stub_count /entrust/group/profile/update.json)
    p0=$(cpu_ticks "$SERVER_PID"); s0=$(cpu_ticks "$STUB_PID")
    read -r lb0 lt0 < <(core_busy "$LOAD_CPU"); read -r sb0 st0 < <(core_busy "$SERVER_CPU")
    "${LOAD[@]}" wrk -t"$threads" -c"$conns" -d"${DURATION}s" --timeout 10s --latency \
      -s bench/wrk.lua "$url" >"$OUT/wrk-$target-$conns-$round.txt"
    p1=$(cpu_ticks "$SERVER_PID"); s1=$(cpu_ticks "$STUB_PID")
    read -r lb1 lt1 < <(core_busy "$LOAD_CPU"); read -r sb1 st1 < <(core_busy "$SERVER_CPU")
    peak=$(vm_kb "$SERVER_PID" VmHWM)
    line=$(grep '^WRK ' "$OUT/wrk-$target-$conns-$round.txt")
    reqs=$(kv "$line" requests)
    errors=$(( $(kv "$line" err_connect) + $(kv "$line" err_read) + $(kv "$line" err_write) + $(kv "$line" err_status) + $(kv "$line" err_timeout) ))
    if [ "$target" = openim ]; then
      updates=$(( $(stub_count /entrust/group/profile/update.json) - updates_before ))
      say "openim: $reqs set_group_info answered, $updates profile/update.json calls reached the stub"
      [ "$updates" -ge "$reqs" ] || die "set_group_info did not become profile/update.json calls"
      echo "$updates" >"$OUT/openim-updates-$conns-$round.txt"
    fi
    awk -v t="$target" -v c="$conns" -v rps="$(kv "$line" rps)" -v p50="$(kv "$line" p50_us)" \
      -v p99="$(kv "$line" p99_us)" -v p999="$(kv "$line" p999_us)" -v mx="$(kv "$line" max_us)" \
      -v err="$errors" -v reqs="$reqs" -v dp="$((p1 - p0))" -v ds="$((s1 - s0))" -v hz="$CLK_TCK" \
      -v peak="$peak" -v lb="$((lb1 - lb0))" -v lt="$((lt1 - lt0))" -v sb="$((sb1 - sb0))" -v st="$((st1 - st0))" \
      -v direct="$([ "$target" = direct ] && echo 1 || echo 0)" -v round="$round" 'BEGIN {
        pc = dp / hz * 1e6 / reqs; sc = ds / hz * 1e6 / reqs
        if (direct) pc = 0
        printf "%s\t%s\t%.0f\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t%d\t%.0f%%\t%.0f%%\t%d\n", t, c, rps, p50, p99, p999, mx, err, pc, sc, peak, 100 * lb / lt, 100 * sb / st, round
      }' >>"$RESULTS"
    tail -1 "$RESULTS" >&2
    stop_server "$target"
  done
done
done

# --- 6. open loop at half of each target's maximum (loadgen) -----------------
median_rps() { # target conns: the median over the rounds of wrk's req/s
  awk -F'\t' -v t="$1" -v c="$2" '$1 == t && $2 == c {print $3}' "$RESULTS" | sort -n |
    awk '{v[NR] = $1} END {if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'
}
max_rps() { # target conns: wrk's throughput at that connection count, else at the first
  local m
  m=$(median_rps "$1" "$2")
  [ -n "$m" ] || m=$(median_rps "$1" "${CONNS%% *}")
  echo "$m"
}
PACED=$OUT/paced.tsv
printf 'target\tconns\trate\tachieved\tp50_us\tp90_us\tp99_us\tp999_us\tmax_us\terrors\tnon2xx\tpacer_late_p99_us\tsvc_p99_us\tpeak_rss_kb\tround\n' >"$PACED"
# Each target at half its own maximum (wrk's, at the same connection count
# when measured) over PACED_CONNS connections; then the gateway's faces over
# 1000 connections (memory with many keep-alive connections at a sustainable
# load, rather than 1000 requests in flight).
paced_runs=()
for target in $TARGETS; do paced_runs+=("$target:$PACED_CONNS"); done
for target in passthrough openim; do
  [[ " $TARGETS " == *" $target "* ]] && paced_runs+=("$target:1000")
done
for round in $(seq 1 "$ROUNDS"); do
for run in "${paced_runs[@]}"; do
  [[ " $PHASES " == *" paced "* ]] || break
  target=${run%%:*}
  pconns=${run##*:}
  rate=$(awk -v m="$(max_rps "$target" "$pconns")" 'BEGIN {printf "%d", m / 2}')
  set_request_env "$target"
  url="http://127.0.0.1:$(target_port "$target")$(target_path "$target")"
  say "round $round: $target at $rate/s (half its maximum), open loop, $pconns connections"
  start_server "$target"
  uniq=()
  [ "$target" = openim ] && uniq=(--unique-header Idempotency-Key --header "operationID: bench")
  "${LOAD[@]}" "$BIN/examples/loadgen" --url "$url" --rate "$rate" --seconds "$DURATION" \
    --warmup-seconds "$WARMUP" --connections "$pconns" --header "Content-Type: $BENCH_CONTENT_TYPE" \
    --body "$BENCH_BODY" "${uniq[@]}" >"$OUT/loadgen-$target-$pconns-$round.txt"
  line=$(grep '^LOADGEN ' "$OUT/loadgen-$target-$pconns-$round.txt")
  peak=0
  [ "$target" = direct ] || peak=$(vm_kb "$SERVER_PID" VmHWM)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$pconns" "$rate" "$(kv "$line" achieved)" \
    "$(kv "$line" p50_us)" "$(kv "$line" p90_us)" "$(kv "$line" p99_us)" "$(kv "$line" p999_us)" \
    "$(kv "$line" max_us)" "$(kv "$line" errors)" "$(kv "$line" non2xx)" "$(kv "$line" late_p99_us)" \
    "$(kv "$line" svc_p99_us)" "$peak" "$round" >>"$PACED"
  tail -1 "$PACED" >&2
  stop_server "$target"
done
done

if [ "$SMOKE" = 1 ]; then
  errors=$(awk -F'\t' 'NR > 1 && $8 > 0 {print $1 ": " $8 " errors"}' "$RESULTS")
  [ -z "$errors" ] || die "smoke: $errors"
  say "smoke: every target ($TARGETS) started and answered as expected; figures not judged"
  exit 0
fi

# --- 7. start to ready, idle RSS ---------------------------------------------
ready="READY"
if [[ " $PHASES " == *" ready "* ]]; then
  say "gateway start to ready, $READY_RUNS runs"
  "${LOAD[@]}" "$BIN/examples/ready_time" --runs "$READY_RUNS" --addr "127.0.0.1:$PORT_GW" -- \
    "${SRV[@]}" "$GW" --config "$TMP/gateway.toml" >"$OUT/ready.txt"
  ready=$(grep '^READY ' "$OUT/ready.txt")
fi
say "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- 8. the report -----------------------------------------------------------
python3 - "$RESULTS" "$PACED" "$ready" "$CONNS" "$ROUNDS" <<'EOF'
import csv, statistics, sys
results, paced, ready, conns, rounds = sys.argv[1:6]
conns = conns.split()
rows = list(csv.DictReader(open(results), delimiter="\t"))
prow = list(csv.DictReader(open(paced), delimiter="\t"))
ms = lambda us: f"{float(us) / 1000:.2f}"
num = lambda v: float(str(v).rstrip("%"))

def groups(rs, keys):
    out = {}
    for r in rs:
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return out

def med(rs, k):
    return statistics.median(num(r[k]) for r in rs)

print(f"\n### Closed loop (wrk, 1 thread): medians of {rounds} rounds\n")
print("| target | conns | req/s (min–max) | p50 ms | p99 ms | p99.9 ms | errors | proxy CPU µs/req | stub CPU µs/req | proxy peak RSS MB | load core busy | server core busy |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
wrk = groups(rows, ("target", "conns"))
for (t, c), rs in wrk.items():
    rps = [num(r["rps"]) for r in rs]
    proxy_cpu = "—" if t == "direct" else f"{med(rs, 'proxy_cpu_us_per_req'):.1f}"
    rss = "—" if t == "direct" else f"{med(rs, 'peak_rss_kb') / 1024:.1f}"
    errors = sum(int(r["errors"]) for r in rs)
    print(f"| {t} | {c} | {statistics.median(rps):,.0f} ({min(rps):,.0f}–{max(rps):,.0f}) | {ms(med(rs, 'p50_us'))} | {ms(med(rs, 'p99_us'))} | {ms(med(rs, 'p999_us'))} | {errors} | {proxy_cpu} | {med(rs, 'stub_cpu_us_per_req'):.1f} | {rss} | {med(rs, 'load_core_busy'):.0f}% | {med(rs, 'server_core_busy'):.0f}% |")
print(f"\n### Open loop at half of each target's maximum (examples/loadgen.rs): medians of {rounds} rounds\n")
print("| target | conns | rate/s | achieved/s | p50 ms | p90 ms | p99 ms (min–max) | p99.9 ms | max ms | errors | non-2xx | service p99 ms | pacer late p99 ms | proxy peak RSS MB |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for (t, c), rs in groups(prow, ("target", "conns")).items():
    rss = "—" if t == "direct" else f"{med(rs, 'peak_rss_kb') / 1024:.1f}"
    p99 = [num(r["p99_us"]) for r in rs]
    errors = sum(int(r["errors"]) for r in rs)
    non2xx = sum(int(r["non2xx"]) for r in rs)
    print(f"| {t} | {c} | {med(rs, 'rate'):.0f} | {med(rs, 'achieved'):.0f} | {ms(med(rs, 'p50_us'))} | {ms(med(rs, 'p90_us'))} | {ms(statistics.median(p99))} ({ms(min(p99))}–{ms(max(p99))}) | {ms(med(rs, 'p999_us'))} | {ms(med(rs, 'max_us'))} | {errors} | {non2xx} | {ms(med(rs, 'svc_p99_us'))} | {ms(med(rs, 'pacer_late_p99_us'))} | {rss} |")
kv = dict(p.split("=") for p in ready.split()[1:])
if kv:
    print(f"\n### Gateway start to ready\n\nmedian {kv['median_ms']} ms over {kv['runs']} runs (min {kv['min_ms']}, max {kv['max_ms']}); idle RSS {int(kv['idle_rss_kb']) / 1024:.1f} MB")
if not all((t, c) in wrk for t in ("nginx", "passthrough", "openim") for c in conns):
    sys.exit(0)
print("\n### Ratios (of the medians; in brackets the range of the same ratio within each round)\n")
print("| conns | passthrough / nginx req/s | openim / passthrough req/s | passthrough p99 / nginx p99 | openim p99 / nginx p99 |")
print("|---:|---:|---:|---:|---:|")

def ratio(a, b, c, k):
    m = med(wrk[(a, c)], k) / med(wrk[(b, c)], k)
    per = {}
    for r in wrk[(a, c)] + wrk[(b, c)]:
        per.setdefault(r["round"], {})[r["target"]] = num(r[k])
    rs = [v[a] / v[b] for v in per.values() if a in v and b in v]
    return f"{m:.2f} ({min(rs):.2f}–{max(rs):.2f})"

for c in conns:
    print(f"| {c} | {ratio('passthrough', 'nginx', c, 'rps')} | {ratio('openim', 'passthrough', c, 'rps')} | {ratio('passthrough', 'nginx', c, 'p99_us')} | {ratio('openim', 'nginx', c, 'p99_us')} |")
EOF
say "raw output in $OUT"
