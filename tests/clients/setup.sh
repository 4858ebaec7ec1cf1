#!/usr/bin/env bash
# Prepares the SDK contract tests (tests/it/clients.rs): the vendor's Python
# SDKs (rc-server-sdk for entrust, ncsdk for v4) in one venv,
# tests/clients/.venv, and its Node SDK in tests/clients/node_modules, all
# pinned. Installs python3-venv / nodejs / npm from Debian when missing.
# Rerunning is cheap: each part is reinstalled only when its pin file changed.
set -euo pipefail
cd "$(dirname "$0")"

need=()
command -v python3 >/dev/null 2>&1 || need+=(python3)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if ((${#need[@]})); then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "tests/clients/setup.sh: missing ${need[*]} and no apt-get to install them" >&2
        exit 1
    fi
    sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    echo "installing ${need[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! cmp -s requirements.txt .venv/.installed-requirements 2>/dev/null; then
    rm -rf .venv
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
    cp requirements.txt .venv/.installed-requirements
fi

if ! cmp -s package-lock.json node_modules/.installed-package-lock.json 2>/dev/null; then
    npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json node_modules/.installed-package-lock.json
fi
echo "SDK clients ready: rc-server-sdk $(.venv/bin/pip show rc-server-sdk | sed -n 's/^Version: //p'), ncsdk $(.venv/bin/pip show ncsdk | sed -n 's/^Version: //p'), rongcloud-sdk $(node -p "require('rongcloud-sdk/package.json').version")"
