"""Drives scenario.json with the vendor's Python SDK (PyPI rc-server-sdk).

Usage: rc_server_sdk.py BASE_URL APP_KEY APP_SECRET PREFIX

The SDK has no entrust methods, so each step goes through its own signed
POST helper (rongcloud/module.py `Module._http_post`: seconds timestamp,
random nonce) with a body rendered by its own template helper
(`Module._render`, jinja2), repeating the key for each array item as the
SDK's group methods do (rongcloud/group.py). Exits non-zero on the first
step that does not answer code 200 or does not match its expectation.
"""

import json
import os
import sys

from rongcloud.module import Module
from rongcloud.rongcloud import RongCloud

from expect import matches

# The SDK's own style (group.py), with values URL-encoded since ours hold
# JSON text and '&'.
BODY = ("{% for k, v in pairs %}{% if not loop.first %}&{% endif %}"
        "{{ k|urlencode }}={{ v|urlencode }}{% endfor %}")


def fill(value, prefix):
    if isinstance(value, str):
        return value.replace("{P}", prefix)
    if isinstance(value, list):
        return [fill(v, prefix) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, prefix) for k, v in value.items()}
    return value


def main():
    base, key, secret, prefix = sys.argv[1:5]
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "scenario.json"), encoding="utf-8") as f:
        steps = json.load(f)["steps"]
    sdk = Module(RongCloud(key, secret, base))
    for i, (path, params, expect) in enumerate(steps, 1):
        params, expect = fill(params, prefix), fill(expect, prefix)
        pairs = []
        for k, v in params.items():
            for item in v if isinstance(v, list) else [v]:
                pairs.append((k, str(item)))
        body = sdk._render({"pairs": pairs}, BODY)
        answer = sdk._http_post("/entrust/%s.json" % path, body)
        ok = answer.get("code") == 200 and matches(expect, answer)
        print("python rc-server-sdk step %d %s: %s %s" % (i, path, "ok" if ok else "FAILED", json.dumps(answer)))
        if not ok:
            print("  expected code 200 and %s" % json.dumps(expect))
            return 1
    print("python rc-server-sdk: all %d steps answered code 200" % len(steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
