#!/usr/bin/env bash
# Shares of one path's quota between callers of one app (weighted fair
# queuing): two and four callers, equal and unequal weights, and a caller at
# 10/s beside a flood; each caller's share of the permits and the most calls
# the vendor (the simulator) saw in any one second. Figures: BENCHMARKS.md,
# "Callers' shares of an app's quota". The test profile: the quota is
# paced by timers at 100/s, which a debug build keeps as well as a release one.
#
#   bench/shares.sh                 # 5 s a scenario
#   SECONDS_EACH=10 bench/shares.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${SECONDS_EACH:-5}" cargo test --test it apps::shares_benchmark \
  -- --ignored --nocapture --test-threads 1
