-- wrk script for bench/run.sh: a POST with the body and headers given in the
-- environment, an optional header made unique per request, and a done hook
-- printing one machine-readable line (p99.9 included, which `wrk --latency`
-- does not print).
--
--   BENCH_BODY            request body
--   BENCH_CONTENT_TYPE    Content-Type
--   BENCH_HEADER          one more "Name: value" header (optional)
--   BENCH_UNIQUE_HEADER   a header name; each request gets a fresh value
--                         (e.g. OpenIM's operationID). Costs a Lua call per
--                         request in wrk, so it is set only where needed.

wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or ""
wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "application/x-www-form-urlencoded"
local extra = os.getenv("BENCH_HEADER")
if extra and extra ~= "" then
  local name, value = extra:match("^([^:]+):%s*(.*)$")
  wrk.headers[name] = value
end

local threads = {}
local next_id = 0
function setup(thread)
  next_id = next_id + 1
  thread:set("thread_id", next_id)
  table.insert(threads, thread)
end

local unique = os.getenv("BENCH_UNIQUE_HEADER")
if unique and unique ~= "" then
  local counter = 0
  local prefix
  function init(args)
    prefix = string.format("wrk%d-%d-%d-", os.time(), math.random(1, 1000000), thread_id or 0)
  end
  function request()
    counter = counter + 1
    wrk.headers[unique] = prefix .. counter
    return wrk.format()
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d " ..
    "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
