#!/usr/bin/env bash
# The one test command (README, CI): makes sure redis-server is there (the
# fleet tests start a real one), then runs the whole suite. Extra arguments
# go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "== installing redis-server (the fleet tests need a real one)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    else
        echo "scripts/test.sh: redis-server is missing and cannot be installed here" >&2
        echo "  (not root, or no apt-get). Install Redis 6 or newer so that" >&2
        echo "  redis-server is on PATH (e.g. sudo apt-get install redis-server," >&2
        echo "  brew install redis), then run scripts/test.sh again." >&2
        exit 1
    fi
fi

exec cargo test "$@"
