// Drives scenario.json with the vendor's Node SDK (npm rongcloud-sdk).
//
// Usage: node rongcloud_sdk.js BASE_URL APP_KEY APP_SECRET PREFIX
//
// The SDK has no entrust methods, so each step goes through its generic
// signed request (lib/request.js `init` + `request`): it signs once at init
// (seconds timestamp) and reuses that Nonce and Timestamp for every request,
// and encodes an array by repeating its key. Exits non-zero on the first
// step that does not answer code 200 or does not match its expectation.
'use strict';

const fs = require('fs');
const path = require('path');
const rc = require('rongcloud-sdk/lib/request');

function fill(value, prefix) {
  if (typeof value === 'string') return value.split('{P}').join(prefix);
  if (Array.isArray(value)) return value.map((v) => fill(v, prefix));
  if (value && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = fill(v, prefix);
    return out;
  }
  return value;
}

function matches(want, got) {
  if (Array.isArray(want)) {
    return Array.isArray(got) && want.length === got.length && want.every((w, i) => matches(w, got[i]));
  }
  if (want && typeof want === 'object') {
    return got !== null && typeof got === 'object' && Object.keys(want).every((k) => k in got && matches(want[k], got[k]));
  }
  return want === got;
}

async function main() {
  const [base, appkey, secret, prefix] = process.argv.slice(2, 6);
  const { steps } = JSON.parse(fs.readFileSync(path.join(__dirname, 'scenario.json'), 'utf8'));
  rc.init({ appkey, secret, api: base });
  let i = 0;
  for (const [p, params, expect] of steps) {
    i += 1;
    let answer;
    try {
      const res = await rc.request({ url: `entrust/${p}`, data: fill(params, prefix) });
      answer = res.text;
    } catch (e) {
      // superagent rejects any 4xx/5xx; show the vendor-shaped body.
      answer = { httpError: String(e.status || e.message), body: e.response ? e.response.text : null };
    }
    const want = fill(expect, prefix);
    const ok = answer && answer.code === 200 && matches(want, answer);
    console.log(`node rongcloud-sdk step ${i} ${p}: ${ok ? 'ok' : 'FAILED'} ${JSON.stringify(answer)}`);
    if (!ok) {
      console.log(`  expected code 200 and ${JSON.stringify(want)}`);
      return 1;
    }
  }
  console.log(`node rongcloud-sdk: all ${steps.length} steps answered code 200`);
  return 0;
}

main().then((code) => process.exit(code), (e) => {
  console.log(`node rongcloud-sdk: ${e.stack || e}`);
  process.exit(1);
});
