-- wrk script: POST /v1/leads with a distinct person per request (bench/intake_load.sh runs it).
local counter = 0
local thread_id = 0

function setup(thread)
  thread:set("thread_id", thread_id)
  thread_id = thread_id + 1
end

function init(args)
  run = args[1] or tostring(os.time())
  key = args[2] or "dev-api-key"
end

request = function()
  counter = counter + 1
  local n = thread_id * 10000000 + counter
  local body = string.format(
    '{"first_name":"Wrk","last_name":"Load %d","emails":["wrk.%s.%d@example.com"],"phones":["+97250%07d"]}',
    n, run, n, n % 10000000)
  return wrk.format("POST", "/v1/leads", {["Content-Type"] = "application/json", ["X-Channel-Key"] = key}, body)
end

done = function(summary, latency, requests)
  io.write(string.format("requests=%d errors(status)=%d errors(socket)=%d duration_s=%.1f rps=%.1f p50_ms=%.1f p99_ms=%.1f\n",
    summary.requests, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration / 1e6, summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
