#!/usr/bin/env bash
# The one test command (README, CI): makes sure redis-server, redis-cli and
# redis-sentinel are there (the fleet tests start real ones: single
# servers, a Sentinel set, a Cluster), then runs the whole suite. Extra
# arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in redis-server redis-cli redis-sentinel; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        # Debian ships redis-cli with redis-server (redis-tools), and
        # redis-sentinel as a package of its own.
        echo "== installing redis-server and redis-sentinel (the fleet tests need real ones; missing: ${missing[*]})"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-sentinel >/dev/null
    else
        echo "scripts/test.sh: ${missing[*]} missing and cannot be installed here" >&2
        echo "  (not root, or no apt-get). Install Redis 7 or newer so that" >&2
        echo "  redis-server, redis-cli and redis-sentinel are on PATH (e.g." >&2
        echo "  sudo apt-get install redis-server redis-sentinel, brew install redis)," >&2
        echo "  then run scripts/test.sh again." >&2
        exit 1
    fi
fi

# Tests that measure how well the quota is used or shared (utilisation,
# fair shares, slots under overload) judge timing: beside the rest of the
# suite, on two cores, they measure the neighbours instead. So the README's
# command runs everything else first, in parallel, and then these alone,
# one at a time, each in a process of its own. With arguments, cargo test
# gets them as given.
ALONE=(
    apps::callers_of_one_app_share_its_quota_by_weight
    apps::flooding_one_app_does_not_slow_the_other
    apps::the_fleet_quota_is_per_app_per_path
    apps::weights_hold_across_a_fleet
    fleet::quota::eight_instances_under_ten_times_overload_hold_the_vendor_limit_together
    limits::callers_that_never_read_lose_their_slots
    quota::ten_times_overload_never_exceeds_the_vendor_limit_and_uses_the_quota
    v4::a_flood_on_one_v4_path_never_exceeds_its_quota
)
if [ $# -gt 0 ]; then
    exec cargo test "$@"
fi
skips=()
for t in "${ALONE[@]}"; do skips+=(--skip "$t"); done
cargo test -- "${skips[@]}"
# Each in a process of its own: what an earlier test leaves running in the
# process (its gateways' background tasks) must not be timed with it.
for t in "${ALONE[@]}"; do
    echo "== alone: $t"
    cargo test --test it -- --exact "$t"
done
