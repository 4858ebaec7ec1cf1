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

exec cargo test "$@"
