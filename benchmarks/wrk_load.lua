-- wrk script for benchmarks/serving.py: every request carries the next sampled user's bearer
-- token (each wrk thread starts at its own place in the list); "POST" requests post a short
-- status. At the end one JSON line with the latency percentiles (microseconds) and counts.
--   wrk -t1 -c4 -d20s -s benchmarks/wrk_load.lua http://127.0.0.1:PORT -- TOKENS_FILE METHOD PATH

local tokens = {}
local method, path
local sent = 0
local thread_no = 0
local threads = {}

function setup(thread)
  thread_no = thread_no + 1
  thread:set("offset", thread_no * 37)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then tokens[#tokens + 1] = line end
  end
  method, path = args[2], args[3]
  sent = offset or 0
end

function request()
  sent = sent + 1
  local headers = {["Authorization"] = "Bearer " .. tokens[sent % #tokens + 1]}
  if method == "POST" then
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", path, headers, '{"status": "load test post ' .. sent .. '"}')
  end
  return wrk.format("GET", path, headers)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"wrk": {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "mean_us": %.1f, "max_us": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean, latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
